/*
 * The deterministic spec-kit validator: rules SK001-SK014 (plus SK000 for
 * Markdown that spec-kit's tools would misread), and the findings' text,
 * JSON and SARIF 2.1.0 forms.
 */
#include "speckit_int.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct sk_finding {
	char rule[8];
	devsys_speckit_severity sev;
	char *file;
	unsigned line;
	char *msg;
	size_t seq;
} sk_finding;

struct devsys_speckit_findings {
	sk_finding *v;
	size_t n, cap;
};

static const struct {
	const char *id, *name, *text;
} rules[] = {
	{ "SK000", "markdown", "Markdown that hides content: an unterminated code fence or HTML comment." },
	{ "SK001", "folder-name", "The feature folder is named NNN-slug or YYYYMMDD-HHMMSS-slug." },
	{ "SK002", "spec-sections", "spec.md exists and has the mandatory sections." },
	{ "SK003", "user-stories", "Story headings are well formed and each story has a Given/When/Then scenario." },
	{ "SK004", "requirement-ids", "FR-### and SC-### ids are unique." },
	{ "SK005", "clarifications", "At most 3 [NEEDS CLARIFICATION] markers, and none once plan.md exists." },
	{ "SK006", "placeholders", "No template placeholder is left in." },
	{ "SK007", "technical-context", "Every Technical Context field of plan.md is filled." },
	{ "SK008", "task-grammar", "Task lines follow the template's grammar and task ids are unique." },
	{ "SK009", "story-tags", "[USn] appears only in story phases and names an existing User Story n." },
	{ "SK010", "dependencies", "Every dependency exists, runs earlier, and there are no cycles." },
	{ "SK011", "parallel-paths", "[P] tasks of one phase do not share a file path." },
	{ "SK012", "task-paths", "Each task names a file path." },
	{ "SK013", "coverage", "Each FR/SC is cited by a task and each task traces to a story or requirement." },
	{ "SK014", "checklists", "Checklist items (CHK###) are counted; unchecked ones are reported." },
	{ "SK015", "phantom-completion", "A task marked done names files that exist and changed on the feature branch." },
};

int devsys_speckit_findings_new(devsys_speckit_findings **out)
{
	DEVSYS__CHECK_ARG(out);
	*out = devsys__calloc(1, sizeof(**out));
	return *out ? 0 : devsys__error_oom();
}

void devsys_speckit_findings_free(devsys_speckit_findings *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		devsys__free(r->v[i].file);
		devsys__free(r->v[i].msg);
	}
	devsys__free(r->v);
	devsys__free(r);
}

static int addv(devsys_speckit_findings *r, int rule, devsys_speckit_severity sev, const char *file, unsigned line,
                const char *fmt, va_list ap) DEVSYS_PRINTF(6, 0);

static int addv(devsys_speckit_findings *r, int rule, devsys_speckit_severity sev, const char *file, unsigned line,
                const char *fmt, va_list ap)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		sk_finding *v = devsys__realloc(r->v, cap * sizeof(*v));
		if (!v)
			return devsys__error_oom();
		r->v = v;
		r->cap = cap;
	}
	sk_finding *f = &r->v[r->n];
	memset(f, 0, sizeof(*f));
	snprintf(f->rule, sizeof(f->rule), "SK%03d", rule);
	f->sev = sev;
	f->line = line;
	f->seq = r->n;
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	f->msg = msg ? devsys__strdup(msg) : NULL;
	free(msg);
	f->file = devsys__strdup(file);
	if (!f->msg || !f->file) {
		devsys__free(f->msg);
		devsys__free(f->file);
		return devsys__error_oom();
	}
	r->n++;
	return 0;
}

static int add(devsys_speckit_findings *r, int rule, devsys_speckit_severity sev, const char *file, unsigned line,
               const char *fmt, ...) DEVSYS_PRINTF(6, 7);

static int add(devsys_speckit_findings *r, int rule, devsys_speckit_severity sev, const char *file, unsigned line,
               const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = addv(r, rule, sev, file, line, fmt, ap);
	va_end(ap);
	return rc;
}

int devsys__speckit_add(devsys_speckit_findings *r, int rule, devsys_speckit_severity sev, const char *file,
                        unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = addv(r, rule, sev, file, line, fmt, ap);
	va_end(ap);
	return rc;
}

#define ADD(...)                                          \
	do {                                              \
		int add_rc_ = add(__VA_ARGS__);           \
		if (add_rc_)                              \
			return add_rc_;                   \
	} while (0)

/* ---- SK000, SK001, SK002 ---- */

static int check_markdown(devsys_speckit_findings *r, const sk_file *f)
{
	if (!f->present)
		return 0;
	if (f->unterminated_fence)
		ADD(r, 0, DEVSYS_SPECKIT_WARNING, f->path, f->unterminated_fence,
		    "code fence opened here is never closed: everything after it is read as code; close it with a matching fence");
	if (f->unterminated_comment)
		ADD(r, 0, DEVSYS_SPECKIT_WARNING, f->path, f->unterminated_comment,
		    "HTML comment opened here is never closed ('-->'): everything after it is ignored; close it");
	return 0;
}

static bool all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	return true;
}

static bool slug_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return false;
	return true;
}

static int check_folder(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	const char *b = f->base;
	size_t n = 0;
	while (isdigit((unsigned char)b[n]))
		n++;
	bool ok = false;
	if (n >= 3 && n != 8 && b[n] == '-')
		ok = slug_ok(b + n + 1);
	else if (n == 8 && b[8] == '-' && all_digits(b + 9, 6) && b[15] == '-')
		ok = slug_ok(b + 16);
	else if (n == 3 && b[n] == '-')
		ok = slug_ok(b + n + 1);
	if (n == 8 && !ok && b[8] == '-' && slug_ok(b + 9))
		ok = true; /* 8 digits then a slug is still NNN-slug */
	if (!ok)
		ADD(r, 1, DEVSYS_SPECKIT_ERROR, f->dir, 0,
		    "feature folder '%s' is not named NNN-slug or YYYYMMDD-HHMMSS-slug (lower-case letters, digits and '-'): "
		    "rename it, e.g. '001-%s'",
		    b, "my-feature");
	return 0;
}

static int check_sections(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	static const char *const names[3] = { "User Scenarios & Testing", "Requirements", "Success Criteria" };
	if (!f->spec.present) {
		ADD(r, 2, DEVSYS_SPECKIT_ERROR, f->spec.path, 0, "spec.md is missing: every feature folder needs a specification");
		return 0;
	}
	if (!f->title)
		ADD(r, 2, DEVSYS_SPECKIT_ERROR, f->spec.path, 1,
		    "no title: start the file with '# Feature Specification: <name>'");
	for (int k = 0; k < 3; k++)
		if (!f->has_section[k])
			ADD(r, 2, DEVSYS_SPECKIT_ERROR, f->spec.path, 0, "mandatory section '## %s' is missing: add it", names[k]);
	return 0;
}

/* ---- SK003, SK004, SK005 ---- */

static int check_stories(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	if (!f->spec.present)
		return 0;
	for (size_t i = 0; i < f->nbad_stories; i++)
		ADD(r, 3, DEVSYS_SPECKIT_ERROR, f->spec.path, f->bad_stories[i].line,
		    "story heading is not '### User Story N - Title (Priority: Pn)': fix the number, title or priority");
	if (f->nstories == 0 && f->nbad_stories == 0)
		ADD(r, 3, DEVSYS_SPECKIT_ERROR, f->spec.path, 0,
		    "no user story: add '### User Story 1 - Title (Priority: P1)' under '## User Scenarios & Testing'");
	for (size_t i = 0; i < f->nstories; i++) {
		const sk_story *s = &f->stories[i];
		if (s->scenarios == 0)
			ADD(r, 3, DEVSYS_SPECKIT_ERROR, f->spec.path, s->line,
			    "User Story %u has no acceptance scenario: add '1. **Given** ..., **When** ..., **Then** ...'", s->number);
		for (size_t j = 0; j < i; j++)
			if (f->stories[j].number == s->number) {
				ADD(r, 3, DEVSYS_SPECKIT_ERROR, f->spec.path, s->line,
				    "User Story %u is numbered again (first at line %u): renumber it", s->number, f->stories[j].line);
				break;
			}
	}
	return 0;
}

static int cmp_str_idx(const void *a, const void *b, void *payload)
{
	const sk_strv *s = payload;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(s->v[x], s->v[y]);
	return c ? c : (x < y ? -1 : x > y);
}

static int check_ids(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	size_t n = f->reqs.n;
	if (n < 2)
		return 0;
	size_t *ix = devsys__calloc(n, sizeof(*ix));
	if (!ix)
		return devsys__error_oom();
	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	qsort_r(ix, n, sizeof(*ix), cmp_str_idx, (void *)&f->reqs);
	int rc = 0;
	for (size_t k = 1; k < n && rc == 0; k++) {
		size_t first = k - 1;
		while (first > 0 && strcmp(f->reqs.v[ix[first - 1]], f->reqs.v[ix[k]]) == 0)
			first--;
		if (strcmp(f->reqs.v[ix[first]], f->reqs.v[ix[k]]) == 0)
			rc = add(r, 4, DEVSYS_SPECKIT_ERROR, f->spec.path, f->reqs.line[ix[k]],
			         "%s is defined again (first at line %u): give it the next free number", f->reqs.v[ix[k]],
			         f->reqs.line[ix[first]]);
	}
	devsys__free(ix);
	return rc;
}

static int check_clarify(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	for (size_t i = 0; i < f->clar.n; i++) {
		if (f->plan.present)
			ADD(r, 5, DEVSYS_SPECKIT_ERROR, f->spec.path, f->clar.line[i],
			    "[NEEDS CLARIFICATION] left in although plan.md exists: resolve it (/speckit.clarify) before planning");
		else if (i >= 3)
			ADD(r, 5, DEVSYS_SPECKIT_ERROR, f->spec.path, f->clar.line[i],
			    "[NEEDS CLARIFICATION] marker %zu of %zu: at most 3 are allowed; make an informed guess for the rest",
			    i + 1, f->clar.n);
	}
	return 0;
}

/* ---- SK006 ---- */

static const char *const placeholders[] = {
	"[FEATURE NAME]", "[FEATURE]", "[DATE]", "$ARGUMENTS", "[###-feature-name]", "[###-feature]", "TXXX",
	"[REMOVE IF UNUSED]", "[Brief Title]", "[Title]", "[Describe this user journey", "[Explain the value",
	"[Describe how this can be tested", "[initial state]", "[action]", "[expected outcome]",
	"[Add more user stories", "[Add more user story phases", "[boundary condition]", "[error scenario]",
	"[specific capability", "[key interaction", "[data requirement", "[behavior, e.g.", "[Entity 1]", "[Entity 2]",
	"[Entity1]", "[Entity2]", "[Entity]", "[Measurable metric", "[User satisfaction metric", "[Business metric",
	"[Assumption about", "[Dependency on existing", "[link]", "[Extract from feature spec", "[e.g.,",
	"[if applicable, e.g.", "[domain-specific, e.g.", "[Gates determined", "[Document the selected structure",
	"[same as backend above]", "[platform-specific structure", "[current need]", "[specific problem]",
	"[why 3 projects insufficient]", "[why direct DB access insufficient]", "[language]", "[framework]",
	"[Brief description", "[How to verify", "[endpoint]", "[user journey]", "[name]", "[entity1]", "[entity2]",
	"[entity]", "[Service]", "[service]", "[endpoint/feature]", "[location]", "[file]", "[CHECKLIST TYPE]",
	"[Category 1]", "[Category 2]", "[Link to spec.md", "__SPECKIT_COMMAND_",
};

static const char *mem_find(const char *p, const char *end, const char *lit, size_t n)
{
	while ((size_t)(end - p) >= n) {
		p = memchr(p, lit[0], (size_t)(end - p) - n + 1);
		if (!p)
			return NULL;
		if (memcmp(p, lit, n) == 0)
			return p;
		p++;
	}
	return NULL;
}

/* "[UPPER_CASE_NAME]" of the constitution template. */
static size_t caps_token(const char *p, const char *end)
{
	if (*p != '[')
		return 0;
	const char *q = p + 1;
	bool us = false;
	while (q < end && (isupper((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '_'))
		us |= *q++ == '_';
	return us && q < end && *q == ']' && q - p > 3 && isupper((unsigned char)p[1]) ? (size_t)(q - p + 1) : 0;
}

#define NPH (sizeof(placeholders) / sizeof(*placeholders))

/* The bracketed placeholders chained by their second byte, so a '[' is
 * compared only with the few that can match there (most lines hold "[ ]",
 * "[P]" or "[US1]", which match none). */
typedef struct ph_table {
	unsigned char head[256]; /* 1 + the first placeholder with that second byte, 0: none */
	unsigned char next[NPH]; /* 1 + the next one with the same second byte */
	unsigned char len[NPH];
	unsigned char plain[NPH]; /* the ones that do not start with '[' */
	size_t nplain;
} ph_table;

static void ph_table_init(ph_table *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t k = NPH; k-- > 0;) {
		t->len[k] = (unsigned char)strlen(placeholders[k]);
		if (placeholders[k][0] != '[') {
			t->plain[t->nplain++] = (unsigned char)k;
			continue;
		}
		unsigned char c = (unsigned char)placeholders[k][1];
		t->next[k] = t->head[c];
		t->head[c] = (unsigned char)(k + 1);
	}
}

/* The placeholders that do not start with '[' ("$ARGUMENTS", "TXXX",
 * "__SPECKIT_COMMAND_"), searched by a rare byte of each: 'T' starts every
 * task id, so "TXXX" is found through its "XXX". */
static bool plain_hits(const char *s, const char *end, const ph_table *t, bool *hit)
{
	bool any = false;
	for (size_t j = 0; j < t->nplain; j++) {
		size_t k = t->plain[j];
		const char *ph = placeholders[k];
		size_t n = t->len[k];
		if (n > 1 && ph[0] == 'T' && ph[1] == 'X') {
			const char *p = s + 1; /* "XXX" from the second byte on: p[-1] is in the line */
			while (end - s >= (ptrdiff_t)n && (p = mem_find(p, end, ph + 1, n - 1)) != NULL) {
				if (p[-1] == 'T') {
					hit[k] = any = true;
					break;
				}
				p++;
			}
		} else if (mem_find(s, end, ph, n)) {
			hit[k] = any = true;
		}
	}
	return any;
}

static int placeholders_in(devsys_speckit_findings *r, const sk_file *f, const ph_table *t)
{
	for (size_t i = 0; f->present && i < f->n; i++) {
		const char *s = f->lines[i].text, *end = s + f->lines[i].len;
		bool hit[NPH] = { false }, any = false, caps = false;
		any = plain_hits(s, end, t, hit);
		for (const char *p = s; (p = memchr(p, '[', (size_t)(end - p))) != NULL; p++) {
			if (p + 2 < end && p[2] != ']') /* "[ ]", "[P]": no placeholder */
				for (unsigned k = t->head[(unsigned char)p[1]]; k; k = t->next[k - 1])
					if ((size_t)(end - p) >= t->len[k - 1] && memcmp(p, placeholders[k - 1], t->len[k - 1]) == 0)
						hit[k - 1] = any = true;
			caps |= p + 1 < end && isupper((unsigned char)p[1]);
		}
		for (size_t k = 0; any && k < NPH; k++)
			if (hit[k])
				ADD(r, 6, DEVSYS_SPECKIT_ERROR, f->path, (unsigned)i + 1,
				    "template placeholder '%s' left in: replace it with the feature's real content", placeholders[k]);
		for (const char *p = s; caps && (p = memchr(p, '[', (size_t)(end - p))) != NULL; p++) {
			size_t n = caps_token(p, end);
			if (n)
				ADD(r, 6, DEVSYS_SPECKIT_ERROR, f->path, (unsigned)i + 1,
				    "template placeholder '%.*s' left in: replace it with the real value", (int)n, p);
		}
	}
	return 0;
}

static int check_placeholders(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	ph_table t;
	ph_table_init(&t);
	int rc = placeholders_in(r, &f->spec, &t);
	if (rc == 0)
		rc = placeholders_in(r, &f->plan, &t);
	if (rc == 0)
		rc = placeholders_in(r, &f->tmd, &t);
	for (size_t i = 0; i < f->nlists && rc == 0; i++)
		rc = placeholders_in(r, &f->lists[i].file, &t);
	return rc;
}

/* ---- SK007 ---- */

static int check_plan(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	if (!f->plan.present)
		return 0;
	if (!f->has_tech_context) {
		ADD(r, 7, DEVSYS_SPECKIT_ERROR, f->plan.path, 0, "no '## Technical Context' section: add it with its 9 fields");
		return 0;
	}
	for (int k = 0; k < 9; k++) {
		const char *name = devsys__speckit_fields[k], *v = f->fields[k];
		if (!v)
			ADD(r, 7, DEVSYS_SPECKIT_ERROR, f->plan.path, f->tech_line,
			    "Technical Context has no '**%s**:' field: add it (N/A when it does not apply)", name);
		else if (!*v)
			ADD(r, 7, DEVSYS_SPECKIT_ERROR, f->plan.path, f->field_line[k],
			    "Technical Context field '%s' is empty: fill it (N/A when it does not apply)", name);
		else if (strstr(v, "NEEDS CLARIFICATION"))
			ADD(r, 7, f->research ? DEVSYS_SPECKIT_ERROR : DEVSYS_SPECKIT_WARNING, f->plan.path, f->field_line[k],
			    "Technical Context field '%s' still says NEEDS CLARIFICATION%s", name,
			    f->research ? " although research.md exists: write the decision from research.md here"
			                : ": resolve it in research.md (Phase 0)");
	}
	return 0;
}

/* ---- SK008, SK009 ---- */

static int check_grammar(devsys_speckit_findings *r, const devsys_speckit_feature *f, const sk_index *ix)
{
	if (!f->tmd.present)
		return 0;
	for (size_t i = 0; i < f->nbad_tasks; i++)
		ADD(r, 8, DEVSYS_SPECKIT_WARNING, f->tmd.path, f->bad_tasks[i].line,
		    "checkbox line without a task id: write '- [ ] T001 [P] [US1] Description with path'");
	if (f->ntasks == 0)
		ADD(r, 8, DEVSYS_SPECKIT_WARNING, f->tmd.path, 0, "no task line ('- [ ] T001 Description'): nothing to run");
	for (size_t i = 0; i < f->nphases; i++)
		if (f->phases[i].implicit)
			ADD(r, 8, DEVSYS_SPECKIT_WARNING, f->tmd.path, f->phases[i].line,
			    "tasks outside any '## Phase N: Title' section: they run in document order; put them in a phase");
	for (size_t i = 0; i < f->ntasks; i++) {
		const devsys_speckit_task *t = &f->tasks[i];
		long first = devsys__sk_index_find(ix, t->id);
		if (first != (long)i)
			ADD(r, 8, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->line,
			    "task id %s is used again (first at line %u): give each task its own id", t->id,
			    f->tasks[first].line);
		if (!*t->desc)
			ADD(r, 8, DEVSYS_SPECKIT_WARNING, f->tmd.path, t->line, "task %s has no description: say what to do and where",
			    t->id);
	}
	return 0;
}

static int check_story_tags(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	for (size_t i = 0; i < f->ntasks; i++) {
		const devsys_speckit_task *t = &f->tasks[i];
		const sk_phase *ph = &f->phases[t->phase];
		if (!t->story)
			continue;
		if (ph->kind != SK_PH_STORY) {
			ADD(r, 9, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->line,
			    "%s carries [US%u] but its phase '%s' is not a user story phase: drop the tag or move the task",
			    t->id, t->story, ph->title);
			continue;
		}
		bool known = false;
		for (size_t s = 0; s < f->nstories; s++)
			known |= f->stories[s].number == t->story;
		if (f->spec.present && !known)
			ADD(r, 9, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->line,
			    "%s carries [US%u] but spec.md has no User Story %u: fix the tag or add the story", t->id, t->story,
			    t->story);
		else if (ph->story != t->story)
			ADD(r, 9, DEVSYS_SPECKIT_WARNING, f->tmd.path, t->line,
			    "%s carries [US%u] inside the phase of User Story %u: move it to its story's phase", t->id, t->story,
			    ph->story);
	}
	return 0;
}

/* ---- SK010 ---- */

/* Iterative DFS over explicit dependencies; each cycle is reported once,
 * at the task that closes it, with its path. */
static int find_cycles(devsys_speckit_findings *r, const devsys_speckit_feature *f, const sk_index *ix,
                       unsigned char *color)
{
	size_t nt = f->ntasks;
	size_t *stack = devsys__calloc(nt, sizeof(size_t)), *edge = devsys__calloc(nt, sizeof(size_t));
	int rc = 0;
	if (!stack || !edge)
		rc = devsys__error_oom();
	for (size_t s = 0; s < nt && rc == 0; s++) {
		if (color[s])
			continue;
		size_t sp = 0;
		stack[sp] = s;
		edge[sp++] = 0;
		color[s] = 1;
		while (sp > 0 && rc == 0) {
			size_t u = stack[sp - 1];
			const devsys_speckit_task *t = &f->tasks[u];
			if (edge[sp - 1] >= t->deps.n) {
				color[u] = 2;
				sp--;
				continue;
			}
			size_t d = edge[sp - 1]++;
			long v = devsys__sk_index_find(ix, t->deps.v[d]);
			if (v < 0 || color[v] == 2)
				continue;
			if (color[v] == 0) {
				color[v] = 1;
				stack[sp] = (size_t)v;
				edge[sp++] = 0;
				continue;
			}
			devsys_buf path = DEVSYS_BUF_INIT;
			size_t k = sp;
			while (k > 0 && stack[k - 1] != (size_t)v)
				k--;
			for (size_t m = k - 1; m < sp && rc == 0; m++)
				rc = devsys_buf_printf(&path, "%s -> ", f->tasks[stack[m]].id);
			if (rc == 0)
				rc = devsys_buf_puts(&path, f->tasks[v].id);
			if (rc == 0)
				rc = add(r, 10, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->deps.line[d],
				         "dependency cycle %s: break it by dropping one of these dependencies", path.ptr);
			devsys_buf_dispose(&path);
		}
	}
	devsys__free(stack);
	devsys__free(edge);
	return rc;
}

static int check_deps(devsys_speckit_findings *r, const devsys_speckit_feature *f, const sk_index *ix)
{
	if (f->ntasks == 0)
		return 0;
	unsigned char *color = devsys__calloc(f->ntasks, 1);
	size_t *order = NULL, *pos = NULL;
	int rc = color ? devsys__sk_order(f, &order, &pos) : devsys__error_oom();
	if (rc == 0)
		rc = find_cycles(r, f, ix, color);
	for (size_t i = 0; i < f->ntasks && rc == 0; i++) {
		const devsys_speckit_task *t = &f->tasks[i];
		for (size_t d = 0; d < t->deps.n && rc == 0; d++) {
			long j = devsys__sk_index_find(ix, t->deps.v[d]);
			if (j < 0)
				rc = add(r, 10, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->deps.line[d],
				         "%s depends on %s, which no task line defines: fix the id or add the task", t->id,
				         t->deps.v[d]);
			else if ((size_t)j == i)
				rc = add(r, 10, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->deps.line[d],
				         "%s depends on itself: drop the dependency", t->id);
			else if (pos[j] > pos[i] && f->tasks[j].phase != f->tasks[i].phase)
				rc = add(r, 10, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->deps.line[d],
				         "%s depends on %s, which is in a phase that runs later ('%s'): move one of them or drop the "
				         "dependency",
				         t->id, t->deps.v[d], f->phases[f->tasks[j].phase].title);
			else if (pos[j] > pos[i])
				rc = add(r, 10, DEVSYS_SPECKIT_WARNING, f->tmd.path, t->deps.line[d],
				         "%s depends on %s, which comes after it in its phase: move %s before %s", t->id,
				         t->deps.v[d], t->deps.v[d], t->id);
		}
	}
	devsys__free(color);
	devsys__free(order);
	devsys__free(pos);
	return rc;
}

/* ---- SK011, SK012, SK013 ---- */

typedef struct path_ref {
	const char *path;
	size_t phase, task;
} path_ref;

static int cmp_ref(const void *a, const void *b)
{
	const path_ref *x = a, *y = b;
	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	int c = strcmp(x->path, y->path);
	return c ? c : (x->task < y->task ? -1 : x->task > y->task);
}

/* For each [P] task, the first earlier [P] task of its phase sharing a
 * path: refs sorted by (phase, path, task) give each path's first user. */
static int shared_paths(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->ntasks; i++)
		n += f->tasks[i].parallel ? f->tasks[i].paths.n : 0;
	if (n < 2)
		return 0;
	path_ref *v = devsys__calloc(n, sizeof(*v));
	size_t *first = devsys__calloc(f->ntasks, sizeof(*first));
	int rc = v && first ? 0 : devsys__error_oom();
	size_t k = 0;
	for (size_t i = 0; rc == 0 && i < f->ntasks; i++) {
		first[i] = (size_t)-1;
		for (size_t a = 0; f->tasks[i].parallel && a < f->tasks[i].paths.n; a++)
			v[k++] = (path_ref){ f->tasks[i].paths.v[a], f->tasks[i].phase, i };
	}
	if (rc == 0)
		qsort(v, n, sizeof(*v), cmp_ref);
	for (size_t a = 0, g = 0; rc == 0 && a < n; a++) {
		if (a == 0 || v[a].phase != v[a - 1].phase || strcmp(v[a].path, v[a - 1].path) != 0)
			g = a; /* the path's first (earliest) task */
		if (v[g].task < v[a].task && v[g].task < first[v[a].task])
			first[v[a].task] = v[g].task;
	}
	for (size_t i = 0; rc == 0 && i < f->ntasks; i++) {
		if (first[i] == (size_t)-1)
			continue;
		const devsys_speckit_task *t = &f->tasks[i], *u = &f->tasks[first[i]];
		for (size_t a = 0; a < t->paths.n; a++)
			if (devsys__sk_strv_has(&u->paths, t->paths.v[a])) {
				rc = add(r, 11, DEVSYS_SPECKIT_ERROR, f->tmd.path, t->line,
				         "%s and %s (line %u) are both [P] in phase '%s' and both change '%s': drop [P] from one "
				         "of them",
				         t->id, u->id, u->line, f->phases[t->phase].title, t->paths.v[a]);
				break;
			}
	}
	devsys__free(v);
	devsys__free(first);
	return rc;
}

static int check_paths(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	for (size_t i = 0; i < f->ntasks; i++) {
		const devsys_speckit_task *t = &f->tasks[i];
		if (t->paths.n == 0)
			ADD(r, 12, DEVSYS_SPECKIT_WARNING, f->tmd.path, t->line,
			    "%s names no file path: say which file it changes (e.g. 'in src/models/user.py')", t->id);
	}
	return shared_paths(r, f);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool sorted_has(const char *const *v, size_t n, const char *key)
{
	return n && bsearch(&key, v, n, sizeof(*v), cmp_cstr) != NULL;
}

/* Every FR-/SC- id any task cites, sorted, for look-ups (borrowed strings). */
static int all_cites(const devsys_speckit_feature *f, const char ***out, size_t *n)
{
	size_t total = 0;
	for (size_t i = 0; i < f->ntasks; i++)
		total += f->tasks[i].cites.n;
	const char **v = devsys__calloc(total ? total : 1, sizeof(*v));
	if (!v)
		return devsys__error_oom();
	size_t k = 0;
	for (size_t i = 0; i < f->ntasks; i++)
		for (size_t c = 0; c < f->tasks[i].cites.n; c++)
			v[k++] = f->tasks[i].cites.v[c];
	qsort(v, k, sizeof(*v), cmp_cstr);
	*out = v;
	*n = k;
	return 0;
}

static int coverage_reqs(devsys_speckit_findings *r, const devsys_speckit_feature *f, size_t *reqs, size_t *cited)
{
	const char **cites = NULL, **defs = NULL;
	size_t ncites = 0, ndefs = 0;
	int rc = all_cites(f, &cites, &ncites);
	if (rc == 0 && !(defs = devsys__calloc(f->reqs.n ? f->reqs.n : 1, sizeof(*defs))))
		rc = devsys__error_oom();
	for (size_t k = 0; k < f->reqs.n && rc == 0; k++) {
		const char *id = f->reqs.v[k];
		/* a duplicate definition counts once: ids seen so far, kept sorted */
		size_t lo = 0, hi = ndefs;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(defs[mid], id) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < ndefs && strcmp(defs[lo], id) == 0)
			continue;
		memmove(defs + lo + 1, defs + lo, (ndefs - lo) * sizeof(*defs));
		defs[lo] = id;
		ndefs++;
		(*reqs)++;
		if (sorted_has(cites, ncites, id))
			(*cited)++;
		else
			rc = add(r, 13, DEVSYS_SPECKIT_WARNING, f->spec.path, f->reqs.line[k],
			         "%s is cited by no task: name it in the task that implements it", id);
	}
	devsys__free(cites);
	devsys__free(defs);
	return rc;
}

static int check_coverage(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	if (!f->tmd.present || !f->spec.present)
		return 0;
	size_t reqs = 0, cited = 0, traced = 0, counted = 0;
	int rc = coverage_reqs(r, f, &reqs, &cited);
	if (rc)
		return rc;
	for (size_t i = 0; i < f->ntasks; i++) {
		const devsys_speckit_task *t = &f->tasks[i];
		enum sk_phase_kind kind = f->phases[t->phase].kind;
		if (kind == SK_PH_SETUP || kind == SK_PH_FOUND || kind == SK_PH_POLISH)
			continue; /* shared work by the template's design */
		counted++;
		if (t->story || t->cites.n)
			traced++;
		else
			ADD(r, 13, DEVSYS_SPECKIT_WARNING, f->tmd.path, t->line,
			    "%s traces to no story or requirement: add [USn] or cite the FR-/SC- id it implements", t->id);
	}
	ADD(r, 13, DEVSYS_SPECKIT_INFO, f->tmd.path, 0,
	    "coverage: %zu of %zu requirements cited by tasks (%.0f%%), %zu of %zu story-phase tasks traced (%.0f%%)", cited,
	    reqs, reqs ? 100.0 * (double)cited / (double)reqs : 100.0, traced, counted,
	    counted ? 100.0 * (double)traced / (double)counted : 100.0);
	return 0;
}

/* ---- SK014 ---- */

static int check_lists(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	for (size_t i = 0; i < f->nlists; i++) {
		const sk_checklist *c = &f->lists[i];
		for (size_t k = 0; k < c->bad.n; k++)
			ADD(r, 14, DEVSYS_SPECKIT_WARNING, c->file.path, c->bad.line[k],
			    "checklist item without a CHK id: write '- [ ] CHK001 ...'");
		if (c->unchecked)
			ADD(r, 14, DEVSYS_SPECKIT_WARNING, c->file.path, 0,
			    "%u of %u checklist items are unchecked: review them before /speckit.implement", c->unchecked,
			    c->total);
		else
			ADD(r, 14, DEVSYS_SPECKIT_INFO, c->file.path, 0, "all %u checklist items are checked", c->total);
	}
	return 0;
}

/* ---- driver ---- */

static int cmp_finding(const void *a, const void *b)
{
	const sk_finding *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	c = strcmp(x->rule, y->rule);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int devsys_speckit_check(devsys_speckit_findings *r, const devsys_speckit_feature *f)
{
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(f);
	size_t start = r->n;
	sk_index ix;
	int rc = devsys__sk_index_build(&ix, f);
	if (rc)
		return rc;
	const sk_file *files[3] = { &f->spec, &f->plan, &f->tmd };
	for (int k = 0; k < 3 && rc == 0; k++)
		rc = check_markdown(r, files[k]);
	for (size_t i = 0; i < f->nlists && rc == 0; i++)
		rc = check_markdown(r, &f->lists[i].file);
	if (rc == 0)
		rc = check_folder(r, f);
	if (rc == 0)
		rc = check_sections(r, f);
	if (rc == 0)
		rc = check_stories(r, f);
	if (rc == 0)
		rc = check_ids(r, f);
	if (rc == 0)
		rc = check_clarify(r, f);
	if (rc == 0)
		rc = check_placeholders(r, f);
	if (rc == 0)
		rc = check_plan(r, f);
	if (rc == 0)
		rc = check_grammar(r, f, &ix);
	if (rc == 0)
		rc = check_story_tags(r, f);
	if (rc == 0)
		rc = check_deps(r, f, &ix);
	if (rc == 0)
		rc = check_paths(r, f);
	if (rc == 0)
		rc = check_coverage(r, f);
	if (rc == 0)
		rc = check_lists(r, f);
	devsys__sk_index_dispose(&ix);
	if (rc == 0 && r->n > start)
		qsort(r->v + start, r->n - start, sizeof(*r->v), cmp_finding);
	return rc;
}

size_t devsys_speckit_findings_count(const devsys_speckit_findings *r) { return r ? r->n : 0; }

size_t devsys_speckit_findings_count_severity(const devsys_speckit_findings *r, devsys_speckit_severity sev)
{
	size_t n = 0;
	for (size_t i = 0; r && i < r->n; i++)
		n += r->v[i].sev == sev;
	return n;
}

const char *devsys_speckit_finding_at(const devsys_speckit_findings *r, size_t i, devsys_speckit_severity *sev,
                                      const char **file, unsigned *line, const char **message)
{
	if (!r || i >= r->n)
		return NULL;
	const sk_finding *f = &r->v[i];
	if (sev)
		*sev = f->sev;
	if (file)
		*file = f->file;
	if (line)
		*line = f->line;
	if (message)
		*message = f->msg;
	return f->rule;
}

/* ---- output ---- */

static const char *sev_name(devsys_speckit_severity s)
{
	return s == DEVSYS_SPECKIT_ERROR ? "error" : s == DEVSYS_SPECKIT_WARNING ? "warning" : "info";
}

int devsys_speckit_findings_to_text(devsys_buf *out, const devsys_speckit_findings *r)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(r);
	int rc = 0;
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const sk_finding *f = &r->v[i];
		if (f->line)
			rc = devsys_buf_printf(out, "%s:%u: %s: %s: %s\n", f->file, f->line, sev_name(f->sev), f->rule, f->msg);
		else
			rc = devsys_buf_printf(out, "%s: %s: %s: %s\n", f->file, sev_name(f->sev), f->rule, f->msg);
	}
	return rc;
}

static int dump(devsys_buf *out, json_t *j)
{
	if (!j)
		return devsys__error_oom();
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(j);
	if (!s)
		return devsys__error_oom();
	int rc = devsys_buf_puts(out, s);
	if (rc == 0)
		rc = devsys_buf_puts(out, "\n");
	free(s);
	return rc;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
	if (!n || (size_t)(end - p) < n || (n == 2 && p[0] < 0xC2))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (n == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0)))
		return 0; /* overlong, surrogate */
	if (n == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || p[0] > 0xF4 || (p[0] == 0xF4 && p[1] >= 0x90)))
		return 0;
	return n;
}

/* A JSON string of @p s; a byte that is not UTF-8 (a file may hold any)
 * becomes U+FFFD, so a finding never makes the output fail. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	devsys_buf b = DEVSYS_BUF_INIT;
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	int rc = 0;
	while (p < end && rc == 0) {
		size_t n = utf8_len(p, end);
		rc = n ? devsys_buf_put(&b, (const char *)p, n) : devsys_buf_put(&b, "\xEF\xBF\xBD", 3);
		p += n ? n : 1;
	}
	j = rc == 0 ? json_string(b.ptr ? b.ptr : "") : NULL;
	devsys_buf_dispose(&b);
	return j;
}

int devsys_speckit_findings_to_json(devsys_buf *out, const devsys_speckit_findings *r)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(r);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < r->n; i++) {
		const sk_finding *f = &r->v[i];
		json_t *e = json_pack("{s:s,s:s,s:o,s:i,s:o}", "rule", f->rule, "severity", sev_name(f->sev), "file",
		                      jstr(f->file), "line", (int)f->line, "message", jstr(f->msg));
		if (!e) {
			json_decref(arr);
			return devsys__error_oom();
		}
		json_array_append_new(arr, e);
	}
	json_t *root = json_pack("{s:o,s:{s:I,s:I,s:I}}", "findings", arr, "summary", "errors",
	                         (json_int_t)devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_ERROR), "warnings",
	                         (json_int_t)devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_WARNING), "info",
	                         (json_int_t)devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_INFO));
	return dump(out, root);
}

/* A URI for a file path: "file://" for an absolute path, else a relative
 * reference (against %SRCROOT%); unreserved bytes kept, the rest %XX. */
static char *uri_of(const char *path)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = 0;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (path[0] == '/')
		rc = devsys_buf_puts(&b, "file://");
	for (const unsigned char *p = (const unsigned char *)path; *p && rc == 0; p++) {
		if (isalnum(*p) || strchr("-._~/", *p))
			rc = devsys_buf_put(&b, (const char *)p, 1);
		else
			rc = devsys_buf_printf(&b, "%%%02X", *p);
	}
	char *s = rc == 0 && b.ptr ? devsys__strdup(b.ptr) : NULL;
	devsys_buf_dispose(&b);
	return s;
}

static json_t *sarif_result(const sk_finding *f)
{
	static const char *const level[] = { "note", "warning", "error" };
	char *uri = uri_of(f->file);
	if (!uri)
		return NULL;
	int idx = atoi(f->rule + 2);
	json_t *phys = strncmp(uri, "file://", 7) == 0
	                       ? json_pack("{s:{s:s}}", "artifactLocation", "uri", uri)
	                       : json_pack("{s:{s:s,s:s}}", "artifactLocation", "uri", uri, "uriBaseId", "%SRCROOT%");
	devsys__free(uri);
	if (phys && f->line)
		json_object_set_new(phys, "region", json_pack("{s:i}", "startLine", (int)f->line));
	return json_pack("{s:s,s:i,s:s,s:{s:o},s:[{s:o}]}", "ruleId", f->rule, "ruleIndex", idx, "level", level[f->sev],
	                 "message", "text", jstr(f->msg), "locations", "physicalLocation", phys);
}

int devsys_speckit_findings_to_sarif(devsys_buf *out, const devsys_speckit_findings *r)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(r);
	json_t *rl = json_array(), *results = json_array();
	for (size_t k = 0; rl && k < sizeof(rules) / sizeof(*rules); k++)
		json_array_append_new(rl, json_pack("{s:s,s:s,s:{s:s},s:{s:s}}", "id", rules[k].id, "name", rules[k].name,
		                                    "shortDescription", "text", rules[k].text, "fullDescription", "text",
		                                    rules[k].text));
	for (size_t i = 0; results && i < r->n; i++) {
		json_t *res = sarif_result(&r->v[i]);
		if (!res) {
			json_decref(rl);
			json_decref(results);
			return devsys__error_oom();
		}
		json_array_append_new(results, res);
	}
	json_t *root = json_pack("{s:s,s:s,s:[{s:{s:{s:s,s:s,s:s,s:o}},s:o,s:s}]}", "$schema",
	                         "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs", "tool",
	                         "driver", "name", "devsys-speckit", "version", DEVSYS_VERSION_STRING, "informationUri",
	                         "https://github.com/github/spec-kit", "rules", rl, "results", results, "columnKind",
	                         "utf16CodeUnits");
	return dump(out, root);
}
