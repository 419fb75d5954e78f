/*
 * The git workspace against bare repositories over file:// and local paths:
 * mirror + worktrees, commits, pushes, protected branches and bad input.
 */
#include "gitfix.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("gitlocal");
}
static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}
TestSuite(git_local, .init = setup, .fini = teardown, .timeout = 120);

static char *file_url(const char *bare)
{
	char *u = NULL;
	cr_assert(asprintf(&u, "file://%s", bare) > 0);
	return u;
}

static devsys_repo *open_ok(devsys_task *t, devsys_repo_options *o)
{
	devsys_repo *r = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, o), 0, "open_task: %s", gf_err());
	cr_assert_not_null(r);
	return r;
}

static char *sh_out(const char *fmtstr, const char *a, const char *b)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), fmtstr, a, b);
	return gf_out(cmd);
}

Test(git_local, first_task_clones_later_tasks_fetch_and_share_one_object_store)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t1 = gf_task(ws, "t1"), *t2 = gf_task(ws, "t2");
	o.url = url;

	devsys_repo *r1 = open_ok(t1, &o);
	char *main1 = sh_out("git -C '%s' rev-parse main%s", bare, "");
	cr_assert_str_eq(devsys_repo_base_sha(r1), main1);
	cr_assert_str_eq(devsys_repo_head_sha(r1), main1);
	cr_assert_str_eq(devsys_repo_branch(r1), "task/t1");
	cr_assert_str_eq(devsys_repo_base_branch(r1), "main");
	cr_assert_str_eq(devsys_repo_remote_default_branch(r1), "main");
	char *head = sh_out("git -C '%s' rev-parse --abbrev-ref HEAD%s", devsys_repo_checkout_path(r1), "");
	cr_assert_str_eq(head, "task/t1");
	cr_assert(strstr(devsys_repo_mirror_path(r1), "/mirrors/") != NULL);
	char *fetch = sh_out("git -C '%s' config --get-all remote.origin.fetch%s", devsys_repo_mirror_path(r1), "");
	cr_assert_str_eq(fetch, "+refs/heads/*:refs/remotes/origin/*", "never a mirror refspec");

	/* The remote moves on; the second task fetches and starts from the new main. */
	gf_git("cd '%s/proj-work' && echo third >> README.md && " GITC " commit -q -am third && git push -q '%s' main",
	       dir, bare);
	devsys_repo *r2 = open_ok(t2, &o);
	char *main2 = sh_out("git -C '%s' rev-parse main%s", bare, "");
	cr_assert_str_neq(main1, main2);
	cr_assert_str_eq(devsys_repo_base_sha(r2), main2);
	cr_assert_str_eq(devsys_repo_mirror_path(r1), devsys_repo_mirror_path(r2));

	/* One object store: the checkouts have a .git file, no objects of their own. */
	char p[4200];
	struct stat st;
	snprintf(p, sizeof(p), "%s/.git", devsys_repo_checkout_path(r2));
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "a worktree's .git is a file pointing into the mirror");
	char *nmirrors = sh_out("ls '%s/mirrors' | grep -c '\\.git$'%s", wsdir, "");
	cr_assert_str_eq(nmirrors, "1");
	/* The two tasks do not share HEAD. */
	char *h2 = sh_out("git -C '%s' rev-parse --abbrev-ref HEAD%s", devsys_repo_checkout_path(r2), "");
	cr_assert_str_eq(h2, "task/t2");

	/* Reopening a task gives the same branch and base, without fetching. */
	char base1[64];
	snprintf(base1, sizeof(base1), "%s", devsys_repo_base_sha(r1));
	devsys_repo_free(r1);
	r1 = open_ok(t1, &o);
	cr_assert_str_eq(devsys_repo_base_sha(r1), base1);
	cr_assert_str_eq(devsys_repo_base_branch(r1), "main");
	cr_assert_str_eq(devsys_repo_branch(r1), "task/t1");

	devsys_repo_free(r1);
	devsys_repo_free(r2);
	devsys_repo_free(NULL);
	devsys_task_free(t1);
	devsys_task_free(t2);
	devsys_workspace_free(ws);
	free(main1); free(main2); free(head); free(fetch); free(nmirrors); free(h2); free(bare); free(url);
}

Test(git_local, fetch_never_overwrites_local_task_branches)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed = 0;
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t1 = gf_task(ws, "t1"), *t2 = gf_task(ws, "t2");
	o.url = url;
	devsys_repo *r1 = open_ok(t1, &o);
	snprintf(wsdir, sizeof(wsdir), "%s/new.txt", devsys_repo_checkout_path(r1));
	dt_write_file(wsdir, "work\n");
	cr_assert_eq(devsys_repo_commit(&committed, r1, "work", NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
	/* Someone creates a branch with the same name on the remote. */
	gf_git("cd '%s/proj-work' && " GITC " checkout -q -b task/t1 && echo x > x && " GITC " add x && " GITC
	       " commit -q -m other && git push -q '%s' task/t1",
	       dir, bare);
	devsys_repo *r2 = open_ok(t2, &o); /* fetches */
	char *local = sh_out("git -C '%s' rev-parse refs/heads/task/t1%s", devsys_repo_mirror_path(r2), "");
	cr_assert_str_eq(local, devsys_repo_head_sha(r1), "a fetch must not touch refs/heads/task/*");
	devsys_repo_free(r1);
	devsys_repo_free(r2);
	devsys_task_free(t1);
	devsys_task_free(t2);
	devsys_workspace_free(ws);
	free(local); free(bare); free(url);
}

Test(git_local, commit_adds_trailers_honours_gitignore_and_reports_nothing_to_commit)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo_commit_options co = DEVSYS_REPO_COMMIT_OPTIONS_INIT;
	int committed = -1;
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "T-7");
	o.url = url;
	o.author_name = "Agent Smith";
	o.author_email = "agent@example.test";
	devsys_repo *r = open_ok(t, &o);
	const char *co_path = devsys_repo_checkout_path(r);
	char before[64];
	snprintf(before, sizeof(before), "%s", devsys_repo_head_sha(r));

	cr_assert_eq(devsys_repo_commit(&committed, r, "nothing", NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 0, "nothing to commit is a distinct, non-fatal result");
	cr_assert_str_eq(devsys_repo_head_sha(r), before);

	snprintf(path, sizeof(path), "%s/feature.c", co_path);
	dt_write_file(path, "int feature;\n");
	snprintf(path, sizeof(path), "%s/build", co_path);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/build/out.o", co_path);
	dt_write_file(path, "ignored\n");
	snprintf(path, sizeof(path), "%s/run.log", co_path);
	dt_write_file(path, "ignored\n");
	snprintf(path, sizeof(path), "%s/specs", co_path);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/specs/t7.yaml", co_path);
	dt_write_file(path, "id: T-7\ntitle: feature\n");
	snprintf(path, sizeof(path), "%s/src/main.c", co_path);
	unlink(path);
	co.spec_path = "specs/t7.yaml";
	cr_assert_eq(devsys_repo_commit(&committed, r, "Add the feature\n\nBody text.\n", &co), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
	cr_assert_str_neq(devsys_repo_head_sha(r), before);

	char *body = sh_out("git -C '%s' log -1 --format=%%B%s", co_path, "");
	cr_assert(strncmp(body, "Add the feature\n\nBody text.\n\n", 28) == 0, "%s", body);
	char *trailers = sh_out("git -C '%s' log -1 --format='%%(trailers:only,unfold)'%s", co_path, "");
	char *blob = sh_out("git hash-object '%s/specs/t7.yaml'%s", co_path, "");
	char want[512];
	snprintf(want, sizeof(want), "Task-Id: T-7\nSpec: specs/t7.yaml sha1:%s", blob);
	cr_assert_str_eq(trailers, want);
	char *author = sh_out("git -C '%s' log -1 --format='%%an <%%ae>'%s", co_path, "");
	cr_assert_str_eq(author, "Agent Smith <agent@example.test>");
	char *files = sh_out("git -C '%s' show --name-status --format= HEAD | sort%s", co_path, "");
	cr_assert_str_eq(files, "A\tfeature.c\nA\tspecs/t7.yaml\nD\tsrc/main.c");
	char *head = sh_out("git -C '%s' rev-parse HEAD%s", co_path, "");
	cr_assert_str_eq(head, devsys_repo_head_sha(r));
	char *status = sh_out("git -C '%s' status --porcelain --untracked-files=all%s", co_path, "");
	cr_assert_str_eq(status, "", "the index and the worktree agree after the commit");

	/* A missing spec file fails before anything is committed. */
	dt_write_file(path, "again\n");
	co.spec_path = "specs/missing.yaml";
	cr_assert_eq(devsys_repo_commit(&committed, r, "x", &co), DEVSYS_ENOTFOUND);
	cr_assert_eq(committed, 0);
	cr_assert_str_eq(devsys_repo_head_sha(r), head);
	cr_assert_eq(devsys_repo_commit(&committed, r, " \n", NULL), DEVSYS_EINVAL);

	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(body); free(trailers); free(blob); free(author); free(files); free(head); free(status); free(bare); free(url);
}

Test(git_local, size_guard_refuses_huge_files_and_stages_nothing)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed = -1;
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "big");
	o.url = url;
	o.max_file_size = 1000;
	devsys_repo *r = open_ok(t, &o);
	snprintf(path, sizeof(path), "%s/small.txt", devsys_repo_checkout_path(r));
	dt_write_file(path, "small\n");
	gf_git("head -c 5000 /dev/zero > '%s/huge.bin'", devsys_repo_checkout_path(r));
	cr_assert_eq(devsys_repo_commit(&committed, r, "big", NULL), DEVSYS_ELIMIT);
	cr_assert_eq(committed, 0);
	cr_assert(strstr(gf_err(), "huge.bin") != NULL, "%s", gf_err());
	char *cached = sh_out("git -C '%s' diff --cached --name-only%s", devsys_repo_checkout_path(r), "");
	cr_assert_str_eq(cached, "", "nothing may stay staged");
	char *head = sh_out("git -C '%s' rev-parse HEAD%s", devsys_repo_checkout_path(r), "");
	cr_assert_str_eq(head, devsys_repo_base_sha(r));
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(cached); free(head); free(bare); free(url);
}

Test(git_local, push_sends_only_the_task_branch)
{
	char *bare = gf_make_remote(dir, "proj"), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed;
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "p1");
	o.url = bare; /* a plain local path works too */
	devsys_repo *r = open_ok(t, &o);
	char *refs_before = sh_out("git -C '%s' for-each-ref --format='%%(refname) %%(objectname)'%s", bare, "");
	snprintf(path, sizeof(path), "%s/a.txt", devsys_repo_checkout_path(r));
	dt_write_file(path, "a\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "a", NULL), 0, "%s", gf_err());
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	char *remote = sh_out("git -C '%s' rev-parse refs/heads/task/p1%s", bare, "");
	cr_assert_str_eq(remote, devsys_repo_head_sha(r));
	char *refs_after = sh_out("git -C '%s' for-each-ref --format='%%(refname) %%(objectname)' | grep -v task/p1%s",
	                          bare, "");
	cr_assert_str_eq(refs_after, refs_before, "only refs/heads/task/p1 may change");
	/* Pushing again with nothing new is fine. */
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	/* The git module writes nothing of the task's record: its caller does. */
	snprintf(path, sizeof(path), "%s/task.json", devsys_task_path(t));
	cr_assert_not(dt_exists(path), "devsys_repo_* must not write task.json");
	snprintf(path, sizeof(path), "%s/events.jsonl", devsys_task_path(t));
	cr_assert_not(dt_exists(path), "devsys_repo_* must not write events.jsonl");
#ifdef DEVSYS_HAVE_MODULE_RECORD
	{
		/* Recorded by the caller from the facts git reports, as the pipeline does. */
		char want[256], *task_json, *events;
		devsys_record *rec = NULL;
		const char *steps[] = { "git.checkout", "git.commit", "git.push" };
		cr_assert_str_eq(devsys_repo_url(r), bare);
		cr_assert_eq(devsys_record_open(&rec, t), 0, "%s", gf_err());
		for (size_t i = 0; i < 3; i++)
			cr_assert_eq(devsys_record_git_step(rec, steps[i], devsys_repo_url(r), devsys_repo_branch(r),
			                                    devsys_repo_base_branch(r), devsys_repo_base_sha(r),
			                                    devsys_repo_head_sha(r)),
			             0, "%s", gf_err());
		cr_assert_eq(devsys_record_git_step(rec, "git.fetch", NULL, "task/p1", NULL, NULL, NULL), DEVSYS_EINVAL);
		devsys_record_free(rec);
		snprintf(path, sizeof(path), "%s/task.json", devsys_task_path(t));
		task_json = dt_read_file(path, NULL);
		cr_assert_not_null(task_json, "the record step must write task.json");
		snprintf(want, sizeof(want), "\"head_sha\": \"%s\"", devsys_repo_head_sha(r));
		cr_assert(strstr(task_json, want), "want %s in %s", want, task_json);
		snprintf(want, sizeof(want), "\"base_sha\": \"%s\"", devsys_repo_base_sha(r));
		cr_assert(strstr(task_json, want), "want %s in %s", want, task_json);
		cr_assert(strstr(task_json, "\"branch\": \"task/p1\""), "%s", task_json);
		snprintf(path, sizeof(path), "%s/events.jsonl", devsys_task_path(t));
		events = dt_read_file(path, NULL);
		cr_assert(events && strstr(events, "git.checkout") && strstr(events, "git.commit") &&
		          strstr(events, "git.push"), "%s", events ? events : "(no events.jsonl)");
		free(task_json);
		free(events);
	}
#endif
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(refs_before); free(refs_after); free(remote); free(bare);
}

static void expect_protected(devsys_workspace *ws, const char *id, devsys_repo_options *o, const char *wsdir)
{
	devsys_task *t = gf_task(ws, id);
	devsys_repo *r = NULL;
	char p[4200];
	cr_assert_eq(devsys_repo_open_task(&r, t, o), DEVSYS_EPROTECTED, "template %s: %s", o->branch_template,
	             gf_err());
	cr_assert_null(r);
	cr_assert(strstr(gf_err(), "protected") != NULL);
	snprintf(p, sizeof(p), "%s/tasks/%s/checkout", wsdir, id);
	cr_assert_not(dt_exists(p), "nothing may be checked out for a refused branch");
	devsys_task_free(t);
}

Test(git_local, every_default_protected_pattern_is_refused_before_any_network_traffic)
{
	char wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	const char *const extra[] = { "prod/*", "hotfix" };
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	/* The URL leads nowhere: a network attempt would fail differently. */
	o.url = "http://127.0.0.1:9/nowhere.git";
	o.protected_branches = extra;
	o.nprotected_branches = 2;
	o.branch_template = "main";
	expect_protected(ws, "a1", &o, wsdir);
	o.branch_template = "master";
	expect_protected(ws, "a2", &o, wsdir);
	o.branch_template = "release/{id}";
	expect_protected(ws, "a3", &o, wsdir);
	o.branch_template = "release/v1/{id}";
	expect_protected(ws, "a4", &o, wsdir);
	o.branch_template = "prod/{id}";
	expect_protected(ws, "a5", &o, wsdir);
	o.branch_template = "hotfix";
	expect_protected(ws, "a6", &o, wsdir);
	char p[4200];
	snprintf(p, sizeof(p), "%s/mirrors", wsdir);
	cr_assert_not(dt_exists(p), "no mirror may be created: nothing touched the network");
	devsys_workspace_free(ws);
}

Test(git_local, the_remote_default_branch_is_protected_at_open_and_at_push)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed;
	/* The remote's default branch is "trunk", not a default pattern. */
	gf_git("git -C '%s' branch trunk main && git -C '%s' symbolic-ref HEAD refs/heads/trunk", bare, bare);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	o.url = url;
	o.branch_template = "trunk";
	expect_protected(ws, "d1", &o, wsdir);
	char *noref = NULL;
	int st = -1;
	noref = dt_sh_output(&st, "git -C '%s'/mirrors/*.git rev-parse --verify -q refs/heads/trunk", wsdir);
	cr_assert_neq(st, 0, "no local branch may be created");
	free(noref);

	/* Mid-task, the remote's default branch becomes the task branch. */
	o.branch_template = "feat/{id}";
	devsys_task *t = gf_task(ws, "d2");
	devsys_repo *r = open_ok(t, &o);
	cr_assert_str_eq(devsys_repo_base_branch(r), "trunk");
	cr_assert_str_eq(devsys_repo_remote_default_branch(r), "trunk");
	snprintf(wsdir, sizeof(wsdir), "%s/f.txt", devsys_repo_checkout_path(r));
	dt_write_file(wsdir, "f\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "f", NULL), 0);
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	char *pushed = sh_out("git -C '%s' rev-parse refs/heads/feat/d2%s", bare, "");
	gf_git("git -C '%s' symbolic-ref HEAD refs/heads/feat/d2", bare);
	dt_write_file(wsdir, "g\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "g", NULL), 0);
	cr_assert_eq(devsys_repo_push(r), DEVSYS_EPROTECTED, "%s", gf_err());
	char *after = sh_out("git -C '%s' rev-parse refs/heads/feat/d2%s", bare, "");
	cr_assert_str_eq(after, pushed, "nothing may be pushed to a protected branch");
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(pushed); free(after); free(bare); free(url);
}

Test(git_local, bad_ref_names_from_template_slug_or_task_id_are_refused)
{
	char wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_buf b = DEVSYS_BUF_INIT;
	const char *bad_slugs[] = { "a..b", "a~1", "a^2", "a:b", "a b", "a\x01", "a\x7f", "a?", "a*", "a[b",
		                    "a\\b", "a@{1}", "x.lock", "x/", "/x", "-x", "a//b", "x.", ".hidden", "a/.b",
		                    "ü" };
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "r1");
	o.url = "http://127.0.0.1:9/nowhere.git";
	o.branch_template = "{slug}";
	for (size_t i = 0; i < sizeof(bad_slugs) / sizeof(bad_slugs[0]); i++) {
		devsys_repo *r = NULL;
		o.slug = bad_slugs[i];
		cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EINVALID, "slug #%zu accepted", i);
		cr_assert_null(r);
		cr_assert(strstr(gf_err(), "not a valid git ref name") != NULL, "%s", gf_err());
		cr_assert_eq(devsys_repo_branch_name(&b, "{slug}", "r1", bad_slugs[i]), DEVSYS_EINVALID);
	}
	/* Control characters are shown escaped in the message. */
	cr_assert_eq(devsys_repo_branch_name(&b, "{slug}", "r1", "a\nb"), DEVSYS_EINVALID);
	cr_assert(strstr(gf_err(), "a\\x0ab") != NULL, "%s", gf_err());
	/* A task id that would make a bad ref. */
	cr_assert_eq(devsys_repo_branch_name(&b, NULL, "bad..id", NULL), DEVSYS_EINVALID);
	cr_assert_eq(devsys_repo_branch_name(&b, NULL, "a:b", NULL), DEVSYS_EINVALID);
	cr_assert_eq(devsys_repo_branch_name(&b, "x/{nope}", "r1", NULL), DEVSYS_EINVALID);
	cr_assert_eq(devsys_repo_branch_name(&b, "", "r1", NULL), DEVSYS_EINVALID);
	/* Good ones. */
	cr_assert_eq(devsys_repo_branch_name(&b, NULL, "r1", NULL), 0);
	cr_assert_str_eq(b.ptr, "task/r1");
	cr_assert_eq(devsys_repo_branch_name(&b, "agent/{id}-{slug}", "42", "fix-login"), 0);
	cr_assert_str_eq(b.ptr, "agent/42-fix-login");
	cr_assert_eq(devsys_repo_branch_name(&b, "d/{date}/{id}", "42", NULL), 0);
	cr_assert_eq(strlen(b.ptr), strlen("d/20261126/42"));
	char p[4200];
	snprintf(p, sizeof(p), "%s/mirrors", wsdir);
	cr_assert_not(dt_exists(p));
	devsys_buf_dispose(&b);
	devsys_task_free(t);
	devsys_workspace_free(ws);
}

Test(git_local, unrelated_remote_history_is_refused_and_diverged_history_needs_operator_force)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed;
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "u1"), *t2 = gf_task(ws, "u2");
	o.url = url;
	devsys_repo *r = open_ok(t, &o);
	/* The remote gets an unrelated task/u1 (an orphan history). */
	gf_git("cd '%s/proj-work' && " GITC " checkout -q --orphan other && " GITC " rm -rqf . && echo o > o && " GITC
	       " add o && " GITC " commit -q -m orphan && git push -q '%s' other:refs/heads/task/u1 && " GITC
	       " checkout -q main",
	       dir, bare);
	char *theirs = sh_out("git -C '%s' rev-parse refs/heads/task/u1%s", bare, "");
	snprintf(path, sizeof(path), "%s/n.txt", devsys_repo_checkout_path(r));
	dt_write_file(path, "n\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "n", NULL), 0);
	cr_assert_eq(devsys_repo_push(r), DEVSYS_ECONFLICT);
	cr_assert(strstr(gf_err(), "unrelated history") != NULL, "%s", gf_err());
	char *still = sh_out("git -C '%s' rev-parse refs/heads/task/u1%s", bare, "");
	cr_assert_str_eq(still, theirs);

	/* Diverged (related) history: refused unless the operator allows force. */
	devsys_repo *r2 = open_ok(t2, &o);
	snprintf(path, sizeof(path), "%s/m.txt", devsys_repo_checkout_path(r2));
	dt_write_file(path, "m\n");
	cr_assert_eq(devsys_repo_commit(&committed, r2, "m", NULL), 0);
	cr_assert_eq(devsys_repo_push(r2), 0, "%s", gf_err());
	gf_git("cd '%s/proj-work' && git fetch -q '%s' task/u2 && " GITC " checkout -q -b u2 FETCH_HEAD && echo z > z && "
	       GITC " add z && " GITC " commit -q -m theirs && git push -q '%s' u2:refs/heads/task/u2 && " GITC " checkout -q main",
	       dir, bare, bare);
	char *remote_u2 = sh_out("git -C '%s' rev-parse refs/heads/task/u2%s", bare, "");
	dt_write_file(path, "m2\n");
	cr_assert_eq(devsys_repo_commit(&committed, r2, "m2", NULL), 0);
	cr_assert_eq(devsys_repo_push(r2), DEVSYS_ECONFLICT);
	cr_assert(strstr(gf_err(), "diverged") != NULL, "%s", gf_err());
	char *same = sh_out("git -C '%s' rev-parse refs/heads/task/u2%s", bare, "");
	cr_assert_str_eq(same, remote_u2);
	devsys_repo_free(r2);
	o.allow_force_push = 1; /* operator setting */
	r2 = open_ok(t2, &o);
	cr_assert_eq(devsys_repo_push(r2), 0, "%s", gf_err());
	char *forced = sh_out("git -C '%s' rev-parse refs/heads/task/u2%s", bare, "");
	cr_assert_str_eq(forced, devsys_repo_head_sha(r2));
	devsys_repo_free(r);
	devsys_repo_free(r2);
	devsys_task_free(t);
	devsys_task_free(t2);
	devsys_workspace_free(ws);
	free(theirs); free(still); free(remote_u2); free(same); free(forced); free(bare); free(url);
}

Test(git_local, a_branch_deleted_on_the_remote_mid_task)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed;
	gf_git("git -C '%s' branch feature main", bare);
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "x1"), *t2 = gf_task(ws, "x2");
	o.url = url;
	o.base_branch = "feature";
	devsys_repo *r = open_ok(t, &o);
	cr_assert_str_eq(devsys_repo_base_branch(r), "feature");
	snprintf(path, sizeof(path), "%s/n.txt", devsys_repo_checkout_path(r));
	dt_write_file(path, "n\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "n", NULL), 0);
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	/* Both the base branch and the pushed task branch disappear. */
	gf_git("git -C '%s' branch -D feature task/x1 >/dev/null", bare);
	dt_write_file(path, "n2\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "n2", NULL), 0);
	cr_assert_eq(devsys_repo_push(r), 0, "pushing a deleted task branch recreates it: %s", gf_err());
	char *remote = sh_out("git -C '%s' rev-parse refs/heads/task/x1%s", bare, "");
	cr_assert_str_eq(remote, devsys_repo_head_sha(r));
	/* A new task on the deleted base branch fails clearly and leaves nothing. */
	devsys_repo *r2 = NULL;
	cr_assert_eq(devsys_repo_open_task(&r2, t2, &o), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "'feature'") != NULL, "%s", gf_err());
	snprintf(path, sizeof(path), "%s/checkout", devsys_task_path(t2));
	cr_assert_not(dt_exists(path));
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_task_free(t2);
	devsys_workspace_free(ws);
	free(remote); free(bare); free(url);
}

Test(git_local, a_symlink_out_of_the_tree_is_refused)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	const char *targets[] = { "../../../../etc", "/etc/passwd", "a/../../..", "../.git/config" };
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	o.url = url;
	/* An in-tree link is fine. */
	gf_git("cd '%s/proj-work' && ln -s src/main.c ok && ln -s ../README.md src/up && " GITC " add ok src/up && " GITC
	       " commit -q -m links && git push -q '%s' main",
	       dir, bare);
	devsys_task *t0 = gf_task(ws, "s0");
	devsys_repo *r0 = open_ok(t0, &o);
	devsys_repo_free(r0);
	devsys_task_free(t0);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char id[16];
		devsys_repo *r = NULL;
		gf_git("cd '%s/proj-work' && rm -f evil && ln -s '%s' evil && " GITC " add evil && " GITC
		       " commit -q -m evil && git push -q '%s' main",
		       dir, targets[i], bare);
		snprintf(id, sizeof(id), "s%zu", i + 1);
		devsys_task *t = gf_task(ws, id);
		cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EPATH, "target %s: %s", targets[i], gf_err());
		cr_assert(strstr(gf_err(), "evil") != NULL, "%s", gf_err());
		snprintf(path, sizeof(path), "%s/checkout", devsys_task_path(t));
		cr_assert_not(dt_exists(path));
		int st = -1;
		char *o2 = dt_sh_output(&st, "git -C '%s'/ws/mirrors/*.git rev-parse --verify -q refs/heads/task/%s", dir, id);
		cr_assert_neq(st, 0, "no task branch may be left");
		free(o2);
		devsys_task_free(t);
	}
	devsys_workspace_free(ws);
	free(bare); free(url);
}

Test(git_local, unreachable_and_missing_remotes_fail_clearly_and_leave_nothing)
{
	char path[4096], url[256];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "n1");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/none.git", dt_free_port());
	o.url = url;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_ENETWORK, "%s", gf_err());
	cr_assert(strstr(gf_err(), url) != NULL, "the message names the URL: %s", gf_err());
	o.url = "file:///nonexistent/devsys/none.git";
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_ENOTFOUND, "%s", gf_err());
	cr_assert_null(r);
	snprintf(path, sizeof(path), "%s/checkout", devsys_task_path(t));
	cr_assert_not(dt_exists(path));
	cr_assert_eq(dt_sh("ls '%s'/ws/mirrors | grep -q '\\.git'", dir), 1, "no half-made mirror may stay (the .lock file may)");
	/* Bad URLs. */
	o.url = "ftp://example/x.git";
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EINVAL);
	o.url = "https://user:SuperSecret123@127.0.0.1/x.git";
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EINVAL);
	cr_assert(strstr(gf_err(), "SuperSecret123") == NULL, "a secret in a URL is never echoed");
	cr_assert(strstr(gf_err(), "user:***@") != NULL, "%s", gf_err());
	o.url = "";
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EINVAL);
	o.url = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EINVAL);
	o.url = "file:///x";
	o.version = 99;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EVERSION);
	cr_assert_eq(devsys_repo_open_task(&r, NULL, &o), DEVSYS_EINVAL);
	cr_assert_eq(devsys_repo_options_init(&o, 0), DEVSYS_EVERSION);
	cr_assert_eq(devsys_repo_options_init(&o, DEVSYS_REPO_OPTIONS_VERSION), 0);
	cr_assert_null(o.url);
	devsys_task_free(t);
	devsys_workspace_free(ws);
}

static int count_progress(const devsys_repo_progress *p, void *payload)
{
	int *seen = payload;
	seen[p->stage]++;
	return 0;
}

Test(git_local, checkout_progress_is_reported)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int seen[4] = { 0 };
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "c1");
	o.url = url;
	o.progress = count_progress;
	o.progress_payload = seen;
	devsys_repo *r = open_ok(t, &o);
	/* A local remote is cloned by copying objects: no transfer to report. */
	cr_assert_gt(seen[DEVSYS_REPO_STAGE_CHECKOUT], 0);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

static int cancel_checkout(const devsys_repo_progress *p, void *payload)
{
	int *calls = payload;
	(*calls)++;
	return p->stage == DEVSYS_REPO_STAGE_CHECKOUT;
}

Test(git_local, checkout_progress_can_cancel)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	int calls = 0;
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "c2");
	o.url = url;
	o.progress = cancel_checkout;
	o.progress_payload = &calls;
	/* libgit2 cannot stop a checkout from its progress: the library fails after it */
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EUSER, "%s", gf_err());
	cr_assert_null(r);
	cr_assert_eq(calls, 1, "the callback is not asked again after it cancelled");
	cr_assert(strstr(gf_err(), "cancelled the checkout") != NULL, "%s", gf_err());
	snprintf(path, sizeof(path), "%s/ws/tasks/c2/checkout", dir);
	cr_assert(!dt_exists(path), "a cancelled checkout leaves nothing behind");
	/* positive control: without the cancel the same task checks out */
	o.progress = NULL;
	r = open_ok(t, &o);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

Test(git_local, user_git_config_and_hooks_are_ignored)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096], home[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	int committed;
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	/* A hostile ~/.gitconfig: rewrites every file:// URL and sets hooks. */
	snprintf(home, sizeof(home), "%s/home", dir);
	gf_git("mkdir -p '%s/hooks' && printf '[url \"file:///nonexistent/\"]\\n\\tinsteadOf = file://\\n"
	       "[core]\\n\\thooksPath = %s/hooks\\n[user]\\n\\tname = Leaked User\\n' > '%s/.gitconfig' && "
	       "printf '#!/bin/sh\\ntouch %s/hook-ran\\n' > '%s/hooks/pre-commit' && chmod +x '%s/hooks/pre-commit' && "
	       "cp '%s/hooks/pre-commit' '%s/hooks/post-checkout'",
	       home, home, home, home, home, home, home, home);
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", home, 1);
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "h1");
	o.url = url;
	devsys_repo *r = open_ok(t, &o);
	/* Hooks inside the mirror are not run either. */
	gf_git("mkdir -p '%s/hooks' && cp '%s/hooks/pre-commit' '%s/hooks/pre-commit'", devsys_repo_mirror_path(r), home,
	       devsys_repo_mirror_path(r));
	snprintf(path, sizeof(path), "%s/h.txt", devsys_repo_checkout_path(r));
	dt_write_file(path, "h\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "h", NULL), 0, "%s", gf_err());
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	snprintf(path, sizeof(path), "%s/hook-ran", home);
	cr_assert_not(dt_exists(path), "a hook ran");
	char *author = sh_out("git -C '%s' log -1 --format=%%an%s", devsys_repo_checkout_path(r), "");
	cr_assert_str_eq(author, "devsys");
	if (old_home)
		setenv("HOME", old_home, 1);
	unsetenv("XDG_CONFIG_HOME");
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(old_home); free(author); free(bare); free(url);
}

typedef struct {
	devsys_workspace *ws;
	const char *url;
	char id[16];
	int rc;
	char sha[64];
} conc_arg;

static void *conc_thread(void *p)
{
	conc_arg *a = p;
	devsys_task *t = NULL;
	devsys_repo *r = NULL;
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	o.url = a->url;
	a->rc = devsys_task_open(&t, a->ws, a->id, DEVSYS_TASK_CREATE);
	if (a->rc == 0)
		a->rc = devsys_repo_open_task(&r, t, &o);
	if (a->rc == 0)
		snprintf(a->sha, sizeof(a->sha), "%s", devsys_repo_base_sha(r));
	devsys_repo_free(r);
	devsys_task_free(t);
	return NULL;
}

Test(git_local, concurrent_tasks_on_one_mirror_are_safe)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	conc_arg args[6];
	pthread_t th[6];
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	for (int i = 0; i < 6; i++) {
		args[i].ws = ws;
		args[i].url = url;
		snprintf(args[i].id, sizeof(args[i].id), "c%d", i);
		pthread_create(&th[i], NULL, conc_thread, &args[i]);
	}
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	char *main_sha = sh_out("git -C '%s' rev-parse main%s", bare, "");
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(args[i].rc, 0, "task %d failed", i);
		cr_assert_str_eq(args[i].sha, main_sha);
	}
	char *list = sh_out("ls '%s/ws/mirrors'%s", dir, "");
	cr_assert(strstr(list, ".tmp-") == NULL, "%s", list);
	char *wts = sh_out("git -C '%s'/ws/mirrors/*.git worktree list | wc -l%s", dir, "");
	cr_assert_str_eq(wts, "7", "the mirror + 6 worktrees");
	devsys_workspace_free(ws);
	free(main_sha); free(list); free(wts); free(bare); free(url);
}

/* Prime the mirror with one task so a failing second task fails in checkout. */
static devsys_workspace *primed(const char *bare_url, char *wsdir, size_t n)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	snprintf(wsdir, n, "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "prime");
	o.url = bare_url;
	devsys_repo *r = open_ok(t, &o);
	devsys_repo_free(r);
	devsys_task_free(t);
	return ws;
}

static void assert_nothing_left(devsys_task *t, const char *wsdir, const char *id)
{
	char p[4200];
	int st = -1;
	snprintf(p, sizeof(p), "%s/checkout", devsys_task_path(t));
	cr_assert_not(dt_exists(p), "no half-written checkout may stay");
	char *o = dt_sh_output(&st, "git -C '%s'/mirrors/*.git rev-parse --verify -q refs/heads/task/%s", wsdir, id);
	cr_assert_neq(st, 0, "no task branch may stay");
	free(o);
	snprintf(p, sizeof(p), "%s/mirrors", wsdir);
	cr_assert_eq(dt_sh("ls -d '%s'/*.git/worktrees/%s 2>/dev/null | grep -q .", p, id), 1, "no worktree entry may stay");
}

Test(git_local, disk_full_during_checkout_leaves_no_half_written_task)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), wsdir[4096];
	devsys_repo *r = NULL;
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	gf_git("cd '%s/proj-work' && head -c 3000000 /dev/urandom > big.bin && " GITC " add big.bin && " GITC
	       " commit -q -m big && git push -q '%s' main",
	       dir, bare);
	devsys_workspace *ws = primed(url, wsdir, sizeof(wsdir));
	devsys_task *t = gf_task(ws, "full");
	if (mount("tmpfs", devsys_task_path(t), "tmpfs", 0, "size=1m") != 0)
		dt_skip("cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): %s", strerror(errno));
	o.url = url;
	int rc = devsys_repo_open_task(&r, t, &o);
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", gf_err());
	umount2(devsys_task_path(t), MNT_DETACH);
	cr_assert_eq(rc, DEVSYS_ENOSPC, "%s", msg);
	cr_assert_null(r);
	cr_assert(strstr(msg, "space") != NULL, "%s", msg);
	assert_nothing_left(t, wsdir, "full");
	/* The mirror still works: the task can be set up once there is room. */
	r = open_ok(t, &o);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

Test(git_local, permission_failure_during_checkout_is_clear)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), wsdir[4096];
	devsys_repo *r = NULL;
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_workspace *ws = primed(url, wsdir, sizeof(wsdir));
	devsys_task *t = gf_task(ws, "ro");
	if (mount(devsys_task_path(t), devsys_task_path(t), NULL, MS_BIND, NULL) != 0)
		dt_skip("cannot bind-mount (needs root / CAP_SYS_ADMIN): %s", strerror(errno));
	if (mount(NULL, devsys_task_path(t), NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0) {
		umount2(devsys_task_path(t), MNT_DETACH);
		dt_skip("cannot remount read-only: %s", strerror(errno));
	}
	o.url = url;
	int rc = devsys_repo_open_task(&r, t, &o);
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", gf_err());
	umount2(devsys_task_path(t), MNT_DETACH);
	cr_assert_eq(rc, DEVSYS_EACCESS, "%s", msg);
	cr_assert(strstr(msg, devsys_task_path(t)) != NULL, "the message names the path: %s", msg);
	assert_nothing_left(t, wsdir, "ro");
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

Test(git_local, submodules_are_followed_only_when_asked_and_checked_too)
{
	char *bare = gf_make_remote(dir, "proj"), *sub = gf_make_remote(dir, "sub"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	gf_git("cd '%s/proj-work' && " GITC " submodule -q add 'file://%s' lib/sub && " GITC " commit -q -m sub && "
	       "git push -q '%s' main",
	       dir, sub, bare);
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t1 = gf_task(ws, "m1"), *t2 = gf_task(ws, "m2"), *t3 = gf_task(ws, "m3");
	o.url = url;
	devsys_repo *r = open_ok(t1, &o);
	snprintf(path, sizeof(path), "%s/lib/sub/README.md", devsys_repo_checkout_path(r));
	cr_assert_not(dt_exists(path), "submodules are not followed by default");
	devsys_repo_free(r);
	o.follow_submodules = 1;
	r = open_ok(t2, &o);
	snprintf(path, sizeof(path), "%s/lib/sub/README.md", devsys_repo_checkout_path(r));
	cr_assert(dt_exists(path), "asked: the submodule is checked out");
	devsys_repo_free(r);
	/* A submodule whose tree escapes the checkout is refused like the main tree. */
	gf_git("cd '%s/sub-work' && ln -s ../../../../../etc evil && " GITC " add evil && " GITC " commit -q -m evil && "
	       "git push -q '%s' main && cd '%s/proj-work/lib/sub' && git pull -q origin main && cd ../.. && " GITC
	       " commit -q -am bump && git push -q '%s' main",
	       dir, sub, dir, bare);
	devsys_repo *r3 = NULL;
	cr_assert_eq(devsys_repo_open_task(&r3, t3, &o), DEVSYS_EPATH, "%s", gf_err());
	cr_assert(strstr(gf_err(), "evil") != NULL, "%s", gf_err());
	snprintf(path, sizeof(path), "%s/checkout", devsys_task_path(t3));
	cr_assert_not(dt_exists(path), "nothing may be left of a refused task");
	devsys_task_free(t1);
	devsys_task_free(t2);
	devsys_task_free(t3);
	devsys_workspace_free(ws);
	free(bare); free(sub); free(url);
}

/* How much of task @p id is on disk: 1 checkout dir, 2 worktree entry, 4 task branch. */
static int task_traces(devsys_task *t, const char *wsdir, const char *id)
{
	char p[4200];
	int st = -1, mask = 0;
	snprintf(p, sizeof(p), "%s/checkout", devsys_task_path(t));
	mask |= dt_exists(p) ? 1 : 0;
	snprintf(p, sizeof(p), "%s/mirrors", wsdir);
	mask |= dt_sh("ls -d '%s'/*.git/worktrees/%s 2>/dev/null | grep -q .", p, id) == 0 ? 2 : 0;
	char *o = dt_sh_output(&st, "git -C '%s'/mirrors/*.git rev-parse --verify -q refs/heads/task/%s", wsdir, id);
	free(o);
	mask |= st == 0 ? 4 : 0;
	return mask;
}

/*
 * repo.h promises that a failed devsys_repo_open_task() leaves nothing of
 * the task: checked for failures that come AFTER the task branch was created
 * and the worktree added (a submodule whose tree escapes the checkout, and a
 * progress callback that cancels the checkout), not only for early refusals.
 */
Test(git_local, a_failure_after_the_branch_and_worktree_were_made_leaves_nothing)
{
	char *bare = gf_make_remote(dir, "proj"), *sub = gf_make_remote(dir, "sub"), *url = file_url(bare);
	char wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	int calls = 0;
	gf_git("cd '%s/sub-work' && ln -s ../../../../../etc evil && " GITC " add evil && " GITC " commit -q -m evil && "
	       "git push -q '%s' main && cd '%s/proj-work' && " GITC " submodule -q add 'file://%s' lib/sub && " GITC
	       " commit -q -m sub && git push -q '%s' main",
	       dir, sub, dir, sub, bare);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *ok = gf_task(ws, "after0"), *t1 = gf_task(ws, "after1"), *t2 = gf_task(ws, "after2");
	o.url = url;
	/* positive control: an open that succeeds leaves all three, so the probe sees them */
	r = open_ok(ok, &o);
	cr_assert_eq(task_traces(ok, wsdir, "after0"), 7, "the probe must see checkout, worktree entry and branch");
	devsys_repo_free(r);
	/* the submodule is checked after the worktree is added */
	o.follow_submodules = 1;
	cr_assert_eq(devsys_repo_open_task(&r, t1, &o), DEVSYS_EPATH, "%s", gf_err());
	cr_assert_null(r);
	cr_assert(strstr(gf_err(), "evil") != NULL, "%s", gf_err());
	cr_assert_eq(task_traces(t1, wsdir, "after1"), 0, "mask of what stayed: 1 checkout, 2 worktree, 4 branch");
	/* the cancel is acted on after libgit2 wrote the worktree */
	o.follow_submodules = 0;
	o.progress = cancel_checkout;
	o.progress_payload = &calls;
	cr_assert_eq(devsys_repo_open_task(&r, t2, &o), DEVSYS_EUSER, "%s", gf_err());
	cr_assert_null(r);
	cr_assert_eq(task_traces(t2, wsdir, "after2"), 0, "mask of what stayed: 1 checkout, 2 worktree, 4 branch");
	/* and the same task can be set up afterwards */
	o.progress = NULL;
	r = open_ok(t2, &o);
	cr_assert_eq(task_traces(t2, wsdir, "after2"), 7);
	devsys_repo_free(r);
	devsys_task_free(ok);
	devsys_task_free(t1);
	devsys_task_free(t2);
	devsys_workspace_free(ws);
	free(bare); free(sub); free(url);
}

typedef struct {
	devsys_task *task;
	const char *url;
	int rc;
	char sha[64];
} same_arg;

static void *same_thread(void *p)
{
	same_arg *a = p;
	devsys_repo *r = NULL;
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	o.url = a->url;
	a->rc = devsys_repo_open_task(&r, a->task, &o);
	if (a->rc == 0)
		snprintf(a->sha, sizeof(a->sha), "%s", devsys_repo_base_sha(r));
	devsys_repo_free(r);
	return NULL;
}

Test(git_local, the_same_task_opened_twice_at_once_is_set_up_once)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	same_arg a[4];
	pthread_t th[4];
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "twice");
	for (int i = 0; i < 4; i++) {
		a[i].task = t;
		a[i].url = url;
		pthread_create(&th[i], NULL, same_thread, &a[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(a[i].rc, 0, "opener %d failed", i);
		cr_assert_str_eq(a[i].sha, a[0].sha);
	}
	snprintf(path, sizeof(path), "%s/checkout/README.md", devsys_task_path(t));
	cr_assert(dt_exists(path), "the checkout survived the concurrent openers");
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

/*
 * A process killed inside git_worktree_add, after it made worktrees/<id> and before it wrote
 * the entry's gitdir, leaves an entry no lookup reads and no checkout. The next open removes
 * it and checks out; nothing outside that entry is touched (another task's entry, a file a
 * planted link points at).
 */
Test(git_local, a_worktree_entry_left_half_made_by_a_kill_is_removed_before_checkout)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), wsdir[4096], p[4200];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_workspace *ws = primed(url, wsdir, sizeof(wsdir));
	devsys_task *t = gf_task(ws, "killed");
	o.url = url;
	snprintf(p, sizeof(p), "%s/canary", dir);
	cr_assert(dt_write_file(p, "keep me\n"));
	cr_assert_eq(dt_sh("cd '%s'/mirrors/*.git/worktrees && mkdir -p killed/logs && echo ref > killed/logs/HEAD && "
	                   "ln -s '%s' killed/link",
	                   wsdir, p),
	             0);
	/* the planted entry is there and is not a worktree git can read (no gitdir) */
	cr_assert_eq(dt_sh("test -d \"$(ls -d '%s'/mirrors/*.git)/worktrees/killed/logs\"", wsdir), 0);
	cr_assert_eq(dt_sh("git -C '%s'/mirrors/*.git worktree list | grep -q '/killed/checkout'", wsdir), 1);
	devsys_repo *r = open_ok(t, &o);
	snprintf(p, sizeof(p), "%s/checkout/README.md", devsys_task_path(t));
	cr_assert(dt_exists(p), "the task was checked out over the half-made entry");
	cr_assert_eq(dt_sh("git -C '%s'/mirrors/*.git worktree list | grep -q '/killed/checkout'", wsdir), 0,
	             "the task's worktree entry is a whole one now");
	cr_assert_eq(dt_sh("test ! -e \"$(ls -d '%s'/mirrors/*.git)/worktrees/killed/logs\"", wsdir), 0,
	             "the planted files went with the entry");
	cr_assert_eq(dt_sh("git -C '%s'/mirrors/*.git worktree list | grep -q '/prime/checkout'", wsdir), 0,
	             "another task's worktree entry stays");
	snprintf(p, sizeof(p), "%s/canary", dir);
	cr_assert(dt_exists(p), "the file the planted link pointed at stays");
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

/*
 * A process killed mid-clone leaves <mirror>.tmp-<pid>; the next clone of
 * that mirror (under its lock) removes every such dir. Another mirror's is
 * not touched, nor is a name that only starts like one.
 */
Test(git_local, a_clone_a_kill_left_behind_is_removed_by_the_next_clone)
{
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), wsdir[4096], p[4200];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	char *hash = sh_out("printf %%s '%s' | git hash-object --stdin%s", url, "");
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "after-kill");
	cr_assert_eq(strlen(hash), 40, "%s", hash);
	cr_assert_eq(dt_sh("cd '%s' && mkdir -p mirrors/%s.git.tmp-4242/objects/pack mirrors/%s.git.tmp-77 "
	                   "mirrors/%040d.git.tmp-4242 mirrors/%s.gitx.tmp-1 && "
	                   "head -c 100000 /dev/zero > mirrors/%s.git.tmp-4242/objects/pack/half.pack",
	                   wsdir, hash, hash, 0, hash, hash),
	             0);
	o.url = url;
	devsys_repo *r = open_ok(t, &o);
	snprintf(p, sizeof(p), "%s/checkout/README.md", devsys_task_path(t));
	cr_assert(dt_exists(p), "the clone went ahead");
	cr_assert_eq(dt_sh("ls '%s/mirrors' | grep -q '^%s\\.git\\.tmp-'", wsdir, hash), 1,
	             "a dir a killed clone of this mirror left stays");
	snprintf(p, sizeof(p), "%s/mirrors/%040d.git.tmp-4242", wsdir, 0);
	cr_assert(dt_exists(p), "another mirror's leftover is not this clone's to remove");
	snprintf(p, sizeof(p), "%s/mirrors/%s.gitx.tmp-1", wsdir, hash);
	cr_assert(dt_exists(p), "a name that only starts like the mirror's is not removed");
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(hash); free(bare); free(url);
}

/* devsys_repo_content_id is what `git hash-object` prints, for any bytes. */
Test(git_local, content_id_matches_git_hash_object)
{
	struct {
		const char *label;
		size_t len;
	} inputs[] = { { "empty", 0 }, { "text", 6 }, { "binary with NUL bytes", 300 }, { "one MiB", 1u << 20 },
	                /* around SHA-1's 64-byte blocks, with the "blob <n>\0" header in front */
	                { "block edge 44", 44 }, { "block edge 45", 45 }, { "block edge 55", 55 },
	                { "block edge 56", 56 }, { "block edge 64", 64 }, { "block edge 119", 119 } };
	devsys_buf id = DEVSYS_BUF_INIT;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = inputs[i].len;
		char *data = malloc(len + 1), path[4096];
		for (size_t k = 0; k < len; k++)
			data[k] = i == 1 ? "hello\n"[k] : (char)(k * 7 + i);
		snprintf(path, sizeof(path), "%s/blob-%zu", dir, i);
		FILE *f = fopen(path, "wb");
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(data, 1, len, f), len);
		cr_assert_eq(fclose(f), 0);
		char *want = sh_out("git hash-object '%s'%s", path, "");
		cr_assert_eq(strlen(want), 40, "git hash-object: '%s'", want);
		/* the buffer is replaced, not appended to: the previous id is gone */
		cr_assert_eq(devsys_repo_content_id(&id, len ? data : NULL, len), 0, "%s: %s", inputs[i].label, gf_err());
		cr_assert_eq(id.size, 5 + 40);
		cr_assert(strncmp(id.ptr, "sha1:", 5) == 0, "%s", id.ptr);
		cr_assert_str_eq(id.ptr + 5, want, "%s: devsys %s, git %s", inputs[i].label, id.ptr + 5, want);
		free(want);
		free(data);
	}
	devsys_buf_dispose(&id);

	/* bad input: a length without data, no output buffer; the buffer is left alone */
	devsys_buf keep = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_buf_puts(&keep, "untouched"), 0);
	cr_assert_eq(devsys_repo_content_id(&keep, NULL, 5), DEVSYS_EINVAL);
	cr_assert(strstr(gf_err(), "data is NULL"), "%s", gf_err());
	cr_assert_str_eq(keep.ptr, "untouched");
	cr_assert_eq(devsys_repo_content_id(NULL, "x", 1), DEVSYS_EINVAL);
	devsys_buf_dispose(&keep);
}

Test(git_local, commit_options_init_gives_the_defaults_of_the_version)
{
	/* the struct sits in a larger, poisoned block: init writes exactly its own bytes */
	union {
		devsys_repo_commit_options o;
		unsigned char raw[sizeof(devsys_repo_commit_options) + 32];
	} u;
	const devsys_repo_commit_options init = DEVSYS_REPO_COMMIT_OPTIONS_INIT;
	memset(&u, 0xA5, sizeof(u));
	cr_assert_eq(devsys_repo_commit_options_init(&u.o, DEVSYS_REPO_COMMIT_OPTIONS_VERSION), 0);
	cr_assert_eq(u.o.version, DEVSYS_REPO_COMMIT_OPTIONS_VERSION);
	cr_assert_null(u.o.spec_path);
	cr_assert_null(u.o.spec_file);
	cr_assert_eq(u.o.version, init.version);
	for (size_t i = sizeof(devsys_repo_commit_options); i < sizeof(u.raw); i++)
		cr_assert_eq(u.raw[i], 0xA5, "byte %zu after the struct was written", i);

	/* unknown versions and NULL are refused, and the struct is left as it was */
	memset(&u, 0xA5, sizeof(u));
	cr_assert_eq(devsys_repo_commit_options_init(&u.o, 0), DEVSYS_EVERSION);
	cr_assert(strstr(gf_err(), "version 0"), "%s", gf_err());
	cr_assert_eq(devsys_repo_commit_options_init(&u.o, DEVSYS_REPO_COMMIT_OPTIONS_VERSION + 1), DEVSYS_EVERSION);
	cr_assert_eq(u.raw[0], 0xA5, "a refused init wrote the struct");
	cr_assert_eq(devsys_repo_commit_options_init(NULL, DEVSYS_REPO_COMMIT_OPTIONS_VERSION), DEVSYS_EINVAL);

	/* the initialised options work: a commit with them has no Spec: trailer */
	char *bare = gf_make_remote(dir, "proj"), *url = file_url(bare), path[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo_commit_options co;
	int committed = -1;
	cr_assert_eq(devsys_repo_commit_options_init(&co, DEVSYS_REPO_COMMIT_OPTIONS_VERSION), 0);
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "T-8");
	o.url = url;
	o.author_name = "Agent";
	o.author_email = "agent@example.test";
	devsys_repo *r = open_ok(t, &o);
	snprintf(path, sizeof(path), "%s/new.txt", devsys_repo_checkout_path(r));
	cr_assert(dt_write_file(path, "new\n"));
	cr_assert_eq(devsys_repo_commit(&committed, r, "Add new.txt", &co), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
	char *trailers = sh_out("git -C '%s' log -1 --format='%%(trailers:only,unfold)'%s", devsys_repo_checkout_path(r), "");
	cr_assert_str_eq(trailers, "Task-Id: T-8");
	free(trailers);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare);
	free(url);
}

/* The default credential provider: token, key files, agent, in that order, once each. */
Test(git_local, default_credentials_offer_token_keys_or_agent_once)
{
	devsys_repo_credential c;
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	const unsigned all = DEVSYS_REPO_CRED_USERPASS | DEVSYS_REPO_CRED_SSH_KEY | DEVSYS_REPO_CRED_SSH_AGENT;
	unsetenv("GITHUB_TOKEN");
	unsetenv("SSH_AUTH_SOCK");

	/* nothing to offer: pass (1), so the chain goes on and ends in DEVSYS_EAUTH */
	cr_assert_eq(devsys_repo_default_credentials(&c, "https://example.test/r.git", NULL, all, 1, &o), 1);

	/* a token, as HTTP basic x-access-token; the strings are borrowed, not copied */
	cr_assert_eq(setenv("GITHUB_TOKEN", "ghp_testtoken123", 1), 0);
	memset(&c, 0x5A, sizeof(c));
	cr_assert_eq(devsys_repo_default_credentials(&c, "https://example.test/r.git", NULL, all, 1, &o), 0);
	cr_assert_eq(c.type, DEVSYS_REPO_CRED_USERPASS);
	cr_assert_str_eq(c.username, "x-access-token");
	cr_assert_eq(c.secret, getenv("GITHUB_TOKEN"), "the secret must be the environment's own string");
	cr_assert_null(c.ssh_private_key, "unused fields are cleared");
	/* a refused token is not offered again: no retry loop */
	cr_assert_eq(devsys_repo_default_credentials(&c, "https://example.test/r.git", NULL, all, 2, &o), 1);
	/* an empty token is no token */
	cr_assert_eq(setenv("GITHUB_TOKEN", "", 1), 0);
	cr_assert_eq(devsys_repo_default_credentials(&c, "https://example.test/r.git", NULL, DEVSYS_REPO_CRED_USERPASS, 1,
	                                             &o),
	             1);
	/* the token is offered only where the server takes basic auth */
	cr_assert_eq(setenv("GITHUB_TOKEN", "ghp_testtoken123", 1), 0);
	cr_assert_eq(devsys_repo_default_credentials(&c, "ssh://git@example.test/r.git", "git", DEVSYS_REPO_CRED_SSH_KEY, 1,
	                                             &o),
	             1, "no key, no agent: nothing for ssh");

	/* ssh: the options' key files, for the user in the URL */
	o.ssh_private_key = "/keys/id_ed25519";
	o.ssh_public_key = "/keys/id_ed25519.pub";
	o.ssh_passphrase = "pass phrase";
	cr_assert_eq(devsys_repo_default_credentials(&c, "ssh://git@example.test/r.git", "git",
	                                             DEVSYS_REPO_CRED_SSH_KEY | DEVSYS_REPO_CRED_SSH_AGENT, 1, &o),
	             0);
	cr_assert_eq(c.type, DEVSYS_REPO_CRED_SSH_KEY);
	cr_assert_str_eq(c.username, "git");
	cr_assert_eq(c.ssh_private_key, o.ssh_private_key);
	cr_assert_eq(c.ssh_public_key, o.ssh_public_key);
	cr_assert_eq(c.ssh_passphrase, o.ssh_passphrase);
	cr_assert_null(c.secret, "no token goes to an ssh server");

	/* without key files: the agent, when there is one */
	o.ssh_private_key = NULL;
	cr_assert_eq(devsys_repo_default_credentials(&c, "ssh://git@example.test/r.git", "git",
	                                             DEVSYS_REPO_CRED_SSH_KEY | DEVSYS_REPO_CRED_SSH_AGENT, 1, &o),
	             1);
	cr_assert_eq(setenv("SSH_AUTH_SOCK", "/tmp/agent.sock", 1), 0);
	cr_assert_eq(devsys_repo_default_credentials(&c, "ssh://git@example.test/r.git", "git",
	                                             DEVSYS_REPO_CRED_SSH_KEY | DEVSYS_REPO_CRED_SSH_AGENT, 1, NULL),
	             0, "a NULL payload (no options) still finds the agent");
	cr_assert_eq(c.type, DEVSYS_REPO_CRED_SSH_AGENT);
	cr_assert_str_eq(c.username, "git");

	/* bad input: no output struct is a pass, not a crash */
	cr_assert_eq(devsys_repo_default_credentials(NULL, "https://example.test/r.git", NULL, all, 1, &o), 1);
	unsetenv("GITHUB_TOKEN");
	unsetenv("SSH_AUTH_SOCK");
}
