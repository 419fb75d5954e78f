/*
 * The test stage (the testing agent): the spec's tests.command on the
 * step's runner, in the checkout (or an uploaded copy of it on a remote
 * runner), then the JUnit files its tests.junit globs name, taken only from
 * inside the checkout, collected into reports/<run>/ through the record.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"
#include "devsys/report.h"

#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Most bytes of the remote checkout's file listing. */
#define LISTING_MAX ((size_t)16 << 20)

typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

static int list_push(strlist *l, char *owned)
{
	if (!owned)
		return devsys__error_oom();
	if (l->n + 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = devsys__realloc(l->v, cap * sizeof(*v));
		if (!v) {
			devsys__free(owned);
			return devsys__error_oom();
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = owned;
	l->v[l->n] = NULL;
	return 0;
}

static bool list_has(const strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

static void list_free(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		devsys__free(l->v[i]);
	devsys__free(l->v);
	memset(l, 0, sizeof(*l));
}

/* What one run of the stage found out, for task.json's "tests". */
typedef struct test_run {
	const char *checkout;  /* as the repo names it */
	char real[PATH_MAX];   /* its realpath: matches must resolve below it */
	const devsys_node *junit; /* the spec's tests.junit, or NULL */
	struct timespec start; /* reports older than this are stale */
	strlist reports;       /* checkout-relative paths of the fresh reports */
	strlist refused;       /* "path (why)" of matches refused */
	strlist stale;         /* matches older than the run */
	devsys_report *report; /* the parsed reports (totals only) */
	unsigned int run;      /* reports/<run>/, 0: none recorded */
	int exit_code;
	const char *runner_type;
	char status[256];      /* what became of the devsys/tests status */
} test_run;

/* ---- the command ---- */

static int tests_argv(strlist *argv, const devsys_spec *spec, const devsys_node *cmd)
{
	int rc = 0;
	for (size_t i = 0; i < devsys_node_size(cmd) && rc == 0; i++) {
		const char *a = devsys_node_string(devsys_node_at(cmd, i), NULL);
		rc = a ? list_push(argv, devsys__strdup(a))
		       : devsys__error_set(DEVSYS_EINVALID, "%s: /tests/command/%zu is not a string", devsys_spec_name(spec), i);
	}
	if (rc == 0 && argv->n == 0)
		rc = devsys__error_set(DEVSYS_EINVALID, "%s: /tests/command is empty", devsys_spec_name(spec));
	return rc;
}

/*
 * The environment is explicit, never inherited: the tests run the agent's
 * code, which must not find the operator's tokens. tests.env, the task
 * facts, and (on this machine) the task's own HOME.
 */
static int tests_env(strlist *env, devsys__stage_ctx *c, const char *cwd, bool local)
{
	const devsys_node *e = devsys_node_get(devsys_spec_at(c->p->spec, 0), "/tests/env");
	devsys_buf home = DEVSYS_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; e && i < devsys_node_size(e) && rc == 0; i++) {
		const char *v = devsys_node_string(devsys_node_at(e, i), NULL);
		rc = v ? list_push(env, devsys__asprintf("%s=%s", devsys_node_key_at(e, i), v))
		       : devsys__error_set(DEVSYS_EINVALID, "%s: /tests/env/%s is not a string", devsys_spec_name(c->p->spec),
		                           devsys_node_key_at(e, i));
	}
	if (rc == 0 && (rc = list_push(env, devsys__asprintf("DEVSYS_TASK_ID=%s", c->p->task_id))) == 0)
		rc = list_push(env, devsys__asprintf("DEVSYS_CHECKOUT=%s", cwd));
	if (rc == 0 && local && (rc = devsys_task_path_join(&home, c->task, "home")) == 0 &&
	    (rc = devsys__mkdir_p(home.ptr, 0700)) == 0)
		rc = list_push(env, devsys__asprintf("HOME=%s", home.ptr));
	devsys_buf_dispose(&home);
	return rc;
}

/* ---- the reports, inside the checkout only ---- */

static bool older(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* @p pattern below @p dir, with the directory's glob characters escaped. */
static char *glob_pattern(const char *dir, const char *pattern)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	for (const char *s = dir; *s; s++) {
		if (strchr("*?[]\\", *s))
			devsys_buf_put(&b, "\\", 1);
		devsys_buf_put(&b, s, 1);
	}
	devsys_buf_printf(&b, "/%s", pattern);
	return b.ptr; /* NULL: out of memory */
}

/* Sort one glob match into reports, refused or stale (or a directory: skipped). */
static int take_match(test_run *t, const char *path, const strlist *fresh)
{
	char real[PATH_MAX];
	const char *rel = path + strlen(t->checkout) + 1;
	size_t n = strlen(t->real);
	struct stat st;
	if (!realpath(path, real))
		return list_push(&t->refused, devsys__asprintf("%s (cannot be resolved: %s)", rel, strerror(errno)));
	if (strncmp(real, t->real, n) != 0 || real[n] != '/')
		return list_push(&t->refused, devsys__asprintf("%s (resolves to '%s', outside the checkout)", rel, real));
	if (stat(real, &st) != 0 || S_ISDIR(st.st_mode))
		return 0;
	if (!S_ISREG(st.st_mode))
		return list_push(&t->refused, devsys__asprintf("%s (not a regular file)", rel));
	if (list_has(&t->reports, rel))
		return 0;
	if (fresh ? !list_has(fresh, rel) : older(&st.st_mtim, &t->start))
		return list_push(&t->stale, devsys__strdup(rel));
	return list_push(&t->reports, devsys__strdup(rel));
}

/* A directory the glob names but that is not there is no match; others are errors. */
static int glob_error(const char *path, int err)
{
	(void)path;
	return err != ENOENT && err != ENOTDIR;
}

/*
 * Expand the tests.junit globs in the checkout (glob(3): '*' stays within
 * one directory). A match that resolves outside the checkout is refused,
 * symlinks included. @p fresh: take only these paths (downloaded from a
 * remote runner); NULL: take files written since the run started.
 */
static int expand_junit(test_run *t, const strlist *fresh)
{
	int rc = 0;
	for (size_t i = 0; i < devsys_node_size(t->junit) && rc == 0; i++) {
		const char *g = devsys_node_string(devsys_node_at(t->junit, i), NULL);
		char *pat = g ? glob_pattern(t->checkout, g) : NULL;
		glob_t gl;
		int grc;
		if (!pat)
			return g ? devsys__error_oom() : devsys__error_set(DEVSYS_EINVALID, "/tests/junit/%zu is not a string", i);
		grc = glob(pat, 0, glob_error, &gl);
		devsys__free(pat);
		if (grc == GLOB_NOSPACE)
			rc = devsys__error_oom();
		else if (grc == GLOB_ABORTED)
			rc = devsys__error_set(DEVSYS_EIO, "cannot read the checkout '%s' for tests.junit '%s'", t->checkout, g);
		for (size_t k = 0; grc == 0 && k < gl.gl_pathc && rc == 0; k++)
			rc = take_match(t, gl.gl_pathv[k], fresh);
		if (grc == 0)
			globfree(&gl);
	}
	return rc;
}

/* The globs, quoted and joined, for messages. */
static void globs_text(devsys_buf *out, const devsys_node *junit)
{
	for (size_t i = 0; i < devsys_node_size(junit); i++)
		devsys_buf_printf(out, "%s'%s'", i ? ", " : "", devsys_node_string(devsys_node_at(junit, i), NULL));
}

/* ---- a remote runner: upload the checkout, download the reports ---- */

struct listing {
	devsys_buf buf;
	bool over;
};

static int listing_line(int stream, const char *data, size_t len, void *payload)
{
	struct listing *l = payload;
	if (stream != DEVSYS_RUNNER_STDOUT)
		return 0;
	if (l->buf.size + len > LISTING_MAX) {
		l->over = true;
		return 1;
	}
	return devsys_buf_put(&l->buf, data, len) < 0;
}

static bool glob_matches(const devsys_node *junit, const char *rel)
{
	for (size_t i = 0; i < devsys_node_size(junit); i++) {
		const char *g = devsys_node_string(devsys_node_at(junit, i), NULL);
		if (g && fnmatch(g, rel, FNM_PATHNAME | FNM_PERIOD) == 0)
			return true;
	}
	return false;
}

/* A short helper command on the runner (not the user's: no log, no progress). */
static int remote_exec(devsys_runner *r, const char *const *argv, const char *cwd, struct listing *out)
{
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	int rc;
	cmd.argv = argv;
	cmd.cwd = cwd;
	cmd.timeout_ms = 120000;
	if (out) {
		cmd.output_cb = listing_line;
		cmd.output_payload = out;
	}
	rc = devsys_runner_exec(r, &cmd, &rr);
	if (out && out->over)
		rc = devsys__error_set(DEVSYS_ELIMIT, "the file listing of '%s' on the %s runner is over %zu bytes", cwd,
		                       devsys_runner_type(r), LISTING_MAX);
	else if (rc == 0 && rr.failure != DEVSYS_RUNNER_OK)
		rc = devsys__error_set(DEVSYS_ESYSTEM, "'%s' in '%s' on the %s runner failed (exit %d): %.200s", argv[0], cwd,
		                       devsys_runner_type(r), rr.exit_code, rr.tail ? rr.tail : "");
	devsys_runner_result_dispose(&rr);
	return rc;
}

/* The copy's reports from an earlier run would look fresh after upload: remove them there. */
static int remove_uploaded_reports(devsys_runner *r, const char *rdir, const strlist *old)
{
	strlist argv = { 0 };
	int rc;
	if (old->n == 0)
		return 0;
	if ((rc = list_push(&argv, devsys__strdup("rm"))) == 0 && (rc = list_push(&argv, devsys__strdup("-f"))) == 0)
		rc = list_push(&argv, devsys__strdup("--"));
	for (size_t i = 0; i < old->n && rc == 0; i++)
		rc = list_push(&argv, devsys__strdup(old->v[i]));
	if (rc == 0)
		rc = remote_exec(r, (const char *const *)argv.v, rdir, NULL);
	list_free(&argv);
	return rc;
}

/* Fetch one remote report to the same place in the local checkout, never through a link. */
static int fetch_report(devsys_runner *r, const char *rdir, test_run *t, const char *rel)
{
	devsys__beneath b = { .fd = -1 };
	char *remote = devsys__asprintf("%s/%s", rdir, rel), *local = devsys__asprintf("%s/%s", t->checkout, rel);
	char *parent = devsys__strdup(rel), *slash;
	int rc;
	if (!remote || !local || !parent) {
		rc = devsys__error_oom();
		goto out;
	}
	if ((slash = strrchr(parent, '/')))
		*slash = '\0';
	if ((rc = devsys__beneath_open(&b, t->checkout, 0)) == 0 &&
	    (!slash || (rc = devsys__beneath_mkdir(NULL, &b, parent, 0755)) == 0))
		rc = devsys_runner_download(r, remote, local);
out:
	devsys__beneath_close(&b);
	devsys__free(remote);
	devsys__free(local);
	devsys__free(parent);
	return rc;
}

/* List the remote checkout's files and download the ones the globs match. */
static int download_reports(devsys_runner *r, const char *rdir, test_run *t, strlist *fetched)
{
	static const char *const find[] = { "find", ".", "-path", "./.git", "-prune", "-o", "-type", "f", "-print", NULL };
	struct listing l = { DEVSYS_BUF_INIT, false };
	char *line, *save = NULL;
	int rc;
	if ((rc = remote_exec(r, find, rdir, &l)) < 0 || !l.buf.ptr) {
		devsys_buf_dispose(&l.buf);
		return rc;
	}
	for (line = strtok_r(l.buf.ptr, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		const char *rel = strncmp(line, "./", 2) == 0 ? line + 2 : line;
		if (!glob_matches(t->junit, rel))
			continue;
		if (!devsys__relpath_is_safe(rel))
			rc = list_push(&t->refused, devsys__asprintf("%s (an unsafe path from the runner)", rel));
		else if ((rc = fetch_report(r, rdir, t, rel)) == DEVSYS_EPATH)
			rc = list_push(&t->refused, devsys__asprintf("%s (%s)", rel, devsys_error_message(devsys_error_last())));
		else if (rc == 0)
			rc = list_push(fetched, devsys__strdup(rel));
	}
	devsys_buf_dispose(&l.buf);
	return rc;
}

/* ---- recording ---- */

static json_t *string_array(const strlist *l)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

/* task.json's "tests" and a "tests.run" event with the same facts. */
static int record_summary(devsys__stage_ctx *c, test_run *t, const char *outcome, int exit_known)
{
	const devsys_report *rep = t->report;
	devsys_record *rec = NULL;
	json_t *j = json_pack("{s:s,s:s,s:b,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:s}", "outcome", outcome, "runner",
	                      t->runner_type ? t->runner_type : "none", "junit", t->junit != NULL, "run",
	                      t->run ? json_integer(t->run) : json_null(), "exit_code",
	                      exit_known ? json_integer(t->exit_code) : json_null(), "tests",
	                      (json_int_t)(rep ? devsys_report_tests(rep) : 0), "passed",
	                      (json_int_t)(rep ? devsys_report_count(rep, DEVSYS_REPORT_PASSED) : 0), "failed",
	                      (json_int_t)(rep ? devsys_report_count(rep, DEVSYS_REPORT_FAILED) : 0), "errors",
	                      (json_int_t)(rep ? devsys_report_count(rep, DEVSYS_REPORT_ERROR) : 0), "skipped",
	                      (json_int_t)(rep ? devsys_report_count(rep, DEVSYS_REPORT_SKIPPED) : 0), "reports",
	                      string_array(&t->reports), "refused", string_array(&t->refused), "stale",
	                      string_array(&t->stale), "status", t->status);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc;
	json_decref(j);
	if (!s)
		return devsys__error_oom();
	if ((rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_set_json(rec, "tests", s)) == 0 &&
	    (rc = devsys_record_save(rec)) == 0)
		rc = devsys_record_event(rec, "tests.run", s, NULL);
	devsys_record_free(rec);
	free(s);
	return rc;
}

/* Parse the fresh reports (totals only) and copy them into reports/<run>/. */
static int record_reports(devsys__stage_ctx *c, test_run *t)
{
	devsys_report_options ro = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_record *rec = NULL;
	devsys_buf path = DEVSYS_BUF_INIT;
	int rc;
	ro.flags = DEVSYS_REPORT_NO_CASES;
	if ((rc = devsys_report_new(&t->report)) < 0)
		return rc;
	for (size_t i = 0; i < t->reports.n && rc == 0; i++) {
		devsys_buf_clear(&path);
		if ((rc = devsys_buf_printf(&path, "%s/%s", t->checkout, t->reports.v[i])) == 0 &&
		    (rc = devsys_report_add_junit(t->report, path.ptr, &ro)) == 0)
			devsys__pipeline_emit(c->p, DEVSYS_PIPELINE_EVENT_PROGRESS, "test", NULL, "tests", 5,
			                      devsys_report_tests(t->report), 0);
	}
	if (rc == 0 && (rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_run_begin(rec, &t->run)) == 0) {
		for (size_t i = 0; i < t->reports.n && rc == 0; i++) {
			devsys_buf_clear(&path);
			if ((rc = devsys_buf_printf(&path, "%s/%s", t->checkout, t->reports.v[i])) == 0)
				rc = devsys_record_run_add_junit(rec, t->run, path.ptr);
		}
		if (rc == 0)
			rc = devsys_record_run_complete(rec, t->run);
		/* the store's index of runs, so the store and the files agree (devsys check) */
		if (rc == 0)
			rc = devsys_store_run_record(c->p->store, c->p->task_id, t->run);
	}
	if (rc == 0)
		devsys__pipeline_emit(c->p, DEVSYS_PIPELINE_EVENT_PROGRESS, "test", NULL, "tests", 5,
		                      devsys_report_tests(t->report), devsys_report_tests(t->report));
	devsys_record_free(rec);
	devsys_buf_dispose(&path);
	return rc;
}

/* The devsys/tests status; a forge that has none is noted, not a failure. */
static void set_status(devsys__stage_ctx *c, test_run *t, bool green, const char *description)
{
	int rc = devsys__pipeline_set_status(c, "devsys/tests", green ? DEVSYS_CHECK_SUCCESS : DEVSYS_CHECK_FAILURE,
	                                     description);
	if (rc == 0)
		snprintf(t->status, sizeof(t->status), "set: %s", green ? "success" : "failure");
	else
		snprintf(t->status, sizeof(t->status), "%s: %.200s",
		         rc == DEVSYS_ENOTSUPPORTED ? "no forge status" : "not set",
		         devsys_error_message(devsys_error_last()));
}

/* ---- the stage ---- */

/* End the stage with @p outcome: the summary first, then the status, then the end. */
static int finish(devsys__stage_ctx *c, test_run *t, int rc, int fclass, const char *outcome, bool exit_known)
{
	char msg[1024], desc[140];
	int wrc;
	const devsys_report *rep = t->report;
	snprintf(msg, sizeof(msg), "%s", rc < 0 ? devsys_error_message(devsys_error_last()) : "");
	if (rep)
		snprintf(desc, sizeof(desc), "%zu passed, %zu failed, %zu errors, %zu skipped",
		         devsys_report_count(rep, DEVSYS_REPORT_PASSED), devsys_report_count(rep, DEVSYS_REPORT_FAILED),
		         devsys_report_count(rep, DEVSYS_REPORT_ERROR), devsys_report_count(rep, DEVSYS_REPORT_SKIPPED));
	else
		snprintf(desc, sizeof(desc), "%s%s", outcome, exit_known && t->exit_code ? " (non-zero exit)" : "");
	if (strcmp(outcome, "no-tests") == 0)
		snprintf(t->status, sizeof(t->status), "not set: the spec has no tests");
	else
		set_status(c, t, fclass == DEVSYS_FAILURE_NONE, desc);
	if ((wrc = record_summary(c, t, outcome, exit_known)) < 0 && fclass == DEVSYS_FAILURE_NONE)
		return devsys__pipeline_end(c, "test", wrc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	if (rc < 0)
		devsys__error_set(rc, "%s", msg); /* the summary's writes may have touched the error */
	return devsys__pipeline_end(c, "test", rc, fclass, outcome, fclass == DEVSYS_FAILURE_NONE ? DEVSYS_STATE_TESTED : -1);
}

/* Judge the reports of a command that ran to its end. */
static int judge(devsys__stage_ctx *c, test_run *t)
{
	devsys_buf where = DEVSYS_BUF_INIT;
	size_t bad;
	int rc;
	if (!t->junit) {
		if (t->exit_code == 0)
			return finish(c, t, 0, DEVSYS_FAILURE_NONE, "exit-code-only", true);
		return finish(c, t,
		              devsys__error_set(DEVSYS_ERROR, "the test command exited %d (the spec sets no tests.junit: the "
		                                              "exit code alone decides); see logs/test.log",
		                                t->exit_code),
		              DEVSYS_FAILURE_BUILD, "tests-failed", true);
	}
	if (t->refused.n) {
		rc = devsys__error_set(DEVSYS_EPATH, "tests.junit: refused %s%s: a report must be a file inside the checkout",
		                       t->refused.v[0], t->refused.n > 1 ? " and more (see task.json tests.refused)" : "");
		return finish(c, t, rc, DEVSYS_FAILURE_BUILD, "junit-refused", true);
	}
	if (t->reports.n == 0) {
		globs_text(&where, t->junit);
		rc = devsys__error_set(DEVSYS_ENOTFOUND, "the test command (exit %d) produced no JUnit report: searched %s in "
		                                         "'%s'%s; see logs/test.log",
		                       t->exit_code, where.ptr ? where.ptr : "", t->checkout,
		                       t->stale.n ? " (only reports older than this run matched)" : "");
		devsys_buf_dispose(&where);
		return finish(c, t, rc, DEVSYS_FAILURE_BUILD, "no-junit", true);
	}
	if ((rc = record_reports(c, t)) < 0)
		return finish(c, t, rc, rc == DEVSYS_EPARSE || rc == DEVSYS_ELIMIT ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM,
		              rc == DEVSYS_EPARSE || rc == DEVSYS_ELIMIT ? "junit-invalid" : "record-failed", true);
	bad = devsys_report_count(t->report, DEVSYS_REPORT_FAILED) + devsys_report_count(t->report, DEVSYS_REPORT_ERROR);
	if (bad)
		return finish(c, t,
		              devsys__error_set(DEVSYS_ERROR, "%zu of %zu tests failed (%zu failed, %zu errors, %zu passed); see "
		                                              "reports/%u/ and logs/test.log",
		                                bad, devsys_report_tests(t->report),
		                                devsys_report_count(t->report, DEVSYS_REPORT_FAILED),
		                                devsys_report_count(t->report, DEVSYS_REPORT_ERROR),
		                                devsys_report_count(t->report, DEVSYS_REPORT_PASSED), t->run),
		              DEVSYS_FAILURE_BUILD, "tests-failed", true);
	if (t->exit_code != 0)
		return finish(c, t,
		              devsys__error_set(DEVSYS_ERROR, "the test command exited %d although its JUnit reports (reports/%u/) "
		                                              "show no failure; see logs/test.log",
		                                t->exit_code, t->run),
		              DEVSYS_FAILURE_BUILD, "tests-failed", true);
	return finish(c, t, 0, DEVSYS_FAILURE_NONE, "tests-passed", true);
}

/* On a remote runner: the copy of the checkout there, with no stale report in it. */
static int stage_remote(devsys__stage_ctx *c, devsys_runner *r, test_run *t, char **rdir)
{
	strlist old = { 0 };
	const char *wd;
	int rc;
	*rdir = NULL;
	if ((rc = devsys_runner_prepare(r, c->task)) < 0)
		return rc;
	if (!(wd = devsys_runner_workdir(r, c->task)))
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "the %s runner has no working directory to upload the "
		                                               "checkout to",
		                         devsys_runner_type(r));
	if (!(*rdir = devsys__asprintf("%s/checkout", wd)))
		return devsys__error_oom();
	if ((rc = devsys_runner_upload(r, t->checkout, *rdir)) < 0)
		return rc;
	/* what the globs match now was uploaded, so it is not this run's */
	if (t->junit && (rc = expand_junit(t, NULL)) == 0) {
		for (size_t i = 0; i < t->stale.n && rc == 0; i++)
			rc = list_push(&old, devsys__strdup(t->stale.v[i]));
		for (size_t i = 0; i < t->reports.n && rc == 0; i++)
			rc = list_push(&old, devsys__strdup(t->reports.v[i]));
		if (rc == 0)
			rc = remove_uploaded_reports(r, *rdir, &old);
		list_free(&t->stale);
		list_free(&t->reports);
		list_free(&t->refused);
	}
	list_free(&old);
	return rc;
}

static void now_coarse(struct timespec *ts)
{
	/* file times come from the kernel's coarse clock: compare with the same */
#ifdef CLOCK_REALTIME_COARSE
	if (clock_gettime(CLOCK_REALTIME_COARSE, ts) == 0)
		return;
#endif
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec -= 1;
}

/* The outcome of a command the runner stopped before it ended by itself. */
static const char *stopped_outcome(int fclass)
{
	return fclass == DEVSYS_FAILURE_TIMEOUT    ? "tests-timeout"
	       : fclass == DEVSYS_FAILURE_STALLED  ? "tests-stalled"
	       : fclass == DEVSYS_FAILURE_CANCELED ? "canceled"
	                                           : "tests-not-run";
}

/* Run the command on @p r and collect its reports; ends the stage. */
static int run_tests(devsys__stage_ctx *c, devsys_runner *r, test_run *t, const devsys_node *command)
{
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	strlist argv = { 0 }, env = { 0 }, fetched = { 0 };
	bool remote = strcmp(t->runner_type, "inproc") != 0;
	char *rdir = NULL;
	unsigned int ms = 0;
	int rc, fclass;

	if ((rc = tests_argv(&argv, c->p->spec, command)) < 0 ||
	    ((rc = devsys_spec_timeout_ms(c->p->spec, 0, "tests", &ms)) < 0 && rc != DEVSYS_ENOTFOUND)) {
		rc = finish(c, t, rc, DEVSYS_FAILURE_BUILD, "tests-refused", false);
		goto out;
	}
	if ((remote && (rc = stage_remote(c, r, t, &rdir)) < 0) ||
	    (rc = tests_env(&env, c, remote ? rdir : t->checkout, !remote)) < 0) {
		if (remote)
			devsys__pool_failed(c->p, r, rc); /* the host broke before the command ran */
		rc = finish(c, t, rc, DEVSYS_FAILURE_SYSTEM, "tests-not-run", false);
		goto out;
	}
	cmd.argv = (const char *const *)argv.v;
	cmd.env = (const char *const *)env.v;
	cmd.cwd = remote ? rdir : t->checkout;
	cmd.timeout_ms = ms;
	cmd.task = c->task; /* output: logs/test.log; stdin: empty */
	cmd.stage = "test";
	now_coarse(&t->start);
	rc = devsys__pipeline_exec(c, r, &cmd, &rr);
	t->exit_code = rr.exit_code;
	fclass = devsys__pipeline_failure_of_runner(rr.failure);
	if (rr.failure == DEVSYS_RUNNER_NOT_RUN)
		rc = finish(c, t, rc < 0 ? rc : devsys__error_set(DEVSYS_ERROR, "the test command was not run"),
		            DEVSYS_FAILURE_BUILD, "tests-refused", false);
	else if (fclass != DEVSYS_FAILURE_NONE && fclass != DEVSYS_FAILURE_BUILD)
		rc = finish(c, t, rc < 0 ? rc : devsys__error_set(DEVSYS_ESYSTEM, "the test command %s; see logs/test.log",
		                                                   devsys_runner_failure_name(rr.failure)),
		            fclass, stopped_outcome(fclass), false);
	else if (t->junit && remote && (rc = download_reports(r, rdir, t, &fetched)) < 0) {
		devsys__pool_failed(c->p, r, rc); /* the host broke before its reports came back */
		rc = finish(c, t, rc, DEVSYS_FAILURE_SYSTEM, "tests-not-run", true);
	} else if (t->junit && (rc = expand_junit(t, remote ? &fetched : NULL)) < 0)
		rc = finish(c, t, rc, DEVSYS_FAILURE_SYSTEM, "record-failed", true);
	else
		rc = judge(c, t);
	devsys_runner_result_dispose(&rr);
out:
	if (remote)
		devsys_runner_cleanup(r, c->task); /* never changes the result */
	list_free(&argv);
	list_free(&env);
	list_free(&fetched);
	devsys__free(rdir);
	return rc;
}

int devsys__stage_test(devsys__stage_ctx *c)
{
	const devsys_node *doc, *tests;
	devsys_runner *r = NULL;
	test_run t;
	int rc;

	if ((rc = devsys__pipeline_begin(c, "test")) < 0)
		return rc;
	memset(&t, 0, sizeof(t));
	doc = devsys_spec_at(c->p->spec, 0);
	if (!(tests = devsys_node_get(doc, "/tests")))
		return finish(c, &t, 0, DEVSYS_FAILURE_NONE, "no-tests", false);
	t.junit = devsys_node_get(tests, "/junit");
	if ((rc = devsys__pipeline_repo(c)) < 0)
		return finish(c, &t, rc, DEVSYS_FAILURE_SYSTEM, "tests-not-run", false);
	t.checkout = devsys_repo_checkout_path(c->repo);
	if (!realpath(t.checkout, t.real))
		return finish(c, &t, devsys__error_errno(DEVSYS_EIO, errno, "cannot resolve the checkout '%s'", t.checkout),
		              DEVSYS_FAILURE_SYSTEM, "tests-not-run", false);
	if ((rc = devsys__pipeline_open_runner(&r, c->p, "tests")) < 0)
		/* a profile the spec names but the operator's config lacks is the spec's fault */
		return finish(c, &t, rc,
		              rc == DEVSYS_ENOTFOUND || rc == DEVSYS_EINVALID ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM,
		              "tests-not-run", false);
	t.runner_type = devsys_runner_type(r);
	rc = run_tests(c, r, &t, devsys_node_get(tests, "/command"));
	devsys_runner_free(r);
	devsys_report_free(t.report);
	list_free(&t.reports);
	list_free(&t.refused);
	list_free(&t.stale);
	return rc;
}
