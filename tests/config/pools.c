/*
 * devsys.yaml runner pools: a remote-ssh profile's hosts, a Docker
 * profile's endpoints, per_host_max and cooldown, as the pipeline's
 * placement reads them (the internal reader), and bad input named with its
 * key and position.
 */
#include <devsys.h>
#include <devsys/config.h>
#include <devsys/sys/runner_docker.h>

#include "config/runner_pool.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	cr_assert_gt(devsys_init(), 0);
}
static void teardown(void)
{
	unsetenv("DEVSYS_RUNNER_FARM_HOSTS");
	devsys_shutdown();
}
TestSuite(config_pools, .init = setup, .fini = teardown);

static const char *farm = "runners:\n"
                          "  farm:\n"
                          "    type: remote-ssh\n"
                          "    host: build1.example\n"
                          "    port: 2201\n"
                          "    hosts: [build2.example, \"build3.example:2222\", \"[::1]:2200\"]\n"
                          "    per_host_max: 2\n"
                          "    cooldown: 2m\n"
                          "    known_hosts: /etc/devsys/known_hosts\n"
                          "  engines:\n"
                          "    type: host-docker\n"
                          "    image: debian:12\n"
                          "    endpoints:\n"
                          "      - unix:///run/a/docker.sock\n"
                          "      - tcp://127.0.0.1:2375\n"
                          "    retries: 1\n"
                          "  plain:\n"
                          "    type: remote-ssh\n"
                          "    host: one.example\n"
                          "    known_hosts: /etc/devsys/known_hosts\n";

static devsys_config *parse(const char *text)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return c;
}

Test(config_pools, hosts_endpoints_limits_and_defaults)
{
	devsys_config *c = parse(farm);
	devsys__cfg_pool pool;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type;
	cr_assert_eq(devsys__config_runner_pool(&pool, c, "farm"), 0);
	cr_assert_eq(pool.n, 4, "the profile's host joins its hosts");
	cr_assert_str_eq(pool.members[0], "build1.example");
	cr_assert_str_eq(pool.members[1], "build2.example");
	cr_assert_str_eq(pool.members[2], "build3.example:2222");
	cr_assert_str_eq(pool.members[3], "[::1]:2200");
	cr_assert_null(pool.members[4]);
	cr_assert(!pool.docker);
	cr_assert_eq(pool.per_host_max, 2);
	cr_assert_eq(pool.cooldown_s, 120);
	cr_assert_eq(pool.retries, 3, "unset retries: each other host once");
	/* the profile's other keys are read as before */
	cr_assert_eq(devsys_config_runner(c, "farm", &type, &o), 0);
	cr_assert_str_eq(o.host, "build1.example");
	cr_assert_eq(o.port, 2201);

	cr_assert_eq(devsys__config_runner_pool(&pool, c, "engines"), 0);
	cr_assert_eq(pool.n, 2);
	cr_assert(pool.docker);
	cr_assert_str_eq(pool.members[0], "unix:///run/a/docker.sock");
	cr_assert_str_eq(pool.members[1], "tcp://127.0.0.1:2375");
	cr_assert_eq(pool.per_host_max, 1, "the default limit is one task per host");
	cr_assert_eq(pool.cooldown_s, 60);
	cr_assert_eq(pool.retries, 1);

	/* positive control: a profile with one host is no pool */
	cr_assert_eq(devsys__config_runner_pool(&pool, c, "plain"), 0);
	cr_assert_eq(pool.n, 0);
	cr_assert_null(pool.members);
	cr_assert_eq(devsys__config_runner_pool(&pool, c, "nope"), DEVSYS_ENOTFOUND);
	devsys_config_free(c);
}

Test(config_pools, a_pool_without_host_gives_one_runner_its_first_member)
{
	const char *text = "runners:\n"
	                   "  farm:\n    type: remote-ssh\n    port: 2201\n    known_hosts: /k\n"
	                   "    hosts: [\"[::1]:2200\", b.example]\n"
	                   "  plainport:\n    type: remote-ssh\n    port: 2201\n    known_hosts: /k\n"
	                   "    hosts: [a.example, \"b.example:23\"]\n"
	                   "  engines:\n    type: host-docker\n    image: x\n"
	                   "    endpoints: [\"unix:///run/a.sock\", \"tcp://127.0.0.1:2375\"]\n";
	devsys_config *c = parse(text);
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT, q = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_docker_options d = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys__cfg_pool pool;
	const char *type;
	/* what `devsys exec --profile farm` opens: the first host with its own port */
	cr_assert_eq(devsys_config_runner(c, "farm", &type, &o), 0);
	cr_assert_str_eq(o.host, "::1");
	cr_assert_eq(o.port, 2200);
	cr_assert_eq(devsys__config_runner_pool(&pool, c, "farm"), 0);
	cr_assert_eq(pool.port, 2201, "the profile's port stays the default of the other members");
	cr_assert_eq(devsys_config_runner(c, "plainport", &type, &q), 0);
	cr_assert_str_eq(q.host, "a.example");
	cr_assert_eq(q.port, 2201);
	/* never the default engine: the first endpoint */
	cr_assert_eq(devsys_config_runner_docker(c, "engines", &d), 0);
	cr_assert_str_eq(d.host, "unix:///run/a.sock");
	devsys_config_free(c);
}

Test(config_pools, a_scalar_list_and_the_environment_replace_the_hosts)
{
	const char *text = "runners:\n  farm:\n    type: remote-ssh\n    hosts: \"a.example, b.example:23\"\n"
	                   "    known_hosts: /k\n";
	devsys_config *c = parse(text);
	devsys__cfg_pool pool;
	cr_assert_eq(devsys__config_runner_pool(&pool, c, "farm"), 0);
	cr_assert_eq(pool.n, 2);
	cr_assert_str_eq(pool.members[1], "b.example:23");
	devsys_config_free(c);
	setenv("DEVSYS_RUNNER_FARM_HOSTS", "c.example:2200,d.example", 1);
	c = parse(text);
	cr_assert_eq(devsys__config_runner_pool(&pool, c, "farm"), 0);
	cr_assert_eq(pool.n, 2, "the override replaces the file's list");
	cr_assert_str_eq(pool.members[0], "c.example:2200");
	cr_assert_str_eq(pool.members[1], "d.example");
	devsys_config_free(c);
	setenv("DEVSYS_RUNNER_FARM_HOSTS", "c.example:0", 1);
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()),
	                 "environment DEVSYS_RUNNER_FARM_HOSTS: runners.farm.hosts: 'c.example:0': the port"),
	          "%s", devsys_error_message(devsys_error_last()));
}

static void expect_bad(const char *text, const char *needle)
{
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), DEVSYS_EINVALID, "for:\n%s\ngot: %s",
	             text, devsys_error_message(devsys_error_last()));
	cr_assert(strstr(devsys_error_message(devsys_error_last()), needle), "'%s' not in: %s", needle,
	          devsys_error_message(devsys_error_last()));
	cr_assert_null(c);
}

#define SSH "runners:\n  farm:\n    type: remote-ssh\n    known_hosts: /k\n"
#define DOCKER "runners:\n  box:\n    type: host-docker\n    image: x\n"

Test(config_pools, bad_pools_are_named_with_key_and_position)
{
	expect_bad(SSH "    hosts: [a, \"b:0\"]\n", "devsys.yaml:5:16: runners.farm.hosts: 'b:0': the port after ':' must be 1-65535");
	expect_bad(SSH "    hosts: [\"b:99999\"]\n", "'b:99999': the port");
	expect_bad(SSH "    hosts: [\"b:22x\"]\n", "'b:22x': the port");
	expect_bad(SSH "    hosts: [\"h;rm -rf\"]\n", "devsys.yaml:5:13: runners.farm.hosts: 'h;rm -rf': holds characters");
	expect_bad(SSH "    hosts: [\"::1:22\"]\n", "is written in brackets");
	expect_bad(SSH "    hosts: [\"[::1\"]\n", "closing ']'");
	expect_bad(SSH "    hosts: [\"[::1]x\"]\n", "only ':port'");
	expect_bad(SSH "    hosts: [\":22\"]\n", "the host name is empty");
	expect_bad(SSH "    hosts: [a, b, a]\n", "devsys.yaml:5:19: runners.farm.hosts: 'a' is listed twice");
	expect_bad(SSH "    hosts: []\n", "devsys.yaml:5:12: runners.farm.hosts: the list is empty");
	expect_bad(SSH "    hosts: [[a]]\n", "runners.farm.hosts: each element must be one host");
	expect_bad(SSH "    hosts: \" , \"\n", "devsys.yaml:5:12: runners.farm.hosts: the list is empty");
	expect_bad(SSH "    hosts: [a]\n    hosts: [b]\n", "devsys.yaml:6:5: runners.farm.hosts: given twice");
	expect_bad(SSH "    hosts: [a]\n    per_host_max: 0\n", "runners.farm.per_host_max: must be at least 1");
	expect_bad(SSH "    hosts: [a]\n    per_host_max: many\n", "devsys.yaml:6:19: runners.farm.per_host_max: 'many'");
	expect_bad(SSH "    hosts: [a]\n    cooldown: 0\n", "runners.farm.cooldown: must be at least 1s");
	expect_bad(SSH "    hosts: [a]\n    cooldown: 1500ms\n", "devsys.yaml:6:15: runners.farm.cooldown: '1500ms': this duration is counted in whole seconds");
	expect_bad(SSH "    host: a\n    per_host_max: 2\n", "runners.farm: per_host_max and cooldown are for runner pools");
	expect_bad(SSH "    host: a\n    cooldown: 10s\n", "per_host_max and cooldown are for runner pools");
	expect_bad(SSH "    endpoints: [\"unix:///a.sock\"]\n", "runners.farm.endpoints: only a host-docker or dind profile");
	expect_bad("runners:\n  farm:\n    type: remote-ssh\n    hosts: [a]\n", "needs 'host' (or 'hosts') and 'known_hosts'");
	expect_bad("runners:\n  farm:\n    type: inproc\n    hosts: [a]\n", "runners.farm.hosts: only a remote-ssh profile");
	expect_bad(DOCKER "    hosts: [a]\n", "runners.box.hosts: only a remote-ssh profile lists hosts");
	expect_bad(DOCKER "    endpoints: [\"http://x\"]\n", "devsys.yaml:5:17: runners.box.endpoints: 'http://x': expected a Docker endpoint");
	expect_bad(DOCKER "    endpoints: [\"unix:///a.sock\"]\n    hosts: [b]\n", "devsys.yaml:6:13: runners.box.hosts: give hosts or endpoints, not both");
	expect_bad(DOCKER "    endpoints: [\"tcp://a b\"]\n", "holds white space");
}

Test(config_pools, a_pool_holds_at_most_64_members)
{
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof(text), SSH "    hosts:\n");
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "      - h%d\n", i);
	devsys_config *c = NULL;
	cr_assert_eq(devsys_config_parse(&c, text, strlen(text), "devsys.yaml"), DEVSYS_ELIMIT);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "at most 64 hosts or endpoints (65 given)"), "%s",
	          devsys_error_message(devsys_error_last()));
	/* the control: 64 are fine */
	n = (size_t)snprintf(text, sizeof(text), SSH "    hosts:\n");
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "      - h%d\n", i);
	c = parse(text);
	devsys_config_free(c);
}
