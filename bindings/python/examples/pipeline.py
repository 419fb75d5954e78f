#!/usr/bin/python3
"""The agent pipeline as it can be composed today, stage by stage:
validate a spec, check out its repository, run the "agent" and the tests,
commit, push, and record everything in the task record and the store.

    DEVSYS_LIBRARY=build/dev/lib/libdevsys.so.1 bindings/python/examples/pipeline.py [WORKDIR]

It makes its own file:// bare repository (with the git program, only to set
the scene: the pipeline itself uses libdevsys, which never runs git).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

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


def main(workdir: Path) -> int:
    remote = make_remote(workdir)
    spec_text = (f"version: 1\nid: hello-1\ntitle: Say hello\nprompt: add hello.txt\n"
                 f"repo:\n  url: file://{remote}\n"
                 f"tests:\n  command: [/usr/bin/python3, -c, {json.dumps(TESTS)}]\n  junit: [reports/junit.xml]\n"
                 f"  timeout: 60s\n")
    with devsys.Workspace(workdir / "ws") as ws, devsys.Store(ws) as store:
        # validate
        with devsys.Spec.load(spec_text, "hello-1.yaml") as spec:
            with spec.validate() as v:
                if not v.valid:
                    for e in v:
                        print(f"{e.file}:{e.line}:{e.column}: {e.instance_location}: {e.message}")
                    return 1
            task_id = spec.get_string("/id") or "hello-1"
            url = spec.get_string("/repo/url") or ""
            tests_cmd = spec.at().get("/tests/command")
            argv: List[str] = tests_cmd.value() if tests_cmd else []
            timeout = spec.timeout_ms("tests") or 0
        store.create(task_id, "hello-1.yaml")
        with ws.task(task_id) as task, devsys.Record(task) as rec:
            rec.set_spec("spec.yaml", spec_text)
            rec.stage_begin("validate")
            rec.stage_end("validate", "ok")
            store.transition(task_id, "validated")
            # check out
            store.stage_begin(task_id, "checkout")
            with devsys.Repo(task, url, author_name="devsys-example", author_email="example@localhost") as repo:
                store.stage_end(task_id, "checkout", "ok", "checked-out")
                print(f"checkout  {repo.checkout_path} on {repo.branch} from {repo.base_branch}@{repo.base_sha[:8]}")
                # the agent
                with devsys.Runner("inproc", workspace=ws) as runner:
                    store.stage_begin(task_id, "agent")
                    res = runner.exec(["/usr/bin/python3", "-c", AGENT], cwd=repo.checkout_path, task=task,
                                      stage="agent", timeout_ms=60000)
                    store.stage_end(task_id, "agent", "ok" if res.ok else "failed", "coded")
                    print(f"agent     {res.failure_name} in {res.duration_ms} ms")
                    # commit and push
                    store.stage_begin(task_id, "commit")
                    committed = repo.commit("Say hello\n\nWritten by the example agent.", spec_path="hello-1.yaml",
                                           spec_file=Path(task.path) / "spec.yaml")
                    store.stage_end(task_id, "commit", "ok", "committed" if committed else "no-changes")
                    print(f"commit    {repo.head_sha[:8]}: {[c.path for c in repo.changed_paths()]}")
                    store.stage_begin(task_id, "push")
                    repo.push()
                    store.stage_end(task_id, "push", "ok", "pushed")
                    print(f"push      refs/heads/{repo.branch} -> {url}")
                    # the tests, and their report in the record
                    store.stage_begin(task_id, "test")
                    res = runner.exec(argv, cwd=repo.checkout_path, task=task, stage="test", timeout_ms=timeout)
                    run = rec.run_begin()
                    rec.run_add_junit(run, Path(repo.checkout_path) / "reports" / "junit.xml")
                    rec.run_complete(run)
                    store.run_record(task_id, run)
                    # no PR stage exists yet, so the task stays "pushed" (tested follows pr-opened)
                    store.stage_end(task_id, "test", "ok" if res.ok else "failed", -1)
            rec.set("branch", "task/" + task_id)
            rec.save()
        with devsys.Report.parse_junit(Path(ws.path) / "tasks" / task_id / "reports" / str(run) / "junit.xml") as rep:
            print(f"tests     {rep.count(devsys.PASSED)}/{rep.tests} passed")
        print(f"state     {store.state(task_id)}")
        ok = store.state(task_id) == "pushed" and rep_ok(ws.path, task_id)
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
