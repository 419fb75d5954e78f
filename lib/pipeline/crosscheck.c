/*
 * The agent's cross-check, after the commit: the paths its tool calls
 * named (agent.usage.tools, from the adapter's events) against the paths
 * the commit changed (devsys_repo_changed_paths). A changed file no tool
 * call named, say one a `bash` tool wrote, is reported in task.json
 * agent.cross_check and in the PR's agent digest: the record says what
 * the agent's own account leaves out.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Paths listed in the record; the count says how many there were. */
#define MAX_LISTED 100

/* Tools that only look: a path they named was not touched by them. */
static bool looks_only(const char *tool)
{
	static const char *const ro[] = { "read", "glob", "grep", "list", "webfetch", "todoread", "skill" };
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		if (!strcmp(ro[i], tool))
			return true;
	return false;
}

/* @p path relative to the checkout: as given when relative, else with the
 * checkout's path (as given, or resolved) cut off; NULL when outside. */
static const char *in_checkout(const char *path, const char *checkout, const char *real)
{
	size_t n;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (path[0] != '/')
		return path;
	for (int i = 0; i < 2; i++) {
		const char *root = i ? real : checkout;
		if (root && (n = strlen(root)) && !strncmp(path, root, n) && path[n] == '/')
			return path + n + 1;
	}
	return NULL;
}

/* Did a tool call that writes name @p path? */
static bool touched(json_t *tools, const char *path, const char *checkout, const char *real)
{
	size_t i, k;
	json_t *t, *p;
	json_array_foreach(tools, i, t)
	{
		const char *tool = json_string_value(json_object_get(t, "tool"));
		if (!tool || looks_only(tool))
			continue;
		json_array_foreach(json_object_get(t, "paths"), k, p)
		{
			const char *rel = json_string_value(p) ? in_checkout(json_string_value(p), checkout, real) : NULL;
			if (rel && !strcmp(rel, path))
				return true;
		}
	}
	return false;
}

/* {"changed": N, "touched_by_tools": M, "not_touched": [...], "not_touched_count": K} */
static json_t *compare(json_t *tools, const devsys_repo_changes *ch, const char *checkout)
{
	char *real = realpath(checkout, NULL);
	json_t *list = json_array();
	size_t n = devsys_repo_changes_count(ch), missed = 0;
	for (size_t i = 0; i < n; i++) {
		const devsys_repo_change *c = devsys_repo_changes_at(ch, i);
		const char *old = devsys_repo_change_old_path(c);
		if (touched(tools, devsys_repo_change_path(c), checkout, real) || (old && touched(tools, old, checkout, real)))
			continue;
		if (missed++ < MAX_LISTED)
			json_array_append_new(list, json_string(devsys_repo_change_path(c)));
	}
	free(real);
	return json_pack("{s:I,s:I,s:o,s:I}", "changed", (json_int_t)n, "touched_by_tools", (json_int_t)(n - missed),
	                 "not_touched", list, "not_touched_count", (json_int_t)missed);
}

/* task.json as a new reference, and its agent object (borrowed from it) when the adapter reported tools. */
static int agent_doc(json_t **doc, json_t **agent, devsys_task *task)
{
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	int rc;
	*doc = *agent = NULL;
	if ((rc = devsys_record_open(&rec, task)) == 0 && (rc = devsys_record_json(rec, &j)) == 0 &&
	    !(*doc = json_loads(j.ptr ? j.ptr : "{}", 0, NULL)))
		rc = devsys__error_set(DEVSYS_EPARSE, "task '%s': task.json cannot be read back", devsys_task_id(task));
	devsys_buf_dispose(&j);
	devsys_record_free(rec);
	if (rc == 0 && json_is_array(json_object_get(json_object_get(json_object_get(*doc, "agent"), "usage"), "tools")))
		*agent = json_object_get(*doc, "agent");
	return rc;
}

int devsys__pipeline_agent_crosscheck(devsys__stage_ctx *c)
{
	devsys_repo_changes *ch = NULL;
	devsys_record *rec = NULL;
	json_t *doc, *agent, *cc;
	char *s = NULL;
	int rc;
	/* only an adapter that reports its tool calls (not the command kind) */
	if ((rc = agent_doc(&doc, &agent, c->task)) < 0 || !agent) {
		json_decref(doc);
		return rc;
	}
	if ((rc = devsys_repo_changed_paths(&ch, c->repo)) == 0 &&
	    !(cc = compare(json_object_get(json_object_get(agent, "usage"), "tools"), ch,
	                   devsys_repo_checkout_path(c->repo))))
		rc = devsys__error_oom();
	if (rc == 0 && (json_object_set_new(agent, "cross_check", cc) < 0 ||
	                !(s = json_dumps(agent, JSON_COMPACT | JSON_PRESERVE_ORDER))))
		rc = devsys__error_oom();
	if (rc == 0 && (rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_set_json(rec, "agent", s)) == 0)
		rc = devsys_record_save(rec);
	devsys_record_free(rec);
	devsys_repo_changes_free(ch);
	json_decref(doc);
	free(s);
	return rc;
}
