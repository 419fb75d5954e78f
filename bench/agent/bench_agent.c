/*
 * bench/agent: the opencode adapter's cost per event, and the time from the
 * agent's exit to the commit. Run by bench/agent/run.sh.
 *
 *   bench_agent parse EVENTS.jsonl ROUNDS
 *     The adapter as the pipeline drives it (devsys__agent_output: stdout
 *     split into lines, each parsed, counted against the budgets, its tool
 *     and path and its step's tokens kept) over the file read in 64 KiB
 *     chunks, best of ROUNDS; in the same run `jq -c .` over the same file
 *     (spawned with the file as its stdin and /dev/null as its stdout, no
 *     shell), best of ROUNDS; and the floor: reading the file and finding
 *     its line ends. Wall and CPU time for each, and the ratios.
 *
 *   bench_agent commit WORKDIR TASKS
 *     WORKDIR holds remote.git (the sample repository), devsys.yaml (an
 *     opencode profile whose command is a stand-in that prints recorded
 *     events, edits greeting.py and writes its exit time to $HOME/exit-ns)
 *     and the workspace. Each task runs the coding stages; the time from the
 *     stand-in's exit stamp to the commit stage's end is printed per task.
 */
#include "core/core.h"
#include "agent/agent_int.h"

#include <devsys.h>

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double clock_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

/* ---- parse ---- */

static const char profile_yaml[] = "agents:\n  opencode:\n    kind: opencode\n    provider: fake\n"
                                   "    base_url: http://127.0.0.1:9/v1\n    models: fake-model\n"
                                   "    max_steps: 100000000\n    max_tokens: 4000000000\n";
static const char spec_yaml[] = "id: bench\ntitle: bench\nprompt: p\nrepo:\n  url: file:///nonexistent\n"
                                "agent:\n  kind: opencode\ntests:\n  command: [true]\n";

/* One pass of the adapter over @p fd; *events: the lines it took as events. */
static int adapter_pass(double *wall, double *cpu, uint64_t *steps, int fd, const devsys_agent_request *req)
{
	static char buf[1 << 16];
	devsys__agent *a = NULL;
	char *usage = NULL;
	ssize_t n;
	double w0, c0;
	if (devsys__agent_open(&a, "opencode", req) < 0)
		return -1;
	lseek(fd, 0, SEEK_SET);
	w0 = clock_of(CLOCK_MONOTONIC);
	c0 = clock_of(CLOCK_PROCESS_CPUTIME_ID);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (devsys__agent_output(DEVSYS_RUNNER_STDOUT, buf, (size_t)n, a) != 0)
			break;
	devsys__agent_finish(a);
	*wall = clock_of(CLOCK_MONOTONIC) - w0;
	*cpu = clock_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
	/* the usage says the events were really read: the caller checks the step count */
	if (devsys__agent_usage(&usage, a) < 0 || !usage || !strstr(usage, "\"steps\":")) {
		devsys__agent_close(a);
		return -1;
	}
	*steps = strtoull(strstr(usage, "\"steps\":") + 8, NULL, 10);
	devsys__free(usage);
	devsys__agent_close(a);
	return 0;
}

/* `jq -c .` with @p path as stdin, stdout /dev/null: its wall time and CPU time (user + system). */
static int jq_pass(double *wall, double *cpu, const char *path)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "jq", "-c", ".", NULL };
	struct rusage ru;
	double w0;
	pid_t pid;
	int st, rc;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, path, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	w0 = clock_of(CLOCK_MONOTONIC);
	rc = posix_spawnp(&pid, "jq", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0 || wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	*wall = clock_of(CLOCK_MONOTONIC) - w0;
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
	return 0;
}

/* The floor: read the file and find its line ends (what any line parser pays). */
static double floor_pass(int fd, uint64_t *lines)
{
	static char buf[1 << 16];
	double c0 = clock_of(CLOCK_PROCESS_CPUTIME_ID);
	ssize_t n;
	*lines = 0;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
			(*lines)++;
	return clock_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

static int cmd_parse(const char *path, int rounds)
{
	devsys_agent_request req = { DEVSYS_AGENT_REQUEST_VERSION, NULL, NULL, NULL, "/", NULL, NULL, NULL, 0 };
	devsys_config *cfg = NULL;
	devsys_spec *spec = NULL;
	char home[] = "/tmp/devsys-bench-agent-XXXXXX";
	double aw = 1e9, ac = 1e9, jw = 1e9, jc = 1e9, fl = 1e9;
	uint64_t steps = 0, lines = 0, want_steps = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !mkdtemp(home) || devsys_config_parse(&cfg, profile_yaml, strlen(profile_yaml), "bench.yaml") < 0 ||
	    devsys_spec_load_buffer(&spec, spec_yaml, strlen(spec_yaml), "bench.yaml", NULL) < 0) {
		fprintf(stderr, "setup: %s\n", fd < 0 ? path : errmsg());
		return 1;
	}
	req.spec = spec;
	req.config = cfg;
	req.home = home;
	{
		/* the steps the file holds, counted apart from the adapter */
		FILE *f = fopen(path, "r");
		char *l = NULL;
		size_t cap = 0;
		while (f && getline(&l, &cap, f) > 0)
			want_steps += strstr(l, "\"type\":\"step_start\"") != NULL;
		free(l);
		if (f)
			fclose(f);
	}
	for (int k = 0; k < rounds; k++) {
		double w, c, f;
		if (adapter_pass(&w, &c, &steps, fd, &req) < 0 || steps != want_steps) {
			fprintf(stderr, "adapter: %s (steps %llu, expected %llu)\n", errmsg(), (unsigned long long)steps,
			        (unsigned long long)want_steps);
			return 1;
		}
		aw = w < aw ? w : aw;
		ac = c < ac ? c : ac;
		if (jq_pass(&w, &c, path) < 0) {
			fprintf(stderr, "jq -c . failed on %s\n", path);
			return 1;
		}
		jw = w < jw ? w : jw;
		jc = c < jc ? c : jc;
		f = floor_pass(fd, &lines);
		fl = f < fl ? f : fl;
	}
	printf("events: %llu lines, %llu steps (the adapter's count matches the file's)\n", (unsigned long long)lines,
	       (unsigned long long)steps);
	printf("floor (read the file, find the line ends): %.1f ms CPU\n", fl * 1e3);
	printf("adapter: %.1f ms wall, %.1f ms CPU (%.2f us an event; %.1fx the floor)\n", aw * 1e3, ac * 1e3,
	       ac * 1e6 / (double)lines, ac / fl);
	printf("jq -c .: %.1f ms wall, %.1f ms CPU\n", jw * 1e3, jc * 1e3);
	printf("ratio adapter/jq: %.2fx CPU, %.2fx wall (target <= 1.0x)\n", ac / jc, aw / jw);
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", home);
	if (system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", home);
	devsys_spec_free(spec);
	devsys_config_free(cfg);
	close(fd);
	return 0;
}

/* ---- exit to commit ---- */

static double agent_end, commit_begin, commit_end, cpu_agent_end, cpu_commit_end;

/* When the agent stage ended and the commit stage began and ended (the breakdown). */
static int on_progress(const devsys_pipeline_event *ev, void *payload)
{
	bool end = ev->kind == DEVSYS_PIPELINE_EVENT_STAGE_END;
	(void)payload;
	if (!ev->stage || (ev->kind != DEVSYS_PIPELINE_EVENT_STAGE_BEGIN && !end))
		return 0;
	if (end && !strcmp(ev->stage, "agent")) {
		agent_end = clock_of(CLOCK_REALTIME);
		cpu_agent_end = clock_of(CLOCK_PROCESS_CPUTIME_ID);
	}
	else if (!end && !strcmp(ev->stage, "commit"))
		commit_begin = clock_of(CLOCK_REALTIME);
	else if (end && !strcmp(ev->stage, "commit")) {
		commit_end = clock_of(CLOCK_REALTIME);
		cpu_commit_end = clock_of(CLOCK_PROCESS_CPUTIME_ID);
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int one_task(double *ms, double parts[4], devsys_pipeline *pl, const char *work, int i)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char spec[2048], id[32], stamp[4096], *end = NULL;
	FILE *f;
	double exit_at;
	snprintf(id, sizeof(id), "bench-%d", i);
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Implement greeting\nprompt: Implement greeting() so the tests pass.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\nagent:\n  kind: opencode\n"
	         "tests:\n  command: [python3, -m, pytest]\n",
	         id, work);
	commit_end = 0;
	if (devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id) < 0 || devsys_pipeline_code(&r, pl) < 0 ||
	    strcmp(r.outcome, "pushed") != 0) {
		fprintf(stderr, "%s: %s: %s\n", id, r.outcome ? r.outcome : "?", errmsg());
		return -1;
	}
	snprintf(stamp, sizeof(stamp), "%s/ws/tasks/%s/home/exit-ns", work, id);
	if (!(f = fopen(stamp, "r")) || !fgets(spec, sizeof(spec), f)) {
		fprintf(stderr, "%s: the stand-in wrote no exit stamp (%s)\n", id, stamp);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	exit_at = strtod(spec, &end) / 1e9;
	*ms = (commit_end - exit_at) * 1e3;
	parts[0] = (agent_end - exit_at) * 1e3;
	parts[1] = (commit_begin - agent_end) * 1e3;
	parts[2] = (commit_end - commit_begin) * 1e3;
	parts[3] = (cpu_commit_end - cpu_agent_end) * 1e3;
	return commit_end > 0 ? 0 : -1;
}

/* The floor of a record write here and now: write 1 KiB to a file in @p dir and fsync it, median of 21. */
static double fsync_ms(const char *dir)
{
	char path[4096], data[1024] = { 0 };
	double t[21];
	int n = snprintf(path, sizeof(path), "%s/fsync-probe", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1; /* a cut path would probe another file */
	for (int i = 0; i < 21; i++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		double t0 = clock_of(CLOCK_MONOTONIC);
		if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data) || fsync(fd) != 0)
			t[i] = 0;
		else
			t[i] = (clock_of(CLOCK_MONOTONIC) - t0) * 1e3;
		if (fd >= 0)
			close(fd);
	}
	unlink(path);
	qsort(t, 21, sizeof(double), cmp_double);
	return t[10];
}

static int cmd_commit(const char *work, int tasks)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	devsys_pipeline *pl = NULL;
	char cfg[4096], wsdir[4096];
	double *ms = calloc((size_t)tasks, sizeof(double)), parts[4];
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", work);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", work);
	po.config_path = cfg;
	po.progress = on_progress;
	if (!ms || devsys_workspace_open(&ws, wsdir, NULL) < 0 || devsys_pipeline_new(&pl, ws, &po) < 0) {
		fprintf(stderr, "setup: %s\n", errmsg());
		return 1;
	}
	for (int i = 0; i < tasks; i++) {
		if (one_task(&ms[i], parts, pl, work, i + 1) < 0)
			return 1;
		printf("task %d: %.1f ms from the agent's exit to the commit (to the agent stage's end %.1f, "
		       "between the stages %.1f, the commit stage %.1f; this process's CPU from the agent stage's end "
		       "to the commit %.1f)\n",
		       i + 1, ms[i], parts[0], parts[1], parts[2], parts[3]);
	}
	qsort(ms, (size_t)tasks, sizeof(double), cmp_double);
	printf("exit to commit: median %.1f ms, max %.1f ms over %d tasks (target < 50 ms)\n", ms[tasks / 2],
	       ms[tasks - 1], tasks);
	/* the path is mostly the record's durable writes (task.json, events.jsonl, the store) */
	printf("floor: one 1 KiB write + fsync in the workspace takes %.2f ms here now (median of 21)\n",
	       fsync_ms(wsdir));
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	free(ms);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;
	if (argc != 4 || (strcmp(argv[1], "parse") && strcmp(argv[1], "commit"))) {
		fprintf(stderr, "usage: bench_agent parse EVENTS.jsonl ROUNDS | commit WORKDIR TASKS\n");
		return 2;
	}
	if (devsys_init() < 0)
		return 1;
	rc = !strcmp(argv[1], "parse") ? cmd_parse(argv[2], atoi(argv[3])) : cmd_commit(argv[2], atoi(argv[3]));
	devsys_shutdown();
	return rc;
}
