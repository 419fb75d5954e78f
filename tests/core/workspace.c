#include "testutil.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void setup(void) { cr_assert_eq(devsys_init(), 1); }
static void teardown(void) { devsys_shutdown(); }
TestSuite(core_workspace, .init = setup, .fini = teardown);

Test(core_workspace, open_creates_layout)
{
	char *dir = dt_tmpdir("ws");
	char path[4096], tasks[4200];
	devsys_workspace *ws = NULL;
	snprintf(path, sizeof(path), "%s/deep/ws", dir);
	cr_assert_eq(devsys_workspace_open(&ws, path, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_not_null(ws);
	cr_assert_eq(devsys_workspace_path(ws)[0], '/');
	snprintf(tasks, sizeof(tasks), "%s/tasks", devsys_workspace_path(ws));
	cr_assert(dt_exists(tasks));
	devsys_workspace_free(ws);
	devsys_workspace_free(NULL);
	dt_rmrf(dir);
	free(dir);
}

Test(core_workspace, default_path_honours_environment)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	char *dir = dt_tmpdir("ws");
	devsys_workspace *ws = NULL;
	unsetenv("DEVSYS_WORKSPACE");
	cr_assert_eq(devsys_workspace_default_path(&b), 0);
	cr_assert_str_eq(b.ptr, "./.devsys");
	setenv("DEVSYS_WORKSPACE", dir, 1);
	cr_assert_eq(devsys_workspace_default_path(&b), 0);
	cr_assert_str_eq(b.ptr, dir);
	cr_assert_eq(devsys_workspace_open(&ws, NULL, NULL), 0);
	cr_assert(strstr(devsys_workspace_path(ws), "ws-") != NULL);
	devsys_workspace_free(ws);
	unsetenv("DEVSYS_WORKSPACE");
	devsys_buf_dispose(&b);
	dt_rmrf(dir);
	free(dir);
}

Test(core_workspace, no_create_on_missing_is_not_found)
{
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	char *dir = dt_tmpdir("ws");
	char path[4096];
	snprintf(path, sizeof(path), "%s/missing", dir);
	o.flags = DEVSYS_WORKSPACE_NO_CREATE;
	cr_assert_eq(devsys_workspace_open(&ws, path, &o), DEVSYS_ENOTFOUND);
	cr_assert_null(ws);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), path) != NULL);
	cr_assert_not(dt_exists(path));
	dt_rmrf(dir);
	free(dir);
}

Test(core_workspace, unknown_options_version_is_refused)
{
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	char *dir = dt_tmpdir("ws");
	char path[4096];
	snprintf(path, sizeof(path), "%s/w", dir);
	o.version = 0;
	cr_assert_eq(devsys_workspace_open(&ws, path, &o), DEVSYS_EVERSION);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "version 0") != NULL);
	o.version = DEVSYS_WORKSPACE_OPTIONS_VERSION + 1;
	cr_assert_eq(devsys_workspace_open(&ws, path, &o), DEVSYS_EVERSION);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "_INIT") != NULL);
	cr_assert_not(dt_exists(path), "nothing may be created for a refused call");
	cr_assert_eq(devsys_workspace_options_init(&o, 0), DEVSYS_EVERSION);
	cr_assert_eq(devsys_workspace_options_init(&o, 99), DEVSYS_EVERSION);
	cr_assert_eq(devsys_workspace_options_init(NULL, 1), DEVSYS_EINVAL);
	cr_assert_eq(devsys_workspace_options_init(&o, 1), 0);
	cr_assert_eq(o.version, 1);
	cr_assert_eq(o.log_level, DEVSYS_LOG_INFO);
	dt_rmrf(dir);
	free(dir);
}

Test(core_workspace, null_handles_are_einval)
{
	cr_assert_eq(devsys_workspace_open(NULL, "/tmp/x", NULL), DEVSYS_EINVAL);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "'out'") != NULL);
	cr_assert_eq(devsys_workspace_set_logger(NULL, 0, NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_workspace_add_redactor(NULL, NULL, NULL), DEVSYS_EINVAL);
	cr_assert_null(devsys_workspace_path(NULL));
	devsys_workspace_log(NULL, DEVSYS_LOG_ERROR, "x", "ignored");
}

Test(core_workspace, file_where_directory_expected_is_eio)
{
	char *dir = dt_tmpdir("ws");
	char path[4096], inner[4200];
	devsys_workspace *ws = NULL;
	snprintf(path, sizeof(path), "%s/file", dir);
	cr_assert(dt_write_file(path, "not a dir"));
	cr_assert_eq(devsys_workspace_open(&ws, path, NULL), DEVSYS_EIO);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "not a directory") != NULL);
	/* tasks/ being a file is caught too */
	snprintf(path, sizeof(path), "%s/ws2", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/tasks", path);
	cr_assert(dt_write_file(inner, "x"));
	cr_assert_eq(devsys_workspace_open(&ws, path, NULL), DEVSYS_EIO);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "tasks") != NULL);
	dt_rmrf(dir);
	free(dir);
}

Test(core_workspace, read_only_mount_is_eaccess_and_writes_nothing)
{
	char *dir = dt_tmpdir("ws");
	char ro[4096], ws_path[4200];
	devsys_workspace *ws = NULL;
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	cr_assert_eq(mkdir(ro, 0700), 0);
	if (mount(ro, ro, NULL, MS_BIND, NULL) != 0 ||
	    mount(NULL, ro, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
		umount2(ro, MNT_DETACH);
		dt_rmrf(dir);
		dt_skip("cannot make a read-only bind mount here (needs root and CAP_SYS_ADMIN)");
	}
	cr_assert_eq(devsys_workspace_open(&ws, ro, NULL), DEVSYS_EACCESS);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "not writable") != NULL);
	snprintf(ws_path, sizeof(ws_path), "%s/sub", ro);
	cr_assert_eq(devsys_workspace_open(&ws, ws_path, NULL), DEVSYS_EACCESS);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), ws_path) != NULL);
	umount2(ro, MNT_DETACH);
	cr_assert_eq(dt_sh("test -z \"$(ls -A '%s')\"", ro), 0, "nothing may be written");
	dt_rmrf(dir);
	free(dir);
}

struct captured {
	int count;
	char last[512];
	char component[64];
};

static void capture(int level, const char *component, const char *message, void *payload)
{
	struct captured *c = payload;
	(void)level;
	c->count++;
	snprintf(c->last, sizeof(c->last), "%s", message);
	snprintf(c->component, sizeof(c->component), "%s", component);
}

static int upper_x(void *self, const char *text, size_t len, devsys_buf *out)
{
	(void)self;
	for (size_t i = 0; i < len; i++) {
		char c = text[i] == 'x' ? 'X' : text[i];
		devsys_buf_put(out, &c, 1);
	}
	return 0;
}

static int mask_secret(void *self, const char *text, size_t len, devsys_buf *out)
{
	const char *secret = self;
	const char *hit = strstr(text, secret);
	(void)len;
	if (!hit)
		return devsys_buf_puts(out, text);
	devsys_buf_put(out, text, (size_t)(hit - text));
	devsys_buf_puts(out, "[MASKED:tok]");
	return devsys_buf_puts(out, hit + strlen(secret));
}

static int always_fail(void *self, const char *text, size_t len, devsys_buf *out)
{
	(void)self; (void)text; (void)len; (void)out;
	return -1;
}

static int released;
static void count_release(void *self) { (void)self; released++; }

Test(core_workspace, logging_passes_every_redactor_in_order)
{
	static const devsys_redactor_vtable masker = { DEVSYS_REDACTOR_VTABLE_VERSION, mask_secret, count_release };
	static const devsys_redactor_vtable upper = { 1, upper_x, NULL };
	struct captured c = { 0 };
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	devsys_workspace *ws = NULL;
	char *dir = dt_tmpdir("ws");

	o.log_cb = capture;
	o.log_payload = &c;
	o.log_level = DEVSYS_LOG_DEBUG;
	cr_assert_eq(devsys_workspace_open(&ws, dir, &o), 0);
	cr_assert_eq(devsys_workspace_add_redactor(ws, &masker, (void *)"s3cr3t-xyz"), 0);
	cr_assert_eq(devsys_workspace_add_redactor(ws, &upper, NULL), 0);
	c.count = 0;
	devsys_workspace_log(ws, DEVSYS_LOG_INFO, "test", "token=%s and x\n", "s3cr3t-xyz");
	cr_assert_eq(c.count, 1);
	cr_assert_str_eq(c.last, "token=[MASKED:tok] and X");
	cr_assert_str_eq(c.component, "test");
	devsys_workspace_log(ws, DEVSYS_LOG_TRACE, "test", "below threshold");
	cr_assert_eq(c.count, 1);
	released = 0;
	devsys_workspace_free(ws);
	cr_assert_eq(released, 1);
	dt_rmrf(dir);
	free(dir);
}

Test(core_workspace, failing_redactor_drops_the_message)
{
	static const devsys_redactor_vtable broken = { 1, always_fail, NULL };
	struct captured c = { 0 };
	devsys_workspace *ws = NULL;
	char *dir = dt_tmpdir("ws");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_workspace_set_logger(ws, DEVSYS_LOG_TRACE, capture, &c), 0);
	cr_assert_eq(devsys_workspace_add_redactor(ws, &broken, NULL), 0);
	devsys_workspace_log(ws, DEVSYS_LOG_ERROR, "test", "secret value here");
	cr_assert_eq(c.count, 0);
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
}

Test(core_workspace, redactor_vtable_versions_are_checked)
{
	devsys_redactor_vtable vt = { 0, upper_x, NULL };
	devsys_workspace *ws = NULL;
	char *dir = dt_tmpdir("ws");
	cr_assert_eq(devsys_workspace_open(&ws, dir, NULL), 0);
	cr_assert_eq(devsys_workspace_add_redactor(ws, &vt, NULL), DEVSYS_EVERSION);
	vt.version = DEVSYS_REDACTOR_VTABLE_VERSION + 1;
	cr_assert_eq(devsys_workspace_add_redactor(ws, &vt, NULL), DEVSYS_EVERSION);
	vt.version = 1;
	vt.redact = NULL;
	cr_assert_eq(devsys_workspace_add_redactor(ws, &vt, NULL), DEVSYS_EINVAL);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "redact") != NULL);
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
}

/* Level names: the fixed table, a static string (borrowed, the same each call), never NULL. */
Test(core_workspace, log_level_names)
{
	static const struct {
		int level;
		const char *name;
	} want[] = { { DEVSYS_LOG_TRACE, "trace" }, { DEVSYS_LOG_DEBUG, "debug" }, { DEVSYS_LOG_INFO, "info" },
		     { DEVSYS_LOG_WARN, "warn" },   { DEVSYS_LOG_ERROR, "error" }, { DEVSYS_LOG_NONE, "none" } };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *n = devsys_log_level_name(want[i].level);
		cr_assert_not_null(n);
		cr_assert_str_eq(n, want[i].name, "level %d", want[i].level);
		cr_assert_eq(devsys_log_level_name(want[i].level), n, "not a static string");
	}
	/* out of range: a name, never NULL, and not one of the real ones */
	const int bad[] = { -1, DEVSYS_LOG_NONE + 1, 1000, -2147483647 - 1 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *n = devsys_log_level_name(bad[i]);
		cr_assert_not_null(n, "level %d gave NULL", bad[i]);
		cr_assert_str_eq(n, "unknown", "level %d", bad[i]);
	}
}
