/*
 * The task handle: a validated id and its folder under <workspace>/tasks/.
 */
#include "../core/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct devsys_task {
	int refcount;         /* atomic: caller + one per handle that keeps the task */
	devsys_workspace *ws; /* holds a reference */
	char id[DEVSYS_TASK_ID_MAX + 1];
	char *path;
};

static bool id_char_ok(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return !first && (c == '.' || c == '_' || c == '-');
}

int devsys_task_id_check(const char *id)
{
	size_t len;

	if (!id)
		return devsys__error_set(DEVSYS_EBADID, "task id is missing (NULL)");
	len = strnlen(id, DEVSYS_TASK_ID_MAX + 1);
	if (len == 0)
		return devsys__error_set(DEVSYS_EBADID, "task id is empty; use 1-64 characters from [A-Za-z0-9._-]");
	if (len > DEVSYS_TASK_ID_MAX)
		return devsys__error_set(DEVSYS_EBADID, "task id '%.64s...' is longer than %d characters",
		                         id, DEVSYS_TASK_ID_MAX);
	for (size_t i = 0; i < len; i++) {
		if (!id_char_ok(id[i], i == 0)) {
			unsigned char c = (unsigned char)id[i];
			if (i == 0 && (c == '.' || c == '_' || c == '-'))
				return devsys__error_set(DEVSYS_EBADID,
				                         "task id '%s' must start with a letter or digit, not '%c'", id, c);
			return devsys__error_set(DEVSYS_EBADID,
			                         "task id has a forbidden character (byte 0x%02x) at position %zu; "
			                         "allowed are A-Z a-z 0-9 . _ -",
			                         c, i + 1);
		}
	}
	if (strstr(id, ".."))
		return devsys__error_set(DEVSYS_EBADID, "task id '%s' must not contain '..'", id);
	/* A ref component may not end in ".lock" or "."; keep ids usable in task/<id>. */
	if (id[len - 1] == '.' || (len >= 5 && strcmp(id + len - 5, ".lock") == 0))
		return devsys__error_set(DEVSYS_EBADID, "task id '%s' must not end with '.' or '.lock'", id);
	return 0;
}

int devsys_task_open(devsys_task **out, devsys_workspace *ws, const char *id, unsigned int flags)
{
	devsys_task *task;
	struct stat st;
	int rc = 0;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(ws);
	if ((rc = devsys_task_id_check(id)) < 0)
		return rc;
	if (!(task = devsys__calloc(1, sizeof(*task))))
		return devsys__error_oom();
	memcpy(task->id, id, strlen(id) + 1);
	if (!(task->path = devsys__asprintf("%s/tasks/%s", devsys_workspace_path(ws), id))) {
		devsys__free(task);
		return devsys__error_oom();
	}
	if (stat(task->path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			rc = devsys__error_set(DEVSYS_EIO, "task folder '%s' exists but is not a directory", task->path);
		else if ((flags & DEVSYS_TASK_CREATE) && (flags & DEVSYS_TASK_EXCLUSIVE))
			rc = devsys__error_set(DEVSYS_EEXISTS, "task '%s' already exists in workspace '%s'", id,
			                       devsys_workspace_path(ws));
	} else if (errno != ENOENT) {
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot open task folder '%s'", task->path);
	} else if (!(flags & DEVSYS_TASK_CREATE)) {
		rc = devsys__error_set(DEVSYS_ENOTFOUND, "task '%s' does not exist in workspace '%s'", id,
		                       devsys_workspace_path(ws));
	} else if (mkdir(task->path, 0700) != 0 && errno != EEXIST) {
		int err = errno;
		rc = devsys__error_errno(devsys__errno_code(err), err, "cannot create task folder '%s'", task->path);
	}
	if (rc < 0) {
		devsys__free(task->path);
		devsys__free(task);
		return rc;
	}
	devsys__workspace_ref(ws);
	task->ws = ws;
	task->refcount = 1;
	*out = task;
	return 0;
}

void devsys__task_ref(devsys_task *task)
{
	__atomic_add_fetch(&task->refcount, 1, __ATOMIC_RELAXED);
}

void devsys_task_free(devsys_task *task)
{
	if (!task || __atomic_sub_fetch(&task->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	devsys_workspace_free(task->ws);
	devsys__free(task->path);
	devsys__free(task);
}

const char *devsys_task_id(const devsys_task *task)
{
	return task ? task->id : NULL;
}

const char *devsys_task_path(const devsys_task *task)
{
	return task ? task->path : NULL;
}

devsys_workspace *devsys_task_workspace(const devsys_task *task)
{
	return task ? task->ws : NULL;
}

int devsys_task_path_join(devsys_buf *out, const devsys_task *task, const char *relpath)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(task);
	return devsys__path_join_within(out, task->path, relpath);
}
