/*
 * The pipeline handle and the validate stage. The pipeline is the one
 * writer of a task's folder while it runs: stages report their facts to it
 * and it writes them through the record and the store.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "pipeline_hold.h"
#include "store/store_int.h"
#include "devsys/record.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>


static const size_t options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_pipeline_options, agent_env_scrub), /* 1 */
	DEVSYS__SIZE_THROUGH(devsys_pipeline_options, max_output_bytes), /* 2 */
};

static const size_t result_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_stage_result, outcome), /* 1 */
};

static const char *const stage_names[] = { "validate", "checkout", "agent", "commit", "push",
	                                   "pr",       "test",     "deploy", "verify", "gate" };

static const char *const failure_names[] = { NULL, "build", "system", "stalled", "timeout", "canceled", "budget" };

const char *devsys_failure_class_name(int failure_class)
{
	return failure_class > 0 && failure_class <= DEVSYS_FAILURE_BUDGET ? failure_names[failure_class] : NULL;
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
	/* the configuration first: its store: section says where the store is */
	if ((o.config_path && (rc = devsys_config_load(&p->config, o.config_path)) < 0) ||
	    (rc = devsys_store_open_config(&p->store, ws, o.store, p->config)) < 0) {
		devsys_config_free(p->config);
		devsys__free(p);
		return rc;
	}
	pthread_mutex_init(&p->running_lock, NULL);
	devsys__workspace_ref(ws);
	p->ws = ws;
	p->repo_opts = o.repo;
	p->runner_opts = o.runner;
	p->forge_opts = o.forge;
	p->progress = o.progress;
	p->progress_payload = o.progress_payload;
	p->agent_idle_timeout_ms = o.agent_idle_timeout_ms ? o.agent_idle_timeout_ms : 600000u;
	p->max_output_bytes = o.max_output_bytes ? o.max_output_bytes : (uint64_t)64 << 20;
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
	devsys__pipeline_stages_free(p);
	for (size_t i = 0; p->scrub && p->scrub[i]; i++)
		devsys__free(p->scrub[i]);
	devsys__free(p->scrub);
	devsys_config_free(p->config);
	devsys_store_free(p->store);
	devsys_workspace_free(p->ws);
	pthread_mutex_destroy(&p->running_lock);
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

	/* an invalid spec keeps its validation, for devsys_pipeline_validation() to list */
	if ((rc = devsys_spec_validate_buffer(&p->spec, &p->validation, bytes ? bytes : "", len, name ? name : "spec",
	                                      NULL)) < 0)
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

static int record_stage_end(devsys_task *task, const char *result, const char *failure_class, const char *reason)
{
	return devsys__pipeline_record_stage(task, "validate", result, failure_class, reason);
}

/* Keep the failure's error while the stage's end is written. */
static int fail_registered(devsys_pipeline *p, devsys_task *task, int rc)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	devsys_store_stage_end(p->store, p->task_id, "validate", "failed", DEVSYS_STATE_FAILED);
	if (task)
		record_stage_end(task, "failed", "system", msg);
	return devsys__error_set(rc, "%s", msg);
}

static int register_task(devsys_pipeline *p, const void *bytes, size_t len)
{
	devsys_task *task = NULL;
	const char *url = devsys_spec_get_string(p->spec, "/repo/url");
	const char *kept = p->spec_kept;
	int rc;

	/* a task a killed run left half registered is registered again */
	if ((rc = devsys_store_task_create(p->store, p->task_id, kept)) < 0 &&
	    (rc != DEVSYS_EEXISTS || devsys__pipeline_unregistered(p) != 1))
		return rc == DEVSYS_EEXISTS ? devsys__error_set(DEVSYS_EEXISTS, "task '%s' exists already", p->task_id) : rc;
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
		rc = record_stage_end(task, "ok", NULL, NULL);
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

/* ---- loading a task that exists ---- */

int devsys_pipeline_load(devsys_pipeline *p, const char *task_id)
{
	static const char *const kept[] = { "spec.yaml", "spec.json" };
	devsys_task *task = NULL;
	devsys_buf path = DEVSYS_BUF_INIT, bytes = DEVSYS_BUF_INIT;
	int rc, state;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(task_id);
	if ((rc = devsys_task_id_check(task_id)) < 0 || (state = devsys_store_task_state(p->store, task_id)) < 0)
		return rc < 0 ? rc : state;
	forget_task(p);
	if ((rc = devsys_task_open(&task, p->ws, task_id, 0)) < 0)
		return rc;
	rc = DEVSYS_ENOTFOUND;
	for (size_t i = 0; i < 2 && rc == DEVSYS_ENOTFOUND; i++) {
		devsys_buf_clear(&path);
		if ((rc = devsys_task_path_join(&path, task, kept[i])) == 0 &&
		    (rc = devsys__read_file(&bytes, path.ptr, (size_t)16 << 20)) == 0)
			p->spec_kept = kept[i];
	}
	if (rc == DEVSYS_ENOTFOUND)
		rc = devsys__error_set(DEVSYS_ENOTFOUND, "task '%s' keeps no spec (spec.yaml or spec.json) in its folder",
		                       task_id);
	if (rc == 0 && (rc = devsys_spec_load_buffer(&p->spec, bytes.ptr ? bytes.ptr : "", bytes.size, path.ptr,
	                                             NULL)) == 0 &&
	    !(p->task_id = devsys__strdup(task_id)))
		rc = devsys__error_oom();
	devsys_buf_dispose(&bytes);
	devsys_buf_dispose(&path);
	devsys_task_free(task);
	if (rc < 0)
		forget_task(p);
	return rc;
}

/* ---- running stages ---- */

/* The built-in stages after validate, the state each starts from, and the
 * state a replacement moves the task to when it ends ok (as the built-in does). */
static const struct builtin {
	const char *name;
	devsys__stage_fn fn;
	int from;
	int to;
} builtins[] = {
	{ "checkout", devsys__stage_checkout, DEVSYS_STATE_VALIDATED, DEVSYS_STATE_CHECKED_OUT },
	{ "agent", devsys__stage_agent, DEVSYS_STATE_CHECKED_OUT, DEVSYS_STATE_CODED },
	{ "commit", devsys__stage_commit, DEVSYS_STATE_CODED, DEVSYS_STATE_COMMITTED },
	{ "push", devsys__stage_push, DEVSYS_STATE_COMMITTED, DEVSYS_STATE_PUSHED },
	{ "pr", devsys__stage_pr, DEVSYS_STATE_PUSHED, DEVSYS_STATE_PR_OPENED },
	{ "test", devsys__stage_test, DEVSYS_STATE_PR_OPENED, DEVSYS_STATE_TESTED },
	{ "deploy", devsys__stage_deploy, DEVSYS_STATE_TESTED, DEVSYS_STATE_DEPLOYED },
	/* verify and gate both start from deployed (or deploy-skipped): the
	 * record says whether verify has ended ok */
	{ "verify", devsys__stage_verify, DEVSYS_STATE_DEPLOYED, -1 },
	{ "gate", devsys__stage_gate, DEVSYS_STATE_DEPLOYED, DEVSYS_STATE_AWAITING_REVIEW },
};

#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

static size_t builtin_index(const char *stage)
{
	for (size_t i = 0; stage && i < NBUILTINS; i++)
		if (strcmp(builtins[i].name, stage) == 0)
			return i;
	return NBUILTINS;
}

int devsys__pipeline_builtin_to(int builtin)
{
	return builtin >= 0 && (size_t)builtin < NBUILTINS ? builtins[builtin].to : -1;
}

int devsys__pipeline_stages_init(devsys_pipeline *p)
{
	if (p->stages)
		return 0;
	if (!(p->stages = devsys__calloc(NBUILTINS, sizeof(*p->stages))))
		return devsys__error_oom();
	for (size_t i = 0; i < NBUILTINS; i++) {
		p->stages[i].builtin = (int)i;
		p->stages[i].fn = builtins[i].fn;
		if (!(p->stages[i].name = devsys__strdup(builtins[i].name))) {
			p->nstages = i;
			devsys__pipeline_stages_free(p);
			return devsys__error_oom();
		}
	}
	p->nstages = NBUILTINS;
	return 0;
}

/* The list index of stage @p name (p->nstages: none). */
static size_t entry_index(const devsys_pipeline *p, const char *name)
{
	for (size_t i = 0; name && i < p->nstages; i++)
		if (strcmp(p->stages[i].name, name) == 0)
			return i;
	return p->nstages;
}

static size_t entry_of_builtin(const devsys_pipeline *p, size_t builtin)
{
	for (size_t i = 0; i < p->nstages; i++)
		if (p->stages[i].builtin == (int)builtin)
			return i;
	return p->nstages;
}

static bool is_resting(int state)
{
	return state == DEVSYS_STATE_AWAITING_REVIEW || state == DEVSYS_STATE_MERGED || state == DEVSYS_STATE_DONE ||
	       state == DEVSYS_STATE_NO_CHANGES;
}

static bool recorded_ok(devsys__stage_ctx *c, const char *stage)
{
	char result[16] = "";
	devsys__pipeline_stage_recorded(result, sizeof(result), c->task, stage);
	return strcmp(result, "ok") == 0;
}

/* Which built-in a task in @p state runs next (NBUILTINS: none). */
static size_t next_builtin(devsys__stage_ctx *c, int state)
{
	if (state == DEVSYS_STATE_DEPLOY_SKIPPED)
		state = DEVSYS_STATE_DEPLOYED;
	if (state == DEVSYS_STATE_DEPLOYED)
		return builtin_index(recorded_ok(c, "verify") ? "gate" : "verify");
	for (size_t i = 0; i < NBUILTINS; i++)
		if (builtins[i].from == state)
			return i;
	return NBUILTINS;
}

/*
 * Which list entry a task in @p state runs next (p->nstages: none). The
 * state names the next built-in; the added stages right before it (after
 * the built-in the state says has ended ok) run first, from the first
 * whose recorded result is not "ok": so resume runs a failed added stage
 * again and skips the ones that passed.
 */
static size_t next_stage(devsys__stage_ctx *c, int state)
{
	devsys_pipeline *p = c->p;
	size_t b = next_builtin(c, state), e, s;
	if (b == NBUILTINS || (e = entry_of_builtin(p, b)) == p->nstages)
		return p->nstages;
	for (s = e; s > 0 && p->stages[s - 1].builtin < 0; s--)
		;
	for (; s < e; s++)
		if (!recorded_ok(c, p->stages[s].name))
			return s;
	return e;
}

/* Which entry runs first from @p state; with @p first_name, it must be that one. */
static int first_stage(size_t *first, devsys__stage_ctx *c, int state, const char *first_name)
{
	devsys_pipeline *p = c->p;
	*first = next_stage(c, state);
	if (first_name && *first != entry_index(p, first_name))
		return devsys__error_set(DEVSYS_ESTATE, "task '%s' is %s: stage %s cannot run now (the next stage is %s)",
		                         p->task_id, devsys_task_state_name(state), first_name,
		                         *first < p->nstages ? p->stages[*first].name : "none");
	return 0;
}

struct resume_pick {
	devsys__stage_ctx *c;
	const char *first_name;
	size_t first;
	int state;
};

static int pick_first(const char **stage, int state, void *payload)
{
	struct resume_pick *rp = payload;
	devsys_pipeline *p = rp->c->p;
	int rc = first_stage(&rp->first, rp->c, state, rp->first_name);
	rp->state = state;
	*stage = rc == 0 && rp->first < p->nstages ? p->stages[rp->first].name : NULL;
	return rc;
}

/*
 * A stopped task (failed, interrupted) goes back to the last state it
 * completed, and this process takes its first stage in the same store
 * transaction: of two processes resuming one task, the second gets
 * DEVSYS_EBUSY naming the first. Only the winner clears what a dead run
 * left running, after the take, so nothing of another run can be hit.
 */
static int resume_take(devsys__stage_ctx *c, size_t *first, int *state, const char *first_name)
{
	devsys_pipeline *p = c->p;
	struct resume_pick rp = { c, first_name, 0, -1 };
	int from = -1, rc;
	if ((rc = devsys__store_resume_take(p->store, p->task_id, pick_first, &rp, &from)) < 0)
		return rc;
	*first = rp.first;
	*state = rp.state;
	if (rp.first < p->nstages)
		c->taken = p->stages[rp.first].name;
	if (from == DEVSYS_STATE_INTERRUPTED && (rc = devsys__pipeline_clear_leftovers(p, p->task_id)) < 0 && c->taken) {
		devsys_store_stage_end(p->store, p->task_id, c->taken, "failed", -1);
		c->taken = NULL;
	}
	return rc;
}

int devsys__pipeline_retake(devsys__stage_ctx *c, const char *stage)
{
	size_t first;
	int state;
	return resume_take(c, &first, &state, stage);
}

static int run_canceled(devsys__stage_ctx *c, const char *name)
{
	int rc = devsys__pipeline_begin(c, name);
	return rc < 0 ? rc
	              : devsys__pipeline_end(c, name,
	                                     devsys__error_set(DEVSYS_ECANCELED, "task '%s' was canceled", c->p->task_id),
	                                     DEVSYS_FAILURE_CANCELED, "canceled", -1);
}

static int run_from(devsys__stage_ctx *c, size_t first, size_t last)
{
	devsys_pipeline *p = c->p;
	int rc = 0;
	for (size_t i = first; i <= last && i < p->nstages && rc == 0 && !c->stop; i++) {
		devsys__stage_entry *e = &p->stages[i];
		if (p->held) /* handed back by its worker: the task stays as the store has it */
			return devsys__error_set(DEVSYS_ECANCELED, "task '%s': the run stopped before stage %s: its worker "
			                                           "handed it back", p->task_id, e->name);
		if (p->canceled)
			return run_canceled(c, e->name);
		devsys__pool_stage_begin(p, e->name);
		do
			rc = e->fn ? e->fn(c) : devsys__stage_custom(c, e);
		while (devsys__pool_retry(c, e->name, rc) && !p->canceled);
		if (p->canceled && c->taken) /* canceled at the retry: the stage taken again ends canceled */
			rc = run_canceled(c, e->name);
	}
	return rc;
}

static int open_ctx(devsys__stage_ctx *c, devsys_pipeline *p, devsys_stage_result *res)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->res = res;
	if (!p->task_id || !p->spec)
		return devsys__error_set(DEVSYS_ESTATE, "the pipeline has no task: run devsys_pipeline_validate() or "
		                                        "devsys_pipeline_load() first");
	if (p->repo_opts && p->repo_opts->version != DEVSYS_REPO_OPTIONS_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_pipeline_options.repo: version %u is not supported (1)",
		                         p->repo_opts->version);
	return devsys_task_open(&c->task, p->ws, p->task_id, 0);
}

static void close_ctx(devsys__stage_ctx *c)
{
	/* the repo first: its credential chain may point at the forge */
	devsys_repo_free(c->repo);
	devsys_pr_free(c->pr);
	devsys_forge_free(c->forge);
	devsys_secrets_free(c->secrets);
	devsys_task_free(c->task);
}

static int no_stage_left(devsys_pipeline *p, int state)
{
	if (state == DEVSYS_STATE_CREATED || state == DEVSYS_STATE_INTERRUPTED)
		return devsys__error_set(DEVSYS_ESTATE, "task '%s' was left before its validate stage ended: validate its "
		                                        "spec again (devsys run SPEC) to register it",
		                         p->task_id);
	return devsys__error_set(DEVSYS_ESTATE, "task '%s' is %s: no stage is left to run", p->task_id,
	                         devsys_task_state_name(state));
}

/* Run the list entries [first, last] of the task from its state; @p first_name NULL: from where it stands. */
static int run_range(devsys_stage_result *result, devsys_pipeline *p, const char *first_name, size_t last)
{
	devsys__stage_ctx c;
	size_t first;
	int rc, state;
	if ((rc = open_ctx(&c, p, result)) < 0)
		goto out;
	if ((state = devsys_store_task_state(p->store, p->task_id)) < 0) {
		rc = state;
		goto out;
	}
	if (is_resting(state) || state == DEVSYS_STATE_CANCELED || state == DEVSYS_STATE_CREATED) {
		rc = no_stage_left(p, state);
		goto out;
	}
	if (state == DEVSYS_STATE_FAILED || state == DEVSYS_STATE_INTERRUPTED)
		rc = resume_take(&c, &first, &state, first_name);
	else
		rc = first_stage(&first, &c, state, first_name);
	if (rc < 0)
		goto out;
	p->in_run = 1;
	rc = first < p->nstages ? run_from(&c, first, last) : no_stage_left(p, state);
	p->in_run = 0;
out:
	close_ctx(&c);
	return rc;
}

int devsys_pipeline_run(devsys_stage_result *result, devsys_pipeline *p)
{
	int rc;
	DEVSYS__CHECK_ARG(p);
	if ((rc = devsys__pipeline_stages_init(p)) < 0)
		return rc;
	return run_range(result, p, NULL, p->nstages - 1);
}

int devsys_pipeline_run_stage(devsys_stage_result *result, devsys_pipeline *p, const char *stage)
{
	size_t i;
	int rc;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(stage);
	if ((rc = devsys__pipeline_stages_init(p)) < 0)
		return rc;
	if ((i = entry_index(p, stage)) == p->nstages)
		return devsys__error_set(DEVSYS_EINVAL, "'%.64s' is not a stage that runs on its own (one of: checkout "
		                                        "agent commit push pr test deploy verify gate, or a stage "
		                                        "added with devsys_pipeline_add_stage())",
		                         stage);
	return run_range(result, p, stage, i);
}

int devsys_pipeline_code(devsys_stage_result *result, devsys_pipeline *p)
{
	int rc;
	DEVSYS__CHECK_ARG(p);
	if (p->task_id && devsys_store_task_state(p->store, p->task_id) != DEVSYS_STATE_VALIDATED) {
		int st = devsys_store_task_state(p->store, p->task_id);
		return st < 0 ? st
		              : devsys__error_set(DEVSYS_ESTATE,
		                                  "task '%s' is %s; the coding stages start from a validated task "
		                                  "(devsys_pipeline_run() resumes a later state)",
		                                  p->task_id, devsys_task_state_name(st));
	}
	if ((rc = devsys__pipeline_stages_init(p)) < 0)
		return rc;
	return run_range(result, p, "checkout", entry_index(p, "push"));
}

void devsys__pipeline_hold(devsys_pipeline *p)
{
	p->held = 1;
}

int devsys_pipeline_cancel(devsys_pipeline *p)
{
	DEVSYS__CHECK_ARG(p);
	p->canceled = 1;
	pthread_mutex_lock(&p->running_lock);
	if (p->running)
		devsys_runner_cancel(p->running);
	pthread_mutex_unlock(&p->running_lock);
	return 0;
}

/* ---- what the stages share ---- */

int devsys__pipeline_emit(devsys_pipeline *p, int kind, const char *stage, const devsys_stage_result *res,
                          const char *data, size_t len, uint64_t current, uint64_t total)
{
	devsys_pipeline_event ev = { DEVSYS_PIPELINE_EVENT_VERSION, kind, p->task_id, stage, res, data, len, current,
		                     total };
	if (!p->progress)
		return 0;
	if (p->progress(&ev, p->progress_payload) != 0) {
		p->canceled = 1;
		return 1;
	}
	return 0;
}

int devsys__pipeline_begin(devsys__stage_ctx *c, const char *stage)
{
	int rc = 0;
	/* the resume took this stage with itself (resume_take): it is this process's already */
	if (c->taken && strcmp(c->taken, stage) == 0)
		c->taken = NULL;
	/* canceled from another process between two stages: the store has it canceled */
	else if ((rc = devsys_store_stage_begin(c->p->store, c->p->task_id, stage)) == DEVSYS_ESTATE &&
	         devsys_store_task_state(c->p->store, c->p->task_id) == DEVSYS_STATE_CANCELED) {
		c->p->canceled = 1;
		return devsys__pipeline_result(c->res, stage,
		                               devsys__error_set(DEVSYS_ECANCELED, "task '%s' was canceled", c->p->task_id),
		                               DEVSYS_FAILURE_CANCELED, "canceled");
	}
	if (rc == DEVSYS_EBUSY) /* another process runs the task: nothing of it is this run's to record */
		return devsys__pipeline_result(c->res, stage, rc, DEVSYS_FAILURE_SYSTEM, "busy");
	if (rc < 0 || (rc = devsys__pipeline_record_stage(c->task, stage, NULL, NULL, NULL)) < 0)
		return devsys__pipeline_result(c->res, stage, rc, DEVSYS_FAILURE_SYSTEM, "record-failed");
	devsys__pipeline_emit(c->p, DEVSYS_PIPELINE_EVENT_STAGE_BEGIN, stage, NULL, NULL, 0, 0, 0);
	return 0;
}

int devsys__pipeline_end(devsys__stage_ctx *c, const char *stage, int rc, int fclass, const char *outcome, int to)
{
	devsys_stage_result told = DEVSYS_STAGE_RESULT_INIT;
	char msg[1024];
	const char *result = fclass == DEVSYS_FAILURE_NONE ? "ok" : fclass == DEVSYS_FAILURE_CANCELED ? "canceled" : "failed";
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	if (devsys_store_stage_end(c->p->store, c->p->task_id, stage, result, to) < 0 && fclass == DEVSYS_FAILURE_NONE) {
		rc = devsys_error_code(devsys_error_last());
		fclass = DEVSYS_FAILURE_SYSTEM;
		outcome = "record-failed";
	} else if (devsys__pipeline_record_stage(c->task, stage, result, devsys_failure_class_name(fclass), msg) < 0 &&
	           fclass == DEVSYS_FAILURE_NONE) {
		rc = devsys_error_code(devsys_error_last());
		fclass = DEVSYS_FAILURE_SYSTEM;
		outcome = "record-failed";
	} else if (fclass != DEVSYS_FAILURE_NONE)
		devsys__error_set(rc, "%s", msg);
	c->fclass = fclass;
	devsys__pipeline_result(&told, stage, rc, fclass, outcome);
	devsys__pipeline_emit(c->p, DEVSYS_PIPELINE_EVENT_STAGE_END, stage, &told, NULL, 0, 0, 0);
	return devsys__pipeline_result(c->res, stage, rc, fclass, outcome);
}

int devsys__pipeline_stage_recorded(char *out, size_t outsz, devsys_task *task, const char *stage)
{
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	json_t *doc = NULL;
	const char *r;
	int rc;
	out[0] = '\0';
	if ((rc = devsys_record_open(&rec, task)) == 0 && (rc = devsys_record_json(rec, &j)) == 0 &&
	    (doc = json_loads(j.ptr ? j.ptr : "{}", 0, NULL)) &&
	    (r = json_string_value(json_object_get(json_object_get(json_object_get(doc, "stages"), stage), "result"))))
		snprintf(out, outsz, "%s", r);
	json_decref(doc);
	devsys_buf_dispose(&j);
	devsys_record_free(rec);
	return rc;
}

int devsys__pipeline_failure_of_runner(int failure)
{
	switch (failure) {
	case DEVSYS_RUNNER_OK:
		return DEVSYS_FAILURE_NONE;
	case DEVSYS_RUNNER_BUILD_FAILURE:
		return DEVSYS_FAILURE_BUILD;
	case DEVSYS_RUNNER_TIMEOUT:
		return DEVSYS_FAILURE_TIMEOUT;
	case DEVSYS_RUNNER_CANCELED:
		return DEVSYS_FAILURE_CANCELED;
	case DEVSYS_RUNNER_STALLED:
		return DEVSYS_FAILURE_STALLED;
	case DEVSYS_RUNNER_OUTPUT_LIMIT:
		return DEVSYS_FAILURE_BUILD; /* the command's own output broke its budget */
	default:
		return DEVSYS_FAILURE_SYSTEM;
	}
}
