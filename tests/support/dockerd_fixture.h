/*
 * A real Docker engine for tests (Debian's docker.io: /usr/sbin/dockerd),
 * with its own socket, data-root, exec-root and pidfile in one short private
 * directory under /tmp, and no network plumbing:
 *   --bridge=none --iptables=false --ip-masq=false --userland-proxy=false
 * It also listens on tcp://127.0.0.1:<free port> with --tlsverify and a test
 * CA made here with openssl (server and client certificates), so the
 * client-certificate path can be tested. The machine's /var/run/docker.sock
 * is never used. Readiness is polled on /_ping with a deadline.
 *
 * The fixture imports one tiny image, DT_DOCKERD_IMAGE, with `docker import`
 * from a rootfs of Debian's static busybox (every applet as a symlink, an
 * /etc/passwd with root and nobody). The docker CLI is used here, by the
 * fixture only, always with -H pointing at the fixture's own socket.
 *
 * One engine per suite (Criterion runs each test in a fresh worker process):
 *
 *   ReportHook(PRE_ALL)(struct criterion_test_set *s) { (void)s; dt_dockerd_suite_start(); }
 *   ReportHook(POST_ALL)(struct criterion_global_stats *s) { (void)s; dt_dockerd_suite_stop(); }
 *   Test(x, y) {
 *       char why[512];
 *       dt_dockerd *d = dt_dockerd_suite(why, sizeof why);
 *       if (!d)
 *           dt_skip("%s", why);
 *       ... talk to d->host (unix://...) or d->tls_host with d->ca ... ...
 *       dt_dockerd_free(d);   // a suite view: frees memory, the engine keeps running
 *   }
 *
 * If the test process dies without reaching its teardown (SIGKILL, a crash),
 * the fixture's watchdog (watchdog.h) kills dockerd, containerd, the shims and
 * the containers under them, unmounts what is mounted below the directory and
 * removes it; a later start also removes fixture directories that no process
 * names any more.
 *
 * DT_DOCKERD_EXTRA_ARG=<flag> adds one flag to dockerd's command line (the
 * fixture's own test uses it to make dockerd fail).
 */
#ifndef DEVSYS_DOCKERD_FIXTURE_H
#define DEVSYS_DOCKERD_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DT_DOCKERD_IMAGE "devsys-test/busybox:latest"

typedef struct dt_dockerd {
	char *dir;            /* /tmp/dt-dkr-XXXXXX (0700): everything below lives here */
	char *sock;           /* <dir>/docker.sock */
	char *host;           /* "unix://<dir>/docker.sock" */
	int tls_port;         /* 127.0.0.1:tls_port, --tlsverify */
	char *tls_host;       /* "tcp://127.0.0.1:<tls_port>" */
	char *ca;             /* <dir>/tls/ca.pem: the test CA */
	char *client_cert;    /* <dir>/tls/client-cert.pem, signed by ca */
	char *client_key;     /* <dir>/tls/client-key.pem */
	char *other_cert;     /* <dir>/tls/other-cert.pem: a client certificate from ANOTHER CA */
	char *other_key;      /* <dir>/tls/other-key.pem */
	char *data_root;      /* <dir>/data */
	char *exec_root;      /* <dir>/exec (short: containerd's socket lives here) */
	char *pidfile;        /* <dir>/docker.pid */
	char *log;            /* <dir>/dockerd.log */
	char *storage_driver; /* "overlay2", or "vfs" when overlay2 would not start */
	char *image;          /* DT_DOCKERD_IMAGE */
	char *image_id;       /* "sha256:..." of the imported image */
	double start_ms;      /* dockerd exec to first 200 from /_ping */
	double import_ms;     /* rootfs tar + docker import */
	pid_t pid;            /* dockerd, 0 when stopped or not owned */
	bool owner;           /* this struct started the engine (free stops it) */
	struct dt_watchdog *watchdog; /* owner: stops all of it, removes dir, if the test dies */
} dt_dockerd;

/*
 * Make the CA and certificates, start dockerd (overlay2, else vfs), wait for
 * /_ping on the socket and the TLS port, and import the busybox image. On
 * failure returns NULL with a reason for dt_skip() in @p why (quoting the
 * end of dockerd's log when it exited), and leaves nothing behind.
 */
dt_dockerd *dt_dockerd_start(char *why, size_t why_len);
/* The private directory of the last dt_dockerd_start() in this process ("" before any). */
const char *dt_dockerd_last_dir(void);

/* Is the engine process still alive (owner only; a suite view asks /_ping)? */
bool dt_dockerd_running(const dt_dockerd *d);

/*
 * A shell command prefix for the docker CLI against this engine only:
 * "env -u DOCKER_HOST ... DOCKER_CONFIG=<dir>/cli /usr/bin/docker -H unix://<sock>".
 * For fixtures; free() it.
 */
char *dt_dockerd_cli(const dt_dockerd *d);

/*
 * curl command prefixes, for tests: "curl -sS --unix-socket <sock>" (use
 * http://docker/<path>) and "curl -sS --cacert ca --cert c --key k" (use
 * https://127.0.0.1:<port>/<path>). free() them.
 */
char *dt_dockerd_curl(const dt_dockerd *d);
char *dt_dockerd_curl_tls(const dt_dockerd *d);

/*
 * Stop (owner): kill the containers still running (dockerd would give each
 * its 10 s stop timeout), SIGTERM, bounded wait, then SIGKILL of dockerd and of every
 * process left that names the fixture's directory (containerd, shims);
 * unmount whatever is still mounted below it, remove it, free everything.
 * A suite view is only freed. NULL is fine.
 */
void dt_dockerd_free(dt_dockerd *d);

/* Suite sharing (see the example above): start once in the runner process,
 * publish the state through the environment the test workers inherit. */
void dt_dockerd_suite_start(void);
dt_dockerd *dt_dockerd_suite(char *why, size_t why_len);
void dt_dockerd_suite_stop(void);

#endif /* DEVSYS_DOCKERD_FIXTURE_H */
