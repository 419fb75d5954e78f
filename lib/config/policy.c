/*
 * devsys.yaml `policy:` section: the merge gate's settings and path classes,
 * checked as strictly as runners: (unknown keys, bad values, bad globs and
 * duplicates are errors with file:line:col), with DEVSYS_POLICY_<KEY>
 * environment overrides. The policy handle is built once file and
 * environment are read; devsys_config_policy() lends it.
 */
#include "internal.h"

#include <string.h>

struct item {
	char *text;
	char *where; /* "devsys.yaml:12:9" or "environment DEVSYS_POLICY_..." */
};

struct list {
	struct item *v;
	size_t n;
	bool set;
};

enum { P_FORCE_PUSH, P_AUTO_MERGE, P_CRITICAL_APPROVALS, P_DEFAULTS, NSCALARS };
enum { L_BRANCHES, L_CONTEXTS, L_LOW, L_MEDIUM, L_HIGH, L_CRITICAL, NLISTS };

static const struct {
	const char *name; /* as in the file; '.' for paths.* */
	enum devsys__cfg_kind kind;
} scalars[NSCALARS] = {
	{ "force_push", DEVSYS__K_BOOL },
	{ "auto_merge", DEVSYS__K_BOOL },
	{ "critical_approvals", DEVSYS__K_UINT },
	{ "paths.defaults", DEVSYS__K_BOOL },
};

static const char *const list_names[NLISTS] = {
	"protected_branches", "required_contexts", "paths.low", "paths.medium", "paths.high", "paths.critical",
};

#define KNOWN "protected_branches, force_push, auto_merge, required_contexts, critical_approvals, " \
              "paths {defaults, low, medium, high, critical}"

struct devsys__cfg_policy {
	uint64_t num[NSCALARS];
	bool set[NSCALARS];
	struct list lists[NLISTS];
	devsys_policy *policy; /* built by policy_finish */
};

static struct devsys__cfg_policy *state(devsys_config *c)
{
	if (!c->policy)
		c->policy = devsys__calloc(1, sizeof(*c->policy));
	return c->policy;
}

static void list_clear(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		devsys__free(l->v[i].text);
		devsys__free(l->v[i].where);
	}
	devsys__free(l->v);
	memset(l, 0, sizeof(*l));
}

static void policy_dispose(devsys_config *c)
{
	if (!c->policy)
		return;
	for (int i = 0; i < NLISTS; i++)
		list_clear(&c->policy->lists[i]);
	devsys_policy_free(c->policy->policy);
	devsys__free(c->policy);
	c->policy = NULL;
}

static int find_scalar(const char *name)
{
	for (int i = 0; i < NSCALARS; i++)
		if (strcmp(scalars[i].name, name) == 0)
			return i;
	return -1;
}

static int find_list(const char *name)
{
	for (int i = 0; i < NLISTS; i++)
		if (strcmp(list_names[i], name) == 0)
			return i;
	return -1;
}

static int set_scalar(struct devsys__cfg_policy *s, int k, const char *v, const char *where)
{
	const char *why = NULL;
	uint64_t num;
	if (devsys__cfg_parse_value(scalars[k].kind, v, &num, &why) < 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: '%.64s': %s", where, scalars[k].name, v, why);
	if (k == P_CRITICAL_APPROVALS && num != 1 && num != 2)
		return devsys__error_set(DEVSYS_EINVALID, "%s: policy.critical_approvals: '%.64s': a critical change needs 1 "
		                                          "or 2 approvals",
		                         where, v);
	s->num[k] = num;
	s->set[k] = true;
	return 0;
}

/* Check one list entry; globs against the grammar, with their position. */
static int check_item(int l, const char *v, const char *where)
{
	if (!*v || strlen(v) > 1024)
		return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: an entry is empty or longer than 1024 characters",
		                         where, list_names[l]);
	if (l >= L_LOW && devsys_policy_glob_check(v) < 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: %s", where, list_names[l],
		                         devsys_error_message(devsys_error_last()));
	return 0;
}

static int list_add(struct list *lst, int l, const char *v, const char *where)
{
	struct item *nv;
	int rc;
	if ((rc = check_item(l, v, where)) < 0)
		return rc;
	if (!(nv = devsys__realloc(lst->v, (lst->n + 1) * sizeof(*nv))))
		return devsys__error_oom();
	lst->v = nv;
	nv[lst->n].text = devsys__strdup(v);
	nv[lst->n].where = devsys__strdup(where);
	if (!nv[lst->n].text || !nv[lst->n].where) {
		devsys__free(nv[lst->n].text);
		devsys__free(nv[lst->n].where);
		return devsys__error_oom();
	}
	lst->n++;
	return 0;
}

static int load_list(struct devsys__cfg_ctx *x, struct devsys__cfg_policy *s, int l, yaml_node_t *vn)
{
	struct list *lst = &s->lists[l];
	if (vn->type != YAML_SEQUENCE_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: expected a list ([a, b] or '- a' lines)",
		                         devsys__cfg_at(x, vn), list_names[l]);
	lst->set = true;
	for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
		yaml_node_t *en = devsys__cfg_node(x, *it);
		const char *v = devsys__cfg_scalar(en);
		int rc;
		if (!v)
			return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: each entry is a single string",
			                         devsys__cfg_at(x, en), list_names[l]);
		if ((rc = list_add(lst, l, v, devsys__cfg_at(x, en))) < 0)
			return rc;
	}
	return 0;
}

static int load_map(struct devsys__cfg_ctx *x, struct devsys__cfg_policy *s, yaml_node_t *map, const char *prefix)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = devsys__cfg_node(x, pr->key), *vn = devsys__cfg_node(x, pr->value);
		const char *k = devsys__cfg_scalar(kn), *v;
		char full[128];
		int i, rc;
		if (!k)
			return devsys__error_set(DEVSYS_EINVALID, "%s: policy: keys must be plain strings", devsys__cfg_at(x, kn));
		snprintf(full, sizeof(full), "%s%.100s", prefix, k);
		if (!prefix[0] && strcmp(k, "paths") == 0) {
			if (!vn || vn->type != YAML_MAPPING_NODE)
				return devsys__error_set(DEVSYS_EINVALID, "%s: policy.paths: expected a mapping {defaults, low, "
				                                          "medium, high, critical}",
				                         devsys__cfg_at(x, vn ? vn : kn));
			if ((rc = load_map(x, s, vn, "paths.")) < 0)
				return rc;
			continue;
		}
		if ((i = find_scalar(full)) >= 0) {
			if (s->set[i])
				return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: given twice", devsys__cfg_at(x, kn), full);
			if (!(v = devsys__cfg_scalar(vn)))
				return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: expected a single value",
				                         devsys__cfg_at(x, vn ? vn : kn), full);
			rc = set_scalar(s, i, v, devsys__cfg_at(x, vn));
		} else if ((i = find_list(full)) >= 0) {
			if (s->lists[i].set)
				return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%s: given twice", devsys__cfg_at(x, kn), full);
			rc = load_list(x, s, i, vn);
		} else {
			return devsys__error_set(DEVSYS_EINVALID, "%s: policy.%.100s: unknown key (known: %s)",
			                         devsys__cfg_at(x, kn), full, KNOWN);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int policy_parse(devsys_config *c, struct devsys__cfg_ctx *x, yaml_node_t *kn, yaml_node_t *vn)
{
	struct devsys__cfg_policy *s = state(c);
	if (!s)
		return devsys__error_oom();
	if (vn->type != YAML_MAPPING_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: policy: expected a mapping (auto_merge: ..., paths: ...)",
		                         devsys__cfg_at(x, vn ? vn : kn));
	return load_map(x, s, vn, "");
}

/* DEVSYS_POLICY_<KEY>=value; lists are comma-separated and replace the
 * file's list (an empty value is an empty list). The prefix is ours, so an
 * unknown key is an error rather than a silently ignored typo. */
static int policy_env(devsys_config *c, const char *var, const char *value)
{
	struct devsys__cfg_policy *s = state(c);
	char form[64], where[160];
	if (!s)
		return devsys__error_oom();
	snprintf(where, sizeof(where), "environment DEVSYS_POLICY_%.100s", var);
	for (int i = 0; i < NSCALARS; i++) {
		devsys__cfg_env_form(form, sizeof(form), scalars[i].name);
		if (strcmp(form, var) == 0)
			return set_scalar(s, i, value, where);
	}
	for (int l = 0; l < NLISTS; l++) {
		devsys__cfg_env_form(form, sizeof(form), list_names[l]);
		if (strcmp(form, var) != 0)
			continue;
		list_clear(&s->lists[l]);
		s->lists[l].set = true;
		for (const char *p = value; *p;) {
			size_t n = strcspn(p, ",");
			char *one = devsys__strndup(p, n);
			int rc = one ? list_add(&s->lists[l], l, one, where) : devsys__error_oom();
			devsys__free(one);
			if (rc < 0)
				return rc;
			p += n + (p[n] == ',');
		}
		return 0;
	}
	return devsys__error_set(DEVSYS_EINVALID, "%s: unknown policy key (known: FORCE_PUSH, AUTO_MERGE, "
	                                          "CRITICAL_APPROVALS, REQUIRED_CONTEXTS, PROTECTED_BRANCHES, "
	                                          "PATHS_DEFAULTS, PATHS_LOW, PATHS_MEDIUM, PATHS_HIGH, PATHS_CRITICAL)",
	                         where);
}

static const char **texts(const struct list *l)
{
	const char **v = devsys__calloc(l->n ? l->n : 1, sizeof(*v));
	for (size_t i = 0; v && i < l->n; i++)
		v[i] = l->v[i].text;
	return v;
}

static int build(devsys_policy **out, const struct devsys__cfg_policy *s)
{
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	const char **ctx = texts(&s->lists[L_CONTEXTS]), **br = texts(&s->lists[L_BRANCHES]);
	int rc;
	if (!ctx || !br) {
		rc = devsys__error_oom();
		goto out;
	}
	if (s->set[P_FORCE_PUSH] && s->num[P_FORCE_PUSH])
		o.flags |= DEVSYS_POLICY_FORCE_PUSH;
	if (s->set[P_AUTO_MERGE] && s->num[P_AUTO_MERGE])
		o.flags |= DEVSYS_POLICY_AUTO_MERGE;
	if (s->set[P_DEFAULTS] && !s->num[P_DEFAULTS])
		o.flags |= DEVSYS_POLICY_NO_DEFAULT_GLOBS;
	if (s->set[P_CRITICAL_APPROVALS])
		o.critical_approvals = (unsigned int)s->num[P_CRITICAL_APPROVALS];
	if (s->lists[L_CONTEXTS].set) {
		o.required_contexts = ctx;
		o.nrequired_contexts = s->lists[L_CONTEXTS].n;
	}
	o.protected_branches = br;
	o.nprotected_branches = s->lists[L_BRANCHES].n;
	if ((rc = devsys_policy_new(out, &o)) < 0)
		goto out;
	for (int l = L_LOW; l <= L_CRITICAL && rc == 0; l++)
		for (size_t i = 0; i < s->lists[l].n && rc == 0; i++)
			rc = devsys_policy_add_glob(*out, DEVSYS_RISK_LOW + (l - L_LOW), s->lists[l].v[i].text,
			                            s->lists[l].v[i].where);
out:
	devsys__free(ctx);
	devsys__free(br);
	return rc;
}

static int policy_finish(devsys_config *c, const char *name)
{
	struct devsys__cfg_policy *s = state(c);
	int rc;
	if (!s)
		return devsys__error_oom();
	if ((rc = build(&s->policy, s)) < 0)
		return devsys__error_set(rc, "%s: policy: %s", name, devsys_error_message(devsys_error_last()));
	return 0;
}

const struct devsys__config_section devsys__config_policy = {
	"policy", "DEVSYS_POLICY_", policy_parse, policy_env, policy_finish, policy_dispose,
};

int devsys_config_policy(const devsys_policy **out, const devsys_config *c)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(c);
	*out = c->policy ? c->policy->policy : NULL;
	if (!*out)
		return devsys__error_set(DEVSYS_ESTATE, "devsys_config_policy: the configuration has no policy");
	return 0;
}
