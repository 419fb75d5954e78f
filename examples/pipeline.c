/*
 * The whole pipeline: validate a task spec (the manager), then
 * devsys_pipeline_run() runs every stage that remains, in order: checkout,
 * agent, commit, push, pr (the coding agent), test (the testing agent),
 * deploy, verify (the deployment agent) and gate. A task registered before
 * is resumed from where it stopped. docs/pipeline.md says what each stage
 * writes.
 *
 *     example_pipeline WORKSPACE SPEC.yaml
 */
#include <devsys.h>
#include <stdio.h>
#include <stdlib.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* One line per stage as it ends. */
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
	static const char *const scrub[] = { "NPM_TOKEN", NULL }; /* kept from the agent, besides the tokens */
	devsys_runner_options runner = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_pipeline_options opts = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	size_t len = 0;
	char *spec;
	int rc = -1;

	if (argc != 3 || !(spec = slurp(argv[2], &len))) {
		fprintf(stderr, "usage: %s WORKSPACE SPEC (a readable task spec)\n", argv[0]);
		return 2;
	}
	runner.grace_ms = 2000; /* KILL 2 s after TERM on timeout or cancel */
	opts.runner = &runner;  /* borrowed until devsys_pipeline_free() */
	opts.agent_env_scrub = scrub;
	opts.progress = show;
	if (devsys_init() < 0 || devsys_workspace_open(&ws, argv[1], NULL) < 0 || devsys_pipeline_new(&p, ws, &opts) < 0)
		goto out;
	rc = devsys_pipeline_validate(&res, p, spec, len, argv[2]);
	printf("%-8s %-6s %s\n", res.stage, res.result, res.outcome);
	if (rc == 0 || rc == DEVSYS_EEXISTS) /* registered before: resume it */
		rc = devsys_pipeline_run(&res, p);
	if (devsys_pipeline_task_id(p))
		printf("task %s: %s\n", devsys_pipeline_task_id(p),
		       devsys_task_state_name(devsys_store_task_state(devsys_pipeline_store(p), devsys_pipeline_task_id(p))));
out:
	if (rc < 0)
		fprintf(stderr, "error: %s\n", devsys_error_message(devsys_error_last()));
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	devsys_shutdown();
	free(spec);
	return rc == 0 ? 0 : 1;
}
