/* Fuzz target: task id validation and safe path joining. */
#include "core/core.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = devsys__strndup((const char *)data, size);
	devsys_buf out = DEVSYS_BUF_INIT;
	if (!s)
		return 0;
	if (devsys_task_id_check(s) == 0) {
		/* A valid id is one safe path component. */
		if (!devsys__relpath_is_safe(s) || strchr(s, '/'))
			__builtin_trap();
	}
	if (devsys__relpath_is_safe(s) && devsys__path_join_within(&out, "/nonexistent-base", s) == 0 &&
	    strncmp(out.ptr, "/nonexistent-base/", 18) != 0)
		__builtin_trap();
	devsys_buf_dispose(&out);
	devsys__free(s);
	return 0;
}
