/*
 * Stages an embedder adds to a pipeline or puts in place of a built-in one
 * (devsys/sys/stage.h), and what such a stage reaches through its
 * devsys_stage_run. The run loop (pipeline.c) runs the list.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "record/record_int.h"
#include "devsys/record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const size_t vtable_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_stage_vtable, release), /* 1 */
};

struct devsys_stage_run {
	devsys__stage_ctx *c;
	devsys__stage_entry *e;
	int fclass; /* set by devsys_stage_run_fail(); DEVSYS_FAILURE_NONE: not called */
};

/* ---- registration ---- */

static int copy_vtable(devsys_stage_vtable *vt, const devsys_stage_vtable *src, const char *func)
{
	int rc;
	memset(vt, 0, sizeof(*vt));
	if ((rc = devsys__versioned_copy(vt, src, vtable_sizes, DEVSYS_STAGE_VTABLE_VERSION, "devsys_stage_vtable")) < 0)
		return rc;
	if (!vt->run)
		return devsys__error_set(DEVSYS_EINVAL, "%s: the stage vtable has no run slot (required)", func);
	return 0;
}

/* An added stage's name: the task-id rule, and not a built-in's. */
static int check_added_name(const char *name)
{
	if (!name)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pipeline_add_stage: the stage vtable has no name");
	if (devsys_task_id_check(name) < 0)
		return devsys__error_set(DEVSYS_EINVAL, "stage name '%.64s' is not valid: use 1-64 characters of "
		                                        "[A-Za-z0-9._-], starting with a letter or digit, no '..'",
		                         name);
	for (size_t i = 0; i < devsys_pipeline_stage_count(); i++)
		if (strcmp(name, devsys_pipeline_stage_name(i)) == 0)
			return devsys__error_set(DEVSYS_EINVAL, "stage name '%s' is a built-in stage's (reserved: %s); "
			                                        "to run your own in its place use "
			                                        "devsys_pipeline_replace_stage()",
			                         name, DEVSYS_STAGE_NAMES);
	return 0;
}

static size_t find(const devsys_pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->nstages; i++)
		if (strcmp(p->stages[i].name, name) == 0)
			return i;
	return p->nstages;
}

/* Where an added stage after @p after goes: after it and the stages added after it before. */
static int insert_at(size_t *at, const devsys_pipeline *p, const char *after)
{
	size_t i;
	if (strcmp(after, "gate") == 0)
		return devsys__error_set(DEVSYS_EINVAL, "no stage can be added after gate: the gate ends the task "
		                                        "(add it after verify)");
	if (strcmp(after, "validate") == 0)
		i = 0;
	else if ((i = find(p, after)) == p->nstages)
		return devsys__error_set(DEVSYS_ENOTFOUND, "stage '%.64s' is not a stage of this pipeline: a stage is "
		                                           "added after one of %s or an added stage",
		                         after, DEVSYS_STAGE_NAMES);
	else
		i++;
	while (i < p->nstages && p->stages[i].builtin < 0)
		i++;
	*at = i;
	return 0;
}

/* A run holds pointers into the list: it changes only between runs. */
static int check_idle(const devsys_pipeline *p, const char *func)
{
	if (p->in_run)
		return devsys__error_set(DEVSYS_EBUSY, "%s: the pipeline is running a stage; change its stages "
		                                       "between runs",
		                         func);
	return 0;
}

int devsys_pipeline_add_stage(devsys_pipeline *p, const char *after, const devsys_stage_vtable *vtable, void *self)
{
	devsys_stage_vtable vt;
	devsys__stage_entry *n;
	char *name;
	size_t at = 0;
	int rc;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(after);
	DEVSYS__CHECK_ARG(vtable);
	if ((rc = check_idle(p, "devsys_pipeline_add_stage")) < 0)
		return rc;
	if ((rc = copy_vtable(&vt, vtable, "devsys_pipeline_add_stage")) < 0 || (rc = check_added_name(vt.name)) < 0 ||
	    (rc = devsys__pipeline_stages_init(p)) < 0)
		return rc;
	if (find(p, vt.name) < p->nstages)
		return devsys__error_set(DEVSYS_EEXISTS, "stage '%s' was added to this pipeline already", vt.name);
	if ((rc = insert_at(&at, p, after)) < 0)
		return rc;
	if (!(name = devsys__strdup(vt.name)))
		return devsys__error_oom();
	if (!(n = devsys__realloc(p->stages, (p->nstages + 1) * sizeof(*n)))) {
		devsys__free(name);
		return devsys__error_oom();
	}
	p->stages = n;
	memmove(&n[at + 1], &n[at], (p->nstages - at) * sizeof(*n));
	memset(&n[at], 0, sizeof(*n));
	n[at].name = name;
	n[at].builtin = -1;
	n[at].vt = vt;
	n[at].vt.name = name;
	n[at].self = self;
	p->nstages++;
	return 0;
}

static void release_entry(devsys__stage_entry *e)
{
	if (!e->fn && e->vt.release)
		e->vt.release(e->self);
}

int devsys_pipeline_replace_stage(devsys_pipeline *p, const char *name, const devsys_stage_vtable *vtable, void *self)
{
	devsys_stage_vtable vt;
	devsys__stage_entry *e;
	size_t i;
	int rc;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(name);
	DEVSYS__CHECK_ARG(vtable);
	if ((rc = check_idle(p, "devsys_pipeline_replace_stage")) < 0 ||
	    (rc = copy_vtable(&vt, vtable, "devsys_pipeline_replace_stage")) < 0)
		return rc;
	if (vt.name && strcmp(vt.name, name) != 0)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pipeline_replace_stage: the vtable's name '%.64s' is not "
		                                        "'%.64s', the stage it replaces (leave it NULL)",
		                         vt.name, name);
	if (strcmp(name, "validate") == 0)
		return devsys__error_set(DEVSYS_EINVAL, "the validate stage cannot be replaced: it registers the task "
		                                        "(add a stage after validate instead)");
	if ((rc = devsys__pipeline_stages_init(p)) < 0)
		return rc;
	if ((i = find(p, name)) == p->nstages)
		return devsys__error_set(DEVSYS_ENOTFOUND, "stage '%.64s' is not a stage of this pipeline (%s, or an "
		                                           "added stage)",
		                         name, DEVSYS_STAGE_NAMES);
	e = &p->stages[i];
	release_entry(e);
	e->fn = NULL;
	e->vt = vt;
	e->vt.name = e->name;
	e->self = self;
	return 0;
}

void devsys__pipeline_stages_free(devsys_pipeline *p)
{
	for (size_t i = 0; i < p->nstages; i++) {
		release_entry(&p->stages[i]);
		devsys__free(p->stages[i].name);
	}
	devsys__free(p->stages);
	p->stages = NULL;
	p->nstages = 0;
}

/* ---- running one ---- */

static int check_outcome(const char *outcome)
{
	if (!outcome || strlen(outcome) > 63 || devsys_task_id_check(outcome) < 0)
		return devsys__error_set(DEVSYS_EINVAL, "stage outcome '%.64s' is not one word of 1-63 characters of "
		                                        "[A-Za-z0-9._-]",
		                         outcome ? outcome : "(null)");
	return 0;
}

int devsys__stage_custom(devsys__stage_ctx *c, devsys__stage_entry *e)
{
	devsys_stage_run run = { c, e, DEVSYS_FAILURE_NONE };
	int rc, fclass;
	e->outcome[0] = '\0';
	if ((rc = devsys__pipeline_begin(c, e->name)) < 0)
		return rc;
	rc = e->vt.run(&run, e->self);
	if (rc > 0)
		rc = devsys__error_set(DEVSYS_ERROR, "stage %s: its run slot returned %d (0 or a negative DEVSYS_E* code)",
		                       e->name, rc);
	if (rc == 0)
		fclass = DEVSYS_FAILURE_NONE;
	else if (run.fclass != DEVSYS_FAILURE_NONE)
		fclass = run.fclass;
	else
		fclass = rc == DEVSYS_ECANCELED || c->p->canceled ? DEVSYS_FAILURE_CANCELED : DEVSYS_FAILURE_SYSTEM;
	if (!e->outcome[0])
		snprintf(e->outcome, sizeof(e->outcome), "%s",
		         rc == 0 ? "done" : fclass == DEVSYS_FAILURE_CANCELED ? "canceled" : "failed");
	/* an added stage leaves the state to the built-ins; a replacement moves it as the built-in would */
	return devsys__pipeline_end(c, e->name, rc, fclass, e->outcome,
	                            rc == 0 ? devsys__pipeline_builtin_to(e->builtin) : -1);
}

/* ---- what a stage reaches ---- */

const char *devsys_stage_run_name(const devsys_stage_run *run)
{
	return run ? run->e->name : NULL;
}

const char *devsys_stage_run_task_id(const devsys_stage_run *run)
{
	return run ? run->c->p->task_id : NULL;
}

devsys_task *devsys_stage_run_task(devsys_stage_run *run)
{
	return run ? run->c->task : NULL;
}

const devsys_spec *devsys_stage_run_spec(const devsys_stage_run *run)
{
	return run ? run->c->p->spec : NULL;
}

int devsys_stage_run_repo(devsys_repo **out, devsys_stage_run *run)
{
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(run);
	if ((rc = devsys__pipeline_repo(run->c)) < 0)
		return rc;
	*out = run->c->repo;
	return 0;
}

int devsys_stage_run_open_runner(devsys_runner **out, devsys_stage_run *run, const char *step)
{
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(run);
	DEVSYS__CHECK_ARG(step);
	/* a spec key ("tests", "lint"): the profile is read from /<step>/runner */
	if (devsys_task_id_check(step) < 0 || strlen(step) > 48)
		return devsys__error_set(DEVSYS_EINVAL, "step name '%.64s' is not valid (a spec key such as \"tests\", "
		                                        "up to 48 characters of [A-Za-z0-9._-])",
		                         step);
	return devsys__pipeline_open_runner(out, run->c->p, step);
}

int devsys_stage_run_exec(devsys_stage_run *run, devsys_runner *runner, const devsys_runner_cmd *cmd,
                          devsys_runner_result *result)
{
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	DEVSYS__CHECK_ARG(run);
	DEVSYS__CHECK_ARG(runner);
	DEVSYS__CHECK_ARG(cmd);
	DEVSYS__CHECK_ARG(result);
	if (cmd->version == 0 || cmd->version > DEVSYS_RUNNER_CMD_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_stage_run_exec: devsys_runner_cmd version %u is not "
		                                          "supported (1..%d)",
		                         cmd->version, DEVSYS_RUNNER_CMD_VERSION);
	/* Only the fields the caller's version has; the rest keep the INIT values. */
	memcpy(&c, cmd, DEVSYS__SIZE_THROUGH(devsys_runner_cmd, stage));
	if (cmd->version >= 2)
		c.image = cmd->image;
#if DEVSYS_RUNNER_CMD_VERSION >= 3
	if (cmd->version >= 3) {
		c.idle_timeout_ms = cmd->idle_timeout_ms;
		c.max_output_bytes = cmd->max_output_bytes;
	}
#endif
	_Static_assert(DEVSYS_RUNNER_CMD_VERSION <= 3, "devsys_stage_run_exec: copy the fields devsys_runner_cmd's new "
	                                               "version appended");
	c.version = DEVSYS_RUNNER_CMD_VERSION;
	if (!c.task) {
		c.task = run->c->task;
		if (!c.stage)
			c.stage = run->e->name;
	}
	return devsys__pipeline_exec(run->c, runner, &c, result);
}

int devsys_stage_run_log(devsys_stage_run *run, const char *data, size_t len)
{
	DEVSYS__CHECK_ARG(run);
	if (!data && len)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_stage_run_log: data is NULL with length %zu", len);
	return devsys__record_log_append(run->c->task, run->e->name, data, len);
}

int devsys_stage_run_set_outcome(devsys_stage_run *run, const char *outcome)
{
	int rc;
	DEVSYS__CHECK_ARG(run);
	if ((rc = check_outcome(outcome)) < 0)
		return rc;
	snprintf(run->e->outcome, sizeof(run->e->outcome), "%s", outcome);
	return 0;
}

static int code_of_class(int fclass)
{
	switch (fclass) {
	case DEVSYS_FAILURE_BUILD:
		return DEVSYS_ERROR;
	case DEVSYS_FAILURE_SYSTEM:
		return DEVSYS_ESYSTEM;
	case DEVSYS_FAILURE_STALLED:
	case DEVSYS_FAILURE_TIMEOUT:
		return DEVSYS_ETIMEOUT;
	case DEVSYS_FAILURE_CANCELED:
		return DEVSYS_ECANCELED;
	default:
		return 0;
	}
}

int devsys_stage_run_fail(devsys_stage_run *run, int failure_class, const char *outcome, const char *fmt, ...)
{
	int code = code_of_class(failure_class), rc;
	va_list ap;
	DEVSYS__CHECK_ARG(run);
	DEVSYS__CHECK_ARG(fmt);
	if (!code)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_stage_run_fail: failure class %d is not one of build, "
		                                        "system, stalled, timeout, canceled",
		                         failure_class);
	if ((rc = devsys_stage_run_set_outcome(run, outcome ? outcome : "failed")) < 0)
		return rc;
	run->fclass = failure_class;
	va_start(ap, fmt);
	rc = devsys__error_setv(code, fmt, ap);
	va_end(ap);
	return rc;
}
