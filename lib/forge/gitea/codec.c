/*
 * Gitea/Forgejo JSON decoders and request helpers. Every decoder checks the
 * type of each field it reads and names the field when one is wrong: a
 * server that answers something else fails clearly instead of feeding the
 * gate a guess. No request is sent here (the fuzz target runs these).
 */
#include "gitea_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int bad(const char *what, const char *field, const char *want)
{
	return devsys_error_set(DEVSYS_EPARSE, "gitea: %s: field '%s' is missing or not %s", what, field, want);
}

/* A string member (NULL when absent or not a string). */
static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

size_t devsys__gt_wip_len(const char *title)
{
	size_t n = 0;
	if (!title)
		return 0;
	if (strncasecmp(title, "WIP:", 4) == 0)
		n = 4;
	else if (strncasecmp(title, "[WIP]", 5) == 0)
		n = 5;
	else
		return 0;
	while (title[n] == ' ')
		n++;
	return n;
}

int devsys__gt_put_segment(devsys_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char enc[4] = { '%', hex[*p >> 4], hex[*p & 15], 0 };
		int rc = (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') ? devsys_buf_put(out, (const char *)p, 1)
		                                                                         : devsys_buf_put(out, enc, 3);
		if (rc < 0)
			return devsys__error_oom();
	}
	return 0;
}

/* The branch object {ref, sha} at pr[@p side]. */
static int decode_branch(const char **ref, const char **sha, const json_t *pr, const char *side)
{
	const json_t *b = json_object_get(pr, side);
	char field[16];
	if (!json_is_object(b))
		return bad("pull request", side, "an object");
	snprintf(field, sizeof(field), "%s.ref", side);
	if (!(*ref = str_of(b, "ref")) || !**ref)
		return bad("pull request", field, "a branch name");
	if (sha) {
		snprintf(field, sizeof(field), "%s.sha", side);
		if (!(*sha = str_of(b, "sha")))
			return bad("pull request", field, "a string");
	}
	return 0;
}

/* state "open"/"closed" and "merged" into a devsys_pr_state. */
static int decode_state(int *state, const json_t *pr)
{
	const char *s = str_of(pr, "state");
	const json_t *merged = json_object_get(pr, "merged");
	if (!s || (strcmp(s, "open") != 0 && strcmp(s, "closed") != 0))
		return bad("pull request", "state", "\"open\" or \"closed\"");
	if (merged && !json_is_boolean(merged) && !json_is_null(merged))
		return bad("pull request", "merged", "a boolean");
	*state = json_is_true(merged) ? DEVSYS_PR_MERGED : strcmp(s, "open") == 0 ? DEVSYS_PR_OPEN : DEVSYS_PR_CLOSED;
	return 0;
}

/* An optional string member: absent or null gives NULL; another type fails. */
static int opt_str(const char **out, const json_t *o, const char *k, const char *what)
{
	const json_t *v = json_object_get(o, k);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(what, k, "a string");
	*out = json_string_value(v);
	return 0;
}

int devsys__gt_decode_pr(devsys_forge_pr_info *out, const json_t *pr)
{
	const json_t *num, *user, *draft;
	const char *title;
	int rc;
	if (!json_is_object(pr))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: pull request: the answer is not a JSON object");
	num = json_object_get(pr, "number");
	if (!json_is_integer(num) || json_integer_value(num) <= 0)
		return bad("pull request", "number", "a positive integer");
	out->number = (int64_t)json_integer_value(num);
	if (!(out->url = str_of(pr, "html_url")))
		return bad("pull request", "html_url", "a string");
	if (!(title = str_of(pr, "title")))
		return bad("pull request", "title", "a string");
	if ((rc = decode_branch(&out->head, &out->head_sha, pr, "head")) < 0 ||
	    (rc = decode_branch(&out->base, NULL, pr, "base")) < 0 || (rc = decode_state(&out->state, pr)) < 0 ||
	    (rc = opt_str(&out->merge_sha, pr, "merge_commit_sha", "pull request")) < 0)
		return rc;
	user = json_object_get(pr, "user");
	if (user && !json_is_null(user) && !json_is_object(user))
		return bad("pull request", "user", "an object");
	out->author = str_of(user, "login");
	draft = json_object_get(pr, "draft");
	if (draft && !json_is_boolean(draft) && !json_is_null(draft))
		return bad("pull request", "draft", "a boolean");
	out->draft = devsys__gt_wip_len(title) > 0 || json_is_true(draft);
	out->title = title + devsys__gt_wip_len(title);
	/* Gitea fills merge_commit_sha for an open PR too (its test merge): only a merged one has a merge commit */
	if (out->state != DEVSYS_PR_MERGED || (out->merge_sha && !*out->merge_sha))
		out->merge_sha = NULL;
	return 0;
}

bool devsys__gt_label_id(json_int_t *id, int *rc, const json_t *labels, const char *name)
{
	size_t i;
	const json_t *l;
	*rc = 0;
	if (!json_is_array(labels))
		return false;
	json_array_foreach(labels, i, l) {
		const char *n = str_of(l, "name");
		const json_t *jid = json_object_get(l, "id");
		if (!n || !json_is_integer(jid)) {
			*rc = devsys_error_set(DEVSYS_EPARSE, "gitea: labels[%zu]: field 'name' or 'id' is missing or of "
			                                      "the wrong type", i);
			return false;
		}
		if (strcmp(n, name) == 0) {
			*id = json_integer_value(jid);
			return true;
		}
	}
	return false;
}

/* Is there an entry with @p key equal to @p want in array pr[@p field]? */
static bool has_named(const json_t *pr, const char *field, const char *key, const char *want)
{
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(pr, field), i, e) {
		const char *v = str_of(e, key);
		if (v && strcasecmp(v, want) == 0)
			return true;
	}
	return false;
}

bool devsys__gt_pr_has_reviewer(const json_t *pr, const char *who)
{
	return has_named(pr, "requested_reviewers", "login", who);
}

bool devsys__gt_pr_has_team(const json_t *pr, const char *name)
{
	return has_named(pr, "requested_reviewers_teams", "name", name);
}

bool devsys__gt_is_already_exists(const json_t *body)
{
	const char *m = str_of(body, "message");
	return m && strstr(m, "pull request already exists") != NULL;
}

bool devsys__gt_is_protection_exists(const json_t *body)
{
	const char *m = str_of(body, "message");
	return m && strcasestr(m, "protection already exist") != NULL;
}

static int review_state(int *out, bool *skip, const char *s, const json_t *dismissed)
{
	if (strcmp(s, "APPROVED") == 0)
		*out = DEVSYS_REVIEW_APPROVED;
	else if (strcmp(s, "REQUEST_CHANGES") == 0)
		*out = DEVSYS_REVIEW_CHANGES_REQUESTED;
	else if (strcmp(s, "COMMENT") == 0)
		*out = DEVSYS_REVIEW_COMMENTED;
	else if (strcmp(s, "PENDING") == 0)
		*out = DEVSYS_REVIEW_PENDING;
	else if (strcmp(s, "REQUEST_REVIEW") == 0 || !*s)
		*skip = true; /* a request for a review, not one; "" is Gitea's ReviewStateUnknown */
	else
		return -1;
	if (json_is_true(dismissed))
		*out = DEVSYS_REVIEW_DISMISSED;
	return 0;
}

int devsys__gt_decode_review(devsys_policy_review *out, bool *skip, const json_t *item, size_t index)
{
	const json_t *user, *dismissed;
	const char *state, *commit;
	*skip = false;
	if (!json_is_object(item))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: reviews[%zu] is not an object", index);
	if (!(state = str_of(item, "state")))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: reviews[%zu]: field 'state' is missing or not a string",
		                        index);
	dismissed = json_object_get(item, "dismissed");
	if (dismissed && !json_is_boolean(dismissed))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: reviews[%zu]: field 'dismissed' is not a boolean", index);
	if (review_state(&out->state, skip, state, dismissed) < 0)
		return devsys_error_set(DEVSYS_EPARSE, "gitea: reviews[%zu]: unknown review state '%.32s'", index, state);
	user = json_object_get(item, "user");
	if (user && !json_is_null(user) && !json_is_object(user))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: reviews[%zu]: field 'user' is not an object", index);
	if (opt_str(&commit, item, "commit_id", "review") < 0)
		return devsys_error_set(DEVSYS_EPARSE, "gitea: reviews[%zu]: field 'commit_id' is not a string", index);
	out->reviewer = str_of(user, "login");
	out->commit_sha = commit;
	if (!out->reviewer || !*out->reviewer || !commit || !*commit)
		*skip = true; /* a deleted user (or a team review) or a review on no commit can never count */
	return 0;
}

int devsys__gt_status_state(const char *s)
{
	if (!s)
		return -1;
	if (strcmp(s, "pending") == 0)
		return DEVSYS_CHECK_PENDING;
	if (strcmp(s, "success") == 0)
		return DEVSYS_CHECK_SUCCESS;
	if (strcmp(s, "error") == 0 || strcmp(s, "failure") == 0)
		return DEVSYS_CHECK_FAILURE;
	if (strcmp(s, "warning") == 0 || strcmp(s, "skipped") == 0)
		return DEVSYS_CHECK_NEUTRAL;
	return -1;
}

int devsys__gt_decode_combined(devsys_forge_sink *sink, size_t *count, int64_t *total, const json_t *body,
                               const char *sha)
{
	const json_t *list, *tc, *st;
	size_t i;
	int rc;
	*count = 0;
	*total = 0;
	if (!json_is_object(body))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: combined status: the answer is not a JSON object");
	list = json_object_get(body, "statuses");
	if (list && !json_is_null(list) && !json_is_array(list))
		return bad("combined status", "statuses", "an array");
	tc = json_object_get(body, "total_count");
	if (tc && !json_is_integer(tc))
		return bad("combined status", "total_count", "an integer");
	*total = tc ? (int64_t)json_integer_value(tc) : (int64_t)json_array_size(list);
	json_array_foreach(list, i, st) {
		devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
		/* Gitea calls a status's state "status"; Forgejo and older servers too; accept "state" as well */
		const char *s = str_of(st, "status") ? str_of(st, "status") : str_of(st, "state");
		if (!json_is_object(st) || !(c.context = str_of(st, "context")) || !*c.context)
			return devsys_error_set(DEVSYS_EPARSE, "gitea: combined status: statuses[%zu]: field 'context' is "
			                                       "missing or not a string", i);
		if ((c.state = devsys__gt_status_state(s)) < 0)
			return devsys_error_set(DEVSYS_EPARSE, "gitea: combined status: statuses[%zu] ('%.64s'): unknown "
			                                       "state '%.32s'", i, c.context, s ? s : "(none)");
		c.sha = sha;
		c.kind = DEVSYS_CHECK_STATUS;
		if ((rc = devsys_forge_sink_check(sink, &c)) < 0)
			return rc;
		(*count)++;
	}
	return 0;
}

int devsys__gt_decode_file(const char **path, const char **old_path, const json_t *item, size_t index)
{
	const char *status;
	if (!json_is_object(item) || !(*path = str_of(item, "filename")) || !**path)
		return devsys_error_set(DEVSYS_EPARSE, "gitea: files[%zu]: field 'filename' is missing or not a string",
		                        index);
	if (opt_str(old_path, item, "previous_filename", "file") < 0)
		return devsys_error_set(DEVSYS_EPARSE, "gitea: files[%zu]: field 'previous_filename' is not a string",
		                        index);
	status = str_of(item, "status");
	if ((*old_path && !**old_path) || (status && strcmp(status, "renamed") != 0 && *old_path &&
	                                   strcmp(*old_path, *path) == 0))
		*old_path = NULL;
	return 0;
}

int devsys__gt_decode_commit_author(const char **login, const char **name, const char **email, const json_t *item,
                                    size_t index)
{
	const json_t *author, *commit, *ga;
	if (!json_is_object(item))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: commits[%zu] is not an object", index);
	author = json_object_get(item, "author");
	if (author && !json_is_null(author) && !json_is_object(author))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: commits[%zu]: field 'author' is not an object", index);
	*login = str_of(author, "login");
	if (*login && !**login)
		*login = NULL;
	commit = json_object_get(item, "commit");
	ga = json_object_get(commit, "author");
	if (!json_is_object(commit) || !json_is_object(ga))
		return devsys_error_set(DEVSYS_EPARSE, "gitea: commits[%zu]: field 'commit.author' is missing or not an "
		                                       "object", index);
	*name = str_of(ga, "name");
	*email = str_of(ga, "email");
	return 0;
}

const char *devsys__gt_merge_do(int method)
{
	switch (method) {
	case DEVSYS_FORGE_MERGE_COMMIT: return "merge";
	case DEVSYS_FORGE_MERGE_SQUASH: return "squash";
	case DEVSYS_FORGE_MERGE_REBASE: return "rebase";
	case DEVSYS_FORGE_MERGE_FAST_FORWARD: return "fast-forward-only";
	default: return NULL;
	}
}
