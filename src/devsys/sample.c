/*
 * The embedded default's sample: <workspace>/sample/remote.git (a bare
 * repository holding examples/sample-repo/ on main) and agent.py. They are
 * made once; a workspace that has them keeps them as they are, so a second
 * `devsys run` finds the same remote, branch and PR.
 */
#include "cli.h"
#include "sample.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <git2.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const char devsys_cli_default_spec[];
extern const size_t devsys_cli_default_spec_len;
extern const char devsys_cli_sample_agent[];
extern const size_t devsys_cli_sample_agent_len;

static int sample_fail(devsys_cli *cli, const char *fmt, ...) DEVSYS_PRINTF(2, 3);

static int sample_fail(devsys_cli *cli, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:{s:s,s:s}}", "error", "code", "system", "message", msg));
	else
		fprintf(stderr, "%serror:%s cannot make the sample repository: %s\n", devsys_cli_color(cli, "\033[1;31m"),
		        devsys_cli_color(cli, "\033[0m"), msg);
	return DEVSYS_EXIT_SYSTEM;
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

/* Commit every embedded file on refs/heads/main of the bare repository at @p path. */
static int commit_sample(devsys_cli *cli, const char *path)
{
	git_repository_init_options io;
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_oid oid, commit;
	int rc = -1;

	if (git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION) < 0)
		goto out;
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	io.initial_head = "main";
	if (git_repository_init_ext(&repo, path, &io) < 0 || git_index_new(&index) < 0)
		goto out;
	for (const devsys_cli_sample_file *f = devsys_cli_sample_files; f->path; f++) {
		git_index_entry e;
		memset(&e, 0, sizeof(e));
		if (git_blob_create_from_buffer(&e.id, repo, f->data, *f->len) < 0)
			goto out;
		e.mode = GIT_FILEMODE_BLOB;
		e.path = f->path;
		if (git_index_add(index, &e) < 0)
			goto out;
	}
	if (git_index_write_tree_to(&oid, index, repo) < 0 || git_tree_lookup(&tree, repo, &oid) < 0 ||
	    git_signature_now(&sig, "devsys sample", "sample@devsys.invalid") < 0 ||
	    git_commit_create(&commit, repo, "refs/heads/main", sig, sig, NULL,
	                      "The sample repository of devsys run's embedded default\n", tree, 0, NULL) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		sample_fail(cli, "%s: %s", path, git_msg());
	git_tree_free(tree);
	git_signature_free(sig);
	git_index_free(index);
	git_repository_free(repo);
	return rc < 0 ? DEVSYS_EXIT_SYSTEM : DEVSYS_EXIT_OK;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* A bare repository with a main branch is there: made by an earlier run. */
static bool have_remote(const char *path)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	bool ok = git_repository_open_bare(&repo, path) == 0 && git_reference_lookup(&ref, repo, "refs/heads/main") == 0;
	git_reference_free(ref);
	git_repository_free(repo);
	return ok;
}

/* @p dir + "/" + @p name into @p out; false when it does not fit (a path is
 * never silently cut: the cut one could name another file). */
static bool sample_path(char *out, size_t size, const char *dir, const char *name, long suffix)
{
	int n = suffix < 0 ? snprintf(out, size, "%s/%s", dir, name) : snprintf(out, size, "%s/%s%ld", dir, name, suffix);
	return n >= 0 && (size_t)n < size;
}

/* Made in a temporary directory and renamed into place: a concurrent run
 * either finds it whole or loses the rename and uses the winner's. */
static int make_remote(devsys_cli *cli, const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int rc;
	if (!sample_path(path, sizeof(path), dir, "remote.git", -1) ||
	    !sample_path(tmp, sizeof(tmp), dir, ".remote.git.", (long)getpid()))
		return sample_fail(cli, "the sample's directory path is too long (%zu bytes): %.64s...", strlen(dir), dir);
	if (have_remote(path))
		return DEVSYS_EXIT_OK;
	if (access(path, F_OK) == 0)
		return sample_fail(cli, "%s exists but is not a bare repository with a main branch; move it away", path);
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if ((rc = commit_sample(cli, tmp)) != 0)
		goto out;
	if (rename(tmp, path) < 0 && !have_remote(path))
		rc = sample_fail(cli, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
out:
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

/* agent.py as this binary carries it (rewritten when an upgrade changed it). */
static int write_agent(devsys_cli *cli, const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX], have[65536];
	size_t n = 0;
	FILE *f;
	if (!sample_path(path, sizeof(path), dir, "agent.py", -1) ||
	    !sample_path(tmp, sizeof(tmp), dir, ".agent.py.", (long)getpid()))
		return sample_fail(cli, "the sample's directory path is too long (%zu bytes): %.64s...", strlen(dir), dir);
	if ((f = fopen(path, "rb"))) {
		n = fread(have, 1, sizeof(have), f);
		fclose(f);
		if (n == devsys_cli_sample_agent_len && memcmp(have, devsys_cli_sample_agent, n) == 0)
			return DEVSYS_EXIT_OK;
	}
	if (!(f = fopen(tmp, "wb")) ||
	    fwrite(devsys_cli_sample_agent, 1, devsys_cli_sample_agent_len, f) != devsys_cli_sample_agent_len ||
	    fclose(f) != 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return sample_fail(cli, "cannot write %s: %s", path, strerror(e));
	}
	return DEVSYS_EXIT_OK;
}

/* The spec with {sample} replaced; the path is escaped for the YAML double-quoted scalars it lands in. */
static int render_spec(devsys_cli *cli, const char *dir, devsys_buf *spec)
{
	const char *s = devsys_cli_default_spec, *end = s + devsys_cli_default_spec_len, *hit;
	devsys_buf esc = DEVSYS_BUF_INIT;
	int rc = 0;
	for (const char *c = dir; *c && rc == 0; c++)
		rc = (*c == '"' || *c == '\\') ? devsys_buf_printf(&esc, "\\%c", *c) : devsys_buf_put(&esc, c, 1);
	while (rc == 0 && (hit = strstr(s, "{sample}")) && hit < end) {
		if ((rc = devsys_buf_put(spec, s, (size_t)(hit - s))) == 0)
			rc = devsys_buf_put(spec, esc.ptr, esc.size);
		s = hit + strlen("{sample}");
	}
	if (rc == 0)
		rc = devsys_buf_put(spec, s, (size_t)(end - s));
	devsys_buf_dispose(&esc);
	return rc < 0 ? devsys_cli_fail_lib(cli, "cannot hold the embedded spec") : DEVSYS_EXIT_OK;
}

int devsys_cli_sample_prepare(devsys_cli *cli, devsys_workspace *ws, devsys_buf *spec)
{
	char dir[PATH_MAX], abs[PATH_MAX];
	int rc;
	snprintf(dir, sizeof(dir), "%s/sample", devsys_workspace_path(ws));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return sample_fail(cli, "cannot make %s: %s", dir, strerror(errno));
	if (!realpath(dir, abs))
		return sample_fail(cli, "cannot resolve %s: %s", dir, strerror(errno));
	if (git_libgit2_init() < 0)
		return sample_fail(cli, "libgit2: %s", git_msg());
	if ((rc = make_remote(cli, abs)) == 0 && (rc = write_agent(cli, abs)) == 0)
		rc = render_spec(cli, abs, spec);
	git_libgit2_shutdown();
	return rc;
}
