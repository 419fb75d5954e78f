#!/usr/bin/python3
"""Every exported function that hands out a pointer says who owns it.

A DEVSYS_API function whose return type is a pointer needs, in the Doxygen
comment right above it, one of
    @return new: <what>; free with devsys_x_free()
    @return borrowed: <from what>, valid until <when>
and every out-parameter of type T ** needs the same as
    @param <name> new: ... / @param <name> borrowed: ...
(docs/abi.md, "Ownership marks"). A "new" mark names how it is let go:
"free with <function>()" or "released by <function or slot>". Bindings read
these marks to derive their lifetimes.

usage: check_ownership.py INCLUDE_DIR...
"""
import os
import re
import sys

DECL = re.compile(r"DEVSYS_API\b([^;{]*?)\b(devsys_[A-Za-z0-9_]+)\s*\(([^;{]*?)\)\s*;", re.S)
DOC = re.compile(r"/\*\*(?!<)(.*?)\*/", re.S)
NEW_HOW = re.compile(r"(free with|released by|dispose with)\s+\S", re.S)


def split_params(text):
    depth, cur, out = 0, "", []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [p.strip() for p in out]


def mark(doc, tag):
    """The mark text after '@return' or '@param name', or None."""
    m = re.search(r"@" + tag + r"\s+(new|borrowed):\s*(.*?)(?=\n\s*\*?\s*@|\Z)", doc, re.S)
    if not m:
        return None
    return m.group(1), " ".join(m.group(2).replace("*", " ").split())


def check_file(path, problems):
    text = open(path, encoding="utf-8").read()
    docs = [(m.end(), m.group(1)) for m in DOC.finditer(text)]
    n = 0
    for m in DECL.finditer(text):
        ret, name, params = m.group(1), m.group(2), m.group(3)
        line = text.count("\n", 0, m.start()) + 1
        where = f"{os.path.relpath(path)}:{line}: {name}"
        doc = None
        for end, body in docs:
            if end <= m.start() and not text[end:m.start()].strip():
                doc = body
        needs = []
        if "*" in ret:
            needs.append(("return", "its return value", "@return"))
        for p in split_params(params):
            pm = re.search(r"\*\s*\*\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", p)
            if pm and "*const" not in p.replace(" ", ""):
                needs.append((r"param\s+" + pm.group(1), f"out-parameter '{pm.group(1)}'", "@param " + pm.group(1)))
        for tag, what, shown in needs:
            n += 1
            got = mark(doc, tag) if doc else None
            if not got:
                problems.append(f"{where}: {what} has no ownership mark "
                                f"('{shown} new: ...; free with ...()' or '{shown} borrowed: ...')")
            elif got[0] == "new" and not NEW_HOW.search(got[1]):
                problems.append(f"{where}: {what} is marked new but does not say how to free it "
                                f"('free with devsys_x_free()' or 'released by ...')")
            elif not got[1]:
                problems.append(f"{where}: {what} is marked {got[0]} with nothing after the colon")
    return n


problems, total = [], 0
for d in sys.argv[1:]:
    for root, _, files in os.walk(d):
        for f in sorted(files):
            if f.endswith(".h"):
                total += check_file(os.path.join(root, f), problems)
for p in problems:
    print(p)
print(f"{total} pointers handed out, {len(problems)} without a proper mark")
sys.exit(1 if problems or total == 0 else 0)
