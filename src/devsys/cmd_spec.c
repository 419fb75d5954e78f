/*
 * Spec commands: validate, schema.
 */
#include "cli.h"

#include <string.h>

/* Exit precedence: unreadable (2) over invalid (1) over ok (0). */
static int worse(int a, int b)
{
	if (a == DEVSYS_EXIT_USAGE || b == DEVSYS_EXIT_USAGE)
		return DEVSYS_EXIT_USAGE;
	if (a == DEVSYS_EXIT_SYSTEM || b == DEVSYS_EXIT_SYSTEM)
		return DEVSYS_EXIT_SYSTEM;
	return a > b ? a : b;
}

static json_t *validation_json(const devsys_validation *v)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j = NULL;
	if (devsys_validation_to_json(&b, v) == 0)
		j = json_loadb(b.ptr, b.size, 0, NULL);
	devsys_buf_dispose(&b);
	return j;
}

static int validate_one(devsys_cli *cli, const char *path, json_t *files)
{
	devsys_spec *spec = NULL;
	int exit_code = DEVSYS_EXIT_OK;
	int rc = devsys_spec_load_file(&spec, path, NULL);
	if (rc) {
		const devsys_error *e = devsys_error_last();
		int code = devsys_error_code(e);
		exit_code = code == DEVSYS_ENOMEM ? DEVSYS_EXIT_SYSTEM : DEVSYS_EXIT_USAGE;
		if (cli->json)
			json_array_append_new(files, json_pack("{s:s,s:b,s:{s:s,s:s}}", "file", path, "valid", 0, "error", "code",
			                                       devsys_error_name(code), "message", devsys_error_message(e)));
		else
			fprintf(stderr, "%s%s%s\n", devsys_cli_color(cli, "\033[1;31m"), devsys_error_message(e),
			        devsys_cli_color(cli, "\033[0m"));
		return exit_code;
	}
	json_t *docs = cli->json ? json_array() : NULL;
	size_t n = devsys_spec_count(spec);
	for (size_t i = 0; i < n; i++) {
		devsys_validation *v = NULL;
		rc = devsys_spec_validate(&v, spec, i);
		if (rc != 0 && rc != DEVSYS_EINVALID) {
			if (cli->json)
				json_array_append_new(docs, json_pack("{s:I,s:{s:s,s:s}}", "index", (json_int_t)i, "error", "code",
				                                      devsys_error_name(rc),
				                                      "message", devsys_error_message(devsys_error_last())));
			else
				fprintf(stderr, "%s: %s\n", path, devsys_error_message(devsys_error_last()));
			exit_code = worse(exit_code, devsys_cli_exit_code(rc));
			continue;
		}
		if (rc == DEVSYS_EINVALID)
			exit_code = worse(exit_code, DEVSYS_EXIT_FAILED);
		const char *id = devsys_node_string(devsys_node_get(devsys_spec_at(spec, i), "/id"), NULL);
		if (cli->json) {
			json_t *vj = validation_json(v);
			json_t *d = json_pack("{s:I,s:b}", "index", (json_int_t)i, "valid", rc == 0);
			if (id)
				json_object_set_new(d, "id", json_string(id));
			json_object_set_new(d, "errors", vj && json_object_get(vj, "errors") ? json_incref(json_object_get(vj, "errors"))
			                                                                   : json_array());
			json_decref(vj);
			json_array_append_new(docs, d);
		} else if (rc == 0) {
			if (n > 1)
				printf("%s: document %zu (%s): valid\n", path, i + 1, id ? id : "no id");
			else
				printf("%s: valid (%s)\n", path, id ? id : "no id");
		} else {
			devsys_cli_print_validation(stdout, v);
		}
		devsys_validation_free(v);
	}
	if (cli->json)
		json_array_append_new(files, json_pack("{s:s,s:b,s:o}", "file", path, "valid", exit_code == 0, "documents", docs));
	devsys_spec_free(spec);
	return exit_code;
}

void devsys_cli_print_validation(FILE *out, const devsys_validation *v)
{
	for (size_t k = 0; k < devsys_validation_count(v); k++) {
		const devsys_validation_error *e = devsys_validation_at(v, k);
		const char *loc = devsys_validation_error_instance_location(e);
		fprintf(out, "%s:%u:%u: %s: %s\n", devsys_validation_error_file(e), devsys_validation_error_line(e),
		        devsys_validation_error_column(e), *loc ? loc : "/", devsys_validation_error_message(e));
	}
}

static int cmd_validate(devsys_cli *cli, int argc, char **argv)
{
	int exit_code = DEVSYS_EXIT_OK;
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	if (argc <= first)
		return devsys_cli_usage_error(cli, "validate needs at least one FILE (a task spec in YAML or JSON)");
	json_t *files = cli->json ? json_array() : NULL;
	for (int i = first; i < argc; i++)
		exit_code = worse(exit_code, validate_one(cli, argv[i], files));
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:b,s:o}", "valid", exit_code == DEVSYS_EXIT_OK, "files", files));
	return exit_code;
}

static int cmd_schema(devsys_cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argv;
	if (argc > 1)
		return devsys_cli_usage_error(cli, "schema takes no arguments");
	const char *text = devsys_spec_task_schema_text();
	fputs(text, stdout);
	if (!*text || text[strlen(text) - 1] != '\n')
		fputc('\n', stdout);
	return DEVSYS_EXIT_OK;
}

const devsys_cli_command devsys_cli_spec_commands[] = {
	{ "validate", "FILE...", "check task specs against the task schema (file:line:col: /pointer: message)",
	  cmd_validate },
	{ "schema", "", "print the canonical task schema (JSON Schema 2020-12)", cmd_schema },
	{ NULL, NULL, NULL, NULL },
};
