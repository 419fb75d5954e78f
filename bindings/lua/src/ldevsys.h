/*
 * The Lua 5.4 binding of libdevsys: shared declarations.
 *
 * Every handle is a full userdata whose first member is an ld_handle; its
 * metatable (named "devsys.<Type>") has __gc, __close and a close method, all
 * the same idempotent release. The library's own references (docs/abi.md,
 * "Lifetimes") keep a parent alive while a child needs it, so collection
 * order never matters.
 *
 * Errors: an expected failure returns nil, message, code (a negative
 * DEVSYS_E* number, see devsys.E); misuse (a wrong type, a closed handle, a
 * string with a NUL byte where C wants a C string) raises. A Lua callback
 * that raises makes its C call fail with DEVSYS_EUSER, and the binding then
 * raises the callback's own error again.
 */
#ifndef LDEVSYS_H
#define LDEVSYS_H

#include <devsys.h>
#include <devsys/sys/agent.h>
#include <devsys/sys/errors.h>
#include <devsys/sys/forge.h>
#include <devsys/sys/redactor.h>
#include <devsys/sys/runner.h>
#include <devsys/sys/runner_docker.h>
#include <devsys/sys/secrets.h>
#include <devsys/sys/stage.h>
#include <lauxlib.h>
#include <lua.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct ld_handle {
	void *p;                 /* the C handle; NULL once closed */
	void (*release)(lua_State *L, struct ld_handle *h);
} ld_handle;

/* A Lua function a C callback calls, and the error it raised. */
typedef struct ld_cb {
	int fn;  /* registry ref of the function, or LUA_NOREF */
	int err; /* registry ref of an error the function raised, or LUA_NOREF */
} ld_cb;

/*
 * The state that made the C call now in progress: callbacks run on it. Set
 * by ld_check() (every method checks its self) and ld_enter(); a C callback
 * only ever runs inside such a call, on the same OS thread.
 */
extern _Thread_local lua_State *ld_running;
/*
 * A binding call starts: @p L runs it. At the top level (no Lua call the
 * binding made from C under way on this thread) an error a plug-in kept
 * for an earlier call that did not raise it is dropped, so it is never
 * raised by an unrelated later call. core.c.
 */
void ld_enter(lua_State *L);
/* lua_pcall() for the binding's calls into Lua from C (counted, see ld_enter); ld_running is restored after. */
int ld_pcall(lua_State *L, int nargs, int nresults);

/* A new userdata of @p size bytes (an ld_handle first) with @p tname's metatable. */
void *ld_new(lua_State *L, const char *tname, size_t size, void *p, void (*release)(lua_State *L, ld_handle *h));
/* The open handle at @p idx, or raise (wrong type, or closed). */
void *ld_check(lua_State *L, int idx, const char *tname);
/* The userdata itself (open or closed). */
ld_handle *ld_ud(lua_State *L, int idx, const char *tname);
/* A string argument without NUL bytes (a C string), or raise. */
const char *ld_checkcstr(lua_State *L, int idx);
const char *ld_optcstr(lua_State *L, int idx, const char *def);
/* Field @p k of the table at @p idx as a C string / integer / boolean, or the default. */
const char *ld_field_str(lua_State *L, int idx, const char *k, const char *def);
lua_Integer ld_field_int(lua_State *L, int idx, const char *k, lua_Integer def);
bool ld_field_bool(lua_State *L, int idx, const char *k, bool def);
/*
 * Array field @p k of the table at @p idx as a NULL-terminated vector (NULL
 * when absent); the vector is a userdata left on the stack, the strings
 * belong to the table.
 */
const char **ld_str_array(lua_State *L, int idx, const char *k, size_t *n);
/* Register a handle type: its metatable with methods and the shared release. */
void ld_register(lua_State *L, const char *tname, const luaL_Reg *methods);
/* Add method @p name to registered handle type @p tname (one module's method on another's type). */
void ld_add_method(lua_State *L, const char *tname, const char *name, lua_CFunction fn);
/*
 * Set *@p dead to 1 when @p L closes (a sentinel in its registry): for what a
 * plug-in registered from @p L, which outlives the state.
 */
void ld_mark_dead_at_close(lua_State *L, int *dead);

/* nil, message, code; or, for DEVSYS_EUSER with a raised callback error, raise it again. */
int ld_fail(lua_State *L, int rc, ld_cb *cb);
/* Push a devsys_buf's bytes and dispose it. */
void ld_pushbuf(lua_State *L, devsys_buf *b);
/* Push a string or nil. */
void ld_pushstr(lua_State *L, const char *s);
/* A call's result with nothing to return: true; or nil, message, code (ld_fail). */
int ld_ok(lua_State *L, int rc);
/* A call's devsys_buf result: its bytes; or nil, message, code. Disposes @p b either way. */
int ld_buf_result(lua_State *L, int rc, devsys_buf *b);
/*
 * Push a new array table of @p n entries: @p push_i, a statement that may use
 * size_t i (0 to n - 1), pushes entry i + 1.
 */
#define LD_PUSH_ARRAY(L, n, push_i)                                   \
	do {                                                          \
		size_t ld_n_ = (n);                                   \
		lua_createtable((L), (int)ld_n_, 0);                  \
		for (size_t i = 0; i < ld_n_; i++) {                  \
			push_i;                                       \
			lua_rawseti((L), -2, (lua_Integer)i + 1);     \
		}                                                     \
	} while (0)
/*
 * A plug-in's method looked up protected (an __index metamethod may run, and
 * raise: never across the library's frames): call ld_lookup_k with the
 * object and the name pushed (2 arguments, 1 result); ld_absent() says
 * whether the result is the marker for a missing method.
 */
int ld_lookup_k(lua_State *L);
bool ld_absent(lua_State *L, int idx);

/* Callbacks: store the function at @p idx (nil: none); call with nargs already pushed after it. */
void ld_cb_init(ld_cb *cb);
void ld_cb_set(lua_State *L, ld_cb *cb, int idx);
void ld_cb_clear(lua_State *L, ld_cb *cb);
/* Push the function on ld_running (false when none is set). */
bool ld_cb_push(ld_cb *cb);
/*
 * Call it with the @p nargs arguments pushed after it. 0: it returned, its
 * @p nresults results are on ld_running's stack for the caller to pop; 1: it
 * raised (the error is kept in cb->err for ld_fail) or returned false, so
 * the C callback should abort.
 */
int ld_cb_call(ld_cb *cb, int nargs, int nresults);
/* Raise an error the callback kept, if any (for callbacks that cannot abort). */
void ld_cb_raise_pending(lua_State *L, ld_cb *cb);

#define LD_WORKSPACE "devsys.Workspace"
#define LD_TASK "devsys.Task"
#define LD_SPEC "devsys.Spec"
#define LD_SCHEMA "devsys.Schema"
#define LD_VALIDATION "devsys.Validation"
#define LD_REPO "devsys.Repo"
#define LD_COMMITS "devsys.Commits"
#define LD_WORKER "devsys.Worker"
#define LD_RUNNER "devsys.Runner"
#define LD_CONFIG "devsys.Config"
#define LD_SECRETS "devsys.Secrets"
#define LD_MASKER "devsys.Masker"
#define LD_STREAM "devsys.MaskStream"
#define LD_REPORT "devsys.Report"
#define LD_RECORD "devsys.Record"
#define LD_STORE "devsys.Store"
#define LD_POLICY "devsys.Policy"
#define LD_DECISION "devsys.Decision"
#define LD_FORGE "devsys.Forge"
#define LD_PR "devsys.PullRequest"
#define LD_PIPELINE "devsys.Pipeline"
#define LD_STAGE_RUN "devsys.StageRun"
#define LD_SPECKIT "devsys.SpecKitFeature"
#define LD_SPECKIT_LINKS "devsys.SpecKitLinks"

/* Push a table of copies of @p v's errors (an empty table for NULL); spec.c. */
void ld_push_validation(lua_State *L, const devsys_validation *v);

/* Each file adds its functions to the module table at the top of the stack. */
void ld_open_core(lua_State *L);
void ld_open_spec(lua_State *L);
void ld_open_repo(lua_State *L);
void ld_open_runner(lua_State *L);
void ld_open_secrets(lua_State *L);
void ld_open_records(lua_State *L);
void ld_open_forge(lua_State *L); /* policy, forge, pull requests, the gate */
void ld_open_pipeline(lua_State *L);
void ld_open_speckit(lua_State *L);
void ld_open_agent(lua_State *L); /* agent kinds written in Lua */
void ld_open_worker(lua_State *L);
/*
 * Errors Lua plug-ins raise (agent kinds, runner types, forge and secret
 * providers, redactors): a slot that raised keeps the error (on top of the
 * stack) for the binding call under way and fails with DEVSYS_EUSER;
 * ld_fail() raises it again for DEVSYS_EUSER. core.c.
 */
void ld_plugin_keep_error(lua_State *L);
/* Move the kept error, if any, into @p cb (for ld_fail). */
void ld_plugin_take_error(lua_State *L, ld_cb *cb);
/* Raise the kept error, if any (calls whose C function cannot fail). */
void ld_plugin_raise_pending(lua_State *L);
void ld_open_plugins(lua_State *L);
/* runner.c: a new Runner handle owning @p r; run the command table at 2 with @p exec and return as runner:exec. */
void ld_push_runner(lua_State *L, devsys_runner *r);
int ld_runner_exec(lua_State *L, int (*exec)(void *ctx, const devsys_runner_cmd *cmd, devsys_runner_result *res),
                   void *ctx); /* runner types, forge and secret providers, redactors written in Lua */
/* The strings of the list at @p idx as a NULL-terminated vector (a userdata left on the stack), or raise. */
const char **ld_str_list(lua_State *L, int idx, size_t *n);

/*
 * Call tracing (bindings/lua/CMakeLists.txt generates ld_trace_gen.h): each
 * call of an exported function in src/ goes through LD_SITE(i), which keeps
 * a record of the call site in the ld_trace_sites section (so the module
 * knows which functions it calls at all) and, when tracing is on
 * (DEVSYS_LUA_TRACE_CALLS=1 when the module loads), marks function i
 * called. devsys._trace() (core.c) reports both. Declarations must come
 * before: every public header is included above.
 */
#if defined(LD_TRACE) && defined(__GNUC__)
#include <stdatomic.h>
extern int ld_trace_on;
extern _Atomic unsigned char ld_trace_hits[];
static inline void ld_trace_hit(unsigned int i)
{
	if (ld_trace_on)
		atomic_store_explicit(&ld_trace_hits[i], 1, memory_order_relaxed);
}
#define LD_SITE(i)                                                                                          \
	__extension__({                                                                                      \
		static const unsigned short ld_site_ __attribute__((used, section("ld_trace_sites"))) = (i); \
		ld_trace_hit(i);                                                                             \
	})
#include "ld_trace_gen.h"
#endif

#endif /* LDEVSYS_H */
