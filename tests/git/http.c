/*
 * The git workspace against a real smart-HTTP server (lighttpd +
 * git-http-backend with basic auth), over plain HTTP and over TLS.
 */
#include "gitfix.h"
#include "githttp_fixture.h"

#include <time.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("githttp-test");
	unsetenv("GITHUB_TOKEN");
}
static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}
TestSuite(git_http, .init = setup, .fini = teardown, .timeout = 120);

static dt_githttp *server(bool tls, const char *token)
{
	char why[512];
	dt_githttp *h = dt_githttp_start(tls, token, why, sizeof(why));
	if (!h)
		dt_skip("%s", why);
	return h;
}

static void commit_one(devsys_repo *r, const char *name)
{
	char p[4200];
	int committed = 0;
	snprintf(p, sizeof(p), "%s/%s", devsys_repo_checkout_path(r), name);
	dt_write_file(p, "content\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, name, NULL), 0, "%s", gf_err());
	cr_assert_eq(committed, 1);
}

static char *remote_sha(dt_githttp *h, const char *repo, const char *ref)
{
	char cmd[4200];
	int st = -1;
	snprintf(cmd, sizeof(cmd), "git -C '%s/%s.git' rev-parse --verify -q %s", h->repos, repo, ref);
	char *o = dt_sh_output(&st, "%s", cmd);
	if (st != 0) {
		free(o);
		return NULL;
	}
	o[strcspn(o, "\n")] = '\0';
	return o;
}

static int count_progress(const devsys_repo_progress *p, void *payload)
{
	int *seen = payload;
	if (p->stage >= 1 && p->stage <= 3)
		seen[p->stage]++;
	return 0;
}

Test(git_http, plain_http_clone_and_push_with_a_token)
{
	int seen[4] = { 0 };
	dt_githttp *h = server(false, "tok-plain-123");
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	cr_assert_not_null(url);
	setenv("GITHUB_TOKEN", "tok-plain-123", 1);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "h1");
	o.url = url;
	o.progress = count_progress;
	o.progress_payload = seen;
	devsys_repo *r = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_repo_remote_default_branch(r), "main");
	cr_assert_gt(seen[DEVSYS_REPO_STAGE_FETCH], 0);
	cr_assert_gt(seen[DEVSYS_REPO_STAGE_CHECKOUT], 0);
	commit_one(r, "a.txt");
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	cr_assert_gt(seen[DEVSYS_REPO_STAGE_PUSH], 0, "push progress is reported");
	char *sha = remote_sha(h, "proj", "refs/heads/task/h1");
	cr_assert_not_null(sha);
	cr_assert_str_eq(sha, devsys_repo_head_sha(r));
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	dt_githttp_free(h);
	free(sha); free(bare); free(url);
}

static int cancel_progress(const devsys_repo_progress *p, void *payload)
{
	(void)p;
	(void)payload;
	return 1;
}

Test(git_http, the_progress_callback_can_cancel_a_fetch)
{
	dt_githttp *h = server(false, "tok-cancel");
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	setenv("GITHUB_TOKEN", "tok-cancel", 1);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "x1");
	o.url = url;
	o.progress = cancel_progress;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EUSER, "%s", gf_err());
	cr_assert(strstr(gf_err(), "cancel") != NULL, "%s", gf_err());
	snprintf(wsdir, sizeof(wsdir), "%s/checkout", devsys_task_path(t));
	cr_assert_not(dt_exists(wsdir));
	cr_assert_eq(dt_sh("ls '%s'/ws/mirrors | grep -q '\\.git'", dir), 1, "a cancelled clone leaves no mirror");
	devsys_task_free(t);
	devsys_workspace_free(ws);
	dt_githttp_free(h);
	free(bare); free(url);
}

Test(git_http, a_wrong_or_missing_token_is_an_auth_error_without_a_retry_loop)
{
	dt_githttp *h = server(false, "the-right-token");
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "w1");
	o.url = url;
	setenv("GITHUB_TOKEN", "a-wrong-token", 1);
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EAUTH, "%s", gf_err());
	cr_assert(strstr(gf_err(), "refused the credentials") != NULL, "%s", gf_err());
	cr_assert(strstr(gf_err(), "a-wrong-token") == NULL);
	unsetenv("GITHUB_TOKEN");
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EAUTH, "%s", gf_err());
	cr_assert(strstr(gf_err(), "GITHUB_TOKEN") != NULL, "%s", gf_err());
	char p[4200];
	snprintf(p, sizeof(p), "%s/checkout", devsys_task_path(t));
	cr_assert_not(dt_exists(p));
	/* The server saw 401s, and not an endless series of them. */
	int st = -1;
	char *n = dt_sh_output(&st, "grep -c ' 401 ' '%s'", h->access_log);
	cr_assert_gt(atoi(n), 0);
	cr_assert_lt(atoi(n), 10, "no retry loop: %s", n);
	free(n);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	dt_githttp_free(h);
	free(bare); free(url);
}

typedef struct {
	const char *token;
	int calls;
} chain_payload;

static int pass_provider(devsys_repo_credential *out, const char *url, const char *user, unsigned int allowed,
                         unsigned int attempt, void *payload)
{
	(void)out; (void)url; (void)user; (void)allowed; (void)attempt;
	((chain_payload *)payload)->calls++;
	return 1;
}

static int token_provider(devsys_repo_credential *out, const char *url, const char *user, unsigned int allowed,
                          unsigned int attempt, void *payload)
{
	chain_payload *p = payload;
	(void)user;
	p->calls++;
	cr_assert(strstr(url, "127.0.0.1") != NULL);
	if (attempt > 1 || !(allowed & DEVSYS_REPO_CRED_USERPASS))
		return 1;
	out->type = DEVSYS_REPO_CRED_USERPASS;
	out->username = "x-access-token";
	out->secret = p->token;
	return 0;
}

static int failing_provider(devsys_repo_credential *out, const char *url, const char *user, unsigned int allowed,
                            unsigned int attempt, void *payload)
{
	(void)out; (void)url; (void)user; (void)allowed; (void)attempt; (void)payload;
	return DEVSYS_ECANCELED;
}

Test(git_http, the_credential_chain_is_replaceable)
{
	dt_githttp *h = server(false, "chain-token");
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	chain_payload p1 = { NULL, 0 }, p2 = { "chain-token", 0 };
	devsys_repo_credential_provider chain[2] = { { pass_provider, &p1 }, { token_provider, &p2 } };
	devsys_repo_credential_provider bad[1] = { { failing_provider, NULL } };
	devsys_repo *r = NULL;
	setenv("GITHUB_TOKEN", "not-this-one", 1); /* the default provider is replaced */
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "c1");
	o.url = url;
	o.credentials = bad;
	o.ncredentials = 1;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_ECANCELED, "%s", gf_err());
	o.credentials = chain;
	o.ncredentials = 2;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	cr_assert_gt(p1.calls, 0);
	cr_assert_gt(p2.calls, 0);
	commit_one(r, "c.txt");
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	dt_githttp_free(h);
	free(bare); free(url);
}

Test(git_http, tls_push_leaves_no_trace_of_the_canary_token)
{
	char canary[64];
	snprintf(canary, sizeof(canary), "canary-%ld-%d-7f3a9c", (long)time(NULL), (int)getpid());
	dt_githttp *h = server(true, canary);
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	gf_log log;
	devsys_repo *r = NULL;
	cr_assert(strncmp(url, "https://localhost:", 18) == 0, "%s", url);
	setenv("GITHUB_TOKEN", canary, 1);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, &log);
	devsys_task *t = gf_task(ws, "tls1");
	o.url = url;
	o.ssl_ca_file = h->ca_file;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	commit_one(r, "secret-free.txt");
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	char *sha = remote_sha(h, "proj", "refs/heads/task/tls1");
	cr_assert_not_null(sha);
	cr_assert_str_eq(sha, devsys_repo_head_sha(r));
	/* A second push with nothing new is fine. */
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);

	cr_assert_not_null(log.text);
	cr_assert(strstr(log.text, "pushed task/tls1") != NULL, "%s", log.text);
	cr_assert(strstr(log.text, canary) == NULL, "the canary reached a log line");
	cr_assert_not(gf_tree_contains(wsdir, canary), "the canary is in a file under the workspace");
	cr_assert(gf_tree_contains(wsdir, "task/tls1"), "the grep itself works");
	/* The canary did travel: the server accepts no other password, and the push landed. */
	free(log.text);
	dt_githttp_free(h);
	free(sha); free(bare); free(url);
}

Test(git_http, an_untrusted_certificate_is_refused)
{
	dt_githttp *h = server(true, "tok");
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare), wsdir[4096];
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	setenv("GITHUB_TOKEN", "tok", 1);
	/* The ambient environment names the test CA: the library must not use it. */
	setenv("GIT_SSL_CAINFO", h->ca_file, 1);
	setenv("SSL_CERT_FILE", h->ca_file, 1);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "u1");
	o.url = url;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EHOSTKEY, "%s", gf_err());
	cr_assert(strstr(gf_err(), "certificate") != NULL, "%s", gf_err());
	devsys_task_free(t);
	devsys_workspace_free(ws);
	dt_githttp_free(h);
	free(bare); free(url);
}
