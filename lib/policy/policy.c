/*
 * The policy handle: default and operator globs per class, the gate's
 * settings, and the classification of paths and change sets.
 */
#include "internal.h"

#include <string.h>

/* The defaults, as docs/gate.md lists them. A path matching none is medium. */
static const struct {
	int risk;
	const char *glob;
} defaults[] = {
	/* agent code, manager logic, pipeline and build config */
	{ DEVSYS_RISK_CRITICAL, "lib/**" },
	{ DEVSYS_RISK_CRITICAL, "src/**" },
	{ DEVSYS_RISK_CRITICAL, "include/**" },
	{ DEVSYS_RISK_CRITICAL, "abi/**" },
	{ DEVSYS_RISK_CRITICAL, ".ci/**" },
	{ DEVSYS_RISK_CRITICAL, ".github/**" },
	{ DEVSYS_RISK_CRITICAL, "scripts/**" },
	{ DEVSYS_RISK_CRITICAL, "cmake/**" },
	{ DEVSYS_RISK_CRITICAL, "**/CMakeLists.txt" },
	/* the task schema and specs; '*' stops at '/', so spec-kit's feature
	 * folders (specs/001-feature/...) are not matched */
	{ DEVSYS_RISK_CRITICAL, "specs/*.json" },
	{ DEVSYS_RISK_CRITICAL, "specs/*.y*ml" },
	/* CI and infrastructure */
	{ DEVSYS_RISK_CRITICAL, "**/Dockerfile*" },
	{ DEVSYS_RISK_CRITICAL, "**/compose*.y*ml" },
	{ DEVSYS_RISK_CRITICAL, "**/*.tf" },
	/* the policy file and repository attributes */
	{ DEVSYS_RISK_CRITICAL, "devsys.yaml" },
	{ DEVSYS_RISK_CRITICAL, ".gitattributes" },
	{ DEVSYS_RISK_CRITICAL, ".gitmodules" },
	/* agent-instruction files */
	{ DEVSYS_RISK_CRITICAL, "AGENTS.md" },
	{ DEVSYS_RISK_CRITICAL, "CLAUDE.md" },
	{ DEVSYS_RISK_CRITICAL, "GEMINI.md" },
	{ DEVSYS_RISK_CRITICAL, ".github/copilot-instructions.md" },
	{ DEVSYS_RISK_CRITICAL, ".specify/**" },
	{ DEVSYS_RISK_CRITICAL, ".claude/**" },
	{ DEVSYS_RISK_CRITICAL, ".opencode/**" },
	{ DEVSYS_RISK_CRITICAL, ".cursor/**" },
	/* docs and non-runtime text */
	{ DEVSYS_RISK_LOW, "docs/**" },
	{ DEVSYS_RISK_LOW, "**/*.md" },
};

static const char *const default_contexts[] = { "devsys/tests" };

static const size_t options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_policy_options, nprotected_branches),
};

static const size_t change_sizes[] = { 0, DEVSYS__SIZE_THROUGH(devsys_policy_change, flags) };

bool devsys__policy_risk_ok(int risk)
{
	return risk >= DEVSYS_RISK_LOW && risk <= DEVSYS_RISK_CRITICAL;
}

const char *devsys_risk_name(int risk)
{
	static const char *const names[] = { "low", "medium", "high", "critical" };
	if (risk == DEVSYS_RISK_UNSET)
		return "unset";
	return devsys__policy_risk_ok(risk) ? names[risk] : "?";
}

int devsys_risk_from_name(int *out, const char *name)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(name);
	for (int r = DEVSYS_RISK_LOW; r <= DEVSYS_RISK_CRITICAL; r++)
		if (strcmp(devsys_risk_name(r), name) == 0) {
			*out = r;
			return 0;
		}
	return devsys__error_set(DEVSYS_EINVALID, "'%.64s' is not a risk class (low, medium, high, critical)", name);
}

int devsys_policy_options_init(devsys_policy_options *opts, unsigned int version)
{
	static const devsys_policy_options init = DEVSYS_POLICY_OPTIONS_INIT;
	DEVSYS__CHECK_ARG(opts);
	return devsys__options_init(opts, &init, options_sizes, DEVSYS_POLICY_OPTIONS_VERSION, version, __func__);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		devsys__free(v[i]);
	devsys__free(v);
}

void devsys_policy_free(devsys_policy *p)
{
	if (!p)
		return;
	free_strv(p->contexts, p->ncontexts);
	free_strv(p->branches, p->nbranches);
	for (size_t i = 0; i < p->nglobs; i++) {
		devsys__glob_dispose(&p->globs[i].g);
		devsys__free(p->globs[i].text);
		devsys__free(p->globs[i].source);
	}
	devsys__free(p->globs);
	devsys__free(p);
}

/* Copy a list of non-empty strings; @p what names it in errors. */
static int copy_strv(char ***out, const char *const *v, size_t n, const char *what)
{
	*out = devsys__calloc(n ? n : 1, sizeof(char *));
	if (!*out)
		return devsys__error_oom();
	for (size_t i = 0; i < n; i++) {
		if (!v[i] || !*v[i] || strlen(v[i]) > 1024)
			return devsys__error_set(DEVSYS_EINVALID, "policy: %s[%zu] is empty, NULL or too long", what, i);
		if (!((*out)[i] = devsys__strdup(v[i])))
			return devsys__error_oom();
	}
	return 0;
}

static int set_options(devsys_policy *p, const devsys_policy_options *o)
{
	int rc;
	if (o->critical_approvals > 2)
		return devsys__error_set(DEVSYS_EINVALID, "policy: critical_approvals is %u; it is 1 or 2",
		                         o->critical_approvals);
	p->opts.flags = o->flags;
	p->opts.critical_approvals = o->critical_approvals ? o->critical_approvals : 1;
	if (o->required_contexts)
		rc = copy_strv(&p->contexts, o->required_contexts, p->ncontexts = o->nrequired_contexts,
		               "required_contexts");
	else
		rc = copy_strv(&p->contexts, default_contexts, p->ncontexts = 1, "required_contexts");
	if (rc == 0)
		rc = copy_strv(&p->branches, o->protected_branches, p->nbranches = o->nprotected_branches,
		               "protected_branches");
	return rc;
}

int devsys_policy_new(devsys_policy **out, const devsys_policy_options *opts)
{
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	devsys_policy *p;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (opts && (rc = devsys__versioned_copy(&o, opts, options_sizes, DEVSYS_POLICY_OPTIONS_VERSION,
	                                         "devsys_policy_options")) < 0)
		return rc;
	if (!(p = devsys__calloc(1, sizeof(*p))))
		return devsys__error_oom();
	p->opts.version = DEVSYS_POLICY_OPTIONS_VERSION;
	rc = set_options(p, &o);
	for (size_t i = 0; rc == 0 && !(o.flags & DEVSYS_POLICY_NO_DEFAULT_GLOBS) && i < sizeof(defaults) / sizeof(defaults[0]);
	     i++)
		rc = devsys_policy_add_glob(p, defaults[i].risk, defaults[i].glob, "default");
	if (rc < 0) {
		devsys_policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int devsys_policy_add_glob(devsys_policy *p, int risk, const char *glob, const char *source)
{
	struct policy_glob g = { 0 }, *ng;
	int rc;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(glob);
	if (!devsys__policy_risk_ok(risk))
		return devsys__error_set(DEVSYS_EINVALID, "policy: risk class %d is not low, medium, high or critical", risk);
	if ((rc = devsys__glob_compile(&g.g, glob)) < 0)
		return rc;
	g.risk = risk;
	g.text = devsys__strdup(glob);
	g.source = devsys__strdup(source ? source : "api");
	if (!g.text || !g.source || !(ng = devsys__realloc(p->globs, (p->nglobs + 1) * sizeof(*ng)))) {
		devsys__glob_dispose(&g.g);
		devsys__free(g.text);
		devsys__free(g.source);
		return devsys__error_oom();
	}
	p->globs = ng;
	p->globs[p->nglobs++] = g;
	return 0;
}

size_t devsys_policy_glob_count(const devsys_policy *p)
{
	return p ? p->nglobs : 0;
}

int devsys_policy_glob(const char **glob, int *risk, const char **source, const devsys_policy *p, size_t i)
{
	DEVSYS__CHECK_ARG(p);
	if (i >= p->nglobs)
		return devsys__error_set(DEVSYS_ENOTFOUND, "policy: glob %zu of %zu does not exist", i, p->nglobs);
	if (glob)
		*glob = p->globs[i].text;
	if (risk)
		*risk = p->globs[i].risk;
	if (source)
		*source = p->globs[i].source;
	return 0;
}

int devsys_policy_get_options(devsys_policy_options *out, const devsys_policy *p)
{
	devsys_policy_options o;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(p);
	o = p->opts;
	if (out->version == 0 || out->version > DEVSYS_POLICY_OPTIONS_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_policy_get_options: version %u is not supported",
		                         out->version);
	o.version = out->version;
	o.required_contexts = (const char *const *)p->contexts;
	o.nrequired_contexts = p->ncontexts;
	o.protected_branches = (const char *const *)p->branches;
	o.nprotected_branches = p->nbranches;
	memcpy(out, &o, options_sizes[out->version]);
	return 0;
}

int devsys_policy_glob_check(const char *glob)
{
	struct devsys__glob g;
	DEVSYS__CHECK_ARG(glob);
	int rc = devsys__glob_compile(&g, glob);
	devsys__glob_dispose(&g);
	return rc;
}

int devsys_policy_glob_match(const char *glob, const char *path)
{
	struct devsys__glob g;
	struct devsys__path *sp;
	int rc;
	DEVSYS__CHECK_ARG(glob);
	DEVSYS__CHECK_ARG(path);
	if (!(sp = devsys__malloc(sizeof(*sp))))
		return devsys__error_oom();
	if ((rc = devsys__path_split(sp, path)) == 0 && (rc = devsys__glob_compile(&g, glob)) == 0) {
		rc = devsys__glob_match(&g, sp) ? 1 : 0;
		devsys__glob_dispose(&g);
	}
	devsys__free(sp);
	return rc;
}

/* The winning glob for an already split path: index, or SIZE_MAX for none. */
static size_t decide_path(const devsys_policy *p, const struct devsys__path *sp)
{
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < p->nglobs; i++)
		if ((best == SIZE_MAX || p->globs[i].risk > p->globs[best].risk) && devsys__glob_match(&p->globs[i].g, sp))
			best = i;
	return best;
}

int devsys_policy_explain(int *risk, const char **glob, const char **source, const devsys_policy *p, const char *path)
{
	struct devsys__path *sp;
	int rc;
	DEVSYS__CHECK_ARG(risk);
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(path);
	if (!(sp = devsys__malloc(sizeof(*sp))))
		return devsys__error_oom();
	if ((rc = devsys__path_split(sp, path)) == 0) {
		size_t i = decide_path(p, sp);
		*risk = i == SIZE_MAX ? DEVSYS_RISK_MEDIUM : p->globs[i].risk;
		if (glob)
			*glob = i == SIZE_MAX ? NULL : p->globs[i].text;
		if (source)
			*source = i == SIZE_MAX ? NULL : p->globs[i].source;
	}
	devsys__free(sp);
	return rc;
}

int devsys_policy_classify(int *risk, const devsys_policy *p, const char *path)
{
	return devsys_policy_explain(risk, NULL, NULL, p, path);
}

unsigned int devsys_policy_change_flags(unsigned int old_mode, unsigned int new_mode)
{
	unsigned int f = 0;
	if ((old_mode & 0170000u) == 0120000u || (new_mode & 0170000u) == 0120000u)
		f |= DEVSYS_POLICY_CHANGE_SYMLINK;
	if ((old_mode & 0170000u) == 0160000u || (new_mode & 0170000u) == 0160000u)
		f |= DEVSYS_POLICY_CHANGE_SUBMODULE;
	if (old_mode && new_mode && old_mode != new_mode)
		f |= DEVSYS_POLICY_CHANGE_MODE;
	return f;
}

static int change_risk(int *risk, const devsys_policy *p, const devsys_policy_change *ch, size_t i)
{
	devsys_policy_change c = DEVSYS_POLICY_CHANGE_INIT;
	int rc, r2;
	if (!ch)
		return devsys__error_set(DEVSYS_EINVAL, "policy: change %zu is NULL", i);
	if ((rc = devsys__versioned_copy(&c, ch, change_sizes, DEVSYS_POLICY_CHANGE_VERSION, "devsys_policy_change")) < 0)
		return rc;
	if (!c.path)
		return devsys__error_set(DEVSYS_EINVAL, "policy: change %zu has no path", i);
	if ((rc = devsys_policy_classify(risk, p, c.path)) < 0)
		return rc;
	if (c.old_path) {
		if ((rc = devsys_policy_classify(&r2, p, c.old_path)) < 0)
			return rc;
		if (r2 > *risk)
			*risk = r2; /* a rename out of lib/ is as critical as one into it */
	}
	if ((c.flags & (DEVSYS_POLICY_CHANGE_SYMLINK | DEVSYS_POLICY_CHANGE_SUBMODULE | DEVSYS_POLICY_CHANGE_MODE)) &&
	    *risk < DEVSYS_RISK_MEDIUM)
		*risk = DEVSYS_RISK_MEDIUM; /* a link, gitlink or mode bit changes what runs, not only text */
	return 0;
}

int devsys_policy_classify_changes(int *risk, size_t *decisive, const devsys_policy *p,
                                   const devsys_policy_change *const *changes, size_t n)
{
	int best = -1, r, rc;
	size_t at = SIZE_MAX;
	DEVSYS__CHECK_ARG(risk);
	DEVSYS__CHECK_ARG(p);
	if (n && !changes)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_policy_classify_changes: changes is NULL");
	for (size_t i = 0; i < n; i++) {
		if ((rc = change_risk(&r, p, changes[i], i)) < 0)
			return rc;
		if (r > best)
			best = r, at = i;
	}
	*risk = n ? best : DEVSYS_RISK_MEDIUM; /* nothing proves an empty change set harmless */
	if (decisive)
		*decisive = at;
	return 0;
}
