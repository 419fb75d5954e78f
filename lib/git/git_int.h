/*
 * Internals of the git module shared by its source files.
 */
#ifndef DEVSYS_GIT_INT_H
#define DEVSYS_GIT_INT_H

#include "../core/core.h"

#include <git2.h>

/* refname.c: pure string checks (no libgit2, fuzzed). */
int devsys__git_refname_check(const char *name);
int devsys__git_url_check(const char *url, int *is_ssh, int *is_https);
/* Copy @p url into @p out with any "user:password@" part shown as "user:***@". */
int devsys__git_url_redact(devsys_buf *out, const char *url);
int devsys__git_pattern_match(const char *pattern, const char *branch);
/* 0: not http://; 1: http:// to a loopback host; 2: http:// to another host
 * (a token must never be sent there in clear text). */
int devsys__git_plain_http_remote(const char *url);

/* remote.c: match a host key against known_hosts text (fuzzed).
 * 1 match, 0 host unknown, -1 known with another key or revoked. */
int devsys__git_known_hosts_match(const char *text, size_t len, const char *host, int port,
                                  const unsigned char *key, size_t keylen, int *revoked);

/* Operation context handed to libgit2 callbacks as their payload. */
typedef struct devsys__git_op {
	devsys_workspace *ws;
	const devsys_repo_options *opts;  /* the handle's copied options */
	const devsys_repo_credential_provider *chain;
	size_t nchain;
	const char *url_shown;            /* redacted URL for messages */
	unsigned int attempts;            /* credential requests so far */
	int error;                        /* a devsys error a callback recorded, or 0 */
	int stage;
	uint64_t push_total;
	const char *push_refused;         /* filled by push_update_reference */
	char push_refused_msg[256];
} devsys__git_op;

/* remote.c */
void devsys__git_callbacks(git_remote_callbacks *cb, devsys__git_op *op);
/* Translate a failed libgit2 call into a devsys error (returns the code). */
int devsys__git_error(devsys__git_op *op, int gitrc, const char *fmt, ...) DEVSYS_PRINTF(3, 4);
int devsys__git_set_ca(const devsys_repo_options *opts);

/*
 * devsys_repo_open_task(), except that a checkout it has to make (none is in
 * the task's folder) starts the task branch at @p head_sha, the commit the
 * task's record names, with @p base_sha (may be NULL) as its base: a task
 * resumed on a host that does not have its checkout. The commit must be in
 * the fetched mirror (the pushed branch); DEVSYS_ENOTFOUND names it
 * otherwise. An existing checkout is reopened as it is.
 */
int devsys__repo_open_task_at(devsys_repo **out, devsys_task *task, const devsys_repo_options *opts,
                              const char *head_sha, const char *base_sha);

#endif /* DEVSYS_GIT_INT_H */
