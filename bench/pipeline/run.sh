#!/bin/sh
# Usage: bench/pipeline/run.sh BUILD_DIR [TASKS] [MB]
# Makes a ~50 MB-history repository (bench/git/make-repo.sh), then runs
# bench_pipeline: TASKS whole pipeline runs (validate, checkout, agent,
# commit, push, pr on the local forge, test, deploy skipped, verify, gate)
# against a script's work with the git CLI, in the same run, each git
# spawned directly (no shell), as a script would run it:
#   first task:      git init -q --bare mirror.git
#   every task:      git -C mirror.git fetch -q file://SRC '+refs/heads/*:refs/remotes/origin/*'
#                    git -C mirror.git worktree add -q -b task/N DIR refs/remotes/origin/main
#                    the agent command (the same program on both sides)
#                    git -C DIR add -A; git -C DIR commit -q -m M; git -C DIR push -q file://SRC task/N
# The agent command is the same on both sides (cp of one file), so the
# difference is the pipeline's own overhead; its time is printed too.
# Peak memory: the largest resident set of the process running the pipeline.
set -eu
build=${1:?usage: run.sh BUILD_DIR [TASKS] [MB]}
tasks=${2:-10}
mb=${3:-50}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-pipeline-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$here/../git/make-repo.sh" "$tmp/src.git" "$mb" >/dev/null
echo "repository: $(du -sh "$tmp/src.git" | cut -f1) of history, $(git -C "$tmp/src.git" rev-list --count main) commits"
"$build/bench/pipeline/bench_pipeline" "$tmp/src.git" "$tasks" "$tmp/run"
