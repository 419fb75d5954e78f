/*
 * Sinks: a provider hands list entries (reviews, checks, files, authors)
 * to the library one at a time and the library copies each, so neither
 * side ever frees the other's memory and the entry structs can grow.
 */
#include "forge_int.h"

#include <string.h>

static const size_t review_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_policy_review, state), /* 1 */
};

static const size_t check_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_policy_check, kind), /* 1 */
};

void devsys__sink_init(devsys_forge_sink *s, int kind)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
}

void devsys__sink_dispose(devsys_forge_sink *s)
{
	for (size_t i = 0; i < s->n; i++) {
		devsys__free(s->items[i].a);
		devsys__free(s->items[i].b);
	}
	devsys__free(s->items);
	memset(s, 0, sizeof(*s));
}

static int wrong_kind(const char *func)
{
	return devsys__error_set(DEVSYS_EINVAL, "%s: this sink collects another kind of entry", func);
}

static int push(devsys_forge_sink *s, const char *a, const char *b, int state, int kind)
{
	struct devsys__sink_item *it;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct devsys__sink_item *n = devsys__realloc(s->items, cap * sizeof(*n));
		if (!n)
			return devsys__error_oom();
		s->items = n;
		s->cap = cap;
	}
	it = &s->items[s->n];
	memset(it, 0, sizeof(*it));
	if (!(it->a = devsys__strdup(a)) || (b && !(it->b = devsys__strdup(b)))) {
		devsys__free(it->a);
		return devsys__error_oom();
	}
	it->state = state;
	it->kind = kind;
	s->n++;
	return 0;
}

int devsys_forge_sink_review(devsys_forge_sink *sink, const devsys_policy_review *review)
{
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	int rc;
	DEVSYS__CHECK_ARG(sink);
	DEVSYS__CHECK_ARG(review);
	if (sink->kind != DEVSYS__SINK_REVIEWS)
		return wrong_kind(__func__);
	if ((rc = devsys__versioned_copy(&r, review, review_sizes, DEVSYS_POLICY_REVIEW_VERSION,
	                                 "devsys_policy_review")) < 0)
		return rc;
	if (!r.reviewer || !*r.reviewer || !r.commit_sha || !*r.commit_sha)
		return devsys__error_set(DEVSYS_EINVAL, "%s: a review needs a reviewer and a commit SHA", __func__);
	if (r.state < DEVSYS_REVIEW_APPROVED || r.state > DEVSYS_REVIEW_PENDING)
		return devsys__error_set(DEVSYS_EINVAL, "%s: review state %d is unknown", __func__, r.state);
	return push(sink, r.reviewer, r.commit_sha, r.state, 0);
}

int devsys_forge_sink_check(devsys_forge_sink *sink, const devsys_policy_check *check)
{
	devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
	int rc;
	DEVSYS__CHECK_ARG(sink);
	DEVSYS__CHECK_ARG(check);
	if (sink->kind != DEVSYS__SINK_CHECKS)
		return wrong_kind(__func__);
	if ((rc = devsys__versioned_copy(&c, check, check_sizes, DEVSYS_POLICY_CHECK_VERSION, "devsys_policy_check")) < 0)
		return rc;
	if (!c.context || !*c.context || !c.sha || !*c.sha)
		return devsys__error_set(DEVSYS_EINVAL, "%s: a check needs a context (or name) and a SHA", __func__);
	if (c.state < DEVSYS_CHECK_PENDING || c.state > DEVSYS_CHECK_NEUTRAL ||
	    (c.kind != DEVSYS_CHECK_STATUS && c.kind != DEVSYS_CHECK_RUN))
		return devsys__error_set(DEVSYS_EINVAL, "%s: check '%.100s' has an unknown state or kind", __func__,
		                         c.context);
	return push(sink, c.context, c.sha, c.state, c.kind);
}

int devsys_forge_sink_file(devsys_forge_sink *sink, const char *path, const char *old_path)
{
	DEVSYS__CHECK_ARG(sink);
	DEVSYS__CHECK_ARG(path);
	if (sink->kind != DEVSYS__SINK_FILES)
		return wrong_kind(__func__);
	if (!*path)
		return devsys__error_set(DEVSYS_EINVAL, "%s: empty path", __func__);
	return push(sink, path, old_path && *old_path ? old_path : NULL, 0, 0);
}

int devsys_forge_sink_truncated(devsys_forge_sink *sink)
{
	DEVSYS__CHECK_ARG(sink);
	if (sink->kind != DEVSYS__SINK_FILES)
		return wrong_kind(__func__);
	sink->truncated = 1;
	return 0;
}

int devsys_forge_sink_author(devsys_forge_sink *sink, const char *login)
{
	DEVSYS__CHECK_ARG(sink);
	DEVSYS__CHECK_ARG(login);
	if (sink->kind != DEVSYS__SINK_AUTHORS)
		return wrong_kind(__func__);
	if (!*login)
		return 0; /* an unknown author (no linked account) adds nothing */
	return push(sink, login, NULL, 0, 0);
}
