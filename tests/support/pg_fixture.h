/*
 * A real PostgreSQL 15 server for tests, on 127.0.0.1 and a free port, with
 * password (scram-sha-256) authentication on TCP, its data directory and
 * unix socket in one short temp dir (/dev/shm/dt-pg-*, or /tmp/dt-pg-*
 * without a writable /dev/shm) owned by the `postgres` user
 * (PostgreSQL refuses to run as root; it runs through runuser).
 *
 * One server per test binary: the suite's runner process starts it before
 * the first test and stops it after the last one, and the tests (Criterion
 * runs each in a child) find it through the environment:
 *
 *   ReportHook(PRE_ALL)(struct criterion_test_set *s) { (void)s; dt_pg_suite_begin(); }
 *   ReportHook(POST_ALL)(struct criterion_global_stats *s) { (void)s; dt_pg_suite_end(); }
 *
 *   Test(x, y) {
 *       char why[256];
 *       dt_pg *pg = dt_pg_suite(why, sizeof why);
 *       if (!pg) dt_skip("%s", why);
 *       char *url = dt_pg_newdb(pg, "y");   // a fresh database for this test
 *       ...
 *       free(url); dt_pg_free(pg);          // does not stop the suite's server
 *   }
 *
 * The server is stopped on every path: dt_pg_suite_end() (or dt_pg_free() of
 * the handle dt_pg_start() gave) stops it, and the fixture's watchdog
 * (watchdog.h) stops it and removes its dir when the process that started it
 * dies without getting there (a crash, or ctest's SIGKILL on a timeout).
 */
#ifndef DEVSYS_PG_FIXTURE_H
#define DEVSYS_PG_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* PostgreSQL 15's own programs: /usr/bin/psql is Debian's pg_wrapper, a Perl start of some 90 ms a call */
#define DT_PG_BIN "/usr/lib/postgresql/15/bin"

typedef struct dt_pg {
	char *dir;      /* /dev/shm/dt-pg-XXXXXX: data/, the socket, pwfile, server.log */
	char *data;     /* <dir>/data */
	char *log;      /* <dir>/server.log */
	int port;       /* 127.0.0.1:port */
	char *user;     /* "devsys", the superuser initdb made */
	char *password; /* its password (random per server) */
	bool owner;     /* this handle started the server: free() stops it */
	struct dt_watchdog *watchdog; /* stops the server, removes dir, if the process that started it dies */
} dt_pg;

/*
 * initdb and start a server (pg_ctl -w start), or NULL with a reason in
 * @p why ("PostgreSQL 15 is not installed", the server log's tail, ...).
 * The handle owns the server: dt_pg_free() stops it and removes the dir.
 */
dt_pg *dt_pg_start(char *why, size_t why_len);

/* For the suite's runner: start the server and publish it in the environment. */
void dt_pg_suite_begin(void);
/* For the suite's runner: stop the published server and remove its dir. */
void dt_pg_suite_end(void);
/* In a test: the suite's server (not owned), or NULL with the reason it is missing. */
dt_pg *dt_pg_suite(char *why, size_t why_len);

/* Stop (pg_ctl -m fast stop; sessions are ended). */
bool dt_pg_stop(dt_pg *pg);
/* Start again on the same port and data. */
bool dt_pg_start_again(dt_pg *pg);
/* Is the server accepting connections (pg_ctl status)? */
bool dt_pg_running(const dt_pg *pg);

/*
 * Create a fresh database named after @p tag (plus a unique suffix) and
 * return its URL without a password, "postgresql://devsys@127.0.0.1:PORT/NAME";
 * NULL on failure. free() it.
 */
char *dt_pg_newdb(dt_pg *pg, const char *tag);

/*
 * Run SQL through psql over the server's unix socket (trust on the socket,
 * which only root and postgres can reach), in database @p db (a name or a
 * URL dt_pg_newdb returned). Returns psql's exit status; with @p out, its
 * unaligned tuples-only output (free() it).
 */
int dt_pg_sql(dt_pg *pg, const char *db, char **out, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Write a 0600 .pgpass file at @p path with the server's password (or @p password when not NULL). */
bool dt_pg_write_pgpass(const dt_pg *pg, const char *path, const char *password);

/* Stop the server if this handle owns it, remove its dir, free everything. NULL is fine. */
void dt_pg_free(dt_pg *pg);

#endif /* DEVSYS_PG_FIXTURE_H */
