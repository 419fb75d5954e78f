#!/usr/bin/python3
"""`devsys run SPEC... --jobs 2`'s progress view, with the real binary.

On a pseudo-terminal: while two tasks' agents run (each prints a line and
then waits for a file this test makes), one redraw of the live block shows
both tasks, each with its stage, elapsed time and last output line, under
a count of running tasks. The agents are let go only once that frame was
seen, so the view is checked while the tasks run. Then the summary lists
both. Without a terminal: plain lines naming each task's stages, no
terminal escapes, and the same summary (the control that the escapes come
from the terminal). Exit 77 (skip) without git, unless CI=true.

    run_jobs_view.py DEVSYS
"""
import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time

DEVSYS = os.path.abspath(sys.argv[1])
DEADLINE_S = 60
COLUMNS = 120


def skip(why):
    if os.environ.get("CI") == "true":
        print(f"skipped: {why} (CI=true: failing)")
        sys.exit(1)
    print(f"skipped: {why}")
    sys.exit(77)


def fail(why, out=b""):
    print(f"FAIL: {why}")
    if out:
        print("--- output (last 4000 bytes)")
        print(out[-4000:].decode("utf-8", "replace"))
    sys.exit(1)


def git(*args, cwd=None):
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def spec(root, task):
    # the agent says it waits (the view's last output line), then waits for go-all (20 s at most)
    agent = os.path.join(root, "agent.sh")
    return f"""---
id: {task}
title: View task {task}
prompt: Append a line to README.
repo:
  url: file://{root}/remote.git
  base_branch: main
agent:
  command: [/bin/sh, {agent}]
tests:
  command: [/bin/true]
runner: inproc
"""


def setup(root):
    git("init", "-q", "--bare", "-b", "main", f"{root}/remote.git")
    git("clone", "-q", f"{root}/remote.git", f"{root}/seed")
    seed = f"{root}/seed"
    git("config", "user.email", "t@e", cwd=seed)
    git("config", "user.name", "t", cwd=seed)
    with open(f"{seed}/README", "w") as f:
        f.write("hello\n")
    git("add", ".", cwd=seed)
    git("commit", "-qm", "init", cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    with open(f"{root}/agent.sh", "w") as f:
        # the line is longer than the terminal is wide: the view must cut it
        f.write(f"""echo "agent $DEVSYS_TASK_ID waiting {'x' * 200}"
i=0
while [ ! -f "{root}/go-all" ]; do
	i=$((i + 1))
	[ $i -lt 400 ] || {{ echo "never let go" >&2; exit 1; }}
	sleep 0.05
done
echo "line from $DEVSYS_TASK_ID" >> README
""")


def row_re(task):
    # "  <task>  agent  <spinner>  <secs>s  agent <task> waiting xxx...", one line of a redraw
    return re.compile(rf"^  {task}\s+agent\s+\S+\s+\d+\.\ds  agent {task} waiting x+$", re.M)


def too_wide(frame):
    # the lines of a redraw wider than the terminal's 120 columns less one (a line that wraps breaks the redraw)
    return [line for line in frame.split("\n") if len(line) > COLUMNS - 1]


def summary_ok(out, tasks):
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    return all(re.search(rf"^{t}\s+awaiting-review", text, re.M) for t in tasks)


def on_terminal(root, ws):
    """The live block on a pty shows both running tasks in one redraw."""
    pid, fd = os.forkpty()
    if pid == 0:
        try:
            os.execv(DEVSYS, [DEVSYS, "--no-color", "--workspace", ws, "run", "--jobs", "2",
                              f"{root}/t1.yaml", f"{root}/t2.yaml"])
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    out, released, status = b"", False, None
    deadline = time.monotonic() + DEADLINE_S
    try:
        while status is None:
            if time.monotonic() > deadline:
                fail("timed out: " + ("the run did not end" if released else
                                      "no redraw showed both tasks running"), out)
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                out += chunk
            if not released:
                # a frame: what one redraw wrote after clearing the screen below the cursor
                text = out.decode("utf-8", "replace").replace("\r\n", "\n")
                for frame in text.split("\x1b[J")[:-1]:
                    if (row_re("t1").search(frame) and row_re("t2").search(frame)
                            and re.search(r"^  2 running, 0 of 2 done$", frame, re.M)):
                        if too_wide(frame):
                            fail(f"a line of the view is wider than the terminal: {too_wide(frame)[0]!r}", out)
                        released = True
                        open(f"{root}/go-all", "w").close()
                        break
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
        # drain what is left in the terminal
        while True:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                break
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        if status is None:
            open(f"{root}/go-all", "w").close()  # the agents (process groups of their own) end by themselves
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    if not released:
        fail("the run ended before a redraw showed both tasks running", out)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        fail(f"run --jobs 2 on a terminal exited {status}", out)
    if not summary_ok(out, ["t1", "t2"]):
        fail("the summary does not list both tasks awaiting-review", out)
    # the block is gone before the summary: nothing of it follows the TASK header
    tail = out.split(b"TASK", 1)[-1]
    if b"running," in tail:
        fail("the live block was drawn after the summary", out)
    return out


def plain(root, ws):
    """Without a terminal: plain lines naming each task, no escapes, the same summary."""
    open(f"{root}/go-all", "w").close()
    p = subprocess.run([DEVSYS, "--workspace", ws, "run", "--jobs", "2", f"{root}/p1.yaml", f"{root}/p2.yaml"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=DEADLINE_S)
    out = p.stdout
    if p.returncode != 0:
        fail(f"run --jobs 2 without a terminal exited {p.returncode}", out)
    text = out.decode("utf-8", "replace")
    if "\x1b[" in text:
        fail("terminal escapes in the plain lines", out)
    for t in ("p1", "p2"):
        for stage in ("checkout", "agent", "gate"):
            if not re.search(rf"^  {t}\s+{stage}\s+ok\b", text, re.M):
                fail(f"no plain result line for {t}'s {stage} stage", out)
        if not re.search(rf"^task {t}: running$", text, re.M) or \
                not re.search(rf"^task {t}: awaiting-review$", text, re.M):
            fail(f"no start and end lines for {t}", out)
    if not summary_ok(out, ["p1", "p2"]):
        fail("the summary does not list both tasks awaiting-review", out)


def main():
    if not shutil.which("git"):
        skip("git is missing")
    root = tempfile.mkdtemp(prefix="dt-jobs-view.")
    os.chdir("/")
    try:
        setup(root)
        for t in ("t1", "t2", "p1", "p2"):
            with open(f"{root}/{t}.yaml", "w") as f:
                f.write(spec(root, t))
        ws = f"{root}/ws"
        tty_out = on_terminal(root, ws)
        if b"\x1b[" not in tty_out:
            fail("no terminal escapes on the terminal", tty_out)
        plain(root, ws)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("ok: run --jobs 2 shows both running tasks on a terminal, plain lines elsewhere, and both in the summary")


main()
