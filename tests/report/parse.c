/* JUnit parsing and normalisation, with real producers run here. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/report.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX DEVSYS_SOURCE_DIR "/tests/report/fixtures"
#define PROD DEVSYS_SOURCE_DIR "/tests/report/producers"

static char *dir;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("report");
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(report, .init = setup, .fini = teardown);

static void expect_counts(const devsys_report *r, size_t tests, size_t passed, size_t failed, size_t errors,
                          size_t skipped)
{
	cr_assert_eq(devsys_report_tests(r), tests, "tests %zu != %zu", devsys_report_tests(r), tests);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_PASSED), passed, "passed %zu != %zu",
	             devsys_report_count(r, DEVSYS_REPORT_PASSED), passed);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_FAILED), failed, "failed %zu != %zu",
	             devsys_report_count(r, DEVSYS_REPORT_FAILED), failed);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_ERROR), errors, "errors %zu != %zu",
	             devsys_report_count(r, DEVSYS_REPORT_ERROR), errors);
	cr_assert_eq(devsys_report_count(r, DEVSYS_REPORT_SKIPPED), skipped, "skipped %zu != %zu",
	             devsys_report_count(r, DEVSYS_REPORT_SKIPPED), skipped);
	cr_assert_eq(devsys_report_case_count(r), tests);
}

static const devsys_report_case *find_case(const devsys_report *r, const char *name)
{
	for (size_t i = 0; i < devsys_report_case_count(r); i++)
		if (strcmp(devsys_report_case_at(r, i)->name, name) == 0)
			return devsys_report_case_at(r, i);
	cr_assert_fail("no case named '%s'", name);
	return NULL;
}

static devsys_report *parse_ok(const char *path)
{
	devsys_report *r = NULL;
	int rc = devsys_report_parse_junit(&r, path, NULL);
	cr_assert_eq(rc, 0, "%s: %s", path, devsys_error_message(devsys_error_last()));
	return r;
}

static devsys_report *parse_buf(const char *xml)
{
	devsys_report *r = NULL;
	cr_assert_eq(devsys_report_new(&r), 0);
	cr_assert_eq(devsys_report_add_junit_buffer(r, xml, strlen(xml), "inline.xml", NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return r;
}

static void run_pytest(const char *family, const char *out)
{
	if (dt_sh("/usr/bin/python3 -c 'import pytest' 2>/dev/null") != 0)
		dt_skip("Debian python3-pytest is not installed (apt-get install python3-pytest)");
	/* exits 1: the sample has a failing test on purpose */
	dt_sh("cd '%s' && /usr/bin/python3 -m pytest -q -p no:cacheprovider -o junit_family=%s --junitxml='%s' '%s' "
	      ">/dev/null 2>&1",
	      dir, family, out, PROD "/pytest");
	cr_assert(dt_exists(out), "pytest wrote no %s", out);
}

Test(report, pytest_xunit2)
{
	char out[4096];
	devsys_report *r;
	snprintf(out, sizeof(out), "%s/pytest2.xml", dir);
	run_pytest("xunit2", out);
	r = parse_ok(out);
	expect_counts(r, 5, 2, 1, 1, 1);
	cr_assert(strstr(find_case(r, "test_fail")->classname, "test_sample"));
	cr_assert(strstr(find_case(r, "test_fail")->message, "values differ"));
	cr_assert(strstr(find_case(r, "test_error")->message, "fixture exploded"));
	cr_assert_str_eq(find_case(r, "test_skip")->message, "not today");
	cr_assert_str_eq(find_case(r, "test_fail")->suite, "pytest");
	devsys_report_free(r);
}

Test(report, pytest_xunit1)
{
	char out[4096];
	devsys_report *r;
	snprintf(out, sizeof(out), "%s/pytest1.xml", dir);
	run_pytest("xunit1", out);
	r = parse_ok(out);
	expect_counts(r, 5, 2, 1, 1, 1);
	cr_assert_eq(find_case(r, "test_pass_two")->status, DEVSYS_REPORT_PASSED);
	devsys_report_free(r);
}

Test(report, ctest_output_junit_disabled_is_skipped)
{
	char out[4096];
	devsys_report *r;
	if (dt_sh("cmake -S '%s' -B '%s/ct' >/dev/null 2>&1", PROD "/ctest", dir) != 0)
		dt_skip("cmake cannot configure the tiny project");
	dt_sh("cd '%s/ct' && ctest --output-junit ct.xml >/dev/null 2>&1", dir);
	snprintf(out, sizeof(out), "%s/ct/ct.xml", dir);
	cr_assert(dt_exists(out), "ctest wrote no junit file");
	r = parse_ok(out);
	expect_counts(r, 4, 2, 1, 0, 1);
	cr_assert_eq(find_case(r, "disabled_one")->status, DEVSYS_REPORT_SKIPPED);
	cr_assert_eq(find_case(r, "fails")->status, DEVSYS_REPORT_FAILED);
	cr_assert(strstr(find_case(r, "fails")->system_out, "boom"));
	cr_assert_gt(find_case(r, "pass_one")->time, 0.0);
	devsys_report_free(r);
}

Test(report, criterion_xml_has_no_classname)
{
	char out[4096];
	const char *prod = getenv("CRITERION_PRODUCER");
	devsys_report *r;
	cr_assert_not_null(prod, "CRITERION_PRODUCER is not set by the build");
	snprintf(out, sizeof(out), "%s/crit.xml", dir);
	/* BXFI_MAP (Criterion's own worker map) would make the producer act as a worker */
	dt_sh("env -u BXFI_MAP '%s' --jobs 1 --xml='%s' >/dev/null 2>&1", prod, out);
	cr_assert(dt_exists(out));
	r = parse_ok(out);
	expect_counts(r, 4, 2, 1, 0, 1);
	cr_assert_str_eq(find_case(r, "fails")->classname, "producer", "classname defaults to the suite");
	cr_assert(strstr(find_case(r, "fails")->text, "one is not two"));
	devsys_report_free(r);
}

Test(report, jest_junit)
{
	char out[4096], work[4096];
	const char *bin = DEVSYS_SOURCE_DIR "/.deps/node/node_modules/.bin/jest";
	devsys_report *r;
	if (access(bin, X_OK) != 0 || !dt_exists(DEVSYS_SOURCE_DIR "/.deps/node/node_modules/jest-junit"))
		dt_skip("jest/jest-junit not installed in .deps/node (run scripts/bootstrap; scripts/deps/report.npm)");
	snprintf(work, sizeof(work), "%s/jest", dir);
	snprintf(out, sizeof(out), "%s/jest.xml", dir);
	cr_assert_eq(dt_sh("cp -r '%s' '%s'", PROD "/jest", work), 0);
	dt_sh("cd '%s' && JEST_JUNIT_OUTPUT_DIR='%s' JEST_JUNIT_OUTPUT_NAME=jest.xml '%s' --ci --rootDir . "
	      "--reporters=default --reporters='%s' >/dev/null 2>&1",
	      work, dir, bin, DEVSYS_SOURCE_DIR "/.deps/node/node_modules/jest-junit");
	cr_assert(dt_exists(out), "jest-junit wrote no file");
	r = parse_ok(out);
	expect_counts(r, 4, 2, 1, 0, 1);
	cr_assert(strstr(find_case(r, "math fails on purpose")->text, "Expected"));
	devsys_report_free(r);
}

Test(report, maven_surefire_handwritten)
{
	devsys_report *r = parse_ok(FIX "/surefire-TEST-com.example.CalculatorTest.xml");
	expect_counts(r, 5, 2, 1, 1, 1);
	cr_assert_eq(find_case(r, "retriesThenPasses")->status, DEVSYS_REPORT_PASSED);
	cr_assert_float_eq(find_case(r, "retriesThenPasses")->time, 1002.25, 1e-9);
	cr_assert_str_eq(find_case(r, "divides")->type, "org.opentest4j.AssertionFailedError");
	cr_assert_str_eq(find_case(r, "divides")->message, "expected: <2> but was: <3>");
	cr_assert_str_eq(find_case(r, "divides")->system_out, "dividing 6 by 3\n");
	devsys_report_free(r);
}

Test(report, go_junit_report_handwritten)
{
	devsys_report *r = parse_ok(FIX "/go-junit-report.xml");
	expect_counts(r, 4, 2, 1, 0, 1);
	cr_assert_str_eq(find_case(r, "TestAddOverflow")->suite, "example.com/calc/add");
	cr_assert_str_eq(find_case(r, "TestMulBig")->suite, "example.com/calc/mul");
	devsys_report_free(r);
}

Test(report, precedence_and_defaults)
{
	devsys_report *r = parse_buf(
		"<testsuite name='S' tests='1' failures='0'>"
		"<testcase name='all'><skipped/><error message='e'/><failure message='f'/></testcase>"
		"<testcase name='errskip'><skipped/><error message='e'/></testcase>"
		"<testcase name='skip' classname=''><skipped message='later'/></testcase>"
		"<testcase name='ok' classname='K' time='abc'/>"
		"</testsuite>");
	expect_counts(r, 4, 1, 1, 1, 1);
	cr_assert_eq(find_case(r, "all")->status, DEVSYS_REPORT_FAILED);
	cr_assert_str_eq(find_case(r, "all")->message, "f");
	cr_assert_eq(find_case(r, "errskip")->status, DEVSYS_REPORT_ERROR);
	cr_assert_str_eq(find_case(r, "skip")->classname, "S");
	cr_assert_str_eq(find_case(r, "ok")->classname, "K");
	cr_assert_float_eq(find_case(r, "ok")->time, 0.0, 1e-12);
	cr_assert_str_eq(find_case(r, "ok")->source, "inline.xml");
	devsys_report_free(r);
}

Test(report, nested_suites_use_the_innermost_name)
{
	devsys_report *r = parse_buf("<testsuites><testsuite name='outer'><testcase name='a'/>"
	                             "<testsuite name='inner'><testcase name='b'><failure/></testcase></testsuite>"
	                             "<testcase name='c'/></testsuite></testsuites>");
	expect_counts(r, 3, 2, 1, 0, 0);
	cr_assert_str_eq(find_case(r, "a")->classname, "outer");
	cr_assert_str_eq(find_case(r, "b")->classname, "inner");
	cr_assert_str_eq(find_case(r, "c")->suite, "outer");
	devsys_report_free(r);
}

Test(report, texts_are_bounded_at_utf8_boundaries)
{
	devsys_buf xml = DEVSYS_BUF_INIT;
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_report *r = NULL;
	const devsys_report_case *c;
	devsys_buf_puts(&xml, "<testsuite name='s'><testcase name='big'><failure message='m'>");
	for (int i = 0; i < 20000; i++)
		devsys_buf_puts(&xml, "\xc3\xa9"); /* é, two bytes */
	devsys_buf_puts(&xml, "</failure><system-out>");
	for (int i = 0; i < 5000; i++)
		devsys_buf_puts(&xml, "0123456789");
	devsys_buf_puts(&xml, "</system-out></testcase></testsuite>");
	o.max_text = 1001;
	cr_assert_eq(devsys_report_new(&r), 0);
	cr_assert_eq(devsys_report_add_junit_buffer(r, xml.ptr, xml.size, NULL, &o), 0);
	c = devsys_report_case_at(r, 0);
	cr_assert_not_null(c);
	cr_assert(strstr(c->text, "bytes cut]"));
	cr_assert_eq(strncmp(c->text + 1000, "\n[... 39000 bytes cut]", 22), 0, "%s", c->text + 990);
	cr_assert_eq(strncmp(c->system_out + 1001, "\n[... 48999 bytes cut]", 22), 0);
	devsys_report_free(r);
	devsys_buf_dispose(&xml);
}

Test(report, merge_write_and_reparse_round_trip)
{
	char out[4096], sum[4096];
	devsys_report *r = NULL, *back = NULL;
	devsys_buf js = DEVSYS_BUF_INIT;
	char *text;
	cr_assert_eq(devsys_report_new(&r), 0);
	cr_assert_eq(devsys_report_add_junit(r, FIX "/surefire-TEST-com.example.CalculatorTest.xml", NULL), 0);
	cr_assert_eq(devsys_report_add_junit(r, FIX "/go-junit-report.xml", NULL), 0);
	expect_counts(r, 9, 4, 2, 1, 2);
	cr_assert_eq(devsys_report_source_count(r), 2);
	snprintf(out, sizeof(out), "%s/normalised.xml", dir);
	cr_assert_eq(devsys_report_write_junit(r, out), 0);
	text = dt_read_file(out, NULL);
	cr_assert(strstr(text, "<testsuites tests=\"9\" failures=\"2\" errors=\"1\" skipped=\"2\""), "%s", text);
	cr_assert(strstr(text, "expected: &lt;2&gt; but was: &lt;3&gt;"));
	free(text);
	back = parse_ok(out);
	expect_counts(back, 9, 4, 2, 1, 2);
	for (size_t i = 0; i < 9; i++) {
		cr_assert_str_eq(devsys_report_case_at(back, i)->name, devsys_report_case_at(r, i)->name);
		cr_assert_eq(devsys_report_case_at(back, i)->status, devsys_report_case_at(r, i)->status);
		cr_assert_str_eq(devsys_report_case_at(back, i)->classname, devsys_report_case_at(r, i)->classname);
	}
	snprintf(sum, sizeof(sum), "%s/summary.json", dir);
	cr_assert_eq(devsys_report_write_summary(r, sum), 0);
	text = dt_read_file(sum, NULL);
	cr_assert(strstr(text, "\"tests\": 9"));
	cr_assert(strstr(text, "\"name\": \"divides\""));
	cr_assert(strstr(text, "\"name\": \"TestAddOverflow\""));
	cr_assert(strstr(text, "go-junit-report.xml"));
	cr_assert_eq(devsys_report_summary_json(r, &js), 0);
	cr_assert(strstr(js.ptr, "\"failed_cases_truncated\": 0"));
	free(text);
	devsys_buf_dispose(&js);
	devsys_report_free(back);
	devsys_report_free(r);
}

static int count_cb(const devsys_report_case *c, void *payload)
{
	(*(size_t *)payload)++;
	return strcmp(c->name, "stop-here") == 0;
}

Test(report, no_cases_mode_and_callback)
{
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_report *r = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	size_t seen = 0;
	o.flags = DEVSYS_REPORT_NO_CASES;
	o.case_cb = count_cb;
	o.case_payload = &seen;
	cr_assert_eq(devsys_report_new(&r), 0);
	cr_assert_eq(devsys_report_add_junit(r, FIX "/go-junit-report.xml", &o), 0);
	cr_assert_eq(seen, 4);
	cr_assert_eq(devsys_report_tests(r), 4);
	cr_assert_eq(devsys_report_case_count(r), 0);
	cr_assert_eq(devsys_report_junit_buf(r, &b), DEVSYS_ESTATE);
	cr_assert_eq(devsys_report_summary_json(r, &b), 0);
	cr_assert(strstr(b.ptr, "TestAddOverflow"));
	cr_assert_eq(devsys_report_add_junit_buffer(r, "<testsuite><testcase name='stop-here'/></testsuite>", 51, NULL, &o),
	             DEVSYS_EUSER);
	cr_assert_eq(devsys_report_tests(r), 4, "an aborted parse adds nothing");
	devsys_buf_dispose(&b);
	devsys_report_free(r);
}

Test(report, options_versions)
{
	devsys_report_options o;
	cr_assert_eq(devsys_report_options_init(&o, 0), DEVSYS_EVERSION);
	cr_assert_eq(devsys_report_options_init(&o, DEVSYS_REPORT_OPTIONS_VERSION + 1), DEVSYS_EVERSION);
	cr_assert_eq(devsys_report_options_init(&o, 1), 0);
	cr_assert_eq(o.version, 1);
	cr_assert_eq(devsys_report_parse_junit(NULL, "x", NULL), DEVSYS_EINVAL);
	cr_assert_str_eq(devsys_report_status_name(DEVSYS_REPORT_ERROR), "error");
}

/* The totals-only path without a callback reads attributes in place and allocates nothing
 * per case; it must give the same summary (counts, time, failed names and messages) as the
 * path that keeps every case. */
static void expect_lean_same(const char *xml, size_t len, const char *label)
{
	devsys_report_options lean = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_report *a = NULL, *b = NULL;
	devsys_buf ja = DEVSYS_BUF_INIT, jb = DEVSYS_BUF_INIT;
	lean.flags = DEVSYS_REPORT_NO_CASES;
	cr_assert_eq(devsys_report_new(&a), 0);
	cr_assert_eq(devsys_report_new(&b), 0);
	cr_assert_eq(devsys_report_add_junit_buffer(a, xml, len, label, &lean), 0, "%s", label);
	cr_assert_eq(devsys_report_add_junit_buffer(b, xml, len, label, NULL), 0, "%s", label);
	cr_assert_eq(devsys_report_case_count(a), 0);
	cr_assert_gt(devsys_report_case_count(b), 0);
	cr_assert_eq(devsys_report_summary_json(a, &ja), 0);
	cr_assert_eq(devsys_report_summary_json(b, &jb), 0);
	cr_assert_str_eq(ja.ptr, jb.ptr, "%s: lean and full summaries differ", label);
	cr_assert(devsys_report_time(a) == devsys_report_time(b), "%s: time differs", label);
	devsys_buf_dispose(&ja);
	devsys_buf_dispose(&jb);
	devsys_report_free(a);
	devsys_report_free(b);
}

Test(report, lean_path_matches_full_path)
{
	static const char edge[] =
	    "<testsuites><testsuite name='S'>"
	    "<testcase name='a' classname='' time='1,234.5'><failure/></testcase>"
	    "<testcase name='b' time='0.1'><failure message=''>t</failure><error message='e'/></testcase>"
	    "<testcase classname='C' time='1e2'><error message='boom' type='X'/></testcase>"
	    "<testcase name='d' status='Disabled' time='0.3'/>"
	    "<testcase name='e' time='-1'><skipped/><failure message='f2'/></testcase>"
	    "<testcase name='f' time='12345678901234567.5'><properties><failure message='deep'/></properties></testcase>"
	    "<testcase name='g' time='abc'><system-out>x</system-out><error/></testcase>"
	    "</testsuite><testsuite name='T'><testcase name='h' time='2'/></testsuite></testsuites>";
	const char *fixtures[] = { FIX "/go-junit-report.xml", FIX "/surefire-TEST-com.example.CalculatorTest.xml" };
	devsys_buf many = DEVSYS_BUF_INIT;
	expect_lean_same(edge, strlen(edge), "edge");
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		size_t len = 0;
		char *xml = dt_read_file(fixtures[i], &len);
		cr_assert(xml, "%s", fixtures[i]);
		expect_lean_same(xml, len, fixtures[i]);
		free(xml);
	}
	/* past the failed-name limit, failures are counted but their names are not kept */
	cr_assert_eq(devsys_buf_puts(&many, "<testsuite name='M'>"), 0);
	for (int i = 0; i < DEVSYS_REPORT_MAX_FAILED_NAMES + 50; i++)
		cr_assert_eq(devsys_buf_printf(&many, "<testcase name='t%d' time='0.%03d'><failure message='m%d'/></testcase>",
		                               i, i % 1000, i), 0);
	cr_assert_eq(devsys_buf_puts(&many, "</testsuite>"), 0);
	expect_lean_same(many.ptr, many.size, "many");
	devsys_buf_dispose(&many);
}

Test(report, case_time_is_read_as_strtod_reads_it)
{
	const char *times[] = { "0.1", "0.3", "0.123", "1.7976931348623157", "999999999.999999", "0.000000000000000000001",
	                        "000.50", "7", "3." };
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char xml[256];
		devsys_report *r = NULL;
		int n = snprintf(xml, sizeof(xml), "<testsuite><testcase name='x' time='%s'/></testsuite>", times[i]);
		cr_assert_eq(devsys_report_new(&r), 0);
		cr_assert_eq(devsys_report_add_junit_buffer(r, xml, (size_t)n, NULL, NULL), 0);
		cr_assert(devsys_report_time(r) == strtod(times[i], NULL), "time '%s': %.17g != %.17g", times[i],
		          devsys_report_time(r), strtod(times[i], NULL));
		devsys_report_free(r);
	}
}
