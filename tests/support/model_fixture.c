/* The scripted model server fixture (see model_fixture.h). */
#include "model_fixture.h"
#include "testutil.h"
#include "watchdog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PY "/usr/bin/python3"
#define OPENCODE_REL "/.deps/node/node_modules/.bin/opencode"

static char *suite_dir;
static pid_t server_pid;
static dt_watchdog *suite_watchdog;

/* The source tree: this file is <src>/tests/support/model_fixture.c. */
static const char *src_dir(void)
{
	static char dir[1024];
	if (!dir[0]) {
		const char *tail = strstr(__FILE__, "/tests/support/model_fixture.c");
		snprintf(dir, sizeof(dir), "%.*s", tail ? (int)(tail - __FILE__) : 1, tail ? __FILE__ : ".");
	}
	return dir;
}

void dt_model_suite_start(void)
{
	char script[1024], portf[1024], log[1024], out[1024], *port = NULL;
	struct timespec ts = { 0, 20 * 1000000 };
	char why[512];
	/* A watchdog, not PR_SET_PDEATHSIG: PRE_ALL's thread is not the runner's
	 * life, and the suite dir must go too when the runner is killed. */
	if (!(suite_watchdog = dt_watchdog_start(why, sizeof(why)))) {
		setenv("DT_MODEL_SKIP", why, 1);
		return;
	}
	suite_dir = dt_tmpdir("model");
	setenv("DT_MODEL_DIR", suite_dir, 1);
	if (!getenv("DT_KEEP"))
		dt_watchdog_dir(suite_watchdog, suite_dir);
	if (access(PY, X_OK) != 0) {
		setenv("DT_MODEL_SKIP", PY " is missing", 1);
		return;
	}
	snprintf(script, sizeof(script), "%s/tests/support/model_server.py", src_dir());
	snprintf(portf, sizeof(portf), "%s/port", suite_dir);
	snprintf(log, sizeof(log), "%s/requests.jsonl", suite_dir);
	snprintf(out, sizeof(out), "%s/server.log", suite_dir);
	server_pid = fork();
	if (server_pid == 0) {
		FILE *f = freopen(out, "w", stdout);
		(void)f;
		dup2(STDOUT_FILENO, STDERR_FILENO);
		setpgid(0, 0);
		dt_watchdog_child(suite_watchdog);
		execl(PY, PY, script, "--port-file", portf, "--log", log, (char *)NULL);
		_exit(127);
	}
	/* the server writes the port file once it listens: poll for it */
	for (int waited = 0; waited < 20000 && !port; waited += 20) {
		if (!(port = dt_read_file(portf, NULL)))
			nanosleep(&ts, NULL);
	}
	if (!port) {
		setenv("DT_MODEL_SKIP", "the model server did not start within 20 s; see server.log", 1);
		return;
	}
	port[strcspn(port, "\n")] = '\0';
	{
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%s/v1", port);
		setenv("DT_MODEL_URL", url, 1);
		setenv("DT_MODEL_PORT", port, 1);
		setenv("DT_MODEL_LOG", log, 1);
	}
	free(port);
}

void dt_model_suite_stop(void)
{
	if (server_pid > 0)
		dt_stop(server_pid, SIGTERM, 5000);
	server_pid = 0;
	if (suite_dir && !getenv("DT_KEEP")) /* DT_KEEP=1 keeps the requests for a look */
		dt_rmrf(suite_dir);
	free(suite_dir);
	suite_dir = NULL;
	dt_watchdog_disarm(suite_watchdog);
	suite_watchdog = NULL;
}

void dt_model_suite_pids(pid_t *server, pid_t *watchdog)
{
	*server = server_pid > 0 ? server_pid : 0;
	*watchdog = suite_watchdog ? suite_watchdog->pid : 0;
}

const char *dt_model_url(void)
{
	const char *skip = getenv("DT_MODEL_SKIP"), *url = getenv("DT_MODEL_URL");
	if (skip || !url)
		dt_skip("%s", skip ? skip : "the model server fixture was not started");
	return url;
}

const char *dt_model_opencode(void)
{
	static char path[1024];
	snprintf(path, sizeof(path), "%s%s", src_dir(), OPENCODE_REL);
	if (access(path, X_OK) != 0)
		dt_skip("opencode is not installed: run scripts/bootstrap (scripts/deps/opencode.npm)");
	return path;
}

/* PUT @p body to @p path of the server; the HTTP status or -1. */
static int put(const char *path, const char *body)
{
	const char *port = getenv("DT_MODEL_PORT");
	struct sockaddr_in sa = { 0 };
	char head[256], resp[256];
	int fd, status = -1;
	ssize_t n;
	if (!port || (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(port));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(head, sizeof(head),
	         "PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	         "Connection: close\r\n\r\n",
	         path, strlen(body));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(fd, head, strlen(head)) > 0 &&
	    write(fd, body, strlen(body)) >= 0 && (n = read(fd, resp, sizeof(resp) - 1)) > 12) {
		resp[n] = '\0';
		status = atoi(resp + 9);
	}
	close(fd);
	return status;
}

int dt_model_script(const char *json)
{
	dt_model_url();
	return put("/_script", json) == 200 ? 0 : -1;
}

char *dt_model_log_text(void)
{
	const char *log = getenv("DT_MODEL_LOG");
	return log ? dt_read_file(log, NULL) : NULL;
}
