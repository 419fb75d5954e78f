/*
 * dind fixture: see dind_fixture.h. Readiness is polled with a deadline; an
 * outer container that exits while we wait is noticed and its log quoted.
 */
#include "dind_fixture.h"
#include "testutil.h"
#include "watchdog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READY_DEADLINE_MS 60000
#define IMAGE_ENV "DT_DIND_IMAGE_ID"
#define SKIP_ENV "DT_DIND_SKIP"

/* The teardown, shared by dt_dind_engine_free() and the watchdog (printf formats). */
/* inner containers first (dir, sock): the inner engine removes their cgroups */
#define RM_INNER "I='env -u DOCKER_HOST DOCKER_CONFIG=%s /usr/bin/docker -H unix://%s'; $I ps -aq | xargs -r $I rm -f >/dev/null 2>&1"
/* the outer container with its volumes (cli, container) */
#define RM_OUTER "%s rm -f -v %s >/dev/null 2>&1"
/* the inner engine's cgroup parent, one per controller (cgroup v1) (its name) */
#define RM_CGROUPS "for c in /sys/fs/cgroup/*/%s; do [ -d \"$c\" ] && rmdir \"$c\"; done 2>/dev/null; true"

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The script next to this file (CMake compiles it by its absolute path). */
static char *script_path(void)
{
	const char *slash = strrchr(__FILE__, '/');
	char *p = NULL;
	if (!slash || asprintf(&p, "%.*s/dind_rootfs.sh", (int)(slash - __FILE__), __FILE__) < 0)
		return NULL;
	return p;
}

int dt_dind_image_import(const dt_dockerd *d, double *ms, char *why, size_t why_len)
{
	char *script = script_path(), *cli = dt_dockerd_cli(d), *out = NULL;
	int st = -1;
	double t0 = mono_ms();
	if (!script || !cli || access(script, R_OK) != 0) {
		dt_set_why(why, why_len, "tests/support/dind_rootfs.sh not found at %s", script ? script : "?");
		goto fail;
	}
	out = dt_sh_output(&st, "sh '%s' '%s' 2>&1", script, d->dir);
	if (st != 0) {
		dt_set_why(why, why_len, "dind_rootfs.sh failed: %.400s", out ? out : "");
		goto fail;
	}
	free(out);
	out = dt_sh_output(&st,
	                   "%s import --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' '%s/dind-rootfs.tar' %s 2>&1 "
	                   "&& rm -f '%s/dind-rootfs.tar'",
	                   cli, d->dir, DT_DIND_IMAGE, d->dir);
	if (st != 0 || !out || strncmp(out, "sha256:", 7) != 0) {
		dt_set_why(why, why_len, "docker import of the dind rootfs failed: %.400s", out ? out : "");
		goto fail;
	}
	if (ms)
		*ms = mono_ms() - t0;
	free(out), free(cli), free(script);
	return 0;
fail:
	free(out), free(cli), free(script);
	return -1;
}

void dt_dind_suite_start(void)
{
	char why[1024];
	double ms = 0;
	dt_dockerd *d = dt_dockerd_suite(why, sizeof(why));
	if (!d) {
		setenv(SKIP_ENV, why, 1);
		return;
	}
	if (dt_dind_image_import(d, &ms, why, sizeof(why)) != 0)
		setenv(SKIP_ENV, why, 1);
	else
		fprintf(stderr, "dind fixture: image %s built and imported in %.0f ms\n", DT_DIND_IMAGE, ms);
	dt_dockerd_free(d);
}

dt_dockerd *dt_dind_suite(char *why, size_t why_len)
{
	const char *skip = getenv(SKIP_ENV);
	dt_dockerd *d;
	if (skip) {
		dt_set_why(why, why_len, "%s", skip);
		return NULL;
	}
	return (d = dt_dockerd_suite(why, why_len));
}

/* GET /_ping over the inner socket: 200 "OK". */
static bool ping(const char *sock)
{
	struct sockaddr_un a;
	char resp[512];
	size_t len = 0;
	ssize_t n;
	static const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = false;
	if (fd < 0 || strlen(sock) >= sizeof(a.sun_path))
		goto out;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		goto out;
	while (len < sizeof(resp) - 1 && (n = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
		len += (size_t)n;
	resp[len] = '\0';
	ok = strncmp(resp, "HTTP/1.", 7) == 0 && strncmp(resp + 8, " 200", 4) == 0 && strstr(resp, "\r\n\r\nOK");
out:
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool outer_running(const dt_dind *e)
{
	char *out = dt_sh_output(NULL, "%s inspect -f '{{.State.Running}}' %s 2>/dev/null", e->cli, e->container);
	bool running = out && strncmp(out, "true", 4) == 0;
	free(out);
	return running;
}

dt_dind *dt_dind_engine_start(const dt_dockerd *d, char *why, size_t why_len)
{
	dt_dind *e = calloc(1, sizeof(*e));
	int st = -1;
	double t0, deadline;
	if (!e)
		return NULL;
	/* The outer container is no process of ours: if the test dies, the watchdog removes it through the
	 * fixture engine, as dt_dind_engine_free() does. */
	if (!(e->watchdog = dt_watchdog_start(why, why_len))) {
		dt_dind_engine_free(e);
		return NULL;
	}
	if (!(e->dir = dt_sockdir("dnd")) || !(e->cli = dt_dockerd_cli(d)) ||
	    asprintf(&e->sock, "%s/docker.sock", e->dir) < 0) {
		dt_set_why(why, why_len, "out of memory or no private directory under /tmp");
		dt_dind_engine_free(e);
		return NULL;
	}
	dt_watchdog_dir(e->watchdog, e->dir);
	t0 = mono_ms();
	e->container = dt_sh_output(
		&st,
		"%s run -d --network none --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined "
		"--security-opt apparmor=unconfined --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup -v '%s':/run/dind "
		"--label devsys.test=dind %s dockerd --host unix:///run/dind/docker.sock --storage-driver vfs "
		"--bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false "
		"--cgroup-parent=/%s 2>&1",
		e->cli, e->dir, DT_DIND_IMAGE, strrchr(e->dir, '/') + 1);
	if (st != 0 || !e->container || strlen(e->container) < 12) {
		dt_set_why(why, why_len, "docker run of %s failed: %.400s", DT_DIND_IMAGE, e->container ? e->container : "");
		dt_dind_engine_free(e);
		return NULL;
	}
	e->container[strcspn(e->container, "\r\n")] = '\0';
	dt_watchdog_run(e->watchdog, RM_INNER, e->dir, e->sock);
	dt_watchdog_run(e->watchdog, RM_OUTER, e->cli, e->container);
	dt_watchdog_run(e->watchdog, RM_CGROUPS, strrchr(e->dir, '/') + 1);
	deadline = t0 + READY_DEADLINE_MS;
	while (!ping(e->sock)) {
		struct timespec ts = { 0, 20 * 1000000L };
		if (mono_ms() > deadline || !outer_running(e)) {
			char *log = dt_sh_output(NULL, "%s logs --tail 8 %s 2>&1", e->cli, e->container);
			dt_set_why(why, why_len, "the inner dockerd %s: %.500s",
			        mono_ms() > deadline ? "did not answer /_ping within 60 s" : "exited", log ? log : "");
			free(log);
			dt_dind_engine_free(e);
			return NULL;
		}
		nanosleep(&ts, NULL);
	}
	e->ready_ms = mono_ms() - t0;
	return e;
}

void dt_dind_engine_free(dt_dind *e)
{
	if (!e)
		return;
	if (e->sock && ping(e->sock))
		dt_sh(RM_INNER, e->dir, e->sock);
	if (e->container && e->cli)
		dt_sh(RM_OUTER, e->cli, e->container);
	if (e->dir) {
		dt_sh(RM_CGROUPS, strrchr(e->dir, '/') + 1);
		dt_rmrf(e->dir);
	}
	dt_watchdog_disarm(e->watchdog);
	free(e->dir), free(e->sock), free(e->container), free(e->cli);
	free(e);
}
