#!/bin/sh
# Make a bare repository with about 50 MB of history (incompressible blobs)
# using git fast-import: 250 commits, each rewriting 8 of 200 files of 25 KB.
# Usage: make-repo.sh OUT.git [MB]
set -eu
out=$1
mb=${2:-50}
commits=$((mb * 5))
rm -rf "$out"
git -c init.defaultBranch=main init -q --bare "$out"
/usr/bin/python3 - "$commits" <<'PY' | git -C "$out" fast-import --quiet
import os, sys
commits = int(sys.argv[1])
files = 200
size = 25 * 1024
out = sys.stdout.buffer
def blob(mark):
    data = os.urandom(size)
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n")
mark = 1
for c in range(commits):
    touched = range(files) if c == 0 else [(c * 8 + k) % files for k in range(8)]
    marks = {}
    for f in touched:
        blob(mark); marks[f] = mark; mark += 1
    msg = b"commit %d\n" % c
    out.write(b"commit refs/heads/main\nmark :%d\n" % mark)
    out.write(b"author Bench <bench@test> %d +0000\ncommitter Bench <bench@test> %d +0000\n" % (1700000000 + c, 1700000000 + c))
    out.write(b"data %d\n" % len(msg) + msg)
    if c > 0:
        out.write(b"from :%d\n" % prev)
    for f, m in marks.items():
        out.write(b"M 100644 :%d src/f%03d.bin\n" % (m, f))
    out.write(b"\n")
    prev = mark; mark += 1
PY
# fast-import already wrote one pack; random blobs would not compress further.
du -sh "$out"
