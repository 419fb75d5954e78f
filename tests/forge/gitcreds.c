/*
 * The git module's push takes its token through the secrets module when a
 * forges: entry names a token_secret: a real smart-HTTP server over TLS
 * (lighttpd + git-http-backend with basic auth) accepts only the secret's
 * value, and a wrong $GITHUB_TOKEN in the environment proves the chain
 * never reads it.
 */
#include "../git/gitfix.h"
#include "githttp_fixture.h"

#include <devsys/sys/errors.h>

#include <time.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("forgecreds");
}
static void teardown(void)
{
	unsetenv("GITHUB_TOKEN");
	unsetenv("F1_PUSH_TOKEN");
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}
TestSuite(forge_gitcreds, .init = setup, .fini = teardown, .timeout = 120);

static int stub_open(void **self, const devsys_forge_open_options *o, void *p)
{
	(void)o;
	(void)p;
	*self = dir;
	return 0;
}
static void stub_close(void *self) { (void)self; }
static int stub_upsert(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req)
{
	(void)self; (void)out; (void)req;
	return devsys_error_set(DEVSYS_ENOTSUPPORTED, "stub");
}
static int stub_get(void *self, devsys_forge_pr_info *out, int64_t n)
{
	(void)self; (void)out; (void)n;
	return devsys_error_set(DEVSYS_ENOTSUPPORTED, "stub");
}

static int push_with(devsys_task *t, const char *url, const char *ca, const devsys_repo_credential_provider *chain,
                     size_t n, const char *file)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	char p[4200];
	int committed = 0, rc;
	o.url = url;
	o.ssl_ca_file = ca;
	o.credentials = chain;
	o.ncredentials = n;
	if ((rc = devsys_repo_open_task(&r, t, &o)) < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/%s", devsys_repo_checkout_path(r), file);
	dt_write_file(p, "content\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, file, NULL), 0, "%s", gf_err());
	rc = devsys_repo_push(r);
	devsys_repo_free(r);
	return rc;
}

Test(forge_gitcreds, push_uses_the_forge_secret_and_never_the_environment_token)
{
	char token[64], why[512];
	snprintf(token, sizeof(token), "secret-%ld-%d-c0ffee", (long)time(NULL), (int)getpid());
	dt_githttp *h = dt_githttp_start(true, token, why, sizeof(why));
	if (!h)
		dt_skip("%s", why);
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare), wsdir[4096];
	cr_assert(strncmp(url, "https://localhost:", 18) == 0, "%s", url);
	setenv("GITHUB_TOKEN", "wrong-environment-token", 1);
	setenv("F1_PUSH_TOKEN", token, 1);

	devsys_forge_vtable vt;
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_FORGE_VTABLE_VERSION;
	vt.name = "pushstub";
	vt.open = stub_open;
	vt.close = stub_close;
	vt.pr_upsert = stub_upsert;
	vt.pr_get = stub_get;
	cr_assert_eq(devsys_forge_register(&vt, NULL), 0, "%s", gf_err());
	const char *yaml = "forges:\n  localhost:\n    provider: pushstub\n    token_secret: push_token\n"
	                   "    token_provider: env\n    token_ref: F1_PUSH_TOKEN\n";
	devsys_config *cfg = NULL;
	cr_assert_eq(devsys_config_parse(&cfg, yaml, strlen(yaml), "devsys.yaml"), 0, "%s", gf_err());
	devsys_secrets *s = NULL;
	cr_assert_eq(devsys_secrets_new(&s, NULL), 0);
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_forge *f = NULL;
	fo.remote_url = url;
	fo.config = cfg;
	fo.secrets = s;
	cr_assert_eq(devsys_forge_new(&f, &fo), 0, "%s", gf_err());

	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t1 = gf_task(ws, "c1"), *t2 = gf_task(ws, "c2"), *t3 = gf_task(ws, "c3");

	/* Control: the default chain sends the environment's (wrong) token and is refused. */
	cr_assert_eq(push_with(t1, url, h->ca_file, NULL, 0, "a.txt"), DEVSYS_EAUTH, "%s", gf_err());
	/* Key-only: no token at all, never the environment's. */
	const devsys_repo_credential_provider keys[] = { { devsys_repo_key_credentials, NULL } };
	cr_assert_eq(push_with(t2, url, h->ca_file, keys, 1, "b.txt"), DEVSYS_EAUTH, "%s", gf_err());
	/* The forge's secret, then keys: accepted. */
	const devsys_repo_credential_provider chain[] = { { devsys_forge_credentials, f },
		                                          { devsys_repo_key_credentials, NULL } };
	cr_assert_eq(push_with(t3, url, h->ca_file, chain, 2, "c.txt"), 0, "%s", gf_err());
	cr_assert_eq(dt_sh("git -C '%s/proj.git' rev-parse -q --verify refs/heads/task/c3 >/dev/null", h->repos), 0,
	             "the push landed");
	cr_assert_not(gf_tree_contains(wsdir, token), "the token is in a file under the workspace");

	devsys_task_free(t1);
	devsys_task_free(t2);
	devsys_task_free(t3);
	devsys_workspace_free(ws);
	devsys_forge_free(f);
	devsys_secrets_free(s);
	devsys_config_free(cfg);
	cr_assert_eq(devsys_forge_unregister("pushstub"), 0);
	dt_githttp_free(h);
	free(bare);
	free(url);
}

Test(forge_gitcreds, devsys_git_push_with_a_forges_entry_takes_the_secret)
{
	const char *cli = getenv("DEVSYS_CLI");
	cr_assert_not_null(cli, "DEVSYS_CLI is set by ctest");
	char token[64], why[512], cfg[4200];
	snprintf(token, sizeof(token), "clitok-%ld-%d-beef", (long)time(NULL), (int)getpid());
	dt_githttp *h = dt_githttp_start(true, token, why, sizeof(why));
	if (!h)
		dt_skip("%s", why);
	char *bare = gf_make_remote(dir, "src"), *url = dt_githttp_add_repo(h, "proj", bare);
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", dir);
	/* the github provider sends nothing when it is bound: base_url is never contacted here */
	cr_assert(dt_write_file(cfg, "forges:\n  localhost:\n    provider: github\n    base_url: https://localhost:1\n"
	                             "    token_secret: push_token\n    token_provider: env\n"
	                             "    token_ref: F1_PUSH_TOKEN\n"));
	setenv("GITHUB_TOKEN", "wrong-environment-token", 1);
	setenv("F1_PUSH_TOKEN", token, 1);
	int st = -1;
	char *out = dt_sh_output(&st, "cd '%s' && '%s' --workspace ws git checkout 7 --url '%s' --ca-file '%s' --config '%s' 2>&1",
	                         dir, cli, url, h->ca_file, cfg);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	dt_sh("echo x > '%s/ws/tasks/7/checkout/x.txt'", dir);
	out = dt_sh_output(&st, "cd '%s' && '%s' --workspace ws git commit 7 --url '%s' --ca-file '%s' --config '%s' -m x 2>&1",
	                   dir, cli, url, h->ca_file, cfg);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	/* Control: without the entry the environment's wrong token is sent and refused. */
	out = dt_sh_output(&st, "cd '%s' && '%s' --workspace ws git push 7 --url '%s' --ca-file '%s' --config /dev/null 2>&1",
	                   dir, cli, url, h->ca_file);
	cr_assert_neq(st, 0, "%s", out);
	cr_assert(strstr(out, "auth") || strstr(out, "credential"), "%s", out);
	free(out);
	out = dt_sh_output(&st, "cd '%s' && '%s' --workspace ws git push 7 --url '%s' --ca-file '%s' --config '%s' 2>&1", dir,
	                   cli, url, h->ca_file, cfg);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_null(strstr(out, token), "%s", out);
	free(out);
	cr_assert_eq(dt_sh("git -C '%s/proj.git' rev-parse -q --verify refs/heads/task/7 >/dev/null", h->repos), 0);
	/* A named secret that cannot be resolved is a clear error, not a fallback to the environment. */
	unsetenv("F1_PUSH_TOKEN");
	out = dt_sh_output(&st, "cd '%s' && '%s' --workspace ws git push 7 --url '%s' --ca-file '%s' --config '%s' 2>&1", dir,
	                   cli, url, h->ca_file, cfg);
	cr_assert_neq(st, 0, "%s", out);
	cr_assert(strstr(out, "push_token"), "%s", out);
	free(out);
	dt_githttp_free(h);
	free(bare);
	free(url);
}
