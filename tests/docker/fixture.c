/*
 * The dockerd fixture itself: a dockerd that cannot start yields a reason
 * quoting its log and leaves nothing behind, and stopping an engine with a
 * running container leaves no process, mount or directory.
 */
#include "dockerd_fixture.h"
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How many processes (other than this one) name @p dir on their command line. */
static int processes_naming(const char *dir)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int n = 0;
	while (proc && (e = readdir(proc))) {
		char path[64], buf[4096];
		int pid = atoi(e->d_name), fd;
		ssize_t len;
		if (pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		if (len > 0 && (buf[len] = '\0', strstr(buf, dir)))
			n++;
	}
	if (proc)
		closedir(proc);
	return n;
}

static int mounts_below(const char *dir)
{
	int st;
	char *out = dt_sh_output(&st, "grep -cF ' %s/' /proc/self/mountinfo", dir);
	int n = out ? atoi(out) : -1;
	free(out);
	return n;
}

Test(docker_fixture, a_dockerd_that_cannot_start_is_a_reason_from_its_log)
{
	char why[1024];
	dt_dockerd *d;
	if (access("/usr/sbin/dockerd", X_OK) != 0)
		dt_skip("/usr/sbin/dockerd missing (run scripts/bootstrap)");
	setenv("DT_DOCKERD_EXTRA_ARG", "--no-such-flag-for-the-test", 1);
	d = dt_dockerd_start(why, sizeof(why));
	unsetenv("DT_DOCKERD_EXTRA_ARG");
	cr_assert_null(d, "dockerd with an unknown flag must not come up");
	cr_assert(strstr(why, "storage driver vfs") && strstr(why, "exited with status"), "%s", why);
	cr_assert(strstr(why, "no-such-flag-for-the-test"), "the reason quotes dockerd's log: %s", why);
	/* Other suites start engines meanwhile, and a new directory of theirs may
	 * have no process yet: check the attempt's own directory, by name. */
	const char *mine = dt_dockerd_last_dir();
	cr_assert(strncmp(mine, "/tmp/dt-dkr-", 12) == 0, "the fixture did not say where it started: '%s'", mine);
	cr_assert_not(dt_exists(mine), "a failed start left %s", mine);
	cr_assert_eq(processes_naming(mine), 0, "a failed start left a process naming %s", mine);
	cr_assert_eq(mounts_below(mine), 0, "a failed start left a mount below %s", mine);
}

Test(docker_fixture, stop_leaves_no_process_mount_or_directory, .timeout = 120)
{
	char why[1024], *dir, *curl, *out;
	int st;
	dt_dockerd *d = dt_dockerd_start(why, sizeof(why));
	if (!d)
		dt_skip("%s", why);
	dir = strdup(d->dir);
	curl = dt_dockerd_curl(d);
	/* a container still running when the engine stops (the Engine API through curl) */
	out = dt_sh_output(&st, "%s -f -H 'Content-Type: application/json' -d '{\"Image\":\"%s\",\"Cmd\":[\"sleep\",\"600\"],"
	                   "\"HostConfig\":{\"NetworkMode\":\"none\"}}' http://docker/v1.41/containers/create | "
	                   "sed -n 's/.*\"Id\":\"\\([0-9a-f]*\\)\".*/\\1/p'", curl, d->image);
	cr_assert_eq(st, 0, "%s", out);
	out[strcspn(out, "\n")] = '\0';
	cr_assert_eq(strlen(out), 64, "container id: '%s'", out);
	cr_assert_eq(dt_sh("%s -f -X POST http://docker/v1.41/containers/%s/start", curl, out), 0);
	free(out);
	cr_assert_gt(processes_naming(dir), 1, "dockerd, containerd and the shim name the directory");
	cr_assert(dt_dockerd_running(d));
	free(curl);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dt_dockerd_free(d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "fixture stop with a running container: %.0f ms\n",
	        (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	cr_assert_eq(processes_naming(dir), 0, "no process left");
	cr_assert_eq(mounts_below(dir), 0, "nothing mounted below it");
	cr_assert(!dt_exists(dir), "%s removed", dir);
	free(dir);
}
