/*
 * dockerd test fixture: see dockerd_fixture.h. Everything lives in one short
 * private directory; readiness is polled against a deadline, a daemon that
 * exits during start-up is noticed at once and its log quoted in the reason.
 */
#include "dockerd_fixture.h"
#include "testutil.h"
#include "watchdog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Debian's docker.io, by full path: another docker client may come first on PATH. */
#define DOCKERD_BIN "/usr/sbin/dockerd"
#define DOCKER_CLI "/usr/bin/docker"
#define BUSYBOX_BIN "/bin/busybox"
#define START_DEADLINE_MS 60000
#define STOP_GRACE_MS 20000
#define STATE_ENV "DT_DOCKERD_DIR"
#define SKIP_ENV "DT_DOCKERD_SKIP"

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* GET /_ping over the unix socket with a raw HTTP/1.0 request: 200 and "OK". */
static bool ping_unix(const char *sock)
{
	struct sockaddr_un a;
	char resp[1024];
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

/* The last @p max bytes of the log, on one line, for a skip reason. */
static void log_tail(const char *log, char *out, size_t out_len)
{
	size_t len = 0;
	char *text = dt_read_file(log, &len);
	const char *start;
	size_t i, o = 0;
	if (!out_len)
		return;
	out[0] = '\0';
	if (!text)
		return;
	start = text + (len > 600 ? len - 600 : 0);
	for (i = 0; start[i] && o + 1 < out_len; i++)
		out[o++] = (start[i] == '\n' || start[i] == '\r') ? ' ' : start[i];
	out[o] = '\0';
	free(text);
}

static bool make_certs(dt_dockerd *d)
{
	/* ECDSA P-256 everywhere; the server certificate names 127.0.0.1 and localhost. */
	return dt_sh("(cd '%s/tls' && "
	             "EC='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
	             "openssl req -x509 -new $EC -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=devsys-test-ca && "
	             "openssl req -x509 -new $EC -keyout other-ca-key.pem -out other-ca.pem -days 2 -subj /CN=other-ca && "
	             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext && "
	             "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
	             "openssl req -new $EC -keyout server-key.pem -out server.csr -subj /CN=localhost && "
	             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
	             "  -out server-cert.pem -days 2 -extfile server.ext && "
	             "openssl req -new $EC -keyout client-key.pem -out client.csr -subj /CN=devsys-test-client && "
	             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
	             "  -out client-cert.pem -days 2 -extfile client.ext && "
	             "openssl req -new $EC -keyout other-key.pem -out other.csr -subj /CN=other-client && "
	             "openssl x509 -req -in other.csr -CA other-ca.pem -CAkey other-ca-key.pem -CAcreateserial "
	             "  -out other-cert.pem -days 2 -extfile client.ext && "
	             "chmod 600 *-key.pem) >/dev/null 2>&1",
	             d->dir) == 0;
}

static pid_t spawn_dockerd(dt_dockerd *d, const char *driver)
{
	char *host_tcp = xasprintf("--host=%s", d->tls_host), *host_unix = xasprintf("--host=%s", d->host);
	char *data = xasprintf("--data-root=%s", d->data_root), *exec = xasprintf("--exec-root=%s", d->exec_root);
	char *pid = xasprintf("--pidfile=%s", d->pidfile), *drv = xasprintf("--storage-driver=%s", driver);
	char *ca = xasprintf("--tlscacert=%s", d->ca), *cert = xasprintf("--tlscert=%s/tls/server-cert.pem", d->dir);
	char *key = xasprintf("--tlskey=%s/tls/server-key.pem", d->dir);
	char *argv[] = { DOCKERD_BIN, host_unix, host_tcp, data, exec, pid, drv, "--bridge=none", "--iptables=false",
		         "--ip6tables=false", "--ip-masq=false", "--userland-proxy=false", "--tlsverify", ca, cert, key,
		         "--log-level=warn", NULL, NULL };
	/* One extra flag for the fixture's own failure test (e.g. a flag dockerd refuses). */
	const char *extra = getenv("DT_DOCKERD_EXTRA_ARG");
	pid_t child;
	if (extra && *extra)
		argv[sizeof(argv) / sizeof(argv[0]) - 2] = (char *)extra;
	child = fork();
	if (child == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600), in = open("/dev/null", O_RDONLY);
		/* If the test dies without its teardown, the watchdog kills the engine with
		 * containerd, the shims and the containers under them (PR_SET_PDEATHSIG
		 * would reach dockerd alone, whose shims are no children of it). */
		dt_watchdog_child(d->watchdog);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (in >= 0)
			dup2(in, 0);
		setpgid(0, 0);
		/* Nothing from the caller's environment points the engine elsewhere. */
		unsetenv("DOCKER_HOST");
		unsetenv("DOCKER_CONFIG");
		execv(argv[0], argv);
		_exit(127);
	}
	free(host_tcp), free(host_unix), free(data), free(exec), free(pid), free(drv), free(ca), free(cert), free(key);
	return child;
}

/* Poll /_ping and the TLS port until both answer, the daemon exits, or the deadline. */
static bool wait_ready(dt_dockerd *d, int *exit_status)
{
	double deadline = mono_ms() + START_DEADLINE_MS;
	*exit_status = -1;
	while (mono_ms() < deadline) {
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			*exit_status = st;
			d->pid = 0;
			return false;
		}
		if (ping_unix(d->sock) && dt_wait_port(d->tls_port, 0))
			return true;
		sleep_ms(10);
	}
	return false;
}

/* Signal every process whose command line names @p dir (sig 0: just count them). */
static int signal_mentioning(const char *dir, int sig)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int found = 0;
	while (proc && (e = readdir(proc))) {
		char path[64], buf[4096];
		ssize_t n;
		int fd;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, dir)) {
			found++;
			if (sig)
				kill(pid, sig);
		}
	}
	if (proc)
		closedir(proc);
	return found;
}

static void kill_leftovers(const char *dir)
{
	signal_mentioning(dir, SIGKILL);
}

/* Unmount (lazily, deepest first) everything still mounted below @p dir. */
static void unmount_below(const char *dir)
{
	char *points[256];
	int count = 0;
	char line[4096];
	size_t dlen = strlen(dir);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && count < 256 && fgets(line, sizeof(line), f)) {
		char mnt[4096];
		/* id parent major:minor root mount-point ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && strncmp(mnt, dir, dlen) == 0 && mnt[dlen] == '/')
			points[count++] = strdup(mnt);
	}
	if (f)
		fclose(f);
	while (count > 0) {
		char *p = points[--count];
		if (p && umount2(p, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
			fprintf(stderr, "dockerd fixture: cannot unmount %s: %s\n", p, strerror(errno));
		free(p);
	}
}

static void stop_engine(dt_dockerd *d)
{
	/* dockerd gives each running container its 10 s stop timeout on SIGTERM
	   (a shell or sleep as PID 1 ignores TERM): kill them first. */
	if (d->pid > 0 && ping_unix(d->sock)) {
		char *cli = dt_dockerd_cli(d);
		if (cli)
			dt_sh("%s ps -q | xargs -r %s kill >/dev/null 2>&1", cli, cli);
		free(cli);
	}
	if (d->pid > 0) {
		int st = dt_stop(d->pid, SIGTERM, STOP_GRACE_MS);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			fprintf(stderr, "dockerd fixture: dockerd ignored SIGTERM for %d ms and was killed\n", STOP_GRACE_MS);
		dt_watchdog_forget(d->watchdog, d->pid);
		d->pid = 0;
	}
	kill_leftovers(d->dir);
	unmount_below(d->dir);
}

/* Every busybox applet as an absolute symlink to /bin/busybox, at the path busybox lists for it. */
static bool make_rootfs(const dt_dockerd *d)
{
	char *list = dt_sh_output(NULL, "%s --list-full", BUSYBOX_BIN), *save = NULL;
	int made = 0;
	if (!list || dt_sh("set -e; r='%s/rootfs'; mkdir -p \"$r/bin\" \"$r/sbin\" \"$r/usr/bin\" \"$r/usr/sbin\" "
	                   "\"$r/etc\" \"$r/tmp\" \"$r/root\"; chmod 1777 \"$r/tmp\"; cp %s \"$r/bin/busybox\"; "
	                   "printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\\n' "
	                   "> \"$r/etc/passwd\"; printf 'root:x:0:\\nnogroup:x:65534:\\n' > \"$r/etc/group\"",
	                   d->dir, BUSYBOX_BIN) != 0) {
		free(list);
		return false;
	}
	for (char *a = strtok_r(list, "\n", &save); a; a = strtok_r(NULL, "\n", &save)) {
		char *link = xasprintf("%s/rootfs/%s", d->dir, a);
		if (link && strcmp(a, "bin/busybox") != 0 && symlink("/bin/busybox", link) == 0)
			made++;
		free(link);
	}
	free(list);
	return made > 0;
}

static bool import_image(dt_dockerd *d)
{
	char *cli, *out;
	int st = -1;
	double t0 = mono_ms();
	if (!make_rootfs(d) || dt_sh("tar -C '%s/rootfs' -cf '%s/rootfs.tar' .", d->dir, d->dir) != 0)
		return false;
	cli = dt_dockerd_cli(d);
	out = dt_sh_output(&st, "%s import --change 'CMD [\"/bin/sh\"]' '%s/rootfs.tar' %s 2>>'%s'", cli, d->dir,
	                   DT_DOCKERD_IMAGE, d->log);
	free(cli);
	if (st != 0 || !out || strncmp(out, "sha256:", 7) != 0) {
		free(out);
		return false;
	}
	out[strcspn(out, "\r\n")] = '\0';
	d->image_id = out;
	d->image = strdup(DT_DOCKERD_IMAGE);
	d->import_ms = mono_ms() - t0;
	return true;
}

static dt_dockerd *alloc_paths(char *dir)
{
	dt_dockerd *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->dir = dir;
	d->sock = xasprintf("%s/docker.sock", dir);
	d->host = xasprintf("unix://%s", d->sock);
	d->ca = xasprintf("%s/tls/ca.pem", dir);
	d->client_cert = xasprintf("%s/tls/client-cert.pem", dir);
	d->client_key = xasprintf("%s/tls/client-key.pem", dir);
	d->other_cert = xasprintf("%s/tls/other-cert.pem", dir);
	d->other_key = xasprintf("%s/tls/other-key.pem", dir);
	d->data_root = xasprintf("%s/data", dir);
	d->exec_root = xasprintf("%s/exec", dir);
	d->pidfile = xasprintf("%s/docker.pid", dir);
	d->log = xasprintf("%s/dockerd.log", dir);
	return d;
}

/* Start with one storage driver; false (and the reason) when it did not come up. */
static bool try_driver(dt_dockerd *d, const char *driver, char *why, size_t why_len)
{
	int st;
	double t0 = mono_ms();
	dt_sh("rm -rf '%s' '%s' && mkdir -p '%s' '%s'", d->data_root, d->exec_root, d->data_root, d->exec_root);
	d->pid = spawn_dockerd(d, driver);
	if (d->pid < 0) {
		d->pid = 0;
		dt_set_why(why, why_len, "cannot fork for dockerd: %s", strerror(errno));
		return false;
	}
	if (wait_ready(d, &st)) {
		d->start_ms = mono_ms() - t0;
		d->storage_driver = strdup(driver);
		return true;
	}
	{
		char tail[640];
		log_tail(d->log, tail, sizeof(tail));
		if (d->pid == 0)
			dt_set_why(why, why_len, "dockerd (storage driver %s) exited with status %d: %s", driver,
			        WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), tail);
		else
			dt_set_why(why, why_len, "dockerd (storage driver %s) did not answer /_ping within %d ms: %s", driver,
			        START_DEADLINE_MS, tail);
	}
	stop_engine(d);
	return false;
}

/*
 * The watchdog removes a killed run's directory; one it could not (it was
 * killed too, or the machine went down) is swept here: a fixture directory
 * that no process names and that is older than a few minutes is garbage.
 */
static void sweep_stale(void)
{
	DIR *tmp = opendir("/tmp");
	struct dirent *e;
	while (tmp && (e = readdir(tmp))) {
		char *dir;
		struct stat st;
		if (strncmp(e->d_name, "dt-dkr-", 7) != 0 || !(dir = xasprintf("/tmp/%s", e->d_name)))
			continue;
		if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_mtime < time(NULL) - 300 &&
		    signal_mentioning(dir, 0) == 0) {
			unmount_below(dir);
			dt_rmrf(dir);
		}
		free(dir);
	}
	if (tmp)
		closedir(tmp);
}

/* The directory of the last start attempt, for a test of failed starts. */
static char last_dir[256];

const char *dt_dockerd_last_dir(void)
{
	return last_dir;
}

dt_dockerd *dt_dockerd_start(char *why, size_t why_len)
{
	char *dir;
	dt_dockerd *d;
	if (access(DOCKERD_BIN, X_OK) != 0 || access(DOCKER_CLI, X_OK) != 0 || access(BUSYBOX_BIN, X_OK) != 0) {
		dt_set_why(why, why_len, "%s, %s or %s missing (run scripts/bootstrap: docker.io, busybox-static)",
		        DOCKERD_BIN, DOCKER_CLI, BUSYBOX_BIN);
		return NULL;
	}
	sweep_stale();
	if ((dir = dt_sockdir("dkr")) != NULL)
		snprintf(last_dir, sizeof(last_dir), "%s", dir);
	if (!dir || !(d = alloc_paths(dir))) {
		free(dir);
		dt_set_why(why, why_len, "cannot make a private directory under /tmp");
		return NULL;
	}
	d->owner = true;
	/* shims and containerd name the dir (their sockets live below it), the dir goes last */
	if (!(d->watchdog = dt_watchdog_start(why, why_len))) {
		dt_dockerd_free(d);
		return NULL;
	}
	dt_watchdog_naming(d->watchdog, dir);
	dt_watchdog_dir(d->watchdog, dir);
	d->tls_port = dt_free_port();
	d->tls_host = xasprintf("tcp://127.0.0.1:%d", d->tls_port);
	if (dt_sh("mkdir -p '%s/tls' '%s/cli'", dir, dir) != 0 || !make_certs(d)) {
		dt_set_why(why, why_len, "openssl could not make the test CA and certificates in %s/tls", dir);
		dt_dockerd_free(d);
		return NULL;
	}
	if (!try_driver(d, "overlay2", why, why_len)) {
		char first[512];
		snprintf(first, sizeof(first), "%s", why ? why : "");
		fprintf(stderr, "dockerd fixture: overlay2 failed (%s); trying vfs\n", first);
		if (!try_driver(d, "vfs", why, why_len)) {
			dt_dockerd_free(d);
			return NULL;
		}
	}
	if (!import_image(d)) {
		char tail[640];
		log_tail(d->log, tail, sizeof(tail));
		dt_set_why(why, why_len, "docker import of the busybox rootfs failed: %s", tail);
		dt_dockerd_free(d);
		return NULL;
	}
	fprintf(stderr, "dockerd fixture: storage driver %s, ready in %.0f ms, image imported in %.0f ms\n",
	        d->storage_driver, d->start_ms, d->import_ms);
	return d;
}

bool dt_dockerd_running(const dt_dockerd *d)
{
	if (!d)
		return false;
	if (d->owner)
		return d->pid > 0 && kill(d->pid, 0) == 0;
	return ping_unix(d->sock);
}

char *dt_dockerd_cli(const dt_dockerd *d)
{
	return xasprintf("env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH "
	                 "DOCKER_CONFIG='%s/cli' %s -H '%s'",
	                 d->dir, DOCKER_CLI, d->host);
}

char *dt_dockerd_curl(const dt_dockerd *d)
{
	return xasprintf("curl -sS --unix-socket '%s'", d->sock);
}

char *dt_dockerd_curl_tls(const dt_dockerd *d)
{
	return xasprintf("curl -sS --cacert '%s' --cert '%s' --key '%s'", d->ca, d->client_cert, d->client_key);
}

void dt_dockerd_free(dt_dockerd *d)
{
	if (!d)
		return;
	if (d->owner) {
		stop_engine(d);
		dt_rmrf(d->dir);
		dt_watchdog_disarm(d->watchdog);
	}
	free(d->dir), free(d->sock), free(d->host), free(d->tls_host), free(d->ca), free(d->client_cert);
	free(d->client_key), free(d->other_cert), free(d->other_key), free(d->data_root), free(d->exec_root);
	free(d->pidfile), free(d->log), free(d->storage_driver), free(d->image), free(d->image_id);
	free(d);
}

/* ---- one engine per suite ---- */

static dt_dockerd *suite_engine; /* in the runner process only */

void dt_dockerd_suite_start(void)
{
	char why[1024];
	char *state;
	if (suite_engine)
		return;
	if (!(suite_engine = dt_dockerd_start(why, sizeof(why)))) {
		setenv(SKIP_ENV, why, 1);
		return;
	}
	state = xasprintf("tls_port=%d\nstorage_driver=%s\nimage_id=%s\nstart_ms=%.1f\nimport_ms=%.1f\n",
	                  suite_engine->tls_port, suite_engine->storage_driver, suite_engine->image_id,
	                  suite_engine->start_ms, suite_engine->import_ms);
	char *path = xasprintf("%s/fixture.state", suite_engine->dir);
	if (!state || !path || !dt_write_file(path, state))
		setenv(SKIP_ENV, "cannot write the dockerd fixture's state file", 1);
	else
		setenv(STATE_ENV, suite_engine->dir, 1);
	free(state);
	free(path);
}

static char *state_value(const char *state, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = state; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			return strndup(p + klen + 1, strcspn(p + klen + 1, "\n"));
	}
	return NULL;
}

dt_dockerd *dt_dockerd_suite(char *why, size_t why_len)
{
	const char *skip = getenv(SKIP_ENV), *dir = getenv(STATE_ENV);
	char *path, *state, *v;
	dt_dockerd *d;
	if (skip || !dir) {
		dt_set_why(why, why_len, "%s", skip ? skip : "dt_dockerd_suite_start() was not called in a PRE_ALL hook");
		return NULL;
	}
	path = xasprintf("%s/fixture.state", dir);
	state = path ? dt_read_file(path, NULL) : NULL;
	free(path);
	if (!state || !(d = alloc_paths(strdup(dir)))) {
		free(state);
		dt_set_why(why, why_len, "the dockerd fixture's state in %s is gone", dir);
		return NULL;
	}
	v = state_value(state, "tls_port");
	d->tls_port = v ? atoi(v) : 0;
	free(v);
	d->tls_host = xasprintf("tcp://127.0.0.1:%d", d->tls_port);
	d->storage_driver = state_value(state, "storage_driver");
	d->image_id = state_value(state, "image_id");
	d->image = strdup(DT_DOCKERD_IMAGE);
	v = state_value(state, "start_ms");
	d->start_ms = v ? atof(v) : 0;
	free(v);
	v = state_value(state, "import_ms");
	d->import_ms = v ? atof(v) : 0;
	free(v);
	free(state);
	if (!ping_unix(d->sock)) {
		dt_set_why(why, why_len, "the suite's dockerd at %s no longer answers /_ping", d->sock);
		dt_dockerd_free(d);
		return NULL;
	}
	return d;
}

void dt_dockerd_suite_stop(void)
{
	dt_dockerd_free(suite_engine);
	suite_engine = NULL;
}
