/*
 * devsys.yaml `agents:` section: the operator's agent profiles, one per
 * name, each for an adapter kind (opencode): the model provider (id, npm
 * package, base URL, models), the secret the API key comes from, the tools
 * the agent may use and the budgets a spec may only lower. Checked as
 * strictly as forges: (unknown keys, bad values and duplicates are errors
 * with file:line:col). The API key itself is never here: only the name of
 * a secret the secrets module resolves.
 */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {
	"kind", "provider", "npm", "base_url", "models", "api_key_secret", "tools",
	"max_steps", "max_tokens", "max_cost", "command", "cost_input", "cost_output",
	"api_key_provider", "api_key_ref", "version", "ask",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define KNOWN                                                                                                       \
	"kind, provider, npm, base_url, models, api_key_secret, tools, max_steps, max_tokens, max_cost, command, "        \
	"cost_input, cost_output, api_key_provider, api_key_ref, version, ask"
#define TOOLS "bash, edit, glob, grep, list, read, write, patch, todowrite, todoread, webfetch, task, skill"

struct entry {
	char *name;
	char *val[NKEYS]; /* a list (models, tools) is kept comma-joined */
	char *where[NKEYS];
};

struct devsys__cfg_agents {
	struct entry *e;
	size_t n;
};

static int key_index(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i], name) == 0)
			return (int)i;
	return -1;
}

static void agents_dispose(devsys_config *c)
{
	struct devsys__cfg_agents *a = c->agents;
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		for (size_t k = 0; k < NKEYS; k++) {
			devsys__free(a->e[i].val[k]);
			devsys__free(a->e[i].where[k]);
		}
		devsys__free(a->e[i].name);
	}
	devsys__free(a->e);
	devsys__free(a);
	c->agents = NULL;
}

static bool word_ok(const char *v, size_t max, const char *extra)
{
	size_t n = strlen(v);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr(extra, v[i]))
			return false;
	return true;
}

static bool tool_ok(const char *t)
{
	static const char *const tools[] = { "bash", "edit", "glob", "grep", "list", "read", "write", "patch",
		                             "todowrite", "todoread", "webfetch", "task", "skill" };
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (!strcmp(tools[i], t))
			return true;
	return false;
}

/* What the value (one item of a list) of key @p k must look like; NULL when fine. */
static const char *bad_value(int k, const char *v)
{
	const char *name = keys[k];
	uint64_t num;
	const char *why;
	char *end = NULL;
	if (!*v)
		return "must not be empty";
	if (strlen(v) > 1024)
		return "longer than 1024 characters";
	if (!strcmp(name, "kind") && strcmp(v, "opencode"))
		return "must be opencode (the command kind needs no profile)";
	if (!strcmp(name, "provider") && !word_ok(v, 64, "-_"))
		return "a provider id is 1 to 64 of A-Z, a-z, 0-9, '-', '_'";
	if (!strcmp(name, "models") && !word_ok(v, 200, "-_.:/@"))
		return "a model is 1 to 200 of A-Z, a-z, 0-9, '-', '_', '.', ':', '/', '@'";
	if (!strcmp(name, "npm") && !word_ok(v, 214, "-_.@/"))
		return "an npm package name (e.g. @ai-sdk/openai-compatible)";
	if (!strcmp(name, "api_key_secret") && !word_ok(v, 64, "_.-"))
		return "a secret name is 1 to 64 of A-Z, a-z, 0-9, '_', '.', '-'";
	if (!strcmp(name, "base_url") && strncmp(v, "https://", 8) && strncmp(v, "http://", 7))
		return "must start with https:// (or http:// for a server on this machine)";
	if (!strcmp(name, "base_url") && strchr(v, '@'))
		return "must not carry credentials (the key comes from api_key_secret)";
	if ((!strcmp(name, "tools") || !strcmp(name, "ask")) && !tool_ok(v))
		return "not a tool (known: " TOOLS ")";
	if (!strcmp(name, "api_key_provider") && strcmp(v, "env") && strcmp(v, "file"))
		return "must be env or file (the secrets module's provider the key is read from)";
	if (!strcmp(name, "version") && !word_ok(v, 64, ".-+"))
		return "a version is 1 to 64 of A-Z, a-z, 0-9, '.', '-', '+' (what `opencode --version` prints)";
	if ((!strcmp(name, "max_steps") || !strcmp(name, "max_tokens")) &&
	    (devsys__cfg_parse_value(DEVSYS__K_UINT, v, &num, &why) < 0 || num == 0))
		return "must be a whole number of at least 1";
	if (!strcmp(name, "max_cost") && !(strtod(v, &end) > 0 && end && !*end))
		return "must be a number above 0";
	if ((!strcmp(name, "cost_input") || !strcmp(name, "cost_output")) && !(strtod(v, &end) >= 0 && end && !*end))
		return "must be a price per million tokens (a number, 0 or more)";
	return NULL;
}

static int set_key(struct entry *e, int k, const char *v, const char *where)
{
	char *w;
	if (!(w = devsys__strdup(where)))
		return devsys__error_oom();
	devsys__free(e->where[k]);
	e->where[k] = w;
	if (!e->val[k])
		return (e->val[k] = devsys__strdup(v)) ? 0 : devsys__error_oom();
	/* a list: append */
	char *joined = devsys__asprintf("%s,%s", e->val[k], v);
	if (!joined)
		return devsys__error_oom();
	devsys__free(e->val[k]);
	e->val[k] = joined;
	return 0;
}

static int load_value(struct devsys__cfg_ctx *x, struct entry *e, int ki, yaml_node_t *kn, yaml_node_t *vn)
{
	bool list = !strcmp(keys[ki], "models") || !strcmp(keys[ki], "tools") || !strcmp(keys[ki], "ask");
	const char *v = devsys__cfg_scalar(vn), *why;
	if (list && vn && vn->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
			yaml_node_t *in = devsys__cfg_node(x, *it);
			const char *s = devsys__cfg_scalar(in);
			int rc;
			if (!s || (why = bad_value(ki, s)))
				return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s.%s: %s", devsys__cfg_at(x, in ? in : vn),
				                         e->name, keys[ki], s ? why : "expected a list of names");
			if ((rc = set_key(e, ki, s, devsys__cfg_at(x, in))) < 0)
				return rc;
		}
		return 0;
	}
	if (!v)
		return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s.%s: expected a single value%s",
		                         devsys__cfg_at(x, vn ? vn : kn), e->name, keys[ki], list ? " or a list" : "");
	if ((why = bad_value(ki, v)))
		return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s.%s: %s", devsys__cfg_at(x, vn), e->name, keys[ki],
		                         why);
	return set_key(e, ki, v, devsys__cfg_at(x, vn));
}

static struct entry *find_entry(const devsys_config *c, const char *name)
{
	for (size_t i = 0; c->agents && i < c->agents->n; i++)
		if (strcmp(c->agents->e[i].name, name) == 0)
			return &c->agents->e[i];
	return NULL;
}

static struct entry *add_entry(devsys_config *c, const char *name)
{
	struct entry *n;
	if (!c->agents && !(c->agents = devsys__calloc(1, sizeof(*c->agents))))
		return NULL;
	if (!(n = devsys__realloc(c->agents->e, (c->agents->n + 1) * sizeof(*n))))
		return NULL;
	c->agents->e = n;
	memset(&n[c->agents->n], 0, sizeof(n[0]));
	if (!(n[c->agents->n].name = devsys__strdup(name)))
		return NULL;
	return &n[c->agents->n++];
}

static int load_entry(struct devsys__cfg_ctx *x, struct entry *e, yaml_node_t *map)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = devsys__cfg_node(x, pr->key), *vn = devsys__cfg_node(x, pr->value);
		const char *k = devsys__cfg_scalar(kn);
		int ki, rc;
		if (!k)
			return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s: keys must be plain strings",
			                         devsys__cfg_at(x, kn), e->name);
		if ((ki = key_index(k)) < 0)
			return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s.%.100s: unknown key (known: " KNOWN ")",
			                         devsys__cfg_at(x, kn), e->name, k);
		if (e->where[ki])
			return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s.%s: given twice", devsys__cfg_at(x, kn),
			                         e->name, k);
		if ((rc = load_value(x, e, ki, kn, vn)) < 0)
			return rc;
	}
	return 0;
}

static int agents_parse(devsys_config *c, struct devsys__cfg_ctx *x, yaml_node_t *kn, yaml_node_t *vn)
{
	if (vn->type != YAML_MAPPING_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: agents: expected a mapping of profiles "
		                                          "(opencode: {kind: opencode, provider: ..., ...})",
		                         devsys__cfg_at(x, vn ? vn : kn));
	for (yaml_node_pair_t *pp = vn->data.mapping.pairs.start; pp < vn->data.mapping.pairs.top; pp++) {
		yaml_node_t *hk = devsys__cfg_node(x, pp->key), *hv = devsys__cfg_node(x, pp->value);
		const char *name = devsys__cfg_scalar(hk);
		struct entry *e;
		int rc;
		if (!name || !word_ok(name, 64, "-_"))
			return devsys__error_set(DEVSYS_EINVALID, "%s: agents: '%.64s' is not a profile name (1 to 64 of "
			                                          "A-Z, a-z, 0-9, '-', '_')",
			                         devsys__cfg_at(x, hk), name ? name : "?");
		if (find_entry(c, name))
			return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s: profile given twice", devsys__cfg_at(x, hk),
			                         name);
		if (!hv || hv->type != YAML_MAPPING_NODE)
			return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s: expected a mapping (kind: opencode, ...)",
			                         devsys__cfg_at(x, hv ? hv : hk), name);
		if (!(e = add_entry(c, name)))
			return devsys__error_oom();
		if ((rc = load_entry(x, e, hv)) < 0)
			return rc;
	}
	return 0;
}

static int agents_finish(devsys_config *c, const char *name)
{
	static const char *const needed[] = { "kind", "provider", "base_url", "models" };
	for (size_t i = 0; c->agents && i < c->agents->n; i++)
		for (size_t k = 0; k < sizeof(needed) / sizeof(needed[0]); k++)
			if (!c->agents->e[i].val[key_index(needed[k])])
				return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s: '%s' is missing (needed: kind, "
				                                          "provider, base_url, models)",
				                         name, c->agents->e[i].name, needed[k]);
	for (size_t i = 0; c->agents && i < c->agents->n; i++)
		if (!c->agents->e[i].val[key_index("api_key_secret")] &&
		    (c->agents->e[i].val[key_index("api_key_provider")] || c->agents->e[i].val[key_index("api_key_ref")]))
			return devsys__error_set(DEVSYS_EINVALID, "%s: agents.%s: api_key_provider and api_key_ref need "
			                                          "api_key_secret (the secret's name)",
			                         c->agents->e[i].where[key_index(c->agents->e[i].val[key_index("api_key_ref")]
			                                                             ? "api_key_ref"
			                                                             : "api_key_provider")],
			                         c->agents->e[i].name);
	return 0;
}

const struct devsys__config_section devsys__config_agents = {
	"agents", NULL, agents_parse, NULL, agents_finish, agents_dispose,
};

int devsys_config_agent_value(const char **value, const char **where, const devsys_config *c, const char *profile,
                              const char *key)
{
	const struct entry *e;
	int k;
	DEVSYS__CHECK_ARG(value);
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(profile);
	DEVSYS__CHECK_ARG(key);
	*value = NULL;
	if (where)
		*where = NULL;
	if ((k = key_index(key)) < 0)
		return devsys__error_set(DEVSYS_EINVAL, "agents: '%.64s' is not a key (known: " KNOWN ")", key);
	if (!(e = find_entry(c, profile)))
		return devsys__error_set(DEVSYS_ENOTFOUND, "agents: no profile '%.200s' in the operator's devsys.yaml",
		                         profile);
	*value = e->val[k];
	if (where)
		*where = e->where[k];
	return 0;
}
