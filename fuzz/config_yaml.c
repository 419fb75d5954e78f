/*
 * Fuzz target: devsys.yaml parsing (runners:, policy: and forges: sections). Any
 * input either fails with an error message or gives profiles whose options
 * and risk can be read, and a policy that classifies a path.
 */
#include "core/core.h"
#include "devsys/config.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys_config *c = NULL;
	int rc = devsys_config_parse(&c, (const char *)data, size, "fuzz.yaml");
	if (rc < 0) {
		if (c || !*devsys_error_message(devsys_error_last()))
			__builtin_trap();
		return 0;
	}
	for (size_t i = 0; i < devsys_config_runner_count(c); i++) {
		devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
		const char *type = NULL;
		const char *name = devsys_config_runner_name(c, i);
		int risk;
		if (!name || devsys_config_runner(c, name, &type, &o) < 0 || !type ||
		    devsys_config_runner_risk(&risk, c, name) < 0 || risk < DEVSYS_RISK_UNSET || risk > DEVSYS_RISK_CRITICAL)
			__builtin_trap();
	}
	/* every forges: entry is found by its own host and has a provider */
	for (size_t i = 0; i < devsys_config_forge_count(c); i++) {
		const char *host = devsys_config_forge_host(c, i), *entry = NULL, *provider = NULL;
		if (!host || devsys_config_forge_match(&entry, c, host) < 0 || strcmp(entry, host) != 0 ||
		    devsys_config_forge_value(&provider, NULL, c, entry, "provider") < 0 || !provider)
			__builtin_trap();
	}
	const devsys_policy *pol;
	int cls;
	if (devsys_config_policy(&pol, c) < 0 || devsys_policy_classify(&cls, pol, "lib/a.c") < 0 ||
	    cls < DEVSYS_RISK_LOW || cls > DEVSYS_RISK_CRITICAL)
		__builtin_trap();
	devsys_config_free(c);
	return 0;
}
