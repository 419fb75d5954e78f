/*
 * Spec Kit features: a feature folder loaded (spec.md, plan.md, tasks.md),
 * its rule findings and its task graph as waves.
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_SPECKIT

static const char *const severities[] = { "info", "warning", "error" };

static void feature_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_speckit_feature_free(h->p);
}

/* devsys.speckit_load(dir [, root]) -> feature | nil, msg, code */
static int l_speckit_load(lua_State *L)
{
	devsys_speckit_feature *f = NULL;
	int rc = devsys_speckit_feature_load(&f, ld_checkcstr(L, 1), ld_optcstr(L, 2, NULL));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_SPECKIT, sizeof(ld_handle), f, feature_release);
	return 1;
}

static int f_dir(lua_State *L)
{
	ld_pushstr(L, devsys_speckit_feature_dir(ld_check(L, 1, LD_SPECKIT)));
	return 1;
}

static int f_title(lua_State *L)
{
	ld_pushstr(L, devsys_speckit_feature_title(ld_check(L, 1, LD_SPECKIT)));
	return 1;
}

static int f_task_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)devsys_speckit_task_count(ld_check(L, 1, LD_SPECKIT)));
	return 1;
}

/* feature:check() -> { {rule=, severity="info"|"warning"|"error", file=, line=, message=}, ... } */
static int f_check(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	devsys_speckit_findings *fs = NULL;
	size_t n;
	int rc = devsys_speckit_findings_new(&fs);
	if (rc < 0 || (rc = devsys_speckit_check(fs, f)) < 0) {
		devsys_speckit_findings_free(fs);
		return ld_fail(L, rc, NULL);
	}
	n = devsys_speckit_findings_count(fs);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		devsys_speckit_severity sev = DEVSYS_SPECKIT_INFO;
		const char *file = NULL, *msg = NULL;
		unsigned line = 0;
		const char *rule = devsys_speckit_finding_at(fs, i, &sev, &file, &line, &msg);
		lua_createtable(L, 0, 5);
		ld_pushstr(L, rule);
		lua_setfield(L, -2, "rule");
		lua_pushstring(L, (unsigned)sev <= 2u ? severities[sev] : "?");
		lua_setfield(L, -2, "severity");
		ld_pushstr(L, file);
		lua_setfield(L, -2, "file");
		lua_pushinteger(L, line);
		lua_setfield(L, -2, "line");
		ld_pushstr(L, msg);
		lua_setfield(L, -2, "message");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	devsys_speckit_findings_free(fs);
	return 1;
}

/* feature:plan() -> { {"T001", ...}, ... } (waves of task ids) | nil, msg, code (a cycle, a missing dependency) */
static int f_plan(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	devsys_speckit_plan *p = NULL;
	size_t waves;
	int rc = devsys_speckit_plan_new(&p, f);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	waves = devsys_speckit_plan_wave_count(p);
	lua_createtable(L, (int)waves, 0);
	for (size_t w = 0; w < waves; w++) {
		size_t n = devsys_speckit_plan_wave_size(p, w);
		lua_createtable(L, (int)n, 0);
		for (size_t i = 0; i < n; i++) {
			lua_pushstring(L, devsys_speckit_plan_task(p, w, i));
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_rawseti(L, -2, (lua_Integer)w + 1);
	}
	devsys_speckit_plan_free(p);
	return 1;
}

void ld_open_speckit(lua_State *L)
{
	static const luaL_Reg fns[] = { { "speckit_load", l_speckit_load }, { NULL, NULL } };
	static const luaL_Reg methods[] = {
		{ "dir", f_dir },     { "title", f_title }, { "task_count", f_task_count },
		{ "check", f_check }, { "plan", f_plan },   { NULL, NULL },
	};
	ld_register(L, LD_SPECKIT, methods);
	luaL_setfuncs(L, fns, 0);
}
#endif /* DEVSYS_FEATURE_SPECKIT */
