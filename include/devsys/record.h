/*
 * libdevsys - the per-task record: task.json, events.jsonl, reports/, logs/.
 */
#ifndef DEVSYS_RECORD_H
#define DEVSYS_RECORD_H

#include "common.h"
#include "buf.h"
#include "task.h"
#include "secrets.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/record.h
 * @brief The auditable record every task leaves in <workspace>/tasks/<id>/.
 *
 *     task.json                  the task's facts (see docs/task-record.md)
 *     events.jsonl               append-only, one JSON event per line, with seq and ts
 *     reports/<n>/junit/<f>.xml  the JUnit files of test run n, as collected
 *     reports/<n>/summary.json   the run's summary (devsys_report_summary_json)
 *     reports/<n>/junit.xml      the run's merged, normalised JUnit XML
 *     reports/acceptance.json    written by the deployment stage
 *     reports/latest             the number of the last complete run
 *     logs/<stage>.log           one log per pipeline stage
 *
 * Every file is written atomically (temp file, fsync, rename, fsync of the
 * directory), so a crash leaves the old or the new content, never a mix.
 * reports/latest is switched only after the run's files are all durable.
 * (One exception: the task.json and event a state change writes on a store
 * shared by several hosts, PostgreSQL, are not fsynced; the store keeps the
 * durable copy of both and refreshes a folder behind it. docs/scale-out.md.)
 *
 * Threads: a record handle is not shared across threads. Several
 * processes may append events to one task (appends are serialised with a
 * lock file); task.json follows last-writer-wins.
 *
 * Writers: only this module writes a task's folder, on behalf of its
 * caller. While a task runs, the pipeline drives it: the git and secrets
 * modules report their facts and events to their caller (return values,
 * accessors, callbacks) and never open the record themselves; the caller
 * records them (devsys_record_git_step(), devsys_record_event()). The task
 * state is the store's: devsys_store_* asks the record to write the state
 * into task.json and the "state" event into events.jsonl, inside the same
 * transaction as its index (store -> record, never the reverse), so
 * `devsys check` finds the two in step. Nothing else sets "state".
 */
typedef struct devsys_record devsys_record;

/** Pipeline stage names (docs/architecture: validate ... gate). */
#define DEVSYS_STAGE_NAMES "validate checkout agent commit push pr test deploy verify gate"

/** Most bytes of one event's data, and of a JSON value given to the record. */
#define DEVSYS_RECORD_MAX_JSON (64 * 1024)

/**
 * Is @p stage a stage name the record and store accept: one of
 * DEVSYS_STAGE_NAMES, or the name of a stage an embedder added
 * (devsys/sys/stage.h), which follows the task-id rule (1-64 characters
 * of [A-Za-z0-9._-], starting with a letter or digit, no "..")? Needs no
 * devsys_init().
 * @return 0 or DEVSYS_EINVAL with a message listing the names and the rule.
 */
DEVSYS_API int devsys_stage_check(const char *stage);

/**
 * Open the record of @p task, loading task.json when present (a new
 * record starts with {"id": <id>}). The record holds a reference on
 * @p task (and so on its workspace): free them in any order.
 * @return 0; DEVSYS_EINVAL; DEVSYS_EPARSE (task.json is not a JSON
 *         object); DEVSYS_EIO; DEVSYS_ENOMEM.
 * @param out new: the record (it holds a reference on @p task); free with devsys_record_free().
 */
DEVSYS_API int devsys_record_open(devsys_record **out, devsys_task *task);

/** Release a record (unsaved changes are dropped). NULL is fine. */
DEVSYS_API void devsys_record_free(devsys_record *rec);

/**
 * Set a top-level string field of task.json (in memory; see
 * devsys_record_save()). @p key is [a-z0-9_]{1,64} and not one of the
 * fields the record manages itself: id, repo_url, stages, state.
 * NULL @p value stores JSON null.
 * Typical keys: spec_path, spec_hash, branch, base_sha, head_sha, pr_url,
 * runner, runner_version, runner_image_digest, runner_host, gate.
 * @return 0, DEVSYS_EINVAL, DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_record_set_string(devsys_record *rec, const char *key, const char *value);

/**
 * Keep the task's spec: write @p len bytes to <task>/<name> atomically
 * (@p name is a plain file name such as "spec.yaml") and set task.json's
 * spec_path to @p name and spec_hash to "sha1:<git blob id>" of the bytes,
 * the value the commit trailer "Spec:" carries (devsys_repo_content_id()
 * computes the same id; neither module needs the other). Save with
 * devsys_record_save().
 * @return 0; DEVSYS_EINVAL; DEVSYS_EPATH; DEVSYS_EIO / DEVSYS_ENOSPC.
 */
DEVSYS_API int devsys_record_set_spec(devsys_record *rec, const char *name, const void *data, size_t len);

/** As devsys_record_set_string() with an integer (e.g. pr_number). */
DEVSYS_API int devsys_record_set_int(devsys_record *rec, const char *key, int64_t value);

/**
 * As devsys_record_set_string() with a JSON text (e.g. "validation" or
 * "gate" objects). @return 0, DEVSYS_EINVAL, DEVSYS_EPARSE, DEVSYS_ELIMIT.
 */
DEVSYS_API int devsys_record_set_json(devsys_record *rec, const char *key, const char *json);

/**
 * Store the repository URL with any credentials removed
 * ("https://user:token@host/x" becomes "https://host/x"; scp-like
 * "git@host:x" keeps its user, which is not a secret).
 */
DEVSYS_API int devsys_record_set_repo_url(devsys_record *rec, const char *url);

/**
 * Record that @p stage started now (stages.<stage>.start; clears end,
 * result and failure_class). @return 0, DEVSYS_EINVAL (unknown stage).
 */
DEVSYS_API int devsys_record_stage_begin(devsys_record *rec, const char *stage);

/**
 * Record that @p stage ended now with @p result ("ok", "failed",
 * "skipped", "canceled", "interrupted") and, for failures, a
 * @p failure_class ("build", "system", "stalled", "timeout" or "canceled";
 * see devsys_failure_class in devsys/pipeline.h; NULL otherwise).
 */
DEVSYS_API int devsys_record_stage_end(devsys_record *rec, const char *stage, const char *result,
                                       const char *failure_class);

/** Write task.json atomically. @return 0 or DEVSYS_EIO / DEVSYS_EACCESS / DEVSYS_ENOSPC. */
DEVSYS_API int devsys_record_save(devsys_record *rec);

/** task.json as it is in memory (indented JSON) into @p out. */
DEVSYS_API int devsys_record_json(const devsys_record *rec, devsys_buf *out);

/**
 * Append one event to events.jsonl: {"seq":n,"ts":"<ISO-8601>","type":
 * @p type,"data":<data_json or null>}. seq counts from 1 per task, also
 * across processes (the append holds a lock). The line is fsynced (but
 * for a state change's event on a shared store, as above).
 * @param seq_out  optional: receives the event's seq
 * @return 0; DEVSYS_EINVAL; DEVSYS_EPARSE / DEVSYS_ELIMIT (data); DEVSYS_EIO.
 */
DEVSYS_API int devsys_record_event(devsys_record *rec, const char *type, const char *data_json,
                                   uint64_t *seq_out);

/**
 * Start test run n = (highest existing run) + 1: creates
 * reports/<n>/junit/. reports/latest is untouched until
 * devsys_record_run_complete().
 */
DEVSYS_API int devsys_record_run_begin(devsys_record *rec, unsigned int *run_out);

/**
 * Collect one JUnit file into reports/<run>/junit/ (copied atomically
 * under its base name, made unique). The file is parsed first: a file
 * that is not a valid report is refused (DEVSYS_EPARSE / DEVSYS_ELIMIT)
 * and nothing is copied. @p path must resolve (symlinks followed) inside
 * the workspace: DEVSYS_EPATH otherwise.
 */
DEVSYS_API int devsys_record_run_add_junit(devsys_record *rec, unsigned int run, const char *path);

/**
 * Finish run @p run: merge its junit/<f>.xml files, write junit.xml and
 * summary.json, then switch reports/latest to @p run. Each step is
 * atomic; latest changes last.
 * @return 0; DEVSYS_ENOTFOUND (no such run); parse errors; I/O errors.
 */
DEVSYS_API int devsys_record_run_complete(devsys_record *rec, unsigned int run);

/**
 * The number in reports/latest. @return 0; DEVSYS_ENOTFOUND (no complete
 * run yet); DEVSYS_EPARSE (the pointer is damaged).
 */
DEVSYS_API int devsys_record_latest_run(const devsys_task *task, unsigned int *run_out);

/** Write reports/acceptance.json atomically (@p json must be JSON). */
DEVSYS_API int devsys_record_write_acceptance(devsys_record *rec, const char *json);

/**
 * The path of logs/<stage>.log (creating logs/), into @p out.
 * @return 0, DEVSYS_EINVAL (unknown stage), DEVSYS_EIO.
 */
DEVSYS_API int devsys_record_log_path(devsys_buf *out, const devsys_record *rec, const char *stage);

/**
 * Record one git step the caller made with devsys_repo_* (devsys/repo.h):
 * set task.json's repo_url (@p url with any credentials removed; NULL
 * leaves it as it is), branch, base_branch, base_sha and head_sha (NULL or
 * "" store JSON null), save task.json, then append the event @p type with
 * the data {"branch": @p branch, "head_sha": @p head_sha}.
 *
 * The git module reports these facts (devsys_repo_url(), devsys_repo_branch(),
 * devsys_repo_base_branch(), devsys_repo_base_sha(), devsys_repo_head_sha())
 * and writes no task file itself; the pipeline and the `devsys git` commands
 * call this after each step. A failure here never undoes the git step.
 *
 * @param type  "git.checkout", "git.commit" or "git.push"
 * @return 0; DEVSYS_EINVAL (unknown type, NULL branch, a name that is not
 *         UTF-8: nothing is changed); DEVSYS_EIO / DEVSYS_ENOSPC /
 *         DEVSYS_EACCESS (task.json or events.jsonl cannot be written).
 * Threads: as every call on @p rec.
 */
DEVSYS_API int devsys_record_git_step(devsys_record *rec, const char *type, const char *url, const char *branch,
                                      const char *base_branch, const char *base_sha, const char *head_sha);

/**
 * The events of @p task with a seq greater than @p seq, oldest first, as
 * JSON lines (each line exactly as events.jsonl holds it, ending in "\n"),
 * into @p out (cleared first). A torn line (a writer killed mid-append) is
 * skipped. At most @p limit events (0: all).
 *
 * @param out       receives the lines (empty when there are none)
 * @param last_seq  optional: the seq of the last event given, or @p seq when none
 * @return 0 (also when the task has no events yet); DEVSYS_EINVAL;
 *         DEVSYS_ELIMIT (events.jsonl is larger than 256 MiB); DEVSYS_EIO.
 * Threads: safe against concurrent appenders (only whole lines are read);
 * needs no record handle.
 */
DEVSYS_API int devsys_record_events_since(devsys_buf *out, uint64_t *last_seq, const devsys_task *task, uint64_t seq,
                                          size_t limit);

/**
 * A devsys_secret_event_cb (devsys/secrets.h) that appends each resolution
 * made for a task to that task's events.jsonl as a "secret.resolve" event
 * (devsys_secret_event_json(): which secret, provider, task, stage, cached,
 * error; never the value). A resolution without a task is not recorded.
 * Set it as devsys_secrets_options.event_cb (version 2; @p payload unused)
 * to keep the audit in the task's one event log.
 * @return 0, or the record's error (the resolution then fails with DEVSYS_EUSER).
 */
DEVSYS_API int devsys_record_secret_event(const devsys_secret_event *event, devsys_task *task, void *payload);

/**
 * Receives one event of devsys_record_events_foreach(): its @p seq, its
 * @p type and the whole line as events.jsonl holds it (@p len bytes, no
 * newline, NUL-terminated; borrowed for the call). Return 0 to go on,
 * non-zero to stop (the walk then returns DEVSYS_EUSER).
 */
typedef int (*devsys_record_event_cb)(uint64_t seq, const char *type, const char *line, size_t len, void *payload);

/**
 * Call @p cb for each event of @p task with a seq greater than @p seq,
 * oldest first, at most @p limit of them (0: all); torn or partial lines
 * are skipped, as in devsys_record_events_since(). For readers that frame
 * events themselves (devsysd's server-sent events) without parsing
 * events.jsonl.
 * @return 0 (also without events); DEVSYS_EINVAL; DEVSYS_EUSER (@p cb
 *         stopped); DEVSYS_ELIMIT (events.jsonl over 256 MiB); DEVSYS_EIO.
 * Threads: as devsys_record_events_since().
 */
DEVSYS_API int devsys_record_events_foreach(const devsys_task *task, uint64_t seq, size_t limit,
                                            devsys_record_event_cb cb, void *payload);

/** The files of a task's record, for devsys_record_path(). */
typedef enum devsys_record_file {
	DEVSYS_RECORD_FILE_TASK_JSON = 1,   /**< task.json */
	DEVSYS_RECORD_FILE_EVENTS = 2,      /**< events.jsonl */
	DEVSYS_RECORD_FILE_REPORTS = 3,     /**< reports/ */
	DEVSYS_RECORD_FILE_LATEST = 4,      /**< reports/latest */
	DEVSYS_RECORD_FILE_ACCEPTANCE = 5,  /**< reports/acceptance.json */
	DEVSYS_RECORD_FILE_RUN_SUMMARY = 6, /**< reports/<run>/summary.json */
	DEVSYS_RECORD_FILE_RUN_JUNIT = 7,   /**< reports/<run>/junit.xml (the merged, normalised report) */
	DEVSYS_RECORD_FILE_LOG = 8          /**< logs/<stage>.log */
} devsys_record_file;

/**
 * The absolute path of one file of @p task's record, into @p out (cleared
 * first), for readers such as devsysd that serve the files. Nothing is
 * created or opened. @p run is used by the RUN_* files (1 or more),
 * @p stage by FILE_LOG (a stage name); both are ignored otherwise.
 * @return 0; DEVSYS_EINVAL (unknown file, run 0, not a stage); DEVSYS_ENOMEM.
 * Thread-safe.
 */
DEVSYS_API int devsys_record_path(devsys_buf *out, const devsys_task *task, devsys_record_file file, unsigned int run,
                                  const char *stage);

DEVSYS_END_DECL

#endif /* DEVSYS_RECORD_H */
