/*
 * The inproc runner through the public API: exec, streams, exit codes,
 * signals, explicit env, timeout and cancel with process-group kill (no
 * orphans), stdin, logs and tails, masking, limits, and the bad inputs.
 */
#include "runner_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp;
static devsys_runner *r;

static void open_runner(unsigned flags, unsigned grace_ms)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	o.flags = flags;
	o.grace_ms = grace_ms;
	devsys_runner_free(r);
	r = NULL;
	cr_assert_eq(devsys_runner_open(&r, "inproc", &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
	tmp = dt_tmpdir("inproc");
	r = NULL;
	open_runner(0, 500);
}

static void teardown(void)
{
	devsys_runner_free(r);
	dt_rmrf(tmp);
	free(tmp);
	devsys_shutdown();
}

TestSuite(runner_inproc, .init = setup, .fini = teardown, .timeout = 60);

static int run(const char *const *argv, struct capture *c, devsys_runner_result *res, unsigned timeout_ms)
{
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	cmd.argv = argv;
	cmd.output_cb = capture_cb;
	cmd.output_payload = c;
	cmd.timeout_ms = timeout_ms;
	return devsys_runner_exec(r, &cmd, res);
}

Test(runner_inproc, exec_streams_and_exit_codes)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[] = { "/bin/sh", "-c", "echo one; echo two >&2; printf 'no-newline'", NULL };
	cr_assert_eq(run(argv, &c, &res, 0), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	cr_assert_eq(res.exit_code, 0);
	cr_assert_str_eq(cap_out(&c), "one\nno-newline");
	cr_assert_str_eq(cap_err(&c), "two\n");
	cr_assert(strstr(res.tail, "out| one\n"), "%s", res.tail);
	cr_assert(strstr(res.tail, "err| two\n"), "%s", res.tail);
	cr_assert_eq(res.attempts, 1);
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	const char *fail[] = { "/bin/sh", "-c", "exit 3", NULL };
	memset(&c, 0, sizeof(c));
	cr_assert_eq(run(fail, &c, &res, 0), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	cr_assert_eq(res.exit_code, 3);
	devsys_runner_result_dispose(&res);

	const char *sig[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	cr_assert_eq(run(sig, &c, &res, 0), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	cr_assert_eq(res.signal, 9);
	cr_assert_eq(res.exit_code, -1);
	devsys_runner_result_dispose(&res);

	/* argv[0] looked up in PATH */
	const char *echo[] = { "echo", "via-path", NULL };
	cr_assert_eq(run(echo, &c, &res, 0), 0);
	cr_assert_str_eq(cap_out(&c), "via-path\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_inproc, environment_is_explicit)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *argv[] = { "/usr/bin/env", NULL };
	const char *env[] = { "FOO=bar=baz", "PATH=/opt/x:/usr/bin:/bin", NULL };
	setenv("DEVSYS_PARENT_ONLY", "parent-value", 1);
	cmd.argv = argv;
	cmd.env = env;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert(strstr(cap_out(&c), "FOO=bar=baz\n"));
	cr_assert(strstr(cap_out(&c), "PATH=/opt/x:/usr/bin:/bin\n"), "the command's PATH wins: %s", cap_out(&c));
	cr_assert(strstr(cap_out(&c), "HOME="), "HOME is supplied");
	cr_assert_null(strstr(cap_out(&c), "DEVSYS_PARENT_ONLY"), "the parent env leaked: %s", cap_out(&c));
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	memset(&c, 0, sizeof(c));
	cmd.flags = DEVSYS_RUNNER_CMD_INHERIT_ENV;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert(strstr(cap_out(&c), "DEVSYS_PARENT_ONLY=parent-value\n"));
	cr_assert(strstr(cap_out(&c), "FOO=bar=baz\n"));
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_inproc, timeout_kills_group_no_orphan)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char script[1024], pidfile[512];
	snprintf(pidfile, sizeof(pidfile), "%s/grandchild.pid", tmp);
	/* a grandchild that ignores SIGTERM, and a parent that waits for it */
	snprintf(script, sizeof(script),
	         "trap '' TERM; sh -c 'trap \"\" TERM; echo $$ > %s; exec sleep 1000' & echo ready; wait", pidfile);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	long t0 = now_ms_();
	cr_assert_eq(run(argv, &c, &res, 400), DEVSYS_ETIMEOUT);
	long took = now_ms_() - t0;
	cr_assert_eq(res.failure, DEVSYS_RUNNER_TIMEOUT);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "timed out"));
	cr_assert_geq(took, 400);
	cr_assert_lt(took, 5000, "grace is 500 ms, took %ld ms", took);
	char *pid = dt_read_file(pidfile, NULL);
	cr_assert_not_null(pid, "the grandchild never started");
	long gp = atol(pid);
	cr_assert_gt(gp, 1);
	WAIT_UNTIL(!pid_alive(gp), 2000);
	cr_assert(!pid_alive(gp), "grandchild %ld (ignores SIGTERM) survived the exec", gp);
	free(pid);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_inproc, leftovers_killed_after_normal_exit)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char script[1024], pidfile[512];
	snprintf(pidfile, sizeof(pidfile), "%s/bg.pid", tmp);
	/* the background child closes its output, so only the group kill ends it */
	snprintf(script, sizeof(script), "sleep 1000 >/dev/null 2>&1 & echo $! > %s; exit 0", pidfile);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	cr_assert_eq(run(argv, &c, &res, 0), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	char *pid = dt_read_file(pidfile, NULL);
	cr_assert_not_null(pid);
	WAIT_UNTIL(!pid_alive(atol(pid)), 2000);
	cr_assert(!pid_alive(atol(pid)), "a background process outlived the exec");
	free(pid);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

struct canceller {
	struct capture *c;
	devsys_runner *r;
};

static void *cancel_thread(void *arg)
{
	struct canceller *k = arg;
	WAIT_UNTIL(__atomic_load_n(&k->c->saw_ready, __ATOMIC_ACQUIRE), 10000);
	devsys_runner_cancel(k->r);
	return NULL;
}

Test(runner_inproc, cancel_from_another_thread)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	struct canceller k = { &c, r };
	pthread_t th;
	const char *argv[] = { "/bin/sh", "-c", "echo ready; exec sleep 1000", NULL };
	cr_assert_eq(pthread_create(&th, NULL, cancel_thread, &k), 0);
	long t0 = now_ms_();
	cr_assert_eq(run(argv, &c, &res, 0), DEVSYS_ECANCELED);
	pthread_join(th, NULL);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_CANCELED);
	cr_assert_eq(res.signal, SIGTERM);
	cr_assert_lt(now_ms_() - t0, 5000);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	/* the runner works normally afterwards */
	const char *ok[] = { "/bin/true", NULL };
	cr_assert_eq(run(ok, &c, &res, 0), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	devsys_runner_result_dispose(&res);
}

Test(runner_inproc, callback_abort_stops_command)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	c.abort_after = 1;
	const char *argv[] = { "/bin/sh", "-c", "while :; do echo spam; sleep 0.01; done", NULL };
	cr_assert_eq(run(argv, &c, &res, 0), DEVSYS_EUSER);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_CANCELED);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_inproc, stdin_buffer_file_and_never_read)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *cat[] = { "/bin/cat", NULL };
	cmd.argv = cat;
	cmd.stdin_data = "line1\nline2\n";
	cmd.stdin_len = 12;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_str_eq(cap_out(&c), "line1\nline2\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	/* from a file */
	char path[512];
	snprintf(path, sizeof(path), "%s/in.txt", tmp);
	cr_assert(dt_write_file(path, "from-file\n"));
	memset(&c, 0, sizeof(c));
	cmd.stdin_data = NULL;
	cmd.stdin_len = 0;
	cmd.stdin_file = path;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_str_eq(cap_out(&c), "from-file\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	/* 16 MB of stdin to a command that never reads it: no hang, no SIGPIPE */
	size_t big = 16u << 20;
	char *data = malloc(big);
	memset(data, 'x', big);
	const char *noread[] = { "/bin/sh", "-c", "sleep 0.2; echo done", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = noread;
	cmd.stdin_file = NULL;
	cmd.stdin_data = data;
	cmd.stdin_len = big;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	cr_assert_str_eq(cap_out(&c), "done\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	/* and all of it to one that does */
	const char *wc[] = { "/usr/bin/wc", "-c", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = wc;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_eq(atol(cap_out(&c)), (long)big);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	free(data);
}

Test(runner_inproc, closes_stdout_but_keeps_running)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[] = { "/bin/sh", "-c", "echo before; exec 1>&- 2>&-; sleep 0.5; exit 7", NULL };
	long t0 = now_ms_();
	cr_assert_eq(run(argv, &c, &res, 0), 0);
	cr_assert_geq(now_ms_() - t0, 450, "the runner must wait for the exit, not for EOF");
	cr_assert_eq(res.exit_code, 7);
	cr_assert_str_eq(cap_out(&c), "before\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_inproc, binary_invalid_utf8_and_50mb_without_newline)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_workspace *ws;
	devsys_task *task;
	char wsdir[512];

	const char *bin[] = { "/usr/bin/printf", "a\\000b\\377\\376\\303(\\n", NULL };
	cr_assert_eq(run(bin, &c, &res, 0), 0);
	cr_assert_eq(c.out.size, 8);
	cr_assert_eq(memcmp(c.out.ptr, "a\0b\xff\xfe\xc3(\n", 8), 0, "bytes must pass unchanged");
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	snprintf(wsdir, sizeof(wsdir), "%s/ws", tmp);
	cr_assert_eq(devsys_workspace_open(&ws, wsdir, NULL), 0);
	cr_assert_eq(devsys_task_open(&task, ws, "t50", DEVSYS_TASK_CREATE), 0);
	const char *big[] = { "/bin/sh", "-c", "head -c 52428800 /dev/zero | tr '\\0' a; echo; echo end >&2", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = big;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cmd.task = task;
	cmd.stage = "test";
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_eq(c.out.size, 52428801);
	cr_assert_leq(c.max_piece, 65536, "lines are delivered in pieces of at most 64 KiB");
	cr_assert_eq(res.output_bytes, 52428801 + 4);
	cr_assert(res.truncated);
	cr_assert_not_null(res.log_path);
	/* the kept 1 MiB plus one line that names the log (as long as the test temp path) */
	cr_assert_leq(res.tail_len, (1u << 20) + 100 + strlen(res.log_path));
	cr_assert(strstr(res.tail, res.log_path), "the tail must say where the rest is");
	cr_assert(strstr(res.tail, "err| end\n"));
	struct stat st;
	cr_assert_eq(stat(res.log_path, &st), 0);
	cr_assert_gt(st.st_size, 52428800, "the log holds everything");
	cr_assert(strstr(res.log_path, "/tasks/t50/logs/test.log"));
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	devsys_task_free(task);
	devsys_workspace_free(ws);
}

Test(runner_inproc, hostile_argv_passed_verbatim_and_100k_args)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char marker[512], inj[600];
	snprintf(marker, sizeof(marker), "%s/pwned", tmp);
	snprintf(inj, sizeof(inj), "$(touch %s)", marker);
	const char *argv[] = { "/usr/bin/printf", "[%s]", "it's \"q\"", inj, "`touch x`", "a\nb", "; rm -rf /", NULL };
	cr_assert_eq(run(argv, &c, &res, 0), 0);
	char want[2048];
	snprintf(want, sizeof(want), "[it's \"q\"][%s][`touch x`][a\nb][; rm -rf /]", inj);
	cr_assert_str_eq(cap_out(&c), want);
	cr_assert(!dt_exists(marker));
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	size_t n = 100000;
	const char **many = calloc(n + 5, sizeof(char *));
	many[0] = "/bin/sh";
	many[1] = "-c";
	many[2] = "echo $#";
	many[3] = "sh";
	for (size_t i = 0; i < n; i++)
		many[4 + i] = "x";
	many[n + 4] = NULL;
	memset(&c, 0, sizeof(c));
	cr_assert_eq(run(many, &c, &res, 0), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(cap_out(&c), "100000\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	free(many);
}

Test(runner_inproc, bad_inputs_refused_before_running)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *argv[] = { "/bin/true", NULL };
	cmd.argv = argv;

	const char *bad_envs[][2] = { { "=value", NULL }, { "A-B=1", NULL }, { "NOEQUALS", NULL }, { "1X=2", NULL } };
	for (size_t i = 0; i < 4; i++) {
		cmd.env = bad_envs[i];
		cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_EINVALID, "%s", bad_envs[i][0]);
		cr_assert_eq(res.failure, DEVSYS_RUNNER_NOT_RUN);
		cr_assert(strstr(devsys_error_message(devsys_error_last()), "env[0]"));
	}
	cmd.env = NULL;

	cmd.cwd = "/nonexistent/devsys/dir";
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "/nonexistent/devsys/dir"));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_NOT_RUN);
	cmd.cwd = tmp;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	devsys_runner_result_dispose(&res);
	cmd.cwd = NULL;

	/* NUL inside an argument (argv read from binary input) */
	const char nul_arg[] = "ab\0cd";
	const char *nargv[] = { "/bin/echo", nul_arg, NULL };
	size_t lens[] = { 9, 5 };
	cmd.argv = nargv;
	cmd.argv_len = lens;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "NUL"));
	cmd.argv_len = NULL;
	cmd.argv = argv;

	const char *missing[] = { "no-such-program-devsys", NULL };
	cmd.argv = missing;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_ENOTFOUND);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_NOT_RUN);
	cmd.argv = argv;

	const char *empty[] = { NULL };
	cmd.argv = empty;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_EINVAL);
	cmd.argv = argv;

	/* a shell needs the operator's permission */
	const char *script[] = { "echo $((40+2))", NULL };
	cmd.argv = script;
	cmd.flags = DEVSYS_RUNNER_CMD_SHELL;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_EACCESS);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "allow_shell"));
	open_runner(DEVSYS_RUNNER_ALLOW_SHELL, 500);
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_str_eq(cap_out(&c), "42\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

/*
 * Releases the second half of a secret only once the runner has read the
 * first: the command opens @p fifo for reading after printing the first half
 * (so our open succeeds only then), and the runner has read it when the
 * command's stdout pipe, opened here through /proc, holds no byte.
 */
struct gate {
	char fifo[600], pidfile[600];
	int drained; /* the first half was read before the second was written */
};

static void *gate_thread(void *arg)
{
	struct gate *g = arg;
	int fd = -1, out = -1, pending = -1;
	long dl = now_ms_() + 20000;
	while ((fd = open(g->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENXIO && now_ms_() < dl) {
		struct timespec ts = { 0, 5 * 1000000L };
		nanosleep(&ts, NULL); /* polling: no reader has opened the FIFO yet */
	}
	if (fd < 0)
		return NULL;
	char *pid = dt_read_file(g->pidfile, NULL);
	if (pid) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/%ld/fd/1", atol(pid));
		out = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		free(pid);
	}
	if (out >= 0) {
		WAIT_UNTIL(ioctl(out, FIONREAD, &pending) == 0 && pending == 0, 20000);
		g->drained = pending == 0;
		close(out);
	}
	if (write(fd, "go\n", 3) != 3)
		g->drained = 0;
	close(fd);
	return NULL;
}

Test(runner_inproc, masks_secrets_split_across_reads)
{
	devsys_masker *m;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	struct gate g = { .drained = 0 };
	pthread_t th;
	char script[2048];
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "api_key", "AKIA-SECRET-VALUE-1234", 22), 0);
	o.masker = m;
	devsys_runner_free(r);
	cr_assert_eq(devsys_runner_open(&r, "inproc", &o), 0);
	snprintf(g.fifo, sizeof(g.fifo), "%s/gate", tmp);
	snprintf(g.pidfile, sizeof(g.pidfile), "%s/pid", tmp);
	cr_assert_eq(mkfifo(g.fifo, 0600), 0);
	/* the second half is written only after the gate opens: two reads, whatever the timing */
	snprintf(script, sizeof(script),
	         "echo $$ > '%s'; printf 'key=AKIA-SEC'; read go < '%s'; printf 'RET-VALUE-1234 ok\\n'; "
	         "echo AKIA-SECRET-VALUE-1234 >&2",
	         g.pidfile, g.fifo);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	cr_assert_eq(pthread_create(&th, NULL, gate_thread, &g), 0);
	cr_assert_eq(run(argv, &c, &res, 30000), 0);
	pthread_join(th, NULL);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK, "the command did not finish: %s", cap_err(&c));
	cr_assert(g.drained, "the runner did not read the first half before the second was written");
	cr_assert_str_eq(cap_out(&c), "key=[MASKED:api_key] ok\n");
	cr_assert_str_eq(cap_err(&c), "[MASKED:api_key]\n");
	cr_assert_null(strstr(res.tail, "AKIA-SECRET"));
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	devsys_runner_free(r);
	r = NULL;
	devsys_masker_free(m);
}

Test(runner_inproc, resource_limits)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	o.rlimit_nofile = 17;
	o.rlimit_cpu_s = 1;
	devsys_runner_free(r);
	cr_assert_eq(devsys_runner_open(&r, "inproc", &o), 0);
	const char *argv[] = { "/bin/sh", "-c", "ulimit -n; ulimit -t", NULL };
	cr_assert_eq(run(argv, &c, &res, 0), 0);
	cr_assert_str_eq(cap_out(&c), "17\n1\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	/* CPU limit: a busy loop is killed by SIGXCPU/SIGKILL */
	const char *spin[] = { "/bin/sh", "-c", "while :; do :; done", NULL };
	cr_assert_eq(run(spin, &c, &res, 20000), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	cr_assert(res.signal == SIGXCPU || res.signal == SIGKILL, "signal %d", res.signal);
	devsys_runner_result_dispose(&res);
}

Test(runner_inproc, upload_download_local_tree)
{
	char src[512], dst[512], back[512];
	snprintf(src, sizeof(src), "%s/src", tmp);
	snprintf(dst, sizeof(dst), "%s/dst", tmp);
	snprintf(back, sizeof(back), "%s/back", tmp);
	cr_assert_eq(dt_sh("mkdir -p %s/a/b && echo hi > %s/a/b/f && ln -s f %s/a/b/l", src, src, src), 0);
	cr_assert_eq(devsys_runner_upload(r, src, dst), 0);
	cr_assert_eq(devsys_runner_download(r, dst, back), 0);
	cr_assert_eq(dt_sh("diff -r %s %s && test -L %s/a/b/l", src, back, back), 0);
	cr_assert_eq(devsys_runner_upload(r, "/nonexistent/x", dst), DEVSYS_ENOTFOUND);
}

Test(runner_inproc, open_and_registry_errors)
{
	devsys_runner *x = NULL;
	cr_assert_eq(devsys_runner_open(&x, "no-such-runner", NULL), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "no-such-runner"));
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	o.version = 99;
	cr_assert_eq(devsys_runner_open(&x, "inproc", &o), DEVSYS_EVERSION);
	devsys_runner_vtable vt;
	memset(&vt, 0, sizeof(vt));
	vt.version = DEVSYS_RUNNER_VTABLE_VERSION;
	vt.name = "incomplete";
	cr_assert_eq(devsys_runner_register(&vt, NULL), DEVSYS_EINVAL);
	vt.version = 42;
	cr_assert_eq(devsys_runner_register(&vt, NULL), DEVSYS_EVERSION);
	cr_assert_str_eq(devsys_runner_type(r), "inproc");
	cr_assert_str_eq(devsys_runner_failure_name(DEVSYS_RUNNER_TIMEOUT), "timeout");
	/* inproc has no per-task place: prepare/cleanup are no-ops */
	cr_assert_null(devsys_runner_workdir(r, NULL));
}
