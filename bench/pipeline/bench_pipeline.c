/*
 * Pipeline benchmark. Anchor: a script's git work with the git CLI in the
 * same run (run.sh lists the commands), each git spawned directly, no shell.
 * Both sides run the same agent command, so the ratio is the pipeline's own
 * overhead per task against the script's. Prints figures and ratios
 * (devsys / script; <= 1.0 meets the target) and the peak resident set of
 * the process that ran the pipeline (target < 64 MiB).
 *
 *   bench_pipeline SRC.git TASKS WORKDIR
 *
 * Exit status 1 when a task does not reach a resting state.
 */
#include <devsys.h>

#include <errno.h>
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

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const char *const argv[])
{
	pid_t pid;
	int st, rc = posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
	if (rc != 0) {
		fprintf(stderr, "bench: cannot spawn %s: %s\n", argv[0], strerror(rc));
		exit(3);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench: command failed:");
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
		exit(3);
	}
}

#define RUN(...) run((const char *const[]){ __VA_ARGS__, NULL })

static int fail(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, devsys_error_message(devsys_error_last()));
	return 1;
}

/* The devsys side, in a child process so that its peak memory is its own. */
static int pipeline_side(const char *src, int tasks, const char *dir, const char *change, int out_fd)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	char spec[2048];
	double t0, total = 0;
	int rc = 0;

	if (devsys_init() < 0 || devsys_workspace_open(&ws, dir, NULL) < 0 || devsys_pipeline_new(&p, ws, &po) < 0)
		return fail("open");
	for (int i = 0; i < tasks && rc == 0; i++) {
		devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
		int n = snprintf(spec, sizeof(spec),
		                 "version: 1\nid: p%d\ntitle: bench task %d\nprompt: change one file\n"
		                 "repo: {url: 'file://%s', base_branch: main}\n"
		                 "agent: {command: [cp, '%s', CHANGE.txt]}\n",
		                 i, i, src, change);
		t0 = now();
		if (devsys_pipeline_validate(&res, p, spec, (size_t)n, "bench") < 0 || devsys_pipeline_run(&res, p) < 0)
			rc = fail(res.stage ? res.stage : "validate");
		total += now() - t0;
	}
	if (write(out_fd, &total, sizeof(total)) != (ssize_t)sizeof(total))
		rc = 1;
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	devsys_shutdown();
	return rc;
}

/* The anchor: the same git work with the git CLI. */
static double script_side(const char *src, int tasks, const char *dir, const char *change)
{
	char url[4200], mirror[4300], wt[4300], branch[64], dst[4400];
	double t0 = now();
	snprintf(url, sizeof(url), "file://%s", src);
	snprintf(mirror, sizeof(mirror), "%s/mirror.git", dir);
	for (int i = 0; i < tasks; i++) {
		snprintf(wt, sizeof(wt), "%s/wt%d", dir, i);
		snprintf(branch, sizeof(branch), "task/g%d", i);
		snprintf(dst, sizeof(dst), "%s/CHANGE.txt", wt);
		/* the mirror's layout is devsys's: remote branches under refs/remotes/origin */
		if (i == 0)
			RUN("git", "init", "-q", "--bare", mirror);
		RUN("git", "-C", mirror, "fetch", "-q", url, "+refs/heads/*:refs/remotes/origin/*");
		RUN("git", "-C", mirror, "worktree", "add", "-q", "-b", branch, wt, "refs/remotes/origin/main");
		RUN("cp", change, dst);
		RUN("git", "-C", wt, "add", "-A");
		RUN("git", "-C", wt, "-c", "user.name=bench", "-c", "user.email=bench@test", "commit", "-q", "-m",
		    "bench task");
		RUN("git", "-C", wt, "push", "-q", url, branch); /* the URL: a mirror's origin pushes --mirror */
	}
	return now() - t0;
}

/* The agent command alone, as often as the tasks run it. */
static double agent_floor(int tasks, const char *dir, const char *change)
{
	char dst[4300];
	double t0 = now();
	snprintf(dst, sizeof(dst), "%s/agent-floor.txt", dir);
	for (int i = 0; i < tasks; i++)
		RUN("cp", change, dst);
	return now() - t0;
}

int main(int argc, char **argv)
{
	char dsdir[4200], gitdir[4200], change[4200];
	struct rusage ru;
	double ds = 0, git, agent;
	int fds[2], st, tasks;
	pid_t pid;
	FILE *f;

	if (argc != 4 || (tasks = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: bench_pipeline SRC.git TASKS WORKDIR\n");
		return 2;
	}
	snprintf(dsdir, sizeof(dsdir), "%s/devsys", argv[3]);
	snprintf(gitdir, sizeof(gitdir), "%s/git", argv[3]);
	snprintf(change, sizeof(change), "%s/change.txt", argv[3]);
	if (mkdir(argv[3], 0700) < 0 || mkdir(gitdir, 0700) < 0 || !(f = fopen(change, "w")))
		return fprintf(stderr, "bench: cannot make %s\n", argv[3]), 3;
	fputs("a change\n", f);
	fclose(f);
	/* git needs an identity for the script's commits only */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);

	if (pipe(fds) < 0 || (pid = fork()) < 0)
		return 3;
	if (pid == 0) {
		close(fds[0]);
		_exit(pipeline_side(argv[1], tasks, dsdir, change, fds[1]));
	}
	close(fds[1]);
	if (read(fds[0], &ds, sizeof(ds)) != (ssize_t)sizeof(ds))
		ds = -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	getrusage(RUSAGE_CHILDREN, &ru);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || ds < 0) {
		fprintf(stderr, "bench: the pipeline side failed\n");
		return 1;
	}
	git = script_side(argv[1], tasks, gitdir, change);
	agent = agent_floor(tasks, argv[3], change);

	printf("pipeline, %d tasks (validate .. gate; local forge; no tests; deploy skipped):\n", tasks);
	printf("  devsys  : %.1f ms/task\n", ds / tasks * 1e3);
	printf("  script  : %.1f ms/task (git fetch into a bare mirror, worktree add, add, commit, push)\n", git / tasks * 1e3);
	printf("  agent   : %.1f ms/task (the same cp on both sides, included in both)\n", agent / tasks * 1e3);
	printf("  ratio   : %.2fx (devsys / script; target <= 1.0)\n", ds / git);
	printf("  overhead: %.2fx (both without the agent command)\n", (ds - agent) / (git - agent));
	printf("  peak RSS: %.1f MiB (the pipeline's process; target < 64 MiB)\n", (double)ru.ru_maxrss / 1024.0);
	return 0;
}
