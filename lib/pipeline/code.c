/*
 * The coding agent's stages: checkout, agent, commit, push. The agent runs
 * without the push or forge credentials; the library commits and pushes.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"
#include "record/record_int.h"
#include "agent/agent_int.h"
#include "config/agent_secrets.h"

#include <git2.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

/* Never handed to an agent, whatever the operator lists besides. */
static const char *const scrubbed[] = { "GITHUB_TOKEN", "GH_TOKEN", "GITEA_TOKEN", "GIT_ASKPASS", "SSH_AUTH_SOCK" };

/* ---- recording a stage (the pipeline is the record's writer) ---- */

int devsys__pipeline_record_stage(devsys_task *task, const char *stage, const char *result, const char *fclass,
                                  const char *reason)
{
	devsys_record *rec = NULL;
	json_t *ev = NULL;
	char *evs = NULL;
	int rc;
	if ((rc = devsys_record_open(&rec, task)) == 0 &&
	    (rc = result ? devsys_record_stage_end(rec, stage, result, fclass) : devsys_record_stage_begin(rec, stage)) == 0)
		rc = devsys_record_save(rec);
	/* the stage's end with its class, next to the store's state change; a
	 * failure says why, so events.jsonl alone explains it */
	if (rc == 0 && result) {
		if (!(ev = json_pack("{s:s,s:s,s:s?}", "stage", stage, "result", result, "failure_class", fclass)) ||
		    (fclass && reason && *reason && json_object_set_new(ev, "reason", json_string(reason)) < 0) ||
		    !(evs = json_dumps(ev, JSON_COMPACT)))
			rc = devsys__error_oom();
		else
			rc = devsys_record_event(rec, "stage.end", evs, NULL);
	}
	free(evs);
	json_decref(ev);
	devsys_record_free(rec);
	return rc;
}

/* ---- the agent's input, outside the checkout ---- */

static int write_agent_input(devsys_pipeline *p, devsys_task *task, devsys_buf *path)
{
	const devsys_node *doc = devsys_spec_at(p->spec, 0);
	const devsys_node *acc = devsys_node_get(doc, "/deploy/acceptance");
	devsys_buf accj = DEVSYS_BUF_INIT, spec = DEVSYS_BUF_INIT;
	json_t *j;
	char *s = NULL;
	int rc;
	const char *prompt = devsys_spec_get_string(p->spec, "/prompt");

	if ((rc = devsys_task_path_join(path, task, "agent-input.json")) < 0 ||
	    (rc = devsys_task_path_join(&spec, task, p->spec_kept)) < 0)
		goto out;
	if (acc && (rc = devsys_node_to_json(&accj, acc)) < 0)
		goto out;
	j = json_pack("{s:s,s:s?,s:s?,s:s,s:o}", "id", p->task_id, "title", devsys_spec_get_string(p->spec, "/title"),
	              "prompt", prompt, "spec_path", spec.ptr, "acceptance",
	              accj.ptr ? json_loads(accj.ptr, 0, NULL) : json_array());
	s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!s) {
		rc = devsys__error_oom();
		goto out;
	}
	rc = devsys__write_file_atomic(path->ptr, s, strlen(s), 0600);
out:
	free(s);
	devsys_buf_dispose(&accj);
	devsys_buf_dispose(&spec);
	return rc;
}

/* ---- the agent's environment ---- */

/*
 * Is @p entry (its name is @p n bytes) the variable a forges: entry's token
 * is read from (token_provider env: token_ref, else the secret's name)?
 * The agent never holds the forge's token, whatever its variable is called.
 */
static bool forge_token_variable(const devsys_pipeline *p, const char *entry, size_t n)
{
	for (size_t i = 0; p->config && i < devsys_config_forge_count(p->config); i++) {
		const char *host = devsys_config_forge_host(p->config, i), *prov = NULL, *ref = NULL, *name = NULL,
		           *where = NULL;
		if (devsys_config_forge_value(&prov, &where, p->config, host, "token_provider") < 0 || !prov ||
		    strcmp(prov, "env") != 0)
			continue;
		devsys_config_forge_value(&ref, &where, p->config, host, "token_ref");
		devsys_config_forge_value(&name, &where, p->config, host, "token_secret");
		if (!ref)
			ref = name;
		if (ref && strlen(ref) == n && strncmp(entry, ref, n) == 0)
			return true;
	}
	devsys_error_clear();
	return false;
}

static bool is_scrubbed(const devsys_pipeline *p, const char *entry)
{
	size_t n = strcspn(entry, "=");
	for (size_t i = 0; i < sizeof(scrubbed) / sizeof(scrubbed[0]); i++)
		if (strlen(scrubbed[i]) == n && strncmp(entry, scrubbed[i], n) == 0)
			return true;
	for (size_t i = 0; p->scrub && p->scrub[i]; i++)
		if (strlen(p->scrub[i]) == n && strncmp(entry, p->scrub[i], n) == 0)
			return true;
	if (forge_token_variable(p, entry, n))
		return true;
	/* git configuration through the environment (GIT_CONFIG_COUNT/KEY_n,
	 * GIT_CONFIG_GLOBAL) could hand the agent's git a credential helper */
	if (strncmp(entry, "GIT_CONFIG", 10) == 0)
		return true;
	/* the task facts below are the pipeline's, not inherited */
	return strncmp(entry, "DEVSYS_", 7) == 0 || strncmp(entry, "HOME=", 5) == 0;
}

static int agent_env(devsys__strvec *env, devsys_pipeline *p, devsys_task *task, const char *input, const char *checkout)
{
	devsys_buf home = DEVSYS_BUF_INIT, spec = DEVSYS_BUF_INIT;
	int rc = 0;

	for (char **e = environ; e && *e && rc == 0; e++)
		if (strchr(*e, '=') && !is_scrubbed(p, *e))
			rc = devsys__strvec_push(env, devsys__strdup(*e));
	if (rc == 0 && (rc = devsys_task_path_join(&home, task, "home")) == 0 &&
	    (rc = devsys__mkdir_p(home.ptr, 0700)) == 0 && (rc = devsys_task_path_join(&spec, task, p->spec_kept)) == 0 &&
	    (rc = devsys__strvec_push(env, devsys__asprintf("HOME=%s", home.ptr))) == 0 &&
	    /* nor does /etc/gitconfig: the agent's git sees no credential helper */
	    (rc = devsys__strvec_push(env, devsys__strdup("GIT_CONFIG_NOSYSTEM=1"))) == 0 &&
	    (rc = devsys__strvec_push(env, devsys__asprintf("DEVSYS_TASK_ID=%s", p->task_id))) == 0 &&
	    (rc = devsys__strvec_push(env, devsys__asprintf("DEVSYS_TASK_FILE=%s", input))) == 0 &&
	    (rc = devsys__strvec_push(env, devsys__asprintf("DEVSYS_SPEC_FILE=%s", spec.ptr))) == 0)
		rc = devsys__strvec_push(env, devsys__asprintf("DEVSYS_CHECKOUT=%s", checkout));
	devsys_buf_dispose(&home);
	devsys_buf_dispose(&spec);
	return rc;
}

/* Drop the inherited entry of @p name (its value would shadow the profile's). */
static void env_drop(devsys__strvec *env, const char *name)
{
	size_t n = strlen(name), j = 0;
	for (size_t i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
			devsys__free(env->v[i]);
		else
			env->v[j++] = env->v[i];
	}
	env->n = j;
	if (env->v)
		env->v[j] = NULL;
}

/*
 * The secrets the agent's runner profile lists (runners.<name>.secrets in
 * devsys.yaml; a spec can never grant one): each is resolved through the
 * run's secrets set, so the resolution is a "secret.resolve" event in
 * events.jsonl (name, task, stage "agent", never the value), goes into the
 * agent's environment as NAME=value, and is added to the masker that masks
 * logs/agent.log: the caller's runner options' masker, else a new one in
 * @p own (freed by the caller). A value that cannot be masked is refused.
 */
static int agent_secrets(devsys__stage_ctx *c, devsys__strvec *env, devsys_masker **own)
{
	const char *profile = devsys__pipeline_profile(c->p, "agent");
	devsys_masker *m = c->p->runner_opts ? c->p->runner_opts->masker : NULL;
	const devsys__cfg_secret *list;
	size_t n, len;
	int rc;

	*own = NULL;
	if (!profile)
		return 0;
	if ((rc = devsys__config_runner_secrets(&list, &n, c->p->config, profile)) < 0 || n == 0)
		return rc;
	if (!c->secrets && (rc = devsys__pipeline_secrets_new(&c->secrets, c->p->ws)) < 0)
		return rc;
	if (!m && (rc = devsys_masker_new(own)) < 0)
		return rc;
	if (!m)
		m = *own;
	for (size_t i = 0; i < n; i++) {
		devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
		const char *value;
		d.name = list[i].name;
		d.provider = list[i].provider;
		d.ref = list[i].ref;
		/* already declared in this run: the forge's token_secret, never the agent's */
		if ((rc = devsys_secrets_define(c->secrets, &d)) < 0)
			return devsys__error_set(rc, "runners.%s.secrets: '%s': %s", profile, d.name,
			                         rc == DEVSYS_EEXISTS ? "is a secret the library already holds for this task "
			                                                "(a forges: token_secret); the agent never gets it"
			                                              : devsys_error_message(devsys_error_last()));
		if ((rc = devsys_secrets_resolve(c->secrets, d.name, c->task, "agent", &value, &len)) < 0)
			return rc; /* the message names the secret and provider, never the value */
		if ((rc = devsys_masker_add(m, d.name, value, len)) < 0)
			return devsys__error_set(rc, "runners.%s.secrets: '%s' cannot be masked in logs/agent.log (%s), so it "
			                         "is not handed to the agent",
			                         profile, d.name,
			                         rc == DEVSYS_EINVALID ? "a line of its value is shorter than 4 bytes"
			                                               : "the runner options' masker is already in use");
		env_drop(env, d.name);
		if ((rc = devsys__strvec_push(env, devsys__asprintf("%s=%s", d.name, value))) < 0)
			return rc;
	}
	return 0;
}

/* The agents: profile of the spec's agent kind (agent.profile, else the
 * kind's name), or NULL for the command kind. */
static const char *agent_profile(const devsys_spec *spec)
{
	const char *kind = devsys_spec_get_string(spec, "/agent/kind"), *profile;
	if (!kind || !strcmp(kind, "command"))
		return NULL;
	profile = devsys_spec_get_string(spec, "/agent/profile");
	return profile ? profile : kind;
}

/*
 * The provider key the agents: profile names (api_key_secret, with
 * api_key_provider/api_key_ref declaring it): resolved through the run's
 * secrets, so it is a secret.resolve event of stage agent; added to the
 * masker of the agent's output (logs/agent.log, logs/agent.jsonl) before
 * the runner opens; handed to the adapter in its request, never in argv.
 * A name the run already holds (a forge's token) is refused.
 */
static int agent_api_key(devsys__stage_ctx *c, devsys_masker **own, const char **key, size_t *len)
{
	const char *profile = agent_profile(c->p->spec), *name = NULL, *prov = NULL, *ref = NULL;
	devsys_masker *m = c->p->runner_opts ? c->p->runner_opts->masker : NULL;
	devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
	int rc;
	*key = NULL;
	*len = 0;
	if (!profile || !c->p->config ||
	    devsys_config_agent_value(&name, NULL, c->p->config, profile, "api_key_secret") < 0 || !name) {
		devsys_error_clear(); /* no profile: the adapter says so itself */
		return 0;
	}
	devsys_config_agent_value(&prov, NULL, c->p->config, profile, "api_key_provider");
	devsys_config_agent_value(&ref, NULL, c->p->config, profile, "api_key_ref");
	if (!c->secrets && (rc = devsys__pipeline_secrets_new(&c->secrets, c->p->ws)) < 0)
		return rc;
	d.name = name;
	d.provider = prov ? prov : "env";
	d.ref = ref;
	if ((rc = devsys_secrets_define(c->secrets, &d)) < 0)
		return devsys__error_set(rc, "agents.%s.api_key_secret: '%s': %s", profile, name,
		                         rc == DEVSYS_EEXISTS ? "is a secret the library already holds for this task (a "
		                                                "forges: token_secret or a runner profile's); not handed over"
		                                              : devsys_error_message(devsys_error_last()));
	if ((rc = devsys_secrets_resolve(c->secrets, name, c->task, "agent", key, len)) < 0)
		return rc; /* the message names the secret and provider, never the value */
	if (!m && !*own && (rc = devsys_masker_new(own)) < 0)
		return rc;
	if ((rc = devsys_masker_add(m ? m : *own, name, *key, *len)) < 0)
		return devsys__error_set(rc, "agents.%s.api_key_secret: '%s' cannot be masked in the agent's logs (%s), so "
		                             "it is not handed to the agent",
		                         profile, name,
		                         rc == DEVSYS_EINVALID ? "a line of its value is shorter than 4 bytes"
		                                               : "the runner options' masker is already in use");
	return 0;
}

/*
 * The agent never gets the forge's token, but a careless or hostile agent
 * that finds it (inproc without user can read what devsys reads) must not
 * print it into logs/agent.log: when the run has resolved secrets (the push
 * token of the forges: entry, the profile's ones) and the caller gave no
 * masker, the agent's output is masked with all of them.
 */
static int mask_run_secrets(devsys__stage_ctx *c, devsys_masker **own)
{
	devsys_masker *m = NULL;
	int rc;
	if (!c->secrets || (c->p->runner_opts && c->p->runner_opts->masker))
		return 0;
	if ((rc = devsys_secrets_masker(&m, c->secrets)) < 0)
		return rc;
	devsys_masker_free(*own); /* the set's masker holds the profile's values too */
	*own = m;
	return 0;
}

/* The environment may hold secret values: wipe it before it is freed. */
static void env_wipe(devsys__strvec *env)
{
	for (size_t i = 0; i < env->n; i++)
		explicit_bzero(env->v[i], strlen(env->v[i]));
}

/* The spec's agent.idle_timeout (the schema's timeout type: seconds or
 * "90s"/"30m"/"2h") in ms; 0 when absent. It may only lower the operator's. */
static int spec_idle_ms(const devsys_spec *spec, unsigned int *ms)
{
	const devsys_node *n = devsys_node_get(devsys_spec_at(spec, 0), "/agent/idle_timeout");
	*ms = 0;
	return n ? devsys_spec_duration_ms(ms, n, "agent.idle_timeout") : 0;
}

/* Each budget its own outcome in task.json (stages.agent.outcome). */
static const char *agent_outcome(int failure)
{
	switch (failure) {
	case DEVSYS_RUNNER_STALLED:
		return "agent-stalled";
	case DEVSYS_RUNNER_OUTPUT_LIMIT:
		return "agent-output-limit";
	case DEVSYS_RUNNER_TIMEOUT:
		return "agent-timeout";
	case DEVSYS_RUNNER_CANCELED:
		return "agent-canceled";
	case -DEVSYS_FAILURE_BUDGET: /* the adapter stopped it (not a runner failure) */
		return "agent-budget";
	default:
		return "agent-failed";
	}
}

/* task.json "agent": what the command did against its budgets, so each
 * budget's outcome is in the record next to stages.agent's class. */
static int record_agent(devsys_task *task, const devsys_runner_cmd *cmd, const devsys_runner_result *rr,
                        const char *outcome, const char *usage)
{
	devsys_record *rec = NULL;
	char *s;
	json_t *j = json_pack("{s:s,s:s,s:i,s:i,s:I,s:I,s:b,s:s,s:{s:I,s:I,s:I}}", "outcome", outcome, "failure",
	                      devsys_runner_failure_name(rr->failure), "exit_code", rr->exit_code, "signal", rr->signal,
	                      "duration_ms", (json_int_t)rr->duration_ms, "output_bytes", (json_int_t)rr->output_bytes,
	                      "truncated", rr->truncated || rr->failure == DEVSYS_RUNNER_OUTPUT_LIMIT, "log",
	                      "logs/agent.log", "budgets", "timeout_ms", (json_int_t)cmd->timeout_ms, "idle_timeout_ms",
	                      (json_int_t)cmd->idle_timeout_ms, "max_output_bytes", (json_int_t)cmd->max_output_bytes);
	int rc;
	/* the adapter's report (steps, tokens, cost, tools), when it has one */
	if (j && usage)
		json_object_set_new(j, "usage", json_loads(usage, 0, NULL));
	s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!s)
		return devsys__error_oom();
	if ((rc = devsys_record_open(&rec, task)) == 0 && (rc = devsys_record_set_json(rec, "agent", s)) == 0)
		rc = devsys_record_save(rec);
	devsys_record_free(rec);
	free(s);
	return rc;
}

/* A failed agent's error: its exit, and the provider's own message when the
 * adapter reported one (agent.usage.error comes from masked events only). */
static int agent_failed(const devsys_runner_result *rr, const char *usage)
{
	json_t *u = usage ? json_loads(usage, 0, NULL) : NULL;
	const char *said = json_string_value(json_object_get(u, "error"));
	int rc = said && *said
	                 ? devsys__error_set(DEVSYS_ERROR, "the agent %s (exit %d, signal %d): %.400s; see logs/agent.log",
	                                     devsys_runner_failure_name(rr->failure), rr->exit_code, rr->signal, said)
	                 : devsys__error_set(DEVSYS_ERROR, "the agent %s (exit %d, signal %d); see logs/agent.log",
	                                     devsys_runner_failure_name(rr->failure), rr->exit_code, rr->signal);
	json_decref(u);
	return rc;
}

/* The tools of one step of agent.usage.per_step, ", "-joined. */
static void step_tools(devsys_buf *b, json_t *tools)
{
	size_t i;
	json_t *t;
	json_array_foreach(tools, i, t) devsys_buf_printf(b, "%s%s", i ? ", " : "", json_string_value(t));
	if (!json_array_size(tools))
		devsys_buf_puts(b, "(no tool)");
}

/*
 * A readable summary at the end of logs/agent.log (whose bytes above are the
 * agent's own): the outcome, each step with its tools, tokens and cost, the
 * files each tool named, and the totals. From agent.usage, so from masked
 * events only; nothing when the adapter reports no usage.
 */
static int agent_log_summary(devsys_task *task, const char *outcome, const char *usage)
{
	json_t *u = usage ? json_loads(usage, 0, NULL) : NULL, *st, *t, *v;
	devsys_buf b = DEVSYS_BUF_INIT;
	const char *why;
	size_t i, k;
	int rc;
	if (!u)
		return 0;
	devsys_buf_printf(&b, "\n==== agent summary: %s ====\n", outcome);
	json_array_foreach(json_object_get(u, "per_step"), i, st)
	{
		devsys_buf_printf(&b, "step %lld: ", (long long)json_integer_value(json_object_get(st, "step")));
		step_tools(&b, json_object_get(st, "tools"));
		devsys_buf_printf(&b, "; %lld tokens, cost %g\n", (long long)json_integer_value(json_object_get(st, "tokens")),
		                  json_number_value(json_object_get(st, "cost")));
	}
	json_array_foreach(json_object_get(u, "tools"), i, t)
	{
		devsys_buf_printf(&b, "files named by %s:", json_string_value(json_object_get(t, "tool")));
		json_array_foreach(json_object_get(t, "paths"), k, v) devsys_buf_printf(&b, " %s", json_string_value(v));
		devsys_buf_puts(&b, json_array_size(json_object_get(t, "paths")) ? "\n" : " (none)\n");
	}
	devsys_buf_printf(&b, "totals: %lld steps, %lld tool calls, %lld tokens, cost %g\n",
	                  (long long)json_integer_value(json_object_get(u, "steps")),
	                  (long long)json_integer_value(json_object_get(u, "tool_calls")),
	                  (long long)json_integer_value(json_object_get(u, "tokens")),
	                  json_number_value(json_object_get(u, "cost")));
	if ((why = json_string_value(json_object_get(u, "budget_crossed"))) ||
	    (why = json_string_value(json_object_get(u, "stalled"))) ||
	    (why = json_string_value(json_object_get(u, "error"))))
		devsys_buf_printf(&b, "stopped: %s\n", why);
	json_decref(u);
	rc = b.ptr ? devsys__record_log_append(task, "agent", b.ptr, b.size) : devsys__error_oom();
	devsys_buf_dispose(&b);
	return rc;
}

/* The adapter the spec's agent.kind names, for this task (lib/agent). */
static int open_adapter(devsys__agent **out, devsys__stage_ctx *c, const char *input, const char *key, size_t klen)
{
	devsys_agent_request req = { DEVSYS_AGENT_REQUEST_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 };
	devsys_buf home = DEVSYS_BUF_INIT;
	int rc;
	req.spec = c->p->spec;
	req.config = c->p->config;
	req.task = c->task;
	req.checkout = devsys_repo_checkout_path(c->repo);
	req.input = input;
	req.api_key = key;
	req.api_key_len = klen;
	if ((rc = devsys_task_path_join(&home, c->task, "home")) == 0) { /* made by agent_env() */
		req.home = home.ptr;
		rc = devsys__agent_open(out, devsys_spec_get_string(c->p->spec, "/agent/kind"), &req);
	}
	devsys_buf_dispose(&home);
	return rc;
}

struct agent_events {
	devsys__stage_ctx *c;
	devsys__record_log *log; /* logs/agent.jsonl */
};

/* Each event: into the transcript (through the record), then the live
 * view gets the adapter's step and tool. */
static int agent_event(devsys__agent *a, const char *line, size_t len, void *payload)
{
	struct agent_events *ev = payload;
	uint64_t step, max;
	const char *label;
	int rc;
	if (ev->log && ((rc = devsys__record_log_write(ev->log, line, len)) < 0 ||
	                (rc = devsys__record_log_write(ev->log, "\n", 1)) < 0))
		return rc;
	if (!(label = devsys__agent_status(a, &step, &max)))
		return 0;
	return devsys__pipeline_emit(ev->c->p, DEVSYS_PIPELINE_EVENT_PROGRESS, "agent", NULL, label, strlen(label), step,
	                             max);
}

/* What the preflight command printed (stdout, capped). */
static int preflight_output(int stream, const char *data, size_t len, void *payload)
{
	devsys_buf *b = payload;
	if (stream == DEVSYS_RUNNER_STDOUT && b->size < 65536)
		devsys_buf_put(b, data, len < 65536 - b->size ? len : 65536 - b->size);
	return 0;
}

/* The adapter's check before the agent runs (opencode: its --version), on the agent's runner. */
static int agent_preflight(devsys__stage_ctx *c, devsys__agent *ag, devsys_runner *runner, const char *const *env,
                           const char *cwd)
{
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	devsys_buf out = DEVSYS_BUF_INIT;
	const char *const *argv;
	int rc;
	if ((rc = devsys__agent_preflight(ag, &argv)) < 0 || !argv || !argv[0])
		return rc;
	cmd.argv = argv;
	cmd.env = env;
	cmd.cwd = cwd;
	cmd.timeout_ms = 60000;
	cmd.stage = "agent";
	cmd.output_cb = preflight_output;
	cmd.output_payload = &out;
	if ((rc = devsys__pipeline_exec(c, runner, &cmd, &rr)) < 0 && c->p->canceled)
		goto done;
	if (rc < 0 && rr.exit_code <= 0) {
		const char *m = devsys_error_message(devsys_error_last());
		devsys_buf_clear(&out);
		devsys_buf_put(&out, m, strlen(m));
	}
	rc = devsys__agent_preflight_check(ag, rc < 0 && rr.exit_code <= 0 ? -1 : rr.exit_code, out.ptr, out.size);
done:
	devsys_runner_result_dispose(&rr);
	devsys_buf_dispose(&out);
	return rc;
}

int devsys__stage_agent(devsys__stage_ctx *c)
{
	devsys_pipeline *p = c->p;
	devsys_task *task = c->task;
	devsys_repo *repo;
	devsys_runner *runner = NULL;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	devsys_buf input = DEVSYS_BUF_INIT;
	devsys__strvec env = { 0 };
	devsys__agent *ag = NULL;
	devsys_masker *masker = NULL; /* the agent's secrets, when the caller gave no masker */
	const char *const *aargv = NULL;
	const char **aenv = NULL;
	char *usage = NULL;
	struct agent_events events = { c, NULL };
	const char *budget, *key = NULL;
	size_t klen = 0;
	bool stalled;
	unsigned int ms = 0, idle_ms = 0;
	int rc, fclass, log_rc;

	if ((rc = devsys__pipeline_begin(c, "agent")) < 0)
		return rc;
	/* the schema takes any kind name; one nobody registered is refused before any work */
	if ((rc = devsys__agent_check_kind(devsys_spec_get_string(p->spec, "/agent/kind"))) < 0)
		return devsys__pipeline_end(c, "agent", rc, DEVSYS_FAILURE_BUILD, "agent-refused", -1);
	if ((rc = devsys__pipeline_repo(c)) < 0)
		return devsys__pipeline_end(c, "agent", rc, DEVSYS_FAILURE_SYSTEM, "agent-not-run", -1);
	repo = c->repo;
	if ((rc = spec_idle_ms(p->spec, &idle_ms)) < 0 ||
	    ((rc = devsys_spec_timeout_ms(p->spec, 0, "agent", &ms)) < 0 && rc != DEVSYS_ENOTFOUND)) {
		rc = devsys__pipeline_end(c, "agent", rc, DEVSYS_FAILURE_BUILD, "agent-refused", -1);
		goto out;
	}
	if ((rc = write_agent_input(p, task, &input)) < 0 ||
	    (rc = agent_env(&env, p, task, input.ptr, devsys_repo_checkout_path(repo))) < 0 ||
	    /* only the operator's profile hands the agent a secret */
	    (rc = agent_secrets(c, &env, &masker)) < 0 || (rc = agent_api_key(c, &masker, &key, &klen)) < 0 ||
	    (rc = mask_run_secrets(c, &masker)) < 0 ||
	    /* per run: the task's profile names it */
	    (rc = devsys__pipeline_open_runner_masked(&runner, p, "agent", masker)) < 0) {
		rc = devsys__pipeline_end(c, "agent", rc, DEVSYS_FAILURE_SYSTEM, "agent-not-run", -1);
		goto out;
	}
	if ((rc = open_adapter(&ag, c, input.ptr, key, klen)) < 0 ||
	    (rc = devsys__agent_command(ag, &aargv, (const char *const *)env.v, &aenv)) < 0 ||
	    (rc = agent_preflight(c, ag, runner, aenv, devsys_repo_checkout_path(repo))) < 0 ||
	    /* the events only: agent.log keeps every byte of both streams */
	    (devsys__agent_has_events(ag) && (rc = devsys__record_log_open(&events.log, task, "agent.jsonl")) < 0)) {
		/* the adapter refusing the spec or config is the task's input (build); the
		 * adapter itself failing (a plug-in's error, I/O, memory) is a system failure */
		rc = devsys__pipeline_end(c, "agent", rc, rc == DEVSYS_EINVALID ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM,
		                          rc == DEVSYS_EINVALID ? "agent-refused" : "agent-not-run", -1);
		goto out;
	}
	cmd.argv = aargv;
	cmd.env = aenv;
	cmd.output_cb = devsys__agent_output; /* the adapter reads the events as they come */
	cmd.output_payload = ag;
	cmd.cwd = devsys_repo_checkout_path(repo);
	cmd.timeout_ms = ms;
	cmd.task = task; /* output: logs/agent.log; stdin: /dev/null */
	cmd.stage = "agent";
	/* the budgets: the spec may only lower the operator's idle timeout */
	cmd.idle_timeout_ms = idle_ms && idle_ms < p->agent_idle_timeout_ms ? idle_ms : p->agent_idle_timeout_ms;
	cmd.max_output_bytes = p->max_output_bytes;
	devsys__agent_on_event(ag, agent_event, &events);
	rc = devsys__pipeline_exec(c, runner, &cmd, &rr);
	devsys__agent_finish(ag);
	log_rc = devsys__record_log_close(events.log);
	events.log = NULL;
	fclass = rc < 0 && rr.failure == DEVSYS_RUNNER_OK ? DEVSYS_FAILURE_SYSTEM : devsys__pipeline_failure_of_runner(rr.failure);
	/* the adapter stopped it on a budget: the runner saw a cancel */
	budget = rr.failure == DEVSYS_RUNNER_CANCELED && !p->canceled ? devsys__agent_stop_reason(ag) : NULL;
	/* or on a permission prompt: stalled at once, not after the idle timeout */
	stalled = budget && devsys__agent_stalled(ag);
	if (stalled)
		rr.failure = DEVSYS_RUNNER_STALLED;
	if (stalled)
		fclass = DEVSYS_FAILURE_STALLED;
	else if (budget)
		fclass = DEVSYS_FAILURE_BUDGET;
	else if (rr.failure == DEVSYS_RUNNER_CANCELED && !p->canceled && devsys__agent_error(ag) < 0)
		fclass = DEVSYS_FAILURE_SYSTEM;
	if (log_rc < 0 && rc == 0) { /* the transcript is part of the record */
		rc = log_rc;
		fclass = DEVSYS_FAILURE_SYSTEM;
	}
	{
		/* the runner's error must survive the record write */
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
		if (stalled)
			snprintf(msg, sizeof(msg), "the agent stalled: %s (see logs/agent.log)", budget);
		else if (budget)
			snprintf(msg, sizeof(msg), "the agent crossed a budget: %s; stopped (see logs/agent.jsonl)", budget);
		const char *outcome = fclass == DEVSYS_FAILURE_NONE
		                              ? "agent-done"
		                              : agent_outcome(budget && !stalled ? -DEVSYS_FAILURE_BUDGET : rr.failure);
		if (devsys__agent_usage(&usage, ag) < 0 || record_agent(task, &cmd, &rr, outcome, usage) < 0 ||
		    agent_log_summary(task, outcome, usage) < 0) {
			rc = devsys__pipeline_end(c, "agent", devsys_error_code(devsys_error_last()), DEVSYS_FAILURE_SYSTEM,
			                          "record-failed", -1);
			devsys_runner_result_dispose(&rr);
			goto out;
		}
		if (rc < 0)
			devsys__error_set(rc, "%s", msg);
	}
	if (fclass == DEVSYS_FAILURE_NONE)
		rc = devsys__pipeline_end(c, "agent", 0, fclass, "agent-done", DEVSYS_STATE_CODED);
	else {
		if (rc == 0)
			rc = agent_failed(&rr, usage);
		rc = devsys__pipeline_end(c, "agent", rc, fclass, agent_outcome(budget && !stalled ? -DEVSYS_FAILURE_BUDGET : rr.failure),
		                          -1);
	}
	devsys_runner_result_dispose(&rr);
out:
	devsys__record_log_close(events.log);
	devsys_runner_free(runner);
	devsys__free(usage);
	devsys__free(aenv);
	devsys__agent_close(ag);
	devsys_masker_free(masker);
	env_wipe(&env);
	devsys__strvec_free(&env);
	devsys_buf_dispose(&input);
	return rc;
}

/* ---- commit and push ---- */

static int count_blob(const char *root, const git_tree_entry *e, void *payload)
{
	(void)root;
	if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
		(*(size_t *)payload)++;
	return 0;
}

/* How many files the checkout's HEAD tracks. */
static int tracked_files(size_t *out, const char *checkout)
{
	git_repository *r = NULL;
	git_object *tree = NULL;
	int rc = 0;
	*out = 0;
	if (git_repository_open(&r, checkout) < 0 || git_revparse_single(&tree, r, "HEAD^{tree}") < 0 ||
	    git_tree_walk((git_tree *)tree, GIT_TREEWALK_PRE, count_blob, out) < 0)
		rc = devsys__error_set(DEVSYS_EIO, "cannot read the tree of '%s': %s", checkout,
		                       git_error_last() ? git_error_last()->message : "unknown error");
	git_object_free(tree);
	git_repository_free(r);
	return rc;
}

/* The checkout's changes against HEAD (worktree and index; untracked files,
 * .gitignore honoured): how many paths, and how many of them are deleted. */
static int worktree_changes(size_t *changed, size_t *deleted, const char *checkout)
{
	git_status_options so;
	git_repository *r = NULL;
	git_status_list *list = NULL;
	int rc = 0;
	git_status_options_init(&so, GIT_STATUS_OPTIONS_VERSION);
	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
	*changed = *deleted = 0;
	if (git_repository_open(&r, checkout) < 0 || git_status_list_new(&list, r, &so) < 0)
		rc = devsys__error_set(DEVSYS_EIO, "cannot read the changes in '%s': %s", checkout,
		                       git_error_last() ? git_error_last()->message : "unknown error");
	for (size_t i = 0; rc == 0 && i < git_status_list_entrycount(list); i++) {
		unsigned int st = git_status_byindex(list, i)->status;
		if (st == GIT_STATUS_CURRENT || (st & GIT_STATUS_IGNORED))
			continue;
		(*changed)++;
		*deleted += (st & (GIT_STATUS_WT_DELETED | GIT_STATUS_INDEX_DELETED)) != 0;
	}
	git_status_list_free(list);
	git_repository_free(r);
	return rc;
}

/* 1: the agent changed something; 0: nothing; refuses a change that deletes every tracked file. */
static int check_changes(int *changed, devsys_repo *repo)
{
	const char *checkout = devsys_repo_checkout_path(repo);
	size_t n = 0, deleted = 0, tracked = 0;
	int rc;
	if ((rc = worktree_changes(&n, &deleted, checkout)) < 0)
		return rc;
	*changed = n > 0;
	if (deleted == 0 || (rc = tracked_files(&tracked, checkout)) < 0)
		return rc;
	if (tracked > 0 && deleted >= tracked)
		return devsys__error_set(DEVSYS_EINVALID,
		                         "the agent's change deletes every tracked file (%zu of %zu); refused before "
		                         "commit and push",
		                         deleted, tracked);
	return 0;
}

/*
 * A run killed after devsys_repo_commit() made the commit but before the
 * stage's end leaves the task in "coded" with the commit on HEAD and a clean
 * worktree. Resumed, the stage must count that commit, not make a second
 * one: HEAD is not the base and carries this task's Task-Id trailer.
 */
static int head_is_task_commit(int *yes, devsys__stage_ctx *c)
{
	const char *head = devsys_repo_head_sha(c->repo), *base = devsys_repo_base_sha(c->repo);
	git_repository *r = NULL;
	git_commit *commit = NULL;
	git_message_trailer_array tr = { 0 };
	git_oid oid;
	int rc = 0;
	*yes = 0;
	if (!head || !base || strcmp(head, base) == 0 || git_oid_fromstr(&oid, head) < 0)
		return 0;
	if (git_repository_open(&r, devsys_repo_checkout_path(c->repo)) < 0 || git_commit_lookup(&commit, r, &oid) < 0 ||
	    git_message_trailers(&tr, git_commit_message(commit)) < 0)
		rc = devsys__error_set(DEVSYS_EIO, "cannot read the head commit %s of '%s': %s", head,
		                       devsys_repo_checkout_path(c->repo),
		                       git_error_last() ? git_error_last()->message : "unknown error");
	for (size_t i = 0; rc == 0 && i < tr.count; i++)
		if (strcmp(tr.trailers[i].key, "Task-Id") == 0 && strcmp(tr.trailers[i].value, c->p->task_id) == 0)
			*yes = 1;
	git_message_trailer_array_free(&tr);
	git_commit_free(commit);
	git_repository_free(r);
	return rc;
}

/* The marker a resumed run reads: the commit made, before the push. */
static int record_commit(devsys__stage_ctx *c)
{
	devsys_record *rec = NULL;
	char j[96];
	int rc;
	snprintf(j, sizeof(j), "{\"sha\":\"%s\"}", devsys_repo_head_sha(c->repo));
	if ((rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_set_json(rec, "commit", j)) == 0)
		rc = devsys_record_save(rec);
	devsys_record_free(rec);
	return rc;
}

static int commit_end(devsys__stage_ctx *c, int rc, int fclass, const char *outcome, int to)
{
	if (to == DEVSYS_STATE_NO_CHANGES)
		c->stop = 1;
	if (to == DEVSYS_STATE_COMMITTED && (rc = record_commit(c)) < 0)
		return devsys__pipeline_end(c, "commit", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	/* what changed that no tool call of the agent named */
	if (to == DEVSYS_STATE_COMMITTED && (rc = devsys__pipeline_agent_crosscheck(c)) < 0)
		return devsys__pipeline_end(c, "commit", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	return devsys__pipeline_end(c, "commit", rc, fclass, outcome, to);
}

int devsys__stage_commit(devsys__stage_ctx *c)
{
	devsys_repo_commit_options co = DEVSYS_REPO_COMMIT_OPTIONS_INIT;
	devsys_pipeline *p = c->p;
	devsys_buf spec = DEVSYS_BUF_INIT;
	const char *title = devsys_spec_get_string(p->spec, "/title");
	int rc, changed = 0, committed = 0;

	if ((rc = devsys__pipeline_begin(c, "commit")) < 0)
		return rc;
	if ((rc = devsys__pipeline_repo(c)) < 0)
		return devsys__pipeline_end(c, "commit", rc, DEVSYS_FAILURE_SYSTEM, "commit-failed", -1);
	if ((rc = check_changes(&changed, c->repo)) < 0)
		return devsys__pipeline_end(c, "commit", rc,
		                            rc == DEVSYS_EINVALID ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM,
		                            rc == DEVSYS_EINVALID ? "tree-deleted" : "commit-failed", -1);
	if (!changed && (rc = head_is_task_commit(&committed, c)) < 0)
		return devsys__pipeline_end(c, "commit", rc, DEVSYS_FAILURE_SYSTEM, "commit-failed", -1);
	if (committed) /* resumed after a crash that followed the commit */
		return commit_end(c, 0, DEVSYS_FAILURE_NONE, "already-committed", DEVSYS_STATE_COMMITTED);
	if (!changed)
		return commit_end(c, 0, DEVSYS_FAILURE_NONE, "no-changes", DEVSYS_STATE_NO_CHANGES);
	co.spec_path = p->spec_kept;
	if ((rc = devsys_task_path_join(&spec, c->task, p->spec_kept)) == 0) {
		co.spec_file = spec.ptr;
		rc = devsys_repo_commit(&committed, c->repo, title ? title : p->task_id, &co);
	}
	devsys_buf_dispose(&spec);
	if (rc < 0)
		return devsys__pipeline_end(c, "commit", rc, rc == DEVSYS_ELIMIT ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM,
		                            "commit-failed", -1);
	if (!committed) /* only ignored files changed */
		return commit_end(c, 0, DEVSYS_FAILURE_NONE, "no-changes", DEVSYS_STATE_NO_CHANGES);
	if ((rc = devsys__pipeline_record_git(c, "git.commit")) < 0)
		return commit_end(c, rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	return commit_end(c, 0, DEVSYS_FAILURE_NONE, "committed", DEVSYS_STATE_COMMITTED);
}

int devsys__stage_push(devsys__stage_ctx *c)
{
	int rc;
	if ((rc = devsys__pipeline_begin(c, "push")) < 0)
		return rc;
	if ((rc = devsys__pipeline_repo(c)) < 0 || (rc = devsys_repo_push(c->repo)) < 0)
		/* canceled: the progress callback or devsys_pipeline_cancel() stopped it */
		return c->p->canceled ? devsys__pipeline_end(c, "push", rc, DEVSYS_FAILURE_CANCELED, "canceled", -1)
		                      : devsys__pipeline_end(c, "push", rc,
		                                             rc == DEVSYS_EPROTECTED || rc == DEVSYS_ECONFLICT
		                                                     ? DEVSYS_FAILURE_BUILD
		                                                     : DEVSYS_FAILURE_SYSTEM,
		                                             "push-failed", -1);
	/* the push stands whatever the record does; its facts are the pipeline's to write */
	if ((rc = devsys__pipeline_record_git(c, "git.push")) < 0)
		return devsys__pipeline_end(c, "push", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	return devsys__pipeline_end(c, "push", 0, DEVSYS_FAILURE_NONE, "pushed", DEVSYS_STATE_PUSHED);
}

int devsys__stage_checkout(devsys__stage_ctx *c)
{
	int rc;
	if ((rc = devsys__pipeline_begin(c, "checkout")) < 0)
		return rc;
	if ((rc = devsys__pipeline_repo(c)) < 0)
		return c->p->canceled ? devsys__pipeline_end(c, "checkout", rc, DEVSYS_FAILURE_CANCELED, "canceled", -1)
		                      : devsys__pipeline_end(c, "checkout", rc,
		                                             rc == DEVSYS_EPROTECTED || rc == DEVSYS_EINVALID
		                                                     ? DEVSYS_FAILURE_BUILD
		                                                     : DEVSYS_FAILURE_SYSTEM,
		                                             "checkout-failed", -1);
	if ((rc = devsys__pipeline_record_git(c, "git.checkout")) < 0)
		return devsys__pipeline_end(c, "checkout", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	return devsys__pipeline_end(c, "checkout", 0, DEVSYS_FAILURE_NONE, "checked-out", DEVSYS_STATE_CHECKED_OUT);
}
