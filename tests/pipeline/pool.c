/*
 * Runner pools: a remote-ssh profile listing two hosts, each a real sshd
 * fixture on loopback. The test stage's command tells the test it is in
 * flight by a marker file and then waits for a go file (its own deadline),
 * so the test can kill the sshd it runs on mid-exec: the host cools down,
 * the stage runs again on the other host, and the next task skips the
 * cooled host even after it came back; a host that refuses the key at open
 * is cooled the same way, and another process told to run the stage in
 * the gap before the retry (from the retry's progress event) is refused:
 * the retry holds the stage already; a progress callback that cancels at
 * that event ends the stage canceled. The positive control: no host fails,
 * and of three concurrent tasks two spread over the two hosts by the
 * per-host limit (their commands only pass when both run at once) while
 * the third waits for a free host; a failing test command stays where it
 * ran.
 */
#include "pipeline_fixture.h"
#include "sshd_fixture.h"
#include <devsys.h>

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl, *pl2, *pl3;
static dt_sshd *a, *b;
static char cfg_path[4096];

static void need_tools(void)
{
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
}

static devsys_pipeline *open_pipeline_with(const char *config_path)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_pipeline *p = NULL;
	po.config_path = config_path;
	cr_assert_eq(devsys_pipeline_new(&p, ws, &po), 0, "%s", devsys_error_message(devsys_error_last()));
	return p;
}

static devsys_pipeline *open_pipeline(void)
{
	return open_pipeline_with(cfg_path);
}

/* The command: a marker line per run, then wait for the go file (or, with
 * "meet", for two tasks' markers: both must run at once; "fail" exits 3). */
static const char wait_sh[] = "#!/bin/sh\n"
                              "# $1 task, $2 marks dir, $3 wait|meet|fail\n"
                              "echo run >> \"$2/$1.started\"\n"
                              "[ \"$3\" = fail ] && exit 3\n"
                              "i=0\n"
                              "while [ $i -lt 600 ]; do\n"
                              "  if [ \"$3\" = meet ]; then [ $(ls \"$2\" | grep -c '\\.started$') -ge 2 ] && exit 0\n"
                              "  else [ -e \"$2/go\" ] && exit 0; fi\n"
                              "  sleep 0.05; i=$((i+1))\n"
                              "done\n"
                              "exit 1\n";

static void setup(void)
{
	char why[256], cfg[8192], p[4096];
	need_tools();
	cr_assert_eq(devsys_init(), 1);
	/* each remote command goes through the login shell: keep a slow ~/.bashrc out of the timing */
	dt_sshd_quiet_login_shell(true);
	if (!(a = dt_sshd_start(why, sizeof(why))) || !(b = dt_sshd_start(why, sizeof(why))))
		dt_skip("%s", why);
	dir = dt_tmpdir("pipepool");
	/* one key and one known_hosts for the pool: a's user key is authorized on b too */
	cr_assert_eq(dt_sh("cat '%s' >> '%s' && cat '%s' '%s' > '%s/known_hosts' && mkdir -p '%s/remote' '%s/marks'",
	                   a->user_pub, b->authorized_keys, a->known_hosts, b->known_hosts, dir, dir, dir),
	             0);
	snprintf(p, sizeof(p), "%s/wait.sh", dir);
	cr_assert(dt_write_file(p, wait_sh));
	dt_pipe_remote(dir, NULL);
	snprintf(cfg, sizeof(cfg),
	         "runners:\n  farm:\n    type: remote-ssh\n    hosts: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]\n"
	         "    user: %s\n    key: %s\n    known_hosts: %s/known_hosts\n    remote_dir: %s/remote\n"
	         "    per_host_max: 1\n    cooldown: 120s\n    connect_timeout: 5s\n    grace: 200ms\n",
	         a->port, b->port, a->user, a->user_key, dir, dir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(cfg_path, cfg));
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	pl = open_pipeline();
}

static void teardown(void)
{
	devsys_pipeline_free(pl);
	devsys_pipeline_free(pl2);
	devsys_pipeline_free(pl3);
	pl = pl2 = pl3 = NULL;
	devsys_workspace_free(ws);
	dt_sshd_free(a);
	dt_sshd_free(b);
	a = b = NULL;
	if (dir)
		dt_rmrf(dir);
	free(dir);
	dir = NULL;
	devsys_shutdown();
}

/* Validate task @p id (tests run wait.sh in @p mode on the pool), code it, and mark it pr-opened. */
static void coded(const char *id, const char *mode)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char spec[4096];
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Pool %s\nprompt: Change the README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, -c, \"echo %s >> README\"]\n"
	         "tests:\n  command: [/bin/sh, %s/wait.sh, %s, %s/marks, %s]\n  runner: farm\n",
	         id, id, dir, id, dir, id, dir, mode);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_store_transition(devsys_pipeline_store(pl), id, DEVSYS_STATE_PR_OPENED, "test fixture"), 0,
	             "%s", devsys_error_message(devsys_error_last()));
}

struct run {
	devsys_pipeline *p;
	const char *id;
	int rc;
	devsys_stage_result r;
	char err[1024];
};

static void *run_test_stage(void *arg)
{
	struct run *x = arg;
	x->r = (devsys_stage_result)DEVSYS_STAGE_RESULT_INIT;
	if ((x->rc = devsys_pipeline_load(x->p, x->id)) == 0)
		x->rc = devsys_pipeline_run_stage(&x->r, x->p, "test");
	snprintf(x->err, sizeof(x->err), "%s", x->rc ? devsys_error_message(devsys_error_last()) : "");
	return NULL;
}

static void host_of(char *out, size_t cap, const dt_sshd *s)
{
	snprintf(out, cap, "127.0.0.1:%d", s->port);
}

/* Poll for @p path with a deadline. */
static bool wait_file(const char *path, int ms)
{
	struct timespec t = { 0, 20 * 1000000 };
	for (int i = 0; i < ms / 20; i++) {
		if (dt_exists(path))
			return true;
		nanosleep(&t, NULL);
	}
	return dt_exists(path);
}

/* The task's "placements" entry @p i: its host, and whether it is marked failed. */
static const char *placement(json_t *tj, size_t i, bool *failed)
{
	json_t *e = json_array_get(json_object_get(tj, "placements"), i);
	*failed = json_is_string(json_object_get(e, "failed"));
	return json_string_value(json_object_get(e, "host"));
}

Test(pipeline_pool, a_killed_host_cools_down_and_the_step_moves_to_the_other, .init = setup, .fini = teardown,
     .timeout = 120)
{
	struct run x = { 0 };
	pthread_t th;
	char started[4096], go[4096], ha[64], hb[64];
	const char *victim_host, *other_host, *h;
	dt_sshd *victim;
	json_t *tj;
	bool failed;
	coded("fo-1", "wait");
	snprintf(started, sizeof(started), "%s/marks/fo-1.started", dir);
	snprintf(go, sizeof(go), "%s/marks/go", dir);
	host_of(ha, sizeof(ha), a);
	host_of(hb, sizeof(hb), b);
	x.p = pl;
	x.id = "fo-1";
	cr_assert_eq(pthread_create(&th, NULL, run_test_stage, &x), 0);
	/* the exec is in flight: its marker is there; the placement was recorded before it */
	if (!wait_file(started, 30000)) {
		dt_write_file(go, "");
		pthread_join(th, NULL);
		cr_assert_fail("the test command never started: %s", x.err);
	}
	tj = dt_pipe_task_json(dir, "fo-1");
	h = json_string_value(json_object_get(tj, "runner_host"));
	cr_assert(h && (!strcmp(h, ha) || !strcmp(h, hb)), "runner_host: %s", h ? h : "(none)");
	victim = !strcmp(h, ha) ? a : b;
	victim_host = victim == a ? ha : hb;
	other_host = victim == a ? hb : ha;
	json_decref(tj);
	dt_sshd_kill_all(victim);
	/* back at once, as a rebooted host: the runner's cleanup reaches it, but it stays out for its cool-down */
	cr_assert(dt_sshd_restart(victim), "the killed sshd starts again");
	cr_assert(dt_write_file(go, ""));
	pthread_join(th, NULL);
	cr_assert_eq(x.rc, 0, "%s: %s", x.r.outcome, x.err);
	cr_assert_str_eq(x.r.outcome, "exit-code-only");
	cr_assert_eq(dt_lines_of(started), 2, "the command ran twice: on the killed host, then on the other");

	tj = dt_pipe_task_json(dir, "fo-1");
	cr_assert_eq(json_array_size(json_object_get(tj, "placements")), 2);
	cr_assert_str_eq(placement(tj, 0, &failed), victim_host);
	cr_assert(failed, "the killed host's placement is marked failed");
	cr_assert_str_eq(placement(tj, 1, &failed), other_host);
	cr_assert(!failed);
	cr_assert_str_eq(json_string_value(json_object_get(tj, "runner_host")), other_host);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(tj, "stages"), "test"),
	                                                   "result")),
	                 "ok");
	json_decref(tj);
	cr_assert_eq(dt_pipe_events(dir, "fo-1", "runner.placed", victim_host), 1);
	cr_assert_eq(dt_pipe_events(dir, "fo-1", "runner.host_failed", victim_host), 1);
	cr_assert_eq(dt_pipe_events(dir, "fo-1", "runner.retry", NULL), 1);
	cr_assert_eq(dt_pipe_events(dir, "fo-1", "runner.placed", other_host), 1);

	/* the next task skips the cooled host, although its sshd is back (it would be picked first otherwise) */
	coded("fo-2", "wait");
	x = (struct run){ pl, "fo-2", 0, DEVSYS_STAGE_RESULT_INIT, "" };
	run_test_stage(&x);
	cr_assert_eq(x.rc, 0, "%s: %s", x.r.outcome, x.err);
	tj = dt_pipe_task_json(dir, "fo-2");
	cr_assert_eq(json_array_size(json_object_get(tj, "placements")), 1);
	cr_assert_str_eq(placement(tj, 0, &failed), other_host);
	json_decref(tj);
	cr_assert_eq(dt_pipe_events(dir, "fo-2", "runner.placed", victim_host), 0, "the cooled host was skipped");
	cr_assert_eq(dt_pipe_events(dir, "fo-2", "runner.host_failed", NULL), 0);
}

/* The timestamp of task @p id's last event of @p type into @p out ("" when none). */
static void last_ts(char *out, size_t cap, const char *id, const char *type)
{
	char p[4096], *text, *line, *save = NULL;
	snprintf(p, sizeof(p), "%s/tasks/%s/events.jsonl", dir, id);
	out[0] = '\0';
	if (!(text = dt_read_file(p, NULL)))
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);
		if (e && strcmp(json_string_value(json_object_get(e, "type")), type) == 0)
			snprintf(out, cap, "%s", json_string_value(json_object_get(e, "ts")));
		json_decref(e);
	}
	free(text);
}

Test(pipeline_pool, without_failures_tasks_spread_over_the_hosts_and_wait_at_the_limit, .init = setup,
     .fini = teardown, .timeout = 120)
{
	static const char *const ids[3] = { "sp-1", "sp-2", "sp-3" };
	devsys_pipeline *own[3];
	struct run x[3];
	pthread_t t[3];
	char ha[64], hb[64], placed[3][64], ended[3][64];
	const char *host[3];
	json_t *j[3];
	int o[3] = { 0, 1, 2 };
	bool failed;
	host_of(ha, sizeof(ha), a);
	host_of(hb, sizeof(hb), b);
	for (int i = 0; i < 3; i++)
		coded(ids[i], "meet");
	pl2 = open_pipeline();
	pl3 = open_pipeline();
	own[0] = pl;
	own[1] = pl2;
	own[2] = pl3;
	/* three tasks at once on two hosts with per_host_max 1: two run together (their commands pass
	 * only then), the third waits for a free host */
	for (int i = 0; i < 3; i++) {
		x[i] = (struct run){ own[i], ids[i], 0, DEVSYS_STAGE_RESULT_INIT, "" };
		cr_assert_eq(pthread_create(&t[i], NULL, run_test_stage, &x[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(x[i].rc, 0, "%s: %s: %s", ids[i], x[i].r.outcome, x[i].err);
		j[i] = dt_pipe_task_json(dir, ids[i]);
		cr_assert_eq(json_array_size(json_object_get(j[i], "placements")), 1);
		host[i] = placement(j[i], 0, &failed);
		cr_assert(!failed);
		cr_assert(host[i] && (!strcmp(host[i], ha) || !strcmp(host[i], hb)), "%s", host[i] ? host[i] : "(none)");
		last_ts(placed[i], sizeof(placed[i]), ids[i], "runner.placed");
		last_ts(ended[i], sizeof(ended[i]), ids[i], "stage.end");
		cr_assert(placed[i][0] && ended[i][0]);
		cr_assert_eq(dt_pipe_events(dir, ids[i], "runner.host_failed", NULL), 0);
		cr_assert_eq(dt_pipe_events(dir, ids[i], "runner.retry", NULL), 0);
	}
	/* in the order they were placed: the first two on different hosts, the third after one ended */
	for (int i = 0; i < 3; i++)
		for (int k = i + 1; k < 3; k++)
			if (strcmp(placed[o[k]], placed[o[i]]) < 0) {
				int tmp = o[i];
				o[i] = o[k];
				o[k] = tmp;
			}
	cr_assert(strcmp(host[o[0]], host[o[1]]) != 0, "one task per host (per_host_max 1): %s and %s", host[o[0]],
	          host[o[1]]);
	cr_assert(strcmp(placed[o[2]], ended[o[0]]) >= 0 || strcmp(placed[o[2]], ended[o[1]]) >= 0,
	          "the third task (%s, placed %s) waited for a host: the others ended %s and %s", ids[o[2]], placed[o[2]],
	          ended[o[0]], ended[o[1]]);
	for (int i = 0; i < 3; i++)
		json_decref(j[i]);

	/* a test failure is the command's own: it never moves to another host */
	coded("red-1", "fail");
	x[0] = (struct run){ pl, "red-1", 0, DEVSYS_STAGE_RESULT_INIT, "" };
	run_test_stage(&x[0]);
	cr_assert_neq(x[0].rc, 0);
	cr_assert_str_eq(x[0].r.outcome, "tests-failed");
	j[0] = dt_pipe_task_json(dir, "red-1");
	cr_assert_eq(json_array_size(json_object_get(j[0], "placements")), 1, "placed once, not moved");
	json_decref(j[0]);
	cr_assert_eq(dt_pipe_events(dir, "red-1", "runner.host_failed", NULL), 0);
	cr_assert_eq(dt_pipe_events(dir, "red-1", "runner.retry", NULL), 0);
}

/*
 * b no longer authorizes the pool's key, and is listed first: opening the
 * runner there fails to authenticate. The configuration's path into @p path.
 */
static void refusing_config(char *path, size_t cap)
{
	char cfg[8192], ha[64], hb[64];
	cr_assert_eq(dt_sh("cp '%s' '%s'", b->user_pub, b->authorized_keys), 0);
	host_of(ha, sizeof(ha), a);
	host_of(hb, sizeof(hb), b);
	snprintf(cfg, sizeof(cfg),
	         "runners:\n  farm:\n    type: remote-ssh\n    hosts: [\"%s\", \"%s\"]\n"
	         "    user: %s\n    key: %s\n    known_hosts: %s/known_hosts\n    remote_dir: %s/remote\n"
	         "    connect_timeout: 5s\n    grace: 200ms\n",
	         hb, ha, a->user, a->user_key, dir, dir);
	snprintf(path, cap, "%s/refusing.yaml", dir);
	cr_assert(dt_write_file(path, cfg));
}

Test(pipeline_pool, a_host_that_refuses_the_key_is_cooled_and_the_step_moves, .init = setup, .fini = teardown,
     .timeout = 120)
{
	struct run x = { 0 };
	char path[4096], ha[64], hb[64];
	json_t *tj, *e;
	bool failed;
	refusing_config(path, sizeof(path));
	host_of(ha, sizeof(ha), a);
	host_of(hb, sizeof(hb), b);
	pl2 = open_pipeline_with(path);
	snprintf(path, sizeof(path), "%s/marks/go", dir);
	cr_assert(dt_write_file(path, ""));
	coded("op-1", "wait");
	x.p = pl2;
	x.id = "op-1";
	run_test_stage(&x);
	cr_assert_eq(x.rc, 0, "%s: %s", x.r.outcome, x.err);
	tj = dt_pipe_task_json(dir, "op-1");
	cr_assert_eq(json_array_size(json_object_get(tj, "placements")), 2);
	cr_assert_str_eq(placement(tj, 0, &failed), hb);
	cr_assert(failed, "the refusing member is listed with its failure");
	e = json_object_get(json_array_get(json_object_get(tj, "placements"), 0), "failed");
	cr_assert(strstr(json_string_value(e), "refused the key"), "the failure says why: %s", json_string_value(e));
	cr_assert_str_eq(placement(tj, 1, &failed), ha);
	cr_assert(!failed);
	cr_assert_str_eq(json_string_value(json_object_get(tj, "runner_host")), ha);
	json_decref(tj);
	cr_assert_eq(dt_pipe_events(dir, "op-1", "runner.placed", hb), 0, "never placed there");
	cr_assert_eq(dt_pipe_events(dir, "op-1", "runner.host_failed", hb), 1);
	cr_assert_eq(dt_pipe_events(dir, "op-1", "runner.retry", NULL), 1);
}

/* ---- a retry's gap: another process runs the task meanwhile ---- */

/* The other process, and what it answered when told to run the task's test stage. */
static struct rival {
	pid_t pid;
	int go, answer;       /* this process's ends: a byte on go tells it to run; it answers "rc message" */
	int asked;            /* the retry's PROGRESS event came, and the rival was told to run */
	uint64_t attempt, of; /* that event's current and total */
	int rc;               /* the rival's devsys_pipeline_run_stage(), or 1000 when it never answered */
	char err[1024];
} rv;

/* The rival's body: its own workspace, store and pipeline; it runs task @p id's test stage once told. */
static int rival_body(int go, int answer, const char *config, const char *id)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	devsys_workspace *w = NULL;
	devsys_pipeline *q = NULL;
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	char c, out[1100];
	int rc;
	po.config_path = config;
	if (devsys_workspace_open(&w, dir, NULL) < 0 || devsys_pipeline_new(&q, w, &po) < 0 ||
	    devsys_pipeline_load(q, id) < 0)
		rc = 2000;
	else if (read(go, &c, 1) != 1)
		return 0; /* never asked: the test ended first */
	else
		rc = devsys_pipeline_run_stage(&r, q, "test");
	snprintf(out, sizeof(out), "%d %s", rc, rc ? devsys_error_message(devsys_error_last()) : "");
	return write(answer, out, strlen(out)) == (ssize_t)strlen(out) ? 0 : 3;
}

/* Fork the rival before this process opens its store (no criterion call in the child). */
static void rival_start(const char *config, const char *id)
{
	int go[2], answer[2];
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(answer), 0);
	rv = (struct rival){ .rc = 1000 };
	if ((rv.pid = fork()) == 0) {
		close(go[1]);
		close(answer[0]);
		_exit(rival_body(go[0], answer[1], config, id));
	}
	cr_assert_neq(rv.pid, -1);
	close(go[0]);
	close(answer[1]);
	rv.go = go[1];
	rv.answer = answer[0];
}

/* Read the rival's answer until it closes its end, for up to @p ms. */
static void rival_answer(int ms)
{
	char buf[1100];
	size_t n = 0;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf = { rv.answer, POLLIN, 0 };
		ssize_t got;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = ms - ((now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L);
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			break;
		if ((got = read(rv.answer, buf + n, sizeof(buf) - 1 - n)) <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	if (n && sscanf(buf, "%d", &rv.rc) == 1 && strchr(buf, ' '))
		snprintf(rv.err, sizeof(rv.err), "%s", strchr(buf, ' ') + 1);
}

/* The rival is told to run when the retry is announced, and is waited for before the retry goes on. */
static int on_retry(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind != DEVSYS_PIPELINE_EVENT_PROGRESS || !ev->stage || strcmp(ev->stage, "test") != 0 || !ev->data ||
	    ev->len != 7 || memcmp(ev->data, "attempt", 7) != 0 || rv.asked)
		return 0;
	rv.asked = 1;
	rv.attempt = ev->current;
	rv.of = ev->total;
	if (write(rv.go, "g", 1) == 1)
		rival_answer(60000);
	return 0;
}

/* Reap the rival (told to stop by the closed go pipe), with a deadline. */
static void rival_end(void)
{
	struct timespec t = { 0, 20 * 1000000 };
	int status = 0, i;
	pid_t got = 0;
	close(rv.go);
	for (i = 0; i < 1500 && (got = waitpid(rv.pid, &status, WNOHANG)) == 0; i++)
		nanosleep(&t, NULL);
	if (got == 0) {
		kill(rv.pid, SIGKILL);
		waitpid(rv.pid, &status, 0);
	}
	close(rv.answer);
	cr_assert(got == rv.pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the rival process: status %#x",
	          status);
}

/*
 * A retry takes its stage back in the store before anything else can run
 * it: another process told to run the task's test stage in the gap between
 * the failed attempt (b refuses the key) and the retry on a is refused with
 * DEVSYS_EBUSY naming this process, and the command runs once, on a. With a
 * plain resume there, the rival runs the stage on a in that gap, and the
 * retry runs it a second time after it.
 */
Test(pipeline_pool, another_process_cannot_run_a_stage_between_its_failed_attempt_and_the_retry, .init = setup,
     .fini = teardown, .timeout = 120)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	struct run x = { 0 };
	char path[4096], go[4096], started[4096], ha[64], hb[64], pid[64];
	json_t *tj;
	bool failed;
	refusing_config(path, sizeof(path));
	host_of(ha, sizeof(ha), a);
	host_of(hb, sizeof(hb), b);
	snprintf(go, sizeof(go), "%s/marks/go", dir);
	cr_assert(dt_write_file(go, ""));
	coded("gap-1", "wait");
	snprintf(started, sizeof(started), "%s/marks/gap-1.started", dir);
	/* the rival opens its own store: this process has none open across the fork */
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	pl = NULL;
	ws = NULL;
	rival_start(path, "gap-1");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	po.config_path = path;
	po.progress = on_retry;
	cr_assert_eq(devsys_pipeline_new(&pl, ws, &po), 0, "%s", devsys_error_message(devsys_error_last()));
	x.p = pl;
	x.id = "gap-1";
	run_test_stage(&x);
	rival_end();

	cr_assert(rv.asked, "the retry was announced to the progress callback");
	cr_assert_eq(rv.attempt, 2);
	cr_assert_geq(rv.of, 2);
	cr_assert_eq(rv.rc, DEVSYS_EBUSY, "the rival ran the stage in the retry's gap (%d): %s", rv.rc, rv.err);
	snprintf(pid, sizeof(pid), "pid %ld holds its stage 'test'", (long)getpid());
	cr_assert(strstr(rv.err, pid), "the rival is told who holds the stage: %s", rv.err);
	cr_assert_eq(dt_lines_of(started), 1, "the test command ran once, on the retry");
	cr_assert_eq(x.rc, 0, "%s: %s", x.r.outcome, x.err);
	cr_assert_str_eq(x.r.outcome, "exit-code-only");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "gap-1"), DEVSYS_STATE_TESTED);
	tj = dt_pipe_task_json(dir, "gap-1");
	cr_assert_eq(json_array_size(json_object_get(tj, "placements")), 2, "b (failed), then a; none of the rival's");
	cr_assert_str_eq(placement(tj, 0, &failed), hb);
	cr_assert(failed);
	cr_assert_str_eq(placement(tj, 1, &failed), ha);
	cr_assert(!failed);
	json_decref(tj);
	cr_assert_eq(dt_pipe_events(dir, "gap-1", "runner.retry", NULL), 1);
	cr_assert_eq(dt_pipe_events(dir, "gap-1", "runner.placed", ha), 1);
}

static int cancel_at_retry(const devsys_pipeline_event *ev, void *payload)
{
	int *told = payload;
	if (ev->kind == DEVSYS_PIPELINE_EVENT_PROGRESS && ev->stage && strcmp(ev->stage, "test") == 0 && ev->data &&
	    ev->len == 7 && memcmp(ev->data, "attempt", 7) == 0) {
		(*told)++;
		return 1;
	}
	return 0;
}

/* A progress callback that cancels at the retry's event: the stage taken again ends canceled, never run on a. */
Test(pipeline_pool, a_cancel_at_the_retry_ends_the_stage_canceled, .init = setup, .fini = teardown, .timeout = 120)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	struct run x = { 0 };
	char path[4096], go[4096], started[4096];
	int told = 0;
	refusing_config(path, sizeof(path));
	snprintf(go, sizeof(go), "%s/marks/go", dir);
	cr_assert(dt_write_file(go, ""));
	coded("cx-1", "wait");
	po.config_path = path;
	po.progress = cancel_at_retry;
	po.progress_payload = &told;
	cr_assert_eq(devsys_pipeline_new(&pl2, ws, &po), 0, "%s", devsys_error_message(devsys_error_last()));
	x.p = pl2;
	x.id = "cx-1";
	run_test_stage(&x);
	cr_assert_eq(told, 1, "the retry was announced once");
	cr_assert_eq(x.rc, DEVSYS_ECANCELED, "%d: %s: %s", x.rc, x.r.outcome, x.err);
	cr_assert_str_eq(x.r.outcome, "canceled");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl2), "cx-1"), DEVSYS_STATE_CANCELED);
	snprintf(started, sizeof(started), "%s/marks/cx-1.started", dir);
	cr_assert_eq(dt_lines_of(started), 0, "the command never ran");
	cr_assert_eq(dt_pipe_events(dir, "cx-1", "runner.retry", NULL), 1);
}
