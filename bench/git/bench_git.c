/*
 * Git workspace benchmark. Anchor: the git CLI doing the same work in the
 * same run, each git spawned directly (posix_spawnp, no shell), as a script
 * would run it. Prints figures and ratios (devsys / git; < 1.0 is faster).
 *
 *   bench_git SRC.git TASKS WORKDIR
 *
 * Exit status 1 when the disk verdict fails (more than one object store).
 */
#include <devsys.h>

#include <errno.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Run argv (NULL-terminated) directly, no shell; exit on failure. */
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

/* ---- disk: bytes used, and how many object stores hold them ---- */
static struct {
	long long kib;
	int object_dirs, packs, alternates;
} walk;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	const char *base = path + f->base;
	walk.kib += (long long)st->st_blocks / 2;
	if (type == FTW_D && strcmp(base, "objects") == 0) {
		/* an object store is an objects/ directory beside a HEAD file (a git dir) */
		char head[4200];
		snprintf(head, sizeof(head), "%.*sHEAD", (int)f->base, path);
		if (access(head, F_OK) == 0)
			walk.object_dirs++;
	} else if (type == FTW_F && strlen(base) > 5 && strcmp(base + strlen(base) - 5, ".pack") == 0)
		walk.packs++;
	else if (type == FTW_F && strcmp(base, "alternates") == 0)
		walk.alternates++;
	return 0;
}

static void disk(const char *path)
{
	memset(&walk, 0, sizeof(walk));
	if (nftw(path, walk_one, 32, FTW_PHYS) != 0) {
		fprintf(stderr, "bench: cannot walk %s\n", path);
		exit(3);
	}
}

static void append_line(const char *dir, const char *line)
{
	char f[4300];
	snprintf(f, sizeof(f), "%s/CHANGES", dir);
	FILE *fp = fopen(f, "a");
	if (!fp || fputs(line, fp) < 0 || fclose(fp) != 0) {
		fprintf(stderr, "bench: cannot append to %s\n", f);
		exit(3);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, devsys_error_message(devsys_error_last()));
	exit(3);
}

int main(int argc, char **argv)
{
	char path[4096], url[4300], mirror[4200], co[4200], branch[64], gitdir[4200], dsdir[4200];
	int tasks, verdict_ok;
	double t0, git_clone, git_wt = 0, git_fetch = 0, ds_first = 0, ds_rest = 0, git_cycle, ds_cycle;
	long long git_disk, ds_disk;
	int ds_stores, ds_packs, ds_alt, git_stores;
	const int cycles = 20;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SRC.git TASKS WORKDIR\n", argv[0]);
		return 2;
	}
	tasks = atoi(argv[2]);
	if (tasks < 2)
		tasks = 2;
	const char *src = argv[1], *work = argv[3];
	snprintf(gitdir, sizeof(gitdir), "%s/git", work);
	snprintf(dsdir, sizeof(dsdir), "%s/ds", work);
	snprintf(path, sizeof(path), "%s/git/tasks", work);
	RUN("rm", "-rf", work);
	RUN("mkdir", "-p", path);
	snprintf(url, sizeof(url), "file://%s", src);
	snprintf(mirror, sizeof(mirror), "%s/git/mirror.git", work);

	/* Both sides start with their clone; then the task setups alternate
	 * (git, devsys, git, devsys, ...) so both see the same machine load.
	 * devsys fetches the mirror for every later task, so the anchor does too. */
	t0 = now();
	RUN("git", "clone", "-q", "--mirror", url, mirror);
	git_clone = now() - t0;
	if (devsys_init() < 0)
		die("init");
	devsys_workspace *ws = NULL;
	if (devsys_workspace_open(&ws, dsdir, NULL) < 0)
		die("workspace");
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	o.url = url;
	devsys_repo *keep = NULL;
	devsys_task *keep_task = NULL;
	for (int i = 0; i < tasks; i++) {
		char id[32];
		devsys_task *t = NULL;
		devsys_repo *r = NULL;
		snprintf(co, sizeof(co), "%s/git/tasks/%d/checkout", work, i);
		snprintf(branch, sizeof(branch), "task/%d", i);
		if (i > 0) {
			t0 = now();
			RUN("git", "-C", mirror, "fetch", "-q", "origin");
			git_fetch += now() - t0;
		}
		t0 = now();
		RUN("git", "-C", mirror, "worktree", "add", "-q", "-b", branch, co, "main");
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
	disk(gitdir);
	git_disk = walk.kib;
	git_stores = walk.object_dirs;
	disk(dsdir);
	ds_disk = walk.kib;
	ds_stores = walk.object_dirs;
	ds_packs = walk.packs;
	ds_alt = walk.alternates;

	double git_fetch_per = git_fetch / (tasks - 1);
	double ds_per = ds_rest / (tasks - 1);
	printf("task setup (%d tasks on one repository; git spawned directly, no shell)\n", tasks);
	printf("  git CLI : clone --mirror %.3f s once; per later task fetch %.1f ms + worktree add %.1f ms; total %.3f s, "
	       "disk %lld KiB\n",
	       git_clone, git_fetch_per * 1e3, git_wt / tasks * 1e3, git_clone + git_fetch + git_wt, git_disk);
	printf("  devsys  : first task (clone + worktree) %.3f s, later tasks (fetch + worktree) %.1f ms/task, total %.3f s, "
	       "disk %lld KiB\n",
	       ds_first, ds_per * 1e3, ds_first + ds_rest, ds_disk);
	printf("  ratio per later task (devsys fetch+worktree / git fetch + worktree add) = %.2f  [target <= 1.0]\n",
	       ds_per / (git_fetch_per + git_wt / tasks));
	printf("  ratio per later task against worktree add alone (no fetch) = %.2f\n", ds_per / (git_wt / tasks));
	printf("  ratio first task (devsys clone+worktree / git clone --mirror + worktree add) = %.2f\n",
	       ds_first / (git_clone + git_wt / tasks));
	printf("  ratio total time = %.2f, ratio disk = %.2f\n", (ds_first + ds_rest) / (git_clone + git_fetch + git_wt),
	       (double)ds_disk / (double)git_disk);
	verdict_ok = ds_stores == 1 && ds_alt == 0;
	printf("  object stores: devsys %d objects/ dir(s), %d pack file(s), %d alternates file(s); git CLI %d -> %s  "
	       "[target: one object store for all %d tasks]\n",
	       ds_stores, ds_packs, ds_alt, git_stores, verdict_ok ? "OK" : "FAIL", tasks);

	/* ---- commit + push cycle: the same file append in C on both sides ---- */
	char pushgit[4200], pushds[4200], co0[4200];
	snprintf(pushgit, sizeof(pushgit), "%s/push-git.git", work);
	snprintf(pushds, sizeof(pushds), "%s/push-ds.git", work);
	snprintf(co0, sizeof(co0), "%s/git/tasks/0/checkout", work);
	RUN("git", "clone", "-q", "--bare", src, pushgit);
	RUN("git", "clone", "-q", "--bare", src, pushds);
	RUN("git", "-C", co0, "remote", "add", "pushto", pushgit);
	t0 = now();
	for (int c = 0; c < cycles; c++) {
		char line[64];
		snprintf(line, sizeof(line), "change %d\n", c);
		append_line(co0, line);
		RUN("git", "-C", co0, "add", "-A");
		RUN("git", "-C", co0, "-c", "user.name=Bench", "-c", "user.email=bench@test", "-c", "core.hooksPath=/dev/null",
		    "commit", "-q", "-m", line);
		RUN("git", "-C", co0, "push", "-q", "pushto", "task/0");
	}
	git_cycle = (now() - t0) / cycles;
	devsys_repo_free(keep);
	snprintf(url, sizeof(url), "file://%s", pushds);
	o.url = url;
	{
		devsys_task *t = NULL;
		if (devsys_task_open(&t, ws, "push", DEVSYS_TASK_CREATE) < 0 || devsys_repo_open_task(&keep, t, &o) < 0)
			die("open push task");
		t0 = now();
		for (int c = 0; c < cycles; c++) {
			char line[64];
			int committed = 0;
			snprintf(line, sizeof(line), "change %d\n", c);
			append_line(devsys_repo_checkout_path(keep), line);
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
	printf("  git CLI : %.1f ms/cycle (git add -A; git commit; git push: 3 processes, no shell)\n", git_cycle * 1e3);
	printf("  devsys  : %.1f ms/cycle (devsys_repo_commit; devsys_repo_push)\n", ds_cycle * 1e3);
	printf("  ratio = %.2f  [target <= 1.0]\n", ds_cycle / git_cycle);
	/* control for the store count: the push task used a second remote URL, so a second mirror */
	disk(dsdir);
	printf("control: after a task on a second remote URL devsys has %d object stores (expected 2) -> %s\n",
	       walk.object_dirs, walk.object_dirs == 2 ? "OK" : "FAIL: the store count is wrong");
	if (walk.object_dirs != 2)
		verdict_ok = 0;

	devsys_task_free(keep_task);
	devsys_workspace_free(ws);
	devsys_shutdown();
	RUN("rm", "-rf", work);
	return verdict_ok ? 0 : 1;
}
