/*
 * The gate's policy, the forge, its pull requests and the merge gate's
 * decisions. A PR holds a reference on its forge (docs/abi.md), so the forge
 * object may be closed or collected first. Enumerations cross as the
 * library's names ("low", "approved", "success", "merge").
 */
#include "ldevsys.h"

#include <string.h>

#ifdef DEVSYS_FEATURE_POLICY
/* A risk name argument ("low", "medium", "high", "critical"), or raise. */
static int risk_arg(lua_State *L, int idx)
{
	int risk = 0;
	const char *name = ld_checkcstr(L, idx);
	if (devsys_risk_from_name(&risk, name) < 0)
		return luaL_error(L, "bad risk '%s' (low, medium, high, critical)", name);
	return risk;
}

static const char *const check_states[] = { "pending", "success", "failure", "neutral", NULL };
static const char *const review_states[] = { "approved", "changes_requested", "commented", "dismissed", "pending",
	                                     NULL };
static const char *const check_kinds[] = { "status", "run", NULL };

/* ---- policy ---- */

/*
 * The policy at @p idx. A config's policy (cfg:policy()) is borrowed from the
 * config, which its uservalue holds: it is read-only (@p write raises) and
 * refused once that config is closed, so it never outlives the C policy.
 */
static devsys_policy *policy_check(lua_State *L, int idx, bool write)
{
	devsys_policy *p = ld_check(L, idx, LD_POLICY);
	int borrowed = lua_getiuservalue(L, idx, 1) != LUA_TNIL;
	if (borrowed && !((ld_handle *)lua_touserdata(L, -1))->p)
		luaL_error(L, "bad argument #%d: the devsys.Config this policy belongs to is closed", idx);
	lua_pop(L, 1);
	if (borrowed && write)
		luaL_error(L, "a config's policy is read-only (make one with devsys.policy_new to add globs)");
	return p;
}

static void policy_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_policy_free(h->p);
}

/*
 * devsys.policy_new{auto_merge=, force_push=, no_default_globs=, critical_approvals=,
 *   required_contexts={...}, protected_branches={...}} -> policy | nil, msg, code
 */
static int l_policy_new(lua_State *L)
{
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	devsys_policy *p = NULL;
	size_t nctx = 0, nprot = 0;
	int rc;
	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		o.flags |= ld_field_bool(L, 1, "auto_merge", false) ? DEVSYS_POLICY_AUTO_MERGE : 0u;
		o.flags |= ld_field_bool(L, 1, "force_push", false) ? DEVSYS_POLICY_FORCE_PUSH : 0u;
		o.flags |= ld_field_bool(L, 1, "no_default_globs", false) ? DEVSYS_POLICY_NO_DEFAULT_GLOBS : 0u;
		o.critical_approvals = (unsigned int)ld_field_int(L, 1, "critical_approvals", 1);
		o.required_contexts = ld_str_array(L, 1, "required_contexts", &nctx);
		o.nrequired_contexts = nctx;
		o.protected_branches = ld_str_array(L, 1, "protected_branches", &nprot);
		o.nprotected_branches = nprot;
	}
	if ((rc = devsys_policy_new(&p, &o)) < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_POLICY, sizeof(ld_handle), p, policy_release);
	return 1;
}

/* policy:add_glob(risk, glob [, source]) -> true | nil, msg, code */
static int policy_add_glob(lua_State *L)
{
	devsys_policy *p = policy_check(L, 1, true);
	int rc = devsys_policy_add_glob(p, risk_arg(L, 2), ld_checkcstr(L, 3), ld_optcstr(L, 4, NULL));
	return ld_ok(L, rc);
}

/* policy:globs() -> { {glob=, risk=, source=}, ... } in the order they classify */
static int policy_globs(lua_State *L)
{
	devsys_policy *p = policy_check(L, 1, false);
	size_t n = devsys_policy_glob_count(p);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const char *glob = NULL, *source = NULL;
		int risk = 0;
		if (devsys_policy_glob(&glob, &risk, &source, p, i) < 0)
			break;
		lua_createtable(L, 0, 3);
		lua_pushstring(L, glob);
		lua_setfield(L, -2, "glob");
		lua_pushstring(L, devsys_risk_name(risk));
		lua_setfield(L, -2, "risk");
		ld_pushstr(L, source);
		lua_setfield(L, -2, "source");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* policy:classify(path) -> risk, glob, source (glob and source nil for the default class) | nil, msg, code */
static int policy_classify(lua_State *L)
{
	devsys_policy *p = policy_check(L, 1, false);
	const char *glob = NULL, *source = NULL;
	int risk = 0;
	int rc = devsys_policy_explain(&risk, &glob, &source, p, ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushstring(L, devsys_risk_name(risk));
	ld_pushstr(L, glob);
	ld_pushstr(L, source);
	return 3;
}

/* policy:options() -> {auto_merge=, critical_approvals=, required_contexts={...}} */
static int policy_options(lua_State *L)
{
	devsys_policy *p = policy_check(L, 1, false);
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	int rc = devsys_policy_get_options(&o, p);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_createtable(L, 0, 4);
	lua_pushboolean(L, (o.flags & DEVSYS_POLICY_AUTO_MERGE) != 0);
	lua_setfield(L, -2, "auto_merge");
	lua_pushboolean(L, (o.flags & DEVSYS_POLICY_FORCE_PUSH) != 0);
	lua_setfield(L, -2, "force_push");
	lua_pushinteger(L, o.critical_approvals);
	lua_setfield(L, -2, "critical_approvals");
	LD_PUSH_ARRAY(L, o.nrequired_contexts, lua_pushstring(L, o.required_contexts[i]));
	lua_setfield(L, -2, "required_contexts");
	return 1;
}

/* devsys.glob_match(glob, path) -> boolean | nil, msg, code (a bad glob) */
static int l_glob_match(lua_State *L)
{
	int rc = devsys_policy_glob_match(ld_checkcstr(L, 1), ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, rc > 0);
	return 1;
}

/* devsys.glob_check(glob) -> true | nil, msg, code */
static int l_glob_check(lua_State *L)
{
	int rc = devsys_policy_glob_check(ld_checkcstr(L, 1));
	return ld_ok(L, rc);
}

/* ---- decisions ---- */

static void decision_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_policy_decision_free(h->p);
}

static void push_decision(lua_State *L, devsys_policy_decision *d)
{
	ld_new(L, LD_DECISION, sizeof(ld_handle), d, decision_release);
}

static int decision_outcome(lua_State *L)
{
	lua_pushstring(L, devsys_policy_outcome_name(devsys_policy_decision_outcome(ld_check(L, 1, LD_DECISION))));
	return 1;
}

static int decision_risk(lua_State *L)
{
	lua_pushstring(L, devsys_risk_name(devsys_policy_decision_risk(ld_check(L, 1, LD_DECISION))));
	return 1;
}

/* decision:approvals() -> counted, required */
static int decision_approvals(lua_State *L)
{
	unsigned int counted = 0, required = 0;
	int rc = devsys_policy_decision_approvals(&counted, &required, ld_check(L, 1, LD_DECISION));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, counted);
	lua_pushinteger(L, required);
	return 2;
}

/* decision:reasons() -> { {code=, name=, text=}, ... } */
static int decision_reasons(lua_State *L)
{
	devsys_policy_decision *d = ld_check(L, 1, LD_DECISION);
	size_t n = devsys_policy_decision_reason_count(d);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		int code = 0;
		const char *text = devsys_policy_decision_reason(d, i, &code);
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, code);
		lua_setfield(L, -2, "code");
		lua_pushstring(L, devsys_policy_reason_name(code));
		lua_setfield(L, -2, "name");
		ld_pushstr(L, text);
		lua_setfield(L, -2, "text");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* Protected: the change table at 2 into the devsys_policy_change at 1. */
static int change_k(lua_State *L)
{
	devsys_policy_change *c = lua_touserdata(L, 1), init = DEVSYS_POLICY_CHANGE_INIT;
	lua_Integer om, nm;
	*c = init;
	c->path = ld_field_str(L, 2, "path", NULL);
	c->old_path = ld_field_str(L, 2, "old_path", NULL);
	om = ld_field_int(L, 2, "old_mode", 0);
	nm = ld_field_int(L, 2, "new_mode", 0);
	luaL_argcheck(L, om >= 0 && om <= 0xffffff && nm >= 0 && nm <= 0xffffff, 2, "modes are git's (0100644 ...)");
	c->flags = devsys_policy_change_flags((unsigned int)om, (unsigned int)nm);
	c->flags |= ld_field_bool(L, 2, "symlink", false) ? DEVSYS_POLICY_CHANGE_SYMLINK : 0u;
	c->flags |= ld_field_bool(L, 2, "submodule", false) ? DEVSYS_POLICY_CHANGE_SUBMODULE : 0u;
	c->flags |= ld_field_bool(L, 2, "mode", false) ? DEVSYS_POLICY_CHANGE_MODE : 0u;
	return 0;
}

/*
 * policy:classify_changes({ {path=, old_path=, old_mode=, new_mode=, symlink=, submodule=, mode=}, ... })
 *   -> risk, the decisive entry's index (nil for an empty list) | nil, msg, code
 */
static int policy_classify_changes(lua_State *L)
{
	const devsys_policy *p = policy_check(L, 1, false);
	size_t n, decisive = 0;
	devsys_policy_change *cs;
	const devsys_policy_change **v;
	int risk = 0, rc;
	luaL_checktype(L, 2, LUA_TTABLE);
	n = lua_rawlen(L, 2);
	cs = lua_newuserdatauv(L, n * sizeof(*cs) + 1, 0);
	v = lua_newuserdatauv(L, n * sizeof(*v) + 1, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushcfunction(L, change_k);
		lua_pushlightuserdata(L, &cs[i]);
		lua_rawgeti(L, 2, (lua_Integer)i + 1);
		luaL_argcheck(L, lua_istable(L, -1), 2, "a list of change tables");
		lua_call(L, 2, 0); /* a bad field raises here: misuse */
		v[i] = &cs[i];
	}
	if ((rc = devsys_policy_classify_changes(&risk, &decisive, p, v, n)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushstring(L, devsys_risk_name(risk));
	if (n)
		lua_pushinteger(L, (lua_Integer)decisive + 1);
	else
		lua_pushnil(L);
	return 2;
}

/* cfg:policy() -> the config's policy (read-only, borrowed: refused once cfg is closed) */
static int config_policy(lua_State *L)
{
	const devsys_policy *p = NULL;
	int rc = devsys_config_policy(&p, ld_check(L, 1, LD_CONFIG));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_POLICY, sizeof(ld_handle), (void *)p, NULL); /* nothing to free: the config owns it */
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	return 1;
}

/* An optional risk field ("low" ...) of the table at @p idx; DEVSYS_RISK_UNSET when absent. */
static int risk_field(lua_State *L, int idx, const char *k, bool required)
{
	int risk = DEVSYS_RISK_UNSET;
	const char *name = ld_field_str(L, idx, k, NULL);
	if (!name && required)
		luaL_error(L, "policy:decide: field '%s' is required", k);
	if (name && devsys_risk_from_name(&risk, name) < 0)
		luaL_error(L, "policy:decide: bad %s '%s' (low, medium, high, critical)", k, name);
	return risk;
}

/*
 * The list field @p k of the input table at @p idx as a vector of @p size-byte
 * structs, filled by @p fill(L, entry index, struct); a pointer vector to them
 * is returned, both userdata left on the stack.
 */
static const void **input_list(lua_State *L, int idx, const char *k, size_t size, size_t *n,
                               void (*fill)(lua_State *L, int e, void *out))
{
	const void **v;
	char *items;
	*n = 0;
	lua_getfield(L, idx, k);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return NULL;
	}
	if (!lua_istable(L, -1))
		luaL_error(L, "policy:decide: field '%s' must be a list of tables", k);
	*n = lua_rawlen(L, -1);
	items = lua_newuserdatauv(L, *n * size + 1, 0);
	v = lua_newuserdatauv(L, (*n + 1) * sizeof(*v), 0);
	for (size_t i = 0; i < *n; i++) {
		lua_rawgeti(L, -3, (lua_Integer)i + 1);
		if (!lua_istable(L, -1))
			luaL_error(L, "policy:decide: %s[%d] must be a table", k, (int)i + 1);
		fill(L, lua_gettop(L), items + i * size);
		lua_pop(L, 1);
		v[i] = items + i * size;
	}
	v[*n] = NULL;
	lua_remove(L, -3); /* the list: its strings stay in the caller's input table */
	return v;
}

static void fill_review(lua_State *L, int e, void *out)
{
	devsys_policy_review *r = out, init = DEVSYS_POLICY_REVIEW_INIT;
	*r = init;
	r->reviewer = ld_field_str(L, e, "reviewer", NULL);
	r->commit_sha = ld_field_str(L, e, "commit_sha", NULL);
	lua_getfield(L, e, "state");
	r->state = luaL_checkoption(L, -1, "commented", review_states);
	lua_pop(L, 1);
}

static void fill_check(lua_State *L, int e, void *out)
{
	devsys_policy_check *c = out, init = DEVSYS_POLICY_CHECK_INIT;
	*c = init;
	c->context = ld_field_str(L, e, "context", NULL);
	c->sha = ld_field_str(L, e, "sha", NULL);
	lua_getfield(L, e, "state");
	c->state = luaL_checkoption(L, -1, "pending", check_states);
	lua_getfield(L, e, "kind");
	c->kind = luaL_checkoption(L, -1, "status", check_kinds);
	lua_pop(L, 2);
}

/*
 * policy:decide{path_risk=, profile_risk=, spec_risk=, require_approval=, head_sha=, bot=, authors={...},
 *   reviews={{reviewer=, commit_sha=, state=}}, checks={{context=, sha=, state=, kind="status"|"run"}}, draft=}
 *   -> decision | nil, msg, code (bad input: no decision)
 */
static int policy_decide(lua_State *L)
{
	const devsys_policy *p = policy_check(L, 1, false);
	devsys_policy_input in = DEVSYS_POLICY_INPUT_INIT;
	devsys_policy_decision *d = NULL;
	size_t na = 0;
	int rc;
	luaL_checktype(L, 2, LUA_TTABLE);
	in.path_risk = risk_field(L, 2, "path_risk", true);
	in.profile_risk = risk_field(L, 2, "profile_risk", false);
	in.spec_risk = risk_field(L, 2, "spec_risk", false);
	in.require_approval = ld_field_bool(L, 2, "require_approval", false);
	in.head_sha = ld_field_str(L, 2, "head_sha", NULL);
	in.bot = ld_field_str(L, 2, "bot", NULL);
	in.draft = ld_field_bool(L, 2, "draft", false);
	in.authors = ld_str_array(L, 2, "authors", &na);
	in.nauthors = na;
	in.reviews = (const devsys_policy_review *const *)input_list(L, 2, "reviews", sizeof(devsys_policy_review),
	                                                              &in.nreviews, fill_review);
	in.checks = (const devsys_policy_check *const *)input_list(L, 2, "checks", sizeof(devsys_policy_check),
	                                                            &in.nchecks, fill_check);
	if ((rc = devsys_policy_decide(&d, p, &in)) < 0)
		return ld_fail(L, rc, NULL);
	push_decision(L, d);
	return 1;
}

#ifdef DEVSYS_FEATURE_FORGE
/* decision:explain([json]) -> text */
static int decision_explain(lua_State *L)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_gate_explain(&b, ld_check(L, 1, LD_DECISION), lua_toboolean(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushbuf(L, &b);
	return 1;
}
#endif
#endif /* DEVSYS_FEATURE_POLICY */

/* ---- forge ---- */
#if defined(DEVSYS_FEATURE_FORGE) && defined(DEVSYS_FEATURE_POLICY)


static void forge_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_forge_free(h->p);
}

/*
 * devsys.forge_open{remote_url=, config=, provider=, base_url=, owner=, repo=, merge_method=, bot=,
 *   ca_file=, max_retries=} -> forge | nil, msg, code
 */
static int l_forge_open(lua_State *L)
{
	devsys_forge_options o = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_forge *f = NULL;
	int rc;
	luaL_checktype(L, 1, LUA_TTABLE);
	if (!(o.remote_url = ld_field_str(L, 1, "remote_url", NULL)))
		return luaL_error(L, "devsys.forge_open: option 'remote_url' is required");
	lua_getfield(L, 1, "config");
	if (!lua_isnil(L, -1))
		o.config = ld_check(L, -1, LD_CONFIG); /* read during the call only */
	o.provider = ld_field_str(L, 1, "provider", NULL);
	o.base_url = ld_field_str(L, 1, "base_url", NULL);
	o.owner = ld_field_str(L, 1, "owner", NULL);
	o.repo = ld_field_str(L, 1, "repo", NULL);
	o.merge_method = ld_field_str(L, 1, "merge_method", NULL);
	o.bot = ld_field_str(L, 1, "bot", NULL);
	o.ca_file = ld_field_str(L, 1, "ca_file", NULL);
	o.max_retries = (unsigned int)ld_field_int(L, 1, "max_retries", 0);
	if ((rc = devsys_forge_new(&f, &o)) < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_FORGE, sizeof(ld_handle), f, forge_release);
	return 1;
}

#define FORGE_STR(fn)                                                    \
	static int forge_##fn(lua_State *L)                              \
	{                                                                \
		ld_pushstr(L, devsys_forge_##fn(ld_check(L, 1, LD_FORGE))); \
		return 1;                                                \
	}
FORGE_STR(provider)
FORGE_STR(owner)
FORGE_STR(repo)

/* forge:merge_method() -> "merge" | "squash" | "rebase" | "fast-forward" */
static int forge_merge_method(lua_State *L)
{
	lua_pushstring(L, devsys_forge_merge_method_name(devsys_forge_merge_method_of(ld_check(L, 1, LD_FORGE))));
	return 1;
}

/* devsys.forge_remote_host(remote_url) -> host ("" for a local path) | nil, msg, code */
static int l_forge_remote_host(lua_State *L)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_forge_remote_host(&b, ld_checkcstr(L, 1));
	return ld_buf_result(L, rc, &b);
}

static int forge_describe(lua_State *L)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_forge_describe(&b, ld_check(L, 1, LD_FORGE));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushbuf(L, &b);
	return 1;
}

/* forge:set_status(sha, context, "pending"|"success"|"failure" [, description [, target_url]]) */
static int forge_set_status(lua_State *L)
{
	devsys_forge *f = ld_check(L, 1, LD_FORGE);
	int rc = devsys_forge_set_status(f, ld_checkcstr(L, 2), ld_checkcstr(L, 3), luaL_checkoption(L, 4, NULL, check_states),
	                                 ld_optcstr(L, 5, NULL), ld_optcstr(L, 6, NULL));
	return ld_ok(L, rc);
}

/*
 * forge:protect(branch [, {contexts={...}, approvals=, policy=}]) -> true | nil, msg, code
 * (with a policy and no contexts or approvals: the policy's)
 */
static int forge_protect(lua_State *L)
{
	devsys_forge *f = ld_check(L, 1, LD_FORGE);
	const char *branch = ld_checkcstr(L, 2);
	const devsys_policy *pol = NULL;
	const char **ctx = NULL;
	size_t n = 0;
	unsigned int approvals = 0;
	int rc;
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "policy");
		if (!lua_isnil(L, -1))
			pol = policy_check(L, lua_gettop(L), false);
		ctx = ld_str_array(L, 3, "contexts", &n);
		approvals = (unsigned int)ld_field_int(L, 3, "approvals", 0);
	}
	if ((rc = devsys_forge_protect(f, branch, ctx, n, approvals, pol)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

static void pr_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_pr_free(h->p);
}

static int push_pr(lua_State *L, int rc, devsys_pr *pr)
{
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_PR, sizeof(ld_handle), pr, pr_release);
	return 1;
}

/*
 * forge:open_pr{title=, head=, base=, body=, head_sha=, base_sha=, draft=, number=, labels={...},
 *   reviewers={...}, team_reviewers={...}, masker=} -> pr (pr:reused() when an open one was updated)
 */
static int forge_open_pr(lua_State *L)
{
	devsys_forge *f = ld_check(L, 1, LD_FORGE);
	devsys_pr_options o = DEVSYS_PR_OPTIONS_INIT;
	devsys_pr *pr = NULL;
	size_t nl = 0, nr = 0, nt = 0;
	int rc;
	luaL_checktype(L, 2, LUA_TTABLE);
	o.title = ld_field_str(L, 2, "title", NULL);
	o.head = ld_field_str(L, 2, "head", NULL);
	o.base = ld_field_str(L, 2, "base", NULL);
	if (!o.title || !o.head || !o.base)
		return luaL_error(L, "forge:open_pr: options 'title', 'head' and 'base' are required");
	o.body = ld_field_str(L, 2, "body", NULL);
	o.head_sha = ld_field_str(L, 2, "head_sha", NULL);
	o.base_sha = ld_field_str(L, 2, "base_sha", NULL);
	o.draft = ld_field_bool(L, 2, "draft", false);
	o.number = (int64_t)ld_field_int(L, 2, "number", 0);
	o.labels = ld_str_array(L, 2, "labels", &nl);
	o.nlabels = nl;
	o.reviewers = ld_str_array(L, 2, "reviewers", &nr);
	o.nreviewers = nr;
	o.team_reviewers = ld_str_array(L, 2, "team_reviewers", &nt);
	o.nteam_reviewers = nt;
	lua_getfield(L, 2, "masker");
	if (!lua_isnil(L, -1))
		o.masker = ld_check(L, -1, LD_MASKER); /* borrowed during the call */
	rc = devsys_pr_open(&pr, f, &o); /* before push_pr() reads pr: argument order is unspecified */
	return push_pr(L, rc, pr);
}

/* forge:pr(number) -> pr | nil, msg, code */
static int forge_pr(lua_State *L)
{
	devsys_forge *f = ld_check(L, 1, LD_FORGE);
	devsys_pr *pr = NULL;
	int rc = devsys_pr_get(&pr, f, (int64_t)luaL_checkinteger(L, 2));
	return push_pr(L, rc, pr);
}

#define PR_STR(fn)                                                 \
	static int pr_##fn(lua_State *L)                           \
	{                                                          \
		ld_pushstr(L, devsys_pr_##fn(ld_check(L, 1, LD_PR))); \
		return 1;                                          \
	}
PR_STR(url)
PR_STR(head)
PR_STR(base)
PR_STR(head_sha)
PR_STR(title)
PR_STR(author)
PR_STR(merge_sha)

static int pr_number(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)devsys_pr_number(ld_check(L, 1, LD_PR)));
	return 1;
}

static int pr_state(lua_State *L)
{
	lua_pushstring(L, devsys_pr_state_name(devsys_pr_state_of(ld_check(L, 1, LD_PR))));
	return 1;
}

static int pr_draft(lua_State *L)
{
	lua_pushboolean(L, devsys_pr_draft(ld_check(L, 1, LD_PR)));
	return 1;
}

static int pr_reused(lua_State *L)
{
	lua_pushboolean(L, devsys_pr_reused(ld_check(L, 1, LD_PR)));
	return 1;
}

static int pr_refresh(lua_State *L)
{
	int rc = devsys_pr_refresh(ld_check(L, 1, LD_PR));
	return ld_ok(L, rc);
}

/* pr:add_review(reviewer, "approved"|... [, sha]) */
static int pr_add_review(lua_State *L)
{
	devsys_pr *pr = ld_check(L, 1, LD_PR);
	int rc = devsys_pr_add_review(pr, ld_checkcstr(L, 2), ld_optcstr(L, 4, NULL), luaL_checkoption(L, 3, NULL, review_states));
	return ld_ok(L, rc);
}

/* pr:reviews() -> { {reviewer=, commit_sha=, state=}, ... } oldest first */
static int pr_reviews(lua_State *L)
{
	devsys_pr *pr = ld_check(L, 1, LD_PR);
	size_t n;
	int rc = devsys_pr_load_reviews(pr);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	n = devsys_pr_review_count(pr);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const devsys_policy_review *r = devsys_pr_review(pr, i);
		lua_createtable(L, 0, 3);
		lua_pushstring(L, r->reviewer);
		lua_setfield(L, -2, "reviewer");
		lua_pushstring(L, r->commit_sha);
		lua_setfield(L, -2, "commit_sha");
		lua_pushstring(L, r->state >= 0 && r->state <= 4 ? review_states[r->state] : "?");
		lua_setfield(L, -2, "state");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* pr:checks() -> { {context=, sha=, state=, kind="status"|"run"}, ... } of the head commit, read now */
static int pr_checks(lua_State *L)
{
	devsys_pr *pr = ld_check(L, 1, LD_PR);
	size_t n;
	int rc = devsys_pr_load_checks(pr);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	n = devsys_pr_check_count(pr);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const devsys_policy_check *c = devsys_pr_check(pr, i);
		lua_createtable(L, 0, 4);
		lua_pushstring(L, c->context);
		lua_setfield(L, -2, "context");
		lua_pushstring(L, c->sha);
		lua_setfield(L, -2, "sha");
		lua_pushstring(L, c->state >= 0 && c->state <= 3 ? check_states[c->state] : "?");
		lua_setfield(L, -2, "state");
		lua_pushstring(L, c->kind == DEVSYS_CHECK_RUN ? "run" : "status");
		lua_setfield(L, -2, "kind");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/*
 * The gate's options from (policy or config, {repo=, require_approval=, bot=, authors={...},
 * poll_timeout_ms=}) at @p idx, @p idx + 1. The authors vector, if any, is left on the stack.
 */
static void gate_options(lua_State *L, int idx, devsys_gate_options *o)
{
	size_t na = 0;
	devsys_gate_options_init(o, DEVSYS_GATE_OPTIONS_VERSION);
	if (luaL_testudata(L, idx, LD_CONFIG)) {
		const devsys_policy *p = NULL;
		int rc = devsys_config_policy(&p, ld_check(L, idx, LD_CONFIG)); /* borrowed from the config */
		if (rc < 0)
			luaL_error(L, "the config's policy: %s", devsys_error_message(devsys_error_last()));
		o->policy = p;
	} else {
		o->policy = policy_check(L, idx, false);
	}
	if (lua_isnoneornil(L, idx + 1))
		return;
	luaL_checktype(L, idx + 1, LUA_TTABLE);
	lua_getfield(L, idx + 1, "repo");
	if (!lua_isnil(L, -1))
		o->repo = ld_check(L, -1, LD_REPO);
	lua_pop(L, 1);
	o->require_approval = ld_field_bool(L, idx + 1, "require_approval", false);
	o->bot = ld_field_str(L, idx + 1, "bot", NULL);
	o->poll_timeout_ms = (unsigned int)ld_field_int(L, idx + 1, "poll_timeout_ms", 0);
	o->authors = ld_str_array(L, idx + 1, "authors", &na);
	o->nauthors = na;
}

/* pr:gate_check(policy_or_config [, opts]) -> decision | nil, msg, code (merges nothing) */
static int pr_gate_check(lua_State *L)
{
	devsys_pr *pr = ld_check(L, 1, LD_PR);
	devsys_gate_options o;
	devsys_policy_decision *d = NULL;
	int rc;
	gate_options(L, 2, &o);
	if ((rc = devsys_gate_check(&d, pr, &o)) < 0)
		return ld_fail(L, rc, NULL);
	push_decision(L, d);
	return 1;
}

/*
 * pr:gate_merge(policy_or_config [, opts]) -> decision (merged: pr:merge_sha())
 *   | nil, msg, code, decision (not merged; the decision when the gate made one)
 */
static int pr_gate_merge(lua_State *L)
{
	devsys_pr *pr = ld_check(L, 1, LD_PR);
	devsys_gate_options o;
	devsys_policy_decision *d = NULL;
	int rc;
	gate_options(L, 2, &o);
	rc = devsys_gate_merge(&d, pr, &o);
	if (rc < 0) {
		if (d) /* a userdata first: ld_fail may raise a Lua forge provider's error */
			push_decision(L, d);
		else
			lua_pushnil(L);
		ld_fail(L, rc, NULL);
		lua_rotate(L, -4, -1); /* nil, msg, code, decision */
		return 4;
	}
	push_decision(L, d);
	return 1;
}

/*
 * devsys.pr_body{task_id=, summary=, spec_path=, spec_id=, validation=, acceptance={...}, report=,
 *   runner=, gate=, verification=, agent=, masker=} -> markdown | nil, msg, code
 */
static int l_pr_body(lua_State *L)
{
	devsys_pr_body b = DEVSYS_PR_BODY_INIT;
	devsys_buf out = DEVSYS_BUF_INIT;
	devsys_masker *m = NULL;
	size_t na = 0;
	int rc;
	luaL_checktype(L, 1, LUA_TTABLE);
	if (!(b.task_id = ld_field_str(L, 1, "task_id", NULL)))
		return luaL_error(L, "devsys.pr_body: option 'task_id' is required");
	b.summary = ld_field_str(L, 1, "summary", NULL);
	b.spec_path = ld_field_str(L, 1, "spec_path", NULL);
	b.spec_id = ld_field_str(L, 1, "spec_id", NULL);
	b.validation = ld_field_str(L, 1, "validation", NULL);
	b.report = ld_field_str(L, 1, "report", NULL);
	b.runner = ld_field_str(L, 1, "runner", NULL);
	b.gate = ld_field_str(L, 1, "gate", NULL);
	b.verification = ld_field_str(L, 1, "verification", NULL);
	b.agent = ld_field_str(L, 1, "agent", NULL); /* version 4: the coding agent's digest */
	b.acceptance = ld_str_array(L, 1, "acceptance", &na);
	b.nacceptance = na;
	lua_getfield(L, 1, "masker");
	if (!lua_isnil(L, -1))
		m = ld_check(L, -1, LD_MASKER);
	if ((rc = devsys_pr_body_build(&out, &b, m)) < 0) {
		devsys_buf_dispose(&out);
		return ld_fail(L, rc, NULL);
	}
	ld_pushbuf(L, &out);
	return 1;
}
#endif /* FORGE && POLICY */

void ld_open_forge(lua_State *L)
{
	(void)L;
#ifdef DEVSYS_FEATURE_POLICY
	static const luaL_Reg pol_fns[] = { { "policy_new", l_policy_new }, { "glob_match", l_glob_match },
		                            { "glob_check", l_glob_check }, { NULL, NULL } };
	static const luaL_Reg pol_methods[] = {
		{ "add_glob", policy_add_glob }, { "globs", policy_globs }, { "classify", policy_classify },
		{ "options", policy_options },   { "decide", policy_decide }, { "classify_changes", policy_classify_changes },
		{ NULL, NULL },
	};
	static const luaL_Reg dec_methods[] = {
		{ "outcome", decision_outcome }, { "risk", decision_risk }, { "approvals", decision_approvals },
		{ "reasons", decision_reasons },
#ifdef DEVSYS_FEATURE_FORGE
		{ "explain", decision_explain },
#endif
		{ NULL, NULL },
	};
	ld_register(L, LD_POLICY, pol_methods);
	ld_register(L, LD_DECISION, dec_methods);
	luaL_setfuncs(L, pol_fns, 0);
	/* cfg:policy() joins the Config's methods (records.c registered them) */
	ld_add_method(L, LD_CONFIG, "policy", config_policy);
#endif
#if defined(DEVSYS_FEATURE_FORGE) && defined(DEVSYS_FEATURE_POLICY)
	static const luaL_Reg forge_fns[] = { { "forge_open", l_forge_open }, { "pr_body", l_pr_body },
		                              { "forge_remote_host", l_forge_remote_host }, { NULL, NULL } };
	static const luaL_Reg forge_methods[] = {
		{ "provider", forge_provider }, { "owner", forge_owner },     { "repo", forge_repo },
		{ "describe", forge_describe }, { "set_status", forge_set_status }, { "open_pr", forge_open_pr },
		{ "pr", forge_pr },             { "protect", forge_protect }, { "merge_method", forge_merge_method },
		{ NULL, NULL },
	};
	static const luaL_Reg pr_methods[] = {
		{ "number", pr_number },         { "url", pr_url },           { "head", pr_head },
		{ "base", pr_base },             { "head_sha", pr_head_sha }, { "title", pr_title },
		{ "author", pr_author },         { "merge_sha", pr_merge_sha }, { "state", pr_state },
		{ "draft", pr_draft },           { "reused", pr_reused },     { "refresh", pr_refresh },
		{ "add_review", pr_add_review }, { "reviews", pr_reviews },   { "gate_check", pr_gate_check },
		{ "gate_merge", pr_gate_merge }, { "checks", pr_checks },   { NULL, NULL },
	};
	ld_register(L, LD_FORGE, forge_methods);
	ld_register(L, LD_PR, pr_methods);
	luaL_setfuncs(L, forge_fns, 0);
#endif
}
