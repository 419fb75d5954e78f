/*
 * The Gitea/Forgejo provider's internals: its JSON response decoders and
 * request helpers (strict about types, errors naming the field), shared
 * with the fuzz target and the codec tests. Strings a decoder returns are
 * borrowed from the json_t it read.
 */
#ifndef DEVSYS_FORGE_GITEA_INT_H
#define DEVSYS_FORGE_GITEA_INT_H

#include "../forge_int.h"

#include <jansson.h>
#include <stdbool.h>

/* Gitea's title prefix for a draft ("work in progress"); the default
 * WORK_IN_PROGRESS_PREFIXES are "WIP:" and "[WIP]", both read back. */
#define DEVSYS__GT_WIP "WIP: "

/* The length of a leading WIP prefix of @p title ("WIP:", "[WIP]", any
 * case, with the spaces after it), or 0. */
size_t devsys__gt_wip_len(const char *title);

/* Append @p s percent-encoded as one path segment (only A-Z a-z 0-9 - . _ ~
 * kept; "task/42" becomes "task%2F42"). */
int devsys__gt_put_segment(devsys_buf *out, const char *s);

/* A pull request object (GET/POST/PATCH /pulls/...) into @p out (version
 * already set): the title without its WIP prefix, draft from the prefix
 * (or a "draft": true that newer servers send). DEVSYS_EPARSE naming the field. */
int devsys__gt_decode_pr(devsys_forge_pr_info *out, const json_t *pr);

/* The id of label @p name among @p labels (an array of {id, name}: GET
 * /labels or a PR's "labels"); false when absent. DEVSYS_EPARSE through
 * *rc for a malformed entry. */
bool devsys__gt_label_id(json_int_t *id, int *rc, const json_t *labels, const char *name);

/* Does @p pr request review from login @p who / team @p name already? */
bool devsys__gt_pr_has_reviewer(const json_t *pr, const char *who);
bool devsys__gt_pr_has_team(const json_t *pr, const char *name);

/* Is @p body (a 409 answer to POST /pulls) Gitea's "pull request already
 * exists for these targets" error, not another conflict? */
bool devsys__gt_is_already_exists(const json_t *body);

/* One entry of GET /pulls/{n}/reviews. *skip is set for an entry that is
 * not a review (a review request, a deleted user, no commit). Gitea's
 * states: APPROVED, REQUEST_CHANGES, COMMENT, PENDING, REQUEST_REVIEW and "" (unknown);
 * "dismissed": true makes it DISMISSED. */
int devsys__gt_decode_review(devsys_policy_review *out, bool *skip, const json_t *item, size_t index);

/* A commit status state ("pending", "success", "error", "failure",
 * "warning", "skipped") as devsys_check_state; -1 when unknown. */
int devsys__gt_status_state(const char *s);

/* The combined status (GET /commits/{ref}/status): each of its statuses
 * (Gitea names the state "status") into @p sink for @p sha; *count gets
 * how many it held and *total its total_count. */
int devsys__gt_decode_combined(devsys_forge_sink *sink, size_t *count, int64_t *total, const json_t *body,
                               const char *sha);

/* One entry of GET /pulls/{n}/files: its path and, for a rename, the old one. */
int devsys__gt_decode_file(const char **path, const char **old_path, const json_t *item, size_t index);

/* One entry of GET /pulls/{n}/commits: the author's login (NULL when the
 * e-mail maps to no account) and the git author's name and e-mail. */
int devsys__gt_decode_commit_author(const char **login, const char **name, const char **email, const json_t *item,
                                    size_t index);

/* Gitea's merge style ("Do") for a devsys_forge_merge_method, or NULL. */
const char *devsys__gt_merge_do(int method);

/* Is @p body a branch protection answer saying the rule exists already? */
bool devsys__gt_is_protection_exists(const json_t *body);

#endif
