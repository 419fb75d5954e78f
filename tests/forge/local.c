/*
 * The local forge provider end to end, offline, against a bare repository
 * the test makes: a task pushes its branch, opens a PR (a re-run reuses
 * it), reviews are recorded on commits, statuses set, and the gate decides
 * per class and merges into the bare repository's base branch, never a
 * head that moved after its approval. Plus the registry, the PR body
 * (cap, masking) and bad input (provider, secret, config).
 */
#include "../git/gitfix.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("forgelocal");
}
static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}
TestSuite(forge_local, .init = setup, .fini = teardown, .timeout = 120);

/* One task with its checkout on a fresh bare remote. */
struct fx {
	char *bare;
	devsys_workspace *ws;
	devsys_task *task;
	devsys_repo *repo;
	devsys_config *cfg;
	devsys_forge *forge;
};

static const char *const policy_yaml = "policy:\n"
                                       "  auto_merge: true\n"
                                       "  required_contexts: [devsys/tests]\n"
                                       "  critical_approvals: 2\n";

static void fx_commit(struct fx *f, const char *rel, const char *text, const char *msg)
{
	char path[4200];
	int committed = 0;
	snprintf(path, sizeof(path), "%s/%s", devsys_repo_checkout_path(f->repo), rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	gf_git("mkdir -p '%s'", path);
	*slash = '/';
	cr_assert(dt_write_file(path, text));
	cr_assert_eq(devsys_repo_commit(&committed, f->repo, msg, NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
	cr_assert_eq(devsys_repo_push(f->repo), 0, "%s", gf_err());
}

/* @p main_commit (may be NULL): a path committed to main before the task's checkout is made. */
static void fx_open_on(struct fx *f, const char *yaml, const char *main_commit)
{
	char wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	memset(f, 0, sizeof(*f));
	f->bare = gf_make_remote(dir, "proj");
	if (main_commit)
		gf_git("set -e; cd '%s/proj-work'; mkdir -p \"$(dirname '%s')\"; echo x > '%s'; " GITC " add -A; " GITC
		       " commit -q -m base; git push -q '%s' main",
		       dir, main_commit, main_commit, f->bare);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	f->ws = gf_workspace(wsdir, NULL);
	f->task = gf_task(f->ws, "t1");
	o.url = f->bare;
	cr_assert_eq(devsys_repo_open_task(&f->repo, f->task, &o), 0, "%s", gf_err());
	cr_assert_eq(devsys_config_parse(&f->cfg, yaml, strlen(yaml), "devsys.yaml"), 0, "%s", gf_err());
	fo.remote_url = f->bare;
	fo.config = f->cfg;
	cr_assert_eq(devsys_forge_new(&f->forge, &fo), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_forge_provider(f->forge), "local", "a local path remote defaults to local");
}

static void fx_open(struct fx *f, const char *yaml)
{
	fx_open_on(f, yaml, NULL);
}

static void fx_close(struct fx *f)
{
	devsys_forge_free(f->forge);
	devsys_config_free(f->cfg);
	devsys_repo_free(f->repo);
	devsys_task_free(f->task);
	devsys_workspace_free(f->ws);
	free(f->bare);
}

static devsys_pr *fx_pr(struct fx *f, const char *title, int64_t number)
{
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_pr *pr = NULL;
	po.title = title;
	po.body = "body";
	po.head = devsys_repo_branch(f->repo);
	po.base = devsys_repo_base_branch(f->repo);
	po.head_sha = devsys_repo_head_sha(f->repo);
	po.base_sha = devsys_repo_base_sha(f->repo);
	po.number = number;
	cr_assert_eq(devsys_pr_open(&pr, f->forge, &po), 0, "%s", gf_err());
	return pr;
}

static int decide(devsys_pr *pr, struct fx *f, devsys_policy_decision **d)
{
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	const devsys_policy *pol = NULL;
	cr_assert_eq(devsys_config_policy(&pol, f->cfg), 0);
	go.policy = pol;
	go.repo = f->repo;
	cr_assert_eq(devsys_gate_check(d, pr, &go), 0, "%s", gf_err());
	return devsys_policy_decision_outcome(*d);
}

static bool has_reason(const devsys_policy_decision *d, int code)
{
	for (size_t i = 0; i < devsys_policy_decision_reason_count(d); i++) {
		int c = -1;
		devsys_policy_decision_reason(d, i, &c);
		if (c == code)
			return true;
	}
	return false;
}

/* The decision as text, for assertion messages (a static buffer: evaluated
 * whether or not the assertion fails, so nothing to free). */
static const char *explain(const devsys_policy_decision *d)
{
	static char text[8192];
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_gate_explain(&b, d, 0), 0);
	snprintf(text, sizeof(text), "%s", b.ptr);
	devsys_buf_dispose(&b);
	return text;
}

static char *bare_sha(const struct fx *f, const char *ref)
{
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' rev-parse %s", f->bare, ref);
	return gf_out(cmd);
}

static size_t count_records(const char *bare)
{
	char path[4200];
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/devsys/prs", bare);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "the PR records live beside the bare repository: %s", path);
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		n += strstr(de->d_name, ".json") != NULL;
	closedir(d);
	return n;
}

Test(forge_local, low_change_reused_pr_green_status_auto_merges_into_base)
{
	struct fx f;
	devsys_policy_decision *d = NULL;
	fx_open(&f, policy_yaml);
	fx_commit(&f, "docs/guide.md", "# Guide\n", "Add the guide");
	char *main_before = bare_sha(&f, "refs/heads/main");

	devsys_pr *pr = fx_pr(&f, "Add the guide", 0);
	cr_assert_eq(devsys_pr_number(pr), 1);
	cr_assert_eq(devsys_pr_reused(pr), 0);
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_OPEN);
	cr_assert_str_eq(devsys_pr_head_sha(pr), devsys_repo_head_sha(f.repo));
	cr_assert_str_eq(devsys_pr_head(pr), "task/t1");
	cr_assert_str_eq(devsys_pr_base(pr), "main");
	cr_assert(dt_exists(devsys_pr_url(pr)), "the URL is the record's path: %s", devsys_pr_url(pr));
	cr_assert(strncmp(devsys_pr_url(pr), f.bare, strlen(f.bare)) == 0, "kept beside the bare repository");
	cr_assert_null(strstr(devsys_pr_url(pr), devsys_task_path(f.task)), "not in the task folder");
	cr_assert(!gf_tree_contains(devsys_task_path(f.task), "Add the guide"), "nothing of the PR in the task folder");
	char patch[4200];
	snprintf(patch, sizeof(patch), "%s/devsys/prs/1.patch", f.bare);
	char *ptext = dt_read_file(patch, NULL);
	cr_assert_not_null(ptext);
	cr_assert(strstr(ptext, "+++ b/docs/guide.md") && strstr(ptext, "+# Guide"), "%s", ptext);

	/* A re-run updates the same PR: no duplicate, the new title kept. */
	devsys_pr *again = fx_pr(&f, "Add the guide (second run)", devsys_pr_number(pr));
	cr_assert_eq(devsys_pr_number(again), 1);
	cr_assert_eq(devsys_pr_reused(again), 1);
	cr_assert_str_eq(devsys_pr_title(again), "Add the guide (second run)");
	devsys_pr *third = fx_pr(&f, "Add the guide (third run)", 0);
	cr_assert_eq(devsys_pr_number(third), 1, "found by head and base without the remembered number too");
	cr_assert_eq(count_records(f.bare), 1);

	/* No status yet: low with auto-merge waits for its check. */
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_BLOCKED, "%s", explain(d));
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CHECK_PENDING));
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_LOW);
	devsys_policy_decision_free(d);
	devsys_gate_options nopol = DEVSYS_GATE_OPTIONS_INIT;
	cr_assert_eq(devsys_gate_merge(NULL, pr, &nopol), DEVSYS_EINVAL, "a policy is required");
	char *still = bare_sha(&f, "refs/heads/main");
	cr_assert_str_eq(still, main_before);

	/* A failure blocks; a later success on the same context wins. */
	cr_assert_eq(devsys_forge_set_status(f.forge, devsys_pr_head_sha(pr), "devsys/tests", DEVSYS_CHECK_FAILURE,
	                                     "2 failed", NULL), 0, "%s", gf_err());
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_BLOCKED);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CHECK_FAILED));
	devsys_policy_decision_free(d);
	cr_assert_eq(devsys_forge_set_status(f.forge, devsys_pr_head_sha(pr), "devsys/tests", DEVSYS_CHECK_SUCCESS,
	                                     "all passed", "file:///report"), 0, "%s", gf_err());
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_MERGE, "%s", explain(d));
	devsys_policy_decision_free(d);

	const devsys_policy *pol = NULL;
	devsys_config_policy(&pol, f.cfg);
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	go.policy = pol;
	go.repo = f.repo;
	cr_assert_eq(devsys_gate_merge(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_MERGE);
	devsys_policy_decision_free(d);
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_MERGED);
	char *main_after = bare_sha(&f, "refs/heads/main");
	cr_assert_str_eq(main_after, devsys_pr_merge_sha(pr));
	cr_assert_str_neq(main_after, main_before);
	cr_assert_eq(dt_sh("git --git-dir='%s' merge-base --is-ancestor %s main", f.bare, devsys_repo_head_sha(f.repo)), 0,
	             "the task's head landed in main");
	cr_assert_eq(dt_sh("git --git-dir='%s' cat-file -e main:docs/guide.md", f.bare), 0);

	/* Merged: the gate does not decide on it again. */
	cr_assert_eq(devsys_gate_check(&d, pr, &go), DEVSYS_ESTATE);
	cr_assert_null(d);
	devsys_pr_free(again);
	devsys_pr_free(third);
	devsys_pr_free(pr);
	fx_close(&f);
	free(main_before); free(still); free(main_after); free(ptext);
}

Test(forge_local, medium_needs_approval_on_head_not_older_sha_nor_author_and_moved_head_is_not_merged)
{
	struct fx f;
	devsys_policy_decision *d = NULL;
	fx_open(&f, policy_yaml);
	fx_commit(&f, "notes.txt", "one\n", "First note");
	char first[64];
	snprintf(first, sizeof(first), "%s", devsys_repo_head_sha(f.repo));
	fx_commit(&f, "notes.txt", "one\ntwo\n", "Second note");
	devsys_pr *pr = fx_pr(&f, "Notes", 0);
	cr_assert_eq(devsys_forge_set_status(f.forge, devsys_pr_head_sha(pr), "devsys/tests", DEVSYS_CHECK_SUCCESS,
	                                     NULL, NULL), 0, "%s", gf_err());

	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_AWAITING_REVIEW, "%s", explain(d));
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_MEDIUM);
	devsys_policy_decision_free(d);

	/* An approval of an older commit, one by the commit author and one by the bot count for nothing. */
	cr_assert_eq(devsys_pr_add_review(pr, "alice", first, DEVSYS_REVIEW_APPROVED), 0, "%s", gf_err());
	cr_assert_eq(devsys_pr_add_review(pr, "devsys", NULL, DEVSYS_REVIEW_APPROVED), 0, "%s", gf_err());
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_AWAITING_REVIEW, "%s", explain(d));
	cr_assert(has_reason(d, DEVSYS_POLICY_R_NOT_COUNTED));
	unsigned int counted = 9, required = 0;
	devsys_policy_decision_approvals(&counted, &required, d);
	cr_assert_eq(counted, 0);
	cr_assert_eq(required, 1);
	devsys_policy_decision_free(d);
	cr_assert_eq(devsys_pr_load_reviews(pr), 0);
	cr_assert_eq(devsys_pr_review_count(pr), 2);
	cr_assert_str_eq(devsys_pr_review(pr, 0)->commit_sha, first, "a short or full SHA is kept as the full commit");

	/* A review on a commit the repository does not have is refused. */
	cr_assert_eq(devsys_pr_add_review(pr, "alice", "0123456789abcdef0123456789abcdef01234567", DEVSYS_REVIEW_APPROVED),
	             DEVSYS_ENOTFOUND);

	/* Alice approves the head: it counts. */
	cr_assert_eq(devsys_pr_add_review(pr, "alice", NULL, DEVSYS_REVIEW_APPROVED), 0, "%s", gf_err());
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_MERGE, "%s", explain(d));
	devsys_policy_decision_free(d);

	/* The provider itself refuses a merge at any other head than the one asked. */
	const devsys_forge_vtable *vt = NULL;
	cr_assert_eq(devsys_forge_find(&vt, "local"), 0);
	cr_assert_not_null(vt->merge);

	/* A commit pushed after the approval: the approval no longer counts, nothing is merged. */
	char *main_before = bare_sha(&f, "refs/heads/main");
	fx_commit(&f, "notes.txt", "one\ntwo\nthree\n", "Third note, after the approval");
	cr_assert_eq(devsys_forge_set_status(f.forge, devsys_repo_head_sha(f.repo), "devsys/tests", DEVSYS_CHECK_SUCCESS,
	                                     NULL, NULL), 0, "%s", gf_err());
	const devsys_policy *pol = NULL;
	devsys_config_policy(&pol, f.cfg);
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	go.policy = pol;
	go.repo = f.repo;
	cr_assert_eq(devsys_gate_merge(&d, pr, &go), DEVSYS_ESTATE, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_AWAITING_REVIEW);
	cr_assert_str_eq(devsys_pr_head_sha(pr), devsys_repo_head_sha(f.repo), "the gate read the moved head");
	devsys_policy_decision_free(d);
	char *main_after = bare_sha(&f, "refs/heads/main");
	cr_assert_str_eq(main_after, main_before, "nothing was merged");
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_OPEN);

	/* Changes requested blocks, whoever approved. */
	cr_assert_eq(devsys_pr_add_review(pr, "alice", NULL, DEVSYS_REVIEW_APPROVED), 0);
	cr_assert_eq(devsys_pr_add_review(pr, "bob", NULL, DEVSYS_REVIEW_CHANGES_REQUESTED), 0);
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_BLOCKED, "%s", explain(d));
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CHANGES_REQUESTED));
	devsys_policy_decision_free(d);
	/* Bob's later approval replaces his changes-request (only the latest counts). */
	cr_assert_eq(devsys_pr_add_review(pr, "bob", NULL, DEVSYS_REVIEW_APPROVED), 0);
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_MERGE, "%s", explain(d));
	devsys_policy_decision_free(d);
	cr_assert_eq(devsys_gate_merge(NULL, pr, &go), 0, "%s", gf_err());
	char *merged = bare_sha(&f, "refs/heads/main");
	cr_assert_str_eq(merged, devsys_pr_merge_sha(pr));
	cr_assert_eq(dt_sh("git --git-dir='%s' merge-base --is-ancestor %s main", f.bare, devsys_repo_head_sha(f.repo)), 0);

	devsys_pr_free(pr);
	fx_close(&f);
	free(main_before); free(main_after); free(merged);
}

Test(forge_local, provider_refuses_a_merge_when_the_head_is_not_the_approved_sha)
{
	struct fx f;
	fx_open(&f, policy_yaml);
	fx_commit(&f, "a.txt", "a\n", "a");
	devsys_pr *pr = fx_pr(&f, "A", 0);
	char approved[64];
	snprintf(approved, sizeof(approved), "%s", devsys_pr_head_sha(pr));
	fx_commit(&f, "a.txt", "a\nb\n", "b, pushed after the approval");

	const devsys_forge_vtable *vt = NULL;
	cr_assert_eq(devsys_forge_find(&vt, "local"), 0);
	devsys_forge_open_options oo;
	memset(&oo, 0, sizeof(oo));
	oo.version = DEVSYS_FORGE_OPEN_OPTIONS_VERSION;
	oo.local_path = f.bare;
	void *self = NULL;
	cr_assert_eq(vt->open(&self, &oo, NULL), 0, "%s", gf_err());
	devsys_forge_merge_request mr = { DEVSYS_FORGE_MERGE_REQUEST_VERSION, approved, DEVSYS_FORGE_MERGE_COMMIT, NULL,
		                          NULL };
	devsys_forge_merge_result res = { DEVSYS_FORGE_MERGE_RESULT_VERSION, NULL };
	char *before = bare_sha(&f, "refs/heads/main");
	cr_assert_eq(vt->merge(self, &res, devsys_pr_number(pr), &mr), DEVSYS_ECONFLICT);
	cr_assert(strstr(gf_err(), "moved"), "%s", gf_err());
	char *after = bare_sha(&f, "refs/heads/main");
	cr_assert_str_eq(after, before);
	/* Positive control: at the current head it merges. */
	mr.sha = devsys_repo_head_sha(f.repo);
	mr.method = DEVSYS_FORGE_MERGE_FAST_FORWARD;
	cr_assert_eq(vt->merge(self, &res, devsys_pr_number(pr), &mr), 0, "%s", gf_err());
	char *ff = bare_sha(&f, "refs/heads/main");
	cr_assert_str_eq(ff, devsys_repo_head_sha(f.repo), "a fast-forward moves main to the head itself");
	vt->close(self);
	devsys_pr_free(pr);
	fx_close(&f);
	free(before); free(after); free(ff);
}

Test(forge_local, critical_change_needs_two_approvals_when_configured)
{
	struct fx f;
	devsys_policy_decision *d = NULL;
	fx_open(&f, policy_yaml);
	fx_commit(&f, "src/agent.c", "int agent;\n", "Change the agent");
	devsys_pr *pr = fx_pr(&f, "Agent", 0);
	cr_assert_eq(devsys_forge_set_status(f.forge, devsys_pr_head_sha(pr), "devsys/tests", DEVSYS_CHECK_SUCCESS,
	                                     NULL, NULL), 0);
	cr_assert_eq(devsys_pr_add_review(pr, "alice", NULL, DEVSYS_REVIEW_APPROVED), 0);
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_AWAITING_REVIEW, "%s", explain(d));
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_CRITICAL);
	unsigned int counted = 0, required = 0;
	devsys_policy_decision_approvals(&counted, &required, d);
	cr_assert_eq(counted, 1);
	cr_assert_eq(required, 2);
	devsys_policy_decision_free(d);
	cr_assert_eq(devsys_pr_add_review(pr, "Alice", NULL, DEVSYS_REVIEW_APPROVED), 0);
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_AWAITING_REVIEW, "the same reviewer twice is one approval");
	devsys_policy_decision_free(d);
	cr_assert_eq(devsys_pr_add_review(pr, "bob", NULL, DEVSYS_REVIEW_APPROVED), 0);
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_MERGE, "%s", explain(d));
	devsys_buf j = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_gate_explain(&j, d, 1), 0);
	cr_assert(strstr(j.ptr, "\"decision\":\"merge\"") && strstr(j.ptr, "\"class\":\"critical\"") &&
	              strstr(j.ptr, "\"required\":2"), "%s", j.ptr);
	devsys_buf_dispose(&j);
	devsys_policy_decision_free(d);
	devsys_pr_free(pr);
	fx_close(&f);
}

Test(forge_local, a_head_pushed_from_elsewhere_fails_closed)
{
	struct fx f;
	devsys_policy_decision *d = NULL;
	fx_open(&f, policy_yaml);
	fx_commit(&f, "docs/a.md", "a\n", "docs");
	devsys_pr *pr = fx_pr(&f, "Docs", 0);
	/* Someone pushes a commit touching lib/ to the task branch behind the checkout's back. */
	gf_git("set -e; cd '%s' && git clone -q '%s' other && cd other && git checkout -q task/t1 && mkdir -p lib && "
	       "echo x > lib/x.c && git add lib/x.c && " GITC " commit -q -m sneaky && git push -q origin task/t1",
	       dir, f.bare);
	const devsys_policy *pol = NULL;
	devsys_config_policy(&pol, f.cfg);
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	go.policy = pol;
	go.repo = f.repo;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), DEVSYS_ECONFLICT);
	cr_assert_null(d);
	cr_assert(strstr(gf_err(), "failing closed"), "%s", gf_err());
	/* Without the checkout the forge's list decides: lib/ makes it critical. */
	go.repo = NULL;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_CRITICAL);
	devsys_policy_decision_free(d);
	devsys_pr_free(pr);
	fx_close(&f);
}

/* The text of @p d's first reason with @p code, or NULL. */
static const char *reason_of(const devsys_policy_decision *d, int code)
{
	for (size_t i = 0; i < devsys_policy_decision_reason_count(d); i++) {
		int c = -1;
		const char *t = devsys_policy_decision_reason(d, i, &c);
		if (c == code)
			return t;
	}
	return NULL;
}

/* A low change with its required status green: the lists agree and it may merge. */
static devsys_pr *green_docs_pr(struct fx *f)
{
	devsys_policy_decision *d = NULL;
	devsys_pr *pr = fx_pr(f, "Docs", 0);
	cr_assert_eq(devsys_forge_set_status(f->forge, devsys_pr_head_sha(pr), "devsys/tests", DEVSYS_CHECK_SUCCESS,
	                                     "all passed", NULL), 0, "%s", gf_err());
	cr_assert_eq(decide(pr, f, &d), DEVSYS_POLICY_MERGE, "the control: %s", explain(d));
	cr_assert_null(reason_of(d, DEVSYS_POLICY_R_PATHS_MISMATCH), "%s", explain(d));
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_LOW);
	devsys_policy_decision_free(d);
	return pr;
}

/* The gate's merge refuses a blocked decision and main stays at @p main_before. */
static void merge_refused(devsys_pr *pr, struct fx *f, const char *main_before)
{
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	const devsys_policy *pol = NULL;
	devsys_policy_decision *d = NULL;
	cr_assert_eq(devsys_config_policy(&pol, f->cfg), 0);
	go.policy = pol;
	go.repo = f->repo;
	cr_assert_eq(devsys_gate_merge(&d, pr, &go), DEVSYS_ESTATE, "%s", gf_err());
	cr_assert(strstr(gf_err(), "blocked") && strstr(gf_err(), "disagree"), "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_BLOCKED);
	devsys_policy_decision_free(d);
	char *now = bare_sha(f, "refs/heads/main");
	cr_assert_str_eq(now, main_before, "nothing merged");
	free(now);
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_OPEN);
}

Test(forge_local, a_forge_list_naming_a_path_the_checkout_did_not_change_is_blocked_not_an_error)
{
	struct fx f;
	devsys_policy_decision *d = NULL;
	fx_open_on(&f, policy_yaml, "src/base.c");
	fx_commit(&f, "docs/a.md", "a\n", "docs");
	devsys_pr *pr = green_docs_pr(&f);
	/* main is force-pushed back one commit: the forge's merge base is older than the
	 * task's base, so its list also names src/base.c (the rewound commit's path). */
	gf_git("git --git-dir='%s' update-ref refs/heads/main refs/heads/main~1", f.bare);
	char *main_before = bare_sha(&f, "refs/heads/main");
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_BLOCKED, "%s", explain(d));
	const char *why = reason_of(d, DEVSYS_POLICY_R_PATHS_MISMATCH);
	cr_assert(why && strstr(why, "'src/base.c'") && strstr(why, "the forge lists") && strstr(why, "failing closed"),
	          "the reason names the path only the forge lists: %s", explain(d));
	cr_assert_null(strstr(why, "docs/a.md"), "a path both lists have is not named: %s", why);
	int code = -1;
	devsys_policy_decision_reason(d, 1, &code);
	cr_assert_eq(code, DEVSYS_POLICY_R_PATHS_MISMATCH, "the first blocker, after the class");
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_CRITICAL, "the higher class of the two lists (src/**)");
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CHECKS_PASSED), "the other facts are still there: %s", explain(d));
	devsys_buf j = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_gate_explain(&j, d, 1), 0);
	cr_assert(strstr(j.ptr, "\"code\":\"paths-mismatch\"") && strstr(j.ptr, "\"decision\":\"blocked\""), "%s", j.ptr);
	devsys_buf_dispose(&j);
	devsys_policy_decision_free(d);
	/* a mismatch is not worth waiting for: with a poll bound the answer is the same, at once */
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	const devsys_policy *pol = NULL;
	cr_assert_eq(devsys_config_policy(&pol, f.cfg), 0);
	go.policy = pol;
	go.repo = f.repo;
	go.poll_timeout_ms = 100000;
	go.poll_interval_ms = 100000;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_BLOCKED);
	devsys_policy_decision_free(d);
	merge_refused(pr, &f, main_before);
	free(main_before);
	devsys_pr_free(pr);
	fx_close(&f);
}

Test(forge_local, a_checkout_path_the_forge_does_not_list_is_blocked_not_an_error)
{
	struct fx f;
	devsys_policy_decision *d = NULL;
	fx_open(&f, policy_yaml);
	fx_commit(&f, "docs/a.md", "a\n", "docs a");
	fx_commit(&f, "docs/b.md", "b\n", "docs b");
	devsys_pr *pr = green_docs_pr(&f);
	/* main is moved to the task's first commit: the forge's list has only docs/b.md */
	gf_git("git --git-dir='%s' update-ref refs/heads/main refs/heads/task/t1~1", f.bare);
	char *main_before = bare_sha(&f, "refs/heads/main");
	cr_assert_eq(decide(pr, &f, &d), DEVSYS_POLICY_BLOCKED, "%s", explain(d));
	const char *why = reason_of(d, DEVSYS_POLICY_R_PATHS_MISMATCH);
	cr_assert(why && strstr(why, "the task changes 'docs/a.md'") && strstr(why, "the forge does not list"),
	          "the reason names the path the forge does not list: %s", explain(d));
	cr_assert_null(strstr(why, "docs/b.md"), "%s", why);
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_LOW, "both lists are docs");
	devsys_policy_decision_free(d);
	merge_refused(pr, &f, main_before);
	free(main_before);
	devsys_pr_free(pr);
	fx_close(&f);
}

Test(forge_local, poll_waits_for_a_pending_check_within_its_bound)
{
	struct fx f;
	devsys_policy_decision *d = NULL;
	fx_open(&f, policy_yaml);
	fx_commit(&f, "docs/a.md", "a\n", "docs");
	devsys_pr *pr = fx_pr(&f, "Docs", 0);
	const devsys_policy *pol = NULL;
	devsys_config_policy(&pol, f.cfg);
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	go.policy = pol;
	go.repo = f.repo;
	go.poll_timeout_ms = 300;
	go.poll_interval_ms = 50;
	/* Nothing reports: the poll ends at its bound, still blocked. */
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_BLOCKED);
	devsys_policy_decision_free(d);
	/* A failure is not waited for. */
	cr_assert_eq(devsys_forge_set_status(f.forge, devsys_pr_head_sha(pr), "devsys/tests", DEVSYS_CHECK_FAILURE,
	                                     NULL, NULL), 0);
	go.poll_timeout_ms = 60000;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_CHECK_FAILED));
	devsys_policy_decision_free(d);
	devsys_pr_free(pr);
	fx_close(&f);
}

/* ---- the registry ---- */

static int stub_open(void **self, const devsys_forge_open_options *o, void *p)
{
	(void)o;
	*self = p;
	return 0;
}
static void stub_close(void *self) { (void)self; }
static int stub_upsert(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req)
{
	(void)self;
	out->number = 7;
	out->head = req->head;
	out->base = req->base;
	out->title = req->title;
	out->head_sha = "1111111111111111111111111111111111111111";
	out->url = req->body; /* echo the body as sent, for the test */
	return 0;
}
static int stub_get(void *self, devsys_forge_pr_info *out, int64_t n)
{
	(void)self;
	out->number = n;
	out->head_sha = "1111111111111111111111111111111111111111";
	return 0;
}

Test(forge_local, registry_registers_finds_refuses_duplicates_and_unregisters)
{
	devsys_forge_vtable vt;
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_FORGE_VTABLE_VERSION;
	vt.name = "stub";
	vt.open = stub_open;
	vt.close = stub_close;
	vt.pr_upsert = stub_upsert;
	cr_assert_eq(devsys_forge_register(&vt, NULL), DEVSYS_EINVAL, "pr_get is required");
	vt.pr_get = stub_get;
	vt.version = 99;
	cr_assert_eq(devsys_forge_register(&vt, NULL), DEVSYS_EVERSION);
	vt.version = DEVSYS_FORGE_VTABLE_VERSION;
	vt.name = "Bad Name";
	cr_assert_eq(devsys_forge_register(&vt, NULL), DEVSYS_EINVAL);
	vt.name = "stub";
	cr_assert_eq(devsys_forge_register(&vt, NULL), 0, "%s", gf_err());
	cr_assert_eq(devsys_forge_register(&vt, NULL), DEVSYS_EEXISTS);
	const devsys_forge_vtable *found = NULL;
	cr_assert_eq(devsys_forge_find(&found, "stub"), 0);
	cr_assert_eq(found->pr_get, stub_get);
	cr_assert_null(found->merge);

	/* Bound to a repository by override; unsupported slots fail clearly. */
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_forge *f = NULL;
	fo.remote_url = "https://forge.example.test/org/proj.git";
	fo.provider = "stub";
	cr_assert_eq(devsys_forge_new(&f, &fo), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_forge_owner(f), "org");
	cr_assert_str_eq(devsys_forge_repo(f), "proj");
	cr_assert_eq(devsys_forge_set_status(f, "1111111111111111111111111111111111111111", "devsys/tests",
	                                     DEVSYS_CHECK_SUCCESS, NULL, NULL), DEVSYS_ENOTSUPPORTED);
	cr_assert(strstr(gf_err(), "stub"), "%s", gf_err());

	/* Team reviewers: "org/team" of the owner becomes "team"; another org is refused. */
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	const char *teams[] = { "org/core", "other/x" };
	devsys_pr *pr = NULL;
	po.title = "t";
	po.head = "task/1";
	po.base = "main";
	po.team_reviewers = teams;
	po.nteam_reviewers = 2;
	cr_assert_eq(devsys_pr_open(&pr, f, &po), DEVSYS_EINVALID);
	cr_assert(strstr(gf_err(), "other/x"), "%s", gf_err());
	po.nteam_reviewers = 1;
	cr_assert_eq(devsys_pr_open(&pr, f, &po), 0, "%s", gf_err());
	cr_assert_eq(devsys_pr_number(pr), 7);

	cr_assert_eq(devsys_forge_unregister("stub"), 0);
	cr_assert_eq(devsys_forge_find(NULL, "stub"), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "local"), "the message lists what is registered: %s", gf_err());
	/* An open instance keeps working after its provider is unregistered. */
	cr_assert_eq(devsys_pr_refresh(pr), 0, "%s", gf_err());
	devsys_forge_free(f); /* the PR still holds the forge */
	cr_assert_eq(devsys_pr_refresh(pr), 0, "%s", gf_err());
	devsys_pr_free(pr);
	cr_assert_eq(devsys_forge_unregister("stub"), DEVSYS_ENOTFOUND);
}

/* ---- the PR body ---- */

Test(forge_local, body_carries_the_metadata_is_capped_and_masked)
{
	const char *token = "ghp_" "PLANTEDtoken0123456789abcdef" /* split: no credential-shaped literal */;
	const char *acc[] = { "the guide exists", "links\nwork" };
	devsys_pr_body b = DEVSYS_PR_BODY_INIT;
	devsys_masker *m = NULL;
	devsys_buf out = DEVSYS_BUF_INIT;
	char summary[256];
	snprintf(summary, sizeof(summary), "The agent used %s by mistake.", token);
	b.task_id = "t1";
	b.summary = summary;
	b.spec_path = "specs/t1.yaml";
	b.spec_id = "sha1:0123456789abcdef0123456789abcdef01234567";
	b.validation = "valid (0 errors)";
	b.acceptance = acc;
	b.nacceptance = 2;
	b.report = "tasks/t1/reports/1/summary.json";
	b.runner = "inproc";
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "gh_token", token, strlen(token)), 0);
	cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
	cr_assert_null(strstr(out.ptr, token), "%s", out.ptr);
	cr_assert(strstr(out.ptr, "[MASKED:gh_token]"), "%s", out.ptr);
	const char *wants[] = { "`t1`", "`specs/t1.yaml`", "sha1:0123456789abcdef", "valid (0 errors)",
		                "- [ ] the guide exists\n", "- [ ] links work\n", "tasks/t1/reports/1/summary.json",
		                "`inproc`" };
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++)
		cr_assert(strstr(out.ptr, wants[i]), "missing %s in:\n%s", wants[i], out.ptr);
	devsys_buf_dispose(&out);

	/* Version 2 carries the gate's decision; a version-1 caller's struct is read only that far. */
	b.gate = "awaiting-review (class medium)\nneeds-approval: 0 of 1";
	cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
	cr_assert(strstr(out.ptr, "### Merge gate") && strstr(out.ptr, "needs-approval: 0 of 1"), "%s", out.ptr);
	devsys_buf_dispose(&out);
	b.version = 1;
	cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
	cr_assert_null(strstr(out.ptr, "### Merge gate"), "a version-1 struct has no gate field");
	devsys_buf_dispose(&out);
	b.version = DEVSYS_PR_BODY_VERSION;
	b.gate = NULL;

	/* Version 3 carries the verification; a version-2 caller's struct is read only that far. */
	b.verification = "verified:           yes\nJUnit green:        yes";
	cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
	cr_assert(strstr(out.ptr, "### Verification") && strstr(out.ptr, "JUnit green:        yes"), "%s", out.ptr);
	devsys_buf_dispose(&out);
	b.version = 2;
	cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
	cr_assert_null(strstr(out.ptr, "### Verification"), "a version-2 struct has no verification field");
	devsys_buf_dispose(&out);
	b.version = DEVSYS_PR_BODY_VERSION;
	b.verification = NULL;

	/* Version 4 carries the agent's digest, capped at a line end, no ``` breaking out of its block;
	 * a version-3 caller's struct is read only that far. */
	{
		char *digest = malloc(20000);
		cr_assert_not_null(digest);
		digest[0] = '\0';
		strcat(digest, "steps: 2, tool calls: 1 ```\nfiles touched: hello.txt\n");
		while (strlen(digest) < 19900)
			strcat(digest, "step 9: write a-file-with-a-long-name.txt\n");
		b.agent = digest;
		cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
		const char *d = strstr(out.ptr, "### Coding agent\n\n```\nsteps: 2, tool calls: 1 '''\nfiles touched: hello.txt\n");
		cr_assert_not_null(d, "%s", out.ptr);
		const char *end = strstr(d + 20, "\n```\n");
		cr_assert_not_null(end);
		cr_assert_leq((size_t)(end - d), DEVSYS_PR_BODY_AGENT_MAX + 200, "the digest is capped");
		cr_assert(strstr(d, "long-name.txt\n(cut at "), "cut at a line end, and said: %.200s", end - 150);
		devsys_buf_dispose(&out);
		b.version = 3;
		cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
		cr_assert_null(strstr(out.ptr, "### Coding agent"), "a version-3 struct has no agent field");
		devsys_buf_dispose(&out);
		b.version = DEVSYS_PR_BODY_VERSION;

		/* One line longer than the cap, of two-byte characters: kept up to the cap, never cut
		 * to nothing, and never in the middle of a character. */
		digest[0] = '\0';
		while (strlen(digest) < 2 * DEVSYS_PR_BODY_AGENT_MAX)
			strcat(digest, "\xc3\xa9");
		cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0, "%s", gf_err());
		d = strstr(out.ptr, "### Coding agent\n\n```\n");
		cr_assert_not_null(d, "%s", out.ptr);
		d += strlen("### Coding agent\n\n```\n");
		end = strstr(d, "\n(cut at ");
		cr_assert_not_null(end, "the single line is cut and says so: %.200s", d);
		cr_assert_gt((size_t)(end - d), DEVSYS_PR_BODY_AGENT_MAX - 2, "kept up to the cap, not cut to nothing");
		cr_assert_leq((size_t)(end - d), DEVSYS_PR_BODY_AGENT_MAX);
		cr_assert_eq((end - d) % 2, 0, "cut between characters");
		devsys_buf_dispose(&out);
		b.agent = NULL;
		free(digest);
	}

	/* Positive control: without a masker the token is there. */
	cr_assert_eq(devsys_pr_body_build(&out, &b, NULL), 0);
	cr_assert(strstr(out.ptr, token));
	devsys_buf_dispose(&out);

	/* 70 000 characters of acceptance items: cut at a line end, with a note, within the cap. */
	static const char *many[2000];
	char item[40];
	snprintf(item, sizeof(item), "%s", "an acceptance criterion of 32 ch");
	for (int i = 0; i < 2000; i++)
		many[i] = item;
	b.acceptance = many;
	b.nacceptance = 2000;
	cr_assert_eq(devsys_pr_body_build(&out, &b, m), 0);
	cr_assert_leq(out.size, DEVSYS_PR_BODY_MAX);
	cr_assert(strstr(out.ptr, "the body was cut at"), "the cut is said");
	const char *note = strstr(out.ptr, "\n\n_(devsys: the body was cut");
	cr_assert_not_null(note);
	cr_assert_eq(note[-1], '\n', "cut after a whole line");
	cr_assert(note[-2] == 'h', "the last kept line is whole: ...%.40s", note - 40);
	devsys_buf_dispose(&out);
	devsys_masker_free(m);
}

Test(forge_local, pr_body_and_title_are_masked_before_they_reach_the_forge)
{
	struct fx f;
	const char *token = "tok_SECRET_9f8e7d6c5b4a";
	fx_open(&f, policy_yaml);
	fx_commit(&f, "docs/a.md", "a\n", "docs");
	devsys_masker *m = NULL;
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "forge_token", token, strlen(token)), 0);
	char body[256], title[128];
	snprintf(body, sizeof(body), "Here is the token: %s\n", token);
	snprintf(title, sizeof(title), "Leak %s", token);
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_pr *pr = NULL;
	po.title = title;
	po.body = body;
	po.head = devsys_repo_branch(f.repo);
	po.base = devsys_repo_base_branch(f.repo);
	po.masker = m;
	cr_assert_eq(devsys_pr_open(&pr, f.forge, &po), 0, "%s", gf_err());
	char *rec = dt_read_file(devsys_pr_url(pr), NULL);
	cr_assert_not_null(rec);
	cr_assert_null(strstr(rec, token), "the record holds what was sent: %s", rec);
	cr_assert(strstr(rec, "[MASKED:forge_token]"), "%s", rec);
	cr_assert_null(strstr(devsys_pr_title(pr), token));
	cr_assert(strstr(devsys_pr_title(pr), "Leak [MASKED:forge_token]"), "%s", devsys_pr_title(pr));
	devsys_pr_free(pr);
	/* A long title is cut to one line of at most 256 bytes, after masking. */
	char longt[600];
	memset(longt, 'x', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	po.title = longt;
	cr_assert_eq(devsys_pr_open(&pr, f.forge, &po), 0, "%s", gf_err());
	cr_assert_eq(strlen(devsys_pr_title(pr)), 256);
	cr_assert_eq(devsys_pr_number(pr), 1, "the same PR, retitled");
	devsys_pr_free(pr);
	po.title = "\nsecond line only";
	cr_assert_eq(devsys_pr_open(&pr, f.forge, &po), DEVSYS_EINVAL);
	po.title = "First line\nand more";
	cr_assert_eq(devsys_pr_open(&pr, f.forge, &po), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_pr_title(pr), "First line");
	cr_assert(!gf_tree_contains(f.bare, token), "nothing beside the remote has the token");
	devsys_pr_free(pr);
	devsys_masker_free(m);
	free(rec);
	fx_close(&f);
}

/* ---- bad input ---- */

static int forge_new_with(const char *yaml, const char *remote, devsys_secrets *s, devsys_forge **out)
{
	devsys_config *cfg = NULL;
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	int rc = devsys_config_parse(&cfg, yaml, strlen(yaml), "devsys.yaml");
	if (rc < 0)
		return rc;
	fo.remote_url = remote;
	fo.config = cfg;
	fo.secrets = s;
	rc = devsys_forge_new(out, &fo);
	devsys_config_free(cfg);
	return rc;
}

Test(forge_local, bad_provider_missing_secret_and_strict_config_are_clear_errors)
{
	devsys_forge *f = NULL;
	char *bare = gf_make_remote(dir, "proj");
	devsys_secrets *s = NULL;
	cr_assert_eq(devsys_secrets_new(&s, NULL), 0);

	/* A provider nobody registered: named, with where it was set. */
	cr_assert_eq(forge_new_with("forges:\n  git.example.test:\n    provider: gitlab\n",
	                            "https://git.example.test/o/r.git", s, &f), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "devsys.yaml:3:15") && strstr(gf_err(), "gitlab") && strstr(gf_err(), "local"),
	          "%s", gf_err());
	cr_assert_null(f);

	/* No entry for the host. */
	cr_assert_eq(forge_new_with("forges:\n  other.test:\n    provider: local\n", "git@git.example.test:o/r.git", s,
	                            &f), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "git.example.test") && strstr(gf_err(), "other.test"), "%s", gf_err());

	/* A token secret nobody declared. */
	cr_assert_eq(forge_new_with("forges:\n  local:\n    provider: local\n    token_secret: gh_token\n", bare, s, &f),
	             DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "devsys.yaml:4:19") && strstr(gf_err(), "gh_token") &&
	              strstr(gf_err(), "not declared"), "%s", gf_err());
	/* Declared through the entry, but its variable is unset: the secret is named, never a value. */
	unsetenv("F1_FORGE_TOKEN");
	const char *yaml = "forges:\n  local:\n    provider: local\n    token_secret: gh_token\n"
	                   "    token_provider: env\n    token_ref: F1_FORGE_TOKEN\n";
	cr_assert_eq(forge_new_with(yaml, bare, s, &f), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "gh_token") && strstr(gf_err(), "token_secret"), "%s", gf_err());
	/* Without any secrets set at all. */
	cr_assert_eq(forge_new_with(yaml, bare, NULL, &f), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "no secrets"), "%s", gf_err());
	/* Positive control: set, it resolves through the secrets module (and its masker knows it). */
	setenv("F1_FORGE_TOKEN", "forge-token-value-42", 1);
	cr_assert_eq(forge_new_with(yaml, bare, s, &f), 0, "%s", gf_err());
	devsys_masker *m = NULL;
	cr_assert_eq(devsys_secrets_masker(&m, s), 0);
	cr_assert_eq(devsys_masker_count(m), 1, "the token was resolved through the secrets module");
	devsys_masker_free(m);
	devsys_buf desc = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_forge_describe(&desc, f), 0);
	cr_assert_null(strstr(desc.ptr, "forge-token-value-42"), "%s", desc.ptr);
	devsys_buf_dispose(&desc);
	devsys_forge_free(f);
	f = NULL;
	unsetenv("F1_FORGE_TOKEN");

	/* Strict config: unknown key, bad merge method, bad host, token_ref without token_secret. */
	devsys_config *cfg = NULL;
	const char *bad[][2] = {
		{ "forges:\n  github.com:\n    provider: github\n    tokn: x\n", "devsys.yaml:4:5: forges.github.com.tokn: unknown key" },
		{ "forges:\n  github.com:\n    provider: github\n    merge_method: octopus\n", "devsys.yaml:4:19: forges.github.com.merge_method" },
		{ "forges:\n  'bad host':\n    provider: github\n", "devsys.yaml:2:3: forges: 'bad host'" },
		{ "forges:\n  github.com:\n    provider: github\n    token_ref: X\n", "forges.github.com.token_ref: needs token_secret" },
		{ "forges:\n  github.com:\n    base_url: https://api.github.com\n", "forges.github.com: 'provider' is missing" },
		{ "forges:\n  github.com:\n    provider: github\n    base_url: https://u:p@api.github.com\n", "must not carry credentials" },
		{ "forges:\n  github.com:\n    provider: github\n  GitHub.com:\n    provider: github\n", "host given twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(devsys_config_parse(&cfg, bad[i][0], strlen(bad[i][0]), "devsys.yaml"), DEVSYS_EINVALID,
		             "case %zu", i);
		cr_assert(strstr(gf_err(), bad[i][1]), "case %zu: %s", i, gf_err());
		cr_assert_null(cfg);
	}

	/* The environment overrides an entry's key, and cannot invent an entry. */
	const char *good = "forges:\n  git.example.test:\n    provider: gitea\n    merge_method: squash\n";
	setenv("DEVSYS_FORGE_GIT_EXAMPLE_TEST_MERGE_METHOD", "rebase", 1);
	cr_assert_eq(devsys_config_parse(&cfg, good, strlen(good), "devsys.yaml"), 0, "%s", gf_err());
	const char *v = NULL, *where = NULL, *entry = NULL;
	cr_assert_eq(devsys_config_forge_match(&entry, cfg, "GIT.example.test:3000"), 0);
	cr_assert_str_eq(entry, "git.example.test");
	cr_assert_eq(devsys_config_forge_value(&v, &where, cfg, entry, "merge_method"), 0);
	cr_assert_str_eq(v, "rebase");
	cr_assert(strstr(where, "environment DEVSYS_FORGE_GIT_EXAMPLE_TEST_MERGE_METHOD"), "%s", where);
	devsys_config_free(cfg);
	cfg = NULL;
	setenv("DEVSYS_FORGE_GIT_EXAMPLE_TEST_MERGE_METHOD", "octopus", 1);
	cr_assert_eq(devsys_config_parse(&cfg, good, strlen(good), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(gf_err(), "environment DEVSYS_FORGE_GIT_EXAMPLE_TEST_MERGE_METHOD"), "%s", gf_err());
	unsetenv("DEVSYS_FORGE_GIT_EXAMPLE_TEST_MERGE_METHOD");
	setenv("DEVSYS_FORGE_NOWHERE_TEST_PROVIDER", "github", 1);
	cr_assert_eq(devsys_config_parse(&cfg, good, strlen(good), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(gf_err(), "NOWHERE_TEST"), "%s", gf_err());
	unsetenv("DEVSYS_FORGE_NOWHERE_TEST_PROVIDER");

	/* The host forges: matches by. */
	devsys_buf hb = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_forge_remote_host(&hb, "https://GitHub.com:8443/o/r.git"), 0);
	cr_assert_str_eq(hb.ptr, "github.com:8443");
	devsys_buf_clear(&hb);
	cr_assert_eq(devsys_forge_remote_host(&hb, "ssh://git@git.example.test:2222/o/r.git"), 0);
	cr_assert_str_eq(hb.ptr, "git.example.test", "ssh's port says nothing about the forge");
	devsys_buf_clear(&hb);
	cr_assert_eq(devsys_forge_remote_host(&hb, "git@git.example.test:o/r.git"), 0);
	cr_assert_str_eq(hb.ptr, "git.example.test");
	devsys_buf_clear(&hb);
	cr_assert_eq(devsys_forge_remote_host(&hb, bare), 0);
	cr_assert(hb.ptr == NULL || !*hb.ptr, "a local path has no host");
	cr_assert_eq(devsys_forge_remote_host(&hb, "not a url"), DEVSYS_EINVAL);
	devsys_buf_dispose(&hb);

	/* A remote that is not a bare repository, and a remote with credentials. */
	cr_assert_eq(forge_new_with("", "/nonexistent/repo.git", s, &f), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "/nonexistent/repo.git"), "%s", gf_err());
	cr_assert_eq(forge_new_with("", "https://user:pw@github.com/o/r", s, &f), DEVSYS_EINVAL);
	cr_assert_null(strstr(gf_err(), "pw@"), "%s", gf_err());

	/* An unknown PR number. */
	cr_assert_eq(forge_new_with("", bare, s, &f), 0, "%s", gf_err());
	devsys_pr *pr = NULL;
	cr_assert_eq(devsys_pr_get(&pr, f, 42), DEVSYS_ENOTFOUND);
	cr_assert(strstr(gf_err(), "#42"), "%s", gf_err());
	cr_assert_null(pr);
	devsys_forge_free(f);
	devsys_secrets_free(s);
	free(bare);
}

/* ---- git credentials through the secrets module ---- */

Test(forge_local, git_credentials_come_from_the_forge_secret_only_for_its_host)
{
	devsys_forge_vtable vt;
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_FORGE_VTABLE_VERSION;
	vt.name = "stub2";
	vt.open = stub_open;
	vt.close = stub_close;
	vt.pr_upsert = stub_upsert;
	vt.pr_get = stub_get;
	cr_assert_eq(devsys_forge_register(&vt, NULL), 0, "%s", gf_err());
	devsys_secrets *s = NULL;
	cr_assert_eq(devsys_secrets_new(&s, NULL), 0);
	setenv("F1_GIT_TOKEN", "from-the-secrets-module-1234", 1);
	setenv("GITHUB_TOKEN", "from-the-environment-5678", 1);
	devsys_forge *f = NULL;
	cr_assert_eq(forge_new_with("forges:\n  git.example.test:\n    provider: stub2\n    token_secret: git_tok\n"
	                            "    token_provider: env\n    token_ref: F1_GIT_TOKEN\n",
	                            "https://git.example.test/o/r.git", s, &f), 0, "%s", gf_err());
	devsys_repo_credential c;
	cr_assert_eq(devsys_forge_credentials(&c, "https://git.example.test/o/r.git", NULL, DEVSYS_REPO_CRED_USERPASS, 1,
	                                      f), 0);
	cr_assert_eq(c.type, DEVSYS_REPO_CRED_USERPASS);
	cr_assert_str_eq(c.secret, "from-the-secrets-module-1234");
	cr_assert_str_eq(c.username, "x-access-token");
	/* Another host, ssh, a second attempt: pass. */
	cr_assert_eq(devsys_forge_credentials(&c, "https://evil.example.test/o/r.git", NULL, DEVSYS_REPO_CRED_USERPASS, 1,
	                                      f), 1);
	cr_assert_eq(devsys_forge_credentials(&c, "ssh://git@git.example.test/o/r.git", NULL,
	                                      DEVSYS_REPO_CRED_SSH_KEY | DEVSYS_REPO_CRED_SSH_AGENT, 1, f), 1);
	cr_assert_eq(devsys_forge_credentials(&c, "https://git.example.test/o/r.git", NULL, DEVSYS_REPO_CRED_USERPASS, 2,
	                                      f), 1);
	/* The key-only provider never reads the environment's token; the default (the fallback) does. */
	devsys_repo_options ro = DEVSYS_REPO_OPTIONS_INIT;
	cr_assert_eq(devsys_repo_key_credentials(&c, "https://git.example.test/o/r.git", NULL, DEVSYS_REPO_CRED_USERPASS,
	                                         1, &ro), 1);
	cr_assert_eq(devsys_repo_default_credentials(&c, "https://git.example.test/o/r.git", NULL,
	                                             DEVSYS_REPO_CRED_USERPASS, 1, &ro), 0);
	cr_assert_str_eq(c.secret, "from-the-environment-5678");
	unsetenv("GITHUB_TOKEN");
	unsetenv("F1_GIT_TOKEN");
	devsys_forge_free(f);
	devsys_secrets_free(s);
	cr_assert_eq(devsys_forge_unregister("stub2"), 0);
}

/* ---- a provider that lists through every sink: the gate without a checkout ---- */

static int sinky_truncate;
static int sinky_draft;

static int sinky_get(void *self, devsys_forge_pr_info *out, int64_t n)
{
	(void)self;
	out->number = n;
	out->head = "task/9";
	out->base = "main";
	out->head_sha = "2222222222222222222222222222222222222222";
	out->author = "devsys-bot";
	out->draft = sinky_draft;
	return 0;
}

static int sinky_reviews(void *self, devsys_forge_sink *s, int64_t n)
{
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	(void)self;
	(void)n;
	r.reviewer = "carol";
	r.commit_sha = "2222222222222222222222222222222222222222";
	r.state = DEVSYS_REVIEW_APPROVED;
	cr_assert_eq(devsys_forge_sink_check(s, &(devsys_policy_check)DEVSYS_POLICY_CHECK_INIT), DEVSYS_EINVAL,
	             "a review sink takes no checks");
	return devsys_forge_sink_review(s, &r);
}

static int sinky_statuses(void *self, devsys_forge_sink *s, const char *sha)
{
	devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
	(void)self;
	c.context = "ci/other";
	c.sha = sha;
	c.state = DEVSYS_CHECK_SUCCESS;
	return devsys_forge_sink_check(s, &c);
}

static int sinky_runs(void *self, devsys_forge_sink *s, const char *sha)
{
	devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
	(void)self;
	c.context = "devsys/tests"; /* an Actions job: a check run, not a status */
	c.sha = sha;
	c.state = DEVSYS_CHECK_SUCCESS;
	c.kind = DEVSYS_CHECK_RUN;
	return devsys_forge_sink_check(s, &c);
}

static int sinky_files(void *self, devsys_forge_sink *s, int64_t n)
{
	int rc;
	(void)self;
	(void)n;
	cr_assert_eq(devsys_forge_sink_author(s, "x"), DEVSYS_EINVAL, "a file sink takes no authors");
	if ((rc = devsys_forge_sink_file(s, "docs/new.md", "docs/old.md")) < 0)
		return rc;
	return sinky_truncate ? devsys_forge_sink_truncated(s) : 0;
}

static int sinky_authors(void *self, devsys_forge_sink *s, int64_t n)
{
	(void)self;
	(void)n;
	return devsys_forge_sink_author(s, "carol");
}

Test(forge_local, gate_without_checkout_uses_the_forge_lists_and_fails_closed_on_truncation)
{
	devsys_forge_vtable vt;
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_FORGE_VTABLE_VERSION;
	vt.name = "sinky";
	vt.open = stub_open;
	vt.close = stub_close;
	vt.pr_upsert = stub_upsert;
	vt.pr_get = sinky_get;
	vt.pr_reviews = sinky_reviews;
	vt.statuses = sinky_statuses;
	vt.check_runs = sinky_runs;
	vt.pr_files = sinky_files;
	vt.pr_authors = sinky_authors;
	cr_assert_eq(devsys_forge_register(&vt, NULL), 0, "%s", gf_err());

	devsys_config *cfg = NULL;
	const char *yaml = "policy:\n  auto_merge: true\nforges:\n  forge.example.test:\n    provider: sinky\n"
	                   "    merge_method: fast-forward\n";
	cr_assert_eq(devsys_config_parse(&cfg, yaml, strlen(yaml), "devsys.yaml"), 0, "%s", gf_err());
	cr_assert_eq(devsys_config_forge_count(cfg), 1);
	cr_assert_str_eq(devsys_config_forge_host(cfg, 0), "forge.example.test");
	cr_assert_null(devsys_config_forge_host(cfg, 1));

	devsys_forge_options fo;
	cr_assert_eq(devsys_forge_options_init(&fo, 99), DEVSYS_EVERSION);
	cr_assert_eq(devsys_forge_options_init(&fo, DEVSYS_FORGE_OPTIONS_VERSION), 0);
	fo.remote_url = "git@forge.example.test:org/proj.git";
	fo.config = cfg;
	devsys_forge *f = NULL;
	cr_assert_eq(devsys_forge_new(&f, &fo), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_forge_provider(f), "sinky");
	cr_assert_eq(devsys_forge_merge_method_of(f), DEVSYS_FORGE_MERGE_FAST_FORWARD);
	cr_assert_str_eq(devsys_forge_merge_method_name(DEVSYS_FORGE_MERGE_SQUASH), "squash");
	cr_assert_str_eq(devsys_forge_merge_method_name(42), "?");
	int m = -1;
	cr_assert_eq(devsys_forge_merge_method_from_name(&m, "rebase"), 0);
	cr_assert_eq(m, DEVSYS_FORGE_MERGE_REBASE);
	cr_assert_eq(devsys_forge_merge_method_from_name(&m, "octopus"), DEVSYS_EINVALID);
	cr_assert(strstr(gf_err(), "octopus"), "%s", gf_err());

	devsys_pr *pr = NULL;
	cr_assert_eq(devsys_pr_get(&pr, f, 9), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_pr_author(pr), "devsys-bot");
	cr_assert_str_eq(devsys_pr_state_name(devsys_pr_state_of(pr)), "open");
	cr_assert_str_eq(devsys_pr_state_name(7), "?");

	const devsys_policy *pol = NULL;
	cr_assert_eq(devsys_config_policy(&pol, cfg), 0);
	devsys_gate_options go;
	cr_assert_eq(devsys_gate_options_init(&go, DEVSYS_GATE_OPTIONS_VERSION), 0);
	cr_assert_eq(go.profile_risk, DEVSYS_RISK_UNSET);
	go.policy = pol;
	devsys_policy_decision *d = NULL;

	/* A truncated list and no checkout: nothing can say what changed, so the
	 * decision is blocked (not an error), classed by what the list does name. */
	sinky_truncate = 1;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_BLOCKED, "%s", explain(d));
	cr_assert(reason_of(d, DEVSYS_POLICY_R_PATHS_MISMATCH) &&
	              strstr(reason_of(d, DEVSYS_POLICY_R_PATHS_MISMATCH), "truncated (1 path listed)"),
	          "%s", explain(d));
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_LOW);
	devsys_policy_decision_free(d);

	/* Complete: a low rename; the check run meets devsys/tests; carol is a commit author. */
	sinky_truncate = 0;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_risk(d), DEVSYS_RISK_LOW);
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_MERGE, "%s", explain(d));
	devsys_policy_decision_free(d);
	go.require_approval = 1;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_AWAITING_REVIEW,
	             "the author's approval does not count: %s", explain(d));
	cr_assert(has_reason(d, DEVSYS_POLICY_R_NOT_COUNTED));
	devsys_policy_decision_free(d);
	go.require_approval = 0;
	sinky_draft = 1;
	cr_assert_eq(devsys_gate_check(&d, pr, &go), 0, "%s", gf_err());
	cr_assert_eq(devsys_policy_decision_outcome(d), DEVSYS_POLICY_BLOCKED);
	cr_assert(has_reason(d, DEVSYS_POLICY_R_DRAFT));
	devsys_policy_decision_free(d);
	sinky_draft = 0;
	/* No merge slot: the gate's merge says so, and nothing else merges. */
	cr_assert_eq(devsys_gate_merge(&d, pr, &go), DEVSYS_ENOTSUPPORTED);
	cr_assert(strstr(gf_err(), "sinky"), "%s", gf_err());

	/* The options' version tables. */
	devsys_pr_options po;
	cr_assert_eq(devsys_pr_options_init(&po, 0), DEVSYS_EVERSION);
	cr_assert_eq(devsys_pr_options_init(&po, DEVSYS_PR_OPTIONS_VERSION), 0);
	cr_assert_eq(po.version, DEVSYS_PR_OPTIONS_VERSION);
	cr_assert_null(po.title);

	devsys_pr_free(pr);
	devsys_forge_free(f);
	devsys_config_free(cfg);
	cr_assert_eq(devsys_forge_unregister("sinky"), 0);
}
