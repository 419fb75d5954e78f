/*
 * libdevsys - plug-in API: the "dind" runner's own options.
 */
#ifndef DEVSYS_SYS_RUNNER_DIND_H
#define DEVSYS_SYS_RUNNER_DIND_H

#include "../common.h"
#include "runner_docker.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/runner_dind.h
 * @brief Options of the "dind" runner: an isolated Docker engine per runner.
 *
 * The runner starts @c engine_image (an image holding dockerd, containerd
 * and runc) as a container on the host engine named by @c docker->host (the
 * DOCKER_HOST rule applies), waits until the engine inside answers on a unix
 * socket in a short host directory, copies @c docker->image into it from the
 * host engine, and then runs every command as host-docker does, with the
 * same secure defaults, on that inner engine. Closing the runner removes the
 * inner containers, the outer container and its storage.
 *
 *     devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
 *     d.image = "debian:12";
 *     devsys_runner_dind_options x = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
 *     x.docker = &d;
 *     x.engine_image = "devsys/dind:20.10";
 *     devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
 *     o.backend_tag = DEVSYS_RUNNER_DIND_TAG;
 *     o.backend_options = &x;
 *     devsys_runner_open(&r, "dind", &o);
 *
 * Versioned like every options struct (fields only appended). Strings are
 * copied at open. See docs/runners.md ("dind").
 */

/** The backend_tag of devsys_runner_dind_options. */
#define DEVSYS_RUNNER_DIND_TAG "dind"

#define DEVSYS_RUNNER_DIND_OPTIONS_VERSION 1

typedef struct devsys_runner_dind_options {
	unsigned int version;                        /**< DEVSYS_RUNNER_DIND_OPTIONS_VERSION */
	const devsys_runner_docker_options *docker;  /**< required: the task containers' options; host is the HOST engine */
	const char *engine_image;                    /**< required: the engine's image, on the host engine */
	unsigned int ready_timeout_ms;               /**< how long the inner engine may take to answer; 0: 60 000 */
} devsys_runner_dind_options;

#define DEVSYS_RUNNER_DIND_OPTIONS_INIT { DEVSYS_RUNNER_DIND_OPTIONS_VERSION, NULL, NULL, 0u }

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_RUNNER_DIND_H */
