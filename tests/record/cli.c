/* devsys report: table, --json, and the HTML page checked in headless Chromium. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/record.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX DEVSYS_SOURCE_DIR "/tests/report/fixtures"

static char *dir;
static const char *cli;

/* A workspace whose task t1 has a complete run with 2 failures and 1 error. */
static void setup(void)
{
	devsys_workspace *ws;
	devsys_task *t;
	devsys_record *rec;
	unsigned int run;
	char src[4096];
	cli = getenv("DEVSYS_CLI");
	cr_assert_not_null(cli);
	dir = dt_tmpdir("report-cli");
	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_task_open(&t, ws, "t1", DEVSYS_TASK_CREATE), 0);
	cr_assert_eq(devsys_record_open(&rec, t), 0);
	cr_assert_eq(devsys_record_run_begin(rec, &run), 0);
	snprintf(src, sizeof(src), "%s/a.xml", devsys_task_path(t));
	cr_assert_eq(dt_sh("cp '%s/go-junit-report.xml' '%s'", FIX, src), 0);
	cr_assert_eq(devsys_record_run_add_junit(rec, run, src), 0);
	snprintf(src, sizeof(src), "%s/b.xml", devsys_task_path(t));
	cr_assert_eq(dt_sh("cp '%s/surefire-TEST-com.example.CalculatorTest.xml' '%s'", FIX, src), 0);
	cr_assert_eq(devsys_record_run_add_junit(rec, run, src), 0);
	cr_assert_eq(devsys_record_run_complete(rec, run), 0);
	devsys_record_free(rec);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	devsys_shutdown();
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
}

TestSuite(report_cli, .init = setup, .fini = teardown);

Test(report_cli, table_and_exit_code)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' --no-color --workspace '%s' report t1", cli, dir);
	cr_assert_eq(st, 1, "failed tests give exit 1: %s", out);
	cr_assert(strstr(out, "task t1, run 1: 9 tests, 4 passed, 2 failed, 1 errors, 2 skipped"), "%s", out);
	cr_assert(strstr(out, "FAIL") && strstr(out, "com.example.CalculatorTest.divides"));
	cr_assert(strstr(out, "expected: <2> but was: <3>"));
	cr_assert_null(strstr(out, "\033["), "no colours when not a tty");
	free(out);
	out = dt_sh_output(&st, "'%s' --no-color report '%s/go-junit-report.xml'", cli, FIX);
	cr_assert_eq(st, 1);
	cr_assert(strstr(out, "4 tests"));
	free(out);
	out = dt_sh_output(&st, "'%s' --workspace '%s' report nope 2>&1", cli, dir);
	cr_assert_eq(st, 2, "%s", out);
	free(out);
}

Test(report_cli, json)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' --json --workspace '%s' report t1", cli, dir);
	cr_assert_eq(st, 1);
	cr_assert(strstr(out, "\"tests\": 9"), "%s", out);
	cr_assert(strstr(out, "\"name\": \"TestAddOverflow\""));
	free(out);
}

Test(report_cli, html_renders_in_headless_chromium, .timeout = 120)
{
	char html[4096], png[4096], profile[4096];
	char *browser = dt_which("chromium");
	char *dom, *page;
	int st;
	size_t len = 0;
	snprintf(html, sizeof(html), "%s/report.html", dir);
	snprintf(png, sizeof(png), "%s/report.png", dir);
	snprintf(profile, sizeof(profile), "%s/chromium-profile", dir);
	cr_assert_eq(dt_sh("'%s' --workspace '%s' report --html --output '%s' t1 2>/dev/null; test $? -eq 1", cli, dir, html),
	             0);
	page = dt_read_file(html, NULL);
	cr_assert_not_null(page);
	cr_assert(strstr(page, "<style>") && !strstr(page, "<link") && !strstr(page, "src=\"http"),
	          "the page is self-contained");
	cr_assert(strstr(page, "id=\"slowest\"") && strstr(page, "class=\"bar\""));
	cr_assert(strstr(page, "expected: &lt;2&gt; but was: &lt;3&gt;"), "messages are escaped");
	free(page);
	if (!browser)
		dt_skip("Debian chromium is not installed (apt-get install chromium)");
	dom = dt_sh_output(&st,
	                   "'%s' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
	                   "--disable-background-networking --disable-component-update --disable-sync "
	                   "--user-data-dir='%s' --dump-dom 'file://%s' 2>/dev/null",
	                   browser, profile, html);
	cr_assert_eq(st, 0);
	cr_assert(strstr(dom, "data-rendered=\"yes\""), "the page's script did not run: %.300s", dom);
	cr_assert(strstr(dom, "<span class=\"test-name\">TestAddOverflow</span>"), "failed test missing: %.500s", dom);
	cr_assert(strstr(dom, "<span class=\"test-name\">divides</span>"));
	cr_assert(strstr(dom, "<span class=\"test-name\">nullInput</span>"));
	free(dom);
	cr_assert_eq(dt_sh("'%s' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
	                   "--disable-background-networking --disable-component-update --disable-sync "
	                   "--user-data-dir='%s' --window-size=1000,800 --screenshot='%s' 'file://%s' >/dev/null 2>&1",
	                   browser, profile, png, html),
	             0);
	page = dt_read_file(png, &len);
	cr_assert_not_null(page, "no screenshot");
	cr_assert(len > 5000 && memcmp(page, "\x89PNG", 4) == 0, "screenshot of %zu bytes", len);
	free(page);
	free(browser);
}
