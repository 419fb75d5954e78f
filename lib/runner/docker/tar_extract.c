/*
 * Tar extraction to disk (see docker_int.h): the reader's checked entries
 * written through core's beneath walk, which is the second line of defence
 * (it refuses what the reader cannot see from one entry alone, such as a
 * path through a symlink an earlier entry made).
 */
#include "docker_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

struct devsys__tar_extract {
	devsys__beneath root;
	devsys__tar_reader *reader;
	unsigned int strip;
	int fd;         /* the regular file being written, or -1 */
	const char *rel; /* its path below the root (borrowed from the entry) */
	uint64_t written;
};

/* The entry path with @p strip components dropped; NULL when nothing is left. */
static const char *stripped(const char *path, unsigned int strip)
{
	for (unsigned int i = 0; i < strip && path; i++) {
		path = strchr(path, '/');
		if (path)
			path++;
	}
	return path && *path ? path : NULL;
}

static int x_entry(const devsys__tar_entry *e, void *payload)
{
	devsys__tar_extract *x = payload;
	const char *rel = stripped(e->path, x->strip), *link = e->link;
	int rc = 0;
	x->rel = rel;
	if (!rel)
		return 0;
	if (e->type == DEVSYS__TAR_HARDLINK && !(link = stripped(e->link, x->strip)))
		rc = devsys__error_set(DEVSYS_EPATH, "tar extract: hardlink '%.200s' -> '%.200s' points at a stripped "
		                       "component: refused", e->path, e->link);
	else if (e->type == DEVSYS__TAR_FILE)
		rc = devsys__beneath_create(&x->fd, &x->root, rel, (mode_t)(e->mode & 0777) | 0600);
	else if (e->type == DEVSYS__TAR_DIR)
		rc = devsys__beneath_mkdir(NULL, &x->root, rel, (mode_t)(e->mode & 0777) | 0700);
	else if (e->type == DEVSYS__TAR_SYMLINK)
		rc = devsys__beneath_symlink(&x->root, rel, link);
	else
		rc = devsys__beneath_hardlink(&x->root, rel, link);
	if (rc < 0)
		return rc;
	x->written++;
	return 0;
}

static int x_data(const devsys__tar_entry *e, const char *data, size_t len, void *payload)
{
	devsys__tar_extract *x = payload;
	(void)e;
	while (len > 0 && x->fd >= 0) {
		ssize_t n = write(x->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return devsys__error_errno(devsys__errno_code(errno), errno, "tar extract: cannot write '%s/%.200s'",
			                                      x->root.path, x->rel);
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int x_end(const devsys__tar_entry *e, void *payload)
{
	devsys__tar_extract *x = payload;
	(void)e;
	if (x->fd >= 0) {
		int fd = x->fd;
		x->fd = -1;
		if (close(fd) != 0)
			return devsys__error_errno(DEVSYS_EIO, errno, "tar extract: cannot write '%s/%.200s'",
			                                      x->root.path, x->rel);
	}
	return 0;
}

int devsys__tar_extract_new(devsys__tar_extract **out, const char *dir, unsigned int strip_components,
                            const devsys__tar_limits *limits)
{
	devsys__tar_extract *x;
	devsys__tar_callbacks cbs = { x_entry, x_data, x_end, NULL };
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(dir);
	*out = NULL;
	if (!(x = devsys__calloc(1, sizeof(*x))))
		return devsys__error_oom();
	x->fd = -1;
	x->root.fd = -1;
	x->strip = strip_components;
	cbs.payload = x;
	if ((rc = devsys__beneath_open(&x->root, dir, 0700)) < 0 || (rc = devsys__tar_reader_new(&x->reader, limits, &cbs)) < 0) {
		devsys__tar_extract_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

int devsys__tar_extract_feed(devsys__tar_extract *x, const void *data, size_t len)
{
	DEVSYS__CHECK_ARG(x);
	return devsys__tar_reader_feed(x->reader, data, len);
}

int devsys__tar_extract_finish(devsys__tar_extract *x)
{
	DEVSYS__CHECK_ARG(x);
	return devsys__tar_reader_finish(x->reader);
}

uint64_t devsys__tar_extract_entries(const devsys__tar_extract *x)
{
	return x ? x->written : 0;
}

void devsys__tar_extract_free(devsys__tar_extract *x)
{
	if (!x)
		return;
	if (x->fd >= 0)
		close(x->fd);
	devsys__tar_reader_free(x->reader);
	devsys__beneath_close(&x->root);
	devsys__free(x);
}
