/*
 * The "inproc" runner: commands run on this machine with posix_spawn (or
 * fork+exec when resource limits are asked for, since posix_spawn cannot
 * set them), each in its own process group, with an explicitly built
 * environment. Timeout and cancel send SIGTERM to the group, wait the grace
 * period, then SIGKILL it; when the command ends, whatever is left of its
 * group is killed too, so no orphan survives.
 *
 * With a `user` (devsys/sys/runner_inproc.h) commands run as that user:
 * fork, then setgroups, setgid, setuid (in that order, each checked), and
 * only then chdir and exec, so the working directory is entered with the
 * user's rights, not root's.
 */
#include "../runner_int.h"
#include "devsys/sys/runner_inproc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
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
	/* run as (inproc options' user), resolved at open */
	char *user;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	char *user_home; /* "HOME=<the user's passwd home>" */
};

static const size_t inproc_opts_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_inproc_options, user), /* 1 */
};

/* The user's ids and groups, looked up once (getpwnam_r is not async-signal-safe: never after fork). */
static int resolve_user(struct inproc *ip, const char *name)
{
	struct passwd pw, *found = NULL;
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t cap = hint > 0 ? (size_t)hint : 16384;
	char *buf = NULL;
	int err, n = 32;

	if (geteuid() != 0)
		return devsys__error_set(DEVSYS_EACCESS, "inproc runner: the profile runs commands as user '%.64s', which "
		                                         "needs devsys to run as root (it runs as uid %u); remove `user` or "
		                                         "start devsys as root",
		                         name, (unsigned)geteuid());
	for (;;) {
		char *nb = devsys__realloc(buf, cap);
		if (!nb) {
			devsys__free(buf);
			return devsys__error_oom();
		}
		buf = nb;
		err = getpwnam_r(name, &pw, buf, cap, &found);
		if (err != ERANGE || cap > (1u << 20))
			break;
		cap *= 2;
	}
	if (!found) {
		devsys__free(buf);
		return err ? devsys__error_errno(DEVSYS_ESYSTEM, err, "inproc runner: cannot look up user '%.64s'", name)
		           : devsys__error_set(DEVSYS_ENOTFOUND, "inproc runner: user '%.64s' (the profile's `user`) is not "
		                                                 "in the passwd database",
		                               name);
	}
	ip->uid = pw.pw_uid;
	ip->gid = pw.pw_gid;
	ip->user = devsys__strdup(name);
	ip->user_home = devsys__asprintf("HOME=%s", pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
	/* the user's own supplementary groups, never devsys's */
	for (;;) {
		gid_t *g = devsys__realloc(ip->groups, (size_t)n * sizeof(*g));
		int want = n;
		if (!g)
			break;
		ip->groups = g;
		if (getgrouplist(name, pw.pw_gid, g, &want) >= 0) {
			ip->ngroups = want;
			break;
		}
		if (want <= n || want > 65536) {
			ip->ngroups = 0; /* getgrouplist gave no size: the primary group alone */
			break;
		}
		n = want;
	}
	devsys__free(buf);
	if (!ip->user || !ip->user_home || !ip->groups)
		return devsys__error_oom();
	return 0;
}

static int read_backend_options(struct inproc *ip, const devsys_runner_options *opts)
{
	devsys_runner_inproc_options x = DEVSYS_RUNNER_INPROC_OPTIONS_INIT;
	int rc;
	if (!opts->backend_tag && !opts->backend_options)
		return 0;
	if (!opts->backend_tag || strcmp(opts->backend_tag, DEVSYS_RUNNER_INPROC_TAG) != 0 || !opts->backend_options)
		return devsys__error_set(DEVSYS_EINVAL, "inproc runner: backend options tagged '%.64s' are not the inproc "
		                                        "runner's (tag \"%s\", devsys_runner_inproc_options)",
		                         opts->backend_tag ? opts->backend_tag : "(none)", DEVSYS_RUNNER_INPROC_TAG);
	if ((rc = devsys__versioned_copy(&x, opts->backend_options, inproc_opts_sizes,
	                                 DEVSYS_RUNNER_INPROC_OPTIONS_VERSION, "devsys_runner_inproc_options")) < 0)
		return rc;
	return x.user ? resolve_user(ip, x.user) : 0;
}

static void ip_close(void *self)
{
	struct inproc *ip = self;
	if (ip->cancel_pipe[0] >= 0)
		close(ip->cancel_pipe[0]);
	if (ip->cancel_pipe[1] >= 0)
		close(ip->cancel_pipe[1]);
	devsys__free(ip->workdir);
	devsys__free(ip->user);
	devsys__free(ip->user_home);
	devsys__free(ip->groups);
	devsys__free(ip);
}

static int ip_open(void **self, const devsys_runner_options *opts, void *payload)
{
	struct inproc *ip;
	int rc;
	(void)payload;
	if (!(ip = devsys__calloc(1, sizeof(*ip))))
		return devsys__error_oom();
	ip->flags = opts->flags;
	ip->grace_ms = opts->grace_ms ? opts->grace_ms : 10000;
	ip->cpu = opts->rlimit_cpu_s;
	ip->as = opts->rlimit_as_bytes;
	ip->nofile = opts->rlimit_nofile;
	ip->cancel_pipe[0] = ip->cancel_pipe[1] = -1;
	if ((rc = read_backend_options(ip, opts)) < 0) {
		ip_close(ip);
		return rc;
	}
	if (pipe2(ip->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		int err = errno;
		ip_close(ip);
		return devsys__error_errno(DEVSYS_ESYSTEM, err, "inproc runner: pipe failed");
	}
	*self = ip;
	return 0;
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

/* Where a forked child failed (reported with its errno through a pipe). */
enum child_step {
	STEP_NONE = 0,
	STEP_FDS,
	STEP_LIMITS,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_CHDIR,
	STEP_EXEC,
	STEP_HOME_FALLBACK /* not a failure: HOME was not usable by the user */
};

static const char *step_name(int step)
{
	static const char *const names[] = { "",       "setting up stdin/stdout/stderr", "setting resource limits",
		                             "setgroups", "setgid", "setuid", "entering the working directory",
		                             "exec",      "" };
	return step >= 0 && step <= STEP_HOME_FALLBACK ? names[step] : "";
}

struct child_report {
	int step;
	int err;
};

static void report(int fd, int step, int err)
{
	struct child_report r = { step, err };
	if (write(fd, &r, sizeof(r)) < 0) {
		/* nothing more a child can do */
	}
}

/* In the child, after fork: only async-signal-safe calls. */
static void child_main(struct inproc *ip, const char *path, char *const argv[], char *envp[], int home_idx,
                       const char *cwd, int in_fd, int out_fd, int err_fd, int ep)
{
	int step = STEP_FDS;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		goto fail;
	step = STEP_LIMITS;
	if ((ip->cpu && set_limit(RLIMIT_CPU, ip->cpu) != 0) || (ip->as && set_limit(RLIMIT_AS, ip->as) != 0) ||
	    (ip->nofile && set_limit(RLIMIT_NOFILE, ip->nofile) != 0))
		goto fail;
	if (ip->user) {
		/* groups first, then the gid, then the uid: after setuid nothing else could be changed */
		step = STEP_SETGROUPS;
		if (setgroups((size_t)ip->ngroups, ip->groups) != 0)
			goto fail;
		step = STEP_SETGID;
		if (setgid(ip->gid) != 0 || getegid() != ip->gid)
			goto fail;
		step = STEP_SETUID;
		if (setuid(ip->uid) != 0 || geteuid() != ip->uid || getuid() != ip->uid)
			goto fail;
		if (ip->uid != 0 && setuid(0) == 0) { /* root must not be recoverable */
			errno = EPERM;
			goto fail;
		}
		if (home_idx >= 0 && access(envp[home_idx] + 5, W_OK | X_OK) != 0) {
			envp[home_idx] = ip->user_home;
			report(ep, STEP_HOME_FALLBACK, errno);
		}
	}
	step = STEP_CHDIR;
	if (cwd && chdir(cwd) != 0)
		goto fail;
	step = STEP_EXEC;
	execve(path, argv, envp);
fail:
	report(ep, step, errno);
	_exit(127);
}

static pid_t spawn_fork(struct inproc *ip, const char *path, char *const argv[], char *envp[], int home_idx,
                        const char *cwd, int in_fd, int out_fd, int err_fd, int *err_out, int *step_out,
                        bool *home_fallback)
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
	if (pid == 0)
		child_main(ip, path, argv, envp, home_idx, cwd, in_fd, out_fd, err_fd, ep[1]);
	close(ep[1]);
	setpgid(pid, pid); /* also from the parent: no race with the first kill */
	for (;;) {
		struct child_report r;
		ssize_t n;
		while ((n = read(ep[0], &r, sizeof(r))) < 0 && errno == EINTR)
			;
		if (n != (ssize_t)sizeof(r))
			break; /* exec closed the pipe: running */
		if (r.step == STEP_HOME_FALLBACK) {
			*home_fallback = true;
			continue;
		}
		close(ep[0]);
		waitpid(pid, NULL, 0);
		*err_out = r.err;
		*step_out = r.step;
		return -1;
	}
	close(ep[0]);
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

/* A command that did not start: say which step failed, for whom. */
static int spawn_failed(const struct inproc *ip, const devsys_runner_cmd *c, int err, int step,
                        devsys_runner_status *st)
{
	bool as_user = ip->user && step >= STEP_SETGROUPS && step <= STEP_SETUID;
	int code = err == ENOENT ? DEVSYS_ENOTFOUND : err == EACCES || err == EPERM ? DEVSYS_EACCESS : DEVSYS_ESYSTEM;
	st->failure = err == ENOENT || err == EACCES || err == EPERM || err == E2BIG ? DEVSYS_RUNNER_NOT_RUN
	                                                                            : DEVSYS_RUNNER_SYSTEM_FAILURE;
	if (as_user)
		return devsys__error_errno(code, err, "inproc runner: cannot switch to user '%s' (%s failed) for '%.200s'",
		                           ip->user, step_name(step), c->argv[0]);
	if (step == STEP_CHDIR)
		return devsys__error_errno(code, err, "inproc runner: %s%s%s cannot enter the working directory '%.300s'",
		                           ip->user ? "user '" : "the command", ip->user ? ip->user : "",
		                           ip->user ? "'" : "", c->cwd);
	if (ip->user)
		return devsys__error_errno(code, err, "inproc runner: cannot start '%.200s' as user '%s' (%s)", c->argv[0],
		                           ip->user, step ? step_name(step) : "fork");
	return devsys__error_errno(code, err, "inproc runner: cannot start '%.200s'", c->argv[0]);
}

static int ip_exec(void *self, const devsys_runner_cmd *c, devsys_runner_io *io, devsys_runner_status *st)
{
	struct inproc *ip = self;
	struct envlist env = { NULL, 0, 0 };
	char *path_entry = NULL, *home_entry = NULL, *prog = NULL;
	const char **argv = NULL;
	size_t argc = 0;
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	int in_child = -1, pidfd = -1, rc = 0, status = 0, spawn_err = 0, spawn_step = STEP_NONE, home_idx = -1;
	bool home_fallback = false;
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

	for (size_t i = 0; i < env.n; i++)
		if (strncmp(env.v[i], "HOME=", 5) == 0)
			home_idx = (int)i;
	if (ip->cpu || ip->as || ip->nofile || ip->user)
		pid = spawn_fork(ip, prog, (char *const *)argv, env.v, home_idx, c->cwd, in_child, out_pipe[1], err_pipe[1],
		                 &spawn_err, &spawn_step, &home_fallback);
	else
		pid = spawn_posix(prog, (char *const *)argv, env.v, c->cwd, in_child, out_pipe[1], err_pipe[1], &spawn_err);
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	if (in_child >= 0)
		close(in_child);
	in_pipe[0] = in_child = -1;
	if (pid < 0) {
		rc = spawn_failed(ip, c, spawn_err, spawn_step, st);
		goto out;
	}
	if (ip->user)
		devsys__runner_io_note(io, "running as user '%s' (uid %u, gid %u)%s%s", ip->user, (unsigned)ip->uid,
		                       (unsigned)ip->gid, home_fallback ? "; the given HOME is not writable by that user, "
		                                                          "so HOME is the user's own: "
		                                                        : "",
		                       home_fallback ? ip->user_home + 5 : "");
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
		if (!killing && !exited)
			wait_ms = devsys__runner_io_wait_ms(io, wait_ms); /* wake for the idle timeout */
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
	struct inproc *ip = self;
	char host[128];
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (ip->user)
		snprintf(out->where, sizeof(out->where), "%s (as user %s)", host, ip->user);
	else
		snprintf(out->where, sizeof(out->where), "%s", host);
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
