/*
 * The "inproc" runner: commands run on this machine with posix_spawn (or
 * fork+exec when resource limits are asked for, since posix_spawn cannot
 * set them), each in its own process group, with an explicitly built
 * environment. Timeout and cancel send SIGTERM to the group, wait the grace
 * period, then SIGKILL it; when the command ends, whatever is left of its
 * group is killed too, so no orphan survives.
 */
#include "../runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
/* After the command exits, pipes still held open by its leftovers are
 * drained this long before the group is killed. */
#define DRAIN_MS 2000

struct inproc {
	unsigned int flags;
	unsigned int grace_ms;
	uint64_t cpu, as, nofile;
	int cancel_pipe[2];
	int cancel_flag; /* atomic */
	char *workdir;
};

static int ip_open(void **self, const devsys_runner_options *opts, void *payload)
{
	struct inproc *ip;
	(void)payload;
	if (!(ip = devsys__calloc(1, sizeof(*ip))))
		return devsys__error_oom();
	ip->flags = opts->flags;
	ip->grace_ms = opts->grace_ms ? opts->grace_ms : 10000;
	ip->cpu = opts->rlimit_cpu_s;
	ip->as = opts->rlimit_as_bytes;
	ip->nofile = opts->rlimit_nofile;
	if (pipe2(ip->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		int err = errno;
		devsys__free(ip);
		return devsys__error_errno(DEVSYS_ESYSTEM, err, "inproc runner: pipe failed");
	}
	*self = ip;
	return 0;
}

static void ip_close(void *self)
{
	struct inproc *ip = self;
	close(ip->cancel_pipe[0]);
	close(ip->cancel_pipe[1]);
	devsys__free(ip->workdir);
	devsys__free(ip);
}

static int ip_cancel(void *self)
{
	struct inproc *ip = self;
	char b = 1;
	__atomic_store_n(&ip->cancel_flag, 1, __ATOMIC_RELEASE);
	if (write(ip->cancel_pipe[1], &b, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	return 0;
}

/* ---- environment ---- */

struct envlist {
	char **v;
	size_t n, cap;
};

static int env_set(struct envlist *e, const char *entry)
{
	size_t nl = (size_t)(strchr(entry, '=') - entry);
	for (size_t i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], entry, nl + 1) == 0) {
			e->v[i] = (char *)entry; /* later entries win */
			return 0;
		}
	}
	if (e->n + 1 >= e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 32;
		char **nv = devsys__realloc(e->v, nc * sizeof(*nv));
		if (!nv)
			return devsys__error_oom();
		e->v = nv;
		e->cap = nc;
	}
	e->v[e->n++] = (char *)entry;
	e->v[e->n] = NULL;
	return 0;
}

static const char *env_get(const struct envlist *e, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=')
			return e->v[i] + nl + 1;
	return NULL;
}

/* argv[0] looked up in the child's PATH (never the parent's). */
static char *find_program(const char *prog, const char *path)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? devsys__strdup(prog) : NULL;
	for (const char *p = path; p && *p;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		char *cand = devsys__asprintf("%.*s/%s", (int)len, len ? p : ".", prog);
		struct stat st;
		if (cand && access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode))
			return cand;
		devsys__free(cand);
		if (!colon)
			break;
		p = colon + 1;
	}
	return NULL;
}

/* ---- spawning ---- */

static int set_limit(int res, uint64_t v)
{
	struct rlimit rl;
	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	return setrlimit(res, &rl);
}

static pid_t spawn_fork(struct inproc *ip, const char *path, char *const argv[], char *const envp[], const char *cwd,
                        int in_fd, int out_fd, int err_fd, int *err_out)
{
	int ep[2];
	pid_t pid;
	if (pipe2(ep, O_CLOEXEC) != 0) {
		*err_out = errno;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		*err_out = errno;
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (pid == 0) {
		int e;
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			goto fail;
		if (cwd && chdir(cwd) != 0)
			goto fail;
		if ((ip->cpu && set_limit(RLIMIT_CPU, ip->cpu) != 0) || (ip->as && set_limit(RLIMIT_AS, ip->as) != 0) ||
		    (ip->nofile && set_limit(RLIMIT_NOFILE, ip->nofile) != 0))
			goto fail;
		execve(path, argv, envp);
	fail:
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(ep[1]);
	setpgid(pid, pid); /* also from the parent: no race with the first kill */
	{
		int e = 0;
		ssize_t n;
		while ((n = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
			;
		close(ep[0]);
		if (n == (ssize_t)sizeof(e)) {
			waitpid(pid, NULL, 0);
			*err_out = e;
			return -1;
		}
	}
	return pid;
}

static pid_t spawn_posix(const char *path, char *const argv[], char *const envp[], const char *cwd, int in_fd,
                         int out_fd, int err_fd, int *err_out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	pid_t pid = -1;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		*err_out = rc;
		return -1;
	}
	return pid;
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* write to a pipe without SIGPIPE killing us (the child may have closed stdin) */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, old, pending;
	ssize_t n;
	int err, was_pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	err = errno;
	if (n < 0 && err == EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return n;
}

static int ip_exec(void *self, const devsys_runner_cmd *c, devsys_runner_io *io, devsys_runner_status *st)
{
	struct inproc *ip = self;
	struct envlist env = { NULL, 0, 0 };
	char *path_entry = NULL, *home_entry = NULL, *prog = NULL;
	const char **argv = NULL;
	size_t argc = 0;
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	int in_child = -1, pidfd = -1, rc = 0, status = 0, spawn_err = 0;
	pid_t pid = -1;
	size_t in_off = 0;
	bool out_open, err_open, exited = false, killing = false, killed_hard = false;
	int why = DEVSYS_RUNNER_OK; /* TIMEOUT or CANCELED once we started killing */
	uint64_t deadline = c->timeout_ms ? devsys__now_ns() + (uint64_t)c->timeout_ms * 1000000u : UINT64_MAX;
	uint64_t kill_at = UINT64_MAX, drain_until = UINT64_MAX;
	char buf[1 << 16];

	st->failure = DEVSYS_RUNNER_NOT_RUN;
	/* environment: explicit, the parent's only when asked */
	if (c->flags & DEVSYS_RUNNER_CMD_INHERIT_ENV)
		for (char **e = environ; e && *e; e++)
			if (strchr(*e, '=') && (rc = env_set(&env, *e)) < 0)
				goto out;
	if (!env_get(&env, "PATH")) {
		path_entry = devsys__strdup("PATH=" DEFAULT_PATH);
		if (!path_entry || (rc = env_set(&env, path_entry)) < 0)
			goto oom;
	}
	if (!env_get(&env, "HOME")) {
		const char *home = getenv("HOME");
		struct passwd *pw = home ? NULL : getpwuid(getuid());
		home_entry = devsys__asprintf("HOME=%s", home ? home : (pw && pw->pw_dir ? pw->pw_dir : "/"));
		if (!home_entry || (rc = env_set(&env, home_entry)) < 0)
			goto oom;
	}
	for (size_t i = 0; c->env && c->env[i]; i++)
		if ((rc = env_set(&env, c->env[i])) < 0)
			goto out;
	if (!env.v && (rc = env_set(&env, "PATH=" DEFAULT_PATH)) < 0)
		goto out;

	/* argv */
	while (c->argv[argc])
		argc++;
	if (!(argv = devsys__calloc(argc + 5, sizeof(*argv))))
		goto oom;
	if (c->flags & DEVSYS_RUNNER_CMD_SHELL) {
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = c->argv[0];
		argv[3] = "sh";
		for (size_t i = 1; i < argc; i++)
			argv[3 + i] = c->argv[i];
		prog = devsys__strdup("/bin/sh");
	} else {
		for (size_t i = 0; i < argc; i++)
			argv[i] = c->argv[i];
		prog = find_program(c->argv[0], env_get(&env, "PATH"));
		if (!prog) {
			rc = devsys__error_set(DEVSYS_ENOTFOUND, "inproc runner: program '%.200s' not found or not "
			                                         "executable (searched the command's PATH '%.300s')",
			                       c->argv[0], strchr(c->argv[0], '/') ? "-" : env_get(&env, "PATH"));
			goto out;
		}
	}
	if (c->cwd) {
		struct stat sb;
		if (stat(c->cwd, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			rc = devsys__error_set(DEVSYS_ENOTFOUND, "inproc runner: working directory '%.300s' does not exist "
			                                         "or is not a directory",
			                       c->cwd);
			goto out;
		}
	}

	/* pipes */
	if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
		rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "inproc runner: pipe failed");
		st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
		goto out;
	}
	if (c->stdin_file) {
		in_child = open(c->stdin_file, O_RDONLY | O_CLOEXEC);
		if (in_child < 0) {
			rc = devsys__error_errno(DEVSYS_ENOTFOUND, errno, "inproc runner: cannot open stdin file '%s'",
			                         c->stdin_file);
			goto out;
		}
	} else if (c->stdin_data && c->stdin_len > 0) {
		if (pipe2(in_pipe, O_CLOEXEC) != 0) {
			rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "inproc runner: pipe failed");
			st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
			goto out;
		}
		in_child = in_pipe[0];
		fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
	} else {
		in_child = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}

	if (ip->cpu || ip->as || ip->nofile)
		pid = spawn_fork(ip, prog, (char *const *)argv, env.v, c->cwd, in_child, out_pipe[1], err_pipe[1],
		                 &spawn_err);
	else
		pid = spawn_posix(prog, (char *const *)argv, env.v, c->cwd, in_child, out_pipe[1], err_pipe[1], &spawn_err);
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	if (in_child >= 0)
		close(in_child);
	in_pipe[0] = in_child = -1;
	if (pid < 0) {
		rc = devsys__error_errno(spawn_err == ENOENT ? DEVSYS_ENOTFOUND : DEVSYS_ESYSTEM, spawn_err,
		                         "inproc runner: cannot start '%.200s'", c->argv[0]);
		st->failure = spawn_err == ENOENT || spawn_err == EACCES || spawn_err == E2BIG ? DEVSYS_RUNNER_NOT_RUN
		                                                                                : DEVSYS_RUNNER_SYSTEM_FAILURE;
		goto out;
	}
	fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
	fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
	pidfd = pidfd_open_(pid);
	out_open = err_open = true;

	while (!exited || out_open || err_open) {
		struct pollfd p[5];
		int np = 0, i_out = -1, i_err = -1, i_in = -1, i_cancel, i_pid = -1, wait_ms;
		uint64_t now = devsys__now_ns(), next = deadline;

		/* timeout, cancel, aborted callback: start killing the group */
		if (!killing) {
			int reason = 0;
			if (now >= deadline)
				reason = DEVSYS_RUNNER_TIMEOUT;
			else if (__atomic_load_n(&ip->cancel_flag, __ATOMIC_ACQUIRE) || devsys__runner_io_aborted(io))
				reason = DEVSYS_RUNNER_CANCELED;
			if (reason) {
				why = reason;
				killing = true;
				kill(-pid, SIGTERM);
				kill_at = now + (uint64_t)ip->grace_ms * 1000000u;
			}
		}
		if (killing && !killed_hard && now >= kill_at) {
			kill(-pid, SIGKILL);
			killed_hard = true;
		}
		if (exited && !killed_hard && now >= drain_until) {
			/* leftovers keep the pipes open: end them */
			kill(-pid, SIGKILL);
			killed_hard = true;
		}
		if (killing && !killed_hard && kill_at < next)
			next = kill_at;
		if (exited && !killed_hard && drain_until < next)
			next = drain_until;

		if (out_open) {
			p[np].fd = out_pipe[0];
			p[np].events = POLLIN;
			i_out = np++;
		}
		if (err_open) {
			p[np].fd = err_pipe[0];
			p[np].events = POLLIN;
			i_err = np++;
		}
		if (in_pipe[1] >= 0) {
			p[np].fd = in_pipe[1];
			p[np].events = POLLOUT;
			i_in = np++;
		}
		p[np].fd = ip->cancel_pipe[0];
		p[np].events = POLLIN;
		i_cancel = np++;
		if (!exited && pidfd >= 0) {
			p[np].fd = pidfd;
			p[np].events = POLLIN;
			i_pid = np++;
		}
		wait_ms = next == UINT64_MAX ? -1 : devsys__ms_until(next);
		if (!exited && pidfd < 0 && (wait_ms < 0 || wait_ms > 50))
			wait_ms = 50; /* no pidfd: poll waitpid */
		for (int k = 0; k < np; k++)
			p[k].revents = 0;
		if (poll(p, (nfds_t)np, wait_ms) < 0 && errno != EINTR) {
			rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "inproc runner: poll failed");
			break;
		}
		if (p[i_cancel].revents & POLLIN) {
			char drain[64];
			while (read(ip->cancel_pipe[0], drain, sizeof(drain)) > 0)
				;
		}
		for (int which = 0; which < 2; which++) {
			int idx = which ? i_err : i_out, fd = which ? err_pipe[0] : out_pipe[0];
			if (idx < 0 || !(p[idx].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n > 0)
				devsys_runner_io_write(io, which ? DEVSYS_RUNNER_STDERR : DEVSYS_RUNNER_STDOUT, buf, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				if (which)
					err_open = false;
				else
					out_open = false;
			}
		}
		if (i_in >= 0 && (p[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write_nosigpipe(in_pipe[1], c->stdin_data + in_off, c->stdin_len - in_off);
			if (n > 0)
				in_off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_off >= c->stdin_len) {
				close(in_pipe[1]);
				in_pipe[1] = -1;
			}
		}
		if (!exited && (pidfd < 0 || (i_pid >= 0 && (p[i_pid].revents & POLLIN)))) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				exited = true;
				if (in_pipe[1] >= 0) { /* the command never read all of its stdin */
					close(in_pipe[1]);
					in_pipe[1] = -1;
				}
				drain_until = devsys__now_ns() + (uint64_t)DRAIN_MS * 1000000u;
			}
		}
	}
	if (!exited)
		waitpid(pid, &status, 0);
	/* nothing of the command's group outlives the exec */
	kill(-pid, SIGKILL);

	if (why == DEVSYS_RUNNER_TIMEOUT) {
		st->failure = DEVSYS_RUNNER_TIMEOUT;
		rc = devsys__error_set(DEVSYS_ETIMEOUT, "inproc runner: '%.200s' timed out after %u ms; its process group "
		                                        "was terminated",
		                       c->argv[0], c->timeout_ms);
	} else if (why == DEVSYS_RUNNER_CANCELED) {
		st->failure = DEVSYS_RUNNER_CANCELED;
		rc = devsys__runner_io_aborted(io)
		             ? devsys__error_set(DEVSYS_EUSER, "inproc runner: the output callback stopped '%.200s'",
		                                 c->argv[0])
		             : devsys__error_set(DEVSYS_ECANCELED, "inproc runner: '%.200s' was canceled", c->argv[0]);
	} else if (rc == 0) {
		st->failure = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? DEVSYS_RUNNER_OK
		                                                              : DEVSYS_RUNNER_BUILD_FAILURE;
	} else {
		st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
	}
	st->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	st->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	__atomic_store_n(&ip->cancel_flag, 0, __ATOMIC_RELEASE);
	goto out;
oom:
	rc = devsys__error_oom();
out:
	if (pidfd >= 0)
		close(pidfd);
	for (int k = 0; k < 2; k++) {
		if (in_pipe[k] >= 0)
			close(in_pipe[k]);
		if (out_pipe[k] >= 0)
			close(out_pipe[k]);
		if (err_pipe[k] >= 0)
			close(err_pipe[k]);
	}
	if (in_child >= 0)
		close(in_child);
	devsys__free(env.v);
	devsys__free(path_entry);
	devsys__free(home_entry);
	devsys__free(prog);
	devsys__free(argv);
	return rc;
}

static int ip_upload(void *self, const char *local, const char *remote)
{
	(void)self;
	return devsys__copy_tree(local, remote);
}

static int ip_download(void *self, const char *remote, const char *local)
{
	(void)self;
	return devsys__copy_tree(remote, local);
}

static int ip_describe(void *self, devsys_runner_description *out)
{
	(void)self;
	if (gethostname(out->where, sizeof(out->where) - 1) != 0)
		out->where[0] = '\0';
	return 0;
}

const devsys_runner_vtable devsys__inproc_vtable = {
	DEVSYS_RUNNER_VTABLE_VERSION,
	"inproc",
	ip_open,
	ip_exec,
	ip_cancel,
	ip_close,
	NULL,
	NULL,
	ip_upload,
	ip_download,
	NULL,
	ip_describe,
};
