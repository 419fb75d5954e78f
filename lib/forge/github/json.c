/*
 * GitHub's JSON answers, decoded strictly: a field of the wrong type is an
 * error naming it, never a silent default, because the gate decides on
 * what these return.
 */
#include "github_int.h"

#include <string.h>

static int bad(const char *what, const char *field, const char *want)
{
	return devsys__error_set(DEVSYS_EPARSE, "github: %s: field '%s' is missing or not %s", what, field, want);
}

/* Required string member. */
static int req_str(const char **out, const json_t *obj, const char *key, const char *what, const char *field)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return bad(what, field, "a string");
	*out = json_string_value(v);
	return 0;
}

/* String member that may be null or absent (NULL then). */
static int opt_str(const char **out, const json_t *obj, const char *key, const char *what, const char *field)
{
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(what, field, "a string or null");
	*out = json_string_value(v);
	return 0;
}

static int opt_bool(int *out, const json_t *obj, const char *key, const char *what, const char *field)
{
	const json_t *v = json_object_get(obj, key);
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return bad(what, field, "a boolean");
	*out = json_is_true(v);
	return 0;
}

/* The login of a user object that may be null ("ghost": a deleted account). */
static int user_login(const char **out, const json_t *obj, const char *key, const char *what, const char *field)
{
	const json_t *u = json_object_get(obj, key);
	*out = NULL;
	if (!u || json_is_null(u))
		return 0;
	if (!json_is_object(u))
		return bad(what, field, "an object or null");
	/* A commit's author can be {} (schema: empty-object) when GitHub has no account for it. */
	if (json_object_size(u) == 0)
		return 0;
	return req_str(out, u, "login", what, field);
}

int devsys__gh_decode_pr(devsys_forge_pr_info *out, const json_t *pr)
{
	const char *what = "pull request", *state = NULL;
	const json_t *head, *base, *num;
	int merged = 0, rc;

	if (!json_is_object(pr))
		return devsys__error_set(DEVSYS_EPARSE, "github: pull request: the answer is not a JSON object");
	num = json_object_get(pr, "number");
	if (!json_is_integer(num) || json_integer_value(num) <= 0)
		return bad(what, "number", "a positive integer");
	out->number = (int64_t)json_integer_value(num);
	head = json_object_get(pr, "head");
	base = json_object_get(pr, "base");
	if (!json_is_object(head))
		return bad(what, "head", "an object");
	if (!json_is_object(base))
		return bad(what, "base", "an object");
	if ((rc = req_str(&out->url, pr, "html_url", what, "html_url")) < 0 ||
	    (rc = req_str(&out->title, pr, "title", what, "title")) < 0 ||
	    (rc = req_str(&state, pr, "state", what, "state")) < 0 ||
	    (rc = req_str(&out->head, head, "ref", what, "head.ref")) < 0 ||
	    (rc = req_str(&out->head_sha, head, "sha", what, "head.sha")) < 0 ||
	    (rc = req_str(&out->base, base, "ref", what, "base.ref")) < 0 ||
	    (rc = user_login(&out->author, pr, "user", what, "user")) < 0 ||
	    (rc = opt_bool(&out->draft, pr, "draft", what, "draft")) < 0 ||
	    (rc = opt_bool(&merged, pr, "merged", what, "merged")) < 0 ||
	    (rc = opt_str(&out->merge_sha, pr, "merge_commit_sha", what, "merge_commit_sha")) < 0)
		return rc;
	if (strcmp(state, "open") == 0)
		out->state = DEVSYS_PR_OPEN;
	else if (strcmp(state, "closed") == 0)
		out->state = DEVSYS_PR_CLOSED;
	else
		return devsys__error_set(DEVSYS_EPARSE, "github: pull request #%lld: state '%.40s' is not open or closed",
		                         (long long)out->number, state);
	/* A list item has no "merged"; "merged_at" tells it there. Where both are
	 * given, "merged" decides (GitHub's own example has merged false with a
	 * merged_at date). */
	if (!json_object_get(pr, "merged")) {
		const json_t *at = json_object_get(pr, "merged_at");
		if (at && !json_is_null(at) && !json_is_string(at))
			return bad(what, "merged_at", "a string or null");
		merged = json_is_string(at);
	}
	if (merged)
		out->state = DEVSYS_PR_MERGED;
	else
		out->merge_sha = NULL; /* GitHub fills it with a test merge before merging */
	return 0;
}

static bool array_has(const json_t *pr, const char *array, const char *key, const char *want)
{
	const json_t *a = json_object_get(pr, array), *it;
	size_t i;
	if (!json_is_array(a))
		return false;
	json_array_foreach (a, i, it) {
		const json_t *v = json_object_get(it, key);
		if (json_is_string(v) && strcasecmp(json_string_value(v), want) == 0)
			return true;
	}
	return false;
}

bool devsys__gh_pr_has_label(const json_t *pr, const char *name)
{
	return array_has(pr, "labels", "name", name);
}

bool devsys__gh_pr_has_reviewer(const json_t *pr, const char *login)
{
	return array_has(pr, "requested_reviewers", "login", login);
}

bool devsys__gh_pr_has_team(const json_t *pr, const char *slug)
{
	return array_has(pr, "requested_teams", "slug", slug);
}

static bool says_exists(const json_t *msg)
{
	static const char prefix[] = "A pull request already exists for ";
	return json_is_string(msg) && strncmp(json_string_value(msg), prefix, sizeof(prefix) - 1) == 0;
}

bool devsys__gh_is_already_exists(const json_t *body)
{
	const json_t *errs, *e;
	size_t i;
	if (!json_is_object(body))
		return false;
	if (says_exists(json_object_get(body, "message")))
		return true;
	errs = json_object_get(body, "errors");
	if (!json_is_array(errs))
		return false;
	json_array_foreach (errs, i, e)
		if (json_is_object(e) && says_exists(json_object_get(e, "message")))
			return true;
	return false;
}

static const struct {
	const char *name;
	int state;
} review_states[] = {
	{ "APPROVED", DEVSYS_REVIEW_APPROVED },   { "CHANGES_REQUESTED", DEVSYS_REVIEW_CHANGES_REQUESTED },
	{ "COMMENTED", DEVSYS_REVIEW_COMMENTED }, { "DISMISSED", DEVSYS_REVIEW_DISMISSED },
	{ "PENDING", DEVSYS_REVIEW_PENDING },
};

int devsys__gh_decode_review(devsys_policy_review *out, bool *skip, const json_t *item, size_t index)
{
	char what[48];
	const char *state = NULL;
	int rc;
	snprintf(what, sizeof(what), "review [%zu]", index);
	*skip = false;
	if (!json_is_object(item))
		return devsys__error_set(DEVSYS_EPARSE, "github: %s: not a JSON object", what);
	if ((rc = user_login(&out->reviewer, item, "user", what, "user")) < 0 ||
	    (rc = opt_str(&out->commit_sha, item, "commit_id", what, "commit_id")) < 0 ||
	    (rc = req_str(&state, item, "state", what, "state")) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(review_states) / sizeof(review_states[0]); i++)
		if (strcmp(state, review_states[i].name) == 0) {
			out->state = review_states[i].state;
			/* A deleted account or a commit GitHub no longer has can never approve the head. */
			*skip = !out->reviewer || !out->commit_sha;
			return 0;
		}
	return devsys__error_set(DEVSYS_EPARSE, "github: %s: state '%.40s' is not one of APPROVED, "
	                         "CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING", what, state);
}

static int status_state(int *out, const char *s)
{
	if (strcmp(s, "success") == 0)
		*out = DEVSYS_CHECK_SUCCESS;
	else if (strcmp(s, "pending") == 0)
		*out = DEVSYS_CHECK_PENDING;
	else if (strcmp(s, "failure") == 0 || strcmp(s, "error") == 0)
		*out = DEVSYS_CHECK_FAILURE;
	else
		return -1;
	return 0;
}

int devsys__gh_decode_combined(devsys_forge_sink *sink, const json_t *body, const char *sha)
{
	const json_t *list, *it;
	const char *body_sha = NULL;
	size_t i;
	int rc;
	if (!json_is_object(body))
		return devsys__error_set(DEVSYS_EPARSE, "github: combined status: the answer is not a JSON object");
	if ((rc = req_str(&body_sha, body, "sha", "combined status", "sha")) < 0)
		return rc;
	list = json_object_get(body, "statuses");
	if (!json_is_array(list))
		return bad("combined status", "statuses", "an array");
	json_array_foreach (list, i, it) {
		devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
		char what[48];
		const char *state = NULL;
		snprintf(what, sizeof(what), "combined status: statuses[%zu]", i);
		if (!json_is_object(it))
			return devsys__error_set(DEVSYS_EPARSE, "github: %s: not a JSON object", what);
		if ((rc = req_str(&c.context, it, "context", what, "context")) < 0 ||
		    (rc = req_str(&state, it, "state", what, "state")) < 0)
			return rc;
		if (status_state(&c.state, state) < 0)
			return devsys__error_set(DEVSYS_EPARSE, "github: %s: state '%.40s' is not one of success, "
			                         "pending, failure, error", what, state);
		c.sha = sha ? sha : body_sha;
		c.kind = DEVSYS_CHECK_STATUS;
		if ((rc = devsys_forge_sink_check(sink, &c)) < 0)
			return rc;
	}
	return 0;
}

static int run_state(int *out, const char *status, const char *conclusion)
{
	static const char *const failing[] = { "failure", "cancelled", "timed_out", "action_required", "stale",
		                               "startup_failure" };
	if (strcmp(status, "completed") != 0) {
		*out = DEVSYS_CHECK_PENDING; /* queued, in_progress, waiting, requested, pending */
		return 0;
	}
	if (!conclusion)
		return -1;
	if (strcmp(conclusion, "success") == 0) {
		*out = DEVSYS_CHECK_SUCCESS;
		return 0;
	}
	if (strcmp(conclusion, "neutral") == 0 || strcmp(conclusion, "skipped") == 0) {
		*out = DEVSYS_CHECK_NEUTRAL;
		return 0;
	}
	for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++)
		if (strcmp(conclusion, failing[i]) == 0) {
			*out = DEVSYS_CHECK_FAILURE;
			return 0;
		}
	return -1;
}

int devsys__gh_decode_check_runs(devsys_forge_sink *sink, size_t *count, int64_t *total, const json_t *body)
{
	const json_t *list, *it, *tc;
	size_t i;
	int rc;
	if (!json_is_object(body))
		return devsys__error_set(DEVSYS_EPARSE, "github: check runs: the answer is not a JSON object");
	tc = json_object_get(body, "total_count");
	if (!json_is_integer(tc) || json_integer_value(tc) < 0)
		return bad("check runs", "total_count", "a non-negative integer");
	list = json_object_get(body, "check_runs");
	if (!json_is_array(list))
		return bad("check runs", "check_runs", "an array");
	*total = (int64_t)json_integer_value(tc);
	*count = json_array_size(list);
	json_array_foreach (list, i, it) {
		devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
		char what[48];
		const char *status = NULL, *conclusion = NULL;
		snprintf(what, sizeof(what), "check runs: check_runs[%zu]", i);
		if (!json_is_object(it))
			return devsys__error_set(DEVSYS_EPARSE, "github: %s: not a JSON object", what);
		if ((rc = req_str(&c.context, it, "name", what, "name")) < 0 ||
		    (rc = req_str(&c.sha, it, "head_sha", what, "head_sha")) < 0 ||
		    (rc = req_str(&status, it, "status", what, "status")) < 0 ||
		    (rc = opt_str(&conclusion, it, "conclusion", what, "conclusion")) < 0)
			return rc;
		if (run_state(&c.state, status, conclusion) < 0)
			return devsys__error_set(DEVSYS_EPARSE, "github: %s ('%.100s'): status '%.40s' with conclusion "
			                         "'%.40s' is not a known check-run result", what, c.context, status,
			                         conclusion ? conclusion : "null");
		c.kind = DEVSYS_CHECK_RUN;
		if ((rc = devsys_forge_sink_check(sink, &c)) < 0)
			return rc;
	}
	return 0;
}

int devsys__gh_decode_file(const char **path, const char **old_path, const json_t *item, size_t index)
{
	char what[40];
	const char *status = NULL;
	int rc;
	snprintf(what, sizeof(what), "files[%zu]", index);
	if (!json_is_object(item))
		return devsys__error_set(DEVSYS_EPARSE, "github: %s: not a JSON object", what);
	if ((rc = req_str(path, item, "filename", what, "filename")) < 0 ||
	    (rc = req_str(&status, item, "status", what, "status")) < 0 ||
	    (rc = opt_str(old_path, item, "previous_filename", what, "previous_filename")) < 0)
		return rc;
	if (!**path)
		return devsys__error_set(DEVSYS_EPARSE, "github: %s: field 'filename' is empty", what);
	if (strcmp(status, "renamed") != 0 && strcmp(status, "copied") != 0)
		*old_path = NULL;
	else if (!*old_path)
		return bad(what, "previous_filename", "a string (the file was renamed)");
	return 0;
}

int devsys__gh_decode_commit_author(const char **login, const char **name, const char **email, const json_t *item,
                                    size_t index)
{
	char what[40];
	const json_t *commit, *author;
	int rc;
	snprintf(what, sizeof(what), "commits[%zu]", index);
	if (!json_is_object(item))
		return devsys__error_set(DEVSYS_EPARSE, "github: %s: not a JSON object", what);
	if ((rc = user_login(login, item, "author", what, "author")) < 0)
		return rc;
	commit = json_object_get(item, "commit");
	if (!json_is_object(commit))
		return bad(what, "commit", "an object");
	author = json_object_get(commit, "author");
	*name = *email = NULL;
	if (!author || json_is_null(author))
		return 0;
	if (!json_is_object(author))
		return bad(what, "commit.author", "an object or null");
	if ((rc = opt_str(name, author, "name", what, "commit.author.name")) < 0 ||
	    (rc = opt_str(email, author, "email", what, "commit.author.email")) < 0)
		return rc;
	return 0;
}

int devsys__gh_decode_merge(const char **sha, const json_t *body)
{
	int merged = 0, rc;
	if (!json_is_object(body))
		return devsys__error_set(DEVSYS_EPARSE, "github: merge: the answer is not a JSON object");
	if ((rc = req_str(sha, body, "sha", "merge", "sha")) < 0 ||
	    (rc = opt_bool(&merged, body, "merged", "merge", "merged")) < 0)
		return rc;
	if (!merged)
		return devsys__error_set(DEVSYS_ECONFLICT, "github: merge: the answer says the pull request was not "
		                         "merged");
	return 0;
}
