/*
 * A process that owns a host-docker container and then gets killed -9 by
 * the sweeper test: opens the runner on <host> with <image>, says "open" on
 * stdout, and runs a long sleep in a container.
 */
#include <devsys.h>
#include <devsys/sys/runner_docker.h>

#include <stdio.h>

int main(int argc, char **argv)
{
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner *r = NULL;
	const char *cmd[] = { "sleep", "120", NULL };
	if (argc != 3 || devsys_init() < 0)
		return 2;
	d.host = argv[1];
	d.image = argv[2];
	o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
	o.backend_options = &d;
	if (devsys_runner_open(&r, "host-docker", &o) < 0) {
		fprintf(stderr, "owner: %s\n", devsys_error_message(devsys_error_last()));
		return 3;
	}
	printf("open\n");
	fflush(stdout);
	c.argv = cmd;
	devsys_runner_exec(r, &c, &res);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	devsys_shutdown();
	return 0;
}
