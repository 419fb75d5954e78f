"""Worker (devsys/worker.h) with real pipelines on a file:// remote: two
tasks run at once to awaiting-review with their events and counts; stop()
from another thread hands a running task back; cancel_task() and a cancel
requested through the store end a run; an event callback that raises is
raised again from run(). Plus the store's worker registry, cancel requests,
store options version 2 and a profile's max_concurrent."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, List

import pytest

import devsys

from conftest import start_thread
from test_pipeline_run import APPEND, make_spec


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling with a deadline


def submit(tmp: Path, bare: Path, ws: devsys.Workspace, tid: str, agent: str) -> None:
    with devsys.Pipeline(ws) as p:
        p.validate(make_spec(tmp, bare, tid, agent), f"{tid}.yaml")
    with devsys.Store(ws) as st:
        st.submit(tid)


def test_a_worker_runs_the_queue_with_events(tmp_path: Path, bare_repo: Path) -> None:
    events: List[devsys.WorkerEvent] = []
    with devsys.Workspace(tmp_path / "ws") as w:
        submit(tmp_path, bare_repo, w, "wk-1", APPEND)
        submit(tmp_path, bare_repo, w, "wk-2", APPEND)
        with devsys.Worker(w, id="py-worker", jobs=2, once=True, poll_ms=50, event=events.append) as wk:
            assert wk.id == "py-worker"
            wk.run()
            assert wk.state("wk-1") == "awaiting-review" and wk.state("wk-2") == "awaiting-review"
            st = wk.stats()
            assert (st.jobs, st.claimed, st.completed, st.handed_back, st.running) == (2, 2, 2, 0, 0), st
            assert (st.agent_steps, st.agent_tokens, st.agent_cost) == (0, 0, 0.0), "a command agent reports no usage"
            with pytest.raises(devsys.StateError):
                wk.run()  # run once only
        with devsys.Store(w) as s:
            owners = {c["owner"] for c in json.loads(s.claims_json())["claims"]}
            assert owners <= {"py-worker/1", "py-worker/2"} and owners, owners
            workers = json.loads(s.workers_json())["workers"]
            assert [(x["id"], x["state"]) for x in workers] == [("py-worker", "stopped")], workers
    claimed = sorted(e.task_id or "" for e in events if e.kind == devsys.WORKER_EVENT_CLAIMED)
    ended = sorted((e.task_id or "", e.state) for e in events if e.kind == devsys.WORKER_EVENT_ENDED)
    assert claimed == ["wk-1", "wk-2"], events
    assert ended == [("wk-1", "awaiting-review"), ("wk-2", "awaiting-review")], events
    stages = {e.pipeline.stage for e in events if e.kind == devsys.WORKER_EVENT_PIPELINE and e.pipeline}
    assert {"checkout", "agent", "gate"} <= stages, stages
    assert all(1 <= e.slot <= 2 for e in events if e.kind == devsys.WORKER_EVENT_CLAIMED)


def test_stop_hands_back_and_cancel_task_ends_a_run(tmp_path: Path, bare_repo: Path) -> None:
    slow = "exec sleep 60\n"
    events: List[devsys.WorkerEvent] = []
    with devsys.Workspace(tmp_path / "ws") as w:
        submit(tmp_path, bare_repo, w, "ws-1", slow)
        submit(tmp_path, bare_repo, w, "ws-2", slow)
        wk = devsys.Worker(w, jobs=2, poll_ms=50, lease_ms=60000, event=events.append)
        t, errors = start_thread(wk.run)
        try:
            wait_for("both agents running", lambda: sum(
                1 for e in list(events) if e.kind == devsys.WORKER_EVENT_PIPELINE and e.pipeline is not None
                and e.pipeline.kind == devsys.EVENT_STAGE_BEGIN and e.pipeline.stage == "agent") == 2)
            with pytest.raises(RuntimeError, match="running"):
                wk.close()
            assert wk.cancel_task("ws-1") is True
            assert wk.cancel_task("no-such-task") is False
            wait_for("ws-1 canceled", lambda: wk.state("ws-1") == "canceled")
            wait_for("the slot freed", lambda: wk.stats().running == 1)  # the store's state comes first
            wk.stop(200)
        finally:
            wk.stop(0)
            t.join(60)
        assert not t.is_alive() and not errors, errors
        assert wk.state("ws-2") == "interrupted", "handed back mid-stage: the next claim resumes it"
        st = wk.stats()
        assert st.stopping and st.handed_back == 1 and st.claimed == 2, st
        kinds = [(e.kind, e.task_id) for e in events]
        assert (devsys.WORKER_EVENT_HANDED_BACK, "ws-2") in kinds, kinds
        wk.close()
        with pytest.raises(devsys.ClosedHandleError):
            wk.stats()


def test_a_cancel_requested_through_the_store_reaches_the_worker(tmp_path: Path, bare_repo: Path) -> None:
    events: List[devsys.WorkerEvent] = []
    with devsys.Workspace(tmp_path / "ws") as w, devsys.Store(w) as st:
        submit(tmp_path, bare_repo, w, "wc-1", "exec sleep 60\n")
        wk = devsys.Worker(w, poll_ms=50, lease_ms=900, event=events.append)
        t = threading.Thread(target=wk.run)
        t.start()
        try:
            wait_for("the claim", lambda: any(e.kind == devsys.WORKER_EVENT_CLAIMED for e in list(events)))
            assert st.cancel_request("wc-1", "from python") is True, "held: asked of its holder"
            assert st.cancel_requested("wc-1") == "from python"
            wait_for("the cancel", lambda: any(e.kind == devsys.WORKER_EVENT_CANCEL for e in list(events)), 20)
            wait_for("canceled", lambda: st.state("wc-1") == "canceled", 20)
        finally:
            wk.stop(0)
            t.join(60)
        assert wk.stats().cancels == 1
        wk.close()


def test_an_event_callback_that_raises_is_raised_from_run(tmp_path: Path, bare_repo: Path) -> None:
    def boom(e: devsys.WorkerEvent) -> None:
        if e.kind == devsys.WORKER_EVENT_CLAIMED:
            raise KeyError("from the event callback")
    with devsys.Workspace(tmp_path / "ws") as w:
        submit(tmp_path, bare_repo, w, "we-1", APPEND)
        with devsys.Worker(w, once=True, poll_ms=50, event=boom) as wk:
            with pytest.raises(KeyError, match="from the event callback") as ei:
                wk.run()
            assert "Worker event callback" in " ".join(getattr(ei.value, "__notes__", []))
            assert wk.state("we-1") == "awaiting-review", "the worker went on"


def test_worker_bad_options(ws: devsys.Workspace) -> None:
    with pytest.raises(devsys.InvalidArgumentError, match="jobs"):
        devsys.Worker(ws, jobs=100)
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.Worker(ws, lease_ms=5)
    with pytest.raises(TypeError, match="profile"):
        devsys.Worker(ws, profiles=[None])  # type: ignore[list-item]
    with devsys.Worker(ws, id="solo", once=True) as wk:
        wk.run()  # nothing queued: returns
        assert wk.stats().claimed == 0
        with pytest.raises(TypeError, match="task id"):
            wk.cancel_task(None)  # type: ignore[arg-type]


def test_store_registry_cancel_requests_and_options_v2(ws: devsys.Workspace, tmp_path: Path) -> None:
    with devsys.Store(ws) as st:
        assert st.backend == "sqlite"
        assert st.wait_work(10) is False, "SQLite has no signal"
        st.worker_beat("w-a", "h1", pid=42, jobs=2, lease_ms=60000, running=1, claimed=3, completed=2)
        st.worker_beat("w-a", "h1", pid=42, jobs=2, lease_ms=60000, claimed=4, completed=4, stopped=True)
        [row] = json.loads(st.workers_json())["workers"]
        assert (row["id"], row["pid"], row["claimed"], row["state"]) == ("w-a", 42, 4, "stopped"), row
        with pytest.raises(devsys.InvalidArgumentError):
            st.worker_beat("", "h1")
        with pytest.raises(TypeError, match="host"):
            st.worker_beat("w-b", None)  # type: ignore[arg-type]
        st.create("q1")
        st.transition("q1", "validated")
        st.submit("q1")
        assert st.cancel_requested("q1") is None
        assert st.cancel_request("q1", "no longer needed") is False, "free: canceled here"
        assert st.state("q1") == "canceled"
        with pytest.raises(devsys.StateError):
            st.cancel_request("q1")  # final
        with pytest.raises(devsys.NotFoundError):
            st.cancel_request("nope")
        with pytest.raises(devsys.BadIdError):
            st.cancel_requested("../x")
    with pytest.raises(devsys.InvalidArgumentError, match="mysql"):
        devsys.Store(ws, url="mysql://u@localhost/db")
    with pytest.raises(devsys.InvalidArgumentError) as ei:
        devsys.Store(ws, url="postgresql://u:hunter2-secret@127.0.0.1:1/db")
    assert "hunter2-secret" not in ei.value.message, ei.value.message
    with pytest.raises(ValueError, match="url.*NUL"):
        devsys.Store(ws, url="postgresql://x\0y")


def test_config_runner_max_concurrent() -> None:
    with devsys.Config.parse("runners:\n  limited:\n    type: inproc\n    max_concurrent: 2\n"
                             "  free:\n    type: inproc\n", "d.yaml") as cfg:
        assert cfg.runner_max_concurrent("limited") == 2
        assert cfg.runner_max_concurrent("free") == 0
        with pytest.raises(devsys.NotFoundError, match="limited"):
            cfg.runner_max_concurrent("nope")


def test_config_store_section() -> None:
    with devsys.Config.parse("runners:\n  a:\n    type: inproc\n", "none.yaml") as cfg:
        assert cfg.store() is None, "no store: section"
    with devsys.Config.parse("store: postgresql://devsys@127.0.0.1:5432/tasks\n", "url.yaml") as cfg:
        assert cfg.store() == ("postgresql://devsys@127.0.0.1:5432/tasks", None)
    with devsys.Config.parse("store:\n  url: postgresql://devsys@127.0.0.1/tasks\n  password_secret: DBPW\n"
                             "  password_provider: file\n  password_ref: /run/pw\n", "pw.yaml") as cfg:
        assert cfg.store() == ("postgresql://devsys@127.0.0.1/tasks", ("DBPW", "file", "/run/pw"))
    with pytest.raises(devsys.ValidationError) as ei:
        devsys.Config.parse("store: postgresql://u:hunter2-secret@127.0.0.1/db\n", "bad.yaml")
    assert "bad.yaml:1" in ei.value.message and "hunter2-secret" not in ei.value.message, ei.value.message


def test_store_opened_as_a_configuration_names_it(ws: devsys.Workspace, tmp_path: Path) -> None:
    with devsys.Config.parse("runners:\n  a:\n    type: inproc\n", "none.yaml") as cfg, \
            devsys.Store(ws, config=cfg) as st:
        assert st.backend == "sqlite", "no store: section: SQLite in the workspace"
    ws2 = tmp_path / "ws2"
    with devsys.Workspace(ws2) as w2, \
            devsys.Config.parse("store: postgresql://devsys@127.0.0.1:1/tasks\n", "pg.yaml") as cfg:
        with pytest.raises(devsys.Error) as ei:
            devsys.Store(w2, config=cfg)  # the section is followed: nothing listens on port 1
        assert "127.0.0.1:1" in ei.value.message, ei.value.message
        assert not (ws2 / "devsys.db").exists(), "no SQLite store was made instead"


def test_an_idle_slot_says_so(ws: devsys.Workspace) -> None:
    events: List[devsys.WorkerEvent] = []
    wk = devsys.Worker(ws, poll_ms=50, event=events.append)
    t = threading.Thread(target=wk.run)
    t.start()
    try:
        wait_for("an idle event", lambda: any(e.kind == devsys.WORKER_EVENT_IDLE for e in list(events)))
    finally:
        wk.stop(0)
        t.join(30)
    assert not t.is_alive() and wk.stats().claimed == 0
    wk.close()
