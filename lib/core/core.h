/*
 * libdevsys - internal helpers shared by every module (never installed).
 *
 * Before writing a helper in a module, look here: allocation, errors,
 * options/vtable copying, paths, atomic files, time and logging live here.
 */
#ifndef DEVSYS_CORE_H
#define DEVSYS_CORE_H

#include "devsys.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- allocation (honours devsys_set_allocator) ---- */
void *devsys__malloc(size_t size);
void *devsys__calloc(size_t nmemb, size_t size);
void *devsys__realloc(void *ptr, size_t size);
void devsys__free(void *ptr);
char *devsys__strdup(const char *s);
char *devsys__strndup(const char *s, size_t n);
char *devsys__asprintf(const char *fmt, ...) DEVSYS_PRINTF(1, 2);

/* ---- errors: set the thread's last error and return the code ---- */
int devsys__error_set(int code, const char *fmt, ...) DEVSYS_PRINTF(2, 3);
int devsys__error_setv(int code, const char *fmt, va_list ap);
/* Like devsys__error_set, appending ": <strerror(errnum)>". */
int devsys__error_errno(int code, int errnum, const char *fmt, ...) DEVSYS_PRINTF(3, 4);
/* Map an errno value to the closest DEVSYS_E* code. */
int devsys__errno_code(int errnum);
int devsys__error_oom(void);

#define DEVSYS__CHECK_ARG(arg)                                                             \
	do {                                                                               \
		if ((arg) == NULL)                                                         \
			return devsys__error_set(DEVSYS_EINVAL, "%s: argument '%s' must not be NULL", \
			                         __func__, #arg);                          \
	} while (0)

/* ---- library state ---- */
bool devsys__initialized(void);
/* DEVSYS_ENOTINIT with a message naming @p func, or 0. */
int devsys__require_init(const char *func);

/*
 * Copy a caller's versioned options struct (or vtable) into @p dst.
 * @p sizes[v] is the struct's size at version v (sizes[0] unused), for
 * v = 1..max_version. @p dst must already hold the defaults of the latest
 * version: only the bytes the caller's version has are copied over them.
 */
int devsys__versioned_copy(void *dst, const void *src, const size_t *sizes, unsigned int max_version,
                           const char *type_name);

/*
 * The body of every public devsys_x_options_init(): copy the first
 * @p sizes[version] bytes of @p defaults (the latest version's INIT values)
 * into @p opts and set its version; DEVSYS_EVERSION for 0 or a version newer
 * than @p max_version, naming @p func.
 */
int devsys__options_init(void *opts, const void *defaults, const size_t *sizes, unsigned int max_version,
                         unsigned int version, const char *func);

/* Size of a struct up to and including @p member (for the size tables). */
#define DEVSYS__SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* ---- paths and files ---- */
/* mkdir -p with @p mode; existing directories are fine. */
int devsys__mkdir_p(const char *path, mode_t mode);
/* True when @p rel is relative, non-empty, and has no "." / ".." components. */
bool devsys__relpath_is_safe(const char *rel);
/*
 * "<base>/<rel>" into @p out after devsys__relpath_is_safe(), then resolve
 * the longest existing prefix with realpath() and require it stays within
 * @p base (which must be absolute and canonical). DEVSYS_EPATH otherwise.
 */
int devsys__path_join_within(devsys_buf *out, const char *base, const char *rel);
/* Write @p len bytes to @p path atomically: temp file, fsync, rename, fsync dir. */
int devsys__write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Read a whole file (at most @p max_size bytes, else DEVSYS_ELIMIT). */
int devsys__read_file(devsys_buf *out, const char *path, size_t max_size);

/* ---- shared input rules ---- */
/* True for the YAML 1.1 boolean spellings (y, yes, on, off, ... in their case
 * forms). Every devsys YAML reader refuses them as values: true/false only. */
bool devsys__yaml11_bool(const char *s);

/* ---- time ---- */
/* Monotonic clock in nanoseconds. */
uint64_t devsys__now_ns(void);
/* UTC wall clock as "2026-11-26T10:54:42.123Z" into @p out (>= 32 bytes). */
void devsys__time_iso8601(char *out, size_t out_size);

/* ---- logging (see lib/workspace) ---- */
void devsys__log(devsys_workspace *ws, int level, const char *component, const char *fmt, ...)
	DEVSYS_PRINTF(4, 5);
void devsys__logv(devsys_workspace *ws, int level, const char *component, const char *fmt, va_list ap);

/* ---- workspace internals used by other modules ---- */
void devsys__workspace_ref(devsys_workspace *ws);

/* ---- module init/shutdown hooks (generated list, see cmake/DevsysModules.cmake) ---- */
int devsys__modules_init(void);
void devsys__modules_shutdown(void);

#endif /* DEVSYS_CORE_H */
