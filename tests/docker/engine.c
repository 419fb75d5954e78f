/*
 * The real Docker engine fixture, and the client's pure parts against real
 * engine output. One dockerd per suite (tests/support/dockerd_fixture.h);
 * the Engine API is driven here with curl over the fixture's own socket and
 * TLS port (the library's HTTP client is not involved), and what the engine
 * sends back -- logs and attach streams, archive tar streams -- goes through
 * the library's demultiplexer and tar reader. Containers run with
 * NetworkMode none.
 */
#include "dockerd_fixture.h"
#include "runner/docker/docker_int.h"
#include "testutil.h"

#include <criterion/hooks.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* the Engine API version these calls name, and their path prefix */
#define API_VERSION "1.41"
#define API "/v" API_VERSION

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	dt_dockerd_suite_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	dt_dockerd_suite_stop();
}

static dt_dockerd *engine;
static char *work; /* a per-test temp dir for request bodies and responses */

static void setup(void)
{
	char why[1024];
	cr_assert_gt(devsys_init(), 0);
	if (!(engine = dt_dockerd_suite(why, sizeof(why))))
		dt_skip("%s", why);
	work = dt_tmpdir("docker-engine");
}

static void teardown(void)
{
	dt_dockerd_free(engine);
	engine = NULL;
	if (work)
		dt_rmrf(work);
	free(work);
	work = NULL;
	devsys_shutdown();
}

TestSuite(docker_engine, .init = setup, .fini = teardown, .timeout = 120);

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

/*
 * One API call with curl over the unix socket. The response body goes to
 * <work>/<out> (when @p out) and is returned parsed as JSON when it is JSON;
 * @p status gets the HTTP status.
 */
static json_t *api(const char *method, const char *path, const char *body, const char *out, long *status)
{
	char bodyfile[600], outfile[600];
	char *curl = dt_dockerd_curl(engine), *res;
	int st;
	json_t *j = NULL;
	snprintf(bodyfile, sizeof(bodyfile), "%s/body.json", work);
	snprintf(outfile, sizeof(outfile), "%s/%s", work, out ? out : "response");
	if (body)
		cr_assert(dt_write_file(bodyfile, body));
	res = dt_sh_output(&st, "%s -X %s %s%s%s -o '%s' -w '%%{http_code}' 'http://docker%s'", curl, method,
	                   body ? "-H 'Content-Type: application/json' --data-binary @'" : "", body ? bodyfile : "",
	                   body ? "'" : "", outfile, path);
	cr_assert_eq(st, 0, "curl %s %s failed: %s", method, path, res);
	*status = strtol(res, NULL, 10);
	free(res);
	free(curl);
	char *text = dt_read_file(outfile, NULL);
	if (text && text[0] == '{')
		j = json_loads(text, 0, NULL);
	free(text);
	return j;
}

/* Create a container from the fixture's image with NetworkMode none; its id (free()). */
static char *create(const char *cmd_json, bool tty)
{
	char body[2048];
	long status;
	snprintf(body, sizeof(body),
	         "{\"Image\":\"%s\",\"Cmd\":%s,\"Tty\":%s,\"WorkingDir\":\"/\","
	         "\"HostConfig\":{\"NetworkMode\":\"none\"}}",
	         engine->image, cmd_json, tty ? "true" : "false");
	json_t *j = api("POST", API "/containers/create", body, NULL, &status);
	cr_assert_eq(status, 201, "create: %ld", status);
	cr_assert_not_null(j);
	char *id = strdup(json_string_value(json_object_get(j, "Id")));
	json_decref(j);
	return id;
}

/* Start, wait for exit; the exit code. */
static long run_to_exit(const char *id)
{
	char path[256];
	long status, code;
	snprintf(path, sizeof(path), API "/containers/%s/start", id);
	json_decref(api("POST", path, NULL, NULL, &status));
	cr_assert_eq(status, 204, "start: %ld", status);
	snprintf(path, sizeof(path), API "/containers/%s/wait", id);
	json_t *j = api("POST", path, NULL, NULL, &status);
	cr_assert_eq(status, 200, "wait: %ld", status);
	code = (long)json_integer_value(json_object_get(j, "StatusCode"));
	json_decref(j);
	return code;
}

static void remove_container(const char *id)
{
	char path[256];
	long status;
	snprintf(path, sizeof(path), API "/containers/%s?force=1&v=1", id);
	json_decref(api("DELETE", path, NULL, NULL, &status));
	cr_assert_eq(status, 204, "remove: %ld", status);
	snprintf(path, sizeof(path), API "/containers/%s/json", id);
	json_decref(api("GET", path, NULL, NULL, &status));
	cr_assert_eq(status, 404, "gone after remove");
}

/* Feed a saved response through a demuxer in odd-sized chunks. */
typedef struct out2 {
	devsys_buf out, err;
} out2;

static int collect(int stream, const char *data, size_t len, void *payload)
{
	out2 *o = payload;
	cr_assert(stream == DEVSYS__DOCKER_STDOUT || stream == DEVSYS__DOCKER_STDERR, "stream %d", stream);
	return devsys_buf_put(stream == DEVSYS__DOCKER_STDOUT ? &o->out : &o->err, data, len);
}

static int demux_file(const char *name, bool raw, out2 *o)
{
	char path[600];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", work, name);
	char *data = dt_read_file(path, &len);
	devsys__docker_demux d;
	int rc = 0;
	cr_assert_not_null(data);
	devsys__docker_demux_init(&d, raw, 0, collect, o);
	for (size_t off = 0; off < len && rc == 0; off += 1001)
		rc = devsys__docker_demux_feed(&d, data + off, len - off < 1001 ? len - off : 1001);
	if (rc == 0)
		rc = devsys__docker_demux_finish(&d);
	free(data);
	return rc;
}

Test(docker_engine, fixture_is_its_own_engine)
{
	long status;
	json_t *v = api("GET", "/version", NULL, NULL, &status), *info, *img;
	cr_assert_eq(status, 200);
	cr_assert_not_null(json_string_value(json_object_get(v, "ApiVersion")));
	/* negotiation: /_ping's API-Version header and /version's range give the path prefix used here */
	{
		char *curl = dt_dockerd_curl(engine), negotiated[16];
		int st;
		char *hdr = dt_sh_output(&st, "%s -sI http://docker/_ping | tr -d '\\r' | sed -n 's/^[Aa]pi-[Vv]ersion: //p'",
		                         curl);
		cr_assert_eq(st, 0);
		hdr[strcspn(hdr, "\n")] = '\0';
		cr_assert_str_eq(hdr, json_string_value(json_object_get(v, "ApiVersion")), "/_ping and /version agree");
		cr_assert_eq(devsys__docker_api_version(negotiated, sizeof(negotiated), hdr,
		                                        json_string_value(json_object_get(v, "MinAPIVersion"))),
		             0, "%s", errmsg());
		cr_assert_str_eq(negotiated, API_VERSION, "the tests' /v1.41 prefix is what negotiation picks");
		free(hdr);
		free(curl);
	}
	fprintf(stderr, "engine %s (API %s), storage driver %s, dockerd ready in %.0f ms, image import %.0f ms\n",
	        json_string_value(json_object_get(v, "Version")), json_string_value(json_object_get(v, "ApiVersion")),
	        engine->storage_driver, engine->start_ms, engine->import_ms);
	json_decref(v);
	info = api("GET", API "/info", NULL, NULL, &status);
	cr_assert_eq(status, 200);
	cr_assert_str_eq(json_string_value(json_object_get(info, "DockerRootDir")), engine->data_root,
	                 "this engine keeps its data in the fixture's own data-root");
	cr_assert_str_eq(json_string_value(json_object_get(info, "Driver")), engine->storage_driver);
	json_decref(info);
	img = api("GET", API "/images/" DT_DOCKERD_IMAGE "/json", NULL, NULL, &status);
	cr_assert_eq(status, 200);
	cr_assert_str_eq(json_string_value(json_object_get(img, "Id")), engine->image_id);
	json_decref(img);
	cr_assert(strlen(engine->sock) < 108, "the socket path fits sun_path: %s", engine->sock);
}

Test(docker_engine, tls_listener_wants_the_test_ca_and_a_client_certificate)
{
	char *tls = dt_dockerd_curl_tls(engine), *out;
	int st;
	out = dt_sh_output(&st, "%s 'https://127.0.0.1:%d/version'", tls, engine->tls_port);
	cr_assert_eq(st, 0, "with the client certificate: %s", out);
	json_t *v = json_loads(out, 0, NULL);
	cr_assert_not_null(json_string_value(json_object_get(v, "ApiVersion")), "%s", out);
	json_decref(v);
	free(out);
	/* without a client certificate, with one from another CA, or trusting another CA: refused */
	st = dt_sh("curl -sS --cacert '%s' 'https://127.0.0.1:%d/version' >/dev/null 2>&1", engine->ca, engine->tls_port);
	cr_assert_neq(st, 0, "no client certificate");
	st = dt_sh("curl -sS --cacert '%s' --cert '%s' --key '%s' 'https://127.0.0.1:%d/version' >/dev/null 2>&1", engine->ca,
	           engine->other_cert, engine->other_key, engine->tls_port);
	cr_assert_neq(st, 0, "a client certificate from another CA");
	st = dt_sh("curl -sS --cacert /dev/null --cert '%s' --key '%s' 'https://127.0.0.1:%d/version' >/dev/null 2>&1",
	           engine->client_cert, engine->client_key, engine->tls_port);
	cr_assert_neq(st, 0, "a server the client does not trust");
	st = dt_sh("curl -sS 'http://127.0.0.1:%d/version' 2>/dev/null | grep -q ApiVersion", engine->tls_port);
	cr_assert_neq(st, 0, "no plain HTTP on the TLS port");
	/* the endpoint parser turns the fixture's tcp:// host into the URL curl just used */
	devsys__docker_endpoint ep;
	cr_assert_eq(devsys__docker_endpoint_parse(&ep, engine->tls_host, true, "profile"), 0, "%s", errmsg());
	char want[64];
	snprintf(want, sizeof(want), "https://127.0.0.1:%d", engine->tls_port);
	cr_assert_str_eq(ep.base_url, want);
	devsys__docker_endpoint_dispose(&ep);
	free(tls);
}

Test(docker_engine, create_start_wait_logs_remove)
{
	char *id = create("[\"sh\",\"-c\",\"echo out-1; echo err-1 >&2; echo out-2; exit 3\"]", false);
	char path[256];
	long status;
	out2 o = { DEVSYS_BUF_INIT, DEVSYS_BUF_INIT };
	cr_assert_eq(run_to_exit(id), 3, "the exit code comes back");
	snprintf(path, sizeof(path), API "/containers/%s/json", id);
	json_t *c = api("GET", path, NULL, NULL, &status);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "HostConfig"), "NetworkMode")), "none");
	json_decref(c);
	snprintf(path, sizeof(path), API "/containers/%s/logs?stdout=1&stderr=1", id);
	json_decref(api("GET", path, NULL, "logs.bin", &status));
	cr_assert_eq(status, 200);
	cr_assert_eq(demux_file("logs.bin", false, &o), 0, "%s", errmsg());
	cr_assert_str_eq(o.out.ptr, "out-1\nout-2\n");
	cr_assert_str_eq(o.err.ptr, "err-1\n");
	/* the attach endpoint (logs replay, no live stream) frames the same way */
	devsys_buf_dispose(&o.out);
	devsys_buf_dispose(&o.err);
	snprintf(path, sizeof(path), API "/containers/%s/attach?logs=1&stream=0&stdout=1&stderr=1", id);
	json_decref(api("POST", path, NULL, "attach.bin", &status));
	cr_assert_eq(status, 200, "attach: %ld", status);
	cr_assert_eq(demux_file("attach.bin", false, &o), 0, "%s", errmsg());
	cr_assert_str_eq(o.out.ptr, "out-1\nout-2\n");
	cr_assert_str_eq(o.err.ptr, "err-1\n");
	devsys_buf_dispose(&o.out);
	devsys_buf_dispose(&o.err);
	remove_container(id);
	free(id);
}

Test(docker_engine, big_output_and_tty_streams)
{
	/* 3 MB on stdout and 1 MB on stderr, interleaved by the engine */
	char *id = create("[\"sh\",\"-c\",\"yes $(printf %09999d 0) | head -c 3000000; "
	                  "yes $(printf %04999dE 0) | head -c 1000000 >&2\"]", false);
	char path[256];
	long status;
	out2 o = { DEVSYS_BUF_INIT, DEVSYS_BUF_INIT };
	cr_assert_eq(run_to_exit(id), 0);
	snprintf(path, sizeof(path), API "/containers/%s/logs?stdout=1&stderr=1", id);
	json_decref(api("GET", path, NULL, "big.bin", &status));
	cr_assert_eq(demux_file("big.bin", false, &o), 0, "%s", errmsg());
	cr_assert_eq(o.out.size, 3000000);
	cr_assert_eq(o.err.size, 1000000);
	cr_assert_eq(o.out.ptr[9999], '\n');
	cr_assert_eq(strspn(o.out.ptr, "0"), 9999);
	cr_assert_eq(strncmp(o.err.ptr + 4999, "E\n", 2), 0);
	cr_assert_null(memchr(o.out.ptr, 'E', o.out.size), "no stderr byte on stdout");
	devsys_buf_dispose(&o.out);
	devsys_buf_dispose(&o.err);
	remove_container(id);
	free(id);

	/* a TTY container's logs are one raw stream: the demuxer's raw mode */
	id = create("[\"sh\",\"-c\",\"echo tty-out; echo tty-err >&2\"]", true);
	cr_assert_eq(run_to_exit(id), 0);
	snprintf(path, sizeof(path), API "/containers/%s/logs?stdout=1&stderr=1", id);
	json_decref(api("GET", path, NULL, "tty.bin", &status));
	cr_assert_eq(demux_file("tty.bin", true, &o), 0, "%s", errmsg());
	cr_assert(strstr(o.out.ptr, "tty-out\r\n") && strstr(o.out.ptr, "tty-err\r\n"), "%s", o.out.ptr);
	devsys_buf_dispose(&o.out);
	devsys_buf_dispose(&o.err);
	/* read as multiplexed, the same bytes fail with the TTY hint */
	cr_assert_eq(demux_file("tty.bin", false, &o), DEVSYS_EPARSE);
	cr_assert(strstr(errmsg(), "TTY"), "%s", errmsg());
	devsys_buf_dispose(&o.out);
	devsys_buf_dispose(&o.err);
	remove_container(id);
	free(id);
}

/* ---- archives ---- */

typedef struct listing {
	devsys_buf text, data;
} listing;

static int on_entry(const devsys__tar_entry *e, void *payload)
{
	listing *l = payload;
	devsys_buf_clear(&l->data);
	devsys_buf_printf(&l->text, "%c %s %04o", "?fdlh"[e->type], e->path, e->mode);
	if (e->link)
		devsys_buf_printf(&l->text, " -> %s", e->link);
	return 0;
}

static int on_data(const devsys__tar_entry *e, const char *data, size_t len, void *payload)
{
	(void)e;
	return devsys_buf_put(&((listing *)payload)->data, data, len);
}

static int on_end(const devsys__tar_entry *e, void *payload)
{
	listing *l = payload;
	if (e->type == DEVSYS__TAR_FILE)
		devsys_buf_printf(&l->text, " = %s", l->data.ptr ? l->data.ptr : "");
	return devsys_buf_puts(&l->text, "\n");
}

static int read_tar_file(const char *name, listing *l)
{
	char path[600];
	size_t len = 0;
	devsys__tar_callbacks cbs = { on_entry, on_data, on_end, l };
	devsys__tar_reader *r;
	int rc;
	snprintf(path, sizeof(path), "%s/%s", work, name);
	char *data = dt_read_file(path, &len);
	cr_assert_not_null(data);
	cr_assert_eq(devsys__tar_reader_new(&r, NULL, &cbs), 0);
	rc = devsys__tar_reader_feed(r, data, len);
	if (rc == 0)
		rc = devsys__tar_reader_finish(r);
	devsys__tar_reader_free(r);
	free(data);
	return rc;
}

Test(docker_engine, archive_get_through_the_tar_reader)
{
	char *id = create("[\"sh\",\"-c\",\"umask 022; mkdir -p /work/sub && printf alpha > /work/a.txt && "
	                  "printf beta > /work/sub/b.txt && chmod 600 /work/sub/b.txt && ln -s a.txt /work/link && "
	                  "ln -s ../a.txt /work/sub/up\"]",
	                  false);
	char path[256];
	long status;
	listing l = { DEVSYS_BUF_INIT, DEVSYS_BUF_INIT };
	cr_assert_eq(run_to_exit(id), 0);
	snprintf(path, sizeof(path), API "/containers/%s/archive?path=/work", id);
	json_decref(api("GET", path, NULL, "work.tar", &status));
	cr_assert_eq(status, 200);
	cr_assert_eq(read_tar_file("work.tar", &l), 0, "%s", errmsg());
	/* Go's archive/tar writes the directory's own entry first, then its contents in order */
	cr_assert_str_eq(l.text.ptr, "d work 0755\n"
	                             "f work/a.txt 0644 = alpha\n"
	                             "l work/link 0777 -> a.txt\n"
	                             "d work/sub 0755\n"
	                             "f work/sub/b.txt 0600 = beta\n"
	                             "l work/sub/up 0777 -> ../a.txt\n");
	devsys_buf_dispose(&l.text);
	devsys_buf_dispose(&l.data);
	/* and extracted to disk (the archive's own "work/" stripped) it is the container's tree */
	{
		char dest[600], tarfile[600];
		size_t len = 0;
		devsys__tar_extract *x;
		snprintf(dest, sizeof(dest), "%s/dest", work);
		snprintf(tarfile, sizeof(tarfile), "%s/work.tar", work);
		char *data = dt_read_file(tarfile, &len);
		cr_assert_eq(devsys__tar_extract_new(&x, dest, 1, NULL), 0, "%s", errmsg());
		cr_assert_eq(devsys__tar_extract_feed(x, data, len), 0, "%s", errmsg());
		cr_assert_eq(devsys__tar_extract_finish(x), 0, "%s", errmsg());
		cr_assert_eq(devsys__tar_extract_entries(x), 5);
		devsys__tar_extract_free(x);
		free(data);
		int st;
		char *out = dt_sh_output(&st, "cd '%s' && cat a.txt sub/b.txt && readlink link sub/up && stat -c %%a sub/b.txt",
		                         dest);
		cr_assert_str_eq(out, "alphabetaa.txt\n../a.txt\n600\n");
		free(out);
	}
	/* the image's /bin holds absolute symlinks (sh -> /bin/busybox): refused as links out of the tree */
	snprintf(path, sizeof(path), API "/containers/%s/archive?path=/bin", id);
	json_decref(api("GET", path, NULL, "bin.tar", &status));
	cr_assert_eq(status, 200);
	cr_assert_eq(read_tar_file("bin.tar", &l), DEVSYS_EPATH);
	cr_assert(strstr(errmsg(), "-> '/bin/busybox' points out of the tree"), "%s", errmsg());
	devsys_buf_dispose(&l.text);
	devsys_buf_dispose(&l.data);
	remove_container(id);
	free(id);
}

static int to_file(const char *data, size_t len, void *payload)
{
	return fwrite(data, 1, len, payload) == len ? 0 : 1;
}

Test(docker_engine, archive_put_from_the_tar_writer_and_back)
{
	char tree[600], tarpath[600], path[256];
	long status;
	listing l = { DEVSYS_BUF_INIT, DEVSYS_BUF_INIT };
	char *id = create("[\"true\"]", false); /* created, never started: PUT works on it */
	out2 o = { DEVSYS_BUF_INIT, DEVSYS_BUF_INIT };
	snprintf(tree, sizeof(tree), "%s/tree", work);
	cr_assert_eq(dt_sh("set -e; umask 022; mkdir -p '%s/sub'; printf 'beta-up' > '%s/sub/b.txt'; "
	                   "printf '#!/bin/sh\\n' > '%s/run.sh'; chmod 750 '%s/run.sh'; ln -s sub/b.txt '%s/link'",
	                   tree, tree, tree, tree, tree),
	             0);
	snprintf(tarpath, sizeof(tarpath), "%s/up.tar", work);
	FILE *f = fopen(tarpath, "wb");
	devsys__tar_writer_opts wo = { .uid = 1234, .gid = 1234, .prefix = "tree" };
	cr_assert_eq(devsys__tar_write_tree(tree, &wo, to_file, f), 0, "%s", errmsg());
	fclose(f);
	/* PUT unpacks into an existing directory of the container */
	char *curl = dt_dockerd_curl(engine);
	cr_assert_eq(dt_sh("%s -f -X PUT -H 'Content-Type: application/x-tar' --data-binary @'%s' "
	                   "'http://docker" API "/containers/%s/archive?path=/tmp'", curl, tarpath, id), 0);
	free(curl);
	/* the engine unpacked it: read it back through the reader */
	snprintf(path, sizeof(path), API "/containers/%s/archive?path=/tmp/tree", id);
	json_decref(api("GET", path, NULL, "back.tar", &status));
	cr_assert_eq(status, 200);
	cr_assert_eq(read_tar_file("back.tar", &l), 0, "%s", errmsg());
	char *got = l.text.ptr;
	cr_assert(strstr(got, "f tree/sub/b.txt 0644 = beta-up\n"), "%s", got);
	cr_assert(strstr(got, "f tree/run.sh 0750 = #!/bin/sh\n"), "%s", got);
	cr_assert(strstr(got, "l tree/link 0777 -> sub/b.txt\n"), "%s", got);
	cr_assert(strstr(got, "d tree/sub 0755\n"), "%s", got);
	devsys_buf_dispose(&l.text);
	devsys_buf_dispose(&l.data);
	remove_container(id);
	free(id);
	/* and a container sees the files with the owner the writer stamped */
	id = create("[\"sh\",\"-c\",\"cat /tmp/tree/sub/b.txt; stat -c ' %u:%g %a' /tmp/tree/run.sh\"]", false);
	/* Without Content-Type: application/x-tar (curl's default is a form type) the engine
	   parses the body as a form, extracts nothing and still answers 200. */
	cr_assert_eq(dt_sh("%s -f -X PUT --data-binary @'%s' 'http://docker" API "/containers/%s/archive?path=/tmp'",
	                   (curl = dt_dockerd_curl(engine)), tarpath, id), 0);
	snprintf(path, sizeof(path), API "/containers/%s/archive?path=/tmp/tree", id);
	json_decref(api("GET", path, NULL, NULL, &status));
	cr_assert_eq(status, 404, "a form-typed upload lands nowhere: %ld", status);
	cr_assert_eq(dt_sh("%s -f -X PUT -H 'Content-Type: application/x-tar' --data-binary @'%s' "
	                   "'http://docker" API "/containers/%s/archive?path=/tmp'", curl, tarpath, id), 0);
	free(curl);
	long code = run_to_exit(id);
	snprintf(path, sizeof(path), API "/containers/%s/logs?stdout=1&stderr=1", id);
	json_decref(api("GET", path, NULL, "cat.bin", &status));
	cr_assert_eq(demux_file("cat.bin", false, &o), 0, "%s", errmsg());
	cr_assert_eq(code, 0, "exit %ld: %s / %s", code, o.out.ptr ? o.out.ptr : "", o.err.ptr ? o.err.ptr : "");
	cr_assert_str_eq(o.out.ptr, "beta-up 1234:1234 750\n", "err: %s", o.err.ptr ? o.err.ptr : "");
	devsys_buf_dispose(&o.out);
	devsys_buf_dispose(&o.err);
	remove_container(id);
	free(id);
}

Test(docker_engine, a_huge_file_in_an_archive_is_refused_at_its_header)
{
	char *id = create("[\"sh\",\"-c\",\"mkdir /out && printf small > /out/a && dd if=/dev/zero of=/out/huge bs=1M count=8 "
	                  "2>/dev/null\"]",
	                  false);
	char path[256], dest[600], tarfile[600];
	long status;
	size_t len = 0, fed = 0;
	devsys__tar_limits lim = { .max_entry_size = 1u << 20 };
	devsys__tar_extract *x;
	int rc = 0, st;
	cr_assert_eq(run_to_exit(id), 0);
	snprintf(path, sizeof(path), API "/containers/%s/archive?path=/out", id);
	json_decref(api("GET", path, NULL, "out.tar", &status));
	cr_assert_eq(status, 200);
	snprintf(tarfile, sizeof(tarfile), "%s/out.tar", work);
	snprintf(dest, sizeof(dest), "%s/out", work);
	char *data = dt_read_file(tarfile, &len);
	cr_assert_gt(len, 8u << 20, "the engine sent the whole 8 MiB file");
	cr_assert_eq(devsys__tar_extract_new(&x, dest, 1, &lim), 0, "%s", errmsg());
	while (fed < len && (rc = devsys__tar_extract_feed(x, data + fed, 512)) == 0)
		fed += 512;
	cr_assert_eq(rc, DEVSYS_ELIMIT, "%s", errmsg());
	cr_assert(strstr(errmsg(), "'out/huge' is 8388608 bytes, over the 1048576-byte limit"), "%s", errmsg());
	cr_assert_lt(fed, 8192, "refused at the header, after %zu bytes, not after reading 8 MiB", fed);
	devsys__tar_extract_free(x);
	free(data);
	char *out = dt_sh_output(&st, "cat '%s/a'; ls '%s'", dest, dest);
	cr_assert_str_eq(out, "smalla\n", "the entry before it arrived, the huge one did not: %s", out);
	free(out);
	remove_container(id);
	free(id);
}

Test(docker_engine, live_attach_stream_through_the_demuxer)
{
	char *id = create("[\"sh\",\"-c\",\"echo live-1; echo live-err >&2; echo live-2\"]", false);
	char url[300], headers[600], body[600];
	out2 o = { DEVSYS_BUF_INIT, DEVSYS_BUF_INIT };
	snprintf(url, sizeof(url), "http://docker" API "/containers/%s/attach?stream=1&stdout=1&stderr=1", id);
	snprintf(headers, sizeof(headers), "%s/attach.headers", work);
	snprintf(body, sizeof(body), "%s/live.bin", work);
	char *argv[] = { "/usr/bin/curl", "-sS", "--unix-socket", engine->sock, "-X", "POST", "-D", headers, "-o", body, url,
		         NULL };
	pid_t curl = dt_spawn(argv, NULL);
	cr_assert_gt(curl, 0);
	/* the engine answers the attach (and hijacks the connection) before the container runs */
	bool attached = false;
	for (int i = 0; i < 500 && !attached; i++) {
		char *h = dt_read_file(headers, NULL);
		attached = h && strstr(h, "application/vnd.docker") != NULL;
		free(h);
		if (!attached) {
			struct timespec ts = { 0, 10 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	cr_assert(attached, "attach answered within 5 s");
	cr_assert_eq(run_to_exit(id), 0);
	/* the engine closes the attach stream when the container exits */
	int st = dt_stop(curl, 0, 10000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "curl ended by itself with status 0 (%d)", st);
	cr_assert_eq(demux_file("live.bin", false, &o), 0, "%s", errmsg());
	cr_assert_str_eq(o.out.ptr, "live-1\nlive-2\n");
	cr_assert_str_eq(o.err.ptr, "live-err\n");
	devsys_buf_dispose(&o.out);
	devsys_buf_dispose(&o.err);
	remove_container(id);
	free(id);
}
