/*
 * Remote command lines (internal): quoting survives a real /bin/sh for
 * hostile strings, and env values never appear in the command line (they
 * travel in the stdin preamble), also checked by decoding the preamble.
 */
#include "runner/runner_int.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

Test(runner_cmdline, quoting_round_trips_through_sh)
{
	const char *hostile[] = { "plain", "it's", "\"dq\"", "$(touch /tmp/x)", "`id`", "a\nb", "\\n", "*",
		                  "'", "''", "; rm -rf /", "$HOME", "\t tab", "-n", "" };
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		devsys_buf q = DEVSYS_BUF_INIT;
		cr_assert_eq(devsys__sh_quote(&q, hostile[i], strlen(hostile[i])), 0);
		int st;
		char *out = dt_sh_output(&st, "/bin/sh -c 'printf %%s \"$1\"' sh %s", q.ptr);
		cr_assert_eq(st, 0);
		cr_assert_str_eq(out, hostile[i], "quoted as %s", q.ptr);
		free(out);
		devsys_buf_dispose(&q);
	}
}

Test(runner_cmdline, env_values_stay_out_of_the_command_line)
{
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	const char *argv[] = { "deploy", "--now", NULL };
	const char *env[] = { "API_TOKEN=tok-SECRET-123", "EMPTY=", "ML=a\nb\n", NULL };
	devsys_buf line = DEVSYS_BUF_INIT, pre = DEVSYS_BUF_INIT;
	c.argv = argv;
	c.env = env;
	cr_assert_eq(devsys__ssh_cmdline(&line, &c, "/tmp/p", "/tmp/w"), 0);
	cr_assert_null(strstr(line.ptr, "SECRET"), "%s", line.ptr);
	cr_assert_null(strstr(line.ptr, "API_TOKEN"), "names too stay out: %s", line.ptr);
	cr_assert(strstr(line.ptr, "'deploy' '--now'"));
	cr_assert_eq(devsys__ssh_env_preamble(&pre, &c), 0);
	cr_assert_null(strstr(pre.ptr, "SECRET"), "values are encoded");
	cr_assert_eq(strncmp(pre.ptr, "API_TOKEN\n\\0164\\0157\\0153", 25), 0, "%s", pre.ptr);
	cr_assert_eq(pre.ptr[pre.size - 1], '\n');
	cr_assert_eq(pre.ptr[pre.size - 2], '\n', "an empty line ends the preamble");
	/* run the reader locally through /bin/sh: the command sees exactly the values */
	char *dir = dt_tmpdir("cmdline");
	char path[512], script[1024];
	snprintf(path, sizeof(path), "%s/pre", dir);
	FILE *f = fopen(path, "wb");
	fwrite(pre.ptr, 1, pre.size, f);
	fputs("stdin-after\n", f);
	fclose(f);
	const char *show[] = { "/bin/sh", "-c", "printf '[%s][%s][%s]' \"$API_TOKEN\" \"$EMPTY\" \"$ML\"; cat", NULL };
	c.argv = show;
	/* given stdin, the command reads what follows the preamble (none given: /dev/null, below) */
	c.stdin_data = "stdin-after\n";
	c.stdin_len = 12;
	/* the pid file goes next to the preamble file */
	snprintf(script, sizeof(script), "%s/pid", dir);
	devsys_buf l3 = DEVSYS_BUF_INIT, q3 = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys__ssh_cmdline(&l3, &c, script, dir), 0);
	cr_assert_eq(devsys__sh_quote(&q3, l3.ptr, l3.size), 0);
	int st;
	char *out = dt_sh_output(&st, "/bin/sh -c %s < %s", q3.ptr, path);
	cr_assert_eq(st, 0);
	cr_assert_str_eq(out, "[tok-SECRET-123][][a\nb\n]stdin-after\n");
	free(out);
	/* no stdin given: the command reads /dev/null, not the rest of the channel */
	c.stdin_data = NULL;
	c.stdin_len = 0;
	devsys_buf_clear(&l3);
	devsys_buf_clear(&q3);
	cr_assert_eq(devsys__ssh_cmdline(&l3, &c, script, dir), 0);
	cr_assert_eq(devsys__sh_quote(&q3, l3.ptr, l3.size), 0);
	out = dt_sh_output(&st, "/bin/sh -c %s < %s", q3.ptr, path);
	cr_assert_eq(st, 0);
	cr_assert_str_eq(out, "[tok-SECRET-123][][a\nb\n]");
	free(out);
	devsys_buf_dispose(&line);
	devsys_buf_dispose(&pre);
	devsys_buf_dispose(&q3);
	devsys_buf_dispose(&l3);
	dt_rmrf(dir);
	free(dir);
}

/* devsys_runner_options_init: the INIT defaults, only the struct's bytes written, and they work. */
Test(runner_cmdline, runner_options_init_gives_the_defaults_and_refuses_unknown_versions)
{
	union {
		devsys_runner_options o;
		unsigned char raw[sizeof(devsys_runner_options) + 32];
	} u;
	const devsys_runner_options init = DEVSYS_RUNNER_OPTIONS_INIT;
	memset(&u, 0xA5, sizeof(u));
	cr_assert_eq(devsys_runner_options_init(&u.o, DEVSYS_RUNNER_OPTIONS_VERSION), 0);
	cr_assert_eq(u.o.version, DEVSYS_RUNNER_OPTIONS_VERSION);
	cr_assert_eq(u.o.flags, init.flags);
	cr_assert_null(u.o.ws);
	cr_assert_null(u.o.masker);
	cr_assert_eq(u.o.grace_ms, 0u);
	cr_assert_eq(u.o.tail_max, 0u);
	cr_assert_eq(u.o.rlimit_cpu_s, 0u);
	cr_assert_null(u.o.host);
	cr_assert_eq(u.o.port, 0u);
	cr_assert_null(u.o.known_hosts);
	cr_assert_null(u.o.remote_dir);
	for (size_t i = sizeof(devsys_runner_options); i < sizeof(u.raw); i++)
		cr_assert_eq(u.raw[i], 0xA5, "byte %zu after the struct was written", i);

	memset(&u, 0xA5, sizeof(u));
	cr_assert_eq(devsys_runner_options_init(&u.o, 0), DEVSYS_EVERSION);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "version 0"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_runner_options_init(&u.o, DEVSYS_RUNNER_OPTIONS_VERSION + 1), DEVSYS_EVERSION);
	cr_assert_eq(u.raw[0], 0xA5, "a refused init wrote the struct");
	cr_assert_eq(devsys_runner_options_init(NULL, DEVSYS_RUNNER_OPTIONS_VERSION), DEVSYS_EINVAL);

	/* options from init open a runner that runs a command */
	devsys_runner_options o;
	devsys_runner *r = NULL;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *argv[] = { "/bin/true", NULL };
	cr_assert_gt(devsys_init(), 0);
	cr_assert_eq(devsys_runner_options_init(&o, DEVSYS_RUNNER_OPTIONS_VERSION), 0);
	cr_assert_eq(devsys_runner_open(&r, "inproc", &o), 0, "%s", devsys_error_message(devsys_error_last()));
	cmd.argv = argv;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	cr_assert_eq(res.exit_code, 0);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	devsys_shutdown();
}
