"""libdevsys for Python: a thin ctypes binding over libdevsys.so.1.

The library is found through $DEVSYS_LIBRARY (the file, or its directory),
then next to this package, then ctypes.util.find_library("devsys").
"""
from __future__ import annotations

import atexit
from typing import FrozenSet, Tuple

from . import _lib

_lib.load()

from ._base import dec  # noqa: E402
from ._errcodes import *  # noqa: E402,F401,F403
from ._errcodes import CODES  # noqa: E402
from ._error import ClosedHandleError as ClosedHandleError, Error as Error  # noqa: E402
from ._core import *  # noqa: E402,F401,F403
from ._spec import *  # noqa: E402,F401,F403
from ._ops import *  # noqa: E402,F401,F403
from ._flow import *  # noqa: E402,F401,F403
from ._agent import *  # noqa: E402,F401,F403
from ._worker import *  # noqa: E402,F401,F403
from ._plugins import *  # noqa: E402,F401,F403

if int(_lib.fn.devsys_init()) < 0:
    raise ImportError("devsys: devsys_init() failed: " + dec(_lib.fn.devsys_error_message(_lib.fn.devsys_error_last())))
# Registered before any handle's finalizer exists, so it runs after them (atexit is LIFO).
atexit.register(_lib.fn.devsys_shutdown)

#: the path of the loaded library
library_path: str = _lib.path


def version() -> str:
    """The loaded library's version ("1.4.0")."""
    return str(_lib.fn.devsys_version().decode("ascii"))


def version_info() -> Tuple[int, int, int]:
    import ctypes
    a, b, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    _lib.fn.devsys_version_numbers(ctypes.byref(a), ctypes.byref(b), ctypes.byref(c))
    return a.value, b.value, c.value


def features() -> FrozenSet[str]:
    """The modules the loaded library was built with."""
    return _lib.features()


def has_feature(name: str) -> bool:
    """Was the loaded library built with module @p name ("git", "runner", ...)?"""
    if "devsys_feature_enabled" in _lib.missing:
        return name in features()
    return bool(_lib.fn.devsys_feature_enabled(name.encode()))


def strerror(code: int) -> str:
    return dec(_lib.fn.devsys_strerror(code))


def error_name(code: int) -> str:
    return dec(_lib.fn.devsys_error_name(code))


def last_error() -> Tuple[int, str]:
    """The calling thread's last (code, message); (0, "no error") after clear_error()."""
    e = _lib.fn.devsys_error_last()
    return int(_lib.fn.devsys_error_code(e)), dec(_lib.fn.devsys_error_message(e))


def clear_error() -> None:
    _lib.fn.devsys_error_clear()


__version__ = "1.0.0"
