/*
 * Runners: open by type, exec with an output callback, prepare/cleanup a
 * task, upload/download, describe. The runner holds references on the
 * workspace and masker its options name.
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_RUNNER /* a build without the module has none of this */

#include <string.h>

static void runner_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_runner_free(h->p);
}

/*
 * devsys.runner_open(type [, {ws=, masker=, allow_shell=, grace_ms=, tail_max=, rlimit_cpu_s=,
 *   rlimit_as_bytes=, rlimit_nofile=, host=, port=, user=, key_file=, known_hosts=, connect_timeout_ms=,
 *   retries=, remote_dir=, trust_on_first_use=, use_agent=}]) -> runner | nil, msg, code
 */
static int l_runner_open(lua_State *L)
{
	const char *type = ld_checkcstr(L, 1);
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner *r = NULL;
	ld_handle *h;
	int rc;

	ld_enter(L);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "ws");
		if (!lua_isnil(L, -1))
			o.ws = ld_check(L, lua_gettop(L), LD_WORKSPACE);
		lua_pop(L, 1);
		lua_getfield(L, 2, "masker");
		if (!lua_isnil(L, -1))
			o.masker = ld_check(L, lua_gettop(L), LD_MASKER);
		lua_pop(L, 1);
		if (ld_field_bool(L, 2, "allow_shell", false))
			o.flags |= DEVSYS_RUNNER_ALLOW_SHELL;
		if (ld_field_bool(L, 2, "trust_on_first_use", false))
			o.flags |= DEVSYS_RUNNER_TRUST_ON_FIRST_USE;
		if (ld_field_bool(L, 2, "use_agent", false))
			o.flags |= DEVSYS_RUNNER_USE_AGENT;
		o.grace_ms = (unsigned int)ld_field_int(L, 2, "grace_ms", 0);
		o.tail_max = (size_t)ld_field_int(L, 2, "tail_max", 0);
		o.rlimit_cpu_s = (uint64_t)ld_field_int(L, 2, "rlimit_cpu_s", 0);
		o.rlimit_as_bytes = (uint64_t)ld_field_int(L, 2, "rlimit_as_bytes", 0);
		o.rlimit_nofile = (uint64_t)ld_field_int(L, 2, "rlimit_nofile", 0);
		o.host = ld_field_str(L, 2, "host", NULL);
		o.port = (unsigned int)ld_field_int(L, 2, "port", 0);
		o.user = ld_field_str(L, 2, "user", NULL);
		o.key_file = ld_field_str(L, 2, "key_file", NULL);
		o.key_passphrase = ld_field_str(L, 2, "key_passphrase", NULL);
		o.known_hosts = ld_field_str(L, 2, "known_hosts", NULL);
		o.connect_timeout_ms = (unsigned int)ld_field_int(L, 2, "connect_timeout_ms", 0);
		o.keepalive_s = (unsigned int)ld_field_int(L, 2, "keepalive_s", 0);
		o.retries = (unsigned int)ld_field_int(L, 2, "retries", 0);
		o.remote_dir = ld_field_str(L, 2, "remote_dir", NULL);
	}
	h = ld_new(L, LD_RUNNER, sizeof(*h), NULL, runner_release);
	if ((rc = devsys_runner_open(&r, type, &o)) < 0)
		return ld_fail(L, rc, NULL);
	h->p = r;
	return 1;
}

/* output(stream, data) with stream "stdout" or "stderr": raise or return false to stop the command */
static int output_cb(int stream, const char *data, size_t len, void *payload)
{
	ld_cb *cb = payload;
	if (!ld_cb_push(cb))
		return 0;
	lua_pushstring(ld_running, stream == DEVSYS_RUNNER_STDERR ? "stderr" : "stdout");
	lua_pushlstring(ld_running, data, len);
	if (ld_cb_call(cb, 2, 1))
		return 1;
	lua_pop(ld_running, 1);
	return 0;
}

static void push_result(lua_State *L, const devsys_runner_result *res)
{
	lua_createtable(L, 0, 11);
	lua_pushinteger(L, res->failure);
	lua_setfield(L, -2, "failure");
	lua_pushstring(L, devsys_runner_failure_name(res->failure));
	lua_setfield(L, -2, "failure_name");
	lua_pushinteger(L, res->exit_code);
	lua_setfield(L, -2, "exit_code");
	lua_pushinteger(L, res->signal);
	lua_setfield(L, -2, "signal");
	lua_pushinteger(L, (lua_Integer)res->duration_ms);
	lua_setfield(L, -2, "duration_ms");
	lua_pushinteger(L, res->attempts);
	lua_setfield(L, -2, "attempts");
	lua_pushlstring(L, res->tail ? res->tail : "", res->tail ? res->tail_len : 0);
	lua_setfield(L, -2, "tail");
	lua_pushinteger(L, (lua_Integer)res->output_bytes);
	lua_setfield(L, -2, "output_bytes");
	lua_pushboolean(L, res->truncated);
	lua_setfield(L, -2, "truncated");
	ld_pushstr(L, res->log_path);
	lua_setfield(L, -2, "log_path");
}

/*
 * runner:exec({argv={...}, env={"K=V", ...}, cwd=, timeout_ms=, idle_timeout_ms=, max_output_bytes=, stdin=,
 *   stdin_file=, task=, stage=, shell=, inherit_env=, idempotent=, image=, output=fn(stream, data)})
 *   -> result | nil, msg, code, result (the result also for timeouts, cancels and system failures)
 * The options table is at 2; @p exec runs the command (ldevsys.h).
 */
int ld_runner_exec(lua_State *L, int (*exec)(void *ctx, const devsys_runner_cmd *cmd, devsys_runner_result *res),
                   void *ctx)
{
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	ld_cb cb;
	size_t n = 0, len = 0;
	int rc;

	luaL_checktype(L, 2, LUA_TTABLE);
	c.argv = ld_str_array(L, 2, "argv", &n);
	if (!c.argv || n == 0)
		return luaL_error(L, "runner:exec: option 'argv' must be a non-empty array of strings");
	c.env = ld_str_array(L, 2, "env", &n);
	c.cwd = ld_field_str(L, 2, "cwd", NULL);
	c.timeout_ms = (unsigned int)ld_field_int(L, 2, "timeout_ms", 0);
	/* the budgets: no output for idle_timeout_ms ends it "stalled", more than max_output_bytes "output-limit" */
	c.idle_timeout_ms = (unsigned int)ld_field_int(L, 2, "idle_timeout_ms", 0);
	c.max_output_bytes = (uint64_t)ld_field_int(L, 2, "max_output_bytes", 0);
	lua_getfield(L, 2, "stdin");
	if (!lua_isnil(L, -1)) {
		c.stdin_data = luaL_checklstring(L, -1, &len);
		c.stdin_len = len;
	}
	lua_pop(L, 1); /* the options table keeps the string */
	c.stdin_file = ld_field_str(L, 2, "stdin_file", NULL);
	c.stage = ld_field_str(L, 2, "stage", NULL);
	c.image = ld_field_str(L, 2, "image", NULL);
	if (ld_field_bool(L, 2, "shell", false))
		c.flags |= DEVSYS_RUNNER_CMD_SHELL;
	if (ld_field_bool(L, 2, "inherit_env", false))
		c.flags |= DEVSYS_RUNNER_CMD_INHERIT_ENV;
	if (ld_field_bool(L, 2, "idempotent", false))
		c.flags |= DEVSYS_RUNNER_CMD_IDEMPOTENT;
	lua_getfield(L, 2, "task");
	if (!lua_isnil(L, -1))
		c.task = ld_check(L, lua_gettop(L), LD_TASK);
	lua_pop(L, 1);
	ld_cb_init(&cb);
	lua_getfield(L, 2, "output");
	ld_cb_set(L, &cb, -1);
	lua_pop(L, 1);
	if (cb.fn != LUA_NOREF) {
		c.output_cb = output_cb;
		c.output_payload = &cb;
	}
	ld_enter(L);
	rc = exec(ctx, &c, &res);
	luaL_unref(L, LUA_REGISTRYINDEX, cb.fn);
	cb.fn = LUA_NOREF;
	if (rc < 0) {
		int nret;
		if (rc == DEVSYS_EUSER)
			ld_plugin_take_error(L, &cb); /* a Lua runner type's slot raised */
		if (cb.err != LUA_NOREF) {
			devsys_runner_result_dispose(&res);
			return ld_fail(L, rc, &cb); /* raises the callback's error */
		}
		nret = ld_fail(L, rc, NULL);
		push_result(L, &res);
		devsys_runner_result_dispose(&res);
		return nret + 1;
	}
	push_result(L, &res);
	devsys_runner_result_dispose(&res);
	return 1;
}

static int plain_exec(void *ctx, const devsys_runner_cmd *cmd, devsys_runner_result *res)
{
	return devsys_runner_exec(ctx, cmd, res);
}

static int runner_exec(lua_State *L)
{
	return ld_runner_exec(L, plain_exec, ld_check(L, 1, LD_RUNNER));
}

void ld_push_runner(lua_State *L, devsys_runner *r)
{
	ld_new(L, LD_RUNNER, sizeof(ld_handle), r, runner_release);
}

static int runner_type(lua_State *L)
{
	lua_pushstring(L, devsys_runner_type(ld_check(L, 1, LD_RUNNER)));
	return 1;
}

static int runner_cancel(lua_State *L)
{
	devsys_runner_cancel(ld_check(L, 1, LD_RUNNER));
	return 0;
}

static int runner_prepare(lua_State *L)
{
	devsys_runner *r = ld_check(L, 1, LD_RUNNER);
	int rc = devsys_runner_prepare(r, ld_check(L, 2, LD_TASK));
	return ld_ok(L, rc);
}

static int runner_cleanup(lua_State *L)
{
	devsys_runner *r = ld_check(L, 1, LD_RUNNER);
	int rc = devsys_runner_cleanup(r, ld_check(L, 2, LD_TASK));
	return ld_ok(L, rc);
}

static int runner_workdir(lua_State *L)
{
	devsys_runner *r = ld_check(L, 1, LD_RUNNER);
	devsys_task *t = lua_isnoneornil(L, 2) ? NULL : ld_check(L, 2, LD_TASK);
	ld_pushstr(L, devsys_runner_workdir(r, t));
	return 1;
}

static int runner_upload(lua_State *L)
{
	devsys_runner *r = ld_check(L, 1, LD_RUNNER);
	int rc = devsys_runner_upload(r, ld_checkcstr(L, 2), ld_checkcstr(L, 3));
	return ld_ok(L, rc);
}

static int runner_download(lua_State *L)
{
	devsys_runner *r = ld_check(L, 1, LD_RUNNER);
	int rc = devsys_runner_download(r, ld_checkcstr(L, 2), ld_checkcstr(L, 3));
	return ld_ok(L, rc);
}

static int runner_describe(lua_State *L)
{
	devsys_runner *r = ld_check(L, 1, LD_RUNNER);
	devsys_runner_description d;
	int rc;
	memset(&d, 0, sizeof(d));
	d.version = DEVSYS_RUNNER_DESCRIPTION_VERSION;
	if ((rc = devsys_runner_describe(r, &d)) < 0)
		return ld_fail(L, rc, NULL);
	lua_createtable(L, 0, 5);
	lua_pushstring(L, d.type);
	lua_setfield(L, -2, "type");
	lua_pushstring(L, d.engine);
	lua_setfield(L, -2, "engine");
	lua_pushstring(L, d.where);
	lua_setfield(L, -2, "where");
	lua_pushstring(L, d.image_id);
	lua_setfield(L, -2, "image_id");
	lua_pushstring(L, d.image_digest);
	lua_setfield(L, -2, "image_digest");
	return 1;
}

static int l_failure_name(lua_State *L)
{
	lua_pushstring(L, devsys_runner_failure_name((int)luaL_checkinteger(L, 1)));
	return 1;
}

#ifdef DEVSYS_FEATURE_DOCKER
/*
 * devsys.runner_docker_sweep([{host=, tls_ca=, tls_cert=, tls_key=}]) -> removed | nil, msg, code:
 * remove the containers and volumes host-docker left behind (`devsys runner sweep`). host: the
 * engine endpoint (nil: $DOCKER_HOST, else /var/run/docker.sock).
 */
static int l_docker_sweep(lua_State *L)
{
	devsys_runner_docker_options o = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	unsigned int removed = 0;
	int rc;
	ld_enter(L);
	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		o.host = ld_field_str(L, 1, "host", NULL);
		o.tls_ca = ld_field_str(L, 1, "tls_ca", NULL);
		o.tls_cert = ld_field_str(L, 1, "tls_cert", NULL);
		o.tls_key = ld_field_str(L, 1, "tls_key", NULL);
	}
	if ((rc = devsys_runner_docker_sweep(&removed, &o)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, removed);
	return 1;
}
#endif

void ld_open_runner(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "runner_open", l_runner_open },
		{ "runner_failure_name", l_failure_name },
#ifdef DEVSYS_FEATURE_DOCKER
		{ "runner_docker_sweep", l_docker_sweep },
#endif
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "exec", runner_exec },         { "type", runner_type },         { "cancel", runner_cancel },
		{ "prepare", runner_prepare },   { "cleanup", runner_cleanup },   { "workdir", runner_workdir },
		{ "upload", runner_upload },     { "download", runner_download }, { "describe", runner_describe },
		{ NULL, NULL },
	};
	ld_register(L, LD_RUNNER, methods);
	luaL_setfuncs(L, fns, 0);
}
#endif /* DEVSYS_FEATURE_RUNNER */
