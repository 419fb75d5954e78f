/*
 * The github provider's JSON decoders on GitHub's own examples (from
 * @octokit/openapi's api.github.com.json) and on answers that break the
 * types: each must fail naming the field.
 */
#include "forge/forge_int.h"
#include "forge/github/github_int.h"
#include "forge_fixture.h"
#include "testutil.h"

#include <jansson.h>
#include <string.h>

static json_t *spec;

/* The examples these tests read, cut once from GitHub's 13 MB description
 * (loading all of it in every test's process costs a minute under ASan). */
static const char *const names = "pull-request pull-request-simple-items pull-request-review-items "
                                 "combined-commit-status check-run-paginated diff-entry-items commit-items "
                                 "pull-request-merge-result-response-if-merge-was-successful";
static char *extract_dir;

ReportHook(PRE_ALL)(struct criterion_test_set *s)
{
	(void)s;
	char *p = dt_forge_spec_path();
	if (!p) {
		setenv("DT_GH_EXAMPLES_SKIP", "GitHub's OpenAPI description is not installed: run scripts/bootstrap", 1);
		return;
	}
	extract_dir = dt_tmpdir("ghjson");
	char out[1024];
	snprintf(out, sizeof(out), "%s/examples.json", extract_dir);
	if (dt_sh("/usr/bin/python3 -c 'import json,sys; ex=json.load(open(sys.argv[1]))[\"components\"][\"examples\"]; "
	          "json.dump({k: ex[k][\"value\"] for k in sys.argv[3:]}, open(sys.argv[2], \"w\"))' '%s' '%s' %s",
	          p, out, names) == 0)
		setenv("DT_GH_EXAMPLES", out, 1);
	else
		setenv("DT_GH_EXAMPLES_SKIP", "could not cut the examples out of GitHub's description with /usr/bin/python3",
		       1);
	free(p);
}
ReportHook(POST_ALL)(struct criterion_global_stats *s)
{
	(void)s;
	if (extract_dir)
		dt_rmrf(extract_dir);
	free(extract_dir);
}

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
}
static void teardown(void)
{
	json_decref(spec);
	spec = NULL;
	devsys_shutdown();
}
TestSuite(github_json, .init = setup, .fini = teardown, .timeout = 60);

/* GitHub's example @p name (borrowed from the loaded examples). */
static json_t *example(const char *name)
{
	if (!spec) {
		const char *p = getenv("DT_GH_EXAMPLES");
		json_error_t e;
		if (!p)
			dt_skip("%s", getenv("DT_GH_EXAMPLES_SKIP") ? getenv("DT_GH_EXAMPLES_SKIP") : "no examples");
		spec = json_load_file(p, 0, &e);
		cr_assert_not_null(spec, "%s: %s", p, e.text);
	}
	json_t *v = json_object_get(spec, name);
	cr_assert_not_null(v, "example %s", name);
	return v;
}

static json_t *parse(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	cr_assert_not_null(j, "%s", text);
	return j;
}

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

static devsys_forge_pr_info info(void)
{
	devsys_forge_pr_info i;
	memset(&i, 0, sizeof(i));
	i.version = DEVSYS_FORGE_PR_INFO_VERSION;
	return i;
}

Test(github_json, pull_request_example)
{
	devsys_forge_pr_info i = info();
	json_t *pr = example("pull-request");
	cr_assert_eq(devsys__gh_decode_pr(&i, pr), 0, "%s", errmsg());
	cr_expect_eq(i.number, 1347);
	cr_expect_str_eq(i.head, "new-topic");
	cr_expect_str_eq(i.base, "master");
	cr_expect_str_eq(i.head_sha, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
	cr_expect_str_eq(i.author, "octocat");
	cr_expect_eq(i.state, DEVSYS_PR_OPEN);
	cr_expect_null(i.merge_sha, "an open PR's test-merge commit is not a merge");
	cr_expect(devsys__gh_pr_has_label(pr, "bug"));
	cr_expect(devsys__gh_pr_has_reviewer(pr, "other_user"));
	cr_expect(devsys__gh_pr_has_team(pr, "justice-league"));
	cr_expect(!devsys__gh_pr_has_label(pr, "nope"));
	/* List items (pull-request-simple) decode the same way. */
	json_t *items = example("pull-request-simple-items");
	i = info();
	cr_assert_eq(devsys__gh_decode_pr(&i, json_array_get(items, 0)), 0, "%s", errmsg());
	cr_expect_eq(i.number, 1347);
}

Test(github_json, pull_request_wrong_types_name_the_field)
{
	static const struct {
		const char *key, *sub, *value, *field;
	} cases[] = {
		{ "number", NULL, "\"1347\"", "'number'" },
		{ "number", NULL, "0", "'number'" },
		{ "title", NULL, "null", "'title'" },
		{ "state", NULL, "true", "'state'" },
		{ "state", NULL, "\"draft\"", "'draft'" },
		{ "head", "sha", "42", "'head.sha'" },
		{ "head", NULL, "[]", "'head'" },
		{ "base", "ref", "null", "'base.ref'" },
		{ "draft", NULL, "\"yes\"", "'draft'" },
		{ "user", NULL, "\"octocat\"", "'user'" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		json_t *pr = json_deep_copy(example("pull-request")), *v = parse(cases[k].value);
		json_t *at = cases[k].sub ? json_object_get(pr, cases[k].key) : pr;
		json_object_set_new(at, cases[k].sub ? cases[k].sub : cases[k].key, v);
		devsys_forge_pr_info i = info();
		cr_expect_eq(devsys__gh_decode_pr(&i, pr), DEVSYS_EPARSE, "case %zu", k);
		cr_expect_not_null(strstr(errmsg(), cases[k].field), "case %zu: %s", k, errmsg());
		json_decref(pr);
	}
	/* A list item has no "merged": then merged_at's type is checked. */
	json_t *item = json_deep_copy(example("pull-request"));
	json_object_del(item, "merged");
	json_object_set_new(item, "merged_at", json_integer(5));
	devsys_forge_pr_info i = info();
	cr_expect_eq(devsys__gh_decode_pr(&i, item), DEVSYS_EPARSE);
	cr_expect_not_null(strstr(errmsg(), "'merged_at'"), "%s", errmsg());
	json_decref(item);
	i = info();
	json_t *arr = parse("[]");
	cr_expect_eq(devsys__gh_decode_pr(&i, arr), DEVSYS_EPARSE);
	json_decref(arr);
}

Test(github_json, merged_pull_request)
{
	json_t *pr = json_deep_copy(example("pull-request"));
	json_object_set_new(pr, "merged", json_true());
	json_object_set_new(pr, "state", json_string("closed"));
	devsys_forge_pr_info i = info();
	cr_assert_eq(devsys__gh_decode_pr(&i, pr), 0, "%s", errmsg());
	cr_expect_eq(i.state, DEVSYS_PR_MERGED);
	cr_expect_str_eq(i.merge_sha, "e5bd3914e2e596debea16f433f57875b5b90bcd6");
	json_object_set_new(pr, "merged", json_false());
	i = info();
	cr_assert_eq(devsys__gh_decode_pr(&i, pr), 0);
	cr_expect_eq(i.state, DEVSYS_PR_CLOSED);
	json_decref(pr);
}

Test(github_json, already_exists_is_told_apart_by_the_body)
{
	json_t *real = parse("{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":\"PullRequest\",\"code\":"
	                     "\"custom\",\"message\":\"A pull request already exists for octo:task/42.\"}],"
	                     "\"documentation_url\":\"https://docs.github.com/rest\",\"status\":\"422\"}");
	json_t *mock = parse("{\"message\":\"string\",\"documentation_url\":\"string\",\"errors\":[{\"resource\":"
	                     "\"string\",\"field\":\"string\",\"message\":\"string\",\"code\":\"string\"}]}");
	json_t *other = parse("{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":\"PullRequest\","
	                      "\"field\":\"head\",\"code\":\"invalid\"}]}");
	json_t *top = parse("{\"message\":\"A pull request already exists for octo:x.\"}");
	json_t *typed = parse("{\"message\":7,\"errors\":\"A pull request already exists for octo:x.\"}");
	cr_expect(devsys__gh_is_already_exists(real));
	cr_expect(devsys__gh_is_already_exists(top));
	cr_expect(!devsys__gh_is_already_exists(mock), "Prism's mock 422 is never 'already exists'");
	cr_expect(!devsys__gh_is_already_exists(other));
	cr_expect(!devsys__gh_is_already_exists(typed));
	cr_expect(!devsys__gh_is_already_exists(NULL));
	json_decref(real);
	json_decref(mock);
	json_decref(other);
	json_decref(top);
	json_decref(typed);
}

Test(github_json, review_items_example_and_states)
{
	json_t *items = example("pull-request-review-items");
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	bool skip;
	cr_assert_eq(devsys__gh_decode_review(&r, &skip, json_array_get(items, 0), 0), 0, "%s", errmsg());
	cr_expect_not(skip);
	cr_expect_str_eq(r.reviewer, "octocat");
	cr_expect_str_eq(r.commit_sha, "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091");
	cr_expect_eq(r.state, DEVSYS_REVIEW_APPROVED);

	json_t *ghost = parse("{\"user\":null,\"commit_id\":\"ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091\","
	                      "\"state\":\"APPROVED\"}");
	cr_assert_eq(devsys__gh_decode_review(&r, &skip, ghost, 1), 0, "%s", errmsg());
	cr_expect(skip, "a deleted account's approval never counts");
	json_decref(ghost);
	json_t *gone = parse("{\"user\":{\"login\":\"a\"},\"commit_id\":null,\"state\":\"APPROVED\"}");
	cr_assert_eq(devsys__gh_decode_review(&r, &skip, gone, 2), 0, "%s", errmsg());
	cr_expect(skip, "an approval of a commit GitHub no longer has never counts");
	json_decref(gone);
	json_t *bad = parse("{\"user\":{\"login\":\"a\"},\"commit_id\":\"x\",\"state\":\"LGTM\"}");
	cr_expect_eq(devsys__gh_decode_review(&r, &skip, bad, 3), DEVSYS_EPARSE);
	cr_expect_not_null(strstr(errmsg(), "review [3]"), "%s", errmsg());
	cr_expect_not_null(strstr(errmsg(), "LGTM"), "%s", errmsg());
	json_decref(bad);
	json_t *login = parse("{\"user\":{\"login\":5},\"commit_id\":\"x\",\"state\":\"APPROVED\"}");
	cr_expect_eq(devsys__gh_decode_review(&r, &skip, login, 0), DEVSYS_EPARSE);
	cr_expect_not_null(strstr(errmsg(), "'user'"), "%s", errmsg());
	json_decref(login);
}

Test(github_json, combined_status_and_check_runs_examples)
{
	devsys_forge_sink s;
	const char *sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_assert_eq(devsys__gh_decode_combined(&s, example("combined-commit-status"), sha), 0, "%s", errmsg());
	cr_assert_eq(s.n, 2);
	cr_expect_str_eq(s.items[0].a, "continuous-integration/jenkins");
	cr_expect_eq(s.items[0].state, DEVSYS_CHECK_SUCCESS);
	cr_expect_str_eq(s.items[1].a, "security/brakeman");
	cr_expect_eq(s.items[0].kind, DEVSYS_CHECK_STATUS);
	devsys__sink_dispose(&s);

	size_t count;
	int64_t total;
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_assert_eq(devsys__gh_decode_check_runs(&s, &count, &total, example("check-run-paginated")), 0, "%s",
	             errmsg());
	cr_expect_eq(count, 1);
	cr_expect_eq(total, 1);
	cr_expect_str_eq(s.items[0].a, "mighty_readme");
	cr_expect_eq(s.items[0].state, DEVSYS_CHECK_NEUTRAL, "the example's conclusion is neutral");
	cr_expect_eq(s.items[0].kind, DEVSYS_CHECK_RUN);
	devsys__sink_dispose(&s);

	static const struct {
		const char *json;
		int rc;
		int state;
		const char *says;
	} runs[] = {
		{ "{\"name\":\"t\",\"head_sha\":\"a\",\"status\":\"completed\",\"conclusion\":\"success\"}", 0,
		  DEVSYS_CHECK_SUCCESS, NULL },
		{ "{\"name\":\"t\",\"head_sha\":\"a\",\"status\":\"queued\",\"conclusion\":null}", 0, DEVSYS_CHECK_PENDING,
		  NULL },
		{ "{\"name\":\"t\",\"head_sha\":\"a\",\"status\":\"completed\",\"conclusion\":\"timed_out\"}", 0,
		  DEVSYS_CHECK_FAILURE, NULL },
		{ "{\"name\":\"t\",\"head_sha\":\"a\",\"status\":\"completed\",\"conclusion\":\"skipped\"}", 0,
		  DEVSYS_CHECK_NEUTRAL, NULL },
		{ "{\"name\":\"t\",\"head_sha\":\"a\",\"status\":\"completed\",\"conclusion\":null}", DEVSYS_EPARSE, 0,
		  "null" },
		{ "{\"name\":\"t\",\"head_sha\":\"a\",\"status\":\"completed\",\"conclusion\":\"great\"}", DEVSYS_EPARSE, 0,
		  "great" },
		{ "{\"name\":1,\"head_sha\":\"a\",\"status\":\"completed\"}", DEVSYS_EPARSE, 0, "'name'" },
		{ "{\"name\":\"t\",\"status\":\"completed\"}", DEVSYS_EPARSE, 0, "'head_sha'" },
	};
	for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		char text[512];
		snprintf(text, sizeof(text), "{\"total_count\":1,\"check_runs\":[%s]}", runs[k].json);
		json_t *j = parse(text);
		devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
		cr_expect_eq(devsys__gh_decode_check_runs(&s, &count, &total, j), runs[k].rc, "case %zu: %s", k, errmsg());
		if (runs[k].rc == 0)
			cr_expect_eq(s.items[0].state, runs[k].state, "case %zu", k);
		else
			cr_expect_not_null(strstr(errmsg(), runs[k].says), "case %zu: %s", k, errmsg());
		devsys__sink_dispose(&s);
		json_decref(j);
	}
	json_t *nototal = parse("{\"check_runs\":[]}");
	cr_expect_eq(devsys__gh_decode_check_runs(&s, &count, &total, nototal), DEVSYS_EPARSE);
	cr_expect_not_null(strstr(errmsg(), "'total_count'"), "%s", errmsg());
	json_decref(nototal);
	json_t *badstate = parse("{\"sha\":\"a\",\"statuses\":[{\"context\":\"c\",\"state\":\"green\"}]}");
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_expect_eq(devsys__gh_decode_combined(&s, badstate, NULL), DEVSYS_EPARSE);
	cr_expect_not_null(strstr(errmsg(), "statuses[0]"), "%s", errmsg());
	devsys__sink_dispose(&s);
	json_decref(badstate);
}

Test(github_json, files_commits_merge_examples)
{
	const char *path, *old, *login, *name, *email, *sha;
	json_t *files = example("diff-entry-items");
	cr_assert_eq(devsys__gh_decode_file(&path, &old, json_array_get(files, 0), 0), 0, "%s", errmsg());
	cr_expect_str_eq(path, "file1.txt");
	cr_expect_null(old);
	json_t *ren = parse("{\"filename\":\"b.c\",\"status\":\"renamed\",\"previous_filename\":\"a.c\"}");
	cr_assert_eq(devsys__gh_decode_file(&path, &old, ren, 1), 0, "%s", errmsg());
	cr_expect_str_eq(old, "a.c");
	json_decref(ren);
	json_t *ren2 = parse("{\"filename\":\"b.c\",\"status\":\"renamed\"}");
	cr_expect_eq(devsys__gh_decode_file(&path, &old, ren2, 7), DEVSYS_EPARSE);
	cr_expect_not_null(strstr(errmsg(), "files[7]"), "%s", errmsg());
	json_decref(ren2);

	json_t *commits = example("commit-items");
	cr_assert_eq(devsys__gh_decode_commit_author(&login, &name, &email, json_array_get(commits, 0), 0), 0, "%s",
	             errmsg());
	cr_expect_str_eq(login, "octocat");
	cr_expect_str_eq(email, "support@github.com");
	json_t *noacct = parse("{\"author\":null,\"commit\":{\"author\":{\"name\":\"A\",\"email\":\"a@x\"}}}");
	cr_assert_eq(devsys__gh_decode_commit_author(&login, &name, &email, noacct, 0), 0, "%s", errmsg());
	cr_expect_null(login);
	cr_expect_str_eq(email, "a@x");
	json_decref(noacct);

	cr_assert_eq(devsys__gh_decode_merge(&sha, example("pull-request-merge-result-response-if-merge-was-successful")),
	             0, "%s", errmsg());
	cr_expect_str_eq(sha, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
	json_t *notmerged = parse("{\"sha\":\"a\",\"merged\":false,\"message\":\"no\"}");
	cr_expect_eq(devsys__gh_decode_merge(&sha, notmerged), DEVSYS_ECONFLICT);
	json_decref(notmerged);
}
