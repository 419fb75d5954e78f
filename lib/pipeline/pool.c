/*
 * Runner pools: a step whose profile lists several remote-ssh hosts or
 * Docker endpoints runs on one of them. The slots and the cool-downs live
 * in the task store (store/slots.h), so every process sharing the store
 * (the workers of one host on its SQLite file, the hosts of one PostgreSQL
 * database) keeps one per_host_max and one cool-down per member. What this
 * process keeps is only which pipeline holds which slot (a stage that opens
 * two runners of one profile holds one slot, and never waits for itself),
 * and a condition that wakes its own waiters when one of its slots frees;
 * other processes' releases are seen by polling the store. A placement
 * lives as long as the runner opened on it. The pipeline records each
 * placement, each failed host and each retry (task.json "placements" and
 * "runner_host", events runner.placed, runner.waiting, runner.host_failed,
 * runner.retry).
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "config/runner_pool.h"
#include "runner/owner.h"
#include "store/slots.h"
#include "devsys/record.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* An untied slot (no queue lease: devsys run) lives this long unless its keeper renews it (a third of it). */
#define SLOT_TTL_MS 30000u
/* How often a step waiting for a member looks at the store again (a release here wakes it at once). */
#define POLL_MS 250

/* Renews an untied slot while its runner is open, so a killed process's slot ends SLOT_TTL_MS later. */
struct keeper {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	devsys_store *st; /* the pipeline's, which outlives its runners */
	devsys_workspace *ws;
	char id[160];
};

struct holder {
	const void *owner;     /* the pipeline */
	unsigned int refs;     /* its runners open on the member */
	devsys_store *st;      /* where its slot is */
	devsys_workspace *ws;  /* for the log */
	char id[160];          /* the slot's holder in the store */
	struct keeper *keeper; /* NULL: the slot is tied to the task's queue lease */
	unsigned int busy;     /* the member's slots when this one was taken, it included */
};

struct member {
	char *profile, *name;
	struct holder *holders;
	size_t nholders;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed = PTHREAD_COND_INITIALIZER;
static struct member **table;
static size_t ntable;
static unsigned long long placements; /* makes each holder id unique in this process */

/* What a runner placed on a member carries (its owner payload). */
struct devsys__placement {
	struct member *m;
	const void *owner;
	bool pinned; /* opened on p->pool.pin: it holds no slot */
	unsigned int cooldown_s;
	char label[300]; /* the host as recorded: "name:port", or the endpoint */
};

static const char pool_tag[] = "runner pool";

/* ---- the table (callers hold the lock) ---- */

static struct member *member_get(const char *profile, const char *name)
{
	struct member **nt, *m;
	for (size_t i = 0; i < ntable; i++)
		if (strcmp(table[i]->profile, profile) == 0 && strcmp(table[i]->name, name) == 0)
			return table[i];
	if (!(nt = devsys__realloc(table, (ntable + 1) * sizeof(*nt))))
		return NULL;
	table = nt;
	if (!(m = devsys__calloc(1, sizeof(*m))) || !(m->profile = devsys__strdup(profile)) ||
	    !(m->name = devsys__strdup(name))) {
		if (m)
			devsys__free(m->profile);
		devsys__free(m);
		return NULL;
	}
	table[ntable++] = m;
	return m;
}

static struct holder *holder_of(struct member *m, const void *owner)
{
	for (size_t i = 0; i < m->nholders; i++)
		if (m->holders[i].owner == owner)
			return &m->holders[i];
	return NULL;
}

/* ---- the keeper of an untied slot ---- */

static void *keep(void *arg)
{
	struct keeper *k = arg;
	pthread_mutex_lock(&k->mu);
	while (!k->stop) {
		struct timespec until;
		long ns;
		int rc = 0;
		clock_gettime(CLOCK_MONOTONIC, &until);
		ns = until.tv_nsec + (long)(SLOT_TTL_MS / 3 % 1000) * 1000000L;
		until.tv_sec += SLOT_TTL_MS / 3 / 1000 + ns / 1000000000L;
		until.tv_nsec = ns % 1000000000L;
		/* a spurious wake-up waits on to the same deadline instead of starting the wait again */
		while (!k->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&k->cv, &k->mu, &until);
		if (k->stop)
			break;
		pthread_mutex_unlock(&k->mu);
		if (devsys__store_slot_renew(k->st, k->id, SLOT_TTL_MS) <= 0)
			devsys__log(k->ws, DEVSYS_LOG_WARN, "pipeline", "runner pool: host slot %s could not be renewed (%s); "
			                                                 "other processes may place onto its host",
			            k->id, devsys_error_message(devsys_error_last()));
		pthread_mutex_lock(&k->mu);
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

static struct keeper *keeper_start(devsys_store *st, devsys_workspace *ws, const char *id)
{
	struct keeper *k = devsys__calloc(1, sizeof(*k));
	pthread_condattr_t ca;
	if (!k)
		return NULL;
	*k = (struct keeper){ .st = st, .ws = ws };
	snprintf(k->id, sizeof(k->id), "%s", id);
	pthread_mutex_init(&k->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&k->th, NULL, keep, k) != 0) {
		pthread_cond_destroy(&k->cv);
		pthread_mutex_destroy(&k->mu);
		devsys__free(k);
		return NULL;
	}
	return k;
}

static void keeper_stop(struct keeper *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = true;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->th, NULL);
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
	devsys__free(k);
}

/* ---- taking and releasing a member ---- */

/* A new holder of @p m for @p p, with the slot @p id the store gave it. */
static int hold_new(struct member *m, devsys_pipeline *p, const char *id, bool tied, unsigned int busy)
{
	struct holder *nh;
	struct keeper *k = NULL;
	if (!tied && !(k = keeper_start(p->store, p->ws, id)))
		return devsys__error_oom();
	pthread_mutex_lock(&lock);
	if (!(nh = devsys__realloc(m->holders, (m->nholders + 1) * sizeof(*nh)))) {
		pthread_mutex_unlock(&lock);
		keeper_stop(k);
		return devsys__error_oom();
	}
	m->holders = nh;
	nh[m->nholders] = (struct holder){ .owner = p, .refs = 1, .st = p->store, .ws = p->ws, .keeper = k, .busy = busy };
	snprintf(nh[m->nholders].id, sizeof(nh->id), "%s", id);
	m->nholders++;
	pthread_mutex_unlock(&lock);
	return 0;
}

/* The member of @p ms that @p p holds already, with one more reference on it; NULL when none. */
static struct member *held_already(struct member **ms, size_t n, const void *p, unsigned int *busy)
{
	struct member *found = NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n && !found; i++) {
		struct holder *h = holder_of(ms[i], p);
		if (h) {
			h->refs++;
			*busy = h->busy;
			found = ms[i];
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

static int members_of(struct member **ms, const char *profile, const devsys__cfg_pool *pool, size_t n)
{
	int rc = 0;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!(ms[i] = member_get(profile, pool->members[i])))
			rc = devsys__error_oom();
	pthread_mutex_unlock(&lock);
	return rc;
}

static struct member *locked_member(const char *profile, const char *name)
{
	struct member *m;
	pthread_mutex_lock(&lock);
	m = member_get(profile, name);
	pthread_mutex_unlock(&lock);
	return m;
}

/* Wait up to POLL_MS for a release in this process. */
static void nap(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += POLL_MS * 1000000L;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lock);
	pthread_cond_timedwait(&freed, &lock, &until);
	pthread_mutex_unlock(&lock);
}

static int record(devsys_pipeline *p, const char *type, json_t *data, int mode);
enum { EVENT_ONLY, APPEND, MARK_FAILED };

/* Why no member can be had now: every one cooling (a system failure), or a cancel; 0: wait on. */
static int cannot_wait(devsys_pipeline *p, const char *profile, const devsys__cfg_pool *pool, size_t n,
                       const devsys__slot_pick *pk)
{
	if (pk->all_cooling)
		return devsys__error_set(DEVSYS_ESYSTEM, "runner pool '%s': every one of its %zu %s is cooling down after a "
		                                         "system failure (the first is back in %lld s)",
		                         profile, n, pool->docker ? "endpoints" : "hosts", (pk->back_in_ms + 999) / 1000);
	if (p->canceled || p->held)
		return devsys__error_set(DEVSYS_ECANCELED, "task '%s' was %s while it waited for a host of runner pool '%s'",
		                         p->task_id, p->canceled ? "canceled" : "stopped", profile);
	return 0;
}

/*
 * Take a member of @p profile's pool for @p p: one it holds already, else a
 * slot in the store on the least busy member under the limit that no
 * process has cooling down. While every such member is at its limit the
 * step waits, looking at the store every POLL_MS (a cancel ends the wait).
 * Every member cooling down is a system failure: the task does not wait
 * for a pool that is all broken. @p busy: the member's slots, this one's too.
 */
static int acquire(struct member **out, unsigned int *busy, devsys_pipeline *p, const char *profile,
                   const devsys__cfg_pool *pool)
{
	struct member *ms[64];
	size_t n = pool->n < 64 ? pool->n : 64;
	char id[160], owner[160], host[64] = "";
	bool waited = false;
	int rc;
	if ((rc = members_of(ms, profile, pool, n)) < 0)
		return rc;
	if ((*out = held_already(ms, n, p, busy)))
		return 0;
	gethostname(host, sizeof(host) - 1);
	pthread_mutex_lock(&lock);
	snprintf(id, sizeof(id), "%s/%ld/%llu", host, (long)getpid(), ++placements);
	pthread_mutex_unlock(&lock);
	snprintf(owner, sizeof(owner), "pid %ld on %s", (long)getpid(), host);
	for (;;) {
		devsys__slot_pick pk;
		if ((rc = devsys__store_slot_take(&pk, p->store, profile, pool->members, n, pool->per_host_max, id, owner,
		                                  p->task_id, SLOT_TTL_MS)) < 0)
			return rc;
		if (pk.index >= 0) {
			if ((rc = hold_new(ms[pk.index], p, id, pk.tied, pk.live)) < 0) {
				devsys__store_slot_release(p->store, id);
				return rc;
			}
			*out = ms[pk.index];
			*busy = pk.live;
			return 0;
		}
		if ((rc = cannot_wait(p, profile, pool, n, &pk)) < 0)
			return rc;
		if (!waited) {
			waited = true;
			record(p, "runner.waiting",
			       json_pack("{s:s?,s:s,s:I}", "stage", p->pool.stage, "profile", profile, "per_host_max",
			                 (json_int_t)pool->per_host_max),
			       EVENT_ONLY);
		}
		nap();
	}
}

static void let_go(struct member *m, const void *owner)
{
	struct holder gone;
	struct holder *h;
	pthread_mutex_lock(&lock);
	h = holder_of(m, owner);
	if (!h || --h->refs > 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	gone = *h;
	*h = m->holders[--m->nholders];
	pthread_mutex_unlock(&lock);
	keeper_stop(gone.keeper);
	/* not released: it still ends, with its task's lease or SLOT_TTL_MS after its last renewal */
	if (devsys__store_slot_release(gone.st, gone.id) < 0)
		devsys__log(gone.ws, DEVSYS_LOG_WARN, "pipeline", "runner pool '%s': host slot %s on %s could not be "
		                                                   "released: %s",
		            m->profile, gone.id, m->name, devsys_error_message(devsys_error_last()));
	pthread_mutex_lock(&lock);
	pthread_cond_broadcast(&freed);
	pthread_mutex_unlock(&lock);
}

static void release(void *payload)
{
	struct devsys__placement *pl = payload;
	if (!pl->pinned)
		let_go(pl->m, pl->owner);
	devsys__free(pl);
}

/* Out for the cool-down in the store, so no process places onto the member until then. */
static void cool(devsys_pipeline *p, struct devsys__placement *pl)
{
	if (devsys__store_host_cool(p->store, pl->m->profile, pl->m->name, pl->cooldown_s * 1000u) < 0)
		devsys__log(p->ws, DEVSYS_LOG_WARN, "pipeline", "runner pool '%s': the cool-down of %s could not be kept in "
		                                                "the store: %s",
		            pl->m->profile, pl->label, devsys_error_message(devsys_error_last()));
	pthread_mutex_lock(&lock);
	pthread_cond_broadcast(&freed); /* a waiter may now find every member out */
	pthread_mutex_unlock(&lock);
}

int devsys__pool_global_init(void)
{
	return 0;
}

/* devsys_shutdown(): no pipeline is left, so no member is held. */
void devsys__pool_global_shutdown(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ntable; i++) {
		devsys__free(table[i]->profile);
		devsys__free(table[i]->name);
		devsys__free(table[i]->holders);
		devsys__free(table[i]);
	}
	devsys__free(table);
	table = NULL;
	ntable = 0;
	pthread_mutex_unlock(&lock);
}

/* ---- the record ---- */

/*
 * Write one placement fact: event @p type with @p data (taken over); a new
 * placement (APPEND) also becomes an entry of task.json "placements" and
 * its "runner_host"; a failure (MARK_FAILED) marks the newest entry of its
 * host and stage with the error.
 */
static int record(devsys_pipeline *p, const char *type, json_t *data, int mode)
{
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	devsys_buf cur = DEVSYS_BUF_INIT;
	json_t *doc = NULL, *list;
	char *ev = NULL, *ls = NULL;
	int rc;
	if (!data)
		return devsys__error_oom();
	if ((rc = devsys_task_open(&task, p->ws, p->task_id, 0)) < 0 || (rc = devsys_record_open(&rec, task)) < 0 ||
	    (rc = devsys_record_json(rec, &cur)) < 0)
		goto out;
	doc = json_loads(cur.ptr ? cur.ptr : "{}", 0, NULL);
	list = doc ? json_object_get(doc, "placements") : NULL;
	list = json_is_array(list) ? json_incref(list) : json_array();
	if (mode == APPEND) {
		json_array_append_new(list, json_deep_copy(data));
	} else if (mode == MARK_FAILED) {
		size_t i = json_array_size(list);
		json_t *e = NULL;
		while (i-- > 0 && !e) {
			e = json_array_get(list, i);
			if (!json_equal(json_object_get(e, "host"), json_object_get(data, "host")) ||
			    !json_equal(json_object_get(e, "stage"), json_object_get(data, "stage")) ||
			    json_object_get(e, "failed"))
				e = NULL;
		}
		if (!e) { /* it failed at open: never placed, listed with its failure */
			json_array_append_new(list, e = json_pack("{s:O?,s:O,s:O,s:O}", "stage", json_object_get(data, "stage"),
			                                          "profile", json_object_get(data, "profile"), "host",
			                                          json_object_get(data, "host"), "attempt",
			                                          json_object_get(data, "attempt")));
		}
		json_object_set(e, "failed", json_object_get(data, "error"));
	}
	ev = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ls = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(list);
	if (!ev || !ls) {
		rc = devsys__error_oom();
		goto out;
	}
	if (mode == EVENT_ONLY || ((rc = devsys_record_set_json(rec, "placements", ls)) == 0 &&
	                           (mode != APPEND ||
	                            (rc = devsys_record_set_string(rec, "runner_host",
	                                                           json_string_value(json_object_get(data, "host")))) == 0) &&
	                           (rc = devsys_record_save(rec)) == 0))
		rc = devsys_record_event(rec, type, ev, NULL);
out:
	json_decref(doc);
	json_decref(data);
	free(ev);
	free(ls);
	devsys_buf_dispose(&cur);
	devsys_record_free(rec);
	devsys_task_free(task);
	return rc;
}

/* A member's system failure: out for the cool-down, recorded, and this stage may run again elsewhere. */
static void host_failed(devsys_pipeline *p, struct devsys__placement *pl, const char *profile, unsigned int retries)
{
	int code = devsys_error_code(devsys_error_last());
	char msg[1024];
	const char *why = devsys_error_message(devsys_error_last());
	snprintf(msg, sizeof(msg), "%s", why);
	cool(p, pl);
	p->pool.host_failed = 1;
	p->pool.retries = retries;
	if (record(p, "runner.host_failed",
	           json_pack("{s:s?,s:s,s:s,s:I,s:I,s:s}", "stage", p->pool.stage, "profile", profile, "host", pl->label,
	                     "attempt", (json_int_t)p->pool.attempt, "cooldown_s", (json_int_t)pl->cooldown_s, "error", msg),
	           MARK_FAILED) < 0)
		devsys__log(p->ws, DEVSYS_LOG_WARN, "pipeline", "task '%s': host %s of runner pool '%s' failed, and the "
		                                                "record of it could not be written: %s",
		            p->task_id, pl->label, profile, devsys_error_message(devsys_error_last()));
	devsys__error_set(code < 0 ? code : DEVSYS_ESYSTEM, "%s", msg); /* the runner's error stays the stage's */
}

/* ---- placing a step ---- */

/* Connect, authentication and broken-runner errors at open: the host's fault, not the task's. */
static bool host_error(int rc)
{
	return rc == DEVSYS_ENETWORK || rc == DEVSYS_ETIMEOUT || rc == DEVSYS_EAUTH || rc == DEVSYS_EHOSTKEY ||
	       rc == DEVSYS_ESYSTEM;
}

/* remote-ssh: "name", "name:port", "[v6]", "[v6]:port" (checked by the config) into host and port. */
static void split_host(char *host, size_t cap, unsigned int *port, const char *member)
{
	const char *colon;
	if (member[0] == '[') {
		const char *close = strchr(member, ']');
		snprintf(host, cap, "%.*s", (int)(close - member - 1), member + 1);
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strchr(member, ':');
		snprintf(host, cap, "%.*s", colon ? (int)(colon - member) : (int)strlen(member), member);
	}
	if (colon)
		*port = (unsigned int)strtoul(colon + 1, NULL, 10);
}

/*
 * The member p->pool.pin names, without a slot or a look at cool-downs:
 * what runs there already (a deployed service) is stopped where it runs,
 * whatever the pool's load or health.
 */
static int pinned(struct member **out, unsigned int *busy, devsys_pipeline *p, const char *profile,
                  const devsys__cfg_pool *pool)
{
	for (size_t i = 0; i < pool->n; i++)
		if (strcmp(pool->members[i], p->pool.pin) == 0) {
			*busy = 0;
			return (*out = locked_member(profile, pool->members[i])) ? 0 : devsys__error_oom();
		}
	return devsys__error_set(DEVSYS_ENOTFOUND, "runner pool '%s' no longer lists '%s', where the task's deploy ran; "
	                                           "stop what runs there by hand, or list it again",
	                         profile, p->pool.pin);
}

int devsys__pool_open(devsys_runner **out, devsys_pipeline *p, const char *step, const char *profile,
                      const char *type, devsys_runner_options *o, const char **endpoint)
{
	devsys__cfg_pool pool;
	struct devsys__placement *pl;
	struct member *m = NULL;
	char host[256];
	unsigned int busy;
	int rc;
	*out = NULL;
	if ((rc = devsys__config_runner_pool(&pool, p->config, profile)) < 0)
		return rc;
	if (pool.docker && !endpoint)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "runner pool '%s' lists Docker endpoints, but this build "
		                                               "has no Docker runner",
		                         profile);
	if ((rc = p->pool.pin ? pinned(&m, &busy, p, profile, &pool) : acquire(&m, &busy, p, profile, &pool)) < 0)
		return rc;
	if (!(pl = devsys__calloc(1, sizeof(*pl)))) {
		if (!p->pool.pin)
			let_go(m, p);
		return devsys__error_oom();
	}
	*pl = (struct devsys__placement){ m, p, p->pool.pin != NULL, pool.cooldown_s, "" };
	if (pool.docker) {
		*endpoint = m->name;
		snprintf(pl->label, sizeof(pl->label), "%s", m->name);
	} else {
		o->port = pool.port; /* unless the member names its own */
		split_host(host, sizeof(host), &o->port, m->name);
		o->host = host;
		snprintf(pl->label, sizeof(pl->label), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, o->port ? o->port : 22);
	}
	if ((rc = devsys_runner_open(out, type, o)) < 0) {
		if (host_error(rc))
			host_failed(p, pl, profile, pool.retries);
		release(pl);
		return rc;
	}
	devsys__runner_set_owner(*out, pool_tag, release, pl);
	if ((rc = record(p, "runner.placed",
	                 json_pack("{s:s?,s:s,s:s,s:s,s:I,s:I,s:I}", "stage", p->pool.stage, "step", step, "profile",
	                           profile, "host", pl->label, "attempt", (json_int_t)p->pool.attempt, "busy",
	                           (json_int_t)busy, "per_host_max", (json_int_t)pool.per_host_max),
	                 APPEND)) < 0) {
		devsys_runner_free(*out); /* releases the member */
		*out = NULL;
	}
	return rc;
}

const char *devsys__pool_member(const devsys_runner *runner)
{
	const struct devsys__placement *pl = devsys__runner_owner(runner, pool_tag);
	return pl ? pl->m->name : NULL;
}

void devsys__pool_after_exec(devsys_pipeline *p, devsys_runner *runner, const devsys_runner_result *rr)
{
	struct devsys__placement *pl = devsys__runner_owner(runner, pool_tag);
	devsys__cfg_pool pool;
	if (!pl || rr->failure != DEVSYS_RUNNER_SYSTEM_FAILURE ||
	    devsys__config_runner_pool(&pool, p->config, pl->m->profile) < 0)
		return;
	host_failed(p, pl, pl->m->profile, pool.retries);
}

void devsys__pool_failed(devsys_pipeline *p, devsys_runner *runner, int rc)
{
	struct devsys__placement *pl = devsys__runner_owner(runner, pool_tag);
	devsys__cfg_pool pool;
	if (!pl || !host_error(rc) || devsys__config_runner_pool(&pool, p->config, pl->m->profile) < 0)
		return;
	host_failed(p, pl, pl->m->profile, pool.retries);
}

void devsys__pool_stage_begin(devsys_pipeline *p, const char *stage)
{
	p->pool.stage = stage;
	p->pool.attempt = 1;
	p->pool.retries = 0;
	p->pool.host_failed = 0;
}

/*
 * The failed attempt's end stands in the record and the store: the task is
 * failed there and its stage free. The retry takes the stage back as a
 * resume does (resume_take): back to the state before the stage and held
 * by this process, in one store transaction. A plain resume would leave
 * the task at rest with no owner until the stage began again; a process
 * that ran the task in that gap (devsys run --resume, a run of that one
 * stage) would run the stage, and the store would then let this retry
 * begin it once more, as a stage begins whenever none is held: the same
 * tests, or the same deployment, twice. Taken, the other process gets
 * DEVSYS_EBUSY naming this one; one that resumed the task first wins, and
 * this run does not retry.
 */
bool devsys__pool_retry(devsys__stage_ctx *c, const char *stage, int rc)
{
	devsys_pipeline *p = c->p;
	char msg[1024];
	/* only a system failure of a pooled host, never the command's or the agent's own failure */
	if (rc == 0 || !p->pool.host_failed || c->fclass != DEVSYS_FAILURE_SYSTEM || p->canceled ||
	    p->pool.attempt > p->pool.retries)
		return false;
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	p->pool.host_failed = 0;
	p->pool.attempt++;
	if (devsys__pipeline_retake(c, stage) < 0) {
		devsys__log(p->ws, DEVSYS_LOG_WARN, "pipeline", "task '%s': stage %s was not run again on another host: %s",
		            p->task_id, stage, devsys_error_message(devsys_error_last()));
		devsys__error_set(rc, "%s", msg);
		return false;
	}
	/* taken: the stage runs again (only its begin lets the take go), recorded or not */
	if (record(p, "runner.retry",
	           json_pack("{s:s,s:I,s:I}", "stage", stage, "attempt", (json_int_t)p->pool.attempt, "retries",
	                     (json_int_t)p->pool.retries),
	           EVENT_ONLY) < 0)
		devsys__log(p->ws, DEVSYS_LOG_WARN, "pipeline", "task '%s': the retry of stage %s could not be recorded: %s",
		            p->task_id, stage, devsys_error_message(devsys_error_last()));
	/* the attempt of the attempts the pool allows; a non-zero return cancels the retry */
	devsys__pipeline_emit(p, DEVSYS_PIPELINE_EVENT_PROGRESS, stage, NULL, "attempt", 7, p->pool.attempt,
	                      (uint64_t)p->pool.retries + 1);
	devsys__error_set(rc, "%s", msg);
	return true;
}
