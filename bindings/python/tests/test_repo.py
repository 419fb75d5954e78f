"""The git workspace against a real file:// bare repository: checkout,
commit, push, protected branches, progress callbacks (also raising ones)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

import pytest

import devsys

from conftest import git


def test_checkout_commit_push(ws: devsys.Workspace, task: devsys.Task, bare_repo: Path) -> None:
    stages: List[int] = []
    with devsys.Repo(task, f"file://{bare_repo}", author_name="bot", author_email="bot@localhost",
                     progress=lambda p: stages.append(p.stage)) as repo:
        assert repo.branch == "task/t-1" and repo.base_branch == "main"
        assert repo.remote_default_branch == "main"
        assert len(repo.base_sha) == 40 and repo.head_sha == repo.base_sha
        assert Path(repo.checkout_path) == Path(task.path) / "checkout"
        assert Path(repo.mirror_path).is_dir()
        assert devsys.STAGE_FETCH in stages or devsys.STAGE_CHECKOUT in stages
        assert not repo.commit("nothing yet"), "no change, no commit"
        (Path(repo.checkout_path) / "new.txt").write_text("new\n")
        (Path(repo.checkout_path) / "README.md").unlink()
        spec = Path(task.path) / "spec.yaml"
        spec.write_text("id: t-1\n")
        assert repo.commit("Add new.txt\n\nbody", spec_path="specs/t-1.yaml", spec_file=spec)
        assert repo.head_sha != repo.base_sha
        changes = {c.path: c.status_name for c in repo.changed_paths()}
        assert changes == {"new.txt": "added", "README.md": "deleted"}
        assert devsys.change_status_name(4) == "renamed"
        repo.push()
        head = repo.head_sha
    assert git("rev-parse", "refs/heads/task/t-1", cwd=bare_repo).strip() == head
    msg = git("log", "-1", "--format=%B", "task/t-1", cwd=bare_repo)
    assert "Task-Id: t-1" in msg and f"Spec: specs/t-1.yaml {devsys.content_id(b'id: t-1' + bytes([10]))}" in msg
    blob = subprocess.run(["git", "hash-object", "--stdin"], input=b"abc", capture_output=True).stdout.decode().strip()
    assert devsys.content_id(b"abc") == "sha1:" + blob


def test_protected_branches(ws: devsys.Workspace, bare_repo: Path) -> None:
    assert devsys.branch_is_protected("main") and devsys.branch_is_protected("release/1")
    assert not devsys.branch_is_protected("task/x")
    assert devsys.branch_is_protected("trunk", "trunk")
    assert devsys.branch_is_protected("prod-1", protected=["prod-*"])
    with ws.task("p", create=True) as t:
        with pytest.raises(devsys.ProtectedBranchError) as ei:
            devsys.Repo(t, f"file://{bare_repo}", branch_template="main")
        assert "main" in ei.value.message
        assert not (Path(t.path) / "checkout").exists(), "nothing is left behind"
    with ws.task("q", create=True) as t:
        with pytest.raises(devsys.ProtectedBranchError):
            devsys.Repo(t, f"file://{bare_repo}", branch_template="prod-{id}", protected_branches=["prod-*"])


def test_branch_names() -> None:
    assert devsys.branch_name("42") == "task/42"
    assert devsys.branch_name("42", "feat/{slug}-{id}", "login") == "feat/login-42"
    with pytest.raises(devsys.ValidationError):
        devsys.branch_name("42", "bad..{id}")


def test_a_raising_progress_callback_aborts_the_checkout(task: devsys.Task, bare_repo: Path) -> None:
    class Abort(Exception):
        pass

    def progress(p: devsys.Progress) -> None:
        raise Abort(f"stage {p.stage}")
    with pytest.raises(Abort) as ei:
        devsys.Repo(task, f"file://{bare_repo}", progress=progress)
    assert any("DEVSYS_EUSER" in n for n in ei.value.__notes__)
    assert not (Path(task.path) / "checkout").exists(), f"a checkout is left behind after {ei.value}"
    with devsys.Repo(task, f"file://{bare_repo}") as r:  # control: works without the callback
        assert r.branch == "task/t-1"


def test_bad_urls_and_missing_repos(task: devsys.Task, tmp_path: Path) -> None:
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.Repo(task, "https://user:secret@example.com/x.git")
    with pytest.raises(devsys.NotFoundError):
        devsys.Repo(task, f"file://{tmp_path}/missing.git")
    with pytest.raises(TypeError):
        devsys.Repo(task, None)  # type: ignore[arg-type]


def test_file_size_guard(task: devsys.Task, bare_repo: Path) -> None:
    with devsys.Repo(task, f"file://{bare_repo}", max_file_size=10) as r:
        (Path(r.checkout_path) / "big.bin").write_bytes(b"x" * 100)
        with pytest.raises(devsys.LimitError) as ei:
            r.commit("big")
        assert "big.bin" in ei.value.message


def test_repo_outlives_task_and_workspace(tmp_path: Path, bare_repo: Path) -> None:
    ws = devsys.Workspace(tmp_path / "w")
    t = ws.task("o", create=True)
    r = devsys.Repo(t, f"file://{bare_repo}")
    t.close()
    ws.close()
    (Path(r.checkout_path) / "f.txt").write_text("x\n")
    assert r.commit("after the parents were freed")
    r.push()
    r.close()
    assert git("rev-parse", "refs/heads/task/o", cwd=bare_repo).strip()


def test_changed_paths_by_commit_and_head_has_path(task: devsys.Task, bare_repo: Path) -> None:
    with devsys.Repo(task, f"file://{bare_repo}", author_name="bot", author_email="bot@localhost") as repo:
        assert list(repo.changed_paths_by_commit()) == [], "head is base: no commit"
        co = Path(repo.checkout_path)
        (co / "a.txt").write_text("one\n")
        assert repo.commit("add a")
        (co / "docs").mkdir()
        (co / "docs" / "b.md").write_text("b\n")
        (co / "a.txt").write_text("two\n")
        assert repo.commit("add docs/b, change a")
        (co / "a.txt").unlink()
        assert repo.commit("drop a")
        (co / "uncommitted.txt").write_text("x\n")
        commits = repo.changed_paths_by_commit()
        assert len(commits) == 3 and all(len(c.sha) == 40 for c in commits), commits
        assert commits[-1].sha == repo.head_sha
        assert [[(devsys.change_status_name(ch.status), ch.path) for ch in c.changes] for c in commits] == [
            [("added", "a.txt")], [("modified", "a.txt"), ("added", "docs/b.md")], [("deleted", "a.txt")]]
        assert commits.touching("a.txt") == (3, 0, 2)
        assert commits.touching("docs/") == (1, 1, 1), "a folder: anything below it"
        assert commits.touching("README.md") == (0, None, None)
        assert repo.head_has_path("docs/b.md") and repo.head_has_path("docs/") and repo.head_has_path("README.md")
        assert not repo.head_has_path("a.txt"), "deleted in the head commit"
        assert not repo.head_has_path("uncommitted.txt"), "the checkout is not the head commit"
        with pytest.raises(TypeError, match="path"):
            repo.head_has_path(None)  # type: ignore[arg-type]
    with pytest.raises(devsys.ClosedHandleError):
        repo.changed_paths_by_commit()
