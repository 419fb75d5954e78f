/*
 * Checks for inputs that the Docker client puts into the API's JSON. Image
 * names follow Docker's reference grammar (distribution/reference); env
 * entries are NAME=value strings, so '=' in a name or a newline anywhere
 * would change what the container sees.
 */
#include "docker_int.h"

#include <string.h>

#define GRAMMAR "an image reference is [host[:port]/]name[/name...][:tag][@algorithm:hex], names in lower case"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int bad_image(const char *image, const char *why)
{
	return devsys__error_set(DEVSYS_EINVALID, "image '%.300s': %s (%s)", image, why, GRAMMAR);
}

/* alpha-numeric (separator alpha-numeric)*, separator = '.' | '_' | '__' | '-'+ */
static bool path_component_ok(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	while (i < n) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		size_t j = i;
		if (s[i] == '.')
			j = i + 1;
		else if (s[i] == '_')
			j = (i + 1 < n && s[i + 1] == '_') ? i + 2 : i + 1;
		else if (s[i] == '-')
			while (j < n && s[j] == '-')
				j++;
		else
			return false;
		if (j >= n || !is_lower_alnum(s[j]))
			return false;
		i = j;
	}
	return true;
}

/* domain-component ('.' domain-component)* [':' port] */
static bool domain_ok(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t host = colon ? (size_t)(colon - s) : n, i = 0;
	if (colon) {
		if (colon + 1 == s + n)
			return false;
		for (const char *p = colon + 1; p < s + n; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	while (i < host) {
		size_t j = i;
		while (j < host && s[j] != '.')
			j++;
		if (j == i || !is_alnum(s[i]) || !is_alnum(s[j - 1]))
			return false;
		for (size_t k = i; k < j; k++)
			if (!is_alnum(s[k]) && s[k] != '-')
				return false;
		i = j + 1;
		if (j < host && i == host)
			return false; /* trailing dot */
	}
	return host > 0;
}

static bool digest_ok(const char *d)
{
	const char *colon = strchr(d, ':');
	size_t hex = 0;
	if (!colon || colon == d)
		return false;
	for (const char *p = d; p < colon; p++) {
		bool sep = *p == '+' || *p == '.' || *p == '-' || *p == '_';
		if (sep ? (p == d || p + 1 == colon || p[-1] == '+' || p[-1] == '.' || p[-1] == '-' || p[-1] == '_')
		        : !(is_alnum(*p) && (p == d ? !(*p >= '0' && *p <= '9') : true)))
			return false;
	}
	for (const char *p = colon + 1; *p; p++, hex++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
			return false;
	return hex >= 32;
}

static bool tag_ok(const char *t, size_t n)
{
	if (n == 0 || n > 128 || !(is_alnum(t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(is_alnum(t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

static bool looks_like_domain(const char *s, size_t n)
{
	if (n == 9 && memcmp(s, "localhost", 9) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
			return true;
	return false;
}

static int name_check(const char *image, const char *name, size_t n)
{
	const char *slash = memchr(name, '/', n), *p = name, *end = name + n;
	if (n > 255)
		return bad_image(image, "the name is longer than 255 bytes");
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		if (!domain_ok(name, (size_t)(slash - name)))
			return bad_image(image, "the registry host is not a valid host[:port]");
		p = slash + 1;
	}
	if (p == end)
		return bad_image(image, "the name is empty");
	while (p <= end) {
		const char *next = memchr(p, '/', (size_t)(end - p));
		size_t len = next ? (size_t)(next - p) : (size_t)(end - p);
		if (!path_component_ok(p, len))
			return bad_image(image, "a name component is empty or is not lower-case letters and digits "
			                        "joined by '.', '_', '__' or '-'");
		if (!next)
			break;
		p = next + 1;
	}
	return 0;
}

int devsys__docker_image_check(const char *image)
{
	const char *at, *colon, *slash;
	size_t name_len;
	DEVSYS__CHECK_ARG(image);
	if (!*image)
		return devsys__error_set(DEVSYS_EINVALID, "image '': an empty image name (%s)", GRAMMAR);
	for (const char *p = image; *p; p++) {
		char c = *p;
		if (!(is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@' || c == '+')) {
			if ((unsigned char)c < 0x20 || c == 0x7f)
				return devsys__error_set(DEVSYS_EINVALID, "image '%.300s': control byte 0x%02x at offset %zu is not "
				                         "allowed (%s)", image, (unsigned char)c, (size_t)(p - image), GRAMMAR);
			return devsys__error_set(DEVSYS_EINVALID, "image '%.300s': character '%c' at offset %zu is not allowed (%s)",
			                         image, c, (size_t)(p - image), GRAMMAR);
		}
	}
	at = strchr(image, '@');
	if (at && (strchr(at + 1, '@') || !digest_ok(at + 1)))
		return bad_image(image, "the digest is not algorithm:hex with at least 32 hex digits");
	name_len = at ? (size_t)(at - image) : strlen(image);
	if (name_len == 0)
		return bad_image(image, "the name is empty");
	/* A ':' after the last '/' starts the tag; one before it is a registry port. */
	colon = NULL;
	slash = NULL;
	for (const char *p = image; p < image + name_len; p++) {
		if (*p == '/')
			slash = p;
		else if (*p == ':')
			colon = p;
	}
	if (colon && (!slash || colon > slash)) {
		if (!tag_ok(colon + 1, (size_t)(image + name_len - colon - 1)))
			return bad_image(image, "the tag is not 1-128 of [A-Za-z0-9_.-] starting with a letter, digit or '_'");
		name_len = (size_t)(colon - image);
	}
	return name_check(image, image, name_len);
}

int devsys__docker_env_check(const char *name, const char *value)
{
	DEVSYS__CHECK_ARG(name);
	if (!*name)
		return devsys__error_set(DEVSYS_EINVALID, "env: a variable name is empty");
	if (strchr(name, '='))
		return devsys__error_set(DEVSYS_EINVALID, "env name '%.200s' contains '=': a name cannot hold '=' "
		                         "(Docker's Env is a list of NAME=value strings)", name);
	if (strpbrk(name, "\n\r"))
		return devsys__error_set(DEVSYS_EINVALID, "env name '%.200s' contains a newline: refused", name);
	if (value && strpbrk(value, "\n\r"))
		return devsys__error_set(DEVSYS_EINVALID, "env '%.200s': the value contains a newline, which Docker's "
		                         "NAME=value list cannot carry safely: refused (the value is not shown)", name);
	return 0;
}
