/*
 * Downloads from a hostile execution place: the remote-ssh runner against a
 * real OpenSSH sshd (tests/support/sshd_fixture) and the in-process runner's
 * local tree copy, each fed a tree whose links try to lead a write out of the
 * destination. A canary file outside the destination (fixed old mtime) must
 * keep its content and mtime, nothing may appear beside it, and the
 * legitimate files and the links that stay inside must still arrive.
 */
#include "runner_common.h"
#include "sshd_fixture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static dt_sshd *sshd;
static devsys_runner *ssh, *inproc;

static void setup(void)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	char why[512];

	cr_assert_gt(devsys_init(), 0);
	ssh = inproc = NULL;
	cr_assert_eq(devsys_runner_open(&inproc, "inproc", &o), 0, "%s", devsys_error_message(devsys_error_last()));
	if (!(sshd = dt_sshd_start(why, sizeof(why))))
		dt_skip("%s", why);
	o.host = sshd->host;
	o.port = (unsigned)sshd->port;
	o.user = sshd->user;
	o.key_file = sshd->user_key;
	o.known_hosts = sshd->known_hosts;
	o.remote_dir = sshd->dir;
	o.connect_timeout_ms = 10000;
	cr_assert_eq(devsys_runner_open(&ssh, "remote-ssh", &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_runner_free(ssh);
	devsys_runner_free(inproc);
	dt_sshd_free(sshd);
	devsys_shutdown();
}

TestSuite(runner_hostile, .init = setup, .fini = teardown, .timeout = 120);

/* base/remote: the tree the execution place offers; base/dl/L: the
 * destination; base/outside/canary: what a hostile link aims at. */
struct place {
	char *base;
	char remote[512], local[512], outside[512], canary[600];
};

static const struct timespec canary_time[2] = { { 978307200, 0 }, { 978307200, 0 } };

static void place_init(struct place *p, const char *tag)
{
	p->base = dt_tmpdir(tag);
	snprintf(p->remote, sizeof(p->remote), "%s/remote", p->base);
	snprintf(p->local, sizeof(p->local), "%s/dl/L", p->base);
	snprintf(p->outside, sizeof(p->outside), "%s/outside", p->base);
	snprintf(p->canary, sizeof(p->canary), "%s/canary", p->outside);
	cr_assert_eq(dt_sh("mkdir -p %s %s %s/dl", p->remote, p->outside, p->base), 0);
	cr_assert(dt_write_file(p->canary, "canary\n"));
	cr_assert_eq(utimensat(AT_FDCWD, p->canary, canary_time, 0), 0);
}

static void place_free(struct place *p)
{
	dt_rmrf(p->base);
	free(p->base);
}

static void assert_canary_untouched(const struct place *p)
{
	struct stat st;
	char *s = dt_read_file(p->canary, NULL);
	cr_assert_str_eq(s, "canary\n", "the canary outside the destination was changed");
	free(s);
	cr_assert_eq(stat(p->canary, &st), 0);
	cr_assert_eq(st.st_mtim.tv_sec, canary_time[1].tv_sec, "the canary's mtime moved");
	cr_assert_eq(st.st_nlink, 1, "a hard link to the canary is left in the destination");
	cr_assert_eq(dt_sh("test \"$(ls -A %s)\" = canary", p->outside), 0, "something was created outside");
	cr_assert_eq(dt_sh("test \"$(ls -A %s)\" = \"$(printf 'dl\\noutside\\nremote')\"", p->base), 0,
	             "something was created beside the destination");
}

static void assert_file(const struct place *p, const char *rel, const char *data)
{
	char path[700];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", p->local, rel);
	cr_assert_eq(lstat(path, &st), 0, "%s did not arrive", rel);
	cr_assert(S_ISREG(st.st_mode), "%s is not a regular file", rel);
	char *s = dt_read_file(path, NULL);
	cr_assert_str_eq(s, data, "%s", rel);
	free(s);
}

static void assert_link(const struct place *p, const char *rel, const char *target)
{
	char path[700], got[512];
	snprintf(path, sizeof(path), "%s/%s", p->local, rel);
	ssize_t n = readlink(path, got, sizeof(got) - 1);
	cr_assert_gt(n, 0, "the link %s was not recreated", rel);
	got[n] = '\0';
	cr_assert_str_eq(got, target, "%s", rel);
}

static void assert_absent(const struct place *p, const char *rel)
{
	char path[700];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", p->local, rel);
	cr_assert_neq(lstat(path, &st), 0, "%s was created", rel);
}

static void assert_refused(int rc, const char *needle)
{
	const char *m = devsys_error_message(devsys_error_last());
	cr_assert_eq(rc, DEVSYS_EPATH, "rc %d: %s", rc, m);
	cr_assert(strstr(m, needle), "the error lacks '%s': %s", needle, m);
}

/* Links to the outside as the last component, climbing out, and through an inside link. */
static void hostile_links(devsys_runner *rr, const char *tag)
{
	struct place p;
	place_init(&p, tag);
	cr_assert_eq(dt_sh("cd %s && mkdir sub && echo legit > ok.txt && echo deep > sub/deep.txt && "
	                   "ln -s ok.txt inside && ln -s ../ok.txt sub/up && ln -s . dot && "
	                   "ln -s %s last && ln -s ../../outside/canary climb && ln -s ../../../x sub/climb2 && "
	                   "ln -s dot/../../outside/canary viadot",
	                   p.remote, p.canary),
	             0);
	assert_refused(devsys_runner_download(rr, p.remote, p.local), "4 entries were refused");
	assert_canary_untouched(&p);
	assert_absent(&p, "last");
	assert_absent(&p, "climb");
	assert_absent(&p, "sub/climb2");
	assert_absent(&p, "viadot");
	/* positive controls: the rest arrived, links that stay inside too */
	assert_file(&p, "ok.txt", "legit\n");
	assert_file(&p, "sub/deep.txt", "deep\n");
	assert_link(&p, "inside", "ok.txt");
	assert_link(&p, "sub/up", "../ok.txt");
	assert_link(&p, "dot", ".");
	place_free(&p);
}

/* The destination already holds links (from an older transfer or a local
 * process): a file link, a hard link, and a linked intermediate directory. */
static void planted_links(devsys_runner *rr, const char *tag)
{
	struct place p;
	char single[700];
	place_init(&p, tag);
	cr_assert_eq(dt_sh("mkdir -p %s && ln -s %s %s/report.xml && ln %s %s/hard && ln -s %s %s/reports",
	                   p.local, p.canary, p.local, p.canary, p.local, p.outside, p.local),
	             0);
	cr_assert_eq(dt_sh("cd %s && mkdir reports && echo new > report.xml && echo hard > hard && "
	                   "echo '<testsuite/>' > reports/canary && echo other > other.txt",
	                   p.remote),
	             0);
	assert_refused(devsys_runner_download(rr, p.remote, p.local), "symbolic link");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "/reports'"), "the error names the path: %s",
	          devsys_error_message(devsys_error_last()));
	assert_canary_untouched(&p);
	assert_file(&p, "report.xml", "new\n");
	assert_file(&p, "hard", "hard\n");
	assert_file(&p, "other.txt", "other\n");

	/* a single file downloaded onto a planted link replaces the link */
	snprintf(single, sizeof(single), "%s/one.txt", p.local);
	cr_assert_eq(symlink(p.canary, single), 0);
	char rfile[600];
	snprintf(rfile, sizeof(rfile), "%s/other.txt", p.remote);
	cr_assert_eq(devsys_runner_download(rr, rfile, single), 0, "%s", devsys_error_message(devsys_error_last()));
	assert_file(&p, "one.txt", "other\n");
	assert_canary_untouched(&p);
	place_free(&p);
}

/* A first transfer makes an inside link to a directory; a second one, where
 * that name is a directory, must not write through the link. */
static void second_download(devsys_runner *rr, const char *tag)
{
	struct place p;
	place_init(&p, tag);
	cr_assert_eq(dt_sh("cd %s && mkdir sub && echo a > sub/a.txt && ln -s sub out", p.remote), 0);
	cr_assert_eq(devsys_runner_download(rr, p.remote, p.local), 0, "%s", devsys_error_message(devsys_error_last()));
	assert_link(&p, "out", "sub");
	cr_assert_eq(dt_sh("cd %s && rm out && mkdir out && echo evil > out/evil.txt && echo b > sub/b.txt", p.remote),
	             0);
	assert_refused(devsys_runner_download(rr, p.remote, p.local), "is a symbolic link");
	assert_absent(&p, "sub/evil.txt");
	assert_link(&p, "out", "sub");
	assert_file(&p, "sub/a.txt", "a\n");
	assert_file(&p, "sub/b.txt", "b\n");
	assert_canary_untouched(&p);
	place_free(&p);
}

Test(runner_hostile, ssh_download_refuses_links_leading_out)
{
	hostile_links(ssh, "hostile-ssh-links");
}

Test(runner_hostile, ssh_download_does_not_write_through_planted_links)
{
	planted_links(ssh, "hostile-ssh-planted");
}

Test(runner_hostile, ssh_second_download_does_not_follow_an_inside_link)
{
	second_download(ssh, "hostile-ssh-second");
}

Test(runner_hostile, local_copy_refuses_links_leading_out)
{
	hostile_links(inproc, "hostile-ip-links");
}

Test(runner_hostile, local_copy_does_not_write_through_planted_links)
{
	planted_links(inproc, "hostile-ip-planted");
}

Test(runner_hostile, local_copy_second_download_does_not_follow_an_inside_link)
{
	second_download(inproc, "hostile-ip-second");
}

/* inproc upload is the same tree copy in the other direction */
Test(runner_hostile, local_upload_into_a_planted_tree)
{
	struct place p;
	place_init(&p, "hostile-ip-upload");
	cr_assert_eq(dt_sh("mkdir -p %s && ln -s %s %s/f && ln -s %s %s/d", p.local, p.canary, p.local, p.outside,
	                   p.local),
	             0);
	cr_assert_eq(dt_sh("cd %s && mkdir d && echo up > f && echo x > d/canary", p.remote), 0);
	assert_refused(devsys_runner_upload(inproc, p.remote, p.local), "symbolic link");
	assert_file(&p, "f", "up\n");
	assert_canary_untouched(&p);
	place_free(&p);
}
