"""JUnit reports: parsing, normalisation, callbacks, merge, output, bad input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import devsys

JUNIT = """<?xml version="1.0"?>
<testsuites><testsuite name="suite-a">
 <testcase classname="m.A" name="ok" time="0.5"/>
 <testcase classname="m.A" name="bad" time="0.25" file="a.py"><failure message="boom" type="Assert">trace</failure></testcase>
 <testcase name="skip"><skipped message="later"/></testcase>
 <testcase name="err"><error message="E">x</error><system-out>so</system-out></testcase>
</testsuite></testsuites>
"""


def test_parse_buffer_and_cases() -> None:
    with devsys.Report() as r:
        r.add_junit_text(JUNIT, "junit.xml")
        assert r.tests == 4 and len(r) == 4
        assert (r.count(devsys.PASSED), r.count(devsys.FAILED), r.count(devsys.SKIPPED), r.count(devsys.ERROR)) == \
            (1, 1, 1, 1)
        assert abs(r.time - 0.75) < 1e-9
        bad = r[1]
        assert (bad.name, bad.classname, bad.suite, bad.status_name, bad.message, bad.type, bad.text, bad.file) == \
            ("bad", "m.A", "suite-a", "failed", "boom", "Assert", "trace", "a.py")
        assert r[2].classname == "suite-a", "the classname defaults to the suite"
        assert r[3].system_out == "so" and r[0].message is None and r[0].source == "junit.xml"
        assert r.sources() == ["junit.xml"]
        assert devsys.report_status_name(devsys.ERROR) == "error"
        with pytest.raises(IndexError):
            r[4]
        assert [c.name for c in r.cases()] == ["ok", "bad", "skip", "err"]
        summary = json.loads(r.summary_json())
        assert summary["tests"] == 4 and summary["failed"] == 1
        assert 'tests="4"' in r.junit()


def test_files_merge_and_writes(tmp_path: Path) -> None:
    f = tmp_path / "j.xml"
    f.write_text(JUNIT)
    seen: List[str] = []
    with devsys.Report.parse_junit(f, on_case=lambda c: seen.append(c.name)) as a, devsys.Report() as b:
        assert seen == ["ok", "bad", "skip", "err"]
        b.add_junit(f)
        a.merge(b)
        assert a.tests == 8
        with pytest.raises(devsys.InvalidArgumentError):
            a.merge(a)
        a.write_junit(tmp_path / "out.xml")
        a.write_summary(tmp_path / "summary.json")
        assert json.loads((tmp_path / "summary.json").read_text())["tests"] == 8
        with devsys.Report.parse_junit(tmp_path / "out.xml") as again:
            assert again.tests == 8


def test_totals_only() -> None:
    with devsys.Report() as r:
        r.add_junit_text(JUNIT, totals_only=True, max_text=16, max_depth=8)
        assert r.tests == 4 and len(r) == 0
        with pytest.raises(devsys.StateError):
            r.junit()


def test_callbacks_that_raise_leave_the_report_unchanged() -> None:
    class Stop(Exception):
        pass
    calls = [0]

    def cb(c: devsys.Case) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise Stop(c.name)
    with devsys.Report() as r:
        with pytest.raises(Stop, match="bad"):
            r.add_junit_text(JUNIT, on_case=cb)
        assert r.tests == 0, "all or nothing"
        r.add_junit_text(JUNIT)
        calls[0] = 0
        with pytest.raises(Stop):
            r.foreach(cb)
        names: List[str] = []
        r.foreach(lambda c: names.append(c.name))
        assert len(names) == 4
        with pytest.raises(devsys.UserCallbackError):
            r.foreach(lambda c: False)

def test_parse_junit_with_a_raising_callback(tmp_path: Path) -> None:
    f = tmp_path / "j.xml"
    f.write_text(JUNIT)

    def cb(c: devsys.Case) -> None:
        raise LookupError(c.name)
    with pytest.raises(LookupError, match="ok"):
        devsys.Report.parse_junit(f, on_case=cb)


@pytest.mark.parametrize("text", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><testsuites/>',
    "<testsuites><testsuite>",
    "not xml",
    "<html/>",
])
def test_bad_reports(text: str) -> None:
    with devsys.Report() as r:
        with pytest.raises(devsys.ParseError) as ei:
            r.add_junit_text(text, "in.xml")
        assert "in.xml" in ei.value.message


def test_missing_file_and_depth() -> None:
    with pytest.raises(devsys.NotFoundError):
        devsys.Report.parse_junit("/nonexistent.xml")
    deep = "<testsuites>" + "<testsuite>" * 20 + "</testsuite>" * 20 + "</testsuites>"
    with devsys.Report() as r, pytest.raises(devsys.LimitError):
        r.add_junit_text(deep, max_depth=5)
