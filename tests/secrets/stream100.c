/*
 * 100 MB streamed through the masker in fixed-size chunks, with secrets
 * placed so that they start at every offset of a chunk (so every possible
 * split of a secret across two reads occurs), plus a multiline secret.
 * Checks: every placed secret became one [MASKED:<name>], no secret byte
 * sequence survives anywhere in the output (also across output pieces).
 */
#include "secrets/secrets_int.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define TOTAL (100u * 1024u * 1024u)
#define CHUNK 4093u /* prime: start offsets drift through every residue */

static const char SECRET[] = "S3cr3t-Value-0123456789abcdef";
static const char ML1[] = "multi-line-part-one";
static const char ML2[] = "multi-line-part-two";

struct checker {
	char carry[64];
	size_t carry_len;
	unsigned long masks_s, masks_ml;
	unsigned long long bytes;
	int leaked;
};

static int check_out(const char *data, size_t len, void *payload)
{
	struct checker *c = payload;
	/* look for secrets in carry+data, where carry is the previous tail */
	size_t n = c->carry_len + len;
	char *win = malloc(n + 1);
	memcpy(win, c->carry, c->carry_len);
	memcpy(win + c->carry_len, data, len);
	win[n] = '\0';
	if (memmem(win, n, SECRET, sizeof(SECRET) - 1) || memmem(win, n, ML1, sizeof(ML1) - 1) ||
	    memmem(win, n, ML2, sizeof(ML2) - 1))
		c->leaked = 1;
	/* a token is always emitted in one piece: count in the new data only */
	for (const char *p = data; (p = memmem(p, len - (size_t)(p - data), "[MASKED:", 8)); p += 8) {
		size_t rest = len - (size_t)(p - data);
		if (rest >= 10 && memcmp(p, "[MASKED:s]", 10) == 0)
			c->masks_s++;
		else if (rest >= 11 && memcmp(p, "[MASKED:ml]", 11) == 0)
			c->masks_ml++;
	}
	c->carry_len = n < 40 ? n : 40;
	memcpy(c->carry, win + n - c->carry_len, c->carry_len);
	c->bytes += len;
	free(win);
	return 0;
}

Test(secrets_stream100, hundred_megabytes_secrets_at_every_chunk_offset, .timeout = 500)
{
	devsys_masker *m;
	devsys_mask_stream *s;
	struct checker chk;
	char *chunk = malloc(CHUNK);
	unsigned char *covered = calloc(CHUNK, 1);
	unsigned long placed_s = 0, placed_ml = 0;
	size_t produced = 0, fill = 0;
	/* the generator: filler runs of varying length, then a secret */
	unsigned gap = 0, k = 0;
	const char *pending = NULL;
	size_t pend_len = 0, pend_off = 0;
	char mlbuf[64];
	snprintf(mlbuf, sizeof(mlbuf), "%s\n%s", ML1, ML2);

	devsys_init();
	memset(&chk, 0, sizeof(chk));
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "s", SECRET, sizeof(SECRET) - 1), 0);
	cr_assert_eq(devsys_masker_add(m, "ml", mlbuf, strlen(mlbuf)), 0);
	cr_assert_eq(devsys_mask_stream_new(&s, m, check_out, &chk), 0);

	while (produced < TOTAL) {
		fill = 0;
		while (fill < CHUNK) {
			if (pending) {
				size_t n = pend_len - pend_off;
				if (n > CHUNK - fill)
					n = CHUNK - fill;
				memcpy(chunk + fill, pending + pend_off, n);
				fill += n;
				pend_off += n;
				if (pend_off == pend_len)
					pending = NULL;
				continue;
			}
			if (gap > 0) {
				chunk[fill] = "abcdefghij klmnopqrstuvwxyz\n"[(produced + fill) % 28];
				fill++;
				gap--;
				continue;
			}
			/* start a secret here */
			size_t off = (produced + fill) % CHUNK;
			k++;
			if (k % 16 == 0) {
				pending = mlbuf;
				placed_ml++;
			} else {
				pending = SECRET;
				covered[off] = 1;
				placed_s++;
			}
			pend_len = strlen(pending);
			pend_off = 0;
			gap = 1 + (k * 37u) % 61u;
		}
		cr_assert_eq(devsys_mask_stream_write(s, chunk, CHUNK), 0);
		produced += CHUNK;
	}
	cr_assert_eq(devsys_mask_stream_finish(s), 0);
	/* a secret still pending at the very end was cut: not counted as placed in full */
	if (pending) {
		if (pending == SECRET)
			placed_s--;
		else
			placed_ml--;
	}
	for (unsigned i = 0; i < CHUNK; i++)
		cr_assert(covered[i], "no secret started at chunk offset %u", i);
	cr_assert_eq(chk.leaked, 0, "a secret leaked into the output");
	cr_assert_eq(chk.masks_s, placed_s, "masked %lu of %lu single-line secrets", chk.masks_s, placed_s);
	/* each multiline secret gives one token per line */
	cr_assert_eq(chk.masks_ml, 2 * placed_ml, "masked %lu lines of %lu multiline secrets", chk.masks_ml, placed_ml);
	cr_assert(placed_s > 1000000, "only %lu secrets placed", placed_s);
	fprintf(stderr, "streamed %zu bytes, %lu + %lu secrets masked\n", produced, placed_s, placed_ml);
	devsys_mask_stream_free(s);
	devsys_masker_free(m);
	free(chunk);
	free(covered);
	devsys_shutdown();
}
