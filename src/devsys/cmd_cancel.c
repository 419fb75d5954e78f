/*
 * devsys cancel TASK: stop a task wherever it runs. The library finds the
 * process that owns the task's stage through the store and sends it
 * SIGTERM (`devsys run` waits for it on a thread of its own and cancels its
 * stage cleanly), or cancels a task that no process runs directly.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(DEVSYS_HAVE_MODULE_PIPELINE)

/* ---- devsys cancel ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Poll the store until the owner has ended the task's stage, or the
 * deadline. An owner that died of the signal (a program without `devsys
 * run`'s signal thread) leaves the stage behind: recovery marks it
 * interrupted, and an interrupted task is canceled here.
 */
static int wait_canceled(devsys_pipeline *p, const char *id, unsigned long secs)
{
	devsys_store *st = devsys_pipeline_store(p);
	long long start = now_ms(), until = start + (long long)secs * 1000, recovered = start;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	int state, again;
	while ((state = devsys_store_task_state(st, id)) >= 0 && state != DEVSYS_STATE_CANCELED &&
	       state != DEVSYS_STATE_FAILED && state != DEVSYS_STATE_DONE && now_ms() < until) {
		if (state == DEVSYS_STATE_INTERRUPTED && devsys_pipeline_cancel_task(&again, p, id) == 0)
			continue;
		if (now_ms() - recovered >= 1000) {
			devsys_store_recover(st, NULL);
			recovered = now_ms();
		}
		nanosleep(&tick, NULL);
	}
	return state;
}

static int print_result(devsys_cli *cli, const char *id, int signaled, int state, unsigned long secs)
{
	const char *name = state >= 0 ? devsys_task_state_name(state) : "unknown";
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:s,s:s,s:b}", "task", id, "state", name, "signaled", signaled));
	else if (!signaled)
		printf("task %s: canceled (no process was running it)\n", id);
	else if (state == DEVSYS_STATE_CANCELED)
		printf("task %s: canceled (its process stopped the running stage)\n", id);
	else if (secs == 0)
		printf("task %s: its process was asked to stop (state now %s)\n", id, name);
	else
		fprintf(stderr, "devsys: task %s: its process was asked to stop, but the task is %s after %lu s\n", id,
		        name, secs);
	return state == DEVSYS_STATE_CANCELED || (signaled && secs == 0) ? DEVSYS_EXIT_OK : DEVSYS_EXIT_FAILED;
}

static int cmd_cancel(devsys_cli *cli, int argc, char **argv)
{
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	const char *id = NULL;
	unsigned long secs = 30;
	int rc, signaled = 0, state;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			errno = 0;
			secs = strtoul(argv[++i], &end, 10);
			if (errno || *end || secs > 86400)
				return devsys_cli_usage_error(cli, "cancel: --wait '%s' is not a number of seconds (0..86400)",
				                              argv[i]);
		} else if (argv[i][0] == '-' || id)
			return devsys_cli_usage_error(cli, "cancel: unexpected argument '%s' (usage: cancel [--wait SECS] TASK)",
			                              argv[i]);
		else
			id = argv[i];
	}
	if (!id)
		return devsys_cli_usage_error(cli, "cancel needs a task id");
	if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0)
		return rc;
	if (devsys_pipeline_new(&p, ws, NULL) < 0)
		rc = devsys_cli_fail_lib(cli, "cannot open the task store");
	else if (devsys_pipeline_cancel_task(&signaled, p, id) < 0)
		rc = devsys_cli_fail_lib(cli, "cannot cancel the task");
	else {
		state = signaled && secs ? wait_canceled(p, id, secs)
		                         : devsys_store_task_state(devsys_pipeline_store(p), id);
		rc = print_result(cli, id, signaled, state, secs);
	}
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	return rc;
}

#else

static int cmd_cancel(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return devsys_cli_usage_error(cli, "devsys cancel needs the pipeline module in this build");
}

#endif

const devsys_cli_command devsys_cli_cancel_commands[] = {
	{ "cancel", "[--wait SECS] TASK",
	  "stop a task: its running stage ends canceled (waits up to SECS, default 30)", cmd_cancel },
	{ NULL, NULL, NULL, NULL }
};
