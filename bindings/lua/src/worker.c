/*
 * The worker (devsys/worker.h): claims the store's queued tasks and runs the
 * pipeline on each, several at once. The worker's events come from its own
 * threads, where no Lua may run: they are copied into a list under a lock
 * and read with w:events() after (or between) runs.
 *
 * w:run() runs the worker on the calling thread, until nothing is left to
 * claim (DEVSYS_WORKER_ONCE). w:run(fn) serialises instead: the worker runs
 * on a thread of the binding's own, and the Lua thread hands each event to
 * fn as it arrives, so fn (and anything it calls, w:stop() included) runs on
 * the Lua state's thread only, never concurrently with another Lua call. A
 * worker opened with forever = true claims until fn calls w:stop().
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_WORKER

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 10000 /* kept until w:events(); later ones are counted, not kept */

typedef struct ev {
	int kind, state;
	unsigned int slot;
	char *task_id, *message, *stage; /* stage: a pipeline event's */
} ev;

typedef struct {
	ld_handle h;
	pthread_mutex_t lock;
	pthread_cond_t more; /* an event arrived, or the run ended (w:run(fn)) */
	ev *evs;
	size_t n, cap, dropped;
	size_t delivered; /* events fn was given so far (w:run(fn)) */
	int pumping;      /* w:run(fn) is under way */
	int done, rc;     /* the run thread's end and devsys_worker_run()'s code */
	int forever;      /* opened without DEVSYS_WORKER_ONCE */
	char msg[512];    /* devsys_worker_run()'s error message on the run thread */
} ld_worker;

static const char *const kinds[] = { "?", "claimed", "refused", "ended", "handed-back", "lease-lost", "cancel",
	                             "error", "pipeline", "idle" };

static char *ev_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void free_events(ld_worker *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->evs[i].task_id);
		free(w->evs[i].message);
		free(w->evs[i].stage);
	}
	w->n = 0;
}

/* On the worker's threads: copy, never call Lua. */
static void on_event(const devsys_worker_event *e, void *payload)
{
	ld_worker *w = payload;
	pthread_mutex_lock(&w->lock);
	if (w->n == w->cap && w->cap < MAX_EVENTS) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		ev *p = realloc(w->evs, cap * sizeof(*p));
		if (p) {
			w->evs = p;
			w->cap = cap;
		}
	}
	if (w->n < w->cap) {
		ev *x = &w->evs[w->n++];
		x->kind = e->kind;
		x->state = e->state;
		x->slot = e->slot;
		x->task_id = ev_dup(e->task_id);
		x->message = ev_dup(e->message);
		x->stage = e->pipeline ? ev_dup(e->pipeline->stage) : NULL;
	} else
		w->dropped++;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->lock);
}

static void worker_release(lua_State *L, ld_handle *h)
{
	ld_worker *w = (ld_worker *)h;
	if (w->pumping) /* its threads run: freeing it now would pull the worker from under them */
		luaL_error(L, "a devsys.Worker cannot be closed inside its own w:run(fn): call w:stop() there");
	devsys_worker_free(h->p);
	free_events(w);
	free(w->evs);
	w->evs = NULL;
	w->cap = 0;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->more);
}

/*
 * devsys.worker(ws [, {id=, host=, jobs=, profiles={...}, lease_ms=, config_path=, poll_ms=, forever=}]) ->
 * worker | nil, msg, code (it holds a reference on the workspace)
 */
static int l_worker(lua_State *L)
{
	devsys_workspace *ws = ld_check(L, 1, LD_WORKSPACE);
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker *wk = NULL;
	ld_worker *w;
	size_t np = 0;
	int rc;
	lua_settop(L, 2);
	w = ld_new(L, LD_WORKER, sizeof(*w), NULL, worker_release);
	w->evs = NULL;
	w->n = w->cap = w->dropped = w->delivered = 0;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->more, NULL);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		o.id = ld_field_str(L, 2, "id", NULL);
		o.host = ld_field_str(L, 2, "host", NULL);
		o.jobs = (unsigned int)ld_field_int(L, 2, "jobs", 0);
		o.lease_ms = (unsigned int)ld_field_int(L, 2, "lease_ms", 0);
		o.poll_ms = (unsigned int)ld_field_int(L, 2, "poll_ms", 0);
		o.config_path = ld_field_str(L, 2, "config_path", NULL);
		o.profiles = ld_str_array(L, 2, "profiles", &np); /* copied by devsys_worker_open() */
		o.nprofiles = np;
		w->forever = ld_field_bool(L, 2, "forever", false);
	}
	o.flags = w->forever ? 0u : DEVSYS_WORKER_ONCE;
	o.event = on_event;
	o.event_payload = w;
	if ((rc = devsys_worker_open(&wk, ws, &o)) < 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->more);
		w->h.release = NULL; /* nothing else to release */
		return ld_fail(L, rc, NULL);
	}
	w->h.p = wk;
	lua_pushvalue(L, 3); /* the worker userdata, above the profiles vector when there is one */
	return 1;
}

static void *run_thread(void *arg)
{
	ld_worker *w = arg;
	int rc = devsys_worker_run(w->h.p);
	pthread_mutex_lock(&w->lock);
	w->rc = rc;
	if (rc < 0) /* the error is this thread's: the Lua thread says it */
		snprintf(w->msg, sizeof(w->msg), "%s", devsys_error_message(devsys_error_last()));
	w->done = 1;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void push_event(lua_State *L, const ev *x);

/*
 * The next event not yet given to fn pushed (true), or false once the run
 * ended and every event was given. Blocks while the worker runs.
 */
static bool next_event(lua_State *L, ld_worker *w)
{
	ev x;
	bool got;
	pthread_mutex_lock(&w->lock);
	while (w->delivered == w->n && !w->done)
		pthread_cond_wait(&w->more, &w->lock);
	if ((got = w->delivered < w->n))
		x = w->evs[w->delivered++]; /* its strings are freed only on this thread (w:events, close) */
	pthread_mutex_unlock(&w->lock);
	if (got) /* pushed unlocked: a memory error raised here must not leave the lock held */
		push_event(L, &x);
	return got;
}

/* w:run(fn): the worker on a thread of its own, fn(event, w) on this one; an error fn raises stops the worker. */
static int run_pumped(lua_State *L, ld_worker *w)
{
	pthread_t th;
	int err = LUA_NOREF, rc;
	w->done = 0;
	w->delivered = 0;
	if ((rc = pthread_create(&th, NULL, run_thread, w)) != 0)
		return luaL_error(L, "w:run: cannot start the worker's thread (error %d)", rc);
	w->pumping = 1;
	while (next_event(L, w)) {
		if (err != LUA_NOREF) { /* stopping after an error: drain without calling fn again */
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, 2);
		lua_insert(L, -2);
		lua_pushvalue(L, 1);
		if (ld_pcall(L, 2, 0) != LUA_OK) {
			err = luaL_ref(L, LUA_REGISTRYINDEX);
			devsys_worker_stop(w->h.p, 0); /* the tasks running go back to the queue */
		}
		ld_running = L;
	}
	pthread_join(th, NULL);
	w->pumping = 0;
	if (err != LUA_NOREF) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, err);
		luaL_unref(L, LUA_REGISTRYINDEX, err);
		return lua_error(L);
	}
	if (w->rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, w->msg);
		lua_pushinteger(L, w->rc);
		return 3;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * w:run([fn]) -> true (nothing was left to claim, or w:stop() was called) | nil, msg, code.
 * fn(event, w) gets each event on this thread as it arrives; it may call w:stop(grace_ms).
 */
static int w_run(lua_State *L)
{
	devsys_worker *wk = ld_check(L, 1, LD_WORKER);
	ld_worker *w = (ld_worker *)ld_ud(L, 1, LD_WORKER);
	int rc;
	if (w->pumping)
		return luaL_error(L, "w:run: the worker is running (this is its own callback)");
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TFUNCTION);
		lua_settop(L, 2);
		return run_pumped(L, w);
	}
	if (w->forever)
		return luaL_error(L, "w:run: a worker opened with forever = true needs a callback (w:run(fn)) to stop it");
	if ((rc = devsys_worker_run(wk)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

/* w:stop([grace_ms]) -> true: claim nothing more; tasks still running after grace_ms go back to the queue */
static int w_stop(lua_State *L)
{
	devsys_worker *wk = ld_check(L, 1, LD_WORKER);
	lua_Integer grace = luaL_optinteger(L, 2, 0);
	int rc;
	luaL_argcheck(L, grace >= 0 && grace <= 86400000, 2, "grace_ms must be 0..86400000");
	if ((rc = devsys_worker_stop(wk, (unsigned int)grace)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

static void push_event(lua_State *L, const ev *x)
{
	lua_createtable(L, 0, 6);
	lua_pushstring(L, x->kind >= 1 && x->kind < (int)(sizeof(kinds) / sizeof(kinds[0])) ? kinds[x->kind] : kinds[0]);
	lua_setfield(L, -2, "kind");
	lua_pushinteger(L, x->slot);
	lua_setfield(L, -2, "slot");
	ld_pushstr(L, x->task_id);
	lua_setfield(L, -2, "task_id");
	ld_pushstr(L, x->state >= 0 ? devsys_task_state_name(x->state) : NULL);
	lua_setfield(L, -2, "state");
	ld_pushstr(L, x->message);
	lua_setfield(L, -2, "message");
	ld_pushstr(L, x->stage);
	lua_setfield(L, -2, "stage");
}

/* w:events() -> { {kind="claimed", slot=, task_id=, state=, message=, stage=}, ... }, dropped; and clears them */
/* Protected, under the lock: the list at 1's events as a table. */
static int events_k(lua_State *L)
{
	ld_worker *w = lua_touserdata(L, 1);
	LD_PUSH_ARRAY(L, w->n, push_event(L, &w->evs[i]));
	return 1;
}

static int w_events(lua_State *L)
{
	ld_worker *w;
	size_t dropped;
	int rc;
	ld_check(L, 1, LD_WORKER); /* open */
	w = (ld_worker *)ld_ud(L, 1, LD_WORKER);
	pthread_mutex_lock(&w->lock);
	lua_pushcfunction(L, events_k);
	lua_pushlightuserdata(L, w);
	if ((rc = lua_pcall(L, 1, 1, 0)) != LUA_OK) { /* a memory error: unlock, then raise it */
		pthread_mutex_unlock(&w->lock);
		return lua_error(L);
	}
	if (w->pumping) { /* keep what fn was not given yet */
		size_t left = w->n - w->delivered;
		for (size_t i = 0; i < w->delivered; i++) {
			free(w->evs[i].task_id);
			free(w->evs[i].message);
			free(w->evs[i].stage);
		}
		memmove(w->evs, w->evs + w->delivered, left * sizeof(*w->evs));
		w->n = left;
		w->delivered = 0;
	} else
		free_events(w);
	dropped = w->dropped;
	w->dropped = 0;
	pthread_mutex_unlock(&w->lock);
	lua_pushinteger(L, (lua_Integer)dropped);
	return 2;
}

/* w:stats() -> {jobs=, running=, claimed=, completed=, not_resting=, handed_back=, lease_expiries=, cancels=,
 *   stopping=, agent_steps=, agent_tokens=, agent_cost=} */
static int w_stats(lua_State *L)
{
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	int rc = devsys_worker_stats_get(&st, ld_check(L, 1, LD_WORKER));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_createtable(L, 0, 12);
	lua_pushinteger(L, st.jobs);
	lua_setfield(L, -2, "jobs");
#define F(name)                                     \
	lua_pushinteger(L, (lua_Integer)st.name); \
	lua_setfield(L, -2, #name)
	F(running);
	F(claimed);
	F(completed);
	F(not_resting);
	F(handed_back);
	F(lease_expiries);
	F(cancels);
	F(agent_steps);
	F(agent_tokens);
#undef F
	lua_pushnumber(L, st.agent_cost);
	lua_setfield(L, -2, "agent_cost");
	lua_pushboolean(L, st.stopping);
	lua_setfield(L, -2, "stopping");
	return 1;
}

static int w_id(lua_State *L)
{
	lua_pushstring(L, devsys_worker_id(ld_check(L, 1, LD_WORKER)));
	return 1;
}

/* w:state(task_id) -> the task's state in the worker's store | nil, msg, code */
static int w_state(lua_State *L)
{
	int s = devsys_store_task_state(devsys_worker_store(ld_check(L, 1, LD_WORKER)), ld_checkcstr(L, 2));
	if (s < 0)
		return ld_fail(L, s, NULL);
	lua_pushstring(L, devsys_task_state_name(s));
	return 1;
}

/* w:cancel_task(task_id) -> true (a slot ran it) | false */
static int w_cancel_task(lua_State *L)
{
	int rc = devsys_worker_cancel_task(ld_check(L, 1, LD_WORKER), ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, rc);
	return 1;
}

void ld_open_worker(lua_State *L)
{
	static const luaL_Reg fns[] = { { "worker", l_worker }, { NULL, NULL } };
	static const luaL_Reg methods[] = {
		{ "run", w_run },     { "events", w_events }, { "stats", w_stats },           { "id", w_id },
		{ "state", w_state }, { "cancel_task", w_cancel_task }, { "stop", w_stop }, { NULL, NULL },
	};
	ld_register(L, LD_WORKER, methods);
	luaL_setfuncs(L, fns, 0);
}
#endif /* DEVSYS_FEATURE_WORKER */
