/* The store's queue: submit, claim with a lease, heartbeat, release, complete, expiry, contention. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/store.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_store *st;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("queue");
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

TestSuite(queue, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), 0, "%s: %s", #expr, devsys_error_message(devsys_error_last()))

static void queued_task(const char *id, const char *profile)
{
	OK(devsys_store_task_create(st, id, NULL));
	OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, id, profile, "urn:devsys:schema:task:1"));
	cr_assert_eq(devsys_store_task_state(st, id), DEVSYS_STATE_QUEUED);
}

static json_t *claims(const char *id)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j;
	OK(devsys_store_claims_json(st, id, &b));
	j = json_loads(b.ptr, 0, NULL);
	devsys_buf_dispose(&b);
	cr_assert(j);
	return j;
}

/* The line of task @p id in `devsys queue`'s table (the real binary), squeezed to single spaces; "" when absent. */
static char *queue_line(const char *id)
{
	static char line[512];
	int rc;
	const char *cli = getenv("DEVSYS_CLI");
	char *out, *at;
	cr_assert_not_null(cli, "DEVSYS_CLI is not set by the build");
	out = dt_sh_output(&rc, "'%s' --workspace '%s' queue | grep '^%s ' | tr -s ' '", cli, dir, id);
	cr_assert_not_null(out);
	snprintf(line, sizeof(line), "%s", out);
	free(out);
	if ((at = strchr(line, '\n')))
		*at = '\0';
	return line;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Claims of one task by different owners whose lease intervals overlap:
 * [claimed_ms, ended_ms or until_ms). The count of overlapping pairs.
 */
static int overlaps(json_t *log)
{
	json_t *c = json_object_get(log, "claims");
	int found = 0;
	for (size_t i = 0; i < json_array_size(c); i++)
		for (size_t k = i + 1; k < json_array_size(c); k++) {
			json_t *a = json_array_get(c, i), *b = json_array_get(c, k);
			long long as, ae, bs, be;
			if (strcmp(json_string_value(json_object_get(a, "task")), json_string_value(json_object_get(b, "task"))) ||
			    !strcmp(json_string_value(json_object_get(a, "owner")), json_string_value(json_object_get(b, "owner"))))
				continue;
			as = json_integer_value(json_object_get(a, "claimed_ms"));
			bs = json_integer_value(json_object_get(b, "claimed_ms"));
			ae = json_is_null(json_object_get(a, "ended_ms")) ? json_integer_value(json_object_get(a, "until_ms"))
			                                                 : json_integer_value(json_object_get(a, "ended_ms"));
			be = json_is_null(json_object_get(b, "ended_ms")) ? json_integer_value(json_object_get(b, "until_ms"))
			                                                 : json_integer_value(json_object_get(b, "ended_ms"));
			if (as < be && bs < ae)
				found++;
		}
	return found;
}

Test(queue, state_machine)
{
	cr_assert_eq(devsys_task_state_parse("queued"), DEVSYS_STATE_QUEUED);
	cr_assert_str_eq(devsys_task_state_name(DEVSYS_STATE_QUEUED), "queued");
	cr_assert_eq(DEVSYS_STATE_COUNT, DEVSYS_STATE_QUEUED + 1);
	cr_assert(devsys_task_state_allowed(DEVSYS_STATE_VALIDATED, DEVSYS_STATE_QUEUED));
	cr_assert(devsys_task_state_allowed(DEVSYS_STATE_QUEUED, DEVSYS_STATE_VALIDATED));
	cr_assert(devsys_task_state_allowed(DEVSYS_STATE_QUEUED, DEVSYS_STATE_CANCELED));
	cr_assert(!devsys_task_state_allowed(DEVSYS_STATE_QUEUED, DEVSYS_STATE_CHECKED_OUT));
	cr_assert(!devsys_task_state_allowed(DEVSYS_STATE_QUEUED, DEVSYS_STATE_INTERRUPTED));
	cr_assert(!devsys_task_state_allowed(DEVSYS_STATE_CREATED, DEVSYS_STATE_QUEUED));
	cr_assert(!devsys_task_state_allowed(DEVSYS_STATE_CODED, DEVSYS_STATE_QUEUED));
	cr_assert(!devsys_task_state_allowed(DEVSYS_STATE_DONE, DEVSYS_STATE_QUEUED));
}

Test(queue, submit_needs_a_validated_task)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	OK(devsys_store_task_create(st, "s1", NULL));
	cr_assert_eq(devsys_store_submit(st, "s1", NULL, NULL), DEVSYS_ESTATE);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "only a validated task"));
	cr_assert_eq(devsys_store_submit(st, "nope", NULL, NULL), DEVSYS_ENOTFOUND);
	/* nothing was queued by the refusals */
	cr_assert_eq(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 0), DEVSYS_ENOTFOUND);
	queued_task("s2", NULL);
	cr_assert_eq(devsys_store_submit(st, "s2", NULL, NULL), DEVSYS_ESTATE, "queued already");
	json_t *j = claims("s2");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "queue"), 0), "schema")),
	                 "urn:devsys:schema:task:1");
	json_decref(j);
	devsys_buf_dispose(&b);
}

Test(queue, claim_heartbeat_complete)
{
	devsys_buf id = DEVSYS_BUF_INIT, again = DEVSYS_BUF_INIT;
	json_t *j;
	queued_task("a1", NULL);
	cr_assert_str_eq(queue_line("a1"), "a1 - - -", "free: no owner, no lease");
	OK(devsys_store_claim(&id, st, "w1", "host1", NULL, 0, 60000));
	cr_assert_str_eq(id.ptr, "a1");
	{
		char *line = queue_line("a1");
		long long left = -1;
		cr_assert_eq(sscanf(line, "a1 - w1 %lld ms", &left), 1, "%s", line);
		cr_assert(left > 50000 && left <= 60000, "%s", line);
	}
	cr_assert_eq(devsys_store_task_state(st, "a1"), DEVSYS_STATE_VALIDATED, "a claim hands the pipeline a validated task");
	cr_assert_eq(devsys_store_claim(&again, st, "w2", "host1", NULL, 0, 60000), DEVSYS_ENOTFOUND, "held: not claimable");
	j = claims("a1");
	{
		json_t *q = json_array_get(json_object_get(j, "queue"), 0);
		cr_assert(json_is_true(json_object_get(q, "held")), "a live lease reads as held");
		cr_assert_gt(json_integer_value(json_object_get(q, "lease_ms_left")), 50000);
	}
	json_decref(j);
	cr_assert_eq(devsys_store_heartbeat(st, "a1", "w2", 0), DEVSYS_ESTATE, "not w2's lease");
	OK(devsys_store_heartbeat(st, "a1", "w1", 60000));
	cr_assert_eq(devsys_store_complete(st, "a1", "w2"), DEVSYS_ESTATE);
	cr_assert_eq(devsys_store_release(st, "a1", "w2", NULL), DEVSYS_ESTATE);
	OK(devsys_store_complete(st, "a1", "w1"));
	cr_assert_eq(devsys_store_heartbeat(st, "a1", "w1", 0), DEVSYS_ESTATE, "completed: the lease is gone");
	j = claims(NULL);
	cr_assert_eq(json_array_size(json_object_get(j, "queue")), 0);
	cr_assert_eq(json_array_size(json_object_get(j, "claims")), 1);
	json_t *c = json_array_get(json_object_get(j, "claims"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "how")), "completed");
	cr_assert_str_eq(json_string_value(json_object_get(c, "owner")), "w1");
	cr_assert_str_eq(json_string_value(json_object_get(c, "host")), "host1");
	cr_assert(json_integer_value(json_object_get(c, "ended_ms")) >= json_integer_value(json_object_get(c, "claimed_ms")));
	json_decref(j);
	cr_assert_eq(devsys_store_claim(&again, st, "w2", "host1", NULL, 0, 0), DEVSYS_ENOTFOUND, "completed: gone");
	cr_assert_eq(devsys_store_claim(&again, st, "", "host1", NULL, 0, 0), DEVSYS_EINVAL);
	devsys_buf_dispose(&id);
	devsys_buf_dispose(&again);
}

Test(queue, claims_in_submit_order_and_by_profile)
{
	devsys_buf id = DEVSYS_BUF_INIT;
	const char *cpu[] = { "cpu" }, *gpu[] = { "gpu", "big" };
	queued_task("p1", "gpu");
	queued_task("p2", "cpu");
	queued_task("p3", "cpu");
	cr_assert_eq(devsys_store_claim(&id, st, "w1", "h", (const char *const[]){ "arm" }, 1, 0), DEVSYS_ENOTFOUND);
	OK(devsys_store_claim(&id, st, "w1", "h", cpu, 1, 0));
	cr_assert_str_eq(id.ptr, "p2");
	OK(devsys_store_claim(&id, st, "w2", "h", gpu, 2, 0));
	cr_assert_str_eq(id.ptr, "p1");
	OK(devsys_store_claim(&id, st, "w3", "h", NULL, 0, 0));
	cr_assert_str_eq(id.ptr, "p3", "no profile list: any task");
	devsys_buf_dispose(&id);
}

Test(queue, release_mid_stage_interrupts_and_the_next_claim_resumes)
{
	devsys_buf id = DEVSYS_BUF_INIT, stage = DEVSYS_BUF_INIT;
	json_t *j;
	queued_task("r1", NULL);
	OK(devsys_store_claim(&id, st, "w1", "h", NULL, 0, 0));
	OK(devsys_store_stage_begin(st, "r1", "checkout"));
	OK(devsys_store_release(st, "r1", "w1", "shutting down"));
	cr_assert_eq(devsys_store_task_state(st, "r1"), DEVSYS_STATE_INTERRUPTED);
	OK(devsys_store_claim(&id, st, "w2", "h", NULL, 0, 0));
	cr_assert_str_eq(id.ptr, "r1");
	cr_assert_eq(devsys_store_task_state(st, "r1"), DEVSYS_STATE_INTERRUPTED, "left for the pipeline to resume");
	OK(devsys_store_resume(st, "r1", &stage));
	cr_assert_str_eq(stage.ptr, "checkout", "the stage named");
	cr_assert_eq(devsys_store_task_state(st, "r1"), DEVSYS_STATE_VALIDATED);
	j = claims("r1");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "claims"), 0), "how")),
	                 "released");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "claims"), 1), "how")),
	                 "held");
	json_decref(j);

	/* between stages a release hands the task back as it stands */
	queued_task("r2", NULL);
	OK(devsys_store_claim(&id, st, "w1", "h", NULL, 0, 0));
	cr_assert_str_eq(id.ptr, "r2");
	OK(devsys_store_release(st, "r2", "w1", NULL));
	cr_assert_eq(devsys_store_task_state(st, "r2"), DEVSYS_STATE_VALIDATED);
	devsys_buf_dispose(&id);
	devsys_buf_dispose(&stage);
}

Test(queue, an_expired_lease_interrupts_the_task_and_it_is_claimed_again)
{
	devsys_buf id = DEVSYS_BUF_INIT, stage = DEVSYS_BUF_INIT;
	long long deadline;
	int rc;
	json_t *j, *c0;
	queued_task("e1", NULL);
	OK(devsys_store_claim(&id, st, "w1", "h1", NULL, 0, 300));
	OK(devsys_store_stage_begin(st, "e1", "checkout"));
	/* control: a live lease is not taken */
	cr_assert_eq(devsys_store_claim(&id, st, "w2", "h2", NULL, 0, 60000), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_store_task_state(st, "e1"), DEVSYS_STATE_VALIDATED);
	/* the queue says when the lease is no longer held: a claim then takes it back at once */
	deadline = now_ms() + 10000;
	for (;;) {
		json_t *q;
		j = claims("e1");
		q = json_array_get(json_object_get(j, "queue"), 0);
		cr_assert_str_eq(json_string_value(json_object_get(q, "owner")), "w1", "not swept before the next claim");
		if (!json_is_true(json_object_get(q, "held"))) {
			cr_assert_eq(json_integer_value(json_object_get(q, "lease_ms_left")), 0);
			json_decref(j);
			cr_assert_str_eq(queue_line("e1"), "e1 - w1 expired", "devsys queue says so");
			break;
		}
		json_decref(j);
		cr_assert_lt(now_ms(), deadline, "the 300 ms lease still reads as held after 10 s");
		usleep(20000);
	}
	rc = devsys_store_claim(&id, st, "w2", "h2", NULL, 0, 60000);
	cr_assert_eq(rc, 0, "the expired lease was taken back: %s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(id.ptr, "e1");
	cr_assert_eq(devsys_store_task_state(st, "e1"), DEVSYS_STATE_INTERRUPTED);
	cr_assert_eq(devsys_store_heartbeat(st, "e1", "w1", 0), DEVSYS_ESTATE, "w1 lost it");
	OK(devsys_store_heartbeat(st, "e1", "w2", 0));
	j = claims("e1");
	c0 = json_array_get(json_object_get(j, "claims"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c0, "how")), "expired");
	cr_assert_eq(json_integer_value(json_object_get(c0, "ended_ms")), json_integer_value(json_object_get(c0, "until_ms")));
	cr_assert_eq(overlaps(j), 0);
	json_decref(j);
	/* the event names the stage, and resume runs it again */
	char *ev = dt_sh_output(&rc, "tail -n 3 '%s/tasks/e1/events.jsonl'", dir);
	cr_assert(strstr(ev, "stage checkout interrupted: the lease of worker w1 on h1 expired"), "%s", ev);
	free(ev);
	OK(devsys_store_resume(st, "e1", &stage));
	cr_assert_str_eq(stage.ptr, "checkout");
	devsys_buf_dispose(&id);
	devsys_buf_dispose(&stage);
}

/* ---- contention: several processes on one SQLite store ---- */

#define NPROC 4
#define NTASKS 60

/* A worker process: claim until the queue is empty; every third claim is handed back. */
static int worker_child(int n, int out_fd)
{
	devsys_workspace *w = NULL;
	devsys_store *s = NULL;
	devsys_buf id = DEVSYS_BUF_INIT;
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	char owner[32];
	int counts[2] = { 0, 0 }, rc, k = 0;
	snprintf(owner, sizeof(owner), "worker-%d", n);
	o.busy_timeout_ms = 30000;
	if (devsys_workspace_open(&w, dir, NULL) < 0 || devsys_store_open(&s, w, &o) < 0)
		return 2;
	while ((rc = devsys_store_claim(&id, s, owner, "localhost", NULL, 0, 60000)) == 0) {
		if (devsys_store_heartbeat(s, id.ptr, owner, 60000) < 0)
			return 3;
		if (++k % 3 == 0) {
			if (devsys_store_release(s, id.ptr, owner, NULL) < 0)
				return 4;
			counts[1]++;
		} else {
			if (devsys_store_complete(s, id.ptr, owner) < 0)
				return 5;
			counts[0]++;
		}
	}
	if (rc != DEVSYS_ENOTFOUND)
		return 6;
	if (write(out_fd, counts, sizeof(counts)) != (ssize_t)sizeof(counts))
		return 7;
	devsys_buf_dispose(&id);
	devsys_store_free(s);
	devsys_workspace_free(w);
	return 0;
}

Test(queue, contention_no_task_is_held_twice, .timeout = 120)
{
	int fds[2], completes = 0, releases = 0;
	pid_t pids[NPROC];
	json_t *j, *cl;
	char id[32];
	for (int i = 0; i < NTASKS; i++) {
		snprintf(id, sizeof(id), "c%02d", i);
		queued_task(id, NULL);
	}
	cr_assert_eq(pipe(fds), 0);
	for (int i = 0; i < NPROC; i++) {
		/* no assertion in the child: it would report to the runner as if it were the test */
		if ((pids[i] = fork()) == 0)
			_exit(worker_child(i, fds[1]));
		cr_assert(pids[i] > 0);
	}
	close(fds[1]);
	for (int i = 0; i < NPROC; i++) {
		int status, counts[2];
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d: status %d", i, status);
		cr_assert_eq(read(fds[0], counts, sizeof(counts)), (ssize_t)sizeof(counts));
		completes += counts[0];
		releases += counts[1];
	}
	close(fds[0]);
	cr_assert_eq(completes, NTASKS, "every task completed once");
	cr_assert(releases > 0);
	j = claims(NULL);
	cl = json_object_get(j, "claims");
	cr_assert_eq(json_array_size(json_object_get(j, "queue")), 0);
	cr_assert_eq((int)json_array_size(cl), completes + releases, "one log entry per claim");
	for (int i = 0; i < NTASKS; i++) {
		int done = 0;
		snprintf(id, sizeof(id), "c%02d", i);
		for (size_t k = 0; k < json_array_size(cl); k++) {
			json_t *c = json_array_get(cl, k);
			if (!strcmp(json_string_value(json_object_get(c, "task")), id) &&
			    !strcmp(json_string_value(json_object_get(c, "how")), "completed"))
				done++;
		}
		cr_assert_eq(done, 1, "task %s completed %d times", id, done);
	}
	cr_assert_eq(overlaps(j), 0, "no task was held by two workers at once");
	json_decref(j);
}

/*
 * Positive control for the overlap check: two processes claim through the
 * store's own tables with the exclusion left out (no transaction, no
 * "owner = ''" condition), both reading before either writes. The claim log
 * then shows one task held twice at once.
 */
static int broken_claim(int ready_fd, int go_fd, const char *owner)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	char path[4096], task[64] = "", sql[512], c;
	snprintf(path, sizeof(path), "%s/devsys.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 2;
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db, "SELECT task_id FROM queue WHERE owner = '' ORDER BY rowid LIMIT 1", -1, &q, NULL) ||
	    sqlite3_step(q) != SQLITE_ROW)
		return 3;
	snprintf(task, sizeof(task), "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	if (write(ready_fd, "r", 1) != 1 || read(go_fd, &c, 1) != 1)
		return 4;
	snprintf(sql, sizeof(sql),
	         "UPDATE queue SET owner='%s', host='h', lease_until=CAST((julianday('now')-2440587.5)*86400000.0 AS "
	         "INTEGER)+60000 WHERE task_id='%s';"
	         /* the log entry names this process's own claim (not the row's owner, which the
	          * other process may have overwritten between the two statements) */
	         "INSERT INTO claims(task_id, owner, host, claimed_ms, until_ms) VALUES ('%s', '%s', 'h', "
	         "CAST((julianday('now')-2440587.5)*86400000.0 AS INTEGER), "
	         "CAST((julianday('now')-2440587.5)*86400000.0 AS INTEGER)+60000);",
	         owner, task, task, owner);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return 5;
	sqlite3_close(db);
	return 0;
}

Test(queue, control_a_claim_without_the_condition_overlaps)
{
	int ready[2], go[2];
	pid_t pids[2];
	char c;
	json_t *j;
	queued_task("x1", NULL);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	for (int i = 0; i < 2; i++) {
		if ((pids[i] = fork()) == 0)
			_exit(broken_claim(ready[1], go[0], i ? "bad-2" : "bad-1"));
		cr_assert(pids[i] > 0);
	}
	cr_assert_eq(read(ready[0], &c, 1), 1);
	cr_assert_eq(read(ready[0], &c, 1), 1, "both read the task free");
	cr_assert_eq(write(go[1], "gg", 2), 2);
	for (int i = 0; i < 2; i++) {
		int status;
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	}
	j = claims("x1");
	cr_assert_eq(json_array_size(json_object_get(j, "claims")), 2);
	cr_assert_eq(overlaps(j), 1, "the check sees the double claim");
	json_decref(j);
}

Test(queue, a_task_canceled_while_queued_leaves_the_queue_unclaimed)
{
	devsys_buf id = DEVSYS_BUF_INIT;
	json_t *j;
	queued_task("k1", NULL);
	queued_task("k2", NULL);
	OK(devsys_store_transition(st, "k1", DEVSYS_STATE_CANCELED, "not wanted"));
	OK(devsys_store_claim(&id, st, "w1", "h", NULL, 0, 0));
	cr_assert_str_eq(id.ptr, "k2", "the canceled task is skipped");
	j = claims(NULL);
	cr_assert_eq(json_array_size(json_object_get(j, "queue")), 1, "k1 left the queue");
	cr_assert_eq(json_array_size(json_object_get(j, "claims")), 1, "and was never claimed");
	json_decref(j);
	cr_assert_eq(devsys_store_task_state(st, "k1"), DEVSYS_STATE_CANCELED);
	devsys_buf_dispose(&id);
}

Test(queue, metrics_show_the_queue_and_the_claims)
{
	devsys_buf id = DEVSYS_BUF_INIT, m = DEVSYS_BUF_INIT;
	queued_task("m1", NULL);
	queued_task("m2", NULL);
	queued_task("m3", NULL);
	OK(devsys_store_metrics(st, &m));
	cr_assert(strstr(m.ptr, "devsys_tasks{state=\"queued\"} 3\n"), "%s", m.ptr);
	cr_assert(strstr(m.ptr, "devsys_queue_tasks{lease=\"free\"} 3\n"), "%s", m.ptr);
	cr_assert(strstr(m.ptr, "devsys_claims_total{how=\"expired\"} 0\n"), "%s", m.ptr);
	OK(devsys_store_claim(&id, st, "w1", "h", NULL, 0, 0));
	OK(devsys_store_complete(st, id.ptr, "w1"));
	OK(devsys_store_claim(&id, st, "w1", "h", NULL, 0, 0));
	OK(devsys_store_release(st, id.ptr, "w1", NULL));
	OK(devsys_store_claim(&id, st, "w2", "h", NULL, 0, 0));
	OK(devsys_store_metrics(st, &m));
	cr_assert(strstr(m.ptr, "devsys_queue_tasks{lease=\"free\"} 1\n"), "%s", m.ptr);
	cr_assert(strstr(m.ptr, "devsys_queue_tasks{lease=\"held\"} 1\n"), "%s", m.ptr);
	cr_assert(strstr(m.ptr, "devsys_claims_total{how=\"completed\"} 1\n"), "%s", m.ptr);
	cr_assert(strstr(m.ptr, "devsys_claims_total{how=\"released\"} 1\n"), "%s", m.ptr);
	cr_assert(strstr(m.ptr, "devsys_claims_total{how=\"held\"} 1\n"), "%s", m.ptr);
	devsys_buf_dispose(&id);
	devsys_buf_dispose(&m);
}

Test(queue, an_expired_lease_on_a_task_gone_from_the_store_just_ends)
{
	devsys_buf id = DEVSYS_BUF_INIT;
	char path[4096];
	sqlite3 *db;
	long long deadline;
	int rc, expired = 0;
	queued_task("g1", NULL);
	OK(devsys_store_claim(&id, st, "w1", "h", NULL, 0, 300));
	snprintf(path, sizeof(path), "%s/devsys.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "DELETE FROM tasks WHERE id = 'g1'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	deadline = now_ms() + 10000;
	while (!expired && now_ms() < deadline) {
		json_t *j;
		rc = devsys_store_claim(&id, st, "w2", "h", NULL, 0, 0);
		cr_assert_eq(rc, DEVSYS_ENOTFOUND, "claims go on working: %s", devsys_error_message(devsys_error_last()));
		j = claims("g1");
		expired = !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "claims"), 0), "how")),
		                  "expired");
		cr_assert(expired || json_array_size(json_object_get(j, "queue")) == 1);
		if (expired)
			cr_assert_eq(json_array_size(json_object_get(j, "queue")), 0, "and the row left the queue");
		json_decref(j);
		if (!expired)
			usleep(20000);
	}
	cr_assert(expired, "the lease expired within the deadline");
	devsys_buf_dispose(&id);
}
