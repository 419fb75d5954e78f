/*
 * Glob matching for path classes. fnmatch(3) has no `**` and gitignore's
 * matcher is not a library here, so this is a small matcher of its own:
 * segments are matched with the classic "retry only the last star" loop,
 * once for `*` inside a segment and once for `**` across segments. That is
 * correct because every other element matches exactly one unit (a
 * character, or a segment), and it visits each (pattern, text) position pair
 * at most once per star, so time is bounded by the product of the lengths.
 */
#include "glob.h"

#include <string.h>

static int bad(const char *text, size_t col, const char *why)
{
	return devsys__error_set(DEVSYS_EINVALID, "glob '%.200s': %s at column %zu", text, why, col);
}

/* Length of the class starting at p[0] == '[' within a segment, or 0 when unterminated. */
static size_t class_len(const char *p, size_t len)
{
	size_t i = 1;
	if (i < len && (p[i] == '!' || p[i] == '^'))
		i++;
	if (i < len && p[i] == ']')
		i++; /* a leading ']' is literal */
	for (; i < len; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == ']')
			return i + 1;
	}
	return 0;
}

/* Check one segment's syntax; @p off is its offset in @p text for columns. */
static int check_seg(const char *text, size_t off, const char *p, size_t len)
{
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return bad(text, off + 1, "'.' and '..' segments never match a path");
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\') {
			if (i + 1 >= len)
				return bad(text, off + i + 1, "'\\' at the end of a segment escapes nothing");
			i++;
		} else if (p[i] == '[') {
			size_t n = class_len(p + i, len - i);
			if (!n)
				return bad(text, off + i + 1, "unterminated character class '['");
			i += n - 1;
		} else if (p[i] == '*' && i + 1 < len && p[i + 1] == '*') {
			return bad(text, off + i + 1, "'**' must be a whole path segment (a/**/b)");
		}
	}
	return 0;
}

static int add_seg(struct devsys__glob *g, const char *p, size_t len, bool dstar)
{
	if (dstar && g->nseg && g->seg[g->nseg - 1].dstar)
		return 0; /* two ** segments in a row match what one does */
	g->seg[g->nseg].p = p;
	g->seg[g->nseg].len = len;
	g->seg[g->nseg].dstar = dstar;
	g->nseg++;
	return 0;
}

int devsys__glob_compile(struct devsys__glob *g, const char *text)
{
	size_t tl = strlen(text), start = 0;
	bool anchored = false;
	memset(g, 0, sizeof(*g));
	if (!tl)
		return devsys__error_set(DEVSYS_EINVALID, "glob '': empty pattern");
	if (tl > DEVSYS__GLOB_MAX)
		return devsys__error_set(DEVSYS_EINVALID, "glob '%.40s...': longer than %d characters", text,
		                         DEVSYS__GLOB_MAX);
	if (text[0] == '/')
		anchored = true, start = 1;
	if (start == tl)
		return bad(text, 1, "nothing after the anchoring '/'");
	if (text[tl - 1] == '/')
		return bad(text, tl, "a trailing '/' is not a file (write dir/** for everything under dir)");
	anchored = anchored || strchr(text + start, '/') != NULL;
	if (!(g->buf = devsys__strdup(text + start)) || !(g->seg = devsys__calloc(tl + 2, sizeof(*g->seg)))) {
		devsys__glob_dispose(g);
		return devsys__error_oom();
	}
	if (!anchored)
		add_seg(g, "**", 2, true); /* a file name matches at any depth */
	for (size_t i = 0, len; i <= tl - start; i += len + 1) {
		const char *p = g->buf + i;
		len = strcspn(p, "/");
		int rc = 0;
		if (!len)
			rc = bad(text, start + i + 1, "empty path segment ('//')");
		else if (len == 2 && p[0] == '*' && p[1] == '*')
			rc = add_seg(g, p, len, true);
		else if (!(rc = check_seg(text, start + i, p, len)))
			rc = add_seg(g, p, len, false);
		if (rc < 0) {
			devsys__glob_dispose(g);
			return rc;
		}
	}
	return 0;
}

void devsys__glob_dispose(struct devsys__glob *g)
{
	devsys__free(g->buf);
	devsys__free(g->seg);
	memset(g, 0, sizeof(*g));
}

int devsys__path_split(struct devsys__path *out, const char *path)
{
	size_t pl = strlen(path);
	const char *why = NULL;
	out->n = 0;
	if (!pl)
		why = "empty";
	else if (pl > DEVSYS__PATH_MAX)
		why = "longer than 4096 characters";
	else if (path[0] == '/')
		why = "absolute (give it relative to the repository root)";
	for (size_t i = 0, len; !why && i <= pl; i += len + 1) {
		len = strcspn(path + i, "/");
		if (!len)
			why = "has an empty segment";
		else if ((len == 1 && path[i] == '.') || (len == 2 && path[i] == '.' && path[i + 1] == '.'))
			why = "has a '.' or '..' segment";
		else {
			out->seg[out->n] = path + i;
			out->len[out->n++] = len;
		}
	}
	if (why)
		return devsys__error_set(DEVSYS_EINVAL, "path '%.200s': %s", path, why);
	return 0;
}

/* Does class p[0..n) (p[0] == '[', p[n-1] the closing ']') contain c? */
static bool class_has(const char *p, size_t n, char c)
{
	size_t i = 1, end = n - 1;
	bool neg = false, hit = false;
	if (p[i] == '!' || p[i] == '^')
		neg = true, i++;
	while (i < end) {
		char lo = p[i] == '\\' ? p[++i] : p[i];
		char hi = lo;
		i++;
		if (i + 1 < end && p[i] == '-') {
			i++;
			hi = p[i] == '\\' && i + 1 < end ? p[++i] : p[i];
			i++;
		}
		if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
			hit = true;
	}
	return hit != neg;
}

/* Match the element at p[*pi] against c; advance *pi past it on success. */
static bool unit(const char *p, size_t pl, size_t *pi, char c)
{
	size_t i = *pi;
	if (p[i] == '?') {
		*pi = i + 1;
		return true;
	}
	if (p[i] == '[') {
		size_t n = class_len(p + i, pl - i);
		*pi = i + n;
		return class_has(p + i, n, c);
	}
	if (p[i] == '\\')
		i++;
	*pi = i + 1;
	return p[i] == c;
}

static bool seg_match(const char *p, size_t pl, const char *s, size_t sl)
{
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
	while (si < sl) {
		if (pi < pl && p[pi] == '*') {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		size_t next = pi;
		if (pi < pl && unit(p, pl, &next, s[si])) {
			pi = next;
			si++;
			continue;
		}
		if (star_p == SIZE_MAX)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}

bool devsys__glob_match(const struct devsys__glob *g, const struct devsys__path *path)
{
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
	while (si < path->n) {
		const struct devsys__glob_seg *sg = pi < g->nseg ? &g->seg[pi] : NULL;
		if (sg && sg->dstar) {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (sg && seg_match(sg->p, sg->len, path->seg[si], path->len[si])) {
			pi++;
			si++;
			continue;
		}
		if (star_p == SIZE_MAX)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < g->nseg && g->seg[pi].dstar)
		pi++;
	return pi == g->nseg;
}
