/*
 * The C anchors of bench/bindings/run.sh:
 *   bench_bindings version N      N calls of devsys_version(); prints ns per call
 *   bench_bindings validate N     N specs loaded from memory and validated
 *                                 against the task schema, in three calls
 *                                 (load_buffer, validate, free); prints specs/s
 *   bench_bindings check N        the same N specs in one call each
 *                                 (devsys_spec_validate_buffer); prints specs/s
 * Each spec's text is formatted first (its id varies), on both sides.
 * The Python and Lua bindings do the same work in bench_py.py and bench_lua.lua.
 */
#include <devsys.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* this thread's CPU time: on a machine shared with other builds, wall time measures them too */
static double cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* the spec bench_py.py validates too, with the id varied per document */
static const char spec_fmt[] = "version: 1\nid: bench-%d\ntitle: Benchmark spec\nprompt: do the thing\n"
                               "repo:\n  url: https://example.com/x.git\n  base_branch: main\n"
                               "tests:\n  command: [make, test]\n  timeout: 10m\n";

static int bench_version(long n)
{
	volatile size_t sink = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (long i = 0; i < n; i++)
		sink += (size_t)devsys_version()[0];
	double dt = now_s() - t0, dc = cpu_s() - c0;
	printf("c version: %ld calls in %.3f s, %.1f ns/call, cpu %.1f ns/call (sink %zu)\n", n, dt, dt * 1e9 / (double)n,
	       dc * 1e9 / (double)n, (size_t)sink);
	return 0;
}

static int bench_validate(long n)
{
	char text[512];
	long valid = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (long i = 0; i < n; i++) {
		int len = snprintf(text, sizeof(text), spec_fmt, (int)(i % 100000));
		devsys_spec *spec = NULL;
		if (devsys_spec_load_buffer(&spec, text, (size_t)len, "bench.yaml", NULL) != 0) {
			fprintf(stderr, "load: %s\n", devsys_error_message(devsys_error_last()));
			return 1;
		}
		if (devsys_spec_validate(NULL, spec, 0) == 0)
			valid++;
		devsys_spec_free(spec);
	}
	double dt = now_s() - t0, dc = cpu_s() - c0;
	printf("c validate: %ld specs (%ld valid) in %.3f s, %.0f specs/s, cpu %.0f specs/s\n", n, valid, dt,
	       (double)n / dt, (double)n / dc);
	return valid == n ? 0 : 1;
}

/* the same specs, each loaded and validated by one call (what check_spec() and spec_check() wrap) */
static int bench_check(long n)
{
	char text[512];
	long valid = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (long i = 0; i < n; i++) {
		int len = snprintf(text, sizeof(text), spec_fmt, (int)(i % 100000));
		int rc = devsys_spec_validate_buffer(NULL, NULL, text, (size_t)len, "bench.yaml", NULL);
		if (rc == 0)
			valid++;
		else if (rc != DEVSYS_EINVALID) {
			fprintf(stderr, "load: %s\n", devsys_error_message(devsys_error_last()));
			return 1;
		}
	}
	double dt = now_s() - t0, dc = cpu_s() - c0;
	printf("c check: %ld specs (%ld valid) in %.3f s, %.0f specs/s, cpu %.0f specs/s\n", n, valid, dt, (double)n / dt,
	       (double)n / dc);
	return valid == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc != 3 || devsys_init() < 0) {
		fprintf(stderr, "usage: bench_bindings version|validate|check N\n");
		return 2;
	}
	long n = atol(argv[2]);
	int rc = strcmp(argv[1], "version") == 0 ? bench_version(n)
	         : strcmp(argv[1], "check") == 0 ? bench_check(n)
	                                         : bench_validate(n);
	devsys_shutdown();
	return rc;
}
