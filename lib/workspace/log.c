/*
 * Logging: every message passes through the workspace's redactors before
 * the callback sees it. A redactor that fails drops the message (fail
 * closed): a secret must never reach a sink because masking broke.
 */
#include "workspace_int.h"

#include <stdio.h>
#include <string.h>

const char *devsys_log_level_name(int level)
{
	static const char *const names[] = { "trace", "debug", "info", "warn", "error", "none" };
	if (level < DEVSYS_LOG_TRACE || level > DEVSYS_LOG_NONE)
		return "unknown";
	return names[level];
}

void devsys__logv(devsys_workspace *ws, int level, const char *component, const char *fmt, va_list ap)
{
	devsys_buf text = DEVSYS_BUF_INIT, redacted = DEVSYS_BUF_INIT;
	va_list ap2;
	int n;

	if (!ws || !ws->log_cb || level < ws->log_level || ws->log_level >= DEVSYS_LOG_NONE)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !(text.ptr = devsys__malloc((size_t)n + 1)))
		return;
	vsnprintf(text.ptr, (size_t)n + 1, fmt, ap);
	text.size = (size_t)n;
	text.asize = (size_t)n + 1;
	for (size_t i = 0; i < ws->nredactors; i++) {
		struct devsys__redactor *r = &ws->redactors[i];
		devsys_buf_clear(&redacted);
		if (r->vtable.redact(r->self, text.ptr, text.size, &redacted) != 0 || devsys_buf_put(&redacted, "", 0) < 0)
			goto out; /* fail closed */
		devsys_buf tmp = text;
		text = redacted;
		redacted = tmp;
	}
	/* Strip trailing newlines: the callback gets one logical message. */
	while (text.size > 0 && (text.ptr[text.size - 1] == '\n' || text.ptr[text.size - 1] == '\r'))
		text.ptr[--text.size] = '\0';
	ws->log_cb(level, component ? component : "devsys", text.ptr, ws->log_payload);
out:
	devsys_buf_dispose(&text);
	devsys_buf_dispose(&redacted);
}

void devsys__log(devsys_workspace *ws, int level, const char *component, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	devsys__logv(ws, level, component, fmt, ap);
	va_end(ap);
}

void devsys_workspace_log(devsys_workspace *ws, int level, const char *component, const char *fmt, ...)
{
	va_list ap;
	if (!fmt)
		return;
	va_start(ap, fmt);
	devsys__logv(ws, level, component, fmt, ap);
	va_end(ap);
}
