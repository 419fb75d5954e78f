/*
 * devsys run: the main job. Until the pipeline lands it runs the stages the
 * library has today on a spec (the embedded default, specs/create-blog.yaml,
 * or a file): validate the spec, register the task in the store, keep the
 * spec and its content id in the task record, and move the task to
 * "validated". Running it again reports the task's state instead.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

extern const char devsys_cli_default_spec[];
extern const size_t devsys_cli_default_spec_len;

#if defined(DEVSYS_HAVE_MODULE_SPEC) && defined(DEVSYS_HAVE_MODULE_STORE) && defined(DEVSYS_HAVE_MODULE_RECORD)

#define DEFAULT_SPEC_NAME "embedded:specs/create-blog.yaml"

struct run {
	devsys_cli *cli;
	const char *spec_name;
	devsys_spec *spec;
	devsys_workspace *ws;
	devsys_store *store;
	const char *id;
	int created; /* 0: the task existed already */
};

static int print_invalid(struct run *r, devsys_validation *v)
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

static int load_and_validate(struct run *r, const char *file, const devsys_buf *bytes)
{
	devsys_validation *v = NULL;
	int rc;

	r->spec_name = file ? file : DEFAULT_SPEC_NAME;
	if (devsys_spec_load_buffer(&r->spec, bytes->ptr ? bytes->ptr : "", bytes->size, r->spec_name, NULL) < 0)
		return devsys_cli_fail_lib(r->cli, "cannot load the spec");
	rc = devsys_spec_validate(&v, r->spec, 0);
	if (rc == DEVSYS_EINVALID)
		rc = print_invalid(r, v);
	else if (rc < 0)
		rc = devsys_cli_fail_lib(r->cli, "cannot validate the spec");
	devsys_validation_free(v);
	if (rc != 0)
		return rc;
	r->id = devsys_spec_get_string(r->spec, "/id");
	return DEVSYS_EXIT_OK;
}

/* The validate stage: task in the store, spec and validation in the record. */
static int validate_stage(struct run *r, const void *spec_bytes, size_t spec_len)
{
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	const char *url = devsys_spec_get_string(r->spec, "/repo/url");
	/* The same names devsysd gives a submitted spec. */
	const char *kept = devsys_spec_get_format(r->spec) == DEVSYS_SPEC_FORMAT_JSON ? "spec.json" : "spec.yaml";
	int rc;

	if ((rc = devsys_store_task_create(r->store, r->id, kept)) == DEVSYS_EEXISTS)
		return 0; /* already registered: report its state */
	if (rc < 0)
		return rc;
	r->created = 1;
	if ((rc = devsys_store_stage_begin(r->store, r->id, "validate")) < 0)
		return rc;
	if ((rc = devsys_task_open(&task, r->ws, r->id, 0)) == 0 && (rc = devsys_record_open(&rec, task)) == 0 &&
	    (rc = devsys_record_stage_begin(rec, "validate")) == 0 &&
	    (rc = devsys_record_set_spec(rec, kept, spec_bytes, spec_len)) == 0 &&
	    (rc = devsys_record_set_json(rec, "validation", "{\"valid\":true,\"errors\":[]}")) == 0 &&
	    (!url || (rc = devsys_record_set_repo_url(rec, url)) == 0))
		rc = devsys_record_save(rec);
	devsys_record_free(rec);
	rec = NULL;
	if (rc < 0) {
		int err = rc;
		devsys_store_stage_end(r->store, r->id, "validate", "failed", -1);
		devsys_task_free(task);
		return err;
	}
	/* The store writes the new state into task.json; the stage's end goes
	 * in after it, so neither write loses the other's fields. */
	if ((rc = devsys_store_stage_end(r->store, r->id, "validate", "ok", DEVSYS_STATE_VALIDATED)) == 0 &&
	    (rc = devsys_record_open(&rec, task)) == 0 &&
	    (rc = devsys_record_stage_end(rec, "validate", "ok", NULL)) == 0)
		rc = devsys_record_save(rec);
	devsys_record_free(rec);
	devsys_task_free(task);
	return rc;
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
	printf("  spec      valid (%s)\n", devsys_spec_get_string(r->spec, "/title"));
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
	if ((rc = read_spec(&r, argc == 2 ? argv[1] : NULL, &bytes)) != 0 ||
	    (rc = load_and_validate(&r, argc == 2 ? argv[1] : NULL, &bytes)) != 0)
		goto out;
	if ((rc = devsys_cli_open_workspace(cli, &r.ws)) != 0)
		goto out;
	if (devsys_store_open(&r.store, r.ws, NULL) < 0) {
		rc = devsys_cli_fail_lib(cli, "cannot open the task store");
		goto out;
	}
	if (validate_stage(&r, bytes.ptr, bytes.size) < 0) {
		rc = devsys_cli_fail_lib(cli, "the validate stage failed");
		goto out;
	}
	rc = report(&r);
out:
	devsys_buf_dispose(&bytes);
	devsys_store_free(r.store);
	devsys_workspace_free(r.ws);
	devsys_spec_free(r.spec);
	return rc;
}

#else

static int cmd_run(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return devsys_cli_usage_error(cli, "devsys run needs the spec, store and record modules in this build");
}

#endif

const devsys_cli_command devsys_cli_run_commands[] = {
	{ "run", "[SPEC]", "run the main job on a spec (default: the embedded specs/create-blog.yaml)", cmd_run },
	{ NULL, NULL, NULL, NULL }
};
