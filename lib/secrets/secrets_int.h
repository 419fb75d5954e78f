/*
 * Internals of the secrets module shared with the runner module.
 */
#ifndef DEVSYS_SECRETS_INT_H
#define DEVSYS_SECRETS_INT_H

#include "../core/core.h"
#include "devsys/secrets.h"
#include "devsys/sys/secrets.h"

/* Warnings about refused (too short) secrets go to @p ws's log. */
void devsys__masker_set_workspace(devsys_masker *m, devsys_workspace *ws);

int devsys__secrets_global_init(void);
void devsys__secrets_global_shutdown(void);

#endif /* DEVSYS_SECRETS_INT_H */
