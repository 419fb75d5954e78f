#include "testutil.h"
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

Test(core_errors, last_error_is_never_null_and_starts_clear)
{
	devsys_error_clear();
	const devsys_error *e = devsys_error_last();
	cr_assert_not_null(e);
	cr_assert_eq(devsys_error_code(e), DEVSYS_OK);
	cr_assert_str_eq(devsys_error_message(e), "no error");
}

Test(core_errors, set_records_code_and_message)
{
	int rc = devsys__error_set(DEVSYS_EBADID, "task id '%s' is bad", "x/y");
	cr_assert_eq(rc, DEVSYS_EBADID);
	cr_assert_eq(devsys_error_code(devsys_error_last()), DEVSYS_EBADID);
	cr_assert_str_eq(devsys_error_message(devsys_error_last()), "task id 'x/y' is bad");
}

Test(core_errors, accessors_accept_null)
{
	cr_assert_eq(devsys_error_code(NULL), DEVSYS_EINVAL);
	cr_assert_not_null(devsys_error_message(NULL));
}

Test(core_errors, every_code_has_a_name_and_text)
{
	for (int code = 0; code >= DEVSYS_ESYSTEM; code--) {
		cr_assert_neq(strcmp(devsys_error_name(code), "DEVSYS_EUNKNOWN"), 0, "code %d has no name", code);
		cr_assert_neq(strcmp(devsys_strerror(code), "unknown error"), 0, "code %d has no text", code);
	}
	cr_assert_str_eq(devsys_error_name(-9999), "DEVSYS_EUNKNOWN");
	cr_assert_str_eq(devsys_strerror(-9999), "unknown error");
	cr_assert_str_eq(devsys_error_name(DEVSYS_EPROTECTED), "DEVSYS_EPROTECTED");
}

static void *other_thread(void *arg)
{
	(void)arg;
	devsys__error_set(DEVSYS_EIO, "from the other thread");
	return NULL;
}

Test(core_errors, last_error_is_thread_local)
{
	pthread_t t;
	devsys__error_set(DEVSYS_EPATH, "mine");
	pthread_create(&t, NULL, other_thread, NULL);
	pthread_join(t, NULL);
	cr_assert_eq(devsys_error_code(devsys_error_last()), DEVSYS_EPATH);
	cr_assert_str_eq(devsys_error_message(devsys_error_last()), "mine");
}

Test(core_errors, long_messages_are_truncated_not_overflowed)
{
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	devsys__error_set(DEVSYS_EIO, "%s", big);
	cr_assert_lt(strlen(devsys_error_message(devsys_error_last())), sizeof(big));
}

Test(core_errors, errno_mapping)
{
	cr_assert_eq(devsys__errno_code(ENOENT), DEVSYS_ENOTFOUND);
	cr_assert_eq(devsys__errno_code(EROFS), DEVSYS_EACCESS);
	cr_assert_eq(devsys__errno_code(ENOSPC), DEVSYS_ENOSPC);
	cr_assert_eq(devsys__errno_code(EBADF), DEVSYS_EIO);
}
