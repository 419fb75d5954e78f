/*
 * The merge gate with forge I/O: gather the facts (changed paths, reviews,
 * checks, draft), let lib/policy decide, and merge only on "merge", at the
 * head commit the decision was made on.
 */
#include "forge_int.h"
#include "policy/policy_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const size_t gate_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_gate_options, poll_interval_ms), /* 1 */
};

int devsys_gate_options_init(devsys_gate_options *opts, unsigned int version)
{
	static const devsys_gate_options defaults = DEVSYS_GATE_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, gate_sizes, DEVSYS_GATE_OPTIONS_VERSION, version, __func__);
}

/* What the gate knows about the change, gathered once per check. */
struct facts {
	devsys_policy_change *changes; /* strings borrowed from repo_changes or files */
	const devsys_policy_change **change_ptrs;
	size_t nchanges;
	devsys_repo_changes *repo_changes;
	devsys_forge_sink files;
	devsys_forge_sink authors;
	const char **author_ptrs;
	size_t nauthor_ptrs;
	int path_risk;
	devsys_buf mismatch; /* non-empty: why the paths cannot be trusted; the decision is BLOCKED */
};

static void facts_dispose(struct facts *f)
{
	devsys__free(f->changes);
	devsys__free(f->change_ptrs);
	devsys_repo_changes_free(f->repo_changes);
	devsys__sink_dispose(&f->files);
	devsys__sink_dispose(&f->authors);
	devsys__free(f->author_ptrs);
	devsys_buf_dispose(&f->mismatch);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every path a change list names (new and old paths), sorted, unique. */
static size_t path_set(const char **v, size_t n)
{
	size_t u = 0;
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (u == 0 || strcmp(v[u - 1], v[i]) != 0)
			v[u++] = v[i];
	return u;
}

/* The paths of sorted set @p a that sorted set @p b lacks, named in @p out
 * after @p lead (at most a few, then how many more). */
static int say_missing(devsys_buf *out, const char *lead, const char **a, size_t na, const char **b, size_t nb)
{
	size_t i, j = 0, named = 0, more = 0;
	int rc = 0;
	for (i = 0; i < na && rc == 0; i++) {
		while (j < nb && strcmp(b[j], a[i]) < 0)
			j++;
		if (j < nb && strcmp(b[j], a[i]) == 0)
			continue;
		if (named == 5) {
			more++;
			continue;
		}
		rc = devsys_buf_printf(out, "%s%s'%.200s'", named ? "" : out->size ? "; " : "", named ? ", " : lead, a[i]);
		named++;
	}
	if (rc == 0 && more)
		rc = devsys_buf_printf(out, " and %zu more", more);
	return rc < 0 ? devsys__error_oom() : 0;
}

/* What forge paths @p fv (sorted, unique) and the task's @p r differ by;
 * a truncated forge list may lack paths. */
static int say_differences(devsys_buf *out, const char **fv, size_t uf, const char **r, size_t ur, int truncated)
{
	size_t before;
	int rc = say_missing(out, "the forge lists ", fv, uf, r, ur);
	if (rc == 0 && out->size && devsys_buf_puts(out, ", which the task's changed paths do not have") < 0)
		return devsys__error_oom();
	if (rc < 0 || truncated)
		return rc;
	before = out->size;
	if ((rc = say_missing(out, "the task changes ", r, ur, fv, uf)) == 0 && out->size > before &&
	    devsys_buf_puts(out, ", which the forge does not list") < 0)
		return devsys__error_oom();
	return rc;
}

/* The forge's file list must name the same paths as the checkout's diff
 * (counting a rename's old path on both sides, since one side may see a
 * delete and an add where the other sees a rename). A truncated forge list
 * must be a subset. Anything else fails closed: f->mismatch names the
 * paths that differ, and the decision is BLOCKED. */
static int cross_check(struct facts *f, const devsys_pr *pr)
{
	devsys_buf diff = DEVSYS_BUF_INIT;
	size_t nr = 0, nf = 0, ur, uf, i;
	const char **r = devsys__calloc(2 * f->nchanges + 1, sizeof(*r));
	const char **fv = devsys__calloc(2 * f->files.n + 1, sizeof(*fv));
	int rc = 0;
	if (!r || !fv) {
		devsys__free(r);
		devsys__free(fv);
		return devsys__error_oom();
	}
	for (i = 0; i < f->nchanges; i++) {
		r[nr++] = f->changes[i].path;
		if (f->changes[i].old_path)
			r[nr++] = f->changes[i].old_path;
	}
	for (i = 0; i < f->files.n; i++) {
		fv[nf++] = f->files.items[i].a;
		if (f->files.items[i].b)
			fv[nf++] = f->files.items[i].b;
	}
	ur = path_set(r, nr);
	uf = path_set(fv, nf);
	rc = say_differences(&diff, fv, uf, r, ur, f->files.truncated);
	if (rc == 0 && diff.size &&
	    devsys_buf_printf(&f->mismatch, "PR #%lld: the forge's file list and the task's changed paths disagree: %s: "
	                                    "failing closed",
	                      (long long)devsys_pr_number(pr), diff.ptr) < 0)
		rc = devsys__error_oom();
	devsys_buf_dispose(&diff);
	devsys__free(r);
	devsys__free(fv);
	return rc;
}

static int changes_from_repo(struct facts *f, devsys_repo *repo, const devsys_pr *pr)
{
	int rc;
	if (strcmp(devsys_repo_head_sha(repo), devsys_pr_head_sha(pr)) != 0)
		return devsys__error_set(DEVSYS_ECONFLICT, "gate: PR #%lld: its head %.12s is not the task's head %.12s "
		                                           "(pushed from elsewhere?): failing closed",
		                         (long long)devsys_pr_number(pr), devsys_pr_head_sha(pr), devsys_repo_head_sha(repo));
	if ((rc = devsys_repo_changed_paths(&f->repo_changes, repo)) < 0)
		return rc;
	f->nchanges = devsys_repo_changes_count(f->repo_changes);
	if (!(f->changes = devsys__calloc(f->nchanges + 1, sizeof(*f->changes))))
		return devsys__error_oom();
	for (size_t i = 0; i < f->nchanges; i++) {
		const devsys_repo_change *c = devsys_repo_changes_at(f->repo_changes, i);
		f->changes[i].version = DEVSYS_POLICY_CHANGE_VERSION;
		f->changes[i].path = devsys_repo_change_path(c);
		f->changes[i].old_path = devsys_repo_change_old_path(c);
		f->changes[i].flags = devsys_policy_change_flags(devsys_repo_change_old_mode(c), devsys_repo_change_new_mode(c));
	}
	return 0;
}

/* Without a checkout the forge's list is all there is; a truncated one
 * cannot say what changed, so the decision is BLOCKED (classed by what it
 * does list). */
static int changes_from_files(struct facts *f, const devsys_pr *pr)
{
	if (f->files.truncated &&
	    devsys_buf_printf(&f->mismatch, "PR #%lld: the forge's file list is truncated (%zu path%s listed) and no "
	                                    "checkout was given to list the changes: failing closed",
	                      (long long)devsys_pr_number(pr), f->files.n, f->files.n == 1 ? "" : "s") < 0)
		return devsys__error_oom();
	f->nchanges = f->files.n;
	if (!(f->changes = devsys__calloc(f->nchanges + 1, sizeof(*f->changes))))
		return devsys__error_oom();
	for (size_t i = 0; i < f->nchanges; i++) {
		f->changes[i].version = DEVSYS_POLICY_CHANGE_VERSION;
		f->changes[i].path = f->files.items[i].a;
		f->changes[i].old_path = f->files.items[i].b;
	}
	return 0;
}

static int raise_by_forge_files(struct facts *f, const devsys_policy *pol)
{
	devsys_policy_change *c = devsys__calloc(f->files.n + 1, sizeof(*c));
	const devsys_policy_change **cp = devsys__calloc(f->files.n + 1, sizeof(*cp));
	int rc, risk = DEVSYS_RISK_UNSET;
	if (!c || !cp) {
		rc = devsys__error_oom();
		goto done;
	}
	for (size_t i = 0; i < f->files.n; i++) {
		c[i].version = DEVSYS_POLICY_CHANGE_VERSION;
		c[i].path = f->files.items[i].a;
		c[i].old_path = f->files.items[i].b;
		cp[i] = &c[i];
	}
	if ((rc = devsys_policy_classify_changes(&risk, NULL, pol, cp, f->files.n)) == 0 && risk > f->path_risk)
		f->path_risk = risk;
done:
	devsys__free(c);
	devsys__free(cp);
	return rc;
}

static int gather_paths(struct facts *f, devsys_pr *pr, const devsys_gate_options *o)
{
	devsys_forge *fg = devsys__pr_forge(pr);
	int rc;
	devsys__sink_init(&f->files, DEVSYS__SINK_FILES);
	if (fg->vt.pr_files && (rc = fg->vt.pr_files(fg->self, &f->files, devsys_pr_number(pr))) < 0)
		return rc;
	if (!o->repo && !fg->vt.pr_files)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "gate: forge '%s' cannot list a PR's files and no checkout "
		                                               "was given", fg->provider);
	if ((rc = o->repo ? changes_from_repo(f, o->repo, pr) : changes_from_files(f, pr)) < 0)
		return rc;
	if (o->repo && fg->vt.pr_files && (rc = cross_check(f, pr)) < 0)
		return rc;
	if (!(f->change_ptrs = devsys__calloc(f->nchanges + 1, sizeof(*f->change_ptrs))))
		return devsys__error_oom();
	for (size_t i = 0; i < f->nchanges; i++)
		f->change_ptrs[i] = &f->changes[i];
	if ((rc = devsys_policy_classify_changes(&f->path_risk, NULL, o->policy, f->change_ptrs, f->nchanges)) < 0)
		return rc;
	/* the two lists disagree: either may be the truth, so the class is the higher */
	return f->mismatch.size && o->repo ? raise_by_forge_files(f, o->policy) : 0;
}

/* The commit authors (their approvals never count) and the PR's author
 * when it is not the bot (it cannot approve its own PR either). */
static int gather_authors(struct facts *f, devsys_pr *pr, const devsys_gate_options *o)
{
	devsys_forge *fg = devsys__pr_forge(pr);
	size_t n = 0;
	int rc;
	devsys__sink_init(&f->authors, DEVSYS__SINK_AUTHORS);
	if (fg->vt.pr_authors && (rc = fg->vt.pr_authors(fg->self, &f->authors, devsys_pr_number(pr))) < 0)
		return rc;
	if (!(f->author_ptrs = devsys__calloc(f->authors.n + o->nauthors + 2, sizeof(*f->author_ptrs))))
		return devsys__error_oom();
	for (size_t i = 0; i < f->authors.n; i++)
		f->author_ptrs[n++] = f->authors.items[i].a;
	for (size_t i = 0; i < o->nauthors; i++)
		if (o->authors[i])
			f->author_ptrs[n++] = o->authors[i];
	if (devsys_pr_author(pr))
		f->author_ptrs[n++] = devsys_pr_author(pr);
	f->nauthor_ptrs = n;
	return 0;
}

static const char *gate_bot(devsys_pr *pr, const devsys_gate_options *o)
{
	devsys_forge *fg = devsys__pr_forge(pr);
	return o->bot ? o->bot : fg->bot ? fg->bot : devsys_pr_author(pr);
}

/* Read what may change while waiting (head, draft, reviews, checks) and decide. */
static int decide_once(devsys_policy_decision **out, devsys_pr *pr, const devsys_gate_options *o,
                       const struct facts *f)
{
	devsys_policy_input in = DEVSYS_POLICY_INPUT_INIT;
	const devsys_policy_review **rv = NULL;
	const devsys_policy_check **ck = NULL;
	size_t nr, nc;
	int rc;
	if ((rc = devsys_pr_load_reviews(pr)) < 0 || (rc = devsys_pr_load_checks(pr)) < 0)
		return rc;
	nr = devsys_pr_review_count(pr);
	nc = devsys_pr_check_count(pr);
	if (!(rv = devsys__calloc(nr + 1, sizeof(*rv))) || !(ck = devsys__calloc(nc + 1, sizeof(*ck)))) {
		devsys__free(rv);
		return devsys__error_oom();
	}
	for (size_t i = 0; i < nr; i++)
		rv[i] = devsys_pr_review(pr, i);
	for (size_t i = 0; i < nc; i++)
		ck[i] = devsys_pr_check(pr, i);
	in.path_risk = f->path_risk;
	in.profile_risk = o->profile_risk;
	in.spec_risk = o->spec_risk;
	in.require_approval = o->require_approval;
	in.head_sha = devsys_pr_head_sha(pr);
	in.bot = gate_bot(pr, o);
	in.authors = f->author_ptrs;
	in.nauthors = f->nauthor_ptrs;
	in.reviews = rv;
	in.nreviews = nr;
	in.checks = ck;
	in.nchecks = nc;
	in.draft = devsys_pr_draft(pr);
	rc = devsys_policy_decide(out, o->policy, &in);
	if (rc == 0 && f->mismatch.size &&
	    (rc = devsys__policy_decision_block(*out, DEVSYS_POLICY_R_PATHS_MISMATCH, f->mismatch.ptr)) < 0) {
		devsys_policy_decision_free(*out);
		*out = NULL;
	}
	devsys__free(rv);
	devsys__free(ck);
	return rc;
}

/* Blocked only by checks that have not reported yet: worth waiting for. */
static bool only_pending(const devsys_policy_decision *d)
{
	bool pending = false;
	if (devsys_policy_decision_outcome(d) != DEVSYS_POLICY_BLOCKED)
		return false;
	for (size_t i = 0; i < devsys_policy_decision_reason_count(d); i++) {
		int code = -1;
		devsys_policy_decision_reason(d, i, &code);
		if (code == DEVSYS_POLICY_R_DRAFT || code == DEVSYS_POLICY_R_CHANGES_REQUESTED ||
		    code == DEVSYS_POLICY_R_CHECK_FAILED || code == DEVSYS_POLICY_R_PATHS_MISMATCH)
			return false;
		pending |= code == DEVSYS_POLICY_R_CHECK_PENDING;
	}
	return pending;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int check_open(devsys_pr *pr)
{
	if (devsys_pr_state_of(pr) != DEVSYS_PR_OPEN)
		return devsys__error_set(DEVSYS_ESTATE, "gate: PR #%lld is %s, not open", (long long)devsys_pr_number(pr),
		                         devsys_pr_state_name(devsys_pr_state_of(pr)));
	return 0;
}

int devsys_gate_check(devsys_policy_decision **out, devsys_pr *pr, const devsys_gate_options *opts)
{
	devsys_gate_options o = DEVSYS_GATE_OPTIONS_INIT;
	struct facts f;
	uint64_t deadline;
	char head[64];
	int rc;

	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(pr);
	DEVSYS__CHECK_ARG(opts);
	*out = NULL;
	if ((rc = devsys__versioned_copy(&o, opts, gate_sizes, DEVSYS_GATE_OPTIONS_VERSION, "devsys_gate_options")) < 0)
		return rc;
	if (!o.policy)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_gate_check: a policy is required");
	memset(&f, 0, sizeof(f));
	deadline = devsys__now_ns() + (uint64_t)o.poll_timeout_ms * 1000000u;
	if ((rc = devsys_pr_refresh(pr)) < 0 || (rc = check_open(pr)) < 0 || (rc = gather_paths(&f, pr, &o)) < 0 ||
	    (rc = gather_authors(&f, pr, &o)) < 0)
		goto done;
	snprintf(head, sizeof(head), "%s", devsys_pr_head_sha(pr));
	while ((rc = decide_once(out, pr, &o, &f)) == 0 && only_pending(*out) && devsys__now_ns() < deadline) {
		devsys_policy_decision_free(*out);
		*out = NULL;
		sleep_ms(o.poll_interval_ms ? o.poll_interval_ms : 2000);
		/* a new head while waiting is another change: decide on it afresh */
		if ((rc = devsys_pr_refresh(pr)) < 0 || (rc = check_open(pr)) < 0)
			break;
		if (strcmp(head, devsys_pr_head_sha(pr)) != 0) {
			rc = devsys__error_set(DEVSYS_ECONFLICT, "gate: PR #%lld: the head moved from %.12s to %.12s while "
			                                         "waiting for checks: check again",
			                       (long long)devsys_pr_number(pr), head, devsys_pr_head_sha(pr));
			break;
		}
	}
done:
	facts_dispose(&f);
	if (rc < 0) {
		devsys_policy_decision_free(*out);
		*out = NULL;
	}
	return rc;
}

int devsys_gate_merge(devsys_policy_decision **out, devsys_pr *pr, const devsys_gate_options *opts)
{
	devsys_policy_decision *d = NULL;
	devsys_forge_merge_request req;
	devsys_forge_merge_result res;
	devsys_forge *fg;
	char sha[64];
	int rc;

	DEVSYS__CHECK_ARG(pr);
	DEVSYS__CHECK_ARG(opts);
	if (out)
		*out = NULL;
	fg = devsys__pr_forge(pr);
	DEVSYS__FORGE_SLOT(fg, merge, "merging");
	if ((rc = devsys_gate_check(&d, pr, opts)) < 0)
		return rc;
	if (devsys_policy_decision_outcome(d) != DEVSYS_POLICY_MERGE) {
		size_t n = devsys_policy_decision_reason_count(d);
		rc = devsys__error_set(DEVSYS_ESTATE, "gate: PR #%lld is %s, not merged: %s", (long long)devsys_pr_number(pr),
		                       devsys_policy_outcome_name(devsys_policy_decision_outcome(d)),
		                       n > 1 ? devsys_policy_decision_reason(d, 1, NULL) : devsys_policy_decision_reason(d, 0, NULL));
		goto done;
	}
	/* exactly the head the decision was made on: the forge refuses a moved head */
	snprintf(sha, sizeof(sha), "%s", devsys_pr_head_sha(pr));
	memset(&req, 0, sizeof(req));
	req.version = DEVSYS_FORGE_MERGE_REQUEST_VERSION;
	req.sha = sha;
	req.method = fg->merge_method;
	req.title = devsys_pr_title(pr);
	memset(&res, 0, sizeof(res));
	res.version = DEVSYS_FORGE_MERGE_RESULT_VERSION;
	if ((rc = fg->vt.merge(fg->self, &res, devsys_pr_number(pr), &req)) < 0)
		goto done;
	rc = devsys__pr_set_merged(pr, res.sha);
done:
	if (out)
		*out = d;
	else
		devsys_policy_decision_free(d);
	return rc;
}

static int explain_json(devsys_buf *out, const devsys_policy_decision *d)
{
	unsigned int counted = 0, required = 0;
	json_t *j, *reasons = json_array();
	char *text;
	int rc;
	devsys_policy_decision_approvals(&counted, &required, d);
	for (size_t i = 0; reasons && i < devsys_policy_decision_reason_count(d); i++) {
		int code = -1;
		const char *t = devsys_policy_decision_reason(d, i, &code);
		json_array_append_new(reasons, json_pack("{s:s, s:s}", "code", devsys_policy_reason_name(code), "text", t));
	}
	j = json_pack("{s:s, s:s, s:i, s:i, s:o}", "decision",
	              devsys_policy_outcome_name(devsys_policy_decision_outcome(d)), "class",
	              devsys_risk_name(devsys_policy_decision_risk(d)), "approvals", (int)counted, "required",
	              (int)required, "reasons", reasons);
	if (!j || !(text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		json_decref(j);
		return devsys__error_oom();
	}
	rc = devsys_buf_puts(out, text);
	free(text);
	json_decref(j);
	return rc < 0 ? devsys__error_oom() : 0;
}

int devsys_gate_explain(devsys_buf *out, const devsys_policy_decision *d, int json)
{
	unsigned int counted = 0, required = 0;
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(d);
	if (json)
		return explain_json(out, d);
	devsys_policy_decision_approvals(&counted, &required, d);
	rc = devsys_buf_printf(out, "%s (class %s, approvals %u of %u)\n",
	                       devsys_policy_outcome_name(devsys_policy_decision_outcome(d)),
	                       devsys_risk_name(devsys_policy_decision_risk(d)), counted, required);
	for (size_t i = 0; rc == 0 && i < devsys_policy_decision_reason_count(d); i++) {
		int code = -1;
		const char *t = devsys_policy_decision_reason(d, i, &code);
		rc = devsys_buf_printf(out, "  %s: %s\n", devsys_policy_reason_name(code), t);
	}
	return rc < 0 ? devsys__error_oom() : 0;
}
