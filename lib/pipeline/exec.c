/*
 * What the stages share for running commands: the runner a step's profile
 * names, and an exec that the pipeline's cancel and progress reach.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "config/runner_pool.h"
#include "git/git_int.h"

#include "devsys/forge.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DEVSYS_HAVE_MODULE_DOCKER
#include "devsys/sys/runner_docker.h"
#endif
#ifdef DEVSYS_HAVE_MODULE_DIND
#include "devsys/sys/runner_dind.h"
#endif

/* The profile step @p step runs under: its own `runner:`, else the spec's. */
static const char *step_profile(const devsys_pipeline *p, const char *step)
{
	char ptr[64];
	const char *name;
	snprintf(ptr, sizeof(ptr), "/%s/runner", step);
	name = devsys_spec_get_string(p->spec, ptr);
	return name ? name : devsys_spec_get_string(p->spec, "/runner");
}

static bool has_profile(const devsys_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < devsys_config_runner_count(cfg); i++)
		if (strcmp(devsys_config_runner_name(cfg, i), name) == 0)
			return true;
	return false;
}

const char *devsys__pipeline_profile(const devsys_pipeline *p, const char *step)
{
	const char *profile = step_profile(p, step);
	if (!profile || !p->config || (strcmp(profile, "inproc") == 0 && !has_profile(p->config, profile)))
		return NULL;
	return profile;
}

int devsys__pipeline_open_runner(devsys_runner **out, devsys_pipeline *p, const char *step)
{
	return devsys__pipeline_open_runner_masked(out, p, step, NULL);
}

int devsys__pipeline_open_runner_masked(devsys_runner **out, devsys_pipeline *p, const char *step,
                                        devsys_masker *masker)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *profile = step_profile(p, step), *type = "inproc";
	devsys__cfg_pool pool;
#ifdef DEVSYS_HAVE_MODULE_DOCKER
	devsys_runner_docker_options dk = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
#endif
#ifdef DEVSYS_HAVE_MODULE_DIND
	devsys_runner_dind_options dx = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
#endif
	int rc;

	*out = NULL;
	if (p->runner_opts)
		memcpy(&o, p->runner_opts,
		       p->runner_opts->version < DEVSYS_RUNNER_OPTIONS_VERSION ? offsetof(devsys_runner_options, backend_tag)
		                                                               : sizeof(o));
	o.version = DEVSYS_RUNNER_OPTIONS_VERSION;
	if (!o.ws)
		o.ws = p->ws;
	if (masker)
		o.masker = masker;
	/* "inproc" is the built-in runner unless the operator defines a profile of that name */
	if (profile && strcmp(profile, "inproc") == 0 && !has_profile(p->config, profile))
		profile = NULL;
	if (profile && !p->config) {
		if (strcmp(profile, "inproc") != 0)
			return devsys__error_set(DEVSYS_ENOTFOUND,
			                         "%s: /%s/runner: the spec names runner profile '%s', but no operator "
			                         "configuration (devsys.yaml) is loaded; only 'inproc' works without one",
			                         devsys_spec_name(p->spec), step, profile);
		profile = NULL;
	}
	if (profile && (rc = devsys_config_runner(p->config, profile, &type, &o)) < 0)
		return rc;
	const char **endpoint = NULL; /* a pool's Docker endpoint goes here */
#ifdef DEVSYS_HAVE_MODULE_DOCKER
	if (profile && strcmp(type, "host-docker") == 0) {
		if ((rc = devsys_config_runner_docker(p->config, profile, &dk)) < 0)
			return rc;
		o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
		o.backend_options = &dk;
		endpoint = &dk.host;
	}
#endif
#ifdef DEVSYS_HAVE_MODULE_DIND
	if (profile && strcmp(type, "dind") == 0) {
		if ((rc = devsys_config_runner_dind(p->config, profile, &dx, &dk)) < 0)
			return rc;
		o.backend_tag = DEVSYS_RUNNER_DIND_TAG;
		o.backend_options = &dx;
		endpoint = &dk.host;
	}
#endif
	if (profile && (rc = devsys__config_runner_pool(&pool, p->config, profile)) == 0 && pool.n > 0)
		return devsys__pool_open(out, p, step, profile, type, &o, endpoint);
	return devsys_runner_open(out, type, &o);
}

struct exec_tap {
	devsys__stage_ctx *c;
	const char *stage;
	devsys_runner_output_cb chained;
	void *chained_payload;
};

/* Output goes to the progress callback; a cancel asked for meanwhile stops the command. */
static int tap_output(int stream, const char *data, size_t len, void *payload)
{
	struct exec_tap *t = payload;
	if (t->chained && t->chained(stream, data, len, t->chained_payload) != 0)
		return 1;
	if (devsys__pipeline_emit(t->c->p, DEVSYS_PIPELINE_EVENT_OUTPUT, t->stage, NULL, data, len, 0, 0) != 0)
		return 1;
	return t->c->p->canceled != 0;
}

/*
 * Every command a stage runs gets DEVSYS_PIPELINE_DEPTH, this process's
 * depth plus one, so that a `devsys run` inside it (a self-improvement task
 * whose tests run devsys's own suite) knows it is nested and refuses to
 * recurse (docs/pipeline.md, "Self-improvement"). A stage's own entry for
 * it is replaced. Returns a new array of borrowed strings, or NULL.
 */
#define DEPTH_VAR "DEVSYS_PIPELINE_DEPTH"
static const char **depth_env(const char *const *env, char *entry, size_t size)
{
	const char *cur = getenv(DEPTH_VAR);
	char *end = NULL;
	long d = cur && *cur ? strtol(cur, &end, 10) : 0;
	size_t n = 0, k = 0;
	const char **v;
	if ((end && *end) || d < 0) /* not a depth we set: count it as one level */
		d = 1;
	if (d > 99)
		d = 99;
	snprintf(entry, size, DEPTH_VAR "=%ld", d + 1);
	while (env && env[n])
		n++;
	if (!(v = devsys__malloc((n + 2) * sizeof(*v))))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], DEPTH_VAR "=", sizeof(DEPTH_VAR)) != 0)
			v[k++] = env[i];
	v[k++] = entry;
	v[k] = NULL;
	return v;
}

int devsys__pipeline_exec(devsys__stage_ctx *c, devsys_runner *runner, devsys_runner_cmd *cmd, devsys_runner_result *rr)
{
	struct exec_tap tap = { c, cmd->stage ? cmd->stage : "exec", cmd->output_cb, cmd->output_payload };
	const char *const *env = cmd->env;
	const char **denv;
	char depth[sizeof(DEPTH_VAR) + 8];
	int rc;
	if (c->p->canceled) {
		rr->failure = DEVSYS_RUNNER_CANCELED;
		return devsys__error_set(DEVSYS_ECANCELED, "task '%s' was canceled before %s ran", c->p->task_id, tap.stage);
	}
	if (!(denv = depth_env(env, depth, sizeof(depth))))
		return devsys__error_oom();
	cmd->env = denv;
	cmd->output_cb = tap_output;
	cmd->output_payload = &tap;
	pthread_mutex_lock(&c->p->running_lock);
	c->p->running = runner;
	pthread_mutex_unlock(&c->p->running_lock);
	/* a cancel that came between the check above and here */
	if (c->p->canceled)
		devsys_runner_cancel(runner);
	rc = devsys_runner_exec(runner, cmd, rr);
	if (rc < 0)
		devsys__pool_after_exec(c->p, runner, rr);
	pthread_mutex_lock(&c->p->running_lock);
	c->p->running = NULL;
	pthread_mutex_unlock(&c->p->running_lock);
	cmd->output_cb = tap.chained;
	cmd->output_payload = tap.chained_payload;
	cmd->env = env;
	devsys__free(denv);
	/* stopped by devsys_pipeline_cancel() (through the output callback or
	 * the runner): the documented code, not the callback's DEVSYS_EUSER */
	if (rc < 0 && c->p->canceled && rr->failure == DEVSYS_RUNNER_CANCELED && rc != DEVSYS_ECANCELED)
		rc = devsys__error_set(DEVSYS_ECANCELED, "task '%s' was canceled during %s", c->p->task_id, tap.stage);
	return rc;
}

/*
 * Does the operator's devsys.yaml have a `forges:` entry for @p url with a
 * token? Then the push authenticates with that token (through the forge),
 * never with the environment.
 */
static bool forge_has_token(const devsys_pipeline *p, const char *url)
{
	devsys_buf host = DEVSYS_BUF_INIT;
	const char *entry = NULL, *secret = NULL, *where = NULL;
	bool yes = false;
	if (p->config && url && devsys_forge_remote_host(&host, url) == 0 && host.ptr && host.ptr[0] &&
	    devsys_config_forge_match(&entry, p->config, host.ptr) == 0)
		yes = devsys_config_forge_value(&secret, &where, p->config, entry, "token_secret") == 0 && secret;
	devsys_buf_dispose(&host);
	return yes;
}

/*
 * The repo's progress, chained: the caller's own callback (from the
 * pipeline's repo options) first, then a PROGRESS event, so the live view
 * has counts for clone, checkout and push. Non-zero from either, or a
 * cancel, stops the git operation. The payload is the run's context, which
 * outlives the repo (the run frees the repo first).
 */
static int repo_progress(const devsys_repo_progress *pr, void *payload)
{
	devsys__stage_ctx *c = payload;
	const devsys_repo_options *own = c->p->repo_opts;
	const char *label = pr->stage == DEVSYS_REPO_STAGE_CHECKOUT ? "files" : "objects";
	if (own && own->progress && own->progress(pr, own->progress_payload) != 0)
		return 1;
	if (devsys__pipeline_emit(c->p, DEVSYS_PIPELINE_EVENT_PROGRESS,
	                          pr->stage == DEVSYS_REPO_STAGE_PUSH ? "push" : "checkout", NULL, label, strlen(label),
	                          pr->done_objects, pr->total_objects) != 0)
		return 1;
	return c->p->canceled != 0;
}

int devsys__pipeline_repo(devsys__stage_ctx *c)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo_credential_provider chain[2] = { { devsys_forge_credentials, NULL },
		                                     { devsys_repo_key_credentials, NULL } };
	const devsys_spec *spec = c->p->spec;
	int rc;
	if (c->repo)
		return 0;
	if (c->p->repo_opts)
		memcpy(&o, c->p->repo_opts, sizeof(o)); /* version 1 is the only one (checked by the run) */
	o.url = devsys_spec_get_string(spec, "/repo/url");
	if (devsys_spec_get_string(spec, "/repo/base_branch"))
		o.base_branch = devsys_spec_get_string(spec, "/repo/base_branch");
	if (devsys_spec_get_string(spec, "/repo/branch_template"))
		o.branch_template = devsys_spec_get_string(spec, "/repo/branch_template");
	o.progress = repo_progress;
	o.progress_payload = c;
	/* The caller's own chain wins; else the forge's token for its host. The
	 * run frees the repo before the forge, so the payload outlives its use. */
	if (!o.credentials && forge_has_token(c->p, o.url)) {
		if ((rc = devsys__pipeline_forge(c)) < 0)
			return rc;
		chain[0].payload = c->forge;
		o.credentials = chain;
		o.ncredentials = 2;
	}
	{
		/* a task resumed here after another host committed it: its branch at the recorded commit */
		char head[48] = "", base[48] = "";
		if ((rc = devsys__pipeline_resume_point(c, head, base, sizeof(head))) < 0)
			return rc;
		return devsys__repo_open_task_at(&c->repo, c->task, &o, rc ? head : NULL, rc && base[0] ? base : NULL);
	}
}

int devsys__strvec_push(devsys__strvec *s, char *owned)
{
	if (!owned)
		return devsys__error_oom();
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = devsys__realloc(s->v, cap * sizeof(*v));
		if (!v) {
			devsys__free(owned);
			return devsys__error_oom();
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = owned;
	s->v[s->n] = NULL;
	return 0;
}

void devsys__strvec_free(devsys__strvec *s)
{
	for (size_t i = 0; i < s->n; i++)
		devsys__free(s->v[i]);
	devsys__free(s->v);
	memset(s, 0, sizeof(*s));
}
