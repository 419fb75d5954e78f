/*
 * A nested Docker engine on the real host dockerd fixture: the dind image
 * built from this machine's docker.io binaries runs, its inner engine
 * answers on a bind-mounted socket, takes an imported image and runs a
 * --network none container on it (all driven here by raw Engine API calls
 * with curl); then the library's own engine lifecycle (devsys__dind_start,
 * copy an image in, destroy) leaves no container, volume, directory or
 * cgroup behind, and fails clearly for an engine image that is not there.
 */
#include "dind_fixture.h"
#include "runner/dind/dind_int.h"
#include "testutil.h"

#include <devsys.h>

#include <criterion/hooks.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_dockerd_suite_start();
	dt_dind_suite_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_dockerd_suite_stop();
}

static dt_dockerd *engine;

static void setup(void)
{
	char why[1024];
	cr_assert_gt(devsys_init(), 0);
	if (!(engine = dt_dind_suite(why, sizeof(why))))
		dt_skip("%s", why);
}

static void teardown(void)
{
	dt_dockerd_free(engine);
	engine = NULL;
	devsys_shutdown();
}

TestSuite(dind_engine, .init = setup, .fini = teardown, .timeout = 180);

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

static json_t *curl_json(const char *sock, const char *fmt, const char *arg)
{
	int st = -1;
	char *path = NULL, *out;
	json_t *j;
	cr_assert(asprintf(&path, fmt, arg ? arg : "") > 0);
	out = dt_sh_output(&st, "curl -sS --unix-socket '%s' %s", sock, path);
	free(path);
	cr_assert_eq(st, 0, "curl: %s", out ? out : "");
	j = json_loads(out ? out : "", JSON_DECODE_ANY, NULL);
	cr_assert(j, "not JSON: %s", out ? out : "");
	free(out);
	return j;
}

static char *engine_id(const char *sock)
{
	json_t *info = curl_json(sock, "http://docker/info", NULL);
	char *id = strdup(json_string_value(json_object_get(info, "ID")));
	json_decref(info);
	return id;
}

/* The host engine's containers whose label is @p label (JSON array). */
static size_t host_count(const char *label)
{
	json_t *l = curl_json(engine->sock, "-G http://docker/containers/json --data-urlencode all=1 "
	                                    "--data-urlencode 'filters={\"label\":[\"%s\"]}'",
	                      label);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

static size_t host_volumes(void)
{
	json_t *v = curl_json(engine->sock, "http://docker/volumes", NULL);
	size_t n = json_array_size(json_object_get(v, "Volumes"));
	json_decref(v);
	return n;
}

Test(dind_engine, nested_engine_runs_a_container_by_raw_api_calls)
{
	char why[1024];
	dt_dind *e = dt_dind_engine_start(engine, why, sizeof(why));
	char *host_id, *inner_id, *out, *dir, *sock;
	json_t *j;
	int st = -1;

	cr_assert(e, "%s", why);
	cr_log_info("dind: outer container create -> inner /_ping: %.0f ms", e->ready_ms);
	/* a different engine: its own ID, its own (vfs) storage, nothing on it yet */
	host_id = engine_id(engine->sock);
	inner_id = engine_id(e->sock);
	cr_assert_str_neq(host_id, inner_id);
	j = curl_json(e->sock, "http://docker/info", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(j, "Driver")), "vfs");
	cr_assert_eq(json_integer_value(json_object_get(j, "Images")), 0);
	json_decref(j);

	/* import the fixture's busybox rootfs into the INNER engine (POST /images/create?fromSrc=-) */
	out = dt_sh_output(&st, "curl -sS --fail --unix-socket '%s' -X POST -H 'Content-Type: application/x-tar' "
	                        "--data-binary @'%s/rootfs.tar' 'http://docker/images/create?fromSrc=-&repo=inner/bb&tag=1'",
	                   e->sock, engine->dir);
	cr_assert_eq(st, 0, "%s", out ? out : "");
	free(out);
	/* a --network none container on it: its output, its exit code */
	out = dt_sh_output(&st,
	                   "curl -sS --fail --unix-socket '%s' -X POST -H 'Content-Type: application/json' "
	                   "-d '{\"Image\":\"inner/bb:1\",\"Cmd\":[\"/bin/sh\",\"-c\",\"echo inner-says-hi; "
	                   "test -e /var/run/docker.sock && echo SOCK; exit 5\"],\"HostConfig\":{\"NetworkMode\":\"none\"}}' "
	                   "http://docker/containers/create",
	                   e->sock);
	cr_assert_eq(st, 0, "%s", out ? out : "");
	j = json_loads(out, 0, NULL);
	free(out);
	cr_assert(j && json_string_value(json_object_get(j, "Id")));
	{
		const char *id = json_string_value(json_object_get(j, "Id"));
		json_t *w, *cj;
		cr_assert_eq(dt_sh("curl -sS --fail --unix-socket '%s' -X POST http://docker/containers/%s/start", e->sock, id),
		             0);
		w = curl_json(e->sock, "-X POST http://docker/containers/%s/wait", id);
		cr_assert_eq(json_integer_value(json_object_get(w, "StatusCode")), 5);
		json_decref(w);
		out = dt_sh_output(&st, "curl -sS --fail --unix-socket '%s' 'http://docker/containers/%s/logs?stdout=1' "
		                        "| tr -d '\\000-\\010'",
		                   e->sock, id);
		cr_assert(out && strstr(out, "inner-says-hi") && !strstr(out, "SOCK"), "%s", out ? out : "");
		free(out);
		cj = curl_json(e->sock, "http://docker/containers/%s/json", id);
		cr_assert_str_eq(json_string_value(json_object_get(json_object_get(cj, "HostConfig"), "NetworkMode")), "none");
		json_decref(cj);
	}
	json_decref(j);
	cr_assert_eq(host_count("devsys.test=dind"), 1u);

	dir = strdup(e->dir);
	sock = strdup(e->sock);
	dt_dind_engine_free(e);
	cr_assert_eq(host_count("devsys.test=dind"), 0u, "the outer container is gone");
	cr_assert(!dt_exists(sock) && !dt_exists(dir), "%s is gone", dir);
	free(dir), free(sock), free(host_id), free(inner_id);
}

Test(dind_engine, library_lifecycle_leaves_nothing_and_names_a_missing_image)
{
	devsys__docker_options ho = { 0 };
	devsys__docker *host = NULL;
	devsys__dind_config cfg = { 0 };
	devsys__dind_engine *e = NULL;
	json_t *imgs, *info = NULL;
	char dir[64], name[32], cg[128];
	size_t vols_before;
	char own[64];

	snprintf(own, sizeof(own), "devsys.owner.pid=%d", (int)getpid());
	ho.host = engine->host;
	cr_assert_eq(devsys__docker_open(&host, &ho), 0, "%s", errmsg());
	vols_before = host_volumes();

	/* an engine image the host does not have: a clear error naming it, nothing left */
	cfg.engine_image = "devsys-test/no-such-dind:1";
	cr_assert_eq(devsys__dind_start(&e, host, &cfg), DEVSYS_ENOTFOUND, "%s", errmsg());
	cr_assert(strstr(errmsg(), "devsys-test/no-such-dind:1"), "%s", errmsg());
	cr_assert_null(e);
	cr_assert_eq(host_count(own), 0u);
	cr_assert_neq(dt_sh("grep -lqs '^%d ' " DEVSYS__DIND_DIR_PREFIX "*/owner", (int)getpid()), 0, "no directory left");

	/* an image without dockerd: the engine container cannot start; named, nothing left */
	cfg.engine_image = engine->image;
	cr_assert_lt(devsys__dind_start(&e, host, &cfg), 0);
	cr_assert(strstr(errmsg(), "dind: cannot start the engine container") && strstr(errmsg(), engine->image), "%s",
	          errmsg());
	cr_assert_null(e);
	cr_assert_eq(host_count(own), 0u);
	cr_assert_neq(dt_sh("grep -lqs '^%d ' " DEVSYS__DIND_DIR_PREFIX "*/owner", (int)getpid()), 0, "no directory left");

	cfg.engine_image = DT_DIND_IMAGE;
	cfg.task = "task-42";
	cr_assert_eq(devsys__dind_start(&e, host, &cfg), 0, "%s", errmsg());
	cr_log_info("dind (library): create+start %.0f ms, ready %.0f ms", e->create_ms, e->ready_ms);
	cr_assert(e->inner);
	cr_assert(strlen(e->sock) < 108);
	cr_assert(dt_exists(e->sock));
	cr_assert_eq(host_count("devsys.task=task-42"), 1u, "labelled with the task");
	cr_assert_eq(host_count("devsys.runner=host-docker") >= 1u && host_count(own) == 1u, true, "labelled for host-docker's sweeper");
	cr_assert_eq(devsys__docker_info(&info, e->inner), 0, "%s", errmsg());
	cr_assert_str_eq(json_string_value(json_object_get(info, "Driver")), "vfs");
	json_decref(info);

	/* copy the host's busybox image in; an image the host lacks is named */
	cr_assert_eq(devsys__dind_copy_image(e, host, &ho, engine->image), 0, "%s", errmsg());
	cr_assert_eq(devsys__docker_image_inspect(&imgs, e->inner, engine->image), 0, "%s", errmsg());
	cr_assert_str_eq(json_string_value(json_object_get(imgs, "Id")), engine->image_id, "the same image id inside");
	json_decref(imgs);
	cr_assert_eq(devsys__dind_copy_image(e, host, &ho, "devsys-test/absent:1"), DEVSYS_ENOTFOUND);
	cr_assert(strstr(errmsg(), "devsys-test/absent:1"), "%s", errmsg());

	/* a running inner container (it would hold its cgroup) is killed by destroy */
	{
		json_t *cfgj = json_pack("{s:s,s:[s,s,s],s:{s:s}}", "Image", engine->image, "Cmd", "/bin/sh", "-c",
		                         "sleep 600", "HostConfig", "NetworkMode", "none");
		char *id = NULL;
		cr_assert_eq(devsys__docker_container_create(&id, e->inner, NULL, cfgj), 0, "%s", errmsg());
		cr_assert_eq(devsys__docker_container_start(e->inner, id), 0, "%s", errmsg());
		json_decref(cfgj);
		free(id);
	}
	snprintf(dir, sizeof(dir), "%s", e->dir);
	snprintf(name, sizeof(name), "%s", e->name);
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory/%s", name);
	cr_assert(dt_exists(cg) || dt_exists("/sys/fs/cgroup/cgroup.controllers"), "the inner cgroup parent exists");
	devsys__dind_destroy(e, host);
	cr_assert_eq(host_count(own), 0u, "the outer container is gone");
	cr_assert_eq(host_volumes(), vols_before, "no volume left");
	cr_assert(!dt_exists(dir), "%s is gone", dir);
	cr_assert_eq(dt_sh("ls -d /sys/fs/cgroup/*/%s /sys/fs/cgroup/%s 2>/dev/null | grep -q .", name, name), 1,
	             "no cgroup left");
	devsys__docker_close(host);
}
