/*
 * The Docker Engine API client over lib/http (see client.h). Streams
 * (attach, exec start, archive) never buffer: output goes through the
 * demultiplexer, archives through the tar writer and extractor.
 */
#include "client.h"

#include "../../http/http_int.h"
#include "devsys/sys/errors.h"

#include <stdlib.h>
#include <string.h>

struct devsys__docker {
	devsys__docker_endpoint ep;
	devsys__docker_options opts; /* strings borrowed at open; copied below */
	char *ca, *cert, *key;
	devsys__http *http;
	char api[16];
	char *engine_version;
};

/* Re-set the last error as "docker: <what>: <previous>", keeping the
 * engine's detail and status. */
static int wrap(int code, const char *what)
{
	const devsys_error *e = devsys_error_last();
	char detail[512] = "";
	const char *d = devsys_error_detail(e);
	int status = devsys_error_http_status(e);
	bool had = d != NULL;
	if (d)
		snprintf(detail, sizeof(detail), "%s", d);
	devsys__error_set(code, "docker: %s: %s", what, devsys_error_message(e));
	devsys_error_set_detail(status, had ? detail : NULL);
	return code;
}

int devsys__docker_query_escape(devsys_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/", c))
			rc = devsys_buf_put(out, (const char *)&c, 1);
		else
			rc = devsys_buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int http_connect(devsys__docker *d)
{
	devsys__http_options ho;
	devsys__http_options_default(&ho);
	ho.what = "docker";
	ho.base_url = d->ep.base_url;
	ho.unix_socket = d->ep.kind == DEVSYS__DOCKER_UNIX ? d->ep.path : NULL;
	if (d->ep.tls) {
		ho.ca_file = d->ca;
		ho.client_cert = d->cert;
		ho.client_key = d->key;
	}
	if (d->opts.connect_timeout_ms)
		ho.connect_timeout_ms = d->opts.connect_timeout_ms;
	if (d->opts.timeout_ms)
		ho.timeout_ms = d->opts.timeout_ms;
	if (d->opts.max_retries)
		ho.max_retries = d->opts.max_retries;
	ho.backoff_ms = 200;
	ho.backoff_max_ms = 1000;
	return devsys__http_new(&d->http, &ho);
}

static devsys__docker *alloc_copy(const devsys__docker_options *o)
{
	devsys__docker *d = devsys__calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->opts = *o;
	d->opts.host = d->opts.docker_host_env = NULL;
	if ((o->ca_file && !(d->ca = devsys__strdup(o->ca_file))) ||
	    (o->client_cert && !(d->cert = devsys__strdup(o->client_cert))) ||
	    (o->client_key && !(d->key = devsys__strdup(o->client_key)))) {
		devsys__docker_close(d);
		return NULL;
	}
	return d;
}

/* Plain GET below the root (no version prefix): /_ping, /version. */
static int get_root(devsys__http_response *r, devsys__docker *d, const char *path, bool json)
{
	devsys__http_request req = { 0 };
	req.path = path;
	return json ? devsys__http_send_json(r, d->http, &req) : devsys__http_send(r, d->http, &req);
}

static int negotiate(devsys__docker *d)
{
	devsys__http_response r = { 0 };
	char max[32] = "", min[32] = "";
	int rc;
	if ((rc = get_root(&r, d, "/_ping", false)) < 0) {
		devsys__http_response_dispose(&r);
		return wrap(rc == DEVSYS_ENOTFOUND ? DEVSYS_ENETWORK : rc, "the engine does not answer /_ping");
	}
	devsys__http_response_header(&r, "API-Version", max, sizeof(max));
	devsys__http_response_dispose(&r);
	if ((rc = get_root(&r, d, "/version", true)) < 0) {
		devsys__http_response_dispose(&r);
		return wrap(rc, "GET /version");
	}
	{
		const char *v = json_string_value(json_object_get(r.json, "ApiVersion"));
		const char *mv = json_string_value(json_object_get(r.json, "MinAPIVersion"));
		const char *ev = json_string_value(json_object_get(r.json, "Version"));
		if (v)
			snprintf(max, sizeof(max), "%s", v);
		if (mv)
			snprintf(min, sizeof(min), "%s", mv);
		d->engine_version = devsys__strdup(ev ? ev : "unknown");
	}
	devsys__http_response_dispose(&r);
	if (!d->engine_version)
		return devsys__error_oom();
	if (!max[0])
		return devsys__error_set(DEVSYS_EPARSE, "docker: the engine at %s named no API version in /_ping or "
		                                        "/version",
		                         d->ep.spec);
	if ((rc = devsys__docker_api_version(d->api, sizeof(d->api), max, min[0] ? min : NULL)) < 0)
		return wrap(rc, d->ep.spec);
	return 0;
}

int devsys__docker_open(devsys__docker **out, const devsys__docker_options *opts)
{
	devsys__docker *d;
	devsys__docker_options none = { 0 };
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (!opts)
		opts = &none;
	if (!(d = alloc_copy(opts)))
		return devsys__error_oom();
	if ((rc = devsys__docker_endpoint_resolve(&d->ep, opts->host, opts->docker_host_env, opts->tls)) < 0 ||
	    (rc = http_connect(d)) < 0) {
		devsys__docker_close(d);
		return rc;
	}
	if ((rc = negotiate(d)) < 0) {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
		devsys__error_set(rc, "%s (endpoint %s, from %s)", msg, d->ep.spec, d->ep.source);
		devsys__docker_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

int devsys__docker_clone(devsys__docker **out, const devsys__docker *src)
{
	devsys__docker *d;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (!(d = alloc_copy(&src->opts)))
		return devsys__error_oom();
	memcpy(d->api, src->api, sizeof(d->api));
	if (!(d->engine_version = devsys__strdup(src->engine_version))) {
		devsys__docker_close(d);
		return devsys__error_oom();
	}
	if ((rc = devsys__docker_endpoint_parse(&d->ep, src->ep.spec, src->ep.tls, src->ep.source)) < 0 ||
	    (rc = http_connect(d)) < 0) {
		devsys__docker_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

void devsys__docker_close(devsys__docker *d)
{
	if (!d)
		return;
	devsys__http_free(d->http);
	devsys__docker_endpoint_dispose(&d->ep);
	devsys__free(d->ca);
	devsys__free(d->cert);
	devsys__free(d->key);
	devsys__free(d->engine_version);
	devsys__free(d);
}

const char *devsys__docker_api(const devsys__docker *d)
{
	return d->api;
}

const char *devsys__docker_engine_version(const devsys__docker *d)
{
	return d->engine_version;
}

const devsys__docker_endpoint *devsys__docker_endpoint_of(const devsys__docker *d)
{
	return &d->ep;
}

/* "/v<api><path>" */
static char *vpath(const devsys__docker *d, const char *path)
{
	return devsys__asprintf("/v%s%s", d->api, path);
}

int devsys__docker_call(json_t **out, devsys__docker *d, const char *method, const char *path, const json_t *body,
                        bool no_retry, const char *what)
{
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	char *p = vpath(d, path);
	int rc;
	if (out)
		*out = NULL;
	if (!p)
		return devsys__error_oom();
	req.method = method;
	req.path = p;
	req.json = body;
	req.no_retry = no_retry;
	rc = devsys__http_send_json(&r, d->http, &req);
	devsys__free(p);
	if (rc < 0) {
		devsys__http_response_dispose(&r);
		return wrap(rc, what);
	}
	if (out) {
		*out = r.json;
		r.json = NULL;
	}
	devsys__http_response_dispose(&r);
	return 0;
}

/* "<fmt with %s>" with @p arg percent-encoded. */
static char *path1(const char *fmt, const char *arg)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	char *p;
	if (devsys__docker_query_escape(&b, arg) < 0)
		return NULL;
	p = devsys__asprintf(fmt, b.ptr ? b.ptr : "");
	devsys_buf_dispose(&b);
	return p;
}

static int call1(json_t **out, devsys__docker *d, const char *method, const char *fmt, const char *arg,
                 const json_t *body, bool no_retry, const char *what)
{
	char *p = path1(fmt, arg);
	char w[300];
	int rc;
	if (!p)
		return devsys__error_oom();
	snprintf(w, sizeof(w), "%s '%.200s'", what, arg);
	rc = devsys__docker_call(out, d, method, p, body, no_retry, w);
	devsys__free(p);
	return rc;
}

int devsys__docker_info(json_t **out, devsys__docker *d)
{
	return devsys__docker_call(out, d, "GET", "/info", NULL, false, "GET /info");
}

int devsys__docker_image_inspect(json_t **out, devsys__docker *d, const char *image)
{
	int rc = call1(out, d, "GET", "/images/%s/json", image, NULL, false, "image inspect");
	if (rc == DEVSYS_ENOTFOUND)
		return wrap(rc, "the image is not on the engine (pull policy decides whether it is fetched)");
	return rc;
}

static int take_id(char **id, json_t *j, const char *what)
{
	const char *s = json_string_value(json_object_get(j, "Id"));
	if (!s) {
		json_decref(j);
		return devsys__error_set(DEVSYS_EPARSE, "docker: %s: the answer holds no Id", what);
	}
	*id = devsys__strdup(s);
	json_decref(j);
	return *id ? 0 : devsys__error_oom();
}

int devsys__docker_container_create(char **id, devsys__docker *d, const char *name, const json_t *config)
{
	json_t *j = NULL;
	int rc;
	DEVSYS__CHECK_ARG(id);
	*id = NULL;
	if (name)
		rc = call1(&j, d, "POST", "/containers/create?name=%s", name, config, true, "container create");
	else
		rc = devsys__docker_call(&j, d, "POST", "/containers/create", config, true, "container create");
	if (rc < 0)
		return rc;
	return take_id(id, j, "container create");
}

int devsys__docker_container_start(devsys__docker *d, const char *id)
{
	return call1(NULL, d, "POST", "/containers/%s/start", id, NULL, true, "container start");
}

int devsys__docker_container_inspect(json_t **out, devsys__docker *d, const char *id)
{
	return call1(out, d, "GET", "/containers/%s/json", id, NULL, false, "container inspect");
}

int devsys__docker_container_kill(devsys__docker *d, const char *id, const char *sig)
{
	char fmt[64];
	snprintf(fmt, sizeof(fmt), "/containers/%%s/kill?signal=%.16s", sig);
	return call1(NULL, d, "POST", fmt, id, NULL, true, "container kill");
}

int devsys__docker_container_wait(int *exit_code, devsys__docker *d, const char *id)
{
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	char *p = path1("/containers/%s/wait", id), *vp;
	int rc;
	*exit_code = -1;
	vp = p ? vpath(d, p) : NULL;
	devsys__free(p);
	if (!vp)
		return devsys__error_oom();
	req.method = "POST";
	req.path = vp;
	req.timeout_ms = -1;
	req.no_retry = true;
	rc = devsys__http_send_json(&r, d->http, &req);
	devsys__free(vp);
	if (rc < 0) {
		devsys__http_response_dispose(&r);
		return wrap(rc, "container wait");
	}
	{
		json_t *sc = json_object_get(r.json, "StatusCode");
		if (!json_is_integer(sc)) {
			devsys__http_response_dispose(&r);
			return devsys__error_set(DEVSYS_EPARSE, "docker: container wait '%.80s': no StatusCode in the "
			                                        "answer",
			                         id);
		}
		*exit_code = (int)json_integer_value(sc);
	}
	devsys__http_response_dispose(&r);
	return 0;
}

int devsys__docker_container_remove(devsys__docker *d, const char *id, bool force, bool volumes)
{
	char fmt[80];
	int rc;
	snprintf(fmt, sizeof(fmt), "/containers/%%s?force=%d&v=%d", force ? 1 : 0, volumes ? 1 : 0);
	rc = call1(NULL, d, "DELETE", fmt, id, NULL, false, "container remove");
	if (rc == DEVSYS_ENOTFOUND) {
		devsys_error_clear();
		return 0;
	}
	/* 409 "removal already in progress" (autoremove raced us): it goes anyway */
	if (rc == DEVSYS_ECONFLICT && strstr(devsys_error_message(devsys_error_last()), "in progress")) {
		devsys_error_clear();
		return 0;
	}
	return rc;
}

int devsys__docker_container_list(json_t **out, devsys__docker *d, const char *label)
{
	json_t *f = json_pack("{s:[s]}", "label", label);
	char *fs = f ? json_dumps(f, JSON_COMPACT) : NULL;
	int rc;
	json_decref(f);
	if (!fs)
		return devsys__error_oom();
	rc = call1(out, d, "GET", "/containers/json?all=1&filters=%s", fs, NULL, false, "container list");
	free(fs);
	return rc;
}

/* ---- streams ---- */

struct stream_ctx {
	devsys__docker_demux dm;
	void (*on_attached)(void *);
	void *attached_payload;
	bool attached;
};

static int on_stream(const char *data, size_t len, void *payload)
{
	struct stream_ctx *s = payload;
	return devsys__docker_demux_feed(&s->dm, data, len) < 0 ? -1 : 0;
}

static void on_stream_headers(long status, void *payload)
{
	struct stream_ctx *s = payload;
	(void)status;
	if (!s->attached && s->on_attached)
		s->on_attached(s->attached_payload);
	s->attached = true;
}

/* POST @p path, streaming the answer through the demultiplexer. */
static int stream_post(devsys__docker *d, const char *path, const json_t *body, bool tty, devsys__docker_output_cb cb,
                       void *payload, void (*on_attached)(void *), void *attached_payload, const char *what)
{
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	struct stream_ctx s = { 0 };
	char *vp = vpath(d, path);
	int rc;
	if (!vp)
		return devsys__error_oom();
	devsys__docker_demux_init(&s.dm, tty, 0, cb, payload);
	s.on_attached = on_attached;
	s.attached_payload = attached_payload;
	req.method = "POST";
	req.path = vp;
	req.json = body;
	req.write_cb = on_stream;
	req.payload = &s;
	req.on_headers = on_stream_headers;
	req.timeout_ms = -1;
	req.no_retry = true;
	rc = devsys__http_send(&r, d->http, &req);
	devsys__free(vp);
	devsys__http_response_dispose(&r);
	if (rc == DEVSYS_EUSER && s.dm.error && s.dm.error != DEVSYS_EUSER) {
		/* the demultiplexer refused the stream; its message was overwritten */
		rc = s.dm.error;
		return devsys__error_set(rc, "docker: %s: the engine sent a malformed stream at byte %llu", what,
		                         (unsigned long long)s.dm.offset);
	}
	if (rc < 0)
		return wrap(rc, what);
	if ((rc = devsys__docker_demux_finish(&s.dm)) < 0)
		return wrap(rc, what);
	return 0;
}

int devsys__docker_container_attach(devsys__docker *d, const char *id, bool logs, bool tty,
                                    devsys__docker_output_cb cb, void *payload, void (*on_attached)(void *),
                                    void *attached_payload)
{
	char *p = path1(logs ? "/containers/%s/attach?logs=1&stream=1&stdout=1&stderr=1"
	                     : "/containers/%s/attach?stream=1&stdout=1&stderr=1",
	                id);
	char w[160];
	int rc;
	if (!p)
		return devsys__error_oom();
	snprintf(w, sizeof(w), "container attach '%.80s'", id);
	rc = stream_post(d, p, NULL, tty, cb, payload, on_attached, attached_payload, w);
	devsys__free(p);
	return rc;
}

int devsys__docker_exec_create(char **exec_id, devsys__docker *d, const char *id, const json_t *config)
{
	json_t *j = NULL;
	int rc;
	DEVSYS__CHECK_ARG(exec_id);
	*exec_id = NULL;
	if ((rc = call1(&j, d, "POST", "/containers/%s/exec", id, config, true, "exec create")) < 0)
		return rc;
	return take_id(exec_id, j, "exec create");
}

int devsys__docker_exec_start(devsys__docker *d, const char *exec_id, bool tty, devsys__docker_output_cb cb,
                              void *payload)
{
	json_t *body = json_pack("{s:b,s:b}", "Detach", 0, "Tty", tty ? 1 : 0);
	char *p = path1("/exec/%s/start", exec_id);
	char w[160];
	int rc;
	if (!body || !p) {
		json_decref(body);
		devsys__free(p);
		return devsys__error_oom();
	}
	snprintf(w, sizeof(w), "exec start '%.80s'", exec_id);
	rc = stream_post(d, p, body, tty, cb, payload, NULL, NULL, w);
	json_decref(body);
	devsys__free(p);
	return rc;
}

int devsys__docker_exec_inspect(bool *running, int *exit_code, devsys__docker *d, const char *exec_id)
{
	json_t *j = NULL;
	int rc = call1(&j, d, "GET", "/exec/%s/json", exec_id, NULL, false, "exec inspect");
	if (rc < 0)
		return rc;
	*running = json_is_true(json_object_get(j, "Running"));
	*exit_code = json_is_integer(json_object_get(j, "ExitCode")) && !*running
	                     ? (int)json_integer_value(json_object_get(j, "ExitCode"))
	                     : -1;
	json_decref(j);
	return 0;
}

/* ---- archives ---- */

static long tar_read(char *buf, size_t cap, void *payload)
{
	long n = devsys__tar_writer_read(payload, buf, cap);
	return n < 0 ? -1 : n;
}

int devsys__docker_archive_put(devsys__docker *d, const char *id, const char *dir, const char *local_dir,
                               const devsys__tar_writer_opts *wopts)
{
	devsys__tar_writer *w = NULL;
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	devsys_buf q = DEVSYS_BUF_INIT;
	char *p = NULL;
	int rc;
	if ((rc = devsys__tar_writer_new(&w, local_dir, wopts)) < 0)
		return rc;
	if (devsys_buf_puts(&q, "/containers/") < 0 || devsys__docker_query_escape(&q, id) < 0 ||
	    devsys_buf_puts(&q, "/archive?path=") < 0 || devsys__docker_query_escape(&q, dir) < 0 ||
	    !(p = vpath(d, q.ptr))) {
		devsys_buf_dispose(&q);
		devsys__tar_writer_free(w);
		return devsys__error_oom();
	}
	req.method = "PUT";
	req.path = p;
	req.content_type = "application/x-tar";
	req.read_cb = tar_read;
	req.payload = w;
	req.timeout_ms = -1;
	rc = devsys__http_send(&r, d->http, &req);
	devsys__http_response_dispose(&r);
	devsys__free(p);
	devsys_buf_dispose(&q);
	if (rc == DEVSYS_EUSER) {
		/* the writer refused the tree: say what it said */
		long n = devsys__tar_writer_read(w, (char[512]){ 0 }, 512);
		if (n < 0)
			rc = (int)n;
	}
	devsys__tar_writer_free(w);
	if (rc < 0) {
		char what[400];
		snprintf(what, sizeof(what), "archive put of '%.150s' into '%.150s'", local_dir, dir);
		return wrap(rc, what);
	}
	return 0;
}

static int extract_cb(const char *data, size_t len, void *payload)
{
	return devsys__tar_extract_feed(payload, data, len) < 0 ? -1 : 0;
}

/* RFC 4648 base64 (Docker's path-stat header) into @p out; false on bad input. */
static bool base64_decode(devsys_buf *out, const char *in)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	for (; *in && *in != '='; in++) {
		const char *c = strchr(alphabet, *in);
		if (!c)
			return false;
		acc = (acc << 6) | (uint32_t)(c - alphabet);
		if ((bits += 6) >= 8) {
			char byte = (char)((acc >> (bits -= 8)) & 0xff);
			if (devsys_buf_put(out, &byte, 1) < 0)
				return false;
		}
	}
	return true;
}

int devsys__docker_path_stat_parse(bool *is_dir, const char *header)
{
	devsys_buf raw = DEVSYS_BUF_INIT;
	json_t *j = NULL;
	int rc = 0;
	if (!header || !base64_decode(&raw, header) || !(j = json_loadb(raw.ptr ? raw.ptr : "", raw.size, 0, NULL)) ||
	    !json_is_integer(json_object_get(j, "mode")))
		rc = devsys__error_set(DEVSYS_ESYSTEM, "docker: the engine's path stat is not base64 JSON with a mode");
	else /* Go's os.ModeDir */
		*is_dir = ((uint64_t)json_integer_value(json_object_get(j, "mode")) & (1ull << 31)) != 0;
	json_decref(j);
	devsys_buf_dispose(&raw);
	return rc;
}

int devsys__docker_archive_stat(bool *is_dir, devsys__docker *d, const char *id, const char *path)
{
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	devsys_buf q = DEVSYS_BUF_INIT;
	char *p = NULL, stat[4096], what[300];
	int rc;
	snprintf(what, sizeof(what), "archive stat of '%.200s'", path);
	if (devsys_buf_puts(&q, "/containers/") < 0 || devsys__docker_query_escape(&q, id) < 0 ||
	    devsys_buf_puts(&q, "/archive?path=") < 0 || devsys__docker_query_escape(&q, path) < 0 ||
	    !(p = vpath(d, q.ptr))) {
		devsys_buf_dispose(&q);
		return devsys__error_oom();
	}
	req.method = "HEAD";
	req.path = p;
	if ((rc = devsys__http_send(&r, d->http, &req)) < 0)
		wrap(rc, what);
	else if (!devsys__http_response_header(&r, "X-Docker-Container-Path-Stat", stat, sizeof(stat)))
		rc = devsys__error_set(DEVSYS_ESYSTEM, "docker: %s: the engine's answer has no path stat", what);
	else if ((rc = devsys__docker_path_stat_parse(is_dir, stat)) < 0)
		wrap(rc, what);
	devsys__http_response_dispose(&r);
	devsys__free(p);
	devsys_buf_dispose(&q);
	return rc;
}

int devsys__docker_archive_get(devsys__docker *d, const char *id, const char *path, const char *local_dir,
                               unsigned int strip, const devsys__tar_limits *limits)
{
	devsys__tar_extract *x = NULL;
	devsys__http_request req = { 0 };
	devsys__http_response r = { 0 };
	devsys_buf q = DEVSYS_BUF_INIT;
	char *p = NULL, what[400];
	int rc;
	snprintf(what, sizeof(what), "archive get of '%.150s' into '%.150s'", path, local_dir);
	if ((rc = devsys__tar_extract_new(&x, local_dir, strip, limits)) < 0)
		return wrap(rc, what);
	if (devsys_buf_puts(&q, "/containers/") < 0 || devsys__docker_query_escape(&q, id) < 0 ||
	    devsys_buf_puts(&q, "/archive?path=") < 0 || devsys__docker_query_escape(&q, path) < 0 ||
	    !(p = vpath(d, q.ptr))) {
		devsys_buf_dispose(&q);
		devsys__tar_extract_free(x);
		return devsys__error_oom();
	}
	req.path = p;
	req.write_cb = extract_cb;
	req.payload = x;
	req.timeout_ms = -1;
	req.no_retry = true;
	{
		/* the extractor's own refusal is overwritten by lib/http's abort message; keep it */
		char saved[700] = "";
		rc = devsys__http_send(&r, d->http, &req);
		if (rc == DEVSYS_EUSER) {
			int xrc = devsys__tar_extract_feed(x, "", 0);
			if (xrc < 0) {
				snprintf(saved, sizeof(saved), "%s", devsys_error_message(devsys_error_last()));
				rc = xrc;
				devsys__error_set(rc, "docker: %s: %s", what, saved);
			}
		} else if (rc < 0) {
			wrap(rc, what);
		}
	}
	devsys__http_response_dispose(&r);
	devsys__free(p);
	devsys_buf_dispose(&q);
	if (rc == 0 && (rc = devsys__tar_extract_finish(x)) < 0)
		wrap(rc, what);
	devsys__tar_extract_free(x);
	return rc;
}
