#!/usr/bin/python3
"""A build orchestrator embedding libdevsys: several spec files, one
workspace, the library's own scheduling. Each spec is validated (the
manager: Pipeline.validate()) and queued (Store.submit()); a Worker then runs
the queue with several job slots at once, each slot a thread of the library
with a pipeline of its own, every task through all its stages; the Worker's
events and the task records give the summary table.

    DEVSYS_LIBRARY=build/dev/lib/libdevsys.so.1 bindings/python/examples/orchestrator.py [--jobs N] [SPEC...]

Without spec files it makes a file:// bare repository (with the git program,
only to set the scene) and writes demonstration specs against it: three whose
agent and tests succeed, one whose tests fail and one that is invalid.
Exit status: 0 when every valid spec's task ran to a resting state
(awaiting-review, merged, done, no-changes) or failed in its test stage (a
build failure of its own tests), and every invalid spec was refused; 1 when
anything else happened.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # usable from the source tree
import devsys  # noqa: E402

RESTING = ("awaiting-review", "merged", "done", "no-changes")


@dataclass
class Row:
    spec: str
    task: str = "-"
    valid: bool = False
    state: str = "-"
    tests: str = "-"
    ms: int = 0
    slots: Set[int] = field(default_factory=set)
    note: str = ""
    claimed_at: float = 0.0


def make_remote(root: Path) -> Path:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=str(root), GIT_AUTHOR_NAME="seed",
               GIT_AUTHOR_EMAIL="seed@localhost", GIT_COMMITTER_NAME="seed", GIT_COMMITTER_EMAIL="seed@localhost")
    bare, seed = root / "remote.git", root / "seed"
    for args in (["init", "-q", "--bare", "-b", "main", str(bare)], ["init", "-q", "-b", "main", str(seed)]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    (seed / "README.md").write_text("# demo\n")
    for args in (["add", "README.md"], ["commit", "-q", "-m", "seed"], ["push", "-q", str(bare), "main"]):
        subprocess.run(["git", *args], cwd=seed, env=env, check=True)
    return bare


def demo_specs(d: Path) -> List[Path]:
    remote = make_remote(d)
    specs = []
    for i, fail in ((1, False), (2, False), (3, True), (4, False)):
        agent = f"open('build-{i}.txt', 'w').write('built {i}\\n')"
        cases = ('<testcase classname="b" name="t1"/><testcase classname="b" name="t2">'
                 + ('<failure message="expected 2"/></testcase>' if fail else "</testcase>"))
        tests = ("import os; os.makedirs('out', exist_ok=True); "
                 f"open('out/junit.xml', 'w').write('<testsuite name=\"b{i}\">{cases}</testsuite>'); "
                 f"raise SystemExit({1 if fail else 0})")
        p = d / f"build-{i}.yaml"
        p.write_text(f"version: 1\nid: build-{i}\ntitle: Build {i}\nprompt: build it\n"
                     f"repo:\n  url: file://{remote}\n  base_branch: main\n"
                     f"agent:\n  command: [/usr/bin/python3, -c, {json.dumps(agent)}]\n  timeout: 60s\n"
                     f"tests:\n  command: [/usr/bin/python3, -c, {json.dumps(tests)}]\n"
                     f"  junit: [out/junit.xml]\n  timeout: 60s\nrunner: inproc\n")
        specs.append(p)
    bad = d / "broken.yaml"
    bad.write_text("version: 1\nid: broken\ntitle: No repository\nprompt: p\n")
    specs.append(bad)
    return specs


def queue_all(paths: List[Path], ws: devsys.Workspace, store: devsys.Store) -> List[Row]:
    """The manager: validate each spec and queue its task (a task queued or
    registered before is left where it stands: the worker resumes it)."""
    rows = []
    with devsys.Pipeline(ws) as p:
        for path in paths:
            row = Row(path.name)
            rows.append(row)
            try:
                r = p.validate(path.read_bytes(), path.name)
                row.task, row.valid = p.task_id or "-", True
                store.submit(row.task)
            except devsys.ValidationError as e:
                errors = p.validation_errors()
                row.state, row.note = "refused", errors[0].message if errors else e.message
            except devsys.ExistsError:
                row.task, row.valid, row.note = p.task_id or "-", True, "registered before: resumed"
                if store.state(row.task) == "validated":
                    store.submit(row.task)
            except devsys.Error as e:
                row.state, row.note = e.name, e.message
            else:
                assert r.outcome == "validated"
    return rows


def main(paths: List[Path], root: Path, jobs: int) -> int:
    with devsys.Workspace(root / "ws") as ws, devsys.Store(ws) as store:
        rows = queue_all(paths, ws, store)
        by_task: Dict[str, Row] = {r.task: r for r in rows if r.valid}
        lock = threading.Lock()

        def on_event(e: devsys.WorkerEvent) -> None:
            """From the worker's threads, one call at a time."""
            row = by_task.get(e.task_id or "")
            if row is None:
                return
            with lock:
                if e.kind == devsys.WORKER_EVENT_CLAIMED:
                    row.slots.add(e.slot)
                    row.claimed_at = time.monotonic()
                elif e.kind in (devsys.WORKER_EVENT_ENDED, devsys.WORKER_EVENT_HANDED_BACK):
                    row.ms += int((time.monotonic() - row.claimed_at) * 1000)
                elif e.kind in (devsys.WORKER_EVENT_ERROR, devsys.WORKER_EVENT_REFUSED):
                    row.note = e.message

        with devsys.Worker(ws, jobs=jobs, once=True, poll_ms=50, event=on_event) as worker:
            worker.run()  # until the queue has nothing left to claim
            stats = worker.stats()
        for row in by_task.values():
            row.state = store.state(row.task)
            t = json.loads(store.task_json(row.task))
            record = json.loads((Path(ws.path) / "tasks" / row.task / "task.json").read_text())
            tests = record.get("tests") or {}
            if "tests" in tests:
                row.tests = f"{tests['passed']}/{tests['tests']}"
            if row.state == "failed" and not row.note:
                row.note = f"failed at stage {t.get('stage') or t.get('last_stage') or '?'}"
    print(f"{'spec':<12} {'task':<9} {'valid':<6} {'state':<16} {'tests':<6} {'slot':<5} {'ms':>6}  note")
    for row in rows:
        slot = ",".join(str(s) for s in sorted(row.slots)) or "-"
        print(f"{row.spec:<12} {row.task:<9} {str(row.valid).lower():<6} {row.state:<16} {row.tests:<6} {slot:<5} "
              f"{row.ms:>6}  {row.note}")
    used = set().union(*(r.slots for r in rows))
    passed = sum(r.state in RESTING for r in rows)
    failed = sum(r.valid and r.state == "failed" for r in rows)
    refused = sum(not r.valid for r in rows)
    print(f"{len(rows)} specs, one workspace, a worker of {stats.jobs} slots ({len(used)} used): "
          f"{passed} passed, {failed} failed, {refused} refused")
    ok = all((r.state in RESTING or (r.state == "failed" and r.note == "failed at stage test")) if r.valid
             else r.state == "refused" for r in rows) and stats.claimed == len(by_task)
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=4, help="tasks run at once (the worker's job slots)")
    ap.add_argument("specs", nargs="*", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="devsys-orchestrator-") as d:
        given: Optional[List[Path]] = list(args.specs) or None
        sys.exit(main(given or demo_specs(Path(d)), Path(d), args.jobs))
