/*
 * spec-kit status against real git repositories made by the tests: the
 * phantom-completion check finds a planted phantom; green is decided by
 * state name and reports/latest; sync ticks only the lines of green tasks,
 * byte for byte (BOM, CRLF, fences kept), commits and pushes them on the
 * feature branch.
 */
#include "../git/gitfix.h"

#include <sys/stat.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
	dir = dt_tmpdir("speckit-repo");
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(speckit_repo, .init = setup, .fini = teardown, .timeout = 120);

static void put(const char *base, const char *rel, const char *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	cr_assert_eq(dt_sh("mkdir -p \"$(dirname '%s')\"", path), 0);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* A workspace, a task "001-photo-albums" whose branch is the feature branch, and its checkout. */
static devsys_repo *feature_repo(devsys_workspace **ws_out, devsys_task **task_out)
{
	char *bare = gf_make_remote(dir, "proj"), path[4096];
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "001-photo-albums");
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	o.url = bare;
	o.branch_template = "{id}";
	devsys_repo *r = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_repo_branch(r), "001-photo-albums");
	free(bare);
	*ws_out = ws;
	*task_out = t;
	return r;
}

static const char phantom_tasks[] = "# Tasks: Albums\n\n## Phase 1: Setup\n\n"
                                    "- [X] T001 Create the album module in src/albums.c\n"
                                    "- [x] T002 [P] Add the album header in src/albums.h\n"
                                    "- [X] T003 [P] Update the readme in README.md\n"
                                    "- [ ] T004 Write the share module in src/share.c\n";

Test(speckit_repo, the_phantom_check_finds_the_planted_phantoms)
{
	devsys_workspace *ws;
	devsys_task *t;
	devsys_repo *r = feature_repo(&ws, &t);
	const char *co = devsys_repo_checkout_path(r);
	put(co, "specs/001-photo-albums/tasks.md", phantom_tasks, strlen(phantom_tasks));
	put(co, "src/albums.c", "int albums;\n", 12); /* T001's work is real */
	/* T002's header never written (missing); T003's README.md exists since the base, untouched */
	int committed = 0;
	cr_assert_eq(devsys_repo_commit(&committed, r, "albums", NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);

	char fdir[4096];
	snprintf(fdir, sizeof(fdir), "%s/specs/001-photo-albums", co);
	devsys_speckit_feature *f = NULL;
	cr_assert_eq(devsys_speckit_feature_load(&f, fdir, co), 0, "%s", gf_err());
	devsys_speckit_findings *res = NULL;
	cr_assert_eq(devsys_speckit_findings_new(&res), 0);
	cr_assert_eq(devsys_speckit_check_phantoms(res, f, r), 0, "%s", gf_err());
	devsys_buf b = DEVSYS_BUF_INIT;
	devsys_speckit_findings_to_text(&b, res);
	cr_assert_eq(devsys_speckit_findings_count(res), 2, "%s", b.ptr);
	devsys_speckit_severity sev;
	unsigned line;
	const char *msg;
	cr_assert_str_eq(devsys_speckit_finding_at(res, 0, &sev, NULL, &line, &msg), "SK015");
	cr_assert_eq(line, 6);
	cr_assert_eq(sev, DEVSYS_SPECKIT_WARNING);
	cr_assert_not_null(strstr(msg, "T002 is marked done but 'src/albums.h' does not exist"), "%s", msg);
	cr_assert_str_eq(devsys_speckit_finding_at(res, 1, NULL, NULL, &line, &msg), "SK015");
	cr_assert_eq(line, 7);
	cr_assert_not_null(strstr(msg, "T003 is marked done but 'README.md' was not changed by any of the 1 commit(s) on "
	                               "branch '001-photo-albums'"),
	                   "%s", msg);
	/* positive control: once T003's file changes on the branch and T002's exists, nothing is left */
	put(co, "src/albums.h", "extern int albums;\n", 19);
	cr_assert_eq(dt_sh("echo albums >> '%s/README.md'", co), 0);
	cr_assert_eq(devsys_repo_commit(&committed, r, "the rest", NULL), 0, "%s", gf_err());
	devsys_speckit_findings_free(res);
	cr_assert_eq(devsys_speckit_findings_new(&res), 0);
	cr_assert_eq(devsys_speckit_check_phantoms(res, f, r), 0);
	cr_assert_eq(devsys_speckit_findings_count(res), 0);
	devsys_buf_dispose(&b);
	devsys_speckit_findings_free(res);
	devsys_speckit_feature_free(f);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
}

/*
 * Over every commit: the history of the feature branch, not only base..head.
 * c1 adds src/albums.c and src/gone.c and edits README.md; c2 puts README.md
 * back to its base content and deletes src/gone.c; notes.md is left in the
 * checkout uncommitted.
 */
static const char history_tasks[] = "# Tasks: Albums\n\n## Phase 1: Setup\n\n"
                                    "- [X] T001 Create the album module in src/albums.c\n"
                                    "- [X] T002 Reword the readme in README.md\n"
                                    "- [X] T003 Tidy the entry point in src/main.c\n"
                                    "- [X] T004 Add the album header in src/albums.h\n"
                                    "- [X] T005 Write the notes in notes.md\n"
                                    "- [X] T006 Add a helper in src/gone.c\n"
                                    "- [ ] T007 Write the share module in src/share.c\n"
                                    "- [X] T008 Lay out the module folder `src/`\n";

static devsys_speckit_findings *phantoms(devsys_speckit_feature *f, devsys_repo *r, const char *const *ids, size_t n)
{
	devsys_speckit_findings *res = NULL;
	cr_assert_eq(devsys_speckit_findings_new(&res), 0);
	cr_assert_eq(devsys_speckit_check_phantoms_ids(res, f, r, ids, n), 0, "%s", gf_err());
	return res;
}

/* Finding @p i must be rule SK015 at tasks.md line @p line with @p sev and a message containing @p want. */
static void finding_is(const devsys_speckit_findings *res, size_t i, unsigned want_line, devsys_speckit_severity want_sev,
                       const char *want)
{
	devsys_speckit_severity sev;
	unsigned line;
	const char *msg, *file;
	cr_assert_str_eq(devsys_speckit_finding_at(res, i, &sev, &file, &line, &msg), "SK015");
	cr_assert_eq(line, want_line, "finding %zu: %s", i, msg);
	cr_assert_eq(sev, want_sev, "finding %zu: %s", i, msg);
	cr_assert_not_null(strstr(file, "tasks.md"), "%s", file);
	cr_assert_not_null(strstr(msg, want), "finding %zu: '%s' lacks '%s'", i, msg, want);
}

Test(speckit_repo, the_phantom_check_reads_every_commit_of_the_branch)
{
	devsys_workspace *ws;
	devsys_task *t;
	devsys_repo *r = feature_repo(&ws, &t);
	const char *co = devsys_repo_checkout_path(r);
	int committed = 0;
	put(co, "specs/001-photo-albums/tasks.md", history_tasks, strlen(history_tasks));
	put(co, "src/albums.c", "int albums;\n", 12);
	put(co, "src/gone.c", "int gone;\n", 10);
	cr_assert_eq(dt_sh("echo reworded >> '%s/README.md'", co), 0);
	cr_assert_eq(devsys_repo_commit(&committed, r, "c1", NULL), 0, "%s", gf_err());
	cr_assert_eq(dt_sh("cd '%s' && git show HEAD~1:README.md > README.md && rm src/gone.c", co), 0);
	cr_assert_eq(devsys_repo_commit(&committed, r, "c2", NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
	put(co, "notes.md", "notes\n", 6);
	/* the reverted README.md: base..head shows nothing, the commits do */
	devsys_repo_changes *net = NULL;
	cr_assert_eq(devsys_repo_changed_paths(&net, r), 0, "%s", gf_err());
	for (size_t i = 0; i < devsys_repo_changes_count(net); i++)
		cr_assert_str_neq(devsys_repo_change_path(devsys_repo_changes_at(net, i)), "README.md");
	devsys_repo_changes_free(net);

	char fdir[4096];
	snprintf(fdir, sizeof(fdir), "%s/specs/001-photo-albums", co);
	devsys_speckit_feature *f = NULL;
	cr_assert_eq(devsys_speckit_feature_load(&f, fdir, co), 0, "%s", gf_err());
	const devsys_speckit_task *t8 = devsys_speckit_task_find(f, "T008");
	cr_assert_eq(devsys_speckit_task_path_count(t8), 1, "the folder is a path the check reads");
	cr_assert_str_eq(devsys_speckit_task_path_at(t8, 0), "src/");
	devsys_speckit_findings *res = phantoms(f, r, NULL, 0);
	devsys_buf b = DEVSYS_BUF_INIT;
	devsys_speckit_findings_to_text(&b, res);
	cr_assert_eq(devsys_speckit_findings_count(res), 5, "%s", b.ptr);
	/* T001: added in c1, there at head: no finding */
	finding_is(res, 0, 6, DEVSYS_SPECKIT_INFO,
	           "T002 is marked done and 'README.md' was changed by 2 commit(s) on branch '001-photo-albums', but its "
	           "content at head");
	finding_is(res, 1, 7, DEVSYS_SPECKIT_WARNING,
	           "T003 is marked done but 'src/main.c' was not changed by any of the 2 commit(s) on branch "
	           "'001-photo-albums' since its base");
	finding_is(res, 2, 8, DEVSYS_SPECKIT_WARNING, "T004 is marked done but 'src/albums.h' does not exist in the "
	                                              "repository at head");
	finding_is(res, 3, 9, DEVSYS_SPECKIT_WARNING, "T005 is marked done but 'notes.md' does not exist in the "
	                                              "repository at head"); /* in the checkout, never committed */
	finding_is(res, 4, 10, DEVSYS_SPECKIT_WARNING, "T006 is marked done but 'src/gone.c' does not exist");
	/* T007 is open, T008's folder src/ changed (src/albums.c): no finding */
	cr_assert_eq(devsys_speckit_findings_count_severity(res, DEVSYS_SPECKIT_WARNING), 4);
	devsys_speckit_findings_free(res);

	/* only the ids asked for */
	const char *ids[] = { "T001", "T003", "T007" };
	res = phantoms(f, r, ids, 3);
	cr_assert_eq(devsys_speckit_findings_count(res), 1);
	finding_is(res, 0, 7, DEVSYS_SPECKIT_WARNING, "T003 is marked done but 'src/main.c'");
	devsys_speckit_findings_free(res);

	/* positive control: a task list whose every ticked path was committed on the branch */
	const char *good[] = { "T001", "T008" };
	res = phantoms(f, r, good, 2);
	cr_assert_eq(devsys_speckit_findings_count(res), 0);
	devsys_speckit_findings_free(res);
	devsys_buf_dispose(&b);
	devsys_speckit_feature_free(f);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
}

/* ---- green ---- */

static void junit(const char *path, int failures)
{
	char xml[1024];
	snprintf(xml, sizeof(xml),
	         "<?xml version=\"1.0\"?>\n<testsuite name=\"s\" tests=\"2\" failures=\"%d\" errors=\"0\">\n"
	         "<testcase classname=\"c\" name=\"a\"/>\n<testcase classname=\"c\" name=\"b\">%s</testcase>\n"
	         "</testsuite>\n",
	         failures, failures ? "<failure message=\"boom\">boom</failure>" : "");
	cr_assert(dt_write_file(path, xml));
}

/* Task @p id in @p state (reached through allowed transitions) with a
 * complete run of @p failures failures (-1: no run). */
static devsys_task *store_task(devsys_store *st, devsys_workspace *ws, const char *id, int state, int failures)
{
	cr_assert_eq(devsys_store_task_create(st, id, NULL), 0, "%s", gf_err());
	int path[] = { DEVSYS_STATE_VALIDATED, DEVSYS_STATE_CHECKED_OUT, DEVSYS_STATE_CODED, DEVSYS_STATE_COMMITTED,
		       DEVSYS_STATE_PUSHED, DEVSYS_STATE_PR_OPENED, DEVSYS_STATE_TESTED };
	for (size_t i = 0; i < sizeof(path) / sizeof(*path) && state != DEVSYS_STATE_FAILED; i++) {
		cr_assert_eq(devsys_store_transition(st, id, path[i], NULL), 0, "%s", gf_err());
		if (path[i] == state)
			break;
	}
	if (state == DEVSYS_STATE_FAILED || state == DEVSYS_STATE_DEPLOY_SKIPPED)
		cr_assert_eq(devsys_store_transition(st, id, state, NULL), 0, "%s", gf_err());
	devsys_task *t = NULL;
	cr_assert_eq(devsys_task_open(&t, ws, id, 0), 0, "%s", gf_err());
	if (failures >= 0) {
		devsys_record *rec = NULL;
		unsigned run = 0;
		char xml[4096];
		snprintf(xml, sizeof(xml), "%s/ws/%s.xml", dir, id);
		junit(xml, failures);
		cr_assert_eq(devsys_record_open(&rec, t), 0, "%s", gf_err());
		cr_assert_eq(devsys_record_run_begin(rec, &run), 0, "%s", gf_err());
		cr_assert_eq(devsys_record_run_add_junit(rec, run, xml), 0, "%s", gf_err());
		cr_assert_eq(devsys_record_run_complete(rec, run), 0, "%s", gf_err());
		devsys_record_free(rec);
	}
	return t;
}

static int green_of(devsys_store *st, devsys_task *t)
{
	int g = -1;
	cr_assert_eq(devsys_speckit_task_green(&g, st, t), 0, "%s", gf_err());
	return g;
}

Test(speckit_repo, green_is_a_named_state_and_a_clean_latest_run)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_store *st = NULL;
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0, "%s", gf_err());
	devsys_task *tested = store_task(st, ws, "t-tested", DEVSYS_STATE_TESTED, 0);
	devsys_task *skipped = store_task(st, ws, "t-skipped", DEVSYS_STATE_DEPLOY_SKIPPED, 0);
	devsys_task *red = store_task(st, ws, "t-red", DEVSYS_STATE_TESTED, 1);
	devsys_task *failed = store_task(st, ws, "t-failed", DEVSYS_STATE_FAILED, 0);
	devsys_task *pushed = store_task(st, ws, "t-pushed", DEVSYS_STATE_PUSHED, 0);
	devsys_task *norun = store_task(st, ws, "t-norun", DEVSYS_STATE_TESTED, -1);
	cr_assert_eq(green_of(st, tested), 1);
	cr_assert_eq(green_of(st, skipped), 1);
	cr_assert_eq(green_of(st, red), 0, "a failure in reports/latest");
	cr_assert_eq(green_of(st, failed), 0, "failed sorts after tested but is not green");
	cr_assert(DEVSYS_STATE_FAILED > DEVSYS_STATE_TESTED, "the trap this guards against");
	cr_assert_eq(green_of(st, pushed), 0);
	cr_assert_eq(green_of(st, norun), 0);
	devsys_task *tasks[] = { tested, skipped, red, failed, pushed, norun };
	for (size_t i = 0; i < 6; i++)
		devsys_task_free(tasks[i]);
	devsys_store_free(st);
	devsys_workspace_free(ws);
}

/* ---- sync ---- */

#define BOM "\xEF\xBB\xBF"
static const char before[] = BOM "# Tasks: Albums\r\n\r\n## Phase 1: Setup\r\n\r\n"
                             "- [x] T001 Create the album module in src/albums.c\r\n"
                             "- [ ] T002 [P] Add the album header in src/albums.h\r\n"
                             "\t- sub-bullet of T002 kept as it is\r\n"
                             "- [ ] T003 [P] Update the readme in README.md\r\n"
                             "<!-- - [ ] T004 commented out -->\r\n"
                             "```text\r\n- [ ] T004 an example in a fence\r\n```\r\n"
                             "- [ ] T004 Write the share module in src/share.c\r\n"
                             "- [X] T005 Already done in src/done.c";
static const char after[] = BOM "# Tasks: Albums\r\n\r\n## Phase 1: Setup\r\n\r\n"
                            "- [x] T001 Create the album module in src/albums.c\r\n"
                            "- [X] T002 [P] Add the album header in src/albums.h\r\n"
                            "\t- sub-bullet of T002 kept as it is\r\n"
                            "- [ ] T003 [P] Update the readme in README.md\r\n"
                            "<!-- - [ ] T004 commented out -->\r\n"
                            "```text\r\n- [ ] T004 an example in a fence\r\n```\r\n"
                            "- [X] T004 Write the share module in src/share.c\r\n"
                            "- [X] T005 Already done in src/done.c";

Test(speckit_repo, mark_done_changes_only_the_ticked_lines)
{
	const char *ids[] = { "T002", "T004", "T005", "T001" };
	devsys_buf out = DEVSYS_BUF_INIT;
	size_t n = 99;
	cr_assert_eq(devsys_speckit_mark_done(&out, &n, before, sizeof(before) - 1, ids, 4), 0, "%s", gf_err());
	cr_assert_eq(n, 2, "T001 and T005 were already done");
	cr_assert_eq(out.size, sizeof(after) - 1);
	cr_assert(memcmp(out.ptr, after, out.size) == 0, "byte for byte:\n%s", out.ptr);
	devsys_buf_clear(&out);
	const char *bad[] = { "T002", "T099" };
	cr_assert_eq(devsys_speckit_mark_done(&out, &n, before, sizeof(before) - 1, bad, 2), DEVSYS_ENOTFOUND);
	cr_assert_not_null(strstr(gf_err(), "T099"));
	cr_assert_eq(out.size, 0, "nothing appended");
	devsys_buf_dispose(&out);
}

Test(speckit_repo, sync_commits_and_pushes_on_the_feature_branch)
{
	devsys_workspace *ws;
	devsys_task *t;
	devsys_repo *r = feature_repo(&ws, &t);
	const char *co = devsys_repo_checkout_path(r);
	put(co, "specs/001-photo-albums/tasks.md", before, sizeof(before) - 1);
	int committed = 0;
	cr_assert_eq(devsys_repo_commit(&committed, r, "tasks", NULL), 0, "%s", gf_err());
	char head0[64];
	snprintf(head0, sizeof(head0), "%s", devsys_repo_head_sha(r));

	/* only the ids of green tasks are passed: here the test picks T002 and T004 */
	const char *ids[] = { "T002", "T004" };
	size_t n = 0;
	cr_assert_eq(devsys_speckit_sync(&n, r, "specs/001-photo-albums", ids, 2), 0, "%s", gf_err());
	cr_assert_eq(n, 2);
	cr_assert_str_neq(devsys_repo_head_sha(r), head0, "a commit was made");
	char file[4096];
	snprintf(file, sizeof(file), "%s/specs/001-photo-albums/tasks.md", co);
	size_t len = 0;
	char *got = dt_read_file(file, &len);
	cr_assert_eq(len, sizeof(after) - 1);
	cr_assert(memcmp(got, after, len) == 0, "byte for byte:\n%s", got);
	free(got);
	/* it reached the remote's feature branch, and only that branch */
	char cmp[8192], exp[4096];
	snprintf(exp, sizeof(exp), "%s/expected.md", dir);
	put(dir, "expected.md", after, sizeof(after) - 1);
	snprintf(cmp, sizeof(cmp),
	         "git --git-dir='%s/proj.git' show 001-photo-albums:specs/001-photo-albums/tasks.md | cmp - '%s' && "
	         "! git --git-dir='%s/proj.git' show main:specs/001-photo-albums/tasks.md 2>/dev/null",
	         dir, exp, dir);
	cr_assert_eq(dt_sh("%s", cmp), 0, "the pushed tasks.md differs, or main was changed");

	/* nothing left to mark: no commit */
	char head1[64];
	snprintf(head1, sizeof(head1), "%s", devsys_repo_head_sha(r));
	cr_assert_eq(devsys_speckit_sync(&n, r, "specs/001-photo-albums", ids, 2), 0, "%s", gf_err());
	cr_assert_eq(n, 0);
	cr_assert_str_eq(devsys_repo_head_sha(r), head1);
	/* a folder escaping the checkout is refused */
	cr_assert_eq(devsys_speckit_sync(&n, r, "../../x", ids, 2), DEVSYS_EPATH);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
}

Test(speckit_repo, sync_refuses_a_protected_branch)
{
	/* a task branch named like a protected branch never opens, so sync can
	 * never run there; the refusal in sync is the second line of defence */
	cr_assert_eq(devsys_repo_branch_is_protected("main", NULL, NULL), 1);
	char *bare = gf_make_remote(dir, "proj"), path[4096];
	snprintf(path, sizeof(path), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(path, NULL);
	devsys_task *t = gf_task(ws, "main");
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	o.url = bare;
	o.branch_template = "{id}";
	devsys_repo *r = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EPROTECTED);
	free(bare);
	devsys_task_free(t);
	devsys_workspace_free(ws);
}
