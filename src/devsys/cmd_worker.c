/*
 * devsys worker: a thin shell over the library's worker (devsys/worker.h),
 * which claims queued tasks and runs the pipeline on each. SIGTERM or
 * SIGINT stops it: no new claims and no new stages; the stages under way
 * get the grace period, and each task is handed back once its stage ended
 * or the grace ran out (the next claim goes on with it).
 * devsys workers: the store's worker registry.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

typedef struct worker_cli {
	devsys_cli *cli;
	devsys_worker *w;
	unsigned long grace_s;
	volatile sig_atomic_t finished;
} worker_cli;

static void on_event(const devsys_worker_event *ev, void *payload)
{
	worker_cli *wc = payload;
	if (wc->cli->json || ev->kind == DEVSYS_WORKER_EVENT_PIPELINE || !ev->message)
		return;
	if (ev->task_id)
		printf("task %s: %s\n", ev->task_id, ev->message);
	else
		printf("worker: %s\n", ev->message);
	fflush(stdout);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * SIGTERM/SIGINT: the library's stop (grace, then hand-back and cancel). A
 * stage that ignores its cancel for 10 s more does not keep the process:
 * its task is handed back already, so the process exits.
 */
static void *signal_main(void *arg)
{
	worker_cli *wc = arg;
	sigset_t set;
	int sig = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 && !wc->finished) {
		struct timespec tick = { 0, 50 * 1000 * 1000 };
		long long until;
		if (sig == SIGUSR1)
			continue;
		if (!wc->cli->json) {
			printf("worker: stopping (%s): no new claims or stages; the stages under way have %lu s, then their "
			       "tasks are handed back\n",
			       sig == SIGINT ? "SIGINT" : "SIGTERM", wc->grace_s);
			fflush(stdout);
		}
		devsys_worker_stop(wc->w, (unsigned int)(wc->grace_s * 1000));
		until = mono_ms() + 10000;
		while (!wc->finished && mono_ms() < until)
			nanosleep(&tick, NULL);
		if (!wc->finished)
			_exit(DEVSYS_EXIT_INTERRUPTED);
		return NULL;
	}
	return NULL;
}

static int parse_uint(devsys_cli *cli, const char *opt, const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	*out = strtoul(v, &end, 10);
	if (errno || *end || !*v || *out > max)
		return devsys_cli_usage_error(cli, "worker: %s '%s' is not a number (0..%lu)", opt, v, max);
	return 0;
}

static int worker_args(worker_cli *wc, devsys_worker_options *o, const char **profiles, int argc, char **argv)
{
	devsys_cli *cli = wc->cli;
	unsigned long v;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--once") || !strcmp(a, "--drain"))
			o->flags |= DEVSYS_WORKER_ONCE;
		else if (!strcmp(a, "--jobs") && val) {
			if (parse_uint(cli, a, argv[++i], 64, &v) || v == 0)
				return v == 0 ? devsys_cli_usage_error(cli, "worker: --jobs must be 1..64") : DEVSYS_EXIT_USAGE;
			o->jobs = (unsigned int)v;
		} else if (!strcmp(a, "--lease-ms") && val) {
			if (parse_uint(cli, a, argv[++i], 3600000, &v) || v < 300)
				return v < 300 ? devsys_cli_usage_error(cli, "worker: --lease-ms must be 300..3600000")
				               : DEVSYS_EXIT_USAGE;
			o->lease_ms = (unsigned int)v;
		} else if (!strcmp(a, "--grace") && val) {
			if (parse_uint(cli, a, argv[++i], 86400, &wc->grace_s))
				return DEVSYS_EXIT_USAGE;
		} else if (!strcmp(a, "--profile") && val) {
			if (o->nprofiles >= 32)
				return devsys_cli_usage_error(cli, "worker: at most 32 --profile options");
			profiles[o->nprofiles++] = argv[++i];
		} else if (!strcmp(a, "--config") && val) {
			o->config_path = argv[++i];
		} else if (!strcmp(a, "--id") && val) {
			if (strlen(val) >= 100 || !*val)
				return devsys_cli_usage_error(cli, "worker: --id must be 1..99 bytes");
			o->id = argv[++i];
		} else
			return devsys_cli_usage_error(cli, "worker: unexpected argument '%s'", a);
	}
	return 0;
}

static int open_worker(worker_cli *wc, devsys_workspace *ws, const devsys_worker_options *o)
{
	int rc = devsys_worker_open(&wc->w, ws, o);
	if (rc == DEVSYS_EEXISTS) /* the id is taken: a usage error, as before */
		return devsys_cli_usage_error(wc->cli, "%s", devsys_error_message(devsys_error_last()));
	if (rc < 0)
		return devsys_cli_fail_lib(wc->cli, o->config_path ? "cannot open the task store or the configuration"
		                                                   : "cannot open the task store");
	return 0;
}

static int cmd_worker(devsys_cli *cli, int argc, char **argv)
{
	devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	devsys_workspace *ws = NULL;
	const char *profiles[32];
	worker_cli wc;
	sigset_t set, old;
	pthread_t sigt;
	int rc;
	memset(&wc, 0, sizeof(wc));
	wc.cli = cli;
	wc.grace_s = 30;
	o.profiles = profiles;
	o.event = on_event;
	o.event_payload = &wc;
	if ((rc = worker_args(&wc, &o, profiles, argc, argv)) != 0)
		return rc;
	/* blocked before any thread starts: only the signal thread takes them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0 || (rc = open_worker(&wc, ws, &o)) != 0)
		goto out;
	if (!cli->json)
		printf("devsys worker %s: %u job(s), lease %u ms (workspace %s)\n", devsys_worker_id(wc.w),
		       o.jobs ? o.jobs : 1u, o.lease_ms ? o.lease_ms : 30000u, devsys_workspace_path(ws));
	fflush(stdout);
	pthread_create(&sigt, NULL, signal_main, &wc);
	if (devsys_worker_run(wc.w) < 0)
		rc = devsys_cli_fail_lib(cli, "the worker could not run");
	wc.finished = 1;
	pthread_kill(sigt, SIGUSR1);
	pthread_join(sigt, NULL);
	devsys_worker_stats_get(&st, wc.w);
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:s,s:I,s:I,s:b}", "worker", devsys_worker_id(wc.w), "tasks",
		                                (json_int_t)st.claimed, "not_resting", (json_int_t)st.not_resting,
		                                "stopped", st.stopping));
	if (rc == 0)
		rc = st.stopping ? DEVSYS_EXIT_INTERRUPTED : st.not_resting ? DEVSYS_EXIT_FAILED : DEVSYS_EXIT_OK;
out:
	devsys_worker_free(wc.w);
	devsys_workspace_free(ws);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* ---- devsys workers: the registry ---- */

static void print_workers(json_t *j)
{
	json_t *e;
	size_t i;
	printf("%-28s %-20s %4s %7s %7s %9s %12s %s\n", "WORKER", "HOST", "JOBS", "RUNNING", "CLAIMED", "EXPIRIES",
	       "LAST BEAT", "STATE");
	json_array_foreach(json_object_get(j, "workers"), i, e) {
		char beat[32];
		snprintf(beat, sizeof(beat), "%.1f s ago",
		         (double)json_integer_value(json_object_get(e, "beat_age_ms")) / 1000.0);
		printf("%-28s %-20s %4d %7lld %7lld %9lld %12s %s\n", json_string_value(json_object_get(e, "id")),
		       json_string_value(json_object_get(e, "host")), (int)json_integer_value(json_object_get(e, "jobs")),
		       (long long)json_integer_value(json_object_get(e, "running")),
		       (long long)json_integer_value(json_object_get(e, "claimed")),
		       (long long)json_integer_value(json_object_get(e, "expiries")), beat,
		       json_string_value(json_object_get(e, "state")));
	}
	printf("(%zu workers)\n", json_array_size(json_object_get(j, "workers")));
}

static int cmd_workers(devsys_cli *cli, int argc, char **argv)
{
	devsys_workspace *ws = NULL;
	devsys_store *st = NULL;
	devsys_buf out = DEVSYS_BUF_INIT;
	const char *config = NULL;
	int rc;
	for (int i = 1; i < argc; i++)
		if (!devsys_cli_config_arg(&config, &i, argc, argv))
			return devsys_cli_usage_error(cli, "workers: unexpected argument '%s' (usage: workers [--config FILE])",
			                              argv[i]);
	if ((rc = devsys_cli_open_store(cli, &ws, &st, config)) != 0)
		return rc;
	if (devsys_store_workers_json(st, &out) < 0)
		rc = devsys_cli_fail_lib(cli, "cannot read the worker registry");
	else if (cli->json)
		printf("%s\n", out.ptr);
	else {
		json_t *j = json_loads(out.ptr, 0, NULL);
		print_workers(j);
		json_decref(j);
	}
	devsys_buf_dispose(&out);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return rc;
}

const devsys_cli_command devsys_cli_worker_commands[] = {
	{ "worker", "[--jobs N] [--profile P...] [--once] [--lease-ms MS] [--grace SECS] [--id ID] [--config FILE]",
	  "claim queued tasks and run the pipeline on each (--once: exit when the queue is empty)", cmd_worker },
	{ "workers", "[--config FILE]", "the workers of the store's registry: jobs, running, last beat, alive or stale", cmd_workers },
	{ NULL, NULL, NULL, NULL }
};
