/*
 * libdevsys - task specs: loading YAML/JSON with positions, and validating
 * against the canonical task schema.
 */
#ifndef DEVSYS_SPEC_H
#define DEVSYS_SPEC_H

#include "common.h"
#include "buf.h"
#include "schema.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/spec.h
 * @brief Task specs: load (YAML or JSON), validate, read fields.
 *
 * A devsys_spec is one loaded file or buffer. YAML files may hold several
 * documents ("---"); each is one task spec, reached with devsys_spec_at().
 * JSON holds exactly one document.
 *
 * Loading rules (docs/specs.md): YAML anchors/aliases are expanded with a
 * cap on the expanded size; duplicate keys are an error; only the YAML core
 * schema tags are accepted; the YAML 1.1 booleans (yes/no/on/off/y/n, any
 * case) are rejected when unquoted, so that no spec silently means
 * something else in another YAML reader; the input must be UTF-8 without
 * NUL bytes; size and nesting depth are limited.
 *
 * Typical use (devsysd's POST /api/tasks):
 *
 *     devsys_spec *spec; devsys_validation *v = NULL;
 *     if (devsys_spec_load_buffer(&spec, body, len, "request", NULL) == 0) {
 *         if (devsys_spec_validate(&v, spec, 0) == 0)
 *             id = devsys_spec_get_string(spec, "/id");
 *         else
 *             devsys_validation_to_json(&json, v);   // 422 body
 *     }
 *
 * Threads: a loaded spec is immutable and may be read from many threads.
 */
typedef struct devsys_spec devsys_spec;

/** Input formats. */
typedef enum devsys_spec_format {
	DEVSYS_SPEC_FORMAT_AUTO = 0, /**< JSON when the first non-blank byte is '{' or '[', else YAML */
	DEVSYS_SPEC_FORMAT_YAML = 1,
	DEVSYS_SPEC_FORMAT_JSON = 2
} devsys_spec_format;

/*
 * Version history of devsys_spec_options:
 *  - 1: format, max_size, max_depth, max_nodes.
 */
#define DEVSYS_SPEC_OPTIONS_VERSION 1

/** Loader options. */
typedef struct devsys_spec_options {
	unsigned int version; /**< DEVSYS_SPEC_OPTIONS_VERSION */
	int format;           /**< devsys_spec_format */
	size_t max_size;      /**< input bytes; 0: 16 MiB. Larger input: DEVSYS_ELIMIT */
	size_t max_depth;     /**< nesting depth; 0: 256; at most 10 000 */
	size_t max_nodes;     /**< nodes after alias expansion, per document; 0: 1 000 000 */
} devsys_spec_options;

#define DEVSYS_SPEC_OPTIONS_INIT { DEVSYS_SPEC_OPTIONS_VERSION, DEVSYS_SPEC_FORMAT_AUTO, 0, 0, 0 }

/**
 * Initialise @p opts to the defaults of @p version.
 * @return 0, DEVSYS_EINVAL (NULL) or DEVSYS_EVERSION.
 */
DEVSYS_API int devsys_spec_options_init(devsys_spec_options *opts, unsigned int version);

/**
 * Load a spec from memory.
 *
 * @param out   receives the spec; free it with devsys_spec_free()
 * @param data  the bytes (copied as needed; need not be NUL-terminated)
 * @param len   their length
 * @param name  display name used in positions ("request", "spec.yaml");
 *              NULL means "<buffer>"; copied
 * @param opts  NULL for defaults
 * @return 0; DEVSYS_EINVAL; DEVSYS_EVERSION; DEVSYS_ENOMEM;
 *         DEVSYS_EPARSE (syntax error, not UTF-8, a NUL byte, duplicate
 *         key, rejected tag or YAML 1.1 boolean, no document; the message
 *         is "name:line:col: what"); DEVSYS_ELIMIT (size, depth or
 *         alias-expansion limit).
 * Thread-safe.
 * @param out new: the spec; free with devsys_spec_free().
 */
DEVSYS_API int devsys_spec_load_buffer(devsys_spec **out, const void *data, size_t len, const char *name,
                                       const devsys_spec_options *opts);

/**
 * Load a spec from a file; the display name is @p path. Files larger than
 * the options' max_size are refused without being read (DEVSYS_ELIMIT).
 * Errors as devsys_spec_load_buffer(), plus DEVSYS_ENOTFOUND, DEVSYS_EACCESS
 * and DEVSYS_EIO.
 * @param out new: the spec; free with devsys_spec_free().
 */
DEVSYS_API int devsys_spec_load_file(devsys_spec **out, const char *path, const devsys_spec_options *opts);

/** Free a spec and all its nodes. NULL is fine. */
DEVSYS_API void devsys_spec_free(devsys_spec *spec);

/**
 * The display name given at load time. Borrowed from @p spec.
 * @return borrowed: from @p spec, valid until it is freed.
 */
DEVSYS_API const char *devsys_spec_name(const devsys_spec *spec);

/** The format that was actually parsed (YAML or JSON). */
DEVSYS_API devsys_spec_format devsys_spec_get_format(const devsys_spec *spec);

/** Number of documents (at least 1 for a loaded spec). */
DEVSYS_API size_t devsys_spec_count(const devsys_spec *spec);

/**
 * Root node of document @p index, or NULL. Borrowed from @p spec.
 * @return borrowed: from @p spec, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const devsys_node *devsys_spec_at(const devsys_spec *spec, size_t index);

/**
 * The string at JSON pointer @p pointer in the FIRST document (e.g. "/id",
 * "/repo/url"), or NULL when absent or not a string. Borrowed from @p spec.
 * For other documents use devsys_node_get(devsys_spec_at(spec, i), ptr).
 * @return borrowed: from @p spec, valid until it is freed; NULL when absent.
 */
DEVSYS_API const char *devsys_spec_get_string(const devsys_spec *spec, const char *pointer);

/**
 * A value of the schema's timeout type in milliseconds: a number of seconds
 * (1 to 604800) or a duration "90s" / "30m" / "2h". @p what names the field
 * in the error ("agent.idle_timeout"). The one reader of such values, for
 * the built-in stages and for added ones.
 * @return 0; DEVSYS_EINVALID (not such a value: the message names the node's
 *         source position and @p what); DEVSYS_EINVAL (NULL @p node or @p ms_out).
 */
DEVSYS_API int devsys_spec_duration_ms(unsigned int *ms_out, const devsys_node *node, const char *what);

/**
 * The time limit a step of document @p index sets: @p step is "agent",
 * "tests" or "deploy" and the value is the spec's <step>.timeout (seconds,
 * or "90s" / "30m" / "2h") in milliseconds, ready for
 * devsys_runner_cmd.timeout_ms. Per-stage timeouts come from the spec this way.
 * @return 0; DEVSYS_ENOTFOUND when the spec sets none (use the operator's
 *         default); DEVSYS_EINVALID for a malformed value; DEVSYS_EINVAL.
 */
DEVSYS_API int devsys_spec_timeout_ms(const devsys_spec *spec, size_t index, const char *step, unsigned int *ms_out);

/**
 * Validate document @p index against the canonical task schema
 * (specs/task.schema.json, embedded in the library).
 *
 * @param out    NULL, or receives the errors (also when valid); free with
 *               devsys_validation_free()
 * @return 0 valid; DEVSYS_EINVALID invalid (last error: the first error as
 *         "file:line:col: /pointer: message"); DEVSYS_EINVAL (NULL, index
 *         out of range); DEVSYS_ENOMEM.
 * Thread-safe.
 * @param out new: the validation result (when not NULL); free with devsys_validation_free().
 */
DEVSYS_API int devsys_spec_validate(devsys_validation **out, const devsys_spec *spec, size_t index);

/**
 * Load a task spec from memory and validate it against the canonical task
 * schema in one call: devsys_spec_load_buffer() then devsys_spec_validate()
 * of its one document (the steps devsysd's POST /api/tasks and the
 * pipeline take), without a handle to keep when only the verdict is wanted.
 * A task spec is exactly one document: a YAML text holding several is
 * DEVSYS_EINVALID (then @p vout stays NULL).
 *
 * @param out   NULL (the spec is freed before returning), or receives the
 *              spec whenever it loaded, valid or not; NULL on a load error
 * @param vout  NULL, or receives the validation (also when valid) whenever
 *              the one document was validated; NULL otherwise
 * @param data  the bytes, as devsys_spec_load_buffer()
 * @param len   their length
 * @param name  display name used in positions; NULL means "<buffer>"
 * @param opts  NULL for defaults
 * @return 0 valid; DEVSYS_EINVALID (invalid: last error the first error as
 *         "file:line:col: /pointer: message"; or more than one document);
 *         the errors of devsys_spec_load_buffer() (DEVSYS_EPARSE,
 *         DEVSYS_ELIMIT, DEVSYS_EINVAL, DEVSYS_EVERSION, DEVSYS_ENOMEM),
 *         with @p out and @p vout NULL.
 * Thread-safe.
 * @param out new: the spec (when not NULL); free with devsys_spec_free().
 * @param vout new: the validation result (when not NULL); free with devsys_validation_free().
 */
DEVSYS_API int devsys_spec_validate_buffer(devsys_spec **out, devsys_validation **vout, const void *data, size_t len,
                                           const char *name, const devsys_spec_options *opts);

/**
 * The canonical task schema, compiled once (lazily, thread-safe) and owned
 * by the library; valid until devsys_shutdown(). Do not free it.
 * @return 0 or DEVSYS_ENOMEM.
 * @param out borrowed: owned by the library, valid until devsys_shutdown(); never freed by the caller.
 */
DEVSYS_API int devsys_spec_task_schema(const devsys_schema **out);

/**
 * The canonical task schema's JSON text (NUL-terminated, static).
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_spec_task_schema_text(void);

DEVSYS_END_DECL

#endif /* DEVSYS_SPEC_H */
