/*
 * Evaluation of a compiled schema against a document, and the error list.
 */
#include "schema/schema_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVAL_DEPTH 1000

struct devsys_validation_error {
	char *message;
	char *instance_location;
	char *keyword_location;
	char *absolute_keyword_location;
	char *keyword;
	char *file;
	unsigned int line, column;
};

struct devsys_validation {
	devsys_validation_error *errs;
	size_t n, a;
};

/* annotations for one instance location: which members/items were evaluated */
typedef struct ann {
	uint8_t *bits;
	size_t n;
} ann;

typedef struct vctx {
	const devsys_schema *S;
	devsys_validation *out;
	int mute;
	bool full; /* keep going after an error to find all of them */
	devsys_buf kpath, ipath;
	resource **scope;
	size_t nscope, ascope;
	unsigned depth;
	pcre2_match_data *md;
	int fatal;
	char fatal_msg[512];
} vctx;

static int eval(vctx *c, const sch *s, const devsys_node *inst, ann *out_ann);

/* Per-thread scratch (PCRE2 match data, the dynamic-scope stack), kept
 * between validations so the fast path does not allocate. */
typedef struct scratch {
	pcre2_match_data *md;
	resource **scope;
	size_t ascope;
	bool busy;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_ok;

static void scratch_free(void *p)
{
	scratch *sc = p;
	if (!sc)
		return;
	if (sc->md)
		pcre2_match_data_free(sc->md);
	free(sc->scope);
	free(sc);
}

static void scratch_init(void)
{
	scratch_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

/* Plain malloc: the scratch outlives any one call and is freed by the
 * thread-exit destructor, which must not depend on the caller's allocator. */
static scratch *scratch_get(void)
{
	pthread_once(&scratch_once, scratch_init);
	if (!scratch_ok)
		return NULL;
	scratch *sc = pthread_getspecific(scratch_key);
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc || pthread_setspecific(scratch_key, sc) != 0) {
			free(sc);
			return NULL;
		}
	}
	if (sc->busy)
		return NULL; /* re-entered (a callback validating): use a private context */
	return sc;
}

/* ---- paths ---- */

static bool looks_secret(const char *s, size_t len);

/* An instance-path segment; a key that looks like a secret is not echoed. */
static void path_push_key(devsys_buf *b, const char *seg, size_t len);

static void path_push(devsys_buf *b, const char *seg, size_t len)
{
	devsys_buf_put(b, "/", 1);
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		if (seg[i] != '~' && seg[i] != '/')
			continue;
		devsys_buf_put(b, seg + run, i - run);
		devsys_buf_put(b, seg[i] == '~' ? "~0" : "~1", 2);
		run = i + 1;
	}
	devsys_buf_put(b, seg + run, len - run);
}

static void path_push_key(devsys_buf *b, const char *seg, size_t len)
{
	if (looks_secret(seg, len))
		path_push(b, "*redacted*", 10);
	else
		path_push(b, seg, len);
}

static void path_push_idx(devsys_buf *b, size_t i)
{
	char t[24];
	int l = snprintf(t, sizeof(t), "/%zu", i);
	devsys_buf_put(b, t, (size_t)l);
}

static void path_pop(devsys_buf *b, size_t len)
{
	b->size = len;
	if (b->ptr)
		b->ptr[len] = '\0';
}

#define TRACKING(c) ((c)->out != NULL)
/* errors are being recorded: only then is it worth formatting messages */
#define REPORTING(c) ((c)->out != NULL && (c)->mute == 0)
#define KPUSH(c, kw)                                                                                                   \
	size_t ksave_ = (c)->kpath.size;                                                                               \
	if (TRACKING(c))                                                                                               \
	path_push(&(c)->kpath, kw, strlen(kw))
#define KPOP(c)                                                                                                        \
	if (TRACKING(c))                                                                                               \
	path_pop(&(c)->kpath, ksave_)

/* ---- errors ---- */

static bool looks_secret(const char *s, size_t len)
{
	static const char *const prefixes[] = { "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_", "glpat-", "xoxb-",
		                                "xoxp-", "xoxa-", "AKIA", "sk-", "-----BEGIN" };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (len >= strlen(prefixes[i]) && strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* At most @p max bytes of @p s, cut at a UTF-8 character boundary. */
static int utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return (int)len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return (int)max;
}

/* A short, safe rendering of an instance value for messages. */
static void show(char *buf, size_t size, const devsys_node *n)
{
	switch (n->type) {
	case DEVSYS_NODE_STRING:
		if (looks_secret(n->u.str.s, n->u.str.len))
			snprintf(buf, size, "(a value that looks like a secret)");
		else if (n->u.str.len > 40)
			snprintf(buf, size, "'%.*s...'", utf8_prefix(n->u.str.s, n->u.str.len, 37), n->u.str.s);
		else
			snprintf(buf, size, "'%.*s'", (int)n->u.str.len, n->u.str.s);
		break;
	case DEVSYS_NODE_NUMBER: snprintf(buf, size, "%.17g", n->u.num); break;
	case DEVSYS_NODE_BOOL: snprintf(buf, size, "%s", n->u.b ? "true" : "false"); break;
	case DEVSYS_NODE_NULL: snprintf(buf, size, "null"); break;
	case DEVSYS_NODE_ARRAY: snprintf(buf, size, "an array"); break;
	default: snprintf(buf, size, "an object"); break;
	}
}

static const char *show_key(char *buf, size_t size, const devsys__member *m)
{
	if (looks_secret(m->key, m->keylen))
		snprintf(buf, size, "(a name that looks like a secret)");
	else
		snprintf(buf, size, "'%.*s%s'", utf8_prefix(m->key, m->keylen, 60), m->key, m->keylen > 60 ? "..." : "");
	return buf;
}

static void add_error_(vctx *c, const sch *s, const devsys_node *inst, const char *kw, const char *fmt, ...)
	DEVSYS_PRINTF(5, 6);
/* muted branches and the fast path record nothing: skip the call entirely */
#define add_error(c, ...)                                                                                              \
	do {                                                                                                           \
		if (REPORTING(c))                                                                                      \
			add_error_((c), __VA_ARGS__);                                                                  \
	} while (0)

static void add_error_(vctx *c, const sch *s, const devsys_node *inst, const char *kw, const char *fmt, ...)
{
	if (c->mute || !c->out)
		return;
	devsys_validation *v = c->out;
	if (v->n >= c->S->max_errors) {
		c->full = false; /* enough: stop early from now on */
		return;
	}
	if (v->n == v->a) {
		size_t na = v->a ? v->a * 2 : 8;
		devsys_validation_error *ne = devsys__realloc(v->errs, na * sizeof(*ne));
		if (!ne)
			return;
		v->errs = ne;
		v->a = na;
	}
	devsys_validation_error *e = &v->errs[v->n];
	memset(e, 0, sizeof(*e));
	if (s->errmsg) {
		e->message = devsys__strdup(s->errmsg);
	} else {
		va_list ap;
		char msg[1024];
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		size_t l = strlen(msg);
		if (l == sizeof(msg) - 1) { /* truncated: never end inside a UTF-8 sequence */
			while (l > 0 && ((unsigned char)msg[l - 1] & 0xC0) == 0x80)
				l--;
			if (l > 0 && (unsigned char)msg[l - 1] >= 0xC0)
				l--;
			msg[l] = '\0';
		}
		e->message = devsys__strdup(msg);
	}
	e->instance_location = devsys__strdup(c->ipath.ptr ? c->ipath.ptr : "");
	if (*kw)
		e->keyword_location = devsys__asprintf("%s/%s", c->kpath.ptr ? c->kpath.ptr : "", kw);
	else
		e->keyword_location = devsys__strdup(c->kpath.ptr ? c->kpath.ptr : "");
	e->absolute_keyword_location = *kw ? devsys__asprintf("%s/%s", s->abs, kw) : devsys__strdup(s->abs);
	e->keyword = devsys__strdup(*kw ? kw : "false");
	e->file = devsys__strdup(devsys_node_source(inst));
	e->line = inst->line;
	e->column = inst->col;
	if (!e->message || !e->instance_location || !e->keyword_location || !e->absolute_keyword_location ||
	    !e->keyword || !e->file) {
		devsys__free(e->message);
		devsys__free(e->instance_location);
		devsys__free(e->keyword_location);
		devsys__free(e->absolute_keyword_location);
		devsys__free(e->keyword);
		devsys__free(e->file);
		return;
	}
	v->n++;
}

static void set_fatal(vctx *c, int code, const char *fmt, ...) DEVSYS_PRINTF(3, 4);
static void set_fatal(vctx *c, int code, const char *fmt, ...)
{
	if (c->fatal)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->fatal_msg, sizeof(c->fatal_msg), fmt, ap);
	va_end(ap);
	c->fatal = code;
}

/* ---- helpers ---- */

static int re_match(vctx *c, const regex *re, const char *s, size_t len, const sch *where)
{
	if (len < re->minlen)
		return 0; /* bytes >= characters: too short to match */
	if (!c->md && !(c->md = pcre2_match_data_create(1, NULL))) {
		set_fatal(c, DEVSYS_ENOMEM, "out of memory");
		return 0;
	}
	int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, 0, 0, c->md, c->S->mctx)
	                 : pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, c->md, c->S->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	set_fatal(c, DEVSYS_ELIMIT,
	          "schema %s: the regular expression '%.100s' hit its match limit (catastrophic backtracking?); "
	          "simplify the pattern or raise regex_match_limit",
	          where->abs, re->src);
	return 0;
}

/* Equal nodes hash equally; below depth 32 only the type counts, which keeps
 * the hash consistent and its recursion shallow. */
static uint64_t node_hash_d(const devsys_node *n, unsigned depth);

static uint64_t node_hash(const devsys_node *n)
{
	return node_hash_d(n, 0);
}

static uint64_t node_hash_d(const devsys_node *n, unsigned depth)
{
	uint64_t h = 1469598103934665603ull ^ n->type;
	if (depth > 32)
		return h;
	switch (n->type) {
	case DEVSYS_NODE_BOOL: h ^= (uint64_t)n->u.b; break;
	case DEVSYS_NODE_NUMBER: {
		double d = n->u.num == 0 ? 0.0 : n->u.num; /* -0 == 0 */
		uint64_t bits;
		memcpy(&bits, &d, sizeof(bits));
		h ^= bits;
		break;
	}
	case DEVSYS_NODE_STRING:
		for (size_t i = 0; i < n->u.str.len; i++)
			h = (h ^ (unsigned char)n->u.str.s[i]) * 1099511628211ull;
		break;
	case DEVSYS_NODE_ARRAY:
		for (size_t i = 0; i < n->u.arr.n; i++)
			h = (h ^ node_hash_d(n->u.arr.items[i], depth + 1)) * 1099511628211ull;
		break;
	case DEVSYS_NODE_OBJECT: {
		uint64_t sum = 0;
		for (size_t i = 0; i < n->u.obj.n; i++) {
			uint64_t k = 1469598103934665603ull;
			for (size_t j = 0; j < n->u.obj.m[i].keylen; j++)
				k = (k ^ (unsigned char)n->u.obj.m[i].key[j]) * 1099511628211ull;
			sum += k * 31 + node_hash_d(n->u.obj.m[i].val, depth + 1);
		}
		h ^= sum;
		break;
	}
	default: break;
	}
	return h;
}

typedef struct hidx {
	uint64_t h;
	size_t i;
} hidx;

static int cmp_hidx(const void *a, const void *b)
{
	const hidx *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* index of the second of two equal items, or (size_t)-1 */
static size_t find_duplicate(const devsys_node *arr)
{
	size_t n = arr->u.arr.n;
	if (n < 2)
		return (size_t)-1;
	if (n <= 8) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (devsys__node_equal(arr->u.arr.items[i], arr->u.arr.items[j]))
					return i;
		return (size_t)-1;
	}
	hidx *h = devsys__malloc(n * sizeof(*h));
	if (!h)
		return (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		h[i].h = node_hash(arr->u.arr.items[i]);
		h[i].i = i;
	}
	qsort(h, n, sizeof(*h), cmp_hidx);
	size_t dup = (size_t)-1;
	for (size_t i = 0; i < n && dup == (size_t)-1; i++)
		for (size_t j = i + 1; j < n && h[j].h == h[i].h; j++)
			if (devsys__node_equal(arr->u.arr.items[h[i].i], arr->u.arr.items[h[j].i])) {
				dup = h[j].i;
				break;
			}
	devsys__free(h);
	return dup;
}

static const sch *find_prop(const sch *s, const char *key, size_t keylen)
{
	size_t lo = 0, hi = s->n_props;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const prop *p = &s->props[mid];
		int c = p->keylen != keylen ? (p->keylen < keylen ? -1 : 1) : memcmp(p->key, key, keylen);
		if (c == 0)
			return p->s;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const char *type_name(const devsys_node *n)
{
	static const char *const names[] = { "null", "boolean", "number", "string", "array", "object" };
	if (n->type == DEVSYS_NODE_NUMBER && n->is_int)
		return "integer";
	return names[n->type];
}

static void types_text(char *buf, size_t size, unsigned types)
{
	static const char *const names[] = { "null", "boolean", "number", "string", "array", "object", "integer" };
	size_t len = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < 7; i++)
		if (types & (1u << i)) {
			int l = snprintf(buf + len, size - len, "%s%s", len ? " or " : "", names[i]);
			if (l < 0 || (size_t)l >= size - len)
				break;
			len += (size_t)l;
		}
}

static bool ann_alloc(ann *a, const devsys_node *inst, uint8_t *stackbuf, size_t stacklen)
{
	size_t n = inst->type == DEVSYS_NODE_OBJECT ? inst->u.obj.n : inst->u.arr.n;
	a->n = n;
	if (n <= stacklen) {
		a->bits = stackbuf;
		memset(stackbuf, 0, n ? n : 1);
		return true;
	}
	a->bits = devsys__calloc(n, 1);
	return a->bits != NULL;
}

static void ann_merge(ann *dst, const ann *src)
{
	if (!dst || !src || !src->bits)
		return;
	for (size_t i = 0; i < dst->n && i < src->n; i++)
		dst->bits[i] |= src->bits[i];
}

#define MARK(a, i)                                                                                                     \
	do {                                                                                                           \
		if ((a) && (a)->bits)                                                                                  \
			(a)->bits[i] = 1;                                                                              \
	} while (0)

/* Evaluate @p s in a fresh annotation scope (for anyOf/oneOf/if/not branches). */
static int eval_branch(vctx *c, const sch *s, const devsys_node *inst, ann *merge_into)
{
	uint8_t buf[64];
	ann a = { NULL, 0 };
	bool use = merge_into && merge_into->bits;
	if (use && !ann_alloc(&a, inst, buf, sizeof(buf))) {
		set_fatal(c, DEVSYS_ENOMEM, "out of memory");
		return 0;
	}
	int r = eval(c, s, inst, use ? &a : NULL);
	if (r && use)
		ann_merge(merge_into, &a);
	if (use && a.bits != buf)
		devsys__free(a.bits);
	return r;
}

static const sch *dynamic_target(vctx *c, const sch *s)
{
	if (!s->dynref_anchor)
		return s->dynref;
	for (size_t i = 0; i < c->nscope; i++) {
		resource *r = c->scope[i];
		for (size_t k = 0; k < r->ndyn; k++)
			if (r->dyn[k].compiled && strcmp(r->dyn[k].name, s->dynref_anchor) == 0)
				return r->dyn[k].compiled;
	}
	return s->dynref;
}

/* ---- the evaluator ---- */

#define STOP()                                                                                                         \
	do {                                                                                                           \
		valid = false;                                                                                         \
		if (!c->full || c->fatal)                                                                              \
			goto done;                                                                                     \
	} while (0)

static int eval(vctx *c, const sch *s, const devsys_node *inst, ann *out_ann)
{
	bool valid = true;
	bool pushed = false;
	uint8_t abuf[64];
	ann la = { NULL, 0 };
	ann *A = NULL;
	char sv[80];
	sv[0] = '\0';

	if (c->fatal)
		return 0;
	if (s->boolean == 1)
		return 1;
	/* a pure {"$ref": ...} wrapper: without paths to keep, go straight to the target
	 * (the wrapper's resource is its parent's, so the dynamic scope is the same) */
	while (s->ref_only && !TRACKING(c) && s->res == s->ref->res)
		s = s->ref;
	if (s->boolean) {
		if (s->boolean == 1)
			return 1;
		add_error(c, s, inst, "", "not allowed");
		return 0;
	}
	if (s->boolean == 2) {
		if (s->errmsg || !c->mute)
			add_error(c, s, inst, "", "%s is not allowed here", c->ipath.size ? "this value" : "the document");
		return 0;
	}
	if (++c->depth > MAX_EVAL_DEPTH) {
		set_fatal(c, DEVSYS_ELIMIT,
		          "schema %s: evaluation deeper than %d levels (a $ref cycle that never consumes input?)", s->abs,
		          MAX_EVAL_DEPTH);
		c->depth--;
		return 0;
	}
	if (c->nscope == 0 || c->scope[c->nscope - 1] != s->res) {
		if (c->nscope == c->ascope) {
			size_t na = c->ascope ? c->ascope * 2 : 16;
			resource **ns = realloc(c->scope, na * sizeof(*ns)); /* plain: see scratch */
			if (!ns) {
				set_fatal(c, DEVSYS_ENOMEM, "out of memory");
				c->depth--;
				return 0;
			}
			c->scope = ns;
			c->ascope = na;
		}
		c->scope[c->nscope++] = s->res;
		pushed = true;
	}
	bool container = inst->type == DEVSYS_NODE_OBJECT || inst->type == DEVSYS_NODE_ARRAY;
	if (c->S->need_ann && container) {
		if (s->uses_ann) {
			if (!ann_alloc(&la, inst, abuf, sizeof(abuf))) {
				set_fatal(c, DEVSYS_ENOMEM, "out of memory");
				valid = false;
				goto done;
			}
			A = &la;
		} else {
			A = out_ann;
		}
	}

	if (s->ref) {
		KPUSH(c, "$ref");
		int r = eval(c, s->ref, inst, A);
		KPOP(c);
		if (!r)
			STOP();
	}
	if (s->dynref) {
		KPUSH(c, "$dynamicRef");
		int r = eval(c, dynamic_target(c, s), inst, A);
		KPOP(c);
		if (!r)
			STOP();
	}

	/* ---- validation vocabulary ---- */
	if (s->types) {
		unsigned bit = 1u << inst->type;
		bool ok = (s->types & bit) || ((s->types & T_INTEGER) && inst->type == DEVSYS_NODE_NUMBER && inst->is_int);
		if (!ok) {
			char want[96] = "";
			if (REPORTING(c))
				types_text(want, sizeof(want), s->types);
			add_error(c, s, inst, "type", "expected %s, got %s", want, type_name(inst));
			STOP();
		}
	}
	if (s->cnst && !devsys__node_equal(s->cnst, inst)) {
		if (REPORTING(c))
			show(sv, sizeof(sv), inst);
		add_error(c, s, inst, "const", "%s is not the required constant value", sv);
		STOP();
	}
	if (s->enm) {
		bool found = false;
		for (size_t i = 0; i < s->enm->u.arr.n && !found; i++)
			found = devsys__node_equal(s->enm->u.arr.items[i], inst);
		if (!found) {
			char list[256];
			size_t len = 0;
			list[0] = '\0';
			for (size_t i = 0; REPORTING(c) && i < s->enm->u.arr.n && len < sizeof(list) - 8; i++) {
				char one[80];
				show(one, sizeof(one), s->enm->u.arr.items[i]);
				int l = snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", one);
				if (l < 0)
					break;
				len += (size_t)l;
			}
			if (REPORTING(c))
				show(sv, sizeof(sv), inst);
			add_error(c, s, inst, "enum", "%s is not one of %s", sv, list);
			STOP();
		}
	}
	if (inst->type == DEVSYS_NODE_NUMBER && s->nflags) {
		double x = inst->u.num;
		if ((s->nflags & N_MIN) && x < s->minimum) {
			add_error(c, s, inst, "minimum", "%.17g is less than the minimum of %.17g", x, s->minimum);
			STOP();
		}
		if ((s->nflags & N_MAX) && x > s->maximum) {
			add_error(c, s, inst, "maximum", "%.17g is greater than the maximum of %.17g", x, s->maximum);
			STOP();
		}
		if ((s->nflags & N_EXMIN) && x <= s->exmin) {
			add_error(c, s, inst, "exclusiveMinimum", "%.17g must be greater than %.17g", x, s->exmin);
			STOP();
		}
		if ((s->nflags & N_EXMAX) && x >= s->exmax) {
			add_error(c, s, inst, "exclusiveMaximum", "%.17g must be less than %.17g", x, s->exmax);
			STOP();
		}
		if (s->nflags & N_MULT) {
			bool ok;
			if (inst->is_int && devsys__is_integral(s->mult) && devsys__fabs(x) < 9007199254740992.0 &&
			    s->mult < 9007199254740992.0)
				ok = (int64_t)x % (int64_t)s->mult == 0;
			else {
				double q = x / s->mult;
				ok = q - q == 0.0 && devsys__fabs(q - devsys__floor(q + 0.5)) < 1e-9;
				/* x / m overflowed: an integer is a multiple of any 1/k */
				if (q - q != 0.0 && inst->is_int && s->mult < 1.0 && devsys__is_integral(1.0 / s->mult))
					ok = true;
			}
			if (!ok) {
				add_error(c, s, inst, "multipleOf", "%.17g is not a multiple of %.17g", x, s->mult);
				STOP();
			}
		}
	}
	if (inst->type == DEVSYS_NODE_STRING) {
		/* code points <= bytes <= 4 * code points: count only when that matters */
		size_t blen = inst->u.str.len;
		if ((s->min_len && blen / 4 < s->min_len) || (s->max_len != NO_LIMIT && blen > s->max_len)) {
			size_t cps = devsys__utf8_count(inst->u.str.s, inst->u.str.len);
			if (cps < s->min_len) {
				add_error(c, s, inst, "minLength", "is too short (%zu characters, at least %zu required)", cps,
				          s->min_len);
				STOP();
			}
			if (cps > s->max_len) {
				add_error(c, s, inst, "maxLength", "is too long (%zu characters, at most %zu allowed)", cps,
				          s->max_len);
				STOP();
			}
		}
		if (s->has_pattern && !re_match(c, &s->pattern, inst->u.str.s, inst->u.str.len, s)) {
			if (REPORTING(c))
				show(sv, sizeof(sv), inst);
			add_error(c, s, inst, "pattern", "%s does not match the pattern '%.120s'", sv, s->pattern.src);
			STOP();
		}
		if (s->format && !devsys__format_check(s->format, inst->u.str.s, inst->u.str.len)) {
			if (REPORTING(c))
				show(sv, sizeof(sv), inst);
			add_error(c, s, inst, "format", "%s is not a valid %s", sv, s->format_name);
			STOP();
		}
	}

	/* ---- in-place applicators ---- */
	for (size_t i = 0; i < s->n_all_of; i++) {
		size_t save = c->kpath.size;
		if (TRACKING(c)) {
			path_push(&c->kpath, "allOf", 5);
			path_push_idx(&c->kpath, i);
		}
		int r = eval(c, s->all_of[i], inst, A);
		if (TRACKING(c))
			path_pop(&c->kpath, save);
		if (!r)
			STOP();
	}
	if (s->n_any_of) {
		bool any = false;
		c->mute++;
		for (size_t i = 0; i < s->n_any_of; i++) {
			if (eval_branch(c, s->any_of[i], inst, A)) {
				any = true;
				if (!A)
					break; /* no annotations to collect: the first match decides */
			}
		}
		c->mute--;
		if (!any) {
			add_error(c, s, inst, "anyOf", "does not match any of the %zu allowed alternatives", s->n_any_of);
			STOP();
		}
	}
	if (s->n_one_of) {
		size_t matched = 0, first = 0, second = 0;
		uint8_t b1[64];
		ann tmp = { NULL, 0 };
		bool use = A && A->bits;
		if (use && !ann_alloc(&tmp, inst, b1, sizeof(b1))) {
			set_fatal(c, DEVSYS_ENOMEM, "out of memory");
			STOP();
		}
		c->mute++;
		for (size_t i = 0; i < s->n_one_of && matched < 2; i++) {
			if (eval_branch(c, s->one_of[i], inst, use ? &tmp : NULL)) {
				if (matched++ == 0)
					first = i;
				else
					second = i;
			}
		}
		c->mute--;
		if (matched == 1 && use)
			ann_merge(A, &tmp);
		if (use && tmp.bits != b1)
			devsys__free(tmp.bits);
		if (matched == 0) {
			add_error(c, s, inst, "oneOf", "does not match any of the %zu alternatives", s->n_one_of);
			STOP();
		} else if (matched > 1) {
			add_error(c, s, inst, "oneOf", "matches more than one alternative (%zu and %zu)", first, second);
			STOP();
		}
	}
	if (s->not_) {
		c->mute++;
		int r = eval_branch(c, s->not_, inst, NULL);
		c->mute--;
		if (r) {
			if (REPORTING(c))
				show(sv, sizeof(sv), inst);
			add_error(c, s, inst, "not", "%s is not allowed here", sv);
			STOP();
		}
	}
	if (s->if_) {
		c->mute++;
		int r = eval_branch(c, s->if_, inst, A);
		c->mute--;
		const sch *branch = r ? s->then_ : s->else_;
		if (branch && !c->fatal) {
			KPUSH(c, r ? "then" : "else");
			int b = eval(c, branch, inst, A);
			KPOP(c);
			if (!b)
				STOP();
		}
	}

	/* ---- arrays ---- */
	if (inst->type == DEVSYS_NODE_ARRAY) {
		size_t n = inst->u.arr.n;
		if (n < s->min_items) {
			add_error(c, s, inst, "minItems", "has %zu items, at least %zu required", n, s->min_items);
			STOP();
		}
		if (n > s->max_items) {
			add_error(c, s, inst, "maxItems", "has %zu items, at most %zu allowed", n, s->max_items);
			STOP();
		}
		if (s->unique) {
			size_t d = find_duplicate(inst);
			if (d != (size_t)-1) {
				add_error(c, s, inst, "uniqueItems", "item %zu repeats an earlier item; items must be unique", d);
				STOP();
			}
		}
		size_t np = s->n_prefix < n ? s->n_prefix : n;
		for (size_t i = 0; i < np; i++) {
			size_t ks = c->kpath.size, is = c->ipath.size;
			if (TRACKING(c)) {
				path_push(&c->kpath, s->items_is_additional ? "items" : "prefixItems",
				          s->items_is_additional ? 5 : 11);
				path_push_idx(&c->kpath, i);
				path_push_idx(&c->ipath, i);
			}
			int r = eval(c, s->prefix[i], inst->u.arr.items[i], NULL);
			if (TRACKING(c)) {
				path_pop(&c->kpath, ks);
				path_pop(&c->ipath, is);
			}
			MARK(A, i);
			if (!r)
				STOP();
		}
		if (s->items) {
			const char *kw = s->items_is_additional ? "additionalItems" : "items";
			for (size_t i = np; i < n; i++) {
				size_t ks = c->kpath.size, is = c->ipath.size;
				if (TRACKING(c)) {
					path_push(&c->kpath, kw, strlen(kw));
					path_push_idx(&c->ipath, i);
				}
				int r = eval(c, s->items, inst->u.arr.items[i], NULL);
				if (TRACKING(c)) {
					path_pop(&c->kpath, ks);
					path_pop(&c->ipath, is);
				}
				MARK(A, i);
				if (!r)
					STOP();
			}
		}
		if (s->contains) {
			size_t cnt = 0;
			c->mute++;
			for (size_t i = 0; i < n; i++) {
				if (eval(c, s->contains, inst->u.arr.items[i], NULL)) {
					cnt++;
					MARK(A, i);
					if (!A && cnt >= s->min_contains && s->max_contains == NO_LIMIT)
						break;
				}
			}
			c->mute--;
			if (cnt < s->min_contains) {
				add_error(c, s, inst, s->min_contains > 1 ? "minContains" : "contains",
				          "contains %zu matching items, at least %zu required", cnt, s->min_contains);
				STOP();
			}
			if (cnt > s->max_contains) {
				add_error(c, s, inst, "maxContains", "contains %zu matching items, at most %zu allowed", cnt,
				          s->max_contains);
				STOP();
			}
		}
	}

	/* ---- objects ---- */
	if (inst->type == DEVSYS_NODE_OBJECT) {
		size_t n = inst->u.obj.n;
		if (n < s->min_props) {
			add_error(c, s, inst, "minProperties", "has %zu properties, at least %zu required", n, s->min_props);
			STOP();
		}
		if (n > s->max_props) {
			add_error(c, s, inst, "maxProperties", "has %zu properties, at most %zu allowed", n, s->max_props);
			STOP();
		}
		if (s->required) {
			for (size_t i = 0; i < s->required->u.arr.n; i++) {
				const devsys_node *k = s->required->u.arr.items[i];
				if (!devsys__node_member(inst, k->u.str.s, k->u.str.len)) {
					add_error(c, s, inst, "required", "the required property '%s' is missing", k->u.str.s);
					STOP();
				}
			}
		}
		for (size_t d = 0; d < s->n_dep_req; d++) {
			if (!devsys__node_member(inst, s->dep_req[d].key, s->dep_req[d].keylen))
				continue;
			const devsys_node *names = s->dep_req[d].names;
			for (size_t i = 0; i < names->u.arr.n; i++) {
				const devsys_node *k = names->u.arr.items[i];
				if (k->type == DEVSYS_NODE_STRING && !devsys__node_member(inst, k->u.str.s, k->u.str.len)) {
					add_error(c, s, inst, s->draft == DRAFT7 ? "dependencies" : "dependentRequired",
					          "'%s' is required when '%s' is present", k->u.str.s, s->dep_req[d].key);
					STOP();
				}
			}
		}
		for (size_t d = 0; d < s->n_dep_sch; d++) {
			if (!devsys__node_member(inst, s->dep_sch[d].key, s->dep_sch[d].keylen))
				continue;
			size_t ks = c->kpath.size;
			if (TRACKING(c)) {
				const char *kw = s->draft == DRAFT7 ? "dependencies" : "dependentSchemas";
				path_push(&c->kpath, kw, strlen(kw));
				path_push(&c->kpath, s->dep_sch[d].key, s->dep_sch[d].keylen);
			}
			int r = eval(c, s->dep_sch[d].s, inst, A);
			if (TRACKING(c))
				path_pop(&c->kpath, ks);
			if (!r)
				STOP();
		}
		if (s->n_props || s->n_pprops || s->add_props || s->prop_names) {
			for (size_t i = 0; i < n; i++) {
				const devsys__member *m = &inst->u.obj.m[i];
				bool matched = false;
				size_t ks = c->kpath.size, is = c->ipath.size;
				if (TRACKING(c))
					path_push_key(&c->ipath, m->key, m->keylen);
				if (s->prop_names) {
					devsys_node kn = *m->val;
					kn.type = DEVSYS_NODE_STRING;
					kn.is_int = 0;
					kn.u.str.s = m->key;
					kn.u.str.len = m->keylen;
					if (TRACKING(c))
						path_push(&c->kpath, "propertyNames", 13);
					c->mute++;
					int r = eval(c, s->prop_names, &kn, NULL);
					c->mute--;
					if (TRACKING(c))
						path_pop(&c->kpath, ks);
					if (!r) {
						add_error(c, s, m->val, "propertyNames", "the property name %s is not allowed",
						          REPORTING(c) ? show_key(sv, sizeof(sv), m) : "");
						if (TRACKING(c))
							path_pop(&c->ipath, is);
						STOP();
					}
				}
				const sch *ps = s->n_props ? find_prop(s, m->key, m->keylen) : NULL;
				if (ps) {
					matched = true;
					if (TRACKING(c)) {
						path_push(&c->kpath, "properties", 10);
						path_push(&c->kpath, m->key, m->keylen);
					}
					int r = eval(c, ps, m->val, NULL);
					if (TRACKING(c))
						path_pop(&c->kpath, ks);
					MARK(A, i);
					if (!r) {
						if (TRACKING(c))
							path_pop(&c->ipath, is);
						STOP();
					}
				}
				for (size_t p = 0; p < s->n_pprops; p++) {
					if (!re_match(c, &s->pprops[p].re, m->key, m->keylen, s))
						continue;
					matched = true;
					if (TRACKING(c)) {
						path_push(&c->kpath, "patternProperties", 17);
						path_push(&c->kpath, s->pprops[p].re.src, strlen(s->pprops[p].re.src));
					}
					int r = eval(c, s->pprops[p].s, m->val, NULL);
					if (TRACKING(c))
						path_pop(&c->kpath, ks);
					MARK(A, i);
					if (!r) {
						if (TRACKING(c))
							path_pop(&c->ipath, is);
						STOP();
					}
				}
				if (!matched && s->add_props) {
					int r;
					if (s->add_props->boolean == 2 && !s->add_props->errmsg) {
						r = 0;
						add_error(c, s, m->val, "additionalProperties",
						          "unknown property %s (not allowed here; check the spelling)",
						          REPORTING(c) ? show_key(sv, sizeof(sv), m) : "");
					} else {
						if (TRACKING(c))
							path_push(&c->kpath, "additionalProperties", 20);
						r = eval(c, s->add_props, m->val, NULL);
						if (TRACKING(c))
							path_pop(&c->kpath, ks);
					}
					MARK(A, i);
					if (!r) {
						if (TRACKING(c))
							path_pop(&c->ipath, is);
						STOP();
					}
				}
				if (TRACKING(c))
					path_pop(&c->ipath, is);
			}
		}
	}

	/* ---- unevaluated (after everything else) ---- */
	if (s->uneval_items && inst->type == DEVSYS_NODE_ARRAY && A) {
		for (size_t i = 0; i < inst->u.arr.n; i++) {
			if (A->bits[i])
				continue;
			size_t ks = c->kpath.size, is = c->ipath.size;
			if (TRACKING(c)) {
				path_push(&c->kpath, "unevaluatedItems", 16);
				path_push_idx(&c->ipath, i);
			}
			int r = eval(c, s->uneval_items, inst->u.arr.items[i], NULL);
			if (TRACKING(c)) {
				path_pop(&c->kpath, ks);
				path_pop(&c->ipath, is);
			}
			if (!r)
				STOP();
		}
		for (size_t i = 0; i < inst->u.arr.n; i++)
			A->bits[i] = 1;
	}
	if (s->uneval_props && inst->type == DEVSYS_NODE_OBJECT && A) {
		for (size_t i = 0; i < inst->u.obj.n; i++) {
			if (A->bits[i])
				continue;
			const devsys__member *m = &inst->u.obj.m[i];
			size_t ks = c->kpath.size, is = c->ipath.size;
			int r;
			if (TRACKING(c))
				path_push_key(&c->ipath, m->key, m->keylen);
			if (s->uneval_props->boolean == 2 && !s->uneval_props->errmsg) {
				r = 0;
				add_error(c, s, m->val, "unevaluatedProperties",
				          "unknown property %s (not allowed here; check the spelling)",
				          REPORTING(c) ? show_key(sv, sizeof(sv), m) : "");
			} else {
				if (TRACKING(c))
					path_push(&c->kpath, "unevaluatedProperties", 21);
				r = eval(c, s->uneval_props, m->val, NULL);
			}
			if (TRACKING(c)) {
				path_pop(&c->kpath, ks);
				path_pop(&c->ipath, is);
			}
			if (!r)
				STOP();
		}
		for (size_t i = 0; i < inst->u.obj.n; i++)
			A->bits[i] = 1;
	}

done:
	if (valid && A == &la && out_ann && out_ann->bits)
		ann_merge(out_ann, &la);
	if (la.bits && la.bits != abuf)
		devsys__free(la.bits);
	if (pushed)
		c->nscope--;
	c->depth--;
	return valid && !c->fatal;
}

/* ---- public ---- */

void devsys_validation_free(devsys_validation *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		devsys_validation_error *e = &v->errs[i];
		devsys__free(e->message);
		devsys__free(e->instance_location);
		devsys__free(e->keyword_location);
		devsys__free(e->absolute_keyword_location);
		devsys__free(e->keyword);
		devsys__free(e->file);
	}
	devsys__free(v->errs);
	devsys__free(v);
}

int devsys_schema_validate(devsys_validation **out, const devsys_schema *schema, const devsys_node *instance)
{
	vctx c;
	int rc;
	if (out)
		*out = NULL;
	DEVSYS__CHECK_ARG(schema);
	DEVSYS__CHECK_ARG(instance);
	memset(&c, 0, sizeof(c));
	c.S = schema;
	if (out) {
		if (!(c.out = devsys__calloc(1, sizeof(*c.out))))
			return devsys__error_oom();
		c.full = true;
	}
	scratch *sc = scratch_get();
	if (sc) {
		sc->busy = true;
		c.md = sc->md;
		c.scope = sc->scope;
		c.ascope = sc->ascope;
	}
	int ok = eval(&c, schema->root, instance, NULL);
	if (sc) {
		sc->md = c.md;
		sc->scope = c.scope;
		sc->ascope = c.ascope;
		sc->busy = false;
	} else {
		if (c.md)
			pcre2_match_data_free(c.md);
		free(c.scope);
	}
	devsys_buf_dispose(&c.kpath);
	devsys_buf_dispose(&c.ipath);
	if (c.fatal) {
		devsys_validation_free(c.out);
		return devsys__error_set(c.fatal, "%s:%u:%u: %s", devsys_node_source(instance), instance->line,
		                         instance->col, c.fatal_msg);
	}
	if (ok) {
		if (out)
			*out = c.out;
		return 0;
	}
	if (c.out && c.out->n > 0) {
		const devsys_validation_error *e = &c.out->errs[0];
		rc = devsys__error_set(DEVSYS_EINVALID, "%s:%u:%u: %s: %s%s", e->file, e->line, e->column,
		                       *e->instance_location ? e->instance_location : "/", e->message,
		                       c.out->n > 1 ? " (and more errors)" : "");
	} else {
		/* the fast path keeps no errors: find the first one for the message */
		devsys_validation *first = NULL;
		int r2 = devsys_schema_validate(&first, schema, instance);
		devsys_validation_free(first);
		if (r2 == DEVSYS_EINVALID)
			return r2;
		rc = devsys__error_set(DEVSYS_EINVALID, "%s:%u:%u: the document does not match the schema",
		                       devsys_node_source(instance), instance->line, instance->col);
	}
	if (out)
		*out = c.out;
	return rc;
}

int devsys_validation_valid(const devsys_validation *v)
{
	return v && v->n == 0;
}

size_t devsys_validation_count(const devsys_validation *v)
{
	return v ? v->n : 0;
}

const devsys_validation_error *devsys_validation_at(const devsys_validation *v, size_t i)
{
	return v && i < v->n ? &v->errs[i] : NULL;
}

const char *devsys_validation_error_message(const devsys_validation_error *e)
{
	return e ? e->message : "";
}

const char *devsys_validation_error_instance_location(const devsys_validation_error *e)
{
	return e ? e->instance_location : "";
}

const char *devsys_validation_error_keyword_location(const devsys_validation_error *e)
{
	return e ? e->keyword_location : "";
}

const char *devsys_validation_error_absolute_keyword_location(const devsys_validation_error *e)
{
	return e ? e->absolute_keyword_location : "";
}

const char *devsys_validation_error_keyword(const devsys_validation_error *e)
{
	return e ? e->keyword : "";
}

const char *devsys_validation_error_file(const devsys_validation_error *e)
{
	return e ? e->file : "";
}

unsigned int devsys_validation_error_line(const devsys_validation_error *e)
{
	return e ? e->line : 0;
}

unsigned int devsys_validation_error_column(const devsys_validation_error *e)
{
	return e ? e->column : 0;
}

int devsys_validation_to_json(devsys_buf *out, const devsys_validation *v)
{
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(v);
	if ((rc = devsys_buf_printf(out, "{\"valid\":%s", v->n ? "false" : "true")) != 0)
		return rc;
	if (v->n) {
		if ((rc = devsys_buf_puts(out, ",\"errors\":[")) != 0)
			return rc;
		for (size_t i = 0; i < v->n; i++) {
			const devsys_validation_error *e = &v->errs[i];
			if ((i && (rc = devsys_buf_puts(out, ",")) != 0) ||
			    (rc = devsys_buf_puts(out, "{\"keywordLocation\":")) != 0 ||
			    (rc = devsys__json_put_string(out, e->keyword_location, strlen(e->keyword_location))) != 0 ||
			    (rc = devsys_buf_puts(out, ",\"absoluteKeywordLocation\":")) != 0 ||
			    (rc = devsys__json_put_string(out, e->absolute_keyword_location,
			                                  strlen(e->absolute_keyword_location))) != 0 ||
			    (rc = devsys_buf_puts(out, ",\"instanceLocation\":")) != 0 ||
			    (rc = devsys__json_put_string(out, e->instance_location, strlen(e->instance_location))) != 0 ||
			    (rc = devsys_buf_puts(out, ",\"error\":")) != 0 ||
			    (rc = devsys__json_put_string(out, e->message, strlen(e->message))) != 0 ||
			    (rc = devsys_buf_puts(out, ",\"keyword\":")) != 0 ||
			    (rc = devsys__json_put_string(out, e->keyword, strlen(e->keyword))) != 0 ||
			    (rc = devsys_buf_puts(out, ",\"file\":")) != 0 ||
			    (rc = devsys__json_put_string(out, e->file, strlen(e->file))) != 0 ||
			    (rc = devsys_buf_printf(out, ",\"line\":%u,\"column\":%u}", e->line, e->column)) != 0)
				return rc;
		}
		if ((rc = devsys_buf_puts(out, "]")) != 0)
			return rc;
	}
	return devsys_buf_puts(out, "}");
}
