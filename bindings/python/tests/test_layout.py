"""Every struct whose layout tests/abi/layout_frozen.h freezes has a ctypes
mirror with the same size and field offsets (x86_64, as the header)."""
from __future__ import annotations

import ctypes
import platform
import re
from collections import defaultdict
from typing import Dict, List, Tuple

import pytest

from devsys._structs import STRUCTS

from conftest import SOURCE_ROOT

FROZEN = SOURCE_ROOT / "tests" / "abi" / "layout_frozen.h"


def frozen() -> Tuple[Dict[str, List[Tuple[str, int]]], Dict[str, int]]:
    text = FROZEN.read_text()
    fields: Dict[str, List[Tuple[str, int]]] = defaultdict(list)
    for t, f, off in re.findall(r"^LAYOUT\((\w+),\s*(\w+),\s*(\d+)\);", text, re.M):
        fields[t].append((f, int(off)))
    sizes = {t: int(n) for t, n in re.findall(r"^SIZE\((\w+),\s*(\d+)\);", text, re.M)}
    return fields, sizes


pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="layout_frozen.h is the x86_64 layout")


def test_the_header_parses() -> None:
    fields, sizes = frozen()
    assert len(sizes) >= 20 and set(fields) == set(sizes)
    assert ("ptr", 0) in fields["devsys_buf"] and sizes["devsys_buf"] == 24


@pytest.mark.parametrize("name", sorted(frozen()[1]))
def test_mirror_matches(name: str) -> None:
    fields, sizes = frozen()
    assert name in STRUCTS, f"{name} is frozen in layout_frozen.h but has no ctypes mirror in devsys/_structs.py"
    cls = STRUCTS[name]
    assert ctypes.sizeof(cls) == sizes[name], f"sizeof({name})"
    mirrored = [f[0] for f in cls._fields_]  # type: ignore[attr-defined]
    assert mirrored == [f for f, _ in fields[name]], f"{name}: field names and order"
    for f, off in fields[name]:
        assert getattr(cls, f).offset == off, f"{name}.{f}"


def test_a_mismatch_would_fail() -> None:
    """Positive control: a mirror with a field missing differs in offsets and size."""
    class Broken(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint), ("busy_timeout_ms", ctypes.c_uint)]
    fields, sizes = frozen()
    assert ctypes.sizeof(Broken) != sizes["devsys_store_options"]
