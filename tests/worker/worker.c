/*
 * The library's worker (devsys/worker.h) with real pipelines: a lost lease
 * cancels the run at once, a cancel requested through the store reaches the
 * worker that holds the task, and a profile's max_concurrent bounds how many
 * of its tasks one worker runs at once (checked from the claim log, with a
 * control that needs two at once); a stop lets the stage under way end
 * within its grace and hands the task back before the next stage.
 */
#include "testutil.h"
#include <devsys.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static char config[4096];
static pid_t worker_child; /* the worker process a test spawned and has not reaped yet */

#define OK(expr) cr_assert_eq((expr), 0, "%s: %s", #expr, devsys_error_message(devsys_error_last()))

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup(void)
{
	char *git = dt_which("git");
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("worker");
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t && echo hello > README &&"
	                   " git add . && git commit -qm init && git push -q origin main",
	                   dir),
	             0);
	snprintf(config, sizeof(config), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(config, "runners:\n  limited:\n    type: inproc\n    max_concurrent: 1\n"
	                                "  free:\n    type: inproc\n"));
	po.config_path = config;
	OK(devsys_workspace_open(&ws, dir, NULL));
	OK(devsys_pipeline_new(&pl, ws, &po));
}

static void teardown(void)
{
	if (worker_child > 0) { /* a failed assert left it, perhaps stopped: SIGKILL ends a stopped process too */
		kill(worker_child, SIGKILL);
		waitpid(worker_child, NULL, 0);
		worker_child = 0;
	}
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 90);

/* Queue task @p id of @p profile whose agent is `/bin/sh <dir>/<id>.sh` running @p script. */
static void submit(const char *id, const char *profile, const char *script)
{
	char spec[4096], path[4096];
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, script));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Worker task %s\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n"
	         "tests:\n  command: [/bin/true]\nrunner: %s\n",
	         id, id, dir, path, profile);
	OK(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id));
	OK(devsys_store_submit(devsys_pipeline_store(pl), id, profile, NULL));
}

/* A slow agent: it writes its pid to <dir>/<id>.pid and sleeps a minute. */
static void submit_slow(const char *id)
{
	char script[4096];
	snprintf(script, sizeof(script), "echo $$ > '%s/%s.pid.tmp' && mv '%s/%s.pid.tmp' '%s/%s.pid'\nexec sleep 60\n",
	         dir, id, dir, id, dir, id);
	submit(id, "free", script);
}

static pid_t agent_pid(const char *id, int timeout_ms)
{
	char path[4096], *s;
	long long until = now_ms() + timeout_ms;
	pid_t pid = 0;
	snprintf(path, sizeof(path), "%s/%s.pid", dir, id);
	while (!(s = dt_read_file(path, NULL)) && now_ms() < until)
		usleep(20000);
	if (s) {
		pid = (pid_t)atoi(s);
		free(s);
	}
	return pid;
}

static bool gone_within(pid_t pid, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	while (now_ms() < until) {
		if (kill(pid, 0) != 0)
			return true;
		usleep(20000);
	}
	return kill(pid, 0) != 0;
}

/*
 * A worker of its own process (its own store connection): it runs until
 * the queue has nothing for it, then exits with its lease expiries * 10 +
 * its cancels (or 100 + the error).
 */
static pid_t spawn_worker(const char *id, unsigned int lease_ms)
{
	pid_t pid;
	fflush(NULL);
	if ((pid = fork()) != 0)
		return worker_child = pid;
	{
		devsys_workspace *cws = NULL;
		devsys_worker *w = NULL;
		devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
		devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
		o.id = id;
		o.lease_ms = lease_ms;
		o.flags = DEVSYS_WORKER_ONCE;
		o.config_path = config;
		o.poll_ms = 50;
		if (devsys_workspace_open(&cws, dir, NULL) < 0 || devsys_worker_open(&w, cws, &o) < 0 ||
		    devsys_worker_run(w) < 0) {
			fprintf(stderr, "child worker: %s\n", devsys_error_message(devsys_error_last()));
			_exit(100);
		}
		devsys_worker_stats_get(&st, w);
		_exit((int)(st.lease_expiries * 10 + st.cancels));
	}
}

static int wait_exit(pid_t pid)
{
	int status = 0;
	long long until = now_ms() + 30000;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			worker_child = pid == worker_child ? 0 : worker_child;
			cr_assert_fail("the worker process did not end");
		}
		usleep(20000);
	}
	if (pid == worker_child)
		worker_child = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

static json_t *claims(devsys_store *st, const char *id)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	OK(devsys_store_claims_json(st, id, &b));
	j = json_loads(b.ptr, 0, NULL);
	devsys_buf_dispose(&b);
	cr_assert(j);
	return j;
}

/* A second handle on the workspace's database that waits 1 ms for another writer (opened with no worker running). */
static devsys_store *open_probe(void)
{
	devsys_store_options so = DEVSYS_STORE_OPTIONS_INIT;
	devsys_store *probe = NULL;
	so.flags = DEVSYS_STORE_NO_RECOVER;
	so.busy_timeout_ms = 1;
	OK(devsys_store_open(&probe, ws, &so));
	return probe;
}

/* SIGSTOP child @p w and wait until all its threads have stopped (kill() returns before they do). */
static void stop_child(pid_t w)
{
	long long until = now_ms() + 10000;
	int status = 0;
	pid_t r;
	kill(w, SIGSTOP);
	while ((r = waitpid(w, &status, WNOHANG | WUNTRACED)) == 0 && now_ms() < until)
		usleep(1000);
	cr_assert(r == w && WIFSTOPPED(status), "the worker process did not stop (waitpid %d, status %#x)", (int)r,
	          status);
}

/*
 * Stop worker process @p w at a moment when it holds no write transaction of
 * the workspace's database: SQLite has one writer, and a worker frozen inside
 * its heartbeat's transaction would lock out every other writer (the thief's
 * claim would wait out its busy timeout) however long ago its lease ended.
 * @p probe asks for the write lock, harmlessly (a heartbeat of a lease nobody
 * holds: DEVSYS_ESTATE when it got the lock, DEVSYS_EBUSY when not); while the
 * stopped worker holds it, the worker goes on a moment and is stopped again.
 */
static void stop_outside_a_transaction(pid_t w, devsys_store *probe)
{
	long long until = now_ms() + 10000;
	int rc, tries = 0;
	for (;;) {
		stop_child(w);
		tries++;
		if ((rc = devsys_store_heartbeat(probe, "lost", "probe/1", 600)) != DEVSYS_EBUSY)
			break;
		kill(w, SIGCONT);
		cr_assert_lt(now_ms(), until, "the worker held the database's write lock at each of %d stops", tries);
		usleep(5000); /* let it finish its transaction before the next stop */
	}
	cr_assert_eq(rc, DEVSYS_ESTATE, "the probe got the write lock: %s", devsys_error_message(devsys_error_last()));
}

/*
 * The worker's process is stopped (SIGSTOP) past its lease, another owner
 * takes the task, then the worker goes on: its next heartbeat finds the lease
 * gone and cancels the agent at once, instead of letting it run its minute.
 * The task is left to its new owner: interrupted, not canceled.
 */
Test(worker, lost_lease_cancels_the_run)
{
	devsys_store *st = devsys_pipeline_store(pl);
	devsys_buf id = DEVSYS_BUF_INIT;
	long long until;
	pid_t w, agent;
	devsys_store *probe = open_probe();
	int rc;
	submit_slow("lost");
	w = spawn_worker("w-lost", 600);
	cr_assert((agent = agent_pid("lost", 20000)) > 0, "the agent did not start");
	cr_assert(!gone_within(agent, 300), "control: the agent runs while the lease is held");
	stop_outside_a_transaction(w, probe);
	devsys_store_free(probe);
	/*
	 * The thief claims as soon as the lease has expired. Polled by the claim
	 * itself, not by lease_ms_left: that reads 0 in the lease's last
	 * millisecond, while the store still counts it held (until < now expires).
	 */
	until = now_ms() + 10000;
	while ((rc = devsys_store_claim(&id, st, "thief/1", "elsewhere", NULL, 0, 60000)) == DEVSYS_ENOTFOUND &&
	       now_ms() < until)
		usleep(20000);
	cr_assert_eq(rc, 0, "the thief's claim: %d %s", rc, devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(id.ptr, "lost");
	cr_assert_eq(devsys_store_task_state(st, "lost"), DEVSYS_STATE_INTERRUPTED);
	kill(w, SIGCONT);
	cr_assert(gone_within(agent, 5000), "the agent still runs after the lease was lost");
	cr_assert_eq(rc = wait_exit(w), 10, "the worker counts one lease expiry and no cancel (its exit: %d)", rc);
	cr_assert_eq(devsys_store_task_state(st, "lost"), DEVSYS_STATE_INTERRUPTED, "the lost run must not end the task");
	{
		json_t *j = claims(st, "lost"), *c = json_object_get(j, "claims");
		cr_assert_eq(json_array_size(c), 2);
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "how")), "expired");
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 1), "owner")), "thief/1");
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 1), "how")), "held");
		json_decref(j);
	}
	devsys_buf_dispose(&id);
}

/* A cancel requested through the store reaches the worker process that holds the task. */
Test(worker, cancel_request_reaches_the_holder)
{
	devsys_store *st = devsys_pipeline_store(pl);
	pid_t w, agent;
	submit_slow("cx");
	w = spawn_worker("w-cancel", 3000);
	cr_assert((agent = agent_pid("cx", 20000)) > 0, "the agent did not start");
	cr_assert(!gone_within(agent, 300), "control: the agent runs before the request");
	cr_assert_eq(devsys_store_cancel_request(st, "cx", "the test cancels it"), 1, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert(gone_within(agent, 5000), "the agent still runs after the cancel request");
	cr_assert_eq(wait_exit(w), 1, "the worker counts one cancel and no lease expiry");
	cr_assert_eq(devsys_store_task_state(st, "cx"), DEVSYS_STATE_CANCELED);
	{
		json_t *j = claims(st, "cx");
		cr_assert_eq(json_array_size(json_object_get(j, "queue")), 0, "the canceled task left the queue");
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "claims"), 0), "how")),
		                 "completed");
		json_decref(j);
	}
}

/*
 * Two agents that wait (up to 3 s) for each other: <dir>/bar-<group>/ holds
 * one file per running agent (one that gives up takes its file away); each
 * writes "met" or "alone" to <id>.out.
 */
static void submit_barrier(const char *id, const char *profile, const char *group)
{
	char script[4096];
	snprintf(script, sizeof(script),
	         "mkdir -p '%s/bar-%s' && touch '%s/bar-%s/%s'\n"
	         "i=0\n"
	         "while [ \"$(ls '%s/bar-%s' | wc -l)\" -lt 2 ]; do\n"
	         "  i=$((i + 1))\n"
	         "  [ $i -lt 60 ] || { rm '%s/bar-%s/%s'; echo alone > '%s/%s.out'; exit 0; }\n"
	         "  sleep 0.05\n"
	         "done\n"
	         "echo met > '%s/%s.out'\necho %s >> README\n",
	         dir, group, dir, group, id, dir, group, dir, group, id, dir, id, dir, id, id);
	submit(id, profile, script);
}

static char *out_of(const char *id)
{
	char path[4096], *s;
	snprintf(path, sizeof(path), "%s/%s.out", dir, id);
	s = dt_read_file(path, NULL);
	cr_assert(s, "%s did not run", id);
	s[strcspn(s, "\n")] = '\0';
	return s;
}

/* Whether the claims of tasks @p a and @p b overlapped in time (from the claim log). */
static bool claims_overlap(devsys_store *st, const char *a, const char *b)
{
	json_t *j = claims(st, NULL), *c = json_object_get(j, "claims");
	long long as = -1, ae = -1, bs = -1, be = -1;
	for (size_t i = 0; i < json_array_size(c); i++) {
		json_t *e = json_array_get(c, i);
		const char *t = json_string_value(json_object_get(e, "task"));
		long long s = (long long)json_integer_value(json_object_get(e, "claimed_ms"));
		long long en = (long long)json_integer_value(json_object_get(e, "ended_ms"));
		if (!strcmp(t, a))
			as = s, ae = en;
		else if (!strcmp(t, b))
			bs = s, be = en;
	}
	json_decref(j);
	cr_assert(as > 0 && ae > 0 && bs > 0 && be > 0, "both claims ended");
	return as < be && bs < ae;
}

static void run_worker_once(unsigned int jobs)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	devsys_worker *w = NULL;
	o.jobs = jobs;
	o.flags = DEVSYS_WORKER_ONCE;
	o.config_path = config;
	o.poll_ms = 50;
	OK(devsys_worker_open(&w, ws, &o));
	OK(devsys_worker_run(w));
	OK(devsys_worker_stats_get(&st, w));
	cr_assert_eq(st.claimed, 2);
	cr_assert_eq(st.completed, 2);
	cr_assert_eq(st.running, 0);
	devsys_worker_free(w);
}

/* The control: two tasks of a profile without a limit run at once on a two-job worker. */
Test(worker, without_a_limit_two_run_at_once)
{
	devsys_store *st = devsys_pipeline_store(pl);
	char *a, *b;
	submit_barrier("f1", "free", "free");
	submit_barrier("f2", "free", "free");
	run_worker_once(2);
	cr_assert_str_eq((a = out_of("f1")), "met");
	cr_assert_str_eq((b = out_of("f2")), "met");
	cr_assert(claims_overlap(st, "f1", "f2"));
	free(a);
	free(b);
}

/* max_concurrent: 1: the same two tasks, on the same worker, run one after the other. */
Test(worker, max_concurrent_bounds_a_profile)
{
	devsys_store *st = devsys_pipeline_store(pl);
	char *a, *b;
	submit_barrier("l1", "limited", "limited");
	submit_barrier("l2", "limited", "limited");
	run_worker_once(2);
	cr_assert_str_eq((a = out_of("l1")), "alone");
	cr_assert_str_eq((b = out_of("l2")), "alone");
	cr_assert(!claims_overlap(st, "l1", "l2"), "two tasks of a max_concurrent: 1 profile were held at once");
	free(a);
	free(b);
}

/* Bad input: a second worker with a live worker's id is refused, naming it. */
Test(worker, same_id_is_refused)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker *w1 = NULL, *w2 = NULL;
	pid_t child;
	int status = 0;
	o.id = "twin";
	OK(devsys_worker_open(&w1, ws, &o));
	/* another process: the registry holds w1's beat, alive */
	fflush(NULL);
	if ((child = fork()) == 0) {
		devsys_workspace *cws = NULL;
		int rc = devsys_workspace_open(&cws, dir, NULL) < 0 ? -1 : devsys_worker_open(&w2, cws, &o);
		_exit(rc == DEVSYS_EEXISTS && strstr(devsys_error_message(devsys_error_last()), "'twin' is in use") ? 0 : 1);
	}
	waitpid(child, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the twin was not refused");
	o.id = "other";
	OK(devsys_worker_open(&w2, ws, &o)); /* control: another id opens */
	devsys_worker_free(w2);
	devsys_worker_free(w1);
}

/* The options' versions, the accessors, and a profile's limit as the configuration reads it. */
Test(worker, options_accessors_and_limits)
{
	devsys_worker_options o;
	devsys_worker_stats st;
	devsys_worker *w = NULL;
	devsys_config *cfg = NULL;
	unsigned int max = 99;
	OK(devsys_worker_options_init(&o, DEVSYS_WORKER_OPTIONS_VERSION));
	cr_assert_eq(o.version, DEVSYS_WORKER_OPTIONS_VERSION);
	cr_assert_eq(devsys_worker_options_init(&o, 99), DEVSYS_EVERSION);
	o.id = "acc";
	o.lease_ms = 100;
	cr_assert_eq(devsys_worker_open(&w, ws, &o), DEVSYS_EINVAL, "a lease under 300 ms is refused");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "lease"));
	o.lease_ms = 0;
	o.jobs = 65;
	cr_assert_eq(devsys_worker_open(&w, ws, &o), DEVSYS_EINVAL, "more than 64 jobs are refused");
	o.jobs = 0;
	OK(devsys_worker_open(&w, ws, &o));
	cr_assert_str_eq(devsys_worker_id(w), "acc");
	cr_assert_eq(devsys_store_task_state(devsys_worker_store(w), "nosuch"), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_worker_cancel_task(w, "nosuch"), 0, "it runs nothing");
	st.version = 99;
	cr_assert_eq(devsys_worker_stats_get(&st, w), DEVSYS_EVERSION);
	st.version = DEVSYS_WORKER_STATS_VERSION;
	OK(devsys_worker_stats_get(&st, w));
	cr_assert_eq(st.jobs, 1);
	devsys_worker_free(w);
	OK(devsys_config_load(&cfg, config));
	OK(devsys_config_runner_max_concurrent(&max, cfg, "limited"));
	cr_assert_eq(max, 1);
	OK(devsys_config_runner_max_concurrent(&max, cfg, "free"));
	cr_assert_eq(max, 0, "no limit set");
	cr_assert_eq(devsys_config_runner_max_concurrent(&max, cfg, "nosuch"), DEVSYS_ENOTFOUND);
	devsys_config_free(cfg);
}

struct runner_arg {
	devsys_worker *w;
	int rc;
};

static void *run_thread(void *arg)
{
	struct runner_arg *a = arg;
	a->rc = devsys_worker_run(a->w);
	return NULL;
}

static void wait_running(devsys_worker *w, const char *id)
{
	long long until = now_ms() + 20000;
	(void)id;
	for (;;) {
		devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
		OK(devsys_worker_stats_get(&st, w));
		if (st.running == 1 || now_ms() > until)
			break;
		usleep(20000);
	}
}

/*
 * In one process: devsys_worker_cancel_task() cancels the run of one job
 * (the task ends canceled, the worker goes on), and devsys_worker_stop()
 * with no grace hands a running task back (interrupted, naming its stage)
 * and devsys_worker_run() returns.
 */
Test(worker, cancel_task_and_stop_in_process)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	devsys_store *store = devsys_pipeline_store(pl);
	struct runner_arg a = { NULL, -1 };
	pthread_t t;
	pid_t agent;
	o.id = "inproc";
	o.config_path = config;
	o.poll_ms = 50;
	submit_slow("c1");
	OK(devsys_worker_open(&a.w, ws, &o));
	cr_assert_eq(pthread_create(&t, NULL, run_thread, &a), 0);
	cr_assert((agent = agent_pid("c1", 20000)) > 0, "the agent did not start");
	wait_running(a.w, "c1");
	cr_assert_eq(devsys_worker_cancel_task(a.w, "c1"), 1);
	cr_assert(gone_within(agent, 5000), "the agent still runs after devsys_worker_cancel_task");
	submit_slow("c2");
	cr_assert((agent = agent_pid("c2", 20000)) > 0, "the worker did not go on to the next task");
	cr_assert_eq(devsys_store_task_state(store, "c1"), DEVSYS_STATE_CANCELED);
	OK(devsys_worker_stop(a.w, 0));
	pthread_join(t, NULL);
	OK(a.rc);
	cr_assert(gone_within(agent, 5000), "the handed-back run was not canceled");
	cr_assert_eq(devsys_store_task_state(store, "c2"), DEVSYS_STATE_INTERRUPTED);
	OK(devsys_worker_stats_get(&st, a.w));
	cr_assert_eq(st.claimed, 2);
	cr_assert_eq(st.completed, 1);
	cr_assert_eq(st.handed_back, 1);
	cr_assert_eq(st.stopping, 1);
	cr_assert_eq(devsys_worker_run(a.w), DEVSYS_ESTATE, "a worker runs once");
	{
		json_t *j = claims(store, "c2");
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "claims"), 0), "how")),
		                 "released");
		json_decref(j);
	}
	devsys_worker_free(a.w);
}

/*
 * A hand-back between two stages: the stop comes right after checkout ended
 * (from the worker's event, on the job's thread, before the next stage can
 * begin). The run must begin no further stage and leave the task as it
 * stands (checked-out, not canceled), and the agent never runs.
 */
struct between {
	devsys_worker *w;
	devsys_store *store;
	volatile int go, released;
};

static struct between between;

static void between_event(const devsys_worker_event *ev, void *payload)
{
	long long until = now_ms() + 10000;
	(void)payload;
	if (ev->kind != DEVSYS_WORKER_EVENT_PIPELINE || ev->pipeline->kind != DEVSYS_PIPELINE_EVENT_STAGE_END ||
	    strcmp(ev->pipeline->stage, "checkout"))
		return;
	between.go = 1;
	/* wait for the stop's release, which comes before its own event (so it cannot wait for this one) */
	while (now_ms() < until) {
		devsys_buf b = DEVSYS_BUF_INIT;
		if (devsys_store_claims_json(between.store, "hb1", &b) == 0 && strstr(b.ptr, "released")) {
			between.released = 1;
			devsys_buf_dispose(&b);
			break;
		}
		devsys_buf_dispose(&b);
		usleep(10000);
	}
}

static void *between_stopper(void *arg)
{
	long long until = now_ms() + 30000;
	(void)arg;
	while (!between.go && now_ms() < until)
		usleep(5000);
	devsys_worker_stop(between.w, 0);
	return NULL;
}

Test(worker, hand_back_between_stages_leaves_the_task_as_it_stands)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	struct runner_arg a = { NULL, -1 };
	pthread_t t, stopper;
	char pidfile[4096];
	submit_slow("hb1");
	o.id = "between";
	o.config_path = config;
	o.poll_ms = 50;
	o.event = between_event;
	OK(devsys_worker_open(&a.w, ws, &o));
	memset(&between, 0, sizeof(between));
	between.w = a.w;
	between.store = devsys_pipeline_store(pl);
	cr_assert_eq(pthread_create(&stopper, NULL, between_stopper, NULL), 0);
	cr_assert_eq(pthread_create(&t, NULL, run_thread, &a), 0);
	pthread_join(t, NULL);
	pthread_join(stopper, NULL);
	OK(a.rc);
	cr_assert(between.go, "checkout never ended");
	cr_assert(between.released, "the stop did not hand the task back");
	cr_assert_eq(devsys_store_task_state(between.store, "hb1"), DEVSYS_STATE_CHECKED_OUT,
	             "the task must stay where it stood (state %d)", devsys_store_task_state(between.store, "hb1"));
	snprintf(pidfile, sizeof(pidfile), "%s/hb1.pid", dir);
	cr_assert(!dt_exists(pidfile), "the agent stage ran after the hand-back");
	OK(devsys_worker_stats_get(&st, a.w));
	cr_assert_eq(st.handed_back, 1);
	cr_assert_eq(st.completed, 0);
	devsys_worker_free(a.w);
}

/*
 * A stop with a grace: the stage under way (the agent, waiting for a file)
 * ends within the grace, and then the run begins no further stage: the
 * task is handed back as it stands (coded: the agent's stage done, nothing
 * committed), not carried into commit, push and the rest, which the grace
 * would cut short in a real run. The stop returns once the task is back,
 * long before its 60 s grace. Without the stop (the control, task g2 on
 * the same worker's pipeline code) the same agent's task runs to its end.
 */
struct grace_stop {
	devsys_worker *w;
	unsigned int grace_ms;
	volatile int returned;
	long long took_ms;
};

static void *grace_stopper(void *arg)
{
	struct grace_stop *g = arg;
	long long t0 = now_ms();
	devsys_worker_stop(g->w, g->grace_ms);
	g->took_ms = now_ms() - t0;
	g->returned = 1;
	return NULL;
}

/* The agent: writes its pid, waits for <dir>/<id>.go (a minute at most), then changes README. */
static void submit_gated(const char *id)
{
	char script[4096];
	snprintf(script, sizeof(script),
	         "echo $$ > '%s/%s.pid.tmp' && mv '%s/%s.pid.tmp' '%s/%s.pid'\n"
	         "i=0; while [ ! -e '%s/%s.go' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n"
	         "echo %s >> README\n",
	         dir, id, dir, id, dir, id, dir, id, id);
	submit(id, "free", script);
}

/* How many "stage.end" events of stage @p stage task @p id's events.jsonl holds. */
static int stage_ends(const char *id, const char *stage)
{
	char path[4096], *text, *line, *save = NULL;
	int n = 0;
	snprintf(path, sizeof(path), "%s/tasks/%s/events.jsonl", dir, id);
	cr_assert((text = dt_read_file(path, NULL)), "%s has no events", id);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *name = json_string_value(json_object_get(json_object_get(e, "data"), "stage"));
		n += type && name && !strcmp(type, "stage.end") && !strcmp(name, stage);
		json_decref(e);
	}
	free(text);
	return n;
}

Test(worker, a_stop_lets_the_running_stage_end_then_hands_the_task_back_before_the_next)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	devsys_store *store = devsys_pipeline_store(pl);
	struct runner_arg a = { NULL, -1 };
	struct grace_stop g = { NULL, 60000, 0, 0 };
	pthread_t t, stopper;
	char go[4096];
	pid_t agent;
	o.id = "graceful";
	o.config_path = config;
	o.poll_ms = 50;
	o.flags = DEVSYS_WORKER_ONCE;
	/* the control first: the same agent, released at once, runs the task to its end */
	submit_gated("g2");
	snprintf(go, sizeof(go), "%s/g2.go", dir);
	cr_assert(dt_write_file(go, ""));
	OK(devsys_worker_open(&a.w, ws, &o));
	cr_assert_eq(pthread_create(&t, NULL, run_thread, &a), 0);
	pthread_join(t, NULL);
	OK(a.rc);
	cr_assert_eq(devsys_store_task_state(store, "g2"), DEVSYS_STATE_AWAITING_REVIEW, "the control did not run to its end");
	cr_assert_eq(stage_ends("g2", "commit"), 1, "the control's commit stage never ran");
	devsys_worker_free(a.w);

	o.flags = 0;
	submit_gated("g1");
	OK(devsys_worker_open(&a.w, ws, &o));
	g.w = a.w;
	cr_assert_eq(pthread_create(&t, NULL, run_thread, &a), 0);
	cr_assert((agent = agent_pid("g1", 20000)) > 0, "the agent did not start");
	cr_assert_eq(pthread_create(&stopper, NULL, grace_stopper, &g), 0);
	for (long long until = now_ms() + 10000; now_ms() < until;) {
		OK(devsys_worker_stats_get(&st, a.w));
		if (st.stopping)
			break;
		usleep(10000);
	}
	cr_assert(st.stopping, "the stop never began");
	cr_assert_not(g.returned, "the stop returned while the agent still ran");
	snprintf(go, sizeof(go), "%s/g1.go", dir);
	cr_assert(dt_write_file(go, "")); /* the agent ends now, within the grace */
	pthread_join(stopper, NULL);
	pthread_join(t, NULL);
	OK(a.rc);
	cr_assert(gone_within(agent, 5000), "the agent still runs");
	cr_assert_lt(g.took_ms, 30000, "the stop waited %lld ms, as if for its whole grace", g.took_ms);
	cr_assert_eq(devsys_store_task_state(store, "g1"), DEVSYS_STATE_CODED,
	             "the task must go back as its agent stage left it (state %d)", devsys_store_task_state(store, "g1"));
	cr_assert_eq(stage_ends("g1", "agent"), 1, "the agent stage did not end");
	cr_assert_eq(stage_ends("g1", "commit"), 0, "the commit stage ran after the stop");
	OK(devsys_worker_stats_get(&st, a.w));
	cr_assert_eq(st.handed_back, 1);
	cr_assert_eq(st.completed, 0);
	{
		json_t *j = claims(store, "g1");
		json_t *c = json_array_get(json_object_get(j, "claims"), 0);
		cr_assert_str_eq(json_string_value(json_object_get(c, "how")), "released");
		json_decref(j);
	}
	devsys_worker_free(a.w);
	/* the next worker goes on from the commit: the agent does not run again */
	o.flags = DEVSYS_WORKER_ONCE;
	o.id = "next";
	OK(devsys_worker_open(&a.w, ws, &o));
	cr_assert_eq(pthread_create(&t, NULL, run_thread, &a), 0);
	pthread_join(t, NULL);
	OK(a.rc);
	cr_assert_eq(devsys_store_task_state(store, "g1"), DEVSYS_STATE_AWAITING_REVIEW);
	cr_assert_eq(stage_ends("g1", "agent"), 1, "the agent ran again after the hand-back");
	cr_assert_eq(stage_ends("g1", "commit"), 1);
	devsys_worker_free(a.w);
}
