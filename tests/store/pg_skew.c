/*
 * Clock skew between hosts on a PostgreSQL store: a worker whose clock runs
 * 2 h ahead (and, separately, 2 h behind) claims a task through the library
 * in a child process run under libfaketime (LD_PRELOAD; the server was
 * started unskewed by the suite's runner). The lease's expiry in the claim
 * log is the database's clock plus the lease, not the worker's; an unskewed
 * worker cannot take the task while the lease holds and takes it once it
 * expired by the database's clock. The control: the child's time() really
 * differs from this process's by the skew.
 *
 * The SQLite store has no such test: its clock is the process's own, and
 * one workspace is shared only by processes on one host (docs/scale-out.md).
 */
#include "pg_suite.h"
#include <devsys.h>
#include <devsys/store.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
/* short, so each tier waits out two leases well within its budget, long enough to test inside one */
#define LEASE_MS 3000
#define SKEW_S (2 * 3600)

/*
 * The skewed worker: this binary run again with DT_SKEW_WS set. It claims
 * before Criterion's main, prints "time <its time()>" and "claimed <id>",
 * and exits without releasing, so the lease stays held.
 */
__attribute__((constructor)) static void skewed_worker(void)
{
	const char *wsdir = getenv("DT_SKEW_WS");
	devsys_workspace *w = NULL;
	devsys_store *s = NULL;
	devsys_buf id = DEVSYS_BUF_INIT;
	int rc;
	if (!wsdir)
		return;
	printf("time %lld\n", (long long)time(NULL));
	rc = devsys_init() != 1 ? -1 : devsys_workspace_open(&w, wsdir, NULL);
	if (rc == 0)
		rc = devsys_store_open(&s, w, NULL);
	if (rc == 0)
		rc = devsys_store_claim(&id, s, "skewed", "far-host", NULL, 0, LEASE_MS);
	if (rc == 0)
		printf("claimed %s\n", id.ptr);
	else
		printf("error %d %s\n", rc, devsys_error_message(devsys_error_last()));
	fflush(stdout);
	devsys_buf_dispose(&id);
	devsys_store_free(s);
	devsys_workspace_free(w);
	devsys_shutdown();
	_exit(rc == 0 ? 0 : 1);
}

static dt_pg *pg;
static char *dir, *url, *wsdir;
static devsys_workspace *ws;
static devsys_store *st;

static void setup(void)
{
	char why[512];
	cr_assert_eq(devsys_init(), 1);
	if (!(pg = dt_pg_suite(why, sizeof(why))))
		return;
	cr_assert(dir = dt_tmpdir("pgskew"));
	dt_pg_client_env(pg, dir);
	cr_assert(url = dt_pg_newdb(pg, "skew"));
	setenv("DEVSYS_STORE_URL", url, 1); /* the skewed child and this test share the database */
	cr_assert(asprintf(&wsdir, "%s/ws", dir) > 0);
	cr_assert_eq(devsys_workspace_open(&ws, wsdir, NULL), 0, "%s", MSG);
	OK(devsys_store_open(&st, ws, NULL));
	cr_assert_str_eq(devsys_store_backend_name(st), "postgresql");
}

static void teardown(void)
{
	free(wsdir);
	unsetenv("DEVSYS_STORE_URL");
	dt_pg_store_end(pg, dir, url, ws, st);
}

TestSuite(pg_skew, .init = setup, .fini = teardown, .timeout = 60);

#define NEED(cond, ...)                                                     \
	do {                                                                \
		char why_[512];                                             \
		if (!pg) {                                                  \
			dt_pg_free(dt_pg_suite(why_, sizeof(why_)));        \
			dt_skip("%s", why_);                                \
		}                                                           \
		if (!(cond))                                                \
			dt_skip(__VA_ARGS__);                               \
	} while (0)

/* The database's clock in ms, as the store reads it. */
static long long db_now_ms(void)
{
	char *out = NULL;
	long long v;
	cr_assert_eq(dt_pg_sql(pg, url, &out, "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint"), 0);
	v = atoll(out);
	free(out);
	return v;
}

/* Run the skewed worker: FAKETIME=@p skew; its output (free() it). */
static char *run_skewed(const char *skew)
{
	char *out, *asan;
	int status = -1;
	/* under ASan the runtime need not come first: libfaketime is preloaded ahead of it on purpose */
	cr_assert(asprintf(&asan, "%s%sverify_asan_link_order=0", getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
	                   getenv("ASAN_OPTIONS") ? ":" : "") > 0);
	out = dt_sh_output(&status,
	                   "DT_SKEW_WS='%s' LD_PRELOAD='" FAKETIME_LIB "' FAKETIME='%s' FAKETIME_DONT_FAKE_MONOTONIC=1 "
	                   "ASAN_OPTIONS='%s' /proc/%d/exe",
	                   wsdir, skew, asan, (int)getpid());
	free(asan);
	cr_assert(out);
	cr_assert_eq(status, 0, "the skewed worker failed: %s", out);
	return out;
}

static long long field(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_integer(v), "%s is not a number", k);
	return (long long)json_integer_value(v);
}

static void skewed_claim(const char *id, const char *skew, long long skew_s)
{
	char *out, *p;
	long long before_s = (long long)time(NULL), child_s, db_before = db_now_ms(), db_after, until, claimed;
	long long deadline;
	devsys_buf got = DEVSYS_BUF_INIT;
	json_t *log, *c;
	int rc;

	OK(devsys_store_task_create(st, id, NULL));
	OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, id, NULL, "urn:devsys:schema:task:1"));

	out = run_skewed(skew);
	/* the control: the skew took effect in the child */
	cr_assert((p = strstr(out, "time ")), "no time in: %s", out);
	child_s = atoll(p + 5);
	cr_assert(llabs(child_s - before_s - skew_s) < 60, "the child's time %lld is not ours %lld %+lld s", child_s,
	          before_s, skew_s);
	cr_assert((p = strstr(out, "claimed ")) && strncmp(p + 8, id, strlen(id)) == 0, "not claimed: %s", out);
	free(out);

	/* the lease is the database's now() + the lease, not the skewed worker's clock */
	log = dt_pg_claims(st, id);
	c = json_array_get(json_object_get(log, "claims"), 0);
	cr_assert(c && json_array_size(json_object_get(log, "claims")) == 1, "one claim expected");
	cr_assert_str_eq(json_string_value(json_object_get(c, "owner")), "skewed");
	claimed = field(c, "claimed_ms");
	until = field(c, "until_ms");
	db_after = db_now_ms();
	cr_assert(claimed >= db_before && claimed <= db_after, "claimed at %lld, not within the database's [%lld, %lld]",
	          claimed, db_before, db_after);
	cr_assert(until - claimed <= LEASE_MS && until - claimed > LEASE_MS - 1000,
	          "the lease runs to %lld, %lld ms after the claim at %lld (lease %d ms)", until, until - claimed, claimed,
	          LEASE_MS);
	json_decref(log);

	/* an unskewed worker cannot take it while the lease holds (checked on the database's clock) */
	rc = devsys_store_claim(&got, st, "near", "near-host", NULL, 0, LEASE_MS);
	db_after = db_now_ms();
	cr_assert_eq(rc, DEVSYS_ENOTFOUND, "claimed %s inside the lease: %s", got.ptr ? got.ptr : "", MSG);
	cr_assert(db_after < until, "the refusal came after the lease's end (%lld >= %lld): the machine is too slow",
	          db_after, until);

	/* once it expired by the database's clock, the unskewed worker takes it */
	deadline = db_now_ms() + LEASE_MS + 10000;
	while ((rc = devsys_store_claim(&got, st, "near", "near-host", NULL, 0, LEASE_MS)) == DEVSYS_ENOTFOUND) {
		cr_assert(db_now_ms() < deadline, "not claimable %d ms after the lease", LEASE_MS + 10000);
		devsys_store_wait_work(st, 50);
	}
	OK(rc);
	cr_assert_str_eq(got.ptr, id);
	cr_assert(db_now_ms() >= until, "taken before the lease's end");
	devsys_buf_dispose(&got);

	log = dt_pg_claims(st, id);
	c = json_array_get(json_object_get(log, "claims"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "how")), "expired");
	cr_assert_eq(field(c, "ended_ms"), until, "the skewed lease ended at its expiry");
	c = json_array_get(json_object_get(log, "claims"), 1);
	cr_assert(c);
	cr_assert_str_eq(json_string_value(json_object_get(c, "owner")), "near");
	json_decref(log);
	OK(devsys_store_complete(st, id, "near"));
}

Test(pg_skew, ahead)
{
	NEED(access(FAKETIME_LIB, R_OK) == 0, "libfaketime is not installed (" FAKETIME_LIB ")");
	skewed_claim("ahead", "+2h", SKEW_S);
}

Test(pg_skew, behind)
{
	NEED(access(FAKETIME_LIB, R_OK) == 0, "libfaketime is not installed (" FAKETIME_LIB ")");
	skewed_claim("behind", "-2h", -SKEW_S);
}
