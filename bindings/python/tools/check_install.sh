#!/usr/bin/env bash
# check_install.sh BUILD_DIR SOURCE_DIR: install the library into a temporary
# prefix (as tests/install does) and the package with pip, offline, into a venv
# made from Debian's /usr/bin/python3 with --system-site-packages; then import
# the INSTALLED package against the INSTALLED library, found each of the three
# ways (DEVSYS_LIBRARY, next to the package, find_library), from outside the tree.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d /tmp/dt-pyinst-XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
lib=$(find "$tmp/prefix" -name libdevsys.so.1 | head -n 1)
[ -n "$lib" ] || { echo "libdevsys.so.1 was not installed"; exit 1; }
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
cp -r "$src/bindings/python" "$tmp/pkgsrc"    # pip builds in the tree it is given: keep the source clean
"$tmp/venv/bin/pip" install -q --no-index --no-build-isolation --disable-pip-version-check "$tmp/pkgsrc" \
	>"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; echo "pip install failed"; exit 1; }
site=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -f "$site/devsys/py.typed" ] || { echo "py.typed not installed"; exit 1; }
cd "$tmp"
smoke='
import os, sys, devsys
assert devsys.__file__.startswith(sys.argv[1]), devsys.__file__
print("loaded", devsys.library_path, devsys.version())
with devsys.Spec.load("id: x\ntitle: t\nprompt: p\nrepo: {url: https://example.com/x.git}\n") as s:
    s.check()
with devsys.Workspace(os.path.join(sys.argv[2], "ws")) as ws, devsys.Runner("inproc", workspace=ws) as r:
    assert r.exec(["true"]).ok
print("installed package ok")
'
# 1. DEVSYS_LIBRARY
DEVSYS_LIBRARY=$lib "$tmp/venv/bin/python" -c "$smoke" "$site" "$tmp" | tee "$tmp/o1"
grep -q "loaded $lib" "$tmp/o1"
# 2. find_library through LD_LIBRARY_PATH
env -u DEVSYS_LIBRARY LD_LIBRARY_PATH="$(dirname "$lib")" "$tmp/venv/bin/python" -c "$smoke" "$site" "$tmp" >"$tmp/o2"
grep -q "installed package ok" "$tmp/o2"
# 3. next to the package
cp "$lib" "$site/devsys/libdevsys.so.1"
env -u DEVSYS_LIBRARY LD_LIBRARY_PATH="$(dirname "$lib")" "$tmp/venv/bin/python" -c "$smoke" "$site" "$tmp" >"$tmp/o3"
grep -q "loaded $site/devsys/libdevsys.so.1" "$tmp/o3"
rm "$site/devsys/libdevsys.so.1"
# 4. nothing to find: an ImportError naming every path tried
if env -u DEVSYS_LIBRARY LD_LIBRARY_PATH= "$tmp/venv/bin/python" -c 'import devsys' 2>"$tmp/err"; then
	echo "import succeeded without any library"; exit 1
fi
grep -q "tried: $site/devsys/libdevsys.so.1 (no such file)" "$tmp/err" || { cat "$tmp/err"; exit 1; }
echo "python install checks passed (pip offline in a venv, DEVSYS_LIBRARY, find_library, next to the package)"
