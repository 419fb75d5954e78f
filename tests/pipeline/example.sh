#!/bin/sh
# Run examples/pipeline.c on a file:// bare repository with a script agent
# that appends a line: the task must end "pushed" with the line on the
# remote's task branch. Exit 77 (skip) without git, unless CI=true.
set -eu
example=$1
if ! command -v git >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "git is missing (CI=true: failing)"; exit 1; }
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/dt-pipeline-example.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
git init -q --bare -b main remote.git
git clone -q remote.git seed 2>/dev/null
(cd seed && git config user.email t@e && git config user.name t && echo hello > README &&
	git add README && git commit -qm init && git push -q origin main)
printf 'echo from the example agent >> README\n' > agent.sh
cat > spec.yaml <<SPEC
id: example-1
title: The example's task
prompt: Append a line to README.
repo:
  url: file://$dir/remote.git
  base_branch: main
agent:
  command: [/bin/sh, $dir/agent.sh]
tests:
  command: [make, check]
runner: inproc
SPEC
out=$("$example" "$dir/ws" spec.yaml)
echo "$out"
echo "$out" | grep -q '^validate ok *validated'
echo "$out" | grep -q '^push *ok *pushed'
echo "$out" | grep -q '^task example-1: pushed'
git --git-dir=remote.git show task/example-1:README | grep -q 'from the example agent'
# a second run finds the task registered and does not run the agent again
before=$(git --git-dir=remote.git rev-parse task/example-1)
if out=$("$example" "$dir/ws" spec.yaml 2>&1); then echo "a second run succeeded: $out"; exit 1; fi
echo "$out"
echo "$out" | grep -q '^validate ok *already-registered'
echo "$out" | grep -q "task 'example-1' is pushed"
[ "$(git --git-dir=remote.git rev-parse task/example-1)" = "$before" ]
echo ok
