/*
 * Planted Criterion binaries for the self-test of tests/support/run_test.sh.
 * They are built but never registered as ctest entries of their own: the
 * selftest entry runs each one through the same wrapper and properties as a
 * real suite and checks the verdict. One source, one PLANT_* per binary.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#if defined(PLANT_FAIL_SKIP)
/* A failure next to a skip: the entry must fail. */
Test(planted, fails) { cr_assert_eq(1 + 1, 3, "planted failure"); }
Test(planted, skips) { dt_skip("planted skip"); }
#elif defined(PLANT_CRASH_SKIP)
/* A crash next to a skip: the entry must fail. */
Test(planted, crashes) { abort(); }
Test(planted, skips) { dt_skip("planted skip"); }
#elif defined(PLANT_ALL_SKIP)
/* Every test skips: the entry is skipped (failed under CI=true). */
Test(planted, skips_one) { dt_skip("planted skip one"); }
Test(planted, skips_two) { dt_skip("planted skip two"); }
#elif defined(PLANT_PASS_SKIP)
/* A pass next to a skip: the entry passes (fails under CI=true). */
Test(planted, passes) { cr_assert_eq(1 + 1, 2); }
Test(planted, skips) { dt_skip("planted skip"); }
#elif defined(PLANT_PASS_RAWSKIP)
/* A skip that bypasses dt_skip's own CI check: run_test.sh must catch it. */
Test(planted, passes) { cr_assert_eq(1 + 1, 2); }
Test(planted, skips) { cr_skip_test("planted raw skip"); }
#elif defined(PLANT_PASS)
/* Positive control: a plain pass. */
Test(planted, passes) { cr_assert_eq(1 + 1, 2); }
#elif defined(PLANT_REPORT_SKIP)
/* A sanitizer report line in the output of a skipping entry: must fail. */
Test(planted, reports) { fprintf(stderr, "==1==ERROR: AddressSanitizer: planted report line\n"); }
Test(planted, skips) { dt_skip("planted skip"); }
#elif defined(PLANT_LEAK_SKIP)
/* A real leak in a test that then skips: under LeakSanitizer the entry fails. */
static void *volatile planted_sink;
Test(planted, leaks_then_skips)
{
	planted_sink = malloc(4096);
	memset(planted_sink, 1, 4096);
	planted_sink = NULL; /* the only pointer is gone: a definite leak */
	dt_skip("planted skip after a leak");
}
#elif defined(PLANT_OVERFLOW_SKIP)
/* A real heap overflow in a test that then skips (sanitizer builds only). */
Test(planted, overflows_then_skips)
{
	char *volatile p = malloc(8);
	p[8] = 'x';
	free(p);
	dt_skip("planted skip after an overflow");
}
#else
#error "define one PLANT_*"
#endif
