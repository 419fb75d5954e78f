/*
 * What a resume and a cancel from outside need.
 *
 * Cancel: the store knows which process owns a task's stage (pid, start
 * time, boot id) and signals it; `devsys run` turns that SIGTERM into
 * devsys_pipeline_cancel() on a thread of its own, so the runner is
 * canceled and cleanup runs. A task no process runs is canceled in the
 * store directly.
 *
 * Leftovers: a stage's command runs in a process group of its own, so it
 * outlives a kill -9 of the pipeline's process. Before an interrupted task
 * runs again (or is canceled), the commands its dead run left are killed:
 * they are found by the task facts the pipeline put in their environment.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "store/store_int.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Does @p env (NUL-separated entries) hold the entry @p want? */
static bool env_has(const devsys_buf *env, const char *want)
{
	size_t n = strlen(want);
	for (size_t at = 0; at < env->size;) {
		const char *e = env->ptr + at;
		size_t len = strnlen(e, env->size - at);
		if (len == n && memcmp(e, want, n) == 0)
			return true;
		at += len + 1;
	}
	return false;
}

/* Kill every process whose environment holds @p a or @p b, with its group. */
static size_t kill_marked(const char *a, const char *b)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t killed = 0;
	pid_t self = getpid();
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		devsys_buf env = DEVSYS_BUF_INIT;
		char path[64];
		pid_t pid, pgid;
		if (!isdigit((unsigned char)e->d_name[0]) || (pid = (pid_t)atoi(e->d_name)) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
		if (devsys__read_file(&env, path, (size_t)1 << 20) == 0 && (env_has(&env, a) || env_has(&env, b))) {
			pgid = getpgid(pid);
			/* the command's own group (the runner made it); never this process's */
			if (pgid > 1 && pgid != getpgrp())
				kill(-pgid, SIGKILL);
			else
				kill(pid, SIGKILL);
			killed++;
		}
		devsys_buf_dispose(&env);
	}
	closedir(d);
	devsys_error_clear(); /* unreadable entries are other users' or gone */
	return killed;
}

int devsys__pipeline_clear_leftovers(devsys_pipeline *p, const char *task_id)
{
	devsys_task *task = NULL;
	devsys_buf checkout = DEVSYS_BUF_INIT, input = DEVSYS_BUF_INIT;
	char *a = NULL, *b = NULL;
	size_t killed = 0;
	int rc;
	if ((rc = devsys_task_open(&task, p->ws, task_id, 0)) < 0)
		return rc;
	if ((rc = devsys_task_path_join(&checkout, task, "checkout")) == 0 &&
	    (rc = devsys_task_path_join(&input, task, "agent-input.json")) == 0) {
		a = devsys__asprintf("DEVSYS_CHECKOUT=%s", checkout.ptr);
		b = devsys__asprintf("DEVSYS_TASK_FILE=%s", input.ptr);
		if (!a || !b)
			rc = devsys__error_oom();
		else
			killed = kill_marked(a, b);
	}
	if (killed)
		devsys__log(p->ws, DEVSYS_LOG_WARN, "pipeline",
		            "task %s: killed %zu process(es) its interrupted run had left running", task_id, killed);
	devsys__free(a);
	devsys__free(b);
	devsys_buf_dispose(&checkout);
	devsys_buf_dispose(&input);
	devsys_task_free(task);
	return rc;
}

int devsys_pipeline_cancel_task(int *signaled_out, devsys_pipeline *p, const char *task_id)
{
	int signaled = 0, rc;
	if (signaled_out)
		*signaled_out = 0;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(task_id);
	if ((rc = devsys__store_cancel(p->store, task_id, "canceled", &signaled, NULL)) < 0)
		return rc;
	/* canceled here: no live process runs the task, so what runs for it is left over */
	if (!signaled && (rc = devsys__pipeline_clear_leftovers(p, task_id)) < 0)
		return rc;
	if (signaled_out)
		*signaled_out = signaled;
	return 0;
}
