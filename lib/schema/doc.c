/*
 * The document model: arena, node accessors, builder, equality, copies.
 */
#include "schema/doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct devsys__arena_chunk {
	devsys__arena_chunk *next;
	size_t size;
	max_align_t data[];
};

#define ARENA_CHUNK 16384u

void *devsys__arena_alloc(devsys__arena *a, size_t size)
{
	size = (size + 15u) & ~(size_t)15u;
	if (!a->head || a->used + size > a->head->size) {
		size_t csize = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		if (a->total > ARENA_CHUNK * 4 && csize < a->total / 4 && a->total / 4 < (size_t)1 << 22)
			csize = a->total / 4; /* grow chunks with the document: fewer mallocs */
		devsys__arena_chunk *c = devsys__malloc(sizeof(*c) + csize);
		if (!c)
			return NULL;
		c->next = a->head;
		c->size = csize;
		a->head = c;
		a->used = 0;
		a->total += csize;
	}
	void *p = (char *)a->head->data + a->used;
	a->used += size;
	return p;
}

char *devsys__arena_strndup(devsys__arena *a, const char *s, size_t n)
{
	char *p = devsys__arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void devsys__arena_dispose(devsys__arena *a)
{
	devsys__arena_chunk *c = a->head;
	while (c) {
		devsys__arena_chunk *next = c->next;
		devsys__free(c);
		c = next;
	}
	a->head = NULL;
	a->used = a->total = 0;
}

/* ---- public accessors ---- */

devsys_node_type devsys_node_get_type(const devsys_node *node)
{
	return node ? (devsys_node_type)node->type : DEVSYS_NODE_NULL;
}

unsigned int devsys_node_line(const devsys_node *node)
{
	return node ? node->line : 0;
}

unsigned int devsys_node_column(const devsys_node *node)
{
	return node ? node->col : 0;
}

const char *devsys_node_source(const devsys_node *node)
{
	return node && node->src ? node->src : "";
}

const char *devsys_node_string(const devsys_node *node, size_t *len)
{
	if (!node || node->type != DEVSYS_NODE_STRING)
		return NULL;
	if (len)
		*len = node->u.str.len;
	return node->u.str.s;
}

double devsys_node_number(const devsys_node *node)
{
	return node && node->type == DEVSYS_NODE_NUMBER ? node->u.num : 0.0;
}

int devsys_node_is_integer(const devsys_node *node)
{
	return node && node->type == DEVSYS_NODE_NUMBER && node->is_int;
}

int devsys_node_bool(const devsys_node *node)
{
	return node && node->type == DEVSYS_NODE_BOOL && node->u.b;
}

size_t devsys_node_size(const devsys_node *node)
{
	if (!node)
		return 0;
	if (node->type == DEVSYS_NODE_ARRAY)
		return node->u.arr.n;
	if (node->type == DEVSYS_NODE_OBJECT)
		return node->u.obj.n;
	return 0;
}

const devsys_node *devsys_node_at(const devsys_node *node, size_t i)
{
	if (!node)
		return NULL;
	if (node->type == DEVSYS_NODE_ARRAY)
		return i < node->u.arr.n ? node->u.arr.items[i] : NULL;
	if (node->type == DEVSYS_NODE_OBJECT)
		return i < node->u.obj.n ? node->u.obj.m[i].val : NULL;
	return NULL;
}

const char *devsys_node_key_at(const devsys_node *node, size_t i)
{
	if (!node || node->type != DEVSYS_NODE_OBJECT || i >= node->u.obj.n)
		return NULL;
	return node->u.obj.m[i].key;
}

const devsys_node *devsys__node_member(const devsys_node *obj, const char *key, size_t keylen)
{
	if (!obj || obj->type != DEVSYS_NODE_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->u.obj.n; i++) {
		const devsys__member *m = &obj->u.obj.m[i];
		if (m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
			return m->val;
	}
	return NULL;
}

const devsys_node *devsys_node_member(const devsys_node *node, const char *key)
{
	if (!key)
		return NULL;
	return devsys__node_member(node, key, strlen(key));
}

const devsys_node *devsys_node_get(const devsys_node *node, const char *pointer)
{
	if (!node || !pointer)
		return NULL;
	if (*pointer == '\0')
		return node;
	if (*pointer != '/')
		return NULL;
	const char *p = pointer;
	char tok[1024];
	while (node && *p == '/') {
		size_t n = 0;
		p++;
		while (*p && *p != '/') {
			char c = *p++;
			if (c == '~') {
				if (*p == '0')
					c = '~';
				else if (*p == '1')
					c = '/';
				else
					return NULL;
				p++;
			}
			if (n + 1 >= sizeof(tok))
				return NULL;
			tok[n++] = c;
		}
		tok[n] = '\0';
		if (node->type == DEVSYS_NODE_OBJECT) {
			node = devsys__node_member(node, tok, n);
		} else if (node->type == DEVSYS_NODE_ARRAY) {
			if (n == 0 || (n > 1 && tok[0] == '0'))
				return NULL;
			size_t idx = 0;
			for (size_t i = 0; i < n; i++) {
				if (tok[i] < '0' || tok[i] > '9' || idx > (SIZE_MAX - 9) / 10)
					return NULL;
				idx = idx * 10 + (size_t)(tok[i] - '0');
			}
			node = idx < node->u.arr.n ? node->u.arr.items[idx] : NULL;
		} else {
			return NULL;
		}
	}
	return node;
}

/* ---- JSON output ---- */

int devsys__json_put_string(devsys_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int rc = devsys_buf_put(out, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; rc == 0 && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (i > run && (rc = devsys_buf_put(out, s + run, i - run)) != 0)
			break;
		run = i + 1;
		char esc[7] = { '\\', 0, 0, 0, 0, 0, 0 };
		size_t elen = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		rc = devsys_buf_put(out, esc, elen);
	}
	if (rc == 0 && len > run)
		rc = devsys_buf_put(out, s + run, len - run);
	if (rc == 0)
		rc = devsys_buf_put(out, "\"", 1);
	return rc;
}

static int put_number(devsys_buf *out, double d, bool is_int)
{
	char tmp[64];
	if (d - d != 0.0)
		return devsys_buf_puts(out, "null");
	if (is_int && devsys__fabs(d) < 9007199254740992.0)
		snprintf(tmp, sizeof(tmp), "%.0f", d);
	else
		snprintf(tmp, sizeof(tmp), "%.17g", d);
	return devsys_buf_puts(out, tmp);
}

/* Iterative: documents may be deep. */
int devsys_node_to_json(devsys_buf *out, const devsys_node *node)
{
	typedef struct {
		const devsys_node *n;
		size_t i;
	} frame;
	frame *st = NULL;
	size_t nst = 0, ast = 0;
	int rc = 0;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(node);
	const devsys_node *cur = node;
	for (;;) {
		if (cur) {
			switch (cur->type) {
			case DEVSYS_NODE_NULL: rc = devsys_buf_puts(out, "null"); break;
			case DEVSYS_NODE_BOOL: rc = devsys_buf_puts(out, cur->u.b ? "true" : "false"); break;
			case DEVSYS_NODE_NUMBER: rc = put_number(out, cur->u.num, cur->is_int); break;
			case DEVSYS_NODE_STRING: rc = devsys__json_put_string(out, cur->u.str.s, cur->u.str.len); break;
			default:
				if (nst == ast) {
					size_t na = ast ? ast * 2 : 16;
					frame *ns = devsys__realloc(st, na * sizeof(*ns));
					if (!ns) {
						rc = devsys__error_oom();
						goto done;
					}
					st = ns;
					ast = na;
				}
				st[nst].n = cur;
				st[nst].i = 0;
				nst++;
				rc = devsys_buf_puts(out, cur->type == DEVSYS_NODE_ARRAY ? "[" : "{");
			}
			if (rc)
				goto done;
			cur = NULL;
		}
		if (nst == 0)
			break;
		frame *f = &st[nst - 1];
		size_t n = f->n->type == DEVSYS_NODE_ARRAY ? f->n->u.arr.n : f->n->u.obj.n;
		if (f->i >= n) {
			rc = devsys_buf_puts(out, f->n->type == DEVSYS_NODE_ARRAY ? "]" : "}");
			if (rc)
				goto done;
			nst--;
			continue;
		}
		if (f->i > 0 && (rc = devsys_buf_puts(out, ",")) != 0)
			goto done;
		if (f->n->type == DEVSYS_NODE_ARRAY) {
			cur = f->n->u.arr.items[f->i];
		} else {
			const devsys__member *m = &f->n->u.obj.m[f->i];
			if ((rc = devsys__json_put_string(out, m->key, m->keylen)) != 0 ||
			    (rc = devsys_buf_puts(out, ":")) != 0)
				goto done;
			cur = m->val;
		}
		f->i++;
	}
done:
	devsys__free(st);
	return rc;
}

/* ---- equality and copies ---- */

bool devsys__node_equal(const devsys_node *a, const devsys_node *b)
{
	if (a == b)
		return true;
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case DEVSYS_NODE_NULL: return true;
	case DEVSYS_NODE_BOOL: return !a->u.b == !b->u.b;
	case DEVSYS_NODE_NUMBER: return a->u.num == b->u.num;
	case DEVSYS_NODE_STRING:
		return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
	case DEVSYS_NODE_ARRAY:
		if (a->u.arr.n != b->u.arr.n)
			return false;
		for (size_t i = 0; i < a->u.arr.n; i++)
			if (!devsys__node_equal(a->u.arr.items[i], b->u.arr.items[i]))
				return false;
		return true;
	default:
		if (a->u.obj.n != b->u.obj.n)
			return false;
		for (size_t i = 0; i < a->u.obj.n; i++) {
			const devsys_node *o = devsys__node_member(b, a->u.obj.m[i].key, a->u.obj.m[i].keylen);
			if (!o || !devsys__node_equal(a->u.obj.m[i].val, o))
				return false;
		}
		return true;
	}
}

devsys_node *devsys__node_copy(devsys__arena *a, const devsys_node *n)
{
	devsys_node *c = devsys__arena_alloc(a, sizeof(*c));
	if (!c)
		return NULL;
	*c = *n;
	if (n->src && !(c->src = devsys__arena_strndup(a, n->src, strlen(n->src))))
		return NULL;
	switch (n->type) {
	case DEVSYS_NODE_STRING:
		if (!(c->u.str.s = devsys__arena_strndup(a, n->u.str.s, n->u.str.len)))
			return NULL;
		break;
	case DEVSYS_NODE_ARRAY:
		c->u.arr.items = devsys__arena_alloc(a, (n->u.arr.n ? n->u.arr.n : 1) * sizeof(devsys_node *));
		if (!c->u.arr.items)
			return NULL;
		for (size_t i = 0; i < n->u.arr.n; i++)
			if (!(c->u.arr.items[i] = devsys__node_copy(a, n->u.arr.items[i])))
				return NULL;
		break;
	case DEVSYS_NODE_OBJECT:
		c->u.obj.m = devsys__arena_alloc(a, (n->u.obj.n ? n->u.obj.n : 1) * sizeof(devsys__member));
		if (!c->u.obj.m)
			return NULL;
		for (size_t i = 0; i < n->u.obj.n; i++) {
			c->u.obj.m[i].keylen = n->u.obj.m[i].keylen;
			if (!(c->u.obj.m[i].key = devsys__arena_strndup(a, n->u.obj.m[i].key, n->u.obj.m[i].keylen)) ||
			    !(c->u.obj.m[i].val = devsys__node_copy(a, n->u.obj.m[i].val)))
				return NULL;
		}
		break;
	default: break;
	}
	return c;
}

/* ---- builder ---- */

void devsys__builder_init(devsys__builder *b, devsys__arena *arena, const char *src, size_t max_depth,
                          size_t max_nodes)
{
	memset(b, 0, sizeof(*b));
	b->arena = arena;
	b->src = src;
	b->max_depth = max_depth;
	b->max_nodes = max_nodes;
}

void devsys__builder_dispose(devsys__builder *b)
{
	devsys__free(b->frames);
	devsys__free(b->stack);
	b->frames = NULL;
	b->stack = NULL;
}

int devsys__builder_count(devsys__builder *b, size_t n)
{
	if (n > b->max_nodes || b->nodes > b->max_nodes - n)
		return devsys__error_set(DEVSYS_ELIMIT,
		                         "%s: the document expands to more than %zu nodes (alias expansion or size "
		                         "limit); simplify it or raise max_nodes",
		                         b->src, b->max_nodes);
	b->nodes += n;
	return 0;
}

devsys_node *devsys__builder_node(devsys__builder *b, int type, uint32_t line, uint32_t col)
{
	devsys_node *n = devsys__arena_alloc(b->arena, sizeof(*n));
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	n->line = line;
	n->col = col;
	n->src = b->src;
	return n;
}

bool devsys__builder_in_object(const devsys__builder *b)
{
	return b->nframes > 0 && b->frames[b->nframes - 1].node->type == DEVSYS_NODE_OBJECT;
}

int devsys__builder_key(devsys__builder *b, const char *key, size_t len, uint32_t line, uint32_t col)
{
	if (!(b->pending_key = devsys__arena_strndup(b->arena, key, len)))
		return devsys__error_oom();
	b->pending_keylen = len;
	b->key_line = line;
	b->key_col = col;
	return 0;
}

int devsys__builder_add(devsys__builder *b, devsys_node *n)
{
	if (b->nframes == 0) {
		b->root = n;
		return 0;
	}
	if (b->nstack == b->astack) {
		size_t na = b->astack ? b->astack * 2 : 64;
		devsys__member *ns = devsys__realloc(b->stack, na * sizeof(*ns));
		if (!ns)
			return devsys__error_oom();
		b->stack = ns;
		b->astack = na;
	}
	devsys__member *m = &b->stack[b->nstack++];
	m->val = n;
	if (devsys__builder_in_object(b)) {
		m->key = b->pending_key;
		m->keylen = b->pending_keylen;
		b->pending_key = NULL;
	} else {
		m->key = NULL;
		m->keylen = 0;
	}
	return 0;
}

int devsys__builder_open(devsys__builder *b, devsys_node *n)
{
	if (b->nframes >= b->max_depth)
		return devsys__error_set(DEVSYS_ELIMIT,
		                         "%s:%u:%u: nesting deeper than %zu levels; flatten the document or raise "
		                         "max_depth",
		                         b->src, n->line, n->col, b->max_depth);
	int rc = devsys__builder_add(b, n);
	if (rc)
		return rc;
	if (b->nframes == b->aframes) {
		size_t na = b->aframes ? b->aframes * 2 : 16;
		devsys__builder_frame *nf = devsys__realloc(b->frames, na * sizeof(*nf));
		if (!nf)
			return devsys__error_oom();
		b->frames = nf;
		b->aframes = na;
	}
	b->frames[b->nframes].node = n;
	b->frames[b->nframes].start = b->nstack;
	b->nframes++;
	return 0;
}

static int cmp_member_idx(const void *pa, const void *pb)
{
	const devsys__member *a = *(const devsys__member *const *)pa, *b = *(const devsys__member *const *)pb;
	size_t n = a->keylen < b->keylen ? a->keylen : b->keylen;
	int c = memcmp(a->key, b->key, n);
	if (c)
		return c;
	return a->keylen < b->keylen ? -1 : a->keylen > b->keylen ? 1 : 0;
}

static int dup_error(devsys__builder *b, const devsys__member *m)
{
	return devsys__error_set(DEVSYS_EPARSE, "%s:%u:%u: duplicate key '%.*s'; each key may appear once", b->src,
	                         m->val->line, m->val->col, (int)(m->keylen > 64 ? 64 : m->keylen), m->key);
}

int devsys__builder_close(devsys__builder *b)
{
	devsys__builder_frame *f = &b->frames[--b->nframes];
	devsys_node *n = f->node;
	size_t cnt = b->nstack - f->start;
	devsys__member *kids = cnt ? b->stack + f->start : NULL;
	if (n->type == DEVSYS_NODE_ARRAY) {
		n->u.arr.items = devsys__arena_alloc(b->arena, (cnt ? cnt : 1) * sizeof(devsys_node *));
		if (!n->u.arr.items)
			return devsys__error_oom();
		for (size_t i = 0; i < cnt; i++)
			n->u.arr.items[i] = kids[i].val;
		n->u.arr.n = cnt;
	} else {
		n->u.obj.m = devsys__arena_alloc(b->arena, (cnt ? cnt : 1) * sizeof(devsys__member));
		if (!n->u.obj.m)
			return devsys__error_oom();
		if (cnt)
			memcpy(n->u.obj.m, kids, cnt * sizeof(devsys__member));
		n->u.obj.n = cnt;
		if (cnt <= 16) {
			for (size_t i = 1; i < cnt; i++)
				for (size_t j = 0; j < i; j++)
					if (kids[i].keylen == kids[j].keylen &&
					    memcmp(kids[i].key, kids[j].key, kids[i].keylen) == 0)
						return dup_error(b, &kids[i]);
		} else {
			/* sort pointers: O(n log n) even for huge objects */
			devsys__member **idx = devsys__malloc(cnt * sizeof(*idx));
			if (!idx)
				return devsys__error_oom();
			for (size_t i = 0; i < cnt; i++)
				idx[i] = &n->u.obj.m[i];
			qsort(idx, cnt, sizeof(*idx), cmp_member_idx);
			for (size_t i = 1; i < cnt; i++) {
				if (cmp_member_idx(&idx[i - 1], &idx[i]) == 0) {
					const devsys__member *later = idx[i] > idx[i - 1] ? idx[i] : idx[i - 1];
					devsys__free(idx);
					return dup_error(b, later);
				}
			}
			devsys__free(idx);
		}
	}
	b->nstack = f->start;
	return 0;
}

/* ---- UTF-8 ---- */

size_t devsys__utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c = s[0];
	size_t n;
	uint32_t min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xE0) == 0xC0) {
		n = 2;
		c &= 0x1F;
		min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3;
		c &= 0x0F;
		min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3Fu);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

size_t devsys__utf8_count(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}
