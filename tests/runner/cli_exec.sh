#!/bin/sh
# devsys exec: output, exit codes (0 ok, 1 failed/timeout, 2 not run), --json, profiles.
# Usage: cli_exec.sh DEVSYS_CLI TMPDIR
d=$1
tmp=$2
fail() { echo "FAIL: $*"; exit 1; }
out=$("$d" exec -- /bin/echo 'a b') || fail "echo"
[ "$out" = "a b" ] || fail "echo output '$out'"
"$d" exec -- /bin/sh -c 'exit 4'; [ $? -eq 1 ] || fail "exit 4 -> 1"
start=$(date +%s)
"$d" exec --timeout 1 -- /bin/sleep 30 2>/dev/null; [ $? -eq 1 ] || fail "timeout -> 1"
[ $(( $(date +%s) - start )) -lt 10 ] || fail "timeout took too long"
"$d" exec -- /nonexistent/prog 2>/dev/null; [ $? -eq 2 ] || fail "missing program -> 2"
"$d" --json exec -- /bin/sh -c 'exit 3' | grep -q '"exit_code": 3' || fail "--json"
mkdir -p "$tmp"
printf 'runners:\n  sh:\n    type: inproc\n    allow_shell: true\n' > "$tmp/devsys-exec.yaml"
"$d" exec --config "$tmp/devsys-exec.yaml" --profile nope -- true 2>/dev/null; [ $? -ne 0 ] || fail "unknown profile"
"$d" exec --config "$tmp/devsys-exec.yaml" --profile sh -- /bin/true || fail "profile sh"
echo "cli ok"
