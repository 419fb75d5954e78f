/*
 * The pr stage on its own (the coding agent's last step), for a task whose
 * branch is pushed: devsys_pipeline_load() selects it and
 * devsys_pipeline_run_stage() opens its pull request through the forge the
 * spec's repo.url names (a file:// remote: the local forge, offline), or
 * finds the one opened before. A task that failed in this stage is resumed
 * by running this again once the cause is fixed.
 *
 *     example_open_pr WORKSPACE TASK_ID
 */
#include <devsys.h>
#include <stdio.h>

/* The pr stage tells where the PR is as a progress label. */
static int show(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_PROGRESS && ev->data)
		printf("  %.*s\n", (int)ev->len, ev->data);
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
	opts.progress = show;
	if (devsys_init() < 0 || devsys_workspace_open(&ws, argv[1], NULL) < 0 ||
	    devsys_pipeline_new(&p, ws, &opts) < 0 || devsys_pipeline_load(p, argv[2]) < 0)
		goto out;
	rc = devsys_pipeline_run_stage(&res, p, "pr");
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
