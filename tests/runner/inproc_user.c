/*
 * The inproc runner's `user` (devsys/sys/runner_inproc.h): a token in a
 * mode-0600 file, read by the real `file` secrets provider, cannot be read by
 * a command run as `nobody`, and the same command without `user` reads it
 * (positive control). The switch is complete (uid, gid, groups), the
 * working directory is entered as the user, an unusable HOME falls back to
 * the user's own, and the refusals are clear: an unknown user, a runner
 * opened by a non-root process, a foreign backend tag. Also through
 * devsys.yaml (`type: inproc`, `user:`), the way the pipeline opens it.
 */
#include "runner_common.h"

#include <devsys/config.h>
#include <devsys/sys/runner_inproc.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;   /* 0755, under /tmp: the user can enter it */
static char token_path[600];
static char token[64];
static struct passwd *nobody;

static void setup(void)
{
	char tmpl[] = "/tmp/dt-inproc-user-XXXXXX";
	cr_assert_gt(devsys_init(), 0);
	dir = NULL;
	if (geteuid() != 0)
		dt_skip("running commands as another user needs root (this test runs as uid %u)", (unsigned)geteuid());
	if (!(nobody = getpwnam("nobody")))
		dt_skip("this machine has no user 'nobody'");
	cr_assert_not_null(mkdtemp(tmpl));
	dir = strdup(tmpl);
	cr_assert_eq(chmod(dir, 0755), 0);
	/* a fake token, built from pieces so no credential-shaped string is in the source */
	snprintf(token, sizeof(token), "%s%s-%s", "ghp", "_fake", "0123456789abcdef");
	snprintf(token_path, sizeof(token_path), "%s/token", dir);
	FILE *f = fopen(token_path, "w");
	cr_assert_not_null(f);
	fputs(token, f);
	fclose(f);
	cr_assert_eq(chmod(token_path, 0600), 0);
}

static void teardown(void)
{
	if (dir) {
		dt_rmrf(dir);
		free(dir);
	}
	devsys_shutdown();
}

TestSuite(inproc_user, .init = setup, .fini = teardown, .timeout = 60);

static int open_as(devsys_runner **r, const char *user)
{
	devsys_runner_inproc_options x = DEVSYS_RUNNER_INPROC_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	x.user = user;
	o.grace_ms = 500;
	if (user) {
		o.backend_tag = DEVSYS_RUNNER_INPROC_TAG;
		o.backend_options = &x;
	}
	return devsys_runner_open(r, "inproc", &o);
}

static int run_in(devsys_runner *r, const char *cwd, const char *const *env, const char *script, struct capture *c,
                  devsys_runner_result *res)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	cmd.argv = argv;
	cmd.cwd = cwd;
	cmd.env = env;
	cmd.output_cb = capture_cb;
	cmd.output_payload = c;
	cmd.timeout_ms = 30000;
	return devsys_runner_exec(r, &cmd, res);
}

/* The token through the file provider: proof that it is the provider's file. */
static void check_provider_reads_token(void)
{
	devsys_secrets *s = NULL;
	devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
	const char *v = NULL;
	cr_assert_eq(devsys_secrets_new(&s, NULL), 0);
	d.name = "forge_token";
	d.provider = "file";
	d.ref = token_path;
	cr_assert_eq(devsys_secrets_define(s, &d), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_secrets_resolve(s, "forge_token", NULL, "agent", &v, NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(v, token);
	devsys_secrets_free(s);
}

Test(inproc_user, nobody_cannot_read_the_file_providers_token)
{
	devsys_runner *r = NULL;
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char script[800];
	check_provider_reads_token();
	snprintf(script, sizeof(script), "cat '%s'", token_path);
	cr_assert_eq(open_as(&r, "nobody"), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(run_in(r, dir, NULL, script, &c, &res), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE, "%s", res.tail);
	cr_assert_neq(res.exit_code, 0);
	cr_assert(strstr(cap_err(&c), "Permission denied"), "%s", cap_err(&c));
	cr_assert_null(strstr(cap_out(&c), token), "nobody read the token");
	cr_assert_null(strstr(res.tail, token));
	cr_assert(strstr(res.tail, "sys| running as user 'nobody'"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	devsys_runner_free(r);
}

Test(inproc_user, without_user_the_same_command_reads_the_token)
{
	devsys_runner *r = NULL;
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char script[800];
	snprintf(script, sizeof(script), "cat '%s'", token_path);
	cr_assert_eq(open_as(&r, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(run_in(r, dir, NULL, script, &c, &res), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK, "%s", res.tail);
	cr_assert_str_eq(cap_out(&c), token);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	devsys_runner_free(r);
}

Test(inproc_user, the_switch_is_complete_uid_gid_and_groups)
{
	devsys_runner *r = NULL;
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char want[128];
	devsys_runner_description d;
	memset(&d, 0, sizeof(d));
	d.version = DEVSYS_RUNNER_DESCRIPTION_VERSION;
	cr_assert_eq(open_as(&r, "nobody"), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(run_in(r, dir, NULL, "echo $(id -u) $(id -g) $(id -G) $(id -ru)", &c, &res), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK, "%s", res.tail);
	snprintf(want, sizeof(want), "%u %u %u %u\n", (unsigned)nobody->pw_uid, (unsigned)nobody->pw_gid,
	         (unsigned)nobody->pw_gid, (unsigned)nobody->pw_uid);
	cr_assert_str_eq(cap_out(&c), want, "root's groups must be gone");
	cr_assert_eq(devsys_runner_describe(r, &d), 0);
	cr_assert(strstr(d.where, "(as user nobody)"), "%s", d.where);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	devsys_runner_free(r);
}

Test(inproc_user, the_working_directory_is_entered_as_the_user)
{
	devsys_runner *r = NULL;
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char priv[700];
	snprintf(priv, sizeof(priv), "%s/private", dir);
	cr_assert_eq(mkdir(priv, 0700), 0);
	cr_assert_eq(open_as(&r, "nobody"), 0);
	cr_assert_eq(run_in(r, priv, NULL, "echo ran", &c, &res), DEVSYS_EACCESS);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_NOT_RUN);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "user 'nobody' cannot enter the working directory"),
	          "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(cap_out(&c), "");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	devsys_runner_free(r);
}

Test(inproc_user, home_is_kept_when_usable_and_else_the_users_own)
{
	devsys_runner *r = NULL;
	char home_ok[700], home_root[700], e_ok[800], e_root[800];
	snprintf(home_ok, sizeof(home_ok), "%s/home-ok", dir);
	snprintf(home_root, sizeof(home_root), "%s/home-root", dir);
	cr_assert_eq(mkdir(home_ok, 0700), 0);
	cr_assert_eq(chown(home_ok, nobody->pw_uid, nobody->pw_gid), 0);
	cr_assert_eq(mkdir(home_root, 0700), 0);
	snprintf(e_ok, sizeof(e_ok), "HOME=%s", home_ok);
	snprintf(e_root, sizeof(e_root), "HOME=%s", home_root);
	cr_assert_eq(open_as(&r, "nobody"), 0);
	for (int k = 0; k < 2; k++) {
		struct capture c = { 0 };
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		const char *env[] = { k ? e_root : e_ok, NULL };
		char want[800];
		cr_assert_eq(run_in(r, dir, env, "echo \"$HOME\"", &c, &res), 0);
		snprintf(want, sizeof(want), "%s\n", k ? nobody->pw_dir : home_ok);
		cr_assert_str_eq(cap_out(&c), want);
		if (k)
			cr_assert(strstr(res.tail, "not writable by that user"), "%s", res.tail);
		else
			cr_assert_null(strstr(res.tail, "not writable"), "%s", res.tail);
		devsys_runner_result_dispose(&res);
		capture_free(&c);
	}
	devsys_runner_free(r);
}

Test(inproc_user, refusals_are_clear)
{
	devsys_runner *r = NULL;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_inproc_options x = DEVSYS_RUNNER_INPROC_OPTIONS_INIT;
	cr_assert_eq(open_as(&r, "no-such-user-devsys"), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "'no-such-user-devsys'"));
	cr_assert_null(r);
	/* a foreign tag */
	o.backend_tag = "docker";
	o.backend_options = &x;
	cr_assert_eq(devsys_runner_open(&r, "inproc", &o), DEVSYS_EINVAL);
	/* a bad version of the inproc options */
	x.version = 99;
	o.backend_tag = DEVSYS_RUNNER_INPROC_TAG;
	cr_assert_eq(devsys_runner_open(&r, "inproc", &o), DEVSYS_EVERSION);
}

/* devsys itself running as a user other than root: `user` is refused, never
 * ignored (the CLI, run with runuser, opens the profile the way a pipeline does). */
Test(inproc_user, not_root_is_refused_not_ignored)
{
	const char *cli = getenv("DT_DEVSYS_CLI");
	char cfg[700], *out;
	int st = -1;
	if (!cli)
		dt_skip("DT_DEVSYS_CLI is not set (the devsys CLI target is not built)");
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", dir);
	FILE *f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fputs("runners:\n  agent:\n    type: inproc\n    user: nobody\n", f);
	fclose(f);
	cr_assert_eq(chmod(cfg, 0644), 0);
	out = dt_sh_output(&st, "cd / && runuser -u nobody -- '%s' exec --config '%s' --profile agent -- /bin/echo ran 2>&1",
	                   cli, cfg);
	cr_assert_neq(st, 0, "%s", out);
	cr_assert(out && strstr(out, "needs devsys to run as root"), "%s", out ? out : "");
	cr_assert_null(strstr(out, "ran\n"), "the command ran anyway: %s", out);
	free(out);
	/* positive control: the same CLI and profile as root run the command as nobody */
	out = dt_sh_output(&st, "cd / && '%s' exec --config '%s' --profile agent -- /usr/bin/id -u 2>&1", cli, cfg);
	cr_assert_eq(st, 0, "%s", out ? out : "");
	{
		char want[32];
		snprintf(want, sizeof(want), "%u\n", (unsigned)nobody->pw_uid);
		cr_assert(out && strstr(out, want), "%s", out ? out : "");
	}
	free(out);
}

Test(inproc_user, from_devsys_yaml_as_the_pipeline_opens_it)
{
	const char *yaml = "runners:\n"
	                   "  agent:\n"
	                   "    type: inproc\n"
	                   "    user: nobody\n"
	                   "  plain:\n"
	                   "    type: inproc\n";
	devsys_config *cfg = NULL;
	const char *type = NULL;
	char want[32];
	cr_assert_eq(devsys_config_parse(&cfg, yaml, strlen(yaml), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	for (int k = 0; k < 2; k++) {
		devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
		devsys_runner *r = NULL;
		struct capture c = { 0 };
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		cr_assert_eq(devsys_config_runner(cfg, k ? "plain" : "agent", &type, &o), 0);
		cr_assert_str_eq(type, "inproc");
		if (k)
			cr_assert_null(o.backend_tag);
		else
			cr_assert_str_eq(o.backend_tag, DEVSYS_RUNNER_INPROC_TAG);
		cr_assert_eq(devsys_runner_open(&r, type, &o), 0, "%s", devsys_error_message(devsys_error_last()));
		cr_assert_eq(run_in(r, dir, NULL, "id -u", &c, &res), 0);
		snprintf(want, sizeof(want), "%u\n", k ? 0u : (unsigned)nobody->pw_uid);
		cr_assert_str_eq(cap_out(&c), want);
		devsys_runner_result_dispose(&res);
		capture_free(&c);
		devsys_runner_free(r);
	}
	/* a version-1 options struct cannot carry the user: refused, never dropped */
	{
		devsys_runner_options o1 = DEVSYS_RUNNER_OPTIONS_INIT;
		o1.version = 1;
		cr_assert_eq(devsys_config_runner(cfg, "agent", &type, &o1), DEVSYS_EVERSION);
		cr_assert(strstr(devsys_error_message(devsys_error_last()), "user 'nobody'"));
	}
	devsys_config_free(cfg);
}
