/*
 * Plug-ins written in Lua (the devsys/sys headers): runner types, forge providers,
 * secret providers and workspace redactors. Each registration turns a Lua
 * table (or function) into the C vtable's slots.
 *
 * Threads: a lua_State is not thread-safe, so a slot runs Lua only on the
 * thread of a Lua call into the binding that is under way (ld_running), on
 * the state that registered it, as agent kinds do (agent.c). Called from
 * any other thread (a worker's job threads, the pipeline's worker threads)
 * a slot refuses with DEVSYS_EUSER and a message saying so; a redactor
 * drops the message there (fails closed). A runner's cancel slot may run on
 * any thread by contract: it only sets a flag that io:stopped() reports.
 *
 * A registration is process-wide and outlives nothing it needs: its payload
 * stays allocated for the life of the process and is marked dead when the
 * registering state closes, after which its slots refuse. The library calls
 * devsys_shutdown() at that close, which clears every registry.
 */
#include "ldevsys.h"


#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ld_plug {
	struct ld_plug *next; /* the static list that keeps every registration's payload reachable */
	lua_State *main;  /* the registering state's main thread */
	int obj;          /* registry ref there: the factory, provider table or function */
	int dead;         /* that state closed */
	const char *what; /* "runner type", "forge provider", ... for messages */
	char name[64];
} ld_plug;

static ld_plug *plugs; /* registrations' payloads: the library keeps them until the process ends */

/* A new payload for the value at @p idx; a sentinel in the registry marks it dead when the state closes. */
static ld_plug *plug_new(lua_State *L, int idx, const char *what, const char *name)
{
	ld_plug *p = calloc(1, sizeof(*p));
	if (!p)
		luaL_error(L, "out of memory");
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	p->main = lua_tothread(L, -1);
	lua_pop(L, 1);
	p->what = what;
	snprintf(p->name, sizeof(p->name), "%s", name);
	lua_pushvalue(L, idx);
	p->obj = luaL_ref(L, LUA_REGISTRYINDEX);
	ld_mark_dead_at_close(L, &p->dead);
	p->next = plugs;
	plugs = p;
	return p;
}

/* Registration failed: the payload is never reached by C; its Lua values go with the state. */
static void plug_drop(lua_State *L, ld_plug *p)
{
	luaL_unref(L, LUA_REGISTRYINDEX, p->obj);
	p->obj = LUA_NOREF;
	p->dead = 1; /* the sentinel still points at it: keep it (a few bytes) */
}

/* The state to run @p p's Lua on, or NULL with the error set (see the file comment). */
static lua_State *plug_state(ld_plug *p)
{
	lua_State *L = ld_running, *main;
	if (p->dead || !L) {
		devsys_error_set(DEVSYS_EUSER, "%s '%s' is written in Lua: %s", p->what, p->name,
		                 p->dead ? "the Lua state that registered it is closed"
		                         : "it runs only inside a Lua call on the Lua state's own thread, not on a "
		                           "worker's threads");
		return NULL;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	main = lua_tothread(L, -1);
	lua_pop(L, 1);
	if (main != p->main) {
		devsys_error_set(DEVSYS_EUSER, "%s '%s' runs only in the Lua state that registered it", p->what, p->name);
		return NULL;
	}
	return L;
}

/* The error on top of @p L is kept for the binding call under way; DEVSYS_EUSER naming the slot. */
static int plug_raised(lua_State *L, ld_plug *p, const char *slot)
{
	const char *e = lua_tostring(L, -1);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s '%s': %s raised: %s", p->what, p->name, slot, e ? e : "(an error object)");
	ld_plugin_keep_error(L);
	return devsys_error_set_str(DEVSYS_EUSER, msg);
}

/* pcall with @p nargs (function below them) on @p L; 0 with @p nres results, or DEVSYS_EUSER. */
static int plug_pcall(lua_State *L, ld_plug *p, const char *slot, int nargs, int nres)
{
	int rc = ld_pcall(L, nargs, nres);
	return rc == LUA_OK ? 0 : plug_raised(L, p, slot);
}

/*
 * Run @p fn(out, table at @p t) protected: reading a slot's result table may
 * raise (a field of the wrong type), and a raise must never cross the
 * library's C frames. 0, or DEVSYS_EUSER with the error kept.
 */
static int plug_parse(lua_State *L, ld_plug *p, const char *slot, lua_CFunction fn, void *out, int t)
{
	t = lua_absindex(L, t);
	lua_pushcfunction(L, fn);
	lua_pushlightuserdata(L, out);
	lua_pushvalue(L, t);
	return plug_pcall(L, p, slot, 2, 0);
}

/*
 * Push method @p m of the instance table @p ref and the table (self): 1; 0
 * (nothing pushed) when it has no such method; DEVSYS_EUSER with the error
 * kept when looking it up raised.
 */
static int push_method(lua_State *L, ld_plug *p, int ref, const char *m)
{
	int rc;
	lua_pushcfunction(L, ld_lookup_k);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	lua_pushstring(L, m);
	if ((rc = plug_pcall(L, p, m, 2, 1)) < 0)
		return rc;
	if (ld_absent(L, -1)) {
		lua_pop(L, 1);
		return 0;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	return 1;
}

/*
 * A slot's "nil, message [, code]" on top (3 values): the code (default
 * @p def) with the message set; pops them.
 */
static int slot_refused(lua_State *L, ld_plug *p, const char *slot, int def)
{
	const char *m = lua_tostring(L, -2);
	int code = lua_isinteger(L, -1) && lua_tointeger(L, -1) < 0 ? (int)lua_tointeger(L, -1) : def;
	devsys_error_set(code, "%s '%s': %s: %s", p->what, p->name, slot, m ? m : "failed (no message given)");
	lua_pop(L, 3);
	return code;
}

/* A string result that must be a C string, or NULL (with *bad when it is not nil). */
static const char *result_str(lua_State *L, int idx, bool *bad)
{
	size_t len;
	const char *s;
	if (lua_isnil(L, idx))
		return NULL;
	s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
	if (!s || strlen(s) != len)
		*bad = true;
	return s && strlen(s) == len ? s : NULL;
}

/* A list of @p v's @p n strings, or (@p counted false) of its strings up to NULL. */
static void push_strv(lua_State *L, const char *const *v, size_t n, bool counted)
{
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; v && (counted ? i < n : v[i] != NULL); i++) {
		lua_pushstring(L, v[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* ======================================================================== */
/* ---- redactors (sys/redactor.h): ws:add_redactor(fn) ---- */

/* fn(text) -> the redacted text | nil/false: drop the message. On a worker's threads: dropped. */
static int r_redact(void *self, const char *text, size_t len, devsys_buf *out)
{
	ld_plug *p = self;
	lua_State *L = plug_state(p);
	size_t n;
	const char *s;
	int rc;
	if (!L)
		return 1; /* fail closed: no Lua to redact with */
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->obj);
	lua_pushlstring(L, text, len);
	if ((rc = plug_pcall(L, p, "the redactor", 1, 1)) < 0)
		return 1;
	s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
	rc = s ? devsys_buf_put(out, s, n) : 1;
	lua_pop(L, 1);
	return rc != 0;
}

/* When the workspace is freed: only C memory, the function's ref goes with its state. */
static void r_release(void *self)
{
	ld_plug *p = self;
	lua_State *L = plug_state(p);
	if (L)
		luaL_unref(L, LUA_REGISTRYINDEX, p->obj);
	devsys_error_clear();
	free(p);
}

/* ws:add_redactor(fn) -> true: every message the workspace logs passes through fn(text) first */
static int ws_add_redactor(lua_State *L)
{
	static const devsys_redactor_vtable vt = { DEVSYS_REDACTOR_VTABLE_VERSION, r_redact, r_release };
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	ld_plug *p;
	int rc;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	if (!(p = calloc(1, sizeof(*p))))
		return luaL_error(L, "out of memory");
	/* owned by the workspace (r_release frees it), so no sentinel: dead is read through the main thread */
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	p->main = lua_tothread(L, -1);
	lua_pop(L, 1);
	p->what = "redactor";
	snprintf(p->name, sizeof(p->name), "%s", "ws:add_redactor");
	lua_pushvalue(L, 2);
	p->obj = luaL_ref(L, LUA_REGISTRYINDEX);
	if ((rc = devsys_workspace_add_redactor(ws, &vt, p)) < 0) {
		luaL_unref(L, LUA_REGISTRYINDEX, p->obj);
		free(p);
		return ld_fail(L, rc, NULL);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* ======================================================================== */
/* ---- secret providers (sys/secrets.h) ---- */
#ifdef DEVSYS_FEATURE_SECRETS

/* fn(name, ref) -> value | nil, message [, code (default DEVSYS_ENOTFOUND)] */
static int s_resolve(void *self, const char *name, const char *ref, devsys_buf *out)
{
	ld_plug *p = self;
	lua_State *L = plug_state(p);
	size_t n;
	const char *v;
	int rc;
	if (!L)
		return DEVSYS_EUSER;
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->obj);
	lua_pushstring(L, name);
	ld_pushstr(L, ref);
	if ((rc = plug_pcall(L, p, "resolve", 2, 3)) < 0)
		return rc;
	if (lua_isnil(L, -3) || (lua_isboolean(L, -3) && !lua_toboolean(L, -3)))
		return slot_refused(L, p, name, DEVSYS_ENOTFOUND);
	if (!(v = lua_type(L, -3) == LUA_TSTRING ? lua_tolstring(L, -3, &n) : NULL)) {
		lua_pop(L, 3);
		lua_pushfstring(L, "secret '%s': resolve must return a string, or nil and a message", name);
		return plug_raised(L, p, "resolve");
	}
	rc = devsys_buf_put(out, v, n);
	lua_pop(L, 3);
	return rc;
}

/* devsys.register_secret_provider(name, fn) -> true | nil, msg, code */
static int l_register_secret_provider(lua_State *L)
{
	const char *name = ld_checkcstr(L, 1);
	devsys_secret_provider vt;
	ld_plug *p;
	int rc;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_SECRET_PROVIDER_VERSION;
	vt.name = name;
	vt.resolve = s_resolve; /* no release: the payload lives as long as the process */
	p = plug_new(L, 2, "secret provider", name);
	if ((rc = devsys_secret_provider_register(&vt, p)) < 0) {
		plug_drop(L, p);
		return ld_fail(L, rc, NULL);
	}
	lua_pushboolean(L, 1);
	return 1;
}
#endif /* DEVSYS_FEATURE_SECRETS */

/* ======================================================================== */
/* ---- runner types (sys/runner.h) ---- */
#ifdef DEVSYS_FEATURE_RUNNER

#define LD_RUNNER_IO "devsys.RunnerIO"

typedef struct ld_rinst {
	ld_plug *type;
	int obj;             /* registry ref of the instance table factory(opts) returned */
	atomic_int canceled; /* cancel() ran (on any thread) */
	char *workdir;       /* workdir()'s copy, borrowed until the next call or close */
} ld_rinst;

typedef struct {
	ld_handle h; /* h.p: the devsys_runner_io, valid during exec only */
	ld_rinst *r;
} ld_io;

/* io:write(stream ("stdout"|"stderr"), data) -> true, or false: the exec must stop */
static int io_write(lua_State *L)
{
	static const char *const streams[] = { "stdout", "stderr", NULL };
	devsys_runner_io *io = ld_check(L, 1, LD_RUNNER_IO);
	int stream = luaL_checkoption(L, 2, NULL, streams) == 0 ? DEVSYS_RUNNER_STDOUT : DEVSYS_RUNNER_STDERR;
	size_t n;
	const char *data = luaL_checklstring(L, 3, &n);
	lua_pushboolean(L, devsys_runner_io_write(io, stream, data, n) == 0);
	return 1;
}

/* io:stopped() -> true when the exec must stop now (cancel, output cap, idle timeout) */
static int io_stopped(lua_State *L)
{
	devsys_runner_io *io = ld_check(L, 1, LD_RUNNER_IO);
	ld_io *u = (ld_io *)ld_ud(L, 1, LD_RUNNER_IO);
	lua_pushboolean(L, devsys_runner_io_stopped(io) || atomic_load(&u->r->canceled));
	return 1;
}

/* io:wait_ms([cap_ms]) -> cap_ms (-1: none) lowered to the ms left before the idle timeout */
static int io_wait_ms(lua_State *L)
{
	devsys_runner_io *io = ld_check(L, 1, LD_RUNNER_IO);
	lua_Integer cap = luaL_optinteger(L, 2, -1);
	luaL_argcheck(L, cap >= -1 && cap <= 0x7fffffff, 2, "cap_ms must be -1..2^31-1");
	lua_pushinteger(L, devsys_runner_io_wait_ms(io, (int)cap));
	return 1;
}

static void push_runner_opts(lua_State *L, const devsys_runner_options *o)
{
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, o->grace_ms);
	lua_setfield(L, -2, "grace_ms");
	lua_pushinteger(L, (lua_Integer)o->tail_max);
	lua_setfield(L, -2, "tail_max");
	ld_pushstr(L, o->host);
	lua_setfield(L, -2, "host");
	lua_pushinteger(L, o->port);
	lua_setfield(L, -2, "port");
	ld_pushstr(L, o->user);
	lua_setfield(L, -2, "user");
	ld_pushstr(L, o->remote_dir);
	lua_setfield(L, -2, "remote_dir");
	lua_pushboolean(L, (o->flags & DEVSYS_RUNNER_ALLOW_SHELL) != 0);
	lua_setfield(L, -2, "allow_shell");
}

/*
 * Call the plug-in's factory (pushed, its options table after it): 0 with the
 * instance table on top, or the open slot's error (it raised, or returned no
 * table: "not a @p what table").
 */
static int call_factory(lua_State *L, ld_plug *p, const char *what)
{
	int rc;
	if ((rc = plug_pcall(L, p, "the factory", 1, 1)) < 0)
		return rc;
	if (!lua_istable(L, -1)) {
		lua_pushfstring(L, "the factory returned a %s, not a %s table", luaL_typename(L, -1), what);
		lua_remove(L, -2);
		return plug_raised(L, p, "open");
	}
	return 0;
}

/* factory(opts) -> the instance table (exec required; prepare, cleanup, upload, download, workdir, describe, close) */
static int rn_open(void **self, const devsys_runner_options *opts, void *payload)
{
	ld_plug *p = payload;
	lua_State *L = plug_state(p);
	ld_rinst *r;
	int rc;
	if (!L)
		return DEVSYS_EUSER;
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->obj);
	push_runner_opts(L, opts);
	if ((rc = call_factory(L, p, "runner")) < 0)
		return rc;
	if (!(r = calloc(1, sizeof(*r)))) {
		lua_pop(L, 1);
		return devsys_error_set_str(DEVSYS_ENOMEM, "out of memory");
	}
	r->type = p;
	r->obj = luaL_ref(L, LUA_REGISTRYINDEX);
	*self = r;
	return 0;
}

static void push_cmd(lua_State *L, const devsys_runner_cmd *cmd)
{
	lua_createtable(L, 0, 10);
	push_strv(L, cmd->argv, 0, false);
	lua_setfield(L, -2, "argv");
	lua_newtable(L);
	for (size_t i = 0; cmd->env && cmd->env[i]; i++) {
		const char *eq = strchr(cmd->env[i], '=');
		if (!eq)
			continue;
		lua_pushlstring(L, cmd->env[i], (size_t)(eq - cmd->env[i]));
		lua_pushstring(L, eq + 1);
		lua_rawset(L, -3);
	}
	lua_setfield(L, -2, "env");
	ld_pushstr(L, cmd->cwd);
	lua_setfield(L, -2, "cwd");
	lua_pushinteger(L, cmd->timeout_ms);
	lua_setfield(L, -2, "timeout_ms");
	if (cmd->stdin_data)
		lua_pushlstring(L, cmd->stdin_data, cmd->stdin_len);
	else
		lua_pushnil(L);
	lua_setfield(L, -2, "stdin");
	ld_pushstr(L, cmd->stdin_file);
	lua_setfield(L, -2, "stdin_file");
	ld_pushstr(L, cmd->stage);
	lua_setfield(L, -2, "stage");
	ld_pushstr(L, cmd->task ? devsys_task_id(cmd->task) : NULL);
	lua_setfield(L, -2, "task_id");
	if (cmd->version >= 2)
		ld_pushstr(L, cmd->image);
	else
		lua_pushnil(L);
	lua_setfield(L, -2, "image");
}

/*
 * runner:exec(cmd, io) -> exit_code [, signal] (the command ran) | nil, message [, code]: it could not
 * (code DEVSYS_ESYSTEM unless given: E.TIMEOUT, E.CANCELED name those results)
 */
static int rn_exec(void *self, const devsys_runner_cmd *cmd, devsys_runner_io *io, devsys_runner_status *st)
{
	ld_rinst *r = self;
	lua_State *L = plug_state(r->type);
	ld_io *u;
	int rc;
	st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
	st->exit_code = -1;
	st->signal = 0;
	if (!L)
		return DEVSYS_EUSER;
	if ((rc = push_method(L, r->type, r->obj, "exec")) <= 0) {
		if (rc < 0)
			return rc;
		lua_pushstring(L, "the runner table has no exec method");
		return plug_raised(L, r->type, "exec");
	}
	push_cmd(L, cmd);
	u = ld_new(L, LD_RUNNER_IO, sizeof(*u), io, NULL);
	u->r = r;
	lua_pushvalue(L, -1);
	lua_insert(L, -5); /* a copy below the call, to close it after */
	rc = plug_pcall(L, r->type, "exec", 3, 3);
	u->h.p = NULL; /* the io is the library's for this exec only */
	atomic_store(&r->canceled, 0); /* a cancel applies to the exec under way, or the next one (as inproc's) */
	if (rc < 0) {
		lua_pop(L, 1); /* the io copy (the error was kept) */
		return rc;
	}
	lua_remove(L, -4);
	if (lua_isinteger(L, -3)) {
		st->exit_code = (int)lua_tointeger(L, -3);
		st->signal = lua_isinteger(L, -2) ? (int)lua_tointeger(L, -2) : 0;
		st->failure = st->exit_code == 0 && st->signal == 0 ? DEVSYS_RUNNER_OK : DEVSYS_RUNNER_BUILD_FAILURE;
		if (st->signal)
			st->exit_code = -1;
		lua_pop(L, 3);
		return 0;
	}
	if (!lua_isnil(L, -3)) {
		lua_pop(L, 3);
		lua_pushstring(L, "exec must return an exit code (integer), or nil and a message");
		return plug_raised(L, r->type, "exec");
	}
	rc = slot_refused(L, r->type, "exec", DEVSYS_ESYSTEM);
	st->failure = rc == DEVSYS_ETIMEOUT ? DEVSYS_RUNNER_TIMEOUT
	            : rc == DEVSYS_ECANCELED ? DEVSYS_RUNNER_CANCELED
	                                     : DEVSYS_RUNNER_SYSTEM_FAILURE;
	return rc;
}

/* Any thread: no Lua here. The exec sees it through io:stopped(). */
static int rn_cancel(void *self)
{
	atomic_store(&((ld_rinst *)self)->canceled, 1);
	return 0;
}

static void rn_close(void *self)
{
	ld_rinst *r = self;
	lua_State *L = plug_state(r->type);
	if (L) {
		if (push_method(L, r->type, r->obj, "close") > 0)
			(void)plug_pcall(L, r->type, "close", 1, 0); /* an error is kept for the binding call under way */
		luaL_unref(L, LUA_REGISTRYINDEX, r->obj);
	}
	free(r->workdir);
	free(r);
}

/* method(self, args...) -> nothing / true | nil, message [, code]: the slot's result (absent: 0) */
static int rn_simple(ld_rinst *r, const char *m, const char *a1, const char *a2, int nargs)
{
	lua_State *L = plug_state(r->type);
	int rc;
	if (!L)
		return DEVSYS_EUSER;
	if ((rc = push_method(L, r->type, r->obj, m)) <= 0)
		return rc < 0 ? rc : devsys_error_set(DEVSYS_ENOTSUPPORTED, "runner type '%s' has no %s method", r->type->name, m);
	ld_pushstr(L, a1);
	if (nargs > 1)
		ld_pushstr(L, a2);
	if ((rc = plug_pcall(L, r->type, m, nargs + 1, 3)) < 0)
		return rc;
	if (lua_isnil(L, -3) && !lua_isnil(L, -2))
		return slot_refused(L, r->type, m, DEVSYS_ESYSTEM);
	lua_pop(L, 3);
	return 0;
}

static int rn_prepare(void *self, devsys_task *task)
{
	return rn_simple(self, "prepare", task ? devsys_task_id(task) : NULL, NULL, 1);
}

static int rn_cleanup(void *self, devsys_task *task)
{
	return rn_simple(self, "cleanup", task ? devsys_task_id(task) : NULL, NULL, 1);
}

static int rn_upload(void *self, const char *local, const char *remote)
{
	return rn_simple(self, "upload", local, remote, 2);
}

static int rn_download(void *self, const char *remote, const char *local)
{
	return rn_simple(self, "download", remote, local, 2);
}

/* runner:workdir(task_id or nil) -> a path, or nil */
static const char *rn_workdir(void *self, devsys_task *task)
{
	ld_rinst *r = self;
	lua_State *L = plug_state(r->type);
	bool bad = false;
	const char *s;
	if (!L || push_method(L, r->type, r->obj, "workdir") <= 0)
		return NULL;
	ld_pushstr(L, task ? devsys_task_id(task) : NULL);
	if (plug_pcall(L, r->type, "workdir", 2, 1) < 0)
		return NULL;
	free(r->workdir);
	s = result_str(L, -1, &bad);
	r->workdir = s ? strdup(s) : NULL;
	lua_pop(L, 1);
	return r->workdir;
}

static void copy_field(lua_State *L, int idx, const char *k, char *dst, size_t size)
{
	const char *s = ld_field_str(L, idx, k, NULL);
	if (s)
		snprintf(dst, size, "%s", s);
}

/* Protected (plug_parse): the description table at 2 into the devsys_runner_description at 1. */
static int describe_k(lua_State *L)
{
	devsys_runner_description *out = lua_touserdata(L, 1);
	copy_field(L, 2, "engine", out->engine, sizeof(out->engine));
	copy_field(L, 2, "where", out->where, sizeof(out->where));
	copy_field(L, 2, "image_id", out->image_id, sizeof(out->image_id));
	copy_field(L, 2, "image_digest", out->image_digest, sizeof(out->image_digest));
	return 0;
}

/* runner:describe() -> {engine=, where=, image_id=, image_digest=} */
static int rn_describe(void *self, devsys_runner_description *out)
{
	ld_rinst *r = self;
	lua_State *L = plug_state(r->type);
	int rc;
	if (!L)
		return DEVSYS_EUSER;
	if ((rc = push_method(L, r->type, r->obj, "describe")) <= 0)
		return rc; /* 0: the type only */
	if ((rc = plug_pcall(L, r->type, "describe", 1, 1)) < 0)
		return rc;
	rc = lua_istable(L, -1) ? plug_parse(L, r->type, "describe", describe_k, out, -1) : 0;
	lua_pop(L, 1);
	return rc;
}

/* devsys.register_runner(name, factory) -> true | nil, msg, code */
static int l_register_runner(lua_State *L)
{
	const char *name = ld_checkcstr(L, 1);
	devsys_runner_vtable vt;
	ld_plug *p;
	int rc;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_RUNNER_VTABLE_VERSION;
	vt.name = name;
	vt.open = rn_open;
	vt.exec = rn_exec;
	vt.cancel = rn_cancel;
	vt.close = rn_close;
	vt.prepare = rn_prepare;
	vt.cleanup = rn_cleanup;
	vt.upload = rn_upload;
	vt.download = rn_download;
	vt.workdir = rn_workdir;
	vt.describe = rn_describe;
	p = plug_new(L, 2, "runner type", name);
	if ((rc = devsys_runner_register(&vt, p)) < 0) {
		plug_drop(L, p);
		return ld_fail(L, rc, NULL);
	}
	lua_pushboolean(L, 1);
	return 1;
}
#endif /* DEVSYS_FEATURE_RUNNER */

/* ======================================================================== */
/* ---- forge providers (sys/forge.h) ---- */
#if defined(DEVSYS_FEATURE_FORGE) && defined(DEVSYS_FEATURE_POLICY)

#define LD_FORGE_SINK "devsys.ForgeSink"

static const char *const review_states[] = { "approved", "changes_requested", "commented", "dismissed", "pending",
	                                     NULL };
static const char *const check_states[] = { "pending", "success", "failure", "neutral", NULL };
static const char *const check_kinds[] = { "status", "run", NULL };
static const char *const pr_states[] = { "open", "closed", "merged", NULL };

typedef struct ld_finst {
	ld_plug *prov;
	int obj;  /* registry ref of the instance table */
	int last; /* the last result table: its strings are the library's to copy until the next call */
} ld_finst;

/* A sink call's result: true, or nil, msg, code */
/* sink:review{reviewer=, commit_sha=, state=} */
static int sink_review(lua_State *L)
{
	devsys_forge_sink *s = ld_check(L, 1, LD_FORGE_SINK);
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	luaL_checktype(L, 2, LUA_TTABLE);
	r.reviewer = ld_field_str(L, 2, "reviewer", NULL);
	r.commit_sha = ld_field_str(L, 2, "commit_sha", NULL);
	lua_getfield(L, 2, "state");
	r.state = luaL_checkoption(L, -1, "commented", review_states);
	return ld_ok(L, devsys_forge_sink_review(s, &r));
}

/* sink:check{context=, sha=, state=, kind=} */
static int sink_check(lua_State *L)
{
	devsys_forge_sink *s = ld_check(L, 1, LD_FORGE_SINK);
	devsys_policy_check c = DEVSYS_POLICY_CHECK_INIT;
	luaL_checktype(L, 2, LUA_TTABLE);
	c.context = ld_field_str(L, 2, "context", NULL);
	c.sha = ld_field_str(L, 2, "sha", NULL);
	lua_getfield(L, 2, "state");
	c.state = luaL_checkoption(L, -1, "pending", check_states);
	lua_getfield(L, 2, "kind");
	c.kind = luaL_checkoption(L, -1, "status", check_kinds);
	return ld_ok(L, devsys_forge_sink_check(s, &c));
}

/* sink:file(path [, old_path]) */
static int sink_file(lua_State *L)
{
	devsys_forge_sink *s = ld_check(L, 1, LD_FORGE_SINK);
	return ld_ok(L, devsys_forge_sink_file(s, ld_checkcstr(L, 2), ld_optcstr(L, 3, NULL)));
}

/* sink:truncated(): the forge's file list stopped short */
static int sink_truncated(lua_State *L)
{
	return ld_ok(L, devsys_forge_sink_truncated(ld_check(L, 1, LD_FORGE_SINK)));
}

/* sink:author(login) */
static int sink_author(lua_State *L)
{
	devsys_forge_sink *s = ld_check(L, 1, LD_FORGE_SINK);
	return ld_ok(L, devsys_forge_sink_author(s, ld_checkcstr(L, 2)));
}

static void push_forge_opts(lua_State *L, const devsys_forge_open_options *o)
{
	lua_createtable(L, 0, 8);
	ld_pushstr(L, o->base_url);
	lua_setfield(L, -2, "base_url");
	ld_pushstr(L, o->owner);
	lua_setfield(L, -2, "owner");
	ld_pushstr(L, o->repo);
	lua_setfield(L, -2, "repo");
	ld_pushstr(L, o->remote_url);
	lua_setfield(L, -2, "remote_url");
	ld_pushstr(L, o->local_path);
	lua_setfield(L, -2, "local_path");
	ld_pushstr(L, o->bot);
	lua_setfield(L, -2, "bot");
	ld_pushstr(L, o->token); /* to send in a header only: never to log */
	lua_setfield(L, -2, "token");
}

/* factory(opts) -> the instance table */
static int fg_open(void **self, const devsys_forge_open_options *opts, void *payload)
{
	ld_plug *p = payload;
	lua_State *L = plug_state(p);
	ld_finst *f;
	int rc;
	if (!L)
		return DEVSYS_EUSER;
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->obj);
	push_forge_opts(L, opts);
	if ((rc = call_factory(L, p, "provider")) < 0)
		return rc;
	if (!(f = calloc(1, sizeof(*f)))) {
		lua_pop(L, 1);
		return devsys_error_set_str(DEVSYS_ENOMEM, "out of memory");
	}
	f->prov = p;
	f->obj = luaL_ref(L, LUA_REGISTRYINDEX);
	f->last = LUA_NOREF;
	*self = f;
	return 0;
}

static void fg_close(void *self)
{
	ld_finst *f = self;
	lua_State *L = plug_state(f->prov);
	if (L) {
		if (push_method(L, f->prov, f->obj, "close") > 0)
			(void)plug_pcall(L, f->prov, "close", 1, 0);
		luaL_unref(L, LUA_REGISTRYINDEX, f->obj);
		luaL_unref(L, LUA_REGISTRYINDEX, f->last);
	}
	devsys_error_clear();
	free(f);
}

/*
 * Call method @p m of @p f: the function and self, then @p push's arguments
 * (its count returned), 3 results. 0 with them on the stack; or the slot's
 * code (not pushed: DEVSYS_ENOTSUPPORTED for a missing method; raised;
 * nil, message [, code] refused, default @p def).
 */
static int fg_call(lua_State *L, ld_finst *f, const char *m, int nargs, int def)
{
	char remote[2048];
	int rc, status;
	if ((rc = plug_pcall(L, f->prov, m, nargs + 1, 5)) < 0)
		return rc;
	if (!lua_isnil(L, -5) || lua_isnil(L, -4)) {
		lua_pop(L, 2); /* the 3 results the slot reads */
		return 0;
	}
	/* nil, message [, code [, http_status [, the forge's own message]]]: kept as the error's detail */
	status = lua_isinteger(L, -2) && lua_tointeger(L, -2) > 0 && lua_tointeger(L, -2) < 1000 ? (int)lua_tointeger(L, -2) : 0;
	snprintf(remote, sizeof(remote), "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "");
	lua_pop(L, 2);
	rc = slot_refused(L, f->prov, m, def);
	if (status || remote[0])
		(void)devsys_error_set_detail(status, remote[0] ? remote : NULL);
	return rc;
}

/* The state and method @p m pushed, or a code (the caller returns it). */
static lua_State *fg_enter(ld_finst *f, const char *m, int *rc)
{
	lua_State *L = plug_state(f->prov);
	int found;
	*rc = 0;
	if (!L)
		*rc = DEVSYS_EUSER;
	else if ((found = push_method(L, f->prov, f->obj, m)) <= 0) {
		*rc = found < 0 ? found
		                : devsys_error_set(DEVSYS_ENOTSUPPORTED, "forge provider '%s' has no %s method", f->prov->name, m);
		L = NULL;
	}
	return L;
}

/* Keep the result table at @p idx for its strings (replacing the last one). */
static void fg_keep(lua_State *L, ld_finst *f, int idx)
{
	lua_pushvalue(L, idx);
	luaL_unref(L, LUA_REGISTRYINDEX, f->last);
	f->last = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Protected (plug_parse): the PR table at 2 into the devsys_forge_pr_info at 1. */
static int pr_info_k(lua_State *L)
{
	devsys_forge_pr_info *out = lua_touserdata(L, 1);
	out->number = (int64_t)ld_field_int(L, 2, "number", 0);
	out->url = ld_field_str(L, 2, "url", NULL);
	out->head = ld_field_str(L, 2, "head", NULL);
	out->base = ld_field_str(L, 2, "base", NULL);
	out->head_sha = ld_field_str(L, 2, "head_sha", NULL);
	out->title = ld_field_str(L, 2, "title", NULL);
	out->author = ld_field_str(L, 2, "author", NULL);
	lua_getfield(L, 2, "state");
	out->state = luaL_checkoption(L, -1, "open", pr_states);
	out->draft = ld_field_bool(L, 2, "draft", false);
	out->reused = ld_field_bool(L, 2, "reused", false);
	out->merge_sha = ld_field_str(L, 2, "merge_sha", NULL);
	return 0;
}

/*
 * The 3 results of a PR slot: {number=, url=, head=, base=, head_sha=, title=, author=, state=, draft=,
 * reused=, merge_sha=} into @p out (its strings kept alive until the next call); pops them.
 */
static int fill_pr_info(lua_State *L, ld_finst *f, const char *m, devsys_forge_pr_info *out)
{
	int t = lua_gettop(L) - 2, rc; /* the first of the 3 results */
	if (!lua_istable(L, t)) {
		lua_pop(L, 3);
		lua_pushfstring(L, "%s must return a pull request table, or nil and a message", m);
		return plug_raised(L, f->prov, m);
	}
	fg_keep(L, f, t);
	rc = plug_parse(L, f->prov, m, pr_info_k, out, t);
	lua_pop(L, 3);
	return rc;
}

static int fg_pr_upsert(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req)
{
	ld_finst *f = self;
	int rc;
	lua_State *L = fg_enter(f, "pr_upsert", &rc);
	if (!L)
		return rc;
	lua_createtable(L, 0, 12);
	lua_pushstring(L, req->title);
	lua_setfield(L, -2, "title");
	lua_pushstring(L, req->body);
	lua_setfield(L, -2, "body");
	lua_pushstring(L, req->head);
	lua_setfield(L, -2, "head");
	lua_pushstring(L, req->base);
	lua_setfield(L, -2, "base");
	lua_pushboolean(L, req->draft);
	lua_setfield(L, -2, "draft");
	push_strv(L, req->labels, req->nlabels, true);
	lua_setfield(L, -2, "labels");
	push_strv(L, req->reviewers, req->nreviewers, true);
	lua_setfield(L, -2, "reviewers");
	push_strv(L, req->team_reviewers, req->nteam_reviewers, true);
	lua_setfield(L, -2, "team_reviewers");
	lua_pushinteger(L, (lua_Integer)req->number);
	lua_setfield(L, -2, "number");
	ld_pushstr(L, req->head_sha);
	lua_setfield(L, -2, "head_sha");
	ld_pushstr(L, req->base_sha);
	lua_setfield(L, -2, "base_sha");
	if ((rc = fg_call(L, f, "pr_upsert", 1, DEVSYS_EINVALID)) < 0)
		return rc;
	return fill_pr_info(L, f, "pr_upsert", out);
}

static int fg_pr_get(void *self, devsys_forge_pr_info *out, int64_t number)
{
	ld_finst *f = self;
	int rc;
	lua_State *L = fg_enter(f, "pr_get", &rc);
	if (!L)
		return rc;
	lua_pushinteger(L, (lua_Integer)number);
	if ((rc = fg_call(L, f, "pr_get", 1, DEVSYS_ENOTFOUND)) < 0)
		return rc;
	return fill_pr_info(L, f, "pr_get", out);
}

/* A list slot: method(self, key, sink); the sink is valid during the call only. */
static int fg_list(ld_finst *f, const char *m, devsys_forge_sink *sink, int64_t number, const char *sha)
{
	ld_handle *h;
	int rc;
	lua_State *L = fg_enter(f, m, &rc);
	if (!L)
		return rc;
	if (sha)
		lua_pushstring(L, sha);
	else
		lua_pushinteger(L, (lua_Integer)number);
	h = ld_new(L, LD_FORGE_SINK, sizeof(ld_handle), sink, NULL);
	rc = fg_call(L, f, m, 2, DEVSYS_ESYSTEM);
	h->p = NULL;
	if (rc == 0)
		lua_pop(L, 3);
	return rc;
}

static int fg_pr_reviews(void *self, devsys_forge_sink *sink, int64_t number)
{
	return fg_list(self, "pr_reviews", sink, number, NULL);
}

static int fg_statuses(void *self, devsys_forge_sink *sink, const char *sha)
{
	return fg_list(self, "statuses", sink, 0, sha);
}

static int fg_check_runs(void *self, devsys_forge_sink *sink, const char *sha)
{
	return fg_list(self, "check_runs", sink, 0, sha);
}

static int fg_pr_files(void *self, devsys_forge_sink *sink, int64_t number)
{
	return fg_list(self, "pr_files", sink, number, NULL);
}

static int fg_pr_authors(void *self, devsys_forge_sink *sink, int64_t number)
{
	return fg_list(self, "pr_authors", sink, number, NULL);
}

/* A slot whose Lua method returns nothing / true, or nil, message [, code]. */
static int fg_done(lua_State *L, ld_finst *f, const char *m, int nargs)
{
	int rc = fg_call(L, f, m, nargs, DEVSYS_ESYSTEM);
	if (rc == 0)
		lua_pop(L, 3);
	return rc;
}

static int fg_review_add(void *self, int64_t number, const devsys_policy_review *review)
{
	ld_finst *f = self;
	int rc;
	lua_State *L = fg_enter(f, "review_add", &rc);
	if (!L)
		return rc;
	lua_pushinteger(L, (lua_Integer)number);
	lua_createtable(L, 0, 3);
	lua_pushstring(L, review->reviewer);
	lua_setfield(L, -2, "reviewer");
	ld_pushstr(L, review->commit_sha);
	lua_setfield(L, -2, "commit_sha");
	lua_pushstring(L, review->state >= 0 && review->state <= 4 ? review_states[review->state] : "?");
	lua_setfield(L, -2, "state");
	return fg_done(L, f, "review_add", 2);
}

static int fg_status_set(void *self, const char *sha, const devsys_forge_status *st)
{
	ld_finst *f = self;
	int rc;
	lua_State *L = fg_enter(f, "status_set", &rc);
	if (!L)
		return rc;
	lua_pushstring(L, sha);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, st->context);
	lua_setfield(L, -2, "context");
	lua_pushstring(L, st->state >= 0 && st->state <= 3 ? check_states[st->state] : "?");
	lua_setfield(L, -2, "state");
	ld_pushstr(L, st->description);
	lua_setfield(L, -2, "description");
	ld_pushstr(L, st->target_url);
	lua_setfield(L, -2, "target_url");
	return fg_done(L, f, "status_set", 2);
}

/* merge(self, number, {sha=, method=, title=, message=}) -> the base branch's new commit sha */
static int fg_merge(void *self, devsys_forge_merge_result *out, int64_t number, const devsys_forge_merge_request *req)
{
	ld_finst *f = self;
	bool bad = false;
	int rc;
	lua_State *L = fg_enter(f, "merge", &rc);
	if (!L)
		return rc;
	lua_pushinteger(L, (lua_Integer)number);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, req->sha);
	lua_setfield(L, -2, "sha");
	lua_pushstring(L, devsys_forge_merge_method_name(req->method));
	lua_setfield(L, -2, "method");
	ld_pushstr(L, req->title);
	lua_setfield(L, -2, "title");
	ld_pushstr(L, req->message);
	lua_setfield(L, -2, "message");
	if ((rc = fg_call(L, f, "merge", 2, DEVSYS_ECONFLICT)) < 0)
		return rc;
	fg_keep(L, f, -3);
	out->sha = result_str(L, -3, &bad);
	lua_pop(L, 3);
	if (bad || !out->sha) {
		lua_pushstring(L, "merge must return the merged commit's sha, or nil and a message");
		return plug_raised(L, f->prov, "merge");
	}
	return 0;
}

static int fg_protect(void *self, const devsys_forge_protection *pr)
{
	ld_finst *f = self;
	int rc;
	lua_State *L = fg_enter(f, "protect", &rc);
	if (!L)
		return rc;
	lua_createtable(L, 0, 5);
	lua_pushstring(L, pr->branch);
	lua_setfield(L, -2, "branch");
	push_strv(L, pr->contexts, pr->ncontexts, true);
	lua_setfield(L, -2, "contexts");
	lua_pushinteger(L, pr->approvals);
	lua_setfield(L, -2, "approvals");
	lua_pushboolean(L, pr->dismiss_stale);
	lua_setfield(L, -2, "dismiss_stale");
	lua_pushboolean(L, pr->enforce_admins);
	lua_setfield(L, -2, "enforce_admins");
	return fg_done(L, f, "protect", 1);
}

/* describe(self) -> a JSON object's text with at least "provider" */
static int fg_describe(void *self, devsys_buf *out)
{
	ld_finst *f = self;
	bool bad = false;
	const char *s;
	int rc;
	lua_State *L = fg_enter(f, "describe", &rc);
	if (!L)
		return rc;
	if ((rc = fg_call(L, f, "describe", 0, DEVSYS_ESYSTEM)) < 0)
		return rc;
	s = result_str(L, -3, &bad);
	rc = s ? devsys_buf_put(out, s, strlen(s)) : 0;
	lua_pop(L, 3);
	if (bad) {
		lua_pushstring(L, "describe must return a JSON object's text");
		return plug_raised(L, f->prov, "describe");
	}
	return rc;
}

/* devsys.register_forge(name, factory) -> true | nil, msg, code */
static int l_register_forge(lua_State *L)
{
	const char *name = ld_checkcstr(L, 1);
	devsys_forge_vtable vt;
	ld_plug *p;
	int rc;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_FORGE_VTABLE_VERSION;
	vt.name = name;
	vt.open = fg_open;
	vt.close = fg_close;
	vt.pr_upsert = fg_pr_upsert;
	vt.pr_get = fg_pr_get;
	vt.pr_reviews = fg_pr_reviews;
	vt.review_add = fg_review_add;
	vt.status_set = fg_status_set;
	vt.statuses = fg_statuses;
	vt.check_runs = fg_check_runs;
	vt.pr_files = fg_pr_files;
	vt.pr_authors = fg_pr_authors;
	vt.merge = fg_merge;
	vt.protect = fg_protect;
	vt.describe = fg_describe;
	p = plug_new(L, 2, "forge provider", name);
	if ((rc = devsys_forge_register(&vt, p)) < 0) {
		plug_drop(L, p);
		return ld_fail(L, rc, NULL);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* devsys.unregister_forge(name) -> true | nil, msg, code (open forges keep working) */
static int l_unregister_forge(lua_State *L)
{
	int rc = devsys_forge_unregister(ld_checkcstr(L, 1));
	return ld_ok(L, rc);
}

/* devsys.forge_find(name) -> true, its vtable version | nil, msg (the registered names), code */
static int l_forge_find(lua_State *L)
{
	const devsys_forge_vtable *vt = NULL;
	int rc = devsys_forge_find(&vt, ld_checkcstr(L, 1));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	lua_pushinteger(L, vt ? vt->version : 0);
	return 2;
}
#endif /* FORGE && POLICY */

void ld_open_plugins(lua_State *L)
{
	static const luaL_Reg fns[] = {
#ifdef DEVSYS_FEATURE_SECRETS
		{ "register_secret_provider", l_register_secret_provider },
#endif
#ifdef DEVSYS_FEATURE_RUNNER
		{ "register_runner", l_register_runner },
#endif
#if defined(DEVSYS_FEATURE_FORGE) && defined(DEVSYS_FEATURE_POLICY)
		{ "register_forge", l_register_forge },
		{ "unregister_forge", l_unregister_forge },
		{ "forge_find", l_forge_find },
#endif
		{ NULL, NULL },
	};
#ifdef DEVSYS_FEATURE_RUNNER
	static const luaL_Reg io_methods[] = {
		{ "write", io_write }, { "stopped", io_stopped }, { "wait_ms", io_wait_ms }, { NULL, NULL },
	};
	ld_register(L, LD_RUNNER_IO, io_methods);
#endif
#if defined(DEVSYS_FEATURE_FORGE) && defined(DEVSYS_FEATURE_POLICY)
	static const luaL_Reg sink_methods[] = {
		{ "review", sink_review }, { "check", sink_check },   { "file", sink_file },
		{ "truncated", sink_truncated }, { "author", sink_author }, { NULL, NULL },
	};
	ld_register(L, LD_FORGE_SINK, sink_methods);
#endif
	luaL_setfuncs(L, fns, 0);
	/* ws:add_redactor(fn) joins the Workspace's methods (core.c registered them) */
	ld_add_method(L, LD_WORKSPACE, "add_redactor", ws_add_redactor);
}
