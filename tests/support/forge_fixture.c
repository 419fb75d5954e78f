/* The forge upstream and Prism fixture (see forge_fixture.h). */
#include "forge_fixture.h"
#include "testutil.h"
#include "watchdog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PY "/usr/bin/python3"
#define SPEC_REL "/.deps/node/node_modules/@octokit/openapi/generated/api.github.com.json"
#define PRISM_REL "/.deps/node/node_modules/.bin/prism"

static char *suite_dir;

/* The source tree: this file is <src>/tests/support/forge_fixture.c (cmake
 * compiles it by its absolute path). */
static const char *src_dir(void)
{
	static char dir[1024];
	if (!dir[0]) {
		const char *tail = strstr(__FILE__, "/tests/support/forge_fixture.c");
		snprintf(dir, sizeof(dir), "%.*s", tail ? (int)(tail - __FILE__) : 1, tail ? __FILE__ : ".");
	}
	return dir;
}
#define DEVSYS_SOURCE_DIR src_dir()
static pid_t up_pid, proxy_pid, mock_pid;
/* A watchdog, not PR_SET_PDEATHSIG: PRE_ALL's thread is not the runner's
 * life, and the suite dir must go too when the runner is killed. */
static dt_watchdog *suite_watchdog;

static void put_env(const char *which, const char *suffix, const char *value)
{
	char name[64];
	snprintf(name, sizeof(name), "DT_FORGE_%s%s", which, suffix);
	setenv(name, value, 1);
}

char *dt_forge_spec_path(void)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s", DEVSYS_SOURCE_DIR, SPEC_REL) < 0)
		return NULL;
	if (access(p, R_OK) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

static pid_t spawn_logged(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(log, "w", stdout);
		(void)f;
		dup2(STDOUT_FILENO, STDERR_FILENO);
		setpgid(0, 0);
		dt_watchdog_child(suite_watchdog); /* stopped with the runner even if POST_ALL never runs */
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static char *wait_port_file(const char *dir, int timeout_ms)
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

static pid_t start_prism(const char *kind, const char *spec, const char *upstream, int *port)
{
	char prism[1024], log[1024], portstr[16];
	snprintf(prism, sizeof(prism), "%s%s", DEVSYS_SOURCE_DIR, PRISM_REL);
	if (access(prism, X_OK) != 0)
		return -1;
	*port = dt_free_port();
	snprintf(portstr, sizeof(portstr), "%d", *port);
	snprintf(log, sizeof(log), "%s/prism-%s.log", suite_dir, kind);
	char *argv[] = { prism, (char *)kind, (char *)"--errors", (char *)"-h", (char *)"127.0.0.1", (char *)"-p",
		         portstr, (char *)spec, (char *)upstream, NULL };
	return spawn_logged(argv, log);
}

static void prism_ready(const char *which, pid_t pid, int port)
{
	char url[64];
	if (pid <= 0) {
		put_env(which, "_SKIP", "Prism is not installed: run scripts/bootstrap (scripts/deps/forge.npm)");
		return;
	}
	/* Prism loads GitHub's 13 MB description before it listens (~20 s here, more under load). */
	if (!dt_wait_port(port, 180000)) {
		put_env(which, "_SKIP", "Prism did not listen within 180 s; see its log in the suite directory");
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	put_env(which, "", url);
}

void dt_forge_suite_start(const char *mode, const char *token, unsigned flags)
{
	char *spec = dt_forge_spec_path(), script[1024], log[1024], *port;
	char url[64];
	int pport = 0, mport = 0;
	char why[512];

	if (!(suite_watchdog = dt_watchdog_start(why, sizeof(why)))) {
		put_env("UPSTREAM", "_SKIP", why);
		goto prism_skip;
	}
	suite_dir = dt_tmpdir("forge");
	setenv("DT_FORGE_DIR", suite_dir, 1);
	if (!getenv("DT_FORGE_KEEP"))
		dt_watchdog_dir(suite_watchdog, suite_dir);
	if (access(PY, X_OK) != 0) {
		put_env("UPSTREAM", "_SKIP", PY " is missing");
		goto prism_skip;
	}
	if (strcmp(mode, "github") == 0 && !spec) {
		put_env("UPSTREAM", "_SKIP", "GitHub's OpenAPI description is not installed: run scripts/bootstrap "
		                             "(scripts/deps/forge.npm)");
		goto prism_skip;
	}
	snprintf(script, sizeof(script), "%s/tests/support/forge_upstream.py", DEVSYS_SOURCE_DIR);
	snprintf(log, sizeof(log), "%s/upstream.log", suite_dir);
	{
		char *argv[10] = { (char *)PY, script, suite_dir, (char *)"--mode", (char *)mode };
		int n = 5;
		if (spec) {
			argv[n++] = (char *)"--spec";
			argv[n++] = spec;
		}
		if (token) {
			argv[n++] = (char *)"--token";
			argv[n++] = (char *)token;
		}
		up_pid = spawn_logged(argv, log);
	}
	if (!(port = wait_port_file(suite_dir, 20000))) {
		put_env("UPSTREAM", "_SKIP", "tests/support/forge_upstream.py did not start; see upstream.log");
		goto prism_skip;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%s", port);
	free(port);
	put_env("UPSTREAM", "", url);
	if (!(flags & DT_FORGE_PRISM))
		goto out;
	/* Both load at once: the wait is that of the slower. */
	proxy_pid = start_prism("proxy", spec, url, &pport);
	mock_pid = start_prism("mock", spec, NULL, &mport);
	prism_ready("PROXY", proxy_pid, pport);
	prism_ready("MOCK", mock_pid, mport);
	goto out;
prism_skip:
	put_env("PROXY", "_SKIP", "the upstream did not start");
	put_env("MOCK", "_SKIP", "the upstream did not start");
out:
	free(spec);
}

void dt_forge_suite_stop(void)
{
	pid_t *pids[] = { &proxy_pid, &mock_pid, &up_pid };
	for (size_t i = 0; i < 3; i++)
		if (*pids[i] > 0) {
			dt_stop(*pids[i], SIGTERM, 5000);
			*pids[i] = 0;
		}
	if (suite_dir && !getenv("DT_FORGE_KEEP"))
		dt_rmrf(suite_dir);
	free(suite_dir);
	suite_dir = NULL;
	dt_watchdog_disarm(suite_watchdog);
	suite_watchdog = NULL;
}

const char *dt_forge_url(const char *which)
{
	char name[64], sname[64];
	const char *v, *skip;
	const char *key = strcmp(which, "proxy") == 0 ? "PROXY" : strcmp(which, "mock") == 0 ? "MOCK" : "UPSTREAM";
	snprintf(name, sizeof(name), "DT_FORGE_%s", key);
	snprintf(sname, sizeof(sname), "DT_FORGE_%s_SKIP", key);
	v = getenv(name);
	skip = getenv(sname);
	if (!v) {
		if (!skip)
			cr_assert_fail("dt_forge_suite_start() was not called in a PRE_ALL hook");
		dt_skip("%s", skip);
	}
	return v;
}

char *dt_forge_log_text(void)
{
	char path[1024];
	char *t;
	snprintf(path, sizeof(path), "%s/requests.jsonl", getenv("DT_FORGE_DIR"));
	t = dt_read_file(path, NULL);
	return t ? t : strdup("");
}

int dt_forge_ctl(const char *what, const char *json)
{
	const char *base = dt_forge_url("upstream");
	int port = atoi(strrchr(base, ':') + 1), fd, status = -1;
	struct sockaddr_in sa = { 0 };
	char req[65536], resp[512];
	ssize_t n;
	size_t len = strlen(json);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	int w = snprintf(req, sizeof(req),
	                 "POST /_ctl/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", what, len, json);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && w > 0 && (size_t)w < sizeof(req) &&
	    write(fd, req, (size_t)w) == w && (n = read(fd, resp, sizeof(resp) - 1)) > 12) {
		resp[n] = '\0';
		status = atoi(resp + 9);
	}
	close(fd);
	return status;
}

static void prism_log_path(char *out, size_t cap, const char *which)
{
	snprintf(out, cap, "%s/prism-%s.log", getenv("DT_FORGE_DIR"), which);
}

long dt_forge_prism_log_size(const char *which)
{
	char path[1024];
	struct stat st;
	prism_log_path(path, sizeof(path), which);
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

char *dt_forge_prism_log_since(const char *which, long offset)
{
	char path[1024];
	size_t len = 0;
	char *t;
	prism_log_path(path, sizeof(path), which);
	t = dt_read_file(path, &len);
	if (!t)
		return strdup("");
	if (offset > 0 && (size_t)offset <= len)
		memmove(t, t + offset, len - (size_t)offset + 1);
	return t;
}

/* Prism's mock logs "Violation: request..." and still answers; its proxy
 * refuses such a request with "errors#UNPROCESSABLE_ENTITY" unsent. */
static const char *next_violation(const char *p)
{
	const char *a = strstr(p, "Violation: request"), *b = strstr(p, "errors#UNPROCESSABLE_ENTITY");
	return !a ? b : !b ? a : a < b ? a : b;
}

int dt_forge_request_violations(const char *text, char *first, size_t first_len)
{
	int n = 0;
	const char *p = text;
	if (first && first_len)
		first[0] = '\0';
	while ((p = next_violation(p)) != NULL) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		if (n == 0 && first && first_len)
			snprintf(first, first_len, "%.*s", (int)l, p);
		n++;
		p += l;
	}
	return n;
}
