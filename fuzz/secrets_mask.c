/*
 * Fuzz target: the streaming masker. The input holds up to 8 secrets
 * (lines before a "\n--\n" separator) and a text. Checks: streaming in
 * input-chosen chunk sizes gives exactly the one-shot result, and no
 * maskable secret (4+ bytes) survives in the output.
 */
#include "secrets/secrets_int.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(const char *d, size_t n, void *payload)
{
	return devsys_buf_put(payload, d, n) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *sep = memmem(in, size, "\n--\n", 4);
	devsys_masker *m;
	devsys_mask_stream *s;
	devsys_buf one = DEVSYS_BUF_INIT, str = DEVSYS_BUF_INIT;
	const char *secrets[8];
	size_t lens[8], ns = 0;

	if (!sep || devsys_masker_new(&m) < 0)
		return 0;
	for (const char *p = in; p < sep && ns < 8;) {
		const char *nl = memchr(p, '\n', (size_t)(sep - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(sep - p);
		if (l > 0) {
			secrets[ns] = p;
			lens[ns] = l;
			char name[8] = { 's', (char)('0' + ns), 0 };
			devsys_masker_add(m, name, p, l);
			ns++;
		}
		p += l + 1;
	}
	const char *text = sep + 4;
	size_t tlen = size - (size_t)(text - in);
	if (devsys_masker_mask(m, text, tlen, &one) < 0 || devsys_mask_stream_new(&s, m, sink, &str) < 0)
		__builtin_trap();
	/* chunk sizes from the first text bytes */
	for (size_t off = 0, k = 0; off < tlen; k++) {
		size_t n = 1 + (size_t)((unsigned char)text[k % tlen] % 17);
		if (n > tlen - off)
			n = tlen - off;
		if (devsys_mask_stream_write(s, text + off, n) < 0)
			__builtin_trap();
		off += n;
	}
	if (devsys_mask_stream_finish(s) < 0)
		__builtin_trap();
	devsys_buf_put(&str, "", 0);
	if (one.size != str.size || memcmp(one.ptr, str.ptr, one.size) != 0)
		__builtin_trap();
	for (size_t i = 0; i < ns; i++) {
		const char *v = secrets[i];
		size_t l = lens[i];
		if (l > 0 && v[l - 1] == '\r')
			l--;
		if (l < 4 || memchr(v, '\n', l))
			continue;
		/* every occurrence left must overlap a "[MASKED:sN]" token */
		for (const char *p = one.ptr; p && (p = memmem(p, one.size - (size_t)(p - one.ptr), v, l)); p++) {
			size_t at = (size_t)(p - one.ptr);
			bool in_token = false;
			for (size_t t = at >= 11 ? at - 11 : 0; t < at + l && t + 11 <= one.size && !in_token; t++)
				in_token = memcmp(one.ptr + t, "[MASKED:s", 9) == 0 && one.ptr[t + 10] == ']';
			if (!in_token)
				__builtin_trap();
		}
	}
	devsys_mask_stream_free(s);
	devsys_buf_dispose(&one);
	devsys_buf_dispose(&str);
	devsys_masker_free(m);
	return 0;
}
