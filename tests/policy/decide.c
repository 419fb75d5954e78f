/*
 * The gate's decision table, case by case, precedence included
 * (docs/gate.md): effective class, who counts as an approver, reviews per
 * reviewer, required contexts from statuses or check runs, drafts, and
 * auto-merge for low only.
 */
#include <devsys.h>
#include <devsys/policy.h>

#include "testutil.h"

#include <string.h>

#define HEAD "1111111111111111111111111111111111111111"
#define OLD "2222222222222222222222222222222222222222"

static devsys_policy *pol;

static void make_policy(unsigned int flags, unsigned int critical, int no_contexts)
{
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	static const char *const none[1] = { NULL };
	devsys_policy_free(pol);
	o.flags = flags;
	o.critical_approvals = critical;
	if (no_contexts)
		o.required_contexts = none, o.nrequired_contexts = 0;
	cr_assert_eq(devsys_policy_new(&pol, &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
	pol = NULL;
	make_policy(DEVSYS_POLICY_AUTO_MERGE, 1, 0);
}
static void teardown(void)
{
	devsys_policy_free(pol);
	devsys_shutdown();
}
TestSuite(policy_decide, .init = setup, .fini = teardown);

/* A test case: the input plus owned review and check lists. */
struct tc {
	devsys_policy_input in;
	devsys_policy_review rv[8];
	const devsys_policy_review *rvp[8];
	devsys_policy_check ck[8];
	const devsys_policy_check *ckp[8];
	const char *authors[2];
};

static void tc_init(struct tc *t, int path_risk)
{
	devsys_policy_input in = DEVSYS_POLICY_INPUT_INIT;
	memset(t, 0, sizeof(*t));
	t->in = in;
	t->in.path_risk = path_risk;
	t->in.head_sha = HEAD;
	t->in.bot = "devsys-bot";
	t->authors[0] = "devsys-bot";
	t->authors[1] = "alice";
	t->in.authors = t->authors;
	t->in.nauthors = 2;
	t->in.reviews = t->rvp;
	t->in.checks = t->ckp;
}

static void review(struct tc *t, const char *who, const char *sha, int state)
{
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	r.reviewer = who;
	r.commit_sha = sha;
	r.state = state;
	t->rv[t->in.nreviews] = r;
	t->rvp[t->in.nreviews] = &t->rv[t->in.nreviews];
	t->in.nreviews++;
}

static void check(struct tc *t, const char *ctx, const char *sha, int state, int kind)
{
	devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
	c.context = ctx;
	c.sha = sha;
	c.state = state;
	c.kind = kind;
	t->ck[t->in.nchecks] = c;
	t->ckp[t->in.nchecks] = &t->ck[t->in.nchecks];
	t->in.nchecks++;
}

static void green(struct tc *t)
{
	check(t, "devsys/tests", HEAD, DEVSYS_CHECK_SUCCESS, DEVSYS_CHECK_STATUS);
}

static bool has_reason(const devsys_policy_decision *d, int code, const char *needle)
{
	for (size_t i = 0; i < devsys_policy_decision_reason_count(d); i++) {
		int c;
		const char *text = devsys_policy_decision_reason(d, i, &c);
		if (c == code && (!needle || strstr(text, needle)))
			return true;
	}
	return false;
}

static char *reasons(const devsys_policy_decision *d)
{
	static char buf[4096];
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < devsys_policy_decision_reason_count(d) && off < sizeof(buf) - 1; i++) {
		int c;
		const char *text = devsys_policy_decision_reason(d, i, &c);
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "\n  [%s] %s", devsys_policy_reason_name(c), text);
	}
	return buf;
}

/* Decide and check the outcome; the caller checks reasons and frees. */
static devsys_policy_decision *expect(struct tc *t, int outcome)
{
	devsys_policy_decision *d;
	cr_assert_eq(devsys_policy_decide(&d, pol, &t->in), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_policy_decision_outcome(d), outcome, "got %s, want %s:%s",
	             devsys_policy_outcome_name(devsys_policy_decision_outcome(d)), devsys_policy_outcome_name(outcome),
	             reasons(d));
	int first;
	devsys_policy_decision_reason(d, 0, &first);
	cr_assert_eq(first, DEVSYS_POLICY_R_CLASS, "the class comes first");
	return d;
}

static void expect_free(struct tc *t, int outcome, int code, const char *needle)
{
	devsys_policy_decision *d = expect(t, outcome);
	if (code >= 0)
		cr_assert(has_reason(d, code, needle), "no [%s] '%s' in:%s", devsys_policy_reason_name(code),
		          needle ? needle : "", reasons(d));
	devsys_policy_decision_free(d);
}

/* ---- low ---- */

Test(policy_decide, low_green_auto_merges_when_enabled)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t);
	expect_free(&t, DEVSYS_POLICY_MERGE, DEVSYS_POLICY_R_CHECKS_PASSED, NULL);
}

Test(policy_decide, low_without_auto_merge_awaits_review_then_merges)
{
	struct tc t;
	make_policy(0, 1, 0);
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t);
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_AUTO_MERGE_OFF, NULL);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, DEVSYS_POLICY_R_APPROVED, "bob");
}

Test(policy_decide, low_with_no_required_contexts_never_auto_merges)
{
	struct tc t;
	make_policy(DEVSYS_POLICY_AUTO_MERGE, 1, 1);
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t); /* a green check nobody requires changes nothing */
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_NO_CONTEXTS, NULL);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, DEVSYS_POLICY_R_APPROVED, NULL);
}

Test(policy_decide, low_waits_for_pending_or_missing_checks)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_PENDING, "devsys/tests has not reported");
	check(&t, "devsys/tests", HEAD, DEVSYS_CHECK_PENDING, DEVSYS_CHECK_RUN);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_PENDING, "is pending");
}

Test(policy_decide, checks_of_another_commit_do_not_count)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	check(&t, "devsys/tests", OLD, DEVSYS_CHECK_SUCCESS, DEVSYS_CHECK_STATUS);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_PENDING, "has not reported");
}

Test(policy_decide, a_status_or_a_check_run_meets_a_context)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	check(&t, "devsys/tests", HEAD, DEVSYS_CHECK_SUCCESS, DEVSYS_CHECK_RUN);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
	/* either meets it, even when the other kind failed */
	check(&t, "devsys/tests", HEAD, DEVSYS_CHECK_FAILURE, DEVSYS_CHECK_STATUS);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
}

Test(policy_decide, failed_or_neutral_required_context_blocks)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	check(&t, "devsys/tests", HEAD, DEVSYS_CHECK_FAILURE, DEVSYS_CHECK_STATUS);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_FAILED, "failed");
	tc_init(&t, DEVSYS_RISK_LOW);
	check(&t, "devsys/tests", HEAD, DEVSYS_CHECK_NEUTRAL, DEVSYS_CHECK_RUN);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_FAILED, "not success");
	/* an unrequired failing check does not block */
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t);
	check(&t, "lint", HEAD, DEVSYS_CHECK_FAILURE, DEVSYS_CHECK_RUN);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
}

Test(policy_decide, every_required_context_must_pass)
{
	static const char *const ctx[] = { "devsys/tests", "ci/build" };
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	struct tc t;
	devsys_policy_free(pol);
	o.flags = DEVSYS_POLICY_AUTO_MERGE;
	o.required_contexts = ctx;
	o.nrequired_contexts = 2;
	cr_assert_eq(devsys_policy_new(&pol, &o), 0);
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_PENDING, "ci/build");
	check(&t, "ci/build", HEAD, DEVSYS_CHECK_SUCCESS, DEVSYS_CHECK_RUN);
	expect_free(&t, DEVSYS_POLICY_MERGE, DEVSYS_POLICY_R_CHECKS_PASSED, NULL);
}

/* ---- approvals ---- */

Test(policy_decide, medium_needs_an_approval_on_the_head)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	green(&t);
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_NEEDS_APPROVAL, "needs 1 approval");
	review(&t, "bob", OLD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_NOT_COUNTED, "not the head");
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, DEVSYS_POLICY_R_APPROVED, "bob");
}

Test(policy_decide, approved_but_red_is_blocked_and_pending_waits)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_HIGH);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_PENDING, NULL);
	check(&t, "devsys/tests", HEAD, DEVSYS_CHECK_FAILURE, DEVSYS_CHECK_RUN);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHECK_FAILED, NULL);
}

Test(policy_decide, bot_and_authors_do_not_count)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	green(&t);
	review(&t, "Devsys-Bot", HEAD, DEVSYS_REVIEW_APPROVED); /* logins compare case-insensitively */
	review(&t, "alice", HEAD, DEVSYS_REVIEW_APPROVED);
	devsys_policy_decision *d = expect(&t, DEVSYS_POLICY_AWAITING_REVIEW);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_NOT_COUNTED, "bot identity"), "%s", reasons(d));
	cr_assert(has_reason(d, DEVSYS_POLICY_R_NOT_COUNTED, "authored commits"), "%s", reasons(d));
	unsigned int counted, required;
	cr_assert_eq(devsys_policy_decision_approvals(&counted, &required, d), 0);
	cr_assert_eq(counted, 0);
	cr_assert_eq(required, 1);
	devsys_policy_decision_free(d);
}

Test(policy_decide, critical_needs_two_when_configured)
{
	struct tc t;
	make_policy(DEVSYS_POLICY_AUTO_MERGE, 2, 0);
	tc_init(&t, DEVSYS_RISK_CRITICAL);
	green(&t);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_NEEDS_APPROVAL, "needs 2 approvals");
	review(&t, "BOB", HEAD, DEVSYS_REVIEW_APPROVED); /* the same reviewer twice is one approval */
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_NEEDS_APPROVAL, "1 counted");
	review(&t, "carol", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
	/* high is not critical: one approval is enough there */
	tc_init(&t, DEVSYS_RISK_HIGH);
	green(&t);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
}

Test(policy_decide, critical_default_is_one_approval)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_CRITICAL);
	green(&t);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
}

Test(policy_decide, only_each_reviewers_latest_review_counts)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	green(&t);
	/* approved, then requested changes: blocked */
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_CHANGES_REQUESTED);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHANGES_REQUESTED, "bob requested changes");
	/* then approved again: the latest counts */
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
	/* a later comment changes nothing */
	review(&t, "bob", HEAD, DEVSYS_REVIEW_COMMENTED);
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
	/* a later dismissed review cancels the approval before it */
	review(&t, "bob", HEAD, DEVSYS_REVIEW_DISMISSED);
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_NEEDS_APPROVAL, NULL);
}

Test(policy_decide, dismissed_changes_request_no_longer_blocks)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	green(&t);
	review(&t, "carol", OLD, DEVSYS_REVIEW_CHANGES_REQUESTED);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_CHANGES_REQUESTED, "carol");
	t.rv[0].state = DEVSYS_REVIEW_DISMISSED; /* the forge reports a dismissed review so */
	expect_free(&t, DEVSYS_POLICY_MERGE, -1, NULL);
}

/* ---- the effective class ---- */

Test(policy_decide, profile_and_spec_may_only_raise)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t);
	t.in.profile_risk = DEVSYS_RISK_MEDIUM;
	devsys_policy_decision *d = expect(&t, DEVSYS_POLICY_AWAITING_REVIEW);
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_MEDIUM);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CLASS, "runner profile"), "%s", reasons(d));
	devsys_policy_decision_free(d);
	t.in.profile_risk = DEVSYS_RISK_UNSET;
	t.in.spec_risk = DEVSYS_RISK_CRITICAL;
	d = expect(&t, DEVSYS_POLICY_AWAITING_REVIEW);
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_CRITICAL);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CLASS, "policy.risk"), "%s", reasons(d));
	devsys_policy_decision_free(d);
	/* a lower spec or profile class never lowers the paths' class */
	tc_init(&t, DEVSYS_RISK_CRITICAL);
	green(&t);
	t.in.profile_risk = DEVSYS_RISK_LOW;
	t.in.spec_risk = DEVSYS_RISK_LOW;
	d = expect(&t, DEVSYS_POLICY_AWAITING_REVIEW);
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_CRITICAL);
	devsys_policy_decision_free(d);
}

Test(policy_decide, require_approval_raises_low)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t);
	t.in.require_approval = 1;
	expect_free(&t, DEVSYS_POLICY_AWAITING_REVIEW, DEVSYS_POLICY_R_NEEDS_APPROVAL, NULL);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	expect_free(&t, DEVSYS_POLICY_MERGE, DEVSYS_POLICY_R_CLASS, "require_approval");
}

/* ---- precedence ---- */

Test(policy_decide, draft_blocks_even_when_everything_else_is_met)
{
	struct tc t;
	tc_init(&t, DEVSYS_RISK_LOW);
	green(&t);
	t.in.draft = 1;
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_DRAFT, NULL);
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	green(&t);
	review(&t, "bob", HEAD, DEVSYS_REVIEW_APPROVED);
	t.in.draft = 1;
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_DRAFT, NULL);
}

Test(policy_decide, blocked_beats_awaiting_review_beats_pending)
{
	struct tc t;
	/* changes requested and no approval: blocked, and both reasons are given */
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	green(&t);
	review(&t, "carol", HEAD, DEVSYS_REVIEW_CHANGES_REQUESTED);
	devsys_policy_decision *d = expect(&t, DEVSYS_POLICY_BLOCKED);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CHANGES_REQUESTED, NULL), "%s", reasons(d));
	cr_assert(has_reason(d, DEVSYS_POLICY_R_NEEDS_APPROVAL, NULL), "%s", reasons(d));
	devsys_policy_decision_free(d);
	/* a failed check and no approval: blocked */
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	check(&t, "devsys/tests", HEAD, DEVSYS_CHECK_FAILURE, DEVSYS_CHECK_STATUS);
	expect_free(&t, DEVSYS_POLICY_BLOCKED, DEVSYS_POLICY_R_NEEDS_APPROVAL, NULL);
	/* pending checks and no approval: awaiting review (a human can look meanwhile) */
	tc_init(&t, DEVSYS_RISK_MEDIUM);
	d = expect(&t, DEVSYS_POLICY_AWAITING_REVIEW);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CHECK_PENDING, NULL), "%s", reasons(d));
	devsys_policy_decision_free(d);
}

/* ---- bad input ---- */

Test(policy_decide, bad_input_is_an_error_not_a_decision)
{
	struct tc t;
	devsys_policy_decision *d = (devsys_policy_decision *)1;
	tc_init(&t, DEVSYS_RISK_UNSET);
	cr_assert_eq(devsys_policy_decide(&d, pol, &t.in), DEVSYS_EINVALID);
	cr_assert_null(d);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "path_risk"));
	tc_init(&t, DEVSYS_RISK_LOW);
	t.in.head_sha = NULL;
	cr_assert_eq(devsys_policy_decide(&d, pol, &t.in), DEVSYS_EINVALID);
	tc_init(&t, DEVSYS_RISK_LOW);
	t.in.spec_risk = 9;
	cr_assert_eq(devsys_policy_decide(&d, pol, &t.in), DEVSYS_EINVALID);
	tc_init(&t, DEVSYS_RISK_LOW);
	review(&t, NULL, HEAD, DEVSYS_REVIEW_APPROVED);
	cr_assert_eq(devsys_policy_decide(&d, pol, &t.in), DEVSYS_EINVALID);
	tc_init(&t, DEVSYS_RISK_LOW);
	check(&t, "devsys/tests", HEAD, 42, DEVSYS_CHECK_STATUS);
	cr_assert_eq(devsys_policy_decide(&d, pol, &t.in), DEVSYS_EINVALID);
	tc_init(&t, DEVSYS_RISK_LOW);
	t.in.version = 77;
	cr_assert_eq(devsys_policy_decide(&d, pol, &t.in), DEVSYS_EVERSION);
	tc_init(&t, DEVSYS_RISK_LOW);
	t.in.nreviews = 1;
	t.rvp[0] = NULL;
	cr_assert_eq(devsys_policy_decide(&d, pol, &t.in), DEVSYS_EINVAL);
	cr_assert_null(d);
	cr_assert_str_eq(devsys_policy_outcome_name(DEVSYS_POLICY_AWAITING_REVIEW), "awaiting-review");
	cr_assert_str_eq(devsys_policy_reason_name(DEVSYS_POLICY_R_CHECK_PENDING), "check-pending");
	cr_assert_str_eq(devsys_policy_outcome_name(9), "?");
}
