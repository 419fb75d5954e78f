/*
 * Free the parent first, then use the child: every handle that keeps a
 * pointer to another handle must hold a reference on it (docs/abi.md).
 * Under ASan a borrowed pointer shows up here as a use-after-free.
 */
#include "testutil.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>

static char *tmp;

static void setup(void)
{
	cr_assert_geq(devsys_init(), 1);
	tmp = dt_tmpdir("lifetimes");
}

static void teardown(void)
{
	dt_rmrf(tmp);
	free(tmp);
	devsys_shutdown();
}

TestSuite(lifetimes, .init = setup, .fini = teardown);

static const char *msg(void)
{
	return devsys_error_message(devsys_error_last());
}

/* A log sink: every message the workspace delivered, joined. */
struct sink {
	char text[8192];
	size_t len;
};

static void sink_cb(int level, const char *component, const char *message, void *payload)
{
	struct sink *s = payload;
	(void)level;
	int n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "[%s] %s\n", component, message);
	if (n > 0 && (size_t)n < sizeof(s->text) - s->len)
		s->len += (size_t)n;
}

static devsys_workspace *open_ws(struct sink *log)
{
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	char path[4096];
	snprintf(path, sizeof(path), "%s/ws", tmp);
	if (log) {
		memset(log, 0, sizeof(*log));
		o.log_cb = sink_cb;
		o.log_payload = log;
		o.log_level = DEVSYS_LOG_DEBUG;
	}
	cr_assert_eq(devsys_workspace_open(&ws, path, &o), 0, "%s", msg());
	return ws;
}

Test(lifetimes, task_outlives_its_workspace)
{
	devsys_workspace *ws = open_ws(NULL);
	devsys_task *task = NULL;
	devsys_buf p = DEVSYS_BUF_INIT;
	char want[4096];
	snprintf(want, sizeof(want), "%s/tasks/t1", devsys_workspace_path(ws));
	cr_assert_eq(devsys_task_open(&task, ws, "t1", DEVSYS_TASK_CREATE), 0, "%s", msg());
	devsys_workspace_free(ws);
	cr_assert_str_eq(devsys_task_path(task), want);
	cr_assert_eq(strncmp(devsys_workspace_path(devsys_task_workspace(task)), want, strlen(want) - strlen("/tasks/t1")), 0);
	cr_assert_eq(devsys_task_path_join(&p, task, "logs/x.log"), 0, "%s", msg());
	devsys_buf_dispose(&p);
	devsys_task_free(task);
}

#ifdef DEVSYS_FEATURE_RECORD
Test(lifetimes, record_outlives_task_and_workspace)
{
	devsys_workspace *ws = open_ws(NULL);
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	char path[4096];
	cr_assert_eq(devsys_task_open(&task, ws, "rec1", DEVSYS_TASK_CREATE), 0, "%s", msg());
	cr_assert_eq(devsys_record_open(&rec, task), 0, "%s", msg());
	devsys_task_free(task);
	devsys_workspace_free(ws);
	cr_assert_eq(devsys_record_set_string(rec, "branch", "task/rec1"), 0, "%s", msg());
	cr_assert_eq(devsys_record_stage_begin(rec, "validate"), 0, "%s", msg());
	cr_assert_eq(devsys_record_save(rec), 0, "%s", msg());
	devsys_record_free(rec);
	snprintf(path, sizeof(path), "%s/ws/tasks/rec1/task.json", tmp);
	char *json = dt_read_file(path, NULL);
	cr_assert_not_null(json, "the record wrote no task.json after its parents were freed");
	cr_assert(strstr(json, "task/rec1"), "%s", json);
	free(json);
}
#endif

#ifdef DEVSYS_FEATURE_GIT
#define GITC "git -c user.name=Fixture -c user.email=fixture@test -c init.defaultBranch=main"

Test(lifetimes, repo_outlives_task_and_workspace)
{
	devsys_workspace *ws = open_ws(NULL);
	devsys_task *task = NULL;
	devsys_repo *repo = NULL;
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	char url[4096], file[4096];
	int committed = 0;

	cr_assert_eq(dt_sh("set -e; cd '%s'; " GITC " init -q -b main src; cd src; echo hi > README.md; "
	                   GITC " add -A; " GITC " commit -q -m init; " GITC " clone -q --bare . ../remote.git", tmp),
	             0);
	snprintf(url, sizeof(url), "file://%s/remote.git", tmp);
	o.url = url;
	cr_assert_eq(devsys_task_open(&task, ws, "repo1", DEVSYS_TASK_CREATE), 0, "%s", msg());
	cr_assert_eq(devsys_repo_open_task(&repo, task, &o), 0, "%s", msg());
	devsys_task_free(task);
	devsys_workspace_free(ws);

	snprintf(file, sizeof(file), "%s/new.txt", devsys_repo_checkout_path(repo));
	cr_assert(dt_write_file(file, "made after the parents were freed\n"));
	cr_assert_eq(devsys_repo_commit(&committed, repo, "add new.txt", NULL), 0, "%s", msg());
	cr_assert_eq(committed, 1);
	cr_assert_eq(devsys_repo_push(repo), 0, "%s", msg());
	char *log = NULL;
	int st = -1;
	log = dt_sh_output(&st, "git --git-dir='%s/remote.git' log --format=%%s task/repo1", tmp);
	cr_assert_eq(st, 0);
	cr_assert(strstr(log, "add new.txt"), "the push did not reach the remote: %s", log);
	free(log);
	devsys_repo_free(repo);
}
#endif

#ifdef DEVSYS_FEATURE_SECRETS
static int collect(const char *data, size_t len, void *payload)
{
	char *out = payload;
	strncat(out, data, len < 512 - strlen(out) - 1 ? len : 512 - strlen(out) - 1);
	return 0;
}

Test(lifetimes, stream_and_redactor_outlive_their_masker)
{
	struct sink log;
	devsys_workspace *ws = open_ws(&log);
	devsys_masker *m = NULL;
	devsys_mask_stream *s = NULL;
	const devsys_redactor_vtable *vt = NULL;
	void *self = NULL;
	char out[512] = "";

	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "TOKEN", "hunter22", 8), 0, "%s", msg());
	cr_assert_eq(devsys_mask_stream_new(&s, m, collect, out), 0, "%s", msg());
	cr_assert_eq(devsys_masker_redactor(&vt, &self, m), 0, "%s", msg());
	cr_assert_eq(devsys_workspace_add_redactor(ws, vt, self), 0, "%s", msg());
	devsys_masker_free(m);

	cr_assert_eq(devsys_mask_stream_write(s, "say hun", 7), 0);
	cr_assert_eq(devsys_mask_stream_write(s, "ter22 now", 9), 0);
	cr_assert_eq(devsys_mask_stream_finish(s), 0);
	devsys_mask_stream_free(s);
	cr_assert_str_eq(out, "say [MASKED:TOKEN] now");

	devsys_workspace_log(ws, DEVSYS_LOG_WARN, "test", "the token is %s", "hunter22");
	cr_assert(strstr(log.text, "the token is [MASKED:TOKEN]"), "%s", log.text);
	cr_assert_null(strstr(log.text, "hunter22"));
	devsys_workspace_free(ws); /* releases the redactor, the masker's last reference */
}

Test(lifetimes, secrets_and_masker_outlive_the_workspace)
{
	struct sink log;
	devsys_workspace *ws = open_ws(&log);
	devsys_secrets_options so = DEVSYS_SECRETS_OPTIONS_INIT;
	devsys_secrets *set = NULL;
	devsys_masker *m = NULL;
	so.ws = ws;
	cr_assert_eq(devsys_secrets_new(&set, &so), 0, "%s", msg());
	devsys_workspace_free(ws);
	cr_assert_eq(devsys_secrets_masker(&m, set), 0, "%s", msg());
	devsys_secrets_free(set);
	/* a too-short value is refused with a warning in the (freed by the caller) workspace's log */
	cr_assert_eq(devsys_masker_add(m, "PIN", "ab", 2), DEVSYS_EINVALID);
	cr_assert(strstr(log.text, "PIN"), "the warning did not reach the workspace's log: '%s'", log.text);
	devsys_masker_free(m);
}
#endif

#ifdef DEVSYS_FEATURE_RUNNER
static int on_output(int stream, const char *data, size_t len, void *payload)
{
	(void)stream;
	return collect(data, len, payload);
}

Test(lifetimes, runner_outlives_workspace_and_masker)
{
	struct sink log;
	devsys_workspace *ws = open_ws(&log);
	devsys_masker *m = NULL;
	devsys_runner *r = NULL;
	devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[] = { "printf", "value=hunter22\n", NULL };
	char out[512] = "";

	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "TOKEN", "hunter22", 8), 0);
	ro.ws = ws;
	ro.masker = m;
	cr_assert_eq(devsys_runner_open(&r, "inproc", &ro), 0, "%s", msg());
	devsys_masker_free(m);
	devsys_workspace_free(ws);

	cmd.argv = argv;
	cmd.output_cb = on_output;
	cmd.output_payload = out;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0, "%s", msg());
	cr_assert_eq(res.exit_code, 0);
	cr_assert(strstr(out, "value=[MASKED:TOKEN]"), "%s", out);
	cr_assert_null(strstr(out, "hunter22"));
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
}
#endif

#ifdef DEVSYS_FEATURE_STORE
Test(lifetimes, store_outlives_its_workspace)
{
	devsys_workspace *ws = open_ws(NULL);
	devsys_store *st = NULL;
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0, "%s", msg());
	devsys_workspace_free(ws);
	cr_assert_eq(devsys_store_task_create(st, "s1", NULL), 0, "%s", msg());
	cr_assert_eq(devsys_store_transition(st, "s1", DEVSYS_STATE_VALIDATED, "test"), 0, "%s", msg());
	devsys_store_free(st);
	char path[4096];
	snprintf(path, sizeof(path), "%s/ws/tasks/s1", tmp);
	cr_assert(dt_exists(path), "the store made no task folder after its workspace was freed");
}
#endif

#ifdef DEVSYS_FEATURE_WORKER
Test(lifetimes, worker_outlives_its_workspace)
{
	devsys_workspace *ws = open_ws(NULL);
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker *w = NULL;
	char path[4096];
	o.id = "lifetime";
	o.flags = DEVSYS_WORKER_ONCE;
	o.poll_ms = 10;
	cr_assert_eq(devsys_worker_open(&w, ws, &o), 0, "%s", msg());
	devsys_workspace_free(ws);
	/* the queue is empty: the run claims nothing and returns; its store and pipelines use the workspace */
	cr_assert_eq(devsys_worker_run(w), 0, "%s", msg());
	cr_assert_eq(devsys_store_task_create(devsys_worker_store(w), "w1", NULL), 0, "%s", msg());
	devsys_worker_free(w);
	snprintf(path, sizeof(path), "%s/ws/tasks/w1", tmp);
	cr_assert(dt_exists(path), "the worker's store made no task folder after its workspace was freed");
}
#endif
