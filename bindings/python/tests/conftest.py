"""Shared fixtures. Every wrapped C function's calls are counted (the package
traces its calls when DEVSYS_PY_TRACE_CALLS is set, which this file sets before
importing it); with DEVSYS_PY_REQUIRE_ALL_CALLED=1 (the ctest entry) the session
fails when a wrapped function was never called by any test."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

os.environ.setdefault("DEVSYS_PY_TRACE_CALLS", "1")
# Under ASan (tools/run_pytest.sh) the runtime is preloaded into this interpreter
# only: git, cc and the commands the runner starts must not inherit it. Python
# children that load the library get it back through child_env().
ASAN_PRELOAD = os.environ.pop("LD_PRELOAD", "") if os.environ.get("DEVSYS_PY_ASAN") == "1" else ""


def child_env(**extra: str) -> "dict[str, str]":
    """The environment for a Python child process that loads libdevsys."""
    env = dict(os.environ, **extra)
    if ASAN_PRELOAD:
        env["LD_PRELOAD"] = ASAN_PRELOAD
    return env

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402

import devsys  # noqa: E402
from devsys import _lib  # noqa: E402

HERE = Path(__file__).resolve().parent
SOURCE_ROOT = HERE.parent.parent.parent
#: a spec that validates against the task schema (the spec and pipeline suites load and check it)
GOOD_SPEC = """\
version: 1
id: fix-login
title: Fix the login form
prompt: make the login form work
repo:
  url: https://example.com/x.git
tests:
  command: [make, test]
  timeout: 90s
"""


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[devsys.Workspace]:
    with devsys.Workspace(tmp_path / "ws") as w:
        yield w


@pytest.fixture
def task(ws: devsys.Workspace) -> Iterator[devsys.Task]:
    with ws.task("t-1", create=True) as t:
        yield t


def start_thread(fn: Callable[[], object]) -> Tuple[threading.Thread, List[BaseException]]:
    """fn() on a new, started thread; what it raises is put in the list for the main thread's asserts."""
    errors: List[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as e:  # noqa: B902 - kept for the main thread's asserts
            errors.append(e)
    t = threading.Thread(target=run)
    t.start()
    return t, errors


def git(*args: str, cwd: "str | Path | None" = None) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd or "/nonexistent"),
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@localhost", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@localhost")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """A file:// bare repository with one commit on main."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed (scripts/deps/git.apt)")
    bare, seed = tmp_path / "remote.git", tmp_path / "seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    (seed / "README.md").write_text("hello\n")
    git("add", "README.md", cwd=seed)
    git("commit", "-q", "-m", "first", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    return bare


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("DEVSYS_PY_REQUIRE_ALL_CALLED") != "1":
        return
    missing = sorted(set(_lib.declared_names()) - _lib.called)
    if missing:
        sys.stderr.write("\nwrapped C functions no binding test calls (%d): %s\n" % (len(missing), " ".join(missing)))
        session.exitstatus = 1
    else:
        sys.stderr.write("\nevery one of the %d wrapped C functions was called by a test\n"
                         % len(_lib.declared_names()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: "pytest.CallInfo[None]") -> Iterator[None]:
    """With CI=true a skipped test fails, as every skip in this project does."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.skipped and not hasattr(rep, "wasxfail") and os.environ.get("CI") in ("true", "1"):
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true: {rep.longrepr}"
