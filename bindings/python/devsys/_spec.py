"""A task spec's text checked in one library call (devsys_spec_validate_buffer):
the load and the validation without a Spec object, for scripts that want the
verdict on many texts (an orchestrator's intake, a pre-commit hook)."""
from __future__ import annotations

from ctypes import byref, c_void_p
from typing import Any, Optional, Union

from . import _lib
from ._base import data, enc, last_error
from ._core import FORMAT_AUTO, Spec, Validation

def _options(format: int, max_size: int, max_depth: int, max_nodes: int) -> Any:
    # the defaults need no options struct (NULL): the common case builds none
    if not (format or max_size or max_depth or max_nodes):
        return None
    return byref(Spec._opts(format, max_size, max_depth, max_nodes))


def check_spec(text: Union[str, bytes], name: Optional[str] = None, *, format: int = FORMAT_AUTO,
               max_size: int = 0, max_depth: int = 0, max_nodes: int = 0) -> None:
    """Load and validate a task spec's text against the task schema in one call.

    Returns None when it is valid. Raises ValidationError when it is not (the
    first error, "name:line:col: /pointer: message", or a text of several
    documents), ParseError or LimitError when it does not load, as
    Spec.load(text, name).check() does with two calls and a Spec object.
    """
    # str first: the common case, without data()'s isinstance checks
    b = text.encode("utf-8", "surrogateescape") if type(text) is str else data(text, "text")
    rc = _lib.fn.devsys_spec_validate_buffer(None, None, b, len(b), enc(name, "name", optional=True),
                                             _options(format, max_size, max_depth, max_nodes))
    if rc:
        raise last_error(rc)


def validate_spec(text: Union[str, bytes], name: Optional[str] = None, *, format: int = FORMAT_AUTO,
                  max_size: int = 0, max_depth: int = 0, max_nodes: int = 0) -> Validation:
    """Load and validate a task spec's text in one call, returning every error.

    Returns the Validation (check .valid; iterate it for the errors). Raises
    ParseError or LimitError when the text does not load, and ValidationError
    for a text of several documents (a task spec is one).
    """
    b = text.encode("utf-8", "surrogateescape") if type(text) is str else data(text, "text")
    out = c_void_p()
    rc = int(_lib.fn.devsys_spec_validate_buffer(None, byref(out), b, len(b), enc(name, "name", optional=True),
                                                 _options(format, max_size, max_depth, max_nodes)))
    if out.value is None:  # not validated: a load error, or several documents
        raise last_error(rc)
    return Validation(out.value)


__all__ = ['check_spec', 'validate_spec']
