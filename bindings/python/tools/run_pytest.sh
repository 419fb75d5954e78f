#!/usr/bin/env bash
# run_pytest.sh LIBRARY [PYTEST ARGS...]: the binding's pytest suite from the
# source tree against LIBRARY, with Debian's /usr/bin/python3 (whose pytest
# this is), PYTHONMALLOC=debug and the wrapped-function coverage check.
# pytest's exit 5 (no tests collected) is a failure, not a pass.
#
# In a sanitizer build (DEVSYS_PY_ASAN=1) the interpreter runs with the ASan
# runtime the library links preloaded and PYTHONMALLOC=malloc, and leaks are
# suppressed by the interpreter's own allocator functions only
# (python-lsan.supp), so a leak in libdevsys still fails.
set -uo pipefail
lib=$(readlink -f "$1"); shift
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/dt-py-XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
export DEVSYS_LIBRARY=$lib DEVSYS_PY_REQUIRE_ALL_CALLED=1 DEVSYS_PY_TRACE_CALLS=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONMALLOC=debug
if [ "${DEVSYS_PY_ASAN:-0}" = 1 ]; then
	asan=$(ldd "$lib" | awk '/libasan\.so/ {print $3; exit}')
	[ -n "$asan" ] && [ -e "$asan" ] || { echo "run_pytest.sh: $lib does not link an ASan runtime"; exit 1; }
	cat "$here/tools/python-lsan.supp" > "$tmp/lsan.supp"
	# the library's own list of third-party leaks, as in every sanitizer test
	if [ -n "${LSAN_OPTIONS:-}" ]; then
		f=$(printf '%s' "$LSAN_OPTIONS" | tr ':' '\n' | sed -n 's/^suppressions=//p')
		[ -n "$f" ] && cat "$f" >> "$tmp/lsan.supp"
	fi
	export LD_PRELOAD=$asan PYTHONMALLOC=malloc
	export LSAN_OPTIONS="suppressions=$tmp/lsan.supp:print_suppressions=0"
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=0:detect_odr_violation=0"
fi
cd "$here" || exit 1
/usr/bin/python3 -m pytest -p no:cacheprovider -q --basetemp="$tmp/pt" "$@" tests
rc=$?
case $rc in
0) echo "pytest passed" ;;
5) echo "pytest collected no tests: failing"; exit 1 ;;
*) echo "pytest failed (exit $rc)"; exit 1 ;;
esac
