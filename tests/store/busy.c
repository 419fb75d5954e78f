/*
 * The SQLite store counts its waits for another writer: /metrics'
 * devsys_store_busy_retries_total. Another connection holds the write lock
 * (BEGIN IMMEDIATE) while the store, with a short busy timeout, tries to
 * write: it waits several times, gives up with DEVSYS_EBUSY, and the count
 * says so. The control: the same write with the lock released counts none.
 */
#include "testutil.h"
#include <devsys.h>
#include <devsys/store.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static devsys_workspace *ws;
static devsys_store *st;

static void setup(void)
{
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	o.busy_timeout_ms = 60;
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("busy");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_store_open(&st, ws, &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_store_free(st);
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(busy, .init = setup, .fini = teardown);

/* The value of devsys_store_busy_retries_total in the store's metrics; -1 when absent. */
static long long busy_retries(void)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	const char *line;
	long long n = -1;
	cr_assert_eq(devsys_store_metrics(st, &b), 0, "%s", devsys_error_message(devsys_error_last()));
	if ((line = strstr(b.ptr, "\ndevsys_store_busy_retries_total ")) != NULL)
		n = atoll(line + strlen("\ndevsys_store_busy_retries_total "));
	devsys_buf_dispose(&b);
	return n;
}

Test(busy, waits_for_a_writer_are_counted)
{
	sqlite3 *db;
	char *path = NULL;
	long long before;
	cr_assert(asprintf(&path, "%s/devsys.db", dir) > 0);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	free(path);

	/* control: no other writer, no wait */
	cr_assert_eq(devsys_store_task_create(st, "free", NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(busy_retries(), 0, "a write without contention was counted as a wait");

	cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(devsys_store_task_create(st, "locked", NULL), DEVSYS_EBUSY, "the store wrote past a held lock");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "another process holds the database"), "%s",
	          devsys_error_message(devsys_error_last()));
	before = busy_retries();
	/* 60 ms of waits on SQLite's schedule (1, 2, 5, 10, 15, 20, 7 ms): several, each counted */
	cr_assert_geq(before, 3, "the store waited for the lock but counted %lld waits", before);
	cr_assert_eq(sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL), SQLITE_OK);

	/* the lock is gone: the write goes through and adds no wait */
	cr_assert_eq(devsys_store_task_create(st, "locked", NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(busy_retries(), before);
	sqlite3_close(db);
}

/*
 * An open of a store already at this schema version takes no write lock:
 * it goes through while another connection holds the lock, with no wait,
 * and the control shows the lock was held (a write by the new handle waits
 * and gives up).
 */
Test(busy, an_open_waits_for_no_writer)
{
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	devsys_store *second = NULL;
	sqlite3 *db;
	char *path = NULL;
	o.busy_timeout_ms = 60;
	cr_assert(asprintf(&path, "%s/devsys.db", dir) > 0);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	free(path);
	cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL), SQLITE_OK);

	cr_assert_eq(devsys_store_open(&second, ws, &o), 0, "an open waited for the writer: %s",
	             devsys_error_message(devsys_error_last()));
	devsys_store_free(st);
	st = second; /* busy_retries() reads the new handle's count */
	cr_assert_eq(busy_retries(), 0, "the open waited for the lock");
	cr_assert_eq(devsys_store_task_create(st, "held", NULL), DEVSYS_EBUSY, "the control: the lock was not held");
	cr_assert_geq(busy_retries(), 3);
	cr_assert_eq(sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Read PRAGMA @p sql's one integer from @p db. */
static int pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	int v = -1;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

/*
 * A devsys.db of a newer schema than this library knows is refused with
 * DEVSYS_EVERSION naming the file and both versions, and nothing is
 * written: its version, its tables and its journal mode stay as they were.
 * The control: the same file at an older version opens and is brought up
 * to this one.
 */
Test(busy, a_newer_schema_is_refused_and_left_as_it_was)
{
	devsys_workspace *other;
	devsys_store *refused = NULL;
	char *odir = dt_tmpdir("newer"), *path = NULL;
	const char *msg;
	sqlite3 *db;
	cr_assert_eq(devsys_workspace_open(&other, odir, NULL), 0);
	cr_assert(asprintf(&path, "%s/devsys.db", odir) > 0);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "CREATE TABLE later(x); PRAGMA user_version = 9;", NULL, NULL, NULL), SQLITE_OK);

	cr_assert_eq(devsys_store_open(&refused, other, NULL), DEVSYS_EVERSION);
	cr_assert_null(refused);
	msg = devsys_error_message(devsys_error_last());
	cr_assert(strstr(msg, path) && strstr(msg, "schema version 9") && strstr(msg, "(5)") &&
	          strstr(msg, "nothing was written"), "%s", msg);
	cr_assert_eq(pragma_int(db, "PRAGMA user_version;"), 9, "the version was rewritten");
	cr_assert_eq(pragma_int(db, "SELECT count(*) FROM sqlite_master;"), 1, "tables were created");
	cr_assert_eq(pragma_int(db, "SELECT journal_mode = 'delete' FROM pragma_journal_mode;"), 1,
	             "the journal mode was changed");

	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 3;", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(devsys_store_open(&refused, other, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_store_task_create(refused, "t1", NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	devsys_store_free(refused);
	cr_assert_eq(pragma_int(db, "PRAGMA user_version;"), 5);
	sqlite3_close(db);
	devsys_workspace_free(other);
	dt_rmrf(odir);
	free(odir);
	free(path);
}

/*
 * A file of version 4, from before the runner pools kept their host slots
 * in the store, gets the two tables it lacks when it is opened: the version
 * said it was current once, and an open that trusted it would leave every
 * pool placement failing. The control: they are gone before the open.
 */
Test(busy, a_version_4_file_gets_the_pool_tables)
{
	devsys_store *again = NULL;
	sqlite3 *db;
	char *path = NULL;
	cr_assert(asprintf(&path, "%s/devsys.db", dir) > 0);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	free(path);
	cr_assert_eq(sqlite3_exec(db, "DROP TABLE host_slots; DROP TABLE host_cools; PRAGMA user_version = 4;", NULL,
	                          NULL, NULL),
	             SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(pragma_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('host_slots', 'host_cools');"), 0);

	cr_assert_eq(devsys_store_open(&again, ws, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	devsys_store_free(again);
	cr_assert_eq(pragma_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('host_slots', 'host_cools');"), 2,
	             "the pool tables were not created");
	cr_assert_eq(pragma_int(db, "PRAGMA user_version;"), 5);
	sqlite3_close(db);
}
