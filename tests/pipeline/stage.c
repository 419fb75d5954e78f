/* Stages an embedder adds or puts in place of a built-in one (devsys/sys/stage.h),
 * run by the pipeline against a real bare repository on file://, on the inproc runner. */
#include "pipeline_fixture.h"
#include <devsys/sys/stage.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static char order[512]; /* the stages begun, in order, from the progress callback */

static int progress(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_STAGE_BEGIN && strlen(order) + strlen(ev->stage) + 2 < sizeof(order)) {
		strcat(order, ev->stage);
		strcat(order, " ");
	}
	return 0;
}

static void open_pipeline(void)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	po.progress = progress;
	pl = dt_pipe_open(ws, &po);
	order[0] = '\0';
}

static void setup(void)
{
	dir = dt_pipe_repo("pipestage", NULL);
	ws = dt_pipe_workspace(dir);
	open_pipeline();
}

/* No repository: the registration checks need only a pipeline. */
static void setup_bare(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("pipestage");
	ws = dt_pipe_workspace(dir);
	open_pipeline();
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

/* Register task @p id whose agent appends a line to README and counts its runs in <dir>/<id>.runs. */
static void validate(const char *id)
{
	char script[4096];
	snprintf(script, sizeof(script), "echo run >> '%s/%s.runs'\necho changed >> README\n", dir, id);
	dt_pipe_validate(pl, dir, id, script, NULL);
}

static json_t *task_json(const char *id)
{
	return dt_pipe_task_json(dir, id);
}

static const char *stage_field(json_t *tj, const char *stage, const char *key)
{
	return json_string_value(json_object_get(json_object_get(json_object_get(tj, "stages"), stage), key));
}

static char *task_file(const char *id, const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, rel);
	return dt_read_file(p, NULL);
}

static int lines_of(const char *path_fmt_id, const char *suffix)
{
	char p[4096], *s;
	int n = 0;
	snprintf(p, sizeof(p), "%s/%s%s", dir, path_fmt_id, suffix);
	if (!(s = dt_read_file(p, NULL)))
		return 0;
	for (char *c = s; *c; c++)
		n += *c == '\n';
	free(s);
	return n;
}

/* ---- a stage that looks at what it is given ---- */

struct probe {
	int runs;
	int releases;
	int fail;                /* > 0: fail with class fail (devsys_stage_run_fail); < 0: plain error */
	char store_stage[80];    /* the store's "stage" while it ran */
	char checkout[4096];
	char task_id[80];
	int state;               /* the task's state while it ran */
	int spec_ok;
	int exec_rc;
};

static int probe_run(devsys_stage_run *run, void *self)
{
	struct probe *pr = self;
	devsys_buf j = DEVSYS_BUF_INIT;
	devsys_repo *repo = NULL;
	devsys_runner *runner = NULL;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	static const char *const argv[] = { "/bin/sh", "-c", "echo exec says hi; test -f README", NULL };
	json_t *doc;
	int rc;

	pr->runs++;
	snprintf(pr->task_id, sizeof(pr->task_id), "%s", devsys_stage_run_task_id(run));
	pr->state = devsys_store_task_state(devsys_pipeline_store(pl), pr->task_id);
	pr->spec_ok = devsys_stage_run_spec(run) == devsys_pipeline_spec(pl) && devsys_stage_run_task(run) &&
	              strcmp(devsys_task_id(devsys_stage_run_task(run)), pr->task_id) == 0;
	if (devsys_store_task_json(devsys_pipeline_store(pl), pr->task_id, &j) == 0 && (doc = json_loads(j.ptr, 0, NULL))) {
		snprintf(pr->store_stage, sizeof(pr->store_stage), "%s",
		         json_string_value(json_object_get(doc, "stage")) ? json_string_value(json_object_get(doc, "stage"))
		                                                          : "");
		json_decref(doc);
	}
	devsys_buf_dispose(&j);
	if ((rc = devsys_stage_run_repo(&repo, run)) < 0)
		return rc;
	snprintf(pr->checkout, sizeof(pr->checkout), "%s", devsys_repo_checkout_path(repo));
	if ((rc = devsys_stage_run_log(run, "probe: looked\n", 14)) < 0 ||
	    (rc = devsys_stage_run_open_runner(&runner, run, "lint")) < 0)
		return rc;
	cmd.argv = argv;
	cmd.cwd = pr->checkout;
	pr->exec_rc = devsys_stage_run_exec(run, runner, &cmd, &rr);
	devsys_runner_result_dispose(&rr);
	devsys_runner_free(runner);
	if (pr->fail > 0)
		return devsys_stage_run_fail(run, pr->fail, "probe-refused", "probe: %s found a problem", "the stage");
	if (pr->fail < 0)
		return devsys_error_set(DEVSYS_EIO, "probe: broke without a class");
	return devsys_stage_run_set_outcome(run, "probed");
}

static void probe_release(void *self)
{
	((struct probe *)self)->releases++;
}

static const devsys_stage_vtable probe_vt = { DEVSYS_STAGE_VTABLE_VERSION, "lint-with-a-long-custom-name", probe_run,
	                                      probe_release };

/* The "seq"-ordered types and stages of events.jsonl's stage.end events, as "stage:result:class " words. */
static char *stage_ends(const char *id)
{
	char *text = task_file(id, "events.jsonl"), *out = calloc(1, 4096), *line, *save = NULL;
	cr_assert_not_null(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *ev = json_loads(line, 0, NULL), *d;
		if (ev && strcmp(json_string_value(json_object_get(ev, "type")), "stage.end") == 0) {
			d = json_object_get(ev, "data");
			snprintf(out + strlen(out), 4096 - strlen(out), "%s:%s:%s ",
			         json_string_value(json_object_get(d, "stage")), json_string_value(json_object_get(d, "result")),
			         json_is_string(json_object_get(d, "failure_class"))
			                 ? json_string_value(json_object_get(d, "failure_class"))
			                 : "-");
		}
		json_decref(ev);
	}
	free(text);
	return out;
}

Test(pipeline_stage, an_added_stage_runs_after_its_anchor_and_is_recorded, .init = setup, .fini = teardown)
{
	static struct probe pr; /* static: the pipeline releases it in the fixture's teardown */
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *ends, *log;
	json_t *tj;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &probe_vt, &pr), 0, "%s", dt_errmsg());
	validate("added-1");
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.stage, "push");
	cr_assert_str_eq(order, "checkout agent commit lint-with-a-long-custom-name push ");
	cr_assert_eq(pr.runs, 1);
	cr_assert_eq(pr.state, DEVSYS_STATE_COMMITTED, "it ran after commit, before push");
	cr_assert_str_eq(pr.task_id, "added-1");
	cr_assert(pr.spec_ok, "the run's task and spec are the pipeline's");
	/* positive control of the widened store: a 28-character stage name, kept whole */
	cr_assert_str_eq(pr.store_stage, "lint-with-a-long-custom-name");
	cr_assert(dt_exists(pr.checkout) && strstr(pr.checkout, "added-1"), "%s", pr.checkout);
	cr_assert_eq(pr.exec_rc, 0, "the probe's command ran in the checkout");
	/* the state follows the built-ins: push moved it, the added stage did not */
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "added-1"), DEVSYS_STATE_PUSHED);
	tj = task_json("added-1");
	cr_assert_str_eq(stage_field(tj, "lint-with-a-long-custom-name", "result"), "ok");
	cr_assert_not_null(stage_field(tj, "lint-with-a-long-custom-name", "start"));
	json_decref(tj);
	ends = stage_ends("added-1");
	cr_assert(strstr(ends, "commit:ok:- lint-with-a-long-custom-name:ok:- push:ok:-"), "%s", ends);
	free(ends);
	log = task_file("added-1", "logs/lint-with-a-long-custom-name.log");
	cr_assert(log && strstr(log, "probe: looked") && strstr(log, "exec says hi"), "%s", log ? log : "(no log)");
	free(log);
	cr_assert_eq(pr.releases, 0);
	devsys_pipeline_free(pl);
	pl = NULL;
	cr_assert_eq(pr.releases, 1, "released once, when the pipeline is freed");
}

Test(pipeline_stage, stages_added_after_one_anchor_run_in_the_order_added, .init = setup, .fini = teardown)
{
	static struct probe a, b, v;
	devsys_stage_vtable va = probe_vt, vb = probe_vt, vv = probe_vt;
	va.name = "first";
	vb.name = "second";
	vv.name = "after-validate";
	cr_assert_eq(devsys_pipeline_add_stage(pl, "agent", &va, &a), 0);
	cr_assert_eq(devsys_pipeline_add_stage(pl, "agent", &vb, &b), 0);
	cr_assert_eq(devsys_pipeline_add_stage(pl, "validate", &vv, &v), 0);
	validate("added-2");
	/* the coding stages start at checkout; the stage added after validate comes first */
	cr_assert_eq(devsys_pipeline_code(NULL, pl), DEVSYS_ESTATE);
	cr_assert(strstr(dt_errmsg(), "after-validate"), "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_run_stage(NULL, pl, "after-validate"), 0, "%s", dt_errmsg());
	cr_assert_eq(v.state, DEVSYS_STATE_VALIDATED);
	cr_assert_eq(devsys_pipeline_code(NULL, pl), 0, "%s", dt_errmsg());
	cr_assert_str_eq(order, "after-validate checkout agent first second commit push ");
	cr_assert_eq(a.runs + b.runs + v.runs, 3);
	cr_assert_eq(a.state, DEVSYS_STATE_CODED);
}

/* ---- replacing a built-in ---- */

static int my_agent(devsys_stage_run *run, void *self)
{
	devsys_repo *repo;
	char p[4096];
	int rc;
	(*(int *)self)++;
	if ((rc = devsys_stage_run_repo(&repo, run)) < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/FROM_MY_AGENT", devsys_repo_checkout_path(repo));
	if (!dt_write_file(p, "written by the replacement\n"))
		return devsys_error_set(DEVSYS_EIO, "cannot write %s", p);
	return devsys_stage_run_set_outcome(run, "my-agent-done");
}

Test(pipeline_stage, a_replaced_builtin_runs_instead_and_moves_the_state, .init = setup, .fini = teardown)
{
	static const devsys_stage_vtable vt = { DEVSYS_STAGE_VTABLE_VERSION, NULL, my_agent, NULL };
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	int calls = 0;
	json_t *tj;
	cr_assert_eq(devsys_pipeline_replace_stage(pl, "agent", &vt, &calls), 0, "%s", dt_errmsg());
	validate("replaced-1");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "checkout"), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "agent"), 0, "%s", dt_errmsg());
	cr_assert_eq(calls, 1);
	cr_assert_str_eq(r.stage, "agent");
	cr_assert_str_eq(r.outcome, "my-agent-done");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "replaced-1"), DEVSYS_STATE_CODED,
	             "the replacement moves the state as the built-in would");
	cr_assert_eq(lines_of("replaced-1", ".runs"), 0, "the built-in agent (the spec's command) did not run");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "commit"), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "push"), 0, "%s", dt_errmsg());
	cr_assert_eq(dt_sh("git --git-dir='%s/remote.git' show task/replaced-1:FROM_MY_AGENT | grep -q replacement", dir), 0,
	             "the replacement's change was committed and pushed");
	tj = task_json("replaced-1");
	cr_assert_str_eq(stage_field(tj, "agent", "result"), "ok");
	json_decref(tj);
}

/* ---- failure and resume ---- */

Test(pipeline_stage, a_failing_added_stage_stops_the_pipeline_with_its_class, .init = setup, .fini = teardown)
{
	static struct probe pr; /* static: the pipeline releases it in the fixture's teardown */
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *ends;
	json_t *tj;
	pr.fail = DEVSYS_FAILURE_BUILD;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &probe_vt, &pr), 0);
	validate("failing-1");
	cr_assert_eq(devsys_pipeline_code(&r, pl), DEVSYS_ERROR);
	cr_assert(strstr(dt_errmsg(), "probe: the stage found a problem"), "%s", dt_errmsg());
	cr_assert_str_eq(r.stage, "lint-with-a-long-custom-name");
	cr_assert_str_eq(r.result, "failed");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert_str_eq(r.outcome, "probe-refused");
	cr_assert_str_eq(order, "checkout agent commit lint-with-a-long-custom-name ", "push did not run");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "failing-1"), DEVSYS_STATE_FAILED);
	cr_assert_neq(dt_sh("git --git-dir='%s/remote.git' rev-parse -q --verify refs/heads/task/failing-1", dir), 0,
	              "nothing was pushed");
	tj = task_json("failing-1");
	cr_assert_str_eq(stage_field(tj, "lint-with-a-long-custom-name", "result"), "failed");
	cr_assert_str_eq(stage_field(tj, "lint-with-a-long-custom-name", "failure_class"), "build");
	json_decref(tj);
	ends = stage_ends("failing-1");
	cr_assert(strstr(ends, "lint-with-a-long-custom-name:failed:build"), "%s", ends);
	free(ends);
}

Test(pipeline_stage, a_failure_without_a_class_is_system, .init = setup, .fini = teardown)
{
	static struct probe pr; /* static: the pipeline releases it in the fixture's teardown */
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	pr.fail = -1;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "agent", &probe_vt, &pr), 0);
	validate("failing-2");
	cr_assert_eq(devsys_pipeline_code(&r, pl), DEVSYS_EIO);
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_SYSTEM);
	cr_assert_str_eq(r.outcome, "failed");
}

Test(pipeline_stage, resume_runs_the_failed_added_stage_again_and_not_the_ones_before, .init = setup,
     .fini = teardown)
{
	static struct probe passed, failing;
	devsys_stage_vtable vp = probe_vt;
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	vp.name = "passes";
	failing.fail = DEVSYS_FAILURE_TIMEOUT;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vp, &passed), 0);
	cr_assert_eq(devsys_pipeline_add_stage(pl, "passes", &probe_vt, &failing), 0);
	validate("resume-1");
	cr_assert_eq(devsys_pipeline_code(&r, pl), DEVSYS_ETIMEOUT);
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_TIMEOUT);
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "resume-1"), DEVSYS_STATE_FAILED);
	/* the cause is fixed; a new process loads the task and runs the next stage by name */
	failing.fail = 0;
	devsys_pipeline_free(pl);
	open_pipeline();
	cr_assert_eq(passed.releases, 1);
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vp, &passed), 0);
	cr_assert_eq(devsys_pipeline_add_stage(pl, "passes", &probe_vt, &failing), 0);
	cr_assert_eq(devsys_pipeline_load(pl, "resume-1"), 0);
	cr_assert_eq(devsys_pipeline_run_stage(NULL, pl, "push"), DEVSYS_ESTATE, "the failed added stage is next");
	cr_assert(strstr(dt_errmsg(), "the next stage is lint-with-a-long-custom-name"), "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "lint-with-a-long-custom-name"), 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.outcome, "probed");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "push"), 0, "%s", dt_errmsg());
	cr_assert_str_eq(order, "lint-with-a-long-custom-name push ", "the stage that passed did not run again");
	cr_assert_eq(failing.runs, 2);
	cr_assert_eq(passed.runs, 1);
	cr_assert_eq(lines_of("resume-1", ".runs"), 1, "the agent ran once");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "resume-1"), DEVSYS_STATE_PUSHED);
}

/* ---- refusals ---- */

static int noop_run(devsys_stage_run *run, void *self)
{
	(void)run;
	(void)self;
	return 0;
}

Test(pipeline_stage, bad_registrations_are_refused_and_change_nothing, .init = setup_bare, .fini = teardown)
{
	static struct probe pr; /* static: the pipeline releases it in the fixture's teardown */
	devsys_stage_vtable vt = { DEVSYS_STAGE_VTABLE_VERSION, "lint", noop_run, probe_release };
	char long_name[80];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	vt.name = "test";
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL, "a built-in name is reserved");
	cr_assert(strstr(dt_errmsg(), "reserved"), "%s", dt_errmsg());
	vt.name = "validate";
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL);
	vt.name = "bad/name";
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL);
	vt.name = "-lint";
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL);
	vt.name = "a..b";
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL);
	vt.name = long_name;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL, "65 characters");
	vt.name = NULL;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL);
	vt.name = "lint";
	cr_assert_eq(devsys_pipeline_add_stage(pl, "compile", &vt, &pr), DEVSYS_ENOTFOUND, "unknown anchor");
	cr_assert(strstr(dt_errmsg(), "compile"));
	cr_assert_eq(devsys_pipeline_add_stage(pl, "gate", &vt, &pr), DEVSYS_EINVAL, "nothing after the gate");
	vt.version = 0;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EVERSION);
	vt.version = DEVSYS_STAGE_VTABLE_VERSION + 1;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EVERSION);
	vt.version = DEVSYS_STAGE_VTABLE_VERSION;
	vt.run = NULL;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EINVAL, "no run slot");
	cr_assert(strstr(dt_errmsg(), "run slot"));
	cr_assert_eq(devsys_pipeline_replace_stage(pl, "test", &vt, &pr), DEVSYS_EINVAL, "no run slot");
	vt.run = noop_run;
	cr_assert_eq(devsys_pipeline_add_stage(NULL, "commit", &vt, &pr), DEVSYS_EINVAL);
	cr_assert_eq(devsys_pipeline_add_stage(pl, NULL, &vt, &pr), DEVSYS_EINVAL);
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", NULL, &pr), DEVSYS_EINVAL);
	cr_assert_eq(devsys_pipeline_replace_stage(pl, "validate", &vt, &pr), DEVSYS_EINVAL);
	vt.name = NULL;
	cr_assert_eq(devsys_pipeline_replace_stage(pl, "compile", &vt, &pr), DEVSYS_ENOTFOUND);
	vt.name = "lint";
	cr_assert_eq(devsys_pipeline_replace_stage(pl, "test", &vt, &pr), DEVSYS_EINVAL, "a name that is not 'test'");
	/* positive controls: the same vtable, well named, is taken; twice is refused */
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &vt, &pr), DEVSYS_EEXISTS);
	cr_assert_eq(devsys_pipeline_add_stage(pl, "lint", &(devsys_stage_vtable){ 1, "lint.2", noop_run, NULL }, NULL),
	             0, "after an added stage");
	vt.name = "test";
	cr_assert_eq(devsys_pipeline_replace_stage(pl, "test", &vt, &pr), 0, "replacing test is allowed");
	cr_assert_eq(pr.releases, 0, "refused registrations released nothing");
	cr_assert_eq(devsys_pipeline_replace_stage(pl, "lint", &(devsys_stage_vtable){ 1, NULL, noop_run, NULL }, NULL), 0);
	cr_assert_eq(pr.releases, 1, "the replaced entry was released");
	/* a run needs a task */
	cr_assert_eq(devsys_pipeline_run_stage(NULL, pl, "lint"), DEVSYS_ESTATE);
	cr_assert_eq(devsys_pipeline_run_stage(NULL, pl, "lint.3"), DEVSYS_EINVAL);
	cr_assert_null(devsys_stage_run_name(NULL));
	cr_assert_null(devsys_stage_run_task_id(NULL));
	cr_assert_null(devsys_stage_run_task(NULL));
	cr_assert_null(devsys_stage_run_spec(NULL));
	/* the record and store accept an added stage's name, and still refuse a bad one */
	cr_assert_eq(devsys_stage_check("lint-with-a-long-custom-name"), 0);
	cr_assert_eq(devsys_stage_check("bad/name"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_stage_check(long_name), DEVSYS_EINVAL);
}

/* devsys_stage_run_fail refuses a non-failure class, and the stage then fails "system". */
static int bad_fail(devsys_stage_run *run, void *self)
{
	int rc = devsys_stage_run_fail(run, DEVSYS_FAILURE_NONE, NULL, "not a failure");
	*(int *)self = rc;
	if (devsys_stage_run_set_outcome(run, "two words") != DEVSYS_EINVAL)
		return devsys_error_set(DEVSYS_ERROR, "a bad outcome was taken");
	return rc;
}

Test(pipeline_stage, a_bad_failure_class_is_a_system_failure, .init = setup, .fini = teardown)
{
	static const devsys_stage_vtable vt = { DEVSYS_STAGE_VTABLE_VERSION, "bad-fail", bad_fail, NULL };
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	int got = 0;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "validate", &vt, &got), 0);
	validate("badfail-1");
	cr_assert_eq(devsys_pipeline_run(&r, pl), DEVSYS_EINVAL, "the whole run stops at the first stage");
	cr_assert_str_eq(order, "bad-fail ");
	cr_assert_eq(got, DEVSYS_EINVAL);
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_SYSTEM);
	cr_assert_str_eq(r.stage, "bad-fail");
}

/* A cancel while an added stage runs: its command is not run, and the stage and task end canceled. */
static int cancels(devsys_stage_run *run, void *self)
{
	static const char *const argv[] = { "/bin/sh", "-c", "echo ran > ran.txt", NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner *runner = NULL;
	int rc;
	(void)self;
	if ((rc = devsys_stage_run_open_runner(&runner, run, "lint")) < 0)
		return rc;
	devsys_pipeline_cancel(pl); /* as another thread would */
	cmd.argv = argv;
	cmd.cwd = dir;
	rc = devsys_stage_run_exec(run, runner, &cmd, &rr);
	devsys_runner_result_dispose(&rr);
	devsys_runner_free(runner);
	return rc;
}

Test(pipeline_stage, a_cancel_ends_an_added_stage_canceled, .init = setup, .fini = teardown)
{
	static const devsys_stage_vtable vt = { DEVSYS_STAGE_VTABLE_VERSION, "cancels", cancels, NULL };
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char p[4096];
	cr_assert_eq(devsys_pipeline_add_stage(pl, "validate", &vt, NULL), 0);
	validate("cancel-1");
	cr_assert_eq(devsys_pipeline_run(&r, pl), DEVSYS_ECANCELED, "%s", dt_errmsg());
	cr_assert_str_eq(r.stage, "cancels");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_CANCELED);
	cr_assert_str_eq(r.result, "canceled");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "cancel-1"), DEVSYS_STATE_CANCELED);
	snprintf(p, sizeof(p), "%s/ran.txt", dir);
	cr_assert(!dt_exists(p), "the command was not run after the cancel");
	cr_assert_str_eq(order, "cancels ", "no stage ran after it");
}

/* Inside a run the list cannot change; a command struct of version 1 still runs. */
static int busy(devsys_stage_run *run, void *self)
{
	static const devsys_stage_vtable other = { DEVSYS_STAGE_VTABLE_VERSION, "other", noop_run, NULL };
	static const char *const argv[] = { "/bin/sh", "-c", "echo version one", NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner *runner = NULL;
	int *got = self, rc;
	got[0] = devsys_pipeline_add_stage(pl, "commit", &other, NULL);
	got[1] = devsys_pipeline_replace_stage(pl, "busy", &other, NULL);
	if ((rc = devsys_stage_run_open_runner(&runner, run, "lint")) < 0)
		return rc;
	cmd.version = 1; /* an embedder built against the first devsys_runner_cmd */
	cmd.argv = argv;
	cmd.cwd = dir;
	rc = devsys_stage_run_exec(run, runner, &cmd, &rr);
	got[2] = rr.exit_code;
	devsys_runner_result_dispose(&rr);
	devsys_runner_free(runner);
	return rc;
}

Test(pipeline_stage, the_stage_list_does_not_change_during_a_run, .init = setup, .fini = teardown)
{
	static const devsys_stage_vtable vt = { DEVSYS_STAGE_VTABLE_VERSION, "busy", busy, NULL };
	int got[3] = { 1, 1, -2 };
	char *log;
	cr_assert_eq(devsys_pipeline_add_stage(pl, "validate", &vt, got), 0);
	validate("busy-1");
	cr_assert_eq(devsys_pipeline_run_stage(NULL, pl, "busy"), 0, "%s", dt_errmsg());
	cr_assert_eq(got[0], DEVSYS_EBUSY);
	cr_assert_eq(got[1], DEVSYS_EBUSY);
	cr_assert_eq(got[2], 0, "the version-1 command ran");
	log = task_file("busy-1", "logs/busy.log");
	cr_assert(log && strstr(log, "version one"), "%s", log ? log : "(no log)");
	free(log);
	/* positive control: between runs the list changes again */
	cr_assert_eq(devsys_pipeline_add_stage(pl, "commit", &(devsys_stage_vtable){ 1, "other", noop_run, NULL }, NULL), 0);
}
