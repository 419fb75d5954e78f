#!/usr/bin/python3
"""The full-parse anchor: parse the same file with junitparser (Debian
python3-junitparser, a DOM of every case) and count statuses and the summed
time; prints throughput and peak RSS like bench_junit_parse. Interpreter
start-up and imports are outside both the wall and the CPU figures."""
import os, resource, sys, time
from junitparser import JUnitXml, Failure, Error, Skipped

path = sys.argv[1]
c0 = time.process_time()
t0 = time.monotonic()
xml = JUnitXml.fromfile(path)
tests = failed = errors = skipped = 0
total_time = 0.0
for suite in xml:
    for case in suite:
        tests += 1
        total_time += case.time
        kinds = {type(r) for r in case.result}
        if Failure in kinds:
            failed += 1
        elif Error in kinds:
            errors += 1
        elif Skipped in kinds:
            skipped += 1
secs = time.monotonic() - t0
cpu = time.process_time() - c0
mb = os.path.getsize(path) / 1e6
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"junitparser {mb:.1f} MB wall {secs:.3f} s {mb / secs:.1f} MB/s cpu {cpu:.3f} s {mb / cpu:.1f} MB/s "
      f"peak_rss_mib {rss:.1f} "
      f"tests {tests} failed {failed} errors {errors} skipped {skipped} time_sum {total_time:.6f}")
