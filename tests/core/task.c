#include "testutil.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("task");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
}

static void teardown(void)
{
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(core_task, .init = setup, .fini = teardown);

Test(core_task, valid_ids)
{
	const char *good[] = { "a", "T1", "task-42", "fix_bug.3", "0", "a.b-c_d",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(devsys_task_id_check(good[i]), 0, "'%s': %s", good[i],
		             devsys_error_message(devsys_error_last()));
}

Test(core_task, invalid_ids_are_ebadid_with_a_reason)
{
	const char *bad[] = { "", "-lead", ".hidden", "_x", "a/b", "../../etc", "a..b", "sp ace", "tab\t",
		"new\nline", "x.lock", "end.", "ü", "a:b", "a~b", "a^b",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(devsys_task_id_check(bad[i]), DEVSYS_EBADID, "'%s' accepted", bad[i]);
		cr_assert(strstr(devsys_error_message(devsys_error_last()), "task id") != NULL);
	}
	cr_assert_eq(devsys_task_id_check(NULL), DEVSYS_EBADID);
}

Test(core_task, open_create_exclusive_and_missing)
{
	devsys_task *t = NULL, *t2 = NULL;
	cr_assert_eq(devsys_task_open(&t, ws, "t1", 0), DEVSYS_ENOTFOUND);
	cr_assert_null(t);
	cr_assert_eq(devsys_task_open(&t, ws, "t1", DEVSYS_TASK_CREATE), 0);
	cr_assert_str_eq(devsys_task_id(t), "t1");
	cr_assert(strstr(devsys_task_path(t), "/tasks/t1") != NULL);
	cr_assert(dt_exists(devsys_task_path(t)));
	cr_assert_eq(devsys_task_workspace(t), ws);
	cr_assert_eq(devsys_task_open(&t2, ws, "t1", DEVSYS_TASK_CREATE | DEVSYS_TASK_EXCLUSIVE), DEVSYS_EEXISTS);
	cr_assert_eq(devsys_task_open(&t2, ws, "t1", 0), 0);
	devsys_task_free(t);
	devsys_task_free(t2);
	devsys_task_free(NULL);
}

Test(core_task, bad_id_creates_nothing)
{
	devsys_task *t = NULL;
	cr_assert_eq(devsys_task_open(&t, ws, "../../escape", DEVSYS_TASK_CREATE), DEVSYS_EBADID);
	cr_assert_eq(dt_sh("test $(ls -A '%s/tasks' | wc -l) -eq 0", devsys_workspace_path(ws)), 0);
	cr_assert_eq(devsys_task_open(NULL, ws, "x", 0), DEVSYS_EINVAL);
	cr_assert_eq(devsys_task_open(&t, NULL, "x", 0), DEVSYS_EINVAL);
}

Test(core_task, task_keeps_workspace_alive)
{
	devsys_workspace *w2 = NULL;
	devsys_task *t = NULL;
	char path[4096];
	cr_assert_eq(devsys_workspace_open(&w2, dir, NULL), 0);
	cr_assert_eq(devsys_task_open(&t, w2, "alive", DEVSYS_TASK_CREATE), 0);
	devsys_workspace_free(w2);
	snprintf(path, sizeof(path), "%s", devsys_workspace_path(devsys_task_workspace(t)));
	cr_assert(dt_exists(path));
	devsys_task_free(t);
}

Test(core_task, path_join_stays_inside_the_task)
{
	devsys_task *t = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char link[4200];
	cr_assert_eq(devsys_task_open(&t, ws, "p1", DEVSYS_TASK_CREATE), 0);
	cr_assert_eq(devsys_task_path_join(&b, t, "reports/1/junit.xml"), 0);
	cr_assert(strstr(b.ptr, "/tasks/p1/reports/1/junit.xml") != NULL);
	cr_assert_eq(devsys_task_path_join(&b, t, "../p2/x"), DEVSYS_EPATH);
	cr_assert_eq(devsys_task_path_join(&b, t, "/etc/passwd"), DEVSYS_EPATH);
	snprintf(link, sizeof(link), "%s/reports", devsys_task_path(t));
	cr_assert_eq(symlink("/", link), 0);
	cr_assert_eq(devsys_task_path_join(&b, t, "reports/etc/passwd"), DEVSYS_EPATH);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "reports/etc/passwd") != NULL);
	devsys_buf_dispose(&b);
	devsys_task_free(t);
}
