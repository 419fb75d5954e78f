#!/bin/sh
# Run the pipeline examples as an embedder runs them, on a file:// bare
# repository this script makes, with a script agent and a shell test command
# that writes JUnit. One scenario per ctest entry:
#   validate EXAMPLE_DIR  example_validate: a refused spec registers nothing, a good one is registered
#   steps EXAMPLE_DIR     example_pipeline, example_open_pr and example_run_tests: a task stopped at pr
#                         and at test is resumed one stage at a time, then run to the gate
#   lint EXAMPLE_DIR      example_lint_stage: findings fail the task before push; a clean change passes
# Exit 77 (skip) without git, unless CI=true.
set -eu
scenario=$1
bin=$2
if ! command -v git >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "git is missing (CI=true: failing)"; exit 1; }
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/dt-examples.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
git init -q --bare -b main remote.git
git clone -q remote.git seed 2>/dev/null
(cd seed && git config user.email t@e && git config user.name t && echo hello > README &&
	git add README && git commit -qm init && git push -q origin main)
# the tests pass once $dir/green exists (the "fix" of a red run)
cat > tests.sh <<EOF
mkdir -p reports
if [ -e '$dir/green' ] && grep -q 'from the agent' README; then
	printf '<testsuite name="readme" tests="1" failures="0"><testcase classname="readme" name="has_the_line"/></testsuite>\n' > reports/junit.xml
else
	printf '<testsuite name="readme" tests="1" failures="1"><testcase classname="readme" name="has_the_line"><failure message="red"/></testcase></testsuite>\n' > reports/junit.xml
	exit 1
fi
EOF

# spec ID AGENT_LINE: a task whose agent appends AGENT_LINE to README
spec() {
	printf '%s\n' "$2" > "agent-$1.txt"
	cat > "$1.yaml" <<EOF
id: $1
title: The examples' task $1
prompt: Append a line to README.
repo:
  url: file://$dir/remote.git
  base_branch: main
agent:
  command: [/bin/sh, -c, 'cat $dir/agent-$1.txt >> README']
tests:
  command: [/bin/sh, $dir/tests.sh]
  junit: [reports/junit.xml]
runner: inproc
EOF
}
state() { grep "^task $1: " out.txt | sed "s/^task $1: //"; }
has() { grep -q -- "$1" out.txt || { echo "expected a line matching '$1'"; exit 1; }; }
run() { # run EXPECTED_EXIT EXAMPLE ARGS...: keep the output in out.txt
	want=$1
	shift
	set +e
	"$bin/$@" > out.txt 2>&1
	got=$?
	set -e
	echo "\$ $*  (exit $got)"
	cat out.txt
	[ "$got" = "$want" ] || { echo "expected exit $want"; exit 1; }
}

case $scenario in
validate)
	printf 'id: ex-bad\ntitle: No prompt, no repo\n' > bad.yaml
	run 1 example_validate ws bad.yaml
	has '^validate failed spec-refused'
	has '^  .*prompt'
	[ ! -e ws/tasks/ex-bad ] || { echo "a refused spec was registered"; exit 1; }
	spec ex-1 'from the agent'
	run 0 example_validate ws ex-1.yaml
	has '^validate ok *validated'
	[ "$(state ex-1)" = validated ]
	[ -f ws/tasks/ex-1/spec.yaml ]
	run 0 example_validate ws ex-1.yaml
	has '^validate ok *already-registered'
	;;
steps)
	spec ex-2 'from the agent'
	# the stage the task needs first is named
	run 0 example_validate ws ex-2.yaml
	run 1 example_run_tests ws ex-2
	has 'stage test cannot run now (the next stage is checkout)'
	# a file where the local forge keeps its PR records: the pr stage fails
	: > remote.git/devsys
	run 1 example_pipeline ws ex-2.yaml
	has '^push *ok *pushed'
	has '^pr *failed .*class=system'
	[ "$(state ex-2)" = failed ]
	rm remote.git/devsys
	run 0 example_open_pr ws ex-2
	has '^pr *ok *pr-opened'
	[ "$(state ex-2)" = pr-opened ]
	ls remote.git/devsys/prs/*.json >/dev/null
	# red tests: the task fails in test, then passes once fixed
	run 1 example_run_tests ws ex-2
	has '^test *failed .*class=build'
	[ "$(state ex-2)" = failed ]
	: > green
	run 0 example_run_tests ws ex-2
	has '^test *ok'
	has '^  tests: 1 of 1'
	[ "$(state ex-2)" = tested ]
	[ -f ws/tasks/ex-2/reports/latest ]
	# the rest of the pipeline from where the task stands; the agent is not run again
	before=$(git --git-dir=remote.git rev-parse task/ex-2)
	run 0 example_pipeline ws ex-2.yaml
	has '^validate ok *already-registered'
	has '^gate *ok'
	if grep -q '^agent' out.txt; then echo "the agent ran again"; exit 1; fi
	case $(state ex-2) in awaiting-review | merged | done) ;; *) echo "not at rest: $(state ex-2)"; exit 1 ;; esac
	[ "$(git --git-dir=remote.git rev-parse task/ex-2)" = "$before" ]
	;;
lint)
	: > green
	spec ex-lint 'from the agent, TODO: finish'
	run 1 example_lint_stage ws ex-lint.yaml
	has '^commit *ok'
	has '^lint *failed *lint-found-problems class=build'
	has 'README:.*TODO: finish'
	[ "$(state ex-lint)" = failed ]
	if git --git-dir=remote.git rev-parse -q --verify refs/heads/task/ex-lint >/dev/null; then
		echo "a change with findings was pushed"
		exit 1
	fi
	grep -q 'TODO: finish' ws/tasks/ex-lint/logs/lint.log
	grep -q '"stage":"lint","result":"failed","failure_class":"build"' ws/tasks/ex-lint/events.jsonl
	# positive control: a clean change passes lint and goes on to push and beyond
	spec ex-clean 'from the agent'
	run 0 example_lint_stage ws ex-clean.yaml
	has '^lint *ok *lint-clean'
	has '^push *ok *pushed'
	git --git-dir=remote.git show task/ex-clean:README | grep -q 'from the agent'
	;;
*)
	echo "unknown scenario '$scenario'"
	exit 2
	;;
esac
echo ok
