/*
 * Git workspace benchmark. Anchor: the git CLI doing the same work in the
 * same run. Prints figures and ratios (devsys / git; < 1.0 is faster).
 *
 *   bench_git SRC.git TASKS WORKDIR
 */
#include <devsys.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GITC "git -c user.name=Bench -c user.email=bench@test -c core.hooksPath=/dev/null"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench: command failed: %s\n", cmd);
		exit(3);
	}
}

static long du_kb(const char *path)
{
	char cmd[4200];
	long kb = -1;
	snprintf(cmd, sizeof(cmd), "du -sk '%s'", path);
	FILE *p = popen(cmd, "r");
	if (p && fscanf(p, "%ld", &kb) != 1)
		kb = -1;
	if (p)
		pclose(p);
	return kb;
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, devsys_error_message(devsys_error_last()));
	exit(3);
}

int main(int argc, char **argv)
{
	char path[4096], url[4200];
	int tasks;
	double t0, git_clone, git_wt = 0, ds_first, ds_rest = 0, git_cycle, ds_cycle;
	long git_disk, ds_disk, ds_mirror, ds_checkout;
	const int cycles = 20;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SRC.git TASKS WORKDIR\n", argv[0]);
		return 2;
	}
	tasks = atoi(argv[2]);
	if (tasks < 2)
		tasks = 2;
	const char *src = argv[1], *work = argv[3];
	sh("rm -rf '%s' && mkdir -p '%s/git/tasks'", work, work);
	snprintf(url, sizeof(url), "file://%s", src);

	/* Both sides start with their clone; then the task setups alternate
	 * (git, devsys, git, devsys, ...) so both see the same machine load. */
	t0 = now();
	sh("git clone -q --mirror '%s' '%s/git/mirror.git'", url, work);
	git_clone = now() - t0;
	if (devsys_init() < 0)
		die("init");
	devsys_workspace *ws = NULL;
	snprintf(path, sizeof(path), "%s/ds", work);
	if (devsys_workspace_open(&ws, path, NULL) < 0)
		die("workspace");
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	o.url = url;
	devsys_repo *keep = NULL;
	devsys_task *keep_task = NULL;
	for (int i = 0; i < tasks; i++) {
		char id[32];
		devsys_task *t = NULL;
		devsys_repo *r = NULL;
		t0 = now();
		sh("git -C '%s/git/mirror.git' worktree add -q -b task/%d '%s/git/tasks/%d/checkout' main", work, i, work, i);
		git_wt += now() - t0;
		snprintf(id, sizeof(id), "%d", i);
		t0 = now();
		if (devsys_task_open(&t, ws, id, DEVSYS_TASK_CREATE) < 0 || devsys_repo_open_task(&r, t, &o) < 0)
			die("open_task");
		double dt = now() - t0;
		if (i == 0)
			ds_first = dt;
		else
			ds_rest += dt;
		if (i == 0) {
			keep = r;
			keep_task = t;
		} else {
			devsys_repo_free(r);
			devsys_task_free(t);
		}
	}
	snprintf(path, sizeof(path), "%s/git", work);
	git_disk = du_kb(path);
	snprintf(path, sizeof(path), "%s/ds", work);
	ds_disk = du_kb(path);
	ds_mirror = du_kb(devsys_repo_mirror_path(keep));
	ds_checkout = du_kb(devsys_repo_checkout_path(keep));

	double git_per = git_wt / tasks, ds_per = ds_rest / (tasks - 1);
	printf("task setup (%d tasks on one repository)\n", tasks);
	printf("  git CLI : clone --mirror %.3f s, worktree add %.1f ms/task, total %.3f s, disk %ld KiB\n", git_clone,
	       git_per * 1e3, git_clone + git_wt, git_disk);
	printf("  devsys  : first task (clone) %.3f s, later tasks (fetch + worktree) %.1f ms/task, total %.3f s, disk %ld KiB\n",
	       ds_first, ds_per * 1e3, ds_first + ds_rest, ds_disk);
	printf("  ratio per task setup (devsys later task / git worktree add) = %.2f  [target <= 1.0]\n", ds_per / git_per);
	printf("  ratio first task (devsys clone+worktree / git clone --mirror + worktree add) = %.2f\n",
	       ds_first / (git_clone + git_per));
	printf("  ratio total time = %.2f, ratio disk = %.2f\n", (ds_first + ds_rest) / (git_clone + git_wt),
	       (double)ds_disk / (double)git_disk);
	printf("  disk: mirror %ld KiB + %d x checkout %ld KiB = %ld KiB bound; used %ld KiB -> %s  [target: one object store]\n",
	       ds_mirror, tasks, ds_checkout, ds_mirror + (long)tasks * ds_checkout, ds_disk,
	       ds_disk <= (long)(ds_mirror + (long)tasks * ds_checkout) * 102 / 100 ? "OK" : "OVER");

	/* ---- commit + push cycle ---- */
	sh("git clone -q --bare '%s' '%s/push-git.git' && git clone -q --bare '%s' '%s/push-ds.git'", src, work, src, work);
	sh("git -C '%s/git/tasks/0/checkout' remote add pushto '%s/push-git.git'", work, work);
	t0 = now();
	for (int c = 0; c < cycles; c++) {
		sh("echo 'change %d' >> '%s/git/tasks/0/checkout/CHANGES' && cd '%s/git/tasks/0/checkout' && git add -A && "
		   GITC " commit -q -m 'change %d' && git push -q pushto task/0",
		   c, work, work, c);
	}
	git_cycle = (now() - t0) / cycles;
	devsys_repo_free(keep);
	o.url = NULL;
	snprintf(url, sizeof(url), "file://%s/push-ds.git", work);
	o.url = url;
	{
		devsys_task *t = NULL;
		if (devsys_task_open(&t, ws, "push", DEVSYS_TASK_CREATE) < 0 || devsys_repo_open_task(&keep, t, &o) < 0)
			die("open push task");
		t0 = now();
		for (int c = 0; c < cycles; c++) {
			char f[4300], line[64];
			int committed = 0;
			snprintf(f, sizeof(f), "%s/CHANGES", devsys_repo_checkout_path(keep));
			FILE *fp = fopen(f, "a");
			snprintf(line, sizeof(line), "change %d\n", c);
			fputs(line, fp);
			fclose(fp);
			if (devsys_repo_commit(&committed, keep, line, NULL) < 0 || !committed)
				die("commit");
			if (devsys_repo_push(keep) < 0)
				die("push");
		}
		ds_cycle = (now() - t0) / cycles;
		devsys_repo_free(keep);
		devsys_task_free(t);
	}
	printf("commit + push cycle (%d cycles, one small change each, file:// remote)\n", cycles);
	printf("  git CLI : %.1f ms/cycle (git add -A; git commit; git push)\n", git_cycle * 1e3);
	printf("  devsys  : %.1f ms/cycle (devsys_repo_commit; devsys_repo_push)\n", ds_cycle * 1e3);
	printf("  ratio = %.2f  [target <= 1.0]\n", ds_cycle / git_cycle);

	devsys_task_free(keep_task);
	devsys_workspace_free(ws);
	devsys_shutdown();
	sh("rm -rf '%s'", work);
	return 0;
}
