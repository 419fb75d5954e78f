#!/bin/sh
# The Lua binding against the C anchor, in the same run and the same library:
# N calls of devsys_version() and M specs loaded and validated, in three calls
# a spec (spec_load + :check) and in one (devsys.spec_check, the library's
# devsys_spec_validate_buffer), by bench_bindings (C) and bench_lua.lua (Lua)
# in turn, ROUNDS times each. (bench/bindings/run.sh also reports Lua, beside
# Python, against the thread CPU time of the C loop.)
# Both sides are compared by the CPU time (user+sys) of their whole process, so
# a loaded machine does not tilt the ratio; the best round counts.
# Usage: bench/bindings/run_lua.sh BUILD_DIR [N] [M] [ROUNDS]   (a RelWithDebInfo build)
set -eu
build=${1:?usage: run_lua.sh BUILD_DIR [N] [M] [ROUNDS]}
n=${2:-20000000} m=${3:-20000} rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/bench/bindings/bench_bindings"
[ -x "$bin" ] || { echo "missing $bin: build the project first" >&2; exit 2; }
[ -f "$build/bindings/lua/devsys.so" ] || { echo "missing $build/bindings/lua/devsys.so" >&2; exit 2; }
export LUA_CPATH="$build/bindings/lua/?.so"
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -n 1 | awk '{ print $1 + $2 }'; }
best() { tr ' ' '\n' | grep . | sort -g | head -n 1; }
cv= lv= cs= ls= ck= lk=
r=1
while [ "$r" -le "$rounds" ]; do
	cv="$cv $(cpu "$bin" version "$n")"
	lv="$lv $(cpu lua5.4 "$here/bench_lua.lua" version "$n")"
	cs="$cs $(cpu "$bin" validate "$m")"
	ls="$ls $(cpu lua5.4 "$here/bench_lua.lua" validate "$m")"
	ck="$ck $(cpu "$bin" check "$m")"
	lk="$lk $(cpu lua5.4 "$here/bench_lua.lua" check "$m")"
	r=$((r + 1))
done
cvb=$(echo $cv | best) lvb=$(echo $lv | best) csb=$(echo $cs | best) lsb=$(echo $ls | best)
ckb=$(echo $ck | best) lkb=$(echo $lk | best)
echo "-- best of $rounds, process CPU seconds"
echo "devsys_version x $n: C $cvb s, Lua $lvb s: Lua/C $(echo "$lvb / $cvb" | bc -l | cut -c1-5)x"
echo "validate x $m (three calls a spec): C $csb s, Lua $lsb s: Lua/C $(echo "$lsb / $csb" | bc -l | cut -c1-5)x"
echo "check x $m (one call a spec): C $ckb s, Lua $lkb s: Lua/C $(echo "$lkb / $ckb" | bc -l | cut -c1-5)x"
