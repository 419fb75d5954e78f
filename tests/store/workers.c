/* The store's worker registry and cancel requests (SQLite). */
#include "testutil.h"
#include <devsys.h>
#include <devsys/store.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_store *st;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("workers");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_store_free(st);
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(workers, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), 0, "%s: %s", #expr, devsys_error_message(devsys_error_last()))

static void queued_task(const char *id)
{
	OK(devsys_store_task_create(st, id, NULL));
	OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, id, "", NULL));
}

static json_t *workers(void)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	OK(devsys_store_workers_json(st, &b));
	j = json_loads(b.ptr, 0, NULL);
	devsys_buf_dispose(&b);
	cr_assert(j);
	return j;
}

static json_t *worker(json_t *all, const char *id)
{
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(all, "workers"), i, w)
		if (!strcmp(json_string_value(json_object_get(w, "id")), id))
			return w;
	return NULL;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(workers, beat_registers_and_replaces)
{
	devsys_store_worker_info in = DEVSYS_STORE_WORKER_INFO_INIT;
	json_t *all, *w;
	in.id = "w1";
	in.host = "hostA";
	in.pid = 4242;
	in.jobs = 3;
	in.lease_ms = 60000;
	in.running = 2;
	in.claimed = 5;
	in.completed = 3;
	in.expiries = 1;
	OK(devsys_store_worker_beat(st, &in));
	in.claimed = 6;
	OK(devsys_store_worker_beat(st, &in));
	in.id = "w2";
	in.stopped = 1;
	OK(devsys_store_worker_beat(st, &in));
	all = workers();
	cr_assert_eq(json_array_size(json_object_get(all, "workers")), 2);
	cr_assert((w = worker(all, "w1")));
	cr_assert_str_eq(json_string_value(json_object_get(w, "host")), "hostA");
	cr_assert_eq(json_integer_value(json_object_get(w, "pid")), 4242);
	cr_assert_eq(json_integer_value(json_object_get(w, "jobs")), 3);
	cr_assert_eq(json_integer_value(json_object_get(w, "running")), 2);
	cr_assert_eq(json_integer_value(json_object_get(w, "claimed")), 6, "the second beat replaces the first");
	cr_assert_eq(json_integer_value(json_object_get(w, "expiries")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(w, "state")), "alive");
	cr_assert_str_eq(json_string_value(json_object_get(worker(all, "w2"), "state")), "stopped");
	json_decref(all);
}

Test(workers, silent_worker_turns_stale)
{
	devsys_store_worker_info in = DEVSYS_STORE_WORKER_INFO_INIT;
	long long deadline = now_ms() + 5000;
	const char *state = "alive";
	in.id = "quiet";
	in.host = "h";
	in.lease_ms = 50;
	OK(devsys_store_worker_beat(st, &in));
	while (now_ms() < deadline) {
		json_t *all = workers();
		state = strcmp(json_string_value(json_object_get(worker(all, "quiet"), "state")), "stale") ? "alive" : "stale";
		json_decref(all);
		if (!strcmp(state, "stale"))
			break;
		usleep(20000);
	}
	cr_assert_str_eq(state, "stale");
}

Test(workers, beat_bad_input)
{
	devsys_store_worker_info in = DEVSYS_STORE_WORKER_INFO_INIT;
	in.host = "h";
	cr_assert_eq(devsys_store_worker_beat(st, &in), DEVSYS_EINVAL);
	in.id = "x";
	in.version = 99;
	cr_assert_eq(devsys_store_worker_beat(st, &in), DEVSYS_EVERSION);
}

Test(workers, metrics_count_workers)
{
	devsys_store_worker_info in = DEVSYS_STORE_WORKER_INFO_INIT;
	devsys_buf b = DEVSYS_BUF_INIT;
	OK(devsys_store_metrics(st, &b));
	cr_assert(strstr(b.ptr, "devsys_workers{state=\"alive\"} 0\n"), "%s", b.ptr);
	in.id = "m1";
	in.host = "h";
	in.claimed = 7;
	in.expiries = 2;
	OK(devsys_store_worker_beat(st, &in));
	OK(devsys_store_metrics(st, &b));
	cr_assert(strstr(b.ptr, "devsys_workers{state=\"alive\"} 1\n"), "%s", b.ptr);
	cr_assert(strstr(b.ptr, "devsys_worker_claims_total 7\n"), "%s", b.ptr);
	cr_assert(strstr(b.ptr, "devsys_worker_lease_expiries_total 2\n"), "%s", b.ptr);
	devsys_buf_dispose(&b);
}

Test(workers, cancel_of_a_held_task_is_requested_of_its_holder)
{
	devsys_buf id = DEVSYS_BUF_INIT, why = DEVSYS_BUF_INIT;
	queued_task("t-held");
	cr_assert_eq(devsys_store_cancel_requested(st, "t-held", NULL), 0, "control: nothing requested yet");
	OK(devsys_store_claim(&id, st, "w/1", "h", NULL, 0, 60000));
	cr_assert_eq(devsys_store_cancel_request(st, "t-held", "stop it"), 1, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_store_cancel_requested(st, "t-held", &why), 1);
	cr_assert_str_eq(why.ptr, "stop it");
	cr_assert_eq(devsys_store_task_state(st, "t-held"), DEVSYS_STATE_VALIDATED, "the holder cancels, not the store");
	OK(devsys_store_heartbeat(st, "t-held", "w/1", 60000));
	OK(devsys_store_transition(st, "t-held", DEVSYS_STATE_CANCELED, "the holder canceled"));
	OK(devsys_store_complete(st, "t-held", "w/1"));
	cr_assert_eq(devsys_store_cancel_requested(st, "t-held", NULL), 0, "complete forgets the request");
	devsys_buf_dispose(&id);
	devsys_buf_dispose(&why);
}

Test(workers, cancel_of_a_free_task_cancels_it_here)
{
	devsys_buf id = DEVSYS_BUF_INIT;
	queued_task("t-free");
	queued_task("t-other");
	cr_assert_eq(devsys_store_cancel_request(st, "t-free", NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_store_task_state(st, "t-free"), DEVSYS_STATE_CANCELED);
	OK(devsys_store_claim(&id, st, "w/1", "h", NULL, 0, 60000));
	cr_assert_str_eq(id.ptr, "t-other", "the canceled task is never claimed");
	devsys_buf_dispose(&id);
}

Test(workers, handed_back_with_a_request_is_canceled_not_claimed)
{
	devsys_buf id = DEVSYS_BUF_INIT;
	queued_task("t-back");
	OK(devsys_store_claim(&id, st, "w/1", "h", NULL, 0, 60000));
	cr_assert_eq(devsys_store_cancel_request(st, "t-back", NULL), 1);
	OK(devsys_store_release(st, "t-back", "w/1", "stopping"));
	cr_assert_eq(devsys_store_claim(&id, st, "w/2", "h", NULL, 0, 60000), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_store_task_state(st, "t-back"), DEVSYS_STATE_CANCELED);
	devsys_buf_dispose(&id);
}

Test(workers, cancel_request_errors)
{
	cr_assert_eq(devsys_store_cancel_request(st, "no-such", NULL), DEVSYS_ENOTFOUND);
	OK(devsys_store_task_create(st, "t-plain", NULL));
	cr_assert_eq(devsys_store_cancel_request(st, "t-plain", NULL), DEVSYS_ENOTFOUND, "not queued");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "t-plain"));
	OK(devsys_store_transition(st, "t-plain", DEVSYS_STATE_FAILED, NULL));
	cr_assert_eq(devsys_store_cancel_request(st, "t-plain", NULL), DEVSYS_ESTATE);
	cr_assert_eq(devsys_store_cancel_requested(st, "../x", NULL), DEVSYS_EBADID);
}
