/*
 * Running a feature wave by wave through the pipeline: each task of the
 * plan becomes a devsys task (its own worktree and branch, made by the
 * pipeline's checkout stage), a wave starts only when every task of the
 * one before is green, and each green task's lines are ticked in tasks.md.
 */
#include "speckit_int.h"

#include "devsys/pipeline.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The spec of one task: the plan's document plus the caller's sections. */
static int task_spec(devsys_buf *out, char *id, size_t idlen, const devsys_speckit_plan *plan, size_t w, size_t i,
                     const char *repo_url, const char *feature_dir, const char *extra)
{
	int rc = devsys__sk_plan_task_doc(out, id, idlen, plan, w, i, repo_url, feature_dir);
	if (rc == 0 && extra && *extra) {
		rc = devsys_buf_puts(out, extra);
		if (rc == 0 && extra[strlen(extra) - 1] != '\n')
			rc = devsys_buf_puts(out, "\n");
	}
	return rc;
}

static int is_green(int *green, devsys_pipeline *p, devsys_workspace *ws, const char *id)
{
	devsys_task *t = NULL;
	int rc = devsys_task_open(&t, ws, id, 0);
	if (rc == 0)
		rc = devsys_speckit_task_green(green, devsys_pipeline_store(p), t);
	devsys_task_free(t);
	return rc;
}

/* The store's word on a task that is not green: its state and last stage. */
static int not_green(devsys_pipeline *p, const char *id, const char *sk_id, size_t wave, int rc, const char *outcome,
                     const char *why)
{
	devsys_store *st = devsys_pipeline_store(p);
	devsys_buf j = DEVSYS_BUF_INIT;
	json_t *doc = devsys_store_task_json(st, id, &j) == 0 ? json_loadb(j.ptr, j.size, 0, NULL) : NULL;
	const char *stage = json_string_value(json_object_get(doc, "last_stage"));
	int state = devsys_store_task_state(st, id);
	rc = devsys__error_set(rc ? rc : DEVSYS_ERROR,
	                       "wave %zu: %s (devsys task %s) ended %s at stage %s%s%s%s: %s; the feature stops here, "
	                       "run it again to resume",
	                       wave + 1, sk_id, id, state >= 0 ? devsys_task_state_name(state) : "unknown",
	                       stage ? stage : "-", outcome ? " (" : "", outcome ? outcome : "", outcome ? ")" : "", why);
	json_decref(doc);
	devsys_buf_dispose(&j);
	return rc;
}

/* Validate one task, or find it registered by an earlier call; 1 into @p green when it is green already. */
static int register_task(int *green, devsys_pipeline *p, devsys_workspace *ws, const devsys_buf *spec,
                         const char *id, const char *sk_id, size_t wave)
{
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	int rc = devsys_pipeline_validate(&res, p, spec->ptr, spec->size, id);
	*green = 0;
	if (rc == DEVSYS_EEXISTS)
		rc = is_green(green, p, ws, id);
	if (rc)
		return devsys__error_set(rc, "wave %zu: %s (devsys task %s) was not registered: %s", wave + 1, sk_id, id,
		                         devsys_error_message(devsys_error_last()));
	return 0;
}

/* Run one registered task here, through @p p. */
static int run_one(devsys_pipeline *p, devsys_workspace *ws, const char *id, const char *sk_id, size_t wave)
{
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	int green = 0, rc = devsys_pipeline_load(p, id);
	if (rc == 0)
		rc = devsys_pipeline_run(&res, p);
	char why[600] = "its tests are not green";
	if (rc) /* kept before the green check can set the thread's error */
		snprintf(why, sizeof(why), "%s", devsys_error_message(devsys_error_last()));
	int grc = is_green(&green, p, ws, id);
	if (grc)
		return grc;
	return green ? 0 : not_green(p, id, sk_id, wave, rc, res.outcome ? res.outcome : "-", why);
}

/* One wave's task: its devsys id, spec-kit id and whether it is green. */
typedef struct wave_task {
	char id[80];
	const char *sk_id;
	int green;
} wave_task;

typedef struct wave_run {
	devsys_pipeline *p;
	devsys_workspace *ws;
	const devsys_speckit_plan *plan;
	const char *repo_url, *feature_dir, *extra, *tasks_md;
	devsys_speckit_wave_fn fn;
	void *payload;
} wave_run;

/* The tasks the wave still has to run, handed to the caller's scheduler; then each must be green. */
static int run_by_caller(const wave_run *r, wave_task *t, size_t n, size_t w)
{
	const char **todo = devsys__calloc(n, sizeof(*todo));
	size_t ntodo = 0;
	int rc = 0;
	if (!todo)
		return devsys__error_oom();
	for (size_t i = 0; i < n; i++)
		if (!t[i].green)
			todo[ntodo++] = t[i].id;
	if (ntodo && (rc = r->fn(todo, ntodo, r->payload)) != 0)
		rc = devsys__error_set(rc < 0 ? rc : DEVSYS_EUSER, "wave %zu: the scheduler stopped: %s", w + 1,
		                       devsys_error_message(devsys_error_last()));
	/* every task's green is read, so the green ones are ticked even when another is not */
	for (size_t i = 0, failed = 0; i < n && !failed; i++) {
		int grc = t[i].green ? 0 : is_green(&t[i].green, r->p, r->ws, t[i].id);
		if (grc < 0)
			failed = 1, rc = grc;
		else if (!t[i].green && rc == 0)
			rc = not_green(r->p, t[i].id, t[i].sk_id, w, 0, NULL, "its run did not end green (see its summary above)");
	}
	devsys__free(todo);
	return rc;
}

static int run_wave(const wave_run *r, size_t w)
{
	size_t n = devsys_speckit_plan_wave_size(r->plan, w);
	wave_task *t = devsys__calloc(n ? n : 1, sizeof(*t));
	int rc = t ? 0 : devsys__error_oom();
	/* every task of the wave registered first, so a scheduler gets them all at once */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		devsys_buf spec = DEVSYS_BUF_INIT;
		t[i].sk_id = devsys_speckit_plan_task(r->plan, w, i);
		rc = task_spec(&spec, t[i].id, sizeof(t[i].id), r->plan, w, i, r->repo_url, r->feature_dir, r->extra);
		if (rc == 0)
			rc = register_task(&t[i].green, r->p, r->ws, &spec, t[i].id, t[i].sk_id, w);
		devsys_buf_dispose(&spec);
	}
	int wrc = rc == 0 && r->fn ? run_by_caller(r, t, n, w) : 0;
	char why[1024] = ""; /* wrc's message, kept while the green tasks are ticked */
	if (wrc)
		snprintf(why, sizeof(why), "%s", devsys_error_message(devsys_error_last()));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t marked = 0;
		if (!r->fn && !t[i].green)
			rc = run_one(r->p, r->ws, t[i].id, t[i].sk_id, w);
		else if (r->fn && !t[i].green)
			continue; /* the wave stops with wrc; its green tasks are still ticked */
		if (rc == 0 && r->tasks_md) /* ticked as soon as it is green */
			rc = devsys_speckit_mark_done_file(&marked, r->tasks_md, &t[i].sk_id, 1);
	}
	devsys__free(t);
	return rc ? rc : wrc ? devsys__error_set(wrc, "%s", why) : 0;
}

int devsys_speckit_run_waves(size_t *waves_done, devsys_pipeline *p, devsys_workspace *ws,
                             const devsys_speckit_plan *plan, const char *repo_url, const char *feature_dir,
                             const char *spec_extra, const char *tasks_md, devsys_speckit_wave_fn run_wave_fn,
                             void *payload)
{
	DEVSYS__CHECK_ARG(waves_done);
	*waves_done = 0;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(ws);
	DEVSYS__CHECK_ARG(plan);
	DEVSYS__CHECK_ARG(repo_url);
	DEVSYS__CHECK_ARG(feature_dir);
	wave_run r = { p, ws, plan, repo_url, feature_dir, spec_extra, tasks_md, run_wave_fn, payload };
	int rc = 0;
	/* a wave starts only when every task before it is green */
	for (size_t w = 0; rc == 0 && w < devsys_speckit_plan_wave_count(plan); w++)
		if ((rc = run_wave(&r, w)) == 0)
			*waves_done = w + 1;
	return rc;
}

int devsys_speckit_run(size_t *waves_done, devsys_pipeline *p, devsys_workspace *ws, const devsys_speckit_plan *plan,
                       const char *repo_url, const char *feature_dir, const char *spec_extra, const char *tasks_md)
{
	return devsys_speckit_run_waves(waves_done, p, ws, plan, repo_url, feature_dir, spec_extra, tasks_md, NULL, NULL);
}
