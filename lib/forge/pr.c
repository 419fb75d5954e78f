/*
 * Pull requests: open-or-update, read, reviews and checks, with every
 * result copied out of the provider (its strings live only until its next
 * call).
 */
#include "forge_int.h"

#include <string.h>

struct devsys_pr {
	devsys_forge *forge; /* a reference */
	int64_t number;
	char *url, *head, *base, *head_sha, *title, *author, *merge_sha;
	int state, draft, reused;
	devsys_forge_sink reviews;
	devsys_policy_review *review_views; /* point into reviews */
	devsys_forge_sink checks;
	devsys_policy_check *check_views;
};

static const size_t pr_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_pr_options, masker), /* 1 */
};

int devsys_pr_options_init(devsys_pr_options *opts, unsigned int version)
{
	static const devsys_pr_options defaults = DEVSYS_PR_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, pr_options_sizes, DEVSYS_PR_OPTIONS_VERSION, version, __func__);
}

static int set_str(char **dst, const char *src)
{
	char *n = NULL;
	if (src && !(n = devsys__strdup(src)))
		return devsys__error_oom();
	devsys__free(*dst);
	*dst = n;
	return 0;
}

/* Copy what the provider filled in (its strings die with its next call). */
static int take_info(devsys_pr *pr, const devsys_forge_pr_info *in)
{
	int rc;
	if (in->number <= 0)
		return devsys__error_set(DEVSYS_EIO, "forge '%s': the provider returned no PR number", pr->forge->provider);
	if (!in->head_sha || strlen(in->head_sha) < 40)
		return devsys__error_set(DEVSYS_EIO, "forge '%s': PR #%lld: the provider returned no head SHA",
		                         pr->forge->provider, (long long)in->number);
	pr->number = in->number;
	if ((rc = set_str(&pr->url, in->url)) < 0 || (rc = set_str(&pr->head, in->head)) < 0 ||
	    (rc = set_str(&pr->base, in->base)) < 0 || (rc = set_str(&pr->head_sha, in->head_sha)) < 0 ||
	    (rc = set_str(&pr->title, in->title)) < 0 || (rc = set_str(&pr->author, in->author)) < 0 ||
	    (rc = set_str(&pr->merge_sha, in->merge_sha)) < 0)
		return rc;
	pr->state = in->state;
	pr->draft = in->draft != 0;
	pr->reused = in->reused != 0;
	return 0;
}

static int pr_alloc(devsys_pr **out, devsys_forge *forge)
{
	devsys_pr *pr = devsys__calloc(1, sizeof(*pr));
	if (!pr)
		return devsys__error_oom();
	pr->forge = forge;
	__atomic_add_fetch(&forge->refs, 1, __ATOMIC_RELAXED);
	devsys__sink_init(&pr->reviews, DEVSYS__SINK_REVIEWS);
	devsys__sink_init(&pr->checks, DEVSYS__SINK_CHECKS);
	*out = pr;
	return 0;
}

void devsys_pr_free(devsys_pr *pr)
{
	if (!pr)
		return;
	devsys__free(pr->url);
	devsys__free(pr->head);
	devsys__free(pr->base);
	devsys__free(pr->head_sha);
	devsys__free(pr->title);
	devsys__free(pr->author);
	devsys__free(pr->merge_sha);
	devsys__sink_dispose(&pr->reviews);
	devsys__sink_dispose(&pr->checks);
	devsys__free(pr->review_views);
	devsys__free(pr->check_views);
	devsys__forge_unref(pr->forge);
	devsys__free(pr);
}

int devsys_pr_get(devsys_pr **out, devsys_forge *forge, int64_t number)
{
	devsys_pr *pr;
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(forge);
	*out = NULL;
	if (number <= 0)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pr_get: PR number %lld must be positive", (long long)number);
	if ((rc = pr_alloc(&pr, forge)) < 0)
		return rc;
	pr->number = number;
	if ((rc = devsys_pr_refresh(pr)) < 0) {
		devsys_pr_free(pr);
		return rc;
	}
	*out = pr;
	return 0;
}

int devsys_pr_refresh(devsys_pr *pr)
{
	devsys_forge_pr_info info;
	int rc;
	DEVSYS__CHECK_ARG(pr);
	memset(&info, 0, sizeof(info));
	info.version = DEVSYS_FORGE_PR_INFO_VERSION;
	if ((rc = pr->forge->vt.pr_get(pr->forge->self, &info, pr->number)) < 0)
		return rc;
	return take_info(pr, &info);
}

/* "org/team" to "team" when org is the owner (case-insensitively); "team" stays. */
static int team_slugs(char ***out, const devsys_forge *f, const char *const *teams, size_t n)
{
	char **s = devsys__calloc(n ? n : 1, sizeof(*s));
	if (!s)
		return devsys__error_oom();
	*out = s;
	for (size_t i = 0; i < n; i++) {
		const char *t = teams[i], *slash = t ? strchr(t, '/') : NULL;
		if (!t || !*t)
			return devsys__error_set(DEVSYS_EINVAL, "team reviewer %zu is empty", i);
		if (slash && (strchr(slash + 1, '/') || !slash[1] || (size_t)(slash - t) != strlen(f->owner) ||
		              strncasecmp(t, f->owner, (size_t)(slash - t)) != 0))
			return devsys__error_set(DEVSYS_EINVALID, "team reviewer '%.100s': a team must be 'team' or "
			                         "'%s/team' (teams of the repository's owner only)", t, f->owner);
		if (!(s[i] = devsys__strdup(slash ? slash + 1 : t)))
			return devsys__error_oom();
	}
	return 0;
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		devsys__free(v[i]);
	devsys__free(v);
}

/* Cap, then mask: the cap's note has no secret and masking may only shorten
 * or lengthen a little, so cap again after masking. */
static int prepare_text(devsys_buf *out, const char *text, size_t max, devsys_masker *masker)
{
	devsys_buf capped = DEVSYS_BUF_INIT, masked = DEVSYS_BUF_INIT;
	int rc;
	if ((rc = devsys__pr_body_cap(&capped, text, strlen(text), max)) < 0)
		goto done;
	if (masker) {
		if ((rc = devsys_masker_mask(masker, capped.ptr ? capped.ptr : "", capped.size, &masked)) < 0)
			goto done;
		rc = devsys__pr_body_cap(out, masked.ptr ? masked.ptr : "", masked.size, max);
	} else {
		rc = devsys_buf_put(out, capped.ptr ? capped.ptr : "", capped.size);
	}
done:
	devsys_buf_dispose(&capped);
	devsys_buf_dispose(&masked);
	return rc;
}

/* Forges cap titles (GitHub at 256 characters): mask, then cut at a UTF-8
 * boundary, on one line; no note fits in a title. */
#define TITLE_MAX 256
static int prepare_title(devsys_buf *out, const char *title, devsys_masker *masker)
{
	devsys_buf masked = DEVSYS_BUF_INIT;
	const char *t = title;
	size_t n;
	int rc = 0;
	if (masker) {
		if ((rc = devsys_masker_mask(masker, title, strlen(title), &masked)) < 0)
			return rc;
		t = masked.ptr ? masked.ptr : "";
	}
	n = strcspn(t, "\r\n");
	if (n > TITLE_MAX) {
		n = TITLE_MAX;
		while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80)
			n--;
	}
	if (n == 0)
		rc = devsys__error_set(DEVSYS_EINVAL, "devsys_pr_open: the title's first line is empty");
	else if (devsys_buf_put(out, t, n) < 0)
		rc = devsys__error_oom();
	devsys_buf_dispose(&masked);
	return rc;
}

static int check_pr_options(const devsys_pr_options *o)
{
	if (!o->title || !*o->title || !o->head || !*o->head || !o->base || !*o->base)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pr_open: title, head and base are required");
	if ((o->nlabels && !o->labels) || (o->nreviewers && !o->reviewers) || (o->nteam_reviewers && !o->team_reviewers))
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pr_open: a list count without its list");
	return 0;
}

int devsys_pr_open(devsys_pr **out, devsys_forge *forge, const devsys_pr_options *opts)
{
	devsys_pr_options o = DEVSYS_PR_OPTIONS_INIT;
	devsys_forge_pr_request req;
	devsys_forge_pr_info info;
	devsys_buf title = DEVSYS_BUF_INIT, body = DEVSYS_BUF_INIT;
	char **teams = NULL;
	devsys_pr *pr = NULL;
	int rc;

	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(forge);
	DEVSYS__CHECK_ARG(opts);
	*out = NULL;
	if ((rc = devsys__versioned_copy(&o, opts, pr_options_sizes, DEVSYS_PR_OPTIONS_VERSION, "devsys_pr_options")) < 0 ||
	    (rc = check_pr_options(&o)) < 0)
		return rc;
	if ((rc = team_slugs(&teams, forge, o.team_reviewers, o.nteam_reviewers)) < 0 ||
	    (rc = prepare_title(&title, o.title, o.masker)) < 0 ||
	    (rc = prepare_text(&body, o.body ? o.body : "", DEVSYS_PR_BODY_MAX, o.masker)) < 0)
		goto done;
	memset(&req, 0, sizeof(req));
	req.version = DEVSYS_FORGE_PR_REQUEST_VERSION;
	req.title = title.ptr;
	req.body = body.ptr ? body.ptr : "";
	req.head = o.head;
	req.base = o.base;
	req.draft = o.draft != 0;
	req.labels = o.labels;
	req.nlabels = o.nlabels;
	req.reviewers = o.reviewers;
	req.nreviewers = o.nreviewers;
	req.team_reviewers = (const char *const *)teams;
	req.nteam_reviewers = o.nteam_reviewers;
	req.number = o.number > 0 ? o.number : 0;
	req.head_sha = o.head_sha;
	req.base_sha = o.base_sha;
	memset(&info, 0, sizeof(info));
	info.version = DEVSYS_FORGE_PR_INFO_VERSION;
	if ((rc = pr_alloc(&pr, forge)) < 0 || (rc = forge->vt.pr_upsert(forge->self, &info, &req)) < 0 ||
	    (rc = take_info(pr, &info)) < 0)
		goto done;
	*out = pr;
	pr = NULL;
done:
	devsys_pr_free(pr);
	free_strv(teams, o.nteam_reviewers);
	devsys_buf_dispose(&title);
	devsys_buf_dispose(&body);
	return rc;
}

int64_t devsys_pr_number(const devsys_pr *pr) { return pr ? pr->number : 0; }
const char *devsys_pr_url(const devsys_pr *pr) { return pr ? pr->url : NULL; }
const char *devsys_pr_head_sha(const devsys_pr *pr) { return pr ? pr->head_sha : NULL; }
const char *devsys_pr_head(const devsys_pr *pr) { return pr ? pr->head : NULL; }
const char *devsys_pr_base(const devsys_pr *pr) { return pr ? pr->base : NULL; }
const char *devsys_pr_title(const devsys_pr *pr) { return pr ? pr->title : NULL; }
const char *devsys_pr_author(const devsys_pr *pr) { return pr ? pr->author : NULL; }
int devsys_pr_state_of(const devsys_pr *pr) { return pr ? pr->state : DEVSYS_PR_CLOSED; }
int devsys_pr_draft(const devsys_pr *pr) { return pr ? pr->draft : 0; }
int devsys_pr_reused(const devsys_pr *pr) { return pr ? pr->reused : 0; }
const char *devsys_pr_merge_sha(const devsys_pr *pr) { return pr ? pr->merge_sha : NULL; }

const char *devsys_pr_state_name(int state)
{
	static const char *const names[] = { "open", "closed", "merged" };
	return state >= 0 && state <= DEVSYS_PR_MERGED ? names[state] : "?";
}

devsys_forge *devsys__pr_forge(devsys_pr *pr)
{
	return pr->forge;
}

int devsys__pr_set_merged(devsys_pr *pr, const char *merge_sha)
{
	pr->state = DEVSYS_PR_MERGED;
	return set_str(&pr->merge_sha, merge_sha);
}

int devsys_pr_load_reviews(devsys_pr *pr)
{
	devsys_forge_sink s;
	devsys_policy_review *v;
	int rc;
	DEVSYS__CHECK_ARG(pr);
	DEVSYS__FORGE_SLOT(pr->forge, pr_reviews, "reading reviews");
	devsys__sink_init(&s, DEVSYS__SINK_REVIEWS);
	if ((rc = pr->forge->vt.pr_reviews(pr->forge->self, &s, pr->number)) < 0) {
		devsys__sink_dispose(&s);
		return rc;
	}
	if (!(v = devsys__calloc(s.n ? s.n : 1, sizeof(*v)))) {
		devsys__sink_dispose(&s);
		return devsys__error_oom();
	}
	for (size_t i = 0; i < s.n; i++) {
		v[i].version = DEVSYS_POLICY_REVIEW_VERSION;
		v[i].reviewer = s.items[i].a;
		v[i].commit_sha = s.items[i].b;
		v[i].state = s.items[i].state;
	}
	devsys__sink_dispose(&pr->reviews);
	devsys__free(pr->review_views);
	pr->reviews = s;
	pr->review_views = v;
	return 0;
}

size_t devsys_pr_review_count(const devsys_pr *pr)
{
	return pr ? pr->reviews.n : 0;
}

const devsys_policy_review *devsys_pr_review(const devsys_pr *pr, size_t i)
{
	return pr && i < pr->reviews.n ? &pr->review_views[i] : NULL;
}

int devsys_pr_add_review(devsys_pr *pr, const char *reviewer, const char *sha, int state)
{
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	DEVSYS__CHECK_ARG(pr);
	DEVSYS__CHECK_ARG(reviewer);
	if (!*reviewer)
		return devsys__error_set(DEVSYS_EINVAL, "a review needs a reviewer name");
	if (state != DEVSYS_REVIEW_APPROVED && state != DEVSYS_REVIEW_CHANGES_REQUESTED &&
	    state != DEVSYS_REVIEW_COMMENTED && state != DEVSYS_REVIEW_DISMISSED)
		return devsys__error_set(DEVSYS_EINVAL, "review state %d is not approved, changes requested, commented "
		                                        "or dismissed", state);
	DEVSYS__FORGE_SLOT(pr->forge, review_add, "recording a review");
	r.reviewer = reviewer;
	r.commit_sha = sha ? sha : pr->head_sha;
	r.state = state;
	return pr->forge->vt.review_add(pr->forge->self, pr->number, &r);
}

/* Read one kind of check into @p s (which may already hold the other). */
static int load_checks_kind(devsys_pr *pr, devsys_forge_sink *s, int run)
{
	devsys_forge *f = pr->forge;
	if (run)
		return f->vt.check_runs ? f->vt.check_runs(f->self, s, pr->head_sha) : 0;
	DEVSYS__FORGE_SLOT(f, statuses, "reading commit statuses");
	return f->vt.statuses(f->self, s, pr->head_sha);
}

int devsys_pr_load_checks(devsys_pr *pr)
{
	devsys_forge_sink s;
	devsys_policy_check *v;
	int rc;
	DEVSYS__CHECK_ARG(pr);
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	if ((rc = load_checks_kind(pr, &s, 0)) < 0 || (rc = load_checks_kind(pr, &s, 1)) < 0) {
		devsys__sink_dispose(&s);
		return rc;
	}
	if (!(v = devsys__calloc(s.n ? s.n : 1, sizeof(*v)))) {
		devsys__sink_dispose(&s);
		return devsys__error_oom();
	}
	for (size_t i = 0; i < s.n; i++) {
		v[i].version = DEVSYS_POLICY_CHECK_VERSION;
		v[i].context = s.items[i].a;
		v[i].sha = s.items[i].b;
		v[i].state = s.items[i].state;
		v[i].kind = s.items[i].kind;
	}
	devsys__sink_dispose(&pr->checks);
	devsys__free(pr->check_views);
	pr->checks = s;
	pr->check_views = v;
	return 0;
}

size_t devsys_pr_check_count(const devsys_pr *pr)
{
	return pr ? pr->checks.n : 0;
}

const devsys_policy_check *devsys_pr_check(const devsys_pr *pr, size_t i)
{
	return pr && i < pr->checks.n ? &pr->check_views[i] : NULL;
}
