/* A plug-in-like module: links libdevsys.so, sees only public headers, and
 * reports a failure through devsys/sys/errors.h. */
#include <devsys/sys/errors.h>

int plugin_fail(int status, const char *remote_message);

int plugin_fail(int status, const char *remote_message)
{
	devsys_error_set(DEVSYS_ENOTFOUND, "plugin: GET /repos/o/r: HTTP %d", status);
	return devsys_error_set_detail(status, remote_message);
}
