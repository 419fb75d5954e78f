/*
 * The PostgreSQL backend of the task store (libpq), for several hosts
 * sharing one queue. The same rows as sqlite.c, with these differences:
 *
 * - Exclusion: a transaction locks the rows it reads for writing (task
 *   rows FOR UPDATE; queue rows FOR UPDATE SKIP LOCKED, so a claim never
 *   waits for another worker's claim), instead of SQLite's one writer.
 * - Leases are measured on the server's clock (clock_timestamp()), never a
 *   worker's, so hosts with skewed clocks agree on who holds what.
 * - The schema is migrated on open under an advisory lock; a database of a
 *   newer schema than this library knows is refused before anything is written.
 * - A connection lost to a server restart is re-established (PQreset) at the
 *   next transaction, waiting up to the busy timeout for the server to return;
 *   the store retries a transaction whose connection broke once, but only
 *   once it knows the lost write did not take effect: a lost COMMIT answer
 *   is resolved by the transaction's id (pg_xact_status), a lost claim by
 *   its token in the claim log, a lost complete by its claim log row.
 * - A claim and its state change's documents commit together (claim_open):
 *   the claim is answered in libpq's pipeline mode before anything commits,
 *   and the documents' upsert goes with the Sync that commits it.
 * - LISTEN/NOTIFY wakes idle workers when a task is queued or handed back.
 * - Transactions stay short and idle-in-transaction sessions are ended by the
 *   server, so vacuum keeps the hot queue table small.
 */
#include "store/backend.h"
#include "devsys/secrets.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* The schema versions this library knows; a database at a higher one is refused. */
#define SCHEMA_VERSION 6
/* The advisory lock key migrations run under ("devsys\0\1"). */
#define MIGRATE_LOCK "7234315361306492929"
#define CHANNEL "devsys_queue"

/* The store's clock, in ms since the epoch: the server's, so every worker measures leases alike. */
#define NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

typedef struct pgs {
	PGconn *conn;
	PGconn *listen;            /* LISTEN connection for wait_work, made on first use */
	pthread_mutex_t listen_lock;
	char *url;                 /* as given: it holds no password (refused on open) */
	char *password;            /* from the secrets set, or NULL (libpq reads PGPASSFILE / ~/.pgpass) */
	unsigned int busy_ms;
	int in_txn;
	unsigned int prepared;     /* bit per PREP_*: prepared on this connection (a reconnect forgets them) */
	/*
	 * This session's backend (pid and start, in us), so that after a lost
	 * answer the store can wait for it to end before it asks what the lost
	 * write did (settle), and the open transaction's id, taken with its
	 * BEGIN (an answer to COMMIT that is lost leaves the outcome to ask for).
	 */
	int pid;
	long long started_us;
	char xid[24];
	/*
	 * The open transaction has run record documents only (the ones a state
	 * change keeps once it committed): whole-document upserts, so should the
	 * connection break, the store reconnects and runs them again, once.
	 */
	int docs_only, replayed;
	/*
	 * BEGIN not sent yet: the transaction has put documents only, kept here,
	 * and sends them at commit as one upsert committed on its own (a state
	 * change's documents: one round trip, not four). Its first other
	 * statement sends BEGIN and the documents first (begin_now).
	 */
	int begin_deferred;
	/*
	 * A claim's implicit transaction is open in libpq's pipeline mode
	 * (claim_open): its statements ran, answered through a flush request,
	 * and nothing commits until commit() sends the documents kept
	 * meanwhile and the Sync; xid names it should that answer be lost.
	 */
	int pipe_open;
	struct kept_doc {
		char *id, *name, *body;
		size_t len;
	} *docs;
	size_t ndocs, cap_docs;
} pgs;

static const char *const migrations[SCHEMA_VERSION] = {
	/* 1: tasks, their state and stage logs, test runs */
	"CREATE TABLE tasks("
	" id text PRIMARY KEY, state integer NOT NULL, resume_state integer NOT NULL DEFAULT -1,"
	" stage text NOT NULL DEFAULT '', last_stage text NOT NULL DEFAULT '',"
	" owner_pid bigint NOT NULL DEFAULT 0, owner_start bigint NOT NULL DEFAULT 0,"
	" owner_boot text NOT NULL DEFAULT '', stage_started text NOT NULL DEFAULT '',"
	" stage_started_ms bigint NOT NULL DEFAULT 0,"
	" created_at text NOT NULL, updated_at text NOT NULL, spec_path text NOT NULL DEFAULT '');"
	"CREATE INDEX tasks_state ON tasks(state, updated_at);"
	"CREATE INDEX tasks_updated ON tasks(updated_at);"
	"CREATE TABLE states(seq bigserial PRIMARY KEY, task_id text NOT NULL, from_state integer,"
	" to_state integer NOT NULL, stage text, reason text, at text NOT NULL);"
	"CREATE INDEX states_task ON states(task_id);"
	"CREATE TABLE stages(seq bigserial PRIMARY KEY, task_id text NOT NULL, stage text NOT NULL,"
	" result text NOT NULL, seconds double precision NOT NULL, at text NOT NULL);"
	"CREATE TABLE runs(task_id text NOT NULL, run bigint NOT NULL, tests bigint, passed bigint, failed bigint,"
	" errors bigint, skipped bigint, time double precision, completed_at text, PRIMARY KEY(task_id, run));",
	/* 2: the queue (small and hot: a row leaves when its task completes) and the append-only claim log */
	"CREATE TABLE queue(seq bigserial NOT NULL, task_id text PRIMARY KEY, profile text NOT NULL DEFAULT '',"
	" schema_id text NOT NULL DEFAULT '', submitted_at text NOT NULL, owner text NOT NULL DEFAULT '',"
	" host text NOT NULL DEFAULT '', lease_until bigint NOT NULL DEFAULT 0)"
	" WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 50);"
	"CREATE INDEX queue_free ON queue(seq) WHERE owner = '';"
	"CREATE INDEX queue_held ON queue(lease_until) WHERE owner <> '';"
	"CREATE TABLE claims(seq bigserial PRIMARY KEY, task_id text NOT NULL, owner text NOT NULL, host text NOT NULL,"
	" claimed_ms bigint NOT NULL, until_ms bigint NOT NULL, ended_ms bigint, how text NOT NULL DEFAULT 'held');"
	"CREATE INDEX claims_task ON claims(task_id, owner) WHERE ended_ms IS NULL;"
	"CREATE INDEX claims_task_all ON claims(task_id);",
	/* 3: the worker registry and cancel requests */
	"CREATE TABLE workers(id text PRIMARY KEY, host text NOT NULL, pid bigint NOT NULL, jobs bigint NOT NULL,"
	" lease_ms bigint NOT NULL, running bigint NOT NULL, claimed bigint NOT NULL, completed bigint NOT NULL,"
	" expiries bigint NOT NULL, stopped integer NOT NULL, started_ms bigint NOT NULL, beat_ms bigint NOT NULL);"
	"CREATE TABLE cancels(task_id text PRIMARY KEY, reason text NOT NULL DEFAULT '', at_ms bigint NOT NULL);",
	/* 4: small record documents (task.json, the latest run's summary and JUnit), by task and name */
	"CREATE TABLE documents(task_id text NOT NULL, name text NOT NULL, body bytea NOT NULL,"
	" updated_ms bigint NOT NULL, PRIMARY KEY(task_id, name));",
	/* 5: runner-pool host slots (one row a placement; small: a row leaves with its runner) and cool-downs */
	"CREATE TABLE host_slots(holder text PRIMARY KEY, pool text NOT NULL, member text NOT NULL, owner text NOT NULL,"
	" task_id text NOT NULL, lease_owner text NOT NULL DEFAULT '', until_ms bigint NOT NULL, taken_ms bigint NOT NULL)"
	" WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 50);"
	"CREATE INDEX host_slots_pool ON host_slots(pool, member);"
	"CREATE TABLE host_cools(pool text NOT NULL, member text NOT NULL, until_ms bigint NOT NULL,"
	" PRIMARY KEY(pool, member));",
	/* 6: each profile's free rows in seq order, so a claim for a profile list is one probe a profile */
	"CREATE INDEX queue_free_profile ON queue(profile, seq) WHERE owner = '';"
	/* and each one-statement claim's random token, so a claim whose answer was lost can be looked up */
	"ALTER TABLE claims ADD COLUMN token bigint;"
	"CREATE INDEX claims_token ON claims(token) WHERE token IS NOT NULL;"
	/*
	 * and no index on held claims by task and owner: claims_task_all finds a
	 * task's few rows as fast, and without an index on ended_ms a complete's
	 * update of its claim row is a HOT update that writes no index entry
	 */
	"DROP INDEX claims_task;",
};

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq's message without its trailing newline (and only its first line: the rest is context). */
static const char *pq_msg(const PGconn *c, const PGresult *res, char *buf, size_t size)
{
	const char *m = res ? PQresultErrorMessage(res) : NULL;
	size_t n;
	if (!m || !m[0])
		m = c ? PQerrorMessage(c) : "out of memory";
	if (!m || !m[0])
		m = "unknown error";
	n = strcspn(m, "\n");
	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), m);
	return buf;
}

static bool lost(const pgs *p)
{
	return PQstatus(p->conn) != CONNECTION_OK;
}

/* Map a failed result to a DEVSYS_E* code and set the error, naming the store and the operation. */
static int pq_err(pgs *p, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[400];
	int code = DEVSYS_EIO;
	pq_msg(p->conn, res, msg, sizeof(msg));
	if (lost(p) || (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))))
		code = DEVSYS_ENETWORK; /* the connection is gone (a restart): the store retries once */
	else if (state && !strcmp(state, "23505"))
		code = DEVSYS_EEXISTS;
	else if (state && (!strcmp(state, "40P01") || !strcmp(state, "40001")))
		code = DEVSYS_ECONFLICT; /* deadlock or serialisation failure: retried once too */
	else if (state && !strcmp(state, "55P03"))
		code = DEVSYS_EBUSY;
	else if (state && !strncmp(state, "53", 2))
		code = DEVSYS_ENOSPC;
	else if (state && !strncmp(state, "42501", 5))
		code = DEVSYS_EACCESS;
	PQclear(res);
	if (code == DEVSYS_EEXISTS)
		return devsys__error_set(code, "task store %s: %s: the row exists already", p->url, what);
	return devsys__error_set(code, "task store %s: %s: %s%s", p->url, what, msg,
	                         code == DEVSYS_EBUSY ? " (another session holds the rows; retry)" : "");
}

/* ---- connections ---- */

static PGconn *connect_to(const pgs *p)
{
	const char *keys[] = { "dbname", "password", "connect_timeout", "application_name", NULL };
	const char *vals[] = { p->url, p->password, "10", "libdevsys", NULL };
	if (!p->password) { /* libpq then looks in PGPASSFILE or ~/.pgpass */
		keys[1] = "connect_timeout";
		vals[1] = "10";
		keys[2] = "application_name";
		vals[2] = "libdevsys";
		keys[3] = NULL;
	}
	return PQconnectdbParams(keys, vals, 1);
}

/* Server notices (and the FATAL of a restart, which comes as one) are not printed: errors say what failed. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * Session settings: lock waits bounded like SQLite's busy timeout; no
 * session idles in a transaction. In the same round trip, this backend's
 * pid and start (settle() tells it from a later one with the same pid).
 */
static int session_setup(pgs *p)
{
	char sql[400];
	PGresult *res;
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	snprintf(sql, sizeof(sql),
	         "SET lock_timeout = %u; SET idle_in_transaction_session_timeout = 60000; SET client_min_messages = warning;"
	         " SELECT pid, (extract(epoch from backend_start) * 1000000)::bigint FROM pg_stat_activity"
	         " WHERE pid = pg_backend_pid()",
	         p->busy_ms);
	res = PQexec(p->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pq_err(p, res, "cannot set up the session");
	p->pid = PQntuples(res) ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	p->started_us = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
	PQclear(res);
	return 0;
}

static int connect_error(pgs *p, PGconn *c)
{
	char msg[400];
	const char *m = pq_msg(c, NULL, msg, sizeof(msg));
	if (strstr(m, "password authentication failed") || strstr(m, "no password supplied") ||
	    strstr(m, "authentication failed"))
		return devsys__error_set(DEVSYS_EAUTH,
		                         "task store %s: the server refused the password: %s (the password comes from the "
		                         "store's password secret, or PGPASSFILE / ~/.pgpass)",
		                         p->url, m);
	return devsys__error_set(DEVSYS_ENETWORK, "task store %s: cannot connect: %s", p->url, m);
}

/*
 * Re-establish a lost connection, waiting up to the busy timeout for the
 * server to come back (a restart). Never inside a transaction the store
 * still thinks open: that transaction is gone with the connection.
 */
static int reconnect(pgs *p)
{
	long long deadline = mono_ms() + (p->busy_ms ? p->busy_ms : 10000);
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	p->in_txn = 0;
	p->prepared = 0; /* a new session has none of the old one's prepared statements */
	for (;;) {
		PQreset(p->conn);
		if (PQstatus(p->conn) == CONNECTION_OK)
			return session_setup(p);
		if (mono_ms() >= deadline)
			return connect_error(p, p->conn);
		nanosleep(&pause, NULL); /* the server is restarting: try again shortly */
	}
}

/*
 * After a lost answer: the old backend ended, so that what it was running
 * has its final outcome (committed or not) before the store asks for it.
 * A backend whose client is gone may still be running the statement, or
 * sit idle in the transaction until idle_in_transaction_session_timeout
 * (its COMMIT never arrived): waiting for it could take a minute, so the
 * store ends it (a session of its own role: allowed), which aborts what
 * had not committed, and polls until it has gone. The pid and start
 * together name it: a pid alone may be a new session's by now.
 */
static int settle(pgs *p, int pid, long long started_us, const char *what)
{
	long long deadline = mono_ms() + (p->busy_ms ? p->busy_ms : 10000);
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	char pids[16], us[24];
	const char *v[2] = { pids, us };
	snprintf(pids, sizeof(pids), "%d", pid);
	snprintf(us, sizeof(us), "%lld", started_us);
	for (;;) {
		PGresult *res = PQexecParams(p->conn,
		                             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1::integer "
		                             "AND (extract(epoch from backend_start) * 1000000)::bigint = $2::bigint",
		                             2, NULL, v, NULL, NULL, 0);
		int left;
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return pq_err(p, res, what);
		left = PQntuples(res);
		PQclear(res);
		if (!left)
			return 0;
		if (mono_ms() >= deadline)
			return devsys__error_set(DEVSYS_EIO,
			                         "task store %s: %s: the answer was lost and the server session that ran it "
			                         "(pid %d) has not ended; the outcome is unknown: check before retrying",
			                         p->url, what, pid);
		nanosleep(&pause, NULL); /* the terminated backend is still exiting */
	}
}

/* reconnect() after a lost answer, then settle() the session that lost it. */
static int reconnect_settled(pgs *p, const char *what)
{
	int pid = p->pid, rc;
	long long started = p->started_us;
	devsys_error_clear();
	if ((rc = reconnect(p)) < 0)
		return rc;
	return pid ? settle(p, pid, started, what) : 0;
}

/*
 * Run one statement with text parameters. Outside a transaction a statement
 * that finds the connection lost reconnects and runs once more.
 */
static int begin_now(pgs *p);
static PGresult *pipe_exec(pgs *p, const char *sql, int n, const char *const *vals, int binary);

static int run(pgs *p, PGresult **out, const char *sql, int n, const char *const *vals, const char *what)
{
	int brc;
	if (out)
		*out = NULL;
	if ((brc = begin_now(p)) < 0)
		return brc;
	if (p->pipe_open) { /* a statement of the open claim's transaction (claim_open) */
		PGresult *res = pipe_exec(p, sql, n, vals, 0);
		ExecStatusType s = PQresultStatus(res);
		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
			return pq_err(p, res, what);
		if (out)
			*out = res;
		else
			PQclear(res);
		return 0;
	}
	if (p->in_txn)
		p->docs_only = 0;
	for (int attempt = 0;; attempt++) {
		/* without parameters the simple protocol, which also runs a migration's several statements */
		PGresult *res = n ? PQexecParams(p->conn, sql, n, NULL, vals, NULL, NULL, 0) : PQexec(p->conn, sql);
		ExecStatusType s = PQresultStatus(res);
		int rc;
		if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
			if (out)
				*out = res;
			else
				PQclear(res);
			return 0;
		}
		if (attempt == 0 && !p->in_txn && lost(p)) {
			PQclear(res);
			if ((rc = reconnect(p)) < 0)
				return rc;
			continue;
		}
		return pq_err(p, res, what);
	}
}

/*
 * The hot statements of a claim, a complete and a heartbeat, prepared once
 * per connection: after the first call each is one round trip that the
 * server neither parses nor plans again.
 */
enum { PREP_CLAIM, PREP_CLAIM_PROFILES, PREP_COMPLETE, PREP_EXTEND, PREP_DOCS1, PREP_DOCS4 = PREP_DOCS1 + 3, PREP_COUNT };
static const char *const prep_names[PREP_COUNT] = { "devsys_claim", "devsys_claim_profiles", "devsys_complete",
	                                            "devsys_extend", "devsys_docs1", "devsys_docs2", "devsys_docs3",
	                                            "devsys_docs4" };

/*
 * run() for statement @p k of prep_names, prepared from @p sql on first use
 * on this connection. Outside a transaction a lost connection is made again
 * and the statement run once more only when @p rerun says it ends the same
 * run twice; else the caller learns what the lost one did (DEVSYS_ENETWORK,
 * the connection left lost).
 */
static int run_prepared(pgs *p, PGresult **out, int k, const char *sql, int n, const char *const *vals, int rerun,
                        const char *what)
{
	int brc = begin_now(p);
	if (brc < 0)
		return brc;
	if (p->pipe_open) /* the hot statements run on their own, never inside a claim's transaction */
		return devsys__error_set(DEVSYS_EBUSY, "task store %s: %s: a claim's transaction is still open", p->url, what);
	if (p->in_txn)
		p->docs_only = 0;
	for (int attempt = 0;; attempt++) {
		PGresult *res = NULL;
		ExecStatusType s;
		int rc;
		if (!(p->prepared & (1u << k))) {
			res = PQprepare(p->conn, prep_names[k], sql, n, NULL);
			if (PQresultStatus(res) == PGRES_COMMAND_OK) {
				PQclear(res);
				res = NULL;
				p->prepared |= 1u << k;
			}
		}
		if (!res)
			res = PQexecPrepared(p->conn, prep_names[k], n, vals, NULL, NULL, 0);
		s = PQresultStatus(res);
		if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
			if (out)
				*out = res;
			else
				PQclear(res);
			return 0;
		}
		if (rerun && attempt == 0 && !p->in_txn && lost(p)) {
			PQclear(res);
			if ((rc = reconnect(p)) < 0)
				return rc;
			continue;
		}
		return pq_err(p, res, what);
	}
}

static long long num(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void text_col(const PGresult *res, int row, int col, char *dst, size_t size)
{
	snprintf(dst, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* ---- open, migrations ---- */

static int schema_version(pgs *p, int *version)
{
	PGresult *res;
	int rc;
	*version = 0;
	if ((rc = run(p, &res, "SELECT to_regclass('devsys_schema') IS NOT NULL", 0, NULL, "read the schema version")) < 0)
		return rc;
	if (PQgetvalue(res, 0, 0)[0] == 't') {
		PQclear(res);
		if ((rc = run(p, &res, "SELECT coalesce(max(version), 0) FROM devsys_schema", 0, NULL,
		              "read the schema version")) < 0)
			return rc;
		*version = (int)num(res, 0, 0);
	}
	PQclear(res);
	return 0;
}

static int migrate_locked(pgs *p)
{
	char v[16];
	const char *vals[1] = { v };
	int version, rc;
	if ((rc = schema_version(p, &version)) < 0)
		return rc;
	if (version > SCHEMA_VERSION)
		return devsys__error_set(DEVSYS_EVERSION,
		                         "task store %s: the database has schema version %d, newer than this libdevsys knows "
		                         "(%d); nothing was written: use a newer libdevsys with this database",
		                         p->url, version, SCHEMA_VERSION);
	if (version == SCHEMA_VERSION)
		return 0;
	if ((rc = run(p, NULL, "BEGIN", 0, NULL, "migrate the schema")) < 0)
		return rc;
	p->in_txn = 1;
	rc = run(p, NULL, "CREATE TABLE IF NOT EXISTS devsys_schema(version integer NOT NULL, applied_at timestamptz NOT "
	                  "NULL DEFAULT now())",
	         0, NULL, "migrate the schema");
	for (int i = version; i < SCHEMA_VERSION && rc == 0; i++) {
		snprintf(v, sizeof(v), "%d", i + 1);
		if ((rc = run(p, NULL, migrations[i], 0, NULL, "migrate the schema")) == 0)
			rc = run(p, NULL, "INSERT INTO devsys_schema(version) VALUES($1)", 1, vals, "migrate the schema");
	}
	if (rc == 0)
		rc = run(p, NULL, "COMMIT", 0, NULL, "migrate the schema");
	else
		PQclear(PQexec(p->conn, "ROLLBACK"));
	p->in_txn = 0;
	return rc;
}

/* Concurrent openers of one fresh database take turns: the second finds the schema made. */
static int migrate(pgs *p)
{
	int rc = run(p, NULL, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", 0, NULL, "lock the schema for migration");
	if (rc < 0)
		return rc;
	rc = migrate_locked(p);
	PQclear(PQexec(p->conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")"));
	return rc;
}

/* The documents a transaction put, forgotten when it ends. */
static void forget_docs(pgs *p)
{
	for (size_t i = 0; i < p->ndocs; i++) {
		devsys__free(p->docs[i].id);
		devsys__free(p->docs[i].name);
		devsys__free(p->docs[i].body);
	}
	p->ndocs = 0;
	p->docs_only = 0;
	p->begin_deferred = 0;
	p->xid[0] = '\0';
}

static void pg_close(void *self)
{
	pgs *p = self;
	if (!p)
		return;
	forget_docs(p);
	devsys__free(p->docs);
	PQfinish(p->conn);
	PQfinish(p->listen);
	pthread_mutex_destroy(&p->listen_lock);
	if (p->password) {
		explicit_bzero(p->password, strlen(p->password));
		devsys__free(p->password);
	}
	devsys__free(p->url);
	devsys__free(p);
}

static int pg_open_url(void **self, const char *url, devsys_secrets *secrets, const char *password_secret,
                       unsigned int busy_ms)
{
	pgs *p = devsys__calloc(1, sizeof(*p));
	int rc;
	*self = NULL;
	if (!p)
		return devsys__error_oom();
	pthread_mutex_init(&p->listen_lock, NULL);
	p->busy_ms = busy_ms;
	if (!(p->url = devsys__strdup(url))) {
		pg_close(p);
		return devsys__error_oom();
	}
	if (password_secret && password_secret[0]) {
		const char *value = NULL;
		if (!secrets) {
			pg_close(p);
			return devsys__error_set(DEVSYS_EINVAL, "task store %s: password secret '%.64s' named but no secrets set "
			                                        "given",
			                         url, password_secret);
		}
		if ((rc = devsys_secrets_resolve(secrets, password_secret, NULL, "store", &value, NULL)) < 0 ||
		    !(p->password = devsys__strdup(value))) {
			pg_close(p);
			return rc < 0 ? rc : devsys__error_oom();
		}
	}
	p->conn = connect_to(p);
	if (!p->conn) {
		pg_close(p);
		return devsys__error_oom();
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		rc = connect_error(p, p->conn);
		pg_close(p);
		return rc;
	}
	if ((rc = session_setup(p)) < 0 || (rc = migrate(p)) < 0) {
		pg_close(p);
		return rc;
	}
	*self = p;
	return 0;
}

/* The workspace-path open of the table: a PostgreSQL store is named by a URL. */
static int pg_open(void **self, const char *ws, unsigned int busy_ms)
{
	(void)busy_ms;
	*self = NULL;
	return devsys__error_set(DEVSYS_EINVAL,
	                         "task store: the postgresql backend opens a postgresql:// URL, not workspace %s", ws);
}

/* ---- transactions ---- */

static int pg_begin(void *self)
{
	pgs *p = self;
	int rc;
	if (p->pipe_open)
		return devsys__error_set(DEVSYS_EBUSY, "task store %s: a claim's transaction is still open", p->url);
	p->in_txn = 0;
	forget_docs(p);
	if (lost(p) && (rc = reconnect(p)) < 0)
		return rc;
	p->in_txn = 1;
	p->docs_only = 1;
	p->replayed = 0;
	p->begin_deferred = 1; /* sent with the first statement that is not a document's (begin_now) */
	return 0;
}

static PGresult *doc_exec(pgs *p, const char *id, const char *name, const char *body, size_t len);

/*
 * The transaction's BEGIN, when it was deferred, and the documents it kept
 * meanwhile: before any other statement of the transaction, so that
 * statement sees them, as it would have without the deferral.
 */
static int begin_now(pgs *p)
{
	PGresult *res;
	int rc;
	if (!p->begin_deferred)
		return 0;
	p->begin_deferred = 0;
	p->in_txn = 0; /* nothing was sent yet: BEGIN may reconnect once (run) */
	/*
	 * The transaction's id in the same round trip (the last result is the
	 * SELECT's): should COMMIT's answer be lost, pg_commit asks the server
	 * what became of it (commit_outcome). A read-only transaction so gets
	 * an id too; the store's transactions write.
	 */
	if ((rc = run(p, &res, "BEGIN; SELECT pg_current_xact_id()", 0, NULL, "begin a transaction")) < 0) {
		forget_docs(p);
		return rc;
	}
	text_col(res, 0, 0, p->xid, sizeof(p->xid));
	PQclear(res);
	p->in_txn = 1;
	for (size_t i = 0; i < p->ndocs && rc == 0; i++) {
		res = doc_exec(p, p->docs[i].id, p->docs[i].name, p->docs[i].body, p->docs[i].len);
		rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pq_err(p, res, "keep a record document");
		if (rc == 0)
			PQclear(res);
	}
	return rc;
}

static int replay_docs(pgs *p);

static int put_kept_docs(pgs *p);

/*
 * COMMIT's answer was lost: the transaction @p xid may have committed. Ask
 * the server, once the session that sent it has ended (settle): committed
 * is success, and the caller goes on as after a commit; aborted is the lost
 * connection's error, so the store may run the transaction again; anything
 * else (too old to know) is an error saying so, never a silent rerun.
 */
static int commit_outcome(pgs *p, const char *xid)
{
	const char *v[1] = { xid };
	PGresult *res;
	char status[24];
	int rc;
	if ((rc = reconnect_settled(p, "commit")) < 0 ||
	    (rc = run(p, &res, "SELECT pg_xact_status($1::xid8)", 1, v, "learn a lost commit's outcome")) < 0)
		return rc;
	text_col(res, 0, 0, status, sizeof(status));
	PQclear(res);
	if (!strcmp(status, "committed"))
		return 0;
	if (!strcmp(status, "aborted"))
		return devsys__error_set(DEVSYS_ENETWORK,
		                         "task store %s: commit: the connection was lost and the transaction did not commit",
		                         p->url);
	return devsys__error_set(DEVSYS_EIO,
	                         "task store %s: commit: the connection was lost and the outcome of transaction %s is "
	                         "unknown (%s): check the task's state before retrying",
	                         p->url, xid, status[0] ? status : "too old");
}

static int pipe_commit(pgs *p);
static void pipe_rollback(pgs *p);

static int pg_commit(void *self)
{
	pgs *p = self;
	char xid[sizeof(p->xid)];
	int replayable, rc;
	if (p->pipe_open)
		return pipe_commit(p);
	if (p->begin_deferred) { /* documents only, none sent: one upsert of them all, committed on its own */
		p->begin_deferred = 0;
		p->in_txn = 0;
		rc = p->ndocs ? put_kept_docs(p) : 0;
		forget_docs(p);
		return rc;
	}
	replayable = p->docs_only;
	snprintf(xid, sizeof(xid), "%s", p->xid);
	rc = run(p, NULL, "COMMIT", 0, NULL, "commit");
	/*
	 * Documents only: put them again, whether the lost COMMIT took effect or
	 * not the documents end the same; with none put there was nothing to lose.
	 */
	if (rc == DEVSYS_ENETWORK && replayable && (!p->ndocs || !p->replayed)) {
		devsys_error_clear();
		rc = 0;
		if (p->ndocs && (rc = replay_docs(p)) == 0)
			rc = run(p, NULL, "COMMIT", 0, NULL, "commit");
	} else if (rc == DEVSYS_ENETWORK && xid[0]) {
		rc = commit_outcome(p, xid);
	}
	p->in_txn = 0;
	forget_docs(p);
	return rc;
}

static void pg_rollback(void *self)
{
	pgs *p = self;
	if (p->pipe_open) {
		pipe_rollback(p);
		forget_docs(p);
		return;
	}
	if (p->in_txn && !p->begin_deferred && !lost(p))
		PQclear(PQexec(p->conn, "ROLLBACK"));
	p->in_txn = 0;
	forget_docs(p);
}

/* ---- tasks ---- */

#define TASK_COLS                                                                                          \
	"id, state, resume_state, stage, last_stage, owner_pid, owner_start, owner_boot, stage_started, " \
	"stage_started_ms, created_at, updated_at, spec_path"

typedef struct params {
	char nums[6][24];
	const char *v[13];
} params;

static void task_params(params *pa, const devsys__task_row *r)
{
	snprintf(pa->nums[0], sizeof(pa->nums[0]), "%d", r->state);
	snprintf(pa->nums[1], sizeof(pa->nums[1]), "%d", r->resume_state);
	snprintf(pa->nums[2], sizeof(pa->nums[2]), "%lld", r->owner_pid);
	snprintf(pa->nums[3], sizeof(pa->nums[3]), "%lld", r->owner_start);
	snprintf(pa->nums[4], sizeof(pa->nums[4]), "%lld", r->stage_started_ms);
	pa->v[0] = r->id;
	pa->v[1] = pa->nums[0];
	pa->v[2] = pa->nums[1];
	pa->v[3] = r->stage;
	pa->v[4] = r->last_stage;
	pa->v[5] = pa->nums[2];
	pa->v[6] = pa->nums[3];
	pa->v[7] = r->owner_boot;
	pa->v[8] = r->stage_started;
	pa->v[9] = pa->nums[4];
	pa->v[10] = r->created_at;
	pa->v[11] = r->updated_at;
	pa->v[12] = r->spec_path;
}

static void task_from(const PGresult *res, int i, devsys__task_row *r)
{
	memset(r, 0, sizeof(*r));
	text_col(res, i, 0, r->id, sizeof(r->id));
	r->state = (int)num(res, i, 1);
	r->resume_state = (int)num(res, i, 2);
	text_col(res, i, 3, r->stage, sizeof(r->stage));
	text_col(res, i, 4, r->last_stage, sizeof(r->last_stage));
	r->owner_pid = num(res, i, 5);
	r->owner_start = num(res, i, 6);
	text_col(res, i, 7, r->owner_boot, sizeof(r->owner_boot));
	text_col(res, i, 8, r->stage_started, sizeof(r->stage_started));
	r->stage_started_ms = num(res, i, 9);
	text_col(res, i, 10, r->created_at, sizeof(r->created_at));
	text_col(res, i, 11, r->updated_at, sizeof(r->updated_at));
	text_col(res, i, 12, r->spec_path, sizeof(r->spec_path));
}

static int pg_task_insert(void *self, const devsys__task_row *r)
{
	params pa;
	task_params(&pa, r);
	return run(self, NULL, "INSERT INTO tasks(" TASK_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)", 13,
	           pa.v, "insert task");
}

static int pg_task_update(void *self, const devsys__task_row *r)
{
	params pa;
	task_params(&pa, r);
	return run(self, NULL,
	           "UPDATE tasks SET state=$2, resume_state=$3, stage=$4, last_stage=$5, owner_pid=$6, owner_start=$7, "
	           "owner_boot=$8, stage_started=$9, stage_started_ms=$10, created_at=$11, updated_at=$12, spec_path=$13 "
	           "WHERE id=$1",
	           13, pa.v, "update task");
}

/*
 * FOR UPDATE: the row a transaction reads it changes next, and no other
 * session may change it in between. Outside a transaction (a state read)
 * there is nothing to hold: a lock there would only cost the statement a
 * transaction id and a durable commit of its own.
 */
static int pg_task_get(void *self, const char *id, devsys__task_row *r)
{
	PGresult *res;
	const char *v[1] = { id };
	int rc = run(self, &res,
	             ((pgs *)self)->in_txn ? "SELECT " TASK_COLS " FROM tasks WHERE id=$1 FOR UPDATE"
	                                   : "SELECT " TASK_COLS " FROM tasks WHERE id=$1",
	             1, v, "read task");
	if (rc < 0)
		return rc;
	rc = PQntuples(res) ? 0 : DEVSYS_ENOTFOUND;
	if (rc == 0)
		task_from(res, 0, r);
	PQclear(res);
	return rc;
}

static int pg_task_list(void *self, int state, size_t offset, size_t limit, devsys__task_row_cb cb, void *payload,
                        size_t *total)
{
	PGresult *res;
	char s[16], lim[24], off[24];
	const char *v[3] = { s, lim, off };
	int rc;
	snprintf(s, sizeof(s), "%d", state);
	snprintf(lim, sizeof(lim), "%zu", limit > (size_t)0x7fffffffffffffffLL ? (size_t)0x7fffffffffffffffLL : limit);
	snprintf(off, sizeof(off), "%zu", offset);
	if ((rc = run(self, &res, "SELECT count(*) FROM tasks WHERE $1::integer < 0 OR state = $1::integer", 1, v,
	              "count tasks")) < 0)
		return rc;
	*total = (size_t)num(res, 0, 0);
	PQclear(res);
	if ((rc = run(self, &res,
	              "SELECT " TASK_COLS " FROM tasks WHERE $1::integer < 0 OR state = $1::integer "
	              "ORDER BY updated_at DESC, id LIMIT $2::bigint OFFSET $3::bigint",
	              3, v, "list tasks")) < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		devsys__task_row r;
		task_from(res, i, &r);
		if (cb(&r, payload) != 0) {
			PQclear(res);
			return devsys__error_set(DEVSYS_EUSER, "task list stopped by the callback");
		}
	}
	PQclear(res);
	return 0;
}

static int pg_state_log(void *self, const char *id, int from, int to, const char *stage, const char *reason,
                        const char *at)
{
	char f[16], t[16];
	const char *v[6] = { id, from >= 0 ? f : NULL, t, stage, reason, at };
	snprintf(f, sizeof(f), "%d", from);
	snprintf(t, sizeof(t), "%d", to);
	return run(self, NULL, "INSERT INTO states(task_id, from_state, to_state, stage, reason, at) VALUES($1,$2,$3,$4,$5,$6)",
	           6, v, "log state");
}

static int pg_stage_log(void *self, const char *id, const char *stage, const char *result, double seconds,
                        const char *at)
{
	char secs[40];
	const char *v[5] = { id, stage, result, secs, at };
	snprintf(secs, sizeof(secs), "%.6f", seconds);
	return run(self, NULL, "INSERT INTO stages(task_id, stage, result, seconds, at) VALUES($1,$2,$3,$4,$5)", 5, v,
	           "log stage");
}

static int pg_run_upsert(void *self, const char *id, const devsys__run_row *r)
{
	char n[7][40];
	const char *v[9] = { id, n[0], n[1], n[2], n[3], n[4], n[5], n[6], r->completed_at };
	snprintf(n[0], sizeof(n[0]), "%u", r->run);
	snprintf(n[1], sizeof(n[1]), "%lld", r->tests);
	snprintf(n[2], sizeof(n[2]), "%lld", r->passed);
	snprintf(n[3], sizeof(n[3]), "%lld", r->failed);
	snprintf(n[4], sizeof(n[4]), "%lld", r->errors);
	snprintf(n[5], sizeof(n[5]), "%lld", r->skipped);
	snprintf(n[6], sizeof(n[6]), "%.6f", r->time);
	return run(self, NULL,
	           "INSERT INTO runs(task_id, run, tests, passed, failed, errors, skipped, time, completed_at) "
	           "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (task_id, run) DO UPDATE SET tests = EXCLUDED.tests, "
	           "passed = EXCLUDED.passed, failed = EXCLUDED.failed, errors = EXCLUDED.errors, skipped = EXCLUDED.skipped, "
	           "time = EXCLUDED.time, completed_at = EXCLUDED.completed_at",
	           9, v, "record run");
}

static int pg_run_list(void *self, const char *id, devsys__run_row_cb cb, void *payload)
{
	PGresult *res;
	const char *v[1] = { id };
	int rc = run(self, &res,
	             "SELECT run, tests, passed, failed, errors, skipped, time, completed_at FROM runs WHERE task_id=$1 "
	             "ORDER BY run",
	             1, v, "list runs");
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		devsys__run_row r;
		memset(&r, 0, sizeof(r));
		r.run = (unsigned int)num(res, i, 0);
		r.tests = num(res, i, 1);
		r.passed = num(res, i, 2);
		r.failed = num(res, i, 3);
		r.errors = num(res, i, 4);
		r.skipped = num(res, i, 5);
		r.time = PQgetisnull(res, i, 6) ? 0 : strtod(PQgetvalue(res, i, 6), NULL);
		text_col(res, i, 7, r.completed_at, sizeof(r.completed_at));
		if (cb(&r, payload) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_count_by_state(void *self, long long counts[], int n)
{
	PGresult *res;
	int rc;
	for (int i = 0; i < n; i++)
		counts[i] = 0;
	if ((rc = run(self, &res, "SELECT state, count(*) FROM tasks GROUP BY state", 0, NULL, "count states")) < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		long long k = num(res, i, 0);
		if (k >= 0 && k < n)
			counts[k] = num(res, i, 1);
	}
	PQclear(res);
	return 0;
}

/* Rows of (key, sum, count) to a stat callback. */
static int stat_rows(pgs *p, const char *sql, devsys__stat_cb cb, void *payload, const char *what)
{
	PGresult *res;
	int rc = run(p, &res, sql, 0, NULL, what);
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++)
		cb(PQgetvalue(res, i, 0), strtod(PQgetvalue(res, i, 1), NULL), num(res, i, 2), payload);
	PQclear(res);
	return 0;
}

static int pg_stage_stats(void *self, devsys__stat_cb cb, void *payload)
{
	return stat_rows(self, "SELECT stage, sum(seconds), count(*) FROM stages GROUP BY stage ORDER BY stage", cb, payload,
	                 "stage stats");
}

/* ---- the queue ---- */

static int notify(pgs *p)
{
	return run(p, NULL, "SELECT pg_notify('" CHANNEL "', '')", 0, NULL, "wake idle workers");
}

static int pg_queue_insert(void *self, const devsys__queue_row *q)
{
	const char *v[4] = { q->task_id, q->profile, q->schema, q->submitted_at };
	int rc = run(self, NULL, "INSERT INTO queue(task_id, profile, schema_id, submitted_at) VALUES($1,$2,$3,$4)", 4, v,
	             "queue task");
	return rc < 0 ? rc : notify(self); /* delivered when the transaction commits */
}

#define QUEUE_COLS "task_id, profile, schema_id, submitted_at, owner, host, lease_until, " NOW_MS

static void queue_from(const PGresult *res, int i, devsys__queue_row *q)
{
	memset(q, 0, sizeof(*q));
	text_col(res, i, 0, q->task_id, sizeof(q->task_id));
	text_col(res, i, 1, q->profile, sizeof(q->profile));
	text_col(res, i, 2, q->schema, sizeof(q->schema));
	text_col(res, i, 3, q->submitted_at, sizeof(q->submitted_at));
	text_col(res, i, 4, q->owner, sizeof(q->owner));
	text_col(res, i, 5, q->host, sizeof(q->host));
	q->lease_until_ms = num(res, i, 6);
	q->now_ms = num(res, i, 7);
}

static int queue_rows(pgs *p, const char *sql, int n, const char *const *v, devsys__queue_row_cb cb, void *payload,
                      const char *what)
{
	PGresult *res;
	int rc = run(p, &res, sql, n, v, what);
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		devsys__queue_row q;
		queue_from(res, i, &q);
		if (cb(&q, payload) != 0) {
			PQclear(res);
			return devsys__error_set(DEVSYS_EUSER, "%s stopped by the callback", what);
		}
	}
	PQclear(res);
	return 0;
}

/* SKIP LOCKED: a lease another session is extending or sweeping right now is not this sweep's */
static int pg_queue_expired(void *self, devsys__queue_row_cb cb, void *payload)
{
	return queue_rows(self,
	                  "SELECT " QUEUE_COLS " FROM queue WHERE owner <> '' AND lease_until < " NOW_MS
	                  " ORDER BY seq FOR UPDATE SKIP LOCKED",
	                  0, NULL, cb, payload, "list expired leases");
}

static int pg_queue_list(void *self, const char *id, devsys__queue_row_cb cb, void *payload)
{
	const char *v[1] = { id };
	return queue_rows(self, "SELECT " QUEUE_COLS " FROM queue WHERE $1::text IS NULL OR task_id = $1 ORDER BY seq", 1, v,
	                  cb, payload, "list the queue");
}

/* A text[] literal of @p v ({"a","b"}, each element quoted and escaped) into @p b; n 0: NULL (any). */
static const char *text_array(devsys_buf *b, const char *const *v, size_t n)
{
	if (!n)
		return NULL;
	devsys_buf_puts(b, "{");
	for (size_t i = 0; i < n; i++) {
		devsys_buf_puts(b, i ? ",\"" : "\"");
		for (const char *c = v[i] ? v[i] : ""; *c; c++) {
			if (*c == '"' || *c == '\\')
				devsys_buf_put(b, "\\", 1);
			devsys_buf_put(b, c, 1);
		}
		devsys_buf_puts(b, "\"");
	}
	return devsys_buf_puts(b, "}") < 0 ? "" : b->ptr;
}

/*
 * The oldest free row no other claim is looking at: SKIP LOCKED, so claims
 * never queue behind each other. With profiles, each one's oldest row
 * through queue_free_profile, then the oldest of those (CLAIM_SQL says why
 * the shape must not depend on the planner's statistics).
 */
static int pg_queue_next(void *self, const char *const *profiles, size_t n, devsys__queue_row *q)
{
	devsys_buf list = DEVSYS_BUF_INIT;
	const char *v[1] = { NULL };
	PGresult *res;
	int rc;
	if (n > 32)
		return devsys__error_set(DEVSYS_ELIMIT, "a worker serves at most 32 profiles (%zu given)", n);
	if (n && !(v[0] = text_array(&list, profiles, n))[0]) {
		devsys_buf_dispose(&list);
		return devsys__error_oom();
	}
	rc = n ? run(self, &res,
	             "SELECT f.* FROM (SELECT DISTINCT unnest($1::text[]) AS name) p CROSS JOIN LATERAL (SELECT " QUEUE_COLS
	             ", seq FROM queue WHERE owner = '' AND profile = p.name ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) f "
	             "ORDER BY f.seq LIMIT 1",
	             1, v, "find a queued task")
	       : run(self, &res, "SELECT " QUEUE_COLS " FROM queue WHERE owner = '' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
	             0, NULL, "find a queued task");
	devsys_buf_dispose(&list);
	if (rc < 0)
		return rc;
	rc = PQntuples(res) ? 0 : DEVSYS_ENOTFOUND;
	if (rc == 0)
		queue_from(res, 0, q);
	PQclear(res);
	return rc;
}

/* The count a statement ending in "SELECT count(*) FROM q" returned, or an error. */
static int count_of(pgs *p, const char *sql, int n, const char *const *v, const char *what)
{
	PGresult *res;
	int rc = run(p, &res, sql, n, v, what);
	if (rc < 0)
		return rc;
	rc = (int)num(res, 0, 0);
	PQclear(res);
	return rc;
}

/*
 * The rows of d (free queue rows a claim deleted, in the same statement)
 * inserted again holding the lease of @p owner on @p host for @p ms: a
 * claim moves its row to a new version rather than updating it. Under READ
 * COMMITTED a claim whose snapshot still saw the row free reaches it late
 * in its scan; FOR UPDATE would follow an update to the new version and
 * lock it before finding it held, and keep that lock until its own
 * transaction ends (its folder written, its documents committed): the
 * holder's complete, which deletes the row, then waits for it. A deleted
 * row is passed over and locked by no one (tests/store/pg_claim_lock.c).
 */
#define LEASED_ROW(owner, host, ms)                                                                     \
	"INSERT INTO queue(seq, task_id, profile, schema_id, submitted_at, owner, host, lease_until) "        \
	"SELECT seq, task_id, profile, schema_id, submitted_at, " owner ", " host ", " NOW_MS " + " ms        \
	"::bigint FROM d "

static int pg_lease_take(void *self, const char *id, const char *owner, const char *host, unsigned int lease_ms)
{
	char ms[16];
	const char *v[4] = { id, owner, host, ms };
	snprintf(ms, sizeof(ms), "%u", lease_ms);
	/*
	 * The condition is the exclusion: a row someone holds is not taken; the
	 * row moves to a new version (LEASED_ROW), and the claim is logged in
	 * the same statement.
	 */
	return count_of(self,
	                "WITH d AS (DELETE FROM queue WHERE task_id = $1 AND owner = '' RETURNING queue.*), "
	                "q AS (" LEASED_ROW("$2", "$3", "$4") "RETURNING task_id, owner, host, lease_until), "
	                "c AS (INSERT INTO claims(task_id, owner, host, claimed_ms, until_ms) "
	                "SELECT task_id, owner, host, " NOW_MS ", lease_until FROM q RETURNING 1) "
	                "SELECT count(*) FROM c",
	                4, v, "claim a task");
}

#define EXTEND_SQL                                                                                               \
	"WITH q AS (UPDATE queue SET lease_until = " NOW_MS " + $3::bigint WHERE task_id = $1 AND owner = $2 "         \
	"AND lease_until >= " NOW_MS " RETURNING task_id), "                                                       \
	"c AS (UPDATE claims SET until_ms = " NOW_MS " + $3::bigint WHERE task_id IN (SELECT task_id FROM q) "     \
	"AND owner = $2 AND ended_ms IS NULL RETURNING 1) "                                                          \
	"SELECT count(*) FROM q"

static int pg_lease_extend(void *self, const char *id, const char *owner, unsigned int lease_ms)
{
	char ms[16];
	const char *v[3] = { id, owner, ms };
	PGresult *res;
	int rc;
	snprintf(ms, sizeof(ms), "%u", lease_ms);
	/*
	 * Run again after a lost answer: an extension sets the lease from the
	 * server's clock now, so twice ends as once (a little later).
	 */
	if ((rc = run_prepared(self, &res, PREP_EXTEND, EXTEND_SQL, 3, v, 1, "extend a lease")) < 0)
		return rc;
	rc = (int)num(res, 0, 0);
	PQclear(res);
	return rc;
}

static int pg_lease_end(void *self, const char *id, const char *owner, const char *how, int remove)
{
	const char *v[3] = { id, owner, how };
	/* an expired lease ended when it expired, whatever the time of the sweep */
	int n = count_of(self,
	                 remove ? "WITH q AS (DELETE FROM queue WHERE task_id = $1 AND owner = $2 RETURNING task_id), "
	                          "c AS (UPDATE claims SET how = $3, ended_ms = CASE WHEN $3::text = 'expired' THEN "
	                          "least(until_ms, " NOW_MS ") ELSE " NOW_MS " END WHERE task_id IN (SELECT task_id FROM q) "
	                          "AND owner = $2 AND ended_ms IS NULL RETURNING 1) SELECT count(*) FROM q"
	                        : "WITH q AS (UPDATE queue SET owner = '', host = '', lease_until = 0 WHERE task_id = $1 "
	                          "AND owner = $2 RETURNING task_id), "
	                          "c AS (UPDATE claims SET how = $3, ended_ms = CASE WHEN $3::text = 'expired' THEN "
	                          "least(until_ms, " NOW_MS ") ELSE " NOW_MS " END WHERE task_id IN (SELECT task_id FROM q) "
	                          "AND owner = $2 AND ended_ms IS NULL RETURNING 1) SELECT count(*) FROM q",
	                 3, v, "end a lease");
	if (n > 0 && !remove) { /* free again: wake a worker */
		int rc = notify(self);
		if (rc < 0)
			return rc;
	}
	return n;
}

/* ---- a claim, a complete and a heartbeat in one statement each ---- */

/*
 * The claim in one statement, committed on its own: no lease expired (e),
 * the oldest free row no other session has locked, with its task row
 * locked too (x; SKIP LOCKED, so claims never queue behind each other), of
 * a task that may run, has no cancel request and whose id follows the task
 * id rule (ok: else the full claim drops, cancels or refuses it first, as it
 * would; the caller checks the id again), its lease taken (its row moved
 * to a new version, d and u: LEASED_ROW says why) and logged (c), and the
 * task moved from $5 to $6 with its state log entry (t, s).
 *
 * Each step must cost the same at any queue depth, whatever the planner's
 * statistics say: a queue filled faster than autovacuum analyses it looks
 * nearly empty, and a filter the planner cannot estimate (a NULL-or-list
 * test, a profile list) made it sort every free row and join each to its
 * task, milliseconds a claim at a few thousand queued tasks. So e reads the
 * held rows' earliest lease through its index (min() is always an index
 * probe), x without profiles walks queue_free in seq order, and x with a
 * profile list takes each profile's oldest row through queue_free_profile
 * (one probe a profile) before the oldest of those. A task row another
 * session holds is skipped here; the full claim then looks further.
 *
 * The claims row carries the call's random token ($9), so a claim whose
 * answer was lost can be looked up (claim_lost) instead of run again: a
 * second run would take a second task and leave the first held by a
 * worker that does not know it, until its lease ends.
 */
#define CLAIM_SQL(x)                                                                                             \
	"WITH e AS (SELECT 1 WHERE (SELECT min(lease_until) FROM queue WHERE owner <> '') < " NOW_MS "), " x      \
	"ok AS (SELECT task_id FROM x WHERE NOT (x.state = ANY($4::integer[])) AND NOT EXISTS (SELECT 1 FROM e) "  \
	"AND x.task_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' AND strpos(x.task_id, '..') = 0 "                    \
	"AND NOT EXISTS (SELECT 1 FROM cancels k WHERE k.task_id = x.task_id)), "                                  \
	"d AS (DELETE FROM queue USING ok WHERE queue.task_id = ok.task_id RETURNING queue.*), "                     \
	"u AS (" LEASED_ROW("$1", "$2", "$3") "RETURNING task_id, profile, schema_id, submitted_at, owner, host, "  \
	"lease_until), "                                                                                             \
	"c AS (INSERT INTO claims(task_id, owner, host, claimed_ms, until_ms, token) "                             \
	"SELECT task_id, owner, host, " NOW_MS ", lease_until, $9::bigint FROM u), "                               \
	"t AS (UPDATE tasks SET state = $6::integer, updated_at = $8 FROM u WHERE tasks.id = u.task_id "           \
	"AND tasks.state = $5::integer RETURNING tasks.*), "                                                       \
	"s AS (INSERT INTO states(task_id, from_state, to_state, stage, reason, at) "                              \
	"SELECT id, $5::integer, $6::integer, nullif(stage, ''), $7, $8 FROM t) "                                  \
	"SELECT " TASK_COLS ", u.task_id, u.profile, u.schema_id, u.submitted_at, u.owner, u.host, u.lease_until, " \
	NOW_MS ", t.id IS NOT NULL, pg_current_xact_id() FROM u LEFT JOIN t ON t.id = u.task_id"
#define CLAIM_ANY_X                                                                                            \
	"x AS (SELECT q.task_id, t.state FROM queue q JOIN tasks t ON t.id = q.task_id WHERE q.owner = '' "     \
	"ORDER BY q.seq LIMIT 1 FOR UPDATE OF q, t SKIP LOCKED), "
#define CLAIM_PROFILES_X                                                                                       \
	"x AS (SELECT f.task_id, t.state FROM (SELECT DISTINCT unnest($10::text[]) AS name) p CROSS JOIN LATERAL "\
	"(SELECT q.seq, q.task_id FROM queue q WHERE q.owner = '' AND q.profile = p.name ORDER BY q.seq LIMIT 1 " \
	"FOR UPDATE SKIP LOCKED) f JOIN tasks t ON t.id = f.task_id ORDER BY f.seq LIMIT 1 FOR UPDATE OF t SKIP LOCKED), "

/* A connection the server closed while idle is made again before a statement that commits on its own. */
static int ready(pgs *p)
{
	p->in_txn = 0;
	return lost(p) ? reconnect(p) : 0;
}

/* A random token for a claim (getrandom: another host's or process's counter could give the same). */
static int claim_token(char *out, size_t size)
{
	unsigned long long t;
	if (getrandom(&t, sizeof(t), 0) != (ssize_t)sizeof(t))
		return devsys__error_set(DEVSYS_ESYSTEM, "task store: cannot draw a claim's random token: %s",
		                         strerror(errno));
	snprintf(out, size, "%lld", (long long)(t >> 1)); /* a positive bigint */
	return 0;
}

/*
 * The claim with the token v[8], when it took place (its answer lost): the
 * rows as the claim returns them, read now; moved when its state log entry
 * (its reason and time, v[6] and v[7]) is there. None when its statement did
 * not commit; settle() made sure it never will.
 */
static int claim_lost(pgs *p, PGresult **res, const char *const *cv)
{
	const char *v[3] = { cv[8], cv[6], cv[7] };
	int rc = reconnect_settled(p, "claim a task");
	if (rc < 0)
		return rc;
	return run(p, res,
	           "SELECT " TASK_COLS ", q.task_id, q.profile, q.schema_id, q.submitted_at, q.owner, q.host, q.lease_until, "
	           NOW_MS ", EXISTS (SELECT 1 FROM states s WHERE s.task_id = c.task_id AND s.reason = $2 AND s.at = $3) "
	           "FROM claims c JOIN queue q ON q.task_id = c.task_id AND q.owner = c.owner "
	           "JOIN tasks t ON t.id = c.task_id WHERE c.token = $1::bigint",
	           3, v, "learn a lost claim's outcome");
}

/*
 * The claim statement, and after a lost answer what it did: found, its
 * rows; not found, it did not happen and runs again, once.
 */
static int claim_run(pgs *p, PGresult **res, const devsys__claim_req *req, const char *const *v)
{
	for (int attempt = 0;; attempt++) {
		int rc = req->nprofiles
		                 ? run_prepared(p, res, PREP_CLAIM_PROFILES, CLAIM_SQL(CLAIM_PROFILES_X), 10, v, 0, "claim a task")
		                 : run_prepared(p, res, PREP_CLAIM, CLAIM_SQL(CLAIM_ANY_X), 9, v, 0, "claim a task");
		if (rc != DEVSYS_ENETWORK || !lost(p))
			return rc;
		if ((rc = claim_lost(p, res, v)) < 0 || PQntuples(*res) > 0)
			return rc;
		PQclear(*res);
		if (attempt > 0)
			return devsys__error_set(DEVSYS_ENETWORK,
			                         "task store %s: claim a task: the connection was lost twice; no task was claimed",
			                         p->url);
	}
}

/* The claim statement's parameters, as text. */
typedef struct claim_vals {
	char ms[16], finals[200], from[16], to[16], token[24];
	devsys_buf profiles;
	const char *v[10];
} claim_vals;

static int claim_vals_init(claim_vals *c, const devsys__claim_req *req)
{
	size_t len = 1;
	int rc;
	memset(c, 0, sizeof(*c));
	if ((rc = claim_token(c->token, sizeof(c->token))) < 0)
		return rc;
	snprintf(c->ms, sizeof(c->ms), "%u", req->lease_ms);
	snprintf(c->from, sizeof(c->from), "%d", req->from);
	snprintf(c->to, sizeof(c->to), "%d", req->to);
	c->finals[0] = '{';
	for (int i = 0; i < 32; i++)
		if (req->final_mask & (1u << i))
			len += (size_t)snprintf(c->finals + len, sizeof(c->finals) - len, "%s%d", len > 1 ? "," : "", i);
	snprintf(c->finals + len, sizeof(c->finals) - len, "}");
	c->v[0] = req->owner;
	c->v[1] = req->host;
	c->v[2] = c->ms;
	c->v[3] = c->finals;
	c->v[4] = c->from;
	c->v[5] = c->to;
	c->v[6] = req->reason;
	c->v[7] = req->at;
	c->v[8] = c->token;
	if (req->nprofiles && !(c->v[9] = text_array(&c->profiles, req->profiles, req->nprofiles))[0]) {
		devsys_buf_dispose(&c->profiles);
		return devsys__error_oom();
	}
	return 0;
}

/* The claim's answer: 1 and the rows filled when it took a task, 0 when not. */
static int claim_answer(const PGresult *res, devsys__queue_row *q, devsys__task_row *r, int *moved)
{
	if (PQntuples(res) == 0)
		return 0;
	task_from(res, 0, r);
	memset(q, 0, sizeof(*q));
	text_col(res, 0, 13, q->task_id, sizeof(q->task_id));
	text_col(res, 0, 14, q->profile, sizeof(q->profile));
	text_col(res, 0, 15, q->schema, sizeof(q->schema));
	text_col(res, 0, 16, q->submitted_at, sizeof(q->submitted_at));
	text_col(res, 0, 17, q->owner, sizeof(q->owner));
	text_col(res, 0, 18, q->host, sizeof(q->host));
	q->lease_until_ms = num(res, 0, 19);
	q->now_ms = num(res, 0, 20);
	*moved = PQgetvalue(res, 0, 21)[0] == 't';
	return 1;
}

static int pg_claim_one(void *self, const devsys__claim_req *req, devsys__queue_row *q, devsys__task_row *r,
                        int *moved)
{
	pgs *p = self;
	claim_vals c;
	PGresult *res;
	int rc;
	*moved = 0;
	if ((rc = ready(p)) < 0 || (rc = claim_vals_init(&c, req)) < 0)
		return rc;
	rc = claim_run(p, &res, req, c.v);
	devsys_buf_dispose(&c.profiles);
	if (rc < 0)
		return rc;
	rc = claim_answer(res, q, r, moved);
	PQclear(res);
	return rc;
}

/* ---- a claim and its documents in one commit (libpq's pipeline mode) ---- */

/* Statement @p k of prep_names prepared on this connection, outside any pipeline. */
static int prepare_once(pgs *p, int k, const char *sql, int n)
{
	PGresult *res;
	if (p->prepared & (1u << k))
		return 0;
	res = PQprepare(p->conn, prep_names[k], sql, n, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pq_err(p, res, "prepare a statement");
	PQclear(res);
	p->prepared |= 1u << k;
	return 0;
}

/*
 * The next query's result in the pipeline, and the NULL that ends each
 * query's results (a Sync's result has none); NULL when the connection
 * gave none.
 */
static PGresult *pipe_next(pgs *p)
{
	PGresult *res = PQgetResult(p->conn), *end;
	if (res && PQresultStatus(res) != PGRES_PIPELINE_SYNC && (end = PQgetResult(p->conn)))
		PQclear(end); /* only when the connection broke: libpq then repeats its error */
	return res;
}

/* One statement of the open claim's transaction, answered now (a flush request, no Sync: nothing commits). */
static PGresult *pipe_exec(pgs *p, const char *sql, int n, const char *const *vals, int binary)
{
	if (!PQsendQueryParams(p->conn, sql, n, NULL, vals, NULL, NULL, binary) || !PQsendFlushRequest(p->conn) ||
	    PQflush(p->conn) != 0)
		return NULL;
	return pipe_next(p);
}

/*
 * End the pipeline after a Sync was sent: read up to the Sync's result and
 * leave pipeline mode. 0, or -1 when the Sync was not answered or the
 * connection could not leave pipeline mode (the caller makes it again).
 */
static int pipe_end(pgs *p)
{
	PGresult *res;
	bool sync = false;
	while (!sync && (res = pipe_next(p))) {
		sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
	}
	return sync && PQexitPipelineMode(p->conn) ? 0 : -1;
}

/*
 * Leave the claim's transaction undone: BEGIN, ROLLBACK and the Sync. The
 * pipeline's transaction is implicit; BEGIN makes it an explicit one, which
 * ROLLBACK ends without the warning the server logs for a ROLLBACK of an
 * implicit transaction (it would end it just the same), as it would at each
 * poll of an idle worker, whose claim takes nothing. After an error both
 * are skipped up to the Sync, which ends the failed transaction.
 */
static void pipe_rollback(pgs *p)
{
	p->pipe_open = 0;
	p->in_txn = 0;
	if (lost(p)) /* the server ends the transaction with the session */
		return;
	if (!PQsendQueryParams(p->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(p->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(p->conn) ||
	    PQflush(p->conn) != 0 || pipe_end(p) < 0) {
		(void)reconnect(p); /* a new session: the old one's transaction ends with it */
		devsys_error_clear();
	}
}

/*
 * claim_one, with the claim's transaction left open (see backend.h): the
 * claim, its answer carrying its transaction's id, in one round trip
 * answered at a flush request. A lost connection here committed nothing (no Sync was sent):
 * DEVSYS_ENETWORK, and the caller claims again.
 */
static int pg_claim_open(void *self, const devsys__claim_req *req, devsys__queue_row *q, devsys__task_row *r,
                         int *moved)
{
	pgs *p = self;
	int k = req->nprofiles ? PREP_CLAIM_PROFILES : PREP_CLAIM, n = req->nprofiles ? 10 : 9, rc;
	PGresult *res = NULL;
	claim_vals c;
	*moved = 0;
	if ((rc = ready(p)) < 0 ||
	    (rc = prepare_once(p, k, req->nprofiles ? CLAIM_SQL(CLAIM_PROFILES_X) : CLAIM_SQL(CLAIM_ANY_X), n)) < 0 ||
	    (rc = claim_vals_init(&c, req)) < 0)
		return rc;
	if (PQenterPipelineMode(p->conn) && PQsendQueryPrepared(p->conn, prep_names[k], n, c.v, NULL, NULL, 0) &&
	    PQsendFlushRequest(p->conn) && PQflush(p->conn) == 0)
		res = pipe_next(p);
	devsys_buf_dispose(&c.profiles);
	p->pipe_open = 1;
	p->in_txn = 1;
	p->docs_only = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		bool gone = lost(p);
		rc = pq_err(p, res, "claim a task");
		pipe_rollback(p);
		if (gone)
			return devsys__error_set(DEVSYS_ENETWORK, "task store %s: claim a task: the connection was lost before "
			                         "the claim committed; no task was claimed", p->url);
		return rc;
	}
	if (PQntuples(res))
		text_col(res, 0, 22, p->xid, sizeof(p->xid)); /* the claim's transaction: its write gave it an id */
	if ((rc = claim_answer(res, q, r, moved)) == 0) { /* nothing taken: nothing to commit */
		pipe_rollback(p);
		forget_docs(p);
	}
	PQclear(res);
	return rc;
}

#define COMPLETE_SQL                                                                                  \
	"WITH q AS (DELETE FROM queue WHERE task_id = $1 AND owner = $2 RETURNING task_id), "                   \
	"c AS (UPDATE claims SET how = 'completed', ended_ms = " NOW_MS " WHERE task_id IN "                    \
	"(SELECT task_id FROM q) AND owner = $2 AND ended_ms IS NULL), "                                        \
	"k AS (DELETE FROM cancels WHERE task_id IN (SELECT task_id FROM q)) "                                  \
	"SELECT count(*) FROM q"

/*
 * What a complete whose answer was lost did, from the latest claim log row
 * of (task, owner), once its session has ended (settle): 1 it completed; 0
 * the lease had ended otherwise (expired, handed back: not this worker's
 * to complete); 2 still held, so it did not happen and may run again.
 */
static int complete_lost(pgs *p, const char *const *v)
{
	PGresult *res;
	char how[32];
	int rc = reconnect_settled(p, "complete a task");
	if (rc < 0 || (rc = run(p, &res, "SELECT how FROM claims WHERE task_id = $1 AND owner = $2 ORDER BY seq DESC LIMIT 1",
	                        2, v, "learn a lost complete's outcome")) < 0)
		return rc;
	how[0] = '\0';
	if (PQntuples(res))
		text_col(res, 0, 0, how, sizeof(how));
	PQclear(res);
	return !strcmp(how, "completed") ? 1 : !strcmp(how, "held") ? 2 : 0;
}

/* lease_end(completed, remove) and cancel_clear() in one statement, committed on its own. */
static int pg_complete_one(void *self, const char *id, const char *owner)
{
	pgs *p = self;
	const char *v[2] = { id, owner };
	PGresult *res;
	int rc;
	if ((rc = ready(p)) < 0)
		return rc;
	for (int attempt = 0;; attempt++) {
		rc = run_prepared(p, &res, PREP_COMPLETE, COMPLETE_SQL, 2, v, 0, "complete a task");
		if (rc == 0)
			break;
		if (rc != DEVSYS_ENETWORK || !lost(p) || (rc = complete_lost(p, v)) != 2)
			return rc;
		if (attempt > 0)
			return devsys__error_set(DEVSYS_ENETWORK,
			                         "task store %s: complete task '%s': the connection was lost twice; the task "
			                         "is still leased by '%s'",
			                         p->url, id, owner);
	}
	rc = (int)num(res, 0, 0);
	PQclear(res);
	return rc;
}

static int pg_extend_one(void *self, const char *id, const char *owner, unsigned int lease_ms)
{
	int rc = ready(self);
	return rc < 0 ? rc : pg_lease_extend(self, id, owner, lease_ms);
}

static int pg_claim_list(void *self, const char *id, devsys__claim_row_cb cb, void *payload)
{
	PGresult *res;
	const char *v[1] = { id };
	int rc = run(self, &res,
	             "SELECT seq, task_id, owner, host, claimed_ms, until_ms, coalesce(ended_ms, 0), how FROM claims "
	             "WHERE $1::text IS NULL OR task_id = $1 ORDER BY seq",
	             1, v, "list claims");
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		devsys__claim_row c;
		memset(&c, 0, sizeof(c));
		c.seq = num(res, i, 0);
		text_col(res, i, 1, c.task_id, sizeof(c.task_id));
		text_col(res, i, 2, c.owner, sizeof(c.owner));
		text_col(res, i, 3, c.host, sizeof(c.host));
		c.claimed_ms = num(res, i, 4);
		c.until_ms = num(res, i, 5);
		c.ended_ms = num(res, i, 6);
		text_col(res, i, 7, c.how, sizeof(c.how));
		if (cb(&c, payload) != 0) {
			PQclear(res);
			return devsys__error_set(DEVSYS_EUSER, "claim log stopped by the callback");
		}
	}
	PQclear(res);
	return 0;
}

static int pg_queue_stats(void *self, devsys__stat_cb cb, void *payload)
{
	return stat_rows(self,
	                 "SELECT 'queue:free', 0, count(*) FROM queue WHERE owner = '' UNION ALL "
	                 "SELECT 'queue:held', 0, count(*) FROM queue WHERE owner <> '' UNION ALL "
	                 "SELECT 'claims:' || how, 0, count(*) FROM claims GROUP BY how",
	                 cb, payload, "queue stats");
}

/* ---- the worker registry and cancel requests ---- */

static int pg_worker_beat(void *self, const devsys__worker_row *w)
{
	char n[8][24];
	const char *v[10] = { w->id, w->host, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7] };
	snprintf(n[0], sizeof(n[0]), "%lld", w->pid);
	snprintf(n[1], sizeof(n[1]), "%u", w->jobs);
	snprintf(n[2], sizeof(n[2]), "%u", w->lease_ms);
	snprintf(n[3], sizeof(n[3]), "%lld", w->running);
	snprintf(n[4], sizeof(n[4]), "%lld", w->claimed);
	snprintf(n[5], sizeof(n[5]), "%lld", w->completed);
	snprintf(n[6], sizeof(n[6]), "%lld", w->expiries);
	snprintf(n[7], sizeof(n[7]), "%d", w->stopped);
	/*
	 * A beat is liveness, rewritten every third of a lease: its commit need
	 * not wait for the disk (one lost in a server crash is replaced by the
	 * next; the leases' own commits stay durable).
	 */
	if (((pgs *)self)->in_txn) {
		int rc = run(self, NULL, "SET LOCAL synchronous_commit TO off", 0, NULL, "record a worker's beat");
		if (rc < 0)
			return rc;
	}
	/* the first beat's time survives the later ones of the same process */
	return run(self, NULL,
	           "INSERT INTO workers(id, host, pid, jobs, lease_ms, running, claimed, completed, expiries, stopped, "
	           "started_ms, beat_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10," NOW_MS "," NOW_MS ") "
	           "ON CONFLICT (id) DO UPDATE SET host = $2, pid = $3, jobs = $4, lease_ms = $5, running = $6, "
	           "claimed = $7, completed = $8, expiries = $9, stopped = $10, beat_ms = " NOW_MS ", "
	           "started_ms = CASE WHEN workers.pid = $3::bigint AND workers.host = $2 THEN workers.started_ms ELSE " NOW_MS
	           " END",
	           10, v, "record a worker's beat");
}

static int pg_worker_list(void *self, devsys__worker_row_cb cb, void *payload)
{
	PGresult *res;
	int rc = run(self, &res,
	             "SELECT id, host, pid, jobs, lease_ms, running, claimed, completed, expiries, stopped, started_ms, "
	             "beat_ms, " NOW_MS " FROM workers ORDER BY started_ms, id",
	             0, NULL, "list workers");
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		devsys__worker_row w;
		memset(&w, 0, sizeof(w));
		text_col(res, i, 0, w.id, sizeof(w.id));
		text_col(res, i, 1, w.host, sizeof(w.host));
		w.pid = num(res, i, 2);
		w.jobs = (unsigned int)num(res, i, 3);
		w.lease_ms = (unsigned int)num(res, i, 4);
		w.running = num(res, i, 5);
		w.claimed = num(res, i, 6);
		w.completed = num(res, i, 7);
		w.expiries = num(res, i, 8);
		w.stopped = (int)num(res, i, 9);
		w.started_ms = num(res, i, 10);
		w.beat_ms = num(res, i, 11);
		w.now_ms = num(res, i, 12);
		if (cb(&w, payload) != 0) {
			PQclear(res);
			return devsys__error_set(DEVSYS_EUSER, "worker list stopped by the callback");
		}
	}
	PQclear(res);
	return 0;
}

static int pg_cancel_set(void *self, const char *id, const char *reason)
{
	const char *v[2] = { id, reason ? reason : "" };
	int n = count_of(self,
	                "WITH c AS (INSERT INTO cancels(task_id, reason, at_ms) SELECT task_id, $2, " NOW_MS
	                " FROM queue WHERE task_id = $1 ON CONFLICT (task_id) DO UPDATE SET reason = EXCLUDED.reason, "
	                "at_ms = EXCLUDED.at_ms RETURNING 1) SELECT count(*) FROM c",
	                2, v, "request a cancel");
	return n < 0 ? n : n > 0;
}

static int pg_cancel_get(void *self, const char *id, char *reason, size_t size)
{
	PGresult *res;
	const char *v[1] = { id };
	int rc = run(self, &res, "SELECT reason FROM cancels WHERE task_id = $1", 1, v, "read a cancel request");
	if (rc < 0)
		return rc;
	rc = PQntuples(res) > 0;
	if (rc && reason && size)
		text_col(res, 0, 0, reason, size);
	PQclear(res);
	return rc;
}

static int pg_cancel_clear(void *self, const char *id)
{
	const char *v[1] = { id };
	return run(self, NULL, "DELETE FROM cancels WHERE task_id = $1", 1, v, "clear a cancel request");
}

/* ---- record documents ---- */

/* bytea in and out as binary, so a document is kept byte for byte whatever its encoding */
static PGresult *doc_exec(pgs *p, const char *id, const char *name, const char *body, size_t len)
{
	const char *v[3] = { id, name, body ? body : "" };
	int lens[3] = { 0, 0, (int)len }, fmts[3] = { 0, 0, 1 };
	return PQexecParams(p->conn,
	                    "INSERT INTO documents(task_id, name, body, updated_ms) VALUES($1, $2, $3, " NOW_MS ") "
	                    "ON CONFLICT (task_id, name) DO UPDATE SET body = EXCLUDED.body, updated_ms = EXCLUDED.updated_ms",
	                    3, NULL, v, lens, fmts, 0);
}

/*
 * A transaction of documents only lost its connection: reconnect (waiting
 * for a restarting server), begin again and put the documents it had put.
 */
static int replay_docs(pgs *p)
{
	size_t n = p->ndocs;
	int rc;
	p->replayed = 1;
	p->ndocs = 0; /* reconnect() and pg_begin() must not see them as this transaction's */
	if ((rc = reconnect(p)) == 0 && (rc = run(p, NULL, "BEGIN", 0, NULL, "begin a transaction")) == 0) {
		p->in_txn = 1;
		p->docs_only = 1;
	}
	p->ndocs = n;
	for (size_t i = 0; i < n && rc == 0; i++) {
		PGresult *res = doc_exec(p, p->docs[i].id, p->docs[i].name, p->docs[i].body, p->docs[i].len);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = pq_err(p, res, "keep a record document");
		else
			PQclear(res);
	}
	return rc;
}

/*
 * A document this transaction put, kept for replay_docs(); while BEGIN is
 * deferred, the document to send at commit, replacing one of the same name
 * (one upsert may not touch a row twice; the last put wins, as it would).
 */
static int keep_doc(pgs *p, const char *id, const char *name, const char *body, size_t len)
{
	struct kept_doc *d;
	for (size_t i = 0; (p->begin_deferred || p->pipe_open) && i < p->ndocs; i++) {
		char *copy;
		d = &p->docs[i];
		if (strcmp(d->id, id) || strcmp(d->name, name))
			continue;
		if (!(copy = devsys__malloc(len ? len : 1)))
			return devsys__error_oom();
		if (len)
			memcpy(copy, body, len);
		devsys__free(d->body);
		d->body = copy;
		d->len = len;
		return 0;
	}
	if (p->ndocs == p->cap_docs) {
		size_t cap = p->cap_docs ? p->cap_docs * 2 : 4;
		if (!(d = devsys__realloc(p->docs, cap * sizeof(*d))))
			return devsys__error_oom();
		p->docs = d;
		p->cap_docs = cap;
	}
	d = &p->docs[p->ndocs];
	d->id = devsys__strdup(id);
	d->name = devsys__strdup(name);
	d->body = devsys__malloc(len ? len : 1);
	d->len = len;
	if (!d->id || !d->name || !d->body) {
		devsys__free(d->id);
		devsys__free(d->name);
		devsys__free(d->body);
		return devsys__error_oom();
	}
	if (len)
		memcpy(d->body, body, len);
	p->ndocs++;
	return 0;
}

/*
 * The documents of a transaction that put nothing else, in one upsert
 * committed on its own. Whole-document upserts, so one that lost its
 * connection runs again once the store reconnects, whether or not the lost
 * one took effect: the documents end the same.
 */
/*
 * The documents' upsert: prepared once a connection for one to four
 * documents (a state change puts two or three), so the server neither
 * parses nor plans it again; more go unprepared.
 */
static PGresult *exec_docs(pgs *p, const char *sql, int ndocs, const char *const *v, const int *lens, const int *fmts)
{
	int k = PREP_DOCS1 + ndocs - 1;
	if (ndocs < 1 || k > PREP_DOCS4)
		return PQexecParams(p->conn, sql, ndocs * 3, NULL, v, lens, fmts, 0);
	if (!(p->prepared & (1u << k))) {
		PGresult *res = PQprepare(p->conn, prep_names[k], sql, ndocs * 3, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return res;
		PQclear(res);
		p->prepared |= 1u << k;
	}
	return PQexecPrepared(p->conn, prep_names[k], ndocs * 3, v, lens, fmts, 0);
}

/* The kept documents' one upsert: its text and parameters (bytea as binary: kept byte for byte). */
typedef struct docs_upsert {
	devsys_buf sql;
	const char **v;
	int *lens, *fmts;
} docs_upsert;

static void docs_upsert_dispose(docs_upsert *u)
{
	devsys_buf_dispose(&u->sql);
	devsys__free(u->v);
	devsys__free(u->lens);
	devsys__free(u->fmts);
}

static int docs_upsert_make(docs_upsert *u, const pgs *p)
{
	memset(u, 0, sizeof(*u));
	if (p->ndocs > 1000)
		return devsys__error_set(DEVSYS_ELIMIT, "task store: %zu documents in one transaction", p->ndocs);
	u->v = devsys__calloc(p->ndocs * 3, sizeof(*u->v));
	u->lens = devsys__calloc(p->ndocs * 3, sizeof(*u->lens));
	u->fmts = devsys__calloc(p->ndocs * 3, sizeof(*u->fmts));
	if (!u->v || !u->lens || !u->fmts ||
	    devsys_buf_puts(&u->sql, "INSERT INTO documents(task_id, name, body, updated_ms) VALUES") < 0)
		return devsys__error_oom();
	for (size_t i = 0; i < p->ndocs; i++) {
		u->v[3 * i] = p->docs[i].id;
		u->v[3 * i + 1] = p->docs[i].name;
		u->v[3 * i + 2] = p->docs[i].body;
		u->lens[3 * i + 2] = (int)p->docs[i].len;
		u->fmts[3 * i + 2] = 1;
		if (devsys_buf_printf(&u->sql, "%s($%zu, $%zu, $%zu, " NOW_MS ")", i ? ", " : " ", 3 * i + 1, 3 * i + 2,
		                      3 * i + 3) < 0)
			return devsys__error_oom();
	}
	if (devsys_buf_puts(&u->sql, " ON CONFLICT (task_id, name) DO UPDATE SET body = EXCLUDED.body, "
	                             "updated_ms = EXCLUDED.updated_ms") < 0)
		return devsys__error_oom();
	return 0;
}

static int put_kept_docs(pgs *p)
{
	docs_upsert u;
	int rc = docs_upsert_make(&u, p);
	for (int attempt = 0; rc == 0; attempt++) {
		PGresult *res = exec_docs(p, u.sql.ptr, (int)p->ndocs, u.v, u.lens, u.fmts);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			break;
		}
		if (attempt == 0 && lost(p)) {
			PQclear(res);
			rc = reconnect(p);
			continue;
		}
		rc = pq_err(p, res, "keep the record documents");
	}
	docs_upsert_dispose(&u);
	return rc;
}

/*
 * Commit the open claim's transaction (claim_open) with the documents kept
 * since: their upsert (prepared in the same round trip on first use) and
 * the Sync that commits, one round trip. An answer lost after they were
 * sent is resolved by the transaction's id, as a lost COMMIT is.
 */
static int pipe_commit(pgs *p)
{
	int k = PREP_DOCS1 + (int)p->ndocs - 1, n = (int)p->ndocs * 3, rc = 0;
	bool prep = p->ndocs && k <= PREP_DOCS4 && !(p->prepared & (1u << k)), sent;
	char xid[sizeof(p->xid)];
	docs_upsert u;
	memset(&u, 0, sizeof(u));
	snprintf(xid, sizeof(xid), "%s", p->xid);
	if (p->ndocs && (rc = docs_upsert_make(&u, p)) < 0) {
		docs_upsert_dispose(&u);
		pipe_rollback(p);
		return rc;
	}
	p->pipe_open = 0;
	p->in_txn = 0;
	sent = !prep || PQsendPrepare(p->conn, prep_names[k], u.sql.ptr, n, NULL);
	if (sent && p->ndocs)
		sent = k <= PREP_DOCS4 ? PQsendQueryPrepared(p->conn, prep_names[k], n, u.v, u.lens, u.fmts, 0)
		                       : PQsendQueryParams(p->conn, u.sql.ptr, n, NULL, u.v, u.lens, u.fmts, 0);
	sent = sent && PQpipelineSync(p->conn) && PQflush(p->conn) == 0;
	docs_upsert_dispose(&u);
	for (int i = 0; sent && i < (prep ? 2 : 1) && p->ndocs && rc == 0; i++) {
		PGresult *res = pipe_next(p);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			if (prep && i == 0)
				p->prepared |= 1u << k;
		} else {
			rc = pq_err(p, res, "keep the record documents");
		}
	}
	if (sent && !lost(p) && pipe_end(p) < 0)
		sent = false; /* the Sync's answer did not come: what became of the transaction is the server's to say */
	if (!sent || lost(p))
		rc = xid[0] ? commit_outcome(p, xid) : devsys__error_set(DEVSYS_ENETWORK, "task store %s: commit a claim: "
		                                                         "the connection was lost", p->url);
	forget_docs(p);
	return rc;
}

/* After a failed statement: 1 when it may run again (the connection was lost and was made again). */
static int doc_again(pgs *p, int attempt, int *rc)
{
	*rc = 0;
	if (attempt > 0 || !lost(p) || (p->in_txn && (!p->docs_only || p->replayed)))
		return 0;
	*rc = p->in_txn ? replay_docs(p) : reconnect(p);
	return 1;
}

static int pg_doc_put(void *self, const char *id, const char *name, const char *body, size_t len)
{
	pgs *p = self;
	PGresult *res;
	if (len > 0x7fffffff)
		return devsys__error_set(DEVSYS_ELIMIT, "task store: a record document of %zu bytes is too large", len);
	if (p->begin_deferred || p->pipe_open) /* sent at commit, with it */
		return keep_doc(p, id, name, body ? body : "", len);
	for (int attempt = 0;; attempt++) {
		int rc;
		res = doc_exec(p, id, name, body, len);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			return p->in_txn && p->docs_only ? keep_doc(p, id, name, body ? body : "", len) : 0;
		}
		if (doc_again(p, attempt, &rc)) {
			PQclear(res);
			if (rc < 0)
				return rc;
			continue;
		}
		return pq_err(p, res, "keep a record document");
	}
}

/* A read of the documents table, run again once after a lost connection as a document's write is. */
static int doc_query(pgs *p, PGresult **res, const char *sql, int n, const char *const *v)
{
	int rc;
	if ((rc = begin_now(p)) < 0)
		return rc;
	for (int attempt = 0;; attempt++) {
		*res = p->pipe_open ? pipe_exec(p, sql, n, v, 1) : PQexecParams(p->conn, sql, n, NULL, v, NULL, NULL, 1);
		if (PQresultStatus(*res) == PGRES_TUPLES_OK)
			return 0;
		if (!p->pipe_open && doc_again(p, attempt, &rc)) {
			PQclear(*res);
			if (rc < 0)
				return rc;
			continue;
		}
		return pq_err(p, *res, "read a record document");
	}
}

/* Column @p col of a document read into @p out (cleared first). */
static int doc_body(const PGresult *res, int col, devsys_buf *out)
{
	devsys_buf_clear(out);
	return PQgetlength(res, 0, col) &&
	               devsys_buf_put(out, PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col)) < 0
	           ? DEVSYS_ENOMEM
	           : 0;
}

static int pg_doc_get(void *self, const char *id, const char *name, devsys_buf *out)
{
	const char *v[2] = { id, name };
	PGresult *res;
	int rc = doc_query(self, &res, "SELECT body FROM documents WHERE task_id = $1 AND name = $2", 2, v);
	if (rc < 0)
		return rc;
	rc = PQntuples(res) == 0 ? DEVSYS_ENOTFOUND : doc_body(res, 0, out);
	PQclear(res);
	return rc;
}

/*
 * The row version's own name is the document's version: the transaction
 * that wrote it (xmin) and where (ctid), so two writes in one transaction
 * differ too. A row a VACUUM FULL moved reads as changed: read once more.
 * The body is sent only when the version differs from the caller's.
 */
static int pg_doc_get_changed(void *self, const char *id, const char *name, char *version, size_t version_size,
                              devsys_buf *out)
{
	const char *v[3] = { id, name, version };
	PGresult *res;
	int rc = doc_query(self, &res,
	                   "SELECT d.v, CASE WHEN d.v = $3 THEN NULL ELSE d.body END FROM (SELECT xmin::text || ':' || "
	                   "ctid::text AS v, body FROM documents WHERE task_id = $1 AND name = $2) d",
	                   3, v);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0)
		rc = DEVSYS_ENOTFOUND;
	else if (PQgetisnull(res, 0, 1))
		rc = 0;
	else if ((size_t)PQgetlength(res, 0, 0) >= version_size)
		rc = devsys__error_set(DEVSYS_ELIMIT, "task store: a document's version '%s' is longer than %zu bytes",
		                       PQgetvalue(res, 0, 0), version_size - 1);
	else if ((rc = doc_body(res, 1, out)) == 0) {
		memcpy(version, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0) + 1);
		rc = 1;
	}
	PQclear(res);
	return rc;
}

/* ---- runner-pool host slots and cool-downs ---- */

/* The advisory lock space of a pool's slots (two-key locks: apart from MIGRATE_LOCK's one-key space). */
#define SLOT_LOCK_SPACE "1685288044"

/* A slot tied to a lease lives while its owner holds the task's unexpired lease; any other, until its own expiry. */
#define SLOT_LIVE                                                                                                   \
	"(CASE WHEN s.lease_owner = '' THEN s.until_ms >= " NOW_MS " ELSE EXISTS (SELECT 1 FROM queue q WHERE "        \
	"q.task_id = s.task_id AND q.owner = s.lease_owner AND q.lease_until >= " NOW_MS ") END)"

/*
 * Row locks cannot take turns over rows that do not exist yet (two
 * placements on a member nobody holds): a transaction-scoped advisory lock
 * per pool does, for the few statements of one placement.
 */
static int pg_slot_scan(void *self, const char *pool, devsys__slot_use_cb cb, void *payload)
{
	const char *v[1] = { pool };
	PGresult *res;
	int rc;
	if ((rc = run(self, NULL, "SELECT pg_advisory_xact_lock(" SLOT_LOCK_SPACE ", hashtext($1))", 1, v,
	              "lock a runner pool's host slots")) < 0 ||
	    (rc = run(self, NULL, "DELETE FROM host_slots s WHERE s.pool = $1 AND NOT " SLOT_LIVE, 1, v,
	              "drop dead host slots")) < 0 ||
	    (rc = run(self, NULL, "DELETE FROM host_cools WHERE pool = $1 AND until_ms <= " NOW_MS, 1, v,
	              "drop past cool-downs")) < 0 ||
	    (rc = run(self, &res,
	              "SELECT member, count(*), 0 FROM host_slots WHERE pool = $1 GROUP BY member UNION ALL "
	              "SELECT member, 0, until_ms - " NOW_MS " FROM host_cools WHERE pool = $1",
	              1, v, "list host slots")) < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++)
		if (cb(PQgetvalue(res, i, 0), (unsigned int)num(res, i, 1), num(res, i, 2), payload) != 0) {
			PQclear(res);
			return devsys__error_set(DEVSYS_EUSER, "host slots stopped by the callback");
		}
	PQclear(res);
	return 0;
}

static int pg_slot_take(void *self, const devsys__slot_row *r)
{
	char ms[16];
	const char *v[7] = { r->holder, r->pool, r->member, r->owner, r->task_id, r->lease_owner, ms };
	snprintf(ms, sizeof(ms), "%u", r->ttl_ms);
	return run(self, NULL,
	           "INSERT INTO host_slots(holder, pool, member, owner, task_id, lease_owner, until_ms, taken_ms) "
	           "VALUES($1, $2, $3, $4, $5, $6, " NOW_MS " + $7::bigint, " NOW_MS ")",
	           7, v, "take a host slot");
}

static int pg_slot_renew(void *self, const char *holder, unsigned int ttl_ms)
{
	char ms[16];
	const char *v[2] = { holder, ms };
	snprintf(ms, sizeof(ms), "%u", ttl_ms);
	return count_of(self,
	                "WITH s AS (UPDATE host_slots SET until_ms = " NOW_MS " + $2::bigint WHERE holder = $1 RETURNING 1) "
	                "SELECT count(*) FROM s",
	                2, v, "renew a host slot");
}

static int pg_slot_release(void *self, const char *holder)
{
	const char *v[1] = { holder };
	return count_of(self, "WITH s AS (DELETE FROM host_slots WHERE holder = $1 RETURNING 1) SELECT count(*) FROM s", 1,
	                v, "release a host slot");
}

static int pg_cool_set(void *self, const char *pool, const char *member, unsigned int ms)
{
	char n[16];
	const char *v[3] = { pool, member, n };
	snprintf(n, sizeof(n), "%u", ms);
	return run(self, NULL,
	           "INSERT INTO host_cools(pool, member, until_ms) VALUES($1, $2, " NOW_MS " + $3::bigint) "
	           "ON CONFLICT (pool, member) DO UPDATE SET until_ms = greatest(host_cools.until_ms, EXCLUDED.until_ms)",
	           3, v, "cool a host down");
}

/* ---- waking idle workers ---- */

static int listen_on(pgs *p)
{
	PGresult *res;
	if (!p->listen && !(p->listen = connect_to(p)))
		return -1;
	PQsetNoticeProcessor(p->listen, quiet, NULL);
	if (PQstatus(p->listen) != CONNECTION_OK)
		PQreset(p->listen);
	if (PQstatus(p->listen) != CONNECTION_OK)
		return -1;
	res = PQexec(p->listen, "LISTEN " CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* 1 when a notification came, 0 when none did within @p timeout_ms (or the listener is down: poll instead). */
static int pg_wait_work(void *self, unsigned int timeout_ms)
{
	pgs *p = self;
	long long deadline = mono_ms() + timeout_ms;
	int woken = 0;
	pthread_mutex_lock(&p->listen_lock);
	if ((!p->listen || PQstatus(p->listen) != CONNECTION_OK) && listen_on(p) < 0)
		goto done;
	for (;;) {
		PGnotify *n;
		struct pollfd fd = { PQsocket(p->listen), POLLIN, 0 };
		long long left = deadline - mono_ms();
		if (!PQconsumeInput(p->listen)) { /* the server went away: LISTEN again next time */
			PQreset(p->listen);
			if (PQstatus(p->listen) == CONNECTION_OK)
				PQclear(PQexec(p->listen, "LISTEN " CHANNEL));
			break;
		}
		while ((n = PQnotifies(p->listen))) {
			woken = 1;
			PQfreemem(n);
		}
		if (woken || left <= 0)
			break;
		if (poll(&fd, 1, (int)left) < 0 && errno != EINTR)
			break;
	}
done:
	pthread_mutex_unlock(&p->listen_lock);
	return woken;
}

const devsys__store_backend devsys__store_postgresql = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.task_insert = pg_task_insert,
	.task_get = pg_task_get,
	.task_update = pg_task_update,
	.task_list = pg_task_list,
	.state_log = pg_state_log,
	.stage_log = pg_stage_log,
	.run_upsert = pg_run_upsert,
	.run_list = pg_run_list,
	.count_by_state = pg_count_by_state,
	.stage_stats = pg_stage_stats,
	.flags = DEVSYS__STORE_SHARED | DEVSYS__STORE_RETRY,
	.queue_insert = pg_queue_insert,
	.queue_expired = pg_queue_expired,
	.queue_next = pg_queue_next,
	.lease_take = pg_lease_take,
	.lease_extend = pg_lease_extend,
	.lease_end = pg_lease_end,
	.queue_list = pg_queue_list,
	.claim_list = pg_claim_list,
	.queue_stats = pg_queue_stats,
	.worker_beat = pg_worker_beat,
	.worker_list = pg_worker_list,
	.cancel_set = pg_cancel_set,
	.cancel_get = pg_cancel_get,
	.cancel_clear = pg_cancel_clear,
	.open_url = pg_open_url,
	.wait_work = pg_wait_work,
	.doc_put = pg_doc_put,
	.doc_get = pg_doc_get,
	.doc_get_changed = pg_doc_get_changed,
	.slot_scan = pg_slot_scan,
	.slot_take = pg_slot_take,
	.slot_renew = pg_slot_renew,
	.slot_release = pg_slot_release,
	.cool_set = pg_cool_set,
	.claim_one = pg_claim_one,
	.complete_one = pg_complete_one,
	.extend_one = pg_extend_one,
	.claim_open = pg_claim_open,
};
