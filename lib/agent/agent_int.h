/* The agent module's contract with the pipeline's agent stage. */
#ifndef DEVSYS_AGENT_INT_H
#define DEVSYS_AGENT_INT_H

#include "devsys/sys/agent.h"

#include <stdbool.h>
#include <stdint.h>

/* The longest stdout line handed to an adapter; a longer one is dropped and counted. */
#define DEVSYS__AGENT_LINE_MAX (1u << 20)

typedef struct devsys__agent devsys__agent;

/*
 * Open the adapter of @p kind ("command" when NULL) for @p req.
 * DEVSYS_EINVALID: unknown kind, or the adapter refused.
 */
int devsys__agent_open(devsys__agent **out, const char *kind, const devsys_agent_request *req);

/* Is @p kind built in or registered (NULL: the default)? DEVSYS_EINVALID
 * naming the kind and the registered ones if not. Nothing is opened. */
int devsys__agent_check_kind(const char *kind);

/*
 * The command: argv borrowed from the adapter, and @p env (the scrubbed
 * base, borrowed) with the adapter's entries in place: a new array of
 * borrowed strings in *env_out, freed with devsys__free().
 */
int devsys__agent_command(devsys__agent *a, const char *const **argv, const char *const *env,
                          const char ***env_out);

/* A devsys_runner_output_cb: split stdout into lines for the adapter; non-zero stops the command. */
int devsys__agent_output(int stream, const char *data, size_t len, void *payload);

/* Call after the command ended (flushes a last line without newline). */
void devsys__agent_finish(devsys__agent *a);

/* Why the adapter stopped the agent (a budget and its figure), or NULL. Borrowed. */
const char *devsys__agent_stop_reason(const devsys__agent *a);

/* Does the adapter read events (a line slot)? Then the caller keeps a transcript. */
bool devsys__agent_has_events(const devsys__agent *a);

/* Did the adapter end the agent as stalled (DEVSYS_AGENT_STALL: it waits on a permission)? */
bool devsys__agent_stalled(const devsys__agent *a);

/* Called with each line the adapter took as an event (masked, no newline):
 * the pipeline keeps it in logs/agent.jsonl and shows the progress. A
 * negative return (its error set) or non-zero stops the agent. */
typedef int (*devsys__agent_event_cb)(devsys__agent *a, const char *line, size_t len, void *payload);
void devsys__agent_on_event(devsys__agent *a, devsys__agent_event_cb cb, void *payload);

/* The adapter's status slot: a short label of what the agent does now, or NULL. Borrowed. */
const char *devsys__agent_status(devsys__agent *a, uint64_t *step, uint64_t *max);

/* The adapter's preflight command (NULL in *argv: none), and its verdict on the result. */
int devsys__agent_preflight(devsys__agent *a, const char *const **argv);
int devsys__agent_preflight_check(devsys__agent *a, int exit_code, const char *out, size_t len);

/* A negative code an adapter's line returned (the agent was stopped), or 0. */
int devsys__agent_error(const devsys__agent *a);

/* agent.usage as JSON (new, devsys__free), with the library's counts of
 * dropped lines; NULL in *out when the adapter reports nothing. */
int devsys__agent_usage(char **out, devsys__agent *a);

void devsys__agent_close(devsys__agent *a);

/* devsys_shutdown(): forget the plug-in kinds (a later devsys_init() starts with the built-ins only). */
void devsys__agent_global_shutdown(void);
int devsys__agent_global_init(void);

/* The built-in adapters. */
extern const devsys_agent_vtable devsys__agent_command_vtable;
extern const devsys_agent_vtable devsys__agent_opencode_vtable;

#endif
