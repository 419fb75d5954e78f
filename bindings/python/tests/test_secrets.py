"""Secrets (env and file providers, audit events), maskers and mask streams."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import devsys


def test_env_secret_with_audit(monkeypatch: pytest.MonkeyPatch, task: devsys.Task, ws: devsys.Workspace) -> None:
    monkeypatch.setenv("PYB_TOKEN", "tok-123456")
    events: List[devsys.SecretEvent] = []
    with devsys.Secrets(audit=events.append, workspace=ws) as s:
        s.define("token", "env", "PYB_TOKEN")
        assert s.resolve("token", task, "test") == b"tok-123456"
        assert s.resolve("token", task, "test") == b"tok-123456"
        assert [(e.name, e.provider, e.task_id, e.stage, e.error) for e in events][0] == \
            ("token", "env", "t-1", "test", 0)
        assert events[1].cached
        with s.masker() as m:
            assert m.mask("x tok-123456 y") == b"x [MASKED:token] y"
    audit = Path(task.path).glob("events*.jsonl")
    text = "".join(p.read_text() for p in audit)
    assert "secret.resolve" in text and "tok-123456" not in text


def test_file_secret_and_resolve_all(tmp_path: Path) -> None:
    f = tmp_path / "s.txt"
    f.write_text("file-secret-v\n")
    with devsys.Secrets(docker_secrets_dir=tmp_path, command_timeout_ms=5000) as s:
        s.define("f", "file", str(f))
        s.define("cmd", "command", argv=["echo", "from-command"], ttl_s=60)
        s.resolve_all()
        assert s.resolve("cmd") == b"from-command"


def test_errors_never_name_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    with devsys.Secrets() as s:
        with pytest.raises(devsys.NotFoundError) as ei:
            s.resolve("undeclared")
        assert "undeclared" in ei.value.message
        s.define("gone", "env", "PYB_SURELY_UNSET_VAR")
        with pytest.raises(devsys.NotFoundError):
            s.resolve("gone")
        with pytest.raises(devsys.ValidationError):
            s.define("bad name!", "env")
        with pytest.raises(devsys.NotFoundError):
            s.define("x", "no-such-provider")
        with pytest.raises(devsys.ExistsError):
            s.define("gone", "env")
        with pytest.raises(TypeError):
            s.define(None, "env")  # type: ignore[arg-type]


def test_a_raising_audit_callback_is_re_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYB_TOKEN2", "value-abcdef")

    def audit(ev: devsys.SecretEvent) -> None:
        raise KeyError("audit sink down")
    with devsys.Secrets(audit=audit) as s:
        s.define("t", "env", "PYB_TOKEN2")
        with pytest.raises(KeyError, match="audit sink down"):
            s.resolve("t")
        with pytest.raises(KeyError):
            s.resolve_all()


def test_masker_and_streams() -> None:
    with devsys.Masker() as m:
        m.add("a", "alpha-secret")
        m.add("b", b"line-one\nline-two")
        assert len(m) == 3
        with pytest.raises(devsys.ValidationError):
            m.add("short", "abc")
        out: List[bytes] = []
        with m.stream(out.append) as st:
            for piece in (b"x alpha-se", b"cret y line-", b"two z"):
                st.write(piece)
            st.finish()
        assert b"".join(out) == b"x [MASKED:a] y [MASKED:b] z"
        with pytest.raises(devsys.BusyError):
            m.add("late", "too-late-value")


def test_a_raising_stream_callback() -> None:
    m = devsys.Masker()
    m.add("a", "alpha-secret")

    def boom(b: bytes) -> None:
        raise OSError("pipe closed")
    st = m.stream(boom)
    m.close()  # the stream keeps the masker
    with pytest.raises(OSError, match="pipe closed"):
        st.write(b"some text long enough\n" * 10)
        st.finish()
    st.close()
    st.close()
