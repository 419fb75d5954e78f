"""Workspace and Task: the C tests' scenarios, misuse, and bad input."""
from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any, List, Tuple

import pytest

import devsys


def test_open_creates_and_reports_its_path(tmp_path: Path) -> None:
    p = tmp_path / "ws"
    with devsys.Workspace(p) as ws:
        assert Path(ws.path) == p.resolve()
        assert p.is_dir()


def test_no_create_on_a_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(devsys.NotFoundError) as ei:
        devsys.Workspace(tmp_path / "missing", create=False)
    assert "missing" in ei.value.message
    with devsys.Workspace(tmp_path / "made"):
        pass
    with devsys.Workspace(tmp_path / "made", create=False) as ws:  # positive control
        assert ws.path.endswith("made")


def test_default_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEVSYS_WORKSPACE", str(tmp_path / "envws"))
    assert devsys.Workspace.default_path() == str(tmp_path / "envws")
    monkeypatch.delenv("DEVSYS_WORKSPACE")
    assert devsys.Workspace.default_path() == "./.devsys"


def test_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(devsys.Error) as ei:
        devsys.Workspace(f)
    assert ei.value.code in (-7, -8) and "file" in ei.value.message


def test_tasks_open_create_exclusive(ws: devsys.Workspace) -> None:
    with pytest.raises(devsys.NotFoundError):
        ws.task("t-9")
    with ws.task("t-9", create=True) as t:
        assert t.id == "t-9"
        assert Path(t.path) == Path(ws.path) / "tasks" / "t-9"
        assert t.workspace_path == ws.path
    with pytest.raises(devsys.ExistsError):
        ws.task("t-9", create=True, exclusive=True)
    with ws.task("t-9") as again:
        assert again.id == "t-9"


@pytest.mark.parametrize("bad", ["", "..", "a/b", "-x", "a" * 65, "x..y"])
def test_bad_task_ids(ws: devsys.Workspace, bad: str) -> None:
    with pytest.raises(devsys.BadIdError):
        devsys.task_id_check(bad)
    with pytest.raises(devsys.BadIdError):
        ws.task(bad, create=True)


def test_path_join_refuses_escapes(task: devsys.Task) -> None:
    assert task.path_join("logs/a.log") == os.path.join(task.path, "logs/a.log")
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(devsys.PathError) as ei:
            task.path_join(bad)
        assert bad in ei.value.message


def test_none_where_a_string_is_needed(ws: devsys.Workspace, task: devsys.Task) -> None:
    with pytest.raises(TypeError, match="task id"):
        ws.task(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="relpath"):
        task.path_join(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        devsys.task_id_check(None)
    with pytest.raises(ValueError, match="NUL"):
        ws.task("a\0b")


def test_unicode_and_non_utf8_paths(tmp_path: Path) -> None:
    uni = tmp_path / "wörk-ßpace-日本"
    with devsys.Workspace(uni) as ws:
        assert ws.path == str(uni)
    raw = os.fsencode(tmp_path) + b"/bad-\xff\xfe"
    with devsys.Workspace(raw) as ws:
        assert os.fsencode(ws.path) == raw, "undecodable bytes come back unchanged (surrogateescape)"
        assert os.path.isdir(raw)


def test_close_is_idempotent_and_use_after_close_raises(tmp_path: Path) -> None:
    ws = devsys.Workspace(tmp_path / "w")
    t = ws.task("a", create=True)
    t.close()
    t.close()  # no double free
    assert t.closed
    with pytest.raises(devsys.ClosedHandleError):
        _ = t.path
    with pytest.raises(devsys.ClosedHandleError):
        with t:
            pass
    ws.close()
    with pytest.raises(devsys.ClosedHandleError):
        ws.task("a")
    assert "closed" in repr(ws)


def test_free_the_parent_first_then_use_the_child(tmp_path: Path) -> None:
    ws = devsys.Workspace(tmp_path / "w")
    t = ws.task("a", create=True)
    ws.close()
    assert t.workspace_path == str(tmp_path / "w"), "the task's reference keeps the workspace alive"
    assert t.path_join("x").endswith("/tasks/a/x")
    t.close()


def test_finalizer_frees_unclosed_handles(tmp_path: Path) -> None:
    ws = devsys.Workspace(tmp_path / "w")
    fin = ws._finalizer
    assert fin.alive
    del ws
    gc.collect()
    assert not fin.alive


def test_logger_receives_redacted_messages(tmp_path: Path) -> None:
    got: List[Tuple[int, str, str]] = []
    m = devsys.Masker()
    m.add("tok", "s3cr3t-value")
    with devsys.Workspace(tmp_path / "w", log=lambda lvl, comp, msg: got.append((lvl, comp, msg)),
                          log_level=devsys.LOG_DEBUG) as ws:
        ws.add_masker(m)
        ws.log(devsys.LOG_WARN, "test", "token is s3cr3t-value, 100%s")
        ws.log(devsys.LOG_TRACE, "test", "below the level")
    assert (devsys.LOG_WARN, "test", "token is [MASKED:tok], 100%s") in got
    assert not any("below the level" in g[2] for g in got)
    assert not any("s3cr3t" in g[2] for g in got)


def test_a_raising_log_callback_goes_to_unraisablehook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[Any] = []
    monkeypatch.setattr("sys.unraisablehook", lambda args: seen.append(args))

    def bad(level: int, comp: str, msg: str) -> None:
        raise RuntimeError("log sink broke")
    with devsys.Workspace(tmp_path / "w", log=bad) as ws:
        ws.log(devsys.LOG_ERROR, "test", "hello")
        ws.set_logger(None)
        ws.log(devsys.LOG_ERROR, "test", "dropped")
    assert len(seen) == 1 and isinstance(seen[0].exc_value, RuntimeError)
