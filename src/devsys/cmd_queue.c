/*
 * devsys submit SPEC...: validate each task (one per YAML document) with the
 * library's validate stage and queue it in the store.
 * (devsys worker, the queue's claimer, is cmd_worker.c.)
 * devsys run SPEC... --jobs N: several tasks of this process at once, one
 * pipeline per thread.
 * devsys queue: the queue and the claim log.
 */
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(DEVSYS_HAVE_MODULE_PIPELINE)

#include <pthread.h>

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
	devsys_cli_progress *view; /* every running task, fed by each slot's pipeline */
	pthread_mutex_t lock;
	volatile sig_atomic_t interrupted, finished;
	/* per task: its runner profile's max_concurrent (0: none), whether it started and ended */
	char **profiles;
	unsigned int *limits;
	unsigned char *started, *ended;
	pthread_cond_t room; /* a task ended: a profile at its limit may have room again */
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

static bool many_has_room(const many *m, size_t i)
{
	unsigned int running = 0;
	if (!m->limits[i])
		return true;
	for (size_t k = 0; k < m->n; k++)
		running += m->started[k] && !m->ended[k] && !strcmp(m->profiles[k], m->profiles[i]);
	return running < m->limits[i];
}

/*
 * The next task to run (m->lock held): the first not started whose profile
 * is under its max_concurrent; waits while every one left is held back by
 * a limit. m->n when none is left (or the run was interrupted).
 */
static size_t many_next(many *m)
{
	for (;;) {
		bool left = false;
		if (m->interrupted)
			return m->n;
		for (size_t i = 0; i < m->n; i++) {
			if (m->started[i])
				continue;
			left = true;
			if (many_has_room(m, i)) {
				m->started[i] = 1;
				return i;
			}
		}
		if (!left)
			return m->n;
		pthread_cond_wait(&m->room, &m->lock);
	}
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
		i = many_next(m);
		pthread_mutex_unlock(&m->lock);
		if (i >= m->n)
			break;
		devsys_cli_progress_task(m->view, m->ids[i], NULL);
		if ((rc = devsys_pipeline_load(s->p, m->ids[i])) == 0)
			rc = devsys_pipeline_run(&res, s->p);
		pthread_mutex_lock(&m->lock);
		m->states[i] = devsys_store_task_state(devsys_pipeline_store(s->p), m->ids[i]);
		m->outcomes[i] = strdup(rc < 0 ? devsys_error_message(devsys_error_last()) : res.outcome ? res.outcome : "");
		m->ended[i] = 1;
		pthread_cond_broadcast(&m->room);
		pthread_mutex_unlock(&m->lock);
		devsys_cli_progress_task(m->view, m->ids[i],
		                         m->states[i] >= 0 ? devsys_task_state_name(m->states[i]) : "unknown");
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
			pthread_mutex_lock(&m->lock);
			m->interrupted = 1;
			pthread_cond_broadcast(&m->room); /* a job waiting for room ends */
			pthread_mutex_unlock(&m->lock);
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

/* As `devsys run` of one task: a live view on a terminal, plain lines elsewhere, none with --json. */
static int run_view_mode(const devsys_cli *cli)
{
	return cli->json ? DEVSYS_CLI_PROGRESS_QUIET
	       : isatty(STDOUT_FILENO) ? DEVSYS_CLI_PROGRESS_LIVE
	                               : DEVSYS_CLI_PROGRESS_LINES;
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

/* The registered tasks @p ids (none validated again), each once. */
static int many_add_ids(many *m, const char *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (many_add(m, ids[i]) < 0)
			return DEVSYS_EXIT_SYSTEM;
	return 0;
}

/* Each task's runner profile (its spec's runner) and that profile's max_concurrent in @p config. */
static int many_limits(many *m, devsys_pipeline *vp, const char *config)
{
	devsys_config *cfg = NULL;
	if (!(m->profiles = calloc(m->n ? m->n : 1, sizeof(char *))) || !(m->limits = calloc(m->n ? m->n : 1, sizeof(unsigned int))) ||
	    !(m->started = calloc(m->n ? m->n : 1, 1)) || !(m->ended = calloc(m->n ? m->n : 1, 1)))
		return DEVSYS_EXIT_SYSTEM;
	if (config && devsys_config_load(&cfg, config) < 0)
		return devsys_cli_fail_lib(m->cli, "cannot load the configuration");
	for (size_t i = 0; i < m->n; i++) {
		const char *profile = NULL;
		if (devsys_pipeline_load(vp, m->ids[i]) == 0)
			profile = devsys_spec_get_string(devsys_pipeline_spec(vp), "/runner");
		if (!(m->profiles[i] = strdup(profile ? profile : ""))) {
			devsys_config_free(cfg);
			return DEVSYS_EXIT_SYSTEM;
		}
		if (cfg && profile && devsys_config_runner_max_concurrent(&m->limits[i], cfg, profile) < 0)
			m->limits[i] = 0; /* a profile devsys.yaml lacks has no limit; its step reports it */
	}
	devsys_config_free(cfg);
	return 0;
}

/* The tasks of @p files (validated first) or, with @p files NULL, the registered tasks @p ids. */
static int run_many(devsys_cli *cli, char **files, int nfiles, const char *const *ids, size_t nids, int jobs,
                    const char *config)
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
	pthread_cond_init(&m.room, NULL);
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
	if ((rc = files ? many_validate(&m, vp, files, nfiles) : many_add_ids(&m, ids, nids)) != 0)
		goto out;
	if (!(m.states = calloc(m.n ? m.n : 1, sizeof(*m.states))) || !(m.outcomes = calloc(m.n ? m.n : 1, sizeof(char *))) ||
	    !(m.slots = calloc((size_t)jobs, sizeof(*m.slots)))) {
		rc = DEVSYS_EXIT_SYSTEM;
		goto out;
	}
	for (size_t i = 0; i < m.n; i++)
		m.states[i] = -1;
	if ((rc = many_limits(&m, vp, config)) != 0)
		goto out;
	if (!(m.view = devsys_cli_progress_new_many(cli, stdout, run_view_mode(cli), m.ids, m.n, (size_t)jobs))) {
		rc = DEVSYS_EXIT_SYSTEM;
		goto out;
	}
	o.progress = devsys_cli_progress_event;
	o.progress_payload = m.view;
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
	devsys_cli_progress_free(m.view); /* the live block goes before the summary */
	m.view = NULL;
	rc = many_report(&m);
out:
	for (int i = 0; m.slots && i < jobs; i++)
		devsys_pipeline_free(m.slots[i].p);
	devsys_cli_progress_free(m.view);
	for (size_t i = 0; i < m.n; i++) {
		free(m.ids[i]);
		if (m.outcomes)
			free(m.outcomes[i]);
		if (m.profiles)
			free(m.profiles[i]);
	}
	free(m.profiles);
	free(m.limits);
	free(m.started);
	free(m.ended);
	pthread_cond_destroy(&m.room);
	free(m.ids);
	free(m.outcomes);
	free(m.states);
	free(m.slots);
	devsys_pipeline_free(vp);
	devsys_workspace_free(ws);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int devsys_cli_run_many(devsys_cli *cli, char **files, int nfiles, int jobs, const char *config)
{
	return run_many(cli, files, nfiles, NULL, 0, jobs, config);
}

int devsys_cli_run_task_ids(devsys_cli *cli, const char *const *ids, size_t n, int jobs, const char *config)
{
	return run_many(cli, NULL, 0, ids, n, jobs, config);
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
	const char *task = NULL, *config = NULL;
	int rc;
	for (int i = 1; i < argc; i++) {
		if (devsys_cli_config_arg(&config, &i, argc, argv))
			continue;
		if (task || argv[i][0] == '-')
			return devsys_cli_usage_error(cli, "queue: unexpected argument '%s' (usage: queue [--config FILE] [TASK])",
			                              argv[i]);
		task = argv[i];
	}
	if ((rc = devsys_cli_open_store(cli, &ws, &st, config)) != 0)
		return rc;
	if (devsys_store_claims_json(st, task, &out) < 0)
		rc = devsys_cli_fail_lib(cli, "cannot read the queue");
	else if (cli->json)
		printf("%s\n", out.ptr);
	else {
		json_t *j = json_loads(out.ptr, 0, NULL), *e;
		size_t i;
		printf("%-28s %-10s %-24s %s\n", "QUEUED TASK", "PROFILE", "OWNER", "LEASE LEFT");
		json_array_foreach(json_object_get(j, "queue"), i, e) {
			const char *profile = json_string_value(json_object_get(e, "profile"));
			const char *owner = json_string_value(json_object_get(e, "owner"));
			char left[32];
			/* free: no lease; expired: its owner lost it, and the next claim takes it back */
			if (!owner)
				snprintf(left, sizeof(left), "-");
			else if (!json_is_true(json_object_get(e, "held")))
				snprintf(left, sizeof(left), "expired");
			else
				snprintf(left, sizeof(left), "%lld ms",
				         (long long)json_integer_value(json_object_get(e, "lease_ms_left")));
			printf("%-28s %-10s %-24s %s\n", json_string_value(json_object_get(e, "task")),
			       profile && profile[0] ? profile : "-", owner ? owner : "-", left);
		}
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

#endif

const devsys_cli_command devsys_cli_queue_commands[] = {
	{ "submit", "[--config FILE] [--profile P] SPEC...",
	  "validate tasks (one per YAML document) and queue them for a worker", cmd_submit },
	{ "queue", "[--config FILE] [TASK]", "the queued tasks, their leases and (--json) the claim log", cmd_queue },
	{ NULL, NULL, NULL, NULL }
};
