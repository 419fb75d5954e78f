/*
 * `devsys speckit sync`: tasks.md ticked from the task records of a real
 * workspace (store, kept specs linked through speckit {feature_dir,
 * task_ids}, JUnit runs), on a copy of the hand-written spec-kit feature in
 * a git work tree; only green tasks' lines change, byte for byte; the JSON
 * status; bad input with its error and nothing changed; a write that fails
 * leaves tasks.md whole.
 */
#include "../git/gitfix.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#define VALID DEVSYS_SOURCE_DIR "/tests/fixtures/speckit/valid/001-photo-albums"

static char *dir, ws_path[4096], feature[4096], tasks_md[4096];

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
	dir = dt_tmpdir("speckit-sync");
	snprintf(ws_path, sizeof(ws_path), "%s/ws", dir);
	snprintf(feature, sizeof(feature), "%s/repo/specs/001-photo-albums", dir);
	snprintf(tasks_md, sizeof(tasks_md), "%s/tasks.md", feature);
	cr_assert_eq(dt_sh("git init -q '%s/repo' && mkdir -p '%s/repo/specs' && cp -r '%s' '%s/repo/specs/'", dir, dir,
	                   VALID, dir),
	             0);
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(speckit_sync, .init = setup, .fini = teardown, .timeout = 120);

static const char *cli(void)
{
	const char *p = getenv("DEVSYS_CLI");
	cr_assert_not_null(p, "DEVSYS_CLI is set by ctest");
	return p;
}

static int run(char **out, const char *args)
{
	int status = -1;
	char *o = dt_sh_output(&status, "'%s' --workspace '%s' %s 2>&1", cli(), ws_path, args);
	cr_assert_not_null(o);
	if (out)
		*out = o;
	else
		free(o);
	return status;
}

/* A devsys task @p id whose kept spec links @p ids of @p fdir, in @p state
 * (through allowed transitions), with one complete run of @p failures
 * failures (-1: no run). */
static void linked_task(devsys_store *st, devsys_workspace *ws, const char *id, const char *fdir, const char *ids,
                        int state, int failures)
{
	cr_assert_eq(devsys_store_task_create(st, id, "spec.yaml"), 0, "%s", gf_err());
	int path[] = { DEVSYS_STATE_VALIDATED, DEVSYS_STATE_CHECKED_OUT, DEVSYS_STATE_CODED, DEVSYS_STATE_COMMITTED,
		       DEVSYS_STATE_PUSHED, DEVSYS_STATE_PR_OPENED, DEVSYS_STATE_TESTED };
	for (size_t i = 0; i < sizeof(path) / sizeof(*path) && state != DEVSYS_STATE_FAILED; i++) {
		cr_assert_eq(devsys_store_transition(st, id, path[i], NULL), 0, "%s", gf_err());
		if (path[i] == state)
			break;
	}
	if (state == DEVSYS_STATE_FAILED)
		cr_assert_eq(devsys_store_transition(st, id, state, NULL), 0, "%s", gf_err());
	devsys_task *t = NULL;
	devsys_record *rec = NULL;
	cr_assert_eq(devsys_task_open(&t, ws, id, 0), 0, "%s", gf_err());
	cr_assert_eq(devsys_record_open(&rec, t), 0, "%s", gf_err());
	char spec[1024];
	int n = snprintf(spec, sizeof(spec),
	                 "id: %s\ntitle: albums\nrepo:\n  url: https://example.com/a.git\n"
	                 "speckit:\n  feature_dir: %s\n  task_ids: [%s]\n",
	                 id, fdir, ids);
	cr_assert_eq(devsys_record_set_spec(rec, "spec.yaml", spec, (size_t)n), 0, "%s", gf_err());
	cr_assert_eq(devsys_record_save(rec), 0, "%s", gf_err());
	if (failures >= 0) {
		char xml[4096], body[1024];
		unsigned run = 0;
		snprintf(xml, sizeof(xml), "%s/%s.xml", ws_path, id);
		snprintf(body, sizeof(body),
		         "<?xml version=\"1.0\"?>\n<testsuite name=\"s\" tests=\"1\" failures=\"%d\" errors=\"0\">\n"
		         "<testcase classname=\"c\" name=\"a\">%s</testcase>\n</testsuite>\n",
		         failures, failures ? "<failure message=\"boom\">boom</failure>" : "");
		cr_assert(dt_write_file(xml, body));
		cr_assert_eq(devsys_record_run_begin(rec, &run), 0, "%s", gf_err());
		cr_assert_eq(devsys_record_run_add_junit(rec, run, xml), 0, "%s", gf_err());
		cr_assert_eq(devsys_record_run_complete(rec, run), 0, "%s", gf_err());
	}
	devsys_record_free(rec);
	devsys_task_free(t);
}

/* The workspace: T004+T005 green, T006 failed, T009 red, T007 pushed (not
 * yet tested), another feature's T010 green, a task that keeps no spec. */
static void workspace(void)
{
	devsys_workspace *ws = gf_workspace(ws_path, NULL);
	devsys_store *st = NULL;
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0, "%s", gf_err());
	linked_task(st, ws, "albums-w02", "specs/001-photo-albums", "T004, T005", DEVSYS_STATE_TESTED, 0);
	linked_task(st, ws, "albums-t006", "specs/001-photo-albums", "T006", DEVSYS_STATE_FAILED, 0);
	linked_task(st, ws, "albums-t009", "./specs/001-photo-albums/", "T009", DEVSYS_STATE_TESTED, 1);
	linked_task(st, ws, "albums-t007", "specs/001-photo-albums", "T007", DEVSYS_STATE_PUSHED, -1);
	linked_task(st, ws, "other-t010", "specs/002-other", "T010", DEVSYS_STATE_TESTED, 0);
	cr_assert_eq(devsys_store_task_create(st, "no-spec", NULL), 0, "%s", gf_err());
	devsys_store_free(st);
	devsys_workspace_free(ws);
}

/* @p text with "- [ ] ID " turned into "- [X] ID " for each id: written
 * here by hand, not by the code under test. */
static char *ticked(const char *text, const char *const *ids, size_t n)
{
	char *s = strdup(text);
	for (size_t i = 0; i < n; i++) {
		char pat[64];
		snprintf(pat, sizeof(pat), "- [ ] %s ", ids[i]);
		char *p = strstr(s, pat);
		cr_assert_not_null(p, "%s in the fixture", ids[i]);
		cr_assert_null(strstr(p + 1, pat), "%s once", ids[i]);
		p[3] = 'X';
	}
	return s;
}

static char *read_tasks(size_t *len)
{
	char *s = dt_read_file(tasks_md, len);
	cr_assert_not_null(s);
	return s;
}

Test(speckit_sync, ticks_only_the_lines_of_green_tasks)
{
	workspace();
	size_t len0 = 0, len = 0;
	char *before = read_tasks(&len0), *out;
	char args[8192];
	snprintf(args, sizeof(args), "speckit sync '%s'", feature);
	cr_assert_eq(run(&out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "T004: devsys task albums-w02 is tested, green\n"), "%s", out);
	cr_assert_not_null(strstr(out, "T006: devsys task albums-t006 is failed\n"), "%s", out);
	cr_assert_not_null(strstr(out, "T009: devsys task albums-t009 is tested\n"), "red tests: %s", out);
	cr_assert_null(strstr(out, "T010"), "another feature's task: %s", out);
	cr_assert_not_null(strstr(out, "marked 2 line(s)"), "%s", out);
	free(out);
	const char *ids[] = { "T004", "T005" };
	char *want = ticked(before, ids, 2);
	char *after = read_tasks(&len);
	cr_assert_eq(len, len0);
	cr_assert(memcmp(after, want, len) == 0, "byte for byte:\n%s", after);
	free(after);

	/* again: nothing left to tick, the file is untouched */
	cr_assert_eq(run(&out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "marked 0 line(s)"), "%s", out);
	free(out);
	after = read_tasks(&len);
	cr_assert(len == len0 && memcmp(after, want, len) == 0);
	free(after);
	free(want);
	free(before);
}

Test(speckit_sync, json_status_and_dry_run)
{
	workspace();
	size_t len0 = 0, len = 0;
	char *before = read_tasks(&len0), *out;
	char args[8192];
	snprintf(args, sizeof(args), "speckit sync --dry-run '%s'", feature);
	cr_assert_eq(run(&out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "would mark 2 line(s)"), "%s", out);
	free(out);
	char *same = read_tasks(&len);
	cr_assert(len == len0 && memcmp(same, before, len) == 0, "a dry run writes nothing");
	free(same);

	char json[4200];
	snprintf(json, sizeof(json), "%s/status.json", dir);
	cr_assert_eq(dt_sh("'%s' --workspace '%s' --json speckit sync '%s' > '%s'", cli(), ws_path, feature, json), 0);
	/* read back by a JSON parser: the fields a CI job would use */
	cr_assert_eq(dt_sh("/usr/bin/python3 - '%s' <<'EOF'\n"
	                   "import json, sys\n"
	                   "d = json.load(open(sys.argv[1]))\n"
	                   "t = {x['id']: x for x in d['tasks']}\n"
	                   "assert d['feature_dir'] == 'specs/001-photo-albums', d['feature_dir']\n"
	                   "assert t['T004']['checked'] and t['T004']['verified'] and t['T004']['status'] == 'done', t['T004']\n"
	                   "assert t['T004']['devsys'] == [{'task': 'albums-w02', 'state': 'tested', 'green': True}]\n"
	                   "assert t['T001']['checked'] and not t['T001']['verified'], t['T001']\n"
	                   "assert t['T006']['status'] == 'open' and t['T006']['devsys'][0]['state'] == 'failed'\n"
	                   "assert t['T009']['status'] == 'open' and not t['T009']['devsys'][0]['green']\n"
	                   "assert t['T011']['devsys'] == [] and t['T011']['status'] == 'open'\n"
	                   "s = d['summary']\n"
	                   "assert (s['tasks'], s['checked'], s['linked'], s['to_mark'], s['verified']) == (20, 5, 5, 0, 2), s\n"
	                   "assert s['devsys_tasks_scanned'] == 6, s\n"
	                   "assert d['unknown_ids'] == []\n"
	                   "EOF",
	                   json),
	             0, "the JSON status is not what the workspace says");
	free(before);
}

Test(speckit_sync, a_linked_id_tasks_md_lacks_is_a_clear_error_and_nothing_changes)
{
	workspace();
	devsys_workspace *ws = gf_workspace(ws_path, NULL);
	devsys_store *st = NULL;
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0, "%s", gf_err());
	linked_task(st, ws, "albums-bad", "specs/001-photo-albums", "T999", DEVSYS_STATE_TESTED, 0);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	size_t len0 = 0, len = 0;
	char *before = read_tasks(&len0), *out;
	char args[8192];
	snprintf(args, sizeof(args), "speckit sync '%s'", feature);
	cr_assert_eq(run(&out, args), 2, "%s", out);
	cr_assert_not_null(strstr(out, "tasks.md has no task line for T999: nothing was changed"), "%s", out);
	cr_assert_not_null(strstr(out, tasks_md), "names the file: %s", out);
	free(out);
	char *same = read_tasks(&len);
	cr_assert(len == len0 && memcmp(same, before, len) == 0, "T004 and T005 are not ticked either");
	free(same);
	free(before);
	/* no tasks.md; no work tree */
	cr_assert_eq(dt_sh("mv '%s' '%s.gone'", tasks_md, tasks_md), 0);
	cr_assert_eq(run(&out, args), 2, "%s", out);
	cr_assert_not_null(strstr(out, "tasks.md"), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "speckit sync /"), 2);
	free(out);
}

static size_t leftovers(const char *d)
{
	DIR *dh = opendir(d);
	cr_assert_not_null(dh);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(dh));)
		n += strstr(e->d_name, "tasks.md.tmp") != NULL;
	closedir(dh);
	return n;
}

Test(speckit_sync, a_failed_write_leaves_tasks_md_whole)
{
	size_t len0 = 0, len = 0, marked = 99;
	char *before = read_tasks(&len0);
	cr_assert_gt(len0, 1024, "the fixture is larger than the limit below");
	const char *ids[] = { "T004", "T018" };
	/* a file size limit makes the temporary file's write fail part way */
	struct rlimit old, lim;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1024;
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = devsys_speckit_mark_done_file(&marked, tasks_md, ids, 2);
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", gf_err());
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_lt(rc, 0, "the write did not fail");
	cr_assert_eq(marked, 0);
	cr_assert_not_null(strstr(msg, tasks_md), "names the file: %s", msg);
	char *same = read_tasks(&len);
	cr_assert(len == len0 && memcmp(same, before, len) == 0, "tasks.md changed after a failed write");
	free(same);
	cr_assert_eq(leftovers(feature), 0, "the temporary file is removed");
	/* positive control: without the limit the same call ticks both lines */
	cr_assert_eq(devsys_speckit_mark_done_file(&marked, tasks_md, ids, 2), 0, "%s", gf_err());
	cr_assert_eq(marked, 2);
	char *want = ticked(before, ids, 2), *after = read_tasks(&len);
	cr_assert(len == len0 && memcmp(after, want, len) == 0);
	free(after);
	free(want);
	free(before);
}

Test(speckit_sync, the_links_through_the_library)
{
	workspace();
	devsys_workspace *ws = gf_workspace(ws_path, NULL);
	devsys_store *st = NULL;
	cr_assert_eq(devsys_store_open(&st, ws, NULL), 0, "%s", gf_err());
	devsys_speckit_links *l = NULL;
	cr_assert_eq(devsys_speckit_links_new(&l, st, ws, "/specs/001-photo-albums/"), 0, "%s", gf_err());
	/* hand-written from workspace(): five links, in the store's newest-first order */
	struct {
		const char *id, *task;
		int state, green;
	} want[] = { { "T007", "albums-t007", DEVSYS_STATE_PUSHED, 0 },
		     { "T009", "albums-t009", DEVSYS_STATE_TESTED, 0 },
		     { "T006", "albums-t006", DEVSYS_STATE_FAILED, 0 },
		     { "T004", "albums-w02", DEVSYS_STATE_TESTED, 1 },
		     { "T005", "albums-w02", DEVSYS_STATE_TESTED, 1 } };
	cr_assert_eq(devsys_speckit_links_count(l), 5);
	for (size_t k = 0; k < 5; k++) {
		bool found = false;
		for (size_t i = 0; i < 5; i++) {
			const char *task = NULL;
			int state = -1, green = -1;
			const char *id = devsys_speckit_link_at(l, i, &task, &state, &green);
			if (strcmp(id, want[k].id) != 0)
				continue;
			found = true;
			cr_assert_str_eq(task, want[k].task);
			cr_assert_eq(state, want[k].state, "%s", id);
			cr_assert_eq(green, want[k].green, "%s", id);
		}
		cr_assert(found, "%s", want[k].id);
	}
	cr_assert_null(devsys_speckit_link_at(l, 5, NULL, NULL, NULL));
	size_t n = 0;
	const char *const *ids = devsys_speckit_links_green_ids(l, &n);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ids[0], "T004");
	cr_assert_str_eq(ids[1], "T005");
	devsys_speckit_feature *f = NULL;
	cr_assert_eq(devsys_speckit_feature_load(&f, feature, NULL), 0, "%s", gf_err());
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_speckit_status_to_json(&b, f, l), 0, "%s", gf_err());
	cr_assert_not_null(strstr(b.ptr, "\"to_mark\": 2"), "%s", b.ptr);
	cr_assert_not_null(strstr(b.ptr, "\"status\": \"to-mark\""), "%s", b.ptr);
	devsys_buf_dispose(&b);
	devsys_speckit_links_free(l);
	/* another folder: nothing linked; an empty name is refused */
	cr_assert_eq(devsys_speckit_links_new(&l, st, ws, "specs/003-none"), 0, "%s", gf_err());
	cr_assert_eq(devsys_speckit_links_count(l), 0);
	cr_assert_null(devsys_speckit_links_green_ids(l, &n));
	cr_assert_eq(n, 0);
	devsys_speckit_links_free(l);
	cr_assert_eq(devsys_speckit_links_new(&l, st, ws, "./"), DEVSYS_EINVAL);
	cr_assert_null(l);
	devsys_speckit_feature_free(f);
	devsys_store_free(st);
	devsys_workspace_free(ws);
}
