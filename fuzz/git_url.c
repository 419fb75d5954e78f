/* Fuzz target: remote URL checks and credential redaction. */
#include "git/git_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = devsys__strndup((const char *)data, size);
	devsys_buf out = DEVSYS_BUF_INIT;
	int ssh = 0, https = 0;
	if (!s)
		return 0;
	if (devsys__git_url_redact(&out, s) == 0 && out.ptr) {
		/* Redaction never lengthens a URL by more than the mask. */
		if (out.size > strlen(s) + 4)
			__builtin_trap();
	}
	{
		int plain = devsys__git_plain_http_remote(s);
		if (plain < 0 || plain > 2 || (plain && strncmp(s, "http://", 7) != 0))
			__builtin_trap();
	}
	if (devsys__git_url_check(s, &ssh, &https) == 0) {
		/* An accepted URL carries no password: redaction leaves it as it is. */
		if (devsys__git_url_redact(&out, s) == 0 && out.ptr && strcmp(out.ptr, s) != 0)
			__builtin_trap();
		if (ssh && https)
			__builtin_trap();
	}
	devsys_buf_dispose(&out);
	devsys__free(s);
	return 0;
}
