# Forges: the provider registry, pull requests, the PR body builder, the
# merge gate with forge I/O, and the built-in providers (one folder each).
set(forge_sources forge.c sink.c pr.c body.c gate.c remote.c)
# Built-in providers: one line each (and one row in builtins[] of forge.c).
list(APPEND forge_sources local/local.c)
list(APPEND forge_sources github/github.c github/json.c)
list(APPEND forge_sources gitea/gitea.c gitea/codec.c)
devsys_module(NAME forge
  SOURCES ${forge_sources}
  PKG libgit2 jansson
  REQUIRES core workspace task policy config secrets git http
  INIT devsys__forge_global_init
  SHUTDOWN devsys__forge_global_shutdown)
