/*
 * libdevsys - plug-in API: runner backends.
 */
#ifndef DEVSYS_SYS_RUNNER_H
#define DEVSYS_SYS_RUNNER_H

#include "../common.h"
#include "../runner.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/runner.h
 * @brief The runner vtable, for adding runner types.
 *
 * sqlite3_vfs conventions: @c version first; slots are only appended and
 * never change signature; registration copies the prefix the plug-in's
 * version has; the library calls an appended slot only when the registered
 * version has it and it is non-NULL, else the call fails with
 * DEVSYS_ENOTSUPPORTED.
 *
 * The library does the common work around a backend: argument checks,
 * secret masking, line buffering, the <task>/logs/<stage>.log tee, the
 * bounded tail, durations, retries of idempotent commands after system
 * failures. A backend only runs the command and writes raw output with
 * devsys_runner_io_write().
 *
 * Version history:
 *  - 1: name, open, exec, cancel, close, prepare, cleanup, upload, download, workdir.
 *  - 2: describe.
 */
#define DEVSYS_RUNNER_VTABLE_VERSION 2

/** The library's output sink for one exec. */
typedef struct devsys_runner_io devsys_runner_io;

/**
 * Pass raw output of @p stream (DEVSYS_RUNNER_STDOUT/STDERR) to the library.
 * Returns 0, or non-zero when the exec must stop (the output callback
 * aborted): the backend then cancels the command as on devsys_runner_cancel().
 */
DEVSYS_API int devsys_runner_io_write(devsys_runner_io *io, int stream, const char *data, size_t len);

/**
 * Non-zero when the exec must stop now: the output callback asked to, the
 * command's max_output_bytes was reached, or its idle_timeout_ms ran out
 * (checked against the clock here; devsys_runner_cmd version 3). A backend
 * calls it in its wait loop and then stops the command as on a cancel
 * (TERM, grace, KILL); the library names the reason in the result
 * (stalled, output-limit). A backend that never calls it still gets the
 * output cap through devsys_runner_io_write()'s return value, but no idle
 * timeout. Thread-safe with devsys_runner_io_write() on another thread.
 */
DEVSYS_API int devsys_runner_io_stopped(devsys_runner_io *io);

/**
 * @p cap_ms (a wait in ms; -1 for none) lowered to the ms left until the
 * command's idle timeout runs out, so a backend's sleep ends in time to see
 * a stall; @p cap_ms unchanged when the command has no idle timeout.
 * Thread-safe as devsys_runner_io_stopped().
 */
DEVSYS_API int devsys_runner_io_wait_ms(const devsys_runner_io *io, int cap_ms);

/** What a backend reports about one exec. */
typedef struct devsys_runner_status {
	int failure;   /**< devsys_runner_failure */
	int exit_code; /**< exit status, or -1 */
	int signal;    /**< terminating signal, or 0 */
} devsys_runner_status;

typedef struct devsys_runner_vtable {
	unsigned int version; /**< DEVSYS_RUNNER_VTABLE_VERSION the plug-in was built with */

	/* ---- version 1 ---- */

	/** Required. The runner type name ("inproc", "my-runner"); copied at registration. */
	const char *name;

	/**
	 * Required. Create a backend instance in @p *self from @p opts (the
	 * library's copy, at least the version this plug-in knows; strings
	 * stay valid until close). @p payload is the one given at registration.
	 * Return 0 or a DEVSYS_E* code with a message set.
	 */
	int (*open)(void **self, const devsys_runner_options *opts, void *payload);

	/**
	 * Required. Run @p cmd (already checked: argv non-empty, no NUL,
	 * env names valid) and fill @p status. Output goes through
	 * devsys_runner_io_write(@p io, ...). Return 0 when the command ran
	 * (any exit), or a negative code: DEVSYS_ETIMEOUT, DEVSYS_ECANCELED,
	 * DEVSYS_ESYSTEM, ... with @p status filled accordingly.
	 */
	int (*exec)(void *self, const devsys_runner_cmd *cmd, devsys_runner_io *io, devsys_runner_status *status);

	/** Required. Stop the running exec; must be async-thread-safe (may run on any thread). */
	int (*cancel)(void *self);

	/** Required. Release the instance. */
	void (*close)(void *self);

	/** Optional. Per-task set-up. */
	int (*prepare)(void *self, devsys_task *task);

	/** Optional. Per-task clean-up. */
	int (*cleanup)(void *self, devsys_task *task);

	/** Optional. Copy a local file or tree to the execution place. */
	int (*upload)(void *self, const char *local, const char *remote);

	/** Optional. Copy a file or tree from the execution place. */
	int (*download)(void *self, const char *remote, const char *local);

	/** Optional. The working directory for @p task (or runner-wide for NULL), owned by self. */
	const char *(*workdir)(void *self, devsys_task *task);

	/* ---- version 2 ---- */

	/** Optional. Fill @p out (zeroed, type already set by the library) with
	 *  the backend's version and where it runs; see devsys_runner_describe(). */
	int (*describe)(void *self, devsys_runner_description *out);
} devsys_runner_vtable;

/**
 * Register a runner type process-wide (after devsys_init(); built-ins are
 * registered by devsys_init()). The known prefix of @p vtable is copied.
 * @return 0; DEVSYS_EEXISTS (name taken); DEVSYS_EVERSION; DEVSYS_EINVAL
 *         (a required slot is missing). Thread-safe.
 */
DEVSYS_API int devsys_runner_register(const devsys_runner_vtable *vtable, void *payload);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_RUNNER_H */
