/*
 * libdevsys - the task store: tasks, their states and runs (SQLite).
 */
#ifndef DEVSYS_STORE_H
#define DEVSYS_STORE_H

#include "common.h"
#include "buf.h"
#include "workspace.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/store.h
 * @brief An index of a workspace's tasks in <workspace>/devsys.db
 *        (SQLite, WAL mode), or in a PostgreSQL database that several
 *        hosts' workers share (devsys_store_options.url, DEVSYS_STORE_URL;
 *        docs/scale-out.md), so listing never scans directories.
 *
 * State machine (docs/task-record.md):
 *
 *     created -> validated -> checked-out -> coded -> committed -> pushed
 *       -> pr-opened -> tested -> deployed -> awaiting-review -> merged -> done
 *
 * plus checked-out/coded -> no-changes -> done, tested -> deploy-skipped ->
 * awaiting-review/done, awaiting-review -> done, and from any state that
 * is not final: failed, canceled, interrupted. interrupted and failed ->
 * (devsys_store_resume) the last completed state, except a task that
 * failed while being created. Final states: done, failed, canceled (a
 * failed task is final for every transition but resume).
 *
 * The queue: validated -> queued (devsys_store_submit) -> validated (the
 * first devsys_store_claim of the task, so the pipeline runs it from
 * checkout); queued -> failed, canceled. A claimed task that is
 * interrupted (its lease expired, or its worker released it mid-stage)
 * stays in the queue and is resumed by the worker that claims it next.
 *
 * Every transition is one transaction, and also updates task.json's
 * "state" and appends an event to events.jsonl. Several processes may use
 * one workspace. devsys_store_open() marks tasks left mid-stage by a
 * process that no longer runs as interrupted, naming the stage.
 *
 * Threads: a store handle may be shared by threads (calls are serialised).
 * The queue calls may come from several processes and threads at once: a
 * claim is one write transaction (BEGIN IMMEDIATE on SQLite) whose update is
 * conditional on the task being free, so no two workers hold one task.
 */
typedef struct devsys_store devsys_store;

/** Task states. The numbers are stable. */
typedef enum devsys_task_state {
	DEVSYS_STATE_CREATED = 0,
	DEVSYS_STATE_VALIDATED = 1,
	DEVSYS_STATE_CHECKED_OUT = 2,
	DEVSYS_STATE_CODED = 3,
	DEVSYS_STATE_COMMITTED = 4,
	DEVSYS_STATE_PUSHED = 5,
	DEVSYS_STATE_PR_OPENED = 6,
	DEVSYS_STATE_TESTED = 7,
	DEVSYS_STATE_DEPLOYED = 8,
	DEVSYS_STATE_AWAITING_REVIEW = 9,
	DEVSYS_STATE_MERGED = 10,
	DEVSYS_STATE_DONE = 11,
	DEVSYS_STATE_NO_CHANGES = 12,
	DEVSYS_STATE_DEPLOY_SKIPPED = 13,
	DEVSYS_STATE_FAILED = 14,
	DEVSYS_STATE_CANCELED = 15,
	DEVSYS_STATE_INTERRUPTED = 16,
	DEVSYS_STATE_QUEUED = 17 /**< validated, waiting in the queue for a worker (devsys_store_submit) */
} devsys_task_state;

/** Number of states (one past the last). It grows when a state is appended. */
#define DEVSYS_STATE_COUNT 18

/**
 * "created", "checked-out", ...; NULL for an unknown number.
 * @return borrowed: a static string, valid for the life of the process; NULL for an unknown number.
 */
DEVSYS_API const char *devsys_task_state_name(int state);

/** Parse a state name. @return the state, or DEVSYS_EINVAL. */
DEVSYS_API int devsys_task_state_parse(const char *name);

/** May a task go from @p from to @p to? (1 yes, 0 no) */
DEVSYS_API int devsys_task_state_allowed(int from, int to);

/**
 * Version history of devsys_store_options:
 *  - 1: flags, busy_timeout_ms.
 *  - 2: url, secrets, password_secret (a PostgreSQL store).
 */
#define DEVSYS_STORE_OPTIONS_VERSION 2

/** Do not mark crashed tasks interrupted on open. */
#define DEVSYS_STORE_NO_RECOVER (1u << 0)

typedef struct devsys_store_options {
	unsigned int version;          /**< DEVSYS_STORE_OPTIONS_VERSION */
	unsigned int flags;            /**< DEVSYS_STORE_* flags */
	unsigned int busy_timeout_ms;  /**< wait for other writers (and, on PostgreSQL, for a restarting server); 0 means 10000 */
	/**
	 * (2) "postgresql://user@host:port/db[?param=...]": keep the rows in
	 * that PostgreSQL database (shared by the workers of several hosts)
	 * instead of <workspace>/devsys.db. NULL: the environment's
	 * DEVSYS_STORE_URL, and without it SQLite in the workspace. A URL that
	 * carries a password is refused: the password comes from
	 * @c password_secret, or libpq's password file (PGPASSFILE, ~/.pgpass).
	 */
	const char *url;
	struct devsys_secrets *secrets; /**< (2) where @c password_secret is resolved (borrowed, used only during open) */
	const char *password_secret;   /**< (2) the name of the secret holding the database password, or NULL */
} devsys_store_options;

#define DEVSYS_STORE_OPTIONS_INIT { DEVSYS_STORE_OPTIONS_VERSION, 0u, 0u, NULL, NULL, NULL }

/** @return 0, DEVSYS_EINVAL, DEVSYS_EVERSION. */
DEVSYS_API int devsys_store_options_init(devsys_store_options *opts, unsigned int version);

/**
 * Open (creating) <workspace>/devsys.db, or the PostgreSQL database of
 * @p opts->url or DEVSYS_STORE_URL (migrating its schema under a lock, so
 * concurrent openers take turns), and, unless NO_RECOVER, mark
 * tasks whose stage owner died interrupted (on PostgreSQL a stage owner's
 * liveness comes from its lease alone). On SQLite an open of a file at
 * this library's schema version takes the write lock only when a task is
 * to be marked, so it does not wait behind other writers. The task folders stay in @p ws.
 * The store holds a reference to @p ws.
 * @return 0; DEVSYS_EINVAL (a URL that is not postgresql://, or carries a
 *         password); DEVSYS_EVERSION (unknown options version, or a
 *         database of a newer schema than this library knows: nothing is
 *         written); DEVSYS_EAUTH (the server refused the password);
 *         DEVSYS_ENETWORK (cannot reach the server); DEVSYS_ENOTSUPPORTED
 *         (a build without the postgresql feature); DEVSYS_EIO (cannot
 *         open or migrate the database); DEVSYS_EBUSY (locked longer than
 *         the busy timeout). Messages name the URL, never a password.
 * @param out new: the store (it holds a reference on @p ws); free with devsys_store_free().
 */
DEVSYS_API int devsys_store_open(devsys_store **out, devsys_workspace *ws, const devsys_store_options *opts);

struct devsys_config;

/**
 * Open the store the operator's configuration names, as
 * devsys_pipeline_new() and devsys_worker_open() do: @p opts when it names
 * a URL; else the `store:` section of @p cfg (devsys_config_store(); its
 * password secret is declared in a set of its own and resolved only while
 * opening), keeping @p opts' flags and busy timeout; else what
 * devsys_store_open(@p opts) picks (DEVSYS_STORE_URL, or SQLite).
 * @p opts and @p cfg may be NULL; @p cfg is read during the call only.
 * @param out new: the store (it holds a reference on @p ws); free with devsys_store_free().
 * @return as devsys_store_open(), and the secrets module's errors for the password secret.
 * Threads: safe on a config no thread changes.
 */
DEVSYS_API int devsys_store_open_config(devsys_store **out, devsys_workspace *ws, const devsys_store_options *opts,
                                        const struct devsys_config *cfg);

/** Close the store. NULL is fine. */
DEVSYS_API void devsys_store_free(devsys_store *st);

/**
 * Create task @p id in state created: its folder, task.json, a first
 * event and its row. @p spec_path may be NULL.
 * @return 0; DEVSYS_EBADID; DEVSYS_EEXISTS; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_task_create(devsys_store *st, const char *id, const char *spec_path);

/**
 * Move task @p id to @p to (a devsys_task_state), in one transaction.
 * @p reason (may be NULL) goes into the event.
 * @return 0; DEVSYS_ENOTFOUND; DEVSYS_ESTATE (not allowed from the current
 *         state; the message names both); DEVSYS_EBUSY; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_transition(devsys_store *st, const char *id, int to, const char *reason);

/**
 * Record that this process starts @p stage of task @p id (the process is
 * the stage's owner until devsys_store_stage_end()).
 * @return 0; DEVSYS_EINVAL (unknown stage); DEVSYS_ENOTFOUND; DEVSYS_ESTATE
 *         (the task is final, interrupted, or already in a stage of this
 *         process); DEVSYS_EBUSY (another process holds its stage: the
 *         message names its pid, the stage and since when).
 */
DEVSYS_API int devsys_store_stage_begin(devsys_store *st, const char *id, const char *stage);

/**
 * End the current stage with @p result ("ok", "failed", "canceled") and,
 * for "ok", move to @p to (a devsys_task_state, or -1 to stay). "failed"
 * moves to failed, "canceled" to canceled. One transaction.
 */
DEVSYS_API int devsys_store_stage_end(devsys_store *st, const char *id, const char *stage, const char *result,
                                      int to);

/**
 * Resume an interrupted or failed task: it goes back to the last state it
 * completed; @p stage_out receives the stage to run again (the one that was
 * running or failed). A task that failed while being created (validate)
 * cannot be resumed.
 * @return 0; DEVSYS_ENOTFOUND; DEVSYS_ESTATE (neither interrupted nor failed);
 *         DEVSYS_EBUSY (a process holds a stage of it, named in the message).
 */
DEVSYS_API int devsys_store_resume(devsys_store *st, const char *id, devsys_buf *stage_out);

/**
 * Mark tasks left mid-stage by a dead process interrupted (open does this).
 * @param count_out  optional: how many were marked
 */
DEVSYS_API int devsys_store_recover(devsys_store *st, size_t *count_out);

/** The state of task @p id. @return the state (>= 0), DEVSYS_ENOTFOUND, DEVSYS_EIO. */
DEVSYS_API int devsys_store_task_state(devsys_store *st, const char *id);

/**
 * Task @p id as JSON: {"id","state","stage","last_stage","created_at",
 * "updated_at","spec_path","runs":[{"run","tests","passed","failed",
 * "errors","skipped","time"}]}. @return 0, DEVSYS_ENOTFOUND, DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_task_json(devsys_store *st, const char *id, devsys_buf *out);

/**
 * A page of tasks as JSON: {"tasks":[{"id","state","stage","updated_at"}],
 * "total","offset","limit"}, newest first. @p state_filter is a state
 * name or NULL; @p limit 0 means 50, at most 1000.
 * @return 0, DEVSYS_EINVAL (unknown state), DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_list_json(devsys_store *st, const char *state_filter, size_t offset, size_t limit,
                                      devsys_buf *out);

/**
 * Record run @p run of task @p id from its reports/<run>/summary.json.
 * @return 0, DEVSYS_ENOTFOUND (no task or no summary), DEVSYS_EPARSE.
 */
DEVSYS_API int devsys_store_run_record(devsys_store *st, const char *id, unsigned int run);

/**
 * Compare the database with the task folders and report drift as JSON:
 * {"drift":[{"task","kind","detail","repaired"}],"checked"}. Kinds:
 * missing-folder, untracked-folder, state-mismatch, run-missing. With
 * @p repair, fix each: the database is the authority for states; folders
 * are the authority for existence and runs.
 * @param drift_out optional: number of drift entries found
 */
DEVSYS_API int devsys_store_check(devsys_store *st, int repair, devsys_buf *out, size_t *drift_out);

/**
 * Prometheus text: devsys_tasks{state} gauges,
 * devsys_stage_duration_seconds{stage} summaries (sum, count), the queue's
 * devsys_queue_tasks{lease="free"|"held"} gauges and
 * devsys_claims_total{how="held"|"released"|"completed"|"expired"} counters
 * (how the claims' leases ended; a lease that expired is a lost worker), and
 * the worker registry's devsys_workers{state="alive"|"stale"|"stopped"}
 * gauges with devsys_worker_claims_total and
 * devsys_worker_lease_expiries_total (the sums the workers last reported).
 * The SQLite backend adds devsys_store_busy_retries_total: how often this
 * handle waited for another writer's lock since it was opened.
 */
DEVSYS_API int devsys_store_metrics(devsys_store *st, devsys_buf *out);

/* ---- the queue: submit, claim, heartbeat, release, complete ---- */

/**
 * Queue validated task @p id for a worker: validated -> queued, and a queue
 * row with @p profile (the runner profile a worker must serve; NULL or ""
 * means any worker) and @p schema (the id of the schema the spec was
 * validated against, e.g. "urn:devsys:schema:task:1"; NULL for none).
 * One transaction.
 * @return 0; DEVSYS_ENOTFOUND; DEVSYS_ESTATE (not validated); DEVSYS_EEXISTS
 *         (queued already); DEVSYS_ELIMIT (a string longer than 159 bytes);
 *         DEVSYS_EBUSY; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_submit(devsys_store *st, const char *id, const char *profile, const char *schema);

/**
 * Claim the oldest queued task no live lease holds, for worker @p owner on
 * @p host, among the tasks of @p profiles (@p nprofiles names; 0: any
 * profile), with a lease of @p lease_ms (0 means 30000) measured on the
 * store's clock. First, in the same transaction, every expired lease is
 * taken back: its task is marked interrupted, naming the stage that ran
 * (or the last one), and its claim-log entry ends "expired". A task claimed
 * from queued moves to validated; an interrupted or failed one is left as
 * it is for devsys_pipeline_run() to resume. The claim is logged
 * (devsys_store_claims_json()).
 * @param id_out receives the task id (cleared first).
 * @return 0; DEVSYS_ENOTFOUND (nothing to claim; no error is set);
 *         DEVSYS_EINVAL (empty owner or host, longer than 159 bytes);
 *         DEVSYS_EBUSY; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_claim(devsys_buf *id_out, devsys_store *st, const char *owner, const char *host,
                                  const char *const *profiles, size_t nprofiles, unsigned int lease_ms);

/**
 * Extend @p owner's lease on task @p id to @p lease_ms (0: 30000) from now.
 * @return 0; DEVSYS_ESTATE (the lease is not @p owner's any more: it
 *         expired or was released; stop working on the task); DEVSYS_EBUSY;
 *         DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_heartbeat(devsys_store *st, const char *id, const char *owner, unsigned int lease_ms);

/**
 * Hand task @p id back to the queue. A task still in a stage (its worker
 * stops before the stage ended) is marked interrupted, naming the stage,
 * so the next claim resumes it. @p reason (may be NULL) goes into the
 * claim log.
 * @return 0; DEVSYS_ESTATE (not @p owner's lease); DEVSYS_EBUSY; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_release(devsys_store *st, const char *id, const char *owner, const char *reason);

/**
 * Take task @p id out of the queue: its worker is done with it (the task
 * rests, failed or was canceled). The claim-log entry ends "completed".
 * @return 0; DEVSYS_ESTATE (not @p owner's lease); DEVSYS_EBUSY; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_complete(devsys_store *st, const char *id, const char *owner);

/**
 * A small record document the store keeps with its rows, so a process
 * that does not see the task's folder (another host's devsysd) can serve
 * it: "task.json" (written at every transition), "acceptance.json" (the
 * deploy stage's reports/acceptance.json, kept at the transition after it
 * is written; up to 4 MiB), "events.jsonl" (the task's events at every
 * transition; over 256 KiB only its last lines, after a first line
 * {"truncated":true,"dropped_bytes":N}), "logs/<stage>" (at every
 * transition, for the stage that ended: {"host","path","size","tail_from",
 * "tail"}, where its log is and its last 16 KiB), "agent.jsonl" (the
 * agent's logs/agent.jsonl, kept at the transition that ends the agent
 * stage, bounded as events.jsonl is), every test run's
 * "runs/<n>/summary.json" and "runs/<n>/junit.xml", and the task's latest
 * test run, "tests/latest/summary.json" and "tests/latest/junit.xml" (the
 * normalised report; kept up to 4 MiB), written by
 * devsys_store_run_record(). The events.jsonl kept at a transition ends
 * with that transition's "state" event. Only a store several hosts share
 * (PostgreSQL) keeps them; on SQLite every process of the workspace reads
 * the task's folder. Into @p out (cleared first).
 * @return 0; DEVSYS_EINVAL (another name); DEVSYS_EBADID; DEVSYS_ENOTFOUND
 *         (not kept: no such task, no run yet, or a report over 4 MiB);
 *         DEVSYS_ENOTSUPPORTED (a SQLite store, which keeps none); DEVSYS_EIO.
 * Threads: as every store call.
 */
DEVSYS_API int devsys_store_document(devsys_buf *out, devsys_store *st, const char *id, const char *name);

/** The bytes a document's version takes, with its NUL: the size of devsys_store_document_changed()'s @p version. */
#define DEVSYS_STORE_DOC_VERSION_MAX 40

/**
 * devsys_store_document(), read only when the document changed since the
 * read that gave @p version, so that a reader polling it (devsysd
 * streaming the events of a task another host runs) moves its body only
 * when it was written again. @p version: "" the first time, then what the
 * last read set; a buffer of @p version_size bytes, at least
 * DEVSYS_STORE_DOC_VERSION_MAX. Each write of the document gives it a new
 * version, one that writes the same bytes too; a version no read gave
 * reads the document again.
 * @return 1: read into @p out (cleared first), @p version set; 0: unchanged
 *         since @p version, @p out untouched; the errors of
 *         devsys_store_document(); DEVSYS_EINVAL (@p version NULL, too
 *         small, or not a string).
 * Threads: as every store call.
 */
DEVSYS_API int devsys_store_document_changed(devsys_buf *out, devsys_store *st, const char *id, const char *name,
                                             char *version, size_t version_size);

/**
 * Does this workspace's folder of task @p id answer for the task, or the
 * store? The rule a reader (devsysd, a CLI) follows so that it never
 * serves a folder another host has left behind:
 *
 * - On a store one host has alone (SQLite): the folder, whenever there is
 *   one (1), without looking at it.
 * - On a store several hosts share (PostgreSQL): the folder only while its
 *   task.json is in the state the store has the task in and from the same
 *   change: its "state_at" is the one of the task.json the store keeps
 *   (the same string, so no two hosts' clocks are compared), and while its
 *   events.jsonl holds that change's event where task.json says it ends
 *   ("state_event": the file at least that long, the line ending there a
 *   whole event of that seq; a task.json without the field is judged by
 *   state_at alone) (1). When they differ (a folder made here at submit
 *   while a worker on another host runs the task, or a run here that
 *   another host resumed since, even through the same state; or a crash
 *   that kept task.json and lost the events' unsynced tail), or there is
 *   no folder here, the store answers (0): its rows and the documents of
 *   devsys_store_document(). A task the store does not know is left to its
 *   folder (1).
 *
 * Nothing is written. A worker that moves the task on brings the folder of
 * its own workspace in step at that transition (it is made, or refreshed,
 * from the store then), as devsys_store_check() with repair does.
 * @return 1 the folder answers; 0 the store answers; DEVSYS_EBADID;
 *         DEVSYS_EINVAL; DEVSYS_EIO or DEVSYS_ENETWORK (the store).
 * Threads: as every store call.
 */
DEVSYS_API int devsys_store_folder_current(devsys_store *st, const char *id);

/**
 * Wait up to @p timeout_ms for a sign that a task was queued or handed
 * back, for an idle worker between claims. A PostgreSQL store listens for
 * the notification devsys_store_submit() and release send (LISTEN/NOTIFY);
 * a SQLite store has no such signal and returns 0 at once, so the caller
 * polls as before. A sign is a hint: claim again either way.
 * @return 1 woken; 0 timed out or no signal; DEVSYS_EINVAL.
 * Threads: safe; it does not hold the handle's lock while it waits.
 */
DEVSYS_API int devsys_store_wait_work(devsys_store *st, unsigned int timeout_ms);

/**
 * The backend the store keeps its rows in: "sqlite" or "postgresql".
 * @return borrowed: a static string; NULL for a NULL store.
 */
DEVSYS_API const char *devsys_store_backend_name(const devsys_store *st);

/**
 * The queue and the claim log as JSON: {"queue":[{"task","profile",
 * "schema","submitted_at","owner","host","lease_ms_left","held"}],"claims":
 * [{"seq","task","owner","host","claimed_ms","until_ms","ended_ms","how"}]},
 * where "held" says whether the owner still holds the lease (true through
 * its last millisecond, where "lease_ms_left" reads 0; false once it has
 * expired, before a claim takes it back), the times are milliseconds of the
 * store's clock, "until_ms" the lease's
 * last expiry, "ended_ms" null while held and "how" one of "held",
 * "released", "completed", "expired". @p task_id NULL: every task.
 * @return 0; DEVSYS_EINVAL (bad id); DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_claims_json(devsys_store *st, const char *task_id, devsys_buf *out);

/* ---- the worker registry and cancel requests ---- */

/**
 * Version history of devsys_store_worker_info:
 *  - 1: id, host, pid, jobs, lease_ms, running, claimed, completed, expiries, stopped.
 */
#define DEVSYS_STORE_WORKER_INFO_VERSION 1

/** What a worker reports of itself at each beat (devsys_store_worker_beat()). */
typedef struct devsys_store_worker_info {
	unsigned int version;          /**< DEVSYS_STORE_WORKER_INFO_VERSION */
	const char *id;                /**< the worker's id (1..159 bytes) */
	const char *host;              /**< its host name (1..159 bytes) */
	long long pid;                 /**< its process id */
	unsigned int jobs;             /**< how many tasks it runs at once */
	unsigned int lease_ms;         /**< its lease; a beat older than this is stale */
	unsigned long long running;    /**< tasks it runs now */
	unsigned long long claimed;    /**< tasks it claimed since it started */
	unsigned long long completed;  /**< tasks it completed (they rest, failed or were canceled) */
	unsigned long long expiries;   /**< leases it lost (a heartbeat found the lease gone) */
	int stopped;                   /**< 1: its last beat, it stops */
} devsys_store_worker_info;

#define DEVSYS_STORE_WORKER_INFO_INIT { DEVSYS_STORE_WORKER_INFO_VERSION, NULL, NULL, 0, 0u, 0u, 0u, 0u, 0u, 0u, 0 }

/**
 * Record worker @p info->id's beat in the store's registry (one row per
 * worker id, replaced at each beat), stamped with the store's clock.
 * @return 0; DEVSYS_EINVAL (no id or host, too long); DEVSYS_EVERSION;
 *         DEVSYS_EBUSY; DEVSYS_EIO.
 * Threads: as every store call (serialised on the handle).
 */
DEVSYS_API int devsys_store_worker_beat(devsys_store *st, const devsys_store_worker_info *info);

/**
 * The registry as JSON: {"workers":[{"id","host","pid","jobs","lease_ms",
 * "running","claimed","completed","expiries","started_ms","beat_ms",
 * "beat_age_ms","state"}]}, oldest first, where the times are ms of the
 * store's clock and "state" is "alive" (beat within its lease), "stale"
 * (no beat for longer than its lease: the worker died or hangs) or
 * "stopped" (it said so at its last beat).
 * @param out receives the JSON (cleared first).
 * @return 0; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_workers_json(devsys_store *st, devsys_buf *out);

/**
 * Ask for task @p id to be canceled wherever it runs. A task a worker
 * holds (a live lease) is marked cancel-requested; the holder sees it at
 * its next heartbeat (devsys_store_cancel_requested()) and cancels the run.
 * A queued task no worker holds is canceled here.
 * @p reason (may be NULL) is kept with the request and goes into the event.
 * @return 1 (requested of the holder); 0 (canceled here); DEVSYS_ENOTFOUND
 *         (no such task, or it is not in the queue: use the pipeline's
 *         cancel); DEVSYS_ESTATE (final); DEVSYS_EBUSY; DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_cancel_request(devsys_store *st, const char *id, const char *reason);

/**
 * Whether a cancel of task @p id was requested (devsys_store_cancel_request()).
 * @param reason_out optional: receives the request's reason (cleared first).
 * @return 1 requested; 0 not; DEVSYS_EINVAL (bad id); DEVSYS_EIO.
 */
DEVSYS_API int devsys_store_cancel_requested(devsys_store *st, const char *id, devsys_buf *reason_out);

DEVSYS_END_DECL

#endif /* DEVSYS_STORE_H */
