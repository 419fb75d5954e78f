/*
 * libdevsys - spec-kit feature folders: Markdown-aware parsing, the
 * deterministic validator, and the task graph (waves of devsys tasks).
 */
#ifndef DEVSYS_SPECKIT_H
#define DEVSYS_SPECKIT_H

#include "common.h"
#include "buf.h"
#include "pipeline.h"
#include "repo.h"
#include "store.h"
#include "task.h"

#include <stddef.h>

DEVSYS_BEGIN_DECL

/**
 * @file devsys/speckit.h
 * @brief spec-kit feature folders (specs/NNN-feature/): parse, check, plan.
 *
 * A devsys_speckit_feature is one parsed feature folder: spec.md, plan.md,
 * tasks.md and checklists/\*.md. Parsing is Markdown-aware: fenced code
 * blocks (``` or ~~~ of any length) and HTML comments are skipped; CRLF
 * line ends, a UTF-8 BOM and tabs are accepted. Each file is read whole up
 * to DEVSYS_SPECKIT_MAX_FILE bytes (else DEVSYS_ELIMIT naming the file).
 * docs/speckit.md documents the grammar, the rules and the output formats.
 *
 * Threads: a loaded feature, a findings set and a plan are immutable once
 * built and may be read from many threads; building one is not shared.
 */

/** Largest spec.md, plan.md, tasks.md or checklist read (bytes). */
#define DEVSYS_SPECKIT_MAX_FILE (16u * 1024u * 1024u)

typedef struct devsys_speckit_feature devsys_speckit_feature;
typedef struct devsys_speckit_task devsys_speckit_task;
typedef struct devsys_speckit_findings devsys_speckit_findings;
typedef struct devsys_speckit_plan devsys_speckit_plan;

/** Severity of a finding. */
typedef enum devsys_speckit_severity {
	DEVSYS_SPECKIT_INFO = 0,
	DEVSYS_SPECKIT_WARNING = 1,
	DEVSYS_SPECKIT_ERROR = 2
} devsys_speckit_severity;

/**
 * Parse the feature folder @p dir into a new handle (free with
 * devsys_speckit_feature_free()). When @p root is not NULL, @p dir and every
 * file read must resolve (symlinks followed) inside @p root, else
 * DEVSYS_EPATH naming the path: a feature folder that is a link out of the
 * repository is refused. A missing spec.md/plan.md/tasks.md is not an error
 * here (the validator reports it).
 * @return 0; DEVSYS_ENOTFOUND (no such folder), DEVSYS_EINVAL (not a
 * folder), DEVSYS_EPATH, DEVSYS_EIO, DEVSYS_ELIMIT (a file too large),
 * DEVSYS_ENOMEM.
 * @param out new: the feature; free with devsys_speckit_feature_free().
 */
DEVSYS_API int devsys_speckit_feature_load(devsys_speckit_feature **out, const char *dir, const char *root);

/** Free a feature; NULL is fine. */
DEVSYS_API void devsys_speckit_feature_free(devsys_speckit_feature *feature);

/**
 * The folder as given to the loader (borrowed).
 * @return borrowed: from @p feature, valid until it is freed.
 */
DEVSYS_API const char *devsys_speckit_feature_dir(const devsys_speckit_feature *feature);
/**
 * spec.md's title ("Feature Specification: X" gives "X"), or NULL (borrowed).
 * @return borrowed: from @p feature, valid until it is freed; NULL when spec.md has none.
 */
DEVSYS_API const char *devsys_speckit_feature_title(const devsys_speckit_feature *feature);
/** Number of "### User Story N - Title (Priority: Pn)" headings parsed. */
DEVSYS_API size_t devsys_speckit_story_count(const devsys_speckit_feature *feature);
/**
 * Story @p i: its number, priority (Pn gives n) and Given/When/Then count
 * into the out-params that are not NULL; its title, borrowed, or NULL when
 * @p i is out of range.
 * @return borrowed: from @p feature, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_speckit_story_at(const devsys_speckit_feature *feature, size_t i, unsigned *number,
                                               unsigned *priority, unsigned *scenarios);
/** Number of FR-### and SC-### ids defined in spec.md (duplicates included). */
DEVSYS_API size_t devsys_speckit_requirement_count(const devsys_speckit_feature *feature);
/**
 * Requirement id @p i ("FR-001"), borrowed, or NULL.
 * @return borrowed: from @p feature, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_speckit_requirement_at(const devsys_speckit_feature *feature, size_t i);
/** Number of "[NEEDS CLARIFICATION" markers in spec.md. */
DEVSYS_API size_t devsys_speckit_clarification_markers(const devsys_speckit_feature *feature);
/** Number of "### Session ..." entries under spec.md's "## Clarifications". */
DEVSYS_API size_t devsys_speckit_clarification_sessions(const devsys_speckit_feature *feature);
/**
 * plan.md's Technical Context field @p name ("Language/Version", ...), as
 * written after the colon, borrowed; NULL when absent.
 * @return borrowed: from @p feature, valid until it is freed; NULL when absent.
 */
DEVSYS_API const char *devsys_speckit_plan_field(const devsys_speckit_feature *feature, const char *name);
/** Number of phases ("## Phase N: ...") in tasks.md. */
DEVSYS_API size_t devsys_speckit_phase_count(const devsys_speckit_feature *feature);
/**
 * Phase @p i's title (borrowed) and its Checkpoint line count, or NULL.
 * @return borrowed: from @p feature, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_speckit_phase_at(const devsys_speckit_feature *feature, size_t i,
                                               unsigned *checkpoints);
/** Number of task lines in tasks.md. */
DEVSYS_API size_t devsys_speckit_task_count(const devsys_speckit_feature *feature);
/**
 * Task @p i in document order (borrowed from the feature), or NULL.
 * @return borrowed: from @p feature, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const devsys_speckit_task *devsys_speckit_task_at(const devsys_speckit_feature *feature, size_t i);
/**
 * The first task with id @p id (borrowed), or NULL.
 * @return borrowed: from @p feature, valid until it is freed; NULL when no task has @p id.
 */
DEVSYS_API const devsys_speckit_task *devsys_speckit_task_find(const devsys_speckit_feature *feature,
                                                               const char *id);
/**
 * The task's id ("T001", "T001a"), borrowed.
 * @return borrowed: from the feature @p task belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_speckit_task_id(const devsys_speckit_task *task);
/**
 * The description with continuation lines joined by a space, borrowed.
 * @return borrowed: from the feature @p task belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_speckit_task_description(const devsys_speckit_task *task);
/** The checkbox state: ' ', 'x' or 'X'. */
DEVSYS_API char devsys_speckit_task_state(const devsys_speckit_task *task);
/** 1-based line of the task in tasks.md. */
DEVSYS_API unsigned devsys_speckit_task_line(const devsys_speckit_task *task);
/** Index of the task's phase (devsys_speckit_phase_at()). */
DEVSYS_API size_t devsys_speckit_task_phase(const devsys_speckit_task *task);
/** 1 when the task carries [P]. */
DEVSYS_API int devsys_speckit_task_parallel(const devsys_speckit_task *task);
/** The n of its [USn] tag, 0 when it has none. */
DEVSYS_API unsigned devsys_speckit_task_story(const devsys_speckit_task *task);
/** Number of task ids it depends on (all "depends on" clauses). */
DEVSYS_API size_t devsys_speckit_task_dep_count(const devsys_speckit_task *task);
/**
 * Dependency @p i, borrowed, or NULL.
 * @return borrowed: from the feature @p task belongs to, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_speckit_task_dep_at(const devsys_speckit_task *task, size_t i);
/** Number of file paths named in the task (backticked or bare). */
DEVSYS_API size_t devsys_speckit_task_path_count(const devsys_speckit_task *task);
/**
 * Path @p i, borrowed, or NULL.
 * @return borrowed: from the feature @p task belongs to, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_speckit_task_path_at(const devsys_speckit_task *task, size_t i);
/** Checklist items (CHK###) in checklists/\*.md: the total, unchecked ones into @p unchecked. */
DEVSYS_API size_t devsys_speckit_checklist_items(const devsys_speckit_feature *feature, size_t *unchecked);

/**
 * A new, empty findings set (free with devsys_speckit_findings_free()).
 * @param out new: the findings set; free with devsys_speckit_findings_free().
 */
DEVSYS_API int devsys_speckit_findings_new(devsys_speckit_findings **out);
/** Free a findings set; NULL is fine. */
DEVSYS_API void devsys_speckit_findings_free(devsys_speckit_findings *findings);

/**
 * Run the 14 rules (docs/speckit.md) on @p feature and append what they find
 * to @p findings, which may already hold other features' findings. Findings
 * of one feature come sorted by file, line and rule.
 * @return 0 (also when there are findings); DEVSYS_EINVAL, DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_speckit_check(devsys_speckit_findings *findings, const devsys_speckit_feature *feature);

/** Number of findings. */
DEVSYS_API size_t devsys_speckit_findings_count(const devsys_speckit_findings *findings);
/** Number of findings of @p severity. */
DEVSYS_API size_t devsys_speckit_findings_count_severity(const devsys_speckit_findings *findings,
                                                         devsys_speckit_severity severity);
/**
 * Finding @p i: its rule id ("SK008") as the return value, borrowed, or NULL
 * when out of range; severity, file (borrowed), line (0: the whole file or
 * folder) and message (borrowed) into the out-params that are not NULL.
 * @return borrowed: from @p findings, valid until it changes or is freed; NULL when out of range.
 * @param file borrowed: from @p findings, valid until it changes or is freed.
 * @param message borrowed: from @p findings, valid until it changes or is freed.
 */
DEVSYS_API const char *devsys_speckit_finding_at(const devsys_speckit_findings *findings, size_t i,
                                                 devsys_speckit_severity *severity, const char **file,
                                                 unsigned *line, const char **message);
/** Append "file:line: severity: SKnnn: message" lines to @p out. */
DEVSYS_API int devsys_speckit_findings_to_text(devsys_buf *out, const devsys_speckit_findings *findings);
/** Append the findings as JSON (docs/speckit.md) to @p out. */
DEVSYS_API int devsys_speckit_findings_to_json(devsys_buf *out, const devsys_speckit_findings *findings);
/** Append the findings as one SARIF 2.1.0 log (one run, every rule described) to @p out. */
DEVSYS_API int devsys_speckit_findings_to_sarif(devsys_buf *out, const devsys_speckit_findings *findings);

/**
 * Build the task graph of @p feature: the phase order (Setup, Foundational,
 * story phases by priority, other phases, Polish) chains the phases and the
 * tasks in them; consecutive [P] tasks of a phase share a wave; explicit
 * dependencies are honoured. The plan copies what it needs: @p feature may
 * be freed first.
 * @return 0; DEVSYS_EINVALID when tasks.md has no task, a duplicate id, a
 * dependency on a missing task, a dependency on a later task, or a cycle
 * (the message names the path, e.g. "T005 -> T007 -> T005"); DEVSYS_ENOMEM.
 * @param out new: the plan (it copies what it needs from @p feature); free with devsys_speckit_plan_free().
 */
DEVSYS_API int devsys_speckit_plan_new(devsys_speckit_plan **out, const devsys_speckit_feature *feature);
/** Free a plan; NULL is fine. */
DEVSYS_API void devsys_speckit_plan_free(devsys_speckit_plan *plan);
/** Number of waves. */
DEVSYS_API size_t devsys_speckit_plan_wave_count(const devsys_speckit_plan *plan);
/** Number of tasks in wave @p wave (0 when out of range). */
DEVSYS_API size_t devsys_speckit_plan_wave_size(const devsys_speckit_plan *plan, size_t wave);
/**
 * Task id @p i of wave @p wave, borrowed from the plan, or NULL.
 * @return borrowed: from @p plan, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_speckit_plan_task(const devsys_speckit_plan *plan, size_t wave, size_t i);

/** devsys_speckit_plan_to_yaml() flags. */
#define DEVSYS_SPECKIT_YAML_PER_WAVE 1u

/**
 * Append devsys task specs (YAML documents separated by "---") to @p out:
 * one per task, or one per wave with DEVSYS_SPECKIT_YAML_PER_WAVE. Each has
 * id "<prefix>-t001" (or "<prefix>-w01"), a title, a prompt naming the
 * tasks, repo.url @p repo_url and speckit {feature_dir: @p feature_dir,
 * task_ids}. @p feature_dir is the folder relative to the repository root.
 * @return 0; DEVSYS_EINVAL (NULL or an empty argument), DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_speckit_plan_to_yaml(devsys_buf *out, const devsys_speckit_plan *plan, const char *repo_url,
                                           const char *feature_dir, unsigned int flags);

/**
 * Is @p task green: its state (by name, never by number) one of tested,
 * deployed, deploy-skipped, awaiting-review, merged or done, and the run
 * in reports/latest with no failed test and no error? 1 or 0 into @p green.
 * @return 0 (also when not green, or when no run completed); DEVSYS_EINVAL;
 * DEVSYS_ENOTFOUND (no such task in @p store); DEVSYS_EPARSE (a broken
 * summary.json); DEVSYS_EIO.
 * Threads: like @p store.
 */
DEVSYS_API int devsys_speckit_task_green(int *green, devsys_store *store, devsys_task *task);

/**
 * Mark the task lines of @p ids done ("[ ]" becomes "[X]") in the tasks.md
 * text @p text (@p len bytes), appending the result to @p out: every other
 * byte, CRLF and a BOM included, is kept as it was; lines already "[x]" or
 * "[X]" stay as they are; checkboxes inside code fences or HTML comments are
 * not task lines. The number of lines changed goes into @p marked.
 * @return 0; DEVSYS_ENOTFOUND when an id has no task line (nothing is
 * appended); DEVSYS_EINVAL; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_speckit_mark_done(devsys_buf *out, size_t *marked, const char *text, size_t len,
                                        const char *const *ids, size_t nids);

/**
 * In @p repo's checkout, mark @p ids done in @p feature_dir/tasks.md
 * (devsys_speckit_mark_done()), then commit it with devsys_repo_commit()
 * and push it with devsys_repo_push(). Call it for ids whose devsys tasks
 * are green (devsys_speckit_task_green()). The repository's branch must be
 * the feature branch: its base branch and protected branches are refused
 * with DEVSYS_EPROTECTED before anything is written. Nothing to mark: no
 * commit. devsys_repo_commit() commits the whole checkout: call it on a
 * clean one. The number of lines changed goes into @p marked.
 * @return 0; DEVSYS_EPROTECTED; DEVSYS_EPATH (@p feature_dir escapes the
 * checkout); DEVSYS_ENOTFOUND (no tasks.md, or an id without a line); the
 * errors of devsys_repo_commit() and devsys_repo_push().
 * Threads: like every call on @p repo, one thread at a time.
 */
DEVSYS_API int devsys_speckit_sync(size_t *marked, devsys_repo *repo, const char *feature_dir,
                                   const char *const *ids, size_t nids);

/**
 * The phantom-completion check (rule SK015) over every commit of the
 * branch: for each task of @p feature marked [x] or [X], each path it
 * names is looked up in @p repo's head commit (devsys_repo_head_has_path())
 * and in the commits from the branch's base to its head, first parents
 * only (devsys_repo_changed_paths_by_commit()). A path the head commit does
 * not hold, or one no commit on the branch touched, is appended to
 * @p findings as a warning naming the task, the path, and the head or the
 * branch and base: a likely phantom completion. A path some commit touched
 * counts as touched even when a later commit put its content back to the
 * base's (base..head then shows no change); that case is added as an info
 * finding, not as a phantom. @p feature should be loaded from the checkout
 * (tasks.md's lines give the findings' file:line). Paths are read relative
 * to the repository root (a leading "/" is dropped; an absolute path inside
 * the checkout is made relative); a path ending in "/", or one naming a
 * folder of the head commit, counts as touched when anything below it
 * changed. Paths with ".." or "[" are skipped.
 * @return 0; DEVSYS_EINVAL; the errors of
 * devsys_repo_changed_paths_by_commit() and devsys_repo_head_has_path().
 * Threads: like every call on @p repo, one thread at a time.
 */
DEVSYS_API int devsys_speckit_check_phantoms(devsys_speckit_findings *findings,
                                             const devsys_speckit_feature *feature, devsys_repo *repo);

/**
 * devsys_speckit_check_phantoms() for the tasks @p ids (@p nids of them)
 * only; @p ids NULL (and @p nids 0) checks every task marked done. An id
 * tasks.md lacks is no finding here (the caller links ids to tasks).
 * @return as devsys_speckit_check_phantoms().
 */
DEVSYS_API int devsys_speckit_check_phantoms_ids(devsys_speckit_findings *findings,
                                                 const devsys_speckit_feature *feature, devsys_repo *repo,
                                                 const char *const *ids, size_t nids);

/**
 * @name Status from the task records
 * A devsys task is linked to a feature folder when the spec kept in its
 * folder (spec.yaml or spec.json) has speckit.feature_dir naming that
 * folder; speckit.task_ids names its spec-kit tasks.
 * @{
 */
typedef struct devsys_speckit_links devsys_speckit_links;

/**
 * Scan every task of @p store (in workspace @p ws) for links to
 * @p feature_dir (relative to the repository root, as in the task spec's
 * speckit.feature_dir; "./" and slashes at either end are ignored), with
 * each linked task's state and whether it is green
 * (devsys_speckit_task_green()). A task that keeps no spec, or one that does
 * not parse, is linked to nothing.
 * @return 0; DEVSYS_EINVAL (an empty folder name); DEVSYS_EPARSE (a broken
 * summary.json of a linked task); DEVSYS_EIO; DEVSYS_ENOMEM.
 * @param out new: the links; free with devsys_speckit_links_free().
 * Threads: like @p store.
 */
DEVSYS_API int devsys_speckit_links_new(devsys_speckit_links **out, devsys_store *store, devsys_workspace *ws,
                                        const char *feature_dir);
/** Free a links set; NULL is fine. */
DEVSYS_API void devsys_speckit_links_free(devsys_speckit_links *links);
/** Number of (spec-kit id, devsys task) links found. */
DEVSYS_API size_t devsys_speckit_links_count(const devsys_speckit_links *links);
/**
 * Link @p i: the spec-kit id as the return value, or NULL when out of range;
 * the devsys task id (borrowed), its state (DEVSYS_STATE_*) and 1 or 0 for
 * green into the out-params that are not NULL.
 * @return borrowed: from @p links, valid until it is freed; NULL when out of range.
 * @param task_id borrowed: from @p links, valid until it is freed.
 */
DEVSYS_API const char *devsys_speckit_link_at(const devsys_speckit_links *links, size_t i, const char **task_id,
                                              int *state, int *green);
/**
 * The spec-kit ids with at least one green linked task, each once, in the
 * order first found; their number into @p count.
 * @return borrowed: an array from @p links, valid until it is freed; NULL when there is none.
 */
DEVSYS_API const char *const *devsys_speckit_links_green_ids(const devsys_speckit_links *links, size_t *count);

/**
 * devsys_speckit_mark_done() on the file @p path, written back in place
 * through a temporary file renamed over it (same mode), so a failed write
 * leaves the old file whole. Nothing to mark: the file is not written.
 * @return 0; DEVSYS_ENOTFOUND (no such file, or an id without a task line:
 * the message names the file and the id); DEVSYS_ELIMIT (over
 * DEVSYS_SPECKIT_MAX_FILE); DEVSYS_EIO / DEVSYS_ENOSPC (the write failed:
 * the file is unchanged).
 */
DEVSYS_API int devsys_speckit_mark_done_file(size_t *marked, const char *path, const char *const *ids, size_t nids);

/**
 * Append the machine-readable status of @p feature's tasks as JSON to
 * @p out: {"feature", "feature_dir", "tasks": [{"id", "line", "checked",
 * "status" ("done", "to-mark" or "open"), "verified" (ticked and a green
 * task says so), "devsys": [{"task", "state", "green"}]}], "unknown_ids":
 * [{"id", "task"}] (linked ids tasks.md does not have), "summary": {"tasks",
 * "checked", "linked", "to_mark", "verified", "devsys_tasks_scanned"}}.
 * @p links may be NULL (no task linked).
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_speckit_status_to_json(devsys_buf *out, const devsys_speckit_feature *feature,
                                             const devsys_speckit_links *links);
/**
 * Run the feature of @p plan wave by wave through the pipeline @p p (whose
 * workspace is @p ws): for each task, in wave order, its task spec
 * (devsys_speckit_plan_to_yaml(), one document: id "<folder>-t001",
 * repo.url @p repo_url, speckit {feature_dir: @p feature_dir, task_ids})
 * with @p spec_extra appended (YAML of further top-level sections: agent,
 * tests, runner...; may be NULL) is validated and run with
 * devsys_pipeline_validate() and devsys_pipeline_run(), so each task gets
 * its own worktree and branch from the checkout stage. One task runs at a
 * time (devsys_speckit_run_waves() hands a wave to a scheduler). A wave starts only when every task before it is green
 * (devsys_speckit_task_green()); when @p tasks_md is not NULL each green
 * task's line is ticked there (devsys_speckit_mark_done_file()) as soon as
 * it is green. A task registered by an earlier call is resumed, or skipped
 * when it is green already, so calling again after a failure resumes the
 * feature. The number of waves that completed goes into @p waves_done.
 * @return 0 (every wave green); the first failing task's error, its message
 * naming the wave, the spec-kit id, the devsys task, its state and last
 * stage (DEVSYS_ERROR when the run ended but the task is not green); the
 * errors of devsys_speckit_mark_done_file().
 * Threads: like @p p.
 */
DEVSYS_API int devsys_speckit_run(size_t *waves_done, devsys_pipeline *p, devsys_workspace *ws,
                                  const devsys_speckit_plan *plan, const char *repo_url, const char *feature_dir,
                                  const char *spec_extra, const char *tasks_md);

/**
 * Runs the tasks of one wave for devsys_speckit_run_waves(): @p task_ids
 * (@p n of them, borrowed for the call) are registered devsys tasks of the
 * workspace, validated or left unfinished by an earlier run, none green
 * yet, in plan order. Run each through a pipeline of its own (load it with
 * devsys_pipeline_load(), then devsys_pipeline_run()), as many side by side
 * as the scheduler likes, and return 0 once every one has ended, whatever
 * its result: the caller decides green by the task records. A non-zero
 * return stops the feature with that error (DEVSYS_ECANCELED when
 * interrupted; a positive value is DEVSYS_EUSER).
 */
typedef int (*devsys_speckit_wave_fn)(const char *const *task_ids, size_t n, void *payload);

/**
 * devsys_speckit_run() with the tasks of each wave run by @p run_wave
 * (NULL: one at a time through @p p, as devsys_speckit_run() does). Every
 * task of a wave is registered with devsys_pipeline_validate() on @p p
 * first (a task registered by an earlier call is found, and left alone
 * when green), then the wave's tasks that are not green are handed to
 * @p run_wave in one call, e.g. to a scheduler running N at a time. The
 * next wave starts only when every task of this one is green; each green
 * task's line is then ticked in @p tasks_md when not NULL.
 * @return as devsys_speckit_run(); also @p run_wave's error, the message
 * naming the wave.
 * Threads: like @p p; @p run_wave is called on the calling thread.
 */
DEVSYS_API int devsys_speckit_run_waves(size_t *waves_done, devsys_pipeline *p, devsys_workspace *ws,
                                        const devsys_speckit_plan *plan, const char *repo_url,
                                        const char *feature_dir, const char *spec_extra, const char *tasks_md,
                                        devsys_speckit_wave_fn run_wave, void *payload);
/** @} */

DEVSYS_END_DECL

#endif /* DEVSYS_SPECKIT_H */
