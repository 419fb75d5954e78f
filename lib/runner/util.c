/*
 * Small helpers of the runner module: quoting, env checks, local copies.
 */
#include "runner_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int devsys__sh_quote(devsys_buf *out, const char *s, size_t len)
{
	/* '...' with each ' written as '\'' : nothing inside is special to sh,
	 * including $, `, \, " and newlines. */
	if (devsys_buf_put(out, "'", 1) < 0)
		return DEVSYS_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		const char *q = memchr(s + i, '\'', len - i);
		size_t run = q ? (size_t)(q - (s + i)) : len - i;
		if (run && devsys_buf_put(out, s + i, run) < 0)
			return DEVSYS_ENOMEM;
		i += run;
		if (i < len && devsys_buf_put(out, "'\\''", 4) < 0)
			return DEVSYS_ENOMEM;
	}
	return devsys_buf_put(out, "'", 1);
}

bool devsys__env_entry_ok(const char *e)
{
	const char *eq = strchr(e, '=');
	if (!eq || eq == e)
		return false;
	if (!((e[0] >= 'A' && e[0] <= 'Z') || (e[0] >= 'a' && e[0] <= 'z') || e[0] == '_'))
		return false;
	for (const char *p = e; p < eq; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

int devsys__ms_until(uint64_t deadline_ns)
{
	uint64_t now = devsys__now_ns();
	if (now >= deadline_ns)
		return 0;
	uint64_t ms = (deadline_ns - now + 999999u) / 1000000u;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Copy the regular file @p from to the fresh file @p rel below @p dst. */
static int copy_file(const char *from, int oflags, const devsys__beneath *dst, const char *rel, mode_t mode)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC | oflags), out, rc = 0;
	if (in < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot read '%s'", from);
	if ((rc = devsys__beneath_create(&out, dst, rel, mode)) < 0) {
		close(in);
		return rc;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot read '%s'", from);
			break;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot write '%s/%s'", dst->path,
				                         rel);
				goto done;
			}
			off += w;
		}
	}
done:
	close(in);
	if (close(out) != 0 && rc == 0)
		rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot write '%s/%s'", dst->path, rel);
	return rc;
}

/* Copy the entry @p from (not followed if a link) to @p rel below @p dst. */
static int copy_children(const char *from, devsys__beneath *dst, const char *rel);

static int copy_entry(const char *from, devsys__beneath *dst, const char *rel)
{
	struct stat st;
	int rc;

	if (lstat(from, &st) != 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot copy '%s'", from);
	if (S_ISREG(st.st_mode))
		return copy_file(from, O_NOFOLLOW, dst, rel, st.st_mode);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(from, target, sizeof(target) - 1);
		if (n < 0)
			return devsys__error_errno(DEVSYS_EIO, errno, "cannot read link '%s'", from);
		target[n] = '\0';
		return devsys__beneath_symlink(dst, rel, target);
	}
	if (!S_ISDIR(st.st_mode))
		return 0; /* sockets, fifos, devices are not copied */
	if ((rc = devsys__beneath_mkdir(NULL, dst, rel, (st.st_mode & 0777) | 0700)) < 0)
		return rc;
	return copy_children(from, dst, rel);
}

/* Copy the entries of the directory @p from to @p rel (NULL: the root) below
 * @p dst; a refused entry is counted and the others still copied. */
static int copy_children(const char *from, devsys__beneath *dst, const char *rel)
{
	DIR *d = opendir(from);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot read directory '%s'", from);
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *a = devsys__asprintf("%s/%s", from, e->d_name);
		char *b = rel ? devsys__asprintf("%s/%s", rel, e->d_name) : devsys__strdup(e->d_name);
		rc = a && b ? devsys__beneath_skip(dst, copy_entry(a, dst, b)) : devsys__error_oom();
		devsys__free(a);
		devsys__free(b);
	}
	closedir(d);
	return rc;
}

int devsys__copy_tree(const char *from, const char *to)
{
	devsys__beneath dst = { .fd = -1 };
	struct stat st;
	int rc;

	/* The two paths are the caller's: @p from is followed if it is a link,
	 * and @p to is used as named. Everything below them is the source's,
	 * so it goes through devsys__beneath_* and no link in it is followed. */
	if (stat(from, &st) != 0)
		return devsys__error_errno(errno == ENOENT ? DEVSYS_ENOTFOUND : devsys__errno_code(errno), errno,
		                           "cannot copy '%s'", from);
	if (S_ISDIR(st.st_mode)) {
		if ((rc = devsys__beneath_open(&dst, to, (st.st_mode & 0777) | 0700)) == 0 &&
		    (rc = copy_children(from, &dst, NULL)) == 0)
			rc = devsys__beneath_result(&dst);
	} else if (S_ISREG(st.st_mode)) {
		const char *leaf;
		if ((rc = devsys__beneath_open_parent(&dst, &leaf, to)) == 0)
			rc = copy_file(from, 0, &dst, leaf, st.st_mode);
	} else {
		return devsys__error_set(DEVSYS_EINVAL, "cannot copy '%s': not a regular file or directory", from);
	}
	devsys__beneath_close(&dst);
	return rc;
}

/*
 * The reader run by /bin/sh on the remote side: pairs of lines "NAME" and
 * the value as printf %b octal escapes, ended by an empty line; then exec
 * the command. POSIX `read` consumes stdin byte by byte on pipes and
 * sockets, so the command's own stdin starts right after the preamble. The
 * trailing "x" keeps values that end in newlines intact through $(...).
 */
#define ENV_READER                                                                                  \
	"while IFS= read -r __devsys_n && [ -n \"$__devsys_n\" ]; do IFS= read -r __devsys_v; "             \
	"__devsys_v=$(printf '%bx' \"$__devsys_v\"); export \"$__devsys_n=${__devsys_v%x}\"; done; "        \
	"unset __devsys_n __devsys_v; exec \"$@\""
static const char env_reader[] = ENV_READER;
/* the same, for a command given no stdin: it reads /dev/null, not the channel */
static const char env_reader_null[] = ENV_READER " </dev/null";

int devsys__ssh_cmdline(devsys_buf *out, const devsys_runner_cmd *c, const char *pidfile, const char *cwd)
{
	int rc = 0;
	bool has_env = c->env && c->env[0];
	/* no stdin given: /dev/null, as on the other runners (a prompt reads EOF) */
	bool no_stdin = !c->stdin_file && !(c->stdin_data && c->stdin_len > 0);
	devsys_buf_puts(out, "printf '%s\\n' \"$$\" > ");
	devsys__sh_quote(out, pidfile, strlen(pidfile));
	devsys_buf_puts(out, " && cd -- ");
	devsys__sh_quote(out, cwd, strlen(cwd));
	devsys_buf_puts(out, " && exec env ");
	if (!(c->flags & DEVSYS_RUNNER_CMD_INHERIT_ENV))
		devsys_buf_puts(out, "-i \"PATH=$PATH\" \"HOME=$HOME\" ");
	if (has_env) {
		devsys_buf_puts(out, "/bin/sh -c ");
		if (no_stdin)
			devsys__sh_quote(out, env_reader_null, sizeof(env_reader_null) - 1);
		else
			devsys__sh_quote(out, env_reader, sizeof(env_reader) - 1);
		devsys_buf_puts(out, " sh ");
	}
	if (c->flags & DEVSYS_RUNNER_CMD_SHELL) {
		devsys_buf_puts(out, "/bin/sh -c ");
		devsys__sh_quote(out, c->argv[0], strlen(c->argv[0]));
		devsys_buf_puts(out, " sh");
		for (size_t i = 1; c->argv[i]; i++) {
			devsys_buf_puts(out, " ");
			devsys__sh_quote(out, c->argv[i], strlen(c->argv[i]));
		}
	} else {
		for (size_t i = 0; c->argv[i]; i++) {
			if (i)
				devsys_buf_puts(out, " ");
			if ((rc = devsys__sh_quote(out, c->argv[i], strlen(c->argv[i]))) < 0)
				break;
		}
	}
	if (no_stdin && !has_env)
		devsys_buf_puts(out, " </dev/null");
	if (!out->ptr || rc < 0)
		return devsys__error_oom();
	return 0;
}

int devsys__ssh_env_preamble(devsys_buf *out, const devsys_runner_cmd *c)
{
	for (size_t i = 0; c->env && c->env[i]; i++) {
		const char *eq = strchr(c->env[i], '=');
		if (!eq)
			continue;
		devsys_buf_put(out, c->env[i], (size_t)(eq - c->env[i]));
		devsys_buf_put(out, "\n", 1);
		for (const unsigned char *p = (const unsigned char *)eq + 1; *p; p++) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\0%03o", *p);
			if (devsys_buf_put(out, esc, 5) < 0)
				return devsys__error_oom();
		}
		devsys_buf_put(out, "\n", 1);
	}
	if (c->env && c->env[0] && devsys_buf_put(out, "\n", 1) < 0)
		return devsys__error_oom();
	return 0;
}
