/*
 * Running a feature wave by wave through the pipeline: each task of the
 * plan becomes a devsys task (its own worktree and branch, made by the
 * pipeline's checkout stage), a wave starts only when every task of the
 * one before is green, and each green task's lines are ticked in tasks.md.
 */
#include "speckit_int.h"

#include "devsys/pipeline.h"

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

/* Validate (or find registered) and run one task; a green task from an
 * earlier run is not run again, so a stopped feature resumes. */
static int run_task(devsys_pipeline *p, devsys_workspace *ws, const devsys_buf *spec, const char *id,
                    const char *sk_id, size_t wave)
{
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	int green = 0, rc = devsys_pipeline_validate(&res, p, spec->ptr, spec->size, id);
	if (rc == DEVSYS_EEXISTS)
		rc = is_green(&green, p, ws, id);
	if (rc)
		return devsys__error_set(rc, "wave %zu: %s (devsys task %s) was not registered: %s", wave + 1, sk_id, id,
		                         devsys_error_message(devsys_error_last()));
	if (green)
		return 0;
	int run = devsys_pipeline_run(&res, p);
	char why[512] = "its tests are not green";
	if (run) /* kept before the green check can set the thread's error */
		snprintf(why, sizeof(why), "%s", devsys_error_message(devsys_error_last()));
	if ((rc = is_green(&green, p, ws, id)) != 0)
		return rc;
	if (!green) {
		int state = devsys_store_task_state(devsys_pipeline_store(p), id);
		return devsys__error_set(run ? run : DEVSYS_ERROR,
		                         "wave %zu: %s (devsys task %s) ended %s at stage %s (%s): %s; the feature stops "
		                         "here, run it again to resume",
		                         wave + 1, sk_id, id, state >= 0 ? devsys_task_state_name(state) : "unknown",
		                         res.stage ? res.stage : "-", res.outcome ? res.outcome : "-", why);
	}
	return 0;
}

int devsys_speckit_run(size_t *waves_done, devsys_pipeline *p, devsys_workspace *ws, const devsys_speckit_plan *plan,
                       const char *repo_url, const char *feature_dir, const char *spec_extra, const char *tasks_md)
{
	DEVSYS__CHECK_ARG(waves_done);
	*waves_done = 0;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(ws);
	DEVSYS__CHECK_ARG(plan);
	DEVSYS__CHECK_ARG(repo_url);
	DEVSYS__CHECK_ARG(feature_dir);
	int rc = 0;
	for (size_t w = 0; rc == 0 && w < devsys_speckit_plan_wave_count(plan); w++) {
		/* one task at a time: the many-tasks scheduler will run a wave's tasks side by side */
		for (size_t i = 0; rc == 0 && i < devsys_speckit_plan_wave_size(plan, w); i++) {
			const char *sk_id = devsys_speckit_plan_task(plan, w, i);
			char id[80];
			devsys_buf spec = DEVSYS_BUF_INIT;
			rc = task_spec(&spec, id, sizeof(id), plan, w, i, repo_url, feature_dir, spec_extra);
			if (rc == 0)
				rc = run_task(p, ws, &spec, id, sk_id, w);
			size_t marked = 0;
			if (rc == 0 && tasks_md)
				rc = devsys_speckit_mark_done_file(&marked, tasks_md, &sk_id, 1);
			devsys_buf_dispose(&spec);
		}
		if (rc == 0)
			*waves_done = w + 1;
	}
	return rc;
}
