/*
 * libdevsys - the pipeline: a task's stages, run in order, with their
 * results written to the task's record.
 */
#ifndef DEVSYS_PIPELINE_H
#define DEVSYS_PIPELINE_H

#include "common.h"
#include "workspace.h"
#include "store.h"
#include "spec.h"
#include "repo.h"
#include "runner.h"
#include "forge.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/pipeline.h
 * @brief One handle that runs a task's stages and is the only writer of
 *        the task's folder while it does (task.json, events.jsonl, logs/).
 *
 * The built-in stages are DEVSYS_STAGE_NAMES (devsys/record.h), in that
 * order: **validate** (devsys_pipeline_validate()), then checkout, agent,
 * commit, push, pr, test, deploy, verify and gate, run by
 * devsys_pipeline_run() (all that remain), devsys_pipeline_run_stage() (one)
 * or devsys_pipeline_code() (checkout to push). docs/pipeline.md says what
 * each stage writes.
 *
 * Threads: a pipeline is not shared across threads; open one per thread.
 * Several pipelines (and processes) may use one workspace.
 */

/** An open pipeline. */
typedef struct devsys_pipeline devsys_pipeline;

/**
 * Why a stage failed. Every failed stage has exactly one class, written to
 * task.json (stages.<stage>.failure_class) and to events.jsonl.
 */
typedef enum devsys_failure_class {
	DEVSYS_FAILURE_NONE = 0,     /**< the stage did not fail */
	DEVSYS_FAILURE_BUILD = 1,    /**< the task's input or command failed (a spec refused, tests red) */
	DEVSYS_FAILURE_SYSTEM = 2,   /**< devsys or what it drives broke (store, disk, runner, network) */
	DEVSYS_FAILURE_STALLED = 3,  /**< the command printed nothing for its idle timeout */
	DEVSYS_FAILURE_TIMEOUT = 4,  /**< the stage's timeout expired */
	DEVSYS_FAILURE_CANCELED = 5, /**< the stage was canceled */
	DEVSYS_FAILURE_BUDGET = 6    /**< the agent crossed a budget (max_steps, max_tokens, max_cost) and was stopped */
} devsys_failure_class;

/**
 * "build", "system", "stalled", "timeout", "canceled", "budget"; NULL for
 * DEVSYS_FAILURE_NONE and unknown values. Needs no devsys_init().
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_failure_class_name(int failure_class);

/** The number of built-in stages (the words of DEVSYS_STAGE_NAMES). */
DEVSYS_API size_t devsys_pipeline_stage_count(void);

/**
 * The name of built-in stage @p index (0: "validate"), or NULL past the end.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_pipeline_stage_name(size_t index);

#define DEVSYS_STAGE_RESULT_VERSION 1

/**
 * What one stage did. Filled by the stage functions; it holds no memory
 * (its strings are static, or for a stage added or replaced through
 * devsys/sys/stage.h the pipeline's: valid until devsys_pipeline_free() or
 * that stage's next run), so it needs no dispose.
 */
typedef struct devsys_stage_result {
	unsigned int version; /**< DEVSYS_STAGE_RESULT_VERSION, set by the caller */
	const char *stage;    /**< the stage's name; borrowed: static */
	const char *result;   /**< "ok", "failed" or "canceled"; borrowed: static */
	int failure_class;    /**< devsys_failure_class; DEVSYS_FAILURE_NONE when result is "ok" */
	int error;            /**< the DEVSYS_E* code the stage failed with, 0 when ok */
	/**
	 * One word for what happened; borrowed: static. Any stage may end
	 * "record-failed" (its begin, or an ok end, could not be written to the
	 * store or record: class "system"); any stage after validate may end
	 * "canceled" (the task was canceled before or while it ran). Besides
	 * those, the built-in stages end:
	 * - validate: "validated", "already-registered" (ok, nothing changed),
	 *   "spec-refused" (failed, nothing registered);
	 * - checkout: "checked-out", "checkout-failed";
	 * - agent: "agent-done", "agent-refused", "agent-not-run", "agent-failed",
	 *   "agent-stalled", "agent-output-limit", "agent-timeout",
	 *   "agent-canceled";
	 * - commit: "committed", "already-committed" (resumed after the commit),
	 *   "no-changes", "tree-deleted", "commit-failed";
	 * - push: "pushed", "push-failed";
	 * - pr: "pr-opened", "pr-reused", "pr-failed";
	 * - test: "tests-passed", "exit-code-only" (no tests.junit, exit 0),
	 *   "no-tests" (the spec has none), "tests-failed", "no-junit",
	 *   "junit-refused", "junit-invalid", "tests-refused", "tests-not-run",
	 *   "tests-timeout", "tests-stalled";
	 * - deploy: "deployed", "deploy-skipped" (no deploy section),
	 *   "deploy-refused", "deploy-unreachable", "deploy-failed",
	 *   "acceptance-failed";
	 * - verify: "verified", "verification-failed", "service-not-stopped";
	 * - gate: "merged", "awaiting-review", "gate-failed".
	 * A stage added or replaced through devsys/sys/stage.h ends with the
	 * outcome it set, else "done", "failed" or "canceled".
	 */
	const char *outcome;
} devsys_stage_result;

#define DEVSYS_STAGE_RESULT_INIT { DEVSYS_STAGE_RESULT_VERSION, NULL, NULL, 0, 0, NULL }

/**
 * Kinds of devsys_pipeline_event.
 */
typedef enum devsys_pipeline_event_kind {
	DEVSYS_PIPELINE_EVENT_STAGE_BEGIN = 1, /**< a stage starts */
	DEVSYS_PIPELINE_EVENT_STAGE_END = 2,   /**< a stage ended: @c result says how */
	DEVSYS_PIPELINE_EVENT_OUTPUT = 3,      /**< a command's output (masked), @c data / @c len */
	DEVSYS_PIPELINE_EVENT_PROGRESS = 4     /**< a count: @c current of @c total (0: unknown), @c data a short label */
} devsys_pipeline_event_kind;

#define DEVSYS_PIPELINE_EVENT_VERSION 1

/** What a progress callback is told. Every pointer is borrowed for the call. */
typedef struct devsys_pipeline_event {
	unsigned int version;               /**< DEVSYS_PIPELINE_EVENT_VERSION */
	int kind;                           /**< devsys_pipeline_event_kind */
	const char *task_id;                /**< the task */
	const char *stage;                  /**< the stage */
	const devsys_stage_result *result;  /**< STAGE_END: what the stage did; else NULL */
	const char *data;                   /**< OUTPUT: the bytes; PROGRESS: a label ("objects", "tests"); else NULL */
	size_t len;                         /**< OUTPUT: the number of bytes */
	uint64_t current;                   /**< PROGRESS: done so far */
	uint64_t total;                     /**< PROGRESS: the whole, 0 when unknown */
} devsys_pipeline_event;

/**
 * Called on the pipeline's thread as stages run. Return 0 to go on; a
 * non-zero return cancels the running stage (it ends "canceled").
 */
typedef int (*devsys_pipeline_progress_cb)(const devsys_pipeline_event *event, void *payload);

/*
 * Version history of devsys_pipeline_options:
 *  - 1: every field up to and including agent_env_scrub.
 *  - 2: config_path, progress, progress_payload, agent_idle_timeout_ms, max_output_bytes.
 */
#define DEVSYS_PIPELINE_OPTIONS_VERSION 2

/**
 * Options of devsys_pipeline_new(). Each module's options are reached
 * through a pointer, never embedded, so that a module's struct can grow
 * without moving this one's fields. NULL pointers mean that module's
 * defaults. @c store, @c agent_env_scrub and @c config_path are read (and
 * copied) during devsys_pipeline_new(); @c repo, @c runner and @c forge are
 * borrowed: they, and what they point to, must stay valid until
 * devsys_pipeline_free() (the handles they name, such as the runner
 * options' workspace and masker, are referenced by the handles the
 * pipeline opens from them).
 */
typedef struct devsys_pipeline_options {
	unsigned int version;                  /**< DEVSYS_PIPELINE_OPTIONS_VERSION */
	unsigned int flags;                    /**< none defined yet: 0 */
	const devsys_store_options *store;     /**< the task store the pipeline opens */
	/** The checkout (version 1). Its url, base_branch and branch_template come from the spec. */
	const devsys_repo_options *repo;
	/** Settings for every runner the pipeline opens; a step's runner profile (devsys.yaml) overrides them. */
	const devsys_runner_options *runner;
	/** The forge (pr, test and gate stages); its remote_url is the spec's repo.url; NULL: defaults. */
	const devsys_forge_options *forge;
	/**
	 * (operator) NULL-terminated names of more environment variables kept
	 * from the agent, besides the ones it never gets (GITHUB_TOKEN,
	 * GH_TOKEN, GITEA_TOKEN, GIT_ASKPASS, SSH_AUTH_SOCK). NULL: none.
	 */
	const char *const *agent_env_scrub;
	/* ---- version 2 ---- */
	/**
	 * The operator's devsys.yaml, loaded by devsys_pipeline_new(): the
	 * runner profiles a spec's steps name, the forges and the gate's
	 * policy. NULL: no operator configuration (the inproc runner, the
	 * forge chosen from the remote URL, the default policy of docs/gate.md).
	 */
	const char *config_path;
	devsys_pipeline_progress_cb progress;  /**< optional */
	void *progress_payload;                /**< passed to @c progress (the caller keeps it alive) */
	/** (operator) the agent's idle timeout: no output for this long ends it "stalled"; 0: 600000 (10 min). */
	unsigned int agent_idle_timeout_ms;
	/** (operator) the most output bytes a stage's command may print before it is stopped; 0: 64 MiB. */
	uint64_t max_output_bytes;
} devsys_pipeline_options;

#define DEVSYS_PIPELINE_OPTIONS_INIT \
	{ DEVSYS_PIPELINE_OPTIONS_VERSION, 0u, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0u, 0u }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_pipeline_options_init(devsys_pipeline_options *opts, unsigned int version);

/**
 * Open a pipeline on @p ws: it opens its own task store there (with
 * @c opts->store) and holds a reference on @p ws.
 * @param out new: the pipeline; free with devsys_pipeline_free().
 * @return 0, DEVSYS_EINVAL, DEVSYS_EVERSION, DEVSYS_ENOMEM, or the store's errors.
 */
DEVSYS_API int devsys_pipeline_new(devsys_pipeline **out, devsys_workspace *ws, const devsys_pipeline_options *opts);

/** Free a pipeline (NULL is fine). Its task folders stay as written. */
DEVSYS_API void devsys_pipeline_free(devsys_pipeline *p);

/**
 * The validate stage (the manager): load @p spec (YAML or JSON bytes,
 * named @p name in messages; NULL: "spec"), check that it holds one task
 * spec and validate it against the canonical task schema, then create the
 * task in the store, keep the bytes as tasks/<id>/spec.yaml (or spec.json)
 * with their content id (task.json's spec_hash), the validation and the
 * repository URL (without credentials) in task.json, and move the task to
 * "validated", with the stage's begin and end in task.json and
 * events.jsonl. A refused spec registers nothing. A task whose id exists
 * is left as it is (outcome "already-registered", return DEVSYS_EEXISTS).
 * A second call replaces the first call's spec and task on @p p.
 *
 * @param result optional: what the stage did (DEVSYS_STAGE_RESULT_VERSION).
 * @return 0; DEVSYS_EEXISTS (the task exists; nothing changed);
 *         DEVSYS_EPARSE or DEVSYS_ELIMIT (the bytes are not a spec);
 *         DEVSYS_EINVALID (the spec is invalid: devsys_pipeline_validation()
 *         lists why when the schema refused it); or the store's and
 *         record's errors (failure class "system": the task was created;
 *         its state is "failed" and its validate stage is recorded
 *         "failed" as far as the store and record can still write).
 */
DEVSYS_API int devsys_pipeline_validate(devsys_stage_result *result, devsys_pipeline *p, const void *spec,
                                        size_t len, const char *name);

/**
 * The coding agent's stages for the task of the last
 * devsys_pipeline_validate() (also one that was already registered):
 *
 * - **checkout**: devsys_repo_open_task() with @c opts->repo and the spec's
 *   repo.url, repo.base_branch and repo.branch_template (default task/<id>).
 * - **agent**: the spec's agent.command argv, run on the inproc runner in
 *   the checkout, with the spec's agent.timeout, stdin /dev/null and its
 *   output in logs/agent.log. The task facts are in tasks/<id>/agent-input.json,
 *   outside the checkout (id, title, prompt, spec_path, acceptance). Its
 *   environment is this process's, without GITHUB_TOKEN, GH_TOKEN,
 *   GITEA_TOKEN, GIT_ASKPASS, SSH_AUTH_SOCK, the names of
 *   @c agent_env_scrub and any inherited DEVSYS_* name, plus HOME (the
 *   per-task tasks/<id>/home, mode 0700), DEVSYS_TASK_ID, DEVSYS_TASK_FILE
 *   (agent-input.json), DEVSYS_SPEC_FILE (the kept spec) and
 *   DEVSYS_CHECKOUT (the checkout's path).
 * - **commit**: nothing changed ends the task "no-changes" (outcome
 *   "no-changes"; no commit, no push). A change deleting every tracked file
 *   is refused (DEVSYS_EINVALID, outcome "tree-deleted"; nothing committed
 *   or pushed). Else one commit with the Task-Id and Spec trailers.
 * - **push**: the task branch only (devsys_repo_push()); outcome "pushed".
 *
 * Each stage's begin and end, result and failure class go to task.json and
 * events.jsonl; a failed stage stops here. @p result describes the last
 * stage that ran.
 *
 * @return 0 (pushed, or no changes: see result->outcome); DEVSYS_ESTATE
 *         (no task on @p p, or its state is not "validated": a task that
 *         went further is not run again, and resume does not exist yet;
 *         nothing is written); the stage's error otherwise.
 */
DEVSYS_API int devsys_pipeline_code(devsys_stage_result *result, devsys_pipeline *p);

/**
 * Select an existing task of the store (made by an earlier
 * devsys_pipeline_validate(), here or in another process) as this
 * pipeline's task: its kept spec is reloaded from its folder. The next
 * devsys_pipeline_run() resumes it.
 * @return 0; DEVSYS_ENOTFOUND (no such task); DEVSYS_EINVAL (bad id);
 *         DEVSYS_EPARSE / DEVSYS_EIO (its kept spec cannot be read).
 */
DEVSYS_API int devsys_pipeline_load(devsys_pipeline *p, const char *task_id);

/**
 * Run the task's remaining stages, in order, from where it stands: a
 * validated task from checkout; a task that stopped (failed, interrupted)
 * from the first stage whose recorded result is not "ok" (docs/pipeline.md,
 * "Resuming"). Side effects that must not repeat are guarded by markers in
 * task.json (the commit before the push, the PR number once opened), so a
 * resumed run never makes a second commit or a second PR. Stops at the
 * first failed stage. @p result describes the last stage that ran.
 * @return 0 (the task reached a resting state: awaiting-review, merged,
 *         done, no-changes); DEVSYS_ESTATE (no task, or it is done or
 *         canceled: nothing to run); DEVSYS_ECANCELED (canceled); the failed
 *         stage's error otherwise.
 */
DEVSYS_API int devsys_pipeline_run(devsys_stage_result *result, devsys_pipeline *p);

/**
 * Run one named stage of the task on its own (a built-in name of
 * DEVSYS_STAGE_NAMES other than validate, or a stage added with
 * devsys_pipeline_add_stage(), devsys/sys/stage.h). The stages before it must have
 * ended "ok" (the task's state says so), else DEVSYS_ESTATE naming the
 * stage that has to run first.
 * @return 0; DEVSYS_EINVAL (unknown stage); DEVSYS_ESTATE; the stage's error.
 */
DEVSYS_API int devsys_pipeline_run_stage(devsys_stage_result *result, devsys_pipeline *p, const char *stage);

/**
 * Ask the running stage to stop: its command is canceled (TERM to its
 * process group, then KILL after the runner's grace) and the stage ends
 * "canceled", then the task is "canceled". Safe to call from another
 * thread (not from a signal handler: a program that cancels on a signal
 * waits for it on a thread of its own, as `devsys run` does). A pipeline
 * that runs nothing cancels its next stage.
 * @return 0; DEVSYS_EINVAL (NULL).
 */
DEVSYS_API int devsys_pipeline_cancel(devsys_pipeline *p);

/**
 * Cancel task @p task_id of the pipeline's store, whichever process runs
 * it. When a live process owns the task's current stage (the pid, process
 * start time and boot id the store recorded when the stage began all
 * match: a pid since reused by another process is never signaled), it is
 * sent SIGTERM and @p signaled_out is set to 1; `devsys run` answers with
 * devsys_pipeline_cancel(), so its stage ends "canceled" and then the task.
 * Otherwise (no stage is running, or its process is gone) the task moves
 * to "canceled" at once and @p signaled_out is 0; then the commands a
 * killed run of the task left running are killed, and what its deploy
 * started is stopped, for which the pipeline selects the task as
 * devsys_pipeline_load() does (the pipeline needs no task beforehand).
 * @param signaled_out optional: 1 when the owner was signaled, 0 when canceled here
 * @return 0; DEVSYS_EINVAL; DEVSYS_EBADID; DEVSYS_ENOTFOUND; DEVSYS_ESTATE
 *         (the task is final: done, failed, canceled; or this very process
 *         runs it, which cancels with devsys_pipeline_cancel()); DEVSYS_EIO.
 * Threads: as any call on the pipeline's store (serialised).
 */
DEVSYS_API int devsys_pipeline_cancel_task(int *signaled_out, devsys_pipeline *p, const char *task_id);

/**
 * The id of the task of the last devsys_pipeline_validate(), or NULL.
 * @return borrowed: valid until the next devsys_pipeline_validate() or devsys_pipeline_free().
 */
DEVSYS_API const char *devsys_pipeline_task_id(const devsys_pipeline *p);

/**
 * The spec of the last devsys_pipeline_validate() that could load it, or NULL.
 * @return borrowed: valid until the next devsys_pipeline_validate() or devsys_pipeline_free().
 */
DEVSYS_API const devsys_spec *devsys_pipeline_spec(const devsys_pipeline *p);

/**
 * Why the schema refused the last spec (devsys_pipeline_validate()
 * returned DEVSYS_EINVALID), or NULL.
 * @return borrowed: valid until the next devsys_pipeline_validate() or devsys_pipeline_free().
 */
DEVSYS_API const devsys_validation *devsys_pipeline_validation(const devsys_pipeline *p);

/**
 * The task store the pipeline writes through, for reading a task's state.
 * @return borrowed: valid until devsys_pipeline_free().
 */
DEVSYS_API devsys_store *devsys_pipeline_store(devsys_pipeline *p);

DEVSYS_END_DECL

#endif /* DEVSYS_PIPELINE_H */
