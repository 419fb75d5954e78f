#!/bin/sh
# spec-kit benchmark: `devsys speckit check`'s parse + rules on a generated
# feature (TASKS tasks, REQS requirements; default 2000 and 500) against a
# Python script doing the same line parsing with precompiled regular
# expressions (bench/speckit/anchor.py), in this run, best of ROUNDS each,
# both timed in process CPU time.
# The two tools' findings (the rules the anchor implements) are diffed first;
# the benchmark stops if they differ, before any ratio is printed.
# Usage: bench/speckit/run.sh BUILD_DIR [TASKS] [REQS] [ROUNDS]
set -eu
build=${1:?usage: run.sh BUILD_DIR [TASKS] [REQS] [ROUNDS]}
tasks=${2:-2000}
reqs=${3:-500}
rounds=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/bench/speckit/bench_speckit"
[ -x "$bin" ] || { echo "missing $bin: build the project first" >&2; exit 2; }
data=$(mktemp -d "${TMPDIR:-/tmp}/devsys-bench-speckit.XXXXXX")
trap 'rm -rf "$data"' EXIT
/usr/bin/python3 "$here/gen.py" "$tasks" "$reqs" "$data"
feature="$data/001-bench"
echo "feature: $(grep -c '^- \[' "$feature/tasks.md") checkbox lines, $(grep -c '^- \*\*[FS][RC]-' "$feature/spec.md") requirement lines"
"$bin" "$feature" "$rounds" > "$data/devsys.out"
/usr/bin/python3 "$here/anchor.py" "$feature" "$rounds" > "$data/python.out"
tail -n +2 "$data/devsys.out" | sort > "$data/devsys.findings"
tail -n +2 "$data/python.out" | sort > "$data/python.findings"
if ! diff -u "$data/python.findings" "$data/devsys.findings" > "$data/diff"; then
  echo "FINDINGS DIFFER (python vs libdevsys): no ratio" >&2
  head -40 "$data/diff" >&2
  exit 1
fi
n=$(wc -l < "$data/devsys.findings")
[ "$n" -gt 0 ] || { echo "no findings at all: the planted ones are missing" >&2; exit 1; }
echo "findings: $n, identical in both tools ($(cut -d' ' -f1 "$data/devsys.findings" | sort | uniq -c | tr '\n' ' '))"
td=$(head -1 "$data/devsys.out" | cut -d' ' -f2)
tp=$(head -1 "$data/python.out" | cut -d' ' -f2)
tf=$(head -1 "$data/devsys.out" | cut -d' ' -f4)
awk -v d="$td" -v p="$tp" -v f="$tf" 'BEGIN { printf "floor (read the files, find the line ends with libc): %.2f ms CPU\nlibdevsys load+check: %.2f ms CPU (%.1fx the floor)\npython anchor parse+rules: %.2f ms CPU\nratio: %.1fx faster than the anchor (target >= 20x)\n", f * 1000, d * 1000, d / f, p * 1000, p / d }'
