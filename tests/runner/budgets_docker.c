/*
 * The budgets of devsys_runner_cmd version 3 (idle timeout -> stalled,
 * output cap -> output-limit) and stdin /dev/null on host-docker (the
 * fixture's real dockerd) and on dind (a nested engine from the fixture's
 * dind image): the same checks as for inproc and remote-ssh
 * (budgets_common.h), through the containers' attach stream.
 */
#include "budgets_common.h"
#include "dind_fixture.h"
#include "dockerd_fixture.h"

#include <devsys/sys/runner_dind.h>
#include <devsys/sys/runner_docker.h>

#include <criterion/hooks.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_dockerd_suite_start();
	dt_dind_suite_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_dockerd_suite_stop();
}

static dt_dockerd *engine;
static devsys_runner *r;
static devsys_runner_docker_options dk;
static devsys_runner_dind_options dx;

static void docker_setup(void)
{
	devsys_runner_docker_options z = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	char why[1024];
	cr_assert_gt(devsys_init(), 0);
	r = NULL;
	if (!(engine = dt_dockerd_suite(why, sizeof(why))))
		dt_skip("%s", why);
	dk = z;
	dk.image = engine->image;
	dk.host = engine->host;
	o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
	o.backend_options = &dk;
	o.grace_ms = 1000;
	cr_assert_eq(devsys_runner_open(&r, "host-docker", &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void dind_setup(void)
{
	devsys_runner_docker_options z = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_dind_options zx = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	char why[1024];
	cr_assert_gt(devsys_init(), 0);
	r = NULL;
	if (!(engine = dt_dind_suite(why, sizeof(why))))
		dt_skip("%s", why);
	dk = z;
	dk.image = engine->image;
	dk.host = engine->host;
	dx = zx;
	dx.docker = &dk;
	dx.engine_image = DT_DIND_IMAGE;
	o.backend_tag = DEVSYS_RUNNER_DIND_TAG;
	o.backend_options = &dx;
	o.grace_ms = 1000;
	cr_assert_eq(devsys_runner_open(&r, "dind", &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_runner_free(r);
	r = NULL;
	dt_dockerd_free(engine);
	engine = NULL;
	devsys_shutdown();
}

TestSuite(budgets_docker, .init = docker_setup, .fini = teardown, .timeout = 150);
TestSuite(budgets_dind, .init = dind_setup, .fini = teardown, .timeout = 300);

Test(budgets_docker, an_idle_container_is_stalled)
{
	budget_check_stall(r, NULL);
}

Test(budgets_docker, output_resets_the_idle_clock)
{
	budget_check_no_stall_while_printing(r);
}

Test(budgets_docker, output_is_cut_at_the_limit)
{
	budget_check_output_limit(r);
}

Test(budgets_docker, output_within_the_limit_is_untouched)
{
	budget_check_output_fits(r);
}

Test(budgets_docker, stdin_is_dev_null_unless_given)
{
	budget_check_stdin_dev_null(r);
}

/* dind: one nested engine per runner, so one test runs every check on it. */
Test(budgets_dind, every_budget_on_the_nested_engine)
{
	budget_check_stall(r, NULL);
	budget_check_no_stall_while_printing(r);
	budget_check_output_limit(r);
	budget_check_output_fits(r);
	budget_check_stdin_dev_null(r);
}
