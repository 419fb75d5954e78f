/*
 * A runner's owner: what another module ties to one runner's lifetime (the
 * pipeline's runner pool holds a host's placement for as long as the runner
 * placed there is open). Internal.
 */
#ifndef DEVSYS_RUNNER_OWNER_H
#define DEVSYS_RUNNER_OWNER_H

#include "devsys/runner.h"

/*
 * Set the owner's payload on @p r. @p release (may be NULL) runs once in
 * devsys_runner_free(), after the backend closed. One owner per runner: a
 * second call replaces the first (whose release then never runs).
 */
void devsys__runner_set_owner(devsys_runner *r, const void *tag, void (*release)(void *payload), void *payload);

/* The payload devsys__runner_set_owner() gave with @p tag, else NULL. */
void *devsys__runner_owner(const devsys_runner *r, const void *tag);

#endif
