/*
 * One write transaction of a store handle, for the store's own files that
 * keep rows of their own (slots.c) without reaching into store.c's handle.
 */
#ifndef DEVSYS_STORE_TXN_H
#define DEVSYS_STORE_TXN_H

#include "store/backend.h"
#include "devsys/store.h"

/* The body: calls on @p be with @p self; 0 commits, negative rolls back. */
typedef int (*devsys__store_txn_fn)(const devsys__store_backend *be, void *self, void *payload);

/*
 * Run @p fn inside one write transaction of @p st, under the handle's lock;
 * a transaction lost with its connection runs once more (as every store
 * call does), so @p fn resets what it accumulates into @p payload.
 */
int devsys__store_txn(devsys_store *st, devsys__store_txn_fn fn, void *payload);

#endif
