/*
 * libdevsys - logging.
 */
#ifndef DEVSYS_LOG_H
#define DEVSYS_LOG_H

#include "common.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/log.h
 * @brief Log levels and the logging callback.
 *
 * Logging is per workspace (see devsys_workspace_options): there is no
 * global logger. Every message the library emits for a workspace passes
 * through that workspace's redactors (devsys/sys/redactor.h) before it
 * reaches the callback, so a secret never reaches a log sink.
 */
typedef enum devsys_log_level {
	DEVSYS_LOG_TRACE = 0,
	DEVSYS_LOG_DEBUG = 1,
	DEVSYS_LOG_INFO = 2,
	DEVSYS_LOG_WARN = 3,
	DEVSYS_LOG_ERROR = 4,
	DEVSYS_LOG_NONE = 5 /**< as a threshold: log nothing */
} devsys_log_level;

/**
 * Receives one log message.
 *
 * @param level     the message's level
 * @param component the module that logs ("workspace", "git", "runner", ...)
 * @param message   the redacted message, without a trailing newline;
 *                  valid only during the call
 * @param payload   the payload given with the callback
 *
 * May be called from any thread that uses the workspace; the callback must
 * be thread-safe if the workspace is used from several threads.
 */
typedef void (*devsys_log_cb)(int level, const char *component, const char *message, void *payload);

/**
 * "trace", "debug", "info", "warn", "error" or "none"; never NULL.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_log_level_name(int level);

DEVSYS_END_DECL

#endif /* DEVSYS_LOG_H */
