/*
 * devsys.yaml `forges:` section: entries by remote host, strict checking
 * with positions, host:port matching, DEVSYS_FORGE_<HOST>_<KEY> overrides.
 */
#include <devsys.h>
#include <devsys/config.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
}
static void teardown(void)
{
	unsetenv("DEVSYS_FORGE_GITHUB_COM_BOT");
	unsetenv("DEVSYS_FORGE_GIT_EXAMPLE_COM_3000_TOKEN_SECRET");
	unsetenv("DEVSYS_FORGE_GITHUB_COM_NOT_A_KEY_AT_ALL");
	devsys_shutdown();
}
TestSuite(config_forges, .init = setup, .fini = teardown);

static const char *good = "forges:\n"
                          "  github.com:\n"
                          "    provider: github\n"
                          "    token_secret: gh_token\n"
                          "    merge_method: squash\n"
                          "  git.example.com:3000:\n"
                          "    provider: gitea\n"
                          "    base_url: https://git.example.com:3000/api/v1\n"
                          "  git.example.com:\n"
                          "    provider: gitea\n"
                          "  local:\n"
                          "    provider: local\n";

static devsys_config *load(const char *text)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return c;
}

static const char *value(const devsys_config *c, const char *entry, const char *key, const char **where)
{
	const char *v = NULL;
	cr_assert_eq(devsys_config_forge_value(&v, where, c, entry, key), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return v;
}

Test(config_forges, entries_values_positions_and_matching)
{
	devsys_config *c = load(good);
	const char *e = NULL, *where = NULL;
	cr_assert_eq(devsys_config_forge_count(c), 4);
	cr_assert_str_eq(devsys_config_forge_host(c, 1), "git.example.com:3000");
	cr_assert_str_eq(value(c, "github.com", "provider", &where), "github");
	cr_assert_str_eq(where, "devsys.yaml:3:15");
	cr_assert_str_eq(value(c, "github.com", "token_secret", NULL), "gh_token");
	cr_assert_null(value(c, "github.com", "base_url", &where));
	cr_assert_null(where);
	/* host:port first, then the host alone; case does not matter */
	cr_assert_eq(devsys_config_forge_match(&e, c, "git.example.com:3000"), 0);
	cr_assert_str_eq(e, "git.example.com:3000");
	cr_assert_eq(devsys_config_forge_match(&e, c, "GIT.example.com:8080"), 0);
	cr_assert_str_eq(e, "git.example.com");
	cr_assert_eq(devsys_config_forge_match(&e, c, ""), 0);
	cr_assert_str_eq(e, "local", "a remote without a host uses the local entry");
	cr_assert_eq(devsys_config_forge_match(&e, c, "gitlab.com"), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "gitlab.com"));
	cr_assert_null(e);
	cr_assert_eq(devsys_config_forge_value(&e, NULL, c, "github.com", "password"), DEVSYS_EINVAL);
	cr_assert_eq(devsys_config_forge_value(&e, NULL, c, "nowhere", "provider"), DEVSYS_ENOTFOUND);
	devsys_config_free(c);
	/* No forges: section at all: no entries, nothing matches. */
	c = load("runners:\n  a:\n    type: inproc\n");
	cr_assert_eq(devsys_config_forge_count(c), 0);
	cr_assert_eq(devsys_config_forge_match(&e, c, "github.com"), DEVSYS_ENOTFOUND);
	devsys_config_free(c);
}

Test(config_forges, environment_overrides_change_entries_only)
{
	setenv("DEVSYS_FORGE_GITHUB_COM_BOT", "devsys-bot", 1);
	setenv("DEVSYS_FORGE_GIT_EXAMPLE_COM_3000_TOKEN_SECRET", "gitea_tok", 1);
	setenv("DEVSYS_FORGE_GITHUB_COM_NOT_A_KEY_AT_ALL", "x", 1); /* ends in no key: not ours */
	devsys_config *c = load(good);
	const char *where = NULL;
	cr_assert_str_eq(value(c, "github.com", "bot", &where), "devsys-bot");
	cr_assert_str_eq(where, "environment DEVSYS_FORGE_GITHUB_COM_BOT");
	cr_assert_str_eq(value(c, "git.example.com:3000", "token_secret", NULL), "gitea_tok");
	cr_assert_null(value(c, "git.example.com", "token_secret", NULL), "the port tells the entries apart");
	devsys_config_free(c);
}

static void bad(const char *text, const char *want)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), DEVSYS_EINVALID, "%s", text);
	cr_assert_null(c);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), want), "want '%s' in: %s", want,
	          devsys_error_message(devsys_error_last()));
}

Test(config_forges, strict_errors_name_the_place)
{
	bad("forges: [github.com]\n", "devsys.yaml:1:9: forges: expected a mapping");
	bad("forges:\n  github.com: github\n", "devsys.yaml:2:15: forges.github.com: expected a mapping");
	bad("forges:\n  github.com:\n    provider: github\n    tokn: x\n", "devsys.yaml:4:5: forges.github.com.tokn: unknown key");
	bad("forges:\n  github.com:\n    provider: [github]\n", "devsys.yaml:3:15: forges.github.com.provider: expected a single value");
	bad("forges:\n  github.com:\n    provider: GitHub\n", "forges.github.com.provider: a provider name is");
	bad("forges:\n  github.com:\n    provider: github\n    provider: gitea\n", "devsys.yaml:4:5: forges.github.com.provider: given twice");
	bad("forges:\n  github.com:\n    provider: github\n    token_secret: 'no spaces'\n", "forges.github.com.token_secret: a secret name");
	bad("forges:\n  github.com:\n    provider: github\n    base_url: ftp://x\n", "forges.github.com.base_url: must start with https://");
	bad("forges:\n  'host:port:x':\n    provider: github\n", "forges: 'host:port:x' is not a host name");
	bad("forges:\n  github.com:\n    provider: github\n    token_provider: env\n",
	    "devsys.yaml:4:21: forges.github.com.token_provider: needs token_secret");
	setenv("DEVSYS_FORGE_GITLAB_COM_PROVIDER", "github", 1);
	bad(good, "environment DEVSYS_FORGE_GITLAB_COM_PROVIDER: no forges: entry for host 'GITLAB_COM'");
	unsetenv("DEVSYS_FORGE_GITLAB_COM_PROVIDER");
}
