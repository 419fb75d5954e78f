#!/bin/sh
# Usage: bench/pipeline/queued.sh BUILD_DIR [TASKS] [JOBS]
# The embedded default (specs/sample.yaml on the sample repository, as `devsys
# run` without a spec makes it), TASKS times (default 100) under task ids of
# their own: `devsys submit` queues them, `devsys worker --jobs JOBS --once`
# (default 2) runs every stage of each (checkout, the sample agent, commit,
# push, the local PR, pytest with JUnit, the deploy of serve.py and its HTTP
# acceptance check, verify, gate) and exits when the queue is empty.
# Anchor, in the same run: a script doing the same commands for each task with
# the command-line tools, JOBS at a time (xargs -P), each git and python
# spawned directly as a script would:
#   git clone -q file://SAMPLE/remote.git DIR; python3 agent.py (the same agent)
#   git add -A; git commit -q; git push -q origin HEAD:task/N
#   python3 -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml
#   python3 serve.py --background on a free port; curl until it answers
#   "Hello, world!"; kill the service
# Prints tasks per minute for both and their ratio, and the worker's peak
# memory: its own high-water mark (VmHWM) and the largest sampled sum of the
# resident sets of it and every process under it (target < 200 MiB).
set -eu
build=${1:?usage: queued.sh BUILD_DIR [TASKS] [JOBS]}
tasks=${2:-100}
jobs=${3:-2}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
devsys="$build/src/devsys/devsys"
[ -x "$devsys" ] || { echo "missing $devsys: build the project first" >&2; exit 2; }
cd /
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-queued-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ws="$tmp/ws"
now() { /usr/bin/python3 -c 'import time; print(time.monotonic())'; }

# the sample repository, made by `devsys run` itself (one task; not timed as part of the figures)
"$devsys" --workspace "$ws" run > "$tmp/first.out" 2>&1 || { cat "$tmp/first.out" >&2; exit 1; }
sample="$ws/sample"
[ -d "$sample/remote.git" ] || { echo "no sample repository in $sample" >&2; exit 1; }

# TASKS documents: the embedded spec with {sample} filled in and ids q-1..q-TASKS
i=1
while [ "$i" -le "$tasks" ]; do
	echo "---"
	sed -e "s|{sample}|$sample|g" -e "s|^id: sample-greeting\$|id: q-$i|" "$src/specs/sample.yaml"
	i=$((i + 1))
done > "$tmp/queued.yaml"
[ "$(grep -c '^id: q-' "$tmp/queued.yaml")" = "$tasks" ] || { echo "the spec's id line did not match" >&2; exit 1; }

t0=$(now)
"$devsys" --workspace "$ws" submit "$tmp/queued.yaml" > "$tmp/submit.out" 2>&1 || { cat "$tmp/submit.out" >&2; exit 1; }
t1=$(now)

# the worker, its peak memory sampled from /proc while it runs
/usr/bin/python3 - "$devsys" "$ws" "$jobs" "$tmp/worker.out" "$tmp/worker.mem" <<'EOF'
import os, subprocess, sys, time
devsys, ws, jobs, log, mem = sys.argv[1:6]

def children():
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                kids.setdefault(int(fields[1]), []).append(int(p))
            except OSError:
                pass
    return kids

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

with open(log, "w") as out:
    p = subprocess.Popen([devsys, "--workspace", ws, "worker", "--jobs", jobs, "--once"], stdout=out,
                         stderr=subprocess.STDOUT)
t0 = time.monotonic()
hwm = tree = 0
while p.poll() is None:
    kids, todo, total = children(), [p.pid], 0
    while todo:
        pid = todo.pop()
        total += rss_kib(pid)
        todo.extend(kids.get(pid, []))
    tree = max(tree, total)
    hwm = max(hwm, hwm_kib(p.pid))
    time.sleep(0.1)
wall = time.monotonic() - t0
with open(mem, "w") as f:
    f.write(f"{wall} {hwm} {tree} {p.returncode}\n")
EOF
read -r dwall hwm tree wrc < "$tmp/worker.mem"
[ "$wrc" = 0 ] || { echo "the worker exited $wrc" >&2; tail -20 "$tmp/worker.out" >&2; exit 1; }
rested=$("$devsys" --workspace "$ws" --json tasks --limit 1000 2>/dev/null | /usr/bin/python3 -c "
import json, sys
print(sum(1 for t in json.load(sys.stdin)['tasks'] if t['id'].startswith('q-') and t['state'] == 'awaiting-review'))")
[ "$rested" = "$tasks" ] || { echo "only $rested of $tasks tasks reached awaiting-review" >&2; tail -20 "$tmp/worker.out" >&2; exit 1; }

# the anchor: the same commands per task with the command-line tools. The
# worker's pushes (libgit2 to a file:// remote) never run the remote's
# `git gc --auto`; git push's receive-pack would, over the objects the
# worker's tasks left there, so it is turned off for the anchor too.
git -C "$sample/remote.git" config receive.autogc false
cat > "$tmp/anchor-task.sh" <<EOF
set -eu
n=\$1
d="$tmp/anchor/t\$n"
git clone -q "file://$sample/remote.git" "\$d"
cd "\$d"
/usr/bin/python3 "$sample/agent.py" > /dev/null
git add -A
git -c user.name=bench -c user.email=bench@test commit -q -m "task \$n"
git push -q origin HEAD:refs/heads/anchor/\$n
/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml > /dev/null
port=\$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DEVSYS_DEPLOY_PORT=\$port DEVSYS_DEPLOY_PIDFILE="\$d/service.pid" /usr/bin/python3 serve.py --background > /dev/null
i=0
until curl -fsS "http://127.0.0.1:\$port/" 2>/dev/null | grep -q "Hello, world!"; do
	i=\$((i + 1))
	[ \$i -lt 1500 ] || { echo "task \$n: the service never answered" >&2; kill "\$(cat "\$d/service.pid")"; exit 1; }
	sleep 0.02
done
kill "\$(cat "\$d/service.pid")"
EOF
mkdir "$tmp/anchor"
t2=$(now)
seq 1 "$tasks" | xargs -P "$jobs" -n 1 sh "$tmp/anchor-task.sh"
t3=$(now)

/usr/bin/python3 - "$tasks" "$jobs" "$dwall" "$t0" "$t1" "$t2" "$t3" "$hwm" "$tree" <<'EOF'
import sys
tasks, jobs = int(sys.argv[1]), int(sys.argv[2])
dwall, t0, t1, t2, t3 = map(float, sys.argv[3:8])
hwm, tree = int(sys.argv[8]), int(sys.argv[9])
d_tpm, a_tpm = tasks / dwall * 60, tasks / (t3 - t2) * 60
print(f"{tasks} queued tasks of the embedded default, --jobs {jobs}")
print(f"  devsys submit: {t1 - t0:.1f} s for {tasks} documents (validated and queued)")
print(f"  devsys worker --jobs {jobs} --once: {dwall:.1f} s, {d_tpm:.1f} tasks/min")
print(f"  anchor (the same commands by script, {jobs} at a time): {t3 - t2:.1f} s, {a_tpm:.1f} tasks/min")
print(f"  ratio (devsys time / anchor time): {(dwall) / (t3 - t2):.2f}x")
print(f"  peak memory: the worker {hwm / 1024:.1f} MiB (VmHWM); the worker and everything under it "
      f"{tree / 1024:.1f} MiB (largest sampled sum of resident sets); target < 200 MiB")
EOF
