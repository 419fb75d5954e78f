/*
 * The test support library's own guards: dt_tmpdir() makes a deep root that
 * does not exist yet (scripts/dev test sets one of over 150 characters), and
 * dt_rmrf() removes only what lies strictly below a temp root.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *base, *saved;

/*
 * A private base directory under the temp root. The root may be anywhere,
 * /tmp included (a checkout under /tmp); only dt_sockdir()'s /tmp/dt-*
 * allowance would blur the test, so such a root is refused.
 */
static void setup(void)
{
	const char *t = getenv("DEVSYS_TEST_TMP");
	if (!t || !*t || strncmp(t, "/tmp/dt-", 8) == 0)
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
			dt_skip("DEVSYS_TEST_TMP is unset or a /tmp/dt-* directory (ctest sets it to the build tree)"); \
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

Test(selftest_testutil, rmrf_removes_a_sockdir_but_no_other_tmp_path)
{
	char other[64];
	char *sock = dt_sockdir("self");
	cr_assert_not_null(sock);
	cr_assert_eq(strncmp(sock, "/tmp/dt-", 8), 0);
	snprintf(other, sizeof(other), "/tmp/devsys-selftest-%d", (int)getpid());
	cr_assert_eq(dt_sh("mkdir -p '%s'", other), 0);
	dt_rmrf(other); /* below /tmp, but neither below the temp root nor a sockdir */
	cr_assert(dt_exists(other), "dt_rmrf removed a /tmp path outside its roots");
	cr_assert_eq(dt_sh("rmdir '%s'", other), 0);
	dt_rmrf(sock); /* positive control */
	cr_assert_not(dt_exists(sock), "dt_rmrf did not remove a dt_sockdir() directory");
	free(sock);
}
