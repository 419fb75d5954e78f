/*
 * host-docker: N x (create, start, run `true`, remove) through the runner,
 * against N x `docker run --rm` with the CLI (exec'd directly, no shell,
 * -H the fixture's socket) in the same run on the same engine (the
 * tests/support dockerd fixture). The breakdown: the engine floor is the
 * same four Engine API calls made back to back with the library's client
 * (create, start, wait, remove; no attach), i.e. dockerd + containerd + runc
 * alone; what the runner adds on top is attach (a second connection and a
 * thread), the output path and the labels.
 */
#include <devsys.h>
#include <devsys/sys/runner_docker.h>

#include "dockerd_fixture.h"
#include "runner/docker/client.h"
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

static int spawn_wait(char *const argv[], char *const envp[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double loop_cli(const dt_dockerd *d, int n)
{
	char host[600], cfg[700];
	snprintf(host, sizeof(host), "%s", d->host);
	snprintf(cfg, sizeof(cfg), "DOCKER_CONFIG=%s/cli", d->dir);
	char *argv[] = { "/usr/bin/docker", "-H", host, "run", "--rm", "--network", "none", "--log-driver", "none",
		         d->image, "true", NULL };
	char *envp[] = { cfg, "PATH=/usr/bin:/bin", NULL };
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		if (spawn_wait(argv, envp) != 0) {
			fprintf(stderr, "docker run failed\n");
			exit(3);
		}
	return now_s() - t0;
}

/* seconds spent in each engine call of loop_floor: create, start, wait, remove */
static double phase[4];

static double loop_floor(const dt_dockerd *d, int n)
{
	devsys__docker_options co = { 0 };
	devsys__docker *c = NULL;
	/* the runner's container essentials: NetworkDisabled skips the network sandbox, which
	 * `docker run --network none` still builds (most of its start time here) */
	json_t *cfg = json_pack("{s:s,s:[s],s:b,s:{s:s,s:b,s:{s:s}}}", "Image", d->image, "Cmd", "true",
	                        "NetworkDisabled", 1, "HostConfig", "NetworkMode", "none", "Init", 1, "LogConfig", "Type",
	                        "none");
	double t0;
	co.host = d->host;
	if (devsys__docker_open(&c, &co) < 0) {
		fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
		exit(3);
	}
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		char *id = NULL;
		int code, rc;
		double t = now_s(), u;
		rc = devsys__docker_container_create(&id, c, NULL, cfg);
		phase[0] += (u = now_s()) - t;
		if (rc == 0) {
			rc = devsys__docker_container_start(c, id);
			phase[1] += (t = now_s()) - u;
		}
		if (rc == 0) {
			rc = devsys__docker_container_wait(&code, c, id);
			phase[2] += (u = now_s()) - t;
		}
		if (rc == 0) {
			rc = devsys__docker_container_remove(c, id, true, true);
			phase[3] += now_s() - u;
		}
		if (rc < 0) {
			fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
			exit(3);
		}
		free(id);
	}
	t0 = now_s() - t0;
	devsys__docker_close(c);
	json_decref(cfg);
	return t0;
}

static double loop_runner(devsys_runner *r, int n)
{
	const char *argv[] = { "true", NULL };
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	double t0 = now_s();
	c.argv = argv;
	for (int i = 0; i < n; i++) {
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		if (devsys_runner_exec(r, &c, &res) != 0 || res.failure != DEVSYS_RUNNER_OK) {
			fprintf(stderr, "exec failed: %s\n", devsys_error_message(devsys_error_last()));
			exit(3);
		}
		devsys_runner_result_dispose(&res);
	}
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50, rounds = 5;
	char why[1024];
	dt_dockerd *d;
	devsys_runner *r = NULL;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_docker_options dk = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	double cli = 0, dv = 0, fl = 0;

	if (!(d = dt_dockerd_start(why, sizeof(why)))) {
		printf("skipped: %s\n", why);
		return 0;
	}
	devsys_init();
	dk.image = d->image;
	dk.host = d->host;
	o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
	o.backend_options = &dk;
	if (devsys_runner_open(&r, "host-docker", &o) < 0) {
		fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
		return 3;
	}
	/* warm-up, then interleaved rounds so load drifts hit all three alike */
	loop_cli(d, 2);
	loop_runner(r, 2);
	loop_floor(d, 2);
	memset(phase, 0, sizeof(phase));
	for (int k = 0; k < rounds; k++) {
		cli += loop_cli(d, n / rounds);
		dv += loop_runner(r, n / rounds);
		fl += loop_floor(d, n / rounds);
	}
	printf("host-docker: %d x (create, start, `true`, remove) on the fixture's dockerd (%s)\n", n, d->storage_driver);
	printf("  anchor docker run --rm (CLI)          : %8.1f ms (%6.1f ms/run)\n", cli * 1e3, cli * 1e3 / n);
	printf("  devsys host-docker runner             : %8.1f ms (%6.1f ms/run)\n", dv * 1e3, dv * 1e3 / n);
	printf("  the 4 API calls back to back (client) : %8.1f ms (%6.1f ms/run)\n", fl * 1e3, fl * 1e3 / n);
	printf("    of which create %.1f, start %.1f, wait %.1f, remove %.1f ms/run (time inside dockerd/runc)\n",
	       phase[0] * 1e3 / n, phase[1] * 1e3 / n, phase[2] * 1e3 / n, phase[3] * 1e3 / n);
	printf("  ratio devsys/CLI                      : %8.2fx (target <= 1.0x) %s\n", dv / cli, dv / cli <= 1.0 ? "PASS" : "MISS");
	printf("  ratio devsys/back-to-back calls       : %8.2fx\n", dv / fl);
	devsys_runner_free(r);
	dt_dockerd_free(d);
	devsys_shutdown();
	return 0;
}
