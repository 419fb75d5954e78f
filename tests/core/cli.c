#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *cli(void)
{
	const char *p = getenv("DEVSYS_CLI");
	cr_assert_not_null(p, "DEVSYS_CLI is set by ctest");
	return p;
}

Test(core_cli, version_text_and_json)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' --version", cli());
	cr_assert_eq(st, 0);
	cr_assert(strncmp(out, "devsys 1.", 9) == 0, "got: %s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' version --json", cli());
	cr_assert_eq(st, 0);
	cr_assert(strstr(out, "\"abi\": 1") != NULL, "got: %s", out);
	free(out);
}

Test(core_cli, help_lists_commands_and_exit_codes)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' help", cli());
	cr_assert_eq(st, 0);
	cr_assert(strstr(out, "run") && strstr(out, "Exit codes") && strstr(out, "130"), "got: %s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --json help", cli());
	cr_assert(strstr(out, "\"exit_codes\"") != NULL);
	free(out);
}

Test(core_cli, unknown_command_is_usage_error)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' --json frobnicate 2>/dev/null", cli());
	cr_assert_eq(st, 2);
	cr_assert(strstr(out, "frobnicate") != NULL);
	free(out);
}

#if defined(DEVSYS_HAVE_MODULE_SPEC) && defined(DEVSYS_HAVE_MODULE_STORE) && defined(DEVSYS_HAVE_MODULE_RECORD) && \
    defined(DEVSYS_HAVE_MODULE_PIPELINE)
/* The whole embedded run is tests/pipeline/main_job.sh; here: the task is
 * registered from the embedded spec, with the sample remote it names, once. */
Test(core_cli, run_registers_the_embedded_task_once)
{
	int st;
	char *dir = dt_tmpdir("cli");
	char *out = dt_sh_output(&st, "'%s' --workspace '%s/ws' run --json", cli(), dir);
	char path[4096], *task_json;
	cr_assert(strstr(out, "\"task\": \"sample-greeting\"") && strstr(out, "\"created\": true"), "got: %s", out);
	free(out);
	snprintf(path, sizeof(path), "%s/ws/tasks/sample-greeting/task.json", dir);
	task_json = dt_read_file(path, NULL);
	cr_assert_not_null(task_json);
	cr_assert(strstr(task_json, "\"spec_path\": \"spec.yaml\"") && strstr(task_json, "/ws/sample/remote.git\""),
	          "got: %s", task_json);
	free(task_json);
	snprintf(path, sizeof(path), "%s/ws/sample/remote.git/HEAD", dir);
	cr_assert(dt_exists(path), "the sample's bare remote is made in the workspace");
	/* A second run reports the registered task and registers nothing new. */
	out = dt_sh_output(&st, "'%s' --workspace '%s/ws' --json run", cli(), dir);
	cr_assert(strstr(out, "\"created\": false") && strstr(out, "\"task\": \"sample-greeting\""), "got: %s", out);
	free(out);
	dt_rmrf(dir);
	free(dir);
}

Test(core_cli, run_refuses_an_invalid_spec_and_registers_nothing)
{
	int st;
	char *dir = dt_tmpdir("cli");
	char spec[4096];
	char *out;
	snprintf(spec, sizeof(spec), "%s/bad.yaml", dir);
	cr_assert(dt_write_file(spec, "id: bad-1\ntitle: x\nshell: true\n"));
	out = dt_sh_output(&st, "'%s' --workspace '%s/ws' run '%s' 2>&1", cli(), dir, spec);
	cr_assert_eq(st, 1, "got %d: %s", st, out);
	cr_assert(strstr(out, "bad.yaml:3:8: /shell:") && strstr(out, "devsys.yaml"), "got: %s", out);
	cr_assert_eq(dt_sh("test ! -e '%s/ws/tasks/bad-1'", dir), 0, "an invalid spec registered a task");
	free(out);
	out = dt_sh_output(&st, "'%s' --workspace '%s/ws' run '%s/missing.yaml' 2>&1", cli(), dir, dir);
	cr_assert_eq(st, 2, "an unreadable spec is exit 2, got %d: %s", st, out);
	free(out);
	/* an oversized spec is refused by the size limit, not read whole */
	cr_assert_eq(dt_sh("head -c 40000000 /dev/zero | tr '\\0' 'a' > '%s/big.yaml'", dir), 0);
	out = dt_sh_output(&st, "'%s' --workspace '%s/ws' run '%s/big.yaml' 2>&1", cli(), dir, dir);
	cr_assert_eq(st, 2, "an oversized spec is exit 2, got %d: %s", st, out);
	cr_assert(strstr(out, "limit"), "got: %s", out);
	free(out);
	dt_rmrf(dir);
	free(dir);
}
#endif

Test(core_cli, unwritable_workspace_is_exit_3_with_json_error)
{
	int st;
	char *dir = dt_tmpdir("cli");
	char *out;
	dt_sh("touch '%s/file'", dir);
	out = dt_sh_output(&st, "'%s' --json --workspace '%s/file' init", cli(), dir);
	cr_assert_eq(st, 3, "got %d: %s", st, out);
	cr_assert(strstr(out, "DEVSYS_EIO") != NULL, "got: %s", out);
	free(out);
	dt_rmrf(dir);
	free(dir);
}
