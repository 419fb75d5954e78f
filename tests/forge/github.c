/*
 * The github forge provider's contract tests. Stateful cases run against
 * tests/support/forge_upstream.py behind `prism proxy --errors`, so both
 * the requests and the upstream's answers are checked against GitHub's
 * published OpenAPI description; stateless cases against `prism mock
 * --errors`; bad input (faults, a bad token, timeouts) against the upstream
 * directly. Every test fails when Prism logged a request-side violation.
 * Request counts come from the upstream's log, never from the client.
 */
#include "forge/forge_int.h"
#include "forge/github/github_int.h"
#include "forge_fixture.h"
#include "http/http_int.h"
#include "testutil.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

#define TOKEN "ghp_" "devsysTestToken0123456789abcdefXYZ" /* split: no credential-shaped literal */
#define OWNER "octo"

ReportHook(PRE_ALL)(struct criterion_test_set *s)
{
	(void)s;
	dt_forge_suite_start("github", TOKEN, DT_FORGE_PRISM);
}
ReportHook(POST_ALL)(struct criterion_global_stats *s)
{
	(void)s;
	dt_forge_suite_stop();
}

static long proxy_log_at, mock_log_at;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	proxy_log_at = dt_forge_prism_log_size("proxy");
	mock_log_at = dt_forge_prism_log_size("mock");
}

/* No request of this test was rejected by Prism's schema validation. */
static void no_request_violations(void)
{
	const char *which[] = { "proxy", "mock" };
	long at[] = { proxy_log_at, mock_log_at };
	for (int i = 0; i < 2; i++) {
		char first[512];
		char *t = dt_forge_prism_log_since(which[i], at[i]);
		int n = dt_forge_request_violations(t, first, sizeof(first));
		free(t);
		cr_expect_eq(n, 0, "prism %s logged %d request violation(s), first: %s", which[i], n, first);
	}
}

static void teardown(void)
{
	no_request_violations();
	devsys_shutdown();
}
TestSuite(github, .init = setup, .fini = teardown, .timeout = 120);

struct gh_fx {
	const devsys_forge_vtable *vt;
	void *self;
	char repo[64];
	const char *base;
};

/* A provider instance on @p base for OWNER/@p repo. */
static void fx_open_ext(struct gh_fx *f, const char *base, const char *repo, const char *token, long timeout_ms,
                        unsigned retries, const struct devsys__gh_ext *ext)
{
	devsys_forge_open_options o;
	memset(&o, 0, sizeof(o));
	memset(f, 0, sizeof(*f));
	o.version = DEVSYS_FORGE_OPEN_OPTIONS_VERSION;
	o.base_url = base;
	o.owner = OWNER;
	o.repo = repo;
	o.token = token;
	o.timeout_ms = timeout_ms;
	o.max_retries = retries;
	if (ext) {
		o.ext_type = DEVSYS__GH_EXT_TYPE;
		o.ext = ext;
	}
	snprintf(f->repo, sizeof(f->repo), "%s", repo);
	f->base = base;
	cr_assert_eq(devsys_forge_find(&f->vt, "github"), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(f->vt->open(&f->self, &o, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void fx_open(struct gh_fx *f, const char *base, const char *repo)
{
	static const struct devsys__gh_ext fast = { 1, NULL, 20 };
	fx_open_ext(f, base, repo, TOKEN, 0, 0, &fast);
}

static void fx_close(struct gh_fx *f)
{
	if (f->self)
		f->vt->close(f->self);
	f->self = NULL;
}

/* The upstream's log entries for OWNER/repo, a new array. */
static json_t *log_for(const char *repo)
{
	char *text = dt_forge_log_text(), *save = NULL, prefix[128];
	json_t *out = json_array();
	snprintf(prefix, sizeof(prefix), "/repos/%s/%s/", OWNER, repo);
	size_t plen = strlen(prefix);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);
		const char *p = json_string_value(json_object_get(e, "path"));
		if (p && (strncmp(p, prefix, plen) == 0 || strstr(p, prefix)))
			json_array_append(out, e);
		json_decref(e);
	}
	free(text);
	return out;
}

static size_t log_count(const char *repo)
{
	json_t *l = log_for(repo);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

static const char *entry_str(const json_t *log, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(log, i), key));
}

static void ctl(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctl(const char *what, const char *fmt, ...)
{
	char body[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	cr_assert_eq(dt_forge_ctl(what, body), 200, "control %s %s", what, body);
}

static devsys_forge_pr_request pr_req(const char *head)
{
	devsys_forge_pr_request r;
	memset(&r, 0, sizeof(r));
	r.version = DEVSYS_FORGE_PR_REQUEST_VERSION;
	r.title = "task 42: add the widget";
	r.body = "Task: 42\n";
	r.head = head;
	r.base = "main";
	return r;
}

static devsys_forge_pr_info pr_info(void)
{
	devsys_forge_pr_info i;
	memset(&i, 0, sizeof(i));
	i.version = DEVSYS_FORGE_PR_INFO_VERSION;
	return i;
}

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

/* ---- stateful, through prism proxy ---- */

Test(github, create_update_reuse_within_budget)
{
	struct gh_fx f;
	const char *labels[] = { "devsys", "task" };
	const char *reviewers[] = { "alice" };
	const char *teams[] = { OWNER "/core", "docs" };
	fx_open(&f, dt_forge_url("proxy"), "reuse");
	devsys_forge_pr_request r = pr_req("task/42");
	devsys_forge_pr_info i = pr_info();
	r.draft = 1;
	r.labels = labels;
	r.nlabels = 2;
	r.reviewers = reviewers;
	r.nreviewers = 1;
	r.team_reviewers = teams;
	r.nteam_reviewers = 2;

	/* Create: POST /pulls, labels, reviewers. */
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	cr_expect_eq(i.number, 1);
	cr_expect_eq(i.reused, 0);
	cr_expect_eq(i.draft, 1);
	cr_expect_str_eq(i.head, "task/42");
	cr_expect_eq(strlen(i.head_sha), 40);
	json_t *log = log_for("reuse");
	size_t created = json_array_size(log);
	cr_expect(created <= 4, "create took %zu requests, the budget is 4", created);
	cr_expect_str_eq(entry_str(log, 0, "method"), "POST");
	json_t *body = json_object_get(json_array_get(log, 0), "body");
	cr_expect_str_eq(json_string_value(json_object_get(body, "head")), "task/42");
	cr_expect_str_eq(json_string_value(json_object_get(body, "base")), "main");
	cr_expect(json_is_true(json_object_get(body, "draft")));
	json_t *rr = json_object_get(json_array_get(log, created - 1), "body");
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(rr, "team_reviewers"), 0)), "core",
	                 "an org/team of the owner becomes the slug");
	for (size_t k = 0; k < created; k++)
		cr_expect_str_eq(entry_str(log, k, "auth"), "ok");
	json_decref(log);

	/* A later update of the PR the task record names: GET + PATCH. */
	r.title = "task 42: add the widget (v2)";
	r.number = 1;
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	cr_expect_eq(i.number, 1);
	cr_expect_eq(i.reused, 1);
	cr_expect_str_eq(i.title, "task 42: add the widget (v2)");
	size_t updated = log_count("reuse") - created;
	cr_expect(updated <= 2, "an update took %zu requests, the budget is 2", updated);

	/* The record lost the number: POST -> 422 already exists -> list -> PATCH. */
	r.title = "task 42: add the widget (v3)";
	r.number = 0;
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	cr_expect_eq(i.number, 1, "no duplicate");
	cr_expect_eq(i.reused, 1);
	cr_expect_str_eq(i.title, "task 42: add the widget (v3)");
	log = log_for("reuse");
	size_t reuse = json_array_size(log) - created - updated;
	cr_expect(reuse <= 3, "reuse took %zu requests, the budget is 3", reuse);
	size_t at = created + updated;
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(log, at), "status")), 422);
	cr_expect_str_eq(entry_str(log, at + 1, "method"), "GET");
	/* Prism's proxy re-encodes the ':' on its way to the upstream; the client sends it plain. */
	char query[256];
	const char *q = entry_str(log, at + 1, "query");
	size_t qn = 0;
	for (; q && *q && qn + 1 < sizeof(query); q++)
		if (strncmp(q, "%3A", 3) == 0) {
			query[qn++] = ':';
			q += 2;
		} else {
			query[qn++] = *q;
		}
	query[qn] = '\0';
	cr_expect_str_eq(query, "head=" OWNER ":task%2F42&state=all&per_page=100");
	json_decref(log);

	/* Positive control: the state has exactly one PR. */
	devsys_forge_pr_info g = pr_info();
	cr_expect_eq(f.vt->pr_get(f.self, &g, 2), DEVSYS_ENOTFOUND);
	fx_close(&f);
}

Test(github, statuses_then_merge_at_the_approved_head)
{
	struct gh_fx f;
	static const char *const ctxs[] = { "devsys/tests", "devsys/deploy", "devsys/verify" };
	fx_open(&f, dt_forge_url("proxy"), "merge");
	devsys_forge_pr_request r = pr_req("task/7");
	devsys_forge_pr_info i = pr_info();
	char head[41];
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	snprintf(head, sizeof(head), "%s", i.head_sha);
	int64_t n = i.number;

	for (int k = 0; k < 3; k++) {
		devsys_forge_status st = { DEVSYS_FORGE_STATUS_VERSION, ctxs[k], k == 2 ? DEVSYS_CHECK_PENDING
		                                                                       : DEVSYS_CHECK_SUCCESS,
			                   "a description well over one hundred and forty characters long, which "
			                   "GitHub refuses, so the provider cuts it at a character boundary, which is here: end",
			                   "https://ci.example/report/42" };
		cr_assert_eq(f.vt->status_set(f.self, head, &st), 0, "%s", errmsg());
	}
	devsys_forge_sink s;
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_assert_eq(f.vt->statuses(f.self, &s, head), 0, "%s", errmsg());
	cr_assert_eq(s.n, 3);
	for (size_t k = 0; k < 3; k++) {
		cr_expect_str_eq(s.items[k].a, ctxs[k]);
		cr_expect_str_eq(s.items[k].b, head);
		cr_expect_eq(s.items[k].state, k == 2 ? DEVSYS_CHECK_PENDING : DEVSYS_CHECK_SUCCESS);
		cr_expect_eq(s.items[k].kind, DEVSYS_CHECK_STATUS);
	}
	devsys__sink_dispose(&s);

	/* An Actions job reports a check run, not a status. */
	ctl("check", "{\"owner\":\"%s\",\"repo\":\"merge\",\"sha\":\"%s\",\"name\":\"devsys/tests\","
	             "\"status\":\"completed\",\"conclusion\":\"success\"}", OWNER, head);
	ctl("check", "{\"owner\":\"%s\",\"repo\":\"merge\",\"sha\":\"%s\",\"name\":\"lint\","
	             "\"status\":\"in_progress\",\"conclusion\":null}", OWNER, head);
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_assert_eq(f.vt->check_runs(f.self, &s, head), 0, "%s", errmsg());
	cr_assert_eq(s.n, 2);
	cr_expect_str_eq(s.items[0].a, "devsys/tests");
	cr_expect_eq(s.items[0].state, DEVSYS_CHECK_SUCCESS);
	cr_expect_eq(s.items[0].kind, DEVSYS_CHECK_RUN);
	cr_expect_eq(s.items[1].state, DEVSYS_CHECK_PENDING);
	devsys__sink_dispose(&s);

	/* The description sent was cut to GitHub's 140 characters (the upstream refuses more). */
	json_t *log = log_for("merge");
	json_t *b1 = json_object_get(json_array_get(log, 1), "body");
	cr_expect_eq(strlen(json_string_value(json_object_get(b1, "description"))), 140);
	json_decref(log);

	/* A commit pushed after the approval: merging the approved SHA is refused (409). */
	char moved[41];
	snprintf(moved, sizeof(moved), "%s", "1111111111111111111111111111111111111111");
	ctl("push", "{\"owner\":\"%s\",\"repo\":\"merge\",\"branch\":\"task/7\",\"sha\":\"%s\"}", OWNER, moved);
	devsys_forge_merge_request mr = { DEVSYS_FORGE_MERGE_REQUEST_VERSION, head, DEVSYS_FORGE_MERGE_SQUASH, NULL,
		                          NULL };
	devsys_forge_merge_result res = { DEVSYS_FORGE_MERGE_RESULT_VERSION, NULL };
	cr_expect_eq(f.vt->merge(f.self, &res, n, &mr), DEVSYS_ECONFLICT);
	cr_expect_eq(devsys_error_http_status(devsys_error_last()), 409);
	cr_expect_not_null(strstr(devsys_error_detail(devsys_error_last()), "Head branch was modified"));
	devsys_forge_pr_info g = pr_info();
	cr_assert_eq(f.vt->pr_get(f.self, &g, n), 0, "%s", errmsg());
	cr_expect_eq(g.state, DEVSYS_PR_OPEN, "nothing was merged");

	/* At the head it is: the merge commit comes back and the PR reads as merged. */
	mr.sha = moved;
	cr_assert_eq(f.vt->merge(f.self, &res, n, &mr), 0, "%s", errmsg());
	cr_expect_eq(strlen(res.sha), 40);
	char msha[41];
	snprintf(msha, sizeof(msha), "%s", res.sha);
	cr_assert_eq(f.vt->pr_get(f.self, &g, n), 0, "%s", errmsg());
	cr_expect_eq(g.state, DEVSYS_PR_MERGED);
	cr_expect_str_eq(g.merge_sha, msha);
	log = log_for("merge");
	json_t *mb = NULL;
	for (size_t k = 0; k < json_array_size(log); k++)
		if (strcmp(entry_str(log, k, "method"), "PUT") == 0)
			mb = json_object_get(json_array_get(log, k), "body");
	cr_expect_str_eq(json_string_value(json_object_get(mb, "sha")), moved);
	cr_expect_str_eq(json_string_value(json_object_get(mb, "merge_method")), "squash");
	json_decref(log);

	/* Merged already: 405 is a conflict too. */
	cr_expect_eq(f.vt->merge(f.self, &res, n, &mr), DEVSYS_ECONFLICT);
	fx_close(&f);
}

Test(github, reviews_on_an_old_sha_and_on_the_head)
{
	struct gh_fx f;
	fx_open(&f, dt_forge_url("proxy"), "reviews");
	devsys_forge_pr_request r = pr_req("task/9");
	devsys_forge_pr_info i = pr_info();
	const char *old = "2222222222222222222222222222222222222222";
	char head[41];
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	snprintf(head, sizeof(head), "%s", i.head_sha);
	ctl("review", "{\"owner\":\"%s\",\"repo\":\"reviews\",\"number\":%lld,\"user\":\"alice\",\"commit_id\":\"%s\","
	              "\"state\":\"APPROVED\"}", OWNER, (long long)i.number, old);
	ctl("review", "{\"owner\":\"%s\",\"repo\":\"reviews\",\"number\":%lld,\"user\":\"bob\",\"commit_id\":\"%s\","
	              "\"state\":\"CHANGES_REQUESTED\"}", OWNER, (long long)i.number, head);
	ctl("review", "{\"owner\":\"%s\",\"repo\":\"reviews\",\"number\":%lld,\"user\":null,\"commit_id\":\"%s\","
	              "\"state\":\"APPROVED\"}", OWNER, (long long)i.number, head);
	ctl("review", "{\"owner\":\"%s\",\"repo\":\"reviews\",\"number\":%lld,\"user\":\"carol\",\"commit_id\":\"%s\","
	              "\"state\":\"APPROVED\"}", OWNER, (long long)i.number, head);
	ctl("review", "{\"owner\":\"%s\",\"repo\":\"reviews\",\"number\":%lld,\"user\":\"dave\",\"commit_id\":\"%s\","
	              "\"state\":\"DISMISSED\"}", OWNER, (long long)i.number, head);
	devsys_forge_sink s;
	devsys__sink_init(&s, DEVSYS__SINK_REVIEWS);
	cr_assert_eq(f.vt->pr_reviews(f.self, &s, i.number), 0, "%s", errmsg());
	cr_assert_eq(s.n, 4, "the deleted account's review is left out; got %zu", s.n);
	cr_expect_str_eq(s.items[0].a, "alice");
	cr_expect_str_eq(s.items[0].b, old);
	cr_expect_eq(s.items[0].state, DEVSYS_REVIEW_APPROVED);
	cr_expect_str_eq(s.items[1].a, "bob");
	cr_expect_eq(s.items[1].state, DEVSYS_REVIEW_CHANGES_REQUESTED);
	cr_expect_str_eq(s.items[2].a, "carol");
	cr_expect_str_eq(s.items[2].b, head);
	cr_expect_eq(s.items[3].state, DEVSYS_REVIEW_DISMISSED);
	devsys__sink_dispose(&s);

	/* The commit authors, for the gate's "not the author" rule. */
	devsys__sink_init(&s, DEVSYS__SINK_AUTHORS);
	cr_assert_eq(f.vt->pr_authors(f.self, &s, i.number), 0, "%s", errmsg());
	cr_assert_eq(s.n, 1);
	cr_expect_str_eq(s.items[0].a, "devsys-bot");
	devsys__sink_dispose(&s);
	fx_close(&f);
}

Test(github, branch_protection)
{
	struct gh_fx f;
	const char *ctxs[] = { "devsys/tests", "devsys/verify" };
	fx_open(&f, dt_forge_url("proxy"), "protect");
	devsys_forge_protection p = { DEVSYS_FORGE_PROTECTION_VERSION, "main", ctxs, 2, 2, 1, 1 };
	cr_assert_eq(f.vt->protect(f.self, &p), 0, "%s", errmsg());
	devsys_forge_protection q = { DEVSYS_FORGE_PROTECTION_VERSION, "release/1.0", NULL, 0, 0, 0, 0 };
	cr_assert_eq(f.vt->protect(f.self, &q), 0, "%s", errmsg());
	json_t *log = log_for("protect");
	cr_assert_eq(json_array_size(log), 2);
	cr_expect_str_eq(entry_str(log, 0, "path"), "/repos/" OWNER "/protect/branches/main/protection");
	json_t *b = json_object_get(json_array_get(log, 0), "body");
	json_t *rsc = json_object_get(b, "required_status_checks");
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(rsc, "contexts"), 1)), "devsys/verify");
	cr_expect(json_is_true(json_object_get(rsc, "strict")));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(b, "required_pull_request_reviews"),
	                                                "required_approving_review_count")), 2);
	cr_expect(json_is_true(json_object_get(b, "enforce_admins")));
	/* A branch with a slash is one path segment. */
	cr_expect_str_eq(entry_str(log, 1, "path"), "/repos/" OWNER "/protect/branches/release%2F1.0/protection");
	b = json_object_get(json_array_get(log, 1), "body");
	cr_expect(json_is_null(json_object_get(b, "required_status_checks")));
	cr_expect(json_is_null(json_object_get(b, "required_pull_request_reviews")));
	json_decref(log);
	fx_close(&f);
}

Test(github, files_follow_link_pages_and_report_truncation)
{
	struct gh_fx f;
	const char *proxy = dt_forge_url("proxy");
	fx_open(&f, proxy, "files");
	devsys_forge_pr_request r = pr_req("task/3");
	devsys_forge_pr_info i = pr_info();
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	ctl("files", "{\"owner\":\"%s\",\"repo\":\"files\",\"number\":%lld,\"count\":250,\"link_base\":\"%s\"}", OWNER,
	    (long long)i.number, proxy);
	size_t before = log_count("files");
	devsys_forge_sink s;
	devsys__sink_init(&s, DEVSYS__SINK_FILES);
	cr_assert_eq(f.vt->pr_files(f.self, &s, i.number), 0, "%s", errmsg());
	cr_expect_eq(s.n, 250);
	cr_expect_eq(s.truncated, 0);
	cr_expect_str_eq(s.items[249].a, "src/file00249.c");
	cr_expect_eq(log_count("files") - before, 3, "three pages of 100");
	devsys__sink_dispose(&s);
	fx_close(&f);

	/* 3500 changed files: GitHub lists 3000 and the provider says the list is cut.
	 * 30 pages: against the upstream directly, Prism would only add time. */
	const char *up = dt_forge_url("upstream");
	fx_open(&f, up, "files");
	ctl("files", "{\"owner\":\"%s\",\"repo\":\"files\",\"number\":%lld,\"count\":3500,\"link_base\":\"%s\"}", OWNER,
	    (long long)i.number, up);
	devsys__sink_init(&s, DEVSYS__SINK_FILES);
	cr_assert_eq(f.vt->pr_files(f.self, &s, i.number), 0, "%s", errmsg());
	cr_expect_eq(s.n, 3000);
	cr_expect_eq(s.truncated, 1);
	devsys__sink_dispose(&s);
	fx_close(&f);
}

/* ---- stateless, against prism mock ---- */

/* Positive control of the violation check every test ends with: a request
 * that breaks the schema (title a number) is found in both Prism logs. */
Test(github, the_violation_check_sees_a_bad_request)
{
	const char *which[] = { "proxy", "mock" };
	long *at[] = { &proxy_log_at, &mock_log_at };
	for (int k = 0; k < 2; k++) {
		devsys__http_options ho;
		devsys__http *c;
		devsys__http_response resp;
		devsys__http_request req = { 0 };
		const char *hdr[] = { "Authorization: Bearer " TOKEN, NULL };
		devsys__http_options_default(&ho);
		ho.base_url = dt_forge_url(which[k]);
		ho.headers = hdr;
		ho.max_retries = 0;
		cr_assert_eq(devsys__http_new(&c, &ho), 0);
		json_t *bad = json_pack("{s:i, s:s, s:s}", "title", 5, "head", "x", "base", "main");
		req.method = "POST";
		req.path = "/repos/" OWNER "/violation/pulls";
		req.json = bad;
		cr_expect_lt(devsys__http_send(&resp, c, &req), 0);
		cr_expect_eq(resp.status, 422);
		devsys__http_response_dispose(&resp);
		json_decref(bad);
		devsys__http_free(c);
		/* Prism writes its log asynchronously: poll for the line with a deadline. */
		int n = 0;
		for (int waited = 0; waited < 5000 && n == 0; waited += 50) {
			char *t = dt_forge_prism_log_since(which[k], *at[k]);
			n = dt_forge_request_violations(t, NULL, 0);
			free(t);
			if (n == 0) {
				struct timespec ts = { 0, 50 * 1000000 };
				nanosleep(&ts, NULL);
			}
		}
		cr_expect_gt(n, 0, "prism %s's log shows the bad request", which[k]);
		*at[k] = dt_forge_prism_log_size(which[k]); /* seen: not this test's failure */
	}
	cr_expect_eq(log_count("violation"), 0, "the proxy did not forward it");
}

Test(github, mock_examples_that_violate_the_schema_fail_once_without_retry)
{
	struct gh_fx f;
	devsys_buf d = DEVSYS_BUF_INIT;
	fx_open(&f, dt_forge_url("mock"), "r");
	devsys_forge_pr_request r = pr_req("task/1");
	devsys_forge_pr_info i = pr_info();
	/* GitHub's own pull-request example lacks requested_teams[].type (and parent),
	 * which its schema requires: Prism --errors answers a problem report. */
	cr_expect_eq(f.vt->pr_upsert(f.self, &i, &r), DEVSYS_EINVALID);
	cr_expect_not_null(strstr(errmsg(), "problem"), "%s", errmsg());
	cr_expect_not_null(strstr(errmsg(), "requested_teams"), "%s", errmsg());
	cr_assert_eq(f.vt->describe(f.self, &d), 0);
	cr_expect_not_null(strstr(d.ptr, "\"requests\":1"), "sent once, not retried: %s", d.ptr);
	devsys_buf_dispose(&d);
	fx_close(&f);
}

Test(github, mock_422_is_not_already_exists)
{
	struct gh_fx f;
	devsys_buf d = DEVSYS_BUF_INIT;
	static const char *const hdrs[] = { "Prefer: code=422", NULL };
	static const struct devsys__gh_ext ext = { 1, hdrs, 20 };
	fx_open_ext(&f, dt_forge_url("mock"), "r", TOKEN, 0, 0, &ext);
	devsys_forge_pr_request r = pr_req("task/1");
	devsys_forge_pr_info i = pr_info();
	cr_expect_eq(f.vt->pr_upsert(f.self, &i, &r), DEVSYS_EINVALID, "%s", errmsg());
	cr_expect_eq(devsys_error_http_status(devsys_error_last()), 422);
	cr_assert_eq(f.vt->describe(f.self, &d), 0);
	cr_expect_not_null(strstr(d.ptr, "\"requests\":1"), "no look-up after the mock's 422: %s", d.ptr);
	devsys_buf_dispose(&d);
	fx_close(&f);
}

Test(github, mock_statuses_merge_protect)
{
	struct gh_fx f;
	const char *sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
	const char *ctxs[] = { "devsys/tests" };
	fx_open(&f, dt_forge_url("mock"), "r");
	devsys_forge_status st = { DEVSYS_FORGE_STATUS_VERSION, "devsys/tests", DEVSYS_CHECK_SUCCESS, "ok", NULL };
	cr_expect_eq(f.vt->status_set(f.self, sha, &st), 0, "%s", errmsg());
	devsys_forge_sink s;
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_expect_eq(f.vt->statuses(f.self, &s, sha), 0, "%s", errmsg());
	cr_expect(s.n >= 1, "GitHub's combined-status example has statuses");
	devsys__sink_dispose(&s);
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_expect_eq(f.vt->check_runs(f.self, &s, sha), 0, "%s", errmsg());
	cr_expect(s.n >= 1);
	devsys__sink_dispose(&s);
	devsys_forge_merge_request mr = { DEVSYS_FORGE_MERGE_REQUEST_VERSION, sha, DEVSYS_FORGE_MERGE_COMMIT, NULL,
		                          NULL };
	devsys_forge_merge_result res = { DEVSYS_FORGE_MERGE_RESULT_VERSION, NULL };
	cr_expect_eq(f.vt->merge(f.self, &res, 1, &mr), 0, "%s", errmsg());
	cr_expect_not_null(res.sha);
	devsys_forge_protection p = { DEVSYS_FORGE_PROTECTION_VERSION, "main", ctxs, 1, 1, 1, 1 };
	cr_expect_eq(f.vt->protect(f.self, &p), 0, "%s", errmsg());
	/* The examples' Link headers name https://api.github.com: a next page on another
	 * origin is refused, so the token never leaves the configured server. */
	devsys__sink_init(&s, DEVSYS__SINK_REVIEWS);
	cr_expect_lt(f.vt->pr_reviews(f.self, &s, 1), 0);
	cr_expect_not_null(strstr(errmsg(), "origin"), "%s", errmsg());
	devsys__sink_dispose(&s);
	fx_close(&f);
}

/* ---- bad input, against the upstream directly ---- */

Test(github, bad_token_401)
{
	struct gh_fx f;
	fx_open_ext(&f, dt_forge_url("upstream"), "badtoken", "ghp_" "wrongWrongWrong000", 0, 0, NULL);
	devsys_forge_pr_info i = pr_info();
	cr_expect_eq(f.vt->pr_get(f.self, &i, 1), DEVSYS_EAUTH);
	cr_expect_eq(devsys_error_http_status(devsys_error_last()), 401);
	cr_expect_not_null(strstr(errmsg(), "token"), "%s", errmsg());
	cr_expect_null(strstr(errmsg(), "ghp_wrong"));
	json_t *log = log_for("badtoken");
	cr_expect_eq(json_array_size(log), 1, "401 is not retried");
	cr_expect_str_eq(entry_str(log, 0, "auth"), "bad");
	json_decref(log);
	char *all = dt_forge_log_text();
	cr_expect_null(strstr(all, "ghp_wrong"), "the upstream's log never holds a token");
	free(all);
	fx_close(&f);
}

Test(github, missing_repository_404)
{
	struct gh_fx f;
	fx_open(&f, dt_forge_url("upstream"), "missing-repo");
	devsys_forge_pr_request r = pr_req("task/1");
	devsys_forge_pr_info i = pr_info();
	cr_expect_eq(f.vt->pr_upsert(f.self, &i, &r), DEVSYS_ENOTFOUND);
	cr_expect_eq(devsys_error_http_status(devsys_error_last()), 404);
	cr_expect_not_null(strstr(errmsg(), "/repos/" OWNER "/missing-repo/pulls"), "%s", errmsg());
	fx_close(&f);
}

Test(github, validation_422_is_not_reuse)
{
	struct gh_fx f;
	fx_open(&f, dt_forge_url("proxy"), "invalid");
	devsys_forge_pr_request r = pr_req("nobranch-here");
	devsys_forge_pr_info i = pr_info();
	cr_expect_eq(f.vt->pr_upsert(f.self, &i, &r), DEVSYS_EINVALID);
	cr_expect_eq(devsys_error_http_status(devsys_error_last()), 422);
	cr_expect_not_null(strstr(errmsg(), "Validation Failed"), "%s", errmsg());
	cr_expect_eq(log_count("invalid"), 1, "no look-up after another 422");
	fx_close(&f);
}

Test(github, team_of_another_org_is_refused_before_any_request)
{
	struct gh_fx f;
	const char *teams[] = { "other-org/core" };
	fx_open(&f, dt_forge_url("upstream"), "teams");
	devsys_forge_pr_request r = pr_req("task/5");
	devsys_forge_pr_info i = pr_info();
	r.team_reviewers = teams;
	r.nteam_reviewers = 1;
	cr_expect_eq(f.vt->pr_upsert(f.self, &i, &r), DEVSYS_EINVALID);
	cr_expect_not_null(strstr(errmsg(), "other-org/core"), "%s", errmsg());
	cr_expect_not_null(strstr(errmsg(), "'" OWNER "'"), "%s", errmsg());
	fx_close(&f);
}

Test(github, server_errors_retried_with_a_bound)
{
	struct gh_fx f;
	static const struct devsys__gh_ext fast = { 1, NULL, 10 };
	fx_open_ext(&f, dt_forge_url("upstream"), "retry", TOKEN, 0, 2, &fast);
	devsys_forge_pr_request r = pr_req("task/1");
	devsys_forge_pr_info i = pr_info();
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	/* One 502, then the answer. */
	ctl("fault", "{\"match\":\"^GET /repos/%s/retry/pulls/1$\",\"times\":1,\"status\":502,\"body\":\"bad gateway\"}",
	    OWNER);
	size_t before = log_count("retry");
	cr_expect_eq(f.vt->pr_get(f.self, &i, 1), 0, "%s", errmsg());
	cr_expect_eq(log_count("retry") - before, 2);
	/* 500 every time: 1 + 2 retries, then a clear failure. */
	ctl("fault", "{\"match\":\"^GET /repos/%s/retry/pulls/1$\",\"times\":10,\"status\":500,\"body\":\"{}\"}",
	    OWNER);
	before = log_count("retry");
	cr_expect_eq(f.vt->pr_get(f.self, &i, 1), DEVSYS_ENETWORK);
	cr_expect_eq(devsys_error_http_status(devsys_error_last()), 500);
	cr_expect_eq(log_count("retry") - before, 3, "bounded: 1 + max_retries");
	/* Creating is never retried blindly: a lost answer would make a duplicate. */
	ctl("fault", "{\"match\":\"^POST /repos/%s/retry/pulls$\",\"times\":5,\"status\":502,\"body\":\"x\"}", OWNER);
	r.head = "task/2";
	before = log_count("retry");
	cr_expect_eq(f.vt->pr_upsert(f.self, &i, &r), DEVSYS_ENETWORK);
	cr_expect_eq(log_count("retry") - before, 1);
	fx_close(&f);
}

static void fault_get(const char *repo, const char *kind, double delay, int *rc, long timeout_ms)
{
	struct gh_fx f;
	static const struct devsys__gh_ext fast = { 1, NULL, 10 };
	fx_open_ext(&f, dt_forge_url("upstream"), repo, TOKEN, timeout_ms, 1, &fast);
	devsys_forge_pr_request r = pr_req("task/1");
	devsys_forge_pr_info i = pr_info();
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	ctl("fault", "{\"match\":\"^GET /repos/%s/%s/pulls/1$\",\"times\":1,\"kind\":\"%s\",\"delay\":%.1f}", OWNER,
	    repo, kind, delay);
	*rc = f.vt->pr_get(f.self, &i, 1);
	fx_close(&f);
}

Test(github, malformed_json)
{
	int rc;
	fault_get("malformed", "malformed", 0, &rc, 0);
	cr_expect_eq(rc, DEVSYS_EPARSE, "%s", errmsg());
	cr_expect_not_null(strstr(errmsg(), "/repos/" OWNER "/malformed/pulls/1"), "%s", errmsg());
}

Test(github, truncated_response)
{
	int rc;
	fault_get("truncated", "truncate", 0, &rc, 0);
	cr_expect(rc == DEVSYS_EIO || rc == DEVSYS_EPARSE, "rc %d: %s", rc, errmsg());
	cr_expect_not_null(strstr(errmsg(), "/repos/" OWNER "/truncated/pulls/1"), "%s", errmsg());
}

Test(github, slow_server_times_out)
{
	int rc;
	fault_get("slow", "slow", 3.0, &rc, 500);
	cr_expect_eq(rc, DEVSYS_ETIMEOUT, "%s", errmsg());
}

Test(github, rate_limit_far_ahead_says_when_to_retry)
{
	struct gh_fx f;
	char reset[32], iso[32];
	time_t at = time(NULL) + 3600;
	struct tm tm;
	gmtime_r(&at, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(reset, sizeof(reset), "%lld", (long long)at);
	fx_open(&f, dt_forge_url("upstream"), "ratelimit");
	ctl("fault", "{\"match\":\"^GET /repos/%s/ratelimit/pulls/1$\",\"times\":5,\"status\":403,"
	             "\"headers\":{\"x-ratelimit-remaining\":\"0\",\"x-ratelimit-reset\":\"%s\"},"
	             "\"body\":{\"message\":\"API rate limit exceeded for user ID 1.\",\"documentation_url\":"
	             "\"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api\",\"status\":\"403\"}}",
	    OWNER, reset);
	devsys_forge_pr_info i = pr_info();
	cr_expect_eq(f.vt->pr_get(f.self, &i, 1), DEVSYS_ELIMIT);
	cr_expect_not_null(strstr(errmsg(), iso), "names the reset time %s: %s", iso, errmsg());
	cr_expect_not_null(strstr(errmsg(), "retry after"), "%s", errmsg());
	cr_expect_eq(log_count("ratelimit"), 1, "not waited for, not retried");
	fx_close(&f);
}

Test(github, token_in_title_and_body_is_masked_before_sending)
{
	struct gh_fx f;
	fx_open(&f, dt_forge_url("proxy"), "masked");
	devsys_forge_pr_request r = pr_req("task/11");
	devsys_forge_pr_info i = pr_info();
	r.title = "leak " TOKEN " in the title";
	r.body = "the agent printed GITHUB_TOKEN=" TOKEN "\nand again: " TOKEN "\n";
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	json_t *log = log_for("masked");
	json_t *b = json_object_get(json_array_get(log, 0), "body");
	cr_expect_str_eq(json_string_value(json_object_get(b, "body")),
	                 "the agent printed GITHUB_TOKEN=***\nand again: ***\n");
	cr_expect_str_eq(json_string_value(json_object_get(b, "title")), "leak *** in the title");
	json_decref(log);
	char *all = dt_forge_log_text();
	cr_expect_null(strstr(all, TOKEN), "the token reached the upstream");
	free(all);
	fx_close(&f);
}

Test(github, enterprise_server_base_url)
{
	/* GHES serves the same API under /api/v3: every path keeps the prefix. */
	char base[128];
	struct gh_fx f;
	snprintf(base, sizeof(base), "%s/api/v3", dt_forge_url("upstream"));
	fx_open(&f, base, "ghes");
	devsys_forge_pr_request r = pr_req("task/1");
	devsys_forge_pr_info i = pr_info();
	cr_assert_eq(f.vt->pr_upsert(f.self, &i, &r), 0, "%s", errmsg());
	cr_assert_eq(f.vt->pr_get(f.self, &i, i.number), 0, "%s", errmsg());
	json_t *log = log_for("ghes");
	cr_assert_eq(json_array_size(log), 2);
	cr_expect_str_eq(entry_str(log, 0, "path"), "/api/v3/repos/" OWNER "/ghes/pulls");
	cr_expect_str_eq(entry_str(log, 1, "path"), "/api/v3/repos/" OWNER "/ghes/pulls/1");
	json_decref(log);
	fx_close(&f);
}

/* ---- through the public API: devsys.yaml, the secrets module, the gate ---- */

Test(github, public_api_open_reopen_gate_and_merge_through_prism)
{
	const char *proxy = dt_forge_url("proxy");
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
	         "forges:\n  github.com:\n    provider: github\n    base_url: %s\n    token_secret: gh_token\n"
	         "    token_provider: env\n    token_ref: F2_GH_TOKEN\n    merge_method: squash\n    bot: devsys-bot\n"
	         "policy:\n  required_contexts: [devsys/tests]\n",
	         proxy);
	setenv("F2_GH_TOKEN", TOKEN, 1);
	devsys_config *cfg = NULL;
	devsys_secrets *sec = NULL;
	devsys_masker *masker = NULL;
	devsys_forge *forge = NULL;
	cr_assert_eq(devsys_config_parse(&cfg, yaml, strlen(yaml), "devsys.yaml"), 0, "%s", errmsg());
	cr_assert_eq(devsys_secrets_new(&sec, NULL), 0);
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	fo.remote_url = "https://github.com/" OWNER "/public.git";
	fo.config = cfg;
	fo.secrets = sec;
	cr_assert_eq(devsys_forge_new(&forge, &fo), 0, "%s", errmsg());
	cr_assert_str_eq(devsys_forge_provider(forge), "github");
	cr_assert_eq(devsys_secrets_masker(&masker, sec), 0);

	/* Open: the body carries the token; the task's masker takes it out before sending. */
	const char *teams[] = { OWNER "/core" };
	const char *labels[] = { "devsys" };
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	po.title = "task 77: public API";
	po.body = "Task: 77\nthe agent printed " TOKEN "\n";
	po.head = "task/77";
	po.base = "main";
	po.labels = labels;
	po.nlabels = 1;
	po.team_reviewers = teams;
	po.nteam_reviewers = 1;
	po.masker = masker;
	devsys_pr *pr = NULL;
	cr_assert_eq(devsys_pr_open(&pr, forge, &po), 0, "%s", errmsg());
	int64_t n = devsys_pr_number(pr);
	cr_expect_gt(n, 0);
	cr_expect_eq(devsys_pr_reused(pr), 0);
	char head[41];
	snprintf(head, sizeof(head), "%s", devsys_pr_head_sha(pr));
	devsys_pr_free(pr);
	json_t *log = log_for("public");
	json_t *body = json_object_get(json_array_get(log, 0), "body");
	cr_expect_null(strstr(json_string_value(json_object_get(body, "body")), TOKEN), "masked before sending");
	cr_expect_not_null(strstr(json_string_value(json_object_get(body, "body")), "Task: 77"));
	json_decref(log);

	/* A re-run without the number: the same PR, reused. */
	po.title = "task 77: public API (re-run)";
	cr_assert_eq(devsys_pr_open(&pr, forge, &po), 0, "%s", errmsg());
	cr_expect_eq(devsys_pr_number(pr), n);
	cr_expect_eq(devsys_pr_reused(pr), 1);

	/* The gate: medium paths (src/...) need a human approval on the head and devsys/tests green. */
	const devsys_policy *policy = NULL;
	cr_assert_eq(devsys_config_policy(&policy, cfg), 0, "%s", errmsg());
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	go.policy = policy;
	devsys_policy_decision *d = NULL;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", errmsg());
	cr_expect_neq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_MERGE, "no approval, no status yet");
	devsys_policy_decision_free(d);
	d = NULL;
	cr_assert_eq(devsys_forge_set_status(forge, head, "devsys/tests", DEVSYS_CHECK_SUCCESS, "passed", NULL), 0, "%s",
	             errmsg());
	ctl("review", "{\"owner\":\"%s\",\"repo\":\"public\",\"number\":%lld,\"user\":\"alice\",\"commit_id\":\"%s\","
	              "\"state\":\"APPROVED\"}", OWNER, (long long)n, head);
	int rc = devsys_gate_merge(&d, pr, &go);
	devsys_buf why = DEVSYS_BUF_INIT;
	if (d)
		devsys_gate_explain(&why, d, 0);
	cr_expect_eq(rc, 0, "%s / %s", errmsg(), why.ptr ? why.ptr : "");
	devsys_buf_dispose(&why);
	devsys_policy_decision_free(d);
	cr_expect_eq(devsys_pr_state_of(pr), DEVSYS_PR_MERGED);
	log = log_for("public");
	json_t *mb = NULL;
	for (size_t k = 0; k < json_array_size(log); k++)
		if (strcmp(entry_str(log, k, "method"), "PUT") == 0)
			mb = json_object_get(json_array_get(log, k), "body");
	cr_expect_str_eq(json_string_value(json_object_get(mb, "sha")), head, "merged at the approved head");
	cr_expect_str_eq(json_string_value(json_object_get(mb, "merge_method")), "squash");
	json_decref(log);

	devsys_pr_free(pr);
	devsys_forge_free(forge);
	devsys_masker_free(masker);
	devsys_secrets_free(sec);
	devsys_config_free(cfg);
	unsetenv("F2_GH_TOKEN");
}
