/*
 * libgit2 glue: global init, credentials, host-key checks, progress and the
 * translation of libgit2 errors into devsys errors.
 */
#include "git_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int devsys__git_global_init(void);
void devsys__git_global_shutdown(void);

int devsys__git_global_init(void)
{
	static const int levels[] = { GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG,
	                              GIT_CONFIG_LEVEL_GLOBAL };
	if (git_libgit2_init() < 0)
		return devsys__error_set(DEVSYS_ERROR, "libgit2 failed to initialise: %s",
		                         git_error_last() ? git_error_last()->message : "unknown error");
	/* No user, XDG, system or ProgramData git configuration: a task's
	 * behaviour must not depend on ~/.gitconfig. */
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "") < 0)
			return devsys__error_set(DEVSYS_ERROR, "libgit2: cannot clear the config search path");
	/* Objects are hashed once, when the indexer receives them; re-hashing
	 * every object on each read (libgit2's default) made a checkout ~2x
	 * slower than git's, which does not re-hash either. */
	if (git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0) < 0)
		return devsys__error_set(DEVSYS_ERROR, "libgit2: cannot set hash verification");
	return 0;
}

void devsys__git_global_shutdown(void)
{
	git_libgit2_shutdown();
}

/* ---- TLS CA locations (process-wide in libgit2) ---- */

static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;
static char *ca_file_set, *ca_dir_set;

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int devsys__git_set_ca(const devsys_repo_options *opts)
{
	int rc = 0;
	if (!opts->ssl_ca_file && !opts->ssl_ca_dir)
		return 0;
	pthread_mutex_lock(&ca_lock);
	if (!same(ca_file_set, opts->ssl_ca_file) || !same(ca_dir_set, opts->ssl_ca_dir)) {
		if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, opts->ssl_ca_file, opts->ssl_ca_dir) < 0) {
			rc = devsys__error_set(DEVSYS_EINVAL, "cannot load the CA locations (file '%s', dir '%s'): %s",
			                       opts->ssl_ca_file ? opts->ssl_ca_file : "-",
			                       opts->ssl_ca_dir ? opts->ssl_ca_dir : "-",
			                       git_error_last() ? git_error_last()->message : "unknown error");
		} else {
			free(ca_file_set);
			free(ca_dir_set);
			ca_file_set = opts->ssl_ca_file ? strdup(opts->ssl_ca_file) : NULL;
			ca_dir_set = opts->ssl_ca_dir ? strdup(opts->ssl_ca_dir) : NULL;
		}
	}
	pthread_mutex_unlock(&ca_lock);
	return rc;
}

/* ---- errors ---- */

int devsys__git_error(devsys__git_op *op, int gitrc, const char *fmt, ...)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown libgit2 error";
	int klass = e ? e->klass : 0;
	int code = DEVSYS_ERROR;
	char what[512];
	va_list ap;

	if (op && op->error) {
		int c = op->error;
		op->error = 0;
		return c; /* the callback already set the message */
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	if (strstr(msg, "No space left"))
		code = DEVSYS_ENOSPC;
	else if (strstr(msg, "Permission denied") || strstr(msg, "Read-only file system"))
		code = DEVSYS_EACCESS;
	else if (gitrc == GIT_EAUTH || strstr(msg, "status code: 401") || strstr(msg, "status code: 403") ||
	         strstr(msg, "authentication"))
		code = DEVSYS_EAUTH;
	else if (gitrc == GIT_ECERTIFICATE || strstr(msg, "certificate"))
		code = DEVSYS_EHOSTKEY;
	else if (gitrc == GIT_ENOTFOUND || strstr(msg, "status code: 404") || strstr(msg, "failed to resolve path") || strstr(msg, "not found") ||
	         strstr(msg, "does not appear to be a git repository") || strstr(msg, "could not find repository"))
		code = DEVSYS_ENOTFOUND;
	else if (gitrc == GIT_EUSER)
		code = DEVSYS_EUSER;
	else if (strstr(msg, "failed to connect") || strstr(msg, "Connection refused") ||
	         strstr(msg, "failed to resolve address") || strstr(msg, "timed out") || strstr(msg, "unreachable") ||
	         klass == GIT_ERROR_NET || klass == GIT_ERROR_HTTP || klass == GIT_ERROR_SSL ||
	         klass == GIT_ERROR_SSH)
		code = DEVSYS_ENETWORK;
	else if (klass == GIT_ERROR_OS)
		code = DEVSYS_EIO;
	else if (gitrc == GIT_ENONFASTFORWARD || gitrc == GIT_EUNMERGED)
		code = DEVSYS_ECONFLICT;
	return devsys__error_set(code, "%s: %s", what, msg);
}

/* ---- credentials ---- */

int devsys_repo_default_credentials(devsys_repo_credential *out, const char *url, const char *username_from_url,
                                    unsigned int allowed, unsigned int attempt, void *payload)
{
	const char *token;

	if (!out || attempt > 1)
		return 1; /* refused once: do not loop, let the chain end in EAUTH */
	memset(out, 0, sizeof(*out));
	/* The documented fallback for a setup without a secrets provider: a chain
	 * built from a configured forge uses devsys_repo_key_credentials instead,
	 * so the token then comes through the secrets module only. */
	if ((allowed & DEVSYS_REPO_CRED_USERPASS) && (token = getenv("GITHUB_TOKEN")) != NULL && *token) {
		out->type = DEVSYS_REPO_CRED_USERPASS;
		out->username = "x-access-token";
		out->secret = token;
		return 0;
	}
	return devsys_repo_key_credentials(out, url, username_from_url, allowed, attempt, payload);
}

int devsys_repo_key_credentials(devsys_repo_credential *out, const char *url, const char *username_from_url,
                                unsigned int allowed, unsigned int attempt, void *payload)
{
	const devsys_repo_options *opts = payload;

	(void)url;
	if (!out || attempt > 1)
		return 1;
	memset(out, 0, sizeof(*out));
	if ((allowed & DEVSYS_REPO_CRED_SSH_KEY) && opts && opts->ssh_private_key) {
		out->type = DEVSYS_REPO_CRED_SSH_KEY;
		out->username = username_from_url;
		out->ssh_public_key = opts->ssh_public_key;
		out->ssh_private_key = opts->ssh_private_key;
		out->ssh_passphrase = opts->ssh_passphrase;
		return 0;
	}
	if ((allowed & DEVSYS_REPO_CRED_SSH_AGENT) && getenv("SSH_AUTH_SOCK")) {
		out->type = DEVSYS_REPO_CRED_SSH_AGENT;
		out->username = username_from_url;
		return 0;
	}
	return 1;
}

static const char *ssh_user(devsys__git_op *op, const char *from_url)
{
	if (from_url && *from_url)
		return from_url;
	return op->opts->ssh_user ? op->opts->ssh_user : "git";
}

static int credentials_cb(git_credential **out, const char *url, const char *username_from_url,
                          unsigned int allowed_types, void *payload)
{
	devsys__git_op *op = payload;
	unsigned int allowed = 0;

	(void)url; /* op->url_shown is what providers see */
	if (allowed_types & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, ssh_user(op, username_from_url));
	if (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT)
		allowed |= DEVSYS_REPO_CRED_USERPASS;
	if (allowed_types & GIT_CREDENTIAL_SSH_KEY)
		allowed |= DEVSYS_REPO_CRED_SSH_KEY | DEVSYS_REPO_CRED_SSH_AGENT;
	op->attempts++;
	for (size_t i = 0; i < op->nchain; i++) {
		devsys_repo_credential c;
		void *p = op->chain[i].payload;
		int rc;
		memset(&c, 0, sizeof(c));
		if ((op->chain[i].cb == devsys_repo_default_credentials || op->chain[i].cb == devsys_repo_key_credentials) &&
		    !p)
			p = (void *)op->opts;
		rc = op->chain[i].cb(&c, op->url_shown, username_from_url, allowed, op->attempts, p);
		if (rc == 1)
			continue;
		if (rc < 0) {
			op->error = devsys__error_set(rc, "credential provider %zu failed for %s (%s)", i + 1,
			                              op->url_shown, devsys_strerror(rc));
			return GIT_EUSER;
		}
		if (rc != 0 || !(c.type & allowed)) {
			op->error = devsys__error_set(DEVSYS_EAUTH,
			                              "credential provider %zu gave a credential of a kind %s does "
			                              "not accept",
			                              i + 1, op->url_shown);
			return GIT_EUSER;
		}
		if (c.type == DEVSYS_REPO_CRED_USERPASS && devsys__git_plain_http_remote(op->opts->url) == 2) {
			op->error = devsys__error_set(DEVSYS_EAUTH,
			                              "refusing to send a token in clear text to %s; use https://",
			                              op->url_shown);
			return GIT_EUSER;
		}
		switch (c.type) {
		case DEVSYS_REPO_CRED_USERPASS:
			rc = git_credential_userpass_plaintext_new(out, c.username ? c.username : "x-access-token",
			                                           c.secret ? c.secret : "");
			break;
		case DEVSYS_REPO_CRED_SSH_KEY:
			rc = git_credential_ssh_key_new(out, ssh_user(op, c.username ? c.username : username_from_url),
			                                c.ssh_public_key, c.ssh_private_key ? c.ssh_private_key : "",
			                                c.ssh_passphrase);
			break;
		case DEVSYS_REPO_CRED_SSH_AGENT:
			rc = git_credential_ssh_key_from_agent(
				out, ssh_user(op, c.username ? c.username : username_from_url));
			break;
		default:
			rc = -1;
		}
		if (rc < 0) {
			op->error = devsys__error_set(DEVSYS_EAUTH, "cannot build the credential for %s",
			                              op->url_shown);
			return GIT_EUSER;
		}
		devsys__log(op->ws, DEVSYS_LOG_DEBUG, "git", "credential provider %zu answered for %s (attempt %u)",
		            i + 1, op->url_shown, op->attempts);
		return 0;
	}
	if (op->attempts > 1)
		op->error = devsys__error_set(DEVSYS_EAUTH,
		                              "authentication failed for %s: the server refused the credentials "
		                              "(check the token or key and its permissions)",
		                              op->url_shown);
	else
		op->error = devsys__error_set(DEVSYS_EAUTH,
		                              "%s asks for credentials and no provider has any (set GITHUB_TOKEN "
		                              "for https, ssh_private_key or ssh-agent for ssh)",
		                              op->url_shown);
	return GIT_EUSER;
}

/* ---- host keys ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(char *out, const unsigned char *in, size_t len, int pad)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0u) |
		             (i + 2 < len ? in[i + 2] : 0u);
		out[o++] = b64chars[(v >> 18) & 63];
		out[o++] = b64chars[(v >> 12) & 63];
		if (i + 1 < len || pad)
			out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		if (i + 2 < len || pad)
			out[o++] = i + 2 < len ? b64chars[v & 63] : '=';
	}
	out[o] = '\0';
}

static int b64_decode(unsigned char *out, size_t cap, size_t *outlen, const char *in, size_t len)
{
	unsigned v = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		const char *p;
		if (in[i] == '=')
			break;
		if (!in[i] || !(p = strchr(b64chars, in[i])))
			return -1;
		v = v << 6 | (unsigned)(p - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	*outlen = o;
	return 0;
}

/* Host and port of an ssh URL (ssh://[u@]host[:port]/p or [u@]host:path). */
static void ssh_host_port(const char *url, char *host, size_t hostcap, int *port)
{
	const char *h = url, *end;
	size_t n;
	*port = 22;
	if (strncmp(url, "ssh://", 6) == 0) {
		h = url + 6;
		end = h + strcspn(h, "/");
		const char *at = memchr(h, '@', (size_t)(end - h));
		if (at)
			h = at + 1;
		if (*h == '[') {
			const char *rb = memchr(h, ']', (size_t)(end - h));
			if (rb) {
				n = (size_t)(rb - h - 1);
				snprintf(host, hostcap, "%.*s", (int)n, h + 1);
				if (rb[1] == ':')
					*port = atoi(rb + 2);
				return;
			}
		}
		const char *colon = memchr(h, ':', (size_t)(end - h));
		if (colon) {
			*port = atoi(colon + 1);
			end = colon;
		}
	} else {
		end = strchr(url, ':');
		const char *at = memchr(url, '@', end ? (size_t)(end - url) : 0);
		if (at)
			h = at + 1;
		if (!end)
			end = h + strlen(h);
	}
	n = (size_t)(end - h);
	snprintf(host, hostcap, "%.*s", (int)n, h);
}

static int host_matches(const char *field, size_t flen, const char *host, int port)
{
	char want[300];
	if (port == 22)
		snprintf(want, sizeof(want), "%s", host);
	else
		snprintf(want, sizeof(want), "[%s]:%d", host, port);
	for (const char *p = field; p < field + flen;) {
		const char *comma = memchr(p, ',', (size_t)(field + flen - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(field + flen - p);
		if (n == strlen(want) && strncmp(p, want, n) == 0)
			return 1;
		p += n + 1;
	}
	return 0;
}

/* 1 match, 0 host unknown, -1 host known with other keys (or revoked). */
int devsys__git_known_hosts_match(const char *text, size_t len, const char *host, int port,
                                  const unsigned char *key, size_t keylen, int *revoked)
{
	int result = 0;
	*revoked = 0;
	for (const char *line = text; line < text + len;) {
		const char *eol = memchr(line, '\n', (size_t)(text + len - line));
		const char *end = eol ? eol : text + len;
		const char *f[4] = { 0 };
		size_t fl[4] = { 0 };
		int nf = 0, is_revoked = 0, k = 0;
		for (const char *p = line; p < end && nf < 4;) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
				p++;
			if (p >= end || *p == '#')
				break;
			f[nf] = p;
			while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
				p++;
			fl[nf] = (size_t)(p - f[nf]);
			nf++;
		}
		if (nf >= 1 && f[0][0] == '@') {
			is_revoked = fl[0] == 8 && strncmp(f[0], "@revoked", 8) == 0;
			if (!is_revoked) /* @cert-authority: not supported */
				nf = 0;
			k = 1;
		}
		if (nf >= k + 3 && host_matches(f[k], fl[k], host, port)) {
			unsigned char blob[8192];
			size_t blen = 0;
			if (b64_decode(blob, sizeof(blob), &blen, f[k + 2], fl[k + 2]) == 0) {
				int eq = blen == keylen && memcmp(blob, key, keylen) == 0;
				if (is_revoked && eq)
					*revoked = 1;
				else if (!is_revoked)
					result = eq ? 1 : (result == 1 ? 1 : -1);
			}
		}
		line = eol ? eol + 1 : text + len;
	}
	return *revoked ? -1 : result;
}

static int known_hosts_check(const char *path, const char *host, int port, const unsigned char *key, size_t keylen,
                             int *revoked)
{
	devsys_buf file = DEVSYS_BUF_INIT;
	int result;
	*revoked = 0;
	if (devsys__read_file(&file, path, 4u << 20) < 0)
		return -2;
	result = devsys__git_known_hosts_match(file.ptr ? file.ptr : "", file.size, host, port, key, keylen, revoked);
	devsys_buf_dispose(&file);
	return result;
}

static int certificate_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	devsys__git_op *op = payload;
	git_cert_hostkey *hk;
	char fp[64], hostname[256];
	int port, revoked, r;

	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return valid ? 0 : GIT_PASSTHROUGH; /* TLS: libgit2's (mbedTLS) verdict stands */
	hk = (git_cert_hostkey *)cert;
	ssh_host_port(op->opts->url, hostname, sizeof(hostname), &port);
	if (!hostname[0])
		snprintf(hostname, sizeof(hostname), "%s", host ? host : "");
	if (hk->type & GIT_CERT_SSH_SHA256) {
		memcpy(fp, "SHA256:", 7);
		b64_encode(fp + 7, hk->hash_sha256, 32, 0);
	} else {
		snprintf(fp, sizeof(fp), "(no SHA256 fingerprint)");
	}
	if (!op->opts->ssh_known_hosts) {
		op->error = devsys__error_set(DEVSYS_EHOSTKEY,
		                              "ssh host %s:%d (key %s) cannot be verified: no known_hosts file is "
		                              "configured (set ssh_known_hosts); devsys never trusts on first use",
		                              hostname, port, fp);
		return GIT_EUSER;
	}
	if (!(hk->type & GIT_CERT_SSH_RAW)) {
		op->error = devsys__error_set(DEVSYS_EHOSTKEY, "ssh host %s:%d: libgit2 did not provide the raw host key",
		                              hostname, port);
		return GIT_EUSER;
	}
	r = known_hosts_check(op->opts->ssh_known_hosts, hostname, port, (const unsigned char *)hk->hostkey,
	                      hk->hostkey_len, &revoked);
	if (r == 1)
		return 0;
	if (r == -2)
		op->error = devsys__error_set(DEVSYS_EHOSTKEY, "ssh host %s:%d (key %s): cannot read known_hosts '%s'",
		                              hostname, port, fp, op->opts->ssh_known_hosts);
	else if (r == 0)
		op->error = devsys__error_set(DEVSYS_EHOSTKEY,
		                              "ssh host %s:%d is unknown: key %s is not in '%s'; add the host's key "
		                              "if you trust it",
		                              hostname, port, fp, op->opts->ssh_known_hosts);
	else
		op->error = devsys__error_set(DEVSYS_EHOSTKEY,
		                              "ssh host key MISMATCH for %s:%d: the server offered %s, which %s '%s'; "
		                              "refusing to connect",
		                              hostname, port, fp, revoked ? "is revoked in" : "differs from the key in",
		                              op->opts->ssh_known_hosts);
	return GIT_EUSER;
}

/* ---- progress ---- */

static int report(devsys__git_op *op, int stage, uint64_t total, uint64_t done, uint64_t bytes)
{
	devsys_repo_progress p;
	if (!op->opts->progress)
		return 0;
	p.stage = stage;
	p.total_objects = total;
	p.done_objects = done;
	p.bytes = bytes;
	if (op->opts->progress(&p, op->opts->progress_payload) != 0) {
		op->error = devsys__error_set(DEVSYS_EUSER, "the progress callback cancelled the operation on %s",
		                              op->url_shown);
		return GIT_EUSER;
	}
	return 0;
}

static int transfer_cb(const git_indexer_progress *stats, void *payload)
{
	return report(payload, DEVSYS_REPO_STAGE_FETCH, stats->total_objects, stats->indexed_objects,
	              stats->received_bytes);
}

static int push_transfer_cb(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
	return report(payload, DEVSYS_REPO_STAGE_PUSH, total, current, bytes);
}

static int push_update_cb(const char *refname, const char *status, void *payload)
{
	devsys__git_op *op = payload;
	if (status) {
		op->push_refused = "refused";
		snprintf(op->push_refused_msg, sizeof(op->push_refused_msg), "%s: %s", refname, status);
	}
	return 0;
}

void devsys__git_callbacks(git_remote_callbacks *cb, devsys__git_op *op)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = credentials_cb;
	cb->certificate_check = certificate_cb;
	cb->transfer_progress = transfer_cb;
	cb->push_transfer_progress = push_transfer_cb;
	cb->push_update_reference = push_update_cb;
	cb->payload = op;
}
