/* What the store shares with the other modules of the library (not exported). */
#ifndef DEVSYS_STORE_INT_H
#define DEVSYS_STORE_INT_H

#include "devsys/store.h"

#include <stdbool.h>

/*
 * Cancel task @p id in one transaction. When a live process owns its
 * current stage (the pid, process start time and boot id the store
 * recorded at devsys_store_stage_begin() all match), that process is sent
 * SIGTERM and ends the stage itself (*signaled = 1). Otherwise (no stage
 * runs, or its owner died or its pid now belongs to another process) the
 * task moves to canceled here (*signaled = 0), with @p reason in the event.
 * @p owner_pid (may be NULL) receives the pid signaled.
 * @return 0; DEVSYS_ENOTFOUND; DEVSYS_ESTATE (final; or owned by the calling
 *         process itself, which cancels through its pipeline handle); DEVSYS_EIO.
 */
int devsys__store_cancel(devsys_store *st, const char *id, const char *reason, int *signaled, long long *owner_pid);

/* The stage to run first once a task is back in @p state (NULL: none is left); non-zero aborts. */
typedef int (*devsys__store_pick_fn)(const char **stage, int state, void *payload);

/*
 * Resume task @p id (devsys_store_resume()) and take the stage @p pick
 * names for the state it goes back to, in one transaction: of two
 * processes resuming one task, only one passes the check, and the other
 * gets DEVSYS_EBUSY naming the pid that holds the stage (or DEVSYS_ESTATE:
 * nothing left to resume). @p from_out (may be NULL): the state it left
 * (failed or interrupted). What @p pick returns aborts it, with nothing
 * changed.
 */
int devsys__store_resume_take(devsys_store *st, const char *id, devsys__store_pick_fn pick, void *payload,
                              int *from_out);

/*
 * Does devsys_store_wait_work() wait on @p st (a backend that signals new
 * work), rather than return at once? An idle worker listens then, and polls otherwise.
 */
bool devsys__store_can_wait_work(const devsys_store *st);

/*
 * devsys_store_claim(), which also gives the claimed task's queue profile
 * ("" for none) in @p profile_out (@p profile_size bytes, may be NULL):
 * the claim's own row says it, so a worker need not read the queue again.
 */
int devsys__store_claim(devsys_buf *id_out, char *profile_out, size_t profile_size, devsys_store *st,
                        const char *owner, const char *host, const char *const *profiles, size_t nprofiles,
                        unsigned int lease_ms);

#endif
