/*
 * libdevsys - runners: where commands run (in-process, remote-ssh, ...).
 */
#ifndef DEVSYS_RUNNER_H
#define DEVSYS_RUNNER_H

#include "common.h"
#include "buf.h"
#include "workspace.h"
#include "task.h"
#include "secrets.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/runner.h
 * @brief Running commands: open a runner by name, exec with streaming,
 *        timeouts and cancel, upload/download, free.
 *
 * Lifecycle (GitLab custom executor style): devsys_runner_open() →
 * devsys_runner_prepare() (once per task) → devsys_runner_exec() /
 * devsys_runner_upload() / devsys_runner_download() → devsys_runner_cleanup()
 * (always; its failure never changes a task's result) → devsys_runner_free().
 *
 * Built-in runners: "inproc" (posix_spawn on this machine) and "remote-ssh"
 * (libssh2). Plug-ins add more with devsys_runner_register()
 * (devsys/sys/runner.h).
 *
 * Threads: a runner is used by one thread at a time, except
 * devsys_runner_cancel(), which any thread may call at any time.
 */

/** An open runner. */
typedef struct devsys_runner devsys_runner;

/** The outcome class of one exec. */
typedef enum devsys_runner_failure {
	DEVSYS_RUNNER_OK = 0,             /**< the command exited 0 */
	DEVSYS_RUNNER_BUILD_FAILURE = 1,  /**< the command failed: non-zero exit or killed by a signal */
	DEVSYS_RUNNER_SYSTEM_FAILURE = 2, /**< the runner broke (connection lost, spawn failed, ...) */
	DEVSYS_RUNNER_TIMEOUT = 3,        /**< the command's timeout expired; its process group was killed */
	DEVSYS_RUNNER_CANCELED = 4,       /**< devsys_runner_cancel() or the output callback stopped it */
	DEVSYS_RUNNER_NOT_RUN = 5,        /**< the command was refused before it started (bad input) */
	DEVSYS_RUNNER_STALLED = 6,        /**< it printed nothing for devsys_runner_cmd.idle_timeout_ms; its process
	                                       group was stopped (TERM, grace, KILL) */
	DEVSYS_RUNNER_OUTPUT_LIMIT = 7    /**< it printed more than devsys_runner_cmd.max_output_bytes; it was
	                                       stopped the same way and the output kept ends at the limit */
} devsys_runner_failure;

/**
 * "ok", "build-failure", "system-failure", "timeout", "canceled", "not-run",
 * "stalled", "output-limit"; "unknown" for other values; never NULL.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_runner_failure_name(int failure);

/** Output streams, as passed to devsys_runner_output_cb. */
#define DEVSYS_RUNNER_STDOUT 1
#define DEVSYS_RUNNER_STDERR 2

/**
 * Receives output, one line at a time (with its '\n'; the last line of a
 * stream may lack it; a line longer than 64 KiB arrives in 64 KiB pieces).
 * Secrets are already masked. Called on the thread running exec. A non-zero
 * return cancels the command (result DEVSYS_RUNNER_CANCELED, DEVSYS_EUSER).
 */
typedef int (*devsys_runner_output_cb)(int stream, const char *data, size_t len, void *payload);

/* ---- runner options ---- */

/** Runner flag: commands may ask for a shell (DEVSYS_RUNNER_CMD_SHELL). Operator config only. */
#define DEVSYS_RUNNER_ALLOW_SHELL (1u << 0)
/** remote-ssh: trust an unknown host key on first use and record it in known_hosts. */
#define DEVSYS_RUNNER_TRUST_ON_FIRST_USE (1u << 1)
/** remote-ssh: authenticate with ssh-agent ($SSH_AUTH_SOCK) instead of a key file. */
#define DEVSYS_RUNNER_USE_AGENT (1u << 2)

#define DEVSYS_RUNNER_OPTIONS_VERSION 2

/**
 * Options of devsys_runner_open() (copied; strings too). Fields a runner
 * does not use are ignored. Usually filled from the operator's devsys.yaml
 * with devsys_config_runner_options() (devsys/config.h).
 */
typedef struct devsys_runner_options {
	unsigned int version;       /**< DEVSYS_RUNNER_OPTIONS_VERSION */
	unsigned int flags;         /**< DEVSYS_RUNNER_* flags */
	devsys_workspace *ws;       /**< optional: runner log messages go here (the runner holds a reference) */
	devsys_masker *masker;      /**< optional: masks every output byte (the runner holds a reference) */
	unsigned int grace_ms;      /**< SIGTERM → SIGKILL grace on timeout/cancel; 0: 10000 */
	size_t tail_max;            /**< in-memory output tail per exec; 0: 1 MiB */
	/* resource limits (inproc); 0 = not set */
	uint64_t rlimit_cpu_s;      /**< RLIMIT_CPU in seconds */
	uint64_t rlimit_as_bytes;   /**< RLIMIT_AS in bytes */
	uint64_t rlimit_nofile;     /**< RLIMIT_NOFILE */
	/* remote-ssh */
	const char *host;           /**< host name or address */
	unsigned int port;          /**< 0: 22 */
	const char *user;           /**< login name; NULL: the current user */
	const char *key_file;       /**< private key (ed25519 recommended; see docs/runners.md on RSA) */
	const char *key_passphrase; /**< optional passphrase of key_file */
	const char *known_hosts;    /**< required: the runner's own known_hosts file */
	unsigned int connect_timeout_ms; /**< 0: 10000 */
	unsigned int keepalive_s;   /**< keepalive interval; 0: 15 */
	unsigned int retries;       /**< system-failure retries of DEVSYS_RUNNER_CMD_IDEMPOTENT commands; 0: none */
	const char *remote_dir;     /**< where per-runner/per-task remote dirs are made; NULL: "/tmp" */
	/* ---- version 2 ---- */
	/**
	 * Backend options: the tag names the struct @c backend_options points
	 * to (DEVSYS_RUNNER_DOCKER_TAG for devsys_runner_docker_options, in
	 * devsys/sys/runner_docker.h); that struct starts with its own
	 * <tt>unsigned int version</tt>. Both NULL: the backend's defaults. A
	 * backend refuses a tag it does not know (DEVSYS_EINVAL). Borrowed: read
	 * (and copied by the backend) during devsys_runner_open() only.
	 */
	const char *backend_tag;
	const void *backend_options;
} devsys_runner_options;

#define DEVSYS_RUNNER_OPTIONS_INIT                                                                        \
	{ DEVSYS_RUNNER_OPTIONS_VERSION, 0u, NULL, NULL, 0u, 0u, 0u, 0u, 0u, NULL, 0u, NULL, NULL, NULL, NULL, \
	  0u, 0u, 0u, NULL, NULL, NULL }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_runner_options_init(devsys_runner_options *opts, unsigned int version);

/* ---- commands ---- */

/** Command flag: also pass the parent's environment (inproc; remote: the login environment). */
#define DEVSYS_RUNNER_CMD_INHERIT_ENV (1u << 0)
/** Command flag: run argv[0] as a /bin/sh -c script (needs DEVSYS_RUNNER_ALLOW_SHELL). */
#define DEVSYS_RUNNER_CMD_SHELL (1u << 1)
/** Command flag: safe to run again after a system failure (see devsys_runner_options.retries). */
#define DEVSYS_RUNNER_CMD_IDEMPOTENT (1u << 2)

#define DEVSYS_RUNNER_CMD_VERSION 3

/** One command to run. Nothing is copied beyond the call. */
typedef struct devsys_runner_cmd {
	unsigned int version;          /**< DEVSYS_RUNNER_CMD_VERSION */
	unsigned int flags;            /**< DEVSYS_RUNNER_CMD_* */
	const char *const *argv;       /**< NULL-terminated; argv[0] is looked up in PATH when it has no '/' */
	const size_t *argv_len;        /**< optional: the byte length of each argv element; an element whose
	                                    bytes contain NUL is refused (for argv read from binary input) */
	const char *const *env;        /**< NULL-terminated "NAME=value" list added to PATH and HOME */
	const char *cwd;               /**< working directory; NULL: the runner's default */
	unsigned int timeout_ms;       /**< 0: no timeout (the per-stage timeout from the task spec) */
	const char *stdin_data;        /**< stdin bytes, or NULL */
	size_t stdin_len;              /**< length of stdin_data */
	const char *stdin_file;        /**< or: a local file for stdin; neither: stdin is /dev/null */
	devsys_runner_output_cb output_cb; /**< optional */
	void *output_payload;          /**< passed to output_cb */
	devsys_task *task;             /**< optional: output is teed to <task>/logs/<stage>.log */
	const char *stage;             /**< stage name for the log file; NULL: "exec" */
	/* ---- version 2 ---- */
	/** Container runners: the image a task step asked for (a spec's step-level
	 *  `image`). Allowed only when the profile lists allowed_images and one
	 *  glob matches, else DEVSYS_EACCESS naming the profile and its list.
	 *  Other runners refuse it (DEVSYS_ENOTSUPPORTED). NULL: the profile's image. */
	const char *image;
	/* ---- version 3: budgets, enforced in the library's output path for every built-in runner ---- */
	/** No output (on either stream) for this long, counted from the start of the
	 *  exec and from each output byte: the command's process group (container,
	 *  remote group) gets SIGTERM, the grace period, then SIGKILL, and the result
	 *  is DEVSYS_RUNNER_STALLED with DEVSYS_ETIMEOUT. Catches a headless agent
	 *  waiting on a prompt. 0: no idle timeout. */
	unsigned int idle_timeout_ms;
	/** More output than this (both streams, after masking, as output_bytes
	 *  counts it): the bytes up to the limit are kept (log, tail, callback), the
	 *  rest is dropped, the command is stopped like a stalled one, and the result
	 *  is DEVSYS_RUNNER_OUTPUT_LIMIT with DEVSYS_ELIMIT. 0: no limit. */
	uint64_t max_output_bytes;
} devsys_runner_cmd;

#define DEVSYS_RUNNER_CMD_INIT \
	{ DEVSYS_RUNNER_CMD_VERSION, 0u, NULL, NULL, NULL, NULL, 0u, NULL, 0u, NULL, NULL, NULL, NULL, NULL, NULL, 0u, 0u }

#define DEVSYS_RUNNER_RESULT_VERSION 1

/**
 * What one exec did. Dispose with devsys_runner_result_dispose() after every
 * exec (also failed ones; a result refused as not-run holds nothing, but
 * disposing it is always right).
 */
typedef struct devsys_runner_result {
	unsigned int version;  /**< DEVSYS_RUNNER_RESULT_VERSION, set by the caller */
	int failure;           /**< devsys_runner_failure */
	int exit_code;         /**< exit status, or -1 when killed by a signal / not run */
	int signal;            /**< the terminating signal, or 0 */
	uint64_t duration_ms;  /**< wall time of the exec */
	int attempts;          /**< how many times it ran (retries after system failures) */
	char *tail;            /**< the last tail_max bytes of output (masked; "out| "/"err| " line prefixes),
	                            NUL-terminated; library-owned */
	size_t tail_len;       /**< length of tail */
	uint64_t output_bytes; /**< all output bytes seen (after masking) */
	int truncated;         /**< 1 when the tail lost earlier output (see log_path) */
	char *log_path;        /**< <task>/logs/<stage>.log with all output, or NULL (no task); library-owned */
} devsys_runner_result;

#define DEVSYS_RUNNER_RESULT_INIT { DEVSYS_RUNNER_RESULT_VERSION, 0, 0, 0, 0u, 0, NULL, 0u, 0u, 0, NULL }

/** Free what a result holds and reset it (keeps version). NULL is fine. */
DEVSYS_API void devsys_runner_result_dispose(devsys_runner_result *result);

/* ---- the runner ---- */

/**
 * Open a runner of a registered type ("inproc", "remote-ssh", ...).
 * remote-ssh connects, checks the host key and authenticates here.
 * @return 0; DEVSYS_ENOTFOUND (no such runner type); DEVSYS_EINVAL/EVERSION;
 *         remote-ssh: DEVSYS_EHOSTKEY (unknown or changed host key: the
 *         message names host and SHA256 fingerprint), DEVSYS_EAUTH,
 *         DEVSYS_ENETWORK, DEVSYS_ETIMEOUT.
 * @param out new: the runner (it holds a reference on the options' ws and masker); free with devsys_runner_free().
 */
DEVSYS_API int devsys_runner_open(devsys_runner **out, const char *type, const devsys_runner_options *opts);

/** Close a runner (remote session dir removed). NULL is fine. */
DEVSYS_API void devsys_runner_free(devsys_runner *runner);

/**
 * The runner's type name, borrowed.
 * @return borrowed: from @p runner, valid until it is freed.
 */
DEVSYS_API const char *devsys_runner_type(const devsys_runner *runner);

/**
 * Run a command to completion (or timeout/cancel).
 *
 * @return 0 when the command ran and exited 0 or non-zero (see
 *         result->failure: ok / build failure); DEVSYS_ETIMEOUT,
 *         DEVSYS_ECANCELED, DEVSYS_EUSER (callback), DEVSYS_ETIMEOUT with
 *         result->failure DEVSYS_RUNNER_STALLED (idle timeout), DEVSYS_ELIMIT
 *         with DEVSYS_RUNNER_OUTPUT_LIMIT (output cap), DEVSYS_ESYSTEM (and the
 *         remote-ssh connection errors) with result filled; bad input
 *         (DEVSYS_EINVAL, DEVSYS_EINVALID, DEVSYS_ELIMIT, DEVSYS_ENOTFOUND for a
 *         missing cwd or program, DEVSYS_EACCESS for a shell the profile
 *         does not allow) with result->failure DEVSYS_RUNNER_NOT_RUN.
 */
DEVSYS_API int devsys_runner_exec(devsys_runner *runner, const devsys_runner_cmd *cmd, devsys_runner_result *result);

/**
 * Stop the running exec: SIGTERM to its process group, SIGKILL after the
 * grace period. Safe from any thread and from signal-free contexts; a cancel
 * with no exec running applies to the next exec. Returns 0.
 */
DEVSYS_API int devsys_runner_cancel(devsys_runner *runner);

/** Create the per-task working place (remote-ssh: <remote_dir>/devsys-<id>-task-<task>). */
DEVSYS_API int devsys_runner_prepare(devsys_runner *runner, devsys_task *task);

/** Remove the per-task working place. Always call it; errors are logged and returned. */
DEVSYS_API int devsys_runner_cleanup(devsys_runner *runner, devsys_task *task);

/**
 * The runner's working directory for @p task (or the runner-wide one for
 * NULL), borrowed, or NULL when the runner has none.
 * @return borrowed: from @p runner, valid until it is freed (or the task is cleaned up); NULL when none.
 */
DEVSYS_API const char *devsys_runner_workdir(devsys_runner *runner, devsys_task *task);

/**
 * Copy a local file or directory tree to the execution place (remote: SFTP).
 * A relative @p remote is taken from the runner's working directory.
 * @return 0; DEVSYS_ENOTSUPPORTED when the runner cannot; DEVSYS_EIO; DEVSYS_ESYSTEM
 */
DEVSYS_API int devsys_runner_upload(devsys_runner *runner, const char *local, const char *remote);

/** Copy a file or directory tree from the execution place to @p local. */
DEVSYS_API int devsys_runner_download(devsys_runner *runner, const char *remote, const char *local);

#define DEVSYS_RUNNER_DESCRIPTION_VERSION 1

/** What a backend says about itself, for the task record (DESIGN §3). */
typedef struct devsys_runner_description {
	unsigned int version;   /**< DEVSYS_RUNNER_DESCRIPTION_VERSION, set by the caller */
	char type[64];          /**< the runner type ("host-docker") */
	char engine[64];        /**< the backend's own version ("docker 20.10.24, API 1.41"), or "" */
	char where[256];        /**< host, endpoint or image the commands run on/in */
	char image_id[128];     /**< container runners: the image id ("sha256:..."), or "" */
	char image_digest[256]; /**< container runners: a repo digest ("name@sha256:..."), or "" when the image has none */
} devsys_runner_description;

/**
 * Describe the open runner into @p out (every string NUL-terminated, "" when
 * unknown). Backends built before vtable version 2, or without the slot, get
 * their type only.
 * @return 0; DEVSYS_EINVAL; DEVSYS_EVERSION for an unknown @p out->version.
 *         Thread-safe with respect to other runners.
 */
DEVSYS_API int devsys_runner_describe(devsys_runner *runner, devsys_runner_description *out);

DEVSYS_END_DECL

#endif /* DEVSYS_RUNNER_H */
