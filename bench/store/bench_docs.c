/*
 * What a task's state changes cost on the SQLite store, against the least
 * the same changes need in the task's folder, measured in the same run.
 *
 *   bench_docs WORKDIR TASKS EVENTS_KIB
 *     Each of TASKS tasks walks the stages a pipeline runs (validated, then
 *     checkout .. gate, one devsys_store_stage_begin() and
 *     devsys_store_stage_end() each), its events.jsonl growing by
 *     EVENTS_KIB / 10 KiB of events and its stage log by 4 KiB in each
 *     stage. Anchor: the same tasks, the same events and logs, with the
 *     record API only (task.json saved and a "state" event appended at each
 *     change, what the store's transition writes in the folder), no store.
 *     Prints both in ms per task and the ratio. Whatever the store keeps
 *     beyond its rows (a copy of the record documents) is in the ratio.
 */
#include <devsys.h>
#include <devsys/record.h>
#include <devsys/store.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noreturn)) void die(const char *what)
{
	fprintf(stderr, "bench_docs: %s: %s\n", what, devsys_error_message(devsys_error_last()));
	exit(3);
}

static const struct {
	const char *stage;
	int to;
} steps[] = {
	{ "checkout", DEVSYS_STATE_CHECKED_OUT }, { "agent", DEVSYS_STATE_CODED },    { "commit", DEVSYS_STATE_COMMITTED },
	{ "push", DEVSYS_STATE_PUSHED },          { "pr", DEVSYS_STATE_PR_OPENED },   { "test", DEVSYS_STATE_TESTED },
	{ "deploy", DEVSYS_STATE_DEPLOYED },      { "gate", DEVSYS_STATE_AWAITING_REVIEW },
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

/* A stage's work in the folder: its events (@p event_bytes of them) and 4 KiB of its log. */
static void stage_work(devsys_task *task, const char *stage, size_t event_bytes)
{
	static char data[1100], line[4096];
	devsys_record *rec = NULL;
	devsys_buf p = DEVSYS_BUF_INIT;
	FILE *f;
	if (!data[0]) {
		snprintf(data, sizeof(data), "{\"pad\":\"%01000d\"}", 0);
		memset(line, 'x', sizeof(line) - 1);
		line[sizeof(line) - 2] = '\n';
	}
	if (devsys_record_open(&rec, task) < 0)
		die("record");
	for (size_t n = 0; n < event_bytes; n += strlen(data) + 60)
		if (devsys_record_event(rec, "bench.step", data, NULL) < 0)
			die("event");
	if (devsys_record_log_path(&p, rec, stage) < 0 || !(f = fopen(p.ptr, "a")))
		die("log");
	fputs(line, f);
	fclose(f);
	devsys_buf_dispose(&p);
	devsys_record_free(rec);
}

/* The anchor's state change: task.json saved and the "state" event, as the store writes them in the folder. */
static void folder_change(devsys_task *task, const char *state)
{
	devsys_record *rec = NULL;
	char ev[160];
	snprintf(ev, sizeof(ev), "{\"to\":\"%s\"}", state);
	if (devsys_record_open(&rec, task) < 0 || devsys_record_set_string(rec, "bench_state", state) < 0 ||
	    devsys_record_save(rec) < 0 || devsys_record_event(rec, "state", ev, NULL) < 0)
		die("folder change");
	devsys_record_free(rec);
}

/* One task @p id walked through its stages: with @p st through the store, else with the record API alone. */
static void one_task(devsys_workspace *ws, devsys_store *st, const char *id, size_t event_bytes)
{
	devsys_task *task = NULL;
	if (st && (devsys_store_task_create(st, id, NULL) < 0 ||
	           devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL) < 0))
		die("create");
	if (devsys_task_open(&task, ws, id, st ? 0 : DEVSYS_TASK_CREATE) < 0)
		die("task");
	if (!st) {
		folder_change(task, "created");
		folder_change(task, "validated");
	}
	for (size_t s = 0; s < NSTEPS; s++) {
		if (st && devsys_store_stage_begin(st, id, steps[s].stage) < 0)
			die("stage begin");
		stage_work(task, steps[s].stage, event_bytes / NSTEPS);
		if (st && devsys_store_stage_end(st, id, steps[s].stage, "ok", steps[s].to) < 0)
			die("stage end");
		if (!st)
			folder_change(task, devsys_task_state_name(steps[s].to));
	}
	devsys_task_free(task);
}

static devsys_workspace *open_ws(const char *dir, const char *tag)
{
	devsys_workspace *ws = NULL;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, tag);
	mkdir(path, 0700);
	if (devsys_workspace_open(&ws, path, NULL) < 0)
		die("workspace");
	return ws;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	devsys_workspace *wf, *wst;
	devsys_store *st = NULL;
	long tasks, kib;
	double folder_s = 0, store_s = 0, *ratios;
	char id[64];
	if (argc != 4 || (tasks = atol(argv[2])) <= 0 || (kib = atol(argv[3])) < 0) {
		fprintf(stderr, "usage: bench_docs WORKDIR TASKS EVENTS_KIB\n");
		return 2;
	}
	if (devsys_init() < 0)
		die("init");
	wf = open_ws(argv[1], "folder");
	wst = open_ws(argv[1], "store");
	if (devsys_store_open(&st, wst, NULL) < 0)
		die("store");
	if (strcmp(devsys_store_backend_name(st), "sqlite") != 0) {
		fprintf(stderr, "bench_docs: the store is %s, not SQLite (unset DEVSYS_STORE_URL)\n",
		        devsys_store_backend_name(st));
		return 2;
	}
	if (!(ratios = calloc((size_t)tasks, sizeof(*ratios))))
		die("memory");
	/* the two sides alternate task by task, so a slow spell of the disk falls on both */
	for (long i = 0; i < tasks; i++) {
		double t0 = now(), t1, t2;
		snprintf(id, sizeof(id), "b-%ld", i);
		one_task(wf, NULL, id, (size_t)kib * 1024);
		t1 = now();
		one_task(wst, st, id, (size_t)kib * 1024);
		t2 = now();
		folder_s += t1 - t0;
		store_s += t2 - t1;
		ratios[i] = (t2 - t1) / (t1 - t0);
	}
	qsort(ratios, (size_t)tasks, sizeof(*ratios), cmp_double);
	printf("state changes of %ld tasks, %ld KiB of events each (%zu stages)\n", tasks, kib, NSTEPS);
	printf("  anchor (the folder's writes only): %8.2f ms/task\n", folder_s * 1000.0 / (double)tasks);
	printf("  SQLite store:                      %8.2f ms/task\n", store_s * 1000.0 / (double)tasks);
	printf("  ratio store/anchor:                %8.2fx (median of the tasks' ratios %.2fx)\n", store_s / folder_s,
	       ratios[tasks / 2]);
	free(ratios);
	devsys_store_free(st);
	devsys_workspace_free(wst);
	devsys_workspace_free(wf);
	devsys_shutdown();
	return 0;
}
