/*
 * `devsys speckit check` and `devsys speckit plan`: exit codes, formats,
 * and the SARIF log checked by Microsoft's SARIF multitool.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define FIX DEVSYS_SOURCE_DIR "/tests/fixtures/speckit"
#define VALID FIX "/valid/001-photo-albums"
#define MULTITOOL DEVSYS_SOURCE_DIR "/.deps/node/node_modules/.bin/sarif-multitool"

static char *tmp;

static void setup(void)
{
	tmp = dt_tmpdir("speckit-cli");
}

static void teardown(void)
{
	dt_rmrf(tmp);
	free(tmp);
}

TestSuite(speckit_cli, .init = setup, .fini = teardown);

static const char *cli(void)
{
	const char *p = getenv("DEVSYS_CLI");
	cr_assert_not_null(p, "DEVSYS_CLI is set by ctest");
	return p;
}

static int run(char **out, const char *args)
{
	int status = -1;
	char *o = dt_sh_output(&status, "'%s' %s 2>&1", cli(), args);
	cr_assert_not_null(o);
	if (out)
		*out = o;
	else
		free(o);
	return status;
}

Test(speckit_cli, check_exits_0_1_or_2)
{
	char *out;
	cr_assert_eq(run(&out, "speckit check " VALID), 0, "%s", out);
	cr_assert_not_null(strstr(out, "0 error(s), 0 warning(s), 2 note(s) in 1 feature folder(s)"), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "speckit check " VALID " " FIX "/broken/sk004/001-mini-uploads"), 1, "%s", out);
	cr_assert_not_null(strstr(out, "spec.md:12: error: SK004: FR-001 is defined again (first at line 11)"), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "speckit check " FIX "/broken/sk004/001-mini-uploads " FIX "/no-such-feature"), 2, "%s", out);
	cr_assert_not_null(strstr(out, "no-such-feature"), "%s", out);
	free(out);
	cr_assert_eq(run(NULL, "speckit check"), 2);
	cr_assert_eq(run(NULL, "speckit check --bogus " VALID), 2);
	/* warnings alone do not fail */
	cr_assert_eq(run(NULL, "speckit check " FIX "/broken/sk012/001-mini-uploads"), 0);
}

Test(speckit_cli, check_json)
{
	char *out;
	cr_assert_eq(run(&out, "--json speckit check " FIX "/broken/sk011/001-mini-uploads"), 1, "%s", out);
	cr_assert_not_null(strstr(out, "\"rule\": \"SK011\""), "%s", out);
	cr_assert_not_null(strstr(out, "\"line\": 11"), "%s", out);
	free(out);
}

Test(speckit_cli, sarif_passes_the_sarif_multitool)
{
	if (!dt_exists(MULTITOOL))
		dt_skip("the SARIF multitool is not installed (scripts/bootstrap installs scripts/deps/speckit.npm)");
	char *out;
	char sarif[1024], bad[1024];
	snprintf(sarif, sizeof(sarif), "%s/findings.sarif", tmp);
	snprintf(bad, sizeof(bad), "%s/bad.sarif", tmp);
	cr_assert_eq(dt_sh("'%s' speckit check --sarif '%s' '%s' '%s' > '%s'", cli(), VALID, FIX "/broken/sk010/001-mini-uploads",
	                   FIX "/templates/002-feature-templates", sarif),
	             1);
	int status = -1;
	out = dt_sh_output(&status, "'%s' validate '%s' 2>&1", MULTITOOL, sarif);
	cr_assert_eq(status, 0, "%s", out);
	cr_assert_null(strstr(out, ": error "), "%s", out);
	cr_assert_not_null(strstr(out, "Analysis completed successfully"), "%s", out);
	free(out);
	/* positive control: the validator reports a log that breaks the schema
	 * (it exits 0 either way, so its error lines are what counts) */
	cr_assert_eq(dt_sh("sed 's/\"message\": {/\"mesage\": {/' '%s' > '%s'", sarif, bad), 0);
	out = dt_sh_output(&status, "'%s' validate '%s' 2>&1", MULTITOOL, bad);
	cr_assert_not_null(strstr(out, ": error JSON1002: "), "the broken log passed: %s", out);
	free(out);
}

Test(speckit_cli, plan_prints_the_waves_and_emits_valid_specs)
{
	char *out;
	char repo[1024];
	snprintf(repo, sizeof(repo), "%s/repo", tmp);
	cr_assert_eq(dt_sh("mkdir -p '%s/specs' && git init -q '%s' && cp -r '%s' '%s/specs/'", repo, repo, VALID, repo), 0);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "speckit plan '%s/specs/001-photo-albums'", repo);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	cr_assert_not_null(strstr(out, "wave 1: T001\nwave 2: T002 T003\n"), "%s", out);
	cr_assert_not_null(strstr(out, "wave 14: T018 T019\n"), "%s", out);
	free(out);
	char yaml[1100];
	snprintf(yaml, sizeof(yaml), "%s/wave.yaml", tmp);
	cr_assert_eq(dt_sh("'%s' speckit plan '%s/specs/001-photo-albums' --repo https://example.com/a.git --emit wave > '%s'",
	                   cli(), repo, yaml),
	             0);
	snprintf(cmd, sizeof(cmd), "validate '%s'", yaml);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	cr_assert_not_null(strstr(out, "document 14 (001-photo-albums-w14): valid"), "%s", out);
	free(out);
	char *text = dt_read_file(yaml, NULL);
	cr_assert_not_null(strstr(text, "feature_dir: \"specs/001-photo-albums\""), "relative to the repository: %s", text);
	free(text);
	snprintf(cmd, sizeof(cmd), "speckit plan '%s/specs/001-photo-albums' --emit task", repo);
	cr_assert_eq(run(&out, cmd), 2, "--emit without --repo: %s", out);
	free(out);
	cr_assert_eq(run(&out, "speckit plan " FIX "/broken/sk010/001-mini-uploads"), 1);
	cr_assert_not_null(strstr(out, "T003 depends on T004"), "%s", out);
	free(out);
}
