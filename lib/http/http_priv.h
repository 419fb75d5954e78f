/*
 * Private to lib/http: the client and transfer structs shared by http.c
 * (transport) and retry.c (verdicts, waits, messages, header parsing).
 */
#ifndef DEVSYS_HTTP_PRIV_H
#define DEVSYS_HTTP_PRIV_H

#include "http/http_int.h"

#include <curl/curl.h>
#include <time.h>

struct devsys__http {
	CURL *curl;
	devsys__http_options opts; /* pointers below replace the caller's */
	char *what, *base_url, *unix_socket, *token, *user_agent, *ca_file, *client_cert, *client_key;
	size_t origin_len;          /* length of "scheme://host[:port]" in base_url */
	struct curl_slist *base_headers;
	long connects;
	time_t limit_reset;         /* a 2xx said x-ratelimit-remaining: 0 until then */
	unsigned int seed;          /* backoff jitter */
	char errbuf[CURL_ERROR_SIZE];
};

struct devsys__http_xfer {
	devsys__http *c;
	const devsys__http_request *req;
	devsys__http_response *out;
	const char *method, *path;
	CURLcode cc;
	const char *content_type;   /* borrowed from curl until the next perform */
	bool decided, streaming, too_big, user_abort, read_abort;
};

/* Overwrite @p len bytes (secrets) in a way the compiler keeps. */
void devsys__http_wipe(void *p, size_t len);

/* @p text with every occurrence of @p token replaced by "***"; NULL/empty
 * token: copied as is. */
int devsys__http_redact(devsys_buf *out, const char *text, size_t len, const char *token);
/* The same for a verbose-trace chunk; Authorization header values become "***" too. */
int devsys__http_redact_trace(devsys_buf *out, const char *text, size_t len, const char *token);

/* After one attempt: 0 done (2xx), < 0 failed (error set with detail), or
 * 1 retry after *wait_ms. */
int devsys__http_judge(struct devsys__http_xfer *x, unsigned int attempt, long *wait_ms);
/* Before the first attempt: a remembered rate-limit reset within max_wait
 * gives *wait_ms; beyond it, DEVSYS_ELIMIT. */
int devsys__http_wait_client_limit(struct devsys__http_xfer *x, long *wait_ms);

int devsys__http_fail_json(devsys__http *c, const devsys__http_request *req, const devsys__http_response *r,
                           const json_error_t *jerr);
/* Append the elements of r->json (must be an array) to @p all. */
int devsys__http_append_page(json_t *all, devsys__http *c, const devsys__http_request *req, devsys__http_response *r);
/* rel="next" of r's Link header, new, or NULL. */
char *devsys__http_response_link_next(const devsys__http_response *r);

#endif /* DEVSYS_HTTP_PRIV_H */
