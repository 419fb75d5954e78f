/*
 * The verify stage: after delivery, check again what the task claims and
 * write the answers to task.json ("verification") and devsys/verify. It
 * changes no state: the gate runs next when it ended ok.
 */
#include "core/core.h"
#include "pipeline_int.h"
#include "devsys/record.h"
#include "verify_hook.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What verify found, item by item; a NULL "why" means the item holds. */
typedef struct verdict {
	json_t *doc;          /* the "verification" object */
	char failed[1024];    /* the items that failed, for the message */
} verdict;

static void fail_item(verdict *v, const char *item, const char *why)
{
	size_t n = strlen(v->failed);
	snprintf(v->failed + n, sizeof(v->failed) - n, "%s%s: %s", n ? "; " : "", item, why);
}

/* Read a file of the task folder as JSON (NULL: absent or unreadable, with @p why set). */
static json_t *task_json_file(devsys_task *task, const char *rel, char *why, size_t whysz)
{
	devsys_buf path = DEVSYS_BUF_INIT, bytes = DEVSYS_BUF_INIT;
	json_error_t err;
	json_t *j = NULL;
	int rc;
	if ((rc = devsys_task_path_join(&path, task, rel)) == 0 &&
	    (rc = devsys__read_file(&bytes, path.ptr, (size_t)16 << 20)) == 0 &&
	    !(j = json_loadb(bytes.ptr ? bytes.ptr : "", bytes.size, 0, &err)))
		snprintf(why, whysz, "%s is not JSON: %s", rel, err.text);
	else if (rc == DEVSYS_ENOTFOUND)
		snprintf(why, whysz, "%s is missing", rel);
	else if (rc < 0)
		snprintf(why, whysz, "%s cannot be read: %s", rel, devsys_error_message(devsys_error_last()));
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&bytes);
	return j;
}

/* The kept spec bytes, loaded and validated again against the schema. */
static void check_spec(verdict *v, devsys__stage_ctx *c)
{
	devsys_buf path = DEVSYS_BUF_INIT, bytes = DEVSYS_BUF_INIT;
	char why[512] = "";
	int rc;
	if ((rc = devsys_task_path_join(&path, c->task, c->p->spec_kept)) == 0 &&
	    (rc = devsys__read_file(&bytes, path.ptr, (size_t)16 << 20)) == 0)
		rc = devsys_spec_validate_buffer(NULL, NULL, bytes.ptr ? bytes.ptr : "", bytes.size, c->p->spec_kept, NULL);
	if (rc < 0)
		snprintf(why, sizeof(why), "%s", devsys_error_message(devsys_error_last()));
	json_object_set_new(v->doc, "spec_revalidated", json_boolean(rc == 0));
	if (rc < 0)
		fail_item(v, "spec_revalidated", why);
	devsys_buf_dispose(&path);
	devsys_buf_dispose(&bytes);
}

/* A check passed when it says so: "passed" or "ok" true, or "result"/"status" "passed"/"ok". */
static int check_passed(const json_t *chk)
{
	const json_t *b = json_object_get(chk, "passed");
	const char *s;
	if (!b)
		b = json_object_get(chk, "ok");
	if (json_is_boolean(b))
		return json_is_true(b);
	s = json_string_value(json_object_get(chk, "result"));
	if (!s)
		s = json_string_value(json_object_get(chk, "status"));
	if (s)
		return strcmp(s, "passed") == 0 || strcmp(s, "ok") == 0;
	return -1; /* says nothing */
}

/* The checks of reports/acceptance.json: an array, or an object with "checks" / "results". */
static const json_t *acceptance_checks(const json_t *doc)
{
	if (json_is_array(doc))
		return doc;
	if (json_is_array(json_object_get(doc, "checks")))
		return json_object_get(doc, "checks");
	return json_object_get(doc, "results");
}

/* Every acceptance check the deploy stage ran passed? (skipped: no deploy.) */
static void check_acceptance(verdict *v, devsys__stage_ctx *c, int state)
{
	const devsys_node *acc = devsys_node_get(devsys_spec_at(c->p->spec, 0), "/deploy/acceptance");
	char why[512] = "";
	json_t *doc;
	const json_t *checks;
	size_t npass = 0, n;
	int all;
	if (state == DEVSYS_STATE_DEPLOY_SKIPPED) {
		json_object_set_new(v->doc, "acceptance", json_string("skipped"));
		return;
	}
	if (!(doc = task_json_file(c->task, "reports/acceptance.json", why, sizeof(why)))) {
		if (!acc || devsys_node_size(acc) == 0) { /* a deploy with no checks to run */
			json_object_set_new(v->doc, "acceptance", json_string("no checks"));
			return;
		}
		json_object_set_new(v->doc, "acceptance", json_false());
		fail_item(v, "acceptance", why);
		return;
	}
	checks = acceptance_checks(doc);
	n = json_array_size(checks);
	all = json_is_object(doc) ? check_passed(doc) : -1;
	for (size_t i = 0; i < n; i++)
		npass += check_passed(json_array_get(checks, i)) == 1;
	if (all < 0 && checks)
		all = npass == n;
	if (all < 0)
		snprintf(why, sizeof(why), "reports/acceptance.json says neither whether it passed nor lists its checks");
	else if (!all)
		snprintf(why, sizeof(why), "%zu of %zu checks passed (reports/acceptance.json)", npass, n);
	json_object_set_new(v->doc, "acceptance", json_boolean(all == 1));
	if (all != 1)
		fail_item(v, "acceptance", why);
	json_decref(doc);
}

/* The test stage's latest run: no failed or erroring case. null: the spec asks for no JUnit. */
static void check_junit(verdict *v, devsys__stage_ctx *c, const json_t *tests)
{
	char rel[64], why[512] = "";
	json_int_t run = json_integer_value(json_object_get(tests, "run"));
	json_t *sum;
	if (!devsys_node_get(devsys_spec_at(c->p->spec, 0), "/tests/junit")) {
		json_object_set_new(v->doc, "junit_green", json_null());
		return;
	}
	if (run <= 0) {
		json_object_set_new(v->doc, "junit_green", json_false());
		fail_item(v, "junit_green", "the test stage recorded no JUnit run (task.json tests.run)");
		return;
	}
	snprintf(rel, sizeof(rel), "reports/%lld/summary.json", (long long)run);
	if ((sum = task_json_file(c->task, rel, why, sizeof(why)))) {
		json_int_t total = json_integer_value(json_object_get(sum, "tests"));
		json_int_t bad = json_integer_value(json_object_get(sum, "failed")) +
		                 json_integer_value(json_object_get(sum, "errors"));
		if (bad || total == 0)
			snprintf(why, sizeof(why), "%s: %lld of %lld tests failed or erred", rel, (long long)bad,
			         (long long)total);
	}
	json_object_set_new(v->doc, "junit_green", json_boolean(!why[0]));
	if (why[0])
		fail_item(v, "junit_green", why);
	json_decref(sum);
}

/* Set by the speckit module's init hook, which devsys_init() runs before any pipeline can exist;
 * read-only afterwards, so no lock. The atomics still order a re-init (after a full shutdown)
 * against a stage of another thread. */
static devsys__pipeline_speckit_verifier_fn feature_checker;

void devsys__pipeline_set_speckit_verifier(devsys__pipeline_speckit_verifier_fn fn)
{
	__atomic_store_n(&feature_checker, fn, __ATOMIC_RELEASE);
}

static int open_checkout(devsys_repo **repo, void *payload)
{
	devsys__stage_ctx *c = payload;
	int rc = devsys__pipeline_repo(c);
	*repo = rc == 0 ? c->repo : NULL;
	return rc;
}

/* The linked spec-kit feature, checked by the module that knows it; a build without it says so. */
static void check_speckit(verdict *v, devsys__stage_ctx *c)
{
	const devsys_node *link = devsys_node_get(devsys_spec_at(c->p->spec, 0), "/speckit");
	devsys__pipeline_speckit_verifier_fn check = __atomic_load_n(&feature_checker, __ATOMIC_ACQUIRE);
	char why[600] = "";
	if (!link || !check) {
		json_object_set_new(v->doc, "speckit",
		                    json_string(link ? "linked, not checked: this build has no speckit module" : "not linked"));
		return;
	}
	check(why, sizeof(why), v->doc, link, open_checkout, c);
	if (why[0])
		fail_item(v, "speckit", why);
}

/* task.json's @p key ("tests", "deploy"), written by an earlier stage (NULL: none). */
static json_t *recorded(devsys_task *task, const char *key)
{
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	json_t *doc = NULL, *tests = NULL;
	if (devsys_record_open(&rec, task) == 0 && devsys_record_json(rec, &j) == 0 &&
	    (doc = json_loads(j.ptr ? j.ptr : "{}", 0, NULL)))
		tests = json_incref(json_object_get(doc, key));
	json_decref(doc);
	devsys_buf_dispose(&j);
	devsys_record_free(rec);
	return tests;
}

static int record_verdict(devsys_task *task, const verdict *v)
{
	devsys_record *rec = NULL;
	char *s = json_dumps(v->doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc;
	if (!s)
		return devsys__error_oom();
	if ((rc = devsys_record_open(&rec, task)) == 0 && (rc = devsys_record_set_json(rec, "verification", s)) == 0 &&
	    (rc = devsys_record_save(rec)) == 0)
		rc = devsys_record_event(rec, "verification", s, NULL);
	devsys_record_free(rec);
	free(s);
	return rc;
}

/* The devsys/verify status; a forge without statuses is noted in the verdict. */
static void set_status(verdict *v, devsys__stage_ctx *c, bool ok)
{
	char st[256];
	int rc = devsys__pipeline_set_status(c, "devsys/verify", ok ? DEVSYS_CHECK_SUCCESS : DEVSYS_CHECK_FAILURE,
	                                     ok ? "verified" : "verification failed");
	if (rc == 0)
		snprintf(st, sizeof(st), "set: %s", ok ? "success" : "failure");
	else
		snprintf(st, sizeof(st), "%s: %.200s", rc == DEVSYS_ENOTSUPPORTED ? "no forge status" : "not set",
		         devsys_error_message(devsys_error_last()));
	json_object_set_new(v->doc, "status", json_string(st));
}

/*
 * Delivery is verified: stop the service the deploy stage left running
 * (deploy.c; a no-op when it started none or it was stopped already).
 * 0, or the stop's error (the verdict says "not stopped").
 */
static int stop_service(verdict *v, devsys__stage_ctx *c)
{
	json_t *d = recorded(c->task, "deploy");
	bool running = json_object_get(d, "service") && !json_is_true(json_object_get(d, "stopped"));
	int rc = devsys__pipeline_stop_service(c);
	json_decref(d);
	json_object_set_new(v->doc, "service", json_string(!running ? "none" : rc == 0 ? "stopped" : "not stopped"));
	return rc;
}

/*
 * The PR's body gets the verdict (pr.c reads it from task.json). A forge
 * that cannot be reached does not undo the verdict: the event says so, and
 * the gate's update sends the body again.
 */
static int update_pr(devsys__stage_ctx *c)
{
	devsys_record *rec = NULL;
	char ev[768];
	int rc, up = devsys__pipeline_pr_update(c, "");
	json_t *j = json_pack("{s:s,s:s?}", "pr_body", up == 0 ? "updated" : "not updated", "error",
	                      up == 0 ? NULL : devsys_error_message(devsys_error_last()));
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return devsys__error_oom();
	snprintf(ev, sizeof(ev), "%s", s);
	free(s);
	if ((rc = devsys_record_open(&rec, c->task)) == 0)
		rc = devsys_record_event(rec, "verification.pr", ev, NULL);
	devsys_record_free(rec);
	return rc;
}

int devsys__stage_verify(devsys__stage_ctx *c)
{
	verdict v = { NULL, "" };
	json_t *tests;
	char stopmsg[512] = "";
	int rc, src, state = devsys_store_task_state(c->p->store, c->p->task_id);
	bool ok;

	if ((rc = devsys__pipeline_begin(c, "verify")) < 0)
		return rc;
	if (!(v.doc = json_object()))
		return devsys__pipeline_end(c, "verify", devsys__error_oom(), DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	tests = recorded(c->task, "tests");
	check_spec(&v, c);
	check_acceptance(&v, c, state);
	check_junit(&v, c, tests);
	check_speckit(&v, c);
	ok = v.failed[0] == '\0';
	json_object_set_new(v.doc, "verified", json_boolean(ok));
	set_status(&v, c, ok);
	if ((src = stop_service(&v, c)) < 0)
		snprintf(stopmsg, sizeof(stopmsg), "%s", devsys_error_message(devsys_error_last()));
	rc = record_verdict(c->task, &v);
	json_decref(tests);
	json_decref(v.doc);
	if (rc < 0)
		return devsys__pipeline_end(c, "verify", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	if ((rc = update_pr(c)) < 0)
		return devsys__pipeline_end(c, "verify", rc, DEVSYS_FAILURE_SYSTEM, "record-failed", -1);
	if (src < 0)
		return devsys__pipeline_end(c, "verify", devsys__error_set(src, "verify: %s", stopmsg), DEVSYS_FAILURE_SYSTEM,
		                            "service-not-stopped", -1);
	if (!ok)
		return devsys__pipeline_end(c, "verify", devsys__error_set(DEVSYS_ERROR, "verification failed: %s", v.failed),
		                            DEVSYS_FAILURE_BUILD, "verification-failed", -1);
	return devsys__pipeline_end(c, "verify", 0, DEVSYS_FAILURE_NONE, "verified", -1);
}
