#!/usr/bin/python3
"""The whole pipeline, as examples/pipeline.c does it: validate a task spec
(the manager), then Pipeline.run() runs every stage that remains, in order:
checkout, agent, commit, push, pr, test, deploy, verify and gate, with one
line per stage as it ends. A task registered before is resumed from where it
stopped.

    DEVSYS_LIBRARY=build/dev/lib/libdevsys.so.1 bindings/python/examples/pipeline.py [WORKDIR]

It makes its own file:// bare repository (with the git program, only to set
the scene: the pipeline itself uses libdevsys, which never runs git); the
local forge keeps the task's pull request in that repository.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # usable from the source tree
import devsys  # noqa: E402

AGENT = "open('hello.txt', 'w').write('hello from the agent\\n')"
TESTS = ("import os; os.makedirs('reports', exist_ok=True); open('reports/junit.xml', 'w').write("
         "'<testsuite name=\"hello\"><testcase classname=\"hello\" name=\"exists\" time=\"0.01\"/></testsuite>')")


def make_remote(root: Path) -> Path:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=str(root), GIT_AUTHOR_NAME="seed",
               GIT_AUTHOR_EMAIL="seed@localhost", GIT_COMMITTER_NAME="seed", GIT_COMMITTER_EMAIL="seed@localhost")
    bare, seed = root / "remote.git", root / "seed"
    for args, cwd in ((["init", "-q", "--bare", "-b", "main", str(bare)], root),
                      (["init", "-q", "-b", "main", str(seed)], root)):
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True)
    (seed / "README.md").write_text("# demo\n")
    for args in (["add", "README.md"], ["commit", "-q", "-m", "seed"], ["push", "-q", str(bare), "main"]):
        subprocess.run(["git", *args], cwd=seed, env=env, check=True)
    return bare


def show(e: devsys.PipelineEvent) -> None:
    """One line per stage as it ends (returning False, or raising, would cancel the stage)."""
    if e.kind == devsys.EVENT_STAGE_END and e.result is not None:
        r = e.result
        cls = devsys.failure_class_name(r.failure_class)
        print(f"{r.stage:<8} {r.result:<6} {r.outcome}" + (f" class={cls}" if cls else ""))


def main(workdir: Path) -> int:
    remote = make_remote(workdir)
    spec_text = (f"version: 1\nid: hello-1\ntitle: Say hello\nprompt: add hello.txt\n"
                 f"repo:\n  url: file://{remote}\n  base_branch: main\n"
                 f"agent:\n  command: [/usr/bin/python3, -c, {json.dumps(AGENT)}]\n  timeout: 60s\n"
                 f"tests:\n  command: [/usr/bin/python3, -c, {json.dumps(TESTS)}]\n  junit: [reports/junit.xml]\n"
                 f"  timeout: 60s\nrunner: inproc\n")
    with devsys.Workspace(workdir / "ws") as ws, \
            devsys.Pipeline(ws, progress=show, runner_grace_ms=2000, agent_env_scrub=["NPM_TOKEN"]) as p:
        try:
            r = p.validate(spec_text, "hello-1.yaml")
            print(f"{r.stage:<8} {r.result:<6} {r.outcome}")
        except devsys.ExistsError:
            print("validate ok     already-registered (resumed)")
        except devsys.ValidationError as e:
            print(f"validate failed {e.message}")
            return 1
        try:
            p.run()
        except devsys.Error as e:
            print(f"error: {e.message}")
        state = p.state()
        print(f"task {p.task_id}: {state}")
        task_json = json.loads((Path(ws.path) / "tasks" / "hello-1" / "task.json").read_text())
        pr = task_json.get("pr") or {}
        print(f"pull request #{pr.get('number')} on {pr.get('provider')}: {pr.get('url')}")
        ok = state == "awaiting-review" and pr.get("number") == 1 and rep_ok(ws.path, "hello-1")
    print("pipeline ok" if ok else "pipeline FAILED")
    return 0 if ok else 1


def rep_ok(ws_path: str, task_id: str) -> bool:
    summary = json.loads((Path(ws_path) / "tasks" / task_id / "reports" / "1" / "summary.json").read_text())
    return bool(summary["tests"] == 1 and summary["failed"] == 0)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory(prefix="devsys-pipeline-") as d:
        sys.exit(main(Path(d)))
