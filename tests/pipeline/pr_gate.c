/*
 * The pr and gate stages on the `local` forge: a real bare repository on
 * file://, a script agent on the inproc runner, PR records in the bare
 * repository's devsys/ folder. A kill -9 right after the PR marker is a real
 * SIGKILL of a child process running the stage.
 *
 * The test, deploy and verify stages between pr and gate are not part of
 * these tests: a task is moved from pr-opened to deploy-skipped with the
 * store's public transitions, and verify's end is written through the
 * record, as that stage writes it; the required status the gate reads is
 * set through the forge, as the test stage sets it.
 */
#include "pipeline_fixture.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;

static void open_pipeline(const char *config)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	char path[4096];
	devsys_pipeline_free(pl);
	pl = NULL;
	ro.grace_ms = 200;
	po.runner = &ro;
	if (config) {
		snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
		cr_assert(dt_write_file(path, config));
		po.config_path = path;
	}
	pl = dt_pipe_open(ws, &po);
}

static void setup(void)
{
	dir = dt_pipe_repo("pipeprgate", "mkdir -p src docs && echo 'int hello(void) { return 0; }' > src/hello.c &&"
	                                 " echo '# Guide' > docs/guide.md && echo hello > README.md");
	ws = dt_pipe_workspace(dir);
	open_pipeline(NULL);
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

TestSuite(pipeline_pr_gate, .init = setup, .fini = teardown, .timeout = 120);

/* Validate a spec whose agent runs @p script (sh), then the coding stages up to push. */
static void coded(const char *id, const char *script, const char *extra)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char spec[4096], path[4096];
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, script));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Change for %s\ndescription: The task %s changes the sample.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n%s"
	         "agent:\n  command: [/bin/sh, %s]\n"
	         "deploy:\n  command: [/bin/true]\n  acceptance:\n    - name: home page answers\n"
	         "      http:\n        url: http://127.0.0.1:9/\n",
	         id, id, id, dir, extra ? extra : "", path);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "pushed");
}

static json_t *load_json(const char *fmt, const char *a, const char *b)
{
	char p[4096];
	json_t *j;
	snprintf(p, sizeof(p), fmt, a, b);
	j = json_load_file(p, 0, NULL);
	cr_assert_not_null(j, "%s", p);
	return j;
}

static json_t *task_json(const char *id)
{
	return load_json("%s/tasks/%s/task.json", dir, id);
}

/* The local forge's record of PR @p n. */
static json_t *pr_record(int n)
{
	char num[16];
	snprintf(num, sizeof(num), "%d", n);
	return load_json("%s/remote.git/devsys/prs/%s.json", dir, num);
}

/* How many PR records the local forge keeps. */
static int pr_count(void)
{
	int st;
	char *out = dt_sh_output(&st, "ls '%s/remote.git/devsys/prs' 2>/dev/null | grep -c '\\.json$'", dir);
	int n = out ? atoi(out) : -1;
	free(out);
	return n;
}

static int state_of(const char *id)
{
	return devsys_store_task_state(devsys_pipeline_store(pl), id);
}

static void run_stage_ok(const char *stage, const char *outcome)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, stage), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.stage, stage);
	cr_assert_str_eq(r.outcome, outcome);
}

/* Count events of @p type in the task's events.jsonl. */
static int events_of(const char *id, const char *type)
{
	char pat[128];
	int st, n;
	char *out;
	snprintf(pat, sizeof(pat), "\"type\":\"%s\"", type);
	out = dt_sh_output(&st, "grep -c '%s' '%s/tasks/%s/events.jsonl'", pat, dir, id);
	n = out ? atoi(out) : -1;
	free(out);
	return n;
}

Test(pipeline_pr_gate, the_pr_carries_the_task_metadata_and_its_number_goes_to_the_record)
{
	coded("pr-1", "echo 'int hello(void) { return 1; }' > src/hello.c\n",
	      "  pr:\n    labels: [devsys, agent]\n    reviewers: [alice]\n");
	run_stage_ok("pr", "pr-opened");
	cr_assert_eq(state_of("pr-1"), DEVSYS_STATE_PR_OPENED);
	cr_assert_eq(pr_count(), 1);

	json_t *pr = pr_record(1), *tj = task_json("pr-1");
	const char *body = json_string_value(json_object_get(pr, "body"));
	const char *hash = json_string_value(json_object_get(tj, "spec_hash"));
	cr_assert_not_null(body);
	cr_assert_str_eq(json_string_value(json_object_get(pr, "title")), "Change for pr-1");
	cr_assert_str_eq(json_string_value(json_object_get(pr, "head")), "task/pr-1");
	cr_assert_str_eq(json_string_value(json_object_get(pr, "base")), "main");
	cr_assert(json_is_true(json_object_get(pr, "draft")), "draft by default");
	cr_assert(strstr(body, "pr-1") && strstr(body, "The task pr-1 changes the sample."), "%s", body);
	cr_assert(hash && strncmp(hash, "sha1:", 5) == 0 && strstr(body, hash), "the spec's content id: %s", body);
	cr_assert(strstr(body, "home page answers"), "the acceptance checklist: %s", body);
	cr_assert(strstr(body, "inproc"), "the runner: %s", body);
	cr_assert_eq(json_array_size(json_object_get(pr, "labels")), 2);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(pr, "reviewers"), 0)), "alice");
	/* the head the forge has is the pushed commit */
	int st;
	char *pushed = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse task/pr-1", dir);
	cr_assert(pushed && strncmp(pushed, json_string_value(json_object_get(pr, "head_sha")), 40) == 0);
	free(pushed);

	/* the marker */
	json_t *m = json_object_get(tj, "pr");
	cr_assert_eq(json_integer_value(json_object_get(m, "number")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(m, "provider")), "local");
	cr_assert(strstr(json_string_value(json_object_get(m, "url")), "prs/1.json"));
	cr_assert_eq(json_integer_value(json_object_get(tj, "pr_number")), 1, "the key `devsys pr` reads");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(tj, "stages"), "pr"), "result")),
	                 "ok");
	cr_assert_eq(events_of("pr-1", "pr.opened"), 1);
	json_decref(pr);
	json_decref(tj);

	/* a second task gets a PR of its own: the count can grow */
	coded("pr-2", "echo more >> README.md\n", NULL);
	run_stage_ok("pr", "pr-opened");
	cr_assert_eq(pr_count(), 2);
	tj = task_json("pr-2");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(tj, "pr"), "number")), 2);
	json_decref(tj);

	/* the stage does not run twice: the task is past it */
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "pr"), DEVSYS_ESTATE);
	cr_assert_eq(pr_count(), 2);
}

Test(pipeline_pr_gate, an_open_pr_for_the_branch_is_reused_not_duplicated)
{
	coded("reuse-1", "echo change >> README.md\n", NULL);
	/* a PR for the branch already exists (opened before the stage, e.g. by `devsys pr open`
	 * or a run killed between the forge's answer and the marker) */
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_forge *f = NULL;
	devsys_pr *pr = NULL;
	char url[4200];
	snprintf(url, sizeof(url), "file://%s/remote.git", dir);
	fo.remote_url = url;
	cr_assert_eq(devsys_forge_new(&f, &fo), 0, "%s", dt_errmsg());
	po.title = "opened by hand";
	po.head = "task/reuse-1";
	po.base = "main";
	cr_assert_eq(devsys_pr_open(&pr, f, &po), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pr_number(pr), 1);
	devsys_pr_free(pr);
	devsys_forge_free(f);

	run_stage_ok("pr", "pr-reused");
	cr_assert_eq(pr_count(), 1, "no second PR");
	json_t *rec = pr_record(1), *tj = task_json("reuse-1");
	cr_assert_str_eq(json_string_value(json_object_get(rec, "title")), "Change for reuse-1", "updated by the stage");
	cr_assert(strstr(json_string_value(json_object_get(rec, "body")), "reuse-1"));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(tj, "pr"), "number")), 1);
	cr_assert(json_is_true(json_object_get(json_object_get(tj, "pr"), "reused")));
	json_decref(rec);
	json_decref(tj);
}

/* The child: run the pr stage and die by SIGKILL right after the marker
 * (the stage's progress event comes after it, before the stage's end). */
static int kill_after_marker(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_PROGRESS && ev->stage && strcmp(ev->stage, "pr") == 0)
		raise(SIGKILL);
	return 0;
}

static void child_pr_stage(const char *id)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_workspace *cws = NULL;
	devsys_pipeline *cp = NULL;
	po.runner = &ro;
	po.progress = kill_after_marker;
	if (devsys_init() < 1 || devsys_workspace_open(&cws, dir, NULL) < 0 || devsys_pipeline_new(&cp, cws, &po) < 0 ||
	    devsys_pipeline_load(cp, id) < 0)
		_exit(3);
	devsys_pipeline_run_stage(NULL, cp, "pr");
	_exit(4); /* not reached when the stage got to its marker */
}

Test(pipeline_pr_gate, a_kill_9_after_the_pr_marker_then_resume_makes_no_second_pr)
{
	coded("kill-1", "echo change >> README.md\n", NULL);
	/* the child opens its own store connection: none is carried across the fork */
	devsys_pipeline_free(pl);
	pl = NULL;
	pid_t pid = fork();
	if (pid == 0) /* no assertion before this: the child must never talk to the test runner */
		child_pr_stage("kill-1");
	cr_assert_neq(pid, -1);
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was killed at the marker (status %d)",
	          status);

	/* killed mid-stage: the PR and its marker exist, the stage never ended */
	open_pipeline(NULL);
	cr_assert_eq(pr_count(), 1);
	json_t *tj = task_json("kill-1");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(tj, "pr"), "number")), 1);
	cr_assert_not(json_is_string(json_object_get(json_object_get(json_object_get(tj, "stages"), "pr"), "result")),
	              "the stage has no result");
	json_decref(tj);
	size_t n = 0;
	cr_assert_eq(devsys_store_recover(devsys_pipeline_store(pl), &n), 0, "%s", dt_errmsg());
	cr_assert_eq(state_of("kill-1"), DEVSYS_STATE_INTERRUPTED, "the dead owner's task is interrupted");

	/* resume, as `devsys run --resume` does */
	cr_assert_eq(devsys_pipeline_load(pl, "kill-1"), 0, "%s", dt_errmsg());
	run_stage_ok("pr", "pr-reused");
	cr_assert_eq(pr_count(), 1, "no second PR after the resume");
	cr_assert_eq(state_of("kill-1"), DEVSYS_STATE_PR_OPENED);
	cr_assert_eq(events_of("kill-1", "pr.opened"), 2, "one per run, both for PR #1");
}

/* Move a task that has its PR past test, deploy (none) and verify, as those stages would. */
static void past_verify(const char *id)
{
	devsys_store *st = devsys_pipeline_store(pl);
	devsys_task *t = NULL;
	devsys_record *rec = NULL;
	cr_assert_eq(devsys_store_transition(st, id, DEVSYS_STATE_TESTED, "test"), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_store_transition(st, id, DEVSYS_STATE_DEPLOY_SKIPPED, "deploy"), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_task_open(&t, ws, id, 0), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_record_open(&rec, t), 0);
	cr_assert_eq(devsys_record_stage_begin(rec, "verify"), 0);
	cr_assert_eq(devsys_record_stage_end(rec, "verify", "ok", NULL), 0);
	cr_assert_eq(devsys_record_save(rec), 0, "%s", dt_errmsg());
	devsys_record_free(rec);
	devsys_task_free(t);
}

/* Set @p context on task @p id's pushed head, as the stage owning it does. */
static void set_status(const char *id, const char *context, int state)
{
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_forge *f = NULL;
	char url[4200], ref[256];
	int st;
	snprintf(url, sizeof(url), "file://%s/remote.git", dir);
	snprintf(ref, sizeof(ref), "task/%s", id);
	char *sha = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse %s", dir, ref);
	cr_assert(sha && strlen(sha) >= 40);
	sha[40] = '\0';
	fo.remote_url = url;
	cr_assert_eq(devsys_forge_new(&f, &fo), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_forge_set_status(f, sha, context, state, "set by the test", NULL), 0, "%s", dt_errmsg());
	devsys_forge_free(f);
	free(sha);
}

static json_t *gate_of(json_t *tj)
{
	json_t *g = json_object_get(tj, "gate");
	cr_assert(json_is_object(g), "task.json has the gate's decision");
	return g;
}

/* Does the decision's reasons array mention @p word? */
static bool reasons_mention(json_t *g, const char *word)
{
	char *t = json_dumps(json_object_get(g, "reasons"), 0);
	bool yes = t && strstr(t, word);
	free(t);
	return yes;
}

static char *main_sha(void)
{
	int st;
	return dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse main", dir);
}

/* PR #1 is open, its body shows the decision (@p word), and main is still at @p before (freed). */
static void assert_not_merged(char *before, const char *word)
{
	json_t *pr = pr_record(1);
	cr_assert_str_eq(json_string_value(json_object_get(pr, "state")), "open", "not merged");
	cr_assert(strstr(json_string_value(json_object_get(pr, "body")), word), "the PR body shows the decision: %s",
	          json_string_value(json_object_get(pr, "body")));
	json_decref(pr);
	char *after = main_sha();
	cr_assert_str_eq(after, before, "main did not move");
	free(before);
	free(after);
}

Test(pipeline_pr_gate, a_source_change_waits_for_review_and_is_not_merged)
{
	coded("src-1", "echo 'int hello(void) { return 1; }' > src/hello.c\n", "  pr:\n    draft: false\n");
	run_stage_ok("pr", "pr-opened");
	set_status("src-1", "devsys/tests", DEVSYS_CHECK_SUCCESS);
	past_verify("src-1");
	char *before = main_sha();
	run_stage_ok("gate", "awaiting-review");
	cr_assert_eq(state_of("src-1"), DEVSYS_STATE_AWAITING_REVIEW);

	json_t *tj = task_json("src-1"), *g = gate_of(tj);
	cr_assert_str_eq(json_string_value(json_object_get(g, "decision")), "awaiting-review");
	cr_assert_str_eq(json_string_value(json_object_get(g, "class")), "critical", "src/** is critical");
	cr_assert_str_eq(json_string_value(json_object_get(g, "outcome")), "awaiting-review");
	cr_assert_eq(json_integer_value(json_object_get(g, "pr")), 1);
	cr_assert(json_array_size(json_object_get(g, "reasons")) > 0);
	json_decref(tj);
	cr_assert_eq(events_of("src-1", "gate.decision"), 1);

	assert_not_merged(before, "awaiting-review");
	cr_assert_eq(pr_count(), 1, "the body update made no second PR");

	/* resting: nothing is left to run */
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "gate"), DEVSYS_ESTATE);
}

static const char *const auto_merge_yaml = "policy:\n  auto_merge: true\n  required_contexts: [devsys/tests]\n";

Test(pipeline_pr_gate, a_docs_only_change_with_green_checks_auto_merges_under_a_policy_that_allows_it)
{
	open_pipeline(auto_merge_yaml);
	coded("docs-1", "echo 'More guidance.' >> docs/guide.md\n", "  pr:\n    draft: false\n");
	run_stage_ok("pr", "pr-opened");
	set_status("docs-1", "devsys/tests", DEVSYS_CHECK_SUCCESS);
	past_verify("docs-1");
	char *before = main_sha();
	run_stage_ok("gate", "merged");
	cr_assert_eq(state_of("docs-1"), DEVSYS_STATE_DONE);

	json_t *tj = task_json("docs-1"), *g = gate_of(tj);
	cr_assert_str_eq(json_string_value(json_object_get(g, "decision")), "merge");
	cr_assert_str_eq(json_string_value(json_object_get(g, "class")), "low");
	cr_assert_str_eq(json_string_value(json_object_get(g, "outcome")), "merged");
	cr_assert(json_is_string(json_object_get(g, "merge_sha")));
	json_decref(tj);
	json_t *pr = pr_record(1);
	cr_assert_str_eq(json_string_value(json_object_get(pr, "state")), "merged");
	cr_assert(strstr(json_string_value(json_object_get(pr, "body")), "merge"), "the decision in the body");
	json_decref(pr);
	char *after = main_sha();
	cr_assert_str_neq(after, before, "main moved");
	cr_assert_eq(dt_sh("git --git-dir='%s/remote.git' show main:docs/guide.md | grep -q 'More guidance.'", dir), 0);
	free(before);
	free(after);
	/* the state went awaiting-review, merged, done: each a state event */
	cr_assert_eq(dt_sh("grep -q '\"to\":\"merged\"' '%s/tasks/docs-1/events.jsonl'", dir), 0);
}

Test(pipeline_pr_gate, a_docs_only_change_without_its_required_status_is_not_merged)
{
	/* control of the test above: the same change and policy, but devsys/tests never reported */
	open_pipeline(auto_merge_yaml);
	coded("docs-2", "echo 'More guidance.' >> docs/guide.md\n", "  pr:\n    draft: false\n");
	run_stage_ok("pr", "pr-opened");
	past_verify("docs-2");
	char *before = main_sha();
	run_stage_ok("gate", "awaiting-review");
	cr_assert_eq(state_of("docs-2"), DEVSYS_STATE_AWAITING_REVIEW);
	json_t *tj = task_json("docs-2"), *g = gate_of(tj);
	cr_assert_str_eq(json_string_value(json_object_get(g, "decision")), "blocked");
	cr_assert_str_eq(json_string_value(json_object_get(g, "class")), "low");
	cr_assert(reasons_mention(g, "check-pending") && reasons_mention(g, "devsys/tests"),
	          "the missing context is the reason");
	json_decref(tj);
	json_t *pr = pr_record(1);
	cr_assert_str_eq(json_string_value(json_object_get(pr, "state")), "open");
	json_decref(pr);
	char *after = main_sha();
	cr_assert_str_eq(after, before);
	free(before);
	free(after);
}

Test(pipeline_pr_gate, a_draft_pr_is_blocked_and_rests_in_awaiting_review)
{
	/* the schema's default is a draft: even low and green, the gate does not merge it */
	open_pipeline(auto_merge_yaml);
	coded("draft-1", "echo 'More guidance.' >> docs/guide.md\n", NULL);
	run_stage_ok("pr", "pr-opened");
	set_status("draft-1", "devsys/tests", DEVSYS_CHECK_SUCCESS);
	past_verify("draft-1");
	run_stage_ok("gate", "awaiting-review");
	json_t *tj = task_json("draft-1"), *g = gate_of(tj);
	cr_assert_str_eq(json_string_value(json_object_get(g, "decision")), "blocked");
	cr_assert(reasons_mention(g, "draft"));
	json_decref(tj);
	json_t *pr = pr_record(1);
	cr_assert_str_eq(json_string_value(json_object_get(pr, "state")), "open");
	json_decref(pr);
}

/* A docs change, green and ready, on a main that got a src/ commit before the task was checked out;
 * with @p rewind, main is then force-pushed back behind that commit, so the forge's file list (from
 * the older merge base) names src/base.c, which the task never changed. */
static void gate_after_main_moved(const char *id, bool rewind)
{
	open_pipeline(auto_merge_yaml);
	cr_assert_eq(dt_sh("cd '%s/seed' && mkdir -p src && echo 'int base;' > src/base.c && git add src/base.c &&"
	                   " git commit -qm base && git push -q origin main",
	                   dir),
	             0);
	coded(id, "echo 'More guidance.' >> docs/guide.md\n", "  pr:\n    draft: false\n");
	run_stage_ok("pr", "pr-opened");
	set_status(id, "devsys/tests", DEVSYS_CHECK_SUCCESS);
	past_verify(id);
	if (rewind)
		cr_assert_eq(dt_sh("git --git-dir='%s/remote.git' update-ref refs/heads/main refs/heads/main~1", dir), 0);
}

Test(pipeline_pr_gate, a_forge_file_list_that_disagrees_with_the_checkout_is_a_blocked_decision_not_a_failure)
{
	gate_after_main_moved("lists-1", true);
	char *before = main_sha();
	run_stage_ok("gate", "awaiting-review");
	cr_assert_eq(state_of("lists-1"), DEVSYS_STATE_AWAITING_REVIEW, "it rests for a human, not failed");
	json_t *tj = task_json("lists-1"), *g = gate_of(tj);
	cr_assert_str_eq(json_string_value(json_object_get(g, "decision")), "blocked");
	cr_assert_str_eq(json_string_value(json_object_get(g, "outcome")), "awaiting-review");
	cr_assert_str_eq(json_string_value(json_object_get(g, "class")), "critical", "the higher of the two lists");
	cr_assert(reasons_mention(g, "paths-mismatch") && reasons_mention(g, "src/base.c") &&
	              !reasons_mention(g, "docs/guide.md"),
	          "the reason names the path only the forge lists");
	json_t *gs = json_object_get(json_object_get(tj, "stages"), "gate");
	cr_assert_str_eq(json_string_value(json_object_get(gs, "result")), "ok");
	json_decref(tj);
	cr_assert_eq(events_of("lists-1", "gate.decision"), 1);
	assert_not_merged(before, "paths-mismatch");
}

Test(pipeline_pr_gate, the_same_change_whose_lists_agree_merges)
{
	/* control of the test above: main keeps its src/ commit, so both lists name docs/guide.md alone */
	gate_after_main_moved("lists-2", false);
	run_stage_ok("gate", "merged");
	json_t *tj = task_json("lists-2"), *g = gate_of(tj);
	cr_assert_str_eq(json_string_value(json_object_get(g, "decision")), "merge");
	cr_assert_str_eq(json_string_value(json_object_get(g, "class")), "low");
	cr_assert(!reasons_mention(g, "paths-mismatch"));
	json_decref(tj);
}

/* The last stage.end event of task @p id (events.jsonl's line), for assertions. */
static char *last_stage_end(const char *id)
{
	int st;
	char *out = dt_sh_output(&st, "grep '\"type\":\"stage.end\"' '%s/tasks/%s/events.jsonl' | tail -n 1", dir, id);
	cr_assert(out && *out, "task %s has a stage.end event", id);
	return out;
}

/* A devsys.yaml without `runners:` leaves "inproc" the built-in runner: the
 * gate takes no profile risk from it (it used to look the name up and fail
 * the stage as a system failure). @p profile_says is the class reason's
 * account of the profile's risk. */
static void inproc_rests_in_review(const char *yaml, const char *id, const char *profile_says)
{
	open_pipeline(yaml);
	coded(id, "echo 'int hello(void) { return 1; }' > src/hello.c\n", "  pr:\n    draft: false\nrunner: inproc\n");
	run_stage_ok("pr", "pr-opened");
	set_status(id, "devsys/tests", DEVSYS_CHECK_SUCCESS);
	past_verify(id);
	run_stage_ok("gate", "awaiting-review");
	cr_assert_eq(state_of(id), DEVSYS_STATE_AWAITING_REVIEW);
	cr_assert_eq(events_of(id, "gate.decision"), 1);
	char *ev = last_stage_end(id);
	cr_assert(strstr(ev, "\"stage\":\"gate\",\"result\":\"ok\""), "%s", ev);
	cr_assert(!strstr(ev, "\"reason\""), "an ok stage has no reason: %s", ev);
	free(ev);
	json_t *tj = task_json(id);
	char *g = json_dumps(gate_of(tj), JSON_COMPACT);
	cr_assert(g && strstr(g, profile_says), "the gate's class reason says '%s': %s", profile_says, g);
	free(g);
	json_decref(tj);
}

Test(pipeline_pr_gate, runner_inproc_under_a_config_with_only_a_policy_section_rests_in_awaiting_review)
{
	inproc_rests_in_review("policy:\n  auto_merge: false\n", "inproc-pol", "profile unset");
}

Test(pipeline_pr_gate, runner_inproc_under_a_config_with_empty_forges_rests_in_awaiting_review)
{
	inproc_rests_in_review("forges: {}\n", "inproc-forges", "profile unset");
}

/* The control: a profile named inproc that devsys.yaml does define still
 * gives the gate its risk (only the built-in runner is not looked up). */
Test(pipeline_pr_gate, runner_inproc_defined_in_the_config_gives_the_gate_its_risk)
{
	inproc_rests_in_review("runners:\n  inproc:\n    type: inproc\n    risk: high\n", "inproc-def", "profile high");
}

/* A gate that fails (its PR was closed under it) says why in events.jsonl. */
Test(pipeline_pr_gate, a_failed_gate_records_its_reason_in_the_stage_end_event)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	coded("closed-1", "echo 'int hello(void) { return 1; }' > src/hello.c\n", "  pr:\n    draft: false\n");
	run_stage_ok("pr", "pr-opened");
	past_verify("closed-1");
	cr_assert_eq(dt_sh("cd '%s/remote.git/devsys/prs' && python3 -c \"import json; d=json.load(open('1.json'));"
	                   " d['state']='closed'; json.dump(d, open('1.json', 'w'))\"",
	                   dir),
	             0);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "gate"), DEVSYS_ESTATE, "%s", r.outcome);
	cr_assert_str_eq(r.outcome, "gate-failed");
	char *ev = last_stage_end("closed-1");
	cr_assert(strstr(ev, "\"stage\":\"gate\",\"result\":\"failed\",\"failure_class\":\"system\""), "%s", ev);
	cr_assert(strstr(ev, "\"reason\":\"task 'closed-1': PR #1 is closed"), "%s", ev);
	free(ev);
}
