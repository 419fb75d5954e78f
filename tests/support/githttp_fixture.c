/*
 * lighttpd + git-http-backend fixture (see githttp_fixture.h).
 */
#include "githttp_fixture.h"
#include "testutil.h"
#include "watchdog.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *fmt(const char *f, const char *a)
{
	char *s = NULL;
	if (asprintf(&s, f, a) < 0)
		return NULL;
	return s;
}

static bool make_tls(dt_githttp *h, char *why, size_t why_len)
{
	int st = dt_sh("cd '%s' && "
	               "openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null && "
	               "openssl req -x509 -new -key ca.key -sha256 -days 2 -subj '/CN=devsys test CA' "
	               "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
	               "  -out ca.pem 2>/dev/null && "
	               "openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null && "
	               "openssl req -new -key server.key -subj '/CN=localhost' -out server.csr 2>/dev/null && "
	               "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n"
	               "extendedKeyUsage=serverAuth\\n' > ext.cnf && "
	               "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	               "  -sha256 -extfile ext.cnf -out server.pem 2>/dev/null",
	               h->dir);
	if (st != 0) {
		snprintf(why, why_len, "openssl could not make the test certificates (exit %d)", st);
		return false;
	}
	h->ca_file = fmt("%s/ca.pem", h->dir);
	return true;
}

dt_githttp *dt_githttp_start(bool tls, const char *token, char *why, size_t why_len)
{
	dt_githttp *h;
	char *lighttpd = dt_which("lighttpd");
	char *conf = NULL, *text = NULL, *users = NULL, *logp = NULL;
	char *argv[6];

	if (!lighttpd) {
		snprintf(why, why_len, "lighttpd not installed (apt-get install lighttpd)");
		return NULL;
	}
	if (!dt_exists("/usr/lib/git-core/git-http-backend")) {
		snprintf(why, why_len, "git-http-backend not installed (apt-get install git)");
		free(lighttpd);
		return NULL;
	}
	if (tls && !dt_exists("/usr/lib/lighttpd/mod_openssl.so")) {
		snprintf(why, why_len, "lighttpd mod_openssl missing (apt-get install lighttpd-mod-openssl)");
		free(lighttpd);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	/* A watchdog rather than PR_SET_PDEATHSIG: the CGI children of a dead
	 * lighttpd would be orphaned, and the temp dir must go too. */
	if (h && !(h->watchdog = dt_watchdog_start(why, why_len))) {
		free(h);
		free(lighttpd);
		return NULL;
	}
	if (h && (h->dir = dt_tmpdir("githttp")))
		dt_watchdog_dir(h->watchdog, h->dir);
	if (!h || !h->dir) {
		/* without its directory the server would start on a config path of "(null)" and never stop */
		snprintf(why, why_len, "githttp fixture: cannot create a temp dir under $DEVSYS_TEST_TMP");
		dt_githttp_free(h);
		free(lighttpd);
		return NULL;
	}
	h->tls = tls;
	h->repos = fmt("%s/repos", h->dir);
	h->access_log = fmt("%s/access.log", h->dir);
	h->error_log = fmt("%s/error.log", h->dir);
	dt_sh("mkdir -p '%s' '%s/www'", h->repos, h->dir);
	if (tls && !make_tls(h, why, why_len))
		goto fail;
	users = fmt("%s/users", h->dir);
	{
		char line[512];
		snprintf(line, sizeof(line), "x-access-token:%s\n", token);
		dt_write_file(users, line);
	}
	h->port = dt_free_port();
	if (asprintf(&text,
	             "server.document-root = \"%s/www\"\n"
	             "server.bind = \"127.0.0.1\"\n"
	             "server.port = %d\n"
	             "server.errorlog = \"%s\"\n"
	             "server.modules = ( \"mod_access\", \"mod_alias\", \"mod_setenv\", \"mod_auth\", "
	             "\"mod_authn_file\", \"mod_cgi\", \"mod_accesslog\"%s )\n"
	             "accesslog.filename = \"%s\"\n"
	             "server.breakagelog = \"%s\"\n"
	             "alias.url = ( \"/git/\" => \"/usr/lib/git-core/git-http-backend/\" )\n"
	             "$HTTP[\"url\"] =~ \"^/git/\" {\n"
	             "  cgi.assign = ( \"\" => \"\" )\n"
	             "  setenv.set-environment = ( \"GIT_PROJECT_ROOT\" => \"%s\", \"GIT_HTTP_EXPORT_ALL\" => \"1\", "
	             "\"GIT_CONFIG_NOSYSTEM\" => \"1\", \"HOME\" => \"%s\" )\n"
	             "}\n"
	             "auth.backend = \"plain\"\n"
	             "auth.backend.plain.userfile = \"%s\"\n"
	             "auth.require = ( \"/git/\" => ( \"method\" => \"basic\", \"realm\" => \"git\", "
	             "\"require\" => \"valid-user\" ) )\n"
	             "%s%s%s%s%s",
	             h->dir, h->port, h->error_log, tls ? ", \"mod_openssl\"" : "", h->access_log, h->error_log,
	             h->repos, h->dir, users, tls ? "ssl.engine = \"enable\"\nssl.pemfile = \"" : "",
	             tls ? h->dir : "", tls ? "/server.pem\"\nssl.privkey = \"" : "", tls ? h->dir : "",
	             tls ? "/server.key\"\n" : "") < 0)
		goto fail;
	conf = fmt("%s/lighttpd.conf", h->dir);
	dt_write_file(conf, text);
	logp = fmt("%s/lighttpd.out", h->dir);
	argv[0] = lighttpd;
	argv[1] = "-D";
	argv[2] = "-f";
	argv[3] = conf;
	argv[4] = NULL;
	h->pid = dt_watchdog_spawn(h->watchdog, argv, logp);
	if (h->pid <= 0 || !dt_wait_port(h->port, 10000)) {
		char *out = dt_read_file(logp, NULL);
		snprintf(why, why_len, "lighttpd did not start on port %d: %.300s", h->port, out ? out : "");
		free(out);
		goto fail;
	}
	if (tls)
		asprintf(&h->base_url, "https://localhost:%d/git/", h->port);
	else
		asprintf(&h->base_url, "http://127.0.0.1:%d/git/", h->port);
	free(lighttpd);
	free(conf);
	free(text);
	free(users);
	free(logp);
	return h;
fail:
	free(lighttpd);
	free(conf);
	free(text);
	free(users);
	free(logp);
	dt_githttp_free(h);
	return NULL;
}

char *dt_githttp_add_repo(dt_githttp *h, const char *name, const char *src)
{
	char *url = NULL;
	int st;
	if (src)
		st = dt_sh("git clone -q --bare '%s' '%s/%s.git' && git -C '%s/%s.git' config http.receivepack true", src,
		           h->repos, name, h->repos, name);
	else
		st = dt_sh("git init -q --bare '%s/%s.git' && git -C '%s/%s.git' config http.receivepack true", h->repos,
		           name, h->repos, name);
	if (st != 0)
		return NULL;
	if (asprintf(&url, "%s%s.git", h->base_url, name) < 0)
		return NULL;
	return url;
}

void dt_githttp_free(dt_githttp *h)
{
	if (!h)
		return;
	if (h->pid > 0)
		dt_stop(h->pid, SIGTERM, 5000);
	if (h->dir)
		dt_rmrf(h->dir);
	dt_watchdog_disarm(h->watchdog);
	free(h->dir);
	free(h->repos);
	free(h->ca_file);
	free(h->base_url);
	free(h->access_log);
	free(h->error_log);
	free(h);
}
