/*
 * `devsys git checkout|commit|push` over a file:// remote.
 */
#include "gitfix.h"

static const char *cli(void)
{
	const char *p = getenv("DEVSYS_CLI");
	cr_assert_not_null(p, "DEVSYS_CLI is set by ctest");
	return p;
}

Test(git_cli, checkout_commit_push_and_refusals)
{
	char *dir = dt_tmpdir("gitcli");
	char *bare = gf_make_remote(dir, "proj");
	int st = -1;
	char *out = dt_sh_output(&st, "'%s' --json --workspace '%s/ws' git checkout 9 --url 'file://%s'", cli(), dir, bare);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "\"branch\": \"task/9\"") != NULL, "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --json --workspace '%s/ws' git commit 9 --url 'file://%s' -m nothing", cli(), dir, bare);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "\"committed\": false") != NULL, "%s", out);
	free(out);
	dt_sh("echo x > '%s/ws/tasks/9/checkout/x.txt'", dir);
	out = dt_sh_output(&st, "'%s' --json --workspace '%s/ws' git commit 9 --url 'file://%s' -m 'add x'", cli(), dir, bare);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "\"committed\": true") != NULL, "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --workspace '%s/ws' git push 9 --url 'file://%s'", cli(), dir, bare);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	cr_assert_eq(dt_sh("git -C '%s' rev-parse -q --verify refs/heads/task/9 >/dev/null", bare), 0);
	/* A protected branch is a negative result (exit 1), bad usage exit 2. */
	out = dt_sh_output(&st, "'%s' --json --workspace '%s/ws' git checkout 10 --url 'file://%s' --template main", cli(),
	                   dir, bare);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "DEVSYS_EPROTECTED") != NULL, "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' --workspace '%s/ws' git checkout 10 2>&1", cli(), dir);
	cr_assert_eq(st, 2, "%s", out);
	free(out);
	dt_rmrf(dir);
	free(dir);
	free(bare);
}
