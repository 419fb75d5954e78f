#!/bin/sh
# Usage: bench/git/run.sh BUILD_DIR [TASKS] [MB]
# Makes a ~50 MB-history repository, then runs bench_git: N task setups and
# commit+push cycles against `git clone --mirror` + `git worktree add` and
# `git add/commit/push`, printing figures and ratios measured in this run.
set -eu
build=${1:?usage: run.sh BUILD_DIR [TASKS] [MB]}
tasks=${2:-100}
mb=${3:-50}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-git-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$here/make-repo.sh" "$tmp/src.git" "$mb" >/dev/null
echo "repository: $(du -sh "$tmp/src.git" | cut -f1) of history, $(git -C "$tmp/src.git" rev-list --count main) commits"
"$build/bench/git/bench_git" "$tmp/src.git" "$tasks" "$tmp/run"
