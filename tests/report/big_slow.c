/* The 200 MB case of big.c, in the slow tier. */
#define report_big report_big_slow
#include "big.c"
#undef report_big

Test(report_big_slow, two_hundred_mb_in_bounded_memory)
{
	run(200);
}
