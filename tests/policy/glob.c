/*
 * Policy globs and path classes: the grammar case by case, bad globs with
 * their column, the default classes, change sets (renames, symlinks,
 * submodules, modes), and a pathological pattern that must stay fast.
 */
#include <devsys.h>
#include <devsys/policy.h>

#include "testutil.h"

#include <string.h>
#include <time.h>

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
}
static void teardown(void)
{
	devsys_shutdown();
}
TestSuite(policy_glob, .init = setup, .fini = teardown);

static void match(const char *glob, const char *path, int want)
{
	int got = devsys_policy_glob_match(glob, path);
	cr_assert_eq(got, want, "glob '%s' on '%s': got %d, want %d (%s)", glob, path, got, want,
	             got < 0 ? devsys_error_message(devsys_error_last()) : "");
}

Test(policy_glob, star_stays_in_one_segment)
{
	match("specs/*.json", "specs/task.schema.json", 1);
	match("specs/*.json", "specs/001-feature/contracts/api.json", 0);
	match("*.c", "a.c", 1);
	match("lib/*.c", "lib/a/b.c", 0);
	match("lib/*", "lib/a", 1);
	match("lib/*", "lib", 0);
	match("a*b*c", "aXXbYYc", 1);
	match("a*b*c", "aXXbYY", 0);
	match("*", ".hidden", 1); /* no special rule for dot files */
	match("specs/*.y*ml", "specs/create-blog.yaml", 1);
	match("specs/*.y*ml", "specs/create-blog.yml", 1);
	match("specs/*.y*ml", "specs/create-blog.json", 0);
}

Test(policy_glob, double_star_is_zero_or_more_segments)
{
	match("lib/**", "lib/a.c", 1);
	match("lib/**", "lib/x/y/z.c", 1);
	match("lib/**", "lib", 1); /* a file called lib is as critical as the folder */
	match("lib/**", "src/lib/a.c", 0);
	match("**/CMakeLists.txt", "CMakeLists.txt", 1);
	match("**/CMakeLists.txt", "a/b/CMakeLists.txt", 1);
	match("**/CMakeLists.txt", "a/CMakeLists.txt.bak", 0);
	match("a/**/b", "a/b", 1);
	match("a/**/b", "a/x/y/b", 1);
	match("a/**/b", "a/x/y/c", 0);
	match("a/**/**/b", "a/x/b", 1);
	match("**/x/**/y", "p/x/q/y", 1);
	match("**/x/**/y", "p/x/q/z", 0);
	match("**", "anything/at/all", 1);
}

Test(policy_glob, anchoring_and_basename_patterns)
{
	/* no slash: the file name at any depth */
	match("devsys.yaml", "devsys.yaml", 1);
	match("devsys.yaml", "sub/dir/devsys.yaml", 1);
	match("AGENTS.md", "pkg/AGENTS.md", 1);
	match("*.tf", "infra/main.tf", 1);
	/* a leading slash anchors it at the root */
	match("/devsys.yaml", "devsys.yaml", 1);
	match("/devsys.yaml", "sub/devsys.yaml", 0);
	match("/lib/**", "lib/a.c", 1);
	/* a slash elsewhere anchors too */
	match("docs/*.md", "docs/a.md", 1);
	match("docs/*.md", "x/docs/a.md", 0);
}

Test(policy_glob, question_mark_classes_and_escapes)
{
	match("a?c", "abc", 1);
	match("a?c", "a/c", 0);
	match("a?c", "ac", 0);
	match("[abc].c", "b.c", 1);
	match("[abc].c", "d.c", 0);
	match("[a-c]x", "bx", 1);
	match("[!a-c]x", "bx", 0);
	match("[!a-c]x", "dx", 1);
	match("[^a-c]x", "dx", 1);
	match("[]]x", "]x", 1);
	match("[a-]x", "-x", 1);
	match("[\\]]x", "]x", 1);
	match("\\*x", "*x", 1);
	match("\\*x", "ax", 0);
	match("Dockerfile*", "deploy/Dockerfile.dev", 1);
	match("dockerfile", "Dockerfile", 0); /* case-sensitive */
}

static void bad_glob(const char *glob, const char *needle)
{
	cr_assert_eq(devsys_policy_glob_check(glob), DEVSYS_EINVALID, "glob '%s' was accepted", glob);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), needle), "'%s' not in: %s", needle,
	          devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_policy_glob_match(glob, "a"), DEVSYS_EINVALID);
}

Test(policy_glob, bad_globs_name_the_column)
{
	cr_assert_eq(devsys_policy_glob_check("lib/**"), 0, "positive control");
	bad_glob("", "empty pattern");
	bad_glob("lib/[ab", "glob 'lib/[ab': unterminated character class '[' at column 5");
	bad_glob("a**", "'**' must be a whole path segment");
	bad_glob("x/a**b/c", "at column 4");
	bad_glob("a//b", "empty path segment");
	bad_glob("docs/", "trailing '/'");
	bad_glob("/", "nothing after");
	bad_glob("a/../b", "'.' and '..'");
	bad_glob("ab\\", "escapes nothing");
	char longg[1100];
	memset(longg, 'a', sizeof(longg) - 1);
	longg[sizeof(longg) - 1] = '\0';
	bad_glob(longg, "longer than 1024");
}

Test(policy_glob, bad_paths_are_refused)
{
	static const char *const bad[] = { "", "/etc/passwd", "a//b", "./a", "a/../b", "a/", "." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(devsys_policy_glob_match("**", bad[i]), DEVSYS_EINVAL, "path '%s' accepted", bad[i]);
		cr_assert(strstr(devsys_error_message(devsys_error_last()), "path '"));
	}
}

Test(policy_glob, pathological_patterns_stay_polynomial)
{
	/* A backtracking matcher takes exponential time on these; this one
	 * retries only the last star. The bound is generous: it fails only on
	 * a super-polynomial matcher, not on a slow machine. */
	char glob[1025], path[4097];
	size_t n = 0;
	while (n + 2 < 1000)
		glob[n++] = '*', glob[n++] = 'a';
	glob[n++] = 'b';
	glob[n] = '\0';
	memset(path, 'a', 4000);
	path[4000] = '\0';
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	match(glob, path, 0);
	/* the same across segments */
	n = 0;
	while (n + 5 < 1000)
		memcpy(glob + n, "**/a/", 5), n += 5;
	memcpy(glob + n, "b", 2);
	for (size_t i = 0; i < 4000; i += 2)
		path[i] = 'a', path[i + 1] = '/';
	path[3999] = 'a';
	match(glob, path, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(s, 10.0, "pathological globs took %.1f s", s);
}

/* ---- classes ---- */

static devsys_policy *defaults(void)
{
	devsys_policy *p;
	cr_assert_eq(devsys_policy_new(&p, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	return p;
}

static void cls(const devsys_policy *p, const char *path, int want, const char *want_glob)
{
	int risk;
	const char *glob, *source;
	cr_assert_eq(devsys_policy_explain(&risk, &glob, &source, p, path), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(risk, want, "%s: %s, want %s (glob %s)", path, devsys_risk_name(risk), devsys_risk_name(want),
	             glob ? glob : "none");
	if (want_glob) {
		cr_assert_not_null(glob, "%s: no glob", path);
		cr_assert_str_eq(glob, want_glob, "%s", path);
	} else {
		cr_assert_null(glob, "%s matched %s", path, glob);
		cr_assert_null(source);
	}
}

Test(policy_glob, highest_class_wins_and_first_glob_explains)
{
	devsys_policy *p = defaults();
	cls(p, "lib/README.md", DEVSYS_RISK_CRITICAL, "lib/**"); /* critical beats the low .md glob */
	cls(p, "docs/CMakeLists.txt", DEVSYS_RISK_CRITICAL, "**/CMakeLists.txt"); /* beats the low docs glob */
	cls(p, "AGENTS.md", DEVSYS_RISK_CRITICAL, "AGENTS.md");
	cls(p, "docs/guide.md", DEVSYS_RISK_LOW, "docs/**"); /* two low globs: the first one explains */
	cls(p, "notes/todo.md", DEVSYS_RISK_LOW, "**/*.md");
	cls(p, "app/main.py", DEVSYS_RISK_MEDIUM, NULL);
	int plain;
	cr_assert_eq(devsys_policy_classify(&plain, p, "lib/README.md"), 0);
	cr_assert_eq(plain, DEVSYS_RISK_CRITICAL, "classify agrees with explain");
	cr_assert_eq(devsys_policy_classify(&plain, p, "/abs"), DEVSYS_EINVAL);
	/* an operator glob raises, and names its source */
	cr_assert_eq(devsys_policy_add_glob(p, DEVSYS_RISK_HIGH, "app/**", "devsys.yaml:3:9"), 0);
	cls(p, "app/main.py", DEVSYS_RISK_HIGH, "app/**");
	const char *src;
	int r;
	cr_assert_eq(devsys_policy_explain(&r, NULL, &src, p, "app/x"), 0);
	cr_assert_str_eq(src, "devsys.yaml:3:9");
	cr_assert_eq(devsys_policy_explain(&r, NULL, &src, p, "lib/x"), 0);
	cr_assert_str_eq(src, "default");
	/* and can never lower a default: highest wins */
	cr_assert_eq(devsys_policy_add_glob(p, DEVSYS_RISK_LOW, "lib/docs/**", NULL), 0);
	cls(p, "lib/docs/a.txt", DEVSYS_RISK_CRITICAL, "lib/**");
	cr_assert_eq(devsys_policy_add_glob(p, 7, "x", NULL), DEVSYS_EINVALID);
	cr_assert_eq(devsys_policy_add_glob(p, DEVSYS_RISK_LOW, "x[", NULL), DEVSYS_EINVALID);
	devsys_policy_free(p);
}

Test(policy_glob, replacing_the_defaults)
{
	devsys_policy_options o = DEVSYS_POLICY_OPTIONS_INIT;
	devsys_policy *p;
	o.flags = DEVSYS_POLICY_NO_DEFAULT_GLOBS;
	cr_assert_eq(devsys_policy_new(&p, &o), 0);
	cr_assert_eq(devsys_policy_glob_count(p), 0);
	cls(p, "lib/a.c", DEVSYS_RISK_MEDIUM, NULL);
	cr_assert_eq(devsys_policy_add_glob(p, DEVSYS_RISK_LOW, "lib/docs/**", "mine"), 0);
	cls(p, "lib/docs/a.txt", DEVSYS_RISK_LOW, "lib/docs/**");
	devsys_policy_free(p);
}

Test(policy_glob, every_default_glob_is_listed_with_its_source)
{
	devsys_policy *p = defaults();
	size_t n = devsys_policy_glob_count(p), crit = 0, low = 0;
	for (size_t i = 0; i < n; i++) {
		const char *g, *s;
		int r;
		cr_assert_eq(devsys_policy_glob(&g, &r, &s, p, i), 0);
		cr_assert_str_eq(s, "default");
		crit += r == DEVSYS_RISK_CRITICAL;
		low += r == DEVSYS_RISK_LOW;
	}
	cr_assert_eq(crit, 25);
	cr_assert_eq(low, 2);
	cr_assert_eq(n, 27);
	cr_assert_eq(devsys_policy_glob(NULL, NULL, NULL, p, n), DEVSYS_ENOTFOUND);
	devsys_policy_free(p);
}

/* ---- change sets ---- */

static int set_class(const devsys_policy *p, devsys_policy_change *c, size_t n, size_t *decisive)
{
	const devsys_policy_change *v[8];
	int risk;
	for (size_t i = 0; i < n; i++)
		v[i] = &c[i];
	cr_assert_eq(devsys_policy_classify_changes(&risk, decisive, p, v, n), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return risk;
}

Test(policy_glob, change_sets)
{
	devsys_policy *p = defaults();
	devsys_policy_change c[3] = { DEVSYS_POLICY_CHANGE_INIT, DEVSYS_POLICY_CHANGE_INIT, DEVSYS_POLICY_CHANGE_INIT };
	size_t at;
	c[0].path = "docs/a.md";
	cr_assert_eq(set_class(p, c, 1, &at), DEVSYS_RISK_LOW, "positive control: docs alone are low");
	c[1].path = "app/x.py";
	cr_assert_eq(set_class(p, c, 2, &at), DEVSYS_RISK_MEDIUM);
	cr_assert_eq(at, 1);
	c[2].path = "src/devsys/main.c";
	cr_assert_eq(set_class(p, c, 3, &at), DEVSYS_RISK_CRITICAL, "the highest over the paths");
	cr_assert_eq(at, 2);
	/* a rename counts for both paths: out of lib/ into docs/ is critical */
	devsys_policy_change r = DEVSYS_POLICY_CHANGE_INIT;
	r.path = "docs/old-code.md";
	cr_assert_eq(set_class(p, &r, 1, NULL), DEVSYS_RISK_LOW);
	r.old_path = "lib/policy/policy.c";
	cr_assert_eq(set_class(p, &r, 1, NULL), DEVSYS_RISK_CRITICAL);
	r.path = "lib/moved.c";
	r.old_path = "docs/a.md";
	cr_assert_eq(set_class(p, &r, 1, NULL), DEVSYS_RISK_CRITICAL);
	/* a symlink, submodule or mode change is at least medium */
	static const unsigned int flags[] = { DEVSYS_POLICY_CHANGE_SYMLINK, DEVSYS_POLICY_CHANGE_SUBMODULE,
		                              DEVSYS_POLICY_CHANGE_MODE };
	for (size_t i = 0; i < 3; i++) {
		devsys_policy_change f = DEVSYS_POLICY_CHANGE_INIT;
		f.path = "docs/link.md";
		f.flags = flags[i];
		cr_assert_eq(set_class(p, &f, 1, NULL), DEVSYS_RISK_MEDIUM, "flag %u", flags[i]);
		f.path = "lib/link";
		cr_assert_eq(set_class(p, &f, 1, NULL), DEVSYS_RISK_CRITICAL, "a flag never lowers");
	}
	/* the flags from git modes */
	cr_assert_eq(devsys_policy_change_flags(0100644, 0100644), 0, "positive control: a plain edit");
	cr_assert_eq(devsys_policy_change_flags(0, 0100644), 0, "an added file");
	cr_assert_eq(devsys_policy_change_flags(0100644, 0), 0, "a deleted file");
	cr_assert_eq(devsys_policy_change_flags(0100644, 0100755), DEVSYS_POLICY_CHANGE_MODE);
	cr_assert_eq(devsys_policy_change_flags(0, 0120000), DEVSYS_POLICY_CHANGE_SYMLINK);
	cr_assert_eq(devsys_policy_change_flags(0120000, 0100644), DEVSYS_POLICY_CHANGE_SYMLINK | DEVSYS_POLICY_CHANGE_MODE);
	cr_assert_eq(devsys_policy_change_flags(0160000, 0160000), DEVSYS_POLICY_CHANGE_SUBMODULE);
	cr_assert_eq(devsys_policy_change_flags(0, 0160000), DEVSYS_POLICY_CHANGE_SUBMODULE);
	/* an empty set is medium; bad entries are errors naming them */
	int risk;
	cr_assert_eq(devsys_policy_classify_changes(&risk, &at, p, NULL, 0), 0);
	cr_assert_eq(risk, DEVSYS_RISK_MEDIUM);
	cr_assert_eq(at, SIZE_MAX);
	const devsys_policy_change *nul[1] = { NULL };
	cr_assert_eq(devsys_policy_classify_changes(&risk, NULL, p, nul, 1), DEVSYS_EINVAL);
	devsys_policy_change bad = DEVSYS_POLICY_CHANGE_INIT, *badp = &bad;
	bad.path = "../etc";
	cr_assert_eq(devsys_policy_classify_changes(&risk, NULL, p, (const devsys_policy_change *const *)&badp, 1),
	             DEVSYS_EINVAL);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "../etc"));
	bad.path = "a";
	bad.version = 99;
	cr_assert_eq(devsys_policy_classify_changes(&risk, NULL, p, (const devsys_policy_change *const *)&badp, 1),
	             DEVSYS_EVERSION);
	devsys_policy_free(p);
}

Test(policy_glob, options_round_trip)
{
	static const char *const ctx[] = { "devsys/tests", "ci/build" };
	static const char *const br[] = { "release/*" };
	devsys_policy_options o, got = DEVSYS_POLICY_OPTIONS_INIT;
	devsys_policy *p;
	cr_assert_eq(devsys_policy_options_init(&o, DEVSYS_POLICY_OPTIONS_VERSION), 0);
	cr_assert_eq(devsys_policy_options_init(&o, 99), DEVSYS_EVERSION);
	cr_assert_eq(devsys_policy_new(&p, NULL), 0);
	cr_assert_eq(devsys_policy_get_options(&got, p), 0);
	cr_assert_eq(got.nrequired_contexts, 1, "the default context");
	cr_assert_str_eq(got.required_contexts[0], "devsys/tests");
	cr_assert_eq(got.critical_approvals, 1);
	cr_assert_eq(got.flags, 0);
	devsys_policy_free(p);
	o.flags = DEVSYS_POLICY_AUTO_MERGE | DEVSYS_POLICY_FORCE_PUSH;
	o.critical_approvals = 2;
	o.required_contexts = ctx;
	o.nrequired_contexts = 2;
	o.protected_branches = br;
	o.nprotected_branches = 1;
	cr_assert_eq(devsys_policy_new(&p, &o), 0);
	cr_assert_eq(devsys_policy_get_options(&got, p), 0);
	cr_assert_eq(got.flags, o.flags);
	cr_assert_eq(got.critical_approvals, 2);
	cr_assert_eq(got.nrequired_contexts, 2);
	cr_assert_str_eq(got.required_contexts[1], "ci/build");
	cr_assert_neq((const void *)got.required_contexts, (const void *)ctx, "copied");
	cr_assert_str_eq(got.protected_branches[0], "release/*");
	devsys_policy_free(p);
	o.critical_approvals = 3;
	cr_assert_eq(devsys_policy_new(&p, &o), DEVSYS_EINVALID);
	cr_assert_null(p);
	o.critical_approvals = 1;
	o.nrequired_contexts = 0; /* explicit none */
	cr_assert_eq(devsys_policy_new(&p, &o), 0);
	cr_assert_eq(devsys_policy_get_options(&got, p), 0);
	cr_assert_eq(got.nrequired_contexts, 0);
	devsys_policy_free(p);
	cr_assert_str_eq(devsys_risk_name(DEVSYS_RISK_HIGH), "high");
	int r;
	cr_assert_eq(devsys_risk_from_name(&r, "critical"), 0);
	cr_assert_eq(r, DEVSYS_RISK_CRITICAL);
	cr_assert_eq(devsys_risk_from_name(&r, "extreme"), DEVSYS_EINVALID);
}
