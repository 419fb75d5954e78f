"""Spec Kit's sync and run calls: ticking tasks.md (text, file, and committed
and pushed from a task's checkout), a feature run wave by wave through the
real pipeline, the links from devsys tasks back to the feature and its
status; with their error paths."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
import threading
from typing import Iterator, List, Tuple

import pytest

import devsys

from conftest import SOURCE_ROOT, git

TASKS_MD = ("# Tasks: Mini\n\n## Phase 1: Setup\n\n"
            "- [ ] T001 [P] Write the first note in notes/t001.txt\n"
            "- [ ] T002 [P] Write the second note in notes/t002.txt\n\n"
            "## Phase 2: Polish\n\n"
            "- [ ] T003 Write the last note in notes/t003.txt (depends on T001, T002)\n")
FEATURE = "specs/001-mini"


@pytest.fixture
def feature_repo(tmp_path: Path) -> Iterator[Tuple[Path, Path]]:
    """A bare remote whose main has specs/001-mini/tasks.md, and a clone of it."""
    bare, work = tmp_path / "remote.git", tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(work))
    (work / FEATURE).mkdir(parents=True)
    # spec.md, plan.md and research.md of the valid fixture: the verify stage validates a linked feature
    for md in (SOURCE_ROOT / "tests" / "fixtures" / "speckit" / "valid" / "001-photo-albums").glob("*.md"):
        shutil.copy(md, work / FEATURE / md.name)
    (work / FEATURE / "tasks.md").write_text(TASKS_MD)
    (work / "README.md").write_text("hello\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "init", cwd=work)
    git("push", "-q", str(bare), "main", cwd=work)
    yield bare, work


def test_mark_done_text_and_file(tmp_path: Path) -> None:
    crlf = TASKS_MD.replace("\n", "\r\n").encode()
    out, n = devsys.speckit_mark_done(crlf, ["T002"])
    assert n == 1 and out == crlf.replace(b"- [ ] T002", b"- [X] T002"), out
    again, n2 = devsys.speckit_mark_done(out, ["T002"])
    assert (again, n2) == (out, 0), "a ticked line stays as it is"
    with pytest.raises(devsys.NotFoundError, match="T009"):
        devsys.speckit_mark_done(TASKS_MD, ["T001", "T009"])
    with pytest.raises(TypeError, match="sequence"):
        devsys.speckit_mark_done(TASKS_MD, "T001")
    with pytest.raises(TypeError, match="id"):
        devsys.speckit_mark_done(TASKS_MD, [None])  # type: ignore[list-item]
    f = tmp_path / "tasks.md"
    f.write_text(TASKS_MD)
    assert devsys.speckit_mark_done_file(f, ["T001", "T003"]) == 2
    assert f.read_text() == TASKS_MD.replace("[ ] T001", "[X] T001").replace("[ ] T003", "[X] T003")
    with pytest.raises(devsys.NotFoundError):
        devsys.speckit_mark_done_file(tmp_path / "nope.md", ["T001"])


def test_sync_commits_and_pushes_the_ticks(tmp_path: Path, feature_repo: Tuple[Path, Path]) -> None:
    bare, _ = feature_repo
    with devsys.Workspace(tmp_path / "ws") as w, w.task("sync-1", create=True) as t, \
            devsys.Repo(t, f"file://{bare}") as repo:
        with pytest.raises(devsys.PathError):
            devsys.speckit_sync(repo, "../outside", ["T001"])
        with pytest.raises(devsys.NotFoundError):
            devsys.speckit_sync(repo, "specs/no-such", ["T001"])
        with pytest.raises(devsys.NotFoundError, match="T042"):
            devsys.speckit_sync(repo, FEATURE, ["T042"])
        assert devsys.speckit_sync(repo, FEATURE, ["T001"]) == 1
        assert devsys.speckit_sync(repo, FEATURE, ["T001"]) == 0, "nothing to mark: no commit"
        branch = repo.branch
        # T001 is ticked but its path notes/t001.txt was never written: a phantom completion
        co = Path(repo.checkout_path)
        with devsys.SpecKitFeature(co / FEATURE, co) as f:
            ph = [x for x in f.check_phantoms(repo) if x.rule == "SK015"]
            assert len(ph) == 1 and "notes/t001.txt" in ph[0].message and "T001" in ph[0].message, ph
            assert ph[0].severity == devsys.SPECKIT_WARNING
            assert [x for x in f.check_phantoms(repo, ["T002"]) if x.rule == "SK015"] == [], "T002 only"
        (co / "notes").mkdir()
        (co / "notes" / "t001.txt").write_text("done\n")
        assert repo.commit("the first note")
        with devsys.SpecKitFeature(co / FEATURE, co) as f:
            ph = [x for x in f.check_phantoms(repo) if x.rule == "SK015" and x.severity != devsys.SPECKIT_INFO]
            assert ph == [], "control: the path is in a commit now"
            with pytest.raises(TypeError, match="sequence"):
                f.check_phantoms(repo, "T001")
    pushed = git("--git-dir", str(bare), "show", f"{branch}:{FEATURE}/tasks.md")
    assert pushed == TASKS_MD.replace("[ ] T001", "[X] T001"), pushed
    assert git("--git-dir", str(bare), "show", f"main:{FEATURE}/tasks.md") == TASKS_MD, "main untouched"
    log = git("--git-dir", str(bare), "log", "--format=%s", branch).splitlines()
    assert len(log) == 2, log


def test_run_a_feature_then_links_status_and_green(tmp_path: Path, feature_repo: Tuple[Path, Path]) -> None:
    bare, work = feature_repo
    agent, tests = tmp_path / "agent.sh", tmp_path / "tests.sh"
    agent.write_text("set -e\nn=${DEVSYS_TASK_ID##*-}\n"
                     f"if [ \"$n\" = t003 ] && [ -e '{tmp_path}/fail' ]; then echo refused >&2; exit 3; fi\n"
                     "mkdir -p notes && echo \"$DEVSYS_TASK_ID\" > \"notes/$n.txt\"\n")
    tests.write_text("mkdir -p reports && printf '<testsuite name=\"s\" tests=\"1\" failures=\"0\">"
                     "<testcase classname=\"c\" name=\"ok\"/></testsuite>\\n' > reports/junit.xml\n")
    extra = (f"agent:\n  command: [/bin/sh, {agent}]\n"
             f"tests:\n  command: [/bin/sh, {tests}]\n  junit: [reports/junit.xml]\n")
    (tmp_path / "fail").write_text("")
    url = f"file://{bare}"
    tasks_md = work / FEATURE / "tasks.md"
    with devsys.SpecKitFeature(work / FEATURE) as f:
        yaml = f.plan_yaml(url, FEATURE)
        assert yaml.count("speckit:") == 3 and "001-mini-t003" in yaml, yaml
        assert "001-mini-w01" in f.plan_yaml(url, FEATURE, per_wave=True)
        assert json.loads(f.check_report("json")) is not None
        assert isinstance(f.check_report("text"), str)
        with pytest.raises(ValueError, match="format"):
            f.check_report("xml")
        with devsys.Workspace(tmp_path / "ws") as w, devsys.Pipeline(w) as p:
            with pytest.raises(TypeError, match="repo_url"):
                f.run(p, None, FEATURE)  # type: ignore[arg-type]
            # T003 fails: the first wave is done and ticked, the feature stops
            with pytest.raises(devsys.Error) as ei:
                f.run(p, url, FEATURE, spec_extra=extra, tasks_md=tasks_md)
            assert getattr(ei.value, "waves_done") == 1
            assert "T003" in ei.value.message and "001-mini-t003" in ei.value.message, ei.value.message
            assert tasks_md.read_text() == TASKS_MD.replace("[ ] T001", "[X] T001").replace("[ ] T002", "[X] T002")
            (tmp_path / "fail").unlink()
            assert f.run(p, url, FEATURE, spec_extra=extra, tasks_md=tasks_md) == 2, "resumed"
            assert "[ ] " not in tasks_md.read_text()
            with devsys.Store(w) as st:
                with devsys.SpecKitLinks(st, w, FEATURE) as links:
                    got = sorted((x.speckit_id, x.task_id, x.green) for x in links)
                    assert got == [("T001", "001-mini-t001", True), ("T002", "001-mini-t002", True),
                                   ("T003", "001-mini-t003", True)], got
                    assert all(x.state == "awaiting-review" for x in links)
                    assert sorted(links.green_ids()) == ["T001", "T002", "T003"]
                    with pytest.raises(IndexError):
                        links[len(links)]
                    status = json.loads(f.status_json(links))
                    assert status["summary"]["linked"] == 3, status["summary"]
                with devsys.SpecKitLinks(st, w, "specs/other") as none:
                    assert len(none) == 0 and none.green_ids() == []
                assert json.loads(f.status_json())["summary"]["linked"] == 0
                with w.task("001-mini-t001") as t:
                    assert devsys.speckit_task_green(st, t) is True
                with w.task("stray", create=True) as t2:
                    with pytest.raises(devsys.NotFoundError):
                        devsys.speckit_task_green(st, t2)  # not in the store
                with pytest.raises(devsys.InvalidArgumentError):
                    devsys.SpecKitLinks(st, w, "")
            links2 = devsys.SpecKitLinks(devsys.Store(w), w, FEATURE)
        # the links copied what they need; their store and workspace closed first
        assert len(links2) == 3
        links2.close()
        with pytest.raises(devsys.ClosedHandleError):
            links2.green_ids()


def test_run_waves_through_a_scheduler_of_ones_own(tmp_path: Path, feature_repo: Tuple[Path, Path]) -> None:
    """run_wave runs each wave's tasks on threads, each with a pipeline of its own."""
    bare, work = feature_repo
    agent, tests = tmp_path / "agent.sh", tmp_path / "tests.sh"
    agent.write_text("set -e\nn=${DEVSYS_TASK_ID##*-}\nmkdir -p notes && echo \"$n\" > \"notes/$n.txt\"\n")
    tests.write_text("mkdir -p reports && printf '<testsuite name=\"s\" tests=\"1\" failures=\"0\">"
                     "<testcase classname=\"c\" name=\"ok\"/></testsuite>\\n' > reports/junit.xml\n")
    extra = (f"agent:\n  command: [/bin/sh, {agent}]\n"
             f"tests:\n  command: [/bin/sh, {tests}]\n  junit: [reports/junit.xml]\n")
    url = f"file://{bare}"
    waves: List[List[str]] = []
    with devsys.SpecKitFeature(work / FEATURE) as f, devsys.Workspace(tmp_path / "ws") as w, \
            devsys.Pipeline(w) as p:
        def broken(ids: List[str]) -> None:
            raise OSError("the scheduler broke")
        with pytest.raises(OSError, match="the scheduler broke") as ei:
            f.run(p, url, FEATURE, spec_extra=extra, run_wave=broken)
        assert "DEVSYS_EUSER" in " ".join(getattr(ei.value, "__notes__", []))

        def threads(ids: List[str]) -> None:
            waves.append(sorted(ids))
            errors: List[BaseException] = []

            def one(tid: str) -> None:
                try:
                    with devsys.Pipeline(w) as mine:
                        mine.load(tid)
                        mine.run()
                except BaseException as e:  # noqa: B902 - reported below
                    errors.append(e)
            ts = [threading.Thread(target=one, args=(t,)) for t in ids]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            assert not errors, errors
        assert f.run(p, url, FEATURE, spec_extra=extra, run_wave=threads) == 2
        assert waves == [["001-mini-t001", "001-mini-t002"], ["001-mini-t003"]], waves
        assert p.state("001-mini-t003") == "awaiting-review"
