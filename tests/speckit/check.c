/*
 * spec-kit feature folders: parsing the complete fixture, each rule's
 * broken fixture, the pinned templates, the waves, the emitted task specs,
 * and bad input (CRLF, BOM, tabs, huge files, long lines, links out).
 */
#include "testutil.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX DEVSYS_SOURCE_DIR "/tests/fixtures/speckit"
#define VALID FIX "/valid/001-photo-albums"

static char *tmp;

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
	tmp = dt_tmpdir("speckit");
}

static void teardown(void)
{
	dt_rmrf(tmp);
	free(tmp);
	devsys_shutdown();
}

TestSuite(speckit, .init = setup, .fini = teardown);

static devsys_speckit_feature *load(const char *dir)
{
	devsys_speckit_feature *f = NULL;
	int rc = devsys_speckit_feature_load(&f, dir, NULL);
	cr_assert_eq(rc, 0, "%s: %s", dir, devsys_error_message(devsys_error_last()));
	return f;
}

static devsys_speckit_findings *check(const char *dir)
{
	devsys_speckit_feature *f = load(dir);
	devsys_speckit_findings *r = NULL;
	cr_assert_eq(devsys_speckit_findings_new(&r), 0);
	cr_assert_eq(devsys_speckit_check(r, f), 0);
	devsys_speckit_feature_free(f);
	return r;
}

/* Number of findings of @p rule (any severity when sev < 0) ending in @p file at @p line (0: any). */
static size_t count(const devsys_speckit_findings *r, const char *rule, int sev, const char *file, unsigned line)
{
	size_t n = 0;
	for (size_t i = 0; i < devsys_speckit_findings_count(r); i++) {
		devsys_speckit_severity s;
		const char *f, *msg;
		unsigned l;
		const char *id = devsys_speckit_finding_at(r, i, &s, &f, &l, &msg);
		size_t fl = strlen(f), nl = file ? strlen(file) : 0;
		if (strcmp(id, rule) == 0 && (sev < 0 || (int)s == sev) && (!file || (fl >= nl && strcmp(f + fl - nl, file) == 0)) &&
		    (!line || l == line))
			n++;
	}
	return n;
}

static char *text_of(const devsys_speckit_findings *r)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_speckit_findings_to_text(&b, r), 0);
	char *s = strdup(b.ptr ? b.ptr : "");
	devsys_buf_dispose(&b);
	return s;
}

/* ---- parsing the complete fixture ---- */

Test(speckit, parses_the_complete_feature)
{
	devsys_speckit_feature *f = load(VALID);
	cr_assert_str_eq(devsys_speckit_feature_title(f), "Photo Albums");
	cr_assert_str_eq(devsys_speckit_feature_dir(f), VALID);
	cr_assert_eq(devsys_speckit_story_count(f), 3, "the commented-out story is not counted");
	unsigned num, prio, scen;
	cr_assert_str_eq(devsys_speckit_story_at(f, 0, &num, &prio, &scen), "Create an album");
	cr_assert(num == 1 && prio == 1 && scen == 2);
	cr_assert_str_eq(devsys_speckit_story_at(f, 1, &num, &prio, &scen), "Share an album");
	cr_assert(num == 2 && prio == 3 && scen == 1);
	cr_assert_str_eq(devsys_speckit_story_at(f, 2, &num, &prio, &scen), "Reorder photos");
	cr_assert(num == 3 && prio == 2 && scen == 1);
	cr_assert_null(devsys_speckit_story_at(f, 3, NULL, NULL, NULL));
	cr_assert_eq(devsys_speckit_requirement_count(f), 6);
	cr_assert_str_eq(devsys_speckit_requirement_at(f, 0), "FR-001");
	cr_assert_str_eq(devsys_speckit_requirement_at(f, 5), "SC-002");
	cr_assert_eq(devsys_speckit_clarification_markers(f), 0, "the marker inside a fence is not counted");
	cr_assert_eq(devsys_speckit_clarification_sessions(f), 1);
	cr_assert_str_eq(devsys_speckit_plan_field(f, "Language/Version"), "Python 3.12");
	cr_assert_str_eq(devsys_speckit_plan_field(f, "Scale/Scope"), "10k users, 1M photos");
	cr_assert_null(devsys_speckit_plan_field(f, "Colour"));

	cr_assert_eq(devsys_speckit_phase_count(f), 6);
	unsigned cp;
	cr_assert_str_eq(devsys_speckit_phase_at(f, 0, &cp), "Setup (Shared Infrastructure)");
	cr_assert_eq(cp, 0);
	devsys_speckit_phase_at(f, 1, &cp);
	cr_assert_eq(cp, 1);
	cr_assert_eq(devsys_speckit_task_count(f), 20, "T996-T998 in fences and comments are not tasks");
	const devsys_speckit_task *t = devsys_speckit_task_at(f, 0);
	cr_assert_str_eq(devsys_speckit_task_id(t), "T001");
	cr_assert_eq(devsys_speckit_task_state(t), 'x');
	cr_assert_eq(devsys_speckit_task_path_count(t), 2);
	cr_assert_str_eq(devsys_speckit_task_path_at(t, 0), "src/albums/");
	cr_assert_str_eq(devsys_speckit_task_path_at(t, 1), "tests/albums/");
	cr_assert_eq(devsys_speckit_task_state(devsys_speckit_task_find(f, "T002")), 'X');
	cr_assert_eq(devsys_speckit_task_state(devsys_speckit_task_find(f, "T004")), ' ');
	cr_assert_str_eq(devsys_speckit_task_path_at(devsys_speckit_task_find(f, "T002"), 0), "pyproject.toml");
	t = devsys_speckit_task_find(f, "T005a");
	cr_assert_not_null(t);
	cr_assert(devsys_speckit_task_parallel(t));
	cr_assert_eq(devsys_speckit_task_phase(t), 1);
	t = devsys_speckit_task_find(f, "T004");
	cr_assert(!devsys_speckit_task_parallel(t) && devsys_speckit_task_story(t) == 0, "[Foundational] is another tag");
	t = devsys_speckit_task_find(f, "T010");
	cr_assert_eq(devsys_speckit_task_dep_count(t), 1, "the sub-bullet's **Depends on T009**");
	cr_assert_str_eq(devsys_speckit_task_dep_at(t, 0), "T009");
	t = devsys_speckit_task_find(f, "T011");
	cr_assert_eq(devsys_speckit_task_dep_count(t), 2);
	cr_assert_str_eq(devsys_speckit_task_dep_at(t, 1), "T010");
	cr_assert_eq(devsys_speckit_task_story(t), 1);
	t = devsys_speckit_task_find(f, "T012");
	cr_assert_not_null(strstr(devsys_speckit_task_description(t), "albums.py, returning 201"), "%s",
	                   devsys_speckit_task_description(t));
	cr_assert_eq(devsys_speckit_task_line(t), 59);
	t = devsys_speckit_task_find(f, "T019");
	cr_assert_str_eq(devsys_speckit_task_path_at(t, 0), "/specs/001-photo-albums/quickstart.md");
	cr_assert_null(devsys_speckit_task_find(f, "T997"));
	size_t open;
	cr_assert_eq(devsys_speckit_checklist_items(f, &open), 4, "CHK999 in the fence is not an item");
	cr_assert_eq(open, 0);
	devsys_speckit_feature_free(f);
}

Test(speckit, the_complete_feature_has_no_error_or_warning)
{
	devsys_speckit_findings *r = check(VALID);
	char *text = text_of(r);
	cr_assert_eq(devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_ERROR), 0, "%s", text);
	cr_assert_eq(devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_WARNING), 0, "%s", text);
	/* positive control: the coverage note and the checklist count are there */
	cr_assert_eq(count(r, "SK013", DEVSYS_SPECKIT_INFO, "tasks.md", 0), 1, "%s", text);
	cr_assert_not_null(strstr(text, "6 of 6 requirements cited by tasks (100%), 11 of 11 story-phase tasks traced (100%)"),
	                   "%s", text);
	cr_assert_eq(count(r, "SK014", DEVSYS_SPECKIT_INFO, "checklists/requirements.md", 0), 1, "%s", text);
	free(text);
	devsys_speckit_findings_free(r);
}

/* ---- one broken feature per rule ---- */

typedef struct broken_case {
	const char *rule, *dir, *file;
	int sev;
	unsigned line;
	size_t n;
} broken_case;

static const broken_case broken[] = {
	{ "SK000", "sk000/001-mini-uploads", "tasks.md", DEVSYS_SPECKIT_WARNING, 13, 1 },
	{ "SK001", "sk001/Mini_Uploads", "Mini_Uploads", DEVSYS_SPECKIT_ERROR, 0, 1 },
	{ "SK002", "sk002/001-mini-uploads", "spec.md", DEVSYS_SPECKIT_ERROR, 0, 1 },
	{ "SK003", "sk003/001-mini-uploads", "spec.md", DEVSYS_SPECKIT_ERROR, 0, 2 },
	{ "SK004", "sk004/001-mini-uploads", "spec.md", DEVSYS_SPECKIT_ERROR, 12, 1 },
	{ "SK005", "sk005/001-mini-uploads", "spec.md", DEVSYS_SPECKIT_ERROR, 11, 1 },
	{ "SK006", "sk006/001-mini-uploads", "spec.md", DEVSYS_SPECKIT_ERROR, 3, 1 },
	{ "SK007", "sk007/001-mini-uploads", "plan.md", DEVSYS_SPECKIT_ERROR, 0, 2 },
	{ "SK008", "sk008/001-mini-uploads", "tasks.md", -1, 0, 2 },
	{ "SK009", "sk009/001-mini-uploads", "tasks.md", DEVSYS_SPECKIT_ERROR, 0, 2 },
	{ "SK010", "sk010/001-mini-uploads", "tasks.md", DEVSYS_SPECKIT_ERROR, 0, 2 },
	{ "SK011", "sk011/001-mini-uploads", "tasks.md", DEVSYS_SPECKIT_ERROR, 11, 1 },
	{ "SK012", "sk012/001-mini-uploads", "tasks.md", DEVSYS_SPECKIT_WARNING, 10, 1 },
	{ "SK013", "sk013/001-mini-uploads", NULL, DEVSYS_SPECKIT_WARNING, 0, 2 },
	{ "SK014", "sk014/001-mini-uploads", "requirements.md", DEVSYS_SPECKIT_WARNING, 0, 2 },
};

Test(speckit, every_rule_has_a_fixture_that_trips_it_and_one_that_does_not)
{
	devsys_speckit_findings *ok = check(VALID);
	for (size_t k = 0; k < sizeof(broken) / sizeof(*broken); k++) {
		const broken_case *c = &broken[k];
		char dir[512];
		snprintf(dir, sizeof(dir), FIX "/broken/%s", c->dir);
		devsys_speckit_findings *r = check(dir);
		char *text = text_of(r);
		cr_assert_eq(count(r, c->rule, c->sev, c->file, c->line), c->n, "%s: expected %zu %s finding(s):\n%s", c->dir,
		             c->n, c->rule, text);
		cr_assert_eq(count(ok, c->rule, DEVSYS_SPECKIT_ERROR, NULL, 0) + count(ok, c->rule, DEVSYS_SPECKIT_WARNING, NULL, 0),
		             0, "the complete fixture does not trip %s", c->rule);
		free(text);
		devsys_speckit_findings_free(r);
	}
	devsys_speckit_findings_free(ok);
}

Test(speckit, findings_name_what_to_fix)
{
	devsys_speckit_findings *r = check(FIX "/broken/sk010/001-mini-uploads");
	char *text = text_of(r);
	cr_assert_not_null(strstr(text, "tasks.md:12: error: SK010: dependency cycle T003 -> T004 -> T003: break it"), "%s",
	                   text);
	cr_assert_not_null(strstr(text, "tasks.md:13: error: SK010: T005 depends on T099, which no task line defines"), "%s",
	                   text);
	free(text);
	devsys_speckit_findings_free(r);
	r = check(FIX "/broken/sk000/001-mini-uploads");
	text = text_of(r);
	/* the checkbox inside the unterminated fence is no task: no grammar or path warning for it */
	cr_assert_eq(count(r, "SK012", -1, NULL, 0), 0, "%s", text);
	free(text);
	devsys_speckit_findings_free(r);
}

/* ---- the pinned templates ---- */

Test(speckit, the_pinned_templates_fail_the_placeholder_rule)
{
	devsys_speckit_findings *r = check(FIX "/templates/001-spec-template");
	char *text = text_of(r);
	size_t errors = devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_ERROR);
	cr_assert_gt(errors, 0);
	cr_assert_eq(count(r, "SK006", DEVSYS_SPECKIT_ERROR, NULL, 0), errors, "every error is a placeholder:\n%s", text);
	cr_assert_eq(count(r, "SK006", DEVSYS_SPECKIT_ERROR, "spec.md", 1), 1, "[FEATURE NAME] on line 1:\n%s", text);
	cr_assert_not_null(strstr(text, "'$ARGUMENTS'"));
	free(text);
	devsys_speckit_findings_free(r);

	r = check(FIX "/templates/002-feature-templates");
	text = text_of(r);
	static const char *const files[] = { "spec.md", "plan.md", "tasks.md", "checklists/requirements.md" };
	for (size_t k = 0; k < 4; k++)
		cr_assert_gt(count(r, "SK006", DEVSYS_SPECKIT_ERROR, files[k], 0), 0, "%s has placeholders", files[k]);
	cr_assert_gt(count(r, "SK006", DEVSYS_SPECKIT_ERROR, "plan.md", 0), 0);
	cr_assert_not_null(strstr(text, "'TXXX'"));
	cr_assert_not_null(strstr(text, "'[REMOVE IF UNUSED]'"));
	cr_assert_not_null(strstr(text, "'__SPECKIT_COMMAND_'"));
	/* the only other errors: the template's own two example markers, now that a plan exists */
	size_t errors2 = devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_ERROR);
	cr_assert_eq(errors2, count(r, "SK006", DEVSYS_SPECKIT_ERROR, NULL, 0) + count(r, "SK005", DEVSYS_SPECKIT_ERROR, "spec.md", 98) +
	                          count(r, "SK005", DEVSYS_SPECKIT_ERROR, "spec.md", 99),
	             "%s", text);
	free(text);
	devsys_speckit_findings_free(r);
}

/* ---- the task graph ---- */

/* Written by hand from tasks.md: Setup, Foundational, then the stories by
 * priority (US1 P1, US3 P2, US2 P3), then Polish; runs of [P] tasks share a
 * wave; T010 depends on T009 of its own [P] run, so it waits one wave. */
static const char *const expected_waves[] = {
	"T001", "T002 T003", "T004", "T005 T005a", "T006", "T008 T007 T009", "T010",
	"T011", "T012", "T015 T016", "T017", "T013", "T014", "T018 T019",
};

static void assert_waves(const devsys_speckit_plan *p)
{
	size_t nw = sizeof(expected_waves) / sizeof(*expected_waves);
	cr_assert_eq(devsys_speckit_plan_wave_count(p), nw);
	for (size_t w = 0; w < nw; w++) {
		char got[256] = "";
		for (size_t i = 0; i < devsys_speckit_plan_wave_size(p, w); i++) {
			if (i)
				strcat(got, " ");
			strcat(got, devsys_speckit_plan_task(p, w, i));
		}
		cr_assert_str_eq(got, expected_waves[w], "wave %zu", w + 1);
	}
	cr_assert_null(devsys_speckit_plan_task(p, nw, 0));
}

Test(speckit, the_waves_of_the_complete_feature)
{
	devsys_speckit_feature *f = load(VALID);
	devsys_speckit_plan *p = NULL;
	cr_assert_eq(devsys_speckit_plan_new(&p, f), 0, "%s", devsys_error_message(devsys_error_last()));
	devsys_speckit_feature_free(f); /* the plan copies what it needs */
	assert_waves(p);
	devsys_speckit_plan_free(p);
}

static void validate_yaml(const char *yaml, size_t expect_docs, const char *first_ids)
{
	devsys_spec *spec = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&spec, yaml, strlen(yaml), "emitted", NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_spec_count(spec), expect_docs);
	for (size_t i = 0; i < expect_docs; i++) {
		devsys_validation *v = NULL;
		int rc = devsys_spec_validate(&v, spec, i);
		if (rc) {
			devsys_buf b = DEVSYS_BUF_INIT;
			devsys_validation_to_json(&b, v);
			cr_assert_fail("document %zu is not a valid task spec: %s", i, b.ptr);
		}
		devsys_validation_free(v);
		const devsys_node *doc = devsys_spec_at(spec, i);
		cr_assert_str_eq(devsys_node_string(devsys_node_get(doc, "/speckit/feature_dir"), NULL), "specs/001-photo-albums");
		cr_assert_str_eq(devsys_node_string(devsys_node_get(doc, "/repo/url"), NULL), "https://example.com/albums.git");
	}
	const devsys_node *ids = devsys_node_get(devsys_spec_at(spec, 0), "/speckit/task_ids");
	char got[128] = "";
	for (size_t i = 0; devsys_node_at(ids, i); i++) {
		if (i)
			strcat(got, " ");
		strcat(got, devsys_node_string(devsys_node_at(ids, i), NULL));
	}
	cr_assert_str_eq(got, first_ids);
	devsys_spec_free(spec);
}

Test(speckit, emitted_task_specs_are_valid_and_linked_back)
{
	devsys_speckit_feature *f = load(VALID);
	devsys_speckit_plan *p = NULL;
	cr_assert_eq(devsys_speckit_plan_new(&p, f), 0);
	devsys_speckit_feature_free(f);
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_speckit_plan_to_yaml(&b, p, "https://example.com/albums.git", "specs/001-photo-albums", 0), 0);
	validate_yaml(b.ptr, 20, "T001");
	cr_assert_not_null(strstr(b.ptr, "id: 001-photo-albums-t005a\n"));
	devsys_buf_clear(&b);
	cr_assert_eq(devsys_speckit_plan_to_yaml(&b, p, "https://example.com/albums.git", "specs/001-photo-albums",
	                                         DEVSYS_SPECKIT_YAML_PER_WAVE),
	             0);
	validate_yaml(b.ptr, 14, "T001");
	cr_assert_not_null(strstr(b.ptr, "id: 001-photo-albums-w04\n"));
	cr_assert_not_null(strstr(b.ptr, "    - T005\n    - T005a\n"));
	cr_assert_eq(devsys_speckit_plan_to_yaml(&b, p, "", "specs/x", 0), DEVSYS_EINVAL);
	devsys_buf_dispose(&b);
	devsys_speckit_plan_free(p);
}

Test(speckit, a_broken_graph_is_refused_with_the_reason)
{
	devsys_speckit_feature *f = load(FIX "/broken/sk010/001-mini-uploads");
	devsys_speckit_plan *p = NULL;
	cr_assert_eq(devsys_speckit_plan_new(&p, f), DEVSYS_EINVALID);
	cr_assert_null(p);
	cr_assert_not_null(strstr(devsys_error_message(devsys_error_last()), "T003 depends on T004"), "%s",
	                   devsys_error_message(devsys_error_last()));
	devsys_speckit_feature_free(f);
	f = load(FIX "/broken/sk008/001-mini-uploads");
	cr_assert_eq(devsys_speckit_plan_new(&p, f), DEVSYS_EINVALID);
	cr_assert_not_null(strstr(devsys_error_message(devsys_error_last()), "task id T002 is used again"));
	devsys_speckit_feature_free(f);
}

/* ---- bad input ---- */

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

/* Copy the complete fixture to @p dst with CRLF line ends, a BOM and tab-indented sub-bullets. */
static void crlf_copy(const char *dst)
{
	static const char *const names[] = { "spec.md", "plan.md", "tasks.md", "research.md", "checklists/requirements.md" };
	cr_assert_eq(dt_sh("mkdir -p '%s/checklists'", dst), 0);
	for (size_t k = 0; k < 5; k++) {
		char src[1024];
		snprintf(src, sizeof(src), VALID "/%s", names[k]);
		size_t len;
		char *in = dt_read_file(src, &len);
		cr_assert_not_null(in);
		char *out = malloc(len * 3 + 4);
		size_t o = 0;
		memcpy(out, "\xEF\xBB\xBF", 3);
		o = 3;
		bool bol = true;
		for (size_t i = 0; i < len; i++) {
			if (bol && in[i] == ' ' && i + 1 < len && in[i + 1] == ' ') {
				out[o++] = '\t';
				i++;
				bol = false;
				continue;
			}
			bol = in[i] == '\n';
			if (in[i] == '\n')
				out[o++] = '\r';
			out[o++] = in[i];
		}
		write_file(dst, names[k], out, o);
		free(out);
		free(in);
	}
}

Test(speckit, crlf_bom_and_tabs_read_like_the_original)
{
	char dst[1024];
	snprintf(dst, sizeof(dst), "%s/001-photo-albums", tmp);
	crlf_copy(dst);
	size_t len;
	char *raw = dt_read_file(VALID "/../001-photo-albums/tasks.md", &len);
	free(raw);
	char tasks[1100];
	snprintf(tasks, sizeof(tasks), "%s/tasks.md", dst);
	raw = dt_read_file(tasks, &len);
	cr_assert(len > 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0 && strstr(raw, "\r\n\t- **Depends on T009**"),
	          "the copy really has a BOM, CRLF and a tab");
	free(raw);
	devsys_speckit_findings *a = check(VALID), *b = check(dst);
	cr_assert_eq(devsys_speckit_findings_count(a), devsys_speckit_findings_count(b));
	cr_assert_eq(devsys_speckit_findings_count_severity(b, DEVSYS_SPECKIT_ERROR) +
	                     devsys_speckit_findings_count_severity(b, DEVSYS_SPECKIT_WARNING),
	             0);
	devsys_speckit_findings_free(a);
	devsys_speckit_findings_free(b);
	devsys_speckit_feature *f = load(dst);
	cr_assert_str_eq(devsys_speckit_feature_title(f), "Photo Albums", "no BOM or CR in the title");
	cr_assert_str_eq(devsys_speckit_task_dep_at(devsys_speckit_task_find(f, "T010"), 0), "T009");
	devsys_speckit_plan *p = NULL;
	cr_assert_eq(devsys_speckit_plan_new(&p, f), 0);
	assert_waves(p);
	devsys_speckit_plan_free(p);
	devsys_speckit_feature_free(f);
}

static char *mkfeature(const char *name, const char *tasks)
{
	char *d;
	cr_assert(asprintf(&d, "%s/%s", tmp, name) > 0);
	cr_assert_eq(dt_sh("mkdir -p '%s'", d), 0);
	if (tasks)
		write_file(d, "tasks.md", tasks, strlen(tasks));
	return d;
}

Test(speckit, a_huge_file_is_refused_naming_it)
{
	char *d = mkfeature("001-huge", NULL);
	char path[1100];
	snprintf(path, sizeof(path), "%s/tasks.md", d);
	cr_assert_eq(truncate(path, 0) == 0 || dt_write_file(path, ""), 1);
	cr_assert_eq(truncate(path, (off_t)DEVSYS_SPECKIT_MAX_FILE + 1), 0);
	devsys_speckit_feature *f = NULL;
	cr_assert_eq(devsys_speckit_feature_load(&f, d, NULL), DEVSYS_ELIMIT);
	cr_assert_null(f);
	cr_assert_not_null(strstr(devsys_error_message(devsys_error_last()), "tasks.md"));
	/* positive control: one byte less is read */
	cr_assert_eq(truncate(path, (off_t)DEVSYS_SPECKIT_MAX_FILE), 0);
	cr_assert_eq(devsys_speckit_feature_load(&f, d, NULL), 0);
	devsys_speckit_feature_free(f);
	free(d);
}

Test(speckit, a_very_long_line_is_one_task)
{
	size_t n = 2 * 1024 * 1024;
	char *t = malloc(n + 200);
	int k = snprintf(t, 200, "## Phase 1: Setup\n\n- [ ] T001 Write ");
	memset(t + k, 'a', n);
	strcpy(t + k + n, " in src/long.c\n");
	char *d = mkfeature("001-long", t);
	devsys_speckit_feature *f = load(d);
	cr_assert_eq(devsys_speckit_task_count(f), 1);
	cr_assert_str_eq(devsys_speckit_task_path_at(devsys_speckit_task_at(f, 0), 0), "src/long.c");
	devsys_speckit_feature_free(f);
	free(t);
	free(d);
}

Test(speckit, tasks_without_phases_run_in_document_order_with_a_warning)
{
	char *d = mkfeature("001-flat", "# Tasks\n\n- [ ] T002 First in a.c\n- [x] T001 [P] Second in b.c\n- [X] T003 [P] Third in c.c\n");
	devsys_speckit_findings *r = check(d);
	cr_assert_eq(count(r, "SK008", DEVSYS_SPECKIT_WARNING, "tasks.md", 3), 1);
	devsys_speckit_findings_free(r);
	devsys_speckit_feature *f = load(d);
	devsys_speckit_plan *p = NULL;
	cr_assert_eq(devsys_speckit_plan_new(&p, f), 0);
	cr_assert_eq(devsys_speckit_plan_wave_count(p), 2);
	cr_assert_str_eq(devsys_speckit_plan_task(p, 0, 0), "T002");
	cr_assert_eq(devsys_speckit_plan_wave_size(p, 1), 2);
	cr_assert_eq(devsys_speckit_task_state(devsys_speckit_task_at(f, 1)), 'x');
	cr_assert_eq(devsys_speckit_task_state(devsys_speckit_task_at(f, 2)), 'X');
	devsys_speckit_plan_free(p);
	devsys_speckit_feature_free(f);
	free(d);
}

Test(speckit, a_feature_folder_linked_out_of_the_repository_is_refused)
{
	char repo[1024], outside[1024], link[1100];
	snprintf(repo, sizeof(repo), "%s/repo", tmp);
	snprintf(outside, sizeof(outside), "%s/elsewhere/001-photo-albums", tmp);
	cr_assert_eq(dt_sh("mkdir -p '%s/specs' && mkdir -p '%s' && cp -r '%s/.' '%s/'", repo, outside, VALID, outside), 0);
	snprintf(link, sizeof(link), "%s/specs/001-photo-albums", repo);
	cr_assert_eq(symlink(outside, link), 0);
	devsys_speckit_feature *f = NULL;
	cr_assert_eq(devsys_speckit_feature_load(&f, link, repo), DEVSYS_EPATH);
	cr_assert_null(f);
	cr_assert_not_null(strstr(devsys_error_message(devsys_error_last()), "outside the repository"));
	/* a file inside a real folder that links out is refused too */
	char inside[1100];
	snprintf(inside, sizeof(inside), "%s/specs/002-real", repo);
	cr_assert_eq(dt_sh("mkdir -p '%s' && ln -s '%s/spec.md' '%s/spec.md'", inside, outside, inside), 0);
	cr_assert_eq(devsys_speckit_feature_load(&f, inside, repo), DEVSYS_EPATH);
	/* positive control: the same folder copied in is read */
	cr_assert_eq(dt_sh("rm '%s' && cp -r '%s' '%s'", link, outside, link), 0);
	cr_assert_eq(devsys_speckit_feature_load(&f, link, repo), 0);
	devsys_speckit_feature_free(f);
}

Test(speckit, missing_folders_and_files_are_named)
{
	devsys_speckit_feature *f = NULL;
	cr_assert_eq(devsys_speckit_feature_load(&f, FIX "/no-such-feature", NULL), DEVSYS_ENOTFOUND);
	cr_assert_not_null(strstr(devsys_error_message(devsys_error_last()), "no-such-feature"));
	cr_assert_eq(devsys_speckit_feature_load(&f, VALID "/spec.md", NULL), DEVSYS_EINVAL);
	char *d = mkfeature("001-empty", NULL);
	devsys_speckit_findings *r = check(d);
	cr_assert_eq(count(r, "SK002", DEVSYS_SPECKIT_ERROR, "spec.md", 0), 1);
	devsys_speckit_findings_free(r);
	free(d);
}

Test(speckit, json_and_sarif_carry_every_finding)
{
	devsys_speckit_findings *r = check(FIX "/broken/sk010/001-mini-uploads");
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_speckit_findings_to_json(&b, r), 0);
	cr_assert_not_null(strstr(b.ptr, "\"rule\": \"SK010\""));
	cr_assert_not_null(strstr(b.ptr, "\"errors\": 2"), "%s", b.ptr);
	devsys_buf_clear(&b);
	cr_assert_eq(devsys_speckit_findings_to_sarif(&b, r), 0);
	cr_assert_not_null(strstr(b.ptr, "\"version\": \"2.1.0\""));
	cr_assert_not_null(strstr(b.ptr, "\"startLine\": 12"));
	devsys_buf_dispose(&b);
	devsys_speckit_findings_free(r);
}

Test(speckit, dependencies_and_cited_ids_are_found_in_any_case_and_only_as_words)
{
	char *d = mkfeature("001-scan", "## Phase 1: Setup\n\n- [ ] T001 First in a.c\n- [ ] T002 Second in b.c\n"
	                                "- [ ] T003 Third in c.c (DEPENDS ON T001 and T002) for XFR-001, not FR-x\n"
	                                "- [ ] T004 Fourth in d.c, Depends on: T003; dependson T001; cites SC-001\n"
	                                "- [ ] T005 Fifth in e.c (depends on T004\n");
	static const char spec[] = "# Feature Specification: Scan\n\n## Requirements\n\n- **FR-001**: one\n- **SC-001**: two\n";
	write_file(d, "spec.md", spec, sizeof(spec) - 1);
	devsys_speckit_feature *f = load(d);
	const devsys_speckit_task *t3 = devsys_speckit_task_find(f, "T003"), *t4 = devsys_speckit_task_find(f, "T004"),
				  *t5 = devsys_speckit_task_find(f, "T005");
	cr_assert_eq(devsys_speckit_task_dep_count(t3), 2);
	cr_assert_str_eq(devsys_speckit_task_dep_at(t3, 0), "T001");
	cr_assert_str_eq(devsys_speckit_task_dep_at(t3, 1), "T002");
	cr_assert_eq(devsys_speckit_task_dep_count(t4), 1, "'dependson' is no clause");
	cr_assert_str_eq(devsys_speckit_task_dep_at(t4, 0), "T003");
	cr_assert_eq(devsys_speckit_task_dep_count(t5), 1, "the clause at the very end of the line");
	devsys_speckit_feature_free(f);
	/* XFR-001 cites nothing: FR-001 stays uncited; SC-001 is cited */
	devsys_speckit_findings *r = check(d);
	char *text = text_of(r);
	cr_assert_eq(count(r, "SK013", DEVSYS_SPECKIT_WARNING, "spec.md", 5), 1, "%s", text);
	cr_assert_eq(count(r, "SK013", DEVSYS_SPECKIT_WARNING, "spec.md", 6), 0, "%s", text);
	free(text);
	devsys_speckit_findings_free(r);
	free(d);
}
