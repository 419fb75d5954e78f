/*
 * Docker attach/logs stream demultiplexer (see docker_int.h). Payload bytes
 * go to the callback straight from the caller's buffer, so memory stays
 * bounded by the header however large a frame is.
 */
#include "docker_int.h"

#include <string.h>

void devsys__docker_demux_init(devsys__docker_demux *d, bool raw, uint32_t max_frame, devsys__docker_output_cb cb,
                               void *payload)
{
	memset(d, 0, sizeof(*d));
	d->raw = raw;
	d->max_frame = max_frame ? max_frame : DEVSYS__DOCKER_MAX_FRAME;
	d->cb = cb;
	d->payload = payload;
}

static int deliver(devsys__docker_demux *d, int stream, const char *data, size_t len)
{
	if (len == 0 || !d->cb)
		return 0;
	if (d->cb(stream, data, len, d->payload) != 0)
		return d->error = devsys__error_set(DEVSYS_EUSER, "docker stream: the output callback aborted");
	return 0;
}

/* Validate a complete header and start its frame. */
static int start_frame(devsys__docker_demux *d)
{
	const unsigned char *h = d->hdr;
	uint32_t len = ((uint32_t)h[4] << 24) | ((uint32_t)h[5] << 16) | ((uint32_t)h[6] << 8) | (uint32_t)h[7];
	uint64_t at = d->offset - 8;
	if (h[0] > 3 || h[1] || h[2] || h[3])
		/* A TTY stream read as multiplexed starts with text: say so. */
		return d->error = devsys__error_set(
			       DEVSYS_EPARSE,
			       "docker stream: bad frame header at byte %llu (%02x %02x %02x %02x %02x %02x %02x %02x): "
			       "expected stream type 0-3 and three zero bytes; a container with a TTY sends a raw stream",
			       (unsigned long long)at, h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
	if (len > d->max_frame)
		return d->error = devsys__error_set(DEVSYS_ELIMIT,
		                                    "docker stream: frame at byte %llu is %lu bytes, over the %lu-byte limit",
		                                    (unsigned long long)at, (unsigned long)len,
		                                    (unsigned long)d->max_frame);
	d->stream = h[0] == 0 ? DEVSYS__DOCKER_STDOUT : h[0];
	d->remaining = len;
	d->hdr_len = 0;
	return 0;
}

int devsys__docker_demux_feed(devsys__docker_demux *d, const void *data, size_t len)
{
	const char *p = data;
	if (d->error)
		return d->error;
	if (d->raw) {
		d->offset += len;
		return deliver(d, DEVSYS__DOCKER_STDOUT, p, len);
	}
	while (len > 0) {
		if (d->remaining == 0) {
			size_t take = 8 - d->hdr_len;
			if (take > len)
				take = len;
			memcpy(d->hdr + d->hdr_len, p, take);
			d->hdr_len += take;
			d->offset += take;
			p += take;
			len -= take;
			if (d->hdr_len == 8 && start_frame(d) != 0)
				return d->error;
			continue;
		}
		size_t take = d->remaining < len ? d->remaining : len;
		d->remaining -= (uint32_t)take;
		d->offset += take;
		if (deliver(d, d->stream, p, take) != 0)
			return d->error;
		p += take;
		len -= take;
	}
	return 0;
}

int devsys__docker_demux_finish(devsys__docker_demux *d)
{
	if (d->error)
		return d->error;
	if (d->raw)
		return 0;
	if (d->remaining > 0)
		return d->error = devsys__error_set(DEVSYS_EPARSE,
		                                    "docker stream: truncated: the stream ended %lu bytes short of the "
		                                    "frame's end (at byte %llu)",
		                                    (unsigned long)d->remaining, (unsigned long long)d->offset);
	if (d->hdr_len > 0)
		return d->error = devsys__error_set(DEVSYS_EPARSE,
		                                    "docker stream: truncated: the stream ended inside a frame header "
		                                    "(%zu of 8 bytes, at byte %llu)",
		                                    d->hdr_len, (unsigned long long)d->offset);
	return 0;
}
