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

Test(core_cli, run_masks_the_demo_token_and_creates_the_task)
{
	int st;
	char *dir = dt_tmpdir("cli");
	char *out = dt_sh_output(&st, "'%s' --workspace '%s/ws' run --json", cli(), dir);
	cr_assert_eq(st, 0, "got: %s", out);
	cr_assert(strstr(out, "[MASKED:demo-token]") != NULL, "got: %s", out);
	cr_assert(strstr(out, "ghs_demo") == NULL, "token leaked: %s", out);
	cr_assert_eq(dt_sh("test -d '%s/ws/tasks/sample'", dir), 0);
	free(out);
	dt_rmrf(dir);
	free(dir);
}

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
	out = dt_sh_output(&st, "'%s' --workspace '%s' run ../bad 2>&1", cli(), dir);
	cr_assert_eq(st, 2, "got %d: %s", st, out);
	cr_assert(strstr(out, "task id") != NULL);
	free(out);
	dt_rmrf(dir);
	free(dir);
}
