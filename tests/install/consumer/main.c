/* A program built against the installed libdevsys. */
#include <devsys.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	devsys_workspace *ws = NULL;
	devsys_task *task = NULL;
	int rc = 1;

	if (strcmp(devsys_version(), DEVSYS_VERSION_STRING) != 0) {
		fprintf(stderr, "header/library mismatch: %s vs %s\n", DEVSYS_VERSION_STRING, devsys_version());
		return 1;
	}
	if (devsys_init() < 0 || devsys_workspace_open(&ws, argc > 1 ? argv[1] : NULL, NULL) < 0 ||
	    devsys_task_open(&task, ws, "consumer-1", DEVSYS_TASK_CREATE) < 0) {
		fprintf(stderr, "error: %s\n", devsys_error_message(devsys_error_last()));
	} else {
		printf("consumer ok: %s\n", devsys_task_path(task));
		rc = 0;
	}
	devsys_task_free(task);
	devsys_workspace_free(ws);
	devsys_shutdown();
	return rc;
}
