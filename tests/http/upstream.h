/*
 * The scripted upstream (tests/support/http_upstream.py) for the HTTP
 * client's suites: one TCP, one unix-socket and one https server per suite, started in
 * Criterion's PRE_ALL hook (the runner process) and stopped in POST_ALL.
 * Workers find them through the environment.
 *
 *   ReportHook(PRE_ALL)(struct criterion_test_set *s) { (void)s; up_suite_start(); }
 *   ReportHook(POST_ALL)(struct criterion_global_stats *s) { (void)s; up_suite_stop(); }
 *
 * Each test scripts its own name: up_script("ka", "{\"responses\": [...]}")
 * answers /ka/...; up_log("ka") returns what the server received.
 */
#ifndef DEVSYS_TEST_HTTP_UPSTREAM_H
#define DEVSYS_TEST_HTTP_UPSTREAM_H

#include <jansson.h>
#include <stdbool.h>

void up_suite_start(void);
void up_suite_stop(void);

/* The TCP server's base URL ("http://127.0.0.1:PORT"); skips the test when
 * the server did not start. Borrowed. */
const char *up_base(void);
/* The unix-socket server's path. Borrowed. */
const char *up_sock(void);
/* The https server's base URL ("https://localhost:PORT"; its certificate
 * also names 127.0.0.1); it requires a client certificate. Skips when
 * openssl or the server failed. Borrowed. */
const char *up_tls_base(void);
/* A file of the test PKI: "ca.pem", "client.pem", "client.key" (free()). */
char *up_tls_file(const char *name);
/* Script /<name>/ on every server (atomic write). */
void up_script(const char *name, const char *json_text);
/* The requests /<name>/ received so far, a JSON array (json_decref). */
json_t *up_log(const char *name);
/* Distinct connections among those requests. */
int up_conns(const char *name);

#endif
