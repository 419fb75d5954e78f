/* devsys_agent_register(): a plug-in kind's table is checked and its known
 * prefix copied; names are unique and the built-ins cannot be replaced. */
#include "testutil.h"
#include <devsys.h>
#include <devsys/sys/agent.h>

#include <string.h>

static int p_open(void **self, const devsys_agent_request *req, void *payload)
{
	(void)req;
	*self = payload;
	return 0;
}
static int p_command(void *self, const char *const **argv, const char *const **env)
{
	static const char *const a[] = { "true", NULL };
	(void)self;
	*argv = a;
	*env = NULL;
	return 0;
}
static void p_close(void *self)
{
	(void)self;
}

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
}
static void teardown(void)
{
	devsys_shutdown();
}
TestSuite(agent_register, .init = setup, .fini = teardown);

Test(agent_register, a_plugin_kind_registers_once_and_bad_tables_are_refused)
{
	devsys_agent_vtable vt = { .version = DEVSYS_AGENT_VTABLE_VERSION, .name = "echo-agent", .open = p_open,
		                   .command = p_command, .close = p_close };
	devsys_agent_vtable bad = vt;
	cr_assert_eq(devsys_agent_register(&vt, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_agent_register(&vt, NULL), DEVSYS_EEXISTS);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "'echo-agent' is already registered"));
	bad.name = "opencode";
	cr_assert_eq(devsys_agent_register(&bad, NULL), DEVSYS_EEXISTS);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "built in"));
	bad = vt;
	bad.name = "other";
	bad.version = 99;
	cr_assert_eq(devsys_agent_register(&bad, NULL), DEVSYS_EVERSION);
	bad.version = DEVSYS_AGENT_VTABLE_VERSION;
	bad.command = NULL;
	cr_assert_eq(devsys_agent_register(&bad, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_agent_register(NULL, NULL), DEVSYS_EINVAL);
	/* a plug-in built against version 1 (no preflight, err_line, status) still registers */
	bad = vt;
	bad.name = "v1-agent";
	bad.version = 1;
	cr_assert_eq(devsys_agent_register(&bad, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	/* a shutdown forgets plug-in kinds: registered again after a new init */
	devsys_shutdown();
	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_agent_register(&vt, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
}
