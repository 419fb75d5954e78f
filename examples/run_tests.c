/*
 * The test stage on its own (the testing agent), for a task registered
 * earlier: devsys_pipeline_load() selects it, devsys_pipeline_run_stage()
 * runs tests.command in its checkout and records the JUnit reports in
 * tasks/<id>/reports/<run>/. A task whose tests failed is resumed: fix the
 * cause, run this again. A task whose earlier stages have not ended ok is
 * refused, naming the stage that must run first.
 *
 *     example_run_tests WORKSPACE TASK_ID
 */
#include <devsys.h>
#include <stdio.h>

static int show(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_PROGRESS && ev->data && ev->total) /* total 0: not known yet */
		printf("  %.*s: %llu of %llu\n", (int)ev->len, ev->data, (unsigned long long)ev->current,
		       (unsigned long long)ev->total);
	return 0;
}

int main(int argc, char **argv)
{
	devsys_pipeline_options opts = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	int rc = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s WORKSPACE TASK_ID\n", argv[0]);
		return 2;
	}
	opts.progress = show; /* test counts as they come */
	if (devsys_init() < 0 || devsys_workspace_open(&ws, argv[1], NULL) < 0 ||
	    devsys_pipeline_new(&p, ws, &opts) < 0 || devsys_pipeline_load(p, argv[2]) < 0)
		goto out;
	rc = devsys_pipeline_run_stage(&res, p, "test");
	if (res.stage)
		printf("%-8s %-6s %s%s%s\n", res.stage, res.result, res.outcome, res.failure_class ? " class=" : "",
		       res.failure_class ? devsys_failure_class_name(res.failure_class) : "");
	printf("task %s: %s\n", argv[2], devsys_task_state_name(devsys_store_task_state(devsys_pipeline_store(p), argv[2])));
out:
	if (rc < 0)
		fprintf(stderr, "error: %s\n", devsys_error_message(devsys_error_last()));
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	devsys_shutdown();
	return rc == 0 ? 0 : 1;
}
