/*
 * The internal HTTP client against a real HTTP/1.1 server on 127.0.0.1 and
 * on a unix socket (tests/support/http_upstream.py), one of each per suite.
 * Waits are asserted from the client's own clock and the server's request
 * log, never by sleeping in the test.
 */
#include "testutil.h"
#include "upstream.h"

#include "http/http_int.h"
#include "devsys/sys/errors.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TOKEN "ghp_" "Sup3rSecretT0kenValue42" /* split: no credential-shaped literal */

ReportHook(PRE_ALL)(struct criterion_test_set *s) { (void)s; up_suite_start(); }
ReportHook(POST_ALL)(struct criterion_global_stats *s) { (void)s; up_suite_stop(); }

static void setup(void) { cr_assert_geq(devsys_init(), 1); }
static void teardown(void) { devsys_shutdown(); }

TestSuite(http_client, .init = setup, .fini = teardown, .timeout = 60);

static devsys__http_options opts_for(const char *what)
{
	devsys__http_options o;
	devsys__http_options_default(&o);
	o.what = what;
	o.base_url = up_base();
	o.token = TOKEN;
	o.backoff_ms = 10;
	o.backoff_max_ms = 50;
	o.max_wait_ms = 5000;
	o.timeout_ms = 10000;
	return o;
}

static devsys__http *client(const devsys__http_options *o)
{
	devsys__http *c = NULL;
	int rc = devsys__http_new(&c, o);
	cr_assert_eq(rc, 0, "devsys__http_new: %s", devsys_error_message(devsys_error_last()));
	return c;
}

static size_t log_count(const char *name)
{
	json_t *l = up_log(name);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

static const char *last_msg(void) { return devsys_error_message(devsys_error_last()); }

/* Nothing about the token may reach a message or a detail. */
static void assert_no_token(void)
{
	const char *d = devsys_error_detail(devsys_error_last());
	cr_assert_null(strstr(last_msg(), TOKEN), "token in message: %s", last_msg());
	cr_assert(!d || !strstr(d, TOKEN), "token in detail: %s", d);
}

/* Every failure through here is also checked for the token. */
static int get(devsys__http *c, const char *path, devsys__http_response *r)
{
	devsys__http_request req = { .method = "GET", .path = path };
	int rc = devsys__http_send_json(r, c, &req);
	if (rc < 0) {
		assert_no_token();
		cr_log_info("%s", last_msg()); /* shown with --verbose */
	}
	return rc;
}

Test(http_client, keep_alive_reuses_one_connection)
{
	devsys__http_options o = opts_for("ka");
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("ka", "{\"responses\": [{\"json\": {\"ok\": true}}]}");
	up_script("kaclose", "{\"responses\": [{\"json\": {\"ok\": true}, \"close\": true}]}");
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(get(c, "/ka/x", &r), 0, "%s", last_msg());
		cr_assert(json_is_true(json_object_get(r.json, "ok")));
		devsys__http_response_dispose(&r);
	}
	cr_assert_eq(log_count("ka"), 5);
	cr_assert_eq(up_conns("ka"), 1, "5 requests should share one connection");
	cr_assert_eq(devsys__http_connects(c), 1);
	/* Positive control: a server that closes after each answer forces new connections. */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(get(c, "/kaclose/x", &r), 0, "%s", last_msg());
		devsys__http_response_dispose(&r);
	}
	cr_assert_eq(up_conns("kaclose"), 3);
	cr_assert_geq(devsys__http_connects(c), 3);
	devsys__http_free(c);
}

Test(http_client, server_errors_are_retried_with_a_bound)
{
	devsys__http_options o = opts_for("gh");
	o.max_retries = 2;
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("r500", "{\"responses\": [{\"status\": 500, \"json\": {\"message\": \"boom\"}}]}");
	cr_assert_eq(get(c, "/r500/x", &r), DEVSYS_ENETWORK);
	cr_assert_eq(r.attempts, 3);
	cr_assert_eq(log_count("r500"), 3, "1 attempt + 2 retries, then stop");
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 500);
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "boom");
	cr_assert(strstr(last_msg(), "gave up after 3 attempts"), "%s", last_msg());
	cr_assert(strstr(last_msg(), "GET /r500/x"), "%s", last_msg());
	/* Backoff 10 ms, then 20 ms (plus jitter). */
	cr_assert_geq(r.waited_ns, 30000000ull, "waited only %llu ns", (unsigned long long)r.waited_ns);
	devsys__http_response_dispose(&r);

	up_script("r502", "{\"responses\": [{\"status\": 502}, {\"status\": 504}, {\"json\": [1]}]}");
	cr_assert_eq(get(c, "/r502/x", &r), 0, "%s", last_msg());
	cr_assert_eq(r.attempts, 3);
	cr_assert_eq(json_array_size(r.json), 1);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, retry_after_is_honoured)
{
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("ra", "{\"responses\": [{\"status\": 503, \"headers\": {\"Retry-After\": \"1\"}}, {\"json\": {}}]}");
	cr_assert_eq(get(c, "/ra/x", &r), 0, "%s", last_msg());
	cr_assert_eq(log_count("ra"), 2);
	cr_assert_geq(r.waited_ns, 1000000000ull, "waited %llu ns, the server asked for 1 s",
	              (unsigned long long)r.waited_ns);
	devsys__http_response_dispose(&r);

	/* GitHub's secondary limit: 403 + retry-after + its message. */
	up_script("sec", "{\"responses\": [{\"status\": 403, \"headers\": {\"Retry-After\": \"1\"}, "
	                 "\"json\": {\"message\": \"You have exceeded a secondary rate limit.\"}}, {\"json\": {}}]}");
	cr_assert_eq(get(c, "/sec/x", &r), 0, "%s", last_msg());
	cr_assert_eq(log_count("sec"), 2);
	cr_assert_geq(r.waited_ns, 1000000000ull);
	devsys__http_response_dispose(&r);

	/* retry-after as an HTTP date. */
	char date[64], dscript[256];
	time_t soon = time(NULL) + 1;
	struct tm tm;
	gmtime_r(&soon, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(dscript, sizeof(dscript), "{\"responses\": [{\"status\": 503, \"headers\": {\"Retry-After\": \"%s\"}}, "
	         "{\"json\": {}}]}", date);
	up_script("radate", dscript);
	cr_assert_eq(get(c, "/radate/x", &r), 0, "%s", last_msg());
	cr_assert_eq(log_count("radate"), 2);
	devsys__http_response_dispose(&r);

	/* 429 without retry-after but with a reset 1 s ahead. */
	char script[512];
	snprintf(script, sizeof(script),
	         "{\"responses\": [{\"status\": 429, \"headers\": {\"x-ratelimit-remaining\": \"0\", "
	         "\"x-ratelimit-reset\": \"%lld\"}}, {\"json\": {}}]}", (long long)time(NULL) + 1);
	up_script("r429", script);
	cr_assert_eq(get(c, "/r429/x", &r), 0, "%s", last_msg());
	cr_assert_eq(log_count("r429"), 2);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

static void iso(char *out, size_t n, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

Test(http_client, rate_limit_far_ahead_fails_at_once_naming_the_reset)
{
	devsys__http_options o = opts_for("github");
	devsys__http *c = client(&o);
	devsys__http_response r;
	time_t reset = time(NULL) + 3600;
	char script[512], when[32];
	iso(when, sizeof(when), reset);
	snprintf(script, sizeof(script),
	         "{\"responses\": [{\"status\": 403, \"headers\": {\"x-ratelimit-remaining\": \"0\", "
	         "\"x-ratelimit-reset\": \"%lld\"}, \"json\": {\"message\": \"API rate limit exceeded for 127.0.0.1.\"}}]}",
	         (long long)reset);
	up_script("far", script);
	uint64_t t0 = devsys__now_ns();
	cr_assert_eq(get(c, "/far/x", &r), DEVSYS_ELIMIT);
	cr_assert_lt(devsys__now_ns() - t0, 3000000000ull, "it must not wait for the reset");
	cr_assert_eq(log_count("far"), 1, "not retried");
	cr_assert(strstr(last_msg(), when), "message should name the reset %s: %s", when, last_msg());
	cr_assert(strstr(last_msg(), "retry after"), "%s", last_msg());
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 403);
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "API rate limit exceeded for 127.0.0.1.");
	devsys__http_response_dispose(&r);

	/* A 2xx that used up the limit: the next request is not sent at all
	 * (a new client: this one remembers the 403's reset). */
	devsys__http_free(c);
	c = client(&o);
	snprintf(script, sizeof(script),
	         "{\"responses\": [{\"json\": [], \"headers\": {\"x-ratelimit-remaining\": \"0\", "
	         "\"x-ratelimit-reset\": \"%lld\"}}]}", (long long)reset);
	up_script("used", script);
	cr_assert_eq(get(c, "/used/1", &r), 0, "%s", last_msg());
	devsys__http_response_dispose(&r);
	cr_assert_eq(get(c, "/used/2", &r), DEVSYS_ELIMIT);
	cr_assert_eq(log_count("used"), 1);
	cr_assert(strstr(last_msg(), when), "%s", last_msg());
	devsys__http_response_dispose(&r);
	devsys__http_free(c);

	/* After a far-ahead limit, the client does not ask again before the reset. */
	c = client(&o);
	snprintf(script, sizeof(script),
	         "{\"responses\": [{\"status\": 429, \"headers\": {\"x-ratelimit-remaining\": \"0\", "
	         "\"x-ratelimit-reset\": \"%lld\"}}]}", (long long)reset);
	up_script("far2", script);
	cr_assert_eq(get(c, "/far2/a", &r), DEVSYS_ELIMIT);
	devsys__http_response_dispose(&r);
	cr_assert_eq(get(c, "/far2/b", &r), DEVSYS_ELIMIT);
	cr_assert(strstr(last_msg(), "not sent"), "%s", last_msg());
	cr_assert_eq(log_count("far2"), 1);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, client_errors_surface_status_and_message)
{
	static const struct { int status, code; const char *msg; } cases[] = {
		{ 401, DEVSYS_EAUTH, "Bad credentials" },
		{ 404, DEVSYS_ENOTFOUND, "Not Found" },
		{ 422, DEVSYS_EINVALID, "Validation Failed; A pull request already exists for o:task/x." },
		{ 409, DEVSYS_ECONFLICT, "pull request already exists" },
	};
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[16], path[32], script[512];
		devsys__http_response r;
		snprintf(name, sizeof(name), "s%d", cases[i].status);
		snprintf(path, sizeof(path), "/%s/repos/o/r", name);
		if (cases[i].status == 422)
			snprintf(script, sizeof(script), "{\"responses\": [{\"status\": 422, \"json\": {\"message\": "
			         "\"Validation Failed\", \"errors\": [{\"resource\": \"PullRequest\", \"code\": \"custom\", "
			         "\"message\": \"A pull request already exists for o:task/x.\"}]}}]}");
		else
			snprintf(script, sizeof(script), "{\"responses\": [{\"status\": %d, \"json\": {\"message\": \"%s\"}}]}",
			         cases[i].status, cases[i].msg);
		up_script(name, script);
		cr_assert_eq(get(c, path, &r), cases[i].code, "HTTP %d: %s", cases[i].status, last_msg());
		cr_assert_eq(r.status, cases[i].status);
		cr_assert_eq(log_count(name), 1, "HTTP %d must not be retried", cases[i].status);
		cr_assert_eq(devsys_error_http_status(devsys_error_last()), cases[i].status);
		cr_assert_str_eq(devsys_error_detail(devsys_error_last()), cases[i].msg);
		char want[16];
		snprintf(want, sizeof(want), "HTTP %d", cases[i].status);
		cr_assert(strstr(last_msg(), want), "%s", last_msg());
		cr_assert(strstr(last_msg(), path), "%s", last_msg());
		/* The caller still reads the error body (the forge tells 422s apart by it). */
		cr_assert(json_is_object(r.json));
		devsys__http_response_dispose(&r);
	}
	devsys__http_free(c);
}

Test(http_client, malformed_json_is_a_clear_error)
{
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("badjson", "{\"responses\": [{\"body\": \"{\\\"a\\\": [1, 2\", "
	                     "\"headers\": {\"Content-Type\": \"application/json\"}}]}");
	cr_assert_eq(get(c, "/badjson/x", &r), DEVSYS_EPARSE);
	cr_assert(strstr(last_msg(), "not valid JSON"), "%s", last_msg());
	cr_assert(strstr(last_msg(), "GET /badjson/x"), "%s", last_msg());
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 200);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, truncated_response_is_a_clear_error)
{
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("trunc", "{\"responses\": [{\"json\": {\"items\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}, \"truncate\": 10}]}");
	cr_assert_eq(get(c, "/trunc/x", &r), DEVSYS_EIO);
	cr_assert(strstr(last_msg(), "truncated"), "%s", last_msg());
	cr_assert(strstr(last_msg(), "received 10 of the"), "%s", last_msg());
	cr_assert_eq(log_count("trunc"), 1);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, slow_server_times_out)
{
	devsys__http_options o = opts_for("gh");
	o.timeout_ms = 300;
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("slow", "{\"responses\": [{\"delay_ms\": 3000, \"json\": {}}]}");
	uint64_t t0 = devsys__now_ns();
	cr_assert_eq(get(c, "/slow/x", &r), DEVSYS_ETIMEOUT, "%s", last_msg());
	uint64_t took = devsys__now_ns() - t0;
	cr_assert_lt(took, 2500000000ull, "the 300 ms timeout took %llu ns", (unsigned long long)took);
	cr_assert(strstr(last_msg(), "300 ms"), "%s", last_msg());
	cr_assert_eq(log_count("slow"), 1, "a timeout is not retried");
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, link_pagination_across_three_pages)
{
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	json_t *all = NULL;
	unsigned int pages = 0;
	const char *script =
		"{\"responses\": ["
		"{\"json\": [1, 2], \"headers\": {\"Link\": \"<{base}/pg/x?page=2>; rel=\\\"next\\\", <{base}/pg/x?page=3>; rel=\\\"last\\\"\"}},"
		"{\"json\": [3, 4], \"headers\": {\"Link\": \"<{base}/pg/x?page=1>; rel=\\\"prev\\\", <{base}/pg/x?page=3>; rel=\\\"next\\\"\"}},"
		"{\"json\": [5], \"headers\": {\"Link\": \"<{base}/pg/x?page=2>; rel=\\\"prev\\\"\"}}]}";
	up_script("pg", script);
	cr_assert_eq(devsys__http_get_all(&all, &pages, c, "/pg/x?per_page=2"), 0, "%s", last_msg());
	cr_assert_eq(pages, 3);
	cr_assert_eq(json_array_size(all), 5);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(json_integer_value(json_array_get(all, i)), (json_int_t)i + 1);
	json_decref(all);
	json_t *log = up_log("pg");
	cr_assert_eq(json_array_size(log), 3);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 2), "path")), "/pg/x?page=3");
	json_decref(log);

	/* The page cap. */
	up_script("pgcap", "{\"responses\": [{\"json\": [1], \"headers\": {\"Link\": \"<{base}/pgcap/n>; rel=\\\"next\\\"\"}}]}");
	o.max_pages = 4;
	devsys__http *capped = client(&o);
	cr_assert_eq(devsys__http_get_all(&all, &pages, capped, "/pgcap/n"), DEVSYS_ELIMIT);
	cr_assert(strstr(last_msg(), "more than 4 pages"), "%s", last_msg());
	cr_assert_eq(log_count("pgcap"), 4);
	devsys__http_free(capped);

	/* A next link to another origin is refused: the token only goes to the base URL. */
	up_script("pgx", "{\"responses\": [{\"json\": [1], \"headers\": {\"Link\": \"<http://127.0.0.2:9/steal>; rel=\\\"next\\\"\"}}]}");
	cr_assert_eq(devsys__http_get_all(&all, &pages, c, "/pgx/n"), DEVSYS_EINVAL);
	cr_assert(strstr(last_msg(), "127.0.0.2"), "%s", last_msg());
	devsys__http_free(c);
}

static void collect(const char *text, size_t len, void *payload)
{
	devsys_buf_put(payload, text, len);
}

Test(http_client, token_is_sent_only_as_a_header_and_never_shown)
{
	devsys_buf trace = DEVSYS_BUF_INIT;
	devsys__http_options o = opts_for("gh");
	o.verbose = true;
	o.trace_cb = collect;
	o.trace_payload = &trace;
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("tok", "{\"responses\": [{\"json\": {}}]}");
	up_script("tokbad", "{\"responses\": [{\"status\": 401, \"json\": {\"message\": \"Bad credentials: " TOKEN
	                    " is not valid\"}}]}");
	cr_assert_eq(get(c, "/tok/x", &r), 0, "%s", last_msg());
	devsys__http_response_dispose(&r);
	json_t *log = up_log("tok");
	json_t *hdrs = json_object_get(json_array_get(log, 0), "headers");
	/* Positive control: the server did receive the token, in the header. */
	cr_assert_str_eq(json_string_value(json_object_get(hdrs, "authorization")), "Bearer " TOKEN);
	cr_assert_null(strstr(json_string_value(json_object_get(json_array_get(log, 0), "path")), TOKEN));
	json_decref(log);
	cr_assert_eq(get(c, "/tokbad/x", &r), DEVSYS_EAUTH);
	cr_assert(strstr(last_msg(), "Bad credentials: *** is not valid"), "%s", last_msg());
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "Bad credentials: *** is not valid");
	assert_no_token();
	devsys__http_response_dispose(&r);
	cr_assert_gt(trace.size, 0, "verbose produced no trace");
	cr_assert(strstr(trace.ptr, "GET /tok/x"), "trace lacks the request line: %s", trace.ptr);
	cr_assert(strstr(trace.ptr, "Authorization: ***"), "%s", trace.ptr);
	cr_assert_null(strstr(trace.ptr, TOKEN), "token in the verbose trace");
	devsys_buf_dispose(&trace);
	devsys__http_free(c);
}

Test(http_client, json_request_body)
{
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	devsys__http_response r;
	json_t *body = json_pack("{s:s, s:b}", "title", "T", "draft", 1);
	devsys__http_request req = { .method = "POST", .path = "/post/repos/o/r/pulls", .json = body };
	up_script("post", "{\"responses\": [{\"status\": 201, \"json\": {\"number\": 7}}]}");
	cr_assert_eq(devsys__http_send_json(&r, c, &req), 0, "%s", last_msg());
	cr_assert_eq(r.status, 201);
	cr_assert_eq(json_integer_value(json_object_get(r.json, "number")), 7);
	json_t *log = up_log("post"), *e = json_array_get(log, 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "POST");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "headers"), "content-type")),
	                 "application/json");
	json_t *got = json_loads(json_string_value(json_object_get(e, "body")), 0, NULL);
	cr_assert(json_equal(got, body));
	json_decref(got);
	json_decref(log);
	json_decref(body);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, response_size_cap)
{
	devsys__http_options o = opts_for("gh");
	o.max_response = 100;
	devsys__http *c = client(&o);
	devsys__http_response r;
	char script[2048], big[1200];
	memset(big, 'x', 1000);
	big[1000] = '\0';
	snprintf(script, sizeof(script), "{\"responses\": [{\"json\": \"%s\"}]}", big);
	up_script("big", script);
	cr_assert_eq(get(c, "/big/x", &r), DEVSYS_ELIMIT);
	cr_assert(strstr(last_msg(), "100-byte limit"), "%s", last_msg());
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, problem_json_fails_without_retry)
{
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("prob", "{\"responses\": [{\"status\": 500, \"headers\": {\"Content-Type\": \"application/problem+json\"}, "
	                  "\"body\": \"{\\\"type\\\": \\\"https://stoplight.io/prism/errors#VIOLATIONS\\\", \\\"title\\\": "
	                  "\\\"Request/Response not valid\\\", \\\"status\\\": 500, \\\"detail\\\": \\\"Your request/response "
	                  "is not valid\\\"}\"}]}");
	cr_assert_eq(get(c, "/prob/x", &r), DEVSYS_EINVALID);
	cr_assert_eq(log_count("prob"), 1, "a problem+json answer must not be retried");
	cr_assert(strstr(last_msg(), "problem+json"), "%s", last_msg());
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "Request/Response not valid: Your request/response is not valid");
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 500);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, connection_failures_are_retried_with_a_bound)
{
	devsys__http_options o = opts_for("gh");
	char base[64];
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", dt_free_port());
	o.base_url = base;
	o.max_retries = 2;
	devsys__http *c = client(&o);
	devsys__http_response r;
	cr_assert_eq(get(c, "/x", &r), DEVSYS_ENETWORK);
	cr_assert_eq(r.attempts, 3);
	cr_assert(strstr(last_msg(), "cannot connect to http://127.0.0.1:"), "%s", last_msg());
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 0);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);

	/* A dropped connection: retried for GET, never for POST. */
	o = opts_for("gh");
	c = client(&o);
	up_script("drop", "{\"responses\": [{\"drop\": true}, {\"json\": {}}]}");
	cr_assert_eq(get(c, "/drop/x", &r), 0, "%s", last_msg());
	cr_assert_eq(log_count("drop"), 2);
	devsys__http_response_dispose(&r);
	/* A fresh client: libcurl itself resends once on a REUSED connection that
	 * died before answering; on a new connection nothing resends. */
	devsys__http_free(c);
	c = client(&o);
	up_script("droppost", "{\"responses\": [{\"drop\": true}, {\"json\": {}}]}");
	devsys__http_request post = { .method = "POST", .path = "/droppost/x", .body = "{}", .body_len = 2,
	                              .content_type = "application/json" };
	cr_assert_eq(devsys__http_send(&r, c, &post), DEVSYS_ENETWORK);
	cr_assert_eq(log_count("droppost"), 1);
	cr_assert(strstr(last_msg(), "not idempotent"), "%s", last_msg());
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, unix_socket_transport)
{
	devsys__http_options o = opts_for("docker");
	o.base_url = "http://localhost/v1.43";
	o.unix_socket = up_sock();
	o.token = NULL;
	devsys__http *c = client(&o);
	devsys__http_response r;
	up_script("v1.43", "{\"responses\": [{\"json\": {\"ApiVersion\": \"1.43\"}}]}");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(get(c, "/version", &r), 0, "%s", last_msg());
		cr_assert_str_eq(json_string_value(json_object_get(r.json, "ApiVersion")), "1.43");
		devsys__http_response_dispose(&r);
	}
	cr_assert_eq(up_conns("v1.43"), 1);
	json_t *log = up_log("v1.43");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "path")), "/v1.43/version");
	json_decref(log);
	devsys__http_free(c);

	/* A missing socket names the path. */
	o.unix_socket = "/tmp/dt-no-such-dir/docker.sock";
	o.max_retries = 0;
	c = client(&o);
	cr_assert_eq(get(c, "/version", &r), DEVSYS_ENETWORK);
	cr_assert(strstr(last_msg(), "unix socket '/tmp/dt-no-such-dir/docker.sock'"), "%s", last_msg());
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
}

Test(http_client, unix_socket_path_over_sun_path_is_refused_clearly)
{
	char path[300];
	devsys__http *c = NULL;
	devsys__http_options o = opts_for("docker");
	snprintf(path, sizeof(path), "/tmp/%0120d/docker.sock", 0);
	o.base_url = "http://localhost";
	o.unix_socket = path;
	cr_assert_eq(devsys__http_new(&c, &o), DEVSYS_EINVAL);
	cr_assert_null(c);
	cr_assert(strstr(last_msg(), path), "message must name the path: %s", last_msg());
	cr_assert(strstr(last_msg(), "108"), "message must name the limit: %s", last_msg());
	cr_assert_null(strstr(last_msg(), "File name too long"), "%s", last_msg());
	/* Positive control: 107 bytes fit. */
	memset(path, 'a', 107);
	path[0] = '/';
	path[107] = '\0';
	cr_assert_eq(devsys__http_new(&c, &o), 0, "%s", last_msg());
	devsys__http_free(c);
}

Test(http_client, https_with_explicit_ca_and_client_certificate)
{
	devsys__http_options o = opts_for("gh");
	char *ca = up_tls_file("ca.pem"), *cert = up_tls_file("client.pem"), *key = up_tls_file("client.key");
	devsys__http_response r;
	o.base_url = up_tls_base();
	o.ca_file = ca;
	o.client_cert = cert;
	o.client_key = key;
	o.max_retries = 0;
	devsys__http *c = client(&o);
	up_script("tls", "{\"responses\": [{\"json\": {\"tls\": true}}]}");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(get(c, "/tls/x", &r), 0, "%s", last_msg());
		cr_assert(json_is_true(json_object_get(r.json, "tls")));
		devsys__http_response_dispose(&r);
	}
	cr_assert_eq(up_conns("tls"), 1, "TLS connections are reused too");
	devsys__http_free(c);

	/* Without the client certificate the server refuses the handshake. */
	o.client_cert = o.client_key = NULL;
	c = client(&o);
	cr_assert_eq(get(c, "/tls/x", &r), DEVSYS_ENETWORK, "%s", last_msg());
	cr_assert_eq(log_count("tls"), 3);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);

	/* Trust is what the options say, never the environment: with the test CA
	 * only in SSL_CERT_FILE/CURL_CA_BUNDLE, the server is not trusted. */
	setenv("SSL_CERT_FILE", ca, 1);
	setenv("CURL_CA_BUNDLE", ca, 1);
	o.ca_file = NULL;
	o.client_cert = cert;
	o.client_key = key;
	c = client(&o);
	cr_assert_eq(get(c, "/tls/x", &r), DEVSYS_ENETWORK, "%s", last_msg());
	cr_assert(strstr(last_msg(), "certificate"), "%s", last_msg());
	cr_assert_eq(log_count("tls"), 3);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
	free(ca);
	free(cert);
	free(key);
}

struct gen {
	size_t left, sent;
	bool fail_midway;
};

/* 100 000 bytes of a repeating pattern, in whatever pieces curl asks for. */
static long gen_read(char *buf, size_t cap, void *payload)
{
	struct gen *g = payload;
	size_t n = g->left < cap ? g->left : cap;
	if (g->fail_midway && g->sent > 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (g->sent + i) % 26);
	g->left -= n;
	g->sent += n;
	return (long)n;
}

static int sink(const char *data, size_t len, void *payload)
{
	return devsys_buf_put(payload, data, len) < 0 ? -1 : 0;
}

static void assert_pattern(const char *body, size_t len)
{
	size_t bad = len;
	cr_assert_eq(len, 100000);
	/* One assertion, not 100 000 (each is reported under --full-stats). */
	for (size_t i = 0; i < len && bad == len; i++)
		if (body[i] != (char)('a' + i % 26))
			bad = i;
	cr_assert_eq(bad, len, "byte %zu differs", bad);
}

Test(http_client, streamed_request_and_response_bodies)
{
	devsys__http_options o = opts_for("docker");
	devsys__http *c = client(&o);
	devsys__http_response r;
	struct gen g = { 100000, 0, false };
	devsys__http_request put = { .method = "PUT", .path = "/up/containers/x/archive?path=/w",
	                             .read_cb = gen_read, .payload = &g, .content_type = "application/x-tar" };
	up_script("up", "{\"responses\": [{\"status\": 200}]}");
	cr_assert_eq(devsys__http_send(&r, c, &put), 0, "%s", last_msg());
	devsys__http_response_dispose(&r);
	json_t *log = up_log("up"), *e = json_array_get(log, 0);
	const char *got = json_string_value(json_object_get(e, "body"));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "headers"), "transfer-encoding")), "chunked");
	assert_pattern(got, strlen(got));
	json_decref(log);

	/* Known size: Content-Length instead of chunks. */
	g = (struct gen){ 100000, 0, false };
	put.upload_size = 100000;
	put.path = "/up2/x";
	up_script("up2", "{\"responses\": [{\"status\": 200}]}");
	cr_assert_eq(devsys__http_send(&r, c, &put), 0, "%s", last_msg());
	devsys__http_response_dispose(&r);
	log = up_log("up2");
	e = json_array_get(log, 0);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "headers"), "content-length")), "100000");
	json_decref(log);

	/* A streamed body is not resent after a 500. */
	g = (struct gen){ 100000, 0, false };
	put.path = "/up500/x";
	up_script("up500", "{\"responses\": [{\"status\": 500, \"json\": {\"message\": \"disk full\"}}]}");
	cr_assert_eq(devsys__http_send(&r, c, &put), DEVSYS_ENETWORK);
	cr_assert_eq(log_count("up500"), 1);
	cr_assert(strstr(last_msg(), "cannot be sent again"), "%s", last_msg());
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "disk full");
	devsys__http_response_dispose(&r);

	/* The body callback aborts. */
	g = (struct gen){ 100000, 0, true };
	put.path = "/upabort/x";
	put.upload_size = 0;
	up_script("upabort", "{\"responses\": [{\"status\": 200}]}");
	cr_assert_eq(devsys__http_send(&r, c, &put), DEVSYS_EUSER);
	cr_assert(strstr(last_msg(), "request body callback"), "%s", last_msg());
	devsys__http_response_dispose(&r);
	devsys__http_free(c);

	/* A streamed response: 2xx bodies go to the callback, unbuffered and uncapped. */
	o.max_response = 1000;
	c = client(&o);
	char big[100001];
	for (size_t i = 0; i < 100000; i++)
		big[i] = (char)('a' + i % 26);
	big[100000] = '\0';
	char *script = NULL;
	cr_assert_geq(asprintf(&script, "{\"responses\": [{\"body\": \"%s\"}]}", big), 0);
	up_script("down", script);
	free(script);
	devsys_buf got_body = DEVSYS_BUF_INIT;
	devsys__http_request get_req = { .path = "/down/containers/x/archive", .write_cb = sink, .payload = &got_body };
	cr_assert_eq(devsys__http_send(&r, c, &get_req), 0, "%s", last_msg());
	cr_assert_eq(r.body.size, 0, "a streamed body is not buffered");
	assert_pattern(got_body.ptr, got_body.size);
	devsys__http_response_dispose(&r);
	/* An error answer is buffered for its message, not streamed. */
	devsys_buf_clear(&got_body);
	up_script("down404", "{\"responses\": [{\"status\": 404, \"json\": {\"message\": \"No such container: x\"}}]}");
	get_req.path = "/down404/containers/x/archive";
	cr_assert_eq(devsys__http_send(&r, c, &get_req), DEVSYS_ENOTFOUND);
	cr_assert_eq(got_body.size, 0);
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "No such container: x");
	devsys__http_response_dispose(&r);
	devsys_buf_dispose(&got_body);
	devsys__http_free(c);
}

Test(http_client, methods_and_bodies_on_the_wire)
{
	devsys__http_options o = opts_for("gh");
	devsys__http *c = client(&o);
	devsys__http_response r;
	json_t *patch = json_pack("{s:s}", "title", "new");
	devsys__http_request reqs[] = {
		{ .method = "PATCH", .path = "/m/pulls/1", .json = patch },
		{ .method = "PUT", .path = "/m/pulls/1/merge" },
		{ .method = "DELETE", .path = "/m/containers/x" },
		{ .method = "HEAD", .path = "/m/_ping" },
	};
	up_script("m", "{\"responses\": [{\"status\": 200, \"json\": {}}, {\"status\": 200, \"json\": {}}, "
	               "{\"status\": 204}, {\"status\": 200, \"headers\": {\"Api-Version\": \"1.43\"}}]}");
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(devsys__http_send_json(&r, c, &reqs[i]), 0, "%s: %s", reqs[i].method, last_msg());
		if (i == 2)
			cr_assert_null(r.json, "a 204 has no JSON");
		if (i == 3) {
			char v[16];
			cr_assert(devsys__http_response_header(&r, "api-version", v, sizeof(v)));
			cr_assert_str_eq(v, "1.43");
		}
		devsys__http_response_dispose(&r);
	}
	json_t *log = up_log("m");
	cr_assert_eq(json_array_size(log), 4);
	static const char *const methods[] = { "PATCH", "PUT", "DELETE", "HEAD" };
	for (size_t i = 0; i < 4; i++)
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, i), "method")), methods[i]);
	json_t *h1 = json_object_get(json_array_get(log, 1), "headers");
	/* GitHub's bodiless PUT (merge) needs Content-Length: 0. */
	cr_assert_str_eq(json_string_value(json_object_get(h1, "content-length")), "0");
	cr_assert_null(json_object_get(h1, "expect"));
	cr_assert_null(json_object_get(h1, "content-type"), "no form type on a bodiless PUT");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(log, 0), "headers"), "accept")),
	                 "application/json");
	cr_assert_eq(up_conns("m"), 1);
	json_decref(log);
	json_decref(patch);
	devsys__http_free(c);
}

struct worker {
	int id, ok;
	char base[128];
};

/* One client per thread: each thread's requests and last error are its own. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	devsys__http_options o;
	devsys__http *c = NULL;
	char path[64], want[64];
	devsys__http_options_default(&o);
	o.base_url = w->base;
	if (devsys__http_new(&c, &o) < 0)
		return NULL;
	for (int i = 0; i < 20; i++) {
		devsys__http_request req = { .path = path };
		devsys__http_response r;
		snprintf(path, sizeof(path), "/thr/%d/%d", w->id, i);
		snprintf(want, sizeof(want), "/thr/%d/%d", w->id, i);
		int rc = devsys__http_send_json(&r, c, &req);
		/* Odd threads get 404s: the error and its status must be this thread's own. */
		if (w->id % 2 ? (rc == DEVSYS_ENOTFOUND && devsys_error_http_status(devsys_error_last()) == 404 &&
		                 strstr(devsys_error_message(devsys_error_last()), want))
		              : rc == 0)
			w->ok++;
		devsys__http_response_dispose(&r);
	}
	devsys__http_free(c);
	return NULL;
}

Test(http_client, one_client_per_thread)
{
	pthread_t t[4];
	struct worker w[4];
	/* Even threads talk to /thr (200), odd ones to /nf (404). */
	up_script("thr", "{\"responses\": [{\"json\": {}}]}");
	for (int i = 0; i < 4; i++) {
		w[i].id = i;
		w[i].ok = 0;
		snprintf(w[i].base, sizeof(w[i].base), "%s%s", up_base(), i % 2 ? "/nf" : "");
	}
	up_script("nf", "{\"responses\": [{\"status\": 404, \"json\": {\"message\": \"Not Found\"}}]}");
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker_run, &w[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(w[i].ok, 20, "thread %d: %d of 20 as expected", i, w[i].ok);
	cr_assert_eq(log_count("thr") + log_count("nf"), 80);
}
