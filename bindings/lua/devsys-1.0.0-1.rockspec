-- The Lua binding of libdevsys as a rock: built against an installed
-- libdevsys (its headers, including the generated devsys/features.h, and
-- libdevsys.so.1), e.g. from the source tree:
--   luarocks make bindings/lua/devsys-1.0.0-1.rockspec DEVSYS_DIR=/usr/local
rockspec_format = "3.0"
package = "devsys"
version = "1.0.0-1"
source = {
  url = "git+file:///dev/null", -- built with `luarocks make` from a checkout
}
description = {
  summary = "Lua 5.4 binding of libdevsys, the embeddable agent-pipeline library",
  detailed = "Workspaces, tasks, specs and schemas, repositories, runners, configuration, "
    .. "secrets and masking, reports, task records and the task store, the gate's policy, forges "
    .. "and pull requests, the pipeline, workers and Spec Kit features, as Lua objects; agent kinds, "
    .. "runner types, forge and secret providers and redactors written in Lua.",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  DEVSYS = { header = "devsys.h", library = "devsys" },
}
build = {
  type = "builtin",
  modules = {
    devsys = {
      sources = { "src/core.c", "src/spec.c", "src/repo.c", "src/runner.c", "src/secrets.c", "src/records.c",
                  "src/forge.c", "src/pipeline.c", "src/speckit.c", "src/agent.c",
                  "src/worker.c", "src/plugins.c" },
      defines = { "_GNU_SOURCE" },
      incdirs = { "$(DEVSYS_INCDIR)" },
      libdirs = { "$(DEVSYS_LIBDIR)" },
      libraries = { "devsys" },
    },
  },
}
