/*
 * devsys_buf: the growable buffer every module uses for strings and bytes.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

static int buf_grow(devsys_buf *buf, size_t extra)
{
	size_t need, asize;
	char *p;

	if (extra > SIZE_MAX - buf->size - 1)
		return devsys__error_set(DEVSYS_ENOMEM, "devsys_buf: size overflow");
	need = buf->size + extra + 1;
	if (need <= buf->asize)
		return 0;
	asize = buf->asize ? buf->asize : 64;
	while (asize < need)
		asize = asize > SIZE_MAX / 2 ? need : asize * 2;
	/* A buffer with asize 0 but a ptr does not own it: copy instead of realloc. */
	p = buf->asize ? devsys__realloc(buf->ptr, asize) : devsys__malloc(asize);
	if (!p)
		return devsys__error_oom();
	if (!buf->asize && buf->ptr && buf->size)
		memcpy(p, buf->ptr, buf->size);
	buf->ptr = p;
	buf->asize = asize;
	return 0;
}

int devsys_buf_put(devsys_buf *buf, const char *data, size_t len)
{
	DEVSYS__CHECK_ARG(buf);
	if (len && !data)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_buf_put: data is NULL but len is %zu", len);
	if (buf_grow(buf, len) < 0)
		return DEVSYS_ENOMEM;
	if (len)
		memcpy(buf->ptr + buf->size, data, len);
	buf->size += len;
	buf->ptr[buf->size] = '\0';
	return 0;
}

int devsys_buf_puts(devsys_buf *buf, const char *str)
{
	DEVSYS__CHECK_ARG(str);
	return devsys_buf_put(buf, str, strlen(str));
}

int devsys_buf_printf(devsys_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	DEVSYS__CHECK_ARG(buf);
	DEVSYS__CHECK_ARG(fmt);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_buf_printf: bad format '%s'", fmt);
	if (buf_grow(buf, (size_t)n) < 0)
		return DEVSYS_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(buf->ptr + buf->size, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf->size += (size_t)n;
	return 0;
}

void devsys_buf_clear(devsys_buf *buf)
{
	if (!buf)
		return;
	buf->size = 0;
	if (buf->asize)
		buf->ptr[0] = '\0';
	else
		buf->ptr = NULL;
}

void devsys_buf_dispose(devsys_buf *buf)
{
	if (!buf)
		return;
	if (buf->asize)
		devsys__free(buf->ptr);
	buf->ptr = NULL;
	buf->size = buf->asize = 0;
}
