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

Test(config_agents, the_opencode_example_spec_validates_and_its_profile_parses)
{
	/* specs/examples/opencode.yaml against the schema, and the profile it names in
	 * specs/examples/devsys.opencode.yaml: the model is the profile's, the budgets lower */
	devsys_config *c = NULL;
	devsys_spec *spec = NULL;
	devsys_validation *v = NULL;
	const char *kind = NULL, *models = NULL, *key = NULL, *steps = NULL, *cost = NULL, *tools = NULL;
	cr_assert_eq(devsys_config_load(&c, DEVSYS_SOURCE_DIR "/specs/examples/devsys.opencode.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_spec_load_file(&spec, DEVSYS_SOURCE_DIR "/specs/examples/opencode.yaml", NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_spec_validate(&v, spec, 0), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert(devsys_validation_valid(v), "the example spec does not validate: %s at %s",
	          devsys_validation_count(v) ? devsys_validation_error_message(devsys_validation_at(v, 0)) : "?",
	          devsys_validation_count(v) ? devsys_validation_error_instance_location(devsys_validation_at(v, 0)) : "?");
	const char *profile = devsys_spec_get_string(spec, "/agent/profile");
	cr_assert_str_eq(devsys_spec_get_string(spec, "/agent/kind"), "opencode");
	cr_assert_eq(devsys_config_agent_value(&kind, NULL, c, profile, "kind"), 0);
	cr_assert_str_eq(kind, "opencode");
	devsys_config_agent_value(&models, NULL, c, profile, "models");
	devsys_config_agent_value(&key, NULL, c, profile, "api_key_secret");
	devsys_config_agent_value(&steps, NULL, c, profile, "max_steps");
	devsys_config_agent_value(&cost, NULL, c, profile, "max_cost");
	devsys_config_agent_value(&tools, NULL, c, profile, "tools");
	cr_assert(models && strstr(models, devsys_spec_get_string(spec, "/agent/model")), "%s", models);
	cr_assert(key && !strchr(key, '/'), "the key is a secret's name: %s", key ? key : "(none)");
	cr_assert(tools && !strstr(tools, "bash") && !strstr(tools, "webfetch"), "%s", tools);
	cr_assert_lt(devsys_node_number(devsys_node_get(devsys_spec_at(spec, 0), "/agent/max_steps")), atof(steps));
	cr_assert_lt(devsys_node_number(devsys_node_get(devsys_spec_at(spec, 0), "/agent/max_cost")), atof(cost));
	devsys_validation_free(v);
	devsys_spec_free(spec);
	devsys_config_free(c);
}
