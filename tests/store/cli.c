/* devsys tasks / show / check against a real store. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/store.h>

#include <stdlib.h>
#include <string.h>

static char *dir;
static const char *cli;

static void setup(void)
{
	devsys_workspace *ws;
	devsys_store *st;
	cli = getenv("DEVSYS_CLI");
	cr_assert_not_null(cli);
	dir = dt_tmpdir("store-cli");
	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0);
	cr_assert_eq(devsys_store_task_create(st, "alpha", "specs/alpha.yaml"), 0);
	cr_assert_eq(devsys_store_task_create(st, "beta", NULL), 0);
	cr_assert_eq(devsys_store_transition(st, "beta", DEVSYS_STATE_FAILED, "broken"), 0);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	devsys_shutdown();
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
}

TestSuite(store_cli, .init = setup, .fini = teardown);

Test(store_cli, tasks_and_show)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' --no-color --workspace '%s' tasks", cli, dir);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "alpha") && strstr(out, "beta") && strstr(out, "failed") && strstr(out, "(2 of 2)"), "%s",
	          out);
	free(out);
	out = dt_sh_output(&st, "'%s' --json --workspace '%s' tasks --state failed", cli, dir);
	cr_assert(strstr(out, "\"total\": 1") && strstr(out, "\"beta\""), "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --workspace '%s' tasks --state nope 2>&1", cli, dir);
	cr_assert_eq(st, 2, "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --no-color --workspace '%s' show alpha", cli, dir);
	cr_assert_eq(st, 0);
	cr_assert(strstr(out, "state     created") && strstr(out, "specs/alpha.yaml"), "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --workspace '%s' show ../etc 2>&1", cli, dir);
	cr_assert_eq(st, 2, "%s", out);
	free(out);
}

Test(store_cli, check_reports_then_repairs)
{
	int st;
	char *out;
	cr_assert_eq(dt_sh("rm -rf '%s/tasks/alpha'", dir), 0);
	out = dt_sh_output(&st, "'%s' --workspace '%s' check", cli, dir);
	cr_assert_eq(st, 1, "drift is a negative result: %s", out);
	cr_assert(strstr(out, "missing-folder"), "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --workspace '%s' check --repair", cli, dir);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "(repaired)"));
	free(out);
	cr_assert_eq(dt_sh("'%s' --workspace '%s' check >/dev/null", cli, dir), 0);
}
