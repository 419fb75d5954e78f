/*
 * What the suites that run real processes against the suite's PostgreSQL
 * server (pg_fixture.h) share: the client environment (a HOME of the
 * test's own and a .pgpass through PGPASSFILE, never the real home's), a
 * bare repository to push to, and waits with a deadline for a child
 * process and for a file a child makes (polls, never a sleep as a
 * synchronisation).
 *
 * Header-only (static inline), like pipeline_fixture.h: a suite pays only
 * for what it calls.
 */
#ifndef DEVSYS_PG_SUITE_H
#define DEVSYS_PG_SUITE_H

#include "pg_fixture.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* Milliseconds of the monotonic clock. */
static inline long long dt_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pause between two polls (never a synchronisation by itself). */
static inline void dt_pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * HOME=<dir>/home (made 0700) and PGPASSFILE=<dir>/pgpass with the
 * server's password, for this process and the children it starts.
 */
static inline void dt_pg_client_env(const dt_pg *pg, const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/home", dir);
	cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
	setenv("HOME", p, 1); /* never the real home's .pgpass */
	snprintf(p, sizeof(p), "%s/pgpass", dir);
	cr_assert(dt_pg_write_pgpass(pg, p, NULL), "%s", p);
	setenv("PGPASSFILE", p, 1);
}

/* <dir>/remote.git, a bare repository on main whose first commit has README ("hello"); <dir>/seed its clone. */
static inline void dt_bare_remote(const char *dir)
{
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t && echo hello > README &&"
	                   " git add . && git commit -qm init && git push -q origin main",
	                   dir),
	             0, "cannot make the bare repository in %s", dir);
}

/* Wait for child @p pid up to @p timeout_ms: its exit status (128 + signal), or -1 (then it was killed). */
static inline int dt_reap(pid_t pid, int timeout_ms)
{
	long long deadline = dt_mono_ms() + timeout_ms;
	int status;
	while (dt_mono_ms() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		dt_pause_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Poll until @p path exists; fails the test after @p timeout_ms. */
static inline void dt_wait_file(const char *path, int timeout_ms)
{
	long long deadline = dt_mono_ms() + timeout_ms;
	while (!dt_exists(path)) {
		cr_assert_lt(dt_mono_ms(), deadline, "timed out waiting for %s", path);
		dt_pause_ms(20);
	}
}

#endif /* DEVSYS_PG_SUITE_H */
