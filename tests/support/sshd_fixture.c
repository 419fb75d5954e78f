/*
 * sshd test fixture: see sshd_fixture.h. Everything lives in one temp dir;
 * readiness is polled against a deadline, and a listener that dies during
 * start-up is noticed at once (its log is quoted in the reason).
 */
#include "sshd_fixture.h"
#include "testutil.h"
#include "watchdog.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SSHD_BIN "/usr/sbin/sshd"
#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool port_accepts(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool keygen(const char *path, const char *comment)
{
	return dt_sh("ssh-keygen -q -t ed25519 -N '' -C '%s' -f '%s' </dev/null >/dev/null 2>&1", comment, path) == 0;
}

/* The first line of a file without its newline; free() it. */
static char *first_line(const char *path)
{
	char *data = dt_read_file(path, NULL);
	if (data)
		data[strcspn(data, "\r\n")] = '\0';
	return data;
}

static bool write_known_hosts(const char *path, int port, const char *pub_path)
{
	char *pub = first_line(pub_path), *line;
	bool ok;
	if (!pub)
		return false;
	/* "ssh-ed25519 AAAA... comment" -> drop the comment */
	char *sp = strchr(pub, ' ');
	if (sp && (sp = strchr(sp + 1, ' ')))
		*sp = '\0';
	line = xasprintf("[127.0.0.1]:%d %s\n", port, pub);
	ok = line && dt_write_file(path, line);
	free(line);
	free(pub);
	return ok;
}

static bool write_config(dt_sshd *s)
{
	char *cfg = xasprintf("Port %d\n"
	                      "ListenAddress 127.0.0.1\n"
	                      "AddressFamily inet\n"
	                      "HostKey %s\n"
	                      "PidFile %s\n"
	                      "AuthorizedKeysFile %s\n"
	                      "UsePAM no\n"
	                      "StrictModes no\n"
	                      "PubkeyAuthentication yes\n"
	                      "AuthenticationMethods publickey\n"
	                      "PasswordAuthentication no\n"
	                      "KbdInteractiveAuthentication no\n"
	                      "HostbasedAuthentication no\n"
	                      "PermitRootLogin prohibit-password\n"
	                      "PermitUserEnvironment no\n"
	                      "UseDNS no\n"
	                      "PrintMotd no\n"
	                      "PrintLastLog no\n"
	                      "X11Forwarding no\n"
	                      "AllowAgentForwarding no\n"
	                      "AllowTcpForwarding no\n"
	                      "MaxSessions 200\n"
	                      "MaxStartups 200:30:400\n"
	                      "LogLevel VERBOSE\n"
	                      "Subsystem sftp %s\n",
	                      s->port, s->host_key, s->pidfile, s->authorized_keys, SFTP_SERVER);
	bool ok = cfg && dt_write_file(s->config, cfg);
	free(cfg);
	return ok;
}

static bool quiet_login_shell;

void dt_sshd_quiet_login_shell(bool on)
{
	quiet_login_shell = on;
}

static bool spawn_and_wait(dt_sshd *s, char *why, size_t why_len)
{
	char *argv[] = { (char *)SSHD_BIN, (char *)"-D", (char *)"-f", s->config, (char *)"-E", s->log, NULL };
	/* sshd runs every command through the login shell, and Debian's bash then
	 * sources ~/.bashrc; in a private mount namespace an empty file hides it
	 * from this sshd only (the machine's files are untouched). */
	char *quiet_argv[] = { (char *)"/usr/bin/unshare", (char *)"-m", (char *)"--propagation", (char *)"private",
		               (char *)"/bin/sh", (char *)"-c",
		               (char *)"[ ! -e \"$HOME/.bashrc\" ] || mount --bind /dev/null \"$HOME/.bashrc\" || exit 1; "
		                       "exec \"$0\" \"$@\"",
		               (char *)SSHD_BIN, (char *)"-D", (char *)"-f", s->config, (char *)"-E", s->log, NULL };
	long deadline = mono_ms() + 10000;

	/* Not PR_SET_PDEATHSIG: the per-connection processes call setsid, and a
	 * listener that died first would leave them out of the watchdog's reach. */
	s->pid = dt_watchdog_spawn(s->watchdog, quiet_login_shell && access("/usr/bin/unshare", X_OK) == 0 ? quiet_argv : argv,
	                           NULL);
	if (s->pid < 0) {
		s->pid = 0;
		dt_set_why(why, why_len, "sshd fixture: fork failed: %s", strerror(errno));
		return false;
	}
	while (mono_ms() < deadline) {
		int st;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			char *log = dt_read_file(s->log, NULL);
			dt_set_why(why, why_len, "sshd fixture: sshd exited during start-up (status %d): %.300s", st,
			        log ? log : "(no log)");
			free(log);
			s->pid = 0;
			return false;
		}
		if (port_accepts(s->port))
			return true;
		sleep_ms(20);
	}
	dt_set_why(why, why_len, "sshd fixture: sshd did not listen on 127.0.0.1:%d within 10 s (log %s)", s->port, s->log);
	dt_stop(s->pid, SIGKILL, 2000);
	dt_watchdog_forget(s->watchdog, s->pid);
	s->pid = 0;
	return false;
}

dt_sshd *dt_sshd_start(char *why, size_t why_len)
{
	struct passwd *pw = getpwuid(getuid());
	dt_sshd *s;
	char *tmp, real[4096];

	if (access(SSHD_BIN, X_OK) != 0) {
		dt_set_why(why, why_len, "sshd not installed (%s; Debian package openssh-server)", SSHD_BIN);
		return NULL;
	}
	if (access(SFTP_SERVER, X_OK) != 0) {
		dt_set_why(why, why_len, "sftp-server not installed (%s; Debian package openssh-sftp-server)", SFTP_SERVER);
		return NULL;
	}
	{
		char *kg = dt_which("ssh-keygen");
		if (!kg) {
			dt_set_why(why, why_len, "ssh-keygen not installed (Debian package openssh-client)");
			return NULL;
		}
		free(kg);
	}
	if (!pw || !pw->pw_name) {
		dt_set_why(why, why_len, "sshd fixture: the current uid %u has no passwd entry", (unsigned)getuid());
		return NULL;
	}
	/* sshd running as root needs its privilege-separation directory. */
	if (geteuid() == 0 && mkdir("/run/sshd", 0755) != 0 && errno != EEXIST) {
		dt_set_why(why, why_len, "sshd fixture: cannot create /run/sshd: %s", strerror(errno));
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	/* first, so nothing made below outlives a test that dies meanwhile */
	if (!(s->watchdog = dt_watchdog_start(why, why_len))) {
		free(s);
		return NULL;
	}
	tmp = dt_tmpdir("sshd");
	if (!tmp || !realpath(tmp, real)) {
		dt_set_why(why, why_len, "sshd fixture: cannot create a temp dir");
		if (tmp)
			dt_rmrf(tmp);
		free(tmp);
		dt_sshd_free(s);
		return NULL;
	}
	free(tmp);
	dt_watchdog_dir(s->watchdog, real);
	s->dir = strdup(real);
	s->host = strdup("127.0.0.1");
	s->user = strdup(pw->pw_name);
	s->port = dt_free_port();
	s->config = xasprintf("%s/sshd_config", real);
	s->log = xasprintf("%s/sshd.log", real);
	s->pidfile = xasprintf("%s/sshd.pid", real);
	s->host_key = xasprintf("%s/host_ed25519", real);
	s->user_key = xasprintf("%s/user_ed25519", real);
	s->user_pub = xasprintf("%s/user_ed25519.pub", real);
	s->other_user_key = xasprintf("%s/other_ed25519", real);
	s->authorized_keys = xasprintf("%s/authorized_keys", real);
	s->known_hosts = xasprintf("%s/known_hosts", real);
	s->wrong_known_hosts = xasprintf("%s/wrong_known_hosts", real);

	char *wrong_key = xasprintf("%s/wrong_host_ed25519", real);
	char *host_pub = xasprintf("%s/host_ed25519.pub", real);
	char *wrong_pub = xasprintf("%s/wrong_host_ed25519.pub", real);
	char *fp = NULL;
	bool ok = s->port > 0 && keygen(s->host_key, "devsys-test-host") && keygen(s->user_key, "devsys-test-user") &&
	          keygen(s->other_user_key, "devsys-test-other") && keygen(wrong_key, "devsys-test-wrong-host") &&
	          dt_sh("cp '%s' '%s'", s->user_pub, s->authorized_keys) == 0 &&
	          write_known_hosts(s->known_hosts, s->port, host_pub) &&
	          write_known_hosts(s->wrong_known_hosts, s->port, wrong_pub) && write_config(s);
	if (ok) {
		int st = -1;
		fp = dt_sh_output(&st, "ssh-keygen -l -E sha256 -f '%s' | awk '{print $2}'", host_pub);
		if (fp)
			fp[strcspn(fp, "\r\n")] = '\0';
		s->host_fingerprint = fp;
		ok = st == 0 && fp && strncmp(fp, "SHA256:", 7) == 0;
	}
	free(wrong_key);
	free(host_pub);
	free(wrong_pub);
	if (!ok) {
		dt_set_why(why, why_len, "sshd fixture: generating keys/config in %s failed", real);
		dt_sshd_free(s);
		return NULL;
	}
	if (!spawn_and_wait(s, why, why_len)) {
		dt_sshd_free(s);
		return NULL;
	}
	return s;
}

bool dt_sshd_running(const dt_sshd *s)
{
	return s && s->pid > 0 && kill(s->pid, 0) == 0 && waitpid(s->pid, NULL, WNOHANG) == 0;
}

/* Parent pid of @p pid from /proc, or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ppid ..." where comm may hold spaces and parens */
	char *rp = strrchr(buf, ')');
	int ppid;
	char state;
	if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return (pid_t)ppid;
}

/*
 * @p root and every process below it, by parent links in /proc, into @p set
 * (at most @p cap); with @p freeze each is stopped as it is found, so none
 * can fork a child the walk would miss.
 */
static size_t tree_of(pid_t root, pid_t *set, size_t cap, bool freeze)
{
	size_t n = 0;
	bool grew = true;
	if (freeze)
		kill(root, SIGSTOP);
	set[n++] = root;
	while (grew && n < cap) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		grew = false;
		if (!d)
			break;
		while ((e = readdir(d)) && n < cap) {
			char *end;
			long v = strtol(e->d_name, &end, 10);
			if (*end || v <= 0)
				continue;
			pid_t p = (pid_t)v, pp = parent_of(p);
			bool have = false, parent_in = false;
			for (size_t i = 0; i < n; i++) {
				have = have || set[i] == p;
				parent_in = parent_in || set[i] == pp;
			}
			if (!have && parent_in) {
				if (freeze)
					kill(p, SIGSTOP);
				set[n++] = p;
				grew = true;
			}
		}
		closedir(d);
	}
	return n;
}

void dt_sshd_stop(dt_sshd *s)
{
	pid_t set[4096];
	size_t n;
	if (!s || s->pid <= 0)
		return;
	/* Open sessions outlive the listener here, as orphans no parent link
	 * leads to: the watchdog learns them now, to kill them if the test dies. */
	n = tree_of(s->pid, set, sizeof(set) / sizeof(set[0]), false);
	for (size_t i = 1; i < n; i++)
		dt_watchdog_pid(s->watchdog, set[i]);
	dt_stop(s->pid, SIGTERM, 5000);
	dt_watchdog_forget(s->watchdog, s->pid);
	s->pid = 0;
}

void dt_sshd_kill_all(dt_sshd *s)
{
	pid_t set[4096];
	size_t n;

	if (!s || s->pid <= 0)
		return;
	n = tree_of(s->pid, set, sizeof(set) / sizeof(set[0]), true);
	for (size_t i = n; i-- > 0;)
		kill(set[i], SIGKILL);
	waitpid(s->pid, NULL, 0);
	dt_watchdog_forget(s->watchdog, s->pid);
	s->pid = 0;
}

bool dt_sshd_restart(dt_sshd *s)
{
	char why[512];
	if (!s)
		return false;
	dt_sshd_stop(s);
	return spawn_and_wait(s, why, sizeof(why));
}

char *dt_sshd_ssh_cmd(const dt_sshd *s)
{
	return xasprintf("ssh -F /dev/null -i '%s' -o IdentitiesOnly=yes -o UserKnownHostsFile='%s' "
	                 "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes "
	                 "-o LogLevel=ERROR -p %d %s@127.0.0.1",
	                 s->user_key, s->known_hosts, s->port, s->user);
}

void dt_sshd_free(dt_sshd *s)
{
	if (!s)
		return;
	dt_sshd_kill_all(s);
	if (s->dir)
		dt_rmrf(s->dir);
	dt_watchdog_disarm(s->watchdog);
	free(s->dir);
	free(s->host);
	free(s->user);
	free(s->config);
	free(s->log);
	free(s->pidfile);
	free(s->host_key);
	free(s->user_key);
	free(s->user_pub);
	free(s->other_user_key);
	free(s->authorized_keys);
	free(s->known_hosts);
	free(s->wrong_known_hosts);
	free(s->host_fingerprint);
	free(s);
}
