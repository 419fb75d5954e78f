/* Internal interface of the record module (used by store and devsysd). */
#ifndef DEVSYS_RECORD_INT_H
#define DEVSYS_RECORD_INT_H

#include "devsys/record.h"

/* Index of a stage in DEVSYS_STAGE_NAMES order, or -1. */
int devsys__stage_index(const char *stage);
/* The stage name of an index, or NULL. */
const char *devsys__stage_name(int index);
/* "scheme://user:pw@host/x?q" -> "scheme://host/x"; owned result, NULL on OOM. */
char *devsys__url_strip_credentials(const char *url);
/* Set task.json's "state" (managed by the store). */
int devsys__record_set_state(devsys_record *rec, const char *state);
/* task.json's "state" (borrowed from @p rec), or NULL when it has none. */
const char *devsys__record_get_state(const devsys_record *rec);
/* Set task.json's "state_at", the time of the store's last state change as its row has it (managed by the store). */
int devsys__record_set_state_at(devsys_record *rec, const char *at);
/* task.json's "state_at" (borrowed from @p rec), or NULL when it has none (a record older than the field). */
const char *devsys__record_get_state_at(const devsys_record *rec);
/* devsys_record_event() without a record handle. */
int devsys__record_event_task(const devsys_task *task, const char *type, const char *data_json,
                              uint64_t *seq_out);
/* devsys__record_event_task() that also says how many bytes long events.jsonl is just after the
 * event's line (@p end_out, read under the append's lock, so the line ends there). */
int devsys__record_event_task_end(const devsys_task *task, const char *type, const char *data_json,
                                  uint64_t *seq_out, uint64_t *end_out);
/* Set task.json's "state_event": {"seq":N,"end":BYTES}, the seq of the store's last state change's
 * event and the length of events.jsonl through its line (managed by the store). */
int devsys__record_set_state_event(devsys_record *rec, uint64_t seq, uint64_t end);
/*
 * Does the folder's events.jsonl hold the event @p rec's "state_event" names: at least "end"
 * bytes long, the line that ends there whole, an event of that seq and of type "state"? A disk
 * that kept task.json and lost the events' unsynced tail (ext4 does not order the two files'
 * data) fails it. 1 yes, or nothing to check (no "state_event": a record older than the field);
 * 0 no, and @p why (may be NULL) says what is missing. Nothing is written; the events after
 * "end" (appended since the change) are not looked at.
 */
int devsys__record_events_hold(const devsys_record *rec, char *why, size_t why_size);
/* A file under the task's logs/ ("agent.jsonl") kept open while a stage
 * streams events into it: created 0600 (truncated: a run's own), each write
 * whole; close reports a failed close. One writer: the pipeline. */
typedef struct devsys__record_log devsys__record_log;
int devsys__record_log_open(devsys__record_log **out, devsys_task *task, const char *name);
int devsys__record_log_write(devsys__record_log *l, const void *data, size_t len);
int devsys__record_log_close(devsys__record_log *l);
/* Append @p len bytes to the task's logs/<stage>.log (created 0600). */
int devsys__record_log_append(devsys_task *task, const char *stage, const void *data, size_t len);
/* {"branch":...,"head_sha":...}, the data of the git.* events, built with
 * jansson (fuzzed). New string for devsys__free(), or NULL with the error set. */
char *devsys__record_git_event_json(const char *branch, const char *head_sha);
/* The numbered run folders of reports/, ascending; free *runs with devsys__free. */
int devsys__record_list_runs(const devsys_task *task, unsigned int **runs, size_t *n);

/*
 * A task folder made on this host from what a shared store keeps (a task
 * another host submitted or ran): the kept spec @p spec_name ("spec.yaml"
 * or "spec.json"; NULL: the folder's stays) with @p spec, events.jsonl from @p events (whole lines;
 * a first {"truncated":...} line the store put in is left out; may be
 * NULL), and task.json from @p task_json, a JSON object whose "id" must be
 * the task's (DEVSYS_EINVALID otherwise, nothing written). task.json is
 * written last: a folder without it is one this did not finish. Its
 * "state_event" is made to say where that event ends in the events as
 * written (the store's copy may be cut), and is left out when they lack it
 * or none are given.
 */
int devsys__record_restore(devsys_task *task, const char *spec_name, const void *spec, size_t spec_len,
                           const char *task_json, size_t json_len, const char *events, size_t events_len);

#endif
