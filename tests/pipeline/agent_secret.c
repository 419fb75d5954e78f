/* A named secret handed to the agent through the operator's runner profile
 * (runners.<name>.secrets in devsys.yaml): resolved from a mode-0600 file,
 * in the agent's environment, masked in logs/agent.log, recorded as a
 * secret.resolve event of stage agent, and its value nowhere in the task's
 * folder. Controls: a profile without the list gives the agent nothing; a
 * profile listing a forge token name is refused. Real git on file://, the
 * inproc runner. */
#include "pipeline_fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* split: no credential-shaped literal in the source */
#define VALUE "npm_" "agentsecret0123456789abcdef"

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;

static void setup(void)
{
	dir = dt_pipe_repo("agentsecret", NULL);
	ws = dt_pipe_workspace(dir);
	ro.grace_ms = 200;
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

/* A pipeline with devsys.yaml = @p yaml; returns devsys_pipeline_new()'s code. */
static int open_pipeline(const char *yaml)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	char cfg[4096];
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(cfg, yaml));
	po.runner = &ro;
	po.config_path = cfg;
	return devsys_pipeline_new(&pl, ws, &po);
}

/* The profiles: "withsecret" lists NPM_TOKEN from a 0600 file, "plain" lists none. */
static void open_profiles(void)
{
	char yaml[8192], tok[4096];
	snprintf(tok, sizeof(tok), "%s/npm.token", dir);
	cr_assert(dt_write_file(tok, VALUE "\n"));
	cr_assert_eq(chmod(tok, 0600), 0);
	snprintf(yaml, sizeof(yaml),
	         "runners:\n"
	         "  withsecret:\n    type: inproc\n    secrets:\n      - {name: NPM_TOKEN, provider: file, ref: %s}\n"
	         "  plain:\n    type: inproc\n",
	         tok);
	cr_assert_eq(open_pipeline(yaml), 0, "%s", dt_errmsg());
}

/* The agent says whether it holds NPM_TOKEN in a file outside the checkout,
 * and prints the value to its stdout (logs/agent.log). */
static void run_task(const char *id, const char *profile)
{
	char spec[4096], path[4096];
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, "if [ -n \"${NPM_TOKEN:-}\" ]; then s=present; else s=absent; fi\n"
	                              "echo \"$s\" > \"$DEVSYS_CHECKOUT/../seen.txt\"\n"
	                              "echo \"token is ${NPM_TOKEN:-none} end\"\n"
	                              "echo changed >> README\n"));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Secret task %s\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n"
	         "tests:\n  command: [make, check]\nrunner: %s\n",
	         id, id, dir, path, profile);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "pushed");
}

static char *task_file(const char *id, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, name);
	return dt_read_file(p, NULL);
}

/* The secret.resolve events of events.jsonl for @p name with stage agent. */
static int resolve_events(const char *events, const char *name)
{
	int n = 0;
	for (const char *l = events; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		json_t *j = json_loadb(l, len, 0, NULL), *d = json_object_get(j, "data");
		if (j && strcmp(json_string_value(json_object_get(j, "type")) ? json_string_value(json_object_get(j, "type")) : "",
		                "secret.resolve") == 0) {
			const char *nm = json_string_value(json_object_get(d, "name"));
			const char *st = json_string_value(json_object_get(d, "stage"));
			const char *tk = json_string_value(json_object_get(d, "task"));
			if (nm && strcmp(nm, name) == 0 && st && strcmp(st, "agent") == 0 && tk && strcmp(tk, "sec-1") == 0 &&
			    json_is_null(json_object_get(d, "error")))
				n++;
		}
		json_decref(j);
		l = e ? e + 1 : l + len;
	}
	return n;
}

Test(pipeline_agent_secret, a_profile_secret_reaches_the_agent_masked_and_audited, .init = setup, .fini = teardown)
{
	char *seen, *log, *ev, *tj;
	/* an inherited NPM_TOKEN must not shadow the profile's value */
	setenv("NPM_TOKEN", "inherited-value-xyz", 1);
	open_profiles();
	run_task("sec-1", "withsecret");
	unsetenv("NPM_TOKEN");

	seen = task_file("sec-1", "seen.txt");
	cr_assert(seen && strcmp(seen, "present\n") == 0, "the agent did not get NPM_TOKEN: %s", seen ? seen : "(none)");
	free(seen);
	log = task_file("sec-1", "logs/agent.log");
	cr_assert_not_null(log);
	cr_assert(strstr(log, "token is [MASKED:NPM_TOKEN] end"), "the value is not masked in agent.log: %s", log);
	cr_assert(!strstr(log, VALUE) && !strstr(log, "inherited-value"), "%s", log);
	free(log);
	ev = task_file("sec-1", "events.jsonl");
	cr_assert_not_null(ev);
	cr_assert_eq(resolve_events(ev, "NPM_TOKEN"), 1, "no secret.resolve event for NPM_TOKEN, stage agent: %s", ev);
	free(ev);
	tj = task_file("sec-1", "task.json");
	cr_assert(tj && !strstr(tj, VALUE));
	free(tj);
	/* nowhere in the task's folder (record, logs, home, checkout) */
	cr_assert_neq(dt_sh("grep -rqF '%s' '%s/tasks/sec-1'", VALUE, dir), 0, "the value was written into the task folder");
	/* control: the grep finds what is there */
	cr_assert_eq(dt_sh("grep -rqF 'MASKED:NPM_TOKEN' '%s/tasks/sec-1'", dir), 0);
}

Test(pipeline_agent_secret, a_profile_without_the_list_gives_the_agent_nothing, .init = setup, .fini = teardown)
{
	char *seen, *log, *ev;
	open_profiles();
	run_task("plain-1", "plain");
	seen = task_file("plain-1", "seen.txt");
	cr_assert(seen && strcmp(seen, "absent\n") == 0, "%s", seen ? seen : "(the agent did not run)");
	free(seen);
	log = task_file("plain-1", "logs/agent.log");
	cr_assert(log && strstr(log, "token is none end"), "%s", log ? log : "");
	free(log);
	ev = task_file("plain-1", "events.jsonl");
	cr_assert(ev && !strstr(ev, "secret.resolve"), "%s", ev ? ev : "");
	free(ev);
}

Test(pipeline_agent_secret, a_profile_may_not_hand_the_agent_a_forge_token, .init = setup, .fini = teardown)
{
	const char *msg;
	cr_assert_eq(open_pipeline("runners:\n  leaky:\n    type: inproc\n    secrets:\n"
	                           "      - {name: GITHUB_TOKEN, provider: env, ref: GITHUB_TOKEN}\n"),
	             DEVSYS_EINVALID);
	msg = dt_errmsg();
	cr_assert(strstr(msg, "runners.leaky.secrets[0]") && strstr(msg, "GITHUB_TOKEN") && strstr(msg, "never"), "%s",
	          msg);
	cr_assert_null(pl);
	/* an unknown provider, and a file entry without its path, are refused too */
	cr_assert_eq(open_pipeline("runners:\n  x:\n    type: inproc\n    secrets:\n"
	                           "      - {name: A_TOKEN, provider: command}\n"),
	             DEVSYS_EINVALID);
	cr_assert(strstr(dt_errmsg(), "env, file"));
	cr_assert_eq(open_pipeline("runners:\n  x:\n    type: inproc\n    secrets:\n"
	                           "      - {name: A_TOKEN, provider: file}\n"),
	             DEVSYS_EINVALID);
	cr_assert(strstr(dt_errmsg(), "'ref'"));
	/* control: the same shape with an allowed name loads */
	cr_assert_eq(open_pipeline("runners:\n  x:\n    type: inproc\n    secrets:\n"
	                           "      - {name: A_TOKEN, provider: env}\n"),
	             0, "%s", dt_errmsg());
}

/* The caller's runner options carry a masker: the secret is added to it, so
 * the caller's own logs mask it too. */
Test(pipeline_agent_secret, the_callers_masker_learns_the_agents_secret, .init = setup, .fini = teardown)
{
	devsys_masker *m = NULL;
	devsys_buf out = DEVSYS_BUF_INIT;
	char *log;
	cr_assert_eq(devsys_masker_new(&m), 0);
	ro.masker = m;
	open_profiles();
	cr_assert_eq(devsys_masker_count(m), 0);
	run_task("sec-1", "withsecret");
	ro.masker = NULL;
	cr_assert_eq(devsys_masker_count(m), 1);
	cr_assert_eq(devsys_masker_mask(m, "x " VALUE " y", strlen("x " VALUE " y"), &out), 0);
	cr_assert_str_eq(out.ptr, "x [MASKED:NPM_TOKEN] y");
	devsys_buf_dispose(&out);
	log = task_file("sec-1", "logs/agent.log");
	cr_assert(log && strstr(log, "token is [MASKED:NPM_TOKEN] end") && !strstr(log, VALUE), "%s", log ? log : "");
	free(log);
	devsys_masker_free(m);
}
