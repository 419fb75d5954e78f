"""The exception classes: generated from errors.h, one per code, with code,
name, message, and the HTTP status/detail a plug-in may set."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import devsys
from devsys import _lib
from devsys._errcodes import CODES

from conftest import SOURCE_ROOT

HEADER = SOURCE_ROOT / "include" / "devsys" / "errors.h"
GEN = Path(__file__).resolve().parent.parent / "tools" / "gen_errors.py"


def test_generated_classes_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_errors", GEN)
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    committed = (Path(devsys.__file__).parent / "_errcodes.py").read_text()
    assert gen.render(HEADER.read_text()) == committed, "run tools/gen_errors.py include/devsys/errors.h devsys/_errcodes.py"


def test_every_enum_code_has_a_class_the_library_agrees_with() -> None:
    enum = re.findall(r"^\s*(DEVSYS_E[A-Z]*|DEVSYS_ERROR)\s*=\s*(-\d+)", HEADER.read_text(), re.M)
    assert len(enum) >= 27
    for cname, num in enum:
        code = int(num)
        assert code in CODES, cname
        assert CODES[code][0] == cname
        assert devsys.error_name(code) == cname, "the library names the code as the header does"
        cls = CODES[code][1]
        assert issubclass(cls, devsys.Error) and cls.code == code


def test_named_classes() -> None:
    assert devsys.ValidationError.code == -14
    assert devsys.ProtectedBranchError.code == -15
    assert devsys.NotFoundError.code == -4


def test_a_failing_call_raises_its_class_with_the_library_message() -> None:
    with pytest.raises(devsys.BadIdError) as ei:
        devsys.task_id_check("../etc")
    e = ei.value
    assert e.code == -11 and e.name == "DEVSYS_EBADID"
    assert "../etc" in e.message or ".." in e.message
    assert e.http_status == 0 and e.detail is None
    assert str(e).startswith("DEVSYS_EBADID: ")


def test_http_status_and_detail_reach_the_exception() -> None:
    from devsys._base import check
    _lib.fn.devsys_error_set_str(-21, b"forge: POST /pulls failed")
    _lib.fn.devsys_error_set_detail(502, b"Bad Gateway from upstream")
    with pytest.raises(devsys.NetworkError) as ei:
        check(-21)
    assert ei.value.http_status == 502
    assert ei.value.detail == "Bad Gateway from upstream"
    assert ei.value.message == "forge: POST /pulls failed"


def test_code_without_a_recorded_message_uses_strerror() -> None:
    from devsys._base import check
    devsys.clear_error()
    with pytest.raises(devsys.TimeoutError) as ei:
        check(-18)
    assert ei.value.message == devsys.strerror(-18)
