/*
 * libdevsys - the workspace handle: where every task's record lives.
 */
#ifndef DEVSYS_WORKSPACE_H
#define DEVSYS_WORKSPACE_H

#include "common.h"
#include "buf.h"
#include "log.h"
#include "sys/redactor.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/workspace.h
 * @brief Opening a workspace directory (layout: tasks/<id>/...).
 *
 * A workspace is a directory owned by libdevsys:
 *
 *     <workspace>/tasks/<id>/     one folder per task (see devsys/task.h)
 *
 * Other modules add their own top-level entries (mirrors/, devsys.db, ...);
 * docs/architecture.md lists them.
 *
 * Threads: a workspace may be used from several threads at once (opening
 * tasks, logging). Configure it (logger, redactors) before sharing it.
 */
typedef struct devsys_workspace devsys_workspace;

/** Do not create the workspace directory; fail with DEVSYS_ENOTFOUND. */
#define DEVSYS_WORKSPACE_NO_CREATE (1u << 0)

/*
 * Options structs follow one convention throughout the library:
 *  - @c version comes first; set it with DEVSYS_X_OPTIONS_INIT or
 *    devsys_x_options_init(&opts, DEVSYS_X_OPTIONS_VERSION);
 *  - fields are only ever appended, and the version is bumped;
 *  - the library reads only the bytes the caller's version has and uses
 *    defaults for the rest, so old callers keep working unchanged.
 * Version history of devsys_workspace_options:
 *  - 1: flags, dir_mode, log_level, log_cb, log_payload.
 */
#define DEVSYS_WORKSPACE_OPTIONS_VERSION 1

typedef struct devsys_workspace_options {
	unsigned int version;   /**< DEVSYS_WORKSPACE_OPTIONS_VERSION */
	unsigned int flags;     /**< DEVSYS_WORKSPACE_* flags */
	unsigned int dir_mode;  /**< mode for directories created; 0 means 0700 */
	int log_level;          /**< minimum devsys_log_level passed to log_cb */
	devsys_log_cb log_cb;   /**< NULL: messages are dropped */
	void *log_payload;      /**< passed to log_cb */
} devsys_workspace_options;

#define DEVSYS_WORKSPACE_OPTIONS_INIT { DEVSYS_WORKSPACE_OPTIONS_VERSION, 0u, 0u, DEVSYS_LOG_INFO, NULL, NULL }

/**
 * Initialise @p opts to the defaults of @p version.
 * @return 0, DEVSYS_EINVAL (NULL) or DEVSYS_EVERSION (0 or newer than the library).
 */
DEVSYS_API int devsys_workspace_options_init(devsys_workspace_options *opts, unsigned int version);

/**
 * Open (and by default create) a workspace.
 *
 * @param out   receives the handle; free it with devsys_workspace_free()
 * @param path  the directory; NULL means $DEVSYS_WORKSPACE, else "./.devsys"
 * @param opts  NULL for defaults
 * @return 0; DEVSYS_ENOTINIT; DEVSYS_EINVAL; DEVSYS_EVERSION;
 *         DEVSYS_ENOTFOUND (NO_CREATE and missing); DEVSYS_EACCESS (not
 *         writable, e.g. a read-only mount); DEVSYS_EIO (a file where a
 *         directory is expected, or another I/O failure).
 * @param out new: the workspace; free with devsys_workspace_free().
 */
DEVSYS_API int devsys_workspace_open(devsys_workspace **out, const char *path,
                                     const devsys_workspace_options *opts);

/**
 * Release the caller's reference. Tasks opened from the workspace keep it
 * alive until they are freed too, so the order of frees does not matter.
 * NULL is fine.
 */
DEVSYS_API void devsys_workspace_free(devsys_workspace *ws);

/**
 * The workspace's absolute path. Borrowed from @p ws; NULL for NULL.
 * @return borrowed: from @p ws, valid until it is freed.
 */
DEVSYS_API const char *devsys_workspace_path(const devsys_workspace *ws);

/**
 * The path devsys_workspace_open() uses when given NULL:
 * $DEVSYS_WORKSPACE if set and non-empty, else "./.devsys".
 * @return 0 or DEVSYS_EINVAL / DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_workspace_default_path(devsys_buf *out);

/**
 * Replace the logging callback. Not thread-safe with concurrent logging:
 * call it before sharing the workspace.
 */
DEVSYS_API int devsys_workspace_set_logger(devsys_workspace *ws, int level, devsys_log_cb cb, void *payload);

/**
 * Add a redactor; every message passes through all redactors, in the order
 * they were added, before the callback sees it. The vtable is copied (only
 * the prefix its version declares); @p self is borrowed until the
 * workspace's release calls vtable->release(self).
 *
 * @return 0; DEVSYS_EINVAL (NULL, or no redact slot); DEVSYS_EVERSION.
 */
DEVSYS_API int devsys_workspace_add_redactor(devsys_workspace *ws, const devsys_redactor_vtable *vtable, void *self);

/**
 * Log a message through the workspace's redactors and callback, as the
 * library itself does. Thread-safe.
 */
DEVSYS_API void devsys_workspace_log(devsys_workspace *ws, int level, const char *component,
                                     const char *fmt, ...) DEVSYS_PRINTF(4, 5);

DEVSYS_END_DECL

#endif /* DEVSYS_WORKSPACE_H */
