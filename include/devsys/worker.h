/*
 * libdevsys - workers: claim queued tasks from the store and run the
 * pipeline on each, several at once.
 */
#ifndef DEVSYS_WORKER_H
#define DEVSYS_WORKER_H

#include "common.h"
#include "workspace.h"
#include "store.h"
#include "pipeline.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/worker.h
 * @brief A long-running claimer of the store's queue (docs/queue.md): one
 *        pipeline per job slot, a heartbeat that keeps the leases, and a
 *        graceful stop that hands unfinished tasks back.
 *
 * devsys_worker_open() opens the store and one pipeline per job;
 * devsys_worker_run() claims tasks (devsys_store_claim()) of the worker's
 * profiles and runs each (devsys_pipeline_run()) until
 * devsys_worker_stop() is called from another thread. A heartbeat thread
 * extends every held lease each third of a lease and records the worker's
 * beat in the store's registry (devsys_store_worker_beat(), listed by
 * `devsys workers`). When a heartbeat finds a cancel requested
 * (devsys_store_cancel_request()), the slot's pipeline is canceled at once
 * (devsys_pipeline_cancel()): the task ends canceled. When it finds the
 * lease gone, the slot's run is stopped at once without ending the task:
 * it begins no further stage, the task is handed back if no one took it
 * yet, and the stage under way is canceled once the task is interrupted.
 *
 * A task that reaches a resting or final state is completed
 * (devsys_store_complete()); one that stops where it may go on
 * (interrupted, a system failure) is handed back (devsys_store_release()),
 * so that the next claim resumes it. A runner profile's `max_concurrent`
 * (devsys.yaml) bounds how many tasks of that profile one worker runs at once.
 *
 * Threads: devsys_worker_run() runs on the caller's thread and starts
 * one thread per job plus the heartbeat; devsys_worker_stop() and
 * devsys_worker_stats() may be called from any other thread while it runs
 * (not from a signal handler: wait for signals on a thread of your own).
 * The other calls are not to be made concurrently with each other.
 */

/** An open worker. */
typedef struct devsys_worker devsys_worker;

/** Kinds of devsys_worker_event. */
typedef enum devsys_worker_event_kind {
	DEVSYS_WORKER_EVENT_CLAIMED = 1,     /**< a slot claimed @c task_id */
	DEVSYS_WORKER_EVENT_REFUSED = 2,     /**< the claimed task cannot run (its kept spec unreadable or invalid now): it fails */
	DEVSYS_WORKER_EVENT_ENDED = 3,       /**< the task's run ended at @c state and was completed */
	DEVSYS_WORKER_EVENT_HANDED_BACK = 4, /**< the task went back to the queue (@c state: where it stands) */
	DEVSYS_WORKER_EVENT_LEASE_LOST = 5,  /**< a heartbeat found the lease gone: the run was canceled */
	DEVSYS_WORKER_EVENT_CANCEL = 6,      /**< a cancel was requested through the store: the run was canceled */
	DEVSYS_WORKER_EVENT_ERROR = 7,       /**< something failed (@c task_id may be NULL): @c message says what */
	DEVSYS_WORKER_EVENT_PIPELINE = 8,    /**< a pipeline event of @c task_id: @c pipeline */
	/** a slot found nothing to claim and waits (once per idle stretch, @c message NULL): a task queued from
	 *  now on wakes it by the store's signal where it has one (devsys_store_wait_work()), else at the next poll */
	DEVSYS_WORKER_EVENT_IDLE = 9
} devsys_worker_event_kind;

#define DEVSYS_WORKER_EVENT_VERSION 1

/** What a worker's event callback is told. Every pointer is borrowed for the call. */
typedef struct devsys_worker_event {
	unsigned int version;                  /**< DEVSYS_WORKER_EVENT_VERSION */
	int kind;                              /**< devsys_worker_event_kind */
	unsigned int slot;                     /**< the job slot, 1..jobs; 0: the worker itself */
	const char *task_id;                   /**< the task, or NULL */
	int state;                             /**< ENDED, HANDED_BACK: the task's devsys_task_state; else -1 */
	const char *message;                   /**< one line for people ("claimed", "awaiting-review", the error) */
	const devsys_pipeline_event *pipeline; /**< PIPELINE: the pipeline's event; else NULL */
} devsys_worker_event;

/**
 * Called from the worker's threads (a slot's or the heartbeat's). The
 * worker makes one call at a time, so the callback needs no lock of its
 * own; it should return quickly: every slot waits for it.
 */
typedef void (*devsys_worker_event_cb)(const devsys_worker_event *event, void *payload);

/** devsys_worker_run() returns once the queue has nothing it may claim (instead of polling on). */
#define DEVSYS_WORKER_ONCE (1u << 0)

/*
 * Version history of devsys_worker_options:
 *  - 1: every field up to and including poll_ms.
 */
#define DEVSYS_WORKER_OPTIONS_VERSION 1

/**
 * Options of devsys_worker_open(). Strings and the profile list are copied
 * during the call.
 */
typedef struct devsys_worker_options {
	unsigned int version;           /**< DEVSYS_WORKER_OPTIONS_VERSION */
	unsigned int flags;             /**< DEVSYS_WORKER_* flags */
	/** The worker's id (1..99 bytes; slot i holds leases as "<id>/<i>"); NULL: "<host>:<pid>". */
	const char *id;
	const char *host;               /**< the host named in leases; NULL: gethostname() */
	unsigned int jobs;              /**< tasks run at once, 1..64; 0: 1 */
	const char *const *profiles;    /**< the runner profiles served (at most 32); NULL or none: any */
	size_t nprofiles;               /**< the number of @c profiles */
	unsigned int lease_ms;          /**< the lease, 300..3600000 ms; 0: 30000 */
	/** The operator's devsys.yaml: each pipeline's configuration and the profiles' max_concurrent; NULL: none. */
	const char *config_path;
	devsys_worker_event_cb event;   /**< optional */
	void *event_payload;            /**< passed to @c event (the caller keeps it alive) */
	/** How long an idle slot waits before it asks the queue again; 0: 200. On a store that signals new work
	 *  (PostgreSQL's LISTEN/NOTIFY, devsys_store_wait_work()) a task queued or handed back wakes it sooner. */
	unsigned int poll_ms;
} devsys_worker_options;

#define DEVSYS_WORKER_OPTIONS_INIT \
	{ DEVSYS_WORKER_OPTIONS_VERSION, 0u, NULL, NULL, 0u, NULL, 0, 0u, NULL, NULL, NULL, 0u }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_worker_options_init(devsys_worker_options *opts, unsigned int version);

/**
 * Open a worker on @p ws: its store, its configuration and one pipeline per
 * job. Its first beat goes into the store's registry. An id that another
 * worker uses (a job of that id holds an unexpired lease, or a worker of
 * that id in another process beat within its lease) is refused.
 * @param out new: the worker (it holds a reference on @p ws); free with devsys_worker_free().
 * @return 0; DEVSYS_EINVAL (a bad option: the message names it); DEVSYS_EVERSION;
 *         DEVSYS_EEXISTS (the id is in use: the message says by what);
 *         DEVSYS_ENOMEM; the store's, the configuration's and the pipeline's errors.
 */
DEVSYS_API int devsys_worker_open(devsys_worker **out, devsys_workspace *ws, const devsys_worker_options *opts);

/**
 * Claim and run tasks until devsys_worker_stop() (or, with
 * DEVSYS_WORKER_ONCE, until nothing is left to claim). Blocks. The last
 * beat marks the worker stopped in the registry.
 * @return 0; DEVSYS_ESTATE (running already, or run once before);
 *         DEVSYS_ENOMEM / DEVSYS_EIO (a thread could not start; nothing was claimed).
 */
DEVSYS_API int devsys_worker_run(devsys_worker *w);

/**
 * Stop the worker: it claims nothing more, and each running task's run
 * begins no further stage. The stage under way has @p grace_ms to end; a
 * task whose stage ends in time is handed back as that stage left it
 * (devsys_store_release(): the next claim goes on from the next stage),
 * or completed if that stage ended it. Each task whose stage still runs
 * after @p grace_ms is handed back too (the store marks a task in a stage
 * interrupted, naming the stage, so the next claim resumes it) and that
 * stage is canceled (its end no longer moves the task). Returns when every
 * task is back (at most about @p grace_ms); devsys_worker_run() returns
 * once the slots' threads end.
 * Safe from any thread but the worker's own; calling it twice is fine.
 * @return 0; DEVSYS_EINVAL (NULL).
 */
DEVSYS_API int devsys_worker_stop(devsys_worker *w, unsigned int grace_ms);

#define DEVSYS_WORKER_STATS_VERSION 1

/** A worker's counts since devsys_worker_open(). */
typedef struct devsys_worker_stats {
	unsigned int version;      /**< DEVSYS_WORKER_STATS_VERSION, set by the caller */
	unsigned int jobs;         /**< job slots */
	uint64_t running;          /**< tasks running now */
	uint64_t claimed;          /**< tasks claimed */
	uint64_t completed;        /**< tasks completed (they rest, failed or were canceled) */
	uint64_t not_resting;      /**< of those and the handed back, the ones that ended elsewhere than a resting state */
	uint64_t handed_back;      /**< tasks handed back to the queue */
	uint64_t lease_expiries;   /**< leases lost while a task ran */
	uint64_t cancels;          /**< runs canceled on a cancel request */
	int stopping;              /**< 1 once devsys_worker_stop() was called */
	/** The coding agents' usage, summed over the agent stages this worker ran (task.json agent.usage, kept by adapters that report it) */
	uint64_t agent_steps;
	uint64_t agent_tokens;     /**< see agent_steps */
	double agent_cost;         /**< see agent_steps */
} devsys_worker_stats;

#define DEVSYS_WORKER_STATS_INIT { DEVSYS_WORKER_STATS_VERSION, 0u, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0 }

/**
 * Fill @p out (its version set by the caller) with @p w's counts.
 * Safe from any thread while the worker runs.
 * @return 0; DEVSYS_EINVAL; DEVSYS_EVERSION.
 */
DEVSYS_API int devsys_worker_stats_get(devsys_worker_stats *out, const devsys_worker *w);

/**
 * The worker's id (given or made).
 * @return borrowed: valid until devsys_worker_free().
 */
DEVSYS_API const char *devsys_worker_id(const devsys_worker *w);

/**
 * The store the worker claims from, for reading the state of its tasks.
 * @return borrowed: valid until devsys_worker_free().
 */
DEVSYS_API devsys_store *devsys_worker_store(devsys_worker *w);

/**
 * Cancel task @p task_id if one of this worker's slots runs it
 * (devsys_pipeline_cancel() on that slot's pipeline). Safe from any thread.
 * @return 1 canceled; 0 this worker does not run it; DEVSYS_EINVAL.
 */
DEVSYS_API int devsys_worker_cancel_task(devsys_worker *w, const char *task_id);

/** Free a worker that does not run (NULL is fine). Its tasks stay as the store has them. */
DEVSYS_API void devsys_worker_free(devsys_worker *w);

DEVSYS_END_DECL

#endif /* DEVSYS_WORKER_H */
