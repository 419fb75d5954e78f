/*
 * Runner-pool limits and cool-downs shared by processes on one store (the
 * workspace's SQLite file): each test stage runs in a forked process of its
 * own with its own pipeline and store handle, as two `devsys worker`
 * processes would, on a pool of two real sshd fixtures. The command logs,
 * on the runner's side, which sshd it runs under ($SSH_CONNECTION's server
 * port) and when it starts and ends, so placement and overlap are read
 * from what the hosts saw, not from the pipeline's own record.
 *
 * - per_host_max 1 over two hosts: two tasks claimed by two workers, whose
 *   commands pass only when both run at once, run on different hosts and
 *   never overlap on one; the control, a one-host pool with per_host_max
 *   2, puts both on that host at once (the overlap check fires);
 * - a cool-down one process set (a host that refuses the key) is honoured
 *   by another, which never tries that host; once it expired, the other
 *   process places there;
 * - a worker killed with SIGKILL while its command runs holds its slot
 *   only until its queue lease expires: another process waits, and is
 *   placed on that host after the lease's end by the store's clock;
 * - a process whose task holds no lease (never queued) killed with SIGKILL
 *   while its command runs holds its slot until the slot's own expiry: the
 *   store's clock is moved for that slot (its until_ms put back in the
 *   database), and another process, waiting until then, is placed after it;
 * - while such a process runs, its slot's keeper renews the slot a third of
 *   its 30 s life after the placement (read from the store's row).
 *
 * pool_shared_pg.c builds the first and the last two on a real PostgreSQL
 * 15 store instead (one server for the suite, tests/support/pg_fixture.h),
 * named by the configuration's store: section: the pool's advisory lock,
 * the slots tied to the two workers' leases, and their release; an untied
 * slot's expiry on the server's clock, and its renewal.
 */
#include "pipeline_fixture.h"
#include "sshd_fixture.h"
#ifdef POOL_SHARED_PG
#include "pg_suite.h"
#endif
#include <devsys.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static dt_sshd *a, *b;
static char cfg_path[4096];

#ifdef POOL_SHARED_PG
#define SUITE pipeline_pool_shared_pg
static dt_pg *pg;
static char *pg_url;
#else
#define SUITE pipeline_pool_shared
#endif

/* $1 task, $2 marks dir, $3 meet|hold|quick. A "start"/"end" line each with the sshd's port and ns. */
/*
 * $1 task, $2 marks dir, $3 meet|hold|quick (meet: until two tasks of $1's prefix started). A "start" and an "end" line, each with the port of the sshd the
 * command runs under (the runner clears the environment, so it is read from the listener's sshd_config, found
 * among the command's ancestors) and the time in ns.
 */
static const char run_sh[] = "#!/bin/sh\n"
                             "p=$$; port=0\n"
                             "while [ \"$p\" -gt 1 ] && [ \"$port\" = 0 ]; do\n"
                             "  cfg=$(tr '\\0' ' ' < /proc/$p/cmdline | grep -o '[^ ]*/sshd_config')\n"
                             "  [ -n \"$cfg\" ] && port=$(awk '$1 == \"Port\" {print $2}' \"$cfg\")\n"
                             "  p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)\n"
                             "done\n"
                             "echo \"start $port $(date +%s%N)\" >> \"$2/$1.log\"\n"
                             "i=0\n"
                             "while [ \"$3\" != quick ] && [ $i -lt 600 ]; do\n"
                             "  if [ \"$3\" = meet ]; then [ $(ls \"$2\" | grep -c \"^${1%%-*}-.*\\.log$\") -ge 2 ] && break\n"
                             "  else [ -e \"$2/go\" ] && break; fi\n"
                             "  sleep 0.05; i=$((i+1))\n"
                             "done\n"
                             "echo \"end $port $(date +%s%N)\" >> \"$2/$1.log\"\n"
                             "[ $i -lt 600 ]\n";

static void open_pipeline(void)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	po.config_path = cfg_path;
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_pipeline_new(&pl, ws, &po), 0, "%s", devsys_error_message(devsys_error_last()));
}

/* Before a fork: the child opens its own store connection. */
static void close_pipeline(void)
{
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	pl = NULL;
	ws = NULL;
}

/* farm: @p first and @p second at @p per_host_max each; solo: @p first alone, 2 at once; one: @p first alone, 1. */
static void write_config(const char *first, const char *second, unsigned int per_host_max, unsigned int cooldown_s)
{
	char cfg[8192], common[2048];
	snprintf(common, sizeof(common),
	         "    user: %s\n    key: %s\n    known_hosts: %s/known_hosts\n    remote_dir: %s/remote\n"
	         "    connect_timeout: 5s\n    grace: 200ms\n",
	         a->user, a->user_key, dir, dir);
	size_t len = 0;
#ifdef POOL_SHARED_PG
	len = (size_t)snprintf(cfg, sizeof(cfg), "store:\n  url: %s\n  password_secret: DT_POOL_PG_PASSWORD\n", pg_url);
#endif
	snprintf(cfg + len, sizeof(cfg) - len,
	         "runners:\n"
	         "  farm:\n    type: remote-ssh\n    hosts: [\"%s\", \"%s\"]\n    per_host_max: %u\n    cooldown: %us\n%s"
	         "  solo:\n    type: remote-ssh\n    hosts: [\"%s\"]\n    per_host_max: 2\n%s"
	         "  one:\n    type: remote-ssh\n    hosts: [\"%s\"]\n    per_host_max: 1\n%s",
	         first, second, per_host_max, cooldown_s, common, first, common, first, common);
	cr_assert(dt_write_file(cfg_path, cfg));
}

static void host_of(char *out, size_t cap, const dt_sshd *s)
{
	snprintf(out, cap, "127.0.0.1:%d", s->port);
}

static void setup(void)
{
	char why[256], p[4096], ha[64], hb[64];
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	/* each remote command goes through the login shell: keep a slow ~/.bashrc out of the timing */
	dt_sshd_quiet_login_shell(true);
	if (!(a = dt_sshd_start(why, sizeof(why))) || !(b = dt_sshd_start(why, sizeof(why))))
		dt_skip("%s", why);
#ifdef POOL_SHARED_PG
	unsetenv("DEVSYS_STORE_URL"); /* only the configuration names the database */
	if (!(pg = dt_pg_suite(why, sizeof(why))))
		dt_skip("%s", why);
	cr_assert(pg_url = dt_pg_newdb(pg, "poolshared"));
	setenv("DT_POOL_PG_PASSWORD", pg->password, 1);
#endif
	dir = dt_tmpdir("poolshared");
	/* one key and one known_hosts for the pool: a's user key is authorized on b too */
	cr_assert_eq(dt_sh("cat '%s' >> '%s' && cat '%s' '%s' > '%s/known_hosts' && mkdir -p '%s/remote' '%s/marks'",
	                   a->user_pub, b->authorized_keys, a->known_hosts, b->known_hosts, dir, dir, dir),
	             0);
	snprintf(p, sizeof(p), "%s/run.sh", dir);
	cr_assert(dt_write_file(p, run_sh));
	dt_pipe_remote(dir, NULL);
	snprintf(cfg_path, sizeof(cfg_path), "%s/devsys.yaml", dir);
	host_of(ha, sizeof(ha), a);
	host_of(hb, sizeof(hb), b);
	write_config(ha, hb, 1, 120);
	open_pipeline();
}

static void teardown(void)
{
	char go[4096];
	if (dir) { /* a killed worker's command is still waiting on its host */
		snprintf(go, sizeof(go), "%s/marks/go", dir);
		dt_write_file(go, "");
	}
	close_pipeline();
	dt_sshd_free(a);
	dt_sshd_free(b);
	a = b = NULL;
	if (dir)
		dt_rmrf(dir);
	free(dir);
	dir = NULL;
#ifdef POOL_SHARED_PG
	free(pg_url);
	pg_url = NULL;
	dt_pg_free(pg);
	pg = NULL;
#endif
	devsys_shutdown();
}

#define MSG devsys_error_message(devsys_error_last())

/*
 * Validate task @p id (its tests run run.sh in @p mode on @p profile); with
 * @p owner, queue it and claim it as that worker (lease @p lease_ms); then
 * code it and mark it pr-opened, ready for the test stage.
 */
static void coded(const char *id, const char *profile, const char *mode, const char *owner, unsigned int lease_ms)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	devsys_store *st = devsys_pipeline_store(pl);
	devsys_buf got = DEVSYS_BUF_INIT;
	char spec[4096];
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Shared pool %s\nprompt: Change the README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, -c, \"echo %s >> README\"]\n"
	         "tests:\n  command: [/bin/sh, %s/run.sh, %s, %s/marks, %s]\n  runner: %s\n",
	         id, id, dir, id, dir, id, dir, mode, profile);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s", MSG);
	if (owner) {
		cr_assert_eq(devsys_store_submit(st, id, profile, NULL), 0, "%s", MSG);
		cr_assert_eq(devsys_store_claim(&got, st, owner, "127.0.0.1", NULL, 0, lease_ms), 0, "%s", MSG);
		cr_assert_str_eq(got.ptr, id);
		devsys_buf_dispose(&got);
	}
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, MSG);
	cr_assert_eq(devsys_store_transition(st, id, DEVSYS_STATE_PR_OPENED, "test fixture"), 0, "%s", MSG);
}

/* ---- a worker process ---- */

struct beat {
	devsys_store *st;
	const char *id, *owner;
	unsigned int lease_ms;
};

/* The worker's heartbeat: the lease lives while the process does. */
static void *beat(void *arg)
{
	struct beat *bt = arg;
	struct timespec t = { 0, (long)bt->lease_ms / 4 * 1000000L };
	for (;;) {
		if (devsys_store_heartbeat(bt->st, bt->id, bt->owner, bt->lease_ms) < 0)
			_exit(5);
		nanosleep(&t, NULL);
	}
	return NULL;
}

/* The child's body: run task @p id's test stage; a heartbeat keeps @p owner's lease (lease_ms) when given. */
static int child_run(const char *id, const char *owner, unsigned int lease_ms)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	devsys_workspace *w = NULL;
	devsys_pipeline *q = NULL;
	struct beat bt;
	pthread_t th;
	char p[4096];
	int rc;
	po.config_path = cfg_path;
	if (devsys_workspace_open(&w, dir, NULL) < 0 || devsys_pipeline_new(&q, w, &po) < 0)
		return 2;
	bt = (struct beat){ devsys_pipeline_store(q), id, owner, lease_ms };
	if (owner && lease_ms) {
		if (devsys_store_heartbeat(bt.st, id, owner, lease_ms) < 0 || pthread_create(&th, NULL, beat, &bt) != 0)
			return 3;
	}
	if ((rc = devsys_pipeline_load(q, id)) == 0)
		rc = devsys_pipeline_run_stage(&r, q, "test");
	snprintf(p, sizeof(p), "%s/%s.err", dir, id);
	dt_write_file(p, rc ? MSG : "");
	return rc ? 1 : 0;
}

/* Fork a worker process for task @p id (no criterion call in the child: it would talk to the runner). */
static pid_t spawn(const char *id, const char *owner, unsigned int lease_ms)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_run(id, owner, lease_ms));
	cr_assert_neq(pid, -1);
	return pid;
}

static void reap(pid_t pid, const char *id)
{
	char p[4096], *err;
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	snprintf(p, sizeof(p), "%s/%s.err", dir, id);
	err = dt_read_file(p, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the worker of %s: status %#x: %s", id, status,
	          err ? err : "(no error written)");
	free(err);
}

/* ---- what the hosts saw ---- */

typedef struct {
	int port;
	long long start, end; /* ns; end 0: never ended */
} run_seen;

/* Task @p id's run on its host (the first one its log shows). */
static run_seen seen(const char *id)
{
	char p[4096], *text, *line, *save = NULL;
	run_seen r = { 0, 0, 0 };
	snprintf(p, sizeof(p), "%s/marks/%s.log", dir, id);
	text = dt_read_file(p, NULL);
	cr_assert_not_null(text, "%s never ran", id);
	cr_assert(strstr(text, "start "), "%s: %s", id, text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int port;
		long long ns;
		if (sscanf(line, "start %d %lld", &port, &ns) == 2 && !r.start) {
			r.port = port;
			r.start = ns;
		} else if (sscanf(line, "end %d %lld", &port, &ns) == 2 && !r.end)
			r.end = ns;
	}
	free(text);
	cr_assert(r.port > 0 && r.start > 0, "%s: no port or start time in its log", id);
	return r;
}

/* Did two runs share one host at one time? */
static bool overlap_on_a_host(run_seen x, run_seen y)
{
	return x.port == y.port && x.start < y.end && y.start < x.end;
}

/*
 * Tasks @p id1 and @p id2 on @p profile, their commands waiting for each
 * other (meet), each run by a worker process of its own; what the hosts
 * saw of each into *@p s1 and *@p s2. Leaves the pipeline closed.
 */
static void two_workers(const char *id1, const char *id2, const char *profile, run_seen *s1, run_seen *s2)
{
	pid_t w1, w2;
	coded(id1, profile, "meet", "w1/0", 60000);
	coded(id2, profile, "meet", "w2/0", 60000);
	close_pipeline();
	w1 = spawn(id1, NULL, 0);
	w2 = spawn(id2, NULL, 0);
	reap(w1, id1);
	reap(w2, id2);
	*s1 = seen(id1);
	*s2 = seen(id2);
}

static bool at_once(run_seen x, run_seen y)
{
	return x.start < y.end && y.start < x.end;
}

static __attribute__((unused)) bool wait_file(const char *path, int ms)
{
	struct timespec t = { 0, 20 * 1000000 };
	for (int i = 0; i < ms / 20 && !dt_exists(path); i++)
		nanosleep(&t, NULL);
	return dt_exists(path);
}

/* Poll until task @p id's folder has an event of @p type, with a deadline. */
static __attribute__((unused)) bool wait_event(const char *id, const char *type, int ms)
{
	struct timespec t = { 0, 20 * 1000000 };
	for (int i = 0; i < ms / 20 && dt_pipe_events(dir, id, type, NULL) < 1; i++)
		nanosleep(&t, NULL);
	return dt_pipe_events(dir, id, type, NULL) >= 1;
}

static __attribute__((unused)) void run_here(const char *id)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	cr_assert_eq(devsys_pipeline_load(pl, id), 0, "%s", MSG);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s: %s: %s", id, r.outcome, MSG);
}

/* The store's clock in SQL, as the backend measures slots with it (ms since the epoch). */
#ifdef POOL_SHARED_PG
#define STORE_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"
#else
#define STORE_NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
#endif

/* Run @p sql on the store's database: its first row's first column as text ("" for none); free() it. */
static char *store_sql(const char *sql)
{
	char *out = NULL;
#ifdef POOL_SHARED_PG
	cr_assert_eq(dt_pg_sql(pg, pg_url, &out, "%s", sql), 0, "%s: %s", sql, out ? out : "");
	out[strcspn(out, "\n")] = '\0';
#else
	char p[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc;
	snprintf(p, sizeof(p), "%s/devsys.db", dir);
	cr_assert_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK, "%s", p);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	rc = sqlite3_step(st);
	cr_assert(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
	out = strdup(rc == SQLITE_ROW && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
#endif
	cr_assert(out);
	return out;
}

static long long store_num(const char *sql)
{
	char *v = store_sql(sql);
	long long n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

Test(SUITE, two_workers_keep_one_per_host_limit_and_the_control_overlaps, .init = setup,
     .fini = teardown, .timeout = 120)
{
	run_seen s1, s2, c1, c2;
	/* per_host_max 1 over two hosts; the commands pass only when both run at once */
	two_workers("s-1", "s-2", "farm", &s1, &s2);
	cr_assert(at_once(s1, s2), "both commands ran at once (they wait for each other)");
	cr_assert(s1.port == a->port || s1.port == b->port, "s-1 ran under sshd port %d", s1.port);
	cr_assert(s2.port == a->port || s2.port == b->port, "s-2 ran under sshd port %d", s2.port);
	cr_assert_neq(s1.port, s2.port, "two processes with per_host_max 1 shared host %d", s1.port);
	cr_assert(!overlap_on_a_host(s1, s2));
	/* the record names the host the command ran under */
	for (int i = 0; i < 2; i++) {
		const char *id = i ? "s-2" : "s-1";
		char h[64];
		json_t *tj = dt_pipe_task_json(dir, id);
		snprintf(h, sizeof(h), "127.0.0.1:%d", (i ? s2 : s1).port);
		cr_assert_str_eq(json_string_value(json_object_get(tj, "runner_host")), h, "%s", id);
		json_decref(tj);
		cr_assert_eq(dt_pipe_events(dir, id, "runner.placed", h), 1, "%s", id);
		cr_assert_eq(dt_pipe_events(dir, id, "runner.waiting", NULL), 0, "%s: a free host was there", id);
	}

	/* the control: per_host_max 2 on one host, and the two processes run there together */
	open_pipeline();
	two_workers("c-1", "c-2", "solo", &c1, &c2);
	cr_assert_eq(c1.port, a->port);
	cr_assert_eq(c2.port, a->port);
	cr_assert(overlap_on_a_host(c1, c2), "per_host_max 2: both ran on host %d at once", a->port);
	open_pipeline();
}

/*
 * A slot no queue lease holds (a pipeline run outside the queue, as
 * `devsys run` does) lives until its own until_ms: 30 s from its placement,
 * renewed by its process every 10 s while the runner is open. Its process
 * is killed with SIGKILL while its command runs on the one-host pool:
 * another process waits for the host while the slot's time is not up
 * (the control), and is placed there once it is. So as not to wait 30 s,
 * the store's clock is moved for that slot: its until_ms (and taken_ms
 * with it) is put back to 1.5 s from now in the database, as if 28.5 s had
 * passed; the waiting process must start on the host after that moment
 * and well before the slot's first end.
 */
Test(SUITE, an_unclaimed_tasks_slot_frees_at_its_expiry_and_not_before, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char started[4096], ha[64];
	long long life, left, first_end, moved_end;
	run_seen w;
	pid_t wk, waiter;
	int status;
	host_of(ha, sizeof(ha), a);
	coded("u-1", "one", "hold", NULL, 0); /* never queued: no lease to tie its slot to */
	coded("u-2", "one", "quick", NULL, 0);
	close_pipeline();
	wk = spawn("u-1", NULL, 0);
	snprintf(started, sizeof(started), "%s/marks/u-1.log", dir);
	cr_assert(wait_file(started, 30000), "u-1's command never started");

	/* its slot: untied, 30 s from its placement (or from a renewal), and not yet up */
	cr_assert_eq(store_num("SELECT count(*) FROM host_slots WHERE pool = 'one'"), 1);
	cr_assert_eq(store_num("SELECT count(*) FROM host_slots WHERE task_id = 'u-1' AND lease_owner = ''"), 1,
	             "u-1's slot is tied to a lease");
	life = store_num("SELECT until_ms - taken_ms FROM host_slots WHERE task_id = 'u-1'");
	left = store_num("SELECT until_ms - " STORE_NOW_MS " FROM host_slots WHERE task_id = 'u-1'");
	cr_assert_geq(life, 30000, "an untied slot lives 30 s from its placement: %lld ms", life);
	cr_assert(left > 0 && left <= 30000, "the slot has %lld ms left", left);
	cr_assert_eq(kill(wk, SIGKILL), 0);
	cr_assert_eq(waitpid(wk, &status, 0), wk);
	cr_assert(WIFSIGNALED(status));
	first_end = store_num("SELECT until_ms FROM host_slots WHERE task_id = 'u-1'");

	/* the control: the dead process's slot still holds the host, and u-2's process waits */
	waiter = spawn("u-2", NULL, 0);
	cr_assert(wait_event("u-2", "runner.waiting", 30000), "u-2 never waited for the held host");
	snprintf(started, sizeof(started), "%s/marks/u-2.log", dir);
	cr_assert(!dt_exists(started), "u-2 ran on the host while the killed process's slot was live");
	cr_assert_eq(store_num("SELECT count(*) FROM host_slots WHERE pool = 'one'"), 1);

	/* the store's clock moved for the slot: 1.5 s left */
	store_num("UPDATE host_slots SET taken_ms = taken_ms - (until_ms - (" STORE_NOW_MS " + 1500)), "
	          "until_ms = " STORE_NOW_MS " + 1500 WHERE task_id = 'u-1'");
	moved_end = store_num("SELECT until_ms FROM host_slots WHERE task_id = 'u-1'");
	cr_assert_lt(moved_end, first_end - 5000, "the slot's end was not moved");
	reap(waiter, "u-2");
	w = seen("u-2");
	cr_assert_eq(w.port, a->port);
	cr_assert_geq(w.start / 1000000, moved_end, "u-2 started on the host at %lld ms, before the slot's end at %lld ms",
	              w.start / 1000000, moved_end);
	cr_assert_lt(w.start / 1000000, first_end, "u-2 started only at the slot's first end (%lld ms), not the moved one",
	             first_end);
	open_pipeline();
	cr_assert_eq(dt_pipe_events(dir, "u-2", "runner.waiting", NULL), 1);
	cr_assert_eq(dt_pipe_events(dir, "u-2", "runner.placed", ha), 1);
	cr_assert_eq(store_num("SELECT count(*) FROM host_slots WHERE pool = 'one'"), 0,
	             "the dead slot was dropped, and u-2 released its own");
}

/*
 * While its process runs, an untied slot's keeper renews it a third of the
 * slot's 30 s life after its placement and every third after that, so a
 * stage that runs longer than 30 s keeps its host. Read from the store's
 * row while the command holds the host: the slot's end stays put until
 * about 10 s after the placement (not renewed at once, nor continuously),
 * then moves on to 30 s from the renewal. The test above is the control:
 * the slot of a process killed before a renewal keeps its first end.
 */
Test(SUITE, a_running_processs_untied_slot_is_renewed_by_its_keeper, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char started[4096], go[4096];
	struct timespec t = { 0, 50 * 1000000 };
	long long taken, first_end, end = 0, left;
	pid_t wk;
	coded("k-1", "one", "hold", NULL, 0); /* never queued: its slot is untied */
	close_pipeline();
	wk = spawn("k-1", NULL, 0);
	snprintf(started, sizeof(started), "%s/marks/k-1.log", dir);
	cr_assert(wait_file(started, 30000), "k-1's command never started");
	taken = store_num("SELECT taken_ms FROM host_slots WHERE task_id = 'k-1' AND lease_owner = ''");
	first_end = store_num("SELECT until_ms FROM host_slots WHERE task_id = 'k-1'");
	cr_assert_gt(taken, 0, "k-1 holds no untied slot");
	cr_assert_geq(first_end - taken, 30000, "an untied slot lives 30 s from its placement");
	/* a deadline of 20 s: past the first renewal (10 s), before the command gives up (30 s) */
	for (int i = 0; i < 400 && (end = store_num("SELECT until_ms FROM host_slots WHERE task_id = 'k-1'")) == first_end;
	     i++)
		nanosleep(&t, NULL);
	left = store_num("SELECT until_ms - " STORE_NOW_MS " FROM host_slots WHERE task_id = 'k-1'");
	cr_assert_gt(end, first_end, "the slot was never renewed while its process ran (until_ms %lld)", first_end);
	cr_assert_geq(end - 30000 - taken, 8000, "renewed %lld ms after its placement, not a third of its life later",
	              end - 30000 - taken);
	cr_assert(left > 20000 && left <= 30000, "after the renewal the slot has %lld ms left, not about 30 s", left);
	snprintf(go, sizeof(go), "%s/marks/go", dir);
	cr_assert(dt_write_file(go, ""));
	reap(wk, "k-1");
	cr_assert_eq(store_num("SELECT count(*) FROM host_slots WHERE pool = 'one'"), 0,
	             "the slot was released when its stage ended");
}

#ifndef POOL_SHARED_PG
/* The lease task @p id's last claim held until, in ms of the store's clock. */
static long long lease_until(const char *id)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	json_t *j, *claims;
	long long until;
	cr_assert_eq(devsys_store_claims_json(devsys_pipeline_store(pl), id, &out), 0, "%s", MSG);
	j = json_loads(out.ptr, 0, NULL);
	claims = json_object_get(j, "claims");
	cr_assert_gt(json_array_size(claims), 0, "%s", out.ptr);
	until = (long long)json_integer_value(json_object_get(json_array_get(claims, json_array_size(claims) - 1),
	                                                      "until_ms"));
	json_decref(j);
	devsys_buf_dispose(&out);
	return until;
}

Test(SUITE, a_killed_workers_slot_frees_when_its_lease_expires, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char started[4096], ha[64];
	run_seen k2;
	long long until;
	pid_t wk;
	int status;
	host_of(ha, sizeof(ha), a);
	/* one host, one at a time: the killed worker's command holds it (it waits for a go file that never comes) */
	coded("k-2", "one", "quick", NULL, 0);
	coded("k-1", "one", "hold", "wk/0", 60000);
	close_pipeline();
	wk = spawn("k-1", "wk/0", 3000); /* its heartbeat keeps a 3 s lease */
	snprintf(started, sizeof(started), "%s/marks/k-1.log", dir);
	cr_assert(wait_file(started, 30000), "the worker's command never started");
	cr_assert_eq(kill(wk, SIGKILL), 0);
	cr_assert_eq(waitpid(wk, &status, 0), wk);
	cr_assert(WIFSIGNALED(status));

	/* this process waits for the host while the dead worker's lease lives, and gets it after */
	open_pipeline();
	run_here("k-2");
	until = lease_until("k-1");
	k2 = seen("k-2");
	cr_assert_eq(k2.port, a->port);
	cr_assert_eq(dt_pipe_events(dir, "k-2", "runner.waiting", NULL), 1, "k-2 waited for the held host");
	cr_assert_geq(k2.start / 1000000, until, "k-2 started on the host at %lld ms, before the killed worker's lease "
	                                         "ended at %lld ms",
	              k2.start / 1000000, until);
	cr_assert_eq(dt_pipe_events(dir, "k-2", "runner.placed", ha), 1);
}


/* How many members of pool @p pool the store has cooling down now (by the store's clock). */
static int cooling(const char *pool)
{
	char p[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;
	snprintf(p, sizeof(p), "%s/devsys.db", dir);
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db,
	                       "SELECT count(*) FROM host_cools WHERE pool = ?1 AND "
	                       "until_ms > CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		sqlite3_bind_text(st, 1, pool, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Poll until pool @p pool has @p n members cooling down, with a deadline. */
static bool until_cooling(const char *pool, int n, int ms)
{
	struct timespec t = { 0, 20 * 1000000 };
	for (int i = 0; i < ms / 20 && cooling(pool) != n; i++)
		nanosleep(&t, NULL);
	return cooling(pool) == n;
}

static const char *placement(json_t *tj, size_t i, bool *failed)
{
	json_t *e = json_array_get(json_object_get(tj, "placements"), i);
	*failed = json_is_string(json_object_get(e, "failed"));
	return json_string_value(json_object_get(e, "host"));
}

Test(SUITE, a_cool_down_one_process_set_holds_in_another_until_it_ends, .init = setup,
     .fini = teardown, .timeout = 120)
{
	char ha[64], hb[64];
	json_t *tj;
	bool failed;
	pid_t wa;
	host_of(ha, sizeof(ha), a);
	host_of(hb, sizeof(hb), b);
	/* b listed first, and refusing the pool's key: whoever opens it first fails and cools it */
	close_pipeline();
	write_config(hb, ha, 2, 4);
	open_pipeline();
	cr_assert_eq(dt_sh("cp '%s' '%s'", b->user_pub, b->authorized_keys), 0);
	coded("cd-1", "farm", "quick", NULL, 0);
	coded("cd-2", "farm", "quick", NULL, 0);
	coded("cd-3", "farm", "quick", NULL, 0);
	close_pipeline();
	wa = spawn("cd-1", NULL, 0);
	cr_assert(until_cooling("farm", 1, 30000), "process A never cooled host b");
	/* process B, while b cools: straight to a, never trying b (it would be refused and recorded failed) */
	open_pipeline();
	run_here("cd-2");
	cr_assert_eq(dt_pipe_events(dir, "cd-2", "runner.host_failed", NULL), 0,
	             "B tried the cooled host (or its 4 s cool-down had ended before B placed)");
	tj = dt_pipe_task_json(dir, "cd-2");
	cr_assert_eq(json_array_size(json_object_get(tj, "placements")), 1);
	cr_assert_str_eq(placement(tj, 0, &failed), ha);
	json_decref(tj);
	cr_assert_eq(seen("cd-2").port, a->port);
	reap(wa, "cd-1");
	tj = dt_pipe_task_json(dir, "cd-1");
	cr_assert_eq(json_array_size(json_object_get(tj, "placements")), 2);
	cr_assert_str_eq(placement(tj, 0, &failed), hb);
	cr_assert(failed, "A's placement on b failed");
	cr_assert_str_eq(placement(tj, 1, &failed), ha);
	json_decref(tj);

	/* the control: b takes the key again, and once the cool-down ended B places there (listed first) */
	cr_assert_eq(dt_sh("cat '%s' >> '%s'", a->user_pub, b->authorized_keys), 0);
	cr_assert(until_cooling("farm", 0, 30000), "the cool-down never ended");
	run_here("cd-3");
	tj = dt_pipe_task_json(dir, "cd-3");
	cr_assert_eq(json_array_size(json_object_get(tj, "placements")), 1);
	cr_assert_str_eq(placement(tj, 0, &failed), hb);
	cr_assert(!failed);
	json_decref(tj);
	cr_assert_eq(seen("cd-3").port, b->port);
}
#endif /* !POOL_SHARED_PG */
