/*
 * The facts other modules report, written into the record by the pipeline
 * (the one writer of a task folder while it runs): the git facts after
 * checkout, commit and push, and the secrets' resolve events.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"

#include <stdio.h>

int devsys__pipeline_record_git(devsys__stage_ctx *c, const char *type)
{
	devsys_record *rec = NULL;
	devsys_repo *r = c->repo;
	char why[512];
	int rc;

	if ((rc = devsys_record_open(&rec, c->task)) == 0)
		rc = devsys_record_git_step(rec, type, devsys_repo_url(r), devsys_repo_branch(r), devsys_repo_base_branch(r),
		                            devsys_repo_base_sha(r), devsys_repo_head_sha(r));
	devsys_record_free(rec);
	if (rc < 0) {
		/* the git step itself stands: say so next to the record's error */
		snprintf(why, sizeof(why), "%s", devsys_error_message(devsys_error_last()));
		rc = devsys__error_set(rc, "%s of '%s' at %.12s succeeded, but the task record could not be written: %s",
		                       type, devsys_repo_branch(r), devsys_repo_head_sha(r), why);
	}
	return rc;
}

int devsys__pipeline_secret_event(const devsys_secret_event *ev, devsys_task *task, void *payload)
{
	(void)payload;
	return devsys_record_secret_event(ev, task, NULL);
}

int devsys__pipeline_secrets_new(devsys_secrets **out, devsys_workspace *ws)
{
	devsys_secrets_options so = DEVSYS_SECRETS_OPTIONS_INIT;
	so.ws = ws;
	so.event_cb = devsys__pipeline_secret_event; /* resolutions join the task's events.jsonl */
	return devsys_secrets_new(out, &so);
}
