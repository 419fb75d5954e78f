/*
 * The thread-local last error and the code tables.
 */
#include "core.h"
#include "devsys/sys/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct devsys_error {
	int code;
	char message[1024];
};

/*
 * The record devsys_error_last() points into. devsys_error keeps its layout
 * (the ABI baseline sees it through the public typedef); the remote's side
 * of a failure (sys/errors.h) lives beside it and is reached through the
 * accessors only. Every devsys_error is the first member of one of these.
 */
struct error_record {
	struct devsys_error e;
	int http_status;
	bool has_detail;
	char detail[2048];
};

/* Fixed-size so recording an error never allocates (it may report ENOMEM). */
static _Thread_local struct error_record last_record = { { 0, "no error" }, 0, false, "" };

static const struct error_record *record_of(const devsys_error *err)
{
	return (const struct error_record *)(const void *)err;
}

const devsys_error *devsys_error_last(void)
{
	return &last_record.e;
}

int devsys_error_code(const devsys_error *err)
{
	return err ? err->code : DEVSYS_EINVAL;
}

const char *devsys_error_message(const devsys_error *err)
{
	return err ? err->message : "invalid error record (NULL)";
}

static void detail_clear(void)
{
	last_record.http_status = 0;
	last_record.has_detail = false;
	last_record.detail[0] = '\0';
}

void devsys_error_clear(void)
{
	last_record.e.code = DEVSYS_OK;
	snprintf(last_record.e.message, sizeof(last_record.e.message), "no error");
	detail_clear();
}

int devsys__error_setv(int code, const char *fmt, va_list ap)
{
	/* Format into a copy first: callers wrap the previous message
	 * ("%s", devsys_error_message(devsys_error_last())), and vsnprintf
	 * into its own argument is undefined. */
	char msg[sizeof(last_record.e.message)];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	last_record.e.code = code;
	memcpy(last_record.e.message, msg, sizeof(msg));
	detail_clear();
	return code;
}

/* ---- the plug-in-facing setter (include/devsys/sys/errors.h) ---- */

int devsys_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	if (!fmt)
		return devsys_error_set_str(code, NULL);
	va_start(ap, fmt);
	devsys__error_setv(code, fmt, ap);
	va_end(ap);
	return code;
}

int devsys_error_set_str(int code, const char *message)
{
	return devsys__error_set(code, "%s", message ? message : "(no message)");
}

int devsys_error_set_detail(int http_status, const char *remote_message)
{
	char tmp[sizeof(last_record.detail)];
	last_record.http_status = http_status;
	last_record.has_detail = remote_message != NULL;
	/* The copy may come from devsys_error_detail() itself. */
	snprintf(tmp, sizeof(tmp), "%s", remote_message ? remote_message : "");
	memcpy(last_record.detail, tmp, sizeof(tmp));
	return last_record.e.code;
}

int devsys_error_http_status(const devsys_error *err)
{
	return err ? record_of(err)->http_status : 0;
}

const char *devsys_error_detail(const devsys_error *err)
{
	return err && record_of(err)->has_detail ? record_of(err)->detail : NULL;
}

int devsys__error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	devsys__error_setv(code, fmt, ap);
	va_end(ap);
	return code;
}

int devsys__errno_code(int errnum)
{
	switch (errnum) {
	case ENOENT: return DEVSYS_ENOTFOUND;
	case EEXIST: return DEVSYS_EEXISTS;
	case EACCES:
	case EPERM:
	case EROFS: return DEVSYS_EACCESS;
	case ENOSPC:
	case EDQUOT: return DEVSYS_ENOSPC;
	case ENOMEM: return DEVSYS_ENOMEM;
	case ETIMEDOUT: return DEVSYS_ETIMEOUT;
	default: return DEVSYS_EIO;
	}
}

int devsys__error_errno(int code, int errnum, const char *fmt, ...)
{
	char head[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	return devsys__error_set(code, "%s: %s", head, strerror(errnum));
}

int devsys__error_oom(void)
{
	return devsys__error_set(DEVSYS_ENOMEM, "out of memory");
}

static const struct {
	int code;
	const char *name;
	const char *text;
} error_table[] = {
	{ DEVSYS_OK, "DEVSYS_OK", "no error" },
	{ DEVSYS_ERROR, "DEVSYS_ERROR", "unclassified error" },
	{ DEVSYS_EINVAL, "DEVSYS_EINVAL", "invalid argument" },
	{ DEVSYS_ENOMEM, "DEVSYS_ENOMEM", "out of memory" },
	{ DEVSYS_ENOTFOUND, "DEVSYS_ENOTFOUND", "not found" },
	{ DEVSYS_EEXISTS, "DEVSYS_EEXISTS", "already exists" },
	{ DEVSYS_EVERSION, "DEVSYS_EVERSION", "unsupported struct version" },
	{ DEVSYS_EIO, "DEVSYS_EIO", "input/output error" },
	{ DEVSYS_EACCESS, "DEVSYS_EACCESS", "permission denied" },
	{ DEVSYS_ENOTSUPPORTED, "DEVSYS_ENOTSUPPORTED", "operation not supported" },
	{ DEVSYS_EUSER, "DEVSYS_EUSER", "aborted by a user callback" },
	{ DEVSYS_EBADID, "DEVSYS_EBADID", "invalid task id" },
	{ DEVSYS_EPATH, "DEVSYS_EPATH", "path escapes its workspace" },
	{ DEVSYS_EPARSE, "DEVSYS_EPARSE", "parse error" },
	{ DEVSYS_EINVALID, "DEVSYS_EINVALID", "validation failed" },
	{ DEVSYS_EPROTECTED, "DEVSYS_EPROTECTED", "refused: protected branch" },
	{ DEVSYS_ENOTINIT, "DEVSYS_ENOTINIT", "library not initialised" },
	{ DEVSYS_EBUSY, "DEVSYS_EBUSY", "resource busy" },
	{ DEVSYS_ETIMEOUT, "DEVSYS_ETIMEOUT", "timed out" },
	{ DEVSYS_ECANCELED, "DEVSYS_ECANCELED", "canceled" },
	{ DEVSYS_EAUTH, "DEVSYS_EAUTH", "authentication failed" },
	{ DEVSYS_ENETWORK, "DEVSYS_ENETWORK", "network error" },
	{ DEVSYS_ELIMIT, "DEVSYS_ELIMIT", "limit exceeded" },
	{ DEVSYS_ENOSPC, "DEVSYS_ENOSPC", "no space left on device" },
	{ DEVSYS_ESTATE, "DEVSYS_ESTATE", "invalid state" },
	{ DEVSYS_EHOSTKEY, "DEVSYS_EHOSTKEY", "host key not trusted" },
	{ DEVSYS_ECONFLICT, "DEVSYS_ECONFLICT", "conflict" },
	{ DEVSYS_ESYSTEM, "DEVSYS_ESYSTEM", "system failure" },
};

const char *devsys_strerror(int code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == code)
			return error_table[i].text;
	return "unknown error";
}

const char *devsys_error_name(int code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == code)
			return error_table[i].name;
	return "DEVSYS_EUNKNOWN";
}
