/*
 * devsys.yaml `policy:` and `runners.<profile>.risk`: parsing, strict
 * checking with positions (bad globs included), environment overrides, and
 * the policy handle the gate uses.
 */
#include <devsys.h>
#include <devsys/config.h>
#include <devsys/policy.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *const env_vars[] = {
	"DEVSYS_POLICY_AUTO_MERGE", "DEVSYS_POLICY_REQUIRED_CONTEXTS", "DEVSYS_POLICY_PATHS_CRITICAL",
	"DEVSYS_POLICY_CRITICAL_APPROVALS", "DEVSYS_POLICY_AUTO_MERG", "DEVSYS_RUNNER_LOCAL_RISK",
};

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
}
static void teardown(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	devsys_shutdown();
}
TestSuite(config_policy, .init = setup, .fini = teardown);

static const char *good =
	"runners:\n"
	"  local:\n"
	"    type: inproc\n"
	"    risk: high\n"
	"  plain:\n"
	"    type: inproc\n"
	"policy:\n"
	"  protected_branches: [main, 'release/*']\n"
	"  force_push: true\n"
	"  auto_merge: true\n"
	"  required_contexts:\n"
	"    - devsys/tests\n"
	"    - ci/build\n"
	"  critical_approvals: 2\n"
	"  paths:\n"
	"    high: ['deploy/**']\n"
	"    critical:\n"
	"      - /Makefile\n";

static devsys_config *load(const char *text)
{
	devsys_config *c;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return c;
}

static int cls(const devsys_policy *p, const char *path, const char **glob, const char **src)
{
	int r;
	cr_assert_eq(devsys_policy_explain(&r, glob, src, p, path), 0, "%s", devsys_error_message(devsys_error_last()));
	return r;
}

Test(config_policy, parses_the_section)
{
	devsys_config *c = load(good);
	const devsys_policy *p;
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	const char *glob, *src;
	cr_assert_eq(devsys_config_policy(&p, c), 0);
	cr_assert_eq(devsys_policy_get_options(&o, p), 0);
	cr_assert_eq(o.flags, DEVSYS_POLICY_AUTO_MERGE | DEVSYS_POLICY_FORCE_PUSH);
	cr_assert_eq(o.critical_approvals, 2);
	cr_assert_eq(o.nrequired_contexts, 2);
	cr_assert_str_eq(o.required_contexts[1], "ci/build");
	cr_assert_eq(o.nprotected_branches, 2);
	cr_assert_str_eq(o.protected_branches[1], "release/*");
	/* operator globs extend the defaults and say where they were written */
	cr_assert_eq(cls(p, "deploy/prod.sh", &glob, &src), DEVSYS_RISK_HIGH);
	cr_assert_str_eq(glob, "deploy/**");
	cr_assert_str_eq(src, "devsys.yaml:16:12");
	cr_assert_eq(cls(p, "Makefile", &glob, &src), DEVSYS_RISK_CRITICAL);
	cr_assert_str_eq(src, "devsys.yaml:18:9");
	cr_assert_eq(cls(p, "sub/Makefile", &glob, &src), DEVSYS_RISK_MEDIUM, "anchored by the leading '/'");
	cr_assert_eq(cls(p, "lib/a.c", &glob, &src), DEVSYS_RISK_CRITICAL);
	cr_assert_str_eq(src, "default");
	/* runner risk */
	int risk;
	cr_assert_eq(devsys_config_runner_risk(&risk, c, "local"), 0);
	cr_assert_eq(risk, DEVSYS_RISK_HIGH);
	cr_assert_eq(devsys_config_runner_risk(&risk, c, "plain"), 0);
	cr_assert_eq(risk, DEVSYS_RISK_UNSET);
	cr_assert_eq(devsys_config_runner_risk(&risk, c, "nope"), DEVSYS_ENOTFOUND);
	devsys_config_free(c);
}

Test(config_policy, no_section_gives_the_defaults)
{
	devsys_config *c = load("runners:\n  a:\n    type: inproc\n");
	const devsys_policy *p;
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	cr_assert_eq(devsys_config_policy(&p, c), 0);
	cr_assert_eq(devsys_policy_get_options(&o, p), 0);
	cr_assert_eq(o.flags, 0, "no auto-merge, no force push by default");
	cr_assert_eq(o.critical_approvals, 1);
	cr_assert_eq(o.nrequired_contexts, 1);
	cr_assert_str_eq(o.required_contexts[0], "devsys/tests");
	cr_assert_eq(devsys_policy_glob_count(p), 27);
	devsys_config_free(c);
	c = load("");
	cr_assert_eq(devsys_config_policy(&p, c), 0);
	cr_assert_eq(devsys_policy_glob_count(p), 27);
	devsys_config_free(c);
}

Test(config_policy, defaults_false_replaces_and_empty_contexts_are_none)
{
	devsys_config *c = load("policy:\n  required_contexts: []\n  paths:\n    defaults: false\n    low: ['lib/docs/**']\n");
	const devsys_policy *p;
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	cr_assert_eq(devsys_config_policy(&p, c), 0);
	cr_assert_eq(devsys_policy_get_options(&o, p), 0);
	cr_assert_eq(o.nrequired_contexts, 0);
	cr_assert_eq(devsys_policy_glob_count(p), 1);
	cr_assert_eq(cls(p, "lib/docs/a.txt", NULL, NULL), DEVSYS_RISK_LOW);
	cr_assert_eq(cls(p, "lib/a.c", NULL, NULL), DEVSYS_RISK_MEDIUM);
	devsys_config_free(c);
}

Test(config_policy, env_overrides)
{
	setenv("DEVSYS_POLICY_AUTO_MERGE", "false", 1);
	setenv("DEVSYS_POLICY_REQUIRED_CONTEXTS", "a/one,b/two,c/three", 1);
	setenv("DEVSYS_POLICY_PATHS_CRITICAL", "app/**", 1);
	setenv("DEVSYS_RUNNER_LOCAL_RISK", "critical", 1);
	devsys_config *c = load(good);
	const devsys_policy *p;
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	const char *src;
	int risk;
	cr_assert_eq(devsys_config_policy(&p, c), 0);
	cr_assert_eq(devsys_policy_get_options(&o, p), 0);
	cr_assert_eq(o.flags & DEVSYS_POLICY_AUTO_MERGE, 0);
	cr_assert_eq(o.nrequired_contexts, 3);
	cr_assert_str_eq(o.required_contexts[2], "c/three");
	cr_assert_eq(cls(p, "app/x", NULL, &src), DEVSYS_RISK_CRITICAL);
	cr_assert_str_eq(src, "environment DEVSYS_POLICY_PATHS_CRITICAL");
	cr_assert_eq(cls(p, "Makefile", NULL, NULL), DEVSYS_RISK_MEDIUM, "the override replaced the file's list");
	cr_assert_eq(devsys_config_runner_risk(&risk, c, "local"), 0);
	cr_assert_eq(risk, DEVSYS_RISK_CRITICAL);
	devsys_config_free(c);
	/* bad overrides name the variable; an unknown policy key is a typo, not ignored */
	setenv("DEVSYS_POLICY_CRITICAL_APPROVALS", "3", 1);
	cr_assert_eq(devsys_config_parse(&c, good, strlen(good), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "environment DEVSYS_POLICY_CRITICAL_APPROVALS"));
	unsetenv("DEVSYS_POLICY_CRITICAL_APPROVALS");
	setenv("DEVSYS_POLICY_AUTO_MERG", "true", 1);
	cr_assert_eq(devsys_config_parse(&c, good, strlen(good), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "DEVSYS_POLICY_AUTO_MERG: unknown policy key"), "%s",
	          devsys_error_message(devsys_error_last()));
	unsetenv("DEVSYS_POLICY_AUTO_MERG");
	setenv("DEVSYS_POLICY_PATHS_CRITICAL", "ok/**,bad[", 1);
	cr_assert_eq(devsys_config_parse(&c, good, strlen(good), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "unterminated character class"));
}

static void expect_bad(const char *text, const char *needle)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), DEVSYS_EINVALID, "for:\n%s\ngot: %s",
	             text, devsys_error_message(devsys_error_last()));
	cr_assert(strstr(devsys_error_message(devsys_error_last()), needle), "'%s' not in: %s", needle,
	          devsys_error_message(devsys_error_last()));
	cr_assert_null(c);
}

Test(config_policy, bad_inputs_named_with_positions)
{
	expect_bad("policy:\n  paths:\n    critical: ['ok/**', 'lib/[ab']\n",
	           "devsys.yaml:3:25: policy.paths.critical: glob 'lib/[ab': unterminated character class '[' at column 5");
	expect_bad("policy:\n  paths:\n    low: ['a**']\n", "'**' must be a whole path segment");
	expect_bad("policy:\n  auto_merge: low\n", "devsys.yaml:2:15: policy.auto_merge: 'low': expected true or false");
	expect_bad("policy:\n  auto_merge: yes\n", "YAML 1.1 boolean");
	expect_bad("policy:\n  critical_approvals: 3\n", "1 or 2 approvals");
	expect_bad("policy:\n  critical_approvals: 0\n", "1 or 2 approvals");
	expect_bad("policy:\n  auto_merj: true\n", "devsys.yaml:2:3: policy.auto_merj: unknown key (known: ");
	expect_bad("policy:\n  paths:\n    severe: [x]\n", "devsys.yaml:3:5: policy.paths.severe: unknown key");
	expect_bad("policy:\n  paths: [x]\n", "policy.paths: expected a mapping");
	expect_bad("policy:\n  required_contexts: devsys/tests\n", "policy.required_contexts: expected a list");
	expect_bad("policy:\n  required_contexts: [[a]]\n", "each entry is a single string");
	expect_bad("policy:\n  required_contexts: ['']\n", "empty");
	expect_bad("policy:\n  force_push: true\n  force_push: false\n", "devsys.yaml:3:3: policy.force_push: given twice");
	expect_bad("policy:\n  paths:\n    low: [a]\n    low: [b]\n", "policy.paths.low: given twice");
	expect_bad("policy: [1]\n", "policy: expected a mapping");
	expect_bad("policy:\n  auto_merge: true\npolicy:\n  auto_merge: false\n", "devsys.yaml:3:1: policy: section given twice");
	expect_bad("runners:\n  a:\n    type: inproc\n    risk: extreme\n",
	           "devsys.yaml:4:11: runners.a.risk: 'extreme': expected a risk class: low, medium, high or critical");
}
