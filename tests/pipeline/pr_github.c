/*
 * The pr and gate stages with the github provider: the git remote is a
 * real smart-HTTP server (lighttpd + git-http-backend with basic auth, the
 * githttp fixture), the forge API the stateful upstream behind
 * `prism proxy --errors` (GitHub's published OpenAPI description checks
 * every request and answer). The forge's token comes from devsys.yaml's
 * forges: entry through the secrets module. The test fails when Prism
 * logged a request-side violation.
 *
 * Between pr and gate the task is moved to deploy-skipped with the store's
 * public transitions and verify's end is written through the record; the
 * required status is set through the forge, as the test stage sets it.
 */
#include "forge_fixture.h"
#include "githttp_fixture.h"
#include "testutil.h"
#include <devsys.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define API_TOKEN "ghp_" "pipePrGateToken0123456789abcdefXYZ" /* split: no credential-shaped literal */
#define GIT_TOKEN "git-" "push-token-4711"

ReportHook(PRE_ALL)(struct criterion_test_set *s)
{
	(void)s;
	dt_forge_suite_start("github", API_TOKEN, DT_FORGE_PRISM);
}
ReportHook(POST_ALL)(struct criterion_global_stats *s)
{
	(void)s;
	dt_forge_suite_stop();
}

static char *dir;
static long proxy_at;
static dt_githttp *h; /* stopped by the teardown, whatever the test's end */

static void setup(void)
{
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("pipeprgh");
	proxy_at = dt_forge_prism_log_size("proxy");
}

static void teardown(void)
{
	char first[512];
	char *t = dt_forge_prism_log_since("proxy", proxy_at);
	int n = dt_forge_request_violations(t, first, sizeof(first));
	free(t);
	cr_expect_eq(n, 0, "prism proxy logged %d request violation(s), first: %s", n, first);
	unsetenv("DT_PIPE_GH_TOKEN");
	dt_githttp_free(h);
	h = NULL;
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(pipeline_pr_github, .init = setup, .fini = teardown, .timeout = 180);

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

/* git's credential: the githttp server's basic auth, never the environment's token. */
static int git_cred(devsys_repo_credential *out, const char *url, const char *user, unsigned int allowed,
                    unsigned int attempt, void *payload)
{
	(void)url;
	(void)user;
	(void)payload;
	if (attempt > 1 || !(allowed & DEVSYS_REPO_CRED_USERPASS))
		return 1;
	out->type = DEVSYS_REPO_CRED_USERPASS;
	out->username = "x-access-token";
	out->secret = GIT_TOKEN;
	return 0;
}

/* The upstream's logged requests matching @p method and a path ending in @p tail, a new array. */
static json_t *requests(const char *method, const char *tail)
{
	char *text = dt_forge_log_text(), *save = NULL;
	json_t *out = json_array();
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);
		const char *m = json_string_value(json_object_get(e, "method"));
		const char *p = json_string_value(json_object_get(e, "path"));
		if (m && p && strcmp(m, method) == 0 && strlen(p) >= strlen(tail) &&
		    strcmp(p + strlen(p) - strlen(tail), tail) == 0)
			json_array_append(out, e);
		json_decref(e);
	}
	free(text);
	return out;
}

static bool body_mentions(json_t *entry, const char *field, const char *word)
{
	const char *v = json_string_value(json_object_get(json_object_get(entry, "body"), field));
	return v && strstr(v, word);
}

Test(pipeline_pr_github, validate_code_pr_statuses_gate_against_github_over_smart_http)
{
	const char *proxy = dt_forge_url("proxy");
	char why[512], yaml[2048], cfgpath[4200], spec[4096], script[4200];
	h = dt_githttp_start(false, GIT_TOKEN, why, sizeof(why));
	if (!h)
		dt_skip("%s", why);
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main seed.git && git clone -q seed.git work 2>/dev/null && "
	                   "cd work && git config user.email t@e && git config user.name t && mkdir src && "
	                   "echo 'int hello(void) { return 0; }' > src/hello.c && git add . && git commit -qm init && "
	                   "git push -q origin main",
	                   dir),
	             0);
	char seed[4200];
	snprintf(seed, sizeof(seed), "%s/seed.git", dir);
	char *url = dt_githttp_add_repo(h, "proj", seed);
	cr_assert(url && strncmp(url, "http://127.0.0.1:", 17) == 0, "%s", url);

	/* the operator's devsys.yaml: this host's API is GitHub's (Prism in front of the upstream) */
	setenv("DT_PIPE_GH_TOKEN", API_TOKEN, 1);
	snprintf(yaml, sizeof(yaml),
	         "forges:\n  \"127.0.0.1:%d\":\n    provider: github\n    base_url: %s\n    owner: octo\n"
	         "    token_secret: gh_token\n    token_provider: env\n    token_ref: DT_PIPE_GH_TOKEN\n"
	         "policy:\n  auto_merge: true\n  required_contexts: [devsys/tests]\n",
	         h->port, proxy);
	snprintf(cfgpath, sizeof(cfgpath), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(cfgpath, yaml));

	devsys_workspace *ws = NULL;
	devsys_pipeline *pl = NULL;
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_repo_options ro = DEVSYS_REPO_OPTIONS_INIT;
	devsys_runner_options rno = DEVSYS_RUNNER_OPTIONS_INIT;
	const devsys_repo_credential_provider chain[] = { { git_cred, NULL } };
	ro.credentials = chain;
	ro.ncredentials = 1;
	po.repo = &ro;
	po.runner = &rno;
	po.config_path = cfgpath;
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_pipeline_new(&pl, ws, &po), 0, "%s", errmsg());

	snprintf(script, sizeof(script), "%s/agent.sh", dir);
	/* the upstream lists a PR's files as src/file00000.c, ...: the agent changes exactly that file, so the
	 * forge's list and the checkout's changed paths agree (a disagreement fails the gate closed) */
	cr_assert(dt_write_file(script, "echo 'int hello(void) { return 1; }' > src/file00000.c\n"));
	snprintf(spec, sizeof(spec),
	         "id: gh-1\ntitle: Hello returns one\ndescription: The sample's hello() returns 1.\n"
	         "repo:\n  url: %s\n  base_branch: main\n  pr:\n    draft: false\n    labels: [devsys]\n"
	         "agent:\n  command: [/bin/sh, %s]\n",
	         url, script);
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	cr_assert_eq(devsys_pipeline_validate(&r, pl, spec, strlen(spec), "gh-1"), 0, "%s", errmsg());
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, errmsg());
	cr_assert_str_eq(r.outcome, "pushed");

	/* the push landed on the smart-HTTP remote; the upstream's branch follows it */
	int st;
	char *head = dt_sh_output(&st, "git --git-dir='%s/proj.git' rev-parse task/gh-1", h->repos);
	cr_assert(head && strlen(head) >= 40, "the task branch is on the remote");
	head[40] = '\0';
	char ctl[512];
	snprintf(ctl, sizeof(ctl), "{\"owner\":\"octo\",\"repo\":\"proj\",\"branch\":\"task/gh-1\",\"sha\":\"%s\"}", head);
	cr_assert_eq(dt_forge_ctl("push", ctl), 200);

	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "pr"), 0, "%s: %s", r.outcome, errmsg());
	cr_assert_str_eq(r.outcome, "pr-opened");

	/* the PR on the upstream, with the task's metadata in the body it received */
	json_t *created = requests("POST", "/repos/octo/proj/pulls");
	cr_assert_eq(json_array_size(created), 1, "one PR created");
	json_t *c0 = json_array_get(created, 0);
	cr_assert_eq(json_integer_value(json_object_get(c0, "status")), 201);
	cr_assert(body_mentions(c0, "body", "gh-1") && body_mentions(c0, "body", "The sample's hello() returns 1."),
	          "the body carries the task");
	cr_assert(body_mentions(c0, "head", "task/gh-1") && body_mentions(c0, "title", "Hello returns one"));
	cr_assert_str_eq(json_string_value(json_object_get(c0, "auth")), "ok", "the token from the secret");
	json_decref(created);

	char tpath[4200];
	snprintf(tpath, sizeof(tpath), "%s/tasks/gh-1/task.json", dir);
	json_t *tj = json_load_file(tpath, 0, NULL), *m = json_object_get(tj, "pr");
	cr_assert_str_eq(json_string_value(json_object_get(m, "provider")), "github");
	int64_t n = json_integer_value(json_object_get(m, "number"));
	cr_assert(n > 0);
	cr_assert(strstr(json_string_value(json_object_get(m, "url")), "/octo/proj/pull/"), "%s",
	          json_string_value(json_object_get(m, "url")));
	json_decref(tj);

	/* read it back through the forge as a user would, and set the status the test stage owns */
	devsys_config *cfg = NULL;
	devsys_secrets *sec = NULL;
	devsys_forge *f = NULL;
	devsys_pr *pr = NULL;
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	cr_assert_eq(devsys_config_load(&cfg, cfgpath), 0, "%s", errmsg());
	cr_assert_eq(devsys_secrets_new(&sec, NULL), 0);
	fo.remote_url = url;
	fo.config = cfg;
	fo.secrets = sec;
	cr_assert_eq(devsys_forge_new(&f, &fo), 0, "%s", errmsg());
	cr_assert_eq(devsys_pr_get(&pr, f, n), 0, "%s", errmsg());
	cr_assert_str_eq(devsys_pr_head(pr), "task/gh-1");
	cr_assert_str_eq(devsys_pr_head_sha(pr), head);
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_OPEN);
	cr_assert_eq(devsys_forge_set_status(f, head, "devsys/tests", DEVSYS_CHECK_SUCCESS, "3 passed", NULL), 0, "%s",
	             errmsg());

	/* past test, deploy (none) and verify */
	devsys_store *store = devsys_pipeline_store(pl);
	devsys_task *t = NULL;
	devsys_record *rec = NULL;
	cr_assert_eq(devsys_store_transition(store, "gh-1", DEVSYS_STATE_TESTED, "test"), 0, "%s", errmsg());
	cr_assert_eq(devsys_store_transition(store, "gh-1", DEVSYS_STATE_DEPLOY_SKIPPED, "deploy"), 0, "%s", errmsg());
	cr_assert_eq(devsys_task_open(&t, ws, "gh-1", 0), 0);
	cr_assert_eq(devsys_record_open(&rec, t), 0);
	cr_assert_eq(devsys_record_stage_begin(rec, "verify"), 0);
	cr_assert_eq(devsys_record_stage_end(rec, "verify", "ok", NULL), 0);
	cr_assert_eq(devsys_record_save(rec), 0);
	devsys_record_free(rec);
	devsys_task_free(t);

	/* a source change never auto-merges, whatever the policy allows */
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "gate"), 0, "%s: %s", r.outcome, errmsg());
	cr_assert_str_eq(r.outcome, "awaiting-review");
	cr_assert_eq(devsys_store_task_state(store, "gh-1"), DEVSYS_STATE_AWAITING_REVIEW);
	tj = json_load_file(tpath, 0, NULL);
	json_t *g = json_object_get(tj, "gate");
	cr_assert(json_is_string(json_object_get(g, "decision")), "task.json has the decision");
	cr_assert_str_neq(json_string_value(json_object_get(g, "decision")), "merge");
	cr_assert_str_eq(json_string_value(json_object_get(g, "decision")), "awaiting-review");
	cr_assert_str_eq(json_string_value(json_object_get(g, "class")), "critical", "src/** is critical");
	cr_assert_eq(json_integer_value(json_object_get(g, "pr")), n);
	json_decref(tj);
	json_t *merges = requests("PUT", "/merge");
	cr_assert_eq(json_array_size(merges), 0, "nothing merged");
	json_decref(merges);
	char tail[64];
	snprintf(tail, sizeof(tail), "/repos/octo/proj/pulls/%lld", (long long)n);
	json_t *patches = requests("PATCH", tail);
	cr_assert(json_array_size(patches) >= 1, "the PR was updated with the decision");
	json_t *last = json_array_get(patches, json_array_size(patches) - 1);
	cr_assert(body_mentions(last, "body", "gh-1") &&
	              (body_mentions(last, "body", "awaiting-review") || body_mentions(last, "body", "blocked")),
	          "the body shows the gate's decision");
	json_decref(patches);
	cr_assert_eq(devsys_pr_refresh(pr), 0, "%s", errmsg());
	cr_assert_eq(devsys_pr_state_of(pr), DEVSYS_PR_OPEN, "still open on the upstream");
	created = requests("POST", "/repos/octo/proj/pulls");
	cr_assert_eq(json_array_size(created), 1, "the update made no second PR");
	json_decref(created);

	devsys_pr_free(pr);
	devsys_forge_free(f);
	devsys_secrets_free(sec);
	devsys_config_free(cfg);
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	free(head);
	free(url);
}

/*
 * With no credential chain of the caller's, the push to an https remote
 * authenticates with the token of the forges: entry for its host (through
 * the secrets module), never with the environment. Control: the same run
 * with an entry that names no token cannot push.
 */
static int push_with_forge_token(bool with_token, char *msg, size_t msgsz)
{
	char why[512], yaml[2048], cfgpath[4200], spec[4096], script[4200], sub[4200];
	h = dt_githttp_start(true, API_TOKEN, why, sizeof(why));
	if (!h)
		dt_skip("%s", why);
	snprintf(sub, sizeof(sub), "%s/%s", dir, with_token ? "tok" : "notok");
	cr_assert_eq(dt_sh("mkdir -p '%s' && cd '%s' && git init -q --bare -b main seed.git && "
	                   "git clone -q seed.git work 2>/dev/null && cd work && git config user.email t@e && "
	                   "git config user.name t && echo hi > README && git add . && git commit -qm init && "
	                   "git push -q origin main",
	                   sub, sub),
	             0);
	char seed[4300];
	snprintf(seed, sizeof(seed), "%s/seed.git", sub);
	char *url = dt_githttp_add_repo(h, "proj", seed);
	cr_assert(url && strncmp(url, "https://localhost:", 18) == 0, "%s", url);
	setenv("DT_PIPE_GH_TOKEN", API_TOKEN, 1);
	unsetenv("GITHUB_TOKEN");
	unsetenv("GH_TOKEN");
	snprintf(yaml, sizeof(yaml), "forges:\n  \"localhost:%d\":\n    provider: github\n    base_url: %s\n    owner: octo\n%s",
	         h->port, dt_forge_url("proxy"),
	         with_token ? "    token_secret: gh_token\n    token_provider: env\n    token_ref: DT_PIPE_GH_TOKEN\n" : "");
	snprintf(cfgpath, sizeof(cfgpath), "%s/devsys.yaml", sub);
	cr_assert(dt_write_file(cfgpath, yaml));
	snprintf(script, sizeof(script), "%s/agent.sh", sub);
	/* an agent that finds the token it was never given (inproc without user can read what devsys
	 * reads) and prints it; and its environment, where the token's variable must not be */
	char found[4400], body[9000];
	snprintf(found, sizeof(found), "%s/found.token", sub);
	cr_assert(dt_write_file(found, API_TOKEN "\n"));
	snprintf(body, sizeof(body),
	         "env > '%s/agent-env.txt'\necho \"found: $(cat '%s')\"\necho changed >> README\n", sub, found);
	cr_assert(dt_write_file(script, body));
	snprintf(spec, sizeof(spec), "id: tok-1\ntitle: Push with the forge token\nprompt: Append a line.\nrepo:\n  url: %s\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n", url, script);

	devsys_workspace *ws = NULL;
	devsys_pipeline *pl = NULL;
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_repo_options ro = DEVSYS_REPO_OPTIONS_INIT;
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	ro.ssl_ca_file = h->ca_file;
	po.repo = &ro;
	po.config_path = cfgpath;
	cr_assert_eq(devsys_workspace_open(&ws, sub, NULL), 0);
	cr_assert_eq(devsys_pipeline_new(&pl, ws, &po), 0, "%s", errmsg());
	cr_assert_eq(devsys_pipeline_validate(&r, pl, spec, strlen(spec), "tok-1"), 0, "%s", errmsg());
	int rc = devsys_pipeline_code(&r, pl);
	snprintf(msg, msgsz, "%s: %s", r.outcome ? r.outcome : "-", errmsg());
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	free(url);
	return rc;
}

Test(pipeline_pr_github, an_https_push_uses_the_forge_token_from_devsys_yaml)
{
	char msg[1024];
	cr_assert_eq(push_with_forge_token(true, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert(strstr(msg, "pushed"), "%s", msg);
	int st;
	char *head = dt_sh_output(&st, "git --git-dir='%s/proj.git' rev-parse --verify -q task/tok-1", h->repos);
	cr_assert(st == 0 && head && strlen(head) >= 40, "the task branch is on the remote");
	free(head);
	/* the agent had no token variable, and what it printed is masked in its log */
	char p[4400];
	snprintf(p, sizeof(p), "%s/tok/agent-env.txt", dir);
	char *env = dt_read_file(p, NULL);
	cr_assert(env && strstr(env, "PATH=") && !strstr(env, "DT_PIPE_GH_TOKEN") && !strstr(env, API_TOKEN),
	          "the forge token's variable reached the agent");
	free(env);
	snprintf(p, sizeof(p), "%s/tok/tasks/tok-1/logs/agent.log", dir);
	char *log = dt_read_file(p, NULL);
	cr_assert(log && strstr(log, "found: [MASKED:"), "the agent's print is masked: %s", log ? log : "(no log)");
	cr_assert_null(strstr(log, API_TOKEN), "the token reached logs/agent.log");
	free(log);
}

Test(pipeline_pr_github, an_https_push_without_a_token_in_devsys_yaml_is_refused)
{
	char msg[1024];
	cr_assert_neq(push_with_forge_token(false, msg, sizeof(msg)), 0, "control: no token, no push");
	cr_assert(strstr(msg, "push-failed") || strstr(msg, "checkout-failed"), "%s", msg);
}
