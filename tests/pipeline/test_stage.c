/*
 * The test and verify stages against a real JUnit producer: pytest
 * (/usr/bin/python3 -m pytest --junitxml) on a tiny repository whose test
 * fails until the agent's change fixes calc.py. The coding stages run for
 * real on a file:// bare repository; the test stage runs on inproc and on
 * the remote-ssh runner against the sshd fixture (same host, loopback).
 *
 * The task reaches pr-opened by a store transition: the pr stage is a
 * separate stage with its own tests; what is asserted here is what the
 * test and verify stages wrote.
 */
#include "pipeline_fixture.h"
#include "sshd_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;
static dt_sshd *sshd;
static long long deployed_pid; /* a deployed service, killed by teardown if a test failed before verify stopped it */

/* What the progress callback saw of the "tests" counts. */
static struct {
	int events;
	uint64_t current, total;
} seen;

static int on_progress(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_PROGRESS && ev->stage && strcmp(ev->stage, "test") == 0 && ev->data &&
	    ev->len == 5 && memcmp(ev->data, "tests", 5) == 0) {
		seen.events++;
		seen.current = ev->current;
		seen.total = ev->total;
	}
	return 0;
}

static void need_tools(void)
{
	if (dt_sh("/usr/bin/python3 -m pytest --version >/dev/null 2>&1") != 0)
		dt_skip("pytest is not installed for /usr/bin/python3 (python3-pytest)");
}

/* A bare remote whose calc.add() is wrong: test_add fails, test_ok passes. */
static void make_repo(const char *tag)
{
	dir = dt_pipe_repo(tag, "printf 'def add(a, b):\\n    return a - b\\n' > calc.py &&"
	                        " printf 'import calc\\n\\ndef test_add():\\n    assert calc.add(2, 3) == 5\\n\\n"
	                        "def test_ok():\\n    assert True\\n' > test_calc.py");
}

static void open_pipeline(const char *config_path)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	ro.grace_ms = 200;
	po.runner = &ro;
	po.config_path = config_path;
	po.progress = on_progress;
	pl = dt_pipe_open(ws, &po);
}

static void setup(void)
{
	need_tools();
	memset(&seen, 0, sizeof(seen));
	make_repo("pipetest");
	ws = dt_pipe_workspace(dir);
	open_pipeline(NULL);
}

static bool pid_running(long long pid);

static void teardown(void)
{
	if (deployed_pid > 1 && pid_running(deployed_pid))
		kill((pid_t)deployed_pid, SIGKILL);
	deployed_pid = 0;
	dt_sshd_free(sshd);
	sshd = NULL;
	dt_pipe_teardown(&pl, &ws, &dir);
}

#define PYTEST "[/usr/bin/python3, -m, pytest, -q, -p, no:cacheprovider"
#define FIX "sed -i 's/a - b/a + b/' calc.py\n"

/*
 * Validate a spec whose agent runs @p script, with the @p tests section,
 * run the coding stages and mark the task pr-opened.
 */
static void coded(const char *id, const char *script, const char *tests)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char spec[4096], path[4096];
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, script));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Fix %s\nprompt: Make the tests pass.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n%s",
	         id, id, dir, path, tests ? tests : "");
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "pushed");
	/* the pr stage's state, set directly (see the top of this file) */
	cr_assert_eq(devsys_store_transition(devsys_pipeline_store(pl), id, DEVSYS_STATE_PR_OPENED, "test fixture"), 0,
	             "%s", dt_errmsg());
}

static json_t *task_json(const char *id)
{
	return dt_pipe_task_json(dir, id);
}

static json_int_t tests_int(json_t *tj, const char *key)
{
	json_t *v = json_object_get(json_object_get(tj, "tests"), key);
	cr_assert(json_is_integer(v), "task.json tests.%s is not an integer", key);
	return json_integer_value(v);
}

static const char *tests_str(json_t *tj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(tj, "tests"), key));
}

static bool task_file_has(const char *id, const char *rel, const char *needle)
{
	char p[4096], *s;
	bool has;
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, rel);
	s = dt_read_file(p, NULL);
	has = s && strstr(s, needle);
	free(s);
	return has;
}

static int state_of(const char *id)
{
	return devsys_store_task_state(devsys_pipeline_store(pl), id);
}

Test(pipeline_test, a_green_run_is_recorded_and_verified, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char p[4096], *kept;
	json_t *tj, *v;
	coded("green-1", FIX,
	      "tests:\n  command: " PYTEST ", --junitxml=reports/junit.xml]\n  junit: [\"reports/*.xml\"]\n"
	      "  env:\n    PYTHONDONTWRITEBYTECODE: \"1\"\n");
	/* a report left by an earlier run, with a failure: it must not count */
	cr_assert_eq(dt_sh("cd '%s/tasks/green-1/checkout' && mkdir -p reports && printf '<testsuite><testcase "
	                   "name=\"old\"><failure message=\"stale\"/></testcase></testsuite>' > reports/stale.xml &&"
	                   " touch -d '2020-01-01' reports/stale.xml",
	                   dir),
	             0);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "tests-passed");
	cr_assert_eq(state_of("green-1"), DEVSYS_STATE_TESTED);
	/* the JUnit pytest wrote, collected under reports/<run>/ by the record */
	snprintf(p, sizeof(p), "%s/tasks/green-1/reports/1/junit/junit.xml", dir);
	cr_assert(dt_exists(p), "%s", p);
	cr_assert(task_file_has("green-1", "reports/1/junit/junit.xml", "test_add"), "pytest's own report");
	cr_assert(task_file_has("green-1", "reports/latest", "1"));
	cr_assert(task_file_has("green-1", "reports/1/summary.json", "\"passed\": 2") ||
	          task_file_has("green-1", "reports/1/summary.json", "\"passed\":2"));
	snprintf(p, sizeof(p), "%s/tasks/green-1/reports/1/junit/stale.xml", dir);
	cr_assert(!dt_exists(p), "the stale report was collected");
	tj = task_json("green-1");
	cr_assert_eq(tests_int(tj, "run"), 1);
	cr_assert_eq(tests_int(tj, "tests"), 2);
	cr_assert_eq(tests_int(tj, "passed"), 2);
	cr_assert_eq(tests_int(tj, "failed"), 0);
	cr_assert_eq(tests_int(tj, "errors"), 0);
	cr_assert_eq(tests_int(tj, "exit_code"), 0);
	cr_assert_str_eq(tests_str(tj, "outcome"), "tests-passed");
	cr_assert_str_eq(tests_str(tj, "runner"), "inproc");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(tj, "tests"), "reports"), 0)),
	                 "reports/junit.xml");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(tj, "tests"), "stale"), 0)),
	                 "reports/stale.xml");
	cr_assert(tests_str(tj, "status"), "what became of devsys/tests is recorded");
	json_decref(tj);
	cr_assert(task_file_has("green-1", "logs/test.log", "2 passed"), "pytest's output in logs/test.log");
	cr_assert(task_file_has("green-1", "events.jsonl", "\"tests.run\""));
	cr_assert_eq(seen.current, 2);
	cr_assert_eq(seen.total, 2);
	cr_assert_geq(seen.events, 2, "one count per report and the total");
	/* tests.env reached the command: no bytecode written */
	cr_assert_eq(dt_sh("test -z \"$(find '%s/tasks/green-1/checkout' -name __pycache__)\"", dir), 0);

	/* verify, after a deploy that was skipped; first with the kept spec made
	 * invalid: verification fails and says which item */
	cr_assert_eq(devsys_store_transition(devsys_pipeline_store(pl), "green-1", DEVSYS_STATE_DEPLOY_SKIPPED, "fixture"),
	             0);
	snprintf(p, sizeof(p), "%s/tasks/green-1/spec.yaml", dir);
	kept = dt_read_file(p, NULL);
	cr_assert_not_null(kept);
	cr_assert_eq(dt_sh("echo 'not_a_field: 1' >> '%s'", p), 0);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "verify"), DEVSYS_ERROR);
	cr_assert_str_eq(r.outcome, "verification-failed");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(dt_errmsg(), "spec_revalidated"), "%s", dt_errmsg());
	cr_assert_eq(state_of("green-1"), DEVSYS_STATE_FAILED);
	tj = task_json("green-1");
	v = json_object_get(tj, "verification");
	cr_assert(json_is_false(json_object_get(v, "spec_revalidated")));
	cr_assert(json_is_false(json_object_get(v, "verified")));
	cr_assert(json_is_true(json_object_get(v, "junit_green")), "the other items are still checked");
	json_decref(tj);

	/* the spec restored: verify runs again (the failed task resumes) and passes */
	cr_assert(dt_write_file(p, kept));
	free(kept);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "verify"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "verified");
	cr_assert_eq(state_of("green-1"), DEVSYS_STATE_DEPLOY_SKIPPED, "verify changes no state");
	tj = task_json("green-1");
	v = json_object_get(tj, "verification");
	cr_assert(json_is_true(json_object_get(v, "spec_revalidated")));
	cr_assert_str_eq(json_string_value(json_object_get(v, "acceptance")), "skipped");
	cr_assert(json_is_true(json_object_get(v, "junit_green")));
	cr_assert_str_eq(json_string_value(json_object_get(v, "speckit")), "not linked");
	cr_assert(json_is_true(json_object_get(v, "verified")));
	json_decref(tj);
}

/* reports/acceptance.json as the deploy stage writes it, through the record */
static void write_acceptance(const char *id, const char *json)
{
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	cr_assert_eq(devsys_task_open(&task, ws, id, 0), 0);
	cr_assert_eq(devsys_record_open(&rec, task), 0);
	cr_assert_eq(devsys_record_write_acceptance(rec, json), 0, "%s", dt_errmsg());
	devsys_record_free(rec);
	devsys_task_free(task);
}

Test(pipeline_test, verify_reads_the_acceptance_report_after_a_deploy, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *tj, *v;
	coded("acc-1", FIX, "tests:\n  command: " PYTEST ", --junitxml=reports/junit.xml]\n  junit: [\"reports/*.xml\"]\n");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_store_transition(devsys_pipeline_store(pl), "acc-1", DEVSYS_STATE_DEPLOYED, "fixture"), 0);
	/* one of two checks failed */
	write_acceptance("acc-1", "{\"passed\":false,\"checks\":[{\"name\":\"home\",\"passed\":true},"
	                          "{\"name\":\"api\",\"passed\":false}]}");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "verify"), DEVSYS_ERROR);
	cr_assert_str_eq(r.outcome, "verification-failed");
	cr_assert(strstr(dt_errmsg(), "acceptance: 1 of 2 checks passed"), "%s", dt_errmsg());
	tj = task_json("acc-1");
	v = json_object_get(tj, "verification");
	cr_assert(json_is_false(json_object_get(v, "acceptance")));
	cr_assert(json_is_true(json_object_get(v, "spec_revalidated")));
	json_decref(tj);
	/* the checks pass on the next deploy: verified */
	write_acceptance("acc-1", "{\"passed\":true,\"checks\":[{\"name\":\"home\",\"passed\":true},"
	                          "{\"name\":\"api\",\"passed\":true}]}");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "verify"), 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.outcome, "verified");
	cr_assert_eq(state_of("acc-1"), DEVSYS_STATE_DEPLOYED);
	tj = task_json("acc-1");
	cr_assert(json_is_true(json_object_get(json_object_get(tj, "verification"), "acceptance")));
	json_decref(tj);
}

/* A service on 127.0.0.1, started by the deploy command, which leaves its process group. */
static const char server_py[] = "import http.server, sys\n"
                                "class H(http.server.BaseHTTPRequestHandler):\n"
                                "    def do_GET(self):\n"
                                "        self.send_response(200)\n"
                                "        self.end_headers()\n"
                                "        self.wfile.write(b'calc is up\\n')\n"
                                "    def log_message(self, *a):\n"
                                "        pass\n"
                                "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

/* Is @p pid running? A zombie is not (nothing here reaps it). /proc files
 * report size 0, so the state is read with read(2), not a size-based reader. */
static bool pid_running(long long pid)
{
	char p[64], stat[1024], *rp;
	ssize_t n;
	int fd;
	snprintf(p, sizeof(p), "/proc/%lld/stat", pid);
	if ((fd = open(p, O_RDONLY)) < 0)
		return false;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat[n] = '\0';
	rp = strrchr(stat, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z';
}

Test(pipeline_test, verify_after_a_real_deploy_stops_the_service, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char p[4096], agent[8192];
	long long pid;
	json_t *tj, *v;
	if (!dt_exists("/usr/bin/setsid"))
		dt_skip("/usr/bin/setsid is missing (the deploy command's service needs it)");
	snprintf(p, sizeof(p), "%s/server.py", dir);
	cr_assert(dt_write_file(p, server_py));
	snprintf(p, sizeof(p), "%s/deploy.sh", dir);
	/* the pid is written from inside the new session, so the command exits
	 * only once the service has left its process group (which the runner ends) */
	cr_assert(dt_write_file(p, "setsid /bin/sh -c 'echo $$ > \"$DEVSYS_DEPLOY_PIDFILE\"; "
	                           "exec /usr/bin/python3 server.py \"$DEVSYS_DEPLOY_PORT\"' </dev/null >/dev/null 2>&1 &\n"
	                           "i=0; while [ ! -s \"$DEVSYS_DEPLOY_PIDFILE\" ] && [ $i -lt 200 ]; do sleep 0.05; "
	                           "i=$((i+1)); done\n"));
	snprintf(agent, sizeof(agent), FIX "cp '%s/server.py' '%s/deploy.sh' .\n", dir, dir);
	coded("deploy-1", agent,
	      "tests:\n  command: " PYTEST ", --junitxml=reports/junit.xml]\n  junit: [\"reports/*.xml\"]\n"
	      "deploy:\n  command: [/bin/sh, deploy.sh]\n  timeout: 60\n  acceptance:\n    - name: up\n      http:\n"
	      "        url: \"http://127.0.0.1:${DEVSYS_DEPLOY_PORT}/\"\n        contains: \"calc is up\"\n");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "deploy"), 0, "%s: %s", r.outcome, dt_errmsg());
	tj = task_json("deploy-1");
	pid = json_integer_value(json_object_get(json_object_get(json_object_get(tj, "deploy"), "service"), "pid"));
	json_decref(tj);
	deployed_pid = pid;
	cr_assert(pid > 1 && pid_running(pid), "positive control: the deployed service runs (pid %lld)", pid);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "verify"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "verified");
	cr_assert(!pid_running(pid), "verify stopped the service (pid %lld)", pid);
	tj = task_json("deploy-1");
	v = json_object_get(tj, "verification");
	cr_assert(json_is_true(json_object_get(v, "acceptance")), "the deploy's acceptance report, read back");
	cr_assert(json_is_true(json_object_get(v, "junit_green")));
	cr_assert_str_eq(json_string_value(json_object_get(v, "service")), "stopped");
	cr_assert(json_is_true(json_object_get(json_object_get(tj, "deploy"), "stopped")));
	json_decref(tj);
}

Test(pipeline_test, red_tests_fail_the_stage_with_their_counts, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	const char *msg;
	json_t *tj;
	coded("red-1", "echo unrelated >> README\n",
	      "tests:\n  command: " PYTEST ", --junitxml=reports/junit.xml]\n  junit: [\"reports/*.xml\"]\n");
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "test"), 0);
	msg = dt_errmsg();
	cr_assert_str_eq(r.outcome, "tests-failed");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert_str_eq(r.result, "failed");
	cr_assert(strstr(msg, "1 of 2 tests failed"), "%s", msg);
	cr_assert_eq(state_of("red-1"), DEVSYS_STATE_FAILED);
	cr_assert(task_file_has("red-1", "reports/1/junit/junit.xml", "test_add"), "a red run is recorded too");
	tj = task_json("red-1");
	cr_assert_eq(tests_int(tj, "failed"), 1);
	cr_assert_eq(tests_int(tj, "passed"), 1);
	cr_assert_eq(tests_int(tj, "exit_code"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(tj, "stages"), "test"),
	                                                   "failure_class")),
	                 "build");
	json_decref(tj);
}

Test(pipeline_test, no_junit_names_every_glob_searched, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	const char *msg;
	json_t *tj;
	coded("nojunit-1", FIX, "tests:\n  command: " PYTEST "]\n  junit: [\"out/*.xml\", reports/junit.xml]\n");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), DEVSYS_ENOTFOUND, "%s: %s", r.outcome, dt_errmsg());
	msg = dt_errmsg();
	cr_assert_str_eq(r.outcome, "no-junit");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(msg, "'out/*.xml'") && strstr(msg, "'reports/junit.xml'"), "%s", msg);
	cr_assert_eq(state_of("nojunit-1"), DEVSYS_STATE_FAILED);
	tj = task_json("nojunit-1");
	cr_assert(json_is_null(json_object_get(json_object_get(tj, "tests"), "run")), "no run recorded");
	cr_assert_eq(tests_int(tj, "exit_code"), 0, "the command itself passed");
	json_decref(tj);
}

Test(pipeline_test, without_tests_junit_the_exit_code_decides, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *tj;
	coded("exit-1", FIX, "tests:\n  command: " PYTEST "]\n");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.outcome, "exit-code-only");
	tj = task_json("exit-1");
	cr_assert(json_is_false(json_object_get(json_object_get(tj, "tests"), "junit")));
	cr_assert_eq(tests_int(tj, "exit_code"), 0);
	json_decref(tj);
	/* verify: no JUnit was asked for, so junit_green is null and does not fail */
	cr_assert_eq(devsys_store_transition(devsys_pipeline_store(pl), "exit-1", DEVSYS_STATE_DEPLOY_SKIPPED, "f"), 0);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "verify"), 0, "%s", dt_errmsg());
	tj = task_json("exit-1");
	cr_assert(json_is_null(json_object_get(json_object_get(tj, "verification"), "junit_green")));
	json_decref(tj);

	/* and the same spec with the unfixed code: the exit code fails it */
	coded("exit-2", "echo unrelated >> README\n", "tests:\n  command: " PYTEST "]\n");
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "test"), 0);
	cr_assert_str_eq(r.outcome, "tests-failed");
	cr_assert(strstr(dt_errmsg(), "exit code alone decides"), "%s", dt_errmsg());
	tj = task_json("exit-2");
	cr_assert(json_is_false(json_object_get(json_object_get(tj, "tests"), "junit")));
	cr_assert_eq(tests_int(tj, "exit_code"), 1);
	json_decref(tj);
}

Test(pipeline_test, a_spec_without_tests_ends_no_tests, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *tj;
	coded("none-1", FIX, NULL);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.outcome, "no-tests");
	cr_assert_eq(state_of("none-1"), DEVSYS_STATE_TESTED);
	tj = task_json("none-1");
	cr_assert_str_eq(tests_str(tj, "outcome"), "no-tests");
	json_decref(tj);
}

Test(pipeline_test, a_report_reached_through_a_symlink_out_of_the_checkout_is_refused, .init = setup,
     .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char script[4096], p[4096];
	const char *msg;
	/* a green report outside the checkout, and an agent that links to it */
	cr_assert_eq(dt_sh("mkdir -p '%s/outside' && printf '<testsuite><testcase name=\"planted\"/></testsuite>' > "
	                   "'%s/outside/junit.xml'",
	                   dir, dir),
	             0);
	snprintf(script, sizeof(script), FIX "ln -s '%s/outside' reports\n", dir);
	coded("link-1", script, "tests:\n  command: [/bin/true]\n  junit: [\"reports/*.xml\"]\n");
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), DEVSYS_EPATH);
	msg = dt_errmsg();
	cr_assert_str_eq(r.outcome, "junit-refused");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(msg, "reports/junit.xml") && strstr(msg, "outside the checkout"), "%s", msg);
	snprintf(p, sizeof(p), "%s/tasks/link-1/reports/1", dir);
	cr_assert(!dt_exists(p), "nothing was recorded from outside the checkout");
}

Test(pipeline_test, a_test_command_past_its_timeout_ends_with_class_timeout, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *tj;
	coded("slow-1", FIX, "tests:\n  command: [/bin/sleep, \"30\"]\n  junit: [\"reports/*.xml\"]\n  timeout: 1\n");
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "test"), 0);
	cr_assert_str_eq(r.outcome, "tests-timeout");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_TIMEOUT);
	cr_assert_eq(state_of("slow-1"), DEVSYS_STATE_FAILED);
	tj = task_json("slow-1");
	cr_assert_str_eq(tests_str(tj, "outcome"), "tests-timeout");
	json_decref(tj);
}

/* ---- setup 3 of the issue: the test stage on remote-ssh ---- */

static void ssh_setup(void)
{
	char why[256], cfg[8192], path[4096];
	need_tools();
	if (!(sshd = dt_sshd_start(why, sizeof(why))))
		dt_skip("%s", why);
	memset(&seen, 0, sizeof(seen));
	make_repo("pipetestssh");
	ws = dt_pipe_workspace(dir);
	snprintf(cfg, sizeof(cfg),
	         "runners:\n  remote:\n    type: remote-ssh\n    host: %s\n    port: %d\n    user: %s\n    key: %s\n"
	         "    known_hosts: %s\n    remote_dir: %s\n",
	         sshd->host, sshd->port, sshd->user, sshd->user_key, sshd->known_hosts, sshd->dir);
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(path, cfg));
	open_pipeline(path);
}

Test(pipeline_test, the_test_stage_runs_on_remote_ssh_and_downloads_the_junit, .init = ssh_setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *left;
	int st;
	json_t *tj;
	char want[4096];
	/* not -q: pytest then prints its rootdir, where the command ran */
	coded("remote-1", FIX,
	      "tests:\n  command: [/usr/bin/python3, -m, pytest, -p, no:cacheprovider, --junitxml=reports/junit.xml]\n"
	      "  junit: [\"reports/*.xml\"]\n  runner: remote\n");
	/* the local checkout is uploaded with a failing report from an earlier run:
	 * the copy's is removed before the command runs, so only pytest's counts */
	cr_assert_eq(dt_sh("cd '%s/tasks/remote-1/checkout' && mkdir -p reports && printf '<testsuite><testcase "
	                   "name=\"old\"><failure message=\"stale\"/></testcase></testsuite>' > reports/stale.xml",
	                   dir),
	             0);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "tests-passed");
	tj = task_json("remote-1");
	cr_assert_str_eq(tests_str(tj, "runner"), "remote-ssh");
	cr_assert_eq(tests_int(tj, "passed"), 2);
	cr_assert_eq(tests_int(tj, "failed"), 0);
	json_decref(tj);
	/* pytest ran in the uploaded copy, and its report came back */
	cr_assert(task_file_has("remote-1", "checkout/reports/junit.xml", "test_add"), "downloaded into the checkout");
	cr_assert(task_file_has("remote-1", "reports/1/junit/junit.xml", "test_add"));
	cr_assert(task_file_has("remote-1", "logs/test.log", "2 passed"));
	snprintf(want, sizeof(want), "rootdir: %s/devsys-", sshd->dir);
	cr_assert(task_file_has("remote-1", "logs/test.log", want), "the command ran in the runner's copy (%s)", want);
	/* the runner's remote directory is gone */
	left = dt_sh_output(&st, "ls -d '%s'/devsys-* 2>/dev/null", sshd->dir);
	cr_assert(left && left[0] == '\0', "left on the runner: %s", left);
	free(left);
}
