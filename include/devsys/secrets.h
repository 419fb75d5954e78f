/*
 * libdevsys - secrets: resolution through providers, audit, and masking.
 */
#ifndef DEVSYS_SECRETS_H
#define DEVSYS_SECRETS_H

#include "common.h"
#include "buf.h"
#include "workspace.h"
#include "task.h"
#include "sys/redactor.h"
#include "sys/secrets.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/secrets.h
 * @brief Secret values (env, file, docker-secret, command providers), audit
 *        events and Aho-Corasick masking of output and log lines.
 *
 * Every module gets secret values through this module and nowhere else.
 * Values live in library memory that is wiped with explicit_bzero() when it
 * is released; libdevsys never writes a value to disk, a log line, an error
 * message or an argv.
 */

/** A set of declared secrets and their resolved values. Not thread-safe. */
typedef struct devsys_secrets devsys_secrets;

/**
 * One secret resolution, reported to the callbacks of the options (audit_cb,
 * and event_cb with the task handle). Never holds the value.
 *
 * This module never writes the task's record: a caller that wants the
 * resolution in the task's events.jsonl sets event_cb (the pipeline does;
 * devsys_record_secret_event() in devsys/record.h is a ready-made one).
 * Without event_cb (options version 1, or NULL options), a resolution for a
 * task is appended to <task>/events.audit.jsonl, this module's own audit
 * file, as {"ts","type":"secret.resolve","data"}.
 */
typedef struct devsys_secret_event {
	unsigned int version;  /**< 1 */
	const char *name;      /**< the secret's name */
	const char *provider;  /**< "env", "file", "docker-secret", "command", or a registered name */
	const char *task_id;   /**< the task it was resolved for, or NULL */
	const char *stage;     /**< the pipeline stage, or NULL */
	int cached;            /**< 1 when a still-valid cached value was reused */
	int error;             /**< 0, or the DEVSYS_E* code of a failed resolution */
} devsys_secret_event;

/** Receives audit events. Called on the thread that resolves. */
typedef void (*devsys_secret_audit_cb)(const devsys_secret_event *event, void *payload);

/**
 * Receives each resolution with the task it was made for (NULL: none), so
 * the caller can record it (see devsys_record_secret_event()). Called on
 * the thread that resolves, after the audit_cb. Return 0; non-zero makes
 * the resolution fail with DEVSYS_EUSER and hands out no value (a secret is
 * not used unaudited).
 */
typedef int (*devsys_secret_event_cb)(const devsys_secret_event *event, devsys_task *task, void *payload);

/*
 * Version history of devsys_secrets_options:
 *  - 1: docker_secrets_dir, command_timeout_ms, audit_cb, audit_payload, ws.
 *  - 2: event_cb, event_payload.
 */
#define DEVSYS_SECRETS_OPTIONS_VERSION 2

/** Options of devsys_secrets_new(). */
typedef struct devsys_secrets_options {
	unsigned int version;            /**< DEVSYS_SECRETS_OPTIONS_VERSION */
	const char *docker_secrets_dir;  /**< NULL: "/run/secrets" */
	unsigned int command_timeout_ms; /**< command provider timeout; 0: 10000 */
	devsys_secret_audit_cb audit_cb; /**< NULL: no callback */
	void *audit_payload;             /**< passed to audit_cb */
	devsys_workspace *ws;            /**< optional: where warnings are logged (the set takes a reference) */
	/** (2) where resolutions go; set: no task file is written by this module. NULL: events.audit.jsonl */
	devsys_secret_event_cb event_cb;
	void *event_payload;             /**< (2) passed to event_cb */
} devsys_secrets_options;

#define DEVSYS_SECRETS_OPTIONS_INIT { DEVSYS_SECRETS_OPTIONS_VERSION, NULL, 0u, NULL, NULL, NULL, NULL, NULL }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_secrets_options_init(devsys_secrets_options *opts, unsigned int version);

#define DEVSYS_SECRET_DEF_VERSION 1

/** The declaration of one secret. */
typedef struct devsys_secret_def {
	unsigned int version;     /**< DEVSYS_SECRET_DEF_VERSION */
	const char *name;         /**< [A-Za-z0-9_.-]{1,64}; used in audit and in [MASKED:<name>] */
	const char *provider;     /**< "env", "file", "docker-secret", "command" or a registered provider */
	const char *ref;          /**< env: variable name; file: path; docker-secret: secret name;
	                               NULL means @c name. Unused by command. */
	const char *const *argv;  /**< command: the CLI to run (NULL-terminated, no shell); its stdout
	                               minus one trailing newline is the value */
	unsigned int ttl_s;       /**< 0: resolved once and cached; otherwise re-resolved when older
	                               than ttl_s seconds or when resolved for another task */
} devsys_secret_def;

#define DEVSYS_SECRET_DEF_INIT { DEVSYS_SECRET_DEF_VERSION, NULL, NULL, NULL, NULL, 0u }

/**
 * Create an empty secret set.
 * @param out  receives the handle; free with devsys_secrets_free()
 * @param opts NULL for defaults; copied
 * @return 0, DEVSYS_EINVAL, DEVSYS_EVERSION, DEVSYS_ENOMEM, DEVSYS_ENOTINIT
 * @param out new: the set (it holds a reference on the options' ws); free with devsys_secrets_free().
 */
DEVSYS_API int devsys_secrets_new(devsys_secrets **out, const devsys_secrets_options *opts);

/** Wipe every value and free the set. NULL is fine. */
DEVSYS_API void devsys_secrets_free(devsys_secrets *secrets);

/**
 * Declare a secret (copied). Nothing is resolved yet.
 * @return 0; DEVSYS_EINVALID for a bad name or a missing ref/argv; DEVSYS_ENOTFOUND for an
 *         unknown provider; DEVSYS_EEXISTS when the name is already declared.
 */
DEVSYS_API int devsys_secrets_define(devsys_secrets *secrets, const devsys_secret_def *def);

/**
 * Resolve a secret for a task and stage, reusing a cached value when it is
 * still valid (see devsys_secret_def.ttl_s), and report one audit event.
 *
 * @param value receives a pointer to the value, borrowed from @p secrets and
 *              valid until the secret is resolved again or the set is freed.
 *              The value is NUL-terminated; @p len (optional) gets its length.
 * @param task  optional: names the task in the audit event, handed to
 *              event_cb (or, without one, the event is appended to
 *              <task>/events.audit.jsonl)
 * @param stage optional stage name ("test", "deploy", ...)
 * @return 0; DEVSYS_ENOTFOUND (undeclared name, unset variable, missing file);
 *         DEVSYS_ETIMEOUT (command provider); DEVSYS_ESYSTEM (command failed);
 *         DEVSYS_EIO; DEVSYS_EUSER (event_cb refused: the event was not
 *         recorded). Messages name the secret and provider, never the value.
 * @param value borrowed: from @p secrets, valid until the secret is resolved again or the set is freed.
 */
DEVSYS_API int devsys_secrets_resolve(devsys_secrets *secrets, const char *name, devsys_task *task,
                                      const char *stage, const char **value, size_t *len);

/**
 * The data of a "secret.resolve" event as JSON: {"name","provider","task",
 * "stage","cached","error"} (error: the DEVSYS_E* name or null). Never the
 * value. Into @p out (cleared first). @return 0, DEVSYS_EINVAL, DEVSYS_ENOMEM.
 * Thread-safe.
 */
DEVSYS_API int devsys_secret_event_json(devsys_buf *out, const devsys_secret_event *event);

/** Resolve every declared secret (as devsys_secrets_resolve()); stops at the first error. */
DEVSYS_API int devsys_secrets_resolve_all(devsys_secrets *secrets, devsys_task *task, const char *stage);

/* ---------------------------------------------------------------------- */

/**
 * An Aho-Corasick automaton over secret values. Add patterns, then use it
 * from any number of threads at once (it is immutable after the first
 * mask/stream call).
 */
typedef struct devsys_masker devsys_masker;

/**
 * Create an empty masker. Free with devsys_masker_free().
 * @param out new: the masker; free with devsys_masker_free().
 */
DEVSYS_API int devsys_masker_new(devsys_masker **out);

/**
 * Release the caller's reference to a masker. NULL is fine. Streams and
 * redactors made from it, and runners given it, hold their own reference, so
 * they stay usable after this call; the masker is freed (and its secrets
 * wiped) when the last of them is freed.
 */
DEVSYS_API void devsys_masker_free(devsys_masker *masker);

/**
 * Add a secret value to mask as "[MASKED:<name>]". A multiline value is
 * added line by line (each line is masked). Lines shorter than 4 bytes are
 * refused as maskable instead of over-masking: then the return is
 * DEVSYS_EINVALID with a warning in the last error (and in @p ws's log if the
 * masker was made by devsys_secrets_masker()); the other lines are still added.
 * @return 0, DEVSYS_EINVALID, DEVSYS_EBUSY (masker already in use), DEVSYS_ENOMEM
 */
DEVSYS_API int devsys_masker_add(devsys_masker *masker, const char *name, const char *value, size_t len);

/** Number of patterns (lines) the masker holds. */
DEVSYS_API size_t devsys_masker_count(const devsys_masker *masker);

/**
 * A masker over every value the set has resolved so far (refused short
 * values are logged as warnings to the set's workspace). Free with
 * devsys_masker_free().
 * @param out new: a masker (it holds a reference on the set's workspace, not on the set); free with devsys_masker_free().
 */
DEVSYS_API int devsys_secrets_masker(devsys_masker **out, devsys_secrets *secrets);

/** Mask a whole text at once, appending the result to @p out. */
DEVSYS_API int devsys_masker_mask(devsys_masker *masker, const char *text, size_t len, devsys_buf *out);

/** Receives masked output from a stream; a non-zero return aborts with DEVSYS_EUSER. */
typedef int (*devsys_mask_write_cb)(const char *data, size_t len, void *payload);

/** Streaming masker state: correct when a secret is split across writes. Not thread-safe. */
typedef struct devsys_mask_stream devsys_mask_stream;

/**
 * Create a stream over @p masker (it holds a reference) that passes masked bytes to @p cb.
 * @param out new: the stream (it holds a reference on @p masker); free with devsys_mask_stream_free().
 */
DEVSYS_API int devsys_mask_stream_new(devsys_mask_stream **out, devsys_masker *masker, devsys_mask_write_cb cb,
                                      void *payload);

/** Feed bytes. Bytes that may start a secret are held back until decided. */
DEVSYS_API int devsys_mask_stream_write(devsys_mask_stream *stream, const char *data, size_t len);

/** End of input: emit everything still held back. The stream can be reused afterwards. */
DEVSYS_API int devsys_mask_stream_finish(devsys_mask_stream *stream);

/** Free a stream (held-back bytes are wiped, not emitted). NULL is fine. */
DEVSYS_API void devsys_mask_stream_free(devsys_mask_stream *stream);

/**
 * A redactor (devsys/sys/redactor.h) that masks with @p masker, for
 * devsys_workspace_add_redactor(ws, *vtable, *self). The redactor holds a
 * reference on @p masker, dropped by its release slot (which the workspace
 * calls when it is freed); a caller that does not register it calls
 * (*vtable)->release(*self) itself.
 * @param vtable borrowed: a static table, valid for the life of the process.
 * @param self new: a reference on @p masker; released by (*vtable)->release(*self), which the workspace calls when the redactor was added to it.
 */
DEVSYS_API int devsys_masker_redactor(const devsys_redactor_vtable **vtable, void **self, devsys_masker *masker);

DEVSYS_END_DECL

#endif /* DEVSYS_SECRETS_H */
