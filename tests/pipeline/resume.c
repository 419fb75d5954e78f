/*
 * Resume and cancel of the pipeline, with real crashes: a child process
 * runs the pipeline and is killed with SIGKILL at a chosen point, then the
 * test resumes the task and checks that no side effect happened twice.
 *
 * The crash points right after a side effect (the commit, the push) are
 * reached by interposing libgit2's git_commit_create and git_remote_push in
 * this executable: the real function runs, then the child kills itself
 * when DT_KILL_AT names that point. That is the window a kill -9 of a real
 * run can hit (the commit exists, the task's state has not moved).
 */
#include "pipeline_fixture.h"

#include <dlfcn.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- crash points ---- */

static void maybe_die(const char *point)
{
	const char *at = getenv("DT_KILL_AT");
	if (at && strcmp(at, point) == 0)
		raise(SIGKILL);
}

typedef int (*commit_fn)(void *, void *, const char *, const void *, const void *, const char *, const char *,
                         const void *, size_t, const void **);
int git_commit_create(void *id, void *repo, const char *update_ref, const void *author, const void *committer,
                      const char *encoding, const char *message, const void *tree, size_t n, const void **parents)
{
	commit_fn real = (commit_fn)dlsym(RTLD_NEXT, "git_commit_create");
	int rc = real(id, repo, update_ref, author, committer, encoding, message, tree, n, parents);
	if (rc == 0)
		maybe_die("commit");
	return rc;
}

typedef int (*push_fn)(void *, const void *, const void *);
int git_remote_push(void *remote, const void *refspecs, const void *opts)
{
	push_fn real = (push_fn)dlsym(RTLD_NEXT, "git_remote_push");
	int rc = real(remote, refspecs, opts);
	if (rc == 0)
		maybe_die("push");
	return rc;
}

/* ---- fixture ---- */

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;
static char commit_outcome[64]; /* what the last commit stage of this process said */

static devsys_store *cancel_from; /* set: cancel the task through this store when checkout ends */

static int on_event(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (cancel_from && ev->kind == DEVSYS_PIPELINE_EVENT_STAGE_END && strcmp(ev->stage, "checkout") == 0)
		devsys_store_transition(cancel_from, ev->task_id, DEVSYS_STATE_CANCELED, "canceled between stages");
	if (ev->kind == DEVSYS_PIPELINE_EVENT_STAGE_END && strcmp(ev->stage, "commit") == 0 && ev->result->outcome)
		snprintf(commit_outcome, sizeof(commit_outcome), "%s", ev->result->outcome);
	return 0;
}

static void open_pipeline(void)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	ro.grace_ms = 200;
	po.runner = &ro;
	po.progress = on_event;
	ws = dt_pipe_workspace(dir);
	pl = dt_pipe_open(ws, &po);
}

/* Before a fork: the child opens its own database connection. */
static void close_pipeline(void)
{
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	pl = NULL;
	ws = NULL;
}

static void setup(void)
{
	dir = dt_pipe_repo("piperesume", NULL);
	open_pipeline();
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

/* A task whose agent is `/bin/sh <dir>/<id>.sh`; the script counts its runs in <dir>/<id>.runs. */
static void validate(const char *id, const char *script)
{
	char body[4096];
	snprintf(body, sizeof(body), "echo run >> '%s/%s.runs'\n%s", dir, id, script);
	dt_pipe_validate(pl, dir, id, body, NULL);
}

static int count_lines(const char *fmt, const char *id)
{
	char p[4096], *s;
	int n = 0;
	snprintf(p, sizeof(p), fmt, dir, id);
	if (!(s = dt_read_file(p, NULL)))
		return 0;
	for (char *c = s; *c; c++)
		n += *c == '\n';
	free(s);
	return n;
}

static int agent_runs(const char *id)
{
	return count_lines("%s/%s.runs", id);
}

/* Commits on the remote's task branch beyond main (-1: no branch). */
static int remote_commits(const char *id)
{
	int st, n;
	char *out = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-list --count main..refs/heads/task/%s 2>/dev/null",
	                         dir, id);
	n = st == 0 && out ? atoi(out) : -1;
	free(out);
	return n;
}

static char *remote_head(const char *id)
{
	int st;
	char *out = dt_sh_output(&st, "git --git-dir='%s/remote.git' rev-parse -q --verify refs/heads/task/%s", dir, id);
	if (st != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* How many stage.end events of @p stage the task's events.jsonl holds. */
static int stage_ends(const char *id, const char *stage, const char *result)
{
	char p[4096], needle[128], *s, *at;
	int n = 0;
	snprintf(p, sizeof(p), "%s/tasks/%s/events.jsonl", dir, id);
	snprintf(needle, sizeof(needle), "{\"stage\":\"%s\",\"result\":\"%s\"", stage, result);
	if (!(s = dt_read_file(p, NULL)))
		return 0;
	for (at = s; (at = strstr(at, needle)); at++)
		n++;
	free(s);
	return n;
}

static json_t *task_json(const char *id)
{
	return dt_pipe_task_json(dir, id);
}

static int state_of(const char *id)
{
	return devsys_store_task_state(devsys_pipeline_store(pl), id);
}

/* Run the task in a child process, killed at @p kill_at (NULL: not); returns its wait status. */
static int run_in_child(const char *id, const char *kill_at)
{
	int status = 0;
	pid_t pid;
	close_pipeline();
	/* no criterion call in the child: it would talk to the test runner as if it were the test */
	if ((pid = fork()) == 0) {
		devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
		devsys_workspace *w = NULL;
		devsys_pipeline *q = NULL;
		if (kill_at)
			setenv("DT_KILL_AT", kill_at, 1);
		po.runner = &ro;
		if (devsys_workspace_open(&w, dir, NULL) < 0 || devsys_pipeline_new(&q, w, &po) < 0 ||
		    devsys_pipeline_load(q, id) < 0)
			_exit(2);
		devsys_pipeline_run(NULL, q);
		_exit(3);
	}
	cr_assert_neq(pid, -1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	open_pipeline(); /* opening the store marks the dead child's stage interrupted */
	return status;
}

static void assert_killed(int status)
{
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was not killed at the crash point "
	                                                              "(status %#x)",
	          status);
}

/* The coding stages ended "ok" once each, and the remote holds exactly one commit. */
static void assert_pushed_once(const char *id)
{
	json_t *tj = task_json(id);
	cr_assert_eq(remote_commits(id), 1, "the remote's task branch holds exactly one commit");
	cr_assert_eq(stage_ends(id, "commit", "ok"), 1);
	cr_assert_eq(stage_ends(id, "push", "ok"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(tj, "commit"), "sha")),
	                 json_string_value(json_object_get(tj, "head_sha")), "the commit marker is the pushed head");
	json_decref(tj);
}

/* Resume: the run goes past push (the later stages may stop it; they are not under test here). */
static void resume(const char *id)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	int rc;
	cr_assert_eq(devsys_pipeline_load(pl, id), 0, "%s", dt_errmsg());
	rc = devsys_pipeline_run(&r, pl);
	cr_assert(r.stage, "a stage ran");
	cr_assert(strcmp(r.stage, "checkout") && strcmp(r.stage, "agent") && strcmp(r.stage, "commit") &&
	                  strcmp(r.stage, "push"),
	          "the resumed run stopped at %s (%s): %s", r.stage, r.outcome, rc ? dt_errmsg() : "");
	cr_assert_geq(state_of(id), DEVSYS_STATE_PUSHED, "%s", devsys_task_state_name(state_of(id)));
}

/* ---- resume after a failure that was fixed ---- */

Test(pipeline_resume, a_failed_agent_is_fixed_and_the_run_goes_on_from_the_agent, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char fixed[4096];
	json_t *tj;
	snprintf(fixed, sizeof(fixed), "%s/fixed", dir);
	validate("fix-1", "test -f \"$(dirname \"$0\")/fixed\" || { echo not yet >&2; exit 1; }\necho fixed >> README\n");
	cr_assert_lt(devsys_pipeline_run(&r, pl), 0);
	cr_assert_str_eq(r.stage, "agent");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_BUILD);
	cr_assert_eq(state_of("fix-1"), DEVSYS_STATE_FAILED);
	cr_assert_eq(remote_commits("fix-1"), -1, "nothing was pushed by the failed run");
	/* still failed: resuming without the fix fails the same way (positive control) */
	cr_assert_eq(devsys_pipeline_load(pl, "fix-1"), 0);
	cr_assert_lt(devsys_pipeline_run(&r, pl), 0);
	cr_assert_str_eq(r.stage, "agent");
	cr_assert_eq(agent_runs("fix-1"), 2);
	/* fixed */
	cr_assert(dt_write_file(fixed, "yes\n"));
	resume("fix-1");
	cr_assert_str_eq(commit_outcome, "committed", "a fresh commit (positive control of already-committed)");
	cr_assert_eq(agent_runs("fix-1"), 3, "the agent ran once more, from where the task stopped");
	cr_assert_eq(stage_ends("fix-1", "checkout", "ok"), 1, "checkout is not run again");
	cr_assert_eq(stage_ends("fix-1", "agent", "failed"), 2);
	cr_assert_eq(stage_ends("fix-1", "agent", "ok"), 1);
	assert_pushed_once("fix-1");
	tj = task_json("fix-1");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(tj, "stages"), "agent"), "result")),
	                 "ok");
	json_decref(tj);
}

/* ---- resume after kill -9 ---- */

Test(pipeline_resume, a_kill_after_the_commit_makes_no_second_commit, .init = setup, .fini = teardown)
{
	char *head;
	int st;
	validate("crash-commit", "echo changed >> README\n");
	assert_killed(run_in_child("crash-commit", "commit"));
	/* the crash point: the commit is on the checkout's HEAD, the state has not moved */
	cr_assert_eq(state_of("crash-commit"), DEVSYS_STATE_INTERRUPTED);
	head = dt_sh_output(&st, "cd '%s/tasks/crash-commit/checkout' && git log -1 --format=%%B", dir);
	cr_assert(head && strstr(head, "Task-Id: crash-commit"), "%s", head);
	free(head);
	cr_assert_eq(dt_sh("cd '%s/tasks/crash-commit/checkout' && test -z \"$(git status --porcelain)\"", dir), 0);
	cr_assert_eq(remote_commits("crash-commit"), -1);
	resume("crash-commit");
	cr_assert_eq(agent_runs("crash-commit"), 1, "the agent is not run again");
	cr_assert_eq(stage_ends("crash-commit", "commit", "ok"), 1);
	cr_assert_str_eq(commit_outcome, "already-committed", "the commit stage counted the commit it found");
	assert_pushed_once("crash-commit");
	{
		json_t *tj = task_json("crash-commit");
		const char *base = json_string_value(json_object_get(tj, "base_sha"));
		cr_assert_not_null(base);
		cr_assert_eq(dt_sh("cd '%s/tasks/crash-commit/checkout' && test \"$(git rev-list --count %s..HEAD)\" = 1", dir,
		                   base),
		             0, "the checkout holds one commit");
		json_decref(tj);
	}
}

Test(pipeline_resume, a_kill_after_the_push_pushes_the_same_commit_again, .init = setup, .fini = teardown)
{
	char *before, *after;
	validate("crash-push", "echo changed >> README\n");
	assert_killed(run_in_child("crash-push", "push"));
	cr_assert_eq(state_of("crash-push"), DEVSYS_STATE_INTERRUPTED);
	before = remote_head("crash-push");
	cr_assert_not_null(before, "the push reached the remote before the crash");
	cr_assert_eq(remote_commits("crash-push"), 1);
	resume("crash-push");
	after = remote_head("crash-push");
	cr_assert_str_eq(after, before, "the resumed push is a no-op");
	assert_pushed_once("crash-push");
	free(before);
	free(after);
}

Test(pipeline_resume, a_kill_during_the_agent_runs_the_agent_again, .init = setup, .fini = teardown)
{
	/* the agent kills the pipeline's process (its parent) the first time */
	validate("crash-agent", "echo changed >> README\n"
	                        "if [ ! -f \"$(dirname \"$0\")/killed\" ]; then : > \"$(dirname \"$0\")/killed\";"
	                        " kill -9 $PPID; sleep 5; fi\n");
	assert_killed(run_in_child("crash-agent", NULL));
	cr_assert_eq(state_of("crash-agent"), DEVSYS_STATE_INTERRUPTED);
	resume("crash-agent");
	cr_assert_eq(agent_runs("crash-agent"), 2);
	assert_pushed_once("crash-agent");
}

/* ---- cancel through the store ---- */

Test(pipeline_resume, cancel_of_a_task_no_process_runs_is_immediate, .init = setup, .fini = teardown)
{
	int signaled = -1;
	validate("cancel-idle", "echo changed >> README\n");
	cr_assert_eq(devsys_pipeline_cancel_task(&signaled, pl, "cancel-idle"), 0, "%s", dt_errmsg());
	cr_assert_eq(signaled, 0);
	cr_assert_eq(state_of("cancel-idle"), DEVSYS_STATE_CANCELED);
	cr_assert_eq(devsys_pipeline_cancel_task(&signaled, pl, "cancel-idle"), DEVSYS_ESTATE, "canceled is final");
	cr_assert_eq(devsys_pipeline_cancel_task(&signaled, pl, "no-such-task"), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_pipeline_load(pl, "cancel-idle"), 0);
	cr_assert_eq(devsys_pipeline_run(NULL, pl), DEVSYS_ESTATE, "a canceled task runs nothing");
	cr_assert_eq(agent_runs("cancel-idle"), 0);
}

/* A child that owns a stage of @p id and waits; returns its pid. */
static pid_t stage_owner(const char *id)
{
	int fds[2];
	char c;
	pid_t pid;
	cr_assert_eq(pipe(fds), 0);
	close_pipeline();
	if ((pid = fork()) == 0) {
		devsys_workspace *w = NULL;
		devsys_store *st = NULL;
		close(fds[0]);
		if (devsys_workspace_open(&w, dir, NULL) < 0 || devsys_store_open(&st, w, NULL) < 0 ||
		    devsys_store_stage_begin(st, id, "checkout") < 0)
			_exit(2);
		(void)!write(fds[1], "x", 1);
		for (;;)
			pause();
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &c, 1), 1, "the owner began its stage");
	close(fds[0]);
	open_pipeline();
	return pid;
}

static void set_owner_start(const char *id, long long start)
{
	sqlite3 *db;
	char db_path[4096], sql[256];
	snprintf(db_path, sizeof(db_path), "%s/devsys.db", dir);
	snprintf(sql, sizeof(sql), "UPDATE tasks SET owner_start = %lld WHERE id = '%s'", start, id);
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

Test(pipeline_resume, cancel_signals_the_owner_but_never_a_reused_pid, .init = setup, .fini = teardown)
{
	int signaled = -1, status;
	pid_t owner;
	validate("cancel-a", "true\n");
	validate("cancel-b", "true\n");
	/* the recorded start time differs: this pid is another process now */
	owner = stage_owner("cancel-a");
	set_owner_start("cancel-a", 12345);
	cr_assert_eq(devsys_pipeline_cancel_task(&signaled, pl, "cancel-a"), 0, "%s", dt_errmsg());
	cr_assert_eq(signaled, 0, "a process whose start time differs is not the owner");
	cr_assert_eq(waitpid(owner, &status, WNOHANG), 0, "the process was not signaled");
	cr_assert_eq(state_of("cancel-a"), DEVSYS_STATE_CANCELED);
	dt_stop(owner, SIGKILL, 5000);
	/* positive control: the real owner is sent SIGTERM (this one has no handler: it dies) */
	owner = stage_owner("cancel-b");
	cr_assert_eq(devsys_pipeline_cancel_task(&signaled, pl, "cancel-b"), 0, "%s", dt_errmsg());
	cr_assert_eq(signaled, 1);
	cr_assert_eq(waitpid(owner, &status, 0), owner);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
	/* it died without ending its stage: the task is interrupted, then canceled directly */
	cr_assert_eq(devsys_store_recover(devsys_pipeline_store(pl), NULL), 0);
	cr_assert_eq(state_of("cancel-b"), DEVSYS_STATE_INTERRUPTED);
	cr_assert_eq(devsys_pipeline_cancel_task(&signaled, pl, "cancel-b"), 0);
	cr_assert_eq(signaled, 0);
	cr_assert_eq(state_of("cancel-b"), DEVSYS_STATE_CANCELED);
}

Test(pipeline_resume, cancel_refuses_to_signal_its_own_process, .init = setup, .fini = teardown)
{
	int signaled = -1;
	validate("cancel-self", "true\n");
	cr_assert_eq(devsys_store_stage_begin(devsys_pipeline_store(pl), "cancel-self", "checkout"), 0);
	cr_assert_eq(devsys_pipeline_cancel_task(&signaled, pl, "cancel-self"), DEVSYS_ESTATE);
	cr_assert(strstr(dt_errmsg(), "devsys_pipeline_cancel"), "%s", dt_errmsg());
	cr_assert_eq(signaled, 0);
	cr_assert_eq(state_of("cancel-self"), DEVSYS_STATE_VALIDATED, "nothing changed");
}

Test(pipeline_resume, a_cancel_between_two_stages_stops_the_run_as_canceled, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	devsys_store *other = NULL;
	validate("cancel-between", "echo changed >> README\n");
	/* another handle on the store, as another process's cancel would come */
	cr_assert_eq(devsys_store_open(&other, ws, NULL), 0);
	cancel_from = other;
	cr_assert_eq(devsys_pipeline_run(&r, pl), DEVSYS_ECANCELED, "%s", dt_errmsg());
	cancel_from = NULL;
	devsys_store_free(other);
	cr_assert_str_eq(r.stage, "agent");
	cr_assert_str_eq(r.result, "canceled");
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_CANCELED);
	cr_assert_eq(agent_runs("cancel-between"), 0, "the agent never started");
	cr_assert_eq(stage_ends("cancel-between", "checkout", "ok"), 1, "positive control: checkout ran");
	cr_assert_eq(state_of("cancel-between"), DEVSYS_STATE_CANCELED);
}

Test(pipeline_resume, a_pipeline_canceled_before_it_runs_cancels_its_next_stage, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	validate("cancel-early", "echo changed >> README\n");
	cr_assert_eq(devsys_pipeline_cancel(NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_pipeline_cancel(pl), 0);
	cr_assert_eq(devsys_pipeline_run(&r, pl), DEVSYS_ECANCELED, "%s", dt_errmsg());
	cr_assert_str_eq(r.stage, "checkout");
	cr_assert_str_eq(r.result, "canceled");
	cr_assert_eq(state_of("cancel-early"), DEVSYS_STATE_CANCELED);
	cr_assert_eq(stage_ends("cancel-early", "checkout", "canceled"), 1);
	cr_assert_eq(agent_runs("cancel-early"), 0);
}
