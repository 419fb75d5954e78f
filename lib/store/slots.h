/*
 * Runner-pool host slots and cool-downs in the store (slots.c), so that
 * every process sharing a store — the worker processes of one host on its
 * SQLite file, or the hosts of one PostgreSQL database — keeps one
 * per_host_max and one cool-down per pool member. Internal: the pipeline's
 * placement (lib/pipeline/pool.c) is the only user. Thread-safe as the
 * store handle is (each call is one transaction under its lock).
 */
#ifndef DEVSYS_STORE_SLOTS_H
#define DEVSYS_STORE_SLOTS_H

#include "devsys/store.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct devsys__slot_pick {
	int index;            /* the member a slot was taken on; -1 none */
	unsigned int live;    /* index >= 0: the member's live slots, this one included */
	bool tied;            /* the slot lives with the task's queue lease, and needs no renewal */
	bool all_cooling;     /* index -1: every member is cooling down (else every free one is at the limit) */
	long long back_in_ms; /* all_cooling: when the first member is back */
} devsys__slot_pick;

/*
 * In one transaction: the live slots and cool-downs of pool @p pool, then
 * a slot for @p holder (unique per placement) on the member of @p members
 * that is not cooling down and has the fewest live slots, under @p limit
 * (ties: the member listed first). When task @p task_id holds a queue
 * lease, the slot is tied to it (owner: the lease's owner; it ends when
 * the lease does, so a killed worker's slots free themselves); otherwise
 * it lives @p ttl_ms unless renewed, owned by @p owner.
 * @return 0 (out->index -1 when nothing was taken); DEVSYS_ELIMIT for a
 *         name longer than the store keeps; the store's errors.
 */
int devsys__store_slot_take(devsys__slot_pick *out, devsys_store *st, const char *pool, const char *const *members,
                            size_t n, unsigned int limit, const char *holder, const char *owner, const char *task_id,
                            unsigned int ttl_ms);

/* Extend @p holder's untied slot to now + @p ttl_ms: 1 extended, 0 gone (it expired and was dropped). */
int devsys__store_slot_renew(devsys_store *st, const char *holder, unsigned int ttl_ms);

/* Drop @p holder's slot (0 also when it is gone already). */
int devsys__store_slot_release(devsys_store *st, const char *holder);

/* @p member of @p pool is out for @p ms from now, for every process on the store. */
int devsys__store_host_cool(devsys_store *st, const char *pool, const char *member, unsigned int ms);

#endif
