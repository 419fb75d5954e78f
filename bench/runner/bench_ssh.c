/*
 * remote-ssh runner: N short commands on one runner (one session, a
 * channel per command) against two anchors measured in the same run on the
 * same sshd (tests/support sshd fixture on 127.0.0.1):
 *   - N x `ssh host true` without multiplexing (target: devsys >= 5x faster)
 *   - N x `ssh -S ctl host true` through an OpenSSH ControlMaster
 *     (target: devsys <= 1.2x its time)
 * ssh is exec'd directly (posix_spawnp, no shell, stdin /dev/null), as a
 * script would run it.
 */
#include <devsys.h>

#include "sshd_fixture.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ssh ARGS... exec'd directly (stderr to /dev/null when QUIET); its exit status, or -1. */
static int run_ssh_q(char *const argv[], int quiet)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_ssh(char *const argv[])
{
	return run_ssh_q(argv, 0);
}

static double loop_ssh(char *const argv[], int n)
{
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		if (run_ssh(argv) != 0) {
			fprintf(stderr, "failed:");
			for (int k = 0; argv[k]; k++)
				fprintf(stderr, " %s", argv[k]);
			fputc('\n', stderr);
			exit(3);
		}
	return now_s() - t0;
}

/* The fixture's ssh client options (dt_sshd_ssh_cmd) as an argv, then EXTRA..., the
 * destination and, when CMD is set, the remote command; NULL-terminated. */
static void ssh_argv(char **argv, const dt_sshd *s, char *port, char *dest, char *kh, char *const extra[],
                     char *cmd)
{
	int n = 0;
	snprintf(port, 16, "%d", s->port);
	argv[n++] = "ssh";
	argv[n++] = "-F";
	argv[n++] = "/dev/null";
	argv[n++] = "-i";
	argv[n++] = s->user_key;
	argv[n++] = "-o";
	argv[n++] = "IdentitiesOnly=yes";
	argv[n++] = "-o";
	argv[n++] = kh;
	argv[n++] = "-o";
	argv[n++] = "GlobalKnownHostsFile=/dev/null";
	argv[n++] = "-o";
	argv[n++] = "StrictHostKeyChecking=yes";
	argv[n++] = "-o";
	argv[n++] = "BatchMode=yes";
	argv[n++] = "-o";
	argv[n++] = "LogLevel=ERROR";
	argv[n++] = "-p";
	argv[n++] = port;
	for (int i = 0; extra[i]; i++)
		argv[n++] = extra[i];
	argv[n++] = dest;
	if (cmd)
		argv[n++] = cmd;
	argv[n] = NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	char why[512], ctl[512];
	dt_sshd *s;
	devsys_runner *r;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;

	/* Measure the transport, not the remote login shell's rc files (all three
	 * variants talk to this same sshd); set DEVSYS_BENCH_USER_RC=1 to keep them. */
	dt_sshd_quiet_login_shell(!getenv("DEVSYS_BENCH_USER_RC"));
	if (!(s = dt_sshd_start(why, sizeof(why)))) {
		printf("skipped: %s\n", why);
		return 0;
	}
	devsys_init();
	o.host = s->host;
	o.port = (unsigned)s->port;
	o.user = s->user;
	o.key_file = s->user_key;
	o.known_hosts = s->known_hosts;
	o.remote_dir = s->dir;
	if (devsys_runner_open(&r, "remote-ssh", &o) < 0) {
		fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
		return 3;
	}
	char port[16], dest[512], kh[4200], ctl_opt[600];
	char *plain_argv[32], *mux_argv[32], *master_argv[32], *exit_argv[32];
	snprintf(dest, sizeof(dest), "%s@127.0.0.1", s->user);
	snprintf(kh, sizeof(kh), "UserKnownHostsFile=%s", s->known_hosts);
	snprintf(ctl, sizeof(ctl), "%s/ctl", s->dir);
	snprintf(ctl_opt, sizeof(ctl_opt), "ControlPath=%s", ctl);
	ssh_argv(plain_argv, s, port, dest, kh, (char *const[]){ NULL }, "true");
	ssh_argv(mux_argv, s, port, dest, kh, (char *const[]){ "-o", ctl_opt, NULL }, "true");
	ssh_argv(master_argv, s, port, dest, kh, (char *const[]){ "-o", "ControlMaster=yes", "-o", ctl_opt, "-fN", NULL },
	         NULL);
	if (run_ssh(master_argv) != 0) {
		fprintf(stderr, "cannot start the ControlMaster\n");
		return 3;
	}
	ssh_argv(exit_argv, s, port, dest, kh, (char *const[]){ "-o", ctl_opt, "-O", "exit", NULL }, NULL);

	const char *argv_true[] = { "true", NULL };
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	c.argv = argv_true;
	/* warm-up */
	loop_ssh(plain_argv, 3);
	loop_ssh(mux_argv, 3);
	double plain = 0, cm = 0, dv = 0;
	int rounds = 4;
	for (int k = 0; k < rounds; k++) {
		plain += loop_ssh(plain_argv, n / rounds);
		cm += loop_ssh(mux_argv, n / rounds);
		double t0 = now_s();
		for (int i = 0; i < n / rounds; i++) {
			devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
			if (devsys_runner_exec(r, &c, &res) != 0 || res.failure != DEVSYS_RUNNER_OK) {
				fprintf(stderr, "exec failed: %s\n", devsys_error_message(devsys_error_last()));
				return 3;
			}
			devsys_runner_result_dispose(&res);
		}
		dv += now_s() - t0;
	}
	run_ssh_q(exit_argv, 1);
	printf("remote-ssh: %d x `true` on 127.0.0.1 (OpenSSH sshd fixture)\n", n);
	printf("  anchor ssh host cmd (no multiplexing): %8.1f ms (%6.2f ms/cmd)\n", plain * 1e3, plain * 1e3 / n);
	printf("  anchor ssh ControlMaster             : %8.1f ms (%6.2f ms/cmd)\n", cm * 1e3, cm * 1e3 / n);
	printf("  devsys remote-ssh runner             : %8.1f ms (%6.2f ms/cmd)\n", dv * 1e3, dv * 1e3 / n);
	printf("  speed-up vs plain ssh                : %8.2fx (target >= 5x) %s\n", plain / dv, plain / dv >= 5 ? "PASS" : "MISS");
	printf("  ratio devsys/ControlMaster           : %8.2fx (target <= 1.2x) %s\n", dv / cm, dv / cm <= 1.2 ? "PASS" : "MISS");
	devsys_runner_free(r);
	dt_sshd_free(s);
	devsys_shutdown();
	return 0;
}
