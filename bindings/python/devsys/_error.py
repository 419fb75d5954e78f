"""The base exception; the per-code subclasses are generated (_errcodes.py)."""
from __future__ import annotations

from typing import ClassVar, Optional


class Error(Exception):
    """A libdevsys call failed: ``code`` (negative DEVSYS_E*), ``name``
    ("DEVSYS_EINVALID"), ``message`` (the library's message, naming the input),
    and, when a plug-in set them, ``http_status`` and ``detail``."""

    code: ClassVar[int] = -1

    def __init__(self, message: str, code: Optional[int] = None, name: Optional[str] = None,
                 http_status: int = 0, detail: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # an unknown code on the base class
        self.name = name if name is not None else type(self).__name__
        self.http_status = http_status
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class ClosedHandleError(ValueError):
    """A handle was used after close() (misuse, like I/O on a closed file)."""
