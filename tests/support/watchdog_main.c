/*
 * devsys_test_watchdog: the program behind tests/support/watchdog.h.
 *
 * stdin is the read end of a pipe whose write end only the test process
 * holds. Each line is one instruction from a fixture:
 *
 *   run <shell command>  run through /bin/sh when acting, first, in order (30 s each at most)
 *   pid <pid> [<start>]  freeze and SIGKILL this process and every descendant of it
 *                        (<start>: its start time in /proc/<pid>/stat, so a recycled pid is left alone)
 *   forget <pid>         the fixture stopped it itself
 *   naming <path>        the same for every process whose command line names path
 *   dir <path>           unmount what is mounted below it, then remove it (last)
 *   disarm               the fixture stopped everything: exit without acting
 *
 * End of file (the test process died, or closed the socket without
 * disarming), the test process's exit seen on a pidfd (fd 3, with the
 * argument "pidfd": a process it forked without exec may hold the socket
 * still), or SIGTERM: act, then exit. The instructions go into fixed tables; one
 * that does not fit is dropped with a message on stderr (the test's).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS 256
#define MAX_PATHS 16
#define MAX_RUNS 16
#define MAX_LINE 4096
#define MAX_TREE 4096
#define RUN_DEADLINE_MS 30000
#define GONE_DEADLINE_MS 10000

struct proc_id {
	pid_t pid;
	unsigned long long start; /* start time in clock ticks: tells a recycled pid apart */
};

static struct proc_id pids[MAX_PIDS];
static size_t npids;
static char namings[MAX_PATHS][MAX_LINE];
static size_t nnamings;
static char dirs[MAX_PATHS][MAX_LINE];
static size_t ndirs;
static char runs[MAX_RUNS][MAX_LINE];
static size_t nruns;
static volatile sig_atomic_t terminated;

static void on_term(int sig)
{
	(void)sig;
	terminated = 1;
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A whole small /proc file into @p buf (NUL-terminated); its length or -1. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	ssize_t n, len = 0;
	int fd;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while ((size_t)len + 1 < cap && (n = read(fd, buf + len, cap - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	return len;
}

/* State, parent and start time from /proc/<pid>/stat; false when the process is gone. */
static bool stat_of(pid_t pid, char *state, pid_t *ppid, unsigned long long *start)
{
	char buf[1024];
	/* "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 *  cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime" */
	char *rp;
	int pp;
	if (read_proc(pid, "stat", buf, sizeof(buf)) <= 0 || !(rp = strrchr(buf, ')')))
		return false;
	if (sscanf(rp + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", state, &pp,
	           start) != 3)
		return false;
	*ppid = (pid_t)pp;
	return true;
}

/* Is the process gone (or a zombie nobody reaped yet)? */
static bool gone(pid_t pid)
{
	char state;
	pid_t pp;
	unsigned long long start;
	return !stat_of(pid, &state, &pp, &start) || state == 'Z' || state == 'X';
}

/* Does a command line name @p path as a whole path (or a path below it)? */
static bool names_path(const char *cmdline, size_t len, const char *path)
{
	size_t plen = strlen(path);
	for (size_t i = 0; plen && i + plen <= len; i++) {
		char after = i + plen < len ? cmdline[i + plen] : '\0';
		if (memcmp(cmdline + i, path, plen) == 0 &&
		    (after == '\0' || after == '/' || after == ' ' || after == '\'' || after == '"' || after == ','))
			return true;
	}
	return false;
}

static bool names_any(pid_t pid)
{
	char buf[8192];
	ssize_t n = read_proc(pid, "cmdline", buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	for (size_t i = 0; n > 0 && i < nnamings; i++)
		if (names_path(buf, (size_t)n, namings[i]))
			return true;
	return false;
}

static bool in_set(const pid_t *set, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == pid)
			return true;
	return false;
}

/* Add @p pid to the set, stopped so it can fork no child the walk would miss. */
static void take(pid_t *set, size_t *n, pid_t pid)
{
	if (*n >= MAX_TREE || pid <= 1 || pid == getpid() || in_set(set, *n, pid))
		return;
	kill(pid, SIGSTOP);
	set[(*n)++] = pid;
}

/* The registered processes still the ones registered, and those naming a path. */
static void seeds(pid_t *set, size_t *n)
{
	DIR *proc;
	struct dirent *e;
	for (size_t i = 0; i < npids; i++) {
		char state;
		pid_t pp;
		unsigned long long start;
		if (stat_of(pids[i].pid, &state, &pp, &start) && start == pids[i].start)
			take(set, n, pids[i].pid);
	}
	if (!nnamings || !(proc = opendir("/proc")))
		return;
	while ((e = readdir(proc)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && names_any((pid_t)atoi(e->d_name)))
			take(set, n, (pid_t)atoi(e->d_name));
	closedir(proc);
}

/* Grow the set by every process whose parent is in it, until nothing is added. */
static void descendants(pid_t *set, size_t *n)
{
	bool grew = true;
	while (grew && *n < MAX_TREE) {
		DIR *proc = opendir("/proc");
		struct dirent *e;
		grew = false;
		while (proc && (e = readdir(proc))) {
			pid_t pid = (pid_t)atoi(e->d_name), pp;
			char state;
			unsigned long long start;
			if (pid > 1 && !in_set(set, *n, pid) && stat_of(pid, &state, &pp, &start) && in_set(set, *n, pp)) {
				take(set, n, pid);
				grew = true;
			}
		}
		if (proc)
			closedir(proc);
	}
}

static void kill_all(void)
{
	static pid_t set[MAX_TREE];
	size_t n = 0;
	long deadline;
	seeds(set, &n);
	descendants(set, &n);
	for (size_t i = n; i-- > 0;)
		kill(set[i], SIGKILL);
	deadline = mono_ms() + GONE_DEADLINE_MS;
	for (size_t i = 0; i < n; i++)
		while (!gone(set[i]) && mono_ms() < deadline)
			sleep_ms(10);
	if (n)
		fprintf(stderr, "devsys_test_watchdog: killed %zu process(es)\n", n);
}

/* Run a shell line, killing its process group after the deadline. */
static void run_line(const char *line)
{
	long deadline = mono_ms() + RUN_DEADLINE_MS;
	int st = 0;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			fprintf(stderr, "devsys_test_watchdog: '%s' ran over %d ms: killed\n", line, RUN_DEADLINE_MS);
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			return;
		}
		sleep_ms(10);
	}
}

/*
 * Only a directory a fixture makes: below /tmp, /dev/shm or the tests' temp
 * root, never a root itself, never through "..".
 */
static bool removable(const char *dir)
{
	const char *roots[] = { "/tmp", "/dev/shm", getenv("DEVSYS_TEST_TMP") };
	if (dir[0] != '/' || strstr(dir, "/..") || strstr(dir, "../"))
		return false;
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		size_t n = roots[i] ? strlen(roots[i]) : 0;
		while (n > 1 && roots[i][n - 1] == '/')
			n--;
		if (n > 1 && strncmp(dir, roots[i], n) == 0 && dir[n] == '/' && dir[n + 1] != '\0')
			return true;
	}
	return false;
}

/* Unmount (lazily, deepest first) whatever is mounted below @p dir. */
static void unmount_below(const char *dir)
{
	static char points[256][MAX_LINE];
	char line[MAX_LINE];
	size_t count = 0, dlen = strlen(dir);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && count < 256 && fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mount-point ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", points[count]) == 1 && strncmp(points[count], dir, dlen) == 0 &&
		    points[count][dlen] == '/')
			count++;
	}
	if (f)
		fclose(f);
	while (count > 0)
		umount2(points[--count], MNT_DETACH);
}

static void remove_dir(const char *dir)
{
	pid_t pid;
	if (!removable(dir)) {
		fprintf(stderr, "devsys_test_watchdog: not removing %s (outside the test temp roots)\n", dir);
		return;
	}
	unmount_below(dir);
	if ((pid = fork()) == 0) {
		execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void act(void)
{
	for (size_t i = 0; i < nruns; i++)
		run_line(runs[i]);
	kill_all();
	for (size_t i = 0; i < ndirs; i++)
		remove_dir(dirs[i]);
}

/* "<pid> [<start time>]": without the start time (a parent's registration), read it now. */
static void add_pid(const char *arg)
{
	char state;
	pid_t pid, pp;
	int p = 0;
	unsigned long long start = 0, now;
	if (sscanf(arg, "%d %llu", &p, &start) < 1 || (pid = (pid_t)p) <= 1 || npids >= MAX_PIDS)
		return;
	/* a process already gone is not recorded: its pid may come back as another's */
	if (!stat_of(pid, &state, &pp, &now) || (start && start != now))
		return;
	pids[npids].pid = pid;
	pids[npids++].start = now;
}

static void forget_pid(pid_t pid)
{
	for (size_t i = 0; i < npids;)
		if (pids[i].pid == pid)
			pids[i] = pids[--npids];
		else
			i++;
}

static bool add_text(char table[][MAX_LINE], size_t *n, size_t cap, const char *text)
{
	if (*n >= cap || !*text)
		return false;
	snprintf(table[(*n)++], MAX_LINE, "%s", text);
	return true;
}

/* One instruction; false for "disarm". */
static bool instruction(char *line)
{
	char *arg = strchr(line, ' ');
	bool ok = true;
	if (arg)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	if (strcmp(line, "disarm") == 0)
		return false;
	if (strcmp(line, "pid") == 0)
		add_pid(arg);
	else if (strcmp(line, "forget") == 0)
		forget_pid((pid_t)atoi(arg));
	else if (strcmp(line, "naming") == 0)
		ok = add_text(namings, &nnamings, MAX_PATHS, arg);
	else if (strcmp(line, "dir") == 0)
		ok = add_text(dirs, &ndirs, MAX_PATHS, arg);
	else if (strcmp(line, "run") == 0)
		ok = add_text(runs, &nruns, MAX_RUNS, arg);
	else
		ok = false;
	if (!ok)
		fprintf(stderr, "devsys_test_watchdog: instruction '%s' dropped (unknown, empty or table full)\n", line);
	return true;
}

/* Input from the socket: 1 read and handled, 0 end of file (or error), -1 disarmed. */
static int take_input(void)
{
	static char buf[MAX_LINE * 2];
	static size_t len;
	ssize_t n = read(0, buf + len, sizeof(buf) - 1 - len);
	char *nl;
	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0)
		return 0;
	len += (size_t)n;
	buf[len] = '\0';
	while ((nl = memchr(buf, '\n', len))) {
		*nl = '\0';
		if (!instruction(buf))
			return -1;
		len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len);
	}
	if (len >= sizeof(buf) - 1) { /* a line longer than any instruction: drop it */
		fprintf(stderr, "devsys_test_watchdog: an instruction over %zu bytes dropped\n", sizeof(buf));
		len = 0;
	}
	return 1;
}

/*
 * The owner died while a process it forked without exec still holds the
 * socket: take what is still queued (or comes from a child between fork and
 * exec) until the socket is quiet for 200 ms or closes.
 */
static int drain(void)
{
	struct pollfd in = { 0, POLLIN, 0 };
	int r = 1;
	while (r == 1 && poll(&in, 1, 200) > 0)
		r = take_input();
	return r;
}

int main(int argc, char **argv)
{
	struct pollfd fds[2] = { { 0, POLLIN, 0 }, { 3, POLLIN, 0 } };
	/* "pidfd": fd 3 is a pidfd of the test process, readable once it has exited */
	nfds_t nfds = argc > 1 && strcmp(argv[1], "pidfd") == 0 ? 2 : 1;
	int r = 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: poll and read return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	while (r == 1 && !terminated) {
		if (poll(fds, nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents)
			r = take_input();
		if (r == 1 && nfds == 2 && fds[1].revents) {
			r = drain();
			break;
		}
	}
	if (r == -1)
		return 0;
	act();
	return 0;
}
