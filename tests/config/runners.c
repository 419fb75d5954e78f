/*
 * devsys.yaml runner profiles: parsing, strict checking with positions,
 * environment overrides, and use with devsys_runner_open().
 */
#include <devsys.h>
#include <devsys/config.h>
#include <devsys/sys/runner_dind.h>
#include <devsys/sys/runner_inproc.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
}
static void teardown(void)
{
	unsetenv("DEVSYS_RUNNER_DEPLOY_HOST");
	unsetenv("DEVSYS_RUNNER_DEPLOY_KNOWN_HOSTS");
	unsetenv("DEVSYS_RUNNER_NEW_ONE_TYPE");
	unsetenv("DEVSYS_RUNNER_LOCAL_LIMITS_NOFILE");
	unsetenv("DEVSYS_RUNNER_LOCAL_GRACE");
	devsys_shutdown();
}
TestSuite(config_runners, .init = setup, .fini = teardown);

static const char *good =
	"# operator config\n"
	"runners:\n"
	"  local:\n"
	"    type: inproc\n"
	"    grace: 2500ms\n"
	"    allow_shell: true\n"
	"    tail_max: 64K\n"
	"    limits:\n"
	"      cpu: 2m\n"
	"      as: 2G\n"
	"      nofile: 256\n"
	"  deploy:\n"
	"    type: remote-ssh\n"
	"    host: 127.0.0.1\n"
	"    port: 2222\n"
	"    user: deployer\n"
	"    key: /etc/devsys/id_ed25519\n"
	"    known_hosts: /etc/devsys/known_hosts\n"
	"    trust_on_first_use: false\n"
	"    keepalive: 30\n"
	"    connect_timeout: 5s\n"
	"    retries: 2\n"
	"    remote_dir: /srv/devsys\n";

Test(config_runners, parses_profiles)
{
	devsys_config *c;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type;
	cr_assert_eq(devsys_config_parse(&c, good, strlen(good), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_config_runner_count(c), 2);
	cr_assert_str_eq(devsys_config_runner_name(c, 0), "local");
	cr_assert_str_eq(devsys_config_runner_name(c, 1), "deploy");
	cr_assert_null(devsys_config_runner_name(c, 2));
	cr_assert_eq(devsys_config_runner(c, "local", &type, &o), 0);
	cr_assert_str_eq(type, "inproc");
	cr_assert_eq(o.grace_ms, 2500);
	cr_assert(o.flags & DEVSYS_RUNNER_ALLOW_SHELL);
	cr_assert_eq(o.tail_max, 65536);
	cr_assert_eq(o.rlimit_cpu_s, 120);
	cr_assert_eq(o.rlimit_as_bytes, 2ull << 30);
	cr_assert_eq(o.rlimit_nofile, 256);
	devsys_runner_options d = DEVSYS_RUNNER_OPTIONS_INIT;
	cr_assert_eq(devsys_config_runner(c, "deploy", &type, &d), 0);
	cr_assert_str_eq(type, "remote-ssh");
	cr_assert_str_eq(d.host, "127.0.0.1");
	cr_assert_eq(d.port, 2222);
	cr_assert_str_eq(d.user, "deployer");
	cr_assert_str_eq(d.key_file, "/etc/devsys/id_ed25519");
	cr_assert_str_eq(d.known_hosts, "/etc/devsys/known_hosts");
	cr_assert_eq(d.keepalive_s, 30);
	cr_assert_eq(d.connect_timeout_ms, 5000);
	cr_assert_eq(d.retries, 2);
	cr_assert_str_eq(d.remote_dir, "/srv/devsys");
	cr_assert_eq(d.flags & DEVSYS_RUNNER_TRUST_ON_FIRST_USE, 0);
	cr_assert_eq(devsys_config_runner(c, "nope", &type, &d), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "local, deploy"));
	devsys_config_free(c);
}

Test(config_runners, env_overrides)
{
	devsys_config *c;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type;
	setenv("DEVSYS_RUNNER_DEPLOY_HOST", "10.1.2.3", 1);
	setenv("DEVSYS_RUNNER_DEPLOY_KNOWN_HOSTS", "/other/known_hosts", 1);
	setenv("DEVSYS_RUNNER_LOCAL_LIMITS_NOFILE", "64", 1);
	setenv("DEVSYS_RUNNER_NEW_ONE_TYPE", "inproc", 1);
	cr_assert_eq(devsys_config_parse(&c, good, strlen(good), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_config_runner(c, "deploy", &type, &o), 0);
	cr_assert_str_eq(o.host, "10.1.2.3");
	cr_assert_str_eq(o.known_hosts, "/other/known_hosts");
	cr_assert_eq(o.port, 2222);
	devsys_runner_options l = DEVSYS_RUNNER_OPTIONS_INIT;
	cr_assert_eq(devsys_config_runner(c, "local", &type, &l), 0);
	cr_assert_eq(l.rlimit_nofile, 64);
	cr_assert_eq(devsys_config_runner(c, "new_one", &type, &l), 0, "an override creates a profile");
	cr_assert_str_eq(type, "inproc");
	devsys_config_free(c);
	/* a bad override is an error naming the variable */
	setenv("DEVSYS_RUNNER_LOCAL_GRACE", "soon", 1);
	cr_assert_eq(devsys_config_parse(&c, good, strlen(good), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "DEVSYS_RUNNER_LOCAL_GRACE"));
}

static void expect_bad(const char *text, int code, const char *needle)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), code, "for:\n%s\ngot: %s", text,
	             devsys_error_message(devsys_error_last()));
	cr_assert(strstr(devsys_error_message(devsys_error_last()), needle), "'%s' not in: %s", needle,
	          devsys_error_message(devsys_error_last()));
	cr_assert_null(c);
}

Test(config_runners, bad_inputs_named_with_positions)
{
	expect_bad("runners:\n  a:\n    type: inproc\n    hots: x\n", DEVSYS_EINVALID, "devsys.yaml:4:5: runners.a.hots: unknown key");
	expect_bad("runners:\n  a:\n    type: inproc\n    grace: 10 years\n", DEVSYS_EINVALID, "runners.a.grace");
	expect_bad("runners:\n  a:\n    type: remote-ssh\n    host: h\n", DEVSYS_EINVALID, "known_hosts");
	expect_bad("runners:\n  a:\n    host: h\n", DEVSYS_EINVALID, "'type' is missing");
	expect_bad("runners:\n  a:\n    type: inproc\n    port: 70000\n", DEVSYS_EINVALID, "1-65535");
	expect_bad("runners:\n  a:\n    type: inproc\n    type: inproc\n", DEVSYS_EINVALID, "given twice");
	expect_bad("runners:\n  a:\n    type: [inproc]\n", DEVSYS_EINVALID, "single value");
	expect_bad("runners:\n  'bad name':\n    type: inproc\n", DEVSYS_EINVALID, "profile name");
	expect_bad("runners: [1, 2]\n", DEVSYS_EINVALID, "expected a mapping");
	expect_bad("runners:\n  a: {type: inproc\n", DEVSYS_EPARSE, "devsys.yaml:");
	expect_bad("- just\n- a list\n", DEVSYS_EINVALID, "top level");
	/* every top-level key belongs to a section: a typo is not silently ignored */
	expect_bad("runner:\n  a:\n    type: inproc\n", DEVSYS_EINVALID, "devsys.yaml:1:1: runner: unknown section (known: runners");
	expect_bad("runners:\n  a:\n    type: inproc\nrunners:\n  b:\n    type: inproc\n", DEVSYS_EINVALID,
	           "devsys.yaml:4:1: runners: section given twice");
	expect_bad("runners:\n  a:\n    type: inproc\n    allow_shell: maybe\n", DEVSYS_EINVALID, "true or false");
	/* the same boolean rule as task specs: YAML 1.1 spellings are refused */
	expect_bad("runners:\n  a:\n    type: inproc\n    allow_shell: yes\n", DEVSYS_EINVALID,
	           "devsys.yaml:4:18: runners.a.allow_shell: 'yes': a YAML 1.1 boolean is ambiguous; write true or false");
	expect_bad("runners:\n  a:\n    type: inproc\n    use_agent: On\n", DEVSYS_EINVALID, "YAML 1.1 boolean");
	expect_bad("runners:\n  a:\n    type: inproc\n    limits: 5\n", DEVSYS_EINVALID, "limits");
	expect_bad("runners:\n  a:\n    type: inproc\n    tail_max: 99999999999999999999999\n", DEVSYS_EINVALID, "range");
}

Test(config_runners, load_files_and_open_runner)
{
	char *dir = dt_tmpdir("config");
	char path[512];
	devsys_config *c;
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(path, "runners:\n  local:\n    type: inproc\n    allow_shell: true\n"));
	cr_assert_eq(devsys_config_load(&c, path), 0);
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type;
	devsys_runner *r;
	cr_assert_eq(devsys_config_runner(c, "local", &type, &o), 0);
	cr_assert_eq(devsys_runner_open(&r, type, &o), 0);
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[] = { "exit 4", NULL };
	cmd.argv = argv;
	cmd.flags = DEVSYS_RUNNER_CMD_SHELL;
	cr_assert_eq(devsys_runner_exec(r, &cmd, &res), 0, "allow_shell from the profile");
	cr_assert_eq(res.exit_code, 4);
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	devsys_config_free(c);
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/nope.yaml", dir);
	cr_assert_eq(devsys_config_load(&c, missing), DEVSYS_ENOTFOUND);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "nope.yaml"));
	dt_rmrf(dir);
	free(dir);
}

#if defined(DEVSYS_HAVE_MODULE_SPEC)
Test(config_runners, production_config_deploys_over_remote_ssh)
{
	/* The shipped production config and the sample spec agree: the spec's
	 * deploy step names a profile that is remote-ssh with strict host keys. */
	devsys_config *c;
	devsys_spec *spec;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type, *profile;
	cr_assert_eq(devsys_config_load(&c, DEVSYS_SOURCE_DIR "/examples/devsys.production.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_spec_load_file(&spec, DEVSYS_SOURCE_DIR "/specs/create-blog.yaml", NULL), 0);
	profile = devsys_spec_get_string(spec, "/deploy/runner");
	cr_assert_not_null(profile);
	cr_assert_eq(devsys_config_runner(c, profile, &type, &o), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(type, "remote-ssh");
	cr_assert_not_null(o.known_hosts, "production ssh needs a known_hosts file");
	cr_assert_eq(o.flags & DEVSYS_RUNNER_TRUST_ON_FIRST_USE, 0, "no trust on first use in production");
	devsys_spec_free(spec);
	devsys_config_free(c);
}

Test(config_runners, production_config_has_the_dind_profile_specs_name)
{
	/* specs/runner-dind.yaml's runner resolves to a dind profile that opens */
	devsys_config *c;
	devsys_spec *spec;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_dind_options x = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	const char *type, *profile;
	cr_assert_eq(devsys_config_load(&c, DEVSYS_SOURCE_DIR "/examples/devsys.production.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_spec_load_file(&spec, DEVSYS_SOURCE_DIR "/specs/runner-dind.yaml", NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	profile = devsys_spec_get_string(spec, "/runner");
	cr_assert_not_null(profile);
	cr_assert_eq(devsys_config_runner(c, profile, &type, &o), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(type, "dind");
	cr_assert_eq(devsys_config_runner_dind(c, profile, &x, &d), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_not_null(x.engine_image);
	cr_assert_not_null(d.image);
	devsys_spec_free(spec);
	devsys_config_free(c);
}
#endif

/* ---- host-docker keys (devsys/sys/runner_docker.h) ---- */

#include <devsys/sys/runner_docker.h>

static const char *docker_yaml =
	"runners:\n"
	"  host-docker:\n"
	"    type: host-docker\n"
	"    image: debian:12\n"
	"    allowed_images: [\"debian:*\", \"registry.local/team/*\"]\n"
	"    network: build-net\n"
	"    allow_socket_mount: false\n"
	"    pull: if-not-present\n"
	"    read_only: true\n"
	"    bind_checkout: true\n"
	"    workdir: /src\n"
	"    user: \"1000:1000\"\n"
	"    host: tcp://127.0.0.1:2376\n"
	"    tls_ca: /etc/devsys/ca.pem\n"
	"    tls_cert: /etc/devsys/cert.pem\n"
	"    tls_key: /etc/devsys/key.pem\n"
	"    limits:\n"
	"      memory: 1G\n"
	"      cpus: 1.5\n"
	"      pids: 256\n";

Test(config_runners, host_docker_keys)
{
	devsys_config *c;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type;
	cr_assert_eq(devsys_config_parse(&c, docker_yaml, strlen(docker_yaml), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_config_runner(c, "host-docker", &type, &o), 0);
	cr_assert_str_eq(type, "host-docker");
	cr_assert_eq(devsys_config_runner_docker(c, "host-docker", &d), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(d.image, "debian:12");
	cr_assert_str_eq(d.allowed_images[0], "debian:*");
	cr_assert_str_eq(d.allowed_images[1], "registry.local/team/*");
	cr_assert_null(d.allowed_images[2]);
	cr_assert_str_eq(d.network, "build-net");
	cr_assert_eq(d.allow_socket_mount, 0);
	cr_assert_eq(d.pull, DEVSYS_RUNNER_DOCKER_PULL_IF_NOT_PRESENT);
	cr_assert_eq(d.read_only, 1);
	cr_assert_eq(d.bind_checkout, 1);
	cr_assert_str_eq(d.workdir, "/src");
	cr_assert_str_eq(d.user, "1000:1000");
	cr_assert_str_eq(d.host, "tcp://127.0.0.1:2376");
	cr_assert_str_eq(d.tls_key, "/etc/devsys/key.pem");
	cr_assert_eq(d.memory_bytes, 1ull << 30);
	cr_assert_eq(d.nano_cpus, 1500000000ull);
	cr_assert_eq(d.pids, 256u);
	devsys_config_free(c);
}

static void docker_refused(const char *yaml, const char *needle)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, yaml, strlen(yaml), "devsys.yaml"), DEVSYS_EINVALID, "accepted: %s", yaml);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), needle), "%s (wanted %s)",
	          devsys_error_message(devsys_error_last()), needle);
}

Test(config_runners, host_docker_bad_keys)
{
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    pull: always\n", "never or if-not-present");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    limits:\n      cpus: 0\n", "limits.cpus");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    limits:\n      cpus: 1.2345\n",
	               "limits.cpus");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    limits:\n      gpus: 1\n",
	               "limits.gpus: unknown key");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    privileged: true\n", "privileged: unknown key");
	docker_refused("runners:\n  d:\n    type: host-docker\n", "needs 'image'");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: \"a;rm -rf /\"\n", "characters no image name");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    tls_ca: /ca\n", "together");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    workdir: rel\n", "absolute");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    allowed_images: [\"a,b\"]\n",
	               "one image glob");
}

/* ---- dind profiles (devsys/sys/runner_dind.h) ---- */

static const char *dind_yaml =
	"runners:\n"
	"  nested:\n"
	"    type: dind\n"
	"    image: debian:12\n"
	"    engine_image: devsys/dind:20.10\n"
	"    ready_timeout: 90s\n"
	"    pull: if-not-present\n"
	"    read_only: true\n"
	"    host: unix:///run/outer.sock\n"
	"    limits:\n"
	"      memory: 512M\n"
	"      pids: 128\n"
	"  plain:\n"
	"    type: host-docker\n"
	"    image: alpine:3\n";

Test(config_runners, dind_keys)
{
	devsys_config *c;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_dind_options x = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type;
	cr_assert_eq(devsys_config_parse(&c, dind_yaml, strlen(dind_yaml), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_config_runner(c, "nested", &type, &o), 0);
	cr_assert_str_eq(type, "dind");
	cr_assert_eq(devsys_config_runner_dind(c, "nested", &x, &d), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(x.docker, &d);
	cr_assert_str_eq(x.engine_image, "devsys/dind:20.10");
	cr_assert_eq(x.ready_timeout_ms, 90000u);
	cr_assert_str_eq(d.image, "debian:12");
	cr_assert_eq(d.pull, DEVSYS_RUNNER_DOCKER_PULL_IF_NOT_PRESENT);
	cr_assert_eq(d.read_only, 1);
	cr_assert_str_eq(d.host, "unix:///run/outer.sock");
	cr_assert_eq(d.memory_bytes, 512ull << 20);
	cr_assert_eq(d.pids, 128u);
	cr_assert_eq(d.bind_checkout, 0);
	cr_assert_eq(d.allow_socket_mount, 0);
	/* a host-docker profile is not a dind one; an unknown one is named */
	cr_assert_eq(devsys_config_runner_dind(c, "plain", &x, &d), DEVSYS_EINVAL);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "'plain' is of type 'host-docker'"));
	cr_assert_eq(devsys_config_runner_dind(c, "nope", &x, &d), DEVSYS_ENOTFOUND);
	/* the host-docker profile beside it still reads as before */
	devsys_runner_docker_options h = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	cr_assert_eq(devsys_config_runner_docker(c, "plain", &h), 0);
	cr_assert_str_eq(h.image, "alpine:3");
	devsys_config_free(c);
}

Test(config_runners, dind_ready_timeout_unset_keeps_the_default)
{
	static const char y[] = "runners:\n  n:\n    type: dind\n    image: x\n    engine_image: e\n";
	devsys_config *c;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_runner_dind_options x = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
	cr_assert_eq(devsys_config_parse(&c, y, strlen(y), "devsys.yaml"), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_config_runner_dind(c, "n", &x, &d), 0);
	cr_assert_eq(x.ready_timeout_ms, 0u);
	cr_assert_str_eq(x.engine_image, "e");
	devsys_config_free(c);
}

Test(config_runners, dind_bad_keys)
{
#define DIND "runners:\n  d:\n    type: dind\n    image: x\n    engine_image: e\n"
	docker_refused("runners:\n  d:\n    type: dind\n    image: x\n", "a dind profile needs 'engine_image'");
	docker_refused("runners:\n  d:\n    type: dind\n    engine_image: e\n", "a dind profile needs 'image'");
	docker_refused(DIND "    ready_timeout: soon\n", "devsys.yaml:6:20: runners.d.ready_timeout: 'soon': expected a duration");
	docker_refused(DIND "    ready_timeout: 5y\n", "runners.d.ready_timeout: '5y': unknown duration unit");
	docker_refused(DIND "    ready_timeout: 0\n", "runners.d.ready_timeout: must be more than 0");
	docker_refused(DIND "    ready_timeout: [1, 2]\n", "runners.d.ready_timeout: expected a single value");
	docker_refused("runners:\n  d:\n    type: dind\n    image: x\n    engine_image: \"e;rm -rf /\"\n",
	               "runners.d.engine_image: 'e;rm -rf /' holds characters no image name has");
	docker_refused("runners:\n  d:\n    type: dind\n    image: x\n    engine_image: \"\"\n", "engine_image: must not be empty");
	docker_refused(DIND "    engine: e\n", "devsys.yaml:6:5: runners.d.engine: unknown key");
	docker_refused(DIND "    engine_image: f\n", "runners.d.engine_image: given twice");
	docker_refused(DIND "    pull: always\n", "never or if-not-present");
	docker_refused(DIND "    limits:\n      cpus: 0\n", "limits.cpus");
	docker_refused(DIND "    tls_ca: /ca\n", "together");
	docker_refused(DIND "    workdir: rel\n", "absolute");
	/* refused keys, at their position, before or after the type */
	docker_refused(DIND "    bind_checkout: true\n",
	               "devsys.yaml:6:5: runners.d.bind_checkout: not allowed for a dind profile");
	docker_refused(DIND "    allow_socket_mount: false\n",
	               "devsys.yaml:6:5: runners.d.allow_socket_mount: not allowed for a dind profile");
	docker_refused("runners:\n  d:\n    allow_socket_mount: true\n    type: dind\n    image: x\n    engine_image: e\n",
	               "devsys.yaml:3:5: runners.d.allow_socket_mount: not allowed for a dind profile");
	/* the dind keys are not host-docker's */
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    engine_image: e\n",
	               "for 'type: dind' profiles only");
	docker_refused("runners:\n  d:\n    type: host-docker\n    image: x\n    ready_timeout: 5s\n",
	               "for 'type: dind' profiles only");
#undef DIND
}

Test(config_runners, dind_refused_key_from_the_environment)
{
	static const char y[] = "runners:\n  d:\n    type: dind\n    image: x\n    engine_image: e\n";
	devsys_config *c = NULL;
	/* positive control: the same file loads */
	cr_assert_eq(devsys_config_parse(&c, y, strlen(y), "devsys.yaml"), 0, "%s", devsys_error_message(devsys_error_last()));
	devsys_config_free(c);
	c = NULL;
	setenv("DEVSYS_RUNNER_D_BIND_CHECKOUT", "true", 1);
	int rc = devsys_config_parse(&c, y, strlen(y), "devsys.yaml");
	unsetenv("DEVSYS_RUNNER_D_BIND_CHECKOUT");
	cr_assert_eq(rc, DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "runners.d.bind_checkout: not allowed for a dind"),
	          "%s", devsys_error_message(devsys_error_last()));
}

/* ---- inproc profiles with user (devsys/sys/runner_inproc.h) ---- */

Test(config_runners, inproc_user_points_the_backend_options_at_the_profile)
{
	const char *yaml = "runners:\n  agent:\n    type: inproc\n    user: devsys-agent\n"
	                   "  plain:\n    type: inproc\n"
	                   "  box:\n    type: host-docker\n    image: busybox\n    user: '1000'\n";
	devsys_config *c = NULL;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT, p = DEVSYS_RUNNER_OPTIONS_INIT,
	                      b = DEVSYS_RUNNER_OPTIONS_INIT;
	const devsys_runner_inproc_options *x;
	const char *type;
	cr_assert_eq(devsys_config_parse(&c, yaml, strlen(yaml), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_config_runner(c, "agent", &type, &o), 0);
	cr_assert_str_eq(o.backend_tag, DEVSYS_RUNNER_INPROC_TAG);
	x = o.backend_options;
	cr_assert_eq(x->version, DEVSYS_RUNNER_INPROC_OPTIONS_VERSION);
	cr_assert_str_eq(x->user, "devsys-agent");
	/* positive controls: a profile without user, and another type's user, set no inproc options */
	cr_assert_eq(devsys_config_runner(c, "plain", &type, &p), 0);
	cr_assert_null(p.backend_tag);
	cr_assert_null(p.backend_options);
	cr_assert_eq(devsys_config_runner(c, "box", &type, &b), 0);
	cr_assert_null(b.backend_tag);
	devsys_config_free(c);
}

Test(config_runners, inproc_user_bad_values_and_the_environment)
{
	const char *bad = "runners:\n  agent:\n    type: inproc\n    user: 'root; id'\n";
	const char *plain = "runners:\n  agent:\n    type: inproc\n";
	devsys_config *c = NULL;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const devsys_runner_inproc_options *x;
	const char *type;
	cr_assert_eq(devsys_config_parse(&c, bad, strlen(bad), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "runners.agent.user: 'root; id' is not a user name"),
	          "%s", devsys_error_message(devsys_error_last()));
	cr_assert_null(c);
	setenv("DEVSYS_RUNNER_AGENT_USER", "nobody", 1);
	cr_assert_eq(devsys_config_parse(&c, plain, strlen(plain), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	unsetenv("DEVSYS_RUNNER_AGENT_USER");
	cr_assert_eq(devsys_config_runner(c, "agent", &type, &o), 0);
	x = o.backend_options;
	cr_assert(x && x->user && strcmp(x->user, "nobody") == 0);
	devsys_config_free(c);
}
