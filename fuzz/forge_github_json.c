/*
 * Fuzz target: the github provider's JSON response decoders
 * (lib/forge/github/json.c). Input: one selector byte, then a JSON text.
 * Every decoder either succeeds with the fields the gate relies on set, or
 * fails with DEVSYS_EPARSE (DEVSYS_ECONFLICT for an unmerged merge answer)
 * and a message naming what it read; it never crashes or leaks.
 */
#include "forge/forge_int.h"
#include "forge/github/github_int.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

/* A failure is a parse error with a message that says it came from here. */
static void failed_clearly(int rc)
{
	const char *m = devsys_error_message(devsys_error_last());
	must(rc == DEVSYS_EPARSE || rc == DEVSYS_ECONFLICT || rc == DEVSYS_EINVAL);
	must(m && (strncmp(m, "github: ", 8) == 0 || strstr(m, "devsys_forge_sink") != NULL));
}

static void pr(const json_t *j)
{
	devsys_forge_pr_info i;
	memset(&i, 0, sizeof(i));
	i.version = DEVSYS_FORGE_PR_INFO_VERSION;
	int rc = devsys__gh_decode_pr(&i, j);
	if (rc < 0)
		return failed_clearly(rc);
	must(i.number > 0 && i.head && i.base && i.head_sha && i.title && i.url);
	must(i.state >= DEVSYS_PR_OPEN && i.state <= DEVSYS_PR_MERGED);
	must(i.state == DEVSYS_PR_MERGED || i.merge_sha == NULL);
	(void)devsys__gh_pr_has_label(j, "devsys");
	(void)devsys__gh_pr_has_reviewer(j, "alice");
	(void)devsys__gh_pr_has_team(j, "core");
}

static void each(const json_t *j, int which)
{
	size_t idx;
	const json_t *it;
	if (!json_is_array(j))
		return;
	json_array_foreach (j, idx, it) {
		int rc = 0;
		if (which == 0) {
			devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
			bool skip;
			rc = devsys__gh_decode_review(&r, &skip, it, idx);
			if (rc == 0 && !skip)
				must(r.reviewer && r.commit_sha && r.state >= 0 && r.state <= DEVSYS_REVIEW_PENDING);
		} else if (which == 1) {
			const char *p, *o;
			rc = devsys__gh_decode_file(&p, &o, it, idx);
			if (rc == 0)
				must(p && *p);
		} else {
			const char *l, *n, *e;
			rc = devsys__gh_decode_commit_author(&l, &n, &e, it, idx);
		}
		if (rc < 0)
			failed_clearly(rc);
	}
}

static void checks(const json_t *j, int runs)
{
	devsys_forge_sink s;
	size_t count = 0;
	int64_t total = 0;
	int rc;
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	rc = runs ? devsys__gh_decode_check_runs(&s, &count, &total, j) : devsys__gh_decode_combined(&s, j, NULL);
	if (rc < 0)
		failed_clearly(rc);
	else
		for (size_t i = 0; i < s.n; i++)
			must(s.items[i].a && s.items[i].b && s.items[i].state >= DEVSYS_CHECK_PENDING &&
			     s.items[i].state <= DEVSYS_CHECK_NEUTRAL);
	if (rc == 0 && runs)
		must(count == s.n && total >= 0);
	devsys__sink_dispose(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	json_t *j;
	if (!inited) {
		devsys_init();
		inited = 1;
	}
	if (size < 1)
		return 0;
	j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
	if (!j)
		return 0;
	switch (data[0] % 8) {
	case 0: pr(j); break;
	case 1: {
		size_t i;
		const json_t *it;
		if (json_is_array(j))
			json_array_foreach (j, i, it)
				pr(it);
		break;
	}
	case 2: each(j, 0); break;
	case 3: checks(j, 0); break;
	case 4: checks(j, 1); break;
	case 5: each(j, 1); break;
	case 6: each(j, 2); break;
	default: {
		const char *sha;
		int rc = devsys__gh_decode_merge(&sha, j);
		if (rc < 0)
			failed_clearly(rc);
		else
			must(sha != NULL);
		(void)devsys__gh_is_already_exists(j);
	}
	}
	json_decref(j);
	return 0;
}
