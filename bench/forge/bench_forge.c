/*
 * Forge benchmark: open, update and gate N pull requests with the github
 * provider against tests/support/forge_upstream.py (bench/forge/run.sh
 * starts it and Prism).
 *
 *   bench_forge UPSTREAM_URL PROXY_URL REQUESTS_JSONL N TOKEN
 *
 * 1. Through `prism proxy --errors` (GitHub's description checks every
 *    request and answer): requests per PR for open, update and gate, read
 *    from the upstream's log, against the budget (open <= 4, update <= 2).
 * 2. Against the upstream directly: time per PR, devsys against one
 *    keep-alive curl process making the same requests (--next chained,
 *    exec'd directly, no shell), in 10 legs alternating which goes first,
 *    one curl process per leg. Each leg's request sequences (method and
 *    path) must be equal before any ratio is printed.
 *
 * Per PR: open = POST pulls, labels, reviewers; update = GET + PATCH; gate =
 * one status, then what the gate reads (PR, reviews, combined status, check
 * runs, files, commits) and the merge at the head SHA.
 */
#include "forge/forge_int.h"
#include "forge/github/github_int.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *token;

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* CPU time of this process alone. */
static double cpu_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/* CPU time of the children waited for so far. */
static double cpu_children(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return tv(ru.ru_utime) + tv(ru.ru_stime);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_forge: %s: %s\n", what, devsys_error_message(devsys_error_last()));
	exit(2);
}

/* The head commit of task/@p i (the same in every repository of the run). */
static void sha_of(char out[41], const char *repo, int i)
{
	(void)repo;
	snprintf(out, 41, "%08x%08x%08x%08x%08x", 0xbe11c4u, (unsigned)i, 0xdecafbadu, (unsigned)i * 7919u, 0x5eedu);
}

/* POST /_ctl/push with the system curl (setup, untimed). */
static void ctl_push(const char *up, const char *repo, int i)
{
	char url[256], body[512], sha[41];
	sha_of(sha, repo, i);
	snprintf(url, sizeof(url), "%s/_ctl/push", up);
	snprintf(body, sizeof(body), "{\"owner\":\"octo\",\"repo\":\"%s\",\"branch\":\"task/%d\",\"sha\":\"%s\"}", repo,
	         i, sha);
	const char *argv[] = { "curl", "-s", "-o", "/dev/null", "-X", "POST", "--data-binary", body, url, NULL };
	pid_t pid;
	int st;
	if (posix_spawnp(&pid, "curl", NULL, NULL, (char *const *)argv, environ) != 0 || waitpid(pid, &st, 0) < 0 ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_forge: cannot reach %s\n", url);
		exit(2);
	}
}

static void *open_gh(const devsys_forge_vtable *vt, const char *base, const char *repo)
{
	devsys_forge_open_options o;
	void *self;
	memset(&o, 0, sizeof(o));
	o.version = DEVSYS_FORGE_OPEN_OPTIONS_VERSION;
	o.base_url = base;
	o.owner = "octo";
	o.repo = repo;
	o.token = token;
	if (vt->open(&self, &o, NULL) < 0)
		die("open");
	return self;
}

/* One PR's open, update and gate; *reqs gets the provider's request count after each phase. */
static void one_pr(const devsys_forge_vtable *vt, void *self, const char *repo, int i, unsigned long marks[3])
{
	static const char *const labels[] = { "devsys" };
	static const char *const reviewers[] = { "alice" };
	char head[64], sha[41], title[96];
	devsys_forge_pr_request r;
	devsys_forge_pr_info info;
	devsys_forge_sink s;
	devsys_buf d = DEVSYS_BUF_INIT;
	int64_t n;

	snprintf(head, sizeof(head), "task/%d", i);
	snprintf(title, sizeof(title), "task %d: the change", i);
	sha_of(sha, repo, i);
	memset(&r, 0, sizeof(r));
	r.version = DEVSYS_FORGE_PR_REQUEST_VERSION;
	r.title = title;
	r.body = "Task: bench\n\n- [ ] it works\n";
	r.head = head;
	r.base = "main";
	r.labels = labels;
	r.nlabels = 1;
	r.reviewers = reviewers;
	r.nreviewers = 1;
	memset(&info, 0, sizeof(info));
	info.version = DEVSYS_FORGE_PR_INFO_VERSION;
	if (vt->pr_upsert(self, &info, &r) < 0)
		die("open");
	n = info.number;
	vt->describe(self, &d);
	marks[0] = strtoul(strstr(d.ptr, "\"requests\":") + 11, NULL, 10);
	r.title = "the change, updated";
	r.number = n;
	if (vt->pr_upsert(self, &info, &r) < 0 || !info.reused)
		die("update");
	devsys_buf_clear(&d);
	vt->describe(self, &d);
	marks[1] = strtoul(strstr(d.ptr, "\"requests\":") + 11, NULL, 10);

	devsys_forge_status st = { DEVSYS_FORGE_STATUS_VERSION, "devsys/tests", DEVSYS_CHECK_SUCCESS, "tests passed",
		                   NULL };
	if (vt->status_set(self, sha, &st) < 0 || vt->pr_get(self, &info, n) < 0)
		die("gate: status / PR");
	devsys__sink_init(&s, DEVSYS__SINK_REVIEWS);
	if (vt->pr_reviews(self, &s, n) < 0)
		die("gate: reviews");
	devsys__sink_dispose(&s);
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	if (vt->statuses(self, &s, sha) < 0 || vt->check_runs(self, &s, sha) < 0 || s.n != 1)
		die("gate: checks");
	devsys__sink_dispose(&s);
	devsys__sink_init(&s, DEVSYS__SINK_FILES);
	if (vt->pr_files(self, &s, n) < 0)
		die("gate: files");
	devsys__sink_dispose(&s);
	devsys__sink_init(&s, DEVSYS__SINK_AUTHORS);
	if (vt->pr_authors(self, &s, n) < 0)
		die("gate: authors");
	devsys__sink_dispose(&s);
	devsys_forge_merge_request mr = { DEVSYS_FORGE_MERGE_REQUEST_VERSION, sha, DEVSYS_FORGE_MERGE_COMMIT, NULL, NULL };
	devsys_forge_merge_result res = { DEVSYS_FORGE_MERGE_RESULT_VERSION, NULL };
	if (vt->merge(self, &res, n, &mr) < 0)
		die("gate: merge");
	devsys_buf_clear(&d);
	vt->describe(self, &d);
	marks[2] = strtoul(strstr(d.ptr, "\"requests\":") + 11, NULL, 10);
	devsys_buf_dispose(&d);
}

/* ---- the anchor: the same requests from one curl process ---- */

struct argv_b {
	char **v;
	size_t n, cap;
};

static void push(struct argv_b *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->v = realloc(a->v, a->cap * sizeof(char *));
	}
	a->v[a->n++] = strdup(s);
	a->v[a->n] = NULL;
}

static void curl_req(struct argv_b *a, const char *up, const char *repo, const char *method, const char *path,
                     const char *body)
{
	char url[512], auth[256];
	if (a->n > 1)
		push(a, "--next");
	snprintf(url, sizeof(url), "%s/repos/octo/%s%s", up, repo, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	push(a, "-s");
	push(a, "-o");
	push(a, "/dev/null");
	push(a, "-X");
	push(a, method);
	push(a, "-H");
	push(a, auth);
	push(a, "-H");
	push(a, "Accept: application/vnd.github+json, application/json;q=0.9");
	if (body) {
		push(a, "-H");
		push(a, "Content-Type: application/json");
		push(a, "--data-binary");
		push(a, body);
	}
	push(a, url);
}

static void curl_argv(struct argv_b *a, const char *up, const char *repo, int count)
{
	char p[256], b[512], sha[41];
	push(a, "curl");
	for (int i = 0; i < count; i++) {
		int n = i + 1;
		sha_of(sha, repo, i);
		snprintf(b, sizeof(b), "{\"title\":\"task %d: the change\",\"head\":\"task/%d\",\"base\":\"main\","
		         "\"body\":\"Task: bench\\n\\n- [ ] it works\\n\",\"draft\":false}", i, i);
		curl_req(a, up, repo, "POST", "/pulls", b);
		snprintf(p, sizeof(p), "/issues/%d/labels", n);
		curl_req(a, up, repo, "POST", p, "{\"labels\":[\"devsys\"]}");
		snprintf(p, sizeof(p), "/pulls/%d/requested_reviewers", n);
		curl_req(a, up, repo, "POST", p, "{\"reviewers\":[\"alice\"],\"team_reviewers\":[]}");
		snprintf(p, sizeof(p), "/pulls/%d", n);
		curl_req(a, up, repo, "GET", p, NULL);
		curl_req(a, up, repo, "PATCH", p, "{\"title\":\"the change, updated\",\"body\":\"Task: bench\\n\\n- [ ] it works\\n\"}");
		snprintf(p, sizeof(p), "/statuses/%s", sha);
		curl_req(a, up, repo, "POST", p, "{\"state\":\"success\",\"context\":\"devsys/tests\",\"description\":\"tests passed\"}");
		snprintf(p, sizeof(p), "/pulls/%d", n);
		curl_req(a, up, repo, "GET", p, NULL);
		snprintf(p, sizeof(p), "/pulls/%d/reviews?per_page=100", n);
		curl_req(a, up, repo, "GET", p, NULL);
		snprintf(p, sizeof(p), "/commits/%s/status?per_page=100", sha);
		curl_req(a, up, repo, "GET", p, NULL);
		snprintf(p, sizeof(p), "/commits/%s/check-runs?filter=latest&per_page=100&page=1", sha);
		curl_req(a, up, repo, "GET", p, NULL);
		snprintf(p, sizeof(p), "/pulls/%d/files?per_page=100", n);
		curl_req(a, up, repo, "GET", p, NULL);
		snprintf(p, sizeof(p), "/pulls/%d/commits?per_page=100", n);
		curl_req(a, up, repo, "GET", p, NULL);
		snprintf(p, sizeof(p), "/pulls/%d/merge", n);
		snprintf(b, sizeof(b), "{\"sha\":\"%s\",\"merge_method\":\"merge\"}", sha);
		curl_req(a, up, repo, "PUT", p, b);
	}
}

static double run_curl(const char *up, const char *repo, int count)
{
	struct argv_b a = { 0 };
	pid_t pid;
	int st;
	double t;
	curl_argv(&a, up, repo, count);
	t = now();
	if (posix_spawnp(&pid, "curl", NULL, NULL, a.v, environ) != 0) {
		fprintf(stderr, "bench_forge: cannot spawn curl\n");
		exit(2);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	t = now() - t;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_forge: curl failed\n");
		exit(2);
	}
	for (size_t i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	return t;
}

/* The method + path (repo name cut) + status of each logged request of @p repo. */
static json_t *sequence(const char *logfile, const char *repo, int *bad)
{
	FILE *f = fopen(logfile, "r");
	char line[65536], prefix[128];
	json_t *out = json_array();
	snprintf(prefix, sizeof(prefix), "/repos/octo/%s/", repo);
	*bad = 0;
	while (f && fgets(line, sizeof(line), f)) {
		json_t *e = json_loads(line, 0, NULL);
		const char *p = json_string_value(json_object_get(e, "path"));
		if (p && strncmp(p, prefix, strlen(prefix)) == 0) {
			char s[700];
			const char *q = json_string_value(json_object_get(e, "query"));
			long status = (long)json_integer_value(json_object_get(e, "status"));
			snprintf(s, sizeof(s), "%s %s?%s", json_string_value(json_object_get(e, "method")),
			         p + strlen(prefix), q ? q : "");
			json_array_append_new(out, json_string(s));
			if (status >= 300)
				(*bad)++;
		}
		json_decref(e);
	}
	if (f)
		fclose(f);
	return out;
}

static double run_devsys(const devsys_forge_vtable *vt, const char *base, const char *repo, int count,
                         unsigned long *open_max, unsigned long *update_max, unsigned long *gate_max,
                         unsigned long *total)
{
	void *self = open_gh(vt, base, repo);
	unsigned long prev = 0, m[3];
	double t = now();
	*open_max = *update_max = *gate_max = 0;
	for (int i = 0; i < count; i++) {
		one_pr(vt, self, repo, i, m);
		if (m[0] - prev > *open_max)
			*open_max = m[0] - prev;
		if (m[1] - m[0] > *update_max)
			*update_max = m[1] - m[0];
		if (m[2] - m[1] > *gate_max)
			*gate_max = m[2] - m[1];
		prev = m[2];
	}
	t = now() - t;
	*total = prev;
	vt->close(self);
	return t;
}

int main(int argc, char **argv)
{
	const devsys_forge_vtable *vt;
	unsigned long om, um, gm, total;
	int count, bad1, bad2, badp;
	if (argc != 6) {
		fprintf(stderr, "usage: bench_forge UPSTREAM_URL PROXY_URL REQUESTS_JSONL N TOKEN\n");
		return 2;
	}
	count = atoi(argv[4]);
	token = argv[5];
	if (devsys_init() < 0 || devsys_forge_find(&vt, "github") < 0)
		die("init");
	for (int i = 0; i < count; i++) {
		ctl_push(argv[1], "bench-proxy", i);
	}

	/* 1. Requests per PR, every request and answer checked by Prism. */
	double tp = run_devsys(vt, argv[2], "bench-proxy", count, &om, &um, &gm, &total);
	json_t *sp = sequence(argv[3], "bench-proxy", &badp);
	printf("through prism proxy --errors: %d PRs, %lu requests (%.1f per PR), %d refused\n", count, total,
	       (double)total / count, badp);
	printf("  requests per PR: open %lu (budget 4), update %lu (budget 2), gate %lu (1 status + 6 reads + merge)\n",
	       om, um, gm);
	printf("  time through Prism: %.2f ms per PR (Prism's validation dominates; not compared)\n",
	       tp * 1000 / count);
	if ((size_t)total != json_array_size(sp) || badp) {
		fprintf(stderr, "bench_forge: the upstream logged %zu requests (%d failed), the client counted %lu\n",
		        json_array_size(sp), badp, total);
		return 1;
	}

	/* 2. Time per PR against the upstream directly, against one keep-alive curl
	 * process per leg making the same requests. LEGS legs of PRS/LEGS PRs each
	 * side, in the order curl, devsys, devsys, curl, ..., so that load from
	 * elsewhere on the machine (or a server that drifts) favours neither. */
	enum { LEGS = 10 };
	int per = count / LEGS > 0 ? count / LEGS : 1;
	double tc = 0, td = 0, dev_cpu = 0, curl_cpu = 0, ratios[LEGS];
	size_t same = 0;
	for (int k = 0; k < LEGS; k++) {
		char rc_[32], rd_[32];
		snprintf(rc_, sizeof(rc_), "bench-curl-%d", k);
		snprintf(rd_, sizeof(rd_), "bench-devsys-%d", k);
		for (int i = 0; i < per; i++) {
			ctl_push(argv[1], rc_, i);
			ctl_push(argv[1], rd_, i);
		}
	}
	for (int k = 0; k < LEGS; k++) {
		char rc_[32], rd_[32];
		double c, d, c0, u0;
		snprintf(rc_, sizeof(rc_), "bench-curl-%d", k);
		snprintf(rd_, sizeof(rd_), "bench-devsys-%d", k);
		bool curl_first = (k % 2) == 0;
		c0 = cpu_children();
		u0 = cpu_self();
		if (curl_first)
			c = run_curl(argv[1], rc_, per);
		d = run_devsys(vt, argv[1], rd_, per, &om, &um, &gm, &total);
		if (!curl_first)
			c = run_curl(argv[1], rc_, per);
		dev_cpu += cpu_self() - u0;
		curl_cpu += cpu_children() - c0;
		tc += c;
		td += d;
		ratios[k] = d / c;
		json_t *s1 = sequence(argv[3], rd_, &bad1);
		json_t *s2 = sequence(argv[3], rc_, &bad2);
		if (!json_equal(s1, s2) || bad1 || bad2) {
			for (size_t q = 0; q < json_array_size(s1) && q < json_array_size(s2); q++)
				if (!json_equal(json_array_get(s1, q), json_array_get(s2, q))) {
					fprintf(stderr, "bench_forge: request %zu differs: devsys '%s', curl '%s'\n", q,
					        json_string_value(json_array_get(s1, q)), json_string_value(json_array_get(s2, q)));
					break;
				}
			fprintf(stderr, "bench_forge: devsys and curl did not make the same requests (%zu vs %zu, %d/%d "
			        "failed)\n", json_array_size(s1), json_array_size(s2), bad1, bad2);
			return 1;
		}
		same += json_array_size(s1);
		json_decref(s1);
		json_decref(s2);
	}
	count = LEGS * per;
	/* The median leg ratio: one leg hit by a burst of load elsewhere does not move it. */
	for (int a = 1; a < LEGS; a++)
		for (int b = a; b > 0 && ratios[b - 1] > ratios[b]; b--) {
			double t = ratios[b];
			ratios[b] = ratios[b - 1];
			ratios[b - 1] = t;
		}
	printf("against the upstream directly: %zu identical requests each side (%.0f per PR), %d legs of %d PRs, "
	       "curl and devsys alternating first\n", same, (double)same / count, LEGS, per);
	printf("  curl (one keep-alive process per leg, --next): %.3f ms per PR\n", tc * 1000 / count);
	printf("  devsys github provider:                        %.3f ms per PR\n", td * 1000 / count);
	printf("  ratio devsys/curl: %.2fx overall, median leg %.2fx, legs %.2f..%.2f (target <= 1.0x)\n", td / tc,
	       (ratios[LEGS / 2 - 1] + ratios[LEGS / 2]) / 2, ratios[0], ratios[LEGS - 1]);
	printf("  client CPU (user+sys) per PR: curl %.3f ms, devsys %.3f ms (%.2fx)\n", curl_cpu * 1000 / count,
	       dev_cpu * 1000 / count, dev_cpu / curl_cpu);
	json_decref(sp);
	devsys_shutdown();
	return 0;
}
