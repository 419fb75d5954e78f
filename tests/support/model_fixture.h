/*
 * The scripted model server fixture: tests/support/model_server.py, an
 * OpenAI-compatible server on 127.0.0.1, one per suite (Criterion's
 * PRE_ALL hook starts it, POST_ALL stops it; workers find it through the
 * environment), and the opencode CLI from scripts/deps/opencode.npm.
 *
 *   ReportHook(PRE_ALL)(struct criterion_test_set *s) { dt_model_suite_start(); }
 *   ReportHook(POST_ALL)(struct criterion_global_stats *s) { dt_model_suite_stop(); }
 *
 * If the runner dies before POST_ALL (SIGKILL, a crash), the fixture's
 * watchdog (watchdog.h) kills the server and removes the suite's dir.
 */
#ifndef DEVSYS_MODEL_FIXTURE_H
#define DEVSYS_MODEL_FIXTURE_H

#include <sys/types.h>

void dt_model_suite_start(void);
void dt_model_suite_stop(void);
/* For the fixture's own test: the server's pid and its watchdog's (0 when not started). */
void dt_model_suite_pids(pid_t *server, pid_t *watchdog);

/* "http://127.0.0.1:PORT/v1"; skips the test (a failure under CI=true) when the server did not start. Borrowed. */
const char *dt_model_url(void);

/* Replace the server's script (JSON, see model_server.py) and restart at its first turn; 0 or -1. */
int dt_model_script(const char *json);

/* Every request the server logged so far (JSONL text); free(). */
char *dt_model_log_text(void);

/* The opencode CLI (.deps/node/node_modules/.bin/opencode); skips the test when it is not installed. Borrowed. */
const char *dt_model_opencode(void);

#endif
