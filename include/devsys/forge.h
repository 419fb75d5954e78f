/*
 * libdevsys - forges: pull requests, commit statuses, and the merge gate.
 */
#ifndef DEVSYS_FORGE_H
#define DEVSYS_FORGE_H

#include "common.h"
#include "buf.h"
#include "task.h"
#include "policy.h"
#include "repo.h"
#include "secrets.h"
#include "config.h"
#include "sys/forge.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/forge.h
 * @brief A forge provider bound to one repository (devsys_forge), its pull
 *        requests (devsys_pr), commit statuses, and the merge gate
 *        (devsys_gate_*), the only way a pull request is merged.
 *
 * Providers are registered by name (sys/forge.h); github, gitea and local
 * are built in. Which one a repository uses, its API base URL, its token's
 * secret and the merge method come from the operator's devsys.yaml
 * (`forges:`, matched by the remote's host; docs/forge.md), never from a
 * task spec: the token follows the provider.
 *
 * Ownership: handles are opaque, made by _new/_open/_get and freed by
 * _free (NULL is fine). Strings passed in are copied. A returned
 * `const char *` is borrowed from its handle, valid until the handle is
 * freed or the call documented to replace it.
 *
 * Threads: a devsys_forge and the devsys_pr handles made from it are used
 * by one thread at a time (they share one connection).
 */

/** A forge provider bound to one repository. */
typedef struct devsys_forge devsys_forge;

/** A pull request of a devsys_forge; keeps a reference on its forge. */
typedef struct devsys_pr devsys_pr;

/*
 * Version history of devsys_forge_options:
 *  - 1: every field up to and including ext.
 */
#define DEVSYS_FORGE_OPTIONS_VERSION 1

/**
 * How to bind a forge. Every NULL / 0 field is taken from the `forges:`
 * entry of @c config that matches @c remote_url's host, then from the
 * provider's defaults. Strings are copied.
 */
typedef struct devsys_forge_options {
	unsigned int version;        /**< DEVSYS_FORGE_OPTIONS_VERSION */
	const char *remote_url;      /**< required: the repository's git remote (https, ssh, scp-like, file:// or a
	                                  local bare repository's absolute path); never with credentials */
	const devsys_config *config; /**< the operator's devsys.yaml (`forges:`), or NULL; read during the call */
	const char *provider;        /**< override: "github", "gitea", "local" or a registered name */
	const char *base_url;        /**< override: the API base URL */
	const char *owner;           /**< override: the repository owner (NULL: from remote_url) */
	const char *repo;            /**< override: the repository name (NULL: from remote_url) */
	devsys_secrets *secrets;     /**< where the entry's token_secret is declared and resolved (borrowed
	                                  during the call); NULL: no token */
	devsys_task *task;           /**< names the task in the secret's audit event, or NULL */
	const char *merge_method;    /**< override: "merge", "squash", "rebase", "fast-forward" */
	const char *bot;             /**< override: the bot identity whose approvals never count */
	const char *ca_file;         /**< override: https CA bundle (PEM) */
	long connect_timeout_ms;     /**< 0: the HTTP default (10 s) */
	long timeout_ms;             /**< 0: the HTTP default (60 s) */
	unsigned int max_retries;    /**< 0: the HTTP default (3) */
	int verbose;                 /**< non-zero: redacted request trace on stderr */
	const char *ext_type;        /**< a provider's own options: its type name, or NULL */
	const void *ext;             /**< a provider's own versioned options struct (borrowed during the call) */
} devsys_forge_options;

#define DEVSYS_FORGE_OPTIONS_INIT                                                                         \
	{ DEVSYS_FORGE_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0L, \
	  0L, 0u, 0, NULL, NULL }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_forge_options_init(devsys_forge_options *opts, unsigned int version);

/**
 * Bind a provider to one repository: pick the provider (override, else the
 * `forges:` entry matching the remote's host, else "local" for a local
 * path or file:// remote), resolve the token through @c secrets when the
 * entry names a token_secret, and open the provider. No request is sent.
 * @param out receives a new handle; free with devsys_forge_free()
 * @return 0; DEVSYS_EINVAL (bad URL, URL with credentials); DEVSYS_EVERSION;
 *         DEVSYS_ENOTFOUND (no `forges:` entry for the host, an unknown
 *         provider, a token_secret that is not declared or cannot be
 *         resolved: the message names the entry and the secret, never the
 *         value); DEVSYS_EINVALID (bad merge method); what the provider's
 *         open returns. Needs devsys_init().
 * @param out new: the forge; free with devsys_forge_free() (a devsys_pr made from it holds its own reference).
 */
DEVSYS_API int devsys_forge_new(devsys_forge **out, const devsys_forge_options *opts);

/** Drop the caller's reference: the forge is closed once no devsys_pr holds it either. NULL is fine. */
DEVSYS_API void devsys_forge_free(devsys_forge *forge);

/**
 * The provider's name ("github"). Borrowed.
 * @return borrowed: from @p forge, valid until it is freed.
 */
DEVSYS_API const char *devsys_forge_provider(const devsys_forge *forge);

/**
 * The repository owner. Borrowed.
 * @return borrowed: from @p forge, valid until it is freed.
 */
DEVSYS_API const char *devsys_forge_owner(const devsys_forge *forge);

/**
 * The repository name. Borrowed.
 * @return borrowed: from @p forge, valid until it is freed.
 */
DEVSYS_API const char *devsys_forge_repo(const devsys_forge *forge);

/** The configured merge method (devsys_forge_merge_method). */
DEVSYS_API int devsys_forge_merge_method_of(const devsys_forge *forge);

/**
 * "merge", "squash", "rebase", "fast-forward"; "?" otherwise. Static.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_forge_merge_method_name(int method);

/** Parse a merge method name into @p out. @return 0; DEVSYS_EINVALID naming the value and the methods. */
DEVSYS_API int devsys_forge_merge_method_from_name(int *out, const char *name);

/**
 * Append a JSON object describing @p forge to @p out: "provider", "owner",
 * "repo", and what the provider adds ("base_url", "requests"). Never the
 * token. @return 0; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_forge_describe(devsys_buf *out, devsys_forge *forge);

/**
 * Set a commit status on @p sha (40 hex): @p context ("devsys/tests"),
 * @p state (DEVSYS_CHECK_PENDING, _SUCCESS or _FAILURE), an optional
 * description and link. Used by the stage that owns the context.
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOTSUPPORTED; what the forge answers.
 */
DEVSYS_API int devsys_forge_set_status(devsys_forge *forge, const char *sha, const char *context, int state,
                                       const char *description, const char *target_url);

/**
 * Set branch protection on @p branch: the required status contexts and
 * the number of approvals the forge itself enforces (`devsys forge protect`).
 * @p contexts NULL with 0: the policy's required contexts when @p policy is
 * given. @p approvals 0 with @p policy: its critical approvals.
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOTSUPPORTED; what the forge answers.
 */
DEVSYS_API int devsys_forge_protect(devsys_forge *forge, const char *branch, const char *const *contexts,
                                    size_t ncontexts, unsigned int approvals, const devsys_policy *policy);

/* ---- pull requests ---- */

/*
 * Version history of devsys_pr_options:
 *  - 1: every field up to and including masker.
 */
#define DEVSYS_PR_OPTIONS_VERSION 1

/** A pull request to open (or, on a re-run, update). Strings are copied. */
typedef struct devsys_pr_options {
	unsigned int version;  /**< DEVSYS_PR_OPTIONS_VERSION */
	const char *title;     /**< required */
	const char *body;      /**< the body (see devsys_pr_body_build()), or NULL; capped and masked here */
	const char *head;      /**< required: the task branch (devsys_repo_branch()) */
	const char *base;      /**< required: the base branch (devsys_repo_base_branch()) */
	const char *head_sha;  /**< the pushed head commit, or NULL */
	const char *base_sha;  /**< the task's base commit, or NULL */
	int draft;             /**< non-zero: open as a draft */
	const char *const *labels;
	size_t nlabels;
	const char *const *reviewers;      /**< logins */
	size_t nreviewers;
	const char *const *team_reviewers; /**< "team" or "org/team" (the org must be the repository owner) */
	size_t nteam_reviewers;
	int64_t number;        /**< the PR number the task record keeps from an earlier run, or 0 */
	devsys_masker *masker; /**< the task's masker: the title and body pass through it before they are
	                            sent (borrowed during the call); NULL: not masked */
} devsys_pr_options;

#define DEVSYS_PR_OPTIONS_INIT                                                                         \
	{ DEVSYS_PR_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0u, NULL, 0u, NULL, 0u, \
	  0, NULL }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_pr_options_init(devsys_pr_options *opts, unsigned int version);

/** Most characters of a PR body; a longer one is cut at a line end with a note. */
#define DEVSYS_PR_BODY_MAX 60000

/**
 * Open the pull request of opts->head into opts->base, or reuse and update
 * the open one for the same head: a re-run never makes a duplicate
 * (devsys_pr_reused()). The body is capped at DEVSYS_PR_BODY_MAX characters
 * and it and the title are masked with opts->masker before anything is sent.
 * The caller (the pipeline, the CLI) writes the number and URL to the task
 * record. @param out receives a new handle; free with devsys_pr_free().
 * @return 0; DEVSYS_EINVAL; DEVSYS_EVERSION; DEVSYS_EINVALID (a team
 *         reviewer of another org); what the provider returns.
 * @param out new: the handle (it holds a reference on @p forge); free with devsys_pr_free().
 */
DEVSYS_API int devsys_pr_open(devsys_pr **out, devsys_forge *forge, const devsys_pr_options *opts);

/**
 * Read pull request @p number.
 * @param out new: the handle (it holds a reference on @p forge); free with devsys_pr_free().
 * @return 0; DEVSYS_ENOTFOUND; what the provider returns.
 */
DEVSYS_API int devsys_pr_get(devsys_pr **out, devsys_forge *forge, int64_t number);

/** Read the pull request again (state, draft, head SHA); accessors then show the new values. */
DEVSYS_API int devsys_pr_refresh(devsys_pr *pr);

/** Release the handle (and its reference on the forge). NULL is fine. */
DEVSYS_API void devsys_pr_free(devsys_pr *pr);

/** The PR number (> 0). */
DEVSYS_API int64_t devsys_pr_number(const devsys_pr *pr);
/**
 * Where to look at it (html URL; local: the PR record's path). Borrowed.
 * @return borrowed: from @p pr, valid until it is refreshed or freed.
 */
DEVSYS_API const char *devsys_pr_url(const devsys_pr *pr);
/**
 * The head commit (40 hex) as last read. Borrowed.
 * @return borrowed: from @p pr, valid until it is refreshed or freed.
 */
DEVSYS_API const char *devsys_pr_head_sha(const devsys_pr *pr);
/**
 * The head branch. Borrowed.
 * @return borrowed: from @p pr, valid until it is refreshed or freed.
 */
DEVSYS_API const char *devsys_pr_head(const devsys_pr *pr);
/**
 * The base branch. Borrowed.
 * @return borrowed: from @p pr, valid until it is refreshed or freed.
 */
DEVSYS_API const char *devsys_pr_base(const devsys_pr *pr);
/**
 * The title (as sent, masked). Borrowed.
 * @return borrowed: from @p pr, valid until it is refreshed or freed.
 */
DEVSYS_API const char *devsys_pr_title(const devsys_pr *pr);
/**
 * The login that opened it, or NULL. Borrowed.
 * @return borrowed: from @p pr, valid until it is refreshed or freed; NULL when unknown.
 */
DEVSYS_API const char *devsys_pr_author(const devsys_pr *pr);
/** devsys_pr_state. */
DEVSYS_API int devsys_pr_state_of(const devsys_pr *pr);
/** Non-zero for a draft. */
DEVSYS_API int devsys_pr_draft(const devsys_pr *pr);
/** Non-zero when devsys_pr_open() found and updated an existing PR. */
DEVSYS_API int devsys_pr_reused(const devsys_pr *pr);
/**
 * The merge commit after a merge, else NULL. Borrowed.
 * @return borrowed: from @p pr, valid until it is refreshed or freed; NULL before a merge.
 */
DEVSYS_API const char *devsys_pr_merge_sha(const devsys_pr *pr);
/**
 * "open", "closed", "merged"; "?" otherwise. Static.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_pr_state_name(int state);

/**
 * Read every review of the PR (oldest first) into the handle, replacing
 * those read before. @return 0; DEVSYS_ENOTSUPPORTED; what the forge answers.
 */
DEVSYS_API int devsys_pr_load_reviews(devsys_pr *pr);
/** Reviews read by devsys_pr_load_reviews(). */
DEVSYS_API size_t devsys_pr_review_count(const devsys_pr *pr);
/**
 * Review @p i, borrowed from @p pr until the next load or free; NULL when out of range.
 * @return borrowed: from @p pr, valid until the next devsys_pr_load_reviews() or free; NULL when out of range.
 */
DEVSYS_API const devsys_policy_review *devsys_pr_review(const devsys_pr *pr, size_t i);

/**
 * Record a review by @p reviewer on commit @p sha (NULL: the head as last
 * read) with @p state (APPROVED or CHANGES_REQUESTED). Only providers
 * without identities of their own (local) support it: `devsys pr review`.
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOTSUPPORTED; DEVSYS_ENOTFOUND (no such commit).
 */
DEVSYS_API int devsys_pr_add_review(devsys_pr *pr, const char *reviewer, const char *sha, int state);

/**
 * Read the head commit's statuses and check runs into the handle,
 * replacing those read before. @return 0; what the forge answers.
 */
DEVSYS_API int devsys_pr_load_checks(devsys_pr *pr);
/** Checks read by devsys_pr_load_checks(). */
DEVSYS_API size_t devsys_pr_check_count(const devsys_pr *pr);
/**
 * Check @p i, borrowed from @p pr until the next load or free; NULL when out of range.
 * @return borrowed: from @p pr, valid until the next devsys_pr_load_checks() or free; NULL when out of range.
 */
DEVSYS_API const devsys_policy_check *devsys_pr_check(const devsys_pr *pr, size_t i);

/*
 * Version history of devsys_pr_body:
 *  - 1: every field up to and including runner.
 *  - 2: gate.
 *  - 3: verification.
 *  - 4: agent.
 */
#define DEVSYS_PR_BODY_VERSION 4

/** The task metadata a PR body carries. Every field but task_id may be NULL. */
typedef struct devsys_pr_body {
	unsigned int version;      /**< DEVSYS_PR_BODY_VERSION */
	const char *task_id;       /**< required */
	const char *summary;       /**< free text first (e.g. the spec's description) */
	const char *spec_path;     /**< "specs/42.yaml" */
	const char *spec_id;       /**< its content id, "sha1:<blob id>" */
	const char *validation;    /**< the spec validation summary ("valid", or the errors) */
	const char *const *acceptance; /**< the spec's acceptance criteria, one checklist item each */
	size_t nacceptance;
	const char *report;        /**< link or path to the test report */
	const char *runner;        /**< the runner used ("inproc", "ssh:deploy") */
	/* ---- version 2 ---- */
	const char *gate;          /**< the merge gate's last decision as text (devsys_gate_explain()), or NULL */
	/* ---- version 3 ---- */
	const char *verification;  /**< post-delivery verification as text (the verify stage's), or NULL */
	/* ---- version 4 ---- */
	const char *agent;         /**< the coding agent's digest as text (steps, files touched, totals), or NULL;
	                                cut at DEVSYS_PR_BODY_AGENT_MAX characters */
} devsys_pr_body;

#define DEVSYS_PR_BODY_INIT { DEVSYS_PR_BODY_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, 0u, NULL, NULL, NULL, NULL, NULL }

/** The most of devsys_pr_body.agent a body carries (the task record has the whole transcript). */
#define DEVSYS_PR_BODY_AGENT_MAX 8000

/**
 * Build a PR body (Markdown) from @p body into @p out (appended): the task
 * id, spec path and content id, validation summary, the acceptance
 * checklist, the report, the runner, (version 4) the coding agent's
 * digest, (version 3) the post-delivery verification and (version 2) the
 * gate's last decision. Cut at DEVSYS_PR_BODY_MAX
 * characters at a line end, with a note saying so; passed through
 * @p masker (NULL: not masked).
 * @return 0; DEVSYS_EINVAL; DEVSYS_EVERSION; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_pr_body_build(devsys_buf *out, const devsys_pr_body *body, devsys_masker *masker);

/* ---- the merge gate ---- */

/*
 * Version history of devsys_gate_options:
 *  - 1: every field up to and including poll_interval_ms.
 */
#define DEVSYS_GATE_OPTIONS_VERSION 1

/** What the gate decides with, besides what it reads from the forge. */
typedef struct devsys_gate_options {
	unsigned int version;         /**< DEVSYS_GATE_OPTIONS_VERSION */
	const devsys_policy *policy;  /**< required (devsys_config_policy()) */
	devsys_repo *repo;            /**< the task's checkout: its changed paths are authoritative; NULL:
	                                   the forge's file list alone, which then must not be truncated */
	int profile_risk;             /**< the runner profile's risk, or DEVSYS_RISK_UNSET */
	int spec_risk;                /**< the spec's policy.risk, or DEVSYS_RISK_UNSET */
	int require_approval;         /**< the spec's policy.require_approval */
	const char *bot;              /**< NULL: the forge's bot, else the PR's author */
	const char *const *authors;   /**< extra commit authors whose approvals never count */
	size_t nauthors;
	unsigned int poll_timeout_ms; /**< wait up to this long while only checks are pending; 0: no wait */
	unsigned int poll_interval_ms; /**< between polls; 0: 2000 */
} devsys_gate_options;

#define DEVSYS_GATE_OPTIONS_INIT                                                                          \
	{ DEVSYS_GATE_OPTIONS_VERSION, NULL, NULL, DEVSYS_RISK_UNSET, DEVSYS_RISK_UNSET, 0, NULL, NULL, 0u, 0u, \
	  0u }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_gate_options_init(devsys_gate_options *opts, unsigned int version);

/**
 * Decide whether @p pr may merge now: read the PR (draft, head), its changed
 * paths (opts->repo's devsys_repo_changed_paths(), compared with the
 * forge's file list: a mismatch, or a truncated forge list without a repo,
 * fails closed as BLOCKED with a DEVSYS_POLICY_R_PATHS_MISMATCH reason
 * naming the paths that differ, classed by the higher of the two lists),
 * classify them with opts->policy, read the reviews and the head's statuses
 * and check runs, and apply devsys_policy_decide(). With poll_timeout_ms,
 * polls while the only blockers are pending checks. Merges nothing.
 * @param out new: the decision; free with devsys_policy_decision_free().
 * @return 0 (any outcome); DEVSYS_EINVAL; DEVSYS_EVERSION; DEVSYS_ECONFLICT
 *         when the checkout's head is not the PR's head (pushed from
 *         elsewhere) or the head moves while polling; what the forge answers.
 */
DEVSYS_API int devsys_gate_check(devsys_policy_decision **out, devsys_pr *pr, const devsys_gate_options *opts);

/**
 * The gate's merge, the only public merge call: run devsys_gate_check()
 * and merge only when the outcome is merge, at exactly the head commit the
 * decision was made on, with the forge's merge method. A commit pushed
 * after the approval is never merged with it (the provider refuses a moved
 * head).
 * @param out new: (may be NULL) the decision, either way; free with devsys_policy_decision_free().
 * @return 0 merged (devsys_pr_merge_sha()); DEVSYS_ESTATE when the decision
 *         is not merge (the message has the outcome and the first blocking
 *         reason); DEVSYS_ECONFLICT (head moved); what the forge answers.
 */
DEVSYS_API int devsys_gate_merge(devsys_policy_decision **out, devsys_pr *pr, const devsys_gate_options *opts);

/**
 * Explain a decision: append it to @p out as text (one line with the outcome
 * and the class, then one line per reason) or, with @p json non-zero, as a
 * JSON object {"decision", "class", "approvals", "required", "reasons":
 * [{"code", "text"}]} for the task record's "gate" and the PR body.
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_gate_explain(devsys_buf *out, const devsys_policy_decision *d, int json);

/* ---- git credentials through the forge's secret ---- */

/**
 * A git credential provider (devsys_repo_credential_cb, devsys/repo.h) with
 * @p payload a devsys_forge: it answers an https remote of the forge's own
 * host with the token its `forges:` entry's token_secret resolved to,
 * through the secrets module, as HTTP basic "x-access-token:<token>" (the
 * user is the entry's bot when one is set). It passes (1) for another host,
 * for ssh, when the forge has no token, and after a first refusal. Chain it
 * before devsys_repo_key_credentials() so the environment is never read:
 *
 *     devsys_repo_credential_provider chain[] = {
 *         { devsys_forge_credentials, forge }, { devsys_repo_key_credentials, NULL } };
 *
 * The forge must outlive the git operation. Thread-safety: as @p payload's.
 */
DEVSYS_API int devsys_forge_credentials(devsys_repo_credential *out, const char *url, const char *username_from_url,
                                        unsigned int allowed, unsigned int attempt, void *payload);

/**
 * The host a remote URL is matched by in `forges:` (devsys_config_forge_match()):
 * lower case, with ":port" when the URL gives one (never for ssh), "" for a
 * local path or file:// URL. Appended to @p out.
 * @return 0; DEVSYS_EINVAL naming the URL (not a URL, scp-like address or
 *         absolute path; a URL with credentials); DEVSYS_ENOMEM.
 * Thread-safe; needs no devsys_init().
 */
DEVSYS_API int devsys_forge_remote_host(devsys_buf *out, const char *remote_url);

DEVSYS_END_DECL

#endif /* DEVSYS_FORGE_H */
