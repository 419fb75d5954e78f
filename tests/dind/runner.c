/*
 * The "dind" runner against the real host dockerd fixture (one engine and
 * one dind image for the suite): each runner starts its own nested engine
 * from the dind image, and every command runs on THAT engine through
 * host-docker's code. Exec, exit codes, streaming, env and stdin; the host
 * socket invisible to the task and a different engine ID inside; upload and
 * download; a timeout kills the inner container; teardown leaves no outer
 * container, volume, directory or cgroup; a kill -9 of the owner is cleaned
 * up by host-docker's sweeper and the directory sweep; bad options refused.
 */
#include "dind_fixture.h"
#include "runner/dind/dind_int.h"
#include "testutil.h"

#include <devsys.h>
#include <devsys/sys/runner.h>
#include <devsys/sys/runner_dind.h>
#include <devsys/sys/runner_docker.h>

#include <criterion/hooks.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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
static char *work;

static void setup(void)
{
	char why[1024];
	cr_assert_gt(devsys_init(), 0);
	if (!(engine = dt_dind_suite(why, sizeof(why))))
		dt_skip("%s", why);
	work = dt_tmpdir("dind");
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

TestSuite(dind, .init = setup, .fini = teardown, .timeout = 150);

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

static devsys_runner_docker_options dk;
static devsys_runner_dind_options dx;

static int open_dind(devsys_runner **r, void (*tweak)(void))
{
	devsys_runner_docker_options z = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_dind_options zx = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	dk = z;
	dk.image = engine->image;
	dk.host = engine->host;
	dx = zx;
	dx.docker = &dk;
	dx.engine_image = DT_DIND_IMAGE;
	if (tweak)
		tweak();
	o.backend_tag = DEVSYS_RUNNER_DIND_TAG;
	o.backend_options = &dx;
	o.grace_ms = 1000;
	o.flags = DEVSYS_RUNNER_ALLOW_SHELL;
	return devsys_runner_open(r, "dind", &o);
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

static json_t *curl_json(const char *sock, const char *path)
{
	int st = -1;
	char *out = dt_sh_output(&st, "curl -sS --unix-socket '%s' %s", sock, path);
	json_t *j = json_loads(out ? out : "", JSON_DECODE_ANY, NULL);
	cr_assert(st == 0 && j, "curl %s: %s", path, out ? out : "");
	free(out);
	return j;
}

/* The host engine's outer dind containers owned by @p pid (JSON array;
 * json_decref). Tests of the suite run in parallel: each counts its own. */
static json_t *outer_of(pid_t pid)
{
	char path[300];
	snprintf(path, sizeof(path),
	         "-G http://docker/containers/json --data-urlencode all=1 "
	         "--data-urlencode 'filters={\"label\":[\"devsys.dind.dir\",\"devsys.owner.pid=%d\"]}'",
	         (int)pid);
	return curl_json(engine->sock, path);
}

static pid_t owner; /* this worker, or the child that opened the runner */

static json_t *outer(void)
{
	return outer_of(owner ? owner : getpid());
}

/* Socket directories of this process (their owner file names it). */
static bool own_dirs_left(void)
{
	return dt_sh("grep -lqs '^%d ' " DEVSYS__DIND_DIR_PREFIX "*/owner", (int)getpid()) == 0;
}

static size_t count_outer(void)
{
	json_t *l = outer();
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

static size_t host_volumes(void)
{
	json_t *v = curl_json(engine->sock, "http://docker/volumes");
	size_t n = json_array_size(json_object_get(v, "Volumes"));
	json_decref(v);
	return n;
}

/* The one running dind engine's host directory (new string). */
static char *the_dir(void)
{
	json_t *l = outer();
	const char *d;
	char *dir;
	cr_assert_eq(json_array_size(l), 1u, "one dind engine runs");
	d = json_string_value(json_object_get(json_object_get(json_array_get(l, 0), "Labels"), "devsys.dind.dir"));
	cr_assert(d && strncmp(d, DEVSYS__DIND_DIR_PREFIX, strlen(DEVSYS__DIND_DIR_PREFIX)) == 0, "%s", d ? d : "");
	dir = strdup(d);
	json_decref(l);
	return dir;
}

static char *engine_id(const char *sock)
{
	json_t *info = curl_json(sock, "http://docker/info");
	char *id = strdup(json_string_value(json_object_get(info, "ID")));
	json_decref(info);
	return id;
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert(dt_write_file(path, text));
}

static void assert_nothing_left(const char *dir, size_t vols_before)
{
	cr_assert_eq(count_outer(), 0u, "no outer container left");
	cr_assert_eq(host_volumes(), vols_before, "no volume left on the host engine");
	cr_assert(!dt_exists(dir), "%s is gone", dir);
	cr_assert_eq(dt_sh("ls -d /sys/fs/cgroup/*/%s /sys/fs/cgroup/%s 2>/dev/null | grep -q .", strrchr(dir, '/') + 1,
	                   strrchr(dir, '/') + 1),
	             1, "no cgroup left");
}

Test(dind, exec_streaming_env_on_the_inner_engine_host_socket_invisible_then_nothing_left)
{
	devsys_runner *r = NULL;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	devsys_runner_description desc;
	size_t vols = host_volumes();
	char *dir, sock[128], script[1024], src[600], dst[600], *s, *host_id, *inner_id;
	static const char secret[] = "dind-s3cret-0815";
	char env[64];
	const char *envv[] = { env, NULL };
	uint64_t t0 = (uint64_t)time(NULL);

	cr_assert_eq(open_dind(&r, NULL), 0, "%s", errmsg());
	cr_log_info("dind runner open (engine start + image copy): about %llu s",
	            (unsigned long long)((uint64_t)time(NULL) - t0));
	dir = the_dir();
	snprintf(sock, sizeof(sock), "%s/docker.sock", dir);
	cr_assert(dt_exists(sock));
	/* a different engine than the host's */
	host_id = engine_id(engine->sock);
	inner_id = engine_id(sock);
	cr_assert_str_neq(host_id, inner_id);

	cr_assert_eq(sh(r, "echo out-1; echo err-1 >&2; echo out-2; exit 3", 0, &res), 0, "%s", errmsg());
	cr_assert_eq(res.failure, DEVSYS_RUNNER_BUILD_FAILURE);
	cr_assert_eq(res.exit_code, 3);
	cr_assert(strstr(res.tail, "out| out-1\n") && strstr(res.tail, "err| err-1\n") && strstr(res.tail, "out| out-2\n"),
	          "%s", res.tail);
	devsys_runner_result_dispose(&res);

	/* the task container is the inner engine's: its cgroup is below that engine's own parent */
	cr_assert_eq(sh(r, "cat /proc/self/cgroup", 0, &res), 0, "%s", errmsg());
	cr_assert_eq(res.exit_code, 0, "%s", res.tail);
	cr_assert(strstr(res.tail, strrchr(dir, '/') + 1), "not under %s: %s", strrchr(dir, '/') + 1, res.tail);
	devsys_runner_result_dispose(&res);

	/* neither the host's socket nor any engine socket is visible; positive control: /bin/sh is */
	snprintf(script, sizeof(script),
	         "for p in /var/run/docker.sock /run/docker.sock '%s' '%s' '%s' " DEVSYS__DIND_SOCK_DIR "; do "
	         "test -e \"$p\" && echo \"SEEN $p\"; done; test -e /bin/sh && echo control-ok",
	         engine->sock, sock, dir);
	cr_assert_eq(sh(r, script, 0, &res), 0, "%s", errmsg());
	cr_assert(strstr(res.tail, "out| control-ok\n"), "%s", res.tail);
	cr_assert(!strstr(res.tail, "SEEN"), "%s", res.tail);
	devsys_runner_result_dispose(&res);

	/* env and stdin reach the command (host-docker's tmpfs files, through the outer container) */
	{
		const char *argv[] = { "test \"$TOKEN\" = \"$(cat)\" && echo same", NULL };
		devsys_runner_cmd c = DEVSYS_RUNNER_CMD_INIT;
		snprintf(env, sizeof(env), "TOKEN=%s", secret);
		c.argv = argv;
		c.flags = DEVSYS_RUNNER_CMD_SHELL;
		c.env = envv;
		c.stdin_data = secret;
		c.stdin_len = strlen(secret);
		cr_assert_eq(devsys_runner_exec(r, &c, &res), 0, "%s", errmsg());
		cr_assert_eq(res.exit_code, 0, "%s", res.tail);
		cr_assert(strstr(res.tail, "out| same\n"), "%s", res.tail);
		devsys_runner_result_dispose(&res);
	}

	/* a tree up and a report back down, through the inner engine's archive calls */
	snprintf(src, sizeof(src), "%s/src", work);
	snprintf(dst, sizeof(dst), "%s/task", work);
	cr_assert_eq(dt_sh("mkdir -p '%s/sub' '%s'", src, dst), 0);
	put(src, "a.txt", "alpha\n");
	put(src, "sub/b.txt", "beta\n");
	cr_assert_eq(devsys_runner_upload(r, src, "."), 0, "%s", errmsg());
	cr_assert_eq(sh(r, "cat a.txt sub/b.txt && mkdir -p reports && echo '<testsuite/>' > reports/junit.xml", 0, &res),
	             0, "%s", errmsg());
	cr_assert(strstr(res.tail, "out| alpha\nout| beta\n"), "%s", res.tail);
	devsys_runner_result_dispose(&res);
	cr_assert_eq(devsys_runner_download(r, "reports", dst), 0, "%s", errmsg());
	snprintf(src, sizeof(src), "%s/junit.xml", dst);
	s = dt_read_file(src, NULL);
	cr_assert(s && strstr(s, "<testsuite/>"), "%s", s ? s : "(missing)");
	free(s);

	memset(&desc, 0, sizeof(desc));
	desc.version = DEVSYS_RUNNER_DESCRIPTION_VERSION;
	cr_assert_eq(devsys_runner_describe(r, &desc), 0, "%s", errmsg());
	cr_assert_str_eq(desc.type, "dind");
	cr_assert(strstr(desc.engine, " in dind on docker "), "%s", desc.engine);
	cr_assert(strstr(desc.where, engine->image) && strstr(desc.where, "dind engine") && strstr(desc.where, DT_DIND_IMAGE),
	          "%s", desc.where);
	cr_assert_str_eq(desc.image_id, engine->image_id, "the same image, copied in");

	cr_assert_eq(count_outer(), 1u);
	devsys_runner_free(r);
	assert_nothing_left(dir, vols);
	free(dir), free(host_id), free(inner_id);
}

Test(dind, timeout_kills_the_inner_container)
{
	devsys_runner *r = NULL;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	size_t vols = host_volumes();
	char *dir, sock[128];
	json_t *l;

	cr_assert_eq(open_dind(&r, NULL), 0, "%s", errmsg());
	dir = the_dir();
	snprintf(sock, sizeof(sock), "%s/docker.sock", dir);
	cr_assert_eq(sh(r, "echo start; sleep 60", 1500, &res), DEVSYS_ETIMEOUT, "%s", errmsg());
	cr_assert_eq(res.failure, DEVSYS_RUNNER_TIMEOUT);
	cr_assert_eq(res.signal, SIGTERM, "signal %d exit %d: %s", res.signal, res.exit_code, res.tail);
	cr_assert(strstr(res.tail, "out| start\n"), "%s", res.tail);
	cr_assert_lt(res.duration_ms, 30000u);
	devsys_runner_result_dispose(&res);
	/* gone from the inner engine, not only stopped */
	l = curl_json(sock, "'http://docker/containers/json?all=1'");
	cr_assert_eq(json_array_size(l), 0u, "inner containers left: %zu", json_array_size(l));
	json_decref(l);
	/* positive control for that listing: a running engine answers it, and the runner still works */
	cr_assert_eq(sh(r, "exit 0", 0, &res), 0, "%s", errmsg());
	cr_assert_eq(res.exit_code, 0);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	assert_nothing_left(dir, vols);
	free(dir);
}

Test(dind, killed_owner_is_cleaned_up_by_the_sweepers)
{
	const char *helper = getenv("DT_DIND_OWNER");
	char out[600], *said = NULL, *dir;
	pid_t child;
	unsigned int removed = 0;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;

	cr_assert(helper, "DT_DIND_OWNER names the owner program");
	snprintf(out, sizeof(out), "%s/owner.out", work);
	{
		char *argv[] = { (char *)helper, engine->host, engine->image, DT_DIND_IMAGE, NULL };
		child = dt_spawn(argv, out);
	}
	cr_assert_gt(child, 0);
	owner = child;
	/* poll until the owner says its runner is open, or it exits */
	for (int i = 0; i < 4500; i++) {
		struct timespec ts = { 0, 20 * 1000000L };
		free(said);
		said = dt_read_file(out, NULL);
		if ((said && strstr(said, "open ")) || waitpid(child, NULL, WNOHANG) == child)
			break;
		nanosleep(&ts, NULL);
	}
	cr_assert(said && strstr(said, "open "), "the owner opened its dind runner: %s", said ? said : "(nothing)");
	free(said);
	dir = the_dir();
	{
		/* its command runs on the inner engine (and holds a cgroup there) */
		char sock[128];
		size_t n = 0;
		snprintf(sock, sizeof(sock), "%s/docker.sock", dir);
		for (int i = 0; i < 1500 && n != 1; i++) {
			struct timespec ts = { 0, 20 * 1000000L };
			json_t *l = curl_json(sock, "'http://docker/containers/json'");
			n = json_array_size(l);
			json_decref(l);
			if (n != 1)
				nanosleep(&ts, NULL);
		}
		cr_assert_eq(n, 1u, "the owner's command runs on its engine");
	}
	/* positive control: a live owner's engine is swept by neither sweeper */
	d.host = engine->host;
	cr_assert_eq(devsys_runner_docker_sweep(&removed, &d), 0, "%s", errmsg());
	cr_assert_eq(removed, 0u);
	devsys__dind_sweep_dirs();
	cr_assert(dt_exists(dir));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_assert_eq(count_outer(), 1u, "kill -9 left the engine behind");
	cr_assert(dt_exists(dir));
	cr_assert_eq(devsys_runner_docker_sweep(&removed, &d), 0, "%s", errmsg());
	cr_assert_eq(removed, 1u);
	devsys__dind_sweep_dirs();
	cr_assert_eq(count_outer(), 0u);
	cr_assert(!dt_exists(dir), "%s swept", dir);
	cr_assert_eq(dt_sh("ls -d /sys/fs/cgroup/*/%s 2>/dev/null | grep -q .", strrchr(dir, '/') + 1), 1,
	             "no cgroup left, the inner container's included");
	free(dir);
}

Test(dind, devsys_exec_opens_a_dind_profile_from_devsys_yaml)
{
	/* the whole operator path: a `type: dind` profile in devsys.yaml, read by
	 * devsys_config_runner_dind() in `devsys exec`, runs echo on a nested engine */
	const char *cli = getenv("DT_DEVSYS_CLI");
	char yaml[1024], cfg[600];
	int st = -1, cli_pid;
	char *out;
	cr_assert(cli, "DT_DEVSYS_CLI names the devsys program");
	snprintf(yaml, sizeof(yaml),
	         "runners:\n"
	         "  nested:\n"
	         "    type: dind\n"
	         "    image: %s\n"
	         "    engine_image: %s\n"
	         "    host: %s\n"
	         "    ready_timeout: 120s\n",
	         engine->image, DT_DIND_IMAGE, engine->host);
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", work);
	put(work, "devsys.yaml", yaml);
	/* exec keeps the shell's pid: the CLI's, which labels its outer container */
	out = dt_sh_output(&st, "echo pid=$$; exec '%s' exec --config '%s' --profile nested -- echo from-the-dind-profile 2>&1",
	                   cli, cfg);
	cr_assert_eq(st, 0, "%s", out ? out : "");
	cr_assert(out && strstr(out, "from-the-dind-profile\n"), "%s", out ? out : "");
	cli_pid = out && strncmp(out, "pid=", 4) == 0 ? atoi(out + 4) : 0;
	cr_assert_gt(cli_pid, 0, "%s", out ? out : "");
	free(out);
	/* the CLI closed its runner: no outer container of that process is left */
	json_t *l = outer_of((pid_t)cli_pid);
	cr_assert_eq(json_array_size(l), 0u);
	json_decref(l);
	/* negative control: a refused key in the same profile is named with its position */
	put(work, "devsys.yaml", strcat(yaml, "    bind_checkout: true\n"));
	out = dt_sh_output(&st, "'%s' exec --config '%s' --profile nested -- echo never 2>&1", cli, cfg);
	cr_assert_neq(st, 0, "%s", out ? out : "");
	cr_assert(out && strstr(out, "devsys.yaml:8:5: runners.nested.bind_checkout: not allowed for a dind profile") &&
	              !strstr(out, "never"),
	          "%s", out ? out : "");
	free(out);
}

static void t_bind(void)
{
	dk.bind_checkout = 1;
}
static void t_sock(void)
{
	dk.allow_socket_mount = 1;
}
static void t_engine(void)
{
	dx.engine_image = "devsys-test/no-such-engine:2";
}
static void t_image(void)
{
	dk.image = "devsys-test/not-on-the-host:3";
}

Test(dind, bad_options_are_refused_clearly_and_leave_nothing)
{
	devsys_runner *r = NULL;
	size_t vols = host_volumes();
	cr_assert_eq(open_dind(&r, t_bind), DEVSYS_EINVAL);
	cr_assert(strstr(errmsg(), "bind_checkout"), "%s", errmsg());
	cr_assert_eq(open_dind(&r, t_sock), DEVSYS_EACCESS);
	cr_assert(strstr(errmsg(), "allow_socket_mount"), "%s", errmsg());
	cr_assert_eq(open_dind(&r, t_engine), DEVSYS_ENOTFOUND, "%s", errmsg());
	cr_assert(strstr(errmsg(), "devsys-test/no-such-engine:2"), "%s", errmsg());
	/* the engine starts, then the task image is missing on the host: named, and the engine is destroyed */
	cr_assert_eq(open_dind(&r, t_image), DEVSYS_ENOTFOUND, "%s", errmsg());
	cr_assert(strstr(errmsg(), "devsys-test/not-on-the-host:3") && strstr(errmsg(), "host engine"), "%s", errmsg());
	cr_assert_null(r);
	cr_assert_eq(count_outer(), 0u);
	cr_assert_eq(host_volumes(), vols);
	cr_assert(!own_dirs_left(), "no directory left");
	/* positive control: the same options without the fault open */
	cr_assert_eq(open_dind(&r, NULL), 0, "%s", errmsg());
	cr_assert_eq(count_outer(), 1u);
	devsys_runner_free(r);
	cr_assert_eq(count_outer(), 0u);
}
