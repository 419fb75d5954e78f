#!/usr/bin/env bash
# Runs the planted entries (tests/selftest/planted.c) in their nested ctest
# directory, off CI and with CI=true, and checks how ctest counts each one and
# the verdict tests/support/run_test.sh gives. A failure next to a skip must
# show as Failed; a skip only counts when every test in the entry skipped.
# Usage: check_verdicts.sh CTEST PLANTED_DIR SANITIZE(0|1)
set -uo pipefail
ctest=$1 dir=$2 sanitize=$3
bad=0

# expect MODE NAME STATUS VERDICT-SUBSTRING  (against the log of that mode)
expect() {
	local log=$1 name=$2 status=$3 verdict=$4 n line
	line=$(grep -E "Test +#[0-9]+: planted_$name " "$log")
	n=$(sed -n 's/.*Test *#\([0-9]*\): .*/\1/p' <<<"$line")
	if [ -z "$line" ] || ! grep -qE "(\*\*\*| )$status( |$)" <<<"$line"; then
		echo "SELFTEST FAIL [$log] planted_$name: want $status, ctest says: ${line:-nothing}"
		bad=1
	elif ! grep -qF -- "$n: verdict: $verdict" "$log"; then
		echo "SELFTEST FAIL [$log] planted_$name: want verdict '$verdict', got: $(grep "^$n: verdict:" "$log")"
		bad=1
	else
		echo "ok [$log] planted_$name: $status ($verdict)"
	fi
}

cd "$dir" || exit 1
# -V: each entry's output, prefixed with its number, so the verdicts are visible.
env -u CI "$ctest" --test-dir "$dir" -V >off-ci.log 2>&1
env CI=true "$ctest" --test-dir "$dir" -V >ci.log 2>&1
# Shown for the record, with the planted sanitizer reports defanged: this
# entry's own output must not read as a sanitizer report.
sed -e 's/ERROR: /ERROR (planted): /g' -e 's/runtime error:/runtime error (planted):/g' off-ci.log ci.log

expect off-ci.log fail_skip Failed "FAILED: 1 failed (0 of them crashed), 0 passed, 1 skipped"
expect off-ci.log crash_skip Failed "FAILED: 1 failed (1 of them crashed), 0 passed, 1 skipped"
expect off-ci.log all_skip Skipped "skipped: all 2 tests skipped"
expect off-ci.log pass_skip Passed "passed: 1 passed, 1 skipped"
expect off-ci.log pass_rawskip Passed "passed: 1 passed, 1 skipped"
expect off-ci.log pass Passed "passed: 1 passed, 0 skipped"
expect off-ci.log report_skip Failed "FAILED: sanitizer report in the output"
expect off-ci.log known_leak Passed "passed: 1 passed, 0 skipped"
expect off-ci.log unknown_leak Failed "FAILED: sanitizer report in the output"
expect off-ci.log known_leak_and_asan Failed "FAILED: sanitizer report in the output"
expect off-ci.log alloc_leak_elsewhere Failed "FAILED: sanitizer report in the output"

expect ci.log fail_skip Failed "FAILED: 2 failed"
expect ci.log crash_skip Failed "FAILED: 2 failed (1 of them crashed)"
expect ci.log all_skip Failed "FAILED: 2 failed"
expect ci.log pass_skip Failed "FAILED: 1 failed"
expect ci.log pass_rawskip Failed "FAILED: 1 skipped, and CI=true forbids skipping"
expect ci.log pass Passed "passed: 1 passed, 0 skipped"
expect ci.log report_skip Failed "FAILED: sanitizer report in the output"
expect ci.log known_leak Passed "passed: 1 passed, 0 skipped"
expect ci.log unknown_leak Failed "FAILED: sanitizer report in the output"
expect ci.log known_leak_and_asan Failed "FAILED: sanitizer report in the output"
expect ci.log alloc_leak_elsewhere Failed "FAILED: sanitizer report in the output"
grep -q "leak stack not in .*planted-stacks.supp: libplanted.so.1+0x11 planted_caller" off-ci.log ||
	{ echo "SELFTEST FAIL: unknown_leak's stack was not named"; bad=1; }
grep -q "leak stack not in .*planted-stacks.supp: libplanted.so.1+0x40 planted_alloc\$" off-ci.log ||
	{ echo "SELFTEST FAIL: alloc_leak_elsewhere's stack was not named up to its first named frame"; bad=1; }

if [ "$sanitize" = 1 ]; then
	# Real LeakSanitizer and AddressSanitizer reports in entries that skip.
	for log in off-ci.log ci.log; do
		expect $log leak_skip Failed "FAILED: sanitizer report in the output"
		expect $log overflow_skip Failed "FAILED: sanitizer report in the output"
	done
	grep -q "ERROR: LeakSanitizer" off-ci.log || { echo "SELFTEST FAIL: no LeakSanitizer report from leak_skip"; bad=1; }
	grep -q "ERROR: AddressSanitizer: heap-buffer-overflow" off-ci.log ||
		{ echo "SELFTEST FAIL: no heap-buffer-overflow report from overflow_skip"; bad=1; }
else
	# Without a sanitizer the leak goes unseen and the entry just skips.
	expect off-ci.log leak_skip Skipped "skipped: all 1 tests skipped"
	expect ci.log leak_skip Failed "FAILED: 1 failed"
fi

[ $bad = 0 ] && echo "selftest_verdicts: every planted entry got its verdict"
exit $bad
