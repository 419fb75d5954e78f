/*
 * The GitHub provider's internals: its JSON response decoders (strict about
 * types, errors naming the field), shared with the fuzz target and the
 * codec tests. Strings a decoder returns are borrowed from the json_t it
 * read.
 */
#ifndef DEVSYS_FORGE_GITHUB_INT_H
#define DEVSYS_FORGE_GITHUB_INT_H

#include "../forge_int.h"

#include <jansson.h>

/* The provider's own options (devsys_forge_options.ext with ext_type
 * DEVSYS__GH_EXT_TYPE): internal, for the contract tests and the bench.
 * headers: extra "Name: value" lines on every request (Prism's "Prefer:
 * code=422"); backoff_ms: the first retry's wait. */
#define DEVSYS__GH_EXT_TYPE "devsys__github_ext"
struct devsys__gh_ext {
	unsigned int version; /* 1 */
	const char *const *headers;
	long backoff_ms;
};

/* GitHub stops the files of a pull request at this many. */
#define DEVSYS__GH_MAX_FILES 3000

/* A pull request object (GET/POST/PATCH /pulls, the list's items) into
 * @p out (version already set). Also its label names and requested
 * reviewer logins / team slugs, borrowed, when the arrays are given.
 * DEVSYS_EPARSE naming the field. */
int devsys__gh_decode_pr(devsys_forge_pr_info *out, const json_t *pr);

/* Does @p pr carry label @p name / request login @p who / team @p slug? */
bool devsys__gh_pr_has_label(const json_t *pr, const char *name);
bool devsys__gh_pr_has_reviewer(const json_t *pr, const char *login);
bool devsys__gh_pr_has_team(const json_t *pr, const char *slug);

/* Is @p body (a 422 answer) GitHub's "A pull request already exists for
 * owner:branch." validation error? Only its message or errors[].message
 * says so; Prism's mock 422 ("string") and other validation errors do not. */
bool devsys__gh_is_already_exists(const json_t *body);

/* One entry of GET /pulls/{n}/reviews. *skip is set for an entry that can
 * never count (a deleted user, a pending review without a commit). */
int devsys__gh_decode_review(devsys_policy_review *out, bool *skip, const json_t *item, size_t index);

/* The combined status (GET /commits/{sha}/status): each of its statuses
 * into @p sink. */
int devsys__gh_decode_combined(devsys_forge_sink *sink, const json_t *body, const char *sha);

/* A page of GET /commits/{sha}/check-runs: its runs into @p sink; *count
 * gets how many it held and *total its total_count. */
int devsys__gh_decode_check_runs(devsys_forge_sink *sink, size_t *count, int64_t *total, const json_t *body);

/* One entry of GET /pulls/{n}/files: its path and, for a rename, the old one. */
int devsys__gh_decode_file(const char **path, const char **old_path, const json_t *item, size_t index);

/* One entry of GET /pulls/{n}/commits: the author's login (NULL when the
 * commit's e-mail maps to no account) and the git author's name and e-mail. */
int devsys__gh_decode_commit_author(const char **login, const char **name, const char **email, const json_t *item,
                                    size_t index);

/* The merge answer (PUT /pulls/{n}/merge): the merge commit. */
int devsys__gh_decode_merge(const char **sha, const json_t *body);

#endif
