/*
 * An out-of-tree runner: the "echo" runner prints each command instead of
 * running it (a dry run), built against the installed public headers only.
 * It shows what an embedder writes to add a runner type:
 *   - a devsys_runner_vtable with open/exec/cancel/close (the rest optional),
 *   - output through devsys_runner_io_write(), so the library masks
 *     secrets, splits lines, tees logs and keeps the tail,
 *   - devsys_runner_register() once after devsys_init().
 *
 *   $ example_runner_echo make -j4 test
 *   [echo] would run: make -j4 test
 *   result: ok, exit 0
 */
#include <devsys.h>
#include <devsys/sys/runner.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct echo_runner {
	int canceled; /* set from any thread */
};

static int echo_open(void **self, const devsys_runner_options *opts, void *payload)
{
	(void)opts;
	(void)payload;
	*self = calloc(1, sizeof(struct echo_runner));
	return *self ? 0 : DEVSYS_ENOMEM;
}

static int echo_exec(void *self, const devsys_runner_cmd *cmd, devsys_runner_io *io, devsys_runner_status *st)
{
	struct echo_runner *er = self;
	const char *prefix = "[echo] would run:";
	if (devsys_runner_io_write(io, DEVSYS_RUNNER_STDOUT, prefix, strlen(prefix)) != 0)
		return DEVSYS_EUSER;
	for (size_t i = 0; cmd->argv[i]; i++) {
		devsys_runner_io_write(io, DEVSYS_RUNNER_STDOUT, " ", 1);
		devsys_runner_io_write(io, DEVSYS_RUNNER_STDOUT, cmd->argv[i], strlen(cmd->argv[i]));
	}
	devsys_runner_io_write(io, DEVSYS_RUNNER_STDOUT, "\n", 1);
	if (__atomic_load_n(&er->canceled, __ATOMIC_ACQUIRE)) {
		st->failure = DEVSYS_RUNNER_CANCELED;
		return DEVSYS_ECANCELED;
	}
	st->failure = DEVSYS_RUNNER_OK;
	st->exit_code = 0;
	st->signal = 0;
	return 0;
}

static int echo_cancel(void *self)
{
	__atomic_store_n(&((struct echo_runner *)self)->canceled, 1, __ATOMIC_RELEASE);
	return 0;
}

static void echo_close(void *self)
{
	free(self);
}

/* Only the required slots: the library answers DEVSYS_ENOTSUPPORTED for the rest. */
static const devsys_runner_vtable echo_vtable = {
	DEVSYS_RUNNER_VTABLE_VERSION, "echo", echo_open, echo_exec, echo_cancel, echo_close,
	NULL, NULL, NULL, NULL, NULL, NULL,
};

static int print_line(int stream, const char *data, size_t len, void *payload)
{
	(void)payload;
	fwrite(data, 1, len, stream == DEVSYS_RUNNER_STDERR ? stderr : stdout);
	return 0;
}

int main(int argc, char **argv)
{
	devsys_runner *r = NULL;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *fallback[] = { "make", "test", NULL };
	int rc;

	if (devsys_init() < 0 || devsys_runner_register(&echo_vtable, NULL) < 0 ||
	    devsys_runner_open(&r, "echo", NULL) < 0) {
		fprintf(stderr, "error: %s\n", devsys_error_message(devsys_error_last()));
		return 3;
	}
	cmd.argv = argc > 1 ? (const char *const *)(argv + 1) : fallback;
	cmd.output_cb = print_line;
	rc = devsys_runner_exec(r, &cmd, &res);
	printf("result: %s, exit %d\n", devsys_runner_failure_name(res.failure), res.exit_code);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	devsys_shutdown();
	return rc < 0 ? 1 : 0;
}
