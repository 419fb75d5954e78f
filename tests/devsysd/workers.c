/*
 * devsysd as a complete manager, driven over HTTP: with --workers it runs
 * what POST /api/tasks queues; POST /api/tasks/<id>/cancel reaches a task
 * that a separate `devsys worker` process runs; /metrics counts workers,
 * claims and the queue; GET /api/tasks/<id>/agent serves logs/agent.jsonl.
 */
#include "testutil.h"
#include <devsys.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "test-token-0123456789abcdef"

static char *dir, *ws;
static int port;
static pid_t daemon_pid, worker_pid;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup(void)
{
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	dir = dt_tmpdir("devsysd-workers");
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t && echo hello > README &&"
	                   " git add . && git commit -qm init && git push -q origin main",
	                   dir),
	             0);
	cr_assert(asprintf(&ws, "%s/ws", dir) > 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	daemon_pid = worker_pid = 0;
}

static void teardown(void)
{
	if (worker_pid > 0)
		dt_stop(worker_pid, SIGKILL, 5000);
	if (daemon_pid > 0)
		dt_stop(daemon_pid, SIGTERM, 10000);
	curl_global_cleanup();
	if (dir)
		dt_rmrf(dir);
	free(ws);
	free(dir);
}

TestSuite(devsysd_workers, .init = setup, .fini = teardown, .timeout = 120);

static void start_daemon(const char *workers)
{
	char portstr[16], log[4096];
	const char *bin = getenv("DEVSYSD");
	char *argv[16];
	int n = 0;
	cr_assert_not_null(bin, "DEVSYSD is not set by the build");
	port = dt_free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(log, sizeof(log), "%s/devsysd.log", dir);
	argv[n++] = (char *)bin;
	argv[n++] = "--workspace";
	argv[n++] = ws;
	argv[n++] = "--port";
	argv[n++] = portstr;
	argv[n++] = "--grace";
	argv[n++] = "2";
	if (workers) {
		argv[n++] = "--workers";
		argv[n++] = (char *)workers;
		argv[n++] = "--lease-ms";
		argv[n++] = "3000";
	}
	argv[n] = NULL;
	setenv("DEVSYSD_TOKEN", TOKEN, 1);
	daemon_pid = dt_spawn(argv, log);
	cr_assert_gt(daemon_pid, 0);
	if (!dt_wait_port(port, 10000)) {
		char *l = dt_read_file(log, NULL);
		cr_assert_fail("devsysd did not listen: %s", l ? l : "(no log)");
	}
}

typedef struct resp {
	long status;
	devsys_buf body;
} resp;

static size_t body_cb(char *p, size_t s, size_t n, void *ud)
{
	devsys_buf_put(ud, p, s * n);
	return s * n;
}

static resp http(const char *method, const char *path, const char *body)
{
	resp r;
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	char url[2048];
	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	if (!r.body.ptr)
		devsys_buf_puts(&r.body, "");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

static json_t *get_json(const char *path)
{
	resp r = http("GET", path, NULL);
	json_t *j;
	cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body.ptr);
	j = json_loads(r.body.ptr, 0, NULL);
	cr_assert(j, "GET %s: %s", path, r.body.ptr);
	devsys_buf_dispose(&r.body);
	return j;
}

static char *state_of(const char *id)
{
	char path[256];
	json_t *j;
	char *s;
	snprintf(path, sizeof(path), "/api/tasks/%s", id);
	j = get_json(path);
	s = strdup(json_string_value(json_object_get(j, "state")) ? json_string_value(json_object_get(j, "state")) : "");
	json_decref(j);
	return s;
}

/* Poll until task @p id is in state @p want (60 s). */
static void wait_state(const char *id, const char *want)
{
	long long until = now_ms() + 60000;
	char *s = NULL;
	for (;;) {
		free(s);
		s = state_of(id);
		if (!strcmp(s, want) || now_ms() > until)
			break;
		usleep(50000);
	}
	cr_assert_str_eq(s, want, "task %s (devsysd.log in %s)", id, dir);
	free(s);
}

/* The value of the Prometheus series @p series ("name{labels}" as printed), or -1. */
static long long metric(const char *series)
{
	resp r = http("GET", "/metrics", NULL);
	char needle[256], *at;
	long long v = -1;
	cr_assert_eq(r.status, 200);
	snprintf(needle, sizeof(needle), "\n%s ", series);
	if ((at = strstr(r.body.ptr, needle)))
		v = atoll(at + strlen(needle));
	devsys_buf_dispose(&r.body);
	return v;
}

/* Poll until @p series has @p want (the worker completes a task just after its state is written; 10 s). */
static long long wait_metric(const char *series, long long want)
{
	long long until = now_ms() + 10000, v;
	while ((v = metric(series)) != want && now_ms() < until)
		usleep(20000);
	return v;
}

static char *spec(const char *id, const char *agent_script)
{
	char path[4096], *s;
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, agent_script));
	cr_assert(asprintf(&s,
	                   "id: %s\ntitle: Task %s over HTTP\nprompt: Append a line to README.\n"
	                   "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	                   "agent:\n  command: [/bin/sh, %s]\n"
	                   "tests:\n  command: [/bin/true]\nrunner: inproc\n",
	                   id, id, dir, path) > 0);
	return s;
}

Test(devsysd_workers, post_queues_and_the_embedded_worker_runs_it)
{
	char *body = spec("web1", "echo from-web1 >> README\n");
	resp r;
	json_t *j;
	start_daemon("1");
	/* the controls: nothing claimed yet, one worker alive, nothing queued */
	cr_assert_eq(metric("devsysd_worker_claims_total"), 0);
	cr_assert_eq(metric("devsys_workers{state=\"alive\"}"), 1);
	cr_assert_eq(metric("devsys_claims_total{how=\"completed\"}"), 0);
	r = http("POST", "/api/tasks", body);
	cr_assert_eq(r.status, 201, "%s", r.body.ptr);
	j = json_loads(r.body.ptr, 0, NULL);
	cr_assert(j, "%s", r.body.ptr);
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "web1");
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "queued", "%s", r.body.ptr);
	cr_assert_str_eq(json_string_value(json_object_get(j, "location")), "/api/tasks/web1");
	json_decref(j);
	devsys_buf_dispose(&r.body);
	wait_state("web1", "awaiting-review");
	cr_assert_eq(wait_metric("devsysd_worker_completed_total", 1), 1);
	cr_assert_eq(metric("devsysd_worker_claims_total"), 1);
	cr_assert_eq(metric("devsys_claims_total{how=\"completed\"}"), 1);
	cr_assert_eq(metric("devsys_queue_tasks{lease=\"free\"}"), 0);
	cr_assert_eq(metric("devsys_queue_tasks{lease=\"held\"}"), 0);
	cr_assert_eq(metric("devsys_worker_lease_expiries_total"), 0);
	cr_assert_eq(dt_sh("git --git-dir='%s/remote.git' log -1 --format=%%s refs/heads/task/web1 >/dev/null", dir), 0,
	             "the task branch was pushed");
	free(body);
}

Test(devsysd_workers, agent_endpoint_serves_agent_jsonl)
{
	static const char lines[] = "{\"type\":\"step_start\"}\n{\"type\":\"step_finish\",\"tokens\":{\"input\":3}}\n";
	char *body = spec("ag1", "echo from-ag1 >> README\n"), p[4096];
	resp r;
	start_daemon("1");
	r = http("POST", "/api/tasks", body);
	cr_assert_eq(r.status, 201, "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	wait_state("ag1", "awaiting-review");
	/* a command agent keeps no event stream: 404, naming the file */
	r = http("GET", "/api/tasks/ag1/agent", NULL);
	cr_assert_eq(r.status, 404, "%s", r.body.ptr);
	cr_assert(strstr(r.body.ptr, "agent.jsonl"), "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	/* as an adapter with events (opencode) writes it */
	snprintf(p, sizeof(p), "%s/tasks/ag1/logs/agent.jsonl", ws);
	cr_assert(dt_write_file(p, lines));
	r = http("GET", "/api/tasks/ag1/agent", NULL);
	cr_assert_eq(r.status, 200, "%s", r.body.ptr);
	cr_assert_str_eq(r.body.ptr, lines);
	devsys_buf_dispose(&r.body);
	/* a symbolic link out of the task folder is not followed */
	cr_assert_eq(dt_sh("rm '%s' && ln -s /etc/passwd '%s'", p, p), 0);
	r = http("GET", "/api/tasks/ag1/agent", NULL);
	cr_assert_eq(r.status, 404, "%s", r.body.ptr);
	cr_assert(!strstr(r.body.ptr, "root:"), "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	r = http("GET", "/api/tasks/nosuch/agent", NULL);
	cr_assert_eq(r.status, 404);
	devsys_buf_dispose(&r.body);
	free(body);
}

static pid_t read_pid(const char *path, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	char *s = NULL;
	pid_t pid = 0;
	while (!(s = dt_read_file(path, NULL)) && now_ms() < until)
		usleep(20000);
	if (s) {
		pid = (pid_t)atoi(s);
		free(s);
	}
	return pid;
}

static bool gone_within(pid_t pid, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	while (kill(pid, 0) == 0 && now_ms() < until)
		usleep(20000);
	return kill(pid, 0) != 0;
}

/* devsysd runs no worker here; the task's owner is a `devsys worker` process of its own. */
Test(devsysd_workers, cancel_reaches_a_separate_worker)
{
	char script[4096], pidfile[4096], log[4096], *body;
	const char *cli = getenv("DEVSYS_CLI");
	char *argv[12];
	resp r;
	pid_t agent;
	cr_assert_not_null(cli, "DEVSYS_CLI is not set by the build");
	snprintf(pidfile, sizeof(pidfile), "%s/slow.pid", dir);
	snprintf(script, sizeof(script), "echo $$ > '%s.tmp' && mv '%s.tmp' '%s'\nexec sleep 60\n", pidfile, pidfile,
	         pidfile);
	body = spec("slow", script);
	start_daemon(NULL);
	r = http("POST", "/api/tasks", body);
	cr_assert_eq(r.status, 201, "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	{
		char *s = state_of("slow");
		cr_assert_str_eq(s, "queued", "devsysd without --workers runs nothing");
		free(s);
	}
	argv[0] = (char *)cli;
	argv[1] = "--workspace";
	argv[2] = ws;
	argv[3] = "worker";
	argv[4] = "--id";
	argv[5] = "ext";
	argv[6] = "--lease-ms";
	argv[7] = "1500";
	argv[8] = NULL;
	snprintf(log, sizeof(log), "%s/worker.log", dir);
	worker_pid = dt_spawn(argv, log);
	cr_assert((agent = read_pid(pidfile, 30000)) > 0, "the worker did not start the agent");
	cr_assert(!gone_within(agent, 300), "control: the agent runs before the cancel");
	cr_assert_eq(metric("devsys_workers{state=\"alive\"}"), 1, "the separate worker beats into the registry");
	r = http("POST", "/api/tasks/slow/cancel", "");
	cr_assert_eq(r.status, 202, "%s", r.body.ptr);
	cr_assert(strstr(r.body.ptr, "\"via\":\"cancel-request\""), "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	cr_assert(gone_within(agent, 5000), "the agent still runs after the cancel");
	wait_state("slow", "canceled");
	cr_assert_eq(kill(worker_pid, 0), 0, "the worker goes on after one task's cancel");
	r = http("POST", "/api/tasks/slow/cancel", "");
	cr_assert_eq(r.status, 409, "a second cancel: %s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	{
		int st = dt_stop(worker_pid, SIGTERM, 10000);
		worker_pid = 0;
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "the stopped worker: status %d", st);
	}
	cr_assert_eq(wait_metric("devsys_workers{state=\"stopped\"}", 1), 1, "its last beat says it stopped");
	free(body);
}

/* The embedded worker's own run is canceled in place; devsysd and its worker go on. */
Test(devsysd_workers, cancel_of_a_task_the_embedded_worker_runs)
{
	char script[4096], pidfile[4096], *body, *after;
	resp r;
	pid_t agent;
	snprintf(pidfile, sizeof(pidfile), "%s/inner.pid", dir);
	snprintf(script, sizeof(script), "echo $$ > '%s.tmp' && mv '%s.tmp' '%s'\nexec sleep 60\n", pidfile, pidfile,
	         pidfile);
	body = spec("inner", script);
	start_daemon("1");
	r = http("POST", "/api/tasks", body);
	cr_assert_eq(r.status, 201, "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	cr_assert((agent = read_pid(pidfile, 30000)) > 0, "the embedded worker did not start the agent");
	cr_assert(!gone_within(agent, 300), "control: the agent runs before the cancel");
	r = http("POST", "/api/tasks/inner/cancel", "");
	cr_assert_eq(r.status, 202, "%s", r.body.ptr);
	cr_assert(strstr(r.body.ptr, "\"via\":\"this-process\""), "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	cr_assert(gone_within(agent, 5000), "the agent still runs after the cancel");
	wait_state("inner", "canceled");
	cr_assert_eq(wait_metric("devsysd_worker_completed_total", 1), 1, "the worker completed the canceled task");
	cr_assert_eq(kill(daemon_pid, 0), 0, "devsysd goes on");
	/* and its worker runs the next task */
	free(body);
	body = spec("after", "echo after >> README\n");
	r = http("POST", "/api/tasks", body);
	cr_assert_eq(r.status, 201, "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	wait_state("after", "awaiting-review");
	after = state_of("inner");
	cr_assert_str_eq(after, "canceled");
	free(after);
	free(body);
}

/* SIGTERM: the embedded worker's running task gets the grace period (2 s), then it is handed back. */
Test(devsysd_workers, sigterm_hands_the_running_task_back)
{
	char script[4096], pidfile[4096], *body, *s;
	resp r;
	pid_t agent;
	int st;
	snprintf(pidfile, sizeof(pidfile), "%s/term.pid", dir);
	snprintf(script, sizeof(script), "echo $$ > '%s.tmp' && mv '%s.tmp' '%s'\nexec sleep 60\n", pidfile, pidfile,
	         pidfile);
	body = spec("term", script);
	start_daemon("1");
	r = http("POST", "/api/tasks", body);
	cr_assert_eq(r.status, 201, "%s", r.body.ptr);
	devsys_buf_dispose(&r.body);
	cr_assert((agent = read_pid(pidfile, 30000)) > 0, "the embedded worker did not start the agent");
	st = dt_stop(daemon_pid, SIGTERM, 20000);
	daemon_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "devsysd after SIGTERM: status %d", st);
	cr_assert(gone_within(agent, 5000), "the handed-back run's agent still runs");
	start_daemon(NULL); /* to read the task back */
	s = state_of("term");
	cr_assert_str_eq(s, "interrupted");
	free(s);
	r = http("GET", "/api/tasks/term/events", NULL);
	cr_assert(strstr(r.body.ptr, "stage agent interrupted") && strstr(r.body.ptr, "the worker stopped"), "%s",
	          r.body.ptr);
	devsys_buf_dispose(&r.body);
	cr_assert_eq(metric("devsys_claims_total{how=\"released\"}"), 1);
	cr_assert_eq(metric("devsys_queue_tasks{lease=\"free\"}"), 1, "the task is back in the queue for a worker");
	free(body);
}
