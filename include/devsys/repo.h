/*
 * libdevsys - the git workspace: a mirror per repository, a worktree and a
 * branch per task, commits with task trailers, authenticated push.
 */
#ifndef DEVSYS_REPO_H
#define DEVSYS_REPO_H

#include "common.h"
#include "buf.h"
#include "workspace.h"
#include "task.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/repo.h
 * @brief A task's git checkout (libgit2 inside; never the git program).
 *
 * Layout inside the workspace:
 *
 *     <workspace>/mirrors/<sha1-of-url>.git    bare cache, one per remote URL,
 *                                              fetched with
 *                                              +refs/heads/(*):refs/remotes/origin/(*)
 *     <workspace>/mirrors/<sha1-of-url>.lock   flock(2) taken around fetches
 *     <workspace>/tasks/<id>/checkout          the task's worktree
 *
 * The first task on a URL clones the mirror, later tasks fetch it. Every
 * task gets its own worktree on its own branch (default "task/{id}"), so
 * N tasks cost one object store plus N checkouts.
 *
 * Audit: this module reports its facts and writes no file of the task's
 * record. After devsys_repo_open_task(), devsys_repo_commit() (when it
 * commits) and devsys_repo_push() succeed, the caller reads the facts
 * (devsys_repo_url(), devsys_repo_branch(), devsys_repo_base_branch(),
 * devsys_repo_base_sha(), devsys_repo_head_sha()) and records them with
 * devsys_record_git_step() (devsys/record.h) as a git.checkout / git.commit
 * / git.push event. The pipeline does so in its checkout, commit and push
 * stages, and the `devsys git` commands do so too; a program calling these
 * functions on its own records what it wants. So a call's result is the git
 * operation's alone: a push that succeeded returns 0 even when the record
 * cannot be written afterwards (the caller sees that as its own error).
 * (Earlier 1.x versions wrote the record from these calls themselves.)
 *
 * The library runs without any user or system git configuration (the
 * libgit2 search paths are emptied by devsys_init()), never runs hooks,
 * never follows submodules and refuses a tree whose checkout would write
 * outside the checkout (".." paths, symbolic links pointing out).
 *
 * Threads: a devsys_repo handle is used by one thread at a time. Different
 * handles, also on the same mirror and from different processes, may be
 * used concurrently. Note that libgit2 keeps the TLS CA locations
 * process-wide: devsys_repo_options.ssl_ca_file / ssl_ca_dir are applied
 * before each https operation and stay in effect for the process.
 */
typedef struct devsys_repo devsys_repo;

/* ---- credentials ---- */

/** Credential kinds, also used as the bit set of kinds a server accepts. */
typedef enum devsys_repo_credential_type {
	DEVSYS_REPO_CRED_USERPASS = 1u << 0, /**< HTTP basic: username + secret (a token) */
	DEVSYS_REPO_CRED_SSH_KEY = 1u << 1,  /**< ssh key files (+ optional passphrase) */
	DEVSYS_REPO_CRED_SSH_AGENT = 1u << 2 /**< ssh-agent via $SSH_AUTH_SOCK */
} devsys_repo_credential_type;

/**
 * A credential filled in by a provider. Every string is borrowed from the
 * provider: it must stay valid until the provider is called again or the
 * operation (devsys_repo_open_task(), devsys_repo_push(), ...) returns.
 * The library copies secrets only into libgit2's own credential object and
 * never writes them to a file, a log, an error message or a URL.
 */
typedef struct devsys_repo_credential {
	unsigned int type;            /**< one DEVSYS_REPO_CRED_* value */
	const char *username;         /**< USERPASS: e.g. "x-access-token"; ssh: the user (NULL: from the URL) */
	const char *secret;           /**< USERPASS: the token or password */
	const char *ssh_public_key;   /**< SSH_KEY: public key file, may be NULL */
	const char *ssh_private_key;  /**< SSH_KEY: private key file */
	const char *ssh_passphrase;   /**< SSH_KEY: passphrase, NULL for none */
} devsys_repo_credential;

/**
 * A credential provider: one link of the chain.
 *
 * @param out       fill in and return 0 to use the credential
 * @param url       the remote URL (never carries credentials)
 * @param username_from_url  the user named in the URL, or NULL
 * @param allowed   DEVSYS_REPO_CRED_* bits the server accepts
 * @param attempt   1 on the first request of an operation; 2, 3, ... when
 *                  the server refused what was offered before
 * @param payload   the provider's payload
 * @return 0 (filled), 1 (pass: ask the next provider), or a negative
 *         DEVSYS_E* code to fail the operation with that code.
 */
typedef int (*devsys_repo_credential_cb)(devsys_repo_credential *out, const char *url,
                                         const char *username_from_url, unsigned int allowed,
                                         unsigned int attempt, void *payload);

/** A link of the credential chain. */
typedef struct devsys_repo_credential_provider {
	devsys_repo_credential_cb cb;
	void *payload;
} devsys_repo_credential_provider;

/**
 * The default provider: a token from $GITHUB_TOKEN as HTTP basic
 * "x-access-token:<token>", and for ssh what devsys_repo_key_credentials()
 * gives. The environment token is the documented fallback for a setup with
 * no secrets provider: when devsys.yaml's `forges:` entry for the remote
 * names a token_secret, build the chain with devsys_forge_credentials()
 * (devsys/forge.h) and devsys_repo_key_credentials() instead, and the token
 * comes through the secrets module only. It answers only the first attempt
 * of each kind, so a refused token ends in DEVSYS_EAUTH instead of a retry
 * loop. @p payload is the devsys_repo_options the operation runs with (set
 * by the library).
 */
DEVSYS_API int devsys_repo_default_credentials(devsys_repo_credential *out, const char *url,
                                               const char *username_from_url, unsigned int allowed,
                                               unsigned int attempt, void *payload);

/**
 * The default provider without any token: for ssh the key files of the
 * options (ssh_private_key) or, without them, ssh-agent; never the
 * environment's token. First attempt only. @p payload: as for
 * devsys_repo_default_credentials() (set by the library when NULL).
 */
DEVSYS_API int devsys_repo_key_credentials(devsys_repo_credential *out, const char *url,
                                           const char *username_from_url, unsigned int allowed,
                                           unsigned int attempt, void *payload);

/* ---- progress ---- */

/** What a progress report is about. */
typedef enum devsys_repo_stage {
	DEVSYS_REPO_STAGE_FETCH = 1,    /**< receiving objects (clone or fetch) */
	DEVSYS_REPO_STAGE_CHECKOUT = 2, /**< writing the worktree */
	DEVSYS_REPO_STAGE_PUSH = 3      /**< sending objects */
} devsys_repo_stage;

/** A progress report; counters that do not apply to a stage are 0. */
typedef struct devsys_repo_progress {
	int stage;              /**< devsys_repo_stage */
	uint64_t total_objects; /**< objects to transfer (FETCH, PUSH) or files to write (CHECKOUT) */
	uint64_t done_objects;  /**< received+indexed (FETCH), sent (PUSH), written (CHECKOUT) */
	uint64_t bytes;         /**< bytes transferred so far (FETCH, PUSH) */
} devsys_repo_progress;

/**
 * Receives progress. Called on the thread running the operation. Return 0
 * to continue, non-zero to cancel: the operation fails with DEVSYS_EUSER.
 */
typedef int (*devsys_repo_progress_cb)(const devsys_repo_progress *progress, void *payload);

/* ---- options ---- */

/*
 * Version history of devsys_repo_options:
 *  - 1: every field up to and including follow_submodules.
 */
#define DEVSYS_REPO_OPTIONS_VERSION 1

/** Default size guard for one staged file: 50 MiB. */
#define DEVSYS_REPO_DEFAULT_MAX_FILE_SIZE (50u * 1024u * 1024u)

/**
 * How a task's repository is set up and pushed. Fields marked (operator)
 * grant or withdraw privilege and must come from the operator's
 * devsys.yaml, never from a task spec. Strings are copied.
 */
typedef struct devsys_repo_options {
	unsigned int version;        /**< DEVSYS_REPO_OPTIONS_VERSION */
	const char *url;             /**< required: https://, http://, ssh://, user@host:path, file:// or an absolute path */
	const char *base_branch;     /**< branch to start from; NULL: the remote's default branch */
	const char *branch_template; /**< NULL: "task/{id}"; also {slug} and {date} (UTC, YYYYMMDD) */
	const char *slug;            /**< value of {slug}; NULL: empty */
	const char *author_name;     /**< NULL: "devsys" */
	const char *author_email;    /**< NULL: "devsys@localhost" */
	const char *ssl_ca_file;     /**< CA bundle for https (NULL: libgit2's default) */
	const char *ssl_ca_dir;      /**< CA directory for https (NULL: none) */
	const char *ssh_known_hosts; /**< known_hosts file checked for ssh remotes; required for ssh */
	const char *ssh_user;        /**< ssh user when the URL names none; NULL: "git" */
	const char *ssh_public_key;  /**< default provider: public key file (NULL: private key + ".pub" if present) */
	const char *ssh_private_key; /**< default provider: private key file (NULL: use ssh-agent) */
	const char *ssh_passphrase;  /**< default provider: passphrase of the key, NULL for none */
	/** Credential chain, tried in order; NULL/0: { devsys_repo_default_credentials }. Copied. */
	const devsys_repo_credential_provider *credentials;
	size_t ncredentials;
	/** (operator) extra protected-branch patterns (fnmatch; '*' also matches '/'). Copied. */
	const char *const *protected_branches;
	size_t nprotected_branches;
	int allow_force_push;        /**< (operator) allow a forced push of the task's own branch */
	uint64_t max_file_size;      /**< refuse to stage a file larger than this; 0: the default */
	devsys_repo_progress_cb progress; /**< NULL: no progress reports */
	void *progress_payload;
	/**
	 * Check out submodules too (recursively one level: the submodules of
	 * the task's tree). Off by default: submodules are never followed
	 * unless asked. Their URLs pass the same checks as @c url, they use the
	 * same credential chain and host-key checks, and their trees are
	 * checked for symbolic links leaving the checkout.
	 */
	int follow_submodules;
} devsys_repo_options;

#define DEVSYS_REPO_OPTIONS_INIT                                                                       \
	{ DEVSYS_REPO_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
	  NULL, NULL, NULL, 0u, NULL, 0u, 0, 0u, NULL, NULL, 0 }

/**
 * Initialise @p opts to the defaults of @p version.
 * @return 0, DEVSYS_EINVAL (NULL) or DEVSYS_EVERSION.
 */
DEVSYS_API int devsys_repo_options_init(devsys_repo_options *opts, unsigned int version);

/* ---- the task checkout ---- */

/**
 * Set up (or reopen) the checkout of @p task.
 *
 * Refuses a protected task branch before any network traffic. Then, under
 * the mirror's lock, clones or fetches the mirror, resolves the base branch
 * (opts->base_branch or the remote's default), checks the tree for paths
 * escaping the checkout, creates the task branch at the base commit and
 * adds the worktree <task>/checkout on it. When the checkout already exists
 * (a re-run) it is reopened as it is, without fetching.
 *
 * On failure nothing of the task is left behind: no checkout directory, no
 * worktree entry, no task branch (the mirror stays, it is a cache).
 *
 * @param out   receives the handle; free with devsys_repo_free()
 * @param task  the task; the handle holds a reference on it (free them in any order)
 * @param opts  required (the URL)
 * @return 0; DEVSYS_EINVAL (bad URL, URL with embedded credentials);
 *         DEVSYS_EVERSION; DEVSYS_EINVALID (the branch template gives a bad
 *         ref name); DEVSYS_EPROTECTED; DEVSYS_ENOTFOUND (base branch or
 *         repository missing); DEVSYS_ENETWORK (unreachable); DEVSYS_EAUTH;
 *         DEVSYS_EHOSTKEY; DEVSYS_EPATH (symlink or path out of the tree);
 *         DEVSYS_ENOSPC; DEVSYS_EACCESS; DEVSYS_EIO; DEVSYS_EUSER (progress
 *         callback cancelled).
 * @param out new: the handle (it holds a reference on @p task); free with devsys_repo_free().
 */
DEVSYS_API int devsys_repo_open_task(devsys_repo **out, devsys_task *task, const devsys_repo_options *opts);

/** Release the handle (the checkout stays on disk). NULL is fine. */
DEVSYS_API void devsys_repo_free(devsys_repo *repo);

/**
 * The remote URL as the task's record may show it: credentials are never
 * part of it (an URL carrying them is refused by devsys_repo_open_task()).
 * Borrowed.
 * @return borrowed: from @p repo, valid until it is freed.
 */
DEVSYS_API const char *devsys_repo_url(const devsys_repo *repo);

/**
 * The task branch name without "refs/heads/" ("task/42"). Borrowed.
 * @return borrowed: from @p repo, valid until it is freed.
 */
DEVSYS_API const char *devsys_repo_branch(const devsys_repo *repo);

/**
 * The base branch the task started from ("main"). Borrowed.
 * @return borrowed: from @p repo, valid until it is freed.
 */
DEVSYS_API const char *devsys_repo_base_branch(const devsys_repo *repo);

/**
 * The 40-hex commit the task branch started from. Borrowed.
 * @return borrowed: from @p repo, valid until it is freed.
 */
DEVSYS_API const char *devsys_repo_base_sha(const devsys_repo *repo);

/**
 * The 40-hex commit the task branch points at now. Borrowed; changes after a commit.
 * @return borrowed: from @p repo, valid until it is freed; its text changes after a commit.
 */
DEVSYS_API const char *devsys_repo_head_sha(const devsys_repo *repo);

/**
 * The absolute path of the checkout. Borrowed.
 * @return borrowed: from @p repo, valid until it is freed.
 */
DEVSYS_API const char *devsys_repo_checkout_path(const devsys_repo *repo);

/**
 * The absolute path of the mirror. Borrowed.
 * @return borrowed: from @p repo, valid until it is freed.
 */
DEVSYS_API const char *devsys_repo_mirror_path(const devsys_repo *repo);

/**
 * The remote's default branch as last fetched ("main"), or "" if unknown. Borrowed.
 * @return borrowed: from @p repo, valid until it is freed; its text changes after a fetch.
 */
DEVSYS_API const char *devsys_repo_remote_default_branch(const devsys_repo *repo);

/*
 * Version history of devsys_repo_commit_options:
 *  - 1: spec_path, spec_file.
 */
#define DEVSYS_REPO_COMMIT_OPTIONS_VERSION 1

typedef struct devsys_repo_commit_options {
	unsigned int version;  /**< DEVSYS_REPO_COMMIT_OPTIONS_VERSION */
	const char *spec_path; /**< shown in the Spec: trailer (e.g. "specs/42.yaml"); NULL: no Spec: trailer */
	const char *spec_file; /**< file whose content is hashed for Spec:; NULL: spec_path inside the checkout */
} devsys_repo_commit_options;

#define DEVSYS_REPO_COMMIT_OPTIONS_INIT { DEVSYS_REPO_COMMIT_OPTIONS_VERSION, NULL, NULL }

/**
 * The content id of a spec (or any bytes): "sha1:<git blob id>", the value
 * `git hash-object FILE` prints with the prefix. The commit trailer "Spec:"
 * and the task record's spec_hash use it, so an auditor can match the two.
 * Computed by the library's own hashing (no libgit2 call), so it needs no
 * devsys_init() and is thread-safe. @return 0, DEVSYS_EINVAL or DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_repo_content_id(devsys_buf *out, const void *data, size_t len);

/** Initialise @p opts to the defaults of @p version. */
DEVSYS_API int devsys_repo_commit_options_init(devsys_repo_commit_options *opts, unsigned int version);

/**
 * Stage every change in the checkout (new, modified, deleted files;
 * .gitignore honoured) and commit it on the task branch.
 *
 * The message gets the trailers "Task-Id: <id>" and, with spec_path,
 * "Spec: <spec_path> sha1:<git blob id of the spec's content>" (the value
 * `git hash-object <file>` prints).
 *
 * @param committed receives 1 when a commit was made, 0 when there was
 *                  nothing to commit (not an error; no commit is made)
 * @param message   the commit message (subject and body), non-empty
 * @return 0; DEVSYS_EINVAL; DEVSYS_ELIMIT (a file exceeds max_file_size:
 *         nothing is staged or committed, the message names the file);
 *         DEVSYS_ENOTFOUND (spec file missing); DEVSYS_EIO.
 */
DEVSYS_API int devsys_repo_commit(int *committed, devsys_repo *repo, const char *message,
                                  const devsys_repo_commit_options *opts);

/**
 * Push refs/heads/<task branch> (and nothing else) to the remote.
 *
 * Refused with DEVSYS_EPROTECTED, before anything is sent, when the branch
 * matches a protected pattern: "main", "master", "release/(*)", the remote's
 * default branch (as last fetched, and as the remote advertises it before
 * anything is uploaded), or a pattern of opts->protected_branches.
 *
 * When the branch already exists on the remote, its commit is fetched
 * first: unrelated history gives DEVSYS_ECONFLICT ("unrelated history");
 * a remote commit that is not an ancestor of the local one gives
 * DEVSYS_ECONFLICT unless allow_force_push was set by the operator, in
 * which case the push is forced (only ever for the task branch).
 *
 * @return 0; DEVSYS_EPROTECTED; DEVSYS_ECONFLICT; DEVSYS_EAUTH;
 *         DEVSYS_ENETWORK; DEVSYS_EHOSTKEY; DEVSYS_ENOTFOUND; DEVSYS_EUSER.
 */
DEVSYS_API int devsys_repo_push(devsys_repo *repo);

/**
 * Is @p branch (without "refs/heads/") protected under @p opts (NULL: the
 * defaults only) and the remote default @p remote_default (NULL: none)?
 * @return 1 protected, 0 not, DEVSYS_EINVAL for NULL @p branch.
 * Thread-safe; needs no devsys_init().
 */
DEVSYS_API int devsys_repo_branch_is_protected(const char *branch, const char *remote_default,
                                               const devsys_repo_options *opts);

/**
 * Expand a branch template ({id}, {slug}, {date}) and check the result is a
 * valid, safe branch name (no "..", "~", "^", ":", "?", "*", "[", "\\",
 * spaces, control characters, "@{", leading "-" or "/", trailing "/",
 * ".lock" or "."). @p template NULL means "task/{id}"; @p slug may be NULL.
 * @return 0; DEVSYS_EINVAL; DEVSYS_EINVALID with a message naming the
 *         rejected name and the reason. Thread-safe; needs no devsys_init().
 */
DEVSYS_API int devsys_repo_branch_name(devsys_buf *out, const char *template_, const char *task_id,
                                       const char *slug);

/* ---- changed paths ---- */

/** How a path changed between two trees (the letters of `git diff --name-status`). */
typedef enum devsys_repo_change_status {
	DEVSYS_REPO_CHANGE_ADDED = 1,     /**< A */
	DEVSYS_REPO_CHANGE_MODIFIED = 2,  /**< M: content and/or file mode */
	DEVSYS_REPO_CHANGE_DELETED = 3,   /**< D */
	DEVSYS_REPO_CHANGE_RENAMED = 4,   /**< R: old path differs (the content may change too) */
	DEVSYS_REPO_CHANGE_TYPECHANGE = 5 /**< T: file, symlink or submodule became another of these */
} devsys_repo_change_status;

/** The changed paths of a task (opaque); free with devsys_repo_changes_free(). */
typedef struct devsys_repo_changes devsys_repo_changes;
/** One changed path (opaque), borrowed from its devsys_repo_changes. */
typedef struct devsys_repo_change devsys_repo_change;

/**
 * The paths added, modified, deleted, renamed or changed in type between the
 * task's base and head commits (devsys_repo_base_sha() and
 * devsys_repo_head_sha()): libgit2's tree-to-tree diff with rename detection
 * at git's default similarity (50 %, as `git diff -M`), no git program and
 * no working tree involved. Changes are sorted by path.
 * @param out receives a new result (empty when head is base); free it with
 *            devsys_repo_changes_free()
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOTFOUND (a commit is missing from the
 *         mirror); DEVSYS_ENOMEM; DEVSYS_EIO.
 * Threads: like every call on @p repo, one thread at a time.
 * @param out new: the list of changes; free with devsys_repo_changes_free().
 */
DEVSYS_API int devsys_repo_changed_paths(devsys_repo_changes **out, devsys_repo *repo);

/** Free a result of devsys_repo_changed_paths(). NULL is fine. */
DEVSYS_API void devsys_repo_changes_free(devsys_repo_changes *changes);

/** Number of changed paths. */
DEVSYS_API size_t devsys_repo_changes_count(const devsys_repo_changes *changes);

/**
 * Change @p i (0-based) or NULL when out of range; borrowed from @p changes.
 * @return borrowed: from @p changes, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const devsys_repo_change *devsys_repo_changes_at(const devsys_repo_changes *changes, size_t i);

/** The change's status, or 0 for NULL. */
DEVSYS_API devsys_repo_change_status devsys_repo_change_status_of(const devsys_repo_change *change);

/**
 * The path (for a deletion, the path deleted; for a rename, the new path). Borrowed.
 * @return borrowed: from the list @p change belongs to, valid until it is freed.
 */
DEVSYS_API const char *devsys_repo_change_path(const devsys_repo_change *change);

/**
 * The source path of a rename; NULL for every other status. Borrowed.
 * @return borrowed: from the list @p change belongs to, valid until it is freed; NULL unless a rename.
 */
DEVSYS_API const char *devsys_repo_change_old_path(const devsys_repo_change *change);

/**
 * The git file mode before (old) and after (new) the change: 0100644,
 * 0100755, 0120000 (symlink) or 0160000 (submodule); 0 for the side that
 * does not exist (old of an addition, new of a deletion).
 */
DEVSYS_API unsigned int devsys_repo_change_old_mode(const devsys_repo_change *change);
/** See devsys_repo_change_old_mode(). */
DEVSYS_API unsigned int devsys_repo_change_new_mode(const devsys_repo_change *change);

/**
 * "added", "modified", "deleted", "renamed", "typechange", or "unknown". Static.
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_repo_change_status_name(devsys_repo_change_status status);

/* ---- changed paths, commit by commit ---- */

/** The commits of a task's branch since its base, each with its changes (opaque). */
typedef struct devsys_repo_commits devsys_repo_commits;

/** Most commits devsys_repo_changed_paths_by_commit() walks before DEVSYS_ELIMIT. */
#define DEVSYS_REPO_MAX_COMMITS 100000u

/**
 * The commits from the task's base (excluded) to its head (included),
 * oldest first, each with the paths it changed. The walk follows first
 * parents only (`git log --first-parent base..head`): the branch's own line
 * of commits. A merge commit is diffed against its first parent, so it
 * counts as changing what the merge brought onto the branch; the commits of
 * a merged-in branch are not listed one by one. Each commit's changes are a
 * devsys_repo_changes as devsys_repo_changed_paths() gives (tree-to-tree,
 * renames found at 50 %, sorted by path); a parentless commit is diffed
 * against the empty tree. A path changed in one commit and changed back in
 * a later one is listed in both, although base-to-head shows nothing.
 * Read from the mirror with libgit2; no git program, no working tree.
 * @param out new: the commits (none when head is base); free with devsys_repo_commits_free().
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOTFOUND (base or head missing from
 *         the mirror); DEVSYS_ELIMIT (more than DEVSYS_REPO_MAX_COMMITS
 *         commits: the base is likely not on the branch's history);
 *         DEVSYS_ENOMEM; DEVSYS_EIO.
 * Threads: like every call on @p repo, one thread at a time; the result is
 *         immutable and may be read from many threads.
 */
DEVSYS_API int devsys_repo_changed_paths_by_commit(devsys_repo_commits **out, devsys_repo *repo);

/** Free a result of devsys_repo_changed_paths_by_commit(). NULL is fine. */
DEVSYS_API void devsys_repo_commits_free(devsys_repo_commits *commits);

/** Number of commits walked (0 when head is base). */
DEVSYS_API size_t devsys_repo_commits_count(const devsys_repo_commits *commits);

/**
 * Commit @p i's id (40 hex digits), oldest first; NULL when out of range.
 * @return borrowed: from @p commits, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_repo_commits_sha(const devsys_repo_commits *commits, size_t i);

/**
 * Commit @p i's changes against its first parent; NULL when out of range.
 * Read them with devsys_repo_changes_count() and devsys_repo_changes_at();
 * do not free them.
 * @return borrowed: from @p commits, valid until it is freed; NULL when out of range.
 */
DEVSYS_API const devsys_repo_changes *devsys_repo_commits_changes(const devsys_repo_commits *commits, size_t i);

/**
 * The union over the commits for one path: how many commits touched
 * @p path (as the changed path, or as a rename's old path), with the
 * index of the first and the last of them into @p first and @p last when
 * not NULL (left unchanged when none did). A @p path ending in "/" names a
 * folder: a change of anything below it counts. Paths are relative to the
 * repository root, as git writes them.
 * @return the number of commits; 0 for NULL arguments.
 */
DEVSYS_API size_t devsys_repo_commits_touching(const devsys_repo_commits *commits, const char *path, size_t *first,
                                               size_t *last);

/**
 * Does @p path (relative to the repository root; a trailing "/" asks for
 * a folder) exist in the task's head commit? Reads the committed tree in
 * the mirror, not the checkout: an uncommitted file does not count. 1 or 0
 * into @p exists.
 * @return 0; DEVSYS_EINVAL; DEVSYS_ENOTFOUND (the head commit is missing
 *         from the mirror); DEVSYS_EIO.
 * Threads: like every call on @p repo, one thread at a time.
 */
DEVSYS_API int devsys_repo_head_has_path(int *exists, devsys_repo *repo, const char *path);

DEVSYS_END_DECL

#endif /* DEVSYS_REPO_H */
