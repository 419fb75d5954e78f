/* What the deploy stage (deploy.c) and its acceptance checks (acceptance.c) share. */
#ifndef DEVSYS_PIPELINE_DEPLOY_INT_H
#define DEVSYS_PIPELINE_DEPLOY_INT_H

#include "pipeline_int.h"

/* The spec's deploy.acceptance, parsed and checked (regexes compiled, URLs
 * with the port put in). */
typedef struct devsys__acceptance devsys__acceptance;

/*
 * Parse /deploy/acceptance of the spec; "${DEVSYS_DEPLOY_PORT}" in a URL
 * becomes @p port. Nothing runs. DEVSYS_EINVALID naming the check and field
 * for a regex that does not compile or a bad time value. No checks: an
 * empty list (not NULL).
 */
int devsys__acceptance_load(devsys__acceptance **out, const devsys_spec *spec, unsigned int port);
void devsys__acceptance_free(devsys__acceptance *a);

/* Where command checks run: the deploy runner, the deployed checkout on it
 * and the environment the deploy command had. */
typedef struct devsys__acceptance_place {
	devsys_runner *runner;
	const char *cwd;
	const char *const *env;
} devsys__acceptance_place;

/*
 * Run every check in order. @p report gets the JSON array of
 * reports/acceptance.json ([{name, kind, passed, attempts, status or
 * exit_code, detail}]); @p failed the number that failed and @p first the
 * first one's name and detail. Returns 0 when the checks ran (passed or not);
 * DEVSYS_ECANCELED when the task was canceled meanwhile; DEVSYS_ENOMEM.
 */
int devsys__acceptance_run(devsys_buf *report, size_t *failed, devsys_buf *first, devsys__acceptance *a,
                           devsys__stage_ctx *c, const devsys__acceptance_place *where);

/* A time value of the spec (seconds, or "90s" / "30m" / "2h") in ms; @p n NULL: @p def. */
int devsys__acceptance_ms(unsigned int *out, const devsys_node *n, unsigned int def, const char *what);

#endif
