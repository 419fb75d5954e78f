/*
 * Internals of the "dind" runner (never installed): a throw-away Docker
 * engine inside a container on the host engine. The engine's lifecycle
 * (start, wait until it answers, copy an image into it, destroy it with its
 * storage) is separate from the runner so the tests and the benchmark can
 * drive it alone.
 */
#ifndef DEVSYS_DIND_INT_H
#define DEVSYS_DIND_INT_H

#include "../docker/client.h"

#include <stdbool.h>

/* The inner engine's socket directory inside the outer container. */
#define DEVSYS__DIND_SOCK_DIR "/run/devsys-dind"
/* Host directories for inner sockets: short, so the socket fits sun_path.
 * The sweeper looks for DEVSYS__DIND_DIR_NAME entries in DEVSYS__DIND_DIR_PARENT. */
#define DEVSYS__DIND_DIR_PARENT "/tmp"
#define DEVSYS__DIND_DIR_NAME "devsys-dind-"
#define DEVSYS__DIND_DIR_PREFIX DEVSYS__DIND_DIR_PARENT "/" DEVSYS__DIND_DIR_NAME

typedef struct devsys__dind_config {
	const char *engine_image;    /* required: an image on the host engine holding dockerd, containerd, runc */
	const char *task;            /* the task id for the outer container's label, or NULL */
	unsigned int ready_timeout_ms; /* 0: 60 000 */
	bool share_shm;              /* bind the host's /dev/shm (host-docker's env/stdin files live there) */
} devsys__dind_config;

typedef struct devsys__dind_engine {
	char dir[64];        /* host: /tmp/devsys-dind-XXXXXX (0700), bind-mounted at DEVSYS__DIND_SOCK_DIR */
	char sock[96];       /* host: <dir>/docker.sock */
	char host[112];      /* "unix://<sock>": the inner engine's endpoint */
	char name[32];       /* the outer container's name and the inner cgroup parent: basename(dir) */
	char *container;     /* the outer container's id */
	devsys__docker *inner; /* connection to the inner engine once it answered */
	double create_ms;    /* outer container create + start */
	double ready_ms;     /* outer create -> inner /_ping and /version answered */
} devsys__dind_engine;

/*
 * Make the socket directory, create and start the outer container on @p host
 * (labelled like host-docker's containers, so its sweeper removes it after a
 * crash), and poll the inner engine until it answers or the deadline passes.
 * The outer container exiting meanwhile fails at once with the end of its
 * log. On failure nothing is left behind.
 */
int devsys__dind_start(devsys__dind_engine **out, devsys__docker *host, const devsys__dind_config *cfg);

/*
 * Copy @p image from the host engine into the inner one (GET
 * /images/{name}/get, POST /images/load) through a file in the engine's
 * directory. DEVSYS_ENOTFOUND naming the image when the host lacks it.
 */
int devsys__dind_copy_image(devsys__dind_engine *e, devsys__docker *host, const devsys__docker_options *host_opts,
                            const char *image);

/*
 * Kill and remove every inner container, then force-remove the outer
 * container with its anonymous volumes (the inner data-root lives in its
 * writable layer), its inner cgroup parents and the directory. NULL is fine;
 * errors are not reported (a clean-up never changes a result).
 */
void devsys__dind_destroy(devsys__dind_engine *e, devsys__docker *host);

/* Remove socket directories whose owner (pid, start time, boot id in
 * <dir>/owner) is gone: what a crashed runner left on the host. */
void devsys__dind_sweep_dirs(void);

#endif /* DEVSYS_DIND_INT_H */
