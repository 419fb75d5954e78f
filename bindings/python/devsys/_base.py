"""What every class shares: string conversion, error raising, buffers,
callback traps and the handle base class."""
from __future__ import annotations

import ctypes
import os
import threading
import weakref
from ctypes import byref, c_void_p
from typing import Any, Callable, ClassVar, List, Optional, Tuple, TypeVar, Union

from . import _lib
from . import _structs as S
from ._errcodes import CODES
from ._error import ClosedHandleError, Error

StrPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
T = TypeVar("T", bound="Handle")


def enc(value: Optional[StrPath], what: str, *, optional: bool = False) -> Optional[bytes]:
    """A C string from str (UTF-8; surrogate escapes give back the bytes
    os.fsdecode hid), bytes or a path. None only where the C API allows NULL."""
    if type(value) is str and value.isascii():  # the common case, before the slower ABC check below
        if "\0" in value:
            raise ValueError(f"{what}: {value!r} contains a NUL byte")
        return value.encode("ascii")
    if value is None:
        if optional:
            return None
        raise TypeError(f"{what}: expected str, bytes or a path, got None")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        try:
            b = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as e:
            raise ValueError(f"{what}: {value!r} cannot be encoded as UTF-8 ({e.reason})") from None
    elif isinstance(value, bytes):
        b = value
    else:
        raise TypeError(f"{what}: expected str, bytes or a path, got {type(value).__name__}")
    if b"\0" in b:
        raise ValueError(f"{what}: {value!r} contains a NUL byte")
    return b


def req(value: Optional[StrPath], what: str) -> bytes:
    b = enc(value, what)
    assert b is not None
    return b


def data(value: Union[str, bytes], what: str) -> bytes:
    """Bytes for a pointer + length argument (NUL allowed)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what}: expected str or bytes, got {type(value).__name__}")


def dec(b: Any) -> str:
    if b is None:
        return ""
    return bytes(b).decode("utf-8", "surrogateescape")


def dec_opt(b: Any) -> Optional[str]:
    return None if b is None else dec(b)


def last_error(rc: int) -> Error:
    """The exception for return code @p rc, from the thread's last error."""
    err = _lib.fn.devsys_error_last()
    code = int(_lib.fn.devsys_error_code(err))
    message = dec(_lib.fn.devsys_error_message(err))
    if code != rc:  # the library returned a code without recording it: its description
        message = dec(_lib.fn.devsys_strerror(rc))
    status = int(_lib.fn.devsys_error_http_status(err))
    detail = dec_opt(_lib.fn.devsys_error_detail(err))
    name = dec(_lib.fn.devsys_error_name(rc))
    cls = CODES[rc][1] if rc in CODES else Error
    e: Error = cls(message, code=rc, name=name, http_status=status, detail=detail)
    return e


_pending = threading.local()  # the exception a plug-in's slot raised on this thread, for the binding call


def set_pending(e: BaseException) -> None:
    """Keep @p e, raised in a plug-in slot (agent, runner, forge, secret
    provider), for the binding call on this thread that gets the failure."""
    if getattr(_pending, "exc", None) is None:
        _pending.exc = e


def take_pending() -> Optional[BaseException]:
    e: Optional[BaseException] = getattr(_pending, "exc", None)
    _pending.exc = None
    return e


def check(rc: Any) -> int:
    r = int(rc)
    if r < 0:
        exc = take_pending()
        if exc is not None and r == -10:  # DEVSYS_EUSER: the slot's exception is what failed the call
            exc.add_note(f"(raised in a plug-in slot; it failed the libdevsys call with "
                         f"{dec(_lib.fn.devsys_error_name(r))})")
            raise exc
        if exc is not None:  # another failure: a slot's earlier exception is only its cause
            raise last_error(r) from exc
        raise last_error(r)
    return r


class Trap:
    """Runs Python callables for C: an exception is kept, the C call is told
    to stop (non-zero return, which the library turns into DEVSYS_EUSER), and
    raise_pending() re-raises it, traceback and all, once the call returned."""

    def __init__(self) -> None:
        self.exc: Optional[BaseException] = None

    def run(self, f: Callable[..., Any], *args: Any) -> int:
        if self.exc is not None:
            return 1
        try:
            r = f(*args)
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt must stop the C call too
            self.exc = e
            return 1
        return 1 if r is False else 0

    def check(self, rc: Any) -> int:
        exc, self.exc = self.exc, None
        if exc is not None:
            if int(rc) < 0:
                exc.add_note(f"(raised in a callback; it aborted the libdevsys call with "
                             f"{dec(_lib.fn.devsys_error_name(int(rc)))})")
            raise exc
        return check(rc)


def with_buf(call: Callable[[Any], Any]) -> bytes:
    """Run @p call with a fresh devsys_buf and return its bytes (always disposed)."""
    b = S.Buf()
    try:
        check(call(byref(b)))
        return ctypes.string_at(b.ptr, b.size) if b.ptr else b""
    finally:
        _lib.fn.devsys_buf_dispose(byref(b))


def new_handle(call: Callable[[Any], Any], trap: Optional[Trap] = None) -> int:
    out = c_void_p()
    rc = call(byref(out))
    if trap is not None:
        trap.check(rc)
    else:
        check(rc)
    assert out.value is not None
    return out.value


def strarray(items: Optional[List[bytes]]) -> Any:
    """A NULL-terminated char *[] (the caller keeps the list alive)."""
    if items is None:
        return None
    arr = (ctypes.c_char_p * (len(items) + 1))()
    for i, it in enumerate(items):
        arr[i] = it
    arr[len(items)] = None
    return arr


def _free(free: Any, ptr: int) -> None:
    free(ptr)


class Handle:
    """An owned libdevsys handle: a context manager that frees it on close(),
    with a finalizer as the safety net. Python parents are referenced too, so
    collection order never matters (the library also keeps its own references)."""

    _free_fn: ClassVar[str] = ""

    def __init__(self, ptr: int, *parents: object) -> None:
        self._ptr: Optional[int] = ptr
        self._parents: Tuple[object, ...] = parents
        self._finalizer = weakref.finalize(self, _free, getattr(_lib.fn, self._free_fn), ptr)

    @property
    def _h(self) -> int:
        if self._ptr is None:
            raise ClosedHandleError(f"{type(self).__name__} is closed")
        return self._ptr

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Free the handle now. Closing twice is fine; using it afterwards raises ClosedHandleError."""
        self._ptr = None
        self._finalizer()

    def __enter__(self: T) -> T:
        self._h  # refuse a closed handle here too
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else hex(self._ptr)
        return f"<devsys.{type(self).__name__} {state}>"
