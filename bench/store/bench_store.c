/*
 * The queue's claim throughput, against an anchor measured in the same run
 * doing the least SQL the same work needs (run.sh starts what it needs).
 *
 *   bench_store sqlite WORKDIR TASKS
 *     Two processes claim and complete TASKS queued tasks from one
 *     workspace's SQLite store. Anchor: two processes running one-row
 *     UPDATE ... RETURNING autocommit statements on one SQLite file with the
 *     store's settings (WAL, synchronous=FULL, the same busy schedule): one
 *     takes the oldest free row, one marks it done, as a claim and a complete
 *     do. Prints claims/s, (claims+completes)/s against the anchor's
 *     statements/s, and each side's busy retries (waits for the other's
 *     write lock; the store's from its /metrics counter).
 *
 *   bench_store pg WORKDIR URL TASKS WORKERS[:TASKS]...
 *     For each WORKERS count, that many processes claim and complete TASKS
 *     queued tasks from the PostgreSQL store at URL (no-op tasks: claim,
 *     then complete). Anchor, just before and just after each count's run:
 *     one-row UPDATE ... RETURNING autocommit statements over one libpq
 *     connection to the same server for 3 s (the same synchronous_commit,
 *     printed): one durable commit each, as a claim is. Target per worker:
 *     (claims+completes)/s >= 0.5 x (anchor/2), against the mean of the two
 *     anchors (and against each, printed below the row: a disk shared with
 *     other work can change its flush time several-fold within a minute). Each row also says what a
 *     task cost the server (pg_stat_statements, which run.sh preloads, and
 *     pg_stat_database / pg_stat_wal): statements, commits and WAL flushes;
 *     the workers' CPU and the server's (its processes, from /proc, when it
 *     runs on this host) a task, and the anchor's server CPU a statement;
 *     with BENCH_PG_STATEMENTS set, each statement and its calls per task.
 *     A WORKERS count given more than once is run as rows of its own, each
 *     between its own anchors, and summed up as the median of their ratios
 *     to the target and their range.
 *
 * Every task must be claimed exactly once (the claims are summed and the
 * queue must end empty); exit 1 otherwise. A missed target is printed, not
 * an exit status.
 */
#include <devsys.h>
#include <devsys/store.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef BENCH_HAVE_PQ
#include <libpq-fe.h>
#endif

#define MAX_WORKERS 16

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noreturn)) void die(const char *what)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, devsys_error_message(devsys_error_last()));
	exit(3);
}

/* What one process did, sent to the parent through a pipe. */
typedef struct result {
	long long ops;    /* claims (devsys) or statements (anchor) */
	long long busy;   /* busy retries */
	long long errors; /* claims that gave up (EBUSY past the timeout) */
	double end;       /* CLOCK_MONOTONIC at its last operation */
	double cpu;       /* the process's user + system seconds from the start to its last operation */
} result;

/* This process's user + system CPU seconds so far. */
static double cpu_seconds(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/*
 * N children run @p body(i, payload); each opens what it needs, then all
 * start together. Returns the seconds from the start to the last child's
 * end and sums the results into @p sum.
 */
typedef result (*child_fn)(int i, void *payload, int ready_fd, int go_fd);

static double run_children(int n, child_fn body, void *payload, result *sum)
{
	int ready[2], go[2], res[2];
	pid_t pids[MAX_WORKERS];
	double t0, last = 0;
	char c = 'g';
	memset(sum, 0, sizeof(*sum));
	if (pipe(ready) < 0 || pipe(go) < 0 || pipe(res) < 0)
		exit(3);
	for (int i = 0; i < n; i++) {
		if ((pids[i] = fork()) < 0)
			exit(3);
		if (pids[i] == 0) {
			result r;
			close(ready[0]);
			close(go[1]);
			close(res[0]);
			r = body(i, payload, ready[1], go[0]);
			_exit(write(res[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 3);
		}
	}
	close(ready[1]);
	close(go[0]);
	close(res[1]);
	for (int i = 0; i < n; i++)
		if (read(ready[0], &c, 1) != 1)
			exit(3);
	t0 = now();
	for (int i = 0; i < n; i++)
		if (write(go[1], &c, 1) != 1)
			exit(3);
	for (int i = 0; i < n; i++) {
		result r;
		if (read(res[0], &r, sizeof(r)) != (ssize_t)sizeof(r)) {
			fprintf(stderr, "bench_store: a child died\n");
			exit(3);
		}
		sum->ops += r.ops;
		sum->busy += r.busy;
		sum->errors += r.errors;
		sum->cpu += r.cpu;
		if (r.end > last)
			last = r.end;
	}
	for (int i = 0; i < n; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bench_store: child %d failed\n", i);
			exit(3);
		}
	}
	close(ready[0]);
	close(go[1]);
	close(res[0]);
	return last - t0;
}

static void ready_and_wait(int ready_fd, int go_fd)
{
	char c = 'r';
	if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
		_exit(3);
}

/* ---- the devsys side: claim and complete until the queue is empty ---- */

typedef struct store_job {
	const char *workspace;
	const char *url; /* NULL: SQLite in the workspace */
} store_job;

static devsys_store *open_store(devsys_workspace **ws, const store_job *job)
{
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	devsys_store *st = NULL;
	o.url = job->url;
	o.flags = DEVSYS_STORE_NO_RECOVER;
	if (devsys_workspace_open(ws, job->workspace, NULL) < 0 || devsys_store_open(&st, *ws, &o) < 0)
		die("open the store");
	return st;
}

/* The store's devsys_store_busy_retries_total; 0 when it has none (PostgreSQL). */
static long long store_busy(devsys_store *st)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	const char *k = "\ndevsys_store_busy_retries_total ";
	const char *line;
	long long n = 0;
	if (devsys_store_metrics(st, &b) < 0)
		die("metrics");
	if ((line = strstr(b.ptr, k)) != NULL)
		n = atoll(line + strlen(k));
	devsys_buf_dispose(&b);
	return n;
}

static result claimer(int i, void *payload, int ready_fd, int go_fd)
{
	const store_job *job = payload;
	devsys_workspace *ws = NULL;
	devsys_store *st;
	devsys_buf id = DEVSYS_BUF_INIT;
	char owner[64];
	result r;
	memset(&r, 0, sizeof(r));
	snprintf(owner, sizeof(owner), "bench-%d/1", i);
	st = open_store(&ws, job);
	r.busy = -store_busy(st); /* opening may have waited: count the run only */
	ready_and_wait(ready_fd, go_fd);
	r.cpu = -cpu_seconds();
	for (;;) {
		double t0 = now();
		int rc = devsys_store_claim(&id, st, owner, "bench", NULL, 0, 600000);
		if (rc == DEVSYS_ENOTFOUND)
			break;
		if (rc == DEVSYS_EBUSY) { /* said, since a claim that gives up is a finding of its own */
			if (!r.errors++)
				fprintf(stderr, "  (%s: a claim gave up after %.2f s: %s)\n", owner, now() - t0,
				        devsys_error_message(devsys_error_last()));
			continue;
		}
		if (rc < 0)
			die("claim");
		r.ops++;
		if (devsys_store_complete(st, id.ptr, owner) < 0)
			die("complete");
	}
	r.end = now();
	r.cpu += cpu_seconds();
	r.busy += store_busy(st);
	devsys_buf_dispose(&id);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return r;
}

/* TASKS queued tasks named PREFIX-N, as devsys submit leaves them; setup, not measured. */
typedef struct submit_job {
	const store_job *job;
	const char *prefix;
	long tasks;
	int procs;
} submit_job;

/* A no-op task's kept spec, as devsys submit leaves one in the folder (a shared store keeps it at submit). */
static const char noop_spec[] = "version: 1\nid: %s\ntitle: A no-op task of the store benchmark\n"
                                "prompt: nothing; the benchmark claims and completes it\nrepo:\n"
                                "  url: file:///nonexistent/remote.git\n  base_branch: main\nrunner: inproc\n";

static void write_spec(devsys_workspace *ws, const char *id)
{
	devsys_task *task = NULL;
	devsys_buf path = DEVSYS_BUF_INIT;
	FILE *f;
	if (devsys_task_open(&task, ws, id, 0) < 0 || devsys_task_path_join(&path, task, "spec.yaml") < 0 ||
	    !(f = fopen(path.ptr, "w")))
		die(id);
	fprintf(f, noop_spec, id);
	if (fclose(f) != 0)
		die(id);
	devsys_buf_dispose(&path);
	devsys_task_free(task);
}

static result submitter(int k, void *payload, int ready_fd, int go_fd)
{
	const submit_job *s = payload;
	devsys_workspace *ws = NULL;
	devsys_store *st = open_store(&ws, s->job);
	char id[64];
	result r;
	memset(&r, 0, sizeof(r));
	ready_and_wait(ready_fd, go_fd);
	for (long i = k; i < s->tasks; i += s->procs) {
		snprintf(id, sizeof(id), "%s-%ld", s->prefix, i);
		if (devsys_store_task_create(st, id, NULL) < 0)
			die(id);
		write_spec(ws, id);
		if (devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL) < 0 ||
		    devsys_store_submit(st, id, NULL, "urn:devsys:schema:task:1") < 0)
			die(id);
		r.ops++;
	}
	r.end = now();
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return r;
}

/* Queued by @p procs processes at once (a store on a slow disk takes long to fill). */
static void submit_tasks(const store_job *job, const char *prefix, long tasks, int procs)
{
	submit_job s = { job, prefix, tasks, procs };
	result r;
	double t = run_children(procs, submitter, &s, &r);
	if (r.ops != tasks)
		exit(3);
	printf("  (queued %ld tasks in %.1f s)\n", tasks, t);
	fflush(stdout);
}

/* The queue is empty after a run: every task was claimed and completed. */
static int queue_left(const store_job *job)
{
	devsys_workspace *ws = NULL;
	devsys_store *st = open_store(&ws, job);
	devsys_buf b = DEVSYS_BUF_INIT;
	const char *k = "\ndevsys_queue_tasks{lease=\"free\"} ";
	const char *line;
	int n = -1;
	if (devsys_store_metrics(st, &b) < 0)
		die("metrics");
	if ((line = strstr(b.ptr, k)) != NULL)
		n = atoi(line + strlen(k));
	devsys_buf_dispose(&b);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return n;
}

/* ---- SQLite: two processes ---- */

/* The store's busy schedule (lib/store/sqlite.c), counted the same way. */
static int anchor_busy(void *arg, int n)
{
	static const int delays[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 };
	const int nd = (int)(sizeof(delays) / sizeof(delays[0]));
	long long *count = arg, waited = 0;
	int ms = n < nd ? delays[n] : 100;
	for (int i = 0; i < n && i < nd; i++)
		waited += delays[i];
	if (n > nd)
		waited += (long long)(n - nd) * 100;
	if (waited >= 10000)
		return 0;
	(*count)++;
	sqlite3_sleep(ms);
	return 1;
}

static sqlite3 *anchor_open(const char *path, long long *busy)
{
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		exit(3);
	sqlite3_busy_handler(db, anchor_busy, busy);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) != SQLITE_OK)
		exit(3);
	return db;
}

/* One-row UPDATE ... RETURNING, autocommit: take the oldest free row, then mark it done. */
static result sqlite_anchor_child(int i, void *payload, int ready_fd, int go_fd)
{
	const char *path = payload;
	sqlite3_stmt *take, *done;
	long long busy = 0;
	char owner[32];
	result r;
	sqlite3 *db = anchor_open(path, &busy);
	memset(&r, 0, sizeof(r));
	snprintf(owner, sizeof(owner), "anchor-%d", i);
	if (sqlite3_prepare_v2(db,
	                       "UPDATE q SET owner = ?1 WHERE id = (SELECT id FROM q WHERE owner = '' ORDER BY id LIMIT 1) "
	                       "RETURNING id",
	                       -1, &take, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE q SET owner = 'done' WHERE id = ?1 RETURNING id", -1, &done, NULL) != SQLITE_OK)
		exit(3);
	sqlite3_bind_text(take, 1, owner, -1, SQLITE_STATIC);
	ready_and_wait(ready_fd, go_fd);
	for (;;) {
		int rc = sqlite3_step(take);
		long long id;
		if (rc == SQLITE_DONE) { /* no free row left */
			sqlite3_reset(take);
			break;
		}
		if (rc != SQLITE_ROW) {
			fprintf(stderr, "anchor: %s\n", sqlite3_errmsg(db));
			exit(3);
		}
		id = sqlite3_column_int64(take, 0);
		while (sqlite3_step(take) == SQLITE_ROW)
			;
		sqlite3_reset(take);
		sqlite3_bind_int64(done, 1, id);
		if (sqlite3_step(done) != SQLITE_ROW)
			exit(3);
		while (sqlite3_step(done) == SQLITE_ROW)
			;
		sqlite3_reset(done);
		r.ops += 2;
	}
	r.end = now();
	r.busy = busy;
	sqlite3_finalize(take);
	sqlite3_finalize(done);
	sqlite3_close(db);
	return r;
}

static int bench_sqlite(const char *dir, long tasks)
{
	char ws[4200], anchor[4200];
	store_job job;
	result a, d;
	double ta, td, arate, drate;
	long long busy = 0;
	sqlite3 *db;
	snprintf(ws, sizeof(ws), "%s/ws", dir);
	snprintf(anchor, sizeof(anchor), "%s/anchor.db", dir);
	if (mkdir(ws, 0700) < 0 && errno != EEXIST)
		return 3;

	/* the anchor's table: TASKS free rows */
	db = anchor_open(anchor, &busy);
	if (sqlite3_exec(db, "CREATE TABLE q(id INTEGER PRIMARY KEY, owner TEXT NOT NULL DEFAULT '');", NULL, NULL,
	                 NULL) != SQLITE_OK)
		return 3;
	{
		char sql[200];
		snprintf(sql, sizeof(sql),
		         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %ld) "
		         "INSERT INTO q(id) SELECT i FROM n;",
		         tasks);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return 3;
	}
	sqlite3_close(db);

	job.workspace = ws;
	job.url = NULL;
	submit_tasks(&job, "s", tasks, 1); /* SQLite has one writer at a time anyway */

	ta = run_children(2, sqlite_anchor_child, anchor, &a);
	td = run_children(2, claimer, &job, &d);
	if (a.ops != 2 * tasks || d.ops != tasks || queue_left(&job) != 0) {
		fprintf(stderr, "bench_store: not every task was claimed once (anchor %lld statements, devsys %lld claims, "
		                "%ld tasks)\n",
		        a.ops, d.ops, tasks);
		return 1;
	}
	arate = (double)a.ops / ta;
	drate = 2.0 * (double)d.ops / td;
	printf("SQLite, 2 processes, one workspace, %ld tasks (WAL, synchronous=FULL)\n", tasks);
	printf("  floor (SQLite, one-row UPDATE ... RETURNING autocommit, 2 processes): %.0f statements/s, "
	       "%lld busy retries\n",
	       arate, a.busy);
	printf("  devsys claim + complete:  %.0f claims/s, %.0f (claims+completes)/s, %lld busy retries, "
	       "%lld claims gave up (EBUSY)\n",
	       (double)d.ops / td, drate, d.busy, d.errors);
	printf("  ratio (claims+completes)/s / floor statements/s: %.2fx\n", drate / arate);
	return 0;
}

/* ---- PostgreSQL ---- */

#ifdef BENCH_HAVE_PQ
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *pq_connect(const char *url)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) == CONNECTION_OK)
		PQsetNoticeProcessor(c, quiet, NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "bench_store: %s\n", PQerrorMessage(c));
		exit(3);
	}
	return c;
}

static void pq_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench_store: %s: %s\n", sql, PQerrorMessage(c));
		exit(3);
	}
	PQclear(r);
}

/*
 * The CPU clock ticks /proc/PID/stat at @p path gives: the process's own
 * (utime, stime), and with @p reaped also its reaped children's (cutime,
 * cstime); its parent in *@p ppid. -1 when it cannot be read (gone).
 */
static double proc_ticks(const char *path, bool reaped, long long *ppid)
{
	char buf[1024], *p;
	long long parent, v[4];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	if (!n || !(p = strrchr(buf, ')')))
		return -1;
	/* after "pid (comm) ": state, ppid, ... utime (14), stime, cutime, cstime (17) */
	if (sscanf(p + 2, "%*c %lld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld %lld %lld", &parent, &v[0], &v[1], &v[2],
	           &v[3]) != 5)
		return -1;
	if (ppid)
		*ppid = parent;
	return (double)(v[0] + v[1] + (reaped ? v[2] + v[3] : 0));
}

/* The server's processes (the postmaster's children) at a read of its CPU. */
typedef struct server_procs {
	int n;
	long long pid[256];
} server_procs;

static bool procs_have(const server_procs *s, long long pid)
{
	for (int i = 0; i < s->n; i++)
		if (s->pid[i] == pid)
			return true;
	return false;
}

/*
 * The server's CPU seconds so far (the store's sessions are its children):
 * the postmaster's own, its reaped children's and its living children's
 * (those in *@p procs, when given), from /proc, so a worker's session that
 * ended is counted. Read so that a child reaped meanwhile counts once: the
 * children listed before and after the postmaster's own figures must be the
 * same processes, else it reads again. @p postmaster from postmaster_of();
 * -1 when /proc cannot say (a server on another host).
 */
static double server_cpu(long long postmaster, server_procs *procs)
{
	char path[64];
	for (int attempt = 0; postmaster > 0 && attempt < 20; attempt++) {
		server_procs seen[2];
		double ticks = 0, own, t;
		for (int pass = 0; pass < 2; pass++) {
			DIR *d = opendir("/proc");
			struct dirent *e;
			if (!d)
				return -1;
			seen[pass].n = 0;
			while ((e = readdir(d)) != NULL) {
				long long ppid = 0;
				if (e->d_name[0] < '1' || e->d_name[0] > '9')
					continue;
				snprintf(path, sizeof(path), "/proc/%.20s/stat", e->d_name);
				if ((t = proc_ticks(path, false, &ppid)) >= 0 && ppid == postmaster &&
				    seen[pass].n < (int)(sizeof(seen[pass].pid) / sizeof(seen[pass].pid[0]))) {
					seen[pass].pid[seen[pass].n++] = atoll(e->d_name);
					if (pass == 0)
						ticks += t;
				}
			}
			closedir(d);
			if (pass == 0) {
				snprintf(path, sizeof(path), "/proc/%lld/stat", postmaster);
				if ((own = proc_ticks(path, true, NULL)) < 0)
					return -1;
				ticks += own;
			}
		}
		if (seen[0].n == seen[1].n && memcmp(seen[0].pid, seen[1].pid, (size_t)seen[0].n * sizeof(long long)) == 0) {
			if (procs)
				*procs = seen[0];
			return ticks / (double)sysconf(_SC_CLK_TCK);
		}
	}
	return -1;
}

/* The postmaster of @p c's session (its parent), or -1. */
static long long postmaster_of(PGconn *c)
{
	char path[64];
	long long ppid = -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", PQbackendPID(c));
	return proc_ticks(path, false, &ppid) < 0 ? -1 : ppid;
}

/*
 * One-row UPDATE ... RETURNING autocommit statements over one connection,
 * for @p seconds; @p cpu_ms, when given, the server's CPU per statement.
 */
static double pg_anchor(const char *url, double seconds, char *sync, size_t sync_len, double *cpu_ms)
{
	PGconn *c = pq_connect(url);
	PGresult *r;
	long long n = 0;
	double t0, t, cpu0;
	const int rows = 10000;
	pq_exec(c, "DROP TABLE IF EXISTS bench_anchor");
	pq_exec(c, "CREATE TABLE bench_anchor(id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)");
	pq_exec(c, "INSERT INTO bench_anchor(id) SELECT generate_series(1, 10000)");
	r = PQexec(c, "SHOW synchronous_commit");
	snprintf(sync, sync_len, "%s", PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?");
	PQclear(r);
	r = PQprepare(c, "up", "UPDATE bench_anchor SET n = n + 1 WHERE id = $1 RETURNING n", 1, NULL);
	PQclear(r);
	cpu0 = server_cpu(postmaster_of(c), NULL);
	t0 = now();
	do {
		char id[16];
		const char *v[1] = { id };
		snprintf(id, sizeof(id), "%lld", n % rows + 1);
		r = PQexecPrepared(c, "up", 1, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
			fprintf(stderr, "bench_store: anchor: %s\n", PQerrorMessage(c));
			exit(3);
		}
		PQclear(r);
		n++;
	} while ((t = now() - t0) < seconds);
	if (cpu_ms)
		*cpu_ms = cpu0 < 0 ? -1.0 : 1000.0 * (server_cpu(postmaster_of(c), NULL) - cpu0) / (double)n;
	pq_exec(c, "DROP TABLE bench_anchor");
	PQfinish(c);
	return (double)n / t;
}

/*
 * What the server did for the workers: statements (pg_stat_statements, which
 * run.sh preloads; BEGIN and COMMIT count as one each), committed
 * transactions and WAL flushes, all of the benchmark's database.
 * Statements -1 when the extension is not loaded.
 */
typedef struct pg_counts {
	long long statements, commits, wal_syncs;
	long long wal_bytes, wal_fpi; /* WAL written, and how many full-page images in it (pg_stat_wal) */
	double exec_ms; /* the statements' execution time in the server (pg_stat_statements), ms */
	double cpu;     /* the server's CPU seconds (server_cpu), -1 when unknown */
	server_procs procs; /* the server's processes then */
} pg_counts;

static long long pq_num(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

/* A process of @p now that @p before did not have (a session not reaped yet). */
static bool has_new_proc(const server_procs *now_procs, const server_procs *before)
{
	for (int i = 0; i < now_procs->n; i++)
		if (!procs_have(before, now_procs->pid[i]))
			return true;
	return false;
}

/*
 * A backend reports its transaction counts when idle for a while or when it
 * exits: the workers' sessions (libdevsys's application_name) are waited out,
 * up to 10 s, and the stats snapshot is cleared so each read is fresh. With
 * @p before (the counts read before the run), also until the server has no
 * process that it did not have then: a session that ended is counted in
 * the server's CPU once the postmaster has reaped it.
 */
static pg_counts pg_read_counts(PGconn *c, const pg_counts *before)
{
	pg_counts k;
	double deadline = now() + 10;
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	while (pq_num(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'libdevsys'") > 0 &&
	       now() < deadline)
		nanosleep(&pause, NULL);
	PQclear(PQexec(c, "SELECT pg_stat_clear_snapshot()"));
	k.statements = pq_num(c, "SELECT sum(calls)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
	                         "WHERE d.datname = current_database()");
	k.commits = pq_num(c, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
	k.wal_syncs = pq_num(c, "SELECT wal_sync FROM pg_stat_wal");
	k.wal_bytes = pq_num(c, "SELECT wal_bytes::bigint FROM pg_stat_wal");
	k.wal_fpi = pq_num(c, "SELECT wal_fpi FROM pg_stat_wal");
	while ((k.cpu = server_cpu(postmaster_of(c), &k.procs)) >= 0 && before && has_new_proc(&k.procs, &before->procs) &&
	       now() < deadline)
		nanosleep(&pause, NULL);
	{
		PGresult *r = PQexec(c, "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements s JOIN pg_database d "
		                        "ON d.oid = s.dbid WHERE d.datname = current_database()");
		k.exec_ms = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atof(PQgetvalue(r, 0, 0)) : -1;
		PQclear(r);
	}
	return k;
}

static PGconn *pg_counter_conn(const char *url)
{
	PGconn *c = pq_connect(url);
	PGresult *r = PQexec(c, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
	PQclear(r);
	return c;
}

/* With BENCH_PG_STATEMENTS set: each statement the workers ran, with its calls and server time per task. */
static void pg_print_statements(PGconn *c, long tasks)
{
	PGresult *r;
	if (!getenv("BENCH_PG_STATEMENTS"))
		return;
	r = PQexec(c, "SELECT calls, total_exec_time, total_plan_time, plans, "
	              "left(regexp_replace(query, '\\s+', ' ', 'g'), 140) FROM pg_stat_statements s "
	              "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() ORDER BY calls DESC");
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		printf("           %6.2f/task %6.3f ms/task (plans %6.2f/task %6.3f ms/task)  %s\n",
		       (double)atoll(PQgetvalue(r, i, 0)) / (double)tasks, atof(PQgetvalue(r, i, 1)) / (double)tasks,
		       (double)atoll(PQgetvalue(r, i, 3)) / (double)tasks, atof(PQgetvalue(r, i, 2)) / (double)tasks,
		       PQgetvalue(r, i, 4));
	PQclear(r);
	/* each table's updates since the server started, and how many were HOT (wrote no index entry) */
	r = PQexec(c, "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE n_tup_upd > 0 ORDER BY relname");
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		printf("           table %s: %s updates, %s of them HOT\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		       PQgetvalue(r, i, 2));
	PQclear(r);
}
#endif

#define MAX_ROWS 64

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * A worker count given more than once ("4:2500 4:2500 4:2500") is measured
 * in rows of their own, each against its own anchors: the median of their
 * ratios, and their range, say where the target stands when the disk's
 * speed moves between rows more than any one row can show.
 */
static void print_repeated_rows(const int *counts, const double *ratios, int rows)
{
	for (int i = 0; i < rows; i++) {
		double r[MAX_ROWS], median;
		int k = 0, first = 1;
		for (int j = 0; j < rows; j++) {
			if (counts[j] == counts[i] && j < i)
				first = 0;
			if (counts[j] == counts[i])
				r[k++] = ratios[j];
		}
		if (!first || k < 2)
			continue;
		qsort(r, (size_t)k, sizeof(double), cmp_double);
		median = k % 2 ? r[k / 2] : 0.5 * (r[k / 2 - 1] + r[k / 2]);
		printf("  %d workers over %d rows: median ratio to the target %.2fx (%s), rows %.2fx to %.2fx\n", counts[i], k,
		       median, median >= 1.0 ? "met" : "missed", r[0], r[k - 1]);
	}
}

static int bench_pg(const char *dir, const char *url, long default_tasks, char **workers, int nworkers)
{
#ifdef BENCH_HAVE_PQ
	char ws[4200], sync[32], prefix[32];
	store_job job;
	double anchor;
	int rc = 0;
	snprintf(ws, sizeof(ws), "%s/ws", dir);
	if (mkdir(ws, 0700) < 0 && errno != EEXIST)
		return 3;
	job.workspace = ws;
	job.url = url;
	/*
	 * The anchor runs again just before and after each worker count (3 s
	 * each): on a shared machine the load moves within minutes, and each
	 * ratio should compare measurements taken side by side.
	 */
	anchor = pg_anchor(url, 0.2, sync, sizeof(sync), NULL); /* the setting, and a warm server */
	printf("PostgreSQL, no-op tasks (claim, then complete), synchronous_commit=%s\n", sync);
	printf("  anchor: one libpq connection, one-row UPDATE ... RETURNING autocommit, measured before and after each row\n");
	printf("  target per worker: (claims+completes)/s >= 0.5 x anchor/2 (the mean of the row's two anchors)\n");
	printf("  %-8s %7s %13s %10s %22s %30s %8s\n", "workers", "tasks", "anchor/s", "claims/s",
	       "(claims+completes)/s", "per worker (ratio to target)", "scaling");
	double one = 0, ratios[MAX_ROWS];
	int counts[MAX_ROWS];
	if (nworkers > MAX_ROWS)
		return 2;
	for (int w = 0; w < nworkers; w++) {
		/* "N" or "N:TASKS": N workers, on TASKS tasks of their own (else the default count) */
		int n = atoi(workers[w]);
		long tasks = strchr(workers[w], ':') ? atol(strchr(workers[w], ':') + 1) : default_tasks;
		result d;
		double t, per, after, anchor_cpu, after_cpu;
		PGconn *counter;
		pg_counts k0, k1;
		if (n < 1 || n > MAX_WORKERS || tasks < 1)
			return 2;
		snprintf(prefix, sizeof(prefix), "w%d", n);
		submit_tasks(&job, prefix, tasks, 4);
		anchor = pg_anchor(url, 3.0, sync, sizeof(sync), &anchor_cpu);
		counter = pg_counter_conn(url);
		PQclear(PQexec(counter, "SELECT pg_stat_statements_reset()"));
		k0 = pg_read_counts(counter, NULL);
		t = run_children(n, claimer, &job, &d);
		k1 = pg_read_counts(counter, &k0);
		if (d.ops != tasks || queue_left(&job) != 0) {
			fprintf(stderr, "bench_store: %d workers: %lld claims of %ld tasks\n", n, d.ops, tasks);
			return 1;
		}
		after = pg_anchor(url, 3.0, sync, sizeof(sync), &after_cpu);
		per = 2.0 * (double)d.ops / t / n;
		if (one == 0)
			one = (double)d.ops / t;
		printf("  %-8d %7ld %6.0f/%-6.0f %10.0f %22.0f %22.0f (%5.2fx) %7.2fx\n", n, tasks, anchor, after,
		       (double)d.ops / t, 2.0 * (double)d.ops / t, per, per / (0.125 * (anchor + after)),
		       (double)d.ops / t / one);
		counts[w] = n;
		ratios[w] = per / (0.125 * (anchor + after));
		printf("           ratio to the target against the anchor before: %.2fx, after: %.2fx\n",
		       per / (0.25 * anchor), per / (0.25 * after));
		fflush(stdout);
		if (d.errors)
			printf("           (%lld claims gave up with EBUSY and were retried)\n", d.errors);
		printf("           per task (claim + complete): %.2f statements, %.2f commits, %.2f WAL flushes, "
		       "%.0f bytes of WAL (%.2f full-page images)\n",
		       k1.statements < 0 ? -1.0 : (double)(k1.statements - k0.statements) / (double)tasks,
		       (double)(k1.commits - k0.commits) / (double)tasks,
		       (double)(k1.wal_syncs - k0.wal_syncs) / (double)tasks,
		       (double)(k1.wal_bytes - k0.wal_bytes) / (double)tasks, (double)(k1.wal_fpi - k0.wal_fpi) / (double)tasks);
		/* where a task's time goes: the worker's own CPU, and the server's time executing its statements */
		printf("           per task: %.3f ms of the workers' CPU, %.3f ms of the server's CPU (%.3f ms executing "
		       "statements)\n",
		       1000.0 * d.cpu / (double)tasks, k1.cpu < 0 || k0.cpu < 0 ? -1.0 : 1000.0 * (k1.cpu - k0.cpu) / (double)tasks,
		       k1.exec_ms < 0 ? -1.0 : (k1.exec_ms - k0.exec_ms) / (double)tasks);
		printf("           the anchor: %.3f ms of the server's CPU a statement (before), %.3f (after)\n", anchor_cpu,
		       after_cpu);
		pg_print_statements(counter, tasks);
		PQfinish(counter);
		fflush(stdout);
	}
	print_repeated_rows(counts, ratios, nworkers);
	printf("  (scaling: claims/s against the first row's; statements: every call the workers' connections made,\n"
	       "   opening included; commits: transactions committed in the database, read-only ones too)\n");
	return rc;
#else
	(void)dir;
	(void)url;
	(void)default_tasks;
	(void)workers;
	(void)nworkers;
	fprintf(stderr, "bench_store: built without libpq (the postgresql module)\n");
	return 2;
#endif
}

int main(int argc, char **argv)
{
	int rc;
	signal(SIGPIPE, SIG_IGN);
	if (devsys_init() < 0)
		die("init");
	if (argc == 4 && !strcmp(argv[1], "sqlite") && atol(argv[3]) > 0)
		rc = bench_sqlite(argv[2], atol(argv[3]));
	else if (argc >= 6 && !strcmp(argv[1], "pg") && atol(argv[4]) > 0)
		rc = bench_pg(argv[2], argv[3], atol(argv[4]), argv + 5, argc - 5);
	else {
		fprintf(stderr, "usage: bench_store sqlite WORKDIR TASKS\n"
		                "       bench_store pg WORKDIR URL TASKS WORKERS...\n");
		rc = 2;
	}
	devsys_shutdown();
	return rc;
}
