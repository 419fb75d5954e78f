#!/bin/sh
# Usage: bench/git/run.sh BUILD_DIR [TASKS] [MB]
# Makes a ~50 MB-history repository, then runs bench_git: N task setups and
# 20 commit+push cycles, devsys against the git CLI in the same run. git is
# spawned directly (posix_spawnp, no shell), as a script would run it:
#   anchor, once:          git clone -q --mirror file://SRC mirror.git
#   anchor, per task:      git -C mirror.git fetch -q origin   (not for the first)
#                          git -C mirror.git worktree add -q -b task/N DIR main
#   anchor, per cycle:     git -C DIR add -A; git -C DIR commit -q -m M; git -C DIR push -q pushto task/0
#   devsys, per task:      devsys_repo_open_task (clones once, then fetch + worktree)
#   devsys, per cycle:     devsys_repo_commit; devsys_repo_push
# The disk verdict counts object stores (objects/ directories beside a HEAD,
# pack files, alternates): one store for all tasks passes, anything else
# fails and bench_git exits 1.
# Figures (docs/git.md) come from:
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build/rel -j2
#   bench/git/run.sh build/rel 100 50     (run twice; the ratios are the result)
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
