#!/bin/sh
# Store benchmarks (bench_store.c says what each side does):
#   sqlite: 2 processes claim and complete SQLITE_TASKS tasks from one workspace,
#           against 2 processes of one-row UPDATE ... RETURNING on one SQLite file;
#   pg:     1, 2 and 4 worker processes each claim and complete PG_TASKS no-op
#           tasks on a PostgreSQL store, against one-row UPDATE ... RETURNING
#           autocommit statements over one libpq connection to the same server.
# For pg this script starts its own PostgreSQL 15 (as DESIGN.md §5 says: initdb
# as the postgres user into a temp dir under /tmp, password authentication on
# 127.0.0.1 and a free port, the password in a PGPASSFILE, never in the URL;
# fsync and synchronous_commit at their defaults, so every commit is durable;
# pg_stat_statements preloaded, so the benchmark can say what a task costs the
# server: statements, commits and WAL flushes) and stops it on exit.
# BENCH_PG_STATEMENTS=1 also lists each statement the workers ran, per task.
# BENCH_PG_OPTS adds server settings ("-c name=value ...") for an experiment.
# BENCH_PG_KEEP_LOG=FILE copies the server's log there before the server's dir is removed.
# Usage: bench/store/run.sh BUILD_DIR [sqlite|pg|all] [SQLITE_TASKS] [PG_TASKS] [WORKERS...]
set -eu
build=${1:?usage: run.sh BUILD_DIR [sqlite|pg|all] [SQLITE_TASKS] [PG_TASKS] [WORKERS...]}
what=${2:-all}
sqlite_tasks=${3:-1000}
pg_tasks=${4:-10000}
[ $# -gt 4 ] && shift 4 || set --
workers=${*:-1 2 4}
build=$(cd "$build" && pwd)
bin="$build/bench/store/bench_store"
pgbin=/usr/lib/postgresql/15/bin
[ -x "$bin" ] || { echo "missing $bin: build with -DDEVSYS_BUILD_BENCH=ON first" >&2; exit 2; }
cd /
tmp=$(mktemp -d /tmp/bench-store-XXXXXX)
pg= # the server's dir: a /tmp dir of its own, owned by postgres (the other is root's, mode 0700)
pgdata=
cleanup() {
	if [ -n "$pgdata" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || true
		pgdata=
	fi
	[ -n "${BENCH_PG_KEEP_LOG:-}" ] && [ -n "$pg" ] && cp "$pg/server.log" "$BENCH_PG_KEEP_LOG"
	rm -rf "$tmp" ${pg:+"$pg"}
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

if [ "$what" = sqlite ] || [ "$what" = all ]; then
	mkdir "$tmp/sqlite"
	"$bin" sqlite "$tmp/sqlite" "$sqlite_tasks"
fi

if [ "$what" = pg ] || [ "$what" = all ]; then
	[ -x "$pgbin/initdb" ] || { echo "PostgreSQL 15 is not installed (scripts/deps/store.apt)" >&2; exit 2; }
	pg=$(mktemp -d /tmp/bench-pg-XXXXXX)
	mkdir "$tmp/pg-work"
	chown postgres "$pg"
	password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$password" > "$pg/pwfile"
	chown postgres "$pg/pwfile"
	chmod 600 "$pg/pwfile"
	runuser -u postgres -- "$pgbin/initdb" -D "$pg/data" -U devsys --auth-host=scram-sha-256 \
		--auth-local=trust --pwfile="$pg/pwfile" > "$pg/initdb.log" 2>&1 ||
		{ tail -5 "$pg/initdb.log" >&2; exit 3; }
	rm -f "$pg/pwfile"
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	pgdata="$pg/data"
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$pg/server.log" -w -t 30 \
		-o "-k $pg -c listen_addresses=127.0.0.1 -p $port -c max_connections=60 -c shared_preload_libraries=pg_stat_statements ${BENCH_PG_OPTS:-}" start > /dev/null ||
		{ tail -5 "$pg/server.log" >&2; exit 3; }
	runuser -u postgres -- psql -h "$pg" -p "$port" -U devsys -d postgres -qc "CREATE DATABASE bench" > /dev/null
	printf '127.0.0.1:%s:*:devsys:%s\n' "$port" "$password" > "$tmp/pgpass"
	chmod 600 "$tmp/pgpass"
	echo "PostgreSQL $(runuser -u postgres -- "$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port," \
		"fsync=$(runuser -u postgres -- psql -h "$pg" -p "$port" -U devsys -d bench -Atc 'SHOW fsync')"
	# shellcheck disable=SC2086 # one argument per worker count
	PGPASSFILE="$tmp/pgpass" "$bin" pg "$tmp/pg-work" "postgresql://devsys@127.0.0.1:$port/bench" "$pg_tasks" $workers
fi
