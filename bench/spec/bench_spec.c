/*
 * libdevsys side of the spec benchmark: parse + validate every generated
 * spec against the canonical task schema (compiled once, outside the timing).
 * Then the YAML floor, like for like on the same documents: libdevsys
 * parsing each YAML document into its document model (no validation)
 * against libyaml's event parse alone (the parser libdevsys is built on).
 * Usage: bench_spec DATADIR [--yaml-floor]
 */
#include <devsys.h>
#include <yaml.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's CPU time: the floor pair runs in one process, so CPU time
 * compares them fairly even when other processes take the cores away. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Split @p buf in place at @p sep; returns the pieces (starts) and lengths. */
static size_t split(char *buf, size_t len, const char *sep, char ***starts, size_t **lens)
{
	size_t n = 0, cap = 1024, sl = strlen(sep);
	*starts = malloc(cap * sizeof(char *));
	*lens = malloc(cap * sizeof(size_t));
	char *p = buf, *end = buf + len;
	while (p < end) {
		char *q = strstr(p, sep);
		char *e = q ? q : end;
		if (e > p) {
			if (n == cap) {
				cap *= 2;
				*starts = realloc(*starts, cap * sizeof(char *));
				*lens = realloc(*lens, cap * sizeof(size_t));
			}
			(*starts)[n] = p;
			(*lens)[n] = (size_t)(e - p);
			n++;
		}
		p = q ? q + sl : end;
	}
	return n;
}

static double run(char **docs, size_t *lens, size_t n, int fmt, size_t *valid)
{
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	o.format = fmt;
	*valid = 0;
	double t = now();
	for (size_t i = 0; i < n; i++) {
		devsys_spec *s;
		/* a document the loader refuses counts as invalid, as it does for the anchors */
		if (devsys_spec_load_buffer(&s, docs[i], lens[i], "bench", &o) != 0)
			continue;
		if (devsys_spec_validate(NULL, s, 0) == 0)
			(*valid)++;
		devsys_spec_free(s);
	}
	return (double)n / (now() - t);
}

/* libdevsys: YAML text to its document model, nothing more. */
__attribute__((noinline)) static double yaml_load_only(char **docs, size_t *lens, size_t n)
{
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	o.format = DEVSYS_SPEC_FORMAT_YAML;
	double t = cpu_now();
	for (size_t i = 0; i < n; i++) {
		devsys_spec *s;
		if (devsys_spec_load_buffer(&s, docs[i], lens[i], "bench", &o) != 0) {
			fprintf(stderr, "yaml doc %zu: %s\n", i, devsys_error_message(devsys_error_last()));
			exit(1);
		}
		devsys_spec_free(s);
	}
	return (double)n / (cpu_now() - t);
}

/* The floor: libyaml's parser emitting every event of every document, events discarded. */
__attribute__((noinline)) static double yaml_events_only(char **docs, size_t *lens, size_t n)
{
	double t = cpu_now();
	for (size_t i = 0; i < n; i++) {
		yaml_parser_t parser;
		yaml_event_t ev;
		int done = 0;
		yaml_parser_initialize(&parser);
		yaml_parser_set_input_string(&parser, (const unsigned char *)docs[i], lens[i]);
		while (!done) {
			if (!yaml_parser_parse(&parser, &ev)) {
				fprintf(stderr, "libyaml: doc %zu: %s\n", i, parser.problem ? parser.problem : "error");
				exit(1);
			}
			done = ev.type == YAML_STREAM_END_EVENT;
			yaml_event_delete(&ev);
		}
		yaml_parser_delete(&parser);
	}
	return (double)n / (cpu_now() - t);
}

/* Alternate the two, ROUNDS times, and keep each one's best rate (a shared machine). */
static void yaml_floor(char **docs, size_t *lens, size_t n)
{
	const int rounds = 5;
	double best_ds = 0, best_floor = 0;
	for (int k = 0; k < rounds; k++) {
		double f = yaml_events_only(docs, lens, n), d = yaml_load_only(docs, lens, n);
		printf("yaml-floor round %d: libdevsys parse-to-document %.1f docs/cpu-s, libyaml events %.1f docs/cpu-s, "
		       "fraction %.2f\n", k + 1, d, f, d / f);
		if (d > best_ds)
			best_ds = d;
		if (f > best_floor)
			best_floor = f;
	}
	printf("yaml-floor best of %d (CPU time): libdevsys %.1f docs/s, libyaml %.1f docs/s, fraction of floor %.2fx "
	       "(target >= 0.9x)\n", rounds, best_ds, best_floor, best_ds / best_floor);
}

int main(int argc, char **argv)
{
	char path[4096];
	size_t jl, yl, valid;
	char **jd, **yd;
	size_t *jn, *yn;
	const devsys_schema *schema;
	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--yaml-floor") != 0)) {
		fprintf(stderr, "usage: bench_spec DATADIR [--yaml-floor]\n");
		return 2;
	}
	if (devsys_init() < 0 || devsys_spec_task_schema(&schema) != 0) {
		fprintf(stderr, "init: %s\n", devsys_error_message(devsys_error_last()));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/specs.jsonl", argv[1]);
	char *j = slurp(path, &jl);
	snprintf(path, sizeof(path), "%s/specs.yaml", argv[1]);
	char *y = slurp(path, &yl);
	size_t nj = split(j, jl, "\n", &jd, &jn);
	size_t ny = split(y, yl, "---\n", &yd, &yn);
	if (argc == 3) {
		yaml_floor(yd, yn, ny);
		return 0;
	}
	/* one untimed warm-up pass over a few documents (page cache, allocator) */
	run(jd, jn, nj < 200 ? nj : 200, DEVSYS_SPEC_FORMAT_JSON, &valid);
	double rj = run(jd, jn, nj, DEVSYS_SPEC_FORMAT_JSON, &valid);
	printf("libdevsys json %zu docs %zu valid %.1f docs/s\n", nj, valid, rj);
	double ry = run(yd, yn, ny, DEVSYS_SPEC_FORMAT_YAML, &valid);
	printf("libdevsys yaml %zu docs %zu valid %.1f docs/s\n", ny, valid, ry);
	free(jd);
	free(jn);
	free(yd);
	free(yn);
	free(j);
	free(y);
	devsys_shutdown();
	return 0;
}
