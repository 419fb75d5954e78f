/*
 * Writing beneath a destination directory whose contents come from someone
 * else (an SFTP download, a local tree copy, a tar stream).
 *
 * A path such as "a/b/f" is walked one component at a time from the root's
 * directory fd with openat(O_NOFOLLOW | O_DIRECTORY): a symbolic link
 * anywhere on the way is refused, never followed, so a link planted by the
 * sender (or by an earlier transfer) cannot carry a write out of the tree.
 * O_NOFOLLOW alone guards only the last component, and mkdir() answering
 * EEXIST on a linked directory would still write through the link.
 *
 * The last component is replaced, not written through: an existing
 * non-directory there (file, symlink, hard link, fifo) is unlinked and the
 * new entry is created with O_EXCL, so neither a planted symlink nor a
 * planted hard link to an outside file is ever opened for writing.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Mode of directories created implicitly on the way to an entry. */
#define IMPLICIT_DIR_MODE 0755

int devsys__beneath_open(devsys__beneath *b, const char *dir, mode_t create_mode)
{
	DEVSYS__CHECK_ARG(b);
	DEVSYS__CHECK_ARG(dir);
	b->fd = -1;
	b->refused = 0;
	b->first_refusal = NULL;
	if (!(b->path = devsys__strdup(dir)))
		return devsys__error_oom();
	if (create_mode && mkdir(dir, create_mode) != 0 && errno != EEXIST) {
		int err = errno;
		devsys__beneath_close(b);
		return devsys__error_errno(devsys__errno_code(err), err, "cannot create directory '%s'", dir);
	}
	/* The caller names the root itself, so a link there is followed. */
	if ((b->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int err = errno;
		devsys__beneath_close(b);
		return devsys__error_errno(err == ENOENT ? DEVSYS_ENOTFOUND : devsys__errno_code(err), err,
		                           "cannot open directory '%s'", dir);
	}
	return 0;
}

int devsys__beneath_open_parent(devsys__beneath *b, const char **leaf, const char *path)
{
	const char *slash;
	char *dir;
	int rc;

	DEVSYS__CHECK_ARG(b);
	DEVSYS__CHECK_ARG(leaf);
	DEVSYS__CHECK_ARG(path);
	slash = strrchr(path, '/');
	if (!slash)
		dir = devsys__strdup(".");
	else if (slash == path)
		dir = devsys__strdup("/");
	else
		dir = devsys__strndup(path, (size_t)(slash - path));
	if (!dir)
		return devsys__error_oom();
	rc = devsys__beneath_open(b, dir, 0);
	devsys__free(dir);
	*leaf = slash ? slash + 1 : path;
	return rc;
}

void devsys__beneath_close(devsys__beneath *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	devsys__free(b->path);
	b->path = NULL;
	devsys__free(b->first_refusal);
	b->first_refusal = NULL;
}

int devsys__beneath_skip(devsys__beneath *b, int rc)
{
	if (rc != DEVSYS_EPATH)
		return rc;
	if (b->refused++ == 0 && !(b->first_refusal = devsys__strdup(devsys_error_message(devsys_error_last()))))
		return devsys__error_oom();
	return 0;
}

int devsys__beneath_result(const devsys__beneath *b)
{
	if (!b->refused)
		return 0;
	return devsys__error_set(DEVSYS_EPATH, "%u entr%s refused while writing '%s' (the rest was written): %s",
	                         b->refused, b->refused == 1 ? "y was" : "ies were", b->path, b->first_refusal);
}

static int refuse_unsafe_rel(const devsys__beneath *b, const char *rel)
{
	return devsys__error_set(DEVSYS_EPATH,
	                         "refusing to write '%.200s' under '%.200s': a path in the tree must be relative, "
	                         "non-empty and contain no '.', '..' or empty components",
	                         rel, b->path);
}

/* Why @p name under @p dirfd is no directory we may enter (after openat failed with @p err). */
static int refuse_component(const devsys__beneath *b, int dirfd, const char *name, const char *prefix, int err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return devsys__error_set(DEVSYS_EPATH,
			                         "refusing to write through '%s/%s': it is a symbolic link, and a "
			                         "link on the way into the tree is never followed",
			                         b->path, prefix);
		if (!S_ISDIR(st.st_mode))
			return devsys__error_set(DEVSYS_EPATH, "'%s/%s' exists and is not a directory; move it away",
			                         b->path, prefix);
	}
	return devsys__error_errno(devsys__errno_code(err), err, "cannot open directory '%s/%s'", b->path, prefix);
}

/*
 * Open the directory @p dir (a writable copy of a safe relative path, or ""
 * for the root) without following any link; create missing components with
 * @p mode when @p create. The fd returned is always the caller's to close.
 */
static int walk(int *out, const devsys__beneath *b, char *dir, bool create, mode_t mode)
{
	int fd = b->fd;
	char *p = dir;

	while (*p) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (create && mkdirat(fd, p, slash ? IMPLICIT_DIR_MODE : mode) != 0 && errno != EEXIST) {
			int rc = devsys__error_errno(devsys__errno_code(errno), errno, "cannot create directory '%s/%s'",
			                             b->path, dir);
			if (fd != b->fd)
				close(fd);
			return rc;
		}
		int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int rc = refuse_component(b, fd, p, dir, errno);
			if (fd != b->fd)
				close(fd);
			return rc;
		}
		if (fd != b->fd)
			close(fd);
		fd = next;
		if (!slash)
			break;
		*slash = '/';
		p = slash + 1;
	}
	if (fd == b->fd && (fd = fcntl(b->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot open directory '%s'", b->path);
	*out = fd;
	return 0;
}

/* Split a checked copy of @p rel into its directory (walked, created) and leaf. */
static int open_parent(int *dirfd, char **copy, const char **leaf, const devsys__beneath *b, const char *rel,
                       bool create)
{
	char *slash, root[1] = "";
	int rc;

	if (!devsys__relpath_is_safe(rel))
		return refuse_unsafe_rel(b, rel);
	if (!(*copy = devsys__strdup(rel)))
		return devsys__error_oom();
	if ((slash = strrchr(*copy, '/'))) {
		*slash = '\0';
		*leaf = slash + 1;
	} else {
		*leaf = *copy;
	}
	rc = walk(dirfd, b, slash ? *copy : root, create, IMPLICIT_DIR_MODE);
	if (slash)
		*slash = '/'; /* the copy reads as the whole path again, for messages */
	if (rc < 0) {
		devsys__free(*copy);
		*copy = NULL;
	}
	return rc;
}

/* Remove a non-directory at @p leaf so the caller can create it afresh. */
static int clear_leaf(const devsys__beneath *b, int dirfd, const char *leaf, const char *rel)
{
	struct stat st;
	if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0
		                       : devsys__error_errno(devsys__errno_code(errno), errno, "cannot inspect '%s/%s'",
		                                             b->path, rel);
	if (S_ISDIR(st.st_mode))
		return devsys__error_set(DEVSYS_EPATH, "'%s/%s' exists and is a directory; move it away", b->path, rel);
	if (unlinkat(dirfd, leaf, 0) != 0 && errno != ENOENT)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot replace '%s/%s'", b->path, rel);
	return 0;
}

int devsys__beneath_mkdir(int *out_fd, const devsys__beneath *b, const char *rel, mode_t mode)
{
	char *copy;
	int fd, rc;

	DEVSYS__CHECK_ARG(b);
	DEVSYS__CHECK_ARG(rel);
	if (!devsys__relpath_is_safe(rel))
		return refuse_unsafe_rel(b, rel);
	if (!(copy = devsys__strdup(rel)))
		return devsys__error_oom();
	rc = walk(&fd, b, copy, true, mode);
	devsys__free(copy);
	if (rc < 0)
		return rc;
	if (out_fd)
		*out_fd = fd;
	else
		close(fd);
	return 0;
}

int devsys__beneath_create(int *out_fd, const devsys__beneath *b, const char *rel, mode_t mode)
{
	const char *leaf;
	char *copy = NULL;
	int dirfd, fd = -1, rc;

	DEVSYS__CHECK_ARG(out_fd);
	DEVSYS__CHECK_ARG(b);
	DEVSYS__CHECK_ARG(rel);
	if ((rc = open_parent(&dirfd, &copy, &leaf, b, rel, true)) < 0)
		return rc;
	if ((rc = clear_leaf(b, dirfd, leaf, rel)) == 0) {
		/* O_EXCL: if something reappeared since clear_leaf, fail rather than follow it */
		fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
		if (fd < 0)
			rc = devsys__error_errno(errno == EEXIST ? DEVSYS_EPATH : devsys__errno_code(errno), errno,
			                         "cannot create '%s/%s'", b->path, rel);
	}
	close(dirfd);
	devsys__free(copy);
	if (rc == 0)
		*out_fd = fd;
	return rc;
}

bool devsys__link_target_within(const char *rel, const char *target)
{
	size_t depth = 0;
	bool named = false;

	if (!rel || !target || !*target || target[0] == '/')
		return false;
	for (const char *p = rel; (p = strchr(p, '/')); p++)
		depth++; /* the link's directory is this many levels below the root */
	for (const char *p = target; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			/* ".." only in a leading run: after a name it would climb from
			 * wherever that name leads, and a link there can be the root. */
			if (named || depth == 0)
				return false;
			depth--;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			named = true;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

int devsys__beneath_symlink(const devsys__beneath *b, const char *rel, const char *target)
{
	const char *leaf;
	char *copy = NULL;
	int dirfd, rc;

	DEVSYS__CHECK_ARG(b);
	DEVSYS__CHECK_ARG(rel);
	DEVSYS__CHECK_ARG(target);
	if (!devsys__relpath_is_safe(rel))
		return refuse_unsafe_rel(b, rel);
	if (!devsys__link_target_within(rel, target))
		return devsys__error_set(DEVSYS_EPATH,
		                         "refusing to create the link '%s/%.200s' -> '%.200s': the target is absolute "
		                         "or leads out of '%s' (a link may only point inside the tree)",
		                         b->path, rel, target, b->path);
	if ((rc = open_parent(&dirfd, &copy, &leaf, b, rel, true)) < 0)
		return rc;
	if ((rc = clear_leaf(b, dirfd, leaf, rel)) == 0 && symlinkat(target, dirfd, leaf) != 0)
		rc = devsys__error_errno(errno == EEXIST ? DEVSYS_EPATH : devsys__errno_code(errno), errno,
		                         "cannot create the link '%s/%s'", b->path, rel);
	close(dirfd);
	devsys__free(copy);
	return rc;
}

int devsys__beneath_hardlink(const devsys__beneath *b, const char *rel, const char *existing)
{
	const char *leaf, *src_leaf;
	char *copy = NULL, *src_copy = NULL;
	int dirfd, src_dirfd, rc;

	DEVSYS__CHECK_ARG(b);
	DEVSYS__CHECK_ARG(rel);
	DEVSYS__CHECK_ARG(existing);
	if (strcmp(rel, existing) == 0)
		return devsys__error_set(DEVSYS_EPATH, "refusing to link '%s/%.200s' to itself", b->path, rel);
	if ((rc = open_parent(&src_dirfd, &src_copy, &src_leaf, b, existing, false)) < 0)
		return rc;
	if ((rc = open_parent(&dirfd, &copy, &leaf, b, rel, true)) == 0) {
		/* flags 0: a source that is a symlink is linked itself, not its target */
		if ((rc = clear_leaf(b, dirfd, leaf, rel)) == 0 && linkat(src_dirfd, src_leaf, dirfd, leaf, 0) != 0)
			rc = devsys__error_errno(errno == EEXIST ? DEVSYS_EPATH : devsys__errno_code(errno), errno,
			                         "cannot link '%s/%s' to '%s/%s'", b->path, rel, b->path, existing);
		close(dirfd);
	}
	close(src_dirfd);
	devsys__free(copy);
	devsys__free(src_copy);
	return rc;
}
