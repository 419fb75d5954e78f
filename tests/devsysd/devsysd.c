/* The real devsysd on a free loopback port, driven with libcurl and raw sockets. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/record.h>
#include <devsys/store.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "test-token-0123456789abcdef"
#define FIX DEVSYS_SOURCE_DIR "/tests/report/fixtures"

static char *dir;
static int port;
static pid_t pid;

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A workspace with tasks: t1 (pr-opened, one complete run, logs, events), t2..t6 created. */
static void populate(void)
{
	devsys_workspace *ws;
	devsys_store *st;
	devsys_task *t;
	devsys_record *rec;
	unsigned int run;
	char src[4096], id[16];
	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0);
	cr_assert_eq(devsys_store_task_create(st, "t1", "specs/t1.yaml"), 0);
	cr_assert_eq(devsys_store_transition(st, "t1", DEVSYS_STATE_VALIDATED, NULL), 0);
	for (int i = 2; i <= 6; i++) {
		snprintf(id, sizeof(id), "t%d", i);
		cr_assert_eq(devsys_store_task_create(st, id, NULL), 0);
	}
	cr_assert_eq(devsys_task_open(&t, ws, "t1", 0), 0);
	cr_assert_eq(devsys_record_open(&rec, t), 0);
	cr_assert_eq(devsys_record_run_begin(rec, &run), 0);
	snprintf(src, sizeof(src), "%s/go.xml", devsys_task_path(t));
	cr_assert_eq(dt_sh("cp '%s/go-junit-report.xml' '%s'", FIX, src), 0);
	cr_assert_eq(devsys_record_run_add_junit(rec, run, src), 0);
	cr_assert_eq(devsys_record_run_complete(rec, run), 0);
	cr_assert_eq(devsys_store_run_record(st, "t1", run), 0);
	snprintf(src, sizeof(src), "%s/logs", devsys_task_path(t));
	cr_assert_eq(dt_sh("mkdir -p '%s' && printf '0123456789abcdefghij' > '%s/test.log'", src, src), 0);
	devsys_record_free(rec);
	devsys_task_free(t);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	devsys_shutdown();
}

static pid_t start_daemon(const char *extra1, const char *extra2, const char *extra3, const char *extra4)
{
	char portstr[16], log[4096];
	const char *bin = getenv("DEVSYSD");
	char *argv[16];
	int n = 0;
	pid_t p;
	cr_assert_not_null(bin, "DEVSYSD is not set by the build");
	port = dt_free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(log, sizeof(log), "%s/devsysd.log", dir);
	argv[n++] = (char *)bin;
	argv[n++] = "--workspace";
	argv[n++] = dir;
	argv[n++] = "--port";
	argv[n++] = portstr;
	if (extra1) argv[n++] = (char *)extra1;
	if (extra2) argv[n++] = (char *)extra2;
	if (extra3) argv[n++] = (char *)extra3;
	if (extra4) argv[n++] = (char *)extra4;
	argv[n] = NULL;
	setenv("DEVSYSD_TOKEN", TOKEN, 1); /* never on argv */
	p = dt_spawn(argv, log);
	cr_assert_gt(p, 0);
	if (!dt_wait_port(port, 10000)) {
		char *l = dt_read_file(log, NULL);
		cr_assert_fail("devsysd did not listen: %s", l ? l : "(no log)");
	}
	return p;
}

static void setup(void)
{
	dir = dt_tmpdir("devsysd");
	populate();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pid = 0;
}

static void teardown(void)
{
	if (pid > 0)
		dt_stop(pid, SIGTERM, 5000);
	curl_global_cleanup();
	dt_rmrf(dir);
	free(dir);
}

TestSuite(devsysd, .init = setup, .fini = teardown, .timeout = 120);

typedef struct resp {
	long status;
	devsys_buf body;
	char ctype[128];
	char crange[128];
	char www_auth[128];
} resp;

static size_t body_cb(char *p, size_t s, size_t n, void *ud)
{
	devsys_buf_put(ud, p, s * n);
	return s * n;
}

static size_t header_cb(char *p, size_t s, size_t n, void *ud)
{
	resp *r = ud;
	size_t len = s * n;
	char line[512];
	snprintf(line, sizeof(line), "%.*s", (int)(len < 511 ? len : 511), p);
	line[strcspn(line, "\r\n")] = '\0';
	if (strncasecmp(line, "Content-Type: ", 14) == 0)
		snprintf(r->ctype, sizeof(r->ctype), "%s", line + 14);
	if (strncasecmp(line, "Content-Range: ", 15) == 0)
		snprintf(r->crange, sizeof(r->crange), "%s", line + 15);
	if (strncasecmp(line, "WWW-Authenticate: ", 18) == 0)
		snprintf(r->www_auth, sizeof(r->www_auth), "%s", line + 18);
	return len;
}

static resp http(const char *method, const char *path, const char *token, const char *header, const char *body,
                 size_t body_len)
{
	resp r;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[2048], auth[256];
	CURLcode rc;
	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (header)
		h = curl_slist_append(h, header);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (!r.body.ptr)
		devsys_buf_puts(&r.body, "");
	return r;
}

static json_t *json_of(resp *r)
{
	json_error_t e;
	json_t *j = json_loads(r->body.ptr, 0, &e);
	cr_assert_not_null(j, "not JSON (%s): %.300s", e.text, r->body.ptr);
	return j;
}

static void expect_error(const char *method, const char *path, const char *token, long status, const char *code)
{
	resp r = http(method, path, token, NULL, NULL, 0);
	json_t *j;
	cr_assert_eq(r.status, status, "%s %s: %ld %s", method, path, r.status, r.body.ptr);
	j = json_of(&r);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), code, "%s", r.body.ptr);
	cr_assert_not_null(json_string_value(json_object_get(json_object_get(j, "error"), "message")));
	json_decref(j);
	devsys_buf_dispose(&r.body);
}

Test(devsysd, healthz_is_open_everything_else_needs_the_token)
{
	resp r;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	r = http("GET", "/healthz", NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	devsys_buf_dispose(&r.body);
	expect_error("GET", "/api/tasks", NULL, 401, "unauthorized");
	expect_error("GET", "/api/tasks", "wrong-token-0123456789abcdef", 401, "unauthorized");
	expect_error("GET", "/api/tasks/t1", TOKEN "x", 401, "unauthorized");
	expect_error("GET", "/metrics", "", 401, "unauthorized");
	r = http("GET", "/api/tasks", NULL, NULL, NULL, 0);
	cr_assert(strstr(r.www_auth, "Bearer"));
	devsys_buf_dispose(&r.body);
	{
		char *l;
		char p[4096];
		snprintf(p, sizeof(p), "%s/devsysd.log", dir);
		l = dt_read_file(p, NULL);
		cr_assert_null(strstr(l ? l : "", TOKEN), "the token reached the log");
		free(l);
	}
}

Test(devsysd, token_from_a_file)
{
	char tf[4096];
	resp r;
	snprintf(tf, sizeof(tf), "%s/token", dir);
	cr_assert(dt_write_file(tf, "file-token-abcdefghijklmnop\n"));
	pid = start_daemon("--token-file", tf, NULL, NULL);
	r = http("GET", "/api/tasks", "file-token-abcdefghijklmnop", NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	devsys_buf_dispose(&r.body);
	expect_error("GET", "/api/tasks", TOKEN, 401, "unauthorized");
}

Test(devsysd, list_paginates_and_filters)
{
	resp r;
	json_t *j;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	r = http("GET", "/api/tasks?limit=4&offset=0", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	j = json_of(&r);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 6);
	cr_assert_eq(json_array_size(json_object_get(j, "tasks")), 4);
	json_decref(j);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks?limit=4&offset=4", TOKEN, NULL, NULL, 0);
	j = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "tasks")), 2);
	json_decref(j);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks?state=validated", TOKEN, NULL, NULL, 0);
	j = json_of(&r);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "tasks"), 0), "id")), "t1");
	json_decref(j);
	devsys_buf_dispose(&r.body);
	expect_error("GET", "/api/tasks?state=bogus", TOKEN, 400, "bad_request");
	expect_error("GET", "/api/tasks?limit=0", TOKEN, 400, "bad_request");
	expect_error("GET", "/api/tasks?offset=-1", TOKEN, 400, "bad_request");
	expect_error("DELETE", "/api/tasks", TOKEN, 405, "method_not_allowed");
}

Test(devsysd, task_json_unknown_and_bad_ids)
{
	resp r;
	json_t *j;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	r = http("GET", "/api/tasks/t1", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	j = json_of(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "validated");
	cr_assert_str_eq(json_string_value(json_object_get(j, "spec_path")), "specs/t1.yaml");
	json_decref(j);
	devsys_buf_dispose(&r.body);
	expect_error("GET", "/api/tasks/nope", TOKEN, 404, "not_found");
	expect_error("GET", "/api/tasks/..", TOKEN, 400, "bad_id");
	expect_error("GET", "/api/tasks/../../etc", TOKEN, 400, "bad_id");
	expect_error("GET", "/api/tasks/..%2F..%2Fetc%2Fpasswd", TOKEN, 400, "bad_id");
	/* %2F is decoded to '/', so this is a longer path that matches no endpoint */
	expect_error("GET", "/api/tasks/t1/logs/..%2F..%2F..%2Fdevsys.db", TOKEN, 404, "not_found");
	expect_error("GET", "/api/tasks/t1/logs/..", TOKEN, 400, "bad_request");
	expect_error("GET", "/api/tasks/t1/nothing", TOKEN, 404, "not_found");
	expect_error("GET", "/nothing", TOKEN, 404, "not_found");
}

Test(devsysd, tests_latest_runs_and_junit)
{
	resp r;
	json_t *j, *cases;
	int failed = 0;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	for (int round = 0; round < 2; round++) { /* the second answer comes from the cache */
		r = http("GET", "/api/tasks/t1/tests/latest", TOKEN, NULL, NULL, 0);
		cr_assert_eq(r.status, 200, "%s", r.body.ptr);
		cr_assert(strstr(r.ctype, "application/json"));
		j = json_of(&r);
		cr_assert_eq(json_integer_value(json_object_get(j, "run")), 1);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "summary"), "tests")), 4);
		cases = json_object_get(j, "cases");
		cr_assert_eq(json_array_size(cases), 4);
		failed = 0;
		for (size_t i = 0; i < 4; i++)
			if (strcmp(json_string_value(json_object_get(json_array_get(cases, i), "status")), "failed") == 0) {
				failed++;
				cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cases, i), "name")),
				                 "TestAddOverflow");
			}
		cr_assert_eq(failed, 1);
		json_decref(j);
		devsys_buf_dispose(&r.body);
	}
	r = http("GET", "/api/tasks/t1/tests/latest?format=junit", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.ctype, "application/xml"));
	cr_assert(strstr(r.body.ptr, "<testsuites tests=\"4\" failures=\"1\""), "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/t1/runs/1/tests", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body.ptr, "TestMulBig"));
	devsys_buf_dispose(&r.body);
	expect_error("GET", "/api/tasks/t1/runs/2/tests", TOKEN, 404, "not_found");
	/* a new complete run replaces the cached answer */
	{
		devsys_workspace *ws;
		devsys_task *t;
		devsys_record *rec;
		unsigned int run;
		char src[4096];
		cr_assert_eq(devsys_init(), 1);
		cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
		cr_assert_eq(devsys_task_open(&t, ws, "t1", 0), 0);
		cr_assert_eq(devsys_record_open(&rec, t), 0);
		cr_assert_eq(devsys_record_run_begin(rec, &run), 0);
		snprintf(src, sizeof(src), "%s/sf.xml", devsys_task_path(t));
		cr_assert_eq(dt_sh("cp '%s/surefire-TEST-com.example.CalculatorTest.xml' '%s'", FIX, src), 0);
		cr_assert_eq(devsys_record_run_add_junit(rec, run, src), 0);
		cr_assert_eq(devsys_record_run_complete(rec, run), 0);
		devsys_record_free(rec);
		devsys_task_free(t);
		devsys_workspace_free(ws);
		devsys_shutdown();
		r = http("GET", "/api/tasks/t1/tests/latest", TOKEN, NULL, NULL, 0);
		j = json_of(&r);
		cr_assert_eq(json_integer_value(json_object_get(j, "run")), 2, "stale answer: %.200s", r.body.ptr);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "summary"), "tests")), 5);
		json_decref(j);
		devsys_buf_dispose(&r.body);
	}
	expect_error("GET", "/api/tasks/t1/runs/abc/tests", TOKEN, 400, "bad_request");
	expect_error("GET", "/api/tasks/t1/runs/0/tests", TOKEN, 400, "bad_request");
	expect_error("GET", "/api/tasks/t2/tests/latest", TOKEN, 404, "not_found");
	expect_error("GET", "/api/tasks/t1/tests/latest?format=yaml", TOKEN, 400, "bad_request");
}

Test(devsysd, logs_with_ranges)
{
	resp r;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	r = http("GET", "/api/tasks/t1/logs/test", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body.ptr, "0123456789abcdefghij");
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/t1/logs/test", TOKEN, "Range: bytes=2-5", NULL, 0);
	cr_assert_eq(r.status, 206);
	cr_assert_str_eq(r.body.ptr, "2345");
	cr_assert_str_eq(r.crange, "bytes 2-5/20");
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/t1/logs/test", TOKEN, "Range: bytes=15-", NULL, 0);
	cr_assert_eq(r.status, 206);
	cr_assert_str_eq(r.body.ptr, "fghij");
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/t1/logs/test", TOKEN, "Range: bytes=-3", NULL, 0);
	cr_assert_eq(r.status, 206);
	cr_assert_str_eq(r.body.ptr, "hij");
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/t1/logs/test", TOKEN, "Range: bytes=100-", NULL, 0);
	cr_assert_eq(r.status, 416);
	cr_assert_str_eq(r.crange, "bytes */20");
	devsys_buf_dispose(&r.body);
	expect_error("GET", "/api/tasks/t1/logs/deploy", TOKEN, 404, "not_found");
	/* not a stage name under any rule (an added stage's name follows the task-id rule) */
	expect_error("GET", "/api/tasks/t1/logs/-compile", TOKEN, 400, "bad_request");
}

Test(devsysd, cancel_and_metrics)
{
	resp r;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	r = http("POST", "/api/tasks/t2/cancel", TOKEN, NULL, "", 0);
	cr_assert_eq(r.status, 200, "%s", r.body.ptr);
	cr_assert(strstr(r.body.ptr, "\"state\":\"canceled\""));
	devsys_buf_dispose(&r.body);
	expect_error("POST", "/api/tasks/t2/cancel", TOKEN, 409, "conflict");
	expect_error("GET", "/api/tasks/t2/cancel", TOKEN, 405, "method_not_allowed");
	expect_error("POST", "/api/tasks/zzz/cancel", TOKEN, 404, "not_found");
	r = http("GET", "/api/tasks/t2", TOKEN, NULL, NULL, 0);
	cr_assert(strstr(r.body.ptr, "\"state\": \"canceled\""), "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/metrics", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.ctype, "text/plain"));
	cr_assert(strstr(r.body.ptr, "devsys_tasks{state=\"canceled\"} 1\n"), "%s", r.body.ptr);
	cr_assert(strstr(r.body.ptr, "devsys_tasks{state=\"created\"} 4\n"));
	cr_assert(strstr(r.body.ptr, "devsysd_requests_total "));
	devsys_buf_dispose(&r.body);
}

Test(devsysd, oversized_body_is_413)
{
	size_t n = 300 * 1024;
	char *big = malloc(n);
	resp r;
	memset(big, 'a', n);
	pid = start_daemon("--max-body", "65536", NULL, NULL);
	r = http("POST", "/api/tasks", TOKEN, NULL, big, n);
	cr_assert_eq(r.status, 413, "%ld", r.status);
	cr_assert(strstr(r.body.ptr, "payload_too_large"));
	devsys_buf_dispose(&r.body);
	/* chunked: no Content-Length up front */
	r = http("POST", "/api/tasks/t3/cancel", TOKEN, "Transfer-Encoding: chunked", big, n);
	cr_assert_eq(r.status, 413, "%ld", r.status);
	devsys_buf_dispose(&r.body);
	cr_assert_eq(devsys_init(), 1);
	{
		devsys_workspace *ws;
		devsys_store *st;
		cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
		cr_assert_eq(devsys_store_open(&st, ws, NULL), 0);
		cr_assert_eq(devsys_store_task_state(st, "t3"), DEVSYS_STATE_CREATED, "a refused request changed nothing");
		devsys_store_free(st);
		devsys_workspace_free(ws);
	}
	devsys_shutdown();
	free(big);
}

/* ---- events: JSON and SSE ---- */

typedef struct follow {
	atomic_int events;
	atomic_int done;
	devsys_buf data;
	CURLcode rc;
	char url[256];
} follow;

static size_t sse_cb(char *p, size_t s, size_t n, void *ud)
{
	follow *f = ud;
	const char *q;
	devsys_buf_put(&f->data, p, s * n);
	int count = 0;
	for (q = f->data.ptr; (q = strstr(q, "\nevent: ")); q++) /* one per event */
		count++;
	atomic_store(&f->events, count);
	return s * n;
}

static void *follow_thread(void *arg)
{
	follow *f = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	h = curl_slist_append(h, "Accept: text/event-stream");
	curl_easy_setopt(c, CURLOPT_URL, f->url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	f->rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	atomic_store(&f->done, 1);
	return NULL;
}

static bool wait_for(atomic_int *v, int want, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	while (now_ms() < end) {
		struct timespec ts = { 0, 10 * 1000000L };
		if (atomic_load(v) >= want)
			return true;
		nanosleep(&ts, NULL);
	}
	return atomic_load(v) >= want;
}

static void transition(const char *id, int to)
{
	devsys_workspace *ws;
	devsys_store *st;
	cr_assert_eq(devsys_init() > 0, 1);
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0);
	cr_assert_eq(devsys_store_transition(st, id, to, "from the test"), 0);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	devsys_shutdown();
}

Test(devsysd, events_json_and_live_sse)
{
	resp r;
	json_t *j;
	follow f;
	pthread_t th;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	r = http("GET", "/api/tasks/t1/events", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	j = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "events")), 2);
	cr_assert_eq(json_integer_value(json_object_get(j, "last_seq")), 2);
	json_decref(j);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/t1/events?after=1", TOKEN, NULL, NULL, 0);
	j = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "events")), 1);
	json_decref(j);
	devsys_buf_dispose(&r.body);
	/* nothing after the last one: an empty list, still valid JSON */
	r = http("GET", "/api/tasks/t1/events?after=2", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	j = json_of(&r);
	cr_assert(json_is_array(json_object_get(j, "events")));
	cr_assert_eq(json_array_size(json_object_get(j, "events")), 0);
	cr_assert_eq(json_integer_value(json_object_get(j, "last_seq")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(j, "task")), "t1");
	json_decref(j);
	devsys_buf_dispose(&r.body);

	memset(&f, 0, sizeof(f));
	snprintf(f.url, sizeof(f.url), "http://127.0.0.1:%d/api/tasks/t1/events?timeout=20", port);
	cr_assert_eq(pthread_create(&th, NULL, follow_thread, &f), 0);
	cr_assert(wait_for(&f.events, 2, 10000), "the stream did not send the existing events: %s",
	          f.data.ptr ? f.data.ptr : "");
	transition("t1", DEVSYS_STATE_CHECKED_OUT);
	cr_assert(wait_for(&f.events, 3, 10000), "the new event was not streamed: %s", f.data.ptr);
	cr_assert(strstr(f.data.ptr, "\"to\":\"checked-out\""), "%s", f.data.ptr);
	cr_assert(strstr(f.data.ptr, "id: 3\nevent: state\ndata: {"), "%s", f.data.ptr);
	/* other requests are served while a stream is parked */
	r = http("GET", "/healthz", NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	devsys_buf_dispose(&r.body);
	/* SIGTERM ends the stream cleanly and the daemon exits 0 */
	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert(wait_for(&f.done, 1, 10000), "the stream did not end on SIGTERM");
	pthread_join(th, NULL);
	cr_assert_eq(f.rc, CURLE_OK, "%s", curl_easy_strerror(f.rc));
	{
		int st;
		long end = now_ms() + 10000;
		pid_t w = 0;
		while (now_ms() < end && (w = waitpid(pid, &st, WNOHANG)) == 0) {
			struct timespec ts = { 0, 20 * 1000000L };
			nanosleep(&ts, NULL);
		}
		cr_assert_eq(w, pid, "devsysd did not exit after SIGTERM");
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
		pid = 0;
	}
	devsys_buf_dispose(&f.data);
}

/* ---- slow and many clients (raw sockets) ---- */

static int connect_port(void)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	return fd;
}

/* Read until EOF or @p timeout_ms; returns bytes read, -1 on timeout. */
static ssize_t read_to_eof(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t got = 0;
	long end = now_ms() + timeout_ms;
	while (now_ms() < end) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			continue;
		n = read(fd, buf + got, size - 1 - got);
		if (n <= 0) {
			buf[got] = '\0';
			return (ssize_t)got;
		}
		got += (size_t)n;
		if (got >= size - 1)
			break;
	}
	buf[got] = '\0';
	return -1;
}

Test(devsysd, trickling_client_is_cut_at_the_request_deadline)
{
	static const char req[] = "GET /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n";
	int fd;
	long start, closed_at = 0;
	char buf[4096];
	pid = start_daemon("--request-timeout", "2", "--idle-timeout", "30");
	fd = connect_port();
	start = now_ms();
	/* one byte a second: never idle long enough for an inactivity timeout */
	for (size_t i = 0; i < sizeof(req) - 1 && now_ms() - start < 8000; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1 || (poll(&p, 1, 1000) == 1 && read(fd, buf, sizeof(buf)) <= 0)) {
			closed_at = now_ms();
			break;
		}
	}
	cr_assert_gt(closed_at, 0, "the trickling connection was never closed");
	cr_assert_lt(closed_at - start, 4500, "closed after %ld ms; the deadline is 2 s", closed_at - start);
	close(fd);
	{
		resp r = http("GET", "/api/tasks", TOKEN, NULL, NULL, 0);
		cr_assert_eq(r.status, 200);
		devsys_buf_dispose(&r.body);
	}
}

Test(devsysd, oversized_headers_are_refused)
{
	size_t n = 64 * 1024;
	char *req = malloc(n + 256), buf[4096];
	int fd;
	ssize_t got;
	pid = start_daemon("--header-limit", "16384", NULL, NULL);
	strcpy(req, "GET /api/tasks HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + strlen(req), 'b', n);
	strcpy(req + strlen("GET /api/tasks HTTP/1.1\r\nHost: x\r\nX-Big: ") + n, "\r\n\r\n");
	fd = connect_port();
	send(fd, req, strlen(req), MSG_NOSIGNAL);
	got = read_to_eof(fd, buf, sizeof(buf), 5000);
	cr_assert_geq(got, 0, "the connection stayed open");
	/* the documented answer, not a bare close */
	cr_assert_eq(strncmp(buf, "HTTP/1.1 431 ", 13), 0, "oversized headers: %.300s", buf);
	close(fd);
	free(req);
}

/* Read one response on a kept-alive connection: the head and Content-Length
 * bytes of body (or up to EOF). Returns the status, -1 on timeout or garbage. */
static int read_response(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t got = 0;
	long end = now_ms() + timeout_ms;
	buf[0] = '\0';
	while (now_ms() < end && got < size - 1) {
		struct pollfd p = { fd, POLLIN, 0 };
		char *head_end;
		ssize_t n;
		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			continue;
		n = read(fd, buf + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if ((head_end = strstr(buf, "\r\n\r\n"))) {
			const char *cl = strcasestr(buf, "\r\nContent-Length: ");
			size_t want = cl ? strtoul(cl + 18, NULL, 10) : 0;
			if (cl && got - (size_t)(head_end + 4 - buf) >= want)
				break;
		}
	}
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.1 ", 9) != 0)
		return -1;
	return atoi(buf + 9);
}

Test(devsysd, per_ip_connection_limit)
{
	static const char req[] = "GET /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n";
	int fds[4], extra, status;
	char buf[16384];
	static const char metrics[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n";
	pid = start_daemon("--per-ip-limit", "4", NULL, NULL);
	/* the first of the four asks until devsysd counts it alone: the
	 * start-up probe's connection may not be closed on its side yet */
	fds[0] = connect_port();
	{
		long end = now_ms() + 5000;
		bool alone = false;
		while (!alone && now_ms() < end) {
			cr_assert_eq(send(fds[0], metrics, sizeof(metrics) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(metrics) - 1);
			status = read_response(fds[0], buf, sizeof(buf), 5000);
			cr_assert_eq(status, 200, "connection 1 of 4 under the limit: %.300s", buf);
			alone = strstr(buf, "\ndevsysd_connections 1\n") != NULL;
		}
		cr_assert(alone, "devsysd still counts other connections: %.2000s", buf);
	}
	/* one at a time, each served before the next connects, so devsysd has
	 * counted all four when the fifth arrives */
	for (int i = 0; i < 4; i++) {
		if (i > 0)
			fds[i] = connect_port();
		cr_assert_eq(send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
		status = read_response(fds[i], buf, sizeof(buf), 5000);
		cr_assert_eq(status, 200, "connection %d of 4 under the limit: %.200s", i + 1, buf);
		cr_assert(strstr(buf, "\"total\": 6"), "%.300s", buf);
	}
	/* the fifth gets the documented answer, 429 with Retry-After, and is closed */
	extra = connect_port();
	cr_assert_eq(send(extra, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	cr_assert_geq(read_to_eof(extra, buf, sizeof(buf), 5000), 0, "the 5th connection stayed open");
	cr_assert_eq(strncmp(buf, "HTTP/1.1 429 ", 13), 0, "the 5th connection from one address: %.300s", buf);
	cr_assert(strcasestr(buf, "\r\nRetry-After: 1\r\n"), "%.300s", buf);
	cr_assert(strstr(buf, "\"too_many_connections\""), "%.300s", buf);
	close(extra);
	/* the four stay served on their kept-alive connections */
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
		cr_assert_eq(read_response(fds[i], buf, sizeof(buf), 5000), 200, "connection %d: %.200s", i + 1, buf);
	}
	/* a slot freed is a slot for a new connection */
	close(fds[0]);
	{
		long end = now_ms() + 5000;
		status = -1;
		while (status != 200 && now_ms() < end) { /* until devsysd has seen the close */
			fds[0] = connect_port();
			send(fds[0], req, sizeof(req) - 1, MSG_NOSIGNAL);
			status = read_response(fds[0], buf, sizeof(buf), 5000);
			if (status != 200) {
				cr_assert_eq(status, 429, "%.300s", buf);
				close(fds[0]);
			}
		}
		cr_assert_eq(status, 200, "no new connection was served after one closed: %.300s", buf);
	}
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

Test(devsysd, a_thousand_concurrent_connections, .timeout = 180)
{
	enum { N = 1000 };
	static int fds[N];
	static char got[N][64];
	static size_t len[N];
	char req[512];
	int ok = 0, done = 0;
	long end;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < N + 100) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pid = start_daemon("--per-ip-limit", "2000", "--max-connections", "4000");
	snprintf(req, sizeof(req), "GET /api/tasks/t1/tests/latest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
	                           "Connection: close\r\n\r\n", TOKEN);
	/* all connected first, so they are concurrent */
	for (int i = 0; i < N; i++) {
		fds[i] = connect_port();
		len[i] = 0;
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(send(fds[i], req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	end = now_ms() + 60000;
	{
		static struct pollfd p[N];
		static bool fin[N];
		while (done < N && now_ms() < end) {
			int m = 0;
			static int idx[N];
			for (int i = 0; i < N; i++)
				if (!fin[i]) {
					p[m].fd = fds[i];
					p[m].events = POLLIN;
					idx[m++] = i;
				}
			if (poll(p, (nfds_t)m, 1000) <= 0)
				continue;
			for (int k = 0; k < m; k++) {
				int i = idx[k];
				char b[8192];
				ssize_t n;
				if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				n = read(fds[i], b, sizeof(b));
				if (n > 0) {
					if (len[i] < sizeof(got[i]) - 1) {
						size_t c = (size_t)n < sizeof(got[i]) - 1 - len[i] ? (size_t)n : sizeof(got[i]) - 1 - len[i];
						memcpy(got[i] + len[i], b, c);
						len[i] += c;
						got[i][len[i]] = '\0';
					}
					continue;
				}
				fin[i] = true;
				done++;
				if (strncmp(got[i], "HTTP/1.1 200 ", 13) == 0)
					ok++;
			}
		}
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	cr_assert_eq(ok, N, "%d of %d connections got 200 (%d finished)", ok, N, done);
}

#if defined(DEVSYS_HAVE_MODULE_SPEC)
Test(devsysd, post_a_spec_validates_and_creates)
{
	static const char yaml[] = "id: new-task\ntitle: A task made over HTTP\nprompt: Fix the README.\n"
	                           "repo:\n  url: https://git.example/o/r.git\n  base_branch: main\n"
	                           "agent:\n  command: [opencode, run, x]\ntests:\n  command: [make, check]\n"
	                           "runner: inproc\n";
	static const char invalid[] = "id: bad-task\ntitle: no repo here\n";
	resp r;
	json_t *j;
	char p[4096];
	pid = start_daemon(NULL, NULL, NULL, NULL);
	r = http("POST", "/api/tasks", TOKEN, "Content-Type: application/yaml", yaml, strlen(yaml));
	cr_assert_eq(r.status, 201, "%s", r.body.ptr);
	j = json_of(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "new-task");
	cr_assert_str_eq(json_string_value(json_object_get(j, "location")), "/api/tasks/new-task");
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "queued", "the answer is the queued task");
	json_decref(j);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/new-task", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body.ptr, "\"state\": \"queued\""), "%s", r.body.ptr);
	cr_assert(strstr(r.body.ptr, "https://git.example/o/r.git"), "%s", r.body.ptr);
	cr_assert(strstr(r.body.ptr, "\"validation\""), "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	snprintf(p, sizeof(p), "%s/tasks/new-task/spec.yaml", dir);
	cr_assert(dt_exists(p));
#if defined(DEVSYS_HAVE_MODULE_GIT)
	{
		/* task.json's spec_hash is git's blob id of the stored spec: the
		 * same value a commit's "Spec:" trailer carries. */
		int st;
		char tj[4096], want[128];
		char *hash = dt_sh_output(&st, "git hash-object '%s'", p);
		char *task_json;
		cr_assert_eq(st, 0);
		hash[strcspn(hash, "\n")] = '\0';
		snprintf(want, sizeof(want), "\"spec_hash\": \"sha1:%s\"", hash);
		snprintf(tj, sizeof(tj), "%s/tasks/new-task/task.json", dir);
		task_json = dt_read_file(tj, NULL);
		cr_assert_not_null(task_json);
		cr_assert(strstr(task_json, want), "want %s in %s", want, task_json);
		free(hash);
		free(task_json);
	}
#endif
	r = http("POST", "/api/tasks", TOKEN, NULL, yaml, strlen(yaml));
	cr_assert_eq(r.status, 409, "a second POST of one id: %ld", r.status);
	devsys_buf_dispose(&r.body);
	{
		/* chunked: no length up front, the body grows within the budget */
		char chunked[1024];
		snprintf(chunked, sizeof(chunked), "%s", yaml);
		memcpy(chunked + 4, "chunked-", 8); /* id: chunked-... */
		memmove(chunked + 12, yaml + 4, strlen(yaml) - 3);
		r = http("POST", "/api/tasks", TOKEN, "Transfer-Encoding: chunked", chunked, strlen(chunked));
		cr_assert_eq(r.status, 201, "a chunked spec: %ld %s", r.status, r.body.ptr);
		cr_assert(strstr(r.body.ptr, "\"id\":\"chunked-new-task\""), "%s", r.body.ptr);
		devsys_buf_dispose(&r.body);
	}
	r = http("POST", "/api/tasks", TOKEN, NULL, invalid, strlen(invalid));
	cr_assert_eq(r.status, 422, "%s", r.body.ptr);
	j = json_of(&r);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "invalid_spec");
	cr_assert_gt(json_array_size(json_object_get(json_object_get(j, "error"), "errors")), 0, "%s", r.body.ptr);
	json_decref(j);
	devsys_buf_dispose(&r.body);
	snprintf(p, sizeof(p), "%s/tasks/bad-task", dir);
	cr_assert(!dt_exists(p), "an invalid spec created a task");
	{
		char cred[512];
		snprintf(cred, sizeof(cred), "id: cred-task\ntitle: t\nprompt: p\nrepo:\n  url: https://u:s3cr3t@git.example/o/r.git\n"
		         "  base_branch: main\nagent:\n  command: [a]\ntests:\n  command: [b]\nrunner: inproc\n");
		r = http("POST", "/api/tasks", TOKEN, NULL, cred, strlen(cred));
		cr_assert_eq(r.status, 422, "credentials in the repo URL: %ld", r.status);
		cr_assert(strstr(r.body.ptr, "/repo/url"));
		devsys_buf_dispose(&r.body);
	}
	r = http("POST", "/api/tasks", TOKEN, NULL, "id: [unclosed", 13);
	cr_assert_eq(r.status, 422, "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	expect_error("POST", "/api/tasks", NULL, 401, "unauthorized");
}
#else
Test(devsysd, post_without_the_spec_module_is_501)
{
	pid = start_daemon(NULL, NULL, NULL, NULL);
	expect_error("POST", "/api/tasks", TOKEN, 501, "not_implemented");
}
#endif

Test(devsysd, sigterm_with_a_stuck_client_exits_within_the_grace)
{
	int fd, st;
	long start, end;
	pid_t w = 0;
	pid = start_daemon("--grace", "1", NULL, NULL);
	fd = connect_port();
	cr_assert_eq(send(fd, "GET /api/tas", 12, MSG_NOSIGNAL), 12); /* and never more */
	start = now_ms();
	cr_assert_eq(kill(pid, SIGTERM), 0);
	end = start + 10000;
	while (now_ms() < end && (w = waitpid(pid, &st, WNOHANG)) == 0) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	cr_assert_eq(w, pid, "devsysd did not exit");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	cr_assert_lt(now_ms() - start, 5000);
	pid = 0;
	close(fd);
}

Test(devsysd, sse_resumes_after_last_event_id)
{
	resp r;
	pid = start_daemon(NULL, NULL, NULL, NULL);
	/* ?timeout=1 ends the stream, so the whole body can be read */
	r = http("GET", "/api/tasks/t1/events?stream=1&timeout=1", TOKEN, "Last-Event-ID: 1", NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.ctype, "text/event-stream"));
	cr_assert(strstr(r.body.ptr, "id: 2\nevent: state\n"), "%s", r.body.ptr);
	cr_assert_null(strstr(r.body.ptr, "id: 1\n"), "an event the client had seen was sent again");
	devsys_buf_dispose(&r.body);
	expect_error("GET", "/api/tasks/t1/events?stream=1&timeout=x", TOKEN, 400, "bad_request");
}

/* ---- bodies: authentication first, one budget for all ---- */

/* A line of /proc/<pid>/status, in KiB. */
static long proc_status_kib(pid_t p, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)p);
	cr_assert_not_null(f = fopen(path, "r"), "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	cr_assert_gt(v, 0, "no %s in %s", key, path);
	return v;
}

enum { FLOOD_CONNS = 300, FLOOD_BODY = 1024 * 1024, FLOOD_MAX = 20 * FLOOD_CONNS };

typedef struct flood {
	atomic_int opened, answered, refused_401, stop;
	atomic_long peak_rss_kib;
	char other[256]; /* the first answer that was not the documented 401 */
	int others;
} flood;

typedef struct flood_conn {
	int fd;
	size_t sent;
	size_t got;
	char head[64];
} flood_conn;

static int connect_nonblock(void)
{
	int fd = connect_port();
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	return fd;
}

static void flood_done(flood *f, flood_conn *k)
{
	k->head[k->got] = '\0';
	if (strncmp(k->head, "HTTP/1.1 401 ", 13) == 0)
		atomic_fetch_add(&f->refused_401, 1);
	else if (f->others++ == 0)
		snprintf(f->other, sizeof(f->other), "%s", k->got ? k->head : "(closed without an answer)");
	atomic_fetch_add(&f->answered, 1);
	close(k->fd);
	k->fd = -1;
}

/* FLOOD_CONNS connections at once, each a POST /api/tasks of 1 MiB
 * without a token; an answered one is replaced by a new one until stop
 * (FLOOD_MAX in all is only a safety cap). */
static void *flood_thread(void *arg)
{
	flood *f = arg;
	static flood_conn k[FLOOD_CONNS];
	static struct pollfd p[FLOOD_CONNS];
	static char chunk[65536];
	char head[256];
	int opened = 0, hl;
	long next_sample = 0, end = now_ms() + 30000;
	hl = snprintf(head, sizeof(head), "POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\n"
	                                  "Content-Length: %d\r\n\r\n", FLOOD_BODY);
	memset(chunk, 'a', sizeof(chunk));
	for (int i = 0; i < FLOOD_CONNS; i++, opened++, atomic_fetch_add(&f->opened, 1)) {
		k[i].fd = connect_nonblock();
		k[i].sent = k[i].got = 0;
	}
	while (now_ms() < end) {
		int live = 0;
		for (int i = 0; i < FLOOD_CONNS; i++) {
			if (k[i].fd < 0 && !atomic_load(&f->stop) && opened < FLOOD_MAX) {
				k[i].fd = connect_nonblock();
				k[i].sent = k[i].got = 0;
				opened++;
				atomic_fetch_add(&f->opened, 1);
			}
			p[i].fd = k[i].fd;
			p[i].events = POLLIN | (k[i].sent < (size_t)(hl + FLOOD_BODY) ? POLLOUT : 0);
			p[i].revents = 0;
			live += k[i].fd >= 0;
		}
		if (!live)
			break;
		if (now_ms() >= next_sample) { /* resident memory, every 5 ms */
			long rss = proc_status_kib(pid, "VmRSS");
			if (rss > atomic_load(&f->peak_rss_kib))
				atomic_store(&f->peak_rss_kib, rss);
			next_sample = now_ms() + 5;
		}
		if (poll(p, FLOOD_CONNS, 100) <= 0)
			continue;
		for (int i = 0; i < FLOOD_CONNS; i++) {
			if (k[i].fd < 0)
				continue;
			if (p[i].revents & POLLOUT) {
				size_t total = (size_t)hl + FLOOD_BODY, left = total - k[i].sent;
				const char *from = k[i].sent < (size_t)hl ? head + k[i].sent : chunk;
				size_t n = k[i].sent < (size_t)hl ? (size_t)hl - k[i].sent : left < sizeof(chunk) ? left : sizeof(chunk);
				ssize_t w = send(k[i].fd, from, n, MSG_NOSIGNAL);
				if (w > 0)
					k[i].sent += (size_t)w;
				else if (w < 0 && errno != EAGAIN)
					k[i].sent = total; /* refused: stop sending, read the answer */
			}
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t n = read(k[i].fd, k[i].head + k[i].got, sizeof(k[i].head) - 1 - k[i].got);
				if (n > 0 && k[i].got + (size_t)n < sizeof(k[i].head) - 1)
					k[i].got += (size_t)n;
				else if (n > 0)
					k[i].got = sizeof(k[i].head) - 1;
				if (n == 0 || (n < 0 && errno != EAGAIN) || k[i].got == sizeof(k[i].head) - 1)
					flood_done(f, &k[i]);
			}
		}
	}
	for (int i = 0; i < FLOOD_CONNS; i++)
		if (k[i].fd >= 0) {
			close(k[i].fd);
			k[i].fd = -1;
		}
	return NULL;
}

Test(devsysd, unauthenticated_body_flood_is_refused_before_it_is_read)
{
	flood f;
	pthread_t th;
	long base, hwm;
	resp r;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < FLOOD_CONNS + 100) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&f, 0, sizeof(f));
	pid = start_daemon("--per-ip-limit", "2000", NULL, NULL);
	r = http("GET", "/api/tasks", TOKEN, NULL, NULL, 0); /* warm: threads and the store are up */
	cr_assert_eq(r.status, 200);
	devsys_buf_dispose(&r.body);
	base = proc_status_kib(pid, "VmRSS");
	cr_assert_eq(pthread_create(&th, NULL, flood_thread, &f), 0);
	/* an authenticated request in the middle of the flood is answered */
	cr_assert(wait_for(&f.answered, FLOOD_CONNS / 2, 20000), "the flood got no answers: %s", f.other);
	r = http("GET", "/api/tasks", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "during the flood: %ld %s", r.status, r.body.ptr);
	devsys_buf_dispose(&r.body);
	cr_assert_lt(atomic_load(&f.answered), FLOOD_MAX, "the flood was over before the authenticated request");
	atomic_store(&f.stop, 1);
	pthread_join(th, NULL);
	hwm = proc_status_kib(pid, "VmHWM");
	cr_assert_geq(atomic_load(&f.opened), FLOOD_CONNS);
	cr_assert_eq(atomic_load(&f.answered), atomic_load(&f.opened), "%d of %d flood requests answered",
	             atomic_load(&f.answered), atomic_load(&f.opened));
	cr_assert_eq(atomic_load(&f.refused_401), atomic_load(&f.opened), "%d answers were not 401; first: %s", f.others,
	             f.other);
	cr_assert_lt(atomic_load(&f.peak_rss_kib) - base, 64 * 1024, "resident memory grew from %ld to %ld KiB", base,
	             atomic_load(&f.peak_rss_kib));
	cr_assert_lt(hwm - base, 64 * 1024, "peak resident memory %ld KiB, %ld KiB before the flood", hwm, base);
	/* positive controls: a body with the token is read, limited and answered */
	r = http("GET", "/api/tasks", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	devsys_buf_dispose(&r.body);
	{
		char *big = malloc(FLOOD_BODY + 1);
		memset(big, 'a', FLOOD_BODY + 1);
		r = http("POST", "/api/tasks", TOKEN, NULL, big, FLOOD_BODY + 1);
		cr_assert_eq(r.status, 413, "an oversized body with the token: %ld", r.status);
		devsys_buf_dispose(&r.body);
		r = http("POST", "/api/tasks", NULL, NULL, big, FLOOD_BODY + 1);
		cr_assert_eq(r.status, 401, "an oversized body without the token: %ld", r.status);
		devsys_buf_dispose(&r.body);
		free(big);
	}
}

/* Headers of an authenticated POST of @p len bytes that waits for
 * "100 Continue": devsysd has then decided on the body. */
static int post_head(int len, char *buf, size_t size)
{
	char head[512];
	int fd = connect_port(), n;
	n = snprintf(head, sizeof(head), "POST /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
	                                 "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", TOKEN, len);
	cr_assert_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
	{
		long end = now_ms() + 5000;
		size_t got = 0;
		buf[0] = '\0';
		while (now_ms() < end && !strstr(buf, "\r\n\r\n") && got < size - 1) {
			struct pollfd p = { fd, POLLIN, 0 };
			ssize_t r;
			if (poll(&p, 1, 100) <= 0)
				continue;
			if ((r = read(fd, buf + got, size - 1 - got)) <= 0)
				break;
			got += (size_t)r;
			buf[got] = '\0';
		}
	}
	return fd;
}

Test(devsysd, bodies_in_flight_share_one_budget)
{
	enum { MIB = 1024 * 1024 };
	char buf[8192];
	char *body = malloc(MIB);
	int a, b, c, d, status;
	memset(body, '#', MIB); /* a YAML comment: a body that parses to no spec */
	/* room for two full bodies (each 1 MiB and a NUL), not three */
	pid = start_daemon("--max-body", "1048576", "--body-budget", "2200000");
	a = post_head(MIB, buf, sizeof(buf));
	cr_assert_eq(strncmp(buf, "HTTP/1.1 100 ", 13), 0, "first body: %.200s", buf);
	b = post_head(MIB, buf, sizeof(buf));
	cr_assert_eq(strncmp(buf, "HTTP/1.1 100 ", 13), 0, "second body: %.200s", buf);
	c = post_head(MIB, buf, sizeof(buf));
	cr_assert_eq(strncmp(buf, "HTTP/1.1 503 ", 13), 0, "a third body over the budget: %.300s", buf);
	cr_assert(strcasestr(buf, "\r\nRetry-After: 1\r\n"), "%.300s", buf);
	close(c);
	/* the two admitted bodies are read and answered */
	cr_assert_eq(send(a, body, MIB, MSG_NOSIGNAL), MIB);
	status = read_response(a, buf, sizeof(buf), 10000);
	cr_assert_eq(status, 422, "an admitted body: %.300s", buf);
	cr_assert(strstr(buf, "invalid_spec"), "%.300s", buf);
	close(a);
	/* its share is given back: a new body fits again (the share is freed
	 * when devsysd ends the request, just after the answer is sent) */
	{
		long end = now_ms() + 5000;
		for (;;) {
			d = post_head(MIB, buf, sizeof(buf));
			if (strncmp(buf, "HTTP/1.1 100 ", 13) == 0 || now_ms() > end)
				break;
			cr_assert_eq(strncmp(buf, "HTTP/1.1 503 ", 13), 0, "%.300s", buf);
			close(d);
		}
		cr_assert_eq(strncmp(buf, "HTTP/1.1 100 ", 13), 0, "after one finished: %.200s", buf);
	}
	cr_assert_eq(send(b, body, MIB, MSG_NOSIGNAL), MIB);
	cr_assert_eq(read_response(b, buf, sizeof(buf), 10000), 422, "%.300s", buf);
	close(b);
	close(d);
	free(body);
}

/* The whole of /proc/<pid>/environ (NUL-separated). */
static char *read_environ(pid_t p, size_t *len)
{
	char path[64];
	devsys_buf b = DEVSYS_BUF_INIT;
	int fd;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)p);
	cr_assert_geq(fd = open(path, O_RDONLY | O_CLOEXEC), 0, "%s: %s", path, strerror(errno));
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		devsys_buf_put(&b, chunk, (size_t)n);
	}
	close(fd);
	*len = b.size;
	return b.ptr;
}

static void assert_token_not_in_environ(const char *token)
{
	size_t len = 0;
	char *env = read_environ(pid, &len);
	static const char marker[] = "DEVSYSD_TEST_MARKER=not-a-secret-42";
	cr_assert_gt(len, 0);
	cr_assert_not_null(memmem(env, len, marker, sizeof(marker) - 1), "the other variable is gone: environ is not read right");
	cr_assert_null(memmem(env, len, token, strlen(token)), "the token is readable in /proc/%d/environ", (int)pid);
	free(env);
}

Test(devsysd, the_token_leaves_the_environment)
{
	resp r;
	setenv("DEVSYSD_TEST_MARKER", "not-a-secret-42", 1);
	pid = start_daemon(NULL, NULL, NULL, NULL);
	unsetenv("DEVSYSD_TEST_MARKER");
	r = http("GET", "/api/tasks", TOKEN, NULL, NULL, 0); /* it was read before it was wiped */
	cr_assert_eq(r.status, 200);
	devsys_buf_dispose(&r.body);
	assert_token_not_in_environ(TOKEN);
}

Test(devsysd, the_token_leaves_the_environment_when_a_file_is_used)
{
	char tf[4096];
	resp r;
	snprintf(tf, sizeof(tf), "%s/token", dir);
	cr_assert(dt_write_file(tf, "file-token-abcdefghijklmnop\n"));
	setenv("DEVSYSD_TEST_MARKER", "not-a-secret-42", 1);
	pid = start_daemon("--token-file", tf, NULL, NULL); /* DEVSYSD_TOKEN is set too, and unused */
	unsetenv("DEVSYSD_TEST_MARKER");
	r = http("GET", "/api/tasks", "file-token-abcdefghijklmnop", NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	devsys_buf_dispose(&r.body);
	assert_token_not_in_environ(TOKEN);
}
