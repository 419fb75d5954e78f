"""Agent kinds written in Python (devsys/sys/agent.h): register_agent(name,
factory) makes `agent.kind: <name>` run the AgentAdapter that factory
returns for each task. The vtable's slots are ctypes callbacks, so they may
run on whichever thread runs the pipeline (ctypes takes the GIL)."""
from __future__ import annotations

import ctypes
import itertools
import json
import threading
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_int, c_size_t, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _base, _lib
from . import _structs as S
from ._base import check, dec, req, strarray
from ._errcodes import UserCallbackError, ValidationError
from ._error import Error

fn = _lib.fn

#: line(): the line was one of the agent's events (kept in logs/agent.jsonl)
AGENT_EVENT = 1
#: line(): an event that crossed a budget: the library stops the agent (stop_reason() says which)
AGENT_STOP = 2
#: line(), err_line(): the agent waits on what a headless run never gives (a permission prompt): stopped, stalled
AGENT_STALL = 3

_EUSER = -10

_OPEN_FN: Any = CFUNCTYPE(c_int, POINTER(c_void_p), POINTER(S.AgentRequest), c_void_p)
_COMMAND_FN: Any = CFUNCTYPE(c_int, c_void_p, POINTER(POINTER(c_char_p)), POINTER(POINTER(c_char_p)))
_LINE_FN: Any = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
_USAGE_FN: Any = CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p))
_STOP_REASON_FN: Any = CFUNCTYPE(c_void_p, c_void_p)
_CLOSE_FN: Any = CFUNCTYPE(None, c_void_p)
# version 2
_PREFLIGHT_FN: Any = CFUNCTYPE(c_int, c_void_p, POINTER(POINTER(c_char_p)))
_PREFLIGHT_CHECK_FN: Any = CFUNCTYPE(c_int, c_void_p, c_int, c_void_p, c_size_t)
_STATUS_FN: Any = CFUNCTYPE(c_void_p, c_void_p, POINTER(c_uint64), POINTER(c_uint64))


@dataclass(frozen=True)
class AgentRequest:
    """What an adapter is made for (copies: they outlive the call)."""
    kind: str
    task_id: str
    checkout: str     #: the task's worktree, the agent's working directory
    home: str         #: the per-task HOME (mode 0700), outside the checkout
    input: str        #: agent-input.json (id, title, prompt, spec path, acceptance)
    spec: Any         #: the task's spec document as Python data


class AgentAdapter:
    """One agent run. Override command(); the others are optional. A method
    that raises stops the run with DEVSYS_EUSER (the stage fails "system"),
    and Pipeline.run() on the thread that ran it raises the exception again."""

    def command(self) -> Tuple[Sequence[str], Optional[Mapping[str, str]]]:
        """argv (non-empty) and environment entries added to the scrubbed
        environment (None: none). No secret the agent was not meant to hold."""
        raise NotImplementedError

    def line(self, line: bytes) -> int:
        """One line of the agent's stdout (masked): 0, AGENT_EVENT or AGENT_STOP."""
        return 0

    def usage(self) -> Optional[Dict[str, Any]]:
        """After the agent ended: what it did, kept in task.json agent.usage."""
        return None

    def stop_reason(self) -> Optional[str]:
        """After AGENT_STOP: which budget crossed and its figure."""
        return None

    def close(self) -> None:
        """The run is over (always called once open succeeded)."""

    # ---- vtable version 2 ----

    def preflight(self) -> Optional[Sequence[str]]:
        """A command run first through the same runner, environment and
        directory (e.g. ["opencode", "--version"]); None: none."""
        return None

    def preflight_check(self, exit_code: int, out: bytes) -> None:
        """The preflight's exit code (-1: it could not run; then @p out is the
        runner's message) and stdout (up to 64 KiB). Raise to keep the agent
        from running: ValidationError (or another devsys.Error) with a message
        naming what was found and what is expected. The default refuses a
        non-zero exit, as the library does for a kind without this slot."""
        if exit_code != 0:
            raise ValidationError(f"its preflight command failed (exit {exit_code})", code=ValidationError.code,
                                  name="DEVSYS_EINVALID")

    def err_line(self, line: bytes) -> int:
        """One stderr line (masked): 0 or AGENT_STALL (a permission prompt, say)."""
        return 0

    def status(self) -> Optional[Tuple[str, int, int]]:
        """After each event, for the live progress view: (label, step, max; 0:
        no budget), shown as a PROGRESS event of stage agent; None: nothing."""
        return None


AgentFactory = Callable[[AgentRequest], AgentAdapter]

def take_pending() -> Optional[BaseException]:
    """The exception an adapter (or another plug-in) raised on this thread since the last call, if any."""
    return _base.take_pending()


class _Instance:
    def __init__(self, kind: str, adapter: AgentAdapter) -> None:
        self.kind, self.adapter = kind, adapter
        self.keep: List[Any] = []  # argv/env arrays and the stop reason: borrowed by C until close
        self.status: Any = None  # the last status label: borrowed by C until the next status call


_instances: Dict[int, _Instance] = {}
_ids = itertools.count(1)
#: registered kinds: the vtable's callbacks live as long as the process (the library has no unregister)
_kinds: Dict[str, Tuple[Any, ...]] = {}


def _fail(kind: str, slot: str, e: BaseException) -> int:
    """A devsys.Error fails the slot with its code and message (the adapter's
    own refusal); anything else with DEVSYS_EUSER, raised again by the call."""
    if isinstance(e, Error) and e.code < 0 and not isinstance(e, UserCallbackError):
        return int(fn.devsys_error_set_str(e.code, f"agent kind '{kind}': {e.message}".replace("\0", " ")
                                           .encode("utf-8", "replace")))
    _base.set_pending(e)
    return int(fn.devsys_error_set_str(_EUSER, f"agent kind '{kind}': {slot} raised {type(e).__name__}: {e}"
                                       .encode("utf-8", "replace")))


def _spec_data(spec: int) -> Any:
    node = fn.devsys_spec_at(spec, 0) if spec else None
    if not node:
        return None
    b = S.Buf()
    try:
        if int(fn.devsys_node_to_json(ctypes.byref(b), node)) < 0:
            return None
        return json.loads(ctypes.string_at(b.ptr, b.size)) if b.ptr else None
    finally:
        fn.devsys_buf_dispose(ctypes.byref(b))


def _make_slots(kind: str, factory: AgentFactory) -> Tuple[Any, ...]:
    def open_(self_out: Any, r: Any, _payload: Any) -> int:
        try:
            q = r.contents
            tid = dec(fn.devsys_task_id(q.task)) if q.task else ""
            request = AgentRequest(kind, tid, dec(q.checkout), dec(q.home), dec(q.input), _spec_data(q.spec))
            adapter = factory(request)
            if not isinstance(adapter, AgentAdapter):
                raise TypeError(f"the factory returned {type(adapter).__name__}, not an AgentAdapter")
        except BaseException as e:  # noqa: B902 - reported to C, re-raised by Pipeline.run()
            return _fail(kind, "open", e)
        key = next(_ids)
        _instances[key] = _Instance(kind, adapter)
        self_out[0] = key
        return 0

    def command(self: Any, argv_out: Any, env_out: Any) -> int:
        inst = _instances[int(self)]
        try:
            argv, env = inst.adapter.command()
            if isinstance(argv, (str, bytes)) or not argv:
                raise ValueError("command(): argv must be a non-empty sequence of strings")
            a = [req(x, "argv item") for x in argv]
            e = [req(f"{k}={v}", "env entry") for k, v in (env or {}).items()]
        except BaseException as ex:  # noqa: B902
            return _fail(inst.kind, "command", ex)
        arr, earr = strarray(a), strarray(e) if e else None
        inst.keep += [a, e, arr, earr]
        argv_out[0] = ctypes.cast(arr, POINTER(c_char_p))
        env_out[0] = ctypes.cast(earr, POINTER(c_char_p)) if earr is not None else None
        return 0

    def line_slot(slot: str, allowed: Tuple[Any, ...], names: str) -> Callable[[Any, Any, int], int]:
        """line or err_line: the adapter's answer for a line, one of @p allowed (@p names in the error)."""
        def f(self: Any, p: Any, n: int) -> int:
            inst = _instances[int(self)]
            try:
                r = getattr(inst.adapter, slot)(ctypes.string_at(p, n))
                return int(r or 0) if r in allowed else _fail(
                    inst.kind, slot, ValueError(f"{slot}() returned {r!r}: not {names}"))
            except BaseException as ex:  # noqa: B902
                return _fail(inst.kind, slot, ex)
        return f

    def usage(self: Any, out: Any) -> int:
        inst = _instances[int(self)]
        out[0] = None
        try:
            u = inst.adapter.usage()
            if u is None:
                return 0
            text = json.dumps(u).encode()
            if not text.startswith(b"{"):
                raise ValueError("usage() must return a dict (a JSON object)")
        except BaseException as ex:  # noqa: B902
            return _fail(inst.kind, "usage", ex)
        mem = fn.devsys_malloc(len(text) + 1)  # the library frees it with devsys_free()
        if not mem:
            return int(fn.devsys_error_set_str(-2, b"agent usage: out of memory"))
        ctypes.memmove(mem, text + b"\0", len(text) + 1)
        out[0] = mem
        return 0

    def stop_reason(self: Any) -> Optional[int]:
        inst = _instances[int(self)]
        try:
            why = inst.adapter.stop_reason()
        except BaseException as ex:  # noqa: B902 - it cannot fail: the library says why itself
            _fail(inst.kind, "stop_reason", ex)
            return None
        if why is None:  # what the library says for a kind without the slot
            why = "the agent's adapter stopped it"
        b = ctypes.create_string_buffer(why.encode("utf-8", "replace").replace(b"\0", b" "))
        inst.keep.append(b)
        return ctypes.addressof(b)

    def close(self: Any) -> None:
        inst = _instances.pop(int(self), None)
        if inst is None:
            return
        try:
            inst.adapter.close()
        except BaseException as ex:  # noqa: B902
            _fail(inst.kind, "close", ex)

    def preflight(self: Any, argv_out: Any) -> int:
        inst = _instances[int(self)]
        argv_out[0] = None
        try:
            argv = inst.adapter.preflight()
            if argv is None:
                return 0
            if isinstance(argv, (str, bytes)) or not argv:
                raise ValueError("preflight(): argv must be None or a non-empty sequence of strings")
            a = [req(x, "preflight argv item") for x in argv]
        except BaseException as ex:  # noqa: B902
            return _fail(inst.kind, "preflight", ex)
        arr = strarray(a)
        inst.keep += [a, arr]
        argv_out[0] = ctypes.cast(arr, POINTER(c_char_p))
        return 0

    def preflight_check(self: Any, exit_code: int, p: Any, n: int) -> int:
        inst = _instances[int(self)]
        try:
            inst.adapter.preflight_check(int(exit_code), ctypes.string_at(p, n) if p else b"")
        except BaseException as ex:  # noqa: B902
            return _fail(inst.kind, "preflight_check", ex)
        return 0

    def status(self: Any, step: Any, mx: Any) -> Optional[int]:
        inst = _instances[int(self)]
        try:
            st = inst.adapter.status()
            if st is None:
                return None
            label, s, m = st
            b = ctypes.create_string_buffer(req(label, "status label"))
            step[0], mx[0] = int(s), int(m)
        except BaseException as ex:  # noqa: B902 - it cannot fail: nothing is shown
            _fail(inst.kind, "status", ex)
            return None
        inst.status = b  # borrowed by C until the next call
        return ctypes.addressof(b)

    line = line_slot("line", (None, 0, AGENT_EVENT, AGENT_STOP), "0, AGENT_EVENT or AGENT_STOP")
    err_line = line_slot("err_line", (None, 0, AGENT_STALL, AGENT_STOP), "0 or AGENT_STALL")
    return (_OPEN_FN(open_), _COMMAND_FN(command), _LINE_FN(line), _USAGE_FN(usage),
            _STOP_REASON_FN(stop_reason), _CLOSE_FN(close), _PREFLIGHT_FN(preflight),
            _PREFLIGHT_CHECK_FN(preflight_check), _LINE_FN(err_line), _STATUS_FN(status))


def register_agent(name: str, factory: AgentFactory) -> None:
    """Make `agent.kind: <name>` run factory(AgentRequest) -> AgentAdapter,
    process-wide, until the library shuts down at exit. ExistsError when the
    name is taken (a built-in: command, opencode), InvalidArgumentError for
    an empty or over-long name or too many kinds."""
    if not callable(factory):
        raise TypeError(f"factory: expected a callable, got {type(factory).__name__}")
    b = req(name, "name")
    slots = _make_slots(dec(b), factory)
    vt = S.AgentVtable()
    vt.version, vt.name = 2, b
    (vt.open, vt.command, vt.line, vt.usage, vt.stop_reason, vt.close, vt.preflight, vt.preflight_check, vt.err_line,
     vt.status) = (ctypes.cast(s, c_void_p).value for s in slots)
    check(fn.devsys_agent_register(ctypes.byref(vt), None))
    _kinds[dec(b)] = (vt, b, factory) + slots


def registered_agents() -> List[str]:
    """The kinds this process registered from Python."""
    return sorted(_kinds)


__all__ = ["AGENT_EVENT", "AGENT_STOP", "AGENT_STALL", "AgentRequest", "AgentAdapter", "AgentFactory", "register_agent",
           "registered_agents"]
