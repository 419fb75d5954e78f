/*
 * The fixtures' watchdog, the test's side (see watchdog.h): start the
 * program by a double fork and send it instructions, one message each on a
 * SOCK_SEQPACKET pair (a message arrives whole, and send() with MSG_NOSIGNAL
 * cannot kill the test with SIGPIPE when the watchdog is gone).
 */
#include "watchdog.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DT_WATCHDOG_BIN
#error "DT_WATCHDOG_BIN (the path of devsys_test_watchdog) is set by tests/CMakeLists.txt"
#endif

/*
 * The grandchild: in a session of its own, the socket as stdin, the test's
 * pidfd (if any) as fd 3, stderr kept (the test's output shows what it did),
 * nothing else open but @p back (close-on-exec, so exec closes it, and a
 * failed exec reports its errno on it).
 */
static void exec_watchdog(int sock, int pidfd, int back)
{
	sigset_t none;
	int err, s = fcntl(sock, F_DUPFD_CLOEXEC, 10), p = pidfd >= 0 ? fcntl(pidfd, F_DUPFD_CLOEXEC, 10) : -1;
	int b = fcntl(back, F_DUPFD_CLOEXEC, 10), null = open("/dev/null", O_WRONLY);
	setsid();
	dup2(s, 0); /* dup2 clears close-on-exec on the copy */
	if (null >= 0)
		dup2(null, 1);
	if (p >= 0)
		dup2(p, 3);
	close_range(p >= 0 ? 4 : 3, (unsigned)b - 1, 0);
	close_range((unsigned)b + 1, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execl(DT_WATCHDOG_BIN, "devsys_test_watchdog", p >= 0 ? "pidfd" : (char *)NULL, (char *)NULL);
	err = errno;
	if (write(b, &err, sizeof(err)) < 0)
		_exit(127);
	_exit(127);
}

/* Read exactly @p len bytes, or fewer at end of file. */
static size_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

dt_watchdog *dt_watchdog_start(char *why, size_t why_len)
{
	int sv[2], back[2], st, err = 0, pidfd;
	dt_watchdog *w;
	pid_t mid, pid = -1;
	if (access(DT_WATCHDOG_BIN, X_OK) != 0) {
		dt_set_why(why, why_len, "the fixtures' watchdog %s is not built: %s", DT_WATCHDOG_BIN, strerror(errno));
		return NULL;
	}
	if (!(w = calloc(1, sizeof(*w))))
		return NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(back, O_CLOEXEC) != 0) {
		dt_set_why(why, why_len, "the fixtures' watchdog: socketpair or pipe failed: %s", strerror(errno));
		free(w);
		return NULL;
	}
	/* the watchdog also acts when this process exits while a child it forked
	 * without exec keeps the socket open (none on a kernel without pidfds) */
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	/* Double fork: the watchdog is no descendant of the test, so a kill of the test's tree spares it. */
	mid = fork();
	if (mid == 0) {
		pid_t gc = fork();
		if (gc == 0)
			exec_watchdog(sv[0], pidfd, back[1]);
		if (write(back[1], &gc, sizeof(gc)) < 0)
			_exit(1);
		_exit(gc > 0 ? 0 : 1);
	}
	close(sv[0]);
	close(back[1]);
	if (pidfd >= 0)
		close(pidfd);
	if (mid > 0) {
		while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
			;
		if (read_full(back[0], &pid, sizeof(pid)) != sizeof(pid))
			pid = -1;
		/* end of file once the watchdog has exec'd; an errno if it could not */
		if (pid > 0 && read_full(back[0], &err, sizeof(err)) == sizeof(err))
			pid = -1;
	}
	close(back[0]);
	if (pid <= 0) {
		dt_set_why(why, why_len, "the fixtures' watchdog %s did not start: %s", DT_WATCHDOG_BIN,
		        strerror(err ? err : mid < 0 ? errno : ECHILD));
		close(sv[1]);
		free(w);
		return NULL;
	}
	w->fd = sv[1];
	w->pid = pid;
	w->owner = getpid();
	return w;
}

/* One instruction to the watchdog, from its owner only. */
static void say(dt_watchdog *w, const char *kind, const char *arg)
{
	char msg[4096];
	int n;
	if (!w || w->owner != getpid())
		return;
	n = snprintf(msg, sizeof(msg), "%s%s%s\n", kind, arg ? " " : "", arg ? arg : "");
	if (n <= 0 || (size_t)n >= sizeof(msg) || (arg && strchr(arg, '\n'))) {
		fprintf(stderr, "watchdog: instruction '%s' too long or multi-line; not sent\n", kind);
		return;
	}
	while (send(w->fd, msg, (size_t)n, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Start time (clock ticks since boot) of @p pid from /proc, or 0. */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024], *rp;
	unsigned long long start = 0;
	FILE *f;
	size_t n;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((rp = strrchr(buf, ')')) &&
	    sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &start) != 1)
		start = 0;
	return start;
}

void dt_watchdog_pid(dt_watchdog *w, pid_t pid)
{
	char arg[64];
	unsigned long long start = pid > 0 ? start_time(pid) : 0;
	if (!start) /* gone already: its pid may be another's by the time the watchdog acts */
		return;
	snprintf(arg, sizeof(arg), "%d %llu", (int)pid, start);
	say(w, "pid", arg);
}

void dt_watchdog_forget(dt_watchdog *w, pid_t pid)
{
	char arg[32];
	if (pid <= 0)
		return;
	snprintf(arg, sizeof(arg), "%d", (int)pid);
	say(w, "forget", arg);
}

/* Decimal digits of @p v at @p p; the end. Async-signal-safe. */
static char *put_num(char *p, unsigned long long v)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(tmp));
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Our own start time from /proc/self/stat with raw reads only (we are between fork and exec). */
static unsigned long long own_start_time(void)
{
	char buf[1024];
	unsigned long long v = 0;
	ssize_t n, len = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field = 2; /* rp ends field 2, comm */
	const char *p, *rp = NULL;
	if (fd < 0)
		return 0;
	while (len < (ssize_t)sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	for (ssize_t i = 0; i < len; i++)
		if (buf[i] == ')')
			rp = buf + i;
	/* each space after "comm)" starts the next field: state is 3, starttime 22 */
	for (p = rp ? rp + 1 : buf + len; p < buf + len && field < 22; p++)
		if (*p == ' ')
			field++;
	for (; field == 22 && p < buf + len && *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (unsigned long long)(*p - '0');
	return v;
}

void dt_watchdog_child(const dt_watchdog *w)
{
	char msg[64], *p = msg;
	unsigned long long start = own_start_time();
	if (!w || !start)
		return;
	memcpy(p, "pid ", 4);
	p = put_num(p + 4, (unsigned long long)getpid());
	*p++ = ' ';
	p = put_num(p, start);
	*p++ = '\n';
	while (send(w->fd, msg, (size_t)(p - msg), MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

pid_t dt_watchdog_spawn(dt_watchdog *w, char *const argv[], const char *log_path)
{
	int sync[2];
	char c;
	pid_t pid;
	if (pipe2(sync, O_CLOEXEC) != 0)
		return -1;
	if ((pid = fork()) != 0) {
		/* end of file once the child has exec'd (or died): its registration is sent by then */
		close(sync[1]);
		while (pid > 0 && read(sync[0], &c, 1) < 0 && errno == EINTR)
			;
		close(sync[0]);
		return pid;
	}
	close(sync[0]);
	dt_child_stdio(log_path);
	dt_watchdog_child(w);
	execv(argv[0], argv);
	_exit(127);
}

void dt_watchdog_naming(dt_watchdog *w, const char *path)
{
	say(w, "naming", path);
}

void dt_watchdog_run(dt_watchdog *w, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	if (cmd)
		say(w, "run", cmd);
	free(cmd);
}

void dt_watchdog_dir(dt_watchdog *w, const char *dir)
{
	say(w, "dir", dir);
}

void dt_watchdog_disarm(dt_watchdog *w)
{
	if (!w)
		return;
	say(w, "disarm", NULL);
	close(w->fd);
	free(w);
}
