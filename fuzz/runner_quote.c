/*
 * Fuzz target: remote command-line quoting. Quoting any byte string and
 * parsing it back as one POSIX-shell word (single quotes, \' outside
 * quotes) must give the original bytes and nothing else: no unquoted
 * character, so no expansion, substitution or word splitting can happen.
 */
#include "runner/runner_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys_buf q = DEVSYS_BUF_INIT, back = DEVSYS_BUF_INIT;
	if (devsys__sh_quote(&q, (const char *)data, size) < 0)
		return 0;
	/* parse: a sequence of '...' and \' only */
	size_t i = 0;
	while (i < q.size) {
		if (q.ptr[i] == '\'') {
			const char *end = memchr(q.ptr + i + 1, '\'', q.size - i - 1);
			if (!end)
				__builtin_trap();
			devsys_buf_put(&back, q.ptr + i + 1, (size_t)(end - (q.ptr + i + 1)));
			i = (size_t)(end - q.ptr) + 1;
		} else if (q.ptr[i] == '\\' && i + 1 < q.size && q.ptr[i + 1] == '\'') {
			devsys_buf_put(&back, "'", 1);
			i += 2;
		} else {
			__builtin_trap(); /* an unquoted character */
		}
	}
	if (back.size != size || (size && memcmp(back.ptr, data, size) != 0))
		__builtin_trap();
	devsys_buf_dispose(&q);
	devsys_buf_dispose(&back);
	return 0;
}
