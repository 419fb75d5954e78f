"""Readers of a task's record (events since a seq, the event walk, a file's
path, a git step), a report's cases as JSON and an agent profile's settings."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

import pytest

import devsys

JUNIT = ('<testsuite name="s"><testcase classname="c" name="ok" time="0.5"/>'
         '<testcase classname="c" name="bad"><failure message="boom" type="E">trace</failure></testcase></testsuite>')


def test_events_since_foreach_and_paths(task: devsys.Task) -> None:
    with devsys.Record(task) as rec:
        a = rec.event("step.one", '{"n":1}')
        b = rec.event("step.two")
        rec.git_step("git.checkout", url="file:///srv/r.git", branch="task/t-1", base_branch="main",
                     base_sha="a" * 40, head_sha="a" * 40)
    text, last = devsys.events_since(task)
    lines = [json.loads(x) for x in text.splitlines()]
    assert [x["type"] for x in lines] == ["step.one", "step.two", "git.checkout"] and last == lines[-1]["seq"]
    assert devsys.events_since(task, b) == (text.splitlines(keepends=True)[-1], last)
    assert devsys.events_since(task, last) == (b"", last)  # nothing newer: the seq comes back
    one, s1 = devsys.events_since(task, 0, 1)
    assert s1 == a and one.count(b"\n") == 1
    task_json = json.loads(Path(devsys.record_path(task, devsys.RECORD_FILE_TASK_JSON)).read_text())
    assert (task_json["branch"], task_json["repo_url"]) == ("task/t-1", "file:///srv/r.git"), task_json
    assert lines[-1]["data"] == {"branch": "task/t-1", "head_sha": "a" * 40}
    with devsys.Record(task) as rec, pytest.raises(devsys.InvalidArgumentError):
        rec.git_step("git.teleport", branch="x")
    seen: List[Tuple[int, str, bytes]] = []
    devsys.events_foreach(task, lambda s, t, line: seen.append((s, t, line)))
    assert [t for _, t, _ in seen] == ["step.one", "step.two", "git.checkout"] and seen[0][0] == a
    assert json.loads(seen[0][2])["data"] == {"n": 1}
    seen.clear()
    with pytest.raises(devsys.UserCallbackError):
        devsys.events_foreach(task, lambda s, t, line: seen.append((s, t, line)) or False)  # stops at the first
    assert len(seen) == 1

    def raises(s: int, t: str, line: bytes) -> None:
        raise OSError("reader broke")
    with pytest.raises(OSError, match="reader broke"):
        devsys.events_foreach(task, raises)
    assert devsys.record_path(task, devsys.RECORD_FILE_LOG, stage="test").endswith("/logs/test.log")
    assert devsys.record_path(task, devsys.RECORD_FILE_RUN_JUNIT, run=3).endswith("/reports/3/junit.xml")
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.record_path(task, devsys.RECORD_FILE_LOG)  # a log needs its stage


def test_report_cases_json() -> None:
    with devsys.Report() as r:
        r.add_junit_text(JUNIT, "j.xml")
        cases = json.loads(r.cases_json())
    assert [(c["name"], c["status"]) for c in cases] == [("ok", "passed"), ("bad", "failed")], cases
    assert cases[1]["message"] == "boom" and "message" not in cases[0]


def test_config_agent_value() -> None:
    cfg = devsys.Config.parse("agents:\n  oc:\n    kind: opencode\n    provider: local\n"
                              "    base_url: http://127.0.0.1:8080/v1\n    models: [a, b]\n", "devsys.yaml")
    with cfg:
        assert cfg.agent_value("oc", "models") == ("a,b", "devsys.yaml:6:17")
        assert cfg.agent_value("oc", "max_steps") == (None, None)
        with pytest.raises(devsys.NotFoundError):
            cfg.agent_value("nope", "kind")
        with pytest.raises(devsys.InvalidArgumentError):
            cfg.agent_value("oc", "colour")


def test_secret_events_into_the_task_record(task: devsys.Task, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYR_TOKEN", "tok-never-logged-77")
    with devsys.Secrets(record_events=True) as s:
        s.define("token", "env", "PYR_TOKEN")
        s.define("gone", "env", "PYR_NOT_SET")
        assert s.resolve("token", task, "agent") == b"tok-never-logged-77"
        with pytest.raises(devsys.Error):
            s.resolve("gone", task, "agent")
        s.resolve("token")  # without a task: not recorded
    text, _ = devsys.events_since(task)
    assert b"tok-never-logged-77" not in text
    evs = [json.loads(x) for x in text.splitlines() if b"secret.resolve" in x]
    assert [(e["data"]["name"], e["data"]["stage"], e["data"]["error"]) for e in evs] == [
        ("token", "agent", None), ("gone", "agent", "DEVSYS_ENOTFOUND")], evs
    e = devsys.SecretEvent("db", "vault", "t-9", "pr", True, devsys.NotFoundError.code)
    assert json.loads(e.to_json()) == {"name": "db", "provider": "vault", "task": "t-9", "stage": "pr",
                                       "cached": True, "error": "DEVSYS_ENOTFOUND"}
