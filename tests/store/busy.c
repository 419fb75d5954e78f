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
