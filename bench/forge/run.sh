#!/bin/sh
# Usage: bench/forge/run.sh BUILD_DIR [PRS]
# Starts tests/support/forge_upstream.py (github mode) and `prism proxy
# --errors` in front of it on 127.0.0.1, runs bench_forge for PRS pull
# requests (default 100), and stops both. Needs scripts/bootstrap (Prism and
# GitHub's description from scripts/deps/forge.npm) and curl.
# Figures (docs/forge.md) come from:
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build/rel -j2 --target bench_forge
#   bench/forge/run.sh build/rel 100     (run twice; the ratios are the result)
set -eu
build=${1:?usage: run.sh BUILD_DIR [PRS]}
prs=${2:-100}
src=$(cd "$(dirname "$0")/../.." && pwd)
spec=$src/.deps/node/node_modules/@octokit/openapi/generated/api.github.com.json
prism=$src/.deps/node/node_modules/.bin/prism
[ -f "$spec" ] && [ -x "$prism" ] || { echo "run scripts/bootstrap first (scripts/deps/forge.npm)" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-forge-XXXXXX")
up_pid=
px_pid=
cleanup() {
  [ -n "$px_pid" ] && kill "$px_pid" 2>/dev/null || true
  [ -n "$up_pid" ] && kill "$up_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
token=bench-token-$$
/usr/bin/python3 "$src/tests/support/forge_upstream.py" "$tmp" --spec "$spec" --token "$token" >"$tmp/upstream.log" 2>&1 &
up_pid=$!
i=0
while [ ! -f "$tmp/port" ]; do i=$((i + 1)); [ $i -lt 200 ] || { cat "$tmp/upstream.log" >&2; exit 2; }; sleep 0.1; done
up=http://127.0.0.1:$(cat "$tmp/port")
pport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$prism" proxy --errors -h 127.0.0.1 -p "$pport" "$spec" "$up" >"$tmp/prism.log" 2>&1 &
px_pid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$pport/"; do
  i=$((i + 1)); [ $i -lt 1800 ] || { echo "prism did not start" >&2; exit 2; }; sleep 0.1
done
echo "machine: $(nproc) cores, $(uname -srm); $(date -u +%Y-%m-%dT%H:%MZ)"
"$build/bench/forge/bench_forge" "$up" "http://127.0.0.1:$pport" "$tmp/requests.jsonl" "$prs" "$token"
if grep -q 'Violation: request\|errors#UNPROCESSABLE_ENTITY' "$tmp/prism.log"; then
  echo "prism reported a request violation:" >&2
  grep 'Violation: request\|errors#UNPROCESSABLE_ENTITY' "$tmp/prism.log" | head -3 >&2
  exit 1
fi
echo "prism: no request violations"
