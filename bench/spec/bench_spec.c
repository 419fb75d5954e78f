/*
 * libdevsys side of the spec benchmark: parse + validate every generated
 * spec against the canonical task schema (compiled once, outside the timing).
 * Usage: bench_spec DATADIR
 */
#include <devsys.h>

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
		if (devsys_spec_load_buffer(&s, docs[i], lens[i], "bench", &o) != 0) {
			fprintf(stderr, "doc %zu: %s\n", i, devsys_error_message(devsys_error_last()));
			exit(1);
		}
		if (devsys_spec_validate(NULL, s, 0) == 0)
			(*valid)++;
		devsys_spec_free(s);
	}
	return (double)n / (now() - t);
}

int main(int argc, char **argv)
{
	char path[4096];
	size_t jl, yl, valid;
	char **jd, **yd;
	size_t *jn, *yn;
	const devsys_schema *schema;
	if (argc != 2) {
		fprintf(stderr, "usage: bench_spec DATADIR\n");
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
