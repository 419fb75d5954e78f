/*
 * Parse one JUnit file with libdevsys and print throughput and peak memory.
 * usage: bench_junit_parse FILE [--cases]
 *   default: streaming (DEVSYS_REPORT_NO_CASES: totals and failed names)
 *   --cases: keep every case in memory as well
 * Wall and CPU time cover the parse alone (not devsys_init or process start-up).
 */
#include <devsys.h>
#include <devsys/report.h>

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

int main(int argc, char **argv)
{
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_report *r = NULL;
	struct timespec a, b;
	struct rusage ru0, ru;
	struct stat st;
	double secs, mb, cpu;
	if (argc < 2 || stat(argv[1], &st) != 0 || devsys_init() < 0) {
		fprintf(stderr, "usage: bench_junit_parse FILE [--cases]\n");
		return 2;
	}
	if (!(argc > 2 && strcmp(argv[2], "--cases") == 0))
		o.flags = DEVSYS_REPORT_NO_CASES;
	getrusage(RUSAGE_SELF, &ru0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (devsys_report_parse_junit(&r, argv[1], &o) < 0) {
		fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_SELF, &ru);
	secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	mb = (double)st.st_size / 1e6;
	cpu = (double)(ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (double)(ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	      (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	printf("%s %.1f MB wall %.3f s %.1f MB/s cpu %.3f s %.1f MB/s peak_rss_mib %.1f tests %zu failed %zu errors %zu "
	       "skipped %zu time_sum %.6f\n",
	       o.flags ? "streaming" : "cases", mb, secs, mb / secs, cpu, mb / cpu, (double)ru.ru_maxrss / 1024.0,
	       devsys_report_tests(r),
	       devsys_report_count(r, DEVSYS_REPORT_FAILED), devsys_report_count(r, DEVSYS_REPORT_ERROR),
	       devsys_report_count(r, DEVSYS_REPORT_SKIPPED), devsys_report_time(r));
	devsys_report_free(r);
	devsys_shutdown();
	return 0;
}
