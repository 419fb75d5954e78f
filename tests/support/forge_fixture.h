/*
 * The forge contract-test fixture: the stateful upstream
 * (tests/support/forge_upstream.py) and, for GitHub, Prism
 * (@stoplight/prism-cli from scripts/deps/forge.npm) serving GitHub's
 * OpenAPI description (@octokit/openapi) as `prism proxy --errors` in front
 * of the upstream and as a stateless `prism mock --errors`, all on
 * 127.0.0.1. Started once per suite in Criterion's PRE_ALL hook (Prism
 * takes ~20 s to load the description), stopped in POST_ALL; workers find
 * them through the environment.
 *
 *   ReportHook(PRE_ALL)(struct criterion_test_set *s) { dt_forge_suite_start("github", "tok", DT_FORGE_PRISM); }
 *   ReportHook(POST_ALL)(struct criterion_global_stats *s) { dt_forge_suite_stop(); }
 *
 * If the runner dies before POST_ALL (SIGKILL, a crash), the fixture's
 * watchdog (watchdog.h) kills the upstream and Prism (with their children)
 * and removes the suite's dir.
 *
 * No jansson here: the log comes back as text (one JSON object a line).
 */
#ifndef DEVSYS_FORGE_FIXTURE_H
#define DEVSYS_FORGE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#define DT_FORGE_PRISM 1u /* also start prism proxy (in front of the upstream) and prism mock */

/* Start the upstream in @p mode ("github", ...) requiring @p token (NULL:
 * any), and Prism with @p flags. A part that cannot start leaves a reason
 * that dt_forge_url() skips with. */
void dt_forge_suite_start(const char *mode, const char *token, unsigned flags);
void dt_forge_suite_stop(void);

/* "http://127.0.0.1:PORT" of "upstream", "proxy" or "mock"; skips the test
 * (a failure under CI=true) when that part did not start. Borrowed. */
const char *dt_forge_url(const char *which);

/* GitHub's description (.deps/node/.../api.github.com.json); free(). NULL when not installed. */
char *dt_forge_spec_path(void);

/* Everything the upstream logged so far (JSONL text); free(). */
char *dt_forge_log_text(void);

/* POST @p json to the upstream's /_ctl/@p what; returns the HTTP status (-1: no answer). */
int dt_forge_ctl(const char *what, const char *json);

/* Size of Prism's log ("proxy" or "mock") now, and its text from @p offset on (free()). */
long dt_forge_prism_log_size(const char *which);
char *dt_forge_prism_log_since(const char *which, long offset);

/* Lines of Prism's log text @p text that report a request-side violation
 * (mock: "Violation: request...", proxy: a request refused with
 * "errors#UNPROCESSABLE_ENTITY"), which the tests fail on; the first into @p first. */
int dt_forge_request_violations(const char *text, char *first, size_t first_len);

#endif
