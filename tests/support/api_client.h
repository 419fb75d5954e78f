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

/* @p method @p path of the daemon on @p port (with @p body, may be NULL): the status; the answer into @p out. */
static inline long dt_api_request(int port, const char *token, const char *method, const char *path, const char *body,
                                  devsys_buf *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char u[2048], auth[512];
	long status = 0;
	cr_assert_not_null(c);
	devsys_buf_clear(out);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(NULL, auth);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dt_api_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
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

/* Start devsysd (the path in $DEVSYSD) on workspace @p ws and a free port (into *@p port), its log @p log. */
static inline pid_t dt_api_daemon(const char *ws, const char *token, const char *log, int *port)
{
	const char *bin = getenv("DEVSYSD");
	char portstr[16];
	pid_t pid;
	cr_assert_not_null(bin, "DEVSYSD is not set by the build");
	*port = dt_free_port();
	snprintf(portstr, sizeof(portstr), "%d", *port);
	setenv("DEVSYSD_TOKEN", token, 1);
	{
		char *argv[] = { (char *)bin, "--workspace", (char *)ws, "--port", portstr, NULL };
		pid = dt_spawn(argv, log);
	}
	cr_assert_gt(pid, 0);
	if (!dt_wait_port(*port, 15000)) {
		char *l = dt_read_file(log, NULL);
		cr_assert_fail("devsysd did not listen: %s", l ? l : "(no log)");
	}
	return pid;
}

#endif /* DEVSYS_API_CLIENT_H */
