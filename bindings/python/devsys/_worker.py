"""Worker (devsys/worker.h): claims the store's queued tasks and runs the
pipeline on each, several at once, until stop() is called from another
thread (or, with once=True, until nothing is left to claim)."""
from __future__ import annotations

import ctypes
import threading
from ctypes import byref
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence

from . import _lib
from . import _structs as S
from ._base import Handle, StrPath, check, dec, dec_opt, enc, new_handle, req, strarray
from ._core import Workspace
from ._flow import PipelineEvent, _require

fn = _lib.fn

(WORKER_EVENT_CLAIMED, WORKER_EVENT_REFUSED, WORKER_EVENT_ENDED, WORKER_EVENT_HANDED_BACK, WORKER_EVENT_LEASE_LOST,
 WORKER_EVENT_CANCEL, WORKER_EVENT_ERROR, WORKER_EVENT_PIPELINE, WORKER_EVENT_IDLE) = range(1, 10)
WORKER_ONCE = 1 << 0


@dataclass(frozen=True)
class WorkerEvent:
    """What a worker tells its event callback (copies)."""
    kind: int
    slot: int                         #: the job slot, 1..jobs; 0: the worker itself
    task_id: Optional[str]
    state: Optional[str]              #: ENDED, HANDED_BACK: where the task stands
    message: str
    pipeline: Optional[PipelineEvent]  #: PIPELINE: the pipeline's event


@dataclass(frozen=True)
class WorkerStats:
    jobs: int
    running: int
    claimed: int
    completed: int
    not_resting: int
    handed_back: int
    lease_expiries: int
    cancels: int
    stopping: bool
    agent_steps: int    #: the coding agents' usage over the agent stages this worker ran
    agent_tokens: int
    agent_cost: float


WorkerCallback = Callable[[WorkerEvent], None]


class Worker(Handle):
    """A claimer of the workspace's queue: one pipeline per job slot, a
    heartbeat keeping the leases, a graceful stop handing unfinished tasks
    back. run() blocks (the GIL is released); stop(), stats() and
    cancel_task() may be called from other threads meanwhile. The event
    callback runs on the worker's threads, one call at a time; an exception
    it raises cannot stop the worker: the first one is raised from run()."""

    _free_fn = "devsys_worker_free"

    def __init__(self, workspace: Workspace, *, id: Optional[str] = None, host: Optional[str] = None, jobs: int = 1,
                 profiles: Sequence[str] = (), lease_ms: int = 0, config_path: Optional[StrPath] = None,
                 event: Optional[WorkerCallback] = None, poll_ms: int = 0, once: bool = False) -> None:
        _require("worker")
        o = S.WorkerOptions()
        check(fn.devsys_worker_options_init(byref(o), 1))
        names = [req(p, "profile") for p in profiles]
        arr = strarray(names) if names else None
        o.flags = WORKER_ONCE if once else 0
        o.id, o.host = enc(id, "id", optional=True), enc(host, "host", optional=True)
        o.jobs, o.lease_ms, o.poll_ms = jobs, lease_ms, poll_ms
        o.profiles = ctypes.cast(arr, S.c_char_pp) if arr is not None else None
        o.nprofiles = len(names)
        o.config_path = enc(config_path, "config_path", optional=True)
        self._raised: Optional[BaseException] = None
        self._lock = threading.Lock()
        self._running = False
        if event is not None:
            cb_fn = event

            def on_event(e: Any, _pl: Any) -> None:
                ev = e.contents
                pe = PipelineEvent._from(ev.pipeline.contents) if ev.pipeline else None
                state = dec_opt(fn.devsys_task_state_name(ev.state)) if ev.state >= 0 else None
                try:
                    cb_fn(WorkerEvent(ev.kind, ev.slot, dec_opt(ev.task_id), state, dec(ev.message), pe))
                except BaseException as ex:  # noqa: B902 - raised from run()
                    with self._lock:
                        self._raised = self._raised or ex
            o.event = S.WORKER_EVENT_CB(on_event)
        # the callback is called until devsys_worker_free(): the wrapper keeps it
        self._keep = (o, names, arr)
        super().__init__(new_handle(lambda out: fn.devsys_worker_open(out, workspace._h, byref(o))), workspace)

    @property
    def id(self) -> str:
        return dec(fn.devsys_worker_id(self._h))

    def run(self) -> None:
        """Claim and run tasks until stop() (or, with once=True, until nothing is
        left to claim). StateError when it ran before."""
        h = self._h
        self._running = True
        try:
            rc = fn.devsys_worker_run(h)
        finally:
            self._running = False
        check(rc)
        with self._lock:
            raised, self._raised = self._raised, None
        if raised is not None:
            raised.add_note("(raised in a Worker event callback)")
            raise raised

    def stop(self, grace_ms: int = 0) -> None:
        """Claim nothing more; running tasks get @p grace_ms to end, then are
        handed back (interrupted) and canceled. From any thread but run()'s."""
        check(fn.devsys_worker_stop(self._h, grace_ms))

    def stats(self) -> WorkerStats:
        st = S.WorkerStats()
        st.version = 1
        check(fn.devsys_worker_stats_get(byref(st), self._h))
        return WorkerStats(st.jobs, st.running, st.claimed, st.completed, st.not_resting, st.handed_back,
                           st.lease_expiries, st.cancels, bool(st.stopping), st.agent_steps, st.agent_tokens,
                           st.agent_cost)

    def cancel_task(self, task_id: str) -> bool:
        """Cancel @p task_id if one of this worker's slots runs it."""
        return bool(check(fn.devsys_worker_cancel_task(self._h, req(task_id, "task id"))))

    def state(self, task_id: str) -> str:
        """The task's state in the worker's store."""
        st = fn.devsys_worker_store(self._h)
        return dec(fn.devsys_task_state_name(check(fn.devsys_store_task_state(st, req(task_id, "task id")))))

    def close(self) -> None:
        if self._running:
            raise RuntimeError("Worker.close(): the worker is running; stop() it and let run() return first")
        super().close()


__all__ = ["WORKER_EVENT_CLAIMED", "WORKER_EVENT_REFUSED", "WORKER_EVENT_ENDED", "WORKER_EVENT_HANDED_BACK",
           "WORKER_EVENT_LEASE_LOST", "WORKER_EVENT_CANCEL", "WORKER_EVENT_ERROR", "WORKER_EVENT_PIPELINE",
           "WORKER_EVENT_IDLE",
           "WorkerEvent", "WorkerStats", "WorkerCallback", "Worker"]
