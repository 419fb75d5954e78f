/*
 * Docker attach/logs stream demultiplexer (internal): frames split at every
 * possible chunk boundary give the same output, bad headers, over-long and
 * truncated frames fail with errors that say where, and TTY (raw) streams
 * pass through untouched.
 */
#include "runner/docker/docker_int.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct sink {
	devsys_buf out, err, sys;
	size_t calls, max_chunk;
	int abort_after; /* abort on this call (1-based), 0 never */
} sink;

static int collect(int stream, const char *data, size_t len, void *payload)
{
	sink *s = payload;
	s->calls++;
	if (len > s->max_chunk)
		s->max_chunk = len;
	if (s->abort_after && (int)s->calls == s->abort_after)
		return 1;
	devsys_buf *b = stream == DEVSYS__DOCKER_STDOUT ? &s->out : stream == DEVSYS__DOCKER_STDERR ? &s->err : &s->sys;
	cr_assert(stream >= 1 && stream <= 3, "stream %d", stream);
	return devsys_buf_put(b, data, len);
}

static void sink_dispose(sink *s)
{
	devsys_buf_dispose(&s->out);
	devsys_buf_dispose(&s->err);
	devsys_buf_dispose(&s->sys);
}

/* Append one frame: type, 3 zero bytes, big-endian length, payload. */
static void frame(devsys_buf *b, int type, const char *payload, size_t len)
{
	unsigned char h[8] = { (unsigned char)type, 0, 0, 0, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
		               (unsigned char)(len >> 8), (unsigned char)len };
	devsys_buf_put(b, (const char *)h, 8);
	devsys_buf_put(b, payload, len);
}

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

static const char *str(const devsys_buf *b)
{
	return b->ptr ? b->ptr : "";
}

Test(docker_stream, frames_split_anywhere_give_the_same_output)
{
	devsys_buf in = DEVSYS_BUF_INIT;
	frame(&in, 1, "hello ", 6);
	frame(&in, 2, "warn\n", 5);
	frame(&in, 1, "", 0);
	frame(&in, 0, "stdin-echo ", 11);
	frame(&in, 1, "world\n", 6);
	for (size_t a = 0; a <= in.size; a++) {
		for (size_t b = a; b <= in.size; b += 3) {
			sink s = { 0 };
			devsys__docker_demux d;
			devsys__docker_demux_init(&d, false, 0, collect, &s);
			cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr, a), 0);
			cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr + a, b - a), 0);
			cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr + b, in.size - b), 0);
			cr_assert_eq(devsys__docker_demux_finish(&d), 0, "split %zu/%zu: %s", a, b, errmsg());
			cr_assert_str_eq(str(&s.out), "hello stdin-echo world\n", "split %zu/%zu", a, b);
			cr_assert_str_eq(str(&s.err), "warn\n");
			sink_dispose(&s);
		}
	}
	devsys_buf_dispose(&in);
}

Test(docker_stream, byte_at_a_time)
{
	devsys_buf in = DEVSYS_BUF_INIT;
	sink s = { 0 };
	devsys__docker_demux d;
	frame(&in, 2, "e1", 2);
	frame(&in, 1, "o1", 2);
	frame(&in, 3, "engine: exec failed", 19);
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	for (size_t i = 0; i < in.size; i++)
		cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr + i, 1), 0);
	cr_assert_eq(devsys__docker_demux_finish(&d), 0);
	cr_assert_str_eq(str(&s.out), "o1");
	cr_assert_str_eq(str(&s.err), "e1");
	cr_assert_str_eq(str(&s.sys), "engine: exec failed", "stream 3 is the engine's own error text");
	sink_dispose(&s);
	devsys_buf_dispose(&in);
}

Test(docker_stream, bad_header_names_its_offset_and_stays_failed)
{
	devsys_buf in = DEVSYS_BUF_INIT;
	sink s = { 0 };
	devsys__docker_demux d;
	frame(&in, 1, "ok", 2);                       /* bytes 0..9 */
	devsys_buf_put(&in, "\x01\x00\x07\x00\x00\x00\x00\x01z", 9); /* a non-zero padding byte at 10+2 */
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr, in.size), DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "bad frame header at byte 10"), "%s", errmsg());
	cr_assert(strstr(errmsg(), "01 00 07 00"), "%s", errmsg());
	cr_assert_str_eq(str(&s.out), "ok", "frames before the bad header were delivered");
	cr_assert_eq(devsys__docker_demux_feed(&d, "\x01\x00\x00\x00\x00\x00\x00\x00", 8), DEVSYS_EPARSE, "sticky");
	cr_assert_eq(devsys__docker_demux_finish(&d), DEVSYS_EPARSE);
	sink_dispose(&s);
	devsys_buf_dispose(&in);
}

Test(docker_stream, unknown_stream_type_and_tty_text_are_refused)
{
	sink s = { 0 };
	devsys__docker_demux d;
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, "\x04\x00\x00\x00\x00\x00\x00\x01x", 9), DEVSYS_EPARSE);
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, "hello world\n", 12), DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "TTY"), "the hint names the likely cause: %s",
	          errmsg());
	cr_assert_eq(s.calls, 0);
	sink_dispose(&s);
}

Test(docker_stream, frame_length_cap)
{
	devsys_buf in = DEVSYS_BUF_INIT;
	char big[100];
	sink s = { 0 };
	devsys__docker_demux d;
	memset(big, 'x', sizeof(big));
	frame(&in, 1, big, 100);
	devsys__docker_demux_init(&d, false, 100, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr, in.size), 0, "a frame at the cap is fine");
	cr_assert_eq(s.out.size, 100);
	devsys__docker_demux_init(&d, false, 99, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr, in.size), DEVSYS_ELIMIT);
	cr_assert(strstr(errmsg(), "100 bytes, over the 99-byte limit"), "%s",
	          errmsg());
	/* a hostile length (4 GiB - 1) against the default cap */
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, "\x01\x00\x00\x00\xff\xff\xff\xff", 8), DEVSYS_ELIMIT);
	sink_dispose(&s);
	devsys_buf_dispose(&in);
}

Test(docker_stream, truncated_streams)
{
	devsys_buf in = DEVSYS_BUF_INIT;
	sink s = { 0 };
	devsys__docker_demux d;
	frame(&in, 1, "0123456789", 10);
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr, in.size - 4), 0);
	cr_assert_eq(devsys__docker_demux_finish(&d), DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "4 bytes short"), "%s", errmsg());
	cr_assert_str_eq(str(&s.out), "012345", "what arrived was delivered");
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr, 5), 0);
	cr_assert_eq(devsys__docker_demux_finish(&d), DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "inside a frame header (5 of 8"), "%s", errmsg());
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_finish(&d), 0, "an empty stream is complete");
	sink_dispose(&s);
	devsys_buf_dispose(&in);
}

Test(docker_stream, raw_mode_passes_bytes_through)
{
	sink s = { 0 };
	devsys__docker_demux d;
	static const char tty[] = "\x01\x00\x00\x00\x00\x00\x00\x05 looks like a header\r\n";
	devsys__docker_demux_init(&d, true, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, tty, 10), 0);
	cr_assert_eq(devsys__docker_demux_feed(&d, tty + 10, sizeof(tty) - 1 - 10), 0);
	cr_assert_eq(devsys__docker_demux_finish(&d), 0);
	cr_assert_eq(s.out.size, sizeof(tty) - 1);
	cr_assert_eq(memcmp(s.out.ptr, tty, sizeof(tty) - 1), 0);
	cr_assert_eq(s.err.size, 0);
	sink_dispose(&s);
}

Test(docker_stream, callback_abort_is_euser)
{
	devsys_buf in = DEVSYS_BUF_INIT;
	sink s = { 0 };
	devsys__docker_demux d;
	frame(&in, 1, "a", 1);
	frame(&in, 1, "b", 1);
	frame(&in, 1, "c", 1);
	s.abort_after = 2;
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, in.ptr, in.size), DEVSYS_EUSER);
	cr_assert_str_eq(str(&s.out), "a");
	cr_assert_eq(s.calls, 2, "nothing after the abort");
	sink_dispose(&s);
	devsys_buf_dispose(&in);
}

Test(docker_stream, large_frame_is_streamed_not_buffered)
{
	size_t len = 4u << 20;
	char *payload = malloc(len);
	sink s = { 0 };
	devsys__docker_demux d;
	for (size_t i = 0; i < len; i++)
		payload[i] = (char)('a' + i % 26);
	unsigned char h[8] = { 2, 0, 0, 0, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
		               (unsigned char)len };
	devsys__docker_demux_init(&d, false, 0, collect, &s);
	cr_assert_eq(devsys__docker_demux_feed(&d, h, 8), 0);
	for (size_t off = 0; off < len; off += 4096)
		cr_assert_eq(devsys__docker_demux_feed(&d, payload + off, 4096), 0);
	cr_assert_eq(devsys__docker_demux_finish(&d), 0);
	cr_assert_eq(s.err.size, len);
	cr_assert_eq(memcmp(s.err.ptr, payload, len), 0);
	cr_assert_leq(s.max_chunk, 4096, "each piece goes out as it comes in (max %zu)", s.max_chunk);
	cr_assert_eq(s.calls, len / 4096);
	free(payload);
	sink_dispose(&s);
}
