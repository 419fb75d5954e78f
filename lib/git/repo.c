/*
 * The task checkout: mirror (clone/fetch under flock), worktree + branch per
 * task, commit with trailers, guarded push.
 */
#include "git_int.h"

/* libgit2's *_OPTIONS_INIT macros name only the leading fields. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct devsys_repo {
	devsys_task *task;     /* a reference */
	devsys_workspace *ws;  /* the task's; alive while the task is */
	devsys_repo_options opts; /* strings and arrays below are owned copies */
	char **owned;             /* every string copied into opts */
	size_t nowned;
	devsys_repo_credential_provider *chain;
	size_t nchain;
	char *url_shown;
	char *mirror_path;
	char *lock_path;
	char *checkout_path;
	char *branch;
	char *base_branch;
	char *remote_default;
	char base_sha[GIT_OID_HEXSZ + 1];
	char head_sha[GIT_OID_HEXSZ + 1];
	git_repository *wt;
	int checkout_cancelled; /* the progress callback asked to stop a checkout */
	const char *at_sha;   /* a new checkout's branch starts here (a resumed task's commit); borrowed during open */
	const char *at_base;  /* and its recorded base; NULL: the base branch's tip */
};

static const size_t repo_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_repo_options, follow_submodules), /* 1 */
};

static const size_t commit_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_repo_commit_options, spec_file), /* 1 */
};

static const devsys_repo_credential_provider default_chain[] = { { devsys_repo_default_credentials, NULL } };

int devsys_repo_options_init(devsys_repo_options *opts, unsigned int version)
{
	static const devsys_repo_options defaults = DEVSYS_REPO_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, repo_options_sizes, DEVSYS_REPO_OPTIONS_VERSION, version, __func__);
}

int devsys_repo_commit_options_init(devsys_repo_commit_options *opts, unsigned int version)
{
	static const devsys_repo_commit_options defaults = DEVSYS_REPO_COMMIT_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, commit_options_sizes, DEVSYS_REPO_COMMIT_OPTIONS_VERSION, version, __func__);
}

/* ---- small helpers ---- */

static int own(devsys_repo *r, const char **field)
{
	char *copy, **grown;
	if (!*field)
		return 0;
	if (!(copy = devsys__strdup(*field)))
		return devsys__error_oom();
	if (!(grown = devsys__realloc(r->owned, (r->nowned + 1) * sizeof(*grown)))) {
		devsys__free(copy);
		return devsys__error_oom();
	}
	r->owned = grown;
	r->owned[r->nowned++] = copy;
	*field = copy;
	return 0;
}

static int copy_options(devsys_repo *r, const devsys_repo_options *in)
{
	const char **strs[] = { &r->opts.url, &r->opts.base_branch, &r->opts.branch_template, &r->opts.slug,
		                &r->opts.author_name, &r->opts.author_email, &r->opts.ssl_ca_file,
		                &r->opts.ssl_ca_dir, &r->opts.ssh_known_hosts, &r->opts.ssh_user,
		                &r->opts.ssh_public_key, &r->opts.ssh_private_key, &r->opts.ssh_passphrase };
	devsys_repo_options defaults = DEVSYS_REPO_OPTIONS_INIT;
	int rc;

	r->opts = defaults;
	if ((rc = devsys__versioned_copy(&r->opts, in, repo_options_sizes, DEVSYS_REPO_OPTIONS_VERSION,
	                                 "devsys_repo_options")) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if ((rc = own(r, strs[i])) < 0)
			return rc;
	if (r->opts.protected_branches && r->opts.nprotected_branches) {
		const char **arr = devsys__calloc(r->opts.nprotected_branches, sizeof(*arr));
		if (!arr)
			return devsys__error_oom();
		/* Track the array itself so it is freed with the strings. */
		for (size_t i = 0; i < r->opts.nprotected_branches; i++) {
			arr[i] = r->opts.protected_branches[i];
			if ((rc = own(r, &arr[i])) < 0) {
				devsys__free(arr);
				return rc;
			}
		}
		r->opts.protected_branches = arr;
	} else {
		r->opts.protected_branches = NULL;
		r->opts.nprotected_branches = 0;
	}
	if (r->opts.credentials && r->opts.ncredentials) {
		if (!(r->chain = devsys__calloc(r->opts.ncredentials, sizeof(*r->chain))))
			return devsys__error_oom();
		memcpy(r->chain, r->opts.credentials, r->opts.ncredentials * sizeof(*r->chain));
		r->nchain = r->opts.ncredentials;
		for (size_t i = 0; i < r->nchain; i++)
			if (!r->chain[i].cb)
				return devsys__error_set(DEVSYS_EINVAL, "credential provider %zu has no callback", i + 1);
	}
	r->opts.credentials = r->chain;
	if (!r->opts.max_file_size)
		r->opts.max_file_size = DEVSYS_REPO_DEFAULT_MAX_FILE_SIZE;
	return 0;
}

static void op_init(devsys__git_op *op, devsys_repo *r)
{
	memset(op, 0, sizeof(*op));
	op->ws = r->ws;
	op->opts = &r->opts;
	op->chain = r->chain ? r->chain : default_chain;
	op->nchain = r->chain ? r->nchain : 1;
	op->url_shown = r->url_shown;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode))
		nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	else
		unlink(path);
}

/* Removes the mirror's worktrees/<id> entry; a task id has no '/' and no "..", so the
 * path stays inside the mirror's worktrees/. */
static void rm_worktree_entry(const devsys_repo *r, const char *id)
{
	char *entry = devsys__asprintf("%s/worktrees/%s", r->mirror_path, id);
	if (entry)
		rm_rf(entry);
	devsys__free(entry);
}

static int lock_mirror(const char *lock_path, int *fd_out)
{
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot open the mirror lock '%s'",
		                           lock_path);
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		int err = errno;
		close(fd);
		return devsys__error_errno(DEVSYS_EIO, err, "cannot lock the mirror lock '%s'", lock_path);
	}
	*fd_out = fd;
	return 0;
}

static void unlock_mirror(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

static int protected_error(const devsys_repo *r, const char *branch, const char *remote_default)
{
	return devsys__error_set(DEVSYS_EPROTECTED,
	                         "branch '%s' is protected (main, master, release/*, the remote default branch%s%s%s "
	                         "or the operator's list); refusing to create or push it for %s",
	                         branch, remote_default && *remote_default ? " '" : "",
	                         remote_default && *remote_default ? remote_default : "",
	                         remote_default && *remote_default ? "'" : "", r->url_shown);
}

/* ---- mirror ---- */

/*
 * A remote of the mirror or the checkout: the URL the spec gave (and the
 * checks passed), with the mirror's fetch refspec, and no url.<x>.insteadOf
 * rewrite, so no configuration can send a fetch or push to another host
 * than the one that was checked. Fetch and push make theirs in memory
 * rather than look "origin" up in the configuration: libgit2 1.5.1 leaks a
 * PCRE2 match block for every configuration entry its insteadOf glob does
 * not match (fixed upstream in libgit2 #6382), about half a MiB a task in
 * a long-running worker.
 */
static int remote_create(git_remote **out, git_repository *repo, const char *name, const char *url)
{
	git_remote_create_options o = GIT_REMOTE_CREATE_OPTIONS_INIT;
	o.repository = repo;
	o.name = name; /* NULL: in memory only; "origin": written to the mirror's config */
	o.fetchspec = "+refs/heads/*:refs/remotes/origin/*";
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	return git_remote_create_with_opts(out, url, &o);
}

static int task_remote(git_remote **out, git_repository *repo, const devsys_repo *r)
{
	return remote_create(out, repo, NULL, r->opts.url);
}

/* Connect, learn the default branch, download, update tips, prune. */
static int fetch_mirror(devsys_repo *r, git_repository *mirror)
{
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
	git_buf def = { 0 };
	devsys__git_op op;
	int rc;

	op_init(&op, r);
	devsys__git_callbacks(&cb, &op);
	if ((rc = devsys__git_set_ca(&r->opts)) < 0)
		return rc;
	if ((rc = task_remote(&remote, mirror, r)) < 0)
		return devsys__git_error(&op, rc, "cannot set up the remote %s for '%s'", r->url_shown, r->mirror_path);
	if ((rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL)) < 0) {
		rc = devsys__git_error(&op, rc, "cannot reach %s", r->url_shown);
		goto out;
	}
	if (git_remote_default_branch(&def, remote) < 0)
		git_error_clear(); /* an empty remote has none */
	fo.callbacks = cb;
	fo.prune = GIT_FETCH_PRUNE;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	if ((rc = git_remote_download(remote, NULL, &fo)) < 0) {
		rc = devsys__git_error(&op, rc, "fetching %s into '%s' failed", r->url_shown, r->mirror_path);
		goto out;
	}
	if ((rc = git_remote_update_tips(remote, &cb, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, "devsys: fetch")) < 0) {
		rc = devsys__git_error(&op, rc, "updating the refs of '%s' failed", r->mirror_path);
		goto out;
	}
	if ((rc = git_remote_prune(remote, &cb)) < 0) {
		rc = devsys__git_error(&op, rc, "pruning the refs of '%s' failed", r->mirror_path);
		goto out;
	}
	/* Set after the download: negotiation must not meet a dangling symref. */
	if (def.ptr && strncmp(def.ptr, "refs/heads/", 11) == 0) {
		char target[1024];
		git_reference *sym = NULL;
		snprintf(target, sizeof(target), "refs/remotes/origin/%s", def.ptr + 11);
		if (git_reference_symbolic_create(&sym, mirror, "refs/remotes/origin/HEAD", target, 1,
		                                  "devsys: remote default branch") == 0)
			git_reference_free(sym);
	}
	rc = 0;
out:
	git_buf_dispose(&def);
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	return rc;
}

static int create_remote_cb(git_remote **out, git_repository *repo, const char *name, const char *url, void *payload)
{
	(void)payload;
	return remote_create(out, repo, name, url);
}

/* Drop the local branch git_clone makes for the remote HEAD: a mirror only
 * ever holds task branches under refs/heads/. */
static void drop_local_branches(git_repository *repo)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	if (git_reference_iterator_glob_new(&it, repo, "refs/heads/*") < 0)
		return;
	while (git_reference_next(&ref, it) == 0) {
		git_reference_delete(ref);
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	git_error_clear();
}

/* A local remote (path or file://) is cloned by copying its objects, as
 * `git clone` does for paths: libgit2's local transport would otherwise
 * build a pack with a full delta search, ~10x slower than git. */
static int clone_local(devsys_repo *r, const char *tmp, git_repository **out)
{
	git_clone_options co = GIT_CLONE_OPTIONS_INIT;
	devsys__git_op op;
	int rc;

	op_init(&op, r);
	co.bare = 1;
	co.local = GIT_CLONE_LOCAL_NO_LINKS; /* copy, never hard-link someone else's objects */
	co.remote_cb = create_remote_cb;
	devsys__git_callbacks(&co.fetch_opts.callbacks, &op);
	co.fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	if ((rc = git_clone(out, r->opts.url, tmp, &co)) < 0)
		return devsys__git_error(&op, rc, "cloning %s into '%s' failed", r->url_shown, tmp);
	drop_local_branches(*out);
	return 0;
}

/*
 * A clone goes to <mirror>.tmp-<pid> and is renamed into place when whole; a
 * process killed mid-clone leaves its tmp dir behind. Under the mirror's lock
 * no other process is cloning this mirror, so every such dir is one a killed
 * clone left: removed, or each kill would keep a whole clone's disk.
 */
static void rm_stale_clones(const devsys_repo *r)
{
	const char *slash = strrchr(r->mirror_path, '/');
	char *parent = slash ? devsys__strndup(r->mirror_path, (size_t)(slash - r->mirror_path)) : NULL;
	char *prefix = slash ? devsys__asprintf("%s.tmp-", slash + 1) : NULL;
	DIR *d = parent ? opendir(parent) : NULL;
	struct dirent *e;
	while (d && prefix && (e = readdir(d))) {
		char *path;
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
		    !(path = devsys__asprintf("%s/%s", parent, e->d_name)))
			continue;
		devsys__log(r->ws, DEVSYS_LOG_WARN, "git", "removing '%s', left by a clone that was stopped", path);
		rm_rf(path);
		devsys__free(path);
	}
	if (d)
		closedir(d);
	devsys__free(parent);
	devsys__free(prefix);
}

static int clone_mirror(devsys_repo *r, git_repository **out)
{
	git_repository_init_options io = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	char *tmp = devsys__asprintf("%s.tmp-%ld", r->mirror_path, (long)getpid());
	int rc;

	if (!tmp)
		return devsys__error_oom();
	rm_stale_clones(r);
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
	io.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
	if (r->opts.url[0] == '/' || strncmp(r->opts.url, "file://", 7) == 0) {
		if ((rc = clone_local(r, tmp, &repo)) < 0)
			goto fail;
		/* Then the usual fetch: remote default branch, prune. */
		if ((rc = fetch_mirror(r, repo)) < 0)
			goto fail;
		goto done;
	}
	if ((rc = git_repository_init_ext(&repo, tmp, &io)) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot create the mirror '%s'", tmp);
		goto fail;
	}
	if ((rc = remote_create(&remote, repo, "origin", r->opts.url)) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot configure the remote of '%s'", tmp);
		goto fail;
	}
	git_remote_free(remote);
	remote = NULL;
	if ((rc = fetch_mirror(r, repo)) < 0)
		goto fail;
done:
	git_repository_free(repo);
	repo = NULL;
	if (rename(tmp, r->mirror_path) != 0) {
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot move the new mirror to '%s'",
		                         r->mirror_path);
		goto fail;
	}
	devsys__free(tmp);
	if ((rc = git_repository_open_bare(out, r->mirror_path)) < 0)
		return devsys__git_error(NULL, rc, "cannot open the new mirror '%s'", r->mirror_path);
	return 0;
fail:
	git_repository_free(repo);
	rm_rf(tmp);
	devsys__free(tmp);
	return rc;
}

/* ---- tree safety: nothing may write outside the checkout ---- */

typedef struct {
	git_repository *repo;
	int rc;
	const char *url_shown;
} walk_ctx;

static int link_escapes(const char *dir, const char *target)
{
	int depth = 0;
	const char *p;
	if (target[0] == '/' || target[0] == '\0')
		return 1;
	for (p = dir; *p; p++) /* components of the link's directory */
		if (*p == '/')
			depth++;
	for (p = target; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return 1;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (n == 4 && strncmp(p, ".git", 4) == 0)
				return 1;
			depth++;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

static int walk_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	walk_ctx *c = payload;
	const char *name = git_tree_entry_name(entry);
	git_blob *blob = NULL;

	if (strcmp(name, "..") == 0 || strcmp(name, ".") == 0 || strchr(name, '\\')) {
		c->rc = devsys__error_set(DEVSYS_EPATH, "%s: the tree has the path '%s%s', which would leave the checkout",
		                          c->url_shown, root, name);
		return -1;
	}
	if (git_tree_entry_filemode(entry) == GIT_FILEMODE_COMMIT)
		return 0; /* a submodule: checked when (and only if) it is followed */
	if (git_tree_entry_filemode(entry) != GIT_FILEMODE_LINK)
		return 0;
	if (git_blob_lookup(&blob, c->repo, git_tree_entry_id(entry)) < 0) {
		c->rc = devsys__git_error(NULL, -1, "cannot read the symbolic link '%s%s'", root, name);
		return -1;
	}
	{
		size_t len = (size_t)git_blob_rawsize(blob);
		char *target = devsys__strndup(git_blob_rawcontent(blob), len);
		int escapes = !target || memchr(git_blob_rawcontent(blob), '\0', len) || link_escapes(root, target);
		if (escapes)
			c->rc = devsys__error_set(DEVSYS_EPATH,
			                          "%s: the symbolic link '%s%s' points to '%.200s', outside the checkout; "
			                          "refusing to check out this tree",
			                          c->url_shown, root, name, target ? target : "?");
		devsys__free(target);
		git_blob_free(blob);
		return escapes ? -1 : 0;
	}
}

static int check_tree(devsys_repo *r, git_repository *repo, git_commit *commit)
{
	git_tree *tree = NULL;
	walk_ctx c = { repo, 0, r->url_shown };
	int rc;
	if ((rc = git_commit_tree(&tree, commit)) < 0)
		return devsys__git_error(NULL, rc, "cannot read the tree of the base commit");
	rc = git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &c);
	git_tree_free(tree);
	if (c.rc < 0)
		return c.rc;
	if (rc < 0)
		return devsys__git_error(NULL, rc, "cannot walk the tree of the base commit");
	return 0;
}

/* ---- open ---- */

static void checkout_progress(const char *path, size_t completed, size_t total, void *payload)
{
	devsys_repo *r = payload;
	devsys_repo_progress p;
	(void)path;
	if (!r->opts.progress || r->checkout_cancelled)
		return;
	p.stage = DEVSYS_REPO_STAGE_CHECKOUT;
	p.total_objects = total;
	p.done_objects = completed;
	p.bytes = 0;
	/* libgit2's checkout progress cannot stop the checkout: remember, and fail after it */
	if (r->opts.progress(&p, r->opts.progress_payload) != 0)
		r->checkout_cancelled = 1;
}

static int read_remote_default(devsys_repo *r, git_repository *repo)
{
	git_reference *head = NULL;
	const char *t;
	devsys__free(r->remote_default);
	r->remote_default = NULL;
	if (git_reference_lookup(&head, repo, "refs/remotes/origin/HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    (t = git_reference_symbolic_target(head)) != NULL && strncmp(t, "refs/remotes/origin/", 20) == 0)
		r->remote_default = devsys__strdup(t + 20);
	git_reference_free(head);
	if (!r->remote_default)
		r->remote_default = devsys__strdup("");
	return r->remote_default ? 0 : devsys__error_oom();
}

static int base_file(devsys_buf *out, devsys_repo *r)
{
	return devsys_buf_printf(out, "%s/worktrees/%s/devsys-base", r->mirror_path, devsys_task_id(r->task));
}

static int update_head_sha(devsys_repo *r)
{
	git_oid oid;
	int rc;
	if ((rc = git_reference_name_to_id(&oid, r->wt, "HEAD")) < 0)
		return devsys__git_error(NULL, rc, "cannot resolve HEAD of '%s'", r->checkout_path);
	git_oid_tostr(r->head_sha, sizeof(r->head_sha), &oid);
	return 0;
}

/*
 * devsys_repo_open_task() writes the checkout's devsys-base (in the
 * mirror's worktree entry) last: a checkout without it is one a killed
 * process left half made (files or the entry missing, nothing committed).
 */
static bool checkout_half_made(devsys_repo *r)
{
	devsys_buf path = DEVSYS_BUF_INIT;
	struct stat st;
	bool half = base_file(&path, r) == 0 && stat(path.ptr, &st) != 0;
	devsys_buf_dispose(&path);
	return half;
}

static int reopen(devsys_repo *r)
{
	devsys_buf path = DEVSYS_BUF_INIT, content = DEVSYS_BUF_INIT;
	git_reference *head = NULL;
	char want[512];
	int rc;

	if ((rc = git_repository_open(&r->wt, r->checkout_path)) < 0)
		return devsys__git_error(NULL, rc, "'%s' exists but is not a git checkout; remove it or use another task id",
		                         r->checkout_path);
	snprintf(want, sizeof(want), "refs/heads/%s", r->branch);
	if ((rc = git_repository_head(&head, r->wt)) < 0 && rc != GIT_EUNBORNBRANCH)
		return devsys__git_error(NULL, rc, "cannot read HEAD of '%s'", r->checkout_path);
	if (!head || strcmp(git_reference_name(head), want) != 0) {
		rc = devsys__error_set(DEVSYS_ESTATE, "checkout '%s' is on '%s', not on the task branch '%s'",
		                       r->checkout_path, head ? git_reference_name(head) : "?", want);
		git_reference_free(head);
		return rc;
	}
	git_reference_free(head);
	if ((rc = base_file(&path, r)) < 0)
		return rc;
	if (devsys__read_file(&content, path.ptr, 4096) == 0 && content.size > GIT_OID_HEXSZ) {
		memcpy(r->base_sha, content.ptr, GIT_OID_HEXSZ);
		r->base_sha[GIT_OID_HEXSZ] = '\0';
		content.ptr[content.size - (content.ptr[content.size - 1] == '\n' ? 1 : 0)] = '\0';
		r->base_branch = devsys__strdup(content.ptr + GIT_OID_HEXSZ + 1);
	}
	devsys_error_clear();
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&content);
	if (!r->base_branch && !(r->base_branch = devsys__strdup(r->opts.base_branch ? r->opts.base_branch : "")))
		return devsys__error_oom();
	if (!r->base_sha[0])
		memset(r->base_sha, '0', GIT_OID_HEXSZ);
	if ((rc = update_head_sha(r)) < 0)
		return rc;
	{
		git_repository *m = NULL;
		if (git_repository_open_bare(&m, r->mirror_path) == 0) {
			rc = read_remote_default(r, m);
			git_repository_free(m);
			if (rc < 0)
				return rc;
		}
	}
	devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: reopened checkout %s on %s", devsys_task_id(r->task),
	            r->checkout_path, r->branch);
	return 0;
}

typedef struct {
	devsys_repo *r;
	int rc;
} sub_ctx;

static int submodule_cb(git_submodule *sm, const char *name, void *payload)
{
	sub_ctx *c = payload;
	devsys_repo *r = c->r;
	git_submodule_update_options uo;
	git_repository *sub = NULL;
	git_commit *head = NULL;
	git_oid oid;
	devsys__git_op op;
	const char *url = git_submodule_url(sm);
	int rc;

	if (!url || (strncmp(url, "./", 2) != 0 && strncmp(url, "../", 3) != 0 &&
	             (rc = devsys__git_url_check(url, NULL, NULL)) < 0)) {
		c->rc = devsys__error_set(DEVSYS_EINVAL, "submodule '%s' has an unusable URL: %s", name,
		                          url ? devsys_error_message(devsys_error_last()) : "none");
		return -1;
	}
	git_submodule_update_options_init(&uo, GIT_SUBMODULE_UPDATE_OPTIONS_VERSION);
	op_init(&op, r);
	devsys__git_callbacks(&uo.fetch_opts.callbacks, &op);
	uo.fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	if ((rc = git_submodule_update(sm, 1, &uo)) < 0) {
		c->rc = devsys__git_error(&op, rc, "checking out submodule '%s' failed", name);
		return -1;
	}
	/* The submodule's tree must not escape the checkout either. */
	if ((rc = git_submodule_open(&sub, sm)) < 0 || (rc = git_reference_name_to_id(&oid, sub, "HEAD")) < 0 ||
	    (rc = git_commit_lookup(&head, sub, &oid)) < 0) {
		c->rc = devsys__git_error(NULL, rc, "cannot open submodule '%s'", name);
		git_repository_free(sub);
		return -1;
	}
	c->rc = check_tree(r, sub, head);
	git_commit_free(head);
	git_repository_free(sub);
	if (c->rc == 0)
		devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: checked out submodule %s", devsys_task_id(r->task),
		            name);
	return c->rc < 0 ? -1 : 0;
}

/*
 * A resumed task whose checkout this workspace does not have (it ran on
 * another host): its branch starts at the commit its record names, which
 * the fetch brought from the pushed branch. *@p start becomes that commit;
 * base_sha the recorded base, when there is one.
 */
static int resume_point(devsys_repo *r, git_repository *mirror, git_commit **start)
{
	git_commit *at = NULL;
	git_oid oid;
	int rc;
	if (git_oid_fromstr(&oid, r->at_sha) < 0 || git_commit_lookup(&at, mirror, &oid) < 0)
		return devsys__error_set(DEVSYS_ENOTFOUND,
		                         "task %s: its commit %.12s (task.json \"commit\") is not on %s: it was made in a "
		                         "checkout on another host and not pushed, so this host cannot go on from it",
		                         devsys_task_id(r->task), r->at_sha, r->url_shown);
	if ((rc = check_tree(r, mirror, at)) < 0) {
		git_commit_free(at);
		return rc;
	}
	if (r->at_base && strlen(r->at_base) == GIT_OID_HEXSZ && git_oid_fromstr(&oid, r->at_base) == 0)
		snprintf(r->base_sha, sizeof(r->base_sha), "%s", r->at_base);
	git_commit_free(*start);
	*start = at;
	devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: no checkout here; making it at the task's commit %.12s of %s",
	            devsys_task_id(r->task), r->at_sha, r->branch);
	return 0;
}

static int setup_checkout(devsys_repo *r, git_repository *mirror)
{
	git_reference *base_ref = NULL, *branch_ref = NULL;
	git_commit *base = NULL;
	git_worktree *wt = NULL;
	git_worktree_add_options wo = GIT_WORKTREE_ADD_OPTIONS_INIT;
	const char *id = devsys_task_id(r->task);
	devsys_buf name = DEVSYS_BUF_INIT;
	int created_branch = 0, rc;
	char shown[GIT_OID_HEXSZ + 1];

	if ((rc = read_remote_default(r, mirror)) < 0)
		return rc;
	if (devsys_repo_branch_is_protected(r->branch, r->remote_default, &r->opts) == 1)
		return protected_error(r, r->branch, r->remote_default);
	if (r->opts.base_branch) {
		r->base_branch = devsys__strdup(r->opts.base_branch);
	} else if (*r->remote_default) {
		r->base_branch = devsys__strdup(r->remote_default);
	} else {
		return devsys__error_set(DEVSYS_ENOTFOUND,
		                         "%s has no default branch (empty repository?); set repo.base_branch",
		                         r->url_shown);
	}
	if (!r->base_branch)
		return devsys__error_oom();
	if ((rc = devsys__git_refname_check(r->base_branch)) < 0)
		return rc;
	if (devsys_buf_printf(&name, "refs/remotes/origin/%s", r->base_branch) < 0)
		return DEVSYS_ENOMEM;
	rc = git_reference_lookup(&base_ref, mirror, name.ptr);
	devsys_buf_dispose(&name);
	if (rc < 0) {
		rc = devsys__error_set(DEVSYS_ENOTFOUND,
		                       "base branch '%s' does not exist on %s (deleted on the remote?); set "
		                       "repo.base_branch to an existing branch",
		                       r->base_branch, r->url_shown);
		goto out;
	}
	if ((rc = git_commit_lookup(&base, mirror, git_reference_target(base_ref))) < 0) {
		rc = devsys__git_error(NULL, rc, "base branch '%s' does not point to a commit", r->base_branch);
		goto out;
	}
	git_oid_tostr(r->base_sha, sizeof(r->base_sha), git_commit_id(base));
	if ((rc = check_tree(r, mirror, base)) < 0)
		goto out;
	if (r->at_sha && (rc = resume_point(r, mirror, &base)) < 0)
		goto out;

	/*
	 * The checkout does not exist and we hold the mirror's lock, so a worktree entry of this
	 * task is stale. libgit2 prunes one it can read (the checkout was deleted by hand); one it
	 * cannot read is removed here: a process killed inside git_worktree_add after it made
	 * worktrees/<id> but before it wrote the entry's files leaves a directory that the lookup
	 * does not see and that the next add refuses ("directory exists").
	 */
	if (git_worktree_lookup(&wt, mirror, id) == 0) {
		git_worktree_prune_options po = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
		po.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED;
		git_worktree_prune(wt, &po);
		git_worktree_free(wt);
		wt = NULL;
	} else {
		rm_worktree_entry(r, id);
	}
	rc = git_branch_lookup(&branch_ref, mirror, r->branch, GIT_BRANCH_LOCAL);
	if (r->at_sha && rc == 0 && git_branch_is_checked_out(branch_ref) != 1) {
		/* the branch is made again where the task's record says it is */
		git_reference_free(branch_ref);
		branch_ref = NULL;
		if ((rc = git_branch_create(&branch_ref, mirror, r->branch, base, 1)) < 0) {
			rc = devsys__git_error(NULL, rc, "cannot set the branch '%s' in '%s' to %.12s", r->branch,
			                       r->mirror_path, r->at_sha);
			goto out;
		}
	} else if (rc == GIT_ENOTFOUND) {
		if ((rc = git_branch_create(&branch_ref, mirror, r->branch, base, 0)) < 0) {
			rc = devsys__git_error(NULL, rc, "cannot create the branch '%s' in '%s'", r->branch,
			                       r->mirror_path);
			goto out;
		}
		created_branch = 1;
	} else if (rc < 0) {
		rc = devsys__git_error(NULL, rc, "cannot look up the branch '%s'", r->branch);
		goto out;
	} else if (git_branch_is_checked_out(branch_ref) == 1) {
		rc = devsys__error_set(DEVSYS_EBUSY, "branch '%s' is already checked out by another task's worktree",
		                       r->branch);
		goto out;
	} else {
		devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: reusing the existing branch %s", id, r->branch);
	}
	wo.ref = branch_ref;
	wo.checkout_options.checkout_strategy = GIT_CHECKOUT_SAFE;
	wo.checkout_options.progress_cb = checkout_progress;
	wo.checkout_options.progress_payload = r;
	r->checkout_cancelled = 0;
	if ((rc = git_worktree_add(&wt, mirror, id, r->checkout_path, &wo)) < 0) {
		rc = devsys__git_error(NULL, rc, "checking out task %s into '%s' failed", id, r->checkout_path);
		goto out;
	}
	if (r->checkout_cancelled) {
		rc = devsys__error_set(DEVSYS_EUSER, "the progress callback cancelled the checkout of task %s into '%s'",
		                       id, r->checkout_path);
		goto out;
	}
	if ((rc = git_repository_open_from_worktree(&r->wt, wt)) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot open the new checkout '%s'", r->checkout_path);
		goto out;
	}
	if ((rc = update_head_sha(r)) < 0)
		goto out;
	if (r->opts.follow_submodules) {
		sub_ctx sc = { r, 0 };
		rc = git_submodule_foreach(r->wt, submodule_cb, &sc);
		if (sc.rc < 0 || rc < 0) {
			rc = sc.rc < 0 ? sc.rc : devsys__git_error(NULL, rc, "cannot list the submodules of task %s", id);
			goto out;
		}
	}
	{
		devsys_buf path = DEVSYS_BUF_INIT, content = DEVSYS_BUF_INIT;
		if ((rc = base_file(&path, r)) == 0 &&
		    (rc = devsys_buf_printf(&content, "%s %s\n", r->base_sha, r->base_branch)) == 0)
			rc = devsys__write_file_atomic(path.ptr, content.ptr, content.size, 0644);
		devsys_buf_dispose(&path);
		devsys_buf_dispose(&content);
		if (rc < 0)
			goto out;
	}
	git_oid_tostr(shown, sizeof(shown), git_commit_id(base));
	devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: checkout %s on %s from %s at %s", id, r->checkout_path,
	            r->branch, r->base_branch, shown);
	rc = 0;
out:
	if (rc < 0) {
		/* Leave nothing of the task behind (the mirror is a cache and stays). */
		git_repository_free(r->wt);
		r->wt = NULL;
		rm_rf(r->checkout_path);
		rm_worktree_entry(r, id);
		if (created_branch && branch_ref)
			git_branch_delete(branch_ref);
	}
	git_worktree_free(wt);
	git_reference_free(branch_ref);
	git_reference_free(base_ref);
	git_commit_free(base);
	return rc;
}

static int open_task(devsys_repo **out, devsys_task *task, const devsys_repo_options *opts, const char *at_sha,
                     const char *at_base)
{
	devsys_repo *r;
	devsys_buf buf = DEVSYS_BUF_INIT;
	git_repository *mirror = NULL;
	git_oid urlhash;
	char hex[GIT_OID_HEXSZ + 1];
	struct stat st;
	int rc, lockfd = -1;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(task);
	DEVSYS__CHECK_ARG(opts);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if (!(r = devsys__calloc(1, sizeof(*r))))
		return devsys__error_oom();
	devsys__task_ref(task); /* the task holds the workspace r->ws names */
	r->task = task;
	r->at_sha = at_sha;
	r->at_base = at_base;
	r->ws = devsys_task_workspace(task);
	if ((rc = copy_options(r, opts)) < 0)
		goto fail;
	if ((rc = devsys__git_url_check(r->opts.url, NULL, NULL)) < 0)
		goto fail;
	if ((rc = devsys__git_url_redact(&buf, r->opts.url)) < 0 || !(r->url_shown = devsys__strdup(buf.ptr))) {
		rc = rc < 0 ? rc : devsys__error_oom();
		goto fail;
	}
	if ((rc = devsys_repo_branch_name(&buf, r->opts.branch_template, devsys_task_id(task), r->opts.slug)) < 0)
		goto fail;
	if (!(r->branch = devsys__strdup(buf.ptr))) {
		rc = devsys__error_oom();
		goto fail;
	}
	/* Static patterns first: refused before anything touches the network. */
	if (devsys_repo_branch_is_protected(r->branch, NULL, &r->opts) == 1) {
		rc = protected_error(r, r->branch, NULL);
		goto fail;
	}
	if (git_odb_hash(&urlhash, r->opts.url, strlen(r->opts.url), GIT_OBJECT_BLOB) < 0) {
		rc = devsys__git_error(NULL, -1, "cannot hash the URL");
		goto fail;
	}
	git_oid_tostr(hex, sizeof(hex), &urlhash);
	r->mirror_path = devsys__asprintf("%s/mirrors/%s.git", devsys_workspace_path(r->ws), hex);
	r->lock_path = devsys__asprintf("%s/mirrors/%s.lock", devsys_workspace_path(r->ws), hex);
	r->checkout_path = devsys__asprintf("%s/checkout", devsys_task_path(task));
	if (!r->mirror_path || !r->lock_path || !r->checkout_path) {
		rc = devsys__error_oom();
		goto fail;
	}
	if (lstat(r->checkout_path, &st) == 0 && !checkout_half_made(r)) {
		if ((rc = reopen(r)) < 0)
			goto fail;
		devsys_buf_dispose(&buf);
		*out = r;
		return 0;
	}
	devsys_buf_clear(&buf);
	if (devsys_buf_printf(&buf, "%s/mirrors", devsys_workspace_path(r->ws)) < 0 ||
	    (rc = devsys__mkdir_p(buf.ptr, 0700)) < 0) {
		rc = rc < 0 ? rc : DEVSYS_ENOMEM;
		goto fail;
	}
	if ((rc = lock_mirror(r->lock_path, &lockfd)) < 0)
		goto fail;
	if (lstat(r->checkout_path, &st) == 0 && checkout_half_made(r)) {
		/* Under the lock no one is making it: a killed process left it. Make it again. */
		devsys__log(r->ws, DEVSYS_LOG_WARN, "git", "task %s: the checkout was left half made; making it again",
		            devsys_task_id(task));
		rm_rf(r->checkout_path);
		rm_worktree_entry(r, devsys_task_id(task));
	}
	if (lstat(r->checkout_path, &st) == 0) {
		/* Another thread or process set this task up while we waited. */
		unlock_mirror(lockfd);
		lockfd = -1;
		if ((rc = reopen(r)) < 0)
			goto fail;
		devsys_buf_dispose(&buf);
		*out = r;
		return 0;
	}
	if (stat(r->mirror_path, &st) == 0) {
		if ((rc = git_repository_open_bare(&mirror, r->mirror_path)) < 0) {
			rc = devsys__git_error(NULL, rc, "cannot open the mirror '%s'; delete it to re-clone",
			                       r->mirror_path);
			goto fail;
		}
		devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "fetching %s into %s", r->url_shown, r->mirror_path);
		if ((rc = fetch_mirror(r, mirror)) < 0)
			goto fail;
	} else {
		devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "cloning %s into %s", r->url_shown, r->mirror_path);
		if ((rc = clone_mirror(r, &mirror)) < 0)
			goto fail;
	}
	if ((rc = setup_checkout(r, mirror)) < 0)
		goto fail;
	git_repository_free(mirror);
	unlock_mirror(lockfd);
	devsys_buf_dispose(&buf);
	r->at_sha = r->at_base = NULL; /* the caller's strings */
	*out = r;
	return 0;
fail:
	git_repository_free(mirror);
	unlock_mirror(lockfd);
	devsys_buf_dispose(&buf);
	devsys_repo_free(r);
	return rc;
}

void devsys_repo_free(devsys_repo *r)
{
	if (!r)
		return;
	git_repository_free(r->wt);
	for (size_t i = 0; i < r->nowned; i++)
		devsys__free(r->owned[i]);
	devsys__free(r->owned);
	if (r->opts.protected_branches)
		devsys__free((void *)r->opts.protected_branches);
	devsys__free(r->chain);
	devsys__free(r->url_shown);
	devsys__free(r->mirror_path);
	devsys__free(r->lock_path);
	devsys__free(r->checkout_path);
	devsys__free(r->branch);
	devsys__free(r->base_branch);
	devsys__free(r->remote_default);
	devsys_task_free(r->task);
	devsys__free(r);
}

const char *devsys_repo_url(const devsys_repo *r) { return r ? r->url_shown : NULL; }
const char *devsys_repo_branch(const devsys_repo *r) { return r ? r->branch : NULL; }
const char *devsys_repo_base_branch(const devsys_repo *r) { return r ? r->base_branch : NULL; }
const char *devsys_repo_base_sha(const devsys_repo *r) { return r ? r->base_sha : NULL; }
const char *devsys_repo_head_sha(const devsys_repo *r) { return r ? r->head_sha : NULL; }
const char *devsys_repo_checkout_path(const devsys_repo *r) { return r ? r->checkout_path : NULL; }
const char *devsys_repo_mirror_path(const devsys_repo *r) { return r ? r->mirror_path : NULL; }
const char *devsys_repo_remote_default_branch(const devsys_repo *r)
{
	return r ? (r->remote_default ? r->remote_default : "") : NULL;
}

/* ---- commit ---- */

typedef struct {
	devsys_repo *r;
	int rc;
} stage_ctx;

static int stage_cb(const char *path, const char *matched, void *payload)
{
	stage_ctx *c = payload;
	char full[PATH_MAX];
	struct stat st;
	(void)matched;
	if ((size_t)snprintf(full, sizeof(full), "%s/%s", c->r->checkout_path, path) >= sizeof(full))
		return 0;
	if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > c->r->opts.max_file_size) {
		c->rc = devsys__error_set(DEVSYS_ELIMIT,
		                          "'%s' is %lld bytes, more than the size guard of %llu bytes; nothing was "
		                          "committed (remove the file, add it to .gitignore, or raise max_file_size)",
		                          path, (long long)st.st_size, (unsigned long long)c->r->opts.max_file_size);
		return -1;
	}
	return 0;
}

/* The id lives in core (the record's spec_hash uses it too); this is its public name. */
int devsys_repo_content_id(devsys_buf *out, const void *data, size_t len)
{
	return devsys__content_id(out, data, len);
}

static int spec_trailer(devsys_buf *msg, devsys_repo *r, const devsys_repo_commit_options *co)
{
	devsys_buf path = DEVSYS_BUF_INIT, data = DEVSYS_BUF_INIT, id = DEVSYS_BUF_INIT;
	int rc;

	if (co->spec_file)
		rc = devsys_buf_puts(&path, co->spec_file);
	else
		rc = devsys__path_join_within(&path, r->checkout_path, co->spec_path);
	if (rc < 0)
		goto out;
	if ((rc = devsys__read_file(&data, path.ptr, 64u << 20)) < 0)
		goto out;
	if ((rc = devsys_repo_content_id(&id, data.ptr, data.size)) < 0)
		goto out;
	rc = devsys_buf_printf(msg, "Spec: %s %s\n", co->spec_path, id.ptr);
out:
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&data);
	devsys_buf_dispose(&id);
	return rc;
}

static int commit(int *committed, devsys_repo *r, const char *message, const devsys_repo_commit_options *opts)
{
	devsys_repo_commit_options co = DEVSYS_REPO_COMMIT_OPTIONS_INIT;
	git_index *idx = NULL;
	git_oid tree_oid, commit_oid;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_reference *head = NULL;
	devsys_buf msg = DEVSYS_BUF_INIT;
	stage_ctx sc;
	size_t mlen;
	int rc;

	DEVSYS__CHECK_ARG(committed);
	*committed = 0;
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(message);
	if (opts && (rc = devsys__versioned_copy(&co, opts, commit_options_sizes, DEVSYS_REPO_COMMIT_OPTIONS_VERSION,
	                                         "devsys_repo_commit_options")) < 0)
		return rc;
	mlen = strlen(message);
	while (mlen > 0 && (message[mlen - 1] == '\n' || message[mlen - 1] == ' '))
		mlen--;
	if (mlen == 0)
		return devsys__error_set(DEVSYS_EINVAL, "commit message for task %s is empty", devsys_task_id(r->task));
	/* Build the message first: a missing spec must not leave a half-done commit. */
	if ((rc = devsys_buf_put(&msg, message, mlen)) < 0 ||
	    (rc = devsys_buf_printf(&msg, "\n\nTask-Id: %s\n", devsys_task_id(r->task))) < 0)
		goto out;
	if (co.spec_path && (rc = spec_trailer(&msg, r, &co)) < 0)
		goto out;

	if ((rc = git_repository_index(&idx, r->wt)) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot open the index of '%s'", r->checkout_path);
		goto out;
	}
	sc.r = r;
	sc.rc = 0;
	rc = git_index_add_all(idx, NULL, GIT_INDEX_ADD_DEFAULT, stage_cb, &sc);
	if (rc == 0)
		rc = git_index_update_all(idx, NULL, stage_cb, &sc);
	if (rc < 0) {
		git_index_read(idx, 1); /* drop what was staged in memory */
		rc = sc.rc ? sc.rc : devsys__git_error(NULL, rc, "cannot stage the changes in '%s'", r->checkout_path);
		goto out;
	}
	if ((rc = git_index_write_tree(&tree_oid, idx)) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot write the tree of '%s'", r->checkout_path);
		goto out;
	}
	if ((rc = git_repository_head(&head, r->wt)) < 0 ||
	    (rc = git_commit_lookup(&parent, r->wt, git_reference_target(head))) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot resolve HEAD of '%s'", r->checkout_path);
		goto out;
	}
	if (git_oid_equal(&tree_oid, git_commit_tree_id(parent))) {
		devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: nothing to commit", devsys_task_id(r->task));
		rc = 0;
		goto out;
	}
	if ((rc = git_index_write(idx)) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot write the index of '%s'", r->checkout_path);
		goto out;
	}
	if ((rc = git_tree_lookup(&tree, r->wt, &tree_oid)) < 0 ||
	    (rc = git_signature_now(&sig, r->opts.author_name ? r->opts.author_name : "devsys",
	                            r->opts.author_email ? r->opts.author_email : "devsys@localhost")) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot prepare the commit (author '%s')",
		                       r->opts.author_name ? r->opts.author_name : "devsys");
		goto out;
	}
	if ((rc = git_commit_create(&commit_oid, r->wt, "HEAD", sig, sig, NULL, msg.ptr, tree, 1,
	                            (const git_commit **)&parent)) < 0) {
		rc = devsys__git_error(NULL, rc, "cannot commit in '%s'", r->checkout_path);
		goto out;
	}
	git_oid_tostr(r->head_sha, sizeof(r->head_sha), &commit_oid);
	*committed = 1;
	devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: committed %s on %s", devsys_task_id(r->task), r->head_sha,
	            r->branch);
	rc = 0;
out:
	devsys_buf_dispose(&msg);
	git_reference_free(head);
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(parent);
	git_index_free(idx);
	return rc;
}

/* ---- push ---- */

static int push(devsys_repo *r)
{
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	git_push_options po = GIT_PUSH_OPTIONS_INIT;
	const git_remote_head **heads = NULL;
	size_t nheads = 0;
	devsys__git_op op;
	git_oid local, remote_oid;
	int have_remote = 0, force = 0, rc, lockfd = -1;
	char refname[512], spec[1100];
	char *refspecs[1];
	git_strarray arr = { refspecs, 1 };

	DEVSYS__CHECK_ARG(r);
	if ((rc = read_remote_default(r, r->wt)) < 0)
		return rc;
	if (devsys_repo_branch_is_protected(r->branch, r->remote_default, &r->opts) == 1)
		return protected_error(r, r->branch, r->remote_default);
	snprintf(refname, sizeof(refname), "refs/heads/%s", r->branch);
	if ((rc = git_reference_name_to_id(&local, r->wt, refname)) < 0)
		return devsys__git_error(NULL, rc, "task branch '%s' is missing", r->branch);

	op_init(&op, r);
	devsys__git_callbacks(&cb, &op);
	if ((rc = devsys__git_set_ca(&r->opts)) < 0)
		return rc;
	if ((rc = lock_mirror(r->lock_path, &lockfd)) < 0)
		return rc;
	if ((rc = task_remote(&remote, r->wt, r)) < 0) {
		rc = devsys__git_error(&op, rc, "cannot set up the remote %s for the checkout", r->url_shown);
		goto out;
	}
	if ((rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL)) < 0 ||
	    (rc = git_remote_ls(&heads, &nheads, remote)) < 0) {
		rc = devsys__git_error(&op, rc, "cannot reach %s", r->url_shown);
		goto out;
	}
	for (size_t i = 0; i < nheads; i++) {
		if (strcmp(heads[i]->name, "HEAD") == 0 && heads[i]->symref_target &&
		    strncmp(heads[i]->symref_target, "refs/heads/", 11) == 0 &&
		    strcmp(heads[i]->symref_target + 11, r->branch) == 0) {
			/* The remote's default branch changed to ours: refuse before uploading. */
			rc = protected_error(r, r->branch, r->branch);
			goto out;
		}
		if (strcmp(heads[i]->name, refname) == 0) {
			git_oid_cpy(&remote_oid, &heads[i]->oid);
			have_remote = 1;
		}
	}
	if (have_remote && git_oid_equal(&remote_oid, &local)) {
		devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: %s is already up to date on %s",
		            devsys_task_id(r->task), r->branch, r->url_shown);
		rc = 0;
		goto out;
	}
	if (have_remote) {
		git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
		git_oid base;
		char fspec[1100];
		char *fspecs[1] = { fspec };
		git_strarray farr = { fspecs, 1 };
		snprintf(fspec, sizeof(fspec), "+%s:refs/remotes/origin/%s", refname, r->branch);
		fo.callbacks = cb;
		fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
		{
			git_odb *odb = NULL;
			int exists = 0;
			if (git_repository_odb(&odb, r->wt) == 0) {
				exists = git_odb_exists(odb, &remote_oid);
				git_odb_free(odb);
			}
			if (!exists && (rc = git_remote_download(remote, &farr, &fo)) < 0) {
				rc = devsys__git_error(&op, rc, "cannot fetch the remote '%s' from %s", r->branch,
				                       r->url_shown);
				goto out;
			}
		}
		rc = git_merge_base(&base, r->wt, &local, &remote_oid);
		if (rc == GIT_ENOTFOUND) {
			rc = devsys__error_set(DEVSYS_ECONFLICT,
			                       "branch '%s' already exists on %s with unrelated history (no common "
			                       "ancestor); refusing to push: pick another branch template or delete the "
			                       "remote branch",
			                       r->branch, r->url_shown);
			goto out;
		} else if (rc < 0) {
			rc = devsys__git_error(&op, rc, "cannot compare the history of '%s'", r->branch);
			goto out;
		}
		if (!git_oid_equal(&base, &remote_oid)) {
			if (!r->opts.allow_force_push) {
				rc = devsys__error_set(DEVSYS_ECONFLICT,
				                       "branch '%s' on %s has commits the task does not have (diverged "
				                       "history); refusing to overwrite it (force push is off)",
				                       r->branch, r->url_shown);
				goto out;
			}
			force = 1;
			devsys__log(r->ws, DEVSYS_LOG_WARN, "git",
			            "task %s: force-pushing %s over diverged remote history (allowed by the operator)",
			            devsys_task_id(r->task), r->branch);
		}
	} else {
		git_reference *tracking = NULL;
		char tname[600];
		snprintf(tname, sizeof(tname), "refs/remotes/origin/%s", r->branch);
		if (git_reference_lookup(&tracking, r->wt, tname) == 0) {
			devsys__log(r->ws, DEVSYS_LOG_WARN, "git",
			            "task %s: %s was deleted on %s since the last push; pushing it again",
			            devsys_task_id(r->task), r->branch, r->url_shown);
			git_reference_free(tracking);
		}
	}
	git_remote_disconnect(remote);
	snprintf(spec, sizeof(spec), "%s%s:%s", force ? "+" : "", refname, refname);
	refspecs[0] = spec;
	po.callbacks = cb;
	op.attempts = 0; /* a new connection asks for credentials afresh */
	if ((rc = git_remote_push(remote, &arr, &po)) < 0) {
		rc = devsys__git_error(&op, rc, "pushing '%s' to %s failed", r->branch, r->url_shown);
		goto out;
	}
	if (op.push_refused) {
		rc = devsys__error_set(DEVSYS_ECONFLICT, "%s refused the push: %s", r->url_shown, op.push_refused_msg);
		goto out;
	}
	{
		/* Record what the remote now has (update_tips only covers fetch refspecs). */
		git_reference *tr = NULL;
		char tname[600];
		snprintf(tname, sizeof(tname), "refs/remotes/origin/%s", r->branch);
		if (git_reference_create(&tr, r->wt, tname, &local, 1, "devsys: push") == 0)
			git_reference_free(tr);
	}
	devsys__log(r->ws, DEVSYS_LOG_INFO, "git", "task %s: pushed %s (%s) to %s", devsys_task_id(r->task),
	            r->branch, r->head_sha, r->url_shown);
	rc = 0;
out:
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	unlock_mirror(lockfd);
	return rc;
}

/*
 * The git module writes no task file: its facts (devsys_repo_url(), _branch(),
 * _base_branch(), _base_sha(), _head_sha()) are read by the caller after each
 * step, and the caller records them (the pipeline, or the record module's
 * git-step call for any other caller; docs/architecture.md, "Layering"). So a push that succeeded returns 0 whatever happens
 * to the record afterwards.
 */
int devsys_repo_open_task(devsys_repo **out, devsys_task *task, const devsys_repo_options *opts)
{
	return open_task(out, task, opts, NULL, NULL);
}

int devsys__repo_open_task_at(devsys_repo **out, devsys_task *task, const devsys_repo_options *opts,
                              const char *head_sha, const char *base_sha)
{
	return open_task(out, task, opts, head_sha, base_sha);
}

int devsys_repo_commit(int *committed, devsys_repo *r, const char *message, const devsys_repo_commit_options *opts)
{
	return commit(committed, r, message, opts);
}

int devsys_repo_push(devsys_repo *r)
{
	return push(r);
}
