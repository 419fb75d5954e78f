#include "testutil.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Test(core_buf_fs, buf_grows_and_stays_terminated)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(devsys_buf_printf(&b, "%d,", i), 0);
	cr_assert_eq(strlen(b.ptr), b.size);
	cr_assert(strncmp(b.ptr, "0,1,2,", 6) == 0);
	devsys_buf_clear(&b);
	cr_assert_eq(b.size, 0);
	cr_assert_str_eq(b.ptr, "");
	devsys_buf_dispose(&b);
	cr_assert_null(b.ptr);
	devsys_buf_dispose(NULL);
}

Test(core_buf_fs, buf_put_rejects_null_data_with_length)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_buf_put(&b, NULL, 3), DEVSYS_EINVAL);
	cr_assert_eq(devsys_buf_put(NULL, "x", 1), DEVSYS_EINVAL);
}

Test(core_buf_fs, relpath_safety)
{
	cr_assert(devsys__relpath_is_safe("reports/1/junit.xml"));
	cr_assert(devsys__relpath_is_safe("a..b"));
	cr_assert_not(devsys__relpath_is_safe(""));
	cr_assert_not(devsys__relpath_is_safe("/etc/passwd"));
	cr_assert_not(devsys__relpath_is_safe("../x"));
	cr_assert_not(devsys__relpath_is_safe("a/../../x"));
	cr_assert_not(devsys__relpath_is_safe("a/./b"));
	cr_assert_not(devsys__relpath_is_safe("a//b"));
	cr_assert_not(devsys__relpath_is_safe("a/"));
}

Test(core_buf_fs, join_within_refuses_symlink_escape)
{
	char *dir = dt_tmpdir("fs");
	char base[4096], link[4096];
	devsys_buf out = DEVSYS_BUF_INIT;
	cr_assert_not_null(dir);
	cr_assert_not_null(realpath(dir, base));
	snprintf(link, sizeof(link), "%s/out", base);
	cr_assert_eq(symlink("/etc", link), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "out/passwd"), DEVSYS_EPATH);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "outside") != NULL);
	cr_assert_eq(devsys__path_join_within(&out, base, "new/file.txt"), 0);
	cr_assert(strncmp(out.ptr, base, strlen(base)) == 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "../escape"), DEVSYS_EPATH);
	devsys_buf_dispose(&out);
	dt_rmrf(dir);
	free(dir);
}

/* The cached parent (a task folder's tasks/ directory) skips realpath(), not the check below it. */
Test(core_buf_fs, join_within_checks_below_a_cached_parent)
{
	char *dir = dt_tmpdir("fs");
	char root[4096], base[4096], p[4096];
	devsys_buf out = DEVSYS_BUF_INIT;
	cr_assert_not_null(dir);
	cr_assert_not_null(realpath(dir, root));
	snprintf(base, sizeof(base), "%s/t1", root);
	cr_assert_eq(mkdir(base, 0700), 0);
	/* positive control: a plain file and a missing one join, and the parent is now cached */
	snprintf(p, sizeof(p), "%s/task.json", base);
	cr_assert(dt_write_file(p, "{}"));
	cr_assert_eq(devsys__path_join_within(&out, base, "task.json"), 0);
	cr_assert_str_eq(out.ptr, p);
	cr_assert_eq(devsys__path_join_within(&out, base, "logs/agent.jsonl"), 0);
	/* a link planted in the folder, or in a directory of it, is still refused */
	snprintf(p, sizeof(p), "%s/logs", base);
	cr_assert_eq(symlink("/etc", p), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "logs/passwd"), DEVSYS_EPATH);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "outside") != NULL);
	snprintf(p, sizeof(p), "%s/events.jsonl", base);
	cr_assert_eq(symlink("/etc/passwd", p), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "events.jsonl"), DEVSYS_EPATH);
	/* a link inside the folder that stays inside is allowed, as realpath() would say */
	snprintf(p, sizeof(p), "%s/again.json", base);
	cr_assert_eq(symlink("task.json", p), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "again.json"), 0);
	/* the folder itself swapped for a link to another folder (under the same cached parent) */
	snprintf(p, sizeof(p), "%s/t2", root);
	cr_assert_eq(rename(base, p), 0);
	cr_assert_eq(symlink(p, base), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "task.json"), DEVSYS_EPATH);
	devsys_buf_dispose(&out);
	dt_rmrf(dir);
	free(dir);
}

/* Writes under devsys__fs_nosync_begin() are still whole and atomic; the hold nests and ends. */
Test(core_buf_fs, nosync_hold_nests_and_writes_stay_atomic)
{
	char *dir = dt_tmpdir("fs");
	char path[4096];
	devsys_buf got = DEVSYS_BUF_INIT;
	snprintf(path, sizeof(path), "%s/task.json", dir);
	cr_assert(devsys__fs_sync_wanted());
	devsys__fs_nosync_begin();
	devsys__fs_nosync_begin();
	cr_assert_not(devsys__fs_sync_wanted());
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":3}", 7, 0644), 0);
	devsys__fs_nosync_end();
	cr_assert_not(devsys__fs_sync_wanted());
	devsys__fs_nosync_end();
	cr_assert(devsys__fs_sync_wanted());
	devsys__fs_nosync_end(); /* an unpaired end does not turn the policy around */
	cr_assert(devsys__fs_sync_wanted());
	cr_assert_eq(devsys__read_file(&got, path, 1024), 0);
	cr_assert_str_eq(got.ptr, "{\"v\":3}");
	cr_assert_eq(dt_sh("test $(ls -A '%s' | wc -l) -eq 1", dir), 0);
	devsys_buf_dispose(&got);
	dt_rmrf(dir);
	free(dir);
}

Test(core_buf_fs, atomic_write_replaces_whole_file)
{
	char *dir = dt_tmpdir("fs");
	char path[4096];
	devsys_buf got = DEVSYS_BUF_INIT;
	snprintf(path, sizeof(path), "%s/record.json", dir);
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":1}", 7, 0600), 0);
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":2}", 7, 0600), 0);
	cr_assert_eq(devsys__read_file(&got, path, 1024), 0);
	cr_assert_str_eq(got.ptr, "{\"v\":2}");
	cr_assert_eq(devsys__read_file(&got, path, 3), DEVSYS_ELIMIT);
	/* no temp files left behind */
	cr_assert_eq(dt_sh("test $(ls -A '%s' | wc -l) -eq 1", dir), 0);
	devsys_buf_dispose(&got);
	dt_rmrf(dir);
	free(dir);
}

Test(core_buf_fs, mkdir_p_reports_file_in_the_way)
{
	char *dir = dt_tmpdir("fs");
	char file[4096], sub[4096];
	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(sub, sizeof(sub), "%s/file/sub", dir);
	cr_assert(dt_write_file(file, "x"));
	cr_assert_eq(devsys__mkdir_p(sub, 0700), DEVSYS_EIO);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "not a directory") != NULL);
	dt_rmrf(dir);
	free(dir);
}
