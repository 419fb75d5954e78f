/*
 * Branch names, protected-branch patterns and remote URLs: pure string
 * checks, no libgit2 (so they need no devsys_init() and are fuzzed).
 */
#include "git_int.h"

#include <fnmatch.h>
#include <string.h>
#include <time.h>

/* Stricter than git's check-ref-format: anything a shell, a URL or a
 * reviewer could misread is refused too. */
int devsys__git_refname_check(const char *name)
{
	size_t len;
	const char *why = NULL;

	if (!name)
		return devsys__error_set(DEVSYS_EINVAL, "branch name must not be NULL");
	len = strlen(name);
	if (len == 0)
		why = "it is empty";
	else if (len > 200)
		why = "it is longer than 200 characters";
	else if (name[0] == '-')
		why = "it starts with '-'";
	else if (name[0] == '/' || name[len - 1] == '/')
		why = "it starts or ends with '/'";
	else if (name[len - 1] == '.')
		why = "it ends with '.'";
	else if (len >= 5 && strcmp(name + len - 5, ".lock") == 0)
		why = "it ends with '.lock'";
	else if (strstr(name, ".."))
		why = "it contains '..'";
	else if (strstr(name, "@{"))
		why = "it contains '@{'";
	else if (strstr(name, "//"))
		why = "it contains '//'";
	else if (strcmp(name, "@") == 0 || strcmp(name, "HEAD") == 0)
		why = "it is a reserved name";
	if (!why) {
		for (size_t i = 0; i < len && !why; i++) {
			unsigned char c = (unsigned char)name[i];
			if (c < 0x20 || c == 0x7f)
				why = "it contains a control character";
			else if (c == ' ')
				why = "it contains a space";
			else if (strchr("~^:?*[\\", c))
				why = "it contains one of ~ ^ : ? * [ \\";
			else if (c >= 0x80)
				why = "it contains a non-ASCII byte";
			else if (c == '/' && name[i + 1] == '.')
				why = "a path component starts with '.'";
			else if (c == '.' && i + 5 <= len && strncmp(name + i, ".lock/", 6) == 0)
				why = "a path component ends with '.lock'";
		}
		if (!why && name[0] == '.')
			why = "it starts with '.'";
	}
	if (why) {
		/* Show the name escaped: it may carry control characters. */
		char shown[96];
		size_t o = 0;
		for (size_t i = 0; name[i] && o + 5 < sizeof(shown); i++) {
			unsigned char c = (unsigned char)name[i];
			if (c < 0x20 || c >= 0x7f) {
				static const char hex[] = "0123456789abcdef";
				shown[o++] = '\\';
				shown[o++] = 'x';
				shown[o++] = hex[c >> 4];
				shown[o++] = hex[c & 15];
			} else {
				shown[o++] = (char)c;
			}
		}
		shown[o] = '\0';
		return devsys__error_set(DEVSYS_EINVALID,
		                         "branch name '%s' is not a valid git ref name: %s; change the branch "
		                         "template or the task id",
		                         shown, why);
	}
	return 0;
}

int devsys_repo_branch_name(devsys_buf *out, const char *template_, const char *task_id, const char *slug)
{
	const char *p;
	char date[16];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(task_id);
	if ((rc = devsys_task_id_check(task_id)) < 0)
		return devsys__error_set(DEVSYS_EINVALID, "task id cannot make a branch name: %s",
		                         devsys_error_message(devsys_error_last()));
	if (!template_)
		template_ = "task/{id}";
	if (!slug)
		slug = "";
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	devsys_buf_clear(out);
	for (p = template_; *p;) {
		if (strncmp(p, "{id}", 4) == 0) {
			rc = devsys_buf_puts(out, task_id);
			p += 4;
		} else if (strncmp(p, "{slug}", 6) == 0) {
			rc = devsys_buf_puts(out, slug);
			p += 6;
		} else if (strncmp(p, "{date}", 6) == 0) {
			rc = devsys_buf_puts(out, date);
			p += 6;
		} else if (*p == '{') {
			return devsys__error_set(DEVSYS_EINVALID,
			                         "branch template '%.100s' has an unknown placeholder at '%.20s' "
			                         "(known: {id}, {slug}, {date})",
			                         template_, p);
		} else {
			rc = devsys_buf_put(out, p, 1);
			p++;
		}
		if (rc < 0)
			return rc;
	}
	if (!out->ptr && (rc = devsys_buf_puts(out, "")) < 0)
		return rc;
	return devsys__git_refname_check(out->ptr);
}

int devsys__git_pattern_match(const char *pattern, const char *branch)
{
	/* No FNM_PATHNAME: the pattern release/(star) also protects "release/a/b". */
	return fnmatch(pattern, branch, 0) == 0;
}

static const char *const default_protected[] = { "main", "master", "release/*" };

int devsys_repo_branch_is_protected(const char *branch, const char *remote_default, const devsys_repo_options *opts)
{
	if (!branch)
		return DEVSYS_EINVAL;
	for (size_t i = 0; i < sizeof(default_protected) / sizeof(default_protected[0]); i++)
		if (devsys__git_pattern_match(default_protected[i], branch))
			return 1;
	if (remote_default && *remote_default && strcmp(remote_default, branch) == 0)
		return 1;
	if (opts && opts->version >= 1 && opts->protected_branches)
		for (size_t i = 0; i < opts->nprotected_branches; i++)
			if (opts->protected_branches[i] && devsys__git_pattern_match(opts->protected_branches[i], branch))
				return 1;
	return 0;
}

/* "scheme://[userinfo@]host..." : where the authority starts, or NULL. */
static const char *after_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);
	return strncmp(url, scheme, n) == 0 ? url + n : NULL;
}

int devsys__git_url_redact(devsys_buf *out, const char *url)
{
	const char *auth = strstr(url, "://");
	const char *at, *slash, *colon;

	devsys_buf_clear(out);
	if (!auth || auth == url)
		return devsys_buf_puts(out, url);
	/* Only "scheme://" at the start makes a URL; "/a://b" is a path. */
	for (const char *p = url; p < auth; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
		      *p == '-' || *p == '.'))
			return devsys_buf_puts(out, url);
	auth += 3;
	slash = strchr(auth, '/');
	at = memchr(auth, '@', slash ? (size_t)(slash - auth) : strlen(auth));
	if (!at)
		return devsys_buf_puts(out, url);
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (!colon)
		return devsys_buf_puts(out, url);
	if (devsys_buf_put(out, url, (size_t)(colon - url)) < 0 || devsys_buf_puts(out, ":***") < 0)
		return DEVSYS_ENOMEM;
	return devsys_buf_puts(out, at);
}

int devsys__git_url_check(const char *url, int *is_ssh, int *is_https)
{
	const char *rest = NULL;
	int ssh = 0, https = 0, file = 0;

	if (!url || !*url)
		return devsys__error_set(DEVSYS_EINVAL, "repository URL is empty; set repo.url");
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ' ')
			return devsys__error_set(DEVSYS_EINVAL,
			                         "repository URL contains a space or control character; "
			                         "percent-encode it");
	if ((rest = after_scheme(url, "https://")) != NULL)
		https = 1;
	else if ((rest = after_scheme(url, "http://")) != NULL)
		https = 0;
	else if ((rest = after_scheme(url, "ssh://")) != NULL)
		ssh = 1;
	else if ((rest = after_scheme(url, "file://")) != NULL)
		file = 1; /* file:///path: the authority is empty */
	else if (url[0] == '/')
		rest = NULL;
	else if (strstr(url, "://")) {
		const char *e = strstr(url, "://");
		return devsys__error_set(DEVSYS_EINVAL,
		                         "repository URL scheme '%.*s' is not allowed (https, http, ssh, file, "
		                         "user@host:path or an absolute path)",
		                         (int)(e - url > 20 ? 20 : e - url), url);
	} else {
		/* scp-like "user@host:path"; the ':' must come before any '/'. */
		const char *colon = strchr(url, ':');
		const char *slash = strchr(url, '/');
		if (!colon || (slash && slash < colon) || colon == url || colon[1] == '\0')
			return devsys__error_set(DEVSYS_EINVAL,
			                         "repository URL '%.200s' is neither a URL nor user@host:path nor an "
			                         "absolute path",
			                         url);
		ssh = 1;
	}
	if (rest) {
		const char *slash = strchr(rest, '/');
		size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
		const char *at = memchr(rest, '@', alen);
		if ((alen == 0 && !file) || (at && at == rest + alen - 1))
			return devsys__error_set(DEVSYS_EINVAL, "repository URL has no host; give scheme://host/path");
		if (at && memchr(rest, ':', (size_t)(at - rest))) {
			devsys_buf shown = DEVSYS_BUF_INIT;
			int rc;
			devsys__git_url_redact(&shown, url);
			rc = devsys__error_set(DEVSYS_EINVAL,
			                       "repository URL '%.200s' carries a password or token; remove it from the "
			                       "URL and supply it through the credential chain (e.g. GITHUB_TOKEN)",
			                       shown.ptr ? shown.ptr : "");
			devsys_buf_dispose(&shown);
			return rc;
		}
	}
	if (is_ssh)
		*is_ssh = ssh;
	if (is_https)
		*is_https = https;
	return 0;
}

int devsys__git_plain_http_remote(const char *url)
{
	const char *h, *end;
	size_t n;
	if (!url || strncmp(url, "http://", 7) != 0)
		return 0;
	h = url + 7;
	end = h + strcspn(h, "/");
	{
		const char *at = memchr(h, '@', (size_t)(end - h));
		if (at)
			h = at + 1;
	}
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		n = rb ? (size_t)(rb - h + 1) : (size_t)(end - h);
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));
		n = colon ? (size_t)(colon - h) : (size_t)(end - h);
	}
	if ((n == 9 && strncmp(h, "localhost", 9) == 0) || (n == 5 && strncmp(h, "[::1]", 5) == 0))
		return 1; /* loopback: nothing leaves the machine */
	if (n >= 7 && strncmp(h, "127.", 4) == 0) {
		/* An IPv4 literal in 127/8, not a name such as 127.0.0.1.example.com. */
		for (size_t i = 0; i < n; i++)
			if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
				return 2;
		return 1;
	}
	return 2;
}
