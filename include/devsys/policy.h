/*
 * libdevsys - the merge gate's policy: path classes and the gate decision.
 */
#ifndef DEVSYS_POLICY_H
#define DEVSYS_POLICY_H

#include "common.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/policy.h
 * @brief Risk classes of changed paths (globs), and the pure decision of the
 *        merge gate from classes, reviews and checks (no forge I/O).
 *
 * A policy usually comes from the operator's devsys.yaml (`policy:`, see
 * devsys_config_policy() and docs/gate.md); it can also be built here.
 * A policy handle is read-only once built and may then be shared between
 * threads; devsys_policy_add_glob() must not race with readers.
 *
 * Glob grammar (docs/gate.md): `*` matches within one path segment, `?` one
 * character other than '/', `[abc]`, `[a-z]`, `[!a]` (or `[^a]`) a character
 * class, `\\x` the character x, `**` as a whole segment zero or more segments.
 * A leading '/' anchors the pattern at the repository root; a pattern with a
 * '/' elsewhere is anchored too; a pattern without '/' matches the file name
 * at any depth. Matching is case-sensitive and takes time polynomial in the
 * lengths (no exponential backtracking).
 */

/** Risk classes, ordered: a higher value is a higher class. */
typedef enum devsys_risk {
	DEVSYS_RISK_UNSET = -1, /**< not given (inputs only) */
	DEVSYS_RISK_LOW = 0,
	DEVSYS_RISK_MEDIUM = 1,
	DEVSYS_RISK_HIGH = 2,
	DEVSYS_RISK_CRITICAL = 3
} devsys_risk;

/**
 * "low", "medium", "high", "critical", "unset"; "?" for other values. Static string.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_risk_name(int risk);

/** Parse a class name into @p out. @return 0; DEVSYS_EINVALID naming the value and the classes. */
DEVSYS_API int devsys_risk_from_name(int *out, const char *name);

/* ---- the policy ---- */

/** A policy: path globs per class, and the gate's settings. */
typedef struct devsys_policy devsys_policy;

/** Low-risk changes may merge without a human approval (see devsys_policy_decide()). */
#define DEVSYS_POLICY_AUTO_MERGE (1u << 0)
/** A forced push of the task's own branch is allowed (never of a protected branch). */
#define DEVSYS_POLICY_FORCE_PUSH (1u << 1)
/** Start without the default globs (docs/gate.md): only added globs classify. */
#define DEVSYS_POLICY_NO_DEFAULT_GLOBS (1u << 2)

/*
 * Version history of devsys_policy_options:
 *  - 1: every field up to and including nprotected_branches.
 */
#define DEVSYS_POLICY_OPTIONS_VERSION 1

/** The gate's settings. Strings are copied by devsys_policy_new(). */
typedef struct devsys_policy_options {
	unsigned int version;            /**< DEVSYS_POLICY_OPTIONS_VERSION */
	unsigned int flags;              /**< DEVSYS_POLICY_* flags */
	unsigned int critical_approvals; /**< approvals a critical change needs: 1 or 2; 0: 1 */
	/**
	 * Status contexts that must be `success` on the head commit. NULL: the
	 * default { "devsys/tests" }; a non-NULL array with 0 entries: none
	 * (then nothing ever merges without an approval).
	 */
	const char *const *required_contexts;
	size_t nrequired_contexts;
	/** Extra protected-branch patterns (as devsys_repo_options.protected_branches). */
	const char *const *protected_branches;
	size_t nprotected_branches;
} devsys_policy_options;

#define DEVSYS_POLICY_OPTIONS_INIT { DEVSYS_POLICY_OPTIONS_VERSION, 0u, 1u, NULL, 0u, NULL, 0u }

/** Initialise @p opts with the defaults of @p version. DEVSYS_EVERSION for unknown versions. */
DEVSYS_API int devsys_policy_options_init(devsys_policy_options *opts, unsigned int version);

/**
 * Make a policy with the default globs (unless DEVSYS_POLICY_NO_DEFAULT_GLOBS)
 * and @p opts (NULL: DEVSYS_POLICY_OPTIONS_INIT).
 * @return 0; DEVSYS_EVERSION; DEVSYS_EINVALID (critical_approvals not 1 or 2,
 *         an empty context or branch); DEVSYS_ENOMEM. Free with devsys_policy_free().
 * @param out new: the policy (it copies @p opts); free with devsys_policy_free().
 */
DEVSYS_API int devsys_policy_new(devsys_policy **out, const devsys_policy_options *opts);

/** Free a policy (and every string borrowed from it). NULL is fine. */
DEVSYS_API void devsys_policy_free(devsys_policy *policy);

/**
 * Add @p glob to class @p risk. @p source says where it came from in
 * explanations (e.g. "devsys.yaml:12:9"; NULL: "api"); both are copied.
 * @return 0; DEVSYS_EINVALID for a bad class or glob, with a message
 *         "glob 'x[': unterminated character class at column 2".
 */
DEVSYS_API int devsys_policy_add_glob(devsys_policy *policy, int risk, const char *glob, const char *source);

/** Number of globs (defaults first, then added ones in order). */
DEVSYS_API size_t devsys_policy_glob_count(const devsys_policy *policy);

/**
 * Glob @p i: its text, class and source, borrowed from @p policy (each out
 * pointer may be NULL). @return 0; DEVSYS_ENOTFOUND when out of range.
 * @param glob borrowed: from @p policy, valid until it is freed.
 * @param source borrowed: from @p policy, valid until it is freed.
 */
DEVSYS_API int devsys_policy_glob(const char **glob, int *risk, const char **source, const devsys_policy *policy,
                                  size_t i);

/**
 * The policy's settings; strings and arrays are borrowed from @p policy.
 * Only the fields of @p out's version are written (set out->version first,
 * e.g. with DEVSYS_POLICY_OPTIONS_INIT). required_contexts is never NULL here.
 */
DEVSYS_API int devsys_policy_get_options(devsys_policy_options *out, const devsys_policy *policy);

/**
 * Check @p glob against the grammar. @return 0; DEVSYS_EINVALID with a
 * message naming the glob, the problem and its column (1-based).
 */
DEVSYS_API int devsys_policy_glob_check(const char *glob);

/**
 * Does @p glob match the repository-relative @p path ("lib/a.c")?
 * @return 1 match, 0 no match; DEVSYS_EINVALID for a bad glob; DEVSYS_EINVAL
 *         for a path that is empty, absolute, longer than 4096 characters, or
 *         has empty, "." or ".." segments.
 */
DEVSYS_API int devsys_policy_glob_match(const char *glob, const char *path);

/**
 * Class of @p path: the highest class of every glob it matches; medium when
 * none matches. @p glob and @p source (may be NULL) receive the glob that
 * decided it (the first, in devsys_policy_glob() order, of the winning
 * class) and its source, borrowed from @p policy; both NULL when no glob
 * matched. @return 0; DEVSYS_EINVAL for a bad path (as devsys_policy_glob_match()).
 * @param glob borrowed: from @p policy, valid until it is freed; NULL when no glob matched.
 * @param source borrowed: from @p policy, valid until it is freed; NULL when no glob matched.
 */
DEVSYS_API int devsys_policy_explain(int *risk, const char **glob, const char **source, const devsys_policy *policy,
                                     const char *path);

/** devsys_policy_explain() without the explanation. */
DEVSYS_API int devsys_policy_classify(int *risk, const devsys_policy *policy, const char *path);

/* ---- change sets ---- */

#define DEVSYS_POLICY_CHANGE_SYMLINK (1u << 0)   /**< the entry is (or was) a symbolic link */
#define DEVSYS_POLICY_CHANGE_SUBMODULE (1u << 1) /**< the entry is (or was) a submodule (gitlink) */
#define DEVSYS_POLICY_CHANGE_MODE (1u << 2)      /**< the file mode changed (e.g. made executable) */

/*
 * Version history of devsys_policy_change:
 *  - 1: every field up to and including flags.
 */
#define DEVSYS_POLICY_CHANGE_VERSION 1

/** One changed entry between base and head. */
typedef struct devsys_policy_change {
	unsigned int version; /**< DEVSYS_POLICY_CHANGE_VERSION */
	const char *path;     /**< required: the path at head (for a deletion, the deleted path) */
	const char *old_path; /**< the path at base when it was renamed or copied, else NULL */
	unsigned int flags;   /**< DEVSYS_POLICY_CHANGE_* */
} devsys_policy_change;

#define DEVSYS_POLICY_CHANGE_INIT { DEVSYS_POLICY_CHANGE_VERSION, NULL, NULL, 0u }

/**
 * The DEVSYS_POLICY_CHANGE_* flags of an entry from its git modes before and
 * after (0 when the entry did not exist on that side): SYMLINK when either is
 * 0120000, SUBMODULE when either is 0160000, MODE when both exist and differ
 * (e.g. 0100644 to 0100755). Pure; never fails.
 */
DEVSYS_API unsigned int devsys_policy_change_flags(unsigned int old_mode, unsigned int new_mode);

/**
 * Class of a change set: the highest over its entries, where an entry's class
 * is the highest of its path and old path, and at least medium with a
 * SYMLINK, SUBMODULE or MODE flag. An empty set is medium. @p decisive (may
 * be NULL) receives the index of the first entry of that class, or SIZE_MAX
 * for an empty set. @return 0; DEVSYS_EINVAL for a NULL entry or a bad path
 * (the message names it); DEVSYS_EVERSION for an unknown entry version.
 */
DEVSYS_API int devsys_policy_classify_changes(int *risk, size_t *decisive, const devsys_policy *policy,
                                              const devsys_policy_change *const *changes, size_t nchanges);

/* ---- the gate decision ---- */

/** Review states, as forges report them. */
typedef enum devsys_review_state {
	DEVSYS_REVIEW_APPROVED = 0,
	DEVSYS_REVIEW_CHANGES_REQUESTED = 1,
	DEVSYS_REVIEW_COMMENTED = 2,
	DEVSYS_REVIEW_DISMISSED = 3,
	DEVSYS_REVIEW_PENDING = 4
} devsys_review_state;

/*
 * Version history of devsys_policy_review:
 *  - 1: every field up to and including state.
 */
#define DEVSYS_POLICY_REVIEW_VERSION 1

/** One review of the pull request. */
typedef struct devsys_policy_review {
	unsigned int version;   /**< DEVSYS_POLICY_REVIEW_VERSION */
	const char *reviewer;   /**< required: the reviewer's login (compared case-insensitively) */
	const char *commit_sha; /**< required: the commit the review was given on */
	int state;              /**< devsys_review_state */
} devsys_policy_review;

#define DEVSYS_POLICY_REVIEW_INIT { DEVSYS_POLICY_REVIEW_VERSION, NULL, NULL, DEVSYS_REVIEW_COMMENTED }

/** State of one status or check run. */
typedef enum devsys_check_state {
	DEVSYS_CHECK_PENDING = 0, /**< queued, in progress, expected */
	DEVSYS_CHECK_SUCCESS = 1,
	DEVSYS_CHECK_FAILURE = 2, /**< failure, error, cancelled, timed out, action required */
	DEVSYS_CHECK_NEUTRAL = 3  /**< neutral or skipped: finished, but not success */
} devsys_check_state;

/** Where a check came from; either kind meets a required context. */
typedef enum devsys_check_kind {
	DEVSYS_CHECK_STATUS = 0, /**< a commit status (its context) */
	DEVSYS_CHECK_RUN = 1     /**< a check run (its name) */
} devsys_check_kind;

/*
 * Version history of devsys_policy_check:
 *  - 1: every field up to and including kind.
 */
#define DEVSYS_POLICY_CHECK_VERSION 1

/** One commit status or check run. */
typedef struct devsys_policy_check {
	unsigned int version; /**< DEVSYS_POLICY_CHECK_VERSION */
	const char *context;  /**< required: status context or check-run name */
	const char *sha;      /**< required: the commit it reports on (others than the head are ignored) */
	int state;            /**< devsys_check_state */
	int kind;             /**< devsys_check_kind */
} devsys_policy_check;

#define DEVSYS_POLICY_CHECK_INIT { DEVSYS_POLICY_CHECK_VERSION, NULL, NULL, DEVSYS_CHECK_PENDING, DEVSYS_CHECK_STATUS }

/*
 * Version history of devsys_policy_input:
 *  - 1: every field up to and including draft.
 */
#define DEVSYS_POLICY_INPUT_VERSION 1

/** What the gate decides on. Nothing is copied; it is read during the call. */
typedef struct devsys_policy_input {
	unsigned int version; /**< DEVSYS_POLICY_INPUT_VERSION */
	int path_risk;        /**< class of the changed paths (devsys_policy_classify_changes()); required */
	int profile_risk;     /**< the runner profile's risk (devsys_config_runner_risk()); UNSET: none */
	int spec_risk;        /**< the spec's policy.risk; UNSET: none; may only raise */
	int require_approval; /**< the spec's policy.require_approval; non-zero raises low to needing a review */
	const char *head_sha; /**< required: the pull request's current head commit */
	const char *bot;      /**< the task's bot identity; its approvals never count (NULL: none) */
	const char *const *authors; /**< commit authors' logins; their approvals never count */
	size_t nauthors;
	const devsys_policy_review *const *reviews; /**< every review, oldest first */
	size_t nreviews;
	const devsys_policy_check *const *checks; /**< statuses and check runs */
	size_t nchecks;
	int draft; /**< non-zero: the pull request is a draft */
} devsys_policy_input;

#define DEVSYS_POLICY_INPUT_INIT                                                                                    \
	{ DEVSYS_POLICY_INPUT_VERSION, DEVSYS_RISK_UNSET, DEVSYS_RISK_UNSET, DEVSYS_RISK_UNSET, 0, NULL, NULL, NULL, 0u, \
	  NULL, 0u, NULL, 0u, 0 }

/** The gate's outcome. */
typedef enum devsys_policy_outcome {
	DEVSYS_POLICY_MERGE = 0,           /**< the gate may merge the head commit */
	DEVSYS_POLICY_AWAITING_REVIEW = 1, /**< a human approval on the head commit is missing */
	DEVSYS_POLICY_BLOCKED = 2          /**< something must change first (or checks must finish) */
} devsys_policy_outcome;

/** Why: one code per reason (the list only grows). */
typedef enum devsys_policy_reason {
	DEVSYS_POLICY_R_CLASS = 0,             /**< the effective class and what set it (always first) */
	DEVSYS_POLICY_R_DRAFT = 1,             /**< blocks: the pull request is a draft */
	DEVSYS_POLICY_R_CHANGES_REQUESTED = 2, /**< blocks: a reviewer's latest review requests changes */
	DEVSYS_POLICY_R_CHECK_FAILED = 3,      /**< blocks: a required context finished without success */
	DEVSYS_POLICY_R_CHECK_PENDING = 4,     /**< blocks until it reports: a required context is pending or missing */
	DEVSYS_POLICY_R_NEEDS_APPROVAL = 5,    /**< awaits review: too few approvals on the head commit */
	DEVSYS_POLICY_R_NOT_COUNTED = 6,       /**< note: an approval that does not count, and why */
	DEVSYS_POLICY_R_AUTO_MERGE_OFF = 7,    /**< awaits review: low, but auto_merge is off */
	DEVSYS_POLICY_R_NO_CONTEXTS = 8,       /**< awaits review: low, but no required contexts (never auto-merges) */
	DEVSYS_POLICY_R_APPROVED = 9,          /**< note: the approvals that count */
	DEVSYS_POLICY_R_CHECKS_PASSED = 10,    /**< note: every required context is success */
	DEVSYS_POLICY_R_PATHS_MISMATCH = 11    /**< blocks: the forge's file list disagrees with the checkout's
	                                            changed paths, or is truncated with no checkout to list them
	                                            (devsys_gate_check(); devsys_policy_decide() never gives it) */
} devsys_policy_reason;

/** A decision with its reasons. */
typedef struct devsys_policy_decision devsys_policy_decision;

/**
 * Decide (docs/gate.md has the table). Pure: no I/O, the same input gives
 * the same decision. Precedence: BLOCKED by draft, changes requested or a
 * failed required context; else AWAITING_REVIEW when approvals are missing
 * (or low cannot auto-merge); else BLOCKED while a required context is
 * pending; else MERGE.
 * @return 0 with a new decision in @p out (free with devsys_policy_decision_free());
 *         DEVSYS_EINVAL/DEVSYS_EVERSION/DEVSYS_EINVALID for bad input (no decision).
 * @param out new: the decision; free with devsys_policy_decision_free().
 */
DEVSYS_API int devsys_policy_decide(devsys_policy_decision **out, const devsys_policy *policy,
                                    const devsys_policy_input *input);

/** The outcome (devsys_policy_outcome). */
DEVSYS_API int devsys_policy_decision_outcome(const devsys_policy_decision *d);

/** The effective class the decision used. */
DEVSYS_API int devsys_policy_decision_risk(const devsys_policy_decision *d);

/** Approvals that counted, and how many were required (0 when none). */
DEVSYS_API int devsys_policy_decision_approvals(unsigned int *counted, unsigned int *required,
                                                const devsys_policy_decision *d);

/** Number of reasons. */
DEVSYS_API size_t devsys_policy_decision_reason_count(const devsys_policy_decision *d);

/**
 * Reason @p i as text, borrowed from @p d (NULL when out of range); its code in @p code (may be NULL).
 * @return borrowed: from @p d, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_policy_decision_reason(const devsys_policy_decision *d, size_t i, int *code);

/** Free a decision. NULL is fine. */
DEVSYS_API void devsys_policy_decision_free(devsys_policy_decision *d);

/**
 * "merge", "awaiting-review", "blocked"; "?" otherwise. Static string.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_policy_outcome_name(int outcome);

/**
 * "class", "draft", "changes-requested", ... (docs/gate.md); "?" otherwise. Static string.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_policy_reason_name(int code);

DEVSYS_END_DECL

#endif /* DEVSYS_POLICY_H */
