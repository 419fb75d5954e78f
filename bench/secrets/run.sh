#!/bin/sh
# Masking throughput vs grep -F -f. Usage: bench/secrets/run.sh BUILD_DIR [SIZE_MB]
# The anchor, `LC_ALL=C grep -F -c -f secrets.txt FILE` with stdout to a file, is
# spawned directly (posix_spawnp, no shell) after one warm-up read of the file.
# Figures in docs/secrets.md came from:
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build/rel -j2
#   bench/secrets/run.sh build/rel 1024      (run twice; the ratio is the result)
set -e
build=${1:?usage: run.sh BUILD_DIR [SIZE_MB]}
dir=$(mktemp -d "${TMPDIR:-/tmp}/devsys-mask-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/bench/secrets/bench_secrets_mask" "${2:-1024}" "$dir"
