/*
 * Docker endpoints: "unix:///path" and "tcp://host[:port]", chosen by the
 * ecosystem's rule (profile, then DOCKER_HOST, then the default socket).
 */
#include "docker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int devsys__unix_path_check(const char *path, const char *what)
{
	size_t n = path ? strlen(path) : 0;
	if (n >= DEVSYS__SUN_PATH_MAX)
		return devsys__error_set(DEVSYS_ELIMIT,
		                         "%s: unix socket path '%s' is %zu bytes; a unix socket path holds at most %d "
		                         "bytes (sun_path is %d bytes with its terminating NUL): use a shorter path",
		                         what, path, n, DEVSYS__SUN_PATH_MAX - 1, DEVSYS__SUN_PATH_MAX);
	return 0;
}

void devsys__docker_endpoint_dispose(devsys__docker_endpoint *ep)
{
	if (!ep)
		return;
	devsys__free(ep->spec);
	devsys__free(ep->path);
	devsys__free(ep->host);
	devsys__free(ep->base_url);
	memset(ep, 0, sizeof(*ep));
}

static int bad(const char *spec, const char *source, const char *why)
{
	return devsys__error_set(DEVSYS_EINVALID, "docker endpoint '%.300s' (from %s): %s", spec, source, why);
}

static int parse_unix(devsys__docker_endpoint *ep, const char *spec, const char *path)
{
	char what[400];
	int rc;
	if (path[0] != '/')
		return bad(spec, ep->source, "a unix endpoint needs an absolute socket path: unix:///path/to/docker.sock");
	snprintf(what, sizeof(what), "docker endpoint (from %s)", ep->source);
	if ((rc = devsys__unix_path_check(path, what)) < 0)
		return rc;
	ep->kind = DEVSYS__DOCKER_UNIX;
	ep->path = devsys__strdup(path);
	/* libcurl needs a host name in the URL; the socket is what it connects to. */
	ep->base_url = devsys__strdup("http://docker");
	return ep->path && ep->base_url ? 0 : devsys__error_oom();
}

static int parse_port(const char *s, int *port)
{
	long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || (v = v * 10 + (*s - '0')) > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = (int)v;
	return 0;
}

static bool host_ok(const char *h, size_t n, bool v6)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		          c == '.' || (v6 && (c == ':' || c == '%'));
		if (!ok)
			return false;
	}
	return true;
}

static int parse_tcp(devsys__docker_endpoint *ep, const char *spec, const char *rest, bool tls)
{
	const char *host = rest, *end, *port = NULL;
	bool v6 = false;
	size_t hlen;
	if (strpbrk(rest, "/?#@"))
		return bad(spec, ep->source, "a tcp endpoint is tcp://host[:port], without a path, query or user");
	if (*rest == '[') {
		if (!(end = strchr(rest, ']')))
			return bad(spec, ep->source, "unclosed '[' in an IPv6 address");
		host = rest + 1;
		hlen = (size_t)(end - host);
		v6 = true;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1])
			return bad(spec, ep->source, "unexpected text after the IPv6 address");
	} else {
		end = strchr(rest, ':');
		hlen = end ? (size_t)(end - rest) : strlen(rest);
		port = end ? end + 1 : NULL;
	}
	if (!host_ok(host, hlen, v6))
		return bad(spec, ep->source, "the host is empty or holds characters a host name cannot have");
	ep->port = tls ? 2376 : 2375;
	if (port && parse_port(port, &ep->port) != 0)
		return bad(spec, ep->source, "the port must be a number from 1 to 65535");
	ep->kind = DEVSYS__DOCKER_TCP;
	ep->tls = tls;
	ep->host = devsys__strndup(host, hlen);
	ep->base_url = devsys__asprintf("%s://%s%.*s%s:%d", tls ? "https" : "http", v6 ? "[" : "", (int)hlen, host,
	                                v6 ? "]" : "", ep->port);
	return ep->host && ep->base_url ? 0 : devsys__error_oom();
}

int devsys__docker_endpoint_parse(devsys__docker_endpoint *out, const char *spec, bool tls, const char *source)
{
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(spec);
	memset(out, 0, sizeof(*out));
	out->source = source ? source : "profile";
	if (!(out->spec = devsys__strdup(spec)))
		return devsys__error_oom();
	if (strncmp(spec, "unix://", 7) == 0)
		rc = parse_unix(out, spec, spec + 7);
	else if (strncmp(spec, "tcp://", 6) == 0)
		rc = parse_tcp(out, spec, spec + 6, tls);
	else
		rc = bad(spec, out->source, "unsupported scheme: use unix:///path/to/docker.sock or tcp://host:port");
	if (rc < 0) {
		const char *src = out->source;
		devsys__docker_endpoint_dispose(out);
		out->source = src;
	}
	return rc;
}

int devsys__docker_endpoint_resolve(devsys__docker_endpoint *out, const char *profile_host,
                                    const char *docker_host_env, bool tls)
{
	if (profile_host && *profile_host)
		return devsys__docker_endpoint_parse(out, profile_host, tls, "profile");
	if (docker_host_env && *docker_host_env)
		return devsys__docker_endpoint_parse(out, docker_host_env, tls, "DOCKER_HOST");
	return devsys__docker_endpoint_parse(out, DEVSYS__DOCKER_DEFAULT_HOST, tls, "default");
}
