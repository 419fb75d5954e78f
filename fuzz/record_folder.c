/*
 * Fuzz target: a task folder's task.json and events.jsonl as a disk may
 * leave them (torn, cut, zeroed, hand-edited): the record must open or
 * refuse them with an error, and the check that events.jsonl still holds
 * the state change task.json names must answer without reading past the
 * file or trusting the numbers it is given.
 * Input: task.json's bytes, a NUL, events.jsonl's bytes (no NUL: no events file).
 */
#include "core/core.h"
#include "record/record_int.h"

#include <devsys.h>

#include <jansson.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static devsys_workspace *ws;
static char folder[4096];
static char dir[] = "/tmp/devsys-fuzz-record-XXXXXX";

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The run's workspace goes when the run ends. */
static void teardown(void)
{
	devsys_workspace_free(ws);
	ws = NULL;
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One workspace for the whole run, under /tmp, with the task folder t1. */
static int setup(void)
{
	if (ws)
		return 0;
	if (devsys_init() < 0 || !mkdtemp(dir))
		return -1;
	atexit(teardown);
	if (devsys_workspace_open(&ws, dir, NULL) < 0)
		return -1;
	snprintf(folder, sizeof(folder), "%s/tasks/t1", dir);
	{
		devsys_task *task = NULL;
		if (devsys_task_open(&task, ws, "t1", DEVSYS_TASK_CREATE) < 0)
			return -1;
		devsys_task_free(task);
	}
	return 0;
}

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[4200];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", folder, name);
	if (!p) {
		unlink(path);
		return;
	}
	if ((f = fopen(path, "wb"))) {
		fwrite(p, 1, n, f);
		fclose(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	char why[512];
	int rc;
	if (setup() < 0)
		__builtin_trap();
	put("task.json", data, nul ? (size_t)(nul - data) : size);
	put("events.jsonl", nul ? nul + 1 : NULL, nul ? size - (size_t)(nul - data) - 1 : 0);
	if (devsys_task_open(&task, ws, "t1", 0) < 0)
		__builtin_trap();
	rc = devsys_record_open(&rec, task);
	if (rc < 0 && !devsys_error_message(devsys_error_last())[0])
		__builtin_trap(); /* a refusal says why */
	if (rc == 0) {
		devsys_buf out = DEVSYS_BUF_INIT;
		json_t *again;
		why[0] = '\0';
		rc = devsys__record_events_hold(rec, why, sizeof(why));
		if (rc != 0 && rc != 1 && rc >= 0)
			__builtin_trap();
		if (rc == 0 && !why[0])
			__builtin_trap(); /* "not held" says what is missing */
		/* what opened serialises again to JSON that parses */
		if (devsys_record_json(rec, &out) == 0 && !(again = json_loadb(out.ptr ? out.ptr : "", out.size, 0, NULL)))
			__builtin_trap();
		else if (out.size)
			json_decref(again);
		devsys_buf_dispose(&out);
	}
	devsys_record_free(rec);
	devsys_task_free(task);
	return 0;
}
