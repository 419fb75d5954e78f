/* The pipeline's handle, shared by its stage files. */
#ifndef DEVSYS_PIPELINE_INT_H
#define DEVSYS_PIPELINE_INT_H

#include "devsys/pipeline.h"

struct devsys_pipeline {
	devsys_workspace *ws;  /* referenced */
	devsys_store *store;   /* owned */
	devsys_runner *runner; /* owned; opened by the first stage that runs a command */
	const devsys_repo_options *repo_opts;     /* borrowed until devsys_pipeline_free() */
	const devsys_runner_options *runner_opts; /* borrowed until the runner is opened */
	char **scrub;          /* owned copy of agent_env_scrub */
	devsys_spec *spec;     /* of the last validate */
	devsys_validation *validation;
	char *task_id;
	const char *spec_kept; /* "spec.yaml" or "spec.json": the name the record keeps the spec under */
};

/* Fill @p r (when given and of a known version) and return @p rc. */
int devsys__pipeline_result(devsys_stage_result *r, const char *stage, int rc, int failure_class, const char *outcome);

/* Write a stage's begin (result NULL) or end into task.json; an end also
 * goes to events.jsonl as a "stage.end" event with its failure class. */
int devsys__pipeline_record_stage(devsys_task *task, const char *stage, const char *result, const char *fclass);

#endif
