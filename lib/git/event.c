/*
 * The data of the git.* events, built with jansson and no libgit2 (so the
 * fuzz target links it alone). A branch name may hold '"', '{' and '}' (the
 * ref-name rules allow them), so nothing user-chosen is pasted into JSON
 * text: a name such as task/a"},"x":{"y stays one string value.
 */
#include "git_int.h"

#include <jansson.h>
#include <stdlib.h>

char *devsys__git_event_json(const char *branch, const char *head_sha)
{
	json_t *o = json_object();
	char *s = NULL, *copy = NULL;

	if (!branch || !head_sha) {
		json_decref(o);
		devsys__error_set(DEVSYS_EINVAL, "git event: branch and head_sha must not be NULL");
		return NULL;
	}
	if (o && json_object_set_new(o, "branch", json_string(branch)) == 0 &&
	    json_object_set_new(o, "head_sha", json_string(head_sha)) == 0)
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	/* json_dumps allocates with jansson's allocator; hand back ours. */
	if (s)
		copy = devsys__strdup(s);
	free(s);
	if (!copy)
		devsys__error_set(DEVSYS_EINVAL,
		                  "git event: cannot encode branch '%.200s' as JSON (not UTF-8, or out of memory)", branch);
	return copy;
}
