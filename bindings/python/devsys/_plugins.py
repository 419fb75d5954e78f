"""Plug-ins written in Python (include/devsys/sys/*.h): runner types, forge
providers, secret providers and the allocator hook.

Each registration fills the library's vtable with ctypes callbacks. ctypes
takes the GIL when C calls one, so a slot may run on any thread (a
pipeline's or a worker's). The callbacks, the vtable and every payload are
kept referenced by this module for the life of the process: the library has
no unregister for runner types or secret providers, and a forge provider
that is unregistered still serves the Forge handles opened before.

A slot that raises a devsys.Error subclass (NotFoundError, AuthError, ...)
fails with that code and message, as a C plug-in does. Any other exception
fails it with DEVSYS_EUSER, and the binding call that ran it on the same
thread (Runner.exec(), Forge.open_pr(), Secrets.resolve(), Pipeline.run(),
...) raises that exception again, traceback and all."""
from __future__ import annotations

import ctypes
import itertools
import threading
from ctypes import CFUNCTYPE, POINTER, byref, c_char_p, c_int, c_int64, c_void_p
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union, cast

from . import _base, _lib
from . import _structs as S
from ._base import check, dec, dec_opt, enc, req
from ._errcodes import UserCallbackError
from ._error import ClosedHandleError, Error

fn = _lib.fn

_EUSER = -10
_ENOMEM = -3


def slot_failed(what: str, slot: str, e: BaseException) -> int:
    """What a slot returns for exception @p e (the thread's error set)."""
    if isinstance(e, Error) and e.code < 0 and not isinstance(e, UserCallbackError):
        rc = int(fn.devsys_error_set_str(e.code, req(e.message.replace("\0", " "), "message")))
        if e.http_status or e.detail:
            fn.devsys_error_set_detail(e.http_status, enc(e.detail, "detail", optional=True))
        return rc
    _base.set_pending(e)
    msg = f"{what}: {slot} raised {type(e).__name__}: {e}".replace("\0", " ")
    return int(fn.devsys_error_set_str(_EUSER, msg.encode("utf-8", "replace")))


def _unraisable(what: str, slot: str, e: BaseException, obj: object) -> None:
    """A slot that cannot fail its caller (close, release) raised: sys.unraisablehook, as the log callback's."""
    import sys
    sys.unraisablehook(cast(Any, SimpleNamespace(exc_type=type(e), exc_value=e, exc_traceback=e.__traceback__,
                                                 err_msg=f"Exception ignored in {what}'s {slot}", object=obj)))


def _addr(cb: Any) -> Optional[int]:
    return ctypes.cast(cb, c_void_p).value if cb is not None else None


def _overrides(cls: Optional[type], base: type, name: str) -> bool:
    """Does class @p cls (None: unknown, a plain factory) define slot method @p name itself?"""
    return cls is None or getattr(cls, name, None) is not getattr(base, name, None)


def _strs(p: Any, n: Optional[int] = None) -> List[str]:
    """A char ** of @p n entries (or NULL-terminated when n is None) as str."""
    out: List[str] = []
    if not p:
        return out
    arr = ctypes.cast(p, POINTER(c_char_p))
    i = 0
    while (n is None and arr[i] is not None) or (n is not None and i < n):
        out.append(dec(arr[i]))
        i += 1
    return out


class _Instances:
    """Python objects behind the void *self of a plug-in's instances."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._live: Dict[int, Any] = {}

    def add(self, obj: Any) -> int:
        with self._lock:
            key = next(self._ids)
            self._live[key] = obj
        return key

    def get(self, key: Any) -> Any:
        return self._live[int(key or 0)]

    def pop(self, key: Any) -> Any:
        with self._lock:
            return self._live.pop(int(key or 0), None)

    def __len__(self) -> int:
        return len(self._live)


#: every registered plug-in's vtable, callbacks and payload: never collected
_registered: Dict[Tuple[str, str], Tuple[Any, ...]] = {}
_reg_lock = threading.Lock()


def _keep(kind: str, name: str, *objs: Any) -> None:
    with _reg_lock:
        # a forge re-registered under a name keeps the old entry's callbacks too (old Forge handles use them)
        _registered[(kind, name + "#" + str(len(_registered)))] = objs


def registered_plugins() -> List[Tuple[str, str]]:
    """(kind, name) of every plug-in this process registered from Python."""
    return sorted((k, n.rsplit("#", 1)[0]) for k, n in _registered)


def _open_slot(what: str, insts: _Instances, base: type, make: Callable[[Any], Any],
               wrap: Callable[[Any], Any]) -> Callable[[Any, Any, Any], int]:
    """The open slot of a runner type or forge provider: make(options) calls the
    factory, whose object must be a @p base; wrap(object) is what self stands for."""
    def open_(self_out: Any, o: Any, _payload: Any) -> int:
        try:
            obj = make(o.contents)
            if not isinstance(obj, base):
                raise TypeError(f"the factory returned {type(obj).__name__}, not a {base.__name__}")
        except BaseException as e:  # noqa: B902 - reported to C, re-raised by the binding call
            return slot_failed(what, "open", e)
        self_out[0] = insts.add(wrap(obj))
        return 0
    return open_


def _close_slot(what: str, insts: _Instances, attr: str) -> Callable[[Any], None]:
    """The close slot: drops the instance and calls close() on its @p attr, which cannot fail its caller."""
    def close(self: Any) -> None:
        inst = insts.pop(self)
        if inst is not None:
            obj = getattr(inst, attr)
            try:
                obj.close()
            except BaseException as e:  # noqa: B902 - close cannot fail
                _unraisable(what, "close", e, obj)
    return close


def _guarded(what: str, insts: _Instances, slot: str, body: Callable[..., object]) -> Callable[..., int]:
    """A slot that runs body(instance, *args): 0, or what slot_failed() makes of its exception."""
    def f(self: Any, *args: Any) -> int:
        try:
            body(insts.get(self), *args)
        except BaseException as e:  # noqa: B902
            return slot_failed(what, slot, e)
        return 0
    return f


def _register(kind: str, name: str, factory: Any, base: type, vt: Any, version: int,
              slots_of: Callable[[str, Any, Optional[type]], Dict[str, Any]], register: Callable[..., int]) -> None:
    """register_runner()/register_forge(): @p vt (a new vtable) gets @p version, the name and
    the slots slots_of(name, factory, class) makes (with a @p base subclass as @p factory, the
    class whose overrides say which optional slots are filled), then register(vt, NULL); the
    vtable, name and callbacks are kept for the process."""
    if not callable(factory):
        raise TypeError(f"factory: expected a callable, got {type(factory).__name__}")
    b = req(name, "name")
    proto = factory if isinstance(factory, type) and issubclass(factory, base) else None
    slots = slots_of(dec(b), factory, proto)
    vt.version, vt.name = version, b
    for k, cb in slots.items():
        setattr(vt, k, _addr(cb))
    check(register(byref(vt), None))
    _keep(kind, dec(b), vt, b, factory, slots)


# ====================================================================== runner types

@dataclass(frozen=True)
class RunnerCommand:
    """What a Python runner's exec() runs (copies: already checked by the library)."""
    argv: List[bytes]
    env: Optional[List[bytes]]   #: "NAME=value" entries; None: the runner's own environment
    cwd: Optional[str]
    timeout_ms: int              #: 0: none; the backend enforces it (status RUNNER_TIMEOUT)
    stdin: Optional[bytes]
    stdin_file: Optional[str]
    stage: Optional[str]
    flags: int
    image: Optional[str]
    idle_timeout_ms: int         #: the library checks it in io.stopped()
    max_output_bytes: int


@dataclass(frozen=True)
class RunnerStatus:
    """What a Python runner's exec() reports: failure (RUNNER_OK, RUNNER_BUILD_FAILURE,
    RUNNER_TIMEOUT, RUNNER_CANCELED, RUNNER_SYSTEM_FAILURE...), exit code, signal."""
    failure: int
    exit_code: int = -1
    signal: int = 0


class RunnerIO:
    """The library's output sink for one exec (devsys_runner_io), valid during exec() only."""

    def __init__(self, ptr: int) -> None:
        self._ptr: Optional[int] = ptr

    def _p(self) -> int:
        if self._ptr is None:
            raise ClosedHandleError("RunnerIO is used after its exec() returned")
        return self._ptr

    def write(self, stream: int, data: Union[str, bytes]) -> bool:
        """Hand raw output of @p stream (STDOUT, STDERR) to the library (masking,
        the log, the tail, the output callback). False: the exec must stop now
        (its output callback aborted, or the output limit was reached)."""
        b = _base.data(data, "data")
        return int(fn.devsys_runner_io_write(self._p(), stream, b, len(b))) == 0

    def stopped(self) -> bool:
        """True when the exec must stop now (also an idle timeout, checked against the clock here)."""
        return bool(fn.devsys_runner_io_stopped(self._p()))

    def wait_ms(self, cap_ms: int = -1) -> int:
        """@p cap_ms (-1: none) lowered to the ms left until the command's idle timeout."""
        return int(fn.devsys_runner_io_wait_ms(self._p(), cap_ms))


class RunnerBackend:
    """One instance of a Python runner type. Override exec() and cancel();
    the others are optional (a missing upload/download/describe is
    NotSupportedError for the caller, prepare/cleanup do nothing)."""

    def __init__(self, options: Any = None) -> None:
        self.options = options  #: the RunnerOpenOptions it was opened with

    def exec(self, cmd: RunnerCommand, io: RunnerIO) -> Union[int, RunnerStatus]:
        """Run @p cmd, writing its output with io.write(); return its exit code
        (0: RUNNER_OK, else RUNNER_BUILD_FAILURE) or a RunnerStatus. Call
        io.stopped() while waiting and stop the command when it is True
        (return RunnerStatus(RUNNER_CANCELED)); cancel() may come from another thread."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the running exec (any thread)."""

    def close(self) -> None:
        """The runner was freed."""

    def prepare(self, task_ptr: int) -> None:
        """Per-task set-up (@p task_ptr: the devsys_task, borrowed for the call)."""

    def cleanup(self, task_ptr: int) -> None:
        """Per-task clean-up."""

    def upload(self, local: str, remote: str) -> None:
        raise NotImplementedError

    def download(self, remote: str, local: str) -> None:
        raise NotImplementedError

    def workdir(self) -> Optional[str]:
        """The working directory (runner-wide), or None."""
        return None

    def describe(self) -> Mapping[str, str]:
        """engine, where, image_id, image_digest (any of them) for Runner.describe()."""
        raise NotImplementedError


@dataclass(frozen=True)
class RunnerOpenOptions:
    """What a runner type's factory gets (from the devsys_runner_options it is opened with)."""
    type: str
    flags: int
    grace_ms: int
    host: Optional[str]
    port: int
    user: Optional[str]
    remote_dir: Optional[str]
    backend_tag: Optional[str]


RunnerFactory = Callable[[RunnerOpenOptions], RunnerBackend]

_R_OPEN: Any = CFUNCTYPE(c_int, POINTER(c_void_p), POINTER(S.RunnerOptions), c_void_p)
_R_EXEC: Any = CFUNCTYPE(c_int, c_void_p, POINTER(S.RunnerCmd), c_void_p, POINTER(S.RunnerStatus))
_R_SELF: Any = CFUNCTYPE(c_int, c_void_p)
_R_CLOSE: Any = CFUNCTYPE(None, c_void_p)
_R_TASK: Any = CFUNCTYPE(c_int, c_void_p, c_void_p)
_R_COPY: Any = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p)
_R_WORKDIR: Any = CFUNCTYPE(c_void_p, c_void_p, c_void_p)
_R_DESCRIBE: Any = CFUNCTYPE(c_int, c_void_p, POINTER(S.RunnerDescription))

_runner_instances = _Instances()
_FAILURE_RC = {3: -18, 4: -19, 2: -27}  # timeout, canceled, system failure -> their codes


class _RunnerInst:
    def __init__(self, backend: RunnerBackend) -> None:
        self.backend = backend
        self.workdir: Any = None  # the last workdir string, borrowed by C


def _command(c: Any) -> RunnerCommand:
    argv: List[bytes] = []
    arr = c.argv
    i = 0
    while arr[i] is not None:
        ln = c.argv_len[i] if c.argv_len else None
        argv.append(ctypes.string_at(arr[i], ln) if ln is not None else bytes(arr[i]))
        i += 1
    env = None
    if c.env:
        env, j = [], 0
        while c.env[j] is not None:
            env.append(bytes(c.env[j]))
            j += 1
    stdin = ctypes.string_at(c.stdin_data, c.stdin_len) if c.stdin_data else None
    return RunnerCommand(argv, env, dec_opt(c.cwd), int(c.timeout_ms), stdin, dec_opt(c.stdin_file),
                         dec_opt(c.stage), int(c.flags), dec_opt(c.image), int(c.idle_timeout_ms),
                         int(c.max_output_bytes))


def _runner_slots(name: str, factory: RunnerFactory, proto: Optional[type]) -> Dict[str, Any]:
    what = f"runner type '{name}'"
    insts = _runner_instances

    def options(q: Any) -> RunnerOpenOptions:
        return RunnerOpenOptions(name, int(q.flags), int(q.grace_ms), dec_opt(q.host), int(q.port), dec_opt(q.user),
                                 dec_opt(q.remote_dir), dec_opt(q.backend_tag))

    def exec_(self: Any, cmd: Any, io: Any, st: Any) -> int:
        inst = insts.get(self)
        rio = RunnerIO(int(io))
        s = st.contents
        try:
            r = inst.backend.exec(_command(cmd.contents), rio)
            status = RunnerStatus(0 if r == 0 else 1, int(r)) if isinstance(r, int) else r
            if not isinstance(status, RunnerStatus):
                raise TypeError(f"exec() returned {type(r).__name__}, not an exit code or a RunnerStatus")
        except BaseException as e:  # noqa: B902
            s.failure, s.exit_code, s.signal = 2, -1, 0  # a system failure: the runner broke
            return slot_failed(what, "exec", e)
        finally:
            rio._ptr = None
        s.failure, s.exit_code, s.signal = status.failure, status.exit_code, status.signal
        rc = _FAILURE_RC.get(status.failure)
        if rc is not None:
            return int(fn.devsys_error_set_str(rc, f"{what}: the command ended {status.failure}".encode()))
        return 0

    def task_slot(slot: str) -> Any:
        return _guarded(what, insts, slot, lambda inst, task: getattr(inst.backend, slot)(int(task or 0)))

    def copy_slot(slot: str) -> Any:
        return _guarded(what, insts, slot, lambda inst, a, b: getattr(inst.backend, slot)(dec(a), dec(b)))

    def workdir(self: Any, _task: Any) -> Optional[int]:
        inst = insts.get(self)
        try:
            w = inst.backend.workdir()
        except BaseException as e:  # noqa: B902
            slot_failed(what, "workdir", e)
            return None
        if w is None:
            return None
        inst.workdir = ctypes.create_string_buffer(req(w, "workdir"))
        return ctypes.addressof(inst.workdir)

    def describe(inst: _RunnerInst, out: Any) -> None:
        d = inst.backend.describe()
        o = out.contents
        for k in ("engine", "where", "image_id", "image_digest"):
            if k in d:  # fixed-size fields: cut to fit, NUL kept
                setattr(o, k, req(d[k], k)[:getattr(S.RunnerDescription, k).size - 1])

    slots = {"open": _R_OPEN(_open_slot(what, insts, RunnerBackend, lambda q: factory(options(q)), _RunnerInst)),
             "exec": _R_EXEC(exec_), "cancel": _R_SELF(_guarded(what, insts, "cancel", lambda i: i.backend.cancel())),
             "close": _R_CLOSE(_close_slot(what, insts, "backend")),
             "prepare": _R_TASK(task_slot("prepare")), "cleanup": _R_TASK(task_slot("cleanup")),
             "workdir": _R_WORKDIR(workdir)}
    # the optional slots a backend class does not override stay NULL: the library says "not supported"
    if _overrides(proto, RunnerBackend, "upload"):
        slots["upload"] = _R_COPY(copy_slot("upload"))
    if _overrides(proto, RunnerBackend, "download"):
        slots["download"] = _R_COPY(copy_slot("download"))
    if _overrides(proto, RunnerBackend, "describe"):
        slots["describe"] = _R_DESCRIBE(_guarded(what, insts, "describe", describe))
    return slots


def register_runner(name: str, factory: RunnerFactory) -> None:
    """Make runner type @p name (Runner(name), a devsys.yaml profile's
    `type:`) run the RunnerBackend that @p factory(RunnerOpenOptions)
    returns for each opened runner, process-wide. @p factory may be a
    RunnerBackend subclass: its upload/download/describe slots are filled
    only when it overrides them. ExistsError for a taken name (inproc,
    remote-ssh, docker, ...), InvalidArgumentError for a bad one. There is
    no unregister: the type lives until the library shuts down at exit."""
    _register("runner", name, factory, RunnerBackend, S.RunnerVtable(), 2, _runner_slots, fn.devsys_runner_register)


# ====================================================================== forge providers

@dataclass(frozen=True)
class ForgeOpenOptions:
    """What a forge provider instance is bound to (devsys_forge_open_options, copied)."""
    provider: str
    base_url: Optional[str]
    owner: str
    repo: str
    remote_url: str
    local_path: Optional[str]
    token: Optional[str]   #: the resolved token: send it in a header only, never log it
    bot: Optional[str]


@dataclass(frozen=True)
class ForgePrRequest:
    title: str
    body: str             #: already capped and masked by the library
    head: str
    base: str
    draft: bool
    labels: List[str]
    reviewers: List[str]
    team_reviewers: List[str]
    number: int           #: the PR number the task remembers, or 0
    head_sha: Optional[str]
    base_sha: Optional[str]


@dataclass
class ForgePrInfo:
    """A pull request as the provider reports it."""
    number: int
    url: str
    head: str
    base: str
    head_sha: str
    title: str
    author: Optional[str] = None
    state: int = 0        #: PR_OPEN, PR_CLOSED, PR_MERGED
    draft: bool = False
    reused: bool = False  #: pr_upsert(): an open PR was found and updated
    merge_sha: Optional[str] = None


@dataclass(frozen=True)
class ForgeStatusRequest:
    context: str
    state: int
    description: Optional[str]
    target_url: Optional[str]


@dataclass(frozen=True)
class ForgeMergeRequest:
    sha: str
    method: int
    title: Optional[str]
    message: Optional[str]


@dataclass(frozen=True)
class ForgeProtection:
    branch: str
    contexts: List[str]
    approvals: int
    dismiss_stale: bool
    enforce_admins: bool


class ForgeSink:
    """How a provider hands a list to the library (devsys_forge_sink), valid during its slot only."""

    def __init__(self, ptr: int) -> None:
        self._ptr: Optional[int] = ptr

    def _p(self) -> int:
        if self._ptr is None:
            raise ClosedHandleError("ForgeSink is used after its slot returned")
        return self._ptr

    def review(self, reviewer: str, commit_sha: str, state: int) -> None:
        r = S.PolicyReview(1, req(reviewer, "reviewer"), req(commit_sha, "commit_sha"), state)
        check(fn.devsys_forge_sink_review(self._p(), byref(r)))

    def check(self, context: str, sha: str, state: int, kind: int = 0) -> None:
        """kind 0: a commit status, 1: a check run."""
        c = S.PolicyCheck(1, req(context, "context"), req(sha, "sha"), state, kind)
        check(fn.devsys_forge_sink_check(self._p(), byref(c)))

    def file(self, path: str, old_path: Optional[str] = None) -> None:
        check(fn.devsys_forge_sink_file(self._p(), req(path, "path"), enc(old_path, "old_path", optional=True)))

    def truncated(self) -> None:
        check(fn.devsys_forge_sink_truncated(self._p()))

    def author(self, login: str) -> None:
        check(fn.devsys_forge_sink_author(self._p(), req(login, "login")))


class ForgeProvider:
    """One instance of a Python forge provider, bound to one repository.
    pr_upsert() and pr_get() are required; a slot a subclass does not
    override stays empty (NotSupportedError for the caller)."""

    def __init__(self, options: Any = None) -> None:
        self.options = options  #: the ForgeOpenOptions it was opened with

    def pr_upsert(self, req: ForgePrRequest) -> ForgePrInfo:
        raise NotImplementedError

    def pr_get(self, number: int) -> ForgePrInfo:
        raise NotImplementedError

    def pr_reviews(self, number: int, sink: ForgeSink) -> None:
        raise NotImplementedError

    def review_add(self, number: int, reviewer: str, commit_sha: str, state: int) -> None:
        raise NotImplementedError

    def status_set(self, sha: str, status: ForgeStatusRequest) -> None:
        raise NotImplementedError

    def statuses(self, sha: str, sink: ForgeSink) -> None:
        raise NotImplementedError

    def check_runs(self, sha: str, sink: ForgeSink) -> None:
        raise NotImplementedError

    def pr_files(self, number: int, sink: ForgeSink) -> None:
        raise NotImplementedError

    def pr_authors(self, number: int, sink: ForgeSink) -> None:
        raise NotImplementedError

    def merge(self, number: int, req: ForgeMergeRequest) -> str:
        """Merge at exactly req.sha (raise ConflictError when the head moved): the base's new commit."""
        raise NotImplementedError

    def protect(self, protection: ForgeProtection) -> None:
        raise NotImplementedError

    def describe(self) -> Mapping[str, Any]:
        """A JSON object's members (at least what the library adds: provider); never the token."""
        raise NotImplementedError

    def close(self) -> None:
        """The Forge was freed (wipe copies of the token)."""


ForgeFactory = Callable[[ForgeOpenOptions], ForgeProvider]

_F_OPEN: Any = CFUNCTYPE(c_int, POINTER(c_void_p), POINTER(S.ForgeOpenOptions), c_void_p)
_F_CLOSE: Any = CFUNCTYPE(None, c_void_p)
_F_UPSERT: Any = CFUNCTYPE(c_int, c_void_p, POINTER(S.ForgePrInfo), POINTER(S.ForgePrRequest))
_F_GET: Any = CFUNCTYPE(c_int, c_void_p, POINTER(S.ForgePrInfo), c_int64)
_F_SINK_N: Any = CFUNCTYPE(c_int, c_void_p, c_void_p, c_int64)
_F_SINK_SHA: Any = CFUNCTYPE(c_int, c_void_p, c_void_p, c_char_p)
_F_REVIEW_ADD: Any = CFUNCTYPE(c_int, c_void_p, c_int64, POINTER(S.PolicyReview))
_F_STATUS_SET: Any = CFUNCTYPE(c_int, c_void_p, c_char_p, POINTER(S.ForgeStatus))
_F_MERGE: Any = CFUNCTYPE(c_int, c_void_p, POINTER(S.ForgeMergeResult), c_int64, POINTER(S.ForgeMergeRequest))
_F_PROTECT: Any = CFUNCTYPE(c_int, c_void_p, POINTER(S.ForgeProtection))
_F_DESCRIBE: Any = CFUNCTYPE(c_int, c_void_p, POINTER(S.Buf))

_forge_instances = _Instances()


class _ForgeInst:
    def __init__(self, provider: ForgeProvider) -> None:
        self.provider = provider
        self.out: List[Any] = []  # strings handed to C: valid until the next call on this instance


def _fill_info(inst: _ForgeInst, o: Any, info: Any) -> None:
    if not isinstance(info, ForgePrInfo):
        raise TypeError(f"expected a ForgePrInfo, got {type(info).__name__}")
    strs = {k: enc(getattr(info, k), k, optional=k in ("author", "merge_sha"))
            for k in ("url", "head", "base", "head_sha", "title", "author", "merge_sha")}
    inst.out = list(strs.values())
    o.number = int(info.number)
    for k, v in strs.items():
        setattr(o, k, v)
    o.state, o.draft, o.reused = int(info.state), int(bool(info.draft)), int(bool(info.reused))


def _forge_slots(name: str, factory: ForgeFactory, proto: Optional[type]) -> Dict[str, Any]:
    what = f"forge provider '{name}'"
    insts = _forge_instances

    def options(q: Any) -> ForgeOpenOptions:
        return ForgeOpenOptions(name, dec_opt(q.base_url), dec(q.owner), dec(q.repo), dec(q.remote_url),
                                dec_opt(q.local_path), dec_opt(q.token), dec_opt(q.bot))

    def upsert(inst: _ForgeInst, out: Any, r: Any) -> None:
        q = r.contents
        pr = ForgePrRequest(dec(q.title), dec(q.body), dec(q.head), dec(q.base), bool(q.draft),
                            _strs(q.labels, q.nlabels), _strs(q.reviewers, q.nreviewers),
                            _strs(q.team_reviewers, q.nteam_reviewers), int(q.number), dec_opt(q.head_sha),
                            dec_opt(q.base_sha))
        _fill_info(inst, out.contents, inst.provider.pr_upsert(pr))

    def get(inst: _ForgeInst, out: Any, number: int) -> None:
        _fill_info(inst, out.contents, inst.provider.pr_get(int(number)))

    def sink_n(slot: str) -> Callable[..., None]:
        def f(inst: _ForgeInst, sink: Any, number: int) -> None:
            s = ForgeSink(int(sink))
            try:
                getattr(inst.provider, slot)(int(number), s)
            finally:
                s._ptr = None
        return f

    def sink_sha(slot: str) -> Callable[..., None]:
        def f(inst: _ForgeInst, sink: Any, sha: Optional[bytes]) -> None:
            s = ForgeSink(int(sink))
            try:
                getattr(inst.provider, slot)(dec(sha), s)
            finally:
                s._ptr = None
        return f

    def review_add(inst: _ForgeInst, number: int, r: Any) -> None:
        q = r.contents
        inst.provider.review_add(int(number), dec(q.reviewer), dec(q.commit_sha), int(q.state))

    def status_set(inst: _ForgeInst, sha: Optional[bytes], st: Any) -> None:
        q = st.contents
        inst.provider.status_set(dec(sha), ForgeStatusRequest(dec(q.context), int(q.state), dec_opt(q.description),
                                                              dec_opt(q.target_url)))

    def merge(inst: _ForgeInst, out: Any, number: int, r: Any) -> None:
        q = r.contents
        sha = inst.provider.merge(int(number), ForgeMergeRequest(dec(q.sha), int(q.method), dec_opt(q.title),
                                                                 dec_opt(q.message)))
        b = req(sha, "merge()'s commit")
        inst.out = [b]
        out.contents.sha = b

    def protect(inst: _ForgeInst, p: Any) -> None:
        q = p.contents
        inst.provider.protect(ForgeProtection(dec(q.branch), _strs(q.contexts, q.ncontexts), int(q.approvals),
                                              bool(q.dismiss_stale), bool(q.enforce_admins)))

    def describe(inst: _ForgeInst, out: Any) -> None:
        import json
        d = dict(inst.provider.describe())
        d.setdefault("provider", name)
        b = json.dumps(d).encode()
        check(fn.devsys_buf_put(out, b, len(b)))

    bodies: Dict[str, Tuple[Any, Callable[..., None]]] = {
        "pr_upsert": (_F_UPSERT, upsert), "pr_get": (_F_GET, get),
        "pr_reviews": (_F_SINK_N, sink_n("pr_reviews")), "review_add": (_F_REVIEW_ADD, review_add),
        "status_set": (_F_STATUS_SET, status_set), "statuses": (_F_SINK_SHA, sink_sha("statuses")),
        "check_runs": (_F_SINK_SHA, sink_sha("check_runs")), "pr_files": (_F_SINK_N, sink_n("pr_files")),
        "pr_authors": (_F_SINK_N, sink_n("pr_authors")), "merge": (_F_MERGE, merge),
        "protect": (_F_PROTECT, protect), "describe": (_F_DESCRIBE, describe)}
    slots: Dict[str, Any] = {
        "open": _F_OPEN(_open_slot(what, insts, ForgeProvider, lambda q: factory(options(q)), _ForgeInst)),
        "close": _F_CLOSE(_close_slot(what, insts, "provider"))}
    for slot, (proto_t, body) in bodies.items():
        if slot in ("pr_upsert", "pr_get") or _overrides(proto, ForgeProvider, slot):
            slots[slot] = proto_t(_guarded(what, insts, slot, body))
    return slots


def register_forge(name: str, factory: ForgeFactory) -> None:
    """Make forge provider @p name (Forge(url, provider=name), a `forges:`
    entry's `provider:`) run the ForgeProvider that @p factory(ForgeOpenOptions)
    returns for each Forge, process-wide. With a ForgeProvider subclass as
    @p factory, only the slots it overrides are filled. ExistsError for a
    taken name (github, gitea, local), InvalidArgumentError for a bad one
    ([a-z0-9_-]{1,32})."""
    _register("forge", name, factory, ForgeProvider, S.ForgeVtable(), 1, _forge_slots, fn.devsys_forge_register)


def unregister_forge(name: str) -> None:
    """Remove provider @p name (NotFoundError when there is none). Forge handles
    opened before keep working: the callbacks stay alive for the process."""
    check(fn.devsys_forge_unregister(req(name, "name")))


def forge_registered(name: str) -> bool:
    """Is forge provider @p name registered (a built-in or a plug-in)?"""
    vt = POINTER(S.ForgeVtable)()
    rc = int(fn.devsys_forge_find(byref(vt), req(name, "name")))
    if rc == -4:
        fn.devsys_error_clear()
        return False
    check(rc)
    return bool(vt) and dec(vt.contents.name) == name


# ====================================================================== secret providers

#: resolve(name, ref) -> the value (ref: the definition's ref, or None)
SecretResolver = Callable[[str, Optional[str]], Union[str, bytes]]

_S_RESOLVE: Any = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, POINTER(S.Buf))
_S_RELEASE: Any = CFUNCTYPE(None, c_void_p)


def register_secret_provider(name: str, resolve: SecretResolver,
                             release: Optional[Callable[[], None]] = None) -> None:
    """Make secret provider @p name (Secrets.define(..., provider=name), a
    devsys.yaml secret's `provider:`) answer with @p resolve(name, ref),
    process-wide. The value goes straight into the library, which wipes its
    copy of the buffer; raise NotFoundError (naming the secret, never a
    value) to refuse. @p release runs when the library shuts down. There is
    no unregister."""
    if not callable(resolve):
        raise TypeError(f"resolve: expected a callable, got {type(resolve).__name__}")
    b = req(name, "name")
    what = f"secret provider '{dec(b)}'"

    def on_resolve(_self: Any, sname: Optional[bytes], ref: Optional[bytes], out: Any) -> int:
        try:
            v = _base.data(resolve(dec(sname), dec_opt(ref)), "value")
        except BaseException as e:  # noqa: B902
            return slot_failed(what, "resolve", e)
        return int(fn.devsys_buf_put(out, v, len(v)))

    def on_release(_self: Any) -> None:
        if release is not None:
            try:
                release()
            except BaseException as e:  # noqa: B902 - release cannot fail
                _unraisable(what, "release", e, release)

    cbs = (_S_RESOLVE(on_resolve), _S_RELEASE(on_release))
    p = S.SecretProvider()
    p.version, p.name, p.resolve, p.release = 1, b, _addr(cbs[0]), _addr(cbs[1])
    check(fn.devsys_secret_provider_register(byref(p), None))
    _keep("secret", dec(b), p, b, resolve, release, cbs)


# ====================================================================== redactors

#: redact(text) -> the redacted text, or None to drop the message (fail closed)
Redactor = Callable[[bytes], Optional[Union[str, bytes]]]


def redactor_vtable(redact: Redactor, on_release: Optional[Callable[[], None]] = None) -> Tuple[S.RedactorVtable, Any]:
    """A devsys_redactor_vtable over @p redact, and what must stay alive with it.
    A redactor that raises drops the message (the library fails closed); the
    exception goes to sys.unraisablehook, as the log callback's do."""
    import sys

    def on_redact(_self: Any, p: Any, n: int, out: Any) -> int:
        try:
            r = redact(ctypes.string_at(p, n))
            if r is None:
                return 1
            b = _base.data(r, "redacted text")
        except BaseException as e:  # noqa: B902 - a log line cannot fail its caller
            sys.unraisablehook(cast(Any, SimpleNamespace(
                exc_type=type(e), exc_value=e, exc_traceback=e.__traceback__,
                err_msg="Exception ignored in a devsys redactor (the message was dropped)", object=redact)))
            return 1
        return 0 if int(fn.devsys_buf_put(out, b, len(b))) == 0 else 1

    def on_rel(_self: Any) -> None:
        if on_release is not None:
            on_release()

    cbs = (S.REDACT_FN(on_redact), S.RELEASE_FN(on_rel))
    vt = S.RedactorVtable()
    vt.version, vt.redact, vt.release = 1, cbs[0], cbs[1]
    return vt, cbs


# ====================================================================== the allocator

AllocFn = Union[int, Any]  # a C function's address, or a ctypes function pointer (CDLL("libc.so.6").malloc)


def _fn_addr(f: AllocFn, what: str) -> int:
    if isinstance(f, int) and not isinstance(f, bool):
        a: Optional[int] = f
    elif isinstance(f, ctypes._CFuncPtr):  # type: ignore[attr-defined]
        a = ctypes.cast(f, c_void_p).value
    else:
        raise TypeError(f"{what}: expected a C function's address or a ctypes function pointer, got "
                        f"{type(f).__name__} (a Python callable cannot allocate for C)")
    if not a:
        raise ValueError(f"{what}: a NULL function pointer")
    return a


def set_allocator(malloc: Optional[AllocFn], realloc: Optional[AllocFn] = None, free: Optional[AllocFn] = None,
                  payload: int = 0) -> None:
    """Install C functions as the allocator for the memory the library
    allocates itself (devsys_set_allocator()); all None: the C library's
    again. They are called as malloc(size, payload), realloc(ptr, size,
    payload) and free(ptr, payload): libc's malloc/realloc/free ignore the
    extra argument on the ABIs this library runs on. Python callables are
    refused: C allocates on threads and at moments where calling Python is
    not safe.

    The library allows it only while it is not initialised, and importing
    devsys initialises it; so this call restarts it (devsys_shutdown(),
    install, devsys_init()), and only as long as the library holds nothing:
    it raises BusyError once a handle of this package was opened or a
    plug-in registered, and C's own BusyError when another part of the
    process holds the library initialised."""
    import gc
    if (malloc is None) != (realloc is None) or (malloc is None) != (free is None):
        raise ValueError("set_allocator: give malloc, realloc and free together, or all None")
    a: Optional[S.Allocator] = None
    if malloc is not None:
        a = S.Allocator()
        a.version = 1
        a.malloc_fn = ctypes.cast(_fn_addr(malloc, "malloc"), S.ALLOC_MALLOC)
        a.realloc_fn = ctypes.cast(_fn_addr(realloc, "realloc"), S.ALLOC_REALLOC)
        a.free_fn = ctypes.cast(_fn_addr(free, "free"), S.ALLOC_FREE)
        a.payload = payload or None
    with _reg_lock:
        gc.collect()
        if _registered or _agent_kinds() or any(isinstance(o, _base.Handle) and not o.closed
                                                for o in gc.get_objects()):
            raise _busy("set_allocator: the library has already allocated (a handle is open or a plug-in was "
                        "registered in this process); call it right after import devsys")
        fn.devsys_shutdown()
        try:
            rc = int(fn.devsys_set_allocator(byref(a) if a is not None else None))
            err = _base.last_error(rc) if rc < 0 else None
        finally:
            if int(fn.devsys_init()) < 0:
                raise _base.last_error(-1)
        if err is not None:
            raise err
        global _allocator
        _allocator = (a, malloc, realloc, free) if a is not None else None


_allocator: Any = None


def _busy(msg: str) -> Error:
    from ._errcodes import BusyError
    return BusyError(msg, code=BusyError.code, name="DEVSYS_EBUSY")


def _agent_kinds() -> bool:
    from . import _agent
    return bool(_agent.registered_agents())


__all__ = ["RunnerCommand", "RunnerStatus", "RunnerIO", "RunnerBackend", "RunnerOpenOptions", "RunnerFactory",
           "register_runner", "ForgeOpenOptions", "ForgePrRequest", "ForgePrInfo", "ForgeStatusRequest",
           "ForgeMergeRequest", "ForgeProtection", "ForgeSink", "ForgeProvider", "ForgeFactory", "register_forge",
           "unregister_forge", "forge_registered", "SecretResolver", "register_secret_provider", "Redactor",
           "set_allocator", "registered_plugins"]
