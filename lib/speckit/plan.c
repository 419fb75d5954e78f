/*
 * spec-kit task graph: the phase order, waves of tasks, and devsys task
 * specs emitted per task or per wave.
 */
#include "speckit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- id index ---- */

/* An open-addressing hash of the ids (FNV-1a, linear probing, a table
 * at least twice the task count): no sort and one probe or two per look-up,
 * which the dependency rules do for every edge. */
static size_t id_hash(const char *id)
{
	size_t h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h;
}

void devsys__sk_index_dispose(sk_index *ix)
{
	devsys__free(ix->ids);
	devsys__free(ix->idx);
	memset(ix, 0, sizeof(*ix));
}

int devsys__sk_index_build(sk_index *ix, const devsys_speckit_feature *f)
{
	memset(ix, 0, sizeof(*ix));
	if (f->ntasks == 0)
		return 0;
	size_t n = 16;
	while (n < 2 * f->ntasks)
		n *= 2;
	ix->ids = devsys__calloc(n, sizeof(*ix->ids));
	ix->idx = devsys__calloc(n, sizeof(*ix->idx));
	if (!ix->ids || !ix->idx) {
		devsys__sk_index_dispose(ix);
		return devsys__error_oom();
	}
	ix->n = n;
	for (size_t i = 0; i < f->ntasks; i++) {
		const char *id = f->tasks[i].id;
		size_t s = id_hash(id) & (n - 1);
		while (ix->ids[s] && strcmp(ix->ids[s], id) != 0)
			s = (s + 1) & (n - 1);
		if (!ix->ids[s]) { /* the first task of an id wins */
			ix->ids[s] = id;
			ix->idx[s] = i;
		}
	}
	return 0;
}

long devsys__sk_index_find(const sk_index *ix, const char *id)
{
	if (!ix->n)
		return -1;
	for (size_t s = id_hash(id) & (ix->n - 1);; s = (s + 1) & (ix->n - 1)) {
		if (!ix->ids[s])
			return -1;
		if (strcmp(ix->ids[s], id) == 0)
			return (long)ix->idx[s];
	}
}

/* ---- the phase order ---- */

typedef struct phase_key {
	int cls;
	unsigned prio;
	size_t index;
} phase_key;

static int cmp_phase(const void *a, const void *b)
{
	const phase_key *x = a, *y = b;
	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* A story phase sorts by its story's priority (spec.md), else by the
 * phase title's "(Priority: Pn)"; other phases keep their place after them. */
static unsigned phase_priority(const devsys_speckit_feature *f, const sk_phase *ph)
{
	if (ph->kind != SK_PH_STORY)
		return 100000;
	for (size_t i = 0; i < f->nstories; i++)
		if (f->stories[i].number == ph->story)
			return f->stories[i].priority;
	const char *p = strstr(ph->title, "(Priority: P");
	if (p)
		return (unsigned)strtoul(p + strlen("(Priority: P"), NULL, 10);
	return 1000 + ph->story;
}

static int cmp_task(const void *a, const void *b, void *payload)
{
	const size_t *rank = payload;
	(void)rank;
	const size_t *x = a, *y = b;
	return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

int devsys__sk_order(const devsys_speckit_feature *f, size_t **order_out, size_t **pos_out)
{
	*order_out = *pos_out = NULL;
	size_t np = f->nphases, nt = f->ntasks;
	phase_key *keys = devsys__calloc(np ? np : 1, sizeof(*keys));
	size_t *rank = devsys__calloc(np ? np : 1, sizeof(*rank));
	size_t *pairs = devsys__calloc(nt ? nt * 2 : 1, sizeof(*pairs));
	size_t *order = devsys__calloc(nt ? nt : 1, sizeof(*order));
	size_t *pos = devsys__calloc(nt ? nt : 1, sizeof(*pos));
	int rc = 0;
	if (!keys || !rank || !pairs || !order || !pos) {
		rc = devsys__error_oom();
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		const sk_phase *ph = &f->phases[i];
		static const int cls[] = { [SK_PH_SETUP] = 0, [SK_PH_FOUND] = 1, [SK_PH_STORY] = 2, [SK_PH_OTHER] = 2,
			                   [SK_PH_POLISH] = 3 };
		keys[i] = (phase_key){ cls[ph->kind], phase_priority(f, ph), i };
	}
	qsort(keys, np, sizeof(*keys), cmp_phase);
	for (size_t r = 0; r < np; r++)
		rank[keys[r].index] = r;
	for (size_t i = 0; i < nt; i++) {
		pairs[2 * i] = rank[f->tasks[i].phase];
		pairs[2 * i + 1] = i;
	}
	qsort_r(pairs, nt, 2 * sizeof(size_t), cmp_task, rank);
	for (size_t k = 0; k < nt; k++) {
		order[k] = pairs[2 * k + 1];
		pos[order[k]] = k;
	}
	*order_out = order;
	*pos_out = pos;
	order = pos = NULL;
out:
	devsys__free(keys);
	devsys__free(rank);
	devsys__free(pairs);
	devsys__free(order);
	devsys__free(pos);
	return rc;
}

/* ---- the plan ---- */

typedef struct plan_task {
	char id[16];
	char *desc;
	bool parallel;
	unsigned story;
} plan_task;

struct devsys_speckit_plan {
	char *base;     /* the feature folder's name, for spec ids */
	plan_task *tasks; /* in wave order */
	size_t ntasks;
	size_t *wave_start; /* nwaves + 1 offsets into tasks */
	size_t nwaves;
};

/* The graph breaks: say which task and how to fix it. */
static int graph_checks(const devsys_speckit_feature *f, const sk_index *ix, const size_t *pos)
{
	for (size_t i = 0; i < f->ntasks; i++) {
		const devsys_speckit_task *t = &f->tasks[i];
		long first = devsys__sk_index_find(ix, t->id);
		if (first != (long)i)
			return devsys__error_set(DEVSYS_EINVALID, "%s:%u: task id %s is used again (first at line %u): give each task its own id",
			                         f->tmd.path, t->line, t->id, f->tasks[first].line);
		for (size_t d = 0; d < t->deps.n; d++) {
			long j = devsys__sk_index_find(ix, t->deps.v[d]);
			if (j < 0)
				return devsys__error_set(DEVSYS_EINVALID, "%s:%u: %s depends on %s, which no task line defines: fix the id or add the task",
				                         f->tmd.path, t->deps.line[d], t->id, t->deps.v[d]);
			if (pos[j] >= pos[i])
				return devsys__error_set(DEVSYS_EINVALID,
				                         "%s:%u: %s depends on %s, which the phase order runs after it (a cycle or a "
				                         "dependency on a later phase; `devsys speckit check` names the path): "
				                         "move the task or drop the dependency",
				                         f->tmd.path, t->deps.line[d], t->id, t->deps.v[d]);
		}
	}
	return 0;
}

/* Wave of each task: its group starts after the group before; a
 * dependency inside a group of [P] tasks pushes the task to a later wave. */
static size_t assign_levels(const devsys_speckit_feature *f, const sk_index *ix, const size_t *order, size_t *level)
{
	size_t base = 0, top = 0, k = 0, nt = f->ntasks;
	while (k < nt) {
		size_t g = k + 1;
		const devsys_speckit_task *t0 = &f->tasks[order[k]];
		if (t0->parallel)
			while (g < nt && f->tasks[order[g]].parallel && f->tasks[order[g]].phase == t0->phase)
				g++;
		size_t gtop = base;
		for (size_t m = k; m < g; m++) {
			const devsys_speckit_task *t = &f->tasks[order[m]];
			size_t lv = base;
			for (size_t d = 0; d < t->deps.n; d++) {
				long j = devsys__sk_index_find(ix, t->deps.v[d]);
				if (j >= 0 && level[j] + 1 > lv && level[j] >= base)
					lv = level[j] + 1;
			}
			level[order[m]] = lv;
			if (lv > gtop)
				gtop = lv;
		}
		top = gtop;
		base = gtop + 1;
		k = g;
	}
	return nt ? top + 1 : 0;
}

static int fill_plan(devsys_speckit_plan *p, const devsys_speckit_feature *f, const size_t *order, const size_t *level)
{
	p->wave_start = devsys__calloc(p->nwaves + 1, sizeof(size_t));
	p->tasks = devsys__calloc(f->ntasks, sizeof(*p->tasks));
	if (!p->wave_start || !p->tasks)
		return devsys__error_oom();
	size_t *count = p->wave_start + 1;
	for (size_t i = 0; i < f->ntasks; i++)
		count[level[i]]++;
	for (size_t w = 1; w <= p->nwaves; w++)
		p->wave_start[w] += p->wave_start[w - 1];
	size_t *fillp = devsys__calloc(p->nwaves ? p->nwaves : 1, sizeof(size_t));
	if (!fillp)
		return devsys__error_oom();
	for (size_t k = 0; k < f->ntasks; k++) {
		const devsys_speckit_task *t = &f->tasks[order[k]];
		size_t w = level[order[k]];
		plan_task *pt = &p->tasks[p->wave_start[w] + fillp[w]++];
		memcpy(pt->id, t->id, sizeof(pt->id));
		pt->parallel = t->parallel;
		pt->story = t->story;
		if (!(pt->desc = devsys__strdup(t->desc))) {
			devsys__free(fillp);
			return devsys__error_oom();
		}
		p->ntasks++;
	}
	devsys__free(fillp);
	return 0;
}

int devsys_speckit_plan_new(devsys_speckit_plan **out, const devsys_speckit_feature *f)
{
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(f);
	if (f->ntasks == 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: no task lines ('- [ ] T001 Description'): nothing to plan",
		                         f->tmd.present ? f->tmd.path : "tasks.md");
	sk_index ix;
	size_t *order = NULL, *pos = NULL, *level = NULL;
	devsys_speckit_plan *p = NULL;
	int rc = devsys__sk_index_build(&ix, f);
	if (rc == 0)
		rc = devsys__sk_order(f, &order, &pos);
	if (rc == 0)
		rc = graph_checks(f, &ix, pos);
	if (rc == 0 && !(level = devsys__calloc(f->ntasks, sizeof(*level))))
		rc = devsys__error_oom();
	if (rc == 0 && !(p = devsys__calloc(1, sizeof(*p))))
		rc = devsys__error_oom();
	if (rc == 0) {
		p->nwaves = assign_levels(f, &ix, order, level);
		rc = fill_plan(p, f, order, level);
	}
	if (rc == 0 && !(p->base = devsys__strdup(f->base)))
		rc = devsys__error_oom();
	for (char *c = rc == 0 ? p->base : NULL; c && *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_' || (*c == '.' && c[1] != '.')))
			*c = '-'; /* the spec id allows A-Z a-z 0-9 . _ - */
	if (rc == 0 && p->base[0] == '-')
		p->base[0] = 'f';
	devsys__sk_index_dispose(&ix);
	devsys__free(order);
	devsys__free(pos);
	devsys__free(level);
	if (rc) {
		devsys_speckit_plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void devsys_speckit_plan_free(devsys_speckit_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ntasks; i++)
		devsys__free(p->tasks[i].desc);
	devsys__free(p->tasks);
	devsys__free(p->wave_start);
	devsys__free(p->base);
	devsys__free(p);
}

size_t devsys_speckit_plan_wave_count(const devsys_speckit_plan *p) { return p ? p->nwaves : 0; }

size_t devsys_speckit_plan_wave_size(const devsys_speckit_plan *p, size_t w)
{
	return p && w < p->nwaves ? p->wave_start[w + 1] - p->wave_start[w] : 0;
}

const char *devsys_speckit_plan_task(const devsys_speckit_plan *p, size_t w, size_t i)
{
	if (!p || w >= p->nwaves || i >= devsys_speckit_plan_wave_size(p, w))
		return NULL;
	return p->tasks[p->wave_start[w] + i].id;
}

/* ---- YAML ---- */

/* A YAML double-quoted scalar: escapes make every byte safe. */
static int put_quoted(devsys_buf *out, const char *s, size_t max)
{
	int rc = devsys_buf_put(out, "\"", 1);
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--; /* cut on a UTF-8 character boundary */
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			rc = devsys_buf_printf(out, "\\%c", c);
		else if (c == '\n')
			rc = devsys_buf_puts(out, "\\n");
		else if (c < 0x20 || c == 0x7f)
			rc = devsys_buf_printf(out, "\\x%02x", c);
		else
			rc = devsys_buf_put(out, (const char *)&c, 1);
	}
	return rc ? rc : devsys_buf_put(out, "\"", 1);
}

static void lower_id(char *dst, const char *id)
{
	size_t i = 0;
	for (; id[i] && i < 15; i++)
		dst[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] + 32 : id[i]);
	dst[i] = '\0';
}

static int emit_doc(devsys_buf *out, const devsys_speckit_plan *p, size_t from, size_t to, const char *suffix,
                    const char *repo_url, const char *feature_dir)
{
	devsys_buf text = DEVSYS_BUF_INIT, title = DEVSYS_BUF_INIT;
	int rc = devsys_buf_printf(out, "%sid: %.50s-%s\ntitle: ", out->size ? "---\n" : "", p->base, suffix);
	if (rc == 0)
		rc = devsys_buf_printf(&text, "Implement %s %s of the spec-kit feature in %s/ (read spec.md, plan.md and "
		                       "tasks.md there first):\n",
		                       to - from > 1 ? "tasks" : "task", p->tasks[from].id, feature_dir);
	for (size_t i = from; i < to && rc == 0; i++) {
		const plan_task *t = &p->tasks[i];
		rc = devsys_buf_printf(&text, "- %s %s\n", t->id, t->desc);
		if (rc == 0)
			rc = devsys_buf_printf(&title, "%s%s", i > from ? ", " : "", t->id);
	}
	if (rc == 0 && to - from == 1)
		rc = devsys_buf_printf(&title, ": %s", p->tasks[from].desc);
	if (rc == 0)
		rc = put_quoted(out, title.ptr, 190);
	if (rc == 0)
		rc = devsys_buf_puts(out, "\nprompt: ");
	if (rc == 0)
		rc = put_quoted(out, text.ptr, 90000);
	if (rc == 0)
		rc = devsys_buf_puts(out, "\nrepo:\n  url: ");
	if (rc == 0)
		rc = put_quoted(out, repo_url, 4096);
	if (rc == 0)
		rc = devsys_buf_puts(out, "\nspeckit:\n  feature_dir: ");
	if (rc == 0)
		rc = put_quoted(out, feature_dir, 4096);
	if (rc == 0)
		rc = devsys_buf_puts(out, "\n  task_ids:\n");
	for (size_t i = from; i < to && rc == 0; i++)
		rc = devsys_buf_printf(out, "    - %s\n", p->tasks[i].id);
	devsys_buf_dispose(&text);
	devsys_buf_dispose(&title);
	return rc;
}

int devsys_speckit_plan_to_yaml(devsys_buf *out, const devsys_speckit_plan *p, const char *repo_url,
                                const char *feature_dir, unsigned int flags)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(repo_url);
	DEVSYS__CHECK_ARG(feature_dir);
	if (!*repo_url || !*feature_dir)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_speckit_plan_to_yaml: the repository URL and the feature folder must not be empty");
	int rc = 0;
	char suffix[24];
	if (flags & DEVSYS_SPECKIT_YAML_PER_WAVE) {
		for (size_t w = 0; w < p->nwaves && rc == 0; w++) {
			snprintf(suffix, sizeof(suffix), "w%02zu", w + 1);
			rc = emit_doc(out, p, p->wave_start[w], p->wave_start[w + 1], suffix, repo_url, feature_dir);
		}
		return rc;
	}
	for (size_t i = 0; i < p->ntasks && rc == 0; i++) {
		lower_id(suffix, p->tasks[i].id);
		rc = emit_doc(out, p, i, i + 1, suffix, repo_url, feature_dir);
	}
	return rc;
}

int devsys__sk_plan_task_doc(devsys_buf *out, char *spec_id, size_t idlen, const devsys_speckit_plan *p, size_t wave,
                             size_t i, const char *repo_url, const char *feature_dir)
{
	if (wave >= p->nwaves || i >= p->wave_start[wave + 1] - p->wave_start[wave])
		return devsys__error_set(DEVSYS_EINVAL, "no task %zu in wave %zu", i, wave + 1);
	size_t k = p->wave_start[wave] + i;
	char suffix[24];
	lower_id(suffix, p->tasks[k].id);
	snprintf(spec_id, idlen, "%.50s-%s", p->base, suffix);
	devsys_buf doc = DEVSYS_BUF_INIT; /* empty: emit_doc starts it with no "---" */
	int rc = emit_doc(&doc, p, k, k + 1, suffix, repo_url, feature_dir);
	if (rc == 0)
		rc = devsys_buf_put(out, doc.ptr, doc.size);
	devsys_buf_dispose(&doc);
	return rc;
}
