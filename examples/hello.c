/* The README's example: open a workspace and a task, log through it. */
#include <devsys.h>
#include <stdio.h>

static void print_log(int level, const char *component, const char *msg, void *payload)
{
	(void)payload;
	printf("[%s %s] %s\n", devsys_log_level_name(level), component, msg);
}

int main(int argc, char **argv)
{
	devsys_workspace_options opts = DEVSYS_WORKSPACE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	devsys_task *task = NULL;
	int rc = 1;

	opts.log_cb = print_log;
	if (devsys_init() < 0)
		goto out;
	if (devsys_workspace_open(&ws, argc > 1 ? argv[1] : NULL, &opts) < 0 ||
	    devsys_task_open(&task, ws, "hello-1", DEVSYS_TASK_CREATE) < 0)
		goto out;
	devsys_workspace_log(ws, DEVSYS_LOG_INFO, "example", "task folder: %s", devsys_task_path(task));
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "error: %s\n", devsys_error_message(devsys_error_last()));
	devsys_task_free(task);
	devsys_workspace_free(ws);
	devsys_shutdown();
	return rc;
}
