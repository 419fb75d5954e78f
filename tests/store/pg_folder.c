/*
 * A task folder on a shared (PostgreSQL) store whose events.jsonl lost the
 * unsynced tail a state change appended, while its task.json survived: the
 * folder is behind the store (devsys_store_folder_current(), devsys check's
 * behind-store), the store answers with the full events, and the next
 * change or devsys check --repair restores them. Built into the store_pg
 * binary (its PostgreSQL server, pg_store.c's hooks).
 */
#define DT_PG_SUITE_HOOKS_ELSEWHERE
#include "pg_suite.h"
#include <devsys.h>
#include <devsys/record.h>
#include <devsys/store.h>
#include <jansson.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

DT_PG_STORE_SUITE(pg_folder, "pgfolder", 0);

static char *events_path(const char *id)
{
	char *p;
	cr_assert(asprintf(&p, "%s/tasks/%s/events.jsonl", dir, id) > 0);
	return p;
}

/* Task @p id made and moved on twice; the folder's events.jsonl, as it stands then (free it). */
static char *two_changes(const char *id, size_t *len)
{
	char *p = events_path(id), *ev;
	OK(devsys_store_task_create(st, id, NULL));
	OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, "first"));
	OK(devsys_store_transition(st, id, DEVSYS_STATE_CHECKED_OUT, "second"));
	cr_assert(ev = dt_read_file(p, len), "%s", p);
	cr_assert(strstr(ev, "\"second\""), "%s", ev);
	free(p);
	return ev;
}

/* Where events @p ev (@p len bytes) start their last line. */
static size_t last_line_at(const char *ev, size_t len)
{
	size_t at = len - 1;
	while (at > 0 && ev[at - 1] != '\n')
		at--;
	return at;
}

/* The drift entries of a devsys_store_check() (@p repair) for task @p id, parsed; json_decref() them. */
static json_t *check(int repair, const char *id, size_t *total)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *j, *out = json_array(), *d;
	size_t i;
	OK(devsys_store_check(st, repair, &b, total));
	cr_assert(j = json_loads(b.ptr, 0, NULL), "%s", b.ptr);
	json_array_foreach(json_object_get(j, "drift"), i, d) if (strcmp(json_string_value(json_object_get(d, "task")), id) == 0)
	        json_array_append(out, d);
	json_decref(j);
	devsys_buf_dispose(&b);
	return out;
}

/* The store's copy of @p id's events.jsonl (free it). */
static char *kept_events(const char *id)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	char *s;
	OK(devsys_store_document(&b, st, id, "events.jsonl"));
	cr_assert(s = strndup(b.ptr ? b.ptr : "", b.size));
	devsys_buf_dispose(&b);
	return s;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * The disk kept the change's task.json and lost its event's line (the two
 * files' data are not ordered without fsync): state_at still matches, the
 * events do not. The store answers with them, check lists the folder as
 * behind-store, and the next change restores the line before its own.
 */
Test(pg_folder, a_lost_last_event_line_makes_the_folder_behind_until_the_next_change)
{
	size_t len, total = 0;
	char *ev, *p = events_path("lost1"), *kept, *now;
	json_t *d;
	dt_pg_need(pg);
	ev = two_changes("lost1", &len);
	cr_assert_eq(devsys_store_folder_current(st, "lost1"), 1, "the control: an untouched folder is current");
	d = check(0, "lost1", &total);
	cr_assert_eq(json_array_size(d), 0, "the control: no drift");
	json_decref(d);
	cr_assert_eq(truncate(p, (off_t)last_line_at(ev, len)), 0);
	cr_assert_eq(devsys_store_folder_current(st, "lost1"), 0, "the folder lost the event of its last change");
	kept = kept_events("lost1");
	cr_assert(strstr(kept, "\"second\"") && strcmp(kept, ev) == 0, "the store answers with the full events: %s", kept);
	d = check(0, "lost1", &total);
	cr_assert_eq(json_array_size(d), 1, "%zu entries", json_array_size(d));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "kind")), "behind-store");
	cr_assert(strstr(json_string_value(json_object_get(json_array_get(d, 0), "detail")), "events.jsonl"), "%s",
	          json_string_value(json_object_get(json_array_get(d, 0), "detail")));
	json_decref(d);
	OK(devsys_store_transition(st, "lost1", DEVSYS_STATE_CODED, "third"));
	cr_assert(now = dt_read_file(p, NULL));
	cr_assert(strncmp(now, ev, len) == 0, "the lost line is back, before the next change's: %s", now);
	cr_assert(strstr(now + len, "\"third\""), "%s", now);
	cr_assert_eq(count(now, "\"seq\":3,"), 1, "no seq twice: %s", now);
	cr_assert_eq(count(now, "\"seq\":4,"), 1, "%s", now);
	cr_assert_eq(devsys_store_folder_current(st, "lost1"), 1, "in step again");
	free(now);
	free(kept);
	free(ev);
	free(p);
}

/*
 * The last line half written (the file's size reached the disk, or part of
 * its data): shorter than task.json says, or as long but not the event.
 * devsys check --repair restores the store's events, and the folder is
 * current again with no drift left.
 */
static void torn_and_repaired(const char *id, bool same_length)
{
	size_t len, total = 0, at;
	char *ev, *p = events_path(id), *now;
	json_t *d;
	ev = two_changes(id, &len);
	at = last_line_at(ev, len);
	if (same_length) { /* what a disk can show for a size it kept without the data: zeros */
		static const char zeros[4096];
		size_t from = at + (len - at) / 2;
		int fd = open(p, O_WRONLY);
		cr_assert(fd >= 0 && len - from <= sizeof(zeros));
		cr_assert_eq(pwrite(fd, zeros, len - from, (off_t)from), (ssize_t)(len - from));
		close(fd);
	} else
		cr_assert_eq(truncate(p, (off_t)(at + (len - at) / 2)), 0);
	cr_assert_eq(devsys_store_folder_current(st, id), 0, "the last line is torn");
	d = check(1, id, &total);
	cr_assert_eq(json_array_size(d), 1, "%zu entries", json_array_size(d));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "kind")), "behind-store");
	cr_assert(json_is_true(json_object_get(json_array_get(d, 0), "repaired")));
	json_decref(d);
	cr_assert(now = dt_read_file(p, NULL));
	cr_assert_str_eq(now, ev, "the full events are back");
	cr_assert_eq(devsys_store_folder_current(st, id), 1, "in step again");
	d = check(0, id, &total);
	cr_assert_eq(json_array_size(d), 0, "no drift left");
	json_decref(d);
	free(now);
	free(ev);
	free(p);
}

Test(pg_folder, a_torn_last_event_line_is_restored_by_check_repair)
{
	dt_pg_need(pg);
	torn_and_repaired("torn2", false);
}

Test(pg_folder, a_last_event_line_of_the_right_length_but_not_whole_is_restored_by_check_repair)
{
	dt_pg_need(pg);
	torn_and_repaired("torn3", true);
}

/*
 * `devsys check` (the CLI, on the store DEVSYS_STORE_URL names) lists the
 * folder as behind-store and fails; --repair fixes it.
 */
Test(pg_folder, the_cli_check_lists_a_folder_that_lost_its_event_as_behind_store)
{
	const char *cli = getenv("DEVSYS_CLI");
	size_t len;
	char *ev, *p = events_path("cli1"), *out;
	int status;
	dt_pg_need(pg);
	cr_assert(cli, "DEVSYS_CLI is not set");
	ev = two_changes("cli1", &len);
	cr_assert_eq(truncate(p, (off_t)last_line_at(ev, len)), 0);
	out = dt_sh_output(&status, "DEVSYS_STORE_URL='%s' '%s' --workspace '%s' check 2>&1", url, cli, dir);
	cr_assert(out && strstr(out, "cli1") && strstr(out, "behind-store") && strstr(out, "events.jsonl"), "%s", out);
	cr_assert_neq(status, 0, "drift fails the check: %s", out);
	free(out);
	out = dt_sh_output(&status, "DEVSYS_STORE_URL='%s' '%s' --workspace '%s' check --repair 2>&1", url, cli, dir);
	cr_assert(out && strstr(out, "(repaired)"), "%s", out);
	cr_assert_eq(status, 0, "%s", out);
	free(out);
	cr_assert_eq(devsys_store_folder_current(st, "cli1"), 1);
	free(ev);
	free(p);
}

/*
 * A task.json written before the field (no "state_event") is judged by its
 * state_at alone, as before: the lost line is not noticed, the folder
 * answers.
 */
Test(pg_folder, a_task_json_without_state_event_falls_back_to_state_at)
{
	size_t len;
	char *ev, *p = events_path("old1"), *tj, *text;
	json_t *doc;
	dt_pg_need(pg);
	ev = two_changes("old1", &len);
	cr_assert(asprintf(&tj, "%s/tasks/old1/task.json", dir) > 0);
	cr_assert(doc = json_load_file(tj, 0, NULL));
	cr_assert(json_is_object(json_object_get(doc, "state_event")), "the change recorded where its event ends");
	json_object_del(doc, "state_event");
	cr_assert(text = json_dumps(doc, JSON_INDENT(2)));
	cr_assert(dt_write_file(tj, text));
	cr_assert_eq(truncate(p, (off_t)last_line_at(ev, len)), 0);
	cr_assert_eq(devsys_store_folder_current(st, "old1"), 1, "the present rule: state_at matches");
	free(text);
	json_decref(doc);
	free(tj);
	free(ev);
	free(p);
}

/*
 * Over 256 KiB of events the store keeps only their last lines: a folder
 * restored from them has other offsets, and is current once restored (its
 * task.json says where the event ends in the events it got).
 */
Test(pg_folder, a_folder_restored_from_cut_events_is_current)
{
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	static char data[50000];
	char *p = events_path("big1"), *ev, *kept;
	size_t len, total = 0;
	json_t *d;
	dt_pg_need(pg);
	OK(devsys_store_task_create(st, "big1", NULL));
	OK(devsys_store_transition(st, "big1", DEVSYS_STATE_VALIDATED, "first"));
	OK(devsys_task_open(&task, ws, "big1", 0));
	OK(devsys_record_open(&rec, task));
	memset(data, 'x', sizeof(data));
	memcpy(data, "{\"pad\":\"", 8);
	memcpy(data + sizeof(data) - 3, "\"}", 3);
	for (int i = 0; i < 6; i++) /* 300 KB */
		OK(devsys_record_event(rec, "note", data, NULL));
	OK(devsys_store_transition(st, "big1", DEVSYS_STATE_CHECKED_OUT, "second"));
	kept = kept_events("big1");
	cr_assert(strncmp(kept, "{\"truncated\":true", 17) == 0, "the control: the store keeps a cut copy");
	cr_assert(ev = dt_read_file(p, &len));
	cr_assert_eq(truncate(p, (off_t)last_line_at(ev, len)), 0);
	cr_assert_eq(devsys_store_folder_current(st, "big1"), 0);
	d = check(1, "big1", &total);
	cr_assert_eq(json_array_size(d), 1);
	json_decref(d);
	cr_assert_eq(devsys_store_folder_current(st, "big1"), 1, "current once restored from the cut copy");
	d = check(0, "big1", &total);
	cr_assert_eq(json_array_size(d), 0, "no drift left");
	json_decref(d);
	OK(devsys_store_transition(st, "big1", DEVSYS_STATE_CODED, "third"));
	cr_assert_eq(devsys_store_folder_current(st, "big1"), 1);
	devsys_record_free(rec);
	devsys_task_free(task);
	free(kept);
	free(ev);
	free(p);
}

/*
 * The SQLite store's folder is its only copy, written durably: nothing
 * changes there, no "state_event" is written and its folder always answers.
 */
Test(pg_folder, the_sqlite_store_writes_no_state_event)
{
	devsys_workspace *lws = NULL;
	devsys_store *lst = NULL;
	char *ldir = dt_tmpdir("sqlitefolder"), *tj, *text;
	cr_assert(ldir);
	OK(devsys_workspace_open(&lws, ldir, NULL));
	OK(devsys_store_open(&lst, lws, NULL));
	OK(devsys_store_task_create(lst, "s1", NULL));
	OK(devsys_store_transition(lst, "s1", DEVSYS_STATE_VALIDATED, "first"));
	cr_assert(asprintf(&tj, "%s/tasks/s1/task.json", ldir) > 0);
	cr_assert(text = dt_read_file(tj, NULL));
	cr_assert(strstr(text, "\"state_at\"") && !strstr(text, "state_event"), "%s", text);
	cr_assert_eq(devsys_store_folder_current(lst, "s1"), 1);
	free(text);
	free(tj);
	devsys_store_free(lst);
	devsys_workspace_free(lws);
	dt_rmrf(ldir);
	free(ldir);
}
