/*
 * libdevsys - plug-in API: the Docker runners' own options.
 */
#ifndef DEVSYS_SYS_RUNNER_DOCKER_H
#define DEVSYS_SYS_RUNNER_DOCKER_H

#include "../common.h"
#include "../runner.h"

#include <stdint.h>

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/runner_docker.h
 * @brief Options of the "host-docker" runner (and the Docker runners after it).
 *
 * They reach the runner through devsys_runner_options' generic pointer:
 *
 *     devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
 *     d.image = "debian:12";
 *     devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
 *     o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
 *     o.backend_options = &d;
 *     devsys_runner_open(&r, "host-docker", &o);
 *
 * The struct is versioned like every options struct (fields only appended,
 * the library copies the prefix the caller's version has). Strings and
 * lists are copied at open. devsys_config_runner_docker() fills it from a
 * devsys.yaml profile. See docs/runners.md for each key's meaning.
 */

/** The backend_tag of devsys_runner_docker_options. */
#define DEVSYS_RUNNER_DOCKER_TAG "docker"

/** Pull policies. No registry access happens with either. */
#define DEVSYS_RUNNER_DOCKER_PULL_NEVER 0          /**< the image must be on the engine */
#define DEVSYS_RUNNER_DOCKER_PULL_IF_NOT_PRESENT 1 /**< pull when missing (fails when no registry answers) */

#define DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION 1

typedef struct devsys_runner_docker_options {
	unsigned int version;               /**< DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION */
	const char *image;                  /**< required: the profile's image ("debian:12") */
	const char *const *allowed_images;  /**< NULL-terminated globs a command's own image must match; NULL: none allowed */
	const char *network;                /**< NetworkMode; NULL: "none" */
	int allow_socket_mount;             /**< 1: mount the engine's socket into task containers (root on the host!) */
	int pull;                           /**< DEVSYS_RUNNER_DOCKER_PULL_* */
	int read_only;                      /**< 1: read-only root filesystem (a tmpfs /tmp is given) */
	uint64_t memory_bytes;              /**< HostConfig.Memory (and MemorySwap, no swap); 0: 2 GiB */
	uint64_t nano_cpus;                 /**< HostConfig.NanoCpus (1e9 = one CPU); 0: 2 CPUs */
	uint64_t pids;                      /**< HostConfig.PidsLimit; 0: 512 */
	const char *user;                   /**< container user ("1000:1000", "nobody"); NULL: the image's, else "nobody" when root */
	int bind_checkout;                  /**< 1: bind-mount the task checkout instead of uploading it */
	const char *host;                   /**< engine endpoint; NULL: $DOCKER_HOST, else unix:///var/run/docker.sock */
	const char *tls_ca;                 /**< tcp://: the CA file; with tls_cert and tls_key: https with client certificates */
	const char *tls_cert;               /**< client certificate (PEM) */
	const char *tls_key;                /**< its key (PEM) */
	const char *workdir;                /**< the checkout's path in the container; NULL: "/work" */
} devsys_runner_docker_options;

#define DEVSYS_RUNNER_DOCKER_OPTIONS_INIT \
	{ DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, 0, 0u, 0u, 0u, NULL, 0, NULL, NULL, NULL, NULL, NULL }

/**
 * Remove the containers host-docker left behind: those labelled by this
 * library whose owner process is gone (pid, start time and boot id checked,
 * as the store checks lock owners). @p host as in the options (NULL: the
 * DOCKER_HOST rule); @p removed (may be NULL) gets the count.
 * @return 0; DEVSYS_ENETWORK when the engine does not answer. Thread-safe.
 */
DEVSYS_API int devsys_runner_docker_sweep(unsigned int *removed, const devsys_runner_docker_options *opts);

typedef struct devsys_config devsys_config;

/**
 * Fill @p opts (initialised with DEVSYS_RUNNER_DOCKER_OPTIONS_INIT) from the
 * Docker keys of runner profile @p profile in @p cfg (image, allowed_images,
 * network, allow_socket_mount, pull, read_only, bind_checkout, workdir, user,
 * host, tls_*, limits.memory/cpus/pids). Strings and the allowed_images list
 * are borrowed from @p cfg (valid until devsys_config_free()). Keys the
 * profile does not set keep the caller's values.
 * @return 0; DEVSYS_ENOTFOUND for an unknown profile; DEVSYS_EVERSION.
 */
DEVSYS_API int devsys_config_runner_docker(const devsys_config *cfg, const char *profile,
                                           devsys_runner_docker_options *opts);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_RUNNER_DOCKER_H */
