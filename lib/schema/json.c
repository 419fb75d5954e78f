/*
 * A position-recording JSON reader (RFC 8259). One pass, iterative (an
 * explicit stack, so deep nesting cannot overflow the C stack), every node
 * keeps its line and column. jansson keeps no node positions, hence this.
 */
#include "schema/doc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct jr {
	const char *p, *end, *line_start;
	uint32_t line;
	const char *src;
	devsys__builder *b;
	char *tmp;
	size_t atmp;
} jr;

static uint32_t col_of(const jr *r, const char *at)
{
	return (uint32_t)(at - r->line_start) + 1u;
}

static int perr(const jr *r, const char *at, const char *what)
{
	return devsys__error_set(DEVSYS_EPARSE, "%s:%u:%u: %s", r->src, r->line, col_of(r, at), what);
}

static void skip_ws(jr *r)
{
	while (r->p < r->end) {
		char c = *r->p;
		if (c == '\n') {
			r->line++;
			r->line_start = ++r->p;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			r->p++;
		} else {
			break;
		}
	}
}

static int tmp_reserve(jr *r, size_t n)
{
	if (n <= r->atmp)
		return 0;
	size_t na = r->atmp ? r->atmp : 256;
	while (na < n)
		na *= 2;
	char *t = devsys__realloc(r->tmp, na);
	if (!t)
		return devsys__error_oom();
	r->tmp = t;
	r->atmp = na;
	return 0;
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Parse a string at r->p (on the opening quote) into the arena. */
static int read_string(jr *r, const char **out, size_t *outlen)
{
	const char *start = ++r->p;
	/* fast path: no escapes */
	const char *q = start;
	/* 8 bytes at a time while none is '"', '\\', a control or a non-ASCII byte */
	while (r->end - q >= 8) {
		uint64_t w;
		memcpy(&w, q, 8);
		const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
		uint64_t xq = w ^ (ones * '"'), xb = w ^ (ones * '\\');
		uint64_t special = ((xq - ones) & ~xq) | ((xb - ones) & ~xb) | ((w - ones * 0x20) & ~w) | w;
		if (special & high)
			break;
		q += 8;
	}
	while (q < r->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80)
		q++;
	if (q < r->end && *q == '"') {
		if (!(*out = devsys__arena_strndup(r->b->arena, start, (size_t)(q - start))))
			return devsys__error_oom();
		*outlen = (size_t)(q - start);
		r->p = q + 1;
		return 0;
	}
	size_t n = 0;
	int rc;
	if ((rc = tmp_reserve(r, (size_t)(r->end - start) + 8)) != 0)
		return rc;
	const char *s = start;
	while (s < r->end) {
		unsigned char c = (unsigned char)*s;
		if (c == '"') {
			if (!(*out = devsys__arena_strndup(r->b->arena, r->tmp, n)))
				return devsys__error_oom();
			*outlen = n;
			r->p = s + 1;
			return 0;
		}
		if (c < 0x20)
			return perr(r, s, c == 0 ? "NUL byte in a string" : "control character in a string (escape it)");
		if (c == '\\') {
			if (s + 1 >= r->end)
				break;
			char e = s[1];
			char m = 0;
			switch (e) {
			case '"': m = '"'; break;
			case '\\': m = '\\'; break;
			case '/': m = '/'; break;
			case 'b': m = '\b'; break;
			case 'f': m = '\f'; break;
			case 'n': m = '\n'; break;
			case 'r': m = '\r'; break;
			case 't': m = '\t'; break;
			case 'u': {
				uint32_t cp, lo;
				if (r->end - s < 6 || hex4(s + 2, &cp))
					return perr(r, s, "invalid \\u escape");
				s += 6;
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					if (r->end - s >= 6 && s[0] == '\\' && s[1] == 'u' && hex4(s + 2, &lo) == 0 &&
					    lo >= 0xDC00 && lo <= 0xDFFF) {
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						s += 6;
					} else {
						return perr(r, s - 6, "unpaired UTF-16 surrogate in \\u escape");
					}
				} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
					return perr(r, s - 6, "unpaired UTF-16 surrogate in \\u escape");
				}
				n += put_utf8(r->tmp + n, cp);
				continue;
			}
			default: return perr(r, s, "invalid escape in a string");
			}
			r->tmp[n++] = m;
			s += 2;
			continue;
		}
		if (c >= 0x80) {
			uint32_t cp;
			size_t l = devsys__utf8_seq((const unsigned char *)s, (size_t)(r->end - s), &cp);
			if (!l)
				return perr(r, s, "invalid UTF-8 in a string");
			memcpy(r->tmp + n, s, l);
			n += l;
			s += l;
			continue;
		}
		r->tmp[n++] = (char)c;
		s++;
	}
	return perr(r, start - 1, "unterminated string");
}

static int read_number(jr *r, devsys_node *n)
{
	const char *s = r->p, *start = s;
	bool frac = false;
	if (s < r->end && *s == '-')
		s++;
	if (s >= r->end || *s < '0' || *s > '9')
		return perr(r, start, "invalid number");
	if (*s == '0') {
		s++;
	} else {
		while (s < r->end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < r->end && *s == '.') {
		s++;
		frac = true;
		if (s >= r->end || *s < '0' || *s > '9')
			return perr(r, start, "invalid number: digits expected after '.'");
		while (s < r->end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < r->end && (*s == 'e' || *s == 'E')) {
		s++;
		frac = true;
		if (s < r->end && (*s == '+' || *s == '-'))
			s++;
		if (s >= r->end || *s < '0' || *s > '9')
			return perr(r, start, "invalid number: digits expected in the exponent");
		while (s < r->end && *s >= '0' && *s <= '9')
			s++;
	}
	size_t len = (size_t)(s - start);
	double d;
	if (!frac && len < 16) {
		/* small integers: exact without strtod */
		int64_t v = 0;
		const char *q = start;
		bool neg = *q == '-';
		if (neg)
			q++;
		for (; q < s; q++)
			v = v * 10 + (*q - '0');
		d = neg ? -(double)v : (double)v; /* -0 stays -0, as strtod reads it */
	} else {
		char buf[64];
		char *num = buf;
		if (len >= sizeof(buf)) {
			int rc = tmp_reserve(r, len + 1);
			if (rc)
				return rc;
			num = r->tmp;
		}
		memcpy(num, start, len);
		num[len] = '\0';
		d = strtod(num, NULL);
	}
	n->u.num = d;
	n->is_int = devsys__is_integral(d);
	r->p = s;
	return 0;
}

static bool lit(jr *r, const char *word)
{
	size_t l = strlen(word);
	if ((size_t)(r->end - r->p) < l || memcmp(r->p, word, l) != 0)
		return false;
	r->p += l;
	return true;
}

int devsys__json_parse(devsys_node **out, devsys__arena *arena, const char *data, size_t len, const char *src,
                       size_t max_depth, size_t max_nodes)
{
	devsys__builder b;
	jr r;
	int rc = 0;

	devsys__builder_init(&b, arena, src, max_depth, max_nodes);
	memset(&r, 0, sizeof(r));
	r.p = r.line_start = data;
	r.end = data + len;
	r.line = 1;
	r.src = src;
	r.b = &b;
	*out = NULL;

	/* a UTF-8 BOM is tolerated */
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		r.p += 3;

	/* states: expecting a value, or after a value inside a container */
	for (;;) {
		skip_ws(&r);
		if (r.p >= r.end) {
			rc = perr(&r, r.p, b.nframes ? "unexpected end of input (unclosed [ or {)" : "no JSON value");
			goto fail;
		}
		const char *at = r.p;
		uint32_t line = r.line, col = col_of(&r, at);
		char c = *r.p;
		devsys_node *n;
		/* in an object: a key first */
		if (devsys__builder_in_object(&b)) {
			if (c == '}' && b.nstack == b.frames[b.nframes - 1].start) {
				r.p++;
				if ((rc = devsys__builder_close(&b)) != 0)
					goto fail;
				goto after_value;
			}
			if (c != '"') {
				rc = perr(&r, at, "expected a string key");
				goto fail;
			}
			const char *key;
			size_t keylen;
			if ((rc = read_string(&r, &key, &keylen)) != 0)
				goto fail;
			b.pending_key = key;
			b.pending_keylen = keylen;
			skip_ws(&r);
			if (r.p >= r.end || *r.p != ':') {
				rc = perr(&r, r.p, "expected ':' after a key");
				goto fail;
			}
			r.p++;
			skip_ws(&r);
			if (r.p >= r.end) {
				rc = perr(&r, r.p, "unexpected end of input after ':'");
				goto fail;
			}
			at = r.p;
			line = r.line;
			col = col_of(&r, at);
			c = *r.p;
		}
		if ((rc = devsys__builder_count(&b, 1)) != 0)
			goto fail;
		switch (c) {
		case '{':
		case '[':
			if (!(n = devsys__builder_node(&b, c == '{' ? DEVSYS_NODE_OBJECT : DEVSYS_NODE_ARRAY, line, col))) {
				rc = devsys__error_oom();
				goto fail;
			}
			r.p++;
			if ((rc = devsys__builder_open(&b, n)) != 0)
				goto fail;
			if (c == '[') {
				skip_ws(&r);
				if (r.p < r.end && *r.p == ']') {
					r.p++;
					if ((rc = devsys__builder_close(&b)) != 0)
						goto fail;
					goto after_value;
				}
			}
			continue;
		case '"':
			if (!(n = devsys__builder_node(&b, DEVSYS_NODE_STRING, line, col))) {
				rc = devsys__error_oom();
				goto fail;
			}
			if ((rc = read_string(&r, &n->u.str.s, &n->u.str.len)) != 0)
				goto fail;
			break;
		case 't':
		case 'f':
		case 'n':
			if (!(n = devsys__builder_node(&b, DEVSYS_NODE_NULL, line, col))) {
				rc = devsys__error_oom();
				goto fail;
			}
			if (lit(&r, "true")) {
				n->type = DEVSYS_NODE_BOOL;
				n->u.b = 1;
			} else if (lit(&r, "false")) {
				n->type = DEVSYS_NODE_BOOL;
			} else if (!lit(&r, "null")) {
				rc = perr(&r, at, "invalid literal (expected true, false or null)");
				goto fail;
			}
			break;
		default:
			if (c == '-' || (c >= '0' && c <= '9')) {
				if (!(n = devsys__builder_node(&b, DEVSYS_NODE_NUMBER, line, col))) {
					rc = devsys__error_oom();
					goto fail;
				}
				if ((rc = read_number(&r, n)) != 0)
					goto fail;
				break;
			}
			if (c == '\0')
				rc = perr(&r, at, "NUL byte in the input");
			else if ((unsigned char)c >= 0x80)
				rc = perr(&r, at, "unexpected non-ASCII byte (is this JSON?)");
			else
				rc = perr(&r, at, "unexpected character (expected a JSON value)");
			goto fail;
		}
		if ((rc = devsys__builder_add(&b, n)) != 0)
			goto fail;
	after_value:
		for (;;) {
			if (b.nframes == 0) {
				skip_ws(&r);
				if (r.p < r.end) {
					rc = perr(&r, r.p, "trailing data after the JSON value");
					goto fail;
				}
				*out = b.root;
				devsys__builder_dispose(&b);
				devsys__free(r.tmp);
				return 0;
			}
			skip_ws(&r);
			if (r.p >= r.end) {
				rc = perr(&r, r.p, "unexpected end of input (unclosed [ or {)");
				goto fail;
			}
			bool obj = devsys__builder_in_object(&b);
			if (*r.p == ',') {
				r.p++;
				skip_ws(&r);
				if (r.p < r.end && (*r.p == ']' || *r.p == '}')) {
					rc = perr(&r, r.p, "trailing comma");
					goto fail;
				}
				break;
			}
			if (*r.p == (obj ? '}' : ']')) {
				r.p++;
				if ((rc = devsys__builder_close(&b)) != 0)
					goto fail;
				continue;
			}
			rc = perr(&r, r.p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
			goto fail;
		}
	}
fail:
	devsys__builder_dispose(&b);
	devsys__free(r.tmp);
	return rc;
}
