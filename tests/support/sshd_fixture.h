/*
 * A real OpenSSH sshd for tests, on 127.0.0.1 and a free port, with its own
 * config, ed25519 host and user keys, authorized_keys and known_hosts, all in
 * a temp dir. The machine's ~/.ssh is never read or written.
 *
 *   char why[256];
 *   dt_sshd *s = dt_sshd_start(why, sizeof why);
 *   if (!s)
 *       dt_skip("%s", why);
 *   ... connect to 127.0.0.1:s->port as s->user with s->user_key,
 *       checking the host key against s->known_hosts ...
 *   dt_sshd_free(s);   // stops sshd and removes the temp dir
 *
 * If the test process dies without dt_sshd_free() (SIGKILL, a crash), the
 * fixture's watchdog (watchdog.h) kills the listener and every process under
 * it (per-connection sshd processes and the commands they run) and removes
 * the temp dir.
 *
 * Keys are ed25519: Debian's libssh2 1.10 has no rsa-sha2, so OpenSSH 9
 * refuses RSA user keys from it.
 */
#ifndef DEVSYS_SSHD_FIXTURE_H
#define DEVSYS_SSHD_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct dt_sshd {
	char *dir;             /* temp dir holding everything below */
	int port;              /* 127.0.0.1:port */
	char *host;            /* "127.0.0.1" */
	char *user;            /* the current user's login name */
	char *config;          /* <dir>/sshd_config */
	char *log;             /* <dir>/sshd.log (sshd -E) */
	char *pidfile;         /* <dir>/sshd.pid */
	char *host_key;        /* <dir>/host_ed25519 (private) */
	char *user_key;        /* <dir>/user_ed25519 (private, authorized) */
	char *user_pub;        /* <dir>/user_ed25519.pub */
	char *other_user_key;  /* <dir>/other_ed25519: a valid key that is NOT authorized */
	char *authorized_keys; /* <dir>/authorized_keys */
	char *known_hosts;     /* <dir>/known_hosts: "[127.0.0.1]:port ssh-ed25519 ..." */
	char *wrong_known_hosts; /* <dir>/wrong_known_hosts: same host, a different key */
	char *host_fingerprint;  /* "SHA256:..." of the host key */
	pid_t pid;             /* listener pid, 0 when stopped */
	struct dt_watchdog *watchdog; /* kills sshd and its sessions, removes dir, if the test dies */
} dt_sshd;

/*
 * Generate keys and config and start sshd (-D -f cfg -E log), waiting for
 * the port with a deadline. On failure returns NULL and writes a reason
 * ("sshd not installed", ...) into @p why for dt_skip().
 */
dt_sshd *dt_sshd_start(char *why, size_t why_len);

/*
 * For benchmarks: start later sshds in a private mount namespace where the
 * user's ~/.bashrc is empty, so a slow rc file (pyenv init costs ~290 ms per
 * command here) does not swamp the transport being measured. Off by default.
 */
void dt_sshd_quiet_login_shell(bool on);

/* Stop the listener (SIGTERM, bounded wait, SIGKILL). Open sessions keep running. */
void dt_sshd_stop(dt_sshd *s);

/*
 * Kill the listener and every process it started (per-connection sshd
 * processes and the commands under them) with SIGKILL, as if the server died.
 */
void dt_sshd_kill_all(dt_sshd *s);

/* Start again on the same port with the same keys. False on failure. */
bool dt_sshd_restart(dt_sshd *s);

/* Is the listener process still alive? */
bool dt_sshd_running(const dt_sshd *s);

/*
 * An OpenSSH client command prefix for this server, e.g. for `pgrep` checks:
 * "ssh -F /dev/null -i <key> -o UserKnownHostsFile=<kh> -o StrictHostKeyChecking=yes
 *  -o BatchMode=yes -p <port> <user>@127.0.0.1". free() it.
 */
char *dt_sshd_ssh_cmd(const dt_sshd *s);

/* Stop sshd, remove the temp dir, free everything. NULL is fine. */
void dt_sshd_free(dt_sshd *s);

#endif /* DEVSYS_SSHD_FIXTURE_H */
