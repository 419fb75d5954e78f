/*
 * The PostgreSQL store against a real PostgreSQL 15 (tests/support/pg_fixture):
 * selection (options URL, DEVSYS_STORE_URL), the password from the secrets
 * module or PGPASSFILE (never a URL, never the real home), bad input (a wrong
 * password, an unreachable server, a newer schema, a URL with a password),
 * migrations under concurrent openers, the queue, a server restart, and the
 * connection broken at each point of a state change (a trigger that ends its
 * own session): the documents' transaction replayed once, with the control of
 * a broken replay.
 */
#include "pg_suite.h"
#include <devsys.h>
#include <jansson.h>
#include <devsys/secrets.h>
#include <devsys/store.h>
#include <devsys/record.h>
#include <devsys/config.h>
#include <devsys/pipeline.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static dt_pg *pg;
static char *dir, *url, *pgpass;
static devsys_workspace *ws;

static void setup(void)
{
	char why[512];
	cr_assert_eq(devsys_init(), 1);
	if (!(pg = dt_pg_suite(why, sizeof(why))))
		return;
	dir = dt_tmpdir("pgstore");
	cr_assert(dir);
	dt_pg_client_env(pg, dir);
	cr_assert(asprintf(&pgpass, "%s/pgpass", dir) > 0); /* the file dt_pg_client_env wrote: tests rewrite it */
	unsetenv("DEVSYS_STORE_URL");
	unsetenv("PGPASSWORD");
	cr_assert(url = dt_pg_newdb(pg, "s"), "cannot create a database");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
}

static void teardown(void)
{
	devsys_workspace_free(ws);
	if (dir)
		dt_rmrf(dir);
	free(dir);
	free(url);
	free(pgpass);
	dt_pg_free(pg);
	devsys_shutdown();
}

TestSuite(pg_store, .init = setup, .fini = teardown, .timeout = 60);

static int open_url(devsys_store **st, const char *u, devsys_secrets *secrets, const char *secret)
{
	devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
	o.url = u;
	o.secrets = secrets;
	o.password_secret = secret;
	o.busy_timeout_ms = 5000;
	return devsys_store_open(st, ws, &o);
}

/* The number of tables in the database of @p u's public schema. */
static int tables(const char *u)
{
	char *out = NULL;
	int n;
	cr_assert_eq(dt_pg_sql(pg, u, &out, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public';"), 0, "%s",
	             out ? out : "");
	n = atoi(out);
	free(out);
	return n;
}

static char *sql1(const char *u, const char *query)
{
	char *out = NULL;
	cr_assert_eq(dt_pg_sql(pg, u, &out, "%s", query), 0, "%s: %s", query, out ? out : "");
	out[strcspn(out, "\n")] = '\0';
	return out;
}

Test(pg_store, opens_with_pgpassfile_and_keeps_rows_in_postgresql)
{
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char *v;
	dt_pg_need(pg);
	cr_assert(strstr(devsys_features(), "postgresql"), "features: %s", devsys_features());
	OK(open_url(&st, url, NULL, NULL));
	cr_assert_str_eq(devsys_store_backend_name(st), "postgresql");
	OK(devsys_store_task_create(st, "p1", NULL));
	OK(devsys_store_transition(st, "p1", DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, "p1", "default", "urn:devsys:schema:task:1"));
	OK(devsys_store_claim(&b, st, "w1", "host-a", NULL, 0, 5000));
	cr_assert_str_eq(b.ptr, "p1");
	cr_assert_eq(devsys_store_claim(&b, st, "w2", "host-b", NULL, 0, 5000), DEVSYS_ENOTFOUND, "held: not claimable");
	OK(devsys_store_heartbeat(st, "p1", "w1", 5000));
	cr_assert_eq(devsys_store_heartbeat(st, "p1", "w2", 5000), DEVSYS_ESTATE);
	OK(devsys_store_complete(st, "p1", "w1"));
	cr_assert_eq(devsys_store_task_state(st, "p1"), DEVSYS_STATE_VALIDATED);
	OK(devsys_store_list_json(st, NULL, 0, 0, &b));
	cr_assert(strstr(b.ptr, "\"p1\""), "%s", b.ptr);
	/* the rows are in PostgreSQL, and the workspace has no SQLite database */
	v = sql1(url, "SELECT state || ' ' || (SELECT count(*) FROM claims) || ' ' || (SELECT count(*) FROM queue) "
	              "FROM tasks WHERE id = 'p1';");
	cr_assert_str_eq(v, "1 1 0", "state, claims, queue rows: %s", v);
	free(v);
	v = sql1(url, "SELECT max(version) FROM devsys_schema;");
	cr_assert_str_eq(v, "6");
	free(v);
	{
		char *db;
		cr_assert(asprintf(&db, "%s/devsys.db", dir) > 0);
		cr_assert(!dt_exists(db), "a SQLite database was made next to the PostgreSQL store");
		free(db);
	}
	devsys_buf_dispose(&b);
	devsys_store_free(st);
}

Test(pg_store, devsys_store_url_selects_it_when_the_options_name_none)
{
	devsys_store *st = NULL;
	char *db;
	dt_pg_need(pg);
	setenv("DEVSYS_STORE_URL", url, 1);
	OK(devsys_store_open(&st, ws, NULL));
	cr_assert_str_eq(devsys_store_backend_name(st), "postgresql");
	OK(devsys_store_task_create(st, "e1", NULL));
	devsys_store_free(st);
	unsetenv("DEVSYS_STORE_URL");
	/* the control: without it, SQLite in the workspace */
	OK(devsys_store_open(&st, ws, NULL));
	cr_assert_str_eq(devsys_store_backend_name(st), "sqlite");
	cr_assert_eq(devsys_store_task_state(st, "e1"), DEVSYS_ENOTFOUND);
	devsys_store_free(st);
	cr_assert(asprintf(&db, "%s/devsys.db", dir) > 0);
	cr_assert(dt_exists(db));
	free(db);
}

Test(pg_store, a_wrong_password_is_refused_naming_the_url_and_nothing_is_written)
{
	devsys_store *st = NULL;
	const char *wrong = "wrongpw-9f3a1c77";
	dt_pg_need(pg);
	cr_assert(dt_pg_write_pgpass(pg, pgpass, wrong));
	cr_assert_eq(open_url(&st, url, NULL, NULL), DEVSYS_EAUTH, "%s", MSG);
	cr_assert_null(st);
	cr_assert(strstr(MSG, url), "the error names the URL: %s", MSG);
	cr_assert(strstr(MSG, "password"), "%s", MSG);
	cr_assert(!strstr(MSG, wrong), "the error holds the password given: %s", MSG);
	cr_assert(!strstr(MSG, pg->password), "the error holds the real password: %s", MSG);
	cr_assert_eq(tables(url), 0, "a refused open wrote tables");
	/* the control: the right password opens and writes the schema */
	cr_assert(dt_pg_write_pgpass(pg, pgpass, NULL));
	OK(open_url(&st, url, NULL, NULL));
	devsys_store_free(st);
	cr_assert_gt(tables(url), 0);
}

Test(pg_store, an_unreachable_server_is_a_clear_error)
{
	devsys_store *st = NULL;
	char *closed;
	int port = dt_free_port(); /* nothing listens there */
	dt_pg_need(pg);
	cr_assert(asprintf(&closed, "postgresql://devsys@127.0.0.1:%d/nowhere", port) > 0);
	cr_assert_eq(open_url(&st, closed, NULL, NULL), DEVSYS_ENETWORK, "%s", MSG);
	cr_assert(strstr(MSG, closed), "the error names the URL: %s", MSG);
	cr_assert(strstr(MSG, "cannot connect"), "%s", MSG);
	cr_assert_null(st);
	free(closed);
}

Test(pg_store, a_database_of_a_newer_schema_is_refused_and_nothing_is_written)
{
	devsys_store *st = NULL;
	char *v;
	dt_pg_need(pg);
	cr_assert_eq(dt_pg_sql(pg, url, NULL,
	                       "CREATE TABLE devsys_schema(version integer NOT NULL, applied_at timestamptz NOT NULL "
	                       "DEFAULT now()); INSERT INTO devsys_schema(version) VALUES (99);"),
	             0);
	cr_assert_eq(open_url(&st, url, NULL, NULL), DEVSYS_EVERSION, "%s", MSG);
	cr_assert(strstr(MSG, "schema version 99"), "%s", MSG);
	cr_assert(strstr(MSG, url), "the error names the URL: %s", MSG);
	cr_assert_eq(tables(url), 1, "the refused open made tables");
	v = sql1(url, "SELECT string_agg(version::text, ',') FROM devsys_schema;");
	cr_assert_str_eq(v, "99");
	free(v);
}

Test(pg_store, a_url_with_a_password_is_refused_without_repeating_it)
{
	devsys_store *st = NULL;
	const char *secret = "hunter2-in-url";
	char *bad;
	const char *at = strstr(url, "@");
	dt_pg_need(pg);
	cr_assert(asprintf(&bad, "postgresql://devsys:%s%s", secret, at) > 0);
	cr_assert_eq(open_url(&st, bad, NULL, NULL), DEVSYS_EINVAL);
	cr_assert(strstr(MSG, "carries a password"), "%s", MSG);
	cr_assert(strstr(MSG, "devsys:***@127.0.0.1"), "the URL is named, redacted: %s", MSG);
	cr_assert(!strstr(MSG, secret), "the error repeats the password: %s", MSG);
	free(bad);
	cr_assert(asprintf(&bad, "%s?sslmode=disable&password=%s", url, secret) > 0);
	cr_assert_eq(open_url(&st, bad, NULL, NULL), DEVSYS_EINVAL);
	cr_assert(strstr(MSG, "password=***"), "%s", MSG);
	cr_assert(!strstr(MSG, secret), "the error repeats the password: %s", MSG);
	/* from the environment too */
	setenv("DEVSYS_STORE_URL", bad, 1);
	cr_assert_eq(devsys_store_open(&st, ws, NULL), DEVSYS_EINVAL);
	cr_assert(!strstr(MSG, secret), "%s", MSG);
	unsetenv("DEVSYS_STORE_URL");
	free(bad);
	cr_assert_eq(open_url(&st, "mysql://u:pw-mysql-1@127.0.0.1/x", NULL, NULL), DEVSYS_EINVAL);
	cr_assert(strstr(MSG, "not a postgresql:// URL") && !strstr(MSG, "pw-mysql-1"), "%s", MSG);
	cr_assert_eq(tables(url), 0, "a refused URL reached the database");
}

Test(pg_store, the_password_comes_from_the_secrets_module)
{
	devsys_store *st = NULL;
	devsys_secrets *secrets = NULL;
	devsys_secret_def def = DEVSYS_SECRET_DEF_INIT;
	dt_pg_need(pg);
	setenv("PGPASSFILE", "/nonexistent/pgpass", 1); /* only the secret can supply it */
	OK(devsys_secrets_new(&secrets, NULL));
	def.name = "store_password";
	def.provider = "env";
	def.ref = "DT_PG_PASSWORD";
	OK(devsys_secrets_define(secrets, &def));
	setenv("DT_PG_PASSWORD", "not-the-password-4411", 1);
	cr_assert_eq(open_url(&st, url, secrets, "store_password"), DEVSYS_EAUTH, "%s", MSG);
	cr_assert(!strstr(MSG, "not-the-password-4411"), "%s", MSG);
	devsys_secrets_free(secrets);
	/* a fresh set: the first resolution was cached */
	OK(devsys_secrets_new(&secrets, NULL));
	OK(devsys_secrets_define(secrets, &def));
	setenv("DT_PG_PASSWORD", pg->password, 1);
	OK(open_url(&st, url, secrets, "store_password"));
	OK(devsys_store_task_create(st, "sec1", NULL));
	devsys_store_free(st);
	/* no secret and no password file: refused */
	cr_assert_eq(open_url(&st, url, NULL, NULL), DEVSYS_EAUTH, "%s", MSG);
	unsetenv("DT_PG_PASSWORD");
	devsys_secrets_free(secrets);
}

/*
 * Four `devsys submit` processes (exec'd, so no test state is shared) open
 * one fresh database at once: each migrates it or finds it migrated.
 */
Test(pg_store, concurrent_openers_of_a_fresh_database_migrate_it_once)
{
	const char *cli = getenv("DEVSYS_CLI");
	pid_t kids[4];
	char *v;
	dt_pg_need(pg);
	cr_assert(cli, "DEVSYS_CLI is not set");
	setenv("DEVSYS_STORE_URL", url, 1);
	for (int i = 0; i < 4; i++) {
		char *spec, *text, *log;
		cr_assert(asprintf(&spec, "%s/c%d.yaml", dir, i) > 0 && asprintf(&log, "%s/c%d.log", dir, i) > 0);
		cr_assert(asprintf(&text, "id: c%d\ntitle: opener %d\nprompt: x\nrepo:\n  url: file:///nonexistent.git\n", i,
		                   i) > 0);
		cr_assert(dt_write_file(spec, text));
		{
			char *argv[] = { (char *)cli, "--workspace", dir, "submit", spec, NULL };
			kids[i] = dt_spawn(argv, log);
		}
		cr_assert(kids[i] > 0);
		free(spec);
		free(text);
		free(log);
	}
	unsetenv("DEVSYS_STORE_URL");
	for (int i = 0; i < 4; i++) {
		int status;
		char *log, *text;
		cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
		cr_assert(asprintf(&log, "%s/c%d.log", dir, i) > 0);
		text = dt_read_file(log, NULL);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opener %d failed: %s", i, text ? text : "");
		free(text);
		free(log);
	}
	v = sql1(url, "SELECT string_agg(version::text, ',' ORDER BY version) || ' ' || (SELECT count(*) FROM tasks) "
	              "FROM devsys_schema;");
	cr_assert_str_eq(v, "1,2,3,4,5,6 4", "migrations applied once each, four tasks: %s", v);
	free(v);
}

Test(pg_store, the_store_reconnects_after_a_server_restart)
{
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "r1", NULL));
	OK(devsys_store_transition(st, "r1", DEVSYS_STATE_VALIDATED, NULL));
	cr_assert(dt_pg_stop(pg), "pg_ctl stop");
	cr_assert(!dt_pg_running(pg));
	/* while it is down, a call fails with a clear error after the busy timeout... */
	{
		devsys_store_options o = DEVSYS_STORE_OPTIONS_INIT;
		devsys_store *other = NULL;
		o.url = url;
		o.busy_timeout_ms = 200;
		cr_assert_eq(devsys_store_open(&other, ws, &o), DEVSYS_ENETWORK);
		cr_assert(strstr(MSG, url), "%s", MSG);
	}
	cr_assert(dt_pg_start_again(pg), "pg_ctl start");
	/* ...and once it is back, the same handle goes on: the lost connection is re-established */
	OK(devsys_store_submit(st, "r1", NULL, NULL));
	OK(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 5000));
	cr_assert_str_eq(b.ptr, "r1");
	/* a restart while the store is idle between calls, again: nothing written before it is lost */
	cr_assert(dt_pg_stop(pg) && dt_pg_start_again(pg));
	OK(devsys_store_complete(st, "r1", "w1"));
	cr_assert_eq(devsys_store_task_state(st, "r1"), DEVSYS_STATE_VALIDATED);
	devsys_buf_dispose(&b);
	devsys_store_free(st);
}

static char *write_config(const char *body)
{
	char *path;
	cr_assert(asprintf(&path, "%s/devsys.yaml", dir) > 0);
	cr_assert(dt_write_file(path, body));
	return path;
}

Test(pg_store, devsys_yaml_store_section_selects_it_for_the_pipeline)
{
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_pipeline *p = NULL;
	devsys_config *cfg = NULL;
	devsys_secret_def def = DEVSYS_SECRET_DEF_INIT;
	const char *got;
	char *text, *cfg_path, *db;
	dt_pg_need(pg);
	setenv("PGPASSFILE", "/nonexistent/pgpass", 1); /* the section's secret is the only way in */
	setenv("DT_STORE_PW", pg->password, 1);
	cr_assert(asprintf(&text, "store:\n  url: %s\n  password_secret: store_pw\n  password_ref: DT_STORE_PW\n", url) > 0);
	cfg_path = write_config(text);
	free(text);
	OK(devsys_config_load(&cfg, cfg_path));
	OK(devsys_config_store(&got, &def, cfg));
	cr_assert_str_eq(got, url);
	cr_assert_str_eq(def.name, "store_pw");
	cr_assert_str_eq(def.provider, "env");
	cr_assert_str_eq(def.ref, "DT_STORE_PW");
	devsys_config_free(cfg);
	po.config_path = cfg_path;
	OK(devsys_pipeline_new(&p, ws, &po));
	devsys_pipeline_free(p);
	cr_assert_gt(tables(url), 0, "the pipeline's store migrated the configured database");
	cr_assert(asprintf(&db, "%s/devsys.db", dir) > 0);
	cr_assert(!dt_exists(db), "the pipeline opened SQLite instead");
	/* the control: the section pointing at a closed port makes the pipeline fail, naming it */
	{
		char *closed;
		cr_assert(asprintf(&closed, "store: postgresql://devsys@127.0.0.1:%d/x\n", dt_free_port()) > 0);
		free(write_config(closed));
		cr_assert_eq(devsys_pipeline_new(&p, ws, &po), DEVSYS_ENETWORK, "%s", MSG);
		cr_assert(strstr(MSG, "127.0.0.1"), "%s", MSG);
		free(closed);
	}
	cr_assert(!dt_exists(db));
	free(db);
	free(cfg_path);
	unsetenv("DT_STORE_PW");
}

Test(pg_store, a_store_section_with_a_password_in_its_url_is_refused_with_its_position)
{
	devsys_config *cfg = NULL;
	const char *got;
	char *path;
	dt_pg_need(pg);
	path = write_config("runners: {}\nstore:\n  url: postgresql://devsys:cfg-secret-77@127.0.0.1:5432/x\n");
	cr_assert_eq(devsys_config_load(&cfg, path), DEVSYS_EINVALID);
	cr_assert(strstr(MSG, "devsys.yaml:3:8: store.url: the URL carries a password"), "%s", MSG);
	cr_assert(!strstr(MSG, "cfg-secret-77"), "%s", MSG);
	free(path);
	path = write_config("store: mysql://x/y\n");
	cr_assert_eq(devsys_config_load(&cfg, path), DEVSYS_EINVALID);
	cr_assert(strstr(MSG, "store.url: not a postgresql:// URL"), "%s", MSG);
	free(path);
	path = write_config("store:\n  url: postgresql://devsys@h/x\n  password: nope\n");
	cr_assert_eq(devsys_config_load(&cfg, path), DEVSYS_EINVALID);
	cr_assert(strstr(MSG, "store.password: unknown key"), "%s", MSG);
	free(path);
	/* the control: a plain URL loads, and no section is ENOTFOUND */
	path = write_config("store: postgresql://devsys@127.0.0.1:5432/x\n");
	OK(devsys_config_load(&cfg, path));
	OK(devsys_config_store(&got, NULL, cfg));
	cr_assert_str_eq(got, "postgresql://devsys@127.0.0.1:5432/x");
	devsys_config_free(cfg);
	free(path);
	path = write_config("runners: {}\n");
	OK(devsys_config_load(&cfg, path));
	cr_assert_eq(devsys_config_store(&got, NULL, cfg), DEVSYS_ENOTFOUND);
	devsys_config_free(cfg);
	free(path);
}

Test(pg_store, an_idle_worker_is_woken_when_a_task_is_queued)
{
	devsys_store *idle = NULL, *other = NULL, *sq = NULL;
	long long t0;
	dt_pg_need(pg);
	OK(open_url(&idle, url, NULL, NULL));
	OK(open_url(&other, url, NULL, NULL));
	cr_assert_eq(devsys_store_wait_work(idle, 0), 0, "listening, nothing queued yet");
	OK(devsys_store_task_create(other, "n1", NULL));
	OK(devsys_store_transition(other, "n1", DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(other, "n1", NULL, NULL));
	t0 = dt_mono_ms();
	cr_assert_eq(devsys_store_wait_work(idle, 10000), 1, "the submit's notification wakes the idle handle");
	cr_assert_lt(dt_mono_ms() - t0, 5000, "woken by the notification, not the timeout");
	/* the control: nothing queued, the wait runs out */
	t0 = dt_mono_ms();
	cr_assert_eq(devsys_store_wait_work(idle, 300), 0);
	cr_assert_geq(dt_mono_ms() - t0, 250, "the wait returned early without a notification");
	/* SQLite has no signal: it returns at once and the caller polls */
	OK(devsys_store_open(&sq, ws, NULL));
	t0 = dt_mono_ms();
	cr_assert_eq(devsys_store_wait_work(sq, 5000), 0);
	cr_assert_lt(dt_mono_ms() - t0, 1000);
	devsys_store_free(sq);
	devsys_store_free(other);
	devsys_store_free(idle);
}

/*
 * devsys cancel on a shared store: a stage owned on another host (another
 * boot id) is not judged by its pid here, so the task is left alone with an
 * error that says how to cancel it. The control: a stage owner on this host
 * that is gone, and the task is canceled.
 */
Test(pg_store, cancel_leaves_a_task_running_on_another_host_alone)
{
	const char *cli = getenv("DEVSYS_CLI");
	devsys_store *st = NULL;
	char *out, *boot;
	int status;
	dt_pg_need(pg);
	cr_assert(cli);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "x1", NULL));
	OK(devsys_store_transition(st, "x1", DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_stage_begin(st, "x1", "checkout"));
	cr_assert_eq(dt_pg_sql(pg, url, NULL, "UPDATE tasks SET owner_boot = 'another-host-boot-id', owner_pid = 4190001 "
	                                     "WHERE id = 'x1';"),
	             0);
	setenv("DEVSYS_STORE_URL", url, 1);
	out = dt_sh_output(&status, "'%s' --workspace '%s' cancel --wait 0 x1 2>&1", cli, dir);
	cr_assert_neq(status, 0, "%s", out);
	cr_assert(strstr(out, "runs on another host"), "%s", out);
	free(out);
	cr_assert_eq(devsys_store_task_state(st, "x1"), DEVSYS_STATE_VALIDATED, "the task was left as it was");
	/* the control: this host's boot id, a pid that runs nothing */
	boot = dt_read_file("/proc/sys/kernel/random/boot_id", NULL);
	cr_assert(boot);
	boot[strcspn(boot, "\n")] = '\0';
	cr_assert_eq(dt_pg_sql(pg, url, NULL, "UPDATE tasks SET owner_boot = '%s' WHERE id = 'x1';", boot), 0);
	free(boot);
	out = dt_sh_output(&status, "'%s' --workspace '%s' cancel --wait 0 x1 2>&1", cli, dir);
	cr_assert_eq(status, 0, "%s", out);
	free(out);
	unsetenv("DEVSYS_STORE_URL");
	cr_assert_eq(devsys_store_task_state(st, "x1"), DEVSYS_STATE_CANCELED);
	devsys_store_free(st);
}

Test(pg_store, check_finds_and_repairs_drift_between_the_database_and_the_folders)
{
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	size_t drift = 0;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "d1", NULL));
	OK(devsys_store_check(st, 0, &b, &drift));
	cr_assert_eq(drift, 0, "%s", b.ptr);
	/* the database moves on without the folder */
	cr_assert_eq(dt_pg_sql(pg, url, NULL, "UPDATE tasks SET state = 1 WHERE id = 'd1';"), 0);
	OK(devsys_store_check(st, 0, &b, &drift));
	cr_assert_eq(drift, 1, "%s", b.ptr);
	cr_assert(strstr(b.ptr, "task.json says created, the database says validated"), "%s", b.ptr);
	OK(devsys_store_check(st, 1, &b, &drift));
	cr_assert(strstr(b.ptr, "\"repaired\": true"), "%s", b.ptr);
	OK(devsys_store_check(st, 0, &b, &drift));
	cr_assert_eq(drift, 0, "repaired: %s", b.ptr);
	devsys_buf_dispose(&b);
	devsys_store_free(st);
}

/*
 * The small record documents kept with the rows: a process that does not
 * see the task's folder (here: the folder is gone) still reads task.json
 * and the latest run's summary and normalised JUnit from the store.
 */
Test(pg_store, task_json_and_the_latest_tests_are_kept_in_the_store)
{
	devsys_store *st = NULL, *other = NULL;
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	unsigned int run = 0;
	char *junit;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "doc1", NULL));
	OK(devsys_store_task_create(st, "doc2", NULL));
	OK(devsys_store_transition(st, "doc1", DEVSYS_STATE_VALIDATED, NULL));
	/* a test run of two cases, one failing, through the record */
	OK(devsys_task_open(&task, ws, "doc1", 0));
	OK(devsys_record_open(&rec, task));
	OK(devsys_record_run_begin(rec, &run));
	cr_assert(asprintf(&junit, "%s/r.xml", dir) > 0);
	cr_assert(dt_write_file(junit, "<testsuite name=\"s\" tests=\"2\"><testcase classname=\"c\" name=\"ok\" time=\"0.1\"/>"
	                               "<testcase classname=\"c\" name=\"bad\" time=\"0.2\"><failure message=\"no\"/>"
	                               "</testcase></testsuite>"));
	OK(devsys_record_run_add_junit(rec, run, junit));
	OK(devsys_record_run_complete(rec, run));
	devsys_record_free(rec);
	devsys_task_free(task);
	free(junit);
	OK(devsys_store_run_record(st, "doc1", run));
	/* the folder goes away, as on a host that never had it */
	cr_assert_eq(dt_sh("rm -rf '%s/tasks/doc1'", dir), 0);
	OK(open_url(&other, url, NULL, NULL));
	OK(devsys_store_document(&b, other, "doc1", "task.json"));
	cr_assert(strstr(b.ptr, "\"validated\""), "%s", b.ptr);
	OK(devsys_store_document(&b, other, "doc1", "tests/latest/summary.json"));
	cr_assert(strstr(b.ptr, "\"tests\"") && strstr(b.ptr, "\"failed\""), "%s", b.ptr);
	{
		json_t *j = json_loads(b.ptr, 0, NULL);
		cr_assert(j, "%s", b.ptr);
		cr_assert_eq(json_integer_value(json_object_get(j, "tests")), 2);
		cr_assert_eq(json_integer_value(json_object_get(j, "failed")), 1);
		json_decref(j);
	}
	OK(devsys_store_document(&b, other, "doc1", "tests/latest/junit.xml"));
	cr_assert(strstr(b.ptr, "<testsuites") && strstr(b.ptr, "name=\"bad\""), "%s", b.ptr);
	/* the controls: a task without a run, a name the store does not keep */
	cr_assert_eq(devsys_store_document(&b, other, "doc2", "tests/latest/summary.json"), DEVSYS_ENOTFOUND);
	cr_assert(strstr(MSG, "doc2"), "%s", MSG);
	OK(devsys_store_document(&b, other, "doc2", "task.json"));
	cr_assert(strstr(b.ptr, "\"created\""), "%s", b.ptr);
	cr_assert_eq(devsys_store_document(&b, other, "doc1", "spec.yaml"), DEVSYS_EINVAL);
	devsys_buf_dispose(&b);
	devsys_store_free(other);
	devsys_store_free(st);
}

/*
 * A reader polling a document (devsysd streaming a task another host runs)
 * is sent its body only when it was written again: each write gives a new
 * version, one that writes the same bytes too; bad versions are refused.
 */
Test(pg_store, a_document_is_sent_again_only_when_it_was_written_again)
{
	devsys_store *st = NULL, *other = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char v[DEVSYS_STORE_DOC_VERSION_MAX] = "", first[DEVSYS_STORE_DOC_VERSION_MAX], *out;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(open_url(&other, url, NULL, NULL));
	OK(devsys_store_task_create(st, "ver1", NULL));
	OK(devsys_store_transition(st, "ver1", DEVSYS_STATE_VALIDATED, NULL));
	/* the first read has no version: the body, and its version */
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", v, sizeof(v)), 1, "%s", MSG);
	cr_assert(strstr(b.ptr, "\"validated\""), "%s", b.ptr);
	cr_assert(v[0], "a read sets the version");
	snprintf(first, sizeof(first), "%s", v);
	/* unchanged: 0, and the buffer as it was */
	devsys_buf_clear(&b);
	OK(devsys_buf_puts(&b, "as it was"));
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", v, sizeof(v)), 0, "%s", MSG);
	cr_assert_str_eq(b.ptr, "as it was");
	cr_assert_str_eq(v, first);
	/* written again at the next change: read again, with the change, under a new version */
	OK(devsys_store_transition(st, "ver1", DEVSYS_STATE_CHECKED_OUT, NULL));
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", v, sizeof(v)), 1, "%s", MSG);
	cr_assert(strstr(b.ptr, "\"checked-out\""), "%s", b.ptr);
	cr_assert_str_neq(v, first);
	snprintf(first, sizeof(first), "%s", v);
	/* the same bytes written again are a new version too */
	out = sql1(url, "UPDATE documents SET body = body WHERE task_id = 'ver1' AND name = 'task.json' RETURNING 1");
	cr_assert_str_eq(out, "1");
	free(out);
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", v, sizeof(v)), 1, "%s", MSG);
	cr_assert(strstr(b.ptr, "\"checked-out\""), "%s", b.ptr);
	cr_assert_str_neq(v, first);
	/* another document of the task has a version of its own */
	snprintf(first, sizeof(first), "%s", v);
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "events.jsonl", first, sizeof(first)), 1, "%s",
	             MSG);
	cr_assert(strstr(b.ptr, "\"to\":\"checked-out\""), "%s", b.ptr);
	/* a version no read gave, in a larger buffer too: read again */
	{
		char big[100];
		memset(big, 'x', 60);
		big[60] = '\0';
		cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", big, sizeof(big)), 1, "%s", MSG);
		cr_assert(strstr(b.ptr, "\"checked-out\""), "%s", b.ptr);
		cr_assert_str_eq(big, v, "the version a read sets is the document's");
	}
	/* bad input: said, naming what is wrong; nothing read */
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", NULL, 40), DEVSYS_EINVAL);
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", v, 8), DEVSYS_EINVAL);
	cr_assert(strstr(MSG, "40 bytes, not 8"), "%s", MSG);
	memset(v, 'x', sizeof(v));
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "task.json", v, sizeof(v)), DEVSYS_EINVAL);
	cr_assert(strstr(MSG, "a string"), "%s", MSG);
	v[0] = '\0';
	cr_assert_eq(devsys_store_document_changed(&b, other, "ver1", "spec.yaml", v, sizeof(v)), DEVSYS_EINVAL);
	cr_assert(strstr(MSG, "spec.yaml"), "%s", MSG);
	cr_assert_eq(devsys_store_document_changed(&b, other, "no-such", "task.json", v, sizeof(v)), DEVSYS_ENOTFOUND);
	cr_assert(strstr(MSG, "no-such"), "%s", MSG);
	cr_assert_eq(devsys_store_document_changed(&b, other, "../x", "task.json", v, sizeof(v)), DEVSYS_EBADID);
	cr_assert_str_eq(v, "", "a refused read leaves the version alone");
	devsys_buf_dispose(&b);
	devsys_store_free(other);
	devsys_store_free(st);
}

/*
 * A state change on a shared store writes the folder without fsync (the
 * database is the durable copy), so a host crash can tear task.json and
 * the events' tail: the next change restores both from the store.
 */
Test(pg_store, a_torn_task_json_is_restored_from_the_store_at_the_next_change)
{
	devsys_store *st = NULL;
	devsys_task *task = NULL;
	devsys_record *rec = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char path[4096], *ev;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "torn1", NULL));
	OK(devsys_store_transition(st, "torn1", DEVSYS_STATE_VALIDATED, "first"));
	/* what a crash before the page cache reached the disk can leave */
	snprintf(path, sizeof(path), "%s/tasks/torn1/task.json", dir);
	cr_assert(dt_write_file(path, "{\"id\":\"torn1\",\"sta"));
	cr_assert_eq(dt_sh("truncate -s 40 '%s/tasks/torn1/events.jsonl'", dir), 0);
	OK(devsys_task_open(&task, ws, "torn1", 0));
	cr_assert_eq(devsys_record_open(&rec, task), DEVSYS_EPARSE, "the control: the folder is torn");
	OK(devsys_store_transition(st, "torn1", DEVSYS_STATE_CHECKED_OUT, "second"));
	OK(devsys_record_open(&rec, task));
	OK(devsys_record_json(rec, &b));
	cr_assert(strstr(b.ptr, "\"checked-out\""), "%s", b.ptr);
	devsys_record_free(rec);
	snprintf(path, sizeof(path), "%s/tasks/torn1/events.jsonl", dir);
	cr_assert(ev = dt_read_file(path, NULL));
	cr_assert(strstr(ev, "\"first\"") && strstr(ev, "\"second\""), "both changes' events: %s", ev);
	cr_assert(strstr(ev, "\"seq\":1,") && strstr(ev, "\"seq\":3,"), "seq goes on from the store's: %s", ev);
	free(ev);
	/* the store's copy is the folder's again */
	cr_assert_eq(devsys_store_folder_current(st, "torn1"), 1);
	devsys_task_free(task);
	devsys_buf_dispose(&b);
	devsys_store_free(st);
}

/*
 * Breaking the store's connection at a chosen point of a state change,
 * deterministically: a trigger (dt_trap) whose first visits for the one
 * key trap_arm() sets end the session that runs it, with pg_terminate_backend() of its
 * own backend, as an administrator's terminate from another session would
 * (the server sends FATAL 57P01 and closes the socket). The keys:
 * "update tasks <id>" (the change's own transaction), "put documents
 * <id>/<name>" (a document's upsert in the documents' transaction) and
 * "commit documents <id>/<name>" (a deferred trigger: at that
 * transaction's COMMIT). The visits are counted by a sequence, which no
 * rollback undoes.
 */
static void trap_install(void)
{
	cr_assert_eq(dt_pg_sql(pg, url, NULL,
	                       "CREATE TABLE dt_trap(key text PRIMARY KEY, breaks integer NOT NULL);"
	                       "CREATE SEQUENCE dt_trap_visits;"
	                       "CREATE FUNCTION dt_trap() RETURNS trigger LANGUAGE plpgsql AS $$ "
	                       "DECLARE r jsonb := to_jsonb(NEW); k text; n integer; "
	                       "BEGIN "
	                       "  k := TG_ARGV[0] || ' ' || TG_TABLE_NAME || ' ' || "
	                       "       coalesce(r->>'id', (r->>'task_id') || '/' || (r->>'name')); "
	                       "  SELECT breaks INTO n FROM dt_trap WHERE key = k; "
	                       "  IF FOUND THEN "
	                       "    IF nextval('dt_trap_visits') <= n THEN "
	                       "      PERFORM pg_terminate_backend(pg_backend_pid()); "
	                       "      PERFORM pg_sleep(10); "
	                       "    END IF; "
	                       "  END IF; "
	                       "  RETURN NEW; "
	                       "END $$;"
	                       "CREATE TRIGGER dt_trap_update BEFORE UPDATE ON tasks "
	                       "  FOR EACH ROW EXECUTE FUNCTION dt_trap('update');"
	                       "CREATE TRIGGER dt_trap_put BEFORE INSERT ON documents "
	                       "  FOR EACH ROW EXECUTE FUNCTION dt_trap('put');"
	                       "CREATE CONSTRAINT TRIGGER dt_trap_commit AFTER INSERT OR UPDATE ON documents "
	                       "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dt_trap('commit');"),
	             0);
}

/* The trap set for @p key alone, its first @p breaks visits ending the session; no visit counted yet. */
static void trap_arm(const char *key, int breaks)
{
	cr_assert_eq(dt_pg_sql(pg, url, NULL,
	                       "DELETE FROM dt_trap; ALTER SEQUENCE dt_trap_visits RESTART; "
	                       "INSERT INTO dt_trap VALUES ('%s', %d);",
	                       key, breaks),
	             0);
}

/* The store's connection, ended from this (another) session while it idles between calls. */
static void terminate_idle_store(void)
{
	char *v = sql1(url, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
	                    "WHERE datname = current_database() AND application_name = 'libdevsys';");
	cr_assert_str_eq(v, "1", "the store's one session was ended: %s", v);
	free(v);
}

/* Folder file @p name of task @p id (NULL when missing); free() it. */
static char *folder_file(const char *id, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/tasks/%s/%s", dir, id, name);
	return dt_read_file(p, NULL);
}

/* Does the store's copy of @p name (task.json, events.jsonl) of task @p id equal the folder's, byte for byte? */
static bool store_has_folders(devsys_store *st, const char *id, const char *name)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	char *f = folder_file(id, name);
	bool same;
	cr_assert(f, "the folder has no %s", name);
	OK(devsys_store_document(&b, st, id, name));
	same = b.ptr && strcmp(b.ptr, f) == 0;
	devsys_buf_dispose(&b);
	free(f);
	return same;
}

/*
 * The state change made with @p reason, exactly once: one row in the
 * database's state log, one "state" event in the folder's events, and the
 * folder's seq numbers one apart from 1 (no event written twice); and the
 * armed trap's trigger ran @p visits times since trap_arm().
 */
static void changed_once(const char *id, const char *reason, int visits)
{
	char *ev = folder_file(id, "events.jsonl"), *line, *save = NULL, *v, q[512], want[32];
	int events = 0, seq = 0;
	cr_assert(ev);
	for (line = strtok_r(ev, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL), *d;
		cr_assert(e, "an event line that is not JSON: %s", line);
		cr_assert_eq(json_integer_value(json_object_get(e, "seq")), ++seq, "events out of sequence at %s", line);
		d = json_object_get(e, "data");
		if (!strcmp(json_string_value(json_object_get(e, "type")), "state") &&
		    json_is_string(json_object_get(d, "reason")) &&
		    !strcmp(json_string_value(json_object_get(d, "reason")), reason))
			events++;
		json_decref(e);
	}
	free(ev);
	cr_assert_eq(events, 1, "the folder has %d state events of '%s'", events, reason);
	/* one psql for both: each costs a process */
	snprintf(q, sizeof(q),
	         "SELECT (SELECT count(*) FROM states WHERE task_id = '%s' AND reason = '%s') || ' ' || "
	         "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM dt_trap_visits);",
	         id, reason);
	v = sql1(url, q);
	snprintf(want, sizeof(want), "1 %d", visits);
	cr_assert_str_eq(v, want, "'%s': the database's state log rows, then the trap's visits", reason);
	free(v);
}

/* After each change: the store's task.json and events are the folder's, and the change is there once. */
static void kept_once(devsys_store *st, const char *id, const char *reason, int visits)
{
	changed_once(id, reason, visits);
	cr_assert(store_has_folders(st, id, "task.json"), "%s: the store's task.json is not the folder's", reason);
	cr_assert(store_has_folders(st, id, "events.jsonl"), "%s: the store's events are not the folder's", reason);
	cr_assert_eq(devsys_store_folder_current(st, id), 1, "%s", reason);
}

/*
 * The connection broken at each point of a state change (while the store
 * idles before it, in its own transaction, at a document's upsert in the
 * documents' transaction, at that transaction's COMMIT): every change
 * succeeds, its documents in the store are the folder's, and it happened
 * once. The trap's visits say that the break came where it was set, and that
 * what it broke ran once more.
 */
Test(pg_store, a_state_changes_documents_are_replayed_once_after_the_connection_breaks)
{
	devsys_store *st = NULL;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "rp1", NULL));
	OK(devsys_store_transition(st, "rp1", DEVSYS_STATE_VALIDATED, "first"));
	trap_install();

	/* idle: BEGIN finds the connection gone, reconnects and goes on */
	terminate_idle_store();
	OK(devsys_store_transition(st, "rp1", DEVSYS_STATE_CHECKED_OUT, "after an idle break"));
	kept_once(st, "rp1", "after an idle break", 0);

	/* in the change's own transaction: rolled back, and it runs once more (the task row's update: 2 visits) */
	trap_arm("update tasks rp1", 1);
	OK(devsys_store_transition(st, "rp1", DEVSYS_STATE_CODED, "after a break in its transaction"));
	kept_once(st, "rp1", "after a break in its transaction", 2);

	/* at the events' upsert, after task.json's: the documents' transaction is replayed, task.json too */
	trap_arm("put documents rp1/events.jsonl", 1);
	OK(devsys_store_transition(st, "rp1", DEVSYS_STATE_COMMITTED, "after a break at a document"));
	kept_once(st, "rp1", "after a break at a document", 2);

	/* at the documents' COMMIT: nothing of it was committed, it is replayed and committed */
	trap_arm("commit documents rp1/events.jsonl", 1);
	OK(devsys_store_transition(st, "rp1", DEVSYS_STATE_PUSHED, "after a break at the commit"));
	kept_once(st, "rp1", "after a break at the commit", 2);

	/* the next change, unbroken */
	trap_arm("none", 0);
	OK(devsys_store_transition(st, "rp1", DEVSYS_STATE_PR_OPENED, "the next change"));
	kept_once(st, "rp1", "the next change", 0);
	devsys_store_free(st);
}

/*
 * The control: the documents' replay broken too (the trap's first two
 * visits). The state change itself stands (committed before its
 * documents, once), the call says the store could not keep them, and the
 * store's copies are the older ones, which the checks above would catch.
 * The next change puts the folder's documents again: they are the
 * folder's once more.
 */
Test(pg_store, a_broken_replay_leaves_the_documents_behind_until_the_next_change)
{
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "rp2", NULL));
	OK(devsys_store_transition(st, "rp2", DEVSYS_STATE_VALIDATED, "first"));
	trap_install();
	trap_arm("put documents rp2/events.jsonl", 2);
	cr_assert_eq(devsys_store_transition(st, "rp2", DEVSYS_STATE_CHECKED_OUT, "second"), DEVSYS_ENETWORK, "%s",
	             MSG);
	cr_assert(strstr(MSG, url), "the error names the store: %s", MSG);
	cr_assert_eq(devsys_store_task_state(st, "rp2"), DEVSYS_STATE_CHECKED_OUT, "the change itself committed");
	/* the events' upsert and its replay, both broken */
	changed_once("rp2", "second", 2);
	cr_assert(!store_has_folders(st, "rp2", "task.json"), "the store kept the new task.json");
	cr_assert(!store_has_folders(st, "rp2", "events.jsonl"), "the store kept the new events");
	OK(devsys_store_document(&b, st, "rp2", "task.json"));
	cr_assert(strstr(b.ptr, "\"validated\""), "the store's task.json is the one before: %s", b.ptr);
	devsys_buf_dispose(&b);

	/* the trap's third visit, at this change's events, no longer breaks */
	OK(devsys_store_transition(st, "rp2", DEVSYS_STATE_CODED, "third"));
	changed_once("rp2", "second", 3);
	kept_once(st, "rp2", "third", 3);
	devsys_store_free(st);
}

/*
 * A loopback TCP relay between the store and the server that can lose the
 * answer to a message: armed with bytes and n, it passes the n-th message
 * holding those bytes on to the server (commit_msg: libpq's simple-query
 * COMMIT), waits for the server's answer (the server has run it, and
 * committed a statement that commits), drops it and closes both sides. The
 * store sees its connection lost though the write took effect: the case
 * that no trigger can make, since triggers run before the commit.
 */
typedef struct relay {
	int lfd, port, pg_port;
	pthread_t th;
	pthread_mutex_t mu;
	const char *pat; /* the bytes of the message whose answer to lose */
	size_t patlen;
	int arm;     /* which of those messages, counted from the arming; 0: none */
	int again;   /* after losing one answer, lose the next such message's too, this many times */
	int dropped; /* answers lost so far */
	bool stop;
} relay;

static const char __attribute__((unused)) commit_msg[] = { 'Q', 0, 0, 0, 11, 'C', 'O', 'M', 'M', 'I', 'T', 0 };

/* Pass bytes between @p c (the store) and @p s (the server) until either side closes or the relay drops them. */
static void relay_pass(relay *r, int c, int s)
{
	char buf[65536];
	for (;;) {
		struct pollfd fds[2] = { { c, POLLIN, 0 }, { s, POLLIN, 0 } };
		ssize_t n;
		bool lose = false;
		if (poll(fds, 2, 200) < 0)
			return;
		pthread_mutex_lock(&r->mu);
		if (r->stop) {
			pthread_mutex_unlock(&r->mu);
			return;
		}
		pthread_mutex_unlock(&r->mu);
		if (fds[0].revents) {
			if ((n = read(c, buf, sizeof(buf))) <= 0)
				return;
			pthread_mutex_lock(&r->mu);
			if (r->arm > 0 && memmem(buf, (size_t)n, r->pat, r->patlen) && --r->arm == 0) {
				lose = true;
				if (r->again > 0) {
					r->again--;
					r->arm = 1;
				}
			}
			pthread_mutex_unlock(&r->mu);
			if (write(s, buf, (size_t)n) != n)
				return;
			if (lose) {
				struct pollfd w = { s, POLLIN, 0 };
				/* the server's answer: it committed; the store never gets it */
				if (poll(&w, 1, 10000) == 1 && read(s, buf, sizeof(buf)) > 0) {
					pthread_mutex_lock(&r->mu);
					r->dropped++;
					pthread_mutex_unlock(&r->mu);
				}
				return;
			}
		}
		if (fds[1].revents) {
			if ((n = read(s, buf, sizeof(buf))) <= 0 || write(c, buf, (size_t)n) != n)
				return;
		}
	}
}

static void *relay_main(void *arg)
{
	relay *r = arg;
	for (;;) {
		struct pollfd l = { r->lfd, POLLIN, 0 };
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->pg_port) };
		int c, s;
		bool stop;
		pthread_mutex_lock(&r->mu);
		stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			return NULL;
		if (poll(&l, 1, 200) != 1 || (c = accept(r->lfd, NULL, NULL)) < 0)
			continue;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			relay_pass(r, c, s);
		if (s >= 0)
			close(s);
		close(c);
	}
}

static relay *relay_start(int pg_port)
{
	relay *r = calloc(1, sizeof(*r));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	cr_assert(r);
	r->pg_port = pg_port;
	pthread_mutex_init(&r->mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert((r->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(r->lfd, 4), 0);
	cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)&sa, &len), 0);
	r->port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&r->th, NULL, relay_main, r), 0);
	return r;
}

static void relay_arm_again(relay *r, const char *pat, size_t patlen, int nth, int again)
{
	pthread_mutex_lock(&r->mu);
	r->pat = pat;
	r->patlen = patlen;
	r->arm = nth;
	r->again = again;
	pthread_mutex_unlock(&r->mu);
}

static void relay_arm(relay *r, const char *pat, size_t patlen, int nth)
{
	relay_arm_again(r, pat, patlen, nth, 0);
}

static int relay_dropped(relay *r)
{
	int n;
	pthread_mutex_lock(&r->mu);
	n = r->dropped;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* The test's database through @p r, its password in the PGPASSFILE for the relay's port too; free() it. */
static char *relay_url(const relay *r)
{
	char *line, *via;
	cr_assert(asprintf(&line, "127.0.0.1:*:*:devsys:%s\n", pg->password) > 0);
	cr_assert(dt_write_file(pgpass, line));
	free(line);
	cr_assert(asprintf(&via, "postgresql://devsys@127.0.0.1:%d/%s", r->port, strrchr(url, '/') + 1) > 0);
	return via;
}

/* A relay to the test's database and a store opened through it (the URL in *@p via: free() it). */
static relay *relay_store(devsys_store **st, char **via)
{
	relay *r = relay_start(pg->port);
	*via = relay_url(r);
	OK(open_url(st, *via, NULL, NULL));
	return r;
}

static void relay_stop(relay *r)
{
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->th, NULL);
	close(r->lfd);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/*
 * The answer to the write of a state change's documents lost after the
 * server ran it: the first message that carries the events document (the
 * documents' one upsert committed on its own, or the events' upsert in the
 * documents' transaction, as the backend sends them). The documents are
 * put again, the same documents whether the lost write took effect or not,
 * and the change happened once. The relay's count says the answer was
 * dropped.
 */
Test(pg_store, a_documents_write_whose_answer_is_lost_is_put_again)
{
	static const char events_doc[] = "events.jsonl"; /* a parameter of the message that writes it */
	devsys_store *st = NULL;
	relay *r;
	char *via;
	dt_pg_need(pg);
	r = relay_store(&st, &via);
	OK(devsys_store_task_create(st, "lc1", NULL));
	OK(devsys_store_transition(st, "lc1", DEVSYS_STATE_VALIDATED, "first"));
	trap_install(); /* for changed_once's count of its visits: never armed */

	relay_arm(r, events_doc, strlen(events_doc), 1);
	OK(devsys_store_transition(st, "lc1", DEVSYS_STATE_CHECKED_OUT, "documents write lost"));
	cr_assert_eq(relay_dropped(r), 1, "the documents' write was not answered, or its answer not dropped");
	kept_once(st, "lc1", "documents write lost", 0);

	OK(devsys_store_transition(st, "lc1", DEVSYS_STATE_CODED, "the next change"));
	cr_assert_eq(relay_dropped(r), 1);
	kept_once(st, "lc1", "the next change", 0);
	devsys_store_free(st);
	relay_stop(r);
	free(via);
}

/*
 * The answer to the state change's own COMMIT, which took effect, lost
 * with the connection (the first COMMIT after the arming). The change
 * must have happened once, the call must say so, and the folder and the
 * store's documents must have it. Today the store runs the committed
 * transaction again, which fails: "task 'lc2' cannot go from checked-out
 * to checked-out", and neither the folder nor the documents get the change.
 */
Test(pg_store, a_state_changes_commit_whose_answer_is_lost_is_not_made_twice)
{
	devsys_store *st = NULL;
	relay *r;
	char *via;
	dt_pg_need(pg);
	r = relay_store(&st, &via);
	OK(devsys_store_task_create(st, "lc2", NULL));
	OK(devsys_store_transition(st, "lc2", DEVSYS_STATE_VALIDATED, "first"));
	trap_install(); /* for changed_once's count of its visits: never armed */

	relay_arm(r, commit_msg, sizeof(commit_msg), 1);
	cr_assert_eq(devsys_store_transition(st, "lc2", DEVSYS_STATE_CHECKED_OUT, "state commit lost"), 0, "%s", MSG);
	cr_assert_eq(relay_dropped(r), 1, "the state change's COMMIT answer was not dropped");
	kept_once(st, "lc2", "state commit lost", 0);
	devsys_store_free(st);
	relay_stop(r);
	free(via);
}

/*
 * The answer to a claim lost after the server ran it: the worker must hold
 * only the tasks it knows it holds. The first claim prepares the statement
 * (its Parse holds the name too), so the relay loses the answer to the
 * second's Bind and Execute. A claim runs first in a transaction left open
 * for its documents (claim_open): that answer lost, nothing committed, and
 * the store claims again with the claim committed on its own, whose answer
 * the relay loses too (@p again 1). That one did commit: the store learns
 * from its token what it took. Before the token, the store ran the claim
 * again on a new connection: the worker got q2, and q1 stayed held by it,
 * unknown, until its lease ended (the claim log had three claims for two
 * answers). With @p again 0 only the first answer is lost: one claim in
 * the log, the one the call said.
 */
static void claim_answer_lost(int again)
{
	static const char claim_name[] = "\0devsys_claim"; /* a Bind: the empty portal's name, then the statement's */
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	relay *r;
	char *via, *v, want[64];
	int rc;
	r = relay_store(&st, &via);
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "q%d", i);
		OK(devsys_store_task_create(st, id, NULL));
		OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL));
		OK(devsys_store_submit(st, id, NULL, NULL));
	}
	OK(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000));
	cr_assert_str_eq(b.ptr, "q0");
	relay_arm_again(r, claim_name, sizeof(claim_name), 1, again);
	rc = devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000);
	cr_assert_eq(relay_dropped(r), 1 + again, "the claim's answers were not dropped");
	/* what w1 holds: q0 and the task this claim said it took (none when it failed) */
	snprintf(want, sizeof(want), "q0%s%s", rc == 0 ? "," : "", rc == 0 ? b.ptr : "");
	v = sql1(url, "SELECT string_agg(task_id, ',' ORDER BY task_id) FROM queue WHERE owner = 'w1';");
	cr_assert_str_eq(v, want, "w1 holds %s, but its claims said %s (the second: rc %d)", v, want, rc);
	free(v);
	v = sql1(url, "SELECT count(*) FROM claims;");
	cr_assert_str_eq(v, rc == 0 ? "2" : "1", "the claim log: %s claims for %s answers", v, rc == 0 ? "2" : "1");
	free(v);
	cr_assert_eq(rc, 0, "the claim failed: %s", MSG);
	devsys_buf_dispose(&b);
	devsys_store_free(st);
	relay_stop(r);
	free(via);
}

Test(pg_store, a_claim_whose_answer_is_lost_takes_one_task)
{
	dt_pg_need(pg);
	claim_answer_lost(1);
}

Test(pg_store, a_claim_lost_in_its_open_transaction_commits_nothing_and_claims_again)
{
	dt_pg_need(pg);
	claim_answer_lost(0);
}

/*
 * The connection broken inside the claim's open transaction, at its
 * documents' upsert (the trap ends the session there): nothing of the
 * claim committed, though the folder already has it. The store claims
 * again; the folder, ahead of the store, is refreshed from the store's
 * copy before the change is written again, so it has the claim once, as
 * the store does. The trap's visits say the break came there (the first)
 * and the claim made again put its documents (the second).
 */
Test(pg_store, a_claim_whose_documents_break_its_connection_is_made_once)
{
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char *v;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	OK(devsys_store_task_create(st, "cb0", NULL));
	OK(devsys_store_transition(st, "cb0", DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, "cb0", NULL, NULL));
	trap_install();
	trap_arm("put documents cb0/task.json", 1);
	cr_assert_eq(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000), 0, "%s", MSG);
	cr_assert_str_eq(b.ptr, "cb0");
	kept_once(st, "cb0", "claimed by worker w1 on h", 2); /* the break, then the claim made again */
	v = sql1(url, "SELECT string_agg(task_id || ':' || owner || ':' || how, ',' ORDER BY seq) FROM claims;");
	cr_assert_str_eq(v, "cb0:w1:held", "the claim log");
	free(v);
	devsys_buf_dispose(&b);
	devsys_store_free(st);
}

/*
 * Task @p id queued, its events.jsonl (@p path, 4096 bytes) swapped for a
 * symbolic link out of the workspace, the file kept at @p keep: a claim
 * that must write the folder cannot.
 */
static void queue_unwritable(devsys_store *st, const char *id, char *path, char *keep)
{
	OK(devsys_store_task_create(st, id, NULL));
	OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, id, NULL, NULL));
	snprintf(path, 4096, "%s/tasks/%s/events.jsonl", dir, id);
	snprintf(keep, 4096, "%s/%s-events.jsonl", dir, id);
	cr_assert_eq(rename(path, keep), 0);
	cr_assert_eq(symlink("/etc/hostname", path), 0);
}

/* The link gone and the events file back. */
static void writable_again(const char *path, const char *keep)
{
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rename(keep, path), 0);
}

/*
 * A claim whose folder cannot be written (its events.jsonl a symbolic link
 * out of the workspace, which the record refuses) fails naming the
 * problem, and takes nothing: the claim's transaction is rolled back, so
 * the task stays free and the claim log empty, rather than the task held
 * by a worker that was told it failed. With the link gone the next claim
 * takes it (the control).
 */
Test(pg_store, a_claim_whose_folder_cannot_be_written_takes_nothing)
{
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char path[4096], keep[4096], *v;
	int rc;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	queue_unwritable(st, "rb0", path, keep);
	rc = devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000);
	cr_assert(rc < 0 && rc != DEVSYS_ENOTFOUND, "the claim did not fail: rc %d, %s", rc, b.ptr ? b.ptr : "");
	cr_assert(strstr(MSG, "events.jsonl") || strstr(MSG, "rb0"), "the error names neither the file nor the task: %s", MSG);
	v = sql1(url, "SELECT owner || '|' || (SELECT count(*) FROM claims) FROM queue WHERE task_id = 'rb0';");
	cr_assert_str_eq(v, "|0", "the failed claim left the task held or logged (owner|claims): %s", v);
	free(v);

	writable_again(path, keep);
	OK(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000));
	cr_assert_str_eq(b.ptr, "rb0");
	v = sql1(url, "SELECT owner || '|' || (SELECT count(*) FROM claims) FROM queue WHERE task_id = 'rb0';");
	cr_assert_str_eq(v, "w1|1");
	free(v);
	devsys_buf_dispose(&b);
	devsys_store_free(st);
}

/* How many warnings the suite's server has logged (a ROLLBACK that found no transaction to end is one). */
static int server_warnings(void)
{
	char *log = dt_read_file(pg->log, NULL), *at;
	int n = 0;
	cr_assert(log, "cannot read the server log %s", pg->log);
	for (at = log; (at = strstr(at, "WARNING:")); at++)
		n++;
	free(log);
	return n;
}

/*
 * A claim that takes nothing (an empty queue: an idle worker's every poll)
 * and one undone because its folder could not be written end their
 * transaction without a ROLLBACK the server finds nothing to end: inside
 * libpq's pipeline the transaction is implicit, and the server logs a
 * warning for each such ROLLBACK. The control: a ROLLBACK outside any
 * transaction is counted, so the log is read and warnings reach it. (The
 * suite's tests run one at a time, so no other test adds to the count.)
 */
Test(pg_store, a_claim_that_takes_nothing_leaves_no_warning_in_the_server_log)
{
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	char path[4096], keep[4096], *v;
	int before, rc;
	dt_pg_need(pg);
	OK(open_url(&st, url, NULL, NULL));
	before = server_warnings();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000), DEVSYS_ENOTFOUND, "%s", MSG);

	queue_unwritable(st, "nw0", path, keep);
	rc = devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000);
	cr_assert(rc < 0 && rc != DEVSYS_ENOTFOUND, "the claim did not fail: rc %d", rc);
	writable_again(path, keep);
	v = sql1(url, "SELECT owner || '|' || (SELECT count(*) FROM claims WHERE task_id = 'nw0') FROM queue "
	              "WHERE task_id = 'nw0';");
	cr_assert_str_eq(v, "|0", "the undone claim left the task held or logged (owner|claims): %s", v);
	free(v);
	cr_assert_eq(server_warnings(), before, "the server logged a warning for a claim (a ROLLBACK of no transaction?)");

	v = sql1(url, "ROLLBACK;"); /* the control */
	free(v);
	cr_assert_eq(server_warnings(), before + 1, "a ROLLBACK of no transaction was not found in the server log");
	OK(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000));
	cr_assert_str_eq(b.ptr, "nw0");
	devsys_buf_dispose(&b);
	devsys_store_free(st);
}

/*
 * The answer to the commit of a claim and its documents (their upsert and
 * the Sync, one message; claim_open) lost after the server committed: the
 * claim stands, once, the call says so, and the store's documents are the
 * folder's. The relay loses the answer to the first message that binds a
 * documents' statement after the arming: the claim's. The rows' xmin says
 * the claim and its documents were one transaction.
 */
Test(pg_store, a_claims_commit_with_its_documents_whose_answer_is_lost_stands_once)
{
	static const char docs_name[] = "\0devsys_docs"; /* a Bind of the prepared documents' upsert */
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	relay *r;
	char *via, *v;
	dt_pg_need(pg);
	r = relay_store(&st, &via);
	OK(devsys_store_task_create(st, "cd0", NULL));
	OK(devsys_store_transition(st, "cd0", DEVSYS_STATE_VALIDATED, NULL));
	OK(devsys_store_submit(st, "cd0", NULL, NULL));
	trap_install(); /* for changed_once's count of its visits: never armed */

	relay_arm(r, docs_name, sizeof(docs_name) - 1, 1);
	cr_assert_eq(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000), 0, "%s", MSG);
	cr_assert_str_eq(b.ptr, "cd0");
	cr_assert_eq(relay_dropped(r), 1, "the claim's commit answer was not dropped");
	kept_once(st, "cd0", "claimed by worker w1 on h", 0);
	v = sql1(url, "SELECT string_agg(task_id || ':' || owner || ':' || how, ',' ORDER BY seq) FROM claims;");
	cr_assert_str_eq(v, "cd0:w1:held");
	free(v);
	/* one commit: the claim log's row and the documents' rows were written by one transaction */
	v = sql1(url, "SELECT string_agg(DISTINCT x, ',') FROM (SELECT xmin::text AS x FROM claims WHERE task_id = 'cd0' "
	              "UNION ALL SELECT xmin::text FROM documents WHERE task_id = 'cd0' AND name <> 'spec.yaml') s;");
	cr_assert(v[0] && !strchr(v, ','), "the claim and its documents committed apart (transactions %s)", v);
	free(v);
	OK(devsys_store_complete(st, "cd0", "w1"));
	devsys_buf_dispose(&b);
	devsys_store_free(st);
	relay_stop(r);
	free(via);
}

/*
 * The answer to a complete (one prepared statement, committed on its own)
 * lost after the server ran it: the worker completed the task, and must
 * be told so. Today the store runs the complete again, which finds the
 * lease gone: DEVSYS_ESTATE "task 'q1' is not leased by worker 'w1' (the
 * lease expired or was handed back)", for a task it did complete.
 */
Test(pg_store, a_complete_whose_answer_is_lost_says_it_completed)
{
	static const char complete_name[] = "\0devsys_complete"; /* a Bind of the prepared complete */
	devsys_store *st = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	relay *r;
	char *via, *v;
	dt_pg_need(pg);
	r = relay_store(&st, &via);
	for (int i = 0; i < 2; i++) {
		char id[8];
		snprintf(id, sizeof(id), "q%d", i);
		OK(devsys_store_task_create(st, id, NULL));
		OK(devsys_store_transition(st, id, DEVSYS_STATE_VALIDATED, NULL));
		OK(devsys_store_submit(st, id, NULL, NULL));
	}
	/* the first complete prepares the statement */
	OK(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000));
	OK(devsys_store_complete(st, "q0", "w1"));
	OK(devsys_store_claim(&b, st, "w1", "h", NULL, 0, 60000));
	cr_assert_str_eq(b.ptr, "q1");
	relay_arm(r, complete_name, sizeof(complete_name), 1);
	cr_assert_eq(devsys_store_complete(st, "q1", "w1"), 0, "%s", MSG);
	cr_assert_eq(relay_dropped(r), 1, "the complete's answer was not dropped");
	v = sql1(url, "SELECT string_agg(task_id || ':' || how, ',' ORDER BY seq) FROM claims;");
	cr_assert_str_eq(v, "q0:completed,q1:completed");
	free(v);
	devsys_buf_dispose(&b);
	devsys_store_free(st);
	relay_stop(r);
	free(via);
}
