#!/bin/sh
# devsysd's HTTP benchmark: GET /api/tasks/<id>/tests/latest against its
# anchor and its floor, all measured in the same run on 127.0.0.1.
#
#   bench/report/http.sh BUILD_DIR [SECONDS] [ROUNDS]
#
# anchor: Debian nginx serving the same JSON bytes as a static file, with
#         open_file_cache (its descriptor and metadata stay cached, the bytes
#         come from the page cache), so both servers answer from memory.
# floor:  bench_mhd_floor, a bare libmicrohttpd server in devsysd's thread
#         mode answering the same bytes and headers from one response kept in
#         memory: the least a libmicrohttpd server can cost.
# wrk with 2 threads and 64 connections for SECONDS (default 10) per server;
# ROUNDS (default 2) rounds, the servers in a different order each round.
# Ratios are printed per round, against the anchor and floor of that round.
# Use a release build (RelWithDebInfo or Release) for meaningful figures.
# DEVSYSD=/path/to/devsysd runs another devsysd binary (to compare builds).
set -eu
BUILD=${1:?usage: http.sh BUILD_DIR [SECONDS] [ROUNDS]}
SECS=${2:-10}
ROUNDS=${3:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/devsys-bench-http.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

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

to_ms() { # "1.23ms" / "850.00us" / "1.2s" -> ms
	echo "$1" | awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v = v; else if ($1 ~ /s$/) v *= 1000; printf "%.3f", v }'
}

# cpu_ticks PID...: user+system clock ticks used so far by these processes
# (all their threads), and by the children of each (nginx's workers)
cpu_ticks() {
	for p in "$@"; do echo "$p"; pgrep -P "$p" || true; done | sort -u | while read -r q; do
		[ -r "/proc/$q/stat" ] && sed 's/^.*) //' "/proc/$q/stat" | awk '{ print $12 + $13 }'
	done | awk '{ n += $1 } END { print n + 0 }'
}

# wrk_run NAME URL PID [HEADER]: prints "NAME RPS P50_MS P99_MS ERRORS CPU_US_PER_REQUEST"
wrk_run() {
	t0=$(cpu_ticks "$3")
	if [ -n "${4:-}" ]; then
		wrk -t2 -c64 -d"${SECS}s" --latency -H "$4" "$2" > "$TMP/wrk-$1.txt"
	else
		wrk -t2 -c64 -d"${SECS}s" --latency "$2" > "$TMP/wrk-$1.txt"
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk-$1.txt")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$TMP/wrk-$1.txt")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$TMP/wrk-$1.txt")")
	errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$TMP/wrk-$1.txt")
	t1=$(cpu_ticks "$3")
	n=$(awk '/requests in/ { print $1 }' "$TMP/wrk-$1.txt")
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", d / hz * 1e6 / n; else print "n/a" }')
	echo "$1 $rps $p50 $p99 $errs $cpu"
}

echo "== devsysd vs nginx (anchor) vs bare libmicrohttpd (floor): GET /api/tasks/<id>/tests/latest, wrk -t2 -c64 -d${SECS}s, $ROUNDS rounds =="
command -v wrk >/dev/null || { echo "skipped: wrk is not installed (apt-get install wrk)"; exit 0; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "skipped: nginx is not installed (apt-get install nginx)"; exit 0; }
echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
WS="$TMP/ws"
TOKEN=bench-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
$PY "$HERE/gen_junit.py" "$TMP/run.xml" 0.05 # one suite of 100 cases, 15 of them failing or erroring
"$BUILD/bench/report/bench_record_setup" "$WS" bench "$TMP/run.xml"
PORT=$(free_port)
# the token reaches devsysd in its environment only (devsysd then wipes it)
DEVSYSD_TOKEN=$TOKEN "${DEVSYSD:-$BUILD/src/devsysd/devsysd}" --workspace "$WS" --port "$PORT" --threads 2 \
	--per-ip-limit 1000 2> "$TMP/devsysd.log" &
DPID=$!
PIDS="$PIDS $DPID"
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
  sendfile on;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  open_file_cache_min_uses 1;
  open_file_cache_errors on;
  server {
    listen 127.0.0.1:$NPORT;
    location / { root $TMP/static; default_type application/json; }
  }
}
EOF
"$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>> "$TMP/nginx/error.log" &
NPID=$!
PIDS="$PIDS $NPID"
wait_port "$NPORT" || { cat "$TMP/nginx/error.log"; exit 1; }
NURL="http://127.0.0.1:$NPORT/api/tasks/bench/tests/latest"

FPORT=$(free_port)
"$BUILD/bench/report/bench_mhd_floor" "$FPORT" "$TMP/static/api/tasks/bench/tests/latest" 2 2> "$TMP/floor.log" &
FPID=$!
PIDS="$PIDS $FPID"
wait_port "$FPORT" || { cat "$TMP/floor.log"; exit 1; }
FURL="http://127.0.0.1:$FPORT/api/tasks/bench/tests/latest"

# the same bytes from all three, or the comparison is void
curl -sf "$NURL" > "$TMP/nginx-body"
curl -sf "$FURL" > "$TMP/floor-body"
for b in nginx-body floor-body; do
	cmp -s "$TMP/static/api/tasks/bench/tests/latest" "$TMP/$b" || { echo "MISMATCH: $b differs from devsysd's answer" >&2; exit 1; }
done
echo "body: $BYTES bytes of JSON, the same bytes from all three servers"

run_one() { # run_one NAME
	case "$1" in
	devsysd) wrk_run devsysd "$URL" "$DPID" "Authorization: Bearer $TOKEN" ;;
	nginx) wrk_run nginx "$NURL" "$NPID" ;;
	floor) wrk_run floor "$FURL" "$FPID" ;;
	esac
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
	# rotate the order, so no server always runs first or last
	case $((r % 3)) in
	1) ORDER="devsysd nginx floor" ;;
	2) ORDER="nginx floor devsysd" ;;
	0) ORDER="floor devsysd nginx" ;;
	esac
	: > "$TMP/round"
	for s in $ORDER; do run_one "$s" >> "$TMP/round"; done
	get() { awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$TMP/round"; }
	echo "-- round $r (order: $ORDER; load average $(cut -d' ' -f1-3 /proc/loadavg))"
	for s in devsysd nginx floor; do
		echo "$s: $(get $s 2) req/s, p50 $(get $s 3) ms, p99 $(get $s 4) ms, errors $(get $s 5), cpu $(get $s 6) us/request"
	done
	echo "ratio req/s devsysd/nginx: $(ratio "$(get devsysd 2)" "$(get nginx 2)")x (target >= 0.5x);" \
	     "devsysd/floor: $(ratio "$(get devsysd 2)" "$(get floor 2)")x"
	echo "ratio p99 devsysd/nginx:   $(ratio "$(get devsysd 4)" "$(get nginx 4)")x (target <= 2x);" \
	     "floor/nginx: $(ratio "$(get floor 4)" "$(get nginx 4)")x;" \
	     "devsysd/floor: $(ratio "$(get devsysd 4)" "$(get floor 4)")x (target <= 1.2x when the floor is above 2x nginx)"
	echo "ratio cpu/request devsysd/floor: $(ratio "$(get devsysd 6)" "$(get floor 6)")x;" \
	     "devsysd/nginx: $(ratio "$(get devsysd 6)" "$(get nginx 6)")x (server CPU only: steadier than latency on a busy machine)"
	echo "errors: devsysd $(get devsysd 5), nginx $(get nginx 5), floor $(get floor 5) (target 0)"
	echo "$(ratio "$(get devsysd 2)" "$(get nginx 2)") $(ratio "$(get devsysd 4)" "$(get nginx 4)")" \
	     "$(ratio "$(get floor 4)" "$(get nginx 4)") $(ratio "$(get devsysd 4)" "$(get floor 4)")" \
	     "$(ratio "$(get devsysd 6)" "$(get floor 6)")" >> "$TMP/ratios"
	r=$((r + 1))
done
median() { # median COLUMN: of the per-round ratios
	awk -v k="$1" '{ print $k }' "$TMP/ratios" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "== median of $ROUNDS rounds: req/s devsysd/nginx $(median 1)x; p99 devsysd/nginx $(median 2)x," \
     "floor/nginx $(median 3)x, devsysd/floor $(median 4)x; cpu/request devsysd/floor $(median 5)x" \
     "(load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
