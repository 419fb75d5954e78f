/*
 * Secrets (declare, resolve, audit), maskers and streaming maskers. A
 * resolved value handed to Lua becomes a Lua string, which the library
 * cannot wipe: prefer passing secrets to C (a masker, a runner) over
 * reading them.
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_SECRETS /* a build without the module has none of this */

#include <string.h>

typedef struct {
	ld_handle h;
	ld_cb audit;
} ld_secrets;

typedef struct {
	ld_handle h;
	ld_cb write;
} ld_stream;

static void secrets_release(lua_State *L, ld_handle *h)
{
	devsys_secrets_free(h->p);
	ld_cb_clear(L, &((ld_secrets *)h)->audit);
}

static void masker_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_masker_free(h->p);
}

static void stream_release(lua_State *L, ld_handle *h)
{
	devsys_mask_stream_free(h->p);
	ld_cb_clear(L, &((ld_stream *)h)->write);
}

/* audit({name=, provider=, task_id=, stage=, cached=, error=, json=}); it cannot abort: resolve raises after */
static void audit_cb(const devsys_secret_event *ev, void *payload)
{
	ld_cb *cb = payload;
	lua_State *L = ld_running;
	devsys_buf b = DEVSYS_BUF_INIT;
	if (!ld_cb_push(cb))
		return;
	lua_createtable(L, 0, 7);
	if (devsys_secret_event_json(&b, ev) == 0) /* the record's secret.resolve data, as the pipeline writes it */
		ld_pushbuf(L, &b);
	else {
		devsys_buf_dispose(&b);
		lua_pushnil(L);
	}
	lua_setfield(L, -2, "json");
	lua_pushstring(L, ev->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, ev->provider);
	lua_setfield(L, -2, "provider");
	ld_pushstr(L, ev->task_id);
	lua_setfield(L, -2, "task_id");
	ld_pushstr(L, ev->stage);
	lua_setfield(L, -2, "stage");
	lua_pushboolean(L, ev->cached);
	lua_setfield(L, -2, "cached");
	lua_pushinteger(L, ev->error);
	lua_setfield(L, -2, "error");
	ld_cb_call(cb, 1, 0);
}

/*
 * devsys.secrets([{ws=, docker_secrets_dir=, command_timeout_ms=, audit=fn(event), record_events=}])
 * record_events: each resolution made for a task is appended to its events.jsonl (secret.resolve)
 */
static int l_secrets(lua_State *L)
{
	devsys_secrets_options o = DEVSYS_SECRETS_OPTIONS_INIT;
	devsys_secrets *s = NULL;
	ld_secrets *h;
	int rc;
	ld_enter(L);
	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_getfield(L, 1, "ws");
		if (!lua_isnil(L, -1))
			o.ws = ld_check(L, lua_gettop(L), LD_WORKSPACE);
		lua_pop(L, 1);
		o.docker_secrets_dir = ld_field_str(L, 1, "docker_secrets_dir", NULL);
		o.command_timeout_ms = (unsigned int)ld_field_int(L, 1, "command_timeout_ms", 0);
#ifdef DEVSYS_FEATURE_RECORD
		if (ld_field_bool(L, 1, "record_events", false))
			o.event_cb = devsys_record_secret_event; /* the library's own writer: no Lua runs */
#endif
	}
	h = ld_new(L, LD_SECRETS, sizeof(*h), NULL, secrets_release);
	ld_cb_init(&h->audit);
	if (!lua_isnoneornil(L, 1)) {
		lua_getfield(L, 1, "audit");
		ld_cb_set(L, &h->audit, -1);
		lua_pop(L, 1);
	}
	if (h->audit.fn != LUA_NOREF) {
		o.audit_cb = audit_cb;
		o.audit_payload = &h->audit;
	}
	if ((rc = devsys_secrets_new(&s, &o)) < 0)
		return ld_fail(L, rc, NULL);
	h->h.p = s;
	return 1;
}

/* secrets:define{name=, provider=, ref=, argv={...}, ttl_s=} */
static int s_define(lua_State *L)
{
	devsys_secrets *s = ld_check(L, 1, LD_SECRETS);
	devsys_secret_def d;
	size_t n = 0;
	int rc;
	memset(&d, 0, sizeof(d));
	d.version = DEVSYS_SECRET_DEF_VERSION;
	luaL_checktype(L, 2, LUA_TTABLE);
	d.name = ld_field_str(L, 2, "name", NULL);
	d.provider = ld_field_str(L, 2, "provider", NULL);
	d.ref = ld_field_str(L, 2, "ref", NULL);
	d.argv = ld_str_array(L, 2, "argv", &n);
	d.ttl_s = (unsigned int)ld_field_int(L, 2, "ttl_s", 0);
	if ((rc = devsys_secrets_define(s, &d)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

/* secrets:resolve(name [, task [, stage]]) -> value | nil, msg, code */
static int s_resolve(lua_State *L)
{
	devsys_secrets *s = ld_check(L, 1, LD_SECRETS);
	ld_secrets *h = (ld_secrets *)ld_ud(L, 1, LD_SECRETS);
	const char *name = ld_checkcstr(L, 2);
	devsys_task *t = lua_isnoneornil(L, 3) ? NULL : ld_check(L, 3, LD_TASK);
	const char *stage = ld_optcstr(L, 4, NULL);
	const char *value = NULL;
	size_t len = 0;
	int rc;
	ld_enter(L);
	rc = devsys_secrets_resolve(s, name, t, stage, &value, &len);
	ld_cb_raise_pending(L, &h->audit);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushlstring(L, value, len);
	return 1;
}

static int s_resolve_all(lua_State *L)
{
	devsys_secrets *s = ld_check(L, 1, LD_SECRETS);
	ld_secrets *h = (ld_secrets *)ld_ud(L, 1, LD_SECRETS);
	devsys_task *t = lua_isnoneornil(L, 2) ? NULL : ld_check(L, 2, LD_TASK);
	const char *stage = ld_optcstr(L, 3, NULL);
	int rc;
	ld_enter(L);
	rc = devsys_secrets_resolve_all(s, t, stage);
	ld_cb_raise_pending(L, &h->audit);
	return ld_ok(L, rc);
}

static int push_masker(lua_State *L, int rc, devsys_masker *m)
{
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_MASKER, sizeof(ld_handle), m, masker_release);
	return 1;
}

static int s_masker(lua_State *L)
{
	devsys_secrets *s = ld_check(L, 1, LD_SECRETS);
	devsys_masker *m = NULL;
	int rc = devsys_secrets_masker(&m, s);
	return push_masker(L, rc, m);
}

static int l_masker(lua_State *L)
{
	devsys_masker *m = NULL;
	int rc = devsys_masker_new(&m);
	return push_masker(L, rc, m);
}

/* masker:add(name, value) -> true | nil, msg, code (DEVSYS_EINVALID: a line too short; the rest is added) */
static int m_add(lua_State *L)
{
	devsys_masker *m = ld_check(L, 1, LD_MASKER);
	const char *name = ld_checkcstr(L, 2);
	size_t len;
	const char *value = luaL_checklstring(L, 3, &len);
	int rc = devsys_masker_add(m, name, value, len);
	return ld_ok(L, rc);
}

static int m_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)devsys_masker_count(ld_check(L, 1, LD_MASKER)));
	return 1;
}

static int m_mask(lua_State *L)
{
	devsys_masker *m = ld_check(L, 1, LD_MASKER);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_masker_mask(m, text, len, &b);
	return ld_buf_result(L, rc, &b);
}

static int write_cb(const char *data, size_t len, void *payload)
{
	ld_cb *cb = payload;
	if (!ld_cb_push(cb))
		return 0;
	lua_pushlstring(ld_running, data, len);
	if (ld_cb_call(cb, 1, 1))
		return 1;
	lua_pop(ld_running, 1);
	return 0;
}

/* masker:stream(fn(masked_bytes)) -> stream (holds a reference on the masker) */
static int m_stream(lua_State *L)
{
	devsys_masker *m = ld_check(L, 1, LD_MASKER);
	devsys_mask_stream *s = NULL;
	ld_stream *h;
	int rc;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	h = ld_new(L, LD_STREAM, sizeof(*h), NULL, stream_release);
	ld_cb_init(&h->write);
	ld_cb_set(L, &h->write, 2);
	if ((rc = devsys_mask_stream_new(&s, m, write_cb, &h->write)) < 0)
		return ld_fail(L, rc, NULL);
	h->h.p = s;
	return 1;
}

static int st_write(lua_State *L)
{
	devsys_mask_stream *s = ld_check(L, 1, LD_STREAM);
	ld_stream *h = (ld_stream *)ld_ud(L, 1, LD_STREAM);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	int rc = devsys_mask_stream_write(s, data, len);
	if (rc < 0)
		return ld_fail(L, rc, &h->write);
	lua_pushboolean(L, 1);
	return 1;
}

static int st_finish(lua_State *L)
{
	devsys_mask_stream *s = ld_check(L, 1, LD_STREAM);
	ld_stream *h = (ld_stream *)ld_ud(L, 1, LD_STREAM);
	int rc = devsys_mask_stream_finish(s);
	if (rc < 0)
		return ld_fail(L, rc, &h->write);
	lua_pushboolean(L, 1);
	return 1;
}

/* ws:add_masker(masker): every log line of the workspace passes through it */
static int l_add_redactor(lua_State *L)
{
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	devsys_masker *m = ld_check(L, 2, LD_MASKER);
	const devsys_redactor_vtable *vt = NULL;
	void *self = NULL;
	int rc = devsys_masker_redactor(&vt, &self, m);
	if (rc == 0 && (rc = devsys_workspace_add_redactor(ws, vt, self)) < 0)
		vt->release(self); /* not registered: drop the redactor's reference */
	return ld_ok(L, rc);
}

void ld_open_secrets(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "secrets", l_secrets },
		{ "masker", l_masker },
		{ NULL, NULL },
	};
	static const luaL_Reg s_methods[] = {
		{ "define", s_define },
		{ "resolve", s_resolve },
		{ "resolve_all", s_resolve_all },
		{ "masker", s_masker },
		{ NULL, NULL },
	};
	static const luaL_Reg m_methods[] = {
		{ "add", m_add },
		{ "count", m_count },
		{ "mask", m_mask },
		{ "stream", m_stream },
		{ NULL, NULL },
	};
	static const luaL_Reg st_methods[] = {
		{ "write", st_write },
		{ "finish", st_finish },
		{ NULL, NULL },
	};
	ld_register(L, LD_SECRETS, s_methods);
	ld_register(L, LD_MASKER, m_methods);
	ld_register(L, LD_STREAM, st_methods);
	luaL_setfuncs(L, fns, 0);
	/* the workspace method lives with the masker it needs */
	ld_add_method(L, LD_WORKSPACE, "add_masker", l_add_redactor);
}
#endif /* DEVSYS_FEATURE_SECRETS */
