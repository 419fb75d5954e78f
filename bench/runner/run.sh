#!/bin/sh
# Runner benchmarks. Usage: bench/runner/run.sh BUILD_DIR
#   inproc:     1000 x /bin/true through the in-process runner vs posix_spawn + waitpid
#   remote-ssh: 200 x `true` through the remote-ssh runner vs 200 x `ssh host true` and
#               200 x `ssh -o ControlPath=ctl host true` (ControlMaster), every ssh exec'd
#               directly (posix_spawnp, no shell), all on one sshd fixture on 127.0.0.1
# Figures in docs/runners.md came from:
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build/rel -j2
#   bench/runner/run.sh build/rel      (run twice; the ratios are the result)
set -e
build=${1:?usage: run.sh BUILD_DIR}
"$build/bench/runner/bench_runner_inproc" 1000
"$build/bench/runner/bench_runner_ssh" 200
# host-docker: 50 x `true` through the runner vs 50 x `docker run --rm` (CLI exec'd directly,
# -H the fixture's socket) and the same four API calls back to back, one fixture dockerd
if [ -x "$build/bench/runner/bench_runner_docker" ]; then "$build/bench/runner/bench_runner_docker" 50; fi
