/*
 * Agent adapters: the registry of kinds, and the session the pipeline's
 * agent stage drives (argv and env from the adapter, stdout split into
 * lines for it, its events handed to the pipeline for logs/agent.jsonl, its
 * usage). It writes no file of the task's record (DESIGN §3).
 */
#include "core/core.h"
#include "agent_int.h"

#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_KINDS 16

struct kind {
	char name[64];
	devsys_agent_vtable vt; /* the registered prefix, the rest zero */
	void *payload;
};

/* Plug-in kinds; the built-ins are looked up first and need no entry. */
static struct kind kinds[MAX_KINDS];
static size_t nkinds;
static pthread_mutex_t kinds_lock = PTHREAD_MUTEX_INITIALIZER;

/* One stream's partial line. */
struct linebuf {
	char *line;
	size_t len, cap;
	int overlong; /* the line being read is over the cap: dropped */
};

struct devsys__agent {
	devsys_agent_vtable vt;
	void *self;
	char name[64];
	struct linebuf out, err; /* stdout (events), stderr (err_line) */
	uint64_t dropped;       /* lines over the cap */
	uint64_t events;        /* lines the adapter took as events */
	int err_code;           /* a negative code from the adapter's line */
	int stopped;            /* DEVSYS_AGENT_STOP or DEVSYS_AGENT_STALL */
	devsys__agent_event_cb on_event;
	void *on_event_payload;
	const char *const *argv;
	const char *const *env;
};

static size_t vtable_size(unsigned int version)
{
	if (version < 2)
		return offsetof(devsys_agent_vtable, preflight);
	return sizeof(devsys_agent_vtable);
}

int devsys_agent_register(const devsys_agent_vtable *vtable, void *payload)
{
	int rc = 0;
	DEVSYS__CHECK_ARG(vtable);
	if ((rc = devsys__require_init(__func__)) < 0)
		return rc;
	if (vtable->version < 1 || vtable->version > DEVSYS_AGENT_VTABLE_VERSION)
		return devsys__error_set(DEVSYS_EVERSION, "agent vtable version %u is not one this library knows (1 to %d)",
		                         vtable->version, DEVSYS_AGENT_VTABLE_VERSION);
	if (!vtable->name || !vtable->name[0] || strlen(vtable->name) >= sizeof(kinds[0].name) || !vtable->open ||
	    !vtable->command || !vtable->close)
		return devsys__error_set(DEVSYS_EINVAL, "agent vtable: name (1 to 63 characters), open, command and close "
		                                        "are required");
	if (!strcmp(vtable->name, "command") || !strcmp(vtable->name, "opencode"))
		return devsys__error_set(DEVSYS_EEXISTS, "agent kind '%s' is built in", vtable->name);
	pthread_mutex_lock(&kinds_lock);
	for (size_t i = 0; i < nkinds && rc == 0; i++)
		if (!strcmp(kinds[i].name, vtable->name))
			rc = devsys__error_set(DEVSYS_EEXISTS, "agent kind '%s' is already registered", vtable->name);
	if (rc == 0 && nkinds == MAX_KINDS)
		rc = devsys__error_set(DEVSYS_EINVAL, "agent kind '%s': %d kinds are registered already", vtable->name,
		                       MAX_KINDS);
	if (rc == 0) {
		struct kind *k = &kinds[nkinds++];
		memset(k, 0, sizeof(*k));
		memcpy(&k->vt, vtable, vtable_size(vtable->version));
		snprintf(k->name, sizeof(k->name), "%s", vtable->name);
		k->vt.name = k->name;
		k->payload = payload;
	}
	pthread_mutex_unlock(&kinds_lock);
	return rc;
}

void devsys__agent_global_shutdown(void)
{
	pthread_mutex_lock(&kinds_lock);
	memset(kinds, 0, sizeof(kinds));
	nkinds = 0;
	pthread_mutex_unlock(&kinds_lock);
}

int devsys__agent_global_init(void)
{
	devsys__agent_global_shutdown(); /* built-ins need no entry */
	return 0;
}

/* The error for a kind nobody registered: it names the kinds there are. */
static int unknown_kind(const char *kind)
{
	char names[MAX_KINDS * 66] = "none";
	size_t off = 0;
	pthread_mutex_lock(&kinds_lock);
	for (size_t i = 0; i < nkinds; i++)
		off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "", kinds[i].name);
	pthread_mutex_unlock(&kinds_lock);
	return devsys__error_set(DEVSYS_EINVALID,
	                         "agent.kind '%.64s' is not a known agent kind (built in: command, opencode; registered "
	                         "by plug-ins: %s); register it with devsys_agent_register() before the agent stage runs",
	                         kind, names);
}

static int find_kind(devsys_agent_vtable *vt, void **payload, const char *kind)
{
	int found = 0;
	*payload = NULL;
	if (!strcmp(kind, "command")) {
		*vt = devsys__agent_command_vtable;
		return 0;
	}
	if (!strcmp(kind, "opencode")) {
		*vt = devsys__agent_opencode_vtable;
		return 0;
	}
	pthread_mutex_lock(&kinds_lock);
	for (size_t i = 0; i < nkinds && !found; i++)
		if (!strcmp(kinds[i].name, kind)) {
			*vt = kinds[i].vt;
			*payload = kinds[i].payload;
			found = 1;
		}
	pthread_mutex_unlock(&kinds_lock);
	return found ? 0 : unknown_kind(kind);
}

int devsys__agent_check_kind(const char *kind)
{
	devsys_agent_vtable vt;
	void *payload;
	return kind ? find_kind(&vt, &payload, kind) : 0;
}

/* An adapter's slot failed: its own message stays (it names what broke);
 * one that set none, or another code's, gets one naming the kind and slot,
 * so the stage's reason never shows a stale error. */
static int said(const devsys__agent *a, int rc, const char *slot)
{
	if (rc >= 0 || devsys_error_code(devsys_error_last()) == rc)
		return rc;
	return devsys__error_set(rc, "agent kind '%s': its %s failed (%s) without saying why", a->name, slot,
	                         devsys_error_name(rc));
}

int devsys__agent_open(devsys__agent **out, const char *kind, const devsys_agent_request *req)
{
	devsys__agent *a;
	void *payload;
	int rc;
	*out = NULL;
	if (!kind)
		kind = "command";
	if (!(a = devsys__calloc(1, sizeof(*a))))
		return devsys__error_oom();
	snprintf(a->name, sizeof(a->name), "%s", kind);
	if ((rc = find_kind(&a->vt, &payload, kind)) < 0 || (rc = said(a, a->vt.open(&a->self, req, payload), "open")) < 0) {
		devsys__free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int devsys__agent_command(devsys__agent *a, const char *const **argv, const char *const *env, const char ***env_out)
{
	const char *const *extra = NULL;
	size_t n = 0, m = 0, k = 0;
	const char **v;
	int rc;
	*env_out = NULL;
	if ((rc = said(a, a->vt.command(a->self, argv, &extra), "command")) < 0)
		return rc;
	if (!*argv || !(*argv)[0])
		return devsys__error_set(DEVSYS_EINVALID, "agent kind '%s' made an empty command", a->name);
	while (env && env[n])
		n++;
	while (extra && extra[m])
		m++;
	if (!(v = devsys__malloc((n + m + 1) * sizeof(*v))))
		return devsys__error_oom();
	for (size_t i = 0; i < n; i++) {
		size_t nl = strcspn(env[i], "=");
		int replaced = 0;
		for (size_t j = 0; j < m && !replaced; j++)
			replaced = strncmp(extra[j], env[i], nl) == 0 && extra[j][nl] == '=';
		if (!replaced)
			v[k++] = env[i];
	}
	for (size_t j = 0; j < m; j++)
		v[k++] = extra[j];
	v[k] = NULL;
	*env_out = v;
	return 0;
}

static int keep_event(devsys__agent *a, const char *line, size_t len)
{
	int rc = a->vt.line(a->self, line, len);
	if (rc < 0) {
		a->err_code = rc;
		return 1;
	}
	if (rc == DEVSYS_AGENT_EVENT || rc == DEVSYS_AGENT_STOP || rc == DEVSYS_AGENT_STALL) {
		a->events++;
		/* the caller keeps it (logs/agent.jsonl, through the record) */
		int crc = a->on_event ? a->on_event(a, line, len, a->on_event_payload) : 0;
		if (crc != 0) {
			a->err_code = crc < 0 ? crc : DEVSYS_EUSER;
			return 1;
		}
	}
	if (rc == DEVSYS_AGENT_STOP || (rc == DEVSYS_AGENT_STALL && a->vt.version >= 2))
		a->stopped = rc;
	return a->stopped != 0;
}

/* A stderr line: only an adapter with err_line reads them (a permission prompt, for one). */
static int keep_err(devsys__agent *a, const char *line, size_t len)
{
	int rc = a->vt.err_line(a->self, line, len);
	if (rc < 0) {
		a->err_code = rc;
		return 1;
	}
	if (rc == DEVSYS_AGENT_STALL || rc == DEVSYS_AGENT_STOP)
		a->stopped = rc;
	return a->stopped != 0;
}

static int take(devsys__agent *a, struct linebuf *b, const char *data, size_t len)
{
	if (b->overlong || len == 0) /* an empty piece (a newline first) adds nothing, to no buffer yet */
		return 0;
	if (b->len + len > DEVSYS__AGENT_LINE_MAX) {
		b->overlong = 1; /* a line over the cap is dropped whole, and counted */
		b->len = 0;
		return 0;
	}
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + len)
			cap *= 2;
		if (!(p = devsys__realloc(b->line, cap))) {
			a->err_code = devsys__error_oom();
			return 1;
		}
		b->line = p;
		b->cap = cap;
	}
	memcpy(b->line + b->len, data, len);
	b->len += len;
	return 0;
}

static int end_line(devsys__agent *a, struct linebuf *b)
{
	int stop = 0;
	if (b->overlong)
		a->dropped += b == &a->out;
	else if (b->len)
		stop = b == &a->out ? keep_event(a, b->line, b->len) : keep_err(a, b->line, b->len);
	b->overlong = 0;
	b->len = 0;
	return stop;
}

static bool reads(const devsys__agent *a, int stream)
{
	return stream == DEVSYS_RUNNER_STDOUT ? a->vt.line != NULL : a->vt.version >= 2 && a->vt.err_line != NULL;
}

int devsys__agent_output(int stream, const char *data, size_t len, void *payload)
{
	devsys__agent *a = payload;
	struct linebuf *b = stream == DEVSYS_RUNNER_STDOUT ? &a->out : &a->err;
	if (!reads(a, stream))
		return 0;
	if (a->stopped || a->err_code)
		return 1;
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		if (take(a, b, data, n))
			return 1;
		if (nl && end_line(a, b))
			return 1;
		if (!nl)
			break;
		data += n + 1;
		len -= n + 1;
	}
	return 0;
}

void devsys__agent_finish(devsys__agent *a)
{
	struct linebuf *bs[2] = { &a->out, &a->err };
	for (size_t i = 0; a && i < 2; i++)
		if (reads(a, i == 0 ? DEVSYS_RUNNER_STDOUT : DEVSYS_RUNNER_STDERR) && !a->stopped && !a->err_code &&
		    (bs[i]->len || bs[i]->overlong))
			end_line(a, bs[i]);
}

const char *devsys__agent_stop_reason(const devsys__agent *a)
{
	if (!a || !a->stopped)
		return NULL;
	return a->vt.stop_reason ? a->vt.stop_reason(a->self) : "the agent's adapter stopped it";
}

bool devsys__agent_has_events(const devsys__agent *a)
{
	return a && a->vt.line != NULL;
}

bool devsys__agent_stalled(const devsys__agent *a)
{
	return a && a->stopped == DEVSYS_AGENT_STALL;
}

int devsys__agent_error(const devsys__agent *a)
{
	return a ? a->err_code : 0;
}

void devsys__agent_on_event(devsys__agent *a, devsys__agent_event_cb cb, void *payload)
{
	a->on_event = cb;
	a->on_event_payload = payload;
}

const char *devsys__agent_status(devsys__agent *a, uint64_t *step, uint64_t *max)
{
	*step = *max = 0;
	return a->vt.version >= 2 && a->vt.status ? a->vt.status(a->self, step, max) : NULL;
}

int devsys__agent_preflight(devsys__agent *a, const char *const **argv)
{
	*argv = NULL;
	if (a->vt.version < 2 || !a->vt.preflight)
		return 0;
	return a->vt.preflight(a->self, argv);
}

int devsys__agent_preflight_check(devsys__agent *a, int exit_code, const char *out, size_t len)
{
	if (a->vt.version < 2 || !a->vt.preflight_check)
		return exit_code == 0 ? 0
		                      : devsys__error_set(DEVSYS_EINVALID, "agent kind '%s': its preflight command failed "
		                                                           "(exit %d)",
		                                          a->name, exit_code);
	return a->vt.preflight_check(a->self, exit_code, out ? out : "", len);
}

int devsys__agent_usage(char **out, devsys__agent *a)
{
	char *u = NULL;
	int rc;
	*out = NULL;
	if (!a->vt.usage)
		return 0;
	if ((rc = a->vt.usage(a->self, &u)) < 0 || !u)
		return rc;
	/* the library's counts, appended inside the adapter's object */
	size_t n = strlen(u);
	while (n && u[n - 1] != '}')
		n--;
	if (n < 2 || u[0] != '{') {
		devsys__free(u);
		return devsys__error_set(DEVSYS_EINVALID, "agent kind '%s' reported usage that is not a JSON object",
		                         a->name);
	}
	*out = devsys__asprintf("%.*s%s\"events\":%llu,\"dropped_lines\":%llu}", (int)(n - 1), u,
	                        n > 2 ? "," : "", (unsigned long long)a->events, (unsigned long long)a->dropped);
	devsys__free(u);
	return *out ? 0 : devsys__error_oom();
}

void devsys__agent_close(devsys__agent *a)
{
	if (!a)
		return;
	if (a->self)
		a->vt.close(a->self);
	devsys__free(a->out.line);
	devsys__free(a->err.line);
	devsys__free(a);
}

/* ---- the "command" kind: the spec's agent.command as given ---- */

struct cmd_self {
	char **argv;
	size_t n;
};

static void cmd_close(void *self)
{
	struct cmd_self *s = self;
	for (size_t i = 0; s && i < s->n; i++)
		devsys__free(s->argv[i]);
	if (s)
		devsys__free(s->argv);
	devsys__free(s);
}

static int cmd_open(void **self, const devsys_agent_request *req, void *payload)
{
	const devsys_node *cmd = devsys_node_get(devsys_spec_at(req->spec, 0), "/agent/command");
	struct cmd_self *s;
	size_t n;
	(void)payload;
	if (!cmd || (n = devsys_node_size(cmd)) == 0)
		return devsys__error_set(DEVSYS_EINVALID, "%s: /agent/command: the spec names no agent command",
		                         devsys_spec_name(req->spec));
	if (!(s = devsys__calloc(1, sizeof(*s))) || !(s->argv = devsys__calloc(n + 1, sizeof(char *)))) {
		devsys__free(s);
		return devsys__error_oom();
	}
	for (size_t i = 0; i < n; i++) {
		const char *v = devsys_node_string(devsys_node_at(cmd, i), NULL);
		if (!v || !(s->argv[s->n++] = devsys__strdup(v))) {
			cmd_close(s);
			return v ? devsys__error_oom()
			         : devsys__error_set(DEVSYS_EINVALID, "%s: /agent/command/%zu is not a string",
			                             devsys_spec_name(req->spec), i);
		}
	}
	*self = s;
	return 0;
}

static int cmd_command(void *self, const char *const **argv, const char *const **env)
{
	*argv = (const char *const *)((struct cmd_self *)self)->argv;
	*env = NULL;
	return 0;
}

const devsys_agent_vtable devsys__agent_command_vtable = {
	DEVSYS_AGENT_VTABLE_VERSION, "command", cmd_open, cmd_command, NULL, NULL, NULL, cmd_close, NULL, NULL, NULL, NULL,
};
