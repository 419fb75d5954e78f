/*
 * The pipeline handle and the validate stage. The pipeline is the one
 * writer of a task's folder while it runs: stages report their facts to it
 * and it writes them through the record and the store.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"

#include <stdio.h>
#include <string.h>


static const size_t options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_pipeline_options, agent_env_scrub), /* 1 */
};

static const size_t result_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_stage_result, outcome), /* 1 */
};

static const char *const stage_names[] = { "validate", "checkout", "agent", "commit", "push",
	                                   "pr",       "test",     "deploy", "verify", "gate" };

static const char *const failure_names[] = { NULL, "build", "system", "stalled", "timeout", "canceled" };

const char *devsys_failure_class_name(int failure_class)
{
	return failure_class > 0 && failure_class <= DEVSYS_FAILURE_CANCELED ? failure_names[failure_class] : NULL;
}

size_t devsys_pipeline_stage_count(void)
{
	return sizeof(stage_names) / sizeof(stage_names[0]);
}

const char *devsys_pipeline_stage_name(size_t index)
{
	return index < devsys_pipeline_stage_count() ? stage_names[index] : NULL;
}

int devsys_pipeline_options_init(devsys_pipeline_options *opts, unsigned int version)
{
	static const devsys_pipeline_options defaults = DEVSYS_PIPELINE_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, options_sizes, DEVSYS_PIPELINE_OPTIONS_VERSION, version, __func__);
}

/* A NULL-terminated copy of a NULL-terminated list (NULL stays NULL). */
static int copy_names(char ***out, const char *const *names)
{
	size_t n = 0;
	*out = NULL;
	while (names && names[n])
		n++;
	if (!names)
		return 0;
	if (!(*out = devsys__calloc(n + 1, sizeof(char *))))
		return devsys__error_oom();
	for (size_t i = 0; i < n; i++)
		if (!((*out)[i] = devsys__strdup(names[i])))
			return devsys__error_oom();
	return 0;
}

int devsys_pipeline_new(devsys_pipeline **out, devsys_workspace *ws, const devsys_pipeline_options *opts)
{
	devsys_pipeline_options o = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_pipeline *p;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(ws);
	if (opts && (rc = devsys__versioned_copy(&o, opts, options_sizes, DEVSYS_PIPELINE_OPTIONS_VERSION,
	                                         "devsys_pipeline_options")) < 0)
		return rc;
	if (!(p = devsys__calloc(1, sizeof(*p))))
		return devsys__error_oom();
	if ((rc = devsys_store_open(&p->store, ws, o.store)) < 0) {
		devsys__free(p);
		return rc;
	}
	devsys__workspace_ref(ws);
	p->ws = ws;
	p->repo_opts = o.repo;
	p->runner_opts = o.runner;
	if ((rc = copy_names(&p->scrub, o.agent_env_scrub)) < 0) {
		devsys_pipeline_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

static void forget_task(devsys_pipeline *p)
{
	devsys_spec_free(p->spec);
	devsys_validation_free(p->validation);
	devsys__free(p->task_id);
	p->spec = NULL;
	p->validation = NULL;
	p->task_id = NULL;
}

void devsys_pipeline_free(devsys_pipeline *p)
{
	if (!p)
		return;
	forget_task(p);
	for (size_t i = 0; p->scrub && p->scrub[i]; i++)
		devsys__free(p->scrub[i]);
	devsys__free(p->scrub);
	devsys_runner_free(p->runner);
	devsys_store_free(p->store);
	devsys_workspace_free(p->ws);
	devsys__free(p);
}

const char *devsys_pipeline_task_id(const devsys_pipeline *p)
{
	return p ? p->task_id : NULL;
}

const devsys_spec *devsys_pipeline_spec(const devsys_pipeline *p)
{
	return p ? p->spec : NULL;
}

const devsys_validation *devsys_pipeline_validation(const devsys_pipeline *p)
{
	return p ? p->validation : NULL;
}

devsys_store *devsys_pipeline_store(devsys_pipeline *p)
{
	return p ? p->store : NULL;
}

/* ---- stage results ---- */

int devsys__pipeline_result(devsys_stage_result *r, const char *stage, int rc, int failure_class, const char *outcome)
{
	devsys_stage_result v = DEVSYS_STAGE_RESULT_INIT;
	if (!r || r->version == 0 || r->version > DEVSYS_STAGE_RESULT_VERSION)
		return rc;
	v.version = r->version;
	v.stage = stage;
	v.result = failure_class == DEVSYS_FAILURE_NONE ? "ok"
	           : failure_class == DEVSYS_FAILURE_CANCELED ? "canceled"
	                                                      : "failed";
	v.failure_class = failure_class;
	v.error = failure_class == DEVSYS_FAILURE_NONE ? 0 : rc;
	v.outcome = outcome;
	memcpy(r, &v, result_sizes[r->version]);
	return rc;
}

/* ---- validate ---- */

/* Load and check the bytes; nothing is written. */
static int load_spec(devsys_pipeline *p, const void *bytes, size_t len, const char *name)
{
	const char *id;
	int rc;

	if ((rc = devsys_spec_load_buffer(&p->spec, bytes ? bytes : "", len, name ? name : "spec", NULL)) < 0)
		return rc;
	if (devsys_spec_count(p->spec) != 1)
		return devsys__error_set(DEVSYS_EINVALID, "%s: holds %zu documents; a task spec is exactly one",
		                         devsys_spec_name(p->spec), devsys_spec_count(p->spec));
	if ((rc = devsys_spec_validate(&p->validation, p->spec, 0)) < 0)
		return rc;
	devsys_validation_free(p->validation); /* valid: nothing to list */
	p->validation = NULL;
	id = devsys_spec_get_string(p->spec, "/id");
	if (!id || devsys_task_id_check(id) < 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: /id: the spec's id is not a valid task id",
		                         devsys_spec_name(p->spec));
	if (!(p->task_id = devsys__strdup(id)))
		return devsys__error_oom();
	/* The name the record keeps the bytes under, whatever the caller called them. */
	p->spec_kept = devsys_spec_get_format(p->spec) == DEVSYS_SPEC_FORMAT_JSON ? "spec.json" : "spec.yaml";
	return 0;
}

/* The record's part of the stage: the spec, its validation, the repo URL. */
static int record_spec(devsys_task *task, const char *kept, const char *url, const void *bytes, size_t len)
{
	devsys_record *rec = NULL;
	int rc;

	if ((rc = devsys_record_open(&rec, task)) == 0 && (rc = devsys_record_stage_begin(rec, "validate")) == 0 &&
	    (rc = devsys_record_set_spec(rec, kept, bytes ? bytes : "", len)) == 0 &&
	    (rc = devsys_record_set_json(rec, "validation", "{\"valid\":true,\"errors\":[]}")) == 0 &&
	    (!url || (rc = devsys_record_set_repo_url(rec, url)) == 0))
		rc = devsys_record_save(rec);
	devsys_record_free(rec);
	return rc;
}

static int record_stage_end(devsys_task *task, const char *result, const char *failure_class)
{
	return devsys__pipeline_record_stage(task, "validate", result, failure_class);
}

/* Keep the failure's error while the stage's end is written. */
static int fail_registered(devsys_pipeline *p, devsys_task *task, int rc)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	devsys_store_stage_end(p->store, p->task_id, "validate", "failed", DEVSYS_STATE_FAILED);
	if (task)
		record_stage_end(task, "failed", "system");
	return devsys__error_set(rc, "%s", msg);
}

static int register_task(devsys_pipeline *p, const void *bytes, size_t len)
{
	devsys_task *task = NULL;
	const char *url = devsys_spec_get_string(p->spec, "/repo/url");
	const char *kept = p->spec_kept;
	int rc;

	if ((rc = devsys_store_task_create(p->store, p->task_id, kept)) < 0)
		return rc;
	if ((rc = devsys_store_stage_begin(p->store, p->task_id, "validate")) < 0)
		return fail_registered(p, NULL, rc);
	if ((rc = devsys_task_open(&task, p->ws, p->task_id, 0)) < 0 ||
	    (rc = record_spec(task, kept, url, bytes, len)) < 0) {
		rc = fail_registered(p, task, rc);
		devsys_task_free(task);
		return rc;
	}
	/* The store writes the new state into task.json; the stage's end goes
	 * in after it, so neither write loses the other's fields. */
	if ((rc = devsys_store_stage_end(p->store, p->task_id, "validate", "ok", DEVSYS_STATE_VALIDATED)) == 0)
		rc = record_stage_end(task, "ok", NULL);
	devsys_task_free(task);
	return rc;
}

int devsys_pipeline_validate(devsys_stage_result *result, devsys_pipeline *p, const void *spec, size_t len,
                             const char *name)
{
	int rc;
	DEVSYS__CHECK_ARG(p);
	if (!spec && len)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pipeline_validate: spec is NULL with length %zu", len);
	forget_task(p);
	if ((rc = load_spec(p, spec, len, name)) < 0) {
		devsys__free(p->task_id);
		p->task_id = NULL;
		/* the bytes' fault (build) or the library's (system) */
		if (rc == DEVSYS_EPARSE || rc == DEVSYS_ELIMIT || rc == DEVSYS_EINVALID)
			return devsys__pipeline_result(result, "validate", rc, DEVSYS_FAILURE_BUILD, "spec-refused");
		return devsys__pipeline_result(result, "validate", rc, DEVSYS_FAILURE_SYSTEM, "spec-refused");
	}
	rc = register_task(p, spec, len);
	if (rc == DEVSYS_EEXISTS)
		return devsys__pipeline_result(result, "validate", rc, DEVSYS_FAILURE_NONE, "already-registered");
	if (rc < 0)
		return devsys__pipeline_result(result, "validate", rc, DEVSYS_FAILURE_SYSTEM, "record-failed");
	return devsys__pipeline_result(result, "validate", 0, DEVSYS_FAILURE_NONE, "validated");
}
