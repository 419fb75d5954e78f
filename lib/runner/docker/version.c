/*
 * Engine API version negotiation (see docker_int.h): the client asks for the
 * highest version both sides speak, as the docker CLI does after /_ping.
 */
#include "docker_int.h"

#include <stdio.h>
#include <string.h>

/* "MAJOR.MINOR", each 1-4 digits; major * 10000 + minor, or -1. */
static long parse_version(const char *v)
{
	long major = 0, minor = 0;
	int nd = 0;
	const char *p = v;
	if (!v)
		return -1;
	for (; *p >= '0' && *p <= '9' && nd < 5; p++, nd++)
		major = major * 10 + (*p - '0');
	if (nd == 0 || nd > 4 || *p++ != '.')
		return -1;
	for (nd = 0; *p >= '0' && *p <= '9' && nd < 5; p++, nd++)
		minor = minor * 10 + (*p - '0');
	if (nd == 0 || nd > 4 || *p)
		return -1;
	return major * 10000 + minor;
}

int devsys__docker_api_version(char *out, size_t out_size, const char *engine_max, const char *engine_min)
{
	long emax = parse_version(engine_max), emin = engine_min ? parse_version(engine_min) : 0;
	long cmax = parse_version(DEVSYS__DOCKER_API_MAX), cmin = parse_version(DEVSYS__DOCKER_API_MIN);
	long pick;
	DEVSYS__CHECK_ARG(out);
	if (emax < 0)
		return devsys__error_set(DEVSYS_EPARSE, "docker engine: API version '%.40s' is not MAJOR.MINOR",
		                         engine_max ? engine_max : "(none)");
	if (emin < 0)
		return devsys__error_set(DEVSYS_EPARSE, "docker engine: minimum API version '%.40s' is not MAJOR.MINOR",
		                         engine_min);
	pick = emax < cmax ? emax : cmax;
	if (pick < cmin)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED,
		                         "docker engine speaks API %s at most; this client needs %s or newer", engine_max,
		                         DEVSYS__DOCKER_API_MIN);
	if (pick < emin)
		return devsys__error_set(DEVSYS_ENOTSUPPORTED,
		                         "docker engine needs API %s or newer; this client speaks %s to %s", engine_min,
		                         DEVSYS__DOCKER_API_MIN, DEVSYS__DOCKER_API_MAX);
	if ((size_t)snprintf(out, out_size, "%ld.%ld", pick / 10000, pick % 10000) >= out_size)
		return devsys__error_set(DEVSYS_EINVAL, "devsys__docker_api_version: output buffer too small");
	return 0;
}
