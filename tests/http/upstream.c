/* The scripted upstream fixture (see upstream.h). */
#include "upstream.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ENV_DIR "DT_HTTP_UPSTREAM_DIR"
#define ENV_SKIP "DT_HTTP_UPSTREAM_SKIP"
#define PY "/usr/bin/python3"

static char *suite_dir;
static pid_t pids[3];

static pid_t spawn(const char *dir, const char *const *extra)
{
	char script[1024], log[1024];
	pid_t pid;
	snprintf(script, sizeof(script), "%s/tests/support/http_upstream.py", DEVSYS_SOURCE_DIR);
	snprintf(log, sizeof(log), "%s/server.log", dir);
	pid = fork();
	if (pid == 0) {
		FILE *f = freopen(log, "w", stdout);
		(void)f;
		dup2(STDOUT_FILENO, STDERR_FILENO);
		/* Stop with the runner even if POST_ALL never runs. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		const char *argv[10] = { PY, script, dir };
		for (int i = 0; extra && extra[i] && i < 6; i++)
			argv[3 + i] = extra[i];
		execv(PY, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Poll for <dir>/port with a deadline; its content, or NULL. */
static char *wait_ready(const char *dir, int timeout_ms)
{
	char path[1024];
	struct timespec ts = { 0, 20 * 1000000 };
	snprintf(path, sizeof(path), "%s/port", dir);
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		char *s = dt_read_file(path, NULL);
		if (s)
			return s;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* A test CA (ECDSA P-256), a server certificate for localhost and
 * 127.0.0.1, and a client certificate, all signed by it, in <dir>. */
static bool make_certs(const char *dir)
{
	return dt_sh("cd '%s' && exec >openssl.log 2>&1 && "
	             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
	             "  -subj /CN=devsys-test-ca -keyout ca.key -out ca.pem && "
	             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost "
	             "  -keyout server.key -out server.csr && "
	             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext && "
	             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	             "  -extfile server.ext -out server.pem && "
	             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=devsys-client "
	             "  -keyout client.key -out client.csr && "
	             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem",
	             dir) == 0;
}

static void start_tls(void)
{
	char dir[512], cert[600], key[600], ca[600], *port;
	snprintf(dir, sizeof(dir), "%s/tls", suite_dir);
	dt_sh("mkdir -p '%s/scripts'", dir);
	if (!make_certs(dir)) {
		setenv("DT_HTTP_UPSTREAM_TLS_SKIP", "openssl could not make the test certificates (see tls/openssl.log)", 1);
		return;
	}
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	const char *extra[] = { "--tls", cert, key, ca, NULL };
	pids[2] = spawn(dir, extra);
	if ((port = wait_ready(dir, 10000)) == NULL) {
		setenv("DT_HTTP_UPSTREAM_TLS_SKIP", "the https upstream did not start; see tls/server.log", 1);
		return;
	}
	char base[64];
	snprintf(base, sizeof(base), "https://localhost:%s", port);
	setenv("DT_HTTP_UPSTREAM_TLS_BASE", base, 1);
	free(port);
}

void up_suite_start(void)
{
	char tcp[512], ux[512], sock[600], *port, *u;
	if (access(PY, X_OK) != 0) {
		setenv(ENV_SKIP, PY " is missing (scripts/deps/http.apt)", 1);
		return;
	}
	suite_dir = dt_sockdir("http");
	snprintf(tcp, sizeof(tcp), "%s/tcp", suite_dir);
	snprintf(ux, sizeof(ux), "%s/unix", suite_dir);
	snprintf(sock, sizeof(sock), "%s/u.sock", ux);
	dt_sh("mkdir -p '%s/scripts' '%s/scripts'", tcp, ux);
	const char *unix_args[] = { "--unix", sock, NULL };
	pids[0] = spawn(tcp, NULL);
	pids[1] = spawn(ux, unix_args);
	port = wait_ready(tcp, 10000);
	u = wait_ready(ux, 10000);
	if (!port || !u) {
		setenv(ENV_SKIP, "the scripted upstream (tests/support/http_upstream.py) did not start; see its server.log", 1);
	} else {
		char base[64];
		snprintf(base, sizeof(base), "http://127.0.0.1:%s", port);
		setenv("DT_HTTP_UPSTREAM_BASE", base, 1);
		setenv("DT_HTTP_UPSTREAM_SOCK", sock, 1);
		setenv(ENV_DIR, suite_dir, 1);
	}
	free(port);
	free(u);
	if (suite_dir)
		start_tls();
}

void up_suite_stop(void)
{
	for (int i = 0; i < 3; i++)
		if (pids[i] > 0)
			dt_stop(pids[i], SIGTERM, 5000);
	if (suite_dir)
		dt_rmrf(suite_dir);
	free(suite_dir);
	suite_dir = NULL;
}

static const char *need(const char *var)
{
	const char *v = getenv(var), *skip = getenv(ENV_SKIP);
	if (!v) {
		if (!skip)
			cr_assert_fail("up_suite_start() was not called in a PRE_ALL hook");
		dt_skip("%s", skip);
	}
	return v;
}

const char *up_base(void) { return need("DT_HTTP_UPSTREAM_BASE"); }
const char *up_sock(void) { return need("DT_HTTP_UPSTREAM_SOCK"); }

const char *up_tls_base(void)
{
	const char *v = getenv("DT_HTTP_UPSTREAM_TLS_BASE"), *skip = getenv("DT_HTTP_UPSTREAM_TLS_SKIP");
	need(ENV_DIR);
	if (!v)
		dt_skip("%s", skip ? skip : "the https upstream was not started");
	return v;
}

char *up_tls_file(const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/tls/%s", need(ENV_DIR), name) < 0)
		return NULL;
	return p;
}

void up_script(const char *name, const char *json_text)
{
	const char *dir = need(ENV_DIR);
	static const char *const kinds[] = { "tcp", "unix", "tls" };
	json_error_t e;
	json_t *check = json_loads(json_text, 0, &e);
	cr_assert_not_null(check, "bad script for %s: %s", name, e.text);
	json_decref(check);
	for (int i = 0; i < 3; i++) {
		char tmp[1024], path[1024];
		snprintf(tmp, sizeof(tmp), "%s/%s/scripts/.%s.tmp", dir, kinds[i], name);
		snprintf(path, sizeof(path), "%s/%s/scripts/%s.json", dir, kinds[i], name);
		cr_assert(dt_write_file(tmp, json_text));
		cr_assert_eq(rename(tmp, path), 0);
	}
}

json_t *up_log(const char *name)
{
	const char *dir = need(ENV_DIR);
	char path[1024];
	json_t *all = json_array();
	static const char *const kinds[] = { "tcp", "unix", "tls" };
	for (int i = 0; i < 3; i++) {
		char *text, *line, *save = NULL;
		snprintf(path, sizeof(path), "%s/%s/log/%s.jsonl", dir, kinds[i], name);
		if (!(text = dt_read_file(path, NULL)))
			continue;
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			json_t *j = json_loads(line, 0, NULL);
			cr_assert_not_null(j, "bad log line: %s", line);
			json_array_append_new(all, j);
		}
		free(text);
	}
	return all;
}

int up_conns(const char *name)
{
	json_t *log = up_log(name), *e;
	size_t i;
	int seen[256] = { 0 }, n = 0;
	json_array_foreach(log, i, e) {
		int c = (int)json_integer_value(json_object_get(e, "conn"));
		if (c > 0 && c < 256 && !seen[c]++)
			n++;
	}
	json_decref(log);
	return n;
}
