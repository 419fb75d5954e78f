/*
 * devsys.yaml `runners:` section: runner profiles, checked strictly
 * (unknown keys, bad values and duplicates are errors with file:line:col),
 * with DEVSYS_RUNNER_<PROFILE>_<KEY> environment overrides.
 */
#include "internal.h"

#include <ctype.h>
#include <string.h>

struct key {
	const char *name; /* "host", "limits.cpu" */
	enum devsys__cfg_kind kind;
};

static const struct key keys[] = {
	{ "type", DEVSYS__K_STR },          { "host", DEVSYS__K_STR },           { "port", DEVSYS__K_PORT },
	{ "user", DEVSYS__K_STR },          { "key", DEVSYS__K_STR },            { "known_hosts", DEVSYS__K_STR },
	{ "remote_dir", DEVSYS__K_STR },    { "grace", DEVSYS__K_MS },           { "connect_timeout", DEVSYS__K_MS },
	{ "keepalive", DEVSYS__K_SEC },     { "retries", DEVSYS__K_UINT },       { "tail_max", DEVSYS__K_SIZE },
	{ "allow_shell", DEVSYS__K_BOOL },  { "trust_on_first_use", DEVSYS__K_BOOL }, { "use_agent", DEVSYS__K_BOOL },
	{ "limits.cpu", DEVSYS__K_SEC },    { "limits.as", DEVSYS__K_SIZE },     { "limits.nofile", DEVSYS__K_UINT },
	{ "risk", DEVSYS__K_RISK },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct profile {
	char *name;
	char *str[NKEYS]; /* string values (K_STR) */
	uint64_t num[NKEYS];
	unsigned char set[NKEYS];
};

struct devsys__cfg_runners {
	struct profile *p;
	size_t n;
};

static int key_index(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const char *known_keys_list(void)
{
	return "type, host, port, user, key, known_hosts, remote_dir, grace, connect_timeout, keepalive, retries, "
	       "tail_max, allow_shell, trust_on_first_use, use_agent, risk, limits {cpu, as, nofile}";
}

static int set_key(struct profile *p, int ki, const char *v, const char *where)
{
	const char *why = NULL;
	if (keys[ki].kind == DEVSYS__K_STR) {
		if (!*v)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: must not be empty", where, p->name,
			                         keys[ki].name);
		if (strlen(v) > 4096)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: longer than 4096 characters", where,
			                         p->name, keys[ki].name);
		char *copy = devsys__strdup(v);
		if (!copy)
			return devsys__error_oom();
		devsys__free(p->str[ki]);
		p->str[ki] = copy;
	} else if (devsys__cfg_parse_value(keys[ki].kind, v, &p->num[ki], &why) < 0) {
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: '%.64s': %s", where, p->name, keys[ki].name, v,
		                         why);
	}
	p->set[ki] = 1;
	return 0;
}

static bool profile_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '-')
			return false;
	return true;
}

static struct devsys__cfg_runners *state(devsys_config *c)
{
	if (!c->runners)
		c->runners = devsys__calloc(1, sizeof(*c->runners));
	return c->runners;
}

static struct profile *add_profile(devsys_config *c, const char *name)
{
	struct devsys__cfg_runners *r = state(c);
	struct profile *np;
	if (!r || !(np = devsys__realloc(r->p, (r->n + 1) * sizeof(*np))))
		return NULL;
	r->p = np;
	memset(&np[r->n], 0, sizeof(np[0]));
	if (!(np[r->n].name = devsys__strdup(name)))
		return NULL;
	return &np[r->n++];
}

static struct profile *find_profile(const devsys_config *c, const char *name)
{
	for (size_t i = 0; c->runners && i < c->runners->n; i++)
		if (strcmp(c->runners->p[i].name, name) == 0)
			return &c->runners->p[i];
	return NULL;
}

static void runners_dispose(devsys_config *c)
{
	struct devsys__cfg_runners *r = c->runners;
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < NKEYS; k++)
			devsys__free(r->p[i].str[k]);
		devsys__free(r->p[i].name);
	}
	devsys__free(r->p);
	devsys__free(r);
	c->runners = NULL;
}

static int load_keys(struct devsys__cfg_ctx *x, struct profile *p, yaml_node_t *map, const char *prefix)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = devsys__cfg_node(x, pr->key), *vn = devsys__cfg_node(x, pr->value);
		const char *k = devsys__cfg_scalar(kn);
		char full[128];
		int ki, rc;
		if (!k)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: keys must be plain strings",
			                         devsys__cfg_at(x, kn), p->name);
		snprintf(full, sizeof(full), "%s%.100s", prefix, k);
		if (!prefix[0] && strcmp(k, "limits") == 0) {
			if (!vn || vn->type != YAML_MAPPING_NODE)
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.limits: expected a mapping "
				                                          "{cpu, as, nofile}",
				                         devsys__cfg_at(x, vn ? vn : kn), p->name);
			if ((rc = load_keys(x, p, vn, "limits.")) < 0)
				return rc;
			continue;
		}
		if ((ki = key_index(full)) < 0)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%.100s: unknown key (known: %s)",
			                         devsys__cfg_at(x, kn), p->name, full, known_keys_list());
		if (p->set[ki])
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: given twice", devsys__cfg_at(x, kn),
			                         p->name, full);
		const char *v = devsys__cfg_scalar(vn);
		if (!v)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: expected a single value",
			                         devsys__cfg_at(x, vn ? vn : kn), p->name, full);
		if ((rc = set_key(p, ki, v, devsys__cfg_at(x, vn))) < 0)
			return rc;
	}
	return 0;
}

static int runners_parse(devsys_config *c, struct devsys__cfg_ctx *x, yaml_node_t *kn, yaml_node_t *vn)
{
	if (vn->type != YAML_MAPPING_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners: expected a mapping of profile names",
		                         devsys__cfg_at(x, vn ? vn : kn));
	for (yaml_node_pair_t *pp = vn->data.mapping.pairs.start; pp < vn->data.mapping.pairs.top; pp++) {
		yaml_node_t *pk = devsys__cfg_node(x, pp->key), *pv = devsys__cfg_node(x, pp->value);
		const char *pname = devsys__cfg_scalar(pk);
		struct profile *p;
		int rc;
		if (!pname || !profile_name_ok(pname))
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners: profile name '%.64s' is invalid (1-64 of "
			                                          "[A-Za-z0-9_-])",
			                         devsys__cfg_at(x, pk), pname ? pname : "?");
		if (find_profile(c, pname))
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: profile given twice", devsys__cfg_at(x, pk),
			                         pname);
		if (!pv || pv->type != YAML_MAPPING_NODE)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: expected a mapping (type: ..., ...)",
			                         devsys__cfg_at(x, pv ? pv : pk), pname);
		if (!(p = add_profile(c, pname)))
			return devsys__error_oom();
		if ((rc = load_keys(x, p, pv, "")) < 0)
			return rc;
	}
	return 0;
}

/* DEVSYS_RUNNER_<PROFILE>_<KEY>: the longest key suffix wins (LIMITS_NOFILE
 * over NOFILE); variables that end in no known key are not ours to refuse. */
static int runners_env(devsys_config *c, const char *name, const char *value)
{
	char var[256], kform[64];
	int best = -1;
	size_t best_len = 0, vlen = strlen(name);
	if (vlen >= sizeof(var))
		return 0;
	memcpy(var, name, vlen + 1);
	for (size_t k = 0; k < NKEYS; k++) {
		devsys__cfg_env_form(kform, sizeof(kform), keys[k].name);
		size_t kl = strlen(kform);
		if (vlen > kl + 1 && var[vlen - kl - 1] == '_' && strcmp(var + vlen - kl, kform) == 0 && kl > best_len) {
			best = (int)k;
			best_len = kl;
		}
	}
	if (best < 0)
		return 0;
	var[vlen - best_len - 1] = '\0'; /* the profile part */
	struct profile *p = NULL;
	for (size_t i = 0; c->runners && i < c->runners->n && !p; i++) {
		char pf[128];
		devsys__cfg_env_form(pf, sizeof(pf), c->runners->p[i].name);
		if (strcmp(pf, var) == 0)
			p = &c->runners->p[i];
	}
	if (!p) {
		char lower[128];
		size_t i = 0;
		for (; var[i] && i + 1 < sizeof(lower); i++)
			lower[i] = (char)tolower((unsigned char)var[i]);
		lower[i] = '\0';
		if (!profile_name_ok(lower))
			return 0;
		if (!(p = add_profile(c, lower)))
			return devsys__error_oom();
	}
	char where[300];
	snprintf(where, sizeof(where), "environment DEVSYS_RUNNER_%s_%s", var, var + vlen - best_len);
	return set_key(p, best, value, where);
}

static int runners_finish(devsys_config *c, const char *name)
{
	for (size_t i = 0; c->runners && i < c->runners->n; i++) {
		struct profile *p = &c->runners->p[i];
		int t = key_index("type");
		if (!p->set[t])
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: 'type' is missing (inproc, remote-ssh, ...)",
			                         name, p->name);
		if (strcmp(p->str[t], "remote-ssh") == 0) {
			if (!p->set[key_index("host")] || !p->set[key_index("known_hosts")])
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: a remote-ssh profile needs 'host' and "
				                                          "'known_hosts'",
				                         name, p->name);
		}
	}
	return 0;
}

const struct devsys__config_section devsys__config_runners = {
	"runners", "DEVSYS_RUNNER_", runners_parse, runners_env, runners_finish, runners_dispose,
};

size_t devsys_config_runner_count(const devsys_config *c)
{
	return c && c->runners ? c->runners->n : 0;
}

const char *devsys_config_runner_name(const devsys_config *c, size_t i)
{
	return c && c->runners && i < c->runners->n ? c->runners->p[i].name : NULL;
}

static int unknown_profile(const devsys_config *c, const char *profile)
{
	devsys_buf names = DEVSYS_BUF_INIT;
	for (size_t i = 0; c->runners && i < c->runners->n; i++)
		devsys_buf_printf(&names, "%s%s", i ? ", " : "", c->runners->p[i].name);
	int rc = devsys__error_set(DEVSYS_ENOTFOUND, "runner profile '%.64s' is not in the configuration (known: %s)",
	                           profile, names.ptr ? names.ptr : "none");
	devsys_buf_dispose(&names);
	return rc;
}

static unsigned int flag(const struct profile *p, const char *k, unsigned int flags, unsigned int bit)
{
	int ki = key_index(k);
	if (!p->set[ki])
		return flags;
	return p->num[ki] ? (flags | bit) : (flags & ~bit);
}

int devsys_config_runner(const devsys_config *c, const char *profile, const char **type, devsys_runner_options *o)
{
	const struct profile *p;
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(profile);
	DEVSYS__CHECK_ARG(o);
	if (o->version == 0 || o->version > DEVSYS_RUNNER_OPTIONS_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_config_runner: options version %u is not supported",
		                         o->version);
	if (!(p = find_profile(c, profile)))
		return unknown_profile(c, profile);
#define S(k) (p->set[key_index(k)])
#define STR(k) (p->str[key_index(k)])
#define NUM(k) (p->num[key_index(k)])
	if (type)
		*type = STR("type");
	if (S("host"))
		o->host = STR("host");
	if (S("port"))
		o->port = (unsigned int)NUM("port");
	if (S("user"))
		o->user = STR("user");
	if (S("key"))
		o->key_file = STR("key");
	if (S("known_hosts"))
		o->known_hosts = STR("known_hosts");
	if (S("remote_dir"))
		o->remote_dir = STR("remote_dir");
	if (S("grace"))
		o->grace_ms = (unsigned int)NUM("grace");
	if (S("connect_timeout"))
		o->connect_timeout_ms = (unsigned int)NUM("connect_timeout");
	if (S("keepalive"))
		o->keepalive_s = (unsigned int)NUM("keepalive");
	if (S("retries"))
		o->retries = (unsigned int)NUM("retries");
	if (S("tail_max"))
		o->tail_max = (size_t)NUM("tail_max");
	if (S("limits.cpu"))
		o->rlimit_cpu_s = NUM("limits.cpu");
	if (S("limits.as"))
		o->rlimit_as_bytes = NUM("limits.as");
	if (S("limits.nofile"))
		o->rlimit_nofile = NUM("limits.nofile");
#undef S
#undef STR
#undef NUM
	o->flags = flag(p, "allow_shell", o->flags, DEVSYS_RUNNER_ALLOW_SHELL);
	o->flags = flag(p, "trust_on_first_use", o->flags, DEVSYS_RUNNER_TRUST_ON_FIRST_USE);
	o->flags = flag(p, "use_agent", o->flags, DEVSYS_RUNNER_USE_AGENT);
	return 0;
}

int devsys_config_runner_risk(int *risk, const devsys_config *c, const char *profile)
{
	const struct profile *p;
	DEVSYS__CHECK_ARG(risk);
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(profile);
	if (!(p = find_profile(c, profile)))
		return unknown_profile(c, profile);
	*risk = p->set[key_index("risk")] ? (int)p->num[key_index("risk")] : DEVSYS_RISK_UNSET;
	return 0;
}
