/*
 * RFC 3986 reference resolution, enough for $id/$ref.
 */
#include "schema/schema_int.h"

#include <string.h>

typedef struct uparts {
	const char *scheme; size_t scheme_len; bool has_scheme;
	const char *auth; size_t auth_len; bool has_auth;
	const char *path; size_t path_len;
	const char *query; size_t query_len; bool has_query;
	const char *frag; size_t frag_len; bool has_frag;
} uparts;

static void parse(const char *u, uparts *p)
{
	memset(p, 0, sizeof(*p));
	const char *s = u;
	/* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	const char *q = s;
	if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')) {
		while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '+' ||
		       *q == '-' || *q == '.')
			q++;
		if (*q == ':') {
			p->has_scheme = true;
			p->scheme = s;
			p->scheme_len = (size_t)(q - s);
			s = q + 1;
		}
	}
	if (s[0] == '/' && s[1] == '/') {
		s += 2;
		p->has_auth = true;
		p->auth = s;
		while (*s && *s != '/' && *s != '?' && *s != '#')
			s++;
		p->auth_len = (size_t)(s - p->auth);
	}
	p->path = s;
	while (*s && *s != '?' && *s != '#')
		s++;
	p->path_len = (size_t)(s - p->path);
	if (*s == '?') {
		p->has_query = true;
		p->query = ++s;
		while (*s && *s != '#')
			s++;
		p->query_len = (size_t)(s - p->query);
	}
	if (*s == '#') {
		p->has_frag = true;
		p->frag = s + 1;
		p->frag_len = strlen(p->frag);
	}
}

/* remove_dot_segments on a NUL-terminated path, in place */
static void remove_dots(char *in)
{
	char *out = in, *src = in;
	size_t olen = 0;
	while (*src) {
		if (strncmp(src, "../", 3) == 0) {
			src += 3;
		} else if (strncmp(src, "./", 2) == 0) {
			src += 2;
		} else if (strncmp(src, "/./", 3) == 0) {
			src += 2;
		} else if (strcmp(src, "/.") == 0) {
			src[1] = '\0';
		} else if (strncmp(src, "/../", 4) == 0 || strcmp(src, "/..") == 0) {
			if (src[3] == '\0')
				src[2] = '/', src += 2;
			else
				src += 3;
			while (olen > 0 && out[olen - 1] != '/')
				olen--;
			if (olen > 0)
				olen--;
		} else if (strcmp(src, ".") == 0 || strcmp(src, "..") == 0) {
			src += strlen(src);
		} else {
			if (*src == '/')
				out[olen++] = *src++;
			while (*src && *src != '/')
				out[olen++] = *src++;
		}
	}
	out[olen] = '\0';
}

char *devsys__uri_resolve(const char *base, const char *ref)
{
	uparts b, r;
	devsys_buf out = DEVSYS_BUF_INIT;
	devsys_buf path = DEVSYS_BUF_INIT;
	if (!base || !*base)
		return devsys__strdup(ref);
	parse(base, &b);
	parse(ref, &r);
	const uparts *auth_from;
	const char *qs = NULL;
	size_t qlen = 0;
	bool hasq = false;
	if (r.has_scheme) {
		devsys_buf_put(&out, r.scheme, r.scheme_len);
		auth_from = &r;
		devsys_buf_put(&path, r.path, r.path_len);
		hasq = r.has_query, qs = r.query, qlen = r.query_len;
	} else {
		devsys_buf_put(&out, b.scheme, b.scheme_len);
		if (r.has_auth) {
			auth_from = &r;
			devsys_buf_put(&path, r.path, r.path_len);
			hasq = r.has_query, qs = r.query, qlen = r.query_len;
		} else {
			auth_from = &b;
			if (r.path_len == 0) {
				devsys_buf_put(&path, b.path, b.path_len);
				if (r.has_query)
					hasq = true, qs = r.query, qlen = r.query_len;
				else
					hasq = b.has_query, qs = b.query, qlen = b.query_len;
			} else if (r.path[0] == '/') {
				devsys_buf_put(&path, r.path, r.path_len);
				hasq = r.has_query, qs = r.query, qlen = r.query_len;
			} else {
				if (b.has_auth && b.path_len == 0) {
					devsys_buf_puts(&path, "/");
				} else {
					size_t k = b.path_len;
					while (k > 0 && b.path[k - 1] != '/')
						k--;
					devsys_buf_put(&path, b.path, k);
				}
				devsys_buf_put(&path, r.path, r.path_len);
				hasq = r.has_query, qs = r.query, qlen = r.query_len;
			}
		}
	}
	if (path.ptr && (path.ptr[0] == '/' || auth_from->has_auth))
		remove_dots(path.ptr);
	if (out.size || b.has_scheme || r.has_scheme)
		devsys_buf_puts(&out, ":");
	if (auth_from->has_auth) {
		devsys_buf_puts(&out, "//");
		devsys_buf_put(&out, auth_from->auth, auth_from->auth_len);
	}
	if (path.ptr)
		devsys_buf_puts(&out, path.ptr);
	if (hasq) {
		devsys_buf_puts(&out, "?");
		devsys_buf_put(&out, qs, qlen);
	}
	if (r.has_frag) {
		devsys_buf_puts(&out, "#");
		devsys_buf_put(&out, r.frag, r.frag_len);
	}
	devsys_buf_dispose(&path);
	if (!out.ptr)
		return devsys__strdup("");
	return out.ptr;
}

char *devsys__uri_split(const char *uri, const char **frag)
{
	const char *h = strchr(uri, '#');
	*frag = h ? h + 1 : NULL;
	return h ? devsys__strndup(uri, (size_t)(h - uri)) : devsys__strdup(uri);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *devsys__uri_unescape(const char *s)
{
	size_t n = strlen(s);
	char *o = devsys__malloc(n + 1);
	size_t k = 0;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 0 + 1 && hexval(s[i + 1]) >= 0 && i + 2 < n && hexval(s[i + 2]) >= 0) {
			o[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = '\0';
	return o;
}
