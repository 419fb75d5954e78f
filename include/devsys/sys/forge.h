/*
 * libdevsys - plug-in API: forge providers (GitHub, Gitea, local, ...).
 */
#ifndef DEVSYS_SYS_FORGE_H
#define DEVSYS_SYS_FORGE_H

#include "../common.h"
#include "../buf.h"
#include "../policy.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/forge.h
 * @brief The forge vtable, for adding forge providers.
 *
 * sqlite3_vfs conventions, as in sys/runner.h: @c version first; slots are
 * only appended and never change signature; registration copies the prefix
 * the plug-in's version has; the library calls an optional or appended slot
 * only when the registered version has it and it is non-NULL, else the call
 * fails with DEVSYS_ENOTSUPPORTED.
 *
 * The library does the common work around a provider (include/devsys/forge.h):
 * argument checks, resolving the token through the secrets module, capping
 * and masking the PR body, mapping "org/team" reviewers to team slugs,
 * copying every result, and the merge gate. A provider only talks to its
 * forge (through lib/http for a built-in one).
 *
 * Ownership, the same for every slot:
 *  - Inputs (structs, strings, arrays) are borrowed for the call only,
 *    except @c open's options, whose strings stay valid until @c close.
 *  - Output structs are the library's, zeroed, with @c version set to the
 *    version the library knows. A provider writes only the fields that
 *    version has (check out->version before writing an appended field).
 *    Strings it puts there are its own: they must stay valid until the
 *    next call on the same instance; the library copies them at once.
 *  - Lists (reviews, checks, files, authors) are handed to the library one
 *    entry at a time through a sink (devsys_forge_sink_*()), which copies
 *    each entry; order is kept.
 *  - A failing slot returns a negative DEVSYS_E* code after setting the
 *    thread's error with devsys_error_set() (sys/errors.h), the HTTP status
 *    and the forge's message attached with devsys_error_set_detail().
 *    Never a secret in a message.
 *
 * Threads: an instance is used by one thread at a time; the library never
 * calls two slots of one instance at once.
 *
 * Version history:
 *  - 1: name, open, close, pr_upsert, pr_get, pr_reviews, review_add,
 *       status_set, statuses, check_runs, pr_files, pr_authors, merge,
 *       protect, describe.
 */
#define DEVSYS_FORGE_VTABLE_VERSION 1

/* ---- the data the slots exchange ---- */

/** State of a pull request. */
typedef enum devsys_pr_state {
	DEVSYS_PR_OPEN = 0,
	DEVSYS_PR_CLOSED = 1, /**< closed without merging */
	DEVSYS_PR_MERGED = 2
} devsys_pr_state;

/** How the gate merges (devsys.yaml forges.<host>.merge_method). */
typedef enum devsys_forge_merge_method {
	DEVSYS_FORGE_MERGE_COMMIT = 0,      /**< "merge": a merge commit (GitHub merge, Gitea merge) */
	DEVSYS_FORGE_MERGE_SQUASH = 1,      /**< "squash" */
	DEVSYS_FORGE_MERGE_REBASE = 2,      /**< "rebase" */
	DEVSYS_FORGE_MERGE_FAST_FORWARD = 3 /**< "fast-forward": only when base is an ancestor of head */
} devsys_forge_merge_method;

/*
 * Version history of devsys_forge_open_options:
 *  - 1: every field up to and including ext.
 */
#define DEVSYS_FORGE_OPEN_OPTIONS_VERSION 1

/**
 * What a provider instance is bound to: one repository of one forge. Built
 * by the library from devsys_forge_options and devsys.yaml's `forges:`.
 */
typedef struct devsys_forge_open_options {
	unsigned int version;     /**< DEVSYS_FORGE_OPEN_OPTIONS_VERSION */
	const char *base_url;     /**< API base ("https://api.github.com", "https://ghe/api/v3",
	                               "https://gitea/api/v1"); for local: NULL */
	const char *owner;        /**< repository owner (user or organisation) */
	const char *repo;         /**< repository name (no ".git") */
	const char *remote_url;   /**< the git remote the repository was cloned from (no credentials) */
	const char *local_path;   /**< local provider: the bare repository's absolute path; else NULL */
	const char *token;        /**< resolved token, or NULL; send it in a header only; never log it */
	const char *ca_file;      /**< https: trust exactly this PEM file; NULL: the system bundle */
	const char *user_agent;   /**< NULL: the library's */
	long connect_timeout_ms;  /**< 0: the HTTP layer's default */
	long timeout_ms;          /**< whole request; 0: the HTTP layer's default */
	unsigned int max_retries; /**< retries after the first attempt */
	int verbose;              /**< non-zero: trace requests (redacted) to stderr */
	const char *bot;          /**< the task's bot identity (login), or NULL */
	const char *ext_type;     /**< names the struct @c ext points to (a provider's own options), or NULL */
	const void *ext;          /**< a provider's own versioned options; read only when ext_type is its own */
} devsys_forge_open_options;

/*
 * Version history of devsys_forge_pr_request:
 *  - 1: every field up to and including base_sha.
 */
#define DEVSYS_FORGE_PR_REQUEST_VERSION 1

/** Create or update the pull request from @c head into @c base. */
typedef struct devsys_forge_pr_request {
	unsigned int version;  /**< DEVSYS_FORGE_PR_REQUEST_VERSION */
	const char *title;     /**< required */
	const char *body;      /**< required (may be ""): already capped at 60 000 characters and masked */
	const char *head;      /**< required: the task branch ("task/42") */
	const char *base;      /**< required: the base branch ("main") */
	int draft;             /**< non-zero: a draft (Gitea: the "WIP: " title prefix) */
	const char *const *labels; /**< label names */
	size_t nlabels;
	const char *const *reviewers; /**< logins */
	size_t nreviewers;
	const char *const *team_reviewers; /**< team slugs ("team"; an "org/team" was checked and cut by the library) */
	size_t nteam_reviewers;
	int64_t number;        /**< the PR number the task record remembers, or 0 */
	const char *head_sha;  /**< the head commit pushed (40 hex), or NULL */
	const char *base_sha;  /**< the commit the task started from (40 hex), or NULL */
} devsys_forge_pr_request;

/*
 * Version history of devsys_forge_pr_info:
 *  - 1: every field up to and including merge_sha.
 */
#define DEVSYS_FORGE_PR_INFO_VERSION 1

/** A pull request as the forge reports it (output; strings owned by the provider, see the file comment). */
typedef struct devsys_forge_pr_info {
	unsigned int version; /**< set by the library */
	int64_t number;       /**< the PR number, > 0 */
	const char *url;      /**< where a human looks at it (html URL; local: the record's path) */
	const char *head;     /**< head branch */
	const char *base;     /**< base branch */
	const char *head_sha; /**< the head commit now (40 hex) */
	const char *title;
	const char *author;   /**< login that opened it (the bot), or NULL */
	int state;            /**< devsys_pr_state */
	int draft;            /**< non-zero: a draft */
	int reused;           /**< pr_upsert: non-zero when an existing PR was found and updated */
	const char *merge_sha; /**< the merge commit when merged, else NULL */
} devsys_forge_pr_info;

/*
 * Version history of devsys_forge_status:
 *  - 1: every field up to and including target_url.
 */
#define DEVSYS_FORGE_STATUS_VERSION 1

/** A commit status to set on a commit. */
typedef struct devsys_forge_status {
	unsigned int version;    /**< DEVSYS_FORGE_STATUS_VERSION */
	const char *context;     /**< required: "devsys/tests", "devsys/deploy", "devsys/verify", ... */
	int state;               /**< devsys_check_state: PENDING, SUCCESS, FAILURE (NEUTRAL is refused) */
	const char *description; /**< short text (forges cut at 140 characters), or NULL */
	const char *target_url;  /**< link to the report, or NULL */
} devsys_forge_status;

/*
 * Version history of devsys_forge_merge_request:
 *  - 1: every field up to and including message.
 */
#define DEVSYS_FORGE_MERGE_REQUEST_VERSION 1

/** Merge a pull request at exactly one head commit. */
typedef struct devsys_forge_merge_request {
	unsigned int version; /**< DEVSYS_FORGE_MERGE_REQUEST_VERSION */
	const char *sha;      /**< required: the approved head commit; the forge must refuse any other head */
	int method;           /**< devsys_forge_merge_method */
	const char *title;    /**< merge commit title, or NULL for the forge's */
	const char *message;  /**< merge commit message, or NULL */
} devsys_forge_merge_request;

/*
 * Version history of devsys_forge_merge_result:
 *  - 1: every field up to and including sha.
 */
#define DEVSYS_FORGE_MERGE_RESULT_VERSION 1

/** What a merge made (output). */
typedef struct devsys_forge_merge_result {
	unsigned int version; /**< set by the library */
	const char *sha;      /**< the commit the base branch points at after the merge */
} devsys_forge_merge_result;

/*
 * Version history of devsys_forge_protection:
 *  - 1: every field up to and including enforce_admins.
 */
#define DEVSYS_FORGE_PROTECTION_VERSION 1

/** Branch protection to set on the forge (`devsys forge protect BRANCH`). */
typedef struct devsys_forge_protection {
	unsigned int version;         /**< DEVSYS_FORGE_PROTECTION_VERSION */
	const char *branch;           /**< required */
	const char *const *contexts;  /**< status contexts / check names required to pass */
	size_t ncontexts;
	unsigned int approvals;       /**< required approving reviews (0: none) */
	int dismiss_stale;            /**< non-zero: a new push dismisses approvals */
	int enforce_admins;           /**< non-zero: administrators are held to it too */
} devsys_forge_protection;

/* ---- sinks: how a provider hands lists to the library ---- */

/** The library's collector for one list call. Never freed by the provider. */
typedef struct devsys_forge_sink devsys_forge_sink;

/**
 * Add one review (pr_reviews), oldest first. The entry is copied; its
 * version says how much of it is read. @return 0; DEVSYS_EINVAL for a
 * missing reviewer or commit SHA or a sink of another kind; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_forge_sink_review(devsys_forge_sink *sink, const devsys_policy_review *review);

/**
 * Add one commit status (statuses: kind DEVSYS_CHECK_STATUS) or check run
 * (check_runs: kind DEVSYS_CHECK_RUN). Copied. @return 0; DEVSYS_EINVAL; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_forge_sink_check(devsys_forge_sink *sink, const devsys_policy_check *check);

/**
 * Add one changed file of the pull request (pr_files): its path at head
 * and, for a rename, the old path (else NULL). Copied.
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_forge_sink_file(devsys_forge_sink *sink, const char *path, const char *old_path);

/**
 * Say the forge's file list stopped short (GitHub stops at 3000 files): the
 * gate then fails closed unless the lists agree. @return 0; DEVSYS_EINVAL.
 */
DEVSYS_API int devsys_forge_sink_truncated(devsys_forge_sink *sink);

/**
 * Add the login (or, for the local provider, the name and the e-mail as two
 * calls) of one commit author of the pull request (pr_authors). Copied.
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_forge_sink_author(devsys_forge_sink *sink, const char *login);

/* ---- the vtable ---- */

typedef struct devsys_forge_vtable {
	unsigned int version; /**< DEVSYS_FORGE_VTABLE_VERSION the plug-in was built with */

	/* ---- version 1 ---- */

	/** Required. The provider name ("github", "gitea", "local", "my-forge"); copied at registration. */
	const char *name;

	/**
	 * Required. Bind a new instance in @p *self to one repository. No
	 * request is needed here (a provider may check its options only).
	 * @p payload is the one given at registration.
	 */
	int (*open)(void **self, const devsys_forge_open_options *opts, void *payload);

	/** Required. Release the instance (wipe copies of the token). */
	void (*close)(void *self);

	/**
	 * Required. Create the pull request from req->head into req->base, or,
	 * when one is open for the same head (and base), update its title,
	 * body, draft flag, labels and reviewers and set out->reused. Never a
	 * duplicate. Fill @p out.
	 * @return 0; DEVSYS_EAUTH; DEVSYS_ENOTFOUND (repository or branch);
	 *         DEVSYS_EINVALID (refused by the forge); DEVSYS_ECONFLICT; ...
	 */
	int (*pr_upsert)(void *self, devsys_forge_pr_info *out, const devsys_forge_pr_request *req);

	/** Required. Read pull request @p number. DEVSYS_ENOTFOUND when there is none. */
	int (*pr_get)(void *self, devsys_forge_pr_info *out, int64_t number);

	/**
	 * Every review of pull request @p number, oldest first, into @p sink
	 * (devsys_forge_sink_review()): reviewer, the commit it was given on,
	 * state. The library applies the gate's rules (latest per reviewer).
	 */
	int (*pr_reviews)(void *self, devsys_forge_sink *sink, int64_t number);

	/**
	 * Record a review given by @p review->reviewer (a provider that has no
	 * identities of its own, like local). Forges where the token's user is
	 * the reviewer leave it NULL (DEVSYS_ENOTSUPPORTED).
	 */
	int (*review_add)(void *self, int64_t number, const devsys_policy_review *review);

	/** Set commit status @p st on commit @p sha (40 hex). */
	int (*status_set)(void *self, const char *sha, const devsys_forge_status *st);

	/**
	 * The commit statuses of @p sha (the combined status's entries, the
	 * latest per context) into @p sink as kind DEVSYS_CHECK_STATUS.
	 */
	int (*statuses)(void *self, devsys_forge_sink *sink, const char *sha);

	/** The check runs of @p sha (latest per name) into @p sink as kind DEVSYS_CHECK_RUN. */
	int (*check_runs)(void *self, devsys_forge_sink *sink, const char *sha);

	/**
	 * The changed files of pull request @p number into @p sink
	 * (devsys_forge_sink_file()); call devsys_forge_sink_truncated() when
	 * the forge's list is incomplete.
	 */
	int (*pr_files)(void *self, devsys_forge_sink *sink, int64_t number);

	/** The commit authors of pull request @p number (devsys_forge_sink_author()). */
	int (*pr_authors)(void *self, devsys_forge_sink *sink, int64_t number);

	/**
	 * Merge pull request @p number at exactly req->sha with req->method.
	 * Must fail (DEVSYS_ECONFLICT) when the head is no longer req->sha: a
	 * commit pushed after the approval is never merged with it. Called only
	 * by the gate (devsys_gate_merge()).
	 * @return 0; DEVSYS_ECONFLICT (head moved, not mergeable);
	 *         DEVSYS_ENOTSUPPORTED (method); DEVSYS_EAUTH; DEVSYS_EPROTECTED ...
	 */
	int (*merge)(void *self, devsys_forge_merge_result *out, int64_t number, const devsys_forge_merge_request *req);

	/** Set branch protection (required contexts, required approvals). */
	int (*protect)(void *self, const devsys_forge_protection *p);

	/**
	 * Optional. Describe the instance as one JSON object appended to
	 * @p out: at least "provider"; built-ins add "base_url", "owner",
	 * "repo" and "requests" (requests sent so far, for the request budget).
	 * Never the token.
	 */
	int (*describe)(void *self, devsys_buf *out);
} devsys_forge_vtable;

/**
 * Register a forge provider process-wide (after devsys_init(); the built-ins
 * github, gitea and local are registered by devsys_init()). The known prefix
 * of @p vtable is copied; @p payload is passed to open.
 * @return 0; DEVSYS_EEXISTS (name taken); DEVSYS_EVERSION; DEVSYS_EINVAL (a
 *         required slot is missing, or a bad name: [a-z0-9_-]{1,32});
 *         DEVSYS_ENOTINIT. Thread-safe.
 */
DEVSYS_API int devsys_forge_register(const devsys_forge_vtable *vtable, void *payload);

/**
 * Remove provider @p name. Instances already open keep working (they hold
 * their own copy of the vtable); the plug-in's code must stay loaded until
 * they are freed. @return 0; DEVSYS_ENOTFOUND; DEVSYS_EINVAL. Thread-safe.
 */
DEVSYS_API int devsys_forge_unregister(const char *name);

/**
 * Is provider @p name registered? @p vtable (may be NULL) receives the
 * registered copy, borrowed from the registry until @p name is
 * unregistered or devsys_shutdown().
 * @return 0; DEVSYS_ENOTFOUND (the message lists the registered names);
 *         DEVSYS_EINVAL. Thread-safe.
 * @param vtable borrowed: the registry's copy, valid until @p name is unregistered or devsys_shutdown().
 */
DEVSYS_API int devsys_forge_find(const devsys_forge_vtable **vtable, const char *name);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_FORGE_H */
