/*
 * devsys_features(): the library says which modules it was built with, the
 * same list CMake configured and devsys/features.h names.
 */
#include "testutil.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>

/* The configured list, comma-separated and unsorted, from the environment. */
static const char *configured(void)
{
	const char *c = getenv("DEVSYS_CONFIGURED_MODULES");
	cr_assert(c && *c, "DEVSYS_CONFIGURED_MODULES is not set (ctest sets it)");
	return c;
}

static size_t count_words(const char *s, char sep)
{
	size_t n = *s ? 1 : 0;
	for (; *s; s++)
		n += *s == sep;
	return n;
}

Test(features, library_matches_the_configured_modules)
{
	const char *f = devsys_features();
	char *list = strdup(configured());
	cr_assert_not_null(f);
	for (char *save = NULL, *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save))
		cr_assert_eq(devsys_feature_enabled(m), 1, "configured module '%s' missing from '%s'", m, f);
	free(list);
	/* nothing more than configured (core, workspace and task are in the list too) */
	cr_assert_eq(count_words(f, ' '), count_words(configured(), ','), "'%s' vs '%s'", f, configured());
	cr_assert_eq(devsys_feature_enabled("core"), 1);
	cr_assert_eq(devsys_feature_enabled("task"), 1);
}

Test(features, sorted_single_spaced)
{
	char *copy = strdup(devsys_features());
	char *prev = NULL;
	cr_assert_null(strstr(copy, "  "));
	cr_assert_neq(copy[0], ' ');
	cr_assert_neq(copy[strlen(copy) - 1], ' ');
	for (char *save = NULL, *m = strtok_r(copy, " ", &save); m; prev = m, m = strtok_r(NULL, " ", &save))
		if (prev)
			cr_assert_lt(strcmp(prev, m), 0, "'%s' before '%s'", prev, m);
	free(copy);
}

Test(features, header_agrees_with_library)
{
	cr_assert_str_eq(devsys_features(), DEVSYS_FEATURES);
#ifdef DEVSYS_FEATURE_GIT
	cr_assert_eq(devsys_feature_enabled("git"), 1);
#else
	cr_assert_eq(devsys_feature_enabled("git"), 0);
#endif
#ifdef DEVSYS_FEATURE_SPEC
	cr_assert_eq(devsys_feature_enabled("spec"), 1);
#else
	cr_assert_eq(devsys_feature_enabled("spec"), 0);
#endif
	cr_assert_eq(DEVSYS_FEATURE_CORE, 1);
}

Test(features, unknown_and_partial_names_are_not_features)
{
	cr_assert_eq(devsys_feature_enabled(NULL), 0);
	cr_assert_eq(devsys_feature_enabled(""), 0);
	cr_assert_eq(devsys_feature_enabled("nope"), 0);
	cr_assert_eq(devsys_feature_enabled("cor"), 0);   /* a prefix of core */
	cr_assert_eq(devsys_feature_enabled("ore"), 0);   /* a suffix of core */
	cr_assert_eq(devsys_feature_enabled("core "), 0);
	cr_assert_eq(devsys_feature_enabled("core task"), 0);
	cr_assert_eq(devsys_feature_enabled("CORE"), 0);
}
