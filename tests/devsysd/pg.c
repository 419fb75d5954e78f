/*
 * Two devsysd, each on a workspace of its own, sharing one real PostgreSQL
 * store (DEVSYS_STORE_URL): a task run in the first workspace has its task
 * folder there only, and the second daemon answers GET
 * /api/tasks/<id>/tests/latest (JSON and JUnit) from the documents the store
 * keeps, the same answer as the first daemon's from the folder. The
 * controls: an unknown task, and a task of the store with no test run, are
 * 404 on the second daemon. And a devsysd whose --config has a store:
 * section (no DEVSYS_STORE_URL) queues into that database and its embedded
 * worker runs the task from there.
 */
#include "pg_fixture.h"
#include "testutil.h"
#include <criterion/hooks.h>
#include <devsys.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_pg_suite_begin();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_pg_suite_end();
}

#define TOKEN "test-token-0123456789abcdef"
#define OK(expr) cr_assert_eq((expr), 0, "%s: %s", #expr, devsys_error_message(devsys_error_last()))

static char *dir, *url;
static dt_pg *pg;
static pid_t daemons[2];
static int ports[2];

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup(void)
{
	char *git = dt_which("git"), *p, why[512];
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	cr_assert(dir = dt_tmpdir("devsysd-pg"));
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t && echo hello > README &&"
	                   " git add . && git commit -qm init && git push -q origin main",
	                   dir),
	             0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!(pg = dt_pg_suite(why, sizeof(why))))
		return;
	cr_assert(asprintf(&p, "%s/home", dir) > 0 && mkdir(p, 0700) == 0);
	setenv("HOME", p, 1); /* never the real home's .pgpass */
	free(p);
	cr_assert(asprintf(&p, "%s/pgpass", dir) > 0 && dt_pg_write_pgpass(pg, p, NULL));
	setenv("PGPASSFILE", p, 1);
	free(p);
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
	char portstr[16], log[4096];
	const char *bin = getenv("DEVSYSD");
	char *argv[12];
	int n = 0;
	cr_assert_not_null(bin, "DEVSYSD is not set by the build");
	ports[i] = dt_free_port();
	snprintf(portstr, sizeof(portstr), "%d", ports[i]);
	snprintf(log, sizeof(log), "%s/devsysd-%d.log", dir, i);
	argv[n++] = (char *)bin;
	argv[n++] = "--workspace";
	argv[n++] = (char *)ws;
	argv[n++] = "--port";
	argv[n++] = portstr;
	if (config) {
		argv[n++] = "--workers";
		argv[n++] = "1";
		argv[n++] = "--config";
		argv[n++] = (char *)config;
	}
	argv[n] = NULL;
	setenv("DEVSYSD_TOKEN", TOKEN, 1);
	daemons[i] = dt_spawn(argv, log);
	cr_assert_gt(daemons[i], 0);
	if (!dt_wait_port(ports[i], 15000)) {
		char *l = dt_read_file(log, NULL);
		cr_assert_fail("devsysd %d did not listen: %s", i, l ? l : "(no log)");
	}
}

static size_t body_cb(char *p, size_t s, size_t n, void *ud)
{
	devsys_buf_put(ud, p, s * n);
	return s * n;
}

/* @p method @p path of daemon @p i (with @p body, may be NULL): the status, the answer into @p out. */
static long request(int i, const char *method, const char *path, const char *body, devsys_buf *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	char u[2048];
	long status = 0;
	devsys_buf_clear(out);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", ports[i], path);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (!out->ptr)
		devsys_buf_puts(out, "");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static long get(int i, const char *path, devsys_buf *out)
{
	return request(i, "GET", path, NULL, out);
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
	devsys_worker *w = NULL;
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_buf a = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	char wsa[4096], wsb[4096], folder[4096];
	struct stat sb;
	json_t *ja, *jb, *acc;
	char why[512];
	long st;
	if (!pg) {
		dt_pg_free(dt_pg_suite(why, sizeof(why)));
		dt_skip("%s", why);
	}
	snprintf(wsa, sizeof(wsa), "%s/ws-a", dir);
	snprintf(wsb, sizeof(wsb), "%s/ws-b", dir);
	cr_assert_eq(mkdir(wsb, 0700), 0);
	OK(devsys_workspace_open(&wa, wsa, NULL));
	submit_with(wa, "dep-1",
	            "deploy:\n  command: [/bin/true]\n  acceptance:\n"
	            "    - name: exits zero\n      command: [/bin/true]\n");
	submit(wa, "plain-1");
	o.id = "host-a";
	o.flags = DEVSYS_WORKER_ONCE;
	OK(devsys_worker_open(&w, wa, &o));
	OK(devsys_worker_run(w)); /* until nothing is left to claim */
	cr_assert_eq(devsys_store_task_state(devsys_worker_store(w), "plain-1"), DEVSYS_STATE_AWAITING_REVIEW);
	cr_assert_eq(devsys_store_task_state(devsys_worker_store(w), "dep-1"), DEVSYS_STATE_AWAITING_REVIEW, "%s",
	             devsys_task_state_name(devsys_store_task_state(devsys_worker_store(w), "dep-1")));
	devsys_worker_free(w);
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
	cr_assert_eq(st = get(1, "/api/tasks/dep-1/logs/test", &b), 200, "host b: %ld %s", st, b.ptr);
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
		json_decref(jb);
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
	devsys_worker *w = NULL;
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_buf a = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	char wsa[4096], wsb[4096], folder[4096];
	struct stat sb;
	json_t *ja, *jb;
	char why[512];
	long st;
	if (!pg) {
		dt_pg_free(dt_pg_suite(why, sizeof(why)));
		dt_skip("%s", why);
	}
	snprintf(wsa, sizeof(wsa), "%s/ws-a", dir);
	snprintf(wsb, sizeof(wsb), "%s/ws-b", dir);
	cr_assert_eq(mkdir(wsb, 0700), 0);
	OK(devsys_workspace_open(&wa, wsa, NULL));
	/* the task runs in the first workspace, by a worker of this process */
	submit(wa, "shared-1");
	o.id = "host-a";
	o.flags = DEVSYS_WORKER_ONCE;
	OK(devsys_worker_open(&w, wa, &o));
	OK(devsys_worker_run(w));
	cr_assert_eq(devsys_store_task_state(devsys_worker_store(w), "shared-1"), DEVSYS_STATE_AWAITING_REVIEW, "%s",
	             devsys_task_state_name(devsys_store_task_state(devsys_worker_store(w), "shared-1")));
	/* a task of the store that never ran: the control for "no run kept" */
	submit(wa, "shared-2");
	devsys_worker_free(w);
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
	char why[512];
	long code;
	if (!pg) {
		dt_pg_free(dt_pg_suite(why, sizeof(why)));
		dt_skip("%s", why);
	}
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
	for (until = now_ms() + 60000; now_ms() < until; usleep(50000))
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
