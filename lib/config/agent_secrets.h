/*
 * The secrets a runner profile hands to the agent (runners.<name>.secrets
 * in devsys.yaml), read by the pipeline's agent stage. Internal: only the
 * pipeline needs it, so no public reader (and no ABI) is added for it.
 */
#ifndef DEVSYS_CONFIG_AGENT_SECRETS_H
#define DEVSYS_CONFIG_AGENT_SECRETS_H

#include "devsys/config.h"

#include <stddef.h>

/* One entry: the variable (and secret) name, its provider ("env" or
 * "file") and the provider's ref (env: a variable; file: a path). */
typedef struct devsys__cfg_secret {
	const char *name;
	const char *provider;
	const char *ref;
} devsys__cfg_secret;

/*
 * The secrets profile @p profile lists, borrowed from @p c (valid until it
 * is freed); *n is 0 and *out NULL when it lists none. DEVSYS_ENOTFOUND
 * for an unknown profile.
 */
int devsys__config_runner_secrets(const devsys__cfg_secret **out, size_t *n, const devsys_config *c,
                                  const char *profile);

#endif
