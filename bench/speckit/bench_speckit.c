/*
 * bench/speckit: load + check one feature folder ROUNDS times with
 * libdevsys, print the best time and the findings of the rules the Python
 * anchor implements (SK004, SK008, SK010-SK013 without notes), as
 * "rule file line", for run.sh to diff before any ratio is printed. The
 * first line also gives the floor: reading the three files and finding
 * their line ends with libc (read, memchr), which any parser pays.
 * usage: bench_speckit FEATURE_DIR ROUNDS
 */
#include <devsys.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Process CPU time, as the anchor measures (time.process_time()): on a
 * shared machine the wall clock also counts the time other processes ran. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compared(const char *rule)
{
	static const char *const r[] = { "SK004", "SK008", "SK010", "SK011", "SK012", "SK013" };
	for (size_t i = 0; i < sizeof(r) / sizeof(*r); i++)
		if (strcmp(rule, r[i]) == 0)
			return 1;
	return 0;
}

static double floor_once(const char *dir)
{
	static const char *const names[] = { "spec.md", "plan.md", "tasks.md" };
	double t0 = now();
	size_t lines = 0;
	for (size_t i = 0; i < 3; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		static char buf[1 << 20];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
				lines++;
		fclose(f);
	}
	double dt = now() - t0;
	return lines ? dt : 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench_speckit FEATURE_DIR ROUNDS\n");
		return 2;
	}
	int rounds = atoi(argv[2]);
	double best = 1e9;
	devsys_speckit_findings *keep = NULL;
	for (int k = 0; k < rounds; k++) {
		double t0 = now();
		devsys_speckit_feature *f = NULL;
		devsys_speckit_findings *r = NULL;
		if (devsys_speckit_feature_load(&f, argv[1], NULL) || devsys_speckit_findings_new(&r) ||
		    devsys_speckit_check(r, f)) {
			fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
			return 1;
		}
		devsys_speckit_feature_free(f);
		double dt = now() - t0;
		if (dt < best)
			best = dt;
		devsys_speckit_findings_free(keep);
		keep = r;
	}
	double floor = 1e9;
	for (int k = 0; k < rounds; k++) {
		double dt = floor_once(argv[1]);
		if (dt < floor)
			floor = dt;
	}
	printf("time %.6f floor %.6f\n", best, floor);
	for (size_t i = 0; i < devsys_speckit_findings_count(keep); i++) {
		devsys_speckit_severity sev;
		const char *file;
		unsigned line;
		const char *rule = devsys_speckit_finding_at(keep, i, &sev, &file, &line, NULL);
		const char *base = strrchr(file, '/');
		if (!compared(rule) || sev == DEVSYS_SPECKIT_INFO)
			continue;
		if (strcmp(rule, "SK013") == 0 && strcmp(base + 1, "spec.md") != 0)
			continue; /* the anchor checks requirement coverage, not task tracing */
		printf("%s %s %u\n", rule, base ? base + 1 : file, line);
	}
	devsys_speckit_findings_free(keep);
	return 0;
}
