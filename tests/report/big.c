/* Big reports parse in bounded memory (streaming, DEVSYS_REPORT_NO_CASES). */
#include "testutil.h"
#include <devsys.h>
#include <devsys/report.h>

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	dir = dt_tmpdir("report-big");
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
}

TestSuite(report_big, .init = setup, .fini = teardown, .timeout = 600);

/* Parse in a child; return its peak RSS in KiB and check the counts. */
static long parse_in_child(const char *path, size_t expect_tests)
{
	struct rusage ru;
	int st;
	pid_t pid = fork();
	if (pid == 0) {
		devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
		devsys_report *r = NULL;
		o.flags = DEVSYS_REPORT_NO_CASES;
		if (devsys_init() < 0 || devsys_report_parse_junit(&r, path, &o) < 0)
			_exit(2);
		_exit(devsys_report_tests(r) == expect_tests ? 0 : 3);
	}
	cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	return ru.ru_maxrss;
}

static void run(int mb)
{
	char path[4096];
	int s;
	char *out;
	size_t tests;
	long rss;
	snprintf(path, sizeof(path), "%s/big.xml", dir);
	cr_assert_eq(dt_sh("/usr/bin/python3 '%s/bench/report/gen_junit.py' '%s' %d", DEVSYS_SOURCE_DIR, path, mb), 0);
	/* the generator writes suites of 100 cases */
	out = dt_sh_output(&s, "grep -c '<testsuite ' '%s'", path);
	tests = (size_t)atol(out) * 100;
	free(out);
	rss = parse_in_child(path, tests);
#if defined(__SANITIZE_ADDRESS__)
	(void)rss; /* shadow memory makes RSS meaningless under ASan */
#else
	cr_assert_lt(rss, 32 * 1024, "peak RSS %ld KiB on a %d MB report", rss, mb);
#endif
}

Test(report_big, twenty_mb_in_bounded_memory)
{
	run(20);
}
