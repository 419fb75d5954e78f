/* The per-task record: task.json, events.jsonl, runs, latest, kill -9. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/record.h>

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FIX DEVSYS_SOURCE_DIR "/tests/report/fixtures"

static char *dir;
static devsys_workspace *ws;
static devsys_task *task;
static devsys_record *rec;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("record");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_task_open(&task, ws, "t1", DEVSYS_TASK_CREATE), 0);
	cr_assert_eq(devsys_record_open(&rec, task), 0);
}

static void teardown(void)
{
	devsys_record_free(rec);
	devsys_task_free(task);
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(record, .init = setup, .fini = teardown);

static json_t *load(const char *rel)
{
	char p[4096];
	json_error_t e;
	json_t *j;
	snprintf(p, sizeof(p), "%s/%s", devsys_task_path(task), rel);
	j = json_load_file(p, 0, &e);
	cr_assert_not_null(j, "%s: %s", rel, e.text);
	return j;
}

Test(record, task_json_fields_and_stages)
{
	json_t *j, *s;
	cr_assert_eq(devsys_record_set_string(rec, "spec_path", "specs/t1.yaml"), 0);
	cr_assert_eq(devsys_record_set_string(rec, "spec_hash", "sha256:abc"), 0);
	cr_assert_eq(devsys_record_set_json(rec, "validation", "{\"valid\":true,\"errors\":[]}"), 0);
	cr_assert_eq(devsys_record_set_repo_url(rec, "https://bot:ghp_SECRETTOKEN@github.example/o/r.git?access_token=x2"),
	             0);
	cr_assert_eq(devsys_record_set_string(rec, "branch", "task/t1"), 0);
	cr_assert_eq(devsys_record_set_int(rec, "pr_number", 42), 0);
	cr_assert_eq(devsys_record_stage_begin(rec, "test"), 0);
	cr_assert_eq(devsys_record_stage_end(rec, "test", "failed", "build"), 0);
	cr_assert_eq(devsys_record_stage_end(rec, "deploy", "skipped", NULL), 0);
	cr_assert_eq(devsys_record_save(rec), 0);
	j = load("task.json");
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "t1");
	cr_assert_str_eq(json_string_value(json_object_get(j, "repo_url")), "https://github.example/o/r.git");
	cr_assert_eq(json_integer_value(json_object_get(j, "pr_number")), 42);
	cr_assert(json_is_true(json_object_get(json_object_get(j, "validation"), "valid")));
	s = json_object_get(json_object_get(j, "stages"), "test");
	cr_assert_str_eq(json_string_value(json_object_get(s, "result")), "failed");
	cr_assert_str_eq(json_string_value(json_object_get(s, "failure_class")), "build");
	cr_assert(json_string_value(json_object_get(s, "start")) && json_string_value(json_object_get(s, "end")));
	json_decref(j);
	{
		cr_assert_eq(dt_sh("grep -r SECRETTOKEN '%s' >/dev/null", devsys_task_path(task)), 1,
		             "a credential reached the record");
	}
	/* reopening loads the saved document */
	devsys_record_free(rec);
	cr_assert_eq(devsys_record_open(&rec, task), 0);
	{
		devsys_buf b = DEVSYS_BUF_INIT;
		cr_assert_eq(devsys_record_json(rec, &b), 0);
		cr_assert(strstr(b.ptr, "\"pr_number\": 42"));
		devsys_buf_dispose(&b);
	}
}

Test(record, the_spec_is_kept_with_its_content_id)
{
	static const char spec[] = "id: t1\ntitle: keep me\n";
	char p[4200];
	json_t *j;
	cr_assert_eq(devsys_record_set_spec(rec, "spec.yaml", spec, strlen(spec)), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_record_save(rec), 0);
	snprintf(p, sizeof(p), "%s/spec.yaml", devsys_task_path(task));
	char *kept = dt_read_file(p, NULL);
	cr_assert_str_eq(kept, spec);
	j = load("task.json");
	cr_assert_str_eq(json_string_value(json_object_get(j, "spec_path")), "spec.yaml");
	/* the id is core's own hashing now: it needs no git module, only git to compare with */
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed: cannot compare the content id with git hash-object");
	free(git);
	{
		int st;
		char want[128], *hash = dt_sh_output(&st, "git hash-object '%s'", p);
		cr_assert_eq(st, 0);
		hash[strcspn(hash, "\n")] = '\0';
		snprintf(want, sizeof(want), "sha1:%s", hash);
		cr_assert_str_eq(json_string_value(json_object_get(j, "spec_hash")), want);
		free(hash);
	}
	json_decref(j);
	free(kept);
	cr_assert_eq(devsys_record_set_spec(rec, "../spec.yaml", spec, 3), DEVSYS_EPATH);
	cr_assert_eq(devsys_record_set_spec(rec, "a/b.yaml", spec, 3), DEVSYS_EPATH);
	cr_assert_eq(devsys_record_set_spec(rec, "x.yaml", NULL, 3), DEVSYS_EINVAL);
}

Test(record, bad_fields_and_stages)
{
	cr_assert_eq(devsys_record_set_string(rec, "id", "x"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_set_string(rec, "state", "x"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_set_string(rec, "Bad-Key", "x"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_set_json(rec, "v", "{not json"), DEVSYS_EPARSE);
	cr_assert_eq(devsys_record_stage_begin(rec, "com/pile"), DEVSYS_EINVAL, "not a built-in or added stage's name");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "validate checkout agent"));
	cr_assert_eq(devsys_record_stage_begin(rec, "compile-added-by-an-embedder"), 0, "an added stage's name");
	cr_assert_eq(devsys_record_stage_end(rec, "test", "meh", NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_stage_end(rec, "test", "failed", "cosmic"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_stage_check("gate"), 0);
	cr_assert_eq(devsys_record_event(rec, "x", "[1,", NULL), DEVSYS_EPARSE);
}

Test(record, damaged_task_json_is_eparse)
{
	char p[4096];
	devsys_record *r2 = NULL;
	snprintf(p, sizeof(p), "%s/task.json", devsys_task_path(task));
	cr_assert(dt_write_file(p, "{\"id\": \"t1\", trunc"));
	cr_assert_eq(devsys_record_open(&r2, task), DEVSYS_EPARSE);
	cr_assert_null(r2);
}

Test(record, events_have_increasing_seq_and_ts)
{
	uint64_t seq = 0;
	char p[4096];
	FILE *f;
	char line[4096];
	unsigned long long expect = 1;
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(devsys_record_event(rec, "state", "{\"to\":\"validated\"}", &seq), 0);
		cr_assert_eq(seq, (uint64_t)i + 1);
	}
	/* a torn last line (crash mid-append) is left alone, the next event starts on a new line */
	snprintf(p, sizeof(p), "%s/events.jsonl", devsys_task_path(task));
	f = fopen(p, "a");
	fputs("{\"seq\":6,\"ts\":\"2026-", f);
	fclose(f);
	cr_assert_eq(devsys_record_event(rec, "after-crash", NULL, &seq), 0);
	cr_assert_eq(seq, 6);
	f = fopen(p, "r");
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		if (!j) {
			cr_assert(strstr(line, "2026-") && expect == 6, "only the torn line may be unparsable");
			continue;
		}
		cr_assert_eq((unsigned long long)json_integer_value(json_object_get(j, "seq")), expect);
		cr_assert_not_null(json_string_value(json_object_get(j, "ts")));
		expect++;
		json_decref(j);
	}
	fclose(f);
	cr_assert_eq(expect, 7);
}

/*
 * Two tears in a row (a writer killed mid-append, then the next one killed
 * after ending the torn line) must not make the third skip a number; a whole
 * line that lost only its newline is committed, so its seq is not reused.
 */
Test(record, two_tears_and_a_lost_newline_keep_seq_dense)
{
	uint64_t seq = 0;
	char p[4096];
	FILE *f;
	for (int i = 0; i < 5; i++)
		cr_assert_eq(devsys_record_event(rec, "state", NULL, &seq), 0);
	snprintf(p, sizeof(p), "%s/events.jsonl", devsys_task_path(task));
	f = fopen(p, "a");
	fputs("{\"seq\":6,\"ts\":\"2026-\n{\"seq\":6,\"ts\":\"2026-12", f);
	fclose(f);
	cr_assert_eq(devsys_record_event(rec, "after-two-tears", NULL, &seq), 0);
	cr_assert_eq(seq, 6, "two torn lines made the writer skip to %llu", (unsigned long long)seq);
	f = fopen(p, "a");
	fputs("{\"seq\":7,\"ts\":\"2026-12-01T00:00:00.000Z\",\"type\":\"whole\"}", f);
	fclose(f);
	cr_assert_eq(devsys_record_event(rec, "after-lost-newline", NULL, &seq), 0);
	cr_assert_eq(seq, 8, "a whole line without its newline was not counted (next seq %llu)", (unsigned long long)seq);
	size_t len = 0;
	char *text = dt_read_file(p, &len);
	cr_assert(text && len > 0 && text[len - 1] == '\n');
	cr_assert(strstr(text, "\"type\":\"whole\"}\n{\"seq\":8"), "the whole line was not ended before the next event");
	free(text);
}

static void events_from_children(int n_children, int per_child)
{
	for (int c = 0; c < n_children; c++) {
		pid_t pid = fork();
		if (pid == 0) {
			for (int i = 0; i < per_child; i++)
				if (devsys_record_event(rec, "child", NULL, NULL) != 0)
					_exit(1);
			_exit(0);
		}
	}
	for (int c = 0; c < n_children; c++) {
		int st;
		cr_assert_gt(wait(&st), 0);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

Test(record, events_from_several_processes_keep_unique_seq)
{
	char p[4096];
	char *out;
	int st;
	events_from_children(4, 25);
	snprintf(p, sizeof(p), "%s/events.jsonl", devsys_task_path(task));
	out = dt_sh_output(&st, "grep -o '\"seq\":[0-9]*' '%s' | sort -t: -k2 -n | uniq | wc -l", p);
	cr_assert_eq(atoi(out), 100, "unique seqs: %s", out);
	free(out);
}

Test(record, run_collect_complete_latest)
{
	unsigned int run = 0, latest = 0, run2 = 0;
	char src[4096];
	json_t *sum;
	cr_assert_eq(devsys_record_latest_run(task, &latest), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_record_run_begin(rec, &run), 0);
	cr_assert_eq(run, 1);
	snprintf(src, sizeof(src), "%s/go.xml", devsys_task_path(task));
	cr_assert_eq(dt_sh("cp '%s/go-junit-report.xml' '%s'", FIX, src), 0);
	cr_assert_eq(devsys_record_run_add_junit(rec, run, src), 0);
	cr_assert_eq(devsys_record_run_add_junit(rec, run, src), 0, "same name twice is made unique");
	snprintf(src, sizeof(src), "%s/TEST-x.xml", dir);
	cr_assert_eq(dt_sh("cp '%s/surefire-TEST-com.example.CalculatorTest.xml' '%s'", FIX, src), 0);
	cr_assert_eq(devsys_record_run_add_junit(rec, run, src), 0);
	cr_assert_eq(devsys_record_latest_run(task, &latest), DEVSYS_ENOTFOUND, "latest moves only on completion");
	cr_assert_eq(devsys_record_run_complete(rec, run), 0);
	cr_assert_eq(devsys_record_latest_run(task, &latest), 0);
	cr_assert_eq(latest, 1);
	sum = load("reports/1/summary.json");
	cr_assert_eq(json_integer_value(json_object_get(sum, "tests")), 13);
	cr_assert_eq(json_integer_value(json_object_get(sum, "failed")), 3);
	cr_assert_eq(json_array_size(json_object_get(sum, "sources")), 3);
	cr_assert_eq(json_integer_value(json_object_get(sum, "run")), 1);
	json_decref(sum);
	cr_assert(dt_exists(devsys_task_path(task)));
	{
		char p[4096];
		snprintf(p, sizeof(p), "%s/reports/1/junit.xml", devsys_task_path(task));
		cr_assert(dt_exists(p));
	}
	cr_assert_eq(devsys_record_run_begin(rec, &run2), 0);
	cr_assert_eq(run2, 2);
	cr_assert_eq(devsys_record_latest_run(task, &latest), 0);
	cr_assert_eq(latest, 1);
	cr_assert_eq(devsys_record_run_complete(rec, 99), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_record_write_acceptance(rec, "{\"passed\":true}"), 0);
	sum = load("reports/acceptance.json");
	cr_assert(json_is_true(json_object_get(sum, "passed")));
	json_decref(sum);
	{
		devsys_buf lp = DEVSYS_BUF_INIT;
		cr_assert_eq(devsys_record_log_path(&lp, rec, "test"), 0);
		cr_assert(strstr(lp.ptr, "/tasks/t1/logs/test.log"));
		cr_assert_eq(devsys_record_log_path(&lp, rec, "../x"), DEVSYS_EINVAL);
		devsys_buf_dispose(&lp);
	}
}

Test(record, report_symlink_out_of_workspace_is_refused)
{
	unsigned int run;
	char outside[4096], link[4096], *other;
	cr_assert_eq(devsys_record_run_begin(rec, &run), 0);
	other = dt_tmpdir("record-outside");
	snprintf(outside, sizeof(outside), "%s/junit.xml", other);
	cr_assert_eq(dt_sh("cp '%s/go-junit-report.xml' '%s'", FIX, outside), 0);
	snprintf(link, sizeof(link), "%s/evil.xml", devsys_task_path(task));
	cr_assert_eq(symlink(outside, link), 0);
	cr_assert_eq(devsys_record_run_add_junit(rec, run, link), DEVSYS_EPATH);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "outside the workspace"));
	cr_assert_eq(devsys_record_run_add_junit(rec, run, "/etc/passwd"), DEVSYS_EPATH);
	cr_assert_eq(dt_sh("test -z \"$(ls -A '%s/reports/%u/junit')\"", devsys_task_path(task), run), 0,
	             "nothing was copied");
	dt_rmrf(other);
	free(other);
}

Test(record, invalid_report_is_not_collected)
{
	unsigned int run;
	char src[4096];
	cr_assert_eq(devsys_record_run_begin(rec, &run), 0);
	snprintf(src, sizeof(src), "%s/bad.xml", devsys_task_path(task));
	cr_assert(dt_write_file(src, "<testsuite><testcase name='x'>"));
	cr_assert_eq(devsys_record_run_add_junit(rec, run, src), DEVSYS_EPARSE);
	cr_assert_eq(dt_sh("test -z \"$(ls -A '%s/reports/%u/junit')\"", devsys_task_path(task), run), 0);
}

/* After a writer died at an arbitrary point, the record must be whole. */
static void check_consistent(unsigned int *max_latest)
{
	unsigned int latest;
	int rc = devsys_record_latest_run(task, &latest);
	devsys_record *r2 = NULL;
	cr_assert(rc == 0 || rc == DEVSYS_ENOTFOUND, "latest: %s", devsys_error_message(devsys_error_last()));
	if (rc == 0) {
		char rel[64];
		json_t *sum;
		snprintf(rel, sizeof(rel), "reports/%u/summary.json", latest);
		sum = load(rel);
		cr_assert_eq((unsigned int)json_integer_value(json_object_get(sum, "tests")), latest % 50 + 1,
		             "run %u: summary does not match its report", latest);
		cr_assert_eq((unsigned int)json_integer_value(json_object_get(sum, "failed")), (latest % 50) / 3 + 1);
		json_decref(sum);
		cr_assert_geq(latest, *max_latest, "latest went backwards");
		*max_latest = latest;
	}
	cr_assert_eq(devsys_record_open(&r2, task), 0, "task.json: %s", devsys_error_message(devsys_error_last()));
	devsys_record_free(r2);
}

/*
 * What events.jsonl may hold after writers were killed at any moment, by the
 * design of devsys__record_event_task (lib/record/record.c): each event is one
 * compact line, {"seq":N,"ts":"<ISO-8601 ms>","type":T,"data":D}, with N =
 * the last complete line's seq + 1, appended under flock in one write. A kill
 * mid-write leaves a torn line: a proper prefix of such a line, with no
 * newline. The next writer skips it, starts with a newline and reuses its
 * seq. So:
 *  - a parsed line is exactly a writer's line, its seq one more than the last
 *    parsed one (strictly rising, and no event lost);
 *  - an unparsable line is a non-empty proper prefix of the line that would
 *    have carried the next seq;
 *  - the next parsed line after it reuses that seq.
 * In the kill loop the only event is the writer's "run-complete" {"ok":true}.
 */
#define EV_TS "####-##-##T##:##:##.###Z"

/* Does s[0..n) match the writer's event line with @p seq ('#' in the template: any digit)? */
static bool ev_shape(const char *s, size_t n, unsigned long long seq, bool prefix)
{
	char t[256];
	size_t tn = (size_t)snprintf(t, sizeof(t), "{\"seq\":%llu,\"ts\":\"" EV_TS
	                                            "\",\"type\":\"run-complete\",\"data\":{\"ok\":true}}",
	                             seq);
	if (prefix ? (n == 0 || n >= tn) : n != tn)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] == '#' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != t[i])
			return false;
	return true;
}

/*
 * Check a whole events file against the rules above. Returns NULL when it
 * holds, else what broke (in @p why); counts torn lines that a later event
 * followed in *torn_mid.
 */
static const char *events_check(const char *text, size_t len, unsigned *torn_mid, char *why, size_t why_len)
{
	unsigned long long prev = 0;
	bool torn = false;
	size_t lineno = 0;
	*torn_mid = 0;
	for (size_t pos = 0; pos < len; lineno++) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *line = strndup(text + pos, n);
		json_t *j = json_loads(line, 0, NULL);
		free(line);
		if (j) {
			unsigned long long seq = (unsigned long long)json_integer_value(json_object_get(j, "seq"));
			json_decref(j);
			if (torn && seq != prev + 1) {
				snprintf(why, why_len, "line %zu: seq %llu after a torn line, which held seq %llu", lineno + 1,
				         seq, prev + 1);
				return why;
			}
			if (seq != prev + 1) {
				snprintf(why, why_len, "line %zu: seq %llu after %llu (must rise by one)", lineno + 1, seq, prev);
				return why;
			}
			if (!ev_shape(text + pos, n, seq, false)) {
				snprintf(why, why_len, "line %zu: not a line the writer writes: %.*s", lineno + 1, (int)n,
				         text + pos);
				return why;
			}
			prev = seq;
			torn = false;
		} else {
			if (!ev_shape(text + pos, n, prev + 1, true)) {
				snprintf(why, why_len, "line %zu: unparsable and not a prefix of event %llu: %.*s", lineno + 1,
				         prev + 1, (int)n, text + pos);
				return why;
			}
			if (nl)
				(*torn_mid)++;
			torn = true;
		}
		pos += n + (nl ? 1 : 0);
	}
	return NULL;
}

/* Append the writer's event @p seq to @p out, cut to @p keep bytes (its whole line with -1). */
static void ev_append(char *out, size_t size, unsigned long long seq, int keep)
{
	char l[256];
	int n = snprintf(l, sizeof(l), "{\"seq\":%llu,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\","
	                               "\"data\":{\"ok\":true}}\n",
	                 seq);
	size_t at = strlen(out);
	snprintf(out + at, size - at, "%.*s", keep < 0 ? n : keep, l);
}

/* The checker passes the file the design allows and fails each kind of corruption. */
Test(record, events_check_accepts_torn_lines_and_nothing_else)
{
	char why[512], good[2048] = "";
	unsigned mid = 0;
	/* 1, 2, a torn 3 (ended by the next writer's newline), 3 again, 4, and a torn 5 at the end */
	ev_append(good, sizeof(good), 1, -1);
	ev_append(good, sizeof(good), 2, -1);
	ev_append(good, sizeof(good), 3, 30);
	strcat(good, "\n");
	ev_append(good, sizeof(good), 3, -1);
	ev_append(good, sizeof(good), 4, -1);
	ev_append(good, sizeof(good), 5, 9);
	cr_assert_null(events_check(good, strlen(good), &mid, why, sizeof(why)), "%s", why);
	cr_assert_eq(mid, 1);
	const char *bad[][2] = {
		{ "{\"seq\":1,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\",\"data\":{\"ok\":true}}\n"
		  "garbage\n",
		  "not a prefix" },
		{ "{\"seq\":1,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\",\"data\":{\"ok\":true}}\n"
		  "{\"seq\":2,\"ts\":\"2026-12-01T07:0\n"
		  "{\"seq\":3,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\",\"data\":{\"ok\":true}}\n",
		  "after a torn line" },
		{ "{\"seq\":1,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\",\"data\":{\"ok\":true}}\n"
		  "{\"seq\":1,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\",\"data\":{\"ok\":true}}\n",
		  "must rise" },
		{ "{\"seq\":1,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\",\"data\":{\"ok\":false}}\n",
		  "not a line the writer writes" },
		{ "{\"seq\":1,\"ts\":\"2026-12-01T07:01:04.123Z\",\"type\":\"run-complete\",\"data\":{\"ok\":true}}\n"
		  "{\"seq\":3,\"ts\":\"2026-\n",
		  "not a prefix of event 2" },
		{ "\n", "not a prefix" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *w = events_check(bad[i][0], strlen(bad[i][0]), &mid, why, sizeof(why));
		cr_assert_not_null(w, "corruption %zu passed", i);
		cr_assert_not_null(strstr(w, bad[i][1]), "corruption %zu: %s", i, w);
	}
}

/* Is the line before offset @p start (the start of a line) a complete event? */
static bool prev_line_whole(char *text, size_t start)
{
	if (start == 0)
		return true;
	text[start - 1] = '\0';
	char *nl = start > 1 ? strrchr(text, '\n') : NULL;
	json_t *j = json_loads(nl ? nl + 1 : text, 0, NULL);
	text[start - 1] = '\n';
	json_decref(j);
	return j != NULL;
}

/*
 * Cut the last line of events.jsonl as a kill mid-append would (keeping 1..n-1
 * of its n bytes before the newline). Only one tear at a time: the line before
 * must be whole, so that events_check() can tell each torn line from the event
 * that follows it (two tears in a row are tested on their own in
 * two_tears_and_a_lost_newline_keep_seq_dense); and the file must have grown
 * since the last cut. Returns 1 when it cut.
 */
static int tear_last_event(const char *path, off_t *last_cut_size)
{
	size_t len = 0;
	char *text = dt_read_file(path, &len);
	int cut = 0;
	if (text && len > 1 && text[len - 1] == '\n' && (off_t)len > *last_cut_size) {
		char *prev_nl = memrchr(text, '\n', len - 1);
		size_t start = prev_nl ? (size_t)(prev_nl - text) + 1 : 0, n = len - 1 - start;
		if (n > 1 && prev_line_whole(text, start)) {
			off_t keep = (off_t)(start + 1 + (size_t)rand() % (n - 1));
			cr_assert_eq(truncate(path, keep), 0);
			*last_cut_size = keep;
			cut = 1;
		}
	}
	free(text);
	return cut;
}

Test(record, kill_9_loop_leaves_old_or_new_latest, .timeout = 120)
{
	const char *writer = getenv("RECORD_WRITER");
	unsigned int max_latest = 0, completed = 0, planted = 0;
	off_t last_cut = 0;
	char events[4096];
	struct timespec ts;
	cr_assert_not_null(writer);
	snprintf(events, sizeof(events), "%s/events.jsonl", devsys_task_path(task));
	srand((unsigned int)getpid());
	for (int i = 0; i < 40; i++) {
		char *argv[] = { (char *)writer, dir, "t1", NULL };
		pid_t pid = dt_spawn(argv, NULL);
		int st;
		cr_assert_gt(pid, 0);
		/* Every 8th writer first completes a run of its own (polled, 30 s
		 * deadline), so runs complete however slow the build (ASan) is... */
		if (i % 8 == 0) {
			unsigned int before = max_latest, now = 0;
			for (int tries = 0; tries < 3000; tries++) {
				if (devsys_record_latest_run(task, &now) == 0 && now > before)
					break;
				ts.tv_sec = 0;
				ts.tv_nsec = 10 * 1000000L;
				nanosleep(&ts, NULL);
			}
			cr_assert_gt(now, before, "writer %d completed no run in 30 s", i);
		}
		/* ...then every writer is killed at a random moment: this delay is
		 * the point of the test, not a wait for a condition. */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(rand() % 100 + 5) * 1000000L;
		nanosleep(&ts, NULL);
		cr_assert_eq(kill(pid, SIGKILL), 0);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st), "the writer exited by itself (status %d): it failed", st);
		check_consistent(&max_latest);
		/* a kill rarely lands inside a small write(): every 4th round also leaves a torn line as one would */
		if (i % 4 == 1)
			planted += (unsigned)tear_last_event(events, &last_cut);
	}
	completed = max_latest;
	cr_assert_gt(completed, 3, "the writers completed too few runs (%u) to test anything", completed);
	/* one more writer, killed only once events.jsonl has grown, so the last torn line is followed and the
	 * check below is never vacuous */
	{
		char *argv[] = { (char *)writer, dir, "t1", NULL };
		struct stat sb;
		off_t before = stat(events, &sb) == 0 ? sb.st_size : 0;
		int st, tries = 0;
		pid_t pid = dt_spawn(argv, NULL);
		while (!(stat(events, &sb) == 0 && sb.st_size > before) && tries++ < 3000) {
			ts.tv_sec = 0;
			ts.tv_nsec = 10 * 1000000L; /* polling for a condition, with a 30 s deadline */
			nanosleep(&ts, NULL);
		}
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		cr_assert(stat(events, &sb) == 0 && sb.st_size > before, "the writer wrote no event in 30 s");
		check_consistent(&max_latest);
	}
	/* events.jsonl holds what the design allows and nothing more */
	{
		char why[1024];
		size_t len = 0;
		unsigned torn_mid = 0;
		char *text = dt_read_file(events, &len);
		cr_assert_not_null(text);
		const char *w = events_check(text, len, &torn_mid, why, sizeof(why));
		cr_assert_null(w, "events.jsonl: %s", w);
		cr_assert_geq(planted, 1, "no torn line was left to test");
		cr_assert_geq(torn_mid, planted, "%u torn lines were left, %u seen followed by an event", planted, torn_mid);
		free(text);
	}
}

/* The git facts a caller hands over after a git step: task.json and one event. */
Test(record, a_git_step_sets_the_facts_and_appends_its_event)
{
	static const char sha1[] = "1111111111111111111111111111111111111111", sha2[] = "2222222222222222222222222222222222222222";
	json_t *j;
	cr_assert_eq(devsys_record_git_step(rec, "git.checkout", "https://bot:tok-SECRET@git.example/o/r.git", "task/t1",
	                                    "main", sha1, sha1),
	             0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_record_git_step(rec, "git.push", NULL, "task/t1", "main", sha1, sha2), 0);
	j = load("task.json");
	cr_assert_str_eq(json_string_value(json_object_get(j, "repo_url")), "https://git.example/o/r.git");
	cr_assert_str_eq(json_string_value(json_object_get(j, "branch")), "task/t1");
	cr_assert_str_eq(json_string_value(json_object_get(j, "base_branch")), "main");
	cr_assert_str_eq(json_string_value(json_object_get(j, "base_sha")), sha1);
	cr_assert_str_eq(json_string_value(json_object_get(j, "head_sha")), sha2, "the later step's head wins");
	json_decref(j);
	char p[4200];
	snprintf(p, sizeof(p), "%s/events.jsonl", devsys_task_path(task));
	char *ev = dt_read_file(p, NULL);
	cr_assert(ev && strstr(ev, "\"type\":\"git.checkout\",\"data\":{\"branch\":\"task/t1\",\"head_sha\":\"1111"), "%s",
	          ev ? ev : "(none)");
	cr_assert(strstr(ev, "\"type\":\"git.push\",\"data\":{\"branch\":\"task/t1\",\"head_sha\":\"2222"), "%s", ev);
	cr_assert_null(strstr(ev, "SECRET"));
	free(ev);
	/* bad input changes nothing */
	cr_assert_eq(devsys_record_git_step(rec, "git.merge", NULL, "task/t1", NULL, NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_git_step(rec, "git.push", NULL, NULL, NULL, NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_git_step(rec, "git.push", NULL, "task/\xff", NULL, NULL, sha1), DEVSYS_EINVAL);
	j = load("task.json");
	cr_assert_str_eq(json_string_value(json_object_get(j, "branch")), "task/t1");
	json_decref(j);
}

Test(record, events_since_gives_whole_events_after_a_seq)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	uint64_t last = 99;
	char p[4200];
	/* no events yet: empty, not an error; last is the seq asked for */
	cr_assert_eq(devsys_record_events_since(&out, &last, task, 0, 0), 0);
	cr_assert_eq(out.size, 0);
	cr_assert_eq(last, 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(devsys_record_event(rec, i % 2 ? "odd" : "even", "{\"i\":1}", NULL), 0);
	snprintf(p, sizeof(p), "%s/events.jsonl", devsys_task_path(task));
	FILE *f = fopen(p, "a");
	fputs("{\"seq\":6,\"ts\":\"torn\n{\"seq\":7,\"ts\":\"still being writ", f); /* a torn line, then a partial one */
	fclose(f);
	cr_assert_eq(devsys_record_events_since(&out, &last, task, 2, 0), 0);
	cr_assert_eq(last, 5);
	/* exactly seq 3, 4, 5, each a whole line as the file holds it */
	size_t lines = 0;
	for (size_t i = 0; i < out.size; i++)
		lines += out.ptr[i] == '\n';
	cr_assert_eq(lines, 3, "%s", out.ptr);
	cr_assert(strncmp(out.ptr, "{\"seq\":3,", 9) == 0, "%s", out.ptr);
	cr_assert(strstr(out.ptr, "{\"seq\":5,") && !strstr(out.ptr, "torn") && !strstr(out.ptr, "\"seq\":2,"), "%s",
	          out.ptr);
	/* a limit */
	cr_assert_eq(devsys_record_events_since(&out, &last, task, 0, 2), 0);
	cr_assert_eq(last, 2);
	cr_assert(strstr(out.ptr, "\"seq\":2,") && !strstr(out.ptr, "\"seq\":3,"), "%s", out.ptr);
	/* nothing newer */
	cr_assert_eq(devsys_record_events_since(&out, &last, task, 5, 0), 0);
	cr_assert_eq(out.size, 0);
	cr_assert_eq(last, 5);
	cr_assert_eq(devsys_record_events_since(NULL, NULL, task, 0, 0), DEVSYS_EINVAL);
	devsys_buf_dispose(&out);
}

Test(record, paths_of_the_record_files)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	char want[4300];
	struct {
		devsys_record_file f;
		unsigned int run;
		const char *stage, *rel;
	} cases[] = { { DEVSYS_RECORD_FILE_TASK_JSON, 0, NULL, "task.json" },
		      { DEVSYS_RECORD_FILE_EVENTS, 0, NULL, "events.jsonl" },
		      { DEVSYS_RECORD_FILE_REPORTS, 0, NULL, "reports" },
		      { DEVSYS_RECORD_FILE_LATEST, 0, NULL, "reports/latest" },
		      { DEVSYS_RECORD_FILE_ACCEPTANCE, 0, NULL, "reports/acceptance.json" },
		      { DEVSYS_RECORD_FILE_RUN_SUMMARY, 3, NULL, "reports/3/summary.json" },
		      { DEVSYS_RECORD_FILE_RUN_JUNIT, 12, NULL, "reports/12/junit.xml" },
		      { DEVSYS_RECORD_FILE_LOG, 0, "deploy", "logs/deploy.log" } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(devsys_record_path(&b, task, cases[i].f, cases[i].run, cases[i].stage), 0, "%s",
		             devsys_error_message(devsys_error_last()));
		snprintf(want, sizeof(want), "%s/%s", devsys_task_path(task), cases[i].rel);
		cr_assert_str_eq(b.ptr, want);
	}
	snprintf(want, sizeof(want), "%s/logs", devsys_task_path(task));
	cr_assert_not(dt_exists(want), "asking for a path creates nothing");
	cr_assert_eq(devsys_record_path(&b, task, DEVSYS_RECORD_FILE_RUN_JUNIT, 0, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_path(&b, task, DEVSYS_RECORD_FILE_LOG, 0, "../x"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_record_path(&b, task, (devsys_record_file)99, 0, NULL), DEVSYS_EINVAL);
	devsys_buf_dispose(&b);
}

#ifdef DEVSYS_HAVE_MODULE_SECRETS
/* The ready-made secrets event callback: the resolution joins events.jsonl, the value never does. */
Test(record, secret_resolutions_join_the_task_events_through_the_callback)
{
	devsys_secrets_options so = DEVSYS_SECRETS_OPTIONS_INIT;
	devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
	devsys_secrets *s = NULL;
	const char *v = NULL;
	char p[4200];
	setenv("REC_SECRET_T", "rec-secret-value-1234", 1);
	so.event_cb = devsys_record_secret_event;
	cr_assert_eq(devsys_secrets_new(&s, &so), 0);
	d.name = "tok";
	d.provider = "env";
	d.ref = "REC_SECRET_T";
	cr_assert_eq(devsys_secrets_define(s, &d), 0);
	cr_assert_eq(devsys_secrets_resolve(s, "tok", task, "pr", &v, NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(v, "rec-secret-value-1234");
	cr_assert_eq(devsys_secrets_resolve(s, "tok", NULL, "pr", &v, NULL), 0, "without a task: nothing to record");
	snprintf(p, sizeof(p), "%s/events.jsonl", devsys_task_path(task));
	char *ev = dt_read_file(p, NULL);
	cr_assert(ev && strstr(ev, "\"type\":\"secret.resolve\",\"data\":{\"name\":\"tok\",\"provider\":\"env\","
	                           "\"task\":\"t1\",\"stage\":\"pr\""),
	          "%s", ev ? ev : "(none)");
	cr_assert_null(strstr(ev, "rec-secret-value"));
	free(ev);
	snprintf(p, sizeof(p), "%s/events.audit.jsonl", devsys_task_path(task));
	cr_assert_not(dt_exists(p), "with an event callback the secrets module writes no file of its own");
	devsys_secrets_free(s);
	unsetenv("REC_SECRET_T");
}
#endif

/* The case JSON the CLI and devsysd both give comes from devsys_report_cases_json(). */
Test(record, the_case_json_of_a_report)
{
	devsys_report *r = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	json_error_t e;
	cr_assert_eq(devsys_report_parse_junit(&r, FIX "/surefire-TEST-com.example.CalculatorTest.xml", NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_report_cases_json(&b, r), 0);
	json_t *j = json_loads(b.ptr, 0, &e);
	cr_assert(json_is_array(j), "%s: %s", e.text, b.ptr);
	cr_assert_eq(json_array_size(j), devsys_report_case_count(r));
	size_t failed = 0;
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *c = json_array_get(j, i);
		const devsys_report_case *k = devsys_report_case_at(r, i);
		cr_assert_str_eq(json_string_value(json_object_get(c, "name")), k->name, "report order");
		cr_assert_str_eq(json_string_value(json_object_get(c, "classname")), "com.example.CalculatorTest");
		cr_assert_str_eq(json_string_value(json_object_get(c, "suite")), k->suite);
		cr_assert_str_eq(json_string_value(json_object_get(c, "status")), devsys_report_status_name(k->status));
		cr_assert(json_is_number(json_object_get(c, "time")));
		cr_assert_eq(json_object_get(c, "message") != NULL, k->message != NULL, "message only when the case has one");
		if (strcmp(k->name, "divides") == 0) {
			failed++;
			cr_assert_str_eq(json_string_value(json_object_get(c, "message")), "expected: <2> but was: <3>");
			cr_assert_str_eq(json_string_value(json_object_get(c, "type")), "org.opentest4j.AssertionFailedError");
		}
	}
	cr_assert_eq(failed, 1);
	json_decref(j);
	cr_assert_eq(devsys_report_cases_json(&b, NULL), DEVSYS_EINVAL);
	devsys_buf_dispose(&b);
	devsys_report_free(r);
}

typedef struct {
	int n, stop_at;
	uint64_t seqs[8];
	char types[128];
} walk;

static int walk_cb(uint64_t seq, const char *type, const char *line, size_t len, void *payload)
{
	walk *w = payload;
	cr_assert_eq(strlen(line), len, "the line is NUL-terminated at len");
	cr_assert(strncmp(line, "{\"seq\":", 7) == 0 && line[len - 1] == '}', "a whole event line: %s", line);
	if (w->n < 8)
		w->seqs[w->n] = seq;
	w->n++;
	strncat(w->types, type, sizeof(w->types) - strlen(w->types) - 2);
	strcat(w->types, ",");
	return w->stop_at && w->n == w->stop_at;
}

/* devsysd frames server-sent events from this walk: seq and type per event, never a torn line. */
Test(record, events_foreach_gives_seq_type_and_line)
{
	walk w = { 0, 0, { 0 }, "" };
	char p[4200];
	cr_assert_eq(devsys_record_events_foreach(task, 0, 0, walk_cb, &w), 0, "no events yet is fine");
	cr_assert_eq(w.n, 0);
	cr_assert_eq(devsys_record_event(rec, "alpha", NULL, NULL), 0);
	cr_assert_eq(devsys_record_event(rec, "beta", "{\"k\":\"v\"}", NULL), 0);
	cr_assert_eq(devsys_record_event(rec, "gamma", NULL, NULL), 0);
	snprintf(p, sizeof(p), "%s/events.jsonl", devsys_task_path(task));
	FILE *f = fopen(p, "a");
	fputs("{\"seq\":4,\"ts\":\"to", f); /* a writer killed mid-line */
	fclose(f);
	cr_assert_eq(devsys_record_events_foreach(task, 1, 0, walk_cb, &w), 0);
	cr_assert_eq(w.n, 2);
	cr_assert_eq(w.seqs[0], 2);
	cr_assert_eq(w.seqs[1], 3);
	cr_assert_str_eq(w.types, "beta,gamma,");
	/* a callback that stops: DEVSYS_EUSER, and nothing after it is given */
	memset(&w, 0, sizeof(w));
	w.stop_at = 1;
	cr_assert_eq(devsys_record_events_foreach(task, 0, 0, walk_cb, &w), DEVSYS_EUSER);
	cr_assert_eq(w.n, 1);
	/* a limit */
	memset(&w, 0, sizeof(w));
	cr_assert_eq(devsys_record_events_foreach(task, 0, 2, walk_cb, &w), 0);
	cr_assert_eq(w.n, 2);
	cr_assert_eq(devsys_record_events_foreach(task, 0, 0, NULL, NULL), DEVSYS_EINVAL);
}
