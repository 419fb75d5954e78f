/* Bad JUnit inputs: clear errors, nothing lost. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/report.h>

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static char *dir;
static devsys_report *r;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("report-bad");
	cr_assert_eq(devsys_report_new(&r), 0);
	/* a report that already holds one case: a failed parse must keep it */
	cr_assert_eq(devsys_report_add_junit_buffer(r, "<testsuite name='k'><testcase name='kept'/></testsuite>", 55,
	                                            "kept.xml", NULL), 0);
}

static void teardown(void)
{
	cr_assert_eq(devsys_report_tests(r), 1, "a failed parse changed the report");
	cr_assert_str_eq(devsys_report_case_at(r, 0)->name, "kept");
	devsys_report_free(r);
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(report_bad, .init = setup, .fini = teardown);

static int add_file(const char *name, const char *content)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert(dt_write_file(path, content));
	return devsys_report_add_junit(r, path, NULL);
}

static void expect_msg(const char *needle)
{
	const char *m = devsys_error_message(devsys_error_last());
	cr_assert(strstr(m, needle), "message '%s' lacks '%s'", m, needle);
}

Test(report_bad, external_entity_is_refused_and_not_read)
{
	char secret[4096], xml[8192];
	snprintf(secret, sizeof(secret), "%s/secret.txt", dir);
	cr_assert(dt_write_file(secret, "TOPSECRET-XXE-CONTENT"));
	snprintf(xml, sizeof(xml),
	         "<?xml version='1.0'?>\n<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM 'file://%s'>]>\n"
	         "<testsuite name='s'><testcase name='t'><failure message='&xxe;'>&xxe;</failure></testcase></testsuite>",
	         secret);
	cr_assert_eq(add_file("xxe.xml", xml), DEVSYS_EPARSE);
	expect_msg("entit");
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "TOPSECRET"));
}

Test(report_bad, plain_dtd_is_refused)
{
	cr_assert_eq(add_file("dtd.xml", "<?xml version='1.0'?>\n<!DOCTYPE testsuite SYSTEM 'junit.dtd'>\n"
	                                 "<testsuite name='s'><testcase name='t'/></testsuite>"),
	             DEVSYS_EPARSE);
	expect_msg("dtd.xml");
}

/*
 * Refused at the first entity declaration, before any expansion: the message
 * says so, and the process's peak resident memory grows by far less than
 * the 3 GB that expanding &lol9; would take (a bound in bytes, not a clock).
 */
Test(report_bad, billion_laughs_is_refused_before_expansion)
{
	struct rusage before, after;
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(getrusage(RUSAGE_SELF, &before), 0);
	devsys_buf_puts(&b, "<?xml version='1.0'?>\n<!DOCTYPE lolz [<!ENTITY lol 'lol'>");
	devsys_buf_puts(&b, "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>");
	for (int i = 2; i <= 9; i++)
		devsys_buf_printf(&b, "<!ENTITY lol%d '&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;'>",
		                  i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	devsys_buf_puts(&b, "]>\n<testsuite name='&lol9;'><testcase name='&lol9;'/></testsuite>");
	cr_assert_eq(add_file("lol.xml", b.ptr), DEVSYS_EPARSE);
	expect_msg("lol.xml");
	expect_msg("entit");
	devsys_buf_dispose(&b);
	cr_assert_eq(getrusage(RUSAGE_SELF, &after), 0);
	cr_assert_lt(after.ru_maxrss - before.ru_maxrss, 64 * 1024, "peak RSS grew by %ld KiB",
	             after.ru_maxrss - before.ru_maxrss);
}

Test(report_bad, internal_entity_without_dtd_is_an_error)
{
	cr_assert_eq(add_file("ent.xml", "<testsuite name='s'><testcase name='&undefined;'/></testsuite>"), DEVSYS_EPARSE);
}

Test(report_bad, invalid_utf8)
{
	cr_assert_eq(add_file("utf8.xml", "<testsuite name='s'><testcase name='bad \xff\xfe here'/></testsuite>"),
	             DEVSYS_EPARSE);
	expect_msg("utf8.xml:");
}

Test(report_bad, truncated_file)
{
	cr_assert_eq(add_file("trunc.xml", "<testsuites><testsuite name='s'><testcase name='a'/><testcase name='b'><fail"),
	             DEVSYS_EPARSE);
	expect_msg("trunc.xml");
}

Test(report_bad, ten_thousand_nested_suites)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	for (int i = 0; i < 10000; i++)
		devsys_buf_puts(&b, "<testsuite name='n'>");
	devsys_buf_puts(&b, "<testcase name='deep'/>");
	for (int i = 0; i < 10000; i++)
		devsys_buf_puts(&b, "</testsuite>");
	cr_assert_eq(add_file("deep.xml", b.ptr), DEVSYS_ELIMIT);
	expect_msg("nested");
	devsys_buf_dispose(&b);
}

Test(report_bad, not_junit_and_empty_and_missing)
{
	cr_assert_eq(add_file("html.xml", "<html><body/></html>"), DEVSYS_EPARSE);
	expect_msg("<html>");
	cr_assert_eq(add_file("empty.xml", ""), DEVSYS_EPARSE);
	cr_assert_eq(add_file("junk.xml", "not xml at all"), DEVSYS_EPARSE);
	cr_assert_eq(devsys_report_add_junit(r, "/nonexistent/report.xml", NULL), DEVSYS_ENOTFOUND);
	expect_msg("/nonexistent/report.xml");
	cr_assert_eq(devsys_report_add_junit(r, dir, NULL), DEVSYS_EPARSE, "a directory is not a report");
}
