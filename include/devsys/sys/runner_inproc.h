/*
 * libdevsys - plug-in API: the "inproc" runner's own options.
 */
#ifndef DEVSYS_SYS_RUNNER_INPROC_H
#define DEVSYS_SYS_RUNNER_INPROC_H

#include "../common.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/runner_inproc.h
 * @brief Options of the "inproc" runner (commands on this machine).
 *
 * Without these options a command runs as the user devsys runs as, and can
 * read every file that user can (docs/security.md). With @c user set, the
 * runner resolves the user when it opens (getpwnam_r) and runs every command
 * as that user: after fork it sets the user's supplementary groups, then
 * its group id, then its user id, each checked, before it changes to the
 * command's directory and executes it. That needs root: a runner opened by
 * any other user with @c user set fails (DEVSYS_EACCESS). The command's
 * directory and HOME must be usable by that user (docs/runners.md).
 *
 *     devsys_runner_inproc_options x = DEVSYS_RUNNER_INPROC_OPTIONS_INIT;
 *     x.user = "nobody";
 *     devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
 *     o.backend_tag = DEVSYS_RUNNER_INPROC_TAG;
 *     o.backend_options = &x;
 *     devsys_runner_open(&r, "inproc", &o);
 *
 * In devsys.yaml it is the `user` key of a `type: inproc` profile (operator
 * only: a task spec can never set it); devsys_config_runner() points the
 * options at it. Versioned like every options struct (fields only
 * appended); strings are copied at open.
 */

/** The backend_tag of devsys_runner_inproc_options. */
#define DEVSYS_RUNNER_INPROC_TAG "inproc"

#define DEVSYS_RUNNER_INPROC_OPTIONS_VERSION 1

typedef struct devsys_runner_inproc_options {
	unsigned int version; /**< DEVSYS_RUNNER_INPROC_OPTIONS_VERSION */
	const char *user;     /**< run commands as this user (a name from the passwd database); NULL: as devsys */
} devsys_runner_inproc_options;

#define DEVSYS_RUNNER_INPROC_OPTIONS_INIT { DEVSYS_RUNNER_INPROC_OPTIONS_VERSION, NULL }

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_RUNNER_INPROC_H */
