/*
 * Internals shared by the runner core and the built-in backends.
 */
#ifndef DEVSYS_RUNNER_INT_H
#define DEVSYS_RUNNER_INT_H

#include "../core/core.h"
#include "../secrets/secrets_int.h"
#include "devsys/runner.h"
#include "devsys/sys/runner.h"

extern const devsys_runner_vtable devsys__inproc_vtable;
extern const devsys_runner_vtable devsys__ssh_vtable;
/* weak: NULL when the docker module is not built */
extern const devsys_runner_vtable devsys__host_docker_vtable __attribute__((weak));
/* weak: NULL when the dind module is not built */
extern const devsys_runner_vtable devsys__dind_vtable __attribute__((weak));

int devsys__runner_global_init(void);
int devsys__ssh_global_init(void);
void devsys__ssh_global_shutdown(void);
void devsys__runner_global_shutdown(void);

/*
 * True once the exec must stop: the output callback asked to, the output
 * cap was reached, or the command's idle timeout ran out (checked against
 * the clock here). Backends call it in their wait loops and stop the
 * command as on a cancel; the core names the reason in the result.
 */
int devsys__runner_io_aborted(devsys_runner_io *io);

/* @p cap_ms (-1: no cap), lowered to the ms left until the idle timeout runs
 * out: backends bound their sleeps with it so a stall is seen in time. */
int devsys__runner_io_wait_ms(const devsys_runner_io *io, int cap_ms);

/* Append a library note ("sys| ...") to the exec's log and tail. */
void devsys__runner_io_note(devsys_runner_io *io, const char *fmt, ...) DEVSYS_PRINTF(2, 3);

/* POSIX-sh single-quote @p s (with @p len bytes) onto @p out. */
int devsys__sh_quote(devsys_buf *out, const char *s, size_t len);

/*
 * remote-ssh: the command line for @p c (pid file, cd, env -i, argv). When
 * the command has env entries, the line only names a reader that takes
 * them from stdin (devsys__ssh_env_preamble), so no env value appears in
 * any remote argv (`ps`) or in sshd's logs.
 */
int devsys__ssh_cmdline(devsys_buf *out, const devsys_runner_cmd *c, const char *pidfile, const char *cwd);
/* The stdin preamble carrying @p c's env entries (empty when it has none). */
int devsys__ssh_env_preamble(devsys_buf *out, const devsys_runner_cmd *c);

/* Is @p entry "NAME=value" with NAME matching [A-Za-z_][A-Za-z0-9_]*? */
bool devsys__env_entry_ok(const char *entry);

/* Recursive local copy of a file or tree (inproc upload/download). */
int devsys__copy_tree(const char *from, const char *to);

#include "owner.h"

/* Milliseconds left until @p deadline_ns (0 when passed), capped at INT_MAX. */
int devsys__ms_until(uint64_t deadline_ns);

#endif /* DEVSYS_RUNNER_INT_H */
