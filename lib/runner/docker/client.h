/*
 * The Docker Engine API client (never installed), over lib/http's libcurl
 * layer: unix sockets, http and https with client certificates. Shared by
 * the host-docker and dind runners.
 *
 * One client is one connection (one curl handle): use it from one thread at
 * a time. A call that blocks on a stream (attach, exec start, wait) needs
 * its own client when another thread must talk to the engine meanwhile;
 * devsys__docker_clone() makes one without negotiating again.
 *
 * Every failing call sets the thread's last error naming the call and the
 * object ("docker: container create (image 'x')"), with the engine's
 * "message" as detail (devsys_error_detail()) and the HTTP status
 * (devsys_error_http_status()). Codes as lib/http: 404 DEVSYS_ENOTFOUND, 409
 * DEVSYS_ECONFLICT, 400 DEVSYS_EINVALID, 5xx and lost connections
 * DEVSYS_ENETWORK; a stream that ends inside a frame or a tar archive
 * DEVSYS_EPARSE; an engine whose API range does not meet ours
 * DEVSYS_ENOTSUPPORTED. The docker CLI is never run.
 */
#ifndef DEVSYS_DOCKER_CLIENT_H
#define DEVSYS_DOCKER_CLIENT_H

#include "docker_int.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct devsys__docker devsys__docker;

typedef struct devsys__docker_options {
	const char *host;            /* the profile's endpoint ("unix:///p", "tcp://h:p"), or NULL */
	const char *docker_host_env; /* getenv("DOCKER_HOST") as the caller sees it, or NULL */
	bool tls;                    /* tcp: https with the files below */
	const char *ca_file;         /* PEM CA the engine's certificate must chain to */
	const char *client_cert;     /* PEM client certificate */
	const char *client_key;      /* its key */
	long connect_timeout_ms;     /* 0: 10 000 */
	long timeout_ms;             /* plain calls (not streams); 0: 60 000 */
	unsigned int max_retries;    /* idempotent calls after 5xx/connection failures; 0: lib/http's default */
} devsys__docker_options;

/*
 * Resolve the endpoint (profile host, else DOCKER_HOST, else the default
 * socket), connect, GET /_ping and /version, and negotiate the API version
 * (devsys__docker_api_version()). DEVSYS_ENETWORK when the engine does not
 * answer, naming the endpoint and where it came from.
 */
int devsys__docker_open(devsys__docker **out, const devsys__docker_options *opts);
/* A second connection to the same engine with the negotiated version. */
int devsys__docker_clone(devsys__docker **out, const devsys__docker *d);
void devsys__docker_close(devsys__docker *d);

/* Negotiated API version ("1.41"), the engine's version ("20.10.24"), the
 * endpoint as given and where it came from ("profile", "DOCKER_HOST", "default"). */
const char *devsys__docker_api(const devsys__docker *d);
const char *devsys__docker_engine_version(const devsys__docker *d);
const devsys__docker_endpoint *devsys__docker_endpoint_of(const devsys__docker *d);

/*
 * One JSON call: @p method on "/v<api>" @p path (the query already escaped),
 * @p body sent as JSON when not NULL. @p out (may be NULL) gets the parsed
 * answer (NULL for an empty one); json_decref it. @p what names the call in
 * errors ("container start"). @p no_retry for calls that must run once.
 */
int devsys__docker_call(json_t **out, devsys__docker *d, const char *method, const char *path, const json_t *body,
                        bool no_retry, const char *what);

/* GET /info (json_decref it). */
int devsys__docker_info(json_t **out, devsys__docker *d);
/* GET /images/{name}/json: DEVSYS_ENOTFOUND naming the image when absent. */
int devsys__docker_image_inspect(json_t **out, devsys__docker *d, const char *image);

/* POST /containers/create (?name= when @p name): @p *id new (devsys__free). */
int devsys__docker_container_create(char **id, devsys__docker *d, const char *name, const json_t *config);
int devsys__docker_container_start(devsys__docker *d, const char *id);
/* GET /containers/{id}/json */
int devsys__docker_container_inspect(json_t **out, devsys__docker *d, const char *id);
/* POST /containers/{id}/kill?signal=<sig> ("TERM", "KILL"). A container
 * that is not running answers 409: returned as DEVSYS_ECONFLICT. */
int devsys__docker_container_kill(devsys__docker *d, const char *id, const char *sig);
/* POST /containers/{id}/wait: blocks until it exits (no timeout), @p exit_code. */
int devsys__docker_container_wait(int *exit_code, devsys__docker *d, const char *id);
/* DELETE /containers/{id}?force=&v=: @p volumes removes its anonymous volumes.
 * A container already gone is not an error. */
int devsys__docker_container_remove(devsys__docker *d, const char *id, bool force, bool volumes);
/* GET /containers/json?all=1&filters={"label":[<label>]} (json_decref it). */
int devsys__docker_container_list(json_t **out, devsys__docker *d, const char *label);

/*
 * POST /containers/{id}/attach?stream=1&stdout=1&stderr=1 (plus &logs=1 when
 * @p logs): blocks, demultiplexing the stream into @p cb (raw when @p tty),
 * until the container's streams close. @p on_attached, when not NULL, is
 * called once the engine has answered (before any output), so another
 * thread may start the container without losing its first bytes. A stream
 * that ends inside a frame: DEVSYS_EPARSE ("truncated").
 */
int devsys__docker_container_attach(devsys__docker *d, const char *id, bool logs, bool tty,
                                    devsys__docker_output_cb cb, void *payload, void (*on_attached)(void *),
                                    void *attached_payload);

/* POST /containers/{id}/exec: @p *exec_id new (devsys__free). */
int devsys__docker_exec_create(char **exec_id, devsys__docker *d, const char *id, const json_t *config);
/* POST /exec/{id}/start {"Detach":false,"Tty":tty}: runs it and streams its
 * output into @p cb until it ends. */
int devsys__docker_exec_start(devsys__docker *d, const char *exec_id, bool tty, devsys__docker_output_cb cb,
                              void *payload);
/* GET /exec/{id}/json: @p running, @p exit_code (-1 while running). */
int devsys__docker_exec_inspect(bool *running, int *exit_code, devsys__docker *d, const char *exec_id);

/* PUT /containers/{id}/archive?path=<dir>: the tree at @p local_dir as a tar
 * stream (devsys__tar_writer, @p wopts may be NULL), unpacked into @p dir,
 * which must exist in the container. */
int devsys__docker_archive_put(devsys__docker *d, const char *id, const char *dir, const char *local_dir,
                               const devsys__tar_writer_opts *wopts);
/*
 * GET /containers/{id}/archive?path=<path>: extracted below @p local_dir
 * through devsys__tar_extract (no entry lands outside it), with @p strip
 * leading components dropped (1: the basename of @p path, so a directory's
 * contents land in @p local_dir). @p limits may be NULL.
 */
int devsys__docker_archive_get(devsys__docker *d, const char *id, const char *path, const char *local_dir,
                               unsigned int strip, const devsys__tar_limits *limits);

/* HEAD /containers/{id}/archive?path=<path>: is it a directory (the engine's path stat)? */
/* The X-Docker-Container-Path-Stat header (base64 JSON): is its mode a directory's? */
int devsys__docker_path_stat_parse(bool *is_dir, const char *header);

int devsys__docker_archive_stat(bool *is_dir, devsys__docker *d, const char *id, const char *path);

/* A URL query value: @p s percent-encoded into @p out (devsys_buf_put). */
int devsys__docker_query_escape(devsys_buf *out, const char *s);

#endif /* DEVSYS_DOCKER_CLIENT_H */
