/*
 * libdevsys - growable byte buffers returned to and filled for callers.
 */
#ifndef DEVSYS_BUF_H
#define DEVSYS_BUF_H

#include "common.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/buf.h
 * @brief A growable, always NUL-terminated byte buffer.
 *
 * The layout of this struct is part of the ABI and never changes. The
 * library owns @c ptr; release it with devsys_buf_dispose(). A buffer
 * initialised with DEVSYS_BUF_INIT holds nothing and needs no dispose.
 */
typedef struct devsys_buf {
	char *ptr;    /**< the bytes, NUL-terminated once anything was put (may be NULL when empty) */
	size_t size;  /**< number of bytes in use, excluding the terminating NUL */
	size_t asize; /**< allocated size; 0 when @c ptr is not owned */
} devsys_buf;

#define DEVSYS_BUF_INIT { NULL, 0, 0 }

/** Append @p len bytes. @return 0 or DEVSYS_ENOMEM / DEVSYS_EINVAL. */
DEVSYS_API int devsys_buf_put(devsys_buf *buf, const char *data, size_t len);

/** Append a NUL-terminated string. */
DEVSYS_API int devsys_buf_puts(devsys_buf *buf, const char *str);

/** Append printf-style formatted text. */
DEVSYS_API int devsys_buf_printf(devsys_buf *buf, const char *fmt, ...) DEVSYS_PRINTF(2, 3);

/** Forget the contents but keep the memory for reuse. */
DEVSYS_API void devsys_buf_clear(devsys_buf *buf);

/** Release the memory and reset to DEVSYS_BUF_INIT. NULL is fine. */
DEVSYS_API void devsys_buf_dispose(devsys_buf *buf);

DEVSYS_END_DECL

#endif /* DEVSYS_BUF_H */
