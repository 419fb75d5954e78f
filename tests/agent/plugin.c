/* A plug-in agent kind through the pipeline: a validated spec selects a
 * registered C adapter by name, a kind nobody registered is refused by the
 * agent stage before any work (naming the kind and the registered ones), a
 * malformed kind name is refused by the schema, and an adapter whose open
 * fails is a system failure whose message is the stage's recorded reason. */
#include "pipeline_fixture.h"
#include "testutil.h"
#include <devsys.h>
#include <devsys/sys/agent.h>
#include <devsys/sys/errors.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;
static int opened, commanded;

static int c_open(void **self, const devsys_agent_request *req, void *payload)
{
	(void)req;
	opened++;
	*self = payload;
	return 0;
}
static int c_command(void *self, const char *const **argv, const char *const **env)
{
	static const char *const a[] = { "/bin/sh", "-c", "echo 'from the C adapter' >> README", NULL };
	(void)self;
	commanded++;
	*argv = a;
	*env = NULL;
	return 0;
}
static void c_close(void *self)
{
	(void)self;
}
static int broken_open(void **self, const devsys_agent_request *req, void *payload)
{
	(void)self;
	(void)req;
	(void)payload;
	opened++;
	return devsys_error_set(DEVSYS_EIO, "c-broken: cannot reach its agent daemon at /run/broken.sock");
}
static int silent_open(void **self, const devsys_agent_request *req, void *payload)
{
	(void)self;
	(void)req;
	(void)payload;
	opened++;
	return DEVSYS_EUSER; /* no message of its own */
}

static void reg(const char *name, int (*open)(void **, const devsys_agent_request *, void *))
{
	devsys_agent_vtable vt = { .version = DEVSYS_AGENT_VTABLE_VERSION, .name = name, .open = open,
		                   .command = c_command, .close = c_close };
	cr_assert_eq(devsys_agent_register(&vt, NULL), 0, "%s", dt_errmsg());
}

static void setup(void)
{
	dir = dt_pipe_repo("agentplug", NULL);
	ws = dt_pipe_workspace(dir);
	pl = dt_pipe_open(ws, NULL);
	reg("c-echo", c_open);
	reg("c-broken", broken_open);
	reg("c-silent", silent_open);
	opened = commanded = 0;
}

static void teardown(void)
{
	dt_pipe_teardown(&pl, &ws, &dir);
}

TestSuite(agent_plugin, .init = setup, .fini = teardown, .timeout = 60);

static int validate(const char *id, const char *kind)
{
	char spec[4096];
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: t\nprompt: p\nrepo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  kind: %s\ntests:\n  command: [make]\n",
	         id, dir, kind);
	return devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id);
}

static char *task_file(const char *id, const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, rel);
	return dt_read_file(p, NULL);
}

/* The agent stage fails with @p fclass / @p outcome; its message is in msg,
 * and events.jsonl's stage.end carries it as the reason. */
static void expect_agent_fails(const char *id, int fclass, const char *outcome, char *msg, size_t cap)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *events, *tj;
	cr_assert_lt(devsys_pipeline_code(&r, pl), 0, "the agent stage did not fail");
	snprintf(msg, cap, "%s", dt_errmsg());
	cr_assert_str_eq(r.stage, "agent", "%s: %s", r.outcome, msg);
	cr_assert_eq(r.failure_class, fclass, "%s: %s", r.outcome, msg);
	cr_assert_str_eq(r.outcome, outcome, "%s", msg);
	events = task_file(id, "events.jsonl");
	cr_assert(events && strstr(events, "\"stage.end\""), "%s", events ? events : "(none)");
	cr_assert(strstr(events, "\"reason\""), "%s", events);
	free(events);
	tj = task_file(id, "task.json");
	cr_assert(tj && strstr(tj, devsys_failure_class_name(fclass)), "%s", tj ? tj : "(none)");
	free(tj);
}

Test(agent_plugin, a_validated_spec_selects_a_registered_kind)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	char *out;
	int st;
	cr_assert_eq(validate("pk-echo", "c-echo"), 0, "%s", dt_errmsg());
	cr_assert_eq(devsys_pipeline_code(&r, pl), 0, "%s: %s", r.outcome, dt_errmsg());
	cr_assert_eq(opened, 1);
	cr_assert_eq(commanded, 1);
	out = dt_sh_output(&st, "git --git-dir='%s/remote.git' show task/pk-echo:README", dir);
	cr_assert(out && strcmp(out, "hello\nfrom the C adapter\n") == 0, "%s", out ? out : "(none)");
	free(out);
}

Test(agent_plugin, an_unregistered_kind_is_refused_by_the_agent_stage_before_any_work)
{
	char msg[2048], path[4096], *events, *log;
	cr_assert_eq(validate("pk-none", "aider"), 0, "the schema takes any kind name: %s",
	             dt_errmsg());
	expect_agent_fails("pk-none", DEVSYS_FAILURE_BUILD, "agent-refused", msg, sizeof(msg));
	cr_assert(strstr(msg, "agent.kind 'aider' is not a known agent kind"), "%s", msg);
	cr_assert(strstr(msg, "built in: command, opencode; registered by plug-ins: c-echo, c-broken, c-silent"), "%s",
	          msg);
	cr_assert_eq(opened, 0, "no adapter was opened");
	log = task_file("pk-none", "logs/agent.log");
	cr_assert_null(log, "the agent ran: %s", log);
	snprintf(path, sizeof(path), "%s/tasks/pk-none/agent-input.json", dir);
	cr_assert_not(dt_exists(path), "the stage did work before refusing");
	events = task_file("pk-none", "events.jsonl");
	cr_assert(strstr(events, "is not a known agent kind"), "%s", events);
	free(events);
}

Test(agent_plugin, a_malformed_kind_name_is_refused_by_the_schema)
{
	const char *msg;
	cr_assert_lt(validate("pk-bad", "Aider!"), 0);
	msg = dt_errmsg();
	cr_assert(strstr(msg, "/agent/kind") && strstr(msg, "agent.kind must be a kind name"), "%s", msg);
	/* and kind: command still needs its command */
	cr_assert_lt(validate("pk-cmd", "command"), 0);
	msg = dt_errmsg();
	cr_assert(strstr(msg, "agent needs a command"), "%s", msg);
}

Test(agent_plugin, an_adapter_whose_open_fails_is_a_system_failure_with_its_message)
{
	char msg[2048], *events;
	cr_assert_eq(validate("pk-broken", "c-broken"), 0, "%s", dt_errmsg());
	expect_agent_fails("pk-broken", DEVSYS_FAILURE_SYSTEM, "agent-not-run", msg, sizeof(msg));
	cr_assert_eq(opened, 1);
	cr_assert_eq(commanded, 0);
	cr_assert(strstr(msg, "c-broken: cannot reach its agent daemon at /run/broken.sock"), "%s", msg);
	events = task_file("pk-broken", "events.jsonl");
	cr_assert(strstr(events, "cannot reach its agent daemon"), "%s", events);
	free(events);
	/* an adapter that fails without a message gets one naming its kind, not a stale error */
	cr_assert_eq(validate("pk-silent", "c-silent"), 0, "%s", dt_errmsg());
	expect_agent_fails("pk-silent", DEVSYS_FAILURE_SYSTEM, "agent-not-run", msg, sizeof(msg));
	cr_assert(strstr(msg, "agent kind 'c-silent': its open failed (DEVSYS_EUSER) without saying why"), "%s", msg);
	events = task_file("pk-silent", "events.jsonl");
	cr_assert(strstr(events, "its open failed"), "%s", events);
	free(events);
}
