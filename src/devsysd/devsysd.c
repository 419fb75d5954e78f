/*
 * devsysd - the manager's HTTP server: a thin shell over the store, the
 * task record and the report module, on libmicrohttpd in epoll mode.
 * With --workers N it embeds the library's worker (devsys/worker.h), which
 * runs the tasks it accepts. See docs/devsysd.md.
 */
#include <devsys.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(DEVSYS_HAVE_MODULE_SPEC)
#include <devsys/spec.h>
#endif

/* ------------------------------------------------------------ settings */

typedef struct config {
	const char *workspace;
	const char *listen;
	unsigned int port;
	const char *token_file;
	size_t max_body;
	size_t body_budget;            /* bytes all request bodies in flight may hold together */
	unsigned int request_timeout;  /* total seconds per request */
	unsigned int idle_timeout;     /* inactivity seconds (libmicrohttpd) */
	unsigned int per_ip_limit;
	unsigned int max_connections;
	unsigned int threads;
	size_t header_limit;           /* connection memory pool: caps the header size */
	unsigned int sse_max_seconds;
	unsigned int grace;            /* seconds to drain on SIGTERM */
	unsigned int workers;          /* jobs of the embedded worker; 0: none */
	const char *config_path;       /* the operator's devsys.yaml for the embedded worker */
	unsigned int lease_ms;         /* the embedded worker's lease; 0: the library's */
} config;

static config cfg = { NULL, "127.0.0.1", 8080, NULL, 1024 * 1024, 16 * 1024 * 1024, 30, 10, 64, 4096, 2, 16 * 1024,
	             3600, 10, 0, NULL, 0 };

static devsys_workspace *ws;
static devsys_store *store;
#if defined(DEVSYS_HAVE_MODULE_WORKER)
static devsys_worker *worker; /* --workers N: runs what POST /api/tasks queues */
#endif
static char *token;
static size_t token_len;
static struct MHD_Daemon *daemon_;
static atomic_bool stopping;
static _Atomic uint64_t stop_deadline_ns;
static atomic_ullong req_total, req_401, req_4xx, req_5xx, conn_killed;
static _Atomic size_t body_bytes; /* reserved by the bodies in flight, <= cfg.body_budget */

/* ------------------------------------------------------------ connection registry */

typedef struct conn {
	int fd;
	_Atomic uint64_t start_ns; /* written by its connection's thread, read by the reaper */
	struct in_addr addr;
	bool has_addr;
	bool over_limit; /* more than --per-ip-limit connections from its address: answered 429 */
	bool streaming;
	bool killed;
	struct conn *prev, *next;
} conn;

typedef struct sse {
	struct MHD_Connection *c;
	devsys_task *task; /* the stream's own handle; NULL: from the store's copy */
	uint64_t after;    /* the seq of the last event sent */
	uint64_t deadline_ns;
	uint64_t next_beat_ns;
	bool suspended;
	/* a stream of a task whose folder is not here: the events the store keeps */
	char id[DEVSYS_TASK_ID_MAX + 1];
	uint64_t next_poll_ns; /* when the store's copy is read again */
	bool ended;            /* the task's last state change is sent: the stream ends */
	bool told_cut;         /* past the copy's first event: a "truncated" event is sent if it was due */
	char doc_version[DEVSYS_STORE_DOC_VERSION_MAX]; /* the copy's version last read: an unchanged one is not sent */
	char last_to[40];      /* the state the copy's last event is a change to, "" when none */
	struct sse *prev, *next;
} sse;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static conn *conns;
static sse *streams;
static size_t nconns;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		conn *k = calloc(1, sizeof(*k));
		unsigned int same = 0;
		if (!k)
			return;
		k->fd = ci ? ci->connect_fd : -1;
		k->start_ns = now_ns();
		if (ai && ai->client_addr && ai->client_addr->sa_family == AF_INET) {
			k->addr = ((const struct sockaddr_in *)(const void *)ai->client_addr)->sin_addr;
			k->has_addr = true;
		}
		pthread_mutex_lock(&reg_lock);
		/* counted here rather than by libmicrohttpd, which closes an
		 * extra connection without a word: this one gets a 429 */
		for (conn *o = conns; o && k->has_addr; o = o->next)
			if (o->has_addr && o->addr.s_addr == k->addr.s_addr)
				same++;
		k->over_limit = same >= cfg.per_ip_limit;
		k->next = conns;
		if (conns)
			conns->prev = k;
		conns = k;
		nconns++;
		pthread_mutex_unlock(&reg_lock);
		*socket_context = k;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		conn *k = *socket_context;
		/* removed before libmicrohttpd closes the socket, so the reaper
		 * never shuts down a descriptor that was reused */
		pthread_mutex_lock(&reg_lock);
		if (k->prev)
			k->prev->next = k->next;
		else
			conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
		nconns--;
		pthread_mutex_unlock(&reg_lock);
		free(k);
		*socket_context = NULL;
	}
}

static conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? (conn *)ci->socket_context : NULL;
}

/* The reaper: enforces the total per-request deadline (libmicrohttpd's own
 * timeout only measures inactivity, so a client trickling a byte a second
 * would hold a slot forever) and wakes suspended event streams. */
static void *reaper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping) || (streams && now_ns() < atomic_load(&stop_deadline_ns))) {
		struct timespec ts = { 0, 100 * 1000000L };
		uint64_t now = now_ns(), limit = (uint64_t)cfg.request_timeout * 1000000000ull;
		pthread_mutex_lock(&reg_lock);
		/* a connection over its address's limit is only kept to answer
		 * 429: one second to send its request */
		for (conn *k = conns; k; k = k->next) {
			uint64_t start = atomic_load(&k->start_ns); /* may be newer than now: not late then */
			if (!k->streaming && !k->killed && k->fd >= 0 && start < now &&
			    now - start > (k->over_limit ? 1000000000ull : limit)) {
				shutdown(k->fd, SHUT_RDWR);
				k->killed = true;
				atomic_fetch_add(&conn_killed, 1);
			}
		}
		for (sse *s = streams; s; s = s->next)
			if (s->suspended) {
				s->suspended = false;
				MHD_resume_connection(s->c);
			}
		pthread_mutex_unlock(&reg_lock);
		if (atomic_load(&stopping) && (!streams || now_ns() >= atomic_load(&stop_deadline_ns)))
			break; /* libmicrohttpd closes what is left when it stops */
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ------------------------------------------------------------ responses */

static enum MHD_Result send_bytes(struct MHD_Connection *c, unsigned int status, const char *type, const char *body,
                                  size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"devsysd\"");
	if (status == 413)
		MHD_add_response_header(r, "Connection", "close"); /* the rest of the body is not read */
	if (status == 429 || status == 503)
		MHD_add_response_header(r, "Retry-After", "1");
	atomic_fetch_add(&req_total, 1);
	if (status == 401)
		atomic_fetch_add(&req_401, 1);
	if (status >= 400 && status < 500)
		atomic_fetch_add(&req_4xx, 1);
	if (status >= 500)
		atomic_fetch_add(&req_5xx, 1);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	enum MHD_Result ret;
	json_decref(j);
	if (!s)
		return send_bytes(c, 500, "application/json",
		                  "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}", 56);
	ret = send_bytes(c, status, "application/json", s, strlen(s));
	free(s);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned int status, const char *code, const char *fmt,
                                  ...) DEVSYS_PRINTF(4, 5);

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned int status, const char *code, const char *fmt,
                                  ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_json(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

/* Map a library error to an HTTP error. */
static enum MHD_Result send_lib_error(struct MHD_Connection *c, int rc)
{
	const char *m = devsys_error_message(devsys_error_last());
	switch (rc) {
	case DEVSYS_EBADID:
	case DEVSYS_EINVAL:
	case DEVSYS_EPATH:
		return send_error(c, 400, "bad_request", "%s", m);
	case DEVSYS_ENOTFOUND:
		return send_error(c, 404, "not_found", "%s", m);
	case DEVSYS_ESTATE:
	case DEVSYS_EEXISTS:
		return send_error(c, 409, "conflict", "%s", m);
	case DEVSYS_EPARSE:
		return send_error(c, 500, "damaged_record", "%s", m);
	case DEVSYS_EBUSY:
		return send_error(c, 503, "busy", "%s", m);
	default:
		return send_error(c, 500, "internal", "%s", devsys_error_name(rc));
	}
}

static enum MHD_Result send_busy_body(struct MHD_Connection *c)
{
	return send_error(c, 503, "busy",
	                  "the request bodies in flight hold the whole budget (%zu bytes); retry after a second",
	                  cfg.body_budget);
}

/* ------------------------------------------------------------ helpers */

static bool token_ok(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	size_t n;
	unsigned char diff = 0;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	n = strlen(h);
	/* constant time for a given length */
	diff = (unsigned char)(n != token_len);
	for (size_t i = 0; i < token_len; i++)
		diff |= (unsigned char)(token[i] ^ (i < n ? h[i] : 0));
	return diff == 0;
}

static const char *query(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > 100000000ull)
		return false;
	*out = (size_t)v;
	return true;
}

static int open_task(const char *id, devsys_task **task)
{
	return devsys_task_open(task, ws, id, 0);
}

/* Read a file of the task's record (bounded) into @p out; the record names the path. */
static int read_record_file(devsys_task *task, devsys_record_file file, unsigned int run, devsys_buf *out, size_t max)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	int rc, fd;
	struct stat st;
	if ((rc = devsys_record_path(&p, task, file, run, NULL)) < 0)
		return rc;
	fd = open(p.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	devsys_buf_dispose(&p);
	if (fd < 0)
		return errno == ENOENT ? DEVSYS_ENOTFOUND : DEVSYS_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		close(fd);
		return DEVSYS_ELIMIT;
	}
	devsys_buf_clear(out);
	for (;;) {
		char b[65536];
		ssize_t n = read(fd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		devsys_buf_put(out, b, (size_t)n);
	}
	close(fd);
	return 0;
}

/* ------------------------------------------------------------ tests cache */

/* A built answer: one libmicrohttpd response, body and headers, made once
 * per run and queued for every request that wants it, so the hot path
 * allocates nothing (libmicrohttpd counts the connections still sending
 * it; refs counts the cache and the requests between finding it and
 * queueing it). */
typedef struct body_ref {
	atomic_int refs;
	struct MHD_Response *r;
} body_ref;

static void body_unref(body_ref *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
		MHD_destroy_response(b->r);
		free(b);
	}
}

/* A new answer holding a copy of @p data, with one reference. */
static body_ref *body_ref_new(const char *data, size_t len)
{
	body_ref *b = malloc(sizeof(*b));
	if (!b)
		return NULL;
	if (!(b->r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY))) {
		free(b);
		return NULL;
	}
	MHD_add_response_header(b->r, "Content-Type", "application/json");
	MHD_add_response_header(b->r, "Cache-Control", "no-store");
	MHD_add_response_header(b->r, "X-Content-Type-Options", "nosniff");
	atomic_init(&b->refs, 1);
	return b;
}

typedef struct cache_entry {
	char id[DEVSYS_TASK_ID_MAX + 1];
	unsigned int run;
	struct timespec mtime;   /* summary.json */
	off_t size;
	bool have_latest;        /* reports/latest's identity, for the fast path */
	char latest_path[4096];  /* reports/latest, as the record names it */
	ino_t latest_ino;
	struct timespec latest_mtime;
	body_ref *body;
	uint64_t used;
} cache_entry;

#define CACHE_SIZE 64
static cache_entry cache[CACHE_SIZE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cache_clock;

static enum MHD_Result send_shared(struct MHD_Connection *c, body_ref *b)
{
	atomic_fetch_add(&req_total, 1);
	return MHD_queue_response(c, 200, b->r);
}

/* Each polling thread keeps its own references to the last answers it
 * served, so a repeated GET .../tests/latest takes no lock at all: with
 * the polling threads and the clients on two busy cores, a thread
 * preempted while holding cache_lock stalls the other one for a whole
 * time slice, which is what the p99 latency shows. An entry is used only
 * when reports/latest has the identity it was built for, like the shared
 * cache's; its reference is dropped when the slot is reused or the thread
 * ends. */
#define FRONT_SIZE 8

typedef struct front_entry {
	char id[DEVSYS_TASK_ID_MAX + 1];
	char latest_path[4096]; /* reports/latest, as the record names it */
	ino_t ino;
	struct timespec mtime;
	body_ref *body;
} front_entry;

static __thread front_entry front[FRONT_SIZE];
static __thread unsigned int front_next;
static pthread_key_t front_key;
static pthread_once_t front_once = PTHREAD_ONCE_INIT;

static void front_release(void *unused)
{
	(void)unused;
	for (int i = 0; i < FRONT_SIZE; i++) {
		body_unref(front[i].body);
		front[i].body = NULL;
	}
}

static void front_key_make(void)
{
	pthread_key_create(&front_key, front_release);
}

static bool same_latest(ino_t ino, const struct timespec *mtime, const struct stat *st)
{
	return ino == st->st_ino && mtime->tv_sec == st->st_mtim.tv_sec && mtime->tv_nsec == st->st_mtim.tv_nsec;
}

/* Keep @p b (a new reference is taken) in this thread's front cache. */
static void front_keep(const char *id, const char *latest_path, const struct stat *st, body_ref *b)
{
	front_entry *f = &front[front_next++ % FRONT_SIZE];
	pthread_once(&front_once, front_key_make);
	pthread_setspecific(front_key, front); /* any non-NULL value: runs front_release at thread exit */
	body_unref(f->body);
	atomic_fetch_add(&b->refs, 1);
	snprintf(f->id, sizeof(f->id), "%s", id);
	snprintf(f->latest_path, sizeof(f->latest_path), "%s", latest_path);
	f->ino = st->st_ino;
	f->mtime = st->st_mtim;
	f->body = b;
}

/* GET .../tests/latest without opening the task when reports/latest is
 * the same file as when the cached answer was built (it is replaced by
 * rename, so a new run means a new inode). The path stat()ed is the one the
 * record named when the answer was built. The shared cache is searched
 * under its lock once, and the file is stat()ed after the lock is let go.
 * -1: not cached. */
static int serve_latest_cached(struct MHD_Connection *c, const char *id, enum MHD_Result *ret)
{
	char path[4096];
	struct stat st;
	ino_t ino = 0;
	struct timespec mtime = { 0, 0 };
	body_ref *b = NULL;
	for (int i = 0; i < FRONT_SIZE; i++)
		if (front[i].body && strcmp(front[i].id, id) == 0 && stat(front[i].latest_path, &st) == 0 &&
		    same_latest(front[i].ino, &front[i].mtime, &st)) {
			*ret = send_shared(c, front[i].body);
			return 0;
		}
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SIZE && !b; i++) {
		cache_entry *e = &cache[i];
		if (e->body && e->have_latest && strcmp(e->id, id) == 0) {
			b = e->body;
			e->used = ++cache_clock;
			atomic_fetch_add(&b->refs, 1);
			memcpy(path, e->latest_path, sizeof(path));
			ino = e->latest_ino;
			mtime = e->latest_mtime;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if (!b)
		return -1;
	if (stat(path, &st) != 0 || !same_latest(ino, &mtime, &st)) {
		body_unref(b);
		return -1;
	}
	front_keep(id, path, &st, b);
	*ret = send_shared(c, b);
	body_unref(b);
	return 0;
}

/* The cases of @p r into @p cases, or, without a parsed report, "cases_omitted": true in @p root. */
static int put_cases(json_t *root, json_t *cases, const devsys_report *r)
{
	/* the case JSON is the library's, the same the CLI prints */
	devsys_buf cj = DEVSYS_BUF_INIT;
	json_t *all;
	if (!r)
		return json_object_set_new(root, "cases_omitted", json_true()) == 0 ? 0 : DEVSYS_ENOMEM;
	all = devsys_report_cases_json(&cj, r) == 0 ? json_loadb(cj.ptr, cj.size, 0, NULL) : NULL;
	devsys_buf_dispose(&cj);
	if (!all)
		return DEVSYS_ENOMEM;
	json_array_extend(cases, all);
	json_decref(all);
	return 0;
}

/* Build {"task","run","summary","cases":[...]} for run @p run. */
static int build_tests_json(devsys_task *task, unsigned int run, char **out, size_t *len)
{
	devsys_buf sum = DEVSYS_BUF_INIT, p = DEVSYS_BUF_INIT;
	json_t *root = NULL, *summary, *cases;
	devsys_report *r = NULL;
	int rc;
	if ((rc = read_record_file(task, DEVSYS_RECORD_FILE_RUN_SUMMARY, run, &sum, 16 * 1024 * 1024)) < 0)
		goto done;
	if (!(summary = json_loadb(sum.ptr ? sum.ptr : "", sum.size, 0, NULL))) {
		rc = DEVSYS_EPARSE;
		goto done;
	}
	cases = json_array();
	root = json_pack("{s:s,s:i,s:o,s:o}", "task", devsys_task_id(task), "run", (int)run, "summary", summary,
	                 "cases", cases);
	if (devsys_record_path(&p, task, DEVSYS_RECORD_FILE_RUN_JUNIT, run, NULL) < 0 ||
	    devsys_report_parse_junit(&r, p.ptr, NULL) < 0)
		r = NULL;
	if ((rc = put_cases(root, cases, r)) < 0)
		goto done;
	*out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	*len = *out ? strlen(*out) : 0;
	rc = *out ? 0 : DEVSYS_ENOMEM;
done:
	devsys_report_free(r);
	json_decref(root);
	devsys_buf_dispose(&sum);
	devsys_buf_dispose(&p);
	return rc;
}

static enum MHD_Result serve_tests(struct MHD_Connection *c, devsys_task *task, unsigned int run, bool latest)
{
	const char *fmt = query(c, "format");
	devsys_buf p = DEVSYS_BUF_INIT;
	struct stat st;
	char *body = NULL;
	size_t len = 0;
	int rc;
	enum MHD_Result ret;

	if (fmt && strcmp(fmt, "junit") != 0 && strcmp(fmt, "json") != 0)
		return send_error(c, 400, "bad_request", "format must be json or junit");
	if (devsys_record_path(&p, task, DEVSYS_RECORD_FILE_RUN_SUMMARY, run, NULL) < 0 || stat(p.ptr, &st) != 0) {
		devsys_buf_dispose(&p);
		return send_error(c, 404, "not_found", "task '%s' has no complete test run %u%s", devsys_task_id(task), run,
		                  latest ? " (latest)" : "");
	}
	devsys_buf_dispose(&p);
	if (fmt && strcmp(fmt, "junit") == 0) {
		devsys_buf x = DEVSYS_BUF_INIT;
		if ((rc = read_record_file(task, DEVSYS_RECORD_FILE_RUN_JUNIT, run, &x, 256 * 1024 * 1024)) < 0) {
			devsys_buf_dispose(&x);
			return send_error(c, 404, "not_found", "run %u has no normalised JUnit XML", run);
		}
		ret = send_bytes(c, 200, "application/xml", x.ptr ? x.ptr : "", x.size);
		devsys_buf_dispose(&x);
		return ret;
	}
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SIZE; i++) {
		cache_entry *e = &cache[i];
		if (e->body && e->run == run && strcmp(e->id, devsys_task_id(task)) == 0 &&
		    e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec && e->size == st.st_size) {
			body_ref *b = e->body;
			e->used = ++cache_clock;
			atomic_fetch_add(&b->refs, 1);
			pthread_mutex_unlock(&cache_lock);
			ret = send_shared(c, b);
			body_unref(b);
			return ret;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if ((rc = build_tests_json(task, run, &body, &len)) < 0)
		return rc == DEVSYS_ENOTFOUND ? send_error(c, 404, "not_found", "run %u has no summary", run)
		                              : send_error(c, 500, "damaged_record", "run %u's summary cannot be read", run);
	{
		body_ref *b = body_ref_new(body, len); /* the cache's reference */
		struct stat lst;
		devsys_buf lpath = DEVSYS_BUF_INIT;
		bool have_latest = false;
		free(body);
		if (!b)
			return MHD_NO;
		ret = send_shared(c, b);
		if (latest) {
			/* remember which reports/latest this answer belongs to (checked
			 * after building, so a concurrent switch only costs a rebuild) */
			unsigned int now_run;
			have_latest = devsys_record_path(&lpath, task, DEVSYS_RECORD_FILE_LATEST, 0, NULL) == 0 &&
			              lpath.size < sizeof(cache[0].latest_path) && stat(lpath.ptr, &lst) == 0 &&
			              devsys_record_latest_run(task, &now_run) == 0 && now_run == run;
		}
		pthread_mutex_lock(&cache_lock);
		cache_entry *victim = &cache[0];
		for (int i = 0; i < CACHE_SIZE; i++) {
			if (!cache[i].body) {
				victim = &cache[i];
				break;
			}
			if (cache[i].used < victim->used)
				victim = &cache[i];
		}
		body_unref(victim->body);
		snprintf(victim->id, sizeof(victim->id), "%s", devsys_task_id(task));
		victim->run = run;
		victim->mtime = st.st_mtim;
		victim->size = st.st_size;
		victim->have_latest = have_latest;
		if (have_latest) {
			memcpy(victim->latest_path, lpath.ptr, lpath.size + 1);
			victim->latest_ino = lst.st_ino;
			victim->latest_mtime = lst.st_mtim;
		}
		victim->body = b;
		victim->used = ++cache_clock;
		pthread_mutex_unlock(&cache_lock);
		devsys_buf_dispose(&lpath);
	}
	return ret;
}

/*
 * GET /api/tasks/<id> of a task whose folder is not on this host: the
 * task.json the store keeps, with the deploy stage's acceptance report
 * (reports/acceptance.json, kept as "acceptance.json") under
 * "acceptance_report" when the store keeps one. 404 when the store has
 * no such task.
 */
static enum MHD_Result serve_task_from_store(struct MHD_Connection *c, const char *id)
{
	devsys_buf doc = DEVSYS_BUF_INIT;
	json_t *root, *acc;
	int rc = devsys_store_document(&doc, store, id, "task.json");
	if (rc == DEVSYS_ENOTFOUND || rc == DEVSYS_ENOTSUPPORTED) {
		devsys_buf_dispose(&doc);
		devsys_error_clear();
		return send_error(c, 404, "not_found", "no task '%s'", id);
	}
	if (rc < 0) {
		devsys_buf_dispose(&doc);
		return send_lib_error(c, rc);
	}
	root = json_loadb(doc.ptr ? doc.ptr : "", doc.size, JSON_PRESERVE_ORDER, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		devsys_buf_dispose(&doc);
		return send_error(c, 500, "damaged_record", "task '%s': the store's task.json cannot be read", id);
	}
	if (devsys_store_document(&doc, store, id, "acceptance.json") == 0 &&
	    (acc = json_loadb(doc.ptr ? doc.ptr : "", doc.size, JSON_PRESERVE_ORDER, NULL)))
		json_object_set_new(root, "acceptance_report", acc);
	devsys_error_clear();
	devsys_buf_dispose(&doc);
	return send_json(c, 200, root);
}

static bool wants_stream(struct MHD_Connection *c);
static enum MHD_Result serve_events_sse_from_store(struct MHD_Connection *c, const char *id);

/*
 * GET /api/tasks/<id>/events?after=SEQ of a task whose folder is not on this
 * host: the events the store keeps (events.jsonl as of the task's last state
 * change, at most its last 256 KiB), in the folder's answer's shape, with
 * "truncated":true when older events are only in the worker's folder; the
 * live stream (Accept: text/event-stream, ?stream=1) from the same copy
 * (serve_events_sse_from_store()). 404 when the store keeps none.
 */
static enum MHD_Result serve_events_from_store(struct MHD_Connection *c, const char *id)
{
	devsys_buf doc = DEVSYS_BUF_INIT;
	json_t *root, *events;
	size_t after = 0, count = 0;
	json_int_t last = 0;
	bool truncated = false;
	const char *a = query(c, "after");
	char *line, *save = NULL;
	int rc;
	if (wants_stream(c))
		return serve_events_sse_from_store(c, id);
	if (a && !parse_size(a, &after))
		return send_error(c, 400, "bad_request", "'after' must be a sequence number");
	rc = devsys_store_document(&doc, store, id, "events.jsonl");
	if (rc == DEVSYS_ENOTFOUND || rc == DEVSYS_ENOTSUPPORTED) {
		devsys_buf_dispose(&doc);
		devsys_error_clear();
		return send_error(c, 404, "not_found", "no task '%s'", id);
	}
	if (rc < 0) {
		devsys_buf_dispose(&doc);
		return send_lib_error(c, rc);
	}
	events = json_array();
	for (line = doc.ptr ? strtok_r(doc.ptr, "\n", &save) : NULL; line && count < 1000;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *ev = json_loads(line, JSON_PRESERVE_ORDER, NULL);
		json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
		if (json_is_true(json_object_get(ev, "truncated")))
			truncated = true;
		else if (ev && seq > (json_int_t)after) {
			json_array_append(events, ev);
			last = seq;
			count++;
		}
		json_decref(ev);
	}
	devsys_buf_dispose(&doc);
	root = json_pack("{s:s,s:o,s:I}", "task", id, "events", events, "last_seq", last);
	if (root && truncated)
		json_object_set_new(root, "truncated", json_true());
	return send_json(c, 200, root);
}

static enum MHD_Result send_kept(struct MHD_Connection *c, const char *type, const char *kept, size_t len,
                                 uint64_t kept_from, uint64_t size, const char *where);

/* Whether the request asks for JSON (Accept: application/json). */
static bool wants_json(struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	return accept && strstr(accept, "application/json");
}

/*
 * GET /api/tasks/<id>/logs/<stage> of a task whose folder is not on this
 * host: the stage log's last 16 KiB the store keeps, and where the full log
 * is. With Accept: application/json, {"task","stage","host","path","size",
 * "tail_from","tail"}; otherwise the tail's text, as the folder serves the
 * log, honouring a Range in the full log's offsets within the tail (416
 * outside it, naming the host and path of the full log). 404 when the
 * store keeps no log of that stage.
 */
static enum MHD_Result serve_log_from_store(struct MHD_Connection *c, const char *id, const char *stage)
{
	devsys_buf doc = DEVSYS_BUF_INIT;
	char name[80], where[1024];
	json_t *root, *tail;
	enum MHD_Result ret;
	int rc;
	if (devsys_stage_check(stage) < 0)
		return send_error(c, 400, "bad_request", "'%.40s' is not a stage (%s)", stage, DEVSYS_STAGE_NAMES);
	snprintf(name, sizeof(name), "logs/%s", stage);
	rc = devsys_store_document(&doc, store, id, name);
	if (rc == DEVSYS_ENOTFOUND || rc == DEVSYS_ENOTSUPPORTED) {
		devsys_buf_dispose(&doc);
		devsys_error_clear();
		return send_error(c, 404, "not_found", "task '%s' has no %s log in the store", id, stage);
	}
	if (rc < 0) {
		devsys_buf_dispose(&doc);
		return send_lib_error(c, rc);
	}
	root = json_loadb(doc.ptr ? doc.ptr : "", doc.size, JSON_PRESERVE_ORDER, NULL);
	devsys_buf_dispose(&doc);
	if (!json_is_object(root) || !json_is_string(tail = json_object_get(root, "tail"))) {
		json_decref(root);
		return send_error(c, 500, "damaged_record", "task '%s': the store's %s log cannot be read", id, stage);
	}
	if (!wants_json(c)) {
		json_int_t from = json_integer_value(json_object_get(root, "tail_from"));
		json_int_t size = json_integer_value(json_object_get(root, "size"));
		snprintf(where, sizeof(where),
		         "the store keeps bytes %lld-%lld of the %s log of task '%s'; the full log is on host %s at %s",
		         (long long)from, (long long)size - 1, stage, id, json_string_value(json_object_get(root, "host")) ?: "?",
		         json_string_value(json_object_get(root, "path")) ?: "?");
		ret = send_kept(c, "text/plain; charset=utf-8", json_string_value(tail), json_string_length(tail),
		                (uint64_t)from, (uint64_t)size, where);
		json_decref(root);
		return ret;
	}
	json_object_set_new(root, "task", json_string(id));
	json_object_set_new(root, "stage", json_string(stage));
	return send_json(c, 200, root);
}

/*
 * GET /api/tasks/<id>/agent of a task whose folder is not on this host:
 * the agent's events the store keeps ("agent.jsonl", kept when the agent
 * stage ended), as the folder serves logs/agent.jsonl; when the store kept
 * only the last lines, the answer starts at the first of them
 * (X-Devsys-Kept-From) and a Range before it is 416. 404 when the store
 * has no such task or keeps no agent events of it.
 */
static enum MHD_Result serve_agent_from_store(struct MHD_Connection *c, const char *id)
{
	devsys_buf doc = DEVSYS_BUF_INIT;
	const char *kept;
	size_t len;
	uint64_t from = 0;
	char where[512];
	enum MHD_Result ret;
	int rc;
	if (devsys_store_task_state(store, id) < 0) {
		devsys_error_clear();
		return send_error(c, 404, "not_found", "no task '%s'", id);
	}
	if ((rc = devsys_store_document(&doc, store, id, "agent.jsonl")) < 0) {
		devsys_buf_dispose(&doc);
		if (rc != DEVSYS_ENOTFOUND && rc != DEVSYS_ENOTSUPPORTED)
			return send_lib_error(c, rc);
		devsys_error_clear();
		return send_error(c, 404, "not_found", "task '%s' has no agent event log (logs/agent.jsonl) in the store", id);
	}
	kept = doc.ptr ? doc.ptr : "";
	len = doc.size;
	if (strncmp(kept, "{\"truncated\":true,\"dropped_bytes\":", 34) == 0 && memchr(kept, '\n', len)) {
		const char *nl = memchr(kept, '\n', len);
		from = strtoull(kept + 34, NULL, 10); /* the kept lines are the file's from this offset */
		len -= (size_t)(nl + 1 - kept);
		kept = nl + 1;
	}
	snprintf(where, sizeof(where),
	         "the store keeps bytes %llu-%llu of the agent's events of task '%s'; the rest is in logs/agent.jsonl of "
	         "the task's folder on the host that ran its agent stage",
	         (unsigned long long)from, (unsigned long long)(from + len) - 1, id);
	ret = send_kept(c, "application/x-ndjson", kept, len, from, from + len, where);
	devsys_buf_dispose(&doc);
	return ret;
}

/*
 * GET .../tests/latest (@p run 0) or .../runs/<run>/tests of a task whose
 * folder is not on this host (a worker of another host ran it, sharing the
 * store): the summary and normalised JUnit the store keeps with its rows
 * (devsys_store_document()), in the shapes the folder's answer has. 404 when
 * the store has no such task, or keeps no such run of it.
 */
static enum MHD_Result serve_run_from_store(struct MHD_Connection *c, const char *id, unsigned int run)
{
	const char *fmt = query(c, "format");
	bool junit = fmt && strcmp(fmt, "junit") == 0;
	devsys_buf doc = DEVSYS_BUF_INIT;
	devsys_report *r = NULL;
	json_t *root = NULL, *summary, *cases, *runj;
	char sname[40], jname[40], which[24] = "";
	enum MHD_Result ret;
	int rc;
	if (fmt && !junit && strcmp(fmt, "json") != 0)
		return send_error(c, 400, "bad_request", "format must be json or junit");
	if (devsys_store_task_state(store, id) < 0) {
		devsys_error_clear();
		return send_error(c, 404, "not_found", "no task '%s'", id);
	}
	snprintf(sname, sizeof(sname), run ? "runs/%u/summary.json" : "tests/latest/summary.json", run);
	snprintf(jname, sizeof(jname), run ? "runs/%u/junit.xml" : "tests/latest/junit.xml", run);
	if (run)
		snprintf(which, sizeof(which), " %u", run);
	rc = devsys_store_document(&doc, store, id, junit ? jname : sname);
	if (rc == DEVSYS_ENOTFOUND || rc == DEVSYS_ENOTSUPPORTED) {
		devsys_buf_dispose(&doc);
		devsys_error_clear();
		return junit ? send_error(c, 404, "not_found", "task '%s' has no normalised JUnit XML%s%s in the store", id,
		                          run ? " of run" : "", which)
		             : send_error(c, 404, "not_found", "task '%s' has no complete test run%s", id, which);
	}
	if (rc < 0) {
		devsys_buf_dispose(&doc);
		return send_lib_error(c, rc);
	}
	if (junit) {
		ret = send_bytes(c, 200, "application/xml", doc.ptr ? doc.ptr : "", doc.size);
		devsys_buf_dispose(&doc);
		return ret;
	}
	if (!(summary = json_loadb(doc.ptr ? doc.ptr : "", doc.size, 0, NULL))) {
		devsys_buf_dispose(&doc);
		return send_error(c, 500, "damaged_record", "task '%s': the store's test summary cannot be read", id);
	}
	cases = json_array();
	runj = run ? json_integer(run) : json_incref(json_object_get(summary, "run"));
	root = json_pack("{s:s,s:o,s:o,s:o}", "task", id, "run", runj ? runj : json_null(), "summary", summary, "cases",
	                 cases);
	/* the cases from the JUnit the store keeps; a report over its limit is in the worker's folder only */
	if (devsys_store_document(&doc, store, id, jname) < 0 || devsys_report_new(&r) < 0 ||
	    devsys_report_add_junit_buffer(r, doc.ptr ? doc.ptr : "", doc.size, "junit.xml", NULL) < 0) {
		devsys_report_free(r);
		r = NULL;
		devsys_error_clear();
	}
	devsys_buf_dispose(&doc);
	rc = root ? put_cases(root, cases, r) : DEVSYS_ENOMEM;
	devsys_report_free(r);
	if (rc != 0) {
		json_decref(root);
		return send_error(c, 500, "internal", "out of memory");
	}
	return send_json(c, 200, root);
}

static enum MHD_Result serve_latest_from_store(struct MHD_Connection *c, const char *id)
{
	return serve_run_from_store(c, id, 0);
}

/* GET .../runs/<run>/tests of a task whose folder is not on this host, as serve_run_from_store(). */
static enum MHD_Result serve_runs_from_store(struct MHD_Connection *c, const char *id, const char *runs)
{
	size_t run;
	if (!parse_size(runs, &run) || run == 0 || run > 999999999)
		return send_error(c, 400, "bad_request", "run must be a positive number");
	return serve_run_from_store(c, id, (unsigned int)run);
}

/* ------------------------------------------------------------ events */

/* The record gives the events after a seq as JSON lines: each is an object,
 * so the answer's array is the lines joined by commas. */
static enum MHD_Result serve_events_json(struct MHD_Connection *c, devsys_task *task)
{
	devsys_buf lines = DEVSYS_BUF_INIT, body = DEVSYS_BUF_INIT;
	size_t after = 0;
	uint64_t last = 0;
	const char *a = query(c, "after");
	json_t *idj;
	char *ids;
	enum MHD_Result ret;
	if (a && !parse_size(a, &after))
		return send_error(c, 400, "bad_request", "'after' must be a sequence number");
	if (devsys_record_events_since(&lines, &last, task, after, 1000) < 0) {
		devsys_buf_dispose(&lines);
		return send_error(c, 500, "internal", "cannot read the task's events");
	}
	if (last == after)
		last = 0; /* nothing after the seq asked for: last_seq is 0 */
	if (lines.size > 0) {
		lines.ptr[--lines.size] = '\0'; /* the last line's newline */
		for (char *nl = strchr(lines.ptr, '\n'); nl; nl = strchr(nl + 1, '\n'))
			*nl = ',';
	}
	idj = json_string(devsys_task_id(task));
	ids = idj ? json_dumps(idj, JSON_ENCODE_ANY) : NULL;
	json_decref(idj);
	if (ids && devsys_buf_printf(&body, "{\"task\":%s,\"events\":[%s],\"last_seq\":%llu}", ids,
	                             lines.ptr ? lines.ptr : "", (unsigned long long)last) == 0)
		ret = send_bytes(c, 200, "application/json", body.ptr, body.size);
	else
		ret = send_error(c, 500, "internal", "out of memory");
	free(ids);
	devsys_buf_dispose(&lines);
	devsys_buf_dispose(&body);
	return ret;
}

#define SSE_BLOCK (192 * 1024)

typedef struct {
	char *buf;
	size_t max, out;
	uint64_t last;
} sse_frame;

/* One server-sent event per record event; stops when the block is full (sent next time). */
static int sse_event(uint64_t seq, const char *type, const char *line, size_t len, void *payload)
{
	sse_frame *f = payload;
	int w = snprintf(f->buf + f->out, f->max - f->out, "id: %llu\nevent: %s\ndata: %.*s\n\n",
	                 (unsigned long long)seq, type, (int)len, line);
	if (w < 0 || (size_t)w >= f->max - f->out)
		return 1;
	f->out += (size_t)w;
	f->last = seq;
	return 0;
}

/* How often a stream of a task run on another host reads the store's copy of its events. */
#define SSE_STORE_POLL_NS (250 * 1000000ull)

/* A state the task stays in once its worker is done with it: a stream from the store ends there. */
static bool state_ended(int state)
{
	return state == DEVSYS_STATE_AWAITING_REVIEW || state == DEVSYS_STATE_MERGED || state == DEVSYS_STATE_DONE ||
	       state == DEVSYS_STATE_NO_CHANGES || state == DEVSYS_STATE_FAILED || state == DEVSYS_STATE_CANCELED;
}

/* Is @p name the name of a state_ended() state? */
static bool names_ended_state(const char *name)
{
	int state = devsys_task_state_parse(name);
	return state >= 0 && state_ended(state);
}

/*
 * Frame the events the store keeps for @p s after s->after, oldest first,
 * as sse_event() frames the folder's: the kept events.jsonl's lines are
 * the folder's own. A kept copy whose first lines were cut says so once,
 * as an "event: truncated" without an id, before its first event when the
 * client has not seen the event before that one. @p last_to is the state
 * the last kept event is a change to ("" when the last is no state
 * change). true: the block is full.
 */
static bool sse_store_frame(sse *s, sse_frame *f, char *doc, char *last_to, size_t last_to_size)
{
	char *line, *save = NULL, *cut = NULL;
	bool first = true;
	last_to[0] = '\0';
	for (line = doc ? strtok_r(doc, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save), first = false) {
		json_t *ev = json_loads(line, 0, NULL);
		json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
		const char *type = json_string_value(json_object_get(ev, "type"));
		const char *to = json_string_value(json_object_get(json_object_get(ev, "data"), "to"));
		if (first && json_is_true(json_object_get(ev, "truncated")))
			cut = line;
		else if (ev && type && seq > 0) {
			if (cut && !s->told_cut && (uint64_t)seq > s->after + 1) {
				int w = snprintf(f->buf + f->out, f->max - f->out, "event: truncated\ndata: %s\n\n", cut);
				if (w > 0 && (size_t)w < f->max - f->out)
					f->out += (size_t)w;
			}
			s->told_cut = true; /* said, or nothing the client has not seen was cut */
			snprintf(last_to, last_to_size, "%s", strcmp(type, "state") == 0 && to ? to : "");
			if ((uint64_t)seq > f->last && sse_event((uint64_t)seq, type, line, strlen(line), f) != 0) {
				json_decref(ev);
				last_to[0] = '\0'; /* the block is full: not the end yet */
				return true;
			}
		}
		json_decref(ev);
	}
	return false;
}

/*
 * The next block of a stream from the store: what the store's copy holds
 * after the last event sent, read at most every SSE_STORE_POLL_NS (the copy
 * changes at the task's state changes), and its body sent by the store only
 * when it changed since the last read. The stream ends once it has sent a
 * change to the state the task's row is in and that state is one its
 * worker leaves it in. 0: nothing new.
 */
static ssize_t sse_store_fill(sse *s, sse_frame *f)
{
	devsys_buf doc = DEVSYS_BUF_INIT;
	int rc, state;
	if (now_ns() < s->next_poll_ns)
		return 0;
	s->next_poll_ns = now_ns() + SSE_STORE_POLL_NS;
	rc = devsys_store_document_changed(&doc, store, s->id, "events.jsonl", s->doc_version, sizeof(s->doc_version));
	if (rc < 0) {
		devsys_error_clear(); /* not kept yet, or the database is away for a while: try again */
		devsys_buf_dispose(&doc);
		return 0;
	}
	if (rc == 1 && sse_store_frame(s, f, doc.ptr, s->last_to, sizeof(s->last_to))) {
		s->next_poll_ns = 0;      /* a full block: the rest at once, */
		s->doc_version[0] = '\0'; /* from this copy read again */
	}
	devsys_buf_dispose(&doc);
	/* the row may commit its state after the copy shows the change: asked again while the copy stays */
	if (s->last_to[0] && names_ended_state(s->last_to) && (state = devsys_store_task_state(store, s->id)) >= 0 &&
	    state_ended(state) && strcmp(devsys_task_state_name(state), s->last_to) == 0)
		s->ended = true;
	devsys_error_clear();
	return (ssize_t)f->out;
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	sse *s = cls;
	sse_frame f = { buf, max, 0, s->after };
	(void)pos;
	if (atomic_load(&stopping) || now_ns() > s->deadline_ns || (s->ended && !s->task))
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (s->task)
		devsys_record_events_foreach(s->task, s->after, 0, sse_event, &f); /* a full block stops it early */
	else
		sse_store_fill(s, &f);
	s->after = f.last;
	if (f.out > 0) {
		s->next_beat_ns = now_ns() + 15000000000ull;
		return (ssize_t)f.out;
	}
	if (s->ended)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (now_ns() > s->next_beat_ns && max > 16) {
		s->next_beat_ns = now_ns() + 15000000000ull;
		memcpy(buf, ": keep-alive\n\n", 14);
		return 14;
	}
	/* nothing new: park the connection; the reaper wakes it */
	pthread_mutex_lock(&reg_lock);
	MHD_suspend_connection(s->c);
	s->suspended = true;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

static void sse_free(void *cls)
{
	sse *s = cls;
	pthread_mutex_lock(&reg_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&reg_lock);
	devsys_task_free(s->task);
	free(s);
}

/* Whether the request asks for the live stream (Accept: text/event-stream, or ?stream=1). */
static bool wants_stream(struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	const char *stream = query(c, "stream");
	return (accept && strstr(accept, "text/event-stream")) || (stream && strcmp(stream, "1") == 0);
}

/* A new stream of task @p id from Last-Event-ID (else ?after) and ?timeout; NULL: answered with an error. */
static sse *sse_new(struct MHD_Connection *c, const char *id, enum MHD_Result *ret)
{
	const char *last_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	const char *t = query(c, "timeout"), *a = query(c, "after");
	size_t timeout = cfg.sse_max_seconds, after = 0;
	sse *s;
	if ((t && (!parse_size(t, &timeout) || timeout == 0)) || (last_id && !parse_size(last_id, &after)) ||
	    (!last_id && a && !parse_size(a, &after))) {
		*ret = send_error(c, 400, "bad_request", "timeout, after and Last-Event-ID must be numbers");
		return NULL;
	}
	if (timeout > cfg.sse_max_seconds)
		timeout = cfg.sse_max_seconds;
	if (!(s = calloc(1, sizeof(*s)))) {
		*ret = MHD_NO;
		return NULL;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->c = c;
	s->after = after; /* skip what the client has already seen (Last-Event-ID) */
	s->deadline_ns = now_ns() + (uint64_t)timeout * 1000000000ull;
	s->next_beat_ns = now_ns() + 15000000000ull;
	return s;
}

/* Answer with stream @p s (taken). */
static enum MHD_Result sse_start(struct MHD_Connection *c, sse *s)
{
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_reader, s, sse_free);
	enum MHD_Result ret;
	conn *k;
	if (!r) {
		devsys_task_free(s->task);
		free(s);
		return MHD_NO;
	}
	pthread_mutex_lock(&reg_lock);
	s->next = streams;
	if (streams)
		streams->prev = s;
	streams = s;
	if ((k = conn_of(c)))
		k->streaming = true;
	pthread_mutex_unlock(&reg_lock);
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	atomic_fetch_add(&req_total, 1);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_events_sse(struct MHD_Connection *c, devsys_task *task)
{
	enum MHD_Result ret;
	sse *s = sse_new(c, devsys_task_id(task), &ret);
	if (!s)
		return ret;
	/* the stream outlives the request's handle: it keeps its own */
	if (devsys_task_open(&s->task, ws, devsys_task_id(task), 0) < 0) {
		free(s);
		return send_lib_error(c, DEVSYS_ENOTFOUND);
	}
	return sse_start(c, s);
}

/*
 * The live stream of a task whose folder is not on this host: the events
 * the store keeps, then the new ones as the store's copy grows (at each
 * state change), ending with the change to the state its worker leaves it
 * in. 404 when the store keeps no events of the task.
 */
static enum MHD_Result serve_events_sse_from_store(struct MHD_Connection *c, const char *id)
{
	devsys_buf doc = DEVSYS_BUF_INIT;
	enum MHD_Result ret;
	sse *s;
	int rc = devsys_store_document(&doc, store, id, "events.jsonl");
	devsys_buf_dispose(&doc);
	if (rc == DEVSYS_ENOTFOUND || rc == DEVSYS_ENOTSUPPORTED) {
		devsys_error_clear();
		return send_error(c, 404, "not_found", "no task '%s'", id);
	}
	if (rc < 0)
		return send_lib_error(c, rc);
	if (!(s = sse_new(c, id, &ret)))
		return ret;
	return sse_start(c, s);
}

/* ------------------------------------------------------------ logs with Range */

static enum MHD_Result serve_open_file(struct MHD_Connection *c, int fd, const struct stat *st, const char *type);

static enum MHD_Result serve_log(struct MHD_Connection *c, devsys_task *task, const char *stage)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	struct stat st;
	int fd;

	if (devsys_stage_check(stage) < 0)
		return send_error(c, 400, "bad_request", "'%.40s' is not a stage (%s)", stage, DEVSYS_STAGE_NAMES);
	if (devsys_record_path(&p, task, DEVSYS_RECORD_FILE_LOG, 0, stage) < 0) {
		devsys_buf_dispose(&p);
		return send_lib_error(c, DEVSYS_EPATH);
	}
	fd = open(p.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	devsys_buf_dispose(&p);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return send_error(c, 404, "not_found", "task '%s' has no %s log", devsys_task_id(task), stage);
	}
	return serve_open_file(c, fd, &st, "text/plain; charset=utf-8");
}

/*
 * One "Range: bytes=" of a file of @p size bytes into [@p from, @p to]:
 * 1 a range to answer with 206, 0 none (or one not understood: the whole
 * file, 200), -1 a range past the end (416).
 */
static int parse_range(const char *range, uint64_t size, uint64_t *from, uint64_t *to)
{
	const char *spec;
	char *end;
	*from = 0;
	*to = size ? size - 1 : 0;
	if (!range || strncmp(range, "bytes=", 6) != 0 || strchr(range, ','))
		return 0;
	spec = range + 6;
	if (*spec == '-') {
		unsigned long long n = strtoull(spec + 1, &end, 10);
		if (*end || end == spec + 1)
			return 0;
		*from = n >= size ? 0 : size - n;
	} else {
		unsigned long long a = strtoull(spec, &end, 10), b;
		const char *bs = end + 1;
		if (end == spec || *end != '-')
			return 0;
		*from = a;
		if (*bs) {
			b = strtoull(bs, &end, 10);
			if (*end || b < a)
				return 0;
			*to = b >= size ? size - 1 : b;
		}
	}
	return *from >= size || size == 0 ? -1 : 1;
}

/* 416 for a file of @p size bytes, with @p body (JSON, may be "") saying why. */
static enum MHD_Result send_unsatisfiable(struct MHD_Connection *c, uint64_t size, const char *body)
{
	char cr[64];
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;
	if (!r)
		return MHD_NO;
	snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
	MHD_add_response_header(r, "Content-Range", cr);
	if (*body)
		MHD_add_response_header(r, "Content-Type", "application/json");
	atomic_fetch_add(&req_total, 1);
	ret = MHD_queue_response(c, 416, r);
	MHD_destroy_response(r);
	return ret;
}

static void add_content_range(struct MHD_Response *r, uint64_t from, uint64_t to, uint64_t size)
{
	char cr[96];
	snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)from, (unsigned long long)to,
	         (unsigned long long)size);
	MHD_add_response_header(r, "Content-Range", cr);
}

/*
 * Queue @p r, bytes of a file of @p size of @p type (with @p want > 0, the
 * range @p from..@p to: 206 and its Content-Range; else 200), and count
 * the request; takes @p r.
 */
static enum MHD_Result queue_ranged(struct MHD_Connection *c, struct MHD_Response *r, const char *type, int want,
                                    uint64_t from, uint64_t to, uint64_t size)
{
	enum MHD_Result ret;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	if (want > 0)
		add_content_range(r, from, to, size);
	atomic_fetch_add(&req_total, 1);
	ret = MHD_queue_response(c, want > 0 ? 206 : 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* Serve the open regular file @p fd (its stat @p st), honouring one Range; takes @p fd. */
static enum MHD_Result serve_open_file(struct MHD_Connection *c, int fd, const struct stat *st, const char *type)
{
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	struct MHD_Response *r;
	uint64_t size = (uint64_t)st->st_size, from, to;
	int want = parse_range(range, size, &from, &to);

	if (want < 0) {
		close(fd);
		return send_unsatisfiable(c, size, "");
	}
	r = MHD_create_response_from_fd_at_offset64(size ? to - from + 1 : 0, fd, from);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	return queue_ranged(c, r, type, want, from, to, size);
}

/*
 * Serve what the store keeps of a file of @p size bytes: its bytes from
 * @p kept_from, @p len of them (@p kept), honouring one Range in the full
 * file's offsets: 206 inside what is kept, 416 outside it with a JSON body
 * saying which bytes are kept and where the full file is (@p where). No
 * Range: 200 with what is kept, and X-Devsys-Kept-From saying where in the
 * file it starts (0: the whole file).
 */
static enum MHD_Result send_kept(struct MHD_Connection *c, const char *type, const char *kept, size_t len,
                                 uint64_t kept_from, uint64_t size, const char *where)
{
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	struct MHD_Response *r;
	uint64_t from, to, kept_end = kept_from + len; /* one past the last byte kept */
	int want = parse_range(range, size, &from, &to);
	char hv[32];
	enum MHD_Result ret;
	if (want < 0 || (want > 0 && (from < kept_from || from >= kept_end))) {
		json_t *e = json_pack("{s:{s:s,s:s},s:I,s:I}", "error", "code", "range_not_kept", "message", where,
		                      "kept_from", (json_int_t)kept_from, "size", (json_int_t)size);
		char *body = e ? json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(e);
		ret = body ? send_unsatisfiable(c, size, body) : MHD_NO;
		free(body);
		return ret;
	}
	if (want > 0 && to >= kept_end)
		to = kept_end - 1;
	r = want > 0 ? MHD_create_response_from_buffer((size_t)(to - from + 1), (void *)(kept + (from - kept_from)),
	                                               MHD_RESPMEM_MUST_COPY)
	             : MHD_create_response_from_buffer(len, (void *)kept, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Cache-Control", "no-store");
	snprintf(hv, sizeof(hv), "%llu", (unsigned long long)kept_from);
	MHD_add_response_header(r, "X-Devsys-Kept-From", hv);
	return queue_ranged(c, r, type, want, from, to, size);
}

/* ------------------------------------------------------------ the agent's events */

/*
 * GET /api/tasks/<id>/agent: logs/agent.jsonl, the coding agent's event
 * stream as the agent stage kept it (masked as it was written). The path is
 * confined to the task's folder, and a symbolic link is not followed.
 */
static enum MHD_Result serve_agent(struct MHD_Connection *c, devsys_task *task)
{
	devsys_buf p = DEVSYS_BUF_INIT;
	struct stat st;
	int fd;
	/* a path that leads out is answered as no file, without naming where it leads */
	fd = devsys_task_path_join(&p, task, "logs/agent.jsonl") < 0 ? -1 : open(p.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	devsys_buf_dispose(&p);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return send_error(c, 404, "not_found", "task '%s' has no agent event log (logs/agent.jsonl)",
		                  devsys_task_id(task));
	}
	return serve_open_file(c, fd, &st, "application/x-ndjson");
}

/* ------------------------------------------------------------ POST /api/tasks */

#if defined(DEVSYS_HAVE_MODULE_PIPELINE)
/* The validate stage is the library's (devsys_pipeline_validate); this
 * maps its outcome to HTTP. */

static enum MHD_Result refused_spec(struct MHD_Connection *c, const devsys_validation *v)
{
	devsys_buf vj = DEVSYS_BUF_INIT;
	json_t *errs = NULL;
	enum MHD_Result ret;

	if (v && devsys_validation_to_json(&vj, v) == 0 && vj.ptr) {
		json_t *doc = json_loads(vj.ptr, 0, NULL);
		errs = json_incref(json_object_get(doc, "errors"));
		json_decref(doc);
	}
	if (!errs)
		errs = json_pack("[{s:s}]", "error", devsys_error_message(devsys_error_last()));
	ret = send_json(c, 422,
	                json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "invalid_spec", "message",
	                          devsys_error_message(devsys_error_last()), "errors", errs ? errs : json_array()));
	devsys_buf_dispose(&vj);
	return ret;
}

static enum MHD_Result created(struct MHD_Connection *c, const char *id)
{
	struct MHD_Response *r;
	char location[128];
	enum MHD_Result ret;
	char *s;
	devsys_buf tj = DEVSYS_BUF_INIT;
	json_t *j = NULL;

	/* the task as the store has it (queued), with where to find it */
	if (devsys_store_task_json(store, id, &tj) == 0)
		j = json_loads(tj.ptr, 0, NULL);
	devsys_buf_dispose(&tj);
	if (!j)
		j = json_pack("{s:s,s:s}", "id", id, "state", "validated");
	snprintf(location, sizeof(location), "/api/tasks/%s", id);
	json_object_set_new(j, "location", json_string(location));
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	r = s ? MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_COPY) : NULL;
	free(s);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Location", location);
	atomic_fetch_add(&req_total, 1);
	ret = MHD_queue_response(c, 201, r);
	MHD_destroy_response(r);
	return ret;
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

/*
 * Queue the validated task for a worker (the embedded one with --workers,
 * or any `devsys worker` of the workspace), for the profile its spec names.
 */
static int queue_task(devsys_pipeline *p)
{
	const char *profile = devsys_spec_get_string(devsys_pipeline_spec(p), "/runner");
	char *schema = schema_id();
	int rc = devsys_store_submit(store, devsys_pipeline_task_id(p), profile, schema);
	free(schema);
	return rc;
}

static enum MHD_Result create_task(struct MHD_Connection *c, const char *body, size_t len)
{
	/* The daemon's own store already recovered the workspace at startup. */
	devsys_store_options so = DEVSYS_STORE_OPTIONS_INIT;
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_stage_result res = DEVSYS_STAGE_RESULT_INIT;
	devsys_pipeline *p = NULL;
	enum MHD_Result ret;
	int rc;

	so.flags = DEVSYS_STORE_NO_RECOVER;
	po.store = &so;
	po.config_path = cfg.config_path; /* its store: section names the daemon's store */
	if ((rc = devsys_pipeline_new(&p, ws, &po)) < 0)
		return send_lib_error(c, rc);
	rc = devsys_pipeline_validate(&res, p, body, len, "request");
	if (rc == 0 && (rc = queue_task(p)) == 0)
		ret = created(c, devsys_pipeline_task_id(p));
	else if (res.outcome && strcmp(res.outcome, "spec-refused") == 0 && res.failure_class == DEVSYS_FAILURE_BUILD)
		ret = refused_spec(c, devsys_pipeline_validation(p));
	else
		ret = send_lib_error(c, rc);
	devsys_pipeline_free(p);
	return ret;
}

static enum MHD_Result canceling(struct MHD_Connection *c, const char *id, const char *via)
{
	return send_json(c, 202, json_pack("{s:s,s:s,s:b,s:s}", "id", id, "state",
	                                   devsys_task_state_name(devsys_store_task_state(store, id)), "canceling", 1,
	                                   "via", via));
}

/*
 * The cancel reaches the task's owner wherever it runs (202): the embedded
 * worker's own run is canceled in place; a queued task another worker
 * holds gets the store's cancel request, which that worker's heartbeat
 * turns into a cancel of its run; the owner of a stage run outside the
 * queue (devsys run) is signaled. A task nobody runs is canceled here (200).
 */
static enum MHD_Result cancel_task(struct MHD_Connection *c, const char *id)
{
	devsys_store_options so = DEVSYS_STORE_OPTIONS_INIT;
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_pipeline *p = NULL;
	enum MHD_Result ret;
	int rc, signaled = 0;

#if defined(DEVSYS_HAVE_MODULE_WORKER)
	if (worker && devsys_worker_cancel_task(worker, id) == 1)
		return canceling(c, id, "this-process");
#endif
	if ((rc = devsys_store_cancel_request(store, id, "canceled over HTTP")) == 1)
		return canceling(c, id, "cancel-request");
	if (rc == 0)
		return send_json(c, 200, json_pack("{s:s,s:s}", "id", id, "state", "canceled"));
	if (rc != DEVSYS_ENOTFOUND)
		return send_lib_error(c, rc);
	so.flags = DEVSYS_STORE_NO_RECOVER;
	po.store = &so;
	po.config_path = cfg.config_path; /* its store: section names the daemon's store */
	if ((rc = devsys_pipeline_new(&p, ws, &po)) < 0)
		return send_lib_error(c, rc);
	if ((rc = devsys_pipeline_cancel_task(&signaled, p, id)) < 0)
		ret = send_lib_error(c, rc);
	else if (signaled)
		ret = canceling(c, id, "signal");
	else
		ret = send_json(c, 200, json_pack("{s:s,s:s}", "id", id, "state", "canceled"));
	devsys_pipeline_free(p);
	return ret;
}
#else
static enum MHD_Result cancel_task(struct MHD_Connection *c, const char *id)
{
	int rc = devsys_store_transition(store, id, DEVSYS_STATE_CANCELED, "canceled over HTTP");
	return rc < 0 ? send_lib_error(c, rc) : send_json(c, 200, json_pack("{s:s,s:s}", "id", id, "state", "canceled"));
}

static enum MHD_Result create_task(struct MHD_Connection *c, const char *body, size_t len)
{
	(void)body;
	(void)len;
	return send_error(c, 501, "not_implemented",
	                  "creating tasks over HTTP needs the pipeline module, which this build does not have");
}
#endif

/* ------------------------------------------------------------ routing */

/* A request body held in memory. Every byte of its allocation is first
 * reserved in body_bytes, so all bodies in flight together stay within
 * --body-budget whatever the number of connections. */
typedef struct body {
	char *ptr;
	size_t size, cap;
} body;

typedef struct request {
	body body;
	bool authed;      /* the bearer token was checked on the headers alone */
	bool keep_body;   /* only an authenticated POST's body is kept */
	bool too_large;   /* over --max-body: answered 413 */
	bool over_budget; /* over --body-budget: answered 503 */
} request;

static bool budget_take(size_t n)
{
	size_t cur = atomic_load(&body_bytes);
	do {
		if (n > cfg.body_budget || cur > cfg.body_budget - n)
			return false;
	} while (!atomic_compare_exchange_weak(&body_bytes, &cur, cur + n));
	return true;
}

static void body_dispose(body *b)
{
	if (b->cap)
		atomic_fetch_sub(&body_bytes, b->cap);
	free(b->ptr);
	memset(b, 0, sizeof(*b));
}

/* Grow @p b to hold @p need bytes and a NUL, exactly when the length is
 * known, else by doubling; false when the budget (or memory) says no. */
static bool body_reserve(body *b, size_t need, bool exact)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;
	if (need < b->cap)
		return true;
	while (cap <= need)
		cap *= 2;
	if (exact)
		cap = need + 1;
	else if (cap > cfg.max_body + 1)
		cap = cfg.max_body + 1; /* the caller keeps need <= max_body */
	if (!budget_take(cap - b->cap))
		return false;
	if (!(p = realloc(b->ptr, cap))) {
		atomic_fetch_sub(&body_bytes, cap - b->cap);
		return false;
	}
	b->ptr = p;
	b->cap = cap;
	return true;
}

#define MAX_SEGMENTS 8

static int split_path(const char *url, char *copy, size_t size, char *seg[MAX_SEGMENTS])
{
	int n = 0;
	char *save = NULL, *s;
	if (strlen(url) >= size)
		return -1;
	strcpy(copy, url);
	for (s = strtok_r(copy, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == MAX_SEGMENTS)
			return -1;
		seg[n++] = s;
	}
	return n;
}

/* The embedded worker's counts (the registry's, of every worker, are the store's metrics). */
static void worker_metrics(devsys_buf *m)
{
#if defined(DEVSYS_HAVE_MODULE_WORKER)
	devsys_worker_stats st = DEVSYS_WORKER_STATS_INIT;
	if (!worker || devsys_worker_stats_get(&st, worker) < 0)
		return;
	devsys_buf_printf(m,
	                  "# TYPE devsysd_worker_jobs gauge\ndevsysd_worker_jobs %u\n"
	                  "# TYPE devsysd_worker_running gauge\ndevsysd_worker_running %llu\n"
	                  "# TYPE devsysd_worker_claims_total counter\ndevsysd_worker_claims_total %llu\n"
	                  "# TYPE devsysd_worker_completed_total counter\ndevsysd_worker_completed_total %llu\n"
	                  "# TYPE devsysd_worker_lease_expiries_total counter\ndevsysd_worker_lease_expiries_total %llu\n"
	                  "# TYPE devsysd_worker_cancels_total counter\ndevsysd_worker_cancels_total %llu\n"
	                  "# HELP devsysd_agent_steps_total The coding agents' steps, tokens and cost, over the agent "
	                  "stages the embedded worker ran (task.json agent.usage).\n"
	                  "# TYPE devsysd_agent_steps_total counter\ndevsysd_agent_steps_total %llu\n"
	                  "# TYPE devsysd_agent_tokens_total counter\ndevsysd_agent_tokens_total %llu\n"
	                  "# TYPE devsysd_agent_cost_total counter\ndevsysd_agent_cost_total %.6f\n",
	                  st.jobs, (unsigned long long)st.running, (unsigned long long)st.claimed,
	                  (unsigned long long)st.completed, (unsigned long long)st.lease_expiries,
	                  (unsigned long long)st.cancels, (unsigned long long)st.agent_steps,
	                  (unsigned long long)st.agent_tokens, st.agent_cost);
#else
	(void)m;
#endif
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url, const char *method, request *req)
{
	char copy[1024];
	char *seg[MAX_SEGMENTS];
	int n = split_path(url, copy, sizeof(copy), seg);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0, stale;
	devsys_task *task = NULL;
	enum MHD_Result ret;
	int rc;

	if (n == 1 && strcmp(seg[0], "healthz") == 0) {
		if (!get)
			return send_error(c, 405, "method_not_allowed", "use GET");
		return send_bytes(c, 200, "application/json", "{\"status\":\"ok\"}", 15);
	}
	if (!req->authed)
		return send_error(c, 401, "unauthorized", "a valid bearer token is required (Authorization: Bearer ...)");
	if (n < 0)
		return send_error(c, 404, "not_found", "no such endpoint");
	if (n == 1 && strcmp(seg[0], "metrics") == 0) {
		devsys_buf m = DEVSYS_BUF_INIT;
		if (!get)
			return send_error(c, 405, "method_not_allowed", "use GET");
		if ((rc = devsys_store_metrics(store, &m)) < 0) {
			devsys_buf_dispose(&m);
			return send_lib_error(c, rc);
		}
		pthread_mutex_lock(&reg_lock);
		devsys_buf_printf(&m,
		                  "# TYPE devsysd_requests_total counter\ndevsysd_requests_total %llu\n"
		                  "# TYPE devsysd_responses_4xx_total counter\ndevsysd_responses_4xx_total %llu\n"
		                  "# TYPE devsysd_responses_5xx_total counter\ndevsysd_responses_5xx_total %llu\n"
		                  "# TYPE devsysd_unauthorized_total counter\ndevsysd_unauthorized_total %llu\n"
		                  "# TYPE devsysd_deadline_closed_total counter\ndevsysd_deadline_closed_total %llu\n"
		                  "# TYPE devsysd_connections gauge\ndevsysd_connections %zu\n",
		                  (unsigned long long)atomic_load(&req_total), (unsigned long long)atomic_load(&req_4xx),
		                  (unsigned long long)atomic_load(&req_5xx), (unsigned long long)atomic_load(&req_401),
		                  (unsigned long long)atomic_load(&conn_killed), nconns);
		pthread_mutex_unlock(&reg_lock);
		worker_metrics(&m);
		ret = send_bytes(c, 200, "text/plain; version=0.0.4", m.ptr, m.size);
		devsys_buf_dispose(&m);
		return ret;
	}
	if (n < 2 || strcmp(seg[0], "api") != 0 || strcmp(seg[1], "tasks") != 0)
		return send_error(c, 404, "not_found", "no such endpoint");
	if (n == 2) {
		if (post) {
			if (req->too_large)
				return send_error(c, 413, "payload_too_large", "the body is larger than %zu bytes", cfg.max_body);
			if (req->over_budget)
				return send_busy_body(c);
			if (req->body.ptr)
				req->body.ptr[req->body.size] = '\0';
			return create_task(c, req->body.ptr ? req->body.ptr : "", req->body.size);
		}
		if (!get)
			return send_error(c, 405, "method_not_allowed", "use GET or POST");
		{
			devsys_buf out = DEVSYS_BUF_INIT;
			size_t offset = 0, limit = 50;
			const char *o = query(c, "offset"), *l = query(c, "limit"), *s = query(c, "state");
			if ((o && !parse_size(o, &offset)) || (l && (!parse_size(l, &limit) || limit == 0 || limit > 1000)))
				return send_error(c, 400, "bad_request", "offset must be >= 0 and limit 1..1000");
			if ((rc = devsys_store_list_json(store, s, offset, limit, &out)) < 0) {
				devsys_buf_dispose(&out);
				return send_lib_error(c, rc);
			}
			ret = send_bytes(c, 200, "application/json", out.ptr, out.size);
			devsys_buf_dispose(&out);
			return ret;
		}
	}
	/* /api/tasks/<id>/... */
	if ((rc = devsys_task_id_check(seg[2])) < 0)
		return send_error(c, 400, "bad_id", "%s", devsys_error_message(devsys_error_last()));
	/* on a shared store, a folder here that is behind the store's record (another host runs the
	 * task) is not served: the store answers, as for a task with no folder here */
	stale = get && devsys_store_folder_current(store, seg[2]) == 0;
	if (!stale && n == 5 && get && strcmp(seg[3], "tests") == 0 && strcmp(seg[4], "latest") == 0 &&
	    !query(c, "format")) {
		enum MHD_Result fast;
		if (serve_latest_cached(c, seg[2], &fast) == 0)
			return fast;
	}
	if ((rc = stale ? DEVSYS_ENOTFOUND : open_task(seg[2], &task)) == DEVSYS_ENOTFOUND && n == 5 && get &&
	    strcmp(seg[3], "tests") == 0 &&
	    strcmp(seg[4], "latest") == 0)
		return serve_latest_from_store(c, seg[2]); /* no folder here: another host ran it */
	if (rc == DEVSYS_ENOTFOUND && n == 3 && get)
		return serve_task_from_store(c, seg[2]); /* likewise */
	if (rc == DEVSYS_ENOTFOUND && n == 4 && get && strcmp(seg[3], "events") == 0)
		return serve_events_from_store(c, seg[2]); /* likewise; the live stream too */
	if (rc == DEVSYS_ENOTFOUND && n == 5 && get && strcmp(seg[3], "logs") == 0)
		return serve_log_from_store(c, seg[2], seg[4]); /* the tail, and where the full log is */
	if (rc == DEVSYS_ENOTFOUND && n == 4 && get && strcmp(seg[3], "agent") == 0)
		return serve_agent_from_store(c, seg[2]);
	if (rc == DEVSYS_ENOTFOUND && n == 6 && get && strcmp(seg[3], "runs") == 0 && strcmp(seg[5], "tests") == 0)
		return serve_runs_from_store(c, seg[2], seg[4]);
	if (rc < 0)
		return rc == DEVSYS_ENOTFOUND ? send_error(c, 404, "not_found", "no task '%s'", seg[2])
		                              : send_lib_error(c, rc);
	if (n == 4 && strcmp(seg[3], "cancel") == 0) {
		if (!post)
			ret = send_error(c, 405, "method_not_allowed", "use POST");
		else if (req->too_large)
			ret = send_error(c, 413, "payload_too_large", "the body is larger than %zu bytes", cfg.max_body);
		else if (req->over_budget)
			ret = send_busy_body(c);
		else
			ret = cancel_task(c, seg[2]);
		goto done;
	}
	if (!get) {
		ret = send_error(c, 405, "method_not_allowed", "use GET");
		goto done;
	}
	if (n == 3) {
		devsys_buf b = DEVSYS_BUF_INIT;
		if ((rc = read_record_file(task, DEVSYS_RECORD_FILE_TASK_JSON, 0, &b, 16 * 1024 * 1024)) < 0)
			ret = send_error(c, 404, "not_found", "task '%s' has no task.json", seg[2]);
		else
			ret = send_bytes(c, 200, "application/json", b.ptr, b.size);
		devsys_buf_dispose(&b);
	} else if (n == 5 && strcmp(seg[3], "tests") == 0 && strcmp(seg[4], "latest") == 0) {
		unsigned int run;
		if ((rc = devsys_record_latest_run(task, &run)) < 0)
			ret = rc == DEVSYS_ENOTFOUND ? send_error(c, 404, "not_found", "task '%s' has no complete test run", seg[2])
			                             : send_lib_error(c, rc);
		else
			ret = serve_tests(c, task, run, true);
	} else if (n == 6 && strcmp(seg[3], "runs") == 0 && strcmp(seg[5], "tests") == 0) {
		size_t run;
		if (!parse_size(seg[4], &run) || run == 0 || run > 999999999)
			ret = send_error(c, 400, "bad_request", "run must be a positive number");
		else
			ret = serve_tests(c, task, (unsigned int)run, false);
	} else if (n == 4 && strcmp(seg[3], "events") == 0) {
		if (wants_stream(c))
			ret = serve_events_sse(c, task);
		else
			ret = serve_events_json(c, task);
	} else if (n == 5 && strcmp(seg[3], "logs") == 0) {
		ret = serve_log(c, task, seg[4]);
	} else if (n == 4 && strcmp(seg[3], "agent") == 0) {
		ret = serve_agent(c, task);
	} else
		ret = send_error(c, 404, "not_found", "no such endpoint");
done:
	devsys_task_free(task);
	return ret;
}

/* Requests without a body need no state of their own but whether the
 * token was right: they share these two, which are never written, so
 * the hot path allocates nothing. */
static request nobody_authed = { .authed = true }, nobody_anon = { .authed = false };

/* The first call, on the headers alone: everything that refuses a body is
 * decided here, before a byte of it is read. A response queued now makes
 * libmicrohttpd skip the body and close the connection after answering. */

static enum MHD_Result begin_request(struct MHD_Connection *c, const char *url, const char *method, void **con_cls)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
	conn *k = conn_of(c);
	size_t clen = 0;
	bool cl_ok = !cl || parse_size(cl, &clen);
	bool has_body = (cl && (!cl_ok || clen > 0)) || te;
	bool authed = token_ok(c);
	request *req;

	*con_cls = authed ? &nobody_authed : &nobody_anon;
	if (k && k->over_limit)
		return send_error(c, 429, "too_many_connections", "more than %u connections from one address",
		                  cfg.per_ip_limit);
	if (!has_body)
		return MHD_YES; /* routed as usual, the connection may stay open */
	if (!(req = calloc(1, sizeof(*req))))
		return MHD_NO;
	req->authed = authed;
	*con_cls = req;
	if (!req->authed) {
		if (strcmp(url, "/healthz") == 0)
			return MHD_YES; /* open endpoint: its body is read and dropped, never kept */
		return send_error(c, 401, "unauthorized", "a valid bearer token is required (Authorization: Bearer ...)");
	}
	if (!cl_ok || clen > cfg.max_body) {
		req->too_large = true;
		return send_error(c, 413, "payload_too_large", "the body is larger than %zu bytes", cfg.max_body);
	}
	if (strcmp(method, "POST") != 0)
		return MHD_YES; /* no endpoint reads the body of another method: dropped */
	req->keep_body = true;
	if (cl && !body_reserve(&req->body, clen, true)) {
		req->over_budget = true;
		return send_busy_body(c);
	}
	return MHD_YES;
}

/* A piece of the body: kept within the limits, or dropped. */
static void take_body(request *req, const char *data, size_t n)
{
	if (!req->keep_body || req->too_large || req->over_budget)
		return;
	if (req->body.size + n > cfg.max_body) {
		req->too_large = true;
		body_dispose(&req->body);
	} else if (!body_reserve(&req->body, req->body.size + n, false)) {
		req->over_budget = true; /* chunked: found out mid-body, answered at its end */
		body_dispose(&req->body);
	} else {
		memcpy(req->body.ptr + req->body.size, data, n);
		req->body.size += n;
	}
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
	request *req = *con_cls;
	(void)cls;
	(void)version;
	if (!req)
		return begin_request(c, url, method, con_cls);
	if (*upload_data_size) {
		take_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (atomic_load(&stopping))
		return send_error(c, 503, "shutting_down", "devsysd is shutting down");
	return route(c, url, method, req);
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
	request *req = *con_cls;
	conn *k;
	(void)cls;
	(void)toe;
	if (req && req != &nobody_authed && req != &nobody_anon) {
		body_dispose(&req->body);
		free(req);
	}
	*con_cls = NULL;
	/* the next request on a kept-alive connection gets a fresh deadline;
	 * no lock: k is freed only by this connection's thread */
	if ((k = conn_of(c)))
		atomic_store(&k->start_ns, now_ns());
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("devsysd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* ------------------------------------------------------------ accepting */

/* devsysd accepts connections itself and hands each to libmicrohttpd,
 * which gives it to a polling thread by descriptor number, so the threads
 * get about as many connections each. Left to accept on their own, the
 * first thread to wake takes up to ten at a time: with 64 clients arriving
 * together one thread was seen holding 58 and the other 6, and the busy
 * one's queue is what the p99 latency measured. */
static int listen_fd = -1;
static atomic_bool accepting = true;

static int listen_on(const struct sockaddr_in *addr)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(fd, 1024) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void *acceptor(void *arg)
{
	(void)arg;
	while (atomic_load(&accepting)) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			struct timespec ts = { 0, 10 * 1000000L };
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				nanosleep(&ts, NULL); /* out of descriptors: let connections close */
			continue;                 /* EINTR, ECONNABORTED, or shut down to stop */
		}
		/* on refusal (connection limits) libmicrohttpd closes the socket */
		MHD_add_connection(daemon_, fd, (struct sockaddr *)&sa, len);
	}
	return NULL;
}

/* ------------------------------------------------------------ main */

/* ------------------------------------------------------------ the embedded worker */

#if defined(DEVSYS_HAVE_MODULE_WORKER)
static pthread_t worker_thread;
static atomic_bool worker_done;

static void on_worker_event(const devsys_worker_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == DEVSYS_WORKER_EVENT_PIPELINE || !ev->message)
		return;
	if (ev->task_id)
		fprintf(stderr, "devsysd: worker: task %s: %s\n", ev->task_id, ev->message);
	else
		fprintf(stderr, "devsysd: worker: %s\n", ev->message);
}

static void *worker_main(void *arg)
{
	(void)arg;
	if (devsys_worker_run(worker) < 0)
		fprintf(stderr, "devsysd: the worker stopped: %s\n", devsys_error_message(devsys_error_last()));
	atomic_store(&worker_done, true);
	return NULL;
}
#endif

/* --workers N: one worker of N jobs in this process, its threads started before the server's. */
static int start_worker(void)
{
	if (!cfg.workers)
		return 0;
#if defined(DEVSYS_HAVE_MODULE_WORKER)
	{
		devsys_worker_options o = DEVSYS_WORKER_OPTIONS_INIT;
		char host[128] = "localhost", id[200];
		if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		snprintf(id, sizeof(id), "devsysd-%.60s:%ld", host, (long)getpid());
		o.id = id;
		o.jobs = cfg.workers;
		o.config_path = cfg.config_path;
		o.lease_ms = cfg.lease_ms;
		o.event = on_worker_event;
		if (devsys_worker_open(&worker, ws, &o) < 0 || pthread_create(&worker_thread, NULL, worker_main, NULL) != 0) {
			fprintf(stderr, "devsysd: cannot start the worker: %s\n", devsys_error_message(devsys_error_last()));
			return -1;
		}
		fprintf(stderr, "devsysd: worker %s: %u job(s)\n", devsys_worker_id(worker), cfg.workers);
		return 0;
	}
#else
	fprintf(stderr, "devsysd: --workers needs the worker module, which this build does not have\n");
	return -1;
#endif
}

/* SIGTERM: the worker's running tasks get the grace period, then they are handed back. */
static void stop_worker(void)
{
#if defined(DEVSYS_HAVE_MODULE_WORKER)
	if (!worker)
		return;
	devsys_worker_stop(worker, cfg.grace * 1000u);
	/* a stage that ignores its cancel does not keep devsysd: its task is handed back already */
	for (uint64_t until = now_ns() + 10000000000ull; !atomic_load(&worker_done) && now_ns() < until;) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (!atomic_load(&worker_done)) {
		fprintf(stderr, "devsysd: the worker's runs did not end within 10 s of the hand-back; exiting without it\n");
		worker = NULL; /* its threads still use it */
		return;
	}
	pthread_join(worker_thread, NULL);
#endif
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: devsysd [--workspace DIR] [--listen ADDR] [--port N] [--token-file FILE]\n"
	        "               [--max-body BYTES] [--body-budget BYTES] [--request-timeout S] [--idle-timeout S]\n"
	        "               [--per-ip-limit N]\n"
	        "               [--max-connections N] [--threads N] [--header-limit BYTES] [--sse-max S] [--grace S]\n"
	        "               [--workers N] [--config FILE] [--lease-ms MS]\n"
	        "--workers N embeds a worker of N jobs that runs the tasks POST /api/tasks queues (--config: its\n"
	        "devsys.yaml, whose store: section also names the daemon's store).\n"
	        "The bearer token comes from --token-file or $DEVSYSD_TOKEN; every endpoint but /healthz needs it.\n");
}

static bool num_arg(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && *s && !*end && *out >= lo && *out <= hi;
}

/* Take the token out of the environment: unsetenv alone only drops the
 * pointer, and the bytes would stay readable in /proc/<pid>/environ (and
 * pass to every child), so they are overwritten where they lie first. */
static char *take_env_token(void)
{
	char *env = getenv("DEVSYSD_TOKEN");
	char *copy = env && *env ? strdup(env) : NULL;
	if (env)
		explicit_bzero(env, strlen(env));
	unsetenv("DEVSYSD_TOKEN");
	return copy;
}

static int load_token(void)
{
	char *env = take_env_token();
	if (cfg.token_file) {
		FILE *f = fopen(cfg.token_file, "r");
		char buf[1024];
		size_t n;
		if (!f) {
			fprintf(stderr, "devsysd: cannot read the token file '%s': %s\n", cfg.token_file, strerror(errno));
			return -1;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		token = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
	} else {
		token = env;
		env = NULL;
	}
	if (env) {
		explicit_bzero(env, strlen(env));
		free(env);
	}
	if (!token || strlen(token) < 16) {
		fprintf(stderr, "devsysd: a bearer token of at least 16 characters is required "
		                "(--token-file FILE or DEVSYSD_TOKEN)\n");
		return -1;
	}
	token_len = strlen(token);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "workspace", required_argument, NULL, 'w' },   { "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },        { "token-file", required_argument, NULL, 't' },
		{ "max-body", required_argument, NULL, 'b' },    { "body-budget", required_argument, NULL, 'B' },
		{ "request-timeout", required_argument, NULL, 'r' },
		{ "idle-timeout", required_argument, NULL, 'i' }, { "per-ip-limit", required_argument, NULL, 'P' },
		{ "max-connections", required_argument, NULL, 'm' }, { "threads", required_argument, NULL, 'T' },
		{ "header-limit", required_argument, NULL, 'H' }, { "sse-max", required_argument, NULL, 's' },
		{ "grace", required_argument, NULL, 'g' },       { "help", no_argument, NULL, 'h' },
		{ "workers", required_argument, NULL, 'W' },     { "config", required_argument, NULL, 'c' },
		{ "lease-ms", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct sockaddr_in addr;
	struct rlimit rl;
	sigset_t set;
	pthread_t reaper_thread, acceptor_thread;
	unsigned long long v;
	bool budget_set = false;
	devsys_config *store_cfg = NULL;
	int opt, sig, rc;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w': cfg.workspace = optarg; break;
		case 'l': cfg.listen = optarg; break;
		case 't': cfg.token_file = optarg; break;
		case 'p': if (!num_arg(optarg, 1, 65535, &v)) goto bad; cfg.port = (unsigned int)v; break;
		case 'b': if (!num_arg(optarg, 1, 1ull << 30, &v)) goto bad; cfg.max_body = (size_t)v; break;
		case 'B': if (!num_arg(optarg, 1, 1ull << 34, &v)) goto bad; cfg.body_budget = (size_t)v; budget_set = true; break;
		case 'r': if (!num_arg(optarg, 1, 86400, &v)) goto bad; cfg.request_timeout = (unsigned int)v; break;
		case 'i': if (!num_arg(optarg, 1, 86400, &v)) goto bad; cfg.idle_timeout = (unsigned int)v; break;
		case 'P': if (!num_arg(optarg, 1, 100000, &v)) goto bad; cfg.per_ip_limit = (unsigned int)v; break;
		case 'm': if (!num_arg(optarg, 1, 100000, &v)) goto bad; cfg.max_connections = (unsigned int)v; break;
		case 'T': if (!num_arg(optarg, 1, 64, &v)) goto bad; cfg.threads = (unsigned int)v; break;
		case 'H': if (!num_arg(optarg, 4096, 1 << 20, &v)) goto bad; cfg.header_limit = (size_t)v; break;
		case 's': if (!num_arg(optarg, 1, 86400, &v)) goto bad; cfg.sse_max_seconds = (unsigned int)v; break;
		case 'g': if (!num_arg(optarg, 0, 3600, &v)) goto bad; cfg.grace = (unsigned int)v; break;
		case 'W': if (!num_arg(optarg, 0, 64, &v)) goto bad; cfg.workers = (unsigned int)v; break;
		case 'c': cfg.config_path = optarg; break;
		case 'L': if (!num_arg(optarg, 300, 3600000, &v)) goto bad; cfg.lease_ms = (unsigned int)v; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (!budget_set && cfg.body_budget < cfg.max_body + 1)
		cfg.body_budget = cfg.max_body + 1;
	if (cfg.body_budget < cfg.max_body + 1) {
		fprintf(stderr, "devsysd: --body-budget %zu is smaller than --max-body %zu plus one: no full body would fit\n",
		        cfg.body_budget, cfg.max_body);
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)cfg.port);
	if (inet_pton(AF_INET, cfg.listen, &addr.sin_addr) != 1) {
		fprintf(stderr, "devsysd: --listen '%s' is not an IPv4 address\n", cfg.listen);
		return 2;
	}
	if (load_token() < 0)
		return 2;
	/* 1000+ concurrent connections need descriptors */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* the store --config's store: section names, as for the embedded worker (else DEVSYS_STORE_URL, else SQLite) */
	if (devsys_init() < 0 || (rc = devsys_workspace_open(&ws, cfg.workspace, NULL)) < 0 ||
	    (cfg.config_path && (rc = devsys_config_load(&store_cfg, cfg.config_path)) < 0) ||
	    (rc = devsys_store_open_config(&store, ws, NULL, store_cfg)) < 0) {
		fprintf(stderr, "devsysd: %s\n", devsys_error_message(devsys_error_last()));
		return 3;
	}
	devsys_config_free(store_cfg);
	/* every thread inherits this mask; main takes the signals with sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (start_worker() < 0)
		return 3;
	if ((listen_fd = listen_on(&addr)) < 0) {
		fprintf(stderr, "devsysd: cannot listen on %s:%u: %s\n", cfg.listen, cfg.port, strerror(errno));
		return 3;
	}
	daemon_ = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_ERROR_LOG | MHD_USE_TURBO,
		0, NULL, NULL, access_handler, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_THREAD_POOL_SIZE,
		cfg.threads, MHD_OPTION_CONNECTION_LIMIT, cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		cfg.per_ip_limit * 2 /* the backstop: up to here the extra ones get a 429 */, MHD_OPTION_CONNECTION_TIMEOUT,
		cfg.idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg.header_limit, MHD_OPTION_NOTIFY_CONNECTION,
		notify_connection, NULL, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
		MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
	if (!daemon_) {
		fprintf(stderr, "devsysd: cannot start libmicrohttpd on %s:%u\n", cfg.listen, cfg.port);
		return 3;
	}
	pthread_create(&reaper_thread, NULL, reaper, NULL);
	pthread_create(&acceptor_thread, NULL, acceptor, NULL);
	fprintf(stderr, "devsysd: listening on %s:%u (workspace %s)\n", cfg.listen, cfg.port, devsys_workspace_path(ws));
	for (;;) {
		if (sigwait(&set, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}
	/* graceful: stop accepting, end streams, let requests in flight finish */
	fprintf(stderr, "devsysd: %s received, draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	stop_worker();
	/* stop accepting: shutdown wakes the acceptor from accept4 */
	atomic_store(&accepting, false);
	shutdown(listen_fd, SHUT_RDWR);
	pthread_join(acceptor_thread, NULL);
	close(listen_fd);
	atomic_store(&stop_deadline_ns, now_ns() + (uint64_t)cfg.grace * 1000000000ull);
	atomic_store(&stopping, true);
	{
		uint64_t deadline = atomic_load(&stop_deadline_ns);
		while (now_ns() < deadline) {
			const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			struct timespec ts = { 0, 20 * 1000000L };
			if (!di || di->num_connections == 0)
				break;
			nanosleep(&ts, NULL);
		}
	}
	pthread_join(reaper_thread, NULL);
	MHD_stop_daemon(daemon_);
#if defined(DEVSYS_HAVE_MODULE_WORKER)
	devsys_worker_free(worker);
#endif
	devsys_store_free(store);
	devsys_workspace_free(ws);
	devsys_shutdown();
	for (int i = 0; i < CACHE_SIZE; i++)
		body_unref(cache[i].body);
	explicit_bzero(token, token_len);
	free(token);
	fprintf(stderr, "devsysd: stopped\n");
	return 0;
bad:
	usage(stderr);
	return 2;
}
