#!/bin/sh
# Crash safety of `devsys run`, with the real binary on the embedded default.
#
# 1. kill -9 at random points: `devsys run` is killed at a random moment of
#    its run (0 .. the length of an uninterrupted run), then (every other
#    time) a `devsys run --resume` killed at a random moment too, then one
#    that must complete the task. Then: exactly one commit on the task branch of the remote, at
#    most one PR record, `devsys check` reports no drift, and no process of
#    the task is left (agent, tests, service).
# 2. `devsys cancel` during each long stage (agent, test, deploy): the stage
#    and the task end canceled and the stage's command is gone.
# 3. With DEVSYSD (the second argument): devsysd's POST /api/tasks/<id>/cancel
#    during the agent stage answers 202, and the run ends canceled.
#
# Iterations: $DEVSYS_KILL9_ITERATIONS (10; the slow tier runs 50). The seed
# of each iteration is printed, so a failing one can be run again with
# DEVSYS_KILL9_SEED. Exit 77 (skip) without git or pytest, unless CI=true.
set -eu
devsys=$1
devsysd=${2:-}
iterations=${DEVSYS_KILL9_ITERATIONS:-10}
task=sample-greeting

skip() {
	[ "${CI:-}" = true ] && { echo "skipped: $1 (CI=true: failing)"; exit 1; }
	echo "skipped: $1"
	exit 77
}
command -v git >/dev/null 2>&1 || skip "git is missing"
/usr/bin/python3 -c 'import pytest' 2>/dev/null || skip "the embedded default's tests need /usr/bin/python3 with pytest"

root=$(mktemp -d "${TMPDIR:-/tmp}/dt-kill9.XXXXXX")
cd /
# Processes of this test: every command the pipeline starts carries paths
# under $root in its environment (DEVSYS_CHECKOUT, DEVSYS_TASK_FILE,
# DEVSYS_DEPLOY_PIDFILE) or runs in a directory under it.
leftovers() {
	/usr/bin/python3 - "$root" $$ <<'PY'
import os, sys
root, me = sys.argv[1].encode(), sys.argv[2]
for p in os.listdir("/proc"):
    if not p.isdigit() or p == me:
        continue
    try:
        with open("/proc/%s/status" % p) as f:
            state = [l.split()[1] for l in f if l.startswith("State:")][0]
        if state == "Z":
            continue  # gone, not yet reaped
        env = open("/proc/%s/environ" % p, "rb").read()
        cwd = os.readlink("/proc/%s/cwd" % p).encode()
        if root in env or cwd.startswith(root):
            print(p, open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ").decode(errors="replace"))
    except (OSError, IndexError):
        pass
PY
}
daemon=
cleanup() {
	[ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; }
	for p in $(leftovers | cut -d' ' -f1); do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$root"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}

now_ms() { date +%s%3N; }

# Poll until no process of the task is left (SIGKILLed ones take a moment to go).
assert_no_leftovers() {
	until=$(( $(now_ms) + 5000 ))
	while [ -n "$(leftovers)" ]; do
		[ "$(now_ms)" -lt "$until" ] || fail "$1: processes left behind: $(leftovers)"
		sleep 0.05
	done
}

# What `devsys check` reports, as sorted "kind" lines.
drift_kinds() {
	"$devsys" --workspace "$1" --json check | /usr/bin/python3 -c '
import json, sys
print("\n".join(sorted(d["kind"] for d in json.load(sys.stdin)["drift"])))'
}

state_of() {
	"$devsys" --workspace "$1" --json show "$2" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["store"]["state"])' 2>/dev/null || true
}

# ---- the positive control: an uninterrupted run ----
t0=$(now_ms)
"$devsys" --workspace "$root/ws0" run > "$root/ws0.log" 2>&1 || { cat "$root/ws0.log"; fail "an uninterrupted run failed"; }
span=$(( $(now_ms) - t0 ))
[ "$(state_of "$root/ws0" $task)" = awaiting-review ] || fail "the uninterrupted run did not reach awaiting-review"
control_drift=$(drift_kinds "$root/ws0")
[ -z "$control_drift" ] || fail "an uninterrupted run: devsys check reports $control_drift"
assert_no_leftovers "the uninterrupted run"
echo "an uninterrupted run takes ${span} ms"

# A random delay in [0, span] ms from seed $1.
delay_ms() {
	awk -v s="$1" -v n="$span" 'BEGIN { srand(s); printf "%d\n", rand() * n }'
}

# Start `devsys run ARGS...` and kill -9 it after $1 ms (if it still runs).
run_killed() {
	ms=$1
	shift
	"$devsys" --workspace "$ws" "$@" >> "$ws.log" 2>&1 &
	pid=$!
	sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f\n", m / 1000 }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# The command that goes on with the task: --resume once it is registered;
# a task killed before its validate stage ended is registered by a new run.
go_on() {
	reg=$("$devsys" --workspace "$ws" --json show $task 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)["store"]
print("no" if s["state"] == "created" or (s["state"] == "interrupted" and s["last_stage"] == "validate") else "yes")' \
		2>/dev/null || echo no)
	if [ "$reg" = yes ]; then
		echo "run --resume $task"
	else
		echo run
	fi
}

base_seed=${DEVSYS_KILL9_SEED:-$$}
i=1
while [ "$i" -le "$iterations" ]; do
	seed=$((base_seed + i))
	ws="$root/ws$i"
	echo "iteration $i (seed $seed)"
	run_killed "$(delay_ms "$seed")" run
	echo "  killed; the task is: $(state_of "$ws" $task || true)"
	# at times a resume killed at random too, then one that must complete the task
	kills=$((seed % 2))
	k=1
	while [ "$k" -le "$kills" ]; do
		# shellcheck disable=SC2046
		run_killed "$(delay_ms $((seed * 7 + k)))" $(go_on)
		k=$((k + 1))
	done
	# shellcheck disable=SC2046
	"$devsys" --workspace "$ws" $(go_on) >> "$ws.log" 2>&1 ||
		{ tail -40 "$ws.log"; fail "iteration $i (seed $seed): the resumed run failed"; }
	[ "$(state_of "$ws" $task)" = awaiting-review ] || { tail -40 "$ws.log"; fail "iteration $i: state $(state_of "$ws" $task)"; }
	remote="$ws/sample/remote.git"
	n=$(git --git-dir="$remote" rev-list --count main..refs/heads/task/$task)
	[ "$n" = 1 ] || { git --git-dir="$remote" log --oneline main..refs/heads/task/$task; fail "iteration $i (seed $seed): $n commits on task/$task"; }
	prs=$(find "$remote/devsys/prs" -name '*.json' 2>/dev/null | wc -l)
	[ "$prs" -le 1 ] || fail "iteration $i (seed $seed): $prs PR records"
	[ "$prs" = 1 ] || fail "iteration $i (seed $seed): no PR record"
	drift=$(drift_kinds "$ws")
	[ -z "$drift" ] || fail "iteration $i (seed $seed): devsys check reports $drift"
	assert_no_leftovers "iteration $i (seed $seed)"
	i=$((i + 1))
done
echo "kill -9 loop: $iterations iterations, one commit and one PR each, no drift, nothing left"

# ---- cancel during each long stage ----
git init -q --bare -b main "$root/remote.git"
git clone -q "$root/remote.git" "$root/seed" 2>/dev/null
(cd "$root/seed" && git config user.email t@e && git config user.name t && echo hello > README &&
	git add README && git commit -qm init && git push -q origin main)

# spec ID AGENT TESTS DEPLOY: the slow command is `sleep 120` (canceled long before)
spec() {
	cat > "$root/$1.yaml" <<SPEC
id: $1
title: Cancel during a long stage
prompt: Append a line to README.
repo:
  url: file://$root/remote.git
  base_branch: main
agent:
  command: [/bin/sh, -c, "$2"]
tests:
  command: [/bin/sh, -c, "$3"]
deploy:
  command: [/bin/sh, -c, "$4"]
  acceptance:
    - name: the deploy ran
      command: [/bin/true]
runner: inproc
SPEC
}

stage_started() { # ws id stage: the stage began and has no result yet
	/usr/bin/python3 - "$1/tasks/$2/task.json" "$3" <<'PY' 2>/dev/null
import json, sys
try:
    s = json.load(open(sys.argv[1])).get("stages", {}).get(sys.argv[2])
except Exception:
    sys.exit(1)
sys.exit(0 if s is not None and not s.get("result") else 1)
PY
}

stage_result() {
	/usr/bin/python3 - "$1/tasks/$2/task.json" "$3" <<'PY'
import json, sys
print(json.load(open(sys.argv[1]))["stages"][sys.argv[2]].get("result", ""))
PY
}

ws="$root/wsc"
change='echo changed >> README'
for stage in agent test deploy; do
	case $stage in
	agent) spec cancel-$stage "sleep 120" true true ;;
	test) spec cancel-$stage "$change" "sleep 120" true ;;
	deploy) spec cancel-$stage "$change" true "sleep 120" ;;
	esac
	"$devsys" --workspace "$ws" run "$root/cancel-$stage.yaml" > "$root/cancel-$stage.log" 2>&1 &
	pid=$!
	until=$(( $(now_ms) + 60000 ))
	until stage_started "$ws" cancel-$stage $stage; do
		kill -0 "$pid" 2>/dev/null || { cat "$root/cancel-$stage.log"; fail "the run ended before the $stage stage"; }
		[ "$(now_ms)" -lt "$until" ] || fail "the $stage stage did not begin within 60 s"
		sleep 0.05
	done
	[ -n "$(leftovers)" ] || fail "positive control: the $stage stage's command is not seen running"
	out=$("$devsys" --workspace "$ws" cancel --wait 30 cancel-$stage) || fail "devsys cancel during $stage: $out"
	echo "$out"
	echo "$out" | grep -q "canceled (its process stopped the running stage)" || fail "cancel during $stage: $out"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 130 ] || { cat "$root/cancel-$stage.log"; fail "devsys run exited $rc after a cancel during $stage (130 expected)"; }
	[ "$(state_of "$ws" cancel-$stage)" = canceled ] || fail "cancel during $stage: the task is $(state_of "$ws" cancel-$stage)"
	[ "$(stage_result "$ws" cancel-$stage $stage)" = canceled ] || fail "cancel during $stage: the stage ended $(stage_result "$ws" cancel-$stage $stage)"
	assert_no_leftovers "cancel during $stage"
	echo "cancel during $stage: the stage and the task ended canceled, nothing left"
done
# kill -9 during a deploy that started a service, then cancel: no process runs the task, so
# the cancel is direct, and the deploy command and its service (setsid) left behind are killed
spec cancel-killed "$change" true 'setsid sleep 300 & echo $! > \"$DEVSYS_DEPLOY_PIDFILE\"; sleep 120'
"$devsys" --workspace "$ws" run "$root/cancel-killed.yaml" > "$root/cancel-killed.log" 2>&1 &
pid=$!
until=$(( $(now_ms) + 60000 ))
until stage_started "$ws" cancel-killed deploy && [ -s "$ws/tasks/cancel-killed/deploy.pid" ]; do
	kill -0 "$pid" 2>/dev/null || { cat "$root/cancel-killed.log"; fail "the run ended before the deploy stage"; }
	[ "$(now_ms)" -lt "$until" ] || fail "the deploy did not start its service within 60 s"
	sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ "$(leftovers | wc -l)" -ge 2 ] || fail "positive control: the deploy command and its service outlive the killed run: $(leftovers)"
out=$("$devsys" --workspace "$ws" cancel cancel-killed) || fail "devsys cancel after kill -9: $out"
echo "$out" | grep -q "canceled (no process was running it)" || fail "cancel after kill -9: $out"
[ "$(state_of "$ws" cancel-killed)" = canceled ] || fail "cancel after kill -9: the task is $(state_of "$ws" cancel-killed)"
assert_no_leftovers "cancel after kill -9 during deploy"
echo "cancel after kill -9 during deploy: canceled at once, the deploy command and its service are gone"

# ---- devsysd's cancel endpoint ----
if [ -n "$devsysd" ]; then
	command -v curl >/dev/null 2>&1 || skip "curl is missing (devsysd's cancel endpoint)"
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	token=kill9-test-token-$$-0123456789
	DEVSYSD_TOKEN=$token "$devsysd" --workspace "$ws" --port "$port" > "$root/devsysd.log" 2>&1 &
	daemon=$!
	until=$(( $(now_ms) + 30000 ))
	until curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; do
		kill -0 "$daemon" 2>/dev/null || { cat "$root/devsysd.log"; fail "devsysd did not start"; }
		[ "$(now_ms)" -lt "$until" ] || fail "devsysd did not listen within 30 s"
		sleep 0.05
	done
	spec cancel-http "sleep 120" true true
	"$devsys" --workspace "$ws" run "$root/cancel-http.yaml" > "$root/cancel-http.log" 2>&1 &
	pid=$!
	until=$(( $(now_ms) + 60000 ))
	until stage_started "$ws" cancel-http agent; do
		kill -0 "$pid" 2>/dev/null || { cat "$root/cancel-http.log"; fail "the run ended before the agent stage"; }
		[ "$(now_ms)" -lt "$until" ] || fail "the agent stage did not begin within 60 s"
		sleep 0.05
	done
	out=$(curl -s -X POST -H "Authorization: Bearer $token" -w ' %{http_code}' "http://127.0.0.1:$port/api/tasks/cancel-http/cancel")
	echo "$out"
	case $out in *'"canceling":true'*' 202') ;; *) fail "POST cancel while the agent runs: $out (202 expected)" ;; esac
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 130 ] || { cat "$root/cancel-http.log"; fail "devsys run exited $rc after POST cancel (130 expected)"; }
	[ "$(stage_result "$ws" cancel-http agent)" = canceled ] || fail "POST cancel: the agent stage ended $(stage_result "$ws" cancel-http agent)"
	out=$(curl -s -X POST -H "Authorization: Bearer $token" -w ' %{http_code}' "http://127.0.0.1:$port/api/tasks/cancel-http/cancel")
	case $out in *' 409') ;; *) fail "a second POST cancel: $out (409 expected)" ;; esac
	assert_no_leftovers "POST cancel during agent"
	kill "$daemon"
	wait "$daemon" 2>/dev/null || true
	daemon=
	echo "devsysd: POST cancel during the agent answered 202, the run ended canceled"
fi
echo ok
