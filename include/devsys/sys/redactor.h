/*
 * libdevsys - plug-in API: redactors (the secret-redaction hook of logging).
 */
#ifndef DEVSYS_SYS_REDACTOR_H
#define DEVSYS_SYS_REDACTOR_H

#include "../common.h"
#include "../buf.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/redactor.h
 * @brief The redactor vtable: a hook that rewrites every log message.
 *
 * This is the library's vtable convention, in the style of sqlite3_vfs:
 *  - @c version comes first and says which slots the table has;
 *  - slots are only ever appended; a slot's signature never changes (a new
 *    behaviour gets a new slot such as redact2);
 *  - registration copies the prefix of the table the caller's version has,
 *    and the library calls an appended slot only when the registered
 *    version has it and it is not NULL, otherwise it behaves as documented
 *    for a missing slot (usually DEVSYS_ENOTSUPPORTED).
 *
 * Version history:
 *  - 1: redact, release.
 */
#define DEVSYS_REDACTOR_VTABLE_VERSION 1

typedef struct devsys_redactor_vtable {
	unsigned int version; /**< DEVSYS_REDACTOR_VTABLE_VERSION the plug-in was built with */

	/* ---- version 1 ---- */

	/**
	 * Required. Write the redacted form of @p text (@p len bytes, not
	 * necessarily NUL-terminated) into @p out with devsys_buf_put().
	 * Return 0, or non-zero to drop the message entirely (fail closed).
	 */
	int (*redact)(void *self, const char *text, size_t len, devsys_buf *out);

	/** Optional. Called once when the owner (e.g. the workspace) is freed. */
	void (*release)(void *self);
} devsys_redactor_vtable;

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_REDACTOR_H */
