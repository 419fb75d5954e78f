/*
 * Loads (dlopen) a runner plug-in built against the frozen version-1 header
 * and runs it through today's library: registration copies the v1 prefix,
 * output goes through the library's io, missing optional slots answer
 * DEVSYS_ENOTSUPPORTED.
 */
#include "runner_common.h"

#include <dlfcn.h>

Test(runner_frozen, loads_v1_plugin)
{
	const char *path = getenv("DEVSYS_PLUGIN_V1");
	cr_assert_not_null(path, "DEVSYS_PLUGIN_V1 is set by CMake");
	cr_assert_gt(devsys_init(), 0);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(h, "%s", dlerror());
	const devsys_runner_vtable *(*get)(void) = (const devsys_runner_vtable *(*)(void))dlsym(h, "devsys_test_plugin_v1");
	cr_assert_not_null(get);
	cr_assert_eq(devsys_runner_register(get(), NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_runner_register(get(), NULL), DEVSYS_EEXISTS);

	devsys_runner *r;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	o.grace_ms = 1234;
	cr_assert_eq(devsys_runner_open(&r, "frozen-v1", &o), 0);
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	const char *argv[] = { "deploy", "--now", NULL };
	cmd.argv = argv;
	cmd.timeout_ms = 99;
	cmd.output_cb = capture_cb;
	cmd.output_payload = &c;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0);
	cr_assert_str_eq(cap_out(&c), "arg0=deploy\narg1=--now\n");
	cr_assert_str_eq(cap_err(&c), "grace=1234 timeout=99\n");
	cr_assert_eq(res.exit_code, 2);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
	cr_assert_eq(devsys_runner_upload(r, "/tmp", "x"), DEVSYS_ENOTSUPPORTED);
	cr_assert_eq(devsys_runner_download(r, "x", "/tmp/y"), DEVSYS_ENOTSUPPORTED);
	cr_assert_null(devsys_runner_workdir(r, NULL));
	cr_assert_eq(devsys_runner_cancel(r), 0);
	devsys_runner_free(r);
	devsys_shutdown();
	dlclose(h);
}
