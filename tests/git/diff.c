/*
 * devsys_repo_changed_paths() against a real repository: a task commits an
 * addition, a modification, a deletion, renames (one unchanged, one edited),
 * a mode change, a file turned symlink, a symlink retargeted, a submodule
 * moved to another commit and one added; the result must equal what `git diff --raw -M` says
 * between the same two commits (status, paths and both modes).
 */
#include "gitfix.h"

#include <sys/stat.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("gitdiff");
}
static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}
TestSuite(git_diff, .init = setup, .fini = teardown, .timeout = 120);

static char letter(devsys_repo_change_status s)
{
	return s == DEVSYS_REPO_CHANGE_ADDED        ? 'A'
	       : s == DEVSYS_REPO_CHANGE_MODIFIED   ? 'M'
	       : s == DEVSYS_REPO_CHANGE_DELETED    ? 'D'
	       : s == DEVSYS_REPO_CHANGE_RENAMED    ? 'R'
	       : s == DEVSYS_REPO_CHANGE_TYPECHANGE ? 'T'
	                                            : '?';
}

/* The result as `git diff --raw` lines without the blob ids or scores, sorted. */
static char *as_raw(const devsys_repo_changes *c)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/ours.txt", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (size_t i = 0; i < devsys_repo_changes_count(c); i++) {
		const devsys_repo_change *e = devsys_repo_changes_at(c, i);
		fprintf(f, ":%06o %06o %c\t", devsys_repo_change_old_mode(e), devsys_repo_change_new_mode(e),
		        letter(devsys_repo_change_status_of(e)));
		if (devsys_repo_change_old_path(e))
			fprintf(f, "%s\t", devsys_repo_change_old_path(e));
		fprintf(f, "%s\n", devsys_repo_change_path(e));
	}
	fclose(f);
	char cmd[8200];
	snprintf(cmd, sizeof(cmd), "LC_ALL=C sort '%s'", path);
	return gf_out(cmd);
}

static char *git_raw(const char *mirror, const char *base, const char *head)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
	         "git --git-dir='%s' -c core.quotePath=false diff --raw -M --no-abbrev %s %s | "
	         "sed -E 's/^(:[0-7]+ [0-7]+) [0-9a-f]+ [0-9a-f]+ ([A-Z])[0-9]*/\\1 \\2/' | LC_ALL=C sort",
	         mirror, base, head);
	return gf_out(cmd);
}

static const devsys_repo_change *find(const devsys_repo_changes *c, const char *path)
{
	for (size_t i = 0; i < devsys_repo_changes_count(c); i++)
		if (strcmp(devsys_repo_change_path(devsys_repo_changes_at(c, i)), path) == 0)
			return devsys_repo_changes_at(c, i);
	cr_assert_fail("no change for %s in:\n%s", path, as_raw(c));
	return NULL;
}

Test(git_diff, changed_paths_match_git_diff_name_status)
{
	char *bare = gf_make_remote(dir, "proj"), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo_changes *c = NULL;
	int committed = 0;

	/* the base: files of every kind, and a submodule (a gitlink entry) */
	gf_git("set -e; cd '%s/proj-work'; echo a > a.txt; echo b > b.txt; seq 1 200 > big.txt; "
	       "echo '#!/bin/sh' > exec.sh; echo kind > kind.txt; ln -s a.txt link; "
	       GITC " add -A; " GITC " update-index --add --cacheinfo 160000,$(git rev-parse HEAD),vendor/sub; "
	       GITC " commit -q -m base; git push -q '%s' main",
	       dir, bare);
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "d1");
	devsys_repo *r = NULL;
	o.url = bare;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());

	/* nothing committed yet: no change (and git agrees) */
	cr_assert_eq(devsys_repo_changed_paths(&c, r), 0, "%s", gf_err());
	cr_assert_eq(devsys_repo_changes_count(c), 0);
	char *none = git_raw(devsys_repo_mirror_path(r), devsys_repo_base_sha(r), devsys_repo_head_sha(r));
	cr_assert_str_eq(none, "");
	free(none);
	devsys_repo_changes_free(c);

	gf_git("set -e; cd '%s'; echo new > new.txt; echo more >> a.txt; rm b.txt; mkdir moved; "
	       "mv big.txt moved/big2.txt; echo tail >> moved/big2.txt; chmod +x exec.sh; "
	       "rm kind.txt; ln -s a.txt kind.txt; rm link; ln -s new.txt link; "
	       "mkdir docs; mv README.md docs/README.md",
	       devsys_repo_checkout_path(r));
	cr_assert_eq(devsys_repo_commit(&committed, r, "changes", NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
	/* submodules: the library's commit leaves gitlinks alone, so move one and
	 * add one with git itself, then reopen the task (head = the checkout's) */
	gf_git("set -e; cd '%s'; " GITC " update-index --add --cacheinfo 160000,$(git rev-parse HEAD~1),vendor/sub; "
	       GITC " update-index --add --cacheinfo 160000,$(git rev-parse HEAD),vendor/new-sub; "
	       GITC " commit -q -m submodules",
	       devsys_repo_checkout_path(r));
	devsys_repo_free(r);
	r = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());

	cr_assert_eq(devsys_repo_changed_paths(&c, r), 0, "%s", gf_err());
	char *ours = as_raw(c);
	char *theirs = git_raw(devsys_repo_mirror_path(r), devsys_repo_base_sha(r), devsys_repo_head_sha(r));
	cr_assert_str_eq(ours, theirs, "ours:\n%s\ngit diff --raw -M:\n%s", ours, theirs);
	/* the comparison covers every kind asked for: check they are there */
	cr_assert_eq(devsys_repo_change_status_of(find(c, "new.txt")), DEVSYS_REPO_CHANGE_ADDED);
	cr_assert_eq(devsys_repo_change_status_of(find(c, "a.txt")), DEVSYS_REPO_CHANGE_MODIFIED);
	cr_assert_eq(devsys_repo_change_status_of(find(c, "b.txt")), DEVSYS_REPO_CHANGE_DELETED);
	cr_assert_eq(devsys_repo_change_old_mode(find(c, "b.txt")), 0100644);
	cr_assert_eq(devsys_repo_change_new_mode(find(c, "b.txt")), 0);
	const devsys_repo_change *mv = find(c, "moved/big2.txt");
	cr_assert_eq(devsys_repo_change_status_of(mv), DEVSYS_REPO_CHANGE_RENAMED);
	cr_assert_str_eq(devsys_repo_change_old_path(mv), "big.txt");
	cr_assert_str_eq(devsys_repo_change_old_path(find(c, "docs/README.md")), "README.md");
	cr_assert_null(devsys_repo_change_old_path(find(c, "a.txt")), "old_path is for renames only");
	cr_assert_eq(devsys_repo_change_old_mode(find(c, "exec.sh")), 0100644);
	cr_assert_eq(devsys_repo_change_new_mode(find(c, "exec.sh")), 0100755);
	cr_assert_eq(devsys_repo_change_status_of(find(c, "kind.txt")), DEVSYS_REPO_CHANGE_TYPECHANGE);
	cr_assert_eq(devsys_repo_change_new_mode(find(c, "kind.txt")), 0120000);
	cr_assert_eq(devsys_repo_change_new_mode(find(c, "link")), 0120000);
	cr_assert_eq(devsys_repo_change_status_of(find(c, "vendor/sub")), DEVSYS_REPO_CHANGE_MODIFIED, "%s", ours);
	cr_assert_eq(devsys_repo_change_old_mode(find(c, "vendor/sub")), 0160000);
	cr_assert_eq(devsys_repo_change_new_mode(find(c, "vendor/sub")), 0160000);
	cr_assert_eq(devsys_repo_change_status_of(find(c, "vendor/new-sub")), DEVSYS_REPO_CHANGE_ADDED);
	cr_assert_eq(devsys_repo_change_new_mode(find(c, "vendor/new-sub")), 0160000);
	cr_assert_str_eq(devsys_repo_change_status_name(DEVSYS_REPO_CHANGE_TYPECHANGE), "typechange");
	cr_assert_str_eq(devsys_repo_change_status_name(0), "unknown");
	cr_assert_null(devsys_repo_changes_at(c, devsys_repo_changes_count(c)));
	for (size_t i = 1; i < devsys_repo_changes_count(c); i++)
		cr_assert_lt(strcmp(devsys_repo_change_path(devsys_repo_changes_at(c, i - 1)),
		                    devsys_repo_change_path(devsys_repo_changes_at(c, i))),
		             0, "sorted by path");
	free(ours);
	free(theirs);
	devsys_repo_changes_free(c);

	cr_assert_eq(devsys_repo_changed_paths(NULL, r), DEVSYS_EINVAL);
	cr_assert_eq(devsys_repo_changed_paths(&c, NULL), DEVSYS_EINVAL);
	cr_assert_null(c);
	devsys_repo_changes_free(NULL);
	cr_assert_eq(devsys_repo_changes_count(NULL), 0);
	cr_assert_eq(devsys_repo_change_status_of(NULL), 0);
	cr_assert_null(devsys_repo_change_path(NULL));

	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare);
}

/* `git log --first-parent --reverse --format=%H base..head` */
static char *git_log(const char *mirror, const char *base, const char *head)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' log --first-parent --reverse --format=%%H %s..%s", mirror, base,
	         head);
	return gf_out(cmd);
}

/* The paths of commit @p i as "path[<-old]" words, for messages and comparisons. */
static char *paths_of(const devsys_repo_commits *h, size_t i)
{
	static char s[4096];
	const devsys_repo_changes *c = devsys_repo_commits_changes(h, i);
	s[0] = '\0';
	for (size_t k = 0; k < devsys_repo_changes_count(c); k++) {
		const devsys_repo_change *e = devsys_repo_changes_at(c, k);
		size_t n = strlen(s);
		snprintf(s + n, sizeof(s) - n, "%s%s%s%s", n ? " " : "", devsys_repo_change_path(e),
		         devsys_repo_change_old_path(e) ? "<-" : "",
		         devsys_repo_change_old_path(e) ? devsys_repo_change_old_path(e) : "");
	}
	return s;
}

Test(git_diff, changed_paths_by_commit_walk_the_first_parents)
{
	char *bare = gf_make_remote(dir, "proj"), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo_commits *h = NULL;
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "h1");
	devsys_repo *r = NULL;
	o.url = bare;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	const char *co = devsys_repo_checkout_path(r);

	/* head is base: no commit (positive control of the walk's end) */
	cr_assert_eq(devsys_repo_changed_paths_by_commit(&h, r), 0, "%s", gf_err());
	cr_assert_eq(devsys_repo_commits_count(h), 0);
	cr_assert_eq(devsys_repo_commits_touching(h, "README.md", NULL, NULL), 0);
	devsys_repo_commits_free(h);

	/* 1: add a file and edit README; 2: change README back to the base's content and rename
	 * src/main.c; 3: a merge of a side branch (made from base) that adds side.txt */
	gf_git("set -e; cd '%s'; echo one > one.txt; echo extra >> README.md; " GITC " add -A; " GITC " commit -q -m c1; "
	       "git show HEAD~1:README.md > README.md; mkdir -p app; git mv src/main.c app/main.c; " GITC " add -A; "
	       GITC " commit -q -m c2; " GITC " checkout -q -b side HEAD~2; echo side > side.txt; mkdir -p deep/er; "
	       "echo x > deep/er/f.txt; " GITC " add -A; " GITC " commit -q -m side; " GITC " checkout -q -; "
	       GITC " merge -q --no-ff -m merge side",
	       co);
	devsys_repo_free(r);
	r = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	char *want = git_log(devsys_repo_mirror_path(r), devsys_repo_base_sha(r), devsys_repo_head_sha(r));
	cr_assert_eq(devsys_repo_changed_paths_by_commit(&h, r), 0, "%s", gf_err());
	cr_assert_eq(devsys_repo_commits_count(h), 3, "first parents only: the side commit is not listed");
	char got[4096] = "";
	for (size_t i = 0; i < devsys_repo_commits_count(h); i++) {
		size_t n = strlen(got);
		snprintf(got + n, sizeof(got) - n, "%s%s", i ? "\n" : "", devsys_repo_commits_sha(h, i));
	}
	cr_assert_str_eq(got, want, "the same commits as git log --first-parent, oldest first");
	cr_assert_str_eq(paths_of(h, 0), "README.md one.txt");
	cr_assert_str_eq(paths_of(h, 1), "README.md app/main.c<-src/main.c");
	cr_assert_str_eq(paths_of(h, 2), "deep/er/f.txt side.txt", "a merge counts as changing what it brought in");
	cr_assert_null(devsys_repo_commits_sha(h, 3));
	cr_assert_null(devsys_repo_commits_changes(h, 3));

	/* the union: README.md was touched twice although base..head shows no change of it */
	size_t first = 99, last = 99;
	cr_assert_eq(devsys_repo_commits_touching(h, "README.md", &first, &last), 2);
	cr_assert_eq(first, 0);
	cr_assert_eq(last, 1);
	devsys_repo_changes *net = NULL;
	cr_assert_eq(devsys_repo_changed_paths(&net, r), 0, "%s", gf_err());
	for (size_t i = 0; i < devsys_repo_changes_count(net); i++)
		cr_assert_str_neq(devsys_repo_change_path(devsys_repo_changes_at(net, i)), "README.md");
	devsys_repo_changes_free(net);
	cr_assert_eq(devsys_repo_commits_touching(h, "src/main.c", &first, NULL), 1, "a rename's old path counts");
	cr_assert_eq(first, 1);
	cr_assert_eq(devsys_repo_commits_touching(h, "deep/", NULL, NULL), 1, "a folder: anything below it");
	cr_assert_eq(devsys_repo_commits_touching(h, "deep", NULL, NULL), 0, "without '/' it is a file name");
	first = 77;
	cr_assert_eq(devsys_repo_commits_touching(h, ".gitignore", &first, NULL), 0, "never touched");
	cr_assert_eq(first, 77, "left alone when no commit touched it");
	cr_assert_eq(devsys_repo_commits_touching(NULL, "x", NULL, NULL), 0);

	/* what the head commit holds, not what the checkout holds */
	int ex = -1;
	cr_assert_eq(devsys_repo_head_has_path(&ex, r, "app/main.c"), 0, "%s", gf_err());
	cr_assert_eq(ex, 1);
	cr_assert_eq(devsys_repo_head_has_path(&ex, r, "src/main.c"), 0);
	cr_assert_eq(ex, 0, "renamed away");
	cr_assert_eq(devsys_repo_head_has_path(&ex, r, "deep/er/"), 0);
	cr_assert_eq(ex, 1);
	cr_assert_eq(devsys_repo_head_has_path(&ex, r, "one.txt/"), 0);
	cr_assert_eq(ex, 0, "a file is not a folder");
	gf_git("echo local > '%s/uncommitted.txt'", devsys_repo_checkout_path(r));
	cr_assert_eq(devsys_repo_head_has_path(&ex, r, "uncommitted.txt"), 0);
	cr_assert_eq(ex, 0, "an uncommitted file is not at head");
	cr_assert_eq(devsys_repo_head_has_path(NULL, r, "x"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_repo_changed_paths_by_commit(NULL, r), DEVSYS_EINVAL);
	devsys_repo_commits_free(NULL);

	free(want);
	devsys_repo_commits_free(h);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare);
}
