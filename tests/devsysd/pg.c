/*
 * Two devsysd, each on a workspace of its own, sharing one real PostgreSQL
 * store (DEVSYS_STORE_URL): a task run in the first workspace has its task
 * folder there only, and the second daemon answers GET
 * /api/tasks/<id>/tests/latest (JSON and JUnit) from the documents the store
 * keeps, the same answer as the first daemon's from the folder. The
 * controls: an unknown task, and a task of the store with no test run, are
 * 404 on the second daemon. Likewise task.json, the events (the JSON page
 * and the live stream, which ends at the task's resting state), the agent's
 * events, any run's tests and a stage log's tail with its ranges. And a
 * devsysd whose --config has a store: section (no DEVSYS_STORE_URL) queues
 * into that database and its embedded worker runs the task from there.
 */
#include "api_client.h"
#include "pg_suite.h"
#include <devsys.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "test-token-0123456789abcdef"

static char *dir, *url;
static dt_pg *pg;
static pid_t daemons[2];
static int ports[2];

static void setup(void)
{
	char *git = dt_which("git"), why[512];
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	cr_assert(dir = dt_tmpdir("devsysd-pg"));
	dt_pipe_remote(dir, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!(pg = dt_pg_suite(why, sizeof(why))))
		return;
	dt_pg_client_env(pg, dir);
	cr_assert(url = dt_pg_newdb(pg, "docs"));
	setenv("DEVSYS_STORE_URL", url, 1); /* this process and both daemons share the database */
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++)
		if (daemons[i] > 0)
			dt_stop(daemons[i], SIGTERM, 10000);
	curl_global_cleanup();
	unsetenv("DEVSYS_STORE_URL");
	dt_pg_free(pg);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	free(url);
	devsys_shutdown();
}

TestSuite(devsysd_pg, .init = setup, .fini = teardown, .timeout = 120);

/* Daemon @p i on workspace @p ws; with @p config, an embedded worker of one job and that --config. */
static void start_daemon(int i, const char *ws, const char *config)
{
	const char *worker[] = { "--workers", "1", "--config", config, NULL };
	char log[4096];
	snprintf(log, sizeof(log), "%s/devsysd-%d.log", dir, i);
	daemons[i] = dt_api_daemon_with(ws, TOKEN, log, &ports[i], config ? worker : NULL);
}

/* dt_api_request_with() of daemon @p i. */
static long request_with(int i, const char *method, const char *path, const char *body, const char *header,
                         devsys_buf *out, devsys_buf *headers)
{
	return dt_api_request_with(ports[i], TOKEN, method, path, body, header, out, headers);
}

static long request(int i, const char *method, const char *path, const char *body, devsys_buf *out)
{
	return request_with(i, method, path, body, NULL, out, NULL);
}

static long get(int i, const char *path, devsys_buf *out)
{
	return request(i, "GET", path, NULL, out);
}

/*
 * A worker of this process on workspace @p ws ("host-a", once: until
 * nothing is left to claim); task @p id, and @p id2 when not NULL, rest
 * awaiting review.
 */
static void run_on_host_a(devsys_workspace *ws, const char *id, const char *id2)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker *w = NULL;
	o.id = "host-a";
	o.flags = DEVSYS_WORKER_ONCE;
	OK(devsys_worker_open(&w, ws, &o));
	OK(devsys_worker_run(w));
	for (int i = 0; i < 2; i++) {
		const char *t = i ? id2 : id;
		int got = t ? devsys_store_task_state(devsys_worker_store(w), t) : DEVSYS_STATE_AWAITING_REVIEW;
		cr_assert_eq(got, DEVSYS_STATE_AWAITING_REVIEW, "%s: %s", t, devsys_task_state_name(got));
	}
	devsys_worker_free(w);
}

/*
 * Skip without the suite's server; the first host's workspace <dir>/ws-a
 * (opened into *@p wa) and the second's, <dir>/ws-b (made), for the two
 * daemons; @p size is the size of both buffers.
 */
static void two_hosts(char *wsa, char *wsb, size_t size, devsys_workspace **wa)
{
	dt_pg_need(pg);
	snprintf(wsa, size, "%s/ws-a", dir);
	snprintf(wsb, size, "%s/ws-b", dir);
	cr_assert_eq(mkdir(wsb, 0700), 0);
	OK(devsys_workspace_open(wa, wsa, NULL));
}

/* The spec of task @p id; its tests write a JUnit report of two cases, one skipped; @p extra: more YAML or "". */
static void spec_with(char *spec, size_t size, const char *id, const char *extra)
{
	char agent[4096], tests[4096];
	snprintf(agent, sizeof(agent), "%s/%s-agent.sh", dir, id);
	snprintf(tests, sizeof(tests), "%s/%s-tests.sh", dir, id);
	cr_assert(dt_write_file(agent, "echo more >> README\n"));
	/* the report, written by the test command in the worktree */
	cr_assert(dt_write_file(tests, "echo the tests of the task run\nmkdir -p reports && cat > reports/junit.xml <<'EOF'\n"
	                               "<testsuite name=\"s\" tests=\"2\"><testcase classname=\"c\" name=\"ok\" time=\"0.1\"/>"
	                               "<testcase classname=\"c\" name=\"later\" time=\"0.2\"><skipped/>"
	                               "</testcase></testsuite>\nEOF\n"));
	snprintf(spec, size,
	         "id: %s\ntitle: Task %s\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n"
	         "tests:\n  command: [/bin/sh, %s]\n  junit: [reports/junit.xml]\nrunner: inproc\n%s",
	         id, id, dir, agent, tests, extra);
}

static void spec_of(char *spec, size_t size, const char *id)
{
	spec_with(spec, size, id, "");
}

/* Validate and queue task @p id in @p ws, its spec with @p extra YAML. */
static void submit_with(devsys_workspace *ws, const char *id, const char *extra)
{
	devsys_pipeline *p = NULL;
	char spec[4096];
	spec_with(spec, sizeof(spec), id, extra);
	OK(devsys_pipeline_new(&p, ws, NULL));
	cr_assert_str_eq(devsys_store_backend_name(devsys_pipeline_store(p)), "postgresql");
	OK(devsys_pipeline_validate(NULL, p, spec, strlen(spec), id));
	OK(devsys_store_submit(devsys_pipeline_store(p), id, "inproc", NULL));
	devsys_pipeline_free(p);
}

static void submit(devsys_workspace *ws, const char *id)
{
	submit_with(ws, id, "");
}

/*
 * A task with a deploy stage, run in the first workspace: the second
 * host's GET /api/tasks/<id> answers from the store with the acceptance
 * report the deploy stage wrote (reports/acceptance.json). Controls: an
 * unknown task stays 404, a task without deploy has no report.
 */
Test(devsysd_pg, a_second_host_serves_task_json_and_the_acceptance_report_from_the_store)
{
	devsys_workspace *wa = NULL;
	devsys_buf a = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	char wsa[4096], wsb[4096], folder[4096];
	struct stat sb;
	json_t *ja, *jb, *acc;
	long st;
	two_hosts(wsa, wsb, sizeof(wsa), &wa);
	submit_with(wa, "dep-1",
	            "deploy:\n  command: [/bin/true]\n  acceptance:\n"
	            "    - name: exits zero\n      command: [/bin/true]\n");
	submit(wa, "plain-1");
	run_on_host_a(wa, "plain-1", "dep-1");
	start_daemon(0, wsa, NULL);
	start_daemon(1, wsb, NULL);
	snprintf(folder, sizeof(folder), "%s/tasks/dep-1", wsb);
	cr_assert_neq(stat(folder, &sb), 0, "the second workspace has no folder of the task");

	cr_assert_eq(st = get(0, "/api/tasks/dep-1", &a), 200, "host a: %ld %s", st, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/dep-1", &b), 200, "host b: %ld %s", st, b.ptr);
	cr_assert(ja = json_loads(a.ptr, 0, NULL), "%s", a.ptr);
	cr_assert(jb = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	acc = json_object_get(jb, "acceptance_report");
	cr_assert_eq(json_array_size(acc), 1, "%s", b.ptr);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(acc, 0), "name")), "exits zero", "%s", b.ptr);
	cr_assert(json_is_true(json_object_get(json_array_get(acc, 0), "passed")), "%s", b.ptr);
	/* the store's task.json is the one of the last transition: the state and the deploy stage's record as here */
	cr_assert_str_eq(json_string_value(json_object_get(jb, "state")), "awaiting-review", "%s", b.ptr);
	cr_assert(json_equal(json_object_get(json_object_get(ja, "stages"), "deploy"),
	                     json_object_get(json_object_get(jb, "stages"), "deploy")),
	          "the deploy stage's record differs:\nhost a: %s\nhost b: %s", a.ptr, b.ptr);
	cr_assert(json_object_get(json_object_get(jb, "stages"), "deploy"), "%s", b.ptr);
	json_decref(ja);
	json_decref(jb);

	/* the events as of the last transition: the folder's first ones, through the deploy stage's end */
	cr_assert_eq(st = get(0, "/api/tasks/dep-1/events", &a), 200, "host a: %ld %s", st, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/dep-1/events", &b), 200, "host b: %ld %s", st, b.ptr);
	cr_assert(ja = json_loads(a.ptr, 0, NULL), "%s", a.ptr);
	cr_assert(jb = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	{
		json_t *ea = json_object_get(ja, "events"), *eb = json_object_get(jb, "events");
		bool deploy_end = false;
		cr_assert_gt(json_array_size(eb), 2, "%s", b.ptr);
		cr_assert_leq(json_array_size(eb), json_array_size(ea), "%s", b.ptr);
		for (size_t i = 0; i < json_array_size(eb); i++) {
			json_t *e = json_array_get(eb, i);
			cr_assert(json_equal(e, json_array_get(ea, i)), "event %zu differs:\nhost a: %s\nhost b: %s", i,
			          a.ptr, b.ptr);
			if (!strcmp(json_string_value(json_object_get(e, "type")) ?: "", "stage.end") &&
			    !strcmp(json_string_value(json_object_get(json_object_get(e, "data"), "stage")) ?: "", "deploy"))
				deploy_end = true;
		}
		cr_assert(deploy_end, "no deploy stage.end among host b's events: %s", b.ptr);
		cr_assert(!json_object_get(jb, "truncated"), "%s", b.ptr);
		cr_assert_eq(json_integer_value(json_object_get(jb, "last_seq")),
		             json_integer_value(json_object_get(json_array_get(eb, json_array_size(eb) - 1), "seq")));
	}
	json_decref(ja);
	json_decref(jb);
	cr_assert_eq(st = get(1, "/api/tasks/dep-1/events?after=999999", &b), 200, "%ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "\"events\":[]"), "%s", b.ptr);

	/* the test stage's log: its tail, and where the full log is */
	cr_assert_eq(st = get(0, "/api/tasks/dep-1/logs/test", &a), 200, "host a: %ld %s", st, a.ptr);
	cr_assert_eq(st = request_with(1, "GET", "/api/tasks/dep-1/logs/test", NULL, "Accept: application/json", &b, NULL),
	             200, "host b: %ld %s", st, b.ptr);
	cr_assert(jb = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	{
		char path[4200], host[256] = "";
		snprintf(path, sizeof(path), "%s/tasks/dep-1/logs/test.log", wsa);
		gethostname(host, sizeof(host) - 1);
		cr_assert_str_eq(json_string_value(json_object_get(jb, "path")), path, "%s", b.ptr);
		cr_assert_str_eq(json_string_value(json_object_get(jb, "host")), host, "%s", b.ptr);
		cr_assert_eq(json_integer_value(json_object_get(jb, "size")), (json_int_t)a.size, "%s", b.ptr);
		cr_assert(strstr(a.ptr, "the tests of the task run"), "%s", a.ptr);
		cr_assert_lt(a.size, 16 * 1024);
			cr_assert_str_eq(json_string_value(json_object_get(jb, "tail")), a.ptr, "%s", b.ptr);
	}
	json_decref(jb);
	cr_assert_eq(st = get(1, "/api/tasks/no-such-task/logs/test", &b), 404, "%ld %s", st, b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/dep-1/logs/nostage", &b), 404, "%ld %s", st, b.ptr); /* no such log kept */

	/* over 256 KiB of events: the next transition (a cancel on host a) keeps the last ones, and says so */
	{
		devsys_task *t = NULL;
		devsys_record *rec = NULL;
		static char data[4200];
		uint64_t seq = 0;
		long long first_kept;
		json_t *eb;
		snprintf(data, sizeof(data), "{\"pad\":\"%04000d\"}", 0);
		OK(devsys_task_open(&t, wa, "dep-1", 0));
		OK(devsys_record_open(&rec, t));
		for (int i = 0; i < 70; i++)
			OK(devsys_record_event(rec, "test.pad", data, &seq));
		devsys_record_free(rec);
		devsys_task_free(t);
		cr_assert_lt(st = request(0, "POST", "/api/tasks/dep-1/cancel", "", &a), 300, "%ld %s", st, a.ptr);
		cr_assert_eq(st = get(1, "/api/tasks/dep-1/events", &b), 200, "%ld %s", st, b.ptr);
		cr_assert(jb = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
		cr_assert(json_is_true(json_object_get(jb, "truncated")), "%.300s", b.ptr);
		eb = json_object_get(jb, "events");
		cr_assert_gt(json_array_size(eb), 50);
		cr_assert_lt(json_array_size(eb), 70 + 20);
		cr_assert_gt(json_integer_value(json_object_get(json_array_get(eb, 0), "seq")), 1, "the first are cut");
		cr_assert_geq(json_integer_value(json_object_get(jb, "last_seq")), (json_int_t)seq);
		first_kept = json_integer_value(json_object_get(json_array_get(eb, 0), "seq"));
		json_decref(jb);
		/* the stream of the cut copy says so first, and ends at once with the change to canceled */
		{
			long long t0 = dt_mono_ms();
			char hdr[64];
			cr_assert_eq(st = request_with(1, "GET", "/api/tasks/dep-1/events?stream=1&timeout=30", NULL, NULL, &b,
			                               NULL),
			             200, "%ld %s", st, b.ptr);
			cr_assert_lt(dt_mono_ms() - t0, 15000, "the stream of a canceled task did not end by itself");
			cr_assert_eq(strncmp(b.ptr, "event: truncated\ndata: {\"truncated\":true,\"dropped_bytes\":", 57), 0,
			             "%.200s", b.ptr);
			cr_assert(strstr(b.ptr, "\"to\":\"canceled\""), "%.300s", b.ptr + (b.size > 300 ? b.size - 300 : 0));
			/* a client that saw the event before the first kept one is told nothing was cut; one that did not, is */
			snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", first_kept - 1);
			cr_assert_eq(st = request_with(1, "GET", "/api/tasks/dep-1/events?stream=1", NULL, hdr, &b, NULL), 200);
			cr_assert(!strstr(b.ptr, "event: truncated"), "%.200s", b.ptr);
			cr_assert_eq(strtoll(b.ptr + 4, NULL, 10), first_kept, "%.200s", b.ptr);
			snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", first_kept - 2);
			cr_assert_eq(st = request_with(1, "GET", "/api/tasks/dep-1/events?stream=1", NULL, hdr, &b, NULL), 200);
			cr_assert_eq(strncmp(b.ptr, "event: truncated\n", 17), 0, "%.200s", b.ptr);
		}
	}

	/* the controls */
	cr_assert_eq(st = get(1, "/api/tasks/no-such-task/events", &b), 404, "%ld %s", st, b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/plain-1", &b), 200, "%ld %s", st, b.ptr);
	cr_assert(jb = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	cr_assert(!json_object_get(jb, "acceptance_report"), "%s", b.ptr);
	json_decref(jb);
	cr_assert_eq(st = get(1, "/api/tasks/no-such-task", &b), 404, "%ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "no-such-task"), "%s", b.ptr);
	devsys_buf_dispose(&a);
	devsys_buf_dispose(&b);
	devsys_workspace_free(wa);
}

Test(devsysd_pg, a_second_host_serves_the_latest_tests_from_the_store)
{
	devsys_workspace *wa = NULL;
	devsys_buf a = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	char wsa[4096], wsb[4096], folder[4096];
	struct stat sb;
	json_t *ja, *jb;
	long st;
	two_hosts(wsa, wsb, sizeof(wsa), &wa);
	/* the task runs in the first workspace, by a worker of this process */
	submit(wa, "shared-1");
	run_on_host_a(wa, "shared-1", NULL);
	/* a task of the store that never ran: the control for "no run kept" */
	submit(wa, "shared-2");
	start_daemon(0, wsa, NULL);
	start_daemon(1, wsb, NULL);
	snprintf(folder, sizeof(folder), "%s/tasks/shared-1", wsb);
	cr_assert_neq(stat(folder, &sb), 0, "the second workspace has no folder of the task");

	cr_assert_eq(st = get(0, "/api/tasks/shared-1/tests/latest", &a), 200, "host a: %ld %s", st, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/shared-1/tests/latest", &b), 200, "host b: %ld %s", st, b.ptr);
	cr_assert(ja = json_loads(a.ptr, 0, NULL), "%s", a.ptr);
	cr_assert(jb = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(jb, "summary"), "tests")), 2, "%s", b.ptr);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(jb, "summary"), "skipped")), 1, "%s", b.ptr);
	cr_assert_eq(json_array_size(json_object_get(jb, "cases")), 2, "%s", b.ptr);
	cr_assert(json_equal(ja, jb), "the answers differ:\nhost a: %s\nhost b: %s", a.ptr, b.ptr);
	json_decref(ja);
	json_decref(jb);

	cr_assert_eq(st = get(0, "/api/tasks/shared-1/tests/latest?format=junit", &a), 200, "%ld %s", st, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/shared-1/tests/latest?format=junit", &b), 200, "%ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "name=\"later\""), "%s", b.ptr);
	cr_assert_str_eq(a.ptr, b.ptr, "the JUnit differs");

	/* the controls */
	cr_assert_eq(st = get(1, "/api/tasks/no-such-task/tests/latest", &b), 404, "%ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "no-such-task"), "%s", b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/shared-2/tests/latest", &b), 404, "%ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "no complete test run"), "%s", b.ptr);
	devsys_buf_dispose(&a);
	devsys_buf_dispose(&b);
	devsys_workspace_free(wa);
}

/*
 * devsysd --config whose store: section names the database (no
 * DEVSYS_STORE_URL, the password from a secret): POST /api/tasks queues the
 * task there and the embedded worker claims and runs it from there; the
 * workspace never gets a SQLite store. The same configuration opened with
 * devsys_store_open_config() sees the task resting.
 */
Test(devsysd_pg, the_daemon_and_its_worker_use_the_store_its_configuration_names)
{
	devsys_workspace *wc = NULL;
	devsys_config *conf = NULL;
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char wsc[4096], config[4096], yaml[4096], spec[4096], sqlite[4096];
	struct stat sb;
	long long until;
	int state = -1;
	long code;
	dt_pg_need(pg);
	snprintf(wsc, sizeof(wsc), "%s/ws-c", dir);
	cr_assert_eq(mkdir(wsc, 0700), 0);
	snprintf(config, sizeof(config), "%s/devsys.yaml", dir);
	snprintf(yaml, sizeof(yaml), "store:\n  url: %s\n  password_secret: DT_DPG_PASSWORD\nrunners:\n  inproc:\n    type: inproc\n",
	         url);
	cr_assert(dt_write_file(config, yaml));
	unsetenv("DEVSYS_STORE_URL");
	unsetenv("PGPASSFILE");
	setenv("DT_DPG_PASSWORD", pg->password, 1);
	start_daemon(0, wsc, config);
	spec_of(spec, sizeof(spec), "conf-1");
	cr_assert_eq(code = request(0, "POST", "/api/tasks", spec, &b), 201, "%ld %s", code, b.ptr);
	OK(devsys_config_load(&conf, config));
	OK(devsys_workspace_open(&wc, wsc, NULL));
	OK(devsys_store_open_config(&st, wc, NULL, conf));
	cr_assert_str_eq(devsys_store_backend_name(st), "postgresql");
	for (until = dt_mono_ms() + 60000; dt_mono_ms() < until; usleep(50000))
		if ((state = devsys_store_task_state(st, "conf-1")) == DEVSYS_STATE_AWAITING_REVIEW ||
		    state == DEVSYS_STATE_FAILED)
			break;
	if (state != DEVSYS_STATE_AWAITING_REVIEW) {
		char ev[4096];
		snprintf(ev, sizeof(ev), "%s/tasks/conf-1/events.jsonl", wsc);
		b.ptr = dt_read_file(ev, NULL);
	}
	cr_assert_eq(state, DEVSYS_STATE_AWAITING_REVIEW, "the task in the configured store: %s: %s",
	             devsys_task_state_name(state), b.ptr ? b.ptr : "");
	snprintf(sqlite, sizeof(sqlite), "%s/devsys.db", wsc);
	cr_assert_neq(stat(sqlite, &sb), 0, "the daemon opened a SQLite store in its workspace");
	devsys_buf_dispose(&b);
	devsys_store_free(st);
	devsys_workspace_free(wc);
	devsys_config_free(conf);
}

/* ------------------------------------------------------------ the live stream, /agent, runs, log ranges */

/* A client of an event stream on its own thread (no asserts there): what it read, and when it ended. */
typedef struct {
	int daemon;
	char path[512];
	char header[128];
	pthread_mutex_t lock;
	devsys_buf got;
	long status;
	CURLcode rc;
	atomic_bool done;
} stream_client;

static size_t stream_cb(char *p, size_t s, size_t n, void *ud)
{
	stream_client *sc = ud;
	pthread_mutex_lock(&sc->lock);
	devsys_buf_put(&sc->got, p, s * n);
	pthread_mutex_unlock(&sc->lock);
	return s * n;
}

static void *stream_main(void *arg)
{
	stream_client *sc = arg;
	struct curl_slist *h = NULL;
	CURL *c = dt_api_easy(ports[sc->daemon], TOKEN, sc->path, sc->header[0] ? sc->header : "Accept: text/event-stream",
	                      90L, &h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sc);
	sc->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &sc->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	atomic_store(&sc->done, true);
	return NULL;
}

/* What @p sc has read so far, as a string (free() it). */
static char *stream_got(stream_client *sc)
{
	char *copy;
	pthread_mutex_lock(&sc->lock);
	copy = strndup(sc->got.ptr ? sc->got.ptr : "", sc->got.size);
	pthread_mutex_unlock(&sc->lock);
	return copy;
}

/* Wait up to @p ms for @p sc to end by itself; false: it still streams. */
static bool stream_ended_within(stream_client *sc, int ms)
{
	for (long long until = dt_mono_ms() + ms; dt_mono_ms() < until; usleep(20000))
		if (atomic_load(&sc->done))
			return true;
	return atomic_load(&sc->done);
}

/* Wait up to @p ms for what @p sc has read to hold @p needle. */
static bool stream_saw_within(stream_client *sc, const char *needle, int ms)
{
	for (long long until = dt_mono_ms() + ms; dt_mono_ms() < until; usleep(20000)) {
		char *g = stream_got(sc);
		bool yes = strstr(g, needle) != NULL;
		free(g);
		if (yes || atomic_load(&sc->done))
			return yes;
	}
	return false;
}

/* The frames of @p text ("id: N\nevent: T\ndata: LINE\n\n" each): how many, the first and last id. */
static size_t count_frames(const char *text, long long *first, long long *last)
{
	size_t n = 0;
	*first = *last = -1;
	for (const char *p = strstr(text, "id: "); p; p = strstr(p + 1, "\nid: ")) {
		long long id = strtoll(p[0] == '\n' ? p + 5 : p + 4, NULL, 10);
		if (n++ == 0)
			*first = id;
		*last = id;
	}
	return n;
}

/*
 * Every frame of @p text checked against the folder's events.jsonl
 * (@p folder_events): ids from @p from on without a gap, each frame's event
 * the line's type, its data the line byte for byte. The count of frames.
 */
static size_t check_frames(const char *text, const char *folder_events, long long from)
{
	size_t n = 0;
	const char *p = text;
	while ((p = strstr(p, "id: "))) {
		long long id = strtoll(p + 4, NULL, 10);
		const char *ev = strstr(p, "\nevent: "), *data = ev ? strstr(ev, "\ndata: ") : NULL, *end;
		char key[64], *line = NULL;
		const char *l;
		json_t *j;
		cr_assert(data, "a frame without event: or data: at %.200s", p);
		data += 7;
		cr_assert(end = strstr(data, "\n\n"), "a frame not ended by a blank line: %.200s", p);
		cr_assert_eq(id, from + (long long)n++, "the stream's ids are not the folder's in order (%lld, frame %zu)", id, n);
		snprintf(key, sizeof(key), "\"seq\":%lld,", id);
		for (l = folder_events; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (strstr(l, key) && strstr(l, key) < (strchr(l, '\n') ?: l + strlen(l))) {
				line = strndup(l, (size_t)((strchr(l, '\n') ?: l + strlen(l)) - l));
				break;
			}
		cr_assert(line, "event %lld is not in the folder's events.jsonl", id);
		cr_assert_eq((size_t)(end - data), strlen(line), "event %lld: the data differs from the folder's line", id);
		cr_assert_eq(strncmp(data, line, strlen(line)), 0, "event %lld: %.*s\nfolder: %s", id, (int)(end - data), data,
		             line);
		cr_assert(j = json_loads(line, 0, NULL));
		cr_assert_eq(strncmp(ev + 8, json_string_value(json_object_get(j, "type")), strlen(json_string_value(
		                                                                                 json_object_get(j, "type")))),
		             0, "event %lld: the event: is not the line's type", id);
		json_decref(j);
		free(line);
		p = end + 2;
	}
	return n;
}

/*
 * A client asking text/event-stream for a task that a worker of another
 * host (workspace a) runs: the second daemon sends the events the store
 * keeps at once (before the task is claimed), then the new ones as the
 * store's copy grows, and ends the stream with the change to the state the
 * task rests in; every frame is the folder's event, in order, framed as
 * the folder's stream frames it (its body is the start of the first
 * daemon's). Last-Event-ID and ?after= skip what was seen. The control: a
 * task that is not there is 404.
 */
Test(devsysd_pg, a_second_host_streams_the_events_of_a_task_running_on_another_host)
{
	devsys_workspace *wa = NULL;
	devsys_buf a = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	stream_client sc = { .daemon = 1, .path = "/api/tasks/live-1/events", .lock = PTHREAD_MUTEX_INITIALIZER };
	char wsa[4096], wsb[4096], evpath[4200], *before, *all, *folder;
	long long first, last;
	size_t n0, n;
	pthread_t th;
	long st;
	two_hosts(wsa, wsb, sizeof(wsa), &wa);
	submit(wa, "live-1");
	start_daemon(0, wsa, NULL);
	start_daemon(1, wsb, NULL);

	/* the control: no such task, no stream */
	cr_assert_eq(st = request_with(1, "GET", "/api/tasks/no-such-task/events", NULL, "Accept: text/event-stream", &b,
	                               NULL),
	             404, "%ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "no-such-task"), "%s", b.ptr);

	cr_assert_eq(pthread_create(&th, NULL, stream_main, &sc), 0);
	/* the kept events come at once: the task is queued, nobody runs it yet */
	if (!stream_saw_within(&sc, "\"to\":\"queued\"", 10000))
		cr_assert_fail("the stream sent no kept events: %s", (before = stream_got(&sc)));
	before = stream_got(&sc);
	n0 = count_frames(before, &first, &last);
	cr_assert(!atomic_load(&sc.done), "the stream ended before the task ran: %s", before);

	run_on_host_a(wa, "live-1", NULL);
	if (!stream_ended_within(&sc, 15000))
		cr_assert_fail("the stream did not end at the task's resting state: %s", (all = stream_got(&sc)));
	pthread_join(th, NULL);
	cr_assert_eq(sc.rc, CURLE_OK, "%s", curl_easy_strerror(sc.rc));
	cr_assert_eq(sc.status, 200);
	all = stream_got(&sc);
	snprintf(evpath, sizeof(evpath), "%s/tasks/live-1/events.jsonl", wsa);
	cr_assert(folder = dt_read_file(evpath, NULL));
	n = check_frames(all, folder, 1);
	count_frames(all, &first, &last);
	cr_assert_gt(n0, 0u, "%s", before);
	cr_assert_gt(n, n0, "no event came after the stream began:\nbefore: %s\nall: %s", before, all);
	cr_assert_eq(strncmp(all, before, strlen(before)), 0, "the stream's start changed");
	/* it ends with the change to the resting state */
	{
		const char *lastframe = all;
		for (const char *q = all; (q = strstr(q, "\nid: ")); q++)
			lastframe = q + 1;
		cr_assert(strstr(lastframe, "event: state\n") && strstr(lastframe, "\"to\":\"awaiting-review\""),
		          "the last frame: %s", lastframe);
	}
	/* the folder's stream frames the same events the same way: the store's is its start */
	cr_assert_eq(st = request_with(0, "GET", "/api/tasks/live-1/events?timeout=1", NULL, "Accept: text/event-stream",
	                               &a, NULL),
	             200, "%ld %s", st, a.ptr);
	cr_assert_eq(strncmp(a.ptr, all, strlen(all)), 0, "the folder's stream:\n%s\nthe store's:\n%s", a.ptr, all);

	/* Last-Event-ID, then ?after=, of a task at rest: the events after it, and the end at once */
	for (int k = 0; k < 2; k++) {
		long long from = last - 2 + k, f2, l2;
		free(all);
		devsys_buf_clear(&sc.got);
		atomic_store(&sc.done, false);
		if (k == 0)
			snprintf(sc.header, sizeof(sc.header), "Last-Event-ID: %lld", from);
		else
			snprintf(sc.path, sizeof(sc.path), "/api/tasks/live-1/events?after=%lld", from);
		if (k == 0)
			snprintf(sc.path, sizeof(sc.path), "/api/tasks/live-1/events?stream=1");
		else
			sc.header[0] = '\0';
		cr_assert_eq(pthread_create(&th, NULL, stream_main, &sc), 0);
		cr_assert(stream_ended_within(&sc, 10000), "the stream of a resting task did not end");
		pthread_join(th, NULL);
		all = stream_got(&sc);
		cr_assert_eq(count_frames(all, &f2, &l2), 2u - (size_t)k, "after %lld: %s", from, all);
		cr_assert_eq(f2, from + 1, "after %lld: the stream began at %lld", from, f2);
		check_frames(all, folder, from + 1);
	}
	free(before);
	free(all);
	free(folder);
	devsys_buf_dispose(&sc.got);
	devsys_buf_dispose(&a);
	devsys_buf_dispose(&b);
	devsys_workspace_free(wa);
}

/* The value of header @p name (lower case) among @p headers, "" when absent (free() it). */
static char *header_of(const devsys_buf *headers, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = headers->ptr; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
			const char *v = l + n + 1, *e = strpbrk(v, "\r\n");
			while (*v == ' ')
				v++;
			return strndup(v, e ? (size_t)(e - v) : strlen(v));
		}
	return strdup("");
}

/* Range @p range of task docs-1's test log from daemon @p i: the status, the body, the Content-Range. */
static long log_range(int i, const char *range, devsys_buf *out, char **content_range)
{
	devsys_buf h = DEVSYS_BUF_INIT;
	char hdr[128];
	long st;
	snprintf(hdr, sizeof(hdr), "Range: bytes=%s", range);
	st = request_with(i, "GET", "/api/tasks/docs-1/logs/test", NULL, hdr, out, &h);
	*content_range = header_of(&h, "content-range");
	devsys_buf_dispose(&h);
	return st;
}

/*
 * A task run in workspace a whose agent kept an event stream
 * (logs/agent.jsonl) and whose test log is longer than the 16 KiB the
 * store keeps: the second host answers GET /agent and /runs/1/tests (JSON
 * and JUnit) byte for byte as the first does from the folder; the test
 * log's text is the kept tail, and a Range inside it (and at its edges) is
 * answered as the folder answers it, with the full log's offsets, while a
 * Range before the tail is 416 naming the host and path of the full log.
 * Controls: run 2 is 404 on both hosts, a task that never ran has no agent
 * events and no run 1, an unknown task is 404.
 */
Test(devsysd_pg, a_second_host_serves_the_agent_events_any_run_and_log_ranges_from_the_store)
{
	devsys_workspace *wa = NULL;
	devsys_buf a = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT, h = DEVSYS_BUF_INIT;
	char wsa[4096], wsb[4096], extra[1024], agent[4200], path[4200], host[256] = "", range[64];
	char *cra, *crb, *v;
	json_t *jb;
	long long from, size;
	long st, sa;
	two_hosts(wsa, wsb, sizeof(wsa), &wa);
	/* the agent writes its event stream where an agent adapter keeps it; the tests print 28 KiB */
	snprintf(agent, sizeof(agent), "%s/docs-1-agent.sh", dir);
	snprintf(extra, sizeof(extra), "%s/tasks/docs-1/logs", wsa);
	submit(wa, "docs-1");
	{
		char script[4096];
		snprintf(script, sizeof(script),
		         "echo more >> README\nmkdir -p '%s'\nprintf '%%s\\n' '{\"type\":\"step\",\"n\":1}' "
		         "'{\"type\":\"text\",\"text\":\"done\"}' > '%s/agent.jsonl'\n",
		         extra, extra);
		cr_assert(dt_write_file(agent, script));
		snprintf(script, sizeof(script), "%s/docs-1-tests.sh", dir);
		v = dt_read_file(script, NULL);
		cr_assert(v);
		snprintf(path, sizeof(path), "seq 100000 104000\n%s", v);
		free(v);
		cr_assert(dt_write_file(script, path));
	}
	run_on_host_a(wa, "docs-1", NULL);
	submit(wa, "docs-2"); /* never runs */
	start_daemon(0, wsa, NULL);
	start_daemon(1, wsb, NULL);

	/* the agent's events */
	cr_assert_eq(st = get(0, "/api/tasks/docs-1/agent", &a), 200, "host a: %ld %s", st, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/docs-1/agent", &b), 200, "host b: %ld %s", st, b.ptr);
	cr_assert(strstr(a.ptr, "\"text\":\"done\""), "%s", a.ptr);
	cr_assert_eq(a.size, b.size, "host a: %s\nhost b: %s", a.ptr, b.ptr);
	cr_assert_eq(memcmp(a.ptr, b.ptr, a.size), 0, "host a: %s\nhost b: %s", a.ptr, b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/docs-2/agent", &b), 404, "%ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "agent.jsonl"), "%s", b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/no-such-task/agent", &b), 404, "%ld %s", st, b.ptr);

	/* run 1's tests, JSON and JUnit */
	cr_assert_eq(st = get(0, "/api/tasks/docs-1/runs/1/tests", &a), 200, "host a: %ld %s", st, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/docs-1/runs/1/tests", &b), 200, "host b: %ld %s", st, b.ptr);
	cr_assert(strstr(a.ptr, "\"name\":\"later\""), "%s", a.ptr);
	cr_assert_str_eq(a.ptr, b.ptr, "the answers differ");
	cr_assert_eq(st = get(0, "/api/tasks/docs-1/runs/1/tests?format=junit", &a), 200, "%ld %s", st, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/docs-1/runs/1/tests?format=junit", &b), 200, "%ld %s", st, b.ptr);
	cr_assert_str_eq(a.ptr, b.ptr, "the JUnit differs");
	cr_assert_eq(sa = get(0, "/api/tasks/docs-1/runs/2/tests", &a), 404, "host a: %ld %s", sa, a.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/docs-1/runs/2/tests", &b), 404, "host b: %ld %s", st, b.ptr);
	cr_assert(strstr(b.ptr, "no complete test run 2"), "%s", b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/docs-2/runs/1/tests", &b), 404, "%ld %s", st, b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/no-such-task/runs/1/tests", &b), 404, "%ld %s", st, b.ptr);
	cr_assert_eq(st = get(1, "/api/tasks/docs-1/runs/x/tests", &b), 400, "%ld %s", st, b.ptr);

	/* the test log: JSON on request, else the tail's text */
	cr_assert_eq(st = get(0, "/api/tasks/docs-1/logs/test", &a), 200, "host a: %ld %s", st, a.ptr);
	cr_assert_gt(a.size, 20000u, "the test log is shorter than the case needs: %zu", a.size);
	cr_assert_eq(st = request_with(1, "GET", "/api/tasks/docs-1/logs/test", NULL, "Accept: application/json", &b, NULL),
	             200, "%ld %s", st, b.ptr);
	cr_assert(jb = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	from = json_integer_value(json_object_get(jb, "tail_from"));
	size = json_integer_value(json_object_get(jb, "size"));
	json_decref(jb);
	cr_assert_eq(size, (long long)a.size);
	cr_assert_gt(from, 0, "the whole log is kept: %s", b.ptr);
	cr_assert_eq(st = request_with(1, "GET", "/api/tasks/docs-1/logs/test", NULL, NULL, &b, &h), 200, "%ld %s", st,
	             b.ptr);
	cr_assert_eq((long long)b.size, size - from);
	cr_assert_eq(memcmp(b.ptr, a.ptr + from, b.size), 0, "the text is not the log's tail");
	v = header_of(&h, "x-devsys-kept-from");
	cr_assert_eq(strtoll(v, NULL, 10), from, "%s", v);
	free(v);

	/* ranges inside the tail and at its edges: as the folder answers them */
	{
		const long long cases[][2] = { { from + 10, from + 99 }, { from, from }, { from, -1 }, { size - 1, size - 1 },
			                       { size - 5, size + 100 } };
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			if (cases[i][1] < 0)
				snprintf(range, sizeof(range), "%lld-", cases[i][0]);
			else
				snprintf(range, sizeof(range), "%lld-%lld", cases[i][0], cases[i][1]);
			cr_assert_eq(sa = log_range(0, range, &a, &cra), 206, "host a, %s: %ld", range, sa);
			cr_assert_eq(st = log_range(1, range, &b, &crb), 206, "host b, %s: %ld %s", range, st, b.ptr);
			cr_assert_str_eq(crb, cra, "%s: the Content-Range differs", range);
			cr_assert_eq(b.size, a.size, "%s", range);
			cr_assert_eq(memcmp(a.ptr, b.ptr, a.size), 0, "%s: the bytes differ", range);
			free(cra);
			free(crb);
		}
		/* the suffix that is exactly the tail */
		snprintf(range, sizeof(range), "-%lld", size - from);
		cr_assert_eq(st = log_range(1, range, &b, &crb), 206, "%s: %ld %s", range, st, b.ptr);
		cr_assert_eq((long long)b.size, size - from);
		free(crb);
	}
	/* outside what is kept: 416, naming where the full log is; the folder serves the same range */
	snprintf(path, sizeof(path), "%s/tasks/docs-1/logs/test.log", wsa);
	gethostname(host, sizeof(host) - 1);
	{
		char r1[64], r2[64], r3[64], want[64];
		snprintf(r1, sizeof(r1), "%lld-%lld", from - 1, from + 5);
		snprintf(r2, sizeof(r2), "0-10");
		snprintf(r3, sizeof(r3), "-%lld", size - from + 1);
		const char *outside[] = { r1, r2, r3 };
		snprintf(want, sizeof(want), "bytes */%lld", size);
		for (size_t i = 0; i < 3; i++) {
			cr_assert_eq(sa = log_range(0, outside[i], &a, &cra), 206, "host a, %s: %ld", outside[i], sa);
			cr_assert_eq(st = log_range(1, outside[i], &b, &crb), 416, "host b, %s: %ld %s", outside[i], st, b.ptr);
			cr_assert_str_eq(crb, want, "%s", outside[i]);
			cr_assert(strstr(b.ptr, path) && strstr(b.ptr, host), "the 416 does not say where the log is: %s", b.ptr);
			free(cra);
			free(crb);
		}
		/* past the end: 416 on both */
		snprintf(r1, sizeof(r1), "%lld-", size);
		cr_assert_eq(sa = log_range(0, r1, &a, &cra), 416, "host a: %ld", sa);
		cr_assert_eq(st = log_range(1, r1, &b, &crb), 416, "host b: %ld %s", st, b.ptr);
		cr_assert_str_eq(crb, cra);
		free(cra);
		free(crb);
	}
	devsys_buf_dispose(&a);
	devsys_buf_dispose(&b);
	devsys_buf_dispose(&h);
	devsys_workspace_free(wa);
}

/*
 * The copies are for hosts that do not see the folders: a SQLite store
 * (one workspace, whose processes all read the folders) writes none and
 * says so, while the shared store of the same test keeps the task's.
 */
Test(devsysd_pg, a_sqlite_store_keeps_no_document_copies)
{
	devsys_workspace *wl = NULL, *wp = NULL;
	devsys_store *lite = NULL, *shared = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char wsl[4096], wsp[4096];
	dt_pg_need(pg);
	snprintf(wsl, sizeof(wsl), "%s/ws-lite", dir);
	snprintf(wsp, sizeof(wsp), "%s/ws-pg", dir);
	OK(devsys_workspace_open(&wp, wsp, NULL));
	OK(devsys_store_open(&shared, wp, NULL));
	cr_assert_str_eq(devsys_store_backend_name(shared), "postgresql");
	unsetenv("DEVSYS_STORE_URL");
	OK(devsys_workspace_open(&wl, wsl, NULL));
	OK(devsys_store_open(&lite, wl, NULL));
	setenv("DEVSYS_STORE_URL", url, 1);
	cr_assert_str_eq(devsys_store_backend_name(lite), "sqlite");
	for (int i = 0; i < 2; i++) {
		devsys_store *st = i ? shared : lite;
		OK(devsys_store_task_create(st, "copy-1", NULL));
		OK(devsys_store_transition(st, "copy-1", DEVSYS_STATE_VALIDATED, NULL));
	}
	OK(devsys_store_document(&b, shared, "copy-1", "task.json")); /* the control */
	cr_assert(strstr(b.ptr, "\"validated\""), "%s", b.ptr);
	OK(devsys_store_document(&b, shared, "copy-1", "events.jsonl"));
	cr_assert(strstr(b.ptr, "\"to\":\"validated\""), "the kept events end with the change: %s", b.ptr);
	cr_assert_eq(devsys_store_document(&b, lite, "copy-1", "task.json"), DEVSYS_ENOTSUPPORTED);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "folder"), "%s",
	          devsys_error_message(devsys_error_last()));
	{
		char v[DEVSYS_STORE_DOC_VERSION_MAX] = "";
		cr_assert_eq(devsys_store_document_changed(&b, shared, "copy-1", "task.json", v, sizeof(v)), 1);
		cr_assert_eq(devsys_store_document_changed(&b, lite, "copy-1", "task.json", v, sizeof(v)),
		             DEVSYS_ENOTSUPPORTED);
	}
	devsys_buf_dispose(&b);
	devsys_store_free(lite);
	devsys_store_free(shared);
	devsys_workspace_free(wl);
	devsys_workspace_free(wp);
}
