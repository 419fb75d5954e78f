/*
 * The validate stage on its own (the manager): check a task spec against
 * the canonical schema and register the task in the workspace's store, with
 * the spec and its content id kept in tasks/<id>/. A refused spec registers
 * nothing; the schema's reasons are listed.
 *
 *     example_validate WORKSPACE SPEC.yaml
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

int main(int argc, char **argv)
{
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	const devsys_validation *why;
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	size_t len = 0;
	char *spec;
	int rc = -1;

	if (argc != 3 || !(spec = slurp(argv[2], &len))) {
		fprintf(stderr, "usage: %s WORKSPACE SPEC (a readable task spec)\n", argv[0]);
		return 2;
	}
	if (devsys_init() < 0 || devsys_workspace_open(&ws, argv[1], NULL) < 0 || devsys_pipeline_new(&p, ws, NULL) < 0)
		goto out;
	rc = devsys_pipeline_validate(&res, p, spec, len, argv[2]);
	printf("%-8s %-6s %s\n", res.stage, res.result, res.outcome);
	/* the schema's reasons, each at its place in the spec */
	why = devsys_pipeline_validation(p);
	for (size_t i = 0; why && i < devsys_validation_count(why); i++)
		printf("  %s: %s\n", devsys_validation_error_instance_location(devsys_validation_at(why, i)),
		       devsys_validation_error_message(devsys_validation_at(why, i)));
	if (rc == 0 || rc == DEVSYS_EEXISTS) {
		printf("task %s: %s\n", devsys_pipeline_task_id(p),
		       devsys_task_state_name(devsys_store_task_state(devsys_pipeline_store(p), devsys_pipeline_task_id(p))));
		rc = 0;
	}
out:
	if (rc < 0)
		fprintf(stderr, "error: %s\n", devsys_error_message(devsys_error_last()));
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	devsys_shutdown();
	free(spec);
	return rc == 0 ? 0 : 1;
}
