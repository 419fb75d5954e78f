/*
 * The module table, handles, errors and callbacks, and the core handles:
 * workspace and task.
 */
#define LD_TRACE_NAMES /* ld_trace_gen.h's names table lives here */
#include "ldevsys.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local lua_State *ld_running;
_Thread_local int ld_plugin_err = LUA_NOREF; /* an error a Lua plug-in's slot raised, in ld_running's registry */

static _Thread_local int ld_depth; /* Lua calls the binding made from C, under way on this thread */

void ld_enter(lua_State *L)
{
	ld_running = L;
	if (ld_depth == 0 && ld_plugin_err != LUA_NOREF) {
		luaL_unref(L, LUA_REGISTRYINDEX, ld_plugin_err);
		ld_plugin_err = LUA_NOREF;
	}
}

int ld_pcall(lua_State *L, int nargs, int nresults)
{
	int rc;
	ld_depth++;
	rc = lua_pcall(L, nargs, nresults, 0);
	ld_depth--;
	ld_running = L; /* the callee may have entered the binding from another coroutine */
	return rc;
}

void ld_plugin_keep_error(lua_State *L)
{
	if (ld_plugin_err == LUA_NOREF)
		ld_plugin_err = luaL_ref(L, LUA_REGISTRYINDEX);
	else
		lua_pop(L, 1); /* the first error is the one to raise again */
}

void ld_plugin_take_error(lua_State *L, ld_cb *cb)
{
	if (ld_plugin_err == LUA_NOREF)
		return;
	if (cb->err == LUA_NOREF)
		cb->err = ld_plugin_err;
	else
		luaL_unref(L, LUA_REGISTRYINDEX, ld_plugin_err);
	ld_plugin_err = LUA_NOREF;
}

void ld_plugin_raise_pending(lua_State *L)
{
	ld_cb cb;
	ld_cb_init(&cb);
	ld_plugin_take_error(L, &cb);
	ld_cb_raise_pending(L, &cb);
}

/* ---- handles ---- */

static int ld_release(lua_State *L)
{
	ld_handle *h = lua_touserdata(L, 1);
	if (h && h->p && h->release)
		h->release(L, h);
	if (h)
		h->p = NULL;
	return 0;
}

static int ld_tostring(lua_State *L)
{
	ld_handle *h = lua_touserdata(L, 1);
	const char *name = luaL_getmetafield(L, 1, "__name") == LUA_TSTRING ? lua_tostring(L, -1) : "devsys handle";
	if (h && h->p)
		lua_pushfstring(L, "%s: %p", name, h->p);
	else
		lua_pushfstring(L, "%s (closed)", name);
	return 1;
}

static int ld_is_closed(lua_State *L)
{
	ld_handle *h = lua_touserdata(L, 1);
	lua_pushboolean(L, !h || !h->p);
	return 1;
}

void ld_register(lua_State *L, const char *tname, const luaL_Reg *methods)
{
	luaL_newmetatable(L, tname);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_pushcfunction(L, ld_release);
	lua_setfield(L, -2, "close");
	lua_pushcfunction(L, ld_is_closed);
	lua_setfield(L, -2, "closed");
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, ld_release);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, ld_release);
	lua_setfield(L, -2, "__close");
	lua_pushcfunction(L, ld_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pop(L, 1);
}

void *ld_new(lua_State *L, const char *tname, size_t size, void *p, void (*release)(lua_State *L, ld_handle *h))
{
	ld_handle *h = lua_newuserdatauv(L, size, 1);
	memset(h, 0, size);
	h->p = p;
	h->release = release;
	luaL_setmetatable(L, tname);
	return h;
}

ld_handle *ld_ud(lua_State *L, int idx, const char *tname)
{
	return luaL_checkudata(L, idx, tname);
}

void *ld_check(lua_State *L, int idx, const char *tname)
{
	ld_handle *h = luaL_checkudata(L, idx, tname);
	if (!h->p)
		luaL_error(L, "bad argument #%d: the %s is closed", idx, tname);
	ld_enter(L);
	return h->p;
}

const char *ld_checkcstr(lua_State *L, int idx)
{
	size_t len;
	const char *s = luaL_checklstring(L, idx, &len);
	if (strlen(s) != len)
		luaL_argerror(L, idx, "string contains a NUL byte");
	return s;
}

const char *ld_optcstr(lua_State *L, int idx, const char *def)
{
	return lua_isnoneornil(L, idx) ? def : ld_checkcstr(L, idx);
}

const char *ld_field_str(lua_State *L, int idx, const char *k, const char *def)
{
	const char *s = def;
	if (lua_isnoneornil(L, idx))
		return def;
	lua_getfield(L, idx, k);
	if (!lua_isnil(L, -1)) {
		size_t len;
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "option '%s' must be a string, not %s", k, luaL_typename(L, -1));
		s = lua_tolstring(L, -1, &len);
		if (strlen(s) != len)
			luaL_error(L, "option '%s' contains a NUL byte", k);
	}
	lua_pop(L, 1); /* the string stays alive: the options table holds it */
	return s;
}

lua_Integer ld_field_int(lua_State *L, int idx, const char *k, lua_Integer def)
{
	lua_Integer v = def;
	int isnum = 0;
	if (lua_isnoneornil(L, idx))
		return def;
	lua_getfield(L, idx, k);
	if (!lua_isnil(L, -1)) {
		v = lua_tointegerx(L, -1, &isnum);
		if (!isnum)
			luaL_error(L, "option '%s' must be an integer, not %s", k, luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	return v;
}

bool ld_field_bool(lua_State *L, int idx, const char *k, bool def)
{
	bool v = def;
	if (lua_isnoneornil(L, idx))
		return def;
	lua_getfield(L, idx, k);
	if (!lua_isnil(L, -1))
		v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

/* Strings of an array field as a NULL-terminated vector in a new userdata (kept on the stack). */
const char **ld_str_list(lua_State *L, int idx, size_t *n)
{
	const char **v;
	idx = lua_absindex(L, idx);
	luaL_checktype(L, idx, LUA_TTABLE);
	*n = (size_t)lua_rawlen(L, idx);
	/* the vector stays on the stack for the call; the argument's table keeps the strings */
	v = lua_newuserdatauv(L, (*n + 1) * sizeof(*v), 0);
	for (size_t i = 0; i < *n; i++) {
		size_t len;
		lua_rawgeti(L, idx, (lua_Integer)i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, idx, "expected a list of strings");
		v[i] = lua_tolstring(L, -1, &len);
		if (strlen(v[i]) != len)
			luaL_argerror(L, idx, "a string contains a NUL byte");
		lua_pop(L, 1);
	}
	v[*n] = NULL;
	return v;
}

const char **ld_str_array(lua_State *L, int idx, const char *k, size_t *n)
{
	const char **v;
	*n = 0;
	if (lua_isnoneornil(L, idx))
		return NULL;
	lua_getfield(L, idx, k);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return NULL;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	*n = (size_t)lua_rawlen(L, -1);
	/* the vector stays on the stack for the call; the caller's options table keeps the strings */
	v = lua_newuserdatauv(L, (*n + 1) * sizeof(*v), 0);
	lua_insert(L, -2);
	for (size_t i = 0; i < *n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "option '%s'[%d] must be a string", k, (int)i + 1);
		v[i] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	v[*n] = NULL;
	lua_pop(L, 1);
	return v;
}

/* ---- errors ---- */

/* The detail of the last failure ld_fail() returned on this thread, for devsys.error_detail(). */
static _Thread_local int ld_last_status;
static _Thread_local char ld_last_detail[2048];

/*
 * devsys.error_detail() -> http_status (0: none), the remote's own message (nil: none) of the last
 * failure a call returned as nil, message, code on this thread (a forge's answer)
 */
static int l_error_detail(lua_State *L)
{
	lua_pushinteger(L, ld_last_status);
	ld_pushstr(L, ld_last_detail[0] ? ld_last_detail : NULL);
	return 2;
}

int ld_fail(lua_State *L, int rc, ld_cb *cb)
{
	ld_cb none;
	const char *detail = devsys_error_detail(devsys_error_last());
	ld_last_status = devsys_error_http_status(devsys_error_last());
	snprintf(ld_last_detail, sizeof(ld_last_detail), "%s", detail ? detail : "");
	if (rc == DEVSYS_EUSER) { /* a Lua plug-in's slot raised inside this call: raise that */
		if (!cb) {
			ld_cb_init(&none);
			cb = &none;
		}
		ld_plugin_take_error(L, cb);
	}
	if (cb && cb->err != LUA_NOREF) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, cb->err);
		luaL_unref(L, LUA_REGISTRYINDEX, cb->err);
		cb->err = LUA_NOREF;
		lua_error(L);
	}
	lua_pushnil(L);
	lua_pushstring(L, devsys_error_message(devsys_error_last()));
	lua_pushinteger(L, rc);
	return 3;
}

void ld_pushbuf(lua_State *L, devsys_buf *b)
{
	lua_pushlstring(L, b->ptr ? b->ptr : "", b->size);
	devsys_buf_dispose(b);
}

void ld_pushstr(lua_State *L, const char *s)
{
	if (s)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
}

int ld_ok(lua_State *L, int rc)
{
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

int ld_buf_result(lua_State *L, int rc, devsys_buf *b)
{
	if (rc < 0) {
		devsys_buf_dispose(b);
		return ld_fail(L, rc, NULL);
	}
	ld_pushbuf(L, b);
	return 1;
}

static int dead_gc(lua_State *L)
{
	int **dead = lua_touserdata(L, 1);
	if (dead && *dead)
		**dead = 1;
	return 0;
}

void ld_mark_dead_at_close(lua_State *L, int *dead)
{
	int **sentinel = lua_newuserdatauv(L, sizeof(*sentinel), 0);
	*sentinel = dead;
	lua_newtable(L);
	lua_pushcfunction(L, dead_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	luaL_ref(L, LUA_REGISTRYINDEX);
}

void ld_add_method(lua_State *L, const char *tname, const char *name, lua_CFunction fn)
{
	luaL_getmetatable(L, tname);
	lua_getfield(L, -1, "__index");
	lua_pushcfunction(L, fn);
	lua_setfield(L, -2, name);
	lua_pop(L, 2);
}

static char absent_key; /* ld_lookup_k's answer for a missing method */

int ld_lookup_k(lua_State *L)
{
	lua_getfield(L, 1, lua_tostring(L, 2));
	if (lua_isnil(L, -1))
		lua_pushlightuserdata(L, &absent_key);
	return 1;
}

bool ld_absent(lua_State *L, int idx)
{
	return lua_touserdata(L, idx) == &absent_key;
}

/* ---- callbacks ---- */

void ld_cb_init(ld_cb *cb)
{
	cb->fn = LUA_NOREF;
	cb->err = LUA_NOREF;
}

void ld_cb_set(lua_State *L, ld_cb *cb, int idx)
{
	ld_cb_clear(L, cb);
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TFUNCTION);
	lua_pushvalue(L, idx);
	cb->fn = luaL_ref(L, LUA_REGISTRYINDEX);
}

void ld_cb_clear(lua_State *L, ld_cb *cb)
{
	luaL_unref(L, LUA_REGISTRYINDEX, cb->fn);
	luaL_unref(L, LUA_REGISTRYINDEX, cb->err);
	ld_cb_init(cb);
}

bool ld_cb_push(ld_cb *cb)
{
	if (!ld_running || cb->fn == LUA_NOREF || cb->fn == LUA_REFNIL)
		return false;
	lua_rawgeti(ld_running, LUA_REGISTRYINDEX, cb->fn);
	return true;
}

int ld_cb_call(ld_cb *cb, int nargs, int nresults)
{
	lua_State *L = ld_running;
	int rc = ld_pcall(L, nargs, nresults);
	if (rc != LUA_OK) {
		if (cb->err == LUA_NOREF)
			cb->err = luaL_ref(L, LUA_REGISTRYINDEX);
		else
			lua_pop(L, 1);
		return 1;
	}
	if (nresults > 0 && lua_isboolean(L, -nresults) && !lua_toboolean(L, -nresults)) {
		lua_pop(L, nresults);
		return 1; /* an explicit false cancels */
	}
	return 0;
}

void ld_cb_raise_pending(lua_State *L, ld_cb *cb)
{
	if (cb->err == LUA_NOREF)
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, cb->err);
	luaL_unref(L, LUA_REGISTRYINDEX, cb->err);
	cb->err = LUA_NOREF;
	lua_error(L);
}

/* ---- library ---- */

/* devsys.version_numbers() -> major, minor, patch (the run-time library's) */
static int l_version_numbers(lua_State *L)
{
	int major = 0, minor = 0, patch = 0;
	devsys_version_numbers(&major, &minor, &patch);
	lua_pushinteger(L, major);
	lua_pushinteger(L, minor);
	lua_pushinteger(L, patch);
	return 3;
}

static int l_version(lua_State *L)
{
	lua_pushstring(L, devsys_version());
	return 1;
}

static int l_features(lua_State *L)
{
	const char *f = devsys_features();
	lua_newtable(L);
	for (const char *p = f; *p;) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		lua_pushlstring(L, p, n);
		lua_pushboolean(L, 1);
		lua_settable(L, -3);
		p += n;
		while (*p == ' ')
			p++;
	}
	return 1;
}

static int l_feature_enabled(lua_State *L)
{
	lua_pushboolean(L, devsys_feature_enabled(ld_checkcstr(L, 1)));
	return 1;
}

static int l_error_name(lua_State *L)
{
	lua_pushstring(L, devsys_error_name((int)luaL_checkinteger(L, 1)));
	return 1;
}

static int l_strerror(lua_State *L)
{
	lua_pushstring(L, devsys_strerror((int)luaL_checkinteger(L, 1)));
	return 1;
}

static int l_log_level_name(lua_State *L)
{
	lua_pushstring(L, devsys_log_level_name((int)luaL_checkinteger(L, 1)));
	return 1;
}

/* ---- workspace ---- */

typedef struct {
	ld_handle h;
	ld_cb log;
} ld_workspace;

static void ws_log_cb(int level, const char *component, const char *message, void *payload)
{
	ld_cb *cb = payload;
	if (!ld_cb_push(cb))
		return;
	lua_pushinteger(ld_running, level);
	lua_pushstring(ld_running, component);
	lua_pushstring(ld_running, message);
	ld_cb_call(cb, 3, 0); /* a log line cannot abort its caller: ws:log() raises the error */
}

static void ws_release(lua_State *L, ld_handle *h)
{
	ld_workspace *w = (ld_workspace *)h;
	/* tasks and runners may keep the workspace: they must not call into Lua after this */
	devsys_workspace_set_logger(h->p, DEVSYS_LOG_NONE, NULL, NULL);
	devsys_workspace_free(h->p);
	ld_cb_clear(L, &w->log);
}

/* devsys.workspace([path [, {log = fn(level, component, message), log_level = n, dir_mode = n}]]) */
static int l_workspace(lua_State *L)
{
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	const char *path = ld_optcstr(L, 1, NULL);
	devsys_workspace *ws = NULL;
	ld_workspace *w;
	int rc;

	ld_enter(L);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	w = ld_new(L, LD_WORKSPACE, sizeof(*w), NULL, ws_release);
	ld_cb_init(&w->log);
	o.log_level = (int)ld_field_int(L, 2, "log_level", DEVSYS_LOG_INFO);
	o.dir_mode = (unsigned int)ld_field_int(L, 2, "dir_mode", 0);
	if (!lua_isnoneornil(L, 2)) {
		lua_getfield(L, 2, "log");
		ld_cb_set(L, &w->log, -1);
		lua_pop(L, 1);
		if (w->log.fn != LUA_NOREF) {
			o.log_cb = ws_log_cb;
			o.log_payload = &w->log;
		}
	}
	if ((rc = devsys_workspace_open(&ws, path, &o)) < 0) {
		ld_cb_clear(L, &w->log);
		return ld_fail(L, rc, NULL);
	}
	w->h.p = ws;
	return 1;
}

static int ws_path(lua_State *L)
{
	lua_pushstring(L, devsys_workspace_path(ld_check(L, 1, LD_WORKSPACE)));
	return 1;
}

static int ws_log(lua_State *L)
{
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	ld_workspace *w = (ld_workspace *)ld_ud(L, 1, LD_WORKSPACE);
	int level = (int)luaL_checkinteger(L, 2);
	const char *component = ld_checkcstr(L, 3);
	const char *message = ld_checkcstr(L, 4);
	devsys_workspace_log(ws, level, component, "%s", message);
	ld_cb_raise_pending(L, &w->log);
	ld_plugin_raise_pending(L); /* a Lua redactor that raised (the message was dropped) */
	return 0;
}

static int ws_set_log_level(lua_State *L)
{
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	ld_workspace *w = (ld_workspace *)ld_ud(L, 1, LD_WORKSPACE);
	int level = (int)luaL_checkinteger(L, 2);
	int rc = w->log.fn != LUA_NOREF ? devsys_workspace_set_logger(ws, level, ws_log_cb, &w->log)
	                                : devsys_workspace_set_logger(ws, level, NULL, NULL);
	return ld_ok(L, rc);
}

static int l_default_path(lua_State *L)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_workspace_default_path(&b);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushbuf(L, &b);
	return 1;
}

/* ---- task ---- */

static void task_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_task_free(h->p);
}

/* ws:task(id [, {create = bool, exclusive = bool}]) */
static int ws_task(lua_State *L)
{
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	const char *id = ld_checkcstr(L, 2);
	unsigned int flags = 0;
	devsys_task *t = NULL;
	int rc;
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	if (ld_field_bool(L, 3, "create", false))
		flags |= DEVSYS_TASK_CREATE;
	if (ld_field_bool(L, 3, "exclusive", false))
		flags |= DEVSYS_TASK_EXCLUSIVE;
	if ((rc = devsys_task_open(&t, ws, id, flags)) < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_TASK, sizeof(ld_handle), t, task_release);
	return 1;
}

static int l_task_id_check(lua_State *L)
{
	int rc = devsys_task_id_check(ld_checkcstr(L, 1));
	return ld_ok(L, rc);
}

static int task_id(lua_State *L)
{
	lua_pushstring(L, devsys_task_id(ld_check(L, 1, LD_TASK)));
	return 1;
}

static int task_path(lua_State *L)
{
	lua_pushstring(L, devsys_task_path(ld_check(L, 1, LD_TASK)));
	return 1;
}

static int task_workspace_path(lua_State *L)
{
	lua_pushstring(L, devsys_workspace_path(devsys_task_workspace(ld_check(L, 1, LD_TASK))));
	return 1;
}

static int task_path_join(lua_State *L)
{
	devsys_task *t = ld_check(L, 1, LD_TASK);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_task_path_join(&b, t, ld_checkcstr(L, 2));
	return ld_buf_result(L, rc, &b);
}

/* ---- the module ---- */

static int sentinel_gc(lua_State *L)
{
	(void)L;
	devsys_shutdown();
	return 0;
}

static void push_codes(lua_State *L)
{
	lua_newtable(L);
	for (int code = 0; code >= -200; code--) {
		const char *name = devsys_error_name(code);
		if (strcmp(name, "DEVSYS_EUNKNOWN") == 0)
			continue;
		/* "DEVSYS_EINVALID" -> E.INVALID; DEVSYS_OK and DEVSYS_ERROR keep their names */
		const char *key = strncmp(name, "DEVSYS_E", 8) == 0 && strcmp(name, "DEVSYS_ERROR") != 0 ? name + 8 : name + 7;
		lua_pushinteger(L, code);
		lua_setfield(L, -2, key);
	}
}

void ld_open_core(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "version", l_version },
		{ "version_numbers", l_version_numbers },
		{ "error_detail", l_error_detail },
		{ "features", l_features },
		{ "feature_enabled", l_feature_enabled },
		{ "error_name", l_error_name },
		{ "strerror", l_strerror },
		{ "log_level_name", l_log_level_name },
		{ "workspace", l_workspace },
		{ "workspace_default_path", l_default_path },
		{ "task_id_check", l_task_id_check },
		{ NULL, NULL },
	};
	static const luaL_Reg ws_methods[] = {
		{ "path", ws_path },
		{ "log", ws_log },
		{ "set_log_level", ws_set_log_level },
		{ "task", ws_task },
		{ NULL, NULL },
	};
	static const luaL_Reg task_methods[] = {
		{ "id", task_id },
		{ "path", task_path },
		{ "workspace_path", task_workspace_path },
		{ "path_join", task_path_join },
		{ NULL, NULL },
	};
	ld_register(L, LD_WORKSPACE, ws_methods);
	ld_register(L, LD_TASK, task_methods);
	luaL_setfuncs(L, fns, 0);
	push_codes(L);
	lua_setfield(L, -2, "E");
	lua_pushinteger(L, DEVSYS_ABI_VERSION);
	lua_setfield(L, -2, "ABI_VERSION");
	lua_newtable(L);
	static const char *const levels[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "NONE" };
	for (int i = 0; i <= DEVSYS_LOG_NONE; i++) {
		lua_pushinteger(L, i);
		lua_setfield(L, -2, levels[i]);
	}
	lua_setfield(L, -2, "LOG");
}

/* The only exported symbol: require "devsys" looks it up. */
#if defined(LD_TRACE) && defined(__GNUC__)
/* ---- call tracing (ldevsys.h) ---- */

int ld_trace_on;
_Atomic unsigned char ld_trace_hits[LD_TRACE_N];
/* the linker's bounds of the call-site records */
extern const unsigned short __start_ld_trace_sites[] __attribute__((weak, visibility("hidden")));
extern const unsigned short __stop_ld_trace_sites[] __attribute__((weak, visibility("hidden")));

/*
 * devsys._trace() -> { [name] = called } for every exported function a call
 * site in this module calls (called: since the module loaded, with
 * DEVSYS_LUA_TRACE_CALLS=1), or nil when tracing is off.
 */
static int l_trace(lua_State *L)
{
	if (!ld_trace_on) {
		lua_pushnil(L);
		return 1;
	}
	lua_newtable(L);
	for (const unsigned short *s = __start_ld_trace_sites; s && s < __stop_ld_trace_sites; s++) {
		if (*s >= LD_TRACE_N)
			continue;
		lua_pushboolean(L, atomic_load_explicit(&ld_trace_hits[*s], memory_order_relaxed));
		lua_setfield(L, -2, ld_trace_names[*s]);
	}
	return 1;
}

static void trace_open(lua_State *L)
{
	lua_pushcfunction(L, l_trace);
	lua_setfield(L, -2, "_trace");
}
#else
static void trace_open(lua_State *L)
{
	(void)L;
}
#endif

__attribute__((visibility("default"))) int luaopen_devsys(lua_State *L);

int luaopen_devsys(lua_State *L)
{
	int rc;
	Dl_info info;
#if defined(LD_TRACE) && defined(__GNUC__)
	const char *trace = getenv("DEVSYS_LUA_TRACE_CALLS");
	ld_trace_on = trace && !strcmp(trace, "1"); /* before the first traced call, devsys_init() */
#endif
	/*
	 * lua_close() unloads C modules. libdevsys and the libraries under it
	 * (libgit2, libcurl, OpenSSL) keep process-wide state that must not be
	 * unloaded and loaded again, so pin this module and libdevsys for the
	 * life of the process.
	 */
	if (dladdr((void *)luaopen_devsys, &info) && info.dli_fname)
		(void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE | RTLD_NOLOAD);
	if (dladdr((void *)devsys_version, &info) && info.dli_fname)
		(void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE | RTLD_NOLOAD);
	rc = devsys_init();
	if (rc < 0)
		return luaL_error(L, "devsys: devsys_init() failed: %s", devsys_error_message(devsys_error_last()));
	/* devsys_shutdown() when the state closes: the sentinel is finalized after every handle made later */
	lua_newuserdatauv(L, 1, 0);
	lua_newtable(L);
	lua_pushcfunction(L, sentinel_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_setfield(L, LUA_REGISTRYINDEX, "devsys.sentinel");

	lua_newtable(L);
	trace_open(L);
	ld_open_core(L);
#ifdef DEVSYS_FEATURE_SPEC
	ld_open_spec(L);
#endif
#ifdef DEVSYS_FEATURE_GIT
	ld_open_repo(L);
#endif
#ifdef DEVSYS_FEATURE_RUNNER
	ld_open_runner(L);
#endif
#ifdef DEVSYS_FEATURE_SECRETS
	ld_open_secrets(L);
#endif
	ld_open_records(L);
	ld_open_forge(L);
#ifdef DEVSYS_FEATURE_PIPELINE
	ld_open_pipeline(L);
#endif
#ifdef DEVSYS_FEATURE_SPECKIT
	ld_open_speckit(L);
#endif
#ifdef DEVSYS_FEATURE_AGENT
	ld_open_agent(L);
#endif
#ifdef DEVSYS_FEATURE_WORKER
	ld_open_worker(L);
#endif
	ld_open_plugins(L);
	return 1;
}
