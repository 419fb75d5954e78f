/*
 * Forge commands: a task's pull request and the merge gate.
 *   devsys pr open   TASK [--title T] [--body-file F] [--spec PATH] [--draft] [--label L]... [--reviewer R]... [--team T]...
 *   devsys pr show   TASK
 *   devsys pr review TASK --approve|--request-changes --as NAME [--sha SHA]
 *   devsys gate check TASK [--merge] [--wait MS] [--profile P] [--spec-risk CLASS] [--require-approval]
 *   devsys forge protect BRANCH --url URL [--context C]... [--approvals N]
 * Shared: --url URL (default: the task record's repo_url), --config FILE
 * (devsys.yaml: forges: and policy:). The token comes from the forges:
 * entry's token_secret through the secrets module, never the command line.
 * The task record gets pr_number, pr_url and gate (this is its caller).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#ifdef DEVSYS_HAVE_MODULE_FORGE

#define MAXLIST 32

struct fargs {
	const char *id, *url, *config, *title, *body_file, *as, *sha, *profile, *spec_risk, *spec;
	const char *labels[MAXLIST], *reviewers[MAXLIST], *teams[MAXLIST], *contexts[MAXLIST];
	size_t nlabels, nreviewers, nteams, ncontexts;
	int draft, approve, request_changes, merge, require_approval;
	unsigned int wait_ms, approvals;
};

/* Everything a command works with; closed by ctx_close(). */
struct ctx {
	devsys_workspace *ws;
	devsys_task *task;
	devsys_record *rec;
	json_t *record; /* task.json as read */
	devsys_config *cfg;
	devsys_secrets *secrets;
	devsys_repo *repo;
	devsys_forge *forge;
	devsys_pr *pr;
};

static void ctx_close(struct ctx *c)
{
	devsys_pr_free(c->pr);
	devsys_forge_free(c->forge);
	devsys_repo_free(c->repo);
	devsys_secrets_free(c->secrets);
	devsys_config_free(c->cfg);
	json_decref(c->record);
	devsys_record_free(c->rec);
	devsys_task_free(c->task);
	devsys_workspace_free(c->ws);
}

static int add_list(devsys_cli *cli, const char **v, size_t *n, const char *val, const char *opt)
{
	if (*n == MAXLIST)
		return devsys_cli_usage_error(cli, "%s: at most %d values", opt, MAXLIST);
	v[(*n)++] = val;
	return DEVSYS_EXIT_OK;
}

static int parse_flag(struct fargs *a, const char *opt)
{
	if (!strcmp(opt, "--draft"))
		a->draft = 1;
	else if (!strcmp(opt, "--approve"))
		a->approve = 1;
	else if (!strcmp(opt, "--request-changes"))
		a->request_changes = 1;
	else if (!strcmp(opt, "--merge"))
		a->merge = 1;
	else if (!strcmp(opt, "--require-approval"))
		a->require_approval = 1;
	else
		return 0;
	return 1;
}

static int parse_value(devsys_cli *cli, struct fargs *a, const char *opt, const char *val)
{
	char *end;
	if (!strcmp(opt, "--url")) a->url = val;
	else if (!strcmp(opt, "--config")) a->config = val;
	else if (!strcmp(opt, "--title")) a->title = val;
	else if (!strcmp(opt, "--body-file")) a->body_file = val;
	else if (!strcmp(opt, "--as")) a->as = val;
	else if (!strcmp(opt, "--sha")) a->sha = val;
	else if (!strcmp(opt, "--profile")) a->profile = val;
	else if (!strcmp(opt, "--spec-risk")) a->spec_risk = val;
	else if (!strcmp(opt, "--spec")) a->spec = val;
	else if (!strcmp(opt, "--label")) return add_list(cli, a->labels, &a->nlabels, val, opt);
	else if (!strcmp(opt, "--reviewer")) return add_list(cli, a->reviewers, &a->nreviewers, val, opt);
	else if (!strcmp(opt, "--team")) return add_list(cli, a->teams, &a->nteams, val, opt);
	else if (!strcmp(opt, "--context")) return add_list(cli, a->contexts, &a->ncontexts, val, opt);
	else if (!strcmp(opt, "--wait") || !strcmp(opt, "--approvals")) {
		unsigned long v = strtoul(val, &end, 10);
		if (!*val || *end || v > 3600000ul)
			return devsys_cli_usage_error(cli, "%s: '%s' is not a number", opt, val);
		*(!strcmp(opt, "--wait") ? &a->wait_ms : &a->approvals) = (unsigned int)v;
	} else
		return devsys_cli_usage_error(cli, "unknown option '%s'", opt);
	return DEVSYS_EXIT_OK;
}

/* argv[0] is the command, argv[1] the action, argv[2] the task (or branch). */
static int parse(devsys_cli *cli, struct fargs *a, int argc, char **argv)
{
	memset(a, 0, sizeof(*a));
	if (argc < 3 || argv[2][0] == '-')
		return devsys_cli_usage_error(cli, "usage: devsys %s %s %s [options]", argv[0], argc > 1 ? argv[1] : "ACTION",
		                              strcmp(argv[0], "forge") ? "TASK" : "BRANCH");
	a->id = argv[2];
	for (int i = 3; i < argc; i++) {
		int rc;
		if (parse_flag(a, argv[i]))
			continue;
		if (i + 1 >= argc)
			return devsys_cli_usage_error(cli, "option '%s' needs a value (or is unknown)", argv[i]);
		if ((rc = parse_value(cli, a, argv[i], argv[i + 1])) != DEVSYS_EXIT_OK)
			return rc;
		i++;
	}
	return DEVSYS_EXIT_OK;
}

static const char *rec_str(const struct ctx *c, const char *key)
{
	return json_string_value(json_object_get(c->record, key));
}

/* The task, its record, devsys.yaml, the checkout (reopened) and the forge. */
static int ctx_open(devsys_cli *cli, struct ctx *c, const struct fargs *a, bool with_repo)
{
	devsys_secrets_options so = DEVSYS_SECRETS_OPTIONS_INIT;
	devsys_repo_options ro = DEVSYS_REPO_OPTIONS_INIT;
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_buf j = DEVSYS_BUF_INIT;
	int rc;
	memset(c, 0, sizeof(*c));
	if ((rc = devsys_cli_open_workspace(cli, &c->ws)) != DEVSYS_EXIT_OK)
		return rc;
	if (devsys_task_open(&c->task, c->ws, a->id, 0) < 0)
		return devsys_cli_fail_lib(cli, "unknown task");
	if (devsys_record_open(&c->rec, c->task) < 0 || devsys_record_json(c->rec, &j) < 0)
		return devsys_cli_fail_lib(cli, "cannot read the task record");
	c->record = json_loadb(j.ptr ? j.ptr : "{}", j.size, 0, NULL);
	devsys_buf_dispose(&j);
	ro.url = a->url ? a->url : rec_str(c, "repo_url");
	if (!ro.url)
		return devsys_cli_usage_error(cli, "task '%s' has no repo_url in its record: give --url URL", a->id);
	if (devsys_config_load(&c->cfg, a->config) < 0)
		return devsys_cli_fail_lib(cli, "configuration");
	so.ws = c->ws;
	if (devsys_secrets_new(&c->secrets, &so) < 0)
		return devsys_cli_fail_lib(cli, "secrets");
	if (with_repo && devsys_repo_open_task(&c->repo, c->task, &ro) < 0)
		return devsys_cli_fail_lib(cli, "cannot open the task's checkout");
	fo.remote_url = ro.url;
	fo.config = c->cfg;
	fo.secrets = c->secrets;
	fo.task = c->task;
	if (devsys_forge_new(&c->forge, &fo) < 0)
		return devsys_cli_fail_lib(cli, "forge");
	return DEVSYS_EXIT_OK;
}

static int ctx_pr(devsys_cli *cli, struct ctx *c)
{
	json_int_t n = json_integer_value(json_object_get(c->record, "pr_number"));
	if (n <= 0)
		return devsys_cli_usage_error(cli, "task '%s' has no pull request yet (devsys pr open %s)",
		                              devsys_task_id(c->task), devsys_task_id(c->task));
	if (devsys_pr_get(&c->pr, c->forge, (int64_t)n) < 0)
		return devsys_cli_fail_lib(cli, "pull request");
	return DEVSYS_EXIT_OK;
}

static json_t *pr_json(devsys_pr *pr)
{
	return json_pack("{s:I, s:s?, s:s, s:b, s:b, s:s?, s:s?, s:s?, s:s?}", "number", (json_int_t)devsys_pr_number(pr),
	                 "url", devsys_pr_url(pr), "state", devsys_pr_state_name(devsys_pr_state_of(pr)), "draft",
	                 devsys_pr_draft(pr), "reused", devsys_pr_reused(pr), "head", devsys_pr_head(pr), "base",
	                 devsys_pr_base(pr), "head_sha", devsys_pr_head_sha(pr), "title", devsys_pr_title(pr));
}

/* The record's last gate decision ({"decision", "class", "reasons": [...]})
 * as lines for the PR body, or NULL. */
static char *gate_text(const json_t *g)
{
	const json_t *r;
	size_t i;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	if (!json_is_object(g) || !json_is_string(json_object_get(g, "decision")) || !(f = open_memstream(&text, &len)))
		return NULL;
	fprintf(f, "%s (class %s)", json_string_value(json_object_get(g, "decision")),
	        json_string_value(json_object_get(g, "class")) ? json_string_value(json_object_get(g, "class")) : "?");
	json_array_foreach(json_object_get(g, "reasons"), i, r)
		fprintf(f, "\n%s: %s", json_string_value(json_object_get(r, "code")) ? json_string_value(json_object_get(r, "code")) : "?",
		        json_string_value(json_object_get(r, "text")) ? json_string_value(json_object_get(r, "text")) : "");
	fclose(f);
	return text;
}

#define MAXACCEPT 100

/* The spec's acceptance checks (deploy.acceptance[].name) as checklist items:
 * from --spec, else the spec the task record keeps (spec_path in the task
 * folder). A spec that cannot be read gives none; the body says what it has. */
struct accept {
	const char *items[MAXACCEPT];
	size_t n;
#ifdef DEVSYS_HAVE_MODULE_SPEC
	devsys_spec *spec;
#endif
};

static void accept_load(struct accept *ac, struct ctx *c, const struct fargs *a)
{
	memset(ac, 0, sizeof(*ac));
#ifdef DEVSYS_HAVE_MODULE_SPEC
	devsys_buf p = DEVSYS_BUF_INIT;
	const char *rel = rec_str(c, "spec_path");
	if (a->spec)
		devsys_buf_puts(&p, a->spec);
	else if (!rel || devsys_task_path_join(&p, c->task, rel) < 0)
		goto out;
	if (!p.ptr || devsys_spec_load_file(&ac->spec, p.ptr, NULL) < 0)
		goto out;
	for (; ac->n < MAXACCEPT; ac->n++) {
		char ptr[64];
		snprintf(ptr, sizeof(ptr), "/deploy/acceptance/%zu/name", ac->n);
		if (!(ac->items[ac->n] = devsys_spec_get_string(ac->spec, ptr)))
			break;
	}
out:
	devsys_buf_dispose(&p);
	devsys_error_clear();
#else
	(void)c;
	(void)a;
#endif
}

static void accept_free(struct accept *ac)
{
#ifdef DEVSYS_HAVE_MODULE_SPEC
	devsys_spec_free(ac->spec);
#endif
	(void)ac;
}

static int build_body(devsys_cli *cli, struct ctx *c, const struct fargs *a, devsys_buf *body, devsys_masker *m)
{
	devsys_pr_body b = DEVSYS_PR_BODY_INIT;
	devsys_buf report = DEVSYS_BUF_INIT;
	char *summary = NULL, *validation = NULL, *gate = NULL;
	struct accept ac;
	unsigned int run = 0;
	int rc = DEVSYS_EXIT_OK;
	if (a->body_file) {
		size_t len = 0;
		FILE *f = fopen(a->body_file, "r");
		if (!f)
			return devsys_cli_usage_error(cli, "cannot read --body-file '%s'", a->body_file);
		summary = calloc(1, 1 << 20);
		len = summary ? fread(summary, 1, (1 << 20) - 1, f) : 0;
		fclose(f);
		if (!summary)
			return devsys_cli_usage_error(cli, "out of memory");
		summary[len] = '\0';
	}
	b.task_id = devsys_task_id(c->task);
	b.summary = summary;
	b.spec_path = rec_str(c, "spec_path");
	b.spec_id = rec_str(c, "spec_hash");
	b.runner = rec_str(c, "runner");
	accept_load(&ac, c, a);
	b.acceptance = ac.items;
	b.nacceptance = ac.n;
	gate = gate_text(json_object_get(c->record, "gate"));
	b.gate = gate;
	if (json_object_get(c->record, "validation"))
		validation = json_dumps(json_object_get(c->record, "validation"), JSON_COMPACT | JSON_ENCODE_ANY);
	b.validation = validation;
	if (devsys_record_latest_run(c->task, &run) == 0 &&
	    devsys_buf_printf(&report, "%s/reports/%u/summary.json", devsys_task_path(c->task), run) == 0)
		b.report = report.ptr;
	devsys_error_clear();
	if (devsys_pr_body_build(body, &b, m) < 0)
		rc = devsys_cli_fail_lib(cli, "PR body");
	free(summary);
	free(validation);
	free(gate);
	accept_free(&ac);
	devsys_buf_dispose(&report);
	return rc;
}

static int record_pr(devsys_cli *cli, struct ctx *c)
{
	if (devsys_record_set_int(c->rec, "pr_number", devsys_pr_number(c->pr)) < 0 ||
	    devsys_record_set_string(c->rec, "pr_url", devsys_pr_url(c->pr)) < 0 || devsys_record_save(c->rec) < 0)
		return devsys_cli_fail_lib(cli, "cannot write the task record");
	return DEVSYS_EXIT_OK;
}

static int pr_open(devsys_cli *cli, struct ctx *c, const struct fargs *a)
{
	devsys_pr_options po = DEVSYS_PR_OPTIONS_INIT;
	devsys_masker *m = NULL;
	devsys_buf body = DEVSYS_BUF_INIT, title = DEVSYS_BUF_INIT;
	int rc;
	if (devsys_secrets_masker(&m, c->secrets) < 0)
		return devsys_cli_fail_lib(cli, "masker");
	if ((rc = build_body(cli, c, a, &body, m)) != DEVSYS_EXIT_OK)
		goto out;
	devsys_buf_printf(&title, "devsys: task %s", devsys_task_id(c->task));
	po.title = a->title ? a->title : title.ptr;
	po.body = body.ptr;
	po.head = devsys_repo_branch(c->repo);
	po.base = devsys_repo_base_branch(c->repo);
	po.head_sha = devsys_repo_head_sha(c->repo);
	po.base_sha = devsys_repo_base_sha(c->repo);
	po.draft = a->draft;
	po.labels = a->labels;
	po.nlabels = a->nlabels;
	po.reviewers = a->reviewers;
	po.nreviewers = a->nreviewers;
	po.team_reviewers = a->teams;
	po.nteam_reviewers = a->nteams;
	po.number = (int64_t)json_integer_value(json_object_get(c->record, "pr_number"));
	po.masker = m;
	if (devsys_pr_open(&c->pr, c->forge, &po) < 0) {
		rc = devsys_cli_fail_lib(cli, "pr open");
		goto out;
	}
	if ((rc = record_pr(cli, c)) != DEVSYS_EXIT_OK)
		goto out;
	if (cli->json)
		devsys_cli_print_json(pr_json(c->pr));
	else
		printf("%s PR #%lld (%s -> %s, %s)\n  %s\n", devsys_pr_reused(c->pr) ? "updated" : "opened",
		       (long long)devsys_pr_number(c->pr), devsys_pr_head(c->pr), devsys_pr_base(c->pr),
		       devsys_pr_head_sha(c->pr), devsys_pr_url(c->pr));
out:
	devsys_masker_free(m);
	devsys_buf_dispose(&body);
	devsys_buf_dispose(&title);
	return rc;
}

static const char *review_name(int s)
{
	static const char *const n[] = { "approved", "changes-requested", "commented", "dismissed", "pending" };
	return s >= 0 && s <= DEVSYS_REVIEW_PENDING ? n[s] : "?";
}

static const char *check_name(int s)
{
	static const char *const n[] = { "pending", "success", "failure", "neutral" };
	return s >= 0 && s <= DEVSYS_CHECK_NEUTRAL ? n[s] : "?";
}

static int pr_show(devsys_cli *cli, struct ctx *c)
{
	json_t *o, *rv = json_array(), *ck = json_array();
	if (devsys_pr_load_reviews(c->pr) < 0 || devsys_pr_load_checks(c->pr) < 0) {
		json_decref(rv);
		json_decref(ck);
		return devsys_cli_fail_lib(cli, "pr show");
	}
	for (size_t i = 0; i < devsys_pr_review_count(c->pr); i++) {
		const devsys_policy_review *r = devsys_pr_review(c->pr, i);
		json_array_append_new(rv, json_pack("{s:s, s:s, s:s}", "reviewer", r->reviewer, "commit_sha", r->commit_sha,
		                                    "state", review_name(r->state)));
	}
	for (size_t i = 0; i < devsys_pr_check_count(c->pr); i++) {
		const devsys_policy_check *k = devsys_pr_check(c->pr, i);
		json_array_append_new(ck, json_pack("{s:s, s:s, s:s}", "context", k->context, "state", check_name(k->state),
		                                    "kind", k->kind == DEVSYS_CHECK_RUN ? "check-run" : "status"));
	}
	if (cli->json) {
		o = pr_json(c->pr);
		if (o) {
			json_object_set_new(o, "reviews", rv);
			json_object_set_new(o, "checks", ck);
		}
		devsys_cli_print_json(o);
		return DEVSYS_EXIT_OK;
	}
	printf("PR #%lld %s%s: %s\n  %s -> %s at %s\n  %s\n", (long long)devsys_pr_number(c->pr),
	       devsys_pr_state_name(devsys_pr_state_of(c->pr)), devsys_pr_draft(c->pr) ? " (draft)" : "",
	       devsys_pr_title(c->pr) ? devsys_pr_title(c->pr) : "", devsys_pr_head(c->pr), devsys_pr_base(c->pr),
	       devsys_pr_head_sha(c->pr), devsys_pr_url(c->pr));
	for (size_t i = 0; i < json_array_size(rv); i++)
		printf("  review: %s %s on %.12s\n", json_string_value(json_object_get(json_array_get(rv, i), "reviewer")),
		       json_string_value(json_object_get(json_array_get(rv, i), "state")),
		       json_string_value(json_object_get(json_array_get(rv, i), "commit_sha")));
	for (size_t i = 0; i < json_array_size(ck); i++)
		printf("  check: %s %s\n", json_string_value(json_object_get(json_array_get(ck, i), "context")),
		       json_string_value(json_object_get(json_array_get(ck, i), "state")));
	json_decref(rv);
	json_decref(ck);
	return DEVSYS_EXIT_OK;
}

static int pr_review(devsys_cli *cli, struct ctx *c, const struct fargs *a)
{
	int state = a->approve ? DEVSYS_REVIEW_APPROVED : DEVSYS_REVIEW_CHANGES_REQUESTED;
	if (devsys_pr_add_review(c->pr, a->as, a->sha, state) < 0)
		return devsys_cli_fail_lib(cli, "pr review");
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:I, s:s, s:s, s:s}", "number", (json_int_t)devsys_pr_number(c->pr),
		                                "reviewer", a->as, "state", review_name(state), "commit_sha",
		                                a->sha ? a->sha : devsys_pr_head_sha(c->pr)));
	else
		printf("PR #%lld: %s by %s on %.12s\n", (long long)devsys_pr_number(c->pr), review_name(state), a->as,
		       a->sha ? a->sha : devsys_pr_head_sha(c->pr));
	return DEVSYS_EXIT_OK;
}

static int cmd_pr(devsys_cli *cli, int argc, char **argv)
{
	struct fargs a;
	struct ctx c;
	const char *act = argc > 1 ? argv[1] : "";
	int rc;
	if (strcmp(act, "open") && strcmp(act, "show") && strcmp(act, "review"))
		return devsys_cli_usage_error(cli, "pr: unknown action '%s' (open, show, review)", act);
	if ((rc = parse(cli, &a, argc, argv)) != DEVSYS_EXIT_OK)
		return rc;
	if (!strcmp(act, "review") && (a.approve == a.request_changes || !a.as))
		return devsys_cli_usage_error(cli, "pr review needs one of --approve, --request-changes, and --as NAME");
	if ((rc = ctx_open(cli, &c, &a, !strcmp(act, "open"))) == DEVSYS_EXIT_OK) {
		if (!strcmp(act, "open"))
			rc = pr_open(cli, &c, &a);
		else if ((rc = ctx_pr(cli, &c)) == DEVSYS_EXIT_OK)
			rc = !strcmp(act, "show") ? pr_show(cli, &c) : pr_review(cli, &c, &a);
	}
	ctx_close(&c);
	return rc;
}

/* ---- gate check ---- */

static int gate_options(devsys_cli *cli, struct ctx *c, const struct fargs *a, devsys_gate_options *go)
{
	const devsys_policy *pol = NULL;
	if (devsys_config_policy(&pol, c->cfg) < 0)
		return devsys_cli_fail_lib(cli, "policy");
	go->policy = pol;
	go->repo = c->repo;
	go->poll_timeout_ms = a->wait_ms;
	go->poll_interval_ms = a->wait_ms ? (a->wait_ms < 20000 ? a->wait_ms / 10 + 1 : 2000) : 0;
	go->require_approval = a->require_approval;
	if (a->profile && devsys_config_runner_risk(&go->profile_risk, c->cfg, a->profile) < 0)
		return devsys_cli_fail_lib(cli, "--profile");
	if (a->spec_risk && devsys_risk_from_name(&go->spec_risk, a->spec_risk) < 0)
		return devsys_cli_fail_lib(cli, "--spec-risk");
	return DEVSYS_EXIT_OK;
}

static int gate_report(devsys_cli *cli, struct ctx *c, const devsys_policy_decision *d, int merged)
{
	devsys_buf j = DEVSYS_BUF_INIT, t = DEVSYS_BUF_INIT;
	int rc = DEVSYS_EXIT_OK;
	if (devsys_gate_explain(&j, d, 1) < 0 || devsys_gate_explain(&t, d, 0) < 0 ||
	    devsys_record_set_json(c->rec, "gate", j.ptr) < 0 || devsys_record_save(c->rec) < 0) {
		rc = devsys_cli_fail_lib(cli, "gate record");
		goto out;
	}
	if (cli->json) {
		json_t *o = json_loads(j.ptr, 0, NULL);
		if (o) {
			json_object_set_new(o, "pr", json_integer((json_int_t)devsys_pr_number(c->pr)));
			json_object_set_new(o, "head_sha", json_string(devsys_pr_head_sha(c->pr)));
			json_object_set_new(o, "merged", json_boolean(merged));
			if (merged)
				json_object_set_new(o, "merge_sha", json_string(devsys_pr_merge_sha(c->pr)));
		}
		devsys_cli_print_json(o);
	} else {
		printf("PR #%lld at %.12s: %s", (long long)devsys_pr_number(c->pr), devsys_pr_head_sha(c->pr), t.ptr);
		if (merged)
			printf("merged: %s\n", devsys_pr_merge_sha(c->pr));
	}
out:
	devsys_buf_dispose(&j);
	devsys_buf_dispose(&t);
	return rc;
}

static int gate_check(devsys_cli *cli, struct ctx *c, const struct fargs *a)
{
	devsys_gate_options go = DEVSYS_GATE_OPTIONS_INIT;
	devsys_policy_decision *d = NULL;
	int rc, lrc;
	if ((rc = gate_options(cli, c, a, &go)) != DEVSYS_EXIT_OK)
		return rc;
	lrc = a->merge ? devsys_gate_merge(&d, c->pr, &go) : devsys_gate_check(&d, c->pr, &go);
	if (!d) /* no decision: the gate could not decide (or failed closed) */
		return devsys_cli_fail_lib(cli, "gate check");
	if (lrc < 0 && a->merge && lrc != DEVSYS_ESTATE) {
		devsys_policy_decision_free(d);
		return devsys_cli_fail_lib(cli, "gate merge");
	}
	rc = gate_report(cli, c, d, a->merge && lrc == 0);
	if (rc == DEVSYS_EXIT_OK && devsys_policy_decision_outcome(d) != DEVSYS_POLICY_MERGE)
		rc = DEVSYS_EXIT_FAILED; /* a script can test "may it merge?" by the exit code */
	devsys_policy_decision_free(d);
	return rc;
}

int devsys_cli_gate_check(devsys_cli *cli, int argc, char **argv);

int devsys_cli_gate_check(devsys_cli *cli, int argc, char **argv)
{
	struct fargs a;
	struct ctx c;
	int rc;
	if ((rc = parse(cli, &a, argc, argv)) != DEVSYS_EXIT_OK)
		return rc;
	if ((rc = ctx_open(cli, &c, &a, true)) == DEVSYS_EXIT_OK && (rc = ctx_pr(cli, &c)) == DEVSYS_EXIT_OK)
		rc = gate_check(cli, &c, &a);
	ctx_close(&c);
	return rc;
}

/* ---- forge protect ---- */

static int cmd_forge(devsys_cli *cli, int argc, char **argv)
{
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_config *cfg = NULL;
	devsys_secrets *s = NULL;
	devsys_forge *f = NULL;
	const devsys_policy *pol = NULL;
	struct fargs a;
	int rc;
	if (argc < 2 || strcmp(argv[1], "protect") != 0)
		return devsys_cli_usage_error(cli, "forge: unknown action '%s' (protect)", argc > 1 ? argv[1] : "");
	if ((rc = parse(cli, &a, argc, argv)) != DEVSYS_EXIT_OK)
		return rc;
	if (!a.url)
		return devsys_cli_usage_error(cli, "forge protect needs --url URL (the repository's remote)");
	if (devsys_config_load(&cfg, a.config) < 0 || devsys_config_policy(&pol, cfg) < 0 || devsys_secrets_new(&s, NULL) < 0) {
		rc = devsys_cli_fail_lib(cli, "configuration");
		goto out;
	}
	fo.remote_url = a.url;
	fo.config = cfg;
	fo.secrets = s;
	if (devsys_forge_new(&f, &fo) < 0 ||
	    devsys_forge_protect(f, a.id, a.ncontexts ? a.contexts : NULL, a.ncontexts, a.approvals, pol) < 0) {
		rc = devsys_cli_fail_lib(cli, "forge protect");
		goto out;
	}
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:s, s:s, s:b}", "branch", a.id, "provider", devsys_forge_provider(f),
		                                "protected", 1));
	else
		printf("%s: branch '%s' protected\n", devsys_forge_provider(f), a.id);
	rc = DEVSYS_EXIT_OK;
out:
	devsys_forge_free(f);
	devsys_secrets_free(s);
	devsys_config_free(cfg);
	return rc;
}

const devsys_cli_command devsys_cli_forge_commands[] = {
	{ "pr", "open|show|review TASK [--url URL] [--config FILE] [options]",
	  "open (or update) a task's pull request, show it, or review it (docs/forge.md)", cmd_pr },
	{ "forge", "protect BRANCH --url URL [--context C]... [--approvals N]",
	  "set branch protection on the forge (required checks and reviews)", cmd_forge },
	{ NULL, NULL, NULL, NULL },
};

#else
const devsys_cli_command devsys_cli_forge_commands[] = {
	{ NULL, NULL, NULL, NULL },
};
#endif
