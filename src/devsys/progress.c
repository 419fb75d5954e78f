/*
 * The progress view of `devsys run`. The pipeline calls back on its own
 * thread (one thread per task with --jobs); on a terminal a ticker thread
 * also redraws the live part ten times a second, so the spinners and the
 * clocks move while a command is silent. One mutex guards the view and
 * the output.
 *
 * One task: the live part is one line, redrawn in place with "\r".
 * Several tasks (devsys_cli_progress_new_many): a block of lines, one per
 * running task, under a header; every redraw moves the cursor back up over
 * the block and clears to the end of the screen. Each line is cut to the
 * terminal's width, since a line that wraps would throw the count off.
 * Lines printed above the live part (a stage's result, a task's start and
 * end) clear it first and let the next redraw bring it back.
 */
#include "progress.h"

#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define ID_WIDTH_MAX 24 /* task ids wider than this are cut in the view (the summary has them whole) */
#define ROWS_SHOWN 20   /* running tasks drawn at most; the header counts the rest */

struct row {
	char task[DEVSYS_TASK_ID_MAX + 1]; /* many: the task this row shows, "" when free */
	char stage[32];   /* the running stage, "" between stages */
	double started;   /* its start, monotonic seconds */
	char detail[160]; /* what it shows: a count, or the last output line */
	char partial[160]; /* output since the last newline */
	size_t partial_len;
	int counted;      /* the stage reports counts (the agent's step and tool): output no longer replaces them */
};

struct devsys_cli_progress {
	const devsys_cli *cli;
	FILE *out;
	int mode;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t ticker;
	bool ticking, stop;
	bool many;         /* one row per running task, each named */
	struct row *rows;  /* one, or (many) one per job */
	size_t nrows;
	size_t total, done; /* many: the run's tasks, and those that ended */
	int id_width;      /* many: the task column's width */
	unsigned int spin;
	int drawn; /* lines of the live part on screen */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int columns(FILE *out)
{
	struct winsize w;
	if (ioctl(fileno(out), TIOCGWINSZ, &w) == 0 && w.ws_col >= 40)
		return w.ws_col;
	return 80;
}

/* Task lines that fit: a block taller than the screen could not be redrawn in place. */
static int rows_fit(FILE *out)
{
	struct winsize w;
	int n = ROWS_SHOWN;
	if (ioctl(fileno(out), TIOCGWINSZ, &w) == 0 && w.ws_row > 0 && w.ws_row - 2 < n)
		n = w.ws_row - 2;
	return n > 1 ? n : 1;
}

static const char *const frames[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };

/* The live part off the screen; called with the lock held. */
static void clear_live(devsys_cli_progress *pv)
{
	if (pv->drawn == 1 && !pv->many)
		fputs("\r\033[K", pv->out);
	else if (pv->drawn > 0)
		fprintf(pv->out, "\r\033[%dA\033[J", pv->drawn);
	pv->drawn = 0;
}

/* @p n bytes of @p s at most, not ending inside a UTF-8 sequence. */
static int cut(const char *s, int n)
{
	int len = (int)strlen(s);
	if (n <= 0)
		return 0;
	if (len <= n)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* One running task's line, no wider than @p cols. */
static void draw_row(devsys_cli_progress *pv, const struct row *r, int cols, double t)
{
	char head[128], tail[32];
	int hl = snprintf(head, sizeof(head), "  %-*.*s  %-9.9s ", pv->id_width, pv->id_width, r->task,
	                  r->stage[0] ? r->stage : "-");
	int tl = snprintf(tail, sizeof(tail), " %5.1fs  ", r->stage[0] ? t - r->started : 0.0);
	int room = cols - 1 - hl - 1 - tl;
	fprintf(pv->out, "%s%s%s%s%s%.*s\n", head, devsys_cli_color(pv->cli, "\033[36m"), frames[pv->spin % 10],
	        devsys_cli_color(pv->cli, "\033[0m"), tail, cut(r->detail, room), r->detail);
}

static void draw_many(devsys_cli_progress *pv)
{
	int cols = columns(pv->out), fit = rows_fit(pv->out), shown = 0;
	size_t running = 0;
	double t = now();
	for (size_t i = 0; i < pv->nrows; i++)
		running += pv->rows[i].task[0] != '\0';
	clear_live(pv);
	if (!running)
		return;
	fprintf(pv->out, "  %s%zu running, %zu of %zu done", devsys_cli_color(pv->cli, "\033[1m"), running, pv->done,
	        pv->total);
	if (running > (size_t)fit)
		fprintf(pv->out, " (%d shown)", fit);
	fprintf(pv->out, "%s\n", devsys_cli_color(pv->cli, "\033[0m"));
	for (size_t i = 0; i < pv->nrows && shown < fit; i++)
		if (pv->rows[i].task[0]) {
			draw_row(pv, &pv->rows[i], cols, t);
			shown++;
		}
	pv->spin++;
	pv->drawn = shown + 1;
	fflush(pv->out);
}

/* Called with the lock held. */
static void draw(devsys_cli_progress *pv)
{
	const struct row *r = &pv->rows[0];
	int width = columns(pv->out) - 32;
	if (pv->mode != DEVSYS_CLI_PROGRESS_LIVE)
		return;
	if (pv->many) {
		draw_many(pv);
		return;
	}
	if (!r->stage[0])
		return;
	fprintf(pv->out, "\r\033[K  %-9s %s%s%s %5.1fs  %.*s", r->stage, devsys_cli_color(pv->cli, "\033[36m"),
	        frames[pv->spin++ % 10], devsys_cli_color(pv->cli, "\033[0m"), now() - r->started,
	        width > 0 ? width : 0, r->detail);
	fflush(pv->out);
	pv->drawn = 1;
}

static void *tick(void *arg)
{
	devsys_cli_progress *pv = arg;
	pthread_mutex_lock(&pv->lock);
	while (!pv->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000 * 1000 * 1000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000 * 1000 * 1000;
		}
		pthread_cond_timedwait(&pv->wake, &pv->lock, &ts);
		if (!pv->stop)
			draw(pv);
	}
	pthread_mutex_unlock(&pv->lock);
	return NULL;
}

static devsys_cli_progress *view_new(const devsys_cli *cli, FILE *out, int mode, size_t nrows)
{
	devsys_cli_progress *pv = calloc(1, sizeof(*pv));
	if (!pv || !(pv->rows = calloc(nrows ? nrows : 1, sizeof(*pv->rows)))) {
		free(pv);
		return NULL;
	}
	pv->cli = cli;
	pv->out = out;
	pv->mode = mode;
	pv->nrows = nrows ? nrows : 1;
	pthread_mutex_init(&pv->lock, NULL);
	pthread_cond_init(&pv->wake, NULL);
	return pv;
}

static void start_ticker(devsys_cli_progress *pv)
{
	if (pv->mode == DEVSYS_CLI_PROGRESS_LIVE)
		pv->ticking = pthread_create(&pv->ticker, NULL, tick, pv) == 0;
}

devsys_cli_progress *devsys_cli_progress_new(const devsys_cli *cli, FILE *out, int mode)
{
	devsys_cli_progress *pv = view_new(cli, out, mode, 1);
	if (pv)
		start_ticker(pv);
	return pv;
}

devsys_cli_progress *devsys_cli_progress_new_many(const devsys_cli *cli, FILE *out, int mode, char *const *ids,
                                                  size_t n, size_t jobs)
{
	devsys_cli_progress *pv = view_new(cli, out, mode, jobs);
	if (!pv)
		return NULL;
	pv->many = true;
	pv->total = n;
	pv->id_width = 4; /* "TASK" */
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(ids[i]) > pv->id_width)
			pv->id_width = (int)strlen(ids[i]) < ID_WIDTH_MAX ? (int)strlen(ids[i]) : ID_WIDTH_MAX;
	start_ticker(pv);
	return pv;
}

void devsys_cli_progress_free(devsys_cli_progress *pv)
{
	if (!pv)
		return;
	pthread_mutex_lock(&pv->lock);
	pv->stop = true;
	pthread_cond_signal(&pv->wake);
	pthread_mutex_unlock(&pv->lock);
	if (pv->ticking)
		pthread_join(pv->ticker, NULL);
	clear_live(pv);
	fflush(pv->out);
	pthread_cond_destroy(&pv->wake);
	pthread_mutex_destroy(&pv->lock);
	free(pv->rows);
	free(pv);
}

/* The row of task @p id (many), claiming a free one when @p claim; NULL when none. */
static struct row *row_of(devsys_cli_progress *pv, const char *id, bool claim)
{
	if (!pv->many)
		return &pv->rows[0];
	if (!id)
		return NULL;
	for (size_t i = 0; i < pv->nrows; i++)
		if (!strcmp(pv->rows[i].task, id))
			return &pv->rows[i];
	for (size_t i = 0; claim && i < pv->nrows; i++)
		if (!pv->rows[i].task[0]) {
			memset(&pv->rows[i], 0, sizeof(pv->rows[i]));
			snprintf(pv->rows[i].task, sizeof(pv->rows[i].task), "%s", id);
			return &pv->rows[i];
		}
	return NULL;
}

/* The stage's result line; called with the lock held. */
static void result_line(devsys_cli_progress *pv, const char *task, const devsys_stage_result *res, double seconds)
{
	bool ok = res->result && strcmp(res->result, "ok") == 0;
	const char *fclass = devsys_failure_class_name(res->failure_class);
	clear_live(pv);
	if (pv->many)
		fprintf(pv->out, "  %-*s", pv->id_width, task ? task : "?");
	fprintf(pv->out, "  %-9s %s%-8s%s %-20s %5.1fs%s%s%s\n", res->stage ? res->stage : "?",
	        devsys_cli_color(pv->cli, ok ? "\033[32m" : "\033[1;31m"), res->result ? res->result : "?",
	        devsys_cli_color(pv->cli, "\033[0m"), res->outcome ? res->outcome : "", seconds, fclass ? "  (" : "",
	        fclass ? fclass : "", fclass ? ")" : "");
	fflush(pv->out);
}

void devsys_cli_progress_stage(devsys_cli_progress *pv, const devsys_stage_result *res, double seconds)
{
	if (!pv || pv->mode == DEVSYS_CLI_PROGRESS_QUIET)
		return;
	pthread_mutex_lock(&pv->lock);
	result_line(pv, NULL, res, seconds);
	pthread_mutex_unlock(&pv->lock);
}

void devsys_cli_progress_task(devsys_cli_progress *pv, const char *id, const char *state)
{
	struct row *r;
	if (!pv || !id)
		return;
	pthread_mutex_lock(&pv->lock);
	r = pv->many ? row_of(pv, id, !state) : NULL;
	if (state && r) {
		memset(r, 0, sizeof(*r)); /* the row is free again */
		pv->done++;
	}
	if (pv->mode != DEVSYS_CLI_PROGRESS_QUIET) {
		clear_live(pv);
		fprintf(pv->out, "task %s: %s\n", id, state ? state : "running");
		fflush(pv->out);
		draw(pv);
	}
	pthread_mutex_unlock(&pv->lock);
}

/* Keep the last complete output line, printable bytes only. */
static void take_output(struct row *r, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch == '\n' || ch == '\r') {
			if (r->partial_len) {
				memcpy(r->detail, r->partial, r->partial_len);
				r->detail[r->partial_len] = '\0';
			}
			r->partial_len = 0;
		} else if (r->partial_len + 1 < sizeof(r->partial)) {
			r->partial[r->partial_len++] = (char)(ch == '\t' || ch < 0x20 || ch == 0x7f ? ' ' : ch);
		}
	}
}

static void take_count(struct row *r, const devsys_pipeline_event *ev)
{
	/* the label is ev->len bytes when a length is given, else a C string */
	const char *label = ev->data ? ev->data : "done";
	int llen = ev->data && ev->len ? (int)(ev->len < 64 ? ev->len : 64) : (int)strlen(label);
	if (ev->total) {
		char bar[21];
		uint64_t fill = ev->current >= ev->total ? 20 : ev->current * 20 / ev->total;
		for (size_t i = 0; i < 20; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[20] = '\0';
		snprintf(r->detail, sizeof(r->detail), "[%s] %llu/%llu %.*s", bar, (unsigned long long)ev->current,
		         (unsigned long long)ev->total, llen, label);
	} else {
		snprintf(r->detail, sizeof(r->detail), "%llu %.*s", (unsigned long long)ev->current, llen, label);
	}
}

/* Called with the lock held. */
static void take_event(devsys_cli_progress *pv, struct row *r, const devsys_pipeline_event *ev)
{
	switch (ev->kind) {
	case DEVSYS_PIPELINE_EVENT_STAGE_BEGIN:
		snprintf(r->stage, sizeof(r->stage), "%s", ev->stage ? ev->stage : "?");
		r->started = now();
		r->detail[0] = '\0';
		r->partial_len = 0;
		r->counted = 0;
		draw(pv);
		break;
	case DEVSYS_PIPELINE_EVENT_STAGE_END:
		if (ev->result)
			result_line(pv, ev->task_id, ev->result, r->stage[0] ? now() - r->started : 0.0);
		r->stage[0] = '\0';
		r->detail[0] = '\0';
		if (pv->many)
			draw(pv);
		break;
	case DEVSYS_PIPELINE_EVENT_OUTPUT:
		if (!r->counted)
			take_output(r, ev->data, ev->len);
		break;
	case DEVSYS_PIPELINE_EVENT_PROGRESS:
		r->counted = 1;
		take_count(r, ev);
		draw(pv);
		break;
	default:
		break;
	}
}

int devsys_cli_progress_event(const devsys_pipeline_event *ev, void *payload)
{
	devsys_cli_progress *pv = payload;
	struct row *r;
	if (!pv || !ev || pv->mode == DEVSYS_CLI_PROGRESS_QUIET)
		return 0;
	pthread_mutex_lock(&pv->lock);
	if ((r = row_of(pv, ev->task_id, true)) != NULL)
		take_event(pv, r, ev);
	pthread_mutex_unlock(&pv->lock);
	return 0;
}
