"""The real pipeline through Pipeline.run(), run_stage(), load(), cancel() and
cancel_task(), with the progress callback: a file:// bare repository, a shell
agent that changes a file, a shell test command that writes JUnit, and the
local forge the file:// remote selects; no deploy section (deploy-skipped)."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest

import devsys

from conftest import git, start_thread

TESTS_SH = """mkdir -p reports
if grep -q 'from the agent' README.md; then
  printf '<testsuite name="readme" tests="1" failures="0"><testcase classname="readme" name="has_the_line"/></testsuite>\\n' > reports/junit.xml
else
  printf '<testsuite name="readme" tests="1" failures="1"><testcase classname="readme" name="has_the_line"><failure message="red"/></testcase></testsuite>\\n' > reports/junit.xml
  exit 1
fi
"""


def make_spec(tmp: Path, bare: Path, task_id: str, agent: str) -> str:
    (tmp / "tests.sh").write_text(TESTS_SH)
    (tmp / f"agent-{task_id}.sh").write_text(agent)
    return (f"id: {task_id}\ntitle: The binding's task {task_id}\nprompt: Append a line to README.md.\n"
            f"repo:\n  url: file://{bare}\n  base_branch: main\n"
            f"agent:\n  command: [/bin/sh, {tmp / f'agent-{task_id}.sh'}]\n"
            f"tests:\n  command: [/bin/sh, {tmp / 'tests.sh'}]\n  junit: [reports/junit.xml]\n"
            f"runner: inproc\n")


APPEND = 'echo "from the agent" >> README.md\necho agent-says-hello\n'


def test_stage_names_and_failure_classes() -> None:
    names = devsys.stage_names()
    assert names[0] == "validate" and names[-1] == "gate" and "deploy" in names and len(names) == 10, names
    assert devsys.failure_class_name(devsys.FAILURE_STALLED) == "stalled"
    assert devsys.failure_class_name(devsys.FAILURE_CANCELED) == "canceled"
    assert devsys.failure_class_name(devsys.FAILURE_BUDGET) == "budget"
    assert devsys.failure_class_name(devsys.FAILURE_NONE) is None


def test_run_reaches_awaiting_review_with_progress(tmp_path: Path, bare_repo: Path) -> None:
    events: List[devsys.PipelineEvent] = []
    spec = make_spec(tmp_path, bare_repo, "bind-1", APPEND)
    with devsys.Workspace(tmp_path / "ws") as w, \
            devsys.Pipeline(w, progress=events.append, agent_idle_timeout_ms=60000,
                            max_output_bytes=1 << 20, agent_env_scrub=["NPM_TOKEN"]) as p:
        with pytest.raises(devsys.StateError):
            p.run()  # nothing validated yet
        p.validate(spec, "bind-1.yaml")
        r = p.run()
        assert (r.stage, r.result) == ("gate", "ok"), r
        assert p.state() == "awaiting-review", p.last_result
        assert p.last_result == r
        with pytest.raises(devsys.StateError):
            p.run_stage("checkout")  # the task went further: not run again
    ends = [e.result for e in events if e.kind == devsys.EVENT_STAGE_END]
    assert [x.stage for x in ends if x] == devsys.stage_names()[1:], ends
    assert all(x is not None and x.result == "ok" for x in ends), ends
    begins = [e.stage for e in events if e.kind == devsys.EVENT_STAGE_BEGIN]
    assert begins == devsys.stage_names()[1:], begins
    assert all(e.task_id == "bind-1" for e in events)
    out = b"".join(e.data or b"" for e in events if e.kind == devsys.EVENT_OUTPUT and e.stage == "agent")
    assert b"agent-says-hello" in out, out
    # the facts, where the library put them: the branch on the remote and the local forge's PR
    assert git("--git-dir", str(bare_repo), "show", "task/bind-1:README.md") == "hello\nfrom the agent\n"
    prs = list((bare_repo / "devsys" / "prs").glob("*.json"))
    assert len(prs) == 1, prs
    task = json.loads((tmp_path / "ws" / "tasks" / "bind-1" / "task.json").read_text())
    assert task["pr"]["number"] == 1 and task["pr"]["provider"] == "local", task["pr"]


def test_run_stage_load_and_resume_in_another_pipeline(tmp_path: Path, bare_repo: Path) -> None:
    spec = make_spec(tmp_path, bare_repo, "bind-2", APPEND)
    with devsys.Workspace(tmp_path / "ws") as w:
        with devsys.Pipeline(w) as p:
            p.validate(spec, "bind-2.yaml")
            with pytest.raises(devsys.InvalidArgumentError):
                p.run_stage("no-such-stage")
            with pytest.raises(devsys.StateError) as ei:
                p.run_stage("push")  # checkout, agent and commit come first
            assert "checkout" in ei.value.message, ei.value.message
            assert p.run_stage("checkout").outcome == "checked-out"
            assert p.run_stage("agent").outcome == "agent-done"
            assert p.state() != "validated"
        with devsys.Pipeline(w) as q:
            with pytest.raises(devsys.NotFoundError):
                q.load("no-such-task")
            q.load("bind-2")
            assert q.task_id == "bind-2"
            r = q.run()  # resumed from commit
            assert r.stage == "gate" and q.state() == "awaiting-review", r
    log = git("--git-dir", str(bare_repo), "log", "--format=%s", "task/bind-2")
    assert log.count("\n") == 2, f"one commit of the task on top of the base: {log!r}"


def test_cancel_from_another_thread_ends_the_task_canceled(tmp_path: Path, bare_repo: Path) -> None:
    started = threading.Event()
    spec = make_spec(tmp_path, bare_repo, "bind-3", "echo begun\nexec sleep 60\n")

    def on_event(e: devsys.PipelineEvent) -> None:
        if e.kind == devsys.EVENT_OUTPUT and e.stage == "agent" and b"begun" in (e.data or b""):
            started.set()

    with devsys.Workspace(tmp_path / "ws") as w, devsys.Pipeline(w, progress=on_event, runner_grace_ms=500) as p:
        p.validate(spec, "bind-3.yaml")
        t0 = time.monotonic()
        t, err = start_thread(p.run)
        assert started.wait(30), "the agent never printed"
        p.cancel()
        t.join(30)
        assert not t.is_alive(), "cancel() did not stop the run"
        assert time.monotonic() - t0 < 30, "the agent ran its full sleep"
        assert len(err) == 1 and isinstance(err[0], devsys.CanceledError), err
        assert p.last_result is not None and p.last_result.stage == "agent"
        assert p.last_result.result == "canceled" and p.last_result.failure_class == devsys.FAILURE_CANCELED
        assert p.state() == "canceled"


def test_a_raising_progress_callback_cancels_and_is_reraised(tmp_path: Path, bare_repo: Path) -> None:
    spec = make_spec(tmp_path, bare_repo, "bind-4", APPEND)
    seen: List[Optional[str]] = []

    def boom(e: devsys.PipelineEvent) -> None:
        seen.append(e.stage)
        if e.kind == devsys.EVENT_STAGE_BEGIN and e.stage == "agent":
            raise KeyError("stop at the agent")

    with devsys.Workspace(tmp_path / "ws") as w, devsys.Pipeline(w, progress=boom) as p:
        p.validate(spec, "bind-4.yaml")
        with pytest.raises(KeyError, match="stop at the agent"):
            p.run()
        assert p.last_result is not None and p.last_result.stage == "agent", p.last_result
        assert (p.last_result.result, p.last_result.failure_class) == ("canceled", devsys.FAILURE_CANCELED)
        assert "commit" not in seen, "the run went on past the callback's exception"
        assert p.state() == "canceled"
    with devsys.Workspace(tmp_path / "ws") as w, devsys.Pipeline(w) as q:
        q.load("bind-4")
        with pytest.raises(devsys.StateError):
            q.run()  # a canceled task is final: nothing runs again


def test_cancel_task_not_running_cancels_at_once(tmp_path: Path, bare_repo: Path) -> None:
    spec = make_spec(tmp_path, bare_repo, "bind-5", APPEND)
    with devsys.Workspace(tmp_path / "ws") as w, devsys.Pipeline(w) as p:
        p.validate(spec, "bind-5.yaml")
        assert p.state("bind-5") == "validated"
        assert p.cancel_task("bind-5") is False, "no process runs it: canceled here"
        assert p.state("bind-5") == "canceled"
        with pytest.raises(devsys.StateError):
            p.cancel_task("bind-5")  # final now
        with pytest.raises(devsys.NotFoundError):
            p.cancel_task("no-such-task")


def test_pipeline_with_an_operator_config(tmp_path: Path, bare_repo: Path) -> None:
    cfg = tmp_path / "devsys.yaml"
    cfg.write_text("runners:\n  local:\n    type: inproc\n")
    with devsys.Workspace(tmp_path / "ws") as w:
        with devsys.Pipeline(w, config_path=cfg) as p:
            p.validate(make_spec(tmp_path, bare_repo, "bind-6", APPEND), "bind-6.yaml")
            assert p.state() == "validated"
        with pytest.raises(devsys.Error) as ei:
            devsys.Pipeline(w, config_path=tmp_path / "missing.yaml")
        assert "missing.yaml" in ei.value.message, ei.value.message


def test_a_stage_of_ones_own_runs_in_order_and_is_recorded(tmp_path: Path, bare_repo: Path) -> None:
    seen: List[str] = []

    def lint(run: devsys.StageRun) -> None:
        readme = (Path(run.checkout_path) / "README.md").read_text()
        seen.append(f"{run.name}:{run.task_id}:{'from the agent' in readme}")
        run.log("lint: README checked\n")
        run.set_outcome("linted")

    def deploy(run: devsys.StageRun) -> None:
        seen.append(run.name)
        run.set_outcome("deployed-by-python")

    events: List[devsys.PipelineEvent] = []
    with devsys.Workspace(tmp_path / "ws") as w, devsys.Pipeline(w, progress=events.append) as p:
        p.add_stage("commit", "lint", lint)
        p.replace_stage("deploy", deploy)
        with pytest.raises(devsys.ExistsError):
            p.add_stage("commit", "lint", lint)
        with pytest.raises(devsys.InvalidArgumentError):
            p.add_stage("gate", "after-gate", lint)  # the gate ends the task
        with pytest.raises(devsys.NotFoundError):
            p.add_stage("no-such-stage", "x", lint)
        p.validate(make_spec(tmp_path, bare_repo, "bind-7", APPEND), "bind-7.yaml")
        r = p.run()
        assert r.stage == "gate" and p.state() == "awaiting-review", r
    assert seen == ["lint:bind-7:True", "deploy"], seen
    ends = [(e.result.stage, e.result.outcome) for e in events if e.kind == devsys.EVENT_STAGE_END and e.result]
    assert ("lint", "linted") in ends and ("deploy", "deployed-by-python") in ends, ends
    names = [s for s, _ in ends]
    assert names.index("commit") < names.index("lint") < names.index("push"), names
    log = (tmp_path / "ws" / "tasks" / "bind-7" / "logs" / "lint.log").read_text()
    assert "lint: README checked" in log, log


def test_a_failing_stage_of_ones_own_stops_the_run(tmp_path: Path, bare_repo: Path) -> None:
    def refuse(run: devsys.StageRun) -> None:
        raise devsys.StageFailed("README has a typo", outcome="lint-failed")

    def broken(run: devsys.StageRun) -> None:
        raise ValueError("a bug in the stage")

    with devsys.Workspace(tmp_path / "ws") as w:
        with devsys.Pipeline(w) as p:
            p.add_stage("commit", "lint", refuse)
            p.validate(make_spec(tmp_path, bare_repo, "bind-8", APPEND), "bind-8.yaml")
            with pytest.raises(devsys.Error) as ei:
                p.run()
            assert "README has a typo" in ei.value.message, ei.value.message
            assert p.last_result is not None
            assert (p.last_result.stage, p.last_result.outcome, p.last_result.failure_class) == \
                ("lint", "lint-failed", devsys.FAILURE_BUILD), p.last_result
            assert p.state() == "failed"
        with devsys.Pipeline(w) as q:
            q.add_stage("commit", "lint", broken)
            q.validate(make_spec(tmp_path, bare_repo, "bind-9", APPEND), "bind-9.yaml")
            with pytest.raises(ValueError, match="a bug in the stage"):
                q.run()
            assert q.last_result is not None and q.last_result.stage == "lint"
            assert q.last_result.failure_class == devsys.FAILURE_SYSTEM, q.last_result
    # nothing was pushed past the failed stage
    branches = git("--git-dir", str(bare_repo), "branch", "--list", "task/bind-8", "task/bind-9")
    assert branches.strip() == "", branches
