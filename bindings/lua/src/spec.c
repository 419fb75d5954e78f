/*
 * Specs (YAML/JSON documents as Lua values), compiled schemas and
 * validation results.
 */
#include "ldevsys.h"

#include <devsys/sys/errors.h>
#ifdef DEVSYS_FEATURE_SPEC /* a build without the module has none of this */

#include <string.h>

static void spec_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_spec_free(h->p);
}

static void schema_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_schema_free(h->p);
}

static void validation_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_validation_free(h->p);
}

static int spec_opts(lua_State *L, int idx, devsys_spec_options *o)
{
	const char *fmt;
	if (lua_isnoneornil(L, idx))
		return 0;
	luaL_checktype(L, idx, LUA_TTABLE);
	fmt = ld_field_str(L, idx, "format", "auto");
	if (strcmp(fmt, "auto") == 0)
		o->format = DEVSYS_SPEC_FORMAT_AUTO;
	else if (strcmp(fmt, "yaml") == 0)
		o->format = DEVSYS_SPEC_FORMAT_YAML;
	else if (strcmp(fmt, "json") == 0)
		o->format = DEVSYS_SPEC_FORMAT_JSON;
	else
		return luaL_error(L, "option 'format' must be \"auto\", \"yaml\" or \"json\", not \"%s\"", fmt);
	o->max_size = (size_t)ld_field_int(L, idx, "max_size", 0);
	o->max_depth = (size_t)ld_field_int(L, idx, "max_depth", 0);
	o->max_nodes = (size_t)ld_field_int(L, idx, "max_nodes", 0);
	return 0;
}

/* devsys.spec_load(text [, name [, {format=, max_size=, ...}]]) -> spec | nil, msg, code */
static int l_spec_load(lua_State *L)
{
	size_t len;
	const char *data = luaL_checklstring(L, 1, &len); /* bytes: NUL is the loader's to refuse */
	const char *name = ld_optcstr(L, 2, NULL);
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	ld_handle *h;
	devsys_spec *s = NULL;
	int rc;
	spec_opts(L, 3, &o);
	h = ld_new(L, LD_SPEC, sizeof(*h), NULL, spec_release);
	if ((rc = devsys_spec_load_buffer(&s, data, len, name, &o)) < 0)
		return ld_fail(L, rc, NULL);
	h->p = s;
	return 1;
}

/* devsys.spec_check(text [, name [, opts]]) -> true | nil, msg, code: a task spec's
 * text loaded and validated in one call (devsys_spec_validate_buffer), no handle */
static int l_spec_check(lua_State *L)
{
	size_t len;
	const char *data = luaL_checklstring(L, 1, &len);
	const char *name = ld_optcstr(L, 2, NULL);
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	int rc;
	spec_opts(L, 3, &o);
	if ((rc = devsys_spec_validate_buffer(NULL, NULL, data, len, name, &o)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_spec_load_file(lua_State *L)
{
	const char *path = ld_checkcstr(L, 1);
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	ld_handle *h;
	devsys_spec *s = NULL;
	int rc;
	spec_opts(L, 2, &o);
	h = ld_new(L, LD_SPEC, sizeof(*h), NULL, spec_release);
	if ((rc = devsys_spec_load_file(&s, path, &o)) < 0)
		return ld_fail(L, rc, NULL);
	h->p = s;
	return 1;
}

/* A node as a Lua value: tables for arrays (1-based) and objects; JSON null is devsys.null. */
static void push_node(lua_State *L, const devsys_node *n, int depth)
{
	size_t len, size;
	const char *s;
	luaL_checkstack(L, 4, "spec nesting too deep for the Lua stack");
	if (depth > 200)
		luaL_error(L, "spec nesting deeper than 200 levels cannot be converted to Lua");
	switch (devsys_node_get_type(n)) {
	case DEVSYS_NODE_BOOL:
		lua_pushboolean(L, devsys_node_bool(n));
		return;
	case DEVSYS_NODE_NUMBER:
		if (devsys_node_is_integer(n))
			lua_pushinteger(L, (lua_Integer)devsys_node_number(n));
		else
			lua_pushnumber(L, devsys_node_number(n));
		return;
	case DEVSYS_NODE_STRING:
		s = devsys_node_string(n, &len);
		lua_pushlstring(L, s, len);
		return;
	case DEVSYS_NODE_ARRAY:
		size = devsys_node_size(n);
		LD_PUSH_ARRAY(L, size, push_node(L, devsys_node_at(n, i), depth + 1));
		return;
	case DEVSYS_NODE_OBJECT:
		size = devsys_node_size(n);
		lua_createtable(L, 0, (int)size);
		for (size_t i = 0; i < size; i++) {
			push_node(L, devsys_node_at(n, i), depth + 1);
			lua_setfield(L, -2, devsys_node_key_at(n, i));
		}
		return;
	default:
		lua_getfield(L, LUA_REGISTRYINDEX, "devsys.null");
		return;
	}
}

static const devsys_node *doc_arg(lua_State *L, const devsys_spec *s, int idx)
{
	lua_Integer i = luaL_optinteger(L, idx, 1);
	if (i < 1 || (size_t)i > devsys_spec_count(s))
		luaL_argerror(L, idx, "document index out of range");
	return devsys_spec_at(s, (size_t)i - 1);
}

static int spec_name(lua_State *L)
{
	lua_pushstring(L, devsys_spec_name(ld_check(L, 1, LD_SPEC)));
	return 1;
}

static int spec_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)devsys_spec_count(ld_check(L, 1, LD_SPEC)));
	return 1;
}

static int spec_get_string(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	ld_pushstr(L, devsys_spec_get_string(s, ld_checkcstr(L, 2)));
	return 1;
}

/* spec:get([pointer [, document]]) -> the value at a JSON pointer as Lua data, its line, column and source; or nil */
static int spec_get(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	const char *ptr = ld_optcstr(L, 2, "");
	const devsys_node *n = devsys_node_get(doc_arg(L, s, 3), ptr);
	if (!n) {
		lua_pushnil(L);
		return 1;
	}
	push_node(L, n, 0);
	lua_pushinteger(L, devsys_node_line(n));
	lua_pushinteger(L, devsys_node_column(n));
	lua_pushstring(L, devsys_node_source(n));
	return 4;
}

/* spec:format() -> "yaml" | "json": what was parsed */
static int spec_format(lua_State *L)
{
	lua_pushstring(L, devsys_spec_get_format(ld_check(L, 1, LD_SPEC)) == DEVSYS_SPEC_FORMAT_JSON ? "json" : "yaml");
	return 1;
}

/* spec:timeout_ms(step [, document]) -> the step's ("agent", "tests", "deploy") timeout in ms | nil, msg, code */
static int spec_timeout_ms(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	const char *step = ld_checkcstr(L, 2);
	lua_Integer i = luaL_optinteger(L, 3, 1);
	unsigned int ms = 0;
	int rc;
	if (i < 1 || (size_t)i > devsys_spec_count(s))
		luaL_argerror(L, 3, "document index out of range");
	if ((rc = devsys_spec_timeout_ms(s, (size_t)i - 1, step, &ms)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, ms);
	return 1;
}

/*
 * spec:duration_ms(pointer [, what [, document]]) -> ms | nil, msg, code: the value at @p pointer
 * as a schema timeout (seconds, or "90s" / "30m" / "2h"); @p what names it in the error.
 */
static int spec_duration_ms(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	const char *ptr = ld_checkcstr(L, 2), *what = ld_optcstr(L, 3, ptr);
	const devsys_node *n = devsys_node_get(doc_arg(L, s, 4), ptr);
	unsigned int ms = 0;
	int rc;
	if (!n)
		return ld_fail(L, devsys_error_set_str(DEVSYS_ENOTFOUND, "the spec has no value at that pointer"), NULL);
	if ((rc = devsys_spec_duration_ms(&ms, n, what)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushinteger(L, ms);
	return 1;
}

static int spec_to_json(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_node_to_json(&b, doc_arg(L, s, 2));
	return ld_buf_result(L, rc, &b);
}

static int push_validation(lua_State *L, int rc, devsys_validation *v)
{
	if (!v)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_VALIDATION, sizeof(ld_handle), v, validation_release);
	return 1;
}

/* spec:validate([document]) -> validation (against the canonical task schema) */
static int spec_validate(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	lua_Integer i = luaL_optinteger(L, 2, 1);
	devsys_validation *v = NULL;
	if (i < 1 || (size_t)i > devsys_spec_count(s))
		luaL_argerror(L, 2, "document index out of range");
	int rc = devsys_spec_validate(&v, s, (size_t)i - 1);
	return push_validation(L, rc, v);
}

/* spec:check([document]) -> true | nil, first error, code: the fast path, no result object */
static int spec_check(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	lua_Integer i = luaL_optinteger(L, 2, 1);
	int rc;
	if (i < 1 || (size_t)i > devsys_spec_count(s))
		luaL_argerror(L, 2, "document index out of range");
	if ((rc = devsys_spec_validate(NULL, s, (size_t)i - 1)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

/* devsys.schema_compile(spec [, document [, {draft=7|202012, format_assert=bool, base_uri=, max_errors=}]]) */
static int l_schema_compile(lua_State *L)
{
	devsys_spec *s = ld_check(L, 1, LD_SPEC);
	const devsys_node *root = doc_arg(L, s, 2);
	devsys_schema_options o = DEVSYS_SCHEMA_OPTIONS_INIT;
	devsys_schema *sc = NULL;
	ld_handle *h;
	int rc;
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		o.default_draft = (int)ld_field_int(L, 3, "draft", 0);
		o.flags = ld_field_bool(L, 3, "format_assert", false) ? DEVSYS_SCHEMA_FORMAT_ASSERT : 0;
		o.base_uri = ld_field_str(L, 3, "base_uri", NULL);
		o.max_errors = (size_t)ld_field_int(L, 3, "max_errors", 0);
	}
	h = ld_new(L, LD_SCHEMA, sizeof(*h), NULL, schema_release);
	if ((rc = devsys_schema_compile(&sc, root, &o)) < 0)
		return ld_fail(L, rc, NULL);
	h->p = sc;
	return 1;
}

/* schema:validate(spec [, document]) -> validation */
static int schema_validate(lua_State *L)
{
	devsys_schema *sc = ld_check(L, 1, LD_SCHEMA);
	devsys_spec *s = ld_check(L, 2, LD_SPEC);
	const devsys_node *doc = doc_arg(L, s, 3);
	devsys_validation *v = NULL;
	int rc = devsys_schema_validate(&v, sc, doc);
	return push_validation(L, rc, v);
}

/* schema:check(spec [, document]) -> true | nil, first error, code (the fast path) */
static int schema_check(lua_State *L)
{
	devsys_schema *sc = ld_check(L, 1, LD_SCHEMA);
	devsys_spec *s = ld_check(L, 2, LD_SPEC);
	int rc = devsys_schema_validate(NULL, sc, doc_arg(L, s, 3));
	return ld_ok(L, rc);
}

static int schema_draft(lua_State *L)
{
	lua_pushinteger(L, devsys_schema_get_draft(ld_check(L, 1, LD_SCHEMA)));
	return 1;
}

static int v_valid(lua_State *L)
{
	lua_pushboolean(L, devsys_validation_valid(ld_check(L, 1, LD_VALIDATION)));
	return 1;
}

static int v_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)devsys_validation_count(ld_check(L, 1, LD_VALIDATION)));
	return 1;
}

static void push_error(lua_State *L, const devsys_validation_error *e)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, devsys_validation_error_message(e));
	lua_setfield(L, -2, "message");
	lua_pushstring(L, devsys_validation_error_instance_location(e));
	lua_setfield(L, -2, "instance_location");
	lua_pushstring(L, devsys_validation_error_keyword_location(e));
	lua_setfield(L, -2, "keyword_location");
	lua_pushstring(L, devsys_validation_error_absolute_keyword_location(e));
	lua_setfield(L, -2, "absolute_keyword_location");
	lua_pushstring(L, devsys_validation_error_keyword(e));
	lua_setfield(L, -2, "keyword");
	ld_pushstr(L, devsys_validation_error_file(e));
	lua_setfield(L, -2, "file");
	lua_pushinteger(L, devsys_validation_error_line(e));
	lua_setfield(L, -2, "line");
	lua_pushinteger(L, devsys_validation_error_column(e));
	lua_setfield(L, -2, "column");
}

void ld_push_validation(lua_State *L, const devsys_validation *v)
{
	LD_PUSH_ARRAY(L, v ? devsys_validation_count(v) : 0, push_error(L, devsys_validation_at(v, i)));
}

/* validation:errors() -> { {message=, instance_location=, ...}, ... } (copies) */
static int v_errors(lua_State *L)
{
	ld_push_validation(L, ld_check(L, 1, LD_VALIDATION));
	return 1;
}

/* validation:to_json() -> the errors in JSON Schema's "basic" output format */
static int v_to_json(lua_State *L)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_validation_to_json(&b, ld_check(L, 1, LD_VALIDATION));
	return ld_buf_result(L, rc, &b);
}

/* devsys.task_schema() -> the canonical task schema, compiled (the library's: closing it frees nothing) */
static int l_task_schema(lua_State *L)
{
	const devsys_schema *sc = NULL;
	int rc = devsys_spec_task_schema(&sc);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_SCHEMA, sizeof(ld_handle), (void *)sc, NULL);
	return 1;
}

static int l_task_schema_text(lua_State *L)
{
	lua_pushstring(L, devsys_spec_task_schema_text());
	return 1;
}

static int null_tostring(lua_State *L)
{
	lua_pushliteral(L, "devsys.null");
	return 1;
}

void ld_open_spec(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "spec_load", l_spec_load },
		{ "spec_load_file", l_spec_load_file },
		{ "spec_check", l_spec_check },
		{ "schema_compile", l_schema_compile },
		{ "task_schema_text", l_task_schema_text },
		{ "task_schema", l_task_schema },
		{ NULL, NULL },
	};
	static const luaL_Reg spec_methods[] = {
		{ "name", spec_name },         { "count", spec_count },       { "get_string", spec_get_string },
		{ "get", spec_get },           { "to_json", spec_to_json },   { "validate", spec_validate },
		{ "check", spec_check },       { "duration_ms", spec_duration_ms }, { "format", spec_format },
		{ "timeout_ms", spec_timeout_ms }, { NULL, NULL },
	};
	static const luaL_Reg schema_methods[] = {
		{ "validate", schema_validate },
		{ "check", schema_check },
		{ "draft", schema_draft },
		{ NULL, NULL },
	};
	static const luaL_Reg v_methods[] = {
		{ "valid", v_valid },
		{ "count", v_count },
		{ "errors", v_errors },
		{ "to_json", v_to_json },
		{ NULL, NULL },
	};
	ld_register(L, LD_SPEC, spec_methods);
	ld_register(L, LD_SCHEMA, schema_methods);
	ld_register(L, LD_VALIDATION, v_methods);
	luaL_setfuncs(L, fns, 0);
	/* JSON null: one light sentinel value, devsys.null */
	lua_newuserdatauv(L, 0, 0);
	lua_newtable(L);
	lua_pushcfunction(L, null_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, "devsys.null");
	lua_setfield(L, -2, "null");
}
#endif /* DEVSYS_FEATURE_SPEC */
