/*
 * libdevsys - the task handle.
 */
#ifndef DEVSYS_TASK_H
#define DEVSYS_TASK_H

#include "common.h"
#include "buf.h"
#include "workspace.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/task.h
 * @brief A task and its folder, <workspace>/tasks/<id>/.
 *
 * A task id matches ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ and never contains
 * "..", so it is always a single, safe path component and a safe part of a
 * git ref name.
 */
typedef struct devsys_task devsys_task;

/** Maximum length of a task id, without the NUL. */
#define DEVSYS_TASK_ID_MAX 64

/** Create the task folder when it does not exist. */
#define DEVSYS_TASK_CREATE (1u << 0)
/** With DEVSYS_TASK_CREATE: fail with DEVSYS_EEXISTS when it exists. */
#define DEVSYS_TASK_EXCLUSIVE (1u << 1)

/**
 * Check a task id. Needs no devsys_init(); thread-safe.
 * @return 0, or DEVSYS_EBADID with a message saying what is wrong.
 */
DEVSYS_API int devsys_task_id_check(const char *id);

/**
 * Open a task of @p ws. Without DEVSYS_TASK_CREATE the folder must exist.
 * The task holds a reference to @p ws.
 *
 * @return 0; DEVSYS_EINVAL; DEVSYS_EBADID; DEVSYS_ENOTFOUND; DEVSYS_EEXISTS;
 *         DEVSYS_EACCESS / DEVSYS_EIO when the folder cannot be created.
 * @param out new: the task (it holds a reference on @p ws); free with devsys_task_free().
 */
DEVSYS_API int devsys_task_open(devsys_task **out, devsys_workspace *ws, const char *id, unsigned int flags);

/**
 * Release the caller's reference. Handles that keep the task (a repo, a
 * record) hold their own reference, so the order of frees does not matter.
 * NULL is fine.
 */
DEVSYS_API void devsys_task_free(devsys_task *task);

/**
 * The task id. Borrowed from @p task.
 * @return borrowed: from @p task, valid until it is freed.
 */
DEVSYS_API const char *devsys_task_id(const devsys_task *task);

/**
 * The task's absolute folder path. Borrowed from @p task.
 * @return borrowed: from @p task, valid until it is freed.
 */
DEVSYS_API const char *devsys_task_path(const devsys_task *task);

/**
 * The workspace the task belongs to. Borrowed (no new reference).
 * @return borrowed: the task's workspace, no new reference; valid until @p task is freed.
 */
DEVSYS_API devsys_workspace *devsys_task_workspace(const devsys_task *task);

/**
 * Build "<task folder>/<relpath>" into @p out, refusing any path that would
 * leave the task folder: absolute paths, ".." components, and (for the
 * parts that already exist) symbolic links resolving outside it.
 *
 * @return 0, DEVSYS_EPATH with a message naming @p relpath, or DEVSYS_EINVAL.
 */
DEVSYS_API int devsys_task_path_join(devsys_buf *out, const devsys_task *task, const char *relpath);

DEVSYS_END_DECL

#endif /* DEVSYS_TASK_H */
