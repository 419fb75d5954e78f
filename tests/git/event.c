/*
 * The git.* events carry the branch name as data. A branch name may hold
 * '"', '{', '}' and ',' (the ref-name rules allow them; ':' they refuse), so
 * a slug from the CLI or the API such as a"},{"x"} must stay one string
 * value: checked on the events recorded for a real checkout, commit and
 * push over file:// (the git module reports the facts, the record writes
 * them: devsys_record_git_step). Pasted into JSON text by printf, that name
 * made the event unparsable and the checkout fail; with a ':' it would
 * inject a key, which the builder is checked against directly.
 */
#include "gitfix.h"
#include "git/git_int.h"
#include "record/record_int.h"

#include <jansson.h>

#define HOSTILE_SLUG "a\"},{\"x\"}"
#define HOSTILE_BRANCH "task/" HOSTILE_SLUG
/* With ':' (refused as a branch name): a key injected by printf. */
#define INJECTING_BRANCH "task/a\",\"x\":\"y"

static char *dir;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("gitevent");
}
static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}
TestSuite(git_event, .init = setup, .fini = teardown, .timeout = 120);

/* The event data must be exactly {"branch": @p branch, "head_sha": @p sha}. */
static void assert_data(json_t *data, const char *branch, const char *sha)
{
	cr_assert(json_is_object(data), "event data is not an object");
	cr_assert_eq(json_object_size(data), 2, "event data has keys beyond branch and head_sha");
	cr_assert_str_eq(json_string_value(json_object_get(data, "branch")), branch);
	cr_assert_str_eq(json_string_value(json_object_get(data, "head_sha")), sha);
	cr_assert_null(json_object_get(data, "x"), "an injected key");
}

Test(git_event, the_builder_keeps_a_hostile_branch_one_string)
{
	json_error_t err;
	const char *names[] = { HOSTILE_BRANCH, INJECTING_BRANCH, "task/a\"},\"x\":{\"y", "task/a\\\"\\u0000" };
	cr_assert_eq(devsys__git_refname_check(HOSTILE_BRANCH), 0, "the name is valid, so it can reach the events");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *s = devsys__record_git_event_json(names[i], "0123abcd");
		cr_assert_not_null(s, "%s", gf_err());
		json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &err);
		cr_assert_not_null(j, "%s: %s", s, err.text);
		assert_data(j, names[i], "0123abcd");
		json_decref(j);
		devsys__free(s);
	}
	/* what printf made of the ':' one: valid JSON with an extra key */
	json_t *j = json_loads("{\"branch\":\"" INJECTING_BRANCH "\",\"head_sha\":\"0123abcd\"}", 0, &err);
	cr_assert_not_null(j, "the unescaped text parses, which is why it was dangerous");
	cr_assert_not_null(json_object_get(j, "x"));
	json_decref(j);
	cr_assert_null(devsys__record_git_event_json(NULL, "x"));
	cr_assert_null(devsys__record_git_event_json("task/\xff", ""), "not UTF-8 cannot be a JSON string");
	cr_assert(strstr(gf_err(), "the branch 'task/\\xff'"), "%s", gf_err());
	/* the error names the string that is not UTF-8, and shows its bytes as valid text */
	cr_assert_null(devsys__record_git_event_json("task/a", "\xe1sa\xca"));
	cr_assert(strstr(gf_err(), "the head_sha '\\xe1sa\\xca' is not UTF-8"), "%s", gf_err());
	cr_assert(!strstr(gf_err(), "task/a"), "the branch is not blamed: %s", gf_err());
}

/* What the pipeline and `devsys git` do after each step: record the facts git reports. */
static void record_step(devsys_task *t, devsys_repo *r, const char *type)
{
	devsys_record *rec = NULL;
	cr_assert_eq(devsys_record_open(&rec, t), 0, "%s", gf_err());
	cr_assert_eq(devsys_record_git_step(rec, type, devsys_repo_url(r), devsys_repo_branch(r),
	                                    devsys_repo_base_branch(r), devsys_repo_base_sha(r), devsys_repo_head_sha(r)),
	             0, "%s", gf_err());
	devsys_record_free(rec);
}

Test(git_event, checkout_commit_push_events_hold_the_exact_branch)
{
	char *bare = gf_make_remote(dir, "proj"), path[4096], *url = NULL;
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed = 0, seen = 0;

	cr_assert(asprintf(&url, "file://%s", bare) > 0);
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "ev1");
	devsys_repo *r = NULL;
	o.url = url;
	o.branch_template = "task/{slug}";
	o.slug = HOSTILE_SLUG;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_repo_branch(r), HOSTILE_BRANCH);
	record_step(t, r, "git.checkout");
	snprintf(path, sizeof(path), "%s/a.txt", devsys_repo_checkout_path(r));
	cr_assert(dt_write_file(path, "a\n"));
	cr_assert_eq(devsys_repo_commit(&committed, r, "a", NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
	record_step(t, r, "git.commit");
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	record_step(t, r, "git.push");
	/* the remote has the branch under its exact name */
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse 'refs/heads/%s'", bare, HOSTILE_BRANCH);
	char *remote = gf_out(cmd);
	cr_assert_str_eq(remote, devsys_repo_head_sha(r));
	free(remote);

	snprintf(path, sizeof(path), "%s/events.jsonl", devsys_task_path(t));
	char *events = dt_read_file(path, NULL), *save = NULL;
	cr_assert_not_null(events, "no events.jsonl");
	for (char *line = strtok_r(events, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t err;
		json_t *ev = json_loads(line, JSON_REJECT_DUPLICATES, &err);
		cr_assert_not_null(ev, "unparsable event %s: %s", line, err.text);
		const char *type = json_string_value(json_object_get(ev, "type"));
		cr_assert_not_null(type, "%s", line);
		if (strncmp(type, "git.", 4) == 0) {
			cr_assert_null(json_object_get(ev, "x"), "an injected top-level key: %s", line);
			cr_assert_eq(json_object_size(ev), 4, "seq, ts, type, data only: %s", line);
			assert_data(json_object_get(ev, "data"), HOSTILE_BRANCH,
			            strcmp(type, "git.checkout") == 0 ? devsys_repo_base_sha(r) : devsys_repo_head_sha(r));
			seen |= strcmp(type, "git.checkout") == 0 ? 1 : strcmp(type, "git.commit") == 0 ? 2 : 4;
		}
		json_decref(ev);
	}
	cr_assert_eq(seen, 7, "want git.checkout, git.commit and git.push events, saw mask %d", seen);
	free(events);

	/* task.json keeps the exact branch too */
	snprintf(path, sizeof(path), "%s/task.json", devsys_task_path(t));
	json_error_t err;
	json_t *tj = json_load_file(path, 0, &err);
	cr_assert_not_null(tj, "%s", err.text);
	cr_assert_str_eq(json_string_value(json_object_get(tj, "branch")), HOSTILE_BRANCH);
	cr_assert_null(json_object_get(tj, "x"));
	json_decref(tj);

	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(url);
	free(bare);
}
