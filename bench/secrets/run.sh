#!/bin/sh
# Masking throughput vs grep -F -f. Usage: bench/secrets/run.sh BUILD_DIR [SIZE_MB]
set -e
build=${1:?usage: run.sh BUILD_DIR [SIZE_MB]}
dir=$(mktemp -d "${TMPDIR:-/tmp}/devsys-mask-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/bench/secrets/bench_secrets_mask" "${2:-1024}" "$dir"
