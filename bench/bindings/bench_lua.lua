-- The Lua side of bench/bindings/run.sh: the same work as bench_bindings.c
-- through the Lua module (LUA_CPATH finds the built devsys.so).
--
--   lua5.4 bench_lua.lua version N | validate N | check N
-- (validate: spec_load + spec:check, three library calls a spec; check:
-- devsys.spec_check, the one call devsys_spec_validate_buffer)
local devsys = require "devsys"
local clock = os.clock -- process CPU time; the loops are CPU-bound and single-threaded

local SPEC = "version: 1\nid: bench-%d\ntitle: Benchmark spec\nprompt: do the thing\n"
  .. "repo:\n  url: https://example.com/x.git\n  base_branch: main\n"
  .. "tests:\n  command: [make, test]\n  timeout: 10m\n"

local what, n = arg[1], tonumber(arg[2])
if what == "version" then
  local f = devsys.version
  local t0 = clock()
  for _ = 1, n do f() end
  local dt = clock() - t0
  print(string.format("lua version: %d calls in %.3f s, %.1f ns/call", n, dt, dt * 1e9 / n))
  os.exit(0)
end
if what == "check" then
  local check, ok = devsys.spec_check, 0
  local t0 = clock()
  for i = 1, n do
    if check(string.format(SPEC, (i - 1) % 100000), "bench.yaml") then ok = ok + 1 end
  end
  local dt = clock() - t0
  print(string.format("lua check: %d specs (%d valid) in %.3f s, %.0f specs/s", n, ok, dt, n / dt))
  os.exit(ok == n and 0 or 1)
end
local schema_ok = 0
local t0 = clock()
for i = 1, n do
  local spec <close> = assert(devsys.spec_load(string.format(SPEC, (i - 1) % 100000), "bench.yaml"))
  if spec:check() then schema_ok = schema_ok + 1 end
end
local dt = clock() - t0
print(string.format("lua validate: %d specs (%d valid) in %.3f s, %.0f specs/s", n, schema_ok, dt, n / dt))
os.exit(schema_ok == n and 0 or 1)
