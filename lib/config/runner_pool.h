/*
 * Runner pools: a remote-ssh profile's `hosts:` or a Docker profile's
 * `endpoints:` in devsys.yaml, read by the pipeline's placement
 * (lib/pipeline/pool.c). Internal: only the pipeline places tasks, so no
 * public reader (and no ABI) is added for it.
 */
#ifndef DEVSYS_CONFIG_RUNNER_POOL_H
#define DEVSYS_CONFIG_RUNNER_POOL_H

#include "devsys/config.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct devsys__cfg_pool {
	const char *const *members; /* remote-ssh: "name", "name:port", "[v6]:port"; Docker: endpoint URLs. The
	                               profile's own host first when it has one. Borrowed from the config. */
	size_t n;                   /* 0: the profile is no pool */
	bool docker;                /* members are endpoints (host-docker, dind) */
	unsigned int port;          /* remote-ssh: the profile's port, for members that name none; 0: 22 */
	unsigned int per_host_max;  /* tasks one member runs at once; default 1 */
	unsigned int cooldown_s;    /* how long a member with a system failure stays out; default 60 */
	unsigned int retries;       /* how often a step moves to another member; default n - 1 */
} devsys__cfg_pool;

/*
 * The pool profile @p profile lists into @p out (n 0 when it lists none).
 * DEVSYS_ENOTFOUND for an unknown profile.
 */
int devsys__config_runner_pool(devsys__cfg_pool *out, const devsys_config *c, const char *profile);

#endif
