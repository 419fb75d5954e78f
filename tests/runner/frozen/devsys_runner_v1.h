/*
 * FROZEN copy of the version-1 runner plug-in ABI (include/devsys/runner.h
 * and include/devsys/sys/runner.h as published with
 * DEVSYS_RUNNER_VTABLE_VERSION 1). Never edit this file: it stands for a
 * plug-in compiled against the first release, and tests/runner/frozen_load.c
 * checks that today's library still loads and runs such a plug-in.
 */
#ifndef DEVSYS_RUNNER_V1_FROZEN_H
#define DEVSYS_RUNNER_V1_FROZEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct devsys_workspace devsys_workspace;
typedef struct devsys_task devsys_task;
typedef struct devsys_masker devsys_masker;
typedef struct devsys_runner_io devsys_runner_io;

#define DEVSYS_RUNNER_OK 0
#define DEVSYS_RUNNER_BUILD_FAILURE 1
#define DEVSYS_RUNNER_SYSTEM_FAILURE 2
#define DEVSYS_RUNNER_TIMEOUT 3
#define DEVSYS_RUNNER_CANCELED 4
#define DEVSYS_RUNNER_NOT_RUN 5
#define DEVSYS_RUNNER_STDOUT 1
#define DEVSYS_RUNNER_STDERR 2

typedef int (*devsys_runner_output_cb)(int stream, const char *data, size_t len, void *payload);

typedef struct devsys_runner_options {
	unsigned int version;
	unsigned int flags;
	devsys_workspace *ws;
	devsys_masker *masker;
	unsigned int grace_ms;
	size_t tail_max;
	uint64_t rlimit_cpu_s;
	uint64_t rlimit_as_bytes;
	uint64_t rlimit_nofile;
	const char *host;
	unsigned int port;
	const char *user;
	const char *key_file;
	const char *key_passphrase;
	const char *known_hosts;
	unsigned int connect_timeout_ms;
	unsigned int keepalive_s;
	unsigned int retries;
	const char *remote_dir;
} devsys_runner_options;

typedef struct devsys_runner_cmd {
	unsigned int version;
	unsigned int flags;
	const char *const *argv;
	const size_t *argv_len;
	const char *const *env;
	const char *cwd;
	unsigned int timeout_ms;
	const char *stdin_data;
	size_t stdin_len;
	const char *stdin_file;
	devsys_runner_output_cb output_cb;
	void *output_payload;
	devsys_task *task;
	const char *stage;
} devsys_runner_cmd;

typedef struct devsys_runner_status {
	int failure;
	int exit_code;
	int signal;
} devsys_runner_status;

#define DEVSYS_RUNNER_VTABLE_VERSION 1

typedef struct devsys_runner_vtable {
	unsigned int version;
	const char *name;
	int (*open)(void **self, const devsys_runner_options *opts, void *payload);
	int (*exec)(void *self, const devsys_runner_cmd *cmd, devsys_runner_io *io, devsys_runner_status *status);
	int (*cancel)(void *self);
	void (*close)(void *self);
	int (*prepare)(void *self, devsys_task *task);
	int (*cleanup)(void *self, devsys_task *task);
	int (*upload)(void *self, const char *local, const char *remote);
	int (*download)(void *self, const char *remote, const char *local);
	const char *(*workdir)(void *self, devsys_task *task);
} devsys_runner_vtable;

int devsys_runner_io_write(devsys_runner_io *io, int stream, const char *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
