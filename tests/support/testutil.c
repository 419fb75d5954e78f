/*
 * Test support implementation. Processes are started with fork/exec and
 * stopped with a bounded wait; readiness is polled against a deadline, never
 * assumed after a fixed sleep.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool dt_ci(void)
{
	const char *ci = getenv("CI");
	return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

static const char *tmp_root(void)
{
	const char *t = getenv("DEVSYS_TEST_TMP");
	return t && *t ? t : "/tmp";
}

/* mkdir -p of the temp root: scripts/dev test sets a deep one whose parents may not exist. */
static void make_root(const char *root)
{
	char *p = strdup(root);
	for (char *s = p ? strchr(p + 1, '/') : NULL; s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	if (p)
		mkdir(p, 0755);
	free(p);
}

char *dt_tmpdir(const char *tag)
{
	char *path = NULL;
	make_root(tmp_root());
	if (asprintf(&path, "%s/%s-XXXXXX", tmp_root(), tag ? tag : "t") < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

char *dt_sockdir(const char *tag)
{
	char *path = NULL;
	if (asprintf(&path, "/tmp/dt-%s-XXXXXX", tag ? tag : "s") < 0)
		return NULL;
	if (!mkdtemp(path)) { /* mkdtemp makes it 0700 */
		free(path);
		return NULL;
	}
	return path;
}

/* Is path strictly below root (a '/' right after the prefix, something after it)? */
static bool below(const char *path, const char *root)
{
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	return strncmp(path, root, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

void dt_rmrf(const char *path)
{
	/* Only below the temp root or in a dt_sockdir() directory (/tmp/dt-*),
	 * never the root itself, never through "..", and never a path that
	 * would break out of the single quotes. Not all of /tmp: a checkout (and
	 * so the temp root) may itself live under /tmp, and a sibling of the
	 * root must stay out of reach. */
	if (!path || (!below(path, tmp_root()) && strncmp(path, "/tmp/dt-", 8) != 0) || strstr(path, "..") ||
	    strchr(path, '\''))
		return;
	dt_sh("rm -rf -- '%s'", path);
}

char *dt_which(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL, *result = NULL;
	if (asprintf(&copy, "%s:/usr/sbin:/sbin:/usr/local/sbin", path ? path : "/usr/bin:/bin") < 0)
		return NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !result; dir = strtok_r(NULL, ":", &save)) {
		char *cand;
		if (asprintf(&cand, "%s/%s", dir, prog) < 0)
			break;
		if (access(cand, X_OK) == 0)
			result = cand;
		else
			free(cand);
	}
	free(copy);
	return result;
}

int dt_sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int st;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0) {
		va_end(ap);
		return -1;
	}
	va_end(ap);
	st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

char *dt_sh_output(int *status, const char *fmt, ...)
{
	char *cmd, *out;
	size_t len = 0, cap = 1 << 20;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0) {
		va_end(ap);
		return NULL;
	}
	va_end(ap);
	p = popen(cmd, "r");
	free(cmd);
	if (!p)
		return NULL;
	out = malloc(cap + 1);
	while (out && len < cap) {
		size_t n = fread(out + len, 1, cap - len, p);
		if (n == 0)
			break;
		len += n;
	}
	st = pclose(p);
	if (status)
		*status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
	if (out)
		out[len] = '\0';
	return out;
}

void dt_set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

void dt_child_stdio(const char *log_path)
{
	int fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
	int in = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (in >= 0)
		dup2(in, 0);
	setpgid(0, 0);
}

pid_t dt_spawn(char *const argv[], const char *log_path)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	dt_child_stdio(log_path);
	execv(argv[0], argv);
	_exit(127);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int dt_stop(pid_t pid, int sig, int timeout_ms)
{
	int st = 0;
	long deadline = now_ms() + timeout_ms;
	if (pid <= 0)
		return -1;
	kill(pid, sig);
	while (now_ms() < deadline) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return st;
}

int dt_free_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	int port = -1, fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

bool dt_wait_port(int port, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	do {
		struct sockaddr_in a = { 0 };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(fd);
			return true;
		}
		if (fd >= 0)
			close(fd);
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	} while (now_ms() < deadline);
	return false;
}

char *dt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)size + 1))) {
		size_t n = fread(buf, 1, (size_t)size, f);
		buf[n] = '\0';
		if (len)
			*len = n;
	}
	fclose(f);
	return buf;
}

bool dt_write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "wb");
	bool ok;
	if (!f)
		return false;
	ok = fputs(data, f) >= 0;
	return fclose(f) == 0 && ok;
}

bool dt_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}
