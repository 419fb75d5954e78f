/*
 * A runner plug-in compiled ONLY against the frozen version-1 header
 * (tests/runner/frozen/), loaded with dlopen() by frozen_load.c. It "runs"
 * a command by printing its argv and options it was given, and exits with
 * the number of arguments. upload/download/workdir are left NULL.
 */
#include "devsys_runner_v1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct v1 {
	unsigned int grace_ms;
	int canceled;
};

static int v1_open(void **self, const devsys_runner_options *o, void *payload)
{
	struct v1 *s = calloc(1, sizeof(*s));
	(void)payload;
	if (!s)
		return -3;
	s->grace_ms = o->grace_ms;
	*self = s;
	return 0;
}

static int v1_exec(void *self, const devsys_runner_cmd *c, devsys_runner_io *io, devsys_runner_status *st)
{
	struct v1 *s = self;
	char line[256];
	int n = 0;
	for (; c->argv[n]; n++) {
		snprintf(line, sizeof(line), "arg%d=%s\n", n, c->argv[n]);
		if (devsys_runner_io_write(io, DEVSYS_RUNNER_STDOUT, line, strlen(line)) != 0)
			break;
	}
	snprintf(line, sizeof(line), "grace=%u timeout=%u\n", s->grace_ms, c->timeout_ms);
	devsys_runner_io_write(io, DEVSYS_RUNNER_STDERR, line, strlen(line));
	st->exit_code = n;
	st->signal = 0;
	st->failure = n == 0 ? DEVSYS_RUNNER_OK : DEVSYS_RUNNER_BUILD_FAILURE;
	return 0;
}

static int v1_cancel(void *self)
{
	((struct v1 *)self)->canceled = 1;
	return 0;
}

static void v1_close(void *self)
{
	free(self);
}

static const devsys_runner_vtable vt = {
	DEVSYS_RUNNER_VTABLE_VERSION, "frozen-v1", v1_open, v1_exec, v1_cancel, v1_close, NULL, NULL, NULL, NULL, NULL,
};

const devsys_runner_vtable *devsys_test_plugin_v1(void);
const devsys_runner_vtable *devsys_test_plugin_v1(void)
{
	return &vt;
}
