/*
 * devsys run: the main job. It runs the stages the pipeline has today on a
 * spec (the embedded default, specs/create-blog.yaml, or a file): the
 * validate stage (devsys_pipeline_validate) validates the spec, registers
 * the task in the store, keeps the spec and its content id in the task
 * record, and moves the task to "validated". Running it again reports the
 * task's state instead.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

extern const char devsys_cli_default_spec[];
extern const size_t devsys_cli_default_spec_len;

#if defined(DEVSYS_HAVE_MODULE_PIPELINE)

#define DEFAULT_SPEC_NAME "embedded:specs/create-blog.yaml"

struct run {
	devsys_cli *cli;
	const char *spec_name;
	devsys_pipeline *pipeline;
	devsys_workspace *ws;
	devsys_store *store; /* borrowed from the pipeline */
	const char *id;
	int created; /* 0: the task existed already */
};

static int print_invalid(struct run *r, const devsys_validation *v)
{
	if (r->cli->json) {
		devsys_buf j = DEVSYS_BUF_INIT;
		if (devsys_validation_to_json(&j, v) == 0 && j.ptr)
			printf("%s\n", j.ptr);
		devsys_buf_dispose(&j);
	} else {
		devsys_cli_print_validation(stderr, v);
	}
	return DEVSYS_EXIT_FAILED;
}

/* The bytes validated are the bytes kept in the record: read them once. */
static int read_spec(struct run *r, const char *file, devsys_buf *bytes)
{
	char chunk[65536];
	size_t n;
	FILE *f;

	if (!file)
		return devsys_buf_put(bytes, devsys_cli_default_spec, devsys_cli_default_spec_len) < 0
		               ? devsys_cli_fail_lib(r->cli, "cannot hold the default spec")
		               : DEVSYS_EXIT_OK;
	if (!(f = fopen(file, "rb")))
		return devsys_cli_usage_error(r->cli, "cannot open spec '%s': %s", file, strerror(errno));
	/* Stop one chunk past the loader's default limit (16 MiB): the loader
	 * then refuses it with DEVSYS_ELIMIT, and a huge file is never read whole. */
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (bytes->size > ((size_t)16 << 20) || devsys_buf_put(bytes, chunk, n) < 0)
			break;
	if (ferror(f) || (n > 0 && bytes->size <= ((size_t)16 << 20))) {
		fclose(f);
		return devsys_cli_usage_error(r->cli, "cannot read spec '%s'", file);
	}
	fclose(f);
	return DEVSYS_EXIT_OK;
}

/* The validate stage is the library's (devsys_pipeline_validate). */
static int validate_stage(struct run *r, const devsys_buf *bytes)
{
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	int rc = devsys_pipeline_validate(&res, r->pipeline, bytes->ptr, bytes->size, r->spec_name);

	r->id = devsys_pipeline_task_id(r->pipeline);
	r->created = rc == 0;
	if (rc == 0 || rc == DEVSYS_EEXISTS)
		return DEVSYS_EXIT_OK; /* already registered: report its state */
	if (rc == DEVSYS_EINVALID && devsys_pipeline_validation(r->pipeline))
		return print_invalid(r, devsys_pipeline_validation(r->pipeline));
	if (res.outcome && strcmp(res.outcome, "spec-refused") == 0)
		return devsys_cli_fail_lib(r->cli, "cannot load the spec");
	return devsys_cli_fail_lib(r->cli, "the validate stage failed");
}

static int report(struct run *r)
{
	int state = devsys_store_task_state(r->store, r->id);
	const char *name = devsys_task_state_name(state);

	if (r->cli->json) {
		devsys_buf tj = DEVSYS_BUF_INIT;
		json_t *record = NULL;
		if (devsys_store_task_json(r->store, r->id, &tj) == 0 && tj.ptr)
			record = json_loads(tj.ptr, 0, NULL);
		devsys_buf_dispose(&tj);
		devsys_cli_print_json(json_pack("{s:s,s:s,s:s,s:b,s:s,s:o}", "task", r->id, "spec", r->spec_name, "state",
		                                name ? name : "unknown", "created", r->created, "workspace",
		                                devsys_workspace_path(r->ws), "record",
		                                record ? record : json_null()));
		return DEVSYS_EXIT_OK;
	}
	printf("devsys run: %s\n", r->spec_name);
	printf("  spec      valid (%s)\n", devsys_spec_get_string(devsys_pipeline_spec(r->pipeline), "/title"));
	printf("  task      %s %s\n", r->id, r->created ? "registered" : "already registered");
	printf("  state     %s%s%s\n", devsys_cli_color(r->cli, "\033[1;32m"), name ? name : "unknown",
	       devsys_cli_color(r->cli, "\033[0m"));
	printf("  record    %s/tasks/%s/task.json, events.jsonl and the spec\n", devsys_workspace_path(r->ws), r->id);
	printf("  next      checkout, agent, commit, push, pr, test, deploy (run by the pipeline)\n");
	return DEVSYS_EXIT_OK;
}

static int cmd_run(devsys_cli *cli, int argc, char **argv)
{
	struct run r = { cli, NULL, NULL, NULL, NULL, NULL, 0 };
	devsys_buf bytes = DEVSYS_BUF_INIT;
	int rc;

	if (argc > 2)
		return devsys_cli_usage_error(cli, "run takes at most one spec file");
	r.spec_name = argc == 2 ? argv[1] : DEFAULT_SPEC_NAME;
	if ((rc = read_spec(&r, argc == 2 ? argv[1] : NULL, &bytes)) != 0)
		goto out;
	if ((rc = devsys_cli_open_workspace(cli, &r.ws)) != 0)
		goto out;
	if (devsys_pipeline_new(&r.pipeline, r.ws, NULL) < 0) {
		rc = devsys_cli_fail_lib(cli, "cannot open the task store");
		goto out;
	}
	r.store = devsys_pipeline_store(r.pipeline);
	if ((rc = validate_stage(&r, &bytes)) != 0)
		goto out;
	rc = report(&r);
out:
	devsys_buf_dispose(&bytes);
	devsys_pipeline_free(r.pipeline);
	devsys_workspace_free(r.ws);
	return rc;
}

#else

static int cmd_run(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return devsys_cli_usage_error(cli, "devsys run needs the pipeline module in this build");
}

#endif

const devsys_cli_command devsys_cli_run_commands[] = {
	{ "run", "[SPEC]", "run the main job on a spec (default: the embedded specs/create-blog.yaml)", cmd_run },
	{ NULL, NULL, NULL, NULL }
};
