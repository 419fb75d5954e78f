/*
 * The `github` forge provider: api.github.com and GitHub Enterprise Server
 * (a base URL ending in /api/v3), over lib/http. Request budget (docs/forge.md):
 * create <= 4, a later update 2, reuse after "already exists" 3.
 */
#include "github_int.h"
#include "http/http_int.h"

#include <string.h>

struct gh {
	devsys__http *http;
	char *owner, *repo, *token;
	char *base_url;
	unsigned long requests; /* sent so far, retries included */
	json_t *last;           /* the answer the last pr_info points into */
	char *strs[4];          /* strings a slot handed out, kept until the next call */
};

static void gh_keep(struct gh *g, json_t *j)
{
	json_decref(g->last);
	g->last = j;
}

static void gh_drop_strs(struct gh *g)
{
	for (size_t i = 0; i < sizeof(g->strs) / sizeof(g->strs[0]); i++) {
		devsys__free(g->strs[i]);
		g->strs[i] = NULL;
	}
}

/* Percent-encode one path segment or query value (RFC 3986 unreserved kept). */
static int enc(devsys_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;
	for (; *s && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '.' || c == '_' || c == '~') {
			rc = devsys_buf_put(out, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc = devsys_buf_put(out, e, 3);
		}
	}
	return rc;
}

/* "/repos/{owner}/{repo}" + @p tail (already encoded) into a new string. */
static char *repo_path(struct gh *g, const char *fmt, ...) DEVSYS_PRINTF(2, 3);
static char *repo_path(struct gh *g, const char *fmt, ...)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	char tail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (devsys_buf_puts(&b, "/repos/") < 0 || enc(&b, g->owner) < 0 || devsys_buf_puts(&b, "/") < 0 ||
	    enc(&b, g->repo) < 0 || devsys_buf_puts(&b, tail) < 0) {
		devsys_buf_dispose(&b);
		devsys__error_oom();
		return NULL;
	}
	return b.ptr;
}

/* A problem report (Prism --errors) lists what broke the schema in
 * "validation": add the first entry to the message, so a failing contract
 * test says which field it was. */
static void add_validation(const devsys__http_response *resp)
{
	char ct[128], msg[1024], det[1024];
	const char *d, *m;
	json_t *pb, *v;
	if (!devsys__http_response_header(resp, "content-type", ct, sizeof(ct)) ||
	    strncasecmp(ct, "application/problem+json", 24) != 0 || !resp->body.ptr)
		return;
	pb = json_loadb(resp->body.ptr, resp->body.size, 0, NULL);
	v = json_array_get(json_object_get(pb, "validation"), 0);
	m = json_string_value(json_object_get(v, "message"));
	if (m) {
		d = devsys_error_detail(devsys_error_last());
		snprintf(det, sizeof(det), "%s", d ? d : "");
		snprintf(msg, sizeof(msg), "%s; first violation: %s", devsys_error_message(devsys_error_last()), m);
		devsys_error_set_str(devsys_error_code(devsys_error_last()), msg);
		devsys_error_set_detail((int)resp->status, det);
	}
	json_decref(pb);
}

/* One request, JSON in; the answer parsed only when @p parse (an answer
 * nobody reads, like a reviewers request's whole PR, is not decoded).
 * Counts what was sent. */
static int gh_send(struct gh *g, devsys__http_response *resp, const char *method, const char *path,
                   const json_t *body, bool once, bool parse)
{
	devsys__http_request req = { 0 };
	int rc;
	req.method = method;
	req.path = path;
	req.json = body;
	req.no_retry = once;
	rc = parse ? devsys__http_send_json(resp, g->http, &req) : devsys__http_send(resp, g->http, &req);
	g->requests += resp->attempts ? resp->attempts : 1;
	if (rc < 0)
		add_validation(resp);
	return rc;
}

/* A path that failed to build, or the request's result. */
static int gh_call(struct gh *g, json_t **out, const char *method, char *path, json_t *body, bool once)
{
	devsys__http_response resp;
	int rc;
	if (out)
		*out = NULL;
	if (!path) {
		json_decref(body);
		return DEVSYS_ENOMEM;
	}
	rc = gh_send(g, &resp, method, path, body, once, out != NULL);
	if (rc == 0 && out) {
		*out = resp.json;
		resp.json = NULL;
	}
	devsys__http_response_dispose(&resp);
	devsys__free(path);
	json_decref(body);
	return rc;
}

/* Paginated GET of a JSON array (Link rel="next"). */
static int gh_get_all(struct gh *g, json_t **out, char *path)
{
	unsigned int pages = 0;
	int rc;
	if (!path)
		return DEVSYS_ENOMEM;
	rc = devsys__http_get_all(out, &pages, g->http, path);
	g->requests += pages ? pages : 1;
	devsys__free(path);
	return rc;
}

/* @p s with the token replaced by "***", new. The library masks the body
 * with the task's masker first; this keeps the forge's own token out of
 * what is sent even when no masker was given. */
static char *gh_mask(const struct gh *g, const char *s)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	size_t tl = g->token ? strlen(g->token) : 0;
	const char *hit;
	if (tl < 4)
		return devsys__strdup(s);
	while ((hit = strstr(s, g->token)) != NULL) {
		if (devsys_buf_put(&b, s, (size_t)(hit - s)) < 0 || devsys_buf_puts(&b, "***") < 0)
			goto oom;
		s = hit + tl;
	}
	if (devsys_buf_puts(&b, s) < 0)
		goto oom;
	return b.ptr ? b.ptr : devsys__strdup("");
oom:
	devsys_buf_dispose(&b);
	return NULL;
}

/* ---- open / close / describe ---- */

static void gh_close(void *self);

static int gh_open(void **self, const devsys_forge_open_options *opts, void *payload)
{
	devsys__http_options ho;
	const struct devsys__gh_ext *ext = NULL;
	struct gh *g;
	int rc;
	(void)payload;
	*self = NULL;
	if (!opts->owner || !*opts->owner || !opts->repo || !*opts->repo)
		return devsys_error_set(DEVSYS_EINVAL, "github: the repository owner and name are required");
	if (opts->ext_type && strcmp(opts->ext_type, DEVSYS__GH_EXT_TYPE) == 0)
		ext = opts->ext;
	if (!(g = devsys__calloc(1, sizeof(*g))))
		return devsys__error_oom();
	devsys__http_options_default(&ho);
	ho.what = "github";
	ho.base_url = opts->base_url ? opts->base_url : "https://api.github.com";
	ho.token = opts->token;
	/* GitHub documents its media type; Prism (and the published description) knows application/json. */
	ho.accept = "application/vnd.github+json, application/json;q=0.9";
	ho.headers = ext && ext->version >= 1 ? ext->headers : NULL;
	ho.ca_file = opts->ca_file;
	ho.user_agent = opts->user_agent;
	if (opts->connect_timeout_ms > 0)
		ho.connect_timeout_ms = opts->connect_timeout_ms;
	if (opts->timeout_ms > 0)
		ho.timeout_ms = opts->timeout_ms;
	if (opts->max_retries > 0)
		ho.max_retries = opts->max_retries;
	if (ext && ext->version >= 1 && ext->backoff_ms > 0)
		ho.backoff_ms = ext->backoff_ms;
	ho.verbose = opts->verbose != 0;
	g->owner = devsys__strdup(opts->owner);
	g->repo = devsys__strdup(opts->repo);
	g->base_url = devsys__strdup(ho.base_url);
	g->token = opts->token ? devsys__strdup(opts->token) : NULL;
	if (!g->owner || !g->repo || !g->base_url || (opts->token && !g->token)) {
		rc = devsys__error_oom();
		goto fail;
	}
	if ((rc = devsys__http_new(&g->http, &ho)) < 0)
		goto fail;
	*self = g;
	return 0;
fail:
	gh_close(g);
	return rc;
}

static void gh_close(void *self)
{
	struct gh *g = self;
	if (!g)
		return;
	devsys__http_free(g->http);
	json_decref(g->last);
	gh_drop_strs(g);
	if (g->token) {
		explicit_bzero(g->token, strlen(g->token));
		devsys__free(g->token);
	}
	devsys__free(g->owner);
	devsys__free(g->repo);
	devsys__free(g->base_url);
	devsys__free(g);
}

static int gh_describe(void *self, devsys_buf *out)
{
	struct gh *g = self;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "provider", "github", "base_url", g->base_url, "owner",
	                      g->owner, "repo", g->repo, "requests", (json_int_t)g->requests);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = s ? devsys_buf_puts(out, s) : devsys__error_oom();
	free(s);
	json_decref(o);
	return rc;
}

/* ---- pull requests ---- */

static int info_from(struct gh *g, devsys_forge_pr_info *out, json_t *pr)
{
	int rc;
	gh_keep(g, pr);
	if ((rc = devsys__gh_decode_pr(out, pr)) < 0)
		return rc;
	return 0;
}

/* Team slug of @p team: "team", or "org/team" when org is the owner. */
static int team_slug(const char **out, struct gh *g, const char *team)
{
	const char *slash = strchr(team, '/');
	*out = team;
	if (!slash)
		return 0;
	if ((size_t)(slash - team) != strlen(g->owner) || strncasecmp(team, g->owner, strlen(g->owner)) != 0 ||
	    !slash[1] || strchr(slash + 1, '/'))
		return devsys_error_set(DEVSYS_EINVALID, "github: team reviewer '%.100s': GitHub requests only teams "
		                        "of the repository's organisation '%.100s' (write 'team' or '%.100s/team')",
		                        team, g->owner, g->owner);
	*out = slash + 1;
	return 0;
}

/* POST the labels @p pr lacks (one request, none when it has them all). */
static int ensure_labels(struct gh *g, const json_t *pr, int64_t number, const devsys_forge_pr_request *req)
{
	json_t *names = json_array();
	int rc;
	if (!names)
		return devsys__error_oom();
	for (size_t i = 0; i < req->nlabels; i++)
		if (!devsys__gh_pr_has_label(pr, req->labels[i]))
			json_array_append_new(names, json_string(req->labels[i]));
	if (json_array_size(names) == 0) {
		json_decref(names);
		return 0;
	}
	rc = gh_call(g, NULL, "POST", repo_path(g, "/issues/%lld/labels", (long long)number),
	             json_pack("{s:o}", "labels", names), false);
	return rc;
}

/* POST the reviewers and teams @p pr does not request yet. */
static int ensure_reviewers(struct gh *g, const json_t *pr, int64_t number, const devsys_forge_pr_request *req)
{
	json_t *users = json_array(), *teams = json_array(), *body;
	int rc = 0;
	if (!users || !teams) {
		json_decref(users);
		json_decref(teams);
		return devsys__error_oom();
	}
	for (size_t i = 0; i < req->nreviewers; i++)
		if (!devsys__gh_pr_has_reviewer(pr, req->reviewers[i]))
			json_array_append_new(users, json_string(req->reviewers[i]));
	for (size_t i = 0; i < req->nteam_reviewers && rc == 0; i++) {
		const char *slug;
		if ((rc = team_slug(&slug, g, req->team_reviewers[i])) == 0 && !devsys__gh_pr_has_team(pr, slug))
			json_array_append_new(teams, json_string(slug));
	}
	if (rc < 0 || (json_array_size(users) == 0 && json_array_size(teams) == 0)) {
		json_decref(users);
		json_decref(teams);
		return rc;
	}
	body = json_pack("{s:o, s:o}", "reviewers", users, "team_reviewers", teams);
	return gh_call(g, NULL, "POST", repo_path(g, "/pulls/%lld/requested_reviewers", (long long)number), body,
	               false);
}

static bool same_text(const json_t *pr, const char *key, const char *want)
{
	const json_t *v = json_object_get(pr, key);
	const char *have = json_is_string(v) ? json_string_value(v) : "";
	return strcmp(have, want) == 0;
}

/* Bring the open PR @p pr (owned, kept) up to date with @p req. */
static int update_pr(struct gh *g, devsys_forge_pr_info *out, json_t *pr, const devsys_forge_pr_request *req,
                     const char *title, const char *body)
{
	int64_t number;
	int rc;
	if ((rc = info_from(g, out, pr)) < 0)
		return rc;
	number = out->number;
	if (!same_text(pr, "title", title) || !same_text(pr, "body", body)) {
		json_t *patched;
		if ((rc = gh_call(g, &patched, "PATCH", repo_path(g, "/pulls/%lld", (long long)number),
		                  json_pack("{s:s, s:s}", "title", title, "body", body), false)) < 0)
			return rc;
		if ((rc = info_from(g, out, patched)) < 0)
			return rc;
		pr = patched;
	}
	if ((rc = ensure_labels(g, pr, number, req)) < 0 || (rc = ensure_reviewers(g, pr, number, req)) < 0)
		return rc;
	out->reused = 1;
	return 0;
}

/* The open PR of @p head into @p base after GitHub said it exists. */
static int find_open(struct gh *g, json_t **found, const devsys_forge_pr_request *req)
{
	devsys_buf q = DEVSYS_BUF_INIT;
	json_t *list = NULL, *it;
	size_t i;
	int rc;
	*found = NULL;
	if (devsys_buf_puts(&q, "/pulls?head=") < 0 || enc(&q, g->owner) < 0 || devsys_buf_puts(&q, ":") < 0 ||
	    enc(&q, req->head) < 0 || devsys_buf_puts(&q, "&state=all&per_page=100") < 0) {
		devsys_buf_dispose(&q);
		return devsys__error_oom();
	}
	rc = gh_call(g, &list, "GET", repo_path(g, "%s", q.ptr), NULL, false);
	devsys_buf_dispose(&q);
	if (rc < 0)
		return rc;
	if (!json_is_array(list)) {
		json_decref(list);
		return devsys__error_set(DEVSYS_EPARSE, "github: the pull request list is not a JSON array");
	}
	json_array_foreach (list, i, it) {
		devsys_forge_pr_info pi;
		memset(&pi, 0, sizeof(pi));
		pi.version = DEVSYS_FORGE_PR_INFO_VERSION;
		if ((rc = devsys__gh_decode_pr(&pi, it)) < 0)
			break;
		if (pi.state == DEVSYS_PR_OPEN && strcmp(pi.head, req->head) == 0) {
			*found = json_incref(it);
			break;
		}
	}
	json_decref(list);
	if (rc == 0 && !*found)
		rc = devsys_error_set(DEVSYS_ECONFLICT, "github: GitHub says a pull request for '%.200s' already "
		                      "exists, but no open one is listed for head '%.100s:%.200s'", req->head,
		                      g->owner, req->head);
	return rc;
}

/* POST /pulls; on GitHub's "already exists" 422, *exists is set instead. */
static int create_pr(struct gh *g, json_t **pr, bool *exists, const devsys_forge_pr_request *req, const char *title,
                     const char *body)
{
	devsys__http_response resp;
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "title", title, "head", req->head, "base", req->base,
	                      "body", body, "draft", req->draft != 0);
	char *path = repo_path(g, "/pulls");
	int rc;
	*pr = NULL;
	*exists = false;
	if (!j || !path) {
		json_decref(j);
		devsys__free(path);
		return devsys__error_oom();
	}
	/* Not retried: a lost answer to a POST that made the PR is found by the re-run's look-up. */
	rc = gh_send(g, &resp, "POST", path, j, true, true);
	if (rc == 0) {
		*pr = resp.json;
		resp.json = NULL;
	} else if (resp.status == 422) {
		json_t *eb = json_loadb(resp.body.ptr ? resp.body.ptr : "", resp.body.size, 0, NULL);
		*exists = devsys__gh_is_already_exists(eb);
		json_decref(eb);
		if (*exists)
			rc = 0;
	}
	devsys__http_response_dispose(&resp);
	devsys__free(path);
	json_decref(j);
	return rc;
}

/* A PR the task record named: still open for the same head? Then update it. */
static int try_known(struct gh *g, devsys_forge_pr_info *out, bool *done, const devsys_forge_pr_request *req,
                     const char *title, const char *body)
{
	json_t *pr;
	int rc;
	*done = false;
	rc = gh_call(g, &pr, "GET", repo_path(g, "/pulls/%lld", (long long)req->number), NULL, false);
	if (rc == DEVSYS_ENOTFOUND) {
		devsys_error_clear();
		return 0;
	}
	if (rc < 0)
		return rc;
	if ((rc = info_from(g, out, pr)) < 0)
		return rc;
	if (out->state != DEVSYS_PR_OPEN || strcmp(out->head, req->head) != 0)
		return 0; /* closed or another branch: a new PR */
	*done = true;
	return update_pr(g, out, json_incref(pr), req, title, body);
}

static int gh_upsert(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req)
{
	struct gh *g = self;
	char *title = NULL, *body = NULL;
	json_t *pr = NULL;
	bool done = false, exists = false;
	int rc;
	gh_drop_strs(g);
	if (!(title = gh_mask(g, req->title)) || !(body = gh_mask(g, req->body ? req->body : ""))) {
		rc = devsys__error_oom();
		goto out;
	}
	if (req->number > 0 && ((rc = try_known(g, out, &done, req, title, body)) < 0 || done))
		goto out;
	if ((rc = create_pr(g, &pr, &exists, req, title, body)) < 0)
		goto out;
	if (exists) {
		if ((rc = find_open(g, &pr, req)) == 0)
			rc = update_pr(g, out, pr, req, title, body);
		goto out;
	}
	if ((rc = info_from(g, out, pr)) < 0)
		goto out;
	if ((rc = ensure_labels(g, pr, out->number, req)) == 0)
		rc = ensure_reviewers(g, pr, out->number, req);
	out->reused = 0;
out:
	devsys__free(title);
	devsys__free(body);
	return rc;
}

static int gh_get(void *self, devsys_forge_pr_info *out, int64_t number)
{
	struct gh *g = self;
	json_t *pr;
	int rc = gh_call(g, &pr, "GET", repo_path(g, "/pulls/%lld", (long long)number), NULL, false);
	if (rc < 0)
		return rc;
	return info_from(g, out, pr);
}

/* ---- lists for the gate ---- */

static int gh_reviews(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct gh *g = self;
	json_t *all, *it;
	size_t i;
	int rc = gh_get_all(g, &all, repo_path(g, "/pulls/%lld/reviews?per_page=100", (long long)number));
	if (rc < 0)
		return rc;
	json_array_foreach (all, i, it) {
		devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
		bool skip;
		if ((rc = devsys__gh_decode_review(&r, &skip, it, i)) < 0)
			break;
		if (!skip && (rc = devsys_forge_sink_review(sink, &r)) < 0)
			break;
	}
	json_decref(all);
	return rc;
}

static int check_sha(const char *sha)
{
	size_t n = strspn(sha, "0123456789abcdef");
	if (n != 40 || sha[n])
		return devsys_error_set(DEVSYS_EINVAL, "github: '%.64s' is not a commit SHA (40 lower-case hex "
		                        "digits)", sha);
	return 0;
}

static int gh_status_set(void *self, const char *sha, const devsys_forge_status *st)
{
	static const char *const states[] = { "pending", "success", "failure" };
	struct gh *g = self;
	char desc[141];
	json_t *body;
	int rc;
	if ((rc = check_sha(sha)) < 0)
		return rc;
	if (st->state < DEVSYS_CHECK_PENDING || st->state > DEVSYS_CHECK_FAILURE)
		return devsys_error_set(DEVSYS_EINVAL, "github: commit status '%.100s': state %d is not pending, "
		                        "success or failure", st->context, st->state);
	body = json_pack("{s:s, s:s}", "state", states[st->state], "context", st->context);
	if (body && st->description) {
		/* GitHub refuses descriptions over 140 characters; cut at a UTF-8 boundary. */
		size_t n = strlen(st->description);
		if (n > 140) {
			n = 140;
			while (n > 0 && ((unsigned char)st->description[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(desc, st->description, n);
		desc[n] = '\0';
		json_object_set_new(body, "description", json_string(desc));
	}
	if (body && st->target_url)
		json_object_set_new(body, "target_url", json_string(st->target_url));
	if (!body)
		return devsys__error_oom();
	return gh_call(g, NULL, "POST", repo_path(g, "/statuses/%s", sha), body, false);
}

static int gh_statuses(void *self, devsys_forge_sink *sink, const char *sha)
{
	struct gh *g = self;
	json_t *body;
	int rc;
	if ((rc = check_sha(sha)) < 0)
		return rc;
	/* The combined status holds the latest status per context, at most 100 per page. */
	if ((rc = gh_call(g, &body, "GET", repo_path(g, "/commits/%s/status?per_page=100", sha), NULL, false)) < 0)
		return rc;
	rc = devsys__gh_decode_combined(sink, body, sha);
	json_decref(body);
	return rc;
}

/* Pages of check runs are objects, not arrays: follow page= until total_count is reached. */
static int gh_check_runs(void *self, devsys_forge_sink *sink, const char *sha)
{
	struct gh *g = self;
	int64_t total = 0, seen = 0;
	int rc;
	if ((rc = check_sha(sha)) < 0)
		return rc;
	for (int page = 1; page <= 10; page++) {
		json_t *body;
		size_t count = 0;
		if ((rc = gh_call(g, &body, "GET",
		                  repo_path(g, "/commits/%s/check-runs?filter=latest&per_page=100&page=%d", sha, page),
		                  NULL, false)) < 0)
			return rc;
		rc = devsys__gh_decode_check_runs(sink, &count, &total, body);
		json_decref(body);
		if (rc < 0)
			return rc;
		seen += (int64_t)count;
		if (count == 0 || seen >= total)
			return 0;
	}
	return devsys_error_set(DEVSYS_ELIMIT, "github: commit %.40s has over 1000 check runs; the gate reads at "
	                        "most 1000", sha);
}

static int gh_files(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct gh *g = self;
	json_t *all, *it;
	size_t i;
	int rc = gh_get_all(g, &all, repo_path(g, "/pulls/%lld/files?per_page=100", (long long)number));
	if (rc < 0)
		return rc;
	json_array_foreach (all, i, it) {
		const char *path, *old;
		if ((rc = devsys__gh_decode_file(&path, &old, it, i)) < 0 ||
		    (rc = devsys_forge_sink_file(sink, path, old)) < 0)
			break;
	}
	if (rc == 0 && json_array_size(all) >= DEVSYS__GH_MAX_FILES)
		rc = devsys_forge_sink_truncated(sink);
	json_decref(all);
	return rc;
}

static int gh_authors(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct gh *g = self;
	json_t *all, *it;
	size_t i;
	int rc = gh_get_all(g, &all, repo_path(g, "/pulls/%lld/commits?per_page=100", (long long)number));
	if (rc < 0)
		return rc;
	json_array_foreach (all, i, it) {
		const char *login, *name, *email;
		if ((rc = devsys__gh_decode_commit_author(&login, &name, &email, it, i)) < 0)
			break;
		if (login)
			rc = devsys_forge_sink_author(sink, login);
		else if (email && (rc = devsys_forge_sink_author(sink, email)) == 0 && name)
			rc = devsys_forge_sink_author(sink, name);
		if (rc < 0)
			break;
	}
	json_decref(all);
	return rc;
}

/* ---- merge and protection ---- */

static int gh_merge(void *self, devsys_forge_merge_result *out, int64_t number, const devsys_forge_merge_request *req)
{
	static const char *const methods[] = { "merge", "squash", "rebase" };
	struct gh *g = self;
	devsys__http_response resp;
	json_t *body;
	char *path;
	const char *sha;
	int rc;
	gh_drop_strs(g);
	if ((rc = check_sha(req->sha)) < 0)
		return rc;
	if (req->method < DEVSYS_FORGE_MERGE_COMMIT || req->method > DEVSYS_FORGE_MERGE_REBASE)
		return devsys_error_set(DEVSYS_ENOTSUPPORTED, "github: merge method '%s' is not offered by GitHub's "
		                        "REST API (merge, squash, rebase)", devsys_forge_merge_method_name(req->method));
	body = json_pack("{s:s, s:s}", "sha", req->sha, "merge_method", methods[req->method]);
	if (body && req->title)
		json_object_set_new(body, "commit_title", json_string(req->title));
	if (body && req->message)
		json_object_set_new(body, "commit_message", json_string(req->message));
	path = repo_path(g, "/pulls/%lld/merge", (long long)number);
	if (!body || !path) {
		json_decref(body);
		devsys__free(path);
		return devsys__error_oom();
	}
	rc = gh_send(g, &resp, "PUT", path, body, true, true);
	json_decref(body);
	devsys__free(path);
	if (rc < 0 && resp.status == 405) {
		/* 405: not mergeable (conflicts, required checks, reviews): a conflict, as the vtable says. */
		char msg[1024];
		const char *detail = devsys_error_detail(devsys_error_last());
		char det[1024];
		snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
		snprintf(det, sizeof(det), "%s", detail ? detail : "");
		devsys_error_set_str(DEVSYS_ECONFLICT, msg);
		rc = devsys_error_set_detail(405, detail ? det : NULL);
	}
	if (rc == 0 && (rc = devsys__gh_decode_merge(&sha, resp.json)) == 0 && !(g->strs[0] = devsys__strdup(sha)))
		rc = devsys__error_oom();
	if (rc == 0)
		out->sha = g->strs[0];
	devsys__http_response_dispose(&resp);
	return rc;
}

static int gh_protect(void *self, const devsys_forge_protection *p)
{
	struct gh *g = self;
	devsys_buf seg = DEVSYS_BUF_INIT;
	json_t *body, *ctx = json_array(), *checks, *reviews;
	char *path;
	if (!ctx)
		return devsys__error_oom();
	for (size_t i = 0; i < p->ncontexts; i++)
		json_array_append_new(ctx, json_string(p->contexts[i]));
	if (p->ncontexts) {
		checks = json_pack("{s:b, s:o}", "strict", 1, "contexts", ctx);
	} else {
		json_decref(ctx);
		checks = json_null();
	}
	reviews = p->approvals ? json_pack("{s:b, s:i}", "dismiss_stale_reviews", p->dismiss_stale != 0,
	                                   "required_approving_review_count", (int)p->approvals)
	                       : json_null();
	body = json_pack("{s:o, s:b, s:o, s:n}", "required_status_checks", checks, "enforce_admins",
	                 p->enforce_admins != 0, "required_pull_request_reviews", reviews, "restrictions");
	if (!body || enc(&seg, p->branch) < 0) {
		json_decref(body);
		devsys_buf_dispose(&seg);
		return devsys__error_oom();
	}
	path = repo_path(g, "/branches/%s/protection", seg.ptr);
	devsys_buf_dispose(&seg);
	return gh_call(g, NULL, "PUT", path, body, false);
}

const devsys_forge_vtable devsys__forge_github_vtable = {
	.version = DEVSYS_FORGE_VTABLE_VERSION,
	.name = "github",
	.open = gh_open,
	.close = gh_close,
	.pr_upsert = gh_upsert,
	.pr_get = gh_get,
	.pr_reviews = gh_reviews,
	.review_add = NULL, /* on GitHub the reviewer is the token's user */
	.status_set = gh_status_set,
	.statuses = gh_statuses,
	.check_runs = gh_check_runs,
	.pr_files = gh_files,
	.pr_authors = gh_authors,
	.merge = gh_merge,
	.protect = gh_protect,
	.describe = gh_describe,
};
