/*
 * The C anchors of bench/bindings/run.sh:
 *   bench_bindings version N      N calls of devsys_version(); prints ns per call
 *   bench_bindings validate N     N specs loaded from memory and validated
 *                                 against the task schema; prints specs/s
 * The Python binding does the same work in bench_py.py.
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

int main(int argc, char **argv)
{
	if (argc != 3 || devsys_init() < 0) {
		fprintf(stderr, "usage: bench_bindings version|validate N\n");
		return 2;
	}
	long n = atol(argv[2]);
	int rc = strcmp(argv[1], "version") == 0 ? bench_version(n) : bench_validate(n);
	devsys_shutdown();
	return rc;
}
