/*
 * Fuzz target: the policy glob matcher. Input: a glob, a newline, a path.
 * Any glob either compiles or fails with a message; any path either splits
 * or fails with a message. For small inputs the matcher is checked against
 * a dynamic-programming reference written independently below, so a wrong
 * answer is a crash, not only a crash being a crash. Large inputs check
 * that the matcher stays fast (libFuzzer's -timeout catches a blow-up).
 */
#include "core/core.h"
#include "policy/glob.h"
#include "devsys/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REF_MAX 200 /* reference matcher only below this many bytes */

/* ---- reference: memo-free DP, characters then segments ---- */

/* Length of the element at p[i] and whether it matches c. */
static size_t ref_elem(const char *p, size_t pl, size_t i, int c, int *hit)
{
	if (p[i] == '?') {
		*hit = c >= 0;
		return 1;
	}
	if (p[i] == '\\') {
		*hit = c == (unsigned char)p[i + 1];
		return 2;
	}
	if (p[i] != '[') {
		*hit = c == (unsigned char)p[i];
		return 1;
	}
	/* a class: [ (!|^)? ]? ( \x | x-y | x )* ] */
	size_t j = i + 1;
	int neg = 0, in = 0, first = 1;
	if (j < pl && (p[j] == '!' || p[j] == '^'))
		neg = 1, j++;
	while (j < pl && (first || p[j] != ']')) {
		int lo, hi;
		first = 0;
		if (p[j] == '\\')
			j++;
		lo = (unsigned char)p[j++];
		hi = lo;
		if (j + 1 < pl && p[j] == '-' && p[j + 1] != ']') {
			j++;
			if (p[j] == '\\')
				j++;
			hi = (unsigned char)p[j++];
		}
		if (c >= lo && c <= hi)
			in = 1;
	}
	*hit = c >= 0 && in != neg;
	return j + 1 - i; /* past the ']' */
}

static int ref_seg(const char *p, size_t pl, const char *s, size_t sl)
{
	/* dp[j]: does p[i..] match s[j..], for i from the end down */
	unsigned char next[REF_MAX + 2], cur[REF_MAX + 2];
	size_t starts[REF_MAX + 1], ne = 0;
	for (size_t i = 0; i < pl;) {
		int hit;
		starts[ne++] = i;
		i += p[i] == '*' ? 1 : ref_elem(p, pl, i, -1, &hit);
	}
	for (size_t j = 0; j <= sl; j++)
		next[j] = j == sl;
	for (size_t e = ne; e-- > 0;) {
		size_t i = starts[e];
		cur[sl] = p[i] == '*' ? next[sl] : 0;
		for (size_t j = sl; j-- > 0;) {
			if (p[i] == '*') {
				cur[j] = next[j] || cur[j + 1];
			} else {
				int hit;
				ref_elem(p, pl, i, (unsigned char)s[j], &hit);
				cur[j] = hit && next[j + 1];
			}
		}
		if (p[i] == '*')
			cur[sl] = next[sl];
		memcpy(next, cur, sl + 1);
	}
	return next[0];
}

static int ref_match(const struct devsys__glob *g, const struct devsys__path *sp)
{
	unsigned char next[REF_MAX + 2], cur[REF_MAX + 2];
	size_t n = sp->n;
	for (size_t j = 0; j <= n; j++)
		next[j] = j == n;
	for (size_t i = g->nseg; i-- > 0;) {
		const struct devsys__glob_seg *sg = &g->seg[i];
		cur[n] = sg->dstar ? next[n] : 0;
		for (size_t j = n; j-- > 0;)
			cur[j] = sg->dstar ? (next[j] || cur[j + 1])
			                   : (ref_seg(sg->p, sg->len, sp->seg[j], sp->len[j]) && next[j + 1]);
		memcpy(next, cur, n + 1);
	}
	return next[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *glob, *path;
	struct devsys__glob g;
	struct devsys__path *sp;
	if (!nl || memchr(data, '\0', size))
		return 0;
	glob = strndup((const char *)data, (size_t)(nl - data));
	path = strndup((const char *)nl + 1, size - (size_t)(nl - data) - 1);
	sp = malloc(sizeof(*sp));
	if (!glob || !path || !sp)
		__builtin_trap();
	int grc = devsys__glob_compile(&g, glob);
	if (grc < 0 && !*devsys_error_message(devsys_error_last()))
		__builtin_trap();
	int prc = devsys__path_split(sp, path);
	if (prc < 0 && !*devsys_error_message(devsys_error_last()))
		__builtin_trap();
	if (grc == 0 && prc == 0) {
		int got = devsys__glob_match(&g, sp);
		if (strlen(glob) < REF_MAX && strlen(path) < REF_MAX && got != ref_match(&g, sp))
			__builtin_trap();
		if (devsys_policy_glob_match(glob, path) != got)
			__builtin_trap();
	}
	if (grc == 0)
		devsys__glob_dispose(&g);
	/* the default policy classifies any valid path into a class */
	if (prc == 0) {
		devsys_policy *p;
		int risk;
		if (devsys_policy_new(&p, NULL) < 0 || devsys_policy_classify(&risk, p, path) < 0 ||
		    risk < DEVSYS_RISK_LOW || risk > DEVSYS_RISK_CRITICAL)
			__builtin_trap();
		devsys_policy_free(p);
	}
	free(sp);
	free(glob);
	free(path);
	return 0;
}
