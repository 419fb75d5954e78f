/*
 * spec-kit feature folders: reading the Markdown files line by line (fences
 * and HTML comments skipped) and parsing spec.md, plan.md, tasks.md and
 * checklists/NAME.md into the feature handle.
 */
#include "speckit_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const devsys__speckit_fields[9] = {
	"Language/Version", "Primary Dependencies", "Storage",     "Testing",      "Target Platform",
	"Project Type",     "Performance Goals",    "Constraints", "Scale/Scope",
};

/* ---- small string helpers ---- */

int devsys__sk_strv_push(sk_strv *s, const char *p, size_t n, unsigned line)
{
	if (s->n == s->cap) {
		/* one block holds the pointers and then the lines: half the
		 * allocations of two arrays (a feature has thousands of lists) */
		size_t cap = s->cap ? s->cap * 2 : 4;
		char **v = devsys__malloc(cap * (sizeof(*v) + sizeof(unsigned)));
		if (!v)
			return devsys__error_oom();
		unsigned *l = (unsigned *)(v + cap);
		if (s->n) {
			memcpy(v, s->v, s->n * sizeof(*v));
			memcpy(l, s->line, s->n * sizeof(*l));
		}
		devsys__free(s->v);
		s->v = v;
		s->line = l;
		s->cap = cap;
	}
	if (!(s->v[s->n] = devsys__strndup(p, n)))
		return devsys__error_oom();
	s->line[s->n++] = line;
	return 0;
}

bool devsys__sk_strv_has(const sk_strv *s, const char *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], p) == 0)
			return true;
	return false;
}

void devsys__sk_strv_dispose(sk_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		devsys__free(s->v[i]);
	devsys__free(s->v); /* s->line is in the same block */
	memset(s, 0, sizeof(*s));
}

size_t devsys__sk_task_id_len(const char *p, const char *end)
{
	if (p >= end || *p != 'T')
		return 0;
	size_t n = 1;
	while (p + n < end && isdigit((unsigned char)p[n]) && n <= 7)
		n++;
	if (n < 4 || n > 7)
		return 0;
	if (p + n < end && p[n] >= 'a' && p[n] <= 'z')
		n++;
	if (p + n < end && (isalnum((unsigned char)p[n]) || p[n] == '_'))
		return 0;
	return n;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static const char *rtrim(const char *p, const char *end)
{
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end;
}

static bool starts(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

static const char *find(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	for (; (size_t)(end - p) >= n; p++) {
		p = memchr(p, lit[0], (size_t)(end - p));
		if (!p || (size_t)(end - p) < n)
			return NULL;
		if (memcmp(p, lit, n) == 0)
			return p;
	}
	return NULL;
}

/* Indentation width: a tab counts as 4 columns. */
static unsigned indent_of(const char *p, const char *end)
{
	unsigned w = 0;
	for (; p < end && (*p == ' ' || *p == '\t'); p++)
		w += *p == '\t' ? 4 : 1;
	return w;
}

/* "## " (level @p level exactly): the heading text, else NULL. */
static const char *heading(const sk_line *l, int level, const char **tend)
{
	const char *p = skip_ws(l->text, l->text + l->len), *end = l->text + l->len;
	if (l->code || p - l->text > 3)
		return NULL;
	int n = 0;
	while (p < end && *p == '#')
		p++, n++;
	if (n != level || p >= end || (*p != ' ' && *p != '\t'))
		return NULL;
	p = skip_ws(p, end);
	*tend = rtrim(p, end);
	return p;
}

/* ---- reading a Markdown file ---- */

static int fence_open(const char *p, const char *end, char *ch, size_t *len)
{
	p = skip_ws(p, end);
	if (p >= end || (*p != '`' && *p != '~'))
		return 0;
	char c = *p;
	size_t n = 0;
	while (p + n < end && p[n] == c)
		n++;
	if (n < 3)
		return 0;
	if (c == '`' && memchr(p + n, '`', (size_t)(end - p - (ptrdiff_t)n)))
		return 0; /* an inline code span, not a fence */
	*ch = c;
	*len = n;
	return 1;
}

static bool fence_close(const char *p, const char *end, char ch, size_t len)
{
	p = skip_ws(p, end);
	size_t n = 0;
	while (p + n < end && p[n] == ch)
		n++;
	return n >= len && skip_ws(p + n, end) == end;
}

/* Blank out HTML comments in place; *in_comment carries across lines. */
static void strip_comments(char *s, size_t len, bool *in_comment, unsigned *open_line, unsigned line)
{
	char *p = s, *end = s + len;
	while (p < end) {
		if (*in_comment) {
			const char *c = find(p, end, "-->");
			char *stop = c ? (char *)c + 3 : end;
			memset(p, ' ', (size_t)(stop - p));
			p = stop;
			if (c)
				*in_comment = false;
		} else {
			const char *o = find(p, end, "<!--");
			if (!o)
				return;
			*in_comment = true;
			*open_line = line;
			p = (char *)o;
		}
	}
}

int devsys__sk_split_lines(sk_file *f, char *data, size_t size)
{
	size_t cap = 64;
	f->lines = devsys__calloc(cap, sizeof(*f->lines));
	if (!f->lines)
		return devsys__error_oom();
	char *p = data, *end = data + size;
	if (size >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	bool fence = false, comment = false;
	char fch = 0;
	size_t flen = 0;
	unsigned fline = 0, cline = 0;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		if (le > p && le[-1] == '\r')
			le--;
		if (f->n == cap) {
			sk_line *nlines = devsys__realloc(f->lines, cap * 2 * sizeof(*nlines));
			if (!nlines)
				return devsys__error_oom();
			f->lines = nlines;
			cap *= 2;
		}
		sk_line *l = &f->lines[f->n++];
		for (char *q = p; (q = memchr(q, '\0', (size_t)(le - q))) != NULL; q++)
			*q = '\x1a'; /* NUL bytes would cut C strings short; SUB, not a space, so "[\0]"
				               * is no open checkbox (the tasks.md editor would not tick it) */
		l->text = p;
		l->len = (size_t)(le - p);
		l->code = false;
		*le = '\0';
		unsigned lineno = (unsigned)f->n;
		if (fence) {
			l->code = true;
			if (fence_close(l->text, l->text + l->len, fch, flen))
				fence = false;
		} else {
			strip_comments(l->text, l->len, &comment, &cline, lineno);
			if (fence_open(l->text, l->text + l->len, &fch, &flen)) {
				fence = true;
				fline = lineno;
				l->code = true;
			}
		}
		p = nl ? nl + 1 : end;
	}
	f->unterminated_fence = fence ? fline : 0;
	f->unterminated_comment = comment ? cline : 0;
	return 0;
}

static int path_within(const char *path, const char *root_real)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot resolve '%s'", path);
	size_t n = strlen(root_real);
	if (strncmp(real, root_real, n) != 0 || (real[n] != '/' && real[n] != '\0' && !(n == 1 && root_real[0] == '/')))
		return devsys__error_set(DEVSYS_EPATH,
		                         "'%s' resolves to '%s', outside the repository '%s': a feature folder and its "
		                         "files must stay inside the repository (replace the link with the real folder)",
		                         path, real, root_real);
	return 0;
}

static int read_md(sk_file *f, const char *dir, const char *name, const char *root_real, devsys_buf *keep)
{
	struct stat st;
	f->path = devsys__asprintf("%s/%s", dir, name);
	f->name = devsys__strdup(name);
	if (!f->path || !f->name)
		return devsys__error_oom();
	if (lstat(f->path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot read '%s'", f->path);
	}
	int rc;
	if (root_real && (rc = path_within(f->path, root_real)) != 0)
		return rc;
	if (stat(f->path, &st) == 0 && !S_ISREG(st.st_mode))
		return devsys__error_set(DEVSYS_EINVAL, "'%s' is not a regular file", f->path);
	if ((rc = devsys__read_file(keep, f->path, DEVSYS_SPECKIT_MAX_FILE)) != 0)
		return rc;
	f->present = true;
	return devsys__sk_split_lines(f, keep->ptr, keep->size);
}

/* ---- spec.md ---- */

static bool has_word(const char *p, const char *end, const char *w)
{
	size_t n = strlen(w);
	for (const char *q = p; (q = find(q, end, w)) != NULL; q += n) {
		bool left = q == p || !isalnum((unsigned char)q[-1]);
		bool right = q + n >= end || !isalnum((unsigned char)q[n]);
		if (left && right)
			return true;
	}
	return false;
}

static unsigned parse_uint(const char **pp, const char *end)
{
	const char *p = *pp;
	unsigned v = 0;
	while (p < end && isdigit((unsigned char)*p) && v < 100000)
		v = v * 10 + (unsigned)(*p++ - '0');
	*pp = p;
	return v;
}

/* "User Story N - Title (Priority: Pn)": 0 when well formed. */
static int parse_story(sk_story *s, const char *p, const char *end)
{
	p += strlen("User Story");
	p = skip_ws(p, end);
	if (p >= end || !isdigit((unsigned char)*p))
		return -1;
	s->number = parse_uint(&p, end);
	p = skip_ws(p, end);
	if (starts(p, end, "-") || starts(p, end, ":"))
		p++;
	else if (starts(p, end, "\xE2\x80\x93") || starts(p, end, "\xE2\x80\x94"))
		p += 3;
	else
		return -1;
	p = skip_ws(p, end);
	const char *pr = find(p, end, "(Priority: P");
	if (!pr || pr == p)
		return -1;
	const char *q = pr + strlen("(Priority: P");
	if (q >= end || !isdigit((unsigned char)*q))
		return -1;
	s->priority = parse_uint(&q, end);
	if (q >= end || *q != ')')
		return -1;
	s->title = devsys__strndup(p, (size_t)(rtrim(p, pr) - p));
	return s->title ? 0 : devsys__error_oom();
}

static int push_bad(sk_badline **v, size_t *n, unsigned line, const char *what)
{
	sk_badline *nv = devsys__realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return devsys__error_oom();
	*v = nv;
	nv[*n].line = line;
	if (!(nv[*n].what = devsys__strdup(what)))
		return devsys__error_oom();
	(*n)++;
	return 0;
}

/* "- **FR-001**: ..." or "- FR-001: ...": the id's span. */
static bool requirement_def(const char *p, const char *end, const char **id, size_t *idlen)
{
	p = skip_ws(p, end);
	if (!(starts(p, end, "- ") || starts(p, end, "* ")))
		return false;
	p = skip_ws(p + 2, end);
	if (starts(p, end, "**"))
		p += 2;
	if (!(starts(p, end, "FR-") || starts(p, end, "SC-")))
		return false;
	const char *q = p + 3;
	while (q < end && isdigit((unsigned char)*q))
		q++;
	if (q == p + 3)
		return false;
	*id = p;
	*idlen = (size_t)(q - p);
	return true;
}

static int parse_spec(devsys_speckit_feature *f)
{
	static const char *const mandatory[3] = { "User Scenarios & Testing", "Requirements", "Success Criteria" };
	sk_file *sf = &f->spec;
	sk_story *cur = NULL;
	bool clar = false;
	int rc = 0;
	for (size_t i = 0; i < sf->n && rc == 0; i++) {
		const sk_line *l = &sf->lines[i];
		const char *end = l->text + l->len, *t, *te;
		unsigned line = (unsigned)i + 1;
		if (l->code)
			continue;
		if (!f->title && (t = heading(l, 1, &te)) != NULL) {
			if (starts(t, te, "Feature Specification:"))
				t = skip_ws(t + strlen("Feature Specification:"), te);
			f->title = devsys__strndup(t, (size_t)(te - t));
			if (!f->title)
				return devsys__error_oom();
			continue;
		}
		if ((t = heading(l, 2, &te)) != NULL) {
			cur = NULL;
			clar = starts(t, te, "Clarifications");
			for (int k = 0; k < 3; k++)
				if (starts(t, te, mandatory[k]))
					f->has_section[k] = true;
			continue;
		}
		if ((t = heading(l, 3, &te)) != NULL) {
			cur = NULL;
			if (clar && starts(t, te, "Session"))
				f->sessions++;
			if (!starts(t, te, "User Story"))
				continue;
			sk_story s = { 0 };
			s.line = line;
			if (parse_story(&s, t, te) != 0) {
				devsys__free(s.title);
				rc = push_bad(&f->bad_stories, &f->nbad_stories, line, "");
				continue;
			}
			sk_story *ns = devsys__realloc(f->stories, (f->nstories + 1) * sizeof(*ns));
			if (!ns) {
				devsys__free(s.title);
				return devsys__error_oom();
			}
			f->stories = ns;
			ns[f->nstories] = s;
			cur = &ns[f->nstories++];
			continue;
		}
		if (cur && has_word(l->text, end, "Given") && has_word(l->text, end, "When") &&
		    has_word(l->text, end, "Then"))
			cur->scenarios++;
		const char *id;
		size_t idlen;
		if (requirement_def(l->text, end, &id, &idlen))
			rc = devsys__sk_strv_push(&f->reqs, id, idlen, line);
		for (const char *m = l->text; rc == 0 && (m = find(m, end, "[NEEDS CLARIFICATION")) != NULL; m++)
			rc = devsys__sk_strv_push(&f->clar, m, (size_t)(end - m), line);
	}
	return rc;
}

/* ---- plan.md ---- */

static int parse_plan(devsys_speckit_feature *f)
{
	enum { NONE, TC, CT } sec = NONE;
	unsigned rows = 0;
	for (size_t i = 0; i < f->plan.n; i++) {
		const sk_line *l = &f->plan.lines[i];
		const char *end = l->text + l->len, *t, *te;
		if (l->code)
			continue;
		if ((t = heading(l, 2, &te)) != NULL) {
			sec = NONE;
			if (starts(t, te, "Technical Context")) {
				sec = TC;
				f->has_tech_context = true;
				f->tech_line = (unsigned)i + 1;
			} else if (starts(t, te, "Constitution Check")) {
				f->has_constitution = true;
			} else if (starts(t, te, "Complexity Tracking")) {
				sec = CT;
			}
			continue;
		}
		const char *p = skip_ws(l->text, end);
		if (sec == CT && p < end && *p == '|' && ++rows > 2)
			f->complexity_rows++;
		if (sec != TC || !starts(p, end, "**"))
			continue;
		for (int k = 0; k < 9; k++) {
			const char *name = devsys__speckit_fields[k];
			size_t n = strlen(name);
			if (!starts(p + 2, end, name) || !starts(p + 2 + n, end, "**:") || f->fields[k])
				continue;
			const char *v = skip_ws(p + 2 + n + 3, end);
			if (!(f->fields[k] = devsys__strndup(v, (size_t)(rtrim(v, end) - v))))
				return devsys__error_oom();
			f->field_line[k] = (unsigned)i + 1;
		}
	}
	return 0;
}

/* ---- tasks.md ---- */

static int add_phase(devsys_speckit_feature *f, const char *t, const char *te, unsigned line, bool implicit)
{
	sk_phase *np = devsys__realloc(f->phases, (f->nphases + 1) * sizeof(*np));
	if (!np)
		return devsys__error_oom();
	f->phases = np;
	sk_phase *ph = &np[f->nphases];
	memset(ph, 0, sizeof(*ph));
	if (!(ph->title = devsys__strndup(t, (size_t)(te - t))))
		return devsys__error_oom();
	ph->line = line;
	ph->implicit = implicit;
	const char *us = find(t, te, "User Story");
	ph->kind = SK_PH_OTHER;
	if (find(t, te, "Setup"))
		ph->kind = SK_PH_SETUP;
	else if (find(t, te, "Foundational"))
		ph->kind = SK_PH_FOUND;
	else if (find(t, te, "Polish"))
		ph->kind = SK_PH_POLISH;
	else if (us) {
		const char *q = skip_ws(us + strlen("User Story"), te);
		if (q < te && isdigit((unsigned char)*q)) {
			ph->kind = SK_PH_STORY;
			ph->story = parse_uint(&q, te);
		}
	}
	f->nphases++;
	return 0;
}

static bool path_like(const char *p, size_t n)
{
	if (n < 2 || n > 4096 || (!memchr(p, '/', n) && !memchr(p, '.', n)))
		return false; /* a path has a slash or an extension: most words end here */
	if (memchr(p, ' ', n) || memchr(p, '\t', n))
		return false;
	const char *end = p + n;
	if (find(p, end, "://") || starts(p, end, "FR-") || starts(p, end, "SC-") || devsys__sk_task_id_len(p, end) == n)
		return false;
	size_t slashes = 0;
	for (const char *q = p; q < end; q++)
		slashes += *q == '/';
	if (*p == '/' || starts(p, end, "./") || end[-1] == '/' || slashes >= 2)
		return slashes > 0 && n > 1;
	const char *last = p;
	for (const char *q = p; q < end; q++)
		if (*q == '/')
			last = q + 1;
	const char *dot = NULL;
	for (const char *q = last; q < end; q++)
		if (*q == '.')
			dot = q;
	if (!dot || dot == last || end - dot > 8 || end - dot < 2)
		return false;
	if ((dot - last == 1 && slashes == 0) || !isalpha((unsigned char)dot[1]))
		return false; /* "e.g", "3.11" */
	for (const char *q = p; q < end; q++)
		if (!(isalnum((unsigned char)*q) || strchr("/._-+@[]{}~", *q)))
			return false;
	return true;
}

static int add_path(devsys_speckit_task *t, const char *p, size_t n, unsigned line)
{
	char tmp[4097];
	if (n >= sizeof(tmp))
		return 0;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return devsys__sk_strv_has(&t->paths, tmp) ? 0 : devsys__sk_strv_push(&t->paths, p, n, line);
}

static int scan_paths(devsys_speckit_task *t, const char *p, const char *end, unsigned line)
{
	int rc = 0;
	while (p < end && rc == 0) {
		if (*p == '`') {
			const char *c = memchr(p + 1, '`', (size_t)(end - p - 1));
			if (!c)
				break;
			if (path_like(p + 1, (size_t)(c - p - 1)))
				rc = add_path(t, p + 1, (size_t)(c - p - 1), line);
			p = c + 1;
			continue;
		}
		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		const char *s = p;
		while (p < end && *p != ' ' && *p != '\t' && *p != '`')
			p++;
		const char *e = p;
		while (s < e && strchr("(\"'*", *s))
			s++;
		while (e > s && strchr(".,;:)\"'*", e[-1]))
			e--;
		if (path_like(s, (size_t)(e - s)))
			rc = add_path(t, s, (size_t)(e - s), line);
	}
	return rc;
}

/* The next 'c' or its upper case at or after p, with the last hits of
 * each cached in lo and up (NULL: none left). */
static const char *next_ci(const char *p, const char *end, char c, const char **lo, const char **up)
{
	if (*lo && *lo < p)
		*lo = memchr(p, c, (size_t)(end - p));
	if (*up && *up < p)
		*up = memchr(p, c - 32, (size_t)(end - p));
	if (!*lo || !*up)
		return *lo ? *lo : *up;
	return *lo < *up ? *lo : *up;
}

/* Every "depends on T012, T013" (any case) in the text; only the places
 * where a 'd' or 'D' stands are tried. */
static int scan_deps(devsys_speckit_task *t, const char *p, const char *end, unsigned line)
{
	int rc = 0;
	if (end - p < 10)
		return 0;
	const char *lo = memchr(p, 'd', (size_t)(end - p)), *up = memchr(p, 'D', (size_t)(end - p));
	while (rc == 0 && (p = next_ci(p, end, 'd', &lo, &up)) != NULL && p + 10 <= end) {
		if (strncasecmp(p, "depends on", 10) != 0) {
			p++;
			continue;
		}
		const char *q = p + 10;
		for (;;) {
			while (q < end && (strchr(" \t,:*", *q)))
				q++;
			if (starts(q, end, "and "))
				q += 4;
			size_t n = devsys__sk_task_id_len(q, end);
			if (!n)
				break;
			char id[16];
			memcpy(id, q, n);
			id[n] = '\0';
			if (!devsys__sk_strv_has(&t->deps, id) && (rc = devsys__sk_strv_push(&t->deps, q, n, line)) != 0)
				return rc;
			q += n;
		}
		p = q > p + 10 ? q : p + 10;
	}
	return rc;
}

/* FR-/SC- ids not preceded by a letter or digit, found by their '-'. */
static int scan_cites(devsys_speckit_task *t, const char *p, const char *end, unsigned line)
{
	int rc = 0;
	const char *start = p;
	for (const char *m = p + 2; rc == 0 && m + 1 < end && (m = memchr(m, '-', (size_t)(end - m))) != NULL; m++) {
		const char *b = m - 2;
		if (b < start || !((b[0] == 'F' && b[1] == 'R') || (b[0] == 'S' && b[1] == 'C')) || m + 1 >= end ||
		    !isdigit((unsigned char)m[1]) || (b > start && isalnum((unsigned char)b[-1])))
			continue;
		const char *q = m + 1;
		while (q < end && isdigit((unsigned char)*q))
			q++;
		char id[32];
		size_t n = (size_t)(q - b);
		if (n >= sizeof(id))
			continue;
		memcpy(id, b, n);
		id[n] = '\0';
		if (!devsys__sk_strv_has(&t->cites, id))
			rc = devsys__sk_strv_push(&t->cites, b, n, line);
		m = q - 1;
	}
	return rc;
}

static int scan_text(devsys_speckit_task *t, const char *p, const char *end, unsigned line)
{
	int rc = scan_deps(t, p, end, line);
	if (rc == 0)
		rc = scan_paths(t, p, end, line);
	if (rc == 0)
		rc = scan_cites(t, p, end, line);
	return rc;
}

/* A list item's checkbox "- [ ] " at p: the state char, else 0. */
static char checkbox(const char *p, const char *end, const char **after)
{
	p = skip_ws(p, end);
	if (!(starts(p, end, "- [") || starts(p, end, "* [")) || end - p < 5 || p[4] != ']')
		return 0;
	char c = p[3];
	if (c != ' ' && c != 'x' && c != 'X')
		return 0;
	*after = p + 5;
	return c;
}

static int append_desc(devsys_speckit_task *t, const char *p, const char *end)
{
	p = skip_ws(p, end);
	end = rtrim(p, end);
	size_t old = t->desc ? strlen(t->desc) : 0, n = (size_t)(end - p);
	if (!n)
		return 0;
	char *d = devsys__realloc(t->desc, old + n + 2);
	if (!d)
		return devsys__error_oom();
	if (old)
		d[old++] = ' ';
	memcpy(d + old, p, n);
	d[old + n] = '\0';
	t->desc = d;
	return 0;
}

static int parse_task(devsys_speckit_feature *f, const char *after, const char *end, char state, unsigned line)
{
	const char *p = skip_ws(after, end);
	size_t idn = devsys__sk_task_id_len(p, end);
	if (!idn || (p + idn < end && p[idn] != ' ' && p[idn] != '\t'))
		return push_bad(&f->bad_tasks, &f->nbad_tasks, line, "a checkbox line without a task id (T001, T001a)");
	if (f->nphases == 0 || f->outside_phase) {
		f->outside_phase = false;
		static const char outside[] = "(tasks outside a phase)";
		int rc = add_phase(f, outside, outside + sizeof(outside) - 1, line, true);
		if (rc)
			return rc;
	}
	if (f->ntasks == f->tasks_cap) {
		size_t cap = f->tasks_cap ? f->tasks_cap * 2 : 64;
		devsys_speckit_task *nt = devsys__realloc(f->tasks, cap * sizeof(*nt));
		if (!nt)
			return devsys__error_oom();
		f->tasks = nt;
		f->tasks_cap = cap;
	}
	devsys_speckit_task *t = &f->tasks[f->ntasks++];
	memset(t, 0, sizeof(*t));
	memcpy(t->id, p, idn);
	t->state = state;
	t->line = line;
	t->phase = f->nphases - 1;
	t->desc = NULL; /* the first append allocates it: one allocation, not two */
	p = skip_ws(p + idn, end);
	int rc = 0;
	while (p < end && *p == '[' && rc == 0) {
		const char *c = memchr(p, ']', (size_t)(end - p));
		if (!c)
			break;
		size_t n = (size_t)(c - p - 1);
		if (n == 1 && p[1] == 'P')
			t->parallel = true;
		else if (n >= 3 && p[1] == 'U' && p[2] == 'S' && isdigit((unsigned char)p[3])) {
			const char *q = p + 3;
			t->story = parse_uint(&q, c);
			if (q != c)
				rc = devsys__sk_strv_push(&t->tags, p + 1, n, line);
		} else
			rc = devsys__sk_strv_push(&t->tags, p + 1, n, line);
		p = skip_ws(c + 1, end);
	}
	if (rc == 0)
		rc = append_desc(t, p, end);
	if (rc == 0 && !t->desc && !(t->desc = devsys__strdup("")))
		rc = devsys__error_oom(); /* no description: "" (SK008 says so) */
	return rc ? rc : scan_text(t, p, end, line);
}

static bool is_block_start(const char *p, const char *end)
{
	p = skip_ws(p, end);
	return p >= end || *p == '#' || starts(p, end, "- ") || starts(p, end, "* ") || starts(p, end, "---") ||
	       starts(p, end, "**") || *p == '|' || *p == '>';
}

static int parse_tasks(devsys_speckit_feature *f)
{
	devsys_speckit_task *cur = NULL;
	unsigned cur_indent = 0;
	int rc = 0;
	for (size_t i = 0; i < f->tmd.n && rc == 0; i++) {
		const sk_line *l = &f->tmd.lines[i];
		const char *end = l->text + l->len, *t, *te, *after;
		unsigned line = (unsigned)i + 1;
		if (l->code)
			continue;
		if ((t = heading(l, 2, &te)) != NULL) {
			cur = NULL;
			if (starts(t, te, "Phase")) {
				const char *c = memchr(t, ':', (size_t)(te - t));
				const char *title = c ? skip_ws(c + 1, te) : t;
				rc = add_phase(f, title, te, line, false);
				f->outside_phase = false;
			} else {
				/* a section that is no phase ends the phase: later tasks are outside */
				f->outside_phase = true;
			}
			continue;
		}
		if (heading(l, 1, &te) || heading(l, 3, &te) || heading(l, 4, &te)) {
			cur = NULL;
			continue;
		}
		const char *p = skip_ws(l->text, end);
		if (starts(p, end, "**Checkpoint**") && f->nphases)
			f->phases[f->nphases - 1].checkpoints++;
		char state = checkbox(l->text, end, &after);
		unsigned ind = indent_of(l->text, end);
		if (state && (!cur || ind <= cur_indent)) {
			size_t before = f->ntasks;
			rc = parse_task(f, after, end, state, line);
			cur = f->ntasks > before ? &f->tasks[f->ntasks - 1] : NULL;
			cur_indent = ind;
			continue;
		}
		if (!cur)
			continue;
		if (p >= end || (ind <= cur_indent && is_block_start(l->text, end))) {
			cur = NULL; /* a blank line or a new block ends the task */
			continue;
		}
		/* a continuation line or a sub-bullet of the task */
		rc = append_desc(cur, p, end);
		if (rc == 0)
			rc = scan_text(cur, p, end, line);
	}
	return rc;
}

/* ---- checklists ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_checklist(sk_checklist *c, const sk_file *file)
{
	int rc = 0;
	for (size_t i = 0; i < file->n && rc == 0; i++) {
		const sk_line *l = &file->lines[i];
		const char *after, *end = l->text + l->len;
		char st = l->code ? 0 : checkbox(l->text, end, &after);
		if (!st)
			continue;
		after = skip_ws(after, end);
		if (!starts(after, end, "CHK") || end - after < 4 || !isdigit((unsigned char)after[3])) {
			rc = devsys__sk_strv_push(&c->bad, "", 0, (unsigned)i + 1);
			continue;
		}
		c->total++;
		c->unchecked += st == ' ';
	}
	return rc;
}

static int load_checklists(devsys_speckit_feature *f, const char *root_real)
{
	char *cdir = devsys__asprintf("%s/checklists", f->dir);
	if (!cdir)
		return devsys__error_oom();
	DIR *d = opendir(cdir);
	devsys__free(cdir);
	if (!d)
		return 0;
	sk_strv names = { 0 };
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n > 3 && strcmp(de->d_name + n - 3, ".md") == 0 && de->d_name[0] != '.')
			rc = devsys__sk_strv_push(&names, de->d_name, n, 0);
	}
	closedir(d);
	if (rc == 0 && names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	if (rc == 0 && names.n && !(f->lists = devsys__calloc(names.n, sizeof(*f->lists))))
		rc = devsys__error_oom();
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char *rel = devsys__asprintf("checklists/%s", names.v[i]);
		sk_checklist *c = &f->lists[f->nlists++];
		rc = rel ? read_md(&c->file, f->dir, rel, root_real, &c->keep) : devsys__error_oom();
		devsys__free(rel);
		if (rc == 0 && c->file.present)
			rc = parse_checklist(c, &c->file);
	}
	devsys__sk_strv_dispose(&names);
	return rc;
}

/* ---- the handle ---- */

static int load_all(devsys_speckit_feature *f, const char *root_real, devsys_buf keep[3])
{
	int rc;
	if ((rc = read_md(&f->spec, f->dir, "spec.md", root_real, &keep[0])) != 0 ||
	    (rc = read_md(&f->plan, f->dir, "plan.md", root_real, &keep[1])) != 0 ||
	    (rc = read_md(&f->tmd, f->dir, "tasks.md", root_real, &keep[2])) != 0)
		return rc;
	char *research = devsys__asprintf("%s/research.md", f->dir);
	if (!research)
		return devsys__error_oom();
	struct stat st;
	f->research = stat(research, &st) == 0;
	devsys__free(research);
	if ((rc = parse_spec(f)) != 0 || (rc = parse_plan(f)) != 0 || (rc = parse_tasks(f)) != 0)
		return rc;
	return load_checklists(f, root_real);
}

/* The feature keeps the files' bytes: lines point into them. */
typedef struct sk_feature_full {
	struct devsys_speckit_feature f;
	devsys_buf keep[3];
} sk_feature_full;

int devsys_speckit_feature_load(devsys_speckit_feature **out, const char *dir, const char *root)
{
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(dir);
	struct stat st;
	if (stat(dir, &st) != 0)
		return devsys__error_errno(errno == ENOENT ? DEVSYS_ENOTFOUND : devsys__errno_code(errno), errno,
		                           "cannot open the feature folder '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return devsys__error_set(DEVSYS_EINVAL, "'%s' is not a folder: name a spec-kit feature folder (specs/NNN-name)",
		                         dir);
	char root_real[PATH_MAX];
	int rc;
	if (root) {
		if (!realpath(root, root_real))
			return devsys__error_errno(devsys__errno_code(errno), errno, "cannot resolve the repository '%s'", root);
		if ((rc = path_within(dir, root_real)) != 0)
			return rc;
	}
	sk_feature_full *full = devsys__calloc(1, sizeof(*full));
	if (!full)
		return devsys__error_oom();
	devsys_speckit_feature *f = &full->f;
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	f->dir = devsys__strndup(dir, dl);
	if (!f->dir) {
		devsys__free(full);
		return devsys__error_oom();
	}
	const char *slash = strrchr(f->dir, '/');
	f->base = devsys__strdup(slash ? slash + 1 : f->dir);
	rc = f->base ? load_all(f, root ? root_real : NULL, full->keep) : devsys__error_oom();
	if (rc) {
		devsys_speckit_feature_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

/* Fuzzing and benchmarks: one file from memory, the others absent. */
static int mem_file(sk_file *f, devsys_buf *keep, const char *dir, const char *name, const void *data, size_t len)
{
	f->path = devsys__asprintf("%s/%s", dir, name);
	f->name = devsys__strdup(name);
	if (!f->path || !f->name)
		return devsys__error_oom();
	if (len > DEVSYS_SPECKIT_MAX_FILE)
		return devsys__error_set(DEVSYS_ELIMIT, "'%s' is larger than the limit of %u bytes", f->path,
		                         DEVSYS_SPECKIT_MAX_FILE);
	int rc = devsys_buf_put(keep, data ? data : "", len);
	if (rc == 0 && !keep->ptr)
		rc = devsys_buf_put(keep, "", 0);
	if (rc)
		return rc;
	f->present = true;
	return devsys__sk_split_lines(f, keep->ptr, keep->size);
}

int devsys__sk_feature_parse_mem(devsys_speckit_feature **out, const char *which, const void *data, size_t len)
{
	*out = NULL;
	sk_feature_full *full = devsys__calloc(1, sizeof(*full));
	if (!full)
		return devsys__error_oom();
	devsys_speckit_feature *f = &full->f;
	int rc = (f->dir = devsys__strdup("001-fuzz")) && (f->base = devsys__strdup("001-fuzz")) ? 0 : devsys__error_oom();
	static const char *const names[3] = { "spec.md", "plan.md", "tasks.md" };
	sk_file *files[3] = { &f->spec, &f->plan, &f->tmd };
	for (int k = 0; k < 3 && rc == 0; k++) {
		if (strcmp(which, names[k]) == 0)
			rc = mem_file(files[k], &full->keep[k], f->dir, names[k], data, len);
		else if (!(files[k]->path = devsys__asprintf("%s/%s", f->dir, names[k])) ||
		         !(files[k]->name = devsys__strdup(names[k])))
			rc = devsys__error_oom();
	}
	if (rc == 0 && strcmp(which, "checklist") == 0) {
		if (!(f->lists = devsys__calloc(1, sizeof(*f->lists))))
			rc = devsys__error_oom();
		else {
			f->nlists = 1;
			rc = mem_file(&f->lists[0].file, &f->lists[0].keep, f->dir, "checklists/fuzz.md", data, len);
			if (rc == 0)
				rc = parse_checklist(&f->lists[0], &f->lists[0].file);
		}
	}
	if (rc == 0 && (rc = parse_spec(f)) == 0 && (rc = parse_plan(f)) == 0)
		rc = parse_tasks(f);
	if (rc) {
		devsys_speckit_feature_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

static void file_dispose(sk_file *f)
{
	devsys__free(f->path);
	devsys__free(f->name);
	devsys__free(f->lines);
}

void devsys_speckit_feature_free(devsys_speckit_feature *f)
{
	if (!f)
		return;
	sk_feature_full *full = (sk_feature_full *)f;
	file_dispose(&f->spec);
	file_dispose(&f->plan);
	file_dispose(&f->tmd);
	for (int k = 0; k < 3; k++)
		devsys_buf_dispose(&full->keep[k]);
	for (size_t i = 0; i < f->nstories; i++)
		devsys__free(f->stories[i].title);
	devsys__free(f->stories);
	for (size_t i = 0; i < f->nbad_stories; i++)
		devsys__free(f->bad_stories[i].what);
	devsys__free(f->bad_stories);
	devsys__sk_strv_dispose(&f->reqs);
	devsys__sk_strv_dispose(&f->clar);
	for (int k = 0; k < 9; k++)
		devsys__free(f->fields[k]);
	for (size_t i = 0; i < f->nphases; i++)
		devsys__free(f->phases[i].title);
	devsys__free(f->phases);
	for (size_t i = 0; i < f->ntasks; i++) {
		devsys_speckit_task *t = &f->tasks[i];
		devsys__free(t->desc);
		devsys__sk_strv_dispose(&t->deps);
		devsys__sk_strv_dispose(&t->paths);
		devsys__sk_strv_dispose(&t->tags);
		devsys__sk_strv_dispose(&t->cites);
	}
	devsys__free(f->tasks);
	for (size_t i = 0; i < f->nbad_tasks; i++)
		devsys__free(f->bad_tasks[i].what);
	devsys__free(f->bad_tasks);
	for (size_t i = 0; i < f->nlists; i++) {
		file_dispose(&f->lists[i].file);
		devsys_buf_dispose(&f->lists[i].keep);
		devsys__sk_strv_dispose(&f->lists[i].bad);
	}
	devsys__free(f->lists);
	devsys__free(f->title);
	devsys__free(f->base);
	devsys__free(f->dir);
	devsys__free(full);
}

/* ---- accessors ---- */

const char *devsys_speckit_feature_dir(const devsys_speckit_feature *f) { return f ? f->dir : NULL; }
const char *devsys_speckit_feature_title(const devsys_speckit_feature *f) { return f ? f->title : NULL; }
size_t devsys_speckit_story_count(const devsys_speckit_feature *f) { return f ? f->nstories : 0; }

const char *devsys_speckit_story_at(const devsys_speckit_feature *f, size_t i, unsigned *number, unsigned *priority,
                                    unsigned *scenarios)
{
	if (!f || i >= f->nstories)
		return NULL;
	const sk_story *s = &f->stories[i];
	if (number)
		*number = s->number;
	if (priority)
		*priority = s->priority;
	if (scenarios)
		*scenarios = s->scenarios;
	return s->title;
}

size_t devsys_speckit_requirement_count(const devsys_speckit_feature *f) { return f ? f->reqs.n : 0; }
const char *devsys_speckit_requirement_at(const devsys_speckit_feature *f, size_t i)
{
	return f && i < f->reqs.n ? f->reqs.v[i] : NULL;
}
size_t devsys_speckit_clarification_markers(const devsys_speckit_feature *f) { return f ? f->clar.n : 0; }
size_t devsys_speckit_clarification_sessions(const devsys_speckit_feature *f) { return f ? f->sessions : 0; }

const char *devsys_speckit_plan_field(const devsys_speckit_feature *f, const char *name)
{
	if (!f || !name)
		return NULL;
	for (int k = 0; k < 9; k++)
		if (strcmp(devsys__speckit_fields[k], name) == 0)
			return f->fields[k];
	return NULL;
}

size_t devsys_speckit_phase_count(const devsys_speckit_feature *f) { return f ? f->nphases : 0; }
const char *devsys_speckit_phase_at(const devsys_speckit_feature *f, size_t i, unsigned *checkpoints)
{
	if (!f || i >= f->nphases)
		return NULL;
	if (checkpoints)
		*checkpoints = f->phases[i].checkpoints;
	return f->phases[i].title;
}

size_t devsys_speckit_task_count(const devsys_speckit_feature *f) { return f ? f->ntasks : 0; }
const devsys_speckit_task *devsys_speckit_task_at(const devsys_speckit_feature *f, size_t i)
{
	return f && i < f->ntasks ? &f->tasks[i] : NULL;
}
const devsys_speckit_task *devsys_speckit_task_find(const devsys_speckit_feature *f, const char *id)
{
	for (size_t i = 0; f && id && i < f->ntasks; i++)
		if (strcmp(f->tasks[i].id, id) == 0)
			return &f->tasks[i];
	return NULL;
}
const char *devsys_speckit_task_id(const devsys_speckit_task *t) { return t ? t->id : NULL; }
const char *devsys_speckit_task_description(const devsys_speckit_task *t) { return t ? t->desc : NULL; }
char devsys_speckit_task_state(const devsys_speckit_task *t) { return t ? t->state : 0; }
unsigned devsys_speckit_task_line(const devsys_speckit_task *t) { return t ? t->line : 0; }
size_t devsys_speckit_task_phase(const devsys_speckit_task *t) { return t ? t->phase : 0; }
int devsys_speckit_task_parallel(const devsys_speckit_task *t) { return t && t->parallel; }
unsigned devsys_speckit_task_story(const devsys_speckit_task *t) { return t ? t->story : 0; }
size_t devsys_speckit_task_dep_count(const devsys_speckit_task *t) { return t ? t->deps.n : 0; }
const char *devsys_speckit_task_dep_at(const devsys_speckit_task *t, size_t i)
{
	return t && i < t->deps.n ? t->deps.v[i] : NULL;
}
size_t devsys_speckit_task_path_count(const devsys_speckit_task *t) { return t ? t->paths.n : 0; }
const char *devsys_speckit_task_path_at(const devsys_speckit_task *t, size_t i)
{
	return t && i < t->paths.n ? t->paths.v[i] : NULL;
}

size_t devsys_speckit_checklist_items(const devsys_speckit_feature *f, size_t *unchecked)
{
	size_t total = 0, open = 0;
	for (size_t i = 0; f && i < f->nlists; i++) {
		total += f->lists[i].total;
		open += f->lists[i].unchecked;
	}
	if (unchecked)
		*unchecked = open;
	return total;
}
