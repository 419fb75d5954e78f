/*
 * The output path of one exec, shared by every backend:
 *   raw bytes per stream -> secret masking (stateful per stream, so split
 *   secrets are caught) -> line splitting -> callback, log file tee and the
 *   bounded in-memory tail.
 * Only the tail is kept in memory; the log file holds everything.
 *
 * The command's budgets live here too, so every backend has them: the idle
 * clock (reset by every raw byte; a backend's wait loop asks
 * devsys__runner_io_aborted() and caps its sleeps with
 * devsys__runner_io_wait_ms()) and the output cap (checked per delivered
 * piece). Either one makes io_write refuse further output, which a backend
 * treats like a callback that asked to stop: TERM, grace, KILL.
 */
#include "runner_int.h"
#include "output_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64u * 1024u)

struct line_ctx {
	devsys_runner_io *io;
	int stream;
};

struct devsys_runner_io {
	devsys_runner_output_cb cb;
	void *payload;
	devsys_mask_stream *ms[2];
	struct line_ctx lctx[2];
	devsys_buf line[2];
	int logfd;
	char *log_path;
	char *tail;
	size_t tail_len, tail_cap, tail_max;
	int truncated;
	uint64_t total, dropped;
	int aborted; /* atomic: the docker backend reads it on another thread */
	int log_failed;
	/* budgets (devsys_runner_cmd version 3) */
	uint64_t idle_ns, max_output;
	uint64_t last_ns; /* atomic: the last raw output byte, or the attempt's start */
	int stalled;      /* atomic */
	int limited;
};

static int is_aborted(const devsys_runner_io *io)
{
	return __atomic_load_n(&io->aborted, __ATOMIC_ACQUIRE);
}

static void set_aborted(devsys_runner_io *io)
{
	__atomic_store_n(&io->aborted, 1, __ATOMIC_RELEASE);
}

static void tail_put(devsys_runner_io *io, const char *data, size_t len)
{
	if (io->tail_max == 0)
		return;
	if (len >= io->tail_max) {
		io->dropped += io->tail_len + (len - io->tail_max);
		data += len - io->tail_max;
		len = io->tail_max;
		io->tail_len = 0;
	}
	if (io->tail_len + len > io->tail_cap) {
		/* keep the last tail_max bytes at the front */
		size_t keep = io->tail_max - len;
		if (keep > io->tail_len)
			keep = io->tail_len;
		io->dropped += io->tail_len - keep;
		memmove(io->tail, io->tail + io->tail_len - keep, keep);
		io->tail_len = keep;
	}
	memcpy(io->tail + io->tail_len, data, len);
	io->tail_len += len;
}

static void log_put(devsys_runner_io *io, const char *data, size_t len)
{
	while (io->logfd >= 0 && len > 0) {
		ssize_t n = write(io->logfd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			io->log_failed = 1;
			close(io->logfd);
			io->logfd = -1;
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

/* One complete line (or a 64 KiB piece of a longer one). */
static int deliver(devsys_runner_io *io, int stream, const char *data, size_t len)
{
	const char *prefix = stream == DEVSYS_RUNNER_STDERR ? "err| " : "out| ";
	bool nl, cut = false;
	if (io->limited)
		return -1;
	if (io->max_output && io->total + len > io->max_output) {
		/* keep exactly the allowed bytes; the rest is dropped and the command stopped */
		len = (size_t)(io->max_output - io->total);
		cut = true;
	}
	if (len == 0)
		goto out;
	nl = len > 0 && data[len - 1] == '\n';
	io->total += len;
	log_put(io, prefix, 5);
	log_put(io, data, len);
	tail_put(io, prefix, 5);
	tail_put(io, data, len);
	if (!nl) { /* keep log and tail line-structured */
		log_put(io, "\n", 1);
		tail_put(io, "\n", 1);
	}
	if (io->cb && !is_aborted(io) && io->cb(stream, data, len, io->payload) != 0) {
		set_aborted(io);
		devsys__error_set(DEVSYS_EUSER, "runner: the output callback asked to stop the command");
	}
out:
	if (cut) {
		io->limited = 1;
		set_aborted(io);
	}
	return is_aborted(io) ? -1 : 0;
}

/* Masked bytes of one stream arrive here: split into lines. */
static int split_lines(const char *data, size_t len, void *payload)
{
	struct line_ctx *lc = payload;
	devsys_runner_io *io = lc->io;
	devsys_buf *lb = &io->line[lc->stream - 1];

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) + 1 : len;
		bool complete = nl != NULL;
		if (lb->size + take > LINE_MAX_BYTES) {
			take = LINE_MAX_BYTES - lb->size;
			complete = false;
		}
		if (lb->size == 0 && (complete || take == LINE_MAX_BYTES)) {
			/* a whole line (or piece) inside the chunk: no copy */
			if (deliver(io, lc->stream, data, take) < 0)
				return -1;
		} else {
			if (devsys_buf_put(lb, data, take) < 0)
				return -1;
			if (complete || lb->size >= LINE_MAX_BYTES) {
				int rc = deliver(io, lc->stream, lb->ptr, lb->size);
				devsys_buf_clear(lb);
				if (rc < 0)
					return -1;
			}
		}
		data += take;
		len -= take;
	}
	return 0;
}

static int safe_stage(const char *stage)
{
	if (!stage || !*stage || strlen(stage) > 64)
		return 0;
	for (const char *p = stage; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return 0;
	return stage[0] != '.';
}

int devsys__runner_io_new(devsys_runner_io **out, const devsys_runner_cmd *cmd, devsys_masker *masker,
                          size_t tail_max)
{
	devsys_runner_io *io;
	int rc = 0;

	*out = NULL;
	if (!(io = devsys__calloc(1, sizeof(*io))))
		return devsys__error_oom();
	io->logfd = -1;
	io->cb = cmd->output_cb;
	io->payload = cmd->output_payload;
	io->tail_max = tail_max;
	io->tail_cap = tail_max * 2;
	io->idle_ns = (uint64_t)cmd->idle_timeout_ms * 1000000u;
	io->max_output = cmd->max_output_bytes;
	io->last_ns = devsys__now_ns();
	if (!(io->tail = devsys__malloc(io->tail_cap + 1))) {
		devsys__free(io);
		return devsys__error_oom();
	}
	for (int s = 0; s < 2; s++) {
		io->lctx[s].io = io;
		io->lctx[s].stream = s + 1;
		if (masker && (rc = devsys_mask_stream_new(&io->ms[s], masker, split_lines, &io->lctx[s])) < 0)
			goto fail;
	}
	if (cmd->task) {
		const char *stage = cmd->stage ? cmd->stage : "exec";
		devsys_buf rel = DEVSYS_BUF_INIT, path = DEVSYS_BUF_INIT;
		if (!safe_stage(stage)) {
			rc = devsys__error_set(DEVSYS_EINVALID, "runner: stage name '%.64s' is not a safe file name "
			                                        "(use [A-Za-z0-9_.-])",
			                       stage);
			goto fail;
		}
		if ((rc = devsys_task_path_join(&path, cmd->task, "logs")) == 0 &&
		    (rc = devsys__mkdir_p(path.ptr, 0700)) == 0 && (rc = devsys_buf_printf(&rel, "logs/%s.log", stage)) == 0 &&
		    (devsys_buf_clear(&path), (rc = devsys_task_path_join(&path, cmd->task, rel.ptr)) == 0)) {
			io->logfd = open(path.ptr, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (io->logfd < 0)
				rc = devsys__error_errno(devsys__errno_code(errno), errno, "runner: cannot open log '%s'",
				                         path.ptr);
			else
				io->log_path = devsys__strdup(path.ptr);
		}
		devsys_buf_dispose(&rel);
		devsys_buf_dispose(&path);
		if (rc < 0)
			goto fail;
	}
	*out = io;
	return 0;
fail:
	devsys__runner_io_free(io);
	return rc;
}

int devsys_runner_io_write(devsys_runner_io *io, int stream, const char *data, size_t len)
{
	if (!io || (stream != DEVSYS_RUNNER_STDOUT && stream != DEVSYS_RUNNER_STDERR) || (len && !data))
		return devsys__error_set(DEVSYS_EINVAL, "devsys_runner_io_write: bad stream or data");
	if (is_aborted(io))
		return -1;
	if (len > 0)
		__atomic_store_n(&io->last_ns, devsys__now_ns(), __ATOMIC_RELEASE);
	if (io->ms[stream - 1]) {
		if (devsys_mask_stream_write(io->ms[stream - 1], data, len) < 0)
			set_aborted(io);
	} else if (split_lines(data, len, &io->lctx[stream - 1]) < 0) {
		set_aborted(io);
	}
	return is_aborted(io) ? -1 : 0;
}

int devsys__runner_io_aborted(devsys_runner_io *io)
{
	if (!io)
		return 0;
	if (is_aborted(io))
		return 1;
	if (io->idle_ns && devsys__now_ns() - __atomic_load_n(&io->last_ns, __ATOMIC_ACQUIRE) >= io->idle_ns) {
		__atomic_store_n(&io->stalled, 1, __ATOMIC_RELEASE);
		set_aborted(io);
		return 1;
	}
	return 0;
}

int devsys__runner_io_wait_ms(const devsys_runner_io *io, int cap_ms)
{
	uint64_t idle_end;
	int ms;
	if (!io || !io->idle_ns)
		return cap_ms;
	idle_end = __atomic_load_n(&io->last_ns, __ATOMIC_ACQUIRE) + io->idle_ns;
	ms = devsys__ms_until(idle_end);
	return cap_ms >= 0 && cap_ms < ms ? cap_ms : ms;
}

int devsys_runner_io_stopped(devsys_runner_io *io)
{
	return devsys__runner_io_aborted(io);
}

int devsys_runner_io_wait_ms(const devsys_runner_io *io, int cap_ms)
{
	return devsys__runner_io_wait_ms(io, cap_ms);
}

void devsys__runner_io_begin(devsys_runner_io *io)
{
	__atomic_store_n(&io->last_ns, devsys__now_ns(), __ATOMIC_RELEASE);
}

int devsys__runner_io_stopped_by(const devsys_runner_io *io)
{
	if (io->limited)
		return DEVSYS_RUNNER_OUTPUT_LIMIT;
	if (__atomic_load_n(&io->stalled, __ATOMIC_ACQUIRE))
		return DEVSYS_RUNNER_STALLED;
	return is_aborted(io) ? DEVSYS_RUNNER_CANCELED : DEVSYS_RUNNER_OK;
}

void devsys__runner_io_note(devsys_runner_io *io, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;
	if (!io)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	log_put(io, "sys| ", 5);
	log_put(io, msg, (size_t)n);
	log_put(io, "\n", 1);
	tail_put(io, "sys| ", 5);
	tail_put(io, msg, (size_t)n);
	tail_put(io, "\n", 1);
}

/* Flush held-back bytes and partial lines at the end of one attempt. */
int devsys__runner_io_finish(devsys_runner_io *io)
{
	for (int s = 0; s < 2; s++) {
		if (io->ms[s] && devsys_mask_stream_finish(io->ms[s]) < 0)
			set_aborted(io);
		if (io->line[s].size > 0) {
			deliver(io, s + 1, io->line[s].ptr, io->line[s].size);
			devsys_buf_clear(&io->line[s]);
		}
	}
	return is_aborted(io) ? -1 : 0;
}

int devsys__runner_io_result(devsys_runner_io *io, devsys_runner_result *res)
{
	devsys_buf t = DEVSYS_BUF_INIT;
	res->output_bytes = io->total;
	res->truncated = io->dropped > 0;
	if (io->dropped > 0) {
		if (io->log_path)
			devsys_buf_printf(&t, "sys| [%llu earlier bytes are not kept in memory; the full output is in %s]\n",
			                  (unsigned long long)io->dropped, io->log_path);
		else
			devsys_buf_printf(&t, "sys| [%llu earlier bytes were dropped; give the command a task to keep the "
			                      "full output in <task>/logs/<stage>.log]\n",
			                  (unsigned long long)io->dropped);
	}
	if (devsys_buf_put(&t, io->tail, io->tail_len) < 0) {
		devsys_buf_dispose(&t);
		return devsys__error_oom();
	}
	res->tail = t.ptr;
	res->tail_len = t.size;
	if (io->log_path && !(res->log_path = devsys__strdup(io->log_path)))
		return devsys__error_oom();
	return 0;
}

void devsys__runner_io_free(devsys_runner_io *io)
{
	if (!io)
		return;
	for (int s = 0; s < 2; s++) {
		devsys_mask_stream_free(io->ms[s]);
		devsys_buf_dispose(&io->line[s]);
	}
	if (io->logfd >= 0)
		close(io->logfd);
	devsys__free(io->log_path);
	devsys__free(io->tail);
	devsys__free(io);
}
