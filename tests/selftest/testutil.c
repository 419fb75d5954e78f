/*
 * The test support library's own guards: dt_tmpdir() makes a deep root that
 * does not exist yet (scripts/dev test sets one of over 150 characters), and
 * dt_rmrf() removes only what lies strictly below a temp root.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static char *base, *saved;

/* A private base directory outside /tmp, so the /tmp allowance of dt_rmrf plays no part. */
static void setup(void)
{
	const char *t = getenv("DEVSYS_TEST_TMP");
	if (!t || !*t || strncmp(t, "/tmp/", 5) == 0)
		return;
	saved = strdup(t);
	base = dt_tmpdir("selftest");
}

static void teardown(void)
{
	if (saved)
		setenv("DEVSYS_TEST_TMP", saved, 1);
	dt_rmrf(base);
	free(base);
	free(saved);
}

#define NEED_BASE()                                                                               \
	do {                                                                                      \
		if (!saved)                                                                       \
			dt_skip("DEVSYS_TEST_TMP is unset or under /tmp (ctest sets it to the build tree)"); \
		cr_assert_not_null(base);                                                         \
	} while (0)

TestSuite(selftest_testutil, .init = setup, .fini = teardown);

Test(selftest_testutil, tmpdir_creates_a_deep_root_that_does_not_exist)
{
	char root[4096];
	NEED_BASE();
	snprintf(root, sizeof(root), "%s/%0200d/a/b", base, 0);
	cr_assert_not(dt_exists(root));
	setenv("DEVSYS_TEST_TMP", root, 1);
	char *d = dt_tmpdir("deep");
	cr_assert_not_null(d, "dt_tmpdir under a deep, missing root");
	cr_assert_eq(strncmp(d, root, strlen(root)), 0);
	cr_assert(dt_exists(d));
	cr_assert_gt(strlen(d), 150);
	free(d);
}

Test(selftest_testutil, rmrf_removes_only_strictly_below_the_root)
{
	char root[4096], inside[4200], sibling[4200], dotdot[4300], quoted[4200];
	NEED_BASE();
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(inside, sizeof(inside), "%s/inside", root);
	snprintf(sibling, sizeof(sibling), "%s/root-sibling", base);
	snprintf(dotdot, sizeof(dotdot), "%s/x/../../root-sibling", root);
	snprintf(quoted, sizeof(quoted), "%s/it's", root);
	cr_assert_eq(dt_sh("mkdir -p '%s/sub' '%s/x' '%s' \"%s\" && touch '%s/sub/f'", inside, root, sibling, quoted,
	                   inside),
	             0);
	setenv("DEVSYS_TEST_TMP", root, 1);

	dt_rmrf(root); /* the root itself */
	cr_assert(dt_exists(inside), "dt_rmrf removed the temp root itself");
	dt_rmrf(sibling); /* shares the root's prefix, but lies beside it */
	cr_assert(dt_exists(sibling), "dt_rmrf removed a sibling that only shares the root's prefix");
	dt_rmrf(dotdot);
	cr_assert(dt_exists(sibling), "dt_rmrf followed '..' out of the root");
	dt_rmrf(quoted);
	cr_assert(dt_exists(quoted), "dt_rmrf passed a quote to the shell");

	dt_rmrf(inside); /* positive control */
	cr_assert_not(dt_exists(inside), "dt_rmrf did not remove a directory below the root");
	cr_assert(dt_exists(root));
}
