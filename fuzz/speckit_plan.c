/* Fuzz target: the spec-kit parser on one plan.md (see speckit_common.h). */
#include "speckit_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return speckit_fuzz("plan.md", data, size);
}
