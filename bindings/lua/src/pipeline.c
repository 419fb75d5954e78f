/*
 * The pipeline: validate a spec, then run the task's stages (all that
 * remain, one, or the coding ones), with a progress callback. The pipeline
 * holds a reference on its workspace (docs/abi.md); the runner options and
 * the callback it keeps until it is freed live in its userdata.
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_PIPELINE


#include <stdlib.h>
#include <string.h>

typedef struct {
	ld_handle h;
	ld_cb progress;
	devsys_runner_options runner; /* borrowed by the pipeline until devsys_pipeline_free() */
} ld_pipeline;

static const char *event_kind(int kind)
{
	switch (kind) {
	case DEVSYS_PIPELINE_EVENT_STAGE_BEGIN: return "stage-begin";
	case DEVSYS_PIPELINE_EVENT_STAGE_END: return "stage-end";
	case DEVSYS_PIPELINE_EVENT_OUTPUT: return "output";
	case DEVSYS_PIPELINE_EVENT_PROGRESS: return "progress";
	default: return "?";
	}
}

/* {stage=, result=, failure_class= (a name, nil when none), error=, outcome=} */
static void push_result(lua_State *L, const devsys_stage_result *r)
{
	lua_createtable(L, 0, 5);
	ld_pushstr(L, r->stage);
	lua_setfield(L, -2, "stage");
	ld_pushstr(L, r->result);
	lua_setfield(L, -2, "result");
	ld_pushstr(L, devsys_failure_class_name(r->failure_class));
	lua_setfield(L, -2, "failure_class");
	lua_pushinteger(L, r->error);
	lua_setfield(L, -2, "error");
	ld_pushstr(L, r->outcome);
	lua_setfield(L, -2, "outcome");
}

/* progress{kind=, task_id=, stage=, result=, data=, current=, total=}: raise or return false to cancel */
static int progress_cb(const devsys_pipeline_event *e, void *payload)
{
	ld_cb *cb = payload;
	lua_State *L = ld_running;
	if (!ld_cb_push(cb))
		return 0;
	lua_createtable(L, 0, 7);
	lua_pushstring(L, event_kind(e->kind));
	lua_setfield(L, -2, "kind");
	ld_pushstr(L, e->task_id);
	lua_setfield(L, -2, "task_id");
	ld_pushstr(L, e->stage);
	lua_setfield(L, -2, "stage");
	if (e->result) {
		push_result(L, e->result);
		lua_setfield(L, -2, "result");
	}
	if (e->data && e->kind == DEVSYS_PIPELINE_EVENT_OUTPUT)
		lua_pushlstring(L, e->data, e->len);
	else
		ld_pushstr(L, e->data);
	lua_setfield(L, -2, "data");
	lua_pushinteger(L, (lua_Integer)e->current);
	lua_setfield(L, -2, "current");
	lua_pushinteger(L, (lua_Integer)e->total);
	lua_setfield(L, -2, "total");
	if (ld_cb_call(cb, 1, 1))
		return 1;
	lua_pop(L, 1);
	return 0;
}

static void pipeline_release(lua_State *L, ld_handle *h)
{
	devsys_pipeline_free(h->p);
	ld_cb_clear(L, &((ld_pipeline *)h)->progress);
}

/*
 * devsys.pipeline(ws [, {config_path=, progress=fn, agent_idle_timeout_ms=, max_output_bytes=,
 *   agent_env_scrub={...}, grace_ms=}]) -> pipeline | nil, msg, code
 */
static int l_pipeline(lua_State *L)
{
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	devsys_pipeline_options o = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_pipeline *p = NULL;
	ld_pipeline *h;
	size_t nscrub = 0;
	bool scrub = false;
	int rc;

	lua_settop(L, 2); /* the options slot stays 2 with the userdata above it */
	h = ld_new(L, LD_PIPELINE, sizeof(*h), NULL, pipeline_release);
	ld_cb_init(&h->progress);
	devsys_runner_options_init(&h->runner, DEVSYS_RUNNER_OPTIONS_VERSION);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		o.config_path = ld_field_str(L, 2, "config_path", NULL);
		o.agent_idle_timeout_ms = (unsigned int)ld_field_int(L, 2, "agent_idle_timeout_ms", 0);
		o.max_output_bytes = (uint64_t)ld_field_int(L, 2, "max_output_bytes", 0);
		h->runner.grace_ms = (unsigned int)ld_field_int(L, 2, "grace_ms", h->runner.grace_ms);
		o.runner = &h->runner;
		lua_getfield(L, 2, "progress");
		ld_cb_set(L, &h->progress, -1);
		lua_pop(L, 1);
		o.agent_env_scrub = ld_str_array(L, 2, "agent_env_scrub", &nscrub); /* copied by devsys_pipeline_new() */
		scrub = o.agent_env_scrub != NULL;
	}
	if (h->progress.fn != LUA_NOREF) {
		o.progress = progress_cb;
		o.progress_payload = &h->progress;
	}
	if ((rc = devsys_pipeline_new(&p, ws, &o)) < 0)
		return ld_fail(L, rc, NULL);
	h->h.p = p;
	if (scrub)
		lua_pop(L, 1); /* the scrub vector, above the pipeline userdata returned */
	return 1;
}

/* The stage's result, or nil, msg, code, result; a callback's error is raised again. */
static int stage_return(lua_State *L, int rc, const devsys_stage_result *r, ld_pipeline *h)
{
	if (rc < 0) {
		ld_plugin_take_error(L, &h->progress); /* a Lua plug-in's error (an agent kind's...) is raised again too */
		ld_fail(L, rc, &h->progress);
		push_result(L, r);
		return 4;
	}
	ld_cb_raise_pending(L, &h->progress);
	push_result(L, r);
	return 1;
}

static int push_spec_json(lua_State *L, const devsys_spec *spec);

/* p:spec_json() -> the spec of the last p:validate() that could load it, as JSON text, or nil */
static int p_spec_json(lua_State *L)
{
	return push_spec_json(L, devsys_pipeline_spec(ld_check(L, 1, LD_PIPELINE)));
}

/* p:validate(spec_text [, name]) -> result | nil, msg, code, result */
static int p_validate(lua_State *L)
{
	devsys_pipeline *p = ld_check(L, 1, LD_PIPELINE);
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	size_t len;
	const char *spec = luaL_checklstring(L, 2, &len);
	int rc = devsys_pipeline_validate(&r, p, spec, len, ld_optcstr(L, 3, NULL));
	return stage_return(L, rc, &r, (ld_pipeline *)ld_ud(L, 1, LD_PIPELINE));
}

/* p:run() -> the last stage's result (a resting state) | nil, msg, code, result */
static int p_run(lua_State *L)
{
	devsys_pipeline *p = ld_check(L, 1, LD_PIPELINE);
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	int rc = devsys_pipeline_run(&r, p);
	return stage_return(L, rc, &r, (ld_pipeline *)ld_ud(L, 1, LD_PIPELINE));
}

/* p:run_stage(name) -> result | nil, msg, code, result */
static int p_run_stage(lua_State *L)
{
	devsys_pipeline *p = ld_check(L, 1, LD_PIPELINE);
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	int rc = devsys_pipeline_run_stage(&r, p, ld_checkcstr(L, 2));
	return stage_return(L, rc, &r, (ld_pipeline *)ld_ud(L, 1, LD_PIPELINE));
}

/* p:code() -> the last coding stage's result | nil, msg, code, result */
static int p_code(lua_State *L)
{
	devsys_pipeline *p = ld_check(L, 1, LD_PIPELINE);
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	int rc = devsys_pipeline_code(&r, p);
	return stage_return(L, rc, &r, (ld_pipeline *)ld_ud(L, 1, LD_PIPELINE));
}

/* p:load(task_id) -> true | nil, msg, code */
static int p_load(lua_State *L)
{
	int rc = devsys_pipeline_load(ld_check(L, 1, LD_PIPELINE), ld_checkcstr(L, 2));
	return ld_ok(L, rc);
}

/* p:cancel(): the running stage (or the next one) ends "canceled" */
static int p_cancel(lua_State *L)
{
	int rc = devsys_pipeline_cancel(ld_check(L, 1, LD_PIPELINE));
	return ld_ok(L, rc);
}

/* p:cancel_task(task_id) -> signaled (true: its owner process was told) | nil, msg, code */
static int p_cancel_task(lua_State *L)
{
	int signaled = 0;
	int rc = devsys_pipeline_cancel_task(&signaled, ld_check(L, 1, LD_PIPELINE), ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, signaled);
	return 1;
}

/* p:validation_errors() -> why the schema refused the last spec (copies; {} otherwise) */
static int p_validation_errors(lua_State *L)
{
	ld_push_validation(L, devsys_pipeline_validation(ld_check(L, 1, LD_PIPELINE)));
	return 1;
}

static int p_task_id(lua_State *L)
{
	ld_pushstr(L, devsys_pipeline_task_id(ld_check(L, 1, LD_PIPELINE)));
	return 1;
}

/* p:state([task_id]) -> the task's state name (default: the pipeline's task) | nil, msg, code */
static int p_state(lua_State *L)
{
	devsys_pipeline *p = ld_check(L, 1, LD_PIPELINE);
	const char *id = ld_optcstr(L, 2, devsys_pipeline_task_id(p));
	int st;
	if (!id)
		return luaL_error(L, "pipeline:state: no task (validate or load one, or name it)");
	if ((st = devsys_store_task_state(devsys_pipeline_store(p), id)) < 0)
		return ld_fail(L, st, NULL);
	lua_pushstring(L, devsys_task_state_name(st));
	return 1;
}

/* ---- stages of one's own (devsys/sys/stage.h) ---- */

/* A registered Lua stage: its function, the state to release it on, its pipeline's callback slot. */
typedef struct {
	ld_cb cb;
	lua_State *main;
	ld_pipeline *pl;
} ld_stage;

/* run:name(), run:task_id(), run:checkout_path(), run:log(text), run:set_outcome(word): during the call only */
static int sr_name(lua_State *L)
{
	ld_pushstr(L, devsys_stage_run_name(ld_check(L, 1, LD_STAGE_RUN)));
	return 1;
}

static int sr_task_id(lua_State *L)
{
	ld_pushstr(L, devsys_stage_run_task_id(ld_check(L, 1, LD_STAGE_RUN)));
	return 1;
}

static int sr_checkout_path(lua_State *L)
{
	devsys_repo *r = NULL;
	int rc = devsys_stage_run_repo(&r, ld_check(L, 1, LD_STAGE_RUN)); /* borrowed during the call */
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushstr(L, devsys_repo_checkout_path(r));
	return 1;
}

static int sr_log(lua_State *L)
{
	devsys_stage_run *run = ld_check(L, 1, LD_STAGE_RUN);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	int rc = devsys_stage_run_log(run, text, len);
	return ld_ok(L, rc);
}

#ifdef DEVSYS_FEATURE_RUNNER
/* run:open_runner(step) -> the runner step's profile names (a new handle) | nil, msg, code */
static int sr_open_runner(lua_State *L)
{
	devsys_runner *r = NULL;
	int rc = devsys_stage_run_open_runner(&r, ld_check(L, 1, LD_STAGE_RUN), ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_push_runner(L, r);
	return 1;
}

typedef struct {
	devsys_stage_run *run;
	devsys_runner *runner;
} sr_exec_ctx;

static int stage_exec(void *ctx, const devsys_runner_cmd *cmd, devsys_runner_result *res)
{
	sr_exec_ctx *x = ctx;
	return devsys_stage_run_exec(x->run, x->runner, cmd, res);
}

/*
 * run:exec(runner, cmd) -> result | nil, msg, code, result: runner:exec as the pipeline runs a built-in
 * stage's command (p:cancel() stops it, its output goes to the progress callback and logs/<stage>.log)
 */
static int sr_exec(lua_State *L)
{
	sr_exec_ctx x;
	x.run = ld_check(L, 1, LD_STAGE_RUN);
	x.runner = ld_check(L, 2, LD_RUNNER);
	lua_settop(L, 3);
	lua_rotate(L, 2, -1); /* the command table at 2, as runner:exec has it; the runner stays on the stack */
	return ld_runner_exec(L, stage_exec, &x);
}
#endif

/* The spec's first document as JSON text, or nil when there is no spec. */
static int push_spec_json(lua_State *L, const devsys_spec *spec)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc;
	if (!spec) {
		lua_pushnil(L);
		return 1;
	}
	if ((rc = devsys_node_to_json(&b, devsys_spec_at(spec, 0))) < 0) {
		devsys_buf_dispose(&b);
		return ld_fail(L, rc, NULL);
	}
	ld_pushbuf(L, &b);
	return 1;
}

/* run:spec_json() -> the task's spec (as validated or reloaded) as JSON text */
static int sr_spec_json(lua_State *L)
{
	return push_spec_json(L, devsys_stage_run_spec(ld_check(L, 1, LD_STAGE_RUN)));
}

static int sr_set_outcome(lua_State *L)
{
	int rc = devsys_stage_run_set_outcome(ld_check(L, 1, LD_STAGE_RUN), ld_checkcstr(L, 2));
	return ld_ok(L, rc);
}

static const char *const failure_classes[] = { "none", "build", "system", "stalled", "timeout", "canceled", NULL };

/*
 * fn(run): return nothing (or true) to succeed; false, message [, outcome [, class]] to fail as
 * a built-in stage fails (class "build" unless named); raise to fail it "system", the error
 * raised again from the p:run() that ran it.
 */
static int stage_run(devsys_stage_run *run, void *self)
{
	ld_stage *st = self;
	lua_State *L = ld_running;
	ld_handle *h;
	int rc = 0, top;
	if (!L || !ld_cb_push(&st->cb))
		return devsys_stage_run_fail(run, DEVSYS_FAILURE_SYSTEM, NULL, "the Lua stage has no state to run on");
	top = lua_gettop(L) - 1;
	h = ld_new(L, LD_STAGE_RUN, sizeof(ld_handle), run, NULL);
	if (ld_pcall(L, 1, 4) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		rc = devsys_stage_run_fail(run, DEVSYS_FAILURE_SYSTEM, "raised", "%s", msg ? msg : "(an error object)");
		if (st->pl->progress.err == LUA_NOREF) /* stage_return() raises it again */
			st->pl->progress.err = luaL_ref(L, LUA_REGISTRYINDEX);
	} else if (lua_isboolean(L, -4) && !lua_toboolean(L, -4)) {
		/* false, message, outcome, class */
		const char *msg = lua_tostring(L, -3), *cls = lua_tostring(L, -1);
		int fc = DEVSYS_FAILURE_BUILD;
		for (int i = 1; cls && failure_classes[i]; i++)
			if (strcmp(cls, failure_classes[i]) == 0)
				fc = i;
		rc = devsys_stage_run_fail(run, fc, lua_tostring(L, -2), "%s", msg ? msg : "the stage failed");
	}
	h->p = NULL; /* the run is valid during the call only */
	ld_running = L;
	lua_settop(L, top);
	return rc;
}

static void stage_release(void *self)
{
	ld_stage *st = self;
	ld_cb_clear(st->main, &st->cb);
	free(st);
}

/* The function at @p fn_idx as stage @p name, added after @p where (@p add) or replacing it. */
static int register_stage(lua_State *L, bool add, const char *where, const char *name, int fn_idx)
{
	devsys_pipeline *p = ld_check(L, 1, LD_PIPELINE);
	devsys_stage_vtable vt = { DEVSYS_STAGE_VTABLE_VERSION, name, stage_run, stage_release };
	ld_stage *st;
	int rc;
	luaL_checktype(L, fn_idx, LUA_TFUNCTION);
	if (!(st = malloc(sizeof(*st))))
		return luaL_error(L, "out of memory");
	ld_cb_init(&st->cb);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	st->main = lua_tothread(L, -1);
	lua_pop(L, 1);
	st->pl = (ld_pipeline *)ld_ud(L, 1, LD_PIPELINE);
	ld_cb_set(L, &st->cb, fn_idx);
	rc = add ? devsys_pipeline_add_stage(p, where, &vt, st) : devsys_pipeline_replace_stage(p, where, &vt, st);
	if (rc < 0) {
		stage_release(st); /* not called by the library when registration fails */
		return ld_fail(L, rc, NULL);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* p:add_stage(after, name, fn) -> true | nil, msg, code */
static int p_add_stage(lua_State *L)
{
	return register_stage(L, true, ld_checkcstr(L, 2), ld_checkcstr(L, 3), 4);
}

/* p:replace_stage(name, fn) -> true | nil, msg, code */
static int p_replace_stage(lua_State *L)
{
	return register_stage(L, false, ld_checkcstr(L, 2), NULL, 3);
}

/* devsys.pipeline_stages() -> { "validate", "checkout", ... } in the order a task runs them */
static int l_pipeline_stages(lua_State *L)
{
	LD_PUSH_ARRAY(L, devsys_pipeline_stage_count(), lua_pushstring(L, devsys_pipeline_stage_name(i)));
	return 1;
}

void ld_open_pipeline(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "pipeline", l_pipeline },
		{ "pipeline_stages", l_pipeline_stages },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "validate", p_validate }, { "run", p_run },       { "run_stage", p_run_stage },
		{ "code", p_code },         { "load", p_load },     { "cancel", p_cancel },
		{ "cancel_task", p_cancel_task }, { "task_id", p_task_id }, { "state", p_state },
		{ "validation_errors", p_validation_errors }, { "add_stage", p_add_stage },
		{ "replace_stage", p_replace_stage }, { "spec_json", p_spec_json },
		{ NULL, NULL },
	};
	static const luaL_Reg run_methods[] = {
		{ "name", sr_name },   { "task_id", sr_task_id },         { "checkout_path", sr_checkout_path },
		{ "log", sr_log },     { "set_outcome", sr_set_outcome }, { "spec_json", sr_spec_json },
#ifdef DEVSYS_FEATURE_RUNNER
		{ "open_runner", sr_open_runner }, { "exec", sr_exec },
#endif
		{ NULL, NULL },
	};
	ld_register(L, LD_PIPELINE, methods);
	ld_register(L, LD_STAGE_RUN, run_methods);
	luaL_setfuncs(L, fns, 0);
}
#endif /* DEVSYS_FEATURE_PIPELINE */
