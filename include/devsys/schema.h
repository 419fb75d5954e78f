/*
 * libdevsys - the document model and the JSON Schema validator.
 */
#ifndef DEVSYS_SCHEMA_H
#define DEVSYS_SCHEMA_H

#include "common.h"
#include "buf.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/schema.h
 * @brief JSON documents with source positions, and a JSON Schema validator.
 *
 * Documents are trees of devsys_node, produced by the loaders in
 * devsys/spec.h (YAML or JSON). Every node remembers where it came from
 * (file name, line and column, 1-based), so a validation error can point
 * at `file:line:col`.
 *
 * A schema is compiled once with devsys_schema_compile() and then validates
 * any number of documents with devsys_schema_validate(). Draft 2020-12 and
 * draft-07 are supported, chosen by the schema's `$schema` (default: 2020-12,
 * or the options' default_draft). The meta-schemas of both drafts are part
 * of every schema set.
 *
 * Threads: nodes and compiled schemas are immutable; a compiled schema may
 * validate from many threads at once. A devsys_validation result belongs to
 * one thread at a time.
 */

/* ------------------------------------------------------------------ */
/* Document model                                                      */
/* ------------------------------------------------------------------ */

/** A node of a loaded document. Borrowed from the devsys_spec that loaded it. */
typedef struct devsys_node devsys_node;

/** The JSON type of a node. */
typedef enum devsys_node_type {
	DEVSYS_NODE_NULL = 0,
	DEVSYS_NODE_BOOL = 1,
	DEVSYS_NODE_NUMBER = 2, /**< integers and reals; see devsys_node_is_integer() */
	DEVSYS_NODE_STRING = 3,
	DEVSYS_NODE_ARRAY = 4,
	DEVSYS_NODE_OBJECT = 5
} devsys_node_type;

/** The node's type; DEVSYS_NODE_NULL for a NULL node. */
DEVSYS_API devsys_node_type devsys_node_get_type(const devsys_node *node);

/** 1-based line of the node in its source; 0 for NULL. */
DEVSYS_API unsigned int devsys_node_line(const devsys_node *node);

/** 1-based column of the node in its source (bytes for JSON, characters for
 * YAML); 0 for NULL. */
DEVSYS_API unsigned int devsys_node_column(const devsys_node *node);

/** The display name of the node's source (file name or the name given to a
 * buffer loader). Borrowed from the spec that owns the node; "" for NULL.
 * @return borrowed: from the spec that owns @p node, valid until it is freed; "" for NULL.
 */
DEVSYS_API const char *devsys_node_source(const devsys_node *node);

/**
 * The string of a STRING node, NUL-terminated, or NULL when @p node is not a
 * string. Strings may contain NUL only when loaded from JSON "\u0000"; use
 * @p len (may be NULL) for the full length. Borrowed from the owning spec.
 * @return borrowed: from the spec that owns @p node, valid until it is freed; NULL when not a string.
 */
DEVSYS_API const char *devsys_node_string(const devsys_node *node, size_t *len);

/** The value of a NUMBER node (0.0 for other nodes). */
DEVSYS_API double devsys_node_number(const devsys_node *node);

/** 1 when @p node is a NUMBER with an integral value (1 and 1.0 both are). */
DEVSYS_API int devsys_node_is_integer(const devsys_node *node);

/** 1 for a BOOL node that is true, 0 otherwise. */
DEVSYS_API int devsys_node_bool(const devsys_node *node);

/** Number of elements of an ARRAY or members of an OBJECT; 0 otherwise. */
DEVSYS_API size_t devsys_node_size(const devsys_node *node);

/** Element @p i of an ARRAY, or member value @p i of an OBJECT (in source
 * order); NULL when out of range or a scalar.
 * @return borrowed: from the spec that owns @p node, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const devsys_node *devsys_node_at(const devsys_node *node, size_t i);

/**
 * Key of member @p i of an OBJECT (in source order), or NULL.
 * @return borrowed: from the spec that owns @p node, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_node_key_at(const devsys_node *node, size_t i);

/**
 * Member @p key of an OBJECT, or NULL.
 * @return borrowed: from the spec that owns @p node, valid until it is freed; NULL when absent.
 */
DEVSYS_API const devsys_node *devsys_node_member(const devsys_node *node, const char *key);

/**
 * Resolve a JSON pointer (RFC 6901, e.g. "/repo/url" or "/agent/command/0")
 * below @p node. "" is @p node itself. NULL when nothing is there, the
 * pointer is malformed or one of its tokens is longer than 1023 bytes.
 * @return borrowed: from the spec that owns @p node, valid until it is freed; NULL when nothing is there.
 */
DEVSYS_API const devsys_node *devsys_node_get(const devsys_node *node, const char *pointer);

/**
 * Serialise @p node as compact JSON, appended to @p out.
 * @return 0, DEVSYS_EINVAL or DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_node_to_json(devsys_buf *out, const devsys_node *node);

/* ------------------------------------------------------------------ */
/* Schemas                                                             */
/* ------------------------------------------------------------------ */

/** A compiled schema (with its resources and the meta-schemas). Immutable. */
typedef struct devsys_schema devsys_schema;

/** The result of one validation: the list of errors. */
typedef struct devsys_validation devsys_validation;

/** One validation error, borrowed from its devsys_validation. */
typedef struct devsys_validation_error devsys_validation_error;

/** Schema drafts. */
typedef enum devsys_schema_draft {
	DEVSYS_SCHEMA_DRAFT_DEFAULT = 0, /**< use the options' default (2020-12) */
	DEVSYS_SCHEMA_DRAFT7 = 7,
	DEVSYS_SCHEMA_DRAFT2020_12 = 202012
} devsys_schema_draft;

/** `format` asserts (uri, uri-reference, email, date-time, date, time,
 * regex, ipv4, ipv6, hostname, uuid, json-pointer, duration) instead of only
 * annotating. */
#define DEVSYS_SCHEMA_FORMAT_ASSERT (1u << 0)

/*
 * Version history of devsys_schema_options:
 *  - 1: flags, default_draft, base_uri, resources, resource_uris,
 *       resource_count, max_errors, regex_match_limit.
 */
#define DEVSYS_SCHEMA_OPTIONS_VERSION 1

/** Options for devsys_schema_compile(). */
typedef struct devsys_schema_options {
	unsigned int version;              /**< DEVSYS_SCHEMA_OPTIONS_VERSION */
	unsigned int flags;                /**< DEVSYS_SCHEMA_* flags */
	int default_draft;                 /**< draft when the schema has no $schema; 0: 2020-12 */
	const char *base_uri;              /**< the root schema's retrieval URI; NULL: a generated urn */
	/** Extra schema documents that $ref may reach (e.g. remote schemas),
	 * copied at compile time. */
	const devsys_node *const *resources;
	/** The URI of each resource, or NULL (or a NULL entry) to use its $id. */
	const char *const *resource_uris;
	size_t resource_count;             /**< number of resources */
	size_t max_errors;                 /**< errors kept per validation; 0: 100 */
	unsigned long regex_match_limit;   /**< PCRE2 match limit; 0: 1 000 000 */
} devsys_schema_options;

#define DEVSYS_SCHEMA_OPTIONS_INIT { DEVSYS_SCHEMA_OPTIONS_VERSION, 0u, 0, NULL, NULL, NULL, 0, 0, 0ul }

/**
 * Initialise @p opts to the defaults of @p version.
 * @return 0, DEVSYS_EINVAL (NULL) or DEVSYS_EVERSION.
 */
DEVSYS_API int devsys_schema_options_init(devsys_schema_options *opts, unsigned int version);

/**
 * Compile a schema.
 *
 * The schema and the resources are copied: @p schema and its spec may be
 * freed afterwards. References ($ref, $dynamicRef) are resolved now; every
 * regular expression is compiled now.
 *
 * @param out    receives the schema; free with devsys_schema_free()
 * @param schema the root schema node (an object or a boolean)
 * @param opts   NULL for defaults
 * @return 0; DEVSYS_EINVAL; DEVSYS_EVERSION; DEVSYS_ENOMEM;
 *         DEVSYS_EINVALID (not a valid schema: a $ref to a missing
 *         definition, an invalid regex, a keyword of the wrong type; the
 *         message names the schema location).
 * Thread-safe.
 * @param out new: the compiled schema (it copies what it needs from @p schema); free with devsys_schema_free().
 */
DEVSYS_API int devsys_schema_compile(devsys_schema **out, const devsys_node *schema,
                                     const devsys_schema_options *opts);

/** Free a compiled schema. NULL is fine. */
DEVSYS_API void devsys_schema_free(devsys_schema *schema);

/** The draft a compiled schema's root uses. */
DEVSYS_API devsys_schema_draft devsys_schema_get_draft(const devsys_schema *schema);

/**
 * Validate @p instance.
 *
 * With @p out NULL the validation stops at the first error (the fast
 * yes/no check). Otherwise @p out receives every error (up to the options'
 * max_errors), also when the document is valid (then with no errors); free
 * it with devsys_validation_free().
 *
 * @return 0 valid; DEVSYS_EINVALID invalid (the last error's message is the
 *         first validation error, "file:line:col: /pointer: message");
 *         DEVSYS_ELIMIT (evaluation too deep, e.g. a cyclic $ref, or a regex
 *         hit its match limit); DEVSYS_EINVAL; DEVSYS_ENOMEM.
 * Thread-safe: many threads may validate with one schema.
 * @param out new: the validation result (when not NULL); free with devsys_validation_free().
 */
DEVSYS_API int devsys_schema_validate(devsys_validation **out, const devsys_schema *schema,
                                      const devsys_node *instance);

/** Free a validation result. NULL is fine. */
DEVSYS_API void devsys_validation_free(devsys_validation *v);

/** 1 when the validation found no error. */
DEVSYS_API int devsys_validation_valid(const devsys_validation *v);

/** Number of errors. */
DEVSYS_API size_t devsys_validation_count(const devsys_validation *v);

/**
 * Error @p i (0-based) or NULL; borrowed from @p v.
 * @return borrowed: from @p v, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const devsys_validation_error *devsys_validation_at(const devsys_validation *v, size_t i);

/**
 * Human message, e.g. "'x' is not one of [\"a\", \"b\"]". Borrowed.
 * @return borrowed: from the validation @p e belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_validation_error_message(const devsys_validation_error *e);

/**
 * JSON pointer into the instance ("/repo/url"; "" for the root). Borrowed.
 * @return borrowed: from the validation @p e belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_validation_error_instance_location(const devsys_validation_error *e);

/**
 * The schema path that failed, through $ref ("/properties/repo/$ref/type"). Borrowed.
 * @return borrowed: from the validation @p e belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_validation_error_keyword_location(const devsys_validation_error *e);

/**
 * The absolute URI of the failing keyword ("urn:...#/$defs/repo/type"). Borrowed.
 * @return borrowed: from the validation @p e belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_validation_error_absolute_keyword_location(const devsys_validation_error *e);

/**
 * The failing keyword ("type", "required", ...). Borrowed.
 * @return borrowed: from the validation @p e belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_validation_error_keyword(const devsys_validation_error *e);

/**
 * Source name of the instance node that failed. Borrowed.
 * @return borrowed: from the validation @p e belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_validation_error_file(const devsys_validation_error *e);

/** 1-based line of the failing instance node (0 when unknown). */
DEVSYS_API unsigned int devsys_validation_error_line(const devsys_validation_error *e);

/** 1-based column of the failing instance node (0 when unknown). */
DEVSYS_API unsigned int devsys_validation_error_column(const devsys_validation_error *e);

/**
 * Append the errors as JSON in the JSON Schema "basic" output format:
 * {"valid": false, "errors": [{"keywordLocation", "absoluteKeywordLocation",
 * "instanceLocation", "error", "file", "line", "column"}, ...]}.
 * @return 0, DEVSYS_EINVAL or DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_validation_to_json(devsys_buf *out, const devsys_validation *v);

DEVSYS_END_DECL

#endif /* DEVSYS_SCHEMA_H */
