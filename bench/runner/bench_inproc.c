/*
 * inproc runner: N runs of /bin/true through devsys_runner_exec() against
 * the anchor, a plain posix_spawn()+waitpid() loop, measured in the same
 * run, alternating rounds so both see the same machine load.
 * Prints both figures and the ratio (target <= 1.2x).
 */
#include <devsys.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double anchor(int n)
{
	char *argv[] = { (char *)"/bin/true", NULL };
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) != pid) {
			fprintf(stderr, "posix_spawn failed\n");
			exit(3);
		}
	}
	return now_s() - t0;
}

static double devsys_runs(devsys_runner *r, int n)
{
	const char *argv[] = { "/bin/true", NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	cmd.argv = argv;
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		if (devsys_runner_exec(r, &cmd, &res) != 0 || res.failure != DEVSYS_RUNNER_OK) {
			fprintf(stderr, "exec failed: %s\n", devsys_error_message(devsys_error_last()));
			exit(3);
		}
		devsys_runner_result_dispose(&res);
	}
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, rounds = 5;
	devsys_runner *r;
	double a = 0, d = 0;
	if (devsys_init() < 0 || devsys_runner_open(&r, "inproc", NULL) < 0) {
		fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
		return 3;
	}
	anchor(50); /* warm up */
	devsys_runs(r, 50);
	for (int k = 0; k < rounds; k++) {
		a += anchor(n / rounds);
		d += devsys_runs(r, n / rounds);
	}
	printf("inproc: %d x /bin/true\n", n);
	printf("  anchor posix_spawn+waitpid : %8.1f ms  (%6.1f us/run)\n", a * 1e3, a * 1e6 / n);
	printf("  devsys inproc runner       : %8.1f ms  (%6.1f us/run)\n", d * 1e3, d * 1e6 / n);
	printf("  ratio devsys/anchor        : %8.2fx  (target <= 1.2x) %s\n", d / a, d / a <= 1.2 ? "PASS" : "MISS");
	devsys_runner_free(r);
	devsys_shutdown();
	return 0;
}
