"""Misuse across every handle class: closed handles passed as arguments,
double close, use after close, and parents freed before their children."""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Callable, List

import pytest

import devsys


def makers(tmp_path: Path) -> List[Callable[[], devsys._base.Handle]]:
    ws = devsys.Workspace(tmp_path / "w")
    task = ws.task("m", create=True)
    return [lambda: devsys.Workspace(tmp_path / "w2"), lambda: ws.task("m"), lambda: devsys.Spec.load("a: 1"),
            lambda: devsys.Schema('{"type": "object"}'), lambda: devsys.Spec.load("a: 1").validate(),
            lambda: devsys.Runner("inproc"), lambda: devsys.Config.parse(""), lambda: devsys.Secrets(),
            lambda: devsys.Masker(), lambda: devsys.Masker().stream(lambda b: None), lambda: devsys.Report(),
            lambda: devsys.Record(task), lambda: devsys.Store(ws), lambda: devsys.Policy()]


def test_every_class_closes_once_and_refuses_use_after(tmp_path: Path) -> None:
    seen = set()
    for make in makers(tmp_path):
        h = make()
        seen.add(type(h).__name__)
        with h as same:
            assert same is h and not h.closed
        assert h.closed
        h.close()  # a second close frees nothing twice
        with pytest.raises(devsys.ClosedHandleError, match=type(h).__name__):
            h._h
    assert seen >= {"Workspace", "Task", "Spec", "Schema", "Validation", "Runner", "Config", "Secrets", "Masker",
                    "MaskStream", "Report", "Record", "Store", "Policy"}


def test_a_closed_handle_passed_in(tmp_path: Path, bare_repo: Path) -> None:
    ws = devsys.Workspace(tmp_path / "w")
    t = ws.task("x", create=True)
    t.close()
    with pytest.raises(devsys.ClosedHandleError):
        devsys.Record(t)
    with pytest.raises(devsys.ClosedHandleError):
        devsys.Repo(t, f"file://{bare_repo}")
    with devsys.Runner("inproc") as r, pytest.raises(devsys.ClosedHandleError):
        r.exec(["true"], task=t)
    m = devsys.Masker()
    m.close()
    with pytest.raises(devsys.ClosedHandleError):
        devsys.Runner("inproc", masker=m)
    with pytest.raises(devsys.ClosedHandleError):
        ws.add_masker(m)
    ws.close()
    with pytest.raises(devsys.ClosedHandleError):
        devsys.Store(ws)
    with pytest.raises(devsys.ClosedHandleError):
        devsys.Secrets(workspace=ws)
    a, b = devsys.Report(), devsys.Report()
    b.close()
    with pytest.raises(devsys.ClosedHandleError):
        a.merge(b)


def test_collection_in_any_order(tmp_path: Path, bare_repo: Path) -> None:
    """Children dropped last or first, parents collected first: nothing dangles."""
    for order in range(2):
        ws = devsys.Workspace(tmp_path / f"w{order}")
        task = ws.task("c", create=True)
        children = [devsys.Record(task), devsys.Repo(task, f"file://{bare_repo}"), devsys.Store(ws),
                    devsys.Secrets(workspace=ws), devsys.Runner("inproc", workspace=ws)]
        if order == 0:
            ws.close()
            task.close()
        del ws, task
        gc.collect()
        rec, repo, store, _secrets, runner = children
        rec.set("branch", "x")  # type: ignore[attr-defined]
        rec.save()  # type: ignore[attr-defined]
        assert repo.branch == "task/c"  # type: ignore[attr-defined]
        store.create(f"s{order}")  # type: ignore[attr-defined]
        assert runner.exec(["true"]).ok  # type: ignore[attr-defined]
        del children, rec, repo, store, _secrets, runner
        gc.collect()


def test_pipeline_and_pr_outlive_their_parents(tmp_path: Path, bare_repo: Path) -> None:
    """The pipeline holds its workspace, a PR its forge: close the parent first, then use the child."""
    ws = devsys.Workspace(tmp_path / "w")
    events: List[int] = []
    p = devsys.Pipeline(ws, progress=lambda e: events.append(e.kind))
    ws.close()
    del ws
    gc.collect()
    spec = (f"id: life-1\ntitle: t\nprompt: p\nrepo:\n  url: file://{bare_repo}\n  base_branch: main\n"
            f"agent:\n  command: [/bin/sh, -c, 'echo x >> README.md']\ntests:\n  command: [/bin/true]\nrunner: inproc\n")
    p.validate(spec, "life-1.yaml")
    assert p.run_stage("checkout").outcome == "checked-out" and p.state() == "checked-out"
    assert devsys.EVENT_STAGE_END in events, "the callback the wrapper keeps still runs"
    with devsys.Workspace(tmp_path / "w2") as w2, w2.task("t", create=True) as t:
        with devsys.Repo(t, f"file://{bare_repo}", author_name="t", author_email="t@localhost") as r:
            Path(r.checkout_path, "x.txt").write_text("x\n")
            r.commit("x")
            r.push()
            forge = devsys.Forge(str(bare_repo))
            pr = forge.open_pr("x", r.branch, r.base_branch)
            forge.close()
            del forge
            gc.collect()
            pr.refresh()
            assert pr.number == 1 and pr.state == devsys.PR_OPEN
            pr.close()
    p.close()
    with pytest.raises(devsys.ClosedHandleError):
        p.run()
