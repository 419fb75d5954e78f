/*
 * The fixtures' watchdog: what a fixture starts (a service, its children, its
 * temp dirs) goes when the test process dies by any means, SIGKILL included.
 *
 *   dt_watchdog *w = dt_watchdog_start(why, sizeof why);   // before anything is made
 *   dt_watchdog_dir(w, dir);                 // removed last (unmounting below it first)
 *   pid = dt_watchdog_spawn(w, argv, log);   // like dt_spawn(), and registered
 *   ...
 *   // normal path, unchanged: the fixture stops its service and removes its dir, then
 *   dt_watchdog_disarm(w);                   // the watchdog exits without acting
 *
 * How: the watchdog is a small program of its own (devsys_test_watchdog,
 * tests/support/watchdog_main.c) reading one end of a socket pair whose other
 * end only the test process holds (close-on-exec, so no service it starts
 * holds it). When the test dies the kernel closes that end, the read sees end
 * of file (or the test's pidfd turns readable), and the watchdog acts: it runs the registered stop commands, then
 * freezes (SIGSTOP) each registered process, each process whose command line
 * names a registered path, and all their descendants, and SIGKILLs them, then
 * unmounts what is mounted below the registered dirs and removes them.
 *
 * Why not PR_SET_PDEATHSIG in the service alone: it fires when the forking
 * *thread* exits (a Criterion hook or a test's thread), it reaches only the
 * direct child (sshd's per-connection processes call setsid, lighttpd's CGIs
 * and containerd's shims are orphaned, pg_ctl's postmaster is not a child at
 * all), and it removes no directory. The watchdog is started by a double fork
 * in a session of its own, so neither a runner that kills the test's process
 * tree (ctest on a timeout) nor a ^C or ^\ to the terminal's process group
 * takes it down with the test. A pid is registered with its start time, so a
 * recycled pid is never killed.
 *
 * A process forked from the test without exec inherits the socket, and may
 * outlive the test: the watchdog also holds a pidfd of the test process and
 * acts when that exits, once the instructions still queued are taken (on a
 * kernel without pidfds, when the last holder of the socket is gone). Only the process that
 * started a watchdog talks to it; in any other process these calls do
 * nothing (dt_watchdog_child() excepted, which is for that purpose).
 * Not thread-safe: a fixture uses its watchdog from one thread.
 */
#ifndef DEVSYS_WATCHDOG_H
#define DEVSYS_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct dt_watchdog {
	int fd;      /* our end of the socket pair (SOCK_SEQPACKET, close-on-exec) */
	pid_t pid;   /* the watchdog process (not our child: it was double-forked) */
	pid_t owner; /* the process that started it */
} dt_watchdog;

/*
 * Start a watchdog for the calling process. NULL with a reason in @p why
 * when it cannot be started (the program missing, fork failing).
 */
dt_watchdog *dt_watchdog_start(char *why, size_t why_len);

/* When the test dies: SIGKILL @p pid (if still the same process) and all its descendants. */
void dt_watchdog_pid(dt_watchdog *w, pid_t pid);
/* The fixture stopped @p pid itself: leave it alone. */
void dt_watchdog_forget(dt_watchdog *w, pid_t pid);
/*
 * In a child between fork() and exec(): register the child itself, so no
 * moment exists where the service runs unregistered. Async-signal-safe.
 */
void dt_watchdog_child(const dt_watchdog *w);
/*
 * fork + exec like dt_spawn() (stdout and stderr to @p log_path, own process
 * group), registered; returns once the child has exec'd, so a later
 * dt_watchdog_forget() of it arrives after its registration.
 */
pid_t dt_watchdog_spawn(dt_watchdog *w, char *const argv[], const char *log_path);
/* When the test dies: SIGKILL every process whose command line names @p path, and their descendants. */
void dt_watchdog_naming(dt_watchdog *w, const char *path);
/* When the test dies, first of all: run this shell command (at most 30 s). */
void dt_watchdog_run(dt_watchdog *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* When the test dies, last: unmount what is below @p dir and remove it (below /tmp, /dev/shm or $DEVSYS_TEST_TMP only). */
void dt_watchdog_dir(dt_watchdog *w, const char *dir);

/* The fixture stopped everything: the watchdog exits without acting. Frees @p w; NULL is fine. */
void dt_watchdog_disarm(dt_watchdog *w);

#endif /* DEVSYS_WATCHDOG_H */
