/*
 * devsys.yaml `agents:` section: profiles by name, lists given as YAML
 * sequences or one value, strict checking with file:line:col.
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
	devsys_shutdown();
}
TestSuite(config_agents, .init = setup, .fini = teardown);

static const char *good = "agents:\n"
                          "  opencode:\n"
                          "    kind: opencode\n"
                          "    provider: local\n"
                          "    base_url: http://127.0.0.1:8080/v1\n"
                          "    models: [qwen-coder, other/model:7b]\n"
                          "    tools:\n      - read\n      - write\n"
                          "    max_steps: 40\n"
                          "    max_cost: 2.5\n"
                          "  small:\n"
                          "    kind: opencode\n"
                          "    provider: local\n"
                          "    base_url: https://models.example.com/v1\n"
                          "    models: tiny\n";

static devsys_config *load(const char *text)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return c;
}

static const char *value(const devsys_config *c, const char *profile, const char *key, const char **where)
{
	const char *v = NULL;
	cr_assert_eq(devsys_config_agent_value(&v, where, c, profile, key), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return v;
}

Test(config_agents, profiles_lists_and_positions)
{
	devsys_config *c = load(good);
	const char *where = NULL, *v = NULL;
	cr_assert_str_eq(value(c, "opencode", "models", NULL), "qwen-coder,other/model:7b");
	cr_assert_str_eq(value(c, "opencode", "tools", &where), "read,write");
	cr_assert_str_eq(where, "devsys.yaml:9:9", "%s", where);
	cr_assert_str_eq(value(c, "opencode", "max_steps", NULL), "40");
	cr_assert_str_eq(value(c, "small", "models", NULL), "tiny");
	cr_assert_null(value(c, "small", "tools", NULL)); /* unset: the adapter's default */
	cr_assert_eq(devsys_config_agent_value(&v, NULL, c, "nope", "kind"), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "no profile 'nope'"));
	cr_assert_eq(devsys_config_agent_value(&v, NULL, c, "small", "colour"), DEVSYS_EINVAL);
	devsys_config_free(c);
}

static void refused(const char *text, const char *want)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), DEVSYS_EINVALID, "accepted: %s", text);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), want), "%s\nwanted: %s",
	          devsys_error_message(devsys_error_last()), want);
	cr_assert_null(c);
}

#define HEAD "agents:\n  oc:\n    kind: opencode\n    provider: p\n    base_url: http://127.0.0.1:1/v1\n"

Test(config_agents, bad_input_is_refused_with_its_position)
{
	refused(HEAD "    models: m\n    colour: red\n", "devsys.yaml:7:5: agents.oc.colour: unknown key");
	refused(HEAD "    models: m\n    tools: [read, teleport]\n", "agents.oc.tools: not a tool");
	refused(HEAD "    models: m\n    max_steps: 0\n", "agents.oc.max_steps: must be a whole number of at least 1");
	refused(HEAD "    models: m\n    max_cost: -1\n", "agents.oc.max_cost: must be a number above 0");
	refused(HEAD "    models: m\n    models: n\n", "agents.oc.models: given twice");
	refused(HEAD "    models: m\n    base_url: x\n", "given twice");
	refused("agents:\n  oc:\n    kind: opencode\n    provider: p\n    base_url: http://u:pw@h/v1\n    models: m\n",
	        "must not carry credentials");
	refused(HEAD, "agents.oc: 'models' is missing");
	refused("agents:\n  oc:\n    kind: aider\n", "agents.oc.kind: must be opencode");
	refused("agents: [a]\n", "agents: expected a mapping of profiles");
	refused(HEAD "    models: {a: b}\n", "expected a single value or a list");
	refused(HEAD "    models: m\n    ask: [bash, teleport]\n", "agents.oc.ask: not a tool");
	refused(HEAD "    models: m\n    api_key_secret: k\n    api_key_provider: vault\n",
	        "agents.oc.api_key_provider: must be env or file");
	refused(HEAD "    models: m\n    api_key_ref: /run/key\n",
	        "devsys.yaml:7:18: agents.oc: api_key_provider and api_key_ref need api_key_secret");
	refused(HEAD "    models: m\n    version: 1.0 beta\n", "agents.oc.version: a version is 1 to 64");
}
