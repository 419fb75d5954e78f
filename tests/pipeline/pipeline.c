/* The pipeline: its stage list, failure classes, options, and the validate
 * stage against a real workspace, store and record. */
#include "pipeline_fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char good[] = "id: p-one\ntitle: A pipeline task\nprompt: Fix the README.\n"
                           "repo:\n  url: https://git.example/o/r.git\n  base_branch: main\n"
                           "agent:\n  command: [opencode, run, x]\ntests:\n  command: [make, check]\n"
                           "runner: inproc\n";

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("pipeline");
	ws = dt_pipe_workspace(dir);
	pl = dt_pipe_open(ws, NULL);
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

static json_t *task_json(const char *id)
{
	char p[4096];
	json_error_t e;
	json_t *j;
	snprintf(p, sizeof(p), "%s/tasks/%s/task.json", dir, id);
	j = json_load_file(p, 0, &e);
	cr_assert_not_null(j, "%s: %s", p, e.text);
	return j;
}

static char *task_file(const char *id, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, name);
	return dt_read_file(p, NULL);
}

Test(pipeline, stage_list_is_DEVSYS_STAGE_NAMES_in_order)
{
	char names[] = DEVSYS_STAGE_NAMES;
	size_t i = 0;
	for (char *w = strtok(names, " "); w; w = strtok(NULL, " "), i++) {
		cr_assert_str_eq(devsys_pipeline_stage_name(i), w, "stage %zu", i);
		cr_assert_eq(devsys_stage_check(w), 0);
	}
	cr_assert_eq(devsys_pipeline_stage_count(), i);
	cr_assert_eq(i, 10);
	cr_assert_null(devsys_pipeline_stage_name(i));
}

Test(pipeline, failure_class_names_and_the_record_accepts_each)
{
	static const char *want[] = { NULL, "build", "system", "stalled", "timeout", "canceled", "budget" };
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	char *d = dt_tmpdir("pipeline");
	devsys_workspace *w = NULL;
	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_workspace_open(&w, d, NULL), 0);
	cr_assert_eq(devsys_task_open(&task, w, "fc", DEVSYS_TASK_CREATE), 0);
	cr_assert_eq(devsys_record_open(&rec, task), 0);
	cr_assert_null(devsys_failure_class_name(DEVSYS_FAILURE_NONE));
	cr_assert_null(devsys_failure_class_name(7));
	cr_assert_null(devsys_failure_class_name(-1));
	for (int c = DEVSYS_FAILURE_BUILD; c <= DEVSYS_FAILURE_BUDGET; c++) {
		cr_assert_str_eq(devsys_failure_class_name(c), want[c]);
		cr_assert_eq(devsys_record_stage_end(rec, "agent", "failed", devsys_failure_class_name(c)), 0, "%s",
		             want[c]);
	}
	cr_assert_eq(devsys_record_stage_end(rec, "agent", "failed", "bogus"), DEVSYS_EINVAL);
	cr_assert(strstr(dt_errmsg(), "stalled"), "the message lists the classes");
	cr_assert_eq(devsys_record_save(rec), 0);
	devsys_record_free(rec);
	devsys_task_free(task);
	devsys_workspace_free(w);
	devsys_shutdown();
	dt_rmrf(d);
	free(d);
}

Test(pipeline, options_versions)
{
	devsys_pipeline_options o;
	cr_assert_eq(devsys_pipeline_options_init(&o, DEVSYS_PIPELINE_OPTIONS_VERSION), 0);
	cr_assert_eq(o.version, DEVSYS_PIPELINE_OPTIONS_VERSION);
	cr_assert(o.store == NULL && o.repo == NULL && o.runner == NULL && o.forge == NULL);
	cr_assert_eq(devsys_pipeline_options_init(&o, 0), DEVSYS_EVERSION);
	cr_assert_eq(devsys_pipeline_options_init(&o, DEVSYS_PIPELINE_OPTIONS_VERSION + 1), DEVSYS_EVERSION);
}

Test(pipeline, new_refuses_bad_arguments_and_options, .init = setup, .fini = teardown)
{
	devsys_pipeline *p = (devsys_pipeline *)1;
	devsys_pipeline_options o = DEVSYS_PIPELINE_OPTIONS_INIT;
	cr_assert_eq(devsys_pipeline_new(&p, NULL, NULL), DEVSYS_EINVAL);
	cr_assert_null(p);
	o.version = 99;
	cr_assert_eq(devsys_pipeline_new(&p, ws, &o), DEVSYS_EVERSION);
	cr_assert_null(p);
	cr_assert_eq(devsys_pipeline_validate(NULL, NULL, good, strlen(good), NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, NULL, 5, NULL), DEVSYS_EINVAL);
	devsys_pipeline_free(NULL);
	cr_assert_null(devsys_pipeline_task_id(NULL));
}

Test(pipeline, validate_registers_the_task_and_records_the_spec, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	json_t *tj, *st;
	char *events, *kept;
	int rc = devsys_pipeline_validate(&r, pl, good, strlen(good), "good.yaml");

	cr_assert_eq(rc, 0, "%s", dt_errmsg());
	cr_assert_str_eq(r.stage, "validate");
	cr_assert_str_eq(r.result, "ok");
	cr_assert_str_eq(r.outcome, "validated");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_NONE);
	cr_assert_eq(r.error, 0);
	cr_assert_str_eq(devsys_pipeline_task_id(pl), "p-one");
	cr_assert_str_eq(devsys_spec_get_string(devsys_pipeline_spec(pl), "/title"), "A pipeline task");
	cr_assert_null(devsys_pipeline_validation(pl));
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "p-one"), DEVSYS_STATE_VALIDATED);
	/* the bytes kept are the bytes validated */
	kept = task_file("p-one", "spec.yaml");
	cr_assert_not_null(kept);
	cr_assert_str_eq(kept, good);
	free(kept);
	tj = task_json("p-one");
	cr_assert_str_eq(json_string_value(json_object_get(tj, "state")), "validated");
	cr_assert_str_eq(json_string_value(json_object_get(tj, "spec_path")), "spec.yaml");
	cr_assert_str_eq(json_string_value(json_object_get(tj, "repo_url")), "https://git.example/o/r.git");
	cr_assert(json_is_true(json_object_get(json_object_get(tj, "validation"), "valid")));
	st = json_object_get(json_object_get(tj, "stages"), "validate");
	cr_assert_str_eq(json_string_value(json_object_get(st, "result")), "ok");
	cr_assert(json_is_null(json_object_get(st, "failure_class")));
	cr_assert(json_is_string(json_object_get(st, "start")) && json_is_string(json_object_get(st, "end")));
	/* the content id is git's blob id of the kept bytes, checked against git itself */
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed (apt-get install git)");
	free(git);
	{
		int s;
		char want[128];
		char *hash = dt_sh_output(&s, "git hash-object '%s/tasks/p-one/spec.yaml'", dir);
		cr_assert_eq(s, 0);
		hash[strcspn(hash, "\n")] = '\0';
		snprintf(want, sizeof(want), "sha1:%s", hash);
		cr_assert_str_eq(json_string_value(json_object_get(tj, "spec_hash")), want);
		free(hash);
	}
	json_decref(tj);
	events = task_file("p-one", "events.jsonl");
	cr_assert_not_null(events);
	cr_assert(strstr(events, "validate") && strstr(events, "validated"), "%s", events);
	cr_assert(strstr(events, "\"type\":\"stage.end\",\"data\":{\"stage\":\"validate\",\"result\":\"ok\",\"failure_class\":null}"),
	          "%s", events);
	free(events);
}

Test(pipeline, a_second_validate_changes_nothing, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *before, *ev_before, *after, *ev_after;
	cr_assert_eq(devsys_pipeline_validate(&r, pl, good, strlen(good), NULL), 0);
	before = task_file("p-one", "task.json");
	ev_before = task_file("p-one", "events.jsonl");
	cr_assert_eq(devsys_pipeline_validate(&r, pl, good, strlen(good), NULL), DEVSYS_EEXISTS);
	cr_assert_str_eq(r.result, "ok");
	cr_assert_str_eq(r.outcome, "already-registered");
	cr_assert_str_eq(devsys_pipeline_task_id(pl), "p-one");
	after = task_file("p-one", "task.json");
	ev_after = task_file("p-one", "events.jsonl");
	cr_assert_str_eq(after, before);
	cr_assert_str_eq(ev_after, ev_before);
	free(before);
	free(after);
	free(ev_before);
	free(ev_after);
}

static void expect_refused(const char *spec, int code, const char *id, int has_validation)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char p[4096];
	int rc = devsys_pipeline_validate(&r, pl, spec, strlen(spec), "bad.yaml");
	cr_assert_eq(rc, code, "got %d for %s", rc, spec);
	cr_assert_str_eq(r.result, "failed");
	cr_assert_str_eq(r.outcome, "spec-refused");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert_eq(r.error, code);
	cr_assert_null(devsys_pipeline_task_id(pl));
	cr_assert_eq(devsys_pipeline_validation(pl) != NULL, has_validation, "%s", spec);
	cr_assert(strstr(dt_errmsg(), "bad.yaml"), "the message names the input: %s", dt_errmsg());
	snprintf(p, sizeof(p), "%s/tasks/%s", dir, id);
	cr_assert(!dt_exists(p), "a refused spec registered %s", id);
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), id), DEVSYS_ENOTFOUND);
}

Test(pipeline, refused_specs_register_nothing, .init = setup, .fini = teardown)
{
	devsys_buf j = DEVSYS_BUF_INIT;
	expect_refused("id: bad-1\ntitle: x\nshell: true\n", DEVSYS_EINVALID, "bad-1", 1);
	cr_assert_eq(devsys_validation_to_json(&j, devsys_pipeline_validation(pl)), 0);
	cr_assert(strstr(j.ptr, "/shell"), "the reasons are listed: %s", j.ptr);
	devsys_buf_dispose(&j);
	expect_refused("id: [unclosed", DEVSYS_EPARSE, "unclosed", 0);
	expect_refused("id: two-a\n---\nid: two-b\n", DEVSYS_EINVALID, "two-a", 0);
	/* positive control: the same pipeline still registers a good spec */
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, good, strlen(good), NULL), 0);
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "p-one"), DEVSYS_STATE_VALIDATED);
}

Test(pipeline, a_json_spec_is_kept_as_spec_json, .init = setup, .fini = teardown)
{
	static const char js[] = "{\"id\":\"p-json\",\"title\":\"t\",\"prompt\":\"p\",\"repo\":{\"url\":"
	                         "\"https://git.example/o/r.git\",\"base_branch\":\"main\"},\"agent\":{\"command\":[\"a\"]},"
	                         "\"tests\":{\"command\":[\"b\"]},\"runner\":\"inproc\"}";
	char *kept;
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, js, strlen(js), NULL), 0, "%s", dt_errmsg());
	kept = task_file("p-json", "spec.json");
	cr_assert_not_null(kept);
	cr_assert_str_eq(kept, js);
	free(kept);
}

Test(pipeline, a_record_that_cannot_be_written_fails_the_stage_as_system, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char p[4096];
	json_t *tj, *st;
	int rc;
	/* spec.yaml is a non-empty directory: the record cannot rename the spec over it */
	snprintf(p, sizeof(p), "%s/tasks/p-one/spec.yaml/x", dir);
	cr_assert_eq(dt_sh("mkdir -p '%s'", p), 0);
	rc = devsys_pipeline_validate(&r, pl, good, strlen(good), NULL);
	cr_assert_lt(rc, 0);
	cr_assert_neq(rc, DEVSYS_EEXISTS, "the store had no such task");
	cr_assert_str_eq(r.result, "failed");
	cr_assert_str_eq(r.outcome, "record-failed");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_SYSTEM);
	cr_assert_eq(r.error, rc);
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "p-one"), DEVSYS_STATE_FAILED,
	             "the task is failed, not validated");
	tj = task_json("p-one");
	st = json_object_get(json_object_get(tj, "stages"), "validate");
	cr_assert_str_eq(json_string_value(json_object_get(st, "result")), "failed");
	cr_assert_str_eq(json_string_value(json_object_get(st, "failure_class")), "system");
	json_decref(tj);
}

Test(pipeline, the_pipeline_holds_its_workspace, .init = setup, .fini = teardown)
{
	devsys_workspace_free(ws); /* the caller lets go first */
	ws = NULL;
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, good, strlen(good), NULL), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "p-one"), DEVSYS_STATE_VALIDATED);
}
