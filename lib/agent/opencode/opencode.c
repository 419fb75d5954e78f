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

struct oc {
	char *argv[8];
	char *env[12];
	uint64_t max_steps, max_tokens;
	double max_cost;
	uint64_t steps, tokens, malformed, tool_calls;
	double cost;
	json_t *tools; /* {"write": ["a.txt"], ...} */
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
	for (size_t i = 0; i < sizeof(s->env) / sizeof(s->env[0]); i++)
		devsys__free(s->env[i]);
	json_decref(s->tools);
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
                             const char *cin, const char *cout)
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
	/* no key: a local server needs none (api_key_secret is refused in open) */
	return json_pack("{s:{s:s,s:s,s:{s:s,s:s},s:o}}", pid, "npm", npm, "name", pid, "options", "baseURL", base,
	                 "apiKey", "devsys-no-key", "models", ms);
}

/* Every permission allow or deny, never "ask": a headless run never waits. */
static json_t *permission_json(const char *tools)
{
	json_t *p = json_pack("{s:s}", "*", "deny");
	for (size_t i = 0; i < NTOOLS; i++)
		json_object_set_new(p, known_tools[i], json_string(in_list(tools, known_tools[i]) ? "allow" : "deny"));
	json_object_set_new(p, "external_directory", json_string("deny"));
	json_object_set_new(p, "doom_loop", json_string("deny"));
	return p;
}

static int write_config(const char *path, const devsys_agent_request *req, const char *profile, const char *model,
                        const char *tools)
{
	const char *pid = profile_value(req, profile, "provider"), *npm = profile_value(req, profile, "npm");
	char full[512];
	json_t *j;
	char *s;
	int rc;
	snprintf(full, sizeof(full), "%s/%s", pid, model);
	j = json_pack("{s:b,s:s,s:s,s:o,s:o}", "autoupdate", 0, "share", "disabled", "model", full, "provider",
	              provider_json(pid, npm ? npm : "@ai-sdk/openai-compatible", profile_value(req, profile, "base_url"),
	                            profile_value(req, profile, "models"), profile_value(req, profile, "cost_input"),
	                            profile_value(req, profile, "cost_output")),
	              "permission", permission_json(tools));
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

static int set_env(struct oc *s, const char *cfg, const char *checkout)
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
	return 0;
}

static int set_argv(struct oc *s, const devsys_agent_request *req, const char *bin, const char *pid, const char *model)
{
	const char *prompt = devsys_spec_get_string(req->spec, "/prompt");
	if (!prompt)
		prompt = devsys_spec_get_string(req->spec, "/title");
	if (!prompt)
		return devsys__error_set(DEVSYS_EINVALID, "%s: the opencode agent needs a prompt (or a title)",
		                         devsys_spec_name(req->spec));
	if (!(s->argv[0] = devsys__strdup(bin)) || !(s->argv[1] = devsys__strdup("run")) ||
	    !(s->argv[2] = devsys__strdup("--format")) || !(s->argv[3] = devsys__strdup("json")) ||
	    !(s->argv[4] = devsys__strdup("--model")) || !(s->argv[5] = devsys__asprintf("%s/%s", pid, model)) ||
	    !(s->argv[6] = devsys__strdup(prompt)))
		return devsys__error_oom();
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
	if (profile_value(req, profile, "api_key_secret"))
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "agents.%s.api_key_secret: resolving a provider key is "
		                                               "not supported yet; only a provider without a key works",
		                         profile);
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
	    (rc = write_config(cfg.ptr, req, profile, model, tools ? tools : DEFAULT_TOOLS)) == 0 &&
	    (rc = set_env(s, cfg.ptr, req->checkout)) == 0)
		rc = set_argv(s, req, bin ? bin : "opencode", pid, model);
	devsys_buf_dispose(&cfg);
	return rc;
}

static int oc_open(void **self, const devsys_agent_request *req, void *payload)
{
	struct oc *s;
	int rc;
	(void)payload;
	if (!(s = devsys__calloc(1, sizeof(*s))) || !(s->tools = json_object())) {
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
		break;
	case DEVSYS__OC_STEP_FINISH:
		s->tokens += ev.tokens;
		s->cost += ev.cost;
		break;
	case DEVSYS__OC_TOOL_USE:
		note_tool(s, &ev);
		break;
	case DEVSYS__OC_ERROR:
		snprintf(s->error, sizeof(s->error), "%s", ev.message);
		break;
	default:
		break;
	}
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
	if (j && s->error[0])
		json_object_set_new(j, "error", json_string(s->error));
	if (j && s->reason[0])
		json_object_set_new(j, "budget_crossed", json_string(s->reason));
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

const devsys_agent_vtable devsys__agent_opencode_vtable = {
	DEVSYS_AGENT_VTABLE_VERSION, "opencode", oc_open, oc_command, oc_line, oc_usage, oc_stop_reason, oc_close,
};
