/*
 * libdevsys - library-wide set-up: init/shutdown, version, allocator.
 */
#ifndef DEVSYS_GLOBAL_H
#define DEVSYS_GLOBAL_H

#include "common.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/global.h
 * @brief The only process-wide state: a reference-counted init and the
 * allocator hook.
 */

/**
 * Initialise the library and the libraries it uses (libgit2, libcurl, ...).
 *
 * Reference counted: every successful call must be matched by one
 * devsys_shutdown(). Thread-safe.
 *
 * @return the new reference count (> 0), or a negative DEVSYS_E* code.
 */
DEVSYS_API int devsys_init(void);

/**
 * Drop one reference taken by devsys_init(); the last one releases all
 * global resources. Thread-safe.
 *
 * @return the remaining reference count (>= 0), or DEVSYS_ENOTINIT when the
 *         library was not initialised.
 */
DEVSYS_API int devsys_shutdown(void);

/**
 * The library's run-time version, "MAJOR.MINOR.PATCH". Static string, never
 * NULL. May differ from DEVSYS_VERSION_STRING when the headers used to build
 * the caller are older or newer than the installed library.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_version(void);

/** The run-time version as numbers; any pointer may be NULL. */
DEVSYS_API void devsys_version_numbers(int *major, int *minor, int *patch);

/**
 * The modules this library was built with: their names, sorted, separated
 * by one space ("config core forge git ..."). core, workspace and task are
 * always there. Compare with DEVSYS_FEATURES (devsys/features.h) to find a
 * library built with other modules than the headers. Any thread.
 *
 * @return borrowed: a static string, valid for the life of the process; never NULL.
 */
DEVSYS_API const char *devsys_features(void);

/**
 * Whether this library was built with module @p name ("git", "runner", ...).
 * Any thread.
 * @return 1 when it was, 0 when not (also for NULL or an unknown name).
 */
DEVSYS_API int devsys_feature_enabled(const char *name);

#define DEVSYS_ALLOCATOR_VERSION 1

/**
 * A replacement allocator for memory the library allocates itself.
 * Third-party libraries (libgit2, libcurl, ...) keep their own allocators.
 */
typedef struct devsys_allocator {
	unsigned int version;                                  /**< DEVSYS_ALLOCATOR_VERSION */
	void *(*malloc_fn)(size_t size, void *payload);        /**< required */
	void *(*realloc_fn)(void *ptr, size_t size, void *payload); /**< required */
	void (*free_fn)(void *ptr, void *payload);             /**< required; accepts NULL */
	void *payload;                                         /**< passed to each function */
} devsys_allocator;

/**
 * Install an allocator (copied), or restore the C library's with NULL.
 *
 * Only allowed while the library is not initialised, so memory is never
 * freed by a different allocator than the one that allocated it.
 *
 * @return 0, DEVSYS_EBUSY when initialised, DEVSYS_EVERSION for an unknown
 *         version, DEVSYS_EINVAL when a function is missing.
 */
DEVSYS_API int devsys_set_allocator(const devsys_allocator *alloc);

/**
 * Allocate with the library's allocator (for plug-ins returning memory).
 * @return new: @p size bytes or NULL; free with devsys_free().
 */
DEVSYS_API void *devsys_malloc(size_t size);

/** Free memory the library returned to you (strings, buffers). NULL is fine. */
DEVSYS_API void devsys_free(void *ptr);

DEVSYS_END_DECL

#endif /* DEVSYS_GLOBAL_H */
