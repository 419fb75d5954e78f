/*
 * Test support shared by every suite: temp dirs, skips, processes, ports.
 */
#ifndef DEVSYS_TESTUTIL_H
#define DEVSYS_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* True when CI=true: a skip then fails the test instead. */
bool dt_ci(void);

/*
 * Skip the current test because a real service or tool is missing. Under
 * CI=true this fails the test: CI must exercise every real service.
 */
#define dt_skip(...)                                                                              \
	do {                                                                                      \
		char dt_reason_[512];                                                             \
		snprintf(dt_reason_, sizeof(dt_reason_), __VA_ARGS__);                            \
		if (dt_ci())                                                                      \
			cr_assert_fail("CI=true forbids skipping: %s", dt_reason_);               \
		fprintf(stderr, "skipped: %s\n", dt_reason_);                                     \
		cr_skip_test("%s", dt_reason_);                                                   \
	} while (0)

/* A fresh directory under $DEVSYS_TEST_TMP (or /tmp); free() the result. */
char *dt_tmpdir(const char *tag);
/*
 * A fresh private directory directly under /tmp, for AF_UNIX sockets: a
 * socket path must fit sun_path (108 bytes), which a deep checkout or a long
 * $DEVSYS_TEST_TMP passes. Mode 0700; dt_rmrf() it; free() the result.
 */
char *dt_sockdir(const char *tag);
/* rm -rf, refusing paths outside the test temp roots. */
void dt_rmrf(const char *path);

/* Full path of a program on PATH (or in /usr/sbin, /sbin), or NULL; free() it. */
char *dt_which(const char *prog);

/* Run a shell command line (printf-style); returns its exit status or -1. */
int dt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run a shell command and capture stdout (at most 1 MiB); free() it. */
char *dt_sh_output(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Start argv in the background, stdout+stderr to @p log_path (or /dev/null). */
/* A fixture's failure reason into @p why (@p len bytes; either NULL or 0: nothing). */
void dt_set_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* In a forked child before exec: stdout and stderr appended to @p log_path (NULL: /dev/null), stdin /dev/null, a process group of its own. */
void dt_child_stdio(const char *log_path);
pid_t dt_spawn(char *const argv[], const char *log_path);
/* Send @p sig, then wait up to @p timeout_ms; SIGKILL if still running. */
int dt_stop(pid_t pid, int sig, int timeout_ms);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int dt_free_port(void);
/* Poll until 127.0.0.1:port accepts a connection or the deadline passes. */
bool dt_wait_port(int port, int timeout_ms);

/* Whole-file helpers. dt_read_file returns NULL on failure; free() it. */
char *dt_read_file(const char *path, size_t *len);
bool dt_write_file(const char *path, const char *data);

/* Is there an existing file or directory at path? */
bool dt_exists(const char *path);

#endif /* DEVSYS_TESTUTIL_H */
