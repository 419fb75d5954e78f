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
} devsys__store_backend;

extern const devsys__store_backend devsys__store_sqlite;

#endif
