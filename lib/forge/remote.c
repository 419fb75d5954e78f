/*
 * Splitting a git remote URL into the host (which `forges:` entry), the
 * owner and the repository name.
 */
#include "forge_int.h"

#include <ctype.h>
#include <string.h>

static char *strip_git(const char *s, size_t n)
{
	while (n && s[n - 1] == '/')
		n--;
	if (n > 4 && memcmp(s + n - 4, ".git", 4) == 0)
		n -= 4;
	return devsys__strndup(s, n);
}

/* "owner/sub/repo" into owner "owner/sub" and repo "repo". */
static int split_path(char **owner, char **repo, const char *p, const char *url)
{
	const char *slash;
	size_t n;
	while (*p == '/')
		p++;
	n = strlen(p);
	while (n && p[n - 1] == '/')
		n--;
	slash = NULL;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '/')
			slash = p + i;
	if (!slash || slash == p || (size_t)(slash - p) + 1 >= n)
		return devsys__error_set(DEVSYS_EINVAL, "remote '%.200s': no owner/repository in its path", url);
	if (!(*owner = devsys__strndup(p, (size_t)(slash - p))) ||
	    !(*repo = strip_git(slash + 1, n - (size_t)(slash - p) - 1)))
		return devsys__error_oom();
	if (!**repo)
		return devsys__error_set(DEVSYS_EINVAL, "remote '%.200s': empty repository name", url);
	return 0;
}

int devsys__forge_parse_remote(char **host, char **owner, char **repo, char **path, const char *url)
{
	const char *p, *h, *he, *at;
	int rc;
	*host = *owner = *repo = *path = NULL;
	if (url[0] == '/' || strncmp(url, "file://", 7) == 0) {
		const char *fp = url[0] == '/' ? url : url + 7;
		const char *base;
		size_t n = strlen(fp);
		if (fp[0] != '/')
			return devsys__error_set(DEVSYS_EINVAL, "remote '%.200s': a file:// URL needs an absolute path", url);
		while (n > 1 && fp[n - 1] == '/')
			n--;
		base = fp + n;
		while (base > fp && base[-1] != '/')
			base--;
		if (!(*host = devsys__strdup("")) || !(*path = devsys__strndup(fp, n)) || !(*owner = devsys__strdup("local")) ||
		    !(*repo = strip_git(base, (size_t)(fp + n - base))))
			return devsys__error_oom();
		return 0;
	}
	if ((p = strstr(url, "://")) != NULL) {
		h = p + 3;
		he = h + strcspn(h, "/");
		at = memchr(h, '@', (size_t)(he - h));
		if (at) {
			/* ssh://git@host is fine; https://user:token@host never reaches here with a secret */
			if (memchr(h, ':', (size_t)(at - h)))
				return devsys__error_set(DEVSYS_EINVAL, "remote URL must not carry credentials");
			h = at + 1;
		}
		if (he == h)
			return devsys__error_set(DEVSYS_EINVAL, "remote '%.200s': no host", url);
		if (!(*host = devsys__strndup(h, (size_t)(he - h))))
			return devsys__error_oom();
		/* ssh's default port says nothing about the forge: match by host only */
		if (strncmp(url, "ssh://", 6) == 0) {
			char *colon = strchr(*host, ':');
			if (colon)
				*colon = '\0';
		}
		rc = split_path(owner, repo, he, url);
	} else if ((p = strchr(url, ':')) != NULL && !memchr(url, '/', (size_t)(p - url))) {
		/* scp-like user@host:owner/repo */
		h = strchr(url, '@');
		h = (h && h < p) ? h + 1 : url;
		if (p == h)
			return devsys__error_set(DEVSYS_EINVAL, "remote '%.200s': no host", url);
		if (!(*host = devsys__strndup(h, (size_t)(p - h))))
			return devsys__error_oom();
		rc = split_path(owner, repo, p + 1, url);
	} else {
		return devsys__error_set(DEVSYS_EINVAL, "remote '%.200s' is not a URL, scp-like address or absolute path",
		                         url);
	}
	for (char *c = *host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return rc;
}

int devsys_forge_remote_host(devsys_buf *out, const char *remote_url)
{
	char *host = NULL, *owner = NULL, *repo = NULL, *path = NULL;
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(remote_url);
	if ((rc = devsys__forge_parse_remote(&host, &owner, &repo, &path, remote_url)) == 0 &&
	    devsys_buf_puts(out, host) < 0)
		rc = devsys__error_oom();
	devsys__free(host);
	devsys__free(owner);
	devsys__free(repo);
	devsys__free(path);
	return rc;
}
