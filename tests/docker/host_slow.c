/*
 * The slow tier of host-docker: a container that prints 1 GB, streamed
 * through the runner in bounded memory (the CI tier prints 100 MB, host.c).
 */
#include "dockerd_fixture.h"
#include "testutil.h"

#include <devsys.h>
#include <devsys/sys/runner_docker.h>

#include <criterion/hooks.h>
#include <stdlib.h>
#include <sys/resource.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_dockerd_suite_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_dockerd_suite_stop();
}

Test(host_docker_slow, one_gigabyte_of_output_in_bounded_memory, .timeout = 600)
{
	char why[1024];
	dt_dockerd *engine;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner *r = NULL;
	static const char *argv[] = { "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 1000000000", NULL };
	struct rusage ru;
	int rc;

	cr_assert_gt(devsys_init(), 0);
	if (!(engine = dt_dockerd_suite(why, sizeof(why))))
		dt_skip("%s", why);
	d.image = engine->image;
	d.host = engine->host;
	o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
	o.backend_options = &d;
	o.flags = DEVSYS_RUNNER_ALLOW_SHELL;
	cr_assert_eq(devsys_runner_open(&r, "host-docker", &o), 0, "%s", devsys_error_message(devsys_error_last()));
	c.argv = argv;
	c.flags = DEVSYS_RUNNER_CMD_SHELL;
	rc = devsys_runner_exec(r, &c, &res);
	cr_assert_eq(rc, 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.exit_code, 0, "exit %d", res.exit_code); /* never the 1 MiB tail in a message */
	cr_assert_eq(res.output_bytes, 1000000000u);
	cr_assert_leq(res.tail_len, (size_t)2 << 20);
	getrusage(RUSAGE_SELF, &ru);
	cr_assert_lt(ru.ru_maxrss, 200 * 1024, "max RSS %ld KiB", ru.ru_maxrss);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	dt_dockerd_free(engine);
	devsys_shutdown();
}
