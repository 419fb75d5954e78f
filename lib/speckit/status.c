/*
 * Machine-readable task status: which devsys tasks of a workspace are
 * linked to a feature folder (their kept spec's speckit {feature_dir,
 * task_ids}), their states and whether they are green, and tasks.md
 * rewritten in place (atomically) from them.
 */
#include "speckit_int.h"

#include "devsys/schema.h"
#include "devsys/spec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct sk_link {
	char *sk_id, *task;
	int state, green;
} sk_link;

struct devsys_speckit_links {
	char *feature_dir;
	sk_link *v;
	size_t n, cap;
	sk_strv green; /* spec-kit ids with a green link, first seen first */
	const char **green_view;
	size_t scanned;
};

/* "./specs/x/" and "/specs/x" name the folder "specs/x" too. */
static char *norm_dir(const char *d)
{
	while (d[0] == '.' && d[1] == '/')
		d += 2;
	while (*d == '/')
		d++;
	size_t n = strlen(d);
	while (n && d[n - 1] == '/')
		n--;
	return devsys__strndup(d, n);
}

static int push_link(devsys_speckit_links *l, const char *sk_id, const char *task, int state, int green)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		sk_link *v = devsys__realloc(l->v, cap * sizeof(*v));
		if (!v)
			return devsys__error_oom();
		l->v = v;
		l->cap = cap;
	}
	sk_link *k = &l->v[l->n];
	k->sk_id = devsys__strdup(sk_id);
	k->task = devsys__strdup(task);
	k->state = state;
	k->green = green;
	if (!k->sk_id || !k->task) {
		devsys__free(k->sk_id);
		devsys__free(k->task);
		return devsys__error_oom();
	}
	l->n++;
	if (green && !devsys__sk_strv_has(&l->green, sk_id))
		return devsys__sk_strv_push(&l->green, sk_id, strlen(sk_id), 0);
	return 0;
}

/* The spec the pipeline keeps in the task's folder, or NULL (none kept, or
 * it does not parse: such a task is linked to nothing). */
static devsys_spec *kept_spec(devsys_task *task)
{
	static const char *const kept[] = { "spec.yaml", "spec.json" };
	devsys_spec *spec = NULL;
	for (size_t i = 0; i < 2 && !spec; i++) {
		devsys_buf path = DEVSYS_BUF_INIT, bytes = DEVSYS_BUF_INIT;
		if (devsys_task_path_join(&path, task, kept[i]) == 0 &&
		    devsys__read_file(&bytes, path.ptr, (size_t)16 << 20) == 0 &&
		    devsys_spec_load_buffer(&spec, bytes.ptr ? bytes.ptr : "", bytes.size, path.ptr, NULL) != 0)
			spec = NULL;
		devsys_buf_dispose(&path);
		devsys_buf_dispose(&bytes);
	}
	devsys_error_clear();
	return spec;
}

static int scan_task(devsys_speckit_links *l, devsys_store *store, devsys_workspace *ws, const char *id)
{
	devsys_task *task = NULL;
	int rc = devsys_task_open(&task, ws, id, 0);
	if (rc)
		return rc == DEVSYS_ENOTFOUND ? (devsys_error_clear(), 0) : rc;
	devsys_spec *spec = kept_spec(task);
	const devsys_node *doc = spec ? devsys_spec_at(spec, 0) : NULL;
	const char *fd = devsys_node_string(devsys_node_get(doc, "/speckit/feature_dir"), NULL);
	const devsys_node *ids = devsys_node_get(doc, "/speckit/task_ids");
	char *norm = fd ? norm_dir(fd) : NULL;
	if (fd && !norm)
		rc = devsys__error_oom();
	if (rc == 0 && norm && strcmp(norm, l->feature_dir) == 0) {
		int state = devsys_store_task_state(store, id), green = 0;
		rc = state < 0 ? state : devsys_speckit_task_green(&green, store, task);
		for (size_t i = 0; rc == 0 && i < devsys_node_size(ids); i++) {
			const char *s = devsys_node_string(devsys_node_at(ids, i), NULL);
			if (s)
				rc = push_link(l, s, id, state, green);
		}
	}
	devsys__free(norm);
	devsys_spec_free(spec);
	devsys_task_free(task);
	return rc;
}

/* Every task of the store, a page at a time. */
static int scan_store(devsys_speckit_links *l, devsys_store *store, devsys_workspace *ws)
{
	int rc = 0;
	for (size_t off = 0; rc == 0;) {
		devsys_buf b = DEVSYS_BUF_INIT;
		rc = devsys_store_list_json(store, NULL, off, 1000, &b);
		json_t *j = rc == 0 ? json_loadb(b.ptr, b.size, 0, NULL) : NULL;
		json_t *tasks = json_object_get(j, "tasks");
		devsys_buf_dispose(&b);
		if (rc == 0 && !json_is_array(tasks))
			rc = devsys__error_set(DEVSYS_EPARSE, "the task store's list is not JSON with a 'tasks' array");
		size_t n = rc == 0 ? json_array_size(tasks) : 0;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const char *id = json_string_value(json_object_get(json_array_get(tasks, i), "id"));
			if (id && (rc = scan_task(l, store, ws, id)) == 0)
				l->scanned++;
		}
		json_decref(j);
		if (n < 1000)
			break;
		off += n;
	}
	return rc;
}

int devsys_speckit_links_new(devsys_speckit_links **out, devsys_store *store, devsys_workspace *ws,
                             const char *feature_dir)
{
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(store);
	DEVSYS__CHECK_ARG(ws);
	DEVSYS__CHECK_ARG(feature_dir);
	devsys_speckit_links *l = devsys__calloc(1, sizeof(*l));
	if (!l || !(l->feature_dir = norm_dir(feature_dir))) {
		devsys__free(l);
		return devsys__error_oom();
	}
	if (!l->feature_dir[0]) {
		devsys_speckit_links_free(l);
		return devsys__error_set(DEVSYS_EINVAL, "the feature folder '%s' is empty: name it relative to the "
		                                        "repository root (specs/001-name)", feature_dir);
	}
	int rc = scan_store(l, store, ws);
	if (rc == 0 && l->green.n && !(l->green_view = devsys__calloc(l->green.n, sizeof(char *))))
		rc = devsys__error_oom();
	for (size_t i = 0; rc == 0 && i < l->green.n; i++)
		l->green_view[i] = l->green.v[i];
	if (rc) {
		devsys_speckit_links_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void devsys_speckit_links_free(devsys_speckit_links *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		devsys__free(l->v[i].sk_id);
		devsys__free(l->v[i].task);
	}
	devsys__free(l->v);
	devsys__sk_strv_dispose(&l->green);
	devsys__free(l->green_view);
	devsys__free(l->feature_dir);
	devsys__free(l);
}

size_t devsys_speckit_links_count(const devsys_speckit_links *l)
{
	return l ? l->n : 0;
}

const char *devsys_speckit_link_at(const devsys_speckit_links *l, size_t i, const char **task_id, int *state,
                                   int *green)
{
	if (!l || i >= l->n)
		return NULL;
	if (task_id)
		*task_id = l->v[i].task;
	if (state)
		*state = l->v[i].state;
	if (green)
		*green = l->v[i].green;
	return l->v[i].sk_id;
}

const char *const *devsys_speckit_links_green_ids(const devsys_speckit_links *l, size_t *count)
{
	if (count)
		*count = l ? l->green.n : 0;
	return l ? l->green_view : NULL;
}

/* ---- tasks.md in place ---- */

int devsys_speckit_mark_done_file(size_t *marked, const char *path, const char *const *ids, size_t nids)
{
	DEVSYS__CHECK_ARG(marked);
	*marked = 0;
	DEVSYS__CHECK_ARG(path);
	devsys_buf data = DEVSYS_BUF_INIT, out = DEVSYS_BUF_INIT;
	int rc = devsys__read_file(&data, path, DEVSYS_SPECKIT_MAX_FILE);
	size_t n = 0;
	if (rc == 0 && (rc = devsys_speckit_mark_done(&out, &n, data.ptr ? data.ptr : "", data.size, ids, nids)) != 0)
		rc = devsys__error_set(rc, "%s: %s", path, devsys_error_message(devsys_error_last()));
	if (rc == 0 && n > 0) {
		struct stat st;
		mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 0777) : 0644;
		/* a temporary file renamed over tasks.md: a failed write leaves the old one whole */
		rc = devsys__write_file_atomic(path, out.ptr, out.size, mode);
	}
	if (rc == 0)
		*marked = n;
	devsys_buf_dispose(&data);
	devsys_buf_dispose(&out);
	return rc;
}

/* ---- the status document ---- */

static json_t *task_status(const devsys_speckit_task *t, const devsys_speckit_links *l, bool *green_out)
{
	json_t *links = json_array();
	bool green = false;
	for (size_t i = 0; l && i < l->n; i++) {
		if (strcmp(l->v[i].sk_id, t->id) != 0)
			continue;
		green |= l->v[i].green != 0;
		const char *sn = devsys_task_state_name(l->v[i].state);
		json_array_append_new(links, json_pack("{s:s,s:s?,s:b}", "task", l->v[i].task, "state", sn, "green",
		                                       l->v[i].green));
	}
	bool checked = t->state != ' ';
	*green_out = green;
	/* done: ticked; to-mark: a green task says it is done, sync ticks it */
	const char *status = checked ? "done" : green ? "to-mark" : "open";
	return json_pack("{s:s,s:i,s:b,s:s,s:b,s:o}", "id", t->id, "line", (int)t->line, "checked", checked, "status",
	                 status, "verified", checked && green, "devsys", links);
}

int devsys_speckit_status_to_json(devsys_buf *out, const devsys_speckit_feature *f, const devsys_speckit_links *l)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(f);
	json_t *tasks = json_array(), *unknown = json_array();
	size_t checked = 0, linked = 0, to_mark = 0, verified = 0;
	for (size_t i = 0; i < f->ntasks; i++) {
		bool green = false;
		json_t *s = task_status(&f->tasks[i], l, &green);
		checked += f->tasks[i].state != ' ';
		linked += json_array_size(json_object_get(s, "devsys")) > 0;
		to_mark += green && f->tasks[i].state == ' ';
		verified += green && f->tasks[i].state != ' ';
		json_array_append_new(tasks, s);
	}
	for (size_t i = 0; l && i < l->n; i++) {
		bool known = false;
		for (size_t k = 0; k < f->ntasks && !known; k++)
			known = strcmp(f->tasks[k].id, l->v[i].sk_id) == 0;
		if (!known)
			json_array_append_new(unknown, json_pack("{s:s,s:s}", "id", l->v[i].sk_id, "task", l->v[i].task));
	}
	json_t *doc = json_pack("{s:s,s:s?,s:o,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "feature", f->base, "feature_dir",
	                        l ? l->feature_dir : NULL, "tasks", tasks, "unknown_ids", unknown, "summary", "tasks",
	                        (json_int_t)f->ntasks, "checked", (json_int_t)checked, "linked", (json_int_t)linked,
	                        "to_mark", (json_int_t)to_mark, "verified", (json_int_t)verified, "devsys_tasks_scanned",
	                        (json_int_t)(l ? l->scanned : 0));
	char *s = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	int rc = s ? devsys_buf_puts(out, s) : devsys__error_oom();
	if (rc == 0)
		rc = devsys_buf_puts(out, "\n");
	free(s);
	return rc;
}
