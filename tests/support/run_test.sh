#!/usr/bin/env bash
# Runs one ctest entry and decides its verdict, so that a skip can never hide
# a failure. ctest's SKIP_REGULAR_EXPRESSION and SKIP_RETURN_CODE both win over
# the exit code and over FAIL_REGULAR_EXPRESSION (checked with CMake 3.25), and
# a Criterion binary holds many tests: one skipped test must not mark the rest.
#
#   run_test.sh [--criterion] [--sanitizer REGEX] -- COMMAND [ARGS...]
#
#   --criterion        COMMAND is a Criterion binary: add --json=FILE and judge
#                      from that report and the exit code.
#   --sanitizer REGEX  fail when the output matches REGEX (grep -E), even if
#                      every test passed or skipped (sanitizer builds).
#   --known-leaks FILE but accept LeakSanitizer reports in which every leak has
#                      an allocation stack listed in FILE (lsan-stacks.supp:
#                      third-party leaks lsan.supp cannot name).
#
# Exit status: 0 passed; 77 skipped (ctest SKIP_RETURN_CODE): every test in the
# entry skipped, none failed, no sanitizer report and CI is not true; 1 failed.
# Without --criterion, COMMAND's own 77 means skipped, under the same rules.
# The output of COMMAND passes through unchanged; the verdict is the last line.
set -uo pipefail

criterion=0 sanitizer= known=
while [ $# -gt 0 ]; do
	case $1 in
	--criterion) criterion=1 ;;
	--sanitizer) sanitizer=${2:?--sanitizer needs a regex}; shift ;;
	--known-leaks) known=${2:?--known-leaks needs a file}; shift ;;
	--) shift; break ;;
	*) echo "run_test.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ $# -gt 0 ] || { echo "usage: run_test.sh [--criterion] [--sanitizer REGEX] -- COMMAND [ARGS...]" >&2; exit 2; }

ci=0
case ${CI:-} in true | 1) ci=1 ;; esac

work=$(mktemp -d "/tmp/dt-run-XXXXXX") || { echo "run_test.sh: mktemp failed" >&2; exit 1; }
trap 'rm -rf -- "$work"' EXIT

failed() { echo "verdict: FAILED: $*"; exit 1; }

cmd=("$@")
[ $criterion = 1 ] && cmd+=("--json=$work/report.json")
"${cmd[@]}" 2>&1 | tee "$work/output"
rc=${PIPESTATUS[0]}

# Prints "LEAKS UNKNOWN" for the LeakSanitizer reports in the output: how many
# leaks, and how many have an allocation stack that is not in $known. A stack
# is frames #1.. up to the first named one, unnamed frames as module+offset,
# or longer: a leak is known when its stack up to that frame or any frame
# after it is listed (when the first named frame is an allocator libdevsys
# calls too, pcre2_match_data_create_8, the entry runs on to its caller).
leak_stacks() {
	awk -v known="$known" '
	BEGIN { while ((getline l < known) > 0) if (l !~ /^[ \t]*(#|$)/) ok[l] = 1 }
	function flush() {
		if (!inb) return
		inb = 0; n++
		if (!hit) { bad++; print "run_test.sh: leak stack not in " known ": " (first != "" ? first : sig) > "/dev/stderr" }
	}
	/^(Direct|Indirect) leak of / { flush(); inb = 1; sig = ""; first = ""; hit = 0; next }
	inb && /^ +#[0-9]+ / {
		if ($1 == "#0" || hit) next
		if ($3 == "in") f = $4; else { f = $NF; gsub(/[()]/, "", f); sub(/.*\//, "", f) }
		sig = sig (sig == "" ? "" : " ") f
		if ($3 == "in" && first == "") first = sig
		if (first != "" && (sig in ok)) hit = 1
		next
	}
	inb { flush() }
	END { flush(); print n + 0, bad + 0 }' "$work/output"
}

# A sanitizer report fails the entry, unless every report is a LeakSanitizer
# report and every leak in it is a listed third-party stack.
sanitizer_failed() {
	grep -qE -- "$sanitizer" "$work/output" || return 1
	[ -n "$known" ] || return 0
	grep -v 'ERROR: LeakSanitizer' "$work/output" | grep -qE -- "$sanitizer" && return 0
	local leaks unknown
	read -r leaks unknown < <(leak_stacks)
	[ "$leaks" -gt 0 ] && [ "$unknown" -eq 0 ] || return 0
	echo "run_test.sh: $leaks leak(s), all third-party stacks listed in $known"
	return 1
}

if [ -n "$sanitizer" ] && sanitizer_failed; then
	failed "sanitizer report in the output (exit code $rc)"
fi

if [ $criterion = 0 ]; then
	case $rc in
	0) echo "verdict: passed"; exit 0 ;;
	77) [ $ci = 1 ] && failed "skipped, and CI=true forbids skipping"
	    echo "verdict: skipped"; exit 77 ;;
	*) failed "exit code $rc" ;;
	esac
fi

# Criterion's JSON report: the top-level totals are two-space indented lines
# such as '  "passed": 3,' before "test_suites".
count() { sed -n "s/^  \"$1\": \([0-9][0-9]*\),\$/\1/p" "$work/report.json" 2>/dev/null | head -n 1; }
passed=$(count passed) fails=$(count failed) errored=$(count errored) skipped=$(count skipped)
if [ -z "$passed" ] || [ -z "$fails" ] || [ -z "$errored" ] || [ -z "$skipped" ]; then
	failed "no readable Criterion report (exit code $rc)"
fi
[ $((fails + errored)) -eq 0 ] || failed "$fails failed ($errored of them crashed), $passed passed, $skipped skipped"
[ "$rc" -eq 0 ] || failed "exit code $rc with no failed test in the report"
[ $((passed + skipped)) -gt 0 ] || failed "the binary ran no test"
if [ "$skipped" -gt 0 ] && [ $ci = 1 ]; then
	failed "$skipped skipped, and CI=true forbids skipping"
fi
if [ "$passed" -eq 0 ]; then
	echo "verdict: skipped: all $skipped tests skipped"
	exit 77
fi
echo "verdict: passed: $passed passed, $skipped skipped"
exit 0
