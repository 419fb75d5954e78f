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

/**
 * Fill @p opts (initialised with DEVSYS_RUNNER_DIND_OPTIONS_INIT) and
 * @p docker (initialised with DEVSYS_RUNNER_DOCKER_OPTIONS_INIT) from the
 * `type: dind` runner profile @p profile in @p cfg: @p docker as
 * devsys_config_runner_docker() fills it, @c opts->docker set to @p docker,
 * @c engine_image and @c ready_timeout_ms from the profile's engine_image
 * and ready_timeout. Strings are borrowed from @p cfg (valid until
 * devsys_config_free()); @p docker is borrowed by @p opts and must outlive
 * it. Keys the profile does not set keep the caller's values. The profile
 * was checked at load (image and engine_image required; bind_checkout and
 * allow_socket_mount refused).
 * @return 0; DEVSYS_ENOTFOUND for an unknown profile; DEVSYS_EINVAL for a
 * profile of another type; DEVSYS_EVERSION. Thread-safe on a loaded @p cfg.
 */
DEVSYS_API int devsys_config_runner_dind(const devsys_config *cfg, const char *profile,
                                         devsys_runner_dind_options *opts, devsys_runner_docker_options *docker);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_RUNNER_DIND_H */
