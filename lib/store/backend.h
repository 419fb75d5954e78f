/*
 * The store's backend interface. store.c holds the state machine, the file
 * side (task.json, events) and recovery; a backend only persists rows.
 * SQLite (sqlite.c) is the one backend today; a PostgreSQL backend for
 * multi-host deployments implements the same table of functions.
 *
 * Every function returns 0 or a negative DEVSYS_E* code with the error set.
 * Calls between begin() and commit()/rollback() form one transaction that
 * excludes other writers (other processes too).
 */
#ifndef DEVSYS_STORE_BACKEND_H
#define DEVSYS_STORE_BACKEND_H

#include "core/core.h"
#include "devsys/secrets.h"

#define DEVSYS__STORE_TEXT 160

typedef struct devsys__task_row {
	char id[DEVSYS_TASK_ID_MAX + 1];
	int state;                   /* devsys_task_state */
	int resume_state;            /* state to resume to; -1 none */
	char stage[DEVSYS_TASK_ID_MAX + 1];      /* current stage, "" when none (a stage name follows the task-id rule) */
	char last_stage[DEVSYS_TASK_ID_MAX + 1]; /* the stage that was interrupted / last run */
	long long owner_pid;         /* owner of the current stage */
	long long owner_start;       /* its start time (clock ticks since boot) */
	char owner_boot[40];         /* boot id of the owner's machine */
	char stage_started[40];      /* ISO-8601 */
	long long stage_started_ms;  /* monotonic-free wall ms, for durations */
	char created_at[40];
	char updated_at[40];
	char spec_path[DEVSYS__STORE_TEXT];
} devsys__task_row;

typedef struct devsys__run_row {
	unsigned int run;
	long long tests, passed, failed, errors, skipped;
	double time;
	char completed_at[40];
} devsys__run_row;

/* A queued task and its lease (owner "" when free). Times: ms of the store's clock. */
typedef struct devsys__queue_row {
	char task_id[DEVSYS_TASK_ID_MAX + 1];
	char profile[DEVSYS__STORE_TEXT];
	char schema[DEVSYS__STORE_TEXT];
	char submitted_at[40];
	char owner[DEVSYS__STORE_TEXT];
	char host[DEVSYS__STORE_TEXT];
	long long lease_until_ms;
	long long now_ms; /* the store's clock when the row was read */
} devsys__queue_row;

/* Does @p q's owner hold its lease? It expires once its end is past (until < now), not at its end. */
static inline bool devsys__queue_row_held(const devsys__queue_row *q)
{
	return q->owner[0] && q->lease_until_ms >= q->now_ms;
}

/* One entry of the claim log; ended_ms 0 while held. */
typedef struct devsys__claim_row {
	long long seq;
	char task_id[DEVSYS_TASK_ID_MAX + 1];
	char owner[DEVSYS__STORE_TEXT];
	char host[DEVSYS__STORE_TEXT];
	long long claimed_ms, until_ms, ended_ms;
	char how[16];
} devsys__claim_row;

typedef int (*devsys__queue_row_cb)(const devsys__queue_row *row, void *payload);
typedef int (*devsys__claim_row_cb)(const devsys__claim_row *row, void *payload);

/*
 * One worker process in the registry (devsys_store_worker_beat). Times: ms
 * of the store's clock; beat_ms and now_ms are filled by the backend.
 */
typedef struct devsys__worker_row {
	char id[DEVSYS__STORE_TEXT];
	char host[DEVSYS__STORE_TEXT];
	long long pid;
	unsigned int jobs;
	unsigned int lease_ms;       /* the worker's lease: a beat older than this is stale */
	long long running, claimed, completed, expiries;
	int stopped;                 /* 1: the worker said goodbye */
	long long started_ms;        /* its first beat */
	long long beat_ms;           /* its last beat */
	long long now_ms;            /* the store's clock when the row was read */
} devsys__worker_row;

typedef int (*devsys__worker_row_cb)(const devsys__worker_row *row, void *payload);

/* A runner-pool host slot (slot_take). */
typedef struct devsys__slot_row {
	char pool[DEVSYS__STORE_TEXT];        /* the runner profile */
	char member[DEVSYS__STORE_TEXT * 2];  /* the host or endpoint as the profile lists it */
	char holder[DEVSYS__STORE_TEXT];      /* unique per placement: "<host>/<pid>/<n>" */
	char owner[DEVSYS__STORE_TEXT];       /* who, for people: the lease owner, or "pid N on host" */
	char task_id[DEVSYS_TASK_ID_MAX + 1];
	char lease_owner[DEVSYS__STORE_TEXT]; /* "" when the task holds no queue lease */
	unsigned int ttl_ms;                  /* lease_owner "": live until now + ttl_ms unless renewed */
} devsys__slot_row;

/* One member of a pool as slot_scan() sees it: live slots, or ms of cool-down left. */
typedef int (*devsys__slot_use_cb)(const char *member, unsigned int live, long long cool_left_ms, void *payload);

/* What a one-statement claim takes (claim_one). */
typedef struct devsys__claim_req {
	const char *const *profiles;
	size_t nprofiles;
	const char *owner, *host;
	unsigned int lease_ms;
	unsigned int final_mask; /* bit (1 << state) per state whose task is not claimed but dropped */
	int from, to;            /* the state change a claim makes (queued to validated) */
	const char *reason, *at; /* its state log entry */
} devsys__claim_req;

typedef int (*devsys__task_row_cb)(const devsys__task_row *row, void *payload);
typedef int (*devsys__run_row_cb)(const devsys__run_row *row, void *payload);
typedef int (*devsys__stat_cb)(const char *key, double sum, long long count, void *payload);

typedef struct devsys__store_backend {
	const char *name;
	int (*open)(void **self, const char *workspace_path, unsigned int busy_timeout_ms);
	void (*close)(void *self);
	int (*begin)(void *self);
	int (*commit)(void *self);
	void (*rollback)(void *self);
	int (*task_insert)(void *self, const devsys__task_row *row);
	/* DEVSYS_ENOTFOUND (no error set) when absent */
	int (*task_get)(void *self, const char *id, devsys__task_row *row);
	int (*task_update)(void *self, const devsys__task_row *row);
	int (*task_list)(void *self, int state, size_t offset, size_t limit, devsys__task_row_cb cb, void *payload,
	                 size_t *total);
	int (*state_log)(void *self, const char *id, int from, int to, const char *stage, const char *reason,
	                 const char *at);
	int (*stage_log)(void *self, const char *id, const char *stage, const char *result, double seconds,
	                 const char *at);
	int (*run_upsert)(void *self, const char *id, const devsys__run_row *run);
	int (*run_list)(void *self, const char *id, devsys__run_row_cb cb, void *payload);
	int (*count_by_state)(void *self, long long counts[], int nstates);
	int (*stage_stats)(void *self, devsys__stat_cb cb, void *payload);

	/*
	 * The queue (appended). Leases are measured on the backend's clock
	 * (the database's, never a worker's). Inside begin()/commit().
	 * DEVSYS__STORE_SHARED in flags: several hosts share the backend, so a
	 * stage owner's liveness comes from its lease only, never from the
	 * pid/boot-id check (which would call every other host's owner dead).
	 */
	unsigned int flags;
	int (*queue_insert)(void *self, const devsys__queue_row *row);
	/* the leases held and expired now */
	int (*queue_expired)(void *self, devsys__queue_row_cb cb, void *payload);
	/* the oldest free row of one of @p profiles (n 0: any); DEVSYS_ENOTFOUND (no error set) when none */
	int (*queue_next)(void *self, const char *const *profiles, size_t n, devsys__queue_row *row);
	/* take the lease on row @p id only if it is free: 1 taken, 0 not free; logs the claim */
	int (*lease_take)(void *self, const char *id, const char *owner, const char *host, unsigned int lease_ms);
	/* extend @p owner's unexpired lease: 1 extended, 0 not held */
	int (*lease_extend)(void *self, const char *id, const char *owner, unsigned int lease_ms);
	/* end @p owner's lease (@p how: released, completed, expired; @p remove drops the row): 1 ended, 0 not held */
	int (*lease_end)(void *self, const char *id, const char *owner, const char *how, int remove);
	int (*queue_list)(void *self, const char *id, devsys__queue_row_cb cb, void *payload);
	int (*claim_list)(void *self, const char *id, devsys__claim_row_cb cb, void *payload);
	/* counts as (key, 0, count): "queue:free", "queue:held", then "claims:<how>" per claim-log ending */
	int (*queue_stats)(void *self, devsys__stat_cb cb, void *payload);

	/*
	 * The worker registry and cancel requests (appended). Inside
	 * begin()/commit(); times on the backend's clock.
	 */
	/* insert or replace worker row->id's row, stamping beat_ms (and started_ms on insert) with now */
	int (*worker_beat)(void *self, const devsys__worker_row *row);
	/* every registered worker, oldest first (beat_ms, now_ms filled) */
	int (*worker_list)(void *self, devsys__worker_row_cb cb, void *payload);
	/* mark task @p id cancel-requested with @p reason (kept until cancel_clear): 1 marked, 0 no queue row */
	int (*cancel_set)(void *self, const char *id, const char *reason);
	/* 1 and @p reason (may be NULL) filled when task @p id is cancel-requested, 0 when not */
	int (*cancel_get)(void *self, const char *id, char *reason, size_t size);
	/* forget task @p id's cancel request (its run ended); 0 also when there was none */
	int (*cancel_clear)(void *self, const char *id);

	/*
	 * A backend named by a URL (appended; NULL for one kept in the
	 * workspace, which open() opens). The password comes from
	 * @p password_secret in @p secrets (both may be NULL: then the client
	 * library's own password file); the URL carries none.
	 */
	int (*open_url)(void **self, const char *url, devsys_secrets *secrets, const char *password_secret,
	                unsigned int busy_timeout_ms);
	/*
	 * Wait up to @p timeout_ms for a sign that work was queued or handed
	 * back: 1 woken, 0 not (the caller polls). Outside any transaction,
	 * without the store's lock; thread-safe. NULL: nothing signals, poll.
	 */
	int (*wait_work)(void *self, unsigned int timeout_ms);

	/*
	 * Small record documents kept with the rows (appended), so a process
	 * that does not see a task's folder can still read them: insert or
	 * replace document @p name of task @p id; read it into @p out
	 * (DEVSYS_ENOTFOUND, no error set, when absent).
	 */
	int (*doc_put)(void *self, const char *id, const char *name, const char *body, size_t len);
	int (*doc_get)(void *self, const char *id, const char *name, devsys_buf *out);

	/*
	 * Runner-pool host slots and cool-downs (appended), so every process
	 * on the store keeps one per_host_max and one cool-down per host.
	 * Inside begin()/commit(); times on the backend's clock. A slot with a
	 * lease_owner lives while that owner holds task_id's queue lease (a
	 * killed worker's slots end with its lease); one without lives until
	 * its own until_ms, which its holder renews.
	 */
	/* lock @p pool's slots to the end of the transaction, drop its dead slots and past cool-downs, and report
	 * each member with live slots (cool_left_ms 0) and each one cooling down (live 0) */
	int (*slot_scan)(void *self, const char *pool, devsys__slot_use_cb cb, void *payload);
	/* add slot row->holder (ttl_ms 0: tied to row->lease_owner's lease) */
	int (*slot_take)(void *self, const devsys__slot_row *row);
	/* extend @p holder's own expiry to now + @p ttl_ms: 1 extended, 0 no such slot */
	int (*slot_renew)(void *self, const char *holder, unsigned int ttl_ms);
	/* drop @p holder's slot: 1 dropped, 0 no such slot */
	int (*slot_release)(void *self, const char *holder);
	/* @p member of @p pool is out until now + @p ms (a shorter cool-down never cuts a running one) */
	int (*cool_set)(void *self, const char *pool, const char *member, unsigned int ms);

	/*
	 * A claim and a complete in one statement each (appended; NULL: the
	 * store takes the steps above in a transaction). Called outside
	 * begin()/commit(): each commits on its own, and is run once more
	 * after a reconnect as a transaction is.
	 *
	 * claim_one: when no lease has expired, and the oldest free row of
	 * req->profiles (none: any) no other session has locked is of a task
	 * in none of the states of req->final_mask that has no cancel request,
	 * take its lease as lease_take() does (the claim logged), and when the
	 * task is in state req->from, move it to req->to, logging req->reason
	 * at req->at as state_log() does. 1: taken, *@p q and *@p r (the task
	 * row after) filled, *@p moved 1 when the task moved; 0: not taken
	 * (nothing free, or the full claim has work to do first).
	 */
	int (*claim_one)(void *self, const devsys__claim_req *req, devsys__queue_row *q, devsys__task_row *r,
	                 int *moved);
	/* lease_end(@p id, @p owner, "completed", remove) and cancel_clear(@p id): 1 ended, 0 not held */
	int (*complete_one)(void *self, const char *id, const char *owner);
	/* lease_extend() as one statement of its own */
	int (*extend_one)(void *self, const char *id, const char *owner, unsigned int lease_ms);

	/*
	 * claim_one() with its transaction left open (appended; NULL: none), so
	 * that the documents of the claim's state change commit with it: the
	 * store writes the folder, doc_put() keeps its documents, and commit()
	 * sends them and commits (one commit, not two), or rollback() undoes
	 * the claim. Called outside begin()/commit(); on 0 (nothing taken) and
	 * on an error no transaction is left open. DEVSYS_ENETWORK: the
	 * connection broke before anything committed, from here or from
	 * commit() (the outcome asked of the server); the caller claims again.
	 */
	int (*claim_open)(void *self, const devsys__claim_req *req, devsys__queue_row *q, devsys__task_row *r,
	                  int *moved);

	/*
	 * doc_get() only when the document changed (appended; NULL with
	 * doc_get: the store reads it whole): @p version is the version of the
	 * caller's last read ("" none), a token that changes at every write of
	 * the document. 1: read into @p out and @p version set (@p version_size
	 * bytes, DEVSYS_STORE_DOC_VERSION_MAX will do); 0: unchanged, @p out
	 * untouched, and the body not sent; DEVSYS_ENOTFOUND, as doc_get().
	 */
	int (*doc_get_changed)(void *self, const char *id, const char *name, char *version, size_t version_size,
	                       devsys_buf *out);
} devsys__store_backend;

#define DEVSYS__STORE_SHARED (1u << 0)
/* A transaction that failed because the connection was lost (DEVSYS_ENETWORK) or
 * on a deadlock (DEVSYS_ECONFLICT) may run once more: begin() reconnects. */
#define DEVSYS__STORE_RETRY (1u << 1)

extern const devsys__store_backend devsys__store_sqlite;
extern const devsys__store_backend devsys__store_postgresql;

#endif
