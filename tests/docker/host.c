/*
 * The host-docker runner against the fixture's real dockerd (one engine
 * for the suite): exec, exit codes and streaming, TERM -> grace -> KILL on
 * timeout and cancel, the secure defaults in the created container's
 * HostConfig, secrets kept out of inspect and the data-root, upload and
 * download of a tree, JUnit collected from inside a container, image
 * policy, bad input, the orphan sweeper after a kill -9, the TLS endpoint.
 */
#include "dockerd_fixture.h"
#include "runner/docker/client.h"
#include "testutil.h"

#include <devsys.h>
#include <devsys/sys/runner.h>
#include <devsys/sys/runner_docker.h>

#include <criterion/hooks.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_dockerd_suite_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_dockerd_suite_stop();
}

static dt_dockerd *engine;
static char *work;

static void setup(void)
{
	char why[1024];
	cr_assert_gt(devsys_init(), 0);
	if (!(engine = dt_dockerd_suite(why, sizeof(why))))
		dt_skip("%s", why);
	work = dt_tmpdir("host-docker");
}

static void teardown(void)
{
	dt_dockerd_free(engine);
	engine = NULL;
	if (work)
		dt_rmrf(work);
	free(work);
	work = NULL;
	devsys_shutdown();
}

TestSuite(host_docker, .init = setup, .fini = teardown, .timeout = 120);

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

static void dopts(devsys_runner_docker_options *d)
{
	devsys_runner_docker_options z = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	*d = z;
	d->image = engine->image;
	d->host = engine->host;
}

static int open_with(devsys_runner **r, const devsys_runner_docker_options *d, unsigned int grace_ms)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
	o.backend_options = d;
	o.grace_ms = grace_ms;
	o.flags = DEVSYS_RUNNER_ALLOW_SHELL;
	return devsys_runner_open(r, "host-docker", &o);
}

static devsys_runner *open_default(void)
{
	devsys_runner_docker_options d;
	devsys_runner *r = NULL;
	dopts(&d);
	cr_assert_eq(open_with(&r, &d, 1000), 0, "%s", errmsg());
	return r;
}

static int sh(devsys_runner *r, const char *script, unsigned int timeout_ms, devsys_runner_result *res)
{
	const char *argv[] = { script, NULL };
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	c.argv = argv;
	c.flags = DEVSYS_RUNNER_CMD_SHELL;
	c.timeout_ms = timeout_ms;
	return devsys_runner_exec(r, &c, res);
}

/* Containers of this library on the engine, as JSON (json_decref). */
static json_t *ours(void)
{
	devsys__docker_options co = { 0 };
	devsys__docker *d = NULL;
	json_t *list = NULL;
	co.host = engine->host;
	cr_assert_eq(devsys__docker_open(&d, &co), 0, "%s", errmsg());
	cr_assert_eq(devsys__docker_container_list(&list, d, "devsys.runner=host-docker"), 0, "%s", errmsg());
	devsys__docker_close(d);
	return list;
}

static json_t *inspect(const char *id)
{
	devsys__docker_options co = { 0 };
	devsys__docker *d = NULL;
	json_t *j = NULL;
	co.host = engine->host;
	cr_assert_eq(devsys__docker_open(&d, &co), 0, "%s", errmsg());
	cr_assert_eq(devsys__docker_container_inspect(&j, d, id), 0, "%s", errmsg());
	devsys__docker_close(d);
	return j;
}

Test(host_docker, exit_codes_streaming_and_description)
{
	devsys_runner *r = open_default();
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_description desc;
	memset(&desc, 0, sizeof(desc));
	desc.version = DEVSYS_RUNNER_DESCRIPTION_VERSION;
	const char *argv[] = { "echo", "plain", "argv", NULL };
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;

	cr_assert_eq(sh(r, "echo out-1; echo err-1 >&2; echo out-2; exit 3", 0, &res), 0, "%s", errmsg());
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	cr_assert_eq(res.exit_code, 3);
	cr_assert(strstr(res.tail, "out| out-1\n") && strstr(res.tail, "err| err-1\n") && strstr(res.tail, "out| out-2\n"),
	          "%s", res.tail);
	devsys_runner_result_dispose(&res);

	c.argv = argv;
	cr_assert_eq(devsys_runner_exec(r, &c, &res), 0, "%s", errmsg());
	cr_assert_eq(res.failure, DEVSYS_RUNNER_OK);
	cr_assert_eq(res.exit_code, 0);
	cr_assert(strstr(res.tail, "out| plain argv\n"), "%s", res.tail);
	devsys_runner_result_dispose(&res);

	/* one that exits at once: nothing lost, no output */
	cr_assert_eq(sh(r, "exit 7", 0, &res), 0, "%s", errmsg());
	cr_assert_eq(res.exit_code, 7);
	cr_assert_eq(res.output_bytes, 0u);
	devsys_runner_result_dispose(&res);

	cr_assert_eq(devsys_runner_describe(r, &desc), 0, "%s", errmsg());
	cr_assert_str_eq(desc.type, "host-docker");
	cr_assert(strncmp(desc.engine, "docker ", 7) == 0 && strstr(desc.engine, "API 1."), "%s", desc.engine);
	cr_assert_str_eq(desc.image_id, engine->image_id);
	cr_assert(strstr(desc.where, engine->image) != NULL, "%s", desc.where);
	devsys_runner_free(r);
	/* every container is gone once its command ended */
	json_t *l = ours();
	cr_assert_eq(json_array_size(l), 0u, "left behind: %zu", json_array_size(l));
	json_decref(l);
}

struct bg {
	devsys_runner *r;
	devsys_runner_cmd c;
	devsys_runner_result res;
	int rc;
	int ready;
	char err[1024]; /* the exec thread's last error (errors are per thread) */
};

static int bg_out(int stream, const char *data, size_t len, void *payload)
{
	struct bg *b = payload;
	(void)stream;
	if (memmem(data, len, "ready", 5))
		__atomic_store_n(&b->ready, 1, __ATOMIC_RELEASE);
	return 0;
}

static void *bg_main(void *p)
{
	struct bg *b = p;
	b->rc = devsys_runner_exec(b->r, &b->c, &b->res);
	snprintf(b->err, sizeof(b->err), "%s", errmsg());
	return NULL;
}

static void wait_ready(struct bg *b)
{
	for (int i = 0; i < 3000 && !__atomic_load_n(&b->ready, __ATOMIC_ACQUIRE); i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	cr_assert(__atomic_load_n(&b->ready, __ATOMIC_ACQUIRE), "the command printed 'ready' within 30 s");
}

static bool has_str(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
	return false;
}

Test(host_docker, secure_defaults_secrets_out_of_inspect_and_data_root_and_cancel)
{
	struct bg b = { 0 };
	static const char secret[] = "s3cr3t-VALUE-4711-never-stored";
	char env[128];
	const char *envv[] = { env, NULL };
	const char *argv[] = { "test \"$TOKEN\" = \"$(cat)\" && echo ready; sleep 60", NULL };
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
	pthread_t t;
	json_t *list, *j, *hc, *info = NULL;

	snprintf(env, sizeof(env), "TOKEN=%s", secret);
	b.r = open_default();
	c.argv = argv;
	c.flags = DEVSYS_RUNNER_CMD_SHELL;
	c.env = envv;
	c.stdin_data = secret;
	c.stdin_len = strlen(secret);
	c.output_cb = bg_out;
	c.output_payload = &b;
	b.c = c;
	b.res.version = DEVSYS_RUNNER_RESULT_VERSION;
	cr_assert_eq(pthread_create(&t, NULL, bg_main, &b), 0);
	/* "ready": the env and the stdin both reached the command */
	wait_ready(&b);
	list = ours();
	cr_assert_eq(json_array_size(list), 1u);
	j = inspect(json_string_value(json_object_get(json_array_get(list, 0), "Id")));
	json_decref(list);
	hc = json_object_get(j, "HostConfig");
	cr_assert_str_eq(json_string_value(json_object_get(hc, "NetworkMode")), "none");
	cr_assert(json_is_false(json_object_get(hc, "Privileged")));
	cr_assert(has_str(json_object_get(hc, "CapDrop"), "ALL"));
	cr_assert_eq(json_array_size(json_object_get(hc, "CapAdd")), 5u);
	cr_assert(!has_str(json_object_get(hc, "CapAdd"), "NET_RAW") && !has_str(json_object_get(hc, "CapAdd"), "SYS_ADMIN"));
	cr_assert(has_str(json_object_get(hc, "SecurityOpt"), "no-new-privileges"));
	cr_assert(json_is_false(json_object_get(hc, "ReadonlyRootfs")));
	cr_assert_eq(json_integer_value(json_object_get(hc, "Memory")), 2ll << 30);
	cr_assert_eq(json_integer_value(json_object_get(hc, "MemorySwap")), 2ll << 30);
	cr_assert_eq(json_integer_value(json_object_get(hc, "NanoCpus")), 2000000000ll);
	cr_assert_eq(json_integer_value(json_object_get(hc, "PidsLimit")), 512);
	cr_assert(json_is_true(json_object_get(hc, "Init")));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(hc, "LogConfig"), "Type")), "none");
	{
		/* no bind of the engine's socket */
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(hc, "Binds"), i, v)
			cr_assert(!strstr(json_string_value(v), "docker.sock"), "%s", json_string_value(v));
	}
	cr_assert(json_is_true(json_object_get(json_object_get(j, "Config"), "NetworkDisabled")));
	{
		char *dump = json_dumps(j, 0);
		cr_assert(!strstr(dump, secret), "inspect shows the secret");
		cr_assert(!strstr(dump, "TOKEN="), "inspect shows the env entry");
		free(dump);
	}
	json_decref(j);
	{
		int st = dt_sh("grep -rqsF -- '%s' '%s'", secret, engine->data_root);
		cr_assert_eq(st, 1, "the data-root holds the secret (grep %d)", st);
		/* positive control: grep finds what is there */
		st = dt_sh("grep -rqsF -- '%s' '%s'", engine->image_id + 7, engine->data_root);
		cr_assert_eq(st, 0, "grep finds the image id in the data-root (%d)", st);
	}
	{
		/* what this sandbox enforces of the limits that were asked for */
		devsys__docker_options co = { 0 };
		devsys__docker *d = NULL;
		co.host = engine->host;
		cr_assert_eq(devsys__docker_open(&d, &co), 0);
		cr_assert_eq(devsys__docker_info(&info, d), 0);
		devsys__docker_close(d);
		cr_log_info("engine /info: MemoryLimit=%d SwapLimit=%d PidsLimit=%d CpuCfsQuota=%d",
		            json_is_true(json_object_get(info, "MemoryLimit")), json_is_true(json_object_get(info, "SwapLimit")),
		            json_is_true(json_object_get(info, "PidsLimit")), json_is_true(json_object_get(info, "CpuCfsQuota")));
		json_decref(info);
	}
	cr_assert_eq(devsys_runner_cancel(b.r), 0);
	pthread_join(t, NULL);
	cr_assert_eq(b.rc, DEVSYS_ECANCELED, "%d %s", b.rc, b.res.tail);
	cr_assert_eq(b.res.failure, DEVSYS_RUNNER_CANCELED);
	cr_assert(!strstr(b.res.tail, secret));
	devsys_runner_result_dispose(&b.res);
	list = ours();
	cr_assert_eq(json_array_size(list), 0u, "the canceled container is gone");
	json_decref(list);
	devsys_runner_free(b.r);
}

Test(host_docker, timeout_term_grace_kill_then_gone)
{
	devsys_runner *r = open_default(); /* grace 1000 ms */
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	uint64_t t0;
	json_t *l;

	/* TERM reaches the command through docker-init and ends it at once */
	t0 = (uint64_t)time(NULL);
	cr_assert_eq(sh(r, "echo start; sleep 60", 1500, &res), DEVSYS_ETIMEOUT, "%s", errmsg());
	cr_assert_eq(res.failure, DEVSYS_RUNNER_TIMEOUT);
	cr_assert_eq(res.signal, SIGTERM, "signal %d exit %d", res.signal, res.exit_code);
	cr_assert(strstr(res.tail, "out| start\n"), "%s", res.tail);
	cr_assert(!strstr(res.tail, "outlived the grace period"), "TERM sufficed: %s", res.tail);
	devsys_runner_result_dispose(&res);

	/* a command that ignores TERM is killed after the grace period */
	cr_assert_eq(sh(r, "trap '' TERM; echo start; while :; do sleep 1; done", 1000, &res), DEVSYS_ETIMEOUT, "%s",
	             errmsg());
	cr_assert_eq(res.failure, DEVSYS_RUNNER_TIMEOUT);
	cr_assert_eq(res.signal, SIGKILL, "signal %d exit %d: %s", res.signal, res.exit_code, res.tail);
	cr_assert(strstr(res.tail, "SIGTERM to the container") && strstr(res.tail, "outlived the grace period"), "%s",
	          res.tail);
	cr_assert_geq(res.duration_ms, 2000u, "timeout 1000 + grace 1000: %llu", (unsigned long long)res.duration_ms);
	devsys_runner_result_dispose(&res);
	(void)t0;
	l = ours();
	cr_assert_eq(json_array_size(l), 0u, "the timed-out containers are gone");
	json_decref(l);
	devsys_runner_free(r);
}

static void put(const char *dir, const char *rel, const char *data)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	cr_assert(dt_write_file(p, data), "%s", p);
}

Test(host_docker, upload_run_download_and_junit_from_inside)
{
	devsys_runner *r = open_default();
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	char src[600], dst[600], *s;

	snprintf(src, sizeof(src), "%s/src", work);
	snprintf(dst, sizeof(dst), "%s/task", work);
	cr_assert_eq(dt_sh("mkdir -p '%s/sub/deeper' '%s'", src, dst), 0);
	put(src, "a.txt", "alpha\n");
	put(src, "sub/deeper/b.txt", "beta\n");
	cr_assert_eq(dt_sh("ln -s a.txt '%s/link'", src), 0);
	cr_assert_eq(devsys_runner_upload(r, src, "."), 0, "%s", errmsg());
	cr_assert_eq(sh(r, "cat a.txt sub/deeper/b.txt link && mkdir -p reports && "
	                   "echo '<testsuite name=\"s\" tests=\"1\"><testcase name=\"c\"/></testsuite>' > "
	                   "reports/junit.xml && pwd",
	                0, &res),
	             0, "%s", errmsg());
	cr_assert_eq(res.exit_code, 0, "%s", res.tail);
	cr_assert(strstr(res.tail, "out| alpha\nout| beta\nout| alpha\nout| /work\n"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	/* the report made inside the container lands in the task folder */
	cr_assert_eq(devsys_runner_download(r, "reports", dst), 0, "%s", errmsg());
	snprintf(src, sizeof(src), "%s/junit.xml", dst);
	s = dt_read_file(src, NULL);
	cr_assert(s && strstr(s, "<testcase name=\"c\"/>"), "%s", s ? s : "(missing)");
	free(s);
	/* a missing path is a clear error */
	cr_assert_eq(devsys_runner_download(r, "no-such-dir", dst), DEVSYS_ENOTFOUND, "%s", errmsg());
	cr_assert(strstr(errmsg(), "no-such-dir"), "%s", errmsg());
	devsys_runner_free(r);
}

Test(host_docker, image_policy_missing_image_and_bad_input)
{
	devsys_runner_docker_options d;
	devsys_runner *r = NULL;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *allowed[] = { "devsys-test/*", NULL };
	const char *argv[] = { "true", NULL };
	devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;

	dopts(&d);
	d.image = "devsys-test/absent:1";
	cr_assert_eq(open_with(&r, &d, 1000), DEVSYS_ENOTFOUND, "%s", errmsg());
	cr_assert(strstr(errmsg(), "devsys-test/absent:1") && strstr(errmsg(), "pull policy is never"), "%s", errmsg());

	dopts(&d);
	d.image = "busybox;rm -rf /";
	cr_assert_eq(open_with(&r, &d, 1000), DEVSYS_EINVALID, "%s", errmsg());
	cr_assert(strstr(errmsg(), "busybox;rm -rf /"), "%s", errmsg());

	/* no allowed_images: the command may not pick an image at all */
	dopts(&d);
	cr_assert_eq(open_with(&r, &d, 1000), 0, "%s", errmsg());
	c.argv = argv;
	c.image = "alpine:3";
	cr_assert_eq(devsys_runner_exec(r, &c, &res), DEVSYS_EACCESS);
	cr_assert_eq(res.failure, DEVSYS_RUNNER_NOT_RUN);
	cr_assert(strstr(errmsg(), "alpine:3") && strstr(errmsg(), "allowed_images"), "%s", errmsg());
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);

	dopts(&d);
	d.allowed_images = allowed;
	cr_assert_eq(open_with(&r, &d, 1000), 0, "%s", errmsg());
	cr_assert_eq(devsys_runner_exec(r, &c, &res), DEVSYS_EACCESS);
	cr_assert(strstr(errmsg(), "alpine:3") && strstr(errmsg(), "devsys-test/*"), "%s", errmsg());
	devsys_runner_result_dispose(&res);
	/* positive control: an image the list allows runs */
	c.image = engine->image;
	cr_assert_eq(devsys_runner_exec(r, &c, &res), 0, "%s", errmsg());
	cr_assert_eq(res.exit_code, 0);
	devsys_runner_result_dispose(&res);
	/* an image name with injection characters */
	c.image = "devsys-test/x$(id)";
	cr_assert_eq(devsys_runner_exec(r, &c, &res), DEVSYS_EINVALID);
	cr_assert(strstr(errmsg(), "devsys-test/x$(id)"), "%s", errmsg());
	devsys_runner_result_dispose(&res);
	c.image = NULL;
	{
		const char *env[] = { "GOOD=1", "BAD=line1\nline2", NULL };
		c.env = env;
		cr_assert_eq(devsys_runner_exec(r, &c, &res), DEVSYS_EINVALID);
		cr_assert_eq(res.failure, DEVSYS_RUNNER_NOT_RUN);
		cr_assert(strstr(errmsg(), "BAD") && !strstr(errmsg(), "line2"), "%s", errmsg());
		devsys_runner_result_dispose(&res);
	}
	/* an env name with '=' cannot be expressed as NAME=value; the check behind the runner refuses it */
	cr_assert_eq(devsys__docker_env_check("A=B", "v"), DEVSYS_EINVALID);
	devsys_runner_free(r);
}

Test(host_docker, socket_mount_refused_unless_allowed)
{
	devsys_runner_docker_options d;
	devsys_runner *r = NULL;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;

	dopts(&d);
	d.bind_checkout = 1;
	cr_assert_eq(open_with(&r, &d, 1000), 0, "%s", errmsg());
	/* the fixture's directory holds the engine's socket */
	cr_assert_eq(devsys_runner_upload(r, engine->dir, "."), DEVSYS_EACCESS);
	cr_assert(strstr(errmsg(), "allow_socket_mount") && strstr(errmsg(), engine->sock), "%s", errmsg());
	/* positive control: a plain tree binds and is seen */
	put(work, "seen.txt", "bound\n");
	cr_assert_eq(devsys_runner_upload(r, work, "."), 0, "%s", errmsg());
	cr_assert_eq(sh(r, "cat /work/seen.txt; test -S /var/run/docker.sock && echo SOCKET", 0, &res), 0, "%s", errmsg());
	cr_assert(strstr(res.tail, "out| bound\n") && !strstr(res.tail, "SOCKET"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);

	d.allow_socket_mount = 1;
	cr_assert_eq(open_with(&r, &d, 1000), 0, "%s", errmsg());
	cr_assert_eq(sh(r, "test -S /var/run/docker.sock && echo SOCKET", 0, &res), 0, "%s", errmsg());
	cr_assert(strstr(res.tail, "out| SOCKET\n"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
}

Test(host_docker, sweeper_removes_the_containers_of_a_killed_owner)
{
	const char *helper = getenv("DT_DOCKER_OWNER");
	char out[600], *s = NULL;
	pid_t child;
	json_t *l;
	unsigned int removed = 0;
	devsys_runner_docker_options d;

	cr_assert(helper, "DT_DOCKER_OWNER names the owner program");
	snprintf(out, sizeof(out), "%s/owner.out", work);
	{
		char *argv[] = { (char *)helper, engine->host, engine->image, NULL };
		child = dt_spawn(argv, out);
	}
	cr_assert_gt(child, 0);
	for (int i = 0; i < 1500; i++) {
		size_t n;
		l = ours();
		n = json_array_size(l);
		json_decref(l);
		if (n == 1)
			break;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	s = dt_read_file(out, NULL);
	l = ours();
	cr_assert_eq(json_array_size(l), 1u, "the owner's container runs (owner said: %s)", s ? s : "");
	json_decref(l);
	free(s);
	/* positive control: a live owner's container is not swept */
	dopts(&d);
	cr_assert_eq(devsys_runner_docker_sweep(&removed, &d), 0, "%s", errmsg());
	cr_assert_eq(removed, 0u);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	l = ours();
	cr_assert_eq(json_array_size(l), 1u, "kill -9 left the container behind");
	json_decref(l);
	{
		/* `devsys runner sweep` does it */
		const char *cli = getenv("DT_DEVSYS_CLI");
		int st = -1;
		char *o;
		cr_assert(cli, "DT_DEVSYS_CLI names the devsys program");
		o = dt_sh_output(&st, "'%s' runner sweep --host '%s'", cli, engine->host);
		cr_assert_eq(st, 0, "%s", o ? o : "");
		cr_assert(o && strstr(o, "removed 1 orphaned container"), "%s", o ? o : "");
		free(o);
	}
	l = ours();
	cr_assert_eq(json_array_size(l), 0u, "swept");
	json_decref(l);
}

Test(host_docker, hundred_megabytes_of_output_in_bounded_memory)
{
	devsys_runner *r = open_default();
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	struct rusage ru;
	static const char big[] = "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrs"
	                          " | head -c 100000000";
	int rc = sh(r, big, 0, &res);
	cr_assert_eq(rc, 0, "%s", errmsg());
	cr_assert_eq(res.exit_code, 0, "exit %d", res.exit_code); /* no tail in the message: 1 MiB stalls --full-stats */
	cr_assert_eq(res.output_bytes, 100000000u);
	cr_assert_leq(res.tail_len, (size_t)2 << 20);
	getrusage(RUSAGE_SELF, &ru);
	cr_assert_lt(ru.ru_maxrss, 200 * 1024, "max RSS %ld KiB", ru.ru_maxrss);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
}

Test(host_docker, tls_client_certificate_endpoint)
{
	devsys_runner_docker_options d;
	devsys_runner *r = NULL;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	dopts(&d);
	d.host = engine->tls_host;
	d.tls_ca = engine->ca;
	d.tls_cert = engine->client_cert;
	d.tls_key = engine->client_key;
	cr_assert_eq(open_with(&r, &d, 1000), 0, "%s", errmsg());
	cr_assert_eq(sh(r, "echo over-tls", 0, &res), 0, "%s", errmsg());
	cr_assert(strstr(res.tail, "out| over-tls\n"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	/* a certificate from another CA is refused */
	d.tls_cert = engine->other_cert;
	d.tls_key = engine->other_key;
	cr_assert_lt(open_with(&r, &d, 1000), 0);
	cr_assert(strstr(errmsg(), engine->tls_host), "%s", errmsg());
}

Test(host_docker, engine_killed_mid_run_is_a_system_failure_retried)
{
	char why[1024];
	dt_dockerd *own = dt_dockerd_start(why, sizeof(why));
	devsys_runner_docker_options d;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	struct bg b = { 0 };
	const char *argv[] = { "echo ready; sleep 60", NULL };
	pthread_t t;

	if (!own)
		dt_skip("%s", why);
	dopts(&d);
	d.host = own->host;
	o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
	o.backend_options = &d;
	o.flags = DEVSYS_RUNNER_ALLOW_SHELL;
	o.retries = 1;
	o.grace_ms = 1000;
	cr_assert_eq(devsys_runner_open(&b.r, "host-docker", &o), 0, "%s", errmsg());
	b.c.version = DEVSYS_RUNNER_CMD_VERSION;
	b.c.argv = argv;
	b.c.flags = DEVSYS_RUNNER_CMD_SHELL | DEVSYS_RUNNER_CMD_IDEMPOTENT;
	b.c.output_cb = bg_out;
	b.c.output_payload = &b;
	b.res.version = DEVSYS_RUNNER_RESULT_VERSION;
	cr_assert_eq(pthread_create(&t, NULL, bg_main, &b), 0);
	wait_ready(&b);
	cr_assert_eq(kill(own->pid, SIGKILL), 0);
	pthread_join(t, NULL);
	cr_assert_eq(b.rc, DEVSYS_ESYSTEM, "%d: %s", b.rc, b.err);
	cr_assert_eq(b.res.failure, DEVSYS_RUNNER_SYSTEM_FAILURE);
	cr_assert_eq(b.res.attempts, 2, "retried once (retries: 1)");
	cr_assert(strstr(b.res.tail, "retrying"), "%s", b.res.tail);
	cr_assert(strstr(b.err, "the engine failed, not the command") && strstr(b.err, own->sock), "%s", b.err);
	devsys_runner_result_dispose(&b.res);
	devsys_runner_free(b.r);
	dt_dockerd_free(own);
}
