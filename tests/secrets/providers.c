/*
 * Secret providers through the public API: env, file, docker-secret,
 * command (timeout, TTL re-resolution per task), plug-in providers, audit
 * events (the callbacks, and the module's own events.audit.jsonl when no
 * event callback is set) that never hold values.
 */
#include <devsys.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *tmp;
static char events[4096];
static int nevents;

static void audit_cb(const devsys_secret_event *ev, void *payload)
{
	(void)payload;
	size_t l = strlen(events);
	snprintf(events + l, sizeof(events) - l, "%s/%s/%s/%s/%d/%d;", ev->name, ev->provider,
	         ev->task_id ? ev->task_id : "-", ev->stage ? ev->stage : "-", ev->cached, ev->error);
	nevents++;
}

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
	tmp = dt_tmpdir("secrets");
	events[0] = '\0';
	nevents = 0;
}
static void teardown(void)
{
	dt_rmrf(tmp);
	free(tmp);
	devsys_shutdown();
}
TestSuite(secrets_providers, .init = setup, .fini = teardown);

static devsys_secrets *new_set(void)
{
	devsys_secrets *s;
	devsys_secrets_options o = DEVSYS_SECRETS_OPTIONS_INIT;
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/run-secrets", tmp);
	o.docker_secrets_dir = strdup(dir);
	o.audit_cb = audit_cb;
	o.command_timeout_ms = 500;
	cr_assert_eq(devsys_secrets_new(&s, &o), 0);
	free((char *)o.docker_secrets_dir);
	return s;
}

static void define(devsys_secrets *s, const char *name, const char *provider, const char *ref,
                   const char *const *argv, unsigned ttl)
{
	devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
	d.name = name;
	d.provider = provider;
	d.ref = ref;
	d.argv = argv;
	d.ttl_s = ttl;
	cr_assert_eq(devsys_secrets_define(s, &d), 0, "%s", devsys_error_message(devsys_error_last()));
}

Test(secrets_providers, env_file_docker_secret)
{
	devsys_secrets *s = new_set();
	const char *v;
	size_t len;
	char path[512];

	setenv("DEVSYS_TEST_TOKEN", "env-value-123", 1);
	snprintf(path, sizeof(path), "%s/file-secret", tmp);
	cr_assert(dt_write_file(path, "file-value-456\n"));
	cr_assert_eq(dt_sh("mkdir -p '%s/run-secrets' && printf 'docker-value-789' > '%s/run-secrets/db_pw'", tmp, tmp), 0);

	define(s, "tok", "env", "DEVSYS_TEST_TOKEN", NULL, 0);
	define(s, "f", "file", path, NULL, 0);
	define(s, "db_pw", "docker-secret", NULL, NULL, 0);
	cr_assert_eq(devsys_secrets_resolve(s, "tok", NULL, "test", &v, &len), 0);
	cr_assert_str_eq(v, "env-value-123");
	cr_assert_eq(len, 13);
	cr_assert_eq(devsys_secrets_resolve(s, "f", NULL, NULL, &v, &len), 0);
	cr_assert_str_eq(v, "file-value-456", "one trailing newline is dropped");
	cr_assert_eq(devsys_secrets_resolve(s, "db_pw", NULL, NULL, &v, NULL), 0);
	cr_assert_str_eq(v, "docker-value-789");
	/* cached (ttl 0): second resolution is reported as cached */
	cr_assert_eq(devsys_secrets_resolve(s, "tok", NULL, "deploy", &v, NULL), 0);
	cr_assert(strstr(events, "tok/env/-/test/0/0;"), "%s", events);
	cr_assert(strstr(events, "tok/env/-/deploy/1/0;"), "%s", events);
	cr_assert_eq(nevents, 4);
	devsys_secrets_free(s);
}

Test(secrets_providers, missing_values_are_clear_errors_without_values)
{
	devsys_secrets *s = new_set();
	const char *v;
	unsetenv("DEVSYS_TEST_NOPE");
	define(s, "nope", "env", "DEVSYS_TEST_NOPE", NULL, 0);
	define(s, "nofile", "file", "/nonexistent/devsys/secret", NULL, 0);
	define(s, "nodocker", "docker-secret", NULL, NULL, 0);
	cr_assert_eq(devsys_secrets_resolve(s, "nope", NULL, NULL, &v, NULL), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "DEVSYS_TEST_NOPE"));
	cr_assert_eq(devsys_secrets_resolve(s, "nofile", NULL, NULL, &v, NULL), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_secrets_resolve(s, "nodocker", NULL, NULL, &v, NULL), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "run-secrets/nodocker"));
	cr_assert_eq(devsys_secrets_resolve(s, "undeclared", NULL, NULL, &v, NULL), DEVSYS_ENOTFOUND);
	/* the failed resolutions are audited with their error */
	cr_assert(strstr(events, "nope/env/-/-/0/-4;"), "%s", events);
	devsys_secrets_free(s);
}

Test(secrets_providers, bad_definitions_refused)
{
	devsys_secrets *s = new_set();
	devsys_secret_def d = DEVSYS_SECRET_DEF_INIT;
	d.name = "bad name";
	d.provider = "env";
	cr_assert_eq(devsys_secrets_define(s, &d), DEVSYS_EINVALID);
	d.name = "ok";
	d.provider = "vault-magic";
	cr_assert_eq(devsys_secrets_define(s, &d), DEVSYS_ENOTFOUND);
	d.provider = "command";
	cr_assert_eq(devsys_secrets_define(s, &d), DEVSYS_EINVALID, "command needs argv");
	d.provider = "docker-secret";
	d.ref = "../etc/shadow";
	cr_assert_eq(devsys_secrets_define(s, &d), DEVSYS_EINVALID);
	d.ref = NULL;
	d.provider = "env";
	cr_assert_eq(devsys_secrets_define(s, &d), 0);
	cr_assert_eq(devsys_secrets_define(s, &d), DEVSYS_EEXISTS);
	devsys_secrets_free(s);
}

Test(secrets_providers, command_provider_ttl_per_task_and_audit_file)
{
	devsys_secrets *s = new_set();
	devsys_workspace *ws;
	devsys_task *t1, *t2;
	const char *v;
	char script[1024], counter[512], wsdir[512];

	snprintf(counter, sizeof(counter), "%s/counter", tmp);
	cr_assert(dt_write_file(counter, "0"));
	snprintf(script, sizeof(script), "n=$(cat '%s'); n=$((n+1)); echo $n > '%s'; echo short-lived-token-$n", counter,
	         counter);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	define(s, "gh_token", "command", NULL, argv, 3600);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", tmp);
	cr_assert_eq(devsys_workspace_open(&ws, wsdir, NULL), 0);
	cr_assert_eq(devsys_task_open(&t1, ws, "task-1", DEVSYS_TASK_CREATE), 0);
	cr_assert_eq(devsys_task_open(&t2, ws, "task-2", DEVSYS_TASK_CREATE), 0);

	cr_assert_eq(devsys_secrets_resolve(s, "gh_token", t1, "push", &v, NULL), 0);
	cr_assert_str_eq(v, "short-lived-token-1");
	cr_assert_eq(devsys_secrets_resolve(s, "gh_token", t1, "pr", &v, NULL), 0);
	cr_assert_str_eq(v, "short-lived-token-1", "same task within the TTL: cached");
	cr_assert_eq(devsys_secrets_resolve(s, "gh_token", t2, "push", &v, NULL), 0);
	cr_assert_str_eq(v, "short-lived-token-2", "a new task re-resolves a TTL secret");

	char path[1024];
	/* Without an event callback the module keeps its own audit file; it never writes the record's events.jsonl. */
	snprintf(path, sizeof(path), "%s/tasks/task-1/events.jsonl", wsdir);
	cr_assert_not(dt_exists(path), "the secrets module must not write the record's event log");
	snprintf(path, sizeof(path), "%s/tasks/task-1/events.audit.jsonl", wsdir);
	char *log = dt_read_file(path, NULL);
	cr_assert_not_null(log);
	cr_assert(strstr(log, "\"type\":\"secret.resolve\""), "%s", log);
	cr_assert(strstr(log, "\"name\":\"gh_token\",\"provider\":\"command\","
	                      "\"task\":\"task-1\",\"stage\":\"push\",\"cached\":false"),
	          "%s", log);
	cr_assert(strstr(log, "\"stage\":\"pr\",\"cached\":true"), "%s", log);
	cr_assert_null(strstr(log, "short-lived"), "the audit log must never hold the value");
	free(log);
	devsys_task_free(t1);
	devsys_task_free(t2);
	devsys_workspace_free(ws);
	devsys_secrets_free(s);
}

Test(secrets_providers, command_timeout_and_failure)
{
	devsys_secrets *s = new_set();
	const char *v;
	const char *slow[] = { "/bin/sh", "-c", "echo partial-secret; exec sleep 30", NULL };
	const char *fail[] = { "/bin/sh", "-c", "echo leaked-value; exit 3", NULL };
	const char *missing[] = { "/nonexistent/secret-cli", NULL };
	define(s, "slow", "command", NULL, slow, 0);
	define(s, "fail", "command", NULL, fail, 0);
	define(s, "missing", "command", NULL, missing, 0);
	uint64_t t0 = (uint64_t)time(NULL);
	cr_assert_eq(devsys_secrets_resolve(s, "slow", NULL, NULL, &v, NULL), DEVSYS_ETIMEOUT);
	cr_assert_lt((uint64_t)time(NULL) - t0, 5, "the timeout (500 ms) must kill the command");
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "partial-secret"));
	cr_assert_eq(devsys_secrets_resolve(s, "fail", NULL, NULL, &v, NULL), DEVSYS_ESYSTEM);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "exit status 3"));
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "leaked-value"));
	cr_assert_lt(devsys_secrets_resolve(s, "missing", NULL, NULL, &v, NULL), 0);
	devsys_secrets_free(s);
}

static int plugin_resolve(void *self, const char *name, const char *ref, devsys_buf *out)
{
	(void)name;
	if (strcmp(ref, "known") != 0)
		return DEVSYS_ENOTFOUND;
	return devsys_buf_printf(out, "%s-plugin-value", (const char *)self);
}

Test(secrets_providers, plugin_provider_and_masker)
{
	static const devsys_secret_provider vt = { DEVSYS_SECRET_PROVIDER_VERSION, "vault-test", plugin_resolve, NULL };
	devsys_secrets *s;
	devsys_masker *m;
	devsys_buf out = DEVSYS_BUF_INIT;
	const char *v;
	cr_assert_eq(devsys_secret_provider_register(&vt, (void *)"xyz"), 0);
	cr_assert_eq(devsys_secret_provider_register(&vt, NULL), DEVSYS_EEXISTS);
	s = new_set();
	define(s, "vault1", "vault-test", "known", NULL, 0);
	setenv("DEVSYS_TEST_PIN", "123", 1);
	define(s, "pin", "env", "DEVSYS_TEST_PIN", NULL, 0);
	cr_assert_eq(devsys_secrets_resolve_all(s, NULL, "test"), 0);
	cr_assert_eq(devsys_secrets_resolve(s, "vault1", NULL, NULL, &v, NULL), 0);
	cr_assert_str_eq(v, "xyz-plugin-value");
	/* the 3-character pin is refused as maskable (warned), the rest is masked */
	cr_assert_eq(devsys_secrets_masker(&m, s), 0);
	cr_assert_eq(devsys_masker_count(m), 1);
	cr_assert_eq(devsys_masker_mask(m, "v=xyz-plugin-value pin=123", 26, &out), 0);
	cr_assert_str_eq(out.ptr, "v=[MASKED:vault1] pin=123");
	devsys_buf_dispose(&out);
	devsys_masker_free(m);
	devsys_secrets_free(s);
}

/* devsys_secrets_options_init: the INIT defaults, only the struct's bytes written, and they work. */
Test(secrets_providers, options_init_gives_the_defaults_and_refuses_unknown_versions)
{
	union {
		devsys_secrets_options o;
		unsigned char raw[sizeof(devsys_secrets_options) + 32];
	} u;
	memset(&u, 0xA5, sizeof(u));
	cr_assert_eq(devsys_secrets_options_init(&u.o, DEVSYS_SECRETS_OPTIONS_VERSION), 0);
	cr_assert_eq(u.o.version, DEVSYS_SECRETS_OPTIONS_VERSION);
	cr_assert_null(u.o.docker_secrets_dir);
	cr_assert_eq(u.o.command_timeout_ms, 0u);
	cr_assert_null(u.o.audit_cb);
	cr_assert_null(u.o.audit_payload);
	cr_assert_null(u.o.ws);
	cr_assert_null(u.o.event_cb);
	cr_assert_null(u.o.event_payload);
	for (size_t i = sizeof(devsys_secrets_options); i < sizeof(u.raw); i++)
		cr_assert_eq(u.raw[i], 0xA5, "byte %zu after the struct was written", i);

	memset(&u, 0xA5, sizeof(u));
	cr_assert_eq(devsys_secrets_options_init(&u.o, 0), DEVSYS_EVERSION);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "version 0"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_secrets_options_init(&u.o, DEVSYS_SECRETS_OPTIONS_VERSION + 1), DEVSYS_EVERSION);
	cr_assert_eq(u.raw[0], 0xA5, "a refused init wrote the struct");
	cr_assert_eq(devsys_secrets_options_init(NULL, DEVSYS_SECRETS_OPTIONS_VERSION), DEVSYS_EINVAL);

	/* initialised options make a working set: an env secret resolves, and the audit callback set after init fires */
	devsys_secrets_options o;
	devsys_secrets *s = NULL;
	const char *v = NULL;
	cr_assert_eq(devsys_secrets_options_init(&o, DEVSYS_SECRETS_OPTIONS_VERSION), 0);
	o.audit_cb = audit_cb;
	cr_assert_eq(devsys_secrets_new(&s, &o), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(setenv("DEVSYS_TEST_INIT_TOKEN", "init-value-42", 1), 0);
	define(s, "tok", "env", "DEVSYS_TEST_INIT_TOKEN", NULL, 0);
	cr_assert_eq(devsys_secrets_resolve(s, "tok", NULL, NULL, &v, NULL), 0);
	cr_assert_str_eq(v, "init-value-42");
	cr_assert_eq(nevents, 1);
	cr_assert_null(strstr(events, "init-value-42"), "the audit event holds the value: %s", events);
	devsys_secrets_free(s);
	unsetenv("DEVSYS_TEST_INIT_TOKEN");
}

/* Version 1 options: the set reads only the first version's bytes, so the rest may be anything. */
Test(secrets_providers, version_1_options_read_no_event_callback)
{
	union {
		devsys_secrets_options o;
		unsigned char raw[sizeof(devsys_secrets_options)];
	} u;
	devsys_secrets *s = NULL;
	const char *v = NULL;
	memset(&u, 0xA5, sizeof(u)); /* garbage where event_cb would be */
	cr_assert_eq(devsys_secrets_options_init(&u.o, 1), 0);
	cr_assert_eq(devsys_secrets_new(&s, &u.o), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(setenv("DEVSYS_TEST_V1_TOKEN", "v1-value-123456", 1), 0);
	define(s, "tok", "env", "DEVSYS_TEST_V1_TOKEN", NULL, 0);
	cr_assert_eq(devsys_secrets_resolve(s, "tok", NULL, "test", &v, NULL), 0); /* would crash on a garbage callback */
	cr_assert_str_eq(v, "v1-value-123456");
	devsys_secrets_free(s);
	unsetenv("DEVSYS_TEST_V1_TOKEN");
}

struct seen {
	int calls, refuse;
	devsys_task *task;
	char line[256];
};

static int event_cb(const devsys_secret_event *ev, devsys_task *task, void *payload)
{
	struct seen *w = payload;
	w->calls++;
	w->task = task;
	snprintf(w->line, sizeof(w->line), "%s/%s/%s/%d", ev->name, ev->task_id ? ev->task_id : "-",
	         ev->stage ? ev->stage : "-", ev->cached);
	return w->refuse;
}

/* The caller gets each resolution with the task handle and records it; the module writes nothing. */
Test(secrets_providers, the_event_callback_gets_the_task_and_can_refuse)
{
	devsys_secrets_options o = DEVSYS_SECRETS_OPTIONS_INIT;
	devsys_secrets *s = NULL;
	devsys_workspace *ws;
	devsys_task *t;
	struct seen w = { 0 };
	const char *v = NULL;
	char wsdir[512], path[1024];
	snprintf(wsdir, sizeof(wsdir), "%s/ws", tmp);
	cr_assert_eq(devsys_workspace_open(&ws, wsdir, NULL), 0);
	cr_assert_eq(devsys_task_open(&t, ws, "ev-1", DEVSYS_TASK_CREATE), 0);
	o.event_cb = event_cb;
	o.event_payload = &w;
	o.audit_cb = audit_cb;
	cr_assert_eq(devsys_secrets_new(&s, &o), 0);
	cr_assert_eq(setenv("DEVSYS_TEST_EV_TOKEN", "ev-value-abcdef", 1), 0);
	define(s, "tok", "env", "DEVSYS_TEST_EV_TOKEN", NULL, 0);
	cr_assert_eq(devsys_secrets_resolve(s, "tok", t, "pr", &v, NULL), 0);
	cr_assert_str_eq(v, "ev-value-abcdef");
	cr_assert_eq(w.calls, 1);
	cr_assert_eq(w.task, t, "the callback gets the task handle");
	cr_assert_str_eq(w.line, "tok/ev-1/pr/0");
	cr_assert_eq(nevents, 1, "the audit callback still fires");
	snprintf(path, sizeof(path), "%s/events.audit.jsonl", devsys_task_path(t));
	cr_assert_not(dt_exists(path), "with an event callback the module writes no task file");
	snprintf(path, sizeof(path), "%s/events.jsonl", devsys_task_path(t));
	cr_assert_not(dt_exists(path));
	/* a caller that cannot record the resolution refuses it: no value is handed out */
	w.refuse = 1;
	v = NULL;
	cr_assert_eq(devsys_secrets_resolve(s, "tok", t, "pr", &v, NULL), DEVSYS_EUSER);
	cr_assert_null(v);
	cr_assert_eq(w.calls, 2);
	cr_assert_str_eq(w.line, "tok/ev-1/pr/1", "a cached resolution is reported too");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "'tok'"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "ev-value"));
	cr_assert_eq(devsys_secrets_resolve_all(s, t, "pr"), DEVSYS_EUSER);
	devsys_secrets_free(s);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	unsetenv("DEVSYS_TEST_EV_TOKEN");
}

/* The event's data, as the record keeps it: the names escaped, never the value. */
Test(secrets_providers, the_event_json_never_holds_the_value)
{
	devsys_secret_event ev;
	devsys_buf b = DEVSYS_BUF_INIT;
	memset(&ev, 0, sizeof(ev));
	ev.version = 1;
	ev.name = "tok";
	ev.provider = "env";
	ev.task_id = "t\"1";
	ev.stage = NULL;
	ev.cached = 1;
	ev.error = DEVSYS_ENOTFOUND;
	cr_assert_eq(devsys_secret_event_json(&b, &ev), 0);
	cr_assert_str_eq(b.ptr, "{\"name\":\"tok\",\"provider\":\"env\",\"task\":\"t\\\"1\",\"stage\":null,\"cached\":true,"
	                        "\"error\":\"DEVSYS_ENOTFOUND\"}");
	ev.error = 0;
	ev.cached = 0;
	cr_assert_eq(devsys_secret_event_json(&b, &ev), 0, "the buffer is replaced, not appended to");
	cr_assert(strncmp(b.ptr, "{\"name\"", 7) == 0 && strstr(b.ptr, "\"cached\":false,\"error\":null}"), "%s", b.ptr);
	cr_assert_eq(devsys_secret_event_json(NULL, &ev), DEVSYS_EINVAL);
	cr_assert_eq(devsys_secret_event_json(&b, NULL), DEVSYS_EINVAL);
	devsys_buf_dispose(&b);
}
