/*
 * devsys submit SPEC...: validate each task (one per YAML document) with the
 * library's validate stage and queue it in the store.
 * devsys worker: claim queued tasks and run the pipeline on each, one
 * pipeline per thread, heartbeating the leases; SIGTERM or SIGINT stops
 * claiming, waits up to the grace period for the running tasks and hands
 * back those still running (the next claim resumes them).
 *
 * Threads: each job thread owns its pipeline; the store handle for claims
 * and heartbeats is shared (the store serialises its calls); a slot's task
 * name and lost flag are guarded by the slot's lock.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(DEVSYS_HAVE_MODULE_PIPELINE)

#include <pthread.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_file(devsys_cli *cli, const char *file, devsys_buf *bytes)
{
	char chunk[65536];
	size_t n;
	FILE *f = fopen(file, "rb");
	if (!f)
		return devsys_cli_usage_error(cli, "cannot open spec '%s': %s", file, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (bytes->size > ((size_t)16 << 20) || devsys_buf_put(bytes, chunk, n) < 0)
			break;
	if (ferror(f) || (n > 0 && bytes->size <= ((size_t)16 << 20))) {
		fclose(f);
		return devsys_cli_usage_error(cli, "cannot read spec '%s'", file);
	}
	fclose(f);
	return DEVSYS_EXIT_OK;
}

/* The id of the schema the library validates against ("$id" of the embedded task schema). */
static char *schema_id(void)
{
	json_t *j = json_loads(devsys_spec_task_schema_text(), 0, NULL);
	const char *id = json_string_value(json_object_get(j, "$id"));
	char *s = strdup(id ? id : "");
	json_decref(j);
	return s;
}

/* ---- devsys submit ---- */

struct submit {
	devsys_cli *cli;
	devsys_pipeline *p;
	const char *profile; /* --profile, else the spec's runner */
	char *schema;
	json_t *done, *errors;
	int worst;
	struct many *run_ids; /* devsys run --jobs: collect the ids to run instead of queueing */
};

static int many_add(struct many *m, const char *id);

static bool blank_doc(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '#')
			while (i < len && s[i] != '\n')
				i++;
		else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	}
	return true;
}

static void submit_error(struct submit *s, const char *name, int exit_code, const char *msg)
{
	if (s->cli->json)
		json_array_append_new(s->errors, json_pack("{s:s,s:s}", "document", name, "message", msg));
	else
		fprintf(stderr, "devsys: %s: %s\n", name, msg);
	if (exit_code > s->worst)
		s->worst = exit_code;
}

/* One document: the validate stage (the library's), then the queue. */
static void submit_doc(struct submit *s, const char *name, const char *bytes, size_t len)
{
	devsys_store *st = devsys_pipeline_store(s->p);
	const char *id, *profile;
	int rc = devsys_pipeline_validate(NULL, s->p, bytes, len, name);
	if (rc == DEVSYS_EINVALID && devsys_pipeline_validation(s->p)) {
		if (!s->cli->json)
			devsys_cli_print_validation(stderr, devsys_pipeline_validation(s->p));
		submit_error(s, name, DEVSYS_EXIT_FAILED, "the spec is invalid; nothing was queued");
		return;
	}
	if (rc < 0 && rc != DEVSYS_EEXISTS) {
		submit_error(s, name, devsys_cli_exit_code(rc), devsys_error_message(devsys_error_last()));
		return;
	}
	id = devsys_pipeline_task_id(s->p);
	if (s->run_ids) {
		int state = devsys_store_task_state(st, id);
		if (rc == DEVSYS_EEXISTS && state != DEVSYS_STATE_VALIDATED) {
			char msg[300];
			snprintf(msg, sizeof(msg), "task '%s' exists already (%s): not run again (devsys run --resume %s)", id,
			         state >= 0 ? devsys_task_state_name(state) : "unknown", id);
			submit_error(s, name, DEVSYS_EXIT_FAILED, msg);
		} else if ((rc = many_add(s->run_ids, id)) < 0)
			submit_error(s, name, DEVSYS_EXIT_SYSTEM, "out of memory");
		else if (rc > 0)
			submit_error(s, name, DEVSYS_EXIT_USAGE, "this task id is given twice");
		return;
	}
	profile = s->profile ? s->profile : devsys_spec_get_string(devsys_pipeline_spec(s->p), "/runner");
	if (devsys_store_submit(st, id, profile, s->schema) < 0) {
		/* a task registered earlier and never run is queued; any other is reported as it stands */
		submit_error(s, name, DEVSYS_EXIT_FAILED, devsys_error_message(devsys_error_last()));
		return;
	}
	if (s->cli->json)
		json_array_append_new(s->done, json_pack("{s:s,s:s,s:s}", "task", id, "document", name, "profile",
		                                         profile ? profile : ""));
	else
		printf("queued %s (%s)%s%s\n", id, name, profile && *profile ? ", profile " : "",
		       profile && *profile ? profile : "");
}

/*
 * A file holds one task per YAML document. The documents are cut at their
 * "---" lines so that each task keeps exactly its own bytes as its spec.
 */
static void submit_file(struct submit *s, const char *file, const devsys_buf *b)
{
	const char *p = b->ptr ? b->ptr : "", *end = p + b->size, *start = p;
	unsigned int doc = 0, line = 1, start_line = 1;
	char name[4200];
	for (const char *l = p; l <= end; line++) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *next = nl ? nl + 1 : end;
		bool sep = (size_t)(end - l) >= 3 && !strncmp(l, "---", 3) && (l + 3 == end || strchr(" \t\r\n", l[3]));
		if (sep || next == end) {
			const char *stop = sep ? l : end;
			if (!blank_doc(start, (size_t)(stop - start))) {
				doc++;
				snprintf(name, sizeof(name), "%s (document %u, line %u)", file, doc, start_line);
				submit_doc(s, name, start, (size_t)(stop - start));
			}
			start = next;
			start_line = line + 1;
		}
		if (next == end)
			break;
		l = next;
	}
	if (doc == 0)
		submit_error(s, file, DEVSYS_EXIT_USAGE, "holds no task (no YAML document)");
}

static int cmd_submit(devsys_cli *cli, int argc, char **argv)
{
	devsys_pipeline_options o = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	struct submit s;
	int rc, nfiles = 0;
	memset(&s, 0, sizeof(s));
	s.cli = cli;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			o.config_path = argv[++i];
		else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
			s.profile = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return devsys_cli_usage_error(cli, "submit: unknown option '%s'", argv[i]);
		else
			nfiles++;
	}
	if (!nfiles)
		return devsys_cli_usage_error(cli, "submit needs at least one spec file");
	if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0)
		return rc;
	if (devsys_pipeline_new(&s.p, ws, &o) < 0) {
		rc = devsys_cli_fail_lib(cli, "cannot open the task store");
		goto out;
	}
	s.schema = schema_id();
	s.done = json_array();
	s.errors = json_array();
	for (int i = 1; i < argc; i++) {
		devsys_buf b = DEVSYS_BUF_INIT;
		if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--profile")) {
			i++;
			continue;
		}
		if ((rc = read_file(cli, argv[i], &b)) == 0)
			submit_file(&s, argv[i], &b);
		else if (rc > s.worst)
			s.worst = rc;
		devsys_buf_dispose(&b);
	}
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:O,s:O}", "queued", s.done, "errors", s.errors));
	rc = s.worst;
out:
	json_decref(s.done);
	json_decref(s.errors);
	free(s.schema);
	devsys_pipeline_free(s.p);
	devsys_workspace_free(ws);
	return rc;
}

/* ---- devsys worker ---- */

struct worker;

typedef struct slot {
	struct worker *w;
	pthread_t thread;
	char owner[200];       /* worker id / slot number: one owner per pipeline */
	pthread_mutex_t lock;
	char task[128];        /* the task held, "" when none */
	bool lost;             /* a heartbeat found the lease gone */
	devsys_pipeline *p;
} slot;

typedef struct worker {
	devsys_cli *cli;
	devsys_workspace *ws;
	devsys_store *store;   /* claims and heartbeats; each pipeline has its own */
	const char *config;
	const char **profiles;
	size_t nprofiles;
	char host[128];
	char id[160];
	unsigned int lease_ms;
	unsigned long grace_s;
	bool once;
	int jobs;
	slot *slots;
	volatile sig_atomic_t stopping;
	volatile sig_atomic_t finished;
	pthread_mutex_t out_lock;
	int ran, failed;
} worker;

static void say(worker *w, const char *fmt, const char *task, const char *extra)
{
	pthread_mutex_lock(&w->out_lock);
	if (!w->cli->json) {
		printf(fmt, task, extra ? extra : "");
		fflush(stdout);
	}
	pthread_mutex_unlock(&w->out_lock);
}

static bool rests(int state)
{
	return state == DEVSYS_STATE_AWAITING_REVIEW || state == DEVSYS_STATE_MERGED || state == DEVSYS_STATE_DONE ||
	       state == DEVSYS_STATE_NO_CHANGES || state == DEVSYS_STATE_FAILED || state == DEVSYS_STATE_CANCELED;
}

/* A task that cannot run (its kept spec unreadable or now invalid) fails, with the reason in its event. */
static void fail_unrunnable(worker *w, slot *s, const char *id)
{
	char why[1200];
	(void)s;
	snprintf(why, sizeof(why), "the worker cannot run it: %s", devsys_error_message(devsys_error_last()));
	say(w, "task %s: failed: %s\n", id, why);
	if (devsys_store_transition(w->store, id, DEVSYS_STATE_FAILED, why) < 0)
		say(w, "task %s: cannot mark it failed: %s\n", id, devsys_error_message(devsys_error_last()));
}

static void run_one(slot *s, const char *id)
{
	worker *w = s->w;
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	int rc, state;
	say(w, "task %s: claimed%s\n", id, "");
	/* the kept spec is checked again: the schema may have changed since submit, or the file */
	if ((rc = devsys_pipeline_load(s->p, id)) < 0 || (rc = devsys_spec_validate(NULL, devsys_pipeline_spec(s->p), 0)) < 0)
		fail_unrunnable(w, s, id);
	else
		rc = devsys_pipeline_run(&res, s->p);
	state = devsys_store_task_state(w->store, id);
	pthread_mutex_lock(&s->lock);
	bool lost = s->lost;
	pthread_mutex_unlock(&s->lock);
	if (!lost && rc < 0 && state >= 0 && !rests(state) && state != DEVSYS_STATE_INTERRUPTED) {
		/* stopped before any stage could end it: handing it back would loop */
		fail_unrunnable(w, s, id);
		state = devsys_store_task_state(w->store, id);
	}
	if (lost) {
		say(w, "task %s: the lease was lost while it ran; another worker owns it now%s\n", id, "");
	} else if (state >= 0 && rests(state)) {
		if (devsys_store_complete(w->store, id, s->owner) < 0)
			say(w, "task %s: cannot complete: %s\n", id, devsys_error_message(devsys_error_last()));
		say(w, "task %s: %s\n", id, devsys_task_state_name(state));
	} else {
		/* it stopped where it may go on (interrupted, a system failure): hand it back */
		if (devsys_store_release(w->store, id, s->owner, rc < 0 ? devsys_error_message(devsys_error_last()) : NULL) < 0)
			say(w, "task %s: cannot release: %s\n", id, devsys_error_message(devsys_error_last()));
		say(w, "task %s: handed back (%s)\n", id, state >= 0 ? devsys_task_state_name(state) : "unknown");
	}
	pthread_mutex_lock(&w->out_lock);
	w->ran++;
	w->failed += state != DEVSYS_STATE_AWAITING_REVIEW && state != DEVSYS_STATE_MERGED && state != DEVSYS_STATE_DONE &&
	             state != DEVSYS_STATE_NO_CHANGES;
	pthread_mutex_unlock(&w->out_lock);
}

static void *slot_main(void *arg)
{
	slot *s = arg;
	worker *w = s->w;
	devsys_buf id = DEVSYS_BUF_INIT;
	struct timespec idle = { 0, 200 * 1000 * 1000 };
	while (!w->stopping) {
		int rc = devsys_store_claim(&id, w->store, s->owner, w->host, w->profiles, w->nprofiles, w->lease_ms);
		if (rc == DEVSYS_ENOTFOUND) {
			if (w->once)
				break;
			nanosleep(&idle, NULL); /* polling; a shared backend would wake idle workers */
			continue;
		}
		if (rc < 0) {
			say(w, "worker: cannot claim: %s%s\n", devsys_error_message(devsys_error_last()), "");
			nanosleep(&idle, NULL);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		snprintf(s->task, sizeof(s->task), "%s", id.ptr);
		s->lost = false;
		pthread_mutex_unlock(&s->lock);
		run_one(s, id.ptr);
		pthread_mutex_lock(&s->lock);
		s->task[0] = '\0';
		pthread_mutex_unlock(&s->lock);
	}
	devsys_buf_dispose(&id);
	return NULL;
}

/* Every third of a lease, extend each held lease. */
static void *heartbeat_main(void *arg)
{
	worker *w = arg;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	long long next = now_ms() + w->lease_ms / 3;
	while (!w->finished) {
		nanosleep(&tick, NULL);
		if (now_ms() < next)
			continue;
		next = now_ms() + w->lease_ms / 3;
		for (int i = 0; i < w->jobs; i++) {
			slot *s = &w->slots[i];
			char task[128];
			pthread_mutex_lock(&s->lock);
			snprintf(task, sizeof(task), "%s", s->task);
			pthread_mutex_unlock(&s->lock);
			if (task[0] && devsys_store_heartbeat(w->store, task, s->owner, w->lease_ms) == DEVSYS_ESTATE) {
				pthread_mutex_lock(&s->lock);
				s->lost = !strcmp(task, s->task);
				pthread_mutex_unlock(&s->lock);
			}
		}
	}
	return NULL;
}

/*
 * SIGTERM/SIGINT: stop claiming; after the grace period, hand back every
 * task still running (the store marks it interrupted, naming its stage) and
 * exit at once, so no stage of this process writes after the hand-back.
 */
static void *signal_main(void *arg)
{
	worker *w = arg;
	sigset_t set;
	int sig = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 && !w->finished) {
		long long until;
		char grace[32];
		struct timespec tick = { 0, 50 * 1000 * 1000 };
		int busy = 1;
		if (sig == SIGUSR1)
			continue;
		w->stopping = 1;
		snprintf(grace, sizeof(grace), "%lu", w->grace_s);
		say(w, "worker: stopping (%s): no new claims; running tasks have %s s, then they are handed back\n",
		    sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
		until = now_ms() + (long long)w->grace_s * 1000;
		while (busy && now_ms() < until && !w->finished) {
			busy = 0;
			for (int i = 0; i < w->jobs; i++) {
				pthread_mutex_lock(&w->slots[i].lock);
				busy |= w->slots[i].task[0] != '\0';
				pthread_mutex_unlock(&w->slots[i].lock);
			}
			if (busy)
				nanosleep(&tick, NULL);
		}
		if (!busy || w->finished)
			return NULL;
		for (int i = 0; i < w->jobs; i++) {
			slot *s = &w->slots[i];
			pthread_mutex_lock(&s->lock);
			if (s->task[0]) {
				int rc = devsys_store_release(w->store, s->task, s->owner, "the worker stopped");
				pthread_mutex_lock(&w->out_lock);
				fprintf(stdout, "task %s: handed back%s%s\n", s->task, rc < 0 ? ": " : " (interrupted)",
				        rc < 0 ? devsys_error_message(devsys_error_last()) : "");
				fflush(stdout);
				pthread_mutex_unlock(&w->out_lock);
			}
			pthread_mutex_unlock(&s->lock);
		}
		_exit(DEVSYS_EXIT_INTERRUPTED);
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

static int worker_args(worker *w, int argc, char **argv)
{
	unsigned long v;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--once") || !strcmp(a, "--drain"))
			w->once = true;
		else if (!strcmp(a, "--jobs") && val) {
			if (parse_uint(w->cli, a, argv[++i], 64, &v) || v == 0)
				return v == 0 ? devsys_cli_usage_error(w->cli, "worker: --jobs must be 1..64") : DEVSYS_EXIT_USAGE;
			w->jobs = (int)v;
		} else if (!strcmp(a, "--lease-ms") && val) {
			if (parse_uint(w->cli, a, argv[++i], 3600000, &v) || v < 300)
				return v < 300 ? devsys_cli_usage_error(w->cli, "worker: --lease-ms must be 300..3600000")
				               : DEVSYS_EXIT_USAGE;
			w->lease_ms = (unsigned int)v;
		} else if (!strcmp(a, "--grace") && val) {
			if (parse_uint(w->cli, a, argv[++i], 86400, &w->grace_s))
				return DEVSYS_EXIT_USAGE;
		} else if (!strcmp(a, "--profile") && val) {
			w->profiles[w->nprofiles++] = argv[++i];
		} else if (!strcmp(a, "--config") && val) {
			w->config = argv[++i];
		} else if (!strcmp(a, "--id") && val) {
			if (strlen(val) >= 100 || !*val)
				return devsys_cli_usage_error(w->cli, "worker: --id must be 1..99 bytes");
			snprintf(w->id, sizeof(w->id), "%s", argv[++i]);
		} else
			return devsys_cli_usage_error(w->cli, "worker: unexpected argument '%s'", a);
	}
	return 0;
}

/*
 * Two workers with one id would take each other's leases for their own:
 * refuse an id that holds a live lease (a worker of that id runs, or died
 * less than a lease ago).
 */
static int refuse_taken_id(worker *w)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	json_t *j, *e;
	size_t i, n = strlen(w->id);
	int rc = 0;
	if (devsys_store_claims_json(w->store, NULL, &out) < 0) {
		devsys_buf_dispose(&out);
		return devsys_cli_fail_lib(w->cli, "cannot read the queue");
	}
	j = json_loads(out.ptr, 0, NULL);
	json_array_foreach(json_object_get(j, "queue"), i, e) {
		const char *owner = json_string_value(json_object_get(e, "owner"));
		long long left = (long long)json_integer_value(json_object_get(e, "lease_ms_left"));
		if (owner && !strncmp(owner, w->id, n) && owner[n] == '/' && left > 0) {
			rc = devsys_cli_usage_error(w->cli,
			                            "worker: id '%s' is in use: its job %s holds task %s (lease %lld ms "
			                            "left); give this worker another --id, or wait for the lease to expire",
			                            w->id, owner + n + 1, json_string_value(json_object_get(e, "task")), left);
			break;
		}
	}
	json_decref(j);
	devsys_buf_dispose(&out);
	return rc;
}

static int open_slots(worker *w)
{
	devsys_pipeline_options o = DEVSYS_PIPELINE_OPTIONS_INIT;
	o.config_path = w->config;
	if (!(w->slots = calloc((size_t)w->jobs, sizeof(*w->slots))))
		return DEVSYS_EXIT_SYSTEM;
	for (int i = 0; i < w->jobs; i++) {
		slot *s = &w->slots[i];
		s->w = w;
		pthread_mutex_init(&s->lock, NULL);
		snprintf(s->owner, sizeof(s->owner), "%s/%d", w->id, i + 1);
		if (devsys_pipeline_new(&s->p, w->ws, &o) < 0)
			return devsys_cli_fail_lib(w->cli, w->config ? "cannot open the task store or the configuration"
			                                             : "cannot open the task store");
	}
	return 0;
}

static int cmd_worker(devsys_cli *cli, int argc, char **argv)
{
	worker w;
	sigset_t set, old;
	pthread_t sigt, hbt;
	int rc;
	memset(&w, 0, sizeof(w));
	w.cli = cli;
	w.jobs = 1;
	w.lease_ms = 30000;
	w.grace_s = 30;
	pthread_mutex_init(&w.out_lock, NULL);
	if (!(w.profiles = calloc((size_t)argc, sizeof(*w.profiles))))
		return DEVSYS_EXIT_SYSTEM;
	if (gethostname(w.host, sizeof(w.host) - 1) != 0 || !w.host[0])
		snprintf(w.host, sizeof(w.host), "localhost");
	if ((rc = worker_args(&w, argc, argv)) != 0)
		goto out;
	if (!w.id[0])
		snprintf(w.id, sizeof(w.id), "%s:%ld", w.host, (long)getpid());
	/* blocked before any thread starts: only the signal thread takes them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if ((rc = devsys_cli_open_workspace(cli, &w.ws)) != 0)
		goto out;
	if (devsys_store_open(&w.store, w.ws, NULL) < 0) {
		rc = devsys_cli_fail_lib(cli, "cannot open the task store");
		goto out;
	}
	if ((rc = refuse_taken_id(&w)) != 0 || (rc = open_slots(&w)) != 0)
		goto out;
	if (!cli->json)
		printf("devsys worker %s: %d job(s), lease %u ms (workspace %s)\n", w.id, w.jobs, w.lease_ms,
		       devsys_workspace_path(w.ws));
	fflush(stdout);
	pthread_create(&sigt, NULL, signal_main, &w);
	pthread_create(&hbt, NULL, heartbeat_main, &w);
	for (int i = 0; i < w.jobs; i++)
		pthread_create(&w.slots[i].thread, NULL, slot_main, &w.slots[i]);
	for (int i = 0; i < w.jobs; i++)
		pthread_join(w.slots[i].thread, NULL);
	w.finished = 1;
	pthread_kill(sigt, SIGUSR1);
	pthread_join(sigt, NULL);
	pthread_join(hbt, NULL);
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:s,s:i,s:i,s:b}", "worker", w.id, "tasks", w.ran, "not_resting",
		                                w.failed, "stopped", (int)w.stopping));
	rc = w.stopping ? DEVSYS_EXIT_INTERRUPTED : w.failed ? DEVSYS_EXIT_FAILED : DEVSYS_EXIT_OK;
out:
	for (int i = 0; w.slots && i < w.jobs; i++) {
		devsys_pipeline_free(w.slots[i].p);
		pthread_mutex_destroy(&w.slots[i].lock);
	}
	free(w.slots);
	free(w.profiles);
	devsys_store_free(w.store);
	devsys_workspace_free(w.ws);
	return rc;
}

/* ---- devsys run SPEC... --jobs N: several tasks of this process at once ---- */

struct many;

typedef struct many_slot {
	struct many *m;
	pthread_t thread;
	devsys_pipeline *p; /* one pipeline per thread: a runner runs one command at a time */
} many_slot;

typedef struct many {
	devsys_cli *cli;
	char **ids;
	size_t n, next;
	int *states;
	char **outcomes;
	many_slot *slots;
	int jobs;
	pthread_mutex_t lock;
	volatile sig_atomic_t interrupted, finished;
} many;

static int many_add(struct many *m, const char *id)
{
	char **ids;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->ids[i], id))
			return 1; /* listed twice: run once */
	ids = realloc(m->ids, (m->n + 1) * sizeof(*ids));
	if (!ids)
		return -1;
	m->ids = ids;
	if (!(m->ids[m->n] = strdup(id)))
		return -1;
	m->n++;
	return 0;
}

static void *many_main(void *arg)
{
	many_slot *s = arg;
	many *m = s->m;
	for (;;) {
		devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
		size_t i;
		int rc;
		pthread_mutex_lock(&m->lock);
		i = m->interrupted ? m->n : m->next++;
		pthread_mutex_unlock(&m->lock);
		if (i >= m->n)
			break;
		if (!m->cli->json) {
			pthread_mutex_lock(&m->lock);
			printf("task %s: running\n", m->ids[i]);
			fflush(stdout);
			pthread_mutex_unlock(&m->lock);
		}
		if ((rc = devsys_pipeline_load(s->p, m->ids[i])) == 0)
			rc = devsys_pipeline_run(&res, s->p);
		pthread_mutex_lock(&m->lock);
		m->states[i] = devsys_store_task_state(devsys_pipeline_store(s->p), m->ids[i]);
		m->outcomes[i] = strdup(rc < 0 ? devsys_error_message(devsys_error_last()) : res.outcome ? res.outcome : "");
		if (!m->cli->json) {
			printf("task %s: %s\n", m->ids[i], m->states[i] >= 0 ? devsys_task_state_name(m->states[i]) : "unknown");
			fflush(stdout);
		}
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

/* SIGINT/SIGTERM cancel every running stage (a thread of its own: cancel is not for signal handlers). */
static void *many_signals(void *arg)
{
	many *m = arg;
	sigset_t set;
	int sig = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 && !m->finished)
		if (sig != SIGUSR1) {
			m->interrupted = 1;
			for (int i = 0; i < m->jobs; i++)
				devsys_pipeline_cancel(m->slots[i].p);
		}
	return NULL;
}

static bool resting(int state)
{
	return state == DEVSYS_STATE_AWAITING_REVIEW || state == DEVSYS_STATE_MERGED || state == DEVSYS_STATE_DONE ||
	       state == DEVSYS_STATE_NO_CHANGES;
}

static int many_report(many *m)
{
	int rc = DEVSYS_EXIT_OK;
	json_t *arr = m->cli->json ? json_array() : NULL;
	if (!m->cli->json)
		printf("\n%-28s %-16s %s\n", "TASK", "STATE", "LAST");
	for (size_t i = 0; i < m->n; i++) {
		const char *state = m->states[i] >= 0 ? devsys_task_state_name(m->states[i]) : "not run";
		if (arr)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "task", m->ids[i], "state", state, "last",
			                                     m->outcomes[i] ? m->outcomes[i] : ""));
		else
			printf("%-28s %-16s %s\n", m->ids[i], state, m->outcomes[i] ? m->outcomes[i] : "");
		if (!resting(m->states[i]))
			rc = DEVSYS_EXIT_FAILED;
	}
	if (arr)
		devsys_cli_print_json(json_pack("{s:o,s:b}", "tasks", arr, "interrupted", (int)m->interrupted));
	return m->interrupted ? DEVSYS_EXIT_INTERRUPTED : rc;
}

/* Validate every document of @p files (the library's validate stage) and collect the task ids to run. */
static int many_validate(many *m, devsys_pipeline *p, char **files, int nfiles)
{
	struct submit s;
	memset(&s, 0, sizeof(s));
	s.cli = m->cli;
	s.p = p;
	s.run_ids = m;
	for (int i = 0; i < nfiles; i++) {
		devsys_buf b = DEVSYS_BUF_INIT;
		int rc = read_file(m->cli, files[i], &b);
		if (rc == 0)
			submit_file(&s, files[i], &b);
		devsys_buf_dispose(&b);
		if (rc != 0)
			return rc;
	}
	return s.worst;
}

int devsys_cli_run_many(devsys_cli *cli, char **files, int nfiles, int jobs, const char *config)
{
	devsys_pipeline_options o = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	devsys_pipeline *vp = NULL;
	sigset_t set, old;
	pthread_t sigt;
	many m;
	int rc;
	memset(&m, 0, sizeof(m));
	m.cli = cli;
	m.jobs = jobs;
	pthread_mutex_init(&m.lock, NULL);
	o.config_path = config;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0)
		goto out;
	if (devsys_pipeline_new(&vp, ws, &o) < 0) {
		rc = devsys_cli_fail_lib(cli, "cannot open the task store");
		goto out;
	}
	/* every spec is validated before any task runs: an invalid one stops the run, nothing of it registered */
	if ((rc = many_validate(&m, vp, files, nfiles)) != 0)
		goto out;
	if (!(m.states = calloc(m.n ? m.n : 1, sizeof(*m.states))) || !(m.outcomes = calloc(m.n ? m.n : 1, sizeof(char *))) ||
	    !(m.slots = calloc((size_t)jobs, sizeof(*m.slots)))) {
		rc = DEVSYS_EXIT_SYSTEM;
		goto out;
	}
	for (size_t i = 0; i < m.n; i++)
		m.states[i] = -1;
	for (int i = 0; i < jobs; i++) {
		m.slots[i].m = &m;
		if (devsys_pipeline_new(&m.slots[i].p, ws, &o) < 0) {
			rc = devsys_cli_fail_lib(cli, "cannot open the task store");
			goto out;
		}
	}
	if (!cli->json)
		printf("devsys run: %zu task(s), %d at a time (workspace %s)\n", m.n, jobs, devsys_workspace_path(ws));
	pthread_create(&sigt, NULL, many_signals, &m);
	for (int i = 0; i < jobs; i++)
		pthread_create(&m.slots[i].thread, NULL, many_main, &m.slots[i]);
	for (int i = 0; i < jobs; i++)
		pthread_join(m.slots[i].thread, NULL);
	m.finished = 1;
	pthread_kill(sigt, SIGUSR1);
	pthread_join(sigt, NULL);
	rc = many_report(&m);
out:
	for (int i = 0; m.slots && i < jobs; i++)
		devsys_pipeline_free(m.slots[i].p);
	for (size_t i = 0; i < m.n; i++) {
		free(m.ids[i]);
		if (m.outcomes)
			free(m.outcomes[i]);
	}
	free(m.ids);
	free(m.outcomes);
	free(m.states);
	free(m.slots);
	devsys_pipeline_free(vp);
	devsys_workspace_free(ws);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * `devsys run` with --jobs N or several spec files: this, else -1 (the
 * single-task run of cmd_run.c). --resume stays single.
 */
int devsys_cli_run_many_argv(devsys_cli *cli, int argc, char **argv)
{
	const char *config = NULL;
	char **files;
	unsigned long jobs = 0;
	int nfiles = 0, rc;
	bool many_mode = false;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--resume"))
			return -1;
	if (!(files = calloc((size_t)argc, sizeof(*files))))
		return DEVSYS_EXIT_SYSTEM;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
			char *end;
			errno = 0;
			jobs = strtoul(argv[++i], &end, 10);
			if (errno || *end || jobs < 1 || jobs > 64) {
				free(files);
				return devsys_cli_usage_error(cli, "run: --jobs '%s' is not a number of 1..64", argv[i]);
			}
			many_mode = true;
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
		else if (argv[i][0] != '-' || !argv[i][1])
			files[nfiles++] = argv[i];
	}
	many_mode = many_mode || nfiles > 1;
	if (!many_mode) {
		free(files);
		return -1;
	}
	if (!nfiles) {
		free(files);
		return devsys_cli_usage_error(cli, "run --jobs N needs spec files");
	}
	rc = devsys_cli_run_many(cli, files, nfiles, jobs ? (int)jobs : 1, config);
	free(files);
	return rc;
}

/* ---- devsys queue: the queue and the claim log ---- */

static int cmd_queue(devsys_cli *cli, int argc, char **argv)
{
	devsys_workspace *ws = NULL;
	devsys_store *st = NULL;
	devsys_buf out = DEVSYS_BUF_INIT;
	const char *task = argc > 1 ? argv[1] : NULL;
	int rc;
	if (argc > 2 || (task && task[0] == '-'))
		return devsys_cli_usage_error(cli, "queue: unexpected argument '%s' (usage: queue [TASK])", argv[argc - 1]);
	if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0)
		return rc;
	if (devsys_store_open(&st, ws, NULL) < 0 || devsys_store_claims_json(st, task, &out) < 0)
		rc = devsys_cli_fail_lib(cli, "cannot read the queue");
	else if (cli->json)
		printf("%s\n", out.ptr);
	else {
		json_t *j = json_loads(out.ptr, 0, NULL), *e;
		size_t i;
		printf("%-28s %-10s %-24s %s\n", "QUEUED TASK", "PROFILE", "OWNER", "LEASE LEFT");
		json_array_foreach(json_object_get(j, "queue"), i, e)
			printf("%-28s %-10s %-24s %lld ms\n", json_string_value(json_object_get(e, "task")),
			       json_string_value(json_object_get(e, "profile"))[0] ? json_string_value(json_object_get(e, "profile")) : "-",
			       json_is_string(json_object_get(e, "owner")) ? json_string_value(json_object_get(e, "owner")) : "-",
			       (long long)json_integer_value(json_object_get(e, "lease_ms_left")));
		printf("(%zu queued, %zu claims logged)\n", json_array_size(json_object_get(j, "queue")),
		       json_array_size(json_object_get(j, "claims")));
		json_decref(j);
	}
	devsys_buf_dispose(&out);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return rc;
}

#else

static int cmd_queue(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return devsys_cli_usage_error(cli, "devsys queue needs the pipeline module in this build");
}

static int cmd_submit(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return devsys_cli_usage_error(cli, "devsys submit needs the pipeline module in this build");
}

static int cmd_worker(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return devsys_cli_usage_error(cli, "devsys worker needs the pipeline module in this build");
}

#endif

const devsys_cli_command devsys_cli_queue_commands[] = {
	{ "submit", "[--config FILE] [--profile P] SPEC...",
	  "validate tasks (one per YAML document) and queue them for a worker", cmd_submit },
	{ "worker", "[--jobs N] [--profile P...] [--once] [--lease-ms MS] [--grace SECS] [--id ID] [--config FILE]",
	  "claim queued tasks and run the pipeline on each (--once: exit when the queue is empty)", cmd_worker },
	{ "queue", "[TASK]", "the queued tasks, their leases and (--json) the claim log", cmd_queue },
	{ NULL, NULL, NULL, NULL }
};
