/*
 * devsys run: the main job. On a spec file, or with none on the embedded
 * default (specs/sample.yaml on the sample repository of sample.c), it runs
 * the validate stage and then every remaining stage of the pipeline
 * (devsys_pipeline_run), with a progress view, and ends with a summary read
 * from the task's record. A task that exists is reported, not run again.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(DEVSYS_HAVE_MODULE_PIPELINE)

#include "progress.h"
#include "sample.h"

#include <pthread.h>

#define DEFAULT_SPEC_NAME "embedded:specs/sample.yaml"

struct run {
	devsys_cli *cli;
	const char *spec_name;
	const char *config;   /* --config FILE: the operator's devsys.yaml */
	const char *resume;   /* --resume TASK: the task to go on with */
	bool embedded;        /* the embedded default */
	devsys_pipeline *pipeline;
	devsys_workspace *ws;
	devsys_store *store;  /* borrowed from the pipeline */
	devsys_cli_progress *view;
	const char *id;       /* borrowed from the pipeline */
	int created;          /* 0: the task existed already */
	bool ran;             /* devsys_pipeline_run ran this time */
	int run_rc;           /* what it returned */
	devsys_stage_result last; /* the last stage that ran */
	char error[1024];     /* its error message, kept before the summary's reads */
	sigset_t sig_old;     /* the signal mask before block_signals() */
	bool sig_blocked;
	volatile sig_atomic_t interrupted;
	volatile sig_atomic_t finished;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int print_invalid(struct run *r, const devsys_validation *v)
{
	if (r->cli->json) {
		devsys_buf j = DEVSYS_BUF_INIT;
		if (devsys_validation_to_json(&j, v) == 0 && j.ptr)
			printf("%s\n", j.ptr);
		devsys_buf_dispose(&j);
	} else {
		devsys_cli_print_validation(stderr, v);
	}
	return DEVSYS_EXIT_FAILED;
}

/* The bytes validated are the bytes kept in the record: read them once. */
static int read_spec(struct run *r, const char *file, devsys_buf *bytes)
{
	char chunk[65536];
	size_t n;
	FILE *f;

	if (!(f = fopen(file, "rb")))
		return devsys_cli_usage_error(r->cli, "cannot open spec '%s': %s", file, strerror(errno));
	/* Stop one chunk past the loader's default limit (16 MiB): the loader
	 * then refuses it with DEVSYS_ELIMIT, and a huge file is never read whole. */
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (bytes->size > ((size_t)16 << 20) || devsys_buf_put(bytes, chunk, n) < 0)
			break;
	if (ferror(f) || (n > 0 && bytes->size <= ((size_t)16 << 20))) {
		fclose(f);
		return devsys_cli_usage_error(r->cli, "cannot read spec '%s'", file);
	}
	fclose(f);
	return DEVSYS_EXIT_OK;
}

/* The validate stage is the library's (devsys_pipeline_validate). */
static int validate_stage(struct run *r, const devsys_buf *bytes)
{
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	double t0 = now();
	int rc = devsys_pipeline_validate(&res, r->pipeline, bytes->ptr, bytes->size, r->spec_name);

	r->id = devsys_pipeline_task_id(r->pipeline);
	r->created = rc == 0;
	if (rc == 0 || rc == DEVSYS_EEXISTS) {
		devsys_cli_progress_stage(r->view, &res, now() - t0);
		return DEVSYS_EXIT_OK; /* already registered: report its state */
	}
	if (rc == DEVSYS_EINVALID && devsys_pipeline_validation(r->pipeline))
		return print_invalid(r, devsys_pipeline_validation(r->pipeline));
	if (res.outcome && strcmp(res.outcome, "spec-refused") == 0)
		return devsys_cli_fail_lib(r->cli, "cannot load the spec");
	return devsys_cli_fail_lib(r->cli, "the validate stage failed");
}

/* ---- SIGINT and SIGTERM cancel the running stage ---- */

/* Signals are taken on a thread of their own (devsys_pipeline_cancel is not
 * for signal handlers); SIGUSR1 only wakes it when the run is over. */
static void *wait_signals(void *arg)
{
	struct run *r = arg;
	sigset_t set;
	int sig = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 && !r->finished) {
		if (sig == SIGINT || sig == SIGTERM) {
			r->interrupted = 1;
			devsys_pipeline_cancel(r->pipeline);
		}
	}
	return NULL;
}

/* Blocked before any thread starts (the progress view's ticker, the
 * library's), so every thread inherits the mask and a SIGINT can only reach
 * the waiting thread; one that comes earlier waits for it. */
static void block_signals(struct run *r)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	r->sig_blocked = pthread_sigmask(SIG_BLOCK, &set, &r->sig_old) == 0;
}

static void unblock_signals(struct run *r)
{
	if (r->sig_blocked)
		pthread_sigmask(SIG_SETMASK, &r->sig_old, NULL);
	r->sig_blocked = false;
}

static int run_stages(struct run *r)
{
	pthread_t waiter;
	bool waiting;
	waiting = pthread_create(&waiter, NULL, wait_signals, r) == 0;
	r->last.version = DEVSYS_STAGE_RESULT_VERSION;
	r->run_rc = devsys_pipeline_run(&r->last, r->pipeline);
	r->ran = true;
	if (r->run_rc < 0)
		snprintf(r->error, sizeof(r->error), "%s", devsys_error_message(devsys_error_last()));
	r->finished = 1;
	if (waiting) {
		pthread_kill(waiter, SIGUSR1);
		pthread_join(waiter, NULL);
	}
	return r->run_rc;
}

/* ---- the summary, read from the task's record ---- */

static json_t *load_task_file(devsys_task *task, const char *rel)
{
	devsys_buf path = DEVSYS_BUF_INIT;
	json_t *j = NULL;
	if (task && devsys_task_path_join(&path, task, rel) == 0)
		j = json_load_file(path.ptr, 0, NULL);
	devsys_buf_dispose(&path);
	return j;
}

/* The latest test run's summary.json, with "run" and "junit" (relative to the task folder) added. */
static json_t *load_tests(devsys_task *task)
{
	unsigned int run = 0;
	char rel[64];
	json_t *sum;
	if (!task || devsys_record_latest_run(task, &run) < 0)
		return NULL;
	snprintf(rel, sizeof(rel), "reports/%u/summary.json", run);
	if (!(sum = load_task_file(task, rel)) || !json_is_object(sum)) {
		json_decref(sum);
		return NULL;
	}
	snprintf(rel, sizeof(rel), "reports/%u/junit.xml", run);
	json_object_set_new(sum, "run", json_integer(run));
	json_object_set_new(sum, "junit", json_string(rel));
	return sum;
}

/* A check passed: "passed": true, or a result/status word that says so. */
static bool check_passed(const json_t *c)
{
	static const char *const keys[] = { "result", "status", "outcome" };
	if (json_is_true(json_object_get(c, "passed")) || json_is_true(json_object_get(c, "ok")))
		return true;
	for (size_t i = 0; i < 3; i++) {
		const char *s = json_string_value(json_object_get(c, keys[i]));
		if (s && (!strcmp(s, "passed") || !strcmp(s, "ok") || !strcmp(s, "pass") || !strcmp(s, "success")))
			return true;
	}
	return false;
}

static const json_t *acceptance_checks(const json_t *acc)
{
	if (json_is_array(acc))
		return acc;
	return json_is_array(json_object_get(acc, "checks")) ? json_object_get(acc, "checks")
	                                                     : json_object_get(acc, "results");
}

typedef struct summary {
	json_t *record; /* task.json */
	json_t *index;  /* the store's row: state, stages, runs */
	json_t *tests;  /* the latest run's summary, or NULL */
	json_t *acceptance; /* reports/acceptance.json, or NULL */
	int state;
} summary;

static void summary_load(summary *s, struct run *r)
{
	devsys_buf tj = DEVSYS_BUF_INIT;
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	memset(s, 0, sizeof(*s));
	s->state = devsys_store_task_state(r->store, r->id);
	if (devsys_store_task_json(r->store, r->id, &tj) == 0 && tj.ptr)
		s->index = json_loads(tj.ptr, 0, NULL);
	devsys_buf_clear(&tj);
	if (devsys_task_open(&task, r->ws, r->id, 0) == 0) {
		if (devsys_record_open(&rec, task) == 0 && devsys_record_json(rec, &tj) == 0 && tj.ptr)
			s->record = json_loads(tj.ptr, 0, NULL);
		s->tests = load_tests(task);
		s->acceptance = load_task_file(task, "reports/acceptance.json");
	}
	devsys_record_free(rec);
	devsys_task_free(task);
	devsys_buf_dispose(&tj);
}

static void summary_dispose(summary *s)
{
	json_decref(s->record);
	json_decref(s->index);
	json_decref(s->tests);
	json_decref(s->acceptance);
}

static const char *rec_str(const summary *s, const char *key)
{
	return json_string_value(json_object_get(s->record, key));
}

static bool is_resting(int state)
{
	return state == DEVSYS_STATE_AWAITING_REVIEW || state == DEVSYS_STATE_MERGED || state == DEVSYS_STATE_DONE ||
	       state == DEVSYS_STATE_NO_CHANGES;
}

static bool can_resume(int state)
{
	return state == DEVSYS_STATE_FAILED || state == DEVSYS_STATE_INTERRUPTED;
}

/* "devsys --workspace W " when the user named one, so the hints work as printed. */
static void ws_prefix(char *out, size_t outsz, const struct run *r)
{
	if (r->cli->workspace)
		snprintf(out, outsz, "devsys --workspace %s ", r->cli->workspace);
	else
		snprintf(out, outsz, "devsys ");
}

static void print_tests(const summary *s)
{
	const json_t *t = s->tests;
	if (!t) {
		printf("  tests     none recorded\n");
		return;
	}
	printf("  tests     %lld passed, %lld failed", (long long)json_integer_value(json_object_get(t, "passed")),
	       (long long)json_integer_value(json_object_get(t, "failed")));
	if (json_integer_value(json_object_get(t, "errors")) > 0)
		printf(", %lld errors", (long long)json_integer_value(json_object_get(t, "errors")));
	if (json_integer_value(json_object_get(t, "skipped")) > 0)
		printf(", %lld skipped", (long long)json_integer_value(json_object_get(t, "skipped")));
	printf(" (run %lld, %s)\n", (long long)json_integer_value(json_object_get(t, "run")),
	       json_string_value(json_object_get(t, "junit")));
}

static void print_acceptance(const summary *s)
{
	const json_t *checks = acceptance_checks(s->acceptance), *c;
	size_t i, passed = 0;
	if (!checks || !json_array_size(checks)) {
		printf("  accept    %s\n", s->acceptance ? "no checks" : "none recorded");
		return;
	}
	json_array_foreach(checks, i, c)
		passed += check_passed(c);
	printf("  accept    %zu of %zu passed (reports/acceptance.json)\n", passed, json_array_size(checks));
	json_array_foreach(checks, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		printf("            %s %s\n", check_passed(c) ? "ok  " : "FAIL", name ? name : "(unnamed)");
	}
}

/* "awaiting-review (blocked: class medium, 0 of 1 approvals)": the stage's outcome, then the gate's why. */
static void print_gate(const summary *s)
{
	const json_t *g = json_object_get(s->record, "gate");
	const char *outcome = json_string_value(json_object_get(g, "outcome"));
	const char *decision = json_string_value(json_object_get(g, "decision"));
	const char *cls = json_string_value(json_object_get(g, "class"));
	const json_t *req = json_object_get(g, "required");
	if (!decision && !outcome) {
		printf("  gate      no decision yet\n");
		return;
	}
	if (!cls)
		cls = json_string_value(json_object_get(g, "risk"));
	printf("  gate      %s (%s", outcome ? outcome : decision, decision ? decision : "?");
	if (cls)
		printf(": class %s", cls);
	if (json_is_integer(req) && json_integer_value(req) > 0)
		printf(", %lld of %lld approvals", (long long)json_integer_value(json_object_get(g, "approvals")),
		       (long long)json_integer_value(req));
	printf(")\n");
}

/* The first stage task.json records as not "ok" (its failure class in @p fclass), or NULL. */
static const char *stopped_stage(const summary *s, const char **fclass)
{
	const json_t *stages = json_object_get(s->record, "stages");
	for (size_t i = 0; i < devsys_pipeline_stage_count(); i++) {
		const char *name = devsys_pipeline_stage_name(i);
		const json_t *st = json_object_get(stages, name);
		const char *res = json_string_value(json_object_get(st, "result"));
		if (res && strcmp(res, "ok") != 0) {
			*fclass = json_string_value(json_object_get(st, "failure_class"));
			return name;
		}
	}
	return NULL;
}

static void print_summary(struct run *r, const summary *s)
{
	const char *name = devsys_task_state_name(s->state), *head = rec_str(s, "head_sha");
	const char *pr_url = rec_str(s, "pr_url");
	json_int_t pr = json_integer_value(json_object_get(s->record, "pr_number"));
	bool good = is_resting(s->state);
	const char *stopped, *fclass = NULL;
	char dv[4096];

	ws_prefix(dv, sizeof(dv), r);
	printf("\n  task      %s %s%s%s\n", r->id, devsys_cli_color(r->cli, good ? "\033[1;32m" : "\033[1;31m"),
	       name ? name : "unknown", devsys_cli_color(r->cli, "\033[0m"));
	if (rec_str(s, "branch"))
		printf("  branch    %s at %.12s\n", rec_str(s, "branch"), head ? head : "(not pushed)");
	if (pr > 0 || pr_url)
		printf("  pr        #%lld %s\n", (long long)pr, pr_url ? pr_url : "");
	print_tests(s);
	print_acceptance(s);
	print_gate(s);
	if ((stopped = stopped_stage(s, &fclass)))
		printf("  stopped   at %s%s%s%s\n", stopped, fclass ? " (" : "", fclass ? fclass : "", fclass ? ")" : "");
	if (r->error[0])
		printf("  error     %s\n", r->error);
	if (can_resume(s->state))
		printf("  resume    %srun --resume %s   (after fixing the cause)\n", dv, r->id);
	printf("  record    %s/tasks/%s/\n", devsys_workspace_path(r->ws), r->id);
	printf("  more      %sshow %s | %sreport --html %s | devsysd: GET /api/tasks/%s\n", dv, r->id, dv, r->id,
	       r->id);
}

/* A new reference to @p v, or JSON null. */
static json_t *or_null(json_t *v)
{
	return v ? json_incref(v) : json_null();
}

static json_t *summary_json(struct run *r, const summary *s)
{
	const char *name = devsys_task_state_name(s->state);
	char dv[4096], cmd[8192];
	json_t *o = json_object(), *pr = json_object(), *more = json_object();
	ws_prefix(dv, sizeof(dv), r);
	json_object_set_new(o, "task", json_string(r->id));
	json_object_set_new(o, "spec", json_string(r->spec_name));
	json_object_set_new(o, "state", json_string(name ? name : "unknown"));
	json_object_set_new(o, "created", json_boolean(r->created));
	json_object_set_new(o, "ran", json_boolean(r->ran));
	json_object_set_new(o, "ok", json_boolean(is_resting(s->state)));
	json_object_set_new(o, "workspace", json_string(devsys_workspace_path(r->ws)));
	json_object_set_new(o, "branch", or_null(json_object_get(s->record, "branch")));
	json_object_set_new(o, "head_sha", or_null(json_object_get(s->record, "head_sha")));
	json_object_set_new(pr, "number", or_null(json_object_get(s->record, "pr_number")));
	json_object_set_new(pr, "url", or_null(json_object_get(s->record, "pr_url")));
	json_object_set_new(o, "pr", pr);
	json_object_set_new(o, "tests", or_null(s->tests));
	json_object_set_new(o, "acceptance", or_null(s->acceptance));
	json_object_set_new(o, "gate", or_null(json_object_get(s->record, "gate")));
	json_object_set_new(o, "last_stage", r->ran && r->last.stage ? json_pack("{s:s,s:s?,s:s?,s:s?}", "stage",
	                                                                           r->last.stage, "result", r->last.result,
	                                                                           "outcome", r->last.outcome,
	                                                                           "failure_class",
	                                                                           devsys_failure_class_name(
	                                                                                   r->last.failure_class))
	                                                               : json_null());
	json_object_set_new(o, "error", r->error[0] ? json_string(r->error) : json_null());
	snprintf(cmd, sizeof(cmd), "%srun --resume %s", dv, r->id);
	json_object_set_new(o, "resume", can_resume(s->state) ? json_string(cmd) : json_null());
	snprintf(cmd, sizeof(cmd), "%sshow %s", dv, r->id);
	json_object_set_new(more, "show", json_string(cmd));
	snprintf(cmd, sizeof(cmd), "%sreport --html %s", dv, r->id);
	json_object_set_new(more, "report", json_string(cmd));
	snprintf(cmd, sizeof(cmd), "GET /api/tasks/%s", r->id);
	json_object_set_new(more, "devsysd", json_string(cmd));
	json_object_set_new(o, "more", more);
	json_object_set_new(o, "record", or_null(s->record));
	json_object_set_new(o, "index", or_null(s->index));
	return o;
}

/* The exit code: a run that stopped says why; the embedded default must reach awaiting-review. */
static int exit_code(struct run *r, const summary *s)
{
	if (r->interrupted)
		return DEVSYS_EXIT_INTERRUPTED;
	if (r->ran && r->run_rc < 0)
		return r->last.failure_class == DEVSYS_FAILURE_SYSTEM ? DEVSYS_EXIT_SYSTEM
		       : r->last.failure_class == DEVSYS_FAILURE_CANCELED ? DEVSYS_EXIT_INTERRUPTED
		                                                          : DEVSYS_EXIT_FAILED;
	if (r->embedded)
		return s->state == DEVSYS_STATE_AWAITING_REVIEW || s->state == DEVSYS_STATE_MERGED ? DEVSYS_EXIT_OK
		                                                                                    : DEVSYS_EXIT_FAILED;
	return is_resting(s->state) ? DEVSYS_EXIT_OK : DEVSYS_EXIT_FAILED;
}

static int report(struct run *r)
{
	summary s;
	int rc;
	summary_load(&s, r);
	if (r->cli->json)
		devsys_cli_print_json(summary_json(r, &s));
	else
		print_summary(r, &s);
	if (!r->cli->json && !r->ran && !r->created && !is_resting(s.state) && !can_resume(s.state))
		fprintf(stderr, "devsys run: task '%s' is %s: another run may own it (devsys show %s)\n", r->id,
		        devsys_task_state_name(s.state), r->id);
	rc = exit_code(r, &s);
	summary_dispose(&s);
	return rc;
}

/*
 * Run the remaining stages of r->pipeline's task (chosen by
 * devsys_pipeline_validate or devsys_pipeline_load), with the progress view
 * and SIGINT/SIGTERM cancelling the running stage, then print the summary.
 * Returns the exit code. `devsys run --resume TASK` is this after
 * devsys_pipeline_load().
 */
static int devsys_cli_run_pipeline(struct run *r)
{
	run_stages(r);
	devsys_cli_progress_free(r->view); /* the live line goes before the summary */
	r->view = NULL;
	/* another process runs the task (two resumes at once): its run is the one to report */
	if (r->run_rc == DEVSYS_EBUSY)
		return devsys_cli_fail_lib(r->cli, "cannot run the task");
	return report(r);
}

static int parse_args(struct run *r, int argc, char **argv, const char **file)
{
	*file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			r->config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			r->config = argv[i] + 9;
		else if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc)
			r->resume = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return devsys_cli_usage_error(r->cli, "run: unknown option '%s'", argv[i]);
		else if (*file)
			return devsys_cli_usage_error(r->cli, "run takes at most one spec file");
		else
			*file = argv[i];
	}
	if (r->resume && *file)
		return devsys_cli_usage_error(r->cli, "run: --resume TASK takes no spec file (the task keeps its spec)");
	r->embedded = !*file && !r->resume;
	r->spec_name = r->resume ? r->resume : *file ? *file : DEFAULT_SPEC_NAME;
	return DEVSYS_EXIT_OK;
}

/* --resume TASK: the task's kept spec, from the stage after the last one that ended ok. */
static int resume_task(struct run *r)
{
	int state;
	if (devsys_pipeline_load(r->pipeline, r->resume) < 0)
		return devsys_cli_fail_lib(r->cli, "cannot resume the task");
	r->id = devsys_pipeline_task_id(r->pipeline);
	state = devsys_store_task_state(r->store, r->id);
	if (is_resting(state) || state == DEVSYS_STATE_CANCELED) { /* nothing left: say how it stands */
		devsys_cli_progress_free(r->view);
		r->view = NULL;
		return report(r);
	}
	return devsys_cli_run_pipeline(r);
}

static int open_pipeline(struct run *r)
{
	devsys_pipeline_options o = DEVSYS_PIPELINE_OPTIONS_INIT;
	int mode = r->cli->json ? DEVSYS_CLI_PROGRESS_QUIET
	           : isatty(STDOUT_FILENO) ? DEVSYS_CLI_PROGRESS_LIVE
	                                   : DEVSYS_CLI_PROGRESS_LINES;
	block_signals(r);
	if (!(r->view = devsys_cli_progress_new(r->cli, stdout, mode)))
		return DEVSYS_EXIT_SYSTEM;
	o.progress = devsys_cli_progress_event;
	o.progress_payload = r->view;
	o.config_path = r->config;
	if (devsys_pipeline_new(&r->pipeline, r->ws, &o) < 0)
		return devsys_cli_fail_lib(r->cli, r->config ? "cannot open the task store or the configuration"
		                                             : "cannot open the task store");
	r->store = devsys_pipeline_store(r->pipeline);
	return DEVSYS_EXIT_OK;
}

/*
 * The recursion guard: the pipeline gives every command it runs
 * DEVSYS_PIPELINE_DEPTH (lib/pipeline/exec.c). Set and not 0, this process
 * runs inside a pipeline's command, e.g. the test stage of a task on
 * devsys itself running devsys's own suite, and a run here would start
 * the pipeline inside itself (docs/pipeline.md, "Self-improvement").
 */
static int refuse_nested(devsys_cli *cli)
{
	const char *depth = getenv("DEVSYS_PIPELINE_DEPTH");
	char msg[512];
	if (!depth || !*depth || strcmp(depth, "0") == 0)
		return 0;
	snprintf(msg, sizeof(msg),
	         "run: refused: DEVSYS_PIPELINE_DEPTH=%.20s says this runs inside a command of a devsys pipeline "
	         "(limit: 0 nested runs), and a run here would recurse into the pipeline; run devsys outside the "
	         "pipeline's commands",
	         depth);
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:{s:s,s:s}}", "error", "code", "nested-run", "message", msg));
	else
		fprintf(stderr, "devsys: %s\n", msg);
	return DEVSYS_EXIT_USAGE;
}

static int cmd_run(devsys_cli *cli, int argc, char **argv)
{
	struct run r;
	devsys_buf bytes = DEVSYS_BUF_INIT;
	const char *file;
	int rc, state;

	memset(&r, 0, sizeof(r));
	r.cli = cli;
	if ((rc = refuse_nested(cli)) != 0)
		return rc;
	if ((rc = devsys_cli_run_many_argv(cli, argc, argv)) >= 0) /* --jobs N, several specs: cmd_queue.c */
		return rc;
	if ((rc = parse_args(&r, argc, argv, &file)) != 0 || (file && (rc = read_spec(&r, file, &bytes)) != 0) ||
	    (rc = devsys_cli_open_workspace(cli, &r.ws)) != 0 ||
	    (r.embedded && (rc = devsys_cli_sample_prepare(cli, r.ws, &bytes)) != 0) || (rc = open_pipeline(&r)) != 0)
		goto out;
	if (r.resume) {
		if (!cli->json)
			printf("devsys run --resume %s (workspace %s)\n", r.resume, devsys_workspace_path(r.ws));
		rc = resume_task(&r);
		goto out;
	}
	if (!cli->json)
		printf("devsys run: %s (workspace %s)\n", r.spec_name, devsys_workspace_path(r.ws));
	if ((rc = validate_stage(&r, &bytes)) != 0)
		goto out;
	state = devsys_store_task_state(r.store, r.id);
	/* a new task, or one registered but never run: run it; else report it as it stands */
	if (r.created || state == DEVSYS_STATE_VALIDATED) {
		rc = devsys_cli_run_pipeline(&r);
	} else {
		devsys_cli_progress_free(r.view);
		r.view = NULL;
		rc = report(&r);
	}
out:
	devsys_cli_progress_free(r.view);
	devsys_buf_dispose(&bytes);
	devsys_pipeline_free(r.pipeline);
	devsys_workspace_free(r.ws);
	unblock_signals(&r);
	return rc;
}

#else

static int cmd_run(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return devsys_cli_usage_error(cli, "devsys run needs the pipeline module in this build");
}

#endif

const devsys_cli_command devsys_cli_run_commands[] = {
	{ "run", "[--config FILE] [SPEC... [--jobs N] | --resume TASK]",
	  "run the main job on a spec: every pipeline stage, with a summary (default: the embedded sample task)", cmd_run },
	{ NULL, NULL, NULL, NULL }
};
