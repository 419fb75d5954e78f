/*
 * Streaming tar writer (see docker_int.h). Pull-style, so libcurl's read
 * callback can ask for the next bytes of an upload without a thread or a
 * temporary file. The walk holds one directory descriptor per level and
 * opens every name relative to it with O_NOFOLLOW: a symlink is stored as a
 * link and never followed, and a directory swapped for a symlink during the
 * walk is refused instead of leading outside the tree.
 */
#include "docker_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define MAX_DEPTH 256
#define MAX_LINK 4096
#define USTAR_MAX_SIZE 077777777777ull
#define USTAR_MAX_ID 07777777u

enum { W_WALK, W_FILE, W_DONE };

typedef struct frame {
	DIR *dir;
	char *rel; /* path of this directory inside the archive ("" for the root) */
} frame;

struct devsys__tar_writer {
	devsys__tar_writer_opts opts;
	char *prefix;
	frame stack[MAX_DEPTH];
	int depth;
	devsys_buf pending; /* headers and padding not yet handed out */
	size_t pending_off;
	int state, error, fd;
	uint64_t file_left, file_size, total;
	char *file_path;
};

static int werr(devsys__tar_writer *w, int code)
{
	return w->error = code;
}

static void put_octal(char *f, size_t width, uint64_t v)
{
	/* width-1 digits and a NUL, as ustar writes them; callers keep v within
	 * width-1 octal digits, so the digits are written by hand (no snprintf
	 * whose truncation the compiler must assume) */
	f[width - 1] = '\0';
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		f[i] = (char)('0' + (v & 7u));
}

static int pax_record(devsys_buf *b, const char *key, const char *val)
{
	size_t base = strlen(key) + strlen(val) + 3, len = base, digits = 0;
	for (size_t t = len; t; t /= 10)
		digits++;
	len = base + digits;
	if (snprintf(NULL, 0, "%zu", len) > (int)digits)
		len++;
	return devsys_buf_printf(b, "%zu %s=%s\n", len, key, val);
}

static void finish_block(char *h)
{
	unsigned int sum = 0;
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < BLOCK; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void fill_header(char *h, const char *name, char type, unsigned int mode, uint64_t size, int64_t mtime,
                        const char *link, const devsys__tar_writer_opts *o)
{
	memset(h, 0, BLOCK);
	memcpy(h, name, strnlen(name, 100));
	put_octal(h + 100, 8, mode & 07777);
	put_octal(h + 108, 8, o->uid);
	put_octal(h + 116, 8, o->gid);
	put_octal(h + 124, 12, size <= USTAR_MAX_SIZE ? size : 0);
	put_octal(h + 136, 12, mtime > 0 ? (uint64_t)mtime : 0);
	h[156] = type;
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	memcpy(h + 257, "ustar\0" "00", 8);
	finish_block(h);
}

/* Queue the header(s) of one entry: a pax header first when a name or the size does not fit ustar. */
static int queue_entry(devsys__tar_writer *w, const char *name, char type, unsigned int mode, uint64_t size,
                       int64_t mtime, const char *link)
{
	char h[BLOCK];
	if (strlen(name) > 100 || (link && strlen(link) > 100) || size > USTAR_MAX_SIZE) {
		devsys_buf pax = DEVSYS_BUF_INIT;
		char num[24];
		int rc = 0;
		if (strlen(name) > 100)
			rc = pax_record(&pax, "path", name);
		if (!rc && link && strlen(link) > 100)
			rc = pax_record(&pax, "linkpath", link);
		if (!rc && size > USTAR_MAX_SIZE) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
			rc = pax_record(&pax, "size", num);
		}
		if (!rc) {
			fill_header(h, "././@PaxHeader", 'x', 0644, pax.size, mtime, NULL, &w->opts);
			rc = devsys_buf_put(&w->pending, h, BLOCK);
		}
		if (!rc && (rc = devsys_buf_put(&w->pending, pax.ptr, pax.size)) == 0) {
			static const char zeros[BLOCK];
			rc = devsys_buf_put(&w->pending, zeros, (BLOCK - pax.size % BLOCK) % BLOCK);
		}
		devsys_buf_dispose(&pax);
		if (rc)
			return werr(w, devsys__error_oom());
	}
	fill_header(h, name, type, mode, size, mtime, link, &w->opts);
	if (devsys_buf_put(&w->pending, h, BLOCK) < 0)
		return werr(w, devsys__error_oom());
	return 0;
}

static char *entry_name(const devsys__tar_writer *w, const char *rel, const char *name)
{
	const char *sep1 = w->prefix[0] && (rel[0] || name[0]) ? "/" : "", *sep2 = rel[0] && name[0] ? "/" : "";
	return devsys__asprintf("%s%s%s%s%s", w->prefix, sep1, rel, sep2, name);
}

static int push_dir(devsys__tar_writer *w, int fd, const char *rel)
{
	DIR *d;
	if (w->depth >= MAX_DEPTH) {
		close(fd);
		return werr(w, devsys__error_set(DEVSYS_ELIMIT, "tar upload: '%.200s' is nested deeper than %d levels",
		                                 rel, MAX_DEPTH));
	}
	if (!(d = fdopendir(fd))) {
		int e = errno;
		close(fd);
		return werr(w, devsys__error_errno(devsys__errno_code(e), e, "tar upload: cannot read directory '%.200s'", rel));
	}
	w->stack[w->depth].dir = d;
	if (!(w->stack[w->depth].rel = devsys__strdup(rel))) {
		closedir(d);
		return werr(w, devsys__error_oom());
	}
	w->depth++;
	return 0;
}

static void pop_dir(devsys__tar_writer *w)
{
	frame *f = &w->stack[--w->depth];
	closedir(f->dir);
	devsys__free(f->rel);
	f->dir = NULL;
	f->rel = NULL;
}

static int add_file(devsys__tar_writer *w, int dfd, const char *name, const char *tname, const struct stat *st)
{
	struct stat fst;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return werr(w, devsys__error_errno(devsys__errno_code(errno), errno, "tar upload: cannot open '%.200s'", tname));
	if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino || fst.st_dev != st->st_dev) {
		close(fd);
		return werr(w, devsys__error_set(DEVSYS_EIO, "tar upload: '%.200s' changed while the tree was archived", tname));
	}
	if (w->opts.max_total_size && (uint64_t)fst.st_size > w->opts.max_total_size - w->total) {
		close(fd);
		return werr(w, devsys__error_set(DEVSYS_ELIMIT, "tar upload: '%.200s' takes the upload over its %llu-byte limit",
		                                 tname, (unsigned long long)w->opts.max_total_size));
	}
	if (queue_entry(w, tname, '0', fst.st_mode, (uint64_t)fst.st_size, fst.st_mtim.tv_sec, NULL) < 0) {
		close(fd);
		return w->error;
	}
	w->total += (uint64_t)fst.st_size;
	w->fd = fd;
	w->file_left = w->file_size = (uint64_t)fst.st_size;
	w->file_path = devsys__strdup(tname);
	w->state = W_FILE;
	return 0;
}

static int add_symlink(devsys__tar_writer *w, int dfd, const char *name, const char *tname, const struct stat *st)
{
	char target[MAX_LINK + 1];
	ssize_t n = readlinkat(dfd, name, target, sizeof(target));
	if (n < 0)
		return werr(w, devsys__error_errno(devsys__errno_code(errno), errno, "tar upload: cannot read symlink '%.200s'", tname));
	if ((size_t)n > MAX_LINK)
		return werr(w, devsys__error_set(DEVSYS_ELIMIT, "tar upload: symlink '%.200s' has a target over %d bytes", tname, MAX_LINK));
	target[n] = '\0';
	return queue_entry(w, tname, '2', 0777, 0, st->st_mtim.tv_sec, target);
}

/* One name of the current directory: queue its header and descend or open as needed. */
static int add_name(devsys__tar_writer *w, const char *name)
{
	frame *f = &w->stack[w->depth - 1];
	int dfd = dirfd(f->dir), rc = 0;
	struct stat st;
	char *tname = entry_name(w, f->rel, name), *rel;
	if (!tname)
		return werr(w, devsys__error_oom());
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		rc = werr(w, devsys__error_errno(devsys__errno_code(errno), errno, "tar upload: cannot stat '%.200s'", tname));
	} else if (S_ISDIR(st.st_mode)) {
		char *dname = devsys__asprintf("%s/", tname);
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rel = f->rel[0] ? devsys__asprintf("%s/%s", f->rel, name) : devsys__strdup(name);
		if (!dname || !rel)
			rc = werr(w, devsys__error_oom());
		else if (fd < 0)
			rc = werr(w, devsys__error_errno(devsys__errno_code(errno), errno, "tar upload: cannot open directory '%.200s'", tname));
		else if ((rc = queue_entry(w, dname, '5', st.st_mode, 0, st.st_mtim.tv_sec, NULL)) == 0)
			rc = push_dir(w, fd, rel), fd = -1;
		if (fd >= 0)
			close(fd);
		devsys__free(dname);
		devsys__free(rel);
	} else if (S_ISREG(st.st_mode)) {
		rc = add_file(w, dfd, name, tname, &st);
	} else if (S_ISLNK(st.st_mode)) {
		rc = add_symlink(w, dfd, name, tname, &st);
	} else {
		rc = werr(w, devsys__error_set(DEVSYS_EINVALID,
		                               "tar upload: '%.200s' is a %s: only files, directories and symlinks are uploaded",
		                               tname, S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "socket" : "device node"));
	}
	devsys__free(tname);
	return rc;
}

int devsys__tar_writer_new(devsys__tar_writer **out, const char *dir, const devsys__tar_writer_opts *opts)
{
	devsys__tar_writer *w;
	struct stat st;
	int fd;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(dir);
	*out = NULL;
	if (opts && (opts->uid > USTAR_MAX_ID || opts->gid > USTAR_MAX_ID))
		return devsys__error_set(DEVSYS_EINVAL, "tar upload: uid/gid %u/%u do not fit a ustar header", opts->uid, opts->gid);
	if (!(w = devsys__calloc(1, sizeof(*w))))
		return devsys__error_oom();
	if (opts)
		w->opts = *opts;
	w->fd = -1;
	w->prefix = devsys__strdup(opts && opts->prefix ? opts->prefix : "");
	if (!w->prefix) {
		devsys__tar_writer_free(w);
		return devsys__error_oom();
	}
	while (w->prefix[0] && w->prefix[strlen(w->prefix) - 1] == '/')
		w->prefix[strlen(w->prefix) - 1] = '\0';
	if (w->prefix[0] && !devsys__relpath_is_safe(w->prefix)) {
		int rc = devsys__error_set(DEVSYS_EPATH, "tar upload: prefix '%.200s' must be a relative path without '.' or '..'",
		                           w->prefix);
		devsys__tar_writer_free(w);
		return rc;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		int e = errno, rc = devsys__error_errno(devsys__errno_code(e), e, "tar upload: cannot open directory '%.200s'", dir);
		if (fd >= 0)
			close(fd);
		devsys__tar_writer_free(w);
		return rc;
	}
	if ((w->prefix[0] && queue_entry(w, w->prefix, '5', st.st_mode, 0, st.st_mtim.tv_sec, NULL) < 0) ||
	    push_dir(w, fd, "") < 0) {
		int rc = w->error;
		devsys__tar_writer_free(w);
		return rc;
	}
	if (w->prefix[0]) { /* the prefix directory's header carries a trailing slash */
		char *h = w->pending.ptr + w->pending.size - BLOCK;
		size_t n = strlen(w->prefix);
		if (n < 100) {
			h[n] = '/';
			finish_block(h);
		}
	}
	*out = w;
	return 0;
}

/* Advance the walk until something is pending, or the archive is complete. */
static int advance(devsys__tar_writer *w)
{
	static const char zeros[2 * BLOCK];
	while (w->pending_off >= w->pending.size && w->state == W_WALK) {
		struct dirent *e;
		devsys_buf_clear(&w->pending);
		w->pending_off = 0;
		if (w->depth == 0) {
			if (devsys_buf_put(&w->pending, zeros, sizeof(zeros)) < 0)
				return werr(w, devsys__error_oom());
			w->state = W_DONE;
			return 0;
		}
		errno = 0;
		if (!(e = readdir(w->stack[w->depth - 1].dir))) {
			if (errno)
				return werr(w, devsys__error_errno(DEVSYS_EIO, errno, "tar upload: cannot list '%.200s'",
				                                   w->stack[w->depth - 1].rel));
			pop_dir(w);
			continue;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (add_name(w, e->d_name) < 0)
			return w->error;
	}
	return 0;
}

static long read_file(devsys__tar_writer *w, char *buf, size_t cap)
{
	static const char zeros[BLOCK];
	ssize_t n;
	if (w->file_left == 0) {
		close(w->fd);
		w->fd = -1;
		devsys__free(w->file_path);
		w->file_path = NULL;
		devsys_buf_clear(&w->pending);
		w->pending_off = 0;
		w->state = W_WALK;
		if (devsys_buf_put(&w->pending, zeros, (BLOCK - w->file_size % BLOCK) % BLOCK) < 0)
			return werr(w, devsys__error_oom());
		return 0;
	}
	if (cap > w->file_left)
		cap = (size_t)w->file_left;
	do
		n = read(w->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return werr(w, devsys__error_errno(DEVSYS_EIO, errno, "tar upload: cannot read '%.200s'", w->file_path));
	if (n == 0)
		return werr(w, devsys__error_set(DEVSYS_EIO, "tar upload: '%.200s' shrank while it was archived", w->file_path));
	w->file_left -= (uint64_t)n;
	return (long)n;
}

long devsys__tar_writer_read(devsys__tar_writer *w, char *buf, size_t cap)
{
	size_t done = 0;
	if (!w || !buf)
		return devsys__error_set(DEVSYS_EINVAL, "devsys__tar_writer_read: NULL argument");
	if (w->error)
		return w->error;
	while (done < cap) {
		if (w->pending_off < w->pending.size) {
			size_t n = w->pending.size - w->pending_off;
			if (n > cap - done)
				n = cap - done;
			memcpy(buf + done, w->pending.ptr + w->pending_off, n);
			w->pending_off += n;
			done += n;
			continue;
		}
		if (w->state == W_DONE)
			break;
		if (w->state == W_FILE) {
			long n = read_file(w, buf + done, cap - done);
			if (n < 0)
				return n;
			done += (size_t)n;
			continue;
		}
		if (advance(w) < 0)
			return w->error;
	}
	return (long)done;
}

void devsys__tar_writer_free(devsys__tar_writer *w)
{
	if (!w)
		return;
	while (w->depth > 0)
		pop_dir(w);
	if (w->fd >= 0)
		close(w->fd);
	devsys__free(w->file_path);
	devsys__free(w->prefix);
	devsys_buf_dispose(&w->pending);
	devsys__free(w);
}

int devsys__tar_write_tree(const char *dir, const devsys__tar_writer_opts *opts,
                           int (*cb)(const char *data, size_t len, void *payload), void *payload)
{
	devsys__tar_writer *w;
	char buf[64 * 1024];
	long n;
	int rc = devsys__tar_writer_new(&w, dir, opts);
	if (rc < 0)
		return rc;
	while ((n = devsys__tar_writer_read(w, buf, sizeof(buf))) > 0) {
		if (cb(buf, (size_t)n, payload) != 0) {
			rc = devsys__error_set(DEVSYS_EUSER, "tar upload: the output callback aborted");
			break;
		}
	}
	if (n < 0)
		rc = (int)n;
	devsys__tar_writer_free(w);
	return rc;
}
