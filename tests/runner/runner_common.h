/*
 * Helpers shared by the runner suites: output capture and process checks.
 */
#ifndef RUNNER_COMMON_H
#define RUNNER_COMMON_H

#include <devsys.h>
#include <devsys/sys/runner.h>

#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct capture {
	devsys_buf out, err;
	size_t calls, max_piece;
	int abort_after; /* abort when this many calls were made (0: never) */
	int saw_ready;   /* atomic: a line "ready" arrived */
};

static inline int capture_cb(int stream, const char *data, size_t len, void *payload)
{
	struct capture *c = payload;
	c->calls++;
	if (len > c->max_piece)
		c->max_piece = len;
	devsys_buf_put(stream == DEVSYS_RUNNER_STDERR ? &c->err : &c->out, data, len);
	if (len >= 5 && memcmp(data, "ready", 5) == 0)
		__atomic_store_n(&c->saw_ready, 1, __ATOMIC_RELEASE);
	if (c->abort_after && (int)c->calls >= c->abort_after)
		return 1;
	return 0;
}

static inline void capture_free(struct capture *c)
{
	devsys_buf_dispose(&c->out);
	devsys_buf_dispose(&c->err);
}

static inline const char *cap_out(struct capture *c)
{
	return c->out.ptr ? c->out.ptr : "";
}

static inline const char *cap_err(struct capture *c)
{
	return c->err.ptr ? c->err.ptr : "";
}

/* Is a process alive (and not a zombie)? */
static inline int pid_alive(long pid)
{
	char path[64], buf[512];
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static inline long now_ms_(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Poll @p cond until true or @p ms passed. */
#define WAIT_UNTIL(cond, ms)                                                                        \
	do {                                                                                        \
		long dl_ = now_ms_() + (ms);                                                        \
		while (!(cond) && now_ms_() < dl_) {                                                \
			struct timespec ts_ = { 0, 10 * 1000000L };                                 \
			nanosleep(&ts_, NULL);                                                      \
		}                                                                                   \
	} while (0)

#endif
