/*
 * devsys.yaml `store:` section: where the task store keeps its rows.
 * Either a URL alone (`store: postgresql://devsys@db.example:5432/devsys`) or
 * a mapping {url, password_secret, password_provider, password_ref}. The
 * password itself is never here, and a URL carrying one is refused (with
 * its position, without repeating it): only the name of a secret the
 * secrets module resolves (provider env or file), or libpq's password file.
 */
#include "internal.h"

#include <string.h>
#include <strings.h>

enum { S_URL, S_SECRET, S_PROVIDER, S_REF, NKEYS };

static const char *const keys[NKEYS] = { "url", "password_secret", "password_provider", "password_ref" };
#define KNOWN "url, password_secret, password_provider (env, file), password_ref"

struct devsys__cfg_store {
	char *val[NKEYS];
};

static void store_dispose(devsys_config *c)
{
	if (!c->store)
		return;
	for (int i = 0; i < NKEYS; i++)
		devsys__free(c->store->val[i]);
	devsys__free(c->store);
	c->store = NULL;
}

/* A password in the user part or the query (password=...) of @p url? */
static bool has_password(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *q;
	auth = auth ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	for (const char *c = auth; c < end; c++)
		if (*c == '@' && memchr(auth, ':', (size_t)(c - auth)))
			return true;
	for (q = strchr(url, '?'); q; q = strchr(q + 1, '&'))
		if (!strncasecmp(q + 1, "password=", 9))
			return true;
	return false;
}

static int check_value(int k, const char *v, const char *where)
{
	if (!v[0] || strlen(v) > 1000)
		return devsys__error_set(DEVSYS_EINVALID, "%s: store.%s: empty or longer than 1000 characters", where, keys[k]);
	if (k == S_URL && strncmp(v, "postgresql://", 13) != 0 && strncmp(v, "postgres://", 11) != 0)
		return devsys__error_set(DEVSYS_EINVALID,
		                         "%s: store.url: not a postgresql:// URL (leave store: out for SQLite in the "
		                         "workspace)",
		                         where);
	if (k == S_URL && has_password(v))
		return devsys__error_set(DEVSYS_EINVALID,
		                         "%s: store.url: the URL carries a password; name a secret in store.password_secret "
		                         "(or use PGPASSFILE / ~/.pgpass) instead",
		                         where);
	if (k == S_SECRET && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(v))
		return devsys__error_set(DEVSYS_EINVALID, "%s: store.password_secret: '%.64s' is not a secret name "
		                                          "([A-Za-z0-9_.-]{1,64})",
		                         where, v);
	if (k == S_PROVIDER && strcmp(v, "env") && strcmp(v, "file"))
		return devsys__error_set(DEVSYS_EINVALID, "%s: store.password_provider: '%.20s' is not env or file", where, v);
	return 0;
}

static int set_value(struct devsys__cfg_store *s, int k, const char *v, const char *where)
{
	int rc = check_value(k, v, where);
	if (rc < 0)
		return rc;
	if (!(s->val[k] = devsys__strdup(v)))
		return devsys__error_oom();
	return 0;
}

static int store_parse(devsys_config *c, struct devsys__cfg_ctx *x, yaml_node_t *kn, yaml_node_t *vn)
{
	const char *v = devsys__cfg_scalar(vn);
	(void)kn;
	if (!(c->store = devsys__calloc(1, sizeof(*c->store))))
		return devsys__error_oom();
	if (v) /* store: postgresql://... */
		return set_value(c->store, S_URL, v, devsys__cfg_at(x, vn));
	if (vn->type != YAML_MAPPING_NODE)
		return devsys__error_set(DEVSYS_EINVALID, "%s: store: expected a postgresql:// URL or a mapping (%s)",
		                         devsys__cfg_at(x, vn), KNOWN);
	for (yaml_node_pair_t *pr = vn->data.mapping.pairs.start; pr < vn->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = devsys__cfg_node(x, pr->key), *val = devsys__cfg_node(x, pr->value);
		const char *name = devsys__cfg_scalar(k), *text = val ? devsys__cfg_scalar(val) : NULL;
		int i, rc;
		for (i = 0; i < NKEYS && (!name || strcmp(name, keys[i])); i++)
			;
		if (i == NKEYS)
			return devsys__error_set(DEVSYS_EINVALID, "%s: store.%.100s: unknown key (known: %s)", devsys__cfg_at(x, k),
			                         name ? name : "?", KNOWN);
		if (c->store->val[i])
			return devsys__error_set(DEVSYS_EINVALID, "%s: store.%s: given twice", devsys__cfg_at(x, k), keys[i]);
		if (!text)
			return devsys__error_set(DEVSYS_EINVALID, "%s: store.%s: expected a single value",
			                         devsys__cfg_at(x, val ? val : k), keys[i]);
		if ((rc = set_value(c->store, i, text, devsys__cfg_at(x, val))) < 0)
			return rc;
	}
	return 0;
}

static int store_finish(devsys_config *c, const char *name)
{
	struct devsys__cfg_store *s = c->store;
	if (!s)
		return 0;
	if (!s->val[S_URL])
		return devsys__error_set(DEVSYS_EINVALID, "%s: store: url is missing", name);
	if (!s->val[S_SECRET] && (s->val[S_PROVIDER] || s->val[S_REF]))
		return devsys__error_set(DEVSYS_EINVALID,
		                         "%s: store: password_provider and password_ref need password_secret", name);
	return 0;
}

const struct devsys__config_section devsys__config_store = {
	"store", NULL, store_parse, NULL, store_finish, store_dispose,
};

int devsys_config_store(const char **url, devsys_secret_def *password, const devsys_config *cfg)
{
	const struct devsys__cfg_store *s;
	DEVSYS__CHECK_ARG(url);
	DEVSYS__CHECK_ARG(cfg);
	*url = NULL;
	if (password) {
		password->name = password->provider = password->ref = NULL;
		password->argv = NULL;
	}
	if (!(s = cfg->store))
		return devsys__error_set(DEVSYS_ENOTFOUND, "the configuration has no store: section");
	*url = s->val[S_URL];
	if (password && s->val[S_SECRET]) {
		password->name = s->val[S_SECRET];
		password->provider = s->val[S_PROVIDER] ? s->val[S_PROVIDER] : "env";
		password->ref = s->val[S_REF] ? s->val[S_REF] : s->val[S_SECRET];
	}
	return 0;
}
