"""Every struct whose layout tests/abi/layout_frozen.h freezes has a ctypes
mirror with the same size and field offsets (x86_64, as the header), and every
public struct of include/devsys has a mirror, frozen yet or not.

DEVSYS_LAYOUT_FROZEN names another header of the same form (scripts/abi-layout's
output for a build of the current tree, written elsewhere) to check the mirrors
against structs appended since the committed header was generated."""
from __future__ import annotations

import ctypes
import os
import platform
import re
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from devsys._structs import STRUCTS

from conftest import SOURCE_ROOT

FROZEN = Path(os.environ.get("DEVSYS_LAYOUT_FROZEN") or SOURCE_ROOT / "tests" / "abi" / "layout_frozen.h")


def public_structs() -> List[str]:
    """Every `typedef struct devsys_x {` of the public headers (what scripts/abi-layout freezes)."""
    out: List[str] = []
    for h in sorted((SOURCE_ROOT / "include").rglob("*.h")):
        out += re.findall(r"typedef struct (devsys_[a-z0-9_]+) \{", h.read_text(encoding="utf-8"))
    return sorted(set(out))


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


def test_every_public_struct_has_a_mirror() -> None:
    names = public_structs()
    assert "devsys_buf" in names and "devsys_pipeline_options" in names, names  # the header walk works
    missing = [n for n in names if n not in STRUCTS]
    assert not missing, f"public structs without a ctypes mirror in devsys/_structs.py: {missing}"
    stale = sorted(set(STRUCTS) - set(names))
    assert not stale, f"mirrors of structs no public header declares: {stale}"
