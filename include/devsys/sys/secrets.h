/*
 * libdevsys - plug-in API: secret providers.
 */
#ifndef DEVSYS_SYS_SECRETS_H
#define DEVSYS_SYS_SECRETS_H

#include "../common.h"
#include "../buf.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/secrets.h
 * @brief The secret-provider vtable (sqlite3_vfs-style: version first,
 *        slots appended only, registration copies the caller's prefix).
 *
 * Version history:
 *  - 1: name, resolve, release.
 */
#define DEVSYS_SECRET_PROVIDER_VERSION 1

typedef struct devsys_secret_provider {
	unsigned int version; /**< DEVSYS_SECRET_PROVIDER_VERSION the plug-in was built with */

	/* ---- version 1 ---- */

	/** Required. The provider's name as used in devsys_secret_def.provider (copied). */
	const char *name;

	/**
	 * Required. Put the value of @p ref (devsys_secret_def.ref, or the
	 * secret's name when ref is NULL) into @p out with devsys_buf_put().
	 * The library wipes @p out after copying. Return 0 or a DEVSYS_E* code
	 * (set a message with the secret's name, never its value).
	 */
	int (*resolve)(void *self, const char *name, const char *ref, devsys_buf *out);

	/** Optional. Called when the registry is cleared by devsys_shutdown(). */
	void (*release)(void *self);
} devsys_secret_provider;

/**
 * Register a provider process-wide (call after devsys_init()). The known
 * prefix of @p provider is copied; @p self is passed to every slot.
 * @return 0; DEVSYS_EEXISTS for a taken name; DEVSYS_EVERSION; DEVSYS_EINVAL
 * Thread-safe.
 */
DEVSYS_API int devsys_secret_provider_register(const devsys_secret_provider *provider, void *self);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_SECRETS_H */
