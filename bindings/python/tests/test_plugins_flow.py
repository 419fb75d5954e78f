"""Plug-ins in the pipeline, and the calls around the gate and spec-kit:
a whole run through a Python runner type (a devsys.yaml profile), a Python
forge provider and an agent kind with the vtable's version 2 slots
(preflight, preflight_check, err_line, status), a stage of one's own that
opens its step's runner and execs through the pipeline; the pipeline's own
repo, store and forge options; Repo credential callables against a real
smart-HTTP git server with basic auth; devsys_policy_decide(); spec-kit's
stories, tasks, severity counts and SARIF; and a Worker whose C threads run
two tasks through the Python runner type at once."""
from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest

import devsys

from conftest import SOURCE_ROOT, git
from test_agent import Echo
from test_pipeline_run import make_spec
from test_plugins import MemForge, once, runner_types, seen_cmds

# ---------------------------------------------------------------------------- agent kinds, version 2

preflights: List[Tuple[int, bytes]] = []
err_lines: List[bytes] = []


class V2(Echo):
    def preflight(self) -> Optional[Sequence[str]]:
        return ["/bin/sh", "-c", "echo agent-v2.0"]

    def preflight_check(self, exit_code: int, out: bytes) -> None:
        preflights.append((exit_code, out))
        if not out.startswith(b"agent-v2"):
            raise devsys.ValidationError(f"needs agent-v2, found {out.decode().strip()}",
                                         code=devsys.ValidationError.code)

    def command(self) -> Tuple[Sequence[str], Optional[Mapping[str, str]]]:
        argv, env = super().command()
        return [*argv[:-1], argv[-1] + "; echo note-on-stderr >&2"], env

    def err_line(self, line: bytes) -> int:
        err_lines.append(line)
        return 0

    def status(self) -> Optional[Tuple[str, int, int]]:
        return (f"step {self.events}", self.events, 5)


class OldAgent(V2):
    def preflight(self) -> Optional[Sequence[str]]:
        return ["/bin/sh", "-c", "echo agent-v1.9"]


class Prompts(V2):
    def command(self) -> Tuple[Sequence[str], Optional[Mapping[str, str]]]:
        return ["/bin/sh", "-c", "echo 'Permission to write README.md? [y/n]' >&2; exec sleep 30"], None

    def err_line(self, line: bytes) -> int:
        return devsys.AGENT_STALL if line.startswith(b"Permission") else 0


class ErrRaises(V2):
    def err_line(self, line: bytes) -> int:
        raise LookupError("err_line broke")


def agent_once(name: str, factory: devsys.AgentFactory) -> None:
    if name not in devsys.registered_agents():
        devsys.register_agent(name, factory)


def spec_for(tmp: Path, bare: Path, tid: str, kind: str, runner: str = "inproc") -> str:
    s = make_spec(tmp, bare, tid, "exit 0\n").replace("agent:\n", f"agent:\n  kind: {kind}\n", 1)
    return s.replace("runner: inproc\n", f"runner: {runner}\n")


def test_a_run_through_python_plugins(tmp_path: Path, bare_repo: Path) -> None:
    """Runner type, forge provider, agent kind v2 and a stage of one's own, in one real run."""
    runner_types()
    once("forge", "py-mem", devsys.register_forge, MemForge)
    agent_once("py-v2", V2)
    cfg = tmp_path / "devsys.yaml"
    cfg.write_text("runners:\n  py:\n    type: py-sub\n")
    events: List[devsys.PipelineEvent] = []
    lint_out: List[bytes] = []

    def lint(run: devsys.StageRun) -> None:
        assert run.spec["id"] == "pyf-1" and run.spec["runner"] == "py", run.spec
        assert (Path(run.task_path) / "task.json").is_file() and run.task_path.endswith("/tasks/pyf-1")
        with run.open_runner("tests") as r:  # the spec's runner: the Python type
            assert r.type == "py-sub"
            res = run.exec(r, ["/bin/sh", "-c", "echo linting; ls README.md"], cwd=run.checkout_path,
                           output=lambda s, d: lint_out.append(d))
            assert res.ok, res
        run.set_outcome("linted")
    n_cmds = len(seen_cmds)
    with devsys.Workspace(tmp_path / "ws") as w:
        with devsys.Pipeline(w, config_path=cfg) as p:
            assert p.spec is None
            p.validate(spec_for(tmp_path, bare_repo, "pyf-1", "py-v2", "py"), "pyf-1.yaml")
            assert p.spec["id"] == "pyf-1" and p.spec["agent"]["kind"] == "py-v2", p.spec
        with devsys.Pipeline(w, config_path=cfg, progress=events.append, forge={"provider": "py-mem"},
                             repo={"author_name": "Py Bot", "author_email": "py-bot@localhost"},
                             store={"busy_timeout_ms": 4000}) as p:
            p.load("pyf-1")
            p.add_stage("commit", "lint", lint)
            r = p.run()
            assert r.stage == "gate", p.last_result
            assert p.state() in ("awaiting-review", "blocked"), p.last_result
    # the runner type ran the agent (and its preflight) and the tests
    argvs = [c.argv for c in seen_cmds[n_cmds:]]
    assert [b"/bin/sh", b"-c", b"echo agent-v2.0"] in argvs, argvs
    assert any(a[-1].endswith(b"tests.sh") for a in argvs), argvs
    assert preflights[-1] == (0, b"agent-v2.0\n") and b"note-on-stderr" in err_lines, (preflights, err_lines)
    labels = [(e.label, e.current, e.total) for e in events if e.kind == devsys.EVENT_PROGRESS and e.stage == "agent"]
    assert ("step 1", 1, 5) in labels and ("step 2", 2, 5) in labels, labels
    assert b"linting\n" in lint_out
    tdir = tmp_path / "ws" / "tasks" / "pyf-1"
    assert "linting" in (tdir / "logs" / "lint.log").read_text()
    # the pipeline's own repo options: the commit's author; its forge options: the PR is in the Python forge
    assert git("--git-dir", str(bare_repo), "log", "-1", "--format=%an <%ae>", "task/pyf-1") == \
        "Py Bot <py-bot@localhost>\n"
    prs = [pr for repo in MemForge.prs.values() for pr in repo.values() if pr.head == "task/pyf-1"]
    assert len(prs) == 1 and prs[0].base == "main", MemForge.prs
    lint_rec = json.loads((tdir / "task.json").read_text())["stages"]["lint"]
    assert lint_rec["result"] == "ok", lint_rec
    ends = [e.result for e in events if e.kind == devsys.EVENT_STAGE_END and e.stage == "lint"]
    assert len(ends) == 1 and ends[0] is not None and ends[0].outcome == "linted", ends


def test_agent_v2_refusals_and_a_slot_that_raises(tmp_path: Path, bare_repo: Path) -> None:
    agent_once("py-old", OldAgent)
    agent_once("py-prompts", Prompts)
    agent_once("py-err-raises", ErrRaises)
    with devsys.Workspace(tmp_path / "ws") as w:
        for tid, kind in (("pyv-1", "py-old"), ("pyv-2", "py-prompts"), ("pyv-3", "py-err-raises")):
            with devsys.Pipeline(w) as p:
                p.validate(spec_for(tmp_path, bare_repo, tid, kind), f"{tid}.yaml")
        with devsys.Pipeline(w) as p:
            p.load("pyv-1")
            with pytest.raises(devsys.ValidationError, match="needs agent-v2, found agent-v1.9"):
                p.code()
            assert p.last_result is not None and p.last_result.stage == "agent"
        with devsys.Pipeline(w) as p:
            p.load("pyv-2")
            with pytest.raises(devsys.Error):
                p.code()
            res = p.last_result
            assert res is not None and res.stage == "agent" and res.failure_class == devsys.FAILURE_STALLED, res
        with devsys.Pipeline(w) as p:
            p.load("pyv-3")
            with pytest.raises(LookupError, match="err_line broke"):
                p.code()
    # none of them pushed: the agent never ran (pyv-1) or was stopped
    heads = git("--git-dir", str(bare_repo), "branch", "--list", "task/pyv-*")
    assert heads == "", heads


def test_pipeline_options_refuse_unknown_fields(ws: devsys.Workspace) -> None:
    with pytest.raises(TypeError, match="no option 'colour'"):
        devsys.Pipeline(ws, repo={"colour": "red"})
    with pytest.raises(TypeError, match="no option 'nprotected_branches'"):
        devsys.Pipeline(ws, repo={"nprotected_branches": 3})
    with devsys.Pipeline(ws, store={"busy_timeout_ms": 1000}, runner={"tail_max": 4096}) as p:
        assert p.task_id is None  # positive control: known fields are taken


# ---------------------------------------------------------------------------- the gate's pure decision

def test_policy_decide() -> None:
    sha = "e" * 40
    ok = [("devsys/tests", sha, devsys.CHECK_SUCCESS, devsys.CHECK_KIND_STATUS)]
    with devsys.Policy(flags=devsys.POLICY_AUTO_MERGE, required_contexts=["devsys/tests"]) as pol:
        with pol.decide(head_sha=sha, path_risk=devsys.RISK_LOW, checks=ok) as d:
            assert d.outcome == devsys.GATE_MERGE, d.explain()
        with pol.decide(head_sha=sha, path_risk=devsys.RISK_HIGH, checks=ok,
                        reviews=[("carol", sha, devsys.REVIEW_APPROVED)]) as d:
            assert d.outcome == devsys.GATE_MERGE and d.approvals() == (1, 1), d.explain()
        with pol.decide(head_sha=sha, path_risk=devsys.RISK_HIGH, checks=ok,
                        reviews=[("carol", "f" * 40, devsys.REVIEW_APPROVED)]) as d:
            assert d.outcome == devsys.GATE_AWAITING_REVIEW, d.explain()  # approved an older commit
        with pol.decide(head_sha=sha, path_risk=devsys.RISK_LOW, draft=True, checks=ok) as d:
            assert d.outcome == devsys.GATE_BLOCKED and "draft" in d.explain()
        with pytest.raises(devsys.Error):
            pol.decide(head_sha=sha, path_risk=42)


# ---------------------------------------------------------------------------- spec-kit accessors

SPECKIT = SOURCE_ROOT / "tests" / "fixtures" / "speckit"


def test_speckit_stories_tasks_severities_and_sarif() -> None:
    with devsys.SpecKitFeature(SPECKIT / "valid" / "001-photo-albums", SPECKIT) as f:
        stories = f.stories()
        assert [s.number for s in stories][:3] == [1, 2, 3], stories
        assert stories[0].title == "Create an album" and stories[0].priority == 1 and stories[0].scenarios > 0
        tasks = f.tasks()
        assert len(tasks) == f.task_count and tasks[0].id == "T001" and tasks[0].done and tasks[0].phase == 0
        assert tasks[0].paths == ["src/albums/", "tests/albums/"], tasks[0]
        t11 = f.task("T011")
        assert t11 is not None and t11.deps == ["T009", "T010"] and t11.story == 1 and not t11.parallel
        assert f.task("T005").parallel and f.task("T998") is None  # type: ignore[union-attr]
        assert f.severity_counts()[devsys.SPECKIT_ERROR] == 0
        reqs = f.requirements()
        assert reqs and all(r.startswith(("FR-", "SC-")) for r in reqs) and "FR-001" in reqs, reqs
        phases = f.phases()
        assert phases[0][0].startswith("Setup") and phases[1][1] == 1, phases  # Phase 2 has one Checkpoint
        assert tasks[3].phase == 1 and f.plan_field("Storage") == "SQLite" and f.plan_field("Nope") is None
        assert f.clarifications == (0, 1), f.clarifications  # one Session; the marker in spec.md is inside a code fence
        total, unchecked = f.checklist_items()
        assert total > 0 and 0 <= unchecked <= total, (total, unchecked)
    (feature,) = [d for d in (SPECKIT / "broken" / "sk008").iterdir() if d.is_dir()]
    with devsys.SpecKitFeature(feature) as f:
        counts = f.severity_counts()
        found = f.check()
        assert sum(counts.values()) == len(found) > 0, (counts, found)
        assert counts[devsys.SPECKIT_ERROR] == len([x for x in found if x.severity == devsys.SPECKIT_ERROR])
        sarif = json.loads(f.check_report("sarif"))
        assert sarif["version"] == "2.1.0", sarif.keys()
        results = sarif["runs"][0]["results"]
        assert len(results) == len(found) and "SK008" in {r["ruleId"] for r in results}
        with pytest.raises(ValueError, match="sarif"):
            f.check_report("xml")


# ---------------------------------------------------------------------------- git credentials

TOKEN = "tok-3f9a"


class GitHTTP(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP through git-http-backend (CGI), behind basic auth."""
    root = ""
    auth_seen: List[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().strip(), 16)
                if n == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _serve(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.auth_seen.append(auth)
        body = self._body()
        if auth != "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {"GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
               "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "x-access-token", "REMOTE_ADDR": "127.0.0.1",
               "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1", "HOME": self.root}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers: List[Tuple[str, str]] = []
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def http_remote(tmp_path: Path, bare_repo: Path) -> Iterator[str]:
    if shutil.which("git") is None:
        pytest.fail("git is not installed (scripts/deps/git.apt)")
    root = tmp_path / "srv"
    root.mkdir()
    shutil.copytree(bare_repo, root / "own" / "r.git")
    git("--git-dir", str(root / "own" / "r.git"), "config", "http.receivepack", "true")
    GitHTTP.root, GitHTTP.auth_seen = str(root), []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GitHTTP)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/own/r.git"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(10)


def test_repo_credential_callables(http_remote: str, ws: devsys.Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    asked: List[Tuple[str, Optional[str], int, int]] = []

    def passes(url: str, user: Optional[str], allowed: int, attempt: int) -> Optional[devsys.Credential]:
        asked.append((url, user, allowed, attempt))
        return None

    def token(url: str, user: Optional[str], allowed: int, attempt: int) -> Optional[devsys.Credential]:
        return devsys.Credential(devsys.CRED_USERPASS, "x-access-token", TOKEN) if attempt == 1 else None
    with ws.task("cred-1", create=True) as t, devsys.Repo(t, http_remote, credentials=[passes, token]) as r:
        assert r.url == http_remote and (Path(r.checkout_path) / "README.md").read_text() == "hello\n"
        (Path(r.checkout_path) / "new.txt").write_text("pushed over http\n")
        assert r.commit("add new.txt")
        r.push()
    assert asked and asked[0][0] == http_remote and asked[0][2] & devsys.CRED_USERPASS and asked[0][3] == 1, asked
    assert git("--git-dir", str(Path(GitHTTP.root) / "own" / "r.git"), "show", "task/cred-1:new.txt") == "pushed over http\n"
    # a wrong token, nothing at all (KEY_CREDENTIALS has none for http), a raising callable
    with ws.task("cred-2", create=True) as t:
        with pytest.raises(devsys.AuthError):
            devsys.Repo(t, http_remote, credentials=[lambda u, n, a, k: devsys.Credential(devsys.CRED_USERPASS,
                                                                                         "x-access-token", "wrong")])
        with pytest.raises(devsys.AuthError):
            devsys.Repo(t, http_remote, credentials=[devsys.KEY_CREDENTIALS])

        def broken(url: str, user: Optional[str], allowed: int, attempt: int) -> Optional[devsys.Credential]:
            raise PermissionError("the credential store is locked")
        with pytest.raises(PermissionError, match="locked"):
            devsys.Repo(t, http_remote, credentials=[broken])
        with pytest.raises(TypeError, match="credentials"):
            devsys.Repo(t, http_remote, credentials=["token"])  # type: ignore[list-item]
    # the forge's own token (its forges: entry's token_secret, resolved by a Python secret provider)
    once("forge", "py-mem", devsys.register_forge, MemForge)
    once("secret", "py-forge-vault", devsys.register_secret_provider, lambda n, ref: TOKEN if ref == "t" else "")
    host = http_remote.split("/")[2]
    cfg = devsys.Config.parse(f"forges:\n  {host}:\n    provider: py-mem\n    token_secret: forge-token\n"
                              f"    token_provider: py-forge-vault\n    token_ref: t\n", "devsys.yaml")
    with cfg, devsys.Secrets() as sec, devsys.Forge(http_remote, config=cfg, secrets=sec) as forge, \
            ws.task("cred-4", create=True) as t:
        link = forge.credentials()
        assert forge.provider == "py-mem"  # the entry (and its token, through the Python provider) was read
        # the forge's provider answers https only: for this http remote it passes to the next link
        with pytest.raises(devsys.AuthError, match="no provider has any"):
            devsys.Repo(t, http_remote, credentials=[link, devsys.KEY_CREDENTIALS])
        with devsys.Repo(t, http_remote, credentials=[link, token]) as r:
            assert r.head_sha
    # the library's default provider, through the chain, with the environment's token
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with ws.task("cred-3", create=True) as t, devsys.Repo(t, http_remote, credentials=[devsys.DEFAULT_CREDENTIALS]):
        pass
    assert not any(TOKEN in a for a in GitHTTP.auth_seen[:1]), "the first request carries no credential"


# ---------------------------------------------------------------------------- on the worker's C threads

def test_a_worker_runs_two_tasks_through_the_python_runner_on_its_threads(tmp_path: Path, bare_repo: Path) -> None:
    """ctypes takes the GIL for each slot call: two slots' pipelines use the Python runner type at once."""
    runner_types()
    cfg = tmp_path / "devsys.yaml"
    cfg.write_text("runners:\n  py:\n    type: py-sub\n")
    threads: List[str] = []
    n0 = len(seen_cmds)
    with devsys.Workspace(tmp_path / "ws") as w:
        for tid in ("pyw-1", "pyw-2"):
            with devsys.Pipeline(w, config_path=cfg) as p:
                p.validate(make_spec(tmp_path, bare_repo, tid, 'echo "from the agent" >> README.md\n')
                           .replace("runner: inproc\n", "runner: py\n"), f"{tid}.yaml")
            with devsys.Store(w) as st:
                st.submit(tid)
        with devsys.Worker(w, jobs=2, once=True, poll_ms=50, config_path=cfg,
                           event=lambda e: threads.append(threading.current_thread().name)) as wk:
            wk.run()
            assert wk.state("pyw-1") == "awaiting-review" and wk.state("pyw-2") == "awaiting-review"
    tests_run = [c for c in seen_cmds[n0:] if c.argv[-1].endswith(b"tests.sh")]
    assert len(tests_run) == 2, [c.argv for c in seen_cmds[n0:]]
    assert threads and threading.main_thread().name not in threads, "events came from the worker's own threads"
