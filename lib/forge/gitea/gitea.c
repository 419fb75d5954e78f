/*
 * The `gitea` forge provider: Gitea and Forgejo through their REST API
 * (<base URL>/api/v1), over lib/http. What differs from GitHub, and why
 * the requests look as they do (docs/forge.md, "Gitea and Forgejo"):
 *  - no draft field: a draft is the "WIP: " title prefix, read back from it;
 *  - labels are sent as ids, so names are looked up (GET /labels, once per
 *    instance, or from the PR's own labels when it already has them);
 *  - an open PR for the same head answers POST /pulls with 409; the list has
 *    no head filter, so the PR is read with GET /pulls/{base}/{head}, both
 *    percent-encoded as single path segments ("task/42" -> "task%2F42");
 *  - no check runs: Gitea Actions jobs report commit statuses, which the
 *    combined status read returns; check_runs is left NULL.
 */
#include "gitea_int.h"
#include "http/http_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gitea {
	devsys__http *http;
	char *base_url;
	char *owner;
	char *repo;
	devsys_buf prefix; /* "/repos/<owner>/<repo>", encoded */
	devsys_buf path;   /* the request path being built */
	json_t *held;      /* the answer the last call's strings point into */
	json_t *labels;    /* the repository's labels, read once */
	uint64_t requests; /* sent so far (retries included), for the request budget */
};

static void hold(struct gitea *g, json_t *j)
{
	json_decref(g->held);
	g->held = j;
}

static void gitea_close(void *self)
{
	struct gitea *g = self;
	if (!g)
		return;
	devsys__http_free(g->http);
	devsys__free(g->base_url);
	devsys__free(g->owner);
	devsys__free(g->repo);
	devsys_buf_dispose(&g->prefix);
	devsys_buf_dispose(&g->path);
	json_decref(g->held);
	json_decref(g->labels);
	devsys__free(g);
}

static int http_open(struct gitea *g, const devsys_forge_open_options *o)
{
	devsys__http_options ho;
	devsys__http_options_default(&ho);
	ho.what = "gitea";
	ho.base_url = g->base_url;
	ho.token = o->token;
	ho.auth_scheme = "token"; /* Gitea's documented scheme (it accepts Bearer too) */
	ho.ca_file = o->ca_file;
	ho.user_agent = o->user_agent;
	if (o->connect_timeout_ms > 0)
		ho.connect_timeout_ms = o->connect_timeout_ms;
	if (o->timeout_ms > 0)
		ho.timeout_ms = o->timeout_ms;
	if (o->max_retries > 0)
		ho.max_retries = o->max_retries;
	ho.verbose = o->verbose != 0;
	return devsys__http_new(&g->http, &ho);
}

static int gitea_open(void **self, const devsys_forge_open_options *o, void *payload)
{
	struct gitea *g;
	size_t n;
	int rc;
	(void)payload;
	if (!o->base_url || !*o->base_url)
		return devsys_error_set(DEVSYS_EINVAL, "gitea: a base URL is required (forges.<host>.base_url, e.g. "
		                                       "https://gitea.example/api/v1)");
	if (!o->owner || !*o->owner || !o->repo || !*o->repo)
		return devsys_error_set(DEVSYS_EINVAL, "gitea: the repository owner and name are required");
	if (!(g = devsys__calloc(1, sizeof(*g))))
		return devsys__error_oom();
	if (!(g->base_url = devsys__strdup(o->base_url)) || !(g->owner = devsys__strdup(o->owner)) ||
	    !(g->repo = devsys__strdup(o->repo))) {
		gitea_close(g);
		return devsys__error_oom();
	}
	for (n = strlen(g->base_url); n > 0 && g->base_url[n - 1] == '/'; n--)
		g->base_url[n - 1] = '\0';
	if (devsys_buf_puts(&g->prefix, "/repos/") < 0 || devsys__gt_put_segment(&g->prefix, g->owner) < 0 ||
	    devsys_buf_puts(&g->prefix, "/") < 0 || devsys__gt_put_segment(&g->prefix, g->repo) < 0) {
		gitea_close(g);
		return devsys__error_oom();
	}
	if ((rc = http_open(g, o)) < 0) {
		gitea_close(g);
		return rc;
	}
	*self = g;
	return 0;
}

/* ---- requests ---- */

/* g->path = prefix + printf(@p fmt); the tails are short (numbers, SHAs, fixed words). */
static int at(struct gitea *g, const char *fmt, ...) DEVSYS_PRINTF(2, 3);
static int at(struct gitea *g, const char *fmt, ...)
{
	char tail[256];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return devsys_error_set(DEVSYS_EINVAL, "gitea: request path too long");
	devsys_buf_clear(&g->path);
	if (devsys_buf_put(&g->path, g->prefix.ptr, g->prefix.size) < 0 || devsys_buf_puts(&g->path, tail) < 0)
		return devsys__error_oom();
	return 0;
}

/* Send g->path; the parsed answer (also of an error) goes to @p *json (may be NULL). */
static int call(struct gitea *g, json_t **json, const char *method, const json_t *body)
{
	devsys__http_request rq;
	devsys__http_response resp;
	int rc;
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.path = g->path.ptr;
	rq.json = body;
	rc = devsys__http_send_json(&resp, g->http, &rq);
	g->requests += resp.attempts ? resp.attempts : 1;
	if (json) {
		*json = resp.json;
		resp.json = NULL;
	}
	devsys__http_response_dispose(&resp);
	return rc;
}

/* Every page of g->path (Link rel="next") into one array. */
static int get_all(struct gitea *g, json_t **out)
{
	unsigned int pages = 0;
	int rc = devsys__http_get_all(out, &pages, g->http, g->path.ptr);
	g->requests += pages ? pages : 1;
	return rc;
}

static int get_pr(struct gitea *g, json_t **pr, int64_t number)
{
	int rc;
	*pr = NULL;
	if ((rc = at(g, "/pulls/%lld", (long long)number)) < 0)
		return rc;
	if ((rc = call(g, pr, "GET", NULL)) < 0) {
		json_decref(*pr);
		*pr = NULL;
	}
	return rc;
}

static bool is_hex_sha(const char *s)
{
	size_t n = 0;
	for (; s && s[n]; n++)
		if (!strchr("0123456789abcdefABCDEF", s[n]))
			return false;
	return n >= 4 && n <= 64;
}

/* ---- pull requests ---- */

static int fill(struct gitea *g, devsys_forge_pr_info *out, json_t *pr)
{
	hold(g, pr);
	return devsys__gt_decode_pr(out, pr);
}

static int gitea_get(void *self, devsys_forge_pr_info *out, int64_t number)
{
	struct gitea *g = self;
	json_t *pr;
	int rc;
	if ((rc = get_pr(g, &pr, number)) < 0)
		return rc;
	return fill(g, out, pr);
}

/* The id of label @p name: from @p pr's own labels, else the repository's (read once). */
static int label_id(struct gitea *g, json_int_t *id, const json_t *pr, const char *name)
{
	int rc;
	if (pr && devsys__gt_label_id(id, &rc, json_object_get(pr, "labels"), name))
		return 0;
	if (!g->labels) {
		if ((rc = at(g, "/labels?limit=50")) < 0 || (rc = get_all(g, &g->labels)) < 0)
			return rc;
	}
	if (devsys__gt_label_id(id, &rc, g->labels, name))
		return 0;
	if (rc < 0)
		return rc;
	return devsys_error_set(DEVSYS_EINVALID, "gitea: label '%.128s' does not exist in %s/%s; Gitea takes labels "
	                                         "by id, so create it on the forge first", name, g->owner, g->repo);
}

/* The label ids to set: @p pr's current ones plus the requested ones
 * (*changed when one is new). NULL array when no label was asked for. */
static int label_ids(struct gitea *g, json_t **ids, bool *changed, const json_t *pr, const devsys_forge_pr_request *req)
{
	size_t i;
	const json_t *l;
	int rc;
	*ids = NULL;
	*changed = false;
	if (req->nlabels == 0)
		return 0;
	if (!(*ids = json_array()))
		return devsys__error_oom();
	json_array_foreach(json_object_get(pr, "labels"), i, l)
		if (json_is_integer(json_object_get(l, "id")) && json_array_append(*ids, json_object_get(l, "id")) < 0)
			return devsys__error_oom();
	for (i = 0; i < req->nlabels; i++) {
		json_int_t id;
		if ((rc = label_id(g, &id, pr, req->labels[i])) < 0)
			return rc;
		if (pr && devsys__gt_label_id(&id, &rc, json_object_get(pr, "labels"), req->labels[i]))
			continue;
		*changed = true;
		if (json_array_append_new(*ids, json_integer(id)) < 0)
			return devsys__error_oom();
	}
	return 0;
}

/* The title to send: draft adds the WIP prefix, a non-draft loses it. */
static char *title_for(const devsys_forge_pr_request *req)
{
	const char *t = req->title + devsys__gt_wip_len(req->title);
	return req->draft ? devsys__asprintf("%s%s", DEVSYS__GT_WIP, t) : devsys__strdup(t);
}

static int strv_append(json_t *arr, const char *s)
{
	return json_array_append_new(arr, json_string(s)) < 0 ? devsys__error_oom() : 0;
}

/* Ask for the reviewers @p pr does not request yet (one request, or none). */
static int request_reviewers(struct gitea *g, const json_t *pr, int64_t number, const devsys_forge_pr_request *req)
{
	json_t *users = json_array(), *teams = json_array(), *body = NULL;
	size_t i;
	int rc = users && teams ? 0 : devsys__error_oom();
	for (i = 0; rc == 0 && i < req->nreviewers; i++)
		if (!devsys__gt_pr_has_reviewer(pr, req->reviewers[i]))
			rc = strv_append(users, req->reviewers[i]);
	for (i = 0; rc == 0 && i < req->nteam_reviewers; i++)
		if (!devsys__gt_pr_has_team(pr, req->team_reviewers[i]))
			rc = strv_append(teams, req->team_reviewers[i]);
	if (rc == 0 && (json_array_size(users) || json_array_size(teams))) {
		if (!(body = json_pack("{s:O, s:O}", "reviewers", users, "team_reviewers", teams)))
			rc = devsys__error_oom();
		else if ((rc = at(g, "/pulls/%lld/requested_reviewers", (long long)number)) == 0)
			rc = call(g, NULL, "POST", body);
	}
	json_decref(users);
	json_decref(teams);
	json_decref(body);
	return rc;
}

/* Update @p pr (owned, open, same head) to @p req: one PATCH when the title,
 * body or labels differ, then the missing reviewers. */
static int update(struct gitea *g, devsys_forge_pr_info *out, json_t *pr, const devsys_forge_pr_request *req)
{
	json_t *ids = NULL, *patch = NULL, *now = NULL;
	char *title = title_for(req);
	const char *old_body = json_string_value(json_object_get(pr, "body"));
	const char *old_title = json_string_value(json_object_get(pr, "title"));
	bool lchanged = false;
	int64_t number = json_integer_value(json_object_get(pr, "number"));
	int rc = title ? 0 : devsys__error_oom();
	if (rc == 0)
		rc = label_ids(g, &ids, &lchanged, pr, req);
	if (rc == 0 && (lchanged || strcmp(old_title ? old_title : "", title) != 0 ||
	                strcmp(old_body ? old_body : "", req->body) != 0)) {
		if (!(patch = json_pack("{s:s, s:s}", "title", title, "body", req->body)) ||
		    (ids && json_object_set(patch, "labels", ids) < 0))
			rc = devsys__error_oom();
		else if ((rc = at(g, "/pulls/%lld", (long long)number)) == 0 && (rc = call(g, &now, "PATCH", patch)) == 0) {
			json_decref(pr);
			pr = now;
			now = NULL;
		}
	}
	if (rc == 0)
		rc = request_reviewers(g, pr, number, req);
	json_decref(ids);
	json_decref(patch);
	json_decref(now);
	devsys__free(title);
	if (rc < 0) {
		json_decref(pr);
		return rc;
	}
	if ((rc = fill(g, out, pr)) == 0)
		out->reused = 1;
	return rc;
}

/* Is @p pr the open PR of req->head into req->base? */
static bool same_open(const json_t *pr, const devsys_forge_pr_request *req)
{
	const char *state = json_string_value(json_object_get(pr, "state"));
	const char *head = json_string_value(json_object_get(json_object_get(pr, "head"), "ref"));
	const char *base = json_string_value(json_object_get(json_object_get(pr, "base"), "ref"));
	return state && strcmp(state, "open") == 0 && !json_is_true(json_object_get(pr, "merged")) && head &&
	       strcmp(head, req->head) == 0 && base && strcmp(base, req->base) == 0;
}

/* The open PR of head into base, read after a 409: GET /pulls/{base}/{head}. */
static int lookup(struct gitea *g, json_t **pr, const devsys_forge_pr_request *req)
{
	int rc;
	devsys_buf_clear(&g->path);
	if (devsys_buf_put(&g->path, g->prefix.ptr, g->prefix.size) < 0 || devsys_buf_puts(&g->path, "/pulls/") < 0 ||
	    devsys__gt_put_segment(&g->path, req->base) < 0 || devsys_buf_puts(&g->path, "/") < 0 ||
	    devsys__gt_put_segment(&g->path, req->head) < 0)
		return devsys__error_oom();
	if ((rc = call(g, pr, "GET", NULL)) < 0)
		return rc;
	if (!same_open(*pr, req))
		return devsys_error_set(DEVSYS_ECONFLICT, "gitea: %s/%s answered that a pull request from '%.128s' into "
		                                          "'%.128s' exists, but the one it returns is not open for that "
		                                          "head and base", g->owner, g->repo, req->head, req->base);
	return 0;
}

/* POST /pulls; a 409 "already exists" reads the existing PR into *pr instead (*reuse). */
static int create(struct gitea *g, json_t **pr, bool *reuse, const devsys_forge_pr_request *req)
{
	json_t *ids = NULL, *body = NULL, *answer = NULL;
	char *title = title_for(req);
	bool changed;
	int rc = title ? 0 : devsys__error_oom();
	*reuse = false;
	if (rc == 0)
		rc = label_ids(g, &ids, &changed, NULL, req);
	if (rc == 0 && (!(body = json_pack("{s:s, s:s, s:s, s:s}", "title", title, "body", req->body, "head", req->head,
	                                   "base", req->base)) ||
	                (ids && json_object_set(body, "labels", ids) < 0)))
		rc = devsys__error_oom();
	if (rc == 0 && (rc = at(g, "/pulls")) == 0) {
		rc = call(g, &answer, "POST", body);
		if (rc == 0) {
			*pr = answer;
			answer = NULL;
		} else if (rc == DEVSYS_ECONFLICT && devsys__gt_is_already_exists(answer)) {
			devsys_error_clear();
			*reuse = true;
			if ((rc = lookup(g, pr, req)) < 0) {
				json_decref(*pr);
				*pr = NULL;
			}
		}
	}
	json_decref(ids);
	json_decref(body);
	json_decref(answer);
	devsys__free(title);
	return rc;
}

static int gitea_upsert(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req)
{
	struct gitea *g = self;
	json_t *pr = NULL;
	bool reuse;
	int rc;
	if (req->number > 0) {
		/* the number the task record kept: update that PR when it is still the open one of this head */
		rc = get_pr(g, &pr, req->number);
		if (rc == DEVSYS_ENOTFOUND)
			devsys_error_clear();
		else if (rc < 0)
			return rc;
		if (pr && same_open(pr, req))
			return update(g, out, pr, req);
		json_decref(pr);
		pr = NULL;
	}
	if ((rc = create(g, &pr, &reuse, req)) < 0)
		return rc;
	if (reuse)
		return update(g, out, pr, req);
	if ((rc = request_reviewers(g, pr, json_integer_value(json_object_get(pr, "number")), req)) < 0) {
		json_decref(pr);
		return rc;
	}
	return fill(g, out, pr);
}

/* ---- reviews, statuses, files, authors ---- */

static int gitea_reviews(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct gitea *g = self;
	json_t *all = NULL, *item;
	size_t i;
	int rc;
	if ((rc = at(g, "/pulls/%lld/reviews?limit=50", (long long)number)) < 0 || (rc = get_all(g, &all)) < 0)
		return rc;
	json_array_foreach(all, i, item) {
		devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
		bool skip;
		if ((rc = devsys__gt_decode_review(&r, &skip, item, i)) < 0)
			break;
		if (!skip && (rc = devsys_forge_sink_review(sink, &r)) < 0)
			break;
	}
	json_decref(all);
	return rc;
}

static const char *state_name(int state)
{
	switch (state) {
	case DEVSYS_CHECK_PENDING: return "pending";
	case DEVSYS_CHECK_SUCCESS: return "success";
	case DEVSYS_CHECK_FAILURE: return "failure";
	default: return NULL;
	}
}

static int gitea_status_set(void *self, const char *sha, const devsys_forge_status *st)
{
	struct gitea *g = self;
	const char *state = state_name(st->state);
	json_t *body;
	int rc;
	if (!is_hex_sha(sha))
		return devsys_error_set(DEVSYS_EINVAL, "gitea: '%.64s' is not a commit SHA", sha ? sha : "(null)");
	if (!state)
		return devsys_error_set(DEVSYS_EINVAL, "gitea: status '%.64s': state %d cannot be set (pending, success "
		                                       "or failure)", st->context, st->state);
	if (!(body = json_pack("{s:s, s:s}", "state", state, "context", st->context)) ||
	    (st->description && json_object_set_new(body, "description", json_string(st->description)) < 0) ||
	    (st->target_url && json_object_set_new(body, "target_url", json_string(st->target_url)) < 0)) {
		json_decref(body);
		return devsys__error_oom();
	}
	if ((rc = at(g, "/statuses/%s", sha)) == 0)
		rc = call(g, NULL, "POST", body);
	json_decref(body);
	return rc;
}

/* The combined status, page by page (Gitea pages its statuses with page/limit). */
static int gitea_statuses(void *self, devsys_forge_sink *sink, const char *sha)
{
	struct gitea *g = self;
	size_t seen = 0, count;
	int64_t total = 0;
	int rc = 0;
	if (!is_hex_sha(sha))
		return devsys_error_set(DEVSYS_EINVAL, "gitea: '%.64s' is not a commit SHA", sha ? sha : "(null)");
	for (unsigned int page = 1; page <= 100; page++) {
		json_t *body = NULL;
		if ((rc = at(g, "/commits/%s/status?page=%u&limit=50", sha, page)) < 0 ||
		    (rc = call(g, &body, "GET", NULL)) < 0 ||
		    (rc = devsys__gt_decode_combined(sink, &count, &total, body, sha)) < 0) {
			json_decref(body);
			return rc;
		}
		json_decref(body);
		seen += count;
		if (count == 0 || (int64_t)seen >= total)
			return 0;
	}
	return devsys_error_set(DEVSYS_ELIMIT, "gitea: the combined status of %.12s has more than 100 pages", sha);
}

static int gitea_files(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct gitea *g = self;
	json_t *all = NULL, *item;
	size_t i;
	int rc;
	if ((rc = at(g, "/pulls/%lld/files?limit=50", (long long)number)) < 0 || (rc = get_all(g, &all)) < 0)
		return rc;
	json_array_foreach(all, i, item) {
		const char *path, *old;
		if ((rc = devsys__gt_decode_file(&path, &old, item, i)) < 0 ||
		    (rc = devsys_forge_sink_file(sink, path, old)) < 0)
			break;
	}
	json_decref(all);
	return rc;
}

static int gitea_authors(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct gitea *g = self;
	json_t *all = NULL, *item;
	size_t i;
	int rc;
	if ((rc = at(g, "/pulls/%lld/commits?limit=50&verification=false&files=false", (long long)number)) < 0 ||
	    (rc = get_all(g, &all)) < 0)
		return rc;
	json_array_foreach(all, i, item) {
		const char *login, *name, *email;
		if ((rc = devsys__gt_decode_commit_author(&login, &name, &email, item, i)) < 0)
			break;
		/* an e-mail that maps to no account: its name and e-mail, so the gate still excludes the author */
		if (login)
			rc = devsys_forge_sink_author(sink, login);
		else if ((!name || (rc = devsys_forge_sink_author(sink, name)) == 0) && email)
			rc = devsys_forge_sink_author(sink, email);
		if (rc < 0)
			break;
	}
	json_decref(all);
	return rc;
}

/* ---- merge and protection ---- */

/* Gitea checks mergeability in the background: right after a push its merge
 * answers 405 "Please try again later". */
static bool try_later(int rc, const json_t *answer)
{
	const char *m = json_string_value(json_object_get(answer, "message"));
	return rc < 0 && devsys_error_http_status(devsys_error_last()) == 405 && m && strstr(m, "try again later");
}

/* A refused merge as DEVSYS_ECONFLICT, saying why (Gitea's message kept as detail). */
static int merge_refused(int64_t number, const devsys_forge_merge_request *req, const json_t *answer)
{
	const char *m = json_string_value(json_object_get(answer, "message"));
	int status = devsys_error_http_status(devsys_error_last());
	const char *why = status == 405                                  ? "it is not mergeable (a work-in-progress title, "
	                                                                   "a missing approval or check, or not allowed)"
	                  : m && strstr(m, "head out of date")            ? "its head is no longer the approved commit"
	                                                                  : "the forge refused it (a merge conflict, or the "
	                                                                    "base moved)";
	devsys_error_set(DEVSYS_ECONFLICT, "gitea: PR #%lld was not merged at %.12s (HTTP %d): %s", (long long)number,
	                 req->sha, status, why);
	return devsys_error_set_detail(status, m);
}

/* The merge itself: POST /merge with Do and head_commit_id, again up to
 * twice (1 s, 2 s later) while Gitea says to try later. */
static int post_merge(struct gitea *g, int64_t number, const devsys_forge_merge_request *req, const char *how)
{
	json_t *body = json_pack("{s:s, s:s}", "Do", how, "head_commit_id", req->sha), *answer = NULL;
	int rc = 0;
	if (!body || (req->title && json_object_set_new(body, "MergeTitleField", json_string(req->title)) < 0) ||
	    (req->message && json_object_set_new(body, "MergeMessageField", json_string(req->message)) < 0)) {
		json_decref(body);
		return devsys__error_oom();
	}
	for (unsigned int attempt = 0; attempt < 3; attempt++) {
		if (attempt) {
			struct timespec ts = { (time_t)attempt, 0 };
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
		json_decref(answer);
		answer = NULL;
		if ((rc = at(g, "/pulls/%lld/merge", (long long)number)) < 0)
			break;
		rc = call(g, &answer, "POST", body);
		if (!try_later(rc, answer))
			break;
	}
	if (rc < 0 && rc != DEVSYS_ENOMEM &&
	    (rc == DEVSYS_ECONFLICT || devsys_error_http_status(devsys_error_last()) == 405))
		rc = merge_refused(number, req, answer);
	json_decref(body);
	json_decref(answer);
	return rc;
}

/* Read the PR before (its head must still be req->sha, which older servers
 * that ignore head_commit_id do not check) and after (the merge commit). */
static int gitea_merge(void *self, devsys_forge_merge_result *out, int64_t number, const devsys_forge_merge_request *req)
{
	struct gitea *g = self;
	const char *how = devsys__gt_merge_do(req->method);
	devsys_forge_pr_info info;
	json_t *pr;
	int rc;
	if (!how)
		return devsys_error_set(DEVSYS_ENOTSUPPORTED, "gitea: merge method %d is not supported", req->method);
	memset(&info, 0, sizeof(info));
	info.version = DEVSYS_FORGE_PR_INFO_VERSION;
	if ((rc = get_pr(g, &pr, number)) < 0 || (rc = fill(g, &info, pr)) < 0)
		return rc;
	if (info.state != DEVSYS_PR_OPEN)
		return devsys_error_set(DEVSYS_ESTATE, "gitea: PR #%lld is %s; not merged", (long long)number,
		                        devsys_pr_state_name(info.state));
	if (strcmp(info.head_sha, req->sha) != 0)
		return devsys_error_set(DEVSYS_ECONFLICT, "gitea: PR #%lld: the head moved to %.12s since %.12s was "
		                                          "approved; not merged", (long long)number, info.head_sha, req->sha);
	if ((rc = post_merge(g, number, req, how)) < 0)
		return rc;
	if ((rc = get_pr(g, &pr, number)) < 0 || (rc = fill(g, &info, pr)) < 0)
		return rc;
	if (info.state != DEVSYS_PR_MERGED || !info.merge_sha)
		return devsys_error_set(DEVSYS_EPARSE, "gitea: PR #%lld: the merge was accepted, but the PR reads back "
		                                       "%s without a merge commit", (long long)number,
		                        devsys_pr_state_name(info.state));
	out->sha = info.merge_sha;
	return 0;
}

static json_t *protection_body(const devsys_forge_protection *p, bool create)
{
	json_t *ctx = json_array(), *b;
	for (size_t i = 0; ctx && i < p->ncontexts; i++)
		if (json_array_append_new(ctx, json_string(p->contexts[i])) < 0) {
			json_decref(ctx);
			return NULL;
		}
	/* enable_push false: nobody pushes to the branch; the gate's merge through the API is the way in */
	b = ctx ? json_pack("{s:b, s:b, s:o, s:i, s:b, s:b, s:b}", "enable_push", 0, "enable_status_check",
	                    p->ncontexts > 0, "status_check_contexts", ctx, "required_approvals", (int)p->approvals,
	                    "dismiss_stale_approvals", p->dismiss_stale, "block_on_rejected_reviews", 1,
	                    "block_admin_merge_override", p->enforce_admins)
	        : NULL;
	if (b && create &&
	    (json_object_set_new(b, "rule_name", json_string(p->branch)) < 0 ||
	     json_object_set_new(b, "branch_name", json_string(p->branch)) < 0)) {
		json_decref(b);
		return NULL;
	}
	return b;
}

/* POST /branch_protections; a rule that exists already (Gitea: 403 "Branch
 * protection already exist") is edited with PATCH instead. */
static int gitea_protect(void *self, const devsys_forge_protection *p)
{
	struct gitea *g = self;
	json_t *body = protection_body(p, true), *answer = NULL;
	int rc;
	if (!body)
		return devsys__error_oom();
	if ((rc = at(g, "/branch_protections")) == 0)
		rc = call(g, &answer, "POST", body);
	json_decref(body);
	if (rc < 0 && (rc == DEVSYS_EAUTH || rc == DEVSYS_ECONFLICT || rc == DEVSYS_EINVALID) &&
	    devsys__gt_is_protection_exists(answer)) {
		devsys_error_clear();
		if (!(body = protection_body(p, false)))
			rc = devsys__error_oom();
		else {
			devsys_buf_clear(&g->path);
			if (devsys_buf_put(&g->path, g->prefix.ptr, g->prefix.size) < 0 ||
			    devsys_buf_puts(&g->path, "/branch_protections/") < 0 ||
			    devsys__gt_put_segment(&g->path, p->branch) < 0)
				rc = devsys__error_oom();
			else
				rc = call(g, NULL, "PATCH", body);
			json_decref(body);
		}
	}
	json_decref(answer);
	return rc;
}

static int gitea_describe(void *self, devsys_buf *out)
{
	struct gitea *g = self;
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "provider", "gitea", "base_url", g->base_url, "owner",
	                      g->owner, "repo", g->repo, "requests", (json_int_t)g->requests);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc = text ? devsys_buf_puts(out, text) : devsys__error_oom();
	free(text);
	json_decref(j);
	return rc;
}

const devsys_forge_vtable devsys__forge_gitea_vtable = {
	.version = DEVSYS_FORGE_VTABLE_VERSION,
	.name = "gitea",
	.open = gitea_open,
	.close = gitea_close,
	.pr_upsert = gitea_upsert,
	.pr_get = gitea_get,
	.pr_reviews = gitea_reviews,
	.review_add = NULL, /* the token's user is the reviewer on Gitea */
	.status_set = gitea_status_set,
	.statuses = gitea_statuses,
	.check_runs = NULL, /* none on Gitea: Actions jobs report commit statuses */
	.pr_files = gitea_files,
	.pr_authors = gitea_authors,
	.merge = gitea_merge,
	.protect = gitea_protect,
	.describe = gitea_describe,
};
