/*
 * Two `devsys run --resume <id>` of one failed task started together: the
 * real CLI in two processes released at once from a barrier (each writes a
 * byte to a ready pipe, then waits for a byte on a go pipe the test writes
 * only when both are ready). Exactly one resumes and runs the stage; the
 * other fails at once with a message naming the process that holds it.
 *
 * The resumed agent waits for a release file before it fails again, so the
 * winner holds its stage until the loser has ended: whichever moment the
 * loser reaches the store, the task is taken. The agent failing again
 * leaves the task failed for the next round.
 *
 * The window itself, where a check and a take in two transactions would let
 * a second resumer through, is too narrow to hit from outside, so the last
 * test opens it: the store calls back between its check and its take, and a
 * `devsys run --resume` started right then must wait for that transaction
 * and find the task taken.
 */
#include "pipeline_fixture.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20
#define TASK "race-1"

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static pid_t contender = -1; /* a child a failed assertion may leave: killed by the teardown */

static void setup(void)
{
	if (!getenv("DEVSYS_CLI"))
		dt_skip("DEVSYS_CLI (the devsys binary) is not set");
	dir = dt_pipe_repo("piperace", NULL);
	ws = dt_pipe_workspace(dir);
	pl = dt_pipe_open(ws, NULL);
}

static void teardown(void)
{
	if (contender > 0 && waitpid(contender, NULL, WNOHANG) == 0) {
		kill(contender, SIGKILL);
		waitpid(contender, NULL, 0);
	}
	contender = -1;
	dt_pipe_teardown(&pl, &ws, &dir);
}

TestSuite(pipeline_resume_race, .init = setup, .fini = teardown, .timeout = 240);

static char *path_of(const char *name)
{
	char *p = NULL;
	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static int count_in(const char *rel, const char *needle)
{
	char *p = path_of(rel), *s = dt_read_file(p, NULL), *at;
	int n = 0;
	free(p);
	for (at = s; at && (at = strstr(at, needle)); at++)
		n++;
	free(s);
	return n;
}

/* A task whose agent counts its runs, waits (bounded) for <dir>/release, and fails. */
static void failed_task(void)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char spec[4096], script[4096], *sp = path_of("agent.sh");
	snprintf(script, sizeof(script),
	         "echo run >> '%s/agent.runs'\n"
	         "i=0; while [ ! -f '%s/release' ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done\n"
	         "echo 'not fixed yet' >&2; exit 1\n",
	         dir, dir);
	cr_assert(dt_write_file(sp, script));
	snprintf(spec, sizeof(spec),
	         "id: " TASK "\ntitle: Resume race\nprompt: Append a line to README.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\nrunner: inproc\n",
	         dir, sp);
	free(sp);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), TASK), 0, "%s", dt_errmsg());
	char *rel = path_of("release");
	cr_assert(dt_write_file(rel, "now\n"));
	cr_assert_lt(devsys_pipeline_run(&r, pl), 0);
	cr_assert_str_eq(r.stage, "agent");
	unlink(rel);
	free(rel);
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), TASK), DEVSYS_STATE_FAILED);
}

struct child {
	pid_t pid;
	int status;
	char err[64];
};

/* Fork `devsys --workspace DIR run --resume TASK`, held at the barrier; stderr to <dir>/<err>. */
static void start(struct child *c, int ready_w, int go_r, const char *err)
{
	char *cli = getenv("DEVSYS_CLI"), *errp = path_of(err), byte = 'r';
	snprintf(c->err, sizeof(c->err), "%s", err);
	c->status = -1;
	/* no criterion call in the child: it would talk to the test runner as if it were the test */
	if ((c->pid = fork()) == 0) {
		int fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600), nul = open("/dev/null", O_WRONLY);
		if (fd < 0 || nul < 0 || dup2(fd, 2) < 0 || dup2(nul, 1) < 0)
			_exit(120);
		if (write(ready_w, &byte, 1) != 1 || read(go_r, &byte, 1) != 1)
			_exit(121);
		execl(cli, "devsys", "--workspace", dir, "--no-color", "run", "--resume", TASK, (char *)NULL);
		_exit(122);
	}
	free(errp);
	cr_assert_neq(c->pid, -1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)(ts.tv_nsec / 1000000);
}

/* Wait for either child to end (polled, with a deadline); the index of the first, or -1. */
static int first_to_end(struct child c[2], uint64_t deadline)
{
	while (now_ms() < deadline) {
		for (int i = 0; i < 2; i++) {
			int st;
			pid_t w = waitpid(c[i].pid, &st, WNOHANG);
			if (w == c[i].pid) {
				c[i].status = st;
				return i;
			}
		}
		struct timespec ts = { 0, 5 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void kill_both(struct child c[2])
{
	for (int i = 0; i < 2; i++)
		if (c[i].status == -1) {
			kill(c[i].pid, SIGKILL);
			waitpid(c[i].pid, &c[i].status, 0);
		}
}

/* One round: both released together; the first to end is the loser, and it must say who holds the task. */
static void race_round(int round)
{
	struct child c[2];
	int ready[2], go[2], loser, winner;
	char byte, *rel = path_of("release"), *err = NULL, pidtext[32];
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	start(&c[0], ready[1], go[0], "err.0");
	start(&c[1], ready[1], go[0], "err.1");
	close(ready[1]);
	close(go[0]);
	cr_assert_eq(read(ready[0], &byte, 1), 1, "round %d: the first child reached the barrier", round);
	cr_assert_eq(read(ready[0], &byte, 1), 1, "round %d: the second child reached the barrier", round);
	cr_assert_eq(write(go[1], "gg", 2), 2);
	close(go[1]);
	close(ready[0]);

	loser = first_to_end(c, now_ms() + 60000);
	if (loser < 0) { /* both are in the agent: the race was lost by the store */
		dt_write_file(rel, "now\n");
		kill_both(c);
		cr_assert_fail("round %d: neither run ended: both resumed the task", round);
	}
	winner = 1 - loser;
	char *errp = path_of(c[loser].err);
	err = dt_read_file(errp, NULL);
	free(errp);
	snprintf(pidtext, sizeof(pidtext), "pid %d ", (int)c[winner].pid);
	cr_assert(dt_write_file(rel, "now\n"));
	cr_assert_eq(waitpid(c[winner].pid, &c[winner].status, 0), c[winner].pid);
	unlink(rel);
	free(rel);

	cr_assert(WIFEXITED(c[loser].status) && WEXITSTATUS(c[loser].status) == 3,
	          "round %d: the loser exits 3 (status %#x): %s", round, c[loser].status, err ? err : "");
	cr_assert(err && strstr(err, "cannot run the task") && strstr(err, "is run by another process") &&
	              strstr(err, pidtext) && strstr(err, "stage 'agent'") && strstr(err, "devsys cancel " TASK),
	          "round %d: the loser names the winner (%s) and its stage: %s", round, pidtext, err ? err : "");
	cr_assert(WIFEXITED(c[winner].status) && WEXITSTATUS(c[winner].status) == 1,
	          "round %d: the winner ran the agent, which failed again (status %#x)", round, c[winner].status);
	free(err);
}

Test(pipeline_resume_race, two_resumes_at_once_only_one_takes_the_task_and_the_other_names_it)
{
	failed_task();
	cr_assert_eq(count_in("agent.runs", "run"), 1);
	for (int round = 1; round <= ROUNDS; round++) {
		race_round(round);
		cr_assert_eq(count_in("agent.runs", "run"), round + 1, "round %d: the agent ran exactly once", round);
		cr_assert_eq(count_in("tasks/" TASK "/events.jsonl", "\"reason\":\"resumed\""), round,
		             "round %d: exactly one resume", round);
		cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), TASK), DEVSYS_STATE_FAILED);
	}
	cr_assert_eq(count_in("tasks/" TASK "/events.jsonl", "{\"stage\":\"agent\",\"result\":\"failed\""), ROUNDS + 1,
	             "one agent end per round and the first run, none from a loser");
}

Test(pipeline_resume_race, a_resume_alone_runs_the_stage)
{
	/* control: with no other process the same resume takes the task and runs the agent */
	failed_task();
	char *rel = path_of("release");
	cr_assert(dt_write_file(rel, "now\n"));
	free(rel);
	int st;
	char *out = dt_sh_output(&st, "'%s' --workspace '%s' run --resume " TASK " 2>&1", getenv("DEVSYS_CLI"), dir);
	cr_assert_eq(st, 1, "the agent failed again: %s", out);
	cr_assert_null(strstr(out, "another process"), "%s", out);
	free(out);
	cr_assert_eq(count_in("agent.runs", "run"), 2);
	cr_assert_eq(count_in("tasks/" TASK "/events.jsonl", "\"reason\":\"resumed\""), 1);
}

/* ---- the check and the take are one transaction ---- */

struct contender {
	pid_t pid;
	int out; /* the write end of a pipe: the contender's stderr */
	uint64_t deadline;
};

/* Is process @p pid's main thread asleep in nanosleep (SQLite's busy handler)? */
static bool sleeping(pid_t pid)
{
	char p[64], w[128] = "";
	FILE *f;
	snprintf(p, sizeof(p), "/proc/%d/wchan", (int)pid);
	if ((f = fopen(p, "r"))) {
		if (!fgets(w, sizeof(w), f))
			w[0] = '\0';
		fclose(f);
	}
	return strstr(w, "nanosleep") != NULL;
}

/* Does process @p pid have a file open whose path ends in @p tail? */
static bool has_open(pid_t pid, const char *tail)
{
	char fd[64], link[4096];
	size_t tl = strlen(tail);
	for (int i = 0; i < 256; i++) {
		ssize_t n;
		snprintf(fd, sizeof(fd), "/proc/%d/fd/%d", (int)pid, i);
		if ((n = readlink(fd, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		if ((size_t)n >= tl && strcmp(link + n - tl, tail) == 0)
			return true;
	}
	return false;
}

/*
 * Called by the store between its check and its take: `devsys run --resume`
 * of the same task starts right then (a fresh process: SQLite's state must
 * not cross a fork). It must wait for this transaction and then find the
 * task taken (EBUSY, naming this process), never pass.
 */
static int contend(const char **stage, int state, void *payload)
{
	struct contender *c = payload;
	(void)state;
	*stage = "agent";
	if ((c->pid = fork()) == 0) { /* no criterion call in the child */
		int nul = open("/dev/null", O_WRONLY);
		if (nul < 0 || dup2(c->out, 2) < 0 || dup2(nul, 1) < 0)
			_exit(120);
		execl(getenv("DEVSYS_CLI"), "devsys", "--workspace", dir, "--no-color", "run", "--resume", TASK,
		      (char *)NULL);
		_exit(122);
	}
	/* hold the check until the contender waits for this transaction (it has the store open and
	 * sleeps in SQLite's busy handler): a check and a take that were two transactions would let it
	 * through here, and it would take the stage first */
	while (c->pid > 0 && !(has_open(c->pid, "/devsys.db") && sleeping(c->pid)) && now_ms() < c->deadline) {
		struct timespec ts = { 0, 2 * 1000000L };
		nanosleep(&ts, NULL);
	}
	contender = c->pid;
	return c->pid < 0 ? DEVSYS_EIO : 0;
}

Test(pipeline_resume_race, a_resume_that_comes_between_the_check_and_the_take_finds_the_task_taken)
{
	struct contender c = { -1, -1, 0 };
	int fds[2], st = -1;
	char msg[2048], pidtext[32];
	ssize_t n;
	failed_task();
	cr_assert_eq(pipe(fds), 0);
	c.out = fds[1];
	c.deadline = now_ms() + 10000;
	cr_assert_eq(devsys__store_resume_take(devsys_pipeline_store(pl), TASK, contend, &c, NULL), 0, "%s", dt_errmsg());
	close(fds[1]);
	cr_assert_gt(c.pid, 0);
	cr_assert_lt(now_ms(), c.deadline, "the contender was never seen waiting for this transaction");
	cr_assert_eq(waitpid(c.pid, &st, 0), c.pid);
	contender = -1;
	n = read(fds[0], msg, sizeof(msg) - 1);
	close(fds[0]);
	msg[n > 0 ? n : 0] = '\0';
	snprintf(pidtext, sizeof(pidtext), "pid %d ", (int)getpid());
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "the contender did not fail as busy (exit %d): %s",
	          WIFEXITED(st) ? WEXITSTATUS(st) : -1, msg);
	cr_assert(strstr(msg, pidtext) && strstr(msg, "stage 'agent'"), "it names this process: %s", msg);
	cr_assert_eq(count_in("tasks/" TASK "/events.jsonl", "\"reason\":\"resumed\""), 1, "one resume");
	/* the stage is this process's: it ends it */
	cr_assert_eq(devsys_store_stage_end(devsys_pipeline_store(pl), TASK, "agent", "failed", -1), 0, "%s", dt_errmsg());
}
