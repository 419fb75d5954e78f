"""Agent kinds written in Python (register_agent): the registration's
refusals, and adapters the real pipeline's agent stage drives: command and
environment, stdout lines taken as events (logs/agent.jsonl), usage into
task.json, a budget stop, and an adapter that raises (DEVSYS_EUSER, the
exception raised again from Pipeline.run()).

The task schema takes any kind name (the agent stage refuses one nobody
registered), so these tests validate a spec naming the registered kind and
load the task into a new pipeline (devsys_pipeline_load() reads the kept spec)."""
from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest

import devsys

from conftest import git
from test_pipeline_run import make_spec

opened: List[devsys.AgentRequest] = []
closed: List[str] = []


class Echo(devsys.AgentAdapter):
    """Appends to README.md, prints two JSON events and a plain line."""

    def __init__(self, req: devsys.AgentRequest) -> None:
        self.req, self.events = req, 0
        opened.append(req)

    def command(self) -> Tuple[Sequence[str], Optional[Mapping[str, str]]]:
        script = ('echo "from the agent, in python, $PY_AGENT_MARK" >> README.md; echo \'{"type":"step"}\'; '
                  'echo plain; echo \'{"type":"step"}\'')
        return ["/bin/sh", "-c", script], {"PY_AGENT_MARK": "m-42"}

    def line(self, line: bytes) -> int:
        if line.startswith(b"{"):
            self.events += 1
            return devsys.AGENT_EVENT
        return 0

    def usage(self) -> Optional[Dict[str, Any]]:
        return {"steps": self.events, "by": "python"}

    def close(self) -> None:
        closed.append(self.req.task_id)


class Budget(Echo):
    def line(self, line: bytes) -> int:
        return devsys.AGENT_STOP if line.startswith(b"{") else 0

    def stop_reason(self) -> Optional[str]:
        return "max_steps 1 reached (1 step)"


class Raises(Echo):
    def command(self) -> Tuple[Sequence[str], Optional[Mapping[str, str]]]:
        raise RuntimeError("the adapter broke")


_registered = threading.Lock()


def register_once(name: str, factory: devsys.AgentFactory) -> None:
    with _registered:
        if name not in devsys.registered_agents():
            devsys.register_agent(name, factory)


@contextlib.contextmanager
def loaded(tmp: Path, bare: Path, tid: str, kind: str, factory: devsys.AgentFactory) -> Iterator[devsys.Pipeline]:
    """A pipeline on a new workspace in @p tmp, with task @p tid (agent.kind @p kind, registered
    with @p factory once) validated and loaded."""
    register_once(kind, factory)
    with devsys.Workspace(tmp / "ws") as w:
        task_with_kind(tmp, bare, w, tid, kind)
        with devsys.Pipeline(w) as p:
            p.load(tid)
            yield p


def task_with_kind(tmp: Path, bare: Path, ws: devsys.Workspace, tid: str, kind: str) -> None:
    """A task validated with agent.kind @p kind."""
    spec = make_spec(tmp, bare, tid, "exit 0\n").replace("agent:\n", f"agent:\n  kind: {kind}\n", 1)
    with devsys.Pipeline(ws) as p:
        p.validate(spec, f"{tid}.yaml")
    assert f"  kind: {kind}\n" in (tmp / "ws" / "tasks" / tid / "spec.yaml").read_text()


def test_register_refusals() -> None:
    register_once("py-echo", Echo)
    with pytest.raises(devsys.ExistsError, match="already registered"):
        devsys.register_agent("py-echo", Echo)
    with pytest.raises(devsys.ExistsError, match="built in"):
        devsys.register_agent("opencode", Echo)
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.register_agent("", Echo)
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.register_agent("x" * 64, Echo)
    with pytest.raises(TypeError, match="name"):
        devsys.register_agent(None, Echo)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="factory"):
        devsys.register_agent("py-not-callable", "Echo")  # type: ignore[arg-type]
    assert "py-echo" in devsys.registered_agents() and "py-not-callable" not in devsys.registered_agents()


def test_a_python_adapter_runs_the_agent_stage(tmp_path: Path, bare_repo: Path) -> None:
    with loaded(tmp_path, bare_repo, "pya-1", "py-echo", Echo) as p:
        r = p.code()  # checkout to push
        assert (r.stage, r.result) == ("push", "ok"), p.last_result
    [req] = [q for q in opened if q.task_id == "pya-1"]
    assert req.kind == "py-echo" and req.spec["id"] == "pya-1" and req.spec["agent"]["kind"] == "py-echo"
    assert Path(req.checkout).is_dir() and Path(req.home).is_dir() and req.input.endswith("agent-input.json")
    assert closed.count("pya-1") == 1, closed
    readme = git("--git-dir", str(bare_repo), "show", "task/pya-1:README.md")
    assert readme == "hello\nfrom the agent, in python, m-42\n", readme  # argv and env reached the agent
    tdir = tmp_path / "ws" / "tasks" / "pya-1"
    assert (tdir / "logs" / "agent.jsonl").read_text() == '{"type":"step"}\n{"type":"step"}\n'
    usage = json.loads((tdir / "task.json").read_text())["agent"]["usage"]
    assert usage["steps"] == 2 and usage["by"] == "python" and usage["events"] == 2, usage


def test_an_adapter_stop_ends_the_agent_with_its_reason(tmp_path: Path, bare_repo: Path) -> None:
    with loaded(tmp_path, bare_repo, "pya-2", "py-budget", Budget) as p:
        with pytest.raises(devsys.Error) as ei:
            p.run()
        res = p.last_result
        assert res is not None and res.stage == "agent", res
        assert res.failure_class == devsys.FAILURE_BUDGET, res
        assert "max_steps 1 reached" in ei.value.message, ei.value.message
        assert p.state("pya-2") == "failed"
    assert closed.count("pya-2") == 1


def test_an_adapter_that_raises_fails_the_stage_and_is_raised_again(tmp_path: Path, bare_repo: Path) -> None:
    with loaded(tmp_path, bare_repo, "pya-3", "py-raises", Raises) as p:
        with pytest.raises(RuntimeError, match="the adapter broke") as ei:
            p.run()
        notes = " ".join(getattr(ei.value, "__notes__", []))
        assert "DEVSYS_EUSER" in notes, notes
        res = p.last_result
        assert res is not None and res.stage == "agent" and res.error == devsys.UserCallbackError.code, res
        assert p.state("pya-3") == "failed"
    assert closed.count("pya-3") == 1, "close runs after a failed command()"
    stages = json.loads((tmp_path / "ws" / "tasks" / "pya-3" / "task.json").read_text())["stages"]
    assert stages["agent"]["result"] == "failed" and "commit" not in stages, stages
