/*
 * The progress view of `devsys run`. The pipeline calls back on its own
 * thread; on a terminal a ticker thread also redraws the live line ten
 * times a second, so the spinner and the clock move while a command is
 * silent. One mutex guards the view and the output.
 */
#include "progress.h"

#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct devsys_cli_progress {
	const devsys_cli *cli;
	FILE *out;
	int mode;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t ticker;
	bool ticking, stop;
	char stage[32];   /* the running stage, "" between stages */
	double started;   /* its start, monotonic seconds */
	char detail[160]; /* what it shows: a count, or the last output line */
	char partial[160]; /* output since the last newline */
	size_t partial_len;
	unsigned int spin;
	bool drawn; /* the live line is on screen */
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

/* Called with the lock held. */
static void draw(devsys_cli_progress *pv)
{
	static const char *const frames[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };
	int width = columns(pv->out) - 32;
	if (pv->mode != DEVSYS_CLI_PROGRESS_LIVE || !pv->stage[0])
		return;
	fprintf(pv->out, "\r\033[K  %-9s %s%s%s %5.1fs  %.*s", pv->stage, devsys_cli_color(pv->cli, "\033[36m"),
	        frames[pv->spin++ % 10], devsys_cli_color(pv->cli, "\033[0m"), now() - pv->started,
	        width > 0 ? width : 0, pv->detail);
	fflush(pv->out);
	pv->drawn = true;
}

static void clear_line(devsys_cli_progress *pv)
{
	if (pv->drawn)
		fputs("\r\033[K", pv->out);
	pv->drawn = false;
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

devsys_cli_progress *devsys_cli_progress_new(const devsys_cli *cli, FILE *out, int mode)
{
	devsys_cli_progress *pv = calloc(1, sizeof(*pv));
	if (!pv)
		return NULL;
	pv->cli = cli;
	pv->out = out;
	pv->mode = mode;
	pthread_mutex_init(&pv->lock, NULL);
	pthread_cond_init(&pv->wake, NULL);
	if (mode == DEVSYS_CLI_PROGRESS_LIVE)
		pv->ticking = pthread_create(&pv->ticker, NULL, tick, pv) == 0;
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
	clear_line(pv);
	fflush(pv->out);
	pthread_cond_destroy(&pv->wake);
	pthread_mutex_destroy(&pv->lock);
	free(pv);
}

/* The stage's result line; called with the lock held. */
static void result_line(devsys_cli_progress *pv, const devsys_stage_result *res, double seconds)
{
	bool ok = res->result && strcmp(res->result, "ok") == 0;
	const char *fclass = devsys_failure_class_name(res->failure_class);
	clear_line(pv);
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
	result_line(pv, res, seconds);
	pthread_mutex_unlock(&pv->lock);
}

/* Keep the last complete output line, printable bytes only. */
static void take_output(devsys_cli_progress *pv, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch == '\n' || ch == '\r') {
			if (pv->partial_len) {
				memcpy(pv->detail, pv->partial, pv->partial_len);
				pv->detail[pv->partial_len] = '\0';
			}
			pv->partial_len = 0;
		} else if (pv->partial_len + 1 < sizeof(pv->partial)) {
			pv->partial[pv->partial_len++] = (char)(ch == '\t' || ch < 0x20 || ch == 0x7f ? ' ' : ch);
		}
	}
}

static void take_count(devsys_cli_progress *pv, const devsys_pipeline_event *ev)
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
		snprintf(pv->detail, sizeof(pv->detail), "[%s] %llu/%llu %.*s", bar, (unsigned long long)ev->current,
		         (unsigned long long)ev->total, llen, label);
	} else {
		snprintf(pv->detail, sizeof(pv->detail), "%llu %.*s", (unsigned long long)ev->current, llen, label);
	}
}

int devsys_cli_progress_event(const devsys_pipeline_event *ev, void *payload)
{
	devsys_cli_progress *pv = payload;
	if (!pv || !ev || pv->mode == DEVSYS_CLI_PROGRESS_QUIET)
		return 0;
	pthread_mutex_lock(&pv->lock);
	switch (ev->kind) {
	case DEVSYS_PIPELINE_EVENT_STAGE_BEGIN:
		snprintf(pv->stage, sizeof(pv->stage), "%s", ev->stage ? ev->stage : "?");
		pv->started = now();
		pv->detail[0] = '\0';
		pv->partial_len = 0;
		draw(pv);
		break;
	case DEVSYS_PIPELINE_EVENT_STAGE_END:
		if (ev->result)
			result_line(pv, ev->result, pv->stage[0] ? now() - pv->started : 0.0);
		pv->stage[0] = '\0';
		break;
	case DEVSYS_PIPELINE_EVENT_OUTPUT:
		take_output(pv, ev->data, ev->len);
		break;
	case DEVSYS_PIPELINE_EVENT_PROGRESS:
		take_count(pv, ev);
		draw(pv);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&pv->lock);
	return 0;
}
