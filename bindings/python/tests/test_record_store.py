"""The task record and the task store."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import devsys

from conftest import child_env
from test_report import JUNIT


def test_record_fields_stages_events_and_save(task: devsys.Task) -> None:
    with devsys.Record(task) as rec:
        rec.set("branch", "task/t-1")
        rec.set("pr_number", 42)
        rec.set("gate", {"ok": True})
        rec.set("runner", None)
        rec.set_json("validation", '{"valid": true}')
        rec.set_repo_url("https://user:tok@example.com/x.git")
        rec.set_spec("spec.yaml", b"id: t-1\n")
        rec.stage_begin("validate")
        rec.stage_end("validate", "ok")
        rec.stage_begin("test")
        rec.stage_end("test", "failed", "build")
        assert rec.event("note", '{"n": 1}') == rec.event("note") - 1
        rec.save()
        j = json.loads(rec.json())
    on_disk = json.loads((Path(task.path) / "task.json").read_text())
    assert on_disk == j
    assert j["branch"] == "task/t-1" and j["pr_number"] == 42 and j["gate"] == {"ok": True} and j["runner"] is None
    assert j["repo_url"] == "https://example.com/x.git" and "tok" not in json.dumps(j)
    assert j["spec_path"] == "spec.yaml" and j["spec_hash"] == devsys.content_id(b"id: t-1\n")
    assert j["stages"]["test"]["failure_class"] == "build"
    events = (Path(task.path) / "events.jsonl").read_text().splitlines()
    assert [json.loads(e)["type"] for e in events][-2:] == ["note", "note"]


def test_record_bad_input(task: devsys.Task) -> None:
    with devsys.Record(task) as rec:
        with pytest.raises(devsys.InvalidArgumentError):
            rec.set("state", "x")  # managed by the record
        with pytest.raises(devsys.InvalidArgumentError):
            rec.stage_begin("no such stage")  # added stages follow the task-id rule
        with pytest.raises(devsys.ParseError):
            rec.set_json("k", "{not json")
        with pytest.raises(devsys.ParseError):
            rec.event("x", "[1,")
        with pytest.raises(devsys.PathError):
            rec.set_spec("../out.yaml", b"x")
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.stage_check("../nope")
    devsys.stage_check("deploy")
    devsys.stage_check("lint")  # a stage an embedder may add


def test_runs_reports_and_logs(ws: devsys.Workspace, task: devsys.Task) -> None:
    assert devsys.latest_run(task) is None
    junit = Path(task.path) / "incoming.xml"
    junit.write_text(JUNIT)
    with devsys.Record(task) as rec:
        n = rec.run_begin()
        rec.run_add_junit(n, junit)
        bad = Path(task.path) / "bad.xml"
        bad.write_text("<nope")
        with pytest.raises(devsys.ParseError):
            rec.run_add_junit(n, bad)
        with pytest.raises(devsys.PathError):
            rec.run_add_junit(n, "/etc/hostname")
        rec.run_complete(n)
        with pytest.raises(devsys.NotFoundError):
            rec.run_complete(n + 5)
        rec.write_acceptance('{"ok": true}')
        log = rec.log_path("test")
        assert log.endswith("/logs/test.log") and Path(log).parent.is_dir()
    assert devsys.latest_run(task) == n
    summary = json.loads((Path(task.path) / "reports" / str(n) / "summary.json").read_text())
    assert summary["tests"] == 4
    with devsys.Store(ws) as st:
        st.create("t-run")
        with ws.task("t-run") as t2, devsys.Record(t2) as r2:
            m = r2.run_begin()
            j2 = Path(t2.path) / "j.xml"
            j2.write_text(JUNIT)
            r2.run_add_junit(m, j2)
            r2.run_complete(m)
        st.run_record("t-run", m)
        runs = json.loads(st.task_json("t-run"))["runs"]
        assert runs[0]["tests"] == 4 and runs[0]["failed"] == 1


def test_record_outlives_its_task(ws: devsys.Workspace) -> None:
    t = ws.task("t-2", create=True)
    rec = devsys.Record(t)
    t.close()
    ws.close()
    rec.set("branch", "b")
    rec.save()
    assert '"branch": "b"' in rec.json()
    rec.close()


def test_store_states_and_transitions(ws: devsys.Workspace) -> None:
    assert devsys.task_state_name(0) == "created" and devsys.task_state_name(99) is None
    assert devsys.task_state_parse("checked-out") == 2
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.task_state_parse("bogus")
    assert devsys.task_state_allowed(0, 1) and not devsys.task_state_allowed(0, 11)
    assert [devsys.task_state_name(i) for i in range(len(devsys.STATES))] == list(devsys.STATES)
    with devsys.Store(ws, busy_timeout_ms=2000) as st:
        st.create("a", "specs/a.yaml")
        with pytest.raises(devsys.ExistsError):
            st.create("a")
        with pytest.raises(devsys.BadIdError):
            st.create("../a")
        assert st.state("a") == "created"
        st.transition("a", "validated", "spec ok")
        with pytest.raises(devsys.StateError) as ei:
            st.transition("a", "merged")
        assert "validated" in ei.value.message and "merged" in ei.value.message
        st.stage_begin("a", "checkout")
        with pytest.raises(devsys.StateError):
            st.stage_begin("a", "checkout")
        st.stage_end("a", "checkout", "ok", "checked-out")
        assert st.state("a") == "checked-out"
        with pytest.raises(devsys.StateError):
            st.resume("a")
        with pytest.raises(devsys.NotFoundError):
            st.state("zzz")
        assert st.recover() == 0
        lst = json.loads(st.list_json())
        assert lst["total"] == 1 and lst["tasks"][0]["id"] == "a"
        assert json.loads(st.list_json("done"))["total"] == 0
        assert json.loads(st.task_json("a"))["spec_path"] == "specs/a.yaml"
        report, drift = st.check()
        assert drift == 0 and json.loads(report)["drift"] == []
        assert 'devsys_tasks{state="checked-out"} 1' in st.metrics()


def test_store_drift_and_resume(ws: devsys.Workspace, tmp_path: Path) -> None:
    import shutil
    with devsys.Store(ws, recover=False) as st:
        st.create("gone")
        st.create("kept")
        st.stage_begin("kept", "validate")
        shutil.rmtree(Path(ws.path) / "tasks" / "gone")
        report, drift = st.check(repair=False)
        assert drift == 1 and json.loads(report)["drift"][0]["kind"] == "missing-folder"

    # a process that dies mid-stage leaves the task to the next open's recovery
    import subprocess
    import sys
    code = ("import os, devsys\n"
            f"ws = devsys.Workspace({ws.path!r})\n"
            "st = devsys.Store(ws)\n"
            "st.create('crash')\n"
            "st.stage_begin('crash', 'validate')\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env=child_env(PYTHONPATH=str(Path(devsys.__file__).parent.parent)))
    with devsys.Store(ws) as st:
        assert st.state("crash") == "interrupted"
        assert st.resume("crash") == "validate"
        assert st.state("crash") == "created"


def test_store_outlives_its_workspace(tmp_path: Path) -> None:
    ws = devsys.Workspace(tmp_path / "w")
    st = devsys.Store(ws)
    ws.close()
    st.create("x")
    assert st.state("x") == "created"
    st.close()


def test_store_documents(ws: devsys.Workspace, task: devsys.Task) -> None:
    """The copies of the record documents are a shared store's: SQLite keeps none (its processes read the folders)."""
    junit = Path(task.path) / "junit.xml"
    junit.write_text('<testsuite name="s"><testcase classname="c" name="ok"/></testsuite>')
    with devsys.Store(ws) as st, devsys.Record(task) as rec:
        st.create(task.id)
        run = rec.run_begin()
        rec.run_add_junit(run, junit)
        rec.run_complete(run)
        st.run_record(task.id, run)
        for name in ("task.json", "tests/latest/summary.json", "tests/latest/junit.xml"):
            with pytest.raises(devsys.NotSupportedError, match="folder"):
                st.document(task.id, name)
        with pytest.raises(devsys.InvalidArgumentError):
            st.document(task.id, "../../etc/passwd")
        with pytest.raises(devsys.BadIdError):
            st.document("../x", "task.json")
        # read only when changed: the same refusals (PostgreSQL's versions are tested in tests/store/pg_store.c)
        with pytest.raises(devsys.NotSupportedError, match="folder"):
            st.document_changed(task.id, "task.json")
        with pytest.raises(devsys.NotSupportedError, match="folder"):
            st.document_changed(task.id, "task.json", "x" * 100)
        with pytest.raises(devsys.InvalidArgumentError, match="spec.yaml"):
            st.document_changed(task.id, "spec.yaml")
        with pytest.raises(devsys.BadIdError):
            st.document_changed("../x", "task.json")
        with pytest.raises(TypeError):
            st.document_changed(task.id, "task.json", None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="NUL"):
            st.document_changed(task.id, "task.json", "a\0b")


def test_store_folder_current_on_sqlite(ws: devsys.Workspace) -> None:
    """Which answers for a task, its folder or the store: on SQLite, a store one host has
    alone, always the folder, without looking at it (even a folder that is gone). On a
    shared store (PostgreSQL) a folder behind the store's change gives False: the C suite
    tests that (tests/worker/remote_pg.c); this suite starts no PostgreSQL."""
    with devsys.Store(ws) as st:
        st.create("fc")
        st.transition("fc", "validated")
        assert st.folder_current("fc") is True
        assert st.folder_current("not-in-store") is True, "a task the store does not know is left to its folder"
        import shutil
        shutil.rmtree(Path(ws.path) / "tasks" / "fc")
        assert st.folder_current("fc") is True, "SQLite never looks at the folder"
        with pytest.raises(devsys.BadIdError):
            st.folder_current("bad id!")
        with pytest.raises(TypeError):
            st.folder_current(None)  # type: ignore[arg-type]
    with pytest.raises(devsys.ClosedHandleError):
        st.folder_current("fc")
