/*
 * The `local` forge provider: pull requests of a local bare repository,
 * kept beside it, offline.
 */
#include "../forge_int.h"

static int local_open(void **self, const devsys_forge_open_options *opts, void *payload)
{
	(void)self;
	(void)opts;
	(void)payload;
	return devsys_error_set(DEVSYS_ENOTSUPPORTED, "local forge: not built yet");
}

static void local_close(void *self)
{
	(void)self;
}

static int local_upsert(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req)
{
	(void)self;
	(void)out;
	(void)req;
	return DEVSYS_ENOTSUPPORTED;
}

static int local_get(void *self, devsys_forge_pr_info *out, int64_t number)
{
	(void)self;
	(void)out;
	(void)number;
	return DEVSYS_ENOTSUPPORTED;
}

const devsys_forge_vtable devsys__forge_local_vtable = {
	.version = DEVSYS_FORGE_VTABLE_VERSION,
	.name = "local",
	.open = local_open,
	.close = local_close,
	.pr_upsert = local_upsert,
	.pr_get = local_get,
};
