/*
 * The merge gate with forge I/O: gather the facts (changed paths, reviews,
 * checks, draft), let lib/policy decide, and merge only on "merge".
 */
#include "forge_int.h"

#include <string.h>

static const size_t gate_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_gate_options, poll_interval_ms), /* 1 */
};

int devsys_gate_options_init(devsys_gate_options *opts, unsigned int version)
{
	static const devsys_gate_options defaults = DEVSYS_GATE_OPTIONS_INIT;
	return devsys__options_init(opts, &defaults, gate_sizes, DEVSYS_GATE_OPTIONS_VERSION, version, __func__);
}

int devsys_gate_check(devsys_policy_decision **out, devsys_pr *pr, const devsys_gate_options *opts)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(pr);
	DEVSYS__CHECK_ARG(opts);
	*out = NULL;
	return devsys__error_set(DEVSYS_ENOTSUPPORTED, "devsys_gate_check: not built yet");
}

int devsys_gate_merge(devsys_policy_decision **out, devsys_pr *pr, const devsys_gate_options *opts)
{
	DEVSYS__CHECK_ARG(pr);
	DEVSYS__CHECK_ARG(opts);
	if (out)
		*out = NULL;
	return devsys__error_set(DEVSYS_ENOTSUPPORTED, "devsys_gate_merge: not built yet");
}

int devsys_gate_explain(devsys_buf *out, const devsys_policy_decision *d, int json)
{
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(d);
	(void)json;
	return devsys__error_set(DEVSYS_ENOTSUPPORTED, "devsys_gate_explain: not built yet");
}
