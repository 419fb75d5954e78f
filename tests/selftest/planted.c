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
#elif defined(PLANT_KNOWN_LEAK) || defined(PLANT_UNKNOWN_LEAK) || defined(PLANT_KNOWN_LEAK_AND_ASAN) ||             \
    defined(PLANT_ALLOC_LEAK_ELSEWHERE)
/* LeakSanitizer-shaped reports against planted-stacks.supp: a leak whose stack
 * is listed is accepted; any other leak or sanitizer error fails the entry. */
static void leak_block(const char *offset)
{
	fprintf(stderr, "Direct leak of 8 byte(s) in 1 object(s) allocated from:\n"
	                "    #0 0x7f0000000001 in __interceptor_malloc asan_malloc_linux.cpp:69\n"
	                "    #1 0x7f0000000002  (/usr/lib/libplanted.so.1+%s)\n"
	                "    #2 0x7f0000000003 in planted_caller (/usr/lib/libplanted.so.1+0x20)\n"
	                "    #3 0x7f0000000004 in main planted.c:1\n\n",
	        offset);
}
/* A leak whose first named frame is an allocator the code under test calls too:
 * listed only with the third-party caller below it (libcaller.so.1+@p caller). */
static void alloc_leak_block(const char *caller)
{
	fprintf(stderr, "Direct leak of 8 byte(s) in 1 object(s) allocated from:\n"
	                "    #0 0x7f0000000001 in __interceptor_malloc asan_malloc_linux.cpp:69\n"
	                "    #1 0x7f0000000002  (/usr/lib/libplanted.so.1+0x40)\n"
	                "    #2 0x7f0000000003 in planted_alloc (/usr/lib/libplanted.so.1+0x50)\n"
	                "    #3 0x7f0000000004  (/usr/lib/libcaller.so.1+%s)\n"
	                "    #4 0x7f0000000005 in main planted.c:1\n\n",
	        caller);
}
Test(planted, reports_a_leak)
{
	fprintf(stderr, "==1==ERROR: LeakSanitizer: detected memory leaks\n\n");
	leak_block("0x10");
	alloc_leak_block("0x60");
#if defined(PLANT_UNKNOWN_LEAK)
	leak_block("0x11");
#endif
#if defined(PLANT_ALLOC_LEAK_ELSEWHERE)
	alloc_leak_block("0x61"); /* the allocator called from elsewhere: not the listed leak */
#endif
	fprintf(stderr, "SUMMARY: AddressSanitizer: 8 byte(s) leaked in 1 allocation(s).\n");
#if defined(PLANT_KNOWN_LEAK_AND_ASAN)
	fprintf(stderr, "==2==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n");
#endif
}
#else
#error "define one PLANT_*"
#endif
