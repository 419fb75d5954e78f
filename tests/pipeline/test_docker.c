/*
 * Setup 5 of the pipeline issue, its test half: the test stage on the
 * host-docker runner against the fixture dockerd (one engine per suite),
 * with a real JUnit producer inside the container.
 *
 * The fixture's image is static busybox, which has no Python. The producer
 * here is pytest, the one the inproc and remote-ssh test-stage tests use
 * (tests/pipeline/test_stage.c), so the same repository and counts hold on
 * every runner. The image is made once per suite by `docker import` (no
 * registry is reachable): the fixture's busybox filesystem (exported from a
 * container of it) plus the host's own /usr/bin/python3.11, its standard
 * library (/usr/lib/python3.11 without its tests, IDLE, tkinter and the 25 MB
 * static library for embedding), the Debian packages pytest runs from
 * (python3-pytest, -pluggy, -iniconfig, -packaging, -attr, -py in
 * /usr/lib/python3/dist-packages) and every shared library `ldd` names for
 * the interpreter and its extension modules. Nothing is faked: the same
 * interpreter and pytest the host has, run by the runner in a container
 * with --network none (the profile sets no network). This was chosen over
 * a hand-written JUnit writer in busybox sh because that would test our
 * own XML, not a producer users meet; the import costs a few seconds.
 *
 * What holds: the JUnit pytest wrote in the container is downloaded into
 * the checkout and recorded under reports/<run>/ with the right counts; a
 * red run fails with tests-failed and is recorded too; the container the
 * tests ran in (its id is the hostname pytest put in the report) is gone
 * afterwards, as is the runner's work volume.
 *
 * Known gap, which these tests catch: the test stage fetches each report
 * with devsys_runner_download(runner, "<dir>/reports/junit.xml", "<checkout>/
 * reports/junit.xml"), and host-docker's download extracts the archive with
 * its first path component stripped, which suits a directory but drops the
 * one entry a single file's archive holds: the local path becomes an empty
 * directory, and the stage ends no-junit. pytest itself runs and exits as it
 * should in the container (see logs/test.log).
 */
#include "testutil.h"
#include "dockerd_fixture.h"
#include <devsys.h>

#include <criterion/hooks.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define PY_IMAGE "devsys-test/pytest:latest"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_dockerd_suite_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_dockerd_suite_stop();
}

static dt_dockerd *engine;
static char *cli; /* the docker CLI against the fixture engine only */
static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;

/*
 * The pytest image (see the top of this file), made once per engine: a
 * later test worker finds it there. The interpreter's libraries are copied
 * at the paths ldd resolves them to, dereferenced.
 */
static void make_pytest_image(void)
{
	const char *t;
	char *tmp;
	if (dt_sh("%s image inspect " PY_IMAGE " >/dev/null 2>&1", cli) == 0)
		return;
	tmp = dt_tmpdir("pyimg");
	t = tmp;
	cr_assert_eq(dt_sh("set -e; cd '%s'; id=$(%s create " DT_DOCKERD_IMAGE " true); %s export \"$id\" > rootfs.tar;"
	                   " %s rm \"$id\" >/dev/null",
	                   t, cli, cli, cli),
	             0, "exporting the busybox filesystem");
	cr_assert_eq(dt_sh("set -e; cd '%s'; dp=usr/lib/python3/dist-packages;"
	                   " tar -C / -rf rootfs.tar --exclude=usr/lib/python3.11/test --exclude=usr/lib/python3.11/idlelib"
	                   " --exclude=usr/lib/python3.11/tkinter --exclude=usr/lib/python3.11/ensurepip"
	                   " --exclude=usr/lib/python3.11/lib2to3 --exclude='usr/lib/python3.11/config-3.11-*'"
	                   " --exclude=usr/lib/python3.11/site-packages"
	                   " usr/bin/python3.11 usr/bin/python3 usr/lib/python3.11"
	                   " $dp/_pytest $dp/pytest $dp/pluggy $dp/iniconfig $dp/packaging $dp/attr $dp/py.py;"
	                   " for d in $dp/py $dp/attrs; do [ ! -e /$d ] || tar -C / -rf rootfs.tar $d; done;"
	                   " libs=$(ldd /usr/bin/python3.11 /usr/lib/python3.11/lib-dynload/*.so 2>/dev/null |"
	                   " sed -n 's/.*=> \\(\\/[^ ]*\\) .*/\\1/p; s/^[[:space:]]*\\(\\/[^ ]*\\) (.*/\\1/p' | sort -u |"
	                   " sed 's/^\\///');"
	                   " tar -C / -rhf rootfs.tar $libs",
	                   t),
	             0, "adding python3 and pytest to the rootfs");
	cr_assert_eq(dt_sh("%s import --change 'CMD [\"/bin/sh\"]' '%s/rootfs.tar' " PY_IMAGE " >/dev/null", cli, t), 0,
	             "docker import of the pytest image");
	dt_rmrf(tmp);
	free(tmp);
}

/* A bare remote whose calc.add() is wrong: test_add fails, the other two pass. */
static void make_repo(void)
{
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t &&"
	                   " printf 'def add(a, b):\\n    return a - b\\n' > calc.py &&"
	                   " printf 'import calc\\n\\ndef test_add():\\n    assert calc.add(2, 3) == 5\\n\\n"
	                   "def test_ok():\\n    assert True\\n' > test_calc.py &&"
	                   /* --network none: the container has only its loopback interface */
	                   " printf 'import os\\n\\ndef test_no_network():\\n"
	                   "    assert os.listdir(\"/sys/class/net\") == [\"lo\"]\\n' > test_net.py &&"
	                   " echo hello > README && git add . && git commit -qm init && git push -q origin main",
	                   dir),
	             0);
}

static void setup(void)
{
	char why[512], path[4096], cfg[4096], *git = dt_which("git");
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	if (!git)
		dt_skip("git is not installed");
	free(git);
	if (dt_sh("/usr/bin/python3.11 -m pytest --version >/dev/null 2>&1") != 0)
		dt_skip("pytest is not installed for /usr/bin/python3.11 (python3-pytest): the image is made from it");
	if (!(engine = dt_dockerd_suite(why, sizeof(why))))
		dt_skip("%s", why);
	cr_assert_eq(devsys_init(), 1);
	cli = dt_dockerd_cli(engine);
	make_pytest_image();
	dir = dt_tmpdir("pipedocker");
	make_repo();
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	snprintf(cfg, sizeof(cfg), "runners:\n  box:\n    type: host-docker\n    host: %s\n    image: " PY_IMAGE
	                           "\n    grace: 1s\n",
	         engine->host);
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(path, cfg));
	ro.grace_ms = 200;
	po.runner = &ro;
	po.config_path = path;
	cr_assert_eq(devsys_pipeline_new(&pl, ws, &po), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	free(cli);
	dt_dockerd_free(engine);
	devsys_shutdown();
}

#define FIX "sed -i 's/a - b/a + b/' calc.py\n"
#define TESTS                                                                                                     \
	"tests:\n  command: [/usr/bin/python3, -m, pytest, -p, no:cacheprovider, --junitxml=reports/junit.xml]\n" \
	"  junit: [\"reports/*.xml\"]\n  runner: box\n  env:\n    PYTHONDONTWRITEBYTECODE: \"1\"\n"

/* Validate, run the coding stages (inproc agent) and mark the task pr-opened. */
static void coded(const char *id, const char *script)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char spec[4096], path[4096];
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, script));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Fix %s\nprompt: Make the tests pass.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n" TESTS,
	         id, id, dir, path);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, devsys_error_message(devsys_error_last()));
	/* the pr stage has its own tests (pr_gate.c); its state is set directly */
	cr_assert_eq(devsys_store_transition(devsys_pipeline_store(pl), id, DEVSYS_STATE_PR_OPENED, "test fixture"), 0,
	             "%s", devsys_error_message(devsys_error_last()));
}

static json_t *task_json(const char *id)
{
	char p[4096];
	json_t *j;
	snprintf(p, sizeof(p), "%s/tasks/%s/task.json", dir, id);
	j = json_load_file(p, 0, NULL);
	cr_assert_not_null(j, "%s", p);
	return j;
}

static json_int_t tests_int(json_t *tj, const char *key)
{
	json_t *v = json_object_get(json_object_get(tj, "tests"), key);
	cr_assert(json_is_integer(v), "task.json tests.%s is not an integer", key);
	return json_integer_value(v);
}

static char *task_file(const char *id, const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, rel);
	return dt_read_file(p, NULL);
}

/*
 * The container pytest ran in: docker sets a container's hostname to its
 * short id, and pytest writes the hostname into the report.
 */
static void container_of_report(char *out, size_t outsz, const char *junit)
{
	const char *h = junit ? strstr(junit, "hostname=\"") : NULL;
	size_t n = 0;
	cr_assert_not_null(h, "the report names its host");
	h += strlen("hostname=\"");
	while (n + 1 < outsz && h[n] && h[n] != '"')
		n++;
	memcpy(out, h, n);
	out[n] = '\0';
	cr_assert_eq(strlen(out), 12, "a container id as hostname: '%s'", out);
	cr_assert_eq(strspn(out, "0123456789abcdef"), 12, "a container id as hostname: '%s'", out);
}

/* Containers (any state) and volumes the runner made are gone; @p cid too. */
static void nothing_left(const char *cid)
{
	char *out;
	int st;
	/* positive control for the query: a container made here is listed */
	char *mine = dt_sh_output(&st, "%s create --network none " DT_DOCKERD_IMAGE " true", cli);
	cr_assert(st == 0 && mine && strlen(mine) >= 12);
	mine[12] = '\0';
	out = dt_sh_output(&st, "%s ps -aq --no-trunc --filter id=%s", cli, mine);
	cr_assert(st == 0 && out && strncmp(out, mine, 12) == 0, "the query lists a container that exists: '%s'", out);
	free(out);
	cr_assert_eq(dt_sh("%s rm %s >/dev/null", cli, mine), 0);
	free(mine);
	out = dt_sh_output(&st, "%s ps -aq --filter id=%s", cli, cid);
	cr_assert(st == 0 && out && !out[0], "the tests' container %s is gone: '%s'", cid, out ? out : "");
	free(out);
	out = dt_sh_output(&st, "%s ps -aq --filter label=devsys.runner", cli);
	cr_assert(st == 0 && out && !out[0], "no runner container is left: '%s'", out ? out : "");
	free(out);
	out = dt_sh_output(&st, "%s volume ls -q --filter label=devsys.runner", cli);
	cr_assert(st == 0 && out && !out[0], "no runner volume is left: '%s'", out ? out : "");
	free(out);
}

Test(pipeline_docker, the_test_stage_runs_pytest_in_a_container_and_records_its_junit, .init = setup,
     .fini = teardown, .timeout = 120)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char cid[64], *junit, *log;
	json_t *tj;
	coded("green-1", FIX);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pl, "test"), 0, "%s: %s", r.outcome,
	             devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(r.outcome, "tests-passed");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "green-1"), DEVSYS_STATE_TESTED);
	tj = task_json("green-1");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(tj, "tests"), "runner")), "host-docker");
	cr_assert_eq(tests_int(tj, "run"), 1);
	cr_assert_eq(tests_int(tj, "tests"), 3);
	cr_assert_eq(tests_int(tj, "passed"), 3);
	cr_assert_eq(tests_int(tj, "failed"), 0);
	cr_assert_eq(tests_int(tj, "exit_code"), 0);
	json_decref(tj);
	/* pytest's own report, recorded under reports/1/, written in the container */
	junit = task_file("green-1", "reports/1/junit/junit.xml");
	cr_assert(junit && strstr(junit, "test_add") && strstr(junit, "test_no_network"), "%s", junit ? junit : "(none)");
	container_of_report(cid, sizeof(cid), junit);
	free(junit);
	log = task_file("green-1", "logs/test.log");
	cr_assert(log && strstr(log, "3 passed"), "pytest's output in logs/test.log: %s", log ? log : "(none)");
	free(log);
	nothing_left(cid);
}

Test(pipeline_docker, a_red_run_in_the_container_fails_tests_failed_and_is_recorded, .init = setup,
     .fini = teardown, .timeout = 120)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char cid[64], *junit;
	json_t *tj;
	coded("red-1", "echo unrelated >> README\n");
	cr_assert_lt(devsys_pipeline_run_stage(&r, pl, "test"), 0);
	cr_assert_str_eq(r.outcome, "tests-failed", "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "1 of 3 tests failed"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "red-1"), DEVSYS_STATE_FAILED);
	tj = task_json("red-1");
	cr_assert_eq(tests_int(tj, "failed"), 1);
	cr_assert_eq(tests_int(tj, "passed"), 2);
	cr_assert_eq(tests_int(tj, "exit_code"), 1);
	json_decref(tj);
	junit = task_file("red-1", "reports/1/junit/junit.xml");
	cr_assert(junit && strstr(junit, "<failure"), "the red report is recorded: %s", junit ? junit : "(none)");
	container_of_report(cid, sizeof(cid), junit);
	free(junit);
	nothing_left(cid);
}

/* A host-docker pool of two endpoints, the first with no engine behind it: opening the runner there
 * fails, that endpoint cools down, and the test stage runs on the fixture's engine. */
Test(pipeline_docker, a_pool_moves_past_an_endpoint_without_an_engine, .init = setup, .fini = teardown,
     .timeout = 120)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	devsys_pipeline *pool = NULL;
	char cfg[4096], path[4096], missing[512];
	json_t *tj, *list;
	snprintf(missing, sizeof(missing), "unix://%s/no-engine.sock", engine->dir);
	snprintf(cfg, sizeof(cfg), "runners:\n  box:\n    type: host-docker\n    endpoints: [\"%s\", \"%s\"]\n"
	                           "    image: " PY_IMAGE "\n    grace: 1s\n",
	         missing, engine->host);
	snprintf(path, sizeof(path), "%s/pool.yaml", dir);
	cr_assert(dt_write_file(path, cfg));
	coded("pool-1", FIX);
	po.runner = &ro;
	po.config_path = path;
	cr_assert_eq(devsys_pipeline_new(&pool, ws, &po), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_pipeline_load(pool, "pool-1"), 0);
	cr_assert_eq(devsys_pipeline_run_stage(&r, pool, "test"), 0, "%s: %s", r.outcome,
	             devsys_error_message(devsys_error_last()));
	devsys_pipeline_free(pool);
	cr_assert_str_eq(r.outcome, "tests-passed");
	tj = task_json("pool-1");
	list = json_object_get(tj, "placements");
	cr_assert_eq(json_array_size(list), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "host")), missing);
	cr_assert(json_is_string(json_object_get(json_array_get(list, 0), "failed")), "the endpoint without an engine failed");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "host")), engine->host);
	cr_assert_null(json_object_get(json_array_get(list, 1), "failed"));
	cr_assert_str_eq(json_string_value(json_object_get(tj, "runner_host")), engine->host);
	cr_assert_eq(tests_int(tj, "passed"), 3);
	json_decref(tj);
}
