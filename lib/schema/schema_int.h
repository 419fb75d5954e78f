/*
 * Compiled JSON Schema internals, shared by compile.c, validate.c, format.c.
 */
#ifndef DEVSYS_SCHEMA_INT_H
#define DEVSYS_SCHEMA_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "schema/doc.h"

/* vocabularies (2020-12); draft-07 gets all but UNEVAL */
enum {
	V_APPLICATOR = 1u << 0,
	V_UNEVAL = 1u << 1,
	V_VALIDATION = 1u << 2,
	V_FORMAT_ASSERT = 1u << 3,
	V_CONTENT = 1u << 4,
	V_META = 1u << 5,
	V_FORMAT_ANN = 1u << 6
};

#define DRAFT7 7
#define DRAFT2020 202012

/* type bits, indexed by devsys_node_type, plus INTEGER */
#define T_INTEGER (1u << 6)

typedef struct sch sch;

typedef struct resource {
	char *uri; /* absolute, without fragment */
	const devsys_node *root;
	int draft;
	unsigned vocab;
	struct dynanchor {
		const char *name;
		const devsys_node *node;
		sch *compiled;
	} *dyn;
	size_t ndyn, adyn;
	bool used; /* some compiled schema lives in it */
} resource;

typedef struct urient {
	char *uri;
	resource *res;
} urient;

typedef struct regex {
	pcre2_code *code;
	const char *src;
	bool jit; /* JIT-compiled: match with pcre2_jit_match() */
	uint32_t minlen; /* no subject shorter than this (in characters) can match */
} regex;

typedef struct prop {
	const char *key;
	size_t keylen;
	sch *s;
} prop;

typedef struct pprop {
	regex re;
	sch *s;
} pprop;

typedef struct depreq {
	const char *key;
	size_t keylen;
	const devsys_node *names; /* array of strings */
} depreq;

enum fmt {
	F_NONE = 0,
	F_DATE_TIME,
	F_DATE,
	F_TIME,
	F_DURATION,
	F_EMAIL,
	F_HOSTNAME,
	F_IPV4,
	F_IPV6,
	F_URI,
	F_URI_REFERENCE,
	F_UUID,
	F_REGEX,
	F_JSON_POINTER,
	F_REL_JSON_POINTER,
	F_OTHER
};

/* numeric limits present */
enum {
	N_MIN = 1, N_MAX = 2, N_EXMIN = 4, N_EXMAX = 8, N_MULT = 16
};

#define NO_LIMIT ((size_t)-1)

struct sch {
	const devsys_node *node;
	uint8_t boolean; /* 0: object schema, 1: true, 2: false */
	bool compiled;
	bool uses_ann;   /* has unevaluated* itself */
	bool ref_only;   /* only $ref (plus annotations): the fast path jumps straight to the target */
	int draft;
	unsigned vocab;
	const char *abs; /* absolute location "uri#/pointer" */
	resource *res;
	const char *errmsg; /* x-devsys-error: message replacing this schema's own errors */
	const char *desc;   /* description, for messages */

	sch *ref;
	sch *dynref;
	const char *dynref_anchor; /* non-NULL: resolve dynamically against this anchor name */

	unsigned types; /* 0: no type keyword */
	const devsys_node *cnst;
	const devsys_node *enm;
	unsigned nflags;
	double minimum, maximum, exmin, exmax, mult;
	size_t min_len, max_len, min_items, max_items, min_props, max_props, min_contains, max_contains;
	bool unique;
	bool has_pattern;
	regex pattern;
	int format;
	const char *format_name;

	sch **all_of, **any_of, **one_of;
	size_t n_all_of, n_any_of, n_one_of;
	sch *not_, *if_, *then_, *else_;

	sch **prefix;
	size_t n_prefix;
	sch *items; /* 2020-12: after prefixItems; draft-07: the schema form of items, or additionalItems */
	bool items_is_additional; /* draft-07: items array + additionalItems */
	sch *contains;

	prop *props;
	size_t n_props;
	pprop *pprops;
	size_t n_pprops;
	sch *add_props;
	sch *prop_names;
	const devsys_node *required; /* array of strings */
	depreq *dep_req;
	size_t n_dep_req;
	prop *dep_sch;
	size_t n_dep_sch;
	sch *uneval_props, *uneval_items;
};

typedef struct anchor_ent {
	char *key; /* "uri#name" */
	const devsys_node *node;
	resource *res;
	bool dynamic;
} anchor_ent;

typedef struct nodeinfo {
	const devsys_node *node;
	resource *res;
	char *ptr;
	sch *compiled;
} nodeinfo;

struct devsys_schema {
	devsys__arena arena; /* copies of the caller's nodes and every compiled structure */
	unsigned flags;
	size_t max_errors;
	unsigned long match_limit;
	pcre2_match_context *mctx;
	sch *root;
	int root_draft;
	bool need_ann; /* some schema uses unevaluated* */

	resource **res;
	size_t nres, ares;
	urient *uris;
	size_t nuris, auris;
	anchor_ent *anchors;
	size_t nanchors, aanchors;
	/* node -> info, open addressing */
	nodeinfo *info;
	size_t ninfo, ainfo;
	/* every regex, to free them */
	pcre2_code **codes;
	size_t ncodes, acodes;
	int default_draft;
	unsigned cdepth; /* compile recursion depth */
};

/* format.c */
int devsys__format_lookup(const char *name);
bool devsys__format_check(int fmt, const char *s, size_t len);

/* uri.c */
char *devsys__uri_resolve(const char *base, const char *ref);
/* Split "a#b" at the first '#': returns a malloc'ed copy of the part before; *frag points into @p uri (after '#') or NULL. */
char *devsys__uri_split(const char *uri, const char **frag);
/* Percent-decode a fragment; malloc'ed. */
char *devsys__uri_unescape(const char *s);

/* ECMA-262 spellings PCRE2 does not know, rewritten (long Unicode property
 * names, Unicode \s, [] and [^]) */
int devsys__regex_translate(devsys_buf *out, const char *p, size_t len);

/* validation regex helper */
int devsys__regex_compile(devsys_schema *S, regex *re, const char *pattern, size_t len, char *err, size_t errlen);

#endif /* DEVSYS_SCHEMA_INT_H */
