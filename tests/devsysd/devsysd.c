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
	expect_error("GET", "/api/tasks/t1/logs/compile", TOKEN, 400, "bad_request");
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
	cr_assert(got == 0 || strstr(buf, " 431 ") || strstr(buf, " 413 "), "%s", buf);
	cr_assert_null(strstr(buf, " 200 "));
	close(fd);
	free(req);
}

Test(devsysd, per_ip_connection_limit)
{
	int fds[4], extra;
	char buf[256];
	pid = start_daemon("--per-ip-limit", "4", NULL, NULL);
	for (int i = 0; i < 4; i++)
		fds[i] = connect_port();
	extra = connect_port(); /* the kernel accepts; devsysd closes it at once */
	cr_assert_eq(read_to_eof(extra, buf, sizeof(buf), 5000), 0, "the 5th connection from one address was served");
	close(extra);
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
	json_decref(j);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/new-task", TOKEN, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body.ptr, "\"state\": \"validated\""), "%s", r.body.ptr);
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
