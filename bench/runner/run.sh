#!/bin/sh
# Runner benchmarks. Usage: bench/runner/run.sh BUILD_DIR
# (use a Release build: cmake -DCMAKE_BUILD_TYPE=Release)
set -e
build=${1:?usage: run.sh BUILD_DIR}
"$build/bench/runner/bench_runner_inproc" 1000
"$build/bench/runner/bench_runner_ssh" 200
