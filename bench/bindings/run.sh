#!/bin/sh
# Binding overhead, C anchor and Python binding in the same run, same library:
#  1. N calls of devsys_version() (default 1 000 000): ns per call and the ratio;
#  2. M task specs loaded from memory and validated (default 10 000): specs/s
#     and the ratio (the issue's target: Python within 1.3x of C).
# Each side runs ROUNDS times (default 3) in turn and keeps its best figure.
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
cv= pv= cs= ps=
r=1
while [ "$r" -le "$rounds" ]; do
	cv="$cv $("$bin" version "$n" | tee /dev/stderr | sed 's/.*, \([0-9.]*\) ns\/call.*/\1/')"
	pv="$pv $(/usr/bin/python3 "$here/bench_py.py" version "$n" | tee /dev/stderr | sed 's/.*s, \([0-9.]*\) ns\/call (.*/\1/')"
	cs="$cs $("$bin" validate "$m" | tee /dev/stderr | sed 's/.*, \([0-9]*\) specs\/s/\1/')"
	ps="$ps $(/usr/bin/python3 "$here/bench_py.py" validate "$m" | tee /dev/stderr | sed 's/.*, \([0-9]*\) specs\/s/\1/')"
	r=$((r + 1))
done
cvb=$(echo $cv | tr ' ' '\n' | best) pvb=$(echo $pv | tr ' ' '\n' | best)
csb=$(echo $cs | tr ' ' '\n' | bestmax) psb=$(echo $ps | tr ' ' '\n' | bestmax)
echo "-- best of $rounds"
echo "devsys_version: C $cvb ns/call, Python $pvb ns/call: Python/C $(echo "$pvb / $cvb" | bc -l | cut -c1-6)x"
echo "validate: C $csb specs/s, Python $psb specs/s: C/Python time ratio $(echo "$csb / $psb" | bc -l | cut -c1-5)x (target <= 1.3x)"
