#!/usr/bin/python3
"""The Python side of bench/bindings/run.sh: the same work as bench_bindings.c
through the devsys package (DEVSYS_LIBRARY names the library).

    bench_py.py version N | validate N | check N

Each spec's text is formatted first (its id varies), as the C side does with
snprintf; an f-string is Python's cheapest way to do it (str.format costs
about 0.3 us more per spec).
"""
from __future__ import annotations

import ctypes
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))
import devsys  # noqa: E402
from devsys import _lib  # noqa: E402

SPEC = ("version: 1\nid: bench-{}\ntitle: Benchmark spec\nprompt: do the thing\n"
        "repo:\n  url: https://example.com/x.git\n  base_branch: main\n"
        "tests:\n  command: [make, test]\n  timeout: 10m\n")
HEAD, TAIL = SPEC.split("{}")  # the text around the id: f"{HEAD}{i}{TAIL}"


def version(n: int) -> None:
    f = devsys.version
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        f()
    dt, dc = time.perf_counter() - t0, time.thread_time() - c0
    raw = _lib.fn.devsys_version  # the ctypes call alone, without the str conversion
    t1 = time.perf_counter()
    for _ in range(n):
        raw()
    dr = time.perf_counter() - t1
    print(f"python version: {n} calls in {dt:.3f} s, {dt * 1e9 / n:.1f} ns/call, cpu {dc * 1e9 / n:.1f} ns/call "
          f"(raw ctypes call {dr * 1e9 / n:.1f} ns/call)")


def validate(n: int) -> int:
    valid = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        with devsys.Spec.load(f"{HEAD}{i % 100000}{TAIL}", "bench.yaml") as spec:
            try:
                spec.check()
                valid += 1
            except devsys.ValidationError:
                pass
    dt, dc = time.perf_counter() - t0, time.thread_time() - c0
    # the floor: the same three library calls through bare ctypes, without the package's classes
    fn, raw_valid = _lib.fn, 0
    t1 = time.thread_time()
    for i in range(n):
        b = f"{HEAD}{i % 100000}{TAIL}".encode()
        out = ctypes.c_void_p()
        if fn.devsys_spec_load_buffer(ctypes.byref(out), b, len(b), b"bench.yaml", None) == 0:
            raw_valid += fn.devsys_spec_validate(None, out, 0) == 0
            fn.devsys_spec_free(out)
    dr = time.thread_time() - t1
    print(f"python validate: {n} specs ({valid} valid) in {dt:.3f} s, {n / dt:.0f} specs/s, cpu {n / dc:.0f} specs/s "
          f"(raw ctypes calls, cpu {n / dr:.0f} specs/s)")
    return 0 if valid == n == raw_valid else 1


def check(n: int) -> int:
    """The same specs, each loaded and validated by one library call
    (devsys_spec_validate_buffer, as bench_bindings check does)."""
    valid, check_spec = 0, devsys.check_spec
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        try:
            check_spec(f"{HEAD}{i % 100000}{TAIL}", "bench.yaml")
            valid += 1
        except devsys.ValidationError:
            pass
    dt, dc = time.perf_counter() - t0, time.thread_time() - c0
    # the floor: that one call through bare ctypes
    f, raw_valid = _lib.fn.devsys_spec_validate_buffer, 0
    t1 = time.thread_time()
    for i in range(n):
        b = f"{HEAD}{i % 100000}{TAIL}".encode()
        raw_valid += f(None, None, b, len(b), b"bench.yaml", None) == 0
    dr = time.thread_time() - t1
    print(f"python check: {n} specs ({valid} valid) in {dt:.3f} s, {n / dt:.0f} specs/s, cpu {n / dc:.0f} specs/s "
          f"(raw ctypes calls, cpu {n / dr:.0f} specs/s)")
    return 0 if valid == n == raw_valid else 1


if __name__ == "__main__":
    what, count = sys.argv[1], int(sys.argv[2])
    if what == "version":
        version(count)
        sys.exit(0)
    sys.exit(check(count) if what == "check" else validate(count))
