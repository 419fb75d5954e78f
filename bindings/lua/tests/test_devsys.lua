-- The Lua binding's tests: per module, the scenarios of the C API tests, their
-- error paths, callbacks that raise, and handle misuse (use after close,
-- double close, a parent closed before its child). Run by ctest (lua_binding)
-- with LUA_CPATH pointing at the built devsys.so.
local devsys = require "devsys"
local E = devsys.E

local passed, failed = 0, 0
local function test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
    print("ok     " .. name)
  else
    failed = failed + 1
    print("FAILED " .. name .. "\n" .. tostring(err))
  end
end

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
  end
end

local function has(s, sub, what)
  if type(s) ~= "string" or not s:find(sub, 1, true) then
    error(string.format("%s: '%s' does not contain '%s'", what or "text", tostring(s), sub), 2)
  end
end

-- expected failure: nil, message, code
local function fails(code, sub, v, msg, c, ...)
  if v ~= nil then error("expected a failure, got " .. tostring(v), 2) end
  if c ~= code then error(string.format("code %s (%s), want %s: %s", tostring(c), devsys.error_name(c or 0), devsys.error_name(code), tostring(msg)), 2) end
  if sub then has(msg, sub, "message") end
  return ...
end

-- misuse: raises, with the message containing sub
local function raises(sub, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error containing '" .. sub .. "'", 2) end
  has(tostring(err), sub, "error")
  return err
end

-- Under a sanitizer build the interpreter runs with the runtimes preloaded;
-- the helper programs (git, rm, mktemp) must not inherit that.
local UNPRELOAD = os.getenv("LD_PRELOAD") and "unset LD_PRELOAD; " or ""
local function popen(cmd) return io.popen(UNPRELOAD .. cmd) end

local function sh(cmd)
  local ok = os.execute(UNPRELOAD .. cmd)
  if not ok then error("command failed: " .. cmd, 2) end
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local root = os.getenv("DEVSYS_TEST_TMP") or "/tmp"
sh("mkdir -p '" .. root .. "'")
local tmp = popen("mktemp -d '" .. root .. "/lua-XXXXXX'"):read("l")
assert(tmp and #tmp > 0, "mktemp failed")
local n = 0
local function fresh(tag)
  n = n + 1
  local d = string.format("%s/%s%d", tmp, tag, n)
  sh("mkdir -p '" .. d .. "'")
  return d
end

local GIT = "git -c user.name=Fixture -c user.email=fixture@test -c init.defaultBranch=main"
local function bare_remote(dir)
  sh(string.format("set -e; cd '%s'; %s init -q -b main src; cd src; echo hello > README.md; %s add -A; "
    .. "%s commit -q -m init; %s clone -q --bare . ../remote.git", dir, GIT, GIT, GIT, GIT))
  return "file://" .. dir .. "/remote.git"
end

local SPEC = [[
id: fix-typo-readme
title: Fix typos in the README
prompt: Fix spelling mistakes in README.md.
repo:
  url: file:///srv/git/docs.git
  base_branch: main
runner: inproc
]]

-- ---- core ----------------------------------------------------------------

test("version, ABI and features", function()
  has(devsys.version(), ".")
  eq(devsys.ABI_VERSION, 1, "ABI")
  local f = devsys.features()
  eq(f.core, true, "core feature")
  eq(devsys.feature_enabled("core"), true)
  eq(devsys.feature_enabled("no-such-module"), false)
  for name in pairs(f) do eq(devsys.feature_enabled(name), true, name) end
  raises("NUL", devsys.feature_enabled, "co\0re")
end)

test("error codes are named", function()
  eq(E.INVALID, -14); eq(E.USER, -10); eq(E.PROTECTED, -15)
  eq(devsys.error_name(E.NOTFOUND), "DEVSYS_ENOTFOUND")
  has(devsys.strerror(E.INVAL), "invalid")
  eq(devsys.log_level_name(devsys.LOG.WARN), "warn")
  has(devsys.workspace_default_path(), "/")
end)

-- ---- workspace and task --------------------------------------------------

test("workspace: open, path, log callback with level filter", function()
  local lines = {}
  local ws <close> = assert(devsys.workspace(fresh("ws"), {
    log_level = devsys.LOG.INFO,
    log = function(level, component, message) lines[#lines + 1] = {level, component, message} end }))
  ws:log(devsys.LOG.WARN, "test", "visible")
  ws:log(devsys.LOG.DEBUG, "test", "filtered")
  eq(#lines, 1, "lines logged"); eq(lines[1][2], "test"); eq(lines[1][3], "visible")
  ws:set_log_level(devsys.LOG.TRACE)
  ws:log(devsys.LOG.DEBUG, "test", "now visible")
  eq(#lines, 2, "lines after lowering the level")
end)

test("workspace: a log callback that raises re-raises from ws:log", function()
  local ws <close> = assert(devsys.workspace(fresh("ws"), { log = function() error("boom in logger") end }))
  raises("boom in logger", ws.log, ws, devsys.LOG.ERROR, "t", "x")
  ws:log(devsys.LOG.TRACE, "t", "below the level: not called") -- no pending error left behind
end)

test("workspace: bad path is an expected failure, bad arguments raise", function()
  local f = fresh("ws") .. "/file"
  write(f, "x")
  fails(E.IO, nil, devsys.workspace(f .. "/sub"))
  raises("string expected", devsys.workspace, {})
  raises("NUL", devsys.workspace, "/tmp/a\0b")
end)

test("workspace: unicode path", function()
  local ws <close> = assert(devsys.workspace(fresh("ws") .. "/räume-ü"))
  has(ws:path(), "räume-ü")
end)

test("handles: double close, use after close, <close> and __gc", function()
  local ws = assert(devsys.workspace(fresh("ws")))
  eq(ws:closed(), false)
  ws:close(); ws:close()
  eq(ws:closed(), true)
  has(tostring(ws), "closed")
  raises("is closed", ws.path, ws)
  raises("is closed", ws.task, ws, "t1")
  do
    local w2 <close> = assert(devsys.workspace(fresh("ws")))
    ws = w2
  end
  eq(ws:closed(), true, "closed by <close>")
  for _ = 1, 50 do devsys.workspace(fresh("gc")) end
  collectgarbage(); collectgarbage()
  raises("devsys.Workspace expected", devsys.workspace(fresh("ws")).task, "not a handle", "id")
end)

test("task: create, exclusive, not found, bad id, path_join escape", function()
  local ws <close> = assert(devsys.workspace(fresh("ws")))
  local t <close> = assert(ws:task("t1", { create = true }))
  eq(t:id(), "t1")
  eq(t:path(), ws:path() .. "/tasks/t1")
  fails(E.EXISTS, "already exists", ws:task("t1", { create = true, exclusive = true }))
  fails(E.NOTFOUND, "does not exist", ws:task("t2"))
  fails(E.BADID, "forbidden character", ws:task("a b", { create = true }))
  fails(E.BADID, "..", devsys.task_id_check("a..b"))
  eq(devsys.task_id_check("ok-1"), true)
  eq(t:path_join("logs/x.log"), t:path() .. "/logs/x.log")
  fails(E.PATH, "../x", t:path_join("../x"))
  raises("string expected", ws.task, ws, nil)
end)

test("task outlives its workspace", function()
  local ws = assert(devsys.workspace(fresh("ws")))
  local path = ws:path()
  local t = assert(ws:task("t1", { create = true }))
  ws:close(); ws = nil; collectgarbage()
  eq(t:workspace_path(), path)
  eq(t:path_join("a"), path .. "/tasks/t1/a")
  t:close()
end)

-- ---- spec, schema, validation --------------------------------------------

if devsys.spec_load then
  test("spec: load, get, to_json, valid", function()
    local s <close> = assert(devsys.spec_load(SPEC, "spec.yaml"))
    eq(s:name(), "spec.yaml"); eq(s:count(), 1)
    eq(s:get_string("/id"), "fix-typo-readme")
    local repo, line, _, source = s:get("/repo")
    eq(repo.base_branch, "main"); eq(line, 5, "line of /repo"); eq(source, "spec.yaml")
    eq(s:format(), "yaml")
    local j <close> = assert(devsys.spec_load('{"id": "x"}', "x.json"))
    eq(j:format(), "json")
    eq(s:get("/nope"), nil)
    has(s:to_json(), '"id":"fix-typo-readme"')
    local v <close> = s:validate()
    eq(v:valid(), true, "valid"); eq(v:count(), 0)
    eq(s:check(), true)
    local bad <close> = assert(devsys.spec_load("id: x\n", "bad.yaml"))
    fails(E.INVALID, "bad.yaml:1:1", bad:check())
  end)

  test("spec: spec_check loads and validates a text in one call", function()
    eq(devsys.spec_check(SPEC, "spec.yaml"), true)
    fails(E.INVALID, "bad.yaml:1:1", devsys.spec_check("id: x\n", "bad.yaml"))
    fails(E.INVALID, "two.yaml: holds 2 documents", devsys.spec_check(SPEC .. "---\n" .. SPEC, "two.yaml"))
    fails(E.PARSE, "broken.yaml:", devsys.spec_check("a: [", "broken.yaml"))
    fails(E.LIMIT, nil, devsys.spec_check(SPEC, "big.yaml", { max_size = 10 }))
    eq(devsys.spec_check(SPEC, "spec.yaml", { format = "yaml" }), true, "the control")
  end)

  test("spec: values convert (null, numbers, arrays, JSON)", function()
    local s <close> = assert(devsys.spec_load('{"a": null, "i": 3, "f": 1.5, "l": [1, "x", true]}', "x.json", { format = "json" }))
    local d = s:get("")
    eq(d.a, devsys.null); eq(math.type(d.i), "integer"); eq(d.f, 1.5); eq(#d.l, 3); eq(d.l[3], true)
  end)

  test("spec: invalid spec gives every error with its position", function()
    local s <close> = assert(devsys.spec_load("id: x\ntitle: t\nrepo: {url: 'ftp://x'}\n", "bad.yaml"))
    local v <close> = s:validate()
    eq(v:valid(), false)
    local errs = v:errors()
    assert(#errs >= 1 and #errs == v:count(), "errors listed")
    local urls = {}
    for _, e in ipairs(errs) do urls[#urls + 1] = e.instance_location .. " " .. e.message; eq(e.file, "bad.yaml") end
    has(table.concat(urls, "\n"), "/repo/url")
    local j = v:to_json()
    has(j, '"valid":false'); has(j, '"instanceLocation":"/repo/url"')
    local ts <close> = assert(devsys.task_schema())
    local again <close> = ts:validate(s)
    eq(again:valid(), false, "the compiled task schema refuses it too")
    local ok <close> = assert(devsys.spec_load(SPEC, "spec.yaml"))
    eq(ts:check(ok), true)
    ts:close(); ts:close() -- the library's: closing frees nothing
    local ts2 <close> = assert(devsys.task_schema())
    eq(ts2:check(ok), true, "still there after a close")
  end)

  test("spec: parse errors and limits", function()
    fails(E.PARSE, "bad.yaml:", devsys.spec_load("a: [", "bad.yaml"))
    fails(E.PARSE, nil, devsys.spec_load("a: yes\n", "bool.yaml"))
    fails(E.PARSE, nil, devsys.spec_load("a: \255\254\n", "utf8.yaml"))
    fails(E.PARSE, nil, devsys.spec_load("a: b\0c\n", "nul.yaml"))
    fails(E.LIMIT, nil, devsys.spec_load(SPEC, "big.yaml", { max_size = 10 }))
    fails(E.NOTFOUND, nil, devsys.spec_load_file(tmp .. "/missing.yaml"))
    raises("format", devsys.spec_load, SPEC, "x", { format = "xml" })
    local s = assert(devsys.spec_load(SPEC)); s:close()
    raises("is closed", s.validate, s)
    raises("out of range", assert(devsys.spec_load(SPEC)).get, assert(devsys.spec_load(SPEC)), "", 2)
  end)

  test("schema: compile, validate, check; results outlive schema and instance", function()
    local sch_doc = assert(devsys.spec_load('{"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}}', "schema.json"))
    local schema = assert(devsys.schema_compile(sch_doc, 1, { draft = 7 }))
    eq(schema:draft(), 7)
    sch_doc:close() -- the schema copies what it needs
    local good <close> = assert(devsys.spec_load('{"name": "abc"}', "good.json"))
    local bad = assert(devsys.spec_load('{"name": "ABC"}', "bad.json"))
    eq(schema:check(good), true)
    fails(E.INVALID, "/name", schema:check(bad))
    local v = schema:validate(bad)
    schema:close(); bad:close(); collectgarbage()
    eq(v:valid(), false)
    eq(v:errors()[1].keyword, "pattern")
    eq(v:errors()[1].file, "bad.json")
    v:close()
  end)

  test("schema: an invalid schema is refused naming the location", function()
    local d <close> = assert(devsys.spec_load('{"pattern": "(["}', "s.json"))
    fails(E.INVALID, nil, devsys.schema_compile(d))
    has(devsys.task_schema_text(), '"required"')
  end)
end

-- ---- repo ----------------------------------------------------------------

if devsys.repo_open then
  test("repo: check out, commit, push, changed paths; progress callback", function()
    local dir = fresh("repo")
    local url = bare_remote(dir)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("r1", { create = true }))
    local stages = {}
    local r <close> = assert(devsys.repo_open(t, { url = url, progress = function(stage) stages[stage] = true end }))
    eq(r:branch(), "task/r1"); eq(r:base_branch(), "main"); eq(#r:base_sha(), 40)
    eq(r:head_sha(), r:base_sha())
    eq(r:commit("nothing"), false, "nothing to commit")
    write(r:checkout_path() .. "/new.txt", "new\n")
    eq(r:commit("add new.txt"), true)
    assert(r:head_sha() ~= r:base_sha(), "head moved")
    local ch = r:changed_paths()
    eq(#ch, 1); eq(ch[1].status, "added"); eq(ch[1].path, "new.txt")
    eq(r:push(), true)
    has(r:mirror_path(), ws:path())
    eq(r:remote_default_branch(), "main")
    local p = popen(string.format("git --git-dir='%s/remote.git' log --format=%%s task/r1", dir))
    has(p:read("a"), "add new.txt"); p:close()
    eq(stages.checkout or stages.fetch or stages.push, true, "progress was reported")
    if devsys.record_open then -- the git facts into the task's record, as the pipeline writes them after a step
      local rec <close> = assert(devsys.record_open(t))
      eq(rec:git_step("git.push", r), true)
      local tj = read(t:path() .. "/task.json")
      has(tj, '"branch": "task/r1"'); has(tj, r:head_sha())
      has(read(t:path() .. "/events.jsonl"), '"type":"git.push"')
      fails(E.INVAL, nil, rec:git_step("git.rebase", r))
      raises("devsys.Repo expected", rec.git_step, rec, "git.push", t)
    end
  end)

  test("repo: a raising progress callback aborts and re-raises; false cancels", function()
    local dir = fresh("repo")
    local url = bare_remote(dir)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("r2", { create = true }))
    raises("progress boom", devsys.repo_open, t, { url = url, progress = function() error("progress boom") end })
    fails(E.USER, nil, devsys.repo_open(t, { url = url, progress = function() return false end }))
    -- nothing was left behind: a plain open now works
    local r <close> = assert(devsys.repo_open(t, { url = url }))
    eq(r:branch(), "task/r2")
  end)

  test("repo: protected branch, bad url, missing remote", function()
    local dir = fresh("repo")
    local url = bare_remote(dir)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("r3", { create = true }))
    fails(E.PROTECTED, "task/r3", devsys.repo_open(t, { url = url, protected_branches = { "task/*" } }))
    fails(E.INVAL, nil, devsys.repo_open(t, { url = "ftp://example.invalid/x" }))
    fails(E.INVAL, nil, devsys.repo_open(t, { url = "https://user:pw@127.0.0.1/x" }))
    fails(E.NOTFOUND, nil, devsys.repo_open(t, { url = "file://" .. dir .. "/nope.git" }))
    raises("'url' is required", devsys.repo_open, t, {})
    raises("protected_branches", devsys.repo_open, t, { url = url, protected_branches = { 1 } })
  end)

  test("repo outlives its task and workspace", function()
    local dir = fresh("repo")
    local url = bare_remote(dir)
    local ws = assert(devsys.workspace(dir .. "/ws"))
    local t = assert(ws:task("r4", { create = true }))
    local r = assert(devsys.repo_open(t, { url = url }))
    t:close(); ws:close(); t, ws = nil, nil
    collectgarbage(); collectgarbage()
    write(r:checkout_path() .. "/late.txt", "late\n")
    eq(r:commit("late commit"), true)
    eq(r:push(), true)
    r:close(); r:close()
    raises("is closed", r.push, r)
    eq(#devsys.repo_content_id("hello\n"), 45)
  end)
end

-- ---- secrets and masking -------------------------------------------------

if devsys.masker then
  test("masker: mask, stream across writes, short value refused", function()
    local m <close> = devsys.masker()
    eq(m:add("TOKEN", "hunter22"), true)
    fails(E.INVALID, "PIN", m:add("PIN", "ab"))
    eq(m:count(), 1)
    eq(m:mask("say hunter22!"), "say [MASKED:TOKEN]!")
    local out = {}
    local s <close> = m:stream(function(b) out[#out + 1] = b end)
    s:write("say hun"); s:write("ter22 now"); s:finish()
    eq(table.concat(out), "say [MASKED:TOKEN] now")
    fails(E.BUSY, "after masking has started", m:add("LATE", "latevalue"))
  end)

  test("masker: a raising stream callback re-raises; the stream outlives its masker", function()
    local m = devsys.masker()
    m:add("TOKEN", "hunter22")
    local out = {}
    local s = m:stream(function(b) out[#out + 1] = b end)
    m:close(); m = nil; collectgarbage()
    s:write("x hunter22 y"); s:finish()
    eq(table.concat(out), "x [MASKED:TOKEN] y")
    local m2 <close> = devsys.masker(); m2:add("K", "abcdefgh")
    local bad <close> = m2:stream(function() error("stream boom") end)
    raises("stream boom", function() bad:write("0123456789"); bad:finish() end)
  end)

  test("secrets: file provider, audit callback, masker; errors", function()
    local dir = fresh("sec")
    write(dir .. "/tok", "s3cr3t-value\n")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("s1", { create = true }))
    local events = {}
    local set <close> = assert(devsys.secrets({ ws = ws, audit = function(e) events[#events + 1] = e end }))
    eq(set:define({ name = "TOK", provider = "file", ref = dir .. "/tok" }), true)
    eq(set:resolve("TOK", t, "test"), "s3cr3t-value")
    eq(#events, 1); eq(events[1].name, "TOK"); eq(events[1].provider, "file"); eq(events[1].task_id, "s1")
    has(events[1].json, '"TOK"'); has(events[1].json, '"file"'); eq(events[1].json:find("s3cr3t", 1, true), nil, "never the value")
    if devsys.record_open then -- record_events: the task's own event log keeps the audit
      local rs <close> = assert(devsys.secrets({ record_events = true }))
      assert(rs:define({ name = "TOK", provider = "file", ref = dir .. "/tok" }))
      eq(rs:resolve("TOK", t, "test"), "s3cr3t-value")
      local ev = read(t:path() .. "/events.jsonl")
      has(ev, '"type":"secret.resolve"'); has(ev, '"TOK"'); eq(ev:find("s3cr3t", 1, true), nil, "never the value")
      local plain <close> = assert(devsys.secrets())
      assert(plain:define({ name = "TOK2", provider = "file", ref = dir .. "/tok" }))
      assert(plain:resolve("TOK2", t, "test"))
      eq(read(t:path() .. "/events.jsonl"):find("TOK2", 1, true), nil, "the control: not recorded without it")
    end
    fails(E.NOTFOUND, "NOPE", set:resolve("NOPE"))
    local m <close> = assert(set:masker())
    eq(m:mask("value=s3cr3t-value"), "value=[MASKED:TOK]")
    fails(E.INVALID, "bad name!", set:define({ name = "bad name!", provider = "file" }))
    eq(set:resolve_all(t, "test"), true)
  end)

  test("secrets: an audit callback that raises re-raises from resolve", function()
    local dir = fresh("sec")
    write(dir .. "/tok", "another-secret")
    local set <close> = assert(devsys.secrets({ audit = function() error("audit boom") end }))
    set:define({ name = "TOK", provider = "file", ref = dir .. "/tok" })
    raises("audit boom", set.resolve, set, "TOK")
  end)

  test("workspace log lines pass through a masker that outlives its handle", function()
    local lines = {}
    local ws <close> = assert(devsys.workspace(fresh("ws"), { log = function(_, _, msg) lines[#lines + 1] = msg end }))
    local m = devsys.masker(); m:add("TOKEN", "hunter22")
    eq(ws:add_masker(m), true)
    m:close(); m = nil; collectgarbage()
    ws:log(devsys.LOG.ERROR, "t", "the token is hunter22")
    eq(lines[1], "the token is [MASKED:TOKEN]")
  end)
end

-- ---- runner --------------------------------------------------------------

if devsys.runner_open then
  test("runner: exec with output callback, exit codes, tail", function()
    local r <close> = assert(devsys.runner_open("inproc"))
    eq(r:type(), "inproc")
    local out = {}
    local res = assert(r:exec({ argv = { "sh", "-c", "echo out; echo err >&2; exit 3" },
      output = function(stream, data) out[#out + 1] = stream .. ":" .. data end }))
    eq(res.exit_code, 3); eq(res.failure_name, "build-failure")
    local all = table.concat(out)
    has(all, "stdout:out"); has(all, "stderr:err")
    has(res.tail, "out| out")
    local ok = assert(r:exec({ argv = { "true" } }))
    eq(ok.exit_code, 0); eq(ok.failure, 0)
    eq(devsys.runner_failure_name(1), "build-failure")
    eq(r:describe().type, "inproc")
  end)

  test("runner: the command budgets end a stalled and a chatty command", function()
    local r <close> = assert(devsys.runner_open("inproc"))
    local v, msg, code, res = r:exec({ argv = { "sh", "-c", "echo begun; exec sleep 30" }, idle_timeout_ms = 300 })
    eq(v, nil); eq(code, E.TIMEOUT, msg); eq(res.failure_name, "stalled")
    assert(res.duration_ms < 10000, "stopped at the idle timeout")
    v, msg, code, res = r:exec({ argv = { "sh", "-c", "yes | head -c 100000; exec sleep 30" }, max_output_bytes = 1000 })
    eq(v, nil); eq(code, E.LIMIT, msg); eq(res.failure_name, "output-limit")
    -- positive control: within their budgets
    eq(assert(r:exec({ argv = { "sh", "-c", "echo a; sleep 0.1; echo b" }, idle_timeout_ms = 5000 })).exit_code, 0)
    eq(assert(r:exec({ argv = { "sh", "-c", "yes | head -c 500" }, max_output_bytes = 1000 })).exit_code, 0)
  end)

  test("runner: prepare, workdir, upload, download, cleanup, cancel", function()
    local dir = fresh("run")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("p1", { create = true }))
    local r <close> = assert(devsys.runner_open("inproc"))
    eq(r:prepare(t), true)
    eq(r:workdir(t), nil, "inproc runs where it is told: no work directory of its own")
    eq(r:workdir(), nil)
    write(dir .. "/in.txt", "payload")
    sh("mkdir -p '" .. dir .. "/place'")
    eq(r:upload(dir .. "/in.txt", dir .. "/place/in.txt"), true)
    eq(r:download(dir .. "/place/in.txt", dir .. "/out.txt"), true)
    eq(read(dir .. "/out.txt"), "payload")
    eq(r:cleanup(t), true)
    r:cancel() -- applies to the next exec
    local v, _, code, res = r:exec({ argv = { "sleep", "5" } })
    eq(v, nil); eq(code, E.CANCELED); eq(res.failure_name, "canceled")
  end)

  test("runner: stdin, env, cwd, timeout, missing program, shell refused", function()
    local r <close> = assert(devsys.runner_open("inproc", { grace_ms = 200 }))
    local got = {}
    assert(r:exec({ argv = { "cat" }, stdin = "from stdin", output = function(_, d) got[#got + 1] = d end }))
    eq(table.concat(got), "from stdin")
    got = {}
    assert(r:exec({ argv = { "sh", "-c", "printf %s \"$X\"; pwd" }, env = { "X=42" }, cwd = "/",
      output = function(_, d) got[#got + 1] = d end }))
    eq(table.concat(got), "42/\n")
    local res = select(4, fails(E.TIMEOUT, nil, r:exec({ argv = { "sleep", "5" }, timeout_ms = 100 })))
    eq(res, nil) -- fails() returns what follows the code: the result table
  end)

  test("runner: a raising output callback stops the command and re-raises; false cancels", function()
    local r <close> = assert(devsys.runner_open("inproc", { grace_ms = 200 }))
    local t0 = os.time()
    raises("output boom", r.exec, r, { argv = { "sh", "-c", "echo one; sleep 5; echo two" },
      output = function() error("output boom") end })
    assert(os.time() - t0 < 4, "the command was not stopped")
    local v, msg, code, res = r:exec({ argv = { "sh", "-c", "echo one; sleep 5" }, output = function() return false end })
    eq(v, nil); eq(code, E.USER, "code " .. tostring(msg)); eq(res.failure_name, "canceled")
  end)

  test("runner: a callback raising halfway through 100 MB of output", function()
    local r <close> = assert(devsys.runner_open("inproc", { grace_ms = 200, tail_max = 4096 }))
    local seen = 0
    raises("enough at 50 MB", r.exec, r, { argv = { "head", "-c", "104857600", "/dev/zero" },
      output = function(_, data)
        seen = seen + #data
        if seen >= 50 * 1024 * 1024 then error("enough at 50 MB") end
      end })
    assert(seen >= 50 * 1024 * 1024 and seen < 100 * 1024 * 1024, "stopped halfway: saw " .. seen .. " bytes")
    -- the runner is usable afterwards
    eq(assert(r:exec({ argv = { "true" } })).exit_code, 0)
  end)

  test("runner: bad input and unknown type", function()
    fails(E.NOTFOUND, "not registered", devsys.runner_open("no-such-runner"))
    local r <close> = assert(devsys.runner_open("inproc"))
    local _, _, code, res = r:exec({ argv = { "/no/such/program" } })
    eq(code, E.NOTFOUND); eq(res.failure_name, "not-run")
    fails(E.ACCESS, nil, r:exec({ argv = { "echo hi" }, shell = true }))
    raises("argv", r.exec, r, { argv = {} })
    raises("argv", r.exec, r, { argv = { 1, 2 } })
  end)

  if devsys.runner_docker_sweep then
    -- no engine is started here (tests/docker sweeps a real one): the errors name the endpoint tried
    test("runner: the host-docker sweep without an engine names the endpoint", function()
      -- a short path (not under the suite's deep temporary folder): a unix socket path holds 107
      -- bytes, and a longer one is refused as too long before any connection is tried
      local base = os.tmpname(); os.remove(base)
      local sock = base .. "/no-engine/docker.sock"
      eq(io.open(sock), nil, "no socket there")
      fails(E.NETWORK, sock, devsys.runner_docker_sweep({ host = "unix://" .. sock }))
      fails(E.INVALID, "bogus://x", devsys.runner_docker_sweep({ host = "bogus://x" }))
      raises("table expected", devsys.runner_docker_sweep, "unix:///x")
      raises("host", devsys.runner_docker_sweep, { host = "unix:///x\0y" })
    end)
  end

  test("runner outlives its workspace and masker; output masked; task log", function()
    local ws = assert(devsys.workspace(fresh("run")))
    local t <close> = assert(ws:task("x1", { create = true }))
    local m = devsys.masker(); m:add("TOKEN", "hunter22")
    local r <close> = assert(devsys.runner_open("inproc", { ws = ws, masker = m }))
    ws:close(); m:close(); ws, m = nil, nil; collectgarbage(); collectgarbage()
    local out = {}
    local res = assert(r:exec({ argv = { "printf", "value=hunter22\n" }, task = t, stage = "test",
      output = function(_, d) out[#out + 1] = d end }))
    eq(table.concat(out), "value=[MASKED:TOKEN]\n")
    has(read(res.log_path), "[MASKED:TOKEN]")
    assert(not read(res.log_path):find("hunter22"), "secret in the log")
  end)
end

-- ---- config --------------------------------------------------------------

if devsys.config_parse then
  test("config: runner profiles, risk, forges; errors name the line", function()
    local cfg <close> = assert(devsys.config_parse("runners:\n  local:\n    type: inproc\n    grace: 2500ms\n    allow_shell: true\n    risk: high\n", "devsys.yaml"))
    local names = cfg:runners()
    eq(#names, 1); eq(names[1], "local")
    local typ, o = cfg:runner("local")
    eq(typ, "inproc"); eq(o.grace_ms, 2500); eq(o.allow_shell, true)
    eq(cfg:runner_risk("local"), "high")
    local fc <close> = assert(devsys.config_parse("forges:\n  github.com:\n    provider: github\n    merge_method: squash\n", "devsys.yaml"))
    eq(fc:forges()[1], "github.com")
    eq(fc:forge_match("github.com"), "github.com")
    local value, where = fc:forge_value("github.com", "merge_method")
    eq(value, "squash"); has(where, "devsys.yaml:4:")
    eq((fc:forge_value("github.com", "bot")), nil)
    fails(E.INVAL, nil, fc:forge_value("github.com", "no_such_key"))
    fails(E.NOTFOUND, "local", cfg:runner("nope"))
    eq(#cfg:forges(), 0)
    fails(E.NOTFOUND, nil, cfg:forge_match("github.com"))
    fails(E.INVALID, "devsys.yaml:4:5", devsys.config_parse("runners:\n  a:\n    type: inproc\n    hots: x\n", "devsys.yaml"))
    fails(E.PARSE, "devsys.yaml:", devsys.config_parse("runners:\n  a: {type: inproc\n", "devsys.yaml"))
    fails(E.NOTFOUND, nil, devsys.config_load(tmp .. "/missing.yaml"))
  end)

  test("config: a runner pool's profile reads as its first member; pool keys checked at their position", function()
    local cfg <close> = assert(devsys.config_parse("runners:\n  farm:\n    type: remote-ssh\n    port: 2201\n"
      .. "    known_hosts: /k\n    hosts: [\"[::1]:2200\", b.example]\n    per_host_max: 2\n    cooldown: 2m\n", "p.yaml"))
    local typ, o = cfg:runner("farm")
    eq(typ, "remote-ssh"); eq(o.host, "::1"); eq(o.port, 2200)
    fails(E.INVALID, "per_host_max", devsys.config_parse("runners:\n  one:\n    type: remote-ssh\n    host: a\n"
      .. "    known_hosts: /k\n    per_host_max: 2\n", "bad.yaml"))
    fails(E.INVALID, "port.yaml:5", devsys.config_parse("runners:\n  farm:\n    type: remote-ssh\n    known_hosts: /k\n"
      .. "    hosts: [a.example, \"b.example:99999\"]\n", "port.yaml"))
  end)
end

-- ---- report ----------------------------------------------------------------

local JUNIT = [[<?xml version="1.0"?>
<testsuites><testsuite name="s"><testcase classname="c" name="ok" time="0.5"/>
<testcase name="bad" time="1"><failure message="boom">trace</failure></testcase>
<testcase name="skip"><skipped/></testcase></testsuite></testsuites>]]

if devsys.report then
  test("report: parse, counts, cases, summary, merge", function()
    local r <close> = devsys.report()
    local seen = {}
    eq(r:add_junit_buffer(JUNIT, "junit.xml", { case = function(c) seen[#seen + 1] = c.name end }), true)
    eq(table.concat(seen, ","), "ok,bad,skip")
    eq(r:tests(), 3); eq(r:count("failed"), 1); eq(r:count("skipped"), 1); eq(r:count("passed"), 1)
    eq(r:time(), 1.5)
    local cases = r:cases()
    eq(cases[2].message, "boom"); eq(cases[2].classname, "s"); eq(cases[1].classname, "c")
    eq(r:sources()[1], "junit.xml")
    has(r:summary_json(), '"failed": 1')
    has(r:junit(), "<testsuites")
    local r2 <close> = devsys.report()
    r2:merge(r)
    eq(r2:tests(), 3)
    fails(E.INVAL, nil, r:merge(r))
    raises("invalid option", r.count, r, "bogus")
  end)

  test("report: a raising case callback re-raises; foreach stops on false", function()
    local r <close> = devsys.report()
    raises("case boom", r.add_junit_buffer, r, JUNIT, "j.xml", { case = function() error("case boom") end })
    local r2 <close> = devsys.report(); r2:add_junit_buffer(JUNIT, "j.xml")
    local count = 0
    fails(E.USER, nil, r2:foreach(function() count = count + 1; return false end))
    eq(count, 1)
    raises("foreach boom", r2.foreach, r2, function() error("foreach boom") end)
  end)

  test("report: files, DTD refused, missing file", function()
    local dir = fresh("rep")
    write(dir .. "/a.xml", JUNIT)
    local r <close> = assert(devsys.report_parse_junit(dir .. "/a.xml", { no_cases = true }))
    eq(r:tests(), 3)
    eq(r:add_junit(dir .. "/a.xml"), true)
    eq(r:tests(), 6)
    fails(E.STATE, "NO_CASES", r:write_junit(dir .. "/merged.xml"))
    local full <close> = devsys.report()
    eq(full:add_junit(dir .. "/a.xml"), true)
    eq(full:write_junit(dir .. "/merged.xml"), true)
    has(read(dir .. "/merged.xml"), "<testsuites")
    assert(r:write_summary(dir .. "/summary.json"))
    has(read(dir .. "/summary.json"), '"tests": 6')
    write(dir .. "/dtd.xml", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><testsuites/>')
    fails(E.PARSE, nil, devsys.report_parse_junit(dir .. "/dtd.xml"))
    fails(E.NOTFOUND, nil, devsys.report_parse_junit(dir .. "/missing.xml"))
  end)
end

-- ---- record ----------------------------------------------------------------

if devsys.record_open then
  test("record: fields, stages, events, runs, acceptance", function()
    local dir = fresh("rec")
    write(dir .. "/junit.xml", JUNIT)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("k1", { create = true }))
    local rec <close> = assert(devsys.record_open(t))
    eq(rec:set_string("branch", "task/k1"), true)
    eq(rec:set_int("attempt", 2), true)
    eq(rec:set_json("extra", '{"a":1}'), true)
    eq(rec:set_repo_url("https://example.com/o/r.git"), true)
    eq(rec:set_repo_url("https://user:pw@example.com/o/r.git"), true)
    assert(not rec:json():find("pw@", 1, true), "credentials are never recorded")
    eq(rec:set_spec("spec.yaml", SPEC), true)
    fails(E.PARSE, nil, rec:set_json("extra", "{nope"))
    eq(rec:stage_begin("validate"), true)
    eq(rec:stage_end("validate", "ok"), true)
    fails(E.INVAL, "not a pipeline stage", rec:stage_begin("a nap"))
    eq(devsys.stage_check("test"), true)
    eq(rec:save(), true)
    has(read(t:path() .. "/task.json"), '"branch": "task/k1"')
    has(rec:json(), '"attempt": 2')
    local s1 = rec:event("note", '{"x":1}')
    local s2 = rec:event("note")
    eq(s2, s1 + 1, "seq")
    local run = rec:run_begin()
    fails(E.PATH, "outside the workspace", rec:run_add_junit(run, dir .. "/junit.xml"))
    write(t:path() .. "/junit.xml", JUNIT)
    eq(rec:run_add_junit(run, t:path() .. "/junit.xml"), true)
    eq(rec:run_complete(run), true)
    eq(devsys.record_latest_run(t), run)
    eq(rec:write_acceptance('{"ok":true}'), true)
    has(rec:log_path("test"), "/logs/test.log")
  end)

  test("record outlives its task and workspace", function()
    local ws = assert(devsys.workspace(fresh("rec")))
    local t = assert(ws:task("k2", { create = true }))
    local path = t:path()
    local rec = assert(devsys.record_open(t))
    ws:close(); t:close(); ws, t = nil, nil; collectgarbage(); collectgarbage()
    rec:set_string("branch", "task/k2"); rec:save()
    has(read(path .. "/task.json"), "task/k2")
    rec:close()
    raises("is closed", rec.save, rec)
  end)
end

-- ---- store -----------------------------------------------------------------

if devsys.store_open then
  test("store: create, transitions, listing; outlives its workspace", function()
    local ws = assert(devsys.workspace(fresh("st")))
    local st <close> = assert(devsys.store_open(ws))
    ws:close(); ws = nil; collectgarbage()
    eq(st:task_create("a1"), true)
    eq(st:task_state("a1"), "created")
    eq(st:transition("a1", "validated", "ok"), true)
    fails(E.STATE, nil, st:transition("a1", "merged"))
    eq(st:stage_begin("a1", "checkout"), true)
    eq(st:stage_end("a1", "checkout", "ok", "checked-out"), true)
    eq(st:task_state("a1"), "checked-out")
    fails(E.STATE, nil, st:stage_end("a1", "checkout", "ok", "checked-out"))
    raises("state", st.stage_end, st, "a1", "checkout", "ok", "no-such-state")
    fails(E.NOTFOUND, nil, st:task_state("zz"))
    has(st:task_json("a1"), '"checked-out"')
    has(st:list_json(), '"a1"')
    eq(devsys.task_state_allowed("created", "validated"), true)
    raises("state", st.transition, st, "a1", "no-such-state")
    eq(st:recover(), 0)
    fails(E.STATE, nil, st:resume("a1"))
    fails(E.NOTFOUND, nil, st:run_record("a1", 1))
  end)
end

-- ---- policy, forge, the gate ---------------------------------------------

if devsys.policy_new then
  test("policy: globs classify, options, glob checks; bad input", function()
    local p <close> = assert(devsys.policy_new({ auto_merge = true, critical_approvals = 2,
                                                 required_contexts = { "devsys/tests", "lint" } }))
    eq(p:add_glob("critical", "deploy/**", "devsys.yaml:3"), true)
    local risk, glob, source = p:classify("deploy/prod.yaml")
    eq(risk, "critical"); eq(glob, "deploy/**"); eq(source, "devsys.yaml:3")
    local low = p:classify("docs/guide.md")
    assert(low == "low" or low == "medium", "docs classify below critical: " .. tostring(low))
    local globs = p:globs()
    assert(#globs >= 1, "the added glob is listed")
    local found = false
    for _, g in ipairs(globs) do if g.glob == "deploy/**" then found = (g.risk == "critical") end end
    eq(found, true, "deploy/** listed as critical")
    local o = p:options()
    eq(o.auto_merge, true); eq(o.force_push, false); eq(o.critical_approvals, 2)
    eq(#o.required_contexts, 2); eq(o.required_contexts[2], "lint")
    eq(devsys.glob_match("lib/**/*.c", "lib/core/a.c"), true)
    eq(devsys.glob_match("lib/*.c", "src/a.c"), false)
    eq(devsys.glob_check("docs/**"), true)
    fails(E.INVALID, nil, devsys.glob_check("[oops"))
    fails(E.INVAL, nil, devsys.glob_match("*.c", "/abs/a.c"))
    raises("bad risk", p.add_glob, p, "extreme", "x/**")
    fails(E.INVALID, nil, p:add_glob("high", "[bad"))
  end)
end

if devsys.forge_open then
  test("forge: local PR, reuse, statuses, reviews, gate check and merge", function()
    local dir = fresh("forge")
    local url = bare_remote(dir)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("f1", { create = true }))
    local r <close> = assert(devsys.repo_open(t, { url = url, author_name = "t", author_email = "t@localhost" }))
    sh("mkdir -p '" .. r:checkout_path() .. "/docs'")
    write(r:checkout_path() .. "/docs/guide.md", "# Guide\n")
    eq(r:commit("Add the guide"), true)
    eq(r:push(), true)
    local cfg <close> = assert(devsys.config_parse("policy:\n  auto_merge: true\n  required_contexts: [devsys/tests]\n", "devsys.yaml"))
    local forge = assert(devsys.forge_open({ remote_url = dir .. "/remote.git", config = cfg }))
    eq(forge:provider(), "local"); eq(forge:owner(), "local"); eq(forge:repo(), "remote")
    eq(forge:merge_method(), "merge", "the default merge method")
    has(forge:describe(), '"provider"')
    local pr = assert(forge:open_pr({ title = "Add the guide", head = r:branch(), base = r:base_branch(),
                                      body = "body", head_sha = r:head_sha(), base_sha = r:base_sha() }))
    eq(pr:number(), 1); eq(pr:reused(), false); eq(pr:state(), "open"); eq(pr:draft(), false)
    eq(pr:head(), "task/f1"); eq(pr:base(), "main"); eq(pr:head_sha(), r:head_sha()); eq(pr:title(), "Add the guide")
    has(pr:url(), dir .. "/remote.git")
    local again <close> = assert(forge:open_pr({ title = "Add the guide (again)", head = r:branch(), base = "main", number = 1 }))
    eq(again:reused(), true); eq(again:number(), 1)
    -- the required context is pending: blocked, and gate_merge merges nothing
    local d <close> = assert(pr:gate_check(cfg, { repo = r }))
    eq(d:outcome(), "blocked"); eq(d:risk(), "low")
    local pending = false
    for _, x in ipairs(d:reasons()) do if x.name == "check-pending" or x.code == 4 then pending = true end end
    eq(pending, true, "a pending-check reason: " .. d:explain())
    has(d:explain(true), '"decision"')
    local v, msg, code, blocked = pr:gate_merge(cfg, { repo = r })
    eq(v, nil); eq(code, E.STATE, msg); eq(blocked:outcome(), "blocked"); blocked:close()
    eq(pr:merge_sha(), nil)
    eq(forge:set_status(r:head_sha(), "devsys/tests", "success", "green"), true)
    raises("invalid option", forge.set_status, forge, r:head_sha(), "x", "purple")
    eq(pr:add_review("alice", "approved"), true)
    local revs = pr:reviews()
    eq(#revs, 1); eq(revs[1].reviewer, "alice"); eq(revs[1].state, "approved"); eq(revs[1].commit_sha, r:head_sha())
    eq(pr:refresh(), true)
    local pol <close> = assert(devsys.policy_new({ auto_merge = true }))
    local ok <close> = assert(pr:gate_check(pol, { repo = r, authors = { "bob" } }))
    eq(ok:outcome(), "merge", ok:explain())
    local counted, required = ok:approvals()
    assert(counted >= 1 and required >= 0, "approvals counted")
    forge:close() -- the PR holds a reference on its forge
    local m <close> = assert(pr:gate_merge(pol, { repo = r }))
    eq(m:outcome(), "merge")
    eq(#pr:merge_sha(), 40)
    local p2 = popen(string.format("git --git-dir='%s/remote.git' rev-parse main", dir))
    eq(p2:read("l"), pr:merge_sha(), "main is the merge"); p2:close()
    local f2 <close> = assert(devsys.forge_open({ remote_url = dir .. "/remote.git" }))
    local same <close> = assert(f2:pr(1))
    eq(same:state(), "merged"); eq(same:merge_sha(), pr:merge_sha())
    assert(same:author() == nil or type(same:author()) == "string")
    fails(E.NOTFOUND, nil, f2:pr(42))
    pr:close()
    raises("closed", pr.number, pr)
    raises("required", devsys.forge_open, {})
    fails(E.NOTFOUND, nil, devsys.forge_open({ remote_url = dir .. "/remote.git", provider = "no-such-provider" }))
  end)

  test("forge: the PR body carries the task, checklist, and is masked", function()
    local m <close> = devsys.masker()
    m:add("TOKEN", "s3cr3t-value")
    local body = assert(devsys.pr_body({ task_id = "task-42", summary = "Fix it (s3cr3t-value)",
      spec_path = "specs/42.yaml", spec_id = "sha1:" .. string.rep("a", 40), validation = "valid",
      acceptance = { "the page loads", "the form posts" }, report = "reports/1/junit.xml", runner = "inproc",
      gate = "decision: awaiting-review", masker = m }))
    has(body, "task-42"); has(body, "specs/42.yaml"); has(body, "- [ ] the page loads"); has(body, "- [ ] the form posts")
    has(body, "awaiting-review")
    eq(body:find("s3cr3t-value", 1, true), nil, "masked")
    local plain = assert(devsys.pr_body({ task_id = "t-43" }))
    has(plain, "t-43"); eq(plain:find("the page loads", 1, true), nil)
    raises("task_id", devsys.pr_body, { summary = "x" })
    local rich = assert(devsys.pr_body({ task_id = "t-44", verification = "verified: 3 of 3 checks",
      agent = "agent-done: 4 steps; wrote src/login.py" }))
    has(rich, "verified: 3 of 3 checks"); has(rich, "wrote src/login.py")
    eq(plain:find("wrote src/login.py", 1, true), nil, "control: no digest without the field")
  end)
end

-- ---- pipeline --------------------------------------------------------------

local TESTS_SH = [[
mkdir -p reports
if grep -q 'from the agent' README.md; then
  printf '<testsuite name="readme" tests="1" failures="0"><testcase classname="readme" name="line"/></testsuite>\n' > reports/junit.xml
else
  printf '<testsuite name="readme" tests="1" failures="1"><testcase classname="readme" name="line"><failure message="red"/></testcase></testsuite>\n' > reports/junit.xml
  exit 1
fi
]]

-- a task whose agent runs AGENT (shell) in the checkout, tested by TESTS_SH, on a fresh remote
local function pipeline_spec(dir, id, agent)
  local url = bare_remote(dir)
  write(dir .. "/tests.sh", TESTS_SH)
  write(dir .. "/agent-" .. id .. ".sh", agent)
  return string.format("id: %s\ntitle: The Lua binding's task %s\nprompt: Append a line to README.md.\n"
    .. "repo:\n  url: %s\n  base_branch: main\nagent:\n  command: [/bin/sh, %s/agent-%s.sh]\n"
    .. "tests:\n  command: [/bin/sh, %s/tests.sh]\n  junit: [reports/junit.xml]\nrunner: inproc\n",
    id, id, url, dir, id, dir)
end
local APPEND = 'echo "from the agent" >> README.md\necho agent-says-hello\n'

-- The task schema takes any kind name (the agent stage refuses one nobody registered): a task
-- validated with agent kind KIND, which a new pipeline loads (devsys_pipeline_load).
local function task_with_kind(dir, ws, id, kind)
  local spec = pipeline_spec(dir, id, "exit 0\n"):gsub("agent:\n", "agent:\n  kind: " .. kind .. "\n", 1)
  local p <close> = assert(devsys.pipeline(ws))
  assert(p:validate(spec, id .. ".yaml"))
  has(read(dir .. "/ws/tasks/" .. id .. "/spec.yaml"), "  kind: " .. kind .. "\n")
end

-- Task ID (spec_of(dir) on a fresh dir whose devsys.yaml is YAML) run by a worker: the Lua
-- plug-in refuses on the worker's job threads, naming why, and count() (what Lua ran) is unchanged.
local function refused_on_worker(tag, yaml, id, spec_of, count)
  local dir = fresh(tag)
  write(dir .. "/devsys.yaml", yaml)
  local ws <close> = assert(devsys.workspace(dir .. "/ws"))
  local p <close> = assert(devsys.pipeline(ws, { config_path = dir .. "/devsys.yaml" }))
  assert(p:validate(spec_of(dir), id .. ".yaml"))
  local st <close> = assert(devsys.store_open(ws))
  assert(st:submit(id))
  local n = count()
  local w <close> = assert(devsys.worker(ws, { poll_ms = 50, config_path = dir .. "/devsys.yaml" }))
  assert(w:run())
  eq(w:state(id), "failed")
  has(read(dir .. "/ws/tasks/" .. id .. "/events.jsonl"), "not on a worker's threads")
  eq(count(), n, "no Lua ran on the worker's threads")
end

if devsys.pipeline then
  test("pipeline: validate and run to awaiting-review, with progress events", function()
    local dir = fresh("pipe")
    local spec = pipeline_spec(dir, "lp-1", APPEND)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local events = {}
    local p <close> = assert(devsys.pipeline(ws, { progress = function(e) events[#events + 1] = e end,
      agent_idle_timeout_ms = 60000, max_output_bytes = 1 << 20, agent_env_scrub = { "NPM_TOKEN" }, grace_ms = 500 }))
    local v, msg, code = p:run()
    eq(v, nil); eq(code, E.STATE, msg)
    eq(p:spec_json(), nil, "nothing validated yet")
    local r = assert(p:validate(spec, "lp-1.yaml"))
    eq(r.stage, "validate"); eq(r.outcome, "validated"); eq(r.failure_class, nil)
    eq(p:task_id(), "lp-1"); eq(p:state(), "validated")
    has(p:spec_json(), '"id":"lp-1"')
    r = assert(p:run())
    eq(r.stage, "gate"); eq(r.result, "ok")
    eq(p:state(), "awaiting-review"); eq(p:state("lp-1"), "awaiting-review")
    local stages, ends, out = devsys.pipeline_stages(), {}, {}
    for _, e in ipairs(events) do
      eq(e.task_id, "lp-1")
      if e.kind == "stage-end" then ends[#ends + 1] = e.result.stage .. "=" .. e.result.result end
      if e.kind == "output" and e.stage == "agent" then out[#out + 1] = e.data end
    end
    eq(#ends, #stages - 1, table.concat(ends, " "))
    eq(ends[1], "checkout=ok"); eq(ends[#ends], "gate=ok")
    has(table.concat(out), "agent-says-hello")
    local g = popen(string.format("git --git-dir='%s/remote.git' show task/lp-1:README.md", dir))
    eq(g:read("a"), "hello\nfrom the agent\n"); g:close()
    has(read(dir .. "/remote.git/devsys/prs/1.json"), "lp-1")
  end)

  test("pipeline: refused spec, run_stage order, load and resume elsewhere, code", function()
    local dir = fresh("pipe")
    local spec = pipeline_spec(dir, "lp-2", APPEND)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    do
      local p <close> = assert(devsys.pipeline(ws))
      local v, msg, code, res = p:validate("id: lp-bad\ntitle: no prompt\n", "bad.yaml")
      eq(v, nil); eq(code, E.INVALID, msg); eq(res.outcome, "spec-refused"); eq(res.failure_class, "build")
      local errs = p:validation_errors()
      assert(#errs >= 1, "the schema's reasons")
      for _, e in ipairs(errs) do eq(e.file, "bad.yaml"); assert(e.line > 0 and #e.message > 0, e.message) end
      assert(p:validate(spec, "lp-2.yaml"))
      eq(#p:validation_errors(), 0, "a valid spec has no errors")
      local _, m2, c2 = p:validate(spec, "lp-2.yaml")
      eq(c2, E.EXISTS, m2)
      fails(E.INVAL, nil, p:run_stage("no such stage"))
      fails(E.STATE, "checkout", p:run_stage("push"))
      eq(assert(p:run_stage("checkout")).outcome, "checked-out")
    end
    local q <close> = assert(devsys.pipeline(ws))
    fails(E.NOTFOUND, nil, q:load("no-such-task"))
    eq(q:load("lp-2"), true)
    local r = assert(q:run())
    eq(r.stage, "gate"); eq(q:state(), "awaiting-review")
    -- code(): checkout to push only, on a second task
    local spec3 = pipeline_spec(fresh("pipe"), "lp-3", APPEND)
    assert(q:validate(spec3, "lp-3.yaml"))
    r = assert(q:code())
    eq(r.stage, "push"); eq(r.outcome, "pushed"); eq(q:state(), "pushed")
    raises("no task", function() local x <close> = assert(devsys.pipeline(ws)); x:state() end)
  end)

  test("pipeline: cancel from the progress callback; a raising callback is re-raised; cancel_task", function()
    local dir = fresh("pipe")
    local spec = pipeline_spec(dir, "lp-4", "echo begun\nexec sleep 60\n")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local p
    p = assert(devsys.pipeline(ws, { grace_ms = 200, progress = function(e)
      if e.kind == "output" and e.stage == "agent" and e.data:find("begun", 1, true) then p:cancel() end
    end }))
    assert(p:validate(spec, "lp-4.yaml"))
    local t0 = os.time()
    local v, msg, code, res = p:run()
    eq(v, nil); eq(res.stage, "agent"); eq(res.result, "canceled"); eq(res.failure_class, "canceled")
    -- a cancel from the progress callback, on the pipeline's own thread: DEVSYS_ECANCELED, as documented
    eq(code, E.CANCELED)
    assert(os.time() - t0 < 30, "the agent was stopped, not waited for")
    eq(p:state(), "canceled")
    p:close()

    local spec5 = pipeline_spec(fresh("pipe"), "lp-5", APPEND)
    local q <close> = assert(devsys.pipeline(ws, { progress = function(e)
      if e.kind == "stage-begin" and e.stage == "agent" then error("stop at the agent") end
    end }))
    assert(q:validate(spec5, "lp-5.yaml"))
    raises("stop at the agent", q.run, q)
    eq(q:state(), "canceled")

    local spec6 = pipeline_spec(fresh("pipe"), "lp-6", APPEND)
    assert(q:validate(spec6, "lp-6.yaml"))
    eq(q:cancel_task("lp-6"), false, "nobody runs it: canceled at once")
    eq(q:state("lp-6"), "canceled")
    fails(E.STATE, nil, q:cancel_task("lp-6"))
    fails(E.NOTFOUND, nil, q:cancel_task("no-such-task"))
  end)
end

if devsys.pipeline then
  test("pipeline outlives its workspace; closed handles refused", function()
    local dir = fresh("pipe")
    local spec = pipeline_spec(dir, "lp-7", APPEND)
    local ws = assert(devsys.workspace(dir .. "/ws"))
    local p <close> = assert(devsys.pipeline(ws, {}))
    ws:close(); ws = nil; collectgarbage(); collectgarbage()
    assert(p:validate(spec, "lp-7.yaml"))
    eq(assert(p:run_stage("checkout")).outcome, "checked-out")
    eq(p:state(), "checked-out")
    local w2 = assert(devsys.workspace(dir .. "/w2"))
    w2:close()
    raises("closed", devsys.pipeline, w2)
    p:close()
    raises("closed", p.run, p)
  end)
end

if devsys.pipeline then
  test("pipeline: stages of one's own, added and replacing, failing and raising", function()
    local dir = fresh("pipe")
    local spec = pipeline_spec(dir, "lp-8", APPEND)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local seen, ends, kept = {}, {}, nil
    local p <close> = assert(devsys.pipeline(ws, { progress = function(e)
      if e.kind == "stage-end" then ends[#ends + 1] = e.result.stage .. "=" .. e.result.outcome end
    end }))
    eq(p:add_stage("commit", "lint", function(run)
      kept = run
      local f = assert(io.open(run:checkout_path() .. "/README.md"))
      local text = f:read("a"); f:close()
      seen[#seen + 1] = run:name() .. ":" .. run:task_id() .. ":" .. tostring(text:find("from the agent", 1, true) ~= nil)
      eq(run:log("lint: README checked\n"), true)
      has(run:spec_json(), '"id":"lp-8"')
      if run.open_runner then -- the tests step's runner, run as the pipeline runs a built-in stage's command
        local rn <close> = assert(run:open_runner("tests"))
        eq(rn:type(), "inproc")
        local res = assert(run:exec(rn, { argv = { "sh", "-c", "grep -c 'from the agent' README.md; exit 4" },
                                          cwd = run:checkout_path() }))
        eq(res.exit_code, 4); eq(res.failure_name, "build-failure"); has(res.tail, "1")
        raises("devsys.Runner expected", run.exec, run, {}, { argv = { "true" } })
      end
      eq(run:set_outcome("linted"), true)
    end), true)
    eq(p:replace_stage("deploy", function(run) seen[#seen + 1] = run:name(); run:set_outcome("deployed-by-lua") end), true)
    fails(E.EXISTS, nil, p:add_stage("commit", "lint", function() end))
    fails(E.INVAL, nil, p:add_stage("gate", "after-gate", function() end))
    fails(E.NOTFOUND, nil, p:add_stage("no-such-stage", "x", function() end))
    raises("function expected", p.add_stage, p, "commit", "other", 42)
    assert(p:validate(spec, "lp-8.yaml"))
    local r = assert(p:run())
    eq(r.stage, "gate"); eq(p:state(), "awaiting-review")
    eq(seen[1], "lint:lp-8:true"); eq(seen[2], "deploy")
    local joined = " " .. table.concat(ends, " ") .. " "
    has(joined, " commit=committed lint=linted push=pushed "); has(joined, " deploy=deployed-by-lua ")
    has(read(dir .. "/ws/tasks/lp-8/logs/lint.log"), "lint: README checked")
    if devsys.runner_open then has(read(dir .. "/ws/tasks/lp-8/logs/lint.log"), "1\n") end
    raises("closed", kept.name, kept) -- a run is valid during its call only

    local q <close> = assert(devsys.pipeline(ws))
    q:add_stage("commit", "lint", function() return false, "README has a typo", "lint-failed" end)
    assert(q:validate(pipeline_spec(fresh("pipe"), "lp-9", APPEND), "lp-9.yaml"))
    local v, msg, code, res = q:run()
    eq(v, nil); has(msg, "README has a typo"); assert(code < 0)
    eq(res.stage, "lint"); eq(res.outcome, "lint-failed"); eq(res.failure_class, "build")
    eq(q:state(), "failed")

    local b <close> = assert(devsys.pipeline(ws))
    b:add_stage("commit", "lint", function() error("a bug in the stage") end)
    assert(b:validate(pipeline_spec(fresh("pipe"), "lp-10", APPEND), "lp-10.yaml"))
    raises("a bug in the stage", b.run, b)
    eq(b:state(), "failed")
  end)
end

-- ---- speckit ---------------------------------------------------------------

if devsys.speckit_load then
  local SK = (os.getenv("DEVSYS_LUA_SOURCE_DIR") or "bindings/lua") .. "/../../tests/fixtures/speckit"
  test("speckit: a valid feature checks clean and plans; a broken one has findings", function()
    local d = SK .. "/valid/001-photo-albums"
    local f <close> = assert(devsys.speckit_load(d, SK))
    eq(f:dir(), d); assert(f:title() and #f:title() > 0, "a title")
    local n = f:task_count()
    assert(n > 0, "tasks")
    for _, x in ipairs(f:check()) do
      eq(x.severity, "info", x.rule .. ": " .. x.message)
      eq(x.rule:sub(1, 2), "SK")
    end
    local waves, total = f:plan(), 0
    for _, w in ipairs(waves) do
      for _, id in ipairs(w) do eq(id:sub(1, 1), "T"); total = total + 1 end
    end
    eq(total, n, "every task in one wave")
    local broken = popen("ls -d '" .. SK .. "'/broken/sk001/*/"):read("l")
    local b <close> = assert(devsys.speckit_load(broken))
    local rules = {}
    for _, x in ipairs(b:check()) do rules[x.rule] = true; assert(x.file and x.message, "file and message") end
    eq(rules.SK001, true, "sk001 breaks SK001")
    fails(E.NOTFOUND, nil, devsys.speckit_load(SK .. "/no-such-feature"))
  end)
end

-- ---- the queue ------------------------------------------------------------

if devsys.store_open then
  local function queued(st, id, profile)
    assert(st:task_create(id)); assert(st:transition(id, "validated"))
    assert(st:submit(id, profile, "urn:devsys:schema:task:1"))
    eq(st:task_state(id), "queued")
  end

  test("queue: submit, claim by profile, heartbeat, release mid-stage, complete, claim log", function()
    local ws <close> = assert(devsys.workspace(fresh("queue") .. "/ws"))
    local st <close> = assert(devsys.store_open(ws))
    assert(st:task_create("s1"))
    fails(E.STATE, "validated", st:submit("s1"))
    fails(E.NOTFOUND, nil, st:submit("nope"))
    eq(st:claim("w1", "h"), false, "the refusals queued nothing")
    queued(st, "p1", "gpu"); queued(st, "p2", "cpu")
    fails(E.STATE, nil, st:submit("p1"))
    eq(st:claim("w1", "h", { "arm" }), false)
    eq(st:claim("w1", "h1", { "cpu" }, 60000), "p2")
    eq(st:task_state("p2"), "validated", "a claim hands the pipeline a validated task")
    fails(E.STATE, nil, st:heartbeat("p2", "w2"))
    assert(st:heartbeat("p2", "w1", 60000))
    fails(E.STATE, nil, st:complete("p2", "w2"))
    assert(st:complete("p2", "w1"))
    fails(E.STATE, nil, st:heartbeat("p2", "w1"))
    eq(st:claim("w2", "h2"), "p1", "no profile list: any task")
    assert(st:stage_begin("p1", "checkout"))
    assert(st:release("p1", "w2", "shutting down"))
    eq(st:task_state("p1"), "interrupted")
    local log = st:claims_json()
    has(log, '"how": "completed"'); has(log, '"how": "released"'); has(log, '"owner": "w1"')
    has(st:claims_json("p1"), '"task": "p1"')
    fails(E.BADID, nil, st:claims_json("../x"))
    fails(E.INVAL, nil, st:claim("", "h"))
    raises("string expected", st.claim, st, nil, "h")
    raises("list of strings", st.claim, st, "w", "h", { 1 })
    raises("NUL", st.claim, st, "w", "h", { "a\0b" })
    st:close()
    raises("closed", st.submit, st, "p1")
  end)
end

-- ---- spec durations ---------------------------------------------------------

if devsys.spec_load then
  test("spec: duration_ms reads the schema's timeout type; bad values name the field", function()
    local s <close> = assert(devsys.spec_load("a: 90\nb: 30m\nc: soon\n", "d.yaml"))
    eq(s:duration_ms("/a"), 90000); eq(s:duration_ms("/b", "x.b"), 1800000)
    fails(E.INVALID, "x.c", s:duration_ms("/c", "x.c"))
    fails(E.NOTFOUND, nil, s:duration_ms("/none"))
    raises("string expected", s.duration_ms, s, nil)
    local t <close> = assert(devsys.spec_load(SPEC .. "tests:\n  command: [make, test]\n  timeout: 2m\n", "t.yaml"))
    eq(t:timeout_ms("tests"), 120000)
    fails(E.NOTFOUND, nil, t:timeout_ms("deploy"))
    raises("out of range", t.timeout_ms, t, "tests", 2)
  end)
end

-- ---- agent kinds written in Lua ---------------------------------------------

if devsys.register_agent and devsys.pipeline then
  local seen, closed = {}, {}
  local function echo(req)
    seen[req.task_id] = req
    local a = { events = 0 }
    function a:command()
      return { "/bin/sh", "-c", 'echo "from the agent, in lua, $LUA_MARK" >> README.md; echo \'{"e":1}\'; echo plain' },
             { LUA_MARK = "m-7" }
    end
    function a:line(l) if l:sub(1, 1) == "{" then self.events = self.events + 1; return "event" end end
    function a:usage() return string.format('{"steps":%d}', self.events) end
    function a:close() closed[#closed + 1] = req.task_id end
    return a
  end

  test("agent: register_agent refusals; a Lua adapter runs the agent stage", function()
    assert(devsys.register_agent("lua-echo", echo))
    fails(E.EXISTS, "already registered", devsys.register_agent("lua-echo", echo))
    fails(E.EXISTS, "built in", devsys.register_agent("command", echo))
    fails(E.INVAL, nil, devsys.register_agent("", echo))
    raises("function expected", devsys.register_agent, "lua-x", "not a function")
    raises("string expected", devsys.register_agent, nil, echo)
    local dir = fresh("agent")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    task_with_kind(dir, ws, "la-1", "lua-echo")
    local p <close> = assert(devsys.pipeline(ws))
    assert(p:load("la-1"))
    local r = assert(p:code()) -- to push
    eq(r.stage, "push"); eq(r.result, "ok")
    eq(seen["la-1"].kind, "lua-echo"); has(seen["la-1"].spec_json, '"kind":"lua-echo"')
    has(seen["la-1"].input, "agent-input.json")
    eq(#closed, 1)
    local g = popen(string.format("git --git-dir='%s/remote.git' show task/la-1:README.md", dir))
    eq(g:read("a"), "hello\nfrom the agent, in lua, m-7\n"); g:close()
    eq(read(dir .. "/ws/tasks/la-1/logs/agent.jsonl"), '{"e":1}\n')
    has(read(dir .. "/ws/tasks/la-1/task.json"), '"steps": 1')
    if devsys.worker then
      -- a worker validates the kept spec again when it claims a task (the kind name passes); its
      -- threads run no Lua, so the Lua kind refuses to open there: the agent stage fails with that reason
      local d5 = fresh("agent")
      local ws5 <close> = assert(devsys.workspace(d5 .. "/ws"))
      task_with_kind(d5, ws5, "la-5", "lua-echo")
      local st <close> = assert(devsys.store_open(ws5))
      assert(st:submit("la-5"))
      local w <close> = assert(devsys.worker(ws5, { poll_ms = 50 }))
      assert(w:run())
      eq(w:state("la-5"), "failed")
      local ev5 = read(d5 .. "/ws/tasks/la-5/events.jsonl")
      has(ev5, '"stage":"agent","result":"failed","failure_class":"system"')
      has(ev5, "runs only inside a Lua call")
      eq(seen["la-5"], nil, "the factory never ran")
    end
  end)

  test("agent: an adapter that raises fails the stage and p:run() raises it again; a stop", function()
    assert(devsys.register_agent("lua-raises", function(req)
      return { command = function() error("the lua adapter broke") end, close = function() closed[#closed + 1] = req.task_id end }
    end))
    assert(devsys.register_agent("lua-stop", function()
      return { command = function() return { "/bin/sh", "-c", "echo '{}'; sleep 10" } end,
               line = function() return devsys.AGENT_STOP end, stop_reason = function() return "max_steps 1 reached" end,
               close = function() end }
    end))
    assert(devsys.register_agent("lua-bad", function() return 42 end))
    local dir = fresh("agent")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    task_with_kind(dir, ws, "la-2", "lua-raises")
    local p <close> = assert(devsys.pipeline(ws))
    assert(p:load("la-2"))
    raises("the lua adapter broke", p.run, p)
    eq(p:state("la-2"), "failed"); eq(closed[#closed], "la-2")
    local d2 = fresh("agent")
    local ws2 <close> = assert(devsys.workspace(d2 .. "/ws"))
    task_with_kind(d2, ws2, "la-3", "lua-stop")
    local q <close> = assert(devsys.pipeline(ws2))
    assert(q:load("la-3"))
    local v, msg, code, res = q:run()
    eq(code ~= nil and code < 0, true, "the stop fails the stage (it ended at " .. tostring(v and v.stage) .. ")")
    has(msg, "max_steps 1 reached"); eq(res.stage, "agent"); eq(res.failure_class, "budget")
    local d3 = fresh("agent")
    local ws3 <close> = assert(devsys.workspace(d3 .. "/ws"))
    task_with_kind(d3, ws3, "la-4", "lua-bad")
    local b <close> = assert(devsys.pipeline(ws3))
    assert(b:load("la-4"))
    raises("not an adapter table", b.run, b)
  end)
end

-- ---- spec-kit: sync and run -------------------------------------------------

if devsys.speckit_load and devsys.pipeline then
  local TASKS = "# Tasks: Mini\n\n## Phase 1: Setup\n\n- [ ] T001 [P] Write notes/t001.txt\n"
    .. "- [ ] T002 [P] Write notes/t002.txt\n"
  local SKV = (os.getenv("DEVSYS_LUA_SOURCE_DIR") or "bindings/lua") .. "/../../tests/fixtures/speckit/valid/001-photo-albums"
  local function feature_remote(dir)
    sh(string.format("set -e; cd '%s'; %s init -q -b main src; cd src; mkdir -p specs/001-mini; cp '%s'/*.md specs/001-mini/; "
      .. "echo hello > README.md", dir, GIT, SKV))
    write(dir .. "/src/specs/001-mini/tasks.md", TASKS)
    sh(string.format("set -e; cd '%s/src'; %s add -A; %s commit -q -m init; %s clone -q --bare . ../remote.git",
      dir, GIT, GIT, GIT))
    return "file://" .. dir .. "/remote.git"
  end

  test("speckit: mark_done on text and file, sync commits and pushes", function()
    local dir = fresh("sk")
    local url = feature_remote(dir)
    local out, n = devsys.speckit_mark_done(TASKS, { "T002" })
    eq(n, 1); eq(out, (TASKS:gsub("%[ %] T002", "[X] T002")))
    fails(E.NOTFOUND, "T009", devsys.speckit_mark_done(TASKS, { "T009" }))
    raises("list of strings", devsys.speckit_mark_done, TASKS, { 7 })
    write(dir .. "/t.md", TASKS)
    eq(devsys.speckit_mark_done_file(dir .. "/t.md", { "T001" }), 1)
    eq(read(dir .. "/t.md"), (TASKS:gsub("%[ %] T001", "[X] T001")))
    fails(E.NOTFOUND, nil, devsys.speckit_mark_done_file(dir .. "/none.md", { "T001" }))
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("lsync", { create = true }))
    local repo <close> = assert(devsys.repo_open(t, { url = url }))
    fails(E.PATH, nil, devsys.speckit_sync(repo, "../out", { "T001" }))
    eq(devsys.speckit_sync(repo, "specs/001-mini", { "T001" }), 1)
    eq(devsys.speckit_sync(repo, "specs/001-mini", { "T001" }), 0, "nothing to mark: no commit")
    -- T001 is ticked, its notes/t001.txt never written: a phantom completion; then the control
    local co = repo:checkout_path()
    local ft <close> = assert(devsys.speckit_load(co .. "/specs/001-mini", co))
    local ph = {}
    for _, x in ipairs(ft:check_phantoms(repo)) do if x.rule == "SK015" then ph[#ph + 1] = x end end
    eq(#ph, 1); has(ph[1].message, "notes/t001.txt"); eq(ph[1].severity, "warning")
    for _, x in ipairs(ft:check_phantoms(repo, { "T002" })) do eq(x.rule ~= "SK015", true, "T002 only") end
    sh("mkdir -p '" .. co .. "/notes'"); write(co .. "/notes/t001.txt", "done\n"); assert(repo:commit("note"))
    for _, x in ipairs(ft:check_phantoms(repo)) do
      eq(x.rule == "SK015" and x.severity ~= "info", false, "control: committed now: " .. x.message)
    end
    local g = popen(string.format("git --git-dir='%s/remote.git' show %s:specs/001-mini/tasks.md", dir, repo:branch()))
    eq(g:read("a"), (TASKS:gsub("%[ %] T001", "[X] T001"))); g:close()
  end)

  test("speckit: run a feature through the pipeline; links, status, green", function()
    local dir = fresh("sk")
    local url = feature_remote(dir)
    write(dir .. "/agent.sh", 'n=${DEVSYS_TASK_ID##*-}; mkdir -p notes && echo "$n" > "notes/$n.txt"\n')
    write(dir .. "/tests.sh", "mkdir -p reports && printf '<testsuite name=\"s\" tests=\"1\" failures=\"0\">"
      .. "<testcase classname=\"c\" name=\"ok\"/></testsuite>\\n' > reports/junit.xml\n")
    local extra = string.format("agent:\n  command: [/bin/sh, %s/agent.sh]\ntests:\n  command: [/bin/sh, %s/tests.sh]\n"
      .. "  junit: [reports/junit.xml]\n", dir, dir)
    local f <close> = assert(devsys.speckit_load(dir .. "/src/specs/001-mini"))
    has(f:plan_yaml(url, "specs/001-mini"), "001-mini-t002")
    has(f:plan_yaml(url, "specs/001-mini", true), "001-mini-w01")
    eq(type(f:check_report()), "string"); has(f:check_report("json"), "{")
    raises("invalid option", f.check_report, f, "xml")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local p <close> = assert(devsys.pipeline(ws))
    eq(assert(f:run(p, ws, url, "specs/001-mini", { spec_extra = extra, tasks_md = dir .. "/src/specs/001-mini/tasks.md" })), 1)
    eq(read(dir .. "/src/specs/001-mini/tasks.md"):find("[ ]", 1, true), nil, "every line ticked")
    eq(assert(f:run(p, ws, url, "specs/001-mini")), 1, "called again: the green tasks are skipped")
    local waves = {}
    eq(assert(f:run(p, ws, url, "specs/001-mini", { run_wave = function(ids) waves[#waves + 1] = ids end })), 1)
    eq(#waves, 0, "every task green already: no wave to run")
    local _, msg, code, done = f:run(p, ws, "", "specs/001-mini")
    eq(code, E.INVALID, msg); has(msg, "repo/url"); eq(done, 0)
    local st <close> = assert(devsys.store_open(ws))
    local links <close> = assert(devsys.speckit_links(st, ws, "specs/001-mini"))
    local list = links:list()
    eq(#list, 2); eq(list[1].green, true); eq(list[1].state, "awaiting-review")
    eq(#links:green_ids(), 2)
    has(f:status_json(links), '"linked": 2'); has(f:status_json(), '"linked": 0')
    local t <close> = assert(ws:task("001-mini-t001"))
    eq(devsys.speckit_task_green(st, t), true)
    local stray <close> = assert(ws:task("stray", { create = true }))
    fails(E.NOTFOUND, nil, devsys.speckit_task_green(st, stray))
    fails(E.INVAL, nil, devsys.speckit_links(st, ws, ""))
    links:close()
    raises("closed", links.list, links)
  end)

  test("speckit: run_wave runs each wave's tasks itself; one that raises stops the feature", function()
    local dir = fresh("sk")
    local url = feature_remote(dir)
    write(dir .. "/agent.sh", 'n=${DEVSYS_TASK_ID##*-}; mkdir -p notes && echo "$n" > "notes/$n.txt"\n')
    write(dir .. "/tests.sh", "mkdir -p reports && printf '<testsuite name=\"s\" tests=\"1\" failures=\"0\">"
      .. "<testcase classname=\"c\" name=\"ok\"/></testsuite>\\n' > reports/junit.xml\n")
    local extra = string.format("agent:\n  command: [/bin/sh, %s/agent.sh]\ntests:\n  command: [/bin/sh, %s/tests.sh]\n"
      .. "  junit: [reports/junit.xml]\n", dir, dir)
    local f <close> = assert(devsys.speckit_load(dir .. "/src/specs/001-mini"))
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local p <close> = assert(devsys.pipeline(ws))
    raises("the scheduler broke", f.run, f, p, ws, url, "specs/001-mini",
      { spec_extra = extra, run_wave = function() error("the scheduler broke") end })
    local waves = {}
    local function each(ids)
      waves[#waves + 1] = table.concat(ids, " ")
      for _, id in ipairs(ids) do
        local q <close> = assert(devsys.pipeline(ws))
        assert(q:load(id)); assert(q:run())
      end
    end
    eq(assert(f:run(p, ws, url, "specs/001-mini", { spec_extra = extra, run_wave = each })), 1)
    eq(#waves, 1); eq(waves[1], "001-mini-t001 001-mini-t002")
    eq(p:state("001-mini-t002"), "awaiting-review")
  end)
end

-- ---- workers, the registry, cancel requests, store options 2 -----------------

if devsys.worker and devsys.pipeline then
  test("worker: runs the queue once, two at a time, with its events and counts", function()
    local dir = fresh("worker")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local st <close> = assert(devsys.store_open(ws))
    local p <close> = assert(devsys.pipeline(ws))
    for _, id in ipairs({ "lw-1", "lw-2" }) do
      assert(p:validate(pipeline_spec(fresh("wkt"), id, APPEND), id .. ".yaml"))
      assert(st:submit(id))
    end
    local w <close> = assert(devsys.worker(ws, { id = "lua-worker", jobs = 2, poll_ms = 50, profiles = {} }))
    eq(w:id(), "lua-worker")
    assert(w:run())
    eq(w:state("lw-1"), "awaiting-review"); eq(w:state("lw-2"), "awaiting-review")
    local s = w:stats()
    eq(s.jobs, 2); eq(s.claimed, 2); eq(s.completed, 2); eq(s.running, 0); eq(s.stopping, false)
    eq(s.agent_steps, 0); eq(s.agent_tokens, 0); eq(s.agent_cost, 0.0) -- a command agent reports no usage
    local evs, dropped = w:events()
    eq(dropped, 0)
    local claimed, ended, stages = 0, 0, {}
    for _, e in ipairs(evs) do
      if e.kind == "claimed" then claimed = claimed + 1; assert(e.slot >= 1 and e.slot <= 2, "a slot") end
      if e.kind == "ended" then ended = ended + 1; eq(e.state, "awaiting-review") end
      if e.kind == "pipeline" and e.stage then stages[e.stage] = true end
    end
    eq(claimed, 2); eq(ended, 2); eq(stages.agent, true)
    local after = w:events()
    for _, e in ipairs(after) do eq(e.kind, "idle", "read once: only the idle notes after it") end
    eq(w:cancel_task("lw-1"), false, "not running now")
    fails(E.STATE, nil, w:run())
    fails(E.NOTFOUND, nil, w:state("nope"))
    has(st:workers_json(), '"id": "lua-worker"')
    fails(E.INVAL, "jobs", devsys.worker(ws, { jobs = 100 }))
    raises("must be a string", devsys.worker, ws, { profiles = { 1 } })
    w:close()
    raises("closed", w.stats, w)
  end)
end

if devsys.store_open then
  test("store: worker registry, cancel requests, wait_work, backend, url refused", function()
    local ws <close> = assert(devsys.workspace(fresh("reg") .. "/ws"))
    local st <close> = assert(devsys.store_open(ws, { url = nil }))
    eq(st:backend(), "sqlite"); eq(st:wait_work(10), false)
    assert(st:task_create("doc1"))
    -- SQLite keeps no copies of the record documents: its processes read the folders
    fails(E.NOTSUPPORTED, "folder", st:document("doc1", "task.json"))
    fails(E.INVAL, nil, st:document("doc1", "../x"))
    -- read only when changed: the same refusals (PostgreSQL's versions: tests/store/pg_store.c)
    fails(E.NOTSUPPORTED, "folder", st:document_changed("doc1", "task.json"))
    fails(E.NOTSUPPORTED, "folder", st:document_changed("doc1", "task.json", string.rep("x", 100)))
    fails(E.INVAL, "spec.yaml", st:document_changed("doc1", "spec.yaml", ""))
    fails(E.BADID, nil, st:document_changed("../x", "task.json"))
    assert(st:worker_beat({ id = "w-a", host = "h1", pid = 42, jobs = 2, lease_ms = 60000, claimed = 3 }))
    assert(st:worker_beat({ id = "w-a", host = "h1", pid = 42, claimed = 4, stopped = true }))
    local j = st:workers_json()
    has(j, '"claimed": 4'); has(j, '"state": "stopped"')
    fails(E.INVAL, nil, st:worker_beat({ host = "h1" }))
    assert(st:task_create("q1")); assert(st:transition("q1", "validated")); assert(st:submit("q1"))
    eq(st:cancel_requested("q1"), false)
    eq(st:cancel_request("q1", "not needed"), false, "free: canceled here")
    eq(st:task_state("q1"), "canceled")
    fails(E.STATE, nil, st:cancel_request("q1"))
    fails(E.NOTFOUND, nil, st:cancel_request("nope"))
    fails(E.INVAL, "mysql", devsys.store_open(ws, { url = "mysql://u@localhost/db" }))
    local nocfg <close> = assert(devsys.config_parse("runners:\n  a:\n    type: inproc\n", "n.yaml"))
    local s2 <close> = assert(devsys.store_open(ws, { config = nocfg }))
    eq(s2:backend(), "sqlite")
    local pgdir = fresh("pgcfg")
    local wpg <close> = assert(devsys.workspace(pgdir .. "/ws"))
    local pgcfg <close> = assert(devsys.config_parse("store: postgresql://devsys@127.0.0.1:1/tasks\n", "pg.yaml"))
    local none, pmsg = devsys.store_open(wpg, { config = pgcfg })
    eq(none, nil); has(pmsg, "127.0.0.1:1")
    eq(io.open(pgdir .. "/ws/devsys.db"), nil, "no SQLite store made instead")
    local _, msg = devsys.store_open(ws, { url = "postgresql://u:hunter2-secret@127.0.0.1:1/db" })
    eq(msg:find("hunter2-secret", 1, true), nil, "the password is not repeated: " .. msg)
    if devsys.secrets then
      local set <close> = assert(devsys.secrets())
      fails(E.INVAL, nil, devsys.store_open(ws, { url = "mysql://x", secrets = set, password_secret = "pw" }))
    end
    local c <close> = assert(devsys.config_parse("runners:\n  lim:\n    type: inproc\n    max_concurrent: 2\n", "d.yaml"))
    eq(c:runner_max_concurrent("lim"), 2)
    fails(E.NOTFOUND, "lim", c:runner_max_concurrent("nope"))
    eq(c:store(), false, "no store: section")
    local cs <close> = assert(devsys.config_parse("store:\n  url: postgresql://devsys@127.0.0.1/t\n"
      .. "  password_secret: DBPW\n  password_provider: file\n  password_ref: /run/pw\n", "s.yaml"))
    local u, pw = cs:store()
    eq(u, "postgresql://devsys@127.0.0.1/t"); eq(pw.name, "DBPW"); eq(pw.provider, "file"); eq(pw.ref, "/run/pw")
    local cu <close> = assert(devsys.config_parse("store: postgresql://devsys@127.0.0.1/t\n", "u.yaml"))
    local u2, pw2 = cu:store()
    eq(u2, "postgresql://devsys@127.0.0.1/t"); eq(pw2, nil)
    local _, m2 = devsys.config_parse("store: postgresql://u:hunter2-secret@127.0.0.1/db\n", "bad.yaml")
    has(m2, "bad.yaml:1"); eq(m2:find("hunter2-secret", 1, true), nil, m2)
  end)
end

if devsys.repo_open then
  test("repo: changed paths commit by commit, head_has_path", function()
    local dir = fresh("bycommit")
    local url = bare_remote(dir)
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("bc", { create = true }))
    local r <close> = assert(devsys.repo_open(t, { url = url }))
    eq(r:url(), url)
    eq(assert(r:changed_paths_by_commit()):count(), 0)
    local co = r:checkout_path()
    write(co .. "/a.txt", "one\n"); assert(r:commit("add a"))
    sh("mkdir -p '" .. co .. "/docs'"); write(co .. "/docs/b.md", "b\n"); write(co .. "/a.txt", "two\n")
    assert(r:commit("docs, a"))
    os.remove(co .. "/a.txt"); assert(r:commit("drop a"))
    write(co .. "/loose.txt", "x\n")
    local cs <close> = assert(r:changed_paths_by_commit())
    eq(cs:count(), 3); eq(cs:sha(3), r:head_sha()); eq(#cs:sha(1), 40)
    local c2 = cs:changes(2)
    eq(#c2, 2); eq(c2[1].path, "a.txt"); eq(c2[1].status, "modified"); eq(c2[2].path, "docs/b.md")
    eq(cs:changes(3)[1].status, "deleted")
    local n, first, last = cs:touching("a.txt")
    eq(n, 3); eq(first, 1); eq(last, 3)
    eq(cs:touching("docs/"), 1); eq(cs:touching("README.md"), 0)
    raises("out of range", cs.sha, cs, 4)
    eq(r:head_has_path("docs/b.md"), true); eq(r:head_has_path("a.txt"), false)
    eq(r:head_has_path("loose.txt"), false, "the checkout is not the head commit")
    raises("string expected", r.head_has_path, r, nil)
    cs:close()
    raises("closed", cs.count, cs)
  end)
end

-- ---- spec-kit accessors, the gate's pure decision, checks ---------------------

if devsys.speckit_load then
  local SKD = (os.getenv("DEVSYS_LUA_SOURCE_DIR") or "bindings/lua") .. "/../../tests/fixtures/speckit"
  test("speckit: stories, tasks, phases, requirements, counts by severity, SARIF", function()
    local f <close> = assert(devsys.speckit_load(SKD .. "/valid/001-photo-albums", SKD))
    local st = f:stories()
    eq(#st, 3, "the story inside a comment is not one")
    eq(st[1].number, 1); eq(st[1].title, "Create an album"); eq(st[1].priority, 1); eq(st[1].scenarios, 2)
    eq(st[2].number, 2); eq(st[2].priority, 3); eq(st[3].title, "Reorder photos")
    local ts = f:tasks()
    eq(#ts, f:task_count())
    eq(ts[1].id, "T001"); eq(ts[1].state, "x"); eq(ts[1].done, true); eq(ts[1].phase, 1); eq(ts[1].parallel, false)
    eq(ts[2].state, "X"); eq(ts[2].done, true); eq(ts[2].parallel, true)
    has(table.concat(ts[1].paths, " "), "src/albums/")
    local t11 = assert(f:task("T011"))
    eq(t11.story, 1); eq(t11.done, false); eq(t11.state, " "); eq(t11.line, 58); eq(t11.phase, 3)
    eq(table.concat(t11.deps, ","), "T009,T010")
    has(t11.description, "AlbumService")
    eq(assert(f:task("T005a")).parallel, true)
    fails(E.NOTFOUND, "T999", f:task("T999"))
    raises("string expected", f.task, f, nil)
    local ph = f:phases()
    assert(#ph >= 6, "phases"); has(ph[1].title, "Setup"); eq(ph[2].checkpoints, 1)
    local req = f:requirements()
    eq(req[1], "FR-001"); has(table.concat(req, " "), "SC-002")
    local markers, sessions = f:clarifications()
    eq(markers, 0, "the marker inside a fence does not count"); eq(sessions, 1)
    local sk5 <close> = assert(devsys.speckit_load(SKD .. "/broken/sk005/001-mini-uploads"))
    assert((sk5:clarifications()) >= 1, "sk005 has an open marker")
    eq(f:plan_field("Language/Version"), "Python 3.12"); eq(f:plan_field("No such field"), nil)
    local total, unchecked = f:checklist_items()
    assert(total >= unchecked and total > 0, "checklist items")
    local c = f:check_counts()
    eq(c.error, 0); eq(c.warning, 0)
    local broken = popen("ls -d '" .. SKD .. "'/broken/sk001/*/"):read("l")
    local b <close> = assert(devsys.speckit_load(broken))
    local bc, n = b:check_counts(), 0
    for _, x in ipairs(b:check()) do if x.severity == "error" then n = n + 1 end end
    eq(bc.error, n); assert(n > 0, "the broken feature has errors")
    local sarif = b:check_report("sarif")
    has(sarif, '"version": "2.1.0"'); has(sarif, "SK001")
    raises("invalid option", b.check_report, b, "xml")
    b:close()
    raises("closed", b.stories, b)
  end)
end

if devsys.policy_new then
  local H = string.rep("a", 40)
  test("policy: decide on an input of Lua tables; the config's policy is read-only and borrowed", function()
    local pol <close> = assert(devsys.policy_new({ auto_merge = true, required_contexts = { "ci" } }))
    local ok <close> = assert(pol:decide({ path_risk = "low", head_sha = H,
      checks = { { context = "ci", sha = H, state = "success" } } }))
    eq(ok:outcome(), "merge")
    local pending <close> = assert(pol:decide({ path_risk = "low", head_sha = H }))
    eq(pending:outcome(), "blocked", "no ci yet")
    local draft <close> = assert(pol:decide({ path_risk = "low", head_sha = H, draft = true,
      checks = { { context = "ci", sha = H, state = "success", kind = "run" } } }))
    eq(draft:outcome(), "blocked"); eq(draft:reasons()[2].name, "draft")
    local med <close> = assert(pol:decide({ path_risk = "medium", head_sha = H, bot = "devsys-bot",
      checks = { { context = "ci", sha = H, state = "success" } },
      reviews = { { reviewer = "devsys-bot", commit_sha = H, state = "approved" } } }))
    eq(med:outcome(), "awaiting-review", "the bot's approval never counts")
    local appr <close> = assert(pol:decide({ path_risk = "medium", head_sha = H, authors = { "bob" },
      checks = { { context = "ci", sha = H, state = "success" } },
      reviews = { { reviewer = "alice", commit_sha = H, state = "approved" } } }))
    eq(appr:outcome(), "merge"); eq(appr:approvals(), 1)
    local v, msg, code = pol:decide({ path_risk = "low" })
    eq(v, nil); assert(code and code < 0, "no head sha: " .. tostring(msg)); has(msg, "head")
    raises("bad path_risk", pol.decide, pol, { path_risk = "bogus", head_sha = H })
    raises("required", pol.decide, pol, { head_sha = H })
    raises("must be a table", pol.decide, pol, { path_risk = "low", head_sha = H, reviews = { 1 } })
    -- a change set's class: the highest entry, renames by both paths, links and modes at least medium
    local dflt <close> = assert(devsys.policy_new())
    local risk, at = dflt:classify_changes({ { path = "README.md" } })
    eq(risk, "low"); eq(at, 1)
    risk, at = dflt:classify_changes({ { path = "docs/a.md" }, { path = "docs/ci.md", old_path = ".github/workflows/ci.yml" } })
    eq(risk, "critical"); eq(at, 2, "the rename's old path decides")
    eq((dflt:classify_changes({ { path = "docs/link.md", new_mode = tonumber("120000", 8) } })), "medium", "a symlink")
    eq((dflt:classify_changes({ { path = "docs/run.md", old_mode = tonumber("100644", 8), new_mode = tonumber("100755", 8) } })), "medium")
    eq((dflt:classify_changes({ { path = "docs/x.md", submodule = true } })), "medium")
    risk, at = dflt:classify_changes({})
    eq(risk, "medium", "an empty change set"); eq(at, nil)
    fails(E.INVAL, "'../x'", dflt:classify_changes({ { path = "../x" } }))
    raises("a list of change tables", dflt.classify_changes, dflt, { 1 })
    raises("must be a string", dflt.classify_changes, dflt, { { path = 7 } })
    raises("invalid option", pol.decide, pol, { path_risk = "low", head_sha = H, checks = { { context = "ci", sha = H, state = "green" } } })
    if devsys.config_parse then
      local cfg = assert(devsys.config_parse("policy:\n  auto_merge: true\n  required_contexts: [devsys/tests]\n", "p.yaml"))
      local cp = assert(cfg:policy())
      eq(cp:options().auto_merge, true); eq(cp:options().required_contexts[1], "devsys/tests")
      local d <close> = assert(cp:decide({ path_risk = "low", head_sha = H,
        checks = { { context = "devsys/tests", sha = H, state = "success" } } }))
      eq(d:outcome(), "merge")
      raises("read-only", cp.add_glob, cp, "high", "x/**")
      cfg:close()
      raises("Config this policy belongs to is closed", cp.globs, cp)
      cp:close(); cp:close()
    end
  end)
end

-- ---- plug-ins written in Lua ---------------------------------------------------

test("redactor: ws:add_redactor rewrites, drops and fails closed; one that raises re-raises from ws:log", function()
  local lines = {}
  local ws <close> = assert(devsys.workspace(fresh("red"), { log = function(_, _, m) lines[#lines + 1] = m end }))
  eq(ws:add_redactor(function(t) return (t:gsub("hunter2", "[REDACTED]")) end), true)
  eq(ws:add_redactor(function(t) if t:find("drop me", 1, true) then return nil end; return t .. "!" end), true)
  ws:log(devsys.LOG.WARN, "t", "the password is hunter2")
  eq(lines[1], "the password is [REDACTED]!", "both redactors, in order")
  ws:log(devsys.LOG.WARN, "t", "please drop me")
  eq(#lines, 1, "a redactor that returns nil drops the message")
  local ws2 <close> = assert(devsys.workspace(fresh("red"), { log = function(_, _, m) lines[#lines + 1] = m end }))
  assert(ws2:add_redactor(function() error("redactor boom") end))
  raises("redactor boom", ws2.log, ws2, devsys.LOG.ERROR, "t", "secret text")
  eq(#lines, 1, "a raising redactor drops the message (fails closed)")
  ws2:log(devsys.LOG.TRACE, "t", "below the level")
  raises("function expected", ws.add_redactor, ws, "not a function")
end)

if devsys.register_secret_provider then
  test("secrets: a provider written in Lua resolves, refuses and raises", function()
    local asked = {}
    assert(devsys.register_secret_provider("lua-vault", function(name, ref)
      asked[#asked + 1] = name .. "=" .. tostring(ref)
      if ref == "missing" then return nil, "no entry 'missing' in the vault" end
      if ref == "denied" then return nil, "access denied", E.ACCESS end
      if ref == "boom" then error("the vault is down") end
      if ref == "number" then return 42 end
      return "v-" .. (ref or name) .. "-long-enough"
    end))
    fails(E.EXISTS, nil, devsys.register_secret_provider("lua-vault", print))
    fails(E.EXISTS, nil, devsys.register_secret_provider("file", print))
    raises("function expected", devsys.register_secret_provider, "lua-x", 7)
    local set <close> = assert(devsys.secrets())
    for n, ref in pairs({ A = "alpha", B = "missing", C = "boom", D = "denied", N = "number" }) do
      assert(set:define({ name = n, provider = "lua-vault", ref = ref }))
    end
    eq(set:resolve("A"), "v-alpha-long-enough"); eq(asked[1], "A=alpha")
    local m <close> = assert(set:masker())
    eq(m:mask("x v-alpha-long-enough y"), "x [MASKED:A] y")
    fails(E.NOTFOUND, "no entry 'missing'", set:resolve("B"))
    fails(E.ACCESS, "access denied", set:resolve("D"))
    raises("the vault is down", set.resolve, set, "C")
    raises("must return a string", set.resolve, set, "N")
  end)

  if devsys.pipeline and devsys.worker then
    test("secrets: a forge token from a Lua provider in p:run(); a worker's threads refuse it", function()
      local asked = {}
      assert(devsys.register_secret_provider("lua-tokens", function(name, ref)
        asked[#asked + 1] = name .. "=" .. ref
        return "tok-" .. ref .. "-0123456789"
      end))
      -- the local forge's token, named in devsys.yaml and resolved through the registered provider
      local YAML = "forges:\n  local:\n    provider: local\n    token_secret: LUA_TOK\n    token_provider: lua-tokens\n    token_ref: pr\n"
      local dir = fresh("lsec")
      write(dir .. "/devsys.yaml", YAML)
      local ws <close> = assert(devsys.workspace(dir .. "/ws"))
      local p <close> = assert(devsys.pipeline(ws, { config_path = dir .. "/devsys.yaml" }))
      assert(p:validate(pipeline_spec(dir, "lsp-1", APPEND), "lsp-1.yaml"))
      local r = assert(p:run())
      eq(r.stage, "gate"); eq(p:state(), "awaiting-review")
      eq(asked[1], "LUA_TOK=pr", "the pipeline asked the Lua provider")
      refused_on_worker("lsecw", YAML, "lsw-1", function(d) return pipeline_spec(d, "lsw-1", APPEND) end,
        function() return #asked end)
    end)
  end
end

if devsys.register_runner then
  local calls, last_io, last_wait = {}, nil, nil
  -- a runner type in Lua that runs argv through the shell and hands its output to the library
  local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local function lua_runner(opts)
    local r = { grace = opts.grace_ms }
    function r:exec(cmd, io)
      calls[#calls + 1] = "exec " .. cmd.argv[1]
      last_io = io
      if cmd.argv[1] == "lost" then return nil, "the host went away", E.SYSTEM end
      if cmd.argv[1] == "raise" then error("the lua runner broke") end
      if cmd.argv[1] == "wait" then
        for _ = 1, 1e6 do if io:stopped() then return nil, "canceled", E.CANCELED end end
        return 0
      end
      assert(io:wait_ms(250) <= 250, "wait_ms never raises the cap"); last_wait = io:wait_ms()
      local line = {}
      for k, v in pairs(cmd.env) do line[#line + 1] = k .. "=" .. q(v) end
      for _, a in ipairs(cmd.argv) do line[#line + 1] = q(a) end
      local p = popen((cmd.cwd and ("cd " .. q(cmd.cwd) .. " && ") or "") .. "env " .. table.concat(line, " ") .. " 2>&1")
      for chunk in function() return p:read(4096) end do
        -- told to stop: the command is ended as a cancel ends it (here: it ran, killed by SIGTERM)
        if not io:write("stdout", chunk) or io:stopped() then p:close(); return -1, 15 end
      end
      local _, _, status = p:close()
      io:write("stderr", "lua-runner: done\n")
      return status
    end
    function r:prepare(id) calls[#calls + 1] = "prepare " .. tostring(id) end
    function r:cleanup(id) calls[#calls + 1] = "cleanup " .. tostring(id) end
    function r:upload(a, b)
      if a:find("nope", 1, true) then return nil, "no such local file: " .. a, E.NOTFOUND end
      calls[#calls + 1] = "upload " .. a .. " " .. b
    end
    function r:download(a) if a == "raise" then error("download broke") end end
    function r:workdir(id) return "/lua/work/" .. (id or "all") end
    function r:describe() return { engine = "lua " .. _VERSION, where = "this Lua state" } end
    function r:close()
      calls[#calls + 1] = "close"
      if opts.port == 7 then error("close broke") end
    end
    return r
  end

  test("runner: a runner type written in Lua: exec, io, cancel, slots, refusals, raises", function()
    assert(devsys.register_runner("lua-run", lua_runner))
    fails(E.EXISTS, nil, devsys.register_runner("lua-run", lua_runner))
    fails(E.EXISTS, nil, devsys.register_runner("inproc", lua_runner))
    raises("function expected", devsys.register_runner, "lua-x", {})
    local dir = fresh("lrun")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local t <close> = assert(ws:task("lr1", { create = true }))
    local r = assert(devsys.runner_open("lua-run", { grace_ms = 300, ws = ws }))
    eq(r:type(), "lua-run")
    local out = {}
    local res = assert(r:exec({ argv = { "sh", "-c", 'echo "hi $X"; pwd; exit 3' }, env = { "X=there" }, cwd = "/",
      task = t, stage = "test", output = function(s, d) out[#out + 1] = s .. ":" .. d end }))
    eq(res.exit_code, 3); eq(res.failure_name, "build-failure")
    has(table.concat(out), "stdout:hi there\nstdout:/\n"); has(table.concat(out), "stderr:lua-runner: done")
    eq(last_wait, -1, "no idle timeout: wait_ms keeps the cap")
    has(read(t:path() .. "/logs/test.log"), "hi there")
    eq(assert(r:exec({ argv = { "true" } })).exit_code, 0)
    local v, msg, code, rr = r:exec({ argv = { "lost" } })
    eq(v, nil); eq(code, E.SYSTEM); has(msg, "the host went away"); eq(rr.failure_name, "system-failure")
    raises("the lua runner broke", r.exec, r, { argv = { "raise" } })
    raises("RunnerIO is closed", last_io.write, last_io, "stdout", "after its exec")
    r:cancel() -- applies to the next exec, as inproc's
    v, msg, code, rr = r:exec({ argv = { "wait" } })
    eq(code, E.CANCELED, msg); eq(rr.failure_name, "canceled")
    eq(assert(r:exec({ argv = { "true" } })).exit_code, 0, "the cancel was used up")
    -- an output callback that stops the command: io:write says so
    v, msg, code = r:exec({ argv = { "sh", "-c", "echo a" }, output = function() return false end })
    eq(v, nil); eq(code, E.USER, msg)
    eq(r:prepare(t), true); eq(calls[#calls], "prepare lr1")
    eq(r:workdir(t), "/lua/work/lr1"); eq(r:workdir(), "/lua/work/all")
    eq(r:upload(dir .. "/a", "/r/a"), true)
    fails(E.NOTFOUND, "no such local file", r:upload(dir .. "/nope", "/r/a"))
    eq(r:download("/r/a", dir .. "/b"), true)
    raises("download broke", r.download, r, "raise", dir .. "/b")
    eq(r:cleanup(t), true)
    local d = r:describe()
    eq(d.type, "lua-run"); has(d.engine, "Lua 5.4"); eq(d.where, "this Lua state")
    r:close()
    eq(calls[#calls], "close")
    -- a close slot that raises has no call to raise it from; a later call never raises it instead of its own
    local r7 = assert(devsys.runner_open("lua-run", { port = 7 }))
    r7:close()
    eq(calls[#calls], "close")
    local inp <close> = assert(devsys.runner_open("inproc"))
    local v7, _, c7 = inp:exec({ argv = { "sh", "-c", "echo a" }, output = function() return false end })
    eq(v7, nil); eq(c7, E.USER, "its own refusal, not the earlier close's error")
    -- methods through a metatable's __index (a class); a lookup that raises is raised again, never across C
    assert(devsys.register_runner("lua-run-meta", function()
      return setmetatable({}, { __index = function(_, k)
        if k == "exec" then return function() return 0 end end
        error("no field " .. k)
      end })
    end))
    local rm <close> = assert(devsys.runner_open("lua-run-meta"))
    eq(assert(rm:exec({ argv = { "x" } })).exit_code, 0, "exec found through __index")
    raises("no field prepare", rm.prepare, rm, t)
    -- a factory that raises or returns no table
    assert(devsys.register_runner("lua-run-bad", function(o) if o.port == 1 then error("factory broke") end; return 5 end))
    raises("factory broke", devsys.runner_open, "lua-run-bad", { port = 1 })
    raises("not a runner table", devsys.runner_open, "lua-run-bad")
  end)

  if devsys.pipeline and devsys.worker then
    test("runner: a Lua runner runs a pipeline's stages in p:run(); a worker's threads refuse it", function()
      local dir = fresh("lrunp")
      write(dir .. "/devsys.yaml", "runners:\n  lua:\n    type: lua-run\n")
      local spec = pipeline_spec(dir, "lrp-1", APPEND):gsub("runner: inproc", "runner: lua")
      local ws <close> = assert(devsys.workspace(dir .. "/ws"))
      local p <close> = assert(devsys.pipeline(ws, { config_path = dir .. "/devsys.yaml" }))
      assert(p:validate(spec, "lrp-1.yaml"))
      local n0 = #calls
      local r = assert(p:code())
      eq(r.stage, "push"); eq(r.result, "ok")
      local ran = {}
      for i = n0 + 1, #calls do ran[#ran + 1] = calls[i] end
      has(table.concat(ran, ","), "exec /bin/sh")
      assert(last_wait > 0 and last_wait <= 600000, "the agent's idle timeout lowers the cap: " .. last_wait)
      local g = popen(string.format("git --git-dir='%s/remote.git' show task/lrp-1:README.md", dir))
      eq(g:read("a"), "hello\nfrom the agent\n"); g:close()
      -- the same on a worker: its job threads run no Lua, the runner refuses there, naming why
      refused_on_worker("lrunw", "runners:\n  lua:\n    type: lua-run\n", "lrw-1",
        function(d) return (pipeline_spec(d, "lrw-1", APPEND):gsub("runner: inproc", "runner: lua")) end,
        function() return #calls end)
    end)
  end
end

if devsys.register_forge then
  local H1, H2 = string.rep("1", 40), string.rep("2", 40)
  -- a forge provider in Lua, its state in one table: pull requests, reviews, statuses
  local function lua_forge(opts)
    local f = { prs = {}, reviews = {}, sts = {}, opts = opts, protected = nil }
    function f:pr_upsert(req)
      if req.title == "refuse" then return nil, "the forge refused the title", E.INVALID end
      if req.title == "raise" then error("the forge broke") end
      for _, pr in ipairs(self.prs) do
        if pr.head == req.head then pr.title = req.title; pr.reused = true; return pr end
      end
      local pr = { number = #self.prs + 1, url = "https://forge.test/pr/" .. (#self.prs + 1), head = req.head,
                   base = req.base, head_sha = req.head_sha or H1, title = req.title, author = "devsys-bot",
                   state = "open", draft = req.draft, labels = req.labels }
      self.prs[#self.prs + 1] = pr
      return pr
    end
    function f:pr_get(n)
      if not self.prs[n] then return nil, "no pull request #" .. n, E.NOTFOUND, 404, '{"message":"Not Found"}' end
      self.prs[n].reused = false
      return self.prs[n]
    end
    function f:pr_reviews(n, sink) for _, r in ipairs(self.reviews[n] or {}) do assert(sink:review(r)) end end
    function f:review_add(n, r) self.reviews[n] = self.reviews[n] or {}; table.insert(self.reviews[n], r) end
    function f:status_set(sha, st)
      if st.context == "down" then return nil, "status API down" end
      self.sts[#self.sts + 1] = { context = st.context, sha = sha, state = st.state, kind = "status" }
    end
    function f:statuses(sha, sink)
      for _, c in ipairs(self.sts) do if c.sha == sha then assert(sink:check(c)) end end
    end
    function f:check_runs(sha, sink) assert(sink:check({ context = "lint", sha = sha, state = "success", kind = "run" })) end
    function f:pr_files(n, sink)
      assert(sink:file("docs/guide.md")); assert(sink:file("docs/new.md", "docs/old.md"))
      if n == 2 then assert(sink:truncated()) end
    end
    function f:pr_authors(_, sink) assert(sink:author("bob")) end
    function f:merge(n, req)
      local pr = self.prs[n]
      if req.sha ~= pr.head_sha then return nil, "head moved", E.CONFLICT end
      pr.state, pr.merge_sha = "merged", H2
      return H2
    end
    function f:protect(p) self.protected = p end
    function f:describe() return '{"provider":"lua-forge","owner":"' .. self.opts.owner .. '"}' end
    return f
  end

  test("forge: a provider written in Lua: PRs, reviews, statuses, checks, the gate, merge; refusals", function()
    assert(devsys.register_forge("lua-forge", lua_forge))
    fails(E.EXISTS, nil, devsys.register_forge("lua-forge", lua_forge))
    fails(E.INVAL, nil, devsys.register_forge("Bad Name", lua_forge))
    raises("function expected", devsys.register_forge, "lua-y", {})
    local found, version = devsys.forge_find("lua-forge")
    eq(found, true); eq(version, 1)
    fails(E.NOTFOUND, "lua-forge", devsys.forge_find("no-such-forge"))
    local forge <close> = assert(devsys.forge_open({ remote_url = "https://forge.test/acme/widgets.git", provider = "lua-forge" }))
    eq(forge:provider(), "lua-forge"); eq(forge:owner(), "acme"); eq(forge:repo(), "widgets")
    has(forge:describe(), '"owner":"acme"')
    local pr <close> = assert(forge:open_pr({ title = "Add the guide", head = "task/lf1", base = "main", body = "b",
                                              head_sha = H1, labels = { "devsys" } }))
    eq(pr:number(), 1); eq(pr:url(), "https://forge.test/pr/1"); eq(pr:state(), "open"); eq(pr:reused(), false)
    eq(pr:author(), "devsys-bot"); eq(pr:head_sha(), H1)
    local again <close> = assert(forge:open_pr({ title = "Add the guide, again", head = "task/lf1", base = "main" }))
    eq(again:reused(), true); eq(again:title(), "Add the guide, again")
    fails(E.INVALID, "the forge refused the title", forge:open_pr({ title = "refuse", head = "task/x", base = "main" }))
    raises("the forge broke", forge.open_pr, forge, { title = "raise", head = "task/x", base = "main" })
    fails(E.NOTFOUND, "no pull request #9", forge:pr(9))
    local status, detail = devsys.error_detail()
    eq(status, 404); eq(detail, '{"message":"Not Found"}', "the forge's own answer is the error's detail")
    fails(E.INVALID, "the forge refused the title", forge:open_pr({ title = "refuse", head = "task/x", base = "main" }))
    status, detail = devsys.error_detail()
    eq(status, 0, "a refusal without one has no detail"); eq(detail, nil)
    eq(forge:set_status(H1, "devsys/tests", "success", "green"), true)
    fails(E.SYSTEM, "status API down", forge:set_status(H1, "down", "success"))
    local cs = pr:checks()
    eq(#cs, 2); eq(cs[1].context, "devsys/tests"); eq(cs[1].state, "success"); eq(cs[1].kind, "status")
    eq(cs[2].context, "lint"); eq(cs[2].kind, "run")
    eq(pr:add_review("alice", "approved", H1), true)
    local revs = pr:reviews()
    eq(#revs, 1); eq(revs[1].reviewer, "alice"); eq(revs[1].commit_sha, H1)
    local pol <close> = assert(devsys.policy_new({ auto_merge = true, required_contexts = { "devsys/tests" } }))
    local d <close> = assert(pr:gate_check(pol))
    eq(d:outcome(), "merge", d:explain())
    local m <close> = assert(pr:gate_merge(pol))
    eq(m:outcome(), "merge"); eq(pr:merge_sha(), H2); eq(pr:state(), "merged")
    eq(forge:protect("main", { contexts = { "devsys/tests" }, approvals = 2 }), true)
    -- a truncated file list and no checkout to compare with: the gate fails closed
    local pr2 <close> = assert(forge:open_pr({ title = "More", head = "task/lf2", base = "main", head_sha = H1 }))
    eq(pr2:number(), 2)
    local d2 <close> = assert(pr2:gate_check(pol))
    eq(d2:outcome(), "blocked"); has(d2:explain(), "truncated")
    -- a provider without a slot: not supported; a list slot that raises
    assert(devsys.register_forge("lua-forge-min", function()
      return { pr_upsert = function() return { number = 7, head = "task/m", base = "main", head_sha = H1, state = "open" } end,
               pr_get = function() return nil, "gone" end,
               statuses = function() error("statuses broke") end }
    end))
    local fm <close> = assert(devsys.forge_open({ remote_url = "https://forge.test/acme/min.git", provider = "lua-forge-min" }))
    local pm <close> = assert(fm:open_pr({ title = "t", head = "task/m", base = "main" }))
    eq(pm:number(), 7)
    fails(E.NOTSUPPORTED, "has no pr_reviews method", pm:reviews())
    raises("statuses broke", pm.checks, pm)
    fails(E.NOTSUPPORTED, "has no protect method", fm:protect("main"))
    -- a bad field in a result table is an error, not a crash
    assert(devsys.register_forge("lua-forge-bad", function()
      return { pr_upsert = function() return { number = 1, url = 42, head = "h", base = "b", state = "open" } end,
               pr_get = function() return { number = 1, state = "sideways" } end }
    end))
    local fb <close> = assert(devsys.forge_open({ remote_url = "https://forge.test/acme/bad.git", provider = "lua-forge-bad" }))
    raises("'url' must be a string", fb.open_pr, fb, { title = "t", head = "h", base = "b" })
    raises("invalid option 'sideways'", fb.pr, fb, 1)
    -- unregistered: open forges keep working, new ones are refused
    eq(devsys.unregister_forge("lua-forge"), true)
    fails(E.NOTFOUND, nil, devsys.unregister_forge("lua-forge"))
    fails(E.NOTFOUND, nil, devsys.forge_open({ remote_url = "https://forge.test/acme/widgets.git", provider = "lua-forge" }))
    eq(assert(forge:pr(1)):state(), "merged")
  end)
end

-- ---- agent vtable version 2, a worker stopped from its event callback -------------

if devsys.register_agent and devsys.pipeline then
  test("agent: version 2 slots: preflight and its check, stderr lines, status; a refusal and a raise", function()
    local seen = { err = {}, status = 0, pre = nil }
    local function v2(want)
      return function()
        local a = { steps = 0 }
        function a:preflight() return { "/bin/sh", "-c", "echo lua-agent 9.9" } end
        function a:preflight_check(code, out)
          seen.pre = code .. ":" .. out
          if out ~= want .. "\n" then return false, "found '" .. out:gsub("\n", "") .. "', expected '" .. want .. "'" end
        end
        function a:command()
          return { "/bin/sh", "-c", 'echo "from the agent" >> README.md; echo \'{"step":1}\'; echo "warning: lua" >&2' }
        end
        function a:line(l) if l:sub(1, 1) == "{" then self.steps = self.steps + 1; return "event" end end
        function a:err_line(l)
          seen.err[#seen.err + 1] = l
          if want == "raise" then error("err_line broke") end
        end
        function a:status() seen.status = seen.status + 1; return "step " .. self.steps, self.steps, 5 end
        return a
      end
    end
    assert(devsys.register_agent("lua-v2", v2("lua-agent 9.9")))
    assert(devsys.register_agent("lua-v2-old", v2("lua-agent 1.0")))
    assert(devsys.register_agent("lua-v2-stall", function()
      local a = v2("lua-agent 9.9")()
      a.err_line = function() return "stall" end
      a.stop_reason = function() return "it asks for a permission" end
      return a
    end))
    assert(devsys.register_agent("lua-v2-raise", function()
      local a = v2("lua-agent 9.9")()
      a.err_line = function() error("err_line broke") end
      return a
    end))
    local dir = fresh("agent2")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    task_with_kind(dir, ws, "l2-1", "lua-v2")
    local labels = {}
    local p <close> = assert(devsys.pipeline(ws, { progress = function(e)
      if e.kind == "progress" and e.stage == "agent" then labels[#labels + 1] = tostring(e.data) end end }))
    assert(p:load("l2-1"))
    local r = assert(p:code())
    eq(r.stage, "push"); eq(r.result, "ok")
    eq(seen.pre, "0:lua-agent 9.9\n"); eq(seen.err[1], "warning: lua"); assert(seen.status >= 1, "status asked")
    has(table.concat(labels, ","), "step 1")
    local d2 = fresh("agent2")
    local ws2 <close> = assert(devsys.workspace(d2 .. "/ws"))
    task_with_kind(d2, ws2, "l2-2", "lua-v2-old")
    local q <close> = assert(devsys.pipeline(ws2))
    assert(q:load("l2-2"))
    local v, msg, code, res = q:code()
    eq(v, nil); eq(code, E.INVALID, msg); has(msg, "expected 'lua-agent 1.0'"); eq(res.stage, "agent")
    local d3 = fresh("agent2")
    local ws3 <close> = assert(devsys.workspace(d3 .. "/ws"))
    task_with_kind(d3, ws3, "l2-3", "lua-v2-raise")
    local b <close> = assert(devsys.pipeline(ws3))
    assert(b:load("l2-3"))
    raises("err_line broke", b.code, b)
    eq(b:state("l2-3"), "failed")
    local d4 = fresh("agent2")
    local ws4 <close> = assert(devsys.workspace(d4 .. "/ws"))
    task_with_kind(d4, ws4, "l2-4", "lua-v2-stall")
    local s4 <close> = assert(devsys.pipeline(ws4))
    assert(s4:load("l2-4"))
    local v4, m4, c4, r4 = s4:code()
    eq(v4, nil); assert(c4 and c4 < 0, "a stall fails the stage"); eq(r4.failure_class, "stalled", m4)
    eq(devsys.AGENT_STALL, 3)
  end)
end

if devsys.worker and devsys.pipeline then
  test("worker: w:run(fn) hands each event to fn on this thread; fn stops a forever worker; fn raising", function()
    local dir = fresh("wstop")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local st <close> = assert(devsys.store_open(ws))
    local p <close> = assert(devsys.pipeline(ws))
    assert(p:validate(pipeline_spec(fresh("wst"), "ws-1", APPEND), "ws-1.yaml"))
    assert(st:submit("ws-1"))
    local w <close> = assert(devsys.worker(ws, { jobs = 1, poll_ms = 50, forever = true }))
    raises("needs a callback", w.run, w)
    local kinds, close_err = {}, nil
    assert(w:run(function(e, self)
      kinds[#kinds + 1] = e.kind
      eq(self, w)
      if not close_err then close_err = select(2, pcall(w.close, w)) end
      if e.kind == "ended" then eq(e.task_id, "ws-1"); assert(self:stop(1000)) end
    end))
    eq(kinds[1], "claimed"); has(table.concat(kinds, ","), "pipeline"); has(table.concat(kinds, ","), "ended")
    has(close_err, "cannot be closed inside")
    eq(w:stats().stopping, true); eq(w:state("ws-1"), "awaiting-review")
    fails(E.STATE, "runs already", w:run(function() end))
    -- fn raising: the worker stops (the task goes back) and w:run raises it again
    local d2 = fresh("wstop")
    local ws2 <close> = assert(devsys.workspace(d2 .. "/ws"))
    local st2 <close> = assert(devsys.store_open(ws2))
    local p2 <close> = assert(devsys.pipeline(ws2))
    assert(p2:validate(pipeline_spec(fresh("wst"), "ws-2", APPEND), "ws-2.yaml"))
    assert(st2:submit("ws-2"))
    local w2 <close> = assert(devsys.worker(ws2, { jobs = 1, poll_ms = 50, forever = true }))
    local calls = 0
    raises("stop right there", w2.run, w2, function(e)
      calls = calls + 1
      if e.kind == "claimed" then error("stop right there") end
    end)
    eq(calls, 1, "fn is not called again after it raised")
    eq(w2:stats().stopping, true)
    local evs = w2:events()
    eq(evs[1].kind, "claimed", "w:events() still has every event")
    -- a once worker with fn: returns when the queue is empty; w:stop before run
    local w3 <close> = assert(devsys.worker(ws2, { jobs = 1, poll_ms = 50 }))
    eq(w3:stop(), true)
    assert(w3:run(function() end))
    raises("grace_ms", w3.stop, w3, -1)
  end)
end

-- ---- smaller calls: versions, branch names, hosts, agent profiles, reports, store upkeep -------

test("version numbers, branch names and protection, remote hosts", function()
  local M, m, p = devsys.version_numbers()
  eq(string.format("%d.%d.%d", M, m, p), devsys.version():match("^%d+%.%d+%.%d+"))
  if devsys.repo_branch_name then
    eq(devsys.repo_branch_name(nil, "t-1"), "task/t-1")
    eq(devsys.repo_branch_name("agent/{id}-{slug}", "t-1", "fix-readme"), "agent/t-1-fix-readme")
    fails(E.INVALID, "..", devsys.repo_branch_name("x/{id}..y", "t-1"))
    raises("string expected", devsys.repo_branch_name, nil, nil)
    eq(devsys.branch_is_protected("main"), true); eq(devsys.branch_is_protected("task/t-1"), false)
    eq(devsys.branch_is_protected("trunk", "trunk"), true, "the remote's default branch")
  end
  if devsys.forge_remote_host then
    eq(devsys.forge_remote_host("https://GitHub.com/acme/w.git"), "github.com")
    eq(devsys.forge_remote_host("https://gitea.test:3000/acme/w.git"), "gitea.test:3000")
    eq(devsys.forge_remote_host("/srv/git/w.git"), "")
    fails(E.INVAL, "not a URL", devsys.forge_remote_host("not a url"))
  end
end)

if devsys.config_parse then
  test("config: an agent profile's values and where they were set", function()
    local c <close> = assert(devsys.config_parse("agents:\n  oc:\n    kind: opencode\n    provider: local\n"
      .. "    base_url: http://127.0.0.1:8080/v1\n    models: [qwen]\n", "a.yaml"))
    local v, where = c:agent_value("oc", "base_url")
    eq(v, "http://127.0.0.1:8080/v1"); has(where, "a.yaml:5")
    fails(E.NOTFOUND, nil, c:agent_value("nope", "base_url"))
    fails(E.INVAL, nil, c:agent_value("oc", "no-such-key"))
  end)
end

if devsys.report and devsys.store_open and devsys.record_open then
  test("report cases as JSON; events since a seq; store metrics, check and folder_current", function()
    local r <close> = assert(devsys.report())
    assert(r:add_junit_buffer(JUNIT, "j.xml"))
    local cj = r:cases_json()
    has(cj, '"status"'); has(cj, '"classname"')
    local dir = fresh("upkeep")
    local ws <close> = assert(devsys.workspace(dir .. "/ws"))
    local st <close> = assert(devsys.store_open(ws))
    assert(st:task_create("u1"))
    local t <close> = assert(ws:task("u1"))
    local rec <close> = assert(devsys.record_open(t))
    local s1 = rec:event("note", '{"n":1}')
    local s2 = rec:event("note", '{"n":2}')
    local text, last = devsys.record_events_since(t, s1)
    eq(last, s2); has(text, '"n":2'); eq(text:find('"n":1', 1, true), nil, "only after seq " .. s1)
    local one, l1 = devsys.record_events_since(t, s1 - 1, 1)
    eq(l1, s1); has(one, '"n":1')
    local seen = {}
    eq(devsys.record_events_foreach(t, s1 - 1, 0, function(seq, type, line) seen[#seen + 1] = seq .. type .. line end), true)
    eq(#seen, 2); has(seen[1], s1 .. "note"); has(seen[2], '"n":2')
    seen = {}
    fails(E.USER, nil, devsys.record_events_foreach(t, 0, 0, function(seq) seen[#seen + 1] = seq; return false end))
    eq(#seen, 1, "false stops at the first")
    raises("events boom", devsys.record_events_foreach, t, 0, 0, function() error("events boom") end)
    raises("function expected", devsys.record_events_foreach, t, 0, 0)
    eq(devsys.record_path(t, "task.json"), t:path() .. "/task.json")
    eq(devsys.record_path(t, "log", 0, "test"), t:path() .. "/logs/test.log")
    has(devsys.record_path(t, "run-summary", 2), "/2/summary.json")
    fails(E.INVAL, nil, devsys.record_path(t, "run-summary", 0))
    fails(E.INVAL, nil, devsys.record_path(t, "log", 0, "a nap"))
    raises("invalid option", devsys.record_path, t, "secrets")
    raises("seq must be", devsys.record_events_since, t, -1)
    has(st:metrics(), "devsys_")
    local report, drift = st:check()
    eq(drift, 0, report); has(report, '"drift"')
    sh("rm -rf '" .. dir .. "/ws/tasks/u1'")
    local report2, drift2 = st:check()
    eq(drift2, 1, report2); has(report2, "missing-folder")
    eq(st:folder_current("u1"), true, "a store one host has alone (SQLite): its folder answers")
    eq(st:folder_current("not-in-store"), true, "a task the store does not know is left to its folder")
    fails(E.BADID, nil, st:folder_current("bad id!"))
  end)
end

-- ---------------------------------------------------------------------------

-- Every function and method the binding offers is called somewhere above
-- (so every C function it wraps is reached by a test).
test("every binding function and method is exercised by this script", function()
  local src = read(debug.getinfo(1, "S").source:sub(2))
  local missing = {}
  for k, v in pairs(devsys) do
    if type(v) == "function" and not src:find("devsys." .. k .. "(", 1, true) and not src:find("devsys." .. k .. ",", 1, true) then
      missing[#missing + 1] = "devsys." .. k
    end
  end
  for tname, mt in pairs(debug.getregistry()) do
    if type(tname) == "string" and tname:match("^devsys%.%u") and type(mt) == "table" and type(mt.__index) == "table" then
      for m in pairs(mt.__index) do
        if not src:find(":" .. m .. "(", 1, true) and not src:find("." .. m .. ", ", 1, true) then
          missing[#missing + 1] = tname .. ":" .. m
        end
      end
    end
  end
  table.sort(missing)
  eq(#missing, 0, "untested: " .. table.concat(missing, ", "))
end)

-- ---- the store on a real PostgreSQL 15 -------------------------------------

-- The server as DESIGN.md §5 starts it: initdb as the postgres user under /tmp, password
-- authentication on 127.0.0.1 and a free port, trust on its own socket. nil, why when it cannot run.
local PG_BIN = "/usr/lib/postgresql/15/bin"
local function pg_start()
  local f = io.open(PG_BIN .. "/initdb")
  if not f then return nil, "PostgreSQL 15 is not installed (" .. PG_BIN .. "; scripts/deps/store.apt)" end
  f:close()
  if popen("id -u"):read("l") ~= "0" then return nil, "PostgreSQL runs as the postgres user: starting it needs root" end
  local pg = { dir = popen("mktemp -d /tmp/devsys-luapg-XXXXXX"):read("l") }
  pg.password = popen("od -An -N16 -tx1 /dev/urandom | tr -d ' \\n'"):read("l")
  assert(pg.dir and #pg.password == 32, "mktemp or /dev/urandom failed")
  write(pg.dir .. "/pwfile", pg.password .. "\n")
  sh(string.format("chown -R postgres '%s' && chmod 600 '%s/pwfile'", pg.dir, pg.dir))
  sh(string.format("cd / && runuser -u postgres -- %s/initdb -N -D '%s/data' -U devsys --auth-host=scram-sha-256 "
    .. "--auth-local=trust --pwfile='%s/pwfile' >/dev/null", PG_BIN, pg.dir, pg.dir))
  os.remove(pg.dir .. "/pwfile")
  pg.port = popen("/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); "
    .. "print(s.getsockname()[1])'"):read("l")
  sh(string.format("cd / && runuser -u postgres -- %s/pg_ctl -D '%s/data' -l '%s/server.log' -w -t 30 "
    .. "-o '-k %s -c listen_addresses=127.0.0.1 -p %s' start >/dev/null", PG_BIN, pg.dir, pg.dir, pg.dir, pg.port))
  sh(string.format("cd / && %s/psql -X -q -h '%s' -p %s -U devsys -d postgres -c 'CREATE DATABASE lua'",
    PG_BIN, pg.dir, pg.port))
  pg.url = "postgresql://devsys@127.0.0.1:" .. pg.port .. "/lua"
  return pg
end

local function pg_stop(pg)
  sh(string.format("cd / && runuser -u postgres -- %s/pg_ctl -D '%s/data' -m fast -w -t 30 stop >/dev/null; "
    .. "rm -rf '%s'", PG_BIN, pg.dir, pg.dir))
end

if devsys.store_open and devsys.secrets then
  test("store on PostgreSQL: a document is read again only when it was written again", function()
    local pg, why = pg_start()
    if not pg then
      print("  skipped: " .. why)
      if os.getenv("CI") == "true" then error("CI=true: a skip is a failure (" .. why .. ")") end
      return
    end
    local ok, err = pcall(function()
      local dir = fresh("pgdoc")
      write(dir .. "/pw", pg.password .. "\n")
      local ws <close> = assert(devsys.workspace(dir .. "/ws"))
      local sec <close> = assert(devsys.secrets())
      assert(sec:define({ name = "DBPW", provider = "file", ref = dir .. "/pw" }))
      local st <close> = assert(devsys.store_open(ws, { url = pg.url, secrets = sec, password_secret = "DBPW" }))
      eq(st:backend(), "postgresql")
      assert(st:task_create("d1")); assert(st:transition("d1", "validated"))
      local whole = assert(st:document("d1", "task.json"))
      has(whole, '"validated"')
      local body, v = st:document_changed("d1", "task.json")
      eq(body, whole, "the first read: the body"); assert(#v > 0, "and its version")
      local same, v1 = st:document_changed("d1", "task.json", v)
      eq(same, false, "unchanged: no body"); eq(v1, v)
      assert(st:transition("d1", "checked-out"))
      local moved, v2 = st:document_changed("d1", "task.json", v)
      has(moved, '"checked-out"'); assert(v2 ~= v, "a write gives a new version")
      eq(select(1, st:document_changed("d1", "task.json", v2)), false)
      fails(E.NOTFOUND, "no-such", st:document_changed("no-such", "task.json"))
      -- a wrong password: refused, and the message does not show it
      write(dir .. "/pw", "not-" .. pg.password .. "\n")
      local ws2 <close> = assert(devsys.workspace(dir .. "/ws2"))
      local sec2 <close> = assert(devsys.secrets())
      assert(sec2:define({ name = "DBPW", provider = "file", ref = dir .. "/pw" }))
      local bad, msg = devsys.store_open(ws2, { url = pg.url, secrets = sec2, password_secret = "DBPW" })
      eq(bad, nil, "a wrong password opens nothing"); has(msg, "password")
      eq(msg:find(pg.password, 1, true), nil, "the message shows no password")
    end)
    pg_stop(pg)
    if not ok then error(err, 0) end
  end)
end

-- Every C function the module calls is called by a test (the Python package's check, for Lua): the
-- module records each exported function it has a call site of, and with DEVSYS_LUA_TRACE_CALLS=1
-- (the ctest entry) which of them ran. devsys_shutdown runs only when this state closes, after.
test("every C function the binding calls is called by this script", function()
  if os.getenv("DEVSYS_LUA_TRACE_CALLS") ~= "1" then
    print("  (C calls not traced: DEVSYS_LUA_TRACE_CALLS is not 1)")
    return
  end
  assert(devsys._trace, "this devsys.so was built without call tracing (bindings/lua/CMakeLists.txt)")
  collectgarbage(); collectgarbage() -- the releases of what the tests dropped without closing
  local missing, n = {}, 0
  for name, called in pairs(devsys._trace()) do
    n = n + 1
    if not called and name ~= "devsys_shutdown" then missing[#missing + 1] = name end
  end
  table.sort(missing)
  assert(n > 300, "call sites recorded: " .. n)
  eq(#missing, 0, "C functions the binding calls that no test reached (" .. n .. " wrapped): " .. table.concat(missing, " "))
end)

collectgarbage(); collectgarbage()
sh("rm -rf '" .. tmp .. "'")
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1, true) -- close the state: every handle and devsys_shutdown()
