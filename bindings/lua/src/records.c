/*
 * The operator's configuration, test reports, the task record and the
 * task store.
 */
#include "ldevsys.h"

#include <string.h>

/* ---- config ---- */
#ifdef DEVSYS_FEATURE_CONFIG
static void config_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_config_free(h->p);
}

static int push_config(lua_State *L, int rc, devsys_config *c)
{
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_CONFIG, sizeof(ld_handle), c, config_release);
	return 1;
}

static int l_config_load(lua_State *L)
{
	devsys_config *c = NULL;
	const char *path = ld_checkcstr(L, 1);
	int rc = devsys_config_load(&c, path);
	return push_config(L, rc, c);
}

static int l_config_parse(lua_State *L)
{
	devsys_config *c = NULL;
	size_t len;
	const char *text = luaL_checklstring(L, 1, &len);
	const char *name = ld_optcstr(L, 2, NULL);
	int rc = devsys_config_parse(&c, text, len, name);
	return push_config(L, rc, c);
}

static int c_runners(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	LD_PUSH_ARRAY(L, devsys_config_runner_count(c), lua_pushstring(L, devsys_config_runner_name(c, i)));
	return 1;
}

/* cfg:runner(profile) -> type, {host=, port=, user=, ...} | nil, msg, code */
static int c_runner(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	const char *profile = ld_checkcstr(L, 2);
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type = NULL;
	int rc = devsys_config_runner(c, profile, &type, &o);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushstring(L, type);
	lua_createtable(L, 0, 12);
	lua_pushboolean(L, (o.flags & DEVSYS_RUNNER_ALLOW_SHELL) != 0);
	lua_setfield(L, -2, "allow_shell");
	lua_pushinteger(L, o.grace_ms);
	lua_setfield(L, -2, "grace_ms");
	lua_pushinteger(L, (lua_Integer)o.tail_max);
	lua_setfield(L, -2, "tail_max");
	ld_pushstr(L, o.host);
	lua_setfield(L, -2, "host");
	lua_pushinteger(L, o.port);
	lua_setfield(L, -2, "port");
	ld_pushstr(L, o.user);
	lua_setfield(L, -2, "user");
	ld_pushstr(L, o.key_file);
	lua_setfield(L, -2, "key_file");
	ld_pushstr(L, o.known_hosts);
	lua_setfield(L, -2, "known_hosts");
	lua_pushinteger(L, o.retries);
	lua_setfield(L, -2, "retries");
	ld_pushstr(L, o.remote_dir);
	lua_setfield(L, -2, "remote_dir");
	lua_pushinteger(L, o.connect_timeout_ms);
	lua_setfield(L, -2, "connect_timeout_ms");
	return 2;
}

static int c_runner_risk(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	int risk = 0;
	int rc = devsys_config_runner_risk(&risk, c, ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushstring(L, devsys_risk_name(risk));
	return 1;
}

/* cfg:store() -> url, {name=, provider=, ref=} (or nil: no password secret) | false (no store: section) */
static int c_store(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	const char *url = NULL;
	devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
	int rc = devsys_config_store(&url, &d, c);
	if (rc == DEVSYS_ENOTFOUND) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushstr(L, url);
	if (!d.name) {
		lua_pushnil(L);
		return 2;
	}
	lua_createtable(L, 0, 3);
	lua_pushstring(L, d.name);
	lua_setfield(L, -2, "name");
	ld_pushstr(L, d.provider);
	lua_setfield(L, -2, "provider");
	ld_pushstr(L, d.ref);
	lua_setfield(L, -2, "ref");
	return 2;
}

/* cfg:runner_max_concurrent(profile) -> n (0: no limit) | nil, msg, code */
static int c_runner_max_concurrent(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	unsigned int max = 0;
	int rc = devsys_config_runner_max_concurrent(&max, c, ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, max);
	return 1;
}

static int c_forges(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	LD_PUSH_ARRAY(L, devsys_config_forge_count(c), lua_pushstring(L, devsys_config_forge_host(c, i)));
	return 1;
}

static int c_forge_match(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	const char *entry = NULL;
	int rc = devsys_config_forge_match(&entry, c, ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushstring(L, entry);
	return 1;
}

/* cfg:forge_value(entry, key) -> value (nil when unset), where */
/* cfg:agent_value(profile, key) -> value (nil: unset), where | nil, msg, code */
static int c_agent_value(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	const char *value = NULL, *where = NULL;
	int rc = devsys_config_agent_value(&value, &where, c, ld_checkcstr(L, 2), ld_checkcstr(L, 3));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushstr(L, value);
	ld_pushstr(L, where);
	return 2;
}

static int c_forge_value(lua_State *L)
{
	devsys_config *c = ld_check(L, 1, LD_CONFIG);
	const char *value = NULL, *where = NULL;
	int rc = devsys_config_forge_value(&value, &where, c, ld_checkcstr(L, 2), ld_checkcstr(L, 3));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushstr(L, value);
	ld_pushstr(L, where);
	return 2;
}
#endif

/* ---- report ---- */
#ifdef DEVSYS_FEATURE_REPORT
static void report_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_report_free(h->p);
}

static void push_case(lua_State *L, const devsys_report_case *c)
{
	lua_createtable(L, 0, 12);
	lua_pushstring(L, devsys_report_status_name(c->status));
	lua_setfield(L, -2, "status");
	lua_pushnumber(L, c->time);
	lua_setfield(L, -2, "time");
	ld_pushstr(L, c->suite);
	lua_setfield(L, -2, "suite");
	ld_pushstr(L, c->classname);
	lua_setfield(L, -2, "classname");
	ld_pushstr(L, c->name);
	lua_setfield(L, -2, "name");
	ld_pushstr(L, c->file);
	lua_setfield(L, -2, "file");
	ld_pushstr(L, c->message);
	lua_setfield(L, -2, "message");
	ld_pushstr(L, c->type);
	lua_setfield(L, -2, "type");
	ld_pushstr(L, c->text);
	lua_setfield(L, -2, "text");
	ld_pushstr(L, c->system_out);
	lua_setfield(L, -2, "system_out");
	ld_pushstr(L, c->system_err);
	lua_setfield(L, -2, "system_err");
	ld_pushstr(L, c->source);
	lua_setfield(L, -2, "source");
}

static int case_cb(const devsys_report_case *c, void *payload)
{
	ld_cb *cb = payload;
	if (!ld_cb_push(cb))
		return 0;
	push_case(ld_running, c);
	if (ld_cb_call(cb, 1, 1))
		return 1;
	lua_pop(ld_running, 1);
	return 0;
}

/* {no_cases=, max_text=, max_depth=, case=fn(case)} into @p o; the callback into @p cb */
static void report_opts(lua_State *L, int idx, devsys_report_options *o, ld_cb *cb)
{
	ld_cb_init(cb);
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	o->flags = ld_field_bool(L, idx, "no_cases", false) ? DEVSYS_REPORT_NO_CASES : 0;
	o->max_text = (size_t)ld_field_int(L, idx, "max_text", 0);
	o->max_depth = (unsigned int)ld_field_int(L, idx, "max_depth", 0);
	lua_getfield(L, idx, "case");
	ld_cb_set(L, cb, -1);
	lua_pop(L, 1);
	if (cb->fn != LUA_NOREF) {
		o->case_cb = case_cb;
		o->case_payload = cb;
	}
}

static int l_report(lua_State *L)
{
	devsys_report *r = NULL;
	int rc = devsys_report_new(&r);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_REPORT, sizeof(ld_handle), r, report_release);
	return 1;
}

/* A call with a case callback: release the callback, raise its error, or fail. */
static int report_done(lua_State *L, int rc, ld_cb *cb)
{
	luaL_unref(L, LUA_REGISTRYINDEX, cb->fn);
	cb->fn = LUA_NOREF;
	if (rc < 0)
		return ld_fail(L, rc, cb);
	return 0;
}

static int l_report_parse_junit(lua_State *L)
{
	const char *path = ld_checkcstr(L, 1);
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_report *r = NULL;
	ld_handle *h;
	ld_cb cb;
	int rc;
	report_opts(L, 2, &o, &cb);
	h = ld_new(L, LD_REPORT, sizeof(*h), NULL, report_release);
	ld_enter(L);
	rc = devsys_report_parse_junit(&r, path, &o);
	if (rc < 0)
		return report_done(L, rc, &cb);
	report_done(L, 0, &cb);
	h->p = r;
	return 1;
}

static int r_add_junit(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	const char *path = ld_checkcstr(L, 2);
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	ld_cb cb;
	int rc;
	report_opts(L, 3, &o, &cb);
	ld_enter(L);
	rc = devsys_report_add_junit(r, path, &o);
	if (rc < 0)
		return report_done(L, rc, &cb);
	report_done(L, 0, &cb);
	lua_pushboolean(L, 1);
	return 1;
}

/* report:add_junit_buffer(xml [, name [, opts]]) */
static int r_add_junit_buffer(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	const char *name = ld_optcstr(L, 3, NULL);
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	ld_cb cb;
	int rc;
	report_opts(L, 4, &o, &cb);
	ld_enter(L);
	rc = devsys_report_add_junit_buffer(r, data, len, name, &o);
	if (rc < 0)
		return report_done(L, rc, &cb);
	report_done(L, 0, &cb);
	lua_pushboolean(L, 1);
	return 1;
}

static int r_merge(lua_State *L)
{
	devsys_report *dst = ld_check(L, 1, LD_REPORT);
	devsys_report *src = ld_check(L, 2, LD_REPORT);
	return ld_ok(L, devsys_report_merge(dst, src));
}

static int r_tests(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)devsys_report_tests(ld_check(L, 1, LD_REPORT)));
	return 1;
}

static int status_arg(lua_State *L, int idx)
{
	static const char *const names[] = { "passed", "failed", "error", "skipped", NULL };
	return luaL_checkoption(L, idx, NULL, names);
}

/* report:count("failed") */
static int r_count(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	lua_pushinteger(L, (lua_Integer)devsys_report_count(r, status_arg(L, 2)));
	return 1;
}

static int r_time(lua_State *L)
{
	lua_pushnumber(L, devsys_report_time(ld_check(L, 1, LD_REPORT)));
	return 1;
}

static int r_cases(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	LD_PUSH_ARRAY(L, devsys_report_case_count(r), push_case(L, devsys_report_case_at(r, i)));
	return 1;
}

static int r_sources(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	LD_PUSH_ARRAY(L, devsys_report_source_count(r), lua_pushstring(L, devsys_report_source_at(r, i)));
	return 1;
}

/* report:foreach(fn(case)): raise or return false to stop */
static int r_foreach(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	ld_cb cb;
	int rc;
	ld_cb_init(&cb);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	ld_cb_set(L, &cb, 2);
	ld_enter(L);
	rc = devsys_report_foreach(r, case_cb, &cb);
	if (rc < 0)
		return report_done(L, rc, &cb);
	report_done(L, 0, &cb);
	lua_pushboolean(L, 1);
	return 1;
}

static int r_junit(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_report_junit_buf(r, &b), &b);
}

static int r_summary_json(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_report_summary_json(r, &b), &b);
}

/* report:cases_json() -> [{"suite","classname","name","status","time",...}] as the CLI and devsysd give it */
static int r_cases_json(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_report_cases_json(&b, r), &b);
}

static int r_write_junit(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	return ld_ok(L, devsys_report_write_junit(r, ld_checkcstr(L, 2)));
}

static int r_write_summary(lua_State *L)
{
	devsys_report *r = ld_check(L, 1, LD_REPORT);
	return ld_ok(L, devsys_report_write_summary(r, ld_checkcstr(L, 2)));
}
#endif

/* ---- record ---- */
#ifdef DEVSYS_FEATURE_RECORD
static void record_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_record_free(h->p);
}

/* devsys.record_open(task) -> record (holds a reference on the task) */
static int l_record_open(lua_State *L)
{
	devsys_task *t = ld_check(L, 1, LD_TASK);
	devsys_record *rec = NULL;
	int rc = devsys_record_open(&rec, t);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_RECORD, sizeof(ld_handle), rec, record_release);
	return 1;
}

static int l_stage_check(lua_State *L)
{
	return ld_ok(L, devsys_stage_check(ld_checkcstr(L, 1)));
}

static int rec_set_string(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_set_string(r, ld_checkcstr(L, 2), ld_checkcstr(L, 3)));
}

static int rec_set_int(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_set_int(r, ld_checkcstr(L, 2), (int64_t)luaL_checkinteger(L, 3)));
}

static int rec_set_json(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_set_json(r, ld_checkcstr(L, 2), ld_checkcstr(L, 3)));
}

static int rec_set_spec(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	size_t len;
	const char *name = ld_checkcstr(L, 2);
	const char *data = luaL_checklstring(L, 3, &len);
	return ld_ok(L, devsys_record_set_spec(r, name, data, len));
}

static int rec_set_repo_url(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_set_repo_url(r, ld_checkcstr(L, 2)));
}

#ifdef DEVSYS_FEATURE_GIT
/* record:git_step("git.checkout" | "git.commit" | "git.push", repo): the repo's facts into task.json and an event */
static int rec_git_step(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	const char *type = ld_checkcstr(L, 2);
	devsys_repo *repo = ld_check(L, 3, LD_REPO);
	return ld_ok(L, devsys_record_git_step(r, type, devsys_repo_url(repo), devsys_repo_branch(repo),
	                                    devsys_repo_base_branch(repo), devsys_repo_base_sha(repo),
	                                    devsys_repo_head_sha(repo)));
}
#endif

static int rec_stage_begin(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_stage_begin(r, ld_checkcstr(L, 2)));
}

/* record:stage_end(stage, result [, failure_class]) */
static int rec_stage_end(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_stage_end(r, ld_checkcstr(L, 2), ld_checkcstr(L, 3), ld_optcstr(L, 4, NULL)));
}

static int rec_save(lua_State *L)
{
	return ld_ok(L, devsys_record_save(ld_check(L, 1, LD_RECORD)));
}

static int rec_json(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_record_json(r, &b), &b);
}

/* record:event(type [, data_json]) -> seq */
static int rec_event(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	uint64_t seq = 0;
	int rc = devsys_record_event(r, ld_checkcstr(L, 2), ld_optcstr(L, 3, NULL), &seq);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, (lua_Integer)seq);
	return 1;
}

static int rec_run_begin(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	unsigned int run = 0;
	int rc = devsys_record_run_begin(r, &run);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, run);
	return 1;
}

static int rec_run_add_junit(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	unsigned int run = (unsigned int)luaL_checkinteger(L, 2);
	return ld_ok(L, devsys_record_run_add_junit(r, run, ld_checkcstr(L, 3)));
}

static int rec_run_complete(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_run_complete(r, (unsigned int)luaL_checkinteger(L, 2)));
}

static int rec_write_acceptance(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	return ld_ok(L, devsys_record_write_acceptance(r, ld_checkcstr(L, 2)));
}

static int rec_log_path(lua_State *L)
{
	devsys_record *r = ld_check(L, 1, LD_RECORD);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_record_log_path(&b, r, ld_checkcstr(L, 2)), &b);
}

/*
 * devsys.record_events_since(task [, seq [, limit]]) -> the events.jsonl lines after @p seq (up to
 * limit; 0: all), the seq of the last one given | nil, msg, code
 */
static int l_events_since(lua_State *L)
{
	devsys_task *t = ld_check(L, 1, LD_TASK);
	lua_Integer seq = luaL_optinteger(L, 2, 0), limit = luaL_optinteger(L, 3, 0);
	devsys_buf b = DEVSYS_BUF_INIT;
	uint64_t last = 0;
	int rc;
	luaL_argcheck(L, seq >= 0, 2, "seq must be >= 0");
	luaL_argcheck(L, limit >= 0, 3, "limit must be >= 0");
	if ((rc = devsys_record_events_since(&b, &last, t, (uint64_t)seq, (size_t)limit)) < 0) {
		devsys_buf_dispose(&b);
		return ld_fail(L, rc, NULL);
	}
	ld_pushbuf(L, &b);
	lua_pushinteger(L, (lua_Integer)last);
	return 2;
}

/* fn(seq, type, line) for devsys.record_events_foreach: false or an error stops */
static int event_cb(uint64_t seq, const char *type, const char *line, size_t len, void *payload)
{
	ld_cb *cb = payload;
	if (!ld_cb_push(cb))
		return 1;
	lua_pushinteger(ld_running, (lua_Integer)seq);
	lua_pushstring(ld_running, type);
	lua_pushlstring(ld_running, line, len);
	if (ld_cb_call(cb, 3, 1))
		return 1;
	lua_pop(ld_running, 1);
	return 0;
}

/*
 * devsys.record_events_foreach(task, seq, limit, fn(seq, type, line)) -> true | nil, msg, code:
 * the events after @p seq (up to limit; 0: all) one by one; fn returning false stops (E.USER), raising re-raises
 */
static int l_events_foreach(lua_State *L)
{
	devsys_task *t = ld_check(L, 1, LD_TASK);
	lua_Integer seq = luaL_optinteger(L, 2, 0), limit = luaL_optinteger(L, 3, 0);
	ld_cb cb;
	int rc;
	luaL_argcheck(L, seq >= 0, 2, "seq must be >= 0");
	luaL_argcheck(L, limit >= 0, 3, "limit must be >= 0");
	luaL_checktype(L, 4, LUA_TFUNCTION);
	ld_cb_init(&cb);
	ld_cb_set(L, &cb, 4);
	ld_enter(L);
	rc = devsys_record_events_foreach(t, (uint64_t)seq, (size_t)limit, event_cb, &cb);
	luaL_unref(L, LUA_REGISTRYINDEX, cb.fn);
	cb.fn = LUA_NOREF;
	if (rc < 0)
		return ld_fail(L, rc, &cb);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * devsys.record_path(task, file [, run [, stage]]) -> the absolute path of one file of the record:
 * "task.json", "events", "reports", "latest", "acceptance", "run-summary", "run-junit" (run), "log" (stage)
 */
static int l_record_path(lua_State *L)
{
	static const char *const files[] = { "task.json", "events", "reports", "latest", "acceptance", "run-summary",
		                             "run-junit", "log", NULL };
	devsys_task *t = ld_check(L, 1, LD_TASK);
	int file = luaL_checkoption(L, 2, NULL, files) + 1; /* DEVSYS_RECORD_FILE_* count from 1 */
	lua_Integer run = luaL_optinteger(L, 3, 0);
	devsys_buf b = DEVSYS_BUF_INIT;
	luaL_argcheck(L, run >= 0 && run <= 0x7fffffff, 3, "run must be 0..2^31-1");
	return ld_buf_result(L, devsys_record_path(&b, t, (devsys_record_file)file, (unsigned int)run, ld_optcstr(L, 4, NULL)),
	                  &b);
}

/* devsys.record_latest_run(task) -> run number */
static int l_latest_run(lua_State *L)
{
	devsys_task *t = ld_check(L, 1, LD_TASK);
	unsigned int run = 0;
	int rc = devsys_record_latest_run(t, &run);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, run);
	return 1;
}
#endif

/* ---- store ---- */
#ifdef DEVSYS_FEATURE_STORE
static void store_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_store_free(h->p);
}

static int state_arg(lua_State *L, int idx)
{
	int st = devsys_task_state_parse(ld_checkcstr(L, idx));
	if (st < 0)
		luaL_argerror(L, idx, devsys_error_message(devsys_error_last()));
	return st;
}

/*
 * devsys.store_open(ws [, {busy_timeout_ms=, url=, secrets=, password_secret=, config=}]) -> store
 * (holds a reference on the workspace). url "postgresql://user@host:port/db": that database (nil:
 * $DEVSYS_STORE_URL, else SQLite in the workspace); the password from secrets' password_secret.
 * config: without url, its store: section names the store (devsys_store_open_config).
 */
static int l_store_open(lua_State *L)
{
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	devsys_store *st = NULL;
	const devsys_config *cfg = NULL;
	int rc;
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		o.busy_timeout_ms = (unsigned int)ld_field_int(L, 2, "busy_timeout_ms", 0);
		o.url = ld_field_str(L, 2, "url", NULL);
		o.password_secret = ld_field_str(L, 2, "password_secret", NULL);
#ifdef DEVSYS_FEATURE_SECRETS
		lua_getfield(L, 2, "secrets");
		if (!lua_isnil(L, -1))
			o.secrets = ld_check(L, lua_gettop(L), LD_SECRETS);
		lua_pop(L, 1); /* the options table keeps the secrets handle */
#endif
#ifdef DEVSYS_FEATURE_CONFIG
		lua_getfield(L, 2, "config");
		if (!lua_isnil(L, -1))
			cfg = ld_check(L, lua_gettop(L), LD_CONFIG);
		lua_pop(L, 1);
#endif
	}
	if ((rc = cfg ? devsys_store_open_config(&st, ws, &o, cfg) : devsys_store_open(&st, ws, &o)) < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_STORE, sizeof(ld_handle), st, store_release);
	return 1;
}

static int st_task_create(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	return ld_ok(L, devsys_store_task_create(st, ld_checkcstr(L, 2), ld_optcstr(L, 3, NULL)));
}

/* store:transition(id, "validated" [, reason]) */
static int st_transition(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2);
	return ld_ok(L, devsys_store_transition(st, id, state_arg(L, 3), ld_optcstr(L, 4, NULL)));
}

static int st_stage_begin(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	return ld_ok(L, devsys_store_stage_begin(st, ld_checkcstr(L, 2), ld_checkcstr(L, 3)));
}

/* store:stage_end(id, stage, result, next_state) */
static int st_stage_end(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2), *stage = ld_checkcstr(L, 3), *result = ld_checkcstr(L, 4);
	return ld_ok(L, devsys_store_stage_end(st, id, stage, result, state_arg(L, 5)));
}

static int st_task_state(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	int s = devsys_store_task_state(st, ld_checkcstr(L, 2));
	if (s < 0)
		return ld_fail(L, s, NULL);
	lua_pushstring(L, devsys_task_state_name(s));
	return 1;
}

static int st_task_json(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_store_task_json(st, ld_checkcstr(L, 2), &b), &b);
}

/* store:list_json([state [, offset [, limit]]]) */
static int st_list_json(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	const char *filter = ld_optcstr(L, 2, NULL);
	size_t off = (size_t)luaL_optinteger(L, 3, 0), lim = (size_t)luaL_optinteger(L, 4, 0);
	return ld_buf_result(L, devsys_store_list_json(st, filter, off, lim, &b), &b);
}

/* store:resume(id) -> the stage to resume from ("" when none) */
static int st_resume(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_store_resume(st, ld_checkcstr(L, 2), &b), &b);
}

static int st_recover(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	size_t n = 0;
	int rc = devsys_store_recover(st, &n);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, (lua_Integer)n);
	return 1;
}

static int st_run_record(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	return ld_ok(L, devsys_store_run_record(st, ld_checkcstr(L, 2), (unsigned int)luaL_checkinteger(L, 3)));
}

/* ---- the queue ---- */

/* store:submit(id [, profile [, schema]]) -> true | nil, msg, code */
static int st_submit(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2);
	return ld_ok(L, devsys_store_submit(st, id, ld_optcstr(L, 3, NULL), ld_optcstr(L, 4, NULL)));
}

/* store:claim(owner, host [, {profile, ...} [, lease_ms]]) -> task id | false (nothing to claim) | nil, msg, code */
static int st_claim(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *owner = ld_checkcstr(L, 2), *host = ld_checkcstr(L, 3);
	const char **profiles = NULL;
	size_t n = 0;
	unsigned int lease = (unsigned int)luaL_optinteger(L, 5, 0);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc;
	if (!lua_isnoneornil(L, 4))
		profiles = ld_str_list(L, 4, &n);
	rc = devsys_store_claim(&b, st, owner, host, profiles, n, lease);
	if (rc == DEVSYS_ENOTFOUND) {
		devsys_buf_dispose(&b);
		lua_pushboolean(L, 0);
		return 1;
	}
	return ld_buf_result(L, rc, &b);
}

/* store:heartbeat(id, owner [, lease_ms]) -> true | nil, msg, code (DEVSYS_ESTATE: the lease is lost) */
static int st_heartbeat(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2), *owner = ld_checkcstr(L, 3);
	return ld_ok(L, devsys_store_heartbeat(st, id, owner, (unsigned int)luaL_optinteger(L, 4, 0)));
}

/* store:release(id, owner [, reason]) -> true | nil, msg, code */
static int st_release(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2), *owner = ld_checkcstr(L, 3);
	return ld_ok(L, devsys_store_release(st, id, owner, ld_optcstr(L, 4, NULL)));
}

/* store:complete(id, owner) -> true | nil, msg, code */
static int st_complete(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2), *owner = ld_checkcstr(L, 3);
	return ld_ok(L, devsys_store_complete(st, id, owner));
}

/* store:document(id, name) -> a kept record document ("task.json", "tests/latest/summary.json", ...) | nil, msg, code */
static int st_document(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2), *name = ld_checkcstr(L, 3);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_store_document(&b, st, id, name), &b);
}

/*
 * store:document_changed(id, name [, version]) -> body, version | false,
 * version (unchanged since the read that gave it) | nil, msg, code. A
 * version no read gave (too long to be one, too) reads it again.
 */
static int st_document_changed(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	const char *id = ld_checkcstr(L, 2), *name = ld_checkcstr(L, 3);
	size_t len = 0;
	const char *given = luaL_optlstring(L, 4, "", &len);
	char version[DEVSYS_STORE_DOC_VERSION_MAX] = "";
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc;
	if (len < sizeof(version) && !memchr(given, '\0', len))
		memcpy(version, given, len + 1);
	rc = devsys_store_document_changed(&b, st, id, name, version, sizeof(version));
	if (rc < 0)
		return ld_buf_result(L, rc, &b);
	if (rc == 0) {
		lua_pushboolean(L, 0);
		lua_pushstring(L, version);
		return 2;
	}
	ld_pushbuf(L, &b);
	lua_pushstring(L, version);
	return 2;
}

/* store:backend() -> "sqlite" | "postgresql" */
static int st_backend(lua_State *L)
{
	lua_pushstring(L, devsys_store_backend_name(ld_check(L, 1, LD_STORE)));
	return 1;
}

/* store:wait_work(timeout_ms) -> woken (SQLite: false at once; a hint either way) */
static int st_wait_work(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	int rc = devsys_store_wait_work(st, (unsigned int)luaL_checkinteger(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, rc);
	return 1;
}

/* store:worker_beat{id=, host=, pid=, jobs=, lease_ms=, running=, claimed=, completed=, expiries=, stopped=} */
static int st_worker_beat(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_store_worker_info w = DEVSYS_STORE_WORKER_INFO_INIT;
	luaL_checktype(L, 2, LUA_TTABLE);
	w.id = ld_field_str(L, 2, "id", NULL);
	w.host = ld_field_str(L, 2, "host", NULL);
	w.pid = (long long)ld_field_int(L, 2, "pid", 0);
	w.jobs = (unsigned int)ld_field_int(L, 2, "jobs", 1);
	w.lease_ms = (unsigned int)ld_field_int(L, 2, "lease_ms", 30000);
	w.running = (unsigned long long)ld_field_int(L, 2, "running", 0);
	w.claimed = (unsigned long long)ld_field_int(L, 2, "claimed", 0);
	w.completed = (unsigned long long)ld_field_int(L, 2, "completed", 0);
	w.expiries = (unsigned long long)ld_field_int(L, 2, "expiries", 0);
	w.stopped = ld_field_bool(L, 2, "stopped", false);
	return ld_ok(L, devsys_store_worker_beat(st, &w));
}

/* store:workers_json() -> the worker registry as JSON text */
/* store:metrics() -> the Prometheus text of the store's gauges and counters */
static int st_metrics(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_store_metrics(st, &b), &b);
}

/* store:check([repair]) -> the drift report (JSON), how many drift entries | nil, msg, code */
static int st_check(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	size_t drift = 0;
	int rc = devsys_store_check(st, lua_toboolean(L, 2), &b, &drift);
	if (rc < 0) {
		devsys_buf_dispose(&b);
		return ld_fail(L, rc, NULL);
	}
	ld_pushbuf(L, &b);
	lua_pushinteger(L, (lua_Integer)drift);
	return 2;
}

/* store:folder_current(id) -> true (the task's folder answers) | false (the store answers) | nil, msg, code */
static int st_folder_current(lua_State *L)
{
	int rc = devsys_store_folder_current(ld_check(L, 1, LD_STORE), ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, rc);
	return 1;
}

static int st_workers_json(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_store_workers_json(st, &b), &b);
}

/* store:cancel_request(id [, reason]) -> true (asked of its holder) | false (canceled here) | nil, msg, code */
static int st_cancel_request(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	int rc = devsys_store_cancel_request(st, ld_checkcstr(L, 2), ld_optcstr(L, 3, NULL));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, rc);
	return 1;
}

/* store:cancel_requested(id) -> reason ("" when none given) | false (none requested) | nil, msg, code */
static int st_cancel_requested(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_store_cancel_requested(st, ld_checkcstr(L, 2), &b);
	if (rc <= 0) {
		devsys_buf_dispose(&b);
		if (rc < 0)
			return ld_fail(L, rc, NULL);
		lua_pushboolean(L, 0);
		return 1;
	}
	ld_pushbuf(L, &b);
	return 1;
}

/* store:claims_json([task_id]) -> {"queue": [...], "claims": [...]} as JSON text */
static int st_claims_json(lua_State *L)
{
	devsys_store *st = ld_check(L, 1, LD_STORE);
	devsys_buf b = DEVSYS_BUF_INIT;
	return ld_buf_result(L, devsys_store_claims_json(st, ld_optcstr(L, 2, NULL), &b), &b);
}

static int l_state_allowed(lua_State *L)
{
	lua_pushboolean(L, devsys_task_state_allowed(state_arg(L, 1), state_arg(L, 2)));
	return 1;
}
#endif

void ld_open_records(lua_State *L)
{
	(void)L; /* a build may have none of these modules */
#ifdef DEVSYS_FEATURE_CONFIG
	static const luaL_Reg cfg_fns[] = { { "config_load", l_config_load }, { "config_parse", l_config_parse }, { NULL, NULL } };
	static const luaL_Reg cfg_methods[] = {
		{ "runners", c_runners },         { "runner", c_runner },           { "runner_risk", c_runner_risk },
		{ "forges", c_forges },           { "forge_match", c_forge_match }, { "forge_value", c_forge_value },
		{ "runner_max_concurrent", c_runner_max_concurrent }, { "store", c_store }, { "agent_value", c_agent_value },
		{ NULL, NULL },
	};
	ld_register(L, LD_CONFIG, cfg_methods);
	luaL_setfuncs(L, cfg_fns, 0);
#endif
#ifdef DEVSYS_FEATURE_REPORT
	static const luaL_Reg rep_fns[] = { { "report", l_report }, { "report_parse_junit", l_report_parse_junit },
		                            { NULL, NULL } };
	static const luaL_Reg rep_methods[] = {
		{ "add_junit", r_add_junit },       { "add_junit_buffer", r_add_junit_buffer }, { "merge", r_merge },
		{ "tests", r_tests },               { "count", r_count },                       { "time", r_time },
		{ "cases", r_cases },               { "sources", r_sources },                   { "foreach", r_foreach },
		{ "junit", r_junit },               { "summary_json", r_summary_json },         { "write_junit", r_write_junit },
		{ "write_summary", r_write_summary }, { "cases_json", r_cases_json }, { NULL, NULL },
	};
	ld_register(L, LD_REPORT, rep_methods);
	luaL_setfuncs(L, rep_fns, 0);
#endif
#ifdef DEVSYS_FEATURE_RECORD
	static const luaL_Reg rec_fns[] = { { "record_open", l_record_open }, { "stage_check", l_stage_check },
		                            { "record_latest_run", l_latest_run }, { "record_events_since", l_events_since },
		                            { "record_events_foreach", l_events_foreach }, { "record_path", l_record_path },
		                            { NULL, NULL } };
	static const luaL_Reg rec_methods[] = {
		{ "set_string", rec_set_string },   { "set_int", rec_set_int },       { "set_json", rec_set_json },
		{ "set_spec", rec_set_spec },       { "set_repo_url", rec_set_repo_url }, { "stage_begin", rec_stage_begin },
		{ "stage_end", rec_stage_end },     { "save", rec_save },             { "json", rec_json },
		{ "event", rec_event },             { "run_begin", rec_run_begin },   { "run_add_junit", rec_run_add_junit },
		{ "run_complete", rec_run_complete }, { "write_acceptance", rec_write_acceptance },
		{ "log_path", rec_log_path },
#ifdef DEVSYS_FEATURE_GIT
		{ "git_step", rec_git_step },
#endif
		{ NULL, NULL },
	};
	ld_register(L, LD_RECORD, rec_methods);
	luaL_setfuncs(L, rec_fns, 0);
#endif
#ifdef DEVSYS_FEATURE_STORE
	static const luaL_Reg st_fns[] = { { "store_open", l_store_open }, { "task_state_allowed", l_state_allowed },
		                           { NULL, NULL } };
	static const luaL_Reg st_methods[] = {
		{ "task_create", st_task_create }, { "transition", st_transition }, { "stage_begin", st_stage_begin },
		{ "stage_end", st_stage_end },     { "task_state", st_task_state }, { "task_json", st_task_json },
		{ "list_json", st_list_json },     { "resume", st_resume },         { "recover", st_recover },
		{ "run_record", st_run_record },   { "submit", st_submit },         { "claim", st_claim },
		{ "heartbeat", st_heartbeat },     { "release", st_release },       { "complete", st_complete },
		{ "claims_json", st_claims_json }, { "backend", st_backend },       { "document", st_document },       { "document_changed", st_document_changed },       { "wait_work", st_wait_work },
		{ "worker_beat", st_worker_beat }, { "workers_json", st_workers_json },
		{ "cancel_request", st_cancel_request }, { "cancel_requested", st_cancel_requested },
		{ "metrics", st_metrics },         { "check", st_check },           { "folder_current", st_folder_current },
		{ NULL, NULL },
	};
	ld_register(L, LD_STORE, st_methods);
	luaL_setfuncs(L, st_fns, 0);
#endif
}
