/* Fuzz target: compile an arbitrary JSON document as a schema and validate a
 * few instances with it (refs, regexes, dynamic scope, unevaluated*). */
#include "core/core.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const instances[] = {
	"null", "true", "0", "-1.5", "\"\"", "\"abc\"", "[]", "[1,\"a\",[null]]", "{}",
	"{\"a\":1,\"b\":{\"c\":[1,2,2]},\"foo\":\"bar\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	devsys_spec *s = NULL, *inst = NULL;
	devsys_schema *sch = NULL;
	devsys_schema_options so = DEVSYS_SCHEMA_OPTIONS_INIT;
	o.format = DEVSYS_SPEC_FORMAT_JSON;
	o.max_nodes = 20000;
	o.max_depth = 64;
	if (devsys_spec_load_buffer(&s, data, size, "schema.json", &o) != 0)
		return 0;
	so.regex_match_limit = 10000;
	so.flags = size & 1 ? DEVSYS_SCHEMA_FORMAT_ASSERT : 0;
	if (devsys_schema_compile(&sch, devsys_spec_at(s, 0), &so) == 0) {
		for (size_t i = 0; i < sizeof(instances) / sizeof(instances[0]); i++) {
			if (devsys_spec_load_buffer(&inst, instances[i], strlen(instances[i]), "i", &o) != 0)
				__builtin_trap();
			devsys_validation *v = NULL;
			int full = devsys_schema_validate(&v, sch, devsys_spec_at(inst, 0));
			int fast = devsys_schema_validate(NULL, sch, devsys_spec_at(inst, 0));
			if ((full == 0 || full == DEVSYS_EINVALID) && (fast == 0 || fast == DEVSYS_EINVALID) &&
			    (full == 0) != (fast == 0))
				__builtin_trap();
			devsys_validation_free(v);
			devsys_spec_free(inst);
			inst = NULL;
		}
		devsys_schema_free(sch);
	}
	devsys_spec_free(s);
	return 0;
}
