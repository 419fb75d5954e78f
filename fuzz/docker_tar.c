/*
 * Fuzz target: the streaming tar reader. The first byte seeds the chunk
 * sizes; the rest is the archive. Checks: chunked and one-shot reads agree
 * on success and on the entries handed out; every entry handed out has a
 * safe relative path, an in-tree link, a size within the limits, and gets
 * exactly its size in data bytes before its end.
 */
#include "runner/docker/docker_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRY (1u << 20)
#define MAX_TOTAL (4u << 20)

typedef struct seen {
	devsys_buf list;
	uint64_t got, want;
	int open;
} seen;

static int on_entry(const devsys__tar_entry *e, void *payload)
{
	seen *s = payload;
	if (s->open || !e->path || !devsys__relpath_is_safe(e->path) || e->size > MAX_ENTRY ||
	    (e->type != DEVSYS__TAR_FILE && e->size) || e->type < DEVSYS__TAR_FILE || e->type > DEVSYS__TAR_HARDLINK)
		__builtin_trap();
	if (e->type == DEVSYS__TAR_SYMLINK && !devsys__link_target_within(e->path, e->link))
		__builtin_trap();
	if (e->type == DEVSYS__TAR_HARDLINK && !devsys__relpath_is_safe(e->link))
		__builtin_trap();
	s->open = 1;
	s->got = 0;
	s->want = e->size;
	devsys_buf_printf(&s->list, "%d %s %o %llu %s\n", e->type, e->path, e->mode, (unsigned long long)e->size,
	                  e->link ? e->link : "");
	return 0;
}

static int on_data(const devsys__tar_entry *e, const char *d, size_t n, void *payload)
{
	seen *s = payload;
	(void)d;
	if (!s->open || n == 0 || e->type != DEVSYS__TAR_FILE)
		__builtin_trap();
	s->got += n;
	if (s->got > s->want)
		__builtin_trap();
	return 0;
}

static int on_end(const devsys__tar_entry *e, void *payload)
{
	seen *s = payload;
	(void)e;
	if (!s->open || s->got != s->want)
		__builtin_trap();
	s->open = 0;
	return 0;
}

static int run(const uint8_t *in, size_t len, const uint8_t *chunks, size_t nchunks, seen *s)
{
	devsys__tar_limits lim = { MAX_ENTRY, MAX_TOTAL, 1000 };
	devsys__tar_callbacks cbs = { on_entry, on_data, on_end, s };
	devsys__tar_reader *r;
	int rc;
	if (devsys__tar_reader_new(&r, &lim, &cbs) < 0)
		return -1;
	rc = 0;
	for (size_t off = 0, k = 0; off < len && rc == 0; k++) {
		size_t n = nchunks ? 1 + (size_t)chunks[k % nchunks] * 7 : len;
		if (n > len - off)
			n = len - off;
		rc = devsys__tar_reader_feed(r, in + off, n);
		off += n;
	}
	if (rc == 0)
		rc = devsys__tar_reader_finish(r);
	if (devsys__tar_reader_total(r) > MAX_TOTAL)
		__builtin_trap();
	devsys__tar_reader_free(r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	seen a, b;
	int ra, rb;
	if (size < 1)
		return 0;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ra = run(data + 1, size - 1, NULL, 0, &a);
	rb = run(data + 1, size - 1, data, 1, &b);
	/* the same bytes give the same verdict and, on success, the same entries */
	if (ra != rb || (ra == 0 && (a.list.size != b.list.size || (a.list.size && memcmp(a.list.ptr, b.list.ptr, a.list.size)))))
		__builtin_trap();
	devsys_buf_dispose(&a.list);
	devsys_buf_dispose(&b.list);
	return 0;
}
