/*
 * The `local` forge provider: pull requests of a local bare repository,
 * offline. They live beside the repository's refs, in <bare>/devsys/
 * (never in a task folder, where an in-process agent writes):
 *
 *     <bare>/devsys/prs/<n>.json       the PR record (title, body, branches,
 *                                      head and base SHAs, state, reviews)
 *     <bare>/devsys/prs/<n>.patch      the diff from the merge base to head
 *     <bare>/devsys/statuses/<sha>.json commit statuses, latest per context
 *     <bare>/devsys/protection.json    branch protection as set
 *     <bare>/devsys/.lock              flock(2) around every read-modify-write
 *
 * Every file is written atomically. The head SHA is always read from the
 * bare repository's branch, as a forge would: a commit pushed after an
 * approval moves the head, and the merge refuses it.
 */
#include "../forge_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define LOCAL_MAX_RECORD (16u << 20)

struct local {
	char *bare;
	char *dir; /* <bare>/devsys */
	char *bot;
	git_repository *repo;
	json_t *held;      /* what the last call returned strings from */
	char head_sha[GIT_OID_HEXSZ + 1];
	char merge_sha[GIT_OID_HEXSZ + 1];
	devsys_buf url;
	uint64_t calls;
};

static int git_fail(int code, const char *what)
{
	const git_error *e = git_error_last();
	return devsys_error_set(code, "local forge: %s: %s", what, e && e->message ? e->message : "libgit2 error");
}

static void hold(struct local *l, json_t *j)
{
	json_decref(l->held);
	l->held = j;
}

/* ---- files ---- */

static int path_of(devsys_buf *out, const struct local *l, const char *sub, const char *name, const char *ext)
{
	devsys_buf_clear(out);
	return devsys_buf_printf(out, "%s/%s%s%s%s", l->dir, sub, *sub ? "/" : "", name, ext) < 0 ? devsys__error_oom() : 0;
}

static int lock_dir(const struct local *l, int *fd_out)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	int fd, rc;
	if ((rc = path_of(&p, l, "", ".lock", "")) < 0)
		return rc;
	fd = open(p.ptr, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "local forge: cannot open '%s'", p.ptr);
		devsys_buf_dispose(&p);
		return rc;
	}
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			rc = devsys__error_errno(DEVSYS_EIO, errno, "local forge: cannot lock '%s'", p.ptr);
			close(fd);
			devsys_buf_dispose(&p);
			return rc;
		}
	devsys_buf_dispose(&p);
	*fd_out = fd;
	return 0;
}

static void unlock_dir(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

/* Read a JSON object; a missing file gives NULL with 0 when @p missing_ok. */
static int read_json(json_t **out, const char *path, bool missing_ok)
{
	devsys_buf data = DEVSYS_BUF_INIT;
	json_error_t jerr;
	int rc;
	*out = NULL;
	if ((rc = devsys__read_file(&data, path, LOCAL_MAX_RECORD)) < 0) {
		if (rc == DEVSYS_ENOTFOUND && missing_ok) {
			devsys_error_clear();
			return 0;
		}
		return rc;
	}
	*out = json_loadb(data.ptr ? data.ptr : "", data.size, 0, &jerr);
	devsys_buf_dispose(&data);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return devsys_error_set(DEVSYS_EPARSE, "local forge: '%s' is not a JSON object (line %d: %s)", path,
		                        jerr.line, jerr.text);
	}
	return 0;
}

static int write_json(const char *path, const json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int rc;
	if (!text)
		return devsys__error_oom();
	rc = devsys__write_file_atomic(path, text, strlen(text), 0644);
	free(text);
	return rc;
}

static int pr_path(devsys_buf *out, const struct local *l, int64_t n, const char *ext)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", (long long)n);
	return path_of(out, l, "prs", num, ext);
}

static int load_pr(json_t **out, const struct local *l, int64_t n)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	int rc = pr_path(&p, l, n, ".json");
	if (rc == 0 && (rc = read_json(out, p.ptr, true)) == 0 && !*out)
		rc = devsys_error_set(DEVSYS_ENOTFOUND, "local forge: pull request #%lld does not exist in '%s'",
		                      (long long)n, l->bare);
	devsys_buf_dispose(&p);
	return rc;
}

static int save_pr(const struct local *l, int64_t n, const json_t *j)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	int rc = pr_path(&p, l, n, ".json");
	if (rc == 0)
		rc = write_json(p.ptr, j);
	devsys_buf_dispose(&p);
	return rc;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void now_iso(char *out, size_t cap)
{
	devsys__time_iso8601(out, cap);
}

/* ---- git ---- */

static int branch_oid(git_oid *out, struct local *l, const char *branch)
{
	devsys_buf ref = DEVSYS_BUF_INIT;
	int rc;
	if (devsys_buf_printf(&ref, "refs/heads/%s", branch) < 0)
		return devsys__error_oom();
	rc = git_reference_name_to_id(out, l->repo, ref.ptr);
	devsys_buf_dispose(&ref);
	if (rc == GIT_ENOTFOUND)
		return devsys_error_set(DEVSYS_ENOTFOUND, "local forge: branch '%.200s' does not exist in '%s'", branch,
		                        l->bare);
	return rc < 0 ? git_fail(DEVSYS_EIO, "reading a branch") : 0;
}

/* The diff a forge shows: from the merge base of base and head to head. */
static int pr_diff(git_diff **out, struct local *l, const git_oid *base, const git_oid *head)
{
	git_oid mb;
	git_commit *cb = NULL, *ch = NULL;
	git_tree *tb = NULL, *th = NULL;
	git_diff_find_options fo;
	int rc;
	*out = NULL;
	git_diff_find_options_init(&fo, GIT_DIFF_FIND_OPTIONS_VERSION);
	if ((rc = git_merge_base(&mb, l->repo, base, head)) < 0) {
		if (rc == GIT_ENOTFOUND)
			return devsys_error_set(DEVSYS_ECONFLICT, "local forge: the head and base branches share no history");
		return git_fail(DEVSYS_EIO, "merge base");
	}
	fo.flags = GIT_DIFF_FIND_RENAMES;
	if (git_commit_lookup(&cb, l->repo, &mb) < 0 || git_commit_lookup(&ch, l->repo, head) < 0 ||
	    git_commit_tree(&tb, cb) < 0 || git_commit_tree(&th, ch) < 0 ||
	    git_diff_tree_to_tree(out, l->repo, tb, th, NULL) < 0 || git_diff_find_similar(*out, &fo) < 0)
		rc = git_fail(DEVSYS_EIO, "diff");
	else
		rc = 0;
	git_tree_free(tb);
	git_tree_free(th);
	git_commit_free(cb);
	git_commit_free(ch);
	if (rc < 0) {
		git_diff_free(*out);
		*out = NULL;
	}
	return rc;
}

static int write_patch(struct local *l, int64_t n, const git_oid *base, const git_oid *head)
{
	git_diff *d = NULL;
	git_buf gb = GIT_BUF_INIT;
	devsys_buf p = DEVSYS_BUF_INIT;
	int rc;
	if ((rc = pr_diff(&d, l, base, head)) < 0)
		return rc;
	if (git_diff_to_buf(&gb, d, GIT_DIFF_FORMAT_PATCH) < 0)
		rc = git_fail(DEVSYS_EIO, "writing the patch");
	else if ((rc = pr_path(&p, l, n, ".patch")) == 0)
		rc = devsys__write_file_atomic(p.ptr, gb.ptr ? gb.ptr : "", gb.size, 0644);
	git_buf_dispose(&gb);
	git_diff_free(d);
	devsys_buf_dispose(&p);
	return rc;
}

/* ---- the instance ---- */

static void local_close(void *self)
{
	struct local *l = self;
	if (!l)
		return;
	json_decref(l->held);
	git_repository_free(l->repo);
	devsys_buf_dispose(&l->url);
	devsys__free(l->bare);
	devsys__free(l->dir);
	devsys__free(l->bot);
	devsys__free(l);
}

static int local_open(void **self, const devsys_forge_open_options *opts, void *payload)
{
	struct local *l;
	devsys_buf sub = DEVSYS_BUF_INIT;
	int rc = 0;
	(void)payload;
	if (!opts->local_path || opts->local_path[0] != '/')
		return devsys_error_set(DEVSYS_EINVAL, "local forge: the remote must be a local bare repository's "
		                                       "absolute path (or file:// URL)");
	if (!(l = devsys__calloc(1, sizeof(*l))))
		return devsys__error_oom();
	if (!(l->bare = devsys__strdup(opts->local_path)) || !(l->dir = devsys__asprintf("%s/devsys", l->bare)) ||
	    !(l->bot = devsys__strdup(opts->bot ? opts->bot : "devsys"))) {
		local_close(l);
		return devsys__error_oom();
	}
	if (git_repository_open_bare(&l->repo, l->bare) < 0) {
		rc = devsys_error_set(DEVSYS_ENOTFOUND, "local forge: '%s' is not a bare git repository", l->bare);
		local_close(l);
		return rc;
	}
	for (const char *d = "prs\0statuses\0"; *d && rc == 0; d += strlen(d) + 1) {
		devsys_buf_clear(&sub);
		if (devsys_buf_printf(&sub, "%s/%s", l->dir, d) < 0)
			rc = devsys__error_oom();
		else
			rc = devsys__mkdir_p(sub.ptr, 0755);
	}
	devsys_buf_dispose(&sub);
	if (rc < 0) {
		local_close(l);
		return rc;
	}
	*self = l;
	return 0;
}

/* Fill @p out from the PR record @p pr (held by @p l until its next call),
 * with the head read from the branch now. */
static int fill_info(struct local *l, devsys_forge_pr_info *out, json_t *pr)
{
	git_oid head;
	const char *state = jstr(pr, "state");
	int rc;
	hold(l, pr);
	out->number = (int64_t)json_integer_value(json_object_get(pr, "number"));
	out->head = jstr(pr, "head");
	out->base = jstr(pr, "base");
	out->title = jstr(pr, "title");
	out->author = jstr(pr, "author");
	out->draft = json_is_true(json_object_get(pr, "draft"));
	out->state = !state || !strcmp(state, "open") ? DEVSYS_PR_OPEN : !strcmp(state, "merged") ? DEVSYS_PR_MERGED
	                                                                                          : DEVSYS_PR_CLOSED;
	if (out->state == DEVSYS_PR_OPEN && out->head) {
		if ((rc = branch_oid(&head, l, out->head)) < 0)
			return rc;
		git_oid_tostr(l->head_sha, sizeof(l->head_sha), &head);
		out->head_sha = l->head_sha;
	} else {
		out->head_sha = jstr(pr, "head_sha");
	}
	out->merge_sha = jstr(pr, "merge_sha");
	devsys_buf_clear(&l->url);
	if ((rc = pr_path(&l->url, l, out->number, ".json")) < 0)
		return rc;
	out->url = l->url.ptr;
	return 0;
}

static json_t *strv_json(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (v[i])
			json_array_append_new(a, json_string(v[i]));
	return a;
}

/* The open PR for the same head and base: the remembered number first,
 * then a scan (a re-run never makes a duplicate). */
static int find_open(json_t **out, int64_t *number, struct local *l, const devsys_forge_pr_request *req)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	DIR *d;
	struct dirent *de;
	int64_t max = 0;
	int rc = 0;
	*out = NULL;
	if ((rc = path_of(&p, l, "prs", "", "")) < 0)
		return rc;
	if (!(d = opendir(p.ptr))) {
		rc = devsys__error_errno(DEVSYS_EIO, errno, "local forge: cannot read '%s'", p.ptr);
		devsys_buf_dispose(&p);
		return rc;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char *end;
		long long n = strtoll(de->d_name, &end, 10);
		json_t *pr = NULL;
		if (n <= 0 || strcmp(end, ".json") != 0)
			continue;
		if (n > max)
			max = n;
		if (*out && n != req->number)
			continue;
		if ((rc = load_pr(&pr, l, n)) < 0)
			break;
		if (!strcmp(jstr(pr, "head") ? jstr(pr, "head") : "", req->head) &&
		    !strcmp(jstr(pr, "base") ? jstr(pr, "base") : "", req->base) &&
		    !strcmp(jstr(pr, "state") ? jstr(pr, "state") : "", "open")) {
			json_decref(*out);
			*out = pr;
			*number = n;
		} else {
			json_decref(pr);
		}
	}
	closedir(d);
	devsys_buf_dispose(&p);
	if (rc == 0 && !*out)
		*number = max + 1;
	return rc;
}

static int set_request_fields(json_t *pr, const devsys_forge_pr_request *req, const git_oid *base,
                              const git_oid *head, const char *now)
{
	char b[GIT_OID_HEXSZ + 1], h[GIT_OID_HEXSZ + 1];
	git_oid_tostr(b, sizeof(b), base);
	git_oid_tostr(h, sizeof(h), head);
	if (json_object_set_new(pr, "title", json_string(req->title)) || json_object_set_new(pr, "body", json_string(req->body)) ||
	    json_object_set_new(pr, "head", json_string(req->head)) || json_object_set_new(pr, "base", json_string(req->base)) ||
	    json_object_set_new(pr, "base_sha", json_string(b)) || json_object_set_new(pr, "head_sha", json_string(h)) ||
	    json_object_set_new(pr, "draft", json_boolean(req->draft)) ||
	    json_object_set_new(pr, "labels", strv_json(req->labels, req->nlabels)) ||
	    json_object_set_new(pr, "reviewers", strv_json(req->reviewers, req->nreviewers)) ||
	    json_object_set_new(pr, "team_reviewers", strv_json(req->team_reviewers, req->nteam_reviewers)) ||
	    json_object_set_new(pr, "updated_at", json_string(now)))
		return devsys__error_oom();
	return 0;
}

static bool utf8_ok(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static int local_upsert(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req)
{
	struct local *l = self;
	git_oid base, head;
	json_t *pr = NULL;
	int64_t n = 0;
	char now[40];
	int fd = -1, rc, reused;
	if (!utf8_ok(req->title) || !utf8_ok(req->body))
		return devsys_error_set(DEVSYS_EINVALID, "local forge: the title or body is not valid UTF-8");
	if ((rc = branch_oid(&head, l, req->head)) < 0 || (rc = branch_oid(&base, l, req->base)) < 0)
		return rc;
	if ((rc = lock_dir(l, &fd)) < 0)
		return rc;
	l->calls++;
	now_iso(now, sizeof(now));
	if ((rc = find_open(&pr, &n, l, req)) < 0)
		goto done;
	reused = pr != NULL;
	if (!pr && (!(pr = json_object()) || json_object_set_new(pr, "number", json_integer(n)) ||
	            json_object_set_new(pr, "state", json_string("open")) ||
	            json_object_set_new(pr, "author", json_string(l->bot)) ||
	            json_object_set_new(pr, "created_at", json_string(now)) ||
	            json_object_set_new(pr, "reviews", json_array()))) {
		rc = devsys__error_oom();
		goto done;
	}
	if ((rc = set_request_fields(pr, req, &base, &head, now)) < 0 || (rc = write_patch(l, n, &base, &head)) < 0 ||
	    (rc = save_pr(l, n, pr)) < 0)
		goto done;
	rc = fill_info(l, out, pr);
	pr = NULL;
	out->reused = reused;
done:
	json_decref(pr);
	unlock_dir(fd);
	return rc;
}

static int local_get(void *self, devsys_forge_pr_info *out, int64_t number)
{
	struct local *l = self;
	json_t *pr;
	int rc;
	l->calls++;
	if ((rc = load_pr(&pr, l, number)) < 0)
		return rc;
	return fill_info(l, out, pr);
}

static int local_reviews(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct local *l = self;
	json_t *pr, *r;
	size_t i;
	int rc;
	l->calls++;
	if ((rc = load_pr(&pr, l, number)) < 0)
		return rc;
	hold(l, pr);
	json_array_foreach(json_object_get(pr, "reviews"), i, r) {
		devsys_policy_review rv = DEVSYS_POLICY_REVIEW_INIT;
		rv.reviewer = jstr(r, "reviewer");
		rv.commit_sha = jstr(r, "commit_sha");
		rv.state = (int)json_integer_value(json_object_get(r, "state_code"));
		if (!rv.reviewer || !rv.commit_sha)
			return devsys_error_set(DEVSYS_EPARSE, "local forge: PR #%lld: review %zu lacks a reviewer or commit",
			                        (long long)number, i);
		if ((rc = devsys_forge_sink_review(sink, &rv)) < 0)
			return rc;
	}
	return 0;
}

static const char *review_state_name(int s)
{
	static const char *const n[] = { "APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING" };
	return s >= 0 && s <= DEVSYS_REVIEW_PENDING ? n[s] : "COMMENTED";
}

/* A full SHA of a commit of the repository, from a full or short one. */
static int resolve_commit(char out[GIT_OID_HEXSZ + 1], struct local *l, const char *sha)
{
	git_object *o = NULL;
	if (strlen(sha) < 4 || strspn(sha, "0123456789abcdef") != strlen(sha) ||
	    git_revparse_single(&o, l->repo, sha) < 0 || git_object_type(o) != GIT_OBJECT_COMMIT) {
		git_object_free(o);
		return devsys_error_set(DEVSYS_ENOTFOUND, "local forge: '%.64s' is not a commit of '%s'", sha, l->bare);
	}
	git_oid_tostr(out, GIT_OID_HEXSZ + 1, git_object_id(o));
	git_object_free(o);
	return 0;
}

static int local_review_add(void *self, int64_t number, const devsys_policy_review *review)
{
	struct local *l = self;
	char sha[GIT_OID_HEXSZ + 1], now[40];
	json_t *pr = NULL, *r;
	int fd = -1, rc;
	if ((rc = resolve_commit(sha, l, review->commit_sha)) < 0 || (rc = lock_dir(l, &fd)) < 0)
		return rc;
	l->calls++;
	now_iso(now, sizeof(now));
	if ((rc = load_pr(&pr, l, number)) < 0)
		goto done;
	if (strcmp(jstr(pr, "state") ? jstr(pr, "state") : "", "open") != 0) {
		rc = devsys_error_set(DEVSYS_ESTATE, "local forge: PR #%lld is %s: no more reviews", (long long)number,
		                      jstr(pr, "state"));
		goto done;
	}
	if (!(r = json_pack("{s:s, s:s, s:s, s:i, s:s}", "reviewer", review->reviewer, "commit_sha", sha, "state",
	                    review_state_name(review->state), "state_code", review->state, "submitted_at", now)) ||
	    json_array_append_new(json_object_get(pr, "reviews"), r)) {
		rc = devsys__error_oom();
		goto done;
	}
	rc = save_pr(l, number, pr);
done:
	json_decref(pr);
	unlock_dir(fd);
	return rc;
}

static const char *check_state_name(int s)
{
	static const char *const n[] = { "pending", "success", "failure", "neutral" };
	return s >= 0 && s <= DEVSYS_CHECK_NEUTRAL ? n[s] : "pending";
}

static int local_status_set(void *self, const char *sha, const devsys_forge_status *st)
{
	struct local *l = self;
	char full[GIT_OID_HEXSZ + 1], now[40];
	devsys_buf p = DEVSYS_BUF_INIT;
	json_t *all = NULL, *one;
	int fd = -1, rc;
	if ((rc = resolve_commit(full, l, sha)) < 0 || (rc = lock_dir(l, &fd)) < 0)
		return rc;
	l->calls++;
	now_iso(now, sizeof(now));
	if ((rc = path_of(&p, l, "statuses", full, ".json")) < 0 || (rc = read_json(&all, p.ptr, true)) < 0)
		goto done;
	if ((!all && !(all = json_object())) ||
	    !(one = json_pack("{s:s, s:i, s:s?, s:s?, s:s}", "state", check_state_name(st->state), "state_code", st->state,
	                      "description", st->description, "target_url", st->target_url, "updated_at", now)) ||
	    json_object_set_new(all, st->context, one)) {
		rc = devsys__error_oom();
		goto done;
	}
	rc = write_json(p.ptr, all);
done:
	json_decref(all);
	devsys_buf_dispose(&p);
	unlock_dir(fd);
	return rc;
}

static int local_statuses(void *self, devsys_forge_sink *sink, const char *sha)
{
	struct local *l = self;
	char full[GIT_OID_HEXSZ + 1];
	devsys_buf p = DEVSYS_BUF_INIT;
	json_t *all = NULL, *one;
	const char *ctx;
	int rc;
	l->calls++;
	if ((rc = resolve_commit(full, l, sha)) < 0 || (rc = path_of(&p, l, "statuses", full, ".json")) < 0 ||
	    (rc = read_json(&all, p.ptr, true)) < 0 || !all) {
		devsys_buf_dispose(&p);
		return rc;
	}
	devsys_buf_dispose(&p);
	hold(l, all);
	json_object_foreach(all, ctx, one) {
		devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
		c.context = ctx;
		c.sha = full;
		c.state = (int)json_integer_value(json_object_get(one, "state_code"));
		c.kind = DEVSYS_CHECK_STATUS;
		if ((rc = devsys_forge_sink_check(sink, &c)) < 0)
			return rc;
	}
	return 0;
}

/* The PR's branches as commits, for files, authors and merges. */
static int pr_oids(git_oid *base, git_oid *head, json_t **pr_out, struct local *l, int64_t number)
{
	json_t *pr;
	int rc;
	if ((rc = load_pr(&pr, l, number)) < 0)
		return rc;
	if ((rc = branch_oid(base, l, jstr(pr, "base") ? jstr(pr, "base") : "")) < 0 ||
	    (rc = branch_oid(head, l, jstr(pr, "head") ? jstr(pr, "head") : "")) < 0) {
		json_decref(pr);
		return rc;
	}
	*pr_out = pr;
	return 0;
}

static int local_pr_files(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct local *l = self;
	git_oid base, head;
	git_diff *d = NULL;
	json_t *pr;
	int rc;
	l->calls++;
	if ((rc = pr_oids(&base, &head, &pr, l, number)) < 0)
		return rc;
	json_decref(pr);
	if ((rc = pr_diff(&d, l, &base, &head)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < git_diff_num_deltas(d); i++) {
		const git_diff_delta *dd = git_diff_get_delta(d, i);
		bool renamed = dd->status == GIT_DELTA_RENAMED || dd->status == GIT_DELTA_COPIED;
		rc = devsys_forge_sink_file(sink, dd->new_file.path, renamed ? dd->old_file.path : NULL);
	}
	git_diff_free(d);
	return rc;
}

static int local_pr_authors(void *self, devsys_forge_sink *sink, int64_t number)
{
	struct local *l = self;
	git_oid base, head, oid;
	git_revwalk *w = NULL;
	json_t *pr;
	int rc;
	l->calls++;
	if ((rc = pr_oids(&base, &head, &pr, l, number)) < 0)
		return rc;
	json_decref(pr);
	if (git_revwalk_new(&w, l->repo) < 0 || git_revwalk_push(w, &head) < 0 || git_revwalk_hide(w, &base) < 0) {
		git_revwalk_free(w);
		return git_fail(DEVSYS_EIO, "walking the PR's commits");
	}
	while (rc == 0 && git_revwalk_next(&oid, w) == 0) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, l->repo, &oid) < 0) {
			rc = git_fail(DEVSYS_EIO, "reading a commit");
			break;
		}
		/* the local provider has no logins: the name and the e-mail both name the author */
		rc = devsys_forge_sink_author(sink, git_commit_author(c)->name);
		if (rc == 0)
			rc = devsys_forge_sink_author(sink, git_commit_author(c)->email);
		git_commit_free(c);
	}
	git_revwalk_free(w);
	return rc;
}

/* The commit the base branch gets: head itself (fast-forward) or a new
 * merge or squash commit of the two trees. */
static int merge_target(git_oid *out, struct local *l, const git_oid *base, const git_oid *head, int method,
                        const devsys_forge_merge_request *req, json_t *pr)
{
	git_oid mb, tree_id;
	git_commit *cb = NULL, *ch = NULL;
	git_index *idx = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	devsys_buf msg = DEVSYS_BUF_INIT;
	int rc = 0;
	if (git_merge_base(&mb, l->repo, base, head) < 0)
		return devsys_error_set(DEVSYS_ECONFLICT, "local forge: the head and base branches share no history");
	if (method == DEVSYS_FORGE_MERGE_FAST_FORWARD) {
		if (!git_oid_equal(&mb, base))
			return devsys_error_set(DEVSYS_ECONFLICT, "local forge: cannot fast-forward '%s': it has commits the "
			                                          "head lacks", jstr(pr, "base"));
		*out = *head;
		return 0;
	}
	if (method != DEVSYS_FORGE_MERGE_COMMIT && method != DEVSYS_FORGE_MERGE_SQUASH)
		return devsys_error_set(DEVSYS_ENOTSUPPORTED, "local forge: merge method '%s' is not supported (merge, "
		                                              "squash, fast-forward)", devsys_forge_merge_method_name(method));
	if (devsys_buf_printf(&msg, "%s\n\n%s (#%lld)\n", req->title ? req->title : jstr(pr, "title"),
	                      method == DEVSYS_FORGE_MERGE_COMMIT ? "Merge pull request" : "Squashed pull request",
	                      (long long)json_integer_value(json_object_get(pr, "number"))) < 0)
		return devsys__error_oom();
	if (git_commit_lookup(&cb, l->repo, base) < 0 || git_commit_lookup(&ch, l->repo, head) < 0 ||
	    git_merge_commits(&idx, l->repo, cb, ch, NULL) < 0)
		rc = git_fail(DEVSYS_EIO, "merging");
	else if (git_index_has_conflicts(idx))
		rc = devsys_error_set(DEVSYS_ECONFLICT, "local forge: PR #%lld conflicts with '%s'",
		                      (long long)json_integer_value(json_object_get(pr, "number")), jstr(pr, "base"));
	else if (git_index_write_tree_to(&tree_id, idx, l->repo) < 0 || git_tree_lookup(&tree, l->repo, &tree_id) < 0 ||
	         git_signature_now(&sig, "devsys", "devsys@localhost") < 0)
		rc = git_fail(DEVSYS_EIO, "writing the merge");
	else {
		const git_commit *parents[2] = { cb, ch };
		if (git_commit_create(out, l->repo, NULL, sig, sig, NULL, req->message ? req->message : msg.ptr, tree,
		                      method == DEVSYS_FORGE_MERGE_COMMIT ? 2 : 1, parents) < 0)
			rc = git_fail(DEVSYS_EIO, "writing the merge commit");
	}
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(idx);
	git_commit_free(cb);
	git_commit_free(ch);
	devsys_buf_dispose(&msg);
	return rc;
}

static int local_merge(void *self, devsys_forge_merge_result *out, int64_t number, const devsys_forge_merge_request *req)
{
	struct local *l = self;
	git_oid base, head, want, target;
	git_reference *ref = NULL;
	json_t *pr = NULL;
	devsys_buf refname = DEVSYS_BUF_INIT;
	int fd = -1, rc;
	if (git_oid_fromstr(&want, req->sha) < 0)
		return devsys_error_set(DEVSYS_EINVAL, "local forge: '%.64s' is not a full commit SHA", req->sha);
	if ((rc = lock_dir(l, &fd)) < 0)
		return rc;
	l->calls++;
	if ((rc = pr_oids(&base, &head, &pr, l, number)) < 0)
		goto done;
	if (strcmp(jstr(pr, "state") ? jstr(pr, "state") : "", "open") != 0) {
		rc = devsys_error_set(DEVSYS_ESTATE, "local forge: PR #%lld is %s", (long long)number, jstr(pr, "state"));
		goto done;
	}
	if (!git_oid_equal(&head, &want)) {
		char now_head[GIT_OID_HEXSZ + 1];
		git_oid_tostr(now_head, sizeof(now_head), &head);
		rc = devsys_error_set(DEVSYS_ECONFLICT, "local forge: PR #%lld: the head moved to %.12s since %.12s was "
		                                        "approved; not merged", (long long)number, now_head, req->sha);
		goto done;
	}
	if ((rc = merge_target(&target, l, &base, &head, req->method, req, pr)) < 0)
		goto done;
	if (devsys_buf_printf(&refname, "refs/heads/%s", jstr(pr, "base")) < 0) {
		rc = devsys__error_oom();
		goto done;
	}
	/* compare-and-swap: a push to base meanwhile makes this fail, not vanish */
	if (git_reference_create_matching(&ref, l->repo, refname.ptr, &target, 1, &base, "devsys: gate merge") < 0) {
		rc = git_fail(DEVSYS_ECONFLICT, "updating the base branch");
		goto done;
	}
	git_oid_tostr(l->merge_sha, sizeof(l->merge_sha), &target);
	if (json_object_set_new(pr, "state", json_string("merged")) ||
	    json_object_set_new(pr, "merge_sha", json_string(l->merge_sha)) ||
	    json_object_set_new(pr, "head_sha", json_string(req->sha)) ||
	    json_object_set_new(pr, "merge_method", json_string(devsys_forge_merge_method_name(req->method)))) {
		rc = devsys__error_oom();
		goto done;
	}
	if ((rc = save_pr(l, number, pr)) < 0)
		goto done;
	out->sha = l->merge_sha;
done:
	git_reference_free(ref);
	devsys_buf_dispose(&refname);
	json_decref(pr);
	unlock_dir(fd);
	return rc;
}

static int local_protect(void *self, const devsys_forge_protection *p)
{
	struct local *l = self;
	devsys_buf path = DEVSYS_BUF_INIT;
	json_t *all = NULL, *one;
	int fd = -1, rc;
	if ((rc = lock_dir(l, &fd)) < 0)
		return rc;
	l->calls++;
	if ((rc = path_of(&path, l, "", "protection", ".json")) < 0 || (rc = read_json(&all, path.ptr, true)) < 0)
		goto done;
	if ((!all && !(all = json_object())) ||
	    !(one = json_pack("{s:o, s:i, s:b, s:b}", "required_contexts", strv_json(p->contexts, p->ncontexts),
	                      "required_approvals", (int)p->approvals, "dismiss_stale_reviews", p->dismiss_stale,
	                      "enforce_admins", p->enforce_admins)) ||
	    json_object_set_new(all, p->branch, one)) {
		rc = devsys__error_oom();
		goto done;
	}
	rc = write_json(path.ptr, all);
done:
	json_decref(all);
	devsys_buf_dispose(&path);
	unlock_dir(fd);
	return rc;
}

static int local_describe(void *self, devsys_buf *out)
{
	struct local *l = self;
	json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "provider", "local", "path", l->bare, "records", l->dir,
	                      "requests", (json_int_t)l->calls);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc = text ? devsys_buf_puts(out, text) : devsys__error_oom();
	free(text);
	json_decref(j);
	return rc;
}

const devsys_forge_vtable devsys__forge_local_vtable = {
	.version = DEVSYS_FORGE_VTABLE_VERSION,
	.name = "local",
	.open = local_open,
	.close = local_close,
	.pr_upsert = local_upsert,
	.pr_get = local_get,
	.pr_reviews = local_reviews,
	.review_add = local_review_add,
	.status_set = local_status_set,
	.statuses = local_statuses,
	.check_runs = NULL,
	.pr_files = local_pr_files,
	.pr_authors = local_pr_authors,
	.merge = local_merge,
	.protect = local_protect,
	.describe = local_describe,
};
