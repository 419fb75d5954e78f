/* Fuzz target: task-spec validation (load as YAML or JSON, validate, output),
 * and devsys_spec_validate_buffer()'s one call agreeing with the two. */
#include "core/core.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	devsys_spec *s = NULL;
	o.max_nodes = 100000;
	int one_call = devsys_spec_validate_buffer(NULL, NULL, data, size, "fuzz", &o);
	if (devsys_spec_load_buffer(&s, data, size, "fuzz", &o) != 0) {
		if (one_call == 0 || one_call == DEVSYS_EINVALID)
			__builtin_trap(); /* the one call loads exactly as the two calls do */
		return 0;
	}
	if (devsys_spec_count(s) != 1 ? one_call != DEVSYS_EINVALID
	                               : (one_call == 0) != (devsys_spec_validate(NULL, s, 0) == 0))
		__builtin_trap(); /* one document: the same verdict; several: refused */
	for (size_t i = 0; i < devsys_spec_count(s) && i < 4; i++) {
		devsys_validation *v = NULL;
		int full = devsys_spec_validate(&v, s, i);
		int fast = devsys_spec_validate(NULL, s, i);
		if ((full == 0) != (fast == 0))
			__builtin_trap(); /* the fast path and the full path must agree */
		if (full == 0 && devsys_validation_count(v) != 0)
			__builtin_trap();
		if (full == DEVSYS_EINVALID && devsys_validation_count(v) == 0)
			__builtin_trap();
		devsys_buf b = DEVSYS_BUF_INIT;
		if (v && devsys_validation_to_json(&b, v) != 0)
			__builtin_trap();
		devsys_buf_dispose(&b);
		devsys_validation_free(v);
	}
	devsys_spec_free(s);
	return 0;
}
