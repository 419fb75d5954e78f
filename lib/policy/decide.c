/*
 * The merge gate's decision: pure, from the effective class, the reviews,
 * the required contexts' checks on the head commit, and the draft flag.
 * docs/gate.md has the table; the order of the checks below is its
 * precedence.
 */
#include "internal.h"
#include "policy_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct reason {
	int code;
	char *text;
};

struct devsys_policy_decision {
	int outcome;
	int risk;
	unsigned int counted, required;
	struct reason *r;
	size_t n;
	int oom;
};

static const size_t input_sizes[] = { 0, DEVSYS__SIZE_THROUGH(devsys_policy_input, draft) };
static const size_t review_sizes[] = { 0, DEVSYS__SIZE_THROUGH(devsys_policy_review, state) };
static const size_t check_sizes[] = { 0, DEVSYS__SIZE_THROUGH(devsys_policy_check, kind) };

static void say(devsys_policy_decision *d, int code, const char *fmt, ...) DEVSYS_PRINTF(3, 4);
static void say(devsys_policy_decision *d, int code, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	struct reason *nr = devsys__realloc(d->r, (d->n + 1) * sizeof(*nr));
	if (!nr) {
		d->oom = 1;
		return;
	}
	d->r = nr;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!(d->r[d->n].text = devsys__strdup(text))) {
		d->oom = 1;
		return;
	}
	d->r[d->n++].code = code;
}

static const char *short_sha(const char *sha, char buf[13])
{
	snprintf(buf, 13, "%.12s", sha);
	return buf;
}

/* ---- input checks ---- */

static int check_input(const devsys_policy_input *in)
{
	if (!devsys__policy_risk_ok(in->path_risk))
		return devsys__error_set(DEVSYS_EINVALID, "policy input: path_risk %d is not a class (classify the changes "
		                                          "first)",
		                         in->path_risk);
	if (in->profile_risk != DEVSYS_RISK_UNSET && !devsys__policy_risk_ok(in->profile_risk))
		return devsys__error_set(DEVSYS_EINVALID, "policy input: profile_risk %d is not a class", in->profile_risk);
	if (in->spec_risk != DEVSYS_RISK_UNSET && !devsys__policy_risk_ok(in->spec_risk))
		return devsys__error_set(DEVSYS_EINVALID, "policy input: spec_risk %d is not a class", in->spec_risk);
	if (!in->head_sha || !*in->head_sha)
		return devsys__error_set(DEVSYS_EINVALID, "policy input: head_sha is required");
	if ((in->nreviews && !in->reviews) || (in->nchecks && !in->checks) || (in->nauthors && !in->authors))
		return devsys__error_set(DEVSYS_EINVAL, "policy input: a list with a count has a NULL array");
	for (size_t i = 0; i < in->nauthors; i++)
		if (!in->authors[i])
			return devsys__error_set(DEVSYS_EINVAL, "policy input: authors[%zu] is NULL", i);
	return 0;
}

static int get_review(devsys_policy_review *out, const devsys_policy_input *in, size_t i)
{
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	int rc;
	if (!in->reviews[i])
		return devsys__error_set(DEVSYS_EINVAL, "policy input: reviews[%zu] is NULL", i);
	if ((rc = devsys__versioned_copy(&r, in->reviews[i], review_sizes, DEVSYS_POLICY_REVIEW_VERSION,
	                                 "devsys_policy_review")) < 0)
		return rc;
	if (!r.reviewer || !*r.reviewer || !r.commit_sha || r.state < DEVSYS_REVIEW_APPROVED ||
	    r.state > DEVSYS_REVIEW_PENDING)
		return devsys__error_set(DEVSYS_EINVALID, "policy input: reviews[%zu] needs a reviewer, a commit_sha and a "
		                                          "known state",
		                         i);
	*out = r;
	return 0;
}

static int get_check(devsys_policy_check *out, const devsys_policy_input *in, size_t i)
{
	devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
	int rc;
	if (!in->checks[i])
		return devsys__error_set(DEVSYS_EINVAL, "policy input: checks[%zu] is NULL", i);
	if ((rc = devsys__versioned_copy(&c, in->checks[i], check_sizes, DEVSYS_POLICY_CHECK_VERSION,
	                                 "devsys_policy_check")) < 0)
		return rc;
	if (!c.context || !c.sha || c.state < DEVSYS_CHECK_PENDING || c.state > DEVSYS_CHECK_NEUTRAL)
		return devsys__error_set(DEVSYS_EINVALID, "policy input: checks[%zu] needs a context, a sha and a known state",
		                         i);
	*out = c;
	return 0;
}

/* ---- the effective class ---- */

static void effective_class(devsys_policy_decision *d, const devsys_policy_input *in)
{
	int r = in->path_risk;
	const char *by = "the changed paths";
	if (in->profile_risk > r)
		r = in->profile_risk, by = "the runner profile's risk";
	if (in->spec_risk > r)
		r = in->spec_risk, by = "the spec's policy.risk";
	d->risk = r;
	say(d, DEVSYS_POLICY_R_CLASS, "class %s, set by %s (paths %s, profile %s, spec %s)%s", devsys_risk_name(r), by,
	    devsys_risk_name(in->path_risk), devsys_risk_name(in->profile_risk), devsys_risk_name(in->spec_risk),
	    in->require_approval ? "; the spec's policy.require_approval asks for a human approval" : "");
}

/* ---- reviews: each reviewer's latest APPROVED or CHANGES_REQUESTED (or a
 * DISMISSED that cancels it) counts; COMMENTED and PENDING change nothing ---- */

static bool is_excluded(const devsys_policy_input *in, const char *who, const char **why)
{
	if (in->bot && strcasecmp(in->bot, who) == 0) {
		*why = "is the task's bot identity";
		return true;
	}
	for (size_t i = 0; i < in->nauthors; i++)
		if (strcasecmp(in->authors[i], who) == 0) {
			*why = "authored commits of this change";
			return true;
		}
	return false;
}

/* Is review @p i its reviewer's latest deciding one? */
static int latest_of_reviewer(bool *latest, const devsys_policy_input *in, size_t i, const devsys_policy_review *r)
{
	*latest = true;
	for (size_t j = i + 1; j < in->nreviews; j++) {
		devsys_policy_review later;
		int rc = get_review(&later, in, j);
		if (rc < 0)
			return rc;
		if (strcasecmp(later.reviewer, r->reviewer) == 0 && later.state != DEVSYS_REVIEW_COMMENTED &&
		    later.state != DEVSYS_REVIEW_PENDING)
			*latest = false;
	}
	return 0;
}

static int count_reviews(devsys_policy_decision *d, const devsys_policy_input *in, bool *changes_requested)
{
	char s1[13], s2[13];
	for (size_t i = 0; i < in->nreviews; i++) {
		devsys_policy_review r;
		bool latest;
		const char *why;
		int rc;
		if ((rc = get_review(&r, in, i)) < 0 || (rc = latest_of_reviewer(&latest, in, i, &r)) < 0)
			return rc;
		if (!latest || r.state == DEVSYS_REVIEW_COMMENTED || r.state == DEVSYS_REVIEW_PENDING ||
		    r.state == DEVSYS_REVIEW_DISMISSED)
			continue;
		if (r.state == DEVSYS_REVIEW_CHANGES_REQUESTED) {
			*changes_requested = true;
			say(d, DEVSYS_POLICY_R_CHANGES_REQUESTED, "%s requested changes (on %s)", r.reviewer,
			    short_sha(r.commit_sha, s1));
		} else if (is_excluded(in, r.reviewer, &why)) {
			say(d, DEVSYS_POLICY_R_NOT_COUNTED, "the approval by %s does not count: %s", r.reviewer, why);
		} else if (strcasecmp(r.commit_sha, in->head_sha) != 0) {
			say(d, DEVSYS_POLICY_R_NOT_COUNTED, "the approval by %s is for %s, not the head %s", r.reviewer,
			    short_sha(r.commit_sha, s1), short_sha(in->head_sha, s2));
		} else {
			d->counted++;
			say(d, DEVSYS_POLICY_R_APPROVED, "approved by %s on the head %s", r.reviewer,
			    short_sha(in->head_sha, s1));
		}
	}
	return 0;
}

/* ---- required contexts: met when a status or a check run of that name is
 * success on the head commit ---- */

enum ctx_state { CTX_MET, CTX_FAILED, CTX_PENDING };

static int context_state(int *st, const devsys_policy_input *in, const char *ctx, const char **detail)
{
	bool failed = false, neutral = false, pending = false;
	for (size_t i = 0; i < in->nchecks; i++) {
		devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
		int rc = get_check(&c, in, i);
		if (rc < 0)
			return rc;
		if (strcmp(c.context, ctx) != 0 || strcasecmp(c.sha, in->head_sha) != 0)
			continue;
		if (c.state == DEVSYS_CHECK_SUCCESS) {
			*st = CTX_MET;
			return 0;
		}
		failed |= c.state == DEVSYS_CHECK_FAILURE;
		neutral |= c.state == DEVSYS_CHECK_NEUTRAL;
		pending |= c.state == DEVSYS_CHECK_PENDING;
	}
	*st = failed || neutral ? CTX_FAILED : CTX_PENDING;
	*detail = failed ? "failed" : neutral ? "finished neutral or skipped, not success" : pending ? "is pending"
	                                                                                            : "has not reported";
	return 0;
}

static int check_contexts(devsys_policy_decision *d, const devsys_policy *p, const devsys_policy_input *in,
                          bool *failed, bool *pending)
{
	char s[13];
	for (size_t i = 0; i < p->ncontexts; i++) {
		int st, rc;
		const char *detail = NULL;
		if ((rc = context_state(&st, in, p->contexts[i], &detail)) < 0)
			return rc;
		if (st == CTX_FAILED) {
			*failed = true;
			say(d, DEVSYS_POLICY_R_CHECK_FAILED, "required context %s %s on the head %s", p->contexts[i], detail,
			    short_sha(in->head_sha, s));
		} else if (st == CTX_PENDING) {
			*pending = true;
			say(d, DEVSYS_POLICY_R_CHECK_PENDING, "required context %s %s on the head %s", p->contexts[i], detail,
			    short_sha(in->head_sha, s));
		}
	}
	if (p->ncontexts && !*failed && !*pending)
		say(d, DEVSYS_POLICY_R_CHECKS_PASSED, "every required context is success on the head %s",
		    short_sha(in->head_sha, s));
	return 0;
}

/* ---- the decision ---- */

static unsigned int approvals_needed(devsys_policy_decision *d, const devsys_policy *p, const devsys_policy_input *in)
{
	if (d->risk == DEVSYS_RISK_CRITICAL)
		return p->opts.critical_approvals;
	if (d->risk > DEVSYS_RISK_LOW || in->require_approval)
		return 1;
	if (!(p->opts.flags & DEVSYS_POLICY_AUTO_MERGE)) {
		say(d, DEVSYS_POLICY_R_AUTO_MERGE_OFF, "class low, but policy.auto_merge is off: a human approval is needed");
		return 1;
	}
	if (!p->ncontexts) {
		say(d, DEVSYS_POLICY_R_NO_CONTEXTS, "class low, but policy.required_contexts is empty: nothing auto-merges "
		                                    "without a required check");
		return 1;
	}
	return 0;
}

static int decide(devsys_policy_decision *d, const devsys_policy *p, const devsys_policy_input *in)
{
	bool changes = false, failed = false, pending = false;
	char s[13];
	int rc;
	effective_class(d, in);
	if (in->draft)
		say(d, DEVSYS_POLICY_R_DRAFT, "the pull request is a draft: mark it ready for review");
	if ((rc = count_reviews(d, in, &changes)) < 0 || (rc = check_contexts(d, p, in, &failed, &pending)) < 0)
		return rc;
	d->required = approvals_needed(d, p, in);
	if (d->counted < d->required)
		say(d, DEVSYS_POLICY_R_NEEDS_APPROVAL, "class %s needs %u approval%s on the head %s by someone other than the "
		                                       "bot and the commit authors; %u counted",
		    devsys_risk_name(d->risk), d->required, d->required == 1 ? "" : "s", short_sha(in->head_sha, s),
		    d->counted);
	if (in->draft || changes || failed)
		d->outcome = DEVSYS_POLICY_BLOCKED;
	else if (d->counted < d->required)
		d->outcome = DEVSYS_POLICY_AWAITING_REVIEW;
	else if (pending)
		d->outcome = DEVSYS_POLICY_BLOCKED;
	else
		d->outcome = DEVSYS_POLICY_MERGE;
	return 0;
}

int devsys_policy_decide(devsys_policy_decision **out, const devsys_policy *p, const devsys_policy_input *input)
{
	devsys_policy_input in = DEVSYS_POLICY_INPUT_INIT;
	devsys_policy_decision *d;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(input);
	if ((rc = devsys__versioned_copy(&in, input, input_sizes, DEVSYS_POLICY_INPUT_VERSION, "devsys_policy_input")) < 0 ||
	    (rc = check_input(&in)) < 0)
		return rc;
	if (!(d = devsys__calloc(1, sizeof(*d))))
		return devsys__error_oom();
	rc = decide(d, p, &in);
	if (rc == 0 && d->oom)
		rc = devsys__error_oom();
	if (rc < 0) {
		devsys_policy_decision_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int devsys__policy_decision_block(devsys_policy_decision *d, int code, const char *text)
{
	struct reason *nr;
	char *t;
	if (!(t = devsys__strdup(text)) || !(nr = devsys__realloc(d->r, (d->n + 1) * sizeof(*nr)))) {
		devsys__free(t);
		return devsys__error_oom();
	}
	d->r = nr;
	/* right after the class, where devsys_gate_merge() looks for the first blocker */
	size_t at = d->n ? 1 : 0;
	memmove(&d->r[at + 1], &d->r[at], (d->n - at) * sizeof(*d->r));
	d->r[at].code = code;
	d->r[at].text = t;
	d->n++;
	d->outcome = DEVSYS_POLICY_BLOCKED;
	return 0;
}

int devsys_policy_decision_outcome(const devsys_policy_decision *d)
{
	return d ? d->outcome : DEVSYS_POLICY_BLOCKED;
}

int devsys_policy_decision_risk(const devsys_policy_decision *d)
{
	return d ? d->risk : DEVSYS_RISK_UNSET;
}

int devsys_policy_decision_approvals(unsigned int *counted, unsigned int *required, const devsys_policy_decision *d)
{
	DEVSYS__CHECK_ARG(d);
	if (counted)
		*counted = d->counted;
	if (required)
		*required = d->required;
	return 0;
}

size_t devsys_policy_decision_reason_count(const devsys_policy_decision *d)
{
	return d ? d->n : 0;
}

const char *devsys_policy_decision_reason(const devsys_policy_decision *d, size_t i, int *code)
{
	if (!d || i >= d->n)
		return NULL;
	if (code)
		*code = d->r[i].code;
	return d->r[i].text;
}

void devsys_policy_decision_free(devsys_policy_decision *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		devsys__free(d->r[i].text);
	devsys__free(d->r);
	devsys__free(d);
}

const char *devsys_policy_outcome_name(int outcome)
{
	static const char *const names[] = { "merge", "awaiting-review", "blocked" };
	return outcome >= 0 && outcome <= DEVSYS_POLICY_BLOCKED ? names[outcome] : "?";
}

const char *devsys_policy_reason_name(int code)
{
	static const char *const names[] = { "class",       "draft",          "changes-requested", "check-failed",
		                             "check-pending", "needs-approval", "not-counted",       "auto-merge-off",
		                             "no-contexts",   "approved",       "checks-passed",     "paths-mismatch" };
	return code >= 0 && code <= DEVSYS_POLICY_R_PATHS_MISMATCH ? names[code] : "?";
}
