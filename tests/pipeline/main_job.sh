#!/bin/sh
# The README's main job, exactly as `./scripts/dev run` runs it: `devsys run`
# with no spec, in a fresh directory (workspace ./.devsys). It must leave a
# branch and a commit in the workspace's local remote, a local PR record, a
# JUnit report, an acceptance report and a gate decision, and print the
# summary; the sample's tests fail on main and pass on the task branch; a
# second run reuses everything (same commit, same PR); --json parses; no
# process is left behind. Exit 77 (skip) without git or pytest, unless CI=true.
#
#   main_job.sh DEVSYS_BINARY
set -eu
devsys=$1
py=/usr/bin/python3
skip() {
	echo "skipped: $1"
	[ "${CI:-}" = true ] && { echo "CI=true: failing instead"; exit 1; }
	exit 77
}
command -v git >/dev/null 2>&1 || skip "git is missing"
"$py" -m pytest --version >/dev/null 2>&1 || skip "$py has no pytest (python3-pytest)"

root=${DEVSYS_TEST_TMP:-${TMPDIR:-/tmp}}
mkdir -p "$root"
dir=$(mktemp -d "$root/dt-main-job.XXXXXX")
dir=$(cd "$dir" && pwd -P)
# Whatever a failed assertion leaves running inside $dir (a deploy that was
# never stopped) is reported by the check below; the trap only cleans up.
left_behind() {
	for p in /proc/[0-9]*; do
		c=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $c in "$dir"/*) echo "${p#/proc/} $c" ;; esac
	done
}
cleanup() {
	left_behind | while read -r pid _; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

unset DEVSYS_WORKSPACE DEVSYS_CONFIG
cd "$dir"
remote=$dir/.devsys/sample/remote.git
task=$dir/.devsys/tasks/sample-greeting

# ---- the first run ----
rc=0
out=$("$devsys" run 2>&1) || rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "devsys run exited $rc"
for line in '^devsys run: embedded:specs/sample.yaml' '^  validate  ok  *validated' '^  push  *ok  *pushed' \
	'^  gate  *ok ' '^  task      sample-greeting awaiting-review$' \
	'^  branch    task/sample-greeting at [0-9a-f]\{12\}$' '^  pr        #1 ' \
	'^  tests     3 passed, 0 failed (run 1, reports/1/junit.xml)$' '^  accept    1 of 1 passed' \
	'^            ok   the page greets the world$' '^  gate      awaiting-review' \
	'^  more      devsys show sample-greeting | devsys report --html sample-greeting | devsysd: GET /api/tasks/sample-greeting$'; do
	echo "$out" | grep -q -- "$line" || fail "the summary lacks a line matching: $line"
done

# a branch with one commit on the local remote, changing greeting.py
head=$(git --git-dir="$remote" rev-parse refs/heads/task/sample-greeting) || fail "no task branch on the remote"
[ "$(git --git-dir="$remote" rev-list --count main..task/sample-greeting)" = 1 ] || fail "not exactly one commit"
git --git-dir="$remote" diff --name-only main task/sample-greeting | grep -qx greeting.py || fail "greeting.py unchanged"
echo "$out" | grep -q "at $(echo "$head" | cut -c1-12)" || fail "the summary does not name the head $head"

# the local PR record, for that branch and head
[ -f "$remote/devsys/prs/1.json" ] || fail "no local PR record"
"$py" - "$remote/devsys/prs/1.json" "$head" <<'PY' || fail "the PR record is wrong"
import json, sys
pr = json.load(open(sys.argv[1]))
text = json.dumps(pr)
assert "task/sample-greeting" in text and sys.argv[2] in text, text
# the body carries the post-delivery verification (the verify stage's) and the gate's decision
body = pr.get("body", "")
assert "### Verification" in body and "verified:           yes" in body, body
assert "### Merge gate" in body, body
PY

# the JUnit report (3 passing tests), the acceptance report, the gate decision
ls "$task"/reports/1/junit.xml >/dev/null || fail "no JUnit report"
"$py" - "$task/reports/1/junit.xml" <<'PY' || fail "the JUnit report does not say 3 passed"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall(".//testcase")
assert len(cases) == 3, len(cases)
assert not any(c.find(t) is not None for c in cases for t in ("failure", "error", "skipped"))
PY
[ -f "$task/reports/acceptance.json" ] || fail "no reports/acceptance.json"
"$py" - "$task/task.json" <<'PY' || fail "task.json has no gate decision"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["state"] == "awaiting-review", t["state"]
assert t["gate"]["decision"], t.get("gate")
PY

# the sample's real tests: red on main, green on the task branch
git clone -q -b main "$remote" before
git clone -q -b task/sample-greeting "$remote" after
if (cd before && "$py" -m pytest -q -p no:cacheprovider --junitxml=junit.xml >/dev/null); then
	fail "the sample's tests pass before the agent's change"
fi
grep -q 'failures="3"' before/junit.xml || fail "main: expected 3 failing tests: $(cat before/junit.xml)"
(cd after && "$py" -m pytest -q -p no:cacheprovider --junitxml=junit.xml >/dev/null) ||
	fail "the sample's tests fail after the agent's change"

# the service the deploy starts: 500 on main, the greeting on the task branch
serve_status() { # serve_status CLONE -> the HTTP status of / (the service is stopped again)
	port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	(cd "$1" && DEVSYS_DEPLOY_PORT=$port DEVSYS_DEPLOY_PIDFILE=$dir/serve.pid "$py" serve.py --background >/dev/null)
	"$py" - "$port" <<'PY'
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=10)
    print(r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print(e.code)
PY
	kill "$(cat "$dir/serve.pid")"
}
[ "$(serve_status before)" = 500 ] || fail "the sample's service does not answer 500 before the change"
[ "$(serve_status after)" = "200 <h1>Hello, world!</h1>" ] || fail "the sample's service does not greet after the change"
while [ -n "$(left_behind)" ] && [ "${waited:-0}" -lt 50 ]; do sleep 0.1; waited=$((${waited:-0} + 1)); done

# the deployed service was stopped
[ -z "$(left_behind)" ] || fail "processes left behind: $(left_behind)"

# ---- a second run reuses everything ----
rc=0
out=$("$devsys" run 2>&1) || rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "the second devsys run exited $rc"
echo "$out" | grep -q '^  validate  ok  *already-registered' || fail "the second run did not find the task"
echo "$out" | grep -q '^  pr        #1 ' || fail "the second run names another PR"
[ "$(git --git-dir="$remote" rev-parse refs/heads/task/sample-greeting)" = "$head" ] || fail "the branch moved"
[ "$(ls "$remote/devsys/prs" | grep -c '\.json$')" = 1 ] || fail "a second PR record: $(ls "$remote/devsys/prs")"

# ---- --json is one JSON object ----
"$devsys" --json run > run.json || fail "devsys --json run exited $?"
"$py" - run.json "$head" <<'PY' || fail "--json: $(cat run.json)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["task"] == "sample-greeting" and d["state"] == "awaiting-review" and d["ok"] is True, d
assert d["created"] is False and d["head_sha"] == sys.argv[2] and d["pr"]["number"] == 1, d
assert d["tests"]["passed"] == 3 and d["tests"]["failed"] == 0, d["tests"]
assert d["gate"]["decision"], d["gate"]
PY
[ -z "$(left_behind)" ] || fail "processes left behind: $(left_behind)"

# ---- the live view on a terminal; plain lines elsewhere ----
printf '%s' "$out" | grep -q "$(printf '\033')" && fail "escape sequences in output that is not a terminal"
if command -v script >/dev/null 2>&1; then
	mkdir tty
	(cd tty && script -qec "'$devsys' run" /dev/null) > tty.out 2>&1 || fail "devsys run on a terminal: $(cat tty.out)"
	grep -q "$(printf '\r\033\[K')  test " tty.out || fail "no live line for the test stage: $(cat -v tty.out)"
	grep -q '/3 tests' tty.out || fail "no test count on the live line: $(cat -v tty.out)"
	grep -q 'task      sample-greeting .*awaiting-review' tty.out || fail "no summary on the terminal"
	[ -z "$(left_behind)" ] || fail "processes left behind: $(left_behind)"
	# Ctrl-C on a terminal (the live view's ticker thread is running) cancels the stage: exit 130
	cat > tty/slow.yaml <<SPEC
id: slow-1
title: An agent that waits
prompt: Wait.
repo:
  url: "file://$dir/tty/.devsys/sample/remote.git"
  base_branch: main
agent:
  command: [/bin/sleep, "60"]
SPEC
	cat > tty/interrupt.sh <<'SH'
"$1" run slow.yaml & pid=$!
i=0
until grep -q '"agent"' .devsys/tasks/slow-1/task.json 2>/dev/null || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
echo "exit $?"
SH
	(cd tty && script -qec "sh interrupt.sh '$devsys'" /dev/null) > int.out 2>&1 || true
	grep -q '^exit 130' int.out || fail "Ctrl-C on a terminal did not end the run with 130: $(cat -v int.out)"
	grep -q 'agent .*canceled' int.out || fail "the agent stage was not canceled: $(cat -v int.out)"
	[ -z "$(left_behind)" ] || fail "processes left behind: $(left_behind)"
fi

# ---- a workspace whose sample remote is not one: a clear error, exit 3, nothing run ----
mkdir -p broken/.devsys/sample/remote.git
rc=0
out=$(cd broken && "$devsys" run 2>&1) || rc=$?
[ $rc -eq 3 ] || fail "a broken sample remote exited $rc: $out"
echo "$out" | grep -q "remote.git exists but is not a bare repository" || fail "no clear error: $out"
[ ! -e broken/.devsys/tasks/sample-greeting ] || fail "a task was registered on a broken sample"
echo ok
