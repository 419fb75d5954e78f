#!/usr/bin/python3
"""The exported dynamic symbols of libdevsys.so.1 must be exactly the
functions declared with DEVSYS_API in the public headers, all at version
node DEVSYS_1 (or a later DEVSYS_1.x node).

usage: check_exports.py LIBRARY INCLUDE_DIR...
"""
import os
import re
import subprocess
import sys

lib, include_dirs = sys.argv[1], sys.argv[2:]
declared = set()
decl = re.compile(r"DEVSYS_API\b[^;{]*?\b(devsys_[A-Za-z0-9_]+)\s*\(", re.S)
for d in include_dirs:
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".h"):
                text = open(os.path.join(root, f), encoding="utf-8").read()
                text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
                text = re.sub(r"#\s*define[^\n]*(\\\n[^\n]*)*", " ", text)
                declared.update(decl.findall(text))

out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
exported, bad_version = set(), []
for line in out.splitlines():
    parts = line.split()
    if len(parts) < 3 or parts[1] not in "TDBRVWiu":
        continue
    name, _, version = parts[2].partition("@")
    version = version.lstrip("@")
    if name.startswith("_") or name in ("DEVSYS_1",):
        continue
    exported.add(name)
    if not re.fullmatch(r"DEVSYS_1(\.[0-9]+)?", version):
        bad_version.append(f"{name}@{version or '(none)'}")

ok = True
for name in sorted(exported - declared):
    print(f"exported but not declared in a public header: {name}")
    ok = False
for name in sorted(declared - exported):
    print(f"declared DEVSYS_API but not exported: {name}")
    ok = False
for s in bad_version:
    print(f"not at version node DEVSYS_1: {s}")
    ok = False
print(f"{len(exported)} exported, {len(declared)} declared")
sys.exit(0 if ok else 1)
