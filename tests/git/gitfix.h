/*
 * Helpers shared by the git suites: source repositories made with the git
 * CLI (the library itself never runs git), workspaces, captured logs.
 */
#ifndef DEVSYS_TEST_GITFIX_H
#define DEVSYS_TEST_GITFIX_H

#include "testutil.h"
#include <devsys.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GITC "git -c user.name=Fixture -c user.email=fixture@test -c init.defaultBranch=main -c protocol.file.allow=always"

/* A bare repository <dir>/<name>.git with branch main (2 commits); the
 * working clone stays in <dir>/<name>-work. Returns the bare path (free). */
static inline char *gf_make_remote(const char *dir, const char *name)
{
	char *bare = NULL;
	int st = dt_sh("set -e; cd '%s'; " GITC " init -q -b main %s-work; cd %s-work; "
	               "echo hello > README.md; mkdir -p src; echo 'int main(void){return 0;}' > src/main.c; "
	               "printf 'build/\\n*.log\\n' > .gitignore; " GITC " add -A; " GITC " commit -q -m init; "
	               "echo more >> README.md; " GITC " commit -q -am second; "
	               GITC " clone -q --bare . ../%s.git",
	               dir, name, name, name);
	cr_assert_eq(st, 0, "could not make the fixture repository");
	cr_assert(asprintf(&bare, "%s/%s.git", dir, name) > 0);
	return bare;
}

/* Run a git command line in a shell, asserting success. */
#define gf_git(...) cr_assert_eq(dt_sh(__VA_ARGS__), 0, "git fixture command failed")

/* stdout of a command, trimmed of trailing newlines (free). */
static inline char *gf_out(const char *cmd)
{
	int st = -1;
	char *o = dt_sh_output(&st, "%s", cmd);
	cr_assert_eq(st, 0, "command failed: %s", cmd);
	size_t n = strlen(o);
	while (n && (o[n - 1] == '\n' || o[n - 1] == '\r'))
		o[--n] = '\0';
	return o;
}

/* A log sink collecting every message (thread-safe). */
typedef struct gf_log {
	pthread_mutex_t mu;
	char *text;
	size_t len;
} gf_log;

static inline void gf_log_cb(int level, const char *component, const char *message, void *payload)
{
	gf_log *l = payload;
	size_t n = strlen(component) + strlen(message) + 16;
	(void)level;
	pthread_mutex_lock(&l->mu);
	l->text = realloc(l->text, l->len + n + 1);
	l->len += (size_t)snprintf(l->text + l->len, n + 1, "[%s] %s\n", component, message);
	pthread_mutex_unlock(&l->mu);
}

static inline devsys_workspace *gf_workspace(const char *path, gf_log *log)
{
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	if (log) {
		memset(log, 0, sizeof(*log));
		pthread_mutex_init(&log->mu, NULL);
		o.log_cb = gf_log_cb;
		o.log_payload = log;
		o.log_level = DEVSYS_LOG_TRACE;
	}
	cr_assert_eq(devsys_workspace_open(&ws, path, &o), 0, "%s", devsys_error_message(devsys_error_last()));
	return ws;
}

static inline devsys_task *gf_task(devsys_workspace *ws, const char *id)
{
	devsys_task *t = NULL;
	cr_assert_eq(devsys_task_open(&t, ws, id, DEVSYS_TASK_CREATE), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return t;
}

static inline const char *gf_err(void)
{
	return devsys_error_message(devsys_error_last());
}

/* Does any file under @p dir contain @p needle? (grep -r, binary too) */
static inline bool gf_tree_contains(const char *dir, const char *needle)
{
	return dt_sh("grep -rqaF -- '%s' '%s'", needle, dir) == 0;
}

#endif
