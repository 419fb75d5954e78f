#!/usr/bin/python3
"""The streaming anchor: xml.etree.ElementTree.iterparse (the C accelerator)
with elem.clear(), counting what libdevsys's streaming parse counts: tests,
failed, errors, skipped (a case's failure wins over its error, an error over a
skip; status="disabled|notrun|skipped" is a skip), the summed time, and the
first 1000 failed or erroring cases' suite, classname, name and message.
Prints throughput and peak RSS like bench_junit_parse. Interpreter start-up
and imports are outside both the wall and the CPU figures.
usage: iterparse_anchor.py FILE"""
import os, resource, sys, time
import xml.etree.ElementTree as ET

MAX_FAILED = 1000
SKIP_STATUS = {"disabled", "notrun", "skipped"}


def seconds(s):
    try:
        d = float(s.replace(",", "").replace(" ", "")) if s else 0.0
    except ValueError:
        return 0.0
    return d if 0 <= d <= 1e9 else 0.0


def main(path):
    tests = failed = errors = skipped = 0
    total_time = 0.0
    names = []
    suites = []
    depth = 0
    for event, elem in ET.iterparse(path, events=("start", "end")):
        if event == "start":
            depth += 1
            if elem.tag == "testsuite":
                suites.append(elem.get("name", ""))
            continue
        depth -= 1
        tag = elem.tag
        if tag == "testcase":
            tests += 1
            total_time += seconds(elem.get("time"))
            f = e = s = None
            for child in elem:
                t = child.tag
                if t == "failure" and f is None:
                    f = child
                elif t == "error" and e is None:
                    e = child
                elif t == "skipped":
                    s = child
            bad = f if f is not None else e
            if f is not None:
                failed += 1
            elif e is not None:
                errors += 1
            elif s is not None or (elem.get("status") or "").lower() in SKIP_STATUS:
                skipped += 1
            if bad is not None and len(names) < MAX_FAILED:
                suite = suites[-1] if suites else ""
                names.append((suite, elem.get("classname") or suite, elem.get("name", ""), bad.get("message")))
            elem.clear()
        elif tag == "testsuite":
            suites.pop()
            elem.clear()
    return tests, failed, errors, skipped, total_time, names


path = sys.argv[1]
c0 = time.process_time()
t0 = time.monotonic()
tests, failed, errors, skipped, total_time, names = main(path)
secs = time.monotonic() - t0
cpu = time.process_time() - c0
mb = os.path.getsize(path) / 1e6
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"iterparse {mb:.1f} MB wall {secs:.3f} s {mb / secs:.1f} MB/s cpu {cpu:.3f} s {mb / cpu:.1f} MB/s "
      f"peak_rss_mib {rss:.1f} "
      f"tests {tests} failed {failed} errors {errors} skipped {skipped} time_sum {total_time:.6f} names {len(names)}")
