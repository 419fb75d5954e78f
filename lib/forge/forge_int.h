/*
 * Forge internals shared by the forge core (registry, PRs, sinks, the gate,
 * the body builder) and the built-in providers (local/, github/, gitea/).
 */
#ifndef DEVSYS_FORGE_INT_H
#define DEVSYS_FORGE_INT_H

#include "core/core.h"
#include "devsys/forge.h"
#include "devsys/sys/errors.h"

#include <stdio.h>
#include <strings.h>

/* Built-in providers: each provider's folder defines its vtable. Add one
 * line here and one row in builtins[] of forge.c. */
extern const devsys_forge_vtable devsys__forge_local_vtable;
extern const devsys_forge_vtable devsys__forge_github_vtable;
extern const devsys_forge_vtable devsys__forge_gitea_vtable;

/* What a sink collects; one kind per list call. */
enum devsys__sink_kind { DEVSYS__SINK_REVIEWS = 1, DEVSYS__SINK_CHECKS, DEVSYS__SINK_FILES, DEVSYS__SINK_AUTHORS };

/* An owned copy of one list entry. */
struct devsys__sink_item {
	char *a; /* reviewer / context / path / login */
	char *b; /* commit sha / sha / old path */
	int state;
	int kind;
};

struct devsys_forge_sink {
	int kind;
	struct devsys__sink_item *items;
	size_t n, cap;
	int truncated;
};

void devsys__sink_init(devsys_forge_sink *s, int kind);
void devsys__sink_dispose(devsys_forge_sink *s);

struct devsys_forge {
	unsigned refs;           /* atomic: the handle itself, plus one per devsys_pr (a PR may be freed on another thread) */
	devsys_forge_vtable vt;  /* a copy: the registry may change meanwhile */
	void *self;
	char *provider;
	char *owner;
	char *repo;
	char *remote_url;
	char *host;              /* the remote's host ("" for a local path) */
	char *base_url;
	char *local_path;
	char *bot;
	char *ca_file;
	char *token;             /* wiped when freed */
	int merge_method;
};

void devsys__forge_unref(devsys_forge *f);

/* The module's init/shutdown hooks: register and drop the built-ins. */
int devsys__forge_global_init(void);
void devsys__forge_global_shutdown(void);

/* The registered copy of @p name into @p vt (and its payload). */
int devsys__forge_lookup(devsys_forge_vtable *vt, void **payload, const char *name);

/* Run provider slot @p slot of @p f or fail with DEVSYS_ENOTSUPPORTED naming @p what. */
#define DEVSYS__FORGE_SLOT(f, slot, what)                                                                     \
	do {                                                                                                  \
		if (!(f)->vt.slot)                                                                            \
			return devsys__error_set(DEVSYS_ENOTSUPPORTED, "forge '%s': %s is not supported by this " \
			                         "provider", (f)->provider, what);                               \
	} while (0)

/* pr.c, for the gate. */
devsys_forge *devsys__pr_forge(devsys_pr *pr);
int devsys__pr_set_merged(devsys_pr *pr, const char *merge_sha);

/* Cut @p text to at most @p max characters (bytes) at a line end, with a note. */
int devsys__pr_body_cap(devsys_buf *out, const char *text, size_t len, size_t max);

/* Split a remote URL into host (lower-cased, with ":port" when given), owner and repo (no ".git").
 * A local path or file:// URL gives host "" and the path in *path. New strings. */
int devsys__forge_parse_remote(char **host, char **owner, char **repo, char **path, const char *url);

#endif /* DEVSYS_FORGE_INT_H */
