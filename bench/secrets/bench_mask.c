/*
 * Masking throughput: 100 secrets (16-40 random characters), log-like
 * text with a secret every ~8 KiB, SIZE bytes (default 1 GiB) in a file.
 * The devsys streaming masker (Aho-Corasick DFA) reads the file in 1 MiB
 * chunks; the anchor is `grep -F -c -f secrets.txt FILE` (LC_ALL=C) over
 * the same file in the same run, after one warm-up read of the file. grep
 * is spawned directly (posix_spawnp, no shell), its stdout to a file.
 * Prints MB/s of both and the ratio (target >= 1.0x grep).
 *
 *   bench_secrets_mask [size_mb] [workdir]
 */
#include <devsys.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSECRETS 100

/* grep -F -c -f SECRETS FILE > OUT, LC_ALL=C, spawned directly; its exit status (or -1)
 * and its CPU time (user + system, from wait4). */
static int run_grep(const char *secrets, const char *file, const char *out, double *cpu)
{
	struct rusage ru;
	char *const argv[] = { "grep", "-F", "-c", "-f", (char *)secrets, (char *)file, NULL };
	char *const envp[] = { "LC_ALL=C", "PATH=/usr/bin:/bin", NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rc = posix_spawnp(&pid, "grep", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
		;
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read FILE once so both sides find it in the page cache. */
static int warm(const char *file, char *buf, size_t size)
{
	int fd = open(file, O_RDONLY);
	ssize_t n;
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, size)) > 0)
		;
	close(fd);
	return n < 0 ? -1 : 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rng = 88172645463325252ull;
static unsigned rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11);
}

static unsigned long long masked_bytes;
static int count_sink(const char *d, size_t n, void *p)
{
	(void)d;
	(void)p;
	masked_bytes += n;
	return 0;
}

int main(int argc, char **argv)
{
	size_t size_mb = argc > 1 ? (size_t)atol(argv[1]) : 1024;
	const char *dir = argc > 2 ? argv[2] : ".";
	char secrets[NSECRETS][48], path[1024], spath[1024];
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	static const char *words[] = { "the", "build", "step", "compiled", "module", "linking", "object", "warning",
		                       "error", "info", "debug", "test", "passed", "failed", "running", "cmake",
		                       "ninja", "gcc", "-O2", "-Wall", "src/lib/file.c", "1234", "0x7fff" };
	devsys_masker *m;
	FILE *f;

	snprintf(path, sizeof(path), "%s/mask-bench.txt", dir);
	snprintf(spath, sizeof(spath), "%s/secrets.txt", dir);
	if (!(f = fopen(spath, "w")))
		return 3;
	devsys_init();
	devsys_masker_new(&m);
	for (int i = 0; i < NSECRETS; i++) {
		int len = 16 + (int)(rnd() % 25);
		for (int k = 0; k < len; k++)
			secrets[i][k] = alnum[rnd() % 62];
		secrets[i][len] = '\0';
		fprintf(f, "%s\n", secrets[i]);
		char name[16];
		snprintf(name, sizeof(name), "secret%d", i);
		devsys_masker_add(m, name, secrets[i], (size_t)len);
	}
	fclose(f);

	/* the data: a 4 MiB block of log lines with secrets, repeated */
	size_t block = 4u << 20, fill = 0, since = 0;
	char *buf = malloc(block + 256);
	while (fill < block) {
		if (since > 8192) {
			const char *s = secrets[rnd() % NSECRETS];
			fill += (size_t)sprintf(buf + fill, "token=%s ", s);
			since = 0;
		}
		const char *w = words[rnd() % (sizeof(words) / sizeof(words[0]))];
		size_t l = strlen(w);
		memcpy(buf + fill, w, l);
		fill += l;
		since += l + 1;
		buf[fill++] = rnd() % 12 == 0 ? '\n' : ' ';
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 3;
	for (size_t done = 0; done < size_mb << 20; done += block)
		if (write(fd, buf, block) != (ssize_t)block)
			return 3;
	close(fd);
	struct stat st;
	stat(path, &st);
	double mb = (double)st.st_size / 1e6;

	/* warm the page cache */
	char *chunk = malloc(1u << 20);
	if (!chunk || warm(path, chunk, 1u << 20) != 0)
		return 3;

	/* not > /dev/null: GNU grep then stops at the first match */
	char gout[1100];
	snprintf(gout, sizeof(gout), "%s/grep.out", dir);
	double t0 = now_s();
	double cg = 0;
	int grc = run_grep(spath, path, gout, &cg);
	double tg = now_s() - t0;

	devsys_mask_stream *s;
	devsys_mask_stream_new(&s, m, count_sink, NULL);
	double c0 = cpu_now();
	t0 = now_s();
	fd = open(path, O_RDONLY);
	for (;;) {
		ssize_t n = read(fd, chunk, 1u << 20);
		if (n <= 0)
			break;
		devsys_mask_stream_write(s, chunk, (size_t)n);
	}
	devsys_mask_stream_finish(s);
	close(fd);
	double td = now_s() - t0, cd = cpu_now() - c0;

	{
		FILE *g = fopen(gout, "r");
		long lines = -1;
		if (g && fscanf(g, "%ld", &lines) != 1)
			lines = -1;
		if (g)
			fclose(g);
		printf("grep: %ld matching lines\n", lines);
	}
	printf("masking: %.0f MB, %d secrets (16-40 chars), a secret every ~8 KiB\n", mb, NSECRETS);
	printf("  anchor grep -F -c -f (LC_ALL=C)  : %8.2f s  %8.1f MB/s%s\n", tg, mb / tg, grc == 0 ? "" : " (grep failed)");
	printf("  devsys streaming masker          : %8.2f s  %8.1f MB/s  (%llu bytes out)\n", td, mb / td, masked_bytes);
	printf("  ratio devsys/grep throughput     : %8.2fx (target >= 1.0x) %s\n", tg / td, tg / td >= 1.0 ? "PASS" : "MISS");
	printf("  CPU time: grep %.2f s, devsys %.2f s, ratio %.2fx (less swayed by other load than wall time)\n", cg, cd,
	       cg / cd);
	devsys_mask_stream_free(s);
	devsys_masker_free(m);
	unlink(path);
	unlink(spath);
	unlink(gout);
	free(buf);
	free(chunk);
	devsys_shutdown();
	return 0;
}
