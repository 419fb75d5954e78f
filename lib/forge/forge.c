/*
 * The forge core: the provider registry, binding a provider to one
 * repository (devsys_forge_new), commit statuses and branch protection.
 */
#include "forge_int.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

struct regentry {
	devsys_forge_vtable vt; /* copied prefix, unknown slots zeroed */
	void *payload;
	char *name;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
/* entries are allocated one by one: devsys_forge_find() lends a pointer into
 * one, which must survive later registrations */
static struct regentry **reg;
static size_t nreg;

/* The built-in providers, registered by devsys_init(). */
static const devsys_forge_vtable *const builtins[] = {
	&devsys__forge_local_vtable,
	&devsys__forge_github_vtable,
	&devsys__forge_gitea_vtable,
};

static const size_t vtable_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_forge_vtable, describe), /* 1 */
};

static const size_t options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_forge_options, ext), /* 1 */
};

static bool name_ok(const char *name)
{
	size_t n = 0;
	for (; name[n]; n++)
		if (!(islower((unsigned char)name[n]) || isdigit((unsigned char)name[n]) || name[n] == '-' ||
		      name[n] == '_'))
			return false;
	return n >= 1 && n <= 32;
}

static int register_locked(const devsys_forge_vtable *vtable, void *payload)
{
	devsys_forge_vtable vt;
	struct regentry **n, *e;
	int rc;

	memset(&vt, 0, sizeof(vt));
	if ((rc = devsys__versioned_copy(&vt, vtable, vtable_sizes, DEVSYS_FORGE_VTABLE_VERSION,
	                                 "devsys_forge_vtable")) < 0)
		return rc;
	if (!vt.name || !vt.open || !vt.close || !vt.pr_upsert || !vt.pr_get)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_forge_register: name, open, close, pr_upsert and "
		                                        "pr_get are required slots");
	if (!name_ok(vt.name))
		return devsys__error_set(DEVSYS_EINVAL, "devsys_forge_register: provider name '%.64s' must be 1 to 32 "
		                                        "characters of a-z, 0-9, '-' and '_'", vt.name);
	for (size_t i = 0; i < nreg; i++)
		if (strcmp(reg[i]->name, vt.name) == 0)
			return devsys__error_set(DEVSYS_EEXISTS, "forge provider '%s' is already registered", vt.name);
	if (!(n = devsys__realloc(reg, (nreg + 1) * sizeof(*n))))
		return devsys__error_oom();
	reg = n;
	if (!(e = devsys__calloc(1, sizeof(*e))) || !(e->name = devsys__strdup(vt.name))) {
		devsys__free(e);
		return devsys__error_oom();
	}
	e->vt = vt;
	e->vt.name = e->name;
	e->payload = payload;
	reg[nreg++] = e;
	return 0;
}

int devsys_forge_register(const devsys_forge_vtable *vtable, void *payload)
{
	int rc;
	DEVSYS__CHECK_ARG(vtable);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	pthread_mutex_lock(&reg_lock);
	rc = register_locked(vtable, payload);
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

int devsys_forge_unregister(const char *name)
{
	int rc = DEVSYS_ENOTFOUND;
	DEVSYS__CHECK_ARG(name);
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nreg; i++) {
		if (strcmp(reg[i]->name, name) != 0)
			continue;
		devsys__free(reg[i]->name);
		devsys__free(reg[i]);
		memmove(&reg[i], &reg[i + 1], (nreg - i - 1) * sizeof(*reg));
		nreg--;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&reg_lock);
	if (rc < 0)
		return devsys__error_set(rc, "forge provider '%.64s' is not registered", name);
	return 0;
}

/* "github, gitea, local" into @p out. */
static void names_locked(char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < nreg && used + 1 < cap; i++) {
		int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", reg[i]->name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static int find_locked(const char *name)
{
	char names[256];
	for (size_t i = 0; i < nreg; i++)
		if (strcmp(reg[i]->name, name) == 0)
			return (int)i;
	names_locked(names, sizeof(names));
	return devsys__error_set(DEVSYS_ENOTFOUND, "forge provider '%.64s' is not registered (registered: %s)", name,
	                         nreg ? names : "none");
}

int devsys_forge_find(const devsys_forge_vtable **vtable, const char *name)
{
	int i;
	DEVSYS__CHECK_ARG(name);
	pthread_mutex_lock(&reg_lock);
	i = find_locked(name);
	if (i >= 0 && vtable)
		*vtable = &reg[i]->vt;
	pthread_mutex_unlock(&reg_lock);
	return i < 0 ? i : 0;
}

int devsys__forge_lookup(devsys_forge_vtable *vt, void **payload, const char *name)
{
	int i;
	pthread_mutex_lock(&reg_lock);
	i = find_locked(name);
	if (i >= 0) {
		*vt = reg[i]->vt;
		*payload = reg[i]->payload;
	}
	pthread_mutex_unlock(&reg_lock);
	return i < 0 ? i : 0;
}

int devsys__forge_global_init(void)
{
	int rc = 0;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]) && rc == 0; i++)
		rc = register_locked(builtins[i], NULL);
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

void devsys__forge_global_shutdown(void)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nreg; i++) {
		devsys__free(reg[i]->name);
		devsys__free(reg[i]);
	}
	devsys__free(reg);
	reg = NULL;
	nreg = 0;
	pthread_mutex_unlock(&reg_lock);
}

/* ---- merge methods ---- */

static const char *const method_names[] = { "merge", "squash", "rebase", "fast-forward" };

const char *devsys_forge_merge_method_name(int method)
{
	if (method < 0 || method > DEVSYS_FORGE_MERGE_FAST_FORWARD)
		return "?";
	return method_names[method];
}

int devsys_forge_merge_method_from_name(int *out, const char *name)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(name);
	for (int i = 0; i <= DEVSYS_FORGE_MERGE_FAST_FORWARD; i++)
		if (strcmp(name, method_names[i]) == 0) {
			*out = i;
			return 0;
		}
	return devsys__error_set(DEVSYS_EINVALID, "merge method '%.64s' is not one of merge, squash, rebase, "
	                                          "fast-forward", name);
}

/* ---- binding a forge ---- */

int devsys_forge_options_init(devsys_forge_options *opts, unsigned int version)
{
	static const devsys_forge_options defaults = DEVSYS_FORGE_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, options_sizes, DEVSYS_FORGE_OPTIONS_VERSION, version, __func__);
}

void devsys__forge_unref(devsys_forge *f)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (f->self)
		f->vt.close(f->self);
	if (f->token) {
		explicit_bzero(f->token, strlen(f->token));
		devsys__free(f->token);
	}
	devsys__free(f->provider);
	devsys__free(f->owner);
	devsys__free(f->repo);
	devsys__free(f->remote_url);
	devsys__free(f->host);
	devsys__free(f->base_url);
	devsys__free(f->local_path);
	devsys__free(f->bot);
	devsys__free(f->ca_file);
	devsys__free(f);
}

void devsys_forge_free(devsys_forge *forge)
{
	devsys__forge_unref(forge);
}

const char *devsys_forge_provider(const devsys_forge *forge)
{
	return forge ? forge->provider : NULL;
}

const char *devsys_forge_owner(const devsys_forge *forge)
{
	return forge ? forge->owner : NULL;
}

const char *devsys_forge_repo(const devsys_forge *forge)
{
	return forge ? forge->repo : NULL;
}

int devsys_forge_merge_method_of(const devsys_forge *forge)
{
	return forge ? forge->merge_method : DEVSYS_FORGE_MERGE_COMMIT;
}

/* Prefix the current error with where a setting came from. */
static int error_at(int rc, const char *where, const char *entry, const char *key)
{
	char msg[900];
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	return devsys__error_set(rc, "%s: forges.%s.%s: %s", where ? where : "devsys.yaml", entry, key, msg);
}

/* What the `forges:` entry says, each value NULL when unset. */
struct entry_view {
	const char *name;
	const char *val[9];
	const char *where[9];
};

enum { E_PROVIDER, E_BASE_URL, E_TOKEN_SECRET, E_TOKEN_PROVIDER, E_TOKEN_REF, E_MERGE, E_BOT, E_CA, E_OWNER };
static const char *const entry_keys[] = { "provider", "base_url", "token_secret", "token_provider", "token_ref",
	                                  "merge_method", "bot", "ca_file", "owner" };

static int read_entry(struct entry_view *v, const devsys_config *cfg, const char *host, bool need)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if (!cfg)
		return need ? devsys__error_set(DEVSYS_ENOTFOUND, "forge: no provider for host '%s': give one, or a "
		                                                  "devsys.yaml with a forges: entry for it", host) : 0;
	if ((rc = devsys_config_forge_match(&v->name, cfg, host)) < 0) {
		if (rc == DEVSYS_ENOTFOUND && !need) {
			devsys_error_clear();
			return 0;
		}
		return rc;
	}
	for (int k = 0; k <= E_OWNER; k++)
		if ((rc = devsys_config_forge_value(&v->val[k], &v->where[k], cfg, v->name, entry_keys[k])) < 0)
			return rc;
	return 0;
}

/* The token through the secrets module: declare the entry's secret when it
 * names a provider for it, then resolve it (an audit event, never a value
 * in a message). */
static int resolve_token(devsys_forge *f, const struct entry_view *v, const devsys_forge_options *o)
{
	const char *name = v->val[E_TOKEN_SECRET], *value = NULL;
	size_t len = 0;
	int rc;
	if (!name)
		return 0;
	if (!o->secrets)
		return devsys__error_set(DEVSYS_ENOTFOUND, "%s: forges.%s.token_secret: secret '%s' is named, but no "
		                                           "secrets were given to resolve it", v->where[E_TOKEN_SECRET],
		                         v->name, name);
	if (v->val[E_TOKEN_PROVIDER]) {
		devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
		d.name = name;
		d.provider = v->val[E_TOKEN_PROVIDER];
		d.ref = v->val[E_TOKEN_REF];
		rc = devsys_secrets_define(o->secrets, &d);
		if (rc < 0 && rc != DEVSYS_EEXISTS)
			return error_at(rc, v->where[E_TOKEN_PROVIDER], v->name, "token_provider");
	}
	if ((rc = devsys_secrets_resolve(o->secrets, name, o->task, "pr", &value, &len)) < 0) {
		if (rc == DEVSYS_ENOTFOUND && !v->val[E_TOKEN_PROVIDER] &&
		    strstr(devsys_error_message(devsys_error_last()), "not declared"))
			return devsys__error_set(rc, "%s: forges.%s.token_secret: secret '%s' is not declared (declare it, "
			                             "or add token_provider: env|file|docker-secret to the entry)",
			                         v->where[E_TOKEN_SECRET], v->name, name);
		return error_at(rc, v->where[E_TOKEN_SECRET], v->name, "token_secret");
	}
	if (!(f->token = devsys__strndup(value, len)))
		return devsys__error_oom();
	return 0;
}

static int dup_first(char **dst, const char *a, const char *b, const char *c)
{
	const char *v = a ? a : b ? b : c;
	if (v && !(*dst = devsys__strdup(v)))
		return devsys__error_oom();
	return 0;
}

/* Fill @p f's provider, names and settings from @p o, the entry, the remote. */
static int settle(devsys_forge *f, const devsys_forge_options *o, struct entry_view *v, const char *host,
                  char **owner, char **repo, char **path)
{
	const char *method;
	int rc;
	if ((rc = read_entry(v, o->config, host, !o->provider && *host)) < 0)
		return rc;
	if ((rc = dup_first(&f->provider, o->provider, v->val[E_PROVIDER], *host ? NULL : "local")) < 0 ||
	    (rc = dup_first(&f->base_url, o->base_url, v->val[E_BASE_URL], NULL)) < 0 ||
	    (rc = dup_first(&f->owner, o->owner, v->val[E_OWNER], *owner)) < 0 ||
	    (rc = dup_first(&f->repo, o->repo, *repo, NULL)) < 0 ||
	    (rc = dup_first(&f->bot, o->bot, v->val[E_BOT], NULL)) < 0 ||
	    (rc = dup_first(&f->ca_file, o->ca_file, v->val[E_CA], NULL)) < 0 ||
	    (rc = dup_first(&f->remote_url, o->remote_url, NULL, NULL)) < 0)
		return rc;
	f->local_path = *path;
	*path = NULL;
	if (!(f->host = devsys__strdup(host)))
		return devsys__error_oom();
	method = o->merge_method ? o->merge_method : v->val[E_MERGE];
	if (method && (rc = devsys_forge_merge_method_from_name(&f->merge_method, method)) < 0)
		return o->merge_method ? rc : error_at(rc, v->where[E_MERGE], v->name, "merge_method");
	return 0;
}

static int open_provider(devsys_forge *f, const devsys_forge_options *o, const struct entry_view *v)
{
	devsys_forge_open_options oo;
	void *payload = NULL;
	int rc;
	if ((rc = devsys__forge_lookup(&f->vt, &payload, f->provider)) < 0)
		return (!o->provider && v->name) ? error_at(rc, v->where[E_PROVIDER], v->name, "provider") : rc;
	memset(&oo, 0, sizeof(oo));
	oo.version = DEVSYS_FORGE_OPEN_OPTIONS_VERSION;
	oo.base_url = f->base_url;
	oo.owner = f->owner;
	oo.repo = f->repo;
	oo.remote_url = f->remote_url;
	oo.local_path = f->local_path;
	oo.token = f->token;
	oo.ca_file = f->ca_file;
	oo.connect_timeout_ms = o->connect_timeout_ms;
	oo.timeout_ms = o->timeout_ms;
	oo.max_retries = o->max_retries;
	oo.verbose = o->verbose;
	oo.bot = f->bot;
	oo.ext_type = o->ext_type;
	oo.ext = o->ext;
	return f->vt.open(&f->self, &oo, payload);
}

int devsys_forge_new(devsys_forge **out, const devsys_forge_options *opts)
{
	devsys_forge_options o = DEVSYS_FORGE_OPTIONS_INIT;
	struct entry_view v;
	char *host = NULL, *owner = NULL, *repo = NULL, *path = NULL;
	devsys_forge *f = NULL;
	int rc;

	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(opts);
	*out = NULL;
	if ((rc = devsys__require_init(__func__)) < 0 ||
	    (rc = devsys__versioned_copy(&o, opts, options_sizes, DEVSYS_FORGE_OPTIONS_VERSION,
	                                 "devsys_forge_options")) < 0)
		return rc;
	if (!o.remote_url || !*o.remote_url)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_forge_new: remote_url is required");
	if ((rc = devsys__forge_parse_remote(&host, &owner, &repo, &path, o.remote_url)) < 0)
		goto done;
	if (!(f = devsys__calloc(1, sizeof(*f)))) {
		rc = devsys__error_oom();
		goto done;
	}
	f->refs = 1;
	if ((rc = settle(f, &o, &v, host, &owner, &repo, &path)) < 0 || (rc = resolve_token(f, &v, &o)) < 0 ||
	    (rc = open_provider(f, &o, &v)) < 0)
		goto done;
	*out = f;
	f = NULL;
done:
	if (f)
		f->self = NULL; /* open failed: nothing to close */
	devsys__forge_unref(f);
	devsys__free(host);
	devsys__free(owner);
	devsys__free(repo);
	devsys__free(path);
	return rc;
}

int devsys_forge_describe(devsys_buf *out, devsys_forge *forge)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(forge);
	if (forge->vt.describe)
		return forge->vt.describe(forge->self, out);
	return devsys_buf_printf(out, "{\"provider\":\"%s\"}", forge->provider);
}

int devsys_forge_set_status(devsys_forge *forge, const char *sha, const char *context, int state,
                            const char *description, const char *target_url)
{
	devsys_forge_status st = { DEVSYS_FORGE_STATUS_VERSION, context, state, description, target_url };
	DEVSYS__CHECK_ARG(forge);
	DEVSYS__CHECK_ARG(sha);
	DEVSYS__CHECK_ARG(context);
	if (state != DEVSYS_CHECK_PENDING && state != DEVSYS_CHECK_SUCCESS && state != DEVSYS_CHECK_FAILURE)
		return devsys__error_set(DEVSYS_EINVAL, "commit status '%.100s': state %d is not pending, success or "
		                                        "failure", context, state);
	DEVSYS__FORGE_SLOT(forge, status_set, "setting a commit status");
	return forge->vt.status_set(forge->self, sha, &st);
}

int devsys_forge_protect(devsys_forge *forge, const char *branch, const char *const *contexts, size_t ncontexts,
                         unsigned int approvals, const devsys_policy *policy)
{
	devsys_forge_protection p = { DEVSYS_FORGE_PROTECTION_VERSION, branch, contexts, ncontexts, approvals, 1, 1 };
	DEVSYS__CHECK_ARG(forge);
	DEVSYS__CHECK_ARG(branch);
	if (policy) {
		devsys_policy_options po = DEVSYS_POLICY_OPTIONS_INIT;
		devsys_policy_get_options(&po, policy);
		if (!contexts && ncontexts == 0) {
			p.contexts = po.required_contexts;
			p.ncontexts = po.nrequired_contexts;
		}
		if (approvals == 0)
			p.approvals = po.critical_approvals ? po.critical_approvals : 1;
	}
	DEVSYS__FORGE_SLOT(forge, protect, "branch protection");
	return forge->vt.protect(forge->self, &p);
}

int devsys_forge_credentials(devsys_repo_credential *out, const char *url, const char *username_from_url,
                             unsigned int allowed, unsigned int attempt, void *payload)
{
	devsys_forge *f = payload;
	char *host = NULL, *owner = NULL, *repo = NULL, *path = NULL;
	bool same;
	(void)username_from_url;
	if (!out || !url || !f || !f->token || attempt > 1 || !(allowed & DEVSYS_REPO_CRED_USERPASS) ||
	    strncmp(url, "https://", 8) != 0)
		return 1;
	/* the token follows its provider: never offer it to another host */
	if (devsys__forge_parse_remote(&host, &owner, &repo, &path, url) < 0) {
		devsys_error_clear();
		return 1;
	}
	same = f->host && *f->host && strcmp(host, f->host) == 0;
	devsys__free(host);
	devsys__free(owner);
	devsys__free(repo);
	devsys__free(path);
	if (!same)
		return 1;
	memset(out, 0, sizeof(*out));
	out->type = DEVSYS_REPO_CRED_USERPASS;
	out->username = f->bot ? f->bot : "x-access-token";
	out->secret = f->token;
	return 0;
}
