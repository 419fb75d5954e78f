#!/usr/bin/python3
"""Write a JUnit XML report of about SIZE_MB megabytes (pytest/xunit2 shape):
suites of 100 cases; every 10th fails, every 25th errors, every 7th is skipped;
each case has a few lines of system-out. usage: gen_junit.py OUT SIZE_MB"""
import sys

out, size_mb = sys.argv[1], float(sys.argv[2])
target = int(size_mb * 1_000_000)
line = "log line with some &lt;escaped&gt; &amp; text and numbers 0123456789\n"
with open(out, "w", encoding="utf-8") as f:
    f.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n')
    written, s = 0, 0
    while written < target:
        parts = [f'<testsuite name="pkg.suite{s}" tests="100" failures="0" errors="0" skipped="0" time="1.0">\n']
        for c in range(100):
            n = s * 100 + c
            parts.append(f'  <testcase classname="pkg.suite{s}.Class{c % 7}" name="test_case_{n}" time="0.{n % 1000:03d}">')
            if n % 10 == 0:
                parts.append(f'<failure message="assert {n} == {n + 1}" type="AssertionError">Traceback:\n  File "t.py", line {n}\nAssertionError</failure>')
            elif n % 25 == 3:
                parts.append('<error message="fixture failed" type="RuntimeError">RuntimeError: boom</error>')
            elif n % 7 == 1:
                parts.append('<skipped message="not on this platform" type="pytest.skip"/>')
            parts.append("<system-out>" + line * 3 + "</system-out></testcase>\n")
        parts.append("</testsuite>\n")
        chunk = "".join(parts)
        f.write(chunk)
        written += len(chunk)
        s += 1
    f.write("</testsuites>\n")
