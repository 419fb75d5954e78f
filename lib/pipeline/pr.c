/* The pr stage. (Being written: until then it refuses to run.) */
#include "core/core.h"
#include "pipeline_int.h"

int devsys__stage_pr(devsys__stage_ctx *c)
{
	int rc;
	if ((rc = devsys__pipeline_begin(c, "pr")) < 0)
		return rc;
	return devsys__pipeline_end(c, "pr", devsys__error_set(DEVSYS_ENOTSUPPORTED, "the pr stage is not built yet"),
	                            DEVSYS_FAILURE_SYSTEM, "not-built", -1);
}

int devsys__pipeline_forge(devsys__stage_ctx *c)
{
	(void)c;
	return devsys__error_set(DEVSYS_ENOTSUPPORTED, "the forge of the pipeline is not built yet");
}

int devsys__pipeline_set_status(devsys__stage_ctx *c, const char *context, int state, const char *description)
{
	(void)c;
	(void)context;
	(void)state;
	(void)description;
	return devsys__error_set(DEVSYS_ENOTSUPPORTED, "the forge of the pipeline is not built yet");
}
