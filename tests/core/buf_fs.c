#include "testutil.h"
#include "core/core.h"

#include <pthread.h>
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

/*
 * The cached parent's identity. A thread that has cached <ws>/tasks keeps
 * using it; a directory above it, or the parent itself, swapped for a link
 * must send the next join back to the full check, with the verdict and the
 * error a thread with a cold cache gives (cold_join).
 */
struct cold_join {
	const char *base, *rel;
	int rc;
	char message[1024];
};

static void *cold_join_run(void *arg)
{
	struct cold_join *j = arg;
	devsys_buf out = DEVSYS_BUF_INIT;
	j->rc = devsys__path_join_within(&out, j->base, j->rel);
	snprintf(j->message, sizeof(j->message), "%s", j->rc ? devsys_error_message(devsys_error_last()) : "");
	devsys_buf_dispose(&out);
	return NULL;
}

/* Join in this (warm) thread and in a fresh one; both must refuse alike. */
static void assert_refused_as_cold(const char *base, const char *rel)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	struct cold_join cold = { base, rel, 1, "" };
	pthread_t t;
	int rc = devsys__path_join_within(&out, base, rel);
	const char *msg = rc ? devsys_error_message(devsys_error_last()) : "";
	cr_assert_eq(pthread_create(&t, NULL, cold_join_run, &cold), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(cold.rc, DEVSYS_EPATH, "a cold cache refuses %s/%s: %d", base, rel, cold.rc);
	cr_assert_eq(rc, DEVSYS_EPATH, "a warm cache refuses %s/%s as a cold one does: %d", base, rel, rc);
	cr_assert_str_eq(msg, cold.message);
	devsys_buf_dispose(&out);
}

/* <root>/ws/tasks/t1/task.json, and a look-alike <root>/outside/tasks/t1/task.json. */
static char *make_workspace(char *root, char *ws, char *tasks, char *base, size_t size)
{
	char *dir = dt_tmpdir("fs");
	cr_assert_not_null(dir);
	cr_assert_not_null(realpath(dir, root));
	snprintf(ws, size, "%s/ws", root);
	snprintf(tasks, size, "%s/ws/tasks", root);
	snprintf(base, size, "%s/ws/tasks/t1", root);
	cr_assert_eq(dt_sh("mkdir -p '%s' '%s/outside/tasks/t1' && echo '{}' > '%s/task.json' && "
	                   "echo '{\"other\":1}' > '%s/outside/tasks/t1/task.json'",
	                   base, root, base, root),
	             0);
	return dir;
}

/* positive control: the join succeeds and the thread has cached <ws>/tasks */
static void warm(const char *base)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys__path_join_within(&out, base, "task.json"), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "logs/agent.jsonl"), 0);
	devsys_buf_dispose(&out);
}

Test(core_buf_fs, join_within_notices_a_directory_above_the_cached_parent_swapped_for_a_link)
{
	char root[2048], ws[2048], tasks[2048], base[2048], p[2100];
	char *dir = make_workspace(root, ws, tasks, base, sizeof(root));
	warm(base);
	snprintf(p, sizeof(p), "%s.old", ws);
	cr_assert_eq(rename(ws, p), 0);
	snprintf(p, sizeof(p), "%s/outside", root);
	cr_assert_eq(symlink(p, ws), 0);
	assert_refused_as_cold(base, "task.json");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "outside") != NULL);
	assert_refused_as_cold(base, "logs/agent.jsonl");
	dt_rmrf(dir);
	free(dir);
}

Test(core_buf_fs, join_within_notices_the_cached_parent_swapped_for_a_link)
{
	char root[2048], ws[2048], tasks[2048], base[2048], p[2100];
	char *dir = make_workspace(root, ws, tasks, base, sizeof(root));
	warm(base);
	snprintf(p, sizeof(p), "%s.old", tasks);
	cr_assert_eq(rename(tasks, p), 0);
	snprintf(p, sizeof(p), "%s/outside/tasks", root);
	cr_assert_eq(symlink(p, tasks), 0);
	assert_refused_as_cold(base, "task.json");
	dt_rmrf(dir);
	free(dir);
}

/* The same directory under a link is still a link: refused, as realpath() refuses it. */
Test(core_buf_fs, join_within_refuses_the_cached_parent_made_a_link_to_itself)
{
	char root[2048], ws[2048], tasks[2048], base[2048];
	char *dir = make_workspace(root, ws, tasks, base, sizeof(root));
	warm(base);
	cr_assert_eq(dt_sh("mv '%s' '%s.real' && ln -s tasks.real '%s'", tasks, tasks, tasks), 0);
	assert_refused_as_cold(base, "task.json");
	dt_rmrf(dir);
	free(dir);
}

/*
 * A directory above the parent renamed and linked back under its old name:
 * the parent is the same directory (same device and inode, not a link), so a
 * warm thread still joins into it, where a cold one refuses the path by name.
 * Nothing resolves outside the directory that was checked.
 */
Test(core_buf_fs, join_within_follows_a_link_above_back_to_the_same_parent)
{
	char root[2048], ws[2048], tasks[2048], base[2048], p[2100];
	char *dir = make_workspace(root, ws, tasks, base, sizeof(root));
	devsys_buf out = DEVSYS_BUF_INIT;
	struct stat before, after;
	snprintf(p, sizeof(p), "%s/task.json", base);
	cr_assert_eq(stat(p, &before), 0);
	warm(base);
	cr_assert_eq(dt_sh("mv '%s' '%s.real' && ln -s ws.real '%s'", ws, ws, ws), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "task.json"), 0);
	cr_assert_eq(stat(out.ptr, &after), 0);
	cr_assert(before.st_dev == after.st_dev && before.st_ino == after.st_ino);
	devsys_buf_dispose(&out);
	dt_rmrf(dir);
	free(dir);
}

/* A parent removed and made again (a new directory, no link) is checked and cached anew. */
Test(core_buf_fs, join_within_recaches_a_parent_made_again)
{
	char root[2048], ws[2048], tasks[2048], base[2048], p[2100];
	char *dir = make_workspace(root, ws, tasks, base, sizeof(root));
	devsys_buf out = DEVSYS_BUF_INIT;
	warm(base);
	cr_assert_eq(dt_sh("rm -rf '%s' && mkdir -p '%s' && echo '{}' > '%s/task.json'", tasks, base, base), 0);
	cr_assert_eq(devsys__path_join_within(&out, base, "task.json"), 0);
	/* the new directory is the cached one now: a swap of it is noticed again */
	snprintf(p, sizeof(p), "%s.old", tasks);
	cr_assert_eq(rename(tasks, p), 0);
	snprintf(p, sizeof(p), "%s/outside/tasks", root);
	cr_assert_eq(symlink(p, tasks), 0);
	assert_refused_as_cold(base, "task.json");
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

static ino_t inode_of(const char *path)
{
	struct stat st;
	cr_assert_eq(lstat(path, &st), 0, "%s", path);
	return st.st_ino;
}

/*
 * Without fsync a write goes through <path>.spare and the names swap: the
 * file is whole after each write (a shorter one too), the two inodes take
 * turns (no new file a write), and a spare planted as a link, hard or
 * symbolic, is never written through. With fsync (the control) no spare.
 */
Test(core_buf_fs, nosync_writes_swap_through_a_spare_and_never_through_a_link)
{
	char *dir = dt_tmpdir("fs");
	char path[4096], spare[4200], victim[4200];
	devsys_buf got = DEVSYS_BUF_INIT;
	ino_t first, second;
	snprintf(path, sizeof(path), "%s/task.json", dir);
	snprintf(spare, sizeof(spare), "%s.spare", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":1}", 7, 0644), 0);
	cr_assert_neq(access(spare, F_OK), 0, "a durable write leaves no spare");
	devsys__fs_nosync_begin();
	first = inode_of(path);
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":22222}", 11, 0644), 0);
	second = inode_of(path);
	cr_assert_neq(second, first);
	cr_assert_eq(inode_of(spare), first, "the spare keeps the old file");
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":3}", 7, 0644), 0);
	cr_assert_eq(inode_of(path), first, "the old file is written again, no new one");
	cr_assert_eq(devsys__read_file(&got, path, 1024), 0);
	cr_assert_str_eq(got.ptr, "{\"v\":3}", "a shorter write is cut to its length");
	/* a hard link planted as the spare: the write takes a new file, the link's target is untouched */
	cr_assert(dt_write_file(victim, "keep me"));
	cr_assert_eq(unlink(spare), 0);
	cr_assert_eq(link(victim, spare), 0);
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":4}", 7, 0644), 0);
	cr_assert_eq(devsys__read_file(&got, victim, 1024), 0);
	cr_assert_str_eq(got.ptr, "keep me");
	cr_assert_eq(devsys__read_file(&got, path, 1024), 0);
	cr_assert_str_eq(got.ptr, "{\"v\":4}");
	/* a symbolic link planted as the spare: not followed either */
	unlink(spare);
	cr_assert_eq(symlink(victim, spare), 0);
	cr_assert_eq(devsys__write_file_atomic(path, "{\"v\":5}", 7, 0644), 0);
	cr_assert_eq(devsys__read_file(&got, victim, 1024), 0);
	cr_assert_str_eq(got.ptr, "keep me");
	cr_assert_eq(devsys__read_file(&got, path, 1024), 0);
	cr_assert_str_eq(got.ptr, "{\"v\":5}");
	devsys__fs_nosync_end();
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
