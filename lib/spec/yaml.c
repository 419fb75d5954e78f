/*
 * YAML (libyaml events) into the document model, with positions.
 *
 * Rules (docs/specs.md): core-schema tags only; duplicate keys are errors;
 * aliases are shared, not copied, and count their anchor's expanded size
 * against max_nodes (billion laughs stops there); unquoted YAML 1.1
 * booleans (yes/no/on/off/y/n) are rejected; .inf/.nan are rejected
 * (not JSON); keys must be scalars.
 */
#include "spec/spec_int.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct anchor {
	char *name;
	devsys_node *node;
	size_t size; /* expanded node count */
} anchor;

typedef struct open_anchor {
	char *name; /* anchor of an open container, or NULL */
	size_t nodes_before;
} open_anchor;

typedef struct yctx {
	devsys__builder b;
	const char *src;
	anchor *anchors;
	size_t nanchors, aanchors;
	open_anchor *open;
	size_t nopen, aopen;
} yctx;

static int yerr(const yctx *y, const yaml_mark_t *m, const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	return devsys__error_set(DEVSYS_EPARSE, "%s:%zu:%zu: %s", y->src, m->line + 1, m->column + 1, msg);
}

static int anchor_put(yctx *y, const char *name, devsys_node *n, size_t size)
{
	/* a later anchor of the same name replaces the earlier one (YAML 1.2) */
	for (size_t i = 0; i < y->nanchors; i++)
		if (strcmp(y->anchors[i].name, name) == 0) {
			y->anchors[i].node = n;
			y->anchors[i].size = size;
			return 0;
		}
	if (y->nanchors == y->aanchors) {
		size_t na = y->aanchors ? y->aanchors * 2 : 8;
		anchor *a = devsys__realloc(y->anchors, na * sizeof(*a));
		if (!a)
			return devsys__error_oom();
		y->anchors = a;
		y->aanchors = na;
	}
	if (!(y->anchors[y->nanchors].name = devsys__strdup(name)))
		return devsys__error_oom();
	y->anchors[y->nanchors].node = n;
	y->anchors[y->nanchors].size = size;
	y->nanchors++;
	return 0;
}

static void anchors_clear(yctx *y)
{
	for (size_t i = 0; i < y->nanchors; i++)
		devsys__free(y->anchors[i].name);
	y->nanchors = 0;
}

#define CORE "tag:yaml.org,2002:"

static bool tag_is(const yaml_char_t *tag, const char *name)
{
	return tag && strncmp((const char *)tag, CORE, strlen(CORE)) == 0 && strcmp((const char *)tag + strlen(CORE), name) == 0;
}

static bool all_digits(const char *s, const char *set)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

/* YAML 1.2 core schema number forms; 1 = number, 0 = not a number, -1 = inf/nan */
static int core_number(const char *s, double *out, bool *is_int)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (*p == '.' && (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0))
		return -1;
	if (*s == '.' && (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0))
		return -1;
	if (s[0] == '0' && s[1] == 'o' && all_digits(s + 2, "01234567")) {
		*out = (double)strtoull(s + 2, NULL, 8);
		*is_int = true;
		return 1;
	}
	if (s[0] == '0' && s[1] == 'x' && all_digits(s + 2, "0123456789abcdefABCDEF")) {
		*out = (double)strtoull(s + 2, NULL, 16);
		*is_int = true;
		return 1;
	}
	/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
	const char *q = p;
	size_t intd = 0, fracd = 0;
	while (*q >= '0' && *q <= '9')
		q++, intd++;
	if (*q == '.') {
		q++;
		while (*q >= '0' && *q <= '9')
			q++, fracd++;
		if (intd == 0 && fracd == 0)
			return 0;
	} else if (intd == 0) {
		return 0;
	}
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '+' || *q == '-')
			q++;
		if (!(*q >= '0' && *q <= '9'))
			return 0;
		while (*q >= '0' && *q <= '9')
			q++;
	}
	if (*q)
		return 0;
	if (fracd == 0 && intd <= 15 && q == p + intd) {
		/* a plain integer below 10^15 is exact as a double: no strtod needed */
		double v = 0;
		for (const char *d = p; d < q; d++)
			v = v * 10 + (*d - '0');
		*out = *s == '-' ? -v : v;
		*is_int = true;
		return 1;
	}
	*out = strtod(s, NULL);
	*is_int = devsys__is_integral(*out);
	return 1;
}

static int scalar_node(yctx *y, const yaml_event_t *ev, devsys_node **out)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const yaml_char_t *tag = ev->data.scalar.tag;
	uint32_t line = (uint32_t)ev->start_mark.line + 1, col = (uint32_t)ev->start_mark.column + 1;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	devsys_node *n = devsys__builder_node(&y->b, DEVSYS_NODE_STRING, line, col);
	if (!n)
		return devsys__error_oom();
	*out = n;
	if (tag && strcmp((const char *)tag, "!") != 0 && !tag_is(tag, "str") && !tag_is(tag, "int") &&
	    !tag_is(tag, "float") && !tag_is(tag, "bool") && !tag_is(tag, "null"))
		return yerr(y, &ev->start_mark,
		            "the tag '%.100s' is not allowed: only the YAML core schema tags (!!str, !!int, !!float, "
		            "!!bool, !!null, !!seq, !!map)",
		            (const char *)tag);
	/* libyaml refuses a NUL byte in its input: only a double-quoted escape (\0) can make one */
	if (ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE && memchr(v, '\0', len))
		return yerr(y, &ev->start_mark, "%sa NUL character in a string is not allowed", "");
	if (tag_is(tag, "str") || (tag && strcmp((const char *)tag, "!") == 0) || (!plain && !tag)) {
		n->u.str.s = devsys__arena_strndup(y->b.arena, v, len);
		n->u.str.len = len;
		return n->u.str.s ? 0 : devsys__error_oom();
	}
	/* plain (or explicitly typed) scalar: resolve with the core schema.
	 * Most scalars are words: only these first bytes can start a null,
	 * bool, number or YAML 1.1 boolean. */
	if (!tag && len > 0 &&
	    (!strchr("~nNtTfFyYoO+-.0123456789", v[0]) || (len > 5 && !strchr("+-.0123456789", v[0])))) {
		/* (a null, a boolean or a YAML 1.1 boolean has at most 5 bytes) */
		n->u.str.s = devsys__arena_strndup(y->b.arena, v, len);
		n->u.str.len = len;
		return n->u.str.s ? 0 : devsys__error_oom();
	}
	if (!tag || tag_is(tag, "null")) {
		if (len == 0 || (len <= 4 && (v[0] == '~' || v[0] == 'n' || v[0] == 'N') &&
		                 (!strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL")))) {
			n->type = DEVSYS_NODE_NULL;
			return 0;
		}
		if (tag)
			return yerr(y, &ev->start_mark, "'%.60s' is not a null (!!null)", v);
	}
	if (!tag || tag_is(tag, "bool")) {
		if (len == 4 && (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))) {
			n->type = DEVSYS_NODE_BOOL;
			n->u.b = 1;
			return 0;
		}
		if (len == 5 && (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))) {
			n->type = DEVSYS_NODE_BOOL;
			return 0;
		}
		/* y, no, off, ...: 3 bytes at most, starting with one of yYnNoO */
		if (len <= 3 && (v[0] == 'y' || v[0] == 'Y' || v[0] == 'n' || v[0] == 'N' || v[0] == 'o' || v[0] == 'O') &&
		    devsys__yaml11_bool(v))
			return yerr(y, &ev->start_mark,
			            "'%s' is a boolean in YAML 1.1 but a string in YAML 1.2; write true or false, or quote "
			            "it (\"...\") if you mean the string",
			            v);
		if (tag)
			return yerr(y, &ev->start_mark, "'%.60s' is not a boolean (!!bool)", v);
	}
	if (!tag || tag_is(tag, "int") || tag_is(tag, "float")) {
		double d;
		bool is_int;
		int r = core_number(v, &d, &is_int);
		if (r < 0)
			return yerr(y, &ev->start_mark, "'%s' (infinity / not-a-number) cannot be represented in JSON", v);
		if (r > 0) {
			if (tag_is(tag, "int") && !is_int)
				return yerr(y, &ev->start_mark, "'%.60s' is not an integer (!!int)", v);
			n->type = DEVSYS_NODE_NUMBER;
			n->u.num = d;
			n->is_int = is_int;
			return 0;
		}
		if (tag)
			return yerr(y, &ev->start_mark, "'%.60s' is not a number", v);
	}
	n->u.str.s = devsys__arena_strndup(y->b.arena, v, len);
	n->u.str.len = len;
	return n->u.str.s ? 0 : devsys__error_oom();
}

static bool expecting_key(const yctx *y)
{
	return devsys__builder_in_object(&y->b) && y->b.pending_key == NULL;
}

static int open_push(yctx *y, const yaml_char_t *anchor_name)
{
	if (y->nopen == y->aopen) {
		size_t na = y->aopen ? y->aopen * 2 : 16;
		open_anchor *o = devsys__realloc(y->open, na * sizeof(*o));
		if (!o)
			return devsys__error_oom();
		y->open = o;
		y->aopen = na;
	}
	y->open[y->nopen].name = anchor_name ? devsys__strdup((const char *)anchor_name) : NULL;
	if (anchor_name && !y->open[y->nopen].name)
		return devsys__error_oom();
	y->open[y->nopen].nodes_before = y->b.nodes;
	y->nopen++;
	return 0;
}

int devsys__yaml_parse(devsys__spec_docs *docs, devsys__arena *arena, const char *data, size_t len, const char *src,
                       size_t max_depth, size_t max_nodes)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	yctx y;
	int rc = 0;
	bool done = false;

	memset(&y, 0, sizeof(y));
	y.src = src;
	if (!yaml_parser_initialize(&parser))
		return devsys__error_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = devsys__error_set(DEVSYS_EPARSE, "%s:%zu:%zu: %s%s%s", src, parser.problem_mark.line + 1,
			                       parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML syntax error",
			                       parser.context ? " " : "", parser.context ? parser.context : "");
			break;
		}
		uint32_t line = (uint32_t)ev.start_mark.line + 1, col = (uint32_t)ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = true; break;
		case YAML_DOCUMENT_START_EVENT:
			devsys__builder_init(&y.b, arena, src, max_depth, max_nodes);
			anchors_clear(&y);
			break;
		case YAML_DOCUMENT_END_EVENT:
			rc = devsys__spec_docs_add(docs, y.b.root);
			devsys__builder_dispose(&y.b);
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT: {
			bool map = ev.type == YAML_MAPPING_START_EVENT;
			const yaml_char_t *tag = map ? ev.data.mapping_start.tag : ev.data.sequence_start.tag;
			const yaml_char_t *anc = map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor;
			if (tag && strcmp((const char *)tag, "!") != 0 && !tag_is(tag, map ? "map" : "seq")) {
				rc = yerr(&y, &ev.start_mark,
				          "the tag '%.100s' is not allowed: only the YAML core schema tags (!!map, !!seq, ...)",
				          (const char *)tag);
				break;
			}
			if (expecting_key(&y)) {
				rc = yerr(&y, &ev.start_mark, "%sa mapping key must be a scalar (a string)", "");
				break;
			}
			devsys_node *n = devsys__builder_node(&y.b, map ? DEVSYS_NODE_OBJECT : DEVSYS_NODE_ARRAY, line, col);
			if (!n) {
				rc = devsys__error_oom();
				break;
			}
			if ((rc = devsys__builder_count(&y.b, 1)) != 0 || (rc = open_push(&y, anc)) != 0)
				break;
			rc = devsys__builder_open(&y.b, n);
			break;
		}
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT: {
			devsys_node *n = y.b.frames[y.b.nframes - 1].node;
			if ((rc = devsys__builder_close(&y.b)) != 0)
				break;
			open_anchor *o = &y.open[--y.nopen];
			if (o->name) {
				rc = anchor_put(&y, o->name, n, y.b.nodes - o->nodes_before);
				devsys__free(o->name);
			}
			break;
		}
		case YAML_SCALAR_EVENT: {
			if (expecting_key(&y)) {
				if (ev.data.scalar.tag && strcmp((const char *)ev.data.scalar.tag, "!") != 0 &&
				    !tag_is(ev.data.scalar.tag, "str")) {
					rc = yerr(&y, &ev.start_mark, "a mapping key must be a string, not tagged '%.100s'",
					          (const char *)ev.data.scalar.tag);
					break;
				}
				if (ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE &&
				    memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
					rc = yerr(&y, &ev.start_mark, "%sa NUL character in a key is not allowed", "");
					break;
				}
				rc = devsys__builder_key(&y.b, (const char *)ev.data.scalar.value, ev.data.scalar.length, line,
				                         col);
				break;
			}
			devsys_node *n = NULL;
			if ((rc = devsys__builder_count(&y.b, 1)) != 0 || (rc = scalar_node(&y, &ev, &n)) != 0)
				break;
			if (ev.data.scalar.anchor && (rc = anchor_put(&y, (const char *)ev.data.scalar.anchor, n, 1)) != 0)
				break;
			rc = devsys__builder_add(&y.b, n);
			break;
		}
		case YAML_ALIAS_EVENT: {
			const char *name = (const char *)ev.data.alias.anchor;
			anchor *a = NULL;
			for (size_t i = 0; i < y.nanchors; i++)
				if (strcmp(y.anchors[i].name, name) == 0)
					a = &y.anchors[i];
			if (!a) {
				rc = yerr(&y, &ev.start_mark, "the alias '*%.100s' has no anchor before it", name);
				break;
			}
			if (expecting_key(&y)) {
				rc = yerr(&y, &ev.start_mark, "an alias ('*%.100s') cannot be a mapping key", name);
				break;
			}
			if ((rc = devsys__builder_count(&y.b, a->size)) != 0)
				break;
			rc = devsys__builder_add(&y.b, a->node);
			break;
		}
		default: break;
		}
		yaml_event_delete(&ev);
	}
	devsys__builder_dispose(&y.b);
	anchors_clear(&y);
	devsys__free(y.anchors);
	for (size_t i = 0; i < y.nopen; i++)
		devsys__free(y.open[i].name);
	devsys__free(y.open);
	yaml_parser_delete(&parser);
	return rc;
}
