/* Fuzz target: the position-recording JSON reader; output must round-trip. */
#include "core/core.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	devsys_spec *s = NULL;
	o.format = DEVSYS_SPEC_FORMAT_JSON;
	if (devsys_spec_load_buffer(&s, data, size, "fuzz.json", &o) == 0) {
		devsys_buf a = DEVSYS_BUF_INIT, b = DEVSYS_BUF_INIT;
		devsys_spec *t = NULL;
		if (devsys_node_to_json(&a, devsys_spec_at(s, 0)) != 0)
			__builtin_trap();
		if (devsys_spec_load_buffer(&t, a.ptr, a.size, "round", &o) != 0)
			__builtin_trap();
		if (devsys_node_to_json(&b, devsys_spec_at(t, 0)) != 0 || a.size != b.size || memcmp(a.ptr, b.ptr, a.size))
			__builtin_trap(); /* serialisation is a fixed point after one round */
		devsys_spec_free(t);
		devsys_buf_dispose(&a);
		devsys_buf_dispose(&b);
		devsys_spec_free(s);
	}
	return 0;
}
