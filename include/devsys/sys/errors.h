/*
 * libdevsys - plug-in API: setting the thread's last error.
 */
#ifndef DEVSYS_SYS_ERRORS_H
#define DEVSYS_SYS_ERRORS_H

#include "../common.h"
#include "../errors.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/errors.h
 * @brief For plug-ins (runners, forges, secret providers): set the calling
 *        thread's last error, the one devsys_error_last() returns, and
 *        attach detail a caller can read back (libgit2's git_error_set).
 *
 * A plug-in slot that fails returns a negative DEVSYS_E* code and, before
 * returning, records why:
 *
 *     if (status == 404) {
 *         devsys_error_set(DEVSYS_ENOTFOUND, "myforge: repository '%s' not found", repo);
 *         return devsys_error_set_detail(404, remote_message);
 *     }
 *
 * No secrets: a message or a detail is shown to users, logged, written to
 * task records and returned over devsysd's API. The caller must never pass a
 * secret value (a token, a password, a private key, a URL with credentials)
 * to any function in this header, neither in the format nor in an argument
 * nor in a remote's message that may echo one back: redact it first. The
 * library's own HTTP layer replaces its token with "***" in everything it
 * records here.
 *
 * Storage is fixed-size and thread-local: these functions never allocate, so
 * they work when reporting DEVSYS_ENOMEM. Long text is truncated.
 */

/**
 * Set the calling thread's last error to @p code and a printf-style message,
 * and clear any detail attached to the previous error.
 * @param code a negative DEVSYS_E* code (DEVSYS_OK is allowed and means "no error")
 * @param fmt message format (what failed, on which input, what to do); not NULL
 * @return @p code, so a slot can `return devsys_error_set(...)`.
 * Thread-safe (thread-local); async-signal-unsafe.
 */
DEVSYS_API int devsys_error_set(int code, const char *fmt, ...) DEVSYS_PRINTF(2, 3);

/**
 * Like devsys_error_set() with a literal message (no format: for bindings
 * and for text that may contain '%'). @p message NULL records "(no message)".
 * @return @p code. Thread-safe (thread-local).
 */
DEVSYS_API int devsys_error_set_str(int code, const char *message);

/**
 * Attach detail to the calling thread's current last error (set it first):
 * the HTTP status a remote answered, and the remote's own message as it
 * sent it (e.g. GitHub's "message", Docker's "message"). The string is
 * copied (truncated at 2 KiB). Setting a new error with devsys_error_set()
 * or by any libdevsys call that fails clears the detail; devsys_error_clear()
 * clears it too.
 * @param http_status the status, or 0 when the failure had none (connection
 *        refused, timeout)
 * @param remote_message the remote's message, or NULL for none. Never a secret.
 * @return the code of the current last error (negative after a failure), so
 *         a slot can `return devsys_error_set_detail(...)` right after
 *         devsys_error_set().
 * Thread-safe (thread-local).
 */
DEVSYS_API int devsys_error_set_detail(int http_status, const char *remote_message);

/**
 * The HTTP status attached to @p err with devsys_error_set_detail(), or 0
 * when none was attached (or @p err is NULL). Thread-safe.
 */
DEVSYS_API int devsys_error_http_status(const devsys_error *err);

/**
 * The remote's message attached to @p err, or NULL when none was attached
 * (or @p err is NULL). Borrowed from @p err: valid until the same thread's
 * next libdevsys call. Thread-safe.
 * @return borrowed: from @p err, valid until the same thread's next libdevsys call; NULL when none.
 */
DEVSYS_API const char *devsys_error_detail(const devsys_error *err);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_ERRORS_H */
