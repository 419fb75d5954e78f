/*
 * The library's worker on a real PostgreSQL store named only by devsys.yaml's
 * store: section (DEVSYS_STORE_URL unset, the password from a secret): it
 * claims and runs a task queued there; and an idle worker with a long poll
 * interval is woken by the store's LISTEN/NOTIFY when a task is queued,
 * while on SQLite (no signal) the same worker waits out its interval.
 */
#include "pg_suite.h"
#include <devsys.h>

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* much longer than any deadline below: a claim within the deadline was not a poll */
#define LONG_POLL_MS 60000u
#define WAKE_DEADLINE_MS 8000

static char *dir;
static dt_pg *pg;

static void setup(void)
{
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	unsetenv("DEVSYS_STORE_URL"); /* only the configuration may name the database */
	cr_assert_eq(devsys_init(), 1);
	cr_assert(dir = dt_tmpdir("wpg"));
	dt_private_home(dir);
	dt_pipe_remote(dir, NULL);
	{
		char why[512];
		pg = dt_pg_suite(why, sizeof(why));
	}
}

static void teardown(void)
{
	dt_pg_free(pg);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	unsetenv("DT_WPG_PASSWORD");
	devsys_shutdown();
}

TestSuite(worker_pg, .init = setup, .fini = teardown, .timeout = 120);

/* A workspace <dir>/<tag> and its devsys.yaml: a store: section for @p url (NULL: none, SQLite). */
static void make_site(const char *tag, const char *url, devsys_workspace **ws, char *config, size_t size)
{
	char path[4096], yaml[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, tag);
	snprintf(config, size, "%s/%s.yaml", dir, tag);
	if (url) {
		snprintf(yaml, sizeof(yaml),
		         "store:\n  url: %s\n  password_secret: DT_WPG_PASSWORD\nrunners:\n  local:\n    type: inproc\n", url);
		setenv("DT_WPG_PASSWORD", pg->password, 1);
	} else
		snprintf(yaml, sizeof(yaml), "runners:\n  local:\n    type: inproc\n");
	cr_assert(dt_write_file(config, yaml));
	OK(devsys_workspace_open(ws, path, NULL));
}

/* Queue task @p id through a pipeline of @p config (its store is the one the configuration names). */
static void submit(devsys_workspace *ws, const char *config, const char *id, const char *want_backend)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_pipeline *p = NULL;
	char spec[4096], script[4096];
	snprintf(script, sizeof(script), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(script, "echo more >> README\n"));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Worker task %s\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\ntests:\n  command: [/bin/true]\nrunner: local\n",
	         id, id, dir, script);
	po.config_path = config;
	OK(devsys_pipeline_new(&p, ws, &po));
	cr_assert_str_eq(devsys_store_backend_name(devsys_pipeline_store(p)), want_backend);
	OK(devsys_pipeline_validate(NULL, p, spec, strlen(spec), id));
	OK(devsys_store_submit(devsys_pipeline_store(p), id, "local", NULL));
	devsys_pipeline_free(p);
}

/* ---- a worker on a thread, and what it said ---- */

typedef struct seen {
	pthread_mutex_t lock;
	int idle;           /* IDLE events */
	char claimed[512];  /* the task ids claimed, space-separated */
	char ended[512];
	devsys_worker *w;
} seen;

static void on_event(const devsys_worker_event *ev, void *payload)
{
	seen *s = payload;
	pthread_mutex_lock(&s->lock);
	if (ev->kind == DEVSYS_WORKER_EVENT_IDLE)
		s->idle++;
	else if (ev->kind == DEVSYS_WORKER_EVENT_CLAIMED && ev->task_id)
		snprintf(s->claimed + strlen(s->claimed), sizeof(s->claimed) - strlen(s->claimed), "%s ", ev->task_id);
	else if (ev->kind == DEVSYS_WORKER_EVENT_ENDED && ev->task_id)
		snprintf(s->ended + strlen(s->ended), sizeof(s->ended) - strlen(s->ended), "%s ", ev->task_id);
	pthread_mutex_unlock(&s->lock);
}

static void *run_worker(void *arg)
{
	seen *s = arg;
	devsys_worker_run(s->w);
	return NULL;
}

static void open_worker(seen *s, devsys_workspace *ws, const char *config, const char *id, unsigned int flags)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	o.id = id;
	o.flags = flags;
	o.config_path = config;
	o.poll_ms = LONG_POLL_MS;
	o.event = on_event;
	o.event_payload = s;
	OK(devsys_worker_open(&s->w, ws, &o));
}

/* Wait up to @p ms for @p what to hold (under the lock). */
static bool poll_for(seen *s, int ms, bool (*what)(seen *, const char *), const char *arg)
{
	long long until = dt_mono_ms() + ms;
	bool ok;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		ok = what(s, arg);
		pthread_mutex_unlock(&s->lock);
		if (ok || dt_mono_ms() >= until)
			return ok;
		usleep(10000);
	}
}

static bool is_idle(seen *s, const char *n)
{
	return s->idle >= atoi(n);
}

static bool has_claimed(seen *s, const char *id)
{
	char want[80];
	snprintf(want, sizeof(want), "%s ", id);
	return strstr(s->claimed, want) != NULL;
}

static bool has_ended(seen *s, const char *id)
{
	char want[80];
	snprintf(want, sizeof(want), "%s ", id);
	return strstr(s->ended, want) != NULL;
}

/*
 * The worker opens the store its configuration's store: section names, as
 * its pipelines do: it claims the task queued there and runs it to its rest.
 */
Test(worker_pg, a_worker_claims_from_the_store_its_configuration_names)
{
	devsys_workspace *ws = NULL;
	char config[4096], *url;
	seen s;
	dt_pg_need(pg);
	cr_assert(url = dt_pg_newdb(pg, "wcfg"));
	make_site("a", url, &ws, config, sizeof(config));
	submit(ws, config, "cfg-1", "postgresql");
	open_worker(&s, ws, config, "w-cfg", DEVSYS_WORKER_ONCE);
	cr_assert_str_eq(devsys_store_backend_name(devsys_worker_store(s.w)), "postgresql");
	OK(devsys_worker_run(s.w));
	cr_assert(has_claimed(&s, "cfg-1"), "the worker claimed nothing from the configured store (claimed: '%s')",
	          s.claimed);
	cr_assert(has_ended(&s, "cfg-1"), "the task did not end (ended: '%s')", s.ended);
	cr_assert_eq(devsys_store_task_state(devsys_worker_store(s.w), "cfg-1"), DEVSYS_STATE_AWAITING_REVIEW,
	             "the task's state in the configured store");
	devsys_worker_free(s.w);
	devsys_workspace_free(ws);
	free(url);
}

/*
 * An idle worker whose poll interval is a minute claims a task queued after
 * it went idle within seconds: the store's NOTIFY wakes it.
 */
Test(worker_pg, an_idle_worker_is_woken_by_the_store_when_a_task_is_queued)
{
	devsys_workspace *ws = NULL;
	char config[4096], *url;
	long long t0;
	pthread_t th;
	seen s;
	dt_pg_need(pg);
	cr_assert(url = dt_pg_newdb(pg, "wwake"));
	make_site("b", url, &ws, config, sizeof(config));
	open_worker(&s, ws, config, "w-wake", 0);
	cr_assert_eq(pthread_create(&th, NULL, run_worker, &s), 0);
	cr_assert(poll_for(&s, 20000, is_idle, "1"), "the worker never went idle");
	t0 = dt_mono_ms();
	submit(ws, config, "wake-1", "postgresql");
	cr_assert(poll_for(&s, WAKE_DEADLINE_MS, has_claimed, "wake-1"),
	          "the idle worker did not claim the task within %d ms (poll interval %u ms)", WAKE_DEADLINE_MS,
	          LONG_POLL_MS);
	cr_log_info("claimed %lld ms after the submit began", dt_mono_ms() - t0);
	cr_assert(poll_for(&s, 60000, has_ended, "wake-1"), "the task did not end");
	/* idle again after the task: a second one wakes it too */
	cr_assert(poll_for(&s, 20000, is_idle, "2"), "the worker did not go idle again");
	submit(ws, config, "wake-2", "postgresql");
	cr_assert(poll_for(&s, WAKE_DEADLINE_MS, has_claimed, "wake-2"), "the second task was not claimed in time");
	OK(devsys_worker_stop(s.w, 30000));
	pthread_join(th, NULL);
	devsys_worker_free(s.w);
	devsys_workspace_free(ws);
	free(url);
}

/*
 * The control: on SQLite nothing signals new work, so the same idle worker
 * does not see a task queued after it went idle before its poll interval
 * is out (the deadline above passes without a claim); the stop still ends it at once.
 */
Test(worker_pg, control_on_sqlite_an_idle_worker_waits_out_its_poll_interval)
{
	devsys_workspace *ws = NULL;
	char config[4096];
	long long t0;
	pthread_t th;
	seen s;
	make_site("c", NULL, &ws, config, sizeof(config));
	open_worker(&s, ws, config, "w-poll", 0);
	cr_assert_str_eq(devsys_store_backend_name(devsys_worker_store(s.w)), "sqlite");
	cr_assert_eq(pthread_create(&th, NULL, run_worker, &s), 0);
	cr_assert(poll_for(&s, 20000, is_idle, "1"), "the worker never went idle");
	submit(ws, config, "poll-1", "sqlite");
	cr_assert(!poll_for(&s, WAKE_DEADLINE_MS, has_claimed, "poll-1"),
	          "the worker claimed the task before its poll interval was out: the control does not hold");
	t0 = dt_mono_ms();
	OK(devsys_worker_stop(s.w, 30000));
	pthread_join(th, NULL);
	cr_assert_lt(dt_mono_ms() - t0, 5000, "the stop waited for the poll interval");
	cr_assert_eq(devsys_store_task_state(devsys_worker_store(s.w), "poll-1"), DEVSYS_STATE_QUEUED,
	             "the task was left queued, untouched");
	devsys_worker_free(s.w);
	devsys_workspace_free(ws);
}
