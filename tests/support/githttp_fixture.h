/*
 * A smart-HTTP git server for tests: Debian lighttpd (mod_cgi, mod_alias,
 * mod_setenv, mod_auth + mod_authn_file basic auth, optional mod_openssl)
 * in front of git-http-backend, on 127.0.0.1 and a free port, everything in
 * a temp dir.
 *
 *   char why[256];
 *   dt_githttp *h = dt_githttp_start(true, "s3cret-token", why, sizeof why);
 *   if (!h) dt_skip("%s", why);
 *   char *url = dt_githttp_add_repo(h, "proj", "/path/to/src.git");
 *   ... libgit2 with ca_file h->ca_file, user x-access-token, the token ...
 *   dt_githttp_free(h);
 *
 * If the test process dies without dt_githttp_free(), the fixture's watchdog
 * (watchdog.h) kills lighttpd and its CGI children and removes the temp dir.
 *
 * TLS: an ECDSA P-256 test CA and a server certificate for DNS:localhost
 * (mbedTLS checks DNS names only), so TLS URLs are https://localhost:PORT/.
 * Plain URLs use http://127.0.0.1:PORT/.
 */
#ifndef DEVSYS_GITHTTP_FIXTURE_H
#define DEVSYS_GITHTTP_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct dt_githttp {
	char *dir;        /* temp dir holding everything */
	char *repos;      /* GIT_PROJECT_ROOT: <dir>/repos */
	int port;
	bool tls;
	char *ca_file;    /* TLS: the test CA (PEM), else NULL */
	char *base_url;   /* "https://localhost:PORT/git/" or "http://127.0.0.1:PORT/git/" */
	char *access_log; /* lighttpd access log */
	char *error_log;  /* lighttpd error log (also CGI stderr) */
	pid_t pid;
	struct dt_watchdog *watchdog; /* stops lighttpd and its CGIs, removes dir, if the test dies */
} dt_githttp;

/* Start lighttpd; basic auth accepts only user "x-access-token" with
 * @p token. NULL with a reason in @p why on failure. */
dt_githttp *dt_githttp_start(bool tls, const char *token, char *why, size_t why_len);

/* Make <repos>/<name>.git a bare clone of @p src (a path or URL; NULL: an
 * empty repository) with http.receivepack on; returns its URL (free()). */
char *dt_githttp_add_repo(dt_githttp *h, const char *name, const char *src);

/* Stop the server, remove the temp dir, free. NULL is fine. */
void dt_githttp_free(dt_githttp *h);

#endif /* DEVSYS_GITHTTP_FIXTURE_H */
