/* The agent stage's budgets, each with its own outcome in the stage result
 * and in task.json ("agent" and stages.agent.failure_class): the
 * operator's idle timeout (stalled), a spec's agent.idle_timeout that can
 * only lower it, the output cap, and the spec's timeout; an agent within
 * them is done (positive control). A real bare repository on file:// and
 * script agents on the inproc runner. */
#include "pipeline_fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;

static void open_pipeline(unsigned idle_ms, uint64_t max_out)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	ro.grace_ms = 200;
	po.runner = &ro;
	po.agent_idle_timeout_ms = idle_ms;
	po.max_output_bytes = max_out;
	devsys_pipeline_free(pl);
	pl = NULL;
	pl = dt_pipe_open(ws, &po);
}

static void setup(void)
{
	dir = dt_pipe_repo("agentbudget", NULL);
	ws = dt_pipe_workspace(dir);
	pl = NULL;
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

TestSuite(agent_budgets, .init = setup, .fini = teardown, .timeout = 120);

static void validate(const char *id, const char *script, const char *extra)
{
	dt_pipe_validate(pl, dir, id, script, extra);
}

static json_t *task_json(const char *id)
{
	return dt_pipe_task_json(dir, id);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Run the coding stages and check the agent's outcome, class and record. */
static long expect(const char *id, const char *outcome, int fclass, const char *fclass_name, const char *failure)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	long t0 = now_ms(), took;
	int rc = devsys_pipeline_code(&r, pl);
	json_t *tj, *agent;
	took = now_ms() - t0;
	cr_assert_str_eq(r.stage, fclass ? "agent" : "push", "%s: %s", r.outcome, dt_errmsg());
	if (fclass)
		cr_assert_lt(rc, 0);
	else
		cr_assert_eq(rc, 0, "%s", dt_errmsg());
	tj = task_json(id);
	agent = json_object_get(tj, "agent");
	cr_assert_str_eq(json_string_value(json_object_get(agent, "outcome")), outcome);
	cr_assert_str_eq(json_string_value(json_object_get(agent, "failure")), failure);
	if (fclass) {
		cr_assert_str_eq(r.outcome, outcome);
		cr_assert_eq(r.failure_class, fclass);
		cr_assert_str_eq(json_string_value(json_object_get(
		                         json_object_get(json_object_get(tj, "stages"), "agent"), "failure_class")),
		                 fclass_name);
	}
	json_decref(tj);
	return took;
}

Test(agent_budgets, a_silent_agent_is_stalled)
{
	long took;
	open_pipeline(700, 0);
	validate("stall-1", "echo waiting for a permission prompt\nread answer\nsleep 60\n", NULL);
	took = expect("stall-1", "agent-stalled", DEVSYS_FAILURE_STALLED, "stalled", "stalled");
	cr_assert_lt(took, 30000, "took %ld ms", took);
	{
		char p[4096], *log;
		snprintf(p, sizeof(p), "%s/tasks/stall-1/logs/agent.log", dir);
		log = dt_read_file(p, NULL);
		cr_assert(log && strstr(log, "out| waiting for a permission prompt") && strstr(log, "sys| idle timeout"), "%s",
		          log ? log : "");
		free(log);
	}
	json_t *tj = task_json("stall-1");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(tj, "agent"), "budgets"),
	                                                "idle_timeout_ms")),
	             700);
	json_decref(tj);
}

Test(agent_budgets, the_spec_may_lower_the_idle_timeout_but_not_raise_it)
{
	json_t *tj;
	open_pipeline(60000, 0);
	validate("lower-1", "echo start\nsleep 60\n", "  idle_timeout: 1\n");
	expect("lower-1", "agent-stalled", DEVSYS_FAILURE_STALLED, "stalled", "stalled");
	tj = task_json("lower-1");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(tj, "agent"), "budgets"),
	                                                "idle_timeout_ms")),
	             1000);
	json_decref(tj);
	open_pipeline(800, 0);
	validate("raise-1", "echo start\nsleep 60\n", "  idle_timeout: 10m\n");
	expect("raise-1", "agent-stalled", DEVSYS_FAILURE_STALLED, "stalled", "stalled");
	tj = task_json("raise-1");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(tj, "agent"), "budgets"),
	                                                "idle_timeout_ms")),
	             800, "the spec raised the operator's idle timeout");
	json_decref(tj);
}

Test(agent_budgets, a_flood_of_output_hits_the_cap)
{
	json_t *tj, *agent;
	open_pipeline(0, 20000);
	validate("flood-1", "while :; do echo flooding the log with output; done\n", NULL);
	expect("flood-1", "agent-output-limit", DEVSYS_FAILURE_BUILD, "build", "output-limit");
	tj = task_json("flood-1");
	agent = json_object_get(tj, "agent");
	cr_assert_eq(json_integer_value(json_object_get(agent, "output_bytes")), 20000);
	cr_assert(json_is_true(json_object_get(agent, "truncated")));
	json_decref(tj);
}

Test(agent_budgets, the_spec_timeout_has_its_outcome)
{
	open_pipeline(0, 0);
	validate("slow-1", "while :; do echo busy; sleep 0.2; done\n", "  timeout: 1\n");
	expect("slow-1", "agent-timeout", DEVSYS_FAILURE_TIMEOUT, "timeout", "timeout");
}

Test(agent_budgets, an_agent_within_its_budgets_is_done)
{
	open_pipeline(1500, 20000);
	validate("ok-1", "i=0; while [ $i -lt 8 ]; do echo working; sleep 0.3; i=$((i+1)); done\n"
	                 "echo changed >> README\n",
	         "  idle_timeout: 5\n");
	expect("ok-1", "agent-done", DEVSYS_FAILURE_NONE, NULL, "ok");
}
