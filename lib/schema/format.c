/*
 * `format` checks, used when format assertion is on.
 */
#include "schema/schema_int.h"

#include <string.h>

static const struct {
	const char *name;
	int fmt;
} formats[] = {
	{ "date-time", F_DATE_TIME }, { "date", F_DATE }, { "time", F_TIME }, { "duration", F_DURATION },
	{ "email", F_EMAIL }, { "hostname", F_HOSTNAME }, { "ipv4", F_IPV4 }, { "ipv6", F_IPV6 },
	{ "uri", F_URI }, { "uri-reference", F_URI_REFERENCE }, { "uuid", F_UUID }, { "regex", F_REGEX },
	{ "json-pointer", F_JSON_POINTER }, { "relative-json-pointer", F_REL_JSON_POINTER },
};

int devsys__format_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i].name, name) == 0)
			return formats[i].fmt;
	return F_OTHER;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static bool is_date(const char *s, size_t len)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) || !digits(s + 8, 2))
		return false;
	int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

static bool is_time(const char *s, size_t len)
{
	if (len < 9 || s[2] != ':' || s[5] != ':' || !digits(s, 2) || !digits(s + 3, 2) || !digits(s + 6, 2))
		return false;
	int h = num(s, 2), mi = num(s + 3, 2), se = num(s + 6, 2);
	size_t i = 8;
	if (i < len && s[i] == '.') {
		size_t st = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == st)
			return false;
	}
	if (i >= len)
		return false;
	int oh = 0, om = 0, sign = 0;
	if (s[i] == 'Z' || s[i] == 'z') {
		if (i + 1 != len)
			return false;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '+' ? 1 : -1;
		if (len - i != 6 || s[i + 3] != ':' || !digits(s + i + 1, 2) || !digits(s + i + 4, 2))
			return false;
		oh = num(s + i + 1, 2);
		om = num(s + i + 4, 2);
		if (oh > 23 || om > 59)
			return false;
	} else {
		return false;
	}
	if (h > 23 || mi > 59 || se > 60)
		return false;
	if (se == 60) {
		/* leap second: only at 23:59:60 UTC */
		int utc = h * 60 + mi - sign * (oh * 60 + om);
		utc = ((utc % 1440) + 1440) % 1440;
		if (utc != 23 * 60 + 59)
			return false;
	}
	return true;
}

static bool is_hostname(const char *s, size_t len)
{
	if (len == 0 || len > 253)
		return false;
	size_t lab = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return false;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && lab == 0)
			return false;
		if (++lab > 63)
			return false;
	}
	return lab > 0 && s[len - 1] != '-';
}

static bool is_ipv4(const char *s, size_t len)
{
	int parts = 0;
	size_t i = 0;
	while (i <= len) {
		size_t st = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		size_t n = i - st;
		if (n == 0 || n > 3 || (n > 1 && s[st] == '0') || num(s + st, n) > 255)
			return false;
		parts++;
		if (i == len)
			break;
		if (s[i] != '.')
			return false;
		i++;
	}
	return parts == 4;
}

static bool is_ipv6(const char *s, size_t len)
{
	int groups = 0;
	bool dbl = false;
	size_t i = 0;
	if (len < 2)
		return false;
	if (s[0] == ':') {
		if (s[1] != ':')
			return false;
		dbl = true;
		i = 2;
		if (i == len)
			return true;
	}
	while (i < len) {
		size_t st = i;
		while (i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			i++;
		if (i < len && s[i] == '.') {
			/* embedded IPv4 at the end */
			if (!is_ipv4(s + st, len - st))
				return false;
			groups += 2;
			i = len;
			break;
		}
		size_t n = i - st;
		if (n == 0 || n > 4)
			return false;
		groups++;
		if (i == len)
			break;
		if (s[i] != ':')
			return false;
		i++;
		if (i < len && s[i] == ':') {
			if (dbl)
				return false;
			dbl = true;
			i++;
			if (i == len)
				break;
		} else if (i == len) {
			return false;
		}
	}
	return dbl ? groups < 8 : groups == 8;
}

static bool is_uri_ref(const char *s, size_t len, bool need_scheme)
{
	size_t i = 0;
	bool scheme = false;
	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)s[k];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' ||
		    c == '{' || c == '|' || c == '}')
			return false;
		if (c == '%' && (k + 2 >= len + 0 || !strchr("0123456789abcdefABCDEF", s[k + 1]) ||
		                 !strchr("0123456789abcdefABCDEF", s[k + 2])))
			return false;
	}
	if (len && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
		i = 1;
		while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		                   (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.'))
			i++;
		scheme = i < len && s[i] == ':';
	}
	if (need_scheme && !scheme)
		return false;
	if (scheme) {
		/* authority with '[' must be a bracketed IPv6; a port must be digits */
		const char *a = s + i + 1;
		if (len - i - 1 >= 2 && a[0] == '/' && a[1] == '/') {
			const char *e = a + 2;
			while (e < s + len && *e != '/' && *e != '?' && *e != '#')
				e++;
			const char *at = NULL;
			for (const char *q = a + 2; q < e; q++)
				if (*q == '@')
					at = q;
			const char *host = at ? at + 1 : a + 2;
			if (host < e && *host == '[') {
				const char *rb = memchr(host, ']', (size_t)(e - host));
				if (!rb)
					return false;
			} else {
				const char *colon = memchr(host, ':', (size_t)(e - host));
				if (colon && !digits(colon + 1, (size_t)(e - colon - 1)))
					return false;
			}
		}
	}
	(void)i;
	return true;
}

static bool is_uuid(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdefABCDEF", s[i]) || s[i] == '\0') {
			return false;
		}
	}
	return true;
}

static bool is_email(const char *s, size_t len)
{
	const char *at = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '@')
			at = s + i;
	if (!at || at == s || at == s + len - 1)
		return false;
	size_t local = (size_t)(at - s);
	if (local >= 2 && s[0] == '"' && s[local - 1] == '"') {
		for (size_t i = 1; i + 1 < local; i++)
			if (s[i] == '"' || s[i] == '\\')
				return false;
	} else {
		if (s[0] == '.' || s[local - 1] == '.')
			return false;
		for (size_t i = 0; i < local; i++) {
			unsigned char c = (unsigned char)s[i];
			if (i && c == '.' && s[i - 1] == '.')
				return false;
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 ||
			      strchr(".!#$%&'*+-/=?^_`{|}~", c)))
				return false;
		}
	}
	const char *dom = at + 1;
	size_t dlen = len - local - 1;
	if (dom[0] == '[' && dom[dlen - 1] == ']') {
		if (dlen > 6 && strncmp(dom + 1, "IPv6:", 5) == 0)
			return is_ipv6(dom + 6, dlen - 7);
		return is_ipv4(dom + 1, dlen - 2);
	}
	return is_hostname(dom, dlen);
}

static bool is_json_pointer(const char *s, size_t len)
{
	if (len && s[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
			return false;
	return true;
}

static bool is_duration(const char *s, size_t len)
{
	if (len < 2 || s[0] != 'P')
		return false;
	size_t i = 1;
	bool in_time = false, any = false, week = false, other = false;
	const char *order_d = "YMDW", *order_t = "HMS";
	int last = -1;
	while (i < len) {
		if (s[i] == 'T') {
			if (in_time)
				return false;
			in_time = true;
			last = -1;
			i++;
			if (i == len)
				return false;
			continue;
		}
		size_t st = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == st || i == len)
			return false;
		const char *ord = in_time ? order_t : order_d;
		const char *p = strchr(ord, s[i]);
		if (!p || s[i] == '\0')
			return false;
		int pos = (int)(p - ord);
		if (pos <= last)
			return false;
		/* RFC 3339 appendix A: Y[M[D]], M[D], D, W; H[M[S]], M[S], S */
		if (last >= 0 && pos != last + 1)
			return false;
		last = pos;
		if (!in_time && s[i] == 'W')
			week = true;
		else
			other = true;
		any = true;
		i++;
	}
	if (week && other)
		return false;
	return any;
}

bool devsys__format_check(int fmt, const char *s, size_t len)
{
	switch (fmt) {
	case F_DATE_TIME: {
		if (len < 20 || (s[10] != 'T' && s[10] != 't'))
			return false;
		return is_date(s, 10) && is_time(s + 11, len - 11);
	}
	case F_DATE: return is_date(s, len);
	case F_TIME: return is_time(s, len);
	case F_DURATION: return is_duration(s, len);
	case F_EMAIL: return is_email(s, len);
	case F_HOSTNAME: return is_hostname(s, len);
	case F_IPV4: return is_ipv4(s, len);
	case F_IPV6: return is_ipv6(s, len);
	case F_URI: return is_uri_ref(s, len, true);
	case F_URI_REFERENCE: return is_uri_ref(s, len, false);
	case F_UUID: return is_uuid(s, len);
	case F_JSON_POINTER: return is_json_pointer(s, len);
	case F_REL_JSON_POINTER: {
		size_t i = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == 0 || (i > 1 && s[0] == '0'))
			return false;
		if (i == len)
			return true;
		if (s[i] == '#')
			return i + 1 == len;
		return is_json_pointer(s + i, len - i);
	}
	case F_REGEX: {
		int err;
		/* not ECMA-262: Python named groups, comments, global inline flags, \a */
		for (size_t i = 0; i + 1 < len; i++) {
			if (s[i] == '\\') {
				if (s[i + 1] == 'a')
					return false;
				i++;
				continue;
			}
			if (s[i] == '(' && s[i + 1] == '?' && i + 2 < len) {
				char c = s[i + 2];
				if (c == 'P' || c == '#')
					return false;
				size_t k = i + 2;
				while (k < len && (s[k] == 'i' || s[k] == 'm' || s[k] == 's' || s[k] == 'x'))
					k++;
				if (k > i + 2 && k < len && s[k] == ')')
					return false;
			}
		}
		PCRE2_SIZE off;
		devsys_buf tr = DEVSYS_BUF_INIT;
		if (devsys__regex_translate(&tr, s, len) != 0) {
			devsys_buf_dispose(&tr);
			return false;
		}
		pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
		if (cc)
			pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
		pcre2_code *c = pcre2_compile((PCRE2_SPTR)(tr.ptr ? tr.ptr : ""), tr.size, PCRE2_UTF | PCRE2_ALT_BSUX, &err,
		                              &off, cc);
		pcre2_compile_context_free(cc);
		devsys_buf_dispose(&tr);
		if (!c)
			return false;
		pcre2_code_free(c);
		return true;
	}
	default: return true;
	}
}
