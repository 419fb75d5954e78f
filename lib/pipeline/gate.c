/*
 * The gate stage: the merge gate's decision on the task's PR, written to
 * task.json ("gate"), events.jsonl ("gate.decision") and the PR body. Only
 * a merge decision under a policy that allows auto-merge merges (through
 * devsys_gate_merge(), at the decided head); everything else rests in
 * awaiting-review for a human.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The gate's inputs from the spec (policy.risk, policy.require_approval)
 * and the agent's runner profile (its risk, when devsys.yaml gives one).
 * The built-in inproc runner, which devsys.yaml need not define, is no
 * profile and has no risk of its own: the agent stage ran on it. */
static int gate_inputs(devsys_gate_options *go, devsys__stage_ctx *c)
{
	const devsys_spec *spec = c->p->spec;
	const char *risk = devsys_spec_get_string(spec, "/policy/risk");
	const char *profile = devsys__pipeline_profile(c->p, "agent");
	const devsys_node *approval = devsys_node_get(devsys_spec_at(spec, 0), "/policy/require_approval");
	int rc;
	if (risk && (rc = devsys_risk_from_name(&go->spec_risk, risk)) < 0)
		return rc;
	go->require_approval = approval && devsys_node_bool(approval);
	if (profile && (rc = devsys_config_runner_risk(&go->profile_risk, c->p->config, profile)) < 0)
		return rc;
	go->repo = c->repo;
	return 0;
}

/* The operator's policy, or docs/gate.md's defaults without a devsys.yaml
 * (@p owned then holds it). */
static int gate_policy(const devsys_policy **out, devsys_policy **owned, const devsys_config *cfg)
{
	*owned = NULL;
	if (cfg)
		return devsys_config_policy(out, cfg);
	int rc = devsys_policy_new(owned, NULL);
	*out = *owned;
	return rc;
}

/* task.json's "gate" (the explanation, with the stage's outcome, the PR and
 * its head) and a gate.decision event carrying the same. */
static int record_decision(devsys__stage_ctx *c, const devsys_policy_decision *d, const char *outcome)
{
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	json_t *g = NULL;
	char *s = NULL;
	int rc;
	if ((rc = devsys_gate_explain(&j, d, 1)) < 0)
		return rc;
	if (!(g = json_loads(j.ptr, 0, NULL)) ||
	    json_object_set_new(g, "outcome", json_string(outcome)) ||
	    json_object_set_new(g, "risk", json_string(devsys_risk_name(devsys_policy_decision_risk(d)))) ||
	    json_object_set_new(g, "pr", json_integer((json_int_t)devsys_pr_number(c->pr))) ||
	    json_object_set_new(g, "head_sha", devsys_pr_head_sha(c->pr) ? json_string(devsys_pr_head_sha(c->pr)) : json_null()) ||
	    json_object_set_new(g, "merge_sha", devsys_pr_merge_sha(c->pr) ? json_string(devsys_pr_merge_sha(c->pr)) : json_null()) ||
	    !(s = json_dumps(g, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		rc = devsys__error_oom();
	else if ((rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_set_json(rec, "gate", s)) == 0 &&
	         (rc = devsys_record_save(rec)) == 0)
		rc = devsys_record_event(rec, "gate.decision", s, NULL);
	devsys_record_free(rec);
	json_decref(g);
	free(s);
	devsys_buf_dispose(&j);
	return rc;
}

/* The decision into the PR's body, so a reviewer sees why it waits. Only an
 * open PR: a merged one is left as it was merged. */
static int show_decision(devsys__stage_ctx *c, const devsys_policy_decision *d)
{
	devsys_buf t = DEVSYS_BUF_INIT;
	int rc;
	if ((rc = devsys_gate_explain(&t, d, 0)) == 0)
		rc = devsys__pipeline_pr_update(c, t.ptr);
	devsys_buf_dispose(&t);
	return rc;
}

/* Merged: awaiting-review, merged, then done (the state machine moves one step at a time). */
static int end_merged(devsys__stage_ctx *c)
{
	int rc, state = devsys_store_task_state(c->p->store, c->p->task_id);
	if (state == DEVSYS_STATE_DEPLOYED || state == DEVSYS_STATE_DEPLOY_SKIPPED)
		if ((rc = devsys_store_transition(c->p->store, c->p->task_id, DEVSYS_STATE_AWAITING_REVIEW, "gate")) < 0)
			return devsys__pipeline_end(c, "gate", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	if ((rc = devsys_store_transition(c->p->store, c->p->task_id, DEVSYS_STATE_MERGED, "merged by the gate")) < 0)
		return devsys__pipeline_end(c, "gate", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	return devsys__pipeline_end(c, "gate", 0, DEVSYS_FAILURE_NONE, "merged", DEVSYS_STATE_DONE);
}

static int gate_failed(devsys__stage_ctx *c, int rc)
{
	return devsys__pipeline_end(c, "gate", rc, rc == DEVSYS_EINVALID ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM,
	                            "gate-failed", -1);
}

/* Decide, record, show; merge when the decision and the policy both allow it. */
static int decide(devsys__stage_ctx *c, const devsys_policy *pol, devsys_gate_options *go)
{
	devsys_policy_options po = DEVSYS_POLICY_OPTIONS_INIT;
	devsys_policy_decision *d = NULL, *m = NULL;
	bool merge;
	int rc;
	if ((rc = devsys_gate_check(&d, c->pr, go)) < 0)
		return gate_failed(c, rc);
	devsys_policy_get_options(&po, pol);
	merge = devsys_policy_decision_outcome(d) == DEVSYS_POLICY_MERGE && (po.flags & DEVSYS_POLICY_AUTO_MERGE);
	if ((rc = record_decision(c, d, merge ? "merging" : "awaiting-review")) < 0 || (rc = show_decision(c, d)) < 0) {
		devsys_policy_decision_free(d);
		return gate_failed(c, rc);
	}
	devsys_policy_decision_free(d);
	if (!merge)
		return devsys__pipeline_end(c, "gate", 0, DEVSYS_FAILURE_NONE, "awaiting-review", DEVSYS_STATE_AWAITING_REVIEW);
	/* the merge decides again, on the head it merges */
	rc = devsys_gate_merge(&m, c->pr, go);
	if (m && (rc == 0 || rc == DEVSYS_ESTATE)) {
		int wrc = record_decision(c, m, rc == 0 ? "merged" : "awaiting-review");
		devsys_policy_decision_free(m);
		if (wrc < 0)
			return gate_failed(c, wrc);
		if (rc == DEVSYS_ESTATE) /* something changed between the check and the merge */
			return devsys__pipeline_end(c, "gate", 0, DEVSYS_FAILURE_NONE, "awaiting-review",
			                            DEVSYS_STATE_AWAITING_REVIEW);
		return end_merged(c);
	}
	devsys_policy_decision_free(m);
	return gate_failed(c, rc);
}

int devsys__stage_gate(devsys__stage_ctx *c)
{
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	const devsys_policy *pol = NULL;
	devsys_policy *owned = NULL;
	int rc;
	if ((rc = devsys__pipeline_begin(c, "gate")) < 0)
		return rc;
	if ((rc = devsys__pipeline_repo(c)) < 0 || (rc = devsys__pipeline_pr(c)) < 0 ||
	    (rc = devsys_pr_refresh(c->pr)) < 0)
		return gate_failed(c, rc);
	/* a run killed after the merge: the forge says it is done */
	if (devsys_pr_state_of(c->pr) == DEVSYS_PR_MERGED)
		return end_merged(c);
	if (devsys_pr_state_of(c->pr) != DEVSYS_PR_OPEN)
		return gate_failed(c, devsys__error_set(DEVSYS_ESTATE, "task '%s': PR #%lld is %s; the gate decides on an "
		                                                      "open pull request",
		                                        c->p->task_id, (long long)devsys_pr_number(c->pr),
		                                        devsys_pr_state_name(devsys_pr_state_of(c->pr))));
	if ((rc = gate_policy(&pol, &owned, c->p->config)) < 0 || (rc = gate_inputs(&go, c)) < 0)
		rc = gate_failed(c, rc);
	else {
		go.policy = pol;
		rc = decide(c, pol, &go);
	}
	devsys_policy_free(owned);
	return rc;
}
