/*
 * The "host-docker" runner: every command runs in a fresh container of the
 * profile's image on the host's Docker engine, through the Engine API client
 * (client.h). The working tree lives in a named volume per runner (uploaded
 * as tar streams), or is bind-mounted when the profile says bind_checkout.
 *
 * Secure defaults, visible in the container's HostConfig: NetworkMode none,
 * never Privileged, CapDrop ALL plus a short add list, no-new-privileges,
 * memory/CPU/pids limits, Init (docker-init forwards SIGTERM, which a shell
 * as PID 1 would ignore), logging driver none (output only through the
 * attach stream, never stored in the data-root), the engine's socket never
 * mounted unless allow_socket_mount. Command env values and stdin never go
 * into Config: they are written to a private file on the host's /dev/shm
 * (tmpfs) that is bind-mounted read-only for that one container and removed
 * after it.
 *
 * Containers and volumes carry labels naming the owner (pid, start time,
 * boot id); devsys_runner_docker_sweep() removes those whose owner is gone,
 * and runs on every open.
 */
#include "client.h"

#include "../output_int.h"
#include "../runner_int.h"
#include "devsys/sys/errors.h"
#include "devsys/sys/runner_docker.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LABEL_MANAGED "devsys.runner"
#define LABEL_PID "devsys.owner.pid"
#define LABEL_START "devsys.owner.start"
#define LABEL_BOOT "devsys.owner.boot"
#define LABEL_TASK "devsys.task"
#define INJECT_DIR "/run/devsys-in"
/* The attach must be answered before the container starts; a slow engine still does it in well under this. */
#define ATTACH_WAIT_MS 30000

static const size_t docker_opts_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_docker_options, workdir), /* 1 */
};

struct bind {
	char *local, *remote;
};

struct hd {
	devsys_runner_docker_options o; /* strings below are our copies */
	char **strs;                    /* every copied string, freed at close */
	size_t nstrs;
	char **allowed;                 /* NULL-terminated copy of allowed_images */
	unsigned int grace_ms;
	devsys__docker *d;
	char image_id[128], image_digest[256], image_user[128];
	char volume[80];
	struct bind *binds;
	size_t nbinds;
	char owner_pid[24], owner_start[24], owner_boot[40];
	int cancel_flag;     /* atomic */
	int wake[2];         /* cancel and stream end write here */
};

/* ---- copying options ---- */

static const char *keep(struct hd *h, const char *s)
{
	char **n;
	if (!s)
		return NULL;
	if (!(n = devsys__realloc(h->strs, (h->nstrs + 1) * sizeof(*n))) || !(n[h->nstrs] = devsys__strdup(s))) {
		if (n)
			h->strs = n;
		return NULL;
	}
	h->strs = n;
	return n[h->nstrs++];
}

static int copy_opts(struct hd *h, const devsys_runner_options *ro)
{
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	size_t n = 0;
	int rc;
	if (ro->backend_tag && strcmp(ro->backend_tag, DEVSYS_RUNNER_DOCKER_TAG) != 0)
		return devsys__error_set(DEVSYS_EINVAL, "host-docker: backend options tagged '%.64s', expected '%s' "
		                                        "(devsys/sys/runner_docker.h)",
		                         ro->backend_tag, DEVSYS_RUNNER_DOCKER_TAG);
	if (!ro->backend_options)
		return devsys__error_set(DEVSYS_EINVAL, "host-docker: no options: set backend_tag \"docker\" and "
		                                        "backend_options to a devsys_runner_docker_options with an image");
	if ((rc = devsys__versioned_copy(&d, ro->backend_options, docker_opts_sizes, DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION,
	                                 "devsys_runner_docker_options")) < 0)
		return rc;
	h->o = d;
	h->o.version = DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION;
#define K(f)                                                   \
	do {                                                   \
		if (d.f && !(h->o.f = keep(h, d.f)))           \
			return devsys__error_oom();            \
	} while (0)
	K(image);
	K(network);
	K(user);
	K(host);
	K(tls_ca);
	K(tls_cert);
	K(tls_key);
	K(workdir);
#undef K
	while (d.allowed_images && d.allowed_images[n])
		n++;
	if (!(h->allowed = devsys__calloc(n + 1, sizeof(char *))))
		return devsys__error_oom();
	for (size_t i = 0; i < n; i++)
		if (!(h->allowed[i] = (char *)keep(h, d.allowed_images[i])))
			return devsys__error_oom();
	h->o.allowed_images = (const char *const *)h->allowed;
	if (!h->o.image)
		return devsys__error_set(DEVSYS_EINVAL, "host-docker: the profile names no image");
	if (!h->o.workdir)
		h->o.workdir = "/work";
	if (!h->o.memory_bytes)
		h->o.memory_bytes = 2ull << 30;
	if (!h->o.nano_cpus)
		h->o.nano_cpus = 2000000000ull;
	if (!h->o.pids)
		h->o.pids = 512;
	if ((rc = devsys__docker_image_check(h->o.image)) < 0)
		return rc;
	if (h->o.network && (strcmp(h->o.network, "host") == 0 || strncmp(h->o.network, "container:", 10) == 0))
		return devsys__error_set(DEVSYS_EACCESS, "host-docker: network '%.64s' shares a namespace with the host "
		                                         "or another container; name a user-defined network instead",
		                         h->o.network);
	return 0;
}

/* ---- engine connection ---- */

static int connect_engine(devsys__docker **out, const devsys_runner_docker_options *o)
{
	devsys__docker_options co = { 0 };
	co.host = o->host;
	co.docker_host_env = getenv("DOCKER_HOST");
	co.tls = o->tls_cert != NULL;
	co.ca_file = o->tls_ca;
	co.client_cert = o->tls_cert;
	co.client_key = o->tls_key;
	return devsys__docker_open(out, &co);
}

static void owner_stamp(struct hd *h)
{
	snprintf(h->owner_pid, sizeof(h->owner_pid), "%d", (int)getpid());
	snprintf(h->owner_start, sizeof(h->owner_start), "%lld", devsys__proc_start(getpid()));
	devsys__boot_id(h->owner_boot, sizeof(h->owner_boot));
}

static json_t *labels(const struct hd *h, const char *task)
{
	json_t *l = json_pack("{s:s,s:s,s:s,s:s}", LABEL_MANAGED, "host-docker", LABEL_PID, h->owner_pid, LABEL_START,
	                      h->owner_start, LABEL_BOOT, h->owner_boot);
	if (l && task)
		json_object_set_new(l, LABEL_TASK, json_string(task));
	return l;
}

/* The image on the engine, pulled when the policy allows; fills id/digest/user when @p h. */
static int resolve_image(struct hd *h, const char *image, const char *profile_what)
{
	json_t *j = NULL;
	int rc = devsys__docker_image_inspect(&j, h->d, image);
	if (rc == DEVSYS_ENOTFOUND && h->o.pull == DEVSYS_RUNNER_DOCKER_PULL_IF_NOT_PRESENT) {
		char *p = NULL;
		devsys_buf q = DEVSYS_BUF_INIT;
		if (devsys_buf_puts(&q, "/images/create?fromImage=") < 0 || devsys__docker_query_escape(&q, image) < 0)
			return devsys__error_oom();
		p = q.ptr;
		rc = devsys__docker_call(NULL, h->d, "POST", p, NULL, true, "image pull (pull: if-not-present)");
		devsys_buf_dispose(&q);
		if (rc < 0)
			return rc;
		rc = devsys__docker_image_inspect(&j, h->d, image);
	}
	if (rc == DEVSYS_ENOTFOUND) {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
		return devsys__error_set(DEVSYS_ENOTFOUND, "host-docker: %s image '%.200s' is not on the engine %s and "
		                                           "the pull policy is %s (%s)",
		                         profile_what, image, devsys__docker_endpoint_of(h->d)->spec,
		                         h->o.pull ? "if-not-present" : "never", msg);
	}
	if (rc < 0)
		return rc;
	{
		const char *id = json_string_value(json_object_get(j, "Id"));
		const char *dg = json_string_value(json_array_get(json_object_get(j, "RepoDigests"), 0));
		const char *user = json_string_value(json_object_get(json_object_get(j, "Config"), "User"));
		snprintf(h->image_id, sizeof(h->image_id), "%s", id ? id : "");
		snprintf(h->image_digest, sizeof(h->image_digest), "%s", dg ? dg : "");
		snprintf(h->image_user, sizeof(h->image_user), "%s", user ? user : "");
	}
	json_decref(j);
	return 0;
}

/* ---- sweeping orphans ---- */

static bool orphan(json_t *lbl)
{
	const char *pid = json_string_value(json_object_get(lbl, LABEL_PID));
	const char *start = json_string_value(json_object_get(lbl, LABEL_START));
	const char *boot = json_string_value(json_object_get(lbl, LABEL_BOOT));
	if (!pid || !start || !boot)
		return false; /* not stamped by us: not ours to judge */
	return !devsys__owner_alive(atoll(pid), atoll(start), boot);
}

static int sweep(devsys__docker *d, unsigned int *removed)
{
	json_t *list = NULL, *v, *vols = NULL;
	size_t i;
	int rc, first = 0;
	if ((rc = devsys__docker_container_list(&list, d, LABEL_MANAGED "=host-docker")) < 0)
		return rc;
	json_array_foreach(list, i, v) {
		const char *id = json_string_value(json_object_get(v, "Id"));
		if (id && orphan(json_object_get(v, "Labels"))) {
			if ((rc = devsys__docker_container_remove(d, id, true, true)) < 0 && !first)
				first = rc;
			else if (rc == 0 && removed)
				(*removed)++;
		}
	}
	json_decref(list);
	if ((rc = devsys__docker_call(&vols, d, "GET",
	                              "/volumes?filters=%7B%22label%22%3A%5B%22" LABEL_MANAGED "%3Dhost-docker%22%5D%7D",
	                              NULL, false, "volume list")) < 0)
		return first ? first : rc;
	json_array_foreach(json_object_get(vols, "Volumes"), i, v) {
		const char *name = json_string_value(json_object_get(v, "Name"));
		if (name && orphan(json_object_get(v, "Labels"))) {
			char *p = devsys__asprintf("/volumes/%s?force=1", name);
			if (!p)
				break;
			rc = devsys__docker_call(NULL, d, "DELETE", p, NULL, false, "volume remove");
			devsys__free(p);
			if (rc < 0 && !first)
				first = rc;
		}
	}
	json_decref(vols);
	return first;
}

int devsys_runner_docker_sweep(unsigned int *removed, const devsys_runner_docker_options *opts)
{
	devsys_runner_docker_options o = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys__docker *d = NULL;
	int rc;
	if (removed)
		*removed = 0;
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if (opts && (rc = devsys__versioned_copy(&o, opts, docker_opts_sizes, DEVSYS_RUNNER_DOCKER_OPTIONS_VERSION,
	                                         "devsys_runner_docker_options")) < 0)
		return rc;
	if ((rc = connect_engine(&d, &o)) < 0)
		return rc;
	rc = sweep(d, removed);
	devsys__docker_close(d);
	return rc;
}

/* ---- open / close ---- */

static void hd_close(void *self);

static int make_volume(struct hd *h)
{
	json_t *body, *lbl = labels(h, NULL);
	int rc;
	snprintf(h->volume, sizeof(h->volume), "devsys-work-%s-%s-%08lx", h->owner_pid, h->owner_start,
	         (unsigned long)(devsys__now_ns() & 0xffffffffu));
	body = json_pack("{s:s,s:o}", "Name", h->volume, "Labels", lbl);
	if (!body)
		return devsys__error_oom();
	rc = devsys__docker_call(NULL, h->d, "POST", "/volumes/create", body, true, "volume create");
	json_decref(body);
	if (rc < 0)
		h->volume[0] = '\0';
	return rc;
}

static int hd_open(void **self, const devsys_runner_options *ro, void *payload)
{
	struct hd *h;
	int rc;
	(void)payload;
	if (!(h = devsys__calloc(1, sizeof(*h))))
		return devsys__error_oom();
	h->wake[0] = h->wake[1] = -1;
	h->grace_ms = ro->grace_ms ? ro->grace_ms : 10000;
	owner_stamp(h);
	if ((rc = copy_opts(h, ro)) < 0 || (rc = connect_engine(&h->d, &h->o)) < 0) {
		hd_close(h);
		return rc;
	}
	if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "host-docker: pipe failed");
		hd_close(h);
		return rc;
	}
	/* orphans of crashed owners go first; a failing sweep does not stop this runner */
	if (sweep(h->d, NULL) < 0)
		devsys_error_clear();
	if ((rc = resolve_image(h, h->o.image, "the profile's")) < 0 || (rc = make_volume(h)) < 0) {
		hd_close(h);
		return rc;
	}
	*self = h;
	return 0;
}

static void hd_close(void *self)
{
	struct hd *h = self;
	if (!h)
		return;
	if (h->d && h->volume[0]) {
		char *p = devsys__asprintf("/volumes/%s?force=1", h->volume);
		if (p && devsys__docker_call(NULL, h->d, "DELETE", p, NULL, false, "volume remove") < 0)
			devsys_error_clear();
		devsys__free(p);
	}
	devsys__docker_close(h->d);
	for (size_t i = 0; i < h->nstrs; i++)
		devsys__free(h->strs[i]);
	devsys__free(h->strs);
	devsys__free(h->allowed);
	for (size_t i = 0; i < h->nbinds; i++) {
		devsys__free(h->binds[i].local);
		devsys__free(h->binds[i].remote);
	}
	devsys__free(h->binds);
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	devsys__free(h);
}

static int hd_cancel(void *self)
{
	struct hd *h = self;
	char c = 'c';
	__atomic_store_n(&h->cancel_flag, 1, __ATOMIC_RELEASE);
	if (write(h->wake[1], &c, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	return 0;
}

static void drain(int fd)
{
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0) {
	}
}

/* ---- the per-exec injection dir: env and stdin, on the host's tmpfs ---- */

static int inject_write(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
	char path[512];
	int fd;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
		return devsys__error_errno(DEVSYS_ESYSTEM, errno, "host-docker: cannot create '%s'", path);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return devsys__error_errno(DEVSYS_EIO, err, "host-docker: cannot write '%s'", path);
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

static void inject_remove(char *dir)
{
	char path[512];
	if (!dir[0])
		return;
	snprintf(path, sizeof(path), "%s/env", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/stdin", dir);
	unlink(path);
	rmdir(dir);
	dir[0] = '\0';
}

static int copy_file(devsys_buf *out, const char *path)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return devsys__error_errno(DEVSYS_ENOTFOUND, errno, "host-docker: stdin file '%s'", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (devsys_buf_put(out, buf, (size_t)n) < 0) {
			close(fd);
			return devsys__error_oom();
		}
	close(fd);
	return 0;
}

/* Write env and stdin for one container into a fresh 0700 dir below
 * /dev/shm; @p dir gets its path ("" when nothing needs injecting). */
static int inject_prepare(char *dir, size_t dir_size, const devsys_runner_cmd *c, bool *has_env, bool *has_stdin)
{
	devsys_buf env = DEVSYS_BUF_INIT, in = DEVSYS_BUF_INIT;
	int rc = 0;
	*has_env = c->env && c->env[0];
	*has_stdin = c->stdin_data || c->stdin_file;
	dir[0] = '\0';
	if (!*has_env && !*has_stdin)
		return 0;
	snprintf(dir, dir_size, "/dev/shm/devsys-in-XXXXXX");
	if (!mkdtemp(dir)) {
		rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "host-docker: cannot make a private directory on /dev/shm "
		                                                "(the tmpfs that carries env and stdin)");
		dir[0] = '\0';
		return rc;
	}
	/* the container's user must read it: the random name guards the dir */
	chmod(dir, 0711);
	for (size_t i = 0; *has_env && c->env[i] && rc == 0; i++) {
		const char *eq = strchr(c->env[i], '=');
		rc = devsys_buf_puts(&env, "export ");
		if (rc == 0)
			rc = devsys_buf_put(&env, c->env[i], (size_t)(eq - c->env[i]) + 1);
		if (rc == 0)
			rc = devsys__sh_quote(&env, eq + 1, strlen(eq + 1));
		if (rc == 0)
			rc = devsys_buf_puts(&env, "\n");
	}
	if (rc == 0 && *has_env)
		rc = inject_write(dir, "env", env.ptr ? env.ptr : "", env.size, 0444);
	if (rc == 0 && *has_stdin) {
		if (c->stdin_data)
			rc = devsys_buf_put(&in, c->stdin_data, c->stdin_len);
		else
			rc = copy_file(&in, c->stdin_file);
		if (rc == 0)
			rc = inject_write(dir, "stdin", in.ptr ? in.ptr : "", in.size, 0444);
	}
	if (env.ptr)
		explicit_bzero(env.ptr, env.size);
	if (in.ptr)
		explicit_bzero(in.ptr, in.size);
	devsys_buf_dispose(&env);
	devsys_buf_dispose(&in);
	if (rc < 0)
		inject_remove(dir);
	return rc;
}

/* ---- the container's configuration ---- */

static json_t *cmd_json(const devsys_runner_cmd *c, bool has_env, bool has_stdin)
{
	json_t *a = json_array();
	devsys_buf pre = DEVSYS_BUF_INIT;
	bool shell = (c->flags & DEVSYS_RUNNER_CMD_SHELL) != 0;
	if (!a)
		return NULL;
	if (!has_env && !has_stdin && !shell) {
		for (size_t i = 0; c->argv[i]; i++)
			json_array_append_new(a, json_string(c->argv[i]));
		return a;
	}
	if (has_env)
		devsys_buf_puts(&pre, ". " INJECT_DIR "/env && ");
	devsys_buf_puts(&pre, shell ? "exec /bin/sh -c \"$1\"" : "exec \"$@\"");
	if (has_stdin)
		devsys_buf_puts(&pre, " < " INJECT_DIR "/stdin");
	json_array_append_new(a, json_string("/bin/sh"));
	json_array_append_new(a, json_string("-c"));
	json_array_append_new(a, json_string(pre.ptr));
	json_array_append_new(a, json_string(shell ? "sh" : "devsys"));
	for (size_t i = 0; c->argv[i]; i++)
		json_array_append_new(a, json_string(c->argv[i]));
	devsys_buf_dispose(&pre);
	return a;
}

/* The capabilities a root build step needs to own and write its files;
 * everything else (NET_RAW, MKNOD, SYS_CHROOT, AUDIT_WRITE, ...) stays dropped. */
static json_t *cap_add(void)
{
	return json_pack("[s,s,s,s,s]", "CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID");
}

static const char *user_of(const struct hd *h)
{
	if (h->o.user)
		return h->o.user;
	return h->image_user[0] ? h->image_user : NULL;
}

static json_t *host_config(const struct hd *h, const char *inject_dir)
{
	json_t *hc, *binds = json_array();
	char b[1200];
	const devsys__docker_endpoint *ep = devsys__docker_endpoint_of(h->d);
	if (!binds)
		return NULL;
	bool work_bound = false;
	for (size_t i = 0; i < h->nbinds; i++)
		work_bound |= strcmp(h->binds[i].remote, h->o.workdir) == 0;
	/* a bound checkout takes the workdir's place; else the runner's volume holds it */
	if (!work_bound) {
		snprintf(b, sizeof(b), "%s:%s", h->volume, h->o.workdir);
		json_array_append_new(binds, json_string(b));
	}
	for (size_t i = 0; i < h->nbinds; i++) {
		snprintf(b, sizeof(b), "%s:%s", h->binds[i].local, h->binds[i].remote);
		json_array_append_new(binds, json_string(b));
	}
	if (inject_dir && inject_dir[0]) {
		snprintf(b, sizeof(b), "%s:" INJECT_DIR ":ro", inject_dir);
		json_array_append_new(binds, json_string(b));
	}
	if (h->o.allow_socket_mount && ep->kind == DEVSYS__DOCKER_UNIX) {
		snprintf(b, sizeof(b), "%s:/var/run/docker.sock", ep->path);
		json_array_append_new(binds, json_string(b));
	}
	hc = json_pack("{s:s,s:b,s:[s],s:o,s:[s],s:b,s:I,s:I,s:I,s:I,s:b,s:b,s:o,s:{s:s,s:{}}}", "NetworkMode",
	               h->o.network ? h->o.network : "none", "Privileged", 0, "CapDrop", "ALL", "CapAdd", cap_add(),
	               "SecurityOpt", "no-new-privileges", "ReadonlyRootfs", h->o.read_only ? 1 : 0, "Memory",
	               (json_int_t)h->o.memory_bytes, "MemorySwap", (json_int_t)h->o.memory_bytes, "NanoCpus",
	               (json_int_t)h->o.nano_cpus, "PidsLimit", (json_int_t)h->o.pids, "Init", 1, "AutoRemove", 0,
	               "Binds", binds, "LogConfig", "Type", "none", "Config");
	if (hc && h->o.read_only)
		json_object_set_new(hc, "Tmpfs", json_pack("{s:s}", "/tmp", "rw,nosuid,nodev,size=268435456"));
	return hc;
}

static json_t *container_config(const struct hd *h, const devsys_runner_cmd *c, const char *image,
                                const char *inject_dir, bool has_env, bool has_stdin)
{
	json_t *cfg, *cmd = cmd_json(c, has_env, has_stdin), *hc = host_config(h, inject_dir);
	const char *task = c->task ? devsys_task_id(c->task) : NULL;
	const char *cwd = c->cwd ? c->cwd : h->o.workdir;
	if (!cmd || !hc) {
		json_decref(cmd);
		json_decref(hc);
		return NULL;
	}
	cfg = json_pack("{s:s,s:o,s:s,s:b,s:b,s:b,s:b,s:b,s:o,s:o}", "Image", image, "Cmd", cmd, "WorkingDir", cwd,
	                "AttachStdin", 0, "AttachStdout", 1, "AttachStderr", 1, "Tty", 0, "OpenStdin", 0, "Labels",
	                labels(h, task), "HostConfig", hc);
	if (cfg && user_of(h))
		json_object_set_new(cfg, "User", json_string(user_of(h)));
	if (cfg && !h->o.network)
		json_object_set_new(cfg, "NetworkDisabled", json_true());
	return cfg;
}

/* ---- image choice ---- */

static int image_for(const struct hd *h, const devsys_runner_cmd *c, const char **image)
{
	devsys_buf list = DEVSYS_BUF_INIT;
	int rc;
	*image = h->o.image;
	if (!c->image)
		return 0;
	if ((rc = devsys__docker_image_check(c->image)) < 0)
		return rc;
	for (size_t i = 0; h->allowed[i]; i++)
		if (fnmatch(h->allowed[i], c->image, 0) == 0) {
			*image = c->image;
			return 0;
		}
	for (size_t i = 0; h->allowed[i]; i++)
		devsys_buf_printf(&list, "%s%s", i ? ", " : "", h->allowed[i]);
	rc = devsys__error_set(DEVSYS_EACCESS, "host-docker: the command asks for image '%.200s', which the runner "
	                                       "profile's allowed_images does not match (allowed_images: %s)",
	                       c->image, list.ptr ? list.ptr : "none: the profile allows no other image");
	devsys_buf_dispose(&list);
	return rc;
}

static int check_env(const devsys_runner_cmd *c)
{
	for (size_t i = 0; c->env && c->env[i]; i++) {
		const char *eq = strchr(c->env[i], '=');
		char name[128];
		int rc;
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - c->env[i] > 100 ? 100 : eq - c->env[i]) : 100,
		         c->env[i]);
		if ((rc = devsys__docker_env_check(name, eq ? eq + 1 : "")) < 0)
			return rc;
	}
	return 0;
}

/* ---- the attach thread ---- */

struct attach {
	devsys__docker *d;
	const char *id;
	devsys_runner_io *io;
	struct hd *h;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool attached, done, aborted;
	int rc;
	char err[700];
	int err_code;
};

static int on_output(int stream, const char *data, size_t len, void *payload)
{
	struct attach *a = payload;
	if (stream == DEVSYS__DOCKER_SYSERR)
		stream = DEVSYS_RUNNER_STDERR;
	if (devsys_runner_io_write(a->io, stream, data, len) != 0) {
		a->aborted = true;
		return -1;
	}
	return 0;
}

static void on_attached(void *payload)
{
	struct attach *a = payload;
	pthread_mutex_lock(&a->lock);
	a->attached = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

static void *attach_main(void *payload)
{
	struct attach *a = payload;
	char c = 'd';
	int rc = devsys__docker_container_attach(a->d, a->id, false, false, on_output, a, on_attached, a);
	if (rc < 0)
		snprintf(a->err, sizeof(a->err), "%s", devsys_error_message(devsys_error_last()));
	pthread_mutex_lock(&a->lock);
	a->rc = rc;
	a->done = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	if (a->aborted)
		__atomic_store_n(&a->h->cancel_flag, 1, __ATOMIC_RELEASE);
	if (write(a->h->wake[1], &c, 1) < 0) {
		/* full pipe: a wake-up is pending already */
	}
	return NULL;
}

/* Wait until the attach is answered (or failed); false on timeout. */
static bool wait_attached(struct attach *a)
{
	uint64_t deadline = devsys__now_ns() + (uint64_t)ATTACH_WAIT_MS * 1000000u;
	bool ok;
	pthread_mutex_lock(&a->lock);
	while (!a->attached && !a->done && devsys__now_ns() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->cond, &a->lock, &ts);
	}
	ok = a->attached;
	pthread_mutex_unlock(&a->lock);
	return ok;
}

static bool attach_done(struct attach *a)
{
	bool d;
	pthread_mutex_lock(&a->lock);
	d = a->done;
	pthread_mutex_unlock(&a->lock);
	return d;
}

/* Wait for the stream's end, the deadline (0: none), a cancel or a budget of
 * the output path (idle timeout, output cap). 1 ended, 0 timed out, -1 stopped. */
static int wait_stream(struct hd *h, struct attach *a, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { h->wake[0], POLLIN, 0 };
		int ms = deadline ? devsys__ms_until(deadline) : 1000;
		/* an attach that ended because the output path refused more (callback,
		 * output cap) leaves the container running: that is a stop, not an end */
		if (attach_done(a))
			return a->aborted ? -1 : 1;
		if (__atomic_load_n(&h->cancel_flag, __ATOMIC_ACQUIRE) || devsys__runner_io_aborted(a->io))
			return -1;
		if (deadline && ms == 0)
			return 0;
		if (poll(&p, 1, devsys__runner_io_wait_ms(a->io, ms > 1000 ? 1000 : ms)) > 0)
			drain(h->wake[0]);
	}
}

/* Is the container still running? (Asked once its attach stream has ended
 * early; an engine that cannot answer counts as "maybe": KILL is harmless.) */
static bool container_running(struct hd *h, const char *id)
{
	json_t *j = NULL;
	bool running = true;
	if (devsys__docker_container_inspect(&j, h->d, id) < 0) {
		devsys_error_clear();
		return true;
	}
	running = json_is_true(json_object_get(json_object_get(j, "State"), "Running"));
	json_decref(j);
	return running;
}

/* TERM, the grace period, then KILL: the same rule as the other runners. */
static void stop_container(struct hd *h, struct attach *a, devsys_runner_io *io, const char *why)
{
	uint64_t grace_end = devsys__now_ns() + (uint64_t)h->grace_ms * 1000000u;
	bool running = true;
	devsys__runner_io_note(io, "%s: SIGTERM to the container, SIGKILL after %u ms", why, h->grace_ms);
	if (devsys__docker_container_kill(h->d, a->id, "TERM") < 0)
		devsys_error_clear();
	while (devsys__now_ns() < grace_end) {
		struct pollfd p = { h->wake[0], POLLIN, 0 };
		int ms = devsys__ms_until(grace_end);
		/* the stream's end is the container's end, unless we stopped reading it */
		if (attach_done(a) && (!a->aborted || !(running = container_running(h, a->id))))
			break;
		if (poll(&p, 1, ms > 100 ? 100 : ms) > 0)
			drain(h->wake[0]);
	}
	if ((!attach_done(a) || (a->aborted && running && container_running(h, a->id)))) {
		devsys__runner_io_note(io, "the container outlived the grace period: SIGKILL");
		if (devsys__docker_container_kill(h->d, a->id, "KILL") < 0)
			devsys_error_clear();
	}
}

static void status_from_exit(devsys_runner_status *st, int code)
{
	st->exit_code = code;
	/* docker-init (and the engine) report a signal death as 128 + signal */
	if (code > 128 && code < 128 + 65) {
		st->signal = code - 128;
		st->exit_code = -1;
	}
	st->failure = code == 0 ? DEVSYS_RUNNER_OK : DEVSYS_RUNNER_BUILD_FAILURE;
}

static int system_failure(devsys_runner_status *st, int rc, const char *what)
{
	char msg[800];
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
	st->exit_code = -1;
	return devsys__error_set(DEVSYS_ESYSTEM, "host-docker: %s (the engine failed, not the command): %s (code %s)",
	                         what, msg, devsys_error_name(rc));
}

static int run_container(struct hd *h, const char *id, const devsys_runner_cmd *c, devsys_runner_io *io,
                         devsys_runner_status *st)
{
	struct attach a = { 0 };
	pthread_t t;
	uint64_t deadline = c->timeout_ms ? devsys__now_ns() + (uint64_t)c->timeout_ms * 1000000u : 0;
	int rc, w, code = -1;
	a.id = id;
	a.io = io;
	a.h = h;
	pthread_mutex_init(&a.lock, NULL);
	pthread_cond_init(&a.cond, NULL);
	if ((rc = devsys__docker_clone(&a.d, h->d)) < 0)
		goto out_sys;
	if (pthread_create(&t, NULL, attach_main, &a) != 0) {
		rc = devsys__error_set(DEVSYS_ESYSTEM, "host-docker: cannot start the attach thread");
		goto out_sys;
	}
	if (!wait_attached(&a)) {
		pthread_join(t, NULL);
		rc = a.rc < 0 ? a.rc : DEVSYS_ETIMEOUT;
		devsys__error_set(rc, "%s", a.err[0] ? a.err : "docker: the engine did not answer the attach");
		goto out_sys;
	}
	if ((rc = devsys__docker_container_start(h->d, id)) < 0) {
		/* the attach ends with the removal below */
		if (devsys__docker_container_remove(h->d, id, true, true) < 0)
			devsys_error_clear();
		char msg[800];
		snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
		pthread_join(t, NULL);
		devsys__error_set(rc, "%s", msg);
		goto out_sys;
	}
	w = wait_stream(h, &a, deadline);
	if (w <= 0)
		stop_container(h, &a, io, w == 0 ? "timeout" : "canceled");
	pthread_join(t, NULL);
	if ((rc = devsys__docker_container_wait(&code, h->d, id)) < 0)
		goto out_sys;
	if (a.rc < 0 && !a.aborted) {
		devsys__error_set(a.rc, "%s", a.err);
		rc = a.rc;
		goto out_sys;
	}
	status_from_exit(st, code);
	if (w == 0) {
		st->failure = DEVSYS_RUNNER_TIMEOUT;
		rc = devsys__error_set(DEVSYS_ETIMEOUT, "host-docker: the command timed out after %u ms; its container "
		                                       "was stopped",
		                       c->timeout_ms);
	} else if (w < 0) {
		st->failure = DEVSYS_RUNNER_CANCELED;
		rc = devsys__error_set(DEVSYS_ECANCELED, "host-docker: the command was canceled; its container was "
		                                         "stopped");
	} else {
		rc = 0;
	}
	goto out;
out_sys:
	rc = system_failure(st, rc, "running the container");
out:
	devsys__docker_close(a.d);
	pthread_mutex_destroy(&a.lock);
	pthread_cond_destroy(&a.cond);
	return rc;
}

static int hd_exec(void *self, const devsys_runner_cmd *c, devsys_runner_io *io, devsys_runner_status *st)
{
	struct hd *h = self;
	const char *image;
	char dir[64] = "", *id = NULL;
	bool has_env, has_stdin;
	json_t *cfg;
	int rc;
	drain(h->wake[0]);
	if ((rc = image_for(h, c, &image)) < 0 || (rc = check_env(c)) < 0) {
		st->failure = DEVSYS_RUNNER_NOT_RUN;
		return rc;
	}
	if (image != h->o.image) {
		json_t *j = NULL;
		if ((rc = devsys__docker_image_inspect(&j, h->d, image)) < 0) {
			st->failure = rc == DEVSYS_ENOTFOUND ? DEVSYS_RUNNER_NOT_RUN : DEVSYS_RUNNER_SYSTEM_FAILURE;
			return rc;
		}
		json_decref(j);
	}
	if ((rc = inject_prepare(dir, sizeof(dir), c, &has_env, &has_stdin)) < 0) {
		st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
		return rc;
	}
	if (!(cfg = container_config(h, c, image, dir, has_env, has_stdin))) {
		inject_remove(dir);
		return devsys__error_oom();
	}
	rc = devsys__docker_container_create(&id, h->d, NULL, cfg);
	json_decref(cfg);
	if (rc < 0) {
		inject_remove(dir);
		return system_failure(st, rc, "creating the container");
	}
	rc = run_container(h, id, c, io, st);
	{
		int saved = rc;
		char msg[900];
		snprintf(msg, sizeof(msg), "%s", rc < 0 ? devsys_error_message(devsys_error_last()) : "");
		if (devsys__docker_container_remove(h->d, id, true, true) < 0 && rc == 0)
			rc = system_failure(st, devsys_error_code(devsys_error_last()), "removing the container");
		else if (saved < 0)
			devsys__error_set(saved, "%s", msg);
	}
	inject_remove(dir);
	devsys__free(id);
	__atomic_store_n(&h->cancel_flag, 0, __ATOMIC_RELEASE);
	return rc;
}

/* ---- files ---- */

/* A container of the profile's image with the work volume, never started:
 * the archive endpoints reach the volume through it. */
static int helper_container(struct hd *h, char **id)
{
	json_t *cfg = json_pack("{s:s,s:[s],s:o,s:{s:s,s:[s],s:[s],s:{s:s,s:{}}}}", "Image", h->o.image, "Cmd", "true",
	                        "Labels", labels(h, NULL), "HostConfig", "NetworkMode", "none", "Binds", "", "CapDrop",
	                        "ALL", "LogConfig", "Type", "none", "Config");
	char b[200];
	int rc;
	if (!cfg)
		return devsys__error_oom();
	snprintf(b, sizeof(b), "%s:%s", h->volume, h->o.workdir);
	json_array_set_new(json_object_get(json_object_get(cfg, "HostConfig"), "Binds"), 0, json_string(b));
	rc = devsys__docker_container_create(id, h->d, NULL, cfg);
	json_decref(cfg);
	return rc;
}

/* @p remote made absolute below the workdir. */
static char *remote_path(const struct hd *h, const char *remote)
{
	if (!remote || !remote[0] || strcmp(remote, ".") == 0)
		return devsys__strdup(h->o.workdir);
	if (remote[0] == '/')
		return devsys__strdup(remote);
	return devsys__asprintf("%s/%s", h->o.workdir, remote);
}

/* Refuse a bind whose source holds the engine's socket, unless the profile allows it. */
static int socket_check(const struct hd *h, const char *local)
{
	const devsys__docker_endpoint *ep = devsys__docker_endpoint_of(h->d);
	char real[4096], sock[4096];
	size_t n;
	if (h->o.allow_socket_mount || ep->kind != DEVSYS__DOCKER_UNIX)
		return 0;
	if (!realpath(local, real) || !realpath(ep->path, sock))
		return 0;
	n = strlen(real);
	if (strcmp(real, sock) == 0 || (strncmp(sock, real, n) == 0 && (sock[n] == '/' || n == 1)))
		return devsys__error_set(DEVSYS_EACCESS, "host-docker: '%s' holds the engine's socket %s; mounting it "
		                                         "gives the task root on the host, so it is refused unless the "
		                                         "profile says allow_socket_mount: true",
		                         local, ep->path);
	return 0;
}

static int hd_upload(void *self, const char *local, const char *remote)
{
	struct hd *h = self;
	char *rp = remote_path(h, remote), *id = NULL;
	int rc;
	struct stat sb;
	if (!rp)
		return devsys__error_oom();
	if ((rc = socket_check(h, local)) < 0)
		goto out;
	if (stat(local, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		rc = devsys__error_set(DEVSYS_EINVAL, "host-docker: upload of '%s': only directories are uploaded", local);
		goto out;
	}
	if (h->o.bind_checkout) {
		struct bind *nb = devsys__realloc(h->binds, (h->nbinds + 1) * sizeof(*nb));
		char real[4096];
		if (!nb) {
			rc = devsys__error_oom();
			goto out;
		}
		h->binds = nb;
		if (!realpath(local, real)) {
			rc = devsys__error_errno(DEVSYS_ENOTFOUND, errno, "host-docker: bind of '%s'", local);
			goto out;
		}
		nb[h->nbinds].local = devsys__strdup(real);
		nb[h->nbinds].remote = rp;
		rp = NULL;
		h->nbinds++;
		rc = 0;
		goto out;
	}
	if ((rc = helper_container(h, &id)) < 0)
		goto out;
	{
		/* entries named <workdir>/... from the root: the volume is mounted there */
		devsys__tar_writer_opts wo = { 0 };
		const char *u = user_of(h);
		char *end = NULL;
		/* a numeric container user owns what it is given; names are resolved only inside the image */
		if (u && u[0] >= '0' && u[0] <= '9') {
			wo.uid = (unsigned int)strtoul(u, &end, 10);
			wo.gid = end && *end == ':' ? (unsigned int)strtoul(end + 1, NULL, 10) : wo.uid;
		}
		wo.prefix = rp[0] == '/' ? rp + 1 : rp;
		rc = devsys__docker_archive_put(h->d, id, "/", local, &wo);
	}
	if (devsys__docker_container_remove(h->d, id, true, false) < 0 && rc == 0)
		rc = devsys_error_code(devsys_error_last());
out:
	devsys__free(rp);
	devsys__free(id);
	return rc;
}

/*
 * A file arrives as a one-entry archive named by its basename: unpack it
 * unstripped into a fresh directory beside @p local and rename it there.
 */
static int download_file(struct hd *h, const char *id, const char *rp, const char *local,
                         const devsys__tar_limits *lim)
{
	const char *base = strrchr(rp, '/') ? strrchr(rp, '/') + 1 : rp;
	char *tmp = devsys__asprintf("%s.download-XXXXXX", local), *got = NULL;
	int rc;
	char *slash;
	if (!tmp)
		return devsys__error_oom();
	/* the parent, as an extraction into a directory would make it */
	if ((slash = strrchr(tmp, '/')) && slash != tmp) {
		*slash = '\0';
		rc = devsys__mkdir_p(tmp, 0755);
		*slash = '/';
		if (rc < 0) {
			devsys__free(tmp);
			return rc;
		}
	}
	if (!mkdtemp(tmp)) {
		rc = devsys__error_set(DEVSYS_EIO, "host-docker: cannot make '%s' for a download: %s", tmp, strerror(errno));
		devsys__free(tmp);
		return rc;
	}
	if ((rc = devsys__docker_archive_get(h->d, id, rp, tmp, 0, lim)) == 0) {
		if (!(got = devsys__asprintf("%s/%s", tmp, base)))
			rc = devsys__error_oom();
		else if (rename(got, local) < 0)
			rc = devsys__error_set(DEVSYS_EIO, "host-docker: cannot move the downloaded '%s' to '%s': %s", base,
			                       local, strerror(errno));
	}
	if (got)
		unlink(got); /* only when the rename failed */
	rmdir(tmp);
	devsys__free(got);
	devsys__free(tmp);
	return rc;
}

static int hd_download(void *self, const char *remote, const char *local)
{
	struct hd *h = self;
	char *rp = remote_path(h, remote), *id = NULL;
	devsys__tar_limits lim = { 0 };
	bool is_dir = true;
	int rc;
	if (!rp)
		return devsys__error_oom();
	lim.max_total_size = 1ull << 30;
	if ((rc = helper_container(h, &id)) == 0) {
		if ((rc = devsys__docker_archive_stat(&is_dir, h->d, id, rp)) == 0)
			rc = is_dir ? devsys__docker_archive_get(h->d, id, rp, local, 1, &lim)
			            : download_file(h, id, rp, local, &lim);
		if (devsys__docker_container_remove(h->d, id, true, false) < 0 && rc == 0)
			rc = devsys_error_code(devsys_error_last());
	}
	devsys__free(rp);
	devsys__free(id);
	return rc;
}

static const char *hd_workdir(void *self, devsys_task *task)
{
	(void)task;
	return ((struct hd *)self)->o.workdir;
}

static int hd_describe(void *self, devsys_runner_description *out)
{
	struct hd *h = self;
	snprintf(out->engine, sizeof(out->engine), "docker %s, API %s", devsys__docker_engine_version(h->d),
	         devsys__docker_api(h->d));
	snprintf(out->where, sizeof(out->where), "%s on %s", h->o.image, devsys__docker_endpoint_of(h->d)->spec);
	snprintf(out->image_id, sizeof(out->image_id), "%s", h->image_id);
	snprintf(out->image_digest, sizeof(out->image_digest), "%s", h->image_digest);
	return 0;
}

const devsys_runner_vtable devsys__host_docker_vtable = {
	DEVSYS_RUNNER_VTABLE_VERSION,
	"host-docker",
	hd_open,
	hd_exec,
	hd_cancel,
	hd_close,
	NULL,
	NULL,
	hd_upload,
	hd_download,
	hd_workdir,
	hd_describe,
};
