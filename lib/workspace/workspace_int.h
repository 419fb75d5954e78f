/*
 * Internal layout of the workspace handle (shared by workspace/ and log.c).
 */
#ifndef DEVSYS_WORKSPACE_INT_H
#define DEVSYS_WORKSPACE_INT_H

#include "../core/core.h"

struct devsys__redactor {
	devsys_redactor_vtable vtable; /* copied prefix; unknown slots zeroed */
	void *self;
};

struct devsys_workspace {
	int refcount; /* atomic: caller + one per open task */
	char *path;   /* absolute, canonical */
	mode_t dir_mode;
	int log_level;
	devsys_log_cb log_cb;
	void *log_payload;
	struct devsys__redactor *redactors;
	size_t nredactors;
};

#endif /* DEVSYS_WORKSPACE_INT_H */
