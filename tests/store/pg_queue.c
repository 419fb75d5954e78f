/*
 * The queue on PostgreSQL with real `devsys worker` processes (DEVSYS_STORE_URL
 * set, one shared workspace for the task folders): 4 workers claim 200 no-op
 * tasks (24 under ASan) and each runs exactly once (the claim log and the events say so); a
 * worker killed with SIGKILL mid-stage loses its lease, and another worker
 * resumes its tasks with no second commit or PR; PostgreSQL restarted while
 * 4 workers run: they reconnect and every task still rests, once.
 */
#include "pg_suite.h"
#include <devsys.h>
#include <devsys/store.h>

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static dt_pg *pg;
static char *dir, *url, *wsdir, *cli;
static devsys_workspace *ws;
static devsys_store *st;

/*
 * The 200 tasks in the dev build. Under ASan a worker runs each
 * pipeline many times slower (about a second a task on a loaded 2-core
 * machine); 24 tasks over the 4 workers take the same claim paths through
 * the sanitizer within the suites' time budget.
 */
#if defined(__SANITIZE_ADDRESS__)
#define MANY_TASKS 24
#define RESTART_TASKS 24
#else
#define MANY_TASKS 200
#define RESTART_TASKS 80
#endif

#define SHM_PREFIX "/dev/shm/dt-pgq-"

/*
 * The task folders, mirrors and the bare repository go to tmpfs when there
 * is one: a no-op task makes some 85 fsyncs in the record and git, and on
 * this kind of VM disk they, not the queue, would set the pace.
 */
static char *work_dir(void)
{
	char *d = strdup(SHM_PREFIX "XXXXXX");
	if (d && access("/dev/shm", W_OK) == 0 && mkdtemp(d))
		return d;
	free(d);
	return dt_tmpdir("pgq");
}

static void remove_work_dir(const char *d)
{
	if (strncmp(d, SHM_PREFIX, strlen(SHM_PREFIX)) == 0 && !strstr(d, "..") && !strchr(d, '\''))
		dt_sh("rm -rf -- '%s'", d);
	else
		dt_rmrf(d);
}

static void setup(void)
{
	char why[512];
	cr_assert_eq(devsys_init(), 1);
	cli = getenv("DEVSYS_CLI");
	if (!(pg = dt_pg_suite(why, sizeof(why))))
		return;
	cr_assert(cli, "DEVSYS_CLI is not set");
	cr_assert(dir = work_dir());
	dt_pg_client_env(pg, dir);
	cr_assert(url = dt_pg_newdb(pg, "q"));
	setenv("DEVSYS_STORE_URL", url, 1); /* the workers and this test share the database */
	cr_assert(asprintf(&wsdir, "%s/ws", dir) > 0);
	dt_pipe_remote(dir, NULL);
	cr_assert_eq(devsys_workspace_open(&ws, wsdir, NULL), 0, "%s", MSG);
	OK(devsys_store_open(&st, ws, NULL));
	cr_assert_str_eq(devsys_store_backend_name(st), "postgresql");
}

static void teardown(void)
{
	devsys_store_free(st);
	devsys_workspace_free(ws);
	if (dir) {
		/* an agent a killed worker left behind */
		dt_sh("pkill -9 -f '%s/[s]low-' 2>/dev/null", dir);
		remove_work_dir(dir);
	}
	free(dir);
	free(url);
	free(wsdir);
	dt_pg_free(pg);
	unsetenv("DEVSYS_STORE_URL");
	devsys_shutdown();
}

TestSuite(pg_queue, .init = setup, .fini = teardown, .timeout = 120);

/* A no-op task (its agent changes nothing: checkout, agent, commit -> no-changes) or one with @p agent. */
static void spec(FILE *f, const char *id, const char *agent, const char *tests)
{
	fprintf(f, "---\nid: %s\ntitle: task %s\nprompt: nothing to do\nrepo:\n  url: file://%s/remote.git\n"
	           "  base_branch: main\nagent:\n  command: %s\n",
	        id, id, dir, agent ? agent : "[/bin/true]");
	if (tests)
		fprintf(f, "tests:\n  command: %s\n", tests);
}

static void submit(const char *file)
{
	char *out;
	int status;
	out = dt_sh_output(&status, "'%s' --workspace '%s' submit '%s' 2>&1", cli, wsdir, file);
	cr_assert_eq(status, 0, "submit failed: %.2000s", out ? out : "");
	free(out);
}

static pid_t worker(const char *id, const char *lease_ms, const char *log)
{
	char *argv[] = { cli, "--workspace", wsdir, "worker", "--once", "--id", (char *)id, "--lease-ms", (char *)lease_ms,
		         NULL };
	pid_t pid = dt_spawn(argv, log);
	cr_assert(pid > 0);
	return pid;
}

/* Claims of one task by different owners whose intervals [claimed, ended or until) overlap. */
static int overlaps(json_t *log)
{
	json_t *c = json_object_get(log, "claims");
	int found = 0;
	for (size_t i = 0; i < json_array_size(c); i++)
		for (size_t k = i + 1; k < json_array_size(c); k++) {
			json_t *a = json_array_get(c, i), *b = json_array_get(c, k);
			long long as, ae, bs, be;
			if (strcmp(json_string_value(json_object_get(a, "task")), json_string_value(json_object_get(b, "task"))) ||
			    !strcmp(json_string_value(json_object_get(a, "owner")), json_string_value(json_object_get(b, "owner"))))
				continue;
			as = json_integer_value(json_object_get(a, "claimed_ms"));
			bs = json_integer_value(json_object_get(b, "claimed_ms"));
			ae = json_is_null(json_object_get(a, "ended_ms")) ? json_integer_value(json_object_get(a, "until_ms"))
			                                                 : json_integer_value(json_object_get(a, "ended_ms"));
			be = json_is_null(json_object_get(b, "ended_ms")) ? json_integer_value(json_object_get(b, "until_ms"))
			                                                 : json_integer_value(json_object_get(b, "ended_ms"));
			if (as < be && bs < ae)
				found++;
		}
	return found;
}

/* The claim log's "how" of task @p id, space-separated in order. */
static char *hows(json_t *log, const char *id)
{
	char buf[256] = "";
	json_t *c = json_object_get(log, "claims"), *e;
	size_t i;
	json_array_foreach(c, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "task")), id) == 0)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? " " : "",
			         json_string_value(json_object_get(e, "how")));
	}
	return strdup(buf);
}

/* Lines of tasks/<id>/events.jsonl holding @p needle. */
static int events_with(const char *id, const char *needle)
{
	char *path, *text, *p;
	int n = 0;
	cr_assert(asprintf(&path, "%s/tasks/%s/events.jsonl", wsdir, id) > 0);
	text = dt_read_file(path, NULL);
	free(path);
	for (p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(text);
	return n;
}

static long long count_in(const char *state)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	long long n;
	OK(devsys_store_list_json(st, state, 0, 1, &b));
	j = json_loads(b.ptr, 0, NULL);
	n = json_integer_value(json_object_get(j, "total"));
	json_decref(j);
	devsys_buf_dispose(&b);
	return n;
}

/* The workers in the store's registry: each is there once its devsys_worker_open() is done. */
static size_t registered_workers(void)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	size_t n;
	OK(devsys_store_workers_json(st, &b));
	j = json_loads(b.ptr, 0, NULL);
	n = json_array_size(json_object_get(j, "workers"));
	json_decref(j);
	devsys_buf_dispose(&b);
	return n;
}

/* Every one of @p n tasks "<prefix><i>" claimed and completed exactly once, by @p min_owners workers or more. */
static void each_ran_once(const char *prefix, int n, int min_owners)
{
	json_t *log = dt_pg_claims(st, NULL), *c = json_object_get(log, "claims"), *e;
	json_t *owners = json_object();
	size_t i;
	cr_assert_eq(json_array_size(json_object_get(log, "queue")), 0, "the queue is empty (completed rows leave it)");
	cr_assert_eq((int)json_array_size(c), n, "one claim per task: %zu claims for %d tasks", json_array_size(c), n);
	json_array_foreach(c, i, e)
	{
		cr_assert_str_eq(json_string_value(json_object_get(e, "how")), "completed");
		json_object_set_new(owners, json_string_value(json_object_get(e, "owner")), json_true());
	}
	cr_assert_geq((int)json_object_size(owners), min_owners, "%zu workers claimed", json_object_size(owners));
	cr_assert_eq(overlaps(log), 0, "no task was held by two workers at once");
	for (int k = 0; k < n; k++) {
		char id[32], *h;
		snprintf(id, sizeof(id), "%s%d", prefix, k);
		h = hows(log, id);
		cr_assert_str_eq(h, "completed", "task %s: claim log '%s'", id, h);
		free(h);
		if (events_with(id, "\"reason\":\"claimed by worker ") != 1)
			dt_sh("grep -h 'claimed by' '%s/tasks/%s/events.jsonl' >&2; for f in '%s'/worker*.log; do grep -h -A2 '%s:' \"$f\" >&2; done", wsdir, id, dir, id);
		cr_assert_eq(events_with(id, "\"reason\":\"claimed by worker "), 1, "task %s: claimed once in its events", id);
		cr_assert_eq(events_with(id, "\"type\":\"git.checkout\""), 1, "task %s: checked out once", id);
		cr_assert_eq(events_with(id, "\"to\":\"no-changes\""), 1, "task %s: ran to no-changes once", id);
	}
	json_decref(owners);
	json_decref(log);
}

Test(pg_queue, four_workers_run_each_of_many_tasks_exactly_once)
{
	enum { N = MANY_TASKS, W = 4 };
	char *file, *log;
	pid_t pids[W];
	FILE *f;
	dt_pg_need(pg);
	cr_assert(asprintf(&file, "%s/tasks.yaml", dir) > 0 && (f = fopen(file, "w")));
	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "t%d", i);
		spec(f, id, NULL, NULL);
	}
	fclose(f);
	submit(file);
	cr_assert_eq(count_in("queued"), N);
	for (int i = 0; i < W; i++) {
		char id[16];
		snprintf(id, sizeof(id), "w%d", i);
		cr_assert(asprintf(&log, "%s/worker%d.log", dir, i) > 0);
		pids[i] = worker(id, "30000", log);
		free(log);
	}
	for (int i = 0; i < W; i++) {
		int rc = dt_reap(pids[i], 100000);
		char *l, *text;
		cr_assert(asprintf(&l, "%s/worker%d.log", dir, i) > 0);
		text = dt_read_file(l, NULL);
		cr_assert_eq(rc, 0, "worker %d exited %d:\n%.3000s", i, rc, text ? text : "");
		free(text);
		free(l);
	}
	cr_assert_eq(count_in("no-changes"), N, "every task rests");
	each_ran_once("t", N, W);
	free(file);
}

Test(pg_queue, control_the_overlap_check_sees_a_task_held_twice)
{
	json_t *log;
	dt_pg_need(pg);
	/* two claims of one task by two owners, logged as a claim without the row lock would leave them */
	cr_assert_eq(dt_pg_sql(pg, url, NULL,
	                       "INSERT INTO claims(task_id, owner, host, claimed_ms, until_ms, ended_ms, how) VALUES "
	                       "('x', 'a', 'h', 1000, 9000, 5000, 'completed'), ('x', 'b', 'h', 2000, 9000, 6000, "
	                       "'completed'), ('y', 'a', 'h', 1000, 9000, 2000, 'released'), "
	                       "('y', 'b', 'h', 2000, 9000, 3000, 'completed');"),
	             0);
	log = dt_pg_claims(st, NULL);
	cr_assert_eq(overlaps(log), 1, "x overlaps, y does not");
	json_decref(log);
}

Test(pg_queue, a_killed_worker_loses_its_lease_and_another_resumes_without_a_second_commit_or_pr)
{
	char *file, *agent, *tests, *a_cmd, *t_cmd, *marker, *runs, *log;
	pid_t a;
	FILE *f;
	json_t *j;
	dt_pg_need(pg);
	/* k1's agent and k2's tests wait on their first run (until the kill); a resumed run goes on */
	cr_assert(asprintf(&agent, "%s/slow-agent.sh", dir) > 0 && asprintf(&tests, "%s/slow-tests.sh", dir) > 0);
	cr_assert(dt_write_file(agent, "echo run >> \"$MARK.runs\"\n[ -f \"$MARK\" ] || { touch \"$MARK\"; sleep 60; }\n"
	                               "echo \"line from $DEVSYS_TASK_ID\" >> README\n"));
	cr_assert(dt_write_file(tests, "echo run >> \"$MARK.runs\"\n[ -f \"$MARK\" ] || { touch \"$MARK\"; sleep 60; }\n"));
	cr_assert(asprintf(&a_cmd, "[/usr/bin/env, MARK=%s/k1.agent, /bin/sh, %s]", dir, agent) > 0);
	cr_assert(asprintf(&t_cmd, "[/usr/bin/env, MARK=%s/k2.tests, /bin/sh, %s]", dir, tests) > 0);
	cr_assert(asprintf(&file, "%s/kill.yaml", dir) > 0 && (f = fopen(file, "w")));
	spec(f, "k1", a_cmd, "[/bin/true]");
	spec(f, "k2", "[/bin/sh, -c, 'echo k2 >> README']", t_cmd);
	fclose(f);
	submit(file);
	cr_assert(asprintf(&log, "%s/worker-a.log", dir) > 0);
	{
		char *argv[] = { cli, "--workspace", wsdir, "worker", "--jobs", "2", "--id", "wa", "--lease-ms", "1500", NULL };
		a = dt_spawn(argv, log);
	}
	cr_assert(asprintf(&marker, "%s/k1.agent", dir) > 0);
	dt_wait_file(marker, 30000);
	free(marker);
	cr_assert(asprintf(&marker, "%s/k2.tests", dir) > 0);
	dt_wait_file(marker, 30000);
	free(marker);
	/* k2 got as far as its tests: committed, pushed, its PR opened */
	cr_assert_eq(dt_pipe_commits(dir, "main..task/k2"), 1);
	kill(a, SIGKILL);
	cr_assert_eq(dt_reap(a, 5000), 128 + SIGKILL);
	dt_sh("pkill -9 -f '%s/[s]low-' 2>/dev/null", dir); /* its agent and tests, orphaned */
	dt_pg_wait_leases_expired(st, 20000);
	{
		int rc = dt_reap(worker("wb", "30000", log), 60000);
		char *text = dt_read_file(log, NULL);
		cr_assert_eq(rc, 0, "worker wb exited %d:\n%.3000s", rc, text ? text : "");
		free(text);
	}
	j = dt_pg_claims(st, NULL);
	for (int k = 1; k <= 2; k++) {
		char id[8], *h;
		snprintf(id, sizeof(id), "k%d", k);
		h = hows(j, id);
		cr_assert_str_eq(h, "expired completed", "%s: claim log '%s'", id, h);
		free(h);
		cr_assert_eq(devsys_store_task_state(st, id), DEVSYS_STATE_AWAITING_REVIEW, "%s rests", id);
		cr_assert_eq(events_with(id, "lease of worker wa"), 1, "%s: the expiry is in its events", id);
	}
	cr_assert_eq(overlaps(j), 0);
	json_decref(j);
	/* one commit and one PR per task, though each was begun twice */
	cr_assert_eq(dt_pipe_commits(dir, "main..task/k1"), 1);
	cr_assert_eq(dt_pipe_commits(dir, "main..task/k2"), 1);
	cr_assert_eq(events_with("k1", "\"type\":\"git.commit\""), 1);
	cr_assert_eq(events_with("k2", "\"type\":\"git.commit\""), 1);
	cr_assert_eq(events_with("k1", "\"type\":\"pr.opened\""), 1);
	cr_assert_eq(events_with("k2", "\"type\":\"pr.opened\""), 1);
	cr_assert_eq(dt_sh("test \"$(ls '%s/remote.git/devsys/prs/'*.json | wc -l)\" = 2", dir), 0, "two PRs in the local forge");
	cr_assert(asprintf(&runs, "%s/k1.agent.runs", dir) > 0);
	cr_assert_eq(dt_lines_of(runs), 2, "k1's agent ran again after the kill");
	free(runs);
	cr_assert(asprintf(&runs, "%s/k2.tests.runs", dir) > 0);
	cr_assert_eq(dt_lines_of(runs), 2, "k2's tests ran again after the kill");
	free(runs);
	free(log);
	free(file);
	free(agent);
	free(tests);
	free(a_cmd);
	free(t_cmd);
}

Test(pg_queue, workers_survive_a_postgresql_restart_and_nothing_is_lost)
{
	enum { N = RESTART_TASKS, W = 4 };
	char *file, *log;
	pid_t pids[W];
	FILE *f;
	long long deadline;
	dt_pg_need(pg);
	cr_assert(asprintf(&file, "%s/tasks.yaml", dir) > 0 && (f = fopen(file, "w")));
	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "r%d", i);
		spec(f, id, NULL, NULL);
	}
	fclose(f);
	submit(file);
	for (int i = 0; i < W; i++) {
		char id[16];
		snprintf(id, sizeof(id), "w%d", i);
		cr_assert(asprintf(&log, "%s/worker%d.log", dir, i) > 0);
		pids[i] = worker(id, "30000", log);
		free(log);
	}
	/*
	 * Restart once every worker runs (a worker still opening the store, as a
	 * process started late on a loaded machine can be while the others finish
	 * a quarter of the tasks, fails its open: a store is opened only against
	 * a server that answers), a quarter of the tasks are done and most are
	 * still to go.
	 */
	deadline = dt_mono_ms() + 60000;
	for (;;) {
		size_t up = registered_workers();
		long long done = count_in("no-changes");
		if (up >= W && done >= N / 4)
			break;
		cr_assert_lt(dt_mono_ms(), deadline, "the workers did not get going: %zu of %d opened, %lld tasks done", up,
		             (int)W, done);
		dt_pause_ms(20);
	}
	cr_assert(dt_pg_stop(pg), "pg_ctl stop");
	cr_assert(dt_pg_start_again(pg), "pg_ctl start");
	cr_assert_lt(count_in("no-changes"), N, "the restart came too late to test anything");
	for (int i = 0; i < W; i++) {
		int rc = dt_reap(pids[i], 100000);
		char *l, *text;
		cr_assert(asprintf(&l, "%s/worker%d.log", dir, i) > 0);
		text = dt_read_file(l, NULL);
		cr_assert_eq(rc, 0, "worker %d exited %d:\n%.3000s", i, rc, text ? text : "");
		free(text);
		free(l);
	}
	cr_assert_eq(count_in("no-changes"), N, "every task rests");
	each_ran_once("r", N, 2);
	free(file);
}
