/*
 * Runner-pool host slots and cool-downs kept in the store (slots.h): the
 * choice of a member and the slot taken on it happen in one transaction,
 * so two processes placing at once see each other's slots (SQLite: one
 * writer at a time; PostgreSQL: the backend locks the pool's slots).
 */
#include "store/slots.h"
#include "store/store_txn.h"

#include <stdio.h>
#include <string.h>

#define MAX_MEMBERS 64

struct take {
	devsys__slot_pick *out;
	const char *const *members;
	size_t n;
	unsigned int limit;
	devsys__slot_row row;
	unsigned int live[MAX_MEMBERS];
	long long cool_left[MAX_MEMBERS];
};

static int use_cb(const char *member, unsigned int live, long long cool_left_ms, void *payload)
{
	struct take *t = payload;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->members[i], member) == 0) {
			t->live[i] += live;
			if (cool_left_ms > t->cool_left[i])
				t->cool_left[i] = cool_left_ms;
		}
	return 0;
}

/* The task's live queue lease, if it holds one: its slot is then tied to it. */
static int lease_cb(const devsys__queue_row *q, void *payload)
{
	devsys__slot_row *r = payload;
	if (devsys__queue_row_held(q))
		snprintf(r->lease_owner, sizeof(r->lease_owner), "%s", q->owner);
	return 0;
}

/* Fewest live slots under the limit, not cooling; ties to the member listed first. */
static int choose(struct take *t)
{
	int best = -1;
	t->out->all_cooling = true;
	t->out->back_in_ms = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->cool_left[i] > 0) {
			if (!t->out->back_in_ms || t->cool_left[i] < t->out->back_in_ms)
				t->out->back_in_ms = t->cool_left[i];
			continue;
		}
		t->out->all_cooling = false;
		if (t->live[i] < t->limit && (best < 0 || t->live[i] < t->live[best]))
			best = (int)i;
	}
	return best;
}

static int take_txn(const devsys__store_backend *be, void *self, void *payload)
{
	struct take *t = payload;
	int rc, best;
	/* a retried transaction starts over */
	memset(t->live, 0, sizeof(t->live));
	memset(t->cool_left, 0, sizeof(t->cool_left));
	t->row.lease_owner[0] = '\0';
	t->out->index = -1;
	if ((rc = be->slot_scan(self, t->row.pool, use_cb, t)) < 0 ||
	    (rc = be->queue_list(self, t->row.task_id, lease_cb, &t->row)) < 0)
		return rc;
	if ((best = choose(t)) < 0)
		return 0;
	snprintf(t->row.member, sizeof(t->row.member), "%s", t->members[best]);
	if ((rc = be->slot_take(self, &t->row)) < 0)
		return rc;
	t->out->index = best;
	t->out->live = t->live[best] + 1;
	t->out->tied = t->row.lease_owner[0] != '\0';
	return 0;
}

static int fits(const char *what, const char *v, size_t cap)
{
	if (!v || strlen(v) >= cap)
		return devsys__error_set(v ? DEVSYS_ELIMIT : DEVSYS_EINVAL, "host slots: %s '%.60s%s' %s", what,
		                         v ? v : "", v && strlen(v) > 60 ? "..." : "",
		                         v ? "is longer than the store keeps" : "is missing");
	return 0;
}

int devsys__store_slot_take(devsys__slot_pick *out, devsys_store *st, const char *pool, const char *const *members,
                            size_t n, unsigned int limit, const char *holder, const char *owner, const char *task_id,
                            unsigned int ttl_ms)
{
	struct take *t;
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(members);
	memset(out, 0, sizeof(*out));
	out->index = -1;
	if (n > MAX_MEMBERS)
		return devsys__error_set(DEVSYS_ELIMIT, "runner pool '%s': %zu members, at most %d", pool ? pool : "", n,
		                         MAX_MEMBERS);
	if (!(t = devsys__calloc(1, sizeof(*t))))
		return devsys__error_oom();
	*t = (struct take){ .out = out, .members = members, .n = n, .limit = limit };
	rc = fits("pool", pool, sizeof(t->row.pool));
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fits("member", members[i], sizeof(t->row.member));
	if (rc == 0 && (rc = fits("holder", holder, sizeof(t->row.holder))) == 0 &&
	    (rc = fits("owner", owner, sizeof(t->row.owner))) == 0 &&
	    (rc = fits("task", task_id, sizeof(t->row.task_id))) == 0) {
		snprintf(t->row.pool, sizeof(t->row.pool), "%s", pool);
		snprintf(t->row.holder, sizeof(t->row.holder), "%s", holder);
		snprintf(t->row.owner, sizeof(t->row.owner), "%s", owner);
		snprintf(t->row.task_id, sizeof(t->row.task_id), "%s", task_id);
		t->row.ttl_ms = ttl_ms;
		rc = devsys__store_txn(st, take_txn, t);
	}
	devsys__free(t);
	if (rc < 0)
		out->index = -1;
	return rc;
}

struct renew {
	const char *holder;
	unsigned int ttl_ms;
	int n;
};

static int renew_txn(const devsys__store_backend *be, void *self, void *payload)
{
	struct renew *r = payload;
	r->n = be->slot_renew(self, r->holder, r->ttl_ms);
	return r->n < 0 ? r->n : 0;
}

int devsys__store_slot_renew(devsys_store *st, const char *holder, unsigned int ttl_ms)
{
	struct renew r = { holder, ttl_ms, 0 };
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(holder);
	rc = devsys__store_txn(st, renew_txn, &r);
	return rc < 0 ? rc : r.n;
}

static int release_txn(const devsys__store_backend *be, void *self, void *payload)
{
	int n = be->slot_release(self, payload);
	return n < 0 ? n : 0;
}

int devsys__store_slot_release(devsys_store *st, const char *holder)
{
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(holder);
	return devsys__store_txn(st, release_txn, (void *)holder);
}

struct cool {
	const char *pool, *member;
	unsigned int ms;
};

static int cool_txn(const devsys__store_backend *be, void *self, void *payload)
{
	struct cool *c = payload;
	return be->cool_set(self, c->pool, c->member, c->ms);
}

int devsys__store_host_cool(devsys_store *st, const char *pool, const char *member, unsigned int ms)
{
	struct cool c = { pool, member, ms };
	devsys__slot_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = fits("pool", pool, sizeof(r.pool))) < 0 || (rc = fits("member", member, sizeof(r.member))) < 0)
		return rc;
	return devsys__store_txn(st, cool_txn, &c);
}
