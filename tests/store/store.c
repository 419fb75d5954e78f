/* The SQLite task store: state machine, processes, recovery, drift. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/record.h>
#include <devsys/store.h>

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_store *st;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("store");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_store_free(st);
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(store, .init = setup, .fini = teardown);

static json_t *task_file(const char *id, const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, rel);
	return json_load_file(p, 0, NULL);
}

static int count_lines(const char *id)
{
	int st_;
	char *out = dt_sh_output(&st_, "wc -l < '%s/tasks/%s/events.jsonl'", dir, id);
	int n = atoi(out);
	free(out);
	return n;
}

Test(store, wal_database_in_the_workspace)
{
	int s;
	char *out = dt_sh_output(&s, "/usr/bin/python3 -c \"import sqlite3; print(sqlite3.connect('%s/devsys.db')"
	                             ".execute('pragma journal_mode').fetchone()[0])\"", dir);
	cr_assert(strstr(out, "wal"), "journal mode: %s", out);
	free(out);
}

Test(store, the_main_path_to_done)
{
	static const int path[] = { DEVSYS_STATE_VALIDATED, DEVSYS_STATE_CHECKED_OUT, DEVSYS_STATE_CODED,
		                    DEVSYS_STATE_COMMITTED, DEVSYS_STATE_PUSHED,      DEVSYS_STATE_PR_OPENED,
		                    DEVSYS_STATE_TESTED,    DEVSYS_STATE_DEPLOYED,    DEVSYS_STATE_AWAITING_REVIEW,
		                    DEVSYS_STATE_MERGED,    DEVSYS_STATE_DONE };
	json_t *j;
	cr_assert_eq(devsys_store_task_create(st, "t1", "specs/t1.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_store_task_create(st, "t1", NULL), DEVSYS_EEXISTS);
	cr_assert_eq(devsys_store_task_state(st, "t1"), DEVSYS_STATE_CREATED);
	for (size_t i = 0; i < sizeof(path) / sizeof(path[0]); i++) {
		cr_assert_eq(devsys_store_transition(st, "t1", path[i], NULL), 0, "%s",
		             devsys_error_message(devsys_error_last()));
		cr_assert_eq(devsys_store_task_state(st, "t1"), path[i]);
		j = task_file("t1", "task.json");
		cr_assert_str_eq(json_string_value(json_object_get(j, "state")), devsys_task_state_name(path[i]));
		json_decref(j);
	}
	cr_assert_eq(count_lines("t1"), 12, "one event per state change");
	cr_assert_eq(devsys_store_transition(st, "t1", DEVSYS_STATE_FAILED, NULL), DEVSYS_ESTATE, "done is final");
	j = task_file("t1", "task.json");
	cr_assert_str_eq(json_string_value(json_object_get(j, "spec_path")), "specs/t1.yaml");
	json_decref(j);
}

Test(store, refused_transitions_change_nothing)
{
	cr_assert_eq(devsys_store_task_create(st, "t2", NULL), 0);
	cr_assert_eq(devsys_store_transition(st, "t2", DEVSYS_STATE_TESTED, NULL), DEVSYS_ESTATE);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "from created to tested"));
	cr_assert_eq(devsys_store_transition(st, "t2", 99, NULL), DEVSYS_ESTATE);
	cr_assert_eq(devsys_store_task_state(st, "t2"), DEVSYS_STATE_CREATED);
	cr_assert_eq(count_lines("t2"), 1);
	cr_assert_eq(devsys_store_transition(st, "nope", DEVSYS_STATE_VALIDATED, NULL), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_store_transition(st, "../../etc", DEVSYS_STATE_VALIDATED, NULL), DEVSYS_EBADID);
	cr_assert_eq(devsys_store_task_create(st, "../x", NULL), DEVSYS_EBADID);
}

Test(store, side_states)
{
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_CODED, DEVSYS_STATE_NO_CHANGES), 1);
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_NO_CHANGES, DEVSYS_STATE_DONE), 1);
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_TESTED, DEVSYS_STATE_DEPLOY_SKIPPED), 1);
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_DEPLOY_SKIPPED, DEVSYS_STATE_AWAITING_REVIEW), 1);
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_PUSHED, DEVSYS_STATE_CANCELED), 1);
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_FAILED, DEVSYS_STATE_CREATED), 0);
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_CANCELED, DEVSYS_STATE_FAILED), 0);
	cr_assert_eq(devsys_task_state_allowed(DEVSYS_STATE_INTERRUPTED, DEVSYS_STATE_CODED), 0);
	cr_assert_eq(devsys_task_state_parse("pr-opened"), DEVSYS_STATE_PR_OPENED);
	cr_assert_eq(devsys_task_state_parse("PR"), DEVSYS_EINVAL);
	cr_assert_str_eq(devsys_task_state_name(DEVSYS_STATE_DEPLOY_SKIPPED), "deploy-skipped");
	cr_assert_str_eq(devsys_task_state_name(17), "queued", "states are appended");
	cr_assert_null(devsys_task_state_name(DEVSYS_STATE_COUNT));
}

Test(store, stages_and_metrics)
{
	devsys_buf m = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_store_task_create(st, "s1", NULL), 0);
	cr_assert_eq(devsys_store_stage_begin(st, "s1", "validate"), 0);
	cr_assert_eq(devsys_store_stage_begin(st, "s1", "checkout"), DEVSYS_ESTATE, "one stage at a time");
	cr_assert_eq(devsys_store_stage_begin(st, "s1", "com/pile"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_store_stage_end(st, "s1", "checkout", "ok", DEVSYS_STATE_VALIDATED), DEVSYS_ESTATE);
	cr_assert_eq(devsys_store_stage_end(st, "s1", "validate", "ok", DEVSYS_STATE_VALIDATED), 0);
	cr_assert_eq(devsys_store_task_state(st, "s1"), DEVSYS_STATE_VALIDATED);
	cr_assert_eq(devsys_store_stage_begin(st, "s1", "checkout"), 0);
	cr_assert_eq(devsys_store_stage_end(st, "s1", "checkout", "failed", -1), 0);
	cr_assert_eq(devsys_store_task_state(st, "s1"), DEVSYS_STATE_FAILED);
	cr_assert_eq(devsys_store_stage_begin(st, "s1", "agent"), DEVSYS_ESTATE, "failed is final");
	cr_assert_eq(devsys_store_metrics(st, &m), 0);
	cr_assert(strstr(m.ptr, "devsys_tasks{state=\"failed\"} 1\n"), "%s", m.ptr);
	cr_assert(strstr(m.ptr, "devsys_tasks{state=\"created\"} 0\n"));
	cr_assert(strstr(m.ptr, "devsys_stage_duration_seconds_count{stage=\"validate\"} 1\n"), "%s", m.ptr);
	devsys_buf_dispose(&m);
}

Test(store, list_paginates_and_filters)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	char id[16];
	for (int i = 0; i < 25; i++) {
		snprintf(id, sizeof(id), "task-%02d", i);
		cr_assert_eq(devsys_store_task_create(st, id, NULL), 0);
		if (i % 5 == 0)
			cr_assert_eq(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL), 0);
	}
	cr_assert_eq(devsys_store_list_json(st, NULL, 20, 10, &b), 0);
	j = json_loads(b.ptr, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 25);
	cr_assert_eq(json_array_size(json_object_get(j, "tasks")), 5);
	json_decref(j);
	cr_assert_eq(devsys_store_list_json(st, "validated", 0, 0, &b), 0);
	j = json_loads(b.ptr, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "tasks"), 0), "state")),
	                 "validated");
	json_decref(j);
	cr_assert_eq(devsys_store_list_json(st, "bogus", 0, 0, &b), DEVSYS_EINVAL);
	cr_assert_eq(devsys_store_task_json(st, "task-03", &b), 0);
	cr_assert(strstr(b.ptr, "\"id\": \"task-03\""));
	cr_assert_eq(devsys_store_task_json(st, "missing", &b), DEVSYS_ENOTFOUND);
	devsys_buf_dispose(&b);
}

static void child_store(void (*fn)(devsys_store *s, int k), int k)
{
	devsys_workspace *w;
	devsys_store *s;
	if (devsys_workspace_open(&w, dir, NULL) < 0 || devsys_store_open(&s, w, NULL) < 0)
		_exit(10);
	fn(s, k);
	devsys_store_free(s);
	devsys_workspace_free(w);
	_exit(0);
}

static void make_tasks(devsys_store *s, int k)
{
	char id[32];
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "p%d-%d", k, i);
		if (devsys_store_task_create(s, id, NULL) < 0 || devsys_store_transition(s, id, DEVSYS_STATE_VALIDATED, NULL) < 0)
			_exit(11);
	}
}

Test(store, several_processes_share_one_workspace, .timeout = 120)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	for (int k = 0; k < 4; k++)
		if (fork() == 0)
			child_store(make_tasks, k);
	for (int k = 0; k < 4; k++) {
		int s;
		cr_assert_gt(wait(&s), 0);
		cr_assert(WIFEXITED(s) && WEXITSTATUS(s) == 0, "child failed: %d", s);
	}
	cr_assert_eq(devsys_store_list_json(st, "validated", 0, 1000, &b), 0);
	j = json_loads(b.ptr, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 80);
	json_decref(j);
	devsys_buf_dispose(&b);
}

static void race_validate(devsys_store *s, int k)
{
	(void)k;
	int rc = devsys_store_transition(s, "race", DEVSYS_STATE_VALIDATED, NULL);
	_exit(rc == 0 ? 0 : rc == DEVSYS_ESTATE ? 1 : 12);
}

Test(store, concurrent_transition_happens_once, .timeout = 60)
{
	int ok = 0, refused = 0;
	cr_assert_eq(devsys_store_task_create(st, "race", NULL), 0);
	for (int k = 0; k < 6; k++)
		if (fork() == 0)
			child_store(race_validate, k);
	for (int k = 0; k < 6; k++) {
		int s;
		cr_assert_gt(wait(&s), 0);
		cr_assert(WIFEXITED(s));
		if (WEXITSTATUS(s) == 0)
			ok++;
		else if (WEXITSTATUS(s) == 1)
			refused++;
	}
	cr_assert_eq(ok, 1);
	cr_assert_eq(refused, 5);
	cr_assert_eq(count_lines("race"), 2);
}

static void crash_in_agent(devsys_store *s, int k)
{
	(void)k;
	if (devsys_store_stage_begin(s, "c1", "agent") < 0)
		_exit(13);
	raise(SIGKILL);
}

Test(store, crash_mid_stage_is_interrupted_and_resumable, .timeout = 60)
{
	devsys_store *again = NULL;
	devsys_buf stage = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	size_t n = 99;
	int s;
	cr_assert_eq(devsys_store_task_create(st, "c1", NULL), 0);
	cr_assert_eq(devsys_store_transition(st, "c1", DEVSYS_STATE_VALIDATED, NULL), 0);
	cr_assert_eq(devsys_store_transition(st, "c1", DEVSYS_STATE_CHECKED_OUT, NULL), 0);
	if (fork() == 0)
		child_store(crash_in_agent, 0);
	cr_assert_gt(wait(&s), 0);
	cr_assert(WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL);
	/* our own live stages are not touched */
	cr_assert_eq(devsys_store_task_create(st, "live", NULL), 0);
	cr_assert_eq(devsys_store_stage_begin(st, "live", "validate"), 0);
	cr_assert_eq(devsys_store_open(&again, ws, NULL), 0);
	cr_assert_eq(devsys_store_task_state(again, "c1"), DEVSYS_STATE_INTERRUPTED);
	cr_assert_eq(devsys_store_task_state(again, "live"), DEVSYS_STATE_CREATED);
	cr_assert_eq(devsys_store_recover(again, &n), 0);
	cr_assert_eq(n, 0, "recovery is idempotent");
	cr_assert_eq(devsys_store_task_json(again, "c1", &b), 0);
	cr_assert(strstr(b.ptr, "\"last_stage\": \"agent\""), "%s", b.ptr);
	cr_assert_eq(dt_sh("grep -q 'stage agent interrupted' '%s/tasks/c1/events.jsonl'", dir), 0,
	             "the event names the stage");
	cr_assert_eq(devsys_store_stage_begin(again, "c1", "agent"), DEVSYS_ESTATE, "resume first");
	cr_assert_eq(devsys_store_resume(again, "c1", &stage), 0);
	cr_assert_str_eq(stage.ptr, "agent");
	cr_assert_eq(devsys_store_task_state(again, "c1"), DEVSYS_STATE_CHECKED_OUT, "back to the last completed state");
	cr_assert_eq(devsys_store_resume(again, "c1", &stage), DEVSYS_ESTATE);
	cr_assert_eq(devsys_store_stage_begin(again, "c1", "agent"), 0);
	cr_assert_eq(devsys_store_stage_end(again, "c1", "agent", "ok", DEVSYS_STATE_CODED), 0);
	devsys_store_free(again);
	devsys_buf_dispose(&stage);
	devsys_buf_dispose(&b);
}

Test(store, check_reports_and_repairs_drift)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	size_t n = 0;
	char p[4096];
	devsys_task *t;
	devsys_record *rec;
	unsigned int run;
	cr_assert_eq(devsys_store_task_create(st, "gone", NULL), 0);
	cr_assert_eq(devsys_store_task_create(st, "skew", NULL), 0);
	cr_assert_eq(devsys_store_task_create(st, "ran", NULL), 0);
	cr_assert_eq(devsys_store_check(st, 0, &b, &n), 0);
	cr_assert_eq(n, 0, "%s", b.ptr);
	snprintf(p, sizeof(p), "%s/tasks/gone", dir);
	dt_rmrf(p);
	snprintf(p, sizeof(p), "%s/tasks/skew/task.json", dir);
	cr_assert(dt_write_file(p, "{\"id\":\"skew\",\"state\":\"merged\"}"));
	snprintf(p, sizeof(p), "%s/tasks/stray", dir);
	cr_assert_eq(dt_sh("mkdir -p '%s' && echo '{\"id\":\"stray\",\"state\":\"coded\"}' > '%s/task.json'", p, p), 0);
	cr_assert_eq(devsys_task_open(&t, ws, "ran", 0), 0);
	cr_assert_eq(devsys_record_open(&rec, t), 0);
	cr_assert_eq(devsys_record_run_begin(rec, &run), 0);
	cr_assert_eq(devsys_record_run_complete(rec, run), 0);
	devsys_record_free(rec);
	devsys_task_free(t);

	cr_assert_eq(devsys_store_check(st, 0, &b, &n), 0);
	cr_assert_eq(n, 4, "%s", b.ptr);
	cr_assert(strstr(b.ptr, "missing-folder") && strstr(b.ptr, "state-mismatch") && strstr(b.ptr, "untracked-folder") &&
	          strstr(b.ptr, "run-missing"), "%s", b.ptr);
	cr_assert(strstr(b.ptr, "\"repaired\": false"));
	cr_assert_eq(devsys_store_check(st, 1, &b, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_null(strstr(b.ptr, "\"repaired\": false"), "%s", b.ptr);
	cr_assert_eq(devsys_store_check(st, 0, &b, &n), 0);
	cr_assert_eq(n, 0, "after repair: %s", b.ptr);
	cr_assert_eq(devsys_store_task_state(st, "stray"), DEVSYS_STATE_CODED);
	cr_assert_eq(devsys_store_task_json(st, "ran", &b), 0);
	cr_assert(strstr(b.ptr, "\"run\": 1"), "%s", b.ptr);
	devsys_buf_dispose(&b);
}

Test(store, options)
{
	devsys_store_options o;
	cr_assert_eq(devsys_store_options_init(&o, 3), DEVSYS_EVERSION);
	cr_assert_eq(devsys_store_options_init(&o, 2), 0);
	cr_assert(o.url == NULL && o.secrets == NULL && o.password_secret == NULL);
	cr_assert_eq(devsys_store_options_init(&o, 1), 0);
	cr_assert_eq(devsys_store_open(NULL, ws, NULL), DEVSYS_EINVAL);
}
