/*
 * Secret masking: an Aho-Corasick automaton compiled to a full DFA
 * (256 transitions per state), so every input byte costs one table lookup.
 * Bit 31 of a transition marks "a pattern ends here", keeping the hot loop
 * to a load and a test.
 *
 * Streaming: the automaton state carries across writes, so a secret split
 * between two reads is found. Bytes that may still become part of a match
 * (the last depth(state) bytes, and any pending masked interval that could
 * grow) are held back; everything before is emitted. Overlapping matches
 * are merged into one "[MASKED:<name>]" (the first match's name).
 */
#include "secrets_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MATCH_BIT 0x80000000u
#define STATE_MASK 0x7fffffffu
#define MIN_SECRET_LEN 4
/* A chain of overlapping matches is cut after this many held bytes. */
#define HOLD_MAX (1u << 20)

struct pattern {
	char *bytes;
	size_t len;
	uint32_t name; /* index into names */
};

struct devsys_masker {
	int refcount; /* atomic: caller + one per stream, redactor or runner that keeps it */
	pthread_mutex_t lock;
	int compiled; /* atomic: set once, then the masker is read-only */
	struct pattern *pats;
	size_t npats, cap_pats;
	char **names;
	size_t nnames, cap_names;
	/* compiled DFA */
	uint32_t *delta;   /* nstates * 256 */
	uint32_t *depth;   /* length of the state's string */
	uint32_t *outlen;  /* longest pattern ending in this state, 0 if none */
	uint32_t *outname; /* its name index */
	size_t nstates;
	devsys_workspace *ws; /* for warnings (a reference) */
};

int devsys_masker_new(devsys_masker **out)
{
	devsys_masker *m;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (!(m = devsys__calloc(1, sizeof(*m))))
		return devsys__error_oom();
	pthread_mutex_init(&m->lock, NULL);
	m->refcount = 1;
	*out = m;
	return 0;
}

void devsys__masker_ref(devsys_masker *m)
{
	__atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED);
}

void devsys_masker_free(devsys_masker *m)
{
	if (!m || __atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	devsys_workspace_free(m->ws);
	for (size_t i = 0; i < m->npats; i++) {
		explicit_bzero(m->pats[i].bytes, m->pats[i].len);
		devsys__free(m->pats[i].bytes);
	}
	for (size_t i = 0; i < m->nnames; i++)
		devsys__free(m->names[i]);
	devsys__free(m->pats);
	devsys__free(m->names);
	/* The automaton encodes the secrets too. */
	if (m->delta)
		explicit_bzero(m->delta, m->nstates * 256 * sizeof(uint32_t));
	devsys__free(m->delta);
	devsys__free(m->depth);
	devsys__free(m->outlen);
	devsys__free(m->outname);
	pthread_mutex_destroy(&m->lock);
	devsys__free(m);
}

void devsys__masker_set_workspace(devsys_masker *m, devsys_workspace *ws)
{
	if (!m)
		return;
	if (ws)
		devsys__workspace_ref(ws);
	devsys_workspace_free(m->ws);
	m->ws = ws;
}

size_t devsys_masker_count(const devsys_masker *m)
{
	return m ? m->npats : 0;
}

static int add_name(devsys_masker *m, const char *name, uint32_t *idx)
{
	for (size_t i = 0; i < m->nnames; i++) {
		if (strcmp(m->names[i], name) == 0) {
			*idx = (uint32_t)i;
			return 0;
		}
	}
	if (m->nnames == m->cap_names) {
		size_t nc = m->cap_names ? m->cap_names * 2 : 8;
		char **nn = devsys__realloc(m->names, nc * sizeof(*nn));
		if (!nn)
			return devsys__error_oom();
		m->names = nn;
		m->cap_names = nc;
	}
	if (!(m->names[m->nnames] = devsys__strdup(name)))
		return devsys__error_oom();
	*idx = (uint32_t)m->nnames++;
	return 0;
}

static int add_pattern(devsys_masker *m, const char *bytes, size_t len, uint32_t name)
{
	for (size_t i = 0; i < m->npats; i++)
		if (m->pats[i].len == len && memcmp(m->pats[i].bytes, bytes, len) == 0)
			return 0; /* same value under two names: the first name wins */
	if (m->npats == m->cap_pats) {
		size_t nc = m->cap_pats ? m->cap_pats * 2 : 16;
		struct pattern *np = devsys__realloc(m->pats, nc * sizeof(*np));
		if (!np)
			return devsys__error_oom();
		m->pats = np;
		m->cap_pats = nc;
	}
	if (!(m->pats[m->npats].bytes = devsys__malloc(len)))
		return devsys__error_oom();
	memcpy(m->pats[m->npats].bytes, bytes, len);
	m->pats[m->npats].len = len;
	m->pats[m->npats].name = name;
	m->npats++;
	return 0;
}

int devsys_masker_add(devsys_masker *m, const char *name, const char *value, size_t len)
{
	uint32_t nidx = 0;
	size_t refused = 0, added = 0;
	int rc;

	DEVSYS__CHECK_ARG(m);
	DEVSYS__CHECK_ARG(name);
	DEVSYS__CHECK_ARG(value);
	if (__atomic_load_n(&m->compiled, __ATOMIC_ACQUIRE))
		return devsys__error_set(DEVSYS_EBUSY, "masker: cannot add secret '%s' after masking has started; "
		                                      "make a new masker",
		                         name);
	if (len > (1u << 20))
		return devsys__error_set(DEVSYS_ELIMIT, "masker: secret '%s' is longer than 1 MiB", name);
	if ((rc = add_name(m, name, &nidx)) < 0)
		return rc;
	/* Each line of a multiline secret is masked on its own. */
	for (size_t start = 0; start <= len;) {
		const char *nl = memchr(value + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - value) : len, l = end - start;
		if (l > 0 && value[start + l - 1] == '\r')
			l--;
		if (l > 0 && l < MIN_SECRET_LEN)
			refused++;
		else if (l > 0) {
			if ((rc = add_pattern(m, value + start, l, nidx)) < 0)
				return rc;
			added++;
		}
		if (!nl)
			break;
		start = end + 1;
	}
	if (refused) {
		devsys__log(m->ws, DEVSYS_LOG_WARN, "secrets",
		            "secret '%s': %zu line(s) shorter than %d characters are not masked (too short to mask "
		            "without over-masking); use a longer secret",
		            name, refused, MIN_SECRET_LEN);
		return devsys__error_set(DEVSYS_EINVALID,
		                         "secret '%s': %zu line(s) shorter than %d characters cannot be masked; "
		                         "%zu line(s) will be masked",
		                         name, refused, MIN_SECRET_LEN, added);
	}
	return 0;
}

/* Build the trie, then BFS for failure links, filling the full DFA. */
static int compile_locked(devsys_masker *m)
{
	size_t total = 1, nstates = 1;
	uint32_t *fail = NULL, *queue = NULL;
	int rc = 0;

	for (size_t i = 0; i < m->npats; i++)
		total += m->pats[i].len;
	if (total > STATE_MASK / 256)
		return devsys__error_set(DEVSYS_ELIMIT, "masker: secrets are too large in total (%zu bytes)", total);
	m->delta = devsys__calloc(total * 256, sizeof(uint32_t));
	m->depth = devsys__calloc(total, sizeof(uint32_t));
	m->outlen = devsys__calloc(total, sizeof(uint32_t));
	m->outname = devsys__calloc(total, sizeof(uint32_t));
	fail = devsys__calloc(total, sizeof(uint32_t));
	queue = devsys__calloc(total, sizeof(uint32_t));
	if (!m->delta || !m->depth || !m->outlen || !m->outname || !fail || !queue) {
		rc = devsys__error_oom();
		goto out;
	}
	/* trie: delta holds child+1 (0 = none) during construction */
	for (size_t i = 0; i < m->npats; i++) {
		uint32_t s = 0;
		for (size_t k = 0; k < m->pats[i].len; k++) {
			unsigned char c = (unsigned char)m->pats[i].bytes[k];
			uint32_t *slot = &m->delta[(size_t)s * 256 + c];
			if (!*slot) {
				m->depth[nstates] = m->depth[s] + 1;
				*slot = (uint32_t)nstates++ + 1;
			}
			s = *slot - 1;
		}
		if (m->outlen[s] == 0) {
			m->outlen[s] = (uint32_t)m->pats[i].len;
			m->outname[s] = m->pats[i].name;
		}
	}
	/* BFS */
	size_t qh = 0, qt = 0;
	for (int c = 0; c < 256; c++) {
		uint32_t *slot = &m->delta[c];
		if (*slot) {
			uint32_t child = *slot - 1;
			fail[child] = 0;
			queue[qt++] = child;
			*slot = child;
		}
	}
	while (qh < qt) {
		uint32_t s = queue[qh++];
		if (m->outlen[s] == 0 && m->outlen[fail[s]]) {
			m->outlen[s] = m->outlen[fail[s]];
			m->outname[s] = m->outname[fail[s]];
		}
		for (int c = 0; c < 256; c++) {
			uint32_t *slot = &m->delta[(size_t)s * 256 + (size_t)c];
			uint32_t via_fail = m->delta[(size_t)fail[s] * 256 + (size_t)c] & STATE_MASK;
			if (*slot) {
				uint32_t child = *slot - 1;
				fail[child] = via_fail;
				queue[qt++] = child;
				*slot = child;
			} else {
				*slot = via_fail;
			}
		}
	}
	/* mark transitions into accepting states */
	for (size_t i = 0; i < nstates * 256; i++)
		if (m->outlen[m->delta[i]])
			m->delta[i] |= MATCH_BIT;
	m->nstates = nstates;
out:
	devsys__free(fail);
	devsys__free(queue);
	return rc;
}

static int ensure_compiled(devsys_masker *m)
{
	int rc = 0;
	if (__atomic_load_n(&m->compiled, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&m->lock);
	if (!m->compiled && (rc = compile_locked(m)) == 0)
		__atomic_store_n(&m->compiled, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- streaming ---- */

struct interval {
	uint64_t start, end;
	uint32_t name;
};

struct devsys_mask_stream {
	devsys_masker *m;
	devsys_mask_write_cb cb;
	void *payload;
	uint32_t state;
	uint64_t pos;     /* global offset of the next input byte */
	uint64_t out_pos; /* first byte not yet emitted */
	/* held-back bytes [tail_base, tail_base + tail_len) from earlier writes */
	char *tail;
	size_t tail_len, tail_cap;
	uint64_t tail_base;
	/* the current write */
	const char *chunk;
	uint64_t chunk_base;
	size_t chunk_len;
	/* pending masked intervals, sorted and disjoint */
	struct interval *iv;
	size_t niv, cap_iv;
	int err;
};

int devsys_mask_stream_new(devsys_mask_stream **out, devsys_masker *m, devsys_mask_write_cb cb, void *payload)
{
	devsys_mask_stream *s;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(m);
	DEVSYS__CHECK_ARG(cb);
	if ((rc = ensure_compiled(m)) < 0)
		return rc;
	if (!(s = devsys__calloc(1, sizeof(*s))))
		return devsys__error_oom();
	devsys__masker_ref(m);
	s->m = m;
	s->cb = cb;
	s->payload = payload;
	*out = s;
	return 0;
}

void devsys_mask_stream_free(devsys_mask_stream *s)
{
	if (!s)
		return;
	if (s->tail)
		explicit_bzero(s->tail, s->tail_cap);
	devsys__free(s->tail);
	devsys__free(s->iv);
	devsys_masker_free(s->m);
	devsys__free(s);
}

static int emit(devsys_mask_stream *s, const char *p, size_t n)
{
	if (n == 0 || s->err)
		return s->err;
	if (s->cb(p, n, s->payload) != 0)
		s->err = devsys__error_set(DEVSYS_EUSER, "masker: the output callback aborted");
	return s->err;
}

/* Emit input bytes [a, b) (all not yet emitted) from the tail and/or chunk. */
static int emit_plain(devsys_mask_stream *s, uint64_t a, uint64_t b)
{
	if (a < s->tail_base + s->tail_len && a < b) {
		uint64_t e = b < s->tail_base + s->tail_len ? b : s->tail_base + s->tail_len;
		if (emit(s, s->tail + (a - s->tail_base), (size_t)(e - a)) < 0)
			return s->err;
		a = e;
	}
	if (a < b)
		return emit(s, s->chunk + (a - s->chunk_base), (size_t)(b - a));
	return s->err;
}

static int emit_mask(devsys_mask_stream *s, uint32_t name)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "[MASKED:%s]", s->m->names[name]);
	return emit(s, buf, n < 0 ? 0 : ((size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1));
}

/* Emit everything before @p b, replacing pending intervals that end by b. */
static int flush_to(devsys_mask_stream *s, uint64_t b)
{
	size_t k = 0;
	/* An interval still open across b holds everything from its start. */
	for (size_t i = 0; i < s->niv; i++)
		if (s->iv[i].start < b && s->iv[i].end > b)
			b = s->iv[i].start;
	for (; k < s->niv && s->iv[k].end <= b; k++) {
		if (emit_plain(s, s->out_pos, s->iv[k].start) < 0 || emit_mask(s, s->iv[k].name) < 0)
			return s->err;
		s->out_pos = s->iv[k].end;
	}
	if (k) {
		memmove(s->iv, s->iv + k, (s->niv - k) * sizeof(*s->iv));
		s->niv -= k;
	}
	if (b > s->out_pos) {
		if (emit_plain(s, s->out_pos, b) < 0)
			return s->err;
		s->out_pos = b;
	}
	return s->err;
}

static int add_interval(devsys_mask_stream *s, uint64_t start, uint64_t end, uint32_t name)
{
	if (start < s->out_pos)
		start = s->out_pos; /* the part before was already masked and emitted */
	if (start >= end)
		return 0;
	/* merge with every overlapping pending interval (touching ones stay apart,
	 * so the result does not depend on where the input was split) */
	size_t i = 0;
	while (i < s->niv) {
		if (s->iv[i].end <= start || s->iv[i].start >= end) {
			i++;
			continue;
		}
		if (s->iv[i].start <= start) {
			start = s->iv[i].start;
			name = s->iv[i].name;
		}
		if (s->iv[i].end > end)
			end = s->iv[i].end;
		memmove(s->iv + i, s->iv + i + 1, (s->niv - i - 1) * sizeof(*s->iv));
		s->niv--;
	}
	if (s->niv == s->cap_iv) {
		size_t nc = s->cap_iv ? s->cap_iv * 2 : 8;
		struct interval *n = devsys__realloc(s->iv, nc * sizeof(*n));
		if (!n)
			return s->err = devsys__error_oom();
		s->iv = n;
		s->cap_iv = nc;
	}
	for (i = s->niv; i > 0 && s->iv[i - 1].start > start; i--)
		s->iv[i] = s->iv[i - 1];
	s->iv[i].start = start;
	s->iv[i].end = end;
	s->iv[i].name = name;
	s->niv++;
	return 0;
}

static int keep_tail(devsys_mask_stream *s)
{
	/* held bytes: [out_pos, pos); those before chunk_base are in the tail */
	size_t need = (size_t)(s->pos - s->out_pos);
	size_t from_tail = 0;
	if (s->out_pos < s->chunk_base)
		from_tail = (size_t)(s->chunk_base - s->out_pos);
	if (need > s->tail_cap) {
		size_t nc = need < 256 ? 256 : need * 2;
		char *n = devsys__malloc(nc);
		if (!n)
			return s->err = devsys__error_oom();
		if (from_tail)
			memcpy(n, s->tail + (s->out_pos - s->tail_base), from_tail);
		if (s->tail)
			explicit_bzero(s->tail, s->tail_cap);
		devsys__free(s->tail);
		s->tail = n;
		s->tail_cap = nc;
	} else if (from_tail) {
		memmove(s->tail, s->tail + (s->out_pos - s->tail_base), from_tail);
	}
	if (need > from_tail)
		memcpy(s->tail + from_tail, s->chunk + (s->out_pos + from_tail - s->chunk_base), need - from_tail);
	s->tail_len = need;
	s->tail_base = s->out_pos;
	return 0;
}

int devsys_mask_stream_write(devsys_mask_stream *s, const char *data, size_t len)
{
	const devsys_masker *m;
	const unsigned char *p = (const unsigned char *)data;
	uint32_t st;

	DEVSYS__CHECK_ARG(s);
	if (len && !data)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_mask_stream_write: data is NULL");
	if (s->err)
		return s->err;
	m = s->m;
	s->chunk = data;
	s->chunk_base = s->pos;
	s->chunk_len = len;
	if (m->npats == 0) {
		/* nothing to mask: pass through */
		s->pos += len;
		s->out_pos = s->pos;
		s->tail_base = s->pos;
		s->tail_len = 0;
		return emit(s, data, len);
	}
	st = s->state;
	for (size_t i = 0; i < len; i++) {
		st = m->delta[((size_t)(st & STATE_MASK) << 8) | p[i]];
		if (st & MATCH_BIT) {
			uint32_t q = st & STATE_MASK;
			uint64_t end = s->chunk_base + i + 1;
			if (add_interval(s, end - m->outlen[q], end, m->outname[q]) < 0)
				return s->err;
			s->pos = end;
			if (flush_to(s, end - m->depth[q]) < 0)
				return s->err;
			/* bound a chain of overlapping matches */
			if (s->niv && end - s->iv[0].start > HOLD_MAX) {
				if (emit_plain(s, s->out_pos, s->iv[0].start) < 0 || emit_mask(s, s->iv[0].name) < 0)
					return s->err;
				s->out_pos = s->iv[0].end;
				memmove(s->iv, s->iv + 1, (s->niv - 1) * sizeof(*s->iv));
				s->niv--;
			}
		}
	}
	s->state = st & STATE_MASK;
	s->pos = s->chunk_base + len;
	if (flush_to(s, s->pos - m->depth[s->state]) < 0)
		return s->err;
	return keep_tail(s);
}

int devsys_mask_stream_finish(devsys_mask_stream *s)
{
	int rc;
	DEVSYS__CHECK_ARG(s);
	if (s->err)
		return s->err;
	s->chunk = NULL;
	s->chunk_base = s->pos;
	s->chunk_len = 0;
	rc = flush_to(s, s->pos);
	s->state = 0;
	s->tail_len = 0;
	s->tail_base = s->pos;
	s->niv = 0;
	return rc;
}

static int buf_sink(const char *data, size_t len, void *payload)
{
	return devsys_buf_put(payload, data, len) < 0 ? -1 : 0;
}

int devsys_masker_mask(devsys_masker *m, const char *text, size_t len, devsys_buf *out)
{
	devsys_mask_stream s;
	int rc;
	DEVSYS__CHECK_ARG(m);
	DEVSYS__CHECK_ARG(out);
	if (len && !text)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_masker_mask: text is NULL");
	if ((rc = ensure_compiled(m)) < 0)
		return rc;
	memset(&s, 0, sizeof(s));
	s.m = m;
	s.cb = buf_sink;
	s.payload = out;
	rc = devsys_mask_stream_write(&s, text, len);
	if (rc == 0)
		rc = devsys_mask_stream_finish(&s);
	if (rc == 0 && !out->ptr)
		rc = devsys_buf_put(out, "", 0);
	if (s.tail)
		explicit_bzero(s.tail, s.tail_cap);
	devsys__free(s.tail);
	devsys__free(s.iv);
	return rc;
}

/* ---- redactor adapter ---- */

static int redact_slot(void *self, const char *text, size_t len, devsys_buf *out)
{
	return devsys_masker_mask(self, text, len, out) < 0 ? -1 : 0;
}

static void release_slot(void *self)
{
	devsys_masker_free(self);
}

static const devsys_redactor_vtable masker_redactor = {
	DEVSYS_REDACTOR_VTABLE_VERSION,
	redact_slot,
	release_slot,
};

int devsys_masker_redactor(const devsys_redactor_vtable **vtable, void **self, devsys_masker *m)
{
	DEVSYS__CHECK_ARG(vtable);
	DEVSYS__CHECK_ARG(self);
	DEVSYS__CHECK_ARG(m);
	devsys__masker_ref(m);
	*vtable = &masker_redactor;
	*self = m;
	return 0;
}
