#!/bin/sh
# Benchmarks of issue 6, each with its anchor measured in the same run.
#
#   bench/report/run.sh BUILD_DIR [parse|http|all] [SIZE_MB] [SECONDS]
#
# parse: JUnit parse throughput and peak memory on a generated SIZE_MB
#        (default 200) report: libdevsys (streaming, and keeping every case)
#        vs Python junitparser (Debian python3-junitparser) on the same file.
# http:  devsysd vs Debian nginx serving the same JSON bytes as a static
#        file, GET /api/tasks/<id>/tests/latest, wrk 2 threads 64 connections
#        for SECONDS (default 10) each, on 127.0.0.1.
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

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	$PY - "$1" <<'EOF'
import socket, sys, time
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

wrk_run() { # wrk_run NAME URL [HEADER]
	if [ -n "${3:-}" ]; then
		wrk -t2 -c64 -d"${SECS}s" --latency -H "$3" "$2" > "$TMP/wrk-$1.txt"
	else
		wrk -t2 -c64 -d"${SECS}s" --latency "$2" > "$TMP/wrk-$1.txt"
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk-$1.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk-$1.txt")
	errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$TMP/wrk-$1.txt")
	echo "$1: $rps req/s, p99 $p99, errors $errs"
}

to_ms() { # "1.23ms" / "850.00us" / "1.2s" -> ms
	echo "$1" | awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v = v; else if ($1 ~ /s$/) v *= 1000; printf "%.3f", v }'
}

bench_http() {
	echo "== devsysd vs nginx: GET /api/tasks/<id>/tests/latest, wrk -t2 -c64 -d${SECS}s =="
	command -v wrk >/dev/null || { echo "skipped: wrk is not installed (apt-get install wrk)"; return 0; }
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$NGINX" ] || { echo "skipped: nginx is not installed (apt-get install nginx)"; return 0; }
	WS="$TMP/ws"
	TOKEN=bench-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	$PY "$HERE/gen_junit.py" "$TMP/run.xml" 0.05 # one suite of 100 cases, 15 of them failing or erroring
	"$BUILD/bench/report/bench_record_setup" "$WS" bench "$TMP/run.xml"
	PORT=$(free_port)
	DEVSYSD_TOKEN=$TOKEN "$BUILD/src/devsysd/devsysd" --workspace "$WS" --port "$PORT" --threads 2 \
		--per-ip-limit 1000 2> "$TMP/devsysd.log" &
	PIDS="$PIDS $!"
	wait_port "$PORT" || { cat "$TMP/devsysd.log"; exit 1; }
	URL="http://127.0.0.1:$PORT/api/tasks/bench/tests/latest"
	mkdir -p "$TMP/static/api/tasks/bench/tests"
	curl -sf -H "Authorization: Bearer $TOKEN" "$URL" > "$TMP/static/api/tasks/bench/tests/latest"
	BYTES=$(wc -c < "$TMP/static/api/tasks/bench/tests/latest")
	chmod -R a+rX "$TMP"
	NPORT=$(free_port)
	mkdir -p "$TMP/nginx"
	cat > "$TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NPORT;
    location / { root $TMP/static; default_type application/json; }
  }
}
EOF
	"$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>> "$TMP/nginx/error.log" &
	PIDS="$PIDS $!"
	wait_port "$NPORT" || { cat "$TMP/nginx/error.log"; exit 1; }
	curl -sf "http://127.0.0.1:$NPORT/api/tasks/bench/tests/latest" > "$TMP/nginx-body"
	cmp -s "$TMP/static/api/tasks/bench/tests/latest" "$TMP/nginx-body" || { echo "nginx serves other bytes" >&2; exit 1; }
	echo "body: $BYTES bytes of JSON, the same bytes from both servers"
	D=$(wrk_run devsysd "$URL" "Authorization: Bearer $TOKEN")
	N=$(wrk_run nginx "http://127.0.0.1:$NPORT/api/tasks/bench/tests/latest")
	echo "$D"
	echo "$N"
	drps=$(echo "$D" | awk '{print $2}'); nrps=$(echo "$N" | awk '{print $2}')
	dp99=$(to_ms "$(echo "$D" | awk '{print $5}' | tr -d ,)"); np99=$(to_ms "$(echo "$N" | awk '{print $5}' | tr -d ,)")
	echo "ratio req/s devsysd/nginx: $(ratio "$drps" "$nrps")x (target >= 0.5x)"
	echo "ratio p99 devsysd/nginx:   $(ratio "$dp99" "$np99")x (target <= 2x; ${dp99} ms vs ${np99} ms)"
	echo "errors: devsysd $(echo "$D" | awk '{print $NF}'), nginx $(echo "$N" | awk '{print $NF}') (target 0)"
}

case "$WHAT" in
parse) bench_parse ;;
http) bench_http ;;
all) bench_parse; bench_http ;;
*) echo "usage: run.sh BUILD_DIR [parse|http|all] [SIZE_MB] [SECONDS]" >&2; exit 2 ;;
esac
