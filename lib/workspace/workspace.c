/*
 * The workspace handle: its directory, its logger and its redactors.
 */
#include "workspace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes each published version of devsys_workspace_options has. */
static const size_t workspace_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_workspace_options, log_payload), /* 1 */
};

static const size_t redactor_vtable_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_redactor_vtable, release), /* 1 */
};

int devsys_workspace_options_init(devsys_workspace_options *opts, unsigned int version)
{
	static const devsys_workspace_options defaults = DEVSYS_WORKSPACE_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, workspace_options_sizes, DEVSYS_WORKSPACE_OPTIONS_VERSION, version, __func__);
}

int devsys_workspace_default_path(devsys_buf *out)
{
	const char *env = getenv("DEVSYS_WORKSPACE");
	DEVSYS__CHECK_ARG(out);
	devsys_buf_clear(out);
	return devsys_buf_puts(out, env && *env ? env : "./.devsys");
}

/* Writability is probed by creating a file: access(2) says yes to root on
 * many read-only setups, and the error must name the real cause. */
static int probe_writable(const char *dir)
{
	char probe[PATH_MAX];
	int fd;

	if ((size_t)snprintf(probe, sizeof(probe), "%s/.devsys-probe-XXXXXX", dir) >= sizeof(probe))
		return devsys__error_set(DEVSYS_EINVAL, "workspace path '%.200s' is too long", dir);
	fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		return devsys__error_errno(devsys__errno_code(err) == DEVSYS_EIO ? DEVSYS_EIO : DEVSYS_EACCESS, err,
		                           "workspace '%s' is not writable; choose a writable directory with "
		                           "--workspace or DEVSYS_WORKSPACE",
		                           dir);
	}
	close(fd);
	unlink(probe);
	return 0;
}

static int open_directory(devsys_workspace *ws, const char *path, const devsys_workspace_options *opts)
{
	char resolved[PATH_MAX];
	mode_t mode = opts->dir_mode ? (mode_t)opts->dir_mode : 0700;
	struct stat st;
	devsys_buf tasks = DEVSYS_BUF_INIT;
	int rc;

	if (stat(path, &st) != 0) {
		if (errno != ENOENT)
			return devsys__error_errno(devsys__errno_code(errno), errno, "cannot open workspace '%s'", path);
		if (opts->flags & DEVSYS_WORKSPACE_NO_CREATE)
			return devsys__error_set(DEVSYS_ENOTFOUND,
			                         "workspace '%s' does not exist (DEVSYS_WORKSPACE_NO_CREATE was given); "
			                         "create it with 'devsys init' first",
			                         path);
		if ((rc = devsys__mkdir_p(path, mode)) < 0)
			return rc;
	} else if (!S_ISDIR(st.st_mode)) {
		return devsys__error_set(DEVSYS_EIO, "workspace '%s' exists but is not a directory; choose another path",
		                         path);
	}
	if (!realpath(path, resolved))
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot resolve workspace '%s'", path);
	if (!(ws->path = devsys__strdup(resolved)))
		return devsys__error_oom();
	if ((rc = probe_writable(resolved)) < 0)
		return rc;
	if (devsys_buf_printf(&tasks, "%s/tasks", resolved) < 0)
		return DEVSYS_ENOMEM;
	rc = devsys__mkdir_p(tasks.ptr, mode);
	devsys_buf_dispose(&tasks);
	return rc;
}

int devsys_workspace_open(devsys_workspace **out, const char *path, const devsys_workspace_options *opts)
{
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	devsys_buf def = DEVSYS_BUF_INIT;
	devsys_workspace *ws;
	int rc;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if (opts && (rc = devsys__versioned_copy(&o, opts, workspace_options_sizes, DEVSYS_WORKSPACE_OPTIONS_VERSION,
	                                         "devsys_workspace_options")) < 0)
		return rc;
	if (!path) {
		if ((rc = devsys_workspace_default_path(&def)) < 0)
			return rc;
		path = def.ptr;
	}
	if (!(ws = devsys__calloc(1, sizeof(*ws)))) {
		devsys_buf_dispose(&def);
		return devsys__error_oom();
	}
	ws->refcount = 1;
	ws->dir_mode = o.dir_mode ? (mode_t)o.dir_mode : 0700;
	ws->log_level = o.log_level;
	ws->log_cb = o.log_cb;
	ws->log_payload = o.log_payload;
	rc = open_directory(ws, path, &o);
	devsys_buf_dispose(&def);
	if (rc < 0) {
		devsys_workspace_free(ws);
		return rc;
	}
	*out = ws;
	devsys__log(ws, DEVSYS_LOG_DEBUG, "workspace", "opened workspace %s", ws->path);
	return 0;
}

void devsys__workspace_ref(devsys_workspace *ws)
{
	__atomic_add_fetch(&ws->refcount, 1, __ATOMIC_RELAXED);
}

void devsys_workspace_free(devsys_workspace *ws)
{
	if (!ws || __atomic_sub_fetch(&ws->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < ws->nredactors; i++)
		if (ws->redactors[i].vtable.release)
			ws->redactors[i].vtable.release(ws->redactors[i].self);
	devsys__free(ws->redactors);
	devsys__free(ws->path);
	devsys__free(ws);
}

const char *devsys_workspace_path(const devsys_workspace *ws)
{
	return ws ? ws->path : NULL;
}

int devsys_workspace_set_logger(devsys_workspace *ws, int level, devsys_log_cb cb, void *payload)
{
	DEVSYS__CHECK_ARG(ws);
	ws->log_level = level;
	ws->log_cb = cb;
	ws->log_payload = payload;
	return 0;
}

int devsys_workspace_add_redactor(devsys_workspace *ws, const devsys_redactor_vtable *vtable, void *self)
{
	devsys_redactor_vtable copy = { 0 };
	struct devsys__redactor *grown;
	int rc;

	DEVSYS__CHECK_ARG(ws);
	DEVSYS__CHECK_ARG(vtable);
	if ((rc = devsys__versioned_copy(&copy, vtable, redactor_vtable_sizes, DEVSYS_REDACTOR_VTABLE_VERSION,
	                                 "devsys_redactor_vtable")) < 0)
		return rc;
	if (!copy.redact)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_workspace_add_redactor: the 'redact' slot is required");
	grown = devsys__realloc(ws->redactors, (ws->nredactors + 1) * sizeof(*grown));
	if (!grown)
		return devsys__error_oom();
	ws->redactors = grown;
	ws->redactors[ws->nredactors].vtable = copy;
	ws->redactors[ws->nredactors].self = self;
	ws->nredactors++;
	return 0;
}
