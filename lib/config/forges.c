/*
 * devsys.yaml `forges:` section: which forge provider serves a remote host,
 * its API base URL, the secret its token comes from and the merge method,
 * checked as strictly as runners: (unknown keys, bad values and duplicates
 * are errors with file:line:col), with DEVSYS_FORGE_<HOST>_<KEY>
 * environment overrides. The token itself is never here: only the name of
 * a secret the secrets module resolves.
 */
#include "internal.h"

#include <ctype.h>
#include <string.h>

static const char *const keys[] = {
	"provider", "base_url", "token_secret", "token_provider", "token_ref", "merge_method", "bot", "ca_file",
	"owner",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define KNOWN "provider, base_url, token_secret, token_provider, token_ref, merge_method, bot, ca_file, owner"

struct entry {
	char *host; /* lower case; "local" for remotes without a host */
	char *val[NKEYS];
	char *where[NKEYS]; /* "devsys.yaml:3:15" or "environment DEVSYS_FORGE_..." */
};

struct devsys__cfg_forges {
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

static struct devsys__cfg_forges *state(devsys_config *c)
{
	if (!c->forges)
		c->forges = devsys__calloc(1, sizeof(*c->forges));
	return c->forges;
}

static void forges_dispose(devsys_config *c)
{
	struct devsys__cfg_forges *f = c->forges;
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		for (size_t k = 0; k < NKEYS; k++) {
			devsys__free(f->e[i].val[k]);
			devsys__free(f->e[i].where[k]);
		}
		devsys__free(f->e[i].host);
	}
	devsys__free(f->e);
	devsys__free(f);
	c->forges = NULL;
}

/* A host name, optionally with ":port", or "local". */
static bool host_ok(const char *h)
{
	size_t n = strlen(h), colon = strcspn(h, ":");
	if (n == 0 || n > 253 || colon == 0)
		return false;
	for (size_t i = 0; i < colon; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
			return false;
	if (colon < n) {
		if (colon + 1 == n || n - colon - 1 > 5)
			return false;
		for (size_t i = colon + 1; i < n; i++)
			if (!isdigit((unsigned char)h[i]))
				return false;
	}
	return true;
}

static bool provider_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)v[i]) && !isdigit((unsigned char)v[i]) && v[i] != '-' && v[i] != '_')
			return false;
	return true;
}

static bool secret_name_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '.' && v[i] != '-')
			return false;
	return true;
}

/* What the value of key @p k must look like; NULL when it is fine. */
static const char *bad_value(int k, const char *v)
{
	const char *name = keys[k];
	if (!*v)
		return "must not be empty";
	if (strlen(v) > 4096)
		return "longer than 4096 characters";
	if (!strcmp(name, "provider") && !provider_ok(v))
		return "a provider name is 1 to 32 of a-z, 0-9, '-', '_' (github, gitea, local, or a plug-in's)";
	if (!strcmp(name, "merge_method") && strcmp(v, "merge") && strcmp(v, "squash") && strcmp(v, "rebase") &&
	    strcmp(v, "fast-forward"))
		return "must be merge, squash, rebase or fast-forward";
	if (!strcmp(name, "token_secret") && !secret_name_ok(v))
		return "a secret name is 1 to 64 of A-Z, a-z, 0-9, '_', '.', '-'";
	if (!strcmp(name, "base_url") && strncmp(v, "https://", 8) && strncmp(v, "http://", 7))
		return "must start with https:// (or http:// for a server on this machine)";
	if (!strcmp(name, "base_url") && strchr(v, '@'))
		return "must not carry credentials (the token comes from token_secret)";
	return NULL;
}

static int set_key(struct entry *e, int k, const char *v, const char *where)
{
	const char *why = bad_value(k, v);
	char *val, *w;
	if (why)
		return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s.%s: %s", where, e->host, keys[k], why);
	if (!(val = devsys__strdup(v)) || !(w = devsys__strdup(where))) {
		devsys__free(val);
		return devsys__error_oom();
	}
	devsys__free(e->val[k]);
	devsys__free(e->where[k]);
	e->val[k] = val;
	e->where[k] = w;
	return 0;
}

static struct entry *find_entry(const devsys_config *c, const char *host)
{
	for (size_t i = 0; c->forges && i < c->forges->n; i++)
		if (strcasecmp(c->forges->e[i].host, host) == 0)
			return &c->forges->e[i];
	return NULL;
}

static struct entry *add_entry(devsys_config *c, const char *host)
{
	struct devsys__cfg_forges *f = state(c);
	struct entry *n;
	if (!f || !(n = devsys__realloc(f->e, (f->n + 1) * sizeof(*n))))
		return NULL;
	f->e = n;
	memset(&n[f->n], 0, sizeof(n[0]));
	if (!(n[f->n].host = devsys__strdup(host)))
		return NULL;
	for (char *p = n[f->n].host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return &n[f->n++];
}

static int load_entry(struct devsys__cfg_ctx *x, struct entry *e, yaml_node_t *map)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = devsys__cfg_node(x, pr->key), *vn = devsys__cfg_node(x, pr->value);
		const char *k = devsys__cfg_scalar(kn), *v;
		int ki, rc;
		if (!k)
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s: keys must be plain strings",
			                         devsys__cfg_at(x, kn), e->host);
		if ((ki = key_index(k)) < 0)
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s.%.100s: unknown key (known: " KNOWN ")",
			                         devsys__cfg_at(x, kn), e->host, k);
		if (e->val[ki])
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s.%s: given twice", devsys__cfg_at(x, kn),
			                         e->host, k);
		if (!(v = devsys__cfg_scalar(vn)))
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s.%s: expected a single value",
			                         devsys__cfg_at(x, vn ? vn : kn), e->host, k);
		if ((rc = set_key(e, ki, v, devsys__cfg_at(x, vn))) < 0)
			return rc;
	}
	return 0;
}

static int forges_parse(devsys_config *c, struct devsys__cfg_ctx *x, yaml_node_t *kn, yaml_node_t *vn)
{
	if (vn->type != YAML_MAPPING_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: forges: expected a mapping of remote hosts "
		                                          "(github.com: {provider: github, ...})",
		                         devsys__cfg_at(x, vn ? vn : kn));
	for (yaml_node_pair_t *pp = vn->data.mapping.pairs.start; pp < vn->data.mapping.pairs.top; pp++) {
		yaml_node_t *hk = devsys__cfg_node(x, pp->key), *hv = devsys__cfg_node(x, pp->value);
		const char *host = devsys__cfg_scalar(hk);
		struct entry *e;
		int rc;
		if (!host || !host_ok(host))
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges: '%.64s' is not a host name (host or "
			                                          "host:port, or 'local' for local paths)",
			                         devsys__cfg_at(x, hk), host ? host : "?");
		if (find_entry(c, host))
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s: host given twice", devsys__cfg_at(x, hk),
			                         host);
		if (!hv || hv->type != YAML_MAPPING_NODE)
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s: expected a mapping (provider: ..., ...)",
			                         devsys__cfg_at(x, hv ? hv : hk), host);
		if (!(e = add_entry(c, host)))
			return devsys__error_oom();
		if ((rc = load_entry(x, e, hv)) < 0)
			return rc;
	}
	return 0;
}

/* The environment form of a host: upper case, '-', '.' and ':' as '_'. */
static void host_env_form(char *out, size_t cap, const char *host)
{
	devsys__cfg_env_form(out, cap, host);
	for (char *p = out; *p; p++)
		if (*p == ':')
			*p = '_';
}

/* DEVSYS_FORGE_<HOST>_<KEY>: the longest key suffix wins; a variable ending
 * in no known key is not ours to refuse. An override changes an entry of
 * the file and cannot add one: a host's dots cannot be told from dashes. */
static int forges_env(devsys_config *c, const char *name, const char *value)
{
	char var[256], kform[64], where[320];
	int best = -1;
	size_t best_len = 0, vlen = strlen(name);
	struct entry *e = NULL;
	if (vlen >= sizeof(var))
		return 0;
	memcpy(var, name, vlen + 1);
	for (size_t k = 0; k < NKEYS; k++) {
		devsys__cfg_env_form(kform, sizeof(kform), keys[k]);
		size_t kl = strlen(kform);
		if (vlen > kl + 1 && var[vlen - kl - 1] == '_' && strcmp(var + vlen - kl, kform) == 0 && kl > best_len) {
			best = (int)k;
			best_len = kl;
		}
	}
	if (best < 0)
		return 0;
	var[vlen - best_len - 1] = '\0';
	for (size_t i = 0; c->forges && i < c->forges->n && !e; i++) {
		char hf[300];
		host_env_form(hf, sizeof(hf), c->forges->e[i].host);
		if (strcmp(hf, var) == 0)
			e = &c->forges->e[i];
	}
	snprintf(where, sizeof(where), "environment DEVSYS_FORGE_%.200s", name);
	if (!e)
		return devsys__error_set(DEVSYS_EINVALID, "%s: no forges: entry for host '%s' in the file (an override "
		                                          "changes an entry, it cannot add one)", where, var);
	return set_key(e, best, value, where);
}

static int forges_finish(devsys_config *c, const char *name)
{
	for (size_t i = 0; c->forges && i < c->forges->n; i++) {
		struct entry *e = &c->forges->e[i];
		int ts = key_index("token_secret");
		if (!e->val[key_index("provider")])
			return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s: 'provider' is missing (github, gitea, "
			                                          "local, or a plug-in's name)", name, e->host);
		for (int k = key_index("token_provider"); k <= key_index("token_ref"); k++)
			if (e->val[k] && !e->val[ts])
				return devsys__error_set(DEVSYS_EINVALID, "%s: forges.%s.%s: needs token_secret (the secret's "
				                                          "name)", e->where[k], e->host, keys[k]);
	}
	return 0;
}

const struct devsys__config_section devsys__config_forges = {
	"forges", "DEVSYS_FORGE_", forges_parse, forges_env, forges_finish, forges_dispose,
};

size_t devsys_config_forge_count(const devsys_config *c)
{
	return c && c->forges ? c->forges->n : 0;
}

const char *devsys_config_forge_host(const devsys_config *c, size_t i)
{
	return c && c->forges && i < c->forges->n ? c->forges->e[i].host : NULL;
}

int devsys_config_forge_match(const char **entry, const devsys_config *c, const char *host)
{
	const struct entry *e;
	char bare[256];
	DEVSYS__CHECK_ARG(entry);
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(host);
	*entry = NULL;
	if (!*host)
		host = "local";
	/* "host:port" first, then the host alone: an entry without a port
	 * serves every port of its host */
	if (!(e = find_entry(c, host))) {
		size_t n = strcspn(host, ":");
		if (n < sizeof(bare) && host[n]) {
			memcpy(bare, host, n);
			bare[n] = '\0';
			e = find_entry(c, bare);
		}
	}
	if (!e) {
		devsys_buf names = DEVSYS_BUF_INIT;
		for (size_t i = 0; c->forges && i < c->forges->n; i++)
			devsys_buf_printf(&names, "%s%s", i ? ", " : "", c->forges->e[i].host);
		int rc = devsys__error_set(DEVSYS_ENOTFOUND, "no forges: entry matches host '%.200s' (entries: %s)", host,
		                           names.ptr ? names.ptr : "none");
		devsys_buf_dispose(&names);
		return rc;
	}
	*entry = e->host;
	return 0;
}

int devsys_config_forge_value(const char **value, const char **where, const devsys_config *c, const char *entry,
                              const char *key)
{
	const struct entry *e;
	int k;
	DEVSYS__CHECK_ARG(value);
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(entry);
	DEVSYS__CHECK_ARG(key);
	*value = NULL;
	if (where)
		*where = NULL;
	if ((k = key_index(key)) < 0)
		return devsys__error_set(DEVSYS_EINVAL, "forges: '%.64s' is not a key (known: " KNOWN ")", key);
	if (!(e = find_entry(c, entry)))
		return devsys__error_set(DEVSYS_ENOTFOUND, "forges: no entry '%.200s'", entry);
	*value = e->val[k];
	if (where)
		*where = e->where[k];
	return 0;
}
