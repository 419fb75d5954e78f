/*
 * The runner core: the registry of runner types, argument checks, the
 * output path, durations and retries around a backend's exec.
 */
#include "runner_int.h"
#include "output_int.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct regentry {
	devsys_runner_vtable vt; /* copied prefix, unknown slots zeroed */
	void *payload;
	char *name;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct regentry *reg;
static size_t nreg;

static const size_t vtable_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_vtable, workdir),  /* 1 */
	DEVSYS__SIZE_THROUGH(devsys_runner_vtable, describe), /* 2 */
};

static const size_t options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_options, remote_dir),      /* 1 */
	DEVSYS__SIZE_THROUGH(devsys_runner_options, backend_options), /* 2 */
};

static const size_t cmd_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_cmd, stage), /* 1 */
	DEVSYS__SIZE_THROUGH(devsys_runner_cmd, image),            /* 2 */
	DEVSYS__SIZE_THROUGH(devsys_runner_cmd, max_output_bytes), /* 3 */
};

static const size_t result_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_runner_result, log_path), /* 1 */
};

struct devsys_runner {
	struct regentry entry; /* a copy: the registry may grow meanwhile */
	void *self;
	devsys_runner_options opts;
	char *strs[8]; /* owned copies of the option strings */
	int in_exec;
	const void *owner_tag; /* devsys__runner_set_owner() */
	void (*owner_release)(void *payload);
	void *owner_payload;
};

static int register_locked(const devsys_runner_vtable *vtable, void *payload)
{
	devsys_runner_vtable vt;
	struct regentry *n;
	int rc;

	memset(&vt, 0, sizeof(vt));
	if ((rc = devsys__versioned_copy(&vt, vtable, vtable_sizes, DEVSYS_RUNNER_VTABLE_VERSION,
	                                 "devsys_runner_vtable")) < 0)
		return rc;
	if (!vt.name || !*vt.name || !vt.open || !vt.exec || !vt.cancel || !vt.close)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_runner_register: name, open, exec, cancel and close "
		                                        "are required slots");
	for (size_t i = 0; i < nreg; i++)
		if (strcmp(reg[i].name, vt.name) == 0)
			return devsys__error_set(DEVSYS_EEXISTS, "runner type '%s' is already registered", vt.name);
	if (!(n = devsys__realloc(reg, (nreg + 1) * sizeof(*n))))
		return devsys__error_oom();
	reg = n;
	if (!(n[nreg].name = devsys__strdup(vt.name)))
		return devsys__error_oom();
	n[nreg].vt = vt;
	n[nreg].vt.name = n[nreg].name;
	n[nreg].payload = payload;
	nreg++;
	return 0;
}

int devsys_runner_register(const devsys_runner_vtable *vtable, void *payload)
{
	int rc;
	DEVSYS__CHECK_ARG(vtable);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	pthread_mutex_lock(&reg_lock);
	rc = register_locked(vtable, payload);
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

int devsys__runner_global_init(void)
{
	int rc;
	if ((rc = devsys__ssh_global_init()) < 0)
		return rc;
	pthread_mutex_lock(&reg_lock);
	rc = register_locked(&devsys__inproc_vtable, NULL);
	if (rc == 0)
		rc = register_locked(&devsys__ssh_vtable, NULL);
	/* host-docker lives in the docker module, which a build may leave out */
	if (rc == 0 && &devsys__host_docker_vtable != NULL)
		rc = register_locked(&devsys__host_docker_vtable, NULL);
	/* dind (its own module, on top of docker) */
	if (rc == 0 && &devsys__dind_vtable != NULL)
		rc = register_locked(&devsys__dind_vtable, NULL);
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

void devsys__runner_global_shutdown(void)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nreg; i++)
		devsys__free(reg[i].name);
	devsys__free(reg);
	reg = NULL;
	nreg = 0;
	pthread_mutex_unlock(&reg_lock);
	devsys__ssh_global_shutdown();
}

const char *devsys_runner_failure_name(int failure)
{
	static const char *const names[] = { "ok",       "build-failure", "system-failure", "timeout",
		                             "canceled", "not-run",       "stalled",        "output-limit" };
	if (failure < 0 || failure > DEVSYS_RUNNER_OUTPUT_LIMIT)
		return "unknown";
	return names[failure];
}

int devsys_runner_options_init(devsys_runner_options *opts, unsigned int version)
{
	static const devsys_runner_options defaults = DEVSYS_RUNNER_OPTIONS_INIT;
	DEVSYS__CHECK_ARG(opts);
	if (version == 0 || version > DEVSYS_RUNNER_OPTIONS_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_runner_options_init: version %u is not supported "
		                                          "(supported: 1..%u)",
		                         version, DEVSYS_RUNNER_OPTIONS_VERSION);
	memcpy(opts, &defaults, options_sizes[version]);
	opts->version = version;
	return 0;
}

void devsys_runner_result_dispose(devsys_runner_result *res)
{
	unsigned int v;
	if (!res)
		return;
	v = res->version;
	devsys__free(res->tail);
	if (v >= 1)
		devsys__free(res->log_path);
	if (v >= 1 && v <= DEVSYS_RUNNER_RESULT_VERSION)
		memset(res, 0, result_sizes[v]);
	res->version = v;
}

int devsys_runner_open(devsys_runner **out, const char *type, const devsys_runner_options *opts)
{
	devsys_runner *r;
	int rc;
	bool found = false;

	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(type);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if (!(r = devsys__calloc(1, sizeof(*r))))
		return devsys__error_oom();
	{
		devsys_runner_options d = DEVSYS_RUNNER_OPTIONS_INIT;
		r->opts = d;
	}
	if (opts && (rc = devsys__versioned_copy(&r->opts, opts, options_sizes, DEVSYS_RUNNER_OPTIONS_VERSION,
	                                         "devsys_runner_options")) < 0) {
		devsys__free(r);
		return rc;
	}
	r->opts.version = DEVSYS_RUNNER_OPTIONS_VERSION;
	/* the runner keeps both pointers: hold them (docs/abi.md, "Lifetimes") */
	if (r->opts.ws)
		devsys__workspace_ref(r->opts.ws);
	if (r->opts.masker)
		devsys__masker_ref(r->opts.masker);
	{
		const char **fields[] = { &r->opts.host, &r->opts.user, &r->opts.key_file, &r->opts.key_passphrase,
		                          &r->opts.known_hosts, &r->opts.remote_dir };
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (*fields[i]) {
				if (!(r->strs[i] = devsys__strdup(*fields[i]))) {
					devsys_runner_free(r);
					return devsys__error_oom();
				}
				*fields[i] = r->strs[i];
			}
		}
	}
	if (r->opts.grace_ms == 0)
		r->opts.grace_ms = 10000;
	if (r->opts.tail_max == 0)
		r->opts.tail_max = 1u << 20;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nreg; i++) {
		if (strcmp(reg[i].name, type) == 0) {
			r->entry = reg[i];
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	if (!found) {
		devsys_runner_free(r);
		return devsys__error_set(DEVSYS_ENOTFOUND, "runner type '%.64s' is not registered (built in: inproc, "
		                                           "remote-ssh, host-docker)",
		                         type);
	}
	/* the name may be freed by shutdown; keep our own */
	if (!(r->entry.name = devsys__strdup(r->entry.name))) {
		devsys_runner_free(r);
		return devsys__error_oom();
	}
	r->entry.vt.name = r->entry.name;
	if ((rc = r->entry.vt.open(&r->self, &r->opts, r->entry.payload)) < 0) {
		r->self = NULL;
		devsys_runner_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void devsys_runner_free(devsys_runner *r)
{
	if (!r)
		return;
	if (r->self)
		r->entry.vt.close(r->self);
	if (r->owner_release)
		r->owner_release(r->owner_payload); /* after close: the session is gone when the slot frees */
	for (size_t i = 0; i < sizeof(r->strs) / sizeof(r->strs[0]); i++) {
		if (r->strs[i] && i == 3)
			explicit_bzero(r->strs[i], strlen(r->strs[i])); /* key passphrase */
		devsys__free(r->strs[i]);
	}
	devsys__free(r->entry.name);
	devsys_masker_free(r->opts.masker);
	devsys_workspace_free(r->opts.ws);
	devsys__free(r);
}

void devsys__runner_set_owner(devsys_runner *r, const void *tag, void (*release)(void *payload), void *payload)
{
	r->owner_tag = tag;
	r->owner_release = release;
	r->owner_payload = payload;
}

void *devsys__runner_owner(const devsys_runner *r, const void *tag)
{
	return r && tag && r->owner_tag == tag ? r->owner_payload : NULL;
}

const char *devsys_runner_type(const devsys_runner *r)
{
	return r ? r->entry.name : NULL;
}

int devsys_runner_cancel(devsys_runner *r)
{
	if (!r)
		return DEVSYS_EINVAL; /* no error record: may run on a foreign thread */
	return r->entry.vt.cancel(r->self);
}

static int not_run(devsys_runner_result *res, int rc)
{
	res->failure = DEVSYS_RUNNER_NOT_RUN;
	res->exit_code = -1;
	return rc;
}

static int check_cmd(devsys_runner *r, const devsys_runner_cmd *c)
{
	size_t n = 0;
	if (!c->argv || !c->argv[0] || !c->argv[0][0])
		return devsys__error_set(DEVSYS_EINVAL, "runner: the command has no argv[0]");
	for (; c->argv[n]; n++) {
		if (c->argv_len) {
			const char *nul = memchr(c->argv[n], '\0', c->argv_len[n]);
			if (nul || strlen(c->argv[n]) != c->argv_len[n])
				return devsys__error_set(DEVSYS_EINVALID, "runner: argv[%zu] contains a NUL byte at offset %zu; "
				                                          "arguments cannot contain NUL",
				                         n, nul ? (size_t)(nul - c->argv[n]) : strlen(c->argv[n]));
		}
	}
	for (size_t i = 0; c->env && c->env[i]; i++) {
		if (!devsys__env_entry_ok(c->env[i])) {
			const char *eq = strchr(c->env[i], '=');
			return devsys__error_set(DEVSYS_EINVALID,
			                         "runner: env[%zu] is not NAME=value with NAME from [A-Za-z_][A-Za-z0-9_]* "
			                         "(name '%.*s')",
			                         i, eq ? (int)(eq - c->env[i] > 64 ? 64 : eq - c->env[i]) : 64, c->env[i]);
		}
	}
	if ((c->flags & DEVSYS_RUNNER_CMD_SHELL) && !(r->opts.flags & DEVSYS_RUNNER_ALLOW_SHELL))
		return devsys__error_set(DEVSYS_EACCESS, "runner: the command asks for a shell, but this runner profile "
		                                         "does not allow shells (allow_shell in the operator's devsys.yaml)");
	if (c->stdin_data && c->stdin_file)
		return devsys__error_set(DEVSYS_EINVAL, "runner: give stdin_data or stdin_file, not both");
	/* only the container runners choose images; any other would ignore it silently */
	if (c->image && strcmp(r->entry.name, "host-docker") != 0 && strcmp(r->entry.name, "dind") != 0)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "runner: the command asks for image '%.128s', but runner "
		                                               "type '%s' runs no containers",
		                         c->image, r->entry.name);
	if (c->stdin_file && access(c->stdin_file, R_OK) != 0)
		return devsys__error_errno(errno == ENOENT ? DEVSYS_ENOTFOUND : DEVSYS_EACCESS, errno,
		                           "runner: stdin file '%s' cannot be read", c->stdin_file);
	return 0;
}

/*
 * A budget that stopped the command names the result, whatever the backend
 * saw while stopping it (a cancel): stalled or output-limit, with the exit
 * code and signal the backend reported. A timeout or system failure that
 * came first keeps its own class.
 */
static int budget_result(devsys_runner *r, const devsys_runner_cmd *c, devsys_runner_io *io,
                         devsys_runner_result *res, int rc)
{
	int why = devsys__runner_io_stopped_by(io);
	if (why == DEVSYS_RUNNER_OK || res->failure == DEVSYS_RUNNER_TIMEOUT ||
	    res->failure == DEVSYS_RUNNER_SYSTEM_FAILURE)
		return rc;
	if (why == DEVSYS_RUNNER_CANCELED) { /* the output callback */
		if (rc == 0) {
			rc = devsys__error_set(DEVSYS_EUSER, "runner: the output callback stopped the command");
			res->failure = DEVSYS_RUNNER_CANCELED;
		}
		return rc;
	}
	res->failure = why;
	if (why == DEVSYS_RUNNER_STALLED) {
		devsys__runner_io_note(io, "idle timeout: no output for %u ms; the command was stopped (SIGTERM, SIGKILL "
		                           "after %u ms)",
		                       c->idle_timeout_ms, r->opts.grace_ms);
		return devsys__error_set(DEVSYS_ETIMEOUT, "%s: '%.200s' printed nothing for %u ms (its idle timeout) and "
		                                          "was stopped; it may be waiting for input (stdin is /dev/null)",
		                         r->entry.name, c->argv[0], c->idle_timeout_ms);
	}
	devsys__runner_io_note(io, "output limit: %llu bytes kept; the rest was dropped and the command stopped",
	                       (unsigned long long)c->max_output_bytes);
	return devsys__error_set(DEVSYS_ELIMIT, "%s: '%.200s' printed more than %llu bytes (its output limit) and was "
	                                        "stopped; the output up to the limit is kept",
	                         r->entry.name, c->argv[0], (unsigned long long)c->max_output_bytes);
}

int devsys_runner_exec(devsys_runner *r, const devsys_runner_cmd *cmd, devsys_runner_result *res)
{
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_io *io = NULL;
	devsys_runner_status st;
	unsigned int rv;
	uint64_t t0 = devsys__now_ns();
	int rc, attempts = 0;

	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(cmd);
	DEVSYS__CHECK_ARG(res);
	rv = res->version;
	if (rv == 0 || rv > DEVSYS_RUNNER_RESULT_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_runner_exec: result version %u is not supported (1..%u)",
		                         rv, DEVSYS_RUNNER_RESULT_VERSION);
	memset(res, 0, result_sizes[rv]);
	res->version = rv;
	if ((rc = devsys__versioned_copy(&c, cmd, cmd_sizes, DEVSYS_RUNNER_CMD_VERSION, "devsys_runner_cmd")) < 0)
		return not_run(res, rc);
	c.version = DEVSYS_RUNNER_CMD_VERSION;
	if ((rc = check_cmd(r, &c)) < 0)
		return not_run(res, rc);
	if (__atomic_exchange_n(&r->in_exec, 1, __ATOMIC_ACQ_REL))
		return not_run(res, devsys__error_set(DEVSYS_EBUSY, "runner: another exec is running on this runner; "
		                                                    "use one runner per thread"));
	if ((rc = devsys__runner_io_new(&io, &c, r->opts.masker, r->opts.tail_max)) < 0) {
		__atomic_store_n(&r->in_exec, 0, __ATOMIC_RELEASE);
		return not_run(res, rc);
	}
	for (;;) {
		memset(&st, 0, sizeof(st));
		st.exit_code = -1;
		attempts++;
		devsys__runner_io_begin(io);
		rc = r->entry.vt.exec(r->self, &c, io, &st);
		devsys__runner_io_finish(io);
		if (rc < 0 && st.failure == DEVSYS_RUNNER_SYSTEM_FAILURE && (c.flags & DEVSYS_RUNNER_CMD_IDEMPOTENT) &&
		    (unsigned int)attempts <= r->opts.retries) {
			devsys__runner_io_note(io, "attempt %d failed with a system failure (%s); retrying (%u retries "
			                           "allowed)",
			                       attempts, devsys_error_message(devsys_error_last()), r->opts.retries);
			devsys__log(r->opts.ws, DEVSYS_LOG_WARN, "runner", "%s: attempt %d of '%s' failed with a system "
			                                                   "failure; retrying",
			            r->entry.name, attempts, c.argv[0]);
			continue;
		}
		break;
	}
	res->failure = st.failure;
	res->exit_code = st.exit_code;
	res->signal = st.signal;
	res->attempts = attempts;
	res->duration_ms = (devsys__now_ns() - t0) / 1000000u;
	if (st.failure == DEVSYS_RUNNER_NOT_RUN)
		res->exit_code = -1;
	else
		rc = budget_result(r, &c, io, res, rc);
	{
		devsys_buf keep = DEVSYS_BUF_INIT;
		/* the last error must survive the result bookkeeping */
		int rc2;
		if (rc < 0)
			devsys_buf_puts(&keep, devsys_error_message(devsys_error_last()));
		/* nothing ran: no tail, nothing to dispose */
		rc2 = res->failure == DEVSYS_RUNNER_NOT_RUN ? 0 : devsys__runner_io_result(io, res);
		if (rc < 0)
			devsys__error_set(rc, "%s", keep.ptr ? keep.ptr : "runner failure");
		else if (rc2 < 0)
			rc = rc2;
		devsys_buf_dispose(&keep);
	}
	devsys__runner_io_free(io);
	__atomic_store_n(&r->in_exec, 0, __ATOMIC_RELEASE);
	return rc;
}

int devsys_runner_prepare(devsys_runner *r, devsys_task *task)
{
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(task);
	return r->entry.vt.prepare ? r->entry.vt.prepare(r->self, task) : 0;
}

int devsys_runner_cleanup(devsys_runner *r, devsys_task *task)
{
	int rc;
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(task);
	if (!r->entry.vt.cleanup)
		return 0;
	rc = r->entry.vt.cleanup(r->self, task);
	if (rc < 0)
		devsys__log(r->opts.ws, DEVSYS_LOG_WARN, "runner", "%s: cleanup of task '%s' failed: %s", r->entry.name,
		            devsys_task_id(task), devsys_error_message(devsys_error_last()));
	return rc;
}

const char *devsys_runner_workdir(devsys_runner *r, devsys_task *task)
{
	if (!r || !r->entry.vt.workdir)
		return NULL;
	return r->entry.vt.workdir(r->self, task);
}

int devsys_runner_upload(devsys_runner *r, const char *local, const char *remote)
{
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(local);
	DEVSYS__CHECK_ARG(remote);
	if (!r->entry.vt.upload)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "runner '%s' does not support upload", r->entry.name);
	return r->entry.vt.upload(r->self, local, remote);
}

int devsys_runner_download(devsys_runner *r, const char *remote, const char *local)
{
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(local);
	DEVSYS__CHECK_ARG(remote);
	if (!r->entry.vt.download)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED, "runner '%s' does not support download", r->entry.name);
	return r->entry.vt.download(r->self, remote, local);
}

int devsys_runner_describe(devsys_runner *r, devsys_runner_description *out)
{
	unsigned int v;
	DEVSYS__CHECK_ARG(r);
	DEVSYS__CHECK_ARG(out);
	v = out->version;
	if (v == 0 || v > DEVSYS_RUNNER_DESCRIPTION_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "devsys_runner_describe: description version %u is not "
		                                          "supported (1..%u)",
		                         v, DEVSYS_RUNNER_DESCRIPTION_VERSION);
	memset(out, 0, sizeof(*out));
	out->version = v;
	snprintf(out->type, sizeof(out->type), "%s", r->entry.name);
	/* the registry zeroed the slots a v1 plug-in does not have */
	if (!r->entry.vt.describe)
		return 0;
	return r->entry.vt.describe(r->self, out);
}
