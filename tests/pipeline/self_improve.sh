#!/bin/sh
# Self-improvement: specs/self-improve.yaml run by `devsys run` on a
# temporary clone of this project (the clone of the source tree's HEAD, its
# bare copy as the file:// remote), both ways:
#   - an agent that edits a file under lib/: the gate says critical, the
#     task rests in awaiting-review, the PR stays open;
#   - an agent that edits docs only: low; with a devsys.yaml whose policy
#     allows auto-merge and requires devsys/tests, the gate merges it (the
#     remote's main has the change); without a devsys.yaml it waits, with the
#     reason auto-merge-off;
# and the recursion guard: a `devsys run` inside the test stage's command is
# refused with its message, while the same script outside a pipeline runs.
#
# Fast mode replaces the spec's test command by one already-built unit-test
# binary of the suite's build tree (Criterion's own --xml JUnit), so nothing
# is built; scratch mode keeps the spec's command, which configures and builds
# the clone and runs its `unit` tier with ctest (the slow tier).
#
#   self_improve.sh fast|scratch DEVSYS_BINARY SOURCE_DIR [UNIT_TEST_BINARY]
set -eu
mode=$1 devsys=$2 src=$3 unit=${4:-}
py=/usr/bin/python3
skip() {
	echo "skipped: $1"
	[ "${CI:-}" = true ] && { echo "CI=true: failing instead"; exit 1; }
	exit 77
}
fail() { echo "FAIL: $*"; exit 1; }
command -v git >/dev/null 2>&1 || skip "git is missing"
"$py" -c 'import yaml' 2>/dev/null || skip "$py has no yaml module (python3-yaml)"
git -C "$src" rev-parse -q --verify HEAD >/dev/null 2>&1 || skip "$src is not a git work tree"
case $mode in
fast) [ -x "$unit" ] || fail "fast mode needs the unit-test binary, got '$unit'" ;;
scratch) command -v ctest >/dev/null 2>&1 || skip "ctest is missing" ;;
*) fail "mode must be fast or scratch, got '$mode'" ;;
esac
abs() { case $1 in /*) echo "$1" ;; '') ;; *) echo "$(pwd -P)/$1" ;; esac; }
devsys=$(abs "$devsys") src=$(abs "$src") unit=$(abs "$unit")

root=${DEVSYS_TEST_TMP:-${TMPDIR:-/tmp}}
mkdir -p "$root"
dir=$(mktemp -d "$root/dt-self-improve.XXXXXX")
dir=$(cd "$dir" && pwd -P)
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
unset DEVSYS_WORKSPACE DEVSYS_CONFIG
cd "$dir"

# ---- the project, cloned at HEAD, behind a bare remote ----
git clone -q --single-branch "$src" clone
git -C clone checkout -q -B main
git clone -q --bare clone remote.git
base=$(git --git-dir=remote.git rev-parse refs/heads/main)

# ---- the operator's side: agents, and a devsys.yaml that allows auto-merge ----
cat > agent-lib.sh <<'EOF'
#!/bin/sh
printf '/* a comment from the self-improvement test */\n' >> lib/core/errors.c
EOF
cat > agent-docs.sh <<'EOF'
#!/bin/sh
printf '\nA line from the self-improvement test.\n' >> docs/pipeline.md
EOF
# the test stage's command for the guard: a `devsys run` of the embedded
# sample in its own workspace; it says what happened and writes a JUnit
# report that fails unless the run was refused
cat > nested.sh <<EOF
#!/bin/sh
rc=0
DEVSYS_WORKSPACE='$dir/nested-ws' '$devsys' run > '$dir/nested.out' 2>&1 || rc=\$?
echo "rc=\$rc" >> '$dir/nested.out'
if [ \$rc -eq 2 ] && grep -q 'refused: DEVSYS_PIPELINE_DEPTH=1 ' '$dir/nested.out'; then
	body=''
else
	body='<failure message="not refused"/>'
fi
printf '<testsuites><testsuite name="nested"><testcase name="refused">%s</testcase></testsuite></testsuites>\n' "\$body" > "junit-\$DEVSYS_TASK_ID.xml"
EOF
chmod +x agent-lib.sh agent-docs.sh nested.sh
mkdir op
printf 'policy:\n  auto_merge: true\n  required_contexts: [devsys/tests]\n' > op/devsys.yaml

# spec ID AGENT [TESTS_COMMAND...]: the spec as shipped, with the operator's
# edits (id, repo.url, agent.command) and, given one, another test command
spec() {
	"$py" - "$src/specs/self-improve.yaml" "$dir" "$mode" "$unit" "$@" <<'PY'
import json, sys, yaml
path, d, mode, unit, tid, agent = sys.argv[1:7]
s = yaml.safe_load(open(path))
assert s["repo"]["url"].startswith("file://"), s["repo"]["url"]
assert s["tests"]["command"][:2] == ["ctest", "--build-and-test"], s["tests"]
s["id"] = tid
s["repo"]["url"] = "file://%s/remote.git" % d
s["agent"]["command"] = ["/bin/sh", "%s/%s" % (d, agent)]
if sys.argv[7:]:
    s["tests"]["command"] = sys.argv[7:]
    s["tests"]["junit"] = ["junit-%s.xml" % tid]
elif mode == "fast":
    s["tests"]["command"] = [unit, "--jobs", "1", "--xml=junit-%s.xml" % tid]
    s["tests"]["junit"] = ["junit-%s.xml" % tid]
json.dump(s, open("%s/%s.json" % (d, tid), "w"), indent=1)
PY
}

# run ID [devsys options]: devsys --json run of ID's spec; run.out has the
# JSON summary, logs/ the stages' logs on failure
run() {
	id=$1
	shift
	rc=0
	"$devsys" --json --workspace "$dir/ws" run "$@" "$dir/$id.json" > "$id.out" 2> "$id.err" || rc=$?
	[ $rc -eq 0 ] || {
		cat "$id.out" "$id.err"
		for f in "$dir/ws/tasks/$id/logs/"*.log; do echo "== $f"; tail -n 30 "$f"; done
		fail "$id: devsys run exited $rc"
	}
}

# check ID STATE CLASS PR_STATE [REASON]: the summary, task.json and the
# local PR record agree
check() {
	"$py" - "$dir" "$@" <<'PY' || fail "$1: $(cat "$1.out")"
import json, sys
d, tid, state, cls, pr_state = sys.argv[1:6]
reason = sys.argv[6] if len(sys.argv) > 6 else None
out = json.load(open("%s/%s.out" % (d, tid)))
assert out["task"] == tid and out["state"] == state, (out["state"], state)
assert out["tests"]["failed"] == 0 and out["tests"]["passed"] > 0, out["tests"]
t = json.load(open("%s/ws/tasks/%s/task.json" % (d, tid)))
g = t["gate"]
assert g["class"] == cls, g
assert g["outcome"] == ("merged" if state == "done" else "awaiting-review"), g["outcome"]
assert t["state"] == state, t["state"]
codes = [r.get("code") for r in g.get("reasons", [])]
if reason:
    assert reason in codes, codes
pr = json.load(open("%s/remote.git/devsys/prs/%d.json" % (d, g["pr"])))
assert pr["state"] == pr_state, pr["state"]
assert pr["head"] == "task/" + tid or pr.get("head", {}).get("ref") == "task/" + tid, pr
print("%s: %s, class %s, PR #%d %s, reasons %s" % (tid, state, cls, g["pr"], pr_state, codes))
PY
}

start=$(date +%s)

# ---- the default globs: lib/, src/ and the policy critical, docs low ----
(cd op && "$devsys" gate explain lib/core/errors.c src/devsys/cmd_run.c devsys.yaml docs/pipeline.md) > explain.out ||
	fail "devsys gate explain: $(cat explain.out)"
for line in 'lib/core/errors.c: critical (lib/\*\*, default)' 'src/devsys/cmd_run.c: critical (src/\*\*, default)' \
	'devsys.yaml: critical (devsys.yaml, default)' 'docs/pipeline.md: low (docs/\*\*, default)'; do
	grep -qx "$line" explain.out || fail "gate explain lacks '$line': $(cat explain.out)"
done

# ---- a change under lib/: critical, waits for review even under auto-merge ----
spec si-lib agent-lib.sh
run si-lib --config "$dir/op/devsys.yaml"
check si-lib awaiting-review critical open needs-approval
git --git-dir=remote.git diff --name-only main task/si-lib | grep -qx lib/core/errors.c || fail "si-lib: lib/core/errors.c unchanged"
[ "$(git --git-dir=remote.git rev-parse refs/heads/main)" = "$base" ] || fail "si-lib: main moved"

# ---- docs only, no devsys.yaml: low, but auto-merge is off, so it waits ----
# (only the policy differs from the next case: scratch mode does not build for it again)
if [ "$mode" = fast ]; then
	spec si-docs-off agent-docs.sh
	run si-docs-off
	check si-docs-off awaiting-review low open auto-merge-off
	[ "$(git --git-dir=remote.git rev-parse refs/heads/main)" = "$base" ] || fail "si-docs-off: main moved"
fi

# ---- docs only, auto-merge allowed, devsys/tests green: merged ----
spec si-docs agent-docs.sh
run si-docs --config "$dir/op/devsys.yaml"
check si-docs done low merged
git --git-dir=remote.git merge-base --is-ancestor task/si-docs main || fail "si-docs: main does not have the change"
git --git-dir=remote.git show main:docs/pipeline.md | grep -q 'A line from the self-improvement test' ||
	fail "si-docs: main's docs/pipeline.md lacks the change"
git --git-dir=remote.git diff --quiet "$base" main -- lib src include || fail "si-docs: the merge touched code"

# ---- the recursion guard ----
# outside a pipeline, the guard's script runs devsys (positive control)
if "$py" -m pytest --version >/dev/null 2>&1; then
	(cd clone && DEVSYS_PIPELINE_DEPTH= ../nested.sh)
	grep -q '^rc=0$' nested.out || fail "outside a pipeline, devsys run did not run: $(cat nested.out)"
	grep -q 'sample-greeting' nested.out || fail "outside a pipeline, no sample task: $(cat nested.out)"
	rm -rf nested-ws nested.out clone/junit-*.xml
else
	echo "note: $py has no pytest: the positive control runs only the refusal with DEVSYS_PIPELINE_DEPTH=0"
	DEVSYS_PIPELINE_DEPTH=0 "$devsys" --workspace "$dir/nested-ws" run /nonexistent.yaml > nested.out 2>&1 || true
	grep -q 'refused' nested.out && fail "DEVSYS_PIPELINE_DEPTH=0 was refused: $(cat nested.out)"
	rm -rf nested-ws nested.out
fi
# inside the test stage's command, it is refused, and says why
spec si-nested agent-docs.sh /bin/sh "$dir/nested.sh"
run si-nested
cat nested.out
grep -q '^rc=2$' nested.out || fail "the nested devsys run was not refused with exit 2"
grep -q 'devsys: run: refused: DEVSYS_PIPELINE_DEPTH=1 says this runs inside a command of a devsys pipeline' nested.out ||
	fail "the refusal lacks its message"
[ ! -e nested-ws/tasks ] || fail "the refused run registered a task: $(ls nested-ws/tasks)"
"$py" - "$dir/si-nested.out" <<'PY' || fail "si-nested: $(cat si-nested.out)"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["tests"]["passed"] == 1 and out["tests"]["failed"] == 0, out["tests"]
PY
# set by hand, the guard refuses too (and in --json, as a JSON error)
rc=0
DEVSYS_PIPELINE_DEPTH=3 "$devsys" --json --workspace "$dir/nested-ws" run > guard.json 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "DEVSYS_PIPELINE_DEPTH=3: exit $rc: $(cat guard.json)"
"$py" -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert "DEVSYS_PIPELINE_DEPTH=3" in e["message"], e' guard.json ||
	fail "no JSON error: $(cat guard.json)"

echo "ok ($mode, $(($(date +%s) - start)) s for the runs)"
