/*
 * The gitea provider's codecs (lib/forge/gitea/codec.c): the WIP prefix,
 * path-segment encoding, and the strict JSON decoders, on Gitea-shaped
 * answers written after Gitea's API documentation. No server here.
 */
#include "forge/gitea/gitea_int.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <string.h>

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	cr_assert_not_null(j, "bad test JSON: %s: %s", text, e.text);
	return j;
}

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

#define PR_OK                                                                                          \
	"{\"number\": 7, \"html_url\": \"http://g/o/r/pulls/7\", \"title\": \"%s\", \"state\": \"%s\", " \
	"\"merged\": %s, \"merge_commit_sha\": \"abc\", \"user\": {\"login\": \"bot\"}, "                \
	"\"head\": {\"ref\": \"task/1\", \"sha\": \"1111111111111111111111111111111111111111\"}, "         \
	"\"base\": {\"ref\": \"main\", \"sha\": \"2222\"}}"

static json_t *pr_json(const char *title, const char *state, const char *merged)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), PR_OK, title, state, merged);
	return J(buf);
}

Test(gitea_codec, wip_prefix_is_read_in_both_default_forms_any_case)
{
	cr_assert_eq(devsys__gt_wip_len("WIP: x"), 5);
	cr_assert_eq(devsys__gt_wip_len("wip:x"), 4);
	cr_assert_eq(devsys__gt_wip_len("[WIP]  x"), 7);
	cr_assert_eq(devsys__gt_wip_len("[wip]x"), 5);
	cr_assert_eq(devsys__gt_wip_len("WIPE: x"), 0);
	cr_assert_eq(devsys__gt_wip_len("x WIP: y"), 0);
	cr_assert_eq(devsys__gt_wip_len(NULL), 0);
}

Test(gitea_codec, a_branch_is_one_percent_encoded_segment)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys__gt_put_segment(&b, "task/42"), 0);
	cr_assert_str_eq(b.ptr, "task%2F42");
	devsys_buf_clear(&b);
	cr_assert_eq(devsys__gt_put_segment(&b, "a b%c?d#e:f~g_h.i-j"), 0);
	cr_assert_str_eq(b.ptr, "a%20b%25c%3Fd%23e%3Af~g_h.i-j");
	devsys_buf_clear(&b);
	cr_assert_eq(devsys__gt_put_segment(&b, "\xc3\xa9"), 0);
	cr_assert_str_eq(b.ptr, "%C3%A9");
	devsys_buf_dispose(&b);
}

Test(gitea_codec, pr_decodes_state_draft_from_the_prefix_and_title_without_it)
{
	devsys_forge_pr_info o;
	json_t *j = pr_json("WIP: add x", "open", "false");
	memset(&o, 0, sizeof(o));
	o.version = DEVSYS_FORGE_PR_INFO_VERSION;
	cr_assert_eq(devsys__gt_decode_pr(&o, j), 0, "%s", errmsg());
	cr_assert_eq(o.number, 7);
	cr_assert_eq(o.state, DEVSYS_PR_OPEN);
	cr_assert(o.draft);
	cr_assert_str_eq(o.title, "add x");
	cr_assert_str_eq(o.head, "task/1");
	cr_assert_str_eq(o.base, "main");
	cr_assert_str_eq(o.author, "bot");
	cr_assert_null(o.merge_sha, "an open PR's merge_commit_sha is Gitea's test merge, not a merge");
	json_decref(j);

	j = pr_json("add x", "closed", "true");
	cr_assert_eq(devsys__gt_decode_pr(&o, j), 0, "%s", errmsg());
	cr_assert_eq(o.state, DEVSYS_PR_MERGED);
	cr_assert_not(o.draft);
	cr_assert_str_eq(o.merge_sha, "abc");
	json_decref(j);

	j = pr_json("add x", "closed", "false");
	cr_assert_eq(devsys__gt_decode_pr(&o, j), 0);
	cr_assert_eq(o.state, DEVSYS_PR_CLOSED);
	json_decref(j);

	/* a newer server's draft field counts too */
	j = J("{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"state\": \"open\", \"draft\": true, "
	      "\"head\": {\"ref\": \"h\", \"sha\": \"s\"}, \"base\": {\"ref\": \"b\"}, \"user\": null}");
	cr_assert_eq(devsys__gt_decode_pr(&o, j), 0, "%s", errmsg());
	cr_assert(o.draft);
	cr_assert_null(o.author);
	json_decref(j);
}

Test(gitea_codec, pr_with_a_wrong_field_fails_naming_it)
{
	static const char *cases[][2] = {
		{ "[]", "not a JSON object" },
		{ "{\"number\": \"7\"}", "'number'" },
		{ "{\"number\": 0}", "'number'" },
		{ "{\"number\": 1, \"title\": \"t\"}", "'html_url'" },
		{ "{\"number\": 1, \"html_url\": \"u\"}", "'title'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\"}", "'head'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": 3}}", "'head.ref'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": \"h\"}}", "'head.sha'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": \"h\", \"sha\": \"s\"}, "
		  "\"base\": {}}", "'base.ref'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": \"h\", \"sha\": \"s\"}, "
		  "\"base\": {\"ref\": \"b\"}, \"state\": \"merged\"}", "'state'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": \"h\", \"sha\": \"s\"}, "
		  "\"base\": {\"ref\": \"b\"}, \"state\": \"open\", \"merged\": \"no\"}", "'merged'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": \"h\", \"sha\": \"s\"}, "
		  "\"base\": {\"ref\": \"b\"}, \"state\": \"open\", \"user\": \"bot\"}", "'user'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": \"h\", \"sha\": \"s\"}, "
		  "\"base\": {\"ref\": \"b\"}, \"state\": \"open\", \"draft\": 1}", "'draft'" },
		{ "{\"number\": 1, \"html_url\": \"u\", \"title\": \"t\", \"head\": {\"ref\": \"h\", \"sha\": \"s\"}, "
		  "\"base\": {\"ref\": \"b\"}, \"state\": \"open\", \"merge_commit_sha\": 5}", "'merge_commit_sha'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		devsys_forge_pr_info o;
		json_t *j = J(cases[i][0]);
		memset(&o, 0, sizeof(o));
		cr_assert_eq(devsys__gt_decode_pr(&o, j), DEVSYS_EPARSE, "case %zu", i);
		cr_assert(strstr(errmsg(), cases[i][1]) && strstr(errmsg(), "gitea"), "case %zu: %s", i, errmsg());
		json_decref(j);
	}
}

Test(gitea_codec, label_ids_by_name_and_a_bad_entry_is_an_error)
{
	json_t *l = J("[{\"id\": 11, \"name\": \"devsys\"}, {\"id\": 12, \"name\": \"risk:low\"}]");
	json_int_t id = 0;
	int rc;
	cr_assert(devsys__gt_label_id(&id, &rc, l, "risk:low"));
	cr_assert_eq(id, 12);
	cr_assert_not(devsys__gt_label_id(&id, &rc, l, "Risk:Low"), "names are exact");
	cr_assert_eq(rc, 0);
	json_decref(l);
	l = J("[{\"id\": \"11\", \"name\": \"devsys\"}]");
	cr_assert_not(devsys__gt_label_id(&id, &rc, l, "devsys"));
	cr_assert_eq(rc, DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "labels[0]"), "%s", errmsg());
	json_decref(l);
}

Test(gitea_codec, only_the_already_exists_409_means_reuse)
{
	json_t *yes = J("{\"message\": \"pull request already exists for these targets [id: 1, issue_id: 2, "
	                "head_repo_id: 1, base_repo_id: 1, head_branch: task/1, base_branch: main]\"}");
	json_t *no = J("{\"message\": \"head out of date\"}");
	json_t *odd = J("{\"msg\": \"pull request already exists\"}");
	cr_assert(devsys__gt_is_already_exists(yes));
	cr_assert_not(devsys__gt_is_already_exists(no));
	cr_assert_not(devsys__gt_is_already_exists(odd));
	cr_assert_not(devsys__gt_is_already_exists(NULL));
	json_decref(yes);
	json_decref(no);
	json_decref(odd);
	json_t *p = J("{\"message\": \"Branch protection already exist\"}");
	cr_assert(devsys__gt_is_protection_exists(p));
	json_decref(p);
}

Test(gitea_codec, review_states_dismissed_and_what_never_counts)
{
	static const struct {
		const char *json;
		int rc, state;
		bool skip;
	} cases[] = {
		{ "{\"state\": \"APPROVED\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"c1\"}", 0, DEVSYS_REVIEW_APPROVED, false },
		{ "{\"state\": \"REQUEST_CHANGES\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"c1\"}", 0,
		  DEVSYS_REVIEW_CHANGES_REQUESTED, false },
		{ "{\"state\": \"COMMENT\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"c1\"}", 0, DEVSYS_REVIEW_COMMENTED, false },
		{ "{\"state\": \"PENDING\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"c1\"}", 0, DEVSYS_REVIEW_PENDING, false },
		{ "{\"state\": \"APPROVED\", \"dismissed\": true, \"user\": {\"login\": \"a\"}, \"commit_id\": \"c1\"}", 0,
		  DEVSYS_REVIEW_DISMISSED, false },
		{ "{\"state\": \"REQUEST_REVIEW\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"\"}", 0, -1, true },
		{ "{\"state\": \"\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"c1\"}", 0, -1, true },
		{ "{\"state\": \"APPROVED\", \"user\": null, \"commit_id\": \"c1\"}", 0, DEVSYS_REVIEW_APPROVED, true },
		{ "{\"state\": \"APPROVED\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"\"}", 0, DEVSYS_REVIEW_APPROVED, true },
		{ "{\"state\": \"LGTM\", \"user\": {\"login\": \"a\"}, \"commit_id\": \"c1\"}", DEVSYS_EPARSE, -1, false },
		{ "{\"user\": {\"login\": \"a\"}}", DEVSYS_EPARSE, -1, false },
		{ "{\"state\": \"APPROVED\", \"dismissed\": \"yes\"}", DEVSYS_EPARSE, -1, false },
		{ "{\"state\": \"APPROVED\", \"user\": [], \"commit_id\": \"c\"}", DEVSYS_EPARSE, -1, false },
		{ "{\"state\": \"APPROVED\", \"user\": {\"login\": \"a\"}, \"commit_id\": 5}", DEVSYS_EPARSE, -1, false },
		{ "3", DEVSYS_EPARSE, -1, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
		bool skip = false;
		json_t *j = J(cases[i].json);
		r.state = -1;
		cr_assert_eq(devsys__gt_decode_review(&r, &skip, j, i), cases[i].rc, "case %zu: %s", i, errmsg());
		if (cases[i].rc == 0) {
			cr_assert_eq(skip, cases[i].skip, "case %zu", i);
			if (!skip)
				cr_assert_eq(r.state, cases[i].state, "case %zu", i);
		} else {
			cr_assert(strstr(errmsg(), "reviews["), "case %zu: %s", i, errmsg());
		}
		json_decref(j);
	}
}

Test(gitea_codec, combined_status_reads_giteas_status_field_and_refuses_unknown_states)
{
	devsys_forge_sink s;
	size_t count;
	int64_t total;
	json_t *j = J("{\"state\": \"pending\", \"total_count\": 4, \"statuses\": ["
	              "{\"context\": \"devsys/tests\", \"status\": \"success\"},"
	              "{\"context\": \"devsys/deploy\", \"status\": \"pending\"},"
	              "{\"context\": \"devsys/verify\", \"status\": \"error\"},"
	              "{\"context\": \"ci / build (push)\", \"status\": \"warning\"}]}");
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_assert_eq(devsys__gt_decode_combined(&s, &count, &total, j, "abcd"), 0, "%s", errmsg());
	cr_assert_eq(count, 4);
	cr_assert_eq(total, 4);
	cr_assert_eq(s.n, 4);
	cr_assert_str_eq(s.items[0].a, "devsys/tests");
	cr_assert_str_eq(s.items[0].b, "abcd");
	cr_assert_eq(s.items[0].state, DEVSYS_CHECK_SUCCESS);
	cr_assert_eq(s.items[1].state, DEVSYS_CHECK_PENDING);
	cr_assert_eq(s.items[2].state, DEVSYS_CHECK_FAILURE);
	cr_assert_eq(s.items[3].state, DEVSYS_CHECK_NEUTRAL);
	cr_assert_eq(s.items[0].kind, DEVSYS_CHECK_STATUS);
	devsys__sink_dispose(&s);
	json_decref(j);

	/* none yet: Gitea sends null */
	j = J("{\"state\": \"\", \"total_count\": 0, \"statuses\": null}");
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	cr_assert_eq(devsys__gt_decode_combined(&s, &count, &total, j, "abcd"), 0);
	cr_assert_eq(s.n, 0);
	devsys__sink_dispose(&s);
	json_decref(j);

	static const char *bad[][2] = {
		{ "{\"statuses\": [{\"context\": \"c\", \"status\": \"green\"}]}", "unknown state 'green'" },
		{ "{\"statuses\": [{\"status\": \"success\"}]}", "'context'" },
		{ "{\"statuses\": {}}", "'statuses'" },
		{ "{\"statuses\": [], \"total_count\": \"1\"}", "'total_count'" },
		{ "[]", "not a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = J(bad[i][0]);
		devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
		cr_assert_eq(devsys__gt_decode_combined(&s, &count, &total, j, "abcd"), DEVSYS_EPARSE, "case %zu", i);
		cr_assert(strstr(errmsg(), bad[i][1]), "case %zu: %s", i, errmsg());
		devsys__sink_dispose(&s);
		json_decref(j);
	}
}

Test(gitea_codec, files_authors_and_merge_styles)
{
	const char *path, *old, *login, *name, *email;
	json_t *j = J("{\"filename\": \"b.c\", \"previous_filename\": \"a.c\", \"status\": \"renamed\"}");
	cr_assert_eq(devsys__gt_decode_file(&path, &old, j, 0), 0);
	cr_assert_str_eq(path, "b.c");
	cr_assert_str_eq(old, "a.c");
	json_decref(j);
	j = J("{\"filename\": \"b.c\", \"previous_filename\": \"\", \"status\": \"changed\"}");
	cr_assert_eq(devsys__gt_decode_file(&path, &old, j, 0), 0);
	cr_assert_null(old);
	json_decref(j);
	j = J("{\"filename\": 3}");
	cr_assert_eq(devsys__gt_decode_file(&path, &old, j, 4), DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "files[4]") && strstr(errmsg(), "'filename'"), "%s", errmsg());
	json_decref(j);

	j = J("{\"author\": {\"login\": \"dev\"}, \"commit\": {\"author\": {\"name\": \"D\", \"email\": \"d@x\"}}}");
	cr_assert_eq(devsys__gt_decode_commit_author(&login, &name, &email, j, 0), 0);
	cr_assert_str_eq(login, "dev");
	cr_assert_str_eq(email, "d@x");
	json_decref(j);
	j = J("{\"author\": null, \"commit\": {\"author\": {\"name\": \"D\", \"email\": \"d@x\"}}}");
	cr_assert_eq(devsys__gt_decode_commit_author(&login, &name, &email, j, 0), 0);
	cr_assert_null(login);
	cr_assert_str_eq(name, "D");
	json_decref(j);
	j = J("{\"author\": null}");
	cr_assert_eq(devsys__gt_decode_commit_author(&login, &name, &email, j, 2), DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "commits[2]"), "%s", errmsg());
	json_decref(j);

	cr_assert_str_eq(devsys__gt_merge_do(DEVSYS_FORGE_MERGE_COMMIT), "merge");
	cr_assert_str_eq(devsys__gt_merge_do(DEVSYS_FORGE_MERGE_SQUASH), "squash");
	cr_assert_str_eq(devsys__gt_merge_do(DEVSYS_FORGE_MERGE_REBASE), "rebase");
	cr_assert_str_eq(devsys__gt_merge_do(DEVSYS_FORGE_MERGE_FAST_FORWARD), "fast-forward-only");
	cr_assert_null(devsys__gt_merge_do(99));
	cr_assert_eq(devsys__gt_status_state("skipped"), DEVSYS_CHECK_NEUTRAL);
	cr_assert_eq(devsys__gt_status_state("failure"), DEVSYS_CHECK_FAILURE);
	cr_assert_eq(devsys__gt_status_state("Success"), -1);
}
