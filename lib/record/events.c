/*
 * Reading the record for servers and other readers: the events after a
 * seq, and the paths of the record's files, so a reader never parses
 * events.jsonl or builds a record path itself.
 */
#include "core/core.h"
#include "devsys/record.h"
#include "record/record_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_MAX (256u * 1024u * 1024u)

/* The seq a line starts with, or 0 when it does not start like an event. */
static unsigned long long line_seq_prefix(const char *line)
{
	char *end;
	unsigned long long v;
	if (strncmp(line, "{\"seq\":", 7) != 0)
		return 0;
	v = strtoull(line + 7, &end, 10);
	return end != line + 7 && *end == ',' ? v : 0;
}

/* Only a line that parses is an event: a torn one may start with a plausible seq. */
static int line_event(json_t **out, const char *line, size_t len)
{
	json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ev) || !json_is_integer(json_object_get(ev, "seq"))) {
		json_decref(ev);
		return 0;
	}
	*out = ev;
	return 1;
}

int devsys_record_events_foreach(const devsys_task *task, uint64_t seq, size_t limit, devsys_record_event_cb cb,
                                 void *payload)
{
	devsys_buf path = DEVSYS_BUF_INIT, data = DEVSYS_BUF_INIT;
	size_t n = 0;
	int rc;

	DEVSYS__CHECK_ARG(task);
	DEVSYS__CHECK_ARG(cb);
	if ((rc = devsys_task_path_join(&path, task, "events.jsonl")) < 0)
		goto done;
	if ((rc = devsys__read_file(&data, path.ptr, EVENTS_MAX)) < 0) {
		if (rc == DEVSYS_ENOTFOUND) {
			devsys_error_clear();
			rc = 0;
		}
		goto done;
	}
	for (char *p = data.ptr; p && *p && (limit == 0 || n < limit);) {
		char *nl = strchr(p, '\n');
		json_t *ev = NULL;
		unsigned long long s;
		if (!nl)
			break; /* a line still being written */
		*nl = '\0';
		s = line_seq_prefix(p);
		if (s > seq && line_event(&ev, p, (size_t)(nl - p))) {
			const char *type = json_string_value(json_object_get(ev, "type"));
			int stop = cb((uint64_t)s, type ? type : "event", p, (size_t)(nl - p), payload);
			json_decref(ev);
			n++;
			if (stop) {
				rc = devsys__error_set(DEVSYS_EUSER, "the event callback stopped at seq %llu", s);
				goto done;
			}
		}
		p = nl + 1;
	}
done:
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&data);
	return rc;
}

typedef struct {
	devsys_buf *out;
	uint64_t last;
} since_ctx;

static int since_line(uint64_t seq, const char *type, const char *line, size_t len, void *payload)
{
	since_ctx *c = payload;
	(void)type;
	if (devsys_buf_put(c->out, line, len) < 0 || devsys_buf_puts(c->out, "\n") < 0)
		return -1;
	c->last = seq;
	return 0;
}

int devsys_record_events_since(devsys_buf *out, uint64_t *last_seq, const devsys_task *task, uint64_t seq,
                               size_t limit)
{
	since_ctx c = { out, seq };
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(task);
	devsys_buf_clear(out);
	if (last_seq)
		*last_seq = seq;
	if ((rc = devsys_record_events_foreach(task, seq, limit, since_line, &c)) == DEVSYS_EUSER)
		rc = devsys__error_oom(); /* since_line stops only when it cannot grow the buffer */
	if (rc == 0 && last_seq)
		*last_seq = c.last;
	return rc;
}

int devsys_record_path(devsys_buf *out, const devsys_task *task, devsys_record_file file, unsigned int run,
                       const char *stage)
{
	char rel[128];
	int rc;

	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(task);
	switch (file) {
	case DEVSYS_RECORD_FILE_TASK_JSON: snprintf(rel, sizeof(rel), "task.json"); break;
	case DEVSYS_RECORD_FILE_EVENTS: snprintf(rel, sizeof(rel), "events.jsonl"); break;
	case DEVSYS_RECORD_FILE_REPORTS: snprintf(rel, sizeof(rel), "reports"); break;
	case DEVSYS_RECORD_FILE_LATEST: snprintf(rel, sizeof(rel), "reports/latest"); break;
	case DEVSYS_RECORD_FILE_ACCEPTANCE: snprintf(rel, sizeof(rel), "reports/acceptance.json"); break;
	case DEVSYS_RECORD_FILE_RUN_SUMMARY:
	case DEVSYS_RECORD_FILE_RUN_JUNIT:
		if (run == 0)
			return devsys__error_set(DEVSYS_EINVAL, "record path: test runs count from 1, not 0");
		snprintf(rel, sizeof(rel), "reports/%u/%s", run,
		         file == DEVSYS_RECORD_FILE_RUN_SUMMARY ? "summary.json" : "junit.xml");
		break;
	case DEVSYS_RECORD_FILE_LOG:
		if ((rc = devsys_stage_check(stage)) < 0)
			return rc;
		snprintf(rel, sizeof(rel), "logs/%s.log", stage);
		break;
	default: return devsys__error_set(DEVSYS_EINVAL, "record path: %d is not a devsys_record_file", (int)file);
	}
	devsys_buf_clear(out);
	return devsys_task_path_join(out, task, rel);
}

int devsys_record_secret_event(const devsys_secret_event *event, devsys_task *task, void *payload)
{
#ifdef DEVSYS_HAVE_MODULE_SECRETS
	devsys_buf data = DEVSYS_BUF_INIT;
	int rc;
	(void)payload;
	DEVSYS__CHECK_ARG(event);
	if (!task)
		return 0;
	if ((rc = devsys_secret_event_json(&data, event)) == 0)
		rc = devsys__record_event_task(task, "secret.resolve", data.ptr, NULL);
	devsys_buf_dispose(&data);
	return rc;
#else
	(void)event;
	(void)task;
	(void)payload;
	return devsys__error_set(DEVSYS_ENOTSUPPORTED, "this libdevsys is built without the secrets module");
#endif
}
