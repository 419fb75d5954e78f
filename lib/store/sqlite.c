/*
 * The SQLite backend of the task store: <workspace>/devsys.db, WAL mode.
 */
#include "store/backend.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

typedef struct sq {
	sqlite3 *db;
	unsigned int busy_ms;   /* how long a statement waits for another writer */
	long long busy_retries; /* how often it waited (reported with the queue's stats) */
} sq;

/*
 * The schema version this library writes; a file at a higher one is
 * refused. A file at this version is not run against the schema again, so
 * every change to the schema below raises it: 5 added host_slots and
 * host_cools, which files of version 4 lack.
 */
#define SQ_SCHEMA_VERSION 5
#define SQ_STRINGIFY(x) #x
#define SQ_TEXT(x) SQ_STRINGIFY(x) /* the version as written in SQL, from the one number */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS tasks("
	" id TEXT PRIMARY KEY, state INTEGER NOT NULL, resume_state INTEGER NOT NULL DEFAULT -1,"
	" stage TEXT NOT NULL DEFAULT '', last_stage TEXT NOT NULL DEFAULT '',"
	" owner_pid INTEGER NOT NULL DEFAULT 0, owner_start INTEGER NOT NULL DEFAULT 0,"
	" owner_boot TEXT NOT NULL DEFAULT '', stage_started TEXT NOT NULL DEFAULT '',"
	" stage_started_ms INTEGER NOT NULL DEFAULT 0,"
	" created_at TEXT NOT NULL, updated_at TEXT NOT NULL, spec_path TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state, updated_at);"
	"CREATE INDEX IF NOT EXISTS tasks_updated ON tasks(updated_at);"
	"CREATE TABLE IF NOT EXISTS states("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, from_state INTEGER,"
	" to_state INTEGER NOT NULL, stage TEXT, reason TEXT, at TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS states_task ON states(task_id);"
	"CREATE TABLE IF NOT EXISTS stages("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, stage TEXT NOT NULL,"
	" result TEXT NOT NULL, seconds REAL NOT NULL, at TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS runs("
	" task_id TEXT NOT NULL, run INTEGER NOT NULL, tests INTEGER, passed INTEGER, failed INTEGER,"
	" errors INTEGER, skipped INTEGER, time REAL, completed_at TEXT, PRIMARY KEY(task_id, run));"
	/* the queue: small and hot (a row leaves when its task is completed) */
	"CREATE TABLE IF NOT EXISTS queue("
	" task_id TEXT PRIMARY KEY, profile TEXT NOT NULL DEFAULT '', schema TEXT NOT NULL DEFAULT '',"
	" submitted_at TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',"
	" lease_until INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS queue_owner ON queue(owner);"
	"CREATE TABLE IF NOT EXISTS claims("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL,"
	" claimed_ms INTEGER NOT NULL, until_ms INTEGER NOT NULL, ended_ms INTEGER, how TEXT NOT NULL DEFAULT 'held');"
	"CREATE INDEX IF NOT EXISTS claims_task ON claims(task_id);"
	/* the worker registry (one row per worker id) and cancel requests for tasks a worker holds */
	"CREATE TABLE IF NOT EXISTS workers("
	" id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, jobs INTEGER NOT NULL,"
	" lease_ms INTEGER NOT NULL, running INTEGER NOT NULL, claimed INTEGER NOT NULL,"
	" completed INTEGER NOT NULL, expiries INTEGER NOT NULL, stopped INTEGER NOT NULL,"
	" started_ms INTEGER NOT NULL, beat_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS cancels("
	" task_id TEXT PRIMARY KEY, reason TEXT NOT NULL DEFAULT '', at_ms INTEGER NOT NULL);"
	/* small record documents (task.json, the latest run's summary and JUnit), by task and name */
	"CREATE TABLE IF NOT EXISTS documents("
	" task_id TEXT NOT NULL, name TEXT NOT NULL, body BLOB NOT NULL, updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY(task_id, name));"
	/* runner-pool host slots (one row a placement) and cool-downs, shared by the processes on this file */
	"CREATE TABLE IF NOT EXISTS host_slots("
	" holder TEXT PRIMARY KEY, pool TEXT NOT NULL, member TEXT NOT NULL, owner TEXT NOT NULL,"
	" task_id TEXT NOT NULL, lease_owner TEXT NOT NULL DEFAULT '', until_ms INTEGER NOT NULL, taken_ms INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS host_slots_pool ON host_slots(pool, member);"
	"CREATE TABLE IF NOT EXISTS host_cools("
	" pool TEXT NOT NULL, member TEXT NOT NULL, until_ms INTEGER NOT NULL, PRIMARY KEY(pool, member));"
	"PRAGMA user_version = " SQ_TEXT(SQ_SCHEMA_VERSION) ";";

/* The store's clock, in ms since the epoch: the database's, so every worker measures leases alike. */
#define NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"

static int sq_err(sq *s, int rc, const char *what)
{
	int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? DEVSYS_EBUSY
	         : rc == SQLITE_FULL                          ? DEVSYS_ENOSPC
	         : rc == SQLITE_READONLY || rc == SQLITE_PERM ? DEVSYS_EACCESS
	                                                      : DEVSYS_EIO;
	return devsys__error_set(code, "task store: %s: %s%s", what, s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
	                         code == DEVSYS_EBUSY ? " (another process holds the database; retry)" : "");
}

/*
 * sqlite3_busy_timeout()'s schedule of waits, counted: SQLite keeps no
 * count of how often a writer found the database locked, and /metrics and
 * the contention benchmark report it. SQLite calls this with the
 * connection's mutex held, so the count needs no lock of its own.
 */
static int sq_busy(void *arg, int n)
{
	static const int delays[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 };
	const int ndelays = (int)(sizeof(delays) / sizeof(delays[0]));
	sq *s = arg;
	long long waited = 0;
	int ms = n < ndelays ? delays[n] : 100;
	for (int i = 0; i < n && i < ndelays; i++)
		waited += delays[i];
	if (n > ndelays)
		waited += (long long)(n - ndelays) * 100;
	if (waited >= (long long)s->busy_ms)
		return 0;
	if (waited + ms > (long long)s->busy_ms)
		ms = (int)((long long)s->busy_ms - waited);
	s->busy_retries++;
	sqlite3_sleep(ms);
	return 1;
}

/* The file's schema version (PRAGMA user_version) into *@p version. */
static int schema_version(sq *s, int *version)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version;", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int newer_schema(const char *path, int version)
{
	return devsys__error_set(DEVSYS_EVERSION,
	                         "task store %s: the database has schema version %d, newer than this libdevsys knows "
	                         "(%d); nothing was written: use a newer libdevsys with this workspace",
	                         path, version, SQ_SCHEMA_VERSION);
}

/*
 * Ready the file: refuse one of a newer schema before anything is written
 * to it (even journal_mode writes its header), set the connection's
 * pragmas, and create the tables a file at an older version lacks. A file
 * already at this version is left alone, without the write lock: every
 * process and thread that opens the store would otherwise queue for the
 * lock behind the writers, and on a busy workspace an open could time out.
 */
static int sq_ready(sq *s, const char *path, char **err)
{
	int version, rc;
	if ((rc = schema_version(s, &version)) != SQLITE_OK)
		return rc;
	if (version > SQ_SCHEMA_VERSION)
		return newer_schema(path, version);
	if ((rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL,
	                       NULL, err)) != SQLITE_OK)
		return rc;
	if (version == SQ_SCHEMA_VERSION)
		return SQLITE_OK;
	if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE;", NULL, NULL, err)) != SQLITE_OK)
		return rc;
	/* another opener may have readied it, at this version or a newer one, while this one waited */
	if ((rc = schema_version(s, &version)) == SQLITE_OK && version > SQ_SCHEMA_VERSION)
		rc = newer_schema(path, version);
	if (rc == SQLITE_OK && version < SQ_SCHEMA_VERSION)
		rc = sqlite3_exec(s->db, schema, NULL, NULL, err);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT;", NULL, NULL, err);
	if (rc != SQLITE_OK)
		sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
	return rc;
}

static int sq_open(void **self, const char *ws, unsigned int busy_ms)
{
	sq *s = devsys__calloc(1, sizeof(*s));
	char *path;
	char *err = NULL;
	int rc;
	if (!s)
		return devsys__error_oom();
	if (!(path = devsys__asprintf("%s/devsys.db", ws))) {
		devsys__free(s);
		return devsys__error_oom();
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	s->busy_ms = busy_ms;
	sqlite3_busy_handler(s->db, sq_busy, s);
	sqlite3_extended_result_codes(s->db, 0);
	if ((rc = sq_ready(s, path, &err)) != SQLITE_OK)
		goto fail;
	devsys__free(path);
	*self = s;
	return 0;
fail:
	if (rc > 0) /* SQLite's code; a negative one was set with its message */
		rc = sq_err(s, rc, "cannot open devsys.db");
	devsys__free(path);
	sqlite3_free(err);
	sqlite3_close(s->db);
	devsys__free(s);
	return rc;
}

static void sq_close(void *self)
{
	sq *s = self;
	if (!s)
		return;
	sqlite3_close(s->db);
	devsys__free(s);
}

static int sq_exec(sq *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_err(s, rc, sql);
}

static int sq_begin(void *self)
{
	return sq_exec(self, "BEGIN IMMEDIATE;");
}

static int sq_commit(void *self)
{
	return sq_exec(self, "COMMIT;");
}

static void sq_rollback(void *self)
{
	sq *s = self;
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
}

static int prep(sq *s, sqlite3_stmt **st, const char *sql)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? 0 : sq_err(s, rc, "cannot prepare a statement");
}

static void text_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

#define TASK_COLS                                                                                          \
	"id, state, resume_state, stage, last_stage, owner_pid, owner_start, owner_boot, stage_started, " \
	"stage_started_ms, created_at, updated_at, spec_path"

static void row_from(sqlite3_stmt *st, devsys__task_row *r)
{
	memset(r, 0, sizeof(*r));
	text_col(st, 0, r->id, sizeof(r->id));
	r->state = sqlite3_column_int(st, 1);
	r->resume_state = sqlite3_column_int(st, 2);
	text_col(st, 3, r->stage, sizeof(r->stage));
	text_col(st, 4, r->last_stage, sizeof(r->last_stage));
	r->owner_pid = sqlite3_column_int64(st, 5);
	r->owner_start = sqlite3_column_int64(st, 6);
	text_col(st, 7, r->owner_boot, sizeof(r->owner_boot));
	text_col(st, 8, r->stage_started, sizeof(r->stage_started));
	r->stage_started_ms = sqlite3_column_int64(st, 9);
	text_col(st, 10, r->created_at, sizeof(r->created_at));
	text_col(st, 11, r->updated_at, sizeof(r->updated_at));
	text_col(st, 12, r->spec_path, sizeof(r->spec_path));
}

static void bind_row(sqlite3_stmt *st, const devsys__task_row *r)
{
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, r->state);
	sqlite3_bind_int(st, 3, r->resume_state);
	sqlite3_bind_text(st, 4, r->stage, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, r->last_stage, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, r->owner_pid);
	sqlite3_bind_int64(st, 7, r->owner_start);
	sqlite3_bind_text(st, 8, r->owner_boot, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, r->stage_started, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 10, r->stage_started_ms);
	sqlite3_bind_text(st, 11, r->created_at, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 12, r->updated_at, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 13, r->spec_path, -1, SQLITE_TRANSIENT);
}

static int step_done(sq *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT)
		return devsys__error_set(DEVSYS_EEXISTS, "task store: %s: the row exists already", what);
	return sq_err(s, rc, what);
}

static int sq_task_insert(void *self, const devsys__task_row *r)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "INSERT INTO tasks(" TASK_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)")) < 0)
		return rc;
	bind_row(st, r);
	return step_done(s, st, "insert task");
}

static int sq_task_update(void *self, const devsys__task_row *r)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "UPDATE tasks SET id=?1, state=?2, resume_state=?3, stage=?4, last_stage=?5, owner_pid=?6, "
	               "owner_start=?7, owner_boot=?8, stage_started=?9, stage_started_ms=?10, created_at=?11, "
	               "updated_at=?12, spec_path=?13 WHERE id=?1")) < 0)
		return rc;
	bind_row(st, r);
	return step_done(s, st, "update task");
}

static int sq_task_get(void *self, const char *id, devsys__task_row *r)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "SELECT " TASK_COLS " FROM tasks WHERE id=?")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_from(st, r);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = DEVSYS_ENOTFOUND;
	else
		rc = sq_err(s, rc, "read task");
	sqlite3_finalize(st);
	return rc;
}

static int sq_task_list(void *self, int state, size_t offset, size_t limit, devsys__task_row_cb cb, void *payload,
                        size_t *total)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	const char *where = state >= 0 ? " WHERE state=?1" : " WHERE ?1 < 0";
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM tasks%s", where);
	if ((rc = prep(s, &st, sql)) < 0)
		return rc;
	sqlite3_bind_int(st, 1, state);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return sq_err(s, rc, "count tasks");
	}
	*total = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "SELECT " TASK_COLS " FROM tasks%s ORDER BY updated_at DESC, id LIMIT ?2 OFFSET ?3",
	         where);
	if ((rc = prep(s, &st, sql)) < 0)
		return rc;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		devsys__task_row r;
		row_from(st, &r);
		if (cb(&r, payload) != 0) {
			sqlite3_finalize(st);
			return devsys__error_set(DEVSYS_EUSER, "task list stopped by the callback");
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, "list tasks");
}

static int sq_state_log(void *self, const char *id, int from, int to, const char *stage, const char *reason,
                        const char *at)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "INSERT INTO states(task_id, from_state, to_state, stage, reason, at) VALUES(?,?,?,?,?,?)")) <
	    0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (from >= 0)
		sqlite3_bind_int(st, 2, from);
	sqlite3_bind_int(st, 3, to);
	if (stage)
		sqlite3_bind_text(st, 4, stage, -1, SQLITE_TRANSIENT);
	if (reason)
		sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, at, -1, SQLITE_TRANSIENT);
	return step_done(s, st, "log state");
}

static int sq_stage_log(void *self, const char *id, const char *stage, const char *result, double seconds,
                        const char *at)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "INSERT INTO stages(task_id, stage, result, seconds, at) VALUES(?,?,?,?,?)")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, stage, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, result, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 4, seconds);
	sqlite3_bind_text(st, 5, at, -1, SQLITE_TRANSIENT);
	return step_done(s, st, "log stage");
}

static int sq_run_upsert(void *self, const char *id, const devsys__run_row *r)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "INSERT OR REPLACE INTO runs(task_id, run, tests, passed, failed, errors, skipped, time, "
	               "completed_at) VALUES(?,?,?,?,?,?,?,?,?)")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, r->run);
	sqlite3_bind_int64(st, 3, r->tests);
	sqlite3_bind_int64(st, 4, r->passed);
	sqlite3_bind_int64(st, 5, r->failed);
	sqlite3_bind_int64(st, 6, r->errors);
	sqlite3_bind_int64(st, 7, r->skipped);
	sqlite3_bind_double(st, 8, r->time);
	sqlite3_bind_text(st, 9, r->completed_at, -1, SQLITE_TRANSIENT);
	return step_done(s, st, "record run");
}

static int sq_run_list(void *self, const char *id, devsys__run_row_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "SELECT run, tests, passed, failed, errors, skipped, time, completed_at FROM runs "
	               "WHERE task_id=? ORDER BY run")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		devsys__run_row r;
		memset(&r, 0, sizeof(r));
		r.run = (unsigned int)sqlite3_column_int64(st, 0);
		r.tests = sqlite3_column_int64(st, 1);
		r.passed = sqlite3_column_int64(st, 2);
		r.failed = sqlite3_column_int64(st, 3);
		r.errors = sqlite3_column_int64(st, 4);
		r.skipped = sqlite3_column_int64(st, 5);
		r.time = sqlite3_column_double(st, 6);
		text_col(st, 7, r.completed_at, sizeof(r.completed_at));
		if (cb(&r, payload) != 0)
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_err(s, rc, "list runs");
}

static int sq_count_by_state(void *self, long long counts[], int n)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	for (int i = 0; i < n; i++)
		counts[i] = 0;
	if ((rc = prep(s, &st, "SELECT state, count(*) FROM tasks GROUP BY state")) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int k = sqlite3_column_int(st, 0);
		if (k >= 0 && k < n)
			counts[k] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, "count states");
}

static int sq_stage_stats(void *self, devsys__stat_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "SELECT stage, sum(seconds), count(*) FROM stages GROUP BY stage ORDER BY stage")) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((const char *)sqlite3_column_text(st, 0), sqlite3_column_double(st, 1), sqlite3_column_int64(st, 2),
		   payload);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, "stage stats");
}

/* ---- the queue ---- */

static int sq_queue_insert(void *self, const devsys__queue_row *q)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "INSERT INTO queue(task_id, profile, schema, submitted_at) VALUES(?,?,?,?)")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, q->task_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, q->profile, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, q->schema, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, q->submitted_at, -1, SQLITE_TRANSIENT);
	return step_done(s, st, "queue task");
}

#define QUEUE_COLS "task_id, profile, schema, submitted_at, owner, host, lease_until, " NOW_MS

static void queue_from(sqlite3_stmt *st, devsys__queue_row *q)
{
	memset(q, 0, sizeof(*q));
	text_col(st, 0, q->task_id, sizeof(q->task_id));
	text_col(st, 1, q->profile, sizeof(q->profile));
	text_col(st, 2, q->schema, sizeof(q->schema));
	text_col(st, 3, q->submitted_at, sizeof(q->submitted_at));
	text_col(st, 4, q->owner, sizeof(q->owner));
	text_col(st, 5, q->host, sizeof(q->host));
	q->lease_until_ms = sqlite3_column_int64(st, 6);
	q->now_ms = sqlite3_column_int64(st, 7);
}

static int queue_rows(sq *s, sqlite3_stmt *st, devsys__queue_row_cb cb, void *payload, const char *what)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		devsys__queue_row q;
		queue_from(st, &q);
		if (cb(&q, payload) != 0) {
			sqlite3_finalize(st);
			return devsys__error_set(DEVSYS_EUSER, "%s stopped by the callback", what);
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, what);
}

static int sq_queue_expired(void *self, devsys__queue_row_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "SELECT " QUEUE_COLS " FROM queue WHERE owner <> '' AND lease_until < " NOW_MS)) < 0)
		return rc;
	return queue_rows(s, st, cb, payload, "list expired leases");
}

static int sq_queue_list(void *self, const char *id, devsys__queue_row_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "SELECT " QUEUE_COLS " FROM queue WHERE ?1 IS NULL OR task_id = ?1 ORDER BY rowid")) < 0)
		return rc;
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	return queue_rows(s, st, cb, payload, "list the queue");
}

static int sq_queue_next(void *self, const char *const *profiles, size_t n, devsys__queue_row *q)
{
	sq *s = self;
	sqlite3_stmt *st;
	char sql[1024];
	size_t len;
	int rc;
	if (n > 32)
		return devsys__error_set(DEVSYS_ELIMIT, "a worker serves at most 32 profiles (%zu given)", n);
	len = (size_t)snprintf(sql, sizeof(sql), "SELECT " QUEUE_COLS " FROM queue WHERE owner = ''%s",
	                       n ? " AND profile IN (" : "");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s?", i ? "," : "");
	snprintf(sql + len, sizeof(sql) - len, "%s ORDER BY rowid LIMIT 1", n ? ")" : "");
	if ((rc = prep(s, &st, sql)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		sqlite3_bind_text(st, (int)i + 1, profiles[i] ? profiles[i] : "", -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		queue_from(st, q);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? DEVSYS_ENOTFOUND : sq_err(s, rc, "find a queued task");
	sqlite3_finalize(st);
	return rc;
}

/* Run one statement binding (id, owner, [text or int]); the number of rows it changed, or an error. */
static int sq_change(sq *s, const char *sql, const char *id, const char *owner, const char *text, long long num,
                     const char *what)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, sql)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_TRANSIENT);
	if (text)
		sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 3, num);
	if ((rc = step_done(s, st, what)) < 0)
		return rc;
	return sqlite3_changes(s->db);
}

static int sq_lease_take(void *self, const char *id, const char *owner, const char *host, unsigned int lease_ms)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	/* the condition is the exclusion: a row someone holds is not changed */
	if ((rc = prep(s, &st, "UPDATE queue SET owner = ?2, host = ?3, lease_until = " NOW_MS " + ?4 "
	                       "WHERE task_id = ?1 AND owner = ''")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, lease_ms);
	if ((rc = step_done(s, st, "claim a task")) < 0)
		return rc;
	if (sqlite3_changes(s->db) != 1)
		return 0;
	if ((rc = prep(s, &st, "INSERT INTO claims(task_id, owner, host, claimed_ms, until_ms) "
	                       "SELECT task_id, owner, host, " NOW_MS ", lease_until FROM queue WHERE task_id = ?1")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	return (rc = step_done(s, st, "log a claim")) < 0 ? rc : 1;
}

static int sq_lease_extend(void *self, const char *id, const char *owner, unsigned int lease_ms)
{
	sq *s = self;
	int n = sq_change(s,
	                  "UPDATE queue SET lease_until = " NOW_MS " + ?3 WHERE task_id = ?1 AND owner = ?2 "
	                  "AND lease_until >= " NOW_MS,
	                  id, owner, NULL, lease_ms, "extend a lease");
	if (n <= 0)
		return n;
	n = sq_change(s,
	              "UPDATE claims SET until_ms = " NOW_MS " + ?3 WHERE task_id = ?1 AND owner = ?2 AND ended_ms IS NULL",
	              id, owner, NULL, lease_ms, "log a heartbeat");
	return n < 0 ? n : 1;
}

static int sq_lease_end(void *self, const char *id, const char *owner, const char *how, int remove)
{
	sq *s = self;
	int n = sq_change(s,
	                  remove ? "DELETE FROM queue WHERE task_id = ?1 AND owner = ?2 AND ?3 IS NOT NULL"
	                         : "UPDATE queue SET owner = '', host = '', lease_until = 0 WHERE task_id = ?1 "
	                           "AND owner = ?2 AND ?3 IS NOT NULL",
	                  id, owner, how, 0, "end a lease");
	if (n <= 0)
		return n;
	/* an expired lease ended when it expired, whatever the time of the sweep */
	n = sq_change(s,
	              "UPDATE claims SET how = ?3, ended_ms = CASE WHEN ?3 = 'expired' THEN min(until_ms, " NOW_MS
	              ") ELSE " NOW_MS " END WHERE task_id = ?1 AND owner = ?2 AND ended_ms IS NULL",
	              id, owner, how, 0, "log the end of a lease");
	return n < 0 ? n : 1;
}

static int sq_claim_list(void *self, const char *id, devsys__claim_row_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "SELECT seq, task_id, owner, host, claimed_ms, until_ms, coalesce(ended_ms, 0), how FROM claims "
	               "WHERE ?1 IS NULL OR task_id = ?1 ORDER BY seq")) < 0)
		return rc;
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		devsys__claim_row c;
		memset(&c, 0, sizeof(c));
		c.seq = sqlite3_column_int64(st, 0);
		text_col(st, 1, c.task_id, sizeof(c.task_id));
		text_col(st, 2, c.owner, sizeof(c.owner));
		text_col(st, 3, c.host, sizeof(c.host));
		c.claimed_ms = sqlite3_column_int64(st, 4);
		c.until_ms = sqlite3_column_int64(st, 5);
		c.ended_ms = sqlite3_column_int64(st, 6);
		text_col(st, 7, c.how, sizeof(c.how));
		if (cb(&c, payload) != 0) {
			sqlite3_finalize(st);
			return devsys__error_set(DEVSYS_EUSER, "claim log stopped by the callback");
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, "list claims");
}

static int sq_queue_stats(void *self, devsys__stat_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "SELECT 'queue:free', count(*) FROM queue WHERE owner = '' UNION ALL "
	               "SELECT 'queue:held', count(*) FROM queue WHERE owner <> '' UNION ALL "
	               "SELECT 'claims:' || how, count(*) FROM claims GROUP BY how")) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((const char *)sqlite3_column_text(st, 0), 0, sqlite3_column_int64(st, 1), payload);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sq_err(s, rc, "queue stats");
	cb("store:busy_retries", 0, s->busy_retries, payload); /* this connection's, since it opened */
	return 0;
}

/* ---- the worker registry and cancel requests ---- */

static int sq_worker_beat(void *self, const devsys__worker_row *w)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	/* the first beat's time survives the later ones */
	if ((rc = prep(s, &st,
	               "INSERT INTO workers(id, host, pid, jobs, lease_ms, running, claimed, completed, expiries, stopped,"
	               " started_ms, beat_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10," NOW_MS "," NOW_MS ")"
	               " ON CONFLICT(id) DO UPDATE SET host = ?2, pid = ?3, jobs = ?4, lease_ms = ?5, running = ?6,"
	               " claimed = ?7, completed = ?8, expiries = ?9, stopped = ?10, beat_ms = " NOW_MS ","
	               " started_ms = CASE WHEN workers.pid = ?3 AND workers.host = ?2 THEN workers.started_ms ELSE "
	               NOW_MS " END")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, w->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, w->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, w->pid);
	sqlite3_bind_int64(st, 4, w->jobs);
	sqlite3_bind_int64(st, 5, w->lease_ms);
	sqlite3_bind_int64(st, 6, w->running);
	sqlite3_bind_int64(st, 7, w->claimed);
	sqlite3_bind_int64(st, 8, w->completed);
	sqlite3_bind_int64(st, 9, w->expiries);
	sqlite3_bind_int(st, 10, w->stopped);
	return step_done(s, st, "record a worker's beat");
}

static int sq_worker_list(void *self, devsys__worker_row_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "SELECT id, host, pid, jobs, lease_ms, running, claimed, completed, expiries, stopped, started_ms,"
	               " beat_ms, " NOW_MS " FROM workers ORDER BY started_ms, id")) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		devsys__worker_row w;
		memset(&w, 0, sizeof(w));
		text_col(st, 0, w.id, sizeof(w.id));
		text_col(st, 1, w.host, sizeof(w.host));
		w.pid = sqlite3_column_int64(st, 2);
		w.jobs = (unsigned int)sqlite3_column_int64(st, 3);
		w.lease_ms = (unsigned int)sqlite3_column_int64(st, 4);
		w.running = sqlite3_column_int64(st, 5);
		w.claimed = sqlite3_column_int64(st, 6);
		w.completed = sqlite3_column_int64(st, 7);
		w.expiries = sqlite3_column_int64(st, 8);
		w.stopped = sqlite3_column_int(st, 9);
		w.started_ms = sqlite3_column_int64(st, 10);
		w.beat_ms = sqlite3_column_int64(st, 11);
		w.now_ms = sqlite3_column_int64(st, 12);
		if (cb(&w, payload) != 0) {
			sqlite3_finalize(st);
			return devsys__error_set(DEVSYS_EUSER, "worker list stopped by the callback");
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, "list workers");
}

static int sq_cancel_set(void *self, const char *id, const char *reason)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "INSERT OR REPLACE INTO cancels(task_id, reason, at_ms) SELECT task_id, ?2, " NOW_MS
	               " FROM queue WHERE task_id = ?1")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
	if ((rc = step_done(s, st, "request a cancel")) < 0)
		return rc;
	return sqlite3_changes(s->db) > 0;
}

static int sq_cancel_get(void *self, const char *id, char *reason, size_t size)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "SELECT reason FROM cancels WHERE task_id = ?1")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (reason && size)
			text_col(st, 0, reason, size);
		rc = 1;
	} else
		rc = rc == SQLITE_DONE ? 0 : sq_err(s, rc, "read a cancel request");
	sqlite3_finalize(st);
	return rc;
}

static int sq_cancel_clear(void *self, const char *id)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "DELETE FROM cancels WHERE task_id = ?1")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	return step_done(s, st, "clear a cancel request");
}

/* ---- record documents ---- */

static int sq_doc_put(void *self, const char *id, const char *name, const char *body, size_t len)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "INSERT OR REPLACE INTO documents(task_id, name, body, updated_ms) VALUES(?,?,?," NOW_MS ")")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob64(st, 3, body, (sqlite3_uint64)len, SQLITE_TRANSIENT);
	return step_done(s, st, "keep a record document");
}

static int sq_doc_get(void *self, const char *id, const char *name, devsys_buf *out)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, "SELECT body FROM documents WHERE task_id = ? AND name = ?")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		devsys_buf_clear(out);
		rc = n && devsys_buf_put(out, (const char *)sqlite3_column_blob(st, 0), n) < 0 ? DEVSYS_ENOMEM : 0;
	} else
		rc = rc == SQLITE_DONE ? DEVSYS_ENOTFOUND : sq_err(s, rc, "read a record document");
	sqlite3_finalize(st);
	return rc;
}

/* ---- runner-pool host slots and cool-downs ---- */

/* A slot tied to a lease lives while its owner holds the task's unexpired lease; any other, until its own expiry. */
#define SLOT_LIVE                                                                                                   \
	"(CASE WHEN lease_owner = '' THEN until_ms >= " NOW_MS " ELSE EXISTS (SELECT 1 FROM queue q WHERE "            \
	"q.task_id = host_slots.task_id AND q.owner = host_slots.lease_owner AND q.lease_until >= " NOW_MS ") END)"

/* Run @p sql binding ?1 @p a, ?2 @p b and ?3 @p num where it has them; the rows it changed, or an error. */
static int sq_slot_change(sq *s, const char *sql, const char *a, const char *b, long long num, const char *what)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st, sql)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, num);
	if ((rc = step_done(s, st, what)) < 0)
		return rc;
	return sqlite3_changes(s->db);
}

/* BEGIN IMMEDIATE already excludes every other writer: the scan needs no lock of its own. */
static int sq_slot_scan(void *self, const char *pool, devsys__slot_use_cb cb, void *payload)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq_slot_change(s, "DELETE FROM host_slots WHERE pool = ?1 AND NOT " SLOT_LIVE, pool,
	                         NULL, 0, "drop dead host slots")) < 0 ||
	    (rc = sq_slot_change(s, "DELETE FROM host_cools WHERE pool = ?1 AND until_ms <= " NOW_MS, pool,
	                         NULL, 0, "drop past cool-downs")) < 0)
		return rc;
	if ((rc = prep(s, &st,
	               "SELECT member, count(*), 0 FROM host_slots WHERE pool = ?1 GROUP BY member UNION ALL "
	               "SELECT member, 0, until_ms - " NOW_MS " FROM host_cools WHERE pool = ?1")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, pool, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);
		if (cb(m ? m : "", (unsigned int)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), payload) != 0) {
			sqlite3_finalize(st);
			return devsys__error_set(DEVSYS_EUSER, "host slots stopped by the callback");
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, "list host slots");
}

static int sq_slot_take(void *self, const devsys__slot_row *r)
{
	sq *s = self;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, &st,
	               "INSERT INTO host_slots(holder, pool, member, owner, task_id, lease_owner, until_ms, taken_ms) "
	               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, " NOW_MS " + ?7, " NOW_MS ")")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, r->holder, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, r->member, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, r->owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, r->task_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, r->lease_owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, r->ttl_ms);
	return step_done(s, st, "take a host slot");
}

static int sq_slot_renew(void *self, const char *holder, unsigned int ttl_ms)
{
	return sq_slot_change(self, "UPDATE host_slots SET until_ms = " NOW_MS " + ?3 WHERE holder = ?1", holder, NULL,
	                      ttl_ms, "renew a host slot");
}

static int sq_slot_release(void *self, const char *holder)
{
	return sq_slot_change(self, "DELETE FROM host_slots WHERE holder = ?1", holder, NULL, 0,
	                      "release a host slot");
}

static int sq_cool_set(void *self, const char *pool, const char *member, unsigned int ms)
{
	int n = sq_slot_change(self,
	                       "INSERT INTO host_cools(pool, member, until_ms) VALUES(?1, ?2, " NOW_MS " + ?3) "
	                       "ON CONFLICT(pool, member) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
	                       pool, member, ms, "cool a host down");
	return n < 0 ? n : 0;
}

const devsys__store_backend devsys__store_sqlite = {
	"sqlite",         sq_open,       sq_close,      sq_begin,        sq_commit,     sq_rollback,
	sq_task_insert,   sq_task_get,   sq_task_update, sq_task_list,   sq_state_log,  sq_stage_log,
	sq_run_upsert,    sq_run_list,   sq_count_by_state, sq_stage_stats,
	0u, /* one host: the pid/boot-id owner check holds */
	sq_queue_insert,  sq_queue_expired, sq_queue_next, sq_lease_take, sq_lease_extend, sq_lease_end,
	sq_queue_list,    sq_claim_list, sq_queue_stats,
	sq_worker_beat,   sq_worker_list, sq_cancel_set, sq_cancel_get, sq_cancel_clear,
	NULL, /* open_url: kept in the workspace, open() opens it */
	NULL, /* wait_work: nothing signals new work; workers poll */
	sq_doc_put,       sq_doc_get,
	sq_slot_scan,     sq_slot_take,  sq_slot_renew, sq_slot_release, sq_cool_set,
	NULL, NULL, NULL, /* claim_one, complete_one, extend_one: one writer; the store takes the steps */
	NULL,             /* claim_open: SQLite keeps no documents */
	NULL,             /* doc_get_changed: nor their versions */
};
