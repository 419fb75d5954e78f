/*
 * devsys.yaml `runners:` section: runner profiles, checked strictly
 * (unknown keys, bad values and duplicates are errors with file:line:col),
 * with DEVSYS_RUNNER_<PROFILE>_<KEY> environment overrides.
 */
#include "internal.h"
#include "agent_secrets.h"
#include "runner_pool.h"
#include "devsys/sys/runner_dind.h"
#include "devsys/sys/runner_docker.h"
#include "devsys/sys/runner_inproc.h"

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
	/* host-docker (devsys/sys/runner_docker.h); host and user are shared with remote-ssh */
	{ "image", DEVSYS__K_STR },         { "allowed_images", DEVSYS__K_STR }, { "network", DEVSYS__K_STR },
	{ "allow_socket_mount", DEVSYS__K_BOOL }, { "pull", DEVSYS__K_STR },  { "read_only", DEVSYS__K_BOOL },
	{ "bind_checkout", DEVSYS__K_BOOL }, { "workdir", DEVSYS__K_STR },    { "tls_ca", DEVSYS__K_STR },
	{ "tls_cert", DEVSYS__K_STR },      { "tls_key", DEVSYS__K_STR },        { "limits.memory", DEVSYS__K_SIZE },
	{ "limits.cpus", DEVSYS__K_STR },   { "limits.pids", DEVSYS__K_UINT },
	/* dind (devsys/sys/runner_dind.h): the docker keys above plus the engine's own */
	{ "engine_image", DEVSYS__K_STR },  { "ready_timeout", DEVSYS__K_MS },
	/* runner pools (runner_pool.h): remote-ssh hosts or Docker endpoints */
	{ "hosts", DEVSYS__K_STR },         { "endpoints", DEVSYS__K_STR },     { "per_host_max", DEVSYS__K_UINT },
	{ "cooldown", DEVSYS__K_SEC },
	/* the queue's workers: how many tasks of the profile one worker runs at once */
	{ "max_concurrent", DEVSYS__K_UINT },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct profile {
	char *name;
	char *str[NKEYS]; /* string values (K_STR) */
	uint64_t num[NKEYS];
	unsigned char set[NKEYS];
	char **allowed; /* allowed_images, NULL-terminated */
	char **pool;    /* hosts or endpoints, NULL-terminated; finish puts the profile's host first */
	int pool_ki;    /* which of the two keys filled pool */
	char *first_host; /* remote-ssh pool: its first member's host and port, for a reader that opens one runner */
	unsigned int first_port;
	devsys__cfg_secret *secrets; /* secrets: what the agent is handed (owned strings) */
	size_t nsecrets;
	uint64_t nano_cpus;
	devsys_runner_inproc_options inproc; /* type inproc with a user: what devsys_config_runner() points to */
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
	       "tail_max, allow_shell, trust_on_first_use, use_agent, risk, image, allowed_images, network, "
	       "allow_socket_mount, pull, read_only, bind_checkout, workdir, tls_ca, tls_cert, tls_key, "
	       "engine_image, ready_timeout, hosts, endpoints, per_host_max, cooldown, max_concurrent, "
	       "limits {cpu, as, nofile, memory, cpus, pids}, secrets [{name, provider, ref}]";
}

/* "1.5" CPUs as HostConfig.NanoCpus: up to 3 decimals, 0.001 to 1024. */
static int parse_cpus(uint64_t *out, const char *v)
{
	uint64_t whole = 0, frac = 0, scale = 1000000000ull;
	const char *c = v;
	if (!*c)
		return -1;
	for (; *c >= '0' && *c <= '9'; c++)
		if ((whole = whole * 10 + (uint64_t)(*c - '0')) > 1024)
			return -1;
	if (*c == '.') {
		int n = 0;
		for (c++; *c >= '0' && *c <= '9'; c++, n++) {
			if (n >= 3)
				return -1;
			scale /= 10;
			frac += (uint64_t)(*c - '0') * scale;
		}
		if (n == 0)
			return -1;
	}
	if (*c || (whole == 0 && frac == 0) || whole * 1000000000ull + frac > 1024ull * 1000000000ull)
		return -1;
	*out = whole * 1000000000ull + frac;
	return 0;
}

/* A docker-only key's own rules (after the kind's). */
static int check_docker_key(struct profile *p, int ki, const char *v, const char *where)
{
	const char *k = keys[ki].name;
	if (strcmp(k, "pull") == 0 && strcmp(v, "never") != 0 && strcmp(v, "if-not-present") != 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.pull: '%.64s': expected never or if-not-present "
		                                          "(no other policy reaches a registry)",
		                         where, p->name, v);
	if (strcmp(k, "limits.cpus") == 0 && parse_cpus(&p->nano_cpus, v) < 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.limits.cpus: '%.64s': expected a number of CPUs "
		                                          "from 0.001 to 1024 (at most 3 decimals)",
		                         where, p->name, v);
	if ((strcmp(k, "image") == 0 || strcmp(k, "allowed_images") == 0 || strcmp(k, "engine_image") == 0) && strpbrk(v, " \t\n\r;|&$`\"'<>\\"))
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: '%.128s' holds characters no image name "
		                                          "has",
		                         where, p->name, k, v);
	if ((strcmp(k, "workdir") == 0) && v[0] != '/')
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.workdir: '%.128s' must be an absolute path",
		                         where, p->name, v);
	return 0;
}

/* allowed_images, hosts, endpoints: lists (YAML sequences, or comma-separated in the environment). */
static int add_to(char ***list, const char *v)
{
	size_t n = 0;
	char **na;
	while (*list && (*list)[n])
		n++;
	if (!(na = devsys__realloc(*list, (n + 2) * sizeof(*na))))
		return devsys__error_oom();
	*list = na;
	if (!(na[n] = devsys__strdup(v)))
		return devsys__error_oom();
	na[n + 1] = NULL;
	return 0;
}

static void free_list(char ***list)
{
	for (size_t k = 0; *list && (*list)[k]; k++)
		devsys__free((*list)[k]);
	devsys__free(*list);
	*list = NULL;
}

static bool is_list_key(const char *k)
{
	return strcmp(k, "allowed_images") == 0 || strcmp(k, "hosts") == 0 || strcmp(k, "endpoints") == 0;
}

static bool in_list(char *const *list, const char *v)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], v) == 0)
			return true;
	return false;
}

/* "name", "name:port", "[v6]" or "[v6]:port"; NULL when @p v is one, else why not. */
static const char *host_refusal(const char *v)
{
	const char *end = v + strlen(v), *colon;
	char *stop;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || close == v + 1)
			return "an IPv6 address in brackets needs its closing ']'";
		colon = close[1] ? close + 1 : NULL;
		if (colon && *colon != ':')
			return "after ']' only ':port' may follow";
	} else {
		if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") != (size_t)(end - v))
			return "holds characters no host name has";
		colon = strchr(v, ':');
		if (colon && strchr(colon + 1, ':'))
			return "an IPv6 address is written in brackets: [addr] or [addr]:port";
		if (colon == v)
			return "the host name is empty";
	}
	if (colon) {
		unsigned long port = strtoul(colon + 1, &stop, 10);
		if (!colon[1] || *stop || colon[1] == '+' || colon[1] == '-' || port == 0 || port > 65535)
			return "the port after ':' must be 1-65535";
	}
	return NULL;
}

/* One member of a pool: a remote-ssh host or a Docker endpoint. */
static int check_member(const struct profile *p, const char *k, const char *v, const char *where)
{
	const char *why = NULL;
	if (strcmp(k, "hosts") == 0)
		why = host_refusal(v);
	else if (strncmp(v, "unix:///", 8) != 0 && strncmp(v, "tcp://", 6) != 0)
		why = "expected a Docker endpoint: unix:///path/to/docker.sock or tcp://host:port";
	else if (strpbrk(v, " \t\n\r,"))
		why = "holds white space or a comma";
	if (!why && in_list(p->pool, v))
		why = "is listed twice";
	if (why)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: '%.256s'%s%s", where, p->name, k, v,
		                         strcmp(why, "is listed twice") == 0 ? " " : ": ", why);
	return 0;
}

/* One element of a list key. */
static int add_element(struct profile *p, int ki, const char *e, const char *where)
{
	int rc;
	if (strcmp(keys[ki].name, "allowed_images") == 0)
		return (rc = check_docker_key(p, ki, e, where)) < 0 ? rc : add_to(&p->allowed, e);
	if (p->pool && p->pool_ki != ki)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: give hosts or endpoints, not both", where,
		                         p->name, keys[ki].name);
	p->pool_ki = ki;
	return (rc = check_member(p, keys[ki].name, e, where)) < 0 ? rc : add_to(&p->pool, e);
}

static int set_key(struct profile *p, int ki, const char *v, const char *where)
{
	const char *why = NULL;
	int rc;
	if (is_list_key(keys[ki].name)) {
		/* a list: each element checked on its own, the scalar form split at commas */
		char buf[4097];
		snprintf(buf, sizeof(buf), "%s", v);
		if (p->set[ki] && strcmp(keys[ki].name, "allowed_images") != 0)
			free_list(&p->pool); /* an override replaces the file's pool */
		for (char *save = NULL, *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
			while (*e == ' ')
				e++;
			if (!*e)
				continue;
			if ((rc = add_element(p, ki, e, where)) < 0)
				return rc;
		}
		if (!p->pool && strcmp(keys[ki].name, "allowed_images") != 0)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: the list is empty", where, p->name,
			                         keys[ki].name);
		p->set[ki] = 1;
		return 0;
	}
	if ((rc = check_docker_key(p, ki, v, where)) < 0)
		return rc;
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
	} else if (strcmp(keys[ki].name, "ready_timeout") == 0 && p->num[ki] == 0) {
		/* 0 would silently mean the runner's default: say the wait instead */
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.ready_timeout: must be more than 0", where,
		                         p->name);
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
		for (size_t k = 0; r->p[i].allowed && r->p[i].allowed[k]; k++)
			devsys__free(r->p[i].allowed[k]);
		devsys__free(r->p[i].allowed);
		free_list(&r->p[i].pool);
		devsys__free(r->p[i].first_host);
		for (size_t k = 0; k < r->p[i].nsecrets; k++) {
			devsys__free((char *)r->p[i].secrets[k].name);
			devsys__free((char *)r->p[i].secrets[k].provider);
			devsys__free((char *)r->p[i].secrets[k].ref);
		}
		devsys__free(r->p[i].secrets);
		devsys__free(r->p[i].name);
	}
	devsys__free(r->p);
	devsys__free(r);
	c->runners = NULL;
}

/* ---- secrets: [{name, provider, ref}] handed to the agent ---- */

static int unknown_profile(const devsys_config *c, const char *profile);

/* The push and forge credentials (and what gives git a credential helper):
 * the agent never holds them (docs/security.md), so no profile may hand them
 * over. The agent stage scrubs the same names (lib/pipeline/code.c). The
 * names the pipeline sets itself are refused too: they would be overwritten. */
static const char *const agent_refused[] = { "GITHUB_TOKEN", "GH_TOKEN", "GITEA_TOKEN", "GIT_ASKPASS", "SSH_AUTH_SOCK",
	                                     "HOME" };

static const char *secret_name_refusal(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 64 || isdigit((unsigned char)n[0]))
		return "is not a variable name (1-64 of [A-Za-z0-9_], not starting with a digit)";
	for (const char *q = n; *q; q++)
		if (!isalnum((unsigned char)*q) && *q != '_')
			return "is not a variable name (1-64 of [A-Za-z0-9_], not starting with a digit)";
	for (size_t i = 0; i < sizeof(agent_refused) / sizeof(agent_refused[0]); i++)
		if (strcmp(n, agent_refused[i]) == 0)
			return "is a push, forge or credential-helper variable; the agent never holds those (the library "
			       "pushes and opens the PR)";
	if (strncmp(n, "DEVSYS_", 7) == 0 || strncmp(n, "GIT_CONFIG", 10) == 0)
		return "is a name the pipeline sets or scrubs itself";
	return NULL;
}

/* One entry {name, provider: env|file, ref}; @p where names it. */
static int load_secret(struct devsys__cfg_ctx *x, struct profile *p, yaml_node_t *en, size_t i)
{
	const char *f[3] = { NULL, NULL, NULL }, *why;
	static const char *const fn[3] = { "name", "provider", "ref" };
	devsys__cfg_secret *ns, *s;
	if (!en || en->type != YAML_MAPPING_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu]: expected a mapping {name, provider: "
		                                          "env|file, ref}",
		                         devsys__cfg_at(x, en), p->name, i);
	for (yaml_node_pair_t *pr = en->data.mapping.pairs.start; pr < en->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = devsys__cfg_node(x, pr->key), *vn = devsys__cfg_node(x, pr->value);
		const char *k = devsys__cfg_scalar(kn), *v = devsys__cfg_scalar(vn);
		int fi = -1;
		for (int j = 0; k && j < 3; j++)
			if (strcmp(k, fn[j]) == 0)
				fi = j;
		if (fi < 0)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu].%.64s: unknown key (known: name, "
			                                          "provider, ref)",
			                         devsys__cfg_at(x, kn), p->name, i, k ? k : "?");
		if (!v || !*v || f[fi])
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu].%s: %s",
			                         devsys__cfg_at(x, vn ? vn : kn), p->name, i, fn[fi],
			                         f[fi] ? "given twice" : "expected a non-empty string");
		f[fi] = v;
	}
	if (!f[0] || !f[1])
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu]: 'name' and 'provider' are required",
		                         devsys__cfg_at(x, en), p->name, i);
	if ((why = secret_name_refusal(f[0])))
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu]: '%s' %s", devsys__cfg_at(x, en),
		                         p->name, i, f[0], why);
	if (strcmp(f[1], "env") != 0 && strcmp(f[1], "file") != 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu].provider: '%.32s' is not one of env, "
		                                          "file",
		                         devsys__cfg_at(x, en), p->name, i, f[1]);
	if (strcmp(f[1], "file") == 0 && !f[2])
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu] '%s': the file provider needs 'ref' "
		                                          "(the file's path)",
		                         devsys__cfg_at(x, en), p->name, i, f[0]);
	for (size_t j = 0; j < p->nsecrets; j++)
		if (strcmp(p->secrets[j].name, f[0]) == 0)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets[%zu]: '%s' is listed twice",
			                         devsys__cfg_at(x, en), p->name, i, f[0]);
	if (!(ns = devsys__realloc(p->secrets, (p->nsecrets + 1) * sizeof(*ns))))
		return devsys__error_oom();
	p->secrets = ns;
	s = &ns[p->nsecrets];
	s->name = devsys__strdup(f[0]);
	s->provider = devsys__strdup(f[1]);
	s->ref = f[2] ? devsys__strdup(f[2]) : NULL;
	p->nsecrets++; /* counted first: dispose frees what was copied */
	if (!s->name || !s->provider || (f[2] && !s->ref))
		return devsys__error_oom();
	return 0;
}

static int load_secrets(struct devsys__cfg_ctx *x, struct profile *p, yaml_node_t *kn, yaml_node_t *vn)
{
	int rc;
	if (p->secrets)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets: given twice", devsys__cfg_at(x, kn),
		                         p->name);
	if (!vn || vn->type != YAML_SEQUENCE_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.secrets: expected a list of {name, provider: "
		                                          "env|file, ref}",
		                         devsys__cfg_at(x, vn ? vn : kn), p->name);
	for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++)
		if ((rc = load_secret(x, p, devsys__cfg_node(x, *it), (size_t)(it - vn->data.sequence.items.start))) < 0)
			return rc;
	return 0;
}

int devsys__config_runner_secrets(const devsys__cfg_secret **out, size_t *n, const devsys_config *c,
                                  const char *profile)
{
	const struct profile *p = c && profile ? find_profile(c, profile) : NULL;
	*out = NULL;
	*n = 0;
	if (!p)
		return unknown_profile(c, profile ? profile : "");
	*out = p->secrets;
	*n = p->nsecrets;
	return 0;
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
		if (!prefix[0] && strcmp(k, "secrets") == 0) {
			if ((rc = load_secrets(x, p, kn, vn)) < 0)
				return rc;
			continue;
		}
		if (!prefix[0] && strcmp(k, "limits") == 0) {
			if (!vn || vn->type != YAML_MAPPING_NODE)
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.limits: expected a mapping "
				                                          "{cpu, as, nofile, memory, cpus, pids}",
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
		if (is_list_key(full) && vn && vn->type == YAML_SEQUENCE_NODE) {
			if (vn->data.sequence.items.start == vn->data.sequence.items.top)
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: the list is empty",
				                         devsys__cfg_at(x, vn), p->name, full);
			for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
				yaml_node_t *en = devsys__cfg_node(x, *it);
				const char *e = devsys__cfg_scalar(en);
				if (!e || !*e || strchr(e, ','))
					return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: each element must be one %s",
					                         devsys__cfg_at(x, en ? en : vn), p->name, full,
					                         strcmp(full, "allowed_images") == 0 ? "image glob"
					                         : strcmp(full, "hosts") == 0        ? "host (name or name:port)"
					                                                             : "endpoint URL");
				if ((rc = add_element(p, ki, e, devsys__cfg_at(x, en))) < 0)
					return rc;
			}
			p->set[ki] = 1;
			continue;
		}
		const char *v = devsys__cfg_scalar(vn);
		if (!v)
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: expected a single value",
			                         devsys__cfg_at(x, vn ? vn : kn), p->name, full);
		if ((rc = set_key(p, ki, v, devsys__cfg_at(x, vn))) < 0)
			return rc;
	}
	return 0;
}

/* Keys the dind runner refuses (it has no host checkout to bind and never
 * hands out an engine socket): refused at the key's position, whichever
 * order type and key come in. */
static const char *const dind_refused[] = { "bind_checkout", "allow_socket_mount" };

static bool is_type(const struct profile *p, const char *type)
{
	int t = key_index("type");
	return p->set[t] && strcmp(p->str[t], type) == 0;
}

static int dind_refuse(struct devsys__cfg_ctx *x, const struct profile *p, yaml_node_t *map)
{
	if (!is_type(p, "dind"))
		return 0;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = devsys__cfg_node(x, pr->key);
		const char *k = devsys__cfg_scalar(kn);
		for (size_t i = 0; k && i < sizeof(dind_refused) / sizeof(dind_refused[0]); i++)
			if (strcmp(k, dind_refused[i]) == 0)
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: not allowed for a dind profile "
				                                          "(the dind runner refuses it)",
				                         devsys__cfg_at(x, kn), p->name, k);
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
		if ((rc = load_keys(x, p, pv, "")) < 0 || (rc = dind_refuse(x, p, pv)) < 0)
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

/* The most members one pool lists: placement walks the list under a lock. */
#define POOL_MAX 64

/*
 * A pool's keys against the profile's type; the profile's own host (or
 * Docker host) joins its list first, so `host` and `hosts` may be given
 * together.
 */
static int pool_finish(struct profile *p, const char *name)
{
	const char *type = p->str[key_index("type")], *own = p->str[key_index("host")];
	bool ssh = strcmp(type, "remote-ssh") == 0, docker = strcmp(type, "host-docker") == 0 || strcmp(type, "dind") == 0;
	size_t n = 0;
	if (p->set[key_index("hosts")] && !ssh)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.hosts: only a remote-ssh profile lists hosts (a "
		                                          "host-docker or dind profile lists endpoints)",
		                         name, p->name);
	if (p->set[key_index("endpoints")] && !docker)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.endpoints: only a host-docker or dind profile "
		                                          "lists endpoints (a remote-ssh profile lists hosts)",
		                         name, p->name);
	if (!p->pool && (p->set[key_index("per_host_max")] || p->set[key_index("cooldown")]))
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: per_host_max and cooldown are for runner pools: "
		                                          "list hosts (remote-ssh) or endpoints (host-docker, dind)",
		                         name, p->name);
	if (p->set[key_index("per_host_max")] && p->num[key_index("per_host_max")] == 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.per_host_max: must be at least 1", name, p->name);
	if (p->set[key_index("cooldown")] && p->num[key_index("cooldown")] == 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.cooldown: must be at least 1s (a failed host "
		                                          "that never cools down would be picked again at once)",
		                         name, p->name);
	if (!p->pool)
		return 0;
	if (own && !in_list(p->pool, own)) {
		char **np;
		while (p->pool[n])
			n++;
		if (!(np = devsys__realloc(p->pool, (n + 2) * sizeof(*np))))
			return devsys__error_oom();
		p->pool = np;
		memmove(np + 1, np, (n + 1) * sizeof(*np));
		if (!(np[0] = devsys__strdup(own))) {
			memmove(np, np + 1, (n + 1) * sizeof(*np));
			return devsys__error_oom();
		}
	}
	for (n = 0; p->pool[n]; n++)
		;
	if (ssh && !own) {
		/* "name", "name:port", "[v6]", "[v6]:port", as host_refusal() let them through */
		const char *m = p->pool[0], *colon = m[0] == '[' ? strchr(m, ']') + 1 : strchr(m, ':');
		size_t len = m[0] == '[' ? (size_t)(colon - m - 2) : colon ? (size_t)(colon - m) : strlen(m);
		if (!(p->first_host = devsys__strndup(m[0] == '[' ? m + 1 : m, len)))
			return devsys__error_oom();
		p->first_port = colon && *colon == ':' ? (unsigned int)strtoul(colon + 1, NULL, 10) : 0;
	}
	if (n > POOL_MAX)
		return devsys__error_set(DEVSYS_ELIMIT, "%s: runners.%s: a pool lists at most %d hosts or endpoints (%zu "
		                                        "given)",
		                         name, p->name, POOL_MAX, n);
	return 0;
}

static int runners_finish(devsys_config *c, const char *name)
{
	for (size_t i = 0; c->runners && i < c->runners->n; i++) {
		struct profile *p = &c->runners->p[i];
		int t = key_index("type"), rc;
		if (!p->set[t])
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: 'type' is missing (inproc, remote-ssh, ...)",
			                         name, p->name);
		if ((rc = pool_finish(p, name)) < 0)
			return rc;
		if (strcmp(p->str[t], "dind") == 0) {
			if (!p->set[key_index("engine_image")])
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: a dind profile needs 'engine_image'",
				                         name, p->name);
			/* set from the environment (the file's keys were refused at their position) */
			for (size_t k = 0; k < sizeof(dind_refused) / sizeof(dind_refused[0]); k++)
				if (p->set[key_index(dind_refused[k])])
					return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.%s: not allowed for a dind "
					                                          "profile (the dind runner refuses it)",
					                         name, p->name, dind_refused[k]);
		} else if (p->set[key_index("engine_image")] || p->set[key_index("ready_timeout")]) {
			return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: engine_image and ready_timeout are for "
			                                          "'type: dind' profiles only",
			                         name, p->name);
		}
		if (strcmp(p->str[t], "host-docker") == 0 || strcmp(p->str[t], "dind") == 0) {
			bool ca = p->set[key_index("tls_ca")], cert = p->set[key_index("tls_cert")],
			     key = p->set[key_index("tls_key")];
			if (!p->set[key_index("image")])
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: a %s profile needs 'image'",
				                         name, p->name, p->str[t]);
			if ((ca || cert || key) && !(ca && cert && key))
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: give tls_ca, tls_cert and tls_key "
				                                          "together (client certificates for a tcp:// host)",
				                         name, p->name);
		}
		if (strcmp(p->str[t], "inproc") == 0 && p->set[key_index("user")]) {
			const char *u = p->str[key_index("user")];
			for (const char *q = u; *q; q++)
				if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-' && *q != '.')
					return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s.user: '%.64s' is not a user name "
					                                          "([A-Za-z0-9_.-])",
					                         name, p->name, u);
			p->inproc.version = DEVSYS_RUNNER_INPROC_OPTIONS_VERSION;
			p->inproc.user = u;
		}
		if (strcmp(p->str[t], "remote-ssh") == 0) {
			if ((!p->set[key_index("host")] && !p->pool) || !p->set[key_index("known_hosts")])
				return devsys__error_set(DEVSYS_EINVALID, "%s: runners.%s: a remote-ssh profile needs 'host' (or "
				                                          "'hosts') and 'known_hosts'",
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

/*
 * The checks every devsys_config_runner*() reader starts with: the caller's
 * options version is one this library knows, and the profile exists.
 */
static int reader_profile(const struct profile **out, const devsys_config *c, const char *profile,
                          unsigned int version, unsigned int latest, const char *who)
{
	if (version == 0 || version > latest)
		return devsys__error_set(DEVSYS_EVERSION, "%s: options version %u is not supported", who, version);
	if (!(*out = find_profile(c, profile)))
		return unknown_profile(c, profile);
	return 0;
}

int devsys_config_runner(const devsys_config *c, const char *profile, const char **type, devsys_runner_options *o)
{
	const struct profile *p;
	int rc;
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(profile);
	DEVSYS__CHECK_ARG(o);
	if ((rc = reader_profile(&p, c, profile, o->version, DEVSYS_RUNNER_OPTIONS_VERSION, "devsys_config_runner")) < 0)
		return rc;
#define S(k) (p->set[key_index(k)])
#define STR(k) (p->str[key_index(k)])
#define NUM(k) (p->num[key_index(k)])
	if (type)
		*type = STR("type");
	if (S("host"))
		o->host = STR("host");
	if (S("port"))
		o->port = (unsigned int)NUM("port");
	if (p->first_host) { /* a pool without host: a caller that opens one runner gets its first member */
		o->host = p->first_host;
		if (p->first_port)
			o->port = p->first_port;
	}
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
	if (p->inproc.user) {
		/* dropping privilege must never be lost silently: an old options struct cannot carry it */
		if (o->version < 2)
			return devsys__error_set(DEVSYS_EVERSION, "runner profile '%.64s' runs commands as user '%.64s', which "
			                                          "needs devsys_runner_options version 2 or later (backend "
			                                          "options); this caller gave version %u",
			                         profile, p->inproc.user, o->version);
		o->backend_tag = DEVSYS_RUNNER_INPROC_TAG;
		o->backend_options = &p->inproc;
	}
	return 0;
}

int devsys__config_runner_pool(devsys__cfg_pool *out, const devsys_config *c, const char *profile)
{
	const struct profile *p = c && profile ? find_profile(c, profile) : NULL;
	memset(out, 0, sizeof(*out));
	if (!p)
		return unknown_profile(c, profile ? profile : "");
	if (!p->pool)
		return 0;
	out->members = (const char *const *)p->pool;
	while (p->pool[out->n])
		out->n++;
	out->docker = p->pool_ki == key_index("endpoints");
	out->port = p->set[key_index("port")] ? (unsigned int)p->num[key_index("port")] : 0;
	out->per_host_max = p->set[key_index("per_host_max")] ? (unsigned int)p->num[key_index("per_host_max")] : 1;
	out->cooldown_s = p->set[key_index("cooldown")] ? (unsigned int)p->num[key_index("cooldown")] : 60;
	/* unset: each other member once */
	out->retries = p->set[key_index("retries")] ? (unsigned int)p->num[key_index("retries")] : (unsigned int)out->n - 1;
	return 0;
}

int devsys_config_runner_max_concurrent(unsigned int *max, const devsys_config *c, const char *profile)
{
	const struct profile *p;
	DEVSYS__CHECK_ARG(max);
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(profile);
	*max = 0;
	if (!(p = find_profile(c, profile)))
		return unknown_profile(c, profile);
	*max = p->set[key_index("max_concurrent")] ? (unsigned int)p->num[key_index("max_concurrent")] : 0;
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

int devsys_config_runner_docker(const devsys_config *c, const char *profile, devsys_runner_docker_options *o)
{
	const struct profile *p;
	int rc;
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(profile);
	DEVSYS__CHECK_ARG(o);
	if ((rc = reader_profile(&p, c, profile, o->version, DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION,
	                         "devsys_config_runner_docker")) < 0)
		return rc;
#define S(k) (p->set[key_index(k)])
#define STR(k) (p->str[key_index(k)])
#define NUM(k) (p->num[key_index(k)])
	if (S("image"))
		o->image = STR("image");
	if (S("allowed_images"))
		o->allowed_images = (const char *const *)p->allowed;
	if (S("network"))
		o->network = STR("network");
	if (S("allow_socket_mount"))
		o->allow_socket_mount = NUM("allow_socket_mount") != 0;
	if (S("pull"))
		o->pull = strcmp(STR("pull"), "if-not-present") == 0 ? DEVSYS_RUNNER_DOCKER_PULL_IF_NOT_PRESENT
		                                                     : DEVSYS_RUNNER_DOCKER_PULL_NEVER;
	if (S("read_only"))
		o->read_only = NUM("read_only") != 0;
	if (S("bind_checkout"))
		o->bind_checkout = NUM("bind_checkout") != 0;
	if (S("workdir"))
		o->workdir = STR("workdir");
	if (S("user"))
		o->user = STR("user");
	if (S("host"))
		o->host = STR("host");
	else if (p->pool) /* a pool without host: its first endpoint, never the default engine */
		o->host = p->pool[0];
	if (S("tls_ca"))
		o->tls_ca = STR("tls_ca");
	if (S("tls_cert"))
		o->tls_cert = STR("tls_cert");
	if (S("tls_key"))
		o->tls_key = STR("tls_key");
	if (S("limits.memory"))
		o->memory_bytes = NUM("limits.memory");
	if (S("limits.cpus"))
		o->nano_cpus = p->nano_cpus;
	if (S("limits.pids"))
		o->pids = NUM("limits.pids");
#undef S
#undef STR
#undef NUM
	return 0;
}

int devsys_config_runner_dind(const devsys_config *c, const char *profile, devsys_runner_dind_options *o,
                              devsys_runner_docker_options *docker)
{
	const struct profile *p;
	int rc;
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(profile);
	DEVSYS__CHECK_ARG(o);
	DEVSYS__CHECK_ARG(docker);
	if ((rc = reader_profile(&p, c, profile, o->version, DEVSYS_RUNNER_DIND_OPTIONS_VERSION,
	                         "devsys_config_runner_dind")) < 0)
		return rc;
	if (!is_type(p, "dind"))
		return devsys__error_set(DEVSYS_EINVAL, "runner profile '%.64s' is of type '%.64s', not dind", profile,
		                         p->str[key_index("type")]);
	if ((rc = devsys_config_runner_docker(c, profile, docker)) < 0)
		return rc;
	o->docker = docker;
	o->engine_image = p->str[key_index("engine_image")];
	if (p->set[key_index("ready_timeout")])
		o->ready_timeout_ms = (unsigned int)p->num[key_index("ready_timeout")];
	return 0;
}
