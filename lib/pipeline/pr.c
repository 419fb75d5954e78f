/*
 * The pr stage and the forge the later stages share: the task's forge
 * (opened once per run), its PR (opened here, reopened from the record's
 * marker by a later stage in another process), and the commit statuses the
 * test, deploy and verify stages set.
 *
 * Resume safety: the PR number goes into task.json (`pr`) the moment the
 * forge returns it, before the stage ends, and every later open passes it
 * back, so a kill -9 anywhere never makes a second PR (the forge's own
 * look-up by head branch covers a kill between its answer and the marker).
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define MAXLIST 32   /* the schema's maxItems for repo.pr.labels and .reviewers */
#define MAXACCEPT 100 /* the schema's maxItems for deploy.acceptance */

static const size_t forge_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_forge_options, ext), /* 1 */
};

/* ---- the forge ---- */

/* Does the forges: entry of @p url name a token_secret? (Then the forge
 * needs a secrets set to resolve it.) */
static bool needs_secret(const devsys_config *cfg, const char *url)
{
	devsys_buf host = DEVSYS_BUF_INIT;
	const char *entry = NULL, *secret = NULL;
	bool need = false;
	if (cfg && devsys_forge_remote_host(&host, url) == 0 &&
	    devsys_config_forge_match(&entry, cfg, host.ptr ? host.ptr : "") == 0 &&
	    devsys_config_forge_value(&secret, NULL, cfg, entry, "token_secret") == 0)
		need = secret != NULL;
	devsys_buf_dispose(&host);
	devsys_error_clear(); /* no entry: devsys_forge_new() says so itself */
	return need;
}

int devsys__pipeline_forge(devsys__stage_ctx *c)
{
	devsys_forge_options o = DEVSYS_FORGE_OPTIONS_INIT;
	const char *url = devsys_spec_get_string(c->p->spec, "/repo/url");
	int rc;
	if (c->forge)
		return 0;
	if (!url)
		return devsys__error_set(DEVSYS_EINVALID, "%s: /repo/url: the spec names no repository",
		                         devsys_spec_name(c->p->spec));
	if (c->p->forge_opts &&
	    (rc = devsys__versioned_copy(&o, c->p->forge_opts, forge_options_sizes, DEVSYS_FORGE_OPTIONS_VERSION,
	                                 "devsys_pipeline_options.forge")) < 0)
		return rc;
	o.version = DEVSYS_FORGE_OPTIONS_VERSION;
	o.remote_url = url;
	if (!o.config)
		o.config = c->p->config;
	if (!o.task)
		o.task = c->task;
	if (!o.secrets && needs_secret(o.config, url)) {
		/* resolutions are recorded in the task's events.jsonl by the pipeline */
		if (!c->secrets && (rc = devsys__pipeline_secrets_new(&c->secrets, c->p->ws)) < 0)
			return rc;
		o.secrets = c->secrets;
	}
	return devsys_forge_new(&c->forge, &o);
}

int devsys__pipeline_set_status(devsys__stage_ctx *c, const char *context, int state, const char *description)
{
	const char *sha;
	int rc;
	if ((rc = devsys__pipeline_repo(c)) < 0 || (rc = devsys__pipeline_forge(c)) < 0)
		return rc;
	if (!(sha = devsys_repo_head_sha(c->repo)))
		return devsys__error_set(DEVSYS_ESTATE, "task '%s' has no pushed head commit to set %s on", c->p->task_id,
		                         context);
	return devsys_forge_set_status(c->forge, sha, context, state, description, NULL);
}

/* ---- the task record ---- */

/* task.json as it is now, a new reference. */
static int record_doc(json_t **out, devsys_task *task)
{
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	int rc;
	*out = NULL;
	if ((rc = devsys_record_open(&rec, task)) == 0 && (rc = devsys_record_json(rec, &j)) == 0 &&
	    !(*out = json_loads(j.ptr ? j.ptr : "{}", 0, NULL)))
		rc = devsys__error_set(DEVSYS_EPARSE, "task '%s': task.json cannot be read back", devsys_task_id(task));
	devsys_buf_dispose(&j);
	devsys_record_free(rec);
	return rc;
}

/* The PR number the record keeps: the pipeline's marker, else what
 * `devsys pr open` wrote; 0 when there is none. */
static int64_t recorded_number(const json_t *doc)
{
	json_int_t n = json_integer_value(json_object_get(json_object_get(doc, "pr"), "number"));
	if (n <= 0)
		n = json_integer_value(json_object_get(doc, "pr_number"));
	return n > 0 ? (int64_t)n : 0;
}

/* The marker, written the moment the forge answered: {number, url, provider}
 * (and pr_number / pr_url, the keys `devsys pr` reads), and a pr.opened event. */
static int write_marker(devsys__stage_ctx *c)
{
	devsys_record *rec = NULL;
	json_t *m = json_pack("{s:I,s:s?,s:s,s:s,s:b}", "number", (json_int_t)devsys_pr_number(c->pr), "url",
	                      devsys_pr_url(c->pr), "provider", devsys_forge_provider(c->forge), "head",
	                      devsys_pr_head(c->pr) ? devsys_pr_head(c->pr) : "", "reused", devsys_pr_reused(c->pr));
	char *s = m ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc;
	json_decref(m);
	if (!s)
		return devsys__error_oom();
	if ((rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_set_json(rec, "pr", s)) == 0 &&
	    (rc = devsys_record_set_int(rec, "pr_number", devsys_pr_number(c->pr))) == 0 &&
	    (rc = devsys_record_set_string(rec, "pr_url", devsys_pr_url(c->pr))) == 0 &&
	    (rc = devsys_record_save(rec)) == 0)
		rc = devsys_record_event(rec, "pr.opened", s, NULL);
	devsys_record_free(rec);
	free(s);
	return rc;
}

int devsys__pipeline_pr(devsys__stage_ctx *c)
{
	json_t *doc = NULL;
	int64_t n;
	int rc;
	if (c->pr)
		return 0;
	if ((rc = record_doc(&doc, c->task)) < 0)
		return rc;
	n = recorded_number(doc);
	json_decref(doc);
	if (n == 0)
		return devsys__error_set(DEVSYS_ENOTFOUND, "task '%s' has no pull request in its record (the pr stage "
		                                           "has not opened one)",
		                         c->p->task_id);
	if ((rc = devsys__pipeline_forge(c)) < 0)
		return rc;
	return devsys_pr_get(&c->pr, c->forge, n);
}

/* ---- what the PR says ---- */

/* Strings of the spec's list at @p ptr, split into those with a '/'
 * (teams) and those without, at most MAXLIST each. */
static void spec_list(const devsys_spec *spec, const char *ptr, const char **plain, size_t *nplain,
                      const char **slashed, size_t *nslashed)
{
	const devsys_node *l = devsys_node_get(devsys_spec_at(spec, 0), ptr);
	for (size_t i = 0; i < devsys_node_size(l); i++) {
		const char *s = devsys_node_string(devsys_node_at(l, i), NULL);
		if (!s)
			continue;
		if (slashed && strchr(s, '/')) {
			if (*nslashed < MAXLIST)
				slashed[(*nslashed)++] = s;
		} else if (*nplain < MAXLIST)
			plain[(*nplain)++] = s;
	}
}

/* The profile the agent ran under ("inproc" without one). */
static const char *agent_profile(const devsys_spec *spec)
{
	const char *p = devsys_spec_get_string(spec, "/agent/runner");
	return p ? p : devsys_spec_get_string(spec, "/runner") ? devsys_spec_get_string(spec, "/runner") : "inproc";
}

struct pr_text {
	devsys_buf body, summary, report, verification, agent;
	const char *labels[MAXLIST], *reviewers[MAXLIST], *teams[MAXLIST], *accept[MAXACCEPT];
	size_t nlabels, nreviewers, nteams, naccept;
	devsys_masker *masker;
};

static void pr_text_dispose(struct pr_text *t)
{
	devsys_buf_dispose(&t->body);
	devsys_buf_dispose(&t->summary);
	devsys_buf_dispose(&t->report);
	devsys_buf_dispose(&t->verification);
	devsys_buf_dispose(&t->agent);
	devsys_masker_free(t->masker);
}

/* One verification item as a word: true/false, or the recorded text ("skipped"). */
static const char *verdict_word(const json_t *v)
{
	return json_is_true(v) ? "yes" : json_is_false(v) ? "no" : json_is_string(v) ? json_string_value(v) : "-";
}

/* task.json's "verification" (the verify stage's) as the body's lines, once it ran. */
static int verification_text(devsys_buf *out, const json_t *doc)
{
	const json_t *v = json_object_get(doc, "verification"), *sk = json_object_get(v, "speckit_findings");
	if (!json_is_object(v))
		return 0;
	int rc = devsys_buf_printf(out,
	                           "verified:           %s\nspec re-validated:  %s\nacceptance checks:  %s\n"
	                           "JUnit green:        %s\nspec-kit:           %s",
	                           verdict_word(json_object_get(v, "verified")),
	                           verdict_word(json_object_get(v, "spec_revalidated")),
	                           verdict_word(json_object_get(v, "acceptance")),
	                           verdict_word(json_object_get(v, "junit_green")),
	                           verdict_word(json_object_get(v, "speckit")));
	/* the validator's and the phantom check's findings, as verify listed them */
	for (size_t i = 0; rc == 0 && i < json_array_size(sk); i++)
		rc = devsys_buf_printf(out, "\n  %s", verdict_word(json_array_get(sk, i)));
	return rc < 0 ? devsys__error_oom() : 0;
}

/* Up to @p max strings of @p list, ", "-joined, and how many of @p total were left out. */
static void join_some(devsys_buf *out, const json_t *list, size_t max, size_t total)
{
	size_t i, shown = json_array_size(list) < max ? json_array_size(list) : max;
	const json_t *v;
	json_array_foreach(list, i, v) if (i < shown) devsys_buf_printf(out, "%s%s", i ? ", " : "", json_string_value(v));
	if (total > shown)
		devsys_buf_printf(out, "%s(and %zu more)", shown ? " " : "", total - shown);
	if (!total)
		devsys_buf_puts(out, "(none)");
}

/* The files the agent's writing tools named (agent.usage.tools), once each. */
static json_t *files_touched(const json_t *usage)
{
	static const char *const ro[] = { "read", "glob", "grep", "list", "webfetch", "todoread", "skill" };
	json_t *files = json_array(), *t, *p, *q;
	size_t i, k, m;
	json_array_foreach(json_object_get(usage, "tools"), i, t)
	{
		const char *tool = json_string_value(json_object_get(t, "tool"));
		bool look = !tool;
		for (size_t r = 0; tool && r < sizeof(ro) / sizeof(ro[0]); r++)
			look = look || !strcmp(ro[r], tool);
		if (look)
			continue;
		json_array_foreach(json_object_get(t, "paths"), k, p)
		{
			bool seen = false;
			json_array_foreach(files, m, q) seen = seen || json_equal(p, q);
			if (!seen)
				json_array_append(files, p);
		}
	}
	return files;
}

/*
 * The coding agent's digest for the PR (task.json agent.usage and
 * agent.cross_check): the outcome and totals, the files its tools wrote,
 * the changed files no tool call named, and the steps with their tools.
 * Capped by the body builder; the record has the whole transcript.
 */
static int agent_text(devsys_buf *out, const json_t *doc)
{
	const json_t *ag = json_object_get(doc, "agent"), *u = json_object_get(ag, "usage"), *cc, *st;
	json_t *files;
	size_t i;
	if (!json_is_object(u))
		return 0;
	cc = json_object_get(ag, "cross_check");
	devsys_buf_printf(out, "outcome: %s\ntotals: %lld steps, %lld tool calls, %lld tokens, cost %g\n",
	                  json_string_value(json_object_get(ag, "outcome")) ? json_string_value(json_object_get(ag, "outcome"))
	                                                                      : "-",
	                  (long long)json_integer_value(json_object_get(u, "steps")),
	                  (long long)json_integer_value(json_object_get(u, "tool_calls")),
	                  (long long)json_integer_value(json_object_get(u, "tokens")),
	                  json_number_value(json_object_get(u, "cost")));
	files = files_touched(u);
	devsys_buf_puts(out, "files written by tools: ");
	join_some(out, files, 30, json_array_size(files));
	json_decref(files);
	if (json_is_object(cc)) {
		devsys_buf_printf(out, "\nchanged by the commit: %lld; not named by any tool call: ",
		                  (long long)json_integer_value(json_object_get(cc, "changed")));
		join_some(out, json_object_get(cc, "not_touched"), 30,
		          (size_t)json_integer_value(json_object_get(cc, "not_touched_count")));
	}
	devsys_buf_puts(out, "\n");
	json_array_foreach(json_object_get(u, "per_step"), i, st)
	{
		const json_t *tools = json_object_get(st, "tools");
		if (i == 20) {
			devsys_buf_printf(out, "(%zu steps more in logs/agent.log)\n", json_array_size(json_object_get(u, "per_step")) - i);
			break;
		}
		devsys_buf_printf(out, "step %lld: ", (long long)json_integer_value(json_object_get(st, "step")));
		if (json_array_size(tools))
			join_some(out, tools, 5, json_array_size(tools));
		else
			devsys_buf_puts(out, "(no tool)");
		devsys_buf_printf(out, "; %lld tokens\n", (long long)json_integer_value(json_object_get(st, "tokens")));
	}
	return out->ptr ? 0 : devsys__error_oom();
}

/* The body: the task id, the spec's description (and repo.pr.body), the
 * spec's path and content id, its validation, the acceptance checklist, the
 * runner, the latest test report, the verification (once verify ran) and
 * (from the gate) its decision. */
static int build_body(struct pr_text *t, devsys__stage_ctx *c, const json_t *doc, const char *gate)
{
	const devsys_spec *spec = c->p->spec;
	devsys_pr_body b = DEVSYS_PR_BODY_INIT;
	const char *desc = devsys_spec_get_string(spec, "/description"), *extra = devsys_spec_get_string(spec, "/repo/pr/body");
	unsigned int run = 0;
	for (; t->naccept < MAXACCEPT; t->naccept++) {
		char ptr[64];
		snprintf(ptr, sizeof(ptr), "/deploy/acceptance/%zu/name", t->naccept);
		if (!(t->accept[t->naccept] = devsys_spec_get_string(spec, ptr)))
			break;
	}
	if (devsys_buf_printf(&t->summary, "%s%s%s", desc ? desc : "", desc && extra ? "\n\n" : "", extra ? extra : "") < 0)
		return devsys__error_oom();
	if (devsys_record_latest_run(c->task, &run) == 0) {
		if (devsys_buf_printf(&t->report, "reports/%u/summary.json in task %s's record", run, c->p->task_id) < 0)
			return devsys__error_oom();
		b.report = t->report.ptr;
	}
	devsys_error_clear(); /* no test run yet */
	b.task_id = c->p->task_id;
	b.summary = t->summary.size ? t->summary.ptr : NULL;
	b.spec_path = json_string_value(json_object_get(doc, "spec_path"));
	b.spec_id = json_string_value(json_object_get(doc, "spec_hash"));
	b.validation = "valid"; /* no stage after validate runs on a spec that is not */
	b.acceptance = t->accept;
	b.nacceptance = t->naccept;
	b.runner = agent_profile(spec);
	b.gate = gate && *gate ? gate : NULL;
	if (verification_text(&t->verification, doc) < 0)
		return devsys_error_code(devsys_error_last());
	b.verification = t->verification.size ? t->verification.ptr : NULL;
	if (agent_text(&t->agent, doc) < 0)
		return devsys_error_code(devsys_error_last());
	b.agent = t->agent.size ? t->agent.ptr : NULL;
	return devsys_pr_body_build(&t->body, &b, t->masker);
}

/* The PR's options from the spec and the checkout; @p gate: the decision to show. */
static int pr_options(devsys_pr_options *po, struct pr_text *t, devsys__stage_ctx *c, const json_t *doc,
                      const char *gate)
{
	const devsys_spec *spec = c->p->spec;
	const devsys_node *draft = devsys_node_get(devsys_spec_at(spec, 0), "/repo/pr/draft");
	const char *title = devsys_spec_get_string(spec, "/repo/pr/title");
	int rc;
	if (c->secrets && (rc = devsys_secrets_masker(&t->masker, c->secrets)) < 0)
		return rc;
	if ((rc = build_body(t, c, doc, gate)) < 0)
		return rc;
	spec_list(spec, "/repo/pr/labels", t->labels, &t->nlabels, NULL, NULL);
	spec_list(spec, "/repo/pr/reviewers", t->reviewers, &t->nreviewers, t->teams, &t->nteams);
	po->title = title ? title : devsys_spec_get_string(spec, "/title");
	po->body = t->body.ptr;
	po->head = devsys_repo_branch(c->repo);
	po->base = devsys_repo_base_branch(c->repo);
	po->head_sha = devsys_repo_head_sha(c->repo);
	po->base_sha = devsys_repo_base_sha(c->repo);
	po->draft = draft ? devsys_node_bool(draft) : 1; /* the schema's default */
	po->labels = t->labels;
	po->nlabels = t->nlabels;
	po->reviewers = t->reviewers;
	po->nreviewers = t->nreviewers;
	po->team_reviewers = t->teams;
	po->nteam_reviewers = t->nteams;
	po->number = recorded_number(doc);
	po->masker = t->masker;
	return 0;
}

/* Open the task's PR, or reuse the one the record or the forge knows, and
 * write the marker before anything else happens. */
static int open_pr(devsys__stage_ctx *c, const char *gate)
{
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	struct pr_text t;
	json_t *doc = NULL;
	int rc;
	memset(&t, 0, sizeof(t));
	if ((rc = devsys__pipeline_repo(c)) < 0 || (rc = devsys__pipeline_forge(c)) < 0 ||
	    (rc = record_doc(&doc, c->task)) < 0 || (rc = pr_options(&po, &t, c, doc, gate)) < 0)
		goto out;
	devsys_pr_free(c->pr);
	c->pr = NULL;
	if ((rc = devsys_pr_open(&c->pr, c->forge, &po)) < 0)
		goto out;
	if (!gate) /* the gate's update keeps the marker the pr stage wrote */
		rc = write_marker(c);
out:
	json_decref(doc);
	pr_text_dispose(&t);
	return rc;
}

int devsys__pipeline_pr_update(devsys__stage_ctx *c, const char *gate)
{
	return open_pr(c, gate);
}

int devsys__stage_pr(devsys__stage_ctx *c)
{
	char label[64];
	int rc;
	if ((rc = devsys__pipeline_begin(c, "pr")) < 0)
		return rc;
	if ((rc = open_pr(c, NULL)) < 0)
		return devsys__pipeline_end(c, "pr", rc,
		                            rc == DEVSYS_EINVALID ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM,
		                            "pr-failed", -1);
	/* after the marker, before the stage's end: a progress view shows it */
	snprintf(label, sizeof(label), "PR #%lld %s", (long long)devsys_pr_number(c->pr),
	         devsys_pr_reused(c->pr) ? "reused" : "opened");
	devsys__pipeline_emit(c->p, DEVSYS_PIPELINE_EVENT_PROGRESS, "pr", NULL, label, strlen(label), 1, 1);
	return devsys__pipeline_end(c, "pr", 0, DEVSYS_FAILURE_NONE, devsys_pr_reused(c->pr) ? "pr-reused" : "pr-opened",
	                            DEVSYS_STATE_PR_OPENED);
}
