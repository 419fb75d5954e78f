/*
 * A claim leaves no row lock behind in another claim's transaction. Under
 * READ COMMITTED a claim whose snapshot still saw a row free that another
 * claim has just taken reaches that row in its scan: had the taking claim
 * updated the row, FOR UPDATE would follow the update, lock the new version
 * and only then find it held, and that lock would stay until the late
 * claim's transaction ended (its folder written, its documents committed).
 * The taker's complete, which deletes the row, would wait for it. A claim
 * moves the row to a new version instead (delete and insert), which the
 * late scan finds gone and passes. Built into the store_pg binary (its
 * PostgreSQL server, pg_store.c's hooks); the late claim is a session of
 * the test's own, its scan held at a lock between its snapshot and the
 * rows (no timing decides the order).
 */
#define DT_PG_SUITE_HOOKS_ELSEWHERE
#include "pg_suite.h"
#include <devsys.h>
#include <devsys/store.h>

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* a busy timeout of 2 s, the store's lock_timeout: a complete that waits on a row lock fails */
DT_PG_STORE_SUITE(pg_claim_lock, "pglock", 2000);

static PGconn *session(void)
{
	PGconn *c = PQconnectdb(url);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

/* @p sql's one value (or "" when it returns none); fails the test when it fails. */
static char *value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	char *v;
	cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql,
	          PQerrorMessage(c));
	v = strdup(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return v;
}

static void exec_ok(PGconn *c, const char *sql)
{
	free(value(c, sql));
}

static void queued(const char *id)
{
	OK(devsys_store_task_create(st, id, NULL));
	OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, id, NULL, NULL));
}

/* Poll until session @p pid waits for an advisory lock. */
static void wait_blocked(PGconn *watch, int pid)
{
	char sql[200];
	long long deadline = dt_mono_ms() + 10000;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = %d",
	         pid);
	for (;;) {
		char *n = value(watch, sql);
		bool waiting = !strcmp(n, "1");
		free(n);
		if (waiting)
			return;
		cr_assert_lt(dt_mono_ms(), deadline, "the late claim's session never waited at the gate");
		dt_pause_ms(10);
	}
}

/*
 * The late claim: its snapshot taken as its statement starts, its scan of
 * the free rows (the claim's: queue_free in seq order, FOR UPDATE SKIP
 * LOCKED) made once the gate's advisory lock is free. It also says, from
 * the same snapshot, whether it saw 'lk1' free.
 */
static const char late_claim[] =
        "WITH g AS MATERIALIZED (SELECT pg_advisory_lock(7301) AS gate) "
        "SELECT f.task_id, (SELECT count(*) FROM queue WHERE task_id = 'lk1' AND owner = '') FROM g, LATERAL "
        "(SELECT task_id FROM queue WHERE owner = '' AND g.gate IS NOT NULL ORDER BY seq LIMIT 1 "
        "FOR UPDATE SKIP LOCKED) f";

Test(pg_claim_lock, a_claim_that_reached_a_taken_row_late_does_not_hold_up_its_complete)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	PGconn *gate, *late;
	PGresult *r;
	char *v;
	dt_pg_need(pg);
	queued("lk1");
	queued("lk2");
	gate = session();
	late = session();
	exec_ok(gate, "SELECT pg_advisory_lock(7301)");
	exec_ok(late, "BEGIN");
	cr_assert(PQsendQuery(late, late_claim), "%s", PQerrorMessage(late));
	wait_blocked(gate, PQbackendPID(late));

	OK(devsys_store_claim(&b, st, "w1", "h1", NULL, 0, 60000));
	cr_assert_str_eq(b.ptr, "lk1");
	exec_ok(gate, "SELECT pg_advisory_unlock(7301)");
	r = PQgetResult(late);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(late));
	cr_assert_eq(PQntuples(r), 1);
	/* the control that the scan came late: its snapshot had lk1 free, and it took the next row */
	cr_assert_str_eq(PQgetvalue(r, 0, 1), "1", "the late claim's snapshot did not see lk1 free");
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "lk2");
	PQclear(r);
	cr_assert_null(PQgetResult(late));

	/* the late claim's transaction still open: lk1's complete does not wait for it */
	cr_assert_eq(devsys_store_complete(st, "lk1", "w1"), 0, "%s", MSG);
	v = value(gate, "SELECT count(*) FROM queue WHERE task_id = 'lk1'");
	cr_assert_str_eq(v, "0", "lk1 is still queued");
	free(v);
	/* the control that its locks do hold up a delete: the row it took, lk2 */
	exec_ok(gate, "SET lock_timeout = 200");
	r = PQexec(gate, "DELETE FROM queue WHERE task_id = 'lk2'");
	cr_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "", "55P03",
	                 "a delete of the row the late claim locked did not wait: %s", PQerrorMessage(gate));
	PQclear(r);
	exec_ok(late, "ROLLBACK");
	PQfinish(late);
	PQfinish(gate);
	devsys_buf_dispose(&b);
}
