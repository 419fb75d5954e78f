/*
 * Agent kinds written in Lua (devsys/sys/agent.h): devsys.register_agent(name,
 * factory) makes `agent.kind: <name>` run the adapter table factory(request)
 * returns. The slots run inside the p:run() (or p:code(), p:run_stage())
 * that reached the agent stage, on that call's Lua state; an error raised in
 * one fails the stage with DEVSYS_EUSER and p:run() raises it again.
 *
 * A registration is process-wide and the library has no unregister: the
 * kind's payload is kept for the life of the process (on a static list, so
 * it stays reachable), and it is marked dead when the Lua state that
 * registered it closes, after which the kind refuses to open.
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_AGENT


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ld_kind {
	struct ld_kind *next; /* the static list that keeps every payload reachable */
	lua_State *main;      /* the registering state's main thread */
	int factory;          /* registry ref of the factory there */
	int dead;             /* that state closed */
	char name[64];
} ld_kind;

typedef struct ld_agent {
	ld_kind *kind;
	int obj;              /* registry ref of the adapter table */
	char **argv, **env;   /* copies, borrowed by the library until close */
	char **pre_argv;      /* preflight()'s copy, borrowed until close */
	char *stop, *status;
} ld_agent;

static ld_kind *kinds;

static void free_vec(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The state to run a slot of @p k on, or NULL with the error set. */
static lua_State *slot_state(ld_kind *k)
{
	lua_State *L = ld_running, *main;
	if (k->dead || !L)
		return devsys_error_set_str(DEVSYS_EUSER, k->dead ? "the Lua state that registered this agent kind is closed"
		                                                  : "a Lua agent kind runs only inside a Lua call"),
		       NULL;
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	main = lua_tothread(L, -1);
	lua_pop(L, 1);
	if (main != k->main) {
		devsys_error_set_str(DEVSYS_EUSER, "a Lua agent kind runs only in the Lua state that registered it");
		return NULL;
	}
	return L;
}

/* Keep the error on top of @p L for p:run() and return DEVSYS_EUSER with a message naming the slot. */
static int slot_failed(lua_State *L, const char *kind, const char *slot)
{
	char msg[512];
	const char *e = lua_tostring(L, -1);
	snprintf(msg, sizeof(msg), "agent kind '%s': %s raised: %s", kind, slot, e ? e : "(an error object)");
	ld_plugin_keep_error(L);
	return devsys_error_set_str(DEVSYS_EUSER, msg);
}

/* Call adapter method @p m with @p nargs pushed after (self, method): 0, its results on the stack. */
static int call_method(lua_State *L, ld_agent *a, const char *m, int nargs, int nres, bool *absent)
{
	*absent = false;
	lua_pushcfunction(L, ld_lookup_k);
	lua_rawgeti(L, LUA_REGISTRYINDEX, a->obj);
	lua_pushstring(L, m);
	if (ld_pcall(L, 2, 1) != LUA_OK) { /* looking it up raised: drop the args under the error */
		for (int i = 0; i < nargs; i++)
			lua_remove(L, -2);
		return slot_failed(L, a->kind->name, m);
	}
	if (ld_absent(L, -1)) {
		lua_pop(L, 1 + nargs);
		*absent = true;
		return 0;
	}
	lua_insert(L, -1 - nargs); /* fn below the args */
	lua_rawgeti(L, LUA_REGISTRYINDEX, a->obj);
	lua_insert(L, -1 - nargs); /* self right after fn */
	if (ld_pcall(L, nargs + 1, nres) != LUA_OK) {
		ld_running = L;
		return slot_failed(L, a->kind->name, m);
	}
	ld_running = L;
	return 0;
}

static void push_request(lua_State *L, const devsys_agent_request *req, const char *kind)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	lua_createtable(L, 0, 6);
	lua_pushstring(L, kind);
	lua_setfield(L, -2, "kind");
	ld_pushstr(L, req->task ? devsys_task_id(req->task) : NULL);
	lua_setfield(L, -2, "task_id");
	ld_pushstr(L, req->checkout);
	lua_setfield(L, -2, "checkout");
	ld_pushstr(L, req->home);
	lua_setfield(L, -2, "home");
	ld_pushstr(L, req->input);
	lua_setfield(L, -2, "input");
	if (req->spec && devsys_node_to_json(&b, devsys_spec_at(req->spec, 0)) == 0)
		ld_pushbuf(L, &b);
	else {
		devsys_buf_dispose(&b);
		lua_pushnil(L);
	}
	lua_setfield(L, -2, "spec_json");
}

static int a_open(void **self, const devsys_agent_request *req, void *payload)
{
	ld_kind *k = payload;
	lua_State *L = slot_state(k);
	ld_agent *a;
	if (!L)
		return DEVSYS_EUSER;
	lua_rawgeti(L, LUA_REGISTRYINDEX, k->factory);
	push_request(L, req, k->name);
	if (ld_pcall(L, 1, 1) != LUA_OK) {
		ld_running = L;
		return slot_failed(L, k->name, "the factory");
	}
	ld_running = L;
	if (!lua_istable(L, -1)) {
		lua_pushfstring(L, "the factory returned a %s, not an adapter table", luaL_typename(L, -1));
		lua_remove(L, -2);
		return slot_failed(L, k->name, "open");
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		lua_pop(L, 1);
		return devsys_error_set_str(DEVSYS_ENOMEM, "out of memory");
	}
	a->kind = k;
	a->obj = luaL_ref(L, LUA_REGISTRYINDEX);
	*self = a;
	return 0;
}

/* The strings of the list at @p idx (NULL when nil) as a NULL-terminated copy, or NULL with *bad set. */
static char **copy_list(lua_State *L, int idx, bool env, bool *bad)
{
	size_t n = 0, i = 0;
	char **v;
	*bad = false;
	idx = lua_absindex(L, idx); /* lua_next pushes */
	if (lua_isnil(L, idx))
		return NULL;
	if (!lua_istable(L, idx) || (!env && lua_rawlen(L, idx) == 0)) {
		*bad = true;
		return NULL;
	}
	if (env) {
		for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1))
			n++;
	} else
		n = lua_rawlen(L, idx);
	if (!(v = calloc(n + 1, sizeof(*v)))) {
		*bad = true;
		return NULL;
	}
	if (!env)
		for (i = 0; i < n && !*bad; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i + 1);
			size_t len;
			const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
			*bad = !s || strlen(s) != len || !(v[i] = strdup(s));
			lua_pop(L, 1);
		}
	else
		for (lua_pushnil(L); !*bad && lua_next(L, idx); lua_pop(L, 1)) {
			const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
			const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
			size_t need = k && s ? strlen(k) + strlen(s) + 2 : 0;
			*bad = !need || strchr(k, '=') || !(v[i] = malloc(need));
			if (!*bad)
				snprintf(v[i++], need, "%s=%s", k, s);
			else
				lua_pop(L, 2); /* the key and value: leaving the loop */
		}
	if (*bad) {
		free_vec(v);
		return NULL;
	}
	return v;
}

/* adapter:command() -> { argv... } [, { NAME = value }] */
static int a_command(void *self, const char *const **argv, const char *const **env)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent, bad1, bad2;
	int rc;
	if (!L)
		return DEVSYS_EUSER;
	if ((rc = call_method(L, a, "command", 0, 2, &absent)) < 0)
		return rc;
	if (absent) {
		lua_pushstring(L, "the adapter has no command method");
		return slot_failed(L, a->kind->name, "command");
	}
	free_vec(a->argv);
	free_vec(a->env);
	a->argv = copy_list(L, -2, false, &bad1);
	a->env = copy_list(L, -1, true, &bad2);
	lua_pop(L, 2);
	if (bad1 || bad2 || !a->argv) {
		lua_pushstring(L, bad1 || !a->argv ? "command() must return a non-empty list of strings (argv)"
		                                   : "command()'s environment must map names (without '=') to strings");
		return slot_failed(L, a->kind->name, "command");
	}
	*argv = (const char *const *)a->argv;
	*env = (const char *const *)a->env;
	return 0;
}

/*
 * adapter:line(text) / adapter:err_line(text) -> nil/0 | "event" / devsys.AGENT_EVENT | "stop" /
 * devsys.AGENT_STOP | "stall" / devsys.AGENT_STALL (err_line: nil or "stall" only)
 */
static int a_lines(void *self, const char *m, const char *line, size_t len)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent, err = !strcmp(m, "err_line");
	int rc, r = 0;
	if (!L)
		return DEVSYS_EUSER;
	lua_pushlstring(L, line, len);
	if ((rc = call_method(L, a, m, 1, 1, &absent)) < 0 || absent)
		return rc;
	if (lua_type(L, -1) == LUA_TSTRING)
		r = !strcmp(lua_tostring(L, -1), "event") ? DEVSYS_AGENT_EVENT
		  : !strcmp(lua_tostring(L, -1), "stop")  ? DEVSYS_AGENT_STOP
		  : !strcmp(lua_tostring(L, -1), "stall") ? DEVSYS_AGENT_STALL
		                                          : -1;
	else if (lua_isinteger(L, -1))
		r = (int)lua_tointeger(L, -1);
	else if (!lua_isnil(L, -1))
		r = -1;
	lua_pop(L, 1);
	if (err ? r != 0 && r != DEVSYS_AGENT_STALL
	        : r != 0 && r != DEVSYS_AGENT_EVENT && r != DEVSYS_AGENT_STOP && r != DEVSYS_AGENT_STALL) {
		lua_pushstring(L, err ? "err_line() must return nil or \"stall\""
		                      : "line() must return nil, \"event\", \"stop\" or \"stall\"");
		return slot_failed(L, a->kind->name, m);
	}
	return r;
}

static int a_line(void *self, const char *line, size_t len)
{
	return a_lines(self, "line", line, len);
}

static int a_err_line(void *self, const char *line, size_t len)
{
	return a_lines(self, "err_line", line, len);
}

/* adapter:preflight() -> nil (none) | { argv... }: a command run first, its stdout to preflight_check */
static int a_preflight(void *self, const char *const **argv)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent, bad;
	int rc;
	*argv = NULL;
	if (!L)
		return DEVSYS_EUSER;
	if ((rc = call_method(L, a, "preflight", 0, 1, &absent)) < 0 || absent)
		return rc;
	free_vec(a->pre_argv);
	a->pre_argv = copy_list(L, -1, false, &bad);
	lua_pop(L, 1);
	if (bad) {
		lua_pushstring(L, "preflight() must return nil or a non-empty list of strings (argv)");
		return slot_failed(L, a->kind->name, "preflight");
	}
	*argv = (const char *const *)a->pre_argv;
	return 0;
}

/*
 * adapter:preflight_check(exit_code, stdout) -> nothing / true to go on | false, message: the agent does
 * not run (DEVSYS_EINVALID, the message naming what was found and what is expected)
 */
static int a_preflight_check(void *self, int exit_code, const char *out, size_t len)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent;
	int rc;
	if (!L)
		return DEVSYS_EUSER;
	lua_pushinteger(L, exit_code);
	lua_pushlstring(L, out, len);
	if ((rc = call_method(L, a, "preflight_check", 2, 2, &absent)) < 0)
		return rc;
	if (absent)
		return exit_code == 0 ? 0 : devsys_error_set(DEVSYS_EINVALID, "agent kind '%s': its preflight command "
		                                                              "failed (exit %d)", a->kind->name, exit_code);
	if (lua_isboolean(L, -2) && !lua_toboolean(L, -2)) {
		const char *m = lua_tostring(L, -1);
		rc = devsys_error_set(DEVSYS_EINVALID, "agent kind '%s': preflight: %s", a->kind->name,
		                      m ? m : "refused (no message given)");
	}
	lua_pop(L, 2);
	return rc;
}

/* adapter:status() -> label, step, max (nil: nothing to show) for the live progress view */
static const char *a_status(void *self, uint64_t *step, uint64_t *max)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent;
	*step = *max = 0;
	if (!L || call_method(L, a, "status", 0, 3, &absent) < 0 || absent)
		return NULL;
	free(a->status);
	a->status = lua_type(L, -3) == LUA_TSTRING ? strdup(lua_tostring(L, -3)) : NULL;
	*step = lua_isinteger(L, -2) && lua_tointeger(L, -2) > 0 ? (uint64_t)lua_tointeger(L, -2) : 0;
	*max = lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0 ? (uint64_t)lua_tointeger(L, -1) : 0;
	lua_pop(L, 3);
	return a->status;
}

/* adapter:usage() -> a JSON object's text, or nil */
static int a_usage(void *self, char **json)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent;
	size_t len;
	int rc;
	*json = NULL;
	if (!L)
		return DEVSYS_EUSER;
	if ((rc = call_method(L, a, "usage", 0, 1, &absent)) < 0 || absent)
		return rc;
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return 0;
	}
	const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
	if (!s || strlen(s) != len) {
		lua_pop(L, 1);
		lua_pushstring(L, "usage() must return a JSON object's text or nil");
		return slot_failed(L, a->kind->name, "usage");
	}
	if ((*json = devsys_malloc(len + 1))) /* the library frees it with devsys_free() */
		memcpy(*json, s, len + 1);
	lua_pop(L, 1);
	return *json ? 0 : devsys_error_set_str(DEVSYS_ENOMEM, "out of memory");
}

static const char *a_stop_reason(void *self)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent;
	if (!L || call_method(L, a, "stop_reason", 0, 1, &absent) < 0 || absent)
		return NULL;
	free(a->stop);
	a->stop = lua_type(L, -1) == LUA_TSTRING ? strdup(lua_tostring(L, -1)) : NULL;
	lua_pop(L, 1);
	return a->stop;
}

static void a_close(void *self)
{
	ld_agent *a = self;
	lua_State *L = slot_state(a->kind);
	bool absent;
	if (L) {
		(void)call_method(L, a, "close", 0, 0, &absent); /* an error it raises is kept for p:run() */
		luaL_unref(L, LUA_REGISTRYINDEX, a->obj);
	}
	free_vec(a->argv);
	free_vec(a->env);
	free_vec(a->pre_argv);
	free(a->stop);
	free(a->status);
	free(a);
}

/* devsys.register_agent(name, factory) -> true | nil, msg, code */
static int l_register_agent(lua_State *L)
{
	const char *name = ld_checkcstr(L, 1);
	devsys_agent_vtable vt;
	ld_kind *k;
	int rc;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	/* every slot; the optional ones do nothing when the adapter table has no such method */
	memset(&vt, 0, sizeof(vt));
	vt.version = 2;
	vt.name = name;
	vt.open = a_open;
	vt.command = a_command;
	vt.line = a_line;
	vt.usage = a_usage;
	vt.stop_reason = a_stop_reason;
	vt.close = a_close;
	vt.preflight = a_preflight;
	vt.preflight_check = a_preflight_check;
	vt.err_line = a_err_line;
	vt.status = a_status;
	if (!(k = calloc(1, sizeof(*k))))
		return luaL_error(L, "out of memory");
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	k->main = lua_tothread(L, -1);
	lua_pop(L, 1);
	snprintf(k->name, sizeof(k->name), "%s", name);
	if ((rc = devsys_agent_register(&vt, k)) < 0) {
		free(k);
		return ld_fail(L, rc, NULL);
	}
	k->next = kinds;
	kinds = k;
	lua_pushvalue(L, 2);
	k->factory = luaL_ref(L, LUA_REGISTRYINDEX);
	ld_mark_dead_at_close(L, &k->dead);
	lua_pushboolean(L, 1);
	return 1;
}

void ld_open_agent(lua_State *L)
{
	static const luaL_Reg fns[] = { { "register_agent", l_register_agent }, { NULL, NULL } };
	luaL_setfuncs(L, fns, 0);
	lua_pushinteger(L, DEVSYS_AGENT_EVENT);
	lua_setfield(L, -2, "AGENT_EVENT");
	lua_pushinteger(L, DEVSYS_AGENT_STOP);
	lua_setfield(L, -2, "AGENT_STOP");
	lua_pushinteger(L, DEVSYS_AGENT_STALL);
	lua_setfield(L, -2, "AGENT_STALL");
}
#endif /* DEVSYS_FEATURE_AGENT */
