/*
 * `devsys speckit run`: a spec-kit feature in a clone of a local bare
 * repository, run wave by wave through the real pipeline (checkout, agent,
 * commit, push, pr on the local forge, test, deploy, verify, gate): the
 * first wave's two [P] tasks each in their own worktree and branch, their
 * lines ticked in tasks.md once green; a failing task stops the feature
 * before its line is ticked, with a summary naming it; a second run
 * resumes it without running the green tasks again. With --jobs 2 the
 * first wave's two tasks run at the same time (each agent waits for the
 * other to start), through `devsys run --jobs`'s scheduler; SIGINT while
 * they run cancels both and exits 130.
 */
#include "testutil.h"

#include <devsys.h>
#include <devsys/sys/errors.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static char *dir;

static const char tasks_md[] = "# Tasks: Mini\n\n## Phase 1: Setup\n\n"
                               "- [ ] T001 [P] Write the first note in notes/t001.txt\n"
                               "- [ ] T002 [P] Write the second note in notes/t002.txt\n\n"
                               "## Phase 2: Polish\n\n"
                               "- [ ] T003 Write the last note in notes/t003.txt (depends on T001, T002)\n";

static void setup(void)
{
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	dir = dt_tmpdir("speckit-run");
	char path[4096];
	/* spec.md, plan.md and research.md of the valid fixture: the verify stage validates the linked feature */
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git work 2>/dev/null && "
	                   "cd work && git config user.email t@e && git config user.name t && mkdir -p specs/001-mini && "
	                   "cp " DEVSYS_SOURCE_DIR "/tests/fixtures/speckit/valid/001-photo-albums/*.md specs/001-mini/",
	                   dir),
	             0);
	snprintf(path, sizeof(path), "%s/work/specs/001-mini/tasks.md", dir);
	cr_assert(dt_write_file(path, tasks_md));
	cr_assert_eq(dt_sh("cd '%s/work' && echo hello > README.md && git add . && git commit -qm init && "
	                   "git push -q origin main",
	                   dir),
	             0);
	/* the agent writes its task's note where it runs (its checkout) and says where that was;
	 * T003's agent fails while the file "fail" exists */
	snprintf(path, sizeof(path), "%s/agent.sh", dir);
	char script[2048];
	snprintf(script, sizeof(script),
	         "set -e\nn=${DEVSYS_TASK_ID##*-}\n"
	         "if [ \"$n\" = t003 ] && [ -e '%s/fail' ]; then echo 't003 refused' >&2; exit 3; fi\n"
	         "mkdir -p notes && echo \"$DEVSYS_TASK_ID\" > \"notes/$n.txt\"\n"
	         "echo \"$n $(pwd)\" >> '%s/worktrees.log'\n",
	         dir, dir);
	cr_assert(dt_write_file(path, script));
	snprintf(path, sizeof(path), "%s/tests.sh", dir);
	cr_assert(dt_write_file(path, "mkdir -p reports && printf '<testsuite name=\"s\" tests=\"1\" failures=\"0\">"
	                              "<testcase classname=\"c\" name=\"ok\"/></testsuite>\\n' > reports/junit.xml\n"));
	snprintf(path, sizeof(path), "%s/with.yaml", dir);
	snprintf(script, sizeof(script),
	         "agent:\n  command: [/bin/sh, %s/agent.sh]\ntests:\n  command: [/bin/sh, %s/tests.sh]\n"
	         "  junit: [reports/junit.xml]\n",
	         dir, dir);
	cr_assert(dt_write_file(path, script));
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
}

TestSuite(speckit_run, .init = setup, .fini = teardown, .timeout = 180);

static int run(char **out)
{
	const char *cli = getenv("DEVSYS_CLI");
	cr_assert_not_null(cli, "DEVSYS_CLI is set by ctest");
	int status = -1;
	*out = dt_sh_output(&status,
	                    "cd '%s' && '%s' --workspace '%s/ws' speckit run work/specs/001-mini --repo 'file://%s/remote.git' "
	                    "--with with.yaml 2>&1",
	                    dir, cli, dir, dir);
	cr_assert_not_null(*out);
	return status;
}

static char *file(const char *rel)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return dt_read_file(path, NULL);
}

Test(speckit_run, waves_run_through_the_pipeline_stop_at_a_failure_and_resume)
{
	cr_assert_eq(dt_sh("touch '%s/fail'", dir), 0);
	char *out;
	cr_assert_eq(run(&out), 1, "a failed agent is a build failure: %s", out);
	cr_assert_not_null(strstr(out, "001-mini-t001: gate     ok     awaiting-review"), "%s", out);
	cr_assert_not_null(strstr(out, "001-mini-t002: gate     ok     awaiting-review"), "%s", out);
	cr_assert_not_null(strstr(out, "wave 2: T003 (devsys task 001-mini-t003) ended failed at stage agent (agent-failed): "),
	                   "%s", out);
	cr_assert_not_null(strstr(out, "1 of 2 wave(s) green; stopped"), "%s", out);
	free(out);

	/* the first wave: two worktrees, two branches on the remote, each with its own note only */
	char *log = file("worktrees.log");
	char want[8192];
	snprintf(want, sizeof(want), "t001 %s/ws/tasks/001-mini-t001/checkout\nt002 %s/ws/tasks/001-mini-t002/checkout\n",
	         dir, dir);
	cr_assert_str_eq(log, want, "one worktree per task, in wave order");
	free(log);
	cr_assert_eq(dt_sh("cd '%s' && git --git-dir=remote.git show task/001-mini-t001:notes/t001.txt | grep -qx 001-mini-t001 &&"
	                   " git --git-dir=remote.git show task/001-mini-t002:notes/t002.txt | grep -qx 001-mini-t002 &&"
	                   " ! git --git-dir=remote.git cat-file -e task/001-mini-t001:notes/t002.txt 2>/dev/null &&"
	                   " ! git --git-dir=remote.git cat-file -e main:notes 2>/dev/null &&"
	                   " ! git --git-dir=remote.git rev-parse -q --verify task/001-mini-t003 >/dev/null",
	                   dir),
	             0, "the branches on the remote are not one per green task");

	/* their states synced back: only T001 and T002 ticked, every other byte kept */
	char *now = file("work/specs/001-mini/tasks.md");
	char *expect = strdup(tasks_md);
	*strstr(expect, "[ ] T001") = '\0';
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s[X] T001 [P] Write the first note in notes/t001.txt\n"
	                           "- [X] T002 [P] Write the second note in notes/t002.txt\n\n"
	                           "## Phase 2: Polish\n\n"
	                           "- [ ] T003 Write the last note in notes/t003.txt (depends on T001, T002)\n",
	         expect);
	cr_assert_str_eq(now, buf);
	free(now);

	/* resume: T001 and T002 are green and not run again; T003 runs and is ticked */
	cr_assert_eq(dt_sh("rm '%s/fail'", dir), 0);
	cr_assert_eq(run(&out), 0, "%s", out);
	cr_assert_null(strstr(out, "001-mini-t001:"), "a green task ran again: %s", out);
	cr_assert_not_null(strstr(out, "001-mini-t003: agent    ok     agent-done"), "resumed from the agent: %s", out);
	cr_assert_not_null(strstr(out, "2 of 2 wave(s) green\n"), "%s", out);
	free(out);
	now = file("work/specs/001-mini/tasks.md");
	cr_assert_not_null(strstr(now, "- [X] T003 Write the last note"), "%s", now);
	cr_assert_null(strstr(now, "[ ]"), "%s", now);
	free(now);
	log = file("worktrees.log");
	cr_assert_not_null(strstr(log, "t003 "), "%s", log);
	cr_assert_null(strstr(strstr(log, "t003 ") + 1, "t001"), "T001's agent ran once: %s", log);
	free(log);
	free(expect);
}

Test(speckit_run, needs_a_repository_url_and_a_readable_with_file)
{
	const char *cli = getenv("DEVSYS_CLI");
	cr_assert_not_null(cli);
	cr_assert_eq(dt_sh("cd '%s' && '%s' --workspace ws speckit run work/specs/001-mini >/dev/null 2>&1", dir, cli), 2);
	int status = -1;
	char *out = dt_sh_output(&status,
	                         "cd '%s' && '%s' --workspace ws speckit run work/specs/001-mini --repo file://%s/remote.git "
	                         "--with no-such.yaml 2>&1",
	                         dir, cli, dir);
	cr_assert_eq(status, 2, "%s", out);
	cr_assert_not_null(strstr(out, "no-such.yaml"), "%s", out);
	free(out);
	char path[4096];
	snprintf(path, sizeof(path), "%s/ws", dir);
	cr_assert(!dt_exists(path) || dt_sh("ls '%s/tasks' 2>/dev/null | grep -q .", path) != 0, "nothing was registered");
}

/* A devsys_speckit_wave_fn: notes the ids of each call, runs each on a pipeline of its own. */
struct waves {
	devsys_workspace *ws;
	char calls[1024];
};

static int run_wave_here(const char *const *ids, size_t n, void *payload)
{
	struct waves *w = payload;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(w->calls);
		snprintf(w->calls + len, sizeof(w->calls) - len, "%s%s", ids[i], i + 1 < n ? " " : "\n");
		devsys_pipeline *p = NULL;
		devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
		int rc = devsys_pipeline_new(&p, w->ws, NULL);
		if (rc == 0 && (rc = devsys_pipeline_load(p, ids[i])) == 0)
			rc = devsys_pipeline_run(&r, p);
		devsys_pipeline_free(p);
		if (rc)
			return rc;
	}
	return 0;
}

static int refuse_wave(const char *const *ids, size_t n, void *payload)
{
	(void)ids, (void)n, (void)payload;
	return devsys_error_set(DEVSYS_ECANCELED, "no slots");
}

Test(speckit_run, through_the_library)
{
	cr_assert_gt(devsys_init(), 0);
	char path[4096], with[4096], url[4200];
	snprintf(path, sizeof(path), "%s/work/specs/001-mini", dir);
	snprintf(url, sizeof(url), "file://%s/remote.git", dir);
	char *extra = file("with.yaml");
	devsys_speckit_feature *f = NULL;
	devsys_speckit_plan *plan = NULL;
	cr_assert_eq(devsys_speckit_feature_load(&f, path, NULL), 0);
	cr_assert_eq(devsys_speckit_plan_new(&plan, f), 0);
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	snprintf(with, sizeof(with), "%s/ws", dir);
	cr_assert_eq(devsys_workspace_open(&ws, with, NULL), 0);
	cr_assert_eq(devsys_pipeline_new(&p, ws, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	size_t done = 99;
	/* a scheduler that gives up stops the feature before anything ran; its tasks stay registered */
	cr_assert_eq(devsys_speckit_run_waves(&done, p, ws, plan, url, "specs/001-mini", extra, NULL, refuse_wave, NULL),
	             DEVSYS_ECANCELED);
	cr_assert_eq(done, 0);
	cr_assert_not_null(strstr(devsys_error_message(devsys_error_last()), "wave 1: the scheduler stopped: no slots"),
	                   "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(devsys_task_state_name(devsys_store_task_state(devsys_pipeline_store(p), "001-mini-t001")),
	                 "validated");
	/* each wave's tasks handed over in one call, in plan order; this scheduler runs them one by one */
	struct waves seen = { ws, "" };
	cr_assert_eq(devsys_speckit_run_waves(&done, p, ws, plan, url, "specs/001-mini", extra, NULL, run_wave_here, &seen),
	             0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(done, 2);
	cr_assert_str_eq(seen.calls, "001-mini-t001 001-mini-t002\n001-mini-t003\n");
	/* no tasks.md given: nothing ticked; every task green in the store */
	char *now = file("work/specs/001-mini/tasks.md");
	cr_assert_str_eq(now, tasks_md);
	free(now);
	devsys_store *st = devsys_pipeline_store(p);
	const char *ids[] = { "001-mini-t001", "001-mini-t002", "001-mini-t003" };
	for (size_t i = 0; i < 3; i++)
		cr_assert_str_eq(devsys_task_state_name(devsys_store_task_state(st, ids[i])), "awaiting-review", "%s", ids[i]);
	cr_assert_eq(devsys_speckit_run(&done, NULL, ws, plan, url, "specs/001-mini", extra, NULL), DEVSYS_EINVAL);
	cr_assert_eq(done, 0);
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	devsys_speckit_plan_free(plan);
	devsys_speckit_feature_free(f);
	free(extra);
	devsys_shutdown();
}

/* `devsys speckit run ... --jobs N` on workspace @p wsname and remote @p remote, output into *out. */
static int run_jobs(char **out, const char *wsname, const char *remote, int jobs)
{
	const char *cli = getenv("DEVSYS_CLI");
	cr_assert_not_null(cli, "DEVSYS_CLI is set by ctest");
	int status = -1;
	*out = dt_sh_output(&status,
	                    "cd '%s' && '%s' --workspace '%s/%s' speckit run work/specs/001-mini --repo 'file://%s/%s' "
	                    "--with with.yaml --jobs %d 2>&1",
	                    dir, cli, dir, wsname, dir, remote, jobs);
	cr_assert_not_null(*out);
	return status;
}

/*
 * The [P] wave's two agents each wait (polling, up to the deadline in the
 * file "deadline") until the other has started: both pass only when they
 * run at the same time; then they wait while the file "hold" exists (up to
 * the same deadline). T003 (the next wave) does not wait.
 */
static void waiting_agents(void)
{
	char path[4096], script[4096];
	snprintf(path, sizeof(path), "%s/agent.sh", dir);
	snprintf(script, sizeof(script),
	         "set -e\nn=${DEVSYS_TASK_ID##*-}\nd='%s'\n"
	         "mkdir -p notes && echo \"$DEVSYS_TASK_ID\" > \"notes/$n.txt\"\necho \"$n $(pwd)\" >> \"$d/worktrees.log\"\n"
	         "case $n in t001) other=t002;; t002) other=t001;; *) exit 0;; esac\n"
	         "touch \"$d/started-$n\"\nend=$(( $(date +%%s) + $(cat \"$d/deadline\") ))\n"
	         "while [ ! -e \"$d/started-$other\" ]; do\n"
	         "  if [ \"$(date +%%s)\" -ge \"$end\" ]; then echo \"$n gave up waiting for $other\" >&2; exit 3; fi\n"
	         "  sleep 0.05\ndone\necho \"$n saw $other\" >> \"$d/overlap.log\"\n"
	         "while [ -e \"$d/hold\" ] && [ \"$(date +%%s)\" -lt \"$end\" ]; do sleep 0.05; done\n",
	         dir);
	cr_assert(dt_write_file(path, script));
}

Test(speckit_run, jobs_runs_a_parallel_wave_side_by_side)
{
	waiting_agents();
	char path[4096];
	snprintf(path, sizeof(path), "%s/deadline", dir);
	cr_assert(dt_write_file(path, "60\n"));
	char *out;
	cr_assert_eq(run_jobs(&out, "ws", "remote.git", 2), 0, "%s", out);
	cr_assert_not_null(strstr(out, "2 of 2 wave(s) green\n"), "%s", out);
	free(out);
	/* each of the wave's agents saw the other one started: they ran at the same time */
	char *seen = file("overlap.log");
	cr_assert_not_null(seen);
	cr_assert(strstr(seen, "t001 saw t002\n") && strstr(seen, "t002 saw t001\n"), "%s", seen);
	free(seen);
	/* the next wave ran after both, and every line is ticked */
	char *log = file("worktrees.log");
	const char *t3 = strstr(log, "t003 ");
	cr_assert_not_null(t3, "%s", log);
	cr_assert(strstr(log, "t001 ") < t3 && strstr(log, "t002 ") < t3, "wave order: %s", log);
	free(log);
	char *now = file("work/specs/001-mini/tasks.md");
	cr_assert(strstr(now, "- [X] T001") && strstr(now, "- [X] T002") && strstr(now, "- [X] T003"), "%s", now);
	free(now);

	/* the control: one at a time, the first agent waits in vain and the feature stops in wave 1 */
	cr_assert_eq(dt_sh("cd '%s' && rm -f started-* overlap.log && git clone -q --bare --single-branch -b main remote.git remote2.git && "
	                   "cd work && git checkout -q -- specs/001-mini/tasks.md",
	                   dir),
	             0);
	cr_assert(dt_write_file(path, "1\n")); /* alone, the agent waits in vain however long: a second at most */
	cr_assert_eq(run_jobs(&out, "ws-control", "remote2.git", 1), 1, "%s", out);
	cr_assert_not_null(strstr(out, "wave 1: T001 (devsys task 001-mini-t001) ended failed at stage agent: its run did "
	                               "not end green"),
	                   "%s", out);
	cr_assert_not_null(strstr(out, "0 of 2 wave(s) green; stopped"), "%s", out);
	free(out);
	now = file("work/specs/001-mini/tasks.md");
	cr_assert_not_null(strstr(now, "- [ ] T001"), "not ticked: %s", now);
	cr_assert_not_null(strstr(now, "- [X] T002"), "the wave's green task is ticked all the same: %s", now);
	cr_assert_null(strstr(now, "- [X] T003"), "T003 never ran: %s", now);
	free(now);

	/* SIGINT while the wave's two agents run: every running stage is canceled, the feature stops, exit 130 */
	cr_assert_eq(dt_sh("cd '%s' && rm -f started-* overlap.log && touch hold && "
	                   "git clone -q --bare --single-branch -b main remote.git remote3.git",
	                   dir),
	             0);
	cr_assert(dt_write_file(path, "60\n"));
	char ws3[4200], feat[4200], url[4200], with[4200], logp[4200];
	snprintf(ws3, sizeof(ws3), "%s/ws-int", dir);
	snprintf(feat, sizeof(feat), "%s/work/specs/001-mini", dir);
	snprintf(url, sizeof(url), "file://%s/remote3.git", dir);
	snprintf(with, sizeof(with), "%s/with.yaml", dir);
	snprintf(logp, sizeof(logp), "%s/int.log", dir);
	char *argv[] = { (char *)getenv("DEVSYS_CLI"), "--workspace", ws3, "speckit", "run", feat, "--repo", url,
		         "--with", with, "--jobs", "2", NULL };
	pid_t pid = dt_spawn(argv, logp);
	cr_assert_gt(pid, 0);
	char both[4200];
	snprintf(both, sizeof(both), "%s/overlap.log", dir);
	bool ready = false;
	for (int i = 0; i < 600 && !ready; i++) { /* poll up to 60 s for both agents running */
		char *o = dt_read_file(both, NULL);
		ready = o && strstr(o, "t001 saw") && strstr(o, "t002 saw");
		free(o);
		struct timespec ts = { 0, 100 * 1000000L };
		if (!ready)
			nanosleep(&ts, NULL);
	}
	int st = dt_stop(pid, SIGINT, 30000);
	cr_assert(ready, "both agents of the wave were running when SIGINT came");
	out = dt_read_file(logp, NULL);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d: %s", st, out);
	cr_assert_not_null(strstr(out, "wave 1: the scheduler stopped: interrupted"), "%s", out);
	cr_assert_not_null(strstr(out, "0 of 2 wave(s) green; stopped"), "%s", out);
	free(out);
	/* "[.]": the pattern does not match the shell running pgrep */
	cr_assert_eq(dt_sh("! pgrep -f '^/bin/sh %s/agent[.]sh' >/dev/null", dir), 0, "an agent outlived the interrupted run");
	cr_assert_eq(dt_sh("rm -f '%s/hold'", dir), 0);
}
