/*
 * Layout of every public options struct, vtable and ABI-visible struct,
 * frozen for x86_64 / LP64. A failing _Static_assert breaks the build: the
 * change is an ABI break unless the field was appended and the version
 * bumped (docs/abi.md).
 */
#include "testutil.h"
#include <devsys.h>

#include <stddef.h>

#define LAYOUT(type, member, off) _Static_assert(offsetof(type, member) == (off), #type "." #member " moved")
#define SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " changed size")

#if defined(__x86_64__) && defined(__LP64__)
/* devsys_buf: never changes */
LAYOUT(devsys_buf, ptr, 0);
LAYOUT(devsys_buf, size, 8);
LAYOUT(devsys_buf, asize, 16);
SIZE(devsys_buf, 24);

/* devsys_allocator, version 1 */
LAYOUT(devsys_allocator, version, 0);
LAYOUT(devsys_allocator, malloc_fn, 8);
LAYOUT(devsys_allocator, realloc_fn, 16);
LAYOUT(devsys_allocator, free_fn, 24);
LAYOUT(devsys_allocator, payload, 32);
SIZE(devsys_allocator, 40);

/* devsys_workspace_options, version 1 */
LAYOUT(devsys_workspace_options, version, 0);
LAYOUT(devsys_workspace_options, flags, 4);
LAYOUT(devsys_workspace_options, dir_mode, 8);
LAYOUT(devsys_workspace_options, log_level, 12);
LAYOUT(devsys_workspace_options, log_cb, 16);
LAYOUT(devsys_workspace_options, log_payload, 24);
SIZE(devsys_workspace_options, 32);

/* devsys_redactor_vtable, version 1 */
LAYOUT(devsys_redactor_vtable, version, 0);
LAYOUT(devsys_redactor_vtable, redact, 8);
LAYOUT(devsys_redactor_vtable, release, 16);
SIZE(devsys_redactor_vtable, 24);
#endif

/* Module layouts are appended below, one block per module. */

Test(abi_layout, versions_and_codes_are_frozen)
{
	cr_assert_eq(DEVSYS_ALLOCATOR_VERSION, 1);
	cr_assert_eq(DEVSYS_WORKSPACE_OPTIONS_VERSION, 1);
	cr_assert_eq(DEVSYS_REDACTOR_VTABLE_VERSION, 1);
	/* Error codes never change number. */
	cr_assert_eq(DEVSYS_EINVAL, -2);
	cr_assert_eq(DEVSYS_EBADID, -11);
	cr_assert_eq(DEVSYS_EPROTECTED, -15);
	cr_assert_eq(DEVSYS_ESYSTEM, -27);
	cr_assert_eq(sizeof(devsys_errcode), sizeof(int));
}
