/*
 * `devsys validate` and `devsys schema`: output format and exit codes.
 */
#include "testutil.h"
#include <devsys.h>

#include <stdlib.h>
#include <string.h>

static const char *cli(void)
{
	const char *p = getenv("DEVSYS_CLI");
	cr_assert_not_null(p, "DEVSYS_CLI is set by ctest");
	return p;
}

static char *dir;

static void setup(void)
{
	dir = dt_tmpdir("spec-cli");
}

static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
}

TestSuite(spec_cli, .init = setup, .fini = teardown);

static char *file(const char *name, const char *text)
{
	char *p;
	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	cr_assert(dt_write_file(p, text));
	return p;
}

Test(spec_cli, valid_specs_exit_0)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' validate '%s/specs/create-blog.yaml' '%s/specs/runner-dind.yaml'", cli(),
	                         DEVSYS_SOURCE_DIR, DEVSYS_SOURCE_DIR);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "create-blog.yaml: valid (create-blog)"), "%s", out);
	free(out);
}

Test(spec_cli, invalid_spec_prints_file_line_col_pointer_and_exits_1)
{
	char *p = file("bad.yaml", "id: x\ntitle: T\nprompt: p\nrepo:\n  url: https://x/y\nagent:\n  command: [a]\n"
	                           "  shell: true\n");
	int st;
	char *out = dt_sh_output(&st, "'%s' validate '%s'", cli(), p);
	cr_assert_eq(st, 1, "%s", out);
	char want[600];
	snprintf(want, sizeof(want), "%s:8:10: /agent/shell: 'shell' grants privilege", p);
	cr_assert(strstr(out, want), "want '%s' in:\n%s", want, out);
	free(out);
	out = dt_sh_output(&st, "'%s' --json validate '%s'", cli(), p);
	cr_assert_eq(st, 1);
	devsys_spec *s = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&s, out, strlen(out), "out", NULL), 0, "not JSON: %s", out);
	cr_assert_not(devsys_node_bool(devsys_node_get(devsys_spec_at(s, 0), "/valid")));
	cr_assert_str_eq(devsys_spec_get_string(s, "/files/0/documents/0/errors/0/instanceLocation"), "/agent/shell");
	cr_assert_eq(devsys_node_number(devsys_node_get(devsys_spec_at(s, 0), "/files/0/documents/0/errors/0/line")), 8);
	devsys_spec_free(s);
	free(out);
	free(p);
}

Test(spec_cli, unreadable_or_unparsable_exits_2)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' validate '%s/nope.yaml' 2>&1", cli(), dir);
	cr_assert_eq(st, 2, "%s", out);
	free(out);
	char *p = file("dup.yaml", "id: a\nid: b\n");
	out = dt_sh_output(&st, "'%s' validate '%s' 2>&1", cli(), p);
	cr_assert_eq(st, 2, "%s", out);
	cr_assert(strstr(out, ":2:5: duplicate key 'id'"), "%s", out);
	free(out);
	/* unreadable wins over invalid */
	char *q = file("inv.yaml", "id: a\n");
	out = dt_sh_output(&st, "'%s' validate '%s' '%s' 2>&1", cli(), q, p);
	cr_assert_eq(st, 2, "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' validate 2>&1", cli());
	cr_assert_eq(st, 2, "%s", out);
	free(out);
	free(p);
	free(q);
}

Test(spec_cli, multi_document_file)
{
	char *p = file("two.yaml", "id: a1\ntitle: A\nprompt: p\nrepo: {url: 'https://x/y'}\n---\nid: a2\ntitle: B\n");
	int st;
	char *out = dt_sh_output(&st, "'%s' validate '%s'", cli(), p);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "document 1 (a1): valid"), "%s", out);
	cr_assert(strstr(out, ":6:1: /: "), "%s", out);
	free(out);
	free(p);
}

Test(spec_cli, schema_prints_the_canonical_schema)
{
	int st;
	char *out = dt_sh_output(&st, "'%s' schema", cli());
	cr_assert_eq(st, 0);
	char *want = dt_read_file(DEVSYS_SOURCE_DIR "/specs/task.schema.json", NULL);
	cr_assert_not_null(want);
	cr_assert(strncmp(out, want, strlen(want)) == 0, "devsys schema differs from specs/task.schema.json");
	free(want);
	free(out);
}
