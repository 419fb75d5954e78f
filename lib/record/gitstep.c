/*
 * One git step in the record: the facts the git module reports (URL,
 * branch, base, head) go into task.json and the step into events.jsonl as
 * git.checkout / git.commit / git.push. The git module never writes these
 * files itself; its caller (the pipeline, the CLI) hands the facts here.
 *
 * The event data is built with jansson, never with printf: a branch name
 * may hold '"', '{' and '}' (the ref-name rules allow them), so a name such
 * as task/a"},"x":{"y stays one string value.
 */
#include "core/core.h"
#include "devsys/record.h"
#include "record/record_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/*
 * @p s for an error message: its ASCII as it is and every other byte as
 * \xNN, so that a message about bytes that are not UTF-8 is valid text;
 * cut to fit @p size.
 */
static const char *ascii_escaped(char *out, size_t size, const char *s)
{
	size_t n = 0;
	for (; *s && n + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c < 0x7f)
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
	}
	out[n] = '\0';
	return out;
}

char *devsys__record_git_event_json(const char *branch, const char *head_sha)
{
	json_t *o, *b, *h;
	char *s = NULL, *copy = NULL;

	if (!branch || !head_sha) {
		devsys__error_set(DEVSYS_EINVAL, "git event: branch and head_sha must not be NULL");
		return NULL;
	}
	b = json_string(branch);
	h = json_string(head_sha);
	if (!b || !h) { /* json_string() takes UTF-8 only */
		char shown[200];
		devsys__error_set(DEVSYS_EINVAL, "git event: the %s '%s' is not UTF-8, so it cannot be JSON",
		                  b ? "head_sha" : "branch", ascii_escaped(shown, sizeof(shown), b ? head_sha : branch));
		json_decref(b);
		json_decref(h);
		return NULL;
	}
	if ((o = json_object()) && json_object_set(o, "branch", b) == 0 && json_object_set(o, "head_sha", h) == 0)
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(b);
	json_decref(h);
	json_decref(o);
	/* json_dumps allocates with jansson's allocator; hand back ours. */
	if (s)
		copy = devsys__strdup(s);
	free(s);
	if (!copy)
		devsys__error_oom();
	return copy;
}

static bool git_event_type(const char *type)
{
	return type && (strcmp(type, "git.checkout") == 0 || strcmp(type, "git.commit") == 0 ||
	                strcmp(type, "git.push") == 0);
}

int devsys_record_git_step(devsys_record *rec, const char *type, const char *url, const char *branch,
                           const char *base_branch, const char *base_sha, const char *head_sha)
{
	char *data = NULL;
	int rc;

	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(branch);
	if (!git_event_type(type))
		return devsys__error_set(DEVSYS_EINVAL, "git step '%.32s' is not one of git.checkout, git.commit, git.push",
		                         type ? type : "(null)");
	/* data first: a branch that cannot be encoded changes nothing */
	if (!(data = devsys__record_git_event_json(branch, head_sha ? head_sha : "")))
		return devsys_error_code(devsys_error_last());
	if ((url && (rc = devsys_record_set_repo_url(rec, url)) < 0) ||
	    (rc = devsys_record_set_string(rec, "branch", branch)) < 0 ||
	    (rc = devsys_record_set_string(rec, "base_branch", base_branch)) < 0 ||
	    (rc = devsys_record_set_string(rec, "base_sha", base_sha && *base_sha ? base_sha : NULL)) < 0 ||
	    (rc = devsys_record_set_string(rec, "head_sha", head_sha && *head_sha ? head_sha : NULL)) < 0 ||
	    (rc = devsys_record_save(rec)) < 0)
		goto out;
	rc = devsys_record_event(rec, type, data, NULL);
out:
	devsys__free(data);
	return rc;
}
