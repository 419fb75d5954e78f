/*
 * devsys.yaml: the `runners:` section (runner profiles), parsed with
 * libyaml's document API and checked strictly (unknown keys, bad values and
 * duplicates are errors with file:line:col), then environment overrides.
 */
#include "../core/core.h"
#include "devsys/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

extern char **environ;

#define CONFIG_MAX (1u << 20)

enum kind { K_STR, K_UINT, K_PORT, K_MS, K_SEC, K_SIZE, K_BOOL };

struct key {
	const char *name; /* "host", "limits.cpu" */
	enum kind kind;
	unsigned int bit;
};

/* bit flags for boolean options */
#define B_SHELL 1u
#define B_TOFU 2u
#define B_AGENT 3u

static const struct key keys[] = {
	{ "type", K_STR, 0 },          { "host", K_STR, 0 },          { "port", K_PORT, 0 },
	{ "user", K_STR, 0 },          { "key", K_STR, 0 },           { "known_hosts", K_STR, 0 },
	{ "remote_dir", K_STR, 0 },    { "grace", K_MS, 0 },          { "connect_timeout", K_MS, 0 },
	{ "keepalive", K_SEC, 0 },     { "retries", K_UINT, 0 },      { "tail_max", K_SIZE, 0 },
	{ "allow_shell", K_BOOL, B_SHELL }, { "trust_on_first_use", K_BOOL, B_TOFU }, { "use_agent", K_BOOL, B_AGENT },
	{ "limits.cpu", K_SEC, 0 },    { "limits.as", K_SIZE, 0 },    { "limits.nofile", K_UINT, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct profile {
	char *name;
	char *str[NKEYS];  /* string values (K_STR) */
	uint64_t num[NKEYS];
	unsigned char set[NKEYS];
};

struct devsys_config {
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
	       "tail_max, allow_shell, trust_on_first_use, use_agent, limits {cpu, as, nofile}";
}

/* Parse @p v as the key's kind into *num. */
static int parse_value(enum kind kind, const char *v, uint64_t *num, const char **why)
{
	char *end;
	unsigned long long x;
	while (isspace((unsigned char)*v))
		v++;
	if (kind == K_BOOL) {
		/* One rule for every devsys YAML file and override (docs/specs.md):
		 * booleans are true or false; YAML 1.1 spellings (yes, on, ...) mean
		 * a boolean to some readers and a string to others, so they are refused. */
		if (!strcmp(v, "true"))
			*num = 1;
		else if (!strcmp(v, "false"))
			*num = 0;
		else
			*why = devsys__yaml11_bool(v) ? "a YAML 1.1 boolean is ambiguous; write true or false"
			                              : "expected true or false";
		return *why ? -1 : 0;
	}
	if (!isdigit((unsigned char)*v)) {
		*why = kind == K_MS || kind == K_SEC ? "expected a duration such as 10s, 500ms or 2m"
		       : kind == K_SIZE           ? "expected a size such as 1048576, 512K, 64M or 2G"
		                                  : "expected a non-negative integer";
		return -1;
	}
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno == ERANGE) {
		*why = "number out of range";
		return -1;
	}
	uint64_t mul = 1;
	if (kind == K_MS || kind == K_SEC) {
		/* a bare number is seconds */
		uint64_t ms;
		if (!strcmp(end, "") || !strcmp(end, "s"))
			ms = 1000;
		else if (!strcmp(end, "ms"))
			ms = 1;
		else if (!strcmp(end, "m"))
			ms = 60000;
		else if (!strcmp(end, "h"))
			ms = 3600000;
		else {
			*why = "unknown duration unit (use ms, s, m or h)";
			return -1;
		}
		if (x > UINT32_MAX) {
			*why = "duration too large";
			return -1;
		}
		uint64_t total = x * ms;
		if (kind == K_SEC) {
			if (total % 1000) {
				*why = "this duration is counted in whole seconds";
				return -1;
			}
			total /= 1000;
		}
		if (total > UINT32_MAX) {
			*why = "duration too large";
			return -1;
		}
		*num = total;
		return 0;
	}
	if (kind == K_SIZE) {
		if (*end == 'K' || *end == 'k')
			mul = 1024, end++;
		else if (*end == 'M')
			mul = 1024 * 1024, end++;
		else if (*end == 'G')
			mul = 1024ull * 1024 * 1024, end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B' && mul > 1)
			end++;
	}
	if (*end) {
		*why = "trailing characters after the number";
		return -1;
	}
	if (mul > 1 && x > UINT64_MAX / mul) {
		*why = "size too large";
		return -1;
	}
	x *= mul;
	if (kind == K_PORT && (x == 0 || x > 65535)) {
		*why = "a port is 1-65535";
		return -1;
	}
	if (kind == K_UINT && x > UINT32_MAX) {
		*why = "number too large";
		return -1;
	}
	*num = x;
	return 0;
}

static int set_key(struct profile *p, int ki, const char *v, const char *where)
{
	const char *why = NULL;
	if (keys[ki].kind == K_STR) {
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
	} else if (parse_value(keys[ki].kind, v, &p->num[ki], &why) < 0) {
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

static struct profile *add_profile(devsys_config *c, const char *name)
{
	struct profile *np = devsys__realloc(c->p, (c->n + 1) * sizeof(*np));
	if (!np)
		return NULL;
	c->p = np;
	memset(&np[c->n], 0, sizeof(np[0]));
	if (!(np[c->n].name = devsys__strdup(name)))
		return NULL;
	return &np[c->n++];
}

static struct profile *find_profile(const devsys_config *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->p[i].name, name) == 0)
			return &c->p[i];
	return NULL;
}

void devsys_config_free(devsys_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		for (size_t k = 0; k < NKEYS; k++)
			devsys__free(c->p[i].str[k]);
		devsys__free(c->p[i].name);
	}
	devsys__free(c->p);
	devsys__free(c);
}

/* ---- YAML ---- */

struct ctx {
	const char *name;
	yaml_document_t *doc;
	char where[600];
};

static const char *at(struct ctx *x, yaml_node_t *n)
{
	snprintf(x->where, sizeof(x->where), "%.500s:%zu:%zu", x->name, n->start_mark.line + 1, n->start_mark.column + 1);
	return x->where;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int load_keys(struct ctx *x, struct profile *p, yaml_node_t *map, const char *prefix)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(x->doc, pr->key), *vn = yaml_document_get_node(x->doc, pr->value);
		const char *k = scalar(kn);
		char full[128];
		int ki, rc;
		if (!k)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: keys must be plain strings", at(x, kn),
			                         p->name);
		snprintf(full, sizeof(full), "%s%.100s", prefix, k);
		if (!prefix[0] && strcmp(k, "limits") == 0) {
			if (!vn || vn->type != YAML_MAPPING_NODE)
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.limits: expected a mapping "
				                                          "{cpu, as, nofile}",
				                         at(x, vn ? vn : kn), p->name);
			if ((rc = load_keys(x, p, vn, "limits.")) < 0)
				return rc;
			continue;
		}
		if ((ki = key_index(full)) < 0)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%.100s: unknown key (known: %s)", at(x, kn),
			                         p->name, full, known_keys_list());
		if (p->set[ki])
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: given twice", at(x, kn), p->name, full);
		const char *v = scalar(vn);
		if (!v)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: expected a single value", at(x, vn ? vn : kn),
			                         p->name, full);
		if ((rc = set_key(p, ki, v, at(x, vn))) < 0)
			return rc;
	}
	return 0;
}

static int load_yaml(devsys_config *c, const char *text, size_t len, const char *name)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ctx x;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return devsys__error_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = devsys__error_set(DEVSYS_EPARSE, "%s:%zu:%zu: YAML error: %s", name, parser.problem_mark.line + 1,
		                       parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		return rc;
	}
	x.name = name;
	x.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		goto out; /* empty file */
	if (root->type != YAML_MAPPING_NODE) {
		rc = devsys__error_set(DEVSYS_EINVALID, "%s: the top level must be a mapping (runners: ...)", at(&x, root));
		goto out;
	}
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(&doc, pr->key), *vn = yaml_document_get_node(&doc, pr->value);
		const char *k = scalar(kn);
		if (!k || strcmp(k, "runners") != 0)
			continue; /* other sections belong to other modules */
		if (vn && vn->type == YAML_SCALAR_NODE && (!*scalar(vn) || !strcmp(scalar(vn), "~") || !strcmp(scalar(vn), "null")))
			continue;
		if (!vn || vn->type != YAML_MAPPING_NODE) {
			rc = devsys__error_set(DEVSYS_EINVALID, "%s: runners: expected a mapping of profile names",
			                       at(&x, vn ? vn : kn));
			goto out;
		}
		for (yaml_node_pair_t *pp = vn->data.mapping.pairs.start; pp < vn->data.mapping.pairs.top; pp++) {
			yaml_node_t *pk = yaml_document_get_node(&doc, pp->key), *pv = yaml_document_get_node(&doc, pp->value);
			const char *pname = scalar(pk);
			struct profile *p;
			if (!pname || !profile_name_ok(pname)) {
				rc = devsys__error_set(DEVSYS_EINVALID, "%s: runners: profile name '%.64s' is invalid (1-64 of "
				                                        "[A-Za-z0-9_-])",
				                       at(&x, pk), pname ? pname : "?");
				goto out;
			}
			if (find_profile(c, pname)) {
				rc = devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: profile given twice", at(&x, pk), pname);
				goto out;
			}
			if (!pv || pv->type != YAML_MAPPING_NODE) {
				rc = devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: expected a mapping (type: ..., ...)",
				                       at(&x, pv ? pv : pk), pname);
				goto out;
			}
			if (!(p = add_profile(c, pname))) {
				rc = devsys__error_oom();
				goto out;
			}
			if ((rc = load_keys(&x, p, pv, "")) < 0)
				goto out;
		}
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- environment overrides ---- */

static void env_form(char *out, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++)
		out[i] = (s[i] == '-' || s[i] == '.') ? '_' : (char)toupper((unsigned char)s[i]);
	out[i] = '\0';
}

static int apply_env(devsys_config *c)
{
	static const char prefix[] = "DEVSYS_RUNNER_";
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		char var[256], kform[64];
		int best = -1;
		size_t best_len = 0, vlen;
		if (strncmp(*e, prefix, sizeof(prefix) - 1) != 0 || !eq)
			continue;
		vlen = (size_t)(eq - *e) - (sizeof(prefix) - 1);
		if (vlen >= sizeof(var))
			continue;
		memcpy(var, *e + sizeof(prefix) - 1, vlen);
		var[vlen] = '\0';
		for (size_t k = 0; k < NKEYS; k++) {
			env_form(kform, sizeof(kform), keys[k].name);
			size_t kl = strlen(kform);
			if (vlen > kl + 1 && var[vlen - kl - 1] == '_' && strcmp(var + vlen - kl, kform) == 0 && kl > best_len) {
				best = (int)k;
				best_len = kl;
			}
		}
		if (best < 0)
			continue;
		var[vlen - best_len - 1] = '\0'; /* the profile part */
		struct profile *p = NULL;
		for (size_t i = 0; i < c->n && !p; i++) {
			char pf[128];
			env_form(pf, sizeof(pf), c->p[i].name);
			if (strcmp(pf, var) == 0)
				p = &c->p[i];
		}
		if (!p) {
			char lower[128];
			size_t i = 0;
			for (; var[i] && i + 1 < sizeof(lower); i++)
				lower[i] = (char)tolower((unsigned char)var[i]);
			lower[i] = '\0';
			if (!profile_name_ok(lower))
				continue;
			if (!(p = add_profile(c, lower)))
				return devsys__error_oom();
		}
		char where[300];
		snprintf(where, sizeof(where), "environment DEVSYS_RUNNER_%s_%s", var, var + vlen - best_len);
		int rc = set_key(p, best, eq + 1, where);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int finish(devsys_config *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++) {
		struct profile *p = &c->p[i];
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

int devsys_config_parse(devsys_config **out, const char *text, size_t len, const char *name)
{
	devsys_config *c;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (len && !text)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_config_parse: text is NULL");
	if (len > CONFIG_MAX)
		return devsys__error_set(DEVSYS_ELIMIT, "%s: configuration larger than 1 MiB", name ? name : "config");
	if (!(c = devsys__calloc(1, sizeof(*c))))
		return devsys__error_oom();
	if ((rc = load_yaml(c, text ? text : "", len, name ? name : "config")) < 0 || (rc = apply_env(c)) < 0 ||
	    (rc = finish(c, name ? name : "config")) < 0) {
		devsys_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int devsys_config_load(devsys_config **out, const char *path)
{
	devsys_buf data = DEVSYS_BUF_INIT;
	const char *p = path;
	bool explicit_path = path != NULL;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (!p) {
		const char *env = getenv("DEVSYS_CONFIG");
		if (env && *env) {
			p = env;
			explicit_path = true;
		} else {
			p = "devsys.yaml";
		}
	}
	rc = devsys__read_file(&data, p, CONFIG_MAX);
	if (rc == DEVSYS_ENOTFOUND && !explicit_path)
		return devsys_config_parse(out, "", 0, p);
	if (rc < 0) {
		if (rc == DEVSYS_ENOTFOUND)
			devsys__error_set(rc, "configuration file '%s' does not exist", p);
		return rc;
	}
	rc = devsys_config_parse(out, data.ptr ? data.ptr : "", data.size, p);
	devsys_buf_dispose(&data);
	return rc;
}

size_t devsys_config_runner_count(const devsys_config *c)
{
	return c ? c->n : 0;
}

const char *devsys_config_runner_name(const devsys_config *c, size_t i)
{
	return c && i < c->n ? c->p[i].name : NULL;
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
	if (!(p = find_profile(c, profile))) {
		devsys_buf names = DEVSYS_BUF_INIT;
		for (size_t i = 0; i < c->n; i++)
			devsys_buf_printf(&names, "%s%s", i ? ", " : "", c->p[i].name);
		int rc = devsys__error_set(DEVSYS_ENOTFOUND, "runner profile '%.64s' is not in the configuration (known: %s)",
		                           profile, names.ptr ? names.ptr : "none");
		devsys_buf_dispose(&names);
		return rc;
	}
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
	if (S("allow_shell"))
		o->flags = NUM("allow_shell") ? (o->flags | DEVSYS_RUNNER_ALLOW_SHELL) : (o->flags & ~DEVSYS_RUNNER_ALLOW_SHELL);
	if (S("trust_on_first_use"))
		o->flags = NUM("trust_on_first_use") ? (o->flags | DEVSYS_RUNNER_TRUST_ON_FIRST_USE)
		                                     : (o->flags & ~DEVSYS_RUNNER_TRUST_ON_FIRST_USE);
	if (S("use_agent"))
		o->flags = NUM("use_agent") ? (o->flags | DEVSYS_RUNNER_USE_AGENT) : (o->flags & ~DEVSYS_RUNNER_USE_AGENT);
#undef S
#undef STR
#undef NUM
	return 0;
}
