/*
 * The document model shared by the loaders (lib/schema/json.c,
 * lib/spec/yaml.c) and the validator. Internal.
 */
#ifndef DEVSYS_SCHEMA_DOC_H
#define DEVSYS_SCHEMA_DOC_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena: every node, string and array of a document lives in one ---- */
typedef struct devsys__arena_chunk devsys__arena_chunk;
typedef struct devsys__arena {
	devsys__arena_chunk *head;
	size_t used;  /* bytes used in head */
	size_t total; /* bytes allocated in all chunks */
} devsys__arena;

void *devsys__arena_alloc(devsys__arena *a, size_t size);
char *devsys__arena_strndup(devsys__arena *a, const char *s, size_t n);
void devsys__arena_dispose(devsys__arena *a);

typedef struct devsys__member {
	const char *key;
	size_t keylen;
	devsys_node *val;
} devsys__member;

struct devsys_node {
	uint8_t type;   /* devsys_node_type */
	uint8_t is_int; /* NUMBER with an integral value */
	uint32_t line, col;
	const char *src; /* display name, owned by the same arena */
	union {
		int b;
		double num;
		struct {
			const char *s;
			size_t len;
		} str;
		struct {
			devsys_node **items;
			size_t n;
		} arr;
		struct {
			devsys__member *m;
			size_t n;
		} obj;
	} u;
};

/* Member lookup by key (linear for small objects). */
const devsys_node *devsys__node_member(const devsys_node *obj, const char *key, size_t keylen);
/* Deep structural equality (1 == 1.0; object member order ignored). */
bool devsys__node_equal(const devsys_node *a, const devsys_node *b);
/* Deep copy into @p a (shared aliases become copies). NULL on OOM. */
devsys_node *devsys__node_copy(devsys__arena *a, const devsys_node *n);

/* ---- the tree builder used by both loaders ---- */
typedef struct devsys__builder_frame {
	devsys_node *node;  /* the array/object being built */
	size_t start;       /* first index of its children on the member stack */
} devsys__builder_frame;

typedef struct devsys__builder {
	devsys__arena *arena;
	const char *src;
	devsys__builder_frame *frames;
	size_t nframes, aframes;
	devsys__member *stack;
	size_t nstack, astack;
	const char *pending_key; /* object key waiting for its value */
	size_t pending_keylen;
	uint32_t key_line, key_col;
	size_t max_depth;
	size_t max_nodes, nodes;
	devsys_node *root;
	/* error position for duplicate keys */
	uint32_t err_line, err_col;
} devsys__builder;

void devsys__builder_init(devsys__builder *b, devsys__arena *arena, const char *src, size_t max_depth,
                          size_t max_nodes);
void devsys__builder_dispose(devsys__builder *b);
/* A new node of @p type at line/col, not yet attached. */
devsys_node *devsys__builder_node(devsys__builder *b, int type, uint32_t line, uint32_t col);
/* Set the key for the next value (object context). Copies the key. */
int devsys__builder_key(devsys__builder *b, const char *key, size_t len, uint32_t line, uint32_t col);
/* Attach a scalar (or a finished/shared node) to the current container or as root. */
int devsys__builder_add(devsys__builder *b, devsys_node *n);
/* Open/close a container. */
int devsys__builder_open(devsys__builder *b, devsys_node *n);
int devsys__builder_close(devsys__builder *b);
/* Count @p n expanded nodes against max_nodes. */
int devsys__builder_count(devsys__builder *b, size_t n);
/* True while the innermost open container is an object. */
bool devsys__builder_in_object(const devsys__builder *b);

/* ---- JSON reader ---- */
/* Parse one JSON document from data/len into @p arena. Nodes point at
 * @p src (not copied): it must live as long as the nodes. Errors are
 * DEVSYS_EPARSE / DEVSYS_ELIMIT with "src:line:col: what". */
int devsys__json_parse(devsys_node **out, devsys__arena *arena, const char *data, size_t len, const char *src,
                       size_t max_depth, size_t max_nodes);

/* ---- UTF-8 ---- */
/* Length of the valid UTF-8 prefix sequence at s (1..4), or 0 when invalid. */
size_t devsys__utf8_seq(const unsigned char *s, size_t len, uint32_t *cp);
/* Number of code points in a valid UTF-8 string. */
size_t devsys__utf8_count(const char *s, size_t len);

/* ---- numbers without libm (the library does not link it) ---- */
static inline double devsys__floor(double x)
{
	if (!(x > -4503599627370496.0 && x < 4503599627370496.0))
		return x; /* already integral, infinite or NaN */
	double d = (double)(int64_t)x;
	return d > x ? d - 1.0 : d;
}
static inline double devsys__fabs(double x)
{
	return x < 0 ? -x : x;
}
static inline bool devsys__is_integral(double x)
{
	return x - x == 0.0 && devsys__floor(x) == x;
}

/* ---- JSON text helpers ---- */
int devsys__json_put_string(devsys_buf *out, const char *s, size_t len);

#endif /* DEVSYS_SCHEMA_DOC_H */
