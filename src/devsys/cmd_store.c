/*
 * Task store commands: tasks, show, check.
 */
#include "cli.h"

#include <devsys/record.h>
#include <devsys/store.h>

#include <stdlib.h>
#include <string.h>

int devsys_cli_open_store(devsys_cli *cli, devsys_workspace **ws, devsys_store **st, const char *config)
{
	struct devsys_config *cfg = NULL;
	int rc, orc = 0;
	*ws = NULL;
	*st = NULL;
#ifndef DEVSYS_HAVE_MODULE_CONFIG
	if (config)
		return devsys_cli_usage_error(cli, "--config needs the config module in this build");
#endif
	if ((rc = devsys_cli_open_workspace(cli, ws)) != 0)
		return rc;
#ifdef DEVSYS_HAVE_MODULE_CONFIG
	if (config)
		orc = devsys_config_load(&cfg, config);
#endif
	/* the store the configuration's store: section names, as the worker's */
	if (orc < 0 || devsys_store_open_config(st, *ws, NULL, cfg) < 0) {
		rc = devsys_cli_fail_lib(cli, config ? "cannot open the task store or the configuration"
		                                     : "cannot open the task store");
		devsys_workspace_free(*ws);
		*ws = NULL;
	}
#ifdef DEVSYS_HAVE_MODULE_CONFIG
	devsys_config_free(cfg);
#endif
	return rc;
}

int devsys_cli_config_arg(const char **config, int *i, int argc, char **argv)
{
	if (!strcmp(argv[*i], "--config") && *i + 1 < argc) {
		*config = argv[++*i];
		return 1;
	}
	if (!strncmp(argv[*i], "--config=", 9)) {
		*config = argv[*i] + 9;
		return 1;
	}
	return 0;
}

static int open_store(devsys_cli *cli, devsys_workspace **ws, devsys_store **st)
{
	return devsys_cli_open_store(cli, ws, st, NULL);
}

static const char *state_colour(const char *s)
{
	if (!strcmp(s, "failed") || !strcmp(s, "interrupted"))
		return "\033[1;31m";
	if (!strcmp(s, "done") || !strcmp(s, "merged"))
		return "\033[32m";
	if (!strcmp(s, "canceled") || !strcmp(s, "no-changes") || !strcmp(s, "deploy-skipped"))
		return "\033[2m";
	return "\033[33m";
}

static int cmd_tasks(devsys_cli *cli, int argc, char **argv)
{
	const char *state = NULL;
	size_t limit = 50, offset = 0;
	devsys_workspace *ws;
	devsys_store *st;
	devsys_buf out = DEVSYS_BUF_INIT;
	json_t *j;
	int rc;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--state") && i + 1 < argc)
			state = argv[++i];
		else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			limit = strtoul(argv[++i], &end, 10);
			if (*end || limit == 0 || limit > 1000)
				return devsys_cli_usage_error(cli, "--limit takes 1..1000");
		} else if (!strcmp(argv[i], "--offset") && i + 1 < argc) {
			offset = strtoul(argv[++i], &end, 10);
			if (*end)
				return devsys_cli_usage_error(cli, "--offset takes a number");
		} else
			return devsys_cli_usage_error(cli, "tasks: unknown argument '%s'", argv[i]);
	}
	if ((rc = open_store(cli, &ws, &st)) != 0)
		return rc;
	if (devsys_store_list_json(st, state, offset, limit, &out) < 0)
		rc = devsys_cli_fail_lib(cli, "cannot list tasks");
	else if (cli->json)
		fputs(out.ptr, stdout), fputc('\n', stdout);
	else if ((j = json_loads(out.ptr, 0, NULL))) {
		json_t *tasks = json_object_get(j, "tasks"), *t;
		size_t i;
		printf("%-28s %-16s %-10s %s\n", "TASK", "STATE", "STAGE", "UPDATED");
		json_array_foreach(tasks, i, t)
		{
			const char *s = json_string_value(json_object_get(t, "state"));
			const char *stage = json_string_value(json_object_get(t, "stage"));
			printf("%-28s %s%-16s%s %-10s %s\n", json_string_value(json_object_get(t, "id")),
			       devsys_cli_color(cli, state_colour(s)), s, devsys_cli_color(cli, "\033[0m"), stage ? stage : "-",
			       json_string_value(json_object_get(t, "updated_at")));
		}
		printf("(%zu of %lld)\n", json_array_size(tasks), (long long)json_integer_value(json_object_get(j, "total")));
		json_decref(j);
	}
	devsys_buf_dispose(&out);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return rc;
}

static int cmd_show(devsys_cli *cli, int argc, char **argv)
{
	devsys_workspace *ws;
	devsys_store *st;
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	devsys_buf row = DEVSYS_BUF_INIT, doc = DEVSYS_BUF_INIT;
	int rc;
	if (argc != 2)
		return devsys_cli_usage_error(cli, "show takes one TASK");
	if ((rc = open_store(cli, &ws, &st)) != 0)
		return rc;
	/* the record from the folder, unless (shared store) the folder here is behind the store's: then the store's */
	if (devsys_store_task_json(st, argv[1], &row) < 0 ||
	    (devsys_store_folder_current(st, argv[1]) == 0
	             ? devsys_store_document(&doc, st, argv[1], "task.json") < 0
	             : (devsys_task_open(&task, ws, argv[1], 0) < 0 || devsys_record_open(&rec, task) < 0 ||
	                devsys_record_json(rec, &doc) < 0))) {
		rc = devsys_cli_fail_lib(cli, "cannot show the task");
		goto done;
	}
	if (cli->json) {
		devsys_cli_print_json(json_pack("{s:o,s:o}", "store", json_loads(row.ptr, 0, NULL), "record",
		                                json_loads(doc.ptr, 0, NULL)));
	} else {
		json_t *r = json_loads(row.ptr, 0, NULL), *d = json_loads(doc.ptr, 0, NULL), *stages, *runs, *v;
		const char *k, *s = json_string_value(json_object_get(r, "state"));
		size_t i;
		printf("task      %s\nstate     %s%s%s\n", argv[1], devsys_cli_color(cli, state_colour(s)), s,
		       devsys_cli_color(cli, "\033[0m"));
		json_object_foreach(d, k, v)
		{
			if (json_is_string(v) && strcmp(k, "id") && strcmp(k, "state"))
				printf("%-9s %s\n", k, json_string_value(v));
			else if (json_is_integer(v))
				printf("%-9s %lld\n", k, (long long)json_integer_value(v));
		}
		if ((stages = json_object_get(d, "stages")) && json_object_size(stages)) {
			printf("stages:\n");
			json_object_foreach(stages, k, v)
			{
				const char *res = json_string_value(json_object_get(v, "result"));
				const char *fc = json_string_value(json_object_get(v, "failure_class"));
				printf("  %-9s %-10s %s -> %s%s%s\n", k, res ? res : "running",
				       json_string_value(json_object_get(v, "start")) ? json_string_value(json_object_get(v, "start"))
				                                                      : "-",
				       json_string_value(json_object_get(v, "end")) ? json_string_value(json_object_get(v, "end")) : "-",
				       fc ? " failure: " : "", fc ? fc : "");
			}
		}
		runs = json_object_get(r, "runs");
		json_array_foreach(runs, i, v)
		printf("run %-5lld %lld tests, %lld failed, %lld errors, %lld skipped\n",
		       (long long)json_integer_value(json_object_get(v, "run")),
		       (long long)json_integer_value(json_object_get(v, "tests")),
		       (long long)json_integer_value(json_object_get(v, "failed")),
		       (long long)json_integer_value(json_object_get(v, "errors")),
		       (long long)json_integer_value(json_object_get(v, "skipped")));
		json_decref(r);
		json_decref(d);
	}
	rc = DEVSYS_EXIT_OK;
done:
	devsys_buf_dispose(&row);
	devsys_buf_dispose(&doc);
	devsys_record_free(rec);
	devsys_task_free(task);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return rc;
}

static int cmd_check(devsys_cli *cli, int argc, char **argv)
{
	devsys_workspace *ws;
	devsys_store *st;
	devsys_buf out = DEVSYS_BUF_INIT;
	size_t n = 0;
	const char *config = NULL;
	int repair = 0, rc;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--repair"))
			repair = 1;
		else if (!devsys_cli_config_arg(&config, &i, argc, argv))
			return devsys_cli_usage_error(cli, "check takes only --repair and --config FILE");
	if ((rc = devsys_cli_open_store(cli, &ws, &st, config)) != 0)
		return rc;
	if (devsys_store_check(st, repair, &out, &n) < 0)
		rc = devsys_cli_fail_lib(cli, "cannot check the workspace");
	else {
		if (cli->json)
			fputs(out.ptr, stdout), fputc('\n', stdout);
		else {
			json_t *j = json_loads(out.ptr, 0, NULL), *v;
			size_t i;
			json_array_foreach(json_object_get(j, "drift"), i, v)
			printf("%-20s %-17s %s%s\n", json_string_value(json_object_get(v, "task")),
			       json_string_value(json_object_get(v, "kind")), json_string_value(json_object_get(v, "detail")),
			       json_is_true(json_object_get(v, "repaired")) ? " (repaired)" : "");
			printf("%zu drift entr%s in %lld tasks%s\n", n, n == 1 ? "y" : "ies",
			       (long long)json_integer_value(json_object_get(j, "checked")),
			       n && !repair ? "; run 'devsys check --repair' to fix" : "");
			json_decref(j);
		}
		rc = n && !repair ? DEVSYS_EXIT_FAILED : DEVSYS_EXIT_OK;
	}
	devsys_buf_dispose(&out);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return rc;
}

const devsys_cli_command devsys_cli_store_commands[] = {
	{ "tasks", "[--state S] [--limit N] [--offset N]", "list the workspace's tasks", cmd_tasks },
	{ "show", "TASK", "show a task: state, record, stages, runs", cmd_show },
	{ "check", "[--repair] [--config FILE]",
	  "report (and repair) drift between task folders and the store (its config's store: section)", cmd_check },
	{ NULL, NULL, NULL, NULL }
};
