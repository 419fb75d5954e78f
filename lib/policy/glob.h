/*
 * Path globs of the policy module (grammar in include/devsys/policy.h and
 * docs/gate.md), compiled once into segments and matched without
 * exponential backtracking.
 */
#ifndef DEVSYS_POLICY_GLOB_H
#define DEVSYS_POLICY_GLOB_H

#include "../core/core.h"

#define DEVSYS__GLOB_MAX 1024  /* characters in a glob */
#define DEVSYS__PATH_MAX 4096  /* characters in a path */

struct devsys__glob_seg {
	const char *p; /* into devsys__glob.buf, not NUL-terminated */
	size_t len;
	bool dstar;    /* "**": zero or more whole segments */
};

struct devsys__glob {
	char *buf; /* the pattern with the anchoring '/' removed */
	struct devsys__glob_seg *seg;
	size_t nseg;
};

/* Compile @p text; DEVSYS_EINVALID with "glob '...': <why> at column N". */
int devsys__glob_compile(struct devsys__glob *g, const char *text);
void devsys__glob_dispose(struct devsys__glob *g);

/* A path split into segments (pointers into the caller's string). */
struct devsys__path {
	const char *seg[DEVSYS__PATH_MAX / 2 + 1];
	size_t len[DEVSYS__PATH_MAX / 2 + 1];
	size_t n;
};

/* Split and check a repository-relative path; DEVSYS_EINVALID naming it. */
int devsys__path_split(struct devsys__path *out, const char *path);
bool devsys__glob_match(const struct devsys__glob *g, const struct devsys__path *path);

#endif /* DEVSYS_POLICY_GLOB_H */
