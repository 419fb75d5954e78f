#!/usr/bin/python3
"""Every function libdevsys.so exports must be called by some test code.

"Called" means referenced by what the test programs link, not named in a
comment: the undefined dynamic symbols (nm -D --undefined-only) of the test
programs and plug-ins linked against libdevsys.so, and the undefined symbols
(nm --undefined-only) of the object files of the test programs linked
statically against libdevsys.a, plus the test support library's objects.
Only objects compiled from test sources are read; the static binaries
themselves also hold the library's objects, which would count every function.

The test programs are found, not listed: every ELF executable or shared
object under BUILD_TESTS_DIR that CMake built (it has a CMakeFiles/<target>.dir
next to it), so a new suite counts without editing this script. A plug-in
module that is not linked against libdevsys.so (its symbols resolve when it
is loaded) is read through its objects, like a static test program.

usage: check_tested.py LIBRARY BUILD_TESTS_DIR
Prints the exported functions no test calls and fails when there is one.
"""
import os
import subprocess
import sys


def nm(args, path):
    out = subprocess.run(["nm", *args, path], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            syms[parts[-1].split("@")[0]] = parts[-2]
    return syms


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def needs_libdevsys(path):
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True, text=True).stdout
    return any("NEEDED" in l and "[libdevsys.so" in l for l in out.splitlines())


def target_dir(root, f):
    """CMake's object directory of the target that built file @f, or None."""
    names = [f]
    if f.endswith(".so"):
        names += [f[:-3], f[3:-3] if f.startswith("lib") else f[:-3]]
    for n in names:
        d = os.path.join(root, "CMakeFiles", n + ".dir")
        if os.path.isdir(d):
            return d
    return None


def objects_under(d):
    for root, _, files in os.walk(d):
        for f in sorted(files):
            if f.endswith(".o"):
                yield os.path.join(root, f)


def main():
    lib, tests_dir = sys.argv[1], sys.argv[2]
    exported = {n for n, t in nm(["-D", "--defined-only"], lib).items()
                if t in "TiW" and n.startswith("devsys_")}
    called = set()
    seen = {"shared": [], "static": [], "support": []}
    problems = []

    for root, dirs, files in os.walk(tests_dir):
        dirs[:] = sorted(d for d in dirs if d != "CMakeFiles")
        for f in sorted(files):
            path = os.path.join(root, f)
            objdir = target_dir(root, f)
            if not objdir or f.endswith(".a") or not is_elf(path):
                continue
            if needs_libdevsys(path):
                called |= set(nm(["-D", "--undefined-only"], path))
                seen["shared"].append(path)
                continue
            objs = list(objects_under(objdir))
            for o in objs:
                syms = nm(["--defined-only"], o)
                # a test object defines no library function: if it did, this
                # would be reading the library, and every function would count
                lib_defs = sorted(n for n, t in syms.items() if n in exported and t in "TtWi")
                if lib_defs:
                    problems.append(f"{o}: defines library functions {', '.join(lib_defs[:3])}: not test code")
                called |= set(nm(["--undefined-only"], o))
            if objs:
                seen["static"].append(path)
    support = os.path.join(tests_dir, "CMakeFiles", "devsys_testsupport.dir")
    for o in objects_under(support):
        called |= set(nm(["--undefined-only"], o))
        seen["support"].append(o)

    # Self-checks, so a broken discovery cannot pass: both kinds of test
    # program were found, and the test code visibly calls the library.
    if not seen["shared"]:
        problems.append(f"no test program linked against libdevsys.so found under {tests_dir}")
    if not seen["static"]:
        problems.append(f"no statically linked test program (with objects) found under {tests_dir}")
    if "devsys_init" not in called:
        problems.append("no test calls devsys_init: the scan is not reading the test programs")

    untested = sorted(exported - called)
    print(f"{len(exported)} exported functions; {len(seen['shared'])} shared-linked and "
          f"{len(seen['static'])} statically linked test programs, {len(seen['support'])} support objects read")
    for n in untested:
        print(f"untested: {n} (exported by {os.path.basename(lib)}, called by no test program)")
    for p in problems:
        print(f"error: {p}")
    if untested or problems:
        print(f"FAILED: {len(untested)} exported functions are called by no test")
        return 1
    print("every exported function is called by a test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
