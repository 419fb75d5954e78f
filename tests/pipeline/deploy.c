/*
 * The deploy stage and its acceptance checks, for real: a task coded and
 * pushed to a bare repository on file://, moved on to "tested" through the
 * store, then deployed by a command that starts a small HTTP service on the
 * port the stage chose (inproc, and over ssh to a second "test host"), or by
 * a compose project on the fixture dockerd, with HTTP and command checks;
 * and on a runner pool of two test hosts whose first breaks the upload.
 */
#include "pipeline_fixture.h"
#include "sshd_fixture.h"
#include "dockerd_fixture.h"
#include "pipeline/pipeline_int.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;

/* The service the repository carries: 200 with a build number on /health, 404 elsewhere. */
static const char server_py[] =
	"import http.server, sys\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def do_GET(self):\n"
	"        ok = self.path == '/health'\n"
	"        b = b'status: ok, build 42\\n' if ok else b'nothing here\\n'\n"
	"        self.send_response(200 if ok else 404)\n"
	"        self.send_header('Content-Length', str(len(b)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(b)\n"
	"    def log_message(self, *a):\n"
	"        pass\n"
	"http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

/* Starts it in a session of its own and exits once the service wrote its
 * pid from inside that session, i.e. once it left the command's process
 * group, which the runner ends with the command (as docs/pipeline.md says). */
static const char deploy_sh[] =
	"setsid /bin/sh -c 'echo $$ > \"$DEVSYS_DEPLOY_PIDFILE\"; exec /usr/bin/python3 server.py \"$DEVSYS_DEPLOY_PORT\"'"
	" </dev/null >\"${SRVLOG:-/dev/null}\" 2>&1 &\n"
	"i=0; while [ ! -s \"$DEVSYS_DEPLOY_PIDFILE\" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n";

static void start_pipeline(const char *config_path)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	ro.grace_ms = 200;
	po.runner = &ro;
	po.config_path = config_path;
	pl = dt_pipe_open(ws, &po);
}

static void setup(void)
{
	char p[4096];
	if (!dt_exists("/usr/bin/python3") || !dt_exists("/usr/bin/setsid"))
		dt_skip("/usr/bin/python3 or /usr/bin/setsid is missing (the test's service needs both)");
	dir = dt_pipe_repo("pipedeploy", NULL);
	snprintf(p, sizeof(p), "%s/server.py", dir);
	cr_assert(dt_write_file(p, server_py));
	snprintf(p, sizeof(p), "%s/deploy.sh", dir);
	cr_assert(dt_write_file(p, deploy_sh));
	ws = dt_pipe_workspace(dir);
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

/*
 * Register, code and push task @p id, whose agent adds server.py, deploy.sh
 * and @p extra_file (compose.yaml, when given) to the repository, then move
 * it to "tested" as the pr and test stages would. @p deploy is the spec's
 * deploy section (NULL: none).
 */
static void tested_task(const char *id, const char *deploy, const char *extra_file)
{
	char spec[8192], agent[4096], path[4096];
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	devsys_store *st = devsys_pipeline_store(pl);
	snprintf(path, sizeof(path), "%s/agent-%s.sh", dir, id);
	snprintf(agent, sizeof(agent), "cp '%s/server.py' '%s/deploy.sh' .\n%s%s%secho deployed-by-test >> README\n", dir,
	         dir, extra_file ? "cp '" : "", extra_file ? extra_file : "", extra_file ? "' compose.yaml\n" : "");
	cr_assert(dt_write_file(path, agent));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Deploy task %s\nprompt: Add the service.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n"
	         "tests:\n  command: [/bin/true]\n%s",
	         id, id, dir, path, deploy ? deploy : "");
	cr_assert_eq(devsys_pipeline_validate(&r, pl, spec, strlen(spec), id), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_eq(devsys_store_transition(st, id, DEVSYS_STATE_PR_OPENED, "test: the pr stage's state"), 0);
	cr_assert_eq(devsys_store_transition(st, id, DEVSYS_STATE_TESTED, "test: the test stage's state"), 0, "%s",
	             dt_errmsg());
}

static json_t *task_json(const char *id)
{
	return dt_pipe_task_json(dir, id);
}

static json_t *acceptance_json(const char *id)
{
	char p[4096];
	json_t *j;
	snprintf(p, sizeof(p), "%s/tasks/%s/reports/acceptance.json", dir, id);
	j = json_load_file(p, 0, NULL);
	cr_assert(json_is_array(j), "%s is a JSON array", p);
	return j;
}

/* A /proc file (its size reads as 0, so not through dt_read_file); NULL when absent. */
static char *proc_file(long long pid, const char *name, size_t *len)
{
	char p[64];
	char *buf = calloc(1, 8192);
	FILE *f;
	snprintf(p, sizeof(p), "/proc/%lld/%s", pid, name);
	if (!(f = fopen(p, "re"))) {
		free(buf);
		return NULL;
	}
	*len = fread(buf, 1, 8191, f);
	fclose(f);
	return buf;
}

/* Is @p pid running (a zombie is not: nothing reaps it here)? */
static bool running(long long pid)
{
	size_t n;
	char *stat = proc_file(pid, "stat", &n), *rp;
	bool alive;
	if (!stat)
		return false;
	rp = strrchr(stat, ')');
	alive = rp && rp[1] == ' ' && rp[2] && rp[2] != 'Z';
	free(stat);
	return alive;
}

static bool cmdline_has(long long pid, const char *what)
{
	size_t n = 0;
	char *s = proc_file(pid, "cmdline", &n);
	bool has = false;
	for (size_t i = 0; s && i < n; i += strlen(s + i) + 1)
		has = has || strstr(s + i, what);
	free(s);
	return has;
}

/* devsys__pipeline_stop_service() on the pipeline's task, as verify, resume and cancel call it. */
static int stop_service(const char *id)
{
	devsys__stage_ctx c;
	int rc;
	memset(&c, 0, sizeof(c));
	c.p = pl;
	cr_assert_eq(devsys_task_open(&c.task, ws, id, 0), 0);
	rc = devsys__pipeline_stop_service(&c);
	devsys_repo_free(c.repo);
	devsys_task_free(c.task);
	return rc;
}

static long long service_pid(json_t *tj)
{
	return json_integer_value(json_object_get(json_object_get(json_object_get(tj, "deploy"), "service"), "pid"));
}

/* The deploy section of a command deploy, with @p checks under acceptance. */
static char *command_deploy(const char *checks)
{
	char *s = malloc(8192);
	snprintf(s, 8192,
	         "deploy:\n  command: [/bin/sh, deploy.sh]\n  env:\n    SRVLOG: %s/srv.log\n  timeout: 60\n"
	         "  acceptance:\n%s",
	         dir, checks);
	return s;
}

static const char health_check[] = "    - name: health\n"
                                   "      http:\n"
                                   "        url: \"http://127.0.0.1:${DEVSYS_DEPLOY_PORT}/health\"\n"
                                   "        contains: \"status: ok\"\n"
                                   "        matches: \"build [0-9]+$\"\n"
                                   "        deadline: 20s\n";

/* Task @p id with the health-checked command deploy on runner @p runner, deployed: its task.json (json_decref() it). */
static json_t *deployed_on(const char *id, const char *runner)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *deploy = command_deploy(health_check), sec[8400];
	snprintf(sec, sizeof(sec), "%s  runner: %s\n", deploy, runner);
	free(deploy);
	tested_task(id, sec, NULL);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "deploy"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "deployed");
	return task_json(id);
}

Test(pipeline_deploy, a_command_deploy_passes_its_http_check_and_its_service_is_stopped, .init = setup,
     .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *deploy = command_deploy(health_check), want[128];
	json_t *tj, *acc, *d, *a0;
	long long pid, port;
	start_pipeline(NULL);
	tested_task("web-1", deploy, NULL);
	free(deploy);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "deploy"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.stage, "deploy");
	cr_assert_str_eq(r.outcome, "deployed");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "web-1"), DEVSYS_STATE_DEPLOYED);
	/* the port chosen now, in the record and in the URL the check used */
	tj = task_json("web-1");
	d = json_object_get(tj, "deploy");
	port = json_integer_value(json_object_get(d, "port"));
	cr_assert(port > 0 && port < 65536, "deploy.port: %lld", port);
	cr_assert_str_eq(json_string_value(json_object_get(d, "kind")), "command");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(tj, "stages"), "deploy"),
	                                                   "result")),
	                 "ok");
	acc = acceptance_json("web-1");
	cr_assert_eq(json_array_size(acc), 1);
	a0 = json_array_get(acc, 0);
	cr_assert_str_eq(json_string_value(json_object_get(a0, "name")), "health");
	cr_assert_str_eq(json_string_value(json_object_get(a0, "kind")), "http");
	cr_assert(json_is_true(json_object_get(a0, "passed")), "%s", json_string_value(json_object_get(a0, "detail")));
	cr_assert_eq(json_integer_value(json_object_get(a0, "status")), 200);
	cr_assert(json_integer_value(json_object_get(a0, "attempts")) >= 1);
	snprintf(want, sizeof(want), "http://127.0.0.1:%lld/health", port);
	cr_assert_str_eq(json_string_value(json_object_get(a0, "url")), want);
	/* positive control: the recorded pid is the live service, on that port */
	pid = service_pid(tj);
	cr_assert(pid > 1, "deploy.service.pid recorded");
	cr_assert(running(pid), "the service (pid %lld) runs after the stage", pid);
	cr_assert(cmdline_has(pid, "server.py"), "pid %lld is the service", pid);
	cr_assert(dt_wait_port((int)port, 2000), "the service listens on the recorded port");
	cr_assert(json_object_get(json_object_get(d, "service"), "start_time"));
	json_decref(acc);
	json_decref(tj);
	/* stopped: no process left, recorded, and a second call is harmless */
	cr_assert_eq(stop_service("web-1"), 0, "%s", dt_errmsg());
	cr_assert(!running(pid), "no process is left behind (pid %lld)", pid);
	tj = task_json("web-1");
	cr_assert(json_is_true(json_object_get(json_object_get(tj, "deploy"), "stopped")));
	json_decref(tj);
	cr_assert_eq(stop_service("web-1"), 0);
}

Test(pipeline_deploy, a_wrong_status_and_a_body_that_does_not_match_fail_the_acceptance, .init = setup,
     .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *deploy = command_deploy("    - name: health\n"
	                              "      http:\n"
	                              "        url: \"http://127.0.0.1:${DEVSYS_DEPLOY_PORT}/health\"\n"
	                              "        deadline: 20s\n"
	                              "    - name: missing page\n"
	                              "      http:\n"
	                              "        url: \"http://127.0.0.1:${DEVSYS_DEPLOY_PORT}/missing\"\n"
	                              "        deadline: 3s\n"
	                              "        retries: 1\n"
	                              "    - name: wrong build\n"
	                              "      http:\n"
	                              "        url: \"http://127.0.0.1:${DEVSYS_DEPLOY_PORT}/health\"\n"
	                              "        matches: \"build [a-z]+\"\n"
	                              "        deadline: 1s\n");
	json_t *tj, *acc;
	long long pid;
	int rc;
	start_pipeline(NULL);
	tested_task("web-2", deploy, NULL);
	free(deploy);
	rc = devsys_pipeline_run_stage(&r, pl, "deploy");
	cr_assert_lt(rc, 0);
	cr_assert_str_eq(r.outcome, "acceptance-failed");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(dt_errmsg(), "'missing page'"), "the first failed check is named: %s", dt_errmsg());
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "web-2"), DEVSYS_STATE_FAILED);
	acc = acceptance_json("web-2");
	cr_assert_eq(json_array_size(acc), 3);
	/* positive control: the same service passes the plain check */
	cr_assert(json_is_true(json_object_get(json_array_get(acc, 0), "passed")));
	cr_assert(json_is_false(json_object_get(json_array_get(acc, 1), "passed")));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(acc, 1), "status")), 404);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(acc, 1), "attempts")), 2, "retries: 1 is honoured");
	cr_assert(strstr(json_string_value(json_object_get(json_array_get(acc, 1), "detail")), "expected 200"));
	cr_assert(json_is_false(json_object_get(json_array_get(acc, 2), "passed")));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(acc, 2), "status")), 200);
	cr_assert(strstr(json_string_value(json_object_get(json_array_get(acc, 2), "detail")), "does not match"), "%s",
	          json_string_value(json_object_get(json_array_get(acc, 2), "detail")));
	json_decref(acc);
	/* a failed deployment leaves no service behind */
	tj = task_json("web-2");
	pid = service_pid(tj);
	cr_assert(pid > 1);
	cr_assert(!running(pid), "the failed deployment's service (pid %lld) was stopped", pid);
	cr_assert(json_is_true(json_object_get(json_object_get(tj, "deploy"), "stopped")));
	json_decref(tj);
}

Test(pipeline_deploy, command_checks_expect_their_exit_code, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *acc, *tj;
	start_pipeline(NULL);
	tested_task("cmd-1",
	            "deploy:\n  command: [/bin/true]\n  acceptance:\n"
	            "    - name: exits three\n      command: [/bin/sh, -c, 'exit 3']\n      exit_code: 3\n"
	            "    - name: runs in the checkout\n      command: [/bin/sh, -c, 'test -f server.py && test -n \"$DEVSYS_DEPLOY_PORT\"']\n",
	            NULL);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "deploy"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "deployed");
	acc = acceptance_json("cmd-1");
	cr_assert_eq(json_array_size(acc), 2);
	cr_assert(json_is_true(json_object_get(json_array_get(acc, 0), "passed")),
	          "%s", json_string_value(json_object_get(json_array_get(acc, 0), "detail")));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(acc, 0), "exit_code")), 3);
	cr_assert(json_is_true(json_object_get(json_array_get(acc, 1), "passed")),
	          "%s", json_string_value(json_object_get(json_array_get(acc, 1), "detail")));
	json_decref(acc);
	/* a deploy that starts no service records none */
	tj = task_json("cmd-1");
	cr_assert(json_is_null(json_object_get(json_object_get(tj, "deploy"), "service")));
	json_decref(tj);
	cr_assert_eq(stop_service("cmd-1"), 0);
}

Test(pipeline_deploy, a_command_check_with_another_exit_code_fails, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *acc;
	start_pipeline(NULL);
	tested_task("cmd-2",
	            "deploy:\n  command: [/bin/true]\n  acceptance:\n"
	            "    - name: must pass\n      command: [/bin/sh, -c, 'exit 1']\n",
	            NULL);
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "deploy"), 0);
	cr_assert_str_eq(r.outcome, "acceptance-failed");
	cr_assert(strstr(dt_errmsg(), "'must pass'"), "%s", dt_errmsg());
	acc = acceptance_json("cmd-2");
	cr_assert(json_is_false(json_object_get(json_array_get(acc, 0), "passed")));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(acc, 0), "exit_code")), 1);
	cr_assert(strstr(json_string_value(json_object_get(json_array_get(acc, 0), "detail")), "expected 0"));
	json_decref(acc);
}

Test(pipeline_deploy, a_failing_deploy_command_is_deploy_failed, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	start_pipeline(NULL);
	tested_task("bad-1", "deploy:\n  command: [/bin/sh, -c, 'echo cannot deploy; exit 4']\n", NULL);
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "deploy"), 0);
	cr_assert_str_eq(r.outcome, "deploy-failed");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(dt_errmsg(), "exit 4"), "%s", dt_errmsg());
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "bad-1"), DEVSYS_STATE_FAILED);
}

Test(pipeline_deploy, a_bad_regex_is_refused_before_anything_is_deployed, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char marker[4096], sec[4096];
	snprintf(marker, sizeof(marker), "%s/deployed.marker", dir);
	snprintf(sec, sizeof(sec),
	         "deploy:\n  command: [/bin/sh, -c, 'touch %s']\n  acceptance:\n"
	         "    - name: broken\n      http:\n        url: http://127.0.0.1:1/\n        matches: \"build (\"\n",
	         marker);
	start_pipeline(NULL);
	tested_task("re-1", sec, NULL);
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "deploy"), 0);
	cr_assert_str_eq(r.outcome, "deploy-refused");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(dt_errmsg(), "http.matches"), "%s", dt_errmsg());
	cr_assert(!dt_exists(marker), "nothing was deployed");
}

Test(pipeline_deploy, no_deploy_section_is_deploy_skipped, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	start_pipeline(NULL);
	tested_task("skip-1", NULL, NULL);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "deploy"), 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.outcome, "deploy-skipped");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "skip-1"), DEVSYS_STATE_DEPLOY_SKIPPED);
	cr_assert_eq(stop_service("skip-1"), 0);
}

/* ---- over ssh to a second "test host" ---- */

static char *ssh_config(const dt_sshd *s, const char *remote_dir)
{
	char *path = malloc(strlen(dir) + 32), text[4096];
	sprintf(path, "%s/devsys.yaml", dir);
	snprintf(text, sizeof(text),
	         "runners:\n  testhost:\n    type: remote-ssh\n    host: 127.0.0.1\n    port: %d\n    key: %s\n"
	         "    known_hosts: %s\n    remote_dir: %s\n    connect_timeout: 5s\n    grace: 500ms\n",
	         s->port, s->user_key, s->known_hosts, remote_dir);
	cr_assert(dt_write_file(path, text));
	return path;
}

Test(pipeline_deploy, a_deploy_over_ssh_starts_the_service_on_the_test_host, .init = setup, .fini = teardown)
{
	char why[256], remote_dir[4096], uploaded[4096], *cfg;
	json_t *tj, *acc, *d;
	long long pid;
	dt_sshd *s = dt_sshd_start(why, sizeof(why));
	if (!s)
		dt_skip("%s", why);
	/* the test host's own directory */
	snprintf(remote_dir, sizeof(remote_dir), "%s/testhost", s->dir);
	cr_assert_eq(dt_sh("mkdir -p '%s'", remote_dir), 0);
	cfg = ssh_config(s, remote_dir);
	start_pipeline(cfg);
	tj = deployed_on("ssh-1", "testhost");
	d = json_object_get(tj, "deploy");
	cr_assert_str_eq(json_string_value(json_object_get(d, "runner")), "remote-ssh");
	cr_assert(json_is_true(json_object_get(d, "remote")));
	/* the checkout was uploaded into the test host's directory, and runs from there */
	snprintf(uploaded, sizeof(uploaded), "%s/devsys-deploy-ssh-1/checkout/server.py", remote_dir);
	cr_assert(dt_exists(uploaded), "%s", uploaded);
	acc = acceptance_json("ssh-1");
	cr_assert(json_is_true(json_object_get(json_array_get(acc, 0), "passed")), "%s",
	          json_string_value(json_object_get(json_array_get(acc, 0), "detail")));
	json_decref(acc);
	pid = service_pid(tj);
	json_decref(tj);
	cr_assert(pid > 1 && running(pid), "the remote service (pid %lld) runs", pid);
	cr_assert(cmdline_has(pid, "server.py"));
	cr_assert_eq(stop_service("ssh-1"), 0, "%s", dt_errmsg());
	cr_assert(!running(pid), "the remote service (pid %lld) was stopped", pid);
	snprintf(uploaded, sizeof(uploaded), "%s/devsys-deploy-ssh-1", remote_dir);
	cr_assert(!dt_exists(uploaded), "the deploy directory was removed");
	cr_assert_eq(stop_service("ssh-1"), 0);
	free(cfg);
	dt_sshd_free(s);
}

Test(pipeline_deploy, an_unreachable_target_is_deploy_unreachable, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char path[4096], text[4096], marker[4096], sec[4096];
	int port = dt_free_port(); /* nothing listens there */
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	snprintf(text, sizeof(text),
	         "runners:\n  gone:\n    type: remote-ssh\n    host: 127.0.0.1\n    port: %d\n    key: %s/no-key\n"
	         "    known_hosts: %s/known_hosts\n    connect_timeout: 2s\n",
	         port, dir, dir);
	cr_assert(dt_write_file(path, text));
	snprintf(text, sizeof(text), "%s/known_hosts", dir);
	cr_assert(dt_write_file(text, ""));
	snprintf(marker, sizeof(marker), "%s/deployed.marker", dir);
	snprintf(sec, sizeof(sec), "deploy:\n  runner: gone\n  command: [/bin/sh, -c, 'touch %s']\n", marker);
	start_pipeline(path);
	tested_task("gone-1", sec, NULL);
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "deploy"), 0);
	cr_assert_str_eq(r.outcome, "deploy-unreachable");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_SYSTEM);
	cr_assert(strstr(dt_errmsg(), "cannot be reached") &&
	          strstr(dt_errmsg(), "'gone'"),
	          "%s", dt_errmsg());
	cr_assert(!dt_exists(marker));
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "gone-1"), DEVSYS_STATE_FAILED);
}

/* ---- compose against the fixture dockerd ---- */

static bool has_compose(void)
{
	return dt_sh("docker compose version >/dev/null 2>&1 || docker-compose version >/dev/null 2>&1") == 0;
}

Test(pipeline_deploy, a_compose_deploy_runs_on_the_fixture_engine, .init = setup, .fini = teardown, .timeout = 240)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char why[512], compose[4096], path[4096], text[4096], *cli, *out;
	const char *project = "devsys-compose-1";
	json_t *tj, *acc, *cp;
	int st;
	dt_dockerd *dk;
	if (!has_compose())
		dt_skip("neither 'docker compose' nor 'docker-compose' is installed (Debian: docker-compose)");
	if (!(dk = dt_dockerd_start(why, sizeof(why))))
		dt_skip("%s", why);
	snprintf(compose, sizeof(compose), "%s/compose.yaml", dir);
	cr_assert(dt_write_file(compose,
	                        "version: \"2.4\"\n"
	                        "services:\n"
	                        "  web:\n"
	                        "    image: " DT_DOCKERD_IMAGE "\n"
	                        "    network_mode: host\n"
	                        "    command: [\"sh\", \"-c\", \"mkdir -p /www && echo 'compose ok, build 7' > /www/health"
	                        " && exec httpd -f -p 127.0.0.1:${DEVSYS_DEPLOY_PORT} -h /www\"]\n"));
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	snprintf(text, sizeof(text), "runners:\n  engine:\n    type: host-docker\n    host: %s\n    image: %s\n", dk->host,
	         DT_DOCKERD_IMAGE);
	cr_assert(dt_write_file(path, text));
	start_pipeline(path);
	tested_task("compose-1",
	            "deploy:\n  runner: engine\n  compose: compose.yaml\n  timeout: 120\n  acceptance:\n"
	            "    - name: health\n      http:\n        url: \"http://127.0.0.1:${DEVSYS_DEPLOY_PORT}/health\"\n"
	            "        matches: \"build [0-9]+\"\n        deadline: 60s\n",
	            compose);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "deploy"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "deployed");
	tj = task_json("compose-1");
	cp = json_object_get(json_object_get(tj, "deploy"), "compose");
	cr_assert_str_eq(json_string_value(json_object_get(cp, "project")), project);
	cr_assert_str_eq(json_string_value(json_object_get(cp, "docker_host")), dk->host);
	json_decref(tj);
	acc = acceptance_json("compose-1");
	cr_assert(json_is_true(json_object_get(json_array_get(acc, 0), "passed")), "%s",
	          json_string_value(json_object_get(json_array_get(acc, 0), "detail")));
	json_decref(acc);
	/* positive control: the project's container runs on the fixture engine */
	cli = dt_dockerd_cli(dk);
	out = dt_sh_output(&st, "%s ps -q --filter label=com.docker.compose.project=%s", cli, project);
	cr_assert(st == 0 && out && out[0], "the compose project runs: '%s'", out ? out : "");
	free(out);
	cr_assert_eq(stop_service("compose-1"), 0, "%s", dt_errmsg());
	out = dt_sh_output(&st, "%s ps -aq --filter label=com.docker.compose.project=%s", cli, project);
	cr_assert(st == 0 && out && !out[0], "compose down removed the project: '%s'", out ? out : "");
	free(out);
	free(cli);
	dt_dockerd_free(dk);
}

/* ---- on a runner pool of two test hosts ---- */

/*
 * How many members of pool @p pool the workspace's store has cooling down
 * now; with @p end, first end their cool-downs (as time would).
 */
static int cooling(const char *pool, bool end)
{
	char p[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;
	snprintf(p, sizeof(p), "%s/devsys.db", dir);
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 10000);
		if (end && sqlite3_exec(db, "UPDATE host_cools SET until_ms = 0", NULL, NULL, NULL) != SQLITE_OK)
			n = -2;
		else if (sqlite3_prepare_v2(db,
		                            "SELECT count(*) FROM host_cools WHERE pool = ?1 AND "
		                            "until_ms > CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
		                            -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, pool, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW)
				n = sqlite3_column_int(st, 0);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * The first host serves no SFTP: the deploy directory is made there, the
 * upload fails, that host cools down and the deploy moves to the second.
 * Once the cool-down is over (ended in the store, as time would: an
 * unpinned open then takes the first host, listed first), the service is
 * stopped on the host it runs on.
 */
Test(pipeline_deploy, a_pooled_deploy_moves_when_its_upload_breaks_and_is_stopped_where_it_runs, .init = setup,
     .fini = teardown)
{
	char why[256], cfg[4096], text[4096], hx[64], hy[64];
	json_t *tj, *pls, *acc;
	long long pid;
	dt_sshd *x = dt_sshd_start(why, sizeof(why)), *y = x ? dt_sshd_start(why, sizeof(why)) : NULL;
	if (!x || !y) {
		dt_sshd_free(x);
		dt_skip("%s", why);
	}
	dt_sshd_stop(x);
	cr_assert_eq(dt_sh("sed -i '/^Subsystem/d' '%s'", x->config), 0);
	cr_assert(dt_sshd_restart(x), "x starts again without its SFTP subsystem");
	cr_assert_eq(dt_sh("cat '%s' >> '%s' && cat '%s' '%s' > '%s/pool_known_hosts' && mkdir -p '%s/pool-remote'",
	                   x->user_pub, y->authorized_keys, x->known_hosts, y->known_hosts, dir, dir),
	             0);
	snprintf(hx, sizeof(hx), "127.0.0.1:%d", x->port);
	snprintf(hy, sizeof(hy), "127.0.0.1:%d", y->port);
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", dir);
	snprintf(text, sizeof(text),
	         "runners:\n  farm:\n    type: remote-ssh\n    hosts: [\"%s\", \"%s\"]\n    key: %s\n"
	         "    known_hosts: %s/pool_known_hosts\n    remote_dir: %s/pool-remote\n    per_host_max: 1\n"
	         "    cooldown: 10m\n    connect_timeout: 5s\n    grace: 500ms\n",
	         hx, hy, x->user_key, dir, dir);
	cr_assert(dt_write_file(cfg, text));
	start_pipeline(cfg);
	tj = deployed_on("pool-1", "farm");
	pls = json_object_get(tj, "placements");
	cr_assert_eq(json_array_size(pls), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(pls, 0), "host")), hx);
	cr_assert(json_string_value(json_object_get(json_array_get(pls, 0), "failed")) &&
	              strstr(json_string_value(json_object_get(json_array_get(pls, 0), "failed")), "SFTP"),
	          "the first host's upload failed for want of SFTP");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(pls, 1), "host")), hy);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(tj, "deploy"), "pool_member")), hy);
	pid = service_pid(tj);
	json_decref(tj);
	acc = acceptance_json("pool-1");
	cr_assert(json_is_true(json_object_get(json_array_get(acc, 0), "passed")));
	json_decref(acc);
	cr_assert(pid > 1 && running(pid));
	cr_assert_eq(dt_pipe_events(dir, "pool-1", "runner.host_failed", hx), 1);

	/* the first host is back in the pool: the stop still goes where the service runs */
	cr_assert_eq(cooling("farm", false), 1, "the first host cools down, in the store");
	cr_assert_eq(cooling("farm", true), 0);
	cr_assert_eq(stop_service("pool-1"), 0, "%s", dt_errmsg());
	cr_assert(!running(pid), "the service (pid %lld) was stopped", pid);
	cr_assert_eq(dt_pipe_events(dir, "pool-1", "runner.placed", hy), 2, "deployed, then stopped, on %s", hy);
	cr_assert_eq(dt_pipe_events(dir, "pool-1", "runner.placed", hx), 1, "only the failed attempt was placed on %s", hx);
	dt_sshd_free(x);
	dt_sshd_free(y);
}
