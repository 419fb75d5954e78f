/*
 * devsys__beneath_*: writing a tree whose names and links someone else chose.
 * Each test plants a link or hard link into the destination that leads to a
 * canary file outside it, then asserts the canary's content and mtime did
 * not change and the legitimate entry did arrive.
 */
#include "testutil.h"
#include "core/core.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp, root[512], outside[512], canary[600];
static devsys__beneath b;

/* An old, fixed mtime: any write through a link would move it to now. */
static const struct timespec canary_time[2] = { { 978307200, 0 }, { 978307200, 0 } };

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
	tmp = dt_tmpdir("beneath");
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	snprintf(canary, sizeof(canary), "%s/canary", outside);
	cr_assert_eq(dt_sh("mkdir -p %s %s", root, outside), 0);
	cr_assert(dt_write_file(canary, "canary\n"));
	cr_assert_eq(utimensat(AT_FDCWD, canary, canary_time, 0), 0);
	cr_assert_eq(devsys__beneath_open(&b, root, 0), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys__beneath_close(&b);
	dt_rmrf(tmp);
	free(tmp);
	devsys_shutdown();
}

TestSuite(core_beneath, .init = setup, .fini = teardown);

static void assert_canary_untouched(void)
{
	struct stat st;
	char *s = dt_read_file(canary, NULL);
	cr_assert_str_eq(s, "canary\n", "the canary outside the tree was changed");
	free(s);
	cr_assert_eq(lstat(canary, &st), 0);
	cr_assert_eq(st.st_mtim.tv_sec, canary_time[1].tv_sec, "the canary's mtime moved");
	cr_assert_eq(dt_sh("test \"$(ls -A %s)\" = canary", outside), 0, "something was created outside the tree");
}

static void put(const char *rel, const char *data)
{
	int fd = -1;
	cr_assert_eq(devsys__beneath_create(&fd, &b, rel, 0644), 0, "%s: %s", rel,
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	cr_assert_eq(close(fd), 0);
}

static char *at(const char *rel)
{
	static char p[700];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return p;
}

static void assert_file(const char *rel, const char *data)
{
	struct stat st;
	char *s = dt_read_file(at(rel), NULL);
	cr_assert_eq(lstat(at(rel), &st), 0, "%s missing", rel);
	cr_assert(S_ISREG(st.st_mode), "%s is not a regular file", rel);
	cr_assert_str_eq(s, data);
	free(s);
}

static void assert_refused(int rc, const char *needle)
{
	cr_assert_eq(rc, DEVSYS_EPATH, "rc %d: %s", rc, devsys_error_message(devsys_error_last()));
	cr_assert(strstr(devsys_error_message(devsys_error_last()), needle), "message lacks '%s': %s", needle,
	          devsys_error_message(devsys_error_last()));
}

Test(core_beneath, creates_nested_files_and_dirs)
{
	struct stat st;
	put("a/b/c/f", "deep\n");
	put("top", "top\n");
	assert_file("a/b/c/f", "deep\n");
	assert_file("top", "top\n");
	cr_assert_eq(devsys__beneath_mkdir(NULL, &b, "a/b/empty", 0750), 0);
	cr_assert_eq(stat(at("a/b/empty"), &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	/* existing directories are kept as they are */
	cr_assert_eq(devsys__beneath_mkdir(NULL, &b, "a/b", 0700), 0);
	assert_file("a/b/c/f", "deep\n");
	/* a second write replaces the file */
	put("top", "again\n");
	assert_file("top", "again\n");
	assert_canary_untouched();
}

Test(core_beneath, unsafe_relative_paths_are_refused)
{
	int fd = -1;
	const char *bad[] = { "../canary", "a/../../x", "/etc/passwd", "a//b", "a/./b", "", "a/", "." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_refused(devsys__beneath_create(&fd, &b, bad[i], 0644), "must be relative");
		assert_refused(devsys__beneath_mkdir(NULL, &b, bad[i], 0755), "must be relative");
		assert_refused(devsys__beneath_symlink(&b, bad[i], "x"), "must be relative");
	}
	cr_assert_eq(dt_sh("test -z \"$(ls -A %s)\"", root), 0, "a refused path created something");
	assert_canary_untouched();
}

Test(core_beneath, link_as_last_component_is_replaced_not_followed)
{
	cr_assert_eq(symlink(canary, at("report.xml")), 0);
	put("report.xml", "legit\n");
	assert_file("report.xml", "legit\n");
	assert_canary_untouched();
}

Test(core_beneath, hard_link_as_last_component_is_replaced_not_written_through)
{
	struct stat st;
	cr_assert_eq(link(canary, at("hard")), 0);
	put("hard", "legit\n");
	assert_file("hard", "legit\n");
	cr_assert_eq(stat(canary, &st), 0);
	cr_assert_eq(st.st_nlink, 1, "the planted hard link still shares the canary's inode");
	assert_canary_untouched();
}

Test(core_beneath, linked_intermediate_directory_is_refused)
{
	int fd = -1;
	cr_assert_eq(symlink(outside, at("sub")), 0);
	assert_refused(devsys__beneath_create(&fd, &b, "sub/canary", 0644), "symbolic link");
	assert_refused(devsys__beneath_create(&fd, &b, "sub/new", 0644), "symbolic link");
	assert_refused(devsys__beneath_mkdir(NULL, &b, "sub/d", 0755), "symbolic link");
	assert_refused(devsys__beneath_mkdir(NULL, &b, "sub", 0755), "symbolic link");
	assert_refused(devsys__beneath_symlink(&b, "sub/l", "x"), "symbolic link");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), root), "the message names the path");
	/* deeper: a link two levels down */
	cr_assert_eq(devsys__beneath_mkdir(NULL, &b, "a/b", 0755), 0);
	cr_assert_eq(symlink(outside, at("a/b/c")), 0);
	assert_refused(devsys__beneath_create(&fd, &b, "a/b/c/d/f", 0644), "symbolic link");
	assert_canary_untouched();
	/* positive control: the same names under real directories work */
	put("a/b/real/d/f", "ok\n");
	assert_file("a/b/real/d/f", "ok\n");
}

Test(core_beneath, non_directories_on_the_way_and_directories_at_the_end)
{
	int fd = -1;
	put("file", "x");
	assert_refused(devsys__beneath_create(&fd, &b, "file/f", 0644), "not a directory");
	assert_refused(devsys__beneath_mkdir(NULL, &b, "file", 0755), "not a directory");
	cr_assert_eq(devsys__beneath_mkdir(NULL, &b, "dir", 0755), 0);
	assert_refused(devsys__beneath_create(&fd, &b, "dir", 0644), "is a directory");
	assert_refused(devsys__beneath_symlink(&b, "dir", "file"), "is a directory");
	assert_file("file", "x");
}

Test(core_beneath, link_targets_judged_lexically)
{
	struct { const char *rel, *target; bool ok; } cases[] = {
		{ "l", "f", true },
		{ "l", "./f", true },
		{ "l", ".", true },
		{ "l", "a/b/../c", false }, /* '..' after a name */
		{ "l", "..", false },
		{ "l", "../root/f", false },
		{ "l", "/etc/passwd", false },
		{ "l", "", false },
		{ "d/l", "../f", true },
		{ "d/l", "..", true },
		{ "d/l", "../../x", false },
		{ "d/e/l", "../../f", true },
		{ "d/e/l", "../../../f", false },
		{ "d/e/l", ".././../f", true },
		{ "d/l", "sub/..", false },
		{ "d/l", "x//y", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(devsys__link_target_within(cases[i].rel, cases[i].target), cases[i].ok, "%s -> %s",
		             cases[i].rel, cases[i].target);
}

Test(core_beneath, symlinks_inside_are_made_and_outside_refused)
{
	char got[256];
	ssize_t n;
	put("d/f", "x");
	cr_assert_eq(devsys__beneath_symlink(&b, "d/e/l", "../f"), 0, "%s", devsys_error_message(devsys_error_last()));
	n = readlink(at("d/e/l"), got, sizeof(got) - 1);
	cr_assert_gt(n, 0);
	got[n] = '\0';
	cr_assert_str_eq(got, "../f");
	assert_file("d/f", "x");
	assert_refused(devsys__beneath_symlink(&b, "d/out", "../../outside/canary"), "leads out");
	assert_refused(devsys__beneath_symlink(&b, "abs", canary), "absolute");
	/* "sub -> ." is inside, but "sub/../x" would climb out through it */
	cr_assert_eq(devsys__beneath_symlink(&b, "sub", "."), 0);
	assert_refused(devsys__beneath_symlink(&b, "esc", "sub/../outside/canary"), "leads out");
	cr_assert_not(dt_exists(at("d/out")));
	cr_assert_not(dt_exists(at("abs")));
	/* an existing link is replaced by the new one, its target left alone */
	cr_assert_eq(symlink(canary, at("again")), 0);
	cr_assert_eq(devsys__beneath_symlink(&b, "again", "d/f"), 0);
	n = readlink(at("again"), got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = '\0';
	cr_assert_str_eq(got, "d/f");
	assert_canary_untouched();
}

Test(core_beneath, hard_links_stay_inside_the_tree)
{
	struct stat a, c;
	put("d/f", "x");
	cr_assert_eq(devsys__beneath_hardlink(&b, "e/g", "d/f"), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(stat(at("d/f"), &a), 0);
	cr_assert_eq(stat(at("e/g"), &c), 0);
	cr_assert_eq(a.st_ino, c.st_ino);
	assert_refused(devsys__beneath_hardlink(&b, "e/h", "../outside/canary"), "must be relative");
	cr_assert_eq(symlink(outside, at("lnk")), 0);
	assert_refused(devsys__beneath_hardlink(&b, "e/h", "lnk/canary"), "symbolic link");
	assert_refused(devsys__beneath_hardlink(&b, "d/f", "d/f"), "itself");
	assert_file("d/f", "x");
	cr_assert_not(dt_exists(at("e/h")));
	assert_canary_untouched();
}

Test(core_beneath, open_parent_and_missing_root)
{
	devsys__beneath p = { .fd = -1 };
	const char *leaf = NULL;
	char path[700];
	int fd = -1;
	snprintf(path, sizeof(path), "%s/one.txt", root);
	cr_assert_eq(devsys__beneath_open_parent(&p, &leaf, path), 0);
	cr_assert_str_eq(leaf, "one.txt");
	cr_assert_str_eq(p.path, root);
	cr_assert_eq(devsys__beneath_create(&fd, &p, leaf, 0600), 0);
	close(fd);
	cr_assert(dt_exists(path));
	devsys__beneath_close(&p);
	devsys__beneath_close(&p); /* closing twice is fine */

	snprintf(path, sizeof(path), "%s/no/such/dir", tmp);
	cr_assert_eq(devsys__beneath_open(&p, path, 0), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), path));
	devsys__beneath_close(&p);
}

Test(core_beneath, refusals_are_counted_and_reported_at_the_end)
{
	int fd = -1;
	cr_assert_eq(devsys__beneath_result(&b), 0, "nothing refused yet");
	cr_assert_eq(devsys__beneath_skip(&b, 0), 0);
	cr_assert_eq(devsys__beneath_skip(&b, DEVSYS_EIO), DEVSYS_EIO, "a real failure still ends the transfer");
	cr_assert_eq(devsys__beneath_skip(&b, devsys__beneath_symlink(&b, "first", "/etc/passwd")), 0);
	cr_assert_eq(devsys__beneath_skip(&b, devsys__beneath_create(&fd, &b, "../x", 0644)), 0);
	put("after", "still written\n");
	cr_assert_eq(devsys__beneath_result(&b), DEVSYS_EPATH);
	const char *m = devsys_error_message(devsys_error_last());
	cr_assert(strstr(m, "2 entries were refused"), "%s", m);
	cr_assert(strstr(m, "/first' -> '/etc/passwd'"), "the first refusal is quoted: %s", m);
	assert_file("after", "still written\n");
}
