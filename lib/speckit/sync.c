/*
 * Status that stays true: marking tasks.md lines done for green devsys
 * tasks (an edit that keeps every other byte), committing it on the
 * feature branch, and the phantom-completion check against the branch.
 */
#include "speckit_int.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Compared by name, never by number: failed, canceled and interrupted
 * sort after tested in the enum. */
static const char *const green_states[] = { "tested", "deployed", "deploy-skipped", "awaiting-review", "merged", "done" };

static int summary_clean(int *clean, devsys_task *task)
{
	unsigned run = 0;
	*clean = 0;
	int rc = devsys_record_latest_run(task, &run);
	if (rc == DEVSYS_ENOTFOUND)
		return 0; /* no complete test run: not green */
	if (rc)
		return rc;
	devsys_buf rel = DEVSYS_BUF_INIT, path = DEVSYS_BUF_INIT, data = DEVSYS_BUF_INIT;
	rc = devsys_buf_printf(&rel, "reports/%u/summary.json", run);
	if (rc == 0)
		rc = devsys_task_path_join(&path, task, rel.ptr);
	if (rc == 0)
		rc = devsys__read_file(&data, path.ptr, 1024 * 1024);
	if (rc == 0) {
		json_t *j = json_loadb(data.ptr, data.size, 0, NULL);
		json_t *failed = json_object_get(j, "failed"), *errors = json_object_get(j, "errors");
		if (!json_is_integer(failed) || !json_is_integer(errors))
			rc = devsys__error_set(DEVSYS_EPARSE, "'%s' has no integer 'failed' and 'errors'", path.ptr);
		else
			*clean = json_integer_value(failed) == 0 && json_integer_value(errors) == 0;
		json_decref(j);
	}
	devsys_buf_dispose(&rel);
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&data);
	return rc;
}

int devsys_speckit_task_green(int *green, devsys_store *store, devsys_task *task)
{
	DEVSYS__CHECK_ARG(green);
	*green = 0;
	DEVSYS__CHECK_ARG(store);
	DEVSYS__CHECK_ARG(task);
	int state = devsys_store_task_state(store, devsys_task_id(task));
	if (state < 0)
		return state;
	const char *name = devsys_task_state_name(state);
	bool ok = false;
	for (size_t i = 0; name && i < sizeof(green_states) / sizeof(*green_states); i++)
		ok |= strcmp(name, green_states[i]) == 0;
	if (!ok)
		return 0;
	return summary_clean(green, task);
}

/* ---- the tasks.md edit ---- */

static bool wanted(const char *id, const char *const *ids, size_t nids, bool *seen)
{
	bool hit = false;
	for (size_t i = 0; i < nids; i++)
		if (strcmp(ids[i], id) == 0)
			hit = seen[i] = true; /* an id may be listed twice */
	return hit;
}

/* The byte offset of the checkbox's state character on a task line, and
 * the task id, or -1 when the line is no task line. */
static long task_box(const char *s, size_t len, char *id)
{
	const char *p = s, *end = s + len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 6 || !(p[0] == '-' || p[0] == '*') || p[1] != ' ' || p[2] != '[' || p[4] != ']' ||
	    !(p[3] == ' ' || p[3] == 'x' || p[3] == 'X'))
		return -1;
	const char *q = p + 5;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	size_t n = devsys__sk_task_id_len(q, end);
	if (!n)
		return -1;
	memcpy(id, q, n);
	id[n] = '\0';
	return (long)(p + 3 - s);
}

int devsys_speckit_mark_done(devsys_buf *out, size_t *marked, const char *text, size_t len, const char *const *ids,
                             size_t nids)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(marked);
	DEVSYS__CHECK_ARG(text);
	*marked = 0;
	if (nids && !ids)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_speckit_mark_done: no ids");
	/* parse a scratch copy: it learns fences and comments; the output is
	 * the original bytes with single state characters replaced */
	char *scratch = devsys__malloc(len + 1);
	bool *seen = devsys__calloc(nids ? nids : 1, sizeof(bool));
	sk_file f = { 0 };
	int rc = scratch && seen ? 0 : devsys__error_oom();
	if (rc == 0) {
		memcpy(scratch, text, len);
		scratch[len] = '\0';
		rc = devsys__sk_split_lines(&f, scratch, len);
	}
	devsys_buf res = DEVSYS_BUF_INIT;
	if (rc == 0)
		rc = devsys_buf_put(&res, text, len);
	size_t n = 0;
	for (size_t i = 0; rc == 0 && i < f.n; i++) {
		const sk_line *l = &f.lines[i];
		char id[16];
		long at = l->code ? -1 : task_box(l->text, l->len, id);
		if (at < 0 || !wanted(id, ids, nids, seen))
			continue;
		size_t off = (size_t)(l->text - scratch) + (size_t)at;
		if (res.ptr[off] == ' ') {
			res.ptr[off] = 'X';
			n++;
		}
	}
	for (size_t i = 0; rc == 0 && i < nids; i++)
		if (!seen[i])
			rc = devsys__error_set(DEVSYS_ENOTFOUND, "tasks.md has no task line for %s: nothing was changed", ids[i]);
	if (rc == 0)
		rc = devsys_buf_put(out, res.ptr, res.size);
	if (rc == 0)
		*marked = n;
	devsys_buf_dispose(&res);
	devsys__free(f.lines);
	devsys__free(scratch);
	devsys__free(seen);
	return rc;
}

/* ---- sync on the feature branch ---- */

static int refuse_branch(devsys_repo *repo)
{
	const char *branch = devsys_repo_branch(repo), *base = devsys_repo_base_branch(repo);
	if (base && strcmp(branch, base) == 0)
		return devsys__error_set(DEVSYS_EPROTECTED,
		                         "branch '%s' is the base branch: tasks.md is marked on the feature branch only", branch);
	int p = devsys_repo_branch_is_protected(branch, devsys_repo_remote_default_branch(repo), NULL);
	if (p < 0)
		return p;
	if (p)
		return devsys__error_set(DEVSYS_EPROTECTED,
		                         "branch '%s' is protected: tasks.md is marked on the feature branch only", branch);
	return 0;
}

static int write_and_commit(devsys_repo *repo, const char *path, const devsys_buf *data, const char *feature_dir,
                            const char *const *ids, size_t nids)
{
	struct stat st;
	mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 0777) : 0644;
	int rc = devsys__write_file_atomic(path, data->ptr, data->size, mode);
	devsys_buf msg = DEVSYS_BUF_INIT;
	if (rc == 0)
		rc = devsys_buf_printf(&msg, "speckit: mark done in %s/tasks.md:", feature_dir);
	for (size_t i = 0; i < nids && rc == 0; i++)
		rc = devsys_buf_printf(&msg, " %s", ids[i]);
	if (rc == 0)
		rc = devsys_buf_puts(&msg, "\n\nTheir devsys tasks finished with their tests green.\n");
	int committed = 0;
	if (rc == 0)
		rc = devsys_repo_commit(&committed, repo, msg.ptr, NULL);
	if (rc == 0 && committed)
		rc = devsys_repo_push(repo);
	devsys_buf_dispose(&msg);
	return rc;
}

int devsys_speckit_sync(size_t *marked, devsys_repo *repo, const char *feature_dir, const char *const *ids,
                        size_t nids)
{
	DEVSYS__CHECK_ARG(marked);
	*marked = 0;
	DEVSYS__CHECK_ARG(repo);
	DEVSYS__CHECK_ARG(feature_dir);
	if (nids && !ids)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_speckit_sync: no ids");
	int rc = refuse_branch(repo);
	if (rc)
		return rc;
	devsys_buf rel = DEVSYS_BUF_INIT, path = DEVSYS_BUF_INIT, data = DEVSYS_BUF_INIT, out = DEVSYS_BUF_INIT;
	rc = devsys_buf_printf(&rel, "%s/tasks.md", feature_dir);
	if (rc == 0)
		rc = devsys__path_join_within(&path, devsys_repo_checkout_path(repo), rel.ptr);
	if (rc == 0)
		rc = devsys__read_file(&data, path.ptr, DEVSYS_SPECKIT_MAX_FILE);
	size_t n = 0;
	if (rc == 0)
		rc = devsys_speckit_mark_done(&out, &n, data.ptr, data.size, ids, nids);
	if (rc == 0 && n > 0)
		rc = write_and_commit(repo, path.ptr, &out, feature_dir, ids, nids);
	if (rc == 0)
		*marked = n;
	devsys_buf_dispose(&rel);
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&data);
	devsys_buf_dispose(&out);
	return rc;
}

/* ---- phantom completions ---- */

/* Did the net change base..head touch @p p (a folder when it ends in "/")? */
static bool in_net(const devsys_repo_changes *c, const char *p)
{
	size_t n = strlen(p);
	bool dir = n && p[n - 1] == '/';
	for (size_t i = 0; i < devsys_repo_changes_count(c); i++) {
		const devsys_repo_change *e = devsys_repo_changes_at(c, i);
		const char *q = devsys_repo_change_path(e), *o = devsys_repo_change_old_path(e);
		if (dir ? strncmp(q, p, n) == 0 || (o && strncmp(o, p, n) == 0) : strcmp(q, p) == 0 || (o && !strcmp(o, p)))
			return true;
	}
	return false;
}

/* A task's path relative to the repository root, or NULL to skip it. */
static const char *repo_relative(const char *p, const char *checkout)
{
	size_t n = strlen(checkout);
	if (strncmp(p, checkout, n) == 0 && p[n] == '/')
		return p + n + 1;
	while (*p == '/')
		p++; /* spec-kit writes repository paths as "/specs/..." too */
	if (!*p || strstr(p, "..") || strchr(p, '['))
		return NULL;
	return p;
}

/* What the branch's history says about one path. */
typedef struct sk_history {
	devsys_repo *repo;
	const devsys_repo_commits *commits;
	const devsys_repo_changes *net; /* base..head */
} sk_history;

/* The commits that touched @p rel; a folder named without its "/" counts as the folder. */
static size_t touching(const sk_history *h, const char *rel, char *asdir, size_t asdirsz, const char **key)
{
	size_t first = 0, n = devsys_repo_commits_touching(h->commits, rel, &first, NULL);
	*key = rel;
	if (n == 0 && rel[strlen(rel) - 1] != '/' && (size_t)snprintf(asdir, asdirsz, "%s/", rel) < asdirsz &&
	    (n = devsys_repo_commits_touching(h->commits, asdir, &first, NULL)) > 0)
		*key = asdir;
	return n;
}

static int phantom_path(devsys_speckit_findings *r, const devsys_speckit_feature *f, const devsys_speckit_task *t,
                        const sk_history *h, const char *rel)
{
	int exists = 0, rc = devsys_repo_head_has_path(&exists, h->repo, rel);
	const char *head = devsys_repo_head_sha(h->repo), *key;
	char asdir[4096];
	if (rc)
		return rc;
	if (!exists)
		return devsys__speckit_add(r, 15, DEVSYS_SPECKIT_WARNING, f->tmd.path, t->line,
		                           "%s is marked done but '%s' does not exist in the repository at head %.12s: likely "
		                           "a phantom completion; do the work or untick it",
		                           t->id, rel, head);
	size_t n = touching(h, rel, asdir, sizeof(asdir), &key);
	if (n == 0)
		return devsys__speckit_add(r, 15, DEVSYS_SPECKIT_WARNING, f->tmd.path, t->line,
		                           "%s is marked done but '%s' was not changed by any of the %zu commit(s) on branch "
		                           "'%s' since its base %.12s: likely a phantom completion; do the work or untick it",
		                           t->id, rel, devsys_repo_commits_count(h->commits), devsys_repo_branch(h->repo),
		                           devsys_repo_base_sha(h->repo));
	if (!in_net(h->net, key))
		/* touched, then put back: the work happened, none of it is left; said, not counted as phantom */
		return devsys__speckit_add(r, 15, DEVSYS_SPECKIT_INFO, f->tmd.path, t->line,
		                           "%s is marked done and '%s' was changed by %zu commit(s) on branch '%s', but its "
		                           "content at head %.12s is the base's again: check the change was not undone",
		                           t->id, rel, n, devsys_repo_branch(h->repo), head);
	return 0;
}

static int phantom_task(devsys_speckit_findings *r, const devsys_speckit_feature *f, const devsys_speckit_task *t,
                        const sk_history *h)
{
	const char *checkout = devsys_repo_checkout_path(h->repo);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < t->paths.n; i++) {
		const char *rel = repo_relative(t->paths.v[i], checkout);
		if (rel)
			rc = phantom_path(r, f, t, h, rel);
	}
	return rc;
}

static bool listed(const char *id, const char *const *ids, size_t nids)
{
	if (!ids)
		return true;
	for (size_t i = 0; i < nids; i++)
		if (ids[i] && strcmp(ids[i], id) == 0)
			return true;
	return false;
}

int devsys_speckit_check_phantoms_ids(devsys_speckit_findings *r, const devsys_speckit_feature *f,
                                      devsys_repo *repo, const char *const *ids, size_t nids)
{
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(f);
	DEVSYS__CHECK_ARG(repo);
	if (!ids && nids)
		return devsys__error_set(DEVSYS_EINVAL, "phantom check: %zu ids given but no id list", nids);
	devsys_repo_commits *commits = NULL;
	devsys_repo_changes *net = NULL;
	int rc = devsys_repo_changed_paths_by_commit(&commits, repo);
	if (rc == 0)
		rc = devsys_repo_changed_paths(&net, repo);
	sk_history h = { repo, commits, net };
	for (size_t i = 0; rc == 0 && i < f->ntasks; i++)
		if (f->tasks[i].state != ' ' && listed(f->tasks[i].id, ids, nids))
			rc = phantom_task(r, f, &f->tasks[i], &h);
	devsys_repo_changes_free(net);
	devsys_repo_commits_free(commits);
	return rc;
}

int devsys_speckit_check_phantoms(devsys_speckit_findings *r, const devsys_speckit_feature *f, devsys_repo *repo)
{
	return devsys_speckit_check_phantoms_ids(r, f, repo, NULL, 0);
}
