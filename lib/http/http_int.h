/*
 * libdevsys - the internal HTTP client (libcurl), shared by the forge
 * providers (GitHub, Gitea) and the Docker Engine client. Never installed.
 *
 * One client is one CURL easy handle: its connection cache keeps the
 * connection alive between requests (keep-alive), over TCP (http, https)
 * or a unix socket. A client is used by one thread at a time; make one per
 * thread. curl_global_init() runs in devsys_init() (the module's INIT hook).
 *
 * Every failing call sets the thread's last error with the HTTP status and
 * the server's message as detail (devsys_error_http_status(),
 * devsys_error_detail() in sys/errors.h), the token replaced by "***".
 * See docs/http.md.
 */
#ifndef DEVSYS_HTTP_INT_H
#define DEVSYS_HTTP_INT_H

#include "core/core.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct devsys__http devsys__http;

/* Receives curl's verbose trace, one chunk at a time, the token and every
 * Authorization header value already replaced by "***". */
typedef void (*devsys__http_trace_cb)(const char *text, size_t len, void *payload);

typedef struct devsys__http_options {
	const char *what;            /* label starting every message: "github", "docker" (default "http") */
	const char *base_url;        /* "https://api.github.com", "http://localhost/v1.43"; no credentials in it */
	const char *unix_socket;     /* connect to this AF_UNIX path instead of the URL's host, or NULL */
	const char *token;           /* sent as "Authorization: <auth_scheme> <token>" only; NULL: none */
	const char *auth_scheme;     /* default "Bearer" */
	const char *user_agent;      /* default "libdevsys/<version>" */
	const char *accept;          /* default "application/json" */
	const char *const *headers;  /* extra "Name: value" lines sent on every request, NULL-terminated */
	const char *ca_file;         /* https: trust exactly this PEM file (else curl's built-in bundle) */
	const char *client_cert;     /* https: client certificate (PEM) */
	const char *client_key;      /* https: its key (PEM) */
	long connect_timeout_ms;     /* default 10 000 */
	long timeout_ms;             /* whole request, default 60 000; 0 none */
	unsigned int max_retries;    /* retries after the first attempt, default 3 */
	long backoff_ms;             /* first backoff, doubled per retry, default 500 */
	long backoff_max_ms;         /* default 8 000 */
	long max_wait_ms;            /* longest retry-after / rate-limit wait honoured, default 60 000 */
	size_t max_response;         /* response body cap in bytes, default 32 MiB */
	unsigned int max_pages;      /* Link rel="next" pages followed, default 100 */
	bool verbose;                /* curl's trace, redacted, to trace_cb (or stderr) */
	devsys__http_trace_cb trace_cb;
	void *trace_payload;
} devsys__http_options;

/* Fill @p opts with the defaults above (all pointers NULL). */
void devsys__http_options_default(devsys__http_options *opts);

/* A new client (strings copied). DEVSYS_EINVAL for a bad base URL, a URL
 * with credentials, or a unix socket path that does not fit sun_path. */
int devsys__http_new(devsys__http **out, const devsys__http_options *opts);
void devsys__http_free(devsys__http *c);

typedef struct devsys__http_request {
	const char *method;          /* "GET" (default), "POST", "PUT", "PATCH", "DELETE", "HEAD" */
	const char *path;            /* appended to base_url, or an absolute URL of the same origin */
	const json_t *json;          /* request body as JSON (Content-Type: application/json), or */
	const void *body;            /* raw request body of body_len bytes */
	size_t body_len;
	const char *content_type;    /* for a raw body */
	const char *const *headers;  /* extra headers for this request, NULL-terminated */
	/* Stream a 2xx response body here instead of buffering it (no size cap,
	 * no JSON). Non-zero aborts with DEVSYS_EUSER. Error bodies are still
	 * buffered for the message. */
	int (*write_cb)(const char *data, size_t len, void *payload);
	/* Stream the request body from here instead (a tar upload): put at most
	 * @p cap bytes into @p buf and return how many, 0 at the end, < 0 to
	 * abort with DEVSYS_EUSER. Sent chunked unless upload_size > 0. Such a
	 * request is retried only when no connection could be made, since the
	 * body cannot be produced twice. */
	long (*read_cb)(char *buf, size_t cap, void *payload);
	int64_t upload_size;         /* read_cb's total size, or 0 when unknown */
	void *payload;               /* for write_cb and read_cb */
	long timeout_ms;             /* 0: the client's; -1: none (long streams) */
	bool no_retry;               /* a non-idempotent call that must run at most once */
	/* Called once per attempt when a 2xx answer's header block has arrived,
	 * before any of its body (a Docker attach: the container may start now). */
	void (*on_headers)(long status, void *payload);
} devsys__http_request;

typedef struct devsys__http_response {
	long status;                 /* last HTTP status, 0 when none arrived */
	devsys_buf body;             /* buffered body (also of an error answer) */
	devsys_buf headers;          /* the last response's header block, raw */
	json_t *json;                /* parsed body when JSON was asked for, else NULL */
	unsigned int attempts;       /* requests sent for this call (1 + retries) */
	uint64_t waited_ns;          /* time slept in backoff and retry-after waits */
} devsys__http_response;

/*
 * Send one request, with retries: 500/502/503/504 and connection failures
 * (refused, reset, nothing received for an idempotent method) are retried up
 * to max_retries times with exponential backoff; retry-after and GitHub's
 * rate-limit headers (x-ratelimit-remaining: 0 with x-ratelimit-reset, and
 * its 403/429 secondary limits) decide the wait. A wait beyond max_wait_ms
 * fails at once with DEVSYS_ELIMIT naming the absolute reset time.
 *
 * Returns 0 for a 2xx answer. Any other status fails, with @p out still
 * holding the status, headers and body (the forge tells 422s apart by their
 * body). Codes: 401/403 DEVSYS_EAUTH, 404 DEVSYS_ENOTFOUND, 409
 * DEVSYS_ECONFLICT, 400/422 DEVSYS_EINVALID, rate limit DEVSYS_ELIMIT,
 * application/problem+json (never retried) DEVSYS_EINVALID, 5xx and
 * connection failures DEVSYS_ENETWORK, timeout DEVSYS_ETIMEOUT, truncated
 * body DEVSYS_EIO, body over max_response DEVSYS_ELIMIT.
 * @p out is reset first; free it with devsys__http_response_dispose().
 */
int devsys__http_send(devsys__http_response *out, devsys__http *c, const devsys__http_request *req);

/* devsys__http_send() that also parses the body as JSON into out->json
 * (an empty body gives NULL); malformed or truncated JSON: DEVSYS_EPARSE. */
int devsys__http_send_json(devsys__http_response *out, devsys__http *c, const devsys__http_request *req);

/*
 * GET @p path and each Link rel="next" page after it (same origin only, at
 * most max_pages pages, else DEVSYS_ELIMIT), each a JSON array, into one new
 * array @p *out (json_decref it). @p pages, if not NULL, gets the count.
 */
int devsys__http_get_all(json_t **out, unsigned int *pages, devsys__http *c, const char *path);

/* Value of header @p name (case-insensitive) in @p r, copied into @p out
 * (trimmed); false when absent. */
bool devsys__http_response_header(const devsys__http_response *r, const char *name, char *out, size_t out_size);

/* The URL of rel="next" in a Link header value, new (devsys__free), or NULL. */
char *devsys__http_link_next(const char *link);

void devsys__http_response_dispose(devsys__http_response *r);

/* Connections the client opened so far (curl's count; keep-alive keeps it at 1). */
long devsys__http_connects(const devsys__http *c);

int devsys__http_global_init(void);
void devsys__http_global_shutdown(void);

#endif /* DEVSYS_HTTP_INT_H */
