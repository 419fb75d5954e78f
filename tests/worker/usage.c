/*
 * The worker's agent usage totals (devsys_worker_stats agent_*), from the
 * real opencode CLI against the scripted model server: they are the sums of
 * what the agent stages it ran recorded in task.json agent.usage, and a
 * command agent (no usage) adds nothing.
 */
#include "model_fixture.h"
#include "testutil.h"
#include <devsys.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static char config[4096];

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_model_suite_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_model_suite_stop();
}

#define OK(expr) cr_assert_eq((expr), 0, "%s: %s", #expr, devsys_error_message(devsys_error_last()))

static void setup(void)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	char *git = dt_which("git"), *yaml = NULL;
	if (!git)
		dt_skip("git is not installed");
	free(git);
	dt_model_url();
	dt_model_opencode();
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("workerusage");
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t && echo hello > README &&"
	                   " git add . && git commit -qm init && git push -q origin main",
	                   dir),
	             0);
	/* npm kept off the network */
	setenv("npm_config_registry", "http://127.0.0.1:9/", 1);
	setenv("NPM_CONFIG_OFFLINE", "true", 1);
	snprintf(config, sizeof(config), "%s/devsys.yaml", dir);
	cr_assert(asprintf(&yaml,
	                   "agents:\n  opencode:\n    kind: opencode\n    provider: fake\n    base_url: %s\n"
	                   "    models: fake-model\n    command: %s\n    max_steps: 20\n",
	                   dt_model_url(), dt_model_opencode()) > 0);
	cr_assert(dt_write_file(config, yaml));
	free(yaml);
	po.config_path = config;
	OK(devsys_workspace_open(&ws, dir, NULL));
	OK(devsys_pipeline_new(&pl, ws, &po));
}

static void teardown(void)
{
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(worker_usage, .init = setup, .fini = teardown, .timeout = 240);

static void submit(const char *id, const char *agent)
{
	char spec[4096];
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Usage task %s\nprompt: Write hello.txt saying hi.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n%s"
	         "tests:\n  command: [/bin/true]\n",
	         id, id, dir, agent);
	OK(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id));
	OK(devsys_store_submit(devsys_pipeline_store(pl), id, NULL, NULL));
}

static void run_once(devsys_worker_stats *st)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker *w = NULL;
	o.flags = DEVSYS_WORKER_ONCE;
	o.config_path = config;
	o.poll_ms = 50;
	OK(devsys_worker_open(&w, ws, &o));
	OK(devsys_worker_run(w));
	st->version = DEVSYS_WORKER_STATS_VERSION;
	OK(devsys_worker_stats_get(st, w));
	devsys_worker_free(w);
}

static json_t *usage_of(const char *id)
{
	char p[4096];
	json_t *j, *u;
	snprintf(p, sizeof(p), "%s/tasks/%s/task.json", dir, id);
	cr_assert((j = json_load_file(p, 0, NULL)), "%s", p);
	u = json_incref(json_object_get(json_object_get(j, "agent"), "usage"));
	json_decref(j);
	return u;
}

Test(worker_usage, totals_are_the_recorded_usage_of_the_agent_stages_run)
{
	devsys_worker_stats st;
	json_t *u;
	/* the control: a command agent records no usage, and the totals stay 0 */
	submit("cmd1", "  command: [/bin/sh, -c, 'echo hi > hello.txt']\n");
	run_once(&st);
	cr_assert_eq(st.completed, 1);
	cr_assert_eq(st.agent_steps, 0);
	cr_assert_eq(st.agent_tokens, 0);
	cr_assert(!usage_of("cmd1"));
	cr_assert_eq(dt_model_script("{\"turns\":[{\"tool\":\"write\",\"args\":{\"filePath\":\"hello.txt\","
	                             "\"content\":\"hi from opencode\\n\"},\"usage\":{\"prompt_tokens\":120,"
	                             "\"completion_tokens\":30}},{\"text\":\"I wrote hello.txt.\"}]}"),
	             0);
	submit("oc1", "  kind: opencode\n");
	run_once(&st);
	cr_assert_eq(st.completed, 1);
	cr_assert((u = usage_of("oc1")), "opencode recorded no usage");
	cr_assert_gt(json_integer_value(json_object_get(u, "tokens")), 0);
	cr_assert_eq((long long)st.agent_steps, (long long)json_integer_value(json_object_get(u, "steps")));
	cr_assert_eq((long long)st.agent_tokens, (long long)json_integer_value(json_object_get(u, "tokens")));
	cr_assert_float_eq(st.agent_cost, json_number_value(json_object_get(u, "cost")), 1e-9);
	json_decref(u);
}
