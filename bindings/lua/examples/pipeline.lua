-- The agent pipeline in Lua, stage by stage, over what the library has now:
-- validate a task spec, check the task's repository out on its own branch,
-- run a coding command, commit, push, run the tests, and record it all in the
-- task's record (task.json, events.jsonl, reports/). It makes its own
-- file:// bare repository, so it runs anywhere git does:
--
--   LUA_CPATH='build/dev/bindings/lua/?.so' lua5.4 bindings/lua/examples/pipeline.lua [workdir]
local devsys = require "devsys"

local function check(v, msg, code)
  if v == nil then
    io.stderr:write(string.format("pipeline: %s (%s)\n", msg, devsys.error_name(code)))
    os.exit(1)
  end
  return v
end

-- (a sanitizer build preloads its runtimes into the interpreter: not into git)
local UNPRELOAD = os.getenv("LD_PRELOAD") and "unset LD_PRELOAD; " or ""
local function sh(cmd)
  if not os.execute(UNPRELOAD .. cmd) then
    io.stderr:write("pipeline: command failed: " .. cmd .. "\n")
    os.exit(1)
  end
end

local base = arg[1] or io.popen(UNPRELOAD .. "mktemp -d /tmp/devsys-pipeline-XXXXXX"):read("l")
local keep = arg[1] ~= nil
local GIT = "git -c user.name=Example -c user.email=example@localhost -c init.defaultBranch=main"

-- A project to work on: a bare repository with one README.
sh(string.format("set -e; mkdir -p '%s'; cd '%s'; %s init -q -b main seed; cd seed; "
  .. "printf 'Teh project\\n' > README.md; %s add -A; %s commit -q -m 'initial import'; "
  .. "%s clone -q --bare . ../project.git", base, base, GIT, GIT, GIT, GIT))
local url = "file://" .. base .. "/project.git"

local spec_text = string.format([[
id: fix-readme
title: Fix the typo in the README
prompt: Fix the spelling mistake in README.md.
repo:
  url: %s
  base_branch: main
runner: inproc
]], url)

-- validate: the canonical task schema, every error with its position
local spec <close> = check(devsys.spec_load(spec_text, "fix-readme.yaml"))
local v <close> = spec:validate()
if not v:valid() then
  for _, e in ipairs(v:errors()) do
    io.stderr:write(string.format("%s:%d:%d: %s: %s\n", e.file, e.line, e.column, e.instance_location, e.message))
  end
  os.exit(1)
end
local id = spec:get_string("/id")

local ws <close> = check(devsys.workspace(base .. "/workspace"))
local task <close> = check(ws:task(id, { create = true }))
local rec <close> = check(devsys.record_open(task))
check(rec:set_spec("fix-readme.yaml", spec_text))
check(rec:set_repo_url(url))
rec:stage_begin("validate"); rec:stage_end("validate", "ok")

-- checkout: the task's own branch in its own worktree
rec:stage_begin("checkout")
local repo <close> = check(devsys.repo_open(task, { url = url, base_branch = spec:get_string("/repo/base_branch") }))
rec:set_string("branch", repo:branch())
rec:stage_end("checkout", "ok")

-- agent: any argv; here a sed that fixes the typo, its output streamed and masked
local masker <close> = devsys.masker()
local runner <close> = check(devsys.runner_open("inproc", { ws = ws, masker = masker }))
rec:stage_begin("agent")
local res = check(runner:exec({ argv = { "sed", "-i", "s/Teh/The/", "README.md" }, cwd = repo:checkout_path(),
  task = task, stage = "agent", timeout_ms = 60000 }))
rec:stage_end("agent", res.exit_code == 0 and "ok" or "failed", res.exit_code == 0 and nil or "build")

-- commit and push
rec:stage_begin("commit")
local spec_file = base .. "/fix-readme.yaml" -- the commit's Spec: trailer names it and carries its hash
local f = assert(io.open(spec_file, "w")); f:write(spec_text); f:close()
local committed = check(repo:commit("Fix the typo in the README", { spec_path = "fix-readme.yaml", spec_file = spec_file }))
rec:set_string("commit", repo:head_sha())
rec:stage_end("commit", committed and "ok" or "skipped")
rec:stage_begin("push")
check(repo:push())
rec:stage_end("push", "ok")

-- test: a command that writes JUnit XML inside the task folder
rec:stage_begin("test")
local junit = task:path() .. "/junit.xml"
local lines = {}
res = check(runner:exec({ argv = { "sh", "-c",
  "grep -q 'The project' README.md && s=0 || s=1; "
  .. "printf '<testsuites><testsuite name=\"readme\"><testcase name=\"spelling\">%s</testcase></testsuite></testsuites>' "
  .. "\"$( [ $s = 0 ] || echo '<failure message=\"typo\"/>' )\" > \"$1\"; echo checked; exit $s", "sh", junit },
  cwd = repo:checkout_path(), task = task, stage = "test",
  output = function(stream, data) lines[#lines + 1] = stream .. ": " .. data end }))
local run = check(rec:run_begin())
check(rec:run_add_junit(run, junit))
check(rec:run_complete(run))
local report <close> = check(devsys.report_parse_junit(junit))
rec:stage_end("test", report:count("failed") == 0 and "ok" or "failed")
check(rec:save())

print(string.format("task %s: branch %s, commit %s", id, repo:branch(), repo:head_sha():sub(1, 12)))
print(string.format("tests: %d run, %d failed (exit %d): %s", report:tests(), report:count("failed"),
  res.exit_code, table.concat(lines):gsub("\n$", "")))
print("record: " .. task:path() .. "/task.json")

-- the push reached the remote, on the task's branch
local p = io.popen(UNPRELOAD .. string.format("git --git-dir='%s/project.git' log -1 --format=%%s %s", base, repo:branch()))
local pushed = p:read("l"); p:close()
assert(pushed == "Fix the typo in the README", "the remote does not have the commit: " .. tostring(pushed))
assert(report:count("failed") == 0, "the test failed")
if not keep then
  rec:close(); repo:close(); task:close(); ws:close()
  sh("rm -rf '" .. base .. "'")
end
