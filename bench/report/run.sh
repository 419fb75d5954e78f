#!/bin/sh
# Benchmarks of issue 6, each with its anchor measured in the same run.
#
#   bench/report/run.sh BUILD_DIR [parse|http|all] [SIZE_MB] [SECONDS]
#
# parse: JUnit parse throughput and peak memory on a generated SIZE_MB
#        (default 200) report, two like-for-like pairs on the same file:
#        (a) libdevsys streaming (totals + failed names) vs Python
#            xml.etree.ElementTree.iterparse with elem.clear() counting the same;
#        (b) libdevsys keeping every case vs Python junitparser (a full DOM);
#        and the floor: libxml2's SAX2 parser with empty callbacks. Counts and
#        summed time must agree before any ratio is printed. CPU figures leave
#        out process and interpreter start-up. PARSE_ROUNDS (default 2) rounds.
#        Figures in docs/reports.md came from:
#          cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build/rel -j2
#          bench/report/run.sh build/rel parse 200      (run twice)
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

bench_parse() { # the like-for-like pairs and the libxml2 floor, PARSE_ROUNDS (default 2) times
	echo "== JUnit parse: ${SIZE} MB report =="
	$PY "$HERE/gen_junit.py" "$TMP/big.xml" "$SIZE"
	[ -x "$BUILD/bench/report/bench_libxml2_floor" ] || { echo "missing bench_libxml2_floor (libxml2 dev files)" >&2; exit 2; }
	rounds=${PARSE_ROUNDS:-2}
	r=1
	while [ "$r" -le "$rounds" ]; do
		echo "-- round $r of $rounds"
		FLOOR=$("$BUILD/bench/report/bench_libxml2_floor" "$TMP/big.xml")
		STREAM=$("$BUILD/bench/report/bench_junit_parse" "$TMP/big.xml")
		ITER=$($PY "$HERE/iterparse_anchor.py" "$TMP/big.xml")
		CASES=$("$BUILD/bench/report/bench_junit_parse" "$TMP/big.xml" --cases)
		JP=$($PY "$HERE/junitparser_anchor.py" "$TMP/big.xml")
		echo "floor   $FLOOR"
		echo "devsys  $STREAM"
		echo "anchor  $ITER"
		echo "devsys  $CASES"
		echo "anchor  $JP"
		# the same counts and summed time from all four, or no ratio means anything
		for k in tests failed errors skipped time_sum; do
			want=$(field $k "$STREAM")
			for other in "$ITER" "$CASES" "$JP"; do
				if [ "$(field $k "$other")" != "$want" ]; then
					echo "MISMATCH: $k is $want for devsys streaming but $(field $k "$other") in: $other" >&2
					exit 1
				fi
			done
		done
		fc=$(echo "$FLOOR" | awk '{print $7}')
		sw=$(echo "$STREAM" | awk '{print $7}'); sc=$(echo "$STREAM" | awk '{print $12}')
		iw=$(echo "$ITER" | awk '{print $7}'); ic=$(echo "$ITER" | awk '{print $12}')
		cw=$(echo "$CASES" | awk '{print $7}'); cc=$(echo "$CASES" | awk '{print $12}')
		jw=$(echo "$JP" | awk '{print $7}'); jc=$(echo "$JP" | awk '{print $12}')
		echo "counts agree: tests $(field tests "$STREAM"), failed $(field failed "$STREAM"), errors" \
		     "$(field errors "$STREAM"), skipped $(field skipped "$STREAM"), time $(field time_sum "$STREAM") s"
		echo "(a) streaming vs ElementTree.iterparse+clear: wall $(ratio "$sw" "$iw")x, cpu $(ratio "$sc" "$ic")x"
		echo "(b) every case kept vs junitparser (DOM):     wall $(ratio "$cw" "$jw")x, cpu $(ratio "$cc" "$jc")x"
		echo "floor: streaming / libxml2 SAX2 with empty callbacks = $(ratio "$sc" "$fc")x of the floor (cpu; target >= 0.9x);" \
		     "every case kept = $(ratio "$cc" "$fc")x"
		echo "peak memory: streaming $(field peak_rss_mib "$STREAM") MiB (target < 32 MiB), iterparse" \
		     "$(field peak_rss_mib "$ITER") MiB, cases $(field peak_rss_mib "$CASES") MiB, junitparser" \
		     "$(field peak_rss_mib "$JP") MiB"
		r=$((r + 1))
	done
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
