/* Fuzz target: the YAML loader (and the model's JSON serialisation). */
#include "core/core.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	devsys_spec *s = NULL;
	o.format = DEVSYS_SPEC_FORMAT_YAML;
	o.max_nodes = 100000; /* keep each run fast; the cap itself is under test */
	if (devsys_spec_load_buffer(&s, data, size, "fuzz.yaml", &o) == 0) {
		if (devsys_spec_count(s) == 0)
			__builtin_trap();
		for (size_t i = 0; i < devsys_spec_count(s) && i < 4; i++) {
			devsys_buf b = DEVSYS_BUF_INIT;
			const devsys_node *root = devsys_spec_at(s, i);
			if (devsys_node_line(root) == 0)
				__builtin_trap();
			if (devsys_node_to_json(&b, root) == 0 && b.size < 1000000) {
				/* what we print as JSON must load again as JSON */
				devsys_spec_options jo = DEVSYS_SPEC_OPTIONS_INIT;
				devsys_spec *j = NULL;
				jo.format = DEVSYS_SPEC_FORMAT_JSON;
				jo.max_nodes = 10000000;
				if (devsys_spec_load_buffer(&j, b.ptr ? b.ptr : "", b.size, "round", &jo) != 0 &&
				    devsys_error_code(devsys_error_last()) == DEVSYS_EPARSE)
					__builtin_trap();
				devsys_spec_free(j);
			}
			devsys_buf_dispose(&b);
		}
		devsys_spec_free(s);
	}
	return 0;
}
