"""Plug-ins written in Python (devsys/sys/*.h): a runner type that runs real
processes (Runner, a cancel from another thread, the idle timeout through
io.stopped()), an in-memory forge provider (PR open, reuse, get, reviews,
checks, unregister), a secret provider (resolved through Secrets, masked),
a redactor, and the allocator hook in a child interpreter. Each with its
error path and a slot that raises."""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import pytest

import devsys
from devsys import _lib

from conftest import child_env, start_thread

# ---------------------------------------------------------------------------- a runner type

seen_cmds: List[devsys.RunnerCommand] = []


class Subprocess(devsys.RunnerBackend):
    """Runs the command as a child process, streaming its output to the library."""

    def __init__(self, opts: devsys.RunnerOpenOptions) -> None:
        self.opts, self.proc = opts, None  # type: Tuple[devsys.RunnerOpenOptions, Optional[subprocess.Popen[bytes]]]
        self.canceled = threading.Event()
        self.dir: Optional[str] = None

    def exec(self, cmd: devsys.RunnerCommand, io: devsys.RunnerIO) -> Union[int, devsys.RunnerStatus]:
        seen_cmds.append(cmd)
        self.canceled.clear()
        env = dict(e.decode().split("=", 1) for e in cmd.env) if cmd.env is not None else None
        if env is not None:
            env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        p = subprocess.Popen(cmd.argv, cwd=cmd.cwd, env=env, stdin=subprocess.PIPE if cmd.stdin else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.proc = p
        if cmd.stdin and p.stdin is not None:
            p.stdin.write(cmd.stdin)
            p.stdin.close()
        sel = selectors.DefaultSelector()
        assert p.stdout is not None and p.stderr is not None
        sel.register(p.stdout, selectors.EVENT_READ, devsys.STDOUT)
        sel.register(p.stderr, selectors.EVENT_READ, devsys.STDERR)
        stop = False
        while sel.get_map():
            for key, _ in sel.select(timeout=io.wait_ms(50) / 1000):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif not io.write(key.data, chunk):
                    stop = True
            if stop or io.stopped() or self.canceled.is_set():
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return devsys.RunnerStatus(devsys.RUNNER_CANCELED, -1, signal.SIGKILL)
        rc = p.wait()
        return rc if rc >= 0 else devsys.RunnerStatus(devsys.RUNNER_BUILD_FAILURE, -1, -rc)

    def cancel(self) -> None:
        self.canceled.set()

    # a remote runner to the pipeline: its own directory, the checkout uploaded, reports downloaded
    def workdir(self) -> Optional[str]:
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="py-runner-")
        return self.dir

    def upload(self, local: str, remote: str) -> None:
        copy(local, remote)

    def download(self, remote: str, local: str) -> None:
        copy(remote, local)

    def close(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self) -> Mapping[str, str]:
        return {"engine": "python-subprocess", "where": "x" * 400}


def copy(src: str, dst: str) -> None:
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


class Broken(devsys.RunnerBackend):
    def exec(self, cmd: devsys.RunnerCommand, io: devsys.RunnerIO) -> int:
        io.write(devsys.STDOUT, b"half")
        raise RuntimeError("the runner broke")


class Refusing(devsys.RunnerBackend):
    def exec(self, cmd: devsys.RunnerCommand, io: devsys.RunnerIO) -> int:
        raise devsys.AuthError("the runner's host refused us", code=devsys.AuthError.code)


_lock = threading.Lock()


def once(kind: str, name: str, register: Any, factory: Any) -> None:
    with _lock:
        if (kind, name) not in devsys.registered_plugins():
            register(name, factory)


def _open_fails(opts: devsys.RunnerOpenOptions) -> devsys.RunnerBackend:
    raise ValueError(f"cannot open {opts.type}")


def runner_types() -> None:
    once("runner", "py-sub", devsys.register_runner, Subprocess)
    once("runner", "py-broken", devsys.register_runner, Broken)
    once("runner", "py-refusing", devsys.register_runner, Refusing)
    once("runner", "py-noopen", devsys.register_runner, _open_fails)


def test_a_python_runner_type_runs_commands(ws: devsys.Workspace, task: devsys.Task) -> None:
    runner_types()
    m = devsys.Masker()
    m.add("tok", "s3cret-value")
    got: List[Tuple[int, bytes]] = []
    with devsys.Runner("py-sub", workspace=ws, masker=m) as r:
        assert r.type == "py-sub"
        res = r.exec(["sh", "-c", "echo out s3cret-value; echo err >&2; cat; exit 3"], env={"A": "1"},
                     stdin=b"from-stdin\n", output=lambda s, d: got.append((s, d)), task=task, stage="test")
        assert res.failure == devsys.RUNNER_BUILD_FAILURE and res.exit_code == 3, res
        out = b"".join(d for s, d in got if s == devsys.STDOUT)
        assert out == b"out [MASKED:tok]\nfrom-stdin\n", got  # masked and line-buffered by the library
        assert (devsys.STDERR, b"err\n") in got
        assert b"s3cret" not in res.tail and b"from-stdin" in res.tail
        log = Path(task.path_join("logs/test.log")).read_bytes()
        assert b"out [MASKED:tok]" in log and b"s3cret" not in log, log
        assert seen_cmds[-1].env == [b"A=1"] and seen_cmds[-1].stage == "test"
        assert r.exec(["true"]).ok
        d = r.describe()
        assert d.type == "py-sub" and d.engine == "python-subprocess" and d.where == "x" * 255, d
        wd = r.workdir()
        assert wd is not None and os.path.isdir(wd)
        r.upload(Path(task.path), os.path.join(wd, "up"))
        assert os.path.isdir(os.path.join(wd, "up", "logs"))
    with devsys.Runner("py-broken") as r:
        with pytest.raises(devsys.NotSupportedError):
            r.upload("/etc/hostname", "/tmp/x")  # Broken does not override upload
        assert r.workdir() is None


def test_cancel_from_another_thread_and_the_idle_timeout(ws: devsys.Workspace) -> None:
    runner_types()
    with devsys.Runner("py-sub", workspace=ws) as r:
        started = threading.Event()
        t0 = time.monotonic()
        t, err = start_thread(lambda: r.exec(["sh", "-c", "echo started; exec sleep 30"],
                                             output=lambda s, d: started.set()))
        assert started.wait(10), "the command never printed"
        r.cancel()
        t.join(10)
        assert not t.is_alive() and time.monotonic() - t0 < 10
        assert len(err) == 1 and isinstance(err[0], devsys.CanceledError), err
        # no output for 300 ms: io.stopped() turns true and the library names it stalled
        with pytest.raises(devsys.TimeoutError) as ei:
            r.exec(["sh", "-c", "echo once; exec sleep 30"], idle_timeout_ms=300)
        assert ei.value.result.failure == devsys.RUNNER_STALLED, ei.value.result  # type: ignore[attr-defined]


def test_runner_type_errors_and_a_slot_that_raises(ws: devsys.Workspace) -> None:
    runner_types()
    with pytest.raises(devsys.ExistsError):
        devsys.register_runner("inproc", Subprocess)
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.register_runner("", Subprocess)
    with pytest.raises(TypeError, match="factory"):
        devsys.register_runner("py-x", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot open py-noopen") as ei:
        devsys.Runner("py-noopen")
    assert "DEVSYS_EUSER" in " ".join(getattr(ei.value, "__notes__", []))
    with devsys.Runner("py-broken", workspace=ws) as r:
        with pytest.raises(RuntimeError, match="the runner broke"):
            r.exec(["true"])
        with pytest.raises(RuntimeError, match="the runner broke"):  # and again: nothing stale was kept
            r.exec(["true"])
    with devsys.Runner("py-refusing") as r:
        with pytest.raises(devsys.AuthError, match="refused us"):  # a devsys.Error keeps its own code
            r.exec(["true"])
    with devsys.Runner("py-sub") as r:
        assert r.exec(["true"]).ok  # positive control: the same call works on a sound runner


# ---------------------------------------------------------------------------- a forge provider

class MemForge(devsys.ForgeProvider):
    """PRs kept in memory, per repository."""
    prs: Dict[Tuple[str, str], Dict[int, devsys.ForgePrInfo]] = {}
    statuses_set: List[Tuple[str, str, int]] = []
    opened: List[devsys.ForgeOpenOptions] = []

    def __init__(self, o: devsys.ForgeOpenOptions) -> None:
        self.o = o
        self.opened.append(o)
        self.mine = self.prs.setdefault((o.owner, o.repo), {})

    def pr_upsert(self, req: devsys.ForgePrRequest) -> devsys.ForgePrInfo:
        for pr in self.mine.values():
            if pr.head == req.head and pr.base == req.base and pr.state == devsys.PR_OPEN:
                pr.title, pr.reused, pr.draft = req.title, True, req.draft
                pr.head_sha = req.head_sha or pr.head_sha
                return pr
        n = len(self.mine) + 1
        pr = devsys.ForgePrInfo(n, f"mem://{self.o.owner}/{self.o.repo}/pull/{n}", req.head, req.base,
                                req.head_sha or "0" * 40, req.title, author=self.o.bot or "py-bot", draft=req.draft)
        self.mine[n] = pr
        return pr

    def pr_get(self, number: int) -> devsys.ForgePrInfo:
        if number not in self.mine:
            raise devsys.NotFoundError(f"mem forge: no pull request {number}", http_status=404, detail="Not Found")
        pr = self.mine[number]
        return devsys.ForgePrInfo(pr.number, pr.url, pr.head, pr.base, pr.head_sha, pr.title, pr.author, pr.state,
                                  merge_sha=pr.merge_sha)

    def pr_reviews(self, number: int, sink: devsys.ForgeSink) -> None:
        sink.review("alice", self.mine[number].head_sha, devsys.REVIEW_APPROVED)
        sink.review("bob", "1" * 40, devsys.REVIEW_CHANGES_REQUESTED)

    def status_set(self, sha: str, status: devsys.ForgeStatusRequest) -> None:
        self.statuses_set.append((sha, status.context, status.state))

    def statuses(self, sha: str, sink: devsys.ForgeSink) -> None:
        for s, ctx, state in self.statuses_set:
            if s == sha:
                sink.check(ctx, sha, state, devsys.CHECK_KIND_STATUS)

    def check_runs(self, sha: str, sink: devsys.ForgeSink) -> None:
        sink.check("lint", sha, devsys.CHECK_FAILURE, devsys.CHECK_KIND_RUN)

    def pr_files(self, number: int, sink: devsys.ForgeSink) -> None:
        sink.file("README.md")
        sink.file("docs/new.md", "docs/old.md")
        sink.truncated()

    def pr_authors(self, number: int, sink: devsys.ForgeSink) -> None:
        sink.author(self.mine[number].author or "py-bot")

    def describe(self) -> Mapping[str, Any]:
        return {"prs": len(self.mine), "owner": self.o.owner}


class RaisingForge(MemForge):
    def pr_get(self, number: int) -> devsys.ForgePrInfo:
        raise KeyError("the forge provider broke")


def test_a_python_forge_provider_opens_and_loads_prs() -> None:
    once("forge", "py-mem", devsys.register_forge, MemForge)
    assert devsys.forge_registered("py-mem") and devsys.forge_registered("local")
    assert not devsys.forge_registered("py-none")
    sha = "a" * 40
    with devsys.Forge("https://forge.localhost/own/rep.git", provider="py-mem", bot="the-bot") as f:
        assert (f.provider, f.owner, f.repo) == ("py-mem", "own", "rep")
        assert MemForge.opened[-1].remote_url == "https://forge.localhost/own/rep.git"
        assert MemForge.opened[-1].token is None and MemForge.opened[-1].bot == "the-bot"
        with f.open_pr("Task 1", "task/1", "main", body="the body", head_sha=sha) as pr:
            assert pr.number >= 1 and not pr.reused and pr.url.startswith("mem://own/rep/pull/")
            assert (pr.head, pr.base, pr.head_sha, pr.author) == ("task/1", "main", sha, "the-bot")
            n = pr.number
        with f.open_pr("Task 1, again", "task/1", "main", head_sha=sha) as pr:
            assert pr.reused and pr.number == n and pr.title == "Task 1, again"
        f.set_status(sha, "devsys/tests", devsys.CHECK_SUCCESS, "12 passed")
        with f.pr(n) as pr:
            assert pr.title == "Task 1, again" and pr.state == devsys.PR_OPEN
            reviews = pr.reviews()
            assert [(r.reviewer, r.state) for r in reviews] == [("alice", devsys.REVIEW_APPROVED),
                                                               ("bob", devsys.REVIEW_CHANGES_REQUESTED)]
            checks = pr.checks()
            assert devsys.Check("devsys/tests", sha, devsys.CHECK_SUCCESS, devsys.CHECK_KIND_STATUS) in checks
            assert devsys.Check("lint", sha, devsys.CHECK_FAILURE, devsys.CHECK_KIND_RUN) in checks
            with devsys.Policy(required_contexts=["devsys/tests"]) as pol, pr.gate_check(pol) as d:
                assert d.outcome == devsys.GATE_BLOCKED, d.explain()  # bob asked for changes; files truncated
        with pytest.raises(devsys.NotFoundError, match="no pull request 999") as ei:
            f.pr(999)
        assert ei.value.http_status == 404 and ei.value.detail == "Not Found"
        desc = json.loads(f.describe())
        assert desc["prs"] >= 1 and desc["owner"] == "own", desc


def test_forge_errors_unregister_and_a_slot_that_raises() -> None:
    with pytest.raises(devsys.ExistsError):
        devsys.register_forge("github", MemForge)
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.register_forge("Not A Name", MemForge)

    class Minimal(devsys.ForgeProvider):
        def __init__(self, o: devsys.ForgeOpenOptions) -> None:
            self.inner = MemForge(o)

        def pr_upsert(self, req: devsys.ForgePrRequest) -> devsys.ForgePrInfo:
            return self.inner.pr_upsert(req)

        def pr_get(self, number: int) -> devsys.ForgePrInfo:
            return self.inner.pr_get(number)
    once("forge", "py-min", devsys.register_forge, Minimal)
    once("forge", "py-raising", devsys.register_forge, RaisingForge)
    with devsys.Forge("https://forge.localhost/o2/r2.git", provider="py-min") as f:
        with f.open_pr("T", "task/2", "main", head_sha="b" * 40) as pr:
            with pytest.raises(devsys.NotSupportedError):
                pr.checks()  # no statuses slot: the library says so
            with pytest.raises(devsys.NotSupportedError):
                pr.reviews()
    with devsys.Forge("https://forge.localhost/o3/r3.git", provider="py-raising") as f:
        f.open_pr("T", "task/3", "main", head_sha="c" * 40).close()
        with pytest.raises(KeyError, match="the forge provider broke") as ei:
            f.pr(1)
        assert "DEVSYS_EUSER" in " ".join(getattr(ei.value, "__notes__", []))
    # unregister: a new Forge cannot use the name, one opened before keeps working
    once("forge", "py-gone", devsys.register_forge, MemForge)
    old = devsys.Forge("https://forge.localhost/o4/r4.git", provider="py-gone")
    devsys.unregister_forge("py-gone")
    assert not devsys.forge_registered("py-gone")
    with pytest.raises(devsys.NotFoundError):
        devsys.Forge("https://forge.localhost/o4/r4.git", provider="py-gone")
    with pytest.raises(devsys.NotFoundError):
        devsys.unregister_forge("py-gone")
    with old, old.open_pr("still works", "task/4", "main", head_sha="d" * 40) as pr:
        assert pr.title == "still works"


class MergeForge(MemForge):
    """A PR that passes the gate: alice approved its head, the required status passed."""
    merges: List[Tuple[int, str, int]] = []
    protections: List[devsys.ForgeProtection] = []

    def pr_reviews(self, number: int, sink: devsys.ForgeSink) -> None:
        sink.review("alice", self.mine[number].head_sha, devsys.REVIEW_APPROVED)

    def check_runs(self, sha: str, sink: devsys.ForgeSink) -> None:
        pass

    def pr_files(self, number: int, sink: devsys.ForgeSink) -> None:
        sink.file("README.md")

    def merge(self, number: int, req: devsys.ForgeMergeRequest) -> str:
        pr = self.mine[number]
        if req.sha != pr.head_sha:
            raise devsys.ConflictError(f"head of #{number} is {pr.head_sha}, not {req.sha}")
        self.merges.append((number, req.sha, req.method))
        pr.state, pr.merge_sha = devsys.PR_MERGED, "9" * 40
        return "9" * 40

    def protect(self, protection: devsys.ForgeProtection) -> None:
        self.protections.append(protection)


def test_merge_and_protect_through_a_python_forge() -> None:
    once("forge", "py-merge", devsys.register_forge, MergeForge)
    sha = "5" * 40
    with devsys.Forge("https://forge.localhost/m/r.git", provider="py-merge", merge_method="squash") as f, \
            devsys.Policy(required_contexts=["devsys/tests"], critical_approvals=2) as pol:
        assert f.merge_method == "squash" and devsys.merge_method_from_name("rebase") == devsys.MERGE_REBASE
        with pytest.raises(devsys.ValidationError, match="octopus"):
            devsys.merge_method_from_name("octopus")
        f.protect("main", ["devsys/tests", "lint"], approvals=1)
        f.protect("release", policy=pol)  # the policy's contexts and critical approvals
        p1, p2 = MergeForge.protections[-2:]
        assert (p1.branch, p1.contexts, p1.approvals) == ("main", ["devsys/tests", "lint"], 1), p1
        assert (p2.branch, p2.contexts, p2.approvals) == ("release", ["devsys/tests"], 2), p2
        with f.open_pr("Merge me", "task/m1", "main", head_sha=sha) as pr:
            with pytest.raises(devsys.Error):
                pr.gate_merge(pol)  # the required status is missing: nothing merged
            assert MergeForge.merges == []
            f.set_status(sha, "devsys/tests", devsys.CHECK_SUCCESS)
            with pr.gate_merge(pol, require_approval=True) as d:
                assert d.outcome == devsys.GATE_MERGE, d.explain()
            assert MergeForge.merges == [(pr.number, sha, devsys.MERGE_SQUASH)], MergeForge.merges
            assert pr.merge_sha == "9" * 40 and pr.state == devsys.PR_MERGED
    once("forge", "py-mem", devsys.register_forge, MemForge)
    with devsys.Forge("https://forge.localhost/m/r.git", provider="py-mem") as f:
        with pytest.raises(devsys.NotSupportedError):
            f.protect("main", ["ci"])  # MemForge has no protect slot
    assert devsys.forge_remote_host("https://Forge.Localhost:8443/o/r.git") == "forge.localhost:8443"
    assert devsys.forge_remote_host("file:///srv/r.git") == ""
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.forge_remote_host("https://user:pw@host/o/r.git")


def test_classify_changes_and_change_flags() -> None:
    with devsys.Policy() as pol:
        pol.add_glob("critical", "deploy/**")
        assert pol.classify_changes(["README.md", "docs/a.md"]) == (devsys.RISK_LOW, 0)
        risk, decisive = pol.classify_changes(["README.md", ("docs/new.md", "notes.txt", 0), ("deploy/x.yaml", None, 0)])
        assert risk == devsys.RISK_CRITICAL and decisive == 2
        assert pol.classify_changes([("docs/new.md", "notes.txt", 0)]) == (devsys.RISK_MEDIUM, 0)  # the old path counts
        assert pol.classify_changes(["a.md", ("b.md", None, devsys.CHANGE_MODE)]) == (devsys.RISK_MEDIUM, 1)
        assert pol.classify_changes([]) == (devsys.RISK_MEDIUM, None)  # an empty set is medium
        assert devsys.change_flags(0o100644, 0o100755) == devsys.CHANGE_MODE
        assert devsys.change_flags(0o100644, 0o120000) & devsys.CHANGE_SYMLINK
        with pytest.raises(devsys.InvalidArgumentError):
            pol.classify_changes(["../escape"])


# ---------------------------------------------------------------------------- a secret provider

VAULT = {"db-pass": "vault-s3cret-42"}
asked: List[Tuple[str, Optional[str]]] = []


def vault(name: str, ref: Optional[str]) -> str:
    asked.append((name, ref))
    if ref == "explode":
        raise ZeroDivisionError("the vault provider broke")
    if ref not in VAULT:
        raise devsys.NotFoundError(f"vault: no secret '{name}'")
    return VAULT[ref]


def test_a_python_secret_provider_resolves_masked() -> None:
    once("secret", "py-vault", devsys.register_secret_provider, vault)
    events: List[devsys.SecretEvent] = []
    with devsys.Secrets(audit=events.append) as s:
        s.define("db", "py-vault", "db-pass")
        s.define("nope", "py-vault", "missing")
        s.define("boom", "py-vault", "explode")
        assert s.resolve("db") == b"vault-s3cret-42" and asked[-1] == ("db", "db-pass")
        assert events[-1].provider == "py-vault" and events[-1].error == 0
        with s.masker() as m:
            assert m.mask("dsn=postgres://u:vault-s3cret-42@db") == b"dsn=postgres://u:[MASKED:db]@db"
        with pytest.raises(devsys.NotFoundError, match="no secret 'nope'"):
            s.resolve("nope")
        with pytest.raises(ZeroDivisionError, match="the vault provider broke"):
            s.resolve("boom")
        assert s.resolve("db") == b"vault-s3cret-42"  # positive control after the failures
    with pytest.raises(devsys.ExistsError):
        devsys.register_secret_provider("py-vault", vault)
    with pytest.raises(TypeError, match="resolve"):
        devsys.register_secret_provider("py-v2", None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- a redactor

def test_a_python_redactor_rewrites_and_drops_log_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logged: List[str] = []
    unraisable: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def redact(text: bytes) -> Optional[bytes]:
        if b"explode" in text:
            raise RuntimeError("the redactor broke")
        return None if b"drop-me" in text else text.replace(b"hunter2", b"*******")
    with devsys.Workspace(tmp_path / "ws") as w:
        w.set_logger(lambda lvl, comp, msg: logged.append(msg), devsys.LOG_DEBUG)
        w.add_redactor(redact)
        w.log(devsys.LOG_INFO, "test", "password hunter2 here")
        w.log(devsys.LOG_INFO, "test", "please drop-me")
        w.log(devsys.LOG_INFO, "test", "explode now")
        w.log(devsys.LOG_INFO, "test", "plain line")
        with pytest.raises(TypeError, match="redact"):
            w.add_redactor("not callable")  # type: ignore[arg-type]
    assert "password ******* here" in logged and "plain line" in logged, logged
    assert not any("hunter2" in m or "drop-me" in m or "explode" in m for m in logged), logged
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, RuntimeError), unraisable


# ---------------------------------------------------------------------------- the allocator

ALLOC_C = r"""
#include <stdlib.h>
static unsigned long calls; static void *last_payload;
void *cnt_malloc(size_t n, void *p) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); last_payload = p; return malloc(n); }
void *cnt_realloc(void *q, size_t n, void *p) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); last_payload = p; return realloc(q, n); }
void cnt_free(void *q, void *p) { (void)p; free(q); }
unsigned long cnt_calls(void) { return calls; }
void *cnt_payload(void) { return last_payload; }
"""

ALLOC_CHILD = r"""
import ctypes, sys
import devsys
c = ctypes.CDLL(sys.argv[1])
c.cnt_calls.restype = ctypes.c_ulong
c.cnt_payload.restype = ctypes.c_void_p
for bad, exc in (((lambda n: 0), TypeError), ((c.cnt_malloc,), ValueError)):
    try:
        devsys.set_allocator(*bad) if isinstance(bad, tuple) else devsys.set_allocator(bad, bad, bad)
    except exc as e:
        print("refused:", type(e).__name__)
devsys.set_allocator(c.cnt_malloc, c.cnt_realloc, c.cnt_free, payload=0x5EED)
before = c.cnt_calls()
with devsys.Spec.load("id: a1\ntitle: t\nprompt: p\n", "a.yaml") as s:
    assert s.get_string("/id") == "a1"
    ws = devsys.Workspace(sys.argv[2])
    try:
        devsys.set_allocator(None)
    except devsys.BusyError as e:
        print("busy:", e.message)
    ws.close()
print("calls:", c.cnt_calls() - before, "payload:", hex(c.cnt_payload()))
del s
devsys.set_allocator(None)
after = c.cnt_calls()
with devsys.Spec.load("id: a2\ntitle: t\nprompt: p\n", "b.yaml"):
    pass
print("after reset:", c.cnt_calls() - after)
print("traced:", " ".join(sorted(devsys._lib.called)))
"""


def test_set_allocator_in_a_child_process(tmp_path: Path) -> None:
    src, so = tmp_path / "cnt.c", tmp_path / "libcnt.so"
    src.write_text(ALLOC_C)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    env = child_env(PYTHONPATH=str(Path(devsys.__file__).parent.parent))
    # under ASan the child keeps its leak check; frame-pointer unwinding keeps its start-up short (shorter
    # stacks can only match fewer suppressions, never hide a leak)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("fast_unwind_on_malloc=0", "fast_unwind_on_malloc=1")
    p = subprocess.run([sys.executable, "-c", ALLOC_CHILD, str(so), str(tmp_path / "ws")], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:2] == ["refused: TypeError", "refused: ValueError"], p.stdout
    assert lines[2].startswith("busy: set_allocator: the library has already allocated"), p.stdout
    calls, payload = lines[3].split()[1], lines[3].split()[3]
    assert int(calls) > 0 and payload == "0x5eed", p.stdout  # the library allocated through it, with the payload
    assert lines[4] == "after reset: 0", p.stdout  # None gave the C library's allocator back
    # the child's calls count for the wrapped-function coverage check (conftest.py)
    assert lines[5].startswith("traced:") and "devsys_set_allocator" in lines[5].split(), p.stdout
    _lib.called.update(lines[5].split()[1:])
