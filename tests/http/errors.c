/*
 * The plug-in-facing error setter (devsys/sys/errors.h) through the shared
 * library only, as a plug-in sees it: directly, and from a separately built
 * module (plugin_err.c) that links libdevsys.so and is dlopened here.
 */
#include "testutil.h"

#include <devsys.h>
#include <devsys/sys/errors.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

Test(sys_errors, set_returns_code_and_sets_the_last_error)
{
	cr_assert_eq(devsys_error_set(DEVSYS_ENOTFOUND, "myforge: repository '%s' not found", "o/r"), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys_error_code(devsys_error_last()), DEVSYS_ENOTFOUND);
	cr_assert_str_eq(devsys_error_message(devsys_error_last()), "myforge: repository 'o/r' not found");
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 0);
	cr_assert_null(devsys_error_detail(devsys_error_last()));
	cr_assert_eq(devsys_error_set_str(DEVSYS_EIO, "100% literal %s"), DEVSYS_EIO);
	cr_assert_str_eq(devsys_error_message(devsys_error_last()), "100% literal %s");
	devsys_error_set_str(DEVSYS_EIO, NULL);
	cr_assert_str_eq(devsys_error_message(devsys_error_last()), "(no message)");
}

Test(sys_errors, detail_is_attached_read_and_cleared)
{
	devsys_error_set(DEVSYS_EINVALID, "myforge: create PR: HTTP 422");
	cr_assert_eq(devsys_error_set_detail(422, "Validation Failed"), DEVSYS_EINVALID);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 422);
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "Validation Failed");
	/* The message is untouched by the detail. */
	cr_assert_str_eq(devsys_error_message(devsys_error_last()), "myforge: create PR: HTTP 422");
	/* A status without a remote message (e.g. an empty 502). */
	devsys_error_set_detail(502, NULL);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 502);
	cr_assert_null(devsys_error_detail(devsys_error_last()));
	/* Copying from its own detail is fine. */
	devsys_error_set_detail(409, "conflict");
	devsys_error_set_detail(409, devsys_error_detail(devsys_error_last()));
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "conflict");
	/* A new error clears the detail: no stale status on an unrelated failure. */
	devsys_error_set(DEVSYS_EIO, "other");
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 0);
	cr_assert_null(devsys_error_detail(devsys_error_last()));
	/* ... and so does a failing library call. */
	devsys_error_set(DEVSYS_EIO, "x");
	devsys_error_set_detail(500, "boom");
	cr_assert_eq(devsys_shutdown(), DEVSYS_ENOTINIT);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 0);
	cr_assert_null(devsys_error_detail(devsys_error_last()));
	devsys_error_set(DEVSYS_EIO, "x");
	devsys_error_set_detail(500, "boom");
	devsys_error_clear();
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 0);
	cr_assert_null(devsys_error_detail(devsys_error_last()));
	cr_assert_eq(devsys_error_http_status(NULL), 0);
	cr_assert_null(devsys_error_detail(NULL));
}

Test(sys_errors, long_detail_is_truncated)
{
	char big[6000];
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	devsys_error_set(DEVSYS_EIO, "x");
	devsys_error_set_detail(500, big);
	size_t n = strlen(devsys_error_detail(devsys_error_last()));
	cr_assert(n > 1000 && n < sizeof(big), "detail length %zu", n);
}

static void *other_thread(void *arg)
{
	(void)arg;
	devsys_error_set(DEVSYS_ENETWORK, "theirs");
	devsys_error_set_detail(503, "their detail");
	return NULL;
}

Test(sys_errors, detail_is_thread_local)
{
	pthread_t t;
	devsys_error_set(DEVSYS_EAUTH, "mine");
	devsys_error_set_detail(401, "my detail");
	pthread_create(&t, NULL, other_thread, NULL);
	pthread_join(t, NULL);
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 401);
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "my detail");
}

Test(sys_errors, from_a_dlopened_plugin)
{
	const char *path = getenv("DEVSYS_ERR_PLUGIN");
	cr_assert_not_null(path, "DEVSYS_ERR_PLUGIN is not set (tests/http/CMakeLists.txt)");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(h, "dlopen %s: %s", path, dlerror());
	int (*fail)(int, const char *) = (int (*)(int, const char *))dlsym(h, "plugin_fail");
	cr_assert_not_null(fail);
	devsys_error_clear();
	cr_assert_eq(fail(404, "Not Found"), DEVSYS_ENOTFOUND);
	/* What the plug-in set in its own module is this thread's last error. */
	cr_assert_eq(devsys_error_code(devsys_error_last()), DEVSYS_ENOTFOUND);
	cr_assert_str_eq(devsys_error_message(devsys_error_last()), "plugin: GET /repos/o/r: HTTP 404");
	cr_assert_eq(devsys_error_http_status(devsys_error_last()), 404);
	cr_assert_str_eq(devsys_error_detail(devsys_error_last()), "Not Found");
	dlclose(h);
}
