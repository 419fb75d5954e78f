/* The pipeline's handle and its stages, shared by the stage files. */
#ifndef DEVSYS_PIPELINE_INT_H
#define DEVSYS_PIPELINE_INT_H

#include "devsys/pipeline.h"
#include "devsys/config.h"
#include "devsys/sys/stage.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

typedef struct devsys__stage_entry devsys__stage_entry;

struct devsys_pipeline {
	devsys_workspace *ws;  /* referenced */
	devsys_store *store;   /* owned */
	const devsys_repo_options *repo_opts;     /* borrowed until devsys_pipeline_free() */
	const devsys_runner_options *runner_opts; /* borrowed until devsys_pipeline_free() */
	const devsys_forge_options *forge_opts;   /* borrowed until devsys_pipeline_free() */
	devsys_config *config; /* owned: loaded from options.config_path, or NULL */
	devsys_pipeline_progress_cb progress;
	void *progress_payload;
	unsigned int agent_idle_timeout_ms;
	uint64_t max_output_bytes;
	char **scrub;          /* owned copy of agent_env_scrub */
	devsys_spec *spec;     /* of the last validate or load */
	devsys_validation *validation;
	char *task_id;
	const char *spec_kept; /* "spec.yaml" or "spec.json": the name the record keeps the spec under */
	volatile sig_atomic_t canceled; /* devsys_pipeline_cancel() */
	volatile sig_atomic_t held;     /* devsys__pipeline_hold(): no further stage begins */
	pthread_mutex_t running_lock; /* guards running: cancel may come from another thread */
	devsys_runner *running; /* the runner of the command now running, for cancel */
	devsys__stage_entry *stages; /* owned: the stages run after validate, in order (stage.c); NULL: not made yet */
	size_t nstages;
	int in_run;                  /* a run is under way: the stage list must not change (stage.c) */
	struct {                     /* runner pools (pool.c): the stage now running */
		const char *stage;   /* its name (borrowed from the stage list) */
		unsigned int attempt; /* 1, then one more each time it moves to another host */
		unsigned int retries; /* how often the failed host's profile lets it move */
		int host_failed;     /* a pooled host had a system failure in this attempt */
		const char *pin;     /* open on this member only, with no slot (stopping a deploy where it runs) */
	} pool;
};

/*
 * What a stage works with. The run loop makes one per run; a stage that
 * needs the checkout opens it through devsys__pipeline_repo() (checkout
 * makes it, later stages reopen it as it is).
 */
typedef struct devsys__stage_ctx {
	devsys_pipeline *p;
	devsys_task *task;
	devsys_repo *repo;        /* owned by the run; NULL until a stage needs it */
	devsys_forge *forge;      /* owned by the run; NULL until devsys__pipeline_forge() */
	devsys_pr *pr;            /* owned by the run; the task's PR once the pr stage opened or found it */
	devsys_secrets *secrets;  /* owned by the run; made by devsys__pipeline_forge() when the forges: entry
	                             names a token_secret and the caller's forge options give no secrets */
	devsys_stage_result *res; /* the caller's, may be NULL */
	int stop;                 /* set by a stage that ends the run with success (no-changes) */
	const char *taken;        /* the stage a resume took in the store with the resume itself (its begin
	                             does not take it again); NULL once begun */
	int fclass;               /* the failure class the last devsys__pipeline_end() recorded */
} devsys__stage_ctx;

/* A built-in stage: 0 on success, else the stage's error (its end is recorded). */
typedef int (*devsys__stage_fn)(devsys__stage_ctx *c);

int devsys__stage_checkout(devsys__stage_ctx *c);
int devsys__stage_agent(devsys__stage_ctx *c);
int devsys__stage_commit(devsys__stage_ctx *c);
int devsys__stage_push(devsys__stage_ctx *c);
int devsys__stage_pr(devsys__stage_ctx *c);
int devsys__stage_test(devsys__stage_ctx *c);
int devsys__stage_deploy(devsys__stage_ctx *c);
int devsys__stage_verify(devsys__stage_ctx *c);
int devsys__stage_gate(devsys__stage_ctx *c);

/*
 * Stop what the task's deploy started (deploy.c): the service whose pid,
 * process group and start time task.json's "deploy"."service" names (TERM
 * to its group, a bounded wait, then KILL; only while pid and start time
 * still match), the compose project (`compose down`) and a remote deploy
 * directory. Marks "deploy"."stopped" in task.json; a second call, or a
 * task that deployed nothing, does nothing and returns 0.
 */
int devsys__pipeline_stop_service(devsys__stage_ctx *c);

/* Fill @p r (when given and of a known version) and return @p rc. */
int devsys__pipeline_result(devsys_stage_result *r, const char *stage, int rc, int failure_class, const char *outcome);

/* Write a stage's begin (result NULL) or end into task.json; an end also
 * goes to events.jsonl as a "stage.end" event with its failure class and,
 * for a failure, @p reason (the error's message; may be NULL). */
int devsys__pipeline_record_stage(devsys_task *task, const char *stage, const char *result, const char *fclass,
                                  const char *reason);

/*
 * facts.c: the facts other modules report, written into the record. After a
 * checkout, commit or push of c->repo: its URL, branch, base and head into
 * task.json and the event @p type ("git.checkout", "git.commit",
 * "git.push"). An error says the git step succeeded and the record failed.
 */
int devsys__pipeline_record_git(devsys__stage_ctx *c, const char *type);

/* After the commit (crosscheck.c): the commit's changed paths against the
 * paths the agent's tool calls named, into task.json agent.cross_check;
 * nothing when the adapter reported no tool calls. */
int devsys__pipeline_agent_crosscheck(devsys__stage_ctx *c);
/* A devsys_secret_event_cb for the pipeline's secrets: "secret.resolve" into the task's events.jsonl. */
int devsys__pipeline_secret_event(const devsys_secret_event *ev, devsys_task *task, void *payload);
/* A secrets set whose resolutions the pipeline records (devsys__pipeline_secret_event); logs to @p ws. */
int devsys__pipeline_secrets_new(devsys_secrets **out, devsys_workspace *ws);

/* A stage's begin: the store, the record and the progress callback. */
int devsys__pipeline_begin(devsys__stage_ctx *c, const char *stage);

/*
 * A stage's end: ok (fclass DEVSYS_FAILURE_NONE) moves the task to @p to
 * (-1: no state change); a failure keeps rc's message and the task goes to
 * "failed" (or "canceled"). Tells the progress callback. Returns @p rc, or
 * the record's error when an ok stage cannot be recorded.
 */
int devsys__pipeline_end(devsys__stage_ctx *c, const char *stage, int rc, int fclass, const char *outcome, int to);

/* The task's checkout, opened once per run (a later stage reopens it as it is). */
int devsys__pipeline_repo(devsys__stage_ctx *c);

/* The task's forge (from the spec's repo.url, the pipeline's forge options
 * and devsys.yaml), opened once per run (pr.c). */
int devsys__pipeline_forge(devsys__stage_ctx *c);

/* Set commit status @p context ("devsys/tests") on the pushed head, state
 * DEVSYS_CHECK_PENDING, _SUCCESS or _FAILURE, with a short description (pr.c). */
int devsys__pipeline_set_status(devsys__stage_ctx *c, const char *context, int state, const char *description);

/* The task's PR into c->pr: the one the pr stage opened in this run, else
 * reopened from the record's marker (task.json "pr"); DEVSYS_ENOTFOUND when
 * the task has none (pr.c). */
int devsys__pipeline_pr(devsys__stage_ctx *c);

/* Update the task's PR (title, body, draft, labels, reviewers as the pr
 * stage sends them) with @p gate, the gate's decision as text, in its body (pr.c). */
int devsys__pipeline_pr_update(devsys__stage_ctx *c, const char *gate);

/* Pipeline failure class of a runner failure (devsys_runner_failure). */
int devsys__pipeline_failure_of_runner(int failure);

/*
 * Open the runner for step @p step ("agent", "tests", "deploy"): the
 * step's `runner:` profile, else the spec's top-level one, else "inproc",
 * resolved through the operator's config. @p out is owned by the caller.
 */
int devsys__pipeline_open_runner(devsys_runner **out, devsys_pipeline *p, const char *step);
/* The same with @p masker (NULL: the runner options') masking its output. */
int devsys__pipeline_open_runner_masked(devsys_runner **out, devsys_pipeline *p, const char *step,
                                        devsys_masker *masker);
/* The operator's profile step @p step runs under; NULL: the built-in inproc runner. */
const char *devsys__pipeline_profile(const devsys_pipeline *p, const char *step);

/*
 * Runner pools (pool.c). devsys__pool_open: open @p type with @p o on a
 * member of @p profile's pool (its host and port into @p o, or an endpoint
 * into *@p endpoint; NULL when this build has no Docker runner), waiting
 * while every member is at its per-host limit; the member is held until the
 * runner is freed, and the placement is recorded. A connect, auth or system
 * error at open cools the member down.
 */
int devsys__pool_open(devsys_runner **out, devsys_pipeline *p, const char *step, const char *profile,
                      const char *type, devsys_runner_options *o, const char **endpoint);
/* The pool member @p runner was placed on, as the profile lists it (borrowed); NULL: not pooled. */
const char *devsys__pool_member(const devsys_runner *runner);
/* After an exec: a system failure on a pooled runner cools its member down. */
void devsys__pool_after_exec(devsys_pipeline *p, devsys_runner *runner, const devsys_runner_result *rr);
/* After a prepare, upload or download on @p runner returned @p rc: a connect, auth or system error
 * cools a pooled runner's member down (the step may move, as after an exec). */
void devsys__pool_failed(devsys_pipeline *p, devsys_runner *runner, int rc);
/* devsys_init()/devsys_shutdown() hooks: the process-wide table of pool members. */
int devsys__pool_global_init(void);
void devsys__pool_global_shutdown(void);
/* Before a stage's first attempt. */
void devsys__pool_stage_begin(devsys_pipeline *p, const char *stage);
/* After an attempt of @p stage that returned @p rc: true when the stage runs again (on another host),
 * taken again in the store by devsys__pipeline_retake(). */
bool devsys__pool_retry(devsys__stage_ctx *c, const char *stage, int rc);
/*
 * @p stage, which this run has just ended failed, back to the state before
 * it and taken by this process in one store transaction (the resume's own
 * take): no other process can begin it, or a later stage, in between.
 * DEVSYS_EBUSY when another process resumed the task first; DEVSYS_ESTATE
 * when @p stage is no longer the one to run.
 */
int devsys__pipeline_retake(devsys__stage_ctx *c, const char *stage);

/* Run @p cmd on @p runner with cancel and progress wired in (output events). */
int devsys__pipeline_exec(devsys__stage_ctx *c, devsys_runner *runner, devsys_runner_cmd *cmd, devsys_runner_result *rr);

/* Tell the progress callback (a no-op without one); non-zero: cancel. */
int devsys__pipeline_emit(devsys_pipeline *p, int kind, const char *stage, const devsys_stage_result *res,
                          const char *data, size_t len, uint64_t current, uint64_t total);

/*
 * Before an interrupted task runs again or is canceled (no live process
 * owns it): kill the commands its dead run left running (resume.c).
 */
int devsys__pipeline_clear_leftovers(devsys_pipeline *p, const char *task_id);

/*
 * Where a checkout that is not in the task's folder must start (resume.c):
 * 1 with the commit task.json "commit" names in @p head and its base_sha
 * (or "") in @p base (each @p size bytes): the task was committed, on this
 * host or another, and its checkout is missing here; 0: a checkout made
 * as usual (or the existing one reopened). DEVSYS_ESTATE when the agent's
 * changes were never committed and the checkout that held them is not
 * here (the task ran on another host until its agent ended).
 */
int devsys__pipeline_resume_point(devsys__stage_ctx *c, char *head, char *base, size_t size);

/*
 * Was p's task left before its validate stage ended by a run that was
 * killed (state created, or interrupted in validate)? Then 1, and it is in
 * created again, ready to be registered once more; 0: it is registered (resume.c).
 */
int devsys__pipeline_unregistered(devsys_pipeline *p);

/* A NULL-terminated list of owned strings, for a command's argv and env. */
typedef struct devsys__strvec {
	char **v;
	size_t n, cap;
} devsys__strvec;

/* Append @p owned (taken over: freed here on failure; NULL is out of memory). */
int devsys__strvec_push(devsys__strvec *s, char *owned);

/* Free every string and the list; @p s is empty after. */
void devsys__strvec_free(devsys__strvec *s);

/* Read task.json's "stages"."<stage>"."result" into @p out ("ok", "failed", ...; NULL: not run). */
int devsys__pipeline_stage_recorded(char *out, size_t outsz, devsys_task *task, const char *stage);

/* ---- the stage list (pipeline.c runs it, stage.c changes it) ---- */

/* One stage of a pipeline's list: a built-in, a built-in replaced, or one added. */
struct devsys__stage_entry {
	char *name;             /* owned */
	int builtin;            /* index of the built-in it is or replaces; -1: an added stage */
	devsys__stage_fn fn;    /* the built-in's function; NULL: vt.run runs it */
	devsys_stage_vtable vt; /* the registered prefix, the rest zero */
	void *self;
	char outcome[64];       /* the last run's outcome (devsys_stage_result.outcome borrows it) */
};

/* Make p->stages from the built-in table once (pipeline.c). */
int devsys__pipeline_stages_init(devsys_pipeline *p);

/* The state a built-in stage moves the task to when it ends ok (-1: none). */
int devsys__pipeline_builtin_to(int builtin);

/* Run an entry that has no built-in function: its vtable's run (stage.c). */
int devsys__stage_custom(devsys__stage_ctx *c, devsys__stage_entry *e);

/* Release the list and each entry's self (stage.c). */
void devsys__pipeline_stages_free(devsys_pipeline *p);

#endif
