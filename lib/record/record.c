/*
 * The per-task record: task.json, events.jsonl, reports/<n>/, reports/latest.
 */
#include "core/core.h"
#include "devsys/record.h"
#include "devsys/report.h"
#include "record/record_int.h"
#include "report/report_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct devsys_record {
	devsys_task *task; /* a reference */
	json_t *doc;
};

static const char *const stage_names[] = { "validate", "checkout", "agent", "commit", "push",
	                                   "pr",       "test",     "deploy", "verify", "gate" };

/* A built-in name, or an added stage's (the task-id rule: also a safe file name for logs/<stage>.log). */
int devsys_stage_check(const char *stage)
{
	if (stage && (devsys__stage_index(stage) >= 0 || devsys_task_id_check(stage) == 0))
		return 0;
	return devsys__error_set(DEVSYS_EINVAL,
	                         "'%.64s' is not a pipeline stage; stages are: %s, or an added stage's name "
	                         "(1-64 characters of [A-Za-z0-9._-], starting with a letter or digit, no '..')",
	                         stage ? stage : "(null)", DEVSYS_STAGE_NAMES);
}

int devsys__stage_index(const char *stage)
{
	if (stage)
		for (size_t i = 0; i < sizeof(stage_names) / sizeof(stage_names[0]); i++)
			if (strcmp(stage, stage_names[i]) == 0)
				return (int)i;
	return -1;
}

const char *devsys__stage_name(int index)
{
	return index >= 0 && index < (int)(sizeof(stage_names) / sizeof(stage_names[0])) ? stage_names[index] : NULL;
}

static int task_file(devsys_buf *out, const devsys_task *task, const char *rel)
{
	devsys_buf_clear(out);
	return devsys_task_path_join(out, task, rel);
}

int devsys_record_open(devsys_record **out, devsys_task *task)
{
	devsys_record *rec;
	devsys_buf path = DEVSYS_BUF_INIT, data = DEVSYS_BUF_INIT;
	int rc;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(task);
	if (!(rec = devsys__calloc(1, sizeof(*rec))))
		return devsys__error_oom();
	devsys__task_ref(task);
	rec->task = task;
	if ((rc = task_file(&path, task, "task.json")) < 0)
		goto fail;
	rc = devsys__read_file(&data, path.ptr, 16 * 1024 * 1024);
	if (rc == 0) {
		json_error_t err;
		rec->doc = json_loadb(data.ptr ? data.ptr : "", data.size, 0, &err);
		if (!rec->doc || !json_is_object(rec->doc)) {
			rc = devsys__error_set(DEVSYS_EPARSE, "%s:%d: task.json is not a JSON object: %s; "
			                       "run 'devsys check --repair' to rebuild it",
			                       path.ptr, err.line, rec->doc ? "not an object" : err.text);
			goto fail;
		}
	} else if (rc == DEVSYS_ENOTFOUND) {
		devsys_error_clear();
		rec->doc = json_pack("{s:s}", "id", devsys_task_id(task));
		if (!rec->doc) {
			rc = devsys__error_oom();
			goto fail;
		}
	} else
		goto fail;
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&data);
	*out = rec;
	return 0;
fail:
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&data);
	devsys_record_free(rec);
	return rc;
}

void devsys_record_free(devsys_record *rec)
{
	if (!rec)
		return;
	json_decref(rec->doc);
	devsys_task_free(rec->task);
	devsys__free(rec);
}

static bool json_string_valid_utf8(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static int check_key(const char *key, bool managed_ok)
{
	size_t n;
	if (!key)
		return devsys__error_set(DEVSYS_EINVAL, "task.json field name must not be NULL");
	n = strlen(key);
	if (n == 0 || n > 64)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)key[i]) || isdigit((unsigned char)key[i]) || key[i] == '_'))
			goto bad;
	if (!managed_ok && (strcmp(key, "id") == 0 || strcmp(key, "repo_url") == 0 || strcmp(key, "stages") == 0 ||
	                    strcmp(key, "state") == 0 || strcmp(key, "state_at") == 0 ||
	                    strcmp(key, "state_event") == 0))
		return devsys__error_set(DEVSYS_EINVAL,
		                         "task.json field '%s' is managed by the library; use its own function", key);
	return 0;
bad:
	return devsys__error_set(DEVSYS_EINVAL, "task.json field name '%.80s' must match [a-z0-9_]{1,64}", key);
}

static int set_value(devsys_record *rec, const char *key, json_t *v)
{
	if (!v)
		return devsys__error_oom();
	if (json_object_set_new(rec->doc, key, v) != 0)
		return devsys__error_oom();
	return 0;
}

int devsys_record_set_string(devsys_record *rec, const char *key, const char *value)
{
	json_t *v;
	int rc;
	DEVSYS__CHECK_ARG(rec);
	if ((rc = check_key(key, false)) < 0)
		return rc;
	if (value && strlen(value) > DEVSYS_RECORD_MAX_JSON)
		return devsys__error_set(DEVSYS_ELIMIT, "task.json field '%s' is longer than %d bytes", key,
		                         DEVSYS_RECORD_MAX_JSON);
	if (!value)
		return set_value(rec, key, json_null());
	if (!(v = json_string(value)))
		return devsys__error_set(DEVSYS_EINVAL, "task.json field '%s' is not valid UTF-8", key);
	return set_value(rec, key, v);
}

int devsys_record_set_spec(devsys_record *rec, const char *name, const void *data, size_t len)
{
	devsys_buf path = DEVSYS_BUF_INIT, hash = DEVSYS_BUF_INIT;
	int rc;

	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(name);
	if (len && !data)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_record_set_spec: data is NULL but len is %zu", len);
	if (strchr(name, '/'))
		return devsys__error_set(DEVSYS_EPATH, "spec file name '%s' must be a plain file name", name);
	if ((rc = devsys_task_path_join(&path, rec->task, name)) < 0 ||
	    (rc = devsys__write_file_atomic(path.ptr, len ? data : "", len, 0644)) < 0)
		goto out;
	/* The same id the commit trailer "Spec:" carries, so the two can be matched. */
	if ((rc = devsys__content_id(&hash, data, len)) < 0)
		goto out;
	if ((rc = devsys_record_set_string(rec, "spec_path", name)) == 0)
		rc = devsys_record_set_string(rec, "spec_hash", hash.ptr);
out:
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&hash);
	return rc;
}

int devsys_record_set_int(devsys_record *rec, const char *key, int64_t value)
{
	int rc;
	DEVSYS__CHECK_ARG(rec);
	if ((rc = check_key(key, false)) < 0)
		return rc;
	return set_value(rec, key, json_integer((json_int_t)value));
}

static int parse_json_value(json_t **out, const char *json, const char *what)
{
	json_error_t err;
	if (strlen(json) > DEVSYS_RECORD_MAX_JSON)
		return devsys__error_set(DEVSYS_ELIMIT, "%s is longer than %d bytes", what, DEVSYS_RECORD_MAX_JSON);
	*out = json_loads(json, JSON_DECODE_ANY, &err);
	if (!*out)
		return devsys__error_set(DEVSYS_EPARSE, "%s is not JSON: %s at column %d", what, err.text, err.column);
	return 0;
}

int devsys_record_set_json(devsys_record *rec, const char *key, const char *json)
{
	json_t *v;
	int rc;
	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(json);
	if ((rc = check_key(key, false)) < 0)
		return rc;
	if ((rc = parse_json_value(&v, json, key)) < 0)
		return rc;
	return set_value(rec, key, v);
}

char *devsys__url_strip_credentials(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *auth, *end, *at = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	if (!scheme)
		return devsys__strdup(url); /* scp-like or a path: no password there */
	auth = scheme + 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	devsys_buf_put(&b, url, (size_t)(auth - url));
	devsys_buf_put(&b, at ? at + 1 : auth, (size_t)(end - (at ? at + 1 : auth)));
	/* a query string may carry a token: drop query and fragment */
	devsys_buf_put(&b, end, strcspn(end, "?#"));
	if (!b.ptr)
		return devsys__strdup("");
	return b.ptr;
}

int devsys_record_set_repo_url(devsys_record *rec, const char *url)
{
	char *clean;
	int rc;
	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(url);
	if (!(clean = devsys__url_strip_credentials(url)))
		return devsys__error_oom();
	rc = set_value(rec, "repo_url", json_string(clean));
	devsys__free(clean);
	return rc;
}

int devsys__record_set_state(devsys_record *rec, const char *state)
{
	return set_value(rec, "state", json_string(state));
}

const char *devsys__record_get_state(const devsys_record *rec)
{
	return rec ? json_string_value(json_object_get(rec->doc, "state")) : NULL;
}

int devsys__record_set_state_at(devsys_record *rec, const char *at)
{
	return set_value(rec, "state_at", json_string(at));
}

const char *devsys__record_get_state_at(const devsys_record *rec)
{
	return rec ? json_string_value(json_object_get(rec->doc, "state_at")) : NULL;
}

int devsys__record_set_state_event(devsys_record *rec, uint64_t seq, uint64_t end)
{
	return set_value(rec, "state_event", json_pack("{s:I,s:I}", "seq", (json_int_t)seq, "end", (json_int_t)end));
}

/* The seq and end of @p doc's "state_event"; false when it has none (a record older than the field). */
static bool state_event_of(const json_t *doc, json_int_t *seq, json_int_t *end)
{
	json_t *se = json_object_get(doc, "state_event");
	*seq = json_integer_value(json_object_get(se, "seq"));
	*end = json_integer_value(json_object_get(se, "end"));
	return json_is_object(se) && *seq > 0 && *end > 0;
}

/* Is @p line (@p len bytes, no newline) a whole event of seq @p seq and type "state"? */
static bool is_state_event(const char *line, size_t len, json_int_t seq)
{
	json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));
	bool yes = json_is_object(ev) && json_integer_value(json_object_get(ev, "seq")) == seq && type &&
	           strcmp(type, "state") == 0;
	json_decref(ev);
	return yes;
}

/* The most of events.jsonl read back to find the line of a state change's event (a first try reads 4 KiB). */
#define STATE_LINE_MAX (DEVSYS_RECORD_MAX_JSON + 4096)

/*
 * Is the line of @p fd that ends at byte @p end (its newline the byte
 * before) the event of seq @p seq? Read back within @p window bytes;
 * -1 when its start is further back.
 */
static int line_at_is_event(int fd, json_int_t end, json_int_t seq, size_t window)
{
	size_t n = (size_t)end < window ? (size_t)end : window;
	char *buf = devsys__malloc(n), *nl;
	int ok = 0;
	if (buf && pread(fd, buf, n, (off_t)end - (off_t)n) == (ssize_t)n && buf[n - 1] == '\n') {
		nl = n > 1 ? memrchr(buf, '\n', n - 1) : NULL;
		if (!nl && (size_t)end > n)
			ok = -1; /* the line starts before the window */
		else
			ok = is_state_event(nl ? nl + 1 : buf, (size_t)(buf + n - 1 - (nl ? nl + 1 : buf)), seq);
	}
	devsys__free(buf);
	return ok;
}

int devsys__record_events_hold(const devsys_record *rec, char *why, size_t why_size)
{
	devsys_buf path = DEVSYS_BUF_INIT;
	json_int_t seq, end;
	struct stat sb;
	int fd = -1, ok = 0;
	if (why_size)
		why[0] = '\0';
	if (!rec || !state_event_of(rec->doc, &seq, &end))
		return 1;
	if (task_file(&path, rec->task, "events.jsonl") < 0 ||
	    (fd = open(path.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &sb) < 0)
		snprintf(why, why_size, "events.jsonl cannot be read (%s)", strerror(errno));
	else if (sb.st_size < (off_t)end)
		snprintf(why, why_size, "events.jsonl is %lld bytes, short of the %lld through the last state change's event",
		         (long long)sb.st_size, (long long)end);
	else if ((ok = line_at_is_event(fd, end, seq, 4096)) < 0 &&
	         (ok = line_at_is_event(fd, end, seq, STATE_LINE_MAX)) < 0)
		ok = 0; /* a line longer than an event can be */
	if (!ok && why_size && !why[0])
		snprintf(why, why_size, "the line of events.jsonl ending at byte %lld is not the last state change's event "
		         "(seq %lld): torn or lost", (long long)end, (long long)seq);
	if (fd >= 0)
		close(fd);
	devsys_buf_dispose(&path);
	devsys_error_clear();
	return ok;
}

static json_t *stage_obj(devsys_record *rec, const char *stage)
{
	json_t *stages = json_object_get(rec->doc, "stages"), *s;
	if (!json_is_object(stages)) {
		stages = json_object();
		if (json_object_set_new(rec->doc, "stages", stages) != 0)
			return NULL;
	}
	s = json_object_get(stages, stage);
	if (!json_is_object(s)) {
		s = json_object();
		if (json_object_set_new(stages, stage, s) != 0)
			return NULL;
	}
	return s;
}

int devsys_record_stage_begin(devsys_record *rec, const char *stage)
{
	char ts[40];
	json_t *s;
	int rc;
	DEVSYS__CHECK_ARG(rec);
	if ((rc = devsys_stage_check(stage)) < 0)
		return rc;
	if (!(s = stage_obj(rec, stage)))
		return devsys__error_oom();
	devsys__time_iso8601(ts, sizeof(ts));
	json_object_clear(s);
	json_object_set_new(s, "start", json_string(ts));
	json_object_set_new(s, "end", json_null());
	json_object_set_new(s, "result", json_null());
	json_object_set_new(s, "failure_class", json_null());
	return 0;
}

/* The pipeline's failure classes (devsys_failure_class in devsys/pipeline.h). */
static bool known_failure_class(const char *name)
{
	static const char *const classes[] = { "build", "system", "stalled", "timeout", "canceled", "budget" };
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strcmp(name, classes[i]) == 0)
			return true;
	return false;
}

int devsys_record_stage_end(devsys_record *rec, const char *stage, const char *result, const char *failure_class)
{
	static const char *results[] = { "ok", "failed", "skipped", "canceled", "interrupted" };
	char ts[40];
	json_t *s;
	bool known = false;
	int rc;
	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(result);
	if ((rc = devsys_stage_check(stage)) < 0)
		return rc;
	for (size_t i = 0; i < 5; i++)
		known |= strcmp(result, results[i]) == 0;
	if (!known)
		return devsys__error_set(DEVSYS_EINVAL,
		                         "stage result '%.32s' is not one of ok, failed, skipped, canceled, interrupted",
		                         result);
	if (failure_class && !known_failure_class(failure_class))
		return devsys__error_set(DEVSYS_EINVAL,
		                         "failure class '%.32s' is not one of build, system, stalled, timeout, canceled, budget",
		                         failure_class);
	if (!(s = stage_obj(rec, stage)))
		return devsys__error_oom();
	devsys__time_iso8601(ts, sizeof(ts));
	if (!json_object_get(s, "start"))
		json_object_set_new(s, "start", json_null());
	json_object_set_new(s, "end", json_string(ts));
	json_object_set_new(s, "result", json_string(result));
	json_object_set_new(s, "failure_class", failure_class ? json_string(failure_class) : json_null());
	return 0;
}

/* task.json's text of @p doc into @p out. */
static int dump_doc(const json_t *doc, devsys_buf *out)
{
	char *s;
	int rc = 0;
	if (!(s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
		return devsys__error_oom();
	devsys_buf_clear(out);
	if (devsys_buf_puts(out, s) < 0 || devsys_buf_puts(out, "\n") < 0)
		rc = DEVSYS_ENOMEM;
	free(s);
	return rc;
}

int devsys_record_json(const devsys_record *rec, devsys_buf *out)
{
	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(out);
	return dump_doc(rec->doc, out);
}

int devsys_record_save(devsys_record *rec)
{
	devsys_buf path = DEVSYS_BUF_INIT, data = DEVSYS_BUF_INIT;
	int rc;
	DEVSYS__CHECK_ARG(rec);
	if ((rc = devsys_record_json(rec, &data)) == 0 && (rc = task_file(&path, rec->task, "task.json")) == 0)
		rc = devsys__write_file_atomic(path.ptr, data.ptr, data.size, 0644);
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&data);
	return rc;
}

/* Write @p rel of the task's folder (0644, atomically). */
static int restore_file(const devsys_task *task, const char *rel, const void *data, size_t len)
{
	devsys_buf path = DEVSYS_BUF_INIT;
	int rc = task_file(&path, task, rel);
	if (rc == 0)
		rc = devsys__write_file_atomic(path.ptr, len ? data : "", len, 0644);
	devsys_buf_dispose(&path);
	return rc;
}

/*
 * Where the line of the event of seq @p seq ends in @p events (whole
 * lines), or 0 when they lack it.
 */
static size_t event_end(const char *events, size_t len, json_int_t seq)
{
	char prefix[40];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "{\"seq\":%lld,", (long long)seq);
	for (const char *p = events, *end = events + len, *nl; p < end; p = nl + 1) {
		if (!(nl = memchr(p, '\n', (size_t)(end - p))))
			break;
		if ((size_t)(nl - p) > plen && memcmp(p, prefix, plen) == 0 && is_state_event(p, (size_t)(nl - p), seq))
			return (size_t)(nl + 1 - events);
	}
	return 0;
}

/*
 * task.json from the store, @p doc parsed from @p text: its "state_event"
 * says where the event ends in the events the store kept, which may be cut
 * (over 256 KiB the store keeps the last lines), so it is made to say
 * where it ends in the events just written, or left out when they lack it
 * (then the folder is judged by its state_at alone).
 */
static int restore_task_json(devsys_task *task, json_t *doc, const char *text, size_t len, const char *events,
                             size_t events_len)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_int_t seq, end;
	size_t at = 0;
	json_t *moved = NULL;
	int rc;
	if (!json_object_get(doc, "state_event"))
		return restore_file(task, "task.json", text, len);
	if (state_event_of(doc, &seq, &end) && events && (at = event_end(events, events_len, seq)) == (size_t)end)
		return restore_file(task, "task.json", text, len);
	if (at && !(moved = json_pack("{s:I,s:I}", "seq", (json_int_t)seq, "end", (json_int_t)at)))
		return devsys__error_oom();
	if (moved ? json_object_set_new(doc, "state_event", moved) : json_object_del(doc, "state_event"))
		return devsys__error_oom();
	if ((rc = dump_doc(doc, &b)) == 0)
		rc = restore_file(task, "task.json", b.ptr, b.size);
	devsys_buf_dispose(&b);
	return rc;
}

int devsys__record_restore(devsys_task *task, const char *spec_name, const void *spec, size_t spec_len,
                           const char *task_json, size_t json_len, const char *events, size_t events_len)
{
	json_error_t err;
	json_t *doc;
	const char *id;
	int rc;
	DEVSYS__CHECK_ARG(task);
	DEVSYS__CHECK_ARG(task_json);
	if (spec_name && strcmp(spec_name, "spec.yaml") && strcmp(spec_name, "spec.json"))
		return devsys__error_set(DEVSYS_EINVAL, "task '%s': '%.40s' is not a kept spec's name (spec.yaml, spec.json)",
		                         devsys_task_id(task), spec_name);
	doc = json_loadb(task_json, json_len, 0, &err);
	id = json_string_value(json_object_get(doc, "id"));
	if (!json_is_object(doc) || !id || strcmp(id, devsys_task_id(task)) != 0) {
		rc = devsys__error_set(DEVSYS_EINVALID, "task '%s': the task.json the store keeps %s", devsys_task_id(task),
		                       !doc ? "is not JSON" : !id ? "has no id" : "names another task");
		json_decref(doc);
		return rc;
	}
	/* the store's first line says how much it dropped: not an event */
	if (events && events_len && strncmp(events, "{\"truncated\":", 13) == 0) {
		const char *nl = memchr(events, '\n', events_len);
		events_len = nl ? events_len - (size_t)(nl + 1 - events) : 0;
		events = nl ? nl + 1 : events;
	}
	if ((spec_name && (rc = restore_file(task, spec_name, spec, spec_len)) < 0) ||
	    (events && (rc = restore_file(task, "events.jsonl", events, events_len)) < 0)) {
		json_decref(doc);
		return rc;
	}
	rc = restore_task_json(task, doc, task_json, json_len, events, events_len);
	json_decref(doc);
	return rc;
}

/* ---------------------------------------------------------------- events */

/* The seq of the last complete line of an events file (0 when empty).
 * Sets *needs_nl when the file ends in a torn line (a crash mid-append). */
/*
 * The seq of one events.jsonl line, or 0 when the line is not a whole event.
 * Only a line that parses counts as committed: a torn line (a writer killed
 * mid-write) may itself start with a plausible seq, and trusting it would make
 * the next writer skip a number after two tears in a row.
 */
static unsigned long long committed_seq(const char *line)
{
	json_t *ev, *seq;
	unsigned long long v = 0;
	if (strncmp(line, "{\"seq\":", 7) != 0)
		return 0;
	if ((ev = json_loads(line, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return 0;
	seq = json_object_get(ev, "seq");
	if (json_is_integer(seq) && json_integer_value(seq) > 0)
		v = (unsigned long long)json_integer_value(seq);
	json_decref(ev);
	return v;
}

/*
 * The last committed seq of events.jsonl (0 for none), read from its tail.
 * @p needs_nl is set when the file does not end in a newline: the next
 * writer then ends that line first. A last line that is whole but lost only
 * its newline counts as committed, so its seq is not reused.
 */
static unsigned long long last_seq(int fd, bool *needs_nl)
{
	struct stat st;
	char buf[DEVSYS_RECORD_MAX_JSON + 4096];
	size_t n, end;
	off_t off;
	ssize_t got;
	unsigned long long seq;
	*needs_nl = false;
	if (fstat(fd, &st) != 0 || st.st_size == 0)
		return 0;
	n = (size_t)st.st_size < sizeof(buf) - 1 ? (size_t)st.st_size : sizeof(buf) - 1;
	off = st.st_size - (off_t)n;
	got = pread(fd, buf, n, off);
	if (got <= 0)
		return 0;
	n = (size_t)got;
	buf[n] = '\0';
	end = n;
	if (buf[n - 1] != '\n') {
		char *nl = memrchr(buf, '\n', n);
		char *tail = nl ? nl + 1 : buf;
		*needs_nl = true;
		if ((tail != buf || off == 0) && (seq = committed_seq(tail)) != 0)
			return seq;
		end = nl ? (size_t)(nl - buf) + 1 : 0;
	}
	while (end > 0) {
		char *nl, *line;
		buf[end - 1] = '\0';
		nl = end > 1 ? memrchr(buf, '\n', end - 1) : NULL;
		line = nl ? nl + 1 : buf;
		/* the first line of the window may be cut unless the window is the file */
		if ((line != buf || off == 0) && (seq = committed_seq(line)) != 0)
			return seq;
		end = (size_t)(line - buf);
	}
	return 0;
}

int devsys__record_event_task(const devsys_task *task, const char *type, const char *data_json,
                              uint64_t *seq_out)
{
	return devsys__record_event_task_end(task, type, data_json, seq_out, NULL);
}

int devsys__record_event_task_end(const devsys_task *task, const char *type, const char *data_json,
                                  uint64_t *seq_out, uint64_t *end_out)
{
	devsys_buf path = DEVSYS_BUF_INIT;
	json_t *data = NULL, *ev = NULL;
	char ts[40], *line = NULL;
	unsigned long long seq;
	bool needs_nl;
	int fd = -1, rc;

	DEVSYS__CHECK_ARG(task);
	DEVSYS__CHECK_ARG(type);
	if (!*type || strlen(type) > 64 || !json_string_valid_utf8(type))
		return devsys__error_set(DEVSYS_EINVAL, "event type must be 1..64 bytes of UTF-8");
	if (data_json && (rc = parse_json_value(&data, data_json, "event data")) < 0)
		return rc;
	if ((rc = task_file(&path, task, "events.jsonl")) < 0)
		goto done;
	fd = open(path.ptr, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot open '%s'", path.ptr);
		goto done;
	}
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot lock '%s'", path.ptr);
			goto done;
		}
	seq = last_seq(fd, &needs_nl) + 1;
	devsys__time_iso8601(ts, sizeof(ts));
	ev = json_pack("{s:I,s:s,s:s,s:o}", "seq", (json_int_t)seq, "ts", ts, "type", type, "data",
	               data ? data : json_null());
	data = NULL;
	if (!ev || !(line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		rc = devsys__error_oom();
		goto done;
	}
	{
		devsys_buf l = DEVSYS_BUF_INIT;
		const char *p;
		size_t left;
		if ((needs_nl && devsys_buf_puts(&l, "\n") < 0) || devsys_buf_puts(&l, line) < 0 ||
		    devsys_buf_puts(&l, "\n") < 0) {
			devsys_buf_dispose(&l);
			rc = devsys__error_oom();
			goto done;
		}
		p = l.ptr;
		left = l.size;
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot append to '%s'", path.ptr);
				break;
			}
			p += w;
			left -= (size_t)w;
		}
		devsys_buf_dispose(&l);
		if (rc == 0 && devsys__fs_sync_wanted() && fdatasync(fd) != 0)
			rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot sync '%s'", path.ptr);
	}
	if (rc == 0 && end_out) {
		struct stat sb;
		if (fstat(fd, &sb) != 0) /* still under the lock: the file ends with this line */
			rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot stat '%s'", path.ptr);
		else
			*end_out = (uint64_t)sb.st_size;
	}
	if (rc == 0 && seq_out)
		*seq_out = seq;
done:
	if (fd >= 0)
		close(fd); /* releases the lock */
	free(line);
	json_decref(ev);
	json_decref(data);
	devsys_buf_dispose(&path);
	return rc;
}

int devsys_record_event(devsys_record *rec, const char *type, const char *data_json, uint64_t *seq_out)
{
	DEVSYS__CHECK_ARG(rec);
	return devsys__record_event_task(rec->task, type, data_json, seq_out);
}

/* ---------------------------------------------------------------- runs */

static bool all_digits(const char *s)
{
	if (!*s || strlen(s) > 9)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int devsys__record_list_runs(const devsys_task *task, unsigned int **runs, size_t *n)
{
	devsys_buf path = DEVSYS_BUF_INIT;
	DIR *d;
	struct dirent *e;
	unsigned int *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;
	*runs = NULL;
	*n = 0;
	if ((rc = task_file(&path, task, "reports")) < 0)
		return rc;
	d = opendir(path.ptr);
	devsys_buf_dispose(&path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (!all_digits(e->d_name))
			continue;
		if (cnt == cap) {
			unsigned int *nv = devsys__realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv) {
				closedir(d);
				devsys__free(v);
				return devsys__error_oom();
			}
			v = nv;
		}
		v[cnt++] = (unsigned int)strtoul(e->d_name, NULL, 10);
	}
	closedir(d);
	for (size_t i = 1; i < cnt; i++) /* insertion sort: run counts are small */
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			unsigned int t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*runs = v;
	*n = cnt;
	return 0;
}

int devsys_record_run_begin(devsys_record *rec, unsigned int *run_out)
{
	devsys_buf path = DEVSYS_BUF_INIT, lock = DEVSYS_BUF_INIT;
	unsigned int *runs = NULL;
	size_t n = 0;
	unsigned int next;
	int rc, fd = -1;

	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(run_out);
	if ((rc = task_file(&path, rec->task, "reports")) < 0 || (rc = devsys__mkdir_p(path.ptr, 0755)) < 0)
		goto done;
	if ((rc = task_file(&lock, rec->task, "reports/.lock")) < 0)
		goto done;
	if ((fd = open(lock.ptr, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0 || flock(fd, LOCK_EX) != 0) {
		rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot lock '%s'", lock.ptr);
		goto done;
	}
	if ((rc = devsys__record_list_runs(rec->task, &runs, &n)) < 0)
		goto done;
	next = n ? runs[n - 1] + 1 : 1;
	for (;; next++) {
		devsys_buf_clear(&path);
		if ((rc = devsys_task_path_join(&path, rec->task, "reports")) < 0 ||
		    devsys_buf_printf(&path, "/%u", next) < 0)
			goto done;
		if (mkdir(path.ptr, 0755) == 0)
			break;
		if (errno != EEXIST) {
			rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot create '%s'", path.ptr);
			goto done;
		}
	}
	if (devsys_buf_puts(&path, "/junit") < 0 || (rc = devsys__mkdir_p(path.ptr, 0755)) < 0)
		goto done;
	*run_out = next;
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	devsys__free(runs);
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&lock);
	return rc;
}

static int run_dir(devsys_buf *out, const devsys_task *task, unsigned int run, const char *sub)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "reports/%u%s%s", run, sub ? "/" : "", sub ? sub : "");
	return task_file(out, task, rel);
}

/* Copy @p src (an open regular file) to @p dst atomically. */
static int copy_atomic(int src, const char *dst)
{
	char tmp[PATH_MAX], buf[65536];
	int fd, err = 0;
	ssize_t n;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", dst) >= sizeof(tmp))
		return devsys__error_set(DEVSYS_EINVAL, "path too long: %.200s", dst);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot create a file next to '%s'", dst);
	while ((n = read(src, buf, sizeof(buf))) != 0) {
		const char *p = buf;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			break;
		}
		while (n > 0) {
			ssize_t w = write(fd, p, (size_t)n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				err = errno;
				break;
			}
			p += w;
			n -= w;
		}
		if (err)
			break;
	}
	if (!err && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
		err = errno;
	if (close(fd) != 0 && !err)
		err = errno;
	if (!err && rename(tmp, dst) != 0)
		err = errno;
	if (err) {
		unlink(tmp);
		return devsys__error_errno(devsys__errno_code(err), err, "cannot copy the report to '%s'", dst);
	}
	{
		/* fsync the directory so the rename is durable */
		char dir[PATH_MAX];
		char *slash;
		snprintf(dir, sizeof(dir), "%s", dst);
		if ((slash = strrchr(dir, '/'))) {
			int dfd;
			*slash = '\0';
			if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
				fsync(dfd);
				close(dfd);
			}
		}
	}
	return 0;
}

int devsys_record_run_add_junit(devsys_record *rec, unsigned int run, const char *path)
{
	char real[PATH_MAX], name[128];
	const char *ws, *base;
	size_t wl, j = 0;
	devsys_buf dst = DEVSYS_BUF_INIT;
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_report *check = NULL;
	struct stat st;
	int rc, fd = -1;

	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(path);
	ws = devsys_workspace_path(devsys_task_workspace(rec->task));
	wl = strlen(ws);
	if (!realpath(path, real))
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot resolve the report path '%s'", path);
	if (strncmp(real, ws, wl) != 0 || real[wl] != '/')
		return devsys__error_set(DEVSYS_EPATH,
		                         "report path '%s' resolves outside the workspace (to '%s'); reports are "
		                         "collected only from inside the workspace",
		                         path, real);
	if ((rc = run_dir(&dst, rec->task, run, "junit")) < 0)
		return rc;
	if (stat(dst.ptr, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = devsys__error_set(DEVSYS_ENOTFOUND, "test run %u of task '%s' was not begun", run,
		                       devsys_task_id(rec->task));
		goto done;
	}
	/* open the resolved path without following links again, then parse it */
	if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = devsys__error_set(DEVSYS_EIO, "report '%s' is not a readable regular file", path);
		goto done;
	}
	o.flags = DEVSYS_REPORT_NO_CASES;
	if ((rc = devsys_report_parse_junit(&check, real, &o)) < 0)
		goto done;
	base = strrchr(real, '/') + 1;
	for (size_t i = 0; base[i] && j < 100; i++)
		name[j++] = (isalnum((unsigned char)base[i]) || base[i] == '.' || base[i] == '-' || base[i] == '_') ? base[i]
		                                                                                                    : '_';
	name[j] = '\0';
	if (name[0] == '.' || name[0] == '\0')
		name[0] = '_';
	if (j < 4 || strcmp(name + j - 4, ".xml") != 0)
		strcat(name, ".xml");
	for (unsigned int k = 1;; k++) {
		size_t keep = dst.size;
		if (k == 1 ? devsys_buf_printf(&dst, "/%s", name) < 0 : devsys_buf_printf(&dst, "/%u-%s", k, name) < 0) {
			rc = devsys__error_oom();
			goto done;
		}
		if (access(dst.ptr, F_OK) != 0)
			break;
		dst.size = keep;
		dst.ptr[keep] = '\0';
	}
	rc = copy_atomic(fd, dst.ptr);
done:
	if (fd >= 0)
		close(fd);
	devsys_report_free(check);
	devsys_buf_dispose(&dst);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int devsys_record_run_complete(devsys_record *rec, unsigned int run)
{
	devsys_buf dir = DEVSYS_BUF_INIT, p = DEVSYS_BUF_INIT;
	devsys_report *rep = NULL;
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	char **names = NULL, num[32], ts[40];
	size_t n = 0, cap = 0;
	unsigned long long total = 0;
	json_t *sum = NULL;
	char *text = NULL;
	DIR *d;
	struct dirent *e;
	int rc;

	DEVSYS__CHECK_ARG(rec);
	if ((rc = run_dir(&dir, rec->task, run, "junit")) < 0)
		return rc;
	if (!(d = opendir(dir.ptr))) {
		rc = devsys__error_set(DEVSYS_ENOTFOUND, "test run %u of task '%s' does not exist", run,
		                       devsys_task_id(rec->task));
		goto done;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		struct stat st;
		if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".xml") != 0)
			continue;
		if (n == cap) {
			char **nn = devsys__realloc(names, (cap = cap ? cap * 2 : 8) * sizeof(char *));
			if (!nn) {
				closedir(d);
				rc = devsys__error_oom();
				goto done;
			}
			names = nn;
		}
		names[n++] = devsys__asprintf("%s/%s", dir.ptr, e->d_name);
		if (names[n - 1] && stat(names[n - 1], &st) == 0)
			total += (unsigned long long)st.st_size;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_str);
	/* big runs are summarised without keeping every case in memory */
	if (total > 64ull * 1024 * 1024)
		o.flags = DEVSYS_REPORT_NO_CASES;
	if ((rc = devsys_report_new(&rep)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if (!names[i] || (rc = devsys_report_add_junit(rep, names[i], &o)) < 0)
			goto done;
	if (!(o.flags & DEVSYS_REPORT_NO_CASES)) {
		if ((rc = run_dir(&p, rec->task, run, "junit.xml")) < 0 || (rc = devsys_report_write_junit(rep, p.ptr)) < 0)
			goto done;
	}
	if (!(sum = devsys__report_summary(rep))) {
		rc = devsys__error_oom();
		goto done;
	}
	devsys__time_iso8601(ts, sizeof(ts));
	json_object_set_new(sum, "run", json_integer(run));
	json_object_set_new(sum, "completed_at", json_string(ts));
	json_object_set_new(sum, "normalised_junit", (o.flags & DEVSYS_REPORT_NO_CASES) ? json_false() : json_true());
	/* sources relative to the task folder */
	{
		json_t *srcs = json_array();
		size_t tl = strlen(devsys_task_path(rec->task));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(srcs, json_string(names[i] + tl + 1));
		json_object_set_new(sum, "sources", srcs);
	}
	if (!(text = json_dumps(sum, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
		rc = devsys__error_oom();
		goto done;
	}
	if ((rc = run_dir(&p, rec->task, run, "summary.json")) < 0 ||
	    (rc = devsys__write_file_atomic(p.ptr, text, strlen(text), 0644)) < 0)
		goto done;
	/* every file of the run is durable: switch the pointer */
	snprintf(num, sizeof(num), "%u\n", run);
	if ((rc = task_file(&p, rec->task, "reports/latest")) < 0 ||
	    (rc = devsys__write_file_atomic(p.ptr, num, strlen(num), 0644)) < 0)
		goto done;
done:
	for (size_t i = 0; i < n; i++)
		devsys__free(names[i]);
	devsys__free(names);
	free(text);
	json_decref(sum);
	devsys_report_free(rep);
	devsys_buf_dispose(&dir);
	devsys_buf_dispose(&p);
	return rc;
}

int devsys_record_latest_run(const devsys_task *task, unsigned int *run_out)
{
	devsys_buf p = DEVSYS_BUF_INIT, data = DEVSYS_BUF_INIT;
	char *end;
	unsigned long v;
	int rc;
	DEVSYS__CHECK_ARG(task);
	DEVSYS__CHECK_ARG(run_out);
	if ((rc = task_file(&p, task, "reports/latest")) < 0)
		goto done;
	if ((rc = devsys__read_file(&data, p.ptr, 64)) < 0) {
		if (rc == DEVSYS_ENOTFOUND)
			rc = devsys__error_set(DEVSYS_ENOTFOUND, "task '%s' has no complete test run yet",
			                       devsys_task_id(task));
		goto done;
	}
	errno = 0;
	v = strtoul(data.ptr ? data.ptr : "", &end, 10);
	if (!data.ptr || end == data.ptr || (*end && *end != '\n') || v == 0 || v > 999999999) {
		rc = devsys__error_set(DEVSYS_EPARSE, "'%s' does not hold a run number; run 'devsys check --repair'",
		                       p.ptr);
		goto done;
	}
	*run_out = (unsigned int)v;
done:
	devsys_buf_dispose(&p);
	devsys_buf_dispose(&data);
	return rc;
}

int devsys_record_write_acceptance(devsys_record *rec, const char *json)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	json_t *v;
	char *text = NULL;
	int rc;
	DEVSYS__CHECK_ARG(rec);
	DEVSYS__CHECK_ARG(json);
	if ((rc = parse_json_value(&v, json, "acceptance report")) < 0)
		return rc;
	text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(v);
	if (!text)
		return devsys__error_oom();
	if ((rc = task_file(&p, rec->task, "reports")) == 0 && (rc = devsys__mkdir_p(p.ptr, 0755)) == 0 &&
	    (rc = task_file(&p, rec->task, "reports/acceptance.json")) == 0)
		rc = devsys__write_file_atomic(p.ptr, text, strlen(text), 0644);
	free(text);
	devsys_buf_dispose(&p);
	return rc;
}

int devsys_record_log_path(devsys_buf *out, const devsys_record *rec, const char *stage)
{
	char rel[DEVSYS_TASK_ID_MAX + 16]; /* logs/<stage>.log: a stage name is up to DEVSYS_TASK_ID_MAX */
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(rec);
	if ((rc = devsys_stage_check(stage)) < 0)
		return rc;
	if ((rc = task_file(out, rec->task, "logs")) < 0 || (rc = devsys__mkdir_p(out->ptr, 0755)) < 0)
		return rc;
	snprintf(rel, sizeof(rel), "logs/%s.log", stage);
	return task_file(out, rec->task, rel);
}

/* ---- an event log kept open while a stage streams it (logs/agent.jsonl) ---- */

struct devsys__record_log {
	int fd;
	char *path;
};

int devsys__record_log_open(devsys__record_log **out, devsys_task *task, const char *name)
{
	devsys__record_log *l;
	devsys_buf path = DEVSYS_BUF_INIT;
	int rc;
	*out = NULL;
	/* one plain file name under logs/: "agent.jsonl" */
	if (!name || !*name || strchr(name, '/') || name[0] == '.')
		return devsys__error_set(DEVSYS_EINVAL, "a record log is a file name under logs/ ('%.64s' is not)",
		                         name ? name : "(null)");
	if (!(l = devsys__calloc(1, sizeof(*l))))
		return devsys__error_oom();
	l->fd = -1;
	if ((rc = task_file(&path, task, "logs")) == 0 && (rc = devsys__mkdir_p(path.ptr, 0755)) == 0 &&
	    (rc = devsys_buf_printf(&path, "/%s", name)) == 0 &&
	    (l->fd = open(path.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot write '%s'", path.ptr);
	l->path = path.ptr; /* taken over */
	if (rc < 0) {
		devsys__record_log_close(l);
		return rc;
	}
	*out = l;
	return 0;
}

int devsys__record_log_write(devsys__record_log *l, const void *data, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(l->fd, (const char *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return devsys__error_errno(devsys__errno_code(errno), errno, "cannot write '%s'", l->path);
		done += (size_t)n;
	}
	return 0;
}

int devsys__record_log_close(devsys__record_log *l)
{
	int rc = 0;
	if (!l)
		return 0;
	if (l->fd >= 0 && close(l->fd) != 0)
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot write '%s'", l->path);
	devsys__free(l->path);
	devsys__free(l);
	return rc;
}

int devsys__record_log_append(devsys_task *task, const char *stage, const void *data, size_t len)
{
	devsys_record *rec = NULL;
	devsys_buf path = DEVSYS_BUF_INIT;
	int rc, fd = -1;
	if ((rc = devsys_record_open(&rec, task)) == 0 && (rc = devsys_record_log_path(&path, rec, stage)) == 0 &&
	    (fd = open(path.ptr, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot open log '%s'", path.ptr);
	for (size_t done = 0; rc == 0 && done < len;) {
		ssize_t n = write(fd, (const char *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot write log '%s'", path.ptr);
		else
			done += (size_t)n;
	}
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot write log '%s'", path.ptr);
	devsys_buf_dispose(&path);
	devsys_record_free(rec);
	return rc;
}
