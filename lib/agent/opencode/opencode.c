/*
 * The "opencode" agent kind: `opencode run --format json --model
 * <provider>/<model> "<prompt>"` in the checkout, configured by a private
 * opencode.json in the task's HOME (never in the checkout) from the
 * operator's agents: profile, with permissions that never resolve to
 * "ask", and budgets on steps, tokens and cost checked on each event.
 */
#include "core/core.h"
#include "agent/agent_int.h"
#include "opencode_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tools a profile may allow; the rest of opencode's are denied too ("*"). */
static const char *const known_tools[] = { "read", "glob", "grep", "list", "edit", "write", "patch", "todowrite",
	                                   "todoread", "bash", "webfetch", "task", "skill" };
#define NTOOLS (sizeof(known_tools) / sizeof(known_tools[0]))
/* Allowed when the profile lists no tools: no shell, no network. */
#define DEFAULT_TOOLS "read,glob,grep,list,edit,write,patch,todowrite,todoread"
/* The version this adapter was tested with (scripts/deps/opencode.npm); agents.<p>.version names another. */
#define TESTED_VERSION "1.18.33"
/* A prompt longer than this goes in a file passed with --file (argv stays far below ARG_MAX and
 * MAX_ARG_STRLEN, and the prompt stays out of `ps`). */
#define INLINE_PROMPT_MAX 4096
/* The variable the private opencode.json reads the provider key from ({env:...}); never argv. */
#define KEY_VAR "DEVSYS_AGENT_API_KEY"
/* Per-step entries kept in agent.usage (the totals count every step), and tool labels per step. */
#define MAX_STEPS_KEPT 200
#define MAX_STEP_TOOLS 50

struct oc {
	char *argv[12];
	char *env[12];
	char *pre_argv[3]; /* `opencode --version` */
	char profile[72];
	char expected[72]; /* the version `--version` must print */
	char label[160];   /* what the agent does now (status) */
	bool stalled;      /* reason is a permission prompt's, not a budget's */
	uint64_t max_steps, max_tokens;
	double max_cost;
	uint64_t steps, tokens, malformed, tool_calls;
	double cost;
	json_t *tools; /* {"write": ["a.txt"], ...} */
	json_t *per_step; /* [{"step", "tokens", "cost", "tools": ["write a.txt"]}], the first MAX_STEPS_KEPT */
	char error[512]; /* the last error event's message */
	char reason[256];
};

static void oc_close(void *self)
{
	struct oc *s = self;
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(s->argv) / sizeof(s->argv[0]); i++)
		devsys__free(s->argv[i]);
	for (size_t i = 0; i < sizeof(s->env) / sizeof(s->env[0]); i++) {
		if (s->env[i]) /* one entry holds the provider key */
			explicit_bzero(s->env[i], strlen(s->env[i]));
		devsys__free(s->env[i]);
	}
	for (size_t i = 0; i < sizeof(s->pre_argv) / sizeof(s->pre_argv[0]); i++)
		devsys__free(s->pre_argv[i]);
	json_decref(s->tools);
	json_decref(s->per_step);
	devsys__free(s);
}

/* Is @p item one of the comma-joined @p list? */
static bool in_list(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p && *p;) {
		size_t k = strcspn(p, ",");
		if (k == n && strncmp(p, item, n) == 0)
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

static const char *profile_value(const devsys_agent_request *req, const char *profile, const char *key)
{
	const char *v = NULL;
	devsys_config_agent_value(&v, NULL, req->config, profile, key);
	return v;
}

/* A budget: the profile's, lowered by the spec's (a spec can only lower it). */
static double budget(const devsys_agent_request *req, const char *profile, const char *key)
{
	const char *pv = profile_value(req, profile, key);
	char ptr[64];
	double p = pv ? strtod(pv, NULL) : 0, s = 0;
	const devsys_node *n;
	snprintf(ptr, sizeof(ptr), "/agent/%s", key);
	if ((n = devsys_node_get(devsys_spec_at(req->spec, 0), ptr)) && devsys_node_get_type(n) == DEVSYS_NODE_NUMBER)
		s = devsys_node_number(n);
	if (s > 0 && (p <= 0 || s < p))
		return s;
	return p;
}

/* The models, with the profile's prices (per million tokens) so opencode reports a cost. */
static json_t *provider_json(const char *pid, const char *npm, const char *base, const char *models,
                             const char *cin, const char *cout, bool key)
{
	json_t *ms = json_object();
	for (const char *p = models; p && *p;) {
		size_t k = strcspn(p, ",");
		char m[256];
		snprintf(m, sizeof(m), "%.*s", (int)k, p);
		json_t *mj = json_pack("{s:s}", "name", m);
		if (cin || cout)
			json_object_set_new(mj, "cost", json_pack("{s:f,s:f}", "input", cin ? strtod(cin, NULL) : 0.0,
			                                          "output", cout ? strtod(cout, NULL) : 0.0));
		json_object_set_new(ms, m, mj);
		p += k + (p[k] == ',');
	}
	/* the key only by reference: opencode reads it from its environment, so
	 * it is in no file; without one, a placeholder (a local server needs none) */
	return json_pack("{s:{s:s,s:s,s:{s:s,s:s},s:o}}", pid, "npm", npm, "name", pid, "options", "baseURL", base,
	                 "apiKey", key ? "{env:" KEY_VAR "}" : "devsys-no-key", "models", ms);
}

/* Every permission allow or deny, never "ask", unless the operator lists
 * the tool under ask: (a tripwire: the run ends stalled the moment the
 * agent reaches for it, as a headless run cannot answer). */
static json_t *permission_json(const char *tools, const char *ask)
{
	json_t *p = json_pack("{s:s}", "*", "deny");
	for (size_t i = 0; i < NTOOLS; i++)
		json_object_set_new(p, known_tools[i], json_string(in_list(ask, known_tools[i])     ? "ask"
		                                                   : in_list(tools, known_tools[i]) ? "allow"
		                                                                                    : "deny"));
	json_object_set_new(p, "external_directory", json_string("deny"));
	json_object_set_new(p, "doom_loop", json_string("deny"));
	return p;
}

static int write_config(const char *path, const devsys_agent_request *req, const char *profile, const char *model,
                        const char *tools, bool key)
{
	const char *pid = profile_value(req, profile, "provider"), *npm = profile_value(req, profile, "npm");
	char full[512];
	json_t *j;
	char *s;
	int rc;
	snprintf(full, sizeof(full), "%s/%s", pid, model);
	/* snapshot off: opencode would copy the checkout into a shadow git repository in HOME at every step
	 * (its undo); the pipeline commits the agent's work, and that copy costs a run time and disk */
	j = json_pack("{s:b,s:s,s:b,s:s,s:o,s:o}", "autoupdate", 0, "share", "disabled", "snapshot", 0, "model", full,
	              "provider",
	              provider_json(pid, npm ? npm : "@ai-sdk/openai-compatible", profile_value(req, profile, "base_url"),
	                            profile_value(req, profile, "models"), profile_value(req, profile, "cost_input"),
	                            profile_value(req, profile, "cost_output"), key),
	              "permission", permission_json(tools, profile_value(req, profile, "ask")));
	s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!s)
		return devsys__error_oom();
	rc = devsys__write_file_atomic(path, s, strlen(s), 0600);
	free(s);
	return rc;
}

/* The profile's model list must hold the spec's model (default: the first). */
static int pick_model(char *out, size_t cap, const devsys_agent_request *req, const char *profile, const char *models)
{
	const char *want = devsys_spec_get_string(req->spec, "/agent/model");
	if (!want) {
		snprintf(out, cap, "%.*s", (int)strcspn(models, ","), models);
		return 0;
	}
	if (!in_list(models, want))
		return devsys__error_set(DEVSYS_EINVALID, "%s: agent.model '%.200s' is not one of agents.%s.models (%.300s)",
		                         devsys_spec_name(req->spec), want, profile, models);
	snprintf(out, cap, "%s", want);
	return 0;
}

static int set_env(struct oc *s, const char *cfg, const char *checkout, const devsys_agent_request *req)
{
	static const char *const flags[] = { "OPENCODE_DISABLE_PROJECT_CONFIG=1", "OPENCODE_DISABLE_AUTOUPDATE=1",
		                             "OPENCODE_DISABLE_MODELS_FETCH=1",   "OPENCODE_DISABLE_SHARE=1",
		                             "OPENCODE_DISABLE_CLAUDE_CODE=1",    "OPENCODE_DISABLE_EXTERNAL_SKILLS=1",
		                             "OPENCODE_DISABLE_LSP_DOWNLOAD=1" };
	size_t k = 0;
	if (!(s->env[k++] = devsys__asprintf("OPENCODE_CONFIG=%s", cfg)))
		return devsys__error_oom();
	/* opencode resolves a tool's relative path against $PWD, not its working
	 * directory: an inherited PWD sent a relative write outside the checkout */
	if (!(s->env[k++] = devsys__asprintf("PWD=%s", checkout)))
		return devsys__error_oom();
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!(s->env[k++] = devsys__strdup(flags[i])))
			return devsys__error_oom();
	if (req->version >= 2 && req->api_key &&
	    !(s->env[k++] = devsys__asprintf(KEY_VAR "=%.*s", (int)req->api_key_len, req->api_key)))
		return devsys__error_oom();
	return 0;
}

/*
 * The prompt as opencode can read it back: an attached file goes through
 * its Read tool, which cuts a line at 2000 characters ("... (line
 * truncated to 2000 chars)", seen with 1.18.33), so a longer line is
 * folded at its last space before 1900 bytes (or at 1900 bytes).
 */
static int fold_prompt(devsys_buf *out, const char *prompt)
{
	const size_t width = 1900;
	int rc = 0;
	for (const char *p = prompt; *p && rc == 0;) {
		size_t n = strcspn(p, "\n"), cut = n;
		if (n > width) {
			cut = width;
			while (cut > width / 2 && p[cut] != ' ')
				cut--;
			if (p[cut] != ' ')
				cut = width;
		}
		if ((rc = devsys_buf_put(out, p, cut)) == 0 && (rc = devsys_buf_put(out, "\n", 1)) == 0)
			p += cut + (p[cut] == ' ' || p[cut] == '\n');
	}
	return rc;
}

/*
 * The message: the prompt inline when short; else a file outside the
 * checkout (<home>/prompt.md, 0600) attached with --file, and a message
 * that points at it. The message comes before the options: --file takes
 * a list and would swallow a message after it.
 */
static int set_argv(struct oc *s, const devsys_agent_request *req, const char *bin, const char *pid, const char *model)
{
	const char *prompt = devsys_spec_get_string(req->spec, "/prompt");
	devsys_buf file = DEVSYS_BUF_INIT, text = DEVSYS_BUF_INIT;
	size_t k = 0;
	int rc = 0;
	if (!prompt)
		prompt = devsys_spec_get_string(req->spec, "/title");
	if (!prompt)
		return devsys__error_set(DEVSYS_EINVALID, "%s: the opencode agent needs a prompt (or a title)",
		                         devsys_spec_name(req->spec));
	if (strlen(prompt) > INLINE_PROMPT_MAX &&
	    ((rc = devsys_buf_printf(&file, "%s/prompt.md", req->home)) < 0 || (rc = fold_prompt(&text, prompt)) < 0 ||
	     (rc = devsys__write_file_atomic(file.ptr, text.ptr, text.size, 0600)) < 0)) {
		devsys_buf_dispose(&file);
		devsys_buf_dispose(&text);
		return rc;
	}
	devsys_buf_dispose(&text);
	if (!(s->argv[k++] = devsys__strdup(bin)) || !(s->argv[k++] = devsys__strdup("run")) ||
	    !(s->argv[k++] = devsys__strdup(file.ptr ? "Do the task described in the attached file prompt.md." : prompt)) ||
	    !(s->argv[k++] = devsys__strdup("--format")) || !(s->argv[k++] = devsys__strdup("json")) ||
	    !(s->argv[k++] = devsys__strdup("--model")) || !(s->argv[k++] = devsys__asprintf("%s/%s", pid, model)) ||
	    (file.ptr && (!(s->argv[k++] = devsys__strdup("--file")) || !(s->argv[k++] = devsys__strdup(file.ptr))))) {
		devsys_buf_dispose(&file);
		return devsys__error_oom();
	}
	devsys_buf_dispose(&file);
	return 0;
}

static int oc_setup(struct oc *s, const devsys_agent_request *req)
{
	const char *profile = devsys_spec_get_string(req->spec, "/agent/profile");
	const char *pid, *models, *tools, *bin, *kind;
	devsys_buf cfg = DEVSYS_BUF_INIT;
	char model[256];
	int rc;
	if (!profile)
		profile = "opencode";
	if (!req->config)
		return devsys__error_set(DEVSYS_EINVALID, "%s: agent.kind opencode needs the agents.%s profile of the "
		                                          "operator's devsys.yaml, and no devsys.yaml is loaded",
		                         devsys_spec_name(req->spec), profile);
	if ((rc = devsys_config_agent_value(&kind, NULL, req->config, profile, "kind")) < 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: agent.kind opencode: %s", devsys_spec_name(req->spec),
		                         devsys_error_message(devsys_error_last()));
	if (!kind || strcmp(kind, "opencode"))
		return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s is not an opencode profile",
		                         devsys_spec_name(req->spec), profile);
	/* the pipeline resolves the key (a secret.resolve event) and masks it */
	if (profile_value(req, profile, "api_key_secret") && (req->version < 2 || !req->api_key))
		return devsys__error_set(DEVSYS_EINVALID, "agents.%s.api_key_secret: the key was not resolved for the "
		                                          "agent (the caller's request has no api_key)",
		                         profile);
	snprintf(s->profile, sizeof(s->profile), "%s", profile);
	snprintf(s->expected, sizeof(s->expected), "%s",
	         profile_value(req, profile, "version") ? profile_value(req, profile, "version") : TESTED_VERSION);
	pid = profile_value(req, profile, "provider");
	models = profile_value(req, profile, "models");
	tools = profile_value(req, profile, "tools");
	bin = profile_value(req, profile, "command");
	if ((rc = pick_model(model, sizeof(model), req, profile, models)) < 0)
		return rc;
	s->max_steps = (uint64_t)budget(req, profile, "max_steps");
	s->max_tokens = (uint64_t)budget(req, profile, "max_tokens");
	s->max_cost = budget(req, profile, "max_cost");
	if ((rc = devsys_buf_printf(&cfg, "%s/opencode.json", req->home)) == 0 &&
	    (rc = write_config(cfg.ptr, req, profile, model, tools ? tools : DEFAULT_TOOLS,
	                       req->version >= 2 && req->api_key)) == 0 &&
	    (rc = set_env(s, cfg.ptr, req->checkout, req)) == 0 &&
	    (rc = set_argv(s, req, bin ? bin : "opencode", pid, model)) == 0 &&
	    (!(s->pre_argv[0] = devsys__strdup(bin ? bin : "opencode")) || !(s->pre_argv[1] = devsys__strdup("--version"))))
		rc = devsys__error_oom();
	devsys_buf_dispose(&cfg);
	return rc;
}

static int oc_open(void **self, const devsys_agent_request *req, void *payload)
{
	struct oc *s;
	int rc;
	(void)payload;
	if (!(s = devsys__calloc(1, sizeof(*s))) || !(s->tools = json_object()) || !(s->per_step = json_array())) {
		if (s)
			json_decref(s->tools);
		devsys__free(s);
		return devsys__error_oom();
	}
	if ((rc = oc_setup(s, req)) < 0) {
		oc_close(s);
		return rc;
	}
	*self = s;
	return 0;
}

static int oc_command(void *self, const char *const **argv, const char *const **env)
{
	struct oc *s = self;
	*argv = (const char *const *)s->argv;
	*env = (const char *const *)s->env;
	return 0;
}

static void note_tool(struct oc *s, const devsys__oc_event *ev)
{
	json_t *paths = json_object_get(s->tools, ev->tool);
	size_t i;
	json_t *v;
	s->tool_calls++;
	if (!paths) {
		paths = json_array();
		json_object_set_new(s->tools, ev->tool[0] ? ev->tool : "?", paths);
	}
	if (!ev->path[0] || json_array_size(paths) >= 1000)
		return;
	json_array_foreach(paths, i, v) if (!strcmp(json_string_value(v), ev->path)) return;
	json_array_append_new(paths, json_string(ev->path));
}

/* The budgets, checked on each event: a step beyond max_steps, or totals over max_tokens / max_cost. */
static int over_budget(struct oc *s, const devsys__oc_event *ev)
{
	if (ev->type == DEVSYS__OC_STEP_START && s->max_steps && s->steps > s->max_steps)
		snprintf(s->reason, sizeof(s->reason), "max_steps %llu crossed: step %llu began",
		         (unsigned long long)s->max_steps, (unsigned long long)s->steps);
	else if (ev->type == DEVSYS__OC_STEP_FINISH && s->max_tokens && s->tokens > s->max_tokens)
		snprintf(s->reason, sizeof(s->reason), "max_tokens %llu crossed: %llu tokens after step %llu",
		         (unsigned long long)s->max_tokens, (unsigned long long)s->tokens, (unsigned long long)s->steps);
	else if (ev->type == DEVSYS__OC_STEP_FINISH && s->max_cost > 0 && s->cost > s->max_cost)
		snprintf(s->reason, sizeof(s->reason), "max_cost %g crossed: cost %g after step %llu", s->max_cost, s->cost,
		         (unsigned long long)s->steps);
	else
		return 0;
	return 1;
}

/* The step being kept, or NULL (none begun, or past MAX_STEPS_KEPT). */
static json_t *cur_step(struct oc *s)
{
	json_t *last = json_array_get(s->per_step, json_array_size(s->per_step) - 1);
	return last && json_integer_value(json_object_get(last, "step")) == (json_int_t)s->steps ? last : NULL;
}

/* Per step: its tokens, its cost and the tools it called. */
static void note_step(struct oc *s, const devsys__oc_event *ev)
{
	json_t *st;
	if (ev->type == DEVSYS__OC_STEP_START && json_array_size(s->per_step) < MAX_STEPS_KEPT)
		json_array_append_new(s->per_step, json_pack("{s:I,s:I,s:f,s:[]}", "step", (json_int_t)s->steps, "tokens",
		                                             (json_int_t)0, "cost", 0.0, "tools"));
	if (!(st = cur_step(s)))
		return;
	if (ev->type == DEVSYS__OC_STEP_FINISH) {
		json_object_set_new(st, "tokens", json_integer((json_int_t)ev->tokens));
		json_object_set_new(st, "cost", json_real(ev->cost));
	} else if (ev->type == DEVSYS__OC_TOOL_USE && json_array_size(json_object_get(st, "tools")) < MAX_STEP_TOOLS)
		json_array_append_new(json_object_get(st, "tools"), json_string(s->label));
}

static int oc_line(void *self, const char *line, size_t len)
{
	struct oc *s = self;
	devsys__oc_event ev;
	if (devsys__oc_event_parse(&ev, line, len) < 0) {
		s->malformed++; /* kept in agent.log; not an event */
		return 0;
	}
	switch (ev.type) {
	case DEVSYS__OC_STEP_START:
		s->steps++;
		snprintf(s->label, sizeof(s->label), "step %llu", (unsigned long long)s->steps);
		break;
	case DEVSYS__OC_STEP_FINISH:
		s->tokens += ev.tokens;
		s->cost += ev.cost;
		break;
	case DEVSYS__OC_TOOL_USE:
		note_tool(s, &ev);
		snprintf(s->label, sizeof(s->label), "%.32s%s%.120s", ev.tool, ev.path[0] ? " " : "", ev.path);
		break;
	case DEVSYS__OC_ERROR:
		snprintf(s->error, sizeof(s->error), "%s", ev.message);
		break;
	default:
		break;
	}
	note_step(s, &ev);
	return over_budget(s, &ev) ? DEVSYS_AGENT_STOP : DEVSYS_AGENT_EVENT;
}

static int oc_usage(void *self, char **out)
{
	struct oc *s = self;
	json_t *tools = json_array(), *paths, *j;
	const char *name;
	char *t;
	json_object_foreach(s->tools, name, paths)
		json_array_append_new(tools, json_pack("{s:s,s:O}", "tool", name, "paths", paths));
	j = json_pack("{s:I,s:I,s:f,s:I,s:o,s:I,s:{s:I,s:I,s:f}}", "steps", (json_int_t)s->steps, "tokens",
	              (json_int_t)s->tokens, "cost", s->cost, "tool_calls", (json_int_t)s->tool_calls, "tools", tools,
	              "malformed_lines", (json_int_t)s->malformed, "budgets", "max_steps", (json_int_t)s->max_steps,
	              "max_tokens", (json_int_t)s->max_tokens, "max_cost", s->max_cost);
	if (j)
		json_object_set(j, "per_step", s->per_step);
	if (j && s->error[0])
		json_object_set_new(j, "error", json_string(s->error));
	if (j && s->reason[0])
		json_object_set_new(j, s->stalled ? "stalled" : "budget_crossed", json_string(s->reason));
	t = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!t)
		return devsys__error_oom();
	*out = devsys__strdup(t);
	free(t);
	return *out ? 0 : devsys__error_oom();
}

static const char *oc_stop_reason(void *self)
{
	return ((struct oc *)self)->reason;
}

static int oc_preflight(void *self, const char *const **argv)
{
	*argv = (const char *const *)((struct oc *)self)->pre_argv;
	return 0;
}

/* `opencode --version` prints the bare version ("1.18.33"). */
static int oc_preflight_check(void *self, int exit_code, const char *out, size_t len)
{
	struct oc *s = self;
	const char *bin = s->pre_argv[0];
	size_t b = 0, e = len;
	while (b < e && (out[b] == ' ' || out[b] == '\t' || out[b] == '\n' || out[b] == '\r'))
		b++;
	while (e > b && (out[e - 1] == ' ' || out[e - 1] == '\t' || out[e - 1] == '\n' || out[e - 1] == '\r'))
		e--;
	if (exit_code < 0 || exit_code == 126 || exit_code == 127)
		return devsys__error_set(DEVSYS_EINVALID, "agents.%s.command: the opencode binary '%s' was not found or "
		                                          "cannot run (%s%.*s); expected opencode %s (npm opencode-ai@%s)",
		                         s->profile, bin, exit_code < 0 ? "" : exit_code == 127 ? "exit 127" : "exit 126",
		                         exit_code < 0 ? (int)(e - b > 200 ? 200 : e - b) : 0, out + b, s->expected,
		                         s->expected);
	if (exit_code != 0)
		return devsys__error_set(DEVSYS_EINVALID, "agents.%s.command: '%s --version' exited %d (printed '%.*s'); "
		                                          "expected opencode %s (npm opencode-ai@%s)",
		                         s->profile, bin, exit_code, (int)(e - b > 80 ? 80 : e - b), out + b, s->expected,
		                         s->expected);
	if (e - b != strlen(s->expected) || strncmp(out + b, s->expected, e - b))
		return devsys__error_set(DEVSYS_EINVALID, "agents.%s.command: '%s' is opencode '%.*s'; expected opencode %s "
		                                          "(npm opencode-ai@%s; agents.%s.version names another)",
		                         s->profile, bin, (int)(e - b > 80 ? 80 : e - b), out + b, s->expected, s->expected,
		                         s->profile);
	return 0;
}

/*
 * opencode 1.18 `run` never waits on an "ask": it prints "! permission
 * requested: <tool> (<patterns>); auto-rejecting" on stderr and rejects,
 * and the agent goes on without the tool. The run is ended at once as
 * stalled with that reason instead of carrying on half-permitted.
 */
static int oc_err_line(void *self, const char *line, size_t len)
{
	static const char tag[] = "permission requested: ";
	struct oc *s = self;
	const char *p = memmem(line, len, tag, sizeof(tag) - 1);
	size_t n;
	if (!p)
		return 0;
	p += sizeof(tag) - 1;
	n = len - (size_t)(p - line);
	if (memmem(p, n, "; auto-rejecting", 16))
		n = (size_t)((const char *)memmem(p, n, "; auto-rejecting", 16) - p);
	snprintf(s->reason, sizeof(s->reason), "opencode asked for a permission: %.*s (agents.%s.ask); a headless run "
	                                       "cannot answer, so it ended at once",
	         (int)(n > 120 ? 120 : n), p, s->profile);
	s->stalled = true;
	return DEVSYS_AGENT_STALL;
}

static const char *oc_status(void *self, uint64_t *step, uint64_t *max)
{
	struct oc *s = self;
	*step = s->steps;
	*max = s->max_steps;
	return s->label[0] ? s->label : NULL;
}

const devsys_agent_vtable devsys__agent_opencode_vtable = {
	DEVSYS_AGENT_VTABLE_VERSION, "opencode", oc_open,           oc_command,  oc_line,  oc_usage,
	oc_stop_reason,              oc_close,   oc_preflight,      oc_preflight_check, oc_err_line, oc_status,
};
