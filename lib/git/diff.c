/*
 * The paths a task changed: libgit2's tree-to-tree diff between the task's
 * base and head commits with rename detection, read from the mirror (every
 * worktree's commits live in its object store). No git program, no working
 * tree: what is committed is what counts, for the gate as for the PR.
 */
#include "git_int.h"

/* libgit2's *_OPTIONS_INIT macros name only the leading fields. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <stdlib.h>
#include <string.h>

struct devsys_repo_change {
	devsys_repo_change_status status;
	char *path;
	char *old_path; /* renames only */
	unsigned int old_mode, new_mode;
};

struct devsys_repo_changes {
	size_t n;
	struct devsys_repo_change *v;
};

void devsys_repo_changes_free(devsys_repo_changes *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		devsys__free(c->v[i].path);
		devsys__free(c->v[i].old_path);
	}
	devsys__free(c->v);
	devsys__free(c);
}

static devsys_repo_change_status status_of(git_delta_t s)
{
	switch (s) {
	case GIT_DELTA_ADDED:
		return DEVSYS_REPO_CHANGE_ADDED;
	case GIT_DELTA_MODIFIED:
		return DEVSYS_REPO_CHANGE_MODIFIED;
	case GIT_DELTA_DELETED:
		return DEVSYS_REPO_CHANGE_DELETED;
	case GIT_DELTA_RENAMED:
		return DEVSYS_REPO_CHANGE_RENAMED;
	case GIT_DELTA_TYPECHANGE:
		return DEVSYS_REPO_CHANGE_TYPECHANGE;
	default:
		return 0; /* copies, unmodified...: not asked for, not reported */
	}
}

static int add_delta(devsys_repo_changes *c, const git_diff_delta *d)
{
	struct devsys_repo_change *e = &c->v[c->n];
	devsys_repo_change_status st = status_of(d->status);

	if (!st)
		return 0;
	e->status = st;
	e->old_mode = st == DEVSYS_REPO_CHANGE_ADDED ? 0 : (unsigned int)d->old_file.mode;
	e->new_mode = st == DEVSYS_REPO_CHANGE_DELETED ? 0 : (unsigned int)d->new_file.mode;
	e->path = devsys__strdup(st == DEVSYS_REPO_CHANGE_DELETED ? d->old_file.path : d->new_file.path);
	e->old_path = st == DEVSYS_REPO_CHANGE_RENAMED ? devsys__strdup(d->old_file.path) : NULL;
	if (!e->path || (st == DEVSYS_REPO_CHANGE_RENAMED && !e->old_path)) {
		devsys__free(e->path);
		devsys__free(e->old_path);
		return devsys__error_oom();
	}
	c->n++;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct devsys_repo_change *)a)->path, ((const struct devsys_repo_change *)b)->path);
}

static int commit_tree(git_tree **out, git_repository *g, const char *sha, const char *which)
{
	git_oid oid;
	git_commit *c = NULL;
	int rc;

	if (!sha || !*sha)
		return devsys__error_set(DEVSYS_EINVAL, "changed paths: the task has no %s commit yet", which);
	if (git_oid_fromstr(&oid, sha) < 0)
		return devsys__error_set(DEVSYS_EINVAL, "changed paths: %s '%s' is not a commit id", which, sha);
	if ((rc = git_commit_lookup(&c, g, &oid)) < 0)
		return rc == GIT_ENOTFOUND
		               ? devsys__error_set(DEVSYS_ENOTFOUND, "changed paths: the %s commit %s is not in the mirror",
		                                   which, sha)
		               : devsys__git_error(NULL, rc, "changed paths: cannot read the %s commit %s", which, sha);
	rc = git_commit_tree(out, c);
	git_commit_free(c);
	return rc < 0 ? devsys__git_error(NULL, rc, "changed paths: cannot read the tree of %s", sha) : 0;
}

/* Diff two trees with renames found as `git diff -M` finds them. */
static int diff_trees(git_diff **out, git_repository *g, git_tree *a, git_tree *b)
{
	git_diff_options o = GIT_DIFF_OPTIONS_INIT;
	git_diff_find_options f = GIT_DIFF_FIND_OPTIONS_INIT;
	int rc;

	/* a file <-> symlink <-> submodule change is one T entry, as git shows it */
	o.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
	o.ignore_submodules = GIT_SUBMODULE_IGNORE_NONE;
	if ((rc = git_diff_tree_to_tree(out, g, a, b, &o)) < 0)
		return devsys__git_error(NULL, rc, "changed paths: cannot diff the trees");
	f.flags = GIT_DIFF_FIND_RENAMES;
	if ((rc = git_diff_find_similar(*out, &f)) < 0) {
		git_diff_free(*out);
		*out = NULL;
		return devsys__git_error(NULL, rc, "changed paths: rename detection failed");
	}
	return 0;
}

static int collect(devsys_repo_changes **out, git_diff *diff)
{
	size_t n = git_diff_num_deltas(diff);
	devsys_repo_changes *c = devsys__calloc(1, sizeof(*c));
	int rc = 0;

	if (!c || (n && !(c->v = devsys__calloc(n, sizeof(*c->v))))) {
		devsys__free(c);
		return devsys__error_oom();
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_delta(c, git_diff_get_delta(diff, i));
	if (rc < 0) {
		devsys_repo_changes_free(c);
		return rc;
	}
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), by_path);
	*out = c;
	return 0;
}

int devsys_repo_changed_paths(devsys_repo_changes **out, devsys_repo *repo)
{
	git_repository *g = NULL;
	git_tree *base = NULL, *head = NULL;
	git_diff *diff = NULL;
	int rc;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(repo);
	if ((rc = git_repository_open_bare(&g, devsys_repo_mirror_path(repo))) < 0)
		return devsys__git_error(NULL, rc, "changed paths: cannot open the mirror '%s'",
		                         devsys_repo_mirror_path(repo));
	if ((rc = commit_tree(&base, g, devsys_repo_base_sha(repo), "base")) == 0 &&
	    (rc = commit_tree(&head, g, devsys_repo_head_sha(repo), "head")) == 0 &&
	    (rc = diff_trees(&diff, g, base, head)) == 0)
		rc = collect(out, diff);
	git_diff_free(diff);
	git_tree_free(head);
	git_tree_free(base);
	git_repository_free(g);
	return rc;
}

size_t devsys_repo_changes_count(const devsys_repo_changes *c)
{
	return c ? c->n : 0;
}

const devsys_repo_change *devsys_repo_changes_at(const devsys_repo_changes *c, size_t i)
{
	return c && i < c->n ? &c->v[i] : NULL;
}

devsys_repo_change_status devsys_repo_change_status_of(const devsys_repo_change *e)
{
	return e ? e->status : 0;
}

const char *devsys_repo_change_path(const devsys_repo_change *e)
{
	return e ? e->path : NULL;
}

const char *devsys_repo_change_old_path(const devsys_repo_change *e)
{
	return e ? e->old_path : NULL;
}

unsigned int devsys_repo_change_old_mode(const devsys_repo_change *e)
{
	return e ? e->old_mode : 0;
}

unsigned int devsys_repo_change_new_mode(const devsys_repo_change *e)
{
	return e ? e->new_mode : 0;
}

const char *devsys_repo_change_status_name(devsys_repo_change_status s)
{
	switch (s) {
	case DEVSYS_REPO_CHANGE_ADDED:
		return "added";
	case DEVSYS_REPO_CHANGE_MODIFIED:
		return "modified";
	case DEVSYS_REPO_CHANGE_DELETED:
		return "deleted";
	case DEVSYS_REPO_CHANGE_RENAMED:
		return "renamed";
	case DEVSYS_REPO_CHANGE_TYPECHANGE:
		return "typechange";
	}
	return "unknown";
}

/* ---- commit by commit ---- */

struct devsys_repo_commits {
	size_t n, cap;
	char (*sha)[GIT_OID_HEXSZ + 1];
	devsys_repo_changes **changes;
};

void devsys_repo_commits_free(devsys_repo_commits *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		devsys_repo_changes_free(h->changes[i]);
	devsys__free(h->changes);
	devsys__free(h->sha);
	devsys__free(h);
}

static int commits_grow(devsys_repo_commits *h)
{
	if (h->n < h->cap)
		return 0;
	size_t cap = h->cap ? h->cap * 2 : 16;
	void *s = devsys__realloc(h->sha, cap * sizeof(*h->sha));
	if (!s)
		return devsys__error_oom();
	h->sha = s;
	void *c = devsys__realloc(h->changes, cap * sizeof(*h->changes));
	if (!c)
		return devsys__error_oom();
	h->changes = c;
	h->cap = cap;
	return 0;
}

/* One commit against its first parent (the empty tree when it has none). */
static int commit_changes(devsys_repo_commits *h, git_repository *g, const git_oid *oid)
{
	git_commit *c = NULL, *parent = NULL;
	git_tree *a = NULL, *b = NULL;
	git_diff *diff = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	git_oid_tostr(hex, sizeof(hex), oid);
	if ((rc = git_commit_lookup(&c, g, oid)) < 0 || (rc = git_commit_tree(&b, c)) < 0 ||
	    (git_commit_parentcount(c) && ((rc = git_commit_parent(&parent, c, 0)) < 0 ||
	                                   (rc = git_commit_tree(&a, parent)) < 0)))
		rc = devsys__git_error(NULL, rc, "changed paths: cannot read commit %s or its first parent", hex);
	else if ((rc = commits_grow(h)) == 0 && (rc = diff_trees(&diff, g, a, b)) == 0 &&
	         (rc = collect(&h->changes[h->n], diff)) == 0)
		memcpy(h->sha[h->n++], hex, sizeof(hex));
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	git_commit_free(parent);
	git_commit_free(c);
	return rc;
}

static int walk_start(git_revwalk **w, git_repository *g, git_oid *base, git_oid *head, devsys_repo *repo)
{
	const char *b = devsys_repo_base_sha(repo), *hd = devsys_repo_head_sha(repo);
	int rc;

	if (!b || !*b || !hd || !*hd)
		return devsys__error_set(DEVSYS_EINVAL, "changed paths: the task has no %s commit yet",
		                         !b || !*b ? "base" : "head");
	if (git_oid_fromstr(base, b) < 0 || git_oid_fromstr(head, hd) < 0)
		return devsys__error_set(DEVSYS_EINVAL, "changed paths: '%s' or '%s' is not a commit id", b, hd);
	if ((rc = git_revwalk_new(w, g)) < 0)
		return devsys__git_error(NULL, rc, "changed paths: cannot walk the history");
	git_revwalk_sorting(*w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	git_revwalk_simplify_first_parent(*w);
	if ((rc = git_revwalk_push(*w, head)) < 0 || (rc = git_revwalk_hide(*w, base)) < 0) {
		git_revwalk_free(*w);
		*w = NULL;
		return rc == GIT_ENOTFOUND
		               ? devsys__error_set(DEVSYS_ENOTFOUND, "changed paths: base %s or head %s is not in the mirror",
		                                   b, hd)
		               : devsys__git_error(NULL, rc, "changed paths: cannot walk %s..%s", b, hd);
	}
	return 0;
}

int devsys_repo_changed_paths_by_commit(devsys_repo_commits **out, devsys_repo *repo)
{
	git_repository *g = NULL;
	git_revwalk *w = NULL;
	git_oid base, head, oid;
	devsys_repo_commits *h;
	int rc, next = 0;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(repo);
	if (!(h = devsys__calloc(1, sizeof(*h))))
		return devsys__error_oom();
	if ((rc = git_repository_open_bare(&g, devsys_repo_mirror_path(repo))) < 0)
		rc = devsys__git_error(NULL, rc, "changed paths: cannot open the mirror '%s'", devsys_repo_mirror_path(repo));
	else
		rc = walk_start(&w, g, &base, &head, repo);
	while (rc == 0 && (next = git_revwalk_next(&oid, w)) == 0) {
		if (h->n >= DEVSYS_REPO_MAX_COMMITS)
			rc = devsys__error_set(DEVSYS_ELIMIT, "changed paths: more than %u commits from %s to %s: is the base on "
			                                      "the branch's history?",
			                       DEVSYS_REPO_MAX_COMMITS, devsys_repo_base_sha(repo), devsys_repo_head_sha(repo));
		else
			rc = commit_changes(h, g, &oid);
	}
	if (rc == 0 && next != GIT_ITEROVER)
		rc = devsys__git_error(NULL, next, "changed paths: the walk from %s stopped", devsys_repo_head_sha(repo));
	git_revwalk_free(w);
	git_repository_free(g);
	if (rc < 0) {
		devsys_repo_commits_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

size_t devsys_repo_commits_count(const devsys_repo_commits *h)
{
	return h ? h->n : 0;
}

const char *devsys_repo_commits_sha(const devsys_repo_commits *h, size_t i)
{
	return h && i < h->n ? h->sha[i] : NULL;
}

const devsys_repo_changes *devsys_repo_commits_changes(const devsys_repo_commits *h, size_t i)
{
	return h && i < h->n ? h->changes[i] : NULL;
}

static bool names(const char *q, const char *p, size_t n, bool dir)
{
	return q && (dir ? strncmp(q, p, n) == 0 : strcmp(q, p) == 0);
}

size_t devsys_repo_commits_touching(const devsys_repo_commits *h, const char *path, size_t *first, size_t *last)
{
	size_t hits = 0;
	if (!h || !path || !*path)
		return 0;
	size_t n = strlen(path);
	bool dir = path[n - 1] == '/';
	for (size_t i = 0; i < h->n; i++) {
		const devsys_repo_changes *c = h->changes[i];
		bool hit = false;
		for (size_t k = 0; k < c->n && !hit; k++)
			hit = names(c->v[k].path, path, n, dir) || names(c->v[k].old_path, path, n, dir);
		if (!hit)
			continue;
		if (first && !hits)
			*first = i;
		if (last)
			*last = i;
		hits++;
	}
	return hits;
}

int devsys_repo_head_has_path(int *exists, devsys_repo *repo, const char *path)
{
	git_repository *g = NULL;
	git_tree *head = NULL;
	git_tree_entry *e = NULL;
	int rc;

	DEVSYS__CHECK_ARG(exists);
	*exists = 0;
	DEVSYS__CHECK_ARG(repo);
	DEVSYS__CHECK_ARG(path);
	size_t n = strlen(path);
	char *p = devsys__strndup(path, n && path[n - 1] == '/' ? n - 1 : n);
	if (!p)
		return devsys__error_oom();
	if ((rc = git_repository_open_bare(&g, devsys_repo_mirror_path(repo))) < 0)
		rc = devsys__git_error(NULL, rc, "head path: cannot open the mirror '%s'", devsys_repo_mirror_path(repo));
	else if ((rc = commit_tree(&head, g, devsys_repo_head_sha(repo), "head")) == 0 && *p) {
		int found = git_tree_entry_bypath(&e, head, p);
		if (found == 0)
			/* "dir/" asks for a folder: a file of that name is not it */
			*exists = p[0] && (n == strlen(p) || git_tree_entry_type(e) == GIT_OBJECT_TREE);
		else if (found != GIT_ENOTFOUND)
			rc = devsys__git_error(NULL, found, "head path: cannot look up '%s'", path);
	}
	git_tree_entry_free(e);
	git_tree_free(head);
	git_repository_free(g);
	devsys__free(p);
	return rc;
}
