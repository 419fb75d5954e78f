/*
 * A stage of your own: "lint" runs after commit, before push. It runs a
 * linter in the task's checkout on the runner the spec's lint.runner (or
 * runner) profile names; here `grep` for TODO markers stands in for one.
 * Findings fail the task as a build failure (nothing is pushed); fix them
 * and run again to resume from lint. Its output is in tasks/<id>/logs/lint.log.
 *
 *     example_lint_stage WORKSPACE SPEC.yaml
 */
#include <devsys.h>
#include <devsys/sys/stage.h>
#include <stdio.h>
#include <stdlib.h>

static int lint(devsys_stage_run *run, void *self)
{
	static const char *const argv[] = { "grep", "-rnI", "--exclude-dir=.git", "TODO", ".", NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner *runner = NULL;
	devsys_repo *repo;
	int rc;
	(void)self;
	if ((rc = devsys_stage_run_repo(&repo, run)) < 0 || (rc = devsys_stage_run_open_runner(&runner, run, "lint")) < 0)
		return rc;
	cmd.argv = argv;
	cmd.cwd = devsys_repo_checkout_path(repo);
	rc = devsys_stage_run_exec(run, runner, &cmd, &rr); /* output: logs/lint.log */
	if (rc == 0 && rr.exit_code == 0) /* grep found markers */
		rc = devsys_stage_run_fail(run, DEVSYS_FAILURE_BUILD, "lint-found-problems",
		                           "lint: TODO markers in the checkout:\n%s", rr.tail ? rr.tail : "");
	else if (rc == 0 && rr.exit_code == 1)
		rc = devsys_stage_run_set_outcome(run, "lint-clean");
	else if (rc == 0)
		rc = devsys_stage_run_fail(run, DEVSYS_FAILURE_SYSTEM, "lint-broken", "lint: grep exited %d", rr.exit_code);
	devsys_runner_result_dispose(&rr);
	devsys_runner_free(runner);
	return rc;
}

static const devsys_stage_vtable lint_stage = { DEVSYS_STAGE_VTABLE_VERSION, "lint", lint, NULL };

static int show(const devsys_pipeline_event *ev, void *payload)
{
	const devsys_stage_result *r = ev->result;
	(void)payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_STAGE_END)
		printf("%-8s %-6s %s%s%s\n", r->stage, r->result, r->outcome, r->failure_class ? " class=" : "",
		       r->failure_class ? devsys_failure_class_name(r->failure_class) : "");
	return 0;
}

int main(int argc, char **argv)
{
	devsys_pipeline_options opts = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	char spec[65536];
	size_t len = 0;
	FILE *f;
	int rc = -1;

	if (argc != 3 || !(f = fopen(argv[2], "rb")) || ((len = fread(spec, 1, sizeof(spec), f)), fclose(f), len == 0)) {
		fprintf(stderr, "usage: %s WORKSPACE SPEC (a readable task spec under 64 KiB)\n", argv[0]);
		return 2;
	}
	opts.progress = show;
	if (devsys_init() < 0 || devsys_workspace_open(&ws, argv[1], NULL) < 0 || devsys_pipeline_new(&p, ws, &opts) < 0 ||
	    devsys_pipeline_add_stage(p, "commit", &lint_stage, NULL) < 0)
		goto out;
	rc = devsys_pipeline_validate(NULL, p, spec, len, argv[2]);
	if (rc == 0 || rc == DEVSYS_EEXISTS) /* registered before: resume it */
		rc = devsys_pipeline_run(NULL, p);
	if (devsys_pipeline_task_id(p))
		printf("task %s: %s\n", devsys_pipeline_task_id(p),
		       devsys_task_state_name(devsys_store_task_state(devsys_pipeline_store(p), devsys_pipeline_task_id(p))));
out:
	if (rc < 0)
		fprintf(stderr, "error: %s\n", devsys_error_message(devsys_error_last()));
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	devsys_shutdown();
	return rc == 0 ? 0 : 1;
}
