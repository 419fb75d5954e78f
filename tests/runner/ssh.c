/*
 * The remote-ssh runner against a real OpenSSH sshd (tests/support
 * sshd_fixture) on 127.0.0.1: exec, streaming, exit codes, hostile argv,
 * timeout/cancel killing the remote process group (checked with pgrep over
 * ssh), SFTP tree transfer with a 50 MB file, sshd killed mid-command
 * (system failure, retry on the restarted server), host key and user key
 * failures, per-task working directories, 100 000 arguments.
 */
#include "runner_common.h"
#include "sshd_fixture.h"

#include <ctype.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static dt_sshd *sshd;
static devsys_runner *r;
static char *ssh_cmd;

static int open_with(devsys_runner **out, const char *known_hosts, const char *key, unsigned flags, unsigned retries)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	o.host = sshd->host;
	o.port = (unsigned)sshd->port;
	o.user = sshd->user;
	o.key_file = key;
	o.known_hosts = known_hosts;
	o.flags = flags;
	o.grace_ms = 500;
	o.retries = retries;
	o.remote_dir = sshd->dir;
	o.connect_timeout_ms = 10000;
	return devsys_runner_open(out, "remote-ssh", &o);
}

static void setup(void)
{
	char why[512];
	cr_assert_gt(devsys_init(), 0);
	r = NULL;
	ssh_cmd = NULL;
	if (!(sshd = dt_sshd_start(why, sizeof(why))))
		dt_skip("%s", why);
	ssh_cmd = dt_sshd_ssh_cmd(sshd);
	cr_assert_eq(open_with(&r, sshd->known_hosts, sshd->user_key, 0, 0), 0, "%s",
	             devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_runner_free(r);
	dt_sshd_free(sshd);
	free(ssh_cmd);
	devsys_shutdown();
}

TestSuite(runner_ssh, .init = setup, .fini = teardown, .timeout = 120);

static int run(const char *const *argv, struct capture *c, devsys_runner_result *res, unsigned timeout_ms)
{
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	cmd.argv = argv;
	cmd.output_cb = capture_cb;
	cmd.output_payload = c;
	cmd.timeout_ms = timeout_ms;
	return devsys_runner_exec(r, &cmd, res);
}

/*
 * Number of remote processes whose command line matches @p pattern (pgrep -c
 * -f over ssh), or -1 when the probe itself failed. pgrep prints 0 and exits
 * 1 when nothing matches, so that status is an answer, not a failure; ssh's
 * own failure (255), any other status, or output that is not a bare count
 * consistent with the status is -1, so a broken probe never reads as "no
 * survivors".
 */
static int remote_count(const char *pattern)
{
	int st = -1;
	char *end = NULL;
	long n = -1;
	char *out = dt_sh_output(&st, "%s \"pgrep -c -f '%s'\" 2>/dev/null", ssh_cmd, pattern);
	if (out && (st == 0 || st == 1) && isdigit((unsigned char)out[0])) {
		n = strtol(out, &end, 10);
		if (strcmp(end, "\n") != 0 || (st == 1) != (n == 0))
			n = -1;
	}
	free(out);
	return (int)n;
}

/* The probe itself: a command that fails over ssh, or a bad pattern, is -1, not 0. */
Test(runner_ssh, remote_count_probe_fails_loudly)
{
	cr_assert_eq(remote_count("no-such-process-[x]42499"), 0, "a probe that matches nothing is 0");
	cr_assert_eq(remote_count("[unclosed"), -1, "pgrep's syntax error (status 2) must not read as 0");
	char *saved = ssh_cmd;
	/* nothing listens on loopback port 1: ssh itself fails with 255 */
	char dead[] = "ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5 -p 1 127.0.0.1";
	ssh_cmd = dead;
	int n = remote_count("slee[p]");
	ssh_cmd = saved;
	cr_assert_eq(n, -1, "a failed ssh connection read as %d processes", n);
}

Test(runner_ssh, exec_exit_codes_and_streams)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[] = { "/bin/sh", "-c", "echo one; echo two >&2; printf tail", NULL };
	cr_assert_eq(run(argv, &c, &res, 0), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	cr_assert_str_eq(cap_out(&c), "one\ntail");
	cr_assert_str_eq(cap_err(&c), "two\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	const char *fail[] = { "/bin/sh", "-c", "exit 42", NULL };
	cr_assert_eq(run(fail, &c, &res, 0), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	cr_assert_eq(res.exit_code, 42);
	devsys_runner_result_dispose(&res);

	const char *sig[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
	cr_assert_eq(run(sig, &c, &res, 0), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	cr_assert_eq(res.signal, SIGTERM);
	devsys_runner_result_dispose(&res);

	/* the environment is explicit: PATH and HOME plus the command's */
	const char *envp[] = { "/usr/bin/env", NULL };
	const char *env[] = { "GREETING=hello world", NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	memset(&c, 0, sizeof(c));
	cmd.argv = envp;
	cmd.env = env;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert(strstr(cap_out(&c), "GREETING=hello world\n"));
	cr_assert(strstr(cap_out(&c), "PATH="));
	cr_assert(strstr(cap_out(&c), "HOME="));
	cr_assert_null(strstr(cap_out(&c), "SSH_CONNECTION"), "login env leaked: %s", cap_out(&c));
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	/* stdin */
	const char *cat[] = { "cat", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = cat;
	cmd.env = NULL;
	cmd.stdin_data = "over ssh\n";
	cmd.stdin_len = 9;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_str_eq(cap_out(&c), "over ssh\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

struct stamp {
	struct capture c;
	long first_ms;
};

static int stamp_cb(int stream, const char *data, size_t len, void *payload)
{
	struct stamp *s = payload;
	if (!s->first_ms)
		s->first_ms = now_ms_();
	return capture_cb(stream, data, len, &s->c);
}

Test(runner_ssh, output_is_streamed_while_running)
{
	struct stamp s;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *argv[] = { "/bin/sh", "-c", "echo first; sleep 1; echo second", NULL };
	memset(&s, 0, sizeof(s));
	cmd.argv = argv;
	cmd.output_cb = stamp_cb;
	cmd.output_payload = &s;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	long end = now_ms_();
	cr_assert_str_eq(cap_out(&s.c), "first\nsecond\n");
	cr_assert_gt(end - s.first_ms, 700, "the first line arrived only %ld ms before the end", end - s.first_ms);
	devsys_runner_result_dispose(&res);
	capture_free(&s.c);
}

struct killer {
	struct capture *c;
	int mode; /* 0 cancel, 1 kill sshd + restart, 2 only count the timeout test's processes */
	int restarted;
};

static void *killer_thread(void *arg)
{
	struct killer *k = arg;
	WAIT_UNTIL(__atomic_load_n(&k->c->saw_ready, __ATOMIC_ACQUIRE), 20000);
	if (k->mode == 2) {
		/* the outer shell and its children match while the command runs (one
		 * probe is an ssh login: the command's 6 s timeout leaves room for a few
		 * on a loaded machine) */
		WAIT_UNTIL((k->restarted = remote_count("slee[p] 42420")) >= 2, 5000);
	} else if (k->mode == 0) {
		/* before cancelling, the remote processes must really be there */
		WAIT_UNTIL(remote_count("slee[p] 42430") >= 2, 5000);
		k->restarted = remote_count("slee[p] 42430"); /* reused: processes seen before cancel */
		devsys_runner_cancel(r);
	} else {
		dt_sshd_kill_all(sshd);
		k->restarted = dt_sshd_restart(sshd);
	}
	return NULL;
}

Test(runner_ssh, timeout_kills_remote_process_group)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	struct killer k = { &c, 2, -1 };
	pthread_t th;
	/* parent and a grandchild that ignores SIGTERM */
	const char *argv[] = { "/bin/sh", "-c",
		               "trap '' TERM; sh -c 'trap \"\" TERM; exec sleep 424201' & sleep 424202 & echo ready; wait",
		               NULL };
	cr_assert_eq(pthread_create(&th, NULL, killer_thread, &k), 0);
	int rc = run(argv, &c, &res, 6000);
	pthread_join(th, NULL);
	cr_assert_eq(rc, DEVSYS_ETIMEOUT, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_TIMEOUT);
	cr_assert(strstr(cap_out(&c), "ready"));
	/* positive control: the same probe saw the processes while they ran */
	cr_assert_geq(k.restarted, 2, "the running remote processes were not counted (probe said %d)", k.restarted);
	int n;
	WAIT_UNTIL((n = remote_count("slee[p] 42420")) == 0, 3000);
	cr_assert_eq(n, 0, "remote processes survived the timeout (probe said %d; -1: the probe failed)", n);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_ssh, cancel_from_another_thread_kills_group)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	struct killer k = { &c, 0, 0 };
	pthread_t th;
	const char *argv[] = { "/bin/sh", "-c", "sleep 424301 & sleep 424302 & echo ready; wait", NULL };
	cr_assert_eq(pthread_create(&th, NULL, killer_thread, &k), 0);
	cr_assert_eq(run(argv, &c, &res, 60000), DEVSYS_ECANCELED, "%s", devsys_error_message(devsys_error_last()));
	pthread_join(th, NULL);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_CANCELED);
	cr_assert_geq(k.restarted, 2, "the remote sleeps were never seen running");
	int n;
	WAIT_UNTIL((n = remote_count("slee[p] 42430")) == 0, 3000);
	cr_assert_eq(n, 0, "remote processes survived the cancel (probe said %d; -1: the probe failed)", n);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_ssh, sshd_killed_mid_command_is_system_failure_then_reconnects)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	struct killer k = { &c, 1, 0 };
	pthread_t th;
	const char *argv[] = { "/bin/sh", "-c", "echo ready; sleep 30", NULL };
	cr_assert_eq(pthread_create(&th, NULL, killer_thread, &k), 0);
	int rc = run(argv, &c, &res, 60000);
	pthread_join(th, NULL);
	cr_assert_eq(rc, DEVSYS_ESYSTEM, "rc %d: %s", rc, devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_SYSTEM_FAILURE);
	cr_assert_eq(res.attempts, 1, "not idempotent: no retry");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "127.0.0.1"));
	cr_assert(k.restarted);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	/* the next exec reconnects to the restarted server */
	const char *echo[] = { "echo", "back", NULL };
	memset(&c, 0, sizeof(c));
	cr_assert_eq(run(echo, &c, &res, 0), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(cap_out(&c), "back\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_ssh, idempotent_command_retried_on_restarted_server)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	struct killer k = { &c, 1, 0 };
	pthread_t th;
	char script[1024];
	devsys_runner_free(r);
	cr_assert_eq(open_with(&r, sshd->known_hosts, sshd->user_key, 0, 2), 0);
	snprintf(script, sizeof(script),
	         "if [ -e '%s/attempted' ]; then echo second-attempt; else touch '%s/attempted'; echo ready; sleep 30; fi",
	         sshd->dir, sshd->dir);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	cmd.argv = argv;
	cmd.flags = DEVSYS_RUNNER_CMD_IDEMPOTENT;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cmd.timeout_ms = 60000;
	cr_assert_eq(pthread_create(&th, NULL, killer_thread, &k), 0);
	int rc = devsys_runner_exec(r, &cmd, &res);
	pthread_join(th, NULL);
	cr_assert_eq(rc, 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	cr_assert_eq(res.attempts, 2);
	cr_assert(strstr(cap_out(&c), "second-attempt"));
	cr_assert(strstr(res.tail, "retrying"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(runner_ssh, wrong_host_key_refused)
{
	devsys_runner *x = NULL;
	cr_assert_eq(open_with(&x, sshd->wrong_known_hosts, sshd->user_key, 0, 0), DEVSYS_EHOSTKEY);
	const char *msg = devsys_error_message(devsys_error_last());
	cr_assert(strstr(msg, "127.0.0.1"), "%s", msg);
	cr_assert(strstr(msg, sshd->host_fingerprint), "the message must name the fingerprint: %s", msg);
	cr_assert(strstr(msg, "does NOT match"), "%s", msg);
	cr_assert_null(x);
	/* trust-on-first-use never accepts a changed key */
	cr_assert_eq(open_with(&x, sshd->wrong_known_hosts, sshd->user_key, DEVSYS_RUNNER_TRUST_ON_FIRST_USE, 0),
	             DEVSYS_EHOSTKEY);
	cr_assert_null(x);

	/* unknown host: refused unless trust-on-first-use is configured */
	char empty[512];
	snprintf(empty, sizeof(empty), "%s/empty_known_hosts", sshd->dir);
	cr_assert(dt_write_file(empty, ""));
	cr_assert_eq(open_with(&x, empty, sshd->user_key, 0, 0), DEVSYS_EHOSTKEY);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "unknown"));
	cr_assert_eq(open_with(&x, empty, sshd->user_key, DEVSYS_RUNNER_TRUST_ON_FIRST_USE, 0), 0,
	             "%s", devsys_error_message(devsys_error_last()));
	devsys_runner_free(x);
	x = NULL;
	char *kh = dt_read_file(empty, NULL);
	char want[64];
	snprintf(want, sizeof(want), "[127.0.0.1]:%d ssh-ed25519 ", sshd->port);
	cr_assert(kh && strstr(kh, want), "TOFU must record the key: %s", kh ? kh : "(null)");
	free(kh);
	/* now known: strict checking passes */
	cr_assert_eq(open_with(&x, empty, sshd->user_key, 0, 0), 0);
	devsys_runner_free(x);
}

Test(runner_ssh, wrong_user_key_is_auth_failure)
{
	devsys_runner *x = NULL;
	cr_assert_eq(open_with(&x, sshd->known_hosts, sshd->other_user_key, 0, 0), DEVSYS_EAUTH);
	const char *msg = devsys_error_message(devsys_error_last());
	cr_assert(strstr(msg, sshd->other_user_key), "%s", msg);
	cr_assert(strstr(msg, "authorized_keys"), "%s", msg);
	cr_assert(strstr(msg, "RSA"), "the RSA limitation is mentioned: %s", msg);
	cr_assert_eq(open_with(&x, sshd->known_hosts, "/nonexistent/key", 0, 0), DEVSYS_EAUTH);
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	o.host = "127.0.0.1";
	cr_assert_eq(devsys_runner_open(&x, "remote-ssh", &o), DEVSYS_EINVAL, "known_hosts is required");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "known_hosts"));
}

Test(runner_ssh, hostile_argv_and_env_are_not_interpreted)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	char m1[512], m2[512], m3[512], a1[600], a2[600], e1[600];
	snprintf(m1, sizeof(m1), "%s/pwned1", sshd->dir);
	snprintf(m2, sizeof(m2), "%s/pwned2", sshd->dir);
	snprintf(m3, sizeof(m3), "%s/pwned3", sshd->dir);
	snprintf(a1, sizeof(a1), "$(touch %s)", m1);
	snprintf(a2, sizeof(a2), "`touch %s`'\"; touch %s; '", m2, m2);
	snprintf(e1, sizeof(e1), "EVIL=$(touch %s)'`x`", m3);
	const char *argv[] = { "/usr/bin/printf", "[%s]", a1, a2, "it's", "line1\nline2", "\\n $HOME *", NULL };
	const char *env[] = { e1, NULL };
	cmd.argv = argv;
	cmd.env = env;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0, "%s", devsys_error_message(devsys_error_last()));
	char want[4096];
	snprintf(want, sizeof(want), "[%s][%s][it's][line1\nline2][\\n $HOME *]", a1, a2);
	cr_assert_str_eq(cap_out(&c), want);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	const char *pe[] = { "printenv", "EVIL", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = pe;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	char want2[700];
	snprintf(want2, sizeof(want2), "%s\n", e1 + 5);
	cr_assert_str_eq(cap_out(&c), want2);
	cr_assert(!dt_exists(m1) && !dt_exists(m2) && !dt_exists(m3), "an argument or env value was executed");
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	/* multiline values, and stdin still reaches the command after the env preamble */
	const char *ml_env[] = { "ML=line1\nline2\n", "SECOND=2", NULL };
	const char *show[] = { "/bin/sh", "-c", "printf '[%s][%s]' \"$ML\" \"$SECOND\"; cat", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = show;
	cmd.env = ml_env;
	cmd.stdin_data = "piped\n";
	cmd.stdin_len = 6;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(cap_out(&c), "[line1\nline2\n][2]piped\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	cmd.stdin_data = NULL;
	cmd.stdin_len = 0;

	/* NUL in an argument and bad env names are refused before connecting */
	const char nul_arg[] = "a\0b";
	const char *nargv[] = { "echo", nul_arg, NULL };
	size_t lens[] = { 4, 3 };
	cmd.argv = nargv;
	cmd.argv_len = lens;
	cmd.env = NULL;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_EINVALID);
	cmd.argv_len = NULL;
	const char *bad_env[] = { "=x", NULL };
	cmd.argv = pe;
	cmd.env = bad_env;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_EINVALID);
	cmd.env = NULL;
	cmd.cwd = "/nonexistent/devsys/remote";
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "/nonexistent/devsys/remote"));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_NOT_RUN);
}

Test(runner_ssh, hundred_thousand_arguments)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	size_t n = 100000;
	const char **many = calloc(n + 5, sizeof(char *));
	many[0] = "/bin/sh";
	many[1] = "-c";
	many[2] = "n=$#; first=$1; shift $((n - 1)); echo $n $first $1";
	many[3] = "sh";
	for (size_t i = 0; i < n; i++)
		many[4 + i] = i == 0 ? "first'arg" : (i == n - 1 ? "last$(x)" : "x");
	cr_assert_eq(run(many, &c, &res, 60000), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(cap_out(&c), "100000 first'arg last$(x)\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	free(many);
}

Test(runner_ssh, binary_output_closed_stdout_and_unread_stdin)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *bin[] = { "/usr/bin/printf", "a\\000b\\377\\376\\303(", NULL };
	cr_assert_eq(run(bin, &c, &res, 0), 0);
	cr_assert_eq(c.out.size, 7);
	cr_assert_eq(memcmp(c.out.ptr, "a\0b\xff\xfe\xc3(", 7), 0);
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	const char *big50[] = { "/bin/sh", "-c", "head -c 52428800 /dev/zero | tr '\\0' a", NULL };
	memset(&c, 0, sizeof(c));
	cr_assert_eq(run(big50, &c, &res, 120000), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(c.out.size, 52428800);
	cr_assert_leq(c.max_piece, 65536);
	cr_assert(res.truncated);
	cr_assert_leq(res.tail_len, (1u << 20) + 300);
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	const char *closer[] = { "/bin/sh", "-c", "echo before; exec 1>&- 2>&-; sleep 0.5; exit 5", NULL };
	memset(&c, 0, sizeof(c));
	long t0 = now_ms_();
	cr_assert_eq(run(closer, &c, &res, 0), 0);
	cr_assert_geq(now_ms_() - t0, 450);
	cr_assert_eq(res.exit_code, 5);
	devsys_runner_result_dispose(&res);
	capture_free(&c);

	size_t big = 8u << 20;
	char *data = malloc(big);
	memset(data, 'y', big);
	const char *noread[] = { "/bin/sh", "-c", "sleep 0.2; echo done", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = noread;
	cmd.stdin_data = data;
	cmd.stdin_len = big;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cmd.timeout_ms = 30000;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(cap_out(&c), "done\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	const char *wc[] = { "wc", "-c", NULL };
	memset(&c, 0, sizeof(c));
	cmd.argv = wc;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_eq(atol(cap_out(&c)), (long)big);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	free(data);
}

Test(runner_ssh, upload_download_tree_with_50mb_file)
{
	char *tmp = dt_tmpdir("ssh-xfer");
	char src[512], back[512], remote[512];
	snprintf(src, sizeof(src), "%s/src", tmp);
	snprintf(back, sizeof(back), "%s/back", tmp);
	snprintf(remote, sizeof(remote), "%s/remote-tree", sshd->dir);
	cr_assert_eq(dt_sh("mkdir -p %s/reports/sub %s/empty && head -c 52428800 /dev/urandom > %s/big.bin && "
	                   "echo '<testsuite/>' > %s/reports/junit.xml && printf 'x' > %s/reports/sub/one && "
	                   "ln -s reports/junit.xml %s/link && chmod 750 %s/reports",
	                   src, src, src, src, src, src, src),
	             0);
	cr_assert_eq(devsys_runner_upload(r, src, remote), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(dt_sh("cmp -s %s/big.bin %s/big.bin", src, remote), 0, "the remote copy differs");
	cr_assert_eq(devsys_runner_download(r, remote, back), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(dt_sh("diff -r --no-dereference %s %s", src, back), 0);
	cr_assert_eq(dt_sh("test -L %s/link && test -d %s/empty", back, back), 0);
	/* a relative remote path is taken from the runner's working dir */
	cr_assert_eq(devsys_runner_upload(r, src, "rel-tree"), 0);
	char rel[600];
	snprintf(rel, sizeof(rel), "%s/rel-tree/reports/junit.xml", devsys_runner_workdir(r, NULL));
	cr_assert(dt_exists(rel));
	cr_assert_eq(devsys_runner_download(r, "/nonexistent/remote", back), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_runner_upload(r, "/nonexistent/local", "x"), DEVSYS_ENOTFOUND);
	dt_rmrf(tmp);
	free(tmp);
}

Test(runner_ssh, per_task_working_dir_cleaned_up)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_workspace *ws;
	devsys_task *task;
	char *wsdir = dt_tmpdir("ssh-ws");
	cr_assert_eq(devsys_workspace_open(&ws, wsdir, NULL), 0);
	cr_assert_eq(devsys_task_open(&task, ws, "task-7", DEVSYS_TASK_CREATE), 0);
	cr_assert_eq(devsys_runner_prepare(r, task), 0, "%s", devsys_error_message(devsys_error_last()));
	const char *wd = devsys_runner_workdir(r, task);
	cr_assert_not_null(wd);
	char *wdcopy = strdup(wd);
	cr_assert(dt_exists(wdcopy));
	const char *argv[] = { "/bin/sh", "-c", "pwd; echo data > out.txt", NULL };
	cmd.argv = argv;
	cmd.task = task;
	cmd.stage = "deploy";
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	char want[600];
	snprintf(want, sizeof(want), "%s\n", wdcopy);
	cr_assert_str_eq(cap_out(&c), want);
	char *log = dt_read_file(res.log_path, NULL);
	cr_assert(log && strstr(log, "out| "), "deploy.log: %s", log ? log : "(null)");
	free(log);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	cr_assert_eq(devsys_runner_cleanup(r, task), 0);
	cr_assert(!dt_exists(wdcopy), "the task's remote dir must be removed");
	/* closing the runner removes its session dir */
	char *session = strdup(devsys_runner_workdir(r, NULL));
	cr_assert(dt_exists(session));
	devsys_runner_free(r);
	r = NULL;
	cr_assert(!dt_exists(session));
	free(session);
	free(wdcopy);
	devsys_task_free(task);
	devsys_workspace_free(ws);
	dt_rmrf(wsdir);
	free(wsdir);
}

Test(runner_ssh, ssh_agent_authentication)
{
	char *agent = dt_which("ssh-agent"), *add = dt_which("ssh-add");
	if (!agent || !add)
		dt_skip("ssh-agent/ssh-add not installed (Debian package openssh-client)");
	char sock[512], log[512];
	char *sockdir = dt_sockdir("agent"); /* sun_path: short, whatever the checkout path */
	cr_assert(sockdir);
	snprintf(sock, sizeof(sock), "%s/agent.sock", sockdir);
	snprintf(log, sizeof(log), "%s/agent.log", sshd->dir);
	char *argv[] = { agent, (char *)"-D", (char *)"-a", sock, NULL };
	pid_t pid = dt_spawn(argv, log);
	WAIT_UNTIL(dt_exists(sock), 5000);
	cr_assert(dt_exists(sock), "ssh-agent did not create its socket");
	cr_assert_eq(dt_sh("SSH_AUTH_SOCK='%s' '%s' -q '%s' </dev/null", sock, add, sshd->user_key), 0);
	char *old = getenv("SSH_AUTH_SOCK") ? strdup(getenv("SSH_AUTH_SOCK")) : NULL;
	setenv("SSH_AUTH_SOCK", sock, 1);
	devsys_runner *x = NULL;
	int rc = open_with(&x, sshd->known_hosts, NULL, DEVSYS_RUNNER_USE_AGENT, 0);
	if (old)
		setenv("SSH_AUTH_SOCK", old, 1);
	else
		unsetenv("SSH_AUTH_SOCK");
	free(old);
	cr_assert_eq(rc, 0, "%s", devsys_error_message(devsys_error_last()));
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *a[] = { "echo", "via-agent", NULL };
	cmd.argv = a;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(x, &cmd, &res), 0);
	cr_assert_str_eq(cap_out(&c), "via-agent\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	devsys_runner_free(x);
	dt_stop(pid, SIGTERM, 3000);
	dt_rmrf(sockdir);
	free(sockdir);
	free(agent);
	free(add);
}

Test(runner_ssh, keepalive_sent_while_a_command_is_idle)
{
	/* sshd logs global requests at DEBUG1 */
	cr_assert_eq(dt_sh("sed -i 's/^LogLevel .*/LogLevel DEBUG1/' '%s'", sshd->config), 0);
	cr_assert(dt_sshd_restart(sshd));
	devsys_runner_free(r);
	r = NULL;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	o.host = sshd->host;
	o.port = (unsigned)sshd->port;
	o.user = sshd->user;
	o.key_file = sshd->user_key;
	o.known_hosts = sshd->known_hosts;
	o.remote_dir = sshd->dir;
	o.keepalive_s = 1;
	cr_assert_eq(devsys_runner_open(&r, "remote-ssh", &o), 0, "%s", devsys_error_message(devsys_error_last()));
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[] = { "sleep", "3", NULL };
	cr_assert_eq(run(argv, &c, &res, 30000), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	devsys_runner_result_dispose(&res);
	int st;
	char *n = dt_sh_output(&st, "grep -c 'keepalive@libssh2.org' '%s'", sshd->log);
	cr_assert_not_null(n);
	cr_assert_geq(atoi(n), 2, "keepalives seen by sshd: %s", n);
	free(n);
}
