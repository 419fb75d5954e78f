-- The whole pipeline in Lua, as examples/pipeline.c does it: validate a task
-- spec (the manager), then pipeline:run() runs every stage that remains, in
-- order: checkout, agent, commit, push, pr, test, deploy, verify and gate,
-- with one line per stage as it ends. A task registered before is resumed
-- from where it stopped. It makes its own file:// bare repository (the local
-- forge keeps its pull requests there), so it runs anywhere git does:
--
--   LUA_CPATH='build/dev/bindings/lua/?.so' lua5.4 bindings/lua/examples/pipeline.lua [workdir]
local devsys = require "devsys"

local function check(v, msg, code, ...)
  if v == nil then
    io.stderr:write(string.format("pipeline: %s (%s)\n", msg, devsys.error_name(code)))
    os.exit(1)
  end
  return v, msg, code, ...
end

-- (a sanitizer build preloads its runtimes into the interpreter: not into git)
local UNPRELOAD = os.getenv("LD_PRELOAD") and "unset LD_PRELOAD; " or ""
local function sh(cmd)
  if not os.execute(UNPRELOAD .. cmd) then
    io.stderr:write("pipeline: command failed: " .. cmd .. "\n")
    os.exit(1)
  end
end
local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local base = arg[1] or io.popen(UNPRELOAD .. "mktemp -d /tmp/devsys-pipeline-XXXXXX"):read("l")
local keep = arg[1] ~= nil
local GIT = "git -c user.name=Example -c user.email=example@localhost -c init.defaultBranch=main"

-- A project to work on: a bare repository with one README that has a typo.
sh(string.format("set -e; mkdir -p '%s'; cd '%s'; %s init -q -b main seed; cd seed; "
  .. "printf 'Teh project\\n' > README.md; %s add -A; %s commit -q -m 'initial import'; "
  .. "%s clone -q --bare . ../project.git", base, base, GIT, GIT, GIT, GIT))
local url = "file://" .. base .. "/project.git"

-- The tests the testing agent runs: JUnit XML that says whether the typo is gone.
write(base .. "/tests.sh", [[
mkdir -p reports
if grep -q 'The project' README.md; then f=''; s=0; else f='<failure message="typo"/>'; s=1; fi
printf '<testsuite name="readme" tests="1"><testcase classname="readme" name="spelling">%s</testcase></testsuite>\n' "$f" > reports/junit.xml
exit $s
]])

local spec_text = string.format([[
id: fix-readme
title: Fix the typo in the README
prompt: Fix the spelling mistake in README.md.
repo:
  url: %s
  base_branch: main
agent:
  command: [sed, -i, s/Teh/The/, README.md]
  timeout: 60s
tests:
  command: [/bin/sh, %s/tests.sh]
  junit: [reports/junit.xml]
  timeout: 60s
runner: inproc
]], url, base)

local ws <close> = check(devsys.workspace(base .. "/workspace"))
-- one line per stage as it ends; returning false (or raising) would cancel the running stage
local p <close> = check(devsys.pipeline(ws, {
  grace_ms = 2000,                  -- KILL 2 s after TERM on a timeout or cancel
  agent_env_scrub = { "NPM_TOKEN" }, -- kept from the agent, besides the tokens it never gets
  progress = function(e)
    if e.kind == "stage-end" then
      local r = e.result
      print(string.format("%-8s %-6s %s%s", r.stage, r.result, r.outcome,
        r.failure_class and (" class=" .. r.failure_class) or ""))
    end
  end,
}))

-- validate: the canonical task schema; a task registered before is resumed
local r, msg, code = p:validate(spec_text, "fix-readme.yaml")
print(string.format("%-8s %-6s %s", r and r.stage or "validate", r and r.result or "failed",
  r and r.outcome or msg))
if not r and code ~= devsys.E.EXISTS then os.exit(1) end

-- run: every remaining stage, to a resting state (here awaiting-review: the gate waits for a human)
check(p:run())
local id = p:task_id()
local state = p:state()
print(string.format("task %s: %s", id, state))

-- what the stages left where a user looks: the task branch on the remote, the pull request
local h = io.popen(UNPRELOAD .. string.format("git --git-dir='%s/project.git' show task/%s:README.md", base, id))
local readme = h:read("a"); h:close()
assert(readme == "The project\n", "the remote's task branch does not have the fix: " .. tostring(readme))
local forge <close> = check(devsys.forge_open({ remote_url = base .. "/project.git" }))
local pr <close> = check(forge:pr(1))
print(string.format("pull request #%d %s: %s (%s)", pr:number(), pr:state(), pr:title(), pr:url()))
assert(state == "awaiting-review", "the task did not reach awaiting-review: " .. state)
if not keep then
  pr:close(); forge:close(); p:close(); ws:close()
  sh("rm -rf '" .. base .. "'")
end
print("pipeline ok")
