/*
 * What the suites that use the suite's PostgreSQL server (pg_fixture.h)
 * share: the runner's hooks that start and stop it (one test binary, one
 * source file including this header), the skip of a test when it is
 * missing, the client environment (a HOME of the test's own and a .pgpass through
 * PGPASSFILE, never the real home's), and waits with a deadline for a
 * child process and for a file a child makes (polls, never a sleep as a
 * synchronisation). The bare repository to push to is dt_pipe_remote()
 * (pipeline_fixture.h).
 *
 * Header-only (the hooks, and static inline functions a suite pays for only
 * when it calls them), like pipeline_fixture.h.
 */
#ifndef DEVSYS_PG_SUITE_H
#define DEVSYS_PG_SUITE_H

#include "pg_fixture.h"
#include "pipeline_fixture.h"
#include "testutil.h"

#include <criterion/hooks.h>
#include <devsys.h>
#include <devsys/store.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/*
 * The suite's runner starts the server before the first test and stops it
 * after the last (pg_fixture.h): including this header gives the test
 * binary these hooks, so include it from the binary's one source file. A
 * second source file of the binary defines DT_PG_SUITE_HOOKS_ELSEWHERE
 * first: it shares the first one's server.
 */
#ifndef DT_PG_SUITE_HOOKS_ELSEWHERE
ReportHook(PRE_ALL)(struct criterion_test_set *dt_set_)
{
	(void)dt_set_;
	dt_pg_suite_begin();
}

ReportHook(POST_ALL)(struct criterion_global_stats *dt_stats_)
{
	(void)dt_stats_;
	dt_pg_suite_end();
}
#endif

/* The library's last error message, and an assertion that a call returned 0 that prints it. */
#define MSG devsys_error_message(devsys_error_last())
#define OK(expr) cr_assert_eq((expr), 0, "%s: %s", #expr, MSG)

/*
 * In a test whose set-up found no server (@p pg NULL): skip it, with the
 * reason the suite's server is missing (a failure under CI=true).
 */
static inline void dt_pg_need(const dt_pg *pg)
{
	char why[512];
	if (!pg) {
		dt_pg_free(dt_pg_suite(why, sizeof(why)));
		dt_skip("%s", why);
	}
}

/* The claim log of @p st (devsys_store_claims_json(), of task @p id or NULL: all), parsed; json_decref() it. */
static inline json_t *dt_pg_claims(devsys_store *st, const char *id)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	OK(devsys_store_claims_json(st, id, &b));
	j = json_loads(b.ptr, 0, NULL);
	devsys_buf_dispose(&b);
	cr_assert(j);
	return j;
}

/* Milliseconds of the monotonic clock. */
static inline long long dt_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pause between two polls (never a synchronisation by itself). */
static inline void dt_pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* HOME=<dir>/home (made 0700), for this process and its children: never the real home's .pgpass. */
static inline void dt_private_home(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/home", dir);
	cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
	setenv("HOME", p, 1);
}

/*
 * dt_private_home() and PGPASSFILE=<dir>/pgpass with the server's
 * password, for this process and the children it starts.
 */
static inline void dt_pg_client_env(const dt_pg *pg, const char *dir)
{
	char p[4096];
	dt_private_home(dir);
	snprintf(p, sizeof(p), "%s/pgpass", dir);
	cr_assert(dt_pg_write_pgpass(pg, p, NULL), "%s", p);
	setenv("PGPASSFILE", p, 1);
}

/*
 * A test's set-up on the suite's server: devsys_init(), *@p pg (NULL, and
 * nothing else made, when the server is missing: dt_pg_need() then skips),
 * a temporary *@p dir (made from @p tag) with the client environment, a
 * fresh database *@p url, the workspace *@p ws in @p dir and a store *@p st
 * on @p url (busy timeout @p busy_ms, 0 for the default). dt_pg_store_end()
 * undoes it.
 */
static inline void dt_pg_store_begin(dt_pg **pg, char **dir, char **url, devsys_workspace **ws, devsys_store **st,
                                     const char *tag, unsigned int busy_ms)
{
	char why[512];
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	cr_assert_eq(devsys_init(), 1);
	if (!(*pg = dt_pg_suite(why, sizeof(why))))
		return;
	cr_assert(*dir = dt_tmpdir(tag));
	dt_pg_client_env(*pg, *dir);
	unsetenv("DEVSYS_STORE_URL");
	unsetenv("PGPASSWORD");
	cr_assert(*url = dt_pg_newdb(*pg, tag), "cannot create a database");
	cr_assert_eq(devsys_workspace_open(ws, *dir, NULL), 0);
	o.url = *url;
	if (busy_ms)
		o.busy_timeout_ms = busy_ms;
	cr_assert_eq(devsys_store_open(st, *ws, &o), 0, "%s", MSG);
}

static inline void dt_pg_store_end(dt_pg *pg, char *dir, char *url, devsys_workspace *ws, devsys_store *st)
{
	devsys_store_free(st);
	devsys_workspace_free(ws);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	free(url);
	dt_pg_free(pg);
	devsys_shutdown();
}

/*
 * A suite of tests that each get dt_pg_store_begin()'s set-up: the statics
 * pg, dir, url, ws and st, made before each test and undone after it.
 */
#define DT_PG_STORE_SUITE(suite, tag, busy_ms)                                   \
	static dt_pg *pg;                                                        \
	static char *dir, *url;                                                  \
	static devsys_workspace *ws;                                             \
	static devsys_store *st;                                                 \
	static void suite##_setup(void)                                          \
	{                                                                        \
		dt_pg_store_begin(&pg, &dir, &url, &ws, &st, tag, busy_ms);      \
	}                                                                        \
	static void suite##_teardown(void)                                       \
	{                                                                        \
		dt_pg_store_end(pg, dir, url, ws, st);                           \
	}                                                                        \
	TestSuite(suite, .init = suite##_setup, .fini = suite##_teardown, .timeout = 60)

/* Poll until no task in @p st's queue holds a lease (a killed worker's expired); fails after @p timeout_ms. */
static inline void dt_pg_wait_leases_expired(devsys_store *st, int timeout_ms)
{
	long long deadline = dt_mono_ms() + timeout_ms;
	for (;;) {
		json_t *log = dt_pg_claims(st, NULL), *e;
		size_t i;
		bool held = false;
		json_array_foreach(json_object_get(log, "queue"), i, e)
			held = held || json_is_true(json_object_get(e, "held"));
		json_decref(log);
		if (!held)
			return;
		cr_assert_lt(dt_mono_ms(), deadline, "the leases did not expire");
		dt_pause_ms(50);
	}
}

/* Wait for child @p pid up to @p timeout_ms: its exit status (128 + signal), or -1 (then it was killed). */
static inline int dt_reap(pid_t pid, int timeout_ms)
{
	long long deadline = dt_mono_ms() + timeout_ms;
	int status;
	while (dt_mono_ms() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		dt_pause_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Poll until @p path exists; fails the test after @p timeout_ms. */
static inline void dt_wait_file(const char *path, int timeout_ms)
{
	long long deadline = dt_mono_ms() + timeout_ms;
	while (!dt_exists(path)) {
		cr_assert_lt(dt_mono_ms(), deadline, "timed out waiting for %s", path);
		dt_pause_ms(20);
	}
}

#endif /* DEVSYS_PG_SUITE_H */
