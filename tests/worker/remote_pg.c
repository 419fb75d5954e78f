/*
 * Workers on several hosts sharing only a PostgreSQL database: three
 * workspaces (three "hosts": separate directories, separate processes,
 * one DEVSYS_STORE_URL), no shared task folders, one bare repository.
 *
 * - A task submitted in workspace A is run to the end by a `devsys worker`
 *   in workspace B, which makes the task's folder from what the store
 *   keeps (the spec kept at submit, task.json); devsysd on A answers
 *   /api/tasks/<id> and tests/latest with B's results, not with A's own
 *   folder, which still says "queued" (the control).
 * - The worker in B killed with SIGKILL in the tests, after the push and
 *   the PR: a worker in workspace C (no folder, no checkout, no mirror)
 *   resumes it; its checkout is made at the recorded commit, the tests run
 *   there, and the task has one commit and one PR.
 * - Bad input: a kept spec made invalid in the database between submit and
 *   claim fails the task, naming the schema recorded at submit (a valid
 *   task queued with it runs: the control); a queue row whose task id
 *   would escape the workspace is refused and dropped, nothing is written
 *   outside, and the queue goes on.
 */
#include "api_client.h"
#include "pg_suite.h"
#include <devsys.h>
#include <devsys/store.h>

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "remote-token-0123456789abcdef"

static dt_pg *pg;
static char *dir, *url;
static const char *cli;
static char ws[3][4096];
static pid_t daemon_pid;

static void setup(void)
{
	char why[512], *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!(pg = dt_pg_suite(why, sizeof(why))))
		return;
	cr_assert_not_null(cli = getenv("DEVSYS_CLI"), "DEVSYS_CLI is not set by the build");
	cr_assert(dir = dt_tmpdir("remote-pg"));
	dt_pg_client_env(pg, dir);
	dt_pipe_remote(dir, NULL);
	cr_assert(url = dt_pg_newdb(pg, "remote"));
	setenv("DEVSYS_STORE_URL", url, 1); /* the only thing the three hosts share besides the remote */
	for (int i = 0; i < 3; i++) {
		snprintf(ws[i], sizeof(ws[i]), "%s/host-%c", dir, 'a' + i);
		cr_assert_eq(mkdir(ws[i], 0700), 0);
	}
}

static void teardown(void)
{
	if (daemon_pid > 0)
		dt_stop(daemon_pid, SIGTERM, 10000);
	if (dir) {
		dt_sh("pkill -9 -f '%s/[s]low-' 2>/dev/null", dir); /* the tests a killed worker left */
		dt_rmrf(dir);
	}
	free(dir);
	free(url);
	unsetenv("DEVSYS_STORE_URL");
	dt_pg_free(pg);
	curl_global_cleanup();
	devsys_shutdown();
}

TestSuite(worker_remote_pg, .init = setup, .fini = teardown, .timeout = 120);

/*
 * Spec @p id into <dir>/<id>.yaml: the agent appends "line from <id>" to
 * README; the tests (run through @p tests_sh, a script) write a JUnit
 * report of two cases and pass only where README has that line, so they
 * pass only on the task's own commit.
 */
static char *write_spec(const char *id, const char *tests_env)
{
	char *file, *tests, *text;
	cr_assert(asprintf(&tests, "%s/slow-tests.sh", dir) > 0);
	cr_assert(dt_write_file(tests, "echo run >> \"$MARK.runs\"\n"
	                               "[ -z \"$SLOW\" ] || [ -f \"$MARK\" ] || { touch \"$MARK\"; sleep 60; }\n"
	                               "mkdir -p reports && cat > reports/junit.xml <<'EOF'\n"
	                               "<testsuite name=\"s\" tests=\"2\"><testcase classname=\"c\" name=\"ok\"/>"
	                               "<testcase classname=\"c\" name=\"later\"><skipped/></testcase></testsuite>\nEOF\n"
	                               "grep -q \"line from $DEVSYS_TASK_ID\" README\n"));
	cr_assert(asprintf(&text,
	                   "id: %s\ntitle: Task %s\nprompt: Append a line to README.\n"
	                   "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	                   "agent:\n  command: [/bin/sh, -c, 'echo \"line from $DEVSYS_TASK_ID\" >> README']\n"
	                   "tests:\n  command: [/usr/bin/env, MARK=%s/%s.tests, %s/bin/sh, %s]\n"
	                   "  junit: [reports/junit.xml]\nrunner: inproc\n",
	                   id, id, dir, dir, id, tests_env ? tests_env : "", tests) > 0);
	cr_assert(asprintf(&file, "%s/%s.yaml", dir, id) > 0 && dt_write_file(file, text));
	free(text);
	free(tests);
	return file;
}

/* `devsys submit` in workspace @p host (a process of its own). */
static void submit(int host, const char *file)
{
	int status;
	char *out = dt_sh_output(&status, "'%s' --workspace '%s' submit '%s' 2>&1", cli, ws[host], file);
	cr_assert_eq(status, 0, "submit on host %c: %.2000s", 'a' + host, out ? out : "");
	free(out);
}

static pid_t worker(int host, const char *id, const char *lease_ms, bool once)
{
	char log[4200];
	char *argv[] = { (char *)cli, "--workspace", ws[host], "worker", "--id", (char *)id, "--lease-ms", (char *)lease_ms,
		         once ? "--once" : NULL, NULL };
	pid_t pid;
	snprintf(log, sizeof(log), "%s/worker-%s.log", dir, id);
	pid = dt_spawn(argv, log);
	cr_assert_gt(pid, 0);
	return pid;
}

/* Run a `devsys worker --once` in workspace @p host to its end; asserts its exit status @p want; its log (free() it). */
static char *run_worker(int host, const char *id, int want)
{
	char log[4200], *text;
	int rc = dt_reap(worker(host, id, "30000", true), 90000);
	snprintf(log, sizeof(log), "%s/worker-%s.log", dir, id);
	text = dt_read_file(log, NULL);
	cr_assert_eq(rc, want, "worker %s exited %d:\n%.4000s", id, rc, text ? text : "");
	return text;
}

static devsys_store *open_store(devsys_workspace **w, int host)
{
	devsys_store *st = NULL;
	OK(devsys_workspace_open(w, ws[host], NULL));
	OK(devsys_store_open(&st, *w, NULL));
	cr_assert_str_eq(devsys_store_backend_name(st), "postgresql");
	return st;
}

static char *path_of(int host, const char *id, const char *rel)
{
	char *p;
	cr_assert(asprintf(&p, "%s/tasks/%s/%s", ws[host], id, rel) > 0);
	return p;
}

static json_t *load_json(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);
	cr_assert_not_null(j, "%s does not parse", path);
	return j;
}

/* Occurrences of @p needle in <host>/tasks/<id>/events.jsonl. */
static int events_with(int host, const char *id, const char *needle)
{
	char *p = path_of(host, id, "events.jsonl"), *text = dt_read_file(p, NULL), *s;
	int n = 0;
	for (s = text; s && (s = strstr(s, needle)); s += strlen(needle))
		n++;
	free(text);
	free(p);
	return n;
}

Test(worker_remote_pg, a_task_submitted_on_one_host_runs_on_another_and_the_first_serves_its_results)
{
	devsys_workspace *wa = NULL, *wb = NULL;
	devsys_store *sa, *sb;
	devsys_buf b = DEVSYS_BUF_INIT;
	char *file, *pa, *pb, *ta, *tb, log[4200];
	json_t *j;
	int port;
	long code;
	dt_pg_need(pg);
	file = write_spec("r1", NULL);
	submit(0, file);
	pb = path_of(1, "r1", "spec.yaml");
	cr_assert(!dt_exists(pb), "host b has no folder of the task before its claim");
	/* devsysd on host a, up while host b runs the task */
	snprintf(log, sizeof(log), "%s/devsysd-a.log", dir);
	daemon_pid = dt_api_daemon(ws[0], TOKEN, log, &port);
	free(run_worker(1, "wb", 0));

	sa = open_store(&wa, 0);
	sb = open_store(&wb, 1);
	cr_assert_eq(devsys_store_task_state(sb, "r1"), DEVSYS_STATE_AWAITING_REVIEW, "%s",
	             devsys_task_state_name(devsys_store_task_state(sb, "r1")));
	/* host b's folder was made from the store: the same spec bytes as host a's */
	pa = path_of(0, "r1", "spec.yaml");
	ta = dt_read_file(pa, NULL);
	tb = dt_read_file(pb, NULL);
	cr_assert(ta && tb && strcmp(ta, tb) == 0, "host b's kept spec differs from host a's:\n%s\n---\n%s", ta, tb);
	free(ta);
	free(tb);
	free(pa);
	pa = path_of(1, "r1", "task.json");
	j = load_json(pa);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "awaiting-review");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(j, "stages"), "test"), "result")),
	                 "ok");
	json_decref(j);
	free(pa);
	cr_assert_eq(dt_pipe_commits(dir, "main..task/r1"), 1, "one commit on the task branch");

	/* the control: host a's own folder is the one of the submit, and stays so */
	pa = path_of(0, "r1", "task.json");
	j = load_json(pa);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "queued", "host a's folder is left as submitted");
	cr_assert(!json_object_get(json_object_get(j, "stages"), "test"));
	json_decref(j);
	free(pa);
	pa = path_of(0, "r1", "reports");
	cr_assert(!dt_exists(pa), "host a's folder has no test run");
	free(pa);
	cr_assert_eq(devsys_store_folder_current(sa, "r1"), 0, "host a's folder is behind the store");
	cr_assert_eq(devsys_store_folder_current(sb, "r1"), 1, "host b's folder is the store's");

	/* devsysd on host a answers with host b's record and tests, not its own folder's */
	cr_assert_eq(code = dt_api_request(port, TOKEN, "GET", "/api/tasks/r1", NULL, &b), 200, "%ld %s", code, b.ptr);
	cr_assert(j = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "awaiting-review", "%s", b.ptr);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(j, "stages"), "test"), "result")),
	                 "ok", "%s", b.ptr);
	json_decref(j);
	cr_assert_eq(code = dt_api_request(port, TOKEN, "GET", "/api/tasks/r1/tests/latest", NULL, &b), 200, "%ld %s", code,
	             b.ptr);
	cr_assert(j = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "summary"), "tests")), 2, "%s", b.ptr);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "summary"), "skipped")), 1, "%s", b.ptr);
	json_decref(j);
	/* `devsys show` on host a: the store's record too */
	{
		int status;
		char *out = dt_sh_output(&status, "'%s' --json --workspace '%s' show r1", cli, ws[0]);
		cr_assert_eq(status, 0, "%s", out ? out : "");
		cr_assert(j = json_loads(out, 0, NULL), "%s", out);
		cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "record"), "state")), "awaiting-review",
		                 "%s", out);
		json_decref(j);
		free(out);
	}
	/* devsys check: host a's folder is behind the store (repaired from it); on host c, with no folder, no drift */
	{
		int status;
		char *out = dt_sh_output(&status, "'%s' --json --workspace '%s' check", cli, ws[2]);
		cr_assert(j = json_loads(out, 0, NULL), "%s", out);
		cr_assert_eq(json_array_size(json_object_get(j, "drift")), 0, "host c: %s", out);
		cr_assert_eq(json_integer_value(json_object_get(j, "elsewhere")), 1, "host c: %s", out);
		json_decref(j);
		free(out);
		out = dt_sh_output(&status, "'%s' --json --workspace '%s' check --repair", cli, ws[0]);
		cr_assert(j = json_loads(out, 0, NULL), "%s", out);
		cr_assert_eq(json_array_size(json_object_get(j, "drift")), 1, "host a: %s", out);
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "drift"), 0), "kind")),
		                 "behind-store", "%s", out);
		cr_assert(json_is_true(json_object_get(json_array_get(json_object_get(j, "drift"), 0), "repaired")), "%s", out);
		json_decref(j);
		free(out);
		pa = path_of(0, "r1", "task.json");
		j = load_json(pa);
		cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "awaiting-review", "repaired from the store");
		json_decref(j);
		free(pa);
		cr_assert_eq(devsys_store_folder_current(sa, "r1"), 1, "host a's folder is the store's now");
	}
	devsys_buf_dispose(&b);
	devsys_store_free(sa);
	devsys_store_free(sb);
	devsys_workspace_free(wa);
	devsys_workspace_free(wb);
	free(pb);
	free(file);
}

Test(worker_remote_pg, a_worker_killed_after_the_push_is_resumed_on_a_third_host_with_one_commit_and_one_pr)
{
	devsys_workspace *wa = NULL;
	devsys_store *sa;
	char *file, *marker, *runs, *p, *head;
	json_t *j;
	pid_t b;
	int status;
	dt_pg_need(pg);
	file = write_spec("k1", "SLOW=1, ");
	submit(0, file);
	b = worker(1, "wb", "1500", false);
	cr_assert(asprintf(&marker, "%s/k1.tests", dir) > 0);
	dt_wait_file(marker, 60000); /* host b is in the tests: committed, pushed, its PR opened */
	cr_assert_eq(dt_pipe_commits(dir, "main..task/k1"), 1);
	kill(b, SIGKILL);
	cr_assert_eq(dt_reap(b, 5000), 128 + SIGKILL);
	dt_sh("pkill -9 -f '%s/[s]low-' 2>/dev/null", dir); /* its tests, orphaned */
	sa = open_store(&wa, 0);
	dt_pg_wait_leases_expired(sa, 20000);
	p = path_of(2, "k1", "");
	cr_assert(!dt_exists(p), "host c has no folder of the task");
	free(p);

	free(run_worker(2, "wc", 0));
	cr_assert_eq(devsys_store_task_state(sa, "k1"), DEVSYS_STATE_AWAITING_REVIEW, "%s",
	             devsys_task_state_name(devsys_store_task_state(sa, "k1")));
	/* nothing that must not repeat ran twice: one commit, one PR */
	cr_assert_eq(dt_pipe_commits(dir, "main..task/k1"), 1, "one commit on the task branch");
	cr_assert_eq(dt_sh("test \"$(ls '%s/remote.git/devsys/prs/'*.json | wc -l)\" = 1", dir), 0, "one PR in the forge");
	cr_assert_eq(events_with(2, "k1", "\"type\":\"git.commit\""), 1, "host c's record: one commit");
	cr_assert_eq(events_with(2, "k1", "\"type\":\"pr.opened\""), 1, "host c's record: one PR");
	cr_assert_eq(events_with(2, "k1", "lease of worker wb"), 1, "the expiry is in its events");
	/* the tests ran again on host c, on the task's commit (they pass only where README has its line) */
	cr_assert(asprintf(&runs, "%s/k1.tests.runs", dir) > 0);
	cr_assert_eq(dt_lines_of(runs), 2, "the tests ran on host b and again on host c");
	free(runs);
	p = path_of(2, "k1", "task.json");
	j = load_json(p);
	free(p);
	head = dt_sh_output(&status, "git -C '%s/tasks/k1/checkout' rev-parse HEAD", ws[2]);
	cr_assert_eq(status, 0);
	head[strcspn(head, "\n")] = '\0';
	cr_assert_str_eq(head, json_string_value(json_object_get(json_object_get(j, "commit"), "sha")),
	                 "host c's checkout is at the recorded commit");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(j, "stages"), "test"), "result")),
	                 "ok");
	free(head);
	json_decref(j);
	cr_assert_eq(dt_sh("git -C '%s/tasks/k1/checkout' symbolic-ref -q HEAD | grep -qx refs/heads/task/k1", ws[2]), 0,
	             "on the task branch");
	devsys_store_free(sa);
	devsys_workspace_free(wa);
	free(marker);
	free(file);
}

Test(worker_remote_pg, a_kept_spec_made_invalid_before_the_claim_fails_naming_the_schema_of_its_submit)
{
	devsys_workspace *wa = NULL;
	devsys_store *sa;
	char *bad, *good, *p, *text;
	json_t *j;
	dt_pg_need(pg);
	bad = write_spec("inv1", NULL);
	good = write_spec("inv2", NULL);
	submit(0, bad);
	submit(0, good);
	/* between submit and claim, the kept spec in the database loses its prompt */
	cr_assert_eq(dt_pg_sql(pg, url, NULL,
	                       "UPDATE documents SET body = convert_to(regexp_replace(convert_from(body, 'UTF8'), "
	                       "'prompt:[^\\n]*\\n', ''), 'UTF8') WHERE task_id = 'inv1' AND name = 'spec.yaml';"),
	             0);
	{
		char *out = NULL;
		cr_assert_eq(dt_pg_sql(pg, url, &out, "SELECT count(*) FROM documents WHERE name = 'spec.yaml' AND "
		                                      "task_id IN ('inv1', 'inv2') AND position('prompt:' in "
		                                      "convert_from(body, 'UTF8')) = 0;"),
		             0);
		cr_assert_eq(atoi(out), 1, "one kept spec lost its prompt: %s", out);
		free(out);
	}
	text = run_worker(1, "wb", 1); /* a task that did not rest */
	cr_assert(strstr(text, "inv1: failed"), "%s", text);
	free(text);
	sa = open_store(&wa, 0);
	cr_assert_eq(devsys_store_task_state(sa, "inv1"), DEVSYS_STATE_FAILED);
	cr_assert_eq(devsys_store_task_state(sa, "inv2"), DEVSYS_STATE_AWAITING_REVIEW, "the valid task runs");
	p = path_of(1, "inv1", "events.jsonl");
	text = dt_read_file(p, NULL);
	cr_assert(text && strstr(text, "urn:devsys:schema:task:1") && strstr(text, "not valid") && strstr(text, "prompt"),
	          "the failure names the schema of the submit and the field: %s", text ? text : "(no events)");
	free(text);
	free(p);
	/* nothing of it ran */
	p = path_of(1, "inv1", "task.json");
	j = load_json(p);
	cr_assert(!json_object_get(json_object_get(j, "stages"), "checkout"), "no stage ran");
	json_decref(j);
	free(p);
	cr_assert_eq(dt_pipe_commits(dir, "main..task/inv1"), -1, "no branch pushed");
	devsys_store_free(sa);
	devsys_workspace_free(wa);
	free(bad);
	free(good);
}

Test(worker_remote_pg, a_queued_task_id_that_would_escape_the_workspace_is_refused)
{
	devsys_workspace *wb = NULL;
	devsys_store *sb;
	devsys_buf id = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	char *file, *p, *out = NULL;
	int rc;
	dt_pg_need(pg);
	sb = open_store(&wb, 1); /* the schema */
	/* rows no libdevsys would write: a task whose id climbs out of tasks/, queued */
	cr_assert_eq(dt_pg_sql(pg, url, NULL,
	                       "INSERT INTO tasks(id, state, created_at, updated_at, spec_path) VALUES ('../../escape', 17, "
	                       "'x', 'x', 'spec.yaml');"
	                       "INSERT INTO documents(task_id, name, body, updated_ms) VALUES ('../../escape', 'spec.yaml', "
	                       "convert_to('id: x', 'UTF8'), 0), ('../../escape', 'task.json', "
	                       "convert_to('{\"id\":\"../../escape\"}', 'UTF8'), 0);"
	                       "INSERT INTO queue(task_id, profile, schema_id, submitted_at) VALUES ('../../escape', '', "
	                       "'', 'x');"),
	             0);
	rc = devsys_store_claim(&id, sb, "wb", "host-b", NULL, 0, 30000);
	cr_assert_eq(rc, DEVSYS_EBADID, "claim: %d %s", rc, MSG);
	cr_assert(strstr(MSG, "../../escape") && strstr(MSG, "dropped"), "%s", MSG);
	cr_assert_eq(dt_pg_sql(pg, url, &out, "SELECT count(*) FROM queue;"), 0);
	cr_assert_eq(atoi(out), 0, "the row left the queue: %s", out);
	free(out);
	cr_assert_eq(dt_sh("test -z \"$(find '%s' -name escape)\"", dir), 0, "nothing named escape was made");
	/* the control: the queue goes on, a task submitted after it is claimed and its folder made here */
	file = write_spec("esc2", NULL);
	submit(0, file);
	OK(devsys_store_claim(&id, sb, "wb", "host-b", NULL, 0, 30000));
	cr_assert_str_eq(id.ptr, "esc2");
	p = path_of(1, "esc2", "spec.yaml");
	cr_assert(dt_exists(p), "the claim made the task's folder here from the store");
	free(p);
	OK(devsys_store_release(sb, "esc2", "wb", NULL));
	devsys_buf_dispose(&id);
	devsys_buf_dispose(&b);
	devsys_store_free(sb);
	devsys_workspace_free(wb);
	free(file);
}

Test(worker_remote_pg, a_kept_spec_over_the_store_limit_is_refused_at_submit)
{
	devsys_workspace *wa = NULL;
	devsys_store *sa;
	devsys_buf b = DEVSYS_BUF_INIT;
	char *file, *text, *big, *out;
	size_t n = (1u << 20) + 4096;
	int status;
	json_t *j;
	dt_pg_need(pg);
	/* a valid spec whose bytes (a comment) pass the 1 MiB a shared store keeps */
	file = write_spec("big1", NULL);
	text = dt_read_file(file, NULL);
	cr_assert(big = malloc(strlen(text) + n + 4));
	strcpy(big, text);
	strcat(big, "# ");
	memset(big + strlen(big), 'x', n);
	strcpy(big + strlen(text) + 2 + n, "\n");
	cr_assert(dt_write_file(file, big));
	out = dt_sh_output(&status, "'%s' --workspace '%s' submit '%s' 2>&1", cli, ws[0], file);
	cr_assert_neq(status, 0, "a spec over the limit was queued: %s", out ? out : "");
	cr_assert(out && strstr(out, "big1") && strstr(out, "larger than 1024 KiB"), "%s", out ? out : "");
	free(out);
	sa = open_store(&wa, 0);
	cr_assert_eq(devsys_store_task_state(sa, "big1"), DEVSYS_STATE_VALIDATED, "registered here, not queued");
	OK(devsys_store_claims_json(sa, "big1", &b));
	cr_assert(j = json_loads(b.ptr, 0, NULL));
	cr_assert_eq(json_array_size(json_object_get(j, "queue")), 0, "%s", b.ptr);
	json_decref(j);
	devsys_buf_dispose(&b);
	devsys_store_free(sa);
	devsys_workspace_free(wa);
	free(big);
	free(text);
	free(file);
}

/*
 * The freshness rule's hard case: both folders in the state the store has,
 * one of them from an earlier pass through it. Host a submits (queued);
 * host b claims (validated), completes and submits again (queued): host a's
 * folder says queued as the store does, but from the first change.
 */
Test(worker_remote_pg, a_folder_in_the_store_state_from_an_earlier_change_is_not_current)
{
	devsys_workspace *wa = NULL, *wb = NULL;
	devsys_store *sa, *sb;
	devsys_buf id = DEVSYS_BUF_INIT;
	char *file, *p;
	json_t *ja, *jb;
	dt_pg_need(pg);
	file = write_spec("again1", NULL);
	submit(0, file);
	sa = open_store(&wa, 0);
	sb = open_store(&wb, 1);
	cr_assert_eq(devsys_store_folder_current(sa, "again1"), 1, "host a's folder is the store's after its submit");
	cr_assert_eq(devsys_store_folder_current(sb, "again1"), 0, "host b has no folder");
	OK(devsys_store_claim(&id, sb, "wb", "host-b", NULL, 0, 30000));
	cr_assert_str_eq(id.ptr, "again1");
	OK(devsys_store_complete(sb, "again1", "wb"));
	OK(devsys_store_submit(sb, "again1", "", "urn:devsys:schema:task:1"));
	cr_assert_eq(devsys_store_task_state(sa, "again1"), DEVSYS_STATE_QUEUED);
	p = path_of(0, "again1", "task.json");
	ja = load_json(p);
	free(p);
	p = path_of(1, "again1", "task.json");
	jb = load_json(p);
	free(p);
	cr_assert_str_eq(json_string_value(json_object_get(ja, "state")), "queued");
	cr_assert_str_eq(json_string_value(json_object_get(jb, "state")), "queued");
	cr_assert_str_neq(json_string_value(json_object_get(ja, "state_at")),
	                  json_string_value(json_object_get(jb, "state_at")), "two changes");
	cr_assert_eq(devsys_store_folder_current(sa, "again1"), 0, "host a's queued is the first submit's");
	cr_assert_eq(devsys_store_folder_current(sb, "again1"), 1, "host b's is the store's");
	json_decref(ja);
	json_decref(jb);
	devsys_buf_dispose(&id);
	devsys_store_free(sa);
	devsys_store_free(sb);
	devsys_workspace_free(wa);
	devsys_workspace_free(wb);
	free(file);
}
