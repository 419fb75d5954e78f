/*
 * What an attempt's outcome means: done, retry after a wait, or fail with a
 * message that names the request, the status and the server's own words
 * (as detail, sys/errors.h). Also the header, Link and redaction helpers.
 */
#include "http/http_priv.h"

#include "devsys/sys/errors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void devsys__http_wipe(void *p, size_t len)
{
	volatile unsigned char *v = p;
	while (len--)
		*v++ = 0;
}

/* ---- redaction ---- */

int devsys__http_redact(devsys_buf *out, const char *text, size_t len, const char *token)
{
	size_t tlen = token ? strlen(token) : 0, i = 0, from = 0;
	devsys_buf_clear(out);
	if (tlen == 0)
		return devsys_buf_put(out, text, len);
	while (i + tlen <= len) {
		if (memcmp(text + i, token, tlen) == 0) {
			if (devsys_buf_put(out, text + from, i - from) < 0 || devsys_buf_puts(out, "***") < 0)
				return DEVSYS_ENOMEM;
			i += tlen;
			from = i;
		} else {
			i++;
		}
	}
	return devsys_buf_put(out, text + from, len - from);
}

static bool is_auth_line(const char *p, size_t n)
{
	static const char *const names[] = { "authorization:", "proxy-authorization:" };
	for (size_t k = 0; k < 2; k++) {
		size_t l = strlen(names[k]);
		if (n >= l && strncasecmp(p, names[k], l) == 0)
			return true;
	}
	return false;
}

int devsys__http_redact_trace(devsys_buf *out, const char *text, size_t len, const char *token)
{
	devsys_buf tmp = DEVSYS_BUF_INIT;
	int rc = devsys__http_redact(&tmp, text, len, token);
	devsys_buf_clear(out);
	for (size_t i = 0; rc == 0 && i < tmp.size;) {
		const char *line = tmp.ptr + i, *nl = memchr(line, '\n', tmp.size - i);
		size_t n = nl ? (size_t)(nl - line) + 1 : tmp.size - i;
		if (is_auth_line(line, n)) {
			size_t name = (size_t)((const char *)memchr(line, ':', n) - line);
			rc = devsys_buf_put(out, line, name);
			if (rc == 0)
				rc = devsys_buf_puts(out, ": ***\r\n");
		} else {
			rc = devsys_buf_put(out, line, n);
		}
		i += n;
	}
	devsys_buf_dispose(&tmp);
	return rc;
}

/* ---- headers ---- */

bool devsys__http_response_header(const devsys__http_response *r, const char *name, char *out, size_t out_size)
{
	size_t nlen = strlen(name);
	const char *p = r->headers.ptr, *end = p ? p + r->headers.size : NULL;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (n > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1, *ve = p + n;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && isspace((unsigned char)ve[-1]))
				ve--;
			if (out_size)
				snprintf(out, out_size, "%.*s", (int)(ve - v), v);
			return true;
		}
		p = eol ? eol + 1 : end;
	}
	return false;
}

/* Does the rel="..." parameter list of one Link entry name "next"? */
static bool rel_is_next(const char *params, size_t n)
{
	for (const char *p = params; p + 4 <= params + n; p++) {
		if (strncasecmp(p, "rel=", 4) != 0)
			continue;
		p += 4;
		bool quoted = *p == '"';
		const char *v = p + quoted, *e = v;
		while (e < params + n && (quoted ? *e != '"' : (*e != ';' && *e != ' ')))
			e++;
		/* rel may hold several space-separated relation types. */
		for (const char *t = v; t < e;) {
			const char *te = t;
			while (te < e && *te != ' ')
				te++;
			if (te - t == 4 && strncasecmp(t, "next", 4) == 0)
				return true;
			t = te + 1;
		}
		return false;
	}
	return false;
}

char *devsys__http_link_next(const char *link)
{
	const char *p = link;
	while (p && *p) {
		const char *lt = strchr(p, '<'), *gt = lt ? strchr(lt, '>') : NULL, *end;
		if (!gt)
			return NULL;
		end = gt + 1 + strcspn(gt + 1, ",");
		/* A comma may also sit inside the next entry's URL: params end at '<'. */
		const char *next_lt = strchr(gt + 1, '<');
		if (next_lt && next_lt < end)
			end = next_lt;
		if (rel_is_next(gt + 1, (size_t)(end - gt - 1)))
			return devsys__strndup(lt + 1, (size_t)(gt - lt - 1));
		p = *end ? end + 1 : end;
	}
	return NULL;
}

char *devsys__http_response_link_next(const devsys__http_response *r)
{
	char v[8192];
	if (!devsys__http_response_header(r, "link", v, sizeof(v)))
		return NULL;
	return devsys__http_link_next(v);
}

/* ---- messages ---- */

/* The server's own words from an error body: problem+json title/detail,
 * the "message" (GitHub, Gitea, Docker) and GitHub's errors[] list, or the
 * start of a text body; control characters flattened. */
static void server_message(devsys_buf *out, const devsys__http_response *r)
{
	json_t *j, *v;
	size_t i;
	if (!r->body.size)
		return;
	j = json_loadb(r->body.ptr, r->body.size, 0, NULL);
	if (json_is_object(j)) {
		const char *msg = json_string_value(json_object_get(j, "message"));
		const char *title = json_string_value(json_object_get(j, "title"));
		const char *detail = json_string_value(json_object_get(j, "detail"));
		if (msg)
			devsys_buf_puts(out, msg);
		else if (title)
			devsys_buf_printf(out, "%s%s%s", title, detail ? ": " : "", detail ? detail : "");
		json_array_foreach(json_object_get(j, "errors"), i, v) {
			const char *em = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "message"));
			const char *code = json_string_value(json_object_get(v, "code"));
			const char *field = json_string_value(json_object_get(v, "field"));
			if (em)
				devsys_buf_printf(out, "%s%s", out->size ? "; " : "", em);
			else if (code)
				devsys_buf_printf(out, "%s%s%s%s", out->size ? "; " : "", field ? field : "", field ? ": " : "", code);
		}
	}
	json_decref(j);
	if (!out->size)
		devsys_buf_put(out, r->body.ptr, r->body.size < 512 ? r->body.size : 512);
	for (i = 0; i < out->size; i++)
		if (iscntrl((unsigned char)out->ptr[i]))
			out->ptr[i] = ' ';
	while (out->size && out->ptr[out->size - 1] == ' ')
		out->ptr[--out->size] = '\0';
}

/* Set the error: "<what>: <METHOD> <path>: <text>", the server's message
 * appended and kept as detail with the status; the token redacted from both. */
static int fail(struct devsys__http_xfer *x, int code, const char *fmt, ...) DEVSYS_PRINTF(3, 4);
static int fail(struct devsys__http_xfer *x, int code, const char *fmt, ...)
{
	char text[768];
	devsys_buf server = DEVSYS_BUF_INIT, msg = DEVSYS_BUF_INIT, red = DEVSYS_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* A 2xx that failed (bad JSON, truncated) carries data, not a message. */
	if (x->out->status < 200 || x->out->status >= 300)
		server_message(&server, x->out);
	devsys_buf_printf(&msg, "%s: %s %s: %s", x->c->what, x->method, x->path, text);
	if (server.size)
		devsys_buf_printf(&msg, " (server said: %.300s%s)", server.ptr, server.size > 300 ? "..." : "");
	if (devsys__http_redact(&red, msg.ptr ? msg.ptr : "", msg.size, x->c->token) < 0)
		devsys__error_oom();
	else
		devsys__error_set(code, "%s", red.ptr ? red.ptr : "");
	if (server.size && devsys__http_redact(&red, server.ptr, server.size, x->c->token) == 0)
		devsys_error_set_detail((int)x->out->status, red.ptr);
	else
		devsys_error_set_detail((int)x->out->status, NULL);
	devsys_buf_dispose(&server);
	devsys_buf_dispose(&msg);
	devsys_buf_dispose(&red);
	return code;
}

static void iso_time(char *out, size_t n, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *where(const devsys__http *c, char *buf, size_t n)
{
	if (c->unix_socket)
		snprintf(buf, n, "unix socket '%s'", c->unix_socket);
	else
		snprintf(buf, n, "%.*s", (int)c->origin_len, c->base_url);
	return buf;
}

int devsys__http_fail_json(devsys__http *c, const devsys__http_request *req, const devsys__http_response *r,
                           const json_error_t *jerr)
{
	struct devsys__http_xfer x = { .c = c, .req = req, .out = (devsys__http_response *)r,
	                               .method = req->method ? req->method : "GET", .path = req->path };
	return fail(&x, DEVSYS_EPARSE,
	            "the response body is not valid JSON: %s at line %d, column %d (HTTP %ld, %zu bytes); "
	            "the server or a proxy sent something else or cut it short",
	            jerr->text, jerr->line, jerr->column, r->status, r->body.size);
}

int devsys__http_append_page(json_t *all, devsys__http *c, const devsys__http_request *req, devsys__http_response *r)
{
	struct devsys__http_xfer x = { .c = c, .req = req, .out = r, .method = "GET", .path = req->path };
	if (!json_is_array(r->json))
		return fail(&x, DEVSYS_EPARSE, "a paginated answer must be a JSON array, this page is not");
	if (json_array_extend(all, r->json) < 0)
		return devsys__error_oom();
	return 0;
}

/* ---- waits ---- */

static long backoff_ms(devsys__http *c, unsigned int attempt)
{
	long ms = c->opts.backoff_ms;
	for (unsigned int i = 0; i < attempt && ms < c->opts.backoff_max_ms; i++)
		ms *= 2;
	if (ms > c->opts.backoff_max_ms)
		ms = c->opts.backoff_max_ms;
	/* Up to a quarter more, so clients that failed together spread out. */
	return ms + (ms > 3 ? (long)(rand_r(&c->seed) % (ms / 4 + 1)) : 0);
}

/* retry-after in seconds (delta-seconds or an HTTP date), or -1. */
static long retry_after_s(const devsys__http_response *r)
{
	char v[128], *end;
	long s;
	if (!devsys__http_response_header(r, "retry-after", v, sizeof(v)) || !v[0])
		return -1;
	s = strtol(v, &end, 10);
	if (*end == '\0')
		return s < 0 ? 0 : s;
	time_t t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	return t > time(NULL) ? (long)(t - time(NULL)) : 0;
}

/* x-ratelimit-remaining: 0 with x-ratelimit-reset (epoch seconds): the reset, else 0. */
static time_t limit_reset(const devsys__http_response *r)
{
	char v[64], *end;
	long long t;
	if (!devsys__http_response_header(r, "x-ratelimit-remaining", v, sizeof(v)) || strcmp(v, "0") != 0)
		return 0;
	if (!devsys__http_response_header(r, "x-ratelimit-reset", v, sizeof(v)))
		return 0;
	t = strtoll(v, &end, 10);
	return *end == '\0' && t > 0 ? (time_t)t : 0;
}

static bool says_rate_limit(const devsys__http_response *r)
{
	devsys_buf m = DEVSYS_BUF_INIT;
	bool yes;
	server_message(&m, r);
	yes = m.ptr && strcasestr(m.ptr, "rate limit") != NULL;
	devsys_buf_dispose(&m);
	return yes;
}

int devsys__http_wait_client_limit(struct devsys__http_xfer *x, long *wait_ms)
{
	devsys__http *c = x->c;
	time_t now = time(NULL);
	char when[32];
	*wait_ms = 0;
	if (c->limit_reset <= now) {
		c->limit_reset = 0;
		return 0;
	}
	if ((c->limit_reset - now) * 1000 > c->opts.max_wait_ms) {
		iso_time(when, sizeof(when), c->limit_reset);
		return fail(x, DEVSYS_ELIMIT,
		            "not sent: an earlier answer on this client exhausted the rate limit, which resets at %s, "
		            "in %lld s, beyond the %ld s this client waits: retry after %s",
		            when, (long long)(c->limit_reset - now), c->opts.max_wait_ms / 1000, when);
	}
	*wait_ms = (long)(c->limit_reset - now) * 1000 + 1000;
	c->limit_reset = 0;
	return 0;
}

/* ---- verdicts ---- */

static bool idempotent(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") || !strcmp(m, "DELETE") ||
	       !strcmp(m, "OPTIONS");
}

static int status_code(long status)
{
	switch (status) {
	case 400: case 422: return DEVSYS_EINVALID;
	case 401: case 403: return DEVSYS_EAUTH;
	case 404: case 410: return DEVSYS_ENOTFOUND;
	case 409: return DEVSYS_ECONFLICT;
	case 429: return DEVSYS_ELIMIT;
	default: return status >= 500 ? DEVSYS_ENETWORK : DEVSYS_ERROR;
	}
}

static const char *status_hint(long status)
{
	switch (status) {
	case 401: return ": the token was refused; check the configured token secret";
	case 403: return ": the token lacks the permission for this";
	case 404: return ": not found (or the token cannot see it)";
	case 409: return ": conflict with the current state";
	case 422: return ": the request was refused as invalid";
	default: return "";
	}
}

/* A retryable failure: 1 with *wait_ms, or the final error. */
static int retry_or_fail(struct devsys__http_xfer *x, unsigned int attempt, int code, const char *what)
{
	bool connected = x->cc != CURLE_COULDNT_CONNECT;
	if (!x->req->no_retry && !(x->req->read_cb && connected) && attempt < x->c->opts.max_retries)
		return 1;
	if (x->req->no_retry)
		return fail(x, code, "%s (not retried: the call runs at most once)", what);
	if (x->req->read_cb && connected)
		return fail(x, code, "%s (not retried: a streamed request body cannot be sent again)", what);
	return fail(x, code, "%s (gave up after %u attempt%s)", what, x->out->attempts, x->out->attempts == 1 ? "" : "s");
}

static int judge_transport(struct devsys__http_xfer *x, unsigned int attempt, long *wait_ms)
{
	devsys__http *c = x->c;
	char at[600], what[900];
	curl_off_t want = -1;
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(x->cc);
	if (x->user_abort)
		return fail(x, DEVSYS_EUSER, "the response callback stopped the transfer");
	if (x->read_abort)
		return fail(x, DEVSYS_EUSER, "the request body callback stopped the transfer");
	if (x->too_big)
		return fail(x, DEVSYS_ELIMIT, "the response body is larger than the %zu-byte limit", c->opts.max_response);
	where(c, at, sizeof(at));
	switch (x->cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return fail(x, DEVSYS_ETIMEOUT, "no complete answer from %s within the time limit (connect %ld ms, request %ld ms): %s",
		            at, c->opts.connect_timeout_ms, x->req->timeout_ms ? x->req->timeout_ms : c->opts.timeout_ms, why);
	case CURLE_PARTIAL_FILE:
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &want);
		return fail(x, DEVSYS_EIO, "the response was truncated: received %zu of the %lld bytes announced",
		            x->out->body.size, (long long)want);
	case CURLE_COULDNT_CONNECT:
		snprintf(what, sizeof(what), "cannot connect to %s: %s", at, why);
		*wait_ms = backoff_ms(c, attempt);
		return retry_or_fail(x, attempt, DEVSYS_ENETWORK, what);
	case CURLE_SEND_FAIL_REWIND:
		return fail(x, DEVSYS_ENETWORK, "the connection to %s closed and the streamed request body cannot be "
		            "sent again: %s", at, why);
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (x->out->status != 0)
			return fail(x, DEVSYS_EIO, "the response was cut off after %zu bytes: %s", x->out->body.size, why);
		snprintf(what, sizeof(what), "the connection to %s failed: %s", at, why);
		if (!idempotent(x->method))
			return fail(x, DEVSYS_ENETWORK, "%s (not retried: %s is not idempotent)", what, x->method);
		*wait_ms = backoff_ms(c, attempt);
		return retry_or_fail(x, attempt, DEVSYS_ENETWORK, what);
	default:
		return fail(x, DEVSYS_ENETWORK, "request to %s failed: %s", at, why);
	}
}

static bool is_problem_json(const struct devsys__http_xfer *x)
{
	return x->content_type && strncasecmp(x->content_type, "application/problem+json", 24) == 0;
}

/* GitHub's primary (403 + x-ratelimit-remaining: 0) and secondary (403/429
 * with retry-after or a "rate limit" message) limits: 1 with the wait in
 * seconds and the absolute time it ends. */
static bool rate_limited(const struct devsys__http_xfer *x, long *wait_s, time_t *until)
{
	long status = x->out->status, ra = retry_after_s(x->out);
	time_t reset = limit_reset(x->out), now = time(NULL);
	if (status != 429 && !(status == 403 && (ra >= 0 || reset || says_rate_limit(x->out))))
		return false;
	if (ra >= 0) {
		*wait_s = ra;
		*until = now + ra;
	} else if (reset) {
		/* One second past the reset: the server's clock may trail ours. */
		*wait_s = reset > now ? (long)(reset - now) + 1 : 1;
		*until = reset;
	} else {
		*wait_s = 60; /* GitHub: wait at least a minute after a secondary limit */
		*until = now + 60;
	}
	return true;
}

static int judge_limit(struct devsys__http_xfer *x, unsigned int attempt, long wait_s, time_t until, long *wait_ms)
{
	char when[32];
	iso_time(when, sizeof(when), until);
	const char *what = x->out->status == 403 || x->out->status == 429 ? "rate limited" : "asked to wait";
	if (wait_s * 1000 > x->c->opts.max_wait_ms) {
		/* Later calls on this client fail at once too, without a request. */
		x->c->limit_reset = until;
		return fail(x, DEVSYS_ELIMIT,
		            "%s (HTTP %ld); the limit resets at %s, in %lld s, beyond the %ld s this client "
		            "waits: retry after %s",
		            what, x->out->status, when, (long long)(until - time(NULL)), x->c->opts.max_wait_ms / 1000, when);
	}
	if (attempt >= x->c->opts.max_retries)
		return fail(x, DEVSYS_ELIMIT, "still %s (HTTP %ld) after %u attempts: retry after %s",
		            what, x->out->status, x->out->attempts, when);
	*wait_ms = wait_s * 1000;
	return 1;
}

static int judge_status(struct devsys__http_xfer *x, unsigned int attempt, long *wait_ms)
{
	long status = x->out->status, wait_s, ra;
	time_t until;
	char what[128];
	if (is_problem_json(x))
		return fail(x, DEVSYS_EINVALID,
		            "HTTP %ld with a problem report (application/problem+json), not retried: the request or "
		            "the response broke the API's schema (Prism --errors), or the server refused it", status);
	if (status >= 200 && status < 300) {
		x->c->limit_reset = limit_reset(x->out);
		return 0;
	}
	if (rate_limited(x, &wait_s, &until))
		return judge_limit(x, attempt, wait_s, until, wait_ms);
	if (status == 500 || status == 502 || status == 503 || status == 504) {
		snprintf(what, sizeof(what), "HTTP %ld, a server-side failure", status);
		ra = retry_after_s(x->out);
		if (ra >= 0 && ra * 1000 > x->c->opts.max_wait_ms)
			return judge_limit(x, attempt, ra, time(NULL) + ra, wait_ms);
		*wait_ms = ra >= 0 ? ra * 1000 : backoff_ms(x->c, attempt);
		return retry_or_fail(x, attempt, DEVSYS_ENETWORK, what);
	}
	return fail(x, status_code(status), "HTTP %ld%s", status, status_hint(status));
}

int devsys__http_judge(struct devsys__http_xfer *x, unsigned int attempt, long *wait_ms)
{
	*wait_ms = 0;
	if (x->cc != CURLE_OK)
		return judge_transport(x, attempt, wait_ms);
	return judge_status(x, attempt, wait_ms);
}
