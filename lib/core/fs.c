/*
 * Paths and files: safe joins that cannot leave a base directory, mkdir -p,
 * atomic writes (temp + fsync + rename + fsync dir), bounded reads, time.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int devsys__mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;

	if (len == 0 || len >= sizeof(tmp))
		return devsys__error_set(DEVSYS_EINVAL, "path '%.200s' is empty or too long", path);
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(tmp, mode) != 0) {
			int err = errno;
			if (err != EEXIST)
				return devsys__error_errno(devsys__errno_code(err), err, "cannot create directory '%s'", tmp);
			if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
				return devsys__error_set(DEVSYS_EIO,
				                         "'%s' exists but is not a directory; move it away or choose another path",
				                         tmp);
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

bool devsys__relpath_is_safe(const char *rel)
{
	const char *p = rel;
	if (!rel || !*rel || *rel == '/')
		return false;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/' && *++p == '\0')
			return false; /* trailing slash: empty last component */
	}
	return true;
}

static bool path_has_prefix_dir(const char *path, const char *base)
{
	size_t n = strlen(base);
	if (strncmp(path, base, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/' || (n == 1 && base[0] == '/');
}

/*
 * The parents of the last bases whose parent resolved to itself: a task
 * folder's is the workspace's tasks/ directory, the workspace root's the
 * directory it is in, both constant while the workspace is open. Checked
 * with realpath() once per thread and parent, so a join below one costs an
 * lstat of the parent and one a component from the base's own last component
 * on, not realpath()'s readlink of every component from "/".
 *
 * The lstat of the parent is what keeps the cache honest: it follows every
 * link above the parent but not the parent itself, so a parent that is now a
 * link (S_ISLNK), or a directory above it swapped for a link that leads
 * elsewhere (another device and inode), no longer matches what was checked,
 * and the join goes back to realpath(), which gives the same verdict and
 * error as a cold cache, and caches the parent anew if it is canonical again.
 *
 * What it guarantees: at the moment of the lstat, the path names the very
 * directory that realpath() found canonical, and nothing below it on the
 * joined path is a link. What it does not: (1) a directory above renamed and
 * linked back under its old name leads to that same directory, so a warm
 * thread still joins into it where a cold one refuses the path by name; no
 * join leaves the checked directory, and whoever can rename the workspace's
 * parents can write its folders directly anyway; (2) a swap after the check
 * and before the caller opens the path is not seen: the same window
 * realpath() had (a tree whose names someone else chose is written with
 * devsys__beneath_*, which walks by fd instead); (3) a swap and a swap back
 * between the two lstats around the first realpath() could cache an
 * impostor's identity, a race of that same kind.
 */
#define CANONICAL_PARENTS 4
struct canonical_parent {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
};
static __thread struct canonical_parent canonical[CANONICAL_PARENTS];
static __thread unsigned canonical_next;

static bool same_dir(const struct stat *a, const struct stat *b)
{
	return S_ISDIR(a->st_mode) && S_ISDIR(b->st_mode) && a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The entry for @p parent, or NULL. */
static struct canonical_parent *canonical_find(const char *parent)
{
	for (int i = 0; i < CANONICAL_PARENTS; i++)
		if (strcmp(canonical[i].path, parent) == 0)
			return &canonical[i];
	return NULL;
}

static bool parent_is_canonical(const char *base, size_t n)
{
	char parent[PATH_MAX], resolved[PATH_MAX];
	struct stat now, again;
	struct canonical_parent *hit, *slot;
	bool is_dir;
	if (n == 0 || n >= sizeof(parent))
		return false;
	memcpy(parent, base, n);
	parent[n] = '\0';
	is_dir = lstat(parent, &now) == 0 && S_ISDIR(now.st_mode);
	hit = canonical_find(parent);
	if (hit && is_dir && hit->dev == now.st_dev && hit->ino == now.st_ino)
		return true;
	if (hit)
		hit->path[0] = '\0'; /* gone, another directory or a link now: checked anew */
	if (!is_dir || !realpath(parent, resolved) || strcmp(resolved, parent) != 0 || lstat(parent, &again) != 0 ||
	    !same_dir(&now, &again))
		return false;
	slot = &canonical[canonical_next++ % CANONICAL_PARENTS];
	memcpy(slot->path, parent, n + 1);
	slot->dev = now.st_dev;
	slot->ino = now.st_ino;
	return true;
}

/*
 * 1: "<base>/<rel>" (in @p path) stays within @p base with no symbolic link
 * from base's last component on (each one that exists lstat'ed; the rest do
 * not exist, so nothing there leads out); 0: undecided (a link on the way, an
 * uncached parent, an odd base), for realpath() to settle.
 */
static int within_fast(const char *path, const char *base)
{
	const char *slash = strrchr(base, '/');
	char probe[PATH_MAX];
	struct stat sb;
	size_t len = strlen(path);
	if (!slash || slash == base || !slash[1] || len >= sizeof(probe) ||
	    !parent_is_canonical(base, (size_t)(slash - base)))
		return 0;
	memcpy(probe, path, len + 1);
	for (char *p = probe + (slash - base) + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (lstat(probe, &sb) != 0)
			return errno == ENOENT ? 1 : 0;
		if (S_ISLNK(sb.st_mode) || (saved && !S_ISDIR(sb.st_mode)))
			return 0;
		*p = saved;
		if (!saved)
			return 1;
	}
}

int devsys__path_join_within(devsys_buf *out, const char *base, const char *rel)
{
	char probe[PATH_MAX], resolved[PATH_MAX];
	size_t len;

	if (!devsys__relpath_is_safe(rel))
		return devsys__error_set(DEVSYS_EPATH,
		                         "path '%.200s' is not allowed: it must be relative, non-empty and "
		                         "contain no '.' or '..' components",
		                         rel ? rel : "(null)");
	devsys_buf_clear(out);
	if (devsys_buf_printf(out, "%s/%s", base, rel) < 0)
		return DEVSYS_ENOMEM;
	if (out->size >= sizeof(probe))
		return devsys__error_set(DEVSYS_EPATH, "path '%.200s...' is too long", out->ptr);
	if (within_fast(out->ptr, base) == 1)
		return 0;

	/* Resolve the longest existing prefix: a symlink there must not lead out. */
	memcpy(probe, out->ptr, out->size + 1);
	for (;;) {
		if (realpath(probe, resolved)) {
			if (!path_has_prefix_dir(resolved, base))
				return devsys__error_set(DEVSYS_EPATH,
				                         "path '%.200s' resolves to '%.200s', outside '%.200s' "
				                         "(a symbolic link leads out)",
				                         rel, resolved, base);
			return 0;
		}
		len = strlen(probe);
		while (len > 0 && probe[len - 1] != '/')
			len--;
		if (len <= 1)
			return 0;
		probe[len - 1] = '\0';
		if (strlen(probe) < strlen(base))
			return 0;
	}
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, rc = 0;

	if (n == 0) {
		dir[0] = slash ? '/' : '.';
		dir[1] = '\0';
	} else {
		if (n >= sizeof(dir))
			return devsys__error_set(DEVSYS_EINVAL, "path too long: %.200s", path);
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot open directory '%s'", dir);
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot fsync directory '%s'", dir);
	close(fd);
	return rc;
}

static __thread unsigned nosync_depth;

void devsys__fs_nosync_begin(void)
{
	nosync_depth++;
}

void devsys__fs_nosync_end(void)
{
	if (nosync_depth)
		nosync_depth--;
}

bool devsys__fs_sync_wanted(void)
{
	return nosync_depth == 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Without fsync (a shared store's folder, a cache of the database), the
 * file is written through a spare beside it, <path>.spare, and the two
 * names are swapped atomically (RENAME_EXCHANGE): the spare keeps the old
 * inode for the next write. A new temporary file a write made ext4 look
 * for a free inode past the recently deleted ones, over half a worker's
 * CPU a state change (bench/store). Readers still only ever open a whole
 * file; one that kept the old file open across two writes may read it
 * being rewritten, which a folder behind its store already tolerates (the
 * store answers for a folder whose task.json does not parse).
 * 1 written, 0 not possible here (the caller writes a temporary file), <0 error.
 */
static int write_by_exchange(const char *path, const void *data, size_t len, mode_t mode)
{
	char spare[PATH_MAX];
	struct stat st;
	int fd, err;
	if ((size_t)snprintf(spare, sizeof(spare), "%s.spare", path) >= sizeof(spare))
		return 0;
	fd = open(spare, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
	/* only a plain file of its own: never write through a link, hard or symbolic, planted as the spare */
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		unlink(spare);
		return 0;
	}
	/* written over, then cut to its length: ext4 flushes a file cut to zero when it is closed */
	if (((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0) || write_all(fd, data, len) != 0 ||
	    ftruncate(fd, (off_t)len) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat2(AT_FDCWD, spare, AT_FDCWD, path, RENAME_EXCHANGE) == 0)
		return 1;
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		goto fail;
	if (rename(spare, path) == 0) /* no file yet, or a file system without the exchange */
		return 1;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	unlink(spare);
	return devsys__error_errno(devsys__errno_code(err), err, "cannot write '%s'", path);
}

int devsys__write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	bool sync = devsys__fs_sync_wanted();
	char tmp[PATH_MAX];
	const char *p = data;
	int fd, err;

	if (!sync && (err = write_by_exchange(path, data, len, mode)) != 0)
		return err < 0 ? err : 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return devsys__error_set(DEVSYS_EINVAL, "path too long: %.200s", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot create a temporary file next to '%s'",
		                           path);
	if (fchmod(fd, mode) != 0 || write_all(fd, p, len) != 0)
		goto fail;
	if (sync && fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return sync ? fsync_dir_of(path) : 0;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return devsys__error_errno(devsys__errno_code(err), err, "cannot write '%s'", path);
}

int devsys__read_file(devsys_buf *out, const char *path, size_t max_size)
{
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "cannot open '%s'", path);
	devsys_buf_clear(out);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = devsys__error_errno(DEVSYS_EIO, errno, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		if (out->size + (size_t)n > max_size) {
			rc = devsys__error_set(DEVSYS_ELIMIT, "'%s' is larger than the limit of %zu bytes", path, max_size);
			break;
		}
		if ((rc = devsys_buf_put(out, chunk, (size_t)n)) < 0)
			break;
	}
	close(fd);
	if (rc == 0 && out->size == 0)
		rc = devsys_buf_put(out, "", 0);
	return rc;
}

bool devsys__yaml11_bool(const char *s)
{
	static const char *const words[] = { "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		                             "on", "On", "ON", "off", "Off", "OFF" };
	for (size_t i = 0; s && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	return false;
}

uint64_t devsys__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void devsys__time_iso8601(char *out, size_t out_size)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, out_size, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}
