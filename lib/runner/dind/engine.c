/*
 * A throw-away Docker engine in a container on the host engine (see
 * dind_int.h). The outer container gets what a nested dockerd needs and no
 * more than that: every capability except CAP_SYS_RESOURCE (which this kind
 * of sandbox does not have, so Privileged fails), seccomp and AppArmor
 * unconfined (runc inside must mount, pivot_root and set up namespaces),
 * the host's cgroup namespace and /sys/fs/cgroup (the inner runc creates
 * cgroups), no network. The inner dockerd uses vfs (no overlay on overlay),
 * no bridge, no iptables, its own cgroup parent, and listens only on a unix
 * socket in a short host directory bind-mounted into the outer container.
 * The host engine's socket is never mounted anywhere.
 */
#include "dind_int.h"

#include "../../core/core.h"
#include "../../http/http_int.h"
#include "devsys/sys/errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LABEL_MANAGED "devsys.runner"
#define LABEL_PID "devsys.owner.pid"
#define LABEL_START "devsys.owner.start"
#define LABEL_BOOT "devsys.owner.boot"
#define LABEL_TASK "devsys.task"
#define LABEL_DIND "devsys.dind.dir"
#define READY_TIMEOUT_MS 60000
#define POLL_MS 20

static double ms_since(uint64_t t0)
{
	return (double)(devsys__now_ns() - t0) / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- the socket directory and its owner file ---- */

static void owner_text(char *out, size_t size)
{
	char boot[40];
	devsys__boot_id(boot, sizeof(boot));
	snprintf(out, size, "%d %lld %s\n", (int)getpid(), devsys__proc_start(getpid()), boot);
}

static int make_dir(devsys__dind_engine *e)
{
	char owner[128], path[128];
	int fd;
	snprintf(e->dir, sizeof(e->dir), "%sXXXXXX", DEVSYS__DIND_DIR_PREFIX);
	if (!mkdtemp(e->dir)) {
		int err = errno;
		e->dir[0] = '\0';
		return devsys__error_errno(DEVSYS_ESYSTEM, err, "dind: cannot make a socket directory %sXXXXXX",
		                           DEVSYS__DIND_DIR_PREFIX);
	}
	snprintf(e->sock, sizeof(e->sock), "%s/docker.sock", e->dir);
	snprintf(e->host, sizeof(e->host), "unix://%s", e->sock);
	snprintf(e->name, sizeof(e->name), "%s", strrchr(e->dir, '/') + 1);
	/* the owner, so a later sweep can tell a crashed runner's directory from a live one */
	owner_text(owner, sizeof(owner));
	snprintf(path, sizeof(path), "%s/owner", e->dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, owner, strlen(owner)) != (ssize_t)strlen(owner)) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return devsys__error_errno(DEVSYS_ESYSTEM, err, "dind: cannot write '%s'", path);
	}
	close(fd);
	return devsys__unix_path_check(e->sock, "dind: the inner engine's socket");
}

/* rmdir a cgroup and its direct children (the inner containers' cgroups,
 * left when the engine was killed); a cgroup with live tasks stays. */
static void rmdir_cgroup(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *ent;
	while (d && (ent = readdir(d))) {
		char child[600];
		if (ent->d_name[0] == '.' || ent->d_type != DT_DIR)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, ent->d_name);
		rmdir(child);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

/* The inner runc's cgroups: one parent per engine, per controller (cgroup v1), or one (v2). */
static void remove_cgroups(const char *name)
{
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *ent;
	char path[512];
	snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", name);
	rmdir_cgroup(path);
	while (d && (ent = readdir(d))) {
		if (ent->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/%s", ent->d_name, name);
		rmdir_cgroup(path);
	}
	if (d)
		closedir(d);
}

static void remove_dir(const char *dir)
{
	static const char *const files[] = { "docker.sock", "owner", "image.tar", NULL };
	char path[128];
	for (size_t i = 0; files[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

void devsys__dind_sweep_dirs(void)
{
	DIR *tmp = opendir(DEVSYS__DIND_DIR_PARENT);
	struct dirent *ent;
	const char *base = DEVSYS__DIND_DIR_NAME;
	while (tmp && (ent = readdir(tmp))) {
		char path[128], dir[96], boot[64] = "";
		long long pid = 0, start = 0;
		FILE *f;
		if (strncmp(ent->d_name, base, strlen(base)) != 0 || strlen(ent->d_name) > 40)
			continue;
		snprintf(dir, sizeof(dir), DEVSYS__DIND_DIR_PARENT "/%.40s", ent->d_name);
		snprintf(path, sizeof(path), "%s/owner", dir);
		if (!(f = fopen(path, "re")))
			continue; /* not ours, or still being made */
		if (fscanf(f, "%lld %lld %63s", &pid, &start, boot) == 3 && !devsys__owner_alive(pid, start, boot)) {
			remove_cgroups(ent->d_name);
			remove_dir(dir);
		}
		fclose(f);
	}
	if (tmp)
		closedir(tmp);
}

/* ---- the outer container ---- */

static json_t *outer_labels(const devsys__dind_engine *e, const char *task)
{
	char pid[24], start[24], boot[40];
	json_t *l;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(start, sizeof(start), "%lld", devsys__proc_start(getpid()));
	devsys__boot_id(boot, sizeof(boot));
	/* host-docker's label set, so its sweeper (devsys_runner_docker_sweep) removes this container too */
	l = json_pack("{s:s,s:s,s:s,s:s,s:s}", LABEL_MANAGED, "host-docker", LABEL_PID, pid, LABEL_START, start,
	              LABEL_BOOT, boot, LABEL_DIND, e->dir);
	if (l && task)
		json_object_set_new(l, LABEL_TASK, json_string(task));
	return l;
}

static json_t *outer_config(const devsys__dind_engine *e, const devsys__dind_config *cfg)
{
	char sockdir[160], cgroup[64], listen[64];
	json_t *binds;
	snprintf(sockdir, sizeof(sockdir), "%s:" DEVSYS__DIND_SOCK_DIR, e->dir);
	snprintf(cgroup, sizeof(cgroup), "--cgroup-parent=/%s", e->name);
	snprintf(listen, sizeof(listen), "--host=unix://" DEVSYS__DIND_SOCK_DIR "/docker.sock");
	binds = json_pack("[s,s]", "/sys/fs/cgroup:/sys/fs/cgroup", sockdir);
	if (binds && cfg->share_shm)
		json_array_append_new(binds, json_string("/dev/shm:/dev/shm"));
	return json_pack("{s:s,s:[s,s,s,s,s,s,s,s,s,s],s:o,s:{s:s,s:[s],s:[s],s:[s,s],s:s,s:o,s:b,s:b}}", "Image",
	                 cfg->engine_image, "Cmd", "dockerd", listen, "--storage-driver=vfs", "--bridge=none",
	                 "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--userland-proxy=false", cgroup,
	                 "--log-level=warn", "Labels", outer_labels(e, cfg->task), "HostConfig", "NetworkMode", "none",
	                 "CapAdd", "ALL", "CapDrop", "SYS_RESOURCE", "SecurityOpt", "seccomp=unconfined",
	                 "apparmor=unconfined", "CgroupnsMode", "host", "Binds", binds, "Privileged", 0, "AutoRemove", 0);
}

/* The end of the outer container's log, for an error message. */
static int collect_log(int stream, const char *data, size_t len, void *payload)
{
	devsys_buf *b = payload;
	(void)stream;
	if (b->size > 65536)
		return 0;
	return devsys_buf_put(b, data, len) < 0 ? 1 : 0;
}

static int outer_exited(devsys__dind_engine *e, devsys__docker *host)
{
	devsys_buf log = DEVSYS_BUF_INIT;
	json_t *j = NULL;
	long long code = -1;
	const char *tail;
	int rc;
	if (devsys__docker_container_inspect(&j, host, e->container) == 0)
		code = json_integer_value(json_object_get(json_object_get(j, "State"), "ExitCode"));
	json_decref(j);
	if (devsys__docker_container_attach(host, e->container, true, false, collect_log, &log, NULL, NULL) < 0)
		devsys_error_clear();
	tail = log.ptr ? log.ptr + (log.size > 400 ? log.size - 400 : 0) : "";
	rc = devsys__error_set(DEVSYS_ESYSTEM, "dind: the inner dockerd in container %.12s exited with status %lld "
	                                       "before it answered: %s",
	                       e->container, code, tail);
	devsys_buf_dispose(&log);
	return rc;
}

static bool outer_running(devsys__dind_engine *e, devsys__docker *host)
{
	json_t *j = NULL;
	bool running = true;
	if (devsys__docker_container_inspect(&j, host, e->container) == 0)
		running = json_is_true(json_object_get(json_object_get(j, "State"), "Running"));
	else
		devsys_error_clear();
	json_decref(j);
	return running;
}

static int wait_ready(devsys__dind_engine *e, devsys__docker *host, unsigned int timeout_ms, uint64_t t0)
{
	devsys__docker_options io = { 0 };
	uint64_t deadline = t0 + (uint64_t)timeout_ms * 1000000ull;
	struct stat st;
	io.host = e->host;
	io.connect_timeout_ms = 2000;
	io.max_retries = 1;
	for (;;) {
		/* the socket appears only once the inner dockerd listens: no connection attempts before that */
		if (stat(e->sock, &st) == 0 && devsys__docker_open(&e->inner, &io) == 0)
			return 0;
		devsys_error_clear();
		if (!outer_running(e, host))
			return outer_exited(e, host);
		if (devsys__now_ns() > deadline)
			return devsys__error_set(DEVSYS_ETIMEOUT, "dind: the inner engine at %s did not answer within %u ms",
			                         e->host, timeout_ms);
		sleep_ms(POLL_MS);
	}
}

int devsys__dind_start(devsys__dind_engine **out, devsys__docker *host, const devsys__dind_config *cfg)
{
	devsys__dind_engine *e;
	json_t *config;
	uint64_t t0;
	int rc;
	*out = NULL;
	if (!cfg->engine_image)
		return devsys__error_set(DEVSYS_EINVAL, "dind: no engine image (an image with dockerd, containerd and runc)");
	if ((rc = devsys__docker_image_check(cfg->engine_image)) < 0)
		return rc;
	if (!(e = devsys__calloc(1, sizeof(*e))))
		return devsys__error_oom();
	if ((rc = make_dir(e)) < 0)
		goto fail;
	if (!(config = outer_config(e, cfg))) {
		rc = devsys__error_oom();
		goto fail;
	}
	t0 = devsys__now_ns();
	rc = devsys__docker_container_create(&e->container, host, e->name, config);
	json_decref(config);
	if (rc < 0 || (rc = devsys__docker_container_start(host, e->container)) < 0) {
		char msg[512], detail[320] = "";
		const char *dt = devsys_error_detail(devsys_error_last());
		snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
		if (dt)
			snprintf(detail, sizeof(detail), ": %s", dt);
		rc = devsys__error_set(rc, "dind: cannot start the engine container from image '%.200s' on %s: %s%s",
		                       cfg->engine_image, devsys__docker_endpoint_of(host)->spec, msg, detail);
		goto fail;
	}
	e->create_ms = ms_since(t0);
	if ((rc = wait_ready(e, host, cfg->ready_timeout_ms ? cfg->ready_timeout_ms : READY_TIMEOUT_MS, t0)) < 0)
		goto fail;
	e->ready_ms = ms_since(t0);
	*out = e;
	return 0;
fail: {
	/* keep the reason across the clean-up's own calls */
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	devsys__dind_destroy(e, host);
	return devsys__error_set(rc, "%s", msg);
}
}

/* ---- copying an image in ---- */

/* "dind: cannot <what> image '<image>': <the previous message>", copied first. */
static int rewrap(int rc, const char *what, const char *image)
{
	char prev[512];
	snprintf(prev, sizeof(prev), "%s", devsys_error_message(devsys_error_last()));
	return devsys__error_set(rc, "dind: cannot %s image '%.200s': %s", what, image, prev);
}

struct file_io {
	int fd;
	int err;
};

static int to_file(const char *data, size_t len, void *payload)
{
	struct file_io *f = payload;
	while (len) {
		ssize_t n = write(f->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			f->err = errno;
			return 1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static long from_file(char *buf, size_t cap, void *payload)
{
	struct file_io *f = payload;
	ssize_t n;
	do
		n = read(f->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		f->err = errno;
		return -1;
	}
	return (long)n;
}

/* A raw-stream client to an endpoint (the JSON client buffers bodies). */
static int raw_client(devsys__http **out, const devsys__docker_endpoint *ep, const devsys__docker_options *o)
{
	devsys__http_options ho;
	devsys__http_options_default(&ho);
	ho.what = "dind";
	ho.base_url = ep->base_url;
	ho.unix_socket = ep->kind == DEVSYS__DOCKER_UNIX ? ep->path : NULL;
	if (ep->tls && o) {
		ho.ca_file = o->ca_file;
		ho.client_cert = o->client_cert;
		ho.client_key = o->client_key;
	}
	ho.accept = "application/x-tar";
	ho.timeout_ms = 0;
	return devsys__http_new(out, &ho);
}

static int image_save(devsys__docker *host, const devsys__docker_options *ho, const char *image, const char *file)
{
	devsys__http *c = NULL;
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	devsys_buf p = DEVSYS_BUF_INIT;
	struct file_io f = { -1, 0 };
	int rc;
	if ((rc = raw_client(&c, devsys__docker_endpoint_of(host), ho)) < 0)
		return rc;
	if (devsys_buf_printf(&p, "/v%s/images/", devsys__docker_api(host)) < 0 ||
	    devsys__docker_query_escape(&p, image) < 0 || devsys_buf_puts(&p, "/get") < 0) {
		rc = devsys__error_oom();
		goto out;
	}
	if ((f.fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "dind: cannot create '%s'", file);
		goto out;
	}
	req.path = p.ptr;
	req.write_cb = to_file;
	req.payload = &f;
	req.timeout_ms = -1;
	if ((rc = devsys__http_send(&r, c, &req)) < 0)
		rc = rewrap(rc, "save (from the host engine)", image);
	else if (f.err)
		rc = devsys__error_errno(DEVSYS_EIO, f.err, "dind: cannot write '%s'", file);
out:
	if (f.fd >= 0)
		close(f.fd);
	devsys__http_response_dispose(&r);
	devsys_buf_dispose(&p);
	devsys__http_free(c);
	return rc;
}

static int image_load(devsys__dind_engine *e, const char *image, const char *file)
{
	devsys__http *c = NULL;
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	struct file_io f = { -1, 0 };
	struct stat st;
	char path[64];
	int rc;
	if ((rc = raw_client(&c, devsys__docker_endpoint_of(e->inner), NULL)) < 0)
		return rc;
	snprintf(path, sizeof(path), "/v%s/images/load?quiet=1", devsys__docker_api(e->inner));
	if ((f.fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(f.fd, &st) != 0) {
		rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "dind: cannot read '%s'", file);
		goto out;
	}
	req.method = "POST";
	req.path = path;
	req.read_cb = from_file;
	req.upload_size = st.st_size;
	req.content_type = "application/x-tar";
	req.payload = &f;
	req.timeout_ms = -1;
	req.no_retry = true;
	if ((rc = devsys__http_send(&r, c, &req)) < 0)
		rc = rewrap(rc, "load (into the inner engine)", image);
	/* the load answers 200 and reports a bad archive in its JSON stream */
	else if (r.body.ptr && strstr(r.body.ptr, "\"error"))
		rc = devsys__error_set(DEVSYS_ESYSTEM, "dind: the inner engine refused image '%.200s': %.300s", image,
		                       r.body.ptr);
out:
	if (f.fd >= 0)
		close(f.fd);
	devsys__http_response_dispose(&r);
	devsys__http_free(c);
	return rc;
}

int devsys__dind_copy_image(devsys__dind_engine *e, devsys__docker *host, const devsys__docker_options *host_opts,
                            const char *image)
{
	char file[96];
	json_t *j = NULL;
	int rc;
	if ((rc = devsys__docker_image_check(image)) < 0)
		return rc;
	if ((rc = devsys__docker_image_inspect(&j, host, image)) < 0)
		return devsys__error_set(rc, "dind: image '%.200s' is not on the host engine %s (dind copies it from "
		                             "there; no registry is asked)",
		                         image, devsys__docker_endpoint_of(host)->spec);
	json_decref(j);
	snprintf(file, sizeof(file), "%s/image.tar", e->dir);
	rc = image_save(host, host_opts, image, file);
	if (rc == 0)
		rc = image_load(e, image, file);
	unlink(file);
	return rc;
}

/* ---- destroy ---- */

static void remove_inner_containers(devsys__dind_engine *e)
{
	json_t *list = NULL, *v;
	size_t i;
	if (devsys__docker_call(&list, e->inner, "GET", "/containers/json?all=1", NULL, false, "container list") < 0) {
		devsys_error_clear();
		return;
	}
	json_array_foreach(list, i, v) {
		const char *id = json_string_value(json_object_get(v, "Id"));
		/* remove with force kills first; the inner engine then drops the container's cgroups */
		if (id && devsys__docker_container_remove(e->inner, id, true, true) < 0)
			devsys_error_clear();
	}
	json_decref(list);
}

void devsys__dind_destroy(devsys__dind_engine *e, devsys__docker *host)
{
	if (!e)
		return;
	if (e->inner) {
		remove_inner_containers(e);
		devsys__docker_close(e->inner);
	}
	if (e->container && host && devsys__docker_container_remove(host, e->container, true, true) < 0)
		devsys_error_clear();
	if (e->name[0])
		remove_cgroups(e->name);
	if (e->dir[0])
		remove_dir(e->dir);
	devsys__free(e->container);
	devsys__free(e);
}
