/*
 * The git facts in the record are written by the pipeline, not by the git
 * module: checkout, commit and push each leave their facts in task.json and
 * one git.* event; and a push that succeeded stays a push that succeeded when
 * its facts cannot be recorded (the stage ends record-failed, saying so).
 */
#include "pipeline_fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;
static const char *sabotage_at; /* the stage whose begin breaks task.json, or NULL */

/* At the begin of @c sabotage_at, task.json becomes a directory: the record can no longer be read. */
static int on_event(const devsys_pipeline_event *ev, void *payload)
{
	char p[4096], q[4096];
	(void)payload;
	if (sabotage_at && ev->kind == DEVSYS_PIPELINE_EVENT_STAGE_BEGIN && strcmp(ev->stage, sabotage_at) == 0) {
		snprintf(p, sizeof(p), "%s/tasks/%s/task.json", dir, ev->task_id);
		snprintf(q, sizeof(q), "%s/tasks/%s/task.json.kept", dir, ev->task_id);
		if (rename(p, q) != 0 || mkdir(p, 0755) != 0)
			return 1;
	}
	return 0;
}

static void setup(void)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	dir = dt_pipe_repo("pipefacts", NULL);
	ws = dt_pipe_workspace(dir);
	ro.grace_ms = 200;
	po.runner = &ro;
	po.progress = on_event;
	sabotage_at = NULL;
	pl = dt_pipe_open(ws, &po);
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

TestSuite(pipeline_facts, .init = setup, .fini = teardown, .timeout = 120);

static void validate(const char *id)
{
	char spec[4096];
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Facts %s\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, -c, 'echo changed >> README']\n"
	         "tests:\n  command: [make, check]\nrunner: inproc\n",
	         id, id, dir);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s", dt_errmsg());
}

static char *remote_sha(const char *id)
{
	int st;
	char *s = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse -q --verify refs/heads/task/%s", dir, id);
	if (st != 0) {
		free(s);
		return NULL;
	}
	s[strcspn(s, "\n")] = '\0';
	return s;
}

Test(pipeline_facts, checkout_commit_and_push_leave_their_facts_and_one_event_each)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char p[4096], *events, *save = NULL, *head, *base;
	int seen[3] = { 0, 0, 0 }, st;
	json_t *tj;
	validate("f-1");
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_str_eq(r.outcome, "pushed");
	head = remote_sha("f-1");
	cr_assert_not_null(head, "the branch was pushed");
	base = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse main", dir);
	base[strcspn(base, "\n")] = '\0';
	snprintf(p, sizeof(p), "%s/tasks/f-1/task.json", dir);
	tj = json_load_file(p, 0, NULL);
	cr_assert_not_null(tj);
	cr_assert_str_eq(json_string_value(json_object_get(tj, "branch")), "task/f-1");
	cr_assert_str_eq(json_string_value(json_object_get(tj, "base_branch")), "main");
	cr_assert_str_eq(json_string_value(json_object_get(tj, "base_sha")), base);
	cr_assert_str_eq(json_string_value(json_object_get(tj, "head_sha")), head, "task.json has the pushed head");
	json_decref(tj);
	snprintf(p, sizeof(p), "%s/tasks/f-1/events.jsonl", dir);
	events = dt_read_file(p, NULL);
	cr_assert_not_null(events);
	for (char *line = strtok_r(events, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *ev = json_loads(line, 0, NULL);
		const char *type = json_string_value(json_object_get(ev, "type"));
		const char *sha = json_string_value(json_object_get(json_object_get(ev, "data"), "head_sha"));
		int k = !type ? -1 : strcmp(type, "git.checkout") == 0 ? 0 : strcmp(type, "git.commit") == 0 ? 1
		                                                           : strcmp(type, "git.push") == 0   ? 2
		                                                                                             : -1;
		if (k >= 0) {
			seen[k]++;
			cr_assert_str_eq(sha, k == 0 ? base : head, "%s", line);
		}
		json_decref(ev);
	}
	cr_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "one event each: checkout %d, commit %d, push %d", seen[0],
	          seen[1], seen[2]);
	free(events);
	free(head);
	free(base);
}

Test(pipeline_facts, a_push_whose_facts_cannot_be_recorded_stays_pushed)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *head, msg[1024];
	int rc;
	validate("f-2");
	sabotage_at = "push";
	rc = devsys_pipeline_code(&r, pl);
	snprintf(msg, sizeof(msg), "%s", dt_errmsg());
	cr_assert_lt(rc, 0, "the stage must fail when its facts cannot be recorded");
	cr_assert_str_eq(r.stage, "push");
	cr_assert_str_eq(r.outcome, "record-failed", "%s", msg);
	cr_assert(strstr(msg, "git.push") && strstr(msg, "succeeded") && strstr(msg, "task/f-2"),
	          "the message says the push itself succeeded: %s", msg);
	head = remote_sha("f-2");
	cr_assert_not_null(head, "the push happened although the record failed");
	cr_assert_eq(strlen(head), 40);
	free(head);
}
