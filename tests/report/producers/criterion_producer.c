/* Producer fixture for Criterion --xml: 2 passed, 1 failed, 1 skipped. */
#include <criterion/criterion.h>

Test(producer, passes_one) { cr_assert_eq(1 + 1, 2); }
Test(producer, passes_two) { cr_assert(1); }
Test(producer, fails) { cr_assert_eq(1, 2, "one is not two"); }
Test(producer, skips) { cr_skip_test("not today"); }
