/*
 * Fuzz target: the Docker attach/logs stream demultiplexer. The first byte
 * picks raw (TTY) mode and a small frame cap; the rest is the stream.
 * Checks: feeding in input-chosen chunk sizes gives exactly the one-shot
 * result (return code, stdout and stderr bytes), and never more payload
 * bytes come out than went in.
 */
#include "runner/docker/docker_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct out {
	devsys_buf s[4];
} out;

static int sink(int stream, const char *d, size_t n, void *payload)
{
	out *o = payload;
	if (stream < 1 || stream > 3 || n == 0)
		__builtin_trap();
	return devsys_buf_put(&o->s[stream], d, n) < 0 ? -1 : 0;
}

static int run(const uint8_t *in, size_t len, bool raw, uint32_t cap, const uint8_t *chunks, size_t nchunks, out *o)
{
	devsys__docker_demux d;
	int rc = 0;
	devsys__docker_demux_init(&d, raw, cap, sink, o);
	for (size_t off = 0, k = 0; off < len && rc == 0; k++) {
		size_t n = nchunks ? 1 + (size_t)(chunks[k % nchunks] % 13) : len;
		if (n > len - off)
			n = len - off;
		rc = devsys__docker_demux_feed(&d, in + off, n);
		off += n;
	}
	return rc ? rc : devsys__docker_demux_finish(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	out a, b;
	int ra, rb;
	bool raw;
	uint32_t cap;
	size_t total = 0;
	if (size < 1)
		return 0;
	raw = data[0] & 1;
	cap = (data[0] & 2) ? 64 : 0;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ra = run(data + 1, size - 1, raw, cap, NULL, 0, &a);
	rb = run(data + 1, size - 1, raw, cap, data, size, &b);
	/* the verdict does not depend on chunking; on success the bytes agree exactly */
	if (ra != rb)
		__builtin_trap();
	for (int i = 1; i <= 3; i++) {
		if (ra == 0 && (a.s[i].size != b.s[i].size || (a.s[i].size && memcmp(a.s[i].ptr, b.s[i].ptr, a.s[i].size))))
			__builtin_trap();
		total += a.s[i].size;
	}
	if (total > size - 1 || (raw && ra == 0 && a.s[1].size != size - 1))
		__builtin_trap();
	for (int i = 0; i < 4; i++) {
		devsys_buf_dispose(&a.s[i]);
		devsys_buf_dispose(&b.s[i]);
	}
	return 0;
}
