/*
 * remote-ssh runner: N short commands on one runner (one session, a
 * channel per command) against two anchors measured in the same run on the
 * same sshd (tests/support sshd fixture on 127.0.0.1):
 *   - N x `ssh host true` without multiplexing (target: devsys >= 5x faster)
 *   - N x `ssh -S ctl host true` through an OpenSSH ControlMaster
 *     (target: devsys <= 1.2x its time)
 */
#include <devsys.h>

#include "sshd_fixture.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double loop_sh(const char *cmd, int n)
{
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		if (dt_sh("%s", cmd) != 0) {
			fprintf(stderr, "failed: %s\n", cmd);
			exit(3);
		}
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	char why[512], cmd[4096], ctl[512], master[4096];
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
	char *ssh = dt_sshd_ssh_cmd(s);
	snprintf(cmd, sizeof(cmd), "%s true", ssh);
	snprintf(ctl, sizeof(ctl), "%s/ctl", s->dir);
	snprintf(master, sizeof(master), "%s -o ControlMaster=yes -o ControlPath=%s -fN", ssh, ctl);
	if (dt_sh("%s", master) != 0) {
		fprintf(stderr, "cannot start the ControlMaster\n");
		return 3;
	}
	char mux[4096];
	snprintf(mux, sizeof(mux), "%s -o ControlPath=%s true", ssh, ctl);

	const char *argv_true[] = { "true", NULL };
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	c.argv = argv_true;
	/* warm-up */
	loop_sh(cmd, 3);
	loop_sh(mux, 3);
	double plain = 0, cm = 0, dv = 0;
	int rounds = 4;
	for (int k = 0; k < rounds; k++) {
		plain += loop_sh(cmd, n / rounds);
		cm += loop_sh(mux, n / rounds);
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
	dt_sh("%s -o ControlPath=%s -O exit >/dev/null 2>&1", ssh, ctl);
	printf("remote-ssh: %d x `true` on 127.0.0.1 (OpenSSH sshd fixture)\n", n);
	printf("  anchor ssh host cmd (no multiplexing): %8.1f ms (%6.2f ms/cmd)\n", plain * 1e3, plain * 1e3 / n);
	printf("  anchor ssh ControlMaster             : %8.1f ms (%6.2f ms/cmd)\n", cm * 1e3, cm * 1e3 / n);
	printf("  devsys remote-ssh runner             : %8.1f ms (%6.2f ms/cmd)\n", dv * 1e3, dv * 1e3 / n);
	printf("  speed-up vs plain ssh                : %8.2fx (target >= 5x) %s\n", plain / dv, plain / dv >= 5 ? "PASS" : "MISS");
	printf("  ratio devsys/ControlMaster           : %8.2fx (target <= 1.2x) %s\n", dv / cm, dv / cm <= 1.2 ? "PASS" : "MISS");
	devsys_runner_free(r);
	free(ssh);
	dt_sshd_free(s);
	devsys_shutdown();
	return 0;
}
