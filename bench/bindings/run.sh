#!/bin/sh
# Binding overhead, C anchor and Python binding in the same run, same library:
#  1. N calls of devsys_version() (default 1 000 000): ns per call and the ratio;
#  2. M task specs loaded from memory and validated (default 10 000): specs/s
#     and the ratio (the issue's target: Python within 1.3x of C).
# Each side runs ROUNDS times (default 3) in turn and keeps its best figure,
# in wall time and in the measuring thread's CPU time (on a machine shared with
# other builds the wall figures carry their load; the CPU ones do not).
# Usage: bench/bindings/run.sh BUILD_DIR [N] [M] [ROUNDS]   (a RelWithDebInfo build)
set -eu
build=${1:?usage: run.sh BUILD_DIR [N] [M] [ROUNDS]}
n=${2:-1000000} m=${3:-10000} rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/bench/bindings/bench_bindings"
[ -x "$bin" ] || { echo "missing $bin: build the project first" >&2; exit 2; }
export DEVSYS_LIBRARY="$build/lib/libdevsys.so.1"
best() { sort -g | head -n 1; }
bestmax() { sort -gr | head -n 1; }
cv= pv= cs= ps= cvc= pvc= csc= psc= prc=
r=1
while [ "$r" -le "$rounds" ]; do
	out=$("$bin" version "$n"); echo "$out" >&2
	cv="$cv $(echo "$out" | sed 's/.* s, \([0-9.]*\) ns\/call,.*/\1/')"
	cvc="$cvc $(echo "$out" | sed 's/.*cpu \([0-9.]*\) ns\/call.*/\1/')"
	out=$(/usr/bin/python3 "$here/bench_py.py" version "$n"); echo "$out" >&2
	pv="$pv $(echo "$out" | sed 's/.* s, \([0-9.]*\) ns\/call,.*/\1/')"
	pvc="$pvc $(echo "$out" | sed 's/.*cpu \([0-9.]*\) ns\/call.*/\1/')"
	out=$("$bin" validate "$m"); echo "$out" >&2
	cs="$cs $(echo "$out" | sed 's/.* s, \([0-9]*\) specs\/s,.*/\1/')"
	csc="$csc $(echo "$out" | sed 's/.*cpu \([0-9]*\) specs\/s.*/\1/')"
	out=$(/usr/bin/python3 "$here/bench_py.py" validate "$m"); echo "$out" >&2
	ps="$ps $(echo "$out" | sed 's/.* s, \([0-9]*\) specs\/s,.*/\1/')"
	psc="$psc $(echo "$out" | sed 's/.*, cpu \([0-9]*\) specs\/s (.*/\1/')"
	prc="$prc $(echo "$out" | sed 's/.*raw ctypes calls, cpu \([0-9]*\) specs\/s).*/\1/')"
	r=$((r + 1))
done
b() { echo $1 | tr ' ' '\n' | best; }
bm() { echo $1 | tr ' ' '\n' | bestmax; }
ratio() { echo "$1 / $2" | bc -l | cut -c1-6; }
cvb=$(b "$cv") pvb=$(b "$pv") csb=$(bm "$cs") psb=$(bm "$ps")
cvcb=$(b "$cvc") pvcb=$(b "$pvc") cscb=$(bm "$csc") pscb=$(bm "$psc")
echo "-- best of $rounds (wall | thread CPU)"
echo "devsys_version: C $cvb | $cvcb ns/call, Python $pvb | $pvcb ns/call: Python/C $(ratio "$pvb" "$cvb")x | $(ratio "$pvcb" "$cvcb")x"
echo "validate: C $csb | $cscb specs/s, Python $psb | $pscb specs/s: C/Python time ratio $(ratio "$csb" "$psb")x | $(ratio "$cscb" "$pscb")x (target <= 1.3x)"
prb=$(bm "$prc")
echo "validate floor (the same library calls through bare ctypes): $prb specs/s CPU: C/ctypes $(ratio "$cscb" "$prb")x"
