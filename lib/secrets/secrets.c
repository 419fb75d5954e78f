/*
 * Secrets: declarations, providers (env, file, docker-secret, command and
 * registered plug-ins), TTL caching and audit events. Values are held in
 * buffers that are wiped with explicit_bzero() before they are freed.
 */
#include "secrets_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define VALUE_MAX (1u << 20)
#define COMMAND_OUT_MAX (64u * 1024u)

/* ---- provider registry (process-wide, guarded) ---- */

struct provider {
	devsys_secret_provider vt;
	void *self;
	char *name;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct provider *providers;
static size_t nproviders;

static const size_t provider_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_secret_provider, release), /* 1 */
};

static const char *const builtin_names[] = { "env", "file", "docker-secret", "command" };

int devsys__secrets_global_init(void)
{
	return 0;
}

void devsys__secrets_global_shutdown(void)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nproviders; i++) {
		if (providers[i].vt.release)
			providers[i].vt.release(providers[i].self);
		devsys__free(providers[i].name);
	}
	devsys__free(providers);
	providers = NULL;
	nproviders = 0;
	pthread_mutex_unlock(&reg_lock);
}

int devsys_secret_provider_register(const devsys_secret_provider *provider, void *self)
{
	devsys_secret_provider vt;
	struct provider *np;
	int rc;

	DEVSYS__CHECK_ARG(provider);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	memset(&vt, 0, sizeof(vt));
	if ((rc = devsys__versioned_copy(&vt, provider, provider_sizes, DEVSYS_SECRET_PROVIDER_VERSION,
	                                 "devsys_secret_provider")) < 0)
		return rc;
	if (!vt.name || !*vt.name || !vt.resolve)
		return devsys__error_set(DEVSYS_EINVAL, "secret provider: 'name' and 'resolve' are required");
	for (size_t i = 0; i < sizeof(builtin_names) / sizeof(builtin_names[0]); i++)
		if (strcmp(vt.name, builtin_names[i]) == 0)
			return devsys__error_set(DEVSYS_EEXISTS, "secret provider '%s' is built in", vt.name);
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nproviders; i++) {
		if (strcmp(providers[i].name, vt.name) == 0) {
			pthread_mutex_unlock(&reg_lock);
			return devsys__error_set(DEVSYS_EEXISTS, "secret provider '%s' is already registered", vt.name);
		}
	}
	np = devsys__realloc(providers, (nproviders + 1) * sizeof(*np));
	if (!np) {
		pthread_mutex_unlock(&reg_lock);
		return devsys__error_oom();
	}
	providers = np;
	np[nproviders].vt = vt;
	np[nproviders].self = self;
	if (!(np[nproviders].name = devsys__strdup(vt.name))) {
		pthread_mutex_unlock(&reg_lock);
		return devsys__error_oom();
	}
	np[nproviders].vt.name = np[nproviders].name;
	nproviders++;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

static bool find_plugin(const char *name, struct provider *out)
{
	bool found = false;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nproviders && !found; i++) {
		if (strcmp(providers[i].name, name) == 0) {
			*out = providers[i];
			found = true;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return found;
}

/* ---- the set ---- */

struct secret {
	char *name, *provider, *ref;
	char **argv;
	unsigned int ttl_s;
	char *value; /* NUL-terminated, wiped on release */
	size_t len, cap;
	uint64_t resolved_ns; /* 0 = never */
	char *task_id;        /* the task it was last resolved for */
};

struct devsys_secrets {
	char *docker_dir;
	unsigned int command_timeout_ms;
	devsys_secret_audit_cb audit_cb;
	void *audit_payload;
	devsys_secret_event_cb event_cb;
	void *event_payload;
	devsys_workspace *ws; /* a reference, or NULL */
	struct secret *items;
	size_t n;
};

static const size_t secrets_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_secrets_options, ws), /* 1 */
	DEVSYS__SIZE_THROUGH(devsys_secrets_options, event_payload), /* 2 */
};

static const size_t secret_def_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_secret_def, ttl_s), /* 1 */
};

int devsys_secrets_options_init(devsys_secrets_options *opts, unsigned int version)
{
	static const devsys_secrets_options defaults = DEVSYS_SECRETS_OPTIONS_INIT;
	DEVSYS__CHECK_ARG(opts);
	if (version == 0 || version > DEVSYS_SECRETS_OPTIONS_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_secrets_options_init: version %u is not supported "
		                                          "(supported: 1..%u)",
		                         version, DEVSYS_SECRETS_OPTIONS_VERSION);
	memcpy(opts, &defaults, secrets_options_sizes[version]);
	opts->version = version;
	return 0;
}

int devsys_secrets_new(devsys_secrets **out, const devsys_secrets_options *opts)
{
	devsys_secrets_options o = DEVSYS_SECRETS_OPTIONS_INIT;
	devsys_secrets *s;
	int rc;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if (opts && (rc = devsys__versioned_copy(&o, opts, secrets_options_sizes, DEVSYS_SECRETS_OPTIONS_VERSION,
	                                         "devsys_secrets_options")) < 0)
		return rc;
	if (!(s = devsys__calloc(1, sizeof(*s))))
		return devsys__error_oom();
	s->docker_dir = devsys__strdup(o.docker_secrets_dir ? o.docker_secrets_dir : "/run/secrets");
	s->command_timeout_ms = o.command_timeout_ms ? o.command_timeout_ms : 10000;
	s->audit_cb = o.audit_cb;
	s->audit_payload = o.audit_payload;
	s->event_cb = o.event_cb;
	s->event_payload = o.event_payload;
	if ((s->ws = o.ws))
		devsys__workspace_ref(s->ws);
	if (!s->docker_dir) {
		devsys_secrets_free(s);
		return devsys__error_oom();
	}
	*out = s;
	return 0;
}

static void wipe_value(struct secret *it)
{
	if (it->value) {
		explicit_bzero(it->value, it->cap);
		devsys__free(it->value);
	}
	it->value = NULL;
	it->len = it->cap = 0;
	it->resolved_ns = 0;
}

void devsys_secrets_free(devsys_secrets *s)
{
	if (!s)
		return;
	devsys_workspace_free(s->ws);
	for (size_t i = 0; i < s->n; i++) {
		struct secret *it = &s->items[i];
		wipe_value(it);
		devsys__free(it->name);
		devsys__free(it->provider);
		devsys__free(it->ref);
		devsys__free(it->task_id);
		for (size_t k = 0; it->argv && it->argv[k]; k++)
			devsys__free(it->argv[k]);
		devsys__free(it->argv);
	}
	devsys__free(s->items);
	devsys__free(s->docker_dir);
	devsys__free(s);
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

static bool provider_known(const char *p)
{
	struct provider pl;
	for (size_t i = 0; i < sizeof(builtin_names) / sizeof(builtin_names[0]); i++)
		if (strcmp(p, builtin_names[i]) == 0)
			return true;
	return find_plugin(p, &pl);
}

int devsys_secrets_define(devsys_secrets *s, const devsys_secret_def *def)
{
	devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
	struct secret *items, *it;
	int rc;

	DEVSYS__CHECK_ARG(s);
	DEVSYS__CHECK_ARG(def);
	if ((rc = devsys__versioned_copy(&d, def, secret_def_sizes, DEVSYS_SECRET_DEF_VERSION, "devsys_secret_def")) < 0)
		return rc;
	if (!d.name || !name_ok(d.name))
		return devsys__error_set(DEVSYS_EINVALID, "secret name '%.80s' is invalid; use 1-64 characters from "
		                                          "[A-Za-z0-9_.-]",
		                         d.name ? d.name : "(null)");
	if (!d.provider)
		return devsys__error_set(DEVSYS_EINVALID, "secret '%s': no provider given (env, file, docker-secret, "
		                                          "command)",
		                         d.name);
	if (!provider_known(d.provider))
		return devsys__error_set(DEVSYS_ENOTFOUND, "secret '%s': unknown provider '%.64s' (built in: env, file, "
		                                           "docker-secret, command; others must be registered)",
		                         d.name, d.provider);
	if (strcmp(d.provider, "command") == 0 && (!d.argv || !d.argv[0]))
		return devsys__error_set(DEVSYS_EINVALID, "secret '%s': the command provider needs an argv", d.name);
	if (strcmp(d.provider, "docker-secret") == 0) {
		const char *r = d.ref ? d.ref : d.name;
		if (!devsys__relpath_is_safe(r) || strchr(r, '/'))
			return devsys__error_set(DEVSYS_EINVALID, "secret '%s': docker secret name '%.80s' must be a "
			                                          "plain file name",
			                         d.name, r);
	}
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i].name, d.name) == 0)
			return devsys__error_set(DEVSYS_EEXISTS, "secret '%s' is already declared", d.name);
	if (!(items = devsys__realloc(s->items, (s->n + 1) * sizeof(*items))))
		return devsys__error_oom();
	s->items = items;
	it = &items[s->n];
	memset(it, 0, sizeof(*it));
	it->name = devsys__strdup(d.name);
	it->provider = devsys__strdup(d.provider);
	it->ref = d.ref ? devsys__strdup(d.ref) : NULL;
	it->ttl_s = d.ttl_s;
	if (d.argv) {
		size_t n = 0;
		while (d.argv[n])
			n++;
		if ((it->argv = devsys__calloc(n + 1, sizeof(char *))))
			for (size_t k = 0; k < n; k++)
				it->argv[k] = devsys__strdup(d.argv[k]);
	}
	s->n++;
	if (!it->name || !it->provider || (d.ref && !it->ref) || (d.argv && !it->argv))
		return devsys__error_oom();
	return 0;
}

/* ---- providers ---- */

/* Store @p len bytes as the secret's value (old value wiped). */
static int store_value(struct secret *it, const char *data, size_t len)
{
	char *v = devsys__malloc(len + 1);
	if (!v)
		return devsys__error_oom();
	memcpy(v, data, len);
	v[len] = '\0';
	wipe_value(it);
	it->value = v;
	it->len = len;
	it->cap = len + 1;
	return 0;
}

static int resolve_env(struct secret *it)
{
	const char *var = it->ref ? it->ref : it->name;
	const char *v = getenv(var);
	if (!v)
		return devsys__error_set(DEVSYS_ENOTFOUND, "secret '%s': environment variable '%.128s' is not set "
		                                           "(provider env)",
		                         it->name, var);
	return store_value(it, v, strlen(v));
}

/* Read a file into the secret without realloc copies; one trailing newline is dropped. */
static int resolve_path(struct secret *it, const char *path, const char *provider)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;

	if (fd < 0) {
		int err = errno;
		return devsys__error_errno(err == ENOENT ? DEVSYS_ENOTFOUND : devsys__errno_code(err), err,
		                           "secret '%s': cannot read '%s' (provider %s)", it->name, path, provider);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return devsys__error_set(DEVSYS_EIO, "secret '%s': '%s' is not a regular file (provider %s)", it->name,
		                         path, provider);
	}
	if ((uint64_t)st.st_size > VALUE_MAX) {
		close(fd);
		return devsys__error_set(DEVSYS_ELIMIT, "secret '%s': '%s' is larger than 1 MiB (provider %s)",
		                         it->name, path, provider);
	}
	if (!(buf = devsys__malloc((size_t)st.st_size + 1))) {
		close(fd);
		return devsys__error_oom();
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	rc = store_value(it, buf, got);
	explicit_bzero(buf, (size_t)st.st_size + 1);
	devsys__free(buf);
	return rc;
}

static int resolve_command(devsys_secrets *s, struct secret *it)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int pfd[2], rc = 0, status = 0;
	pid_t pid;
	char *buf;
	size_t got = 0;
	uint64_t deadline = devsys__now_ns() + (uint64_t)s->command_timeout_ms * 1000000ull;
	bool timed_out = false, too_big = false;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return devsys__error_errno(DEVSYS_ESYSTEM, errno, "secret '%s': pipe failed", it->name);
	if (!(buf = devsys__malloc(COMMAND_OUT_MAX))) {
		close(pfd[0]);
		close(pfd[1]);
		return devsys__error_oom();
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	rc = posix_spawnp(&pid, it->argv[0], &fa, &attr, it->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		devsys__free(buf);
		return devsys__error_errno(DEVSYS_ESYSTEM, rc, "secret '%s': cannot run '%s' (provider command)",
		                           it->name, it->argv[0]);
	}
	for (;;) {
		uint64_t now = devsys__now_ns();
		struct pollfd p = { pfd[0], POLLIN, 0 };
		if (now >= deadline) {
			timed_out = true;
			break;
		}
		int pr = poll(&p, 1, (int)((deadline - now) / 1000000ull) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		if (got == COMMAND_OUT_MAX) {
			too_big = true;
			break;
		}
		ssize_t n = read(pfd[0], buf + got, COMMAND_OUT_MAX - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pfd[0]);
	if (timed_out || too_big)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		rc = devsys__error_set(DEVSYS_ETIMEOUT, "secret '%s': command '%s' did not finish within %u ms "
		                                        "(provider command); it was killed",
		                       it->name, it->argv[0], s->command_timeout_ms);
	else if (too_big)
		rc = devsys__error_set(DEVSYS_ELIMIT, "secret '%s': command '%s' printed more than 64 KiB", it->name,
		                       it->argv[0]);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		rc = devsys__error_set(DEVSYS_ESYSTEM, "secret '%s': command '%s' failed (%s %d; provider command)",
		                       it->name, it->argv[0], WIFEXITED(status) ? "exit status" : "signal",
		                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	else {
		if (got > 0 && buf[got - 1] == '\n')
			got--;
		if (got > 0 && buf[got - 1] == '\r')
			got--;
		rc = store_value(it, buf, got);
	}
	explicit_bzero(buf, COMMAND_OUT_MAX);
	devsys__free(buf);
	return rc;
}

static int resolve_plugin(struct secret *it)
{
	struct provider pl;
	devsys_buf out = DEVSYS_BUF_INIT;
	int rc;
	if (!find_plugin(it->provider, &pl))
		return devsys__error_set(DEVSYS_ENOTFOUND, "secret '%s': provider '%s' is no longer registered", it->name,
		                         it->provider);
	rc = pl.vt.resolve(pl.self, it->name, it->ref ? it->ref : it->name, &out);
	if (rc == 0)
		rc = store_value(it, out.ptr ? out.ptr : "", out.size);
	else if (rc > 0)
		rc = devsys__error_set(DEVSYS_ERROR, "secret '%s': provider '%s' failed", it->name, it->provider);
	if (out.ptr)
		explicit_bzero(out.ptr, out.asize ? out.asize : out.size);
	devsys_buf_dispose(&out);
	return rc;
}

/* ---- audit ---- */

static void json_str(devsys_buf *b, const char *s)
{
	if (!s) {
		devsys_buf_puts(b, "null");
		return;
	}
	devsys_buf_puts(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			devsys_buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			devsys_buf_printf(b, "\\u%04x", c);
		else
			devsys_buf_put(b, (const char *)&c, 1);
	}
	devsys_buf_puts(b, "\"");
}

/* The event's data as JSON: never the value. */
static void event_json(devsys_buf *b, const devsys_secret_event *ev)
{
	devsys_buf_puts(b, "{\"name\":");
	json_str(b, ev->name);
	devsys_buf_puts(b, ",\"provider\":");
	json_str(b, ev->provider);
	devsys_buf_puts(b, ",\"task\":");
	json_str(b, ev->task_id);
	devsys_buf_puts(b, ",\"stage\":");
	json_str(b, ev->stage);
	devsys_buf_printf(b, ",\"cached\":%s,\"error\":", ev->cached ? "true" : "false");
	if (ev->error)
		json_str(b, devsys_error_name(ev->error));
	else
		devsys_buf_puts(b, "null");
	devsys_buf_puts(b, "}");
}

int devsys_secret_event_json(devsys_buf *out, const devsys_secret_event *ev)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(ev);
	devsys_buf_clear(out);
	event_json(out, ev);
	return out->ptr ? 0 : devsys__error_oom();
}

/*
 * Without an event_cb, a task's resolutions go to this module's own audit
 * file: never into events.jsonl, which only the record module writes.
 */
static void append_audit_file(devsys_secrets *s, devsys_task *task, const devsys_secret_event *ev)
{
	devsys_buf line = DEVSYS_BUF_INIT, path = DEVSYS_BUF_INIT;
	char ts[40];

	devsys__time_iso8601(ts, sizeof(ts));
	devsys_buf_printf(&line, "{\"ts\":\"%s\",\"type\":\"secret.resolve\",\"data\":", ts);
	event_json(&line, ev);
	devsys_buf_puts(&line, "}\n");
	if (line.ptr && devsys_task_path_join(&path, task, "events.audit.jsonl") == 0) {
		int fd = open(path.ptr, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, line.ptr, line.size) != (ssize_t)line.size)
			devsys__log(s->ws, DEVSYS_LOG_WARN, "secrets", "cannot append audit event to '%s'", path.ptr);
		if (fd >= 0)
			close(fd);
	}
	devsys_buf_dispose(&line);
	devsys_buf_dispose(&path);
}

/* Report one resolution; DEVSYS_EUSER when the caller's event_cb refused it. */
static int audit(devsys_secrets *s, struct secret *it, devsys_task *task, const char *stage, int cached, int error)
{
	devsys_secret_event ev;
	const char *task_id = task ? devsys_task_id(task) : NULL;

	memset(&ev, 0, sizeof(ev));
	ev.version = 1;
	ev.name = it->name;
	ev.provider = it->provider;
	ev.task_id = task_id;
	ev.stage = stage;
	ev.cached = cached;
	ev.error = error;
	if (s->audit_cb)
		s->audit_cb(&ev, s->audit_payload);
	if (s->event_cb) {
		if (s->event_cb(&ev, task, s->event_payload) != 0)
			return devsys__error_set(DEVSYS_EUSER,
			                         "the resolution of secret '%s' could not be recorded (the event callback "
			                         "refused it); the value is not handed out",
			                         it->name);
	} else if (task)
		append_audit_file(s, task, &ev);
	return 0;
}

static struct secret *lookup(devsys_secrets *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i].name, name) == 0)
			return &s->items[i];
	return NULL;
}

static bool cache_valid(const struct secret *it, devsys_task *task)
{
	if (!it->value || it->resolved_ns == 0)
		return false;
	if (it->ttl_s == 0)
		return true;
	if (devsys__now_ns() - it->resolved_ns >= (uint64_t)it->ttl_s * 1000000000ull)
		return false;
	/* short-lived credentials: a new task gets a fresh value */
	const char *tid = task ? devsys_task_id(task) : NULL;
	if ((tid == NULL) != (it->task_id == NULL))
		return false;
	return !tid || strcmp(tid, it->task_id) == 0;
}

static int resolve_item(devsys_secrets *s, struct secret *it, devsys_task *task, const char *stage)
{
	int rc, arc;
	if (cache_valid(it, task))
		return audit(s, it, task, stage, 1, 0);
	if (strcmp(it->provider, "env") == 0)
		rc = resolve_env(it);
	else if (strcmp(it->provider, "file") == 0)
		rc = resolve_path(it, it->ref ? it->ref : it->name, "file");
	else if (strcmp(it->provider, "docker-secret") == 0) {
		char *p = devsys__asprintf("%s/%s", s->docker_dir, it->ref ? it->ref : it->name);
		rc = p ? resolve_path(it, p, "docker-secret") : devsys__error_oom();
		devsys__free(p);
	} else if (strcmp(it->provider, "command") == 0)
		rc = resolve_command(s, it);
	else
		rc = resolve_plugin(it);
	if (rc == 0) {
		it->resolved_ns = devsys__now_ns();
		devsys__free(it->task_id);
		it->task_id = task ? devsys__strdup(devsys_task_id(task)) : NULL;
	}
	if ((arc = audit(s, it, task, stage, 0, rc)) < 0 && rc == 0)
		rc = arc;
	return rc;
}

int devsys_secrets_resolve(devsys_secrets *s, const char *name, devsys_task *task, const char *stage,
                           const char **value, size_t *len)
{
	struct secret *it;
	int rc;
	DEVSYS__CHECK_ARG(s);
	DEVSYS__CHECK_ARG(name);
	DEVSYS__CHECK_ARG(value);
	*value = NULL;
	if (len)
		*len = 0;
	if (!(it = lookup(s, name)))
		return devsys__error_set(DEVSYS_ENOTFOUND, "secret '%.80s' is not declared", name);
	if ((rc = resolve_item(s, it, task, stage)) < 0)
		return rc;
	*value = it->value;
	if (len)
		*len = it->len;
	return 0;
}

int devsys_secrets_resolve_all(devsys_secrets *s, devsys_task *task, const char *stage)
{
	DEVSYS__CHECK_ARG(s);
	for (size_t i = 0; i < s->n; i++) {
		int rc = resolve_item(s, &s->items[i], task, stage);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int devsys_secrets_masker(devsys_masker **out, devsys_secrets *s)
{
	devsys_masker *m;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(s);
	if ((rc = devsys_masker_new(&m)) < 0)
		return rc;
	devsys__masker_set_workspace(m, s->ws);
	for (size_t i = 0; i < s->n; i++) {
		struct secret *it = &s->items[i];
		if (!it->value)
			continue;
		rc = devsys_masker_add(m, it->name, it->value, it->len);
		if (rc < 0 && rc != DEVSYS_EINVALID) { /* too-short values are warned about, not fatal */
			devsys_masker_free(m);
			return rc;
		}
	}
	devsys_error_clear();
	*out = m;
	return 0;
}
