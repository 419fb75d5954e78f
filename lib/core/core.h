/*
 * libdevsys - internal helpers shared by every module (never installed).
 *
 * Before writing a helper in a module, look here: allocation, errors,
 * options/vtable copying, paths, atomic files, time and logging live here.
 */
#ifndef DEVSYS_CORE_H
#define DEVSYS_CORE_H

#include "devsys.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- allocation (honours devsys_set_allocator) ---- */
void *devsys__malloc(size_t size);
void *devsys__calloc(size_t nmemb, size_t size);
void *devsys__realloc(void *ptr, size_t size);
void devsys__free(void *ptr);
char *devsys__strdup(const char *s);
char *devsys__strndup(const char *s, size_t n);
char *devsys__asprintf(const char *fmt, ...) DEVSYS_PRINTF(1, 2);

/* ---- errors: set the thread's last error and return the code ---- */
int devsys__error_set(int code, const char *fmt, ...) DEVSYS_PRINTF(2, 3);
int devsys__error_setv(int code, const char *fmt, va_list ap);
/* Like devsys__error_set, appending ": <strerror(errnum)>". */
int devsys__error_errno(int code, int errnum, const char *fmt, ...) DEVSYS_PRINTF(3, 4);
/* Map an errno value to the closest DEVSYS_E* code. */
int devsys__errno_code(int errnum);
int devsys__error_oom(void);

#define DEVSYS__CHECK_ARG(arg)                                                             \
	do {                                                                               \
		if ((arg) == NULL)                                                         \
			return devsys__error_set(DEVSYS_EINVAL, "%s: argument '%s' must not be NULL", \
			                         __func__, #arg);                          \
	} while (0)

/* ---- library state ---- */
bool devsys__initialized(void);
/* DEVSYS_ENOTINIT with a message naming @p func, or 0. */
int devsys__require_init(const char *func);

/*
 * Copy a caller's versioned options struct (or vtable) into @p dst.
 * @p sizes[v] is the struct's size at version v (sizes[0] unused), for
 * v = 1..max_version. @p dst must already hold the defaults of the latest
 * version: only the bytes the caller's version has are copied over them.
 */
int devsys__versioned_copy(void *dst, const void *src, const size_t *sizes, unsigned int max_version,
                           const char *type_name);

/*
 * The body of every public devsys_x_options_init(): copy the first
 * @p sizes[version] bytes of @p defaults (the latest version's INIT values)
 * into @p opts and set its version; DEVSYS_EVERSION for 0 or a version newer
 * than @p max_version, naming @p func.
 */
int devsys__options_init(void *opts, const void *defaults, const size_t *sizes, unsigned int max_version,
                         unsigned int version, const char *func);

/* Size of a struct up to and including @p member (for the size tables). */
#define DEVSYS__SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* ---- paths and files ---- */
/* mkdir -p with @p mode; existing directories are fine. */
int devsys__mkdir_p(const char *path, mode_t mode);
/* True when @p rel is relative, non-empty, and has no "." / ".." components. */
bool devsys__relpath_is_safe(const char *rel);
/*
 * "<base>/<rel>" into @p out after devsys__relpath_is_safe(), then resolve
 * the longest existing prefix with realpath() and require it stays within
 * @p base (which must be absolute and canonical). DEVSYS_EPATH otherwise.
 * Below a parent of @p base that this thread found canonical before (and
 * that is still the same directory, not a link), lstat() of the components
 * stands in for realpath(); see fs.c for what that does and does not cover.
 */
int devsys__path_join_within(devsys_buf *out, const char *base, const char *rel);
/* Write @p len bytes to @p path atomically: temp file, fsync, rename, fsync dir;
 * while devsys__fs_sync_wanted() is false, no fsync and through a spare file,
 * <path>.spare, swapped in with RENAME_EXCHANGE (fs.c says why). */
int devsys__write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/*
 * The one fsync policy of a task folder's writes (devsys__write_file_atomic
 * and lib/record's event append): durable unless this thread holds a
 * devsys__fs_nosync_begin() (nesting; each paired with an _end). Only the
 * store holds one, around the folder writes of a state change on a shared
 * store, whose database is the durable copy (see write_files in store.c).
 */
void devsys__fs_nosync_begin(void);
void devsys__fs_nosync_end(void);
bool devsys__fs_sync_wanted(void);
/* Read a whole file (at most @p max_size bytes, else DEVSYS_ELIMIT). */
int devsys__read_file(devsys_buf *out, const char *path, size_t max_size);

/* ---- hashing (lib/core/hash.c) ---- */
/* "sha1:<git blob id>" of @p len bytes (what `git hash-object` prints): the
 * id of a spec in task.json's spec_hash and in the commit's Spec: trailer. */
int devsys__content_id(devsys_buf *out, const void *data, size_t len);

/*
 * ---- writing a tree someone else chose (lib/core/beneath.c) ----
 * Downloads, local tree copies and tar readers write entries by relative
 * path below a root directory. Each path is walked one component at a time
 * from the root's fd with openat(O_NOFOLLOW | O_DIRECTORY): a symbolic link
 * on the way is refused (DEVSYS_EPATH naming the path), never followed, and
 * missing directories are created. Paths must pass devsys__relpath_is_safe()
 * (no absolute path, '.', '..' or empty component; a tar reader strips a
 * leading "./" first). The last component is replaced, never written
 * through: an existing non-directory there (including a symlink or a hard
 * link to a file outside) is unlinked and the entry created with O_EXCL; an
 * existing directory is refused for a file or link. Not thread-safe per
 * handle; the tree may be read by others meanwhile.
 */
typedef struct devsys__beneath {
	int fd;              /* the root directory, O_DIRECTORY */
	char *path;          /* the root as the caller named it, for messages */
	unsigned refused;    /* entries refused so far (devsys__beneath_skip) */
	char *first_refusal; /* the first one's message */
} devsys__beneath;

/* Open (with @p create_mode != 0: create if missing) the root @p dir. The
 * root itself is the caller's: a link there is followed. */
int devsys__beneath_open(devsys__beneath *b, const char *dir, mode_t create_mode);
/* Open the directory that holds @p path as the root; its last component
 * (pointing into @p path, for devsys__beneath_create) into @p leaf. */
int devsys__beneath_open_parent(devsys__beneath *b, const char **leaf, const char *path);
/* Close the root and free its path; safe on a closed or failed handle. */
void devsys__beneath_close(devsys__beneath *b);
/* mkdir -p of @p rel below the root (last component with @p mode, existing
 * directories kept as they are); the directory's fd into @p out_fd unless NULL. */
int devsys__beneath_mkdir(int *out_fd, const devsys__beneath *b, const char *rel, mode_t mode);
/* Create the regular file @p rel (mode & 0777) afresh and open it O_WRONLY
 * into @p out_fd (the caller closes it). */
int devsys__beneath_create(int *out_fd, const devsys__beneath *b, const char *rel, mode_t mode);
/* Create the symlink @p rel -> @p target, only when devsys__link_target_within(). */
int devsys__beneath_symlink(const devsys__beneath *b, const char *rel, const char *target);
/* Create @p rel as a hard link to the existing entry @p existing of the same tree. */
int devsys__beneath_hardlink(const devsys__beneath *b, const char *rel, const char *existing);
/*
 * A transfer goes on past a refused entry, so the legitimate rest arrives:
 * for @p rc == DEVSYS_EPATH count it, keep the first message and return 0;
 * any other @p rc (0, or a real failure that ends the transfer) as it is.
 */
int devsys__beneath_skip(devsys__beneath *b, int rc);
/* At the end of a transfer: 0, or DEVSYS_EPATH saying how many entries
 * were refused under the root and quoting the first refusal. */
int devsys__beneath_result(const devsys__beneath *b);
/*
 * Would a link at @p rel (relative to the root) with @p target stay inside
 * the root, judged lexically? Refused: an empty or absolute target, '..'
 * climbing above the root, and '..' after a name (it would climb from where
 * that name leads, and a link such as "sub -> ." makes that the root).
 */
bool devsys__link_target_within(const char *rel, const char *target);

/* ---- shared input rules ---- */
/* True for the YAML 1.1 boolean spellings (y, yes, on, off, ... in their case
 * forms). Every devsys YAML reader refuses them as values: true/false only. */
bool devsys__yaml11_bool(const char *s);

/* ---- time ---- */
/* Monotonic clock in nanoseconds. */
uint64_t devsys__now_ns(void);

/* ---- process identity (owner.c): pid + start time + boot id survive pid reuse ---- */
/* Field 22 of /proc/<pid>/stat (clock ticks since boot), or -1. */
long long devsys__proc_start(pid_t pid);
/* /proc/sys/kernel/random/boot_id into @p out ("" when unreadable); 37 bytes suffice. */
void devsys__boot_id(char *out, size_t size);
/* Does the process stamped (pid, start, boot) still run? */
bool devsys__owner_alive(long long pid, long long start, const char *boot);
/* UTC wall clock as "2026-11-26T10:54:42.123Z" into @p out (>= 32 bytes). */
void devsys__time_iso8601(char *out, size_t out_size);

/* ---- logging (see lib/workspace) ---- */
void devsys__log(devsys_workspace *ws, int level, const char *component, const char *fmt, ...)
	DEVSYS_PRINTF(4, 5);
void devsys__logv(devsys_workspace *ws, int level, const char *component, const char *fmt, va_list ap);

/* ---- references taken by handles that keep another handle (docs/abi.md, "Lifetimes") ---- */
void devsys__workspace_ref(devsys_workspace *ws);
/* Paired with devsys_task_free(), which drops one reference. */
void devsys__task_ref(devsys_task *task);
/* Paired with devsys_masker_free(), which drops one reference (lib/secrets). */
void devsys__masker_ref(devsys_masker *masker);

/* ---- module init/shutdown hooks (generated list, see cmake/DevsysModules.cmake) ---- */
int devsys__modules_init(void);
void devsys__modules_shutdown(void);

#endif /* DEVSYS_CORE_H */
