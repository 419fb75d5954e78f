"""The store on a real PostgreSQL 15 (the session's, conftest.postgres): the copies of the
record documents a shared store keeps, read whole and read only when changed, with the
password from a secret, and a wrong password refused without showing it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

import devsys

from conftest import Postgres


@pytest.fixture
def pg_store(tmp_path: Path, postgres: Postgres) -> Iterator[devsys.Store]:
    os.environ["DT_PY_PG_PASSWORD"] = postgres.password
    try:
        with devsys.Workspace(tmp_path / "ws") as ws, devsys.Secrets() as sec:
            sec.define("DBPW", "env", "DT_PY_PG_PASSWORD")
            with devsys.Store(ws, url=postgres.newdb(), secrets=sec, password_secret="DBPW") as st:
                yield st
    finally:
        del os.environ["DT_PY_PG_PASSWORD"]


def test_a_document_is_read_again_only_when_it_was_written_again(pg_store: devsys.Store) -> None:
    st = pg_store
    assert st.backend == "postgresql"
    st.create("d1")
    st.transition("d1", "validated")
    whole = st.document("d1", "task.json")
    assert b'"validated"' in whole, whole
    body, v = st.document_changed("d1", "task.json")
    assert body == whole and v, "the first read: the body and its version"
    assert st.document_changed("d1", "task.json", v) == (None, v), "unchanged: no body"
    st.transition("d1", "checked-out")
    body, v2 = st.document_changed("d1", "task.json", v)
    assert body is not None and b'"checked-out"' in body, body
    assert v2 != v, "a write gives a new version"
    assert st.document_changed("d1", "task.json", v2) == (None, v2)
    body, v3 = st.document_changed("d1", "task.json", "x" * 100)
    assert body is not None and v3 == v2, "a version no read gave reads it again"
    with pytest.raises(devsys.NotFoundError, match="no-such"):
        st.document_changed("no-such", "task.json")
    with pytest.raises(devsys.InvalidArgumentError, match="spec.yaml"):
        st.document_changed("d1", "spec.yaml", v2)
    # a shared store answers for a task whose folder is behind it (this folder is current)
    assert st.folder_current("d1") is True


def test_a_wrong_password_is_refused_without_showing_it(tmp_path: Path, postgres: Postgres) -> None:
    os.environ["DT_PY_PG_WRONG"] = "not-" + postgres.password
    try:
        with devsys.Workspace(tmp_path / "ws") as ws, devsys.Secrets() as sec:
            sec.define("DBPW", "env", "DT_PY_PG_WRONG")
            with pytest.raises(devsys.Error) as ei:
                devsys.Store(ws, url=postgres.newdb(), secrets=sec, password_secret="DBPW")
            assert "password" in ei.value.message, ei.value.message
            assert postgres.password not in ei.value.message, ei.value.message
            assert not (Path(ws.path) / "devsys.db").exists(), "no SQLite store was made instead"
    finally:
        del os.environ["DT_PY_PG_WRONG"]
