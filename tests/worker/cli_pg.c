/*
 * `devsys queue`, `devsys workers` and `devsys check` with --config FILE on
 * a real PostgreSQL store named only by that devsys.yaml's store: section
 * (DEVSYS_STORE_URL unset, the password from a secret): they read the
 * database the configuration names, as `devsys worker` does. The control:
 * the same commands without --config read the workspace's SQLite store,
 * which does not hold the task.
 */
#include "pg_suite.h"
#include <devsys.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dir;
static dt_pg *pg;
static const char *cli;

static void setup(void)
{
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_not_null(cli = getenv("DEVSYS_CLI"), "DEVSYS_CLI is not set by the build");
	unsetenv("DEVSYS_STORE_URL"); /* only the configuration may name the database */
	cr_assert_eq(devsys_init(), 1);
	cr_assert(dir = dt_tmpdir("clipg"));
	dt_private_home(dir);
	dt_pipe_remote(dir, NULL);
	{
		char why[512];
		pg = dt_pg_suite(why, sizeof(why));
	}
}

static void teardown(void)
{
	dt_pg_free(pg);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	unsetenv("DT_CPG_PASSWORD");
	devsys_shutdown();
}

TestSuite(cli_pg, .init = setup, .fini = teardown, .timeout = 120);

/* The workspace <dir>/site, its devsys.yaml @p config naming a fresh database,
 * and task @p id queued through a pipeline of that configuration. */
static void submit_on_pg(const char *id, char *config, size_t size)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	char path[4096], yaml[4096], spec[4096], *url;
	dt_pg_need(pg);
	cr_assert(url = dt_pg_newdb(pg, "clipg"));
	snprintf(path, sizeof(path), "%s/site", dir);
	snprintf(config, size, "%s/site.yaml", dir);
	snprintf(yaml, sizeof(yaml),
	         "store:\n  url: %s\n  password_secret: DT_CPG_PASSWORD\nrunners:\n  local:\n    type: inproc\n", url);
	free(url);
	setenv("DT_CPG_PASSWORD", pg->password, 1);
	cr_assert(dt_write_file(config, yaml));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Queued task %s\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/true]\ntests:\n  command: [/bin/true]\nrunner: local\n",
	         id, id, dir);
	OK(devsys_workspace_open(&ws, path, NULL));
	po.config_path = config;
	OK(devsys_pipeline_new(&p, ws, &po));
	cr_assert_str_eq(devsys_store_backend_name(devsys_pipeline_store(p)), "postgresql");
	OK(devsys_pipeline_validate(NULL, p, spec, strlen(spec), id));
	OK(devsys_store_submit(devsys_pipeline_store(p), id, "local", NULL));
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
}

/* `devsys --json --workspace <dir>/site ARGS` (stderr to <dir>/err): its
 * stdout parsed as JSON (NULL when it is not), its exit status in @p status. */
static json_t *cli_json(int *status, const char *args)
{
	char *out = dt_sh_output(status, "'%s' --json --workspace '%s/site' %s 2>'%s/err'", cli, dir, args, dir);
	json_t *j = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	return j;
}

/* @p j as compact text for an assertion's message (a buffer of its own, overwritten by the next call). */
static const char *dump(const json_t *j)
{
	static char buf[4096];
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	snprintf(buf, sizeof(buf), "%s", s ? s : "(none)");
	free(s);
	return buf;
}

static bool queue_has(json_t *j, const char *id)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(j, "queue"), i, e)
	if (strcmp(json_string_value(json_object_get(e, "task")), id) == 0)
		return true;
	return false;
}

Test(cli_pg, queue_with_config_lists_the_task_queued_in_the_configured_postgresql)
{
	char config[4096], args[4200];
	int st;
	json_t *j;
	submit_on_pg("q-1", config, sizeof(config));

	snprintf(args, sizeof(args), "queue --config '%s'", config);
	cr_assert_not_null(j = cli_json(&st, args), "queue --config printed no JSON");
	cr_assert_eq(st, 0);
	cr_assert(queue_has(j, "q-1"), "the configured store's queue holds q-1: %s", dump(j));
	json_decref(j);

	/* the same with --config=FILE, and narrowed to the task */
	snprintf(args, sizeof(args), "queue --config='%s' q-1", config);
	cr_assert_not_null(j = cli_json(&st, args));
	cr_assert_eq(st, 0);
	cr_assert(queue_has(j, "q-1"), "%s", dump(j));
	json_decref(j);

	/* the control: without --config the workspace's SQLite store is read, and it holds no task */
	cr_assert_not_null(j = cli_json(&st, "queue"));
	cr_assert_eq(st, 0);
	cr_assert(!queue_has(j, "q-1"), "SQLite does not hold q-1: %s", dump(j));
	cr_assert_eq(json_array_size(json_object_get(j, "queue")), 0);
	json_decref(j);
}

static bool has_worker(json_t *j, const char *id)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(j, "workers"), i, e)
	if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
		return true;
	return false;
}

Test(cli_pg, workers_and_check_with_config_read_the_configured_postgresql)
{
	devsys_worker *w = NULL;
	char config[4096], args[4200];
	int st;
	json_t *j;
	submit_on_pg("c-1", config, sizeof(config));

	/* a worker of the configuration beats into the PostgreSQL registry when it opens */
	{
		devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
		devsys_workspace *ws = NULL;
		char path[4096];
		snprintf(path, sizeof(path), "%s/site", dir);
		OK(devsys_workspace_open(&ws, path, NULL));
		o.id = "cw-1";
		o.config_path = config;
		OK(devsys_worker_open(&w, ws, &o));
		devsys_workspace_free(ws);
	}
	snprintf(args, sizeof(args), "workers --config '%s'", config);
	cr_assert_not_null(j = cli_json(&st, args), "workers --config printed no JSON");
	cr_assert_eq(st, 0);
	cr_assert(has_worker(j, "cw-1"), "the configured registry lists cw-1: %s", dump(j));
	json_decref(j);
	cr_assert_not_null(j = cli_json(&st, "workers"));
	cr_assert_eq(st, 0);
	cr_assert(!has_worker(j, "cw-1"), "control: SQLite's registry does not: %s", dump(j));
	json_decref(j);
	devsys_worker_free(w);
	w = NULL;

	/* the task's folder and the PostgreSQL row agree: one task checked, no drift */
	snprintf(args, sizeof(args), "check --config '%s'", config);
	cr_assert_not_null(j = cli_json(&st, args), "check --config printed no JSON");
	cr_assert_eq(st, 0, "no drift against the configured store: %s", dump(j));
	cr_assert_eq(json_array_size(json_object_get(j, "drift")), 0, "%s", dump(j));
	cr_assert_eq(json_integer_value(json_object_get(j, "checked")), 1, "%s", dump(j));
	json_decref(j);

	/* the control: against SQLite, which lacks the task, its folder is drift */
	cr_assert_not_null(j = cli_json(&st, "check"));
	cr_assert_neq(st, 0, "drift is a failed check: %s", dump(j));
	cr_assert(json_array_size(json_object_get(j, "drift")) > 0, "%s", dump(j));
	json_decref(j);
}

Test(cli_pg, a_missing_config_file_is_an_error_naming_it)
{
	char args[4200], *err;
	int st;
	json_t *j;
	snprintf(args, sizeof(args), "queue --config '%s/nope.yaml'", dir);
	j = cli_json(&st, args);
	cr_assert_neq(st, 0, "a missing configuration fails");
	{
		const char *s = dump(j);
		char p[4096];
		snprintf(p, sizeof(p), "%s/err", dir);
		err = dt_read_file(p, NULL);
		/* --json puts the error on stdout */
		cr_assert(strstr(s, "nope.yaml") || (err && strstr(err, "nope.yaml")), "the error names the file: %s %s", s,
		          err ? err : "");
		free(err);
	}
	json_decref(j);
}
