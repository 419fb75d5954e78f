/*
 * The gitea forge provider's request tests, against the stateful upstream
 * tests/support/forge_upstream.py in its gitea mode (Gitea-shaped answers
 * written after Gitea's API documentation; NOT checked against Gitea's
 * published OpenAPI description, see docs/forge.md). The forge is bound the
 * way a user binds it: a `forges:` entry in devsys.yaml whose token comes
 * through the secrets module. Request counts (the request budget) come from
 * the upstream's log, never from the client.
 */
#include "forge/forge_int.h"
#include "http/http_int.h"
#include "forge_fixture.h"
#include "testutil.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#define TOKEN "gt_devsysTestToken_5f3a9c0e7b2d41"
#define OWNER "gt"

ReportHook(PRE_ALL)(struct criterion_test_set *s)
{
	(void)s;
	dt_forge_suite_start("gitea", TOKEN, 0);
}
ReportHook(POST_ALL)(struct criterion_global_stats *s)
{
	(void)s;
	dt_forge_suite_stop();
}

static devsys_secrets *secrets;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_secrets_new(&secrets, NULL), 0);
	setenv("F3_GITEA_TOKEN", TOKEN, 1);
}
static void teardown(void)
{
	devsys_secrets_free(secrets);
	secrets = NULL;
	devsys_shutdown();
}
TestSuite(gitea, .init = setup, .fini = teardown, .timeout = 120);

static const char *err(void)
{
	return devsys_error_message(devsys_error_last());
}

/* Bind repository OWNER/@p repo on the upstream through a forges: entry. */
static devsys_forge *forge_ext(const char *repo, long timeout_ms, unsigned retries)
{
	const char *up = dt_forge_url("upstream");
	char yaml[1024], remote[256];
	devsys_config *cfg = NULL;
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_forge *f = NULL;
	snprintf(yaml, sizeof(yaml),
	         "forges:\n  gitea.test:\n    provider: gitea\n    base_url: %s/api/v1\n"
	         "    token_secret: gitea_token\n    token_provider: env\n    token_ref: F3_GITEA_TOKEN\n"
	         "    merge_method: squash\n    bot: devsys-bot\n", up);
	snprintf(remote, sizeof(remote), "https://gitea.test/%s/%s.git", OWNER, repo);
	cr_assert_eq(devsys_config_parse(&cfg, yaml, strlen(yaml), "devsys.yaml"), 0, "%s", err());
	fo.remote_url = remote;
	fo.config = cfg;
	fo.secrets = secrets;
	fo.timeout_ms = timeout_ms;
	fo.max_retries = retries;
	cr_assert_eq(devsys_forge_new(&f, &fo), 0, "%s", err());
	devsys_config_free(cfg);
	cr_assert_str_eq(devsys_forge_provider(f), "gitea");
	return f;
}

static devsys_forge *forge(const char *repo)
{
	return forge_ext(repo, 0, 0);
}

/* The upstream's log entries for OWNER/@p repo (a new array), from entry @p from on. */
static json_t *log_from(const char *repo, size_t from)
{
	char *text = dt_forge_log_text(), *save = NULL, prefix[128];
	json_t *out = json_array();
	size_t n = 0;
	snprintf(prefix, sizeof(prefix), "/api/v1/repos/%s/%s/", OWNER, repo);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);
		const char *p = json_string_value(json_object_get(e, "path"));
		if (p && strncmp(p, prefix, strlen(prefix)) == 0 && n++ >= from)
			json_array_append(out, e);
		json_decref(e);
	}
	free(text);
	return out;
}

static size_t log_count(const char *repo)
{
	json_t *l = log_from(repo, 0);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

/* "METHOD path-after-the-repo status" of entry @p i, for messages and asserts. */
static const char *line_of(const json_t *log, size_t i, const char *repo)
{
	static char buf[512];
	const json_t *e = json_array_get(log, i);
	const char *p = json_string_value(json_object_get(e, "path"));
	size_t skip = strlen("/api/v1/repos/") + strlen(OWNER) + 1 + strlen(repo);
	snprintf(buf, sizeof(buf), "%s %s %lld", json_string_value(json_object_get(e, "method")),
	         p && strlen(p) >= skip ? p + skip : "?", (long long)json_integer_value(json_object_get(e, "status")));
	return buf;
}

/* All lines of @p log joined, for failure messages. */
static const char *lines_of(const json_t *log, const char *repo)
{
	static char buf[4096];
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < json_array_size(log) && used < sizeof(buf) - 600; i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s; ", line_of(log, i, repo));
	return buf;
}

static const json_t *body_of(const json_t *log, size_t i)
{
	return json_object_get(json_array_get(log, i), "body");
}

static void ctl(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctl(const char *what, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cr_assert_eq(dt_forge_ctl(what, buf), 200, "/_ctl/%s %s", what, buf);
}

static devsys_pr *open_pr(devsys_forge *f, const char *head, const char *title, const char *body, int draft,
                          int64_t number, int expect_rc)
{
	static const char *labels[] = { "devsys", "risk:low" };
	static const char *reviewers[] = { "alice" };
	static const char *teams[] = { OWNER "/core" };
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_pr *pr = NULL;
	po.title = title;
	po.body = body;
	po.head = head;
	po.base = "main";
	po.draft = draft;
	po.labels = labels;
	po.nlabels = 2;
	po.reviewers = reviewers;
	po.nreviewers = 1;
	po.team_reviewers = teams;
	po.nteam_reviewers = 1;
	po.number = number;
	cr_assert_eq(devsys_pr_open(&pr, f, &po), expect_rc, "%s", err());
	return pr;
}

/* Create: label ids looked up once, WIP: for a draft, reviewers and teams
 * requested in one call; 3 requests. Re-run with the number: 2 requests
 * (read, edit), 1 when nothing changed. */
Test(gitea, create_with_wip_label_ids_and_reviewers_then_update_on_rerun)
{
	devsys_forge *f = forge("create");
	devsys_pr *pr = open_pr(f, "task/7", "Add the widget", "body one", 1, 0, 0);
	json_t *log = log_from("create", 0);
	cr_assert_eq(json_array_size(log), 3, "create budget is 3: %s", lines_of(log, "create"));
	cr_assert_str_eq(line_of(log, 0, "create"), "GET /labels 200");
	cr_assert_str_eq(line_of(log, 1, "create"), "POST /pulls 201");
	cr_assert_str_eq(line_of(log, 2, "create"), "POST /pulls/1/requested_reviewers 201");
	const json_t *b = body_of(log, 1);
	cr_assert_str_eq(json_string_value(json_object_get(b, "title")), "WIP: Add the widget");
	cr_assert_str_eq(json_string_value(json_object_get(b, "head")), "task/7");
	cr_assert_str_eq(json_string_value(json_object_get(b, "base")), "main");
	cr_assert_null(json_object_get(b, "draft"), "Gitea has no draft field");
	const json_t *ids = json_object_get(b, "labels");
	cr_assert_eq(json_array_size(ids), 2);
	cr_assert_eq(json_integer_value(json_array_get(ids, 0)), 11, "label ids, not names");
	cr_assert_eq(json_integer_value(json_array_get(ids, 1)), 12);
	b = body_of(log, 2);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "reviewers"), 0)), "alice");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "team_reviewers"), 0)), "core",
	                 "org/team became the team's name");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "auth")), "ok");
	json_decref(log);
	cr_assert_eq(devsys_pr_number(pr), 1);
	cr_assert(devsys_pr_draft(pr), "draft read back from the WIP: prefix");
	cr_assert_not(devsys_pr_reused(pr));
	cr_assert_str_eq(devsys_pr_title(pr), "Add the widget");
	cr_assert_str_eq(devsys_pr_head(pr), "task/7");
	cr_assert_eq(strlen(devsys_pr_head_sha(pr)), 40);
	cr_assert(strstr(devsys_pr_url(pr), "/gt/create/pulls/1"), "%s", devsys_pr_url(pr));
	devsys_pr_free(pr);
	devsys_forge_free(f);

	/* Re-run (a new process: a new forge) with the number the task record kept: ready for review now. */
	size_t at = log_count("create");
	f = forge("create");
	pr = open_pr(f, "task/7", "Add the widget", "body two", 0, 1, 0);
	log = log_from("create", at);
	cr_assert_eq(json_array_size(log), 2, "update budget is 2 here: %s", lines_of(log, "create"));
	cr_assert_str_eq(line_of(log, 0, "create"), "GET /pulls/1 200");
	cr_assert_str_eq(line_of(log, 1, "create"), "PATCH /pulls/1 201");
	b = body_of(log, 1);
	cr_assert_str_eq(json_string_value(json_object_get(b, "title")), "Add the widget", "no longer a draft");
	cr_assert_str_eq(json_string_value(json_object_get(b, "body")), "body two");
	json_decref(log);
	cr_assert(devsys_pr_reused(pr));
	cr_assert_eq(devsys_pr_number(pr), 1);
	cr_assert_not(devsys_pr_draft(pr));
	devsys_pr_free(pr);

	/* Nothing changed: the read alone. Positive control above: the body change did PATCH. */
	at = log_count("create");
	pr = open_pr(f, "task/7", "Add the widget", "body two", 0, 1, 0);
	log = log_from("create", at);
	cr_assert_eq(json_array_size(log), 1, "%s", lines_of(log, "create"));
	cr_assert_str_eq(line_of(log, 0, "create"), "GET /pulls/1 200");
	json_decref(log);
	devsys_buf d = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_forge_describe(&d, f), 0);
	cr_assert(strstr(d.ptr, "\"provider\":\"gitea\"") && strstr(d.ptr, "\"requests\":3"), "%s", d.ptr);
	cr_assert_null(strstr(d.ptr, TOKEN));
	devsys_buf_dispose(&d);
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

/* Reuse without a number: POST answers 409, the PR is read with GET
 * /pulls/{base}/{head} with the head's '/' encoded (the upstream decodes
 * strictly), updated, never duplicated. */
Test(gitea, rerun_without_number_reuses_after_409_through_the_encoded_head)
{
	devsys_forge *f = forge("reuse");
	devsys_pr *pr = open_pr(f, "task/ab-12", "Fix it", "first", 0, 0, 0);
	int64_t n = devsys_pr_number(pr);
	devsys_pr_free(pr);
	devsys_forge_free(f);

	size_t at = log_count("reuse");
	f = forge("reuse");
	pr = open_pr(f, "task/ab-12", "Fix it", "second", 0, 0, 0);
	json_t *log = log_from("reuse", at);
	cr_assert_eq(json_array_size(log), 4, "reuse budget is 4 with labels: %s", lines_of(log, "reuse"));
	cr_assert_str_eq(line_of(log, 0, "reuse"), "GET /labels 200");
	cr_assert_str_eq(line_of(log, 1, "reuse"), "POST /pulls 409");
	cr_assert_str_eq(line_of(log, 2, "reuse"), "GET /pulls/main/task%2Fab-12 200", "%s", lines_of(log, "reuse"));
	cr_assert_str_eq(line_of(log, 3, "reuse"), "PATCH /pulls/1 201");
	cr_assert_str_eq(json_string_value(json_object_get(body_of(log, 3), "body")), "second");
	json_decref(log);
	cr_assert(devsys_pr_reused(pr));
	cr_assert_eq(devsys_pr_number(pr), n);
	devsys_pr_free(pr);

	/* no duplicate: there is no PR 2 */
	cr_assert_eq(devsys_pr_get(&pr, f, 2), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 404);
	cr_assert_eq(devsys_pr_get(&pr, f, n), 0, "%s", err());
	cr_assert_str_eq(devsys_pr_head(pr), "task/ab-12");
	devsys_pr_free(pr);
	devsys_forge_free(f);

	/* The upstream decodes strictly, so the encoding above is what made the look-up work: the raw
	 * '/' is no route, a bad escape is refused, the encoded segment is found. */
	devsys__http_options ho;
	devsys__http *c = NULL;
	devsys__http_response r;
	devsys__http_request rq = { .method = "GET" };
	char base[128];
	snprintf(base, sizeof(base), "%s/api/v1/repos/" OWNER "/reuse/pulls/main/", dt_forge_url("upstream"));
	devsys__http_options_default(&ho);
	ho.base_url = dt_forge_url("upstream");
	ho.token = TOKEN;
	ho.auth_scheme = "token";
	ho.max_retries = 0;
	cr_assert_eq(devsys__http_new(&c, &ho), 0, "%s", err());
	const char *tails[] = { "task/ab-12", "task%2", "task%2Fab-12" };
	const int want[] = { DEVSYS_ENOTFOUND, DEVSYS_EINVALID, 0 };
	for (int i = 0; i < 3; i++) {
		char url[256];
		snprintf(url, sizeof(url), "%s%s", base, tails[i]);
		rq.path = url;
		cr_assert_eq(devsys__http_send(&r, c, &rq), want[i], "%s: %s", tails[i], err());
		devsys__http_response_dispose(&r);
	}
	devsys__http_free(c);
}

/* A PR whose number the record kept but that was merged meanwhile: a new PR. */
Test(gitea, a_kept_number_of_a_merged_pr_opens_a_new_one)
{
	devsys_forge *f = forge("kept");
	devsys_pr *pr = open_pr(f, "task/k", "T", "b", 0, 0, 0);
	const char *sha = devsys_pr_head_sha(pr);
	devsys_forge_merge_request mr = { DEVSYS_FORGE_MERGE_REQUEST_VERSION, sha, DEVSYS_FORGE_MERGE_COMMIT, NULL, NULL };
	devsys_forge_merge_result res = { DEVSYS_FORGE_MERGE_RESULT_VERSION, NULL };
	cr_assert_eq(f->vt.merge(f->self, &res, 1, &mr), 0, "%s", err());
	devsys_pr_free(pr);
	pr = open_pr(f, "task/k", "T", "b", 0, 1, 0);
	cr_assert_eq(devsys_pr_number(pr), 2);
	cr_assert_not(devsys_pr_reused(pr));
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

Test(gitea, statuses_set_and_read_back_per_context)
{
	devsys_forge *f = forge("status");
	devsys_pr *pr = open_pr(f, "task/s", "T", "b", 0, 0, 0);
	const char *sha = devsys_pr_head_sha(pr);
	size_t at = log_count("status");
	cr_assert_eq(devsys_forge_set_status(f, sha, "devsys/tests", DEVSYS_CHECK_SUCCESS, "42 passed", "http://r/1"), 0,
	             "%s", err());
	cr_assert_eq(devsys_forge_set_status(f, sha, "devsys/deploy", DEVSYS_CHECK_PENDING, NULL, NULL), 0, "%s", err());
	cr_assert_eq(devsys_forge_set_status(f, sha, "devsys/verify", DEVSYS_CHECK_FAILURE, "smoke failed", NULL), 0,
	             "%s", err());
	cr_assert_eq(devsys_forge_set_status(f, sha, "devsys/deploy", DEVSYS_CHECK_SUCCESS, NULL, NULL), 0, "%s", err());
	json_t *log = log_from("status", at);
	cr_assert_eq(json_array_size(log), 4, "%s", lines_of(log, "status"));
	const json_t *b = body_of(log, 0);
	cr_assert_str_eq(json_string_value(json_object_get(b, "state")), "success");
	cr_assert_str_eq(json_string_value(json_object_get(b, "context")), "devsys/tests");
	cr_assert_str_eq(json_string_value(json_object_get(b, "description")), "42 passed");
	cr_assert_str_eq(json_string_value(json_object_get(b, "target_url")), "http://r/1");
	json_decref(log);

	cr_assert_eq(devsys_pr_load_checks(pr), 0, "%s", err());
	cr_assert_eq(devsys_pr_check_count(pr), 3);
	int seen = 0;
	for (size_t i = 0; i < 3; i++) {
		const devsys_policy_check *c = devsys_pr_check(pr, i);
		cr_assert_str_eq(c->sha, sha);
		cr_assert_eq(c->kind, DEVSYS_CHECK_STATUS);
		if (strcmp(c->context, "devsys/tests") == 0) {
			seen |= 1;
			cr_assert_eq(c->state, DEVSYS_CHECK_SUCCESS);
		} else if (strcmp(c->context, "devsys/deploy") == 0) {
			seen |= 2;
			cr_assert_eq(c->state, DEVSYS_CHECK_SUCCESS, "the latest per context");
		} else if (strcmp(c->context, "devsys/verify") == 0) {
			seen |= 4;
			cr_assert_eq(c->state, DEVSYS_CHECK_FAILURE);
		}
	}
	cr_assert_eq(seen, 7);
	/* a SHA that is no SHA never reaches a URL */
	at = log_count("status");
	cr_assert_eq(devsys_forge_set_status(f, "../../x", "devsys/tests", DEVSYS_CHECK_SUCCESS, NULL, NULL),
	             DEVSYS_EINVAL);
	cr_assert_eq(log_count("status"), at);
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

/* Reviews: states mapped, dismissed kept as DISMISSED, review requests and
 * deleted users left out, the commit each was given on kept. */
Test(gitea, reviews_map_giteas_states_and_keep_their_commits)
{
	devsys_forge *f = forge("reviews");
	devsys_pr *pr = open_pr(f, "task/r", "T", "b", 0, 0, 0);
	const char *head = devsys_pr_head_sha(pr);
	ctl("review", "{\"owner\": \"%s\", \"repo\": \"reviews\", \"number\": 1, \"user\": \"carol\", \"commit_id\": "
	    "\"%040d\", \"state\": \"APPROVED\"}", OWNER, 1);
	ctl("review", "{\"owner\": \"%s\", \"repo\": \"reviews\", \"number\": 1, \"user\": \"bob\", \"commit_id\": \"%s\", "
	    "\"state\": \"REQUEST_CHANGES\"}", OWNER, head);
	ctl("review", "{\"owner\": \"%s\", \"repo\": \"reviews\", \"number\": 1, \"user\": \"dave\", \"commit_id\": \"%s\", "
	    "\"state\": \"DISMISSED\"}", OWNER, head);
	ctl("review", "{\"owner\": \"%s\", \"repo\": \"reviews\", \"number\": 1, \"user\": null, \"commit_id\": \"%s\", "
	    "\"state\": \"APPROVED\"}", OWNER, head);
	ctl("review", "{\"owner\": \"%s\", \"repo\": \"reviews\", \"number\": 1, \"user\": \"carol\", \"commit_id\": \"%s\", "
	    "\"state\": \"COMMENT\"}", OWNER, head);
	cr_assert_eq(devsys_pr_load_reviews(pr), 0, "%s", err());
	/* alice's REQUEST_REVIEW entry and the deleted user's review are not reviews */
	cr_assert_eq(devsys_pr_review_count(pr), 4);
	const devsys_policy_review *r = devsys_pr_review(pr, 0);
	cr_assert_str_eq(r->reviewer, "carol");
	cr_assert_eq(r->state, DEVSYS_REVIEW_APPROVED);
	cr_assert_str_eq(r->commit_sha, "0000000000000000000000000000000000000001", "an old commit's approval");
	r = devsys_pr_review(pr, 1);
	cr_assert_str_eq(r->reviewer, "bob");
	cr_assert_eq(r->state, DEVSYS_REVIEW_CHANGES_REQUESTED);
	cr_assert_str_eq(r->commit_sha, head);
	cr_assert_eq(devsys_pr_review(pr, 2)->state, DEVSYS_REVIEW_DISMISSED);
	cr_assert_eq(devsys_pr_review(pr, 3)->state, DEVSYS_REVIEW_COMMENTED);
	/* Gitea has no identity-less reviews: review_add is not supported */
	cr_assert_eq(devsys_pr_add_review(pr, "eve", head, DEVSYS_REVIEW_APPROVED), DEVSYS_ENOTSUPPORTED);
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

/* Files and authors: every page followed (Link rel="next"), the rename's old path kept. */
Test(gitea, changed_files_are_paginated_and_authors_read)
{
	devsys_forge *f = forge("files");
	devsys_pr *pr = open_pr(f, "task/f", "T", "b", 0, 0, 0);
	ctl("files", "{\"owner\": \"%s\", \"repo\": \"files\", \"number\": 1, \"count\": 123}", OWNER);
	devsys_forge_sink s;
	devsys__sink_init(&s, DEVSYS__SINK_FILES);
	size_t at = log_count("files");
	cr_assert_eq(f->vt.pr_files(f->self, &s, 1), 0, "%s", err());
	json_t *log = log_from("files", at);
	cr_assert_eq(json_array_size(log), 3, "123 files are 3 pages of 50: %s", lines_of(log, "files"));
	json_decref(log);
	cr_assert_eq(s.n, 123);
	cr_assert_not(s.truncated);
	cr_assert_str_eq(s.items[0].a, "src/file00000.c");
	cr_assert_null(s.items[0].b);
	cr_assert_str_eq(s.items[1].a, "src/file00001.c");
	cr_assert_str_eq(s.items[1].b, "src/old00001.c");
	cr_assert_str_eq(s.items[122].a, "src/file00122.c");
	devsys__sink_dispose(&s);

	devsys__sink_init(&s, DEVSYS__SINK_AUTHORS);
	cr_assert_eq(f->vt.pr_authors(f->self, &s, 1), 0, "%s", err());
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.items[0].a, "devsys-bot");
	devsys__sink_dispose(&s);
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

/* Merge sends Do and head_commit_id = the approved head; a moved head is refused. */
Test(gitea, merge_at_the_approved_head_only)
{
	devsys_forge *f = forge("merge");
	devsys_pr *pr = open_pr(f, "task/m", "T", "b", 0, 0, 0);
	char approved[41];
	snprintf(approved, sizeof(approved), "%s", devsys_pr_head_sha(pr));
	devsys_forge_merge_request mr = { DEVSYS_FORGE_MERGE_REQUEST_VERSION, approved, DEVSYS_FORGE_MERGE_SQUASH,
		                          "Merge it", NULL };
	devsys_forge_merge_result res = { DEVSYS_FORGE_MERGE_RESULT_VERSION, NULL };

	/* a commit pushed after the approval: refused, and no merge request is sent */
	ctl("push", "{\"owner\": \"%s\", \"repo\": \"merge\", \"branch\": \"task/m\", \"sha\": \"%040d\"}", OWNER, 7);
	size_t at = log_count("merge");
	cr_assert_eq(f->vt.merge(f->self, &res, 1, &mr), DEVSYS_ECONFLICT);
	cr_assert(strstr(err(), "head moved"), "%s", err());
	json_t *log = log_from("merge", at);
	cr_assert_eq(json_array_size(log), 1, "%s", lines_of(log, "merge"));
	json_decref(log);

	/* the server's own check: a read that still shows the old head (a push racing the merge), so
	 * head_commit_id is not the head when the merge arrives: Gitea's 409 */
	ctl("fault", "{\"match\": \"GET .*/merge/pulls/1$\", \"times\": 1, \"status\": 200, \"body\": "
	    "{\"number\": 1, \"html_url\": \"h\", \"title\": \"T\", \"state\": \"open\", \"merged\": false, "
	    "\"head\": {\"ref\": \"task/m\", \"sha\": \"%040d\"}, \"base\": {\"ref\": \"main\", \"sha\": \"x\"}}}", 8);
	snprintf(approved, sizeof(approved), "%040d", 8);
	mr.sha = approved;
	at = log_count("merge");
	cr_assert_eq(f->vt.merge(f->self, &res, 1, &mr), DEVSYS_ECONFLICT, "%s", err());
	cr_assert(strstr(err(), "no longer the approved commit"), "%s", err());
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 409);
	log = log_from("merge", at);
	cr_assert_str_eq(line_of(log, 1, "merge"), "POST /pulls/1/merge 409", "%s", lines_of(log, "merge"));
	json_decref(log);

	/* at the head: merged, with Do = squash and head_commit_id */
	snprintf(approved, sizeof(approved), "%040d", 7);
	at = log_count("merge");
	cr_assert_eq(f->vt.merge(f->self, &res, 1, &mr), 0, "%s", err());
	cr_assert_eq(strlen(res.sha), 40);
	log = log_from("merge", at);
	cr_assert_eq(json_array_size(log), 3, "read, merge, read: %s", lines_of(log, "merge"));
	cr_assert_str_eq(line_of(log, 1, "merge"), "POST /pulls/1/merge 200");
	const json_t *b = body_of(log, 1);
	cr_assert_str_eq(json_string_value(json_object_get(b, "Do")), "squash");
	cr_assert_str_eq(json_string_value(json_object_get(b, "head_commit_id")), approved);
	cr_assert_str_eq(json_string_value(json_object_get(b, "MergeTitleField")), "Merge it");
	json_decref(log);
	cr_assert_eq(devsys_pr_refresh(pr), 0, "%s", err());
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_MERGED);
	/* merged already: not again */
	cr_assert_eq(f->vt.merge(f->self, &res, 1, &mr), DEVSYS_ESTATE);
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

/* Protection: POST, and on a re-run (403 "already exist") PATCH of the same rule. */
Test(gitea, branch_protection_is_created_then_edited)
{
	devsys_forge *f = forge("protect");
	const char *ctx[] = { "devsys/tests", "devsys/verify" };
	size_t at = log_count("protect");
	cr_assert_eq(devsys_forge_protect(f, "main", ctx, 2, 1, NULL), 0, "%s", err());
	json_t *log = log_from("protect", at);
	cr_assert_eq(json_array_size(log), 1, "%s", lines_of(log, "protect"));
	cr_assert_str_eq(line_of(log, 0, "protect"), "POST /branch_protections 201");
	const json_t *b = body_of(log, 0);
	cr_assert_str_eq(json_string_value(json_object_get(b, "rule_name")), "main");
	cr_assert(json_is_true(json_object_get(b, "enable_status_check")));
	cr_assert_eq(json_array_size(json_object_get(b, "status_check_contexts")), 2);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "status_check_contexts"), 1)),
	                 "devsys/verify");
	cr_assert_eq(json_integer_value(json_object_get(b, "required_approvals")), 1);
	cr_assert(json_is_false(json_object_get(b, "enable_push")), "nobody pushes to a protected branch");
	json_decref(log);

	at = log_count("protect");
	cr_assert_eq(devsys_forge_protect(f, "main", ctx, 1, 2, NULL), 0, "%s", err());
	log = log_from("protect", at);
	cr_assert_eq(json_array_size(log), 2, "%s", lines_of(log, "protect"));
	cr_assert_str_eq(line_of(log, 0, "protect"), "POST /branch_protections 403");
	cr_assert_str_eq(line_of(log, 1, "protect"), "PATCH /branch_protections/main 200");
	cr_assert_eq(json_integer_value(json_object_get(body_of(log, 1), "required_approvals")), 2);
	json_decref(log);
	devsys_forge_free(f);
}

/* ---- bad input: a clear error, nothing lost ---- */

Test(gitea, bad_token_and_missing_repository)
{
	setenv("F3_GITEA_TOKEN", "not-the-token", 1);
	devsys_forge *f = forge("auth");
	devsys_pr *pr = NULL;
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_EAUTH);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 401);
	cr_assert(strstr(err(), "gitea") && strstr(err(), "token"), "%s", err());
	cr_assert_null(strstr(err(), "not-the-token"), "%s", err());
	cr_assert(strstr(devsys_error_detail(devsys_error_last()), "user does not exist"));
	devsys_forge_free(f);
	json_t *log = log_from("auth", 0);
	cr_assert_eq(json_array_size(log), 1, "401 is not retried: %s", lines_of(log, "auth"));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "auth")), "bad");
	json_decref(log);

	/* the secrets set keeps what it resolved: a new one for the right token */
	setenv("F3_GITEA_TOKEN", TOKEN, 1);
	devsys_secrets_free(secrets);
	cr_assert_eq(devsys_secrets_new(&secrets, NULL), 0);
	f = forge("missing-repo");
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 404);
	cr_assert(strstr(err(), "missing-repo"), "%s", err());
	devsys_forge_free(f);
}

Test(gitea, unknown_label_is_refused_before_anything_is_created)
{
	devsys_forge *f = forge("labels");
	const char *labels[] = { "devsys", "no-such-label" };
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_pr *pr = NULL;
	po.title = "T";
	po.body = "b";
	po.head = "task/l";
	po.base = "main";
	po.labels = labels;
	po.nlabels = 2;
	cr_assert_eq(devsys_pr_open(&pr, f, &po), DEVSYS_EINVALID);
	cr_assert(strstr(err(), "no-such-label") && strstr(err(), "create it"), "%s", err());
	json_t *log = log_from("labels", 0);
	cr_assert_eq(json_array_size(log), 1, "only the label list was read: %s", lines_of(log, "labels"));
	json_decref(log);
	/* positive control: the known label alone works */
	po.nlabels = 1;
	cr_assert_eq(devsys_pr_open(&pr, f, &po), 0, "%s", err());
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

Test(gitea, a_422_and_a_409_that_is_not_already_exists_are_errors_not_reuse)
{
	devsys_forge *f = forge("conflict");
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_pr *pr = NULL;
	po.title = "T";
	po.body = "b";
	po.head = "task/c";
	po.base = "main";
	ctl("fault", "{\"match\": \"POST .*/conflict/pulls$\", \"times\": 1, \"status\": 422, "
	    "\"body\": {\"message\": \"[Base]: invalid branch\"}}");
	cr_assert_eq(devsys_pr_open(&pr, f, &po), DEVSYS_EINVALID);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 422);
	cr_assert(strstr(devsys_error_detail(devsys_error_last()), "invalid branch"));
	ctl("fault", "{\"match\": \"POST .*/conflict/pulls$\", \"times\": 1, \"status\": 409, "
	    "\"body\": {\"message\": \"repository is being migrated\"}}");
	size_t at = log_count("conflict");
	cr_assert_eq(devsys_pr_open(&pr, f, &po), DEVSYS_ECONFLICT);
	cr_assert(strstr(devsys_error_detail(devsys_error_last()), "being migrated"));
	json_t *log = log_from("conflict", at);
	cr_assert_eq(json_array_size(log), 1, "no look-up after another 409: %s", lines_of(log, "conflict"));
	json_decref(log);
	/* positive control: without the faults it opens */
	cr_assert_eq(devsys_pr_open(&pr, f, &po), 0, "%s", err());
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

Test(gitea, server_errors_are_retried_within_the_bound)
{
	devsys_forge *f = forge_ext("retry", 0, 2);
	devsys_pr *pr = open_pr(f, "task/x", "T", "b", 0, 0, 0);
	devsys_pr_free(pr);
	ctl("fault", "{\"match\": \"GET .*/retry/pulls/1$\", \"times\": 2, \"status\": 502, \"body\": \"bad gateway\"}");
	size_t at = log_count("retry");
	cr_assert_eq(devsys_pr_get(&pr, f, 1), 0, "two 502s, then an answer: %s", err());
	devsys_pr_free(pr);
	cr_assert_eq(log_count("retry") - at, 3);
	ctl("fault", "{\"match\": \"GET .*/retry/pulls/1$\", \"times\": 10, \"status\": 500, \"body\": "
	    "{\"message\": \"internal\"}}");
	at = log_count("retry");
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_ENETWORK);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 500);
	cr_assert_eq(log_count("retry") - at, 3, "1 + max_retries (2) attempts, no more");
	devsys_forge_free(f);
}

Test(gitea, malformed_truncated_and_slow_answers)
{
	devsys_forge *f = forge_ext("faults", 800, 0);
	devsys_pr *pr = open_pr(f, "task/x", "T", "b", 0, 0, 0);
	devsys_pr_free(pr);
	ctl("fault", "{\"match\": \"GET .*/faults/pulls/1$\", \"times\": 1, \"kind\": \"malformed\"}");
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_EPARSE);
	cr_assert(strstr(err(), "gitea"), "%s", err());
	ctl("fault", "{\"match\": \"GET .*/faults/pulls/1$\", \"times\": 1, \"kind\": \"truncate\"}");
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_EIO, "%s", err());
	ctl("fault", "{\"match\": \"GET .*/faults/pulls/1$\", \"times\": 1, \"kind\": \"slow\", \"delay\": 3}");
	uint64_t t0 = devsys__now_ns();
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_ETIMEOUT, "%s", err());
	cr_assert_lt(devsys__now_ns() - t0, 2500000000ull, "the 800 ms timeout, not the 3 s delay");
	/* a well-formed answer of the wrong shape: the field is named */
	ctl("fault", "{\"match\": \"GET .*/faults/pulls/1$\", \"times\": 1, \"status\": 200, \"body\": {\"number\": 1}}");
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_EPARSE);
	cr_assert(strstr(err(), "'html_url'"), "%s", err());
	/* positive control: the same call works without a fault */
	cr_assert_eq(devsys_pr_get(&pr, f, 1), 0, "%s", err());
	devsys_pr_free(pr);
	devsys_forge_free(f);
}

/* The token in a PR body is masked before it is sent: the upstream never received it. */
Test(gitea, a_body_carrying_the_token_is_masked_before_it_is_sent)
{
	devsys_forge *f = forge("mask");
	devsys_masker *m = NULL;
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_pr *pr = NULL;
	cr_assert_eq(devsys_secrets_masker(&m, secrets), 0);
	cr_assert_eq(devsys_masker_count(m), 1, "the forge's token came through the secrets module");
	po.title = "T " TOKEN;
	po.body = "the agent pasted " TOKEN " here";
	po.head = "task/mask";
	po.base = "main";
	po.masker = m;
	cr_assert_eq(devsys_pr_open(&pr, f, &po), 0, "%s", err());
	char *text = dt_forge_log_text();
	cr_assert_null(strstr(text, TOKEN), "the upstream received the token");
	free(text);
	json_t *log = log_from("mask", 0);
	const json_t *b = body_of(log, 0);
	const char *body = json_string_value(json_object_get(b, "body"));
	cr_assert(body && strstr(body, "the agent pasted ") && strstr(body, " here"), "%s", body);
	cr_assert_str_neq(body, po.body);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "auth")), "ok",
	                 "the token itself went in the header");
	json_decref(log);
	devsys_pr_free(pr);
	devsys_masker_free(m);
	devsys_forge_free(f);
}

/* The gate over the gitea provider: files, authors, reviews and statuses
 * read (5 requests), an approval on the head by a human counted, the bot's
 * not, and the merge at the decided head. */
Test(gitea, gate_decides_from_giteas_reads_and_merges_at_the_head)
{
	const char *yaml = "policy:\n  required_contexts: [devsys/tests]\n";
	devsys_config *cfg = NULL;
	const devsys_policy *pol = NULL;
	devsys_policy_decision *d = NULL;
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	cr_assert_eq(devsys_config_parse(&cfg, yaml, strlen(yaml), "devsys.yaml"), 0, "%s", err());
	cr_assert_eq(devsys_config_policy(&pol, cfg), 0);
	go.policy = pol;

	devsys_forge *f = forge("gate");
	devsys_pr *pr = open_pr(f, "task/g", "T", "b", 0, 0, 0);
	char head[41];
	snprintf(head, sizeof(head), "%s", devsys_pr_head_sha(pr));
	ctl("files", "{\"owner\": \"%s\", \"repo\": \"gate\", \"number\": 1, \"count\": 2}", OWNER);
	cr_assert_eq(devsys_forge_set_status(f, head, "devsys/tests", DEVSYS_CHECK_SUCCESS, NULL, NULL), 0, "%s", err());
	ctl("review", "{\"owner\": \"%s\", \"repo\": \"gate\", \"number\": 1, \"user\": \"devsys-bot\", \"commit_id\": "
	    "\"%s\", \"state\": \"APPROVED\"}", OWNER, head);

	size_t at = log_count("gate");
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", err());
	json_t *log = log_from("gate", at);
	cr_assert_eq(json_array_size(log), 5, "gate check budget: %s", lines_of(log, "gate"));
	json_decref(log);
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_AWAITING_REVIEW, "the bot's approval never counts");
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_CRITICAL, "src/** is critical");
	devsys_policy_decision_free(d);
	d = NULL;

	ctl("review", "{\"owner\": \"%s\", \"repo\": \"gate\", \"number\": 1, \"user\": \"carol\", \"commit_id\": "
	    "\"%s\", \"state\": \"APPROVED\"}", OWNER, head);
	at = log_count("gate");
	cr_assert_eq(devsys_gate_merge(&d, pr, &go), 0, "%s", err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_MERGE);
	log = log_from("gate", at);
	cr_assert_eq(json_array_size(log), 8, "check (5) and merge (3): %s", lines_of(log, "gate"));
	cr_assert_str_eq(line_of(log, 6, "gate"), "POST /pulls/1/merge 200");
	cr_assert_str_eq(json_string_value(json_object_get(body_of(log, 6), "head_commit_id")), head);
	cr_assert_str_eq(json_string_value(json_object_get(body_of(log, 6), "Do")), "squash",
	                 "the merge_method of the forges: entry");
	json_decref(log);
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_MERGED);
	cr_assert_not_null(devsys_pr_merge_sha(pr));
	devsys_policy_decision_free(d);
	devsys_pr_free(pr);
	devsys_forge_free(f);
	devsys_config_free(cfg);
}

/* A rate limit whose reset is far ahead fails at once and says when to retry. */
Test(gitea, a_rate_limit_far_ahead_fails_clearly_with_when_to_retry)
{
	devsys_forge *f = forge("limit");
	devsys_pr *pr = NULL;
	ctl("fault", "{\"match\": \"GET .*/limit/pulls/1$\", \"times\": 1, \"status\": 429, \"headers\": "
	    "{\"Retry-After\": \"3600\"}, \"body\": {\"message\": \"rate limit exceeded\"}}");
	uint64_t t0 = devsys__now_ns();
	cr_assert_eq(devsys_pr_get(&pr, f, 1), DEVSYS_ELIMIT);
	cr_assert_lt(devsys__now_ns() - t0, 5000000000ull, "it did not wait the hour");
	cr_assert(strstr(err(), "rate limited") && strstr(err(), "retry after"), "%s", err());
	cr_assert_eq(log_count("limit"), 1, "not retried");
	devsys_forge_free(f);
}

/* Gitea computes mergeability in the background: a 405 "Please try again
 * later" is asked again (bounded); another 405 is a clear refusal at once. */
Test(gitea, merge_asks_again_while_gitea_says_try_later_and_refuses_other_405s)
{
	devsys_forge *f = forge("later");
	devsys_pr *pr = open_pr(f, "task/l1", "T", "b", 0, 0, 0);
	char sha[41];
	snprintf(sha, sizeof(sha), "%s", devsys_pr_head_sha(pr));
	devsys_pr_free(pr);
	devsys_forge_merge_request mr = { DEVSYS_FORGE_MERGE_REQUEST_VERSION, sha, DEVSYS_FORGE_MERGE_COMMIT, NULL, NULL };
	devsys_forge_merge_result res = { DEVSYS_FORGE_MERGE_RESULT_VERSION, NULL };
	ctl("fault", "{\"match\": \"POST .*/later/pulls/1/merge$\", \"times\": 1, \"status\": 405, \"body\": "
	    "{\"message\": \"Please try again later\"}}");
	size_t at = log_count("later");
	cr_assert_eq(f->vt.merge(f->self, &res, 1, &mr), 0, "%s", err());
	json_t *log = log_from("later", at);
	cr_assert_eq(json_array_size(log), 4, "%s", lines_of(log, "later"));
	cr_assert_str_eq(line_of(log, 1, "later"), "POST /pulls/1/merge 405");
	cr_assert_str_eq(line_of(log, 2, "later"), "POST /pulls/1/merge 200");
	cr_assert_str_eq(json_string_value(json_object_get(body_of(log, 2), "Do")), "merge");
	json_decref(log);

	pr = open_pr(f, "task/l2", "T", "b", 0, 0, 0);
	snprintf(sha, sizeof(sha), "%s", devsys_pr_head_sha(pr));
	devsys_pr_free(pr);
	ctl("fault", "{\"match\": \"POST .*/later/pulls/2/merge$\", \"times\": 5, \"status\": 405, \"body\": "
	    "{\"message\": \"Work in progress PRs cannot be merged\"}}");
	at = log_count("later");
	cr_assert_eq(f->vt.merge(f->self, &res, 2, &mr), DEVSYS_ECONFLICT);
	cr_assert(strstr(err(), "not mergeable") && strstr(err(), "HTTP 405"), "%s", err());
	cr_assert(strstr(devsys_error_detail(devsys_error_last()), "Work in progress"));
	cr_assert_eq(log_count("later") - at, 2, "read, one merge request: not asked again");
	devsys_forge_free(f);
}
