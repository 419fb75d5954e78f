/*
 * The acceptance checks run after a deployment: HTTP requests through the
 * library's HTTP client (retried until they pass or their deadline passes)
 * and commands on the deploy runner with an expected exit status.
 */
#include "core/core.h"
#include "deploy_int.h"
#include "http/http_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORT_VAR "${DEVSYS_DEPLOY_PORT}"
#define DEFAULT_REQUEST_MS 10000u
#define DEFAULT_DEADLINE_MS 30000u
#define DEFAULT_COMMAND_MS 60000u
#define MAX_BODY ((size_t)4 << 20)

enum { CHECK_HTTP, CHECK_COMMAND };

struct check {
	const char *name;     /* borrowed from the spec */
	int kind;
	/* http */
	char *url;            /* owned: the port put in */
	const char *method;
	long status;
	const char *contains;
	const char *matches;
	pcre2_code *re;
	unsigned int request_ms, deadline_ms;
	int retries;          /* -1: until the deadline */
	/* command */
	const char **argv;    /* owned array, strings borrowed */
	int exit_code;
	unsigned int command_ms;
};

struct devsys__acceptance {
	struct check *v;
	size_t n;
	pcre2_match_context *mctx;
};

int devsys__acceptance_ms(unsigned int *out, const devsys_node *n, unsigned int def, const char *what)
{
	if (!n) {
		*out = def;
		return 0;
	}
	return devsys_spec_duration_ms(out, n, what);
}

/* @p url with every "${DEVSYS_DEPLOY_PORT}" replaced by @p port, new. */
static char *put_port(const char *url, unsigned int port)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	const char *p = url, *hit;
	while ((hit = strstr(p, PORT_VAR))) {
		devsys_buf_put(&b, p, (size_t)(hit - p));
		devsys_buf_printf(&b, "%u", port);
		p = hit + strlen(PORT_VAR);
	}
	if (devsys_buf_puts(&b, p) < 0) {
		devsys_buf_dispose(&b);
		return NULL;
	}
	return b.ptr;
}

static int compile_regex(struct check *k, const char *where)
{
	int ec;
	PCRE2_SIZE off;
	k->re = pcre2_compile((PCRE2_SPTR)k->matches, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &off, NULL);
	if (!k->re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		return devsys__error_set(DEVSYS_EINVALID, "%s: check '%s': http.matches is not a regular expression "
		                                          "(offset %zu: %s)",
		                         where, k->name, (size_t)off, (const char *)msg);
	}
	pcre2_jit_compile(k->re, PCRE2_JIT_COMPLETE); /* optional: the interpreter works too */
	return 0;
}

static int load_http(struct check *k, const devsys_node *h, unsigned int check_ms, unsigned int port)
{
	const char *where = devsys_node_source(h)[0] ? devsys_node_source(h) : "spec";
	const devsys_node *n;
	unsigned int t;
	int rc;
	const char *url = devsys_node_string(devsys_node_member(h, "url"), NULL);
	k->kind = CHECK_HTTP;
	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return devsys__error_set(DEVSYS_EINVALID, "%s: check '%s': http.url is not an http:// or https:// URL", where,
		                         k->name);
	if (!(k->url = put_port(url, port)))
		return devsys__error_oom();
	k->method = devsys_node_string(devsys_node_member(h, "method"), NULL);
	if (!k->method)
		k->method = "GET";
	k->status = (n = devsys_node_member(h, "status")) ? (long)devsys_node_number(n) : 200;
	k->contains = devsys_node_string(devsys_node_member(h, "contains"), NULL);
	k->matches = devsys_node_string(devsys_node_member(h, "matches"), NULL);
	k->retries = (n = devsys_node_member(h, "retries")) ? (int)devsys_node_number(n) : -1;
	if ((rc = devsys__acceptance_ms(&t, devsys_node_member(h, "timeout"), check_ms, "http.timeout")) < 0)
		return rc;
	k->request_ms = t ? t : DEFAULT_REQUEST_MS;
	/* the deadline defaults to the timeout the spec gave, else 30 s */
	if ((rc = devsys__acceptance_ms(&k->deadline_ms, devsys_node_member(h, "deadline"),
	                                t ? t : DEFAULT_DEADLINE_MS, "http.deadline")) < 0)
		return rc;
	if (k->request_ms > k->deadline_ms)
		k->request_ms = k->deadline_ms;
	return k->matches ? compile_regex(k, where) : 0;
}

static int load_command(struct check *k, const devsys_node *check, const devsys_node *cmd, unsigned int check_ms)
{
	const devsys_node *n;
	size_t argc = devsys_node_size(cmd);
	k->kind = CHECK_COMMAND;
	if (!(k->argv = devsys__calloc(argc + 1, sizeof(char *))))
		return devsys__error_oom();
	for (size_t i = 0; i < argc; i++)
		if (!(k->argv[i] = devsys_node_string(devsys_node_at(cmd, i), NULL)))
			return devsys__error_set(DEVSYS_EINVALID, "%s: check '%s': command/%zu is not a string",
			                         devsys_node_source(cmd), k->name, i);
	k->exit_code = (n = devsys_node_member(check, "exit_code")) ? (int)devsys_node_number(n) : 0;
	k->command_ms = check_ms ? check_ms : DEFAULT_COMMAND_MS;
	return 0;
}

static int load_check(struct check *k, const devsys_node *check, size_t i, unsigned int port)
{
	const devsys_node *h = devsys_node_member(check, "http"), *cmd = devsys_node_member(check, "command");
	unsigned int check_ms = 0;
	int rc;
	k->name = devsys_node_string(devsys_node_member(check, "name"), NULL);
	if (!k->name || (!h == !cmd))
		return devsys__error_set(DEVSYS_EINVALID, "%s: deploy.acceptance/%zu: a check needs a name and exactly one "
		                                          "of http: or command:",
		                         devsys_node_source(check), i);
	if ((rc = devsys__acceptance_ms(&check_ms, devsys_node_member(check, "timeout"), 0, "timeout")) < 0)
		return rc;
	return h ? load_http(k, h, check_ms, port) : load_command(k, check, cmd, check_ms);
}

int devsys__acceptance_load(devsys__acceptance **out, const devsys_spec *spec, unsigned int port)
{
	const devsys_node *list = devsys_node_get(devsys_spec_at(spec, 0), "/deploy/acceptance");
	devsys__acceptance *a;
	int rc = 0;
	*out = NULL;
	if (!(a = devsys__calloc(1, sizeof(*a))))
		return devsys__error_oom();
	a->n = devsys_node_size(list);
	if ((a->n && !(a->v = devsys__calloc(a->n, sizeof(*a->v)))) || !(a->mctx = pcre2_match_context_create(NULL)))
		rc = devsys__error_oom();
	if (rc == 0) {
		/* a body regex that backtracks without end gives up instead */
		pcre2_set_match_limit(a->mctx, 1000000);
		pcre2_set_depth_limit(a->mctx, 10000);
	}
	for (size_t i = 0; rc == 0 && i < a->n; i++)
		rc = load_check(&a->v[i], devsys_node_at(list, i), i, port);
	if (rc < 0) {
		devsys__acceptance_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void devsys__acceptance_free(devsys__acceptance *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		devsys__free(a->v[i].url);
		devsys__free(a->v[i].argv);
		pcre2_code_free(a->v[i].re);
	}
	devsys__free(a->v);
	pcre2_match_context_free(a->mctx);
	devsys__free(a);
}

/* ---- running ---- */

struct outcome {
	int passed;
	unsigned int attempts;
	long status;        /* http: the last status (0: no answer) */
	int exit_code;      /* command: the exit status (-1: none) */
	devsys_buf detail;
};

/* Wait @p ms, or less when the task is canceled (polled every 50 ms). */
static void pause_ms(devsys__stage_ctx *c, unsigned int ms)
{
	while (ms > 0 && !c->p->canceled) {
		unsigned int step = ms < 50 ? ms : 50;
		poll(NULL, 0, (int)step);
		ms -= step;
	}
}

/* Does the body of one answer pass? Writes why not into @p why. */
static int judge_body(const struct check *k, devsys__acceptance *a, const devsys_buf *body, devsys_buf *why)
{
	const char *b = body->ptr ? body->ptr : "";
	if (k->contains && !memmem(b, body->size, k->contains, strlen(k->contains))) {
		devsys_buf_printf(why, "the body (%zu bytes) does not contain '%.200s'", body->size, k->contains);
		return 0;
	}
	if (k->re) {
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(k->re, NULL);
		int m = md ? pcre2_match(k->re, (PCRE2_SPTR)b, body->size, 0, 0, md, a->mctx) : PCRE2_ERROR_NOMEMORY;
		pcre2_match_data_free(md);
		if (m < 0) {
			if (m == PCRE2_ERROR_NOMATCH)
				devsys_buf_printf(why, "the body (%zu bytes) does not match /%.200s/", body->size, k->matches);
			else
				devsys_buf_printf(why, "matching /%.200s/ gave up (PCRE2 error %d: too much backtracking?)",
				                  k->matches, m);
			return 0;
		}
	}
	return 1;
}

static int http_attempt(devsys__http *h, const struct check *k, devsys__acceptance *a, struct outcome *o)
{
	devsys__http_request req = { 0 };
	devsys__http_response resp = { 0 };
	int rc, ok;
	req.method = k->method;
	req.path = k->url;
	req.timeout_ms = (long)k->request_ms;
	rc = devsys__http_send(&resp, h, &req);
	o->status = resp.status;
	devsys_buf_clear(&o->detail);
	if (resp.status == 0) {
		devsys_buf_printf(&o->detail, "no answer from %s: %s", k->url, devsys_error_message(devsys_error_last()));
		ok = 0;
	} else if (resp.status != k->status) {
		devsys_buf_printf(&o->detail, "%s %s answered %ld, expected %ld", k->method, k->url, resp.status, k->status);
		ok = 0;
	} else if (rc == DEVSYS_ELIMIT) {
		devsys_buf_printf(&o->detail, "%s %s: the body is over %zu bytes", k->method, k->url, MAX_BODY);
		ok = 0;
	} else {
		ok = judge_body(k, a, &resp.body, &o->detail);
	}
	if (ok)
		devsys_buf_printf(&o->detail, "%s %s answered %ld", k->method, k->url, resp.status);
	devsys__http_response_dispose(&resp);
	return ok;
}

static int run_http(struct outcome *o, const struct check *k, devsys__acceptance *a, devsys__stage_ctx *c)
{
	devsys__http_options ho;
	devsys__http *h = NULL;
	char origin[512];
	uint64_t deadline = devsys__now_ns() + (uint64_t)k->deadline_ms * 1000000u;
	unsigned int backoff = 100;
	const char *host = strstr(k->url, "://") + 3;
	int rc;
	snprintf(origin, sizeof(origin), "%.*s", (int)(host - k->url + (ptrdiff_t)strcspn(host, "/?#")), k->url);
	devsys__http_options_default(&ho);
	ho.what = "acceptance";
	ho.base_url = origin;
	ho.accept = "*/*";
	ho.max_retries = 0; /* the deadline loop below retries */
	ho.connect_timeout_ms = (long)(k->request_ms < 5000 ? k->request_ms : 5000);
	ho.timeout_ms = (long)k->request_ms;
	ho.max_response = MAX_BODY;
	if ((rc = devsys__http_new(&h, &ho)) < 0) {
		devsys_buf_printf(&o->detail, "%s", devsys_error_message(devsys_error_last()));
		return 0;
	}
	for (;;) {
		o->attempts++;
		if ((o->passed = http_attempt(h, k, a, o)))
			break;
		if (c->p->canceled || (k->retries >= 0 && o->attempts > (unsigned int)k->retries) ||
		    devsys__now_ns() >= deadline)
			break;
		uint64_t left_ms = (deadline - devsys__now_ns()) / 1000000u;
		pause_ms(c, (unsigned int)(left_ms < backoff ? left_ms : backoff));
		backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
	}
	if (!o->passed && o->attempts > 1)
		devsys_buf_printf(&o->detail, " (after %u attempts in %u ms)", o->attempts, k->deadline_ms);
	devsys__http_free(h);
	return 0;
}

static int run_command(struct outcome *o, const struct check *k, devsys__stage_ctx *c,
                       const devsys__acceptance_place *where)
{
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	int rc;
	cmd.argv = k->argv;
	cmd.env = where->env;
	cmd.cwd = where->cwd;
	cmd.timeout_ms = k->command_ms;
	cmd.task = c->task; /* output: logs/deploy.log */
	cmd.stage = "deploy";
	o->attempts = 1;
	rc = devsys__pipeline_exec(c, where->runner, &cmd, &rr);
	o->exit_code = rr.exit_code;
	if (rr.failure == DEVSYS_RUNNER_OK || rr.failure == DEVSYS_RUNNER_BUILD_FAILURE) {
		o->passed = rr.signal == 0 && rr.exit_code == k->exit_code;
		if (rr.signal)
			devsys_buf_printf(&o->detail, "'%s' was killed by signal %d, expected exit status %d", k->argv[0],
			                  rr.signal, k->exit_code);
		else
			devsys_buf_printf(&o->detail, "'%s' exited %d%s%d", k->argv[0], rr.exit_code,
			                  o->passed ? ", as expected: " : ", expected ", k->exit_code);
	} else {
		devsys_buf_printf(&o->detail, "'%s' did not complete (%s): %s", k->argv[0],
		                  devsys_runner_failure_name(rr.failure),
		                  rc < 0 ? devsys_error_message(devsys_error_last()) : "");
	}
	devsys_runner_result_dispose(&rr);
	return 0;
}

static json_t *outcome_json(const struct check *k, const struct outcome *o)
{
	json_t *j = json_pack("{s:s,s:s,s:b,s:I,s:s}", "name", k->name, "kind", k->kind == CHECK_HTTP ? "http" : "command",
	                      "passed", o->passed, "attempts", (json_int_t)o->attempts, "detail",
	                      o->detail.ptr ? o->detail.ptr : "");
	if (!j)
		return NULL;
	if (k->kind == CHECK_HTTP) {
		json_object_set_new(j, "url", json_string(k->url));
		json_object_set_new(j, "status", o->status ? json_integer(o->status) : json_null());
	} else {
		json_object_set_new(j, "exit_code", o->exit_code >= 0 ? json_integer(o->exit_code) : json_null());
	}
	return j;
}

int devsys__acceptance_run(devsys_buf *report, size_t *failed, devsys_buf *first, devsys__acceptance *a,
                           devsys__stage_ctx *c, const devsys__acceptance_place *where)
{
	json_t *arr = json_array();
	char *s = NULL;
	int rc = arr ? 0 : devsys__error_oom();
	*failed = 0;
	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		struct outcome o = { 0, 0, 0, -1, DEVSYS_BUF_INIT };
		const struct check *k = &a->v[i];
		json_t *j;
		if (c->p->canceled) {
			rc = devsys__error_set(DEVSYS_ECANCELED, "task '%s' was canceled during its acceptance checks",
			                       c->p->task_id);
			break;
		}
		rc = k->kind == CHECK_HTTP ? run_http(&o, k, a, c) : run_command(&o, k, c, where);
		if (rc == 0 && !o.passed && (*failed)++ == 0)
			devsys_buf_printf(first, "'%s': %s", k->name, o.detail.ptr ? o.detail.ptr : "failed");
		if (rc == 0 && (!(j = outcome_json(k, &o)) || json_array_append_new(arr, j) < 0))
			rc = devsys__error_oom();
		devsys_buf_dispose(&o.detail);
	}
	if (rc == 0 && (!(s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) || devsys_buf_puts(report, s) < 0))
		rc = devsys__error_oom();
	free(s);
	json_decref(arr);
	return rc;
}
