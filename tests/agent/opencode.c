/* The opencode agent kind end to end through the pipeline's coding stages:
 * the real opencode CLI (scripts/deps/opencode.npm) in the task's checkout,
 * against the scripted model server (one per suite), on a real bare
 * repository over file://. What the model says is scripted; what opencode
 * does with it (its tools, its JSONL events, its exit) is opencode's own. */
#include "model_fixture.h"
#include "pipeline_fixture.h"
#include "testutil.h"
#include <devsys.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Planted in the test's environment: it must reach neither the model nor the agent. */
#define FORGE_TOKEN "ghp_" "plantedForgeToken0123456789abcdef" /* split: no credential-shaped literal */

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;

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

/* The operator's devsys.yaml: opencode profiles for the scripted server. */
static void write_config(const char *extra)
{
	char path[4096], *yaml = NULL;
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	cr_assert(asprintf(&yaml,
	                   "agents:\n"
	                   "  opencode:\n    kind: opencode\n    provider: fake\n    base_url: %s\n"
	                   "    models: [fake-model, other-model]\n    command: %s\n    max_steps: 20\n"
	                   "    max_tokens: 100000\n%s"
	                   "  opencode-priced:\n    kind: opencode\n    provider: fake\n    base_url: %s\n"
	                   "    models: fake-model\n    command: %s\n    cost_input: 1000\n    cost_output: 1000\n"
	                   "    max_cost: 1.5\n"
	                   "  opencode-bash:\n    kind: opencode\n    provider: fake\n    base_url: %s\n"
	                   "    models: fake-model\n    command: %s\n    tools: [read, write, edit, bash]\n",
	                   dt_model_url(), dt_model_opencode(), extra ? extra : "", dt_model_url(), dt_model_opencode(),
	                   dt_model_url(), dt_model_opencode()) > 0);
	cr_assert(dt_write_file(path, yaml));
	free(yaml);
}

/* The agent stage's progress events ("label|current|total" lines), for the live view's test. */
static char progress_seen[8192];

static int on_progress(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_PROGRESS && ev->stage && !strcmp(ev->stage, "agent"))
		snprintf(progress_seen + strlen(progress_seen), sizeof(progress_seen) - strlen(progress_seen),
		         "%.*s|%llu|%llu\n", (int)ev->len, ev->data, (unsigned long long)ev->current,
		         (unsigned long long)ev->total);
	return 0;
}

static void open_pipeline(unsigned idle_ms)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	char cfg[4096];
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", dir);
	ro.grace_ms = 500;
	po.runner = &ro;
	po.config_path = cfg;
	po.agent_idle_timeout_ms = idle_ms;
	po.progress = on_progress;
	progress_seen[0] = '\0';
	devsys_pipeline_free(pl);
	pl = NULL; /* a failed open leaves the teardown nothing to free twice */
	pl = dt_pipe_open(ws, &po);
}

static void setup(void)
{
	dt_model_url();
	dt_model_opencode();
	dir = dt_pipe_repo("agentoc", NULL);
	ws = dt_pipe_workspace(dir);
	/* the forge token a careless pipeline would hand on; npm kept off the network */
	setenv("GITHUB_TOKEN", FORGE_TOKEN, 1);
	setenv("npm_config_registry", "http://127.0.0.1:9/", 1);
	setenv("NPM_CONFIG_OFFLINE", "true", 1);
	write_config(NULL);
	pl = NULL;
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

TestSuite(agent_opencode, .init = setup, .fini = teardown, .timeout = 240);

static void validate(const char *id, const char *agent_extra)
{
	char spec[4096];
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Agent task %s\nprompt: Write hello.txt saying hi.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  kind: opencode\n%s"
	         "tests:\n  command: [make, check]\n",
	         id, id, dir, agent_extra ? agent_extra : "");
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s",
	             dt_errmsg());
}

static json_t *usage_of(json_t *tj)
{
	json_t *u = json_object_get(json_object_get(tj, "agent"), "usage");
	cr_assert(json_is_object(u), "task.json has no agent.usage");
	return u;
}

static char *task_file(const char *id, const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, rel);
	return dt_read_file(p, NULL);
}

/* The paths the tool calls of @p tool named, comma-joined into @p out. */
static void tool_paths(char *out, size_t cap, json_t *usage, const char *tool)
{
	size_t i, k;
	json_t *t, *p;
	out[0] = '\0';
	json_array_foreach(json_object_get(usage, "tools"), i, t)
	{
		if (strcmp(json_string_value(json_object_get(t, "tool")), tool))
			continue;
		json_array_foreach(json_object_get(t, "paths"), k, p)
		{
			strncat(out, json_string_value(p), cap - strlen(out) - 2);
			strcat(out, ",");
		}
	}
}

Test(agent_opencode, writes_a_file_through_its_write_tool_and_the_pipeline_commits_it)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char paths[1024], *out, *jsonl;
	json_t *tj, *u;
	int st;
	open_pipeline(0);
	validate("oc-write", NULL);
	cr_assert_eq(dt_model_script("{\"turns\":[{\"tool\":\"write\",\"args\":{\"filePath\":\"hello.txt\","
	                             "\"content\":\"hi from opencode\\n\"},\"usage\":{\"prompt_tokens\":120,"
	                             "\"completion_tokens\":30}},{\"text\":\"I wrote hello.txt.\"}]}"),
	             0);
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.stage, "push");
	/* the file is in the pushed commit on the task's branch */
	out = dt_sh_output(&st, "git -C '%s/remote.git' show task/oc-write:hello.txt", dir);
	cr_assert(st == 0 && out && strcmp(out, "hi from opencode\n") == 0, "%s", out ? out : "");
	free(out);
	tj = dt_pipe_task_json(dir, "oc-write");
	u = usage_of(tj);
	cr_assert_eq(json_integer_value(json_object_get(u, "steps")), 2);
	cr_assert_eq(json_integer_value(json_object_get(u, "tokens")), 150 + 15, "tokens: %lld",
	             (long long)json_integer_value(json_object_get(u, "tokens")));
	tool_paths(paths, sizeof(paths), u, "write");
	cr_assert(strstr(paths, "hello.txt"), "write paths: %s", paths);
	cr_assert_eq(json_integer_value(json_object_get(u, "malformed_lines")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(tj, "agent"), "outcome")), "agent-done");
	json_decref(tj);
	/* the transcript: opencode's events, one a line */
	jsonl = task_file("oc-write", "logs/agent.jsonl");
	cr_assert(jsonl && strstr(jsonl, "\"type\":\"step_finish\"") && strstr(jsonl, "\"tool\":\"write\""), "%s",
	          jsonl ? jsonl : "(none)");
	free(jsonl);
	/* the private config is in the task's HOME, not in the checkout or the commit */
	out = task_file("oc-write", "home/opencode.json");
	cr_assert(out && strstr(out, "\"webfetch\": \"deny\"") && strstr(out, "\"bash\": \"deny\"") &&
	                  !strstr(out, "\"ask\""),
	          "%s", out ? out : "(none)");
	free(out);
	out = dt_sh_output(&st, "git -C '%s/remote.git' ls-tree -r --name-only task/oc-write", dir);
	cr_assert(out && !strstr(out, "opencode.json"), "%s", out ? out : "");
	free(out);
	/* the readable summary at the end of agent.log */
	out = task_file("oc-write", "logs/agent.log");
	cr_assert(out && strstr(out, "==== agent summary: agent-done ====\n") &&
	                  strstr(out, "step 1: write hello.txt; 150 tokens, cost 0\n") &&
	                  strstr(out, "step 2: (no tool); 15 tokens") && strstr(out, "files named by write: hello.txt\n") &&
	                  strstr(out, "totals: 2 steps, 1 tool calls, 165 tokens, cost 0\n"),
	          "%s", out ? out : "(none)");
	free(out);
	/* no snapshots: opencode keeps its sessions in the task's HOME (the control: the right place is looked
	 * at), but no shadow git copy of the checkout there */
	{
		struct stat sb;
		snprintf(paths, sizeof(paths), "%s/tasks/oc-write/home/.local/share/opencode/opencode.db", dir);
		cr_assert(stat(paths, &sb) == 0 && S_ISREG(sb.st_mode), "opencode's sessions are not in %s", paths);
		snprintf(paths, sizeof(paths), "%s/tasks/oc-write/home/.local/share/opencode/snapshot", dir);
		cr_assert(stat(paths, &sb) != 0 && errno == ENOENT, "opencode kept a snapshot of the checkout: %s", paths);
	}
	/* a short prompt goes inline: no prompt file */
	out = task_file("oc-write", "home/prompt.md");
	cr_assert_null(out, "a short prompt was put in a file");
	/* the live view was told the step and the tool: step 1 of max_steps 20, writing hello.txt */
	cr_assert(strstr(progress_seen, "write hello.txt|1|20\n") && strstr(progress_seen, "step 2|2|20\n"), "%s",
	          progress_seen);
}

/* One run serves two checks: the forge token (the agent's bash dumps its environment) and the
 * cross-check with the PR digest (that dump is a file no tool call named; notes.txt is the control). */
Test(agent_opencode, the_forge_token_reaches_neither_the_model_nor_the_agent_and_a_file_bash_wrote_is_reported)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *env, *log, p[4096];
	json_t *tj, *cc, *pr;
	const char *body;
	int st;
	open_pipeline(0);
	validate("oc-env", "  profile: opencode-bash\n");
	cr_assert_eq(dt_model_script("{\"turns\":[{\"tool\":\"write\",\"args\":{\"filePath\":\"notes.txt\",\"content\":"
	                             "\"n\\n\"}},{\"tool\":\"bash\",\"args\":{\"command\":\"env > agent-env.txt\","
	                             "\"description\":\"dump the environment\"}},{\"text\":\"done\"}]}"),
	             0);
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	env = dt_sh_output(&st, "git -C '%s/remote.git' show task/oc-env:agent-env.txt", dir);
	/* positive control: the dump ran inside the agent (its HOME is the task's) */
	cr_assert(st == 0 && env && strstr(env, "/tasks/oc-env/home") && strstr(env, "OPENCODE_CONFIG="), "%s",
	          env ? env : "");
	cr_assert_null(strstr(env, FORGE_TOKEN), "the agent's environment holds the forge token");
	cr_assert_null(strstr(env, "GITHUB_TOKEN="));
	free(env);
	log = dt_model_log_text();
	cr_assert(log && strstr(log, "Write hello.txt saying hi."), "the model saw no prompt");
	cr_assert_null(strstr(log, FORGE_TOKEN), "a request to the model carried the forge token");
	free(log);
	/* the cross-check: the commit changed two files, the write tool named one */
	tj = dt_pipe_task_json(dir, "oc-env");
	cc = json_object_get(json_object_get(tj, "agent"), "cross_check");
	cr_assert_eq(json_integer_value(json_object_get(cc, "changed")), 2);
	cr_assert_eq(json_integer_value(json_object_get(cc, "touched_by_tools")), 1);
	cr_assert_eq(json_integer_value(json_object_get(cc, "not_touched_count")), 1);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cc, "not_touched"), 0)), "agent-env.txt");
	json_decref(tj);
	/* the PR's body carries the digest, with what the cross-check found */
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "pr"), 0, "%s: %s", r.outcome,
	             dt_errmsg());
	snprintf(p, sizeof(p), "%s/remote.git/devsys/prs/1.json", dir);
	pr = json_load_file(p, 0, NULL);
	body = json_string_value(json_object_get(pr, "body"));
	cr_assert(body && strstr(body, "### Coding agent\n\n```\noutcome: agent-done\ntotals: 3 steps, 2 tool calls, ") &&
	                  strstr(body, "files written by tools: notes.txt\n") &&
	                  strstr(body, "changed by the commit: 2; not named by any tool call: agent-env.txt\n") &&
	                  strstr(body, "step 1: write notes.txt; ") && strstr(body, "step 2: bash; "),
	          "%s", body ? body : "(no PR)");
	cr_assert_null(strstr(body, FORGE_TOKEN));
	json_decref(pr);
}

/* Run the coding stages, expect the agent to fail with @p fclass and @p outcome; returns task.json. */
static json_t *expect_fail(const char *id, int fclass, const char *outcome, char *msg, size_t msgcap)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	int rc = devsys_pipeline_code(&r, pl);
	json_t *tj;
	snprintf(msg, msgcap, "%s", dt_errmsg());
	cr_assert_lt(rc, 0, "the agent stage did not fail");
	cr_assert_str_eq(r.stage, "agent", "%s: %s", r.outcome, msg);
	cr_assert_eq(r.failure_class, fclass, "%s: %s", r.outcome, msg);
	cr_assert_str_eq(r.outcome, outcome, "%s", msg);
	tj = dt_pipe_task_json(dir, id);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(tj, "agent"), "outcome")), outcome);
	return tj;
}

/* The requests the model server logged in @p after since @p before (a log text, NULL: all), one per line. */
static const char *since(const char *after, const char *before)
{
	return after + (before ? strlen(before) : 0);
}

/* The JSON line at *@p p (NULL when it does not parse), its length in *@p len;
 * *@p p moves past it and its newline. */
static json_t *next_line(const char **p, size_t *len)
{
	json_t *j;
	*len = strcspn(*p, "\n");
	j = json_loadb(*p, *len, 0, NULL);
	*p += *len + ((*p)[*len] == '\n');
	return j;
}

/* How many of the logged requests in @p log offered tool @p name to the model (body.tools[].function.name). */
static int offered(const char *log, const char *name)
{
	int n = 0;
	size_t len, i;
	for (const char *p = log; *p;) {
		json_t *j = next_line(&p, &len), *tool;
		json_array_foreach(json_object_get(json_object_get(j, "body"), "tools"), i, tool)
		n += strcmp(json_string_value(json_object_get(json_object_get(tool, "function"), "name")) ?: "", name) == 0;
		json_decref(j);
	}
	return n;
}

Test(agent_opencode, a_profile_without_bash_refuses_the_tool_and_no_command_runs)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *before, *after;
	json_t *tj;
	open_pipeline(0);
	validate("oc-nobash", NULL); /* the default profile: bash is not among its tools */
	cr_assert_eq(dt_model_script("{\"turns\":[{\"tool\":\"bash\",\"args\":{\"command\":\"touch ran.txt\","
	                             "\"description\":\"make a file\"}},{\"text\":\"done\"}]}"),
	             0);
	before = dt_model_log_text();
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	/* nothing changed: the command never ran */
	cr_assert_str_eq(r.stage, "commit");
	cr_assert_str_eq(r.outcome, "no-changes");
	{
		char p[4096];
		snprintf(p, sizeof(p), "%s/tasks/oc-nobash/checkout/ran.txt", dir);
		cr_assert_not(dt_exists(p), "bash ran although the profile denies it");
	}
	/* bash was never offered to the model (positive control: write was) */
	after = dt_model_log_text();
	cr_assert_not_null(after);
	cr_assert_gt(offered(since(after, before), "write"), 0, "write was not offered");
	cr_assert_eq(offered(since(after, before), "bash"), 0, "bash was offered to the model");
	free(before);
	free(after);
	/* the scripted call did reach opencode, which refused it */
	{
		char *jsonl = task_file("oc-nobash", "logs/agent.jsonl");
		cr_assert(jsonl && strstr(jsonl, "\"tool\":\"bash\"") && strstr(jsonl, "\"status\":\"error\"") &&
		                  strstr(jsonl, "unavailable tool"),
		          "%s", jsonl ? jsonl : "(none)");
		free(jsonl);
	}
	tj = dt_pipe_task_json(dir, "oc-nobash");
	cr_assert_eq(json_integer_value(json_object_get(usage_of(tj), "tool_calls")), 1);
	json_decref(tj);
}

Test(agent_opencode, the_transcript_is_masked)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	devsys_masker *m = NULL;
	char *jsonl, *log, *out;
	int st;
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "db_password", "db-pass-Zq81x7", 14), 0);
	ro.masker = m; /* the pipeline reads its runner options when a stage opens the runner */
	open_pipeline(0);
	validate("oc-mask", NULL);
	/* the secret goes through a tool's input (write) and a tool's output (read) */
	cr_assert_eq(dt_model_script("{\"turns\":[{\"tool\":\"write\",\"args\":{\"filePath\":\"conf.txt\","
	                             "\"content\":\"password=db-pass-Zq81x7\\n\"}},{\"tool\":\"read\",\"args\":"
	                             "{\"filePath\":\"conf.txt\"}},{\"text\":\"done\"}]}"),
	             0);
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	/* positive control: the agent did handle the value (it is the task's file) */
	out = dt_sh_output(&st, "git -C '%s/remote.git' show task/oc-mask:conf.txt", dir);
	cr_assert(st == 0 && out && strstr(out, "db-pass-Zq81x7"), "%s", out ? out : "");
	free(out);
	jsonl = task_file("oc-mask", "logs/agent.jsonl");
	cr_assert(jsonl && strstr(jsonl, "\"tool\":\"read\"") && strstr(jsonl, "[MASKED:db_password]"), "%s",
	          jsonl ? jsonl : "(none)");
	cr_assert_null(strstr(jsonl, "db-pass-Zq81x7"), "agent.jsonl holds the secret");
	free(jsonl);
	log = task_file("oc-mask", "logs/agent.log");
	cr_assert(log && !strstr(log, "db-pass-Zq81x7"), "agent.log holds the secret");
	free(log);
	devsys_pipeline_free(pl);
	pl = NULL;
	ro.masker = NULL;
	devsys_masker_free(m);
}

Test(agent_opencode, max_steps_stops_a_looping_script)
{
	char msg[1024];
	json_t *tj, *u;
	open_pipeline(0);
	validate("oc-steps", "  max_steps: 3\n");
	cr_assert_eq(dt_model_script("{\"repeat\":true,\"turns\":[{\"tool\":\"write\",\"args\":{\"filePath\":"
	                             "\"loop.txt\",\"content\":\"again\\n\"}}]}"),
	             0);
	tj = expect_fail("oc-steps", DEVSYS_FAILURE_BUDGET, "agent-budget", msg, sizeof(msg));
	cr_assert(strstr(msg, "max_steps 3 crossed: step 4 began"), "%s", msg);
	u = usage_of(tj);
	cr_assert_eq(json_integer_value(json_object_get(u, "steps")), 4);
	cr_assert(strstr(json_string_value(json_object_get(u, "budget_crossed")), "max_steps 3"));
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(json_object_get(tj, "stages"), "agent"), "failure_class")),
	                 "budget");
	json_decref(tj);
}

Test(agent_opencode, max_tokens_stops_on_usage_and_a_spec_only_lowers_it)
{
	char msg[1024];
	json_t *tj, *u;
	open_pipeline(0);
	/* the profile allows 100000; the spec lowers it to 1500 */
	validate("oc-tokens", "  max_tokens: 1500\n");
	cr_assert_eq(dt_model_script("{\"repeat\":true,\"turns\":[{\"tool\":\"write\",\"args\":{\"filePath\":"
	                             "\"t.txt\",\"content\":\"x\\n\"},\"usage\":{\"prompt_tokens\":900,"
	                             "\"completion_tokens\":100}}]}"),
	             0);
	tj = expect_fail("oc-tokens", DEVSYS_FAILURE_BUDGET, "agent-budget", msg, sizeof(msg));
	cr_assert(strstr(msg, "max_tokens 1500 crossed: 2000 tokens after step 2"), "%s", msg);
	u = usage_of(tj);
	cr_assert_eq(json_integer_value(json_object_get(u, "tokens")), 2000);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(u, "budgets"), "max_tokens")), 1500);
	json_decref(tj);
}

Test(agent_opencode, max_cost_stops_on_the_cost_opencode_reports)
{
	char msg[1024];
	json_t *tj, *u;
	open_pipeline(0);
	/* priced at 1000 per million tokens: 1000 tokens a step cost 1.0; the profile's max_cost is 1.5 */
	validate("oc-cost", "  profile: opencode-priced\n");
	cr_assert_eq(dt_model_script("{\"repeat\":true,\"turns\":[{\"tool\":\"write\",\"args\":{\"filePath\":"
	                             "\"c.txt\",\"content\":\"x\\n\"},\"usage\":{\"prompt_tokens\":900,"
	                             "\"completion_tokens\":100}}]}"),
	             0);
	tj = expect_fail("oc-cost", DEVSYS_FAILURE_BUDGET, "agent-budget", msg, sizeof(msg));
	cr_assert(strstr(msg, "max_cost 1.5 crossed: cost 2 after step 2"), "%s", msg);
	u = usage_of(tj);
	cr_assert_float_eq(json_number_value(json_object_get(u, "cost")), 2.0, 1e-6);
	cr_assert_eq(json_integer_value(json_object_get(u, "steps")), 2);
	json_decref(tj);
}

Test(agent_opencode, a_model_that_never_answers_ends_stalled)
{
	char msg[1024], *before, *after;
	json_t *tj;
	/* opencode prints nothing while it boots (about 5 s here): the idle timeout must outlast that */
	open_pipeline(20000);
	validate("oc-hang", NULL);
	cr_assert_eq(dt_model_script("{\"turns\":[{\"hang\":true}]}"), 0);
	before = dt_model_log_text();
	tj = expect_fail("oc-hang", DEVSYS_FAILURE_STALLED, "agent-stalled", msg, sizeof(msg));
	json_decref(tj);
	/* positive control for the stall: opencode did ask the model, which never answered */
	after = dt_model_log_text();
	cr_assert(after && strlen(after) > (before ? strlen(before) : 0) &&
	                  strstr(since(after, before), "\"tools\""),
	          "opencode sent the model no request with tools");
	free(before);
	free(after);
}

/* How many logged requests in @p log were agent turns (offered tools), not title requests. */
static int agent_requests(const char *log)
{
	int n = 0;
	size_t len;
	for (const char *p = log; *p;) {
		json_t *j = next_line(&p, &len);
		n += json_array_size(json_object_get(json_object_get(j, "body"), "tools")) > 0;
		json_decref(j);
	}
	return n;
}

/* Every line of the task's @p rel parses as JSON; returns the text. */
static char *jsonl_parses(const char *id, const char *rel)
{
	char *f = task_file(id, rel);
	cr_assert(f, "%s is missing", rel);
	for (const char *p = f; *p;) {
		const char *line = p;
		size_t len;
		json_t *j = next_line(&p, &len);
		cr_assert(j, "%s: a line does not parse: %.*s", rel, (int)(len > 200 ? 200 : len), line);
		json_decref(j);
	}
	return f;
}

/* devsys.yaml with profile opencode-key for the scripted server: its provider key @p key is
 * read from the file <dir>/provider.key (mode 0600); @p tools_line (may be "") lists its tools. */
static void key_profile(const char *key, const char *tools_line)
{
	char keyfile[4096], extra[8192];
	snprintf(keyfile, sizeof(keyfile), "%s/provider.key", dir);
	cr_assert(dt_write_file(keyfile, key));
	cr_assert_eq(dt_sh("chmod 600 '%s'", keyfile), 0);
	snprintf(extra, sizeof(extra),
	         "  opencode-key:\n    kind: opencode\n    provider: fake\n    base_url: %s\n    models: fake-model\n"
	         "    command: %s\n%s    api_key_secret: provider_key\n    api_key_provider: file\n    api_key_ref: %s\n",
	         dt_model_url(), dt_model_opencode(), tools_line, keyfile);
	write_config(extra);
}

/* The model answers every agent turn with HTTP @p status and @p message (the script holds
 * more error turns than opencode makes attempts). The agent fails with the provider's message
 * in its error, task.json and events.jsonl; the record is whole (task.json and every JSONL line
 * parse, agent.jsonl is kept and holds no provider key) and nothing was committed or pushed.
 * Returns how many agent requests the model received (opencode's own retries included). */
static int provider_error(const char *id, int status, const char *message)
{
	char msg[1024], script[1024], *before, *after, *f;
	const char *key = "sk-" "scriptedProviderKey-9Zr4";
	json_t *tj, *u;
	int n, st;
	key_profile(key, "");
	open_pipeline(0);
	validate(id, "  profile: opencode-key\n");
	/* retry-after-ms, as OpenAI sends it: opencode's backoff between retries (2 s doubling
	 * without it, about 80 s for its retries) follows the provider's header */
	snprintf(script, sizeof(script),
	         "{\"repeat\":true,\"turns\":[{\"status\":%d,\"error\":\"%s\",\"headers\":{\"retry-after-ms\":\"20\"}}]}",
	         status, message);
	cr_assert_eq(dt_model_script(script), 0);
	before = dt_model_log_text();
	tj = expect_fail(id, DEVSYS_FAILURE_BUILD, "agent-failed", msg, sizeof(msg));
	after = dt_model_log_text();
	n = agent_requests(since(after, before));
	free(before);
	free(after);
	cr_assert(strstr(msg, "see logs/agent.log") && strstr(msg, message), "the stage's error names the provider's message: %s",
	          msg);
	u = usage_of(tj);
	cr_assert_str_eq(json_string_value(json_object_get(u, "error")), message);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(tj, "agent"), "exit_code")), 1);
	json_decref(tj);
	f = jsonl_parses(id, "events.jsonl");
	cr_assert(strstr(f, "\"stage.end\"") && strstr(f, "\"failure_class\":\"build\""), "%s", f);
	cr_assert(strstr(f, "\"reason\":\"the agent") && strstr(f, message), "the stage.end reason names it: %s", f);
	free(f);
	f = jsonl_parses(id, "logs/agent.jsonl");
	cr_assert(strstr(f, message), "agent.jsonl lacks the provider's message");
	cr_assert_null(strstr(f, key), "agent.jsonl holds the provider key");
	free(f);
	f = task_file(id, "logs/agent.log");
	cr_assert(f && !strstr(f, key), "agent.log is missing or holds the provider key");
	free(f);
	/* nothing half-done: no task branch was pushed and the checkout holds only the base commit */
	f = dt_sh_output(&st, "git -C '%s/remote.git' for-each-ref --format='%%(refname)' refs/heads/task/%s", dir, id);
	cr_assert(f && !*f, "a task branch was pushed: %s", f ? f : "");
	free(f);
	f = dt_sh_output(&st, "git -C '%s/tasks/%s/checkout' rev-list --count HEAD", dir, id);
	cr_assert(f && atoi(f) == 1, "the checkout has commits beyond the base: %s", f ? f : "");
	free(f);
	return n;
}

Test(agent_opencode, a_provider_401_fails_at_once_with_its_message_and_the_record_intact)
{
	int n = provider_error("oc-401", 401, "scripted: invalid API key");
	/* not retryable: one attempt */
	cr_assert_eq(n, 1, "opencode asked the model %d times for a 401", n);
}

Test(agent_opencode, a_provider_429_fails_with_its_message_and_the_record_intact)
{
	int n = provider_error("oc-429", 429, "scripted: rate limit reached");
	/* retryable: opencode's own retry loop, the first attempt and 5 retries, then it gives up */
	cr_assert_eq(n, 6, "opencode asked the model %d times for a 429", n);
}

Test(agent_opencode, a_provider_500_fails_with_its_message_and_the_record_intact)
{
	int n = provider_error("oc-500", 500, "scripted: internal server error");
	cr_assert_eq(n, 6, "opencode asked the model %d times for a 500", n);
}

Test(agent_opencode, a_malformed_and_a_10_mb_event_line_are_counted_not_kept)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char script[4096], *jsonl;
	json_t *tj, *u;
	/* an "opencode" that prints what the adapter must survive, then a real-looking step */
	snprintf(script, sizeof(script), "%s/fake-opencode.sh", dir);
	cr_assert(dt_write_file(script,
	                        "#!/bin/sh\n"
	                        "[ \"$1\" = --version ] && { echo 1.18.33; exit 0; }\n"
	                        "echo '{\"type\":\"step_start\",\"part\":{}}'\n"
	                        "echo '{\"type\":\"text\",\"part\":{\"text\":\"half an object'\n"
	                        "head -c 10485760 /dev/zero | tr '\\0' 'a'; echo\n"
	                        "echo '{\"type\":\"step_finish\",\"part\":{\"tokens\":{\"total\":7},\"cost\":0.25}}'\n"
	                        "echo changed > out.txt\n"));
	cr_assert_eq(dt_sh("chmod +x '%s'", script), 0);
	{
		char extra[4096];
		snprintf(extra, sizeof(extra),
		         "  opencode-fake:\n    kind: opencode\n    provider: fake\n    base_url: http://127.0.0.1:9/v1\n"
		         "    models: fake-model\n    command: %s\n",
		         script);
		write_config(extra);
	}
	open_pipeline(0);
	validate("oc-lines", "  profile: opencode-fake\n");
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	tj = dt_pipe_task_json(dir, "oc-lines");
	u = usage_of(tj);
	cr_assert_eq(json_integer_value(json_object_get(u, "malformed_lines")), 1);
	cr_assert_eq(json_integer_value(json_object_get(u, "dropped_lines")), 1);
	cr_assert_eq(json_integer_value(json_object_get(u, "events")), 2);
	cr_assert_eq(json_integer_value(json_object_get(u, "tokens")), 7);
	cr_assert_float_eq(json_number_value(json_object_get(u, "cost")), 0.25, 1e-9);
	json_decref(tj);
	jsonl = task_file("oc-lines", "logs/agent.jsonl");
	cr_assert(jsonl && strlen(jsonl) < 4096 && !strstr(jsonl, "half an object") && strstr(jsonl, "step_finish"),
	          "%.300s", jsonl ? jsonl : "(none)");
	free(jsonl);
}

Test(agent_opencode, an_unknown_kind_and_a_model_outside_the_profile_are_refused)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char spec[2048];
	const char *msg;
	open_pipeline(0);
	snprintf(spec, sizeof(spec),
	         "id: oc-kind\ntitle: t\nprompt: p\nrepo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  kind: aider\ntests:\n  command: [make]\n",
	         dir);
	/* the schema takes any kind name; the agent stage refuses one nobody registered */
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), "oc-kind"), 0, "%s",
	             dt_errmsg());
	cr_assert_lt(devsys_pipeline_code(&r, pl), 0);
	msg = dt_errmsg();
	cr_assert_str_eq(r.stage, "agent", "%s", msg);
	cr_assert_str_eq(r.outcome, "agent-refused", "%s", msg);
	cr_assert(strstr(msg, "agent.kind 'aider' is not a known agent kind (built in: command, opencode; registered by "
	                      "plug-ins: none)"),
	          "%s", msg);
	/* positive control, then a model the profile does not list: refused before opencode runs */
	validate("oc-model", "  model: gpt-huge\n");
	cr_assert_lt(devsys_pipeline_code(&r, pl), 0);
	msg = dt_errmsg();
	cr_assert_str_eq(r.outcome, "agent-refused");
	cr_assert(strstr(msg, "agent.model 'gpt-huge' is not one of agents.opencode.models (fake-model,other-model)"),
	          "%s", msg);
}

Test(agent_opencode, the_provider_key_reaches_the_model_only_in_its_authorization_header)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *before, *after, *f;
	const char *key = "sk-" "scriptedProviderKey-7Hq2";
	const char *files[] = { "logs/agent.jsonl", "logs/agent.log", "task.json", "events.jsonl", "home/opencode.json",
		                "agent-input.json" };
	int chats = 0;
	key_profile(key, "    tools: [read, write, bash]\n");
	open_pipeline(0);
	validate("oc-key", "  profile: opencode-key\n");
	/* the agent's own bash prints the key it was handed: the transcript must mask it */
	cr_assert_eq(dt_model_script("{\"turns\":[{\"tool\":\"bash\",\"args\":{\"command\":\"echo k=$DEVSYS_AGENT_API_KEY\","
	                             "\"description\":\"print the key\"}},{\"text\":\"done\"}]}"),
	             0);
	before = dt_model_log_text();
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "no-changes");
	after = dt_model_log_text();
	for (const char *p = since(after, before); *p;) {
		size_t len;
		json_t *j = next_line(&p, &len), *h = json_object_get(j, "headers"), *m;
		json_t *b = json_deep_copy(json_object_get(j, "body")), *msgs = json_object_get(b, "messages");
		char *body;
		size_t i;
		/* the agent's own bash printed the key, so the model gets it back as that tool's
		 * result: drop those, every other part of every request must be clean */
		for (i = json_array_size(msgs); i-- > 0;)
			if ((m = json_array_get(msgs, i)) && !strcmp(json_string_value(json_object_get(m, "role")) ?: "", "tool"))
				json_array_remove(msgs, i);
		body = json_dumps(b, JSON_COMPACT);
		json_decref(b);
		const char *a = json_string_value(json_object_get(h, "Authorization"))
		                        ?: json_string_value(json_object_get(h, "authorization"));
		chats++;
		cr_assert(a && strncmp(a, "Bearer ", 7) == 0 && strcmp(a + 7, key) == 0, "Authorization: %s", a ? a : "(none)");
		cr_assert(body && !strstr(body, key), "a request body carried the key");
		free(body);
		json_decref(j);
	}
	cr_assert_gt(chats, 0, "the model saw no request");
	free(before);
	free(after);
	/* nothing of the record holds the key; the transcript holds it masked (positive control: bash printed it) */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		f = task_file("oc-key", files[i]);
		cr_assert(f, "%s is missing", files[i]);
		cr_assert_null(strstr(f, key), "%s holds the provider key", files[i]);
		if (i == 0)
			cr_assert(strstr(f, "k=[MASKED:provider_key]"), "%s", f);
		if (i == 3)
			cr_assert(strstr(f, "\"secret.resolve\"") && strstr(f, "\"provider_key\"") && strstr(f, "\"agent\""),
			          "%s", f);
		if (i == 4)
			cr_assert(strstr(f, "{env:DEVSYS_AGENT_API_KEY}"), "%s", f);
		free(f);
	}
}

Test(agent_opencode, a_long_prompt_goes_in_a_file_outside_the_checkout)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *spec, *prompt, *before, *after, *f;
	open_pipeline(0);
	/* 6 KiB of prompt with a marker at its end */
	cr_assert(prompt = malloc(8192));
	prompt[0] = '\0';
	while (strlen(prompt) < 6000)
		strcat(prompt, "Keep the change small and the tests green. ");
	strcat(prompt, "MARKER-END-OF-LONG-PROMPT");
	cr_assert(asprintf(&spec,
	                   "id: oc-long\ntitle: Long prompt\nprompt: \"%s\"\nrepo:\n  url: file://%s/remote.git\n"
	                   "  base_branch: main\nagent:\n  kind: opencode\ntests:\n  command: [make, check]\n",
	                   prompt, dir) > 0);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), "oc-long"), 0, "%s",
	             dt_errmsg());
	cr_assert_eq(dt_model_script("{\"turns\":[{\"text\":\"nothing to do\"}]}"), 0);
	before = dt_model_log_text();
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	after = dt_model_log_text();
	/* opencode read the attached file: the model saw the prompt's end and the short message */
	cr_assert(strstr(since(after, before), "MARKER-END-OF-LONG-PROMPT") &&
	                  strstr(since(after, before), "Do the task described in the attached file prompt.md."),
	          "the model did not see the attached prompt");
	f = task_file("oc-long", "home/prompt.md");
	/* the prompt, its one long line folded at spaces (opencode's Read cuts a line at 2000 characters) */
	cr_assert(f && strlen(f) == strlen(prompt) + 1 && strstr(f, "MARKER-END-OF-LONG-PROMPT\n"), "home/prompt.md: %.80s",
	          f ? f : "(none)");
	for (const char *l = f; *l; l += strcspn(l, "\n") + 1)
		cr_assert_leq(strcspn(l, "\n"), 1900);
	free(f);
	f = dt_sh_output(NULL, "git -C '%s/tasks/oc-long/checkout' status --porcelain --ignored", dir);
	cr_assert(f && !strstr(f, "prompt.md"), "%s", f ? f : "");
	free(f);
	free(before);
	free(after);
	free(prompt);
	free(spec);
}

/* The agent stage refused to start the agent (class build, "agent-refused"). */
static void refused_before_run(char *msg, size_t cap)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	cr_assert_lt(devsys_pipeline_code(&r, pl), 0, "the agent stage did not fail");
	snprintf(msg, cap, "%s", dt_errmsg());
	cr_assert_str_eq(r.stage, "agent", "%s", msg);
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD, "%s", msg);
	cr_assert_str_eq(r.outcome, "agent-refused", "%s", msg);
}

/* A profile named @p name whose command is @p command. */
static void profile_with_command(const char *name, const char *command)
{
	char extra[4096];
	snprintf(extra, sizeof(extra),
	         "  %s:\n    kind: opencode\n    provider: fake\n    base_url: http://127.0.0.1:9/v1\n"
	         "    models: fake-model\n    command: %s\n",
	         name, command);
	write_config(extra);
}

Test(agent_opencode, a_wrong_or_missing_opencode_binary_is_refused_before_the_run)
{
	char script[4096], msg[1024];
	/* bad input, so a stand-in is fine: a binary that is some other version */
	snprintf(script, sizeof(script), "%s/old-opencode", dir);
	cr_assert(dt_write_file(script, "#!/bin/sh\n[ \"$1\" = --version ] && { echo 0.9.1; exit 0; }\n"
	                                "echo ran > ran-anyway.txt\n"));
	cr_assert_eq(dt_sh("chmod +x '%s'", script), 0);
	profile_with_command("opencode-old", script);
	open_pipeline(0);
	validate("oc-old", "  profile: opencode-old\n");
	refused_before_run(msg, sizeof(msg));
	cr_assert(strstr(msg, "agents.opencode-old.command: '") && strstr(msg, "' is opencode '0.9.1'; expected opencode "
	                                                                        "1.18.33"),
	          "%s", msg);
	snprintf(script, sizeof(script), "%s/tasks/oc-old/checkout/ran-anyway.txt", dir);
	cr_assert_not(dt_exists(script), "the agent ran after its version check failed");
	/* absent */
	profile_with_command("opencode-gone", "/nonexistent/bin/opencode");
	open_pipeline(0);
	validate("oc-gone", "  profile: opencode-gone\n");
	refused_before_run(msg, sizeof(msg));
	cr_assert(strstr(msg, "the opencode binary '/nonexistent/bin/opencode' was not found or cannot run") &&
	                  strstr(msg, "expected opencode 1.18.33"),
	          "%s", msg);
}

Test(agent_opencode, a_permission_that_asks_ends_the_run_at_once_as_stalled)
{
	char extra[4096], msg[1024], p[4096];
	json_t *tj, *ag;
	/* the operator deliberately sets bash to ask: opencode's run auto-rejects it and says so */
	snprintf(extra, sizeof(extra),
	         "  opencode-ask:\n    kind: opencode\n    provider: fake\n    base_url: %s\n    models: fake-model\n"
	         "    command: %s\n    tools: [read, write, bash]\n    ask: [bash]\n",
	         dt_model_url(), dt_model_opencode());
	write_config(extra);
	open_pipeline(120000); /* the backstop: far longer than the run may take */
	validate("oc-ask", "  profile: opencode-ask\n");
	cr_assert_eq(dt_model_script("{\"turns\":[{\"tool\":\"bash\",\"args\":{\"command\":\"touch asked.txt\","
	                             "\"description\":\"make a file\"}},{\"tool\":\"write\",\"args\":{\"filePath\":"
	                             "\"after.txt\",\"content\":\"went on\\n\"}},{\"text\":\"done\"}]}"),
	             0);
	tj = expect_fail("oc-ask", DEVSYS_FAILURE_STALLED, "agent-stalled", msg, sizeof(msg));
	cr_assert(strstr(msg, "the agent stalled: opencode asked for a permission: bash (touch asked.txt)"), "%s", msg);
	ag = json_object_get(tj, "agent");
	/* ended at once, not by the idle timeout */
	cr_assert_lt(json_integer_value(json_object_get(ag, "duration_ms")), 60000);
	cr_assert(strstr(json_string_value(json_object_get(json_object_get(ag, "usage"), "stalled")) ?: "",
	                 "permission: bash"));
	json_decref(tj);
	snprintf(p, sizeof(p), "%s/tasks/oc-ask/checkout/asked.txt", dir);
	cr_assert_not(dt_exists(p), "the asked-for command ran");
	snprintf(p, sizeof(p), "%s/tasks/oc-ask/checkout/after.txt", dir);
	cr_assert_not(dt_exists(p), "the agent went on after the ask");
	{
		char *cfg = task_file("oc-ask", "home/opencode.json");
		cr_assert(cfg && strstr(cfg, "\"bash\": \"ask\""), "%s", cfg ? cfg : "(none)");
		free(cfg);
	}
}
