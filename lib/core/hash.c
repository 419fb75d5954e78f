/*
 * The content id of bytes: "sha1:<git blob id>", the value `git hash-object`
 * prints, with the prefix. It lives in core so the record (spec_hash) and
 * the git module (the commit's "Spec:" trailer) compute the same id without
 * either depending on the other. SHA-1 here is an identifier git and its
 * users already agree on, not a security boundary.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	uint32_t h[5];
	uint64_t len;
	unsigned char block[64];
	size_t used;
} sha1_ctx;

static uint32_t rol(uint32_t x, unsigned int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(sha1_ctx *c, const unsigned char *p)
{
	uint32_t w[80], a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], cc = c->h[2];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5a827999u;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ed9eba1u;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8f1bbcdcu;
		} else {
			f = b ^ cc ^ d;
			k = 0xca62c1d6u;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

static void sha1_init(sha1_ctx *c)
{
	static const uint32_t iv[5] = { 0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u };
	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->used = 0;
}

static void sha1_update(sha1_ctx *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	c->len += len;
	while (len > 0) {
		size_t n = 64 - c->used < len ? 64 - c->used : len;
		memcpy(c->block + c->used, p, n);
		c->used += n;
		p += n;
		len -= n;
		if (c->used == 64) {
			sha1_block(c, c->block);
			c->used = 0;
		}
	}
}

static void sha1_final(sha1_ctx *c, unsigned char out[20])
{
	uint64_t bits = c->len * 8;
	unsigned char pad = 0x80, zero = 0, be[8];
	sha1_update(c, &pad, 1);
	while (c->used != 56)
		sha1_update(c, &zero, 1);
	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_update(c, be, 8);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

int devsys__content_id(devsys_buf *out, const void *data, size_t len)
{
	char header[32];
	unsigned char digest[20];
	sha1_ctx c;
	int n;

	DEVSYS__CHECK_ARG(out);
	if (len && !data)
		return devsys__error_set(DEVSYS_EINVAL, "content id: data is NULL but len is %zu", len);
	/* git's blob object: "blob <len>\0" followed by the bytes */
	n = snprintf(header, sizeof(header), "blob %zu", len);
	sha1_init(&c);
	sha1_update(&c, header, (size_t)n + 1);
	if (len)
		sha1_update(&c, data, len);
	sha1_final(&c, digest);
	devsys_buf_clear(out);
	if (devsys_buf_puts(out, "sha1:") < 0)
		return devsys__error_oom();
	for (int i = 0; i < 20; i++)
		if (devsys_buf_printf(out, "%02x", digest[i]) < 0)
			return devsys__error_oom();
	return 0;
}
