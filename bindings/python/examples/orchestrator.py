#!/usr/bin/python3
"""A build orchestrator embedding libdevsys: several spec files run at once,
on threads sharing one workspace and one store, each with its own runner;
then a summary table.

    DEVSYS_LIBRARY=build/dev/lib/libdevsys.so.1 bindings/python/examples/orchestrator.py [SPEC...]

Without arguments it writes a few demonstration specs (one invalid, one whose
tests fail) into a temporary directory. Each spec's tests.command runs in its
task folder; a JUnit file it names is collected into the task's record.
Exit status: 0 when every valid spec's tests ran to an outcome (passed, or
failed as a build failure) and every invalid spec was refused; 1 when
anything else happened (a library error, a timeout, a broken runner).
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # usable from the source tree
import devsys  # noqa: E402


@dataclass
class Row:
    spec: str
    task: str = "-"
    valid: bool = False
    outcome: str = "-"
    tests: str = "-"
    ms: int = 0
    thread: str = "-"
    note: str = ""


def junit_writer(name: str, fail: bool) -> str:
    case = f'<testcase classname="{name}" name="t1"/><testcase classname="{name}" name="t2">'
    case += '<failure message="expected 2"/></testcase>' if fail else "</testcase>"
    return ("import os; os.makedirs('out', exist_ok=True); "
            f"open('out/junit.xml', 'w').write('<testsuite name=\"{name}\">{case}</testsuite>'); "
            f"raise SystemExit({1 if fail else 0})")


def demo_specs(d: Path) -> List[Path]:
    specs = []
    for i, fail in ((1, False), (2, False), (3, True), (4, False)):
        p = d / f"build-{i}.yaml"
        p.write_text(f"version: 1\nid: build-{i}\ntitle: Build {i}\nprompt: build it\n"
                     f"repo:\n  url: https://example.com/b{i}.git\n"
                     f"tests:\n  command: [/usr/bin/python3, -c, {json.dumps(junit_writer(f'b{i}', fail))}]\n"
                     f"  junit: [out/junit.xml]\n  timeout: 30s\n")
        specs.append(p)
    bad = d / "broken.yaml"
    bad.write_text("version: 1\nid: broken\ntitle: No repository\nprompt: p\n")
    specs.append(bad)
    return specs


def run_one(path: Path, ws: devsys.Workspace, store: devsys.Store) -> Row:
    row = Row(path.name, thread=threading.current_thread().name)
    t0 = time.monotonic()
    try:
        with devsys.Spec.load_file(path) as spec:
            row.task = spec.get_string("/id") or "-"
            with spec.validate() as v:
                row.valid = v.valid
                if not v.valid:
                    row.outcome, row.note = "refused", v[0].message
                    return row
            cmd = spec.at().get("/tests/command")
            argv: List[str] = cmd.value() if cmd else []
            junit = spec.get_string("/tests/junit/0")
            timeout = spec.timeout_ms("tests") or 0
        store.create(row.task, str(path))
        store.transition(row.task, "validated")
        with ws.task(row.task) as task, devsys.Record(task) as rec, devsys.Runner("inproc", workspace=ws) as r:
            store.stage_begin(row.task, "test")
            res = r.exec(argv, cwd=task.path, task=task, stage="test", timeout_ms=timeout)
            row.outcome = res.failure_name
            if junit:
                run = rec.run_begin()
                rec.run_add_junit(run, Path(task.path) / junit)
                rec.run_complete(run)
                store.run_record(row.task, run)
                with devsys.Report.parse_junit(Path(task.path) / junit) as rep:
                    row.tests = f"{rep.count(devsys.PASSED)}/{rep.tests}"
            store.stage_end(row.task, "test", "ok" if res.ok else "failed", -1)
            rec.save()
    except devsys.Error as e:
        row.outcome, row.note = e.name, e.message
    finally:
        row.ms = int((time.monotonic() - t0) * 1000)
    return row


def main(paths: List[Path], root: Path) -> int:
    with devsys.Workspace(root / "ws") as ws, devsys.Store(ws) as store:
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="spec") as pool:
            rows = list(pool.map(lambda p: run_one(p, ws, store), paths))
        states = {row.task: store.state(row.task) for row in rows if row.valid}
    print(f"{'spec':<14} {'task':<9} {'valid':<6} {'outcome':<14} {'tests':<6} {'state':<10} {'ms':>6}  thread")
    for row in rows:
        print(f"{row.spec:<14} {row.task:<9} {str(row.valid).lower():<6} {row.outcome:<14} {row.tests:<6} "
              f"{states.get(row.task, '-'):<10} {row.ms:>6}  {row.thread}" + (f"  ({row.note})" if row.note else ""))
    threads = {r.thread for r in rows}
    ok = all((r.outcome in ("ok", "build-failure")) if r.valid else r.outcome == "refused" for r in rows)
    print(f"{len(rows)} specs on {len(threads)} threads, one workspace: "
          f"{sum(r.outcome == 'ok' for r in rows)} passed, {sum(r.outcome == 'build-failure' for r in rows)} failed, "
          f"{sum(not r.valid for r in rows)} refused")
    return 0 if ok else 1


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="devsys-orchestrator-") as d:
        given: Optional[List[Path]] = [Path(a) for a in sys.argv[1:]] or None
        sys.exit(main(given or demo_specs(Path(d)), Path(d)))
