/*
 * What a resume and a cancel from outside need.
 *
 * Cancel: the store knows which process owns a task's stage (pid, start
 * time, boot id) and signals it; `devsys run` turns that SIGTERM into
 * devsys_pipeline_cancel() on a thread of its own, so the runner is
 * canceled and cleanup runs. A task no process runs is canceled in the
 * store directly.
 *
 * Leftovers: a stage's command runs in a process group of its own, so it
 * outlives a kill -9 of the pipeline's process. Before an interrupted task
 * runs again (or is canceled), the commands its dead run left are killed:
 * they are found by the task facts the pipeline put in their environment.
 * The git lock files a process killed mid-commit leaves are removed too.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "store/store_int.h"
#include "devsys/record.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* Does @p env (NUL-separated entries) hold the entry @p want? */
static bool env_has(const devsys_buf *env, const char *want)
{
	size_t n = strlen(want);
	for (size_t at = 0; at < env->size;) {
		const char *e = env->ptr + at;
		size_t len = strnlen(e, env->size - at);
		if (len == n && memcmp(e, want, n) == 0)
			return true;
		at += len + 1;
	}
	return false;
}

/* Kill every process whose environment holds one of @p marks, with its group. */
static size_t kill_marked(char *const *marks, size_t n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t killed = 0;
	pid_t self = getpid();
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		devsys_buf env = DEVSYS_BUF_INIT;
		char path[64];
		pid_t pid, pgid;
		if (!isdigit((unsigned char)e->d_name[0]) || (pid = (pid_t)atoi(e->d_name)) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
		bool marked = false;
		if (devsys__read_file(&env, path, (size_t)1 << 20) == 0)
			for (size_t i = 0; i < n && !marked; i++)
				marked = env_has(&env, marks[i]);
		if (marked) {
			pgid = getpgid(pid);
			/* the command's own group (the runner made it); never this process's */
			if (pgid > 1 && pgid != getpgrp())
				kill(-pgid, SIGKILL);
			else
				kill(pid, SIGKILL);
			killed++;
		}
		devsys_buf_dispose(&env);
	}
	closedir(d);
	devsys_error_clear(); /* unreadable entries are other users' or gone */
	return killed;
}

/* The entries the pipeline puts in the environment of a task's commands (agent, tests, deploy). */
static const char *const marks[][2] = {
	{ "DEVSYS_CHECKOUT", "checkout" },
	{ "DEVSYS_TASK_FILE", "agent-input.json" },
	{ "DEVSYS_DEPLOY_PIDFILE", "deploy.pid" },
};
#define NMARKS (sizeof(marks) / sizeof(marks[0]))

/* Read a one-line git pointer file ("gitdir: X", "ref: X") into @p out; false when it is not that. */
static bool read_pointer(devsys_buf *out, const char *path, const char *prefix)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	size_t n = strlen(prefix);
	bool ok = devsys__read_file(&b, path, 4096) == 0 && b.size > n && strncmp(b.ptr, prefix, n) == 0;
	devsys_buf_clear(out);
	if (ok) {
		size_t len = strcspn(b.ptr + n, "\r\n");
		ok = len > 0 && devsys_buf_put(out, b.ptr + n, len) == 0;
	}
	devsys_buf_dispose(&b);
	devsys_error_clear();
	return ok;
}

/*
 * git's lock files that a process killed mid-commit leaves (the task's
 * index and HEAD in its worktree entry, its branch's ref in the mirror):
 * nothing else writes them, and the task's owner is dead, so they are
 * stale. Mirror-wide locks (packed-refs, a fetch) are not touched: other
 * tasks' live processes share the mirror.
 */
static void remove_stale_locks(devsys_task *task)
{
	devsys_buf checkout = DEVSYS_BUF_INIT, gitdir = DEVSYS_BUF_INIT, ref = DEVSYS_BUF_INIT, path = DEVSYS_BUF_INIT;
	if (devsys_task_path_join(&checkout, task, "checkout/.git") == 0 && read_pointer(&gitdir, checkout.ptr, "gitdir: ")) {
		static const char *const own[] = { "index.lock", "HEAD.lock" };
		for (size_t i = 0; i < 2; i++) {
			devsys_buf_clear(&path);
			if (devsys_buf_printf(&path, "%s/%s", gitdir.ptr, own[i]) == 0)
				unlink(path.ptr);
		}
		devsys_buf_clear(&path);
		/* <mirror>/worktrees/<id>: the branch's ref lives in <mirror>/refs/heads/ */
		if (devsys_buf_printf(&path, "%s/HEAD", gitdir.ptr) == 0 && read_pointer(&ref, path.ptr, "ref: ") &&
		    strncmp(ref.ptr, "refs/heads/", 11) == 0 && !strstr(ref.ptr, "..")) {
			devsys_buf_clear(&path);
			if (devsys_buf_printf(&path, "%s/../../%s.lock", gitdir.ptr, ref.ptr) == 0)
				unlink(path.ptr);
		}
	}
	devsys_error_clear();
	devsys_buf_dispose(&checkout);
	devsys_buf_dispose(&gitdir);
	devsys_buf_dispose(&ref);
	devsys_buf_dispose(&path);
}

int devsys__pipeline_clear_leftovers(devsys_pipeline *p, const char *task_id)
{
	devsys_task *task = NULL;
	devsys_buf path = DEVSYS_BUF_INIT;
	char *want[NMARKS] = { 0 };
	size_t killed = 0, i;
	int rc;
	if ((rc = devsys_task_open(&task, p->ws, task_id, 0)) < 0)
		return rc;
	for (i = 0; i < NMARKS && rc == 0; i++) {
		devsys_buf_clear(&path);
		if ((rc = devsys_task_path_join(&path, task, marks[i][1])) == 0 &&
		    !(want[i] = devsys__asprintf("%s=%s", marks[i][0], path.ptr)))
			rc = devsys__error_oom();
	}
	if (rc == 0 && (killed = kill_marked(want, NMARKS)) > 0)
		devsys__log(p->ws, DEVSYS_LOG_WARN, "pipeline",
		            "task %s: killed %zu process(es) its interrupted run had left running", task_id, killed);
	if (rc == 0)
		remove_stale_locks(task); /* after the kill: nothing of the dead run writes them now */
	for (i = 0; i < NMARKS; i++)
		devsys__free(want[i]);
	devsys_buf_dispose(&path);
	devsys_task_free(task);
	return rc;
}

/*
 * A task canceled here may have left a deployment (a remote one, or one
 * whose processes the scan cannot see): the deploy stage's own stop, which
 * reads task.json "deploy" and needs the task's spec for its runner.
 */
/* Does task.json name a deployment not stopped yet? */
static bool deployed(devsys_pipeline *p, const char *task_id)
{
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	json_t *doc = NULL, *d;
	bool yes = false;
	if (devsys_task_open(&task, p->ws, task_id, 0) == 0 && devsys_record_open(&rec, task) == 0 &&
	    devsys_record_json(rec, &j) == 0 && (doc = json_loads(j.ptr ? j.ptr : "{}", 0, NULL)) &&
	    json_is_object(d = json_object_get(doc, "deploy")))
		yes = !json_is_true(json_object_get(d, "stopped"));
	json_decref(doc);
	devsys_buf_dispose(&j);
	devsys_record_free(rec);
	devsys_task_free(task);
	devsys_error_clear();
	return yes;
}

static int stop_deployment(devsys_pipeline *p, const char *task_id)
{
	devsys__stage_ctx c;
	int rc;
	if (!deployed(p, task_id))
		return 0;
	if ((!p->task_id || strcmp(p->task_id, task_id) != 0) && (rc = devsys_pipeline_load(p, task_id)) < 0)
		return rc;
	memset(&c, 0, sizeof(c));
	c.p = p;
	if ((rc = devsys_task_open(&c.task, p->ws, task_id, 0)) == 0)
		rc = devsys__pipeline_stop_service(&c);
	devsys_pr_free(c.pr);
	devsys_forge_free(c.forge);
	devsys_repo_free(c.repo);
	devsys_task_free(c.task);
	return rc;
}

int devsys_pipeline_cancel_task(int *signaled_out, devsys_pipeline *p, const char *task_id)
{
	int signaled = 0, rc;
	if (signaled_out)
		*signaled_out = 0;
	DEVSYS__CHECK_ARG(p);
	DEVSYS__CHECK_ARG(task_id);
	if ((rc = devsys__store_cancel(p->store, task_id, "canceled", &signaled, NULL)) < 0)
		return rc;
	/* canceled here: no live process runs the task, so what runs for it is left over */
	if (!signaled && ((rc = devsys__pipeline_clear_leftovers(p, task_id)) < 0 || (rc = stop_deployment(p, task_id)) < 0))
		return rc;
	if (signaled_out)
		*signaled_out = signaled;
	return 0;
}

int devsys__pipeline_unregistered(devsys_pipeline *p)
{
	devsys_buf j = DEVSYS_BUF_INIT, stage = DEVSYS_BUF_INIT;
	json_t *row = NULL;
	int state, rc = 0;
	if ((state = devsys_store_task_state(p->store, p->task_id)) < 0)
		return state;
	if (state == DEVSYS_STATE_INTERRUPTED && (rc = devsys_store_task_json(p->store, p->task_id, &j)) == 0 &&
	    (row = json_loads(j.ptr, 0, NULL)) &&
	    json_string_value(json_object_get(row, "last_stage")) &&
	    strcmp(json_string_value(json_object_get(row, "last_stage")), "validate") == 0 &&
	    (rc = devsys_store_resume(p->store, p->task_id, &stage)) == 0)
		state = devsys_store_task_state(p->store, p->task_id);
	json_decref(row);
	devsys_buf_dispose(&j);
	devsys_buf_dispose(&stage);
	return rc < 0 ? rc : state < 0 ? state : state == DEVSYS_STATE_CREATED;
}

/* ---- a checkout this host does not have ---- */

/* Is there anything at <task>/checkout? */
static bool has_checkout(devsys_task *task)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	struct stat sb;
	bool yes = devsys_task_path_join(&p, task, "checkout") == 0 && lstat(p.ptr, &sb) == 0;
	devsys_buf_dispose(&p);
	devsys_error_clear();
	return yes;
}

int devsys__pipeline_resume_point(devsys__stage_ctx *c, char *head, char *base, size_t size)
{
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	json_t *doc = NULL;
	const char *sha = NULL, *b;
	int rc;
	head[0] = base[0] = '\0';
	if (has_checkout(c->task))
		return 0;
	if ((rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_json(rec, &j)) == 0 &&
	    (doc = json_loads(j.ptr ? j.ptr : "{}", 0, NULL)))
		sha = json_string_value(json_object_get(json_object_get(doc, "commit"), "sha"));
	if (rc == 0 && sha && strlen(sha) < size) {
		snprintf(head, size, "%s", sha);
		if ((b = json_string_value(json_object_get(doc, "base_sha"))) && strlen(b) < size)
			snprintf(base, size, "%s", b);
		rc = 1;
	} else if (rc == 0 && devsys_store_task_state(c->p->store, c->p->task_id) == DEVSYS_STATE_CODED)
		/* the agent's work was in that checkout only: a fresh one would commit nothing */
		rc = devsys__error_set(DEVSYS_ESTATE,
		                       "task '%s' is coded, but the checkout that holds the agent's changes is not in "
		                       "this workspace (%s): the task ran on another host until its agent ended. Resume "
		                       "it there, or run it again from its spec",
		                       c->p->task_id, devsys_workspace_path(c->p->ws));
	json_decref(doc);
	devsys_buf_dispose(&j);
	devsys_record_free(rec);
	return rc;
}
