/*
 * PostgreSQL test fixture: see pg_fixture.h. Everything lives in one short
 * temp dir (the socket path must fit sun_path), owned by the
 * postgres user, and every command runs from / (root's home is 0700, and
 * postgres may not enter it).
 */
#include "pg_fixture.h"
#include "testutil.h"
#include "watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_BIN DT_PG_BIN
#define ENV_SUITE "DEVSYS_TEST_PG"     /* "<port> <dir>" of the suite's server */
#define ENV_WHY "DEVSYS_TEST_PG_WHY"   /* why the suite has none */

#define SHM_PREFIX "/dev/shm/dt-pg-"

static dt_pg *suite_pg;

/*
 * The server's dir: on tmpfs when there is one (initdb and CREATE DATABASE
 * take half the time there; the tests need no durability), else a short
 * private dir under /tmp. Either way short enough for the socket's path.
 */
static char *server_dir(void)
{
	char *d = strdup(SHM_PREFIX "XXXXXX");
	if (d && access("/dev/shm", W_OK) == 0 && mkdtemp(d))
		return d;
	free(d);
	return dt_sockdir("pg");
}

static void remove_dir(const char *d)
{
	if (strncmp(d, SHM_PREFIX, strlen(SHM_PREFIX)) == 0 && !strstr(d, "..") && !strchr(d, '\''))
		dt_sh("rm -rf -- '%s'", d);
	else
		dt_rmrf(d);
}

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

static bool random_hex(char *out, size_t n)
{
	unsigned char b[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && n / 2 <= sizeof(b) && read(fd, b, n / 2) == (ssize_t)(n / 2);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; ok && i < n / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return ok;
}

static bool chown_postgres(const char *path)
{
	struct passwd *pw = getpwnam("postgres");
	return pw && chown(path, pw->pw_uid, pw->pw_gid) == 0;
}

/* The last lines of the server log, for a reason. */
static void log_tail(const dt_pg *pg, char *why, size_t len, const char *what)
{
	char *tail = dt_sh_output(NULL, "tail -n 5 '%s' 2>/dev/null", pg->log);
	dt_set_why(why, len, "%s (port %d): %s", what, pg->port, tail && tail[0] ? tail : "no server log");
	free(tail);
}

/*
 * pg_ctl's postmaster is no child of ours (pg_ctl daemonises it), so no
 * PR_SET_PDEATHSIG can reach it: if the test dies, the watchdog stops it
 * (-m immediate: nothing is kept, and the postmaster still removes its shared
 * memory, which a SIGKILL would leave), then kills whatever still names the
 * data dir (the postmaster, if pg_ctl could not stop it, and its backends
 * with it), then removes the dir. Armed before initdb, so a server that
 * pg_ctl is starting when the test dies goes too; a restart needs nothing new.
 */
static void arm_watchdog(dt_pg *pg)
{
	dt_watchdog_dir(pg->watchdog, pg->dir);
	if (!pg->data)
		return;
	dt_watchdog_run(pg->watchdog,
	                "cd / && runuser -u postgres -- " PG_BIN "/pg_ctl -D '%s' -m immediate -w -t 20 stop >/dev/null 2>&1",
	                pg->data);
	dt_watchdog_naming(pg->watchdog, pg->data);
}

static bool pg_ctl_start(dt_pg *pg)
{
	return dt_sh("cd / && runuser -u postgres -- " PG_BIN "/pg_ctl -D '%s' -l '%s' -w -t 30 -o "
	             "\"-k '%s' -c listen_addresses=127.0.0.1 -p %d -c fsync=off -c max_connections=60\" start "
	             ">/dev/null 2>&1",
	             pg->data, pg->log, pg->dir, pg->port) == 0;
}

dt_pg *dt_pg_start(char *why, size_t why_len)
{
	dt_pg *pg;
	char *pwfile;
	bool ok;
	if (access(PG_BIN "/initdb", X_OK) != 0 || access(PG_BIN "/pg_ctl", X_OK) != 0) {
		dt_set_why(why, why_len, "PostgreSQL 15 is not installed (" PG_BIN "; Debian package postgresql)");
		return NULL;
	}
	if (!getpwnam("postgres")) {
		dt_set_why(why, why_len, "there is no postgres user to run PostgreSQL as");
		return NULL;
	}
	if (!(pg = calloc(1, sizeof(*pg))))
		return NULL;
	pg->owner = true;
	if (!(pg->watchdog = dt_watchdog_start(why, why_len))) {
		dt_pg_free(pg);
		return NULL;
	}
	if (!(pg->dir = server_dir()) || !(pg->password = calloc(1, 33)) || !random_hex(pg->password, 32) ||
	    !(pg->user = strdup("devsys"))) {
		dt_set_why(why, why_len, "cannot make the PostgreSQL fixture's temp dir");
		dt_pg_free(pg);
		return NULL;
	}
	pg->data = xasprintf("%s/data", pg->dir);
	arm_watchdog(pg);
	pg->log = xasprintf("%s/server.log", pg->dir);
	pwfile = xasprintf("%s/pwfile", pg->dir);
	ok = pg->data && pg->log && pwfile && chown_postgres(pg->dir) && dt_write_file(pwfile, pg->password) &&
	     chmod(pwfile, 0600) == 0 && chown_postgres(pwfile);
	/* -N: a test server needs no fsync at initdb; password auth on TCP, trust on the 0700 socket dir */
	ok = ok && dt_sh("cd / && runuser -u postgres -- " PG_BIN "/initdb -N -D '%s' -U devsys --auth-host=scram-sha-256 "
	                 "--auth-local=trust --pwfile='%s' >'%s/initdb.log' 2>&1",
	                 pg->data, pwfile, pg->dir) == 0;
	free(pwfile);
	if (!ok) {
		char *tail = dt_sh_output(NULL, "tail -n 5 '%s/initdb.log' 2>/dev/null", pg->dir);
		dt_set_why(why, why_len, "initdb failed: %s", tail && tail[0] ? tail : "no output");
		free(tail);
		dt_pg_free(pg);
		return NULL;
	}
	for (int attempt = 0; attempt < 3; attempt++) { /* a free port can be taken before the server binds it */
		pg->port = dt_free_port();
		if ((ok = pg_ctl_start(pg)))
			break;
	}
	if (!ok) {
		log_tail(pg, why, why_len, "pg_ctl start failed");
		dt_pg_free(pg);
		return NULL;
	}
	return pg;
}

bool dt_pg_stop(dt_pg *pg)
{
	return pg && dt_sh("cd / && runuser -u postgres -- " PG_BIN "/pg_ctl -D '%s' -m fast -w -t 30 stop >/dev/null 2>&1",
	                   pg->data) == 0;
}

bool dt_pg_start_again(dt_pg *pg)
{
	return pg && pg_ctl_start(pg);
}

bool dt_pg_running(const dt_pg *pg)
{
	return pg && dt_sh("cd / && runuser -u postgres -- " PG_BIN "/pg_ctl -D '%s' status >/dev/null 2>&1", pg->data) == 0;
}

void dt_pg_suite_begin(void)
{
	char why[512], val[256];
	if (suite_pg)
		return;
	if (!(suite_pg = dt_pg_start(why, sizeof(why)))) {
		setenv(ENV_WHY, why, 1);
		return;
	}
	snprintf(val, sizeof(val), "%d %s", suite_pg->port, suite_pg->dir);
	setenv(ENV_SUITE, val, 1);
}

void dt_pg_suite_end(void)
{
	dt_pg_free(suite_pg);
	suite_pg = NULL;
	unsetenv(ENV_SUITE);
}

dt_pg *dt_pg_suite(char *why, size_t why_len)
{
	const char *v = getenv(ENV_SUITE);
	char dir[200];
	int port;
	dt_pg *pg;
	char *pw;
	if (!v || sscanf(v, "%d %199s", &port, dir) != 2) {
		dt_set_why(why, why_len, "%s", getenv(ENV_WHY) ? getenv(ENV_WHY) : "no PostgreSQL server for this suite");
		return NULL;
	}
	if (!(pg = calloc(1, sizeof(*pg))))
		return NULL;
	pg->port = port;
	pg->dir = strdup(dir);
	pg->data = xasprintf("%s/data", dir);
	pg->log = xasprintf("%s/server.log", dir);
	pg->user = strdup("devsys");
	pw = xasprintf("%s/pwfile", dir);
	pg->password = pw ? dt_read_file(pw, NULL) : NULL;
	free(pw);
	if (!pg->dir || !pg->data || !pg->log || !pg->user || !pg->password) {
		dt_set_why(why, why_len, "cannot read the suite's PostgreSQL settings from %s", dir);
		dt_pg_free(pg);
		return NULL;
	}
	return pg;
}

static const char *db_name(const char *db)
{
	const char *slash = db ? strrchr(db, '/') : NULL;
	return slash ? slash + 1 : db ? db : "postgres";
}

int dt_pg_sql(dt_pg *pg, const char *db, char **out, const char *fmt, ...)
{
	char *sql = NULL, *file = NULL, *res;
	int status = -1;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&sql, fmt, ap) < 0)
		sql = NULL;
	va_end(ap);
	if (out)
		*out = NULL;
	/* the SQL goes through a file, so no quoting of it reaches the shell */
	if (!sql || !(file = xasprintf("%s/q-%d.sql", pg->dir, (int)getpid())) || !dt_write_file(file, sql))
		goto done;
	/* the server's own psql (pg_fixture.h says why) */
	res = dt_sh_output(&status,
	                   PG_BIN "/psql -X -q -At -v ON_ERROR_STOP=1 -h '%s' -p %d -U devsys -d '%s' -f '%s' 2>&1",
	                   pg->dir, pg->port, db_name(db), file);
	if (out)
		*out = res;
	else
		free(res);
	unlink(file);
done:
	free(sql);
	free(file);
	return status;
}

char *dt_pg_newdb(dt_pg *pg, const char *tag)
{
	static int counter;
	char name[64];
	size_t i;
	snprintf(name, sizeof(name), "t_%.30s_%d_%d", tag ? tag : "db", (int)getpid(), ++counter);
	for (i = 0; name[i]; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
			name[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : '_';
	if (dt_pg_sql(pg, "postgres", NULL, "CREATE DATABASE %s;", name) != 0)
		return NULL;
	return xasprintf("postgresql://devsys@127.0.0.1:%d/%s", pg->port, name);
}

bool dt_pg_write_pgpass(const dt_pg *pg, const char *path, const char *password)
{
	char *line = xasprintf("127.0.0.1:%d:*:devsys:%s\n", pg->port, password ? password : pg->password);
	bool ok = line && dt_write_file(path, line) && chmod(path, 0600) == 0;
	free(line);
	return ok;
}

void dt_pg_free(dt_pg *pg)
{
	if (!pg)
		return;
	if (pg->owner) {
		if (pg->data)
			dt_pg_stop(pg);
		if (pg->dir)
			remove_dir(pg->dir);
		dt_watchdog_disarm(pg->watchdog);
	}
	free(pg->dir);
	free(pg->data);
	free(pg->log);
	free(pg->user);
	free(pg->password);
	free(pg);
}
