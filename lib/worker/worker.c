/*
 * The worker: job slots that claim queued tasks and run the pipeline on
 * each, a heartbeat that keeps their leases, and a stop that hands back
 * what is still running after a grace period.
 *
 * Threads: each slot thread owns its pipeline; the store handle for
 * claims, heartbeats and the registry is shared (the store serialises its
 * calls). w->lock guards the counts, the stop flag and every slot's task,
 * profile and flags; claims are made one at a time under claim_lock so
 * that the per-profile limits are counted against the tasks that run.
 * Events are delivered under event_lock, one at a time.
 */
#include "core/core.h"
#include "devsys/config.h"
#include "devsys/record.h"
#include "devsys/worker.h"
#include "pipeline/pipeline_hold.h"
#include "store/store_int.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS 64
#define MAX_PROFILES 32
#define DEFAULT_LEASE_MS 30000u
#define DEFAULT_POLL_MS 200u
/* cancel requests are looked at this often, whatever the lease */
#define CANCEL_CHECK_MS 250
/* a slot listening for new work looks at the stop flag this often */
#define LISTEN_SLICE_MS 250

typedef struct slot {
	devsys_worker *w;
	unsigned int index;   /* 1-based */
	pthread_t thread;
	bool started;
	char owner[128];      /* "<worker id>/<index>": one lease owner per pipeline */
	char task[DEVSYS_TASK_ID_MAX + 1]; /* the task held, "" when none */
	char profile[160];    /* its queue profile */
	bool lost;            /* a heartbeat found the lease gone */
	bool handed_back;     /* the stop handed it back */
	bool stop_held;       /* the stop came while it ran: no further stage begins, and it is handed back */
	bool cancel_seen;     /* a cancel request reached its pipeline */
	bool canceled;        /* its pipeline was canceled: it is replaced before the next task (a cancel sticks) */
	bool idle;            /* its last claim found nothing (IDLE was said) */
	devsys_pipeline *p;
} slot;

struct devsys_worker {
	devsys_workspace *ws;
	devsys_store *store;
	devsys_config *cfg;   /* the profiles' max_concurrent; NULL without a config */
	unsigned int flags, jobs, lease_ms, poll_ms;
	char id[100];
	char host[160];
	char **profiles;
	size_t nprofiles;
	char *config_path;
	devsys_worker_event_cb event;
	void *event_payload;
	slot *slots;
	pthread_mutex_t lock, claim_lock, event_lock;
	pthread_cond_t wake;  /* idle slots and the heartbeat wait on it; stop signals it */
	bool stopping, finished, ran;
	bool can_listen;      /* the store signals new work (devsys_store_wait_work()) */
	bool listening;       /* a slot waits on that signal for the idle ones */
	uint64_t claimed, completed, not_resting, handed_back, expiries, cancels;
	uint64_t agent_steps, agent_tokens;
	double agent_cost;
};

static const size_t worker_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_worker_options, poll_ms), /* 1 */
};

static const size_t worker_stats_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_worker_stats, agent_cost), /* 1 */
};

int devsys_worker_options_init(devsys_worker_options *opts, unsigned int version)
{
	static const devsys_worker_options defaults = DEVSYS_WORKER_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, worker_options_sizes, DEVSYS_WORKER_OPTIONS_VERSION, version,
	                            __func__);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on w->wake (w->lock held) for at most @p ms. */
static void wait_ms(devsys_worker *w, unsigned int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&w->wake, &w->lock, &until);
}

static void emit(devsys_worker *w, int kind, const slot *s, const char *task, int state, const char *message,
                 const devsys_pipeline_event *pev)
{
	devsys_worker_event ev = { DEVSYS_WORKER_EVENT_VERSION, kind, s ? s->index : 0u, task, state, message, pev };
	if (!w->event)
		return;
	pthread_mutex_lock(&w->event_lock);
	w->event(&ev, w->event_payload);
	pthread_mutex_unlock(&w->event_lock);
}

static void emit_error(devsys_worker *w, const slot *s, const char *task, const char *what)
{
	char msg[1200];
	snprintf(msg, sizeof(msg), "%s: %s", what, devsys_error_message(devsys_error_last()));
	emit(w, DEVSYS_WORKER_EVENT_ERROR, s, task, -1, msg, NULL);
}

/* Add what the agent stage of @p task just recorded in task.json agent.usage to the worker's totals. */
static void add_usage(devsys_worker *w, const char *task_id)
{
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *doc = NULL, *u;
	if (devsys_task_open(&task, w->ws, task_id, 0) == 0 && devsys_record_open(&rec, task) == 0 &&
	    devsys_record_json(rec, &b) == 0 && (doc = json_loads(b.ptr ? b.ptr : "{}", 0, NULL)) &&
	    json_is_object(u = json_object_get(json_object_get(doc, "agent"), "usage"))) {
		json_int_t steps = json_integer_value(json_object_get(u, "steps"));
		json_int_t tokens = json_integer_value(json_object_get(u, "tokens"));
		double cost = json_number_value(json_object_get(u, "cost"));
		pthread_mutex_lock(&w->lock);
		w->agent_steps += steps > 0 ? (uint64_t)steps : 0;
		w->agent_tokens += tokens > 0 ? (uint64_t)tokens : 0;
		w->agent_cost += cost > 0 ? cost : 0;
		pthread_mutex_unlock(&w->lock);
	}
	json_decref(doc);
	devsys_buf_dispose(&b);
	devsys_record_free(rec);
	devsys_task_free(task);
}

static int forward_pipeline_event(const devsys_pipeline_event *ev, void *payload)
{
	slot *s = payload;
	/* counted once per agent stage that ran: a resumed task's earlier usage is not counted again */
	if (ev->kind == DEVSYS_PIPELINE_EVENT_STAGE_END && ev->stage && !strcmp(ev->stage, "agent") && ev->task_id)
		add_usage(s->w, ev->task_id);
	emit(s->w, DEVSYS_WORKER_EVENT_PIPELINE, s, ev->task_id, -1, NULL, ev);
	return 0;
}

/* ---- the registry ---- */

static void beat(devsys_worker *w, bool stopped)
{
	devsys_store_worker_info in = DEVSYS_STORE_WORKER_INFO_INIT;
	pthread_mutex_lock(&w->lock);
	in.id = w->id;
	in.host = w->host;
	in.pid = (long long)getpid();
	in.jobs = w->jobs;
	in.lease_ms = w->lease_ms;
	for (unsigned int i = 0; i < w->jobs; i++)
		in.running += w->slots[i].task[0] != '\0';
	in.claimed = w->claimed;
	in.completed = w->completed;
	in.expiries = w->expiries;
	in.stopped = stopped;
	pthread_mutex_unlock(&w->lock);
	if (devsys_store_worker_beat(w->store, &in) < 0)
		emit_error(w, NULL, NULL, "cannot record the worker's beat");
}

/* ---- open ---- */

static int check_options(const devsys_worker_options *o)
{
	if (o->id && (!o->id[0] || strlen(o->id) >= 100))
		return devsys__error_set(DEVSYS_EINVAL, "worker: the id must be 1..99 bytes (%zu given)", strlen(o->id));
	if (o->host && (!o->host[0] || strlen(o->host) >= 160))
		return devsys__error_set(DEVSYS_EINVAL, "worker: the host must be 1..159 bytes");
	if (o->jobs > MAX_JOBS)
		return devsys__error_set(DEVSYS_EINVAL, "worker: %u jobs: at most %d", o->jobs, MAX_JOBS);
	if (o->lease_ms && (o->lease_ms < 300 || o->lease_ms > 3600000))
		return devsys__error_set(DEVSYS_EINVAL, "worker: a lease of %u ms: it must be 300..3600000", o->lease_ms);
	if (o->nprofiles > MAX_PROFILES || (o->nprofiles && !o->profiles))
		return devsys__error_set(DEVSYS_EINVAL, "worker: %zu profiles: at most %d, and a list", o->nprofiles,
		                         MAX_PROFILES);
	for (size_t i = 0; i < o->nprofiles; i++)
		if (!o->profiles[i] || !o->profiles[i][0] || strlen(o->profiles[i]) >= 160)
			return devsys__error_set(DEVSYS_EINVAL, "worker: profile %zu is empty or longer than 159 bytes", i + 1);
	return 0;
}

static int copy_options(devsys_worker *w, const devsys_worker_options *o)
{
	w->flags = o->flags;
	w->jobs = o->jobs ? o->jobs : 1;
	w->lease_ms = o->lease_ms ? o->lease_ms : DEFAULT_LEASE_MS;
	w->poll_ms = o->poll_ms ? o->poll_ms : DEFAULT_POLL_MS;
	w->event = o->event;
	w->event_payload = o->event_payload;
	if (o->host)
		snprintf(w->host, sizeof(w->host), "%s", o->host);
	else if (gethostname(w->host, sizeof(w->host) - 1) != 0 || !w->host[0])
		snprintf(w->host, sizeof(w->host), "localhost");
	if (o->id)
		snprintf(w->id, sizeof(w->id), "%s", o->id);
	else
		snprintf(w->id, sizeof(w->id), "%.80s:%ld", w->host, (long)getpid());
	if (o->config_path && !(w->config_path = devsys__strdup(o->config_path)))
		return devsys__error_oom();
	if (o->nprofiles && !(w->profiles = devsys__calloc(o->nprofiles, sizeof(*w->profiles))))
		return devsys__error_oom();
	for (size_t i = 0; i < o->nprofiles; i++, w->nprofiles++)
		if (!(w->profiles[i] = devsys__strdup(o->profiles[i])))
			return devsys__error_oom();
	return 0;
}

/*
 * Two workers with one id would take each other's leases for their own:
 * refuse an id that holds a live lease, or that another live process beats
 * in the registry (a worker of that id runs, or died less than a lease ago).
 */
static int refuse_taken_id(devsys_worker *w)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	json_t *j = NULL, *e;
	size_t i, n = strlen(w->id);
	int rc;
	if ((rc = devsys_store_claims_json(w->store, NULL, &out)) < 0)
		goto out;
	j = json_loads(out.ptr, 0, NULL);
	json_array_foreach(json_object_get(j, "queue"), i, e) {
		const char *owner = json_string_value(json_object_get(e, "owner"));
		long long left = (long long)json_integer_value(json_object_get(e, "lease_ms_left"));
		if (owner && !strncmp(owner, w->id, n) && owner[n] == '/' && json_is_true(json_object_get(e, "held"))) {
			rc = devsys__error_set(DEVSYS_EEXISTS,
			                       "worker: id '%s' is in use: its job %s holds task %s (lease %lld ms left); give "
			                       "this worker another --id, or wait for the lease to expire",
			                       w->id, owner + n + 1, json_string_value(json_object_get(e, "task")), left);
			goto out;
		}
	}
	json_decref(j);
	if ((rc = devsys_store_workers_json(w->store, &out)) < 0)
		goto out;
	j = json_loads(out.ptr, 0, NULL);
	json_array_foreach(json_object_get(j, "workers"), i, e) {
		long long pid = (long long)json_integer_value(json_object_get(e, "pid"));
		const char *host = json_string_value(json_object_get(e, "host"));
		if (!strcmp(json_string_value(json_object_get(e, "id")), w->id) &&
		    !strcmp(json_string_value(json_object_get(e, "state")), "alive") &&
		    (pid != (long long)getpid() || strcmp(host, w->host))) {
			rc = devsys__error_set(DEVSYS_EEXISTS,
			                       "worker: id '%s' is in use: a worker of that id (pid %lld on %s) beat %lld ms "
			                       "ago; give this worker another --id, or wait for it to stop",
			                       w->id, pid, host,
			                       (long long)json_integer_value(json_object_get(e, "beat_age_ms")));
			break;
		}
	}
out:
	json_decref(j);
	devsys_buf_dispose(&out);
	return rc;
}

static int new_pipeline(devsys_pipeline **out, devsys_worker *w, slot *s)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	po.config_path = w->config_path;
	po.progress = forward_pipeline_event;
	po.progress_payload = s;
	return devsys_pipeline_new(out, w->ws, &po);
}

static int open_slots(devsys_worker *w)
{
	int rc;
	if (!(w->slots = devsys__calloc(w->jobs, sizeof(*w->slots))))
		return devsys__error_oom();
	for (unsigned int i = 0; i < w->jobs; i++) {
		slot *s = &w->slots[i];
		s->w = w;
		s->index = i + 1;
		snprintf(s->owner, sizeof(s->owner), "%s/%u", w->id, i + 1);
		if ((rc = new_pipeline(&s->p, w, s)) < 0)
			return rc;
	}
	return 0;
}

/* A canceled pipeline cancels its next stage too: a slot whose run was canceled gets a new one. */
static void renew_pipeline(devsys_worker *w, slot *s)
{
	devsys_pipeline *fresh = NULL, *old;
	if (new_pipeline(&fresh, w, s) < 0) {
		emit_error(w, s, NULL, "cannot open a new pipeline after a canceled run (the old one is kept)");
		return;
	}
	pthread_mutex_lock(&w->lock);
	old = s->p;
	s->p = fresh;
	pthread_mutex_unlock(&w->lock);
	devsys_pipeline_free(old);
}

/* Cancel slot @p s's run if it still runs @p task (w->lock held). */
static void cancel_locked(slot *s, const char *task)
{
	if (task && strcmp(s->task, task))
		return;
	s->canceled = true;
	devsys_pipeline_cancel(s->p);
}

/*
 * The task is no longer this slot's (handed back, or its lease lost): its
 * run begins no further stage, the task goes back to the queue if this
 * worker still holds it (a task in a stage is marked interrupted, naming
 * it), and only then, when the task is interrupted, the stage under way is
 * canceled, so that its end can no longer move the task (the stage is not
 * the task's any more). A task between stages is left as it stands.
 * @return the devsys_store_release() result.
 */
static int take_back(devsys_worker *w, slot *s, const char *task, const char *why)
{
	int rc;
	pthread_mutex_lock(&w->lock);
	if (!strcmp(s->task, task)) {
		s->canceled = true; /* the hold sticks: a new pipeline for the next task */
		devsys__pipeline_hold(s->p);
	}
	pthread_mutex_unlock(&w->lock);
	rc = devsys_store_release(w->store, task, s->owner, why);
	if (devsys_store_task_state(w->store, task) == DEVSYS_STATE_INTERRUPTED) {
		pthread_mutex_lock(&w->lock);
		cancel_locked(s, task);
		pthread_mutex_unlock(&w->lock);
	}
	return rc;
}

int devsys_worker_open(devsys_worker **out, devsys_workspace *ws, const devsys_worker_options *opts)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker *w;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(ws);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if (opts && (rc = devsys__versioned_copy(&o, opts, worker_options_sizes, DEVSYS_WORKER_OPTIONS_VERSION,
	                                         "devsys_worker_options")) < 0)
		return rc;
	if ((rc = check_options(&o)) < 0)
		return rc;
	if (!(w = devsys__calloc(1, sizeof(*w))))
		return devsys__error_oom();
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->claim_lock, NULL);
	pthread_mutex_init(&w->event_lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	devsys__workspace_ref(ws);
	w->ws = ws;
	/* the configuration first: its store: section says where the queue is, as for the slots' pipelines */
	if ((rc = copy_options(w, &o)) < 0 || (o.config_path && (rc = devsys_config_load(&w->cfg, o.config_path)) < 0) ||
	    (rc = devsys_store_open_config(&w->store, ws, NULL, w->cfg)) < 0 || (rc = refuse_taken_id(w)) < 0 ||
	    (rc = open_slots(w)) < 0) {
		devsys_worker_free(w);
		return rc;
	}
	/* listen before the first claim: a task queued after it found nothing then wakes the worker */
	if ((w->can_listen = devsys__store_can_wait_work(w->store)))
		devsys_store_wait_work(w->store, 0);
	beat(w, false);
	*out = w;
	return 0;
}

void devsys_worker_free(devsys_worker *w)
{
	if (!w)
		return;
	for (unsigned int i = 0; w->slots && i < w->jobs; i++)
		devsys_pipeline_free(w->slots[i].p);
	devsys__free(w->slots);
	for (size_t i = 0; i < w->nprofiles; i++)
		devsys__free(w->profiles[i]);
	devsys__free(w->profiles);
	devsys__free(w->config_path);
	devsys_config_free(w->cfg);
	devsys_store_free(w->store);
	devsys_workspace_free(w->ws);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->event_lock);
	pthread_mutex_destroy(&w->claim_lock);
	pthread_mutex_destroy(&w->lock);
	devsys__free(w);
}

/* ---- one task ---- */

static bool rests(int state)
{
	return state == DEVSYS_STATE_AWAITING_REVIEW || state == DEVSYS_STATE_MERGED || state == DEVSYS_STATE_DONE ||
	       state == DEVSYS_STATE_NO_CHANGES;
}

static bool ended(int state)
{
	return rests(state) || state == DEVSYS_STATE_FAILED || state == DEVSYS_STATE_CANCELED;
}

/* A task that cannot run (its kept spec unreadable or now invalid) fails, with the reason in its event. */
static void fail_unrunnable(devsys_worker *w, slot *s, const char *id)
{
	char why[1200];
	snprintf(why, sizeof(why), "the worker cannot run it: %s", devsys_error_message(devsys_error_last()));
	{
		char msg[1300];
		snprintf(msg, sizeof(msg), "failed: %s", why);
		emit(w, DEVSYS_WORKER_EVENT_REFUSED, s, id, -1, msg, NULL);
	}
	if (devsys_store_transition(w->store, id, DEVSYS_STATE_FAILED, why) < 0)
		emit_error(w, s, id, "cannot mark it failed");
}

/* Complete a task that ended, hand back one that may go on; a lost or handed-back task is no longer ours. */
static void finish_task(devsys_worker *w, slot *s, const char *id, int rc)
{
	int state = devsys_store_task_state(w->store, id);
	bool lost, handed, held;
	pthread_mutex_lock(&w->lock);
	lost = s->lost;
	handed = s->handed_back;
	held = s->stop_held;
	pthread_mutex_unlock(&w->lock);
	if (!lost && !handed && !held && rc < 0 && state >= 0 && !ended(state) &&
	    state != DEVSYS_STATE_INTERRUPTED) {
		/* stopped before any stage could end it: handing it back would loop */
		fail_unrunnable(w, s, id);
		state = devsys_store_task_state(w->store, id);
	}
	if (lost || handed) {
		/* counted where it was taken away */
	} else if (state >= 0 && ended(state)) {
		if (devsys_store_complete(w->store, id, s->owner) < 0)
			emit_error(w, s, id, "cannot complete");
		pthread_mutex_lock(&w->lock);
		w->completed++;
		w->not_resting += !rests(state);
		pthread_mutex_unlock(&w->lock);
		emit(w, DEVSYS_WORKER_EVENT_ENDED, s, id, state, devsys_task_state_name(state), NULL);
	} else {
		char msg[64];
		/* held by the stop: the stage under way ended, and the task goes back as it stands */
		if (devsys_store_release(w->store, id, s->owner,
		                         held ? "the worker stopped between stages"
		                         : rc < 0 ? devsys_error_message(devsys_error_last()) : NULL) < 0)
			emit_error(w, s, id, "cannot release");
		state = devsys_store_task_state(w->store, id);
		pthread_mutex_lock(&w->lock);
		w->handed_back++;
		w->not_resting++;
		pthread_mutex_unlock(&w->lock);
		snprintf(msg, sizeof(msg), "handed back (%s)", state >= 0 ? devsys_task_state_name(state) : "unknown");
		emit(w, DEVSYS_WORKER_EVENT_HANDED_BACK, s, id, state, msg, NULL);
	}
}

static void queue_field(devsys_worker *w, const char *id, const char *key, char *out, size_t size);

static void run_task(slot *s, const char *id)
{
	devsys_worker *w = s->w;
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	int rc;
	emit(w, DEVSYS_WORKER_EVENT_CLAIMED, s, id, -1, "claimed", NULL);
	/* the kept spec is checked again: the schema may have changed since submit, or the file
	 * (or, on a shared store, the document another host's folder was made from) */
	if ((rc = devsys_pipeline_load(s->p, id)) < 0)
		fail_unrunnable(w, s, id);
	else if ((rc = devsys_spec_validate(NULL, devsys_pipeline_spec(s->p), 0)) < 0) {
		char schema[256], why[1024];
		queue_field(w, id, "schema", schema, sizeof(schema));
		snprintf(why, sizeof(why), "%s", devsys_error_message(devsys_error_last()));
		devsys__error_set(rc, "task '%s': its kept spec was valid against %s at submit and is not valid against "
		                      "this libdevsys's task schema now: %s", id, schema[0] ? schema : "the schema of its submit",
		                  why);
		fail_unrunnable(w, s, id);
	}
	else
		rc = devsys_pipeline_run(&res, s->p);
	finish_task(w, s, id, rc);
}

/* ---- claiming, within the profiles' limits ---- */

/* The profile's max_concurrent (0: no limit). */
static unsigned int profile_limit(const devsys_worker *w, const char *profile)
{
	unsigned int max = 0;
	if (!w->cfg || !profile[0] || devsys_config_runner_max_concurrent(&max, w->cfg, profile) < 0)
		return 0;
	return max;
}

static unsigned int running_of(const devsys_worker *w, const char *profile)
{
	unsigned int n = 0;
	for (unsigned int i = 0; i < w->jobs; i++)
		n += w->slots[i].task[0] && !strcmp(w->slots[i].profile, profile);
	return n;
}

/*
 * The profiles a slot may claim from now: the worker's, less those at
 * their max_concurrent (*@p limited when one is). A worker that serves any
 * profile claims any (*@p n 0) until a limit is reached; then it names the
 * configured profiles under their limits, and "" (tasks of no profile).
 * @return false: nothing may be claimed now.
 */
static bool claimable(const devsys_worker *w, const char **list, size_t *n, bool *limited)
{
	size_t count = w->nprofiles ? w->nprofiles : w->cfg ? devsys_config_runner_count(w->cfg) : 0;
	*n = 0;
	*limited = false;
	for (size_t i = 0; i < count && *n < MAX_PROFILES - 1; i++) {
		const char *name = w->nprofiles ? w->profiles[i] : devsys_config_runner_name(w->cfg, i);
		unsigned int max = profile_limit(w, name);
		if (max && running_of(w, name) >= max)
			*limited = true;
		else
			list[(*n)++] = name;
	}
	if (w->nprofiles)
		return *n > 0;
	if (!*limited)
		*n = 0; /* any profile */
	else
		list[(*n)++] = "";
	return true;
}

/* Field @p key ("schema") of task @p id's queue row (the profile comes with the claim). */
static void queue_field(devsys_worker *w, const char *id, const char *key, char *out, size_t size)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	out[0] = '\0';
	if (devsys_store_claims_json(w->store, id, &b) == 0 && (j = json_loads(b.ptr, 0, NULL))) {
		const char *p = json_string_value(json_object_get(json_array_get(json_object_get(j, "queue"), 0), key));
		snprintf(out, size, "%s", p ? p : "");
		json_decref(j);
	}
	devsys_buf_dispose(&b);
}

/*
 * One claim for slot @p s: 0 claimed (s->task set), DEVSYS_ENOTFOUND
 * nothing to claim (*@p limited: because of a profile's limit), or an error.
 */
static int claim(slot *s, devsys_buf *id, bool *limited)
{
	devsys_worker *w = s->w;
	const char *list[MAX_PROFILES];
	char profile[160];
	size_t n;
	int rc;
	pthread_mutex_lock(&w->claim_lock);
	bool may;
	pthread_mutex_lock(&w->lock);
	may = claimable(w, list, &n, limited);
	pthread_mutex_unlock(&w->lock);
	if (!may)
		rc = DEVSYS_ENOTFOUND;
	else
		rc = devsys__store_claim(id, profile, sizeof(profile), w->store, s->owner, w->host, list, n, w->lease_ms);
	if (rc == 0) {
		bool stopping;
		pthread_mutex_lock(&w->lock);
		/* a stop that came during the claim: the task goes back untouched (under the lock the stop checks) */
		if (!(stopping = w->stopping)) {
			snprintf(s->task, sizeof(s->task), "%s", id->ptr);
			snprintf(s->profile, sizeof(s->profile), "%s", profile);
			s->lost = s->handed_back = s->cancel_seen = s->stop_held = false;
			w->claimed++;
		}
		pthread_mutex_unlock(&w->lock);
		if (stopping) {
			if (devsys_store_release(w->store, id->ptr, s->owner, "the worker stopped before it ran the task") < 0)
				emit_error(w, s, id->ptr, "cannot hand back the task claimed while the worker stopped");
			rc = DEVSYS_ENOTFOUND;
		}
	}
	pthread_mutex_unlock(&w->claim_lock);
	return rc;
}

/*
 * An idle slot waits up to the poll interval before it claims again. On a
 * store that signals new work (PostgreSQL's LISTEN/NOTIFY) one slot at a
 * time listens for it, in slices so that a stop is seen at once, and wakes
 * the other idle slots when a sign comes, so a task submitted to an idle
 * worker starts without waiting out the interval. A slot held back by a
 * profile's max_concurrent waits for a task of its own to end instead.
 */
static void idle_wait(devsys_worker *w, bool limited)
{
	long long until = mono_ms() + w->poll_ms;
	bool stop;
	pthread_mutex_lock(&w->lock);
	if (!w->can_listen || limited || w->listening || w->stopping) {
		if (!w->stopping)
			wait_ms(w, w->poll_ms);
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->listening = true;
	pthread_mutex_unlock(&w->lock);
	for (stop = false; !stop;) {
		long long left = until - mono_ms();
		if (left <= 0 || devsys_store_wait_work(w->store, left > LISTEN_SLICE_MS ? LISTEN_SLICE_MS
		                                                                         : (unsigned int)left) == 1)
			break;
		pthread_mutex_lock(&w->lock);
		stop = w->stopping;
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_lock(&w->lock);
	w->listening = false;
	pthread_mutex_unlock(&w->lock);
	pthread_cond_broadcast(&w->wake);
}

static void *slot_main(void *arg)
{
	slot *s = arg;
	devsys_worker *w = s->w;
	devsys_buf id = DEVSYS_BUF_INIT;
	for (;;) {
		bool limited = false;
		int rc;
		pthread_mutex_lock(&w->lock);
		rc = w->stopping;
		pthread_mutex_unlock(&w->lock);
		if (rc)
			break;
		if ((rc = claim(s, &id, &limited)) == 0) {
			bool renew;
			s->idle = false;
			beat(w, false); /* the registry shows a claim at once, not at the next heartbeat */
			run_task(s, id.ptr);
			pthread_mutex_lock(&w->lock);
			s->task[0] = '\0';
			s->profile[0] = '\0';
			renew = s->canceled;
			s->canceled = false;
			pthread_mutex_unlock(&w->lock);
			if (renew)
				renew_pipeline(w, s);
			beat(w, false);
			pthread_cond_broadcast(&w->wake); /* a limit may have room again */
			continue;
		}
		if (rc == DEVSYS_ENOTFOUND && (w->flags & DEVSYS_WORKER_ONCE) && !limited)
			break;
		if (rc != DEVSYS_ENOTFOUND)
			emit_error(w, s, NULL, "cannot claim");
		else if (!s->idle) {
			s->idle = true;
			emit(w, DEVSYS_WORKER_EVENT_IDLE, s, NULL, -1, NULL, NULL);
		}
		idle_wait(w, limited);
	}
	devsys_buf_dispose(&id);
	return NULL;
}

/* ---- the heartbeat: leases, cancel requests, the registry ---- */

/*
 * The lease is gone (it expired, another worker may run the task now): take
 * the task back if nobody has yet (the store marks it interrupted, naming its
 * stage) and cancel the run at once, so that no stage of it goes on.
 */
static void lease_lost(devsys_worker *w, slot *s, const char *task)
{
	bool mine;
	pthread_mutex_lock(&w->lock);
	mine = !strcmp(task, s->task) && !s->lost && !s->handed_back;
	if (mine) {
		s->lost = true;
		w->expiries++;
		w->not_resting++;
	}
	pthread_mutex_unlock(&w->lock);
	if (!mine)
		return;
	/* another worker may own the task now: then the release is refused, which is fine */
	if (take_back(w, s, task, "its lease expired") < 0 && devsys_error_code(devsys_error_last()) != DEVSYS_ESTATE)
		emit_error(w, s, task, "cannot hand back the task whose lease expired");
	emit(w, DEVSYS_WORKER_EVENT_LEASE_LOST, s, task, -1,
	     "the lease was lost while it ran; the run was stopped and another worker may own it now", NULL);
}

static void cancel_requested(devsys_worker *w, slot *s, const char *task)
{
	devsys_buf why = DEVSYS_BUF_INIT;
	char msg[600];
	bool first;
	if (devsys_store_cancel_requested(w->store, task, &why) <= 0) {
		devsys_buf_dispose(&why);
		return;
	}
	pthread_mutex_lock(&w->lock);
	first = !strcmp(task, s->task) && !s->cancel_seen;
	if (first) {
		s->cancel_seen = true;
		w->cancels++;
		cancel_locked(s, task);
	}
	pthread_mutex_unlock(&w->lock);
	if (first) {
		snprintf(msg, sizeof(msg), "cancel requested (%.500s): the run was canceled", why.ptr ? why.ptr : "");
		emit(w, DEVSYS_WORKER_EVENT_CANCEL, s, task, -1, msg, NULL);
	}
	devsys_buf_dispose(&why);
}

static void tick(devsys_worker *w, bool extend)
{
	for (unsigned int i = 0; i < w->jobs; i++) {
		slot *s = &w->slots[i];
		char task[sizeof(s->task)];
		bool skip;
		pthread_mutex_lock(&w->lock);
		snprintf(task, sizeof(task), "%s", s->task);
		skip = s->lost || s->handed_back;
		pthread_mutex_unlock(&w->lock);
		if (!task[0] || skip)
			continue;
		if (extend) {
			int rc = devsys_store_heartbeat(w->store, task, s->owner, w->lease_ms);
			if (rc == DEVSYS_ESTATE) {
				lease_lost(w, s, task);
				continue;
			}
			if (rc < 0)
				emit_error(w, s, task, "cannot extend the lease");
		}
		cancel_requested(w, s, task);
	}
	if (extend)
		beat(w, false);
}

/* Every third of a lease, extend each held lease; more often, look for cancel requests. */
static void *heartbeat_main(void *arg)
{
	devsys_worker *w = arg;
	long long next = mono_ms() + w->lease_ms / 3;
	unsigned int step = w->lease_ms / 3 < CANCEL_CHECK_MS ? w->lease_ms / 3 : CANCEL_CHECK_MS;
	for (;;) {
		bool done;
		pthread_mutex_lock(&w->lock);
		if (!w->finished)
			wait_ms(w, step);
		done = w->finished;
		pthread_mutex_unlock(&w->lock);
		if (done)
			break;
		if (mono_ms() >= next) {
			next = mono_ms() + w->lease_ms / 3;
			tick(w, true);
		} else
			tick(w, false);
	}
	return NULL;
}

/* ---- run, stop ---- */

int devsys_worker_run(devsys_worker *w)
{
	pthread_t hb;
	unsigned int started = 0;
	int rc = 0;
	DEVSYS__CHECK_ARG(w);
	pthread_mutex_lock(&w->lock);
	if (w->ran)
		rc = devsys__error_set(DEVSYS_ESTATE, "worker '%s' runs already, or ran: open another", w->id);
	w->ran = true;
	pthread_mutex_unlock(&w->lock);
	if (rc < 0)
		return rc;
	if ((rc = pthread_create(&hb, NULL, heartbeat_main, w)) != 0)
		return devsys__error_errno(DEVSYS_EIO, rc, "worker '%s': cannot start the heartbeat thread", w->id);
	for (; started < w->jobs; started++) {
		if ((rc = pthread_create(&w->slots[started].thread, NULL, slot_main, &w->slots[started])) != 0) {
			rc = devsys__error_errno(DEVSYS_EIO, rc, "worker '%s': cannot start job %u", w->id, started + 1);
			pthread_mutex_lock(&w->lock);
			w->stopping = true;
			pthread_mutex_unlock(&w->lock);
			pthread_cond_broadcast(&w->wake);
			break;
		}
		w->slots[started].started = true;
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(w->slots[i].thread, NULL);
	pthread_mutex_lock(&w->lock);
	w->finished = true;
	pthread_mutex_unlock(&w->lock);
	pthread_cond_broadcast(&w->wake);
	pthread_join(hb, NULL);
	beat(w, true);
	return rc > 0 ? 0 : rc;
}

static bool any_running(devsys_worker *w)
{
	bool busy = false;
	for (unsigned int i = 0; i < w->jobs; i++)
		busy |= w->slots[i].task[0] && !w->slots[i].handed_back && !w->slots[i].lost;
	return busy;
}

/*
 * At the stop, each running task's run begins no further stage: the stage
 * under way may end within the grace, and then the task is handed back as
 * it stands (finish_task), instead of going on into a stage the grace
 * would cut short. Called with w->lock held.
 */
static void hold_running_locked(devsys_worker *w)
{
	for (unsigned int i = 0; i < w->jobs; i++) {
		slot *s = &w->slots[i];
		if (!s->task[0] || s->lost || s->handed_back || s->stop_held)
			continue;
		s->stop_held = true;
		s->canceled = true; /* the hold sticks: a new pipeline for the next task */
		devsys__pipeline_hold(s->p);
	}
}

/* After the grace: each task still running goes back to the queue, then its run is canceled. */
static void hand_back_all(devsys_worker *w)
{
	for (unsigned int i = 0; i < w->jobs; i++) {
		slot *s = &w->slots[i];
		char task[sizeof(s->task)];
		int rc;
		pthread_mutex_lock(&w->lock);
		snprintf(task, sizeof(task), "%s", s->task);
		if (!task[0] || s->lost || s->handed_back)
			task[0] = '\0';
		else {
			s->handed_back = true;
			w->handed_back++;
			w->not_resting++;
		}
		pthread_mutex_unlock(&w->lock);
		if (!task[0])
			continue;
		if ((rc = take_back(w, s, task, "the worker stopped")) < 0)
			emit_error(w, s, task, "handed back");
		else {
			int state = devsys_store_task_state(w->store, task);
			char msg[64];
			snprintf(msg, sizeof(msg), "handed back (%s)", state >= 0 ? devsys_task_state_name(state) : "unknown");
			emit(w, DEVSYS_WORKER_EVENT_HANDED_BACK, s, task, state, msg, NULL);
		}
	}
}

int devsys_worker_stop(devsys_worker *w, unsigned int grace_ms)
{
	long long until = mono_ms() + grace_ms;
	bool busy;
	DEVSYS__CHECK_ARG(w);
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->wake);
	hold_running_locked(w);
	while ((busy = any_running(w)) && mono_ms() < until) {
		long long left = until - mono_ms();
		wait_ms(w, left > 50 ? 50 : (unsigned int)left);
	}
	pthread_mutex_unlock(&w->lock);
	if (busy)
		hand_back_all(w);
	return 0;
}

int devsys_worker_stats_get(devsys_worker_stats *out, const devsys_worker *w)
{
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	devsys_worker *mw = (devsys_worker *)w; /* the lock is not part of the worker's value */
	unsigned int version;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(w);
	version = out->version;
	if (version < 1 || version > DEVSYS_WORKER_STATS_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_worker_stats version %u: this library knows 1..%d",
		                         version, DEVSYS_WORKER_STATS_VERSION);
	pthread_mutex_lock(&mw->lock);
	st.jobs = w->jobs;
	for (unsigned int i = 0; i < w->jobs; i++)
		st.running += w->slots[i].task[0] != '\0';
	st.claimed = w->claimed;
	st.completed = w->completed;
	st.not_resting = w->not_resting;
	st.handed_back = w->handed_back;
	st.lease_expiries = w->expiries;
	st.cancels = w->cancels;
	st.stopping = w->stopping;
	st.agent_steps = w->agent_steps;
	st.agent_tokens = w->agent_tokens;
	st.agent_cost = w->agent_cost;
	pthread_mutex_unlock(&mw->lock);
	memcpy(out, &st, worker_stats_sizes[version]);
	out->version = version;
	return 0;
}

const char *devsys_worker_id(const devsys_worker *w)
{
	return w ? w->id : NULL;
}

devsys_store *devsys_worker_store(devsys_worker *w)
{
	return w ? w->store : NULL;
}

int devsys_worker_cancel_task(devsys_worker *w, const char *task_id)
{
	int hit = 0;
	DEVSYS__CHECK_ARG(w);
	DEVSYS__CHECK_ARG(task_id);
	pthread_mutex_lock(&w->lock);
	for (unsigned int i = 0; i < w->jobs && !hit; i++)
		if (!strcmp(w->slots[i].task, task_id) && !w->slots[i].lost && !w->slots[i].handed_back) {
			cancel_locked(&w->slots[i], task_id);
			hit = 1;
		}
	pthread_mutex_unlock(&w->lock);
	return hit;
}
