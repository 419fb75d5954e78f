/*
 * libdevsys - plug-in API: pipeline stages an embedder adds or replaces.
 */
#ifndef DEVSYS_SYS_STAGE_H
#define DEVSYS_SYS_STAGE_H

#include "../common.h"
#include "../pipeline.h"
#include "errors.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/stage.h
 * @brief The stage vtable, for adding a stage to a pipeline after a named
 *        one, or replacing a built-in stage.
 *
 * sqlite3_vfs conventions, as in sys/runner.h: @c version first; slots are
 * only appended and never change signature; registration copies the prefix
 * the plug-in's version has; the library calls an appended slot only when
 * the registered version has it and it is non-NULL.
 *
 * A stage's @c run gets an opaque devsys_stage_run: what the stage works
 * with (the task, its spec, its checkout, a runner for a step's profile) is
 * reached through the devsys_stage_run_*() accessors, and what it did is
 * told back through them (devsys_stage_run_fail(), _set_outcome(), _log()).
 * The pipeline writes the stage's begin and end to the store, task.json
 * (stages.<name>) and events.jsonl ("stage.end") exactly as for a built-in
 * stage, and tells the progress callback.
 *
 * State and resume (docs/pipeline.md, "Custom stages"): a custom stage does
 * not move the task's state; the state follows the built-in stages. A
 * custom stage added after stage X runs once X has ended "ok" and the
 * custom stage's own recorded result (task.json stages.<name>.result) is
 * not "ok": so a failed custom stage stops the pipeline (the task is
 * "failed") and devsys_pipeline_run() on the resumed task runs it again,
 * before the built-in stage that follows it. A stage that replaces a
 * built-in keeps the built-in's name and moves the task to the state the
 * built-in would have moved it to when it ends "ok".
 *
 * Threads: @c run is called on the thread running the pipeline, one stage
 * at a time; a devsys_stage_run is valid only during that call.
 *
 * Version history:
 *  - 1: name, run, release.
 */
#define DEVSYS_STAGE_VTABLE_VERSION 1

/** One run of one stage, valid during the @c run slot only. */
typedef struct devsys_stage_run devsys_stage_run;

typedef struct devsys_stage_vtable {
	unsigned int version; /**< DEVSYS_STAGE_VTABLE_VERSION the plug-in was built with */

	/* ---- version 1 ---- */

	/**
	 * devsys_pipeline_add_stage(): required, the stage's name, copied at
	 * registration: 1-64 characters of [A-Za-z0-9._-], starting with a
	 * letter or digit, no "..", not a built-in name (DEVSYS_STAGE_NAMES).
	 * devsys_pipeline_replace_stage(): NULL or the replaced stage's name.
	 */
	const char *name;

	/**
	 * Required. Run the stage for the task of @p run; @p self is what was
	 * registered. Return 0 when the stage succeeded, else a negative
	 * DEVSYS_E* code with the thread's error set (devsys_error_set() or,
	 * with a failure class, devsys_stage_run_fail()). A failure without a
	 * class is a "system" failure; DEVSYS_ECANCELED is "canceled".
	 */
	int (*run)(devsys_stage_run *run, void *self);

	/**
	 * Optional. Called once with @p self when the pipeline lets the stage
	 * go: at devsys_pipeline_free(), or when the entry is replaced again.
	 * Not called when registration fails (the caller keeps @p self).
	 */
	void (*release)(void *self);
} devsys_stage_vtable;

/**
 * Add the stage @p vtable describes to @p p, right after the stage named
 * @p after (a built-in name, "validate" included, or a custom stage added
 * before; after "gate" is refused: the gate ends the task). Stages added
 * after the same stage run in the order they were added after it.
 * The vtable's known prefix is copied; @p self is kept for @c run and
 * @c release.
 * Not while a stage runs (from a @c run slot): DEVSYS_EBUSY.
 * @return 0; DEVSYS_EINVAL (NULL argument, a bad or reserved name, no
 *         @c run slot, the anchor is "gate"); DEVSYS_EBUSY; DEVSYS_EVERSION (vtable
 *         version 0 or newer than this library's); DEVSYS_ENOTFOUND (no
 *         stage @p after); DEVSYS_EEXISTS (a stage of that name was added
 *         already); DEVSYS_ENOMEM. Nothing changes on failure.
 */
DEVSYS_API int devsys_pipeline_add_stage(devsys_pipeline *p, const char *after, const devsys_stage_vtable *vtable,
                                         void *self);

/**
 * Run @p vtable's stage in place of stage @p name: a built-in (other than
 * validate, which devsys_pipeline_validate() runs) or a custom stage added
 * before. The replaced entry's own @c release (a custom one) is called.
 * devsys_pipeline_run_stage(p, @p name) runs the replacement. Not while a
 * stage runs: DEVSYS_EBUSY.
 * @return 0; DEVSYS_EBUSY; DEVSYS_EINVAL (NULL argument, no @c run slot, @c name set and
 *         not @p name, @p name is "validate"); DEVSYS_EVERSION;
 *         DEVSYS_ENOTFOUND (no such stage); DEVSYS_ENOMEM. Nothing changes
 *         on failure.
 */
DEVSYS_API int devsys_pipeline_replace_stage(devsys_pipeline *p, const char *name, const devsys_stage_vtable *vtable,
                                             void *self);

/**
 * The running stage's name.
 * @return borrowed: valid until the pipeline is freed.
 */
DEVSYS_API const char *devsys_stage_run_name(const devsys_stage_run *run);

/**
 * The task's id.
 * @return borrowed: valid during the @c run call.
 */
DEVSYS_API const char *devsys_stage_run_task_id(const devsys_stage_run *run);

/**
 * The task (its folder: devsys_task_path()).
 * @return borrowed: valid during the @c run call (take a reference with
 *         devsys_task_open() for longer).
 */
DEVSYS_API devsys_task *devsys_stage_run_task(devsys_stage_run *run);

/**
 * The task's spec, as validated or reloaded.
 * @return borrowed: valid during the @c run call.
 */
DEVSYS_API const devsys_spec *devsys_stage_run_spec(const devsys_stage_run *run);

/**
 * The task's checkout (opened on first use, as the built-in stages after
 * checkout reopen it; devsys_repo_checkout_path() is its directory).
 * @param out borrowed: valid during the @c run call.
 * @return 0; DEVSYS_EINVAL; the repository's errors (no checkout yet: the
 *         stage runs before checkout).
 */
DEVSYS_API int devsys_stage_run_repo(devsys_repo **out, devsys_stage_run *run);

/**
 * Open the runner that step @p step names: the spec's `<step>.runner`
 * profile, else its top-level `runner`, else "inproc", resolved through the
 * operator's devsys.yaml with the pipeline's runner options.
 * @param out new: the runner; free with devsys_runner_free().
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOTFOUND (an unknown profile); the runner's errors.
 */
DEVSYS_API int devsys_stage_run_open_runner(devsys_runner **out, devsys_stage_run *run, const char *step);

/**
 * Run @p cmd on @p runner as the pipeline runs a built-in stage's command:
 * devsys_pipeline_cancel() and a progress callback's cancel stop it, its
 * output goes to the progress callback, and, when @p cmd names no task, to
 * the task's logs/<stage>.log (stage: @p cmd's or this stage's name). @p cmd
 * is read, not changed.
 * @param result filled as by devsys_runner_exec(); dispose with devsys_runner_result_dispose().
 * @return as devsys_runner_exec(); DEVSYS_ECANCELED when canceled before it ran.
 */
DEVSYS_API int devsys_stage_run_exec(devsys_stage_run *run, devsys_runner *runner, const devsys_runner_cmd *cmd,
                                     devsys_runner_result *result);

/**
 * Append @p len bytes to the task's logs/<stage>.log (through the record).
 * @return 0; DEVSYS_EINVAL; DEVSYS_EIO / DEVSYS_ENOSPC.
 */
DEVSYS_API int devsys_stage_run_log(devsys_stage_run *run, const char *data, size_t len);

/**
 * Name what the stage did, one word such as "linted" (1-63 characters of
 * [A-Za-z0-9._-]), for devsys_stage_result.outcome. Unset: "done" when the
 * stage succeeds, "failed" when it fails. The pipeline copies it.
 * @return 0; DEVSYS_EINVAL (a bad word).
 */
DEVSYS_API int devsys_stage_run_set_outcome(devsys_stage_run *run, const char *outcome);

/**
 * Say why the stage fails: set its failure class (DEVSYS_FAILURE_BUILD,
 * _SYSTEM, _STALLED, _TIMEOUT or _CANCELED), its outcome (as
 * devsys_stage_run_set_outcome(); NULL: "failed") and the thread's error,
 * a printf-style message. The @c run slot then returns what this returns.
 * @return the error code of the class: DEVSYS_ERROR (build), DEVSYS_ESYSTEM
 *         (system), DEVSYS_ETIMEOUT (stalled, timeout), DEVSYS_ECANCELED;
 *         DEVSYS_EINVAL for DEVSYS_FAILURE_NONE or an unknown class or a bad
 *         outcome (the stage then fails "system").
 */
DEVSYS_API int devsys_stage_run_fail(devsys_stage_run *run, int failure_class, const char *outcome, const char *fmt,
                                     ...) DEVSYS_PRINTF(4, 5);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_STAGE_H */
