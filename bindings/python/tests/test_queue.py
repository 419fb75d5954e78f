"""The store's queue through Store: submit, claim (by profile, in submit
order), heartbeat, release, complete and the claim log; an expired lease; and
threads, each with its own Store on one workspace, claiming every task once."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, TypeVar

import pytest

import devsys

T = TypeVar("T")


def queued(st: devsys.Store, id: str, profile: "str | None" = None) -> None:
    st.create(id)
    st.transition(id, "validated")
    st.submit(id, profile, "urn:devsys:schema:task:1")
    assert st.state(id) == "queued"


def test_submit_claim_heartbeat_complete(ws: devsys.Workspace) -> None:
    with devsys.Store(ws) as st:
        st.create("s1")
        with pytest.raises(devsys.StateError) as ei:
            st.submit("s1")  # not validated
        assert "validated" in ei.value.message
        with pytest.raises(devsys.NotFoundError):
            st.submit("nope")
        assert st.claim("w1", "h") is None, "the refusals queued nothing"
        queued(st, "a1")
        with pytest.raises(devsys.StateError):
            st.submit("a1")  # queued already
        q = json.loads(st.claims_json("a1"))["queue"]
        assert [(x["task"], x["schema"]) for x in q] == [("a1", "urn:devsys:schema:task:1")], q
        assert st.claim("w1", "host1", lease_ms=60000) == "a1"
        assert st.state("a1") == "validated", "a claim hands the pipeline a validated task"
        assert st.claim("w2", "host1") is None, "held: not claimable"
        with pytest.raises(devsys.StateError):
            st.heartbeat("a1", "w2")  # not w2's lease
        st.heartbeat("a1", "w1", 60000)
        with pytest.raises(devsys.StateError):
            st.complete("a1", "w2")
        with pytest.raises(devsys.StateError):
            st.release("a1", "w2")
        st.complete("a1", "w1")
        with pytest.raises(devsys.StateError):
            st.heartbeat("a1", "w1")  # completed: the lease is gone
        log = json.loads(st.claims_json())
        assert log["queue"] == []
        [c] = log["claims"]
        assert (c["task"], c["owner"], c["host"], c["how"]) == ("a1", "w1", "host1", "completed"), c
        assert c["ended_ms"] >= c["claimed_ms"]
        assert st.claim("w2", "host1") is None, "completed: gone"


def test_claims_by_profile_in_submit_order(ws: devsys.Workspace) -> None:
    with devsys.Store(ws) as st:
        queued(st, "p1", "gpu")
        queued(st, "p2", "cpu")
        queued(st, "p3", "cpu")
        assert st.claim("w1", "h", ["arm"]) is None
        assert st.claim("w1", "h", ["cpu"]) == "p2"
        assert st.claim("w2", "h", ("gpu", "big")) == "p1"
        assert st.claim("w3", "h") == "p3", "no profile list: any task"


def test_release_mid_stage_interrupts_and_the_next_claim_resumes(ws: devsys.Workspace) -> None:
    with devsys.Store(ws) as st:
        queued(st, "r1")
        assert st.claim("w1", "h") == "r1"
        st.stage_begin("r1", "checkout")
        st.release("r1", "w1", "shutting down")
        assert st.state("r1") == "interrupted"
        assert st.claim("w2", "h") == "r1"
        assert st.state("r1") == "interrupted", "left for the pipeline to resume"
        assert st.resume("r1") == "checkout"
        hows = [c["how"] for c in json.loads(st.claims_json("r1"))["claims"]]
        assert hows == ["released", "held"], hows


def test_an_expired_lease_is_taken_back(ws: devsys.Workspace) -> None:
    with devsys.Store(ws) as st:
        queued(st, "e1")
        assert st.claim("w1", "h1", lease_ms=300) == "e1"
        st.stage_begin("e1", "checkout")
        assert st.claim("w2", "h2", lease_ms=60000) is None, "control: a live lease is not taken"
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            got = st.claim("w2", "h2", lease_ms=60000)
            if got is None:
                time.sleep(0.02)  # polling the store's clock, with a deadline
        assert got == "e1"
        assert st.state("e1") == "interrupted"
        with pytest.raises(devsys.StateError):
            st.heartbeat("e1", "w1")  # w1 lost it
        st.heartbeat("e1", "w2")
        first = json.loads(st.claims_json("e1"))["claims"][0]
        assert first["how"] == "expired" and first["ended_ms"] == first["until_ms"], first


def test_bad_input_and_closed_store(ws: devsys.Workspace) -> None:
    st = devsys.Store(ws)
    queued(st, "b1")
    with pytest.raises(devsys.InvalidArgumentError):
        st.claim("", "h")  # an empty owner
    with pytest.raises(devsys.LimitError):
        st.submit("b1", "x" * 200)
    with pytest.raises(TypeError, match="owner"):
        st.claim(None, "h")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task id"):
        st.heartbeat(None, "w")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        st.release("b1", "w\0x")
    with pytest.raises(devsys.BadIdError):
        st.claims_json("../x")
    with pytest.raises(devsys.StateError):
        st.complete("b1", "nobody")
    assert st.claim("w1", "h") == "b1", "the refusals changed nothing"
    st.close()
    with pytest.raises(devsys.ClosedHandleError):
        st.claim("w1", "h")
    with pytest.raises(devsys.ClosedHandleError):
        st.submit("b1")


def test_threads_with_their_own_stores_claim_every_task_once(ws: devsys.Workspace) -> None:
    n_tasks, n_threads = 24, 4
    with devsys.Store(ws) as st:
        for i in range(n_tasks):
            queued(st, f"c{i:02d}")
    got: Dict[str, List[str]] = {}
    errors: List[BaseException] = []
    deadline = time.monotonic() + 100

    def again_when_busy(call: Callable[[], T]) -> T:
        # SQLite's wait for the write lock is not fair: a thread that loops on
        # claims can hold it past another's busy timeout on a slow disk. The
        # refused call changed nothing, and a worker claims again (as
        # devsys_worker does); the opens above and below never wait for it.
        while True:
            try:
                return call()
            except devsys.BusyError:
                if time.monotonic() > deadline:
                    raise

    def worker(name: str) -> None:
        try:
            with devsys.Store(ws, busy_timeout_ms=10000) as mine:
                mine_ids: List[str] = []
                while (tid := again_when_busy(lambda: mine.claim(name, "h", lease_ms=60000))) is not None:
                    mine_ids.append(tid)
                    again_when_busy(lambda: mine.complete(tid, name))
                got[name] = mine_ids
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(got) == [f"w{i}" for i in range(n_threads)], "a thread did not finish"
    claimed = sorted(x for ids in got.values() for x in ids)
    assert claimed == [f"c{i:02d}" for i in range(n_tasks)], "each task exactly once"
    with devsys.Store(ws) as st:
        log = json.loads(st.claims_json())["claims"]
    assert len(log) == n_tasks and all(c["how"] == "completed" for c in log)
