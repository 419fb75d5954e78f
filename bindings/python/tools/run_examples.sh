#!/usr/bin/env bash
# run_examples.sh LIBRARY: run both examples from the source tree and check what they print.
set -uo pipefail
export DEVSYS_LIBRARY=$(readlink -f "$1") PYTHONMALLOC=debug PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/dt-pyex-XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
fail=0
/usr/bin/python3 "$here/examples/pipeline.py" "$tmp" | tee "$tmp/pipeline.out" || fail=1
grep -q '^pipeline ok$' "$tmp/pipeline.out" || { echo "pipeline.py did not finish"; fail=1; }
git --git-dir="$tmp/remote.git" rev-parse --verify -q refs/heads/task/hello-1 >/dev/null \
	|| { echo "the task branch is not on the remote"; fail=1; }
/usr/bin/python3 "$here/examples/orchestrator.py" | tee "$tmp/orch.out" || fail=1
# the library's worker ran the four valid specs on several of its slots at once
grep -q '5 specs, one workspace, a worker of 4 slots ([2-4] used): 3 passed, 1 failed, 1 refused' "$tmp/orch.out" \
	|| { echo "orchestrator.py: unexpected summary"; fail=1; }
[ $fail = 0 ] && echo "examples ok"
exit $fail
