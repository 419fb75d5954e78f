/*
 * opencode's `run --format json` event lines (JSONL, one object a line):
 * step_start, tool_use, text, step_finish (tokens, cost), error. Parsed
 * one line at a time as they arrive; anything else is not an event.
 */
#include "core/core.h"
#include "opencode_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *str_at(json_t *o, const char *k1, const char *k2, const char *k3)
{
	json_t *v = json_object_get(o, k1);
	if (k2)
		v = json_object_get(v, k2);
	if (k3)
		v = json_object_get(v, k3);
	return json_string_value(v);
}

static uint64_t count_of(json_t *v)
{
	double d = json_number_value(v);
	return json_is_number(v) && d > 0 && d < 1e18 ? (uint64_t)d : 0;
}

/* A step's tokens: "total" when given, else the sum of its parts. */
static uint64_t step_tokens(json_t *t)
{
	json_t *cache = json_object_get(t, "cache");
	if (json_is_number(json_object_get(t, "total")))
		return count_of(json_object_get(t, "total"));
	return count_of(json_object_get(t, "input")) + count_of(json_object_get(t, "output")) +
	       count_of(json_object_get(t, "reasoning")) + count_of(json_object_get(cache, "read")) +
	       count_of(json_object_get(cache, "write"));
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* The path a tool call names (write, edit, read: filePath; others: path). */
static const char *tool_path(json_t *input)
{
	const char *p = json_string_value(json_object_get(input, "filePath"));
	return p ? p : json_string_value(json_object_get(input, "path"));
}

/* A non-empty string, else NULL: an empty message says nothing. */
static const char *said(const char *s)
{
	return s && *s ? s : NULL;
}

static void parse_error(devsys__oc_event *ev, json_t *j)
{
	json_t *e = json_object_get(j, "error");
	const char *m = said(json_string_value(e));
	if (!m)
		m = said(str_at(e, "data", "message", NULL));
	if (!m)
		m = said(json_string_value(json_object_get(e, "message")));
	if (!m)
		m = said(json_string_value(json_object_get(e, "name")));
	copy(ev->message, sizeof(ev->message), m ? m : "opencode reported an error without a message");
}

int devsys__oc_event_parse(devsys__oc_event *ev, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *j, *part;
	const char *type;
	memset(ev, 0, sizeof(*ev));
	if (!(j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) || !json_is_object(j)) {
		json_decref(j);
		return DEVSYS_EPARSE;
	}
	type = json_string_value(json_object_get(j, "type"));
	part = json_object_get(j, "part");
	if (!type)
		ev->type = DEVSYS__OC_OTHER;
	else if (!strcmp(type, "step_start"))
		ev->type = DEVSYS__OC_STEP_START;
	else if (!strcmp(type, "text"))
		ev->type = DEVSYS__OC_TEXT;
	else if (!strcmp(type, "tool_use")) {
		json_t *state = json_object_get(part, "state");
		ev->type = DEVSYS__OC_TOOL_USE;
		copy(ev->tool, sizeof(ev->tool), json_string_value(json_object_get(part, "tool")));
		copy(ev->status, sizeof(ev->status), json_string_value(json_object_get(state, "status")));
		copy(ev->path, sizeof(ev->path), tool_path(json_object_get(state, "input")));
	} else if (!strcmp(type, "step_finish")) {
		json_t *cost = json_object_get(part, "cost");
		ev->type = DEVSYS__OC_STEP_FINISH;
		ev->tokens = step_tokens(json_object_get(part, "tokens"));
		ev->cost = json_is_number(cost) && json_number_value(cost) > 0 ? json_number_value(cost) : 0;
	} else if (!strcmp(type, "error")) {
		ev->type = DEVSYS__OC_ERROR;
		parse_error(ev, j);
	} else
		ev->type = DEVSYS__OC_OTHER;
	json_decref(j);
	return 0;
}
