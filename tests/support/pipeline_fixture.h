/*
 * The set-up the pipeline suites share: a fresh directory holding a bare
 * repository remote.git (branch main, reached as file://<dir>/remote.git)
 * and its seed clone, whose first commit has README ("hello") plus what the
 * suite's own shell line adds; the workspace on the same directory (tasks/
 * and devsys.db next to the repositories); the pipeline on it.
 *
 * Header-only (static inline), like tests/git/gitfix.h: suites linked
 * against the static library use it as well as those linked against the
 * shared one, and a suite pays only for what it calls.
 */
#ifndef DEVSYS_PIPELINE_FIXTURE_H
#define DEVSYS_PIPELINE_FIXTURE_H

#include "testutil.h"
#include <devsys.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The thread's last library error message, for assertion messages. */
static inline const char *dt_errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

/*
 * <dir>/remote.git, a bare repository on main, and <dir>/seed, its clone,
 * whose first commit (pushed) has README ("hello"). @p seed_sh (may be
 * NULL) runs in seed/ before that commit, e.g. "echo x > a.txt".
 */
static inline void dt_pipe_remote(const char *dir, const char *seed_sh)
{
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t && echo hello > README &&"
	                   " { %s ; } && git add . && git commit -qm init && git push -q origin main",
	                   dir, seed_sh ? seed_sh : ":"),
	             0, "the fixture repository in %s", dir);
}

/*
 * Skip without git, devsys_init(), and a new directory (tag @p tag) with
 * remote.git and seed/ (dt_pipe_remote()). Returns the directory (free()
 * it, or dt_pipe_teardown()).
 */
static inline char *dt_pipe_repo(const char *tag, const char *seed_sh)
{
	char *git = dt_which("git"), *dir;
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir(tag);
	dt_pipe_remote(dir, seed_sh);
	return dir;
}

/* The workspace on @p dir (free with devsys_workspace_free(), or dt_pipe_teardown()). */
static inline devsys_workspace *dt_pipe_workspace(const char *dir)
{
	devsys_workspace *ws = NULL;
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0, "%s", dt_errmsg());
	return ws;
}

/* A pipeline on @p ws with @p po (may be NULL). */
static inline devsys_pipeline *dt_pipe_open(devsys_workspace *ws, const devsys_pipeline_options *po)
{
	devsys_pipeline *pl = NULL;
	cr_assert_eq(devsys_pipeline_new(&pl, ws, po), 0, "%s", dt_errmsg());
	return pl;
}

/* The teardown: free the pipeline and the workspace, remove (kept when DT_KEEP is set, for a
 * look at a failed run) and free the directory, devsys_shutdown(). */
static inline void dt_pipe_teardown(devsys_pipeline **pl, devsys_workspace **ws, char **dir)
{
	devsys_pipeline_free(*pl);
	*pl = NULL;
	devsys_workspace_free(*ws);
	*ws = NULL;
	if (*dir && !getenv("DT_KEEP"))
		dt_rmrf(*dir);
	free(*dir);
	*dir = NULL;
	devsys_shutdown();
}

/*
 * Register task @p id through @p pl: its agent is `/bin/sh <dir>/<id>.sh`,
 * written with @p script; the spec's title is "Agent task <id>", its prompt
 * "Append a line to README.", its repo file://<dir>/remote.git on main, then
 * come @p extra (YAML lines, may be NULL) and tests `make check` on inproc.
 */
static inline void dt_pipe_validate(devsys_pipeline *pl, const char *dir, const char *id, const char *script,
                                    const char *extra)
{
	char spec[8192], path[4096];
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, script));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Agent task %s\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n%s"
	         "tests:\n  command: [make, check]\nrunner: inproc\n",
	         id, id, dir, path, extra ? extra : "");
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s", dt_errmsg());
}

/* <dir>/tasks/<id>/task.json, parsed (json_decref() it); asserts that it parses. */
static inline json_t *dt_pipe_task_json(const char *dir, const char *id)
{
	char p[4096];
	json_t *j;
	snprintf(p, sizeof(p), "%s/tasks/%s/task.json", dir, id);
	j = json_load_file(p, 0, NULL);
	cr_assert_not_null(j, "%s", p);
	return j;
}

/* How many lines file @p path has (0 when there is no such file). */
static inline int dt_lines_of(const char *path)
{
	char *s = dt_read_file(path, NULL);
	int n = 0;
	for (char *q = s; q && *q; q++)
		n += *q == '\n';
	free(s);
	return n;
}

/* How many commits <dir>/remote.git has in @p range (git rev-list), or -1 (no such branch). */
static inline int dt_pipe_commits(const char *dir, const char *range)
{
	int status;
	char *out = dt_sh_output(&status, "git --git-dir='%s/remote.git' rev-list --count %s 2>/dev/null", dir, range);
	int n = out && status == 0 ? atoi(out) : -1;
	free(out);
	return n;
}

/*
 * How many events of @p type <dir>/tasks/<id>/events.jsonl holds whose
 * data.host is @p host (NULL: any host); -1 when there is no such file.
 */
static inline int dt_pipe_events(const char *dir, const char *id, const char *type, const char *host)
{
	char p[4096], *text, *line, *save = NULL;
	int n = 0;
	snprintf(p, sizeof(p), "%s/tasks/%s/events.jsonl", dir, id);
	if (!(text = dt_read_file(p, NULL)))
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);
		const char *h = json_string_value(json_object_get(json_object_get(e, "data"), "host"));
		if (e && strcmp(json_string_value(json_object_get(e, "type")), type) == 0 && (!host || (h && !strcmp(h, host))))
			n++;
		json_decref(e);
	}
	free(text);
	return n;
}

#endif /* DEVSYS_PIPELINE_FIXTURE_H */
