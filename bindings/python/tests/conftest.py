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


PG_BIN = "/usr/lib/postgresql/15/bin"


class Postgres:
    """A real PostgreSQL 15 the session started (DESIGN.md §5): its data under /tmp, owned by
    the postgres user; password authentication on 127.0.0.1 and a free port; trust on its socket."""

    def __init__(self, root: Path, port: int, password: str) -> None:
        self.root, self.port, self.password = root, port, password
        self._dbs = 0

    def newdb(self) -> str:
        """A fresh database; its URL (no password in it)."""
        self._dbs += 1
        name = "py%d" % self._dbs
        subprocess.run([PG_BIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.root),
                        "-p", str(self.port), "-U", "devsys", "-d", "postgres", "-c", "CREATE DATABASE " + name],
                       check=True, capture_output=True, cwd="/")
        return "postgresql://devsys@127.0.0.1:%d/%s" % (self.port, name)


def _as_postgres(*argv: str) -> None:
    r = subprocess.run(["runuser", "-u", "postgres", "--", *argv], cwd="/", capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("%s failed (%d): %s%s" % (argv[0], r.returncode, r.stdout[-800:], r.stderr[-800:]))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    import pwd
    import secrets as pysecrets
    import socket
    import tempfile
    if not os.access(PG_BIN + "/initdb", os.X_OK):
        pytest.skip("PostgreSQL 15 is not installed (%s; scripts/deps/store.apt)" % PG_BIN)
    if os.geteuid() != 0:
        pytest.skip("PostgreSQL runs as the postgres user: starting it needs root (runuser)")
    pg = pwd.getpwnam("postgres")
    root = Path(tempfile.mkdtemp(prefix="devsys-pypg-", dir="/tmp"))
    os.chown(root, pg.pw_uid, pg.pw_gid)
    password = pysecrets.token_hex(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, pg.pw_uid, pg.pw_gid)
    pwfile.chmod(0o600)
    data = root / "data"
    try:
        _as_postgres(PG_BIN + "/initdb", "-N", "-D", str(data), "-U", "devsys", "--auth-host=scram-sha-256",
                     "--auth-local=trust", "--pwfile=" + str(pwfile))
        pwfile.unlink()
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        _as_postgres(PG_BIN + "/pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "30", "-o",
                     "-k %s -c listen_addresses=127.0.0.1 -p %d" % (root, port), "start")
        yield Postgres(root, port, password)
    finally:
        if (data / "postmaster.pid").exists():
            _as_postgres(PG_BIN + "/pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
        shutil.rmtree(root, ignore_errors=True)


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
