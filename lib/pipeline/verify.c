/* The verify stage. (Being written: until then it refuses to run.) */
#include "core/core.h"
#include "pipeline_int.h"

int devsys__stage_verify(devsys__stage_ctx *c)
{
	int rc;
	if ((rc = devsys__pipeline_begin(c, "verify")) < 0)
		return rc;
	return devsys__pipeline_end(c, "verify", devsys__error_set(DEVSYS_ENOTSUPPORTED, "the verify stage is not built yet"),
	                            DEVSYS_FAILURE_SYSTEM, "not-built", -1);
}
