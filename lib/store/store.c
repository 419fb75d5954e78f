/*
 * The task store: the state machine, the files it keeps in step (task.json
 * "state", events.jsonl), crash recovery and drift checks. Rows are kept by
 * a backend (backend.h).
 */
#include "store/backend.h"
#include "store/store_int.h"
#include "store/store_txn.h"
#include "devsys/record.h"
#include "devsys/store.h"
#include "record/record_int.h"
#include "devsys/features.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A file update held back until its transaction commits (backends with DEVSYS__STORE_RETRY). */
struct pending_sync {
	devsys__task_row r;
	int from;
	char *reason;
	bool create;
};

struct devsys_store {
	devsys_workspace *ws;
	const devsys__store_backend *be;
	void *self;
	pthread_mutex_t lock;
	/* inside a transaction of a backend whose commit can be lost: the file updates it makes */
	bool defer;
	struct pending_sync *pending;
	size_t npending, cap_pending;
};

static const char *const state_names[DEVSYS_STATE_COUNT] = {
	"created", "validated", "checked-out", "coded", "committed", "pushed", "pr-opened", "tested", "deployed",
	"awaiting-review", "merged", "done", "no-changes", "deploy-skipped", "failed", "canceled", "interrupted",
	"queued"
};

static const size_t store_options_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_store_options, busy_timeout_ms), /* 1 */
	DEVSYS__SIZE_THROUGH(devsys_store_options, password_secret), /* 2 */
};

const char *devsys_task_state_name(int state)
{
	return state >= 0 && state < DEVSYS_STATE_COUNT ? state_names[state] : NULL;
}

int devsys_task_state_parse(const char *name)
{
	if (name)
		for (int i = 0; i < DEVSYS_STATE_COUNT; i++)
			if (strcmp(name, state_names[i]) == 0)
				return i;
	return devsys__error_set(DEVSYS_EINVAL,
	                         "'%.40s' is not a task state; states are: created, validated, checked-out, coded, "
	                         "committed, pushed, pr-opened, tested, deployed, awaiting-review, merged, done, "
	                         "no-changes, deploy-skipped, failed, canceled, interrupted, queued",
	                         name ? name : "(null)");
}

static bool is_final(int s)
{
	return s == DEVSYS_STATE_DONE || s == DEVSYS_STATE_FAILED || s == DEVSYS_STATE_CANCELED;
}

int devsys_task_state_allowed(int from, int to)
{
	if (from < 0 || from >= DEVSYS_STATE_COUNT || to < 0 || to >= DEVSYS_STATE_COUNT || is_final(from))
		return 0;
	if (to == DEVSYS_STATE_FAILED || to == DEVSYS_STATE_CANCELED)
		return 1;
	if (to == DEVSYS_STATE_INTERRUPTED) /* a queued task runs nothing that could be interrupted */
		return from != DEVSYS_STATE_INTERRUPTED && from != DEVSYS_STATE_QUEUED;
	if (from == DEVSYS_STATE_INTERRUPTED)
		return 0; /* only devsys_store_resume() leaves interrupted */
	if (from == DEVSYS_STATE_QUEUED) /* claimed: the pipeline goes on from checkout */
		return to == DEVSYS_STATE_VALIDATED;
	if (from == DEVSYS_STATE_VALIDATED && to == DEVSYS_STATE_QUEUED)
		return 1;
	if (from <= DEVSYS_STATE_MERGED && to == from + 1)
		return 1;
	switch (from) {
	case DEVSYS_STATE_CHECKED_OUT:
	case DEVSYS_STATE_CODED:
		return to == DEVSYS_STATE_NO_CHANGES;
	case DEVSYS_STATE_NO_CHANGES:
		return to == DEVSYS_STATE_DONE;
	case DEVSYS_STATE_TESTED:
		return to == DEVSYS_STATE_DEPLOY_SKIPPED;
	case DEVSYS_STATE_DEPLOY_SKIPPED:
		return to == DEVSYS_STATE_AWAITING_REVIEW || to == DEVSYS_STATE_DONE;
	case DEVSYS_STATE_AWAITING_REVIEW:
		return to == DEVSYS_STATE_DONE;
	default:
		return 0;
	}
}

int devsys_store_options_init(devsys_store_options *opts, unsigned int version)
{
	static const devsys_store_options defaults = DEVSYS_STORE_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, store_options_sizes, DEVSYS_STORE_OPTIONS_VERSION, version, __func__);
}

/* ---- process identity, for recovery ---- */

/* shared with the Docker runner's container labels (lib/core/owner.c) */
#define proc_start devsys__proc_start
#define boot_id devsys__boot_id

static bool owner_alive(const devsys__task_row *r)
{
	return devsys__owner_alive(r->owner_pid, r->owner_start, r->owner_boot);
}

/*
 * Whether recovery may judge @p r's stage owner by its pid and boot id:
 * only on a backend one host has alone. On a shared backend another boot
 * id is another host, not a dead owner; there the lease says who is alive.
 */
static bool owner_lost(const devsys_store *st, const devsys__task_row *r)
{
	return !(st->be->flags & DEVSYS__STORE_SHARED) && !owner_alive(r);
}

/*
 * On a shared backend, does @p r's stage owner run on another host (another
 * boot id)? Its pid names no process here then, and cannot be signaled.
 */
static bool owner_elsewhere(const devsys_store *st, const devsys__task_row *r)
{
	char here[40];
	if (!(st->be->flags & DEVSYS__STORE_SHARED) || !r->owner_boot[0])
		return false;
	boot_id(here, sizeof(here));
	return strcmp(here, r->owner_boot) != 0;
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- open/close ---- */

/*
 * @p url for a message: a password in its user part or its query is
 * replaced by "***", so a refusal never repeats it.
 */
static void redact_url(char *out, size_t size, const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL, *colon = NULL;
	size_t len = 0;
	auth = auth ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	for (const char *c = auth; c < end; c++)
		if (*c == '@')
			at = c;
	for (const char *c = auth; at && c < at && !colon; c++)
		if (*c == ':')
			colon = c;
	if (colon)
		len = (size_t)snprintf(out, size, "%.*s:***%.*s", (int)(colon - url), url, (int)(end - at), at);
	else
		len = (size_t)snprintf(out, size, "%.*s", (int)(end - url), url);
	for (const char *q = end; *q && len < size; q++) { /* copy the rest, masking password=... values */
		if ((q[-1] == '?' || q[-1] == '&') && !strncasecmp(q, "password=", 9)) {
			len += (size_t)snprintf(out + len, size - len, "password=***");
			q += 9 + strcspn(q + 9, "&#") - 1;
			continue;
		}
		out[len++] = *q;
		out[len < size ? len : size - 1] = '\0';
	}
	if (size)
		out[len < size ? len : size - 1] = '\0';
}

/* A PostgreSQL URL without a password, or a clear refusal naming it (redacted). */
static int check_url(const char *url)
{
	char shown[300];
	const char *auth, *end, *q;
	bool has_password = false;
	redact_url(shown, sizeof(shown), url);
	if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0)
		return devsys__error_set(DEVSYS_EINVAL,
		                         "store URL '%s' is not a postgresql:// URL (leave it unset for SQLite in the "
		                         "workspace)",
		                         shown);
	auth = strstr(url, "://") + 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *c = auth; c < end && !has_password; c++)
		if (*c == '@')
			has_password = memchr(auth, ':', (size_t)(c - auth)) != NULL;
	for (q = strchr(url, '?'); q && !has_password; q = strchr(q + 1, '&'))
		has_password = !strncasecmp(q + 1, "password=", 9);
	if (has_password)
		return devsys__error_set(DEVSYS_EINVAL,
		                         "store URL '%s' carries a password: a URL gets logged, so the password comes "
		                         "from the store's password secret (store: password_secret in devsys.yaml) or "
		                         "from PGPASSFILE / ~/.pgpass",
		                         shown);
	return 0;
}

/* The backend of @p o (its URL, then DEVSYS_STORE_URL, then SQLite) opened into @p st. */
static int open_backend(devsys_store *st, devsys_workspace *ws, const devsys_store_options *o)
{
	const char *url = o->url && o->url[0] ? o->url : getenv("DEVSYS_STORE_URL");
	unsigned int busy = o->busy_timeout_ms ? o->busy_timeout_ms : 10000;
	int rc;
	if (!url || !url[0]) {
		st->be = &devsys__store_sqlite;
		return st->be->open(&st->self, devsys_workspace_path(ws), busy);
	}
	if ((rc = check_url(url)) < 0)
		return rc;
#ifdef DEVSYS_FEATURE_POSTGRESQL
	st->be = &devsys__store_postgresql;
	return st->be->open_url(&st->self, url, o->secrets, o->password_secret, busy);
#else
	return devsys__error_set(DEVSYS_ENOTSUPPORTED,
	                         "store URL: this libdevsys was built without the postgresql feature (libpq)");
#endif
}

int devsys_store_open(devsys_store **out, devsys_workspace *ws, const devsys_store_options *opts)
{
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	devsys_store *st;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(ws);
	if (opts && (rc = devsys__versioned_copy(&o, opts, store_options_sizes, DEVSYS_STORE_OPTIONS_VERSION,
	                                         "devsys_store_options")) < 0)
		return rc;
	if (!(st = devsys__calloc(1, sizeof(*st))))
		return devsys__error_oom();
	pthread_mutex_init(&st->lock, NULL);
	if ((rc = open_backend(st, ws, &o)) < 0) {
		pthread_mutex_destroy(&st->lock);
		devsys__free(st);
		return rc;
	}
	devsys__workspace_ref(ws);
	st->ws = ws;
	if (!(o.flags & DEVSYS_STORE_NO_RECOVER) && (rc = devsys_store_recover(st, NULL)) < 0) {
		devsys_store_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void devsys_store_free(devsys_store *st)
{
	if (!st)
		return;
	st->be->close(st->self);
	devsys__free(st->pending);
	devsys_workspace_free(st->ws);
	pthread_mutex_destroy(&st->lock);
	devsys__free(st);
}

/* ---- files kept in step ---- */

static int write_files(devsys_store *st, const devsys__task_row *r, int from, const char *reason, bool create);

/*
 * Write task.json's state and append the event; called inside the
 * transaction. On a backend whose commit can be lost with its connection
 * (PostgreSQL), they are written once the transaction has committed, so a
 * transaction that is rolled back or run again leaves no event behind.
 */
static int sync_files(devsys_store *st, const devsys__task_row *r, int from, const char *reason, bool create)
{
	struct pending_sync *p;
	if (!st->defer)
		return write_files(st, r, from, reason, create);
	if (st->npending == st->cap_pending) {
		size_t cap = st->cap_pending ? st->cap_pending * 2 : 4;
		if (!(p = devsys__realloc(st->pending, cap * sizeof(*p))))
			return devsys__error_oom();
		st->pending = p;
		st->cap_pending = cap;
	}
	p = &st->pending[st->npending];
	p->r = *r;
	p->from = from;
	p->create = create;
	if (reason && !(p->reason = devsys__strdup(reason)))
		return devsys__error_oom();
	if (!reason)
		p->reason = NULL;
	st->npending++;
	return 0;
}

/* After a commit (@p rc 0), the held-back file updates; after a rollback, none. */
static int sync_pending(devsys_store *st, int rc)
{
	/* their documents go in one transaction of their own: one commit for them all, not one a document */
	bool txn = false;
	if (rc == 0 && st->npending && st->defer && st->be->doc_put) {
		txn = st->be->begin(st->self) == 0;
		if (!txn)
			devsys_error_clear(); /* the files are still written; each document then commits on its own */
	}
	for (size_t i = 0; i < st->npending; i++) {
		struct pending_sync *p = &st->pending[i];
		if (rc == 0)
			rc = write_files(st, &p->r, p->from, p->reason, p->create);
		devsys__free(p->reason);
	}
	if (txn && rc == 0)
		rc = st->be->commit(st->self);
	if (txn && rc < 0)
		st->be->rollback(st->self);
	st->npending = 0;
	st->defer = false;
	return rc;
}

/* The largest record document kept in the store; a larger JUnit report stays in the folder only. */
#define DOC_MAX (4u << 20)

/*
 * Does @p st keep copies of the record documents? Only a store that
 * several hosts share: on SQLite every process of the workspace sees the
 * task folders, so a copy would only cost (bench/store/bench_docs).
 */
static bool keeps_documents(const devsys_store *st)
{
	return st->be->doc_put && (st->be->flags & DEVSYS__STORE_SHARED);
}

static int read_task_file(devsys_buf *out, const devsys_task *task, devsys_record_file file, unsigned int run);

/* The most of events.jsonl kept in the store: its last lines up to this. */
#define EVENTS_MAX (256u << 10)

/*
 * The JSON lines of the open file @p fd into @p out: all of them up to
 * EVENTS_MAX, else the last whole lines within EVENTS_MAX after a first line
 * {"truncated":true,"dropped_bytes":N} saying how much is only in the folder.
 */
static int read_jsonl_tail(devsys_buf *out, int fd, const char *id, const char *what)
{
	struct stat sb;
	off_t from = 0;
	char *raw = NULL, *nl;
	size_t cut = 0, want = EVENTS_MAX;
	ssize_t n;
	int rc = 0;
	if (fstat(fd, &sb) < 0)
		return devsys__error_set(DEVSYS_EIO, "%s of task '%s': %s", what, id, strerror(errno));
	devsys_buf_clear(out);
	if (sb.st_size > (off_t)EVENTS_MAX)
		from = sb.st_size - (off_t)EVENTS_MAX;
	else
		want = (size_t)sb.st_size; /* a small file (most are) gets a buffer of its size, not of the cap */
	/* the lines as of the fstat: one appended since is kept by the next state change (+1: never malloc(0)) */
	if (!(raw = devsys__malloc(want + 1)))
		return DEVSYS_ENOMEM;
	if ((n = pread(fd, raw, want, from)) < 0) {
		rc = devsys__error_set(DEVSYS_EIO, "%s of task '%s': %s", what, id, strerror(errno));
		goto done;
	}
	if (from > 0 && (nl = memchr(raw, '\n', (size_t)n))) {
		cut = (size_t)(nl + 1 - raw);
		rc = devsys_buf_printf(out, "{\"truncated\":true,\"dropped_bytes\":%llu}\n",
		                       (unsigned long long)from + cut);
	}
	if (rc == 0)
		rc = devsys_buf_put(out, raw + cut, (size_t)n - cut);
done:
	devsys__free(raw);
	return rc;
}

/* @p task's events.jsonl into @p out, as read_jsonl_tail() keeps it. */
static int read_events_tail(devsys_buf *out, const devsys_task *task)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	int fd = -1, rc = devsys_record_path(&p, task, DEVSYS_RECORD_FILE_EVENTS, 0, NULL);
	if (rc == 0 && (fd = open(p.ptr, O_RDONLY | O_CLOEXEC)) < 0)
		rc = errno == ENOENT ? DEVSYS_ENOTFOUND : devsys__error_set(DEVSYS_EIO, "%s: %s", p.ptr, strerror(errno));
	devsys_buf_dispose(&p);
	if (rc == 0)
		rc = read_jsonl_tail(out, fd, devsys_task_id(task), "events");
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * The coding agent's event stream (logs/agent.jsonl, masked as the agent
 * stage wrote it), kept as "agent.jsonl" as read_jsonl_tail() reads it, at
 * the state change that ends the agent stage; no such file: nothing kept.
 * The path is confined to the folder and a symbolic link is not followed,
 * as devsysd serves the file.
 */
static int keep_agent_events(devsys_store *st, const devsys_task *task)
{
	const char *id = devsys_task_id(task);
	devsys_buf p = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	struct stat sb;
	int fd = -1, rc = devsys_task_path_join(&p, task, "logs/agent.jsonl");
	if (rc < 0 || (fd = open(p.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &sb) < 0 ||
	    !S_ISREG(sb.st_mode)) {
		devsys_error_clear();
		rc = 0; /* an agent that wrote no event stream */
	} else if ((rc = read_jsonl_tail(&b, fd, id, "the agent's events")) == 0)
		rc = st->be->doc_put(st->self, id, "agent.jsonl", b.ptr ? b.ptr : "", b.size);
	if (fd >= 0)
		close(fd);
	devsys_buf_dispose(&p);
	devsys_buf_dispose(&b);
	return rc;
}

/* The most of a stage log kept in the store: its last lines up to this. */
#define LOG_TAIL_MAX (16u << 10)

/*
 * Where stage @p stage's log is (this host's name and the file's absolute
 * path) and its last whole lines up to LOG_TAIL_MAX (the log is masked as
 * it is written), kept as "logs/<stage>": {"host","path","size",
 * "tail_from","tail"}. No log: nothing kept.
 */
static int keep_log_tail(devsys_store *st, const devsys_task *task, const char *stage)
{
	const char *id = devsys_task_id(task);
	devsys_buf p = DEVSYS_BUF_INIT;
	char host[256] = "", name[DEVSYS_TASK_ID_MAX + 8], raw[LOG_TAIL_MAX], *nl, *body = NULL;
	struct stat sb;
	off_t from = 0;
	ssize_t n;
	size_t cut = 0;
	json_t *doc;
	int fd = -1, rc = devsys_record_path(&p, task, DEVSYS_RECORD_FILE_LOG, 0, stage);
	if (rc < 0 || (fd = open(p.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &sb) < 0 ||
	    !S_ISREG(sb.st_mode)) {
		devsys_error_clear();
		rc = 0; /* a stage that writes no log */
		goto done;
	}
	if (sb.st_size > (off_t)LOG_TAIL_MAX)
		from = sb.st_size - (off_t)LOG_TAIL_MAX;
	if ((n = pread(fd, raw, sizeof(raw), from)) < 0) {
		rc = devsys__error_set(DEVSYS_EIO, "log of stage %s of task '%s': %s", stage, id, strerror(errno));
		goto done;
	}
	if (from > 0 && (nl = memchr(raw, '\n', (size_t)n)))
		cut = (size_t)(nl + 1 - raw);
	gethostname(host, sizeof(host) - 1);
	doc = json_pack("{s:s,s:s,s:I,s:I,s:s%}", "host", host, "path", p.ptr, "size", (json_int_t)sb.st_size,
	                "tail_from", (json_int_t)(from + (off_t)cut), "tail", raw + cut, (size_t)n - cut);
	if (!doc)
		goto done; /* a tail that is not UTF-8 text is not kept: the full log is on its host */
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	snprintf(name, sizeof(name), "logs/%s", stage);
	rc = body ? st->be->doc_put(st->self, id, name, body, strlen(body)) : DEVSYS_ENOMEM;
done:
	free(body);
	if (fd >= 0)
		close(fd);
	devsys_buf_dispose(&p);
	return rc;
}

/*
 * task.json as just saved, kept with the rows too (a process that does not
 * see the folder reads it there), and reports/acceptance.json when the
 * folder has one: the deploy stage writes it before its transition, so
 * the transition that ends the stage keeps it. One over DOC_MAX stays in
 * the folder only.
 */
static int keep_task_json(devsys_store *st, const devsys_task *task, const devsys_record *rec)
{
	const char *id = devsys_task_id(task);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc;
	if (!keeps_documents(st))
		return 0;
	if ((rc = devsys_record_json(rec, &b)) == 0)
		rc = st->be->doc_put(st->self, id, "task.json", b.ptr ? b.ptr : "", b.size);
	if (rc == 0) {
		int r2 = read_task_file(&b, task, DEVSYS_RECORD_FILE_ACCEPTANCE, 0);
		if (r2 == 0)
			rc = st->be->doc_put(st->self, id, "acceptance.json", b.ptr ? b.ptr : "", b.size);
		else if (r2 != DEVSYS_ENOTFOUND && r2 != DEVSYS_ELIMIT)
			rc = r2;
		else
			devsys_error_clear();
	}
	if (rc == 0) { /* the events as of this transition: once a stage, not once an event */
		int r2 = read_events_tail(&b, task);
		if (r2 == 0)
			rc = st->be->doc_put(st->self, id, "events.jsonl", b.ptr ? b.ptr : "", b.size);
		else if (r2 != DEVSYS_ENOTFOUND)
			rc = r2;
		else
			devsys_error_clear();
	}
	devsys_buf_dispose(&b);
	return rc;
}

/*
 * The documents kept at a state change: task.json (with the acceptance
 * report and the events), the log of the stage that ended and of the one
 * under way, and the agent's events once its stage ended; all from the
 * folder @p task the state change just wrote, opened once.
 */
static int keep_documents(devsys_store *st, const devsys_task *task, const devsys__task_row *r,
                          const devsys_record *rec)
{
	int rc;
	if ((rc = keep_task_json(st, task, rec)) < 0 || !keeps_documents(st))
		return rc;
	if (r->last_stage[0] && (rc = keep_log_tail(st, task, r->last_stage)) < 0)
		return rc;
	if (r->stage[0] && strcmp(r->stage, r->last_stage) && (rc = keep_log_tail(st, task, r->stage)) < 0)
		return rc;
	return strcmp(r->last_stage, "agent") == 0 ? keep_agent_events(st, task) : 0;
}

/* ---- a task folder made from the store (the task came from another host) ---- */

/* The most of a kept spec a shared store keeps (devsys_store_submit refuses a larger one). */
#define SPEC_DOC_MAX (1u << 20)

static const char *const spec_docs[] = { "spec.yaml", "spec.json" };

/* Does @p task's folder have its task.json? */
static bool has_task_json(const devsys_task *task)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	bool yes = devsys_record_path(&p, task, DEVSYS_RECORD_FILE_TASK_JSON, 0, NULL) == 0 && access(p.ptr, F_OK) == 0;
	devsys_buf_dispose(&p);
	devsys_error_clear();
	return yes;
}

/*
 * Task @p id has no folder (or no task.json) in this workspace, on a store
 * that several hosts share: another host submitted or ran it. Make the
 * folder from what the store keeps: the spec kept at submit, task.json and
 * events.jsonl as of the last transition (through the record). The id
 * comes from the database: the task module checks it again before any
 * path is made of it.
 */
static int materialise(devsys_task **out, devsys_store *st, const char *id)
{
	devsys_buf spec = DEVSYS_BUF_INIT, tj = DEVSYS_BUF_INIT, ev = DEVSYS_BUF_INIT;
	const char *kept = NULL;
	int rc = DEVSYS_ENOTFOUND;
	for (size_t i = 0; i < 2 && rc == DEVSYS_ENOTFOUND; i++)
		if ((rc = st->be->doc_get(st->self, id, spec_docs[i], &spec)) == 0)
			kept = spec_docs[i];
	if (rc == DEVSYS_ENOTFOUND)
		rc = devsys__error_set(DEVSYS_ENOTFOUND,
		                       "task '%s' has no folder in this workspace (%s) and the store keeps no spec of it "
		                       "(it was queued by a libdevsys that did not keep specs in the store): run it on "
		                       "the host that submitted it, or submit it again",
		                       id, devsys_workspace_path(st->ws));
	if (rc == 0 && (rc = st->be->doc_get(st->self, id, "task.json", &tj)) == DEVSYS_ENOTFOUND)
		rc = devsys__error_set(DEVSYS_ENOTFOUND, "task '%s': the store keeps its spec but no task.json", id);
	if (rc == 0 && (rc = st->be->doc_get(st->self, id, "events.jsonl", &ev)) == DEVSYS_ENOTFOUND) {
		devsys_error_clear();
		rc = 0; /* no events kept: the folder's start here */
	}
	if (rc == 0 && (rc = devsys_task_open(out, st->ws, id, DEVSYS_TASK_CREATE)) == 0 &&
	    (rc = devsys__record_restore(*out, kept, spec.ptr ? spec.ptr : "", spec.size, tj.ptr ? tj.ptr : "", tj.size,
	                                 ev.ptr, ev.size)) < 0) {
		devsys_task_free(*out);
		*out = NULL;
	}
	if (rc == 0)
		devsys__log(st->ws, DEVSYS_LOG_INFO, "store",
		            "task %s: made its folder from the store (submitted or last run on another host)", id);
	devsys_buf_dispose(&spec);
	devsys_buf_dispose(&tj);
	devsys_buf_dispose(&ev);
	return rc;
}

/* Task @p id's folder; on a shared store one missing here is made from the store (materialise()). */
static int open_folder(devsys_task **out, devsys_store *st, const char *id, bool create)
{
	int rc = devsys_task_open(out, st->ws, id, create ? DEVSYS_TASK_CREATE : 0);
	if (create || !(st->be->flags & DEVSYS__STORE_SHARED) || !st->be->doc_get ||
	    (rc == 0 && has_task_json(*out)) || (rc < 0 && rc != DEVSYS_ENOTFOUND))
		return rc;
	devsys_task_free(*out);
	*out = NULL;
	devsys_error_clear();
	return materialise(out, st, id);
}

/* The kept spec of task @p id, as a document of the store (none when its folder has none); refused over SPEC_DOC_MAX. */
static int keep_spec(devsys_store *st, const char *id)
{
	devsys_task *task = NULL;
	devsys_buf p = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
	int rc = DEVSYS_ENOTFOUND;
	if (!(st->be->flags & DEVSYS__STORE_SHARED) || !st->be->doc_put)
		return 0;
	if (devsys_task_open(&task, st->ws, id, 0) == 0)
		for (size_t i = 0; i < 2 && rc == DEVSYS_ENOTFOUND; i++) {
			devsys_buf_clear(&p);
			if ((rc = devsys_task_path_join(&p, task, spec_docs[i])) == 0 && access(p.ptr, F_OK) != 0)
				rc = DEVSYS_ENOTFOUND;
			else if (rc == 0 && (rc = devsys__read_file(&b, p.ptr, SPEC_DOC_MAX)) == DEVSYS_ELIMIT)
				rc = devsys__error_set(DEVSYS_ELIMIT,
				                       "task '%s': its kept %s is larger than %u KiB, the most a shared store "
				                       "keeps for workers on other hosts; it was not queued",
				                       id, spec_docs[i], SPEC_DOC_MAX >> 10);
			else if (rc == 0)
				rc = st->be->doc_put(st->self, id, spec_docs[i], b.ptr ? b.ptr : "", b.size);
		}
	if (rc == DEVSYS_ENOTFOUND)
		rc = 0; /* a task made without a spec (through the store alone) runs only where its folder is */
	devsys_task_free(task);
	devsys_buf_dispose(&p);
	devsys_buf_dispose(&b);
	return rc;
}

/*
 * Is @p at (a folder's "state_at") the time of the change the store's
 * task.json was kept at? The same string, copied from the row by the host
 * that made the change, so no two hosts' clocks are compared: a folder in
 * the same state as the store but from an earlier pass through it (failed
 * here, resumed and failed again elsewhere) is told apart. 1 yes, or
 * nothing to compare (a record older than the field, no copy); 0 no.
 */
static int same_change(devsys_store *st, const char *id, const char *at)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *doc = NULL;
	const char *kept;
	int rc = 1;
	if (!at || !st->be->doc_get)
		return 1;
	pthread_mutex_lock(&st->lock);
	if (st->be->doc_get(st->self, id, "task.json", &b) == 0 && (doc = json_loadb(b.ptr ? b.ptr : "", b.size, 0, NULL)) &&
	    (kept = json_string_value(json_object_get(doc, "state_at"))))
		rc = strcmp(kept, at) == 0;
	pthread_mutex_unlock(&st->lock);
	devsys_error_clear();
	json_decref(doc);
	devsys_buf_dispose(&b);
	return rc;
}

/*
 * devsys_store_folder_current(), saying in @p why (may be NULL) why a
 * folder is behind: its task.json is not from the store's last change, or
 * it is and events.jsonl lost that change's event (devsys__record_events_hold).
 */
static int folder_fresh(devsys_store *st, const char *id, char *why, size_t why_size)
{
	devsys__task_row r;
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	const char *have;
	char lack[200];
	int rc;
	if (why_size)
		why[0] = '\0';
	if ((rc = devsys_task_id_check(id)) < 0)
		return rc;
	if (!(st->be->flags & DEVSYS__STORE_SHARED))
		return 1;
	if ((rc = devsys_task_open(&task, st->ws, id, 0)) == DEVSYS_ENOTFOUND) {
		devsys_error_clear();
		snprintf(why, why_size, "no folder here");
		return 0;
	}
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->lock);
	rc = st->be->task_get(st->self, id, &r);
	pthread_mutex_unlock(&st->lock);
	if (rc == DEVSYS_ENOTFOUND) {
		devsys_error_clear();
		rc = 1; /* not the store's: the folder is all there is */
	} else if (rc == 0 && (rc = devsys_record_open(&rec, task)) == 0) {
		have = devsys__record_get_state(rec);
		rc = have && strcmp(have, state_names[r.state]) == 0 && same_change(st, id, devsys__record_get_state_at(rec));
		if (rc == 0)
			snprintf(why, why_size, "task.json says %s from an earlier change, the store says %s: another host "
			         "moved the task on", have ? have : "nothing", state_names[r.state]);
		else if (!(rc = devsys__record_events_hold(rec, lack, sizeof(lack))))
			snprintf(why, why_size, "task.json is from the store's last change, but %s (the disk lost the events' "
			         "unsynced tail)", lack);
	}
	devsys_record_free(rec);
	devsys_task_free(task);
	return rc;
}

int devsys_store_folder_current(devsys_store *st, const char *id)
{
	DEVSYS__CHECK_ARG(st);
	return folder_fresh(st, id, NULL, 0);
}

/*
 * On a shared store, a folder whose task.json is not in the state the task
 * leaves (@p from) is older than the store's record: another host moved
 * the task on since this one wrote it. So is one that is, but whose
 * events.jsonl lost the event of that change (a crash kept task.json and
 * not the events' unsynced tail). When the store's task.json is in
 * that state, the folder's task.json and events are replaced by the
 * store's (the spec stays), and @p rec is reopened on them; a store
 * document as old as the folder (a write the commit's loss held back)
 * changes nothing.
 */
static int refresh_stale(devsys_store *st, devsys_task *task, devsys_record **rec, int from)
{
	devsys_buf tj = DEVSYS_BUF_INIT, ev = DEVSYS_BUF_INIT;
	const char *have = devsys__record_get_state(*rec), *id = devsys_task_id(task);
	bool in_from = have && strcmp(have, state_names[from]) == 0, lost_events = false;
	json_t *doc = NULL;
	int rc;
	if (!(st->be->flags & DEVSYS__STORE_SHARED) || !st->be->doc_get ||
	    (in_from && !(lost_events = !devsys__record_events_hold(*rec, NULL, 0))))
		return 0;
	if ((rc = st->be->doc_get(st->self, id, "task.json", &tj)) < 0 ||
	    !(doc = json_loadb(tj.ptr ? tj.ptr : "", tj.size, 0, NULL)) ||
	    !json_is_string(json_object_get(doc, "state")) ||
	    strcmp(json_string_value(json_object_get(doc, "state")), state_names[from]) != 0) {
		devsys_error_clear();
		rc = 0; /* nothing newer in the store */
		goto done;
	}
	if (st->be->doc_get(st->self, id, "events.jsonl", &ev) < 0)
		devsys_error_clear();
	if ((rc = devsys__record_restore(task, NULL, NULL, 0, tj.ptr, tj.size, ev.ptr, ev.size)) == 0) {
		devsys_record_free(*rec);
		*rec = NULL;
		rc = devsys_record_open(rec, task);
		if (lost_events)
			devsys__log(st->ws, DEVSYS_LOG_WARN, "store",
			            "task %s: its events.jsonl here lacked the event of its last state change (the disk lost "
			            "its unsynced tail); refreshed from the store", id);
		else
			devsys__log(st->ws, DEVSYS_LOG_INFO, "store",
			            "task %s: its folder here was %s while the store had it %s (another host ran it since); "
			            "refreshed from the store", id, have ? have : "without a state", state_names[from]);
	}
done:
	json_decref(doc);
	devsys_buf_dispose(&tj);
	devsys_buf_dispose(&ev);
	return rc;
}

/*
 * The record of @p task's folder. On a shared store, whose state changes
 * write the folder without fsync (write_files), a host crash can leave a
 * torn task.json: the store's copy of it and of the events replaces the
 * folder's then, rather than the change failing on it.
 */
static int open_record(devsys_record **rec, devsys_store *st, devsys_task *task)
{
	devsys_buf tj = DEVSYS_BUF_INIT, ev = DEVSYS_BUF_INIT;
	const char *id = devsys_task_id(task);
	int rc = devsys_record_open(rec, task);
	if (rc != DEVSYS_EPARSE || !(st->be->flags & DEVSYS__STORE_SHARED) || !st->be->doc_get)
		return rc;
	if (st->be->doc_get(st->self, id, "task.json", &tj) == 0) {
		if (st->be->doc_get(st->self, id, "events.jsonl", &ev) < 0)
			devsys_error_clear();
		if ((rc = devsys__record_restore(task, NULL, NULL, 0, tj.ptr ? tj.ptr : "", tj.size, ev.ptr, ev.size)) == 0 &&
		    (rc = devsys_record_open(rec, task)) == 0)
			devsys__log(st->ws, DEVSYS_LOG_WARN, "store",
			            "task %s: its task.json here was unreadable (torn by a crash?); restored from the store", id);
	} else {
		devsys_error_clear();
		rc = devsys_record_open(rec, task); /* the store has none: the folder's own error stands */
	}
	devsys_buf_dispose(&tj);
	devsys_buf_dispose(&ev);
	return rc;
}

/* A durable folder's (SQLite's) state change: task.json, then the event, each fsynced. */
static int save_then_event(devsys_record *rec, devsys_task *task, const char *event)
{
	int rc = devsys_record_save(rec);
	return rc < 0 ? rc : devsys__record_event_task(task, "state", event, NULL);
}

/*
 * An unsynced folder's state change: the disk may keep the new task.json
 * and lose the event's line (ext4 does not order two files' data), so the
 * event goes first and task.json says where it ends ("state_event"); a
 * folder without that line is behind the store (folder_fresh,
 * refresh_stale). A crash between the two leaves the old task.json, also
 * behind.
 */
static int save_after_event(devsys_record *rec, devsys_task *task, const char *event)
{
	uint64_t seq, end;
	int rc = devsys__record_event_task_end(task, "state", event, &seq, &end);
	if (rc == 0 && (rc = devsys__record_set_state_event(rec, seq, end)) == 0)
		rc = devsys_record_save(rec);
	return rc;
}

static int write_folder(devsys_store *st, const devsys__task_row *r, int from, const char *reason, bool create,
                        bool unsynced)
{
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	json_t *data;
	char *text = NULL;
	int rc;
	if ((rc = open_folder(&task, st, r->id, create)) < 0)
		return rc;
	if ((rc = open_record(&rec, st, task)) < 0)
		goto done;
	if (!create && from >= 0 && (rc = refresh_stale(st, task, &rec, from)) < 0)
		goto done;
	if ((rc = devsys__record_set_state(rec, state_names[r->state])) < 0 ||
	    (r->updated_at[0] && (rc = devsys__record_set_state_at(rec, r->updated_at)) < 0))
		goto done;
	if (create && r->spec_path[0] && (rc = devsys_record_set_string(rec, "spec_path", r->spec_path)) < 0)
		goto done;
	data = json_pack("{s:s?,s:s,s:s?,s:s?}", "from", from >= 0 ? state_names[from] : NULL, "to",
	                 state_names[r->state], "stage", r->stage[0] ? r->stage : (r->last_stage[0] ? r->last_stage : NULL),
	                 "reason", reason);
	if (!data || !(text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		json_decref(data);
		rc = devsys__error_oom();
		goto done;
	}
	json_decref(data);
	if ((rc = unsynced ? save_after_event(rec, task, text) : save_then_event(rec, task, text)) == 0)
		rc = keep_documents(st, task, r, rec); /* after the event, so the events the store keeps end with this change */
done:
	free(text);
	devsys_record_free(rec);
	devsys_task_free(task);
	return rc;
}

/*
 * The folder's side of a state change. On a shared store the database is
 * the durable copy of the change (committed before the folder is written,
 * its task.json and events kept there by keep_documents), and a folder
 * behind it is refreshed from it (devsys_store_folder_current,
 * refresh_from_store, refresh_stale): so these writes are not fsynced there,
 * and a host crash loses at most the folder's unsynced tail, which the
 * store's copy restores. A SQLite store's folder is the only copy of its
 * files: it stays durable.
 */
static int write_files(devsys_store *st, const devsys__task_row *r, int from, const char *reason, bool create)
{
	bool shared = (st->be->flags & DEVSYS__STORE_SHARED) && st->be->doc_put && st->be->doc_get;
	int rc;
	if (shared)
		devsys__fs_nosync_begin();
	rc = write_folder(st, r, from, reason, create, shared);
	if (shared)
		devsys__fs_nosync_end();
	return rc;
}

static int do_transition(devsys_store *st, devsys__task_row *r, int to, const char *reason)
{
	char at[40];
	int from = r->state, rc;
	devsys__time_iso8601(at, sizeof(at));
	if (!devsys_task_state_allowed(from, to))
		return devsys__error_set(DEVSYS_ESTATE, "task '%s' cannot go from %s to %s", r->id, state_names[from],
		                         devsys_task_state_name(to) ? devsys_task_state_name(to) : "(unknown state)");
	/* a failed task can be resumed once its cause is fixed: keep where it stood */
	if (to == DEVSYS_STATE_FAILED && from != DEVSYS_STATE_CREATED)
		r->resume_state = from;
	r->state = to;
	snprintf(r->updated_at, sizeof(r->updated_at), "%s", at);
	if ((rc = st->be->task_update(st->self, r)) < 0 ||
	    (rc = st->be->state_log(st->self, r->id, from, to, r->stage[0] ? r->stage : NULL, reason, at)) < 0)
		return rc;
	return sync_files(st, r, from, reason, false);
}

static int get_row(devsys_store *st, const char *id, devsys__task_row *r)
{
	int rc = devsys_task_id_check(id);
	if (rc < 0)
		return rc;
	rc = st->be->task_get(st->self, id, r);
	if (rc == DEVSYS_ENOTFOUND)
		return devsys__error_set(DEVSYS_ENOTFOUND, "no task '%s' in the store", id);
	return rc;
}

#define LOCKED(st) pthread_mutex_lock(&(st)->lock)
#define UNLOCKED(st) pthread_mutex_unlock(&(st)->lock)

/*
 * Run @p body inside a write transaction; roll back on failure. On a
 * backend that may lose its connection (a PostgreSQL server restart) or
 * pick a deadlock victim, a transaction that failed so runs once more:
 * nothing of it was committed, and begin() reconnects. A body that
 * accumulates into its caller's variables resets them first.
 */
static bool txn_again(const devsys_store *st, int rc, int attempt)
{
	return attempt == 0 && (st->be->flags & DEVSYS__STORE_RETRY) && (rc == DEVSYS_ENETWORK || rc == DEVSYS_ECONFLICT);
}

#define TXN(st, body)                                                            \
	do {                                                                     \
		LOCKED(st);                                                      \
		for (int txn_attempt_ = 0;; txn_attempt_++) {                    \
			bool txn_done_ = false; /* committed: never run again */  \
			(st)->defer = ((st)->be->flags & DEVSYS__STORE_RETRY) != 0; \
			if ((rc = (st)->be->begin((st)->self)) == 0) {           \
				body;                                            \
				if (rc == 0)                                     \
					txn_done_ = (rc = (st)->be->commit((st)->self)) == 0; \
				if (rc < 0)                                      \
					(st)->be->rollback((st)->self);          \
			}                                                        \
			rc = sync_pending((st), rc);                             \
			if (txn_done_ || !txn_again((st), rc, txn_attempt_))     \
				break;                                           \
			devsys_error_clear();                                    \
		}                                                                \
		UNLOCKED(st);                                                    \
	} while (0)

int devsys_store_task_create(devsys_store *st, const char *id, const char *spec_path)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = devsys_task_id_check(id)) < 0)
		return rc;
	if (spec_path && strlen(spec_path) >= sizeof(r.spec_path))
		return devsys__error_set(DEVSYS_ELIMIT, "spec path is longer than %zu bytes", sizeof(r.spec_path) - 1);
	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.state = DEVSYS_STATE_CREATED;
	r.resume_state = -1;
	devsys__time_iso8601(r.created_at, sizeof(r.created_at));
	memcpy(r.updated_at, r.created_at, sizeof(r.updated_at));
	if (spec_path)
		snprintf(r.spec_path, sizeof(r.spec_path), "%s", spec_path);
	TXN(st, {
		devsys__task_row existing;
		if ((rc = st->be->task_get(st->self, id, &existing)) == 0)
			rc = devsys__error_set(DEVSYS_EEXISTS, "task '%s' exists already", id);
		else if (rc == DEVSYS_ENOTFOUND && (rc = st->be->task_insert(st->self, &r)) == 0 &&
		         (rc = st->be->state_log(st->self, id, -1, r.state, NULL, "created", r.created_at)) == 0)
			rc = sync_files(st, &r, -1, "created", true);
	});
	return rc;
}

int devsys_store_transition(devsys_store *st, const char *id, int to, const char *reason)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0)
			rc = do_transition(st, &r, to, reason);
	});
	return rc;
}

/* This process becomes the owner of @p stage of @p r (the caller writes the row). */
static void take_stage(devsys__task_row *r, const char *stage)
{
	snprintf(r->stage, sizeof(r->stage), "%s", stage);
	snprintf(r->last_stage, sizeof(r->last_stage), "%s", stage);
	r->owner_pid = getpid();
	r->owner_start = proc_start(getpid());
	boot_id(r->owner_boot, sizeof(r->owner_boot));
	devsys__time_iso8601(r->stage_started, sizeof(r->stage_started));
	r->stage_started_ms = wall_ms();
	memcpy(r->updated_at, r->stage_started, sizeof(r->updated_at));
}

/* @p r is in a stage: who holds it, for the process that wanted it. */
static int stage_held(const devsys__task_row *r)
{
	if (r->owner_pid == (long long)getpid())
		return devsys__error_set(DEVSYS_ESTATE, "task '%s' is already in stage '%s'", r->id, r->stage);
	return devsys__error_set(DEVSYS_EBUSY, "task '%s' is run by another process: pid %lld holds its stage '%s' "
	                                       "(since %s); this run leaves it alone: wait for that run to end, or "
	                                       "cancel it (devsys cancel %s)",
	                         r->id, r->owner_pid, r->stage, r->stage_started[0] ? r->stage_started : "?", r->id);
}

int devsys_store_stage_begin(devsys_store *st, const char *id, const char *stage)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = devsys_stage_check(stage)) < 0)
		return rc;
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0) {
			if (is_final(r.state) || r.state == DEVSYS_STATE_INTERRUPTED)
				rc = devsys__error_set(DEVSYS_ESTATE, "task '%s' is %s: no stage can start%s", id,
				                       state_names[r.state],
				                       r.state == DEVSYS_STATE_INTERRUPTED ? " (resume it first)" : "");
			else if (r.stage[0])
				rc = stage_held(&r);
			else {
				take_stage(&r, stage);
				rc = st->be->task_update(st->self, &r);
			}
		}
	});
	return rc;
}

static void clear_stage(devsys__task_row *r)
{
	r->stage[0] = '\0';
	r->owner_pid = 0;
	r->owner_start = 0;
	r->owner_boot[0] = '\0';
}

int devsys_store_stage_end(devsys_store *st, const char *id, const char *stage, const char *result, int to)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(result);
	if ((rc = devsys_stage_check(stage)) < 0)
		return rc;
	if (strcmp(result, "ok") == 0)
		;
	else if (strcmp(result, "failed") == 0)
		to = DEVSYS_STATE_FAILED;
	else if (strcmp(result, "canceled") == 0)
		to = DEVSYS_STATE_CANCELED;
	else
		return devsys__error_set(DEVSYS_EINVAL, "stage result '%.20s' is not ok, failed or canceled", result);
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0) {
			if (strcmp(r.stage, stage) != 0)
				rc = devsys__error_set(DEVSYS_ESTATE, "task '%s' is not in stage '%s' (current: '%s')", id,
				                       stage, r.stage[0] ? r.stage : "none");
			else {
				char at[40];
				double secs = (double)(wall_ms() - r.stage_started_ms) / 1000.0;
				devsys__time_iso8601(at, sizeof(at));
				if ((rc = st->be->stage_log(st->self, id, stage, result, secs < 0 ? 0 : secs, at)) == 0) {
					if (to >= 0) {
						rc = do_transition(st, &r, to, result);
						if (rc == 0) {
							clear_stage(&r);
							rc = st->be->task_update(st->self, &r);
						}
					} else {
						clear_stage(&r);
						snprintf(r.updated_at, sizeof(r.updated_at), "%s", at);
						rc = st->be->task_update(st->self, &r);
					}
				}
			}
		}
	});
	return rc;
}

/* Can @p r be resumed? 0, or why not (a live stage holder is named: EBUSY). */
static int resumable(const devsys__task_row *r)
{
	if (r->stage[0])
		return stage_held(r);
	if ((r->state != DEVSYS_STATE_INTERRUPTED && r->state != DEVSYS_STATE_FAILED) || r->resume_state < 0)
		return devsys__error_set(DEVSYS_ESTATE, "task '%s' is %s, not interrupted or failed: nothing to resume",
		                         r->id, state_names[r->state]);
	return 0;
}

/* Back to the last completed state; with @p stage, this process takes it in the same write. */
static int resume_row(devsys_store *st, devsys__task_row *r, const char *stage)
{
	devsys__task_row w;
	char at[40];
	int from = r->state, rc;
	devsys__time_iso8601(at, sizeof(at));
	r->state = r->resume_state;
	r->resume_state = -1;
	snprintf(r->updated_at, sizeof(r->updated_at), "%s", at);
	w = *r;
	if (stage)
		take_stage(&w, stage);
	if ((rc = st->be->task_update(st->self, &w)) == 0 &&
	    (rc = st->be->state_log(st->self, r->id, from, r->state, r->last_stage, "resumed", at)) == 0)
		rc = sync_files(st, r, from, "resumed", false);
	if (rc == 0)
		*r = w;
	return rc;
}

int devsys_store_resume(devsys_store *st, const char *id, devsys_buf *stage_out)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(stage_out);
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0 && (rc = resumable(&r)) == 0) {
			devsys_buf_clear(stage_out);
			if (devsys_buf_puts(stage_out, r.last_stage) < 0)
				rc = DEVSYS_ENOMEM;
			else
				rc = resume_row(st, &r, NULL);
		}
	});
	return rc;
}

int devsys__store_resume_take(devsys_store *st, const char *id, devsys__store_pick_fn pick, void *payload,
                              int *from_out)
{
	devsys__task_row r;
	const char *stage = NULL;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(pick);
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0 && (rc = resumable(&r)) == 0 &&
		    (rc = pick(&stage, r.resume_state, payload)) == 0) {
			if (from_out)
				*from_out = r.state;
			rc = resume_row(st, &r, stage);
		}
	});
	return rc;
}

/* ---- cancel ---- */

/*
 * Signal the process that owns @p r's stage, if it still is that process:
 * 1 sent, 0 not the owner any more (gone, or its pid was reused), negative
 * on error. A pidfd pins the process between the start-time check and the
 * signal, so a pid reused in between is never signaled.
 */
static int signal_owner(const devsys__task_row *r, int sig)
{
	pid_t pid = (pid_t)r->owner_pid;
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		int sent = proc_start(pid) == r->owner_start && syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0;
		close(fd);
		return sent;
	}
	if (errno == ESRCH)
		return 0;
#endif
	if (proc_start(pid) != r->owner_start)
		return 0;
	if (kill(pid, sig) == 0)
		return 1;
	if (errno == ESRCH)
		return 0;
	return devsys__error_set(DEVSYS_EIO, "cannot signal pid %d, the owner of task '%s': %s", (int)pid, r->id,
	                         strerror(errno));
}

int devsys__store_cancel(devsys_store *st, const char *id, const char *reason, int *signaled, long long *owner_pid)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(signaled);
	*signaled = 0;
	if (owner_pid)
		*owner_pid = 0;
	/* one transaction: no stage can begin or end between the look and the act */
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0 && r.stage[0] && owner_elsewhere(st, &r))
			rc = devsys__error_set(DEVSYS_ESTATE,
			                       "task '%s' runs on another host (stage %s, pid %lld there): ask its worker to "
			                       "cancel it (devsys_store_cancel_request); nothing was changed",
			                       id, r.stage, r.owner_pid);
		else if (rc == 0 && r.stage[0] && owner_alive(&r)) {
			if (r.owner_pid == (long long)getpid())
				rc = devsys__error_set(DEVSYS_ESTATE,
				                       "task '%s' is run by this process (stage %s): cancel it through its "
				                       "pipeline (devsys_pipeline_cancel)",
				                       id, r.stage);
			else if ((rc = signal_owner(&r, SIGTERM)) > 0) {
				*signaled = 1;
				if (owner_pid)
					*owner_pid = r.owner_pid;
				rc = 0;
			}
		}
		if (rc == 0 && !*signaled) {
			if (r.stage[0]) /* its owner is gone: the stage ends with the task */
				clear_stage(&r);
			rc = do_transition(st, &r, DEVSYS_STATE_CANCELED, reason);
		}
	});
	return rc;
}

struct collect {
	devsys__task_row *rows;
	size_t n, cap;
};

static int collect_cb(const devsys__task_row *row, void *payload)
{
	struct collect *c = payload;
	if (c->n == c->cap) {
		devsys__task_row *nr = devsys__realloc(c->rows, (c->cap = c->cap ? c->cap * 2 : 32) * sizeof(*nr));
		if (!nr)
			return 1;
		c->rows = nr;
	}
	c->rows[c->n++] = *row;
	return 0;
}

/* Was @p r left mid-stage by a process that is gone (so recover marks it interrupted)? */
static bool left_mid_stage(const devsys_store *st, const devsys__task_row *r)
{
	return r->stage[0] && !is_final(r->state) && r->state != DEVSYS_STATE_INTERRUPTED && owner_lost(st, r);
}

struct lost_scan {
	const devsys_store *st;
	size_t n;
};

static int lost_cb(const devsys__task_row *row, void *payload)
{
	struct lost_scan *l = payload;
	l->n += left_mid_stage(l->st, row);
	return 0;
}

/*
 * How many tasks were left mid-stage, by a read outside any transaction.
 * Every open of the store recovers, and nearly always there is nothing to
 * mark: so that opens do not queue for the write lock behind the writers
 * (four threads each opening a SQLite store and claiming did time out),
 * recover takes the lock only when this read found something.
 */
static int count_left_mid_stage(devsys_store *st, size_t *n)
{
	struct lost_scan l = { st, 0 };
	size_t total = 0;
	int rc;
	if (st->be->flags & DEVSYS__STORE_SHARED) { /* liveness there comes from leases, never from a pid */
		*n = 0;
		return 0;
	}
	LOCKED(st);
	rc = st->be->task_list(st->self, -1, 0, (size_t)-1 >> 1, lost_cb, &l, &total);
	UNLOCKED(st);
	*n = l.n;
	return rc;
}

int devsys_store_recover(devsys_store *st, size_t *count_out)
{
	struct collect c = { NULL, 0, 0 };
	size_t total = 0, marked = 0;
	int rc;
	DEVSYS__CHECK_ARG(st);
	if (count_out)
		*count_out = 0;
	if ((rc = count_left_mid_stage(st, &marked)) < 0 || marked == 0)
		return rc;
	TXN(st, {
		c.n = 0; /* a retried transaction starts over */
		marked = 0;
		if ((rc = st->be->task_list(st->self, -1, 0, (size_t)-1 >> 1, collect_cb, &c, &total)) == 0) {
			for (size_t i = 0; i < c.n && rc == 0; i++) {
				devsys__task_row *r = &c.rows[i];
				char reason[160]; /* a stage name is up to DEVSYS_TASK_ID_MAX */
				if (!left_mid_stage(st, r))
					continue;
				snprintf(reason, sizeof(reason), "stage %s interrupted: its process (pid %lld) is gone",
				         r->stage, r->owner_pid);
				r->resume_state = r->state;
				rc = do_transition(st, r, DEVSYS_STATE_INTERRUPTED, reason);
				if (rc == 0) {
					clear_stage(r);
					rc = st->be->task_update(st->self, r);
					marked++;
				}
			}
		}
	});
	devsys__free(c.rows);
	if (rc == 0 && count_out)
		*count_out = marked;
	if (rc == 0 && marked)
		devsys__log(st->ws, DEVSYS_LOG_WARN, "store", "%zu task(s) were left mid-stage and are now interrupted",
		            marked);
	return rc;
}

int devsys_store_task_state(devsys_store *st, const char *id)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	LOCKED(st);
	rc = get_row(st, id, &r);
	UNLOCKED(st);
	return rc < 0 ? rc : r.state;
}

static json_t *row_json(const devsys__task_row *r)
{
	return json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s,s:s,s:s?}", "id", r->id, "state", state_names[r->state], "stage",
	                 r->stage[0] ? r->stage : NULL, "last_stage", r->last_stage[0] ? r->last_stage : NULL,
	                 "resume_state", r->resume_state >= 0 ? state_names[r->resume_state] : NULL, "created_at",
	                 r->created_at, "updated_at", r->updated_at, "spec_path", r->spec_path[0] ? r->spec_path : NULL);
}

static int runs_cb(const devsys__run_row *r, void *payload)
{
	json_array_append_new(payload, json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:f,s:s}", "run", (int)r->run, "tests",
	                                         (json_int_t)r->tests, "passed", (json_int_t)r->passed, "failed",
	                                         (json_int_t)r->failed, "errors", (json_int_t)r->errors, "skipped",
	                                         (json_int_t)r->skipped, "time", r->time, "completed_at",
	                                         r->completed_at));
	return 0;
}

static int dump_to(json_t *j, devsys_buf *out)
{
	char *s;
	int rc = 0;
	if (!j)
		return devsys__error_oom();
	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return devsys__error_oom();
	devsys_buf_clear(out);
	if (devsys_buf_puts(out, s) < 0)
		rc = DEVSYS_ENOMEM;
	free(s);
	return rc;
}

int devsys_store_task_json(devsys_store *st, const char *id, devsys_buf *out)
{
	devsys__task_row r;
	json_t *j = NULL, *runs;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(out);
	LOCKED(st);
	if ((rc = get_row(st, id, &r)) == 0 && (j = row_json(&r)) && (runs = json_array())) {
		json_object_set_new(j, "runs", runs);
		rc = st->be->run_list(st->self, id, runs_cb, runs);
	}
	UNLOCKED(st);
	if (rc < 0) {
		json_decref(j);
		return rc;
	}
	return dump_to(j, out);
}

static int list_cb(const devsys__task_row *row, void *payload)
{
	return json_array_append_new(payload, row_json(row)) != 0;
}

int devsys_store_list_json(devsys_store *st, const char *state_filter, size_t offset, size_t limit, devsys_buf *out)
{
	int state = -1, rc;
	size_t total = 0;
	json_t *arr;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(out);
	if (state_filter && (state = devsys_task_state_parse(state_filter)) < 0)
		return state;
	if (limit == 0)
		limit = 50;
	if (limit > 1000)
		limit = 1000;
	if (!(arr = json_array()))
		return devsys__error_oom();
	LOCKED(st);
	rc = st->be->task_list(st->self, state, offset, limit, list_cb, arr, &total);
	UNLOCKED(st);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	return dump_to(json_pack("{s:o,s:I,s:I,s:I}", "tasks", arr, "total", (json_int_t)total, "offset",
	                         (json_int_t)offset, "limit", (json_int_t)limit),
	               out);
}

static int read_run_summary(devsys_store *st, const char *id, unsigned int run, devsys__run_row *row)
{
	devsys_task *task = NULL;
	devsys_buf p = DEVSYS_BUF_INIT;
	char rel[64];
	json_t *j;
	json_error_t e;
	int rc;
	memset(row, 0, sizeof(*row));
	if ((rc = devsys_task_open(&task, st->ws, id, 0)) < 0)
		return rc;
	snprintf(rel, sizeof(rel), "reports/%u/summary.json", run);
	if ((rc = devsys_task_path_join(&p, task, rel)) < 0)
		goto done;
	if (!(j = json_load_file(p.ptr, 0, &e))) {
		rc = devsys__error_set(access(p.ptr, F_OK) == 0 ? DEVSYS_EPARSE : DEVSYS_ENOTFOUND, "%s: %s", p.ptr,
		                       e.text);
		goto done;
	}
	row->run = run;
	row->tests = json_integer_value(json_object_get(j, "tests"));
	row->passed = json_integer_value(json_object_get(j, "passed"));
	row->failed = json_integer_value(json_object_get(j, "failed"));
	row->errors = json_integer_value(json_object_get(j, "errors"));
	row->skipped = json_integer_value(json_object_get(j, "skipped"));
	row->time = json_number_value(json_object_get(j, "time"));
	snprintf(row->completed_at, sizeof(row->completed_at), "%s",
	         json_string_value(json_object_get(j, "completed_at")) ? json_string_value(json_object_get(j, "completed_at"))
	                                                               : "");
	json_decref(j);
done:
	devsys_buf_dispose(&p);
	devsys_task_free(task);
	return rc;
}

static int keep_run_documents(devsys_store *st, const char *id, unsigned int run);

int devsys_store_run_record(devsys_store *st, const char *id, unsigned int run)
{
	devsys__run_row row;
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = devsys_task_id_check(id)) < 0 || (rc = read_run_summary(st, id, run, &row)) < 0)
		return rc;
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0)
			rc = st->be->run_upsert(st->self, id, &row);
		if (rc == 0)
			rc = keep_run_documents(st, id, run);
	});
	return rc;
}

/* One file of the record into @p out; DEVSYS_ENOTFOUND when it is not there, DEVSYS_ELIMIT over DOC_MAX. */
static int read_task_file(devsys_buf *out, const devsys_task *task, devsys_record_file file, unsigned int run)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	int rc = devsys_record_path(&p, task, file, run, NULL);
	if (rc == 0)
		rc = access(p.ptr, F_OK) == 0 ? devsys__read_file(out, p.ptr, DOC_MAX) : DEVSYS_ENOTFOUND;
	devsys_buf_dispose(&p);
	return rc;
}

/* read_task_file() of task @p id's folder. */
static int read_record_file(devsys_buf *out, devsys_store *st, const char *id, devsys_record_file file,
                            unsigned int run)
{
	devsys_task *task = NULL;
	int rc = devsys_task_open(&task, st->ws, id, 0);
	if (rc == 0)
		rc = read_task_file(out, task, file, run);
	devsys_task_free(task);
	return rc;
}

/*
 * The run's summary and normalised JUnit as "runs/<run>/summary.json" and
 * "runs/<run>/junit.xml" (every run: a task has a few, one a test stage),
 * and also as the task's "tests/latest/..." when @p run is its latest run
 * (inside the transaction). A JUnit report over DOC_MAX stays in the
 * folder only.
 */
static int keep_run_documents(devsys_store *st, const char *id, unsigned int run)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	devsys_task *task = NULL;
	unsigned int latest = 0;
	char sname[40], jname[40];
	int rc, r2 = 0;
	if (!keeps_documents(st))
		return 0;
	if ((rc = devsys_task_open(&task, st->ws, id, 0)) == 0)
		rc = devsys_record_latest_run(task, &latest);
	devsys_task_free(task);
	if (rc < 0) {
		devsys_error_clear();
		latest = 0; /* no latest run: this one is kept under its number only */
	}
	snprintf(sname, sizeof(sname), "runs/%u/summary.json", run);
	snprintf(jname, sizeof(jname), "runs/%u/junit.xml", run);
	if ((rc = read_record_file(&b, st, id, DEVSYS_RECORD_FILE_RUN_SUMMARY, run)) == 0)
		rc = st->be->doc_put(st->self, id, sname, b.ptr ? b.ptr : "", b.size);
	if (rc == 0 && latest == run)
		rc = st->be->doc_put(st->self, id, "tests/latest/summary.json", b.ptr ? b.ptr : "", b.size);
	if (rc == 0 && (r2 = read_record_file(&b, st, id, DEVSYS_RECORD_FILE_RUN_JUNIT, run)) == 0) {
		rc = st->be->doc_put(st->self, id, jname, b.ptr ? b.ptr : "", b.size);
		if (rc == 0 && latest == run)
			rc = st->be->doc_put(st->self, id, "tests/latest/junit.xml", b.ptr ? b.ptr : "", b.size);
	} else if (rc == 0 && r2 != DEVSYS_ENOTFOUND && r2 != DEVSYS_ELIMIT)
		rc = r2;
	else if (rc == 0)
		devsys_error_clear();
	devsys_buf_dispose(&b);
	return rc;
}

/* A name devsys_store_document() reads: runs/<n>/summary.json or runs/<n>/junit.xml, n a run number. */
static bool run_document_name(const char *name)
{
	const char *p = name + 5, *slash;
	if (strncmp(name, "runs/", 5) || !(slash = strchr(p, '/')) || slash == p || slash - p > 9 || *p == '0')
		return false;
	for (const char *q = p; q < slash; q++)
		if (*q < '0' || *q > '9')
			return false;
	return !strcmp(slash, "/summary.json") || !strcmp(slash, "/junit.xml");
}

/* A document devsys_store_document() may read, of task @p id, on a store that keeps them. */
static int document_check(const devsys_store *st, const char *id, const char *name)
{
	int rc;
	if ((rc = devsys_task_id_check(id)) < 0)
		return rc;
	if (strcmp(name, "task.json") && strcmp(name, "acceptance.json") && strcmp(name, "events.jsonl") &&
	    strcmp(name, "tests/latest/summary.json") && strcmp(name, "tests/latest/junit.xml") &&
	    strcmp(name, "agent.jsonl") && !run_document_name(name) &&
	    (strncmp(name, "logs/", 5) || devsys_stage_check(name + 5) < 0))
		return devsys__error_set(DEVSYS_EINVAL,
		                         "'%.60s' is not a record document the store keeps (task.json, acceptance.json, "
		                         "events.jsonl, agent.jsonl, logs/<stage>, runs/<n>/summary.json, runs/<n>/junit.xml, "
		                         "tests/latest/summary.json, tests/latest/junit.xml)",
		                         name);
	if (!st->be->doc_get || !(st->be->flags & DEVSYS__STORE_SHARED))
		return devsys__error_set(DEVSYS_ENOTSUPPORTED,
		                         "the %s store keeps no record documents: the task's folder in the workspace has them",
		                         st->be->name);
	return 0;
}

static int document_not_kept(const char *id, const char *name)
{
	return devsys__error_set(DEVSYS_ENOTFOUND, "the store keeps no %s for task '%s'", name, id);
}

int devsys_store_document(devsys_buf *out, devsys_store *st, const char *id, const char *name)
{
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(name);
	if ((rc = document_check(st, id, name)) < 0)
		return rc;
	LOCKED(st);
	rc = st->be->doc_get(st->self, id, name, out);
	UNLOCKED(st);
	return rc == DEVSYS_ENOTFOUND ? document_not_kept(id, name) : rc;
}

int devsys_store_document_changed(devsys_buf *out, devsys_store *st, const char *id, const char *name,
                                  char *version, size_t version_size)
{
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(name);
	DEVSYS__CHECK_ARG(version);
	if (version_size < DEVSYS_STORE_DOC_VERSION_MAX)
		return devsys__error_set(DEVSYS_EINVAL, "a document's version needs %d bytes, not %zu",
		                         DEVSYS_STORE_DOC_VERSION_MAX, version_size);
	if (!memchr(version, '\0', version_size))
		return devsys__error_set(DEVSYS_EINVAL, "a document's version is a string: \"\" or what the last read set");
	if ((rc = document_check(st, id, name)) < 0)
		return rc;
	LOCKED(st);
	if (st->be->doc_get_changed)
		rc = st->be->doc_get_changed(st->self, id, name, version, version_size, out);
	else if ((rc = st->be->doc_get(st->self, id, name, out)) == 0)
		rc = 1; /* no versions: every read is a change */
	UNLOCKED(st);
	return rc == DEVSYS_ENOTFOUND ? document_not_kept(id, name) : rc;
}

/* ---- drift check ---- */

static int has_run_cb(const devsys__run_row *r, void *payload)
{
	unsigned int *want = payload;
	if (r->run == *want)
		*want = 0;
	return 0;
}

static void drift(json_t *arr, const char *task, const char *kind, const char *detail, bool repaired)
{
	json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:b}", "task", task, "kind", kind, "detail", detail,
	                                     "repaired", repaired));
}

static char *task_json_state(devsys_task *task)
{
	devsys_record *rec = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char *state = NULL;
	if (devsys_record_open(&rec, task) == 0 && devsys_record_json(rec, &b) == 0) {
		json_t *j = json_loads(b.ptr, 0, NULL);
		const char *s = json_string_value(json_object_get(j, "state"));
		if (s)
			state = devsys__strdup(s);
		json_decref(j);
	}
	devsys_buf_dispose(&b);
	devsys_record_free(rec);
	return state;
}

/* Is the store's copy of @p id's task.json in state @p state (so newer than a folder in another)? */
static bool kept_in_state(devsys_store *st, const char *id, const char *state)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	json_t *doc = NULL;
	bool yes;
	LOCKED(st);
	yes = st->be->doc_get(st->self, id, "task.json", &b) == 0 &&
	      (doc = json_loadb(b.ptr ? b.ptr : "", b.size, 0, NULL)) &&
	      json_is_string(json_object_get(doc, "state")) &&
	      strcmp(json_string_value(json_object_get(doc, "state")), state) == 0;
	UNLOCKED(st);
	devsys_error_clear();
	json_decref(doc);
	devsys_buf_dispose(&b);
	return yes;
}

/* A folder behind a shared store's record takes the store's task.json and events (drift repair). */
static int refresh_from_store(devsys_store *st, devsys_task *task)
{
	devsys_buf tj = DEVSYS_BUF_INIT, ev = DEVSYS_BUF_INIT;
	int rc;
	LOCKED(st);
	if ((rc = st->be->doc_get(st->self, devsys_task_id(task), "task.json", &tj)) == 0 &&
	    st->be->doc_get(st->self, devsys_task_id(task), "events.jsonl", &ev) < 0)
		devsys_error_clear();
	UNLOCKED(st);
	if (rc == 0)
		rc = devsys__record_restore(task, NULL, NULL, 0, tj.ptr ? tj.ptr : "", tj.size, ev.ptr, ev.size);
	devsys_buf_dispose(&tj);
	devsys_buf_dispose(&ev);
	return rc;
}

int devsys_store_check(devsys_store *st, int repair, devsys_buf *out, size_t *drift_out)
{
	struct collect c = { NULL, 0, 0 };
	size_t total = 0, checked = 0, elsewhere = 0;
	bool shared = (st->be->flags & DEVSYS__STORE_SHARED) && st->be->doc_get;
	json_t *arr;
	devsys_buf tasks_dir = DEVSYS_BUF_INIT;
	DIR *d;
	struct dirent *e;
	int rc;

	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(out);
	if (!(arr = json_array()))
		return devsys__error_oom();
	LOCKED(st);
	rc = st->be->task_list(st->self, -1, 0, (size_t)-1 >> 1, collect_cb, &c, &total);
	UNLOCKED(st);
	if (rc < 0)
		goto done;
	for (size_t i = 0; i < c.n; i++) {
		devsys__task_row *r = &c.rows[i];
		devsys_task *task = NULL;
		char *fs_state, behind[400];
		int orc;
		checked++;
		if ((orc = devsys_task_open(&task, st->ws, r->id, 0)) == DEVSYS_ENOTFOUND && shared) {
			/* a shared store's task runs where its folder is: not drift here (the store has its record) */
			devsys_error_clear();
			elsewhere++;
			continue;
		}
		if (orc < 0) {
			bool fixed = false;
			if (repair) {
				TXN(st, { rc = sync_files(st, r, -1, "repaired: folder was missing", true); });
				fixed = rc == 0;
			}
			drift(arr, r->id, "missing-folder", "the database has the task but tasks/<id>/ is missing", fixed);
			rc = 0;
			continue;
		}
		fs_state = task_json_state(task);
		if (shared && fs_state && folder_fresh(st, r->id, behind, sizeof(behind)) == 0 &&
		    kept_in_state(st, r->id, state_names[r->state])) {
			bool fixed = false;
			if (repair)
				fixed = refresh_from_store(st, task) == 0;
			devsys_error_clear();
			drift(arr, r->id, "behind-store", behind, fixed);
		} else if (!fs_state || strcmp(fs_state, state_names[r->state]) != 0) {
			char detail[160];
			bool fixed = false;
			snprintf(detail, sizeof(detail), "task.json says %s, the database says %s",
			         fs_state ? fs_state : "nothing", state_names[r->state]);
			if (repair) {
				TXN(st, { rc = sync_files(st, r, -1, "repaired: task.json state was out of step", false); });
				fixed = rc == 0;
				rc = 0;
			}
			drift(arr, r->id, "state-mismatch", detail, fixed);
		}
		devsys__free(fs_state);
		{
			unsigned int latest, want;
			if (devsys_record_latest_run(task, &latest) == 0) {
				want = latest;
				LOCKED(st);
				st->be->run_list(st->self, r->id, has_run_cb, &want);
				UNLOCKED(st);
				if (want) {
					char detail[96];
					bool fixed = false;
					snprintf(detail, sizeof(detail), "run %u is in reports/ but not in the database", latest);
					if (repair)
						fixed = devsys_store_run_record(st, r->id, latest) == 0;
					drift(arr, r->id, "run-missing", detail, fixed);
				}
			}
		}
		devsys_error_clear();
		devsys_task_free(task);
	}
	/* folders the database does not know */
	if (devsys_buf_printf(&tasks_dir, "%s/tasks", devsys_workspace_path(st->ws)) < 0) {
		rc = devsys__error_oom();
		goto done;
	}
	if ((d = opendir(tasks_dir.ptr))) {
		while ((e = readdir(d))) {
			devsys__task_row r;
			int grc;
			if (e->d_name[0] == '.' || devsys_task_id_check(e->d_name) < 0)
				continue;
			LOCKED(st);
			grc = st->be->task_get(st->self, e->d_name, &r);
			UNLOCKED(st);
			if (grc == DEVSYS_ENOTFOUND) {
				bool fixed = false;
				checked++;
				if (repair) {
					devsys_task *task = NULL;
					char *fs_state = NULL;
					int s = DEVSYS_STATE_CREATED;
					if (devsys_task_open(&task, st->ws, e->d_name, 0) == 0)
						fs_state = task_json_state(task);
					if (fs_state && (s = devsys_task_state_parse(fs_state)) < 0)
						s = DEVSYS_STATE_CREATED;
					memset(&r, 0, sizeof(r));
					memcpy(r.id, e->d_name, strnlen(e->d_name, DEVSYS_TASK_ID_MAX));
					r.state = s;
					r.resume_state = -1;
					devsys__time_iso8601(r.created_at, sizeof(r.created_at));
					memcpy(r.updated_at, r.created_at, sizeof(r.updated_at));
					TXN(st, {
						if ((rc = st->be->task_insert(st->self, &r)) == 0)
							rc = st->be->state_log(st->self, r.id, -1, s, NULL, "repaired: adopted folder",
							                       r.created_at);
					});
					fixed = rc == 0;
					rc = 0;
					devsys__free(fs_state);
					devsys_task_free(task);
				}
				drift(arr, e->d_name, "untracked-folder", "tasks/<id>/ exists but the database has no row",
				      fixed);
			}
		}
		closedir(d);
	}
	devsys_error_clear();
done:
	devsys__free(c.rows);
	devsys_buf_dispose(&tasks_dir);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	if (drift_out)
		*drift_out = json_array_size(arr);
	if (shared) /* the tasks whose folders are on other hosts */
		return dump_to(json_pack("{s:o,s:I,s:I}", "drift", arr, "checked", (json_int_t)checked, "elsewhere",
		                         (json_int_t)elsewhere),
		               out);
	return dump_to(json_pack("{s:o,s:I}", "drift", arr, "checked", (json_int_t)checked), out);
}

static int stat_cb(const char *key, double sum, long long count, void *payload)
{
	devsys_buf *b = payload;
	devsys_buf_printf(b, "devsys_stage_duration_seconds_sum{stage=\"%s\"} %.3f\n", key, sum);
	devsys_buf_printf(b, "devsys_stage_duration_seconds_count{stage=\"%s\"} %lld\n", key, count);
	return 0;
}

/* Queue gauges and claim counters, each series always present (0 when none). */
static const char *const claim_ends[] = { "held", "released", "completed", "expired" };

struct qstats {
	long long free_, held, ends[4];
	long long busy; /* the backend's busy retries, -1 when it does not count them */
};

static int qstats_cb(const char *key, double sum, long long count, void *payload)
{
	struct qstats *q = payload;
	(void)sum;
	if (!strcmp(key, "queue:free"))
		q->free_ = count;
	else if (!strcmp(key, "queue:held"))
		q->held = count;
	else if (!strcmp(key, "store:busy_retries"))
		q->busy = count;
	else if (!strncmp(key, "claims:", 7))
		for (size_t i = 0; i < 4; i++)
			if (!strcmp(key + 7, claim_ends[i]))
				q->ends[i] = count;
	return 0;
}

static const char *worker_state(const devsys__worker_row *w);

struct wstats {
	long long alive, stale, stopped, claimed, expiries;
};

static int wstats_cb(const devsys__worker_row *w, void *payload)
{
	struct wstats *ws = payload;
	const char *state = worker_state(w);
	if (!strcmp(state, "alive"))
		ws->alive++;
	else if (!strcmp(state, "stale"))
		ws->stale++;
	else
		ws->stopped++;
	ws->claimed += w->claimed;
	ws->expiries += w->expiries;
	return 0;
}

/* The registry's workers by state, and what the registered workers claimed and lost. */
static int worker_metrics(devsys_store *st, devsys_buf *out)
{
	struct wstats w;
	int rc;
	memset(&w, 0, sizeof(w));
	if ((rc = st->be->worker_list(st->self, wstats_cb, &w)) < 0)
		return rc;
	devsys_buf_printf(out,
	                  "# HELP devsys_workers Registered workers, by state (stale: no beat within its lease).\n"
	                  "# TYPE devsys_workers gauge\n"
	                  "devsys_workers{state=\"alive\"} %lld\ndevsys_workers{state=\"stale\"} %lld\n"
	                  "devsys_workers{state=\"stopped\"} %lld\n",
	                  w.alive, w.stale, w.stopped);
	devsys_buf_printf(out,
	                  "# HELP devsys_worker_claims_total Tasks the registered workers claimed.\n"
	                  "# TYPE devsys_worker_claims_total counter\ndevsys_worker_claims_total %lld\n"
	                  "# HELP devsys_worker_lease_expiries_total Leases the registered workers lost.\n"
	                  "# TYPE devsys_worker_lease_expiries_total counter\ndevsys_worker_lease_expiries_total %lld\n",
	                  w.claimed, w.expiries);
	return 0;
}

static int queue_metrics(devsys_store *st, devsys_buf *out)
{
	struct qstats q;
	int rc;
	memset(&q, 0, sizeof(q));
	q.busy = -1;
	if ((rc = st->be->queue_stats(st->self, qstats_cb, &q)) < 0)
		return rc;
	devsys_buf_printf(out, "# HELP devsys_queue_tasks Tasks in the queue, by lease.\n# TYPE devsys_queue_tasks gauge\n"
	                       "devsys_queue_tasks{lease=\"free\"} %lld\ndevsys_queue_tasks{lease=\"held\"} %lld\n",
	                  q.free_, q.held);
	devsys_buf_puts(out, "# HELP devsys_claims_total Claims of queued tasks, by how the lease ended (held: not yet).\n"
	                     "# TYPE devsys_claims_total counter\n");
	for (size_t i = 0; i < 4; i++)
		devsys_buf_printf(out, "devsys_claims_total{how=\"%s\"} %lld\n", claim_ends[i], q.ends[i]);
	if (q.busy >= 0)
		devsys_buf_printf(out, "# HELP devsys_store_busy_retries_total Waits of this store handle for another writer "
		                       "(the database was locked).\n# TYPE devsys_store_busy_retries_total counter\n"
		                       "devsys_store_busy_retries_total %lld\n",
		                  q.busy);
	return worker_metrics(st, out);
}

int devsys_store_metrics(devsys_store *st, devsys_buf *out)
{
	long long counts[DEVSYS_STATE_COUNT];
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(out);
	devsys_buf_clear(out);
	LOCKED(st);
	rc = st->be->count_by_state(st->self, counts, DEVSYS_STATE_COUNT);
	if (rc == 0) {
		devsys_buf_puts(out, "# HELP devsys_tasks Tasks in the store by state.\n# TYPE devsys_tasks gauge\n");
		for (int i = 0; i < DEVSYS_STATE_COUNT; i++)
			devsys_buf_printf(out, "devsys_tasks{state=\"%s\"} %lld\n", state_names[i], counts[i]);
		devsys_buf_puts(out, "# HELP devsys_stage_duration_seconds Time spent in pipeline stages.\n"
		                     "# TYPE devsys_stage_duration_seconds summary\n");
		rc = st->be->stage_stats(st->self, stat_cb, out);
	}
	if (rc == 0)
		rc = queue_metrics(st, out);
	UNLOCKED(st);
	return rc;
}

/* ---- the queue ---- */

#define DEFAULT_LEASE_MS 30000u

static int text_arg(const char *what, const char *v, bool may_be_empty)
{
	if (!v || (!may_be_empty && !v[0]))
		return devsys__error_set(DEVSYS_EINVAL, "queue: %s is missing", what);
	if (strlen(v) >= DEVSYS__STORE_TEXT)
		return devsys__error_set(DEVSYS_ELIMIT, "queue: %s is longer than %d bytes", what, DEVSYS__STORE_TEXT - 1);
	return 0;
}

int devsys_store_submit(devsys_store *st, const char *id, const char *profile, const char *schema)
{
	devsys__queue_row q;
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = text_arg("the profile", profile ? profile : "", true)) < 0 ||
	    (rc = text_arg("the schema id", schema ? schema : "", true)) < 0)
		return rc;
	memset(&q, 0, sizeof(q));
	snprintf(q.profile, sizeof(q.profile), "%s", profile ? profile : "");
	snprintf(q.schema, sizeof(q.schema), "%s", schema ? schema : "");
	devsys__time_iso8601(q.submitted_at, sizeof(q.submitted_at));
	TXN(st, {
		if ((rc = get_row(st, id, &r)) == 0) {
			snprintf(q.task_id, sizeof(q.task_id), "%s", id);
			if (r.state != DEVSYS_STATE_VALIDATED)
				rc = devsys__error_set(DEVSYS_ESTATE, "task '%s' is %s: only a validated task can be queued",
				                       id, state_names[r.state]);
			else if ((rc = st->be->queue_insert(st->self, &q)) == DEVSYS_EEXISTS)
				rc = devsys__error_set(DEVSYS_EEXISTS, "task '%s' is queued already", id);
			/* a worker on another host makes the task's folder from it (materialise()) */
			else if (rc == 0 && (rc = keep_spec(st, id)) == 0)
				rc = do_transition(st, &r, DEVSYS_STATE_QUEUED, "submitted");
		}
	});
	return rc;
}

/* Mark @p r interrupted, naming the stage it was in (or last ran), unless it has stopped already. */
static int interrupt_task(devsys_store *st, devsys__task_row *r, const char *why)
{
	char reason[400];
	const char *stage = r->stage[0] ? r->stage : r->last_stage[0] ? r->last_stage : "none";
	int rc;
	if (is_final(r->state) || r->state == DEVSYS_STATE_INTERRUPTED || r->state == DEVSYS_STATE_QUEUED)
		return 0;
	snprintf(reason, sizeof(reason), "stage %s interrupted: %s", stage, why);
	r->resume_state = r->state;
	if (!r->stage[0] && r->last_stage[0])
		snprintf(r->stage, sizeof(r->stage), "%s", r->last_stage); /* named in the event */
	if ((rc = do_transition(st, r, DEVSYS_STATE_INTERRUPTED, reason)) < 0)
		return rc;
	clear_stage(r);
	return st->be->task_update(st->self, r);
}

struct qcollect {
	devsys__queue_row *rows;
	size_t n, cap;
};

static int qcollect_cb(const devsys__queue_row *row, void *payload)
{
	struct qcollect *c = payload;
	if (c->n == c->cap) {
		devsys__queue_row *nr = devsys__realloc(c->rows, (c->cap = c->cap ? c->cap * 2 : 8) * sizeof(*nr));
		if (!nr)
			return 1;
		c->rows = nr;
	}
	c->rows[c->n++] = *row;
	return 0;
}

/* Take back every expired lease (inside the claim's transaction). */
static int expire_leases(devsys_store *st)
{
	struct qcollect c = { NULL, 0, 0 };
	int rc = st->be->queue_expired(st->self, qcollect_cb, &c);
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		devsys__task_row r;
		char why[400];
		snprintf(why, sizeof(why), "the lease of worker %s on %s expired", c.rows[i].owner, c.rows[i].host);
		/* a row whose task is gone from the store has nothing to interrupt: its lease just ends;
		 * nor has one whose id (from the database) is not a task id: it never becomes a path */
		if (devsys_task_id_check(c.rows[i].task_id) < 0) {
			devsys_error_clear();
			rc = 0;
		} else if ((rc = st->be->task_get(st->self, c.rows[i].task_id, &r)) == 0)
			rc = interrupt_task(st, &r, why);
		else if (rc == DEVSYS_ENOTFOUND)
			rc = 0;
		if (rc == 0 && (rc = st->be->lease_end(st->self, c.rows[i].task_id, c.rows[i].owner, "expired", 0)) > 0)
			rc = 0;
	}
	devsys__free(c.rows);
	return rc;
}

/*
 * A task no worker holds whose cancel was requested (its holder handed it
 * back or died before it saw the request) is canceled instead of claimed:
 * 1 canceled, 0 no request.
 */
static int cancel_free(devsys_store *st, devsys__task_row *r)
{
	char reason[DEVSYS__STORE_TEXT * 2];
	int rc = st->be->cancel_get(st->self, r->id, reason, sizeof(reason));
	if (rc <= 0)
		return rc;
	clear_stage(r);
	if ((rc = do_transition(st, r, DEVSYS_STATE_CANCELED, reason[0] ? reason : "cancel requested")) < 0)
		return rc;
	return 1;
}

/*
 * The next free row of @p profiles whose task can still run: rows of tasks
 * that ended meanwhile (canceled while queued, say) leave the queue unclaimed.
 */
static int drop_final(devsys_store *st, const char *const *profiles, size_t n, devsys__queue_row *q,
                      char *refused, size_t refused_size)
{
	devsys__task_row r;
	int rc;
	while ((rc = st->be->queue_next(st->self, profiles, n, q)) == 0) {
		/* the id comes from the database: one that is not a task id (say "../x") never becomes a path */
		if (devsys_task_id_check(q->task_id) < 0) {
			if (!refused[0])
				snprintf(refused, refused_size, "%s", devsys_error_message(devsys_error_last()));
			devsys_error_clear();
			devsys__log(st->ws, DEVSYS_LOG_WARN, "store", "queue: dropped a row of the store whose task id is "
			            "not valid: %s", refused);
			if ((rc = st->be->lease_end(st->self, q->task_id, "", "refused", 1)) < 0)
				return rc;
			continue;
		}
		if ((rc = st->be->task_get(st->self, q->task_id, &r)) < 0 && rc != DEVSYS_ENOTFOUND)
			return rc;
		if (rc == 0 && !is_final(r.state) && (rc = cancel_free(st, &r)) <= 0)
			return rc;
		if ((rc = st->be->lease_end(st->self, q->task_id, "", "dropped", 1)) < 0 ||
		    (rc = st->be->cancel_clear(st->self, q->task_id)) < 0)
			return rc;
	}
	return rc;
}

/*
 * The claim with its state change's documents in one commit, on a backend
 * that keeps documents and can leave a claim's transaction open
 * (claim_open): the folder is written, its documents kept, then all of it
 * commits. The folder goes first here, so a commit that fails leaves it
 * ahead of the store: it then says a state the store's copy does not, and
 * the store answers for it (folder_fresh) until the next change from the
 * store's state refreshes it (refresh_stale). 1 claimed, 0 nothing taken,
 * 2 for the plain claim (none here, a lost connection, or an id the rule
 * refuses, which the plain claim drops).
 */
static int claim_keeping(devsys_store *st, const devsys__claim_req *req, devsys__queue_row *q, devsys__task_row *r)
{
	int moved = 0, rc;
	if (!st->be->claim_open || !keeps_documents(st))
		return 2;
	if ((rc = st->be->claim_open(st->self, req, q, r, &moved)) <= 0) {
		if (rc != DEVSYS_ENETWORK)
			return rc;
		devsys_error_clear();
		return 2;
	}
	if (devsys_task_id_check(q->task_id) < 0) {
		devsys_error_clear();
		st->be->rollback(st->self);
		return 2;
	}
	if (moved && (rc = write_files(st, r, req->from, req->reason, false)) < 0) {
		st->be->rollback(st->self);
		return rc;
	}
	if ((rc = st->be->commit(st->self)) == DEVSYS_ENETWORK) {
		devsys_error_clear();
		return 2;
	}
	return rc < 0 ? rc : 1;
}

/*
 * The claim in one statement, on a backend that has it (claim_one): when
 * there is nothing to sweep, drop or cancel first, the oldest free task is
 * taken and moved to validated, committed; then its files, as a committed
 * transaction's are written. 1 claimed, 0 the full claim has to run.
 */
static int claim_one(devsys_buf *id_out, devsys__queue_row *q_out, devsys_store *st, const char *owner,
                     const char *host, const char *const *profiles, size_t nprofiles, unsigned int lease_ms)
{
	devsys__claim_req req = { profiles, nprofiles, owner, host, lease_ms, 0, DEVSYS_STATE_QUEUED,
		                  DEVSYS_STATE_VALIDATED, NULL, NULL };
	devsys__queue_row q;
	devsys__task_row r;
	char reason[400], at[40];
	int moved = 0, rc;
	if (!st->be->claim_one)
		return 0;
	for (int s = 0; s < 32; s++)
		req.final_mask |= is_final(s) ? 1u << s : 0;
	snprintf(reason, sizeof(reason), "claimed by worker %s on %s", owner, host);
	devsys__time_iso8601(at, sizeof(at));
	req.reason = reason;
	req.at = at;
	LOCKED(st);
	rc = claim_keeping(st, &req, &q, &r);
	if (rc == 1) {
		*q_out = q;
		rc = devsys_buf_puts(id_out, q.task_id) < 0 ? DEVSYS_ENOMEM : 1;
		UNLOCKED(st);
		return rc;
	}
	if (rc == 2) /* the plain claim below, which also refuses a bad id or sees a lost claim through */
		rc = st->be->claim_one(st->self, &req, &q, &r, &moved);
	if (rc > 0 && devsys_task_id_check(q.task_id) < 0) {
		/* the backend's query follows the task id rule; should the two ever differ, the rule wins */
		char why[300];
		snprintf(why, sizeof(why), "%s", devsys_error_message(devsys_error_last()));
		(void)st->be->lease_end(st->self, q.task_id, owner, "refused", 1);
		rc = devsys__error_set(DEVSYS_EBADID, "queue: the store held a queued task whose id is refused (%s); its "
		                                      "queue row was dropped",
		                       why);
	}
	if (rc > 0 && moved) {
		st->defer = true; /* written as after a commit: task.json, the event, then the documents */
		if ((rc = sync_pending(st, sync_files(st, &r, req.from, reason, false))) == 0)
			rc = 1;
	}
	if (rc > 0 && devsys_buf_puts(id_out, q.task_id) < 0)
		rc = DEVSYS_ENOMEM;
	if (rc > 0)
		*q_out = q;
	UNLOCKED(st);
	return rc;
}

int devsys_store_claim(devsys_buf *id_out, devsys_store *st, const char *owner, const char *host,
                       const char *const *profiles, size_t nprofiles, unsigned int lease_ms)
{
	return devsys__store_claim(id_out, NULL, 0, st, owner, host, profiles, nprofiles, lease_ms);
}

int devsys__store_claim(devsys_buf *id_out, char *profile_out, size_t profile_size, devsys_store *st,
                        const char *owner, const char *host, const char *const *profiles, size_t nprofiles,
                        unsigned int lease_ms)
{
	devsys__queue_row q;
	bool found = false;
	char refused[300] = "";
	int rc;
	DEVSYS__CHECK_ARG(id_out);
	DEVSYS__CHECK_ARG(st);
	devsys_buf_clear(id_out);
	if ((rc = text_arg("the worker id", owner, false)) < 0 || (rc = text_arg("the host", host, false)) < 0)
		return rc;
	if (nprofiles && !profiles)
		return devsys__error_set(DEVSYS_EINVAL, "queue: %zu profiles but no list", nprofiles);
	if (!lease_ms)
		lease_ms = DEFAULT_LEASE_MS;
	if (profile_out && profile_size)
		profile_out[0] = '\0';
	if ((rc = claim_one(id_out, &q, st, owner, host, profiles, nprofiles, lease_ms)) != 0) {
		if (rc > 0 && profile_out && profile_size)
			snprintf(profile_out, profile_size, "%s", q.profile);
		return rc < 0 ? rc : 0;
	}
	TXN(st, {
		found = false; /* a retried transaction starts over */
		refused[0] = '\0';
		devsys_buf_clear(id_out);
		if ((rc = expire_leases(st)) == 0)
			rc = drop_final(st, profiles, nprofiles, &q, refused, sizeof(refused));
		if (rc == 0 && (rc = st->be->lease_take(st->self, q.task_id, owner, host, lease_ms)) > 0) {
			devsys__task_row r;
			char reason[400];
			found = true;
			snprintf(reason, sizeof(reason), "claimed by worker %s on %s", owner, host);
			rc = get_row(st, q.task_id, &r);
			if (rc == 0 && r.state == DEVSYS_STATE_QUEUED)
				rc = do_transition(st, &r, DEVSYS_STATE_VALIDATED, reason);
			if (rc == 0 && devsys_buf_puts(id_out, q.task_id) < 0)
				rc = DEVSYS_ENOMEM;
			if (rc == 0 && profile_out && profile_size)
				snprintf(profile_out, profile_size, "%s", q.profile);
		} else if (rc == DEVSYS_ENOTFOUND || rc == 0)
			rc = 0; /* nothing free: the sweep above still commits */
	});
	if (rc < 0)
		return rc;
	if (!found && refused[0])
		return devsys__error_set(DEVSYS_EBADID, "queue: the store held a queued task whose id is refused (%s); its "
		                                        "queue row was dropped and nothing of it ran or was written",
		                         refused);
	return found ? 0 : DEVSYS_ENOTFOUND;
}

static int not_held(const char *id, const char *owner)
{
	return devsys__error_set(DEVSYS_ESTATE,
	                         "task '%s' is not leased by worker '%s' (the lease expired or was handed back)", id,
	                         owner);
}

int devsys_store_heartbeat(devsys_store *st, const char *id, const char *owner, unsigned int lease_ms)
{
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = devsys_task_id_check(id)) < 0 || (rc = text_arg("the worker id", owner, false)) < 0)
		return rc;
	if (st->be->extend_one) { /* one statement, committed on its own */
		LOCKED(st);
		rc = st->be->extend_one(st->self, id, owner, lease_ms ? lease_ms : DEFAULT_LEASE_MS);
		UNLOCKED(st);
		return rc == 0 ? not_held(id, owner) : rc > 0 ? 0 : rc;
	}
	TXN(st, {
		if ((rc = st->be->lease_extend(st->self, id, owner, lease_ms ? lease_ms : DEFAULT_LEASE_MS)) == 0)
			rc = not_held(id, owner);
		else if (rc > 0)
			rc = 0;
	});
	return rc;
}

int devsys_store_release(devsys_store *st, const char *id, const char *owner, const char *reason)
{
	devsys__task_row r;
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = devsys_task_id_check(id)) < 0 || (rc = text_arg("the worker id", owner, false)) < 0)
		return rc;
	TXN(st, {
		if ((rc = st->be->lease_end(st->self, id, owner, "released", 0)) == 0)
			rc = not_held(id, owner);
		else if (rc > 0 && (rc = get_row(st, id, &r)) == 0 && r.stage[0]) {
			char why[400];
			snprintf(why, sizeof(why), "worker %s handed the task back%s%s", owner, reason ? ": " : "",
			         reason ? reason : "");
			rc = interrupt_task(st, &r, why);
		}
	});
	return rc;
}

int devsys_store_complete(devsys_store *st, const char *id, const char *owner)
{
	int rc;
	DEVSYS__CHECK_ARG(st);
	if ((rc = devsys_task_id_check(id)) < 0 || (rc = text_arg("the worker id", owner, false)) < 0)
		return rc;
	if (st->be->complete_one) { /* one statement, committed on its own */
		LOCKED(st);
		rc = st->be->complete_one(st->self, id, owner);
		UNLOCKED(st);
		return rc == 0 ? not_held(id, owner) : rc > 0 ? 0 : rc;
	}
	TXN(st, {
		if ((rc = st->be->lease_end(st->self, id, owner, "completed", 1)) == 0)
			rc = not_held(id, owner);
		else if (rc > 0)
			rc = st->be->cancel_clear(st->self, id);
	});
	return rc;
}

int devsys_store_wait_work(devsys_store *st, unsigned int timeout_ms)
{
	DEVSYS__CHECK_ARG(st);
	/* without the store's lock: the backend's listener has its own, and heartbeats must not wait */
	if (!st->be->wait_work)
		return 0;
	return st->be->wait_work(st->self, timeout_ms) > 0;
}

bool devsys__store_can_wait_work(const devsys_store *st)
{
	return st && st->be->wait_work;
}

const char *devsys_store_backend_name(const devsys_store *st)
{
	return st ? st->be->name : NULL;
}

static int queue_json_cb(const devsys__queue_row *q, void *payload)
{
	long long left = q->owner[0] ? q->lease_until_ms - q->now_ms : 0;
	return json_array_append_new(
	               payload, json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:I,s:b}", "task", q->task_id, "profile", q->profile,
	                                  "schema", q->schema, "submitted_at", q->submitted_at, "owner",
	                                  q->owner[0] ? q->owner : NULL, "host", q->owner[0] ? q->host : NULL,
	                                  "lease_ms_left", (json_int_t)(left > 0 ? left : 0), "held",
	                                  devsys__queue_row_held(q))) != 0;
}

static int claim_json_cb(const devsys__claim_row *c, void *payload)
{
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:I,s:I,s:o,s:s}", "seq", (json_int_t)c->seq, "task", c->task_id,
	                      "owner", c->owner, "host", c->host, "claimed_ms", (json_int_t)c->claimed_ms, "until_ms",
	                      (json_int_t)c->until_ms, "ended_ms",
	                      c->ended_ms ? json_integer((json_int_t)c->ended_ms) : json_null(), "how", c->how);
	return json_array_append_new(payload, o) != 0;
}

int devsys_store_claims_json(devsys_store *st, const char *task_id, devsys_buf *out)
{
	json_t *queue, *claims;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(out);
	if (task_id && (rc = devsys_task_id_check(task_id)) < 0)
		return rc;
	queue = json_array();
	claims = json_array();
	if (!queue || !claims) {
		json_decref(queue);
		json_decref(claims);
		return devsys__error_oom();
	}
	LOCKED(st);
	if ((rc = st->be->queue_list(st->self, task_id, queue_json_cb, queue)) == 0)
		rc = st->be->claim_list(st->self, task_id, claim_json_cb, claims);
	UNLOCKED(st);
	if (rc < 0) {
		json_decref(queue);
		json_decref(claims);
		return rc;
	}
	return dump_to(json_pack("{s:o,s:o}", "queue", queue, "claims", claims), out);
}

/* ---- the worker registry and cancel requests ---- */

static const size_t worker_info_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_store_worker_info, stopped), /* 1 */
};

int devsys_store_worker_beat(devsys_store *st, const devsys_store_worker_info *info)
{
	devsys_store_worker_info in = DEVSYS_STORE_WORKER_INFO_INIT;
	devsys__worker_row w;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(info);
	if ((rc = devsys__versioned_copy(&in, info, worker_info_sizes, DEVSYS_STORE_WORKER_INFO_VERSION,
	                                 "devsys_store_worker_info")) < 0 ||
	    (rc = text_arg("the worker id", in.id, false)) < 0 || (rc = text_arg("the host", in.host, false)) < 0)
		return rc;
	memset(&w, 0, sizeof(w));
	snprintf(w.id, sizeof(w.id), "%s", in.id);
	snprintf(w.host, sizeof(w.host), "%s", in.host);
	w.pid = in.pid;
	w.jobs = in.jobs;
	w.lease_ms = in.lease_ms ? in.lease_ms : DEFAULT_LEASE_MS;
	w.running = (long long)in.running;
	w.claimed = (long long)in.claimed;
	w.completed = (long long)in.completed;
	w.expiries = (long long)in.expiries;
	w.stopped = in.stopped != 0;
	TXN(st, { rc = st->be->worker_beat(st->self, &w); });
	return rc;
}

/* A beat within the worker's lease is alive; the lease is how long a worker may stay silent. */
static const char *worker_state(const devsys__worker_row *w)
{
	if (w->stopped)
		return "stopped";
	return w->now_ms - w->beat_ms <= (long long)w->lease_ms ? "alive" : "stale";
}

static int worker_json_cb(const devsys__worker_row *w, void *payload)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "id", w->id, "host", w->host,
	                      "pid", (json_int_t)w->pid, "jobs", (int)w->jobs, "lease_ms", (int)w->lease_ms, "running",
	                      (json_int_t)w->running, "claimed", (json_int_t)w->claimed, "completed",
	                      (json_int_t)w->completed, "expiries", (json_int_t)w->expiries, "started_ms",
	                      (json_int_t)w->started_ms, "beat_ms", (json_int_t)w->beat_ms, "beat_age_ms",
	                      (json_int_t)(w->now_ms > w->beat_ms ? w->now_ms - w->beat_ms : 0), "state",
	                      worker_state(w));
	return json_array_append_new(payload, o) != 0;
}

int devsys_store_workers_json(devsys_store *st, devsys_buf *out)
{
	json_t *arr;
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(out);
	if (!(arr = json_array()))
		return devsys__error_oom();
	LOCKED(st);
	rc = st->be->worker_list(st->self, worker_json_cb, arr);
	UNLOCKED(st);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	return dump_to(json_pack("{s:o}", "workers", arr), out);
}

struct held {
	bool found, held;
};

static int held_cb(const devsys__queue_row *q, void *payload)
{
	struct held *h = payload;
	h->found = true;
	h->held = devsys__queue_row_held(q);
	return 0;
}

int devsys_store_cancel_request(devsys_store *st, const char *id, const char *reason)
{
	devsys__task_row r;
	struct held h = { false, false };
	int rc, requested = 0;
	DEVSYS__CHECK_ARG(st);
	if ((rc = text_arg("the cancel reason", reason ? reason : "", true)) < 0)
		return rc;
	TXN(st, {
		requested = 0; /* a transaction run again starts afresh */
		h.found = h.held = false;
		if ((rc = get_row(st, id, &r)) == 0 && is_final(r.state))
			rc = devsys__error_set(DEVSYS_ESTATE, "task '%s' is %s already: nothing to cancel", id,
			                       state_names[r.state]);
		if (rc == 0)
			rc = st->be->queue_list(st->self, id, held_cb, &h);
		if (rc == 0 && !h.found)
			rc = devsys__error_set(DEVSYS_ENOTFOUND,
			                       "task '%s' is not in the queue: no worker runs it (cancel its run instead)", id);
		if (rc == 0 && (rc = st->be->cancel_set(st->self, id, reason ? reason : "cancel requested")) == 0)
			rc = devsys__error_set(DEVSYS_ENOTFOUND, "task '%s' left the queue meanwhile", id);
		else if (rc > 0) {
			rc = 0;
			if (h.held)
				requested = 1; /* the holder's heartbeat cancels it */
			else if ((rc = cancel_free(st, &r)) > 0 && (rc = st->be->lease_end(st->self, id, "", "dropped", 1)) >= 0)
				rc = st->be->cancel_clear(st->self, id);
		}
	});
	return rc < 0 ? rc : requested;
}

int devsys_store_cancel_requested(devsys_store *st, const char *id, devsys_buf *reason_out)
{
	char reason[DEVSYS__STORE_TEXT * 2] = "";
	int rc;
	DEVSYS__CHECK_ARG(st);
	if (reason_out)
		devsys_buf_clear(reason_out);
	if ((rc = devsys_task_id_check(id)) < 0)
		return rc;
	LOCKED(st);
	rc = st->be->cancel_get(st->self, id, reason, sizeof(reason));
	UNLOCKED(st);
	if (rc > 0 && reason_out && devsys_buf_puts(reason_out, reason) < 0)
		return devsys__error_oom();
	return rc;
}

/* One write transaction for the store's other row keepers (store_txn.h: slots.c). */
int devsys__store_txn(devsys_store *st, devsys__store_txn_fn fn, void *payload)
{
	int rc;
	DEVSYS__CHECK_ARG(st);
	DEVSYS__CHECK_ARG(fn);
	TXN(st, { rc = fn(st->be, st->self, payload); });
	return rc;
}
