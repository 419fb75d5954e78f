#include "testutil.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>

Test(core_global, init_is_reference_counted)
{
	cr_assert_eq(devsys_shutdown(), DEVSYS_ENOTINIT);
	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_init(), 2);
	cr_assert_eq(devsys_shutdown(), 1);
	cr_assert_eq(devsys_shutdown(), 0);
	cr_assert_eq(devsys_shutdown(), DEVSYS_ENOTINIT);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "not initialised") != NULL);
}

Test(core_global, version_matches_headers)
{
	int major = -1, minor = -1, patch = -1;
	cr_assert_str_eq(devsys_version(), DEVSYS_VERSION_STRING);
	devsys_version_numbers(&major, &minor, &patch);
	cr_assert_eq(major, DEVSYS_VERSION_MAJOR);
	cr_assert_eq(minor, DEVSYS_VERSION_MINOR);
	cr_assert_eq(patch, DEVSYS_VERSION_PATCH);
	devsys_version_numbers(NULL, NULL, NULL);
	cr_assert_eq(DEVSYS_ABI_VERSION, 1);
}

Test(core_global, functions_needing_init_say_so)
{
	devsys_workspace *ws = (devsys_workspace *)1;
	cr_assert_eq(devsys_workspace_open(&ws, "/tmp/never", NULL), DEVSYS_ENOTINIT);
	cr_assert_null(ws);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "devsys_init()") != NULL);
}

static size_t allocs, frees;
static void *count_malloc(size_t n, void *p) { (void)p; allocs++; return malloc(n); }
static void *count_realloc(void *ptr, size_t n, void *p) { (void)p; if (!ptr) allocs++; return realloc(ptr, n); }
static void count_free(void *ptr, void *p) { (void)p; if (ptr) frees++; free(ptr); }

Test(core_global, allocator_hook_is_used_and_only_settable_when_not_initialised)
{
	devsys_allocator a = { DEVSYS_ALLOCATOR_VERSION, count_malloc, count_realloc, count_free, NULL };
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_set_allocator(&a), 0);
	devsys_buf_puts(&b, "hello");
	devsys_buf_dispose(&b);
	cr_assert_gt(allocs, 0);
	cr_assert_eq(allocs, frees);

	cr_assert_eq(devsys_init(), 1);
	cr_assert_eq(devsys_set_allocator(NULL), DEVSYS_EBUSY);
	cr_assert_eq(devsys_shutdown(), 0);
	cr_assert_eq(devsys_set_allocator(NULL), 0);
}

Test(core_global, allocator_with_bad_version_or_missing_function_is_refused)
{
	devsys_allocator a = { 0, count_malloc, count_realloc, count_free, NULL };
	cr_assert_eq(devsys_set_allocator(&a), DEVSYS_EVERSION);
	a.version = DEVSYS_ALLOCATOR_VERSION + 1;
	cr_assert_eq(devsys_set_allocator(&a), DEVSYS_EVERSION);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "devsys_allocator") != NULL);
	a.version = DEVSYS_ALLOCATOR_VERSION;
	a.free_fn = NULL;
	cr_assert_eq(devsys_set_allocator(&a), DEVSYS_EINVAL);
}

/* A payload-carrying allocator: devsys_malloc/devsys_free must reach it, with its payload. */
struct arena_count {
	size_t allocs, frees, bytes;
	int fail; /* malloc returns NULL */
};
static void *pay_malloc(size_t n, void *p)
{
	struct arena_count *a = p;
	if (a->fail)
		return NULL;
	a->allocs++;
	a->bytes += n;
	return malloc(n);
}
static void *pay_realloc(void *ptr, size_t n, void *p)
{
	struct arena_count *a = p;
	if (!ptr)
		a->allocs++;
	return realloc(ptr, n);
}
static void pay_free(void *ptr, void *p)
{
	struct arena_count *a = p;
	if (ptr)
		a->frees++;
	free(ptr);
}

Test(core_global, devsys_malloc_and_free_use_the_installed_allocator)
{
	struct arena_count a = { 0 };
	devsys_allocator al = { DEVSYS_ALLOCATOR_VERSION, pay_malloc, pay_realloc, pay_free, &a };
	cr_assert_eq(devsys_set_allocator(&al), 0);

	/* behaviour: usable memory from the hook, returned to the hook */
	char *p = devsys_malloc(100);
	cr_assert_not_null(p);
	cr_assert_eq(a.allocs, 1);
	cr_assert_eq(a.bytes, 100);
	memset(p, 'x', 100);
	devsys_free(p);
	cr_assert_eq(a.frees, 1);

	/* edge input: size 0 still gives a pointer that devsys_free takes; NULL is a no-op */
	p = devsys_malloc(0);
	cr_assert_not_null(p, "devsys_malloc(0) must not look like a failure");
	devsys_free(p);
	cr_assert_eq(a.frees, 2);
	devsys_free(NULL);
	cr_assert_eq(a.frees, 2, "devsys_free(NULL) reached the allocator");

	/* ownership: a buffer the library filled is freed with devsys_free, by the same allocator */
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_buf_puts(&b, "owned by the caller now"), 0);
	char *taken = b.ptr;
	size_t before = a.frees;
	cr_assert_str_eq(taken, "owned by the caller now");
	devsys_free(taken);
	cr_assert_eq(a.frees, before + 1);
	cr_assert_eq(a.allocs, a.frees, "every allocation was returned");

	/* an allocator that fails: NULL, not a crash */
	a.fail = 1;
	cr_assert_null(devsys_malloc(16));
	a.fail = 0;
	cr_assert_eq(devsys_set_allocator(NULL), 0);
	/* back on the C library's allocator */
	p = devsys_malloc(8);
	cr_assert_not_null(p);
	devsys_free(p);
	cr_assert_eq(a.allocs, a.frees, "the restored allocator must not call the old hook");
}
