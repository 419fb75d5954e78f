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
	devsys_buf_dispose(&line);
	devsys_buf_dispose(&pre);
	devsys_buf_dispose(&q3);
	devsys_buf_dispose(&l3);
	dt_rmrf(dir);
	free(dir);
}
