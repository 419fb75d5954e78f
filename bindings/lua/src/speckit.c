/*
 * Spec Kit features: a feature folder loaded (spec.md, plan.md, tasks.md),
 * its rule findings and its task graph as waves.
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_SPECKIT

static const char *const severities[] = { "info", "warning", "error" };

static void push_findings(lua_State *L, const devsys_speckit_findings *fs);

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

/* feature:stories() -> { {number=, title=, priority=, scenarios=}, ... } in spec.md's order */
static int f_stories(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	size_t n = devsys_speckit_story_count(f);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		unsigned number = 0, priority = 0, scenarios = 0;
		const char *title = devsys_speckit_story_at(f, i, &number, &priority, &scenarios);
		lua_createtable(L, 0, 4);
		lua_pushinteger(L, number);
		lua_setfield(L, -2, "number");
		ld_pushstr(L, title);
		lua_setfield(L, -2, "title");
		lua_pushinteger(L, priority);
		lua_setfield(L, -2, "priority");
		lua_pushinteger(L, scenarios);
		lua_setfield(L, -2, "scenarios");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* The task's dependencies (@p paths false) or paths as a list. */
static void push_strs(lua_State *L, const devsys_speckit_task *t, bool paths)
{
	size_t n = paths ? devsys_speckit_task_path_count(t) : devsys_speckit_task_dep_count(t);
	LD_PUSH_ARRAY(L, n, ld_pushstr(L, paths ? devsys_speckit_task_path_at(t, i) : devsys_speckit_task_dep_at(t, i)));
}

/* A copy of task @p t: {id=, description=, state=" "|"x"|"X", done=, line=, phase= (1-based), parallel=, story=, deps={}, paths={}} */
static void push_task(lua_State *L, const devsys_speckit_task *t)
{
	char state = devsys_speckit_task_state(t);
	lua_createtable(L, 0, 10);
	lua_pushstring(L, devsys_speckit_task_id(t));
	lua_setfield(L, -2, "id");
	ld_pushstr(L, devsys_speckit_task_description(t));
	lua_setfield(L, -2, "description");
	lua_pushlstring(L, &state, 1);
	lua_setfield(L, -2, "state");
	lua_pushboolean(L, state == 'x' || state == 'X');
	lua_setfield(L, -2, "done");
	lua_pushinteger(L, devsys_speckit_task_line(t));
	lua_setfield(L, -2, "line");
	lua_pushinteger(L, (lua_Integer)devsys_speckit_task_phase(t) + 1);
	lua_setfield(L, -2, "phase");
	lua_pushboolean(L, devsys_speckit_task_parallel(t));
	lua_setfield(L, -2, "parallel");
	lua_pushinteger(L, devsys_speckit_task_story(t));
	lua_setfield(L, -2, "story");
	push_strs(L, t, false);
	lua_setfield(L, -2, "deps");
	push_strs(L, t, true);
	lua_setfield(L, -2, "paths");
}

/* feature:tasks() -> { task, ... } in tasks.md's order (see push_task) */
static int f_tasks(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	LD_PUSH_ARRAY(L, devsys_speckit_task_count(f), push_task(L, devsys_speckit_task_at(f, i)));
	return 1;
}

/* feature:task(id) -> the first task with @p id | nil, msg, DEVSYS_ENOTFOUND */
static int f_task(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	const char *id = ld_checkcstr(L, 2);
	const devsys_speckit_task *t = devsys_speckit_task_find(f, id);
	if (!t) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: no task '%s' in tasks.md", devsys_speckit_feature_dir(f), id);
		lua_pushinteger(L, DEVSYS_ENOTFOUND);
		return 3;
	}
	push_task(L, t);
	return 1;
}

/* feature:phases() -> { {title=, checkpoints=}, ... } */
static int f_phases(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	size_t n = devsys_speckit_phase_count(f);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		unsigned cp = 0;
		const char *title = devsys_speckit_phase_at(f, i, &cp);
		lua_createtable(L, 0, 2);
		ld_pushstr(L, title);
		lua_setfield(L, -2, "title");
		lua_pushinteger(L, cp);
		lua_setfield(L, -2, "checkpoints");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* feature:requirements() -> { "FR-001", ... } (duplicates kept) */
static int f_requirements(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	LD_PUSH_ARRAY(L, devsys_speckit_requirement_count(f), ld_pushstr(L, devsys_speckit_requirement_at(f, i)));
	return 1;
}

/* feature:clarifications() -> markers, sessions */
static int f_clarifications(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	lua_pushinteger(L, (lua_Integer)devsys_speckit_clarification_markers(f));
	lua_pushinteger(L, (lua_Integer)devsys_speckit_clarification_sessions(f));
	return 2;
}

/* feature:plan_field(name) -> plan.md's Technical Context value, or nil */
static int f_plan_field(lua_State *L)
{
	ld_pushstr(L, devsys_speckit_plan_field(ld_check(L, 1, LD_SPECKIT), ld_checkcstr(L, 2)));
	return 1;
}

/* feature:checklist_items() -> total, unchecked */
static int f_checklist_items(lua_State *L)
{
	size_t unchecked = 0, total = devsys_speckit_checklist_items(ld_check(L, 1, LD_SPECKIT), &unchecked);
	lua_pushinteger(L, (lua_Integer)total);
	lua_pushinteger(L, (lua_Integer)unchecked);
	return 2;
}

/* Feature @p f's findings (devsys_speckit_check) in a new *@p out: 0, or negative with *@p out freed. */
static int checked(devsys_speckit_findings **out, const devsys_speckit_feature *f)
{
	int rc = devsys_speckit_findings_new(out);
	if (rc < 0 || (rc = devsys_speckit_check(*out, f)) < 0) {
		devsys_speckit_findings_free(*out);
		*out = NULL;
	}
	return rc;
}

/* feature:check_counts() -> {info=, warning=, error=} (how many findings of each severity) */
static int f_check_counts(lua_State *L)
{
	devsys_speckit_findings *fs = NULL;
	int rc = checked(&fs, ld_check(L, 1, LD_SPECKIT));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_createtable(L, 0, 3);
	for (int s = DEVSYS_SPECKIT_INFO; s <= DEVSYS_SPECKIT_ERROR; s++) {
		lua_pushinteger(L, (lua_Integer)devsys_speckit_findings_count_severity(fs, (devsys_speckit_severity)s));
		lua_setfield(L, -2, severities[s]);
	}
	devsys_speckit_findings_free(fs);
	return 1;
}

/* feature:check() -> { {rule=, severity="info"|"warning"|"error", file=, line=, message=}, ... } */
static int f_check(lua_State *L)
{
	devsys_speckit_findings *fs = NULL;
	int rc = checked(&fs, ld_check(L, 1, LD_SPECKIT));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	push_findings(L, fs);
	devsys_speckit_findings_free(fs);
	return 1;
}

/* Push { {rule=, severity=, file=, line=, message=}, ... } for @p fs. */
static void push_findings(lua_State *L, const devsys_speckit_findings *fs)
{
	size_t n = devsys_speckit_findings_count(fs);
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
		LD_PUSH_ARRAY(L, n, lua_pushstring(L, devsys_speckit_plan_task(p, w, i)));
		lua_rawseti(L, -2, (lua_Integer)w + 1);
	}
	devsys_speckit_plan_free(p);
	return 1;
}

/* feature:check_report(["text" | "json" | "sarif"]) -> the findings as the CLI prints them */
static int f_check_report(lua_State *L)
{
	static const char *const formats[] = { "text", "json", "sarif", NULL };
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	int fmt = luaL_checkoption(L, 2, "text", formats);
	devsys_speckit_findings *fs = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = checked(&fs, f);
	if (rc == 0)
		rc = fmt == 0 ? devsys_speckit_findings_to_text(&b, fs)
		   : fmt == 1 ? devsys_speckit_findings_to_json(&b, fs)
		              : devsys_speckit_findings_to_sarif(&b, fs);
	devsys_speckit_findings_free(fs);
	return ld_buf_result(L, rc, &b);
}

/* feature:plan_yaml(repo_url, feature_dir [, per_wave]) -> devsys task specs (YAML documents) */
static int f_plan_yaml(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	const char *url = ld_checkcstr(L, 2), *dir = ld_checkcstr(L, 3);
	unsigned int flags = lua_toboolean(L, 4) ? DEVSYS_SPECKIT_YAML_PER_WAVE : 0u;
	devsys_speckit_plan *p = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_speckit_plan_new(&p, f);
	if (rc == 0)
		rc = devsys_speckit_plan_to_yaml(&b, p, url, dir, flags);
	devsys_speckit_plan_free(p);
	return ld_buf_result(L, rc, &b);
}

/* run_wave({task ids}): runs the wave's tasks (each through a pipeline of its own); raise to stop the feature */
static int wave_cb(const char *const *ids, size_t n, void *payload)
{
	ld_cb *cb = payload;
	if (!ld_cb_push(cb))
		return DEVSYS_EUSER;
	lua_createtable(ld_running, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(ld_running, ids[i]);
		lua_rawseti(ld_running, -2, (lua_Integer)i + 1);
	}
	return ld_cb_call(cb, 1, 0);
}

/*
 * feature:run(pipeline, ws, repo_url, feature_dir [, {spec_extra=, tasks_md=, run_wave=fn}]) ->
 * waves done | nil, msg, code, waves done: the plan wave by wave through the pipeline
 * (docs/speckit.md); run_wave(ids) runs a wave's tasks itself (devsys_speckit_run_waves()).
 */
static int f_run(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	devsys_pipeline *pl = ld_check(L, 2, LD_PIPELINE);
	devsys_workspace *ws = ld_check(L, 3, LD_WORKSPACE);
	const char *url = ld_checkcstr(L, 4), *dir = ld_checkcstr(L, 5), *extra = NULL, *tasks_md = NULL;
	devsys_speckit_plan *p = NULL;
	size_t done = 0;
	ld_cb cb;
	int rc;
	ld_cb_init(&cb);
	if (!lua_isnoneornil(L, 6)) {
		luaL_checktype(L, 6, LUA_TTABLE);
		extra = ld_field_str(L, 6, "spec_extra", NULL);
		tasks_md = ld_field_str(L, 6, "tasks_md", NULL);
		lua_getfield(L, 6, "run_wave");
		ld_cb_set(L, &cb, -1);
		lua_pop(L, 1);
	}
	if ((rc = devsys_speckit_plan_new(&p, f)) == 0)
		rc = cb.fn == LUA_NOREF ? devsys_speckit_run(&done, pl, ws, p, url, dir, extra, tasks_md)
		                        : devsys_speckit_run_waves(&done, pl, ws, p, url, dir, extra, tasks_md, wave_cb, &cb);
	devsys_speckit_plan_free(p);
	luaL_unref(L, LUA_REGISTRYINDEX, cb.fn);
	cb.fn = LUA_NOREF;
	if (rc < 0) {
		ld_fail(L, rc, &cb); /* raises a run_wave error again */
		lua_pushinteger(L, (lua_Integer)done);
		return 4;
	}
	lua_pushinteger(L, (lua_Integer)done);
	return 1;
}

#ifdef DEVSYS_FEATURE_STORE
/* ---- links from devsys tasks to a feature ---- */

static void links_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_speckit_links_free(h->p);
}

/* devsys.speckit_links(store, ws, feature_dir) -> links | nil, msg, code (copies: outlives its store) */
static int l_speckit_links(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_workspace *ws = ld_check(L, 2, LD_WORKSPACE);
	devsys_speckit_links *lk = NULL;
	int rc = devsys_speckit_links_new(&lk, st, ws, ld_checkcstr(L, 3));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_SPECKIT_LINKS, sizeof(ld_handle), lk, links_release);
	return 1;
}

/* links:list() -> { {id=, task_id=, state=, green=}, ... } */
static int lk_list(lua_State *L)
{
	devsys_speckit_links *lk = ld_check(L, 1, LD_SPECKIT_LINKS);
	size_t n = devsys_speckit_links_count(lk);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const char *tid = NULL;
		int state = 0, green = 0;
		const char *id = devsys_speckit_link_at(lk, i, &tid, &state, &green);
		lua_createtable(L, 0, 4);
		ld_pushstr(L, id);
		lua_setfield(L, -2, "id");
		ld_pushstr(L, tid);
		lua_setfield(L, -2, "task_id");
		ld_pushstr(L, devsys_task_state_name(state));
		lua_setfield(L, -2, "state");
		lua_pushboolean(L, green);
		lua_setfield(L, -2, "green");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* links:green_ids() -> { "T001", ... } */
static int lk_green_ids(lua_State *L)
{
	size_t n = 0;
	const char *const *ids = devsys_speckit_links_green_ids(ld_check(L, 1, LD_SPECKIT_LINKS), &n);
	LD_PUSH_ARRAY(L, ids ? n : 0, lua_pushstring(L, ids[i]));
	return 1;
}

/* feature:status_json([links]) -> the tasks' machine-readable status */
static int f_status_json(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	const devsys_speckit_links *lk = lua_isnoneornil(L, 2) ? NULL : ld_check(L, 2, LD_SPECKIT_LINKS);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_speckit_status_to_json(&b, f, lk);
	return ld_buf_result(L, rc, &b);
}

/* devsys.speckit_task_green(store, task) -> bool | nil, msg, code */
static int l_task_green(lua_State *L)
{
	int green = 0;
	int rc = devsys_speckit_task_green(&green, ld_check(L, 1, LD_STORE), ld_check(L, 2, LD_TASK));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, green);
	return 1;
}
#endif

/* devsys.speckit_mark_done(text, {ids}) -> text, lines changed | nil, msg, code */
static int l_mark_done(lua_State *L)
{
	size_t len, n, marked = 0;
	const char *text = luaL_checklstring(L, 1, &len);
	const char **ids = ld_str_list(L, 2, &n);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_speckit_mark_done(&b, &marked, text, len, ids, n);
	if (rc < 0) {
		devsys_buf_dispose(&b);
		return ld_fail(L, rc, NULL);
	}
	ld_pushbuf(L, &b);
	lua_pushinteger(L, (lua_Integer)marked);
	return 2;
}

/* devsys.speckit_mark_done_file(path, {ids}) -> lines changed | nil, msg, code */
static int l_mark_done_file(lua_State *L)
{
	size_t n, marked = 0;
	const char *path = ld_checkcstr(L, 1);
	const char **ids = ld_str_list(L, 2, &n);
	int rc = devsys_speckit_mark_done_file(&marked, path, ids, n);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, (lua_Integer)marked);
	return 1;
}

#ifdef DEVSYS_FEATURE_GIT
/* feature:check_phantoms(repo [, {ids}]) -> findings (SK015: ticked tasks whose paths no commit touched) */
static int f_check_phantoms(lua_State *L)
{
	devsys_speckit_feature *f = ld_check(L, 1, LD_SPECKIT);
	devsys_repo *repo = ld_check(L, 2, LD_REPO);
	const char **ids = NULL;
	size_t n = 0;
	devsys_speckit_findings *fs = NULL;
	int rc;
	if (!lua_isnoneornil(L, 3))
		ids = ld_str_list(L, 3, &n);
	if ((rc = devsys_speckit_findings_new(&fs)) == 0)
		rc = ids ? devsys_speckit_check_phantoms_ids(fs, f, repo, ids, n) : devsys_speckit_check_phantoms(fs, f, repo);
	if (rc < 0) {
		devsys_speckit_findings_free(fs);
		return ld_fail(L, rc, NULL);
	}
	push_findings(L, fs);
	devsys_speckit_findings_free(fs);
	return 1;
}

/* devsys.speckit_sync(repo, feature_dir, {ids}) -> lines changed (committed and pushed) | nil, msg, code */
static int l_sync(lua_State *L)
{
	devsys_repo *repo = ld_check(L, 1, LD_REPO);
	const char *dir = ld_checkcstr(L, 2);
	size_t n, marked = 0;
	const char **ids = ld_str_list(L, 3, &n);
	int rc = devsys_speckit_sync(&marked, repo, dir, ids, n);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, (lua_Integer)marked);
	return 1;
}
#endif

void ld_open_speckit(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "speckit_load", l_speckit_load },
		{ "speckit_mark_done", l_mark_done },
		{ "speckit_mark_done_file", l_mark_done_file },
#ifdef DEVSYS_FEATURE_GIT
		{ "speckit_sync", l_sync },
#endif
#ifdef DEVSYS_FEATURE_STORE
		{ "speckit_links", l_speckit_links },
		{ "speckit_task_green", l_task_green },
#endif
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "dir", f_dir },     { "title", f_title }, { "task_count", f_task_count },
		{ "check", f_check }, { "plan", f_plan },   { "check_report", f_check_report },
		{ "plan_yaml", f_plan_yaml }, { "run", f_run }, { "stories", f_stories }, { "tasks", f_tasks },
		{ "task", f_task }, { "phases", f_phases }, { "requirements", f_requirements },
		{ "clarifications", f_clarifications }, { "plan_field", f_plan_field },
		{ "checklist_items", f_checklist_items }, { "check_counts", f_check_counts },
#ifdef DEVSYS_FEATURE_STORE
		{ "status_json", f_status_json },
#endif
#ifdef DEVSYS_FEATURE_GIT
		{ "check_phantoms", f_check_phantoms },
#endif
		{ NULL, NULL },
	};
#ifdef DEVSYS_FEATURE_STORE
	static const luaL_Reg link_methods[] = { { "list", lk_list }, { "green_ids", lk_green_ids }, { NULL, NULL } };
	ld_register(L, LD_SPECKIT_LINKS, link_methods);
#endif
	ld_register(L, LD_SPECKIT, methods);
	luaL_setfuncs(L, fns, 0);
}
#endif /* DEVSYS_FEATURE_SPECKIT */
