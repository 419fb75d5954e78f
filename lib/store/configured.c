/*
 * The store devsys.yaml names (devsys_store_open_config()): the pipeline,
 * the worker and devsysd open their store the same way, so a worker given a
 * configuration claims from the database its pipelines record into.
 */
#include "core/core.h"
#include "store_int.h"
#include "devsys/config.h"
#include "devsys/secrets.h"

int devsys_store_open_config(devsys_store **out, devsys_workspace *ws, const devsys_store_options *given,
                             const devsys_config *cfg)
{
	devsys_store_options so = DEVSYS_STORE_OPTIONS_INIT;
	devsys_secret_def def = DEVSYS_SECRET_DEF_INIT;
	devsys_secrets *secrets = NULL;
	const char *url = NULL;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	DEVSYS__CHECK_ARG(ws);
	if ((given && given->version >= 2 && given->url) || !cfg || devsys_config_store(&url, &def, cfg) < 0) {
		devsys_error_clear();
		return devsys_store_open(out, ws, given);
	}
	if (given) {
		so.flags = given->flags;
		so.busy_timeout_ms = given->busy_timeout_ms;
	}
	so.url = url;
	if (def.name) {
		/* a set of its own: the password is resolved only while opening */
		if ((rc = devsys_secrets_new(&secrets, NULL)) < 0 || (rc = devsys_secrets_define(secrets, &def)) < 0) {
			devsys_secrets_free(secrets);
			return rc;
		}
		so.secrets = secrets;
		so.password_secret = def.name;
	}
	rc = devsys_store_open(out, ws, &so);
	devsys_secrets_free(secrets);
	return rc;
}
