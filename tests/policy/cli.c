/*
 * `devsys gate explain`: every default glob classifies as docs/gate.md
 * says, case by case, with the operator's devsys.yaml read like other
 * commands read it (--config, $DEVSYS_CONFIG, ./devsys.yaml).
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *cli(void)
{
	const char *p = getenv("DEVSYS_CLI");
	cr_assert_not_null(p, "DEVSYS_CLI is set by ctest");
	return p;
}

static char *dir;

static void setup(void)
{
	dir = dt_tmpdir("gate-cli");
}
static void teardown(void)
{
	dt_rmrf(dir);
	free(dir);
}
TestSuite(policy_cli, .init = setup, .fini = teardown);

/* Run `devsys --json gate explain ARGS` in @p dir (no devsys.yaml there
 * unless a test writes one) and parse its output. */
static json_t *explain_json(int want_status, const char *args)
{
	int st;
	char *out = dt_sh_output(&st, "cd '%s' && env -u DEVSYS_CONFIG '%s' --json gate explain %s", dir, cli(), args);
	cr_assert_eq(st, want_status, "status %d for %s:\n%s", st, args, out);
	json_error_t err;
	json_t *j = json_loads(out, 0, &err);
	cr_assert_not_null(j, "not JSON (%s): %s", err.text, out);
	free(out);
	return j;
}

struct want {
	const char *path, *cls, *glob; /* glob NULL: none matched */
};

/* Every default glob, at least once, and what must not match it. */
static const struct want defaults[] = {
	{ "lib/policy/policy.c", "critical", "lib/**" },
	{ "src/devsys/main.c", "critical", "src/**" },
	{ "include/devsys.h", "critical", "include/**" },
	{ "abi/libdevsys.abi", "critical", "abi/**" },
	{ ".ci/run", "critical", ".ci/**" },
	{ ".github/workflows/test.yml", "critical", ".github/**" },
	{ "scripts/bootstrap", "critical", "scripts/**" },
	{ "cmake/DevsysModules.cmake", "critical", "cmake/**" },
	{ "CMakeLists.txt", "critical", "**/CMakeLists.txt" },
	{ "tests/policy/CMakeLists.txt", "critical", "**/CMakeLists.txt" },
	{ "specs/task.schema.json", "critical", "specs/*.json" },
	{ "specs/create-blog.yaml", "critical", "specs/*.y*ml" },
	{ "specs/runner.yml", "critical", "specs/*.y*ml" },
	{ "Dockerfile", "critical", "**/Dockerfile*" },
	{ "deploy/Dockerfile.prod", "critical", "**/Dockerfile*" },
	{ "compose.yaml", "critical", "**/compose*.y*ml" },
	{ "ops/compose.override.yml", "critical", "**/compose*.y*ml" },
	{ "infra/main.tf", "critical", "**/*.tf" },
	{ "devsys.yaml", "critical", "devsys.yaml" },
	{ ".gitattributes", "critical", ".gitattributes" },
	{ ".gitmodules", "critical", ".gitmodules" },
	{ "AGENTS.md", "critical", "AGENTS.md" },
	{ "CLAUDE.md", "critical", "CLAUDE.md" },
	{ "GEMINI.md", "critical", "GEMINI.md" },
	{ ".github/copilot-instructions.md", "critical", ".github/**" }, /* both critical: the first glob explains */
	{ ".specify/memory/constitution.md", "critical", ".specify/**" },
	{ ".claude/settings.json", "critical", ".claude/**" },
	{ ".opencode/agent.md", "critical", ".opencode/**" },
	{ ".cursor/rules", "critical", ".cursor/**" },
	{ "docs/gate.md", "low", "docs/**" },
	{ "docs/images/flow.svg", "low", "docs/**" },
	{ "README.md", "low", "**/*.md" },
	{ "examples/notes/TODO.md", "low", "**/*.md" },
	/* medium: everything else */
	{ "examples/hello.c", "medium", NULL },
	{ "tests/policy/glob.c", "medium", NULL },
	{ "package.json", "medium", NULL },
};

/* The cases the issue names one by one. */
static const struct want cases[] = {
	/* ** matches zero or more segments */
	{ "lib/x/y/z.c", "critical", "lib/**" },
	{ "vendor/lib/a.c", "medium", NULL }, /* the lib glob is anchored at the root */
	/* a basename-only pattern matches at any depth */
	{ "pkg/sub/AGENTS.md", "critical", "AGENTS.md" },
	{ "app/devsys.yaml", "critical", "devsys.yaml" },
	/* low and critical both match: critical wins */
	{ "docs/CMakeLists.txt", "critical", "**/CMakeLists.txt" },
	{ "lib/README.md", "critical", "lib/**" },
	/* spec-kit feature folders are not the task schema */
	{ "specs/001-feature/spec.md", "low", "**/*.md" },
	{ "specs/001-feature/contracts/api.json", "medium", NULL },
	{ "specs/001-feature/tasks.yaml", "medium", NULL },
	/* '*' does not cross '/' */
	{ "specs/sub/x.json", "medium", NULL },
};

static void check_list(const struct want *w, size_t n)
{
	char args[16384];
	size_t off = 0;
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(args + off, sizeof(args) - off, " '%s'", w[i].path);
	json_t *j = explain_json(0, args);
	json_t *paths = json_object_get(j, "paths");
	cr_assert_eq(json_array_size(paths), n);
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(paths, i);
		const char *glob = json_string_value(json_object_get(p, "glob"));
		cr_assert_str_eq(json_string_value(json_object_get(p, "path")), w[i].path);
		cr_assert_str_eq(json_string_value(json_object_get(p, "class")), w[i].cls, "%s", w[i].path);
		if (w[i].glob) {
			cr_assert_not_null(glob, "%s: no glob", w[i].path);
			cr_assert_str_eq(glob, w[i].glob, "%s", w[i].path);
			cr_assert_str_eq(json_string_value(json_object_get(p, "source")), "default");
		} else {
			cr_assert(json_is_null(json_object_get(p, "glob")), "%s matched %s", w[i].path, glob);
		}
	}
	json_decref(j);
}

Test(policy_cli, every_default_glob_classifies_as_documented)
{
	check_list(defaults, sizeof(defaults) / sizeof(defaults[0]));
}

Test(policy_cli, the_named_cases)
{
	check_list(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(policy_cli, the_change_class_is_the_highest_and_a_rename_counts_twice)
{
	json_t *j = explain_json(0, "docs/a.md README.md");
	cr_assert_str_eq(json_string_value(json_object_get(j, "class")), "low", "positive control");
	json_decref(j);
	j = explain_json(0, "docs/a.md app/x.py");
	cr_assert_str_eq(json_string_value(json_object_get(j, "class")), "medium");
	cr_assert_str_eq(json_string_value(json_object_get(j, "decided_by")), "app/x.py");
	json_decref(j);
	/* out of lib/ into docs/: critical, though the new path alone is low */
	j = explain_json(0, "docs/a.md --rename lib/gate.c docs/gate-notes.md");
	cr_assert_str_eq(json_string_value(json_object_get(j, "class")), "critical");
	json_t *paths = json_object_get(j, "paths");
	cr_assert_eq(json_array_size(paths), 3);
	json_t *old = json_array_get(paths, 1), *new = json_array_get(paths, 2);
	cr_assert_str_eq(json_string_value(json_object_get(old, "rename")), "old");
	cr_assert_str_eq(json_string_value(json_object_get(old, "class")), "critical");
	cr_assert_str_eq(json_string_value(json_object_get(new, "rename")), "new");
	cr_assert_str_eq(json_string_value(json_object_get(new, "class")), "low");
	json_decref(j);
	/* and into lib/ from docs/ */
	j = explain_json(0, "--rename docs/x.md lib/x.c");
	cr_assert_str_eq(json_string_value(json_object_get(j, "class")), "critical");
	json_decref(j);
}

Test(policy_cli, text_output)
{
	int st;
	char *out = dt_sh_output(&st, "cd '%s' && env -u DEVSYS_CONFIG '%s' gate explain lib/a.c notes.txt", dir, cli());
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "lib/a.c: critical (lib/**, default)\n"), "%s", out);
	cr_assert(strstr(out, "notes.txt: medium (no glob matched: everything else is medium)\n"), "%s", out);
	cr_assert(strstr(out, "class of the change: critical (decided by lib/a.c)\n"), "%s", out);
	free(out);
}

Test(policy_cli, reads_the_operators_devsys_yaml)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(path, "policy:\n  paths:\n    high:\n      - /Makefile\n      - 'deploy/**'\n"));
	/* ./devsys.yaml, as other commands read it */
	json_t *j = explain_json(0, "Makefile sub/Makefile deploy/run.sh");
	json_t *paths = json_object_get(j, "paths");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(paths, 0), "class")), "high");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(paths, 0), "source")), "devsys.yaml:4:9");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(paths, 1), "class")), "medium",
	                 "a leading '/' anchors at the root");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(paths, 2), "glob")), "deploy/**");
	json_decref(j);
	/* --config names another file; $DEVSYS_CONFIG too */
	char other[600];
	snprintf(other, sizeof(other), "%s/other.yaml", dir);
	cr_assert(dt_write_file(other, "policy:\n  paths:\n    defaults: false\n"));
	int st;
	char *out = dt_sh_output(&st, "cd '%s' && '%s' gate explain --config '%s' lib/a.c", dir, cli(), other);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "lib/a.c: medium (no glob matched"), "defaults replaced: %s", out);
	free(out);
	out = dt_sh_output(&st, "cd / && DEVSYS_CONFIG='%s' '%s' gate explain lib/a.c", other, cli());
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "lib/a.c: medium"), "%s", out);
	free(out);
}

Test(policy_cli, bad_input_is_clear)
{
	char path[600];
	int st;
	/* a bad glob in devsys.yaml: file:line:col, exit 1 (invalid configuration) */
	snprintf(path, sizeof(path), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(path, "policy:\n  paths:\n    low: ['docs/[x']\n"));
	char *out = dt_sh_output(&st, "cd '%s' && env -u DEVSYS_CONFIG '%s' gate explain a 2>&1", dir, cli());
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "devsys.yaml:3:11: policy.paths.low: glob 'docs/[x': unterminated character class"), "%s",
	          out);
	free(out);
	unlink(path);
	/* a bad path: usage (2), nothing printed on stdout */
	out = dt_sh_output(&st, "cd '%s' && env -u DEVSYS_CONFIG '%s' gate explain docs/a.md ../etc/passwd 2>/dev/null", dir,
	                   cli());
	cr_assert_eq(st, 2, "%s", out);
	cr_assert_str_eq(out, "");
	free(out);
	out = dt_sh_output(&st, "'%s' gate explain 2>&1", cli());
	cr_assert_eq(st, 2, "%s", out);
	cr_assert(strstr(out, "no PATH given"), "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' gate explain --bogus a 2>&1", cli());
	cr_assert_eq(st, 2, "%s", out);
	cr_assert(strstr(out, "unknown option '--bogus'"), "%s", out);
	free(out);
	/* after --, a path may start with '-' */
	out = dt_sh_output(&st, "cd '%s' && env -u DEVSYS_CONFIG '%s' gate explain -- -weird.md 2>&1", dir, cli());
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "-weird.md: low (**/*.md, default)"), "%s", out);
	free(out);
	out = dt_sh_output(&st, "'%s' gate frobnicate 2>&1", cli());
	cr_assert_eq(st, 2, "%s", out);
	cr_assert(strstr(out, "unknown subcommand 'frobnicate'"), "%s", out);
	free(out);
}
