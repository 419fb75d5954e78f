/*
 * The "remote-ssh" runner (libssh2): one SSH session per runner, a channel
 * per exec, SFTP for upload/download.
 *
 * Security: key-only authentication; the host key is checked against the
 * runner's own known_hosts and an unknown or changed key refuses the
 * connection (trust on first use only when configured). Remote command
 * lines are built from argv with POSIX single quotes only, so argv and env
 * values are never interpreted by the remote shell.
 *
 * Process groups: OpenSSH's sshd starts each exec channel's command in a
 * new session (setsid), so the login shell that interprets our command line
 * leads a fresh process group. The command line records "$$" (that group's
 * id) in a pid file and then execs the command in place (env -i ... argv),
 * so the command is that group's leader. Timeout and cancel run
 * `kill -TERM -- -PGID`, then `kill -KILL -- -PGID` after the grace period,
 * on a second channel; no PTY is involved.
 *
 * The session runs non-blocking: every libssh2 call that would block waits
 * in poll() on the socket together with the cancel pipe and the deadlines.
 * SFTP transfers switch to blocking mode with a session timeout.
 */
#include "../runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Command lines longer than this go through an uploaded script: the login
 * shell receives its command as one argv string, and Linux caps a single
 * string at 128 KiB (MAX_ARG_STRLEN). */
#define CMDLINE_INLINE_MAX (32u * 1024u)
#define SFTP_TIMEOUT_MS 120000
#define XFER_CHUNK (256u * 1024u)

struct task_dir {
	char *task_id;
	char *path;
};

struct ssh_rt {
	const devsys_runner_options *o; /* the library's copy, valid until close */
	char *user, *desc;              /* desc: "user@host:port" for messages */
	unsigned int port;
	int sock;
	LIBSSH2_SESSION *sess;
	LIBSSH2_SFTP *sftp;
	int dead; /* the connection broke: reconnect before the next operation */
	char *session_dir;
	char *pidfile;
	struct task_dir *tasks;
	size_t ntasks;
	int cancel_pipe[2];
	int cancel_flag; /* atomic */
	unsigned long exec_count;
};

/* ---- small helpers ---- */

static const char *ssh_errmsg(LIBSSH2_SESSION *s)
{
	char *msg = NULL;
	int len = 0;
	if (!s)
		return "no session";
	libssh2_session_last_error(s, &msg, &len, 0);
	return msg && *msg ? msg : "unknown libssh2 error";
}

static void b64(const unsigned char *in, size_t n, char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tbl[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = tbl[v & 63];
	}
	out[o] = '\0'; /* OpenSSH style: no '=' padding */
}

static const char *keytype_name(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: return "ssh-rsa";
	case LIBSSH2_HOSTKEY_TYPE_DSS: return "ssh-dss";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return "ecdsa-sha2-nistp256";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return "ecdsa-sha2-nistp384";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ecdsa-sha2-nistp521";
	case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ssh-ed25519";
	default: return "unknown";
	}
}

static int keytype_mask(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
	default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
	}
}

/* Wait until the socket is ready in the directions libssh2 asked for, the
 * cancel pipe fires, or @p deadline passes. 1 = go on, 0 = deadline. */
static int wait_io(struct ssh_rt *rt, uint64_t deadline, int extra_ms_cap)
{
	struct pollfd p[2];
	int dir = libssh2_session_block_directions(rt->sess), ms;
	p[0].fd = rt->sock;
	p[0].events = (short)(((dir & LIBSSH2_SESSION_BLOCK_INBOUND) ? POLLIN : 0) |
	                      ((dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) ? POLLOUT : 0));
	if (!p[0].events)
		p[0].events = POLLIN;
	p[1].fd = rt->cancel_pipe[0];
	p[1].events = POLLIN;
	p[0].revents = p[1].revents = 0;
	ms = deadline == UINT64_MAX ? -1 : devsys__ms_until(deadline);
	if (deadline != UINT64_MAX && ms == 0)
		return 0;
	if (extra_ms_cap >= 0 && (ms < 0 || ms > extra_ms_cap))
		ms = extra_ms_cap;
	if (poll(p, 2, ms) < 0 && errno != EINTR)
		return 1;
	if (p[1].revents & POLLIN) {
		/* the flag is the source of truth; empty the pipe so helpers do not spin */
		char b[64];
		while (read(rt->cancel_pipe[0], b, sizeof(b)) > 0)
			;
	}
	return 1;
}

static void drain_cancel_pipe(struct ssh_rt *rt)
{
	char b[64];
	while (read(rt->cancel_pipe[0], b, sizeof(b)) > 0)
		;
}

/* ---- connection ---- */

static int tcp_connect(struct ssh_rt *rt, uint64_t deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int rc, fd = -1, last_err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", rt->port);
	if ((rc = getaddrinfo(rt->o->host, port, &hints, &res)) != 0)
		return devsys__error_set(DEVSYS_ENETWORK, "remote-ssh: cannot resolve host '%s': %s", rt->o->host,
		                         gai_strerror(rc));
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			last_err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
			last_err = errno;
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p = { fd, POLLOUT, 0 };
		int err = 0;
		socklen_t el = sizeof(err);
		if (poll(&p, 1, devsys__ms_until(deadline)) <= 0) {
			last_err = ETIMEDOUT;
			close(fd);
			fd = -1;
			continue;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			last_err = err;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return devsys__error_errno(last_err == ETIMEDOUT ? DEVSYS_ETIMEOUT : DEVSYS_ENETWORK, last_err,
		                           "remote-ssh: cannot connect to %s", rt->desc);
	{
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	}
	rt->sock = fd;
	return 0;
}

static int check_host_key(struct ssh_rt *rt)
{
	size_t len = 0;
	int type = 0, rc, check;
	const char *key = libssh2_session_hostkey(rt->sess, &len, &type);
	const unsigned char *hash = (const unsigned char *)libssh2_hostkey_hash(rt->sess, LIBSSH2_HOSTKEY_HASH_SHA256);
	char fp[64] = "SHA256:";
	LIBSSH2_KNOWNHOSTS *kh;
	struct libssh2_knownhost *found = NULL;
	bool tofu = (rt->o->flags & DEVSYS_RUNNER_TRUST_ON_FIRST_USE) != 0;

	if (!key || !hash)
		return devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: %s sent no host key", rt->desc);
	b64(hash, 32, fp + 7);
	if (!(kh = libssh2_knownhost_init(rt->sess)))
		return devsys__error_oom();
	if (access(rt->o->known_hosts, F_OK) == 0) {
		if (libssh2_knownhost_readfile(kh, rt->o->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
			libssh2_knownhost_free(kh);
			return devsys__error_set(DEVSYS_EHOSTKEY, "remote-ssh: cannot read known_hosts '%s' (%s)",
			                         rt->o->known_hosts, ssh_errmsg(rt->sess));
		}
	} else if (!tofu) {
		libssh2_knownhost_free(kh);
		return devsys__error_set(DEVSYS_EHOSTKEY, "remote-ssh: known_hosts '%s' does not exist, so the host key of "
		                                          "%s (%s %s) cannot be verified; add the key to that file",
		                         rt->o->known_hosts, rt->desc, keytype_name(type), fp);
	}
	check = libssh2_knownhost_checkp(kh, rt->o->host, (int)rt->port, key, len,
	                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | keytype_mask(type),
	                                 &found);
	switch (check) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		rc = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		rc = devsys__error_set(DEVSYS_EHOSTKEY,
		                       "remote-ssh: the host key of %s (%s %s) does NOT match the key recorded in '%s'; "
		                       "the host was reinstalled or someone is intercepting the connection; refusing to "
		                       "connect (fix the known_hosts entry only after verifying the new key)",
		                       rt->desc, keytype_name(type), fp, rt->o->known_hosts);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (!tofu) {
			rc = devsys__error_set(DEVSYS_EHOSTKEY,
			                       "remote-ssh: the host key of %s (%s %s) is unknown: it is not in '%s'; verify "
			                       "the fingerprint and add it (trust_on_first_use is off)",
			                       rt->desc, keytype_name(type), fp, rt->o->known_hosts);
			break;
		} else {
			char *hostfield = rt->port == 22 ? devsys__strdup(rt->o->host)
			                                 : devsys__asprintf("[%s]:%u", rt->o->host, rt->port);
			rc = hostfield ? 0 : devsys__error_oom();
			if (rc == 0 &&
			    (libssh2_knownhost_addc(kh, hostfield, NULL, key, len, NULL, 0,
			                            LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | keytype_mask(type),
			                            NULL) != 0 ||
			     libssh2_knownhost_writefile(kh, rt->o->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0))
				rc = devsys__error_set(DEVSYS_EHOSTKEY, "remote-ssh: cannot record the host key of %s in '%s' (%s)",
				                       rt->desc, rt->o->known_hosts, ssh_errmsg(rt->sess));
			devsys__free(hostfield);
			if (rc == 0)
				devsys__log(rt->o->ws, DEVSYS_LOG_WARN, "runner",
				            "remote-ssh: trusted the host key of %s on first use (%s %s), recorded in '%s'",
				            rt->desc, keytype_name(type), fp, rt->o->known_hosts);
		}
		break;
	default:
		rc = devsys__error_set(DEVSYS_EHOSTKEY, "remote-ssh: checking the host key of %s failed (%s)", rt->desc,
		                       ssh_errmsg(rt->sess));
	}
	libssh2_knownhost_free(kh);
	return rc;
}

static int authenticate(struct ssh_rt *rt)
{
	const char *list;
	int rc;

	list = libssh2_userauth_list(rt->sess, rt->user, (unsigned int)strlen(rt->user));
	if (!list) {
		if (libssh2_userauth_authenticated(rt->sess))
			return 0;
		return devsys__error_set(DEVSYS_EAUTH, "remote-ssh: %s did not answer the authentication query (%s)",
		                         rt->desc, ssh_errmsg(rt->sess));
	}
	if (!strstr(list, "publickey"))
		return devsys__error_set(DEVSYS_EAUTH, "remote-ssh: %s does not accept public keys (it offers: %s); "
		                                       "libdevsys uses key authentication only",
		                         rt->desc, list);
	if (rt->o->flags & DEVSYS_RUNNER_USE_AGENT) {
		LIBSSH2_AGENT *agent = libssh2_agent_init(rt->sess);
		struct libssh2_agent_publickey *id = NULL, *prev = NULL;
		rc = DEVSYS_EAUTH;
		if (!agent || libssh2_agent_connect(agent) != 0 || libssh2_agent_list_identities(agent) != 0) {
			if (agent)
				libssh2_agent_free(agent);
			return devsys__error_set(DEVSYS_EAUTH, "remote-ssh: cannot use ssh-agent for %s (is SSH_AUTH_SOCK "
			                                       "set and the agent running?)",
			                         rt->desc);
		}
		while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
			if (libssh2_agent_userauth(agent, rt->user, id) == 0) {
				rc = 0;
				break;
			}
			prev = id;
		}
		libssh2_agent_disconnect(agent);
		libssh2_agent_free(agent);
		if (rc != 0)
			return devsys__error_set(DEVSYS_EAUTH, "remote-ssh: no ssh-agent key was accepted by %s; add the "
			                                       "agent's public key to the user's authorized_keys",
			                         rt->desc);
		return 0;
	}
	if (!rt->o->key_file)
		return devsys__error_set(DEVSYS_EINVAL, "remote-ssh: no key file configured for %s (set 'key', or use "
		                                        "the agent)",
		                         rt->desc);
	if (access(rt->o->key_file, R_OK) != 0)
		return devsys__error_errno(DEVSYS_EAUTH, errno, "remote-ssh: cannot read the key file '%s'",
		                           rt->o->key_file);
	rc = libssh2_userauth_publickey_fromfile_ex(rt->sess, rt->user, (unsigned int)strlen(rt->user), NULL,
	                                            rt->o->key_file, rt->o->key_passphrase);
	if (rc != 0)
		return devsys__error_set(DEVSYS_EAUTH,
		                         "remote-ssh: %s refused the key '%s' (%s); check that its public key is in the "
		                         "user's authorized_keys on the host; note that RSA keys do not work with "
		                         "libssh2 1.10 against OpenSSH 8.8+ (no rsa-sha2): use ed25519 or ECDSA",
		                         rt->desc, rt->o->key_file, ssh_errmsg(rt->sess));
	return 0;
}

static void disconnect(struct ssh_rt *rt)
{
	if (rt->sftp) {
		if (!rt->dead)
			libssh2_sftp_shutdown(rt->sftp);
		rt->sftp = NULL;
	}
	if (rt->sess) {
		if (!rt->dead) {
			libssh2_session_set_blocking(rt->sess, 1);
			libssh2_session_set_timeout(rt->sess, 2000);
			libssh2_session_disconnect(rt->sess, "devsys runner closed");
		}
		libssh2_session_free(rt->sess);
		rt->sess = NULL;
	}
	if (rt->sock >= 0)
		close(rt->sock);
	rt->sock = -1;
}

/* One connection attempt: TCP, handshake, host key, auth. */
static int connect_once(struct ssh_rt *rt, uint64_t deadline)
{
	int rc;
	if ((rc = tcp_connect(rt, deadline)) < 0)
		return rc;
	if (!(rt->sess = libssh2_session_init())) {
		disconnect(rt);
		return devsys__error_oom();
	}
	libssh2_session_set_blocking(rt->sess, 1);
	libssh2_session_set_timeout(rt->sess, (long)(devsys__ms_until(deadline) + 1));
	{
		int fl = fcntl(rt->sock, F_GETFL);
		fcntl(rt->sock, F_SETFL, fl & ~O_NONBLOCK);
	}
	if (libssh2_session_handshake(rt->sess, rt->sock) != 0) {
		rc = devsys__error_set(DEVSYS_ENETWORK, "remote-ssh: SSH handshake with %s failed (%s)", rt->desc,
		                       ssh_errmsg(rt->sess));
		rt->dead = 1;
		disconnect(rt);
		rt->dead = 0;
		return rc;
	}
	if ((rc = check_host_key(rt)) < 0 || (rc = authenticate(rt)) < 0) {
		disconnect(rt);
		return rc;
	}
	libssh2_keepalive_config(rt->sess, 1, rt->o->keepalive_s ? rt->o->keepalive_s : 15);
	libssh2_session_set_timeout(rt->sess, 0);
	libssh2_session_set_blocking(rt->sess, 0);
	rt->dead = 0;
	return 0;
}

/*
 * Connect; while the server is merely unreachable (refused, reset), retry
 * until the connect timeout. Host key and auth failures are final.
 */
static int ensure_connected(struct ssh_rt *rt)
{
	uint64_t deadline = devsys__now_ns() + (uint64_t)(rt->o->connect_timeout_ms ? rt->o->connect_timeout_ms : 10000) *
	                                               1000000u;
	int rc;
	if (rt->sess && !rt->dead)
		return 0;
	if (rt->sess)
		disconnect(rt);
	for (;;) {
		rc = connect_once(rt, deadline);
		if (rc == 0 || (rc != DEVSYS_ENETWORK && rc != DEVSYS_ETIMEOUT) || devsys__ms_until(deadline) == 0)
			return rc;
		/* the host may be restarting: try again shortly, bounded by the deadline */
		struct pollfd p = { rt->cancel_pipe[0], POLLIN, 0 };
		int ms = devsys__ms_until(deadline);
		poll(&p, 1, ms < 200 ? ms : 200);
		if (__atomic_load_n(&rt->cancel_flag, __ATOMIC_ACQUIRE))
			return devsys__error_set(DEVSYS_ECANCELED, "remote-ssh: canceled while reconnecting to %s", rt->desc);
	}
}

/* ---- simple commands (setup, kill, cleanup) ---- */

static int mark_dead(struct ssh_rt *rt, const char *what)
{
	rt->dead = 1;
	return devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: the connection to %s broke during %s (%s)", rt->desc, what,
	                         ssh_errmsg(rt->sess));
}

/* Run @p cmdline and wait for it (output discarded); *exit_status gets its status. */
static int run_simple(struct ssh_rt *rt, const char *cmdline, int *exit_status, uint64_t deadline)
{
	LIBSSH2_CHANNEL *ch = NULL;
	char buf[4096];
	int rc;

	while (!(ch = libssh2_channel_open_session(rt->sess))) {
		if (libssh2_session_last_errno(rt->sess) != LIBSSH2_ERROR_EAGAIN)
			return mark_dead(rt, "opening a channel");
		if (!wait_io(rt, deadline, -1))
			return devsys__error_set(DEVSYS_ETIMEOUT, "remote-ssh: %s did not open a channel in time", rt->desc);
	}
	while ((rc = libssh2_channel_exec(ch, cmdline)) == LIBSSH2_ERROR_EAGAIN)
		if (!wait_io(rt, deadline, -1))
			break;
	if (rc != 0) {
		libssh2_channel_free(ch);
		return rc == LIBSSH2_ERROR_EAGAIN ? devsys__error_set(DEVSYS_ETIMEOUT, "remote-ssh: %s: timeout", rt->desc)
		                                  : mark_dead(rt, "starting a command");
	}
	for (;;) {
		ssize_t n = libssh2_channel_read(ch, buf, sizeof(buf));
		ssize_t m = libssh2_channel_read_stderr(ch, buf, sizeof(buf));
		if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			libssh2_channel_free(ch);
			return mark_dead(rt, "a command");
		}
		if (libssh2_channel_eof(ch) && n <= 0 && m <= 0)
			break;
		if (n <= 0 && m <= 0 && !wait_io(rt, deadline, -1)) {
			libssh2_channel_free(ch);
			return devsys__error_set(DEVSYS_ETIMEOUT, "remote-ssh: a helper command on %s did not finish in time",
			                         rt->desc);
		}
	}
	while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
		wait_io(rt, deadline, 100);
	while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (!wait_io(rt, deadline, -1))
			break;
	if (exit_status)
		*exit_status = libssh2_channel_get_exit_status(ch);
	libssh2_channel_free(ch);
	return 0;
}

static uint64_t soon(unsigned int ms)
{
	return devsys__now_ns() + (uint64_t)ms * 1000000u;
}

/* ---- open / close ---- */

static int ssh_open(void **self, const devsys_runner_options *o, void *payload)
{
	struct ssh_rt *rt;
	unsigned char rnd[8];
	char hex[17];
	int rc, st = -1;
	devsys_buf cmd = DEVSYS_BUF_INIT;
	(void)payload;

	if (!o->host || !*o->host)
		return devsys__error_set(DEVSYS_EINVAL, "remote-ssh: no host configured");
	if (!o->known_hosts || !*o->known_hosts)
		return devsys__error_set(DEVSYS_EINVAL, "remote-ssh: no known_hosts file configured for '%s'; host keys "
		                                        "are always checked",
		                         o->host);
	if (!(rt = devsys__calloc(1, sizeof(*rt))))
		return devsys__error_oom();
	rt->o = o;
	rt->sock = -1;
	rt->port = o->port ? o->port : 22;
	if (o->user)
		rt->user = devsys__strdup(o->user);
	else {
		struct passwd *pw = getpwuid(getuid());
		rt->user = devsys__strdup(pw && pw->pw_name ? pw->pw_name : "root");
	}
	rt->desc = devsys__asprintf("%s@%s:%u", rt->user ? rt->user : "?", o->host, rt->port);
	if (!rt->user || !rt->desc || pipe2(rt->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		devsys__free(rt->user);
		devsys__free(rt->desc);
		devsys__free(rt);
		return devsys__error_oom();
	}
	*self = rt;
	if ((rc = ensure_connected(rt)) < 0)
		return rc; /* the core calls close on failure? no: it frees nothing; see below */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	rt->session_dir = devsys__asprintf("%s/devsys-%s", o->remote_dir ? o->remote_dir : "/tmp", hex);
	rt->pidfile = rt->session_dir ? devsys__asprintf("%s/pgid", rt->session_dir) : NULL;
	if (!rt->pidfile)
		return devsys__error_oom();
	devsys_buf_puts(&cmd, "umask 077 && mkdir -p -- ");
	devsys__sh_quote(&cmd, rt->session_dir, strlen(rt->session_dir));
	if (!cmd.ptr)
		return devsys__error_oom();
	rc = run_simple(rt, cmd.ptr, &st, soon(rt->o->connect_timeout_ms ? rt->o->connect_timeout_ms : 10000));
	devsys_buf_dispose(&cmd);
	if (rc == 0 && st != 0)
		rc = devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: cannot create the runner directory '%s' on %s (exit "
		                                       "status %d)",
		                       rt->session_dir, rt->desc, st);
	return rc;
}

static void ssh_close(void *self)
{
	struct ssh_rt *rt = self;
	if (!rt)
		return;
	if (rt->sess && !rt->dead && rt->session_dir) {
		devsys_buf cmd = DEVSYS_BUF_INIT;
		devsys_buf_puts(&cmd, "rm -rf -- ");
		devsys__sh_quote(&cmd, rt->session_dir, strlen(rt->session_dir));
		if (cmd.ptr)
			run_simple(rt, cmd.ptr, NULL, soon(5000));
		devsys_buf_dispose(&cmd);
	}
	disconnect(rt);
	for (size_t i = 0; i < rt->ntasks; i++) {
		devsys__free(rt->tasks[i].task_id);
		devsys__free(rt->tasks[i].path);
	}
	devsys__free(rt->tasks);
	close(rt->cancel_pipe[0]);
	close(rt->cancel_pipe[1]);
	devsys__free(rt->session_dir);
	devsys__free(rt->pidfile);
	devsys__free(rt->user);
	devsys__free(rt->desc);
	devsys__free(rt);
}

static int ssh_open_checked(void **self, const devsys_runner_options *o, void *payload)
{
	int rc = ssh_open(self, o, payload);
	if (rc < 0 && *self) {
		devsys_buf keep = DEVSYS_BUF_INIT;
		devsys_buf_puts(&keep, devsys_error_message(devsys_error_last()));
		ssh_close(*self);
		*self = NULL;
		devsys__error_set(rc, "%s", keep.ptr ? keep.ptr : "remote-ssh: open failed");
		devsys_buf_dispose(&keep);
	}
	return rc;
}

static int ssh_cancel(void *self)
{
	struct ssh_rt *rt = self;
	char b = 1;
	__atomic_store_n(&rt->cancel_flag, 1, __ATOMIC_RELEASE);
	if (write(rt->cancel_pipe[1], &b, 1) < 0) {
		/* full: a wake-up is pending anyway */
	}
	return 0;
}

/* ---- tasks ---- */

static struct task_dir *find_task(struct ssh_rt *rt, devsys_task *task)
{
	for (size_t i = 0; task && i < rt->ntasks; i++)
		if (strcmp(rt->tasks[i].task_id, devsys_task_id(task)) == 0)
			return &rt->tasks[i];
	return NULL;
}

static const char *ssh_workdir(void *self, devsys_task *task)
{
	struct ssh_rt *rt = self;
	struct task_dir *td;
	if (!task)
		return rt->session_dir;
	td = find_task(rt, task);
	return td ? td->path : NULL;
}

static int ssh_prepare(void *self, devsys_task *task)
{
	struct ssh_rt *rt = self;
	struct task_dir *n;
	devsys_buf cmd = DEVSYS_BUF_INIT;
	char *path;
	int rc, st = -1;

	if (find_task(rt, task))
		return 0;
	if ((rc = ensure_connected(rt)) < 0)
		return rc;
	if (!(path = devsys__asprintf("%s/task-%s", rt->session_dir, devsys_task_id(task))))
		return devsys__error_oom();
	devsys_buf_puts(&cmd, "mkdir -p -- ");
	devsys__sh_quote(&cmd, path, strlen(path));
	rc = cmd.ptr ? run_simple(rt, cmd.ptr, &st, soon(30000)) : devsys__error_oom();
	devsys_buf_dispose(&cmd);
	if (rc == 0 && st != 0)
		rc = devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: cannot create '%s' on %s", path, rt->desc);
	if (rc == 0 && !(n = devsys__realloc(rt->tasks, (rt->ntasks + 1) * sizeof(*n))))
		rc = devsys__error_oom();
	if (rc < 0) {
		devsys__free(path);
		return rc;
	}
	rt->tasks = n;
	n[rt->ntasks].path = path;
	n[rt->ntasks].task_id = devsys__strdup(devsys_task_id(task));
	rt->ntasks++;
	return 0;
}

static int ssh_cleanup(void *self, devsys_task *task)
{
	struct ssh_rt *rt = self;
	struct task_dir *td = find_task(rt, task);
	devsys_buf cmd = DEVSYS_BUF_INIT;
	int rc, st = -1;
	if (!td)
		return 0;
	if ((rc = ensure_connected(rt)) < 0)
		return rc;
	devsys_buf_puts(&cmd, "rm -rf -- ");
	devsys__sh_quote(&cmd, td->path, strlen(td->path));
	rc = cmd.ptr ? run_simple(rt, cmd.ptr, &st, soon(60000)) : devsys__error_oom();
	devsys_buf_dispose(&cmd);
	if (rc == 0 && st != 0)
		rc = devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: removing '%s' on %s failed (exit status %d)", td->path,
		                       rt->desc, st);
	if (rc == 0) {
		devsys__free(td->path);
		devsys__free(td->task_id);
		*td = rt->tasks[--rt->ntasks];
	}
	return rc;
}

/* ---- SFTP ---- */

/* libssh2's convenience macros pass strlen() as unsigned int; these wrappers
 * make that conversion explicit (paths are far below 4 GiB). */
#define SLEN(p) ((unsigned int)strlen(p))
static LIBSSH2_SFTP_HANDLE *x_open(LIBSSH2_SFTP *f, const char *p, unsigned long fl, long mode)
{
	return libssh2_sftp_open_ex(f, p, SLEN(p), fl, mode, LIBSSH2_SFTP_OPENFILE);
}
static LIBSSH2_SFTP_HANDLE *x_opendir(LIBSSH2_SFTP *f, const char *p)
{
	return libssh2_sftp_open_ex(f, p, SLEN(p), 0, 0, LIBSSH2_SFTP_OPENDIR);
}
static int x_unlink(LIBSSH2_SFTP *f, const char *p)
{
	return libssh2_sftp_unlink_ex(f, p, SLEN(p));
}
static int x_symlink(LIBSSH2_SFTP *f, const char *target, const char *p)
{
	return libssh2_sftp_symlink_ex(f, target, SLEN(target), (char *)p, SLEN(p), LIBSSH2_SFTP_SYMLINK);
}
static int x_readlink(LIBSSH2_SFTP *f, const char *p, char *out, unsigned int max)
{
	return libssh2_sftp_symlink_ex(f, p, SLEN(p), out, max, LIBSSH2_SFTP_READLINK);
}
static int x_mkdir(LIBSSH2_SFTP *f, const char *p, long mode)
{
	return libssh2_sftp_mkdir_ex(f, p, SLEN(p), mode);
}
static int x_stat(LIBSSH2_SFTP *f, const char *p, LIBSSH2_SFTP_ATTRIBUTES *a, int kind)
{
	return libssh2_sftp_stat_ex(f, p, SLEN(p), kind, a);
}

static int sftp_begin(struct ssh_rt *rt)
{
	int rc;
	if ((rc = ensure_connected(rt)) < 0)
		return rc;
	libssh2_session_set_blocking(rt->sess, 1);
	libssh2_session_set_timeout(rt->sess, SFTP_TIMEOUT_MS);
	if (!rt->sftp && !(rt->sftp = libssh2_sftp_init(rt->sess))) {
		rc = devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: cannot start SFTP on %s (%s)", rt->desc,
		                       ssh_errmsg(rt->sess));
		libssh2_session_set_timeout(rt->sess, 0);
		libssh2_session_set_blocking(rt->sess, 0);
		return rc;
	}
	return 0;
}

static void sftp_end(struct ssh_rt *rt)
{
	if (rt->sess) {
		libssh2_session_set_timeout(rt->sess, 0);
		libssh2_session_set_blocking(rt->sess, 0);
	}
}

static int sftp_fail(struct ssh_rt *rt, const char *what, const char *path)
{
	int err = libssh2_session_last_errno(rt->sess);
	unsigned long fx = rt->sftp ? libssh2_sftp_last_error(rt->sftp) : 0;
	if (err != LIBSSH2_ERROR_SFTP_PROTOCOL && err != 0) {
		rt->dead = 1;
		return devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: %s '%s' on %s failed: connection error (%s)", what,
		                         path, rt->desc, ssh_errmsg(rt->sess));
	}
	return devsys__error_set(fx == LIBSSH2_FX_NO_SUCH_FILE ? DEVSYS_ENOTFOUND
	                         : fx == LIBSSH2_FX_PERMISSION_DENIED ? DEVSYS_EACCESS
	                                                               : DEVSYS_EIO,
	                         "remote-ssh: %s '%s' on %s failed (SFTP status %lu)", what, path, rt->desc, fx);
}

static char *remote_path(struct ssh_rt *rt, const char *p)
{
	return p[0] == '/' ? devsys__strdup(p) : devsys__asprintf("%s/%s", rt->session_dir, p);
}

static int put_file(struct ssh_rt *rt, const char *local, const char *remote, mode_t mode)
{
	LIBSSH2_SFTP_HANDLE *h;
	char *buf;
	int fd, rc = 0;

	if ((fd = open(local, O_RDONLY | O_CLOEXEC)) < 0)
		return devsys__error_errno(devsys__errno_code(errno), errno, "remote-ssh: cannot read '%s'", local);
	if (!(h = x_open(rt->sftp, remote, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC,
	                            (long)(mode & 0777)))) {
		close(fd);
		return sftp_fail(rt, "creating", remote);
	}
	if (!(buf = devsys__malloc(XFER_CHUNK))) {
		close(fd);
		libssh2_sftp_close(h);
		return devsys__error_oom();
	}
	for (;;) {
		ssize_t n = read(fd, buf, XFER_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = devsys__error_errno(DEVSYS_EIO, errno, "remote-ssh: cannot read '%s'", local);
			break;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n && rc == 0;) {
			ssize_t w = libssh2_sftp_write(h, buf + off, (size_t)(n - off));
			if (w < 0)
				rc = sftp_fail(rt, "writing", remote);
			else
				off += w;
		}
		if (rc)
			break;
	}
	devsys__free(buf);
	close(fd);
	if (libssh2_sftp_close(h) != 0 && rc == 0)
		rc = sftp_fail(rt, "closing", remote);
	return rc;
}

static int put_tree(struct ssh_rt *rt, const char *local, const char *remote)
{
	struct stat st;
	int rc = 0;
	if (lstat(local, &st) != 0)
		return devsys__error_errno(errno == ENOENT ? DEVSYS_ENOTFOUND : DEVSYS_EIO, errno,
		                           "remote-ssh: cannot upload '%s'", local);
	if (S_ISREG(st.st_mode))
		return put_file(rt, local, remote, st.st_mode);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(local, target, sizeof(target) - 1);
		if (n < 0)
			return devsys__error_errno(DEVSYS_EIO, errno, "remote-ssh: cannot read link '%s'", local);
		target[n] = '\0';
		x_unlink(rt->sftp, remote);
		if (x_symlink(rt->sftp, target, remote) != 0) {
			/* libssh2 1.10 reports a protocol error for OpenSSH's (argument-
			 * swapped) SYMLINK reply even when the link was made: check. */
			char got[4096];
			int n2 = x_readlink(rt->sftp, remote, got, (unsigned int)sizeof(got) - 1);
			if (n2 < 0 || (size_t)n2 != strlen(target) || memcmp(got, target, (size_t)n2) != 0)
				return sftp_fail(rt, "creating link", remote);
		}
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (x_mkdir(rt->sftp, remote, (long)(st.st_mode & 0777)) != 0) {
		LIBSSH2_SFTP_ATTRIBUTES a;
		if (x_stat(rt->sftp, remote, &a, LIBSSH2_SFTP_STAT) != 0 || !LIBSSH2_SFTP_S_ISDIR(a.permissions))
			return sftp_fail(rt, "creating directory", remote);
	}
	DIR *d = opendir(local);
	struct dirent *e;
	if (!d)
		return devsys__error_errno(DEVSYS_EIO, errno, "remote-ssh: cannot read directory '%s'", local);
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *a = devsys__asprintf("%s/%s", local, e->d_name), *b = devsys__asprintf("%s/%s", remote, e->d_name);
		rc = a && b ? put_tree(rt, a, b) : devsys__error_oom();
		devsys__free(a);
		devsys__free(b);
	}
	closedir(d);
	return rc;
}

/* Download the regular remote file into the fresh file @p rel below @p dst. */
static int get_file(struct ssh_rt *rt, const char *remote, const devsys__beneath *dst, const char *rel,
                    unsigned long mode)
{
	LIBSSH2_SFTP_HANDLE *h;
	char *buf;
	int fd, rc = 0;
	if (!(h = x_open(rt->sftp, remote, LIBSSH2_FXF_READ, 0)))
		return sftp_fail(rt, "opening", remote);
	if ((rc = devsys__beneath_create(&fd, dst, rel, (mode_t)(mode & 0777) | 0600)) < 0) {
		libssh2_sftp_close(h);
		return rc;
	}
	if (!(buf = devsys__malloc(XFER_CHUNK))) {
		close(fd);
		libssh2_sftp_close(h);
		return devsys__error_oom();
	}
	for (;;) {
		ssize_t n = libssh2_sftp_read(h, buf, XFER_CHUNK);
		if (n < 0) {
			rc = sftp_fail(rt, "reading", remote);
			break;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = devsys__error_errno(devsys__errno_code(errno), errno, "remote-ssh: cannot write '%s/%s'",
				                         dst->path, rel);
				break;
			}
			off += w;
		}
		if (rc)
			break;
	}
	devsys__free(buf);
	if (close(fd) != 0 && rc == 0)
		rc = devsys__error_errno(DEVSYS_EIO, errno, "remote-ssh: cannot write '%s/%s'", dst->path, rel);
	libssh2_sftp_close(h);
	return rc;
}

static int get_children(struct ssh_rt *rt, const char *remote, devsys__beneath *dst, const char *rel);

/*
 * One entry of the remote tree to @p rel below @p dst. Names and link
 * targets are the remote's choice: devsys__beneath_* refuses any that would
 * write through a link or create one pointing out of the destination.
 */
static int get_entry(struct ssh_rt *rt, const char *remote, devsys__beneath *dst, const char *rel)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc;

	if (x_stat(rt->sftp, remote, &a, LIBSSH2_SFTP_LSTAT) != 0)
		return sftp_fail(rt, "reading", remote);
	if (LIBSSH2_SFTP_S_ISLNK(a.permissions)) {
		char target[4096];
		int n = x_readlink(rt->sftp, remote, target, (unsigned int)sizeof(target) - 1);
		if (n < 0)
			return sftp_fail(rt, "reading link", remote);
		target[n] = '\0';
		return devsys__beneath_symlink(dst, rel, target);
	}
	if (LIBSSH2_SFTP_S_ISREG(a.permissions))
		return get_file(rt, remote, dst, rel, a.permissions);
	if (!LIBSSH2_SFTP_S_ISDIR(a.permissions))
		return 0; /* sockets, fifos, devices are not copied */
	if ((rc = devsys__beneath_mkdir(NULL, dst, rel, (mode_t)(a.permissions & 0777) | 0700)) < 0)
		return rc;
	return get_children(rt, remote, dst, rel);
}

/* The entries of the remote directory @p remote to @p rel (NULL: the root)
 * below @p dst; a refused entry is counted and the others still fetched. */
static int get_children(struct ssh_rt *rt, const char *remote, devsys__beneath *dst, const char *rel)
{
	LIBSSH2_SFTP_HANDLE *dh;
	char name[1024];
	int rc = 0;

	if (!(dh = x_opendir(rt->sftp, remote)))
		return sftp_fail(rt, "listing", remote);
	for (;;) {
		LIBSSH2_SFTP_ATTRIBUTES ea;
		int n = libssh2_sftp_readdir(dh, name, sizeof(name) - 1, &ea);
		if (n < 0) {
			rc = sftp_fail(rt, "listing", remote);
			break;
		}
		if (n == 0)
			break;
		name[n] = '\0';
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (strchr(name, '/')) {
			rc = devsys__beneath_skip(dst, devsys__error_set(DEVSYS_EPATH,
			                                                 "remote-ssh: the server listed a name with '/' in '%s'",
			                                                 remote));
			if (rc)
				break;
			continue;
		}
		char *r = devsys__asprintf("%s/%s", remote, name);
		char *l = rel ? devsys__asprintf("%s/%s", rel, name) : devsys__strdup(name);
		rc = r && l ? devsys__beneath_skip(dst, get_entry(rt, r, dst, l)) : devsys__error_oom();
		devsys__free(r);
		devsys__free(l);
		if (rc)
			break;
	}
	libssh2_sftp_closedir(dh);
	return rc;
}

/*
 * @p remote and @p local are the caller's: a link at @p remote is followed
 * on the server and @p local is used as named. Below them, see get_entry.
 */
static int get_tree(struct ssh_rt *rt, const char *remote, const char *local)
{
	devsys__beneath dst = { .fd = -1 };
	LIBSSH2_SFTP_ATTRIBUTES a;
	const char *leaf;
	int rc;

	if (x_stat(rt->sftp, remote, &a, LIBSSH2_SFTP_STAT) != 0)
		return sftp_fail(rt, "reading", remote);
	if (LIBSSH2_SFTP_S_ISDIR(a.permissions)) {
		if ((rc = devsys__beneath_open(&dst, local, (mode_t)(a.permissions & 0777) | 0700)) == 0 &&
		    (rc = get_children(rt, remote, &dst, NULL)) == 0)
			rc = devsys__beneath_result(&dst);
	} else if (LIBSSH2_SFTP_S_ISREG(a.permissions)) {
		if ((rc = devsys__beneath_open_parent(&dst, &leaf, local)) == 0)
			rc = get_file(rt, remote, &dst, leaf, a.permissions);
	} else {
		return devsys__error_set(DEVSYS_EINVAL, "remote-ssh: cannot download '%s' from %s: not a regular file or "
		                         "directory", remote, rt->desc);
	}
	devsys__beneath_close(&dst);
	return rc;
}

/* One SFTP session per transfer; @p remote is relative to the task's remote dir. */
static int sftp_transfer(struct ssh_rt *rt, const char *remote, const char *local, bool upload)
{
	char *rp;
	int rc;
	if ((rc = sftp_begin(rt)) < 0)
		return rc;
	rp = remote_path(rt, remote);
	if (!rp)
		rc = devsys__error_oom();
	else
		rc = upload ? put_tree(rt, local, rp) : get_tree(rt, rp, local);
	devsys__free(rp);
	sftp_end(rt);
	return rc;
}

static int ssh_upload(void *self, const char *local, const char *remote)
{
	return sftp_transfer(self, remote, local, true);
}

static int ssh_download(void *self, const char *remote, const char *local)
{
	return sftp_transfer(self, remote, local, false);
}

static int upload_bytes(struct ssh_rt *rt, const char *remote, const char *data, size_t len)
{
	LIBSSH2_SFTP_HANDLE *h;
	int rc = 0;
	if ((rc = sftp_begin(rt)) < 0)
		return rc;
	if (!(h = x_open(rt->sftp, remote, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC, 0600)))
		rc = sftp_fail(rt, "creating", remote);
	for (size_t off = 0; rc == 0 && off < len;) {
		ssize_t w = libssh2_sftp_write(h, data + off, len - off);
		if (w < 0)
			rc = sftp_fail(rt, "writing", remote);
		else
			off += (size_t)w;
	}
	if (h && libssh2_sftp_close(h) != 0 && rc == 0)
		rc = sftp_fail(rt, "closing", remote);
	sftp_end(rt);
	return rc;
}

static int remote_is_dir(struct ssh_rt *rt, const char *path, bool *is_dir)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc;
	if ((rc = sftp_begin(rt)) < 0)
		return rc;
	*is_dir = false;
	if (x_stat(rt->sftp, path, &a, LIBSSH2_SFTP_STAT) == 0)
		*is_dir = LIBSSH2_SFTP_S_ISDIR(a.permissions);
	else if (libssh2_session_last_errno(rt->sess) != LIBSSH2_ERROR_SFTP_PROTOCOL)
		rc = sftp_fail(rt, "checking", path);
	sftp_end(rt);
	return rc;
}

/* ---- exec ---- */

static int signal_group(struct ssh_rt *rt, const char *sig)
{
	devsys_buf cmd = DEVSYS_BUF_INIT;
	int rc;
	devsys_buf_printf(&cmd, "pg=$(cat ");
	devsys__sh_quote(&cmd, rt->pidfile, strlen(rt->pidfile));
	devsys_buf_printf(&cmd, " 2>/dev/null) && [ -n \"$pg\" ] && kill -%s -- \"-$pg\" 2>/dev/null; exit 0", sig);
	rc = cmd.ptr ? run_simple(rt, cmd.ptr, NULL, soon(10000)) : devsys__error_oom();
	devsys_buf_dispose(&cmd);
	return rc;
}

static int signum_of(const char *name, size_t len)
{
	static const struct {
		const char *n;
		int s;
	} tbl[] = { { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },   { "ABRT", SIGABRT },
		    { "FPE", SIGFPE },   { "KILL", SIGKILL }, { "SEGV", SIGSEGV }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },
		    { "TERM", SIGTERM }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "BUS", SIGBUS },   { "XCPU", SIGXCPU },
		    { "XFSZ", SIGXFSZ } };
	for (size_t i = 0; i < sizeof(tbl) / sizeof(tbl[0]); i++)
		if (strlen(tbl[i].n) == len && memcmp(tbl[i].n, name, len) == 0)
			return tbl[i].s;
	return 0;
}

static int ssh_exec(void *self, const devsys_runner_cmd *c, devsys_runner_io *io, devsys_runner_status *st)
{
	struct ssh_rt *rt = self;
	devsys_buf cmdline = DEVSYS_BUF_INIT, script_run = DEVSYS_BUF_INIT;
	LIBSSH2_CHANNEL *ch = NULL;
	const char *cwd;
	const char *line;
	char buf[1 << 15];
	char *stdin_buf = NULL;
	size_t stdin_cap = 0;
	const char *in_data = c->stdin_data;
	size_t in_len = c->stdin_len, in_off = 0;
	bool eof_sent = false, killing = false, killed_hard = false;
	int why = 0, rc = 0;
	uint64_t deadline = c->timeout_ms ? devsys__now_ns() + (uint64_t)c->timeout_ms * 1000000u : UINT64_MAX;
	uint64_t kill_at = UINT64_MAX;
	struct task_dir *td = find_task(rt, c->task);

	st->failure = DEVSYS_RUNNER_NOT_RUN;
	if (strchr(c->argv[0], '=') && !(c->flags & DEVSYS_RUNNER_CMD_SHELL))
		return devsys__error_set(DEVSYS_EINVALID, "remote-ssh: argv[0] '%.100s' contains '=', which env(1) would "
		                                          "take as an assignment; rename the program",
		                         c->argv[0]);
	if ((rc = ensure_connected(rt)) < 0) {
		st->failure = rc == DEVSYS_EHOSTKEY || rc == DEVSYS_EAUTH || rc == DEVSYS_ENETWORK || rc == DEVSYS_ETIMEOUT
		                      ? DEVSYS_RUNNER_SYSTEM_FAILURE
		                      : DEVSYS_RUNNER_NOT_RUN;
		if (rc == DEVSYS_ECANCELED)
			st->failure = DEVSYS_RUNNER_CANCELED;
		return rc;
	}
	cwd = c->cwd ? c->cwd : (td ? td->path : rt->session_dir);
	if (c->cwd) {
		bool is_dir = false;
		if ((rc = remote_is_dir(rt, c->cwd, &is_dir)) < 0) {
			st->failure = rc == DEVSYS_ESYSTEM ? DEVSYS_RUNNER_SYSTEM_FAILURE : DEVSYS_RUNNER_NOT_RUN;
			return rc;
		}
		if (!is_dir)
			return devsys__error_set(DEVSYS_ENOTFOUND, "remote-ssh: working directory '%.300s' does not exist on "
			                                           "%s",
			                         c->cwd, rt->desc);
	}
	if ((c->env && c->env[0]) || c->stdin_file) {
		/* env values travel on stdin, never in a remote argv (see util.c) */
		devsys_buf f = DEVSYS_BUF_INIT;
		if ((rc = devsys__ssh_env_preamble(&f, c)) < 0) {
			devsys_buf_dispose(&f);
			return rc;
		}
		if (c->stdin_file) {
			devsys_buf file = DEVSYS_BUF_INIT;
			if ((rc = devsys__read_file(&file, c->stdin_file, (size_t)1 << 30)) < 0) {
				devsys_buf_dispose(&f);
				return rc;
			}
			rc = devsys_buf_put(&f, file.ptr ? file.ptr : "", file.size);
			devsys_buf_dispose(&file);
		} else if (c->stdin_data && c->stdin_len) {
			rc = devsys_buf_put(&f, c->stdin_data, c->stdin_len);
		}
		if (rc < 0) {
			devsys_buf_dispose(&f);
			return devsys__error_oom();
		}
		stdin_buf = f.ptr;
		stdin_cap = f.asize;
		in_data = f.ptr;
		in_len = f.size;
	}
	if ((rc = devsys__ssh_cmdline(&cmdline, c, rt->pidfile, cwd)) < 0)
		goto out;
	line = cmdline.ptr;
	rt->exec_count++;
	if (cmdline.size > CMDLINE_INLINE_MAX) {
		/* too long for one remote argv string: run it from an uploaded script */
		char *script = devsys__asprintf("%s/exec-%lu.sh", rt->session_dir, rt->exec_count);
		if (!script) {
			rc = devsys__error_oom();
			goto out;
		}
		devsys_buf_puts(&cmdline, "\n");
		rc = upload_bytes(rt, script, cmdline.ptr, cmdline.size);
		if (rc == 0) {
			devsys_buf_puts(&script_run, "exec /bin/sh ");
			devsys__sh_quote(&script_run, script, strlen(script));
			line = script_run.ptr;
		}
		devsys__free(script);
		if (rc < 0) {
			st->failure = rc == DEVSYS_ESYSTEM ? DEVSYS_RUNNER_SYSTEM_FAILURE : DEVSYS_RUNNER_NOT_RUN;
			goto out;
		}
	}

	uint64_t setup_deadline = soon(rt->o->connect_timeout_ms ? rt->o->connect_timeout_ms : 10000);
	while (!(ch = libssh2_channel_open_session(rt->sess))) {
		if (libssh2_session_last_errno(rt->sess) != LIBSSH2_ERROR_EAGAIN) {
			rc = mark_dead(rt, "opening a channel");
			st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
			goto out;
		}
		if (!wait_io(rt, setup_deadline, -1)) {
			rc = mark_dead(rt, "opening a channel (timeout)");
			st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
			goto out;
		}
	}
	while ((rc = libssh2_channel_exec(ch, line)) == LIBSSH2_ERROR_EAGAIN)
		if (!wait_io(rt, setup_deadline, -1))
			break;
	if (rc != 0) {
		rc = mark_dead(rt, "starting the command");
		st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
		goto out;
	}
	if (!in_data || in_len == 0) {
		libssh2_channel_send_eof(ch);
		eof_sent = true;
	}

	for (;;) {
		bool progress = false, dropped = false;
		uint64_t now = devsys__now_ns();
		/* output */
		for (int which = 0; which < 2; which++) {
			ssize_t n;
			do {
				n = which ? libssh2_channel_read_stderr(ch, buf, sizeof(buf))
				          : libssh2_channel_read(ch, buf, sizeof(buf));
				if (n > 0) {
					progress = true;
					devsys_runner_io_write(io, which ? DEVSYS_RUNNER_STDERR : DEVSYS_RUNNER_STDOUT, buf,
					                       (size_t)n);
				} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
					dropped = true;
				}
			} while (n > 0);
		}
		if (dropped) {
			rc = mark_dead(rt, "the command");
			st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
			goto out;
		}
		/* stdin */
		if (!eof_sent) {
			ssize_t w = libssh2_channel_write(ch, in_data + in_off, in_len - in_off);
			if (w > 0) {
				in_off += (size_t)w;
				progress = true;
			}
			if ((w < 0 && w != LIBSSH2_ERROR_EAGAIN) || in_off >= in_len || libssh2_channel_eof(ch)) {
				libssh2_channel_send_eof(ch);
				eof_sent = true;
			}
		}
		if (libssh2_channel_eof(ch))
			break;
		/* timeout / cancel / callback abort */
		if (!killing) {
			if (now >= deadline)
				why = DEVSYS_RUNNER_TIMEOUT;
			else if (__atomic_load_n(&rt->cancel_flag, __ATOMIC_ACQUIRE) || devsys__runner_io_aborted(io))
				why = DEVSYS_RUNNER_CANCELED;
			if (why) {
				killing = true;
				kill_at = now + (uint64_t)rt->o->grace_ms * 1000000u;
				drain_cancel_pipe(rt);
				if (signal_group(rt, "TERM") < 0 && rt->dead) {
					rc = DEVSYS_ESYSTEM;
					st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
					goto out;
				}
				continue;
			}
		} else if (!killed_hard && now >= kill_at) {
			killed_hard = true;
			if (signal_group(rt, "KILL") < 0 && rt->dead) {
				rc = DEVSYS_ESYSTEM;
				st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
				goto out;
			}
			continue;
		}
		/* keepalive, then wait */
		int next_ka = 0;
		if (libssh2_keepalive_send(rt->sess, &next_ka) != 0 && libssh2_session_last_errno(rt->sess) !=
		                                                           LIBSSH2_ERROR_EAGAIN) {
			rc = mark_dead(rt, "keepalive");
			st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
			goto out;
		}
		if (progress)
			continue;
		uint64_t next = deadline;
		if (killing && !killed_hard)
			next = kill_at;
		else if (killing)
			next = UINT64_MAX;
		int cap = next_ka > 0 ? next_ka * 1000 : 1000;
		if (next != UINT64_MAX && devsys__ms_until(next) == 0)
			continue;
		if (!eof_sent)
			cap = cap > 50 ? 50 : cap; /* the window may reopen without socket activity on our side */
		if (!killing)
			cap = devsys__runner_io_wait_ms(io, cap); /* wake for the idle timeout */
		wait_io(rt, next, cap);
	}
	/* exit status */
	{
		uint64_t dl = soon(10000);
		int crc;
		while ((crc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
			if (!wait_io(rt, dl, -1))
				break;
		while ((crc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
			if (!wait_io(rt, dl, -1))
				break;
		if (crc != 0 && crc != LIBSSH2_ERROR_CHANNEL_CLOSED) {
			rc = mark_dead(rt, "the end of the command");
			st->failure = DEVSYS_RUNNER_SYSTEM_FAILURE;
			goto out;
		}
		char *sig = NULL;
		size_t siglen = 0;
		libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL);
		if (sig && siglen) {
			st->signal = signum_of(sig, siglen);
			if (!st->signal)
				st->signal = -1; /* a signal this table does not name */
			st->exit_code = -1;
		} else {
			st->exit_code = libssh2_channel_get_exit_status(ch);
		}
		if (sig)
			libssh2_free(rt->sess, sig);
	}
	if (why == DEVSYS_RUNNER_TIMEOUT) {
		st->failure = DEVSYS_RUNNER_TIMEOUT;
		rc = devsys__error_set(DEVSYS_ETIMEOUT, "remote-ssh: '%.200s' on %s timed out after %u ms; its process "
		                                        "group was terminated",
		                       c->argv[0], rt->desc, c->timeout_ms);
	} else if (why == DEVSYS_RUNNER_CANCELED) {
		st->failure = DEVSYS_RUNNER_CANCELED;
		rc = devsys__runner_io_aborted(io)
		             ? devsys__error_set(DEVSYS_EUSER, "remote-ssh: the output callback stopped '%.200s'", c->argv[0])
		             : devsys__error_set(DEVSYS_ECANCELED, "remote-ssh: '%.200s' on %s was canceled", c->argv[0],
		                                 rt->desc);
	} else {
		st->failure = st->exit_code == 0 && st->signal == 0 ? DEVSYS_RUNNER_OK : DEVSYS_RUNNER_BUILD_FAILURE;
		rc = 0;
	}
out:
	if (ch)
		libssh2_channel_free(ch);
	if (stdin_buf) {
		explicit_bzero(stdin_buf, stdin_cap); /* may hold env values */
		devsys__free(stdin_buf);
	}
	devsys_buf_dispose(&cmdline);
	devsys_buf_dispose(&script_run);
	__atomic_store_n(&rt->cancel_flag, 0, __ATOMIC_RELEASE);
	drain_cancel_pipe(rt);
	return rc;
}

static int ssh_describe(void *self, devsys_runner_description *out)
{
	struct ssh_rt *rt = self;
	snprintf(out->where, sizeof(out->where), "%s", rt->desc ? rt->desc : "");
	return 0;
}

const devsys_runner_vtable devsys__ssh_vtable = {
	DEVSYS_RUNNER_VTABLE_VERSION,
	"remote-ssh",
	ssh_open_checked,
	ssh_exec,
	ssh_cancel,
	ssh_close,
	ssh_prepare,
	ssh_cleanup,
	ssh_upload,
	ssh_download,
	ssh_workdir,
	ssh_describe,
};

int devsys__ssh_global_init(void)
{
	if (libssh2_init(0) != 0)
		return devsys__error_set(DEVSYS_ESYSTEM, "remote-ssh: libssh2_init failed");
	return 0;
}

void devsys__ssh_global_shutdown(void)
{
	libssh2_exit();
}
