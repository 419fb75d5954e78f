/*
 * Docker endpoints and API inputs (internal): unix:// and tcp:// parse into
 * what libcurl needs, the DOCKER_HOST rule picks profile > DOCKER_HOST >
 * default, a socket path over sun_path is refused naming the path and the
 * limit, and image names / env entries that could inject are refused.
 */
#include "runner/docker/docker_int.h"
#include "runner/docker/client.h"
#include "testutil.h"

#include <string.h>

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

Test(docker_endpoint, unix_and_tcp)
{
	devsys__docker_endpoint ep;
	cr_assert_eq(devsys__docker_endpoint_parse(&ep, "unix:///var/run/docker.sock", false, "profile"), 0);
	cr_assert_eq(ep.kind, DEVSYS__DOCKER_UNIX);
	cr_assert_str_eq(ep.path, "/var/run/docker.sock");
	cr_assert_str_eq(ep.base_url, "http://docker");
	devsys__docker_endpoint_dispose(&ep);

	cr_assert_eq(devsys__docker_endpoint_parse(&ep, "tcp://127.0.0.1:41234", true, "profile"), 0);
	cr_assert_eq(ep.kind, DEVSYS__DOCKER_TCP);
	cr_assert_str_eq(ep.host, "127.0.0.1");
	cr_assert_eq(ep.port, 41234);
	cr_assert(ep.tls);
	cr_assert_str_eq(ep.base_url, "https://127.0.0.1:41234");
	devsys__docker_endpoint_dispose(&ep);

	cr_assert_eq(devsys__docker_endpoint_parse(&ep, "tcp://localhost", true, "profile"), 0);
	cr_assert_eq(ep.port, 2376, "Docker's TLS port by default");
	devsys__docker_endpoint_dispose(&ep);
	cr_assert_eq(devsys__docker_endpoint_parse(&ep, "tcp://localhost", false, "profile"), 0);
	cr_assert_eq(ep.port, 2375);
	cr_assert_str_eq(ep.base_url, "http://localhost:2375");
	devsys__docker_endpoint_dispose(&ep);

	cr_assert_eq(devsys__docker_endpoint_parse(&ep, "tcp://[::1]:2375", false, "profile"), 0);
	cr_assert_str_eq(ep.host, "::1");
	cr_assert_str_eq(ep.base_url, "http://[::1]:2375");
	devsys__docker_endpoint_dispose(&ep);
}

Test(docker_endpoint, bad_endpoints_say_what_is_wrong)
{
	struct {
		const char *spec, *part;
	} bad[] = {
		{ "unix://relative/docker.sock", "absolute socket path" },
		{ "unix://", "absolute socket path" },
		{ "http://127.0.0.1:2375", "unsupported scheme" },
		{ "npipe:////./pipe/docker_engine", "unsupported scheme" },
		{ "/var/run/docker.sock", "unsupported scheme" },
		{ "tcp://", "host is empty" },
		{ "tcp://:2375", "host is empty" },
		{ "tcp://host:0", "port must be" },
		{ "tcp://host:99999", "port must be" },
		{ "tcp://host:12ab", "port must be" },
		{ "tcp://host:2375/path", "without a path" },
		{ "tcp://user@host:2375", "without a path, query or user" },
		{ "tcp://ho st:2375", "characters a host name cannot have" },
		{ "tcp://[::1", "unclosed" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		devsys__docker_endpoint ep;
		cr_assert_eq(devsys__docker_endpoint_parse(&ep, bad[i].spec, false, "DOCKER_HOST"), DEVSYS_EINVALID, "%s",
		             bad[i].spec);
		cr_assert(strstr(errmsg(), bad[i].part), "'%s' -> %s", bad[i].spec, errmsg());
		cr_assert(strstr(errmsg(), bad[i].spec) && strstr(errmsg(), "from DOCKER_HOST"), "names input and source: %s",
		          errmsg());
		cr_assert_null(ep.spec, "nothing to dispose after a failure");
		devsys__docker_endpoint_dispose(&ep);
	}
}

Test(docker_endpoint, socket_path_over_sun_path_is_refused_by_name)
{
	char path[200], spec[220];
	devsys__docker_endpoint ep;
	/* 107 bytes fit (sun_path keeps one for the NUL) */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	snprintf(spec, sizeof(spec), "unix://%s", path);
	cr_assert_eq(devsys__docker_endpoint_parse(&ep, spec, false, "profile"), 0, "%s", errmsg());
	cr_assert_eq(strlen(ep.path), 107);
	devsys__docker_endpoint_dispose(&ep);
	path[107] = 'a';
	path[108] = '\0';
	snprintf(spec, sizeof(spec), "unix://%s", path);
	cr_assert_eq(devsys__docker_endpoint_parse(&ep, spec, false, "profile"), DEVSYS_ELIMIT);
	cr_assert(strstr(errmsg(), path), "names the path: %s", errmsg());
	cr_assert(strstr(errmsg(), "is 108 bytes") && strstr(errmsg(), "at most 107") && strstr(errmsg(), "sun_path is 108"),
	          "names the limit: %s", errmsg());
	cr_assert_null(strstr(errmsg(), "File name too long"), "never a bare ENAMETOOLONG");
	cr_assert_eq(devsys__unix_path_check(path, "dind inner socket"), DEVSYS_ELIMIT);
	cr_assert(strstr(errmsg(), "dind inner socket"), "%s", errmsg());
}

Test(docker_endpoint, docker_host_rule)
{
	devsys__docker_endpoint ep;
	cr_assert_eq(devsys__docker_endpoint_resolve(&ep, "unix:///p/profile.sock", "unix:///e/env.sock", false), 0);
	cr_assert_str_eq(ep.path, "/p/profile.sock");
	cr_assert_str_eq(ep.source, "profile");
	devsys__docker_endpoint_dispose(&ep);
	cr_assert_eq(devsys__docker_endpoint_resolve(&ep, NULL, "unix:///e/env.sock", false), 0);
	cr_assert_str_eq(ep.path, "/e/env.sock");
	cr_assert_str_eq(ep.source, "DOCKER_HOST");
	devsys__docker_endpoint_dispose(&ep);
	cr_assert_eq(devsys__docker_endpoint_resolve(&ep, "", "tcp://127.0.0.1:2376", true), 0, "empty means unset");
	cr_assert_str_eq(ep.source, "DOCKER_HOST");
	cr_assert_str_eq(ep.base_url, "https://127.0.0.1:2376");
	devsys__docker_endpoint_dispose(&ep);
	cr_assert_eq(devsys__docker_endpoint_resolve(&ep, NULL, "", false), 0);
	cr_assert_str_eq(ep.path, "/var/run/docker.sock");
	cr_assert_str_eq(ep.source, "default");
	devsys__docker_endpoint_dispose(&ep);
	cr_assert_eq(devsys__docker_endpoint_resolve(&ep, NULL, "ftp://x", false), DEVSYS_EINVALID);
	cr_assert(strstr(errmsg(), "from DOCKER_HOST"), "%s", errmsg());
}

Test(docker_validate, image_names)
{
	const char *good[] = { "busybox", "devsys-test/busybox:latest", "localhost:5000/a/b:1.0", "localhost/x",
		               "registry.example.com/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		               "Registry.Example.com/x:TAG_1.2-rc", "a__b", "a-----b", "a.b_c", "ubuntu:22.04",
		               "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(devsys__docker_image_check(good[i]), 0, "%s: %s", good[i], errmsg());
	struct {
		const char *image, *part;
	} bad[] = {
		{ "busybox;rm -rf /", "character ';' at offset 7" },
		{ "busybox\"},\"Privileged\":true,\"x\":{\"", "character '\"' at offset 7" },
		{ "$(id)", "character '$' at offset 0" },
		{ "a b", "character ' ' at offset 1" },
		{ "a\nb", "control byte 0x0a at offset 1" },
		{ "Busybox", "name component" },
		{ "a/../b", "name component" },
		{ "-a", "name component" },
		{ "a_", "name component" },
		{ "a___b", "name component" },
		{ "a..b", "name component" },
		{ "a//b", "name component" },
		{ "", "empty image name" },
		{ "a:", "tag" },
		{ "a:-x", "tag" },
		{ "x@sha256:abc", "digest" },
		{ "x@sha256:0123456789abcdef0123456789abcdef@x", "digest" },
		{ "bad_host.com:port/x", "registry host" },
		{ "-bad.com/x", "registry host" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(devsys__docker_image_check(bad[i].image), DEVSYS_EINVALID, "'%s' accepted", bad[i].image);
		cr_assert(strstr(errmsg(), bad[i].part), "'%s' -> %s", bad[i].image, errmsg());
	}
	char tag[200], name[300];
	snprintf(tag, sizeof(tag), "a:%0128d", 1);
	cr_assert_eq(devsys__docker_image_check(tag), 0, "a 128-byte tag");
	snprintf(tag, sizeof(tag), "a:%0129d", 1);
	cr_assert_eq(devsys__docker_image_check(tag), DEVSYS_EINVALID, "a 129-byte tag");
	memset(name, 'a', 256);
	name[256] = '\0';
	cr_assert_eq(devsys__docker_image_check(name), DEVSYS_EINVALID);
	cr_assert(strstr(errmsg(), "255 bytes"), "%s", errmsg());
	name[255] = '\0';
	cr_assert_eq(devsys__docker_image_check(name), 0, "255 bytes is fine");
}

Test(docker_validate, env_entries)
{
	cr_assert_eq(devsys__docker_env_check("PATH", "/bin:/usr/bin"), 0);
	cr_assert_eq(devsys__docker_env_check("EMPTY", ""), 0);
	cr_assert_eq(devsys__docker_env_check("X", "a=b=c"), 0, "'=' in a value is fine");
	cr_assert_eq(devsys__docker_env_check("A=B", "v"), DEVSYS_EINVALID);
	cr_assert(strstr(errmsg(), "'A=B' contains '='"), "%s", errmsg());
	cr_assert_eq(devsys__docker_env_check("", "v"), DEVSYS_EINVALID);
	cr_assert_eq(devsys__docker_env_check("TOKEN", "tok-VALUE-1\nINJECTED=1"), DEVSYS_EINVALID);
	cr_assert(strstr(errmsg(), "'TOKEN'") && strstr(errmsg(), "newline"), "%s", errmsg());
	cr_assert_null(strstr(errmsg(), "VALUE"), "the value never appears: %s", errmsg());
	cr_assert_eq(devsys__docker_env_check("CR", "a\rb"), DEVSYS_EINVALID);
	cr_assert_eq(devsys__docker_env_check("A\nB", "v"), DEVSYS_EINVALID);
}

Test(docker_version, negotiation)
{
	char v[16];
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), "1.41", "1.12"), 0, "%s", errmsg());
	cr_assert_str_eq(v, "1.41");
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), "1.47", "1.24"), 0, "a newer engine");
	cr_assert_str_eq(v, DEVSYS__DOCKER_API_MAX, "the client asks for what it was written against");
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), "1.30", NULL), 0, "an older engine, no minimum known");
	cr_assert_str_eq(v, "1.30");
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), "1.25", NULL), 0);
	cr_assert_str_eq(v, "1.25", "the oldest the client speaks");
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), "1.24", NULL), DEVSYS_ENOTSUPPORTED);
	cr_assert(strstr(errmsg(), "API 1.24 at most") && strstr(errmsg(), "1.25 or newer"), "%s", errmsg());
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), "2.3", "1.44"), DEVSYS_ENOTSUPPORTED);
	cr_assert(strstr(errmsg(), "needs API 1.44 or newer"), "%s", errmsg());
	const char *bad[] = { "", "1", "1.", ".41", "v1.41", "1.41.0", "1.41 ", "1.x", "99999.1", NULL };
	for (int i = 0; i < 9; i++) {
		cr_assert_eq(devsys__docker_api_version(v, sizeof(v), bad[i], NULL), DEVSYS_EPARSE, "'%s'", bad[i]);
		cr_assert(strstr(errmsg(), "is not MAJOR.MINOR"), "%s", errmsg());
	}
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), NULL, NULL), DEVSYS_EPARSE);
	cr_assert_eq(devsys__docker_api_version(v, sizeof(v), "1.41", "one"), DEVSYS_EPARSE);
	cr_assert_eq(devsys__docker_api_version(v, 3, "1.41", NULL), DEVSYS_EINVAL, "a short buffer");
}

/* The engine's path stat (base64 JSON, as dockerd 20.10 sends it for a HEAD on an archive):
 * a regular file and a directory (Go's os.ModeDir bit), and headers that are not one. */
Test(docker_endpoint, the_path_stat_header_tells_a_file_from_a_directory)
{
	bool is_dir = true;
	cr_assert_eq(devsys__docker_path_stat_parse(&is_dir, "eyJuYW1lIjoianVuaXQueG1sIiwic2l6ZSI6MTIwLCJtb2RlIjo0MjAsIm10aW1lIjoiMjAy"
	                                                     "Ni0xMi0wMVQxMDowMDowMFoiLCJsaW5rVGFyZ2V0IjoiIn0="),
	             0, "%s", errmsg());
	cr_assert(!is_dir, "mode 0644 is a file");
	/* {"name":"reports","mode":2147484141} */
	cr_assert_eq(devsys__docker_path_stat_parse(&is_dir, "eyJuYW1lIjoicmVwb3J0cyIsIm1vZGUiOjIxNDc0ODQxNDF9"), 0, "%s", errmsg());
	cr_assert(is_dir, "the ModeDir bit is a directory");
	cr_assert_eq(devsys__docker_path_stat_parse(&is_dir, "not base64!"), DEVSYS_ESYSTEM);
	cr_assert_eq(devsys__docker_path_stat_parse(&is_dir, "eyJtb2RlIjoieCJ9"), DEVSYS_ESYSTEM, "mode is a string");
	cr_assert_eq(devsys__docker_path_stat_parse(&is_dir, NULL), DEVSYS_ESYSTEM);
}
