/*
 * A devsysd client for tests: one request to 127.0.0.1:<port> with the
 * bearer token, the answer into a devsys_buf. Header-only (static inline),
 * for the suites that link libcurl.
 */
#ifndef DEVSYS_API_CLIENT_H
#define DEVSYS_API_CLIENT_H

#include "testutil.h"
#include <devsys.h>

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static inline size_t dt_api_body_cb(char *p, size_t s, size_t n, void *ud)
{
	return devsys_buf_put(ud, p, s * n) == 0 ? s * n : 0;
}

/*
 * A curl handle for @p path of the daemon on @p port with the bearer token,
 * one more request @p header (may be NULL) and a @p timeout_s; *@p h is
 * its header list (curl_slist_free_all() it after the transfer). No
 * assertion: a stream client calls it on a thread of its own. NULL when
 * curl cannot make a handle.
 */
static inline CURL *dt_api_easy(int port, const char *token, const char *path, const char *header, long timeout_s,
                                struct curl_slist **h)
{
	CURL *c = curl_easy_init();
	char u[2048], auth[512];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	*h = curl_slist_append(NULL, auth);
	if (header)
		*h = curl_slist_append(*h, header);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
	return c;
}

/*
 * @p method @p path of the daemon on @p port (with @p body, may be NULL,
 * and one more request @p header, may be NULL): the status, the answer
 * into @p out and, when @p headers is not NULL, its header lines into
 * @p headers.
 */
static inline long dt_api_request_with(int port, const char *token, const char *method, const char *path,
                                       const char *body, const char *header, devsys_buf *out, devsys_buf *headers)
{
	struct curl_slist *h = NULL;
	CURL *c = dt_api_easy(port, token, path, header, 20L, &h);
	long status = 0;
	cr_assert_not_null(c);
	devsys_buf_clear(out);
	if (headers) {
		devsys_buf_clear(headers);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, dt_api_body_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dt_api_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (!out->ptr)
		devsys_buf_puts(out, "");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

/* @p method @p path of the daemon on @p port (with @p body, may be NULL): the status; the answer into @p out. */
static inline long dt_api_request(int port, const char *token, const char *method, const char *path, const char *body,
                                  devsys_buf *out)
{
	return dt_api_request_with(port, token, method, path, body, NULL, out, NULL);
}

/*
 * Start devsysd (the path in $DEVSYSD) on workspace @p ws and a free port
 * (into *@p port), its log @p log, with the arguments @p extra after the
 * workspace and the port (NULL-terminated; NULL: none).
 */
static inline pid_t dt_api_daemon_with(const char *ws, const char *token, const char *log, int *port,
                                       const char *const *extra)
{
	const char *bin = getenv("DEVSYSD");
	char portstr[16], *argv[32];
	size_t n = 0;
	pid_t pid;
	cr_assert_not_null(bin, "DEVSYSD is not set by the build");
	*port = dt_free_port();
	snprintf(portstr, sizeof(portstr), "%d", *port);
	setenv("DEVSYSD_TOKEN", token, 1);
	argv[n++] = (char *)bin;
	argv[n++] = "--workspace";
	argv[n++] = (char *)ws;
	argv[n++] = "--port";
	argv[n++] = portstr;
	for (; extra && *extra; extra++) {
		cr_assert_lt(n, sizeof(argv) / sizeof(argv[0]) - 1, "too many devsysd arguments");
		argv[n++] = (char *)*extra;
	}
	argv[n] = NULL;
	pid = dt_spawn(argv, log);
	cr_assert_gt(pid, 0);
	if (!dt_wait_port(*port, 15000)) {
		char *l = dt_read_file(log, NULL);
		cr_assert_fail("devsysd did not listen: %s", l ? l : "(no log)");
	}
	return pid;
}

/* dt_api_daemon_with() without more arguments. */
static inline pid_t dt_api_daemon(const char *ws, const char *token, const char *log, int *port)
{
	return dt_api_daemon_with(ws, token, log, port, NULL);
}

#endif /* DEVSYS_API_CLIENT_H */
