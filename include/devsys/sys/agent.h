/*
 * libdevsys - plug-in API: coding agent adapters.
 */
#ifndef DEVSYS_SYS_AGENT_H
#define DEVSYS_SYS_AGENT_H

#include "../common.h"
#include "../config.h"
#include "../spec.h"
#include "../task.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/sys/agent.h
 * @brief The agent adapter vtable: how the pipeline's agent stage runs a
 * coding agent chosen by the spec's `agent.kind`.
 *
 * sqlite3_vfs conventions, as devsys/sys/runner.h: @c version first; slots
 * are only appended and never change signature; registration copies the
 * prefix the plug-in's version has; an appended slot is called only when
 * the registered version has it and it is non-NULL.
 *
 * The pipeline does the common work around an adapter: the scrubbed
 * environment (no forge or git credentials), the per-task HOME, stdin
 * /dev/null, running the command through the step's runner (masking,
 * logs/agent.log, idle timeout, output cap, TERM -> grace -> KILL of the
 * process group), splitting stdout into lines (a line over 1 MiB is
 * dropped and counted), writing the adapter's events to logs/agent.jsonl
 * and the adapter's usage to task.json `agent.usage`.
 *
 * Built-in kinds: "command" (the spec's agent.command as given) and
 * "opencode" (docs/agents.md).
 *
 * Version history:
 *  - 1: name, open, command, line, usage, stop_reason, close.
 *  - 2: preflight, preflight_check, err_line, status.
 */
#define DEVSYS_AGENT_VTABLE_VERSION 2

/** What an adapter's open gets; the library's, valid until close. */
typedef struct devsys_agent_request {
	unsigned int version;          /**< DEVSYS_AGENT_REQUEST_VERSION */
	const devsys_spec *spec;       /**< the task's spec */
	const devsys_config *config;   /**< the operator's devsys.yaml, or NULL when none is loaded */
	devsys_task *task;             /**< the task (its folder holds home/ and logs/) */
	const char *checkout;          /**< the task's worktree: the agent's working directory */
	const char *home;              /**< the per-task HOME (made, mode 0700), outside the checkout */
	const char *input;             /**< agent-input.json (id, title, prompt, spec path, acceptance) */
	/* ---- version 2 ---- */
	/**
	 * The value of the profile's api_key_secret (agents.<profile> of
	 * devsys.yaml), resolved by the pipeline through the run's secrets
	 * (a secret.resolve event of stage agent) and already in the masker of
	 * the agent's output; NULL when the profile names none. Borrowed until
	 * close. Hand it to the agent only through its private configuration or
	 * environment, never through argv.
	 */
	const char *api_key;
	size_t api_key_len;            /**< its length */
} devsys_agent_request;

/** Version of devsys_agent_request. */
#define DEVSYS_AGENT_REQUEST_VERSION 2

/** line(): the line was one of the agent's events (kept in logs/agent.jsonl). */
#define DEVSYS_AGENT_EVENT 1
/** line(): an event that crossed a budget: the library stops the agent (stop_reason() says which). */
#define DEVSYS_AGENT_STOP 2
/** line(), err_line(): the agent waits on what a headless run never gives (a permission prompt): the
 *  library stops it at once, failure class stalled (stop_reason() says why). Vtable version 2. */
#define DEVSYS_AGENT_STALL 3

typedef struct devsys_agent_vtable {
	unsigned int version; /**< DEVSYS_AGENT_VTABLE_VERSION the plug-in was built with */

	/* ---- version 1 ---- */

	/** Required. The kind name ("opencode", "aider"); copied at registration. */
	const char *name;

	/**
	 * Required. Create an instance in @p *self for @p req: read the spec
	 * and the operator's profile, refuse what they do not allow (unknown
	 * profile, a model outside the profile's list) with DEVSYS_EINVALID
	 * and a message naming the input, and write the agent's private
	 * configuration under req->home (never in the checkout).
	 */
	int (*open)(void **self, const devsys_agent_request *req, void *payload);

	/**
	 * Required. The command: @p argv (non-empty) and @p env, entries
	 * "NAME=value" added to the scrubbed environment (replacing an entry
	 * of the same name; NULL: none). Both NULL-terminated, borrowed from
	 * self until close. A value here must not be a secret the agent was
	 * not meant to hold: the environment reaches the agent.
	 */
	int (*command)(void *self, const char *const **argv, const char *const **env);

	/**
	 * Optional. One complete line of the agent's stdout (masked, without
	 * its newline, not NUL-terminated), as it arrives. Returns 0 (not an
	 * event), DEVSYS_AGENT_EVENT, DEVSYS_AGENT_STOP, or a negative code
	 * (the agent is stopped; a system failure).
	 */
	int (*line)(void *self, const char *line, size_t len);

	/**
	 * Optional. After the agent ended: what it did as a JSON object text
	 * (new: allocated with devsys_malloc(); the library
	 * frees it with devsys_free()) into @p json, or NULL when nothing.
	 */
	int (*usage)(void *self, char **json);

	/** Optional. Which budget crossed and its figure, after DEVSYS_AGENT_STOP ("max_steps 3 reached (3 steps)"); borrowed. */
	const char *(*stop_reason)(void *self);

	/** Required. Release the instance. */
	void (*close)(void *self);

	/* ---- version 2 ---- */

	/**
	 * Optional. A command the library runs first, through the same runner,
	 * environment and working directory (e.g. `opencode --version`), into
	 * @p argv (NULL-terminated, borrowed until close; NULL: none). Its
	 * stdout goes to preflight_check, not to the agent's logs.
	 */
	int (*preflight)(void *self, const char *const **argv);

	/**
	 * Optional. The preflight's result: @p exit_code (-1 when it could not
	 * run; then @p out is the runner's message) and its stdout @p out (@p len
	 * bytes, capped at 64 KiB). 0 to go on, else a negative code with a
	 * message naming what was found and what is expected: the agent does not run.
	 */
	int (*preflight_check)(void *self, int exit_code, const char *out, size_t len);

	/** Optional. One complete stderr line (masked), as line() for stdout: 0, DEVSYS_AGENT_STALL, or a negative code. */
	int (*err_line)(void *self, const char *line, size_t len);

	/**
	 * Optional. What the agent is doing now, for the live progress view,
	 * asked after each event: a short label ("write hello.txt"; borrowed
	 * until the next call), @p step (the current step) and @p max (its
	 * budget, 0: none). NULL: nothing to show.
	 */
	const char *(*status)(void *self, uint64_t *step, uint64_t *max);
} devsys_agent_vtable;

/**
 * Register an agent kind process-wide (after devsys_init(); the built-ins
 * need no registration). The known prefix of @p vtable is copied;
 * @p payload is passed to open.
 * @return 0; DEVSYS_EEXISTS (name taken); DEVSYS_EVERSION; DEVSYS_EINVAL
 *         (a required slot is missing, or too many kinds). Thread-safe.
 */
DEVSYS_API int devsys_agent_register(const devsys_agent_vtable *vtable, void *payload);

DEVSYS_END_DECL

#endif /* DEVSYS_SYS_AGENT_H */
