/*
 * The budgets of devsys_runner_cmd version 3 (idle timeout -> stalled,
 * output cap -> output-limit) and stdin /dev/null on the inproc runner and
 * on remote-ssh against the real sshd fixture: the same checks
 * (budgets_common.h) through both backends' own wait loops.
 */
#include "budgets_common.h"
#include "sshd_fixture.h"

#include <unistd.h>

static char *tmp;
static devsys_runner *r;
static dt_sshd *sshd;

static void inproc_setup(void)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	cr_assert_gt(devsys_init(), 0);
	tmp = dt_tmpdir("budgets");
	o.grace_ms = 500;
	r = NULL;
	cr_assert_eq(devsys_runner_open(&r, "inproc", &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void ssh_setup(void)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	char why[512];
	cr_assert_gt(devsys_init(), 0);
	tmp = dt_tmpdir("budgets-ssh");
	r = NULL;
	if (!(sshd = dt_sshd_start(why, sizeof(why))))
		dt_skip("%s", why);
	o.host = sshd->host;
	o.port = (unsigned)sshd->port;
	o.user = sshd->user;
	o.key_file = sshd->user_key;
	o.known_hosts = sshd->known_hosts;
	o.grace_ms = 500;
	o.remote_dir = sshd->dir;
	cr_assert_eq(devsys_runner_open(&r, "remote-ssh", &o), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_runner_free(r);
	r = NULL;
	dt_sshd_free(sshd);
	sshd = NULL;
	if (tmp)
		dt_rmrf(tmp);
	free(tmp);
	tmp = NULL;
	devsys_shutdown();
}

TestSuite(budgets_inproc, .init = inproc_setup, .fini = teardown, .timeout = 90);
TestSuite(budgets_ssh, .init = ssh_setup, .fini = teardown, .timeout = 120);

static char *pidfile(void)
{
	char *p = NULL;
	if (asprintf(&p, "%s/cmd.pid", tmp) < 0)
		cr_assert_fail("oom");
	return p;
}

Test(budgets_inproc, an_idle_command_is_stalled_and_its_group_killed)
{
	char *p = pidfile();
	budget_check_stall(r, p);
	free(p);
}

Test(budgets_inproc, output_resets_the_idle_clock)
{
	budget_check_no_stall_while_printing(r);
}

Test(budgets_inproc, output_is_cut_at_the_limit)
{
	budget_check_output_limit(r);
}

Test(budgets_inproc, output_within_the_limit_is_untouched)
{
	budget_check_output_fits(r);
}

Test(budgets_inproc, stdin_is_dev_null_unless_given)
{
	budget_check_stdin_dev_null(r);
}

/* Each version reads only its own bytes: a version-2 command has no budgets. */
Test(budgets_inproc, a_version_2_command_has_no_budgets)
{
	struct {
		devsys_runner_cmd cmd;
		unsigned char poison[64];
	} u;
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[] = { "/bin/sh", "-c", "sleep 1; echo done", NULL };
	memset(&u, 0xff, sizeof(u)); /* the v3 fields would read as 1 ms idle and a 0xff.. cap */
	u.cmd.version = 2;
	u.cmd.flags = 0;
	u.cmd.argv = argv;
	u.cmd.argv_len = NULL;
	u.cmd.env = NULL;
	u.cmd.cwd = NULL;
	u.cmd.timeout_ms = 30000;
	u.cmd.stdin_data = NULL;
	u.cmd.stdin_len = 0;
	u.cmd.stdin_file = NULL;
	u.cmd.output_cb = capture_cb;
	u.cmd.output_payload = &c;
	u.cmd.task = NULL;
	u.cmd.stage = NULL;
	u.cmd.image = NULL;
	cr_assert_eq(devsys_runner_exec(r, &u.cmd, &res), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	cr_assert_str_eq(cap_out(&c), "done\n");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

Test(budgets_inproc, failure_names)
{
	cr_assert_str_eq(devsys_runner_failure_name(DEVSYS_RUNNER_STALLED), "stalled");
	cr_assert_str_eq(devsys_runner_failure_name(DEVSYS_RUNNER_OUTPUT_LIMIT), "output-limit");
	cr_assert_str_eq(devsys_runner_failure_name(DEVSYS_RUNNER_OUTPUT_LIMIT + 1), "unknown");
}

Test(budgets_ssh, an_idle_command_is_stalled_and_its_group_killed)
{
	/* the sshd fixture runs on this machine: the remote pid is visible here */
	char *p = pidfile();
	budget_check_stall(r, p);
	free(p);
}

Test(budgets_ssh, output_resets_the_idle_clock)
{
	budget_check_no_stall_while_printing(r);
}

Test(budgets_ssh, output_is_cut_at_the_limit)
{
	budget_check_output_limit(r);
}

Test(budgets_ssh, output_within_the_limit_is_untouched)
{
	budget_check_output_fits(r);
}

Test(budgets_ssh, stdin_is_dev_null_unless_given)
{
	budget_check_stdin_dev_null(r);
}

/* ---- a plug-in backend: the budgets through devsys_runner_io_stopped() / _wait_ms() ---- */

#include <poll.h>

struct waiter {
	int canceled;
};

static int w_open(void **self, const devsys_runner_options *o, void *payload)
{
	(void)o;
	(void)payload;
	*self = calloc(1, sizeof(struct waiter));
	return *self ? 0 : DEVSYS_ENOMEM;
}

/* argv[0] "wait": print one line, then wait (as a silent command would) until told to stop;
 * "flood": write until the library refuses; anything else: print one line and end. */
static int w_exec(void *self, const devsys_runner_cmd *c, devsys_runner_io *io, devsys_runner_status *st)
{
	struct waiter *w = self;
	st->exit_code = 0;
	st->failure = DEVSYS_RUNNER_OK;
	if (strcmp(c->argv[0], "flood") == 0) {
		while (devsys_runner_io_write(io, DEVSYS_RUNNER_STDOUT, "0123456789\n", 11) == 0)
			;
		st->failure = DEVSYS_RUNNER_CANCELED;
		st->exit_code = -1;
		return DEVSYS_ECANCELED;
	}
	devsys_runner_io_write(io, DEVSYS_RUNNER_STDOUT, "started\n", 8);
	if (strcmp(c->argv[0], "wait") != 0)
		return 0;
	for (long waited = 0; waited < 60000;) {
		int ms = devsys_runner_io_wait_ms(io, 1000);
		if (devsys_runner_io_stopped(io) || __atomic_load_n(&w->canceled, __ATOMIC_ACQUIRE)) {
			st->failure = DEVSYS_RUNNER_CANCELED;
			st->exit_code = -1;
			return DEVSYS_ECANCELED;
		}
		poll(NULL, 0, ms);
		waited += ms;
	}
	return 0;
}

static int w_cancel(void *self)
{
	__atomic_store_n(&((struct waiter *)self)->canceled, 1, __ATOMIC_RELEASE);
	return 0;
}

static void w_close(void *self)
{
	free(self);
}

static devsys_runner *plugin;

static void plugin_setup(void)
{
	devsys_runner_vtable vt = { DEVSYS_RUNNER_VTABLE_VERSION, "budget-waiter", w_open, w_exec, w_cancel, w_close,
		                    NULL, NULL, NULL, NULL, NULL, NULL };
	cr_assert_gt(devsys_init(), 0);
	cr_assert_eq(devsys_runner_register(&vt, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_runner_open(&plugin, "budget-waiter", NULL), 0);
}

static void plugin_teardown(void)
{
	devsys_runner_free(plugin);
	devsys_shutdown();
}

TestSuite(budgets_plugin, .init = plugin_setup, .fini = plugin_teardown, .timeout = 60);

static int plugin_run(const char *what, unsigned idle_ms, uint64_t max_out, devsys_runner_result *res)
{
	const char *argv[] = { what, NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	cmd.argv = argv;
	cmd.idle_timeout_ms = idle_ms;
	cmd.max_output_bytes = max_out;
	return devsys_runner_exec(plugin, &cmd, res);
}

Test(budgets_plugin, a_plugin_that_asks_sees_the_stall)
{
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	long t0 = now_ms_();
	cr_assert_eq(plugin_run("wait", 400, 0, &res), DEVSYS_ETIMEOUT, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_STALLED);
	cr_assert_geq(now_ms_() - t0, 400);
	cr_assert_lt(now_ms_() - t0, 10000);
	devsys_runner_result_dispose(&res);
	/* positive control: a command that ends within its idle timeout */
	cr_assert_eq(plugin_run("quick", 400, 0, &res), 0);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	devsys_runner_result_dispose(&res);
}

Test(budgets_plugin, a_plugin_gets_the_output_cap_from_io_write)
{
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	cr_assert_eq(plugin_run("flood", 0, 1000, &res), DEVSYS_ELIMIT, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OUTPUT_LIMIT);
	cr_assert_eq(res.output_bytes, 1000u);
	devsys_runner_result_dispose(&res);
}
