#!/bin/sh
# Agent benchmark (bench/agent/bench_agent.c):
#  1. the opencode adapter over LINES recorded event lines (bench/agent/recorded.jsonl, a real
#     opencode 1.18.33 run's transcript, repeated) against `jq -c .` over the same file, in the
#     same run, both reading the file (jq spawned with it as stdin, no shell), best of ROUNDS;
#  2. the time from the agent's exit to the commit, TASKS tasks through the pipeline's coding
#     stages on the sample repository (examples/sample-repo) with a stand-in opencode that prints
#     the recorded events, implements greeting() and stamps its exit time.
# Usage: bench/agent/run.sh BUILD_DIR [LINES] [ROUNDS] [TASKS]
set -eu
build=${1:?usage: run.sh BUILD_DIR [LINES] [ROUNDS] [TASKS]}
lines=${2:-100000}
rounds=${3:-5}
tasks=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin="$build/bench/agent/bench_agent"
[ -x "$bin" ] || { echo "missing $bin: build the project first" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is not installed (the anchor)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/devsys-bench-agent.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. LINES event lines: the recording, cycled
awk -v n="$lines" '{ l[NR] = $0 } END { for (i = 0; i < n; i++) print l[i % NR + 1] }' \
  "$here/recorded.jsonl" > "$work/events.jsonl"
echo "== the adapter's parser vs jq -c . ($(wc -l < "$work/events.jsonl") lines, $(wc -c < "$work/events.jsonl") bytes)"
"$bin" parse "$work/events.jsonl" "$rounds"

# 2. the sample repository behind a bare remote, and a stand-in opencode
git init -q -b main "$work/seed"
cp -R "$src/examples/sample-repo/." "$work/seed/"
git -C "$work/seed" add -A
git -C "$work/seed" -c user.email=b@e -c user.name=bench commit -qm sample
git clone -q --bare "$work/seed" "$work/remote.git"
cat > "$work/opencode" <<SH
#!/bin/sh
[ "\$1" = --version ] && { echo 1.18.33; exit 0; }
cat '$here/recorded.jsonl'
sed -i 's/^    raise NotImplementedError.*/    return "Hello, %s!" % name/' greeting.py
date +%s%N > "\$HOME/exit-ns"
SH
chmod +x "$work/opencode"
cat > "$work/devsys.yaml" <<YAML
agents:
  opencode:
    kind: opencode
    provider: fake
    base_url: http://127.0.0.1:9/v1
    models: fake-model
    command: $work/opencode
YAML
echo "== the agent's exit to the commit ($tasks tasks, sample repository)"
"$bin" commit "$work" "$tasks"
