/*
 * A process that owns a dind engine and then gets killed -9 by the sweeper
 * test: opens the dind runner on <host> with <image> and <engine-image>,
 * says "open" on stdout, and runs a long sleep in a container on its engine.
 */
#include <devsys.h>
#include <devsys/sys/runner_dind.h>

#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_dind_options x = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner *r = NULL;
	if (argc != 4 || devsys_init() < 0)
		return 2;
	d.host = argv[1];
	d.image = argv[2];
	x.docker = &d;
	x.engine_image = argv[3];
	o.backend_tag = DEVSYS_RUNNER_DIND_TAG;
	o.backend_options = &x;
	if (devsys_runner_open(&r, "dind", &o) < 0) {
		fprintf(stderr, "owner: %s\n", devsys_error_message(devsys_error_last()));
		return 3;
	}
	printf("open %d\n", (int)getpid());
	fflush(stdout);
	{
		const char *cmd[] = { "sleep", "600", NULL };
		devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		c.argv = cmd;
		devsys_runner_exec(r, &c, &res);
		devsys_runner_result_dispose(&res);
	}
	for (;;)
		pause();
}
