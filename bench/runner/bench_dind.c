/*
 * dind: what an isolated engine costs, against host-docker on the same host
 * engine in the same run (the anchor: the same commands without the nested
 * engine). On the tests' dockerd fixture with the dind test image:
 *   cold start, N rounds: outer container create+start, inner engine ready,
 *     task image copied in, destroy; then a whole dind runner open+close vs a
 *     host-docker open+close;
 *   per task: M x `true` through a dind runner vs M x `true` through a
 *     host-docker runner (both one container per command);
 *   the engines' floor: M x create/start/wait/remove of `true` by raw API
 *     calls on the inner engine vs on the host engine (the engines' share).
 * Usage: bench_runner_dind [N] [M]
 */
#include "dind_fixture.h"
#include "runner/dind/dind_int.h"
#include "testutil.h"

#include <devsys.h>
#include <devsys/sys/runner_dind.h>
#include <devsys/sys/runner_docker.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static dt_dockerd *eng;

static int open_runner(devsys_runner **r, int dind)
{
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_dind_options x = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	d.host = eng->host;
	d.image = eng->image;
	x.docker = &d;
	x.engine_image = DT_DIND_IMAGE;
	o.backend_tag = dind ? DEVSYS_RUNNER_DIND_TAG : DEVSYS_RUNNER_DOCKER_TAG;
	o.backend_options = dind ? (void *)&x : (void *)&d;
	if (devsys_runner_open(r, dind ? "dind" : "host-docker", &o) != 0) {
		fprintf(stderr, "open %s: %s\n", dind ? "dind" : "host-docker", devsys_error_message(devsys_error_last()));
		return -1;
	}
	return 0;
}

static int run_true(devsys_runner *r, int m, double *ms)
{
	const char *argv[] = { "true", NULL };
	double t0 = now_ms();
	for (int i = 0; i < m; i++) {
		devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
		devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
		c.argv = argv;
		if (devsys_runner_exec(r, &c, &res) != 0 || res.exit_code != 0) {
			fprintf(stderr, "exec: %s\n", devsys_error_message(devsys_error_last()));
			devsys_runner_result_dispose(&res);
			return -1;
		}
		devsys_runner_result_dispose(&res);
	}
	*ms = now_ms() - t0;
	return 0;
}

static int cold_start(int n)
{
	devsys__docker_options ho = { 0 };
	devsys__docker *host = NULL;
	devsys__dind_config cfg = { 0 };
	double create = 0, ready = 0, copy = 0, destroy = 0, dind_oc = 0, hd_oc = 0;
	ho.host = eng->host;
	cfg.engine_image = DT_DIND_IMAGE;
	cfg.share_shm = true;
	if (devsys__docker_open(&host, &ho) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		devsys__dind_engine *e = NULL;
		devsys_runner *r = NULL;
		double t0;
		if (devsys__dind_start(&e, host, &cfg) != 0) {
			fprintf(stderr, "start: %s\n", devsys_error_message(devsys_error_last()));
			return -1;
		}
		create += e->create_ms;
		ready += e->ready_ms;
		t0 = now_ms();
		if (devsys__dind_copy_image(e, host, &ho, eng->image) != 0)
			return -1;
		copy += now_ms() - t0;
		t0 = now_ms();
		devsys__dind_destroy(e, host);
		destroy += now_ms() - t0;
		t0 = now_ms();
		if (open_runner(&r, 0) != 0)
			return -1;
		devsys_runner_free(r);
		hd_oc += now_ms() - t0;
		t0 = now_ms();
		if (open_runner(&r, 1) != 0)
			return -1;
		devsys_runner_free(r);
		dind_oc += now_ms() - t0;
	}
	devsys__docker_close(host);
	printf("dind cold start, mean of %d (ms): outer create+start %.0f, inner engine ready %.0f "
	       "(dockerd+containerd boot %.0f), image copy %.0f, destroy %.0f\n",
	       n, create / n, ready / n, (ready - create) / n, copy / n, destroy / n);
	printf("runner open+close (ms): dind %.0f, host-docker %.0f (anchor): %.1fx\n", dind_oc / n, hd_oc / n,
	       dind_oc / hd_oc);
	return 0;
}

/* The engine's floor: M x create, start, wait, remove of `true` by raw API calls. */
static int floor_ms(devsys__docker *d, int m, double *ms)
{
	json_t *cfg = json_pack("{s:s,s:[s],s:{s:s}}", "Image", eng->image, "Cmd", "true", "HostConfig", "NetworkMode",
	                        "none");
	double t0 = now_ms();
	for (int i = 0; i < m; i++) {
		char *id = NULL;
		int code = -1;
		if (devsys__docker_container_create(&id, d, NULL, cfg) != 0 || devsys__docker_container_start(d, id) != 0 ||
		    devsys__docker_container_wait(&code, d, id) != 0 || devsys__docker_container_remove(d, id, true, true) != 0 ||
		    code != 0) {
			fprintf(stderr, "floor: %s\n", devsys_error_message(devsys_error_last()));
			free(id);
			json_decref(cfg);
			return -1;
		}
		free(id);
	}
	*ms = now_ms() - t0;
	json_decref(cfg);
	return 0;
}

static int engine_floor(int m)
{
	devsys__docker_options ho = { 0 };
	devsys__docker *host = NULL;
	devsys__dind_config cfg = { 0 };
	devsys__dind_engine *e = NULL;
	double fh = 0, fi = 0;
	int rc = -1;
	ho.host = eng->host;
	cfg.engine_image = DT_DIND_IMAGE;
	if (devsys__docker_open(&host, &ho) != 0 || devsys__dind_start(&e, host, &cfg) != 0 ||
	    devsys__dind_copy_image(e, host, &ho, eng->image) != 0)
		goto out;
	if (floor_ms(host, 1, &fh) != 0 || floor_ms(e->inner, 1, &fi) != 0 || floor_ms(host, m, &fh) != 0 ||
	    floor_ms(e->inner, m, &fi) != 0)
		goto out;
	printf("engine floor, %d x create+start+wait+remove of true by raw API calls (ms each): inner engine %.0f, "
	       "host engine %.0f: %.2fx (+%.0f ms)\n",
	       m, fi / m, fh / m, fi / fh, (fi - fh) / m);
	rc = 0;
out:
	devsys__dind_destroy(e, host);
	devsys__docker_close(host);
	return rc;
}

static int per_task(int m)
{
	devsys_runner *hd = NULL, *dd = NULL;
	double t_hd = 0, t_dd = 0;
	if (open_runner(&hd, 0) != 0 || open_runner(&dd, 1) != 0)
		return -1;
	/* one warm-up each: first-use costs belong to the cold start */
	if (run_true(hd, 1, &t_hd) != 0 || run_true(dd, 1, &t_dd) != 0)
		return -1;
	if (run_true(hd, m, &t_hd) != 0 || run_true(dd, m, &t_dd) != 0)
		return -1;
	devsys_runner_free(hd);
	devsys_runner_free(dd);
	printf("per task, %d x true (ms each): dind %.0f, host-docker %.0f (anchor): %.2fx (+%.0f ms)\n", m, t_dd / m,
	       t_hd / m, t_dd / t_hd, (t_dd - t_hd) / m);
	return 0;
}

int main(int argc, char **argv)
{
	char why[1024];
	double ms = 0;
	int n = argc > 1 ? atoi(argv[1]) : 5, m = argc > 2 ? atoi(argv[2]) : 20, rc = 1;
	if (n < 1 || m < 1 || devsys_init() < 0)
		return 2;
	if (!(eng = dt_dockerd_start(why, sizeof(why)))) {
		fprintf(stderr, "no dockerd: %s\n", why);
		return 77;
	}
	if (dt_dind_image_import(eng, &ms, why, sizeof(why)) != 0) {
		fprintf(stderr, "no dind image: %s\n", why);
		goto out;
	}
	printf("host engine: dockerd fixture (%s); dind image built and imported in %.0f ms\n", eng->storage_driver, ms);
	if (cold_start(n) == 0 && per_task(m) == 0 && engine_floor(m) == 0)
		rc = 0;
out:
	dt_dockerd_free(eng);
	devsys_shutdown();
	return rc;
}
