"""The inproc runner: exec, output callbacks (also raising ones), timeouts,
cancel, masking, the task log, and bad input."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List, Tuple

import pytest

import devsys


@pytest.fixture
def runner(ws: devsys.Workspace) -> devsys.Runner:
    with devsys.Runner("inproc", workspace=ws) as r:
        yield r  # type: ignore[misc]


def test_exec_ok_and_output(runner: devsys.Runner) -> None:
    assert runner.type == "inproc"
    got: List[Tuple[int, bytes]] = []
    res = runner.exec(["sh", "-c", "echo out; echo err >&2"], output=lambda s, d: got.append((s, d)))
    assert res.ok and res.failure_name == "ok" and res.exit_code == 0 and res.attempts >= 1
    assert (devsys.STDOUT, b"out\n") in got and (devsys.STDERR, b"err\n") in got
    assert b"out| out" in res.tail and res.output_bytes == 8 and not res.truncated and res.log_path is None


def test_non_zero_exit_is_a_result_not_an_exception(runner: devsys.Runner) -> None:
    res = runner.exec(["sh", "-c", "exit 3"])
    assert res.failure == devsys.RUNNER_BUILD_FAILURE and res.exit_code == 3
    assert devsys.failure_name(res.failure) == "build-failure"


def test_env_stdin_cwd(runner: devsys.Runner, tmp_path: Path) -> None:
    out: List[bytes] = []
    res = runner.exec(["sh", "-c", "echo $FOO; pwd; cat"], env={"FOO": "bär"}, cwd=tmp_path, stdin=b"in\0put",
                      output=lambda s, d: out.append(d))
    assert res.ok
    text = b"".join(out)
    assert text.startswith("bär\n".encode()) and str(tmp_path).encode() in text and text.endswith(b"in\0put")
    f = tmp_path / "stdin.txt"
    f.write_bytes(b"from file")
    assert runner.exec(["cat"], stdin_file=f).tail == b"out| from file\n"


def test_timeout_raises_with_the_result(runner: devsys.Runner) -> None:
    t0 = time.monotonic()
    with pytest.raises(devsys.TimeoutError) as ei:
        runner.exec(["sleep", "30"], timeout_ms=200)
    assert time.monotonic() - t0 < 20
    assert ei.value.result.failure == devsys.RUNNER_TIMEOUT  # type: ignore[attr-defined]


def test_cancel_from_another_thread(runner: devsys.Runner) -> None:
    started = threading.Event()

    def on_out(s: int, d: bytes) -> None:
        started.set()
    th = threading.Thread(target=lambda: (started.wait(30), runner.cancel()))
    th.start()
    with pytest.raises(devsys.CanceledError) as ei:
        runner.exec(["sh", "-c", "echo go; exec sleep 30"], output=on_out)
    th.join()
    assert ei.value.result.failure == devsys.RUNNER_CANCELED  # type: ignore[attr-defined]


def test_a_callback_that_raises_halfway_through_100_mb(runner: devsys.Runner) -> None:
    seen = [0]

    class Enough(Exception):
        pass

    def on_out(s: int, d: bytes) -> None:
        seen[0] += len(d)
        if seen[0] >= 50 * 1024 * 1024:
            raise Enough(f"stop at {seen[0]}")
    with pytest.raises(Enough) as ei:
        runner.exec(["head", "-c", str(100 * 1024 * 1024), "/dev/zero"], output=on_out, timeout_ms=120000)
    assert 50 * 1024 * 1024 <= seen[0] < 100 * 1024 * 1024, "the command was stopped, not run to the end"
    assert ei.value.result.failure == devsys.RUNNER_CANCELED  # type: ignore[attr-defined]
    assert any("DEVSYS_EUSER" in n for n in ei.value.__notes__)
    tb = ei.traceback
    assert any(entry.name == "on_out" for entry in tb), "the callback's frame is in the traceback"
    assert runner.exec(["true"]).ok, "the runner still works afterwards"


def test_returning_false_from_a_callback_cancels(runner: devsys.Runner) -> None:
    with pytest.raises(devsys.UserCallbackError):
        runner.exec(["sh", "-c", "echo a; sleep 5; echo b"], output=lambda s, d: False)


def test_bad_input_is_not_run(runner: devsys.Runner, tmp_path: Path) -> None:
    with pytest.raises(devsys.NotFoundError) as ei:
        runner.exec(["/nonexistent/prog"])
    assert ei.value.result.failure == devsys.RUNNER_NOT_RUN  # type: ignore[attr-defined]
    with pytest.raises(devsys.NotFoundError):
        runner.exec(["true"], cwd=tmp_path / "missing")
    with pytest.raises(devsys.AccessError):
        runner.exec(["echo hi"], flags=devsys.CMD_SHELL)
    with pytest.raises(TypeError):
        runner.exec("echo")
    with pytest.raises(TypeError):
        runner.exec(["echo", None])  # type: ignore[list-item]
    with pytest.raises(devsys.NotFoundError):
        devsys.Runner("no-such-runner")


def test_masking_and_the_task_log(ws: devsys.Workspace, task: devsys.Task) -> None:
    m = devsys.Masker()
    m.add("pw", "hunter2-secret")
    with devsys.Runner("inproc", workspace=ws, masker=m) as r:
        out: List[bytes] = []
        res = r.exec(["echo", "pw=hunter2-secret"], task=task, stage="test", output=lambda s, d: out.append(d))
        assert out == [b"pw=[MASKED:pw]\n"] and b"hunter2" not in res.tail
        assert res.log_path and Path(res.log_path).read_bytes().find(b"[MASKED:pw]") >= 0
        assert b"hunter2" not in Path(res.log_path).read_bytes()


def test_lifecycle_calls(runner: devsys.Runner, task: devsys.Task, tmp_path: Path) -> None:
    runner.prepare(task)
    wd = runner.workdir(task)
    assert wd is None or isinstance(wd, str)
    runner.workdir()
    src = tmp_path / "src.txt"
    src.write_text("payload")
    for call in (lambda: runner.upload(src, str(tmp_path / "up.txt")),
                 lambda: runner.download(str(tmp_path / "up.txt"), tmp_path / "down.txt")):
        try:
            call()
        except devsys.NotSupportedError:
            pass
    d = runner.describe()
    assert d.type == "inproc"
    runner.cleanup(task)


def test_free_the_parents_first(tmp_path: Path) -> None:
    ws = devsys.Workspace(tmp_path / "w")
    m = devsys.Masker()
    m.add("k", "abcdef-secret")
    r = devsys.Runner("inproc", workspace=ws, masker=m)
    ws.close()
    m.close()
    out: List[bytes] = []
    assert r.exec(["echo", "abcdef-secret"], output=lambda s, d: out.append(d)).ok
    assert out == [b"[MASKED:k]\n"]
    r.close()
    with pytest.raises(devsys.ClosedHandleError):
        r.exec(["true"])


def test_command_budgets_stall_and_output_limit() -> None:
    """Command version 3: no output for the idle timeout ends it stalled, too much output ends it output-limit."""
    with devsys.Runner("inproc") as r:
        with pytest.raises(devsys.TimeoutError) as ei:
            r.exec(["/bin/sh", "-c", "echo begun; exec sleep 30"], idle_timeout_ms=300)
        res = ei.value.result  # type: ignore[attr-defined]
        assert res.failure == devsys.RUNNER_STALLED and res.failure_name == "stalled", res
        assert res.duration_ms < 10000, "stopped at the idle timeout, not after the sleep"
        with pytest.raises(devsys.LimitError) as el:
            r.exec(["/bin/sh", "-c", "yes | head -c 100000; exec sleep 30"], max_output_bytes=1000)
        res = el.value.result  # type: ignore[attr-defined]
        assert res.failure == devsys.RUNNER_OUTPUT_LIMIT and res.failure_name == "output-limit", res
        # positive control: the same commands within their budgets succeed
        assert r.exec(["/bin/sh", "-c", "echo a; sleep 0.1; echo b"], idle_timeout_ms=5000).ok
        assert r.exec(["/bin/sh", "-c", "yes | head -c 500"], max_output_bytes=1000).ok


def test_runner_docker_sweep_without_an_engine(tmp_path: Path) -> None:
    """The sweep's error paths; this suite starts no Docker engine (the C suite in tests/docker
    sweeps a real one). Each error names the endpoint it tried, and the profile's options are
    used but not changed."""
    from devsys import _structs as S
    sock = tmp_path / "no-engine" / "docker.sock"
    assert not sock.exists()
    text = f"runners:\n  box:\n    type: host-docker\n    image: alpine:3\n    host: unix://{sock}\n"
    with devsys.Config.parse(text, "devsys.yaml") as cfg:
        o = cfg.runner_docker("box")
    with pytest.raises(devsys.NetworkError) as ei:
        devsys.runner_docker_sweep(o)
    assert str(sock) in ei.value.message and ei.value.name == "DEVSYS_ENETWORK", ei.value.message
    # host= overrides the profile's endpoint (a bad one is refused before any connection)
    with pytest.raises(devsys.ValidationError) as ev:
        devsys.runner_docker_sweep(o, host="bogus://x")
    assert "bogus://x" in ev.value.message and str(sock) not in ev.value.message, ev.value.message
    assert o.host == f"unix://{sock}".encode(), "the caller's options are not changed"
    with pytest.raises(devsys.ValidationError, match="bogus://y"):
        devsys.runner_docker_sweep(host="bogus://y")
    with pytest.raises(devsys.VersionError, match="devsys_runner_docker_options"):
        devsys.runner_docker_sweep(S.RunnerDockerOptions())  # not initialised: version 0
    with pytest.raises(ValueError, match="host"):
        devsys.runner_docker_sweep(host="unix:///x\0y")
