/*
 * The command budgets (devsys_runner_cmd version 3) and stdin /dev/null,
 * checked the same way on every backend: an idle command is stopped as
 * "stalled" (and a chatty one of the same length is not: output resets the
 * clock), a flood of output is cut at exactly max_output_bytes (and output
 * that fits, also exactly, is not), and a command given no stdin reads
 * /dev/null (and one given stdin does not).
 */
#ifndef RUNNER_BUDGETS_COMMON_H
#define RUNNER_BUDGETS_COMMON_H

#include "runner_common.h"

static inline int budget_sh(devsys_runner *r, const char *script, unsigned idle_ms, uint64_t max_out,
                            struct capture *c, devsys_runner_result *res)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	cmd.argv = argv;
	cmd.output_cb = capture_cb;
	cmd.output_payload = c;
	cmd.timeout_ms = 120000; /* far beyond the budgets: a timeout here is a failure */
	cmd.idle_timeout_ms = idle_ms;
	cmd.max_output_bytes = max_out;
	return devsys_runner_exec(r, &cmd, res);
}

/* @p pidfile: where the command writes its pid ($$) for a liveness check, or NULL. */
static inline void budget_check_stall(devsys_runner *r, const char *pidfile)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char script[600];
	long t0, took;
	int rc;
	if (pidfile)
		snprintf(script, sizeof(script), "echo $$ > '%s'; echo ready; exec sleep 1000", pidfile);
	else
		snprintf(script, sizeof(script), "echo ready; exec sleep 1000");
	t0 = now_ms_();
	rc = budget_sh(r, script, 800, 0, &c, &res);
	took = now_ms_() - t0;
	cr_assert_eq(rc, DEVSYS_ETIMEOUT, "rc %d: %s", rc, devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_STALLED, "%s", devsys_runner_failure_name(res.failure));
	cr_assert_str_eq(devsys_runner_failure_name(res.failure), "stalled");
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "printed nothing for 800 ms"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(cap_out(&c), "ready\n");
	cr_assert(res.tail && strstr(res.tail, "sys| idle timeout: no output for 800 ms"), "%s", res.tail);
	cr_assert_geq(took, 800, "stopped after %ld ms, before the idle timeout", took);
	cr_assert_lt(took, 30000, "the stall took %ld ms to be seen", took);
	if (pidfile) {
		char *pid = dt_read_file(pidfile, NULL);
		cr_assert_not_null(pid, "the command never wrote its pid");
		long p = atol(pid);
		cr_assert_gt(p, 1);
		WAIT_UNTIL(!pid_alive(p), 5000);
		cr_assert(!pid_alive(p), "the stalled command %ld survived", p);
		free(pid);
	}
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

/* Positive control: ~2.4 s of a tick every 0.2 s under a 1.5 s idle timeout. */
static inline void budget_check_no_stall_while_printing(devsys_runner *r)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	int rc = budget_sh(r, "i=0; while [ $i -lt 12 ]; do echo tick; sleep 0.2; i=$((i+1)); done", 1500, 0, &c,
	                   &res);
	cr_assert_eq(rc, 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK, "%s: %s", devsys_runner_failure_name(res.failure), res.tail);
	cr_assert_eq(c.out.size, 12 * 5, "%s", cap_out(&c));
	cr_assert_geq(res.duration_ms, 1500, "the run must outlast one idle period to prove the reset");
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

#define BUDGET_LINE "0123456789abcdefghijklmnopqrstuvwxyz" /* 36 bytes + newline */

static inline void budget_check_output_limit(devsys_runner *r)
{
	struct capture c = { 0 };
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	int rc = budget_sh(r, "while :; do echo " BUDGET_LINE "; done", 0, 10000, &c, &res);
	cr_assert_eq(rc, DEVSYS_ELIMIT, "rc %d: %s", rc, devsys_error_message(devsys_error_last()));
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OUTPUT_LIMIT, "%s", devsys_runner_failure_name(res.failure));
	cr_assert_str_eq(devsys_runner_failure_name(res.failure), "output-limit");
	cr_assert_eq(res.output_bytes, 10000u, "%llu bytes kept", (unsigned long long)res.output_bytes);
	cr_assert_eq(c.out.size, 10000u, "the callback saw %zu bytes", c.out.size);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "more than 10000 bytes"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert(res.tail && strstr(res.tail, "sys| output limit: 10000 bytes kept"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	capture_free(&c);
}

/* Positive control: 100 lines (3700 bytes) under the cap, and exactly at it. */
static inline void budget_check_output_fits(devsys_runner *r)
{
	const uint64_t caps[] = { 10000, 3700 };
	for (size_t i = 0; i < 2; i++) {
		struct capture c = { 0 };
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		int rc = budget_sh(r, "i=0; while [ $i -lt 100 ]; do echo " BUDGET_LINE "; i=$((i+1)); done", 0, caps[i],
		                   &c, &res);
		cr_assert_eq(rc, 0, "cap %llu: %s", (unsigned long long)caps[i], devsys_error_message(devsys_error_last()));
		cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
		cr_assert_eq(res.output_bytes, 3700u);
		cr_assert_eq(c.out.size, 3700u);
		devsys_runner_result_dispose(&res);
		capture_free(&c);
	}
}

/* No stdin given: /dev/null, with and without env; given stdin: not. */
static inline void budget_check_stdin_dev_null(devsys_runner *r)
{
	const char *argv[] = { "/bin/sh", "-c", "readlink /proc/$$/fd/0; cat; echo end", NULL };
	const char *env[] = { "DT_SOME=1", NULL };
	for (int k = 0; k < 3; k++) {
		struct capture c = { 0 };
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
		cmd.argv = argv;
		cmd.output_cb = capture_cb;
		cmd.output_payload = &c;
		cmd.timeout_ms = 60000;
		cmd.idle_timeout_ms = 30000;
		if (k == 1)
			cmd.env = env;
		if (k == 2) {
			cmd.stdin_data = "given\n";
			cmd.stdin_len = 6;
		}
		cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0, "%s", devsys_error_message(devsys_error_last()));
		cr_assert_eq(res.failure, DEVSYS_RUNNER_OK, "%s", res.tail);
		if (k < 2)
			cr_assert_str_eq(cap_out(&c), "/dev/null\nend\n", "case %d", k);
		else
			cr_assert(strncmp(cap_out(&c), "/dev/null", 9) != 0 && strstr(cap_out(&c), "given\nend\n"), "%s",
			          cap_out(&c));
		devsys_runner_result_dispose(&res);
		capture_free(&c);
	}
}

#endif
