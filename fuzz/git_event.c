/*
 * Fuzz target: the data of the git.* events (lib/record/gitstep.c: the git
 * module reports the facts, the record writes the events). Input: branch
 * NUL head_sha. Whatever the branch holds, the JSON built must parse to an
 * object with exactly the keys branch and head_sha, holding the exact input
 * strings; a branch that is a valid ref name must encode with any UTF-8 head,
 * and a refusal names the string that is not UTF-8.
 */
#include "git/git_int.h"
#include "record/record_int.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int utf8_ok(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static void check_event(const char *branch, const char *head)
{
	char *text = devsys__record_git_event_json(branch, head);
	json_error_t err;
	json_t *doc;

	if (!text) {
		/*
		 * only a string jansson cannot hold may fail (a valid ref name never
		 * does), and the error names that one: the head when the branch is
		 * fine (a head that is not UTF-8 was once blamed on the branch)
		 */
		const char *msg = devsys_error_message(devsys_error_last());
		bool branch_ok = utf8_ok(branch);
		if ((branch_ok && utf8_ok(head)) || (!branch_ok && devsys__git_refname_check(branch) == 0) ||
		    !strstr(msg, branch_ok ? "the head_sha" : "the branch"))
			__builtin_trap();
		devsys_error_clear();
		return;
	}
	doc = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (!doc || !json_is_object(doc) || json_object_size(doc) != 2 ||
	    !json_is_string(json_object_get(doc, "branch")) || !json_is_string(json_object_get(doc, "head_sha")) ||
	    strcmp(json_string_value(json_object_get(doc, "branch")), branch) != 0 ||
	    strcmp(json_string_value(json_object_get(doc, "head_sha")), head) != 0)
		__builtin_trap();
	json_decref(doc);
	devsys__free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *branch = devsys__strndup((const char *)data, size), *head;
	size_t blen;

	if (!branch)
		return 0;
	blen = strlen(branch);
	head = blen < size ? devsys__strndup((const char *)data + blen + 1, size - blen - 1) : devsys__strdup("");
	if (head)
		check_event(branch, head);
	devsys__free(head);
	devsys__free(branch);
	return 0;
}
