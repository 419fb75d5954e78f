/*
 * The report handle's accessors and merge through the public API: times,
 * sources, foreach (order, stop, borrowed cases) and merge, with cases and
 * in the totals-only (DEVSYS_REPORT_NO_CASES) branch.
 */
#include "testutil.h"
#include <devsys.h>
#include <devsys/report.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
}
static void teardown(void)
{
	devsys_shutdown();
}
TestSuite(report_api, .init = setup, .fini = teardown);

/* Times are binary fractions, so the sums below are exact. */
static const char *A_XML = "<testsuite name='sa'>"
                           "<testcase name='p1' classname='ca' time='0.5'/>"
                           "<testcase name='f1' classname='ca' time='0.25'><failure message='boom'>trace</failure>"
                           "</testcase></testsuite>";
static const char *B_XML = "<testsuites><testsuite name='sb'>"
                           "<testcase name='e1' time='1.0'><error message='crash'/></testcase>"
                           "<testcase name='s1' time='0.125'><skipped/></testcase>"
                           "<testcase name='p2'/>"
                           "</testsuite></testsuites>";

static devsys_report *make(const char *xml, const char *name, unsigned flags)
{
	devsys_report *r = NULL;
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	o.flags = flags;
	cr_assert_eq(devsys_report_new(&r), 0);
	cr_assert_eq(devsys_report_add_junit_buffer(r, xml, strlen(xml), name, &o), 0, "%s: %s", name,
	             devsys_error_message(devsys_error_last()));
	return r;
}

static void expect_totals(const devsys_report *r, size_t tests, size_t pass, size_t fail, size_t err, size_t skip,
                          double time)
{
	cr_assert_eq(devsys_report_tests(r), tests);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_PASSED), pass);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_FAILED), fail);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_ERROR), err);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_SKIPPED), skip);
	cr_assert(devsys_report_time(r) == time, "time %.17g, want %.17g", devsys_report_time(r), time);
}

/* The names of summary.json's failed_cases, "|"-joined. */
static char *failed_names(const devsys_report *r)
{
	devsys_buf b = DEVSYS_BUF_INIT, names = DEVSYS_BUF_INIT;
	json_error_t e;
	cr_assert_eq(devsys_report_summary_json(r, &b), 0);
	json_t *j = json_loads(b.ptr, 0, &e);
	cr_assert_not_null(j, "summary: %s", e.text);
	json_t *fc = json_object_get(j, "failed_cases");
	devsys_buf_puts(&names, "");
	for (size_t i = 0; i < json_array_size(fc); i++)
		devsys_buf_printf(&names, "%s%s", i ? "|" : "",
		                  json_string_value(json_object_get(json_array_get(fc, i), "name")));
	json_decref(j);
	devsys_buf_dispose(&b);
	char *s = strdup(names.ptr);
	devsys_buf_dispose(&names);
	return s;
}

Test(report_api, time_is_the_sum_of_the_case_times)
{
	devsys_report *r = NULL;
	cr_assert_eq(devsys_report_new(&r), 0);
	cr_assert(devsys_report_time(r) == 0.0, "an empty report has no time");
	cr_assert_eq(devsys_report_add_junit_buffer(r, A_XML, strlen(A_XML), "a.xml", NULL), 0);
	cr_assert(devsys_report_time(r) == 0.75, "%.17g", devsys_report_time(r));
	/* suite attributes are not trusted: a suite's own time does not count */
	const char *lying = "<testsuite name='x' time='99'><testcase name='t' time='0.125'/></testsuite>";
	cr_assert_eq(devsys_report_add_junit_buffer(r, lying, strlen(lying), "lying.xml", NULL), 0);
	cr_assert(devsys_report_time(r) == 0.875, "%.17g", devsys_report_time(r));
	/* a failed parse adds no time */
	cr_assert_eq(devsys_report_add_junit_buffer(r, "<testsuite><testcase time='5'", 29, "cut.xml", NULL),
	             DEVSYS_EPARSE);
	cr_assert(devsys_report_time(r) == 0.875, "%.17g", devsys_report_time(r));
	/* also kept in the totals-only mode */
	devsys_report *t = make(B_XML, "b.xml", DEVSYS_REPORT_NO_CASES);
	cr_assert(devsys_report_time(t) == 1.125, "%.17g", devsys_report_time(t));
	cr_assert(devsys_report_time(NULL) == 0.0);
	devsys_report_free(t);
	devsys_report_free(r);
}

Test(report_api, sources_are_interned_names_borrowed_from_the_report)
{
	devsys_report *r = make(A_XML, "a.xml", 0);
	cr_assert_eq(devsys_report_add_junit_buffer(r, B_XML, strlen(B_XML), NULL, NULL), 0);
	cr_assert_eq(devsys_report_add_junit_buffer(r, A_XML, strlen(A_XML), "a.xml", NULL), 0);
	cr_assert_eq(devsys_report_source_count(r), 2, "the same name twice is one source");
	cr_assert_str_eq(devsys_report_source_at(r, 0), "a.xml");
	cr_assert_str_eq(devsys_report_source_at(r, 1), "<buffer>");
	/* each case points at its source's one copy */
	cr_assert_eq(devsys_report_case_at(r, 0)->source, devsys_report_source_at(r, 0));
	cr_assert_eq(devsys_report_case_at(r, 2)->source, devsys_report_source_at(r, 1));
	cr_assert_eq(devsys_report_case_at(r, 5)->source, devsys_report_source_at(r, 0));
	/* out of range and NULL: NULL */
	cr_assert_null(devsys_report_source_at(r, 2));
	cr_assert_null(devsys_report_source_at(r, (size_t)-1));
	cr_assert_null(devsys_report_source_at(NULL, 0));
	/* a failed parse adds no source */
	cr_assert_eq(devsys_report_add_junit_buffer(r, "<nope/>", 7, "bad.xml", NULL), DEVSYS_EPARSE);
	cr_assert_eq(devsys_report_source_count(r), 2);
	cr_assert_null(devsys_report_source_at(r, 2));
	devsys_report_free(r);
}

struct seen {
	const devsys_report_case *cases[16];
	size_t n;
	size_t stop_at; /* return non-zero on this call (1-based; 0: never) */
};

static int collect(const devsys_report_case *tc, void *payload)
{
	struct seen *s = payload;
	if (s->n < 16)
		s->cases[s->n] = tc;
	s->n++;
	return s->stop_at && s->n == s->stop_at;
}

Test(report_api, foreach_visits_every_case_in_order_and_stops_on_request)
{
	devsys_report *r = make(A_XML, "a.xml", 0);
	cr_assert_eq(devsys_report_add_junit_buffer(r, B_XML, strlen(B_XML), "b.xml", NULL), 0);
	struct seen s = { .n = 0 };
	cr_assert_eq(devsys_report_foreach(r, collect, &s), 0);
	cr_assert_eq(s.n, 5);
	const char *order[] = { "p1", "f1", "e1", "s1", "p2" };
	for (size_t i = 0; i < 5; i++) {
		cr_assert_str_eq(s.cases[i]->name, order[i]);
		/* borrowed: the callback sees the report's own case, not a copy */
		cr_assert_eq(s.cases[i], devsys_report_case_at(r, i));
	}
	cr_assert_eq(s.cases[1]->status, DEVSYS_REPORT_FAILED);
	cr_assert_str_eq(s.cases[1]->message, "boom");

	/* a non-zero return stops at once with DEVSYS_EUSER, naming where */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	cr_assert_eq(devsys_report_foreach(r, collect, &s), DEVSYS_EUSER);
	cr_assert_eq(s.n, 2, "the callback ran after it asked to stop");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "case 1"), "%s",
	          devsys_error_message(devsys_error_last()));

	/* bad input */
	cr_assert_eq(devsys_report_foreach(NULL, collect, &s), DEVSYS_EINVAL);
	cr_assert_eq(devsys_report_foreach(r, NULL, &s), DEVSYS_EINVAL);
	/* a totals-only report has no case to visit */
	devsys_report *t = make(B_XML, "b.xml", DEVSYS_REPORT_NO_CASES);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(devsys_report_foreach(t, collect, &s), 0);
	cr_assert_eq(s.n, 0);
	devsys_report_free(t);
	devsys_report_free(r);
}

Test(report_api, merge_copies_cases_and_sources)
{
	devsys_report *a = make(A_XML, "a.xml", 0);
	devsys_report *b = make(B_XML, "b.xml", 0);
	cr_assert_eq(devsys_report_merge(a, b), 0, "%s", devsys_error_message(devsys_error_last()));
	/* the source is unchanged... */
	expect_totals(b, 3, 1, 0, 1, 1, 1.125);
	cr_assert_eq(devsys_report_case_count(b), 3);
	/* ...and freed before the merged report is read: the merge copied every string */
	devsys_report_free(b);
	expect_totals(a, 5, 2, 1, 1, 1, 1.875);
	cr_assert_eq(devsys_report_case_count(a), 5);
	cr_assert_eq(devsys_report_source_count(a), 2);
	cr_assert_str_eq(devsys_report_source_at(a, 1), "b.xml");
	const devsys_report_case *e1 = devsys_report_case_at(a, 2);
	cr_assert_str_eq(e1->name, "e1");
	cr_assert_str_eq(e1->suite, "sb");
	cr_assert_str_eq(e1->classname, "sb", "classname defaults to the suite");
	cr_assert_str_eq(e1->message, "crash");
	cr_assert_eq(e1->status, DEVSYS_REPORT_ERROR);
	cr_assert_eq(e1->source, devsys_report_source_at(a, 1), "the case's source is the merged report's copy");
	char *names = failed_names(a);
	cr_assert_str_eq(names, "f1|e1");
	free(names);
	/* the merged report is whole: its normalised XML parses back to the same totals */
	devsys_buf x = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_report_junit_buf(a, &x), 0);
	devsys_report *back = make(x.ptr, "back.xml", 0);
	expect_totals(back, 5, 2, 1, 1, 1, 1.875);
	devsys_report_free(back);
	devsys_buf_dispose(&x);

	/* merging an empty report changes nothing */
	devsys_report *empty = NULL;
	cr_assert_eq(devsys_report_new(&empty), 0);
	cr_assert_eq(devsys_report_merge(a, empty), 0);
	expect_totals(a, 5, 2, 1, 1, 1, 1.875);
	/* bad input: EINVAL, nothing changed */
	cr_assert_eq(devsys_report_merge(NULL, a), DEVSYS_EINVAL);
	cr_assert_eq(devsys_report_merge(a, NULL), DEVSYS_EINVAL);
	/* into itself: refused (appending to the arrays it reads would never end) */
	cr_assert_eq(devsys_report_merge(a, a), DEVSYS_EINVAL);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "itself"));
	expect_totals(a, 5, 2, 1, 1, 1, 1.875);
	cr_assert_eq(devsys_report_case_count(a), 5);
	devsys_report_free(empty);
	devsys_report_free(a);
}

/* Either side without cases: the totals and failed names add up, and the result keeps no cases. */
Test(report_api, merge_with_a_totals_only_report_keeps_totals_only)
{
	for (int side = 0; side < 2; side++) {
		devsys_report *a = make(A_XML, "a.xml", side == 0 ? 0 : DEVSYS_REPORT_NO_CASES);
		devsys_report *b = make(B_XML, "b.xml", side == 0 ? DEVSYS_REPORT_NO_CASES : 0);
		cr_assert_eq(devsys_report_case_count(a), side == 0 ? 2 : 0);
		cr_assert_eq(devsys_report_merge(a, b), 0, "%s", devsys_error_message(devsys_error_last()));
		devsys_report_free(b);
		expect_totals(a, 5, 2, 1, 1, 1, 1.875);
		cr_assert_eq(devsys_report_case_count(a), 0, "side %d: cases kept after a totals-only merge", side);
		cr_assert_null(devsys_report_case_at(a, 0));
		cr_assert_eq(devsys_report_source_count(a), 2);
		cr_assert_str_eq(devsys_report_source_at(a, 0), "a.xml");
		cr_assert_str_eq(devsys_report_source_at(a, 1), "b.xml");
		char *names = failed_names(a);
		cr_assert_str_eq(names, "f1|e1", "side %d", side);
		free(names);
		/* no cases, so no normalised XML: said, not an empty document */
		devsys_buf x = DEVSYS_BUF_INIT;
		cr_assert_eq(devsys_report_junit_buf(a, &x), DEVSYS_ESTATE);
		devsys_buf_dispose(&x);
		/* later merges into it stay totals-only and keep adding up */
		devsys_report *c = make(A_XML, "c.xml", 0);
		cr_assert_eq(devsys_report_merge(a, c), 0);
		devsys_report_free(c);
		expect_totals(a, 7, 3, 2, 1, 1, 2.625);
		cr_assert_eq(devsys_report_case_count(a), 0);
		names = failed_names(a);
		cr_assert_str_eq(names, "f1|e1|f1");
		free(names);
		devsys_report_free(a);
	}
}
