/*
 * The "dind" runner: an isolated, throw-away Docker engine per runner
 * instance, started in a container on the host engine (engine.c). Commands
 * run on that inner engine through host-docker itself: this runner opens a
 * host-docker instance whose endpoint is the inner engine's socket and hands
 * every call to it, so the secure defaults, the output path, timeouts,
 * uploads and downloads are host-docker's, not a copy of them.
 *
 * What differs from host-docker: the task's image is copied from the host
 * engine into the inner one at open (no registry); the checkout cannot be
 * bind-mounted (it is on the host, the engine is not); the engine's socket
 * is never mounted (there is nothing to gain: a task that needs an engine
 * should get its own dind runner).
 */
#include "dind_int.h"

#include "../../core/core.h"
#include "devsys/sys/errors.h"
#include "devsys/sys/runner.h"
#include "devsys/sys/runner_dind.h"
#include "devsys/sys/runner_docker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* host-docker's table, in the docker module this one requires */
extern const devsys_runner_vtable devsys__host_docker_vtable;

static const size_t dind_opts_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_dind_options, ready_timeout_ms), /* 1 */
};

static const size_t docker_opts_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_docker_options, workdir), /* 1 */
};

struct dd {
	devsys_runner_dind_options o;
	devsys_runner_docker_options d;     /* the caller's docker options (strings borrowed during open only) */
	devsys_runner_docker_options inner; /* the same, pointed at the inner engine */
	char *engine_image;
	devsys__docker_options host_opts;
	devsys__docker *host;
	devsys__dind_engine *e;
	void *hd; /* the host-docker instance on the inner engine */
	char host_version[48];
};

static const devsys_runner_vtable *hdv(void)
{
	return &devsys__host_docker_vtable;
}

static int copy_opts(struct dd *x, const devsys_runner_options *ro)
{
	devsys_runner_dind_options o = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	int rc;
	if (!ro->backend_tag || strcmp(ro->backend_tag, DEVSYS_RUNNER_DIND_TAG) != 0 || !ro->backend_options)
		return devsys__error_set(DEVSYS_EINVAL, "dind: backend options tagged '%.64s', expected '%s' with a "
		                                        "devsys_runner_dind_options (devsys/sys/runner_dind.h)",
		                         ro->backend_tag ? ro->backend_tag : "(none)", DEVSYS_RUNNER_DIND_TAG);
	if ((rc = devsys__versioned_copy(&o, ro->backend_options, dind_opts_sizes, DEVSYS_RUNNER_DIND_OPTIONS_VERSION,
	                                 "devsys_runner_dind_options")) < 0)
		return rc;
	if (!o.docker)
		return devsys__error_set(DEVSYS_EINVAL, "dind: devsys_runner_dind_options.docker is NULL (the task "
		                                        "containers' image and limits)");
	if (!o.engine_image)
		return devsys__error_set(DEVSYS_EINVAL, "dind: no engine_image (an image on the host engine holding dockerd, "
		                                        "containerd and runc)");
	if ((rc = devsys__versioned_copy(&d, o.docker, docker_opts_sizes, DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION,
	                                 "devsys_runner_docker_options")) < 0)
		return rc;
	if (!d.image)
		return devsys__error_set(DEVSYS_EINVAL, "dind: the profile names no image");
	if (d.bind_checkout)
		return devsys__error_set(DEVSYS_EINVAL, "dind: bind_checkout cannot work: the checkout is on the host and "
		                                        "the engine runs in a container; leave it off (the checkout is "
		                                        "uploaded)");
	if (d.allow_socket_mount)
		return devsys__error_set(DEVSYS_EACCESS, "dind: allow_socket_mount is refused: no engine socket is ever "
		                                         "mounted into a dind task container");
	if (!(x->engine_image = devsys__strdup(o.engine_image)))
		return devsys__error_oom();
	x->o = o;
	x->o.engine_image = x->engine_image;
	x->d = d;
	return 0;
}

static int connect_host(struct dd *x)
{
	x->host_opts.host = x->d.host;
	x->host_opts.docker_host_env = getenv("DOCKER_HOST");
	x->host_opts.tls = x->d.tls_cert != NULL;
	x->host_opts.ca_file = x->d.tls_ca;
	x->host_opts.client_cert = x->d.tls_cert;
	x->host_opts.client_key = x->d.tls_key;
	return devsys__docker_open(&x->host, &x->host_opts);
}

static void dd_close(void *self);

/* Keep the first failure's message across the clean-up's own calls. */
static int fail(struct dd *x, int rc)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	dd_close(x);
	return devsys__error_set(rc, "%s", msg);
}

static int dd_open(void **self, const devsys_runner_options *ro, void *payload)
{
	struct dd *x;
	devsys__dind_config cfg = { 0 };
	devsys_runner_options inner_ro;
	int rc;
	if (!hdv()->open)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "dind: the host-docker runner is not built in");
	if (!(x = devsys__calloc(1, sizeof(*x))))
		return devsys__error_oom();
	if ((rc = copy_opts(x, ro)) < 0 || (rc = connect_host(x)) < 0)
		return fail(x, rc);
	snprintf(x->host_version, sizeof(x->host_version), "%s", devsys__docker_engine_version(x->host));
	/* what crashed runners left: outer containers (host-docker's sweeper knows their labels), then directories */
	if (devsys_runner_docker_sweep(NULL, &x->d) < 0)
		devsys_error_clear();
	devsys__dind_sweep_dirs();
	cfg.engine_image = x->o.engine_image;
	cfg.ready_timeout_ms = x->o.ready_timeout_ms;
	cfg.share_shm = true; /* host-docker's env and stdin files are made on the host's /dev/shm */
	if ((rc = devsys__dind_start(&x->e, x->host, &cfg)) < 0 ||
	    (rc = devsys__dind_copy_image(x->e, x->host, &x->host_opts, x->d.image)) < 0)
		return fail(x, rc);
	x->inner = x->d;
	x->inner.host = x->e->host;
	x->inner.tls_ca = x->inner.tls_cert = x->inner.tls_key = NULL;
	x->inner.pull = DEVSYS_RUNNER_DOCKER_PULL_NEVER;
	inner_ro = *ro;
	inner_ro.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
	inner_ro.backend_options = &x->inner;
	if ((rc = hdv()->open(&x->hd, &inner_ro, payload)) < 0)
		return fail(x, rc);
	/* host-docker copied what it keeps; the caller's strings are not used after open */
	memset(&x->d, 0, sizeof(x->d));
	memset(&x->inner, 0, sizeof(x->inner));
	x->host_opts.host = x->host_opts.docker_host_env = NULL;
	x->host_opts.ca_file = x->host_opts.client_cert = x->host_opts.client_key = NULL;
	*self = x;
	return 0;
}

static void dd_close(void *self)
{
	struct dd *x = self;
	if (!x)
		return;
	if (x->hd)
		hdv()->close(x->hd);
	devsys__dind_destroy(x->e, x->host);
	devsys__docker_close(x->host);
	devsys__free(x->engine_image);
	devsys__free(x);
}

static int dd_exec(void *self, const devsys_runner_cmd *c, devsys_runner_io *io, devsys_runner_status *st)
{
	return hdv()->exec(((struct dd *)self)->hd, c, io, st);
}

static int dd_cancel(void *self)
{
	return hdv()->cancel(((struct dd *)self)->hd);
}

static int dd_upload(void *self, const char *local, const char *remote)
{
	return hdv()->upload(((struct dd *)self)->hd, local, remote);
}

static int dd_download(void *self, const char *remote, const char *local)
{
	return hdv()->download(((struct dd *)self)->hd, remote, local);
}

static const char *dd_workdir(void *self, devsys_task *task)
{
	return hdv()->workdir(((struct dd *)self)->hd, task);
}

static int dd_describe(void *self, devsys_runner_description *out)
{
	struct dd *x = self;
	int rc = hdv()->describe ? hdv()->describe(x->hd, out) : 0;
	if (rc < 0)
		return rc;
	{
		/* "docker <inner> in dind on docker <host>", cut to the field */
		char eng[160] = { 0 };
		snprintf(eng, sizeof(eng), "docker %.40s in dind on docker %.40s", devsys__docker_engine_version(x->e->inner),
		         x->host_version);
		memcpy(out->engine, eng, sizeof(out->engine) - 1);
		out->engine[sizeof(out->engine) - 1] = '\0';
	}
	{
		/* host-docker says "<image> on <inner socket>": name the outer container instead */
		char img[128];
		const char *on = strstr(out->where, " on ");
		snprintf(img, sizeof(img), "%.*s", on ? (int)(on - out->where) : (int)strlen(out->where), out->where);
		snprintf(out->where, sizeof(out->where), "%.120s on the dind engine in container %.12s (image %.80s)", img,
		         x->e->container, x->engine_image);
	}
	return 0;
}

/*
 * The module's init hook (lib/runner/dind/module.cmake). It has nothing to
 * set up; the module table's reference to it is what links this file into a
 * static build, where runner.c only names the table weakly.
 */
int devsys__dind_global_init(void);
int devsys__dind_global_init(void)
{
	return 0;
}

const devsys_runner_vtable devsys__dind_vtable = {
	DEVSYS_RUNNER_VTABLE_VERSION,
	"dind",
	dd_open,
	dd_exec,
	dd_cancel,
	dd_close,
	NULL,
	NULL,
	dd_upload,
	dd_download,
	dd_workdir,
	dd_describe,
};
