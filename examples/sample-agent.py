"""The embedded default's coding agent: a script, not an LLM.

`devsys run` (no spec) runs it in the task's checkout. It does what the
task's prompt asks ($DEVSYS_TASK_FILE holds it): implement greeting() in
greeting.py so the sample's tests pass. It only edits the file; the library
commits and pushes.
"""
import json
import os
import sys

STUB = '    raise NotImplementedError("greeting() is not implemented yet")\n'
BODY = (
    "    if not name:\n"
    '        raise ValueError("greeting() needs a non-empty name")\n'
    '    return "Hello, %s!" % name\n'
)


def main():
    task = {}
    if os.environ.get("DEVSYS_TASK_FILE"):
        with open(os.environ["DEVSYS_TASK_FILE"]) as f:
            task = json.load(f)
    print("sample agent: task %s: %s" % (task.get("id", "?"), task.get("title", "?")))
    with open("greeting.py") as f:
        src = f.read()
    if STUB not in src:
        if BODY in src:
            print("sample agent: greeting() is implemented already")
            return 0
        print("sample agent: greeting.py does not have the expected stub", file=sys.stderr)
        return 1
    with open("greeting.py", "w") as f:
        f.write(src.replace(STUB, BODY))
    print("sample agent: implemented greeting() in greeting.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
