/*
 * JUnit XML: streaming parse (libxml2 SAX2 push parser), normalisation,
 * merge, normalised XML out (xmlTextWriter) and the summary JSON.
 */
#include "core/core.h"
#include "devsys/report.h"
#include "report/report_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/SAX2.h>
#include <libxml/entities.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_TEXT 4096
#define DEFAULT_MAX_DEPTH 64

typedef struct failed_name {
	int status;
	char *suite, *classname, *name, *message;
} failed_name;

struct devsys_report {
	devsys_report_case *cases;
	size_t ncases, acases;
	size_t counts[4];
	size_t tests;
	double time;
	char **sources;
	size_t nsources;
	failed_name *failed;
	size_t nfailed;
	size_t failed_total;
	bool no_cases;
};

static const size_t report_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_report_options, case_payload), /* 1 */
};

static void generic_error_sink(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int devsys__report_global_init(void)
{
	xmlInitParser();
	/* Errors are captured per parse; nothing goes to stderr. */
	xmlSetGenericErrorFunc(NULL, generic_error_sink);
	return 0;
}

void devsys__report_global_shutdown(void)
{
	/* xmlCleanupParser() is not called: the embedding program may use
	 * libxml2 itself, and cleaning up under it breaks it. */
}

int devsys_report_options_init(devsys_report_options *opts, unsigned int version)
{
	static const devsys_report_options defaults = DEVSYS_REPORT_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, report_options_sizes, DEVSYS_REPORT_OPTIONS_VERSION, version, __func__);
}

const char *devsys_report_status_name(int status)
{
	switch (status) {
	case DEVSYS_REPORT_PASSED: return "passed";
	case DEVSYS_REPORT_FAILED: return "failed";
	case DEVSYS_REPORT_ERROR: return "error";
	case DEVSYS_REPORT_SKIPPED: return "skipped";
	default: return "unknown";
	}
}

int devsys_report_new(devsys_report **out)
{
	DEVSYS__CHECK_ARG(out);
	*out = devsys__calloc(1, sizeof(devsys_report));
	return *out ? 0 : devsys__error_oom();
}

static void case_clear(devsys_report_case *c)
{
	devsys__free((char *)c->suite);
	devsys__free((char *)c->classname);
	devsys__free((char *)c->name);
	devsys__free((char *)c->file);
	devsys__free((char *)c->message);
	devsys__free((char *)c->type);
	devsys__free((char *)c->text);
	devsys__free((char *)c->system_out);
	devsys__free((char *)c->system_err);
	/* source is shared with report->sources */
	memset(c, 0, sizeof(*c));
}

static void failed_clear(failed_name *f)
{
	devsys__free(f->suite);
	devsys__free(f->classname);
	devsys__free(f->name);
	devsys__free(f->message);
}

void devsys_report_free(devsys_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ncases; i++)
		case_clear(&r->cases[i]);
	devsys__free(r->cases);
	for (size_t i = 0; i < r->nsources; i++)
		devsys__free(r->sources[i]);
	devsys__free(r->sources);
	for (size_t i = 0; i < r->nfailed; i++)
		failed_clear(&r->failed[i]);
	devsys__free(r->failed);
	devsys__free(r);
}

static char *dup_or_null(const char *s)
{
	return s ? devsys__strdup(s) : NULL;
}

static const char *intern_source(devsys_report *r, const char *src)
{
	char **n;
	for (size_t i = 0; i < r->nsources; i++)
		if (strcmp(r->sources[i], src) == 0)
			return r->sources[i];
	if (!(n = devsys__realloc(r->sources, (r->nsources + 1) * sizeof(*n))))
		return NULL;
	r->sources = n;
	if (!(n[r->nsources] = devsys__strdup(src)))
		return NULL;
	return n[r->nsources++];
}

static int add_failed(devsys_report *r, int status, const char *suite, const char *classname, const char *name,
                      const char *message)
{
	failed_name *f;
	r->failed_total++;
	if (r->nfailed >= DEVSYS_REPORT_MAX_FAILED_NAMES)
		return 0;
	if (!r->failed && !(r->failed = devsys__calloc(DEVSYS_REPORT_MAX_FAILED_NAMES, sizeof(*r->failed))))
		return devsys__error_oom();
	f = &r->failed[r->nfailed];
	f->status = status;
	f->suite = devsys__strdup(suite ? suite : "");
	f->classname = devsys__strdup(classname ? classname : "");
	f->name = devsys__strdup(name ? name : "");
	f->message = dup_or_null(message);
	r->nfailed++;
	if (!f->suite || !f->classname || !f->name || (message && !f->message))
		return devsys__error_oom();
	return 0;
}

/* Count a case and keep it (taking ownership of its strings) or clear it. */
static int report_take_case(devsys_report *r, devsys_report_case *c)
{
	int rc = 0;
	if (c->status < 0 || c->status > 3)
		c->status = DEVSYS_REPORT_PASSED;
	r->counts[c->status]++;
	r->tests++;
	r->time += c->time;
	if (c->status == DEVSYS_REPORT_FAILED || c->status == DEVSYS_REPORT_ERROR)
		rc = add_failed(r, c->status, c->suite, c->classname, c->name, c->message);
	if (rc == 0 && !r->no_cases) {
		if (r->ncases == r->acases) {
			size_t na = r->acases ? r->acases * 2 : 64;
			devsys_report_case *n = devsys__realloc(r->cases, na * sizeof(*n));
			if (!n) {
				case_clear(c);
				return devsys__error_oom();
			}
			r->cases = n;
			r->acases = na;
		}
		r->cases[r->ncases++] = *c;
		memset(c, 0, sizeof(*c));
		return 0;
	}
	case_clear(c);
	return rc;
}

int devsys_report_merge(devsys_report *dst, const devsys_report *src)
{
	DEVSYS__CHECK_ARG(dst);
	DEVSYS__CHECK_ARG(src);
	/* appending to the arrays being read would never end (and would read moved memory) */
	if (dst == src)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_report_merge: a report cannot be merged into itself");
	for (size_t i = 0; i < src->nsources; i++)
		if (!intern_source(dst, src->sources[i]))
			return devsys__error_oom();
	if (src->no_cases || dst->no_cases) {
		/* Totals only (and failed names): cases cannot be merged. */
		for (int s = 0; s < 4; s++)
			dst->counts[s] += src->counts[s];
		dst->tests += src->tests;
		dst->time += src->time;
		for (size_t i = 0; i < src->nfailed; i++) {
			const failed_name *f = &src->failed[i];
			if (add_failed(dst, f->status, f->suite, f->classname, f->name, f->message) < 0)
				return DEVSYS_ENOMEM;
			dst->failed_total--; /* counted below */
		}
		dst->failed_total += src->failed_total;
		dst->no_cases = true;
		for (size_t i = 0; i < dst->ncases; i++)
			case_clear(&dst->cases[i]);
		dst->ncases = 0;
		return 0;
	}
	for (size_t i = 0; i < src->ncases; i++) {
		const devsys_report_case *s = &src->cases[i];
		devsys_report_case c;
		memset(&c, 0, sizeof(c));
		c.status = s->status;
		c.time = s->time;
		c.suite = devsys__strdup(s->suite);
		c.classname = devsys__strdup(s->classname);
		c.name = devsys__strdup(s->name);
		c.file = dup_or_null(s->file);
		c.message = dup_or_null(s->message);
		c.type = dup_or_null(s->type);
		c.text = dup_or_null(s->text);
		c.system_out = dup_or_null(s->system_out);
		c.system_err = dup_or_null(s->system_err);
		c.source = s->source ? intern_source(dst, s->source) : NULL;
		if (!c.suite || !c.classname || !c.name) {
			case_clear(&c);
			return devsys__error_oom();
		}
		if (report_take_case(dst, &c) < 0)
			return DEVSYS_ENOMEM;
	}
	return 0;
}

size_t devsys_report_tests(const devsys_report *r)
{
	return r ? r->tests : 0;
}

size_t devsys_report_count(const devsys_report *r, int status)
{
	return r && status >= 0 && status <= 3 ? r->counts[status] : 0;
}

double devsys_report_time(const devsys_report *r)
{
	return r ? r->time : 0.0;
}

size_t devsys_report_case_count(const devsys_report *r)
{
	return r ? r->ncases : 0;
}

const devsys_report_case *devsys_report_case_at(const devsys_report *r, size_t i)
{
	return r && i < r->ncases ? &r->cases[i] : NULL;
}

int devsys_report_foreach(const devsys_report *r, devsys_report_case_cb cb, void *payload)
{
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(cb);
	for (size_t i = 0; i < r->ncases; i++)
		if (cb(&r->cases[i], payload) != 0)
			return devsys__error_set(DEVSYS_EUSER, "devsys_report_foreach: the callback stopped at case %zu", i);
	return 0;
}

size_t devsys_report_source_count(const devsys_report *r)
{
	return r ? r->nsources : 0;
}

const char *devsys_report_source_at(const devsys_report *r, size_t i)
{
	return r && i < r->nsources ? r->sources[i] : NULL;
}

/* ---------------------------------------------------------------- parse */

enum child_kind { CHILD_NONE, CHILD_FAILURE, CHILD_ERROR, CHILD_SKIPPED, CHILD_OUT, CHILD_ERR };

typedef struct bounded {
	devsys_buf buf;
	size_t cut;
	bool used;
} bounded;

typedef struct pctx {
	xmlParserCtxtPtr ctxt;
	const xmlChar **attrs; /* SAX2 attributes of the current start tag */
	int nattrs;
	int depth;             /* open elements */
	int rc;                /* first error (0: none) */
	bool lean;             /* NO_CASES and no callback: texts are not needed */
	bool seen_root;
	const char *source;    /* interned in tmp */
	const char *label;     /* for messages */
	devsys_report_options opts;
	devsys_report *tmp;
	/* suite stack */
	char **suites;
	int *suite_depth;
	int nsuites;
	/* current case */
	bool in_case;
	int case_depth;
	devsys_report_case cur;
	bool has_failure, has_error, has_skipped, disabled;
	char *f_message, *f_type, *e_message, *e_type, *s_message;
	bounded f_text, e_text, s_text, out, err;
	enum child_kind child;
	int child_depth;
	/* lean mode: the current case's time and the names a failed-name entry
	 * needs, in buffers reused across cases (nothing is allocated per case) */
	double l_time;
	devsys_buf l_name, l_class, l_fmsg, l_emsg;
	bool l_has_fmsg, l_has_emsg;
	/* first error */
	char errmsg[512];
	int errline;
	bool have_err;
} pctx;

static void sax_error(void *arg, xmlErrorPtr err)
{
	pctx *p = arg;
	size_t n;
	if (p->have_err || !err || err->level < XML_ERR_ERROR)
		return;
	snprintf(p->errmsg, sizeof(p->errmsg), "%s", err->message ? err->message : "malformed XML");
	n = strlen(p->errmsg);
	while (n > 0 && (p->errmsg[n - 1] == '\n' || p->errmsg[n - 1] == ' '))
		p->errmsg[--n] = '\0';
	p->errline = err->line;
	p->have_err = true;
}

static void bounded_reset(bounded *b)
{
	devsys_buf_dispose(&b->buf);
	b->cut = 0;
	b->used = false;
}

static int bounded_add(bounded *b, const char *s, size_t len, size_t max)
{
	size_t keep = len;
	b->used = true;
	if (b->cut || b->buf.size >= max) {
		b->cut += len;
		return 0;
	}
	if (len > max - b->buf.size) {
		keep = max - b->buf.size;
		/* do not split a UTF-8 sequence */
		while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
			keep--;
		b->cut += len - keep;
	}
	return devsys_buf_put(&b->buf, s, keep) < 0 ? DEVSYS_ENOMEM : 0;
}

/* The bounded text as an owned string (NULL when the element was absent). */
static char *bounded_take(bounded *b)
{
	char *s;
	if (!b->used)
		return NULL;
	if (b->cut && devsys_buf_printf(&b->buf, "\n[... %zu bytes cut]", b->cut) < 0)
		return NULL;
	if (!b->buf.ptr)
		s = devsys__strdup("");
	else if (b->buf.asize) {
		s = b->buf.ptr;
		b->buf.ptr = NULL;
		b->buf.size = b->buf.asize = 0;
	} else
		s = devsys__strdup(b->buf.ptr);
	bounded_reset(b);
	return s;
}

/* The length of a SAX2 attribute's value (a[3]..a[4]), cut to max_text on a UTF-8 boundary. */
static size_t attr_len(const pctx *p, const xmlChar *const *a)
{
	size_t len = (size_t)(a[4] - a[3]);
	if (len > p->opts.max_text) {
		size_t keep = p->opts.max_text;
		while (keep > 0 && (a[3][keep] & 0xC0) == 0x80)
			keep--;
		len = keep;
	}
	return len;
}

/* The first un-namespaced attribute NAME of the current start tag, or NULL. */
static const xmlChar *const *attr_find(const pctx *p, const char *name)
{
	for (int i = 0; i < p->nattrs; i++) {
		const xmlChar *const *a = p->attrs + i * 5;
		if (!a[1] && strcmp((const char *)a[0], name) == 0)
			return a;
	}
	return NULL;
}

/* An attribute entry's value, bounded, as an owned string; NULL when absent. */
static char *attr_dup(const pctx *p, const xmlChar *const *a)
{
	return a ? devsys__strndup((const char *)a[3], attr_len(p, a)) : NULL;
}

/* An attribute of the current start tag, bounded, as an owned string; NULL when absent. */
static char *attr(pctx *p, const char *name)
{
	return attr_dup(p, attr_find(p, name));
}

/* Replace BUF's contents with an attribute's bounded value. */
static int attr_to_buf(const pctx *p, devsys_buf *buf, const xmlChar *const *a)
{
	devsys_buf_clear(buf);
	return devsys_buf_put(buf, a ? (const char *)a[3] : "", a ? attr_len(p, a) : 0);
}

/* Clinger's fast path: up to 15 significant digits and 22 decimals are exact
 * doubles, and one IEEE division rounds correctly, as strtod does. */
static bool seconds_fast(const char *s, size_t n, double *out)
{
	static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	                              1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	uint64_t m = 0;
	int digits = 0, frac = -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			m = m * 10 + (uint64_t)(s[i] - '0');
			if (++digits > 15)
				return false;
			if (frac >= 0)
				frac++;
		} else if (s[i] == '.' && frac < 0)
			frac = 0;
		else
			return false;
	}
	if (digits == 0 || frac > 22)
		return false;
	*out = (double)m / p10[frac > 0 ? frac : 0];
	return true;
}

/* A time attribute in seconds; 0 when absent or not a sane number. */
static double parse_seconds(const char *s, size_t n)
{
	char tmp[64];
	size_t j = 0;
	double d;
	char *end;
	if (!s)
		return 0.0;
	if (seconds_fast(s, n, &d))
		return d <= 1e9 ? d : 0.0;
	/* Surefire may write "1,234.5"; keep digits, sign, dot and exponent. */
	for (size_t i = 0; i < n && s[i] && j < sizeof(tmp) - 1; i++)
		if (s[i] != ',' && s[i] != ' ')
			tmp[j++] = s[i];
	tmp[j] = '\0';
	errno = 0;
	d = strtod(tmp, &end);
	if (end == tmp || errno || d != d || d < 0 || d > 1e9)
		return 0.0;
	return d;
}

static void cur_reset(pctx *p)
{
	case_clear(&p->cur);
	devsys__free(p->f_message);
	devsys__free(p->f_type);
	devsys__free(p->e_message);
	devsys__free(p->e_type);
	devsys__free(p->s_message);
	p->f_message = p->f_type = p->e_message = p->e_type = p->s_message = NULL;
	bounded_reset(&p->f_text);
	bounded_reset(&p->e_text);
	bounded_reset(&p->s_text);
	bounded_reset(&p->out);
	bounded_reset(&p->err);
	p->has_failure = p->has_error = p->has_skipped = p->disabled = false;
	p->in_case = false;
	p->child = CHILD_NONE;
}

/* Forget the lean case's state, keeping its buffers' memory. */
static void lean_reset(pctx *p)
{
	devsys_buf_clear(&p->l_name);
	devsys_buf_clear(&p->l_class);
	devsys_buf_clear(&p->l_fmsg);
	devsys_buf_clear(&p->l_emsg);
	p->l_has_fmsg = p->l_has_emsg = false;
	p->l_time = 0.0;
	p->has_failure = p->has_error = p->has_skipped = p->disabled = false;
	p->in_case = false;
	p->child = CHILD_NONE;
}

static void lean_dispose(pctx *p)
{
	devsys_buf_dispose(&p->l_name);
	devsys_buf_dispose(&p->l_class);
	devsys_buf_dispose(&p->l_fmsg);
	devsys_buf_dispose(&p->l_emsg);
}

static const char *buf_str(const devsys_buf *b)
{
	return b->ptr ? b->ptr : "";
}

/* Failed names beyond the list's limit are only counted: their texts need not be read. */
static bool lean_keeps_names(const pctx *p)
{
	return p->tmp->nfailed < DEVSYS_REPORT_MAX_FAILED_NAMES;
}

/* One pass over the testcase's attributes (it runs for every case). */
static void case_attrs(const pctx *p, const xmlChar *const **name, const xmlChar *const **classname,
                       const xmlChar *const **file, const xmlChar *const **time, const xmlChar *const **status)
{
	*name = *classname = *file = *time = *status = NULL;
	for (int i = 0; i < p->nattrs; i++) {
		const xmlChar *const *a = p->attrs + i * 5;
		const char *k = (const char *)a[0];
		if (a[1])
			continue;
		if (!*name && strcmp(k, "name") == 0)
			*name = a;
		else if (!*classname && strcmp(k, "classname") == 0)
			*classname = a;
		else if (!*file && strcmp(k, "file") == 0)
			*file = a;
		else if (!*time && strcmp(k, "time") == 0)
			*time = a;
		else if (!*status && strcmp(k, "status") == 0)
			*status = a;
	}
}

static bool status_disabled(const pctx *p, const xmlChar *const *a)
{
	static const char *const words[] = { "disabled", "notrun", "skipped" };
	size_t len;
	if (!a)
		return false;
	len = attr_len(p, a);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (len == strlen(words[i]) && strncasecmp((const char *)a[3], words[i], len) == 0)
			return true;
	return false;
}

static int begin_case(pctx *p, int depth)
{
	const char *suite = p->nsuites ? p->suites[p->nsuites - 1] : "";
	const xmlChar *const *name, *const *classname, *const *file, *const *time, *const *status;
	case_attrs(p, &name, &classname, &file, &time, &status);
	if (p->lean) {
		lean_reset(p);
		p->in_case = true;
		p->case_depth = depth;
		p->l_time = time ? parse_seconds((const char *)time[3], attr_len(p, time)) : 0.0;
		p->disabled = status_disabled(p, status);
		if (lean_keeps_names(p) &&
		    (attr_to_buf(p, &p->l_name, name) < 0 || attr_to_buf(p, &p->l_class, classname) < 0))
			return DEVSYS_ENOMEM;
		return 0;
	}
	cur_reset(p);
	p->in_case = true;
	p->case_depth = depth;
	p->cur.name = attr_dup(p, name);
	p->cur.classname = attr_dup(p, classname);
	p->cur.file = attr_dup(p, file);
	p->cur.time = time ? parse_seconds((const char *)time[3], attr_len(p, time)) : 0.0;
	p->disabled = status_disabled(p, status);
	if ((name && !p->cur.name) || (classname && !p->cur.classname) || (file && !p->cur.file))
		return devsys__error_oom();
	if (!p->cur.name && !(p->cur.name = devsys__strdup("")))
		return devsys__error_oom();
	if ((!p->cur.classname || !*p->cur.classname)) {
		devsys__free((char *)p->cur.classname);
		if (!(p->cur.classname = devsys__strdup(suite)))
			return devsys__error_oom();
	}
	if (!(p->cur.suite = devsys__strdup(suite)))
		return devsys__error_oom();
	return 0;
}

/* Count the lean case; a failed or erroring one adds its names to the list. */
static int end_case_lean(pctx *p)
{
	devsys_report *r = p->tmp;
	const char *suite = p->nsuites ? p->suites[p->nsuites - 1] : "";
	int status = DEVSYS_REPORT_PASSED, rc = 0;
	if (p->has_failure)
		status = DEVSYS_REPORT_FAILED;
	else if (p->has_error)
		status = DEVSYS_REPORT_ERROR;
	else if (p->has_skipped || p->disabled)
		status = DEVSYS_REPORT_SKIPPED;
	r->counts[status]++;
	r->tests++;
	r->time += p->l_time;
	if (status == DEVSYS_REPORT_FAILED || status == DEVSYS_REPORT_ERROR) {
		bool f = status == DEVSYS_REPORT_FAILED, has_msg = f ? p->l_has_fmsg : p->l_has_emsg;
		const char *msg = has_msg ? buf_str(f ? &p->l_fmsg : &p->l_emsg) : NULL;
		rc = add_failed(r, status, suite, p->l_class.size ? p->l_class.ptr : suite, buf_str(&p->l_name), msg);
	}
	lean_reset(p);
	return rc;
}

static int end_case(pctx *p)
{
	devsys_report_case *c = &p->cur;
	int rc = 0;
	if (p->lean)
		return end_case_lean(p);
	if (p->has_failure) {
		c->status = DEVSYS_REPORT_FAILED;
		c->message = p->f_message, p->f_message = NULL;
		c->type = p->f_type, p->f_type = NULL;
		c->text = bounded_take(&p->f_text);
	} else if (p->has_error) {
		c->status = DEVSYS_REPORT_ERROR;
		c->message = p->e_message, p->e_message = NULL;
		c->type = p->e_type, p->e_type = NULL;
		c->text = bounded_take(&p->e_text);
	} else if (p->has_skipped || p->disabled) {
		c->status = DEVSYS_REPORT_SKIPPED;
		c->message = p->s_message, p->s_message = NULL;
		c->text = bounded_take(&p->s_text);
	} else
		c->status = DEVSYS_REPORT_PASSED;
	c->system_out = bounded_take(&p->out);
	c->system_err = bounded_take(&p->err);
	c->source = p->source;
	if (p->opts.case_cb && p->opts.case_cb(c, p->opts.case_payload) != 0)
		rc = devsys__error_set(DEVSYS_EUSER, "%s: the case callback stopped parsing at test '%s'", p->label,
		                       c->name);
	if (rc == 0)
		rc = report_take_case(p->tmp, c);
	cur_reset(p);
	return rc;
}

static int lean_message(pctx *p, devsys_buf *buf, bool *has)
{
	const xmlChar *const *a;
	if (!lean_keeps_names(p) || !(a = attr_find(p, "message")))
		return 0;
	*has = true;
	return attr_to_buf(p, buf, a);
}

/* A lean case keeps only the message of its first failure and first error. */
static int begin_child_lean(pctx *p, const char *name)
{
	if (strcmp(name, "failure") == 0) {
		if (!p->has_failure) {
			p->has_failure = true;
			return lean_message(p, &p->l_fmsg, &p->l_has_fmsg);
		}
	} else if (strcmp(name, "error") == 0) {
		if (!p->has_error) {
			p->has_error = true;
			return lean_message(p, &p->l_emsg, &p->l_has_emsg);
		}
	} else if (strcmp(name, "skipped") == 0)
		p->has_skipped = true;
	return 0;
}

static int begin_child(pctx *p, const char *name, int depth)
{
	enum child_kind k = CHILD_NONE;
	if (p->lean) {
		/* no text is read: the child is only marked so its end is found */
		p->child = CHILD_OUT;
		p->child_depth = depth;
		return begin_child_lean(p, name);
	}
	if (strcmp(name, "failure") == 0) {
		k = CHILD_FAILURE;
		if (!p->has_failure) {
			p->has_failure = true;
			p->f_message = attr(p, "message");
			p->f_type = attr(p, "type");
			p->f_text.used = true;
		}
	} else if (strcmp(name, "error") == 0) {
		k = CHILD_ERROR;
		if (!p->has_error) {
			p->has_error = true;
			p->e_message = attr(p, "message");
			p->e_type = attr(p, "type");
			p->e_text.used = true;
		}
	} else if (strcmp(name, "skipped") == 0) {
		k = CHILD_SKIPPED;
		if (!p->has_skipped) {
			p->has_skipped = true;
			p->s_message = attr(p, "message");
			p->s_text.used = true;
		}
	} else if (strcmp(name, "system-out") == 0) {
		k = CHILD_OUT;
		p->out.used = true;
	} else if (strcmp(name, "system-err") == 0) {
		k = CHILD_ERR;
		p->err.used = true;
	}
	p->child = k;
	p->child_depth = depth;
	return 0;
}

static bounded *child_buf(pctx *p)
{
	switch (p->child) {
	case CHILD_FAILURE: return &p->f_text;
	case CHILD_ERROR: return &p->e_text;
	case CHILD_SKIPPED: return &p->s_text;
	case CHILD_OUT: return &p->out;
	case CHILD_ERR: return &p->err;
	default: return NULL;
	}
}

static int push_suite(pctx *p, int depth)
{
	char *name = attr(p, "name");
	if (!name && !(name = devsys__strdup("")))
		return devsys__error_oom();
	p->suites[p->nsuites] = name;
	p->suite_depth[p->nsuites] = depth;
	p->nsuites++;
	return 0;
}

static void pop_suite(pctx *p)
{
	if (p->nsuites > 0)
		devsys__free(p->suites[--p->nsuites]);
}

/* Record the first error and stop the parser. */
static void fail(pctx *p, int rc)
{
	if (p->rc == 0)
		p->rc = rc;
	xmlStopParser(p->ctxt);
}

static void fail_msg(pctx *p, int code, const char *what)
{
	if (p->rc)
		return;
	fail(p, devsys__error_set(code, "%s:%d: %s", p->label, xmlSAX2GetLineNumber(p->ctxt), what));
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri, int nns,
                      const xmlChar **ns, int nattrs, int ndefaulted, const xmlChar **attrs)
{
	pctx *p = ctx;
	const char *name = (const char *)localname;
	int depth = p->depth++, rc;
	(void)prefix, (void)uri, (void)nns, (void)ns, (void)ndefaulted;
	if (p->rc)
		return;
	if (depth > (int)p->opts.max_depth) {
		fail_msg(p, DEVSYS_ELIMIT, "elements are nested deeper than the limit; flatten the report or raise max_depth");
		return;
	}
	p->attrs = attrs;
	p->nattrs = nattrs;
	if (!p->seen_root) {
		p->seen_root = true;
		if (strcmp(name, "testsuites") != 0 && strcmp(name, "testsuite") != 0) {
			fail(p, devsys__error_set(DEVSYS_EPARSE,
			                          "%s: the root element is <%.64s>, not <testsuites> or <testsuite>; is this "
			                          "a JUnit XML report?",
			                          p->label, name));
			return;
		}
	}
	if (p->in_case) {
		if (p->child == CHILD_NONE && depth == p->case_depth + 1 && (rc = begin_child(p, name, depth)) < 0)
			fail(p, rc);
	} else if (strcmp(name, "testsuite") == 0) {
		if ((rc = push_suite(p, depth)) < 0)
			fail(p, rc);
	} else if (strcmp(name, "testcase") == 0) {
		if ((rc = begin_case(p, depth)) < 0)
			fail(p, rc);
	}
	p->attrs = NULL;
	p->nattrs = 0;
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	pctx *p = ctx;
	int depth = --p->depth, rc;
	(void)localname, (void)prefix, (void)uri;
	if (p->rc)
		return;
	if (p->in_case) {
		if (p->child != CHILD_NONE && depth == p->child_depth)
			p->child = CHILD_NONE;
		else if (depth == p->case_depth && (rc = end_case(p)) < 0)
			fail(p, rc);
	} else if (p->nsuites > 0 && p->suite_depth[p->nsuites - 1] == depth)
		pop_suite(p);
}

static void sax_text(void *ctx, const xmlChar *ch, int len)
{
	pctx *p = ctx;
	/* totals-only without a callback: no text is ever looked at */
	if (p->lean || p->rc || !p->in_case || p->child == CHILD_NONE || p->depth <= p->child_depth || len <= 0)
		return;
	if (bounded_add(child_buf(p), (const char *)ch, (size_t)len, p->opts.max_text) < 0)
		fail(p, devsys__error_oom());
}

static void sax_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	(void)name, (void)ext, (void)sys;
	fail_msg(ctx, DEVSYS_EPARSE,
	         "the document has a DTD (<!DOCTYPE>); DTDs and entities are refused in test reports (XXE, entity "
	         "expansion)");
}

static xmlEntityPtr sax_get_entity(void *ctx, const xmlChar *name)
{
	pctx *p = ctx;
	/* the five predefined entities are resolved by the parser itself */
	xmlEntityPtr e = xmlGetPredefinedEntity(name);
	if (!e)
		fail_msg(p, DEVSYS_EPARSE, "the document uses an entity; entities are refused in test reports");
	return e;
}

static void sax_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub, const xmlChar *sys,
                            xmlChar *content)
{
	(void)name, (void)type, (void)pub, (void)sys, (void)content;
	fail_msg(ctx, DEVSYS_EPARSE, "the document declares an entity; entities are refused in test reports");
}

static void sax_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	fail_msg(ctx, DEVSYS_EPARSE, "the document uses an entity; entities are refused in test reports");
}

static int finish_error(pctx *p)
{
	if (p->rc)
		return p->rc;
	if (p->have_err)
		return devsys__error_set(DEVSYS_EPARSE, "%s:%d: not a readable JUnit XML file: %s%s", p->label, p->errline,
		                         p->errmsg,
		                         strstr(p->errmsg, "ntity") ? " (DTDs and entities are refused in test reports)" : "");
	if (!p->seen_root)
		return devsys__error_set(DEVSYS_EPARSE, "%s: empty document; expected a JUnit XML report", p->label);
	if (p->depth != 0)
		return devsys__error_set(DEVSYS_EPARSE, "%s: the document is truncated", p->label);
	return 0;
}

static int add_common(devsys_report *report, const char *path, const char *data, size_t len, const char *label,
                      const devsys_report_options *opts)
{
	static const size_t chunk = 256 * 1024;
	xmlSAXHandler sax;
	pctx p;
	int rc, fd = -1;
	char *buf = NULL;

	DEVSYS__CHECK_ARG(report);
	memset(&p, 0, sizeof(p));
	devsys_report_options_init(&p.opts, DEVSYS_REPORT_OPTIONS_VERSION);
	if (opts && (rc = devsys__versioned_copy(&p.opts, opts, report_options_sizes, DEVSYS_REPORT_OPTIONS_VERSION,
	                                         "devsys_report_options")) < 0)
		return rc;
	if (!p.opts.max_text)
		p.opts.max_text = DEFAULT_MAX_TEXT;
	if (!p.opts.max_depth)
		p.opts.max_depth = DEFAULT_MAX_DEPTH;
	if (p.opts.max_depth > 4096)
		p.opts.max_depth = 4096;
	p.label = label;
	if ((rc = devsys_report_new(&p.tmp)) < 0)
		return rc;
	p.tmp->no_cases = report->no_cases || (p.opts.flags & DEVSYS_REPORT_NO_CASES);
	p.lean = p.tmp->no_cases && !p.opts.case_cb;
	p.suites = devsys__calloc(p.opts.max_depth + 2, sizeof(char *));
	p.suite_depth = devsys__calloc(p.opts.max_depth + 2, sizeof(int));
	if (!p.suites || !p.suite_depth || !(p.source = intern_source(p.tmp, label))) {
		rc = devsys__error_oom();
		goto done;
	}
	if (path) {
		struct stat st;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			rc = devsys__error_errno(devsys__errno_code(errno) == DEVSYS_ENOTFOUND ? DEVSYS_ENOTFOUND : DEVSYS_EIO,
			                         errno, "cannot read the JUnit report '%s'", path);
			goto done;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			rc = devsys__error_set(DEVSYS_EPARSE, "'%s' is not a regular file, so not a JUnit report", path);
			goto done;
		}
		if (!(buf = devsys__malloc(chunk))) {
			rc = devsys__error_oom();
			goto done;
		}
	} else if (len > (size_t)INT32_MAX) {
		rc = devsys__error_set(DEVSYS_ELIMIT, "%s: a report buffer must be below 2 GiB", label);
		goto done;
	}
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	sax.characters = sax_text;
	sax.cdataBlock = sax_text;
	sax.internalSubset = sax_dtd;
	sax.externalSubset = sax_dtd;
	sax.getEntity = sax_get_entity;
	sax.getParameterEntity = sax_get_entity;
	sax.entityDecl = sax_entity_decl;
	sax.reference = sax_reference;
	sax.serror = sax_error;
	if (!(p.ctxt = xmlCreatePushParserCtxt(&sax, &p, NULL, 0, label))) {
		rc = devsys__error_oom();
		goto done;
	}
	/* no network, no entity substitution, no DTD loading, no XInclude */
	xmlCtxtUseOptions(p.ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_COMPACT);
	if (path) {
		for (;;) {
			ssize_t n = read(fd, buf, chunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot read the JUnit report '%s'", path);
				goto done;
			}
			xmlParseChunk(p.ctxt, buf, (int)n, n == 0);
			if (n == 0 || p.rc || p.have_err)
				break;
		}
	} else {
		size_t off = 0;
		do {
			size_t n = len - off < chunk ? len - off : chunk;
			xmlParseChunk(p.ctxt, data + off, (int)n, off + n == len);
			off += n;
		} while (off < len && !p.rc && !p.have_err);
		if (len == 0)
			xmlParseChunk(p.ctxt, "", 0, 1);
	}
	if ((rc = finish_error(&p)) == 0) {
		if (p.tmp->no_cases && !report->no_cases) {
			/* switch the target to totals-only mode */
			for (size_t i = 0; i < report->ncases; i++)
				case_clear(&report->cases[i]);
			report->ncases = 0;
			report->no_cases = true;
		}
		rc = devsys_report_merge(report, p.tmp);
	}
done:
	if (p.ctxt) {
		if (p.ctxt->myDoc)
			xmlFreeDoc(p.ctxt->myDoc);
		xmlFreeParserCtxt(p.ctxt);
	}
	if (fd >= 0)
		close(fd);
	devsys__free(buf);
	cur_reset(&p);
	lean_dispose(&p);
	while (p.nsuites > 0)
		pop_suite(&p);
	devsys__free(p.suites);
	devsys__free(p.suite_depth);
	devsys_report_free(p.tmp);
	return rc;
}

int devsys_report_add_junit(devsys_report *report, const char *path, const devsys_report_options *opts)
{
	DEVSYS__CHECK_ARG(report);
	DEVSYS__CHECK_ARG(path);
	return add_common(report, path, NULL, 0, path, opts);
}

int devsys_report_add_junit_buffer(devsys_report *report, const char *data, size_t len, const char *name,
                                   const devsys_report_options *opts)
{
	DEVSYS__CHECK_ARG(report);
	if (!data && len)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_report_add_junit_buffer: data is NULL");
	return add_common(report, NULL, data, len, name ? name : "<buffer>", opts);
}

int devsys_report_parse_junit(devsys_report **out, const char *path, const devsys_report_options *opts)
{
	devsys_report *r;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if ((rc = devsys_report_new(&r)) < 0)
		return rc;
	if ((rc = devsys_report_add_junit(r, path, opts)) < 0) {
		devsys_report_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* ---------------------------------------------------------------- write */

static int w_ok(int x)
{
	return x < 0 ? -1 : 0;
}

static int write_case(xmlTextWriterPtr w, const devsys_report_case *c)
{
	static const char *child[] = { NULL, "failure", "error", "skipped" };
	int e = 0;
	e |= w_ok(xmlTextWriterStartElement(w, BAD_CAST "testcase"));
	e |= w_ok(xmlTextWriterWriteAttribute(w, BAD_CAST "classname", BAD_CAST c->classname));
	e |= w_ok(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST c->name));
	e |= w_ok(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "time", "%.6f", c->time));
	if (c->file)
		e |= w_ok(xmlTextWriterWriteAttribute(w, BAD_CAST "file", BAD_CAST c->file));
	if (c->status != DEVSYS_REPORT_PASSED) {
		e |= w_ok(xmlTextWriterStartElement(w, BAD_CAST child[c->status]));
		if (c->message)
			e |= w_ok(xmlTextWriterWriteAttribute(w, BAD_CAST "message", BAD_CAST c->message));
		if (c->type && c->status != DEVSYS_REPORT_SKIPPED)
			e |= w_ok(xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST c->type));
		if (c->text && *c->text)
			e |= w_ok(xmlTextWriterWriteString(w, BAD_CAST c->text));
		e |= w_ok(xmlTextWriterEndElement(w));
	}
	if (c->system_out) {
		e |= w_ok(xmlTextWriterStartElement(w, BAD_CAST "system-out"));
		e |= w_ok(xmlTextWriterWriteString(w, BAD_CAST c->system_out));
		e |= w_ok(xmlTextWriterEndElement(w));
	}
	if (c->system_err) {
		e |= w_ok(xmlTextWriterStartElement(w, BAD_CAST "system-err"));
		e |= w_ok(xmlTextWriterWriteString(w, BAD_CAST c->system_err));
		e |= w_ok(xmlTextWriterEndElement(w));
	}
	e |= w_ok(xmlTextWriterEndElement(w));
	return e;
}

static int write_counts(xmlTextWriterPtr w, size_t tests, const size_t counts[4], double time)
{
	int e = 0;
	e |= w_ok(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "tests", "%zu", tests));
	e |= w_ok(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "failures", "%zu", counts[DEVSYS_REPORT_FAILED]));
	e |= w_ok(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "errors", "%zu", counts[DEVSYS_REPORT_ERROR]));
	e |= w_ok(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "skipped", "%zu", counts[DEVSYS_REPORT_SKIPPED]));
	e |= w_ok(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "time", "%.6f", time));
	return e;
}

int devsys_report_junit_buf(const devsys_report *r, devsys_buf *out)
{
	xmlBufferPtr xb;
	xmlTextWriterPtr w;
	int e = 0, rc = 0;
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(out);
	if (r->no_cases)
		return devsys__error_set(DEVSYS_ESTATE,
		                         "the report was parsed with DEVSYS_REPORT_NO_CASES; parse it with cases to "
		                         "write JUnit XML");
	if (!(xb = xmlBufferCreate()))
		return devsys__error_oom();
	if (!(w = xmlNewTextWriterMemory(xb, 0))) {
		xmlBufferFree(xb);
		return devsys__error_oom();
	}
	xmlTextWriterSetIndent(w, 1);
	xmlTextWriterSetIndentString(w, BAD_CAST "  ");
	e |= w_ok(xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL));
	e |= w_ok(xmlTextWriterStartElement(w, BAD_CAST "testsuites"));
	e |= write_counts(w, r->tests, r->counts, r->time);
	for (size_t i = 0; i < r->ncases && !e;) {
		size_t j = i, counts[4] = { 0, 0, 0, 0 };
		double t = 0;
		while (j < r->ncases && strcmp(r->cases[j].suite, r->cases[i].suite) == 0) {
			counts[r->cases[j].status]++;
			t += r->cases[j].time;
			j++;
		}
		e |= w_ok(xmlTextWriterStartElement(w, BAD_CAST "testsuite"));
		e |= w_ok(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST r->cases[i].suite));
		e |= write_counts(w, j - i, counts, t);
		for (size_t k = i; k < j; k++)
			e |= write_case(w, &r->cases[k]);
		e |= w_ok(xmlTextWriterEndElement(w));
		i = j;
	}
	e |= w_ok(xmlTextWriterEndElement(w));
	e |= w_ok(xmlTextWriterEndDocument(w));
	xmlFreeTextWriter(w);
	if (e)
		rc = devsys__error_set(DEVSYS_ENOMEM, "cannot write the normalised JUnit XML");
	else {
		devsys_buf_clear(out);
		if (devsys_buf_put(out, (const char *)xmlBufferContent(xb), (size_t)xmlBufferLength(xb)) < 0)
			rc = DEVSYS_ENOMEM;
	}
	xmlBufferFree(xb);
	return rc;
}

int devsys_report_write_junit(const devsys_report *r, const char *path)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc;
	DEVSYS__CHECK_ARG(path);
	if ((rc = devsys_report_junit_buf(r, &b)) == 0)
		rc = devsys__write_file_atomic(path, b.ptr, b.size, 0644);
	devsys_buf_dispose(&b);
	return rc;
}

static json_t *jstr(const char *s)
{
	json_t *j;
	if (!s)
		return json_null();
	j = json_string(s);
	return j ? j : json_string("<invalid UTF-8>");
}

json_t *devsys__report_summary(const devsys_report *r)
{
	json_t *root, *failed, *sources;
	root = json_object();
	failed = json_array();
	sources = json_array();
	if (!root || !failed || !sources) {
		json_decref(root);
		json_decref(failed);
		json_decref(sources);
		return NULL;
	}
	json_object_set_new(root, "tests", json_integer((json_int_t)r->tests));
	json_object_set_new(root, "passed", json_integer((json_int_t)r->counts[DEVSYS_REPORT_PASSED]));
	json_object_set_new(root, "failed", json_integer((json_int_t)r->counts[DEVSYS_REPORT_FAILED]));
	json_object_set_new(root, "errors", json_integer((json_int_t)r->counts[DEVSYS_REPORT_ERROR]));
	json_object_set_new(root, "skipped", json_integer((json_int_t)r->counts[DEVSYS_REPORT_SKIPPED]));
	json_object_set_new(root, "time", json_real(r->time));
	for (size_t i = 0; i < r->nfailed; i++) {
		const failed_name *f = &r->failed[i];
		json_t *o = json_object();
		json_object_set_new(o, "suite", jstr(f->suite));
		json_object_set_new(o, "classname", jstr(f->classname));
		json_object_set_new(o, "name", jstr(f->name));
		json_object_set_new(o, "status", json_string(devsys_report_status_name(f->status)));
		json_object_set_new(o, "message", jstr(f->message));
		json_array_append_new(failed, o);
	}
	json_object_set_new(root, "failed_cases", failed);
	json_object_set_new(root, "failed_cases_truncated", json_integer((json_int_t)(r->failed_total - r->nfailed)));
	for (size_t i = 0; i < r->nsources; i++)
		json_array_append_new(sources, jstr(r->sources[i]));
	json_object_set_new(root, "sources", sources);
	return root;
}

int devsys_report_summary_json(const devsys_report *r, devsys_buf *out)
{
	json_t *j;
	char *s;
	int rc = 0;
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(out);
	if (!(j = devsys__report_summary(r)))
		return devsys__error_oom();
	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return devsys__error_oom();
	devsys_buf_clear(out);
	if (devsys_buf_puts(out, s) < 0 || devsys_buf_puts(out, "\n") < 0)
		rc = DEVSYS_ENOMEM;
	free(s);
	return rc;
}

int devsys_report_cases_json(devsys_buf *out, const devsys_report *r)
{
	json_t *cases;
	char *s;
	int rc = 0;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(r);
	if (!(cases = json_array()))
		return devsys__error_oom();
	for (size_t i = 0; i < devsys_report_case_count(r); i++) {
		const devsys_report_case *k = devsys_report_case_at(r, i);
		json_t *o = json_object();
		if (!o || json_array_append_new(cases, o) != 0) {
			json_decref(cases);
			return devsys__error_oom();
		}
		json_object_set_new(o, "suite", jstr(k->suite));
		json_object_set_new(o, "classname", jstr(k->classname));
		json_object_set_new(o, "name", jstr(k->name));
		json_object_set_new(o, "status", json_string(devsys_report_status_name(k->status)));
		json_object_set_new(o, "time", json_real(k->time));
		if (k->message)
			json_object_set_new(o, "message", jstr(k->message));
		if (k->type)
			json_object_set_new(o, "type", jstr(k->type));
		if (k->text)
			json_object_set_new(o, "text", jstr(k->text));
	}
	s = json_dumps(cases, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(cases);
	if (!s)
		return devsys__error_oom();
	devsys_buf_clear(out);
	if (devsys_buf_puts(out, s) < 0)
		rc = devsys__error_oom();
	free(s);
	return rc;
}

int devsys_report_write_summary(const devsys_report *r, const char *path)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc;
	DEVSYS__CHECK_ARG(path);
	if ((rc = devsys_report_summary_json(r, &b)) == 0)
		rc = devsys__write_file_atomic(path, b.ptr, b.size, 0644);
	devsys_buf_dispose(&b);
	return rc;
}
