#!/bin/sh
# Benchmarks of issue 6, each with its anchor measured in the same run.
#
#   bench/report/run.sh BUILD_DIR [parse|http|all] [SIZE_MB] [SECONDS]
#
# parse: JUnit parse throughput and peak memory on a generated SIZE_MB
#        (default 200) report: libdevsys (streaming, and keeping every case)
#        vs Python junitparser (Debian python3-junitparser) on the same file.
# http:  http.sh: devsysd vs Debian nginx (open_file_cache) serving the same
#        JSON bytes, and the bare libmicrohttpd floor, wrk 2 threads 64
#        connections for SECONDS (default 10) each, on 127.0.0.1.
# Use a Release build (-DCMAKE_BUILD_TYPE=Release) for meaningful figures.
set -eu
BUILD=${1:?usage: run.sh BUILD_DIR [parse|http|all] [SIZE_MB] [SECONDS]}
WHAT=${2:-all}
SIZE=${3:-200}
SECS=${4:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/devsys-bench-report.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

field() { # field NAME LINE: the word after NAME
	echo "$2" | awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit }}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

bench_parse() {
	echo "== JUnit parse: ${SIZE} MB report =="
	$PY "$HERE/gen_junit.py" "$TMP/big.xml" "$SIZE"
	STREAM=$("$BUILD/bench/report/bench_junit_parse" "$TMP/big.xml")
	CASES=$("$BUILD/bench/report/bench_junit_parse" "$TMP/big.xml" --cases)
	ANCHOR=$($PY "$HERE/junitparser_anchor.py" "$TMP/big.xml")
	echo "devsys  $STREAM"
	echo "devsys  $CASES"
	echo "anchor  $ANCHOR"
	# same counts, or the comparison is void
	for k in tests failed errors skipped; do
		if [ "$(field $k "$STREAM")" != "$(field $k "$ANCHOR")" ]; then
			echo "MISMATCH: $k differs between devsys and junitparser" >&2
			exit 1
		fi
	done
	sw=$(echo "$STREAM" | awk '{print $7}'); sc=$(echo "$STREAM" | awk '{print $12}')
	cw=$(echo "$CASES" | awk '{print $7}'); cc=$(echo "$CASES" | awk '{print $12}')
	aw=$(echo "$ANCHOR" | awk '{print $7}'); ac=$(echo "$ANCHOR" | awk '{print $12}')
	echo "ratio streaming/junitparser: wall $(ratio "$sw" "$aw")x, cpu $(ratio "$sc" "$ac")x  (target >= 20x)"
	echo "ratio cases/junitparser:     wall $(ratio "$cw" "$aw")x, cpu $(ratio "$cc" "$ac")x"
	if [ -x "$BUILD/bench/report/bench_libxml2_floor" ]; then
		FLOOR=$("$BUILD/bench/report/bench_libxml2_floor" "$TMP/big.xml")
		echo "context: $FLOOR (libxml2 alone, empty callbacks: the ceiling of a libxml2-based parser)"
		echo "ceiling ratio libxml2-alone/junitparser: cpu $(ratio "$(echo "$FLOOR" | awk '{print $7}')" "$ac")x"
	fi
	echo "peak memory: streaming $(field peak_rss_mib "$STREAM") MiB (target < 32 MiB), cases" \
	     "$(field peak_rss_mib "$CASES") MiB, junitparser $(field peak_rss_mib "$ANCHOR") MiB"
}

bench_http() { # moved to http.sh: devsysd against nginx and the bare libmicrohttpd floor
	sh "$HERE/http.sh" "$BUILD" "$SECS"
}

case "$WHAT" in
parse) bench_parse ;;
http) bench_http ;;
all) bench_parse; bench_http ;;
*) echo "usage: run.sh BUILD_DIR [parse|http|all] [SIZE_MB] [SECONDS]" >&2; exit 2 ;;
esac
