/* The coding agent's stages (checkout, agent, commit, push) against a real
 * bare repository on file://, with small script agents on the inproc runner. */
#include "pipeline_fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;
static const char *const scrub[] = { "OPERATOR_SECRET", NULL };

static void setup(void)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	dir = dt_pipe_repo("pipecode", "echo x > a.txt");
	ws = dt_pipe_workspace(dir); /* tasks/ and devsys.db next to the repos */
	ro.grace_ms = 200;
	po.runner = &ro;
	po.agent_env_scrub = scrub;
	pl = dt_pipe_open(ws, &po);
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

/* A spec whose agent is `/bin/sh <dir>/<script>` (the script is written here). */
static void validate(const char *id, const char *script, const char *extra)
{
	dt_pipe_validate(pl, dir, id, script, extra);
}

/* The spec kept with a registered task, through validate again (EEXISTS). */
static void validate_again(const char *id)
{
	char p[4096], *spec;
	snprintf(p, sizeof(p), "%s/tasks/%s/spec.yaml", dir, id);
	spec = dt_read_file(p, NULL);
	cr_assert_not_null(spec);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), DEVSYS_EEXISTS);
	free(spec);
}

static int remote_has_branch(const char *id)
{
	return dt_sh("git --git-dir='%s/remote.git' rev-parse -q --verify refs/heads/task/%s >/dev/null", dir, id) == 0;
}

static const char *stage_field(json_t *tj, const char *stage, const char *key)
{
	return json_string_value(json_object_get(json_object_get(json_object_get(tj, "stages"), stage), key));
}

static json_t *task_json(const char *id)
{
	return dt_pipe_task_json(dir, id);
}

Test(pipeline_code, an_agent_change_is_committed_and_pushed_without_the_tokens, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char p[4096], *env, *facts, *msg, *log;
	int st;
	json_t *tj;
	setenv("GITHUB_TOKEN", "ghp_" "planted0123456789abcdefghijklmnopqr" /* split: no credential-shaped literal */, 1);
	setenv("GH_TOKEN", "planted-gh", 1);
	setenv("SSH_AUTH_SOCK", "/tmp/planted.sock", 1);
	setenv("OPERATOR_SECRET", "planted-operator", 1);
	setenv("POSITIVE_CONTROL", "present-1", 1);
	/* a credential helper handed to git through the environment */
	setenv("GIT_CONFIG_COUNT", "1", 1);
	setenv("GIT_CONFIG_KEY_0", "credential.helper", 1);
	setenv("GIT_CONFIG_VALUE_0", "planted-helper", 1);
	env = dt_sh_output(&st, "git config --get-all credential.helper");
	cr_assert(env && strstr(env, "planted-helper"), "control: git reads the planted helper: %s", env ? env : "");
	free(env);
	validate("change-1",
	         "git -C \"$DEVSYS_CHECKOUT\" config --get-all credential.helper > \"$DEVSYS_CHECKOUT/../cred.txt\"\n"
	         "env > \"$DEVSYS_CHECKOUT/../env.txt\"\ncat \"$DEVSYS_TASK_FILE\" > \"$DEVSYS_CHECKOUT/../facts.txt\"\n"
	         "cat > \"$DEVSYS_CHECKOUT/../stdin.txt\"\necho agent says hi\necho changed by agent >> README\n",
	         NULL);
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	unsetenv("GITHUB_TOKEN");
	unsetenv("GH_TOKEN");
	unsetenv("SSH_AUTH_SOCK");
	unsetenv("OPERATOR_SECRET");
	unsetenv("POSITIVE_CONTROL");
	unsetenv("GIT_CONFIG_COUNT");
	unsetenv("GIT_CONFIG_KEY_0");
	unsetenv("GIT_CONFIG_VALUE_0");
	cr_assert_str_eq(r.stage, "push");
	cr_assert_str_eq(r.outcome, "pushed");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "change-1"), DEVSYS_STATE_PUSHED);
	/* the agent's environment */
	snprintf(p, sizeof(p), "%s/tasks/change-1/env.txt", dir);
	env = dt_read_file(p, NULL);
	cr_assert_not_null(env, "the agent ran in the checkout");
	cr_assert(strstr(env, "POSITIVE_CONTROL=present-1"), "the positive control reached the agent: %s", env);
	cr_assert(!strstr(env, "GITHUB_TOKEN") && !strstr(env, "ghp_planted"), "GITHUB_TOKEN reached the agent");
	cr_assert(!strstr(env, "GH_TOKEN=") && !strstr(env, "SSH_AUTH_SOCK=") && !strstr(env, "planted-operator"),
	          "a scrubbed name reached the agent: %s", env);
	cr_assert(strstr(env, "DEVSYS_TASK_ID=change-1\n"), "%s", env);
	snprintf(p, sizeof(p), "HOME=%s/tasks/change-1/home\n", dir);
	cr_assert(strstr(env, p), "a per-task HOME: %s", env);
	cr_assert(strstr(env, "GIT_CONFIG_NOSYSTEM=1\n") && !strstr(env, "GIT_CONFIG_KEY_0"), "%s", env);
	free(env);
	/* the agent's git sees no credential helper (control: this process's git would see the planted one) */
	snprintf(p, sizeof(p), "%s/tasks/change-1/cred.txt", dir);
	env = dt_read_file(p, NULL);
	cr_assert(env && !strstr(env, "planted-helper"), "the agent's git has a credential helper: %s", env ? env : "");
	free(env);
	/* the task facts, outside the checkout */
	snprintf(p, sizeof(p), "%s/tasks/change-1/facts.txt", dir);
	facts = dt_read_file(p, NULL);
	cr_assert(facts && strstr(facts, "Append a line to README.") && strstr(facts, "\"id\": \"change-1\""), "%s",
	          facts);
	free(facts);
	snprintf(p, sizeof(p), "%s/tasks/change-1/stdin.txt", dir);
	cr_assert(dt_exists(p));
	cr_assert_eq(dt_sh("test ! -s '%s'", p), 0, "stdin is /dev/null");
	cr_assert_eq(dt_sh("cd '%s/tasks/change-1/checkout' && test -z \"$(git ls-files agent-input.json)\"", dir), 0);
	/* output in logs/agent.log */
	snprintf(p, sizeof(p), "%s/tasks/change-1/logs/agent.log", dir);
	log = dt_read_file(p, NULL);
	cr_assert(log && strstr(log, "agent says hi"), "%s", log);
	free(log);
	/* the pushed commit */
	cr_assert(remote_has_branch("change-1"));
	msg = dt_sh_output(&st, "git --git-dir='%s/remote.git' log -1 --format=%%B task/change-1", dir);
	cr_assert(strstr(msg, "Agent task change-1") && strstr(msg, "Task-Id: change-1"), "%s", msg);
	free(msg);
	msg = dt_sh_output(&st, "git --git-dir='%s/remote.git' show task/change-1:README", dir);
	cr_assert(strstr(msg, "changed by agent"), "%s", msg);
	free(msg);
	cr_assert_eq(dt_sh("git --git-dir='%s/remote.git' diff --quiet main task/change-1 -- a.txt", dir), 0);
	/* the same task again: registered, and the agent does not run twice */
	msg = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse task/change-1", dir);
	validate_again("change-1");
	cr_assert_eq(devsys_pipeline_code(&r, pl), DEVSYS_ESTATE);
	cr_assert(strstr(dt_errmsg(), "is pushed"), "%s", dt_errmsg());
	log = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse task/change-1", dir);
	cr_assert_str_eq(log, msg, "no second commit");
	free(log);
	free(msg);
	tj = task_json("change-1");
	cr_assert_str_eq(stage_field(tj, "checkout", "result"), "ok");
	cr_assert_str_eq(stage_field(tj, "agent", "result"), "ok");
	cr_assert_str_eq(stage_field(tj, "commit", "result"), "ok");
	cr_assert_str_eq(stage_field(tj, "push", "result"), "ok");
	json_decref(tj);
}

Test(pipeline_code, an_agent_that_changes_nothing_ends_no_changes_without_a_push, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	validate("nothing-1", "echo looked and left\n", NULL);
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.stage, "commit");
	cr_assert_str_eq(r.outcome, "no-changes");
	cr_assert_str_eq(r.result, "ok");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "nothing-1"), DEVSYS_STATE_NO_CHANGES);
	cr_assert(!remote_has_branch("nothing-1"), "nothing was pushed");
}

Test(pipeline_code, a_change_deleting_every_tracked_file_is_refused_before_push, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *tj;
	validate("wipe-1", "git ls-files -z | xargs -0 rm -f\n", NULL);
	cr_assert_eq(devsys_pipeline_code(&r, pl), DEVSYS_EINVALID);
	cr_assert(strstr(dt_errmsg(), "deletes every tracked file"), "%s", dt_errmsg());
	cr_assert_str_eq(r.outcome, "tree-deleted");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(!remote_has_branch("wipe-1"), "the deletion was pushed");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "wipe-1"), DEVSYS_STATE_FAILED);
	tj = task_json("wipe-1");
	cr_assert_str_eq(stage_field(tj, "commit", "result"), "failed");
	cr_assert_str_eq(stage_field(tj, "commit", "failure_class"), "build");
	json_decref(tj);
	/* positive control: deleting one file of two is a change like any other */
	validate("wipe-2", "rm a.txt\n", NULL);
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.outcome, "pushed");
	cr_assert(remote_has_branch("wipe-2"));
}

Test(pipeline_code, a_failing_agent_and_a_timeout_have_their_classes, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *tj;
	validate("fail-1", "echo no >&2\nexit 3\n", NULL);
	cr_assert_lt(devsys_pipeline_code(&r, pl), 0);
	cr_assert_str_eq(r.stage, "agent");
	cr_assert_str_eq(r.outcome, "agent-failed");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(dt_errmsg(), "exit 3"), "%s", dt_errmsg());
	validate("slow-1", "sleep 30\n", "  timeout: 1\n");
	cr_assert_lt(devsys_pipeline_code(&r, pl), 0);
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_TIMEOUT);
	tj = task_json("slow-1");
	cr_assert_str_eq(stage_field(tj, "agent", "failure_class"), "timeout");
	json_decref(tj);
	{
		char p[4096], *ev;
		snprintf(p, sizeof(p), "%s/tasks/slow-1/events.jsonl", dir);
		ev = dt_read_file(p, NULL);
		cr_assert(ev && strstr(ev, "{\"stage\":\"agent\",\"result\":\"failed\",\"failure_class\":\"timeout\","
		                           "\"reason\":\""),
		          "%s", ev);
		free(ev);
	}
	cr_assert(!remote_has_branch("fail-1") && !remote_has_branch("slow-1"));
}

Test(pipeline_code, code_needs_a_validated_task, .init = setup, .fini = teardown)
{
	cr_assert_eq(devsys_pipeline_code(NULL, pl), DEVSYS_ESTATE);
	cr_assert_eq(devsys_pipeline_code(NULL, NULL), DEVSYS_EINVAL);
}

/* With a devsys.yaml that defines other profiles, "runner: inproc" is still the built-in runner;
 * a profile the file does not define is refused, naming it (control). */
Test(pipeline_code, runner_inproc_is_built_in_when_devsys_yaml_defines_other_profiles, .init = setup, .fini = teardown)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char cfg[4096];
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(cfg, "runners:\n  ssh-staging:\n    type: remote-ssh\n    host: 127.0.0.1\n"
	                             "    known_hosts: /nonexistent\n"));
	devsys_pipeline_free(pl);
	po.runner = &ro;
	po.config_path = cfg;
	pl = dt_pipe_open(ws, &po);
	validate("inproc-1", "echo changed >> README\n", NULL); /* the spec says runner: inproc */
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "pushed");
	validate("inproc-2", "echo changed >> README\n", "  runner: docker-nope\n");
	cr_assert_neq(devsys_pipeline_code(&r, pl), 0);
	cr_assert_str_eq(r.stage, "agent");
	cr_assert(strstr(dt_errmsg(), "docker-nope"), "%s", dt_errmsg());
}
