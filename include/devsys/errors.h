/*
 * libdevsys - the error model.
 */
#ifndef DEVSYS_ERRORS_H
#define DEVSYS_ERRORS_H

#include "common.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/errors.h
 * @brief Error codes and the thread-local "last error".
 *
 * Every function that can fail returns an int: 0 on success, a negative
 * DEVSYS_E* code on failure. On failure it also records a message in the
 * calling thread's last error, read with devsys_error_last().
 *
 * This enum only grows. A code, once published, keeps its number and
 * meaning forever; retired codes are never reused.
 */
typedef enum devsys_errcode {
	DEVSYS_OK = 0,            /**< success */
	DEVSYS_ERROR = -1,        /**< unclassified failure */
	DEVSYS_EINVAL = -2,       /**< an argument is invalid (e.g. NULL handle) */
	DEVSYS_ENOMEM = -3,       /**< out of memory */
	DEVSYS_ENOTFOUND = -4,    /**< the named object does not exist */
	DEVSYS_EEXISTS = -5,      /**< the object already exists */
	DEVSYS_EVERSION = -6,     /**< unknown options/vtable version */
	DEVSYS_EIO = -7,          /**< an I/O operation failed */
	DEVSYS_EACCESS = -8,      /**< permission denied / not writable */
	DEVSYS_ENOTSUPPORTED = -9,/**< operation not supported (e.g. missing vtable slot) */
	DEVSYS_EUSER = -10,       /**< a user callback returned non-zero */
	DEVSYS_EBADID = -11,      /**< an invalid task id */
	DEVSYS_EPATH = -12,       /**< a path would escape its workspace */
	DEVSYS_EPARSE = -13,      /**< input could not be parsed */
	DEVSYS_EINVALID = -14,    /**< input parsed but failed validation */
	DEVSYS_EPROTECTED = -15,  /**< refused: protected branch */
	DEVSYS_ENOTINIT = -16,    /**< devsys_init() was not called */
	DEVSYS_EBUSY = -17,       /**< resource busy / wrong time for this call */
	DEVSYS_ETIMEOUT = -18,    /**< an operation timed out */
	DEVSYS_ECANCELED = -19,   /**< an operation was canceled */
	DEVSYS_EAUTH = -20,       /**< authentication failed */
	DEVSYS_ENETWORK = -21,    /**< a network operation failed */
	DEVSYS_ELIMIT = -22,      /**< a configured size or count limit was hit */
	DEVSYS_ENOSPC = -23,      /**< no space left on device */
	DEVSYS_ESTATE = -24,      /**< invalid state or state transition */
	DEVSYS_EHOSTKEY = -25,    /**< unknown or mismatched host key */
	DEVSYS_ECONFLICT = -26,   /**< conflicting history or concurrent change */
	DEVSYS_ESYSTEM = -27      /**< a runner or service is broken (system failure) */
	/* Append new codes here, with the next free number. Never renumber. */
} devsys_errcode;

/** Opaque error record. Obtain with devsys_error_last(). */
typedef struct devsys_error devsys_error;

/**
 * The calling thread's last error.
 *
 * Never returns NULL: when no error was recorded, the record has code
 * DEVSYS_OK and the message "no error". The pointer is owned by the library
 * and stays valid until the same thread makes its next libdevsys call.
 * Thread-safe (thread-local).
 * @return borrowed: the calling thread's record, valid until that thread's next libdevsys call.
 */
DEVSYS_API const devsys_error *devsys_error_last(void);

/** The DEVSYS_E* code of an error record; DEVSYS_EINVAL for NULL. */
DEVSYS_API int devsys_error_code(const devsys_error *err);

/**
 * The message of an error record, never NULL. Borrowed from @p err.
 * @return borrowed: from @p err, valid as long as @p err is.
 */
DEVSYS_API const char *devsys_error_message(const devsys_error *err);

/** Reset the calling thread's last error to DEVSYS_OK / "no error". */
DEVSYS_API void devsys_error_clear(void);

/**
 * A static, human description of an error code ("invalid argument").
 * Unknown codes give "unknown error". Never NULL; thread-safe.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_strerror(int code);

/**
 * The symbolic name of an error code ("DEVSYS_EINVAL"), for JSON output.
 * Unknown codes give "DEVSYS_EUNKNOWN". Never NULL; thread-safe.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_error_name(int code);

DEVSYS_END_DECL

#endif /* DEVSYS_ERRORS_H */
