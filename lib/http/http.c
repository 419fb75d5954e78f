/*
 * The HTTP client: one CURL easy handle per client, options re-applied per
 * request (curl_easy_reset keeps the connection cache, so connections are
 * reused), the retry loop. Decisions about statuses, waits and messages
 * are in retry.c.
 */
#include "http/http_int.h"
#include "http/http_priv.h"

#include "devsys/sys/errors.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>

int devsys__http_global_init(void)
{
	CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK)
		return devsys__error_set(DEVSYS_ERROR, "http: curl_global_init failed: %s", curl_easy_strerror(cc));
	return 0;
}

void devsys__http_global_shutdown(void)
{
	curl_global_cleanup();
}

void devsys__http_options_default(devsys__http_options *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = 10000;
	o->timeout_ms = 60000;
	o->max_retries = 3;
	o->backoff_ms = 500;
	o->backoff_max_ms = 8000;
	o->max_wait_ms = 60000;
	o->max_response = (size_t)32 << 20;
	o->max_pages = 100;
}

/* ---- construction ---- */

static int copy_str(char **dst, const char *src, const char *dflt)
{
	const char *s = src ? src : dflt;
	*dst = NULL;
	if (!s)
		return 0;
	return (*dst = devsys__strdup(s)) ? 0 : devsys__error_oom();
}

/* "scheme://host[:port]" of @p url; its length, or 0 when @p url is not
 * http(s)://host... */
static size_t origin_len(const char *url)
{
	const char *p;
	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return 0;
	if (*p == '\0' || *p == '/')
		return 0;
	p += strcspn(p, "/?#");
	return (size_t)(p - url);
}

static int check_base_url(const char *what, const char *url)
{
	size_t n;
	if (!url || !*url)
		return devsys__error_set(DEVSYS_EINVAL, "%s: the HTTP client needs a base URL", what);
	if ((n = origin_len(url)) == 0)
		return devsys__error_set(DEVSYS_EINVAL,
		                         "%s: base URL '%.200s' is not an http:// or https:// URL with a host", what, url);
	if (memchr(url, '@', n))
		return devsys__error_set(DEVSYS_EINVAL,
		                         "%s: the base URL must not carry credentials (user@host); pass the token "
		                         "in the client's options", what);
	return 0;
}

static int check_unix_socket(const char *what, const char *path)
{
	struct sockaddr_un sa;
	size_t len;
	if (!path)
		return 0;
	len = strlen(path);
	if (len == 0)
		return devsys__error_set(DEVSYS_EINVAL, "%s: the unix socket path is empty", what);
	if (len >= sizeof(sa.sun_path))
		return devsys__error_set(DEVSYS_EINVAL,
		                         "%s: unix socket path '%s' is %zu bytes long, but a unix socket address "
		                         "(sun_path) holds %zu bytes including the terminating NUL, so at most %zu: "
		                         "use a shorter path (e.g. a directory directly under /tmp)",
		                         what, path, len, sizeof(sa.sun_path), sizeof(sa.sun_path) - 1);
	return 0;
}

static int add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *n = curl_slist_append(*list, line);
	if (!n)
		return devsys__error_oom();
	*list = n;
	return 0;
}

static int build_base_headers(devsys__http *c, const devsys__http_options *o)
{
	int rc;
	char *auth;
	/* "Expect:" stops curl's 100-continue round trip on larger bodies. */
	if ((rc = add_header(&c->base_headers, "Expect:")) < 0)
		return rc;
	if ((auth = devsys__asprintf("Accept: %s", o->accept ? o->accept : "application/json")) == NULL)
		return devsys__error_oom();
	rc = add_header(&c->base_headers, auth);
	devsys__free(auth);
	if (rc < 0)
		return rc;
	for (size_t i = 0; o->headers && o->headers[i]; i++)
		if ((rc = add_header(&c->base_headers, o->headers[i])) < 0)
			return rc;
	if (!c->token)
		return 0;
	if ((auth = devsys__asprintf("Authorization: %s %s", o->auth_scheme ? o->auth_scheme : "Bearer", c->token)) ==
	    NULL)
		return devsys__error_oom();
	rc = add_header(&c->base_headers, auth);
	devsys__http_wipe(auth, strlen(auth));
	devsys__free(auth);
	return rc;
}

static int client_init(devsys__http *c, const devsys__http_options *o)
{
	int rc;
	c->opts = *o;
	if ((rc = copy_str(&c->what, o->what, "http")) < 0 || (rc = check_base_url(c->what, o->base_url)) < 0 ||
	    (rc = check_unix_socket(c->what, o->unix_socket)) < 0)
		return rc;
	if (o->token && (strchr(o->token, '\n') || strchr(o->token, '\r')))
		return devsys__error_set(DEVSYS_EINVAL, "%s: the token contains a line break", c->what);
	if ((rc = copy_str(&c->base_url, o->base_url, NULL)) < 0 || (rc = copy_str(&c->unix_socket, o->unix_socket, NULL)) < 0 ||
	    (rc = copy_str(&c->token, o->token && *o->token ? o->token : NULL, NULL)) < 0 ||
	    (rc = copy_str(&c->user_agent, o->user_agent, "libdevsys/" DEVSYS_VERSION_STRING)) < 0 ||
	    (rc = copy_str(&c->ca_file, o->ca_file, NULL)) < 0 || (rc = copy_str(&c->client_cert, o->client_cert, NULL)) < 0 ||
	    (rc = copy_str(&c->client_key, o->client_key, NULL)) < 0)
		return rc;
	c->origin_len = origin_len(c->base_url);
	/* Our copies replace the caller's pointers; the caller's array is not kept. */
	c->opts.what = c->what;
	c->opts.base_url = c->base_url;
	c->opts.unix_socket = c->unix_socket;
	c->opts.token = c->token;
	c->opts.headers = NULL;
	c->opts.user_agent = c->user_agent;
	c->opts.ca_file = c->ca_file;
	c->opts.client_cert = c->client_cert;
	c->opts.client_key = c->client_key;
	c->opts.auth_scheme = c->opts.accept = NULL;
	if ((rc = build_base_headers(c, o)) < 0)
		return rc;
	c->seed = (unsigned int)devsys__now_ns();
	if ((c->curl = curl_easy_init()) == NULL)
		return devsys__error_set(DEVSYS_ENOMEM, "%s: curl_easy_init failed", c->what);
	return 0;
}

int devsys__http_new(devsys__http **out, const devsys__http_options *opts)
{
	devsys__http *c;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(opts);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if ((c = devsys__calloc(1, sizeof(*c))) == NULL)
		return devsys__error_oom();
	if ((rc = client_init(c, opts)) < 0) {
		devsys__http_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void devsys__http_free(devsys__http *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	/* The slist holds the Authorization line: wipe it before freeing. */
	for (struct curl_slist *n = c->base_headers; n; n = n->next)
		devsys__http_wipe(n->data, strlen(n->data));
	curl_slist_free_all(c->base_headers);
	if (c->token)
		devsys__http_wipe(c->token, strlen(c->token));
	devsys__free(c->token);
	devsys__free(c->what);
	devsys__free(c->base_url);
	devsys__free(c->unix_socket);
	devsys__free(c->user_agent);
	devsys__free(c->ca_file);
	devsys__free(c->client_cert);
	devsys__free(c->client_key);
	devsys__free(c);
}

long devsys__http_connects(const devsys__http *c)
{
	return c ? c->connects : 0;
}

void devsys__http_response_dispose(devsys__http_response *r)
{
	if (!r)
		return;
	devsys_buf_dispose(&r->body);
	devsys_buf_dispose(&r->headers);
	if (r->json)
		json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* ---- one transfer ---- */

static size_t on_header(char *data, size_t size, size_t n, void *payload)
{
	struct devsys__http_xfer *x = payload;
	size_t len = size * n;
	/* A new status line starts a new response (after a 100 Continue). */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		devsys_buf_clear(&x->out->headers);
	if (x->out->headers.size + len > 256 * 1024 || devsys_buf_put(&x->out->headers, data, len) < 0)
		return 0;
	if (x->req->on_headers && (len == 2 || len == 1) && (data[0] == '\r' || data[0] == '\n')) {
		long status = 0;
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300)
			x->req->on_headers(status, x->req->payload);
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *payload)
{
	struct devsys__http_xfer *x = payload;
	size_t len = size * n;
	if (!x->decided) {
		long status = 0;
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		x->streaming = x->req->write_cb && status >= 200 && status < 300;
		x->decided = true;
	}
	if (x->streaming) {
		if (x->req->write_cb(data, len, x->req->payload) != 0) {
			x->user_abort = true;
			return 0;
		}
		return len;
	}
	if (x->out->body.size + len > x->c->opts.max_response) {
		x->too_big = true;
		return 0;
	}
	return devsys_buf_put(&x->out->body, data, len) < 0 ? 0 : len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *payload)
{
	struct devsys__http_xfer *x = payload;
	long got = x->req->read_cb(buf, size * n, x->req->payload);
	if (got < 0 || (size_t)got > size * n) {
		x->read_abort = true;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)got;
}

static int on_trace(CURL *h, curl_infotype type, char *data, size_t size, void *payload)
{
	devsys__http *c = payload;
	devsys_buf red = DEVSYS_BUF_INIT;
	(void)h;
	if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN && type != CURLINFO_HEADER_OUT)
		return 0; /* bodies and TLS records stay out of the trace */
	if (devsys__http_redact_trace(&red, data, size, c->token) == 0 && red.size) {
		if (c->opts.trace_cb)
			c->opts.trace_cb(red.ptr, red.size, c->opts.trace_payload);
		else
			fwrite(red.ptr, 1, red.size, stderr);
	}
	devsys_buf_dispose(&red);
	return 0;
}

#define SETOPT(opt, val)                                                                              \
	do {                                                                                          \
		if ((cc = curl_easy_setopt(h, opt, val)) != CURLE_OK)                                 \
			return devsys__error_set(DEVSYS_ERROR, "%s: curl option " #opt ": %s", c->what, \
			                         curl_easy_strerror(cc));                             \
	} while (0)

/* Transport options: identical for every request of a client. */
static int setup_transport(devsys__http *c)
{
	CURL *h = c->curl;
	CURLcode cc;
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	/* Never pick up http_proxy/https_proxy/ALL_PROXY from the environment. */
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_NOPROXY, "*");
	SETOPT(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_USERAGENT, c->user_agent);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
	if (c->unix_socket)
		SETOPT(CURLOPT_UNIX_SOCKET_PATH, c->unix_socket);
	if (c->ca_file) {
		SETOPT(CURLOPT_CAINFO, c->ca_file);
		SETOPT(CURLOPT_CAPATH, (char *)NULL); /* trust exactly the given file */
	}
	if (c->client_cert)
		SETOPT(CURLOPT_SSLCERT, c->client_cert);
	if (c->client_key)
		SETOPT(CURLOPT_SSLKEY, c->client_key);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
	if (c->opts.verbose) {
		SETOPT(CURLOPT_DEBUGFUNCTION, on_trace);
		SETOPT(CURLOPT_DEBUGDATA, c);
		SETOPT(CURLOPT_VERBOSE, 1L);
	}
	return 0;
}

static int setup_method(devsys__http *c, struct devsys__http_xfer *x, const char *body, size_t len)
{
	CURL *h = c->curl;
	CURLcode cc;
	const char *m = x->method;
	if (x->req->read_cb) {
		SETOPT(CURLOPT_UPLOAD, 1L);
		SETOPT(CURLOPT_READFUNCTION, on_read);
		SETOPT(CURLOPT_READDATA, x);
		/* Unknown size: HTTP/1.1 chunked transfer encoding. */
		SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)(x->req->upload_size > 0 ? x->req->upload_size : -1));
		SETOPT(CURLOPT_CUSTOMREQUEST, m);
		return 0;
	}
	if (strcmp(m, "GET") == 0 && !body) {
		SETOPT(CURLOPT_HTTPGET, 1L);
		return 0;
	}
	if (strcmp(m, "HEAD") == 0) {
		SETOPT(CURLOPT_NOBODY, 1L);
		return 0;
	}
	if (body || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
		/* Always a Content-Length, also 0 (GitHub's bodiless PUTs need it). */
		SETOPT(CURLOPT_POSTFIELDS, body ? body : "");
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	}
	SETOPT(CURLOPT_CUSTOMREQUEST, m);
	return 0;
}

static int setup_request(struct devsys__http_xfer *x, const char *url, const char *body, size_t len,
                         struct curl_slist *headers)
{
	devsys__http *c = x->c;
	CURL *h = c->curl;
	CURLcode cc;
	long timeout = x->req->timeout_ms ? x->req->timeout_ms : c->opts.timeout_ms;
	int rc;
	curl_easy_reset(h); /* keeps live connections: only options are reset */
	if ((rc = setup_transport(c)) < 0)
		return rc;
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 0L);
	SETOPT(CURLOPT_HTTPHEADER, headers);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, x);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, x);
	return setup_method(c, x, body, len);
}

/* The request's header list: the client's, then the request's own. */
static int request_headers(struct curl_slist **out, devsys__http *c, const devsys__http_request *req,
                           const char *content_type)
{
	int rc = 0;
	char *line;
	*out = NULL;
	for (struct curl_slist *n = c->base_headers; n && rc == 0; n = n->next)
		rc = add_header(out, n->data);
	/* No type given: "Content-Type:" removes the form type curl would add to
	 * a POST/PUT (a schema validator refuses it on a bodiless merge). */
	if (rc == 0 && !content_type)
		rc = add_header(out, "Content-Type:");
	else if (rc == 0) {
		if ((line = devsys__asprintf("Content-Type: %s", content_type)) == NULL)
			rc = devsys__error_oom();
		else {
			rc = add_header(out, line);
			devsys__free(line);
		}
	}
	for (size_t i = 0; rc == 0 && req->headers && req->headers[i]; i++)
		rc = add_header(out, req->headers[i]);
	return rc;
}

static void free_headers(struct curl_slist *list)
{
	for (struct curl_slist *n = list; n; n = n->next)
		devsys__http_wipe(n->data, strlen(n->data));
	curl_slist_free_all(list);
}

/* Absolute URL of @p path: base_url + path, or @p path itself when it is an
 * absolute URL of the base URL's origin (Link pages); the token is never
 * sent anywhere else. */
static int make_url(char **out, devsys__http *c, const char *path)
{
	size_t blen = strlen(c->base_url);
	*out = NULL;
	if (origin_len(path) > 0) {
		if (strncasecmp(path, c->base_url, c->origin_len) != 0 || origin_len(path) != c->origin_len)
			return devsys__error_set(DEVSYS_EINVAL,
			                         "%s: refusing to send a request to '%.200s': it is not on the base URL's "
			                         "origin '%.*s', the only place the token goes",
			                         c->what, path, (int)c->origin_len, c->base_url);
		*out = devsys__strdup(path);
	} else {
		if (blen && c->base_url[blen - 1] == '/' && path[0] == '/')
			blen--;
		*out = devsys__asprintf("%.*s%s%s", (int)blen, c->base_url, path[0] == '/' || !path[0] ? "" : "/", path);
	}
	return *out ? 0 : devsys__error_oom();
}

static int perform(struct devsys__http_xfer *x, const char *url, const char *body, size_t len,
                   struct curl_slist *headers)
{
	long connects = 0;
	int rc;
	devsys_buf_clear(&x->out->body);
	devsys_buf_clear(&x->out->headers);
	x->decided = x->streaming = x->too_big = x->user_abort = x->read_abort = false;
	x->c->errbuf[0] = '\0';
	if ((rc = setup_request(x, url, body, len, headers)) < 0)
		return rc;
	x->cc = curl_easy_perform(x->c->curl);
	x->out->attempts++;
	x->out->status = 0;
	curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &x->out->status);
	if (curl_easy_getinfo(x->c->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
		x->c->connects += connects;
	x->content_type = NULL;
	curl_easy_getinfo(x->c->curl, CURLINFO_CONTENT_TYPE, &x->content_type);
	return 0;
}

static void sleep_ms(devsys__http_response *out, long ms)
{
	uint64_t start = devsys__now_ns(), end = start + (uint64_t)ms * 1000000u;
	for (uint64_t now = start; now < end; now = devsys__now_ns()) {
		struct timespec ts = { (time_t)((end - now) / 1000000000u), (long)((end - now) % 1000000000u) };
		if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
			break;
	}
	out->waited_ns += devsys__now_ns() - start;
}

static int send_loop(struct devsys__http_xfer *x, const char *url, const char *body, size_t len,
                     struct curl_slist *headers)
{
	long wait_ms;
	int rc;
	if ((rc = devsys__http_wait_client_limit(x, &wait_ms)) < 0)
		return rc;
	if (wait_ms > 0)
		sleep_ms(x->out, wait_ms);
	for (unsigned int attempt = 0;; attempt++) {
		if ((rc = perform(x, url, body, len, headers)) < 0)
			return rc;
		rc = devsys__http_judge(x, attempt, &wait_ms);
		if (rc <= 0)
			return rc; /* 0: done; < 0: failed, error set */
		sleep_ms(x->out, wait_ms);
	}
}

int devsys__http_send(devsys__http_response *out, devsys__http *c, const devsys__http_request *req)
{
	struct devsys__http_xfer x;
	struct curl_slist *headers = NULL;
	char *url = NULL, *json_body = NULL;
	const char *body, *ctype;
	size_t len;
	int rc;
	DEVSYS__CHECK_ARG(out);
	memset(out, 0, sizeof(*out));
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(req);
	DEVSYS__CHECK_ARG(req->path);
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.req = req;
	x.out = out;
	x.method = req->method ? req->method : "GET";
	x.path = req->path;
	body = req->body;
	len = req->body_len;
	ctype = req->content_type;
	if (req->json) {
		if ((json_body = json_dumps(req->json, JSON_COMPACT)) == NULL)
			return devsys__error_set(DEVSYS_EINVAL, "%s: %s %s: the request body could not be encoded as JSON",
			                         c->what, x.method, req->path);
		body = json_body;
		len = strlen(json_body);
		ctype = "application/json";
	}
	if ((rc = make_url(&url, c, req->path)) == 0 && (rc = request_headers(&headers, c, req, ctype)) == 0)
		rc = send_loop(&x, url, body, len, headers);
	free_headers(headers);
	devsys__free(url);
	if (json_body) {
		devsys__http_wipe(json_body, len);
		free(json_body); /* jansson's allocator */
	}
	return rc;
}

int devsys__http_send_json(devsys__http_response *out, devsys__http *c, const devsys__http_request *req)
{
	json_error_t jerr;
	int rc = devsys__http_send(out, c, req);
	if (rc < 0) {
		/* The caller may still read an error answer's JSON (a 422's errors). */
		if (out->body.size)
			out->json = json_loadb(out->body.ptr, out->body.size, 0, &jerr);
		return rc;
	}
	if (out->body.size == 0)
		return 0;
	if ((out->json = json_loadb(out->body.ptr, out->body.size, 0, &jerr)) == NULL)
		return devsys__http_fail_json(c, req, out, &jerr);
	return 0;
}

int devsys__http_get_all(json_t **out, unsigned int *pages, devsys__http *c, const char *path)
{
	devsys__http_request req = { .method = "GET", .path = path };
	devsys__http_response r;
	char *next = NULL, *cur = NULL;
	json_t *all;
	unsigned int n = 0;
	int rc = 0;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(c);
	DEVSYS__CHECK_ARG(path);
	if ((all = json_array()) == NULL)
		return devsys__error_oom();
	for (;;) {
		if (n >= c->opts.max_pages) {
			rc = devsys__error_set(DEVSYS_ELIMIT,
			                       "%s: GET %s: more than %u pages (Link rel=\"next\" continues at '%.200s'); "
			                       "raise the page cap or narrow the query", c->what, path, c->opts.max_pages, req.path);
			break;
		}
		rc = devsys__http_send_json(&r, c, &req);
		n++;
		if (rc == 0)
			rc = devsys__http_append_page(all, c, &req, &r);
		if (rc == 0)
			next = devsys__http_response_link_next(&r);
		devsys__http_response_dispose(&r);
		devsys__free(cur);
		cur = next;
		if (rc < 0 || !next)
			break;
		req.path = next;
		next = NULL;
	}
	devsys__free(cur);
	if (rc < 0) {
		json_decref(all);
		return rc;
	}
	if (pages)
		*pages = n;
	*out = all;
	return 0;
}
