/*
 * Spec loading: YAML and JSON into one model with positions, and every
 * bad input of issue 3 (each a clear error, no crash, bounded memory).
 */
#include "testutil.h"
#include "core/core.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static devsys_spec *load(const char *text)
{
	devsys_spec *s = NULL;
	int rc = devsys_spec_load_buffer(&s, text, strlen(text), "t.yaml", NULL);
	cr_assert_eq(rc, 0, "load failed: %s", devsys_error_message(devsys_error_last()));
	return s;
}

static int load_err(const char *text, size_t len, const devsys_spec_options *o)
{
	devsys_spec *s = (devsys_spec *)0x1;
	int rc = devsys_spec_load_buffer(&s, text, len, "bad.yaml", o);
	cr_assert_null(s, "out must be NULL on failure");
	return rc;
}

static const char *msg(void)
{
	return devsys_error_message(devsys_error_last());
}

Test(spec_load, yaml_positions_and_types)
{
	devsys_spec *s = load("id: demo\n"
	                      "count: 3\n"
	                      "ratio: 1.5\n"
	                      "on_ok: true\n"
	                      "nothing: ~\n"
	                      "quoted: \"yes\"\n"
	                      "repo:\n"
	                      "  url: https://x/y.git\n"
	                      "  labels: [a, b]\n");
	const devsys_node *root = devsys_spec_at(s, 0);
	cr_assert_eq(devsys_spec_count(s), 1);
	cr_assert_eq(devsys_spec_get_format(s), DEVSYS_SPEC_FORMAT_YAML);
	cr_assert_str_eq(devsys_spec_get_string(s, "/id"), "demo");
	const devsys_node *n = devsys_node_get(root, "/count");
	cr_assert_eq(devsys_node_get_type(n), DEVSYS_NODE_NUMBER);
	cr_assert(devsys_node_is_integer(n));
	cr_assert_eq(devsys_node_number(devsys_node_get(root, "/ratio")), 1.5);
	cr_assert_eq(devsys_node_get_type(devsys_node_get(root, "/on_ok")), DEVSYS_NODE_BOOL);
	cr_assert_eq(devsys_node_get_type(devsys_node_get(root, "/nothing")), DEVSYS_NODE_NULL);
	cr_assert_str_eq(devsys_node_string(devsys_node_get(root, "/quoted"), NULL), "yes");
	n = devsys_node_get(root, "/repo/url");
	cr_assert_eq(devsys_node_line(n), 8);
	cr_assert_eq(devsys_node_column(n), 8);
	cr_assert_str_eq(devsys_node_source(n), "t.yaml");
	n = devsys_node_get(root, "/repo/labels/1");
	cr_assert_str_eq(devsys_node_string(n, NULL), "b");
	cr_assert_eq(devsys_node_line(n), 9);
	cr_assert_eq(devsys_node_column(n), 15);
	cr_assert_null(devsys_node_get(root, "/repo/labels/2"));
	cr_assert_null(devsys_node_get(root, "repo"));
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_node_to_json(&b, devsys_node_get(root, "/repo")), 0);
	cr_assert_str_eq(b.ptr, "{\"url\":\"https://x/y.git\",\"labels\":[\"a\",\"b\"]}");
	devsys_buf_dispose(&b);
	devsys_spec_free(s);
}

Test(spec_load, json_positions_escapes_and_autodetect)
{
	const char *text = "{\n  \"id\": \"j1\",\n  \"a\": [1, 2.5e1, -0, \"\\u00e9\\ud83d\\ude00\"],\n  \"o\": {\"k\": null}\n}\n";
	devsys_spec *s = load(text);
	const devsys_node *root = devsys_spec_at(s, 0);
	cr_assert_eq(devsys_spec_get_format(s), DEVSYS_SPEC_FORMAT_JSON);
	const devsys_node *n = devsys_node_get(root, "/a/1");
	cr_assert_eq(devsys_node_number(n), 25.0);
	cr_assert(devsys_node_is_integer(n));
	cr_assert_eq(devsys_node_line(n), 3);
	cr_assert_eq(devsys_node_column(n), 12);
	cr_assert_str_eq(devsys_node_string(devsys_node_get(root, "/a/3"), NULL), "\xc3\xa9\xf0\x9f\x98\x80");
	cr_assert_eq(devsys_node_get_type(devsys_node_get(root, "/o/k")), DEVSYS_NODE_NULL);
	cr_assert_eq(devsys_node_line(devsys_node_get(root, "/o")), 4);
	devsys_spec_free(s);
}

Test(spec_load, multi_document_yaml)
{
	devsys_spec *s = load("id: one\n---\nid: two\n---\nid: three\n");
	cr_assert_eq(devsys_spec_count(s), 3);
	cr_assert_str_eq(devsys_node_string(devsys_node_get(devsys_spec_at(s, 2), "/id"), NULL), "three");
	cr_assert_eq(devsys_node_line(devsys_spec_at(s, 1)), 3);
	cr_assert_null(devsys_spec_at(s, 3));
	devsys_spec_free(s);
}

Test(spec_load, aliases_expand)
{
	devsys_spec *s = load("base: &b {image: x, n: 1}\nuse: *b\nlist: [*b, *b]\n");
	const devsys_node *root = devsys_spec_at(s, 0);
	cr_assert_str_eq(devsys_node_string(devsys_node_get(root, "/use/image"), NULL), "x");
	cr_assert_str_eq(devsys_node_string(devsys_node_get(root, "/list/1/image"), NULL), "x");
	devsys_spec_free(s);
}

Test(spec_load, alias_bomb_is_capped)
{
	const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	                   "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	                   "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	                   "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	                   "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	                   "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	                   "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	                   "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	                   "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	cr_assert_eq(load_err(bomb, strlen(bomb), NULL), DEVSYS_ELIMIT);
	cr_assert(strstr(msg(), "more than 1000000 nodes"), "%s", msg());
	/* the cap is configurable */
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	o.max_nodes = 50;
	const char *small = "a: &a [1,2,3,4,5,6,7,8,9,10]\nb: [*a,*a,*a,*a,*a]\n";
	cr_assert_eq(load_err(small, strlen(small), &o), DEVSYS_ELIMIT);
}

Test(spec_load, duplicate_keys)
{
	cr_assert_eq(load_err("a: 1\nb: 2\na: 3\n", 15, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "bad.yaml:3:4: duplicate key 'a'"), "%s", msg());
	const char *j = "{\"x\": 1, \"x\": 2}";
	cr_assert_eq(load_err(j, strlen(j), NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "duplicate key 'x'"), "%s", msg());
	/* large objects use the sorted check */
	devsys_buf b = DEVSYS_BUF_INIT;
	for (int i = 0; i < 5000; i++)
		devsys_buf_printf(&b, "k%d: %d\n", i, i);
	devsys_buf_puts(&b, "k4321: dup\n");
	cr_assert_eq(load_err(b.ptr, b.size, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "duplicate key 'k4321'"), "%s", msg());
	devsys_buf_dispose(&b);
}

Test(spec_load, non_core_tags_rejected)
{
	const char *t = "a: !!python/object:os.system x\n";
	cr_assert_eq(load_err(t, strlen(t), NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "is not allowed"), "%s", msg());
	t = "a: !custom {x: 1}\n";
	cr_assert_eq(load_err(t, strlen(t), NULL), DEVSYS_EPARSE);
	t = "a: !!binary aGVsbG8=\n";
	cr_assert_eq(load_err(t, strlen(t), NULL), DEVSYS_EPARSE);
	/* core tags are fine */
	devsys_spec *s = load("a: !!str 12\nb: !!int \"7\"\nc: !!float 1\n");
	cr_assert_str_eq(devsys_spec_get_string(s, "/a"), "12");
	cr_assert_eq(devsys_node_number(devsys_node_get(devsys_spec_at(s, 0), "/b")), 7.0);
	devsys_spec_free(s);
}

Test(spec_load, yaml11_booleans_rejected_everywhere)
{
	const char *words[] = { "yes", "No", "ON", "off", "y", "N" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		char t[64];
		snprintf(t, sizeof(t), "draft: %s\n", words[i]);
		cr_assert_eq(load_err(t, strlen(t), NULL), DEVSYS_EPARSE, "%s", words[i]);
		cr_assert(strstr(msg(), "YAML 1.1"), "%s", msg());
		snprintf(t, sizeof(t), "list: [%s]\n", words[i]);
		cr_assert_eq(load_err(t, strlen(t), NULL), DEVSYS_EPARSE, "%s in a list", words[i]);
	}
	/* quoted, they are strings; as keys they are strings too */
	devsys_spec *s = load("a: 'yes'\n\"on\": 1\nno_key: true\n");
	cr_assert_str_eq(devsys_spec_get_string(s, "/a"), "yes");
	cr_assert_not_null(devsys_node_get(devsys_spec_at(s, 0), "/on"));
	devsys_spec_free(s);
}

Test(spec_load, binary_garbage_and_nul_and_non_utf8)
{
	unsigned char garbage[4096];
	unsigned int seed = 42;
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (unsigned char)(rand_r(&seed) & 0xff);
	int rc = load_err((const char *)garbage, sizeof(garbage), NULL);
	cr_assert_eq(rc, DEVSYS_EPARSE);
	const char nul[] = "id: a\nti\0tle: x\n";
	cr_assert_eq(load_err(nul, sizeof(nul) - 1, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "bad.yaml:2:3: a NUL byte"), "%s", msg());
	const char latin1[] = "id: caf\xe9\n";
	cr_assert_eq(load_err(latin1, sizeof(latin1) - 1, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "1:8: invalid UTF-8"), "%s", msg());
	const char overlong[] = "{\"a\": \"\xc0\xaf\"}";
	cr_assert_eq(load_err(overlong, sizeof(overlong) - 1, NULL), DEVSYS_EPARSE);
	const char surrogate[] = "{\"a\": \"\\ud800\"}";
	cr_assert_eq(load_err(surrogate, sizeof(surrogate) - 1, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "surrogate"), "%s", msg());
}

Test(spec_load, deep_nesting_is_refused_without_stack_overflow)
{
	size_t depth = 100000;
	char *buf = malloc(depth * 2 + 1);
	memset(buf, '[', depth);
	memset(buf + depth, ']', depth);
	buf[2 * depth] = '\0';
	cr_assert_eq(load_err(buf, 2 * depth, NULL), DEVSYS_ELIMIT);
	cr_assert(strstr(msg(), "nesting deeper than 256"), "%s", msg());
	/* YAML flow and block styles too */
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	o.format = DEVSYS_SPEC_FORMAT_YAML;
	cr_assert_eq(load_err(buf, 2 * depth, &o), DEVSYS_ELIMIT);
	devsys_buf b = DEVSYS_BUF_INIT;
	for (int i = 0; i < 2000; i++)
		devsys_buf_printf(&b, "%*s- \n", i * 2, "");
	cr_assert_neq(load_err(b.ptr, b.size, NULL), 0);
	devsys_buf_dispose(&b);
	/* and a raised limit works */
	o.format = DEVSYS_SPEC_FORMAT_JSON;
	o.max_depth = 2000;
	devsys_spec *s = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&s, buf + depth - 1500, 3000, "deep", &o), 0, "%s", msg());
	devsys_spec_free(s);
	free(buf);
}

Test(spec_load, size_limit_for_buffers_and_files)
{
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	o.max_size = 10;
	cr_assert_eq(load_err("id: abcdefghijkl\n", 17, &o), DEVSYS_ELIMIT);
	cr_assert(strstr(msg(), "larger than the limit of 10 bytes"), "%s", msg());

	/* a 100 MB file is refused by the default 16 MiB limit */
	char *dir = dt_tmpdir("spec-big");
	char path[512];
	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)100 << 20), 0);
	close(fd);
	devsys_spec *s = (devsys_spec *)0x1;
	uint64_t t0 = devsys__now_ns();
	cr_assert_eq(devsys_spec_load_file(&s, path, NULL), DEVSYS_ELIMIT);
	cr_assert_lt(devsys__now_ns() - t0, 500000000ull, "refused by size, not read");
	cr_assert_null(s);
	cr_assert(strstr(msg(), "104857600 bytes is larger than the limit"), "%s", msg());
	/* a pipe is read up to the limit and refused there */
	devsys_spec_options small = DEVSYS_SPEC_OPTIONS_INIT;
	small.max_size = 1000;
	FILE *p = popen("exec 2>/dev/null; printf 'id: x\n'; head -c 100000 /dev/zero | tr '\\0' 'a'", "r");
	cr_assert_not_null(p);
	char fdpath[64];
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fileno(p));
	cr_assert_eq(devsys_spec_load_file(&s, fdpath, &small), DEVSYS_ELIMIT, "%s", msg());
	pclose(p);
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	cr_assert_eq(devsys_spec_load_file(&s, path, NULL), DEVSYS_ENOTFOUND);
	dt_rmrf(dir);
	free(dir);
}

Test(spec_load, syntax_errors_have_positions)
{
	cr_assert_eq(load_err("a: [1, 2\nb: 3\n", 14, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "bad.yaml:"), "%s", msg());
	cr_assert_eq(load_err("{\"a\": 1,}", 9, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "bad.yaml:1:9: trailing comma"), "%s", msg());
	cr_assert_eq(load_err("{\"a\": tru}", 10, NULL), DEVSYS_EPARSE);
	cr_assert_eq(load_err("", 0, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "no document"), "%s", msg());
	cr_assert_eq(load_err("a: .inf\n", 8, NULL), DEVSYS_EPARSE);
	cr_assert_eq(load_err("? [a]\n: 1\n", 10, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "key must be a scalar"), "%s", msg());
	cr_assert_eq(load_err("a: *nope\n", 9, NULL), DEVSYS_EPARSE);
}

Test(spec_load, options_versioning)
{
	devsys_spec_options o;
	cr_assert_eq(devsys_spec_options_init(&o, DEVSYS_SPEC_OPTIONS_VERSION), 0);
	cr_assert_eq(o.format, DEVSYS_SPEC_FORMAT_AUTO);
	cr_assert_eq(devsys_spec_options_init(&o, 99), DEVSYS_EVERSION);
	o.version = 99;
	devsys_spec *s = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&s, "a: 1", 4, NULL, &o), DEVSYS_EVERSION);
	cr_assert_eq(devsys_spec_load_buffer(NULL, "a: 1", 4, NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys_spec_load_buffer(&s, NULL, 4, NULL, NULL), DEVSYS_EINVAL);
}

Test(spec_load, nul_escapes_and_error_positions_after_long_lines)
{
	/* libyaml refuses a raw NUL; only a double-quoted escape makes one, in a value or a key */
	const char *esc = "a: \"x\\0y\"\n";
	cr_assert_eq(load_err(esc, strlen(esc), NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "bad.yaml:1:4: a NUL character in a string"), "%s", msg());
	esc = "\"k\\x00\": 1\n";
	cr_assert_eq(load_err(esc, strlen(esc), NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "a NUL character in a key"), "%s", msg());
	/* the text check reads 8 bytes at a time; a bad byte deep in the file still gets its line and column */
	const char deep[] = "description: a fairly long line of plain ascii text\n"
	                    "prompt: another long line of plain ascii text here\n"
	                    "title: caf\xe9 and more\n";
	cr_assert_eq(load_err(deep, sizeof(deep) - 1, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "bad.yaml:3:11: invalid UTF-8"), "%s", msg());
	const char nul[] = "description: a fairly long line of plain ascii text\nprompt: x\0";
	cr_assert_eq(load_err(nul, sizeof(nul) - 1, NULL), DEVSYS_EPARSE);
	cr_assert(strstr(msg(), "bad.yaml:2:10: a NUL byte"), "%s", msg());
}
