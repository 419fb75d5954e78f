/*
 * The validator's own behaviour beyond the official suite: bad schemas
 * (cyclic $ref, missing definitions, invalid and catastrophic regexes),
 * error collection, positions and options.
 */
#include "testutil.h"
#include "schema/doc.h"

#include <string.h>

static devsys__arena arena;

static devsys_node *J(const char *text)
{
	devsys_node *n = NULL;
	int rc = devsys__json_parse(&n, &arena, text, strlen(text), "t.json", 256, 1000000);
	cr_assert_eq(rc, 0, "%s: %s", text, devsys_error_message(devsys_error_last()));
	return n;
}

static void fini(void)
{
	devsys__arena_dispose(&arena);
}

TestSuite(schema, .fini = fini);

static int compile(devsys_schema **out, const char *schema)
{
	return devsys_schema_compile(out, J(schema), NULL);
}

static const char *msg(void)
{
	return devsys_error_message(devsys_error_last());
}

Test(schema, cyclic_ref_is_a_compile_error)
{
	devsys_schema *s = (devsys_schema *)1;
	int rc = compile(&s, "{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}}}");
	cr_assert_eq(rc, DEVSYS_EINVALID);
	cr_assert_null(s);
	cr_assert(strstr(msg(), "cyclic $ref"), "%s", msg());
	cr_assert_eq(compile(&s, "{\"$ref\":\"#\"}"), DEVSYS_EINVALID);
}

Test(schema, cycle_through_applicators_stops_at_the_depth_limit)
{
	devsys_schema *s;
	cr_assert_eq(compile(&s, "{\"$defs\":{\"a\":{\"allOf\":[{\"$ref\":\"#/$defs/b\"}]},\"b\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"}]}},"
	                         "\"$ref\":\"#/$defs/a\"}"),
	             0, "%s", msg());
	devsys_validation *v = (devsys_validation *)1;
	cr_assert_eq(devsys_schema_validate(&v, s, J("1")), DEVSYS_ELIMIT);
	cr_assert_null(v);
	cr_assert(strstr(msg(), "cycle"), "%s", msg());
	cr_assert_eq(devsys_schema_validate(NULL, s, J("{}")), DEVSYS_ELIMIT);
	devsys_schema_free(s);
}

Test(schema, ref_to_missing_definition)
{
	devsys_schema *s;
	cr_assert_eq(compile(&s, "{\"properties\":{\"a\":{\"$ref\":\"#/$defs/nope\"}}}"), DEVSYS_EINVALID);
	cr_assert(strstr(msg(), "no such definition"), "%s", msg());
	cr_assert(strstr(msg(), "/properties/a/$ref"), "%s", msg());
	cr_assert_eq(compile(&s, "{\"$ref\":\"https://example.com/remote.json\"}"), DEVSYS_EINVALID);
	cr_assert(strstr(msg(), "no network"), "%s", msg());
	cr_assert_eq(compile(&s, "{\"$ref\":\"#anchor-that-does-not-exist\"}"), DEVSYS_EINVALID);
}

Test(schema, invalid_regex)
{
	devsys_schema *s;
	cr_assert_eq(compile(&s, "{\"pattern\":\"a(b\"}"), DEVSYS_EINVALID);
	cr_assert(strstr(msg(), "invalid regular expression"), "%s", msg());
	cr_assert(strstr(msg(), "t.json:1:1"), "%s", msg());
	cr_assert_eq(compile(&s, "{\"patternProperties\":{\"[z-a]\":true}}"), DEVSYS_EINVALID);
}

Test(schema, catastrophic_backtracking_hits_the_match_limit)
{
	devsys_schema_options o = DEVSYS_SCHEMA_OPTIONS_INIT;
	devsys_schema *s;
	o.regex_match_limit = 100000;
	cr_assert_eq(devsys_schema_compile(&s, J("{\"pattern\":\"^(a+)+$\"}"), &o), 0, "%s", msg());
	char text[80];
	snprintf(text, sizeof(text), "\"%s!\"", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	uint64_t t0 = devsys__now_ns();
	int rc = devsys_schema_validate(NULL, s, J(text));
	uint64_t ms = (devsys__now_ns() - t0) / 1000000;
	cr_assert_eq(rc, DEVSYS_ELIMIT, "rc=%d", rc);
	cr_assert(strstr(msg(), "match limit"), "%s", msg());
	cr_assert_lt(ms, 5000, "the limit did not bound the time (%llu ms)", (unsigned long long)ms);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("\"aaaa\"")), 0);
	devsys_schema_free(s);
}

Test(schema, all_errors_with_paths_and_positions)
{
	devsys_schema *s;
	cr_assert_eq(compile(&s, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},"
	                         "\"b\":{\"$ref\":\"#/$defs/n\"}},\"required\":[\"c\"],"
	                         "\"$defs\":{\"n\":{\"type\":\"integer\",\"minimum\":5}}}"),
	             0, "%s", msg());
	devsys_validation *v;
	devsys_node *inst = J("{\"a\": 1,\n \"b\": 2.5}");
	cr_assert_eq(devsys_schema_validate(&v, s, inst), DEVSYS_EINVALID);
	cr_assert_eq(devsys_validation_count(v), 4, "a:type, b:type, b:minimum, required");
	int seen = 0;
	for (size_t i = 0; i < devsys_validation_count(v); i++) {
		const devsys_validation_error *e = devsys_validation_at(v, i);
		const char *kl = devsys_validation_error_keyword_location(e);
		if (!strcmp(kl, "/properties/b/$ref/minimum")) {
			cr_assert_str_eq(devsys_validation_error_instance_location(e), "/b");
			cr_assert_str_eq(devsys_validation_error_absolute_keyword_location(e), "urn:devsys:schema#/$defs/n/minimum");
			cr_assert_eq(devsys_validation_error_line(e), 2);
			cr_assert_eq(devsys_validation_error_column(e), 7);
			seen++;
		}
		if (!strcmp(kl, "/required")) {
			cr_assert(strstr(devsys_validation_error_message(e), "'c'"));
			seen++;
		}
	}
	cr_assert_eq(seen, 2);
	devsys_validation_free(v);
	/* the fast path agrees */
	cr_assert_eq(devsys_schema_validate(NULL, s, inst), DEVSYS_EINVALID);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("{\"a\":\"x\",\"b\":7,\"c\":0}")), 0);
	devsys_schema_free(s);
}

Test(schema, max_errors_caps_the_list)
{
	devsys_schema_options o = DEVSYS_SCHEMA_OPTIONS_INIT;
	devsys_schema *s;
	o.max_errors = 3;
	cr_assert_eq(devsys_schema_compile(&s, J("{\"items\":{\"type\":\"string\"}}"), &o), 0);
	devsys_validation *v;
	cr_assert_eq(devsys_schema_validate(&v, s, J("[1,2,3,4,5,6,7,8,9]")), DEVSYS_EINVALID);
	cr_assert_eq(devsys_validation_count(v), 3);
	devsys_validation_free(v);
	devsys_schema_free(s);
}

Test(schema, format_asserts_only_when_asked)
{
	devsys_schema *s;
	devsys_schema_options o = DEVSYS_SCHEMA_OPTIONS_INIT;
	cr_assert_eq(compile(&s, "{\"format\":\"date-time\"}"), 0);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("\"not a date\"")), 0);
	devsys_schema_free(s);
	o.flags = DEVSYS_SCHEMA_FORMAT_ASSERT;
	cr_assert_eq(devsys_schema_compile(&s, J("{\"format\":\"date-time\"}"), &o), 0);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("\"not a date\"")), DEVSYS_EINVALID);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("\"2026-11-26T10:00:00Z\"")), 0);
	devsys_schema_free(s);
}

Test(schema, draft7_selected_by_dollar_schema)
{
	devsys_schema *s;
	cr_assert_eq(compile(&s, "{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
	                         "\"items\":[{\"type\":\"integer\"}],\"additionalItems\":false}"),
	             0, "%s", msg());
	cr_assert_eq(devsys_schema_get_draft(s), DEVSYS_SCHEMA_DRAFT7);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("[1]")), 0);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("[1, 2]")), DEVSYS_EINVALID);
	devsys_schema_free(s);
	cr_assert_eq(compile(&s, "{\"$schema\":\"http://json-schema.org/draft-04/schema#\"}"), DEVSYS_EINVALID);
	cr_assert(strstr(msg(), "not supported"), "%s", msg());
}

Test(schema, compiled_schema_outlives_its_source)
{
	devsys__arena a = { 0 };
	devsys_node *n;
	const char *t = "{\"enum\":[\"x\",{\"k\":[1,2]}]}";
	cr_assert_eq(devsys__json_parse(&n, &a, t, strlen(t), "src", 64, 1000), 0);
	devsys_schema *s;
	cr_assert_eq(devsys_schema_compile(&s, n, NULL), 0);
	devsys__arena_dispose(&a);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("{\"k\":[1,2.0]}")), 0);
	cr_assert_eq(devsys_schema_validate(NULL, s, J("\"y\"")), DEVSYS_EINVALID);
	devsys_schema_free(s);
}

Test(schema, unique_items_large_array)
{
	devsys_schema *s;
	cr_assert_eq(compile(&s, "{\"uniqueItems\":true}"), 0);
	devsys_buf b = DEVSYS_BUF_INIT;
	devsys_buf_puts(&b, "[");
	for (int i = 0; i < 50000; i++)
		devsys_buf_printf(&b, "%s{\"n\":%d}", i ? "," : "", i);
	devsys_buf_puts(&b, "]");
	cr_assert_eq(devsys_schema_validate(NULL, s, J(b.ptr)), 0);
	b.size--;
	devsys_buf_puts(&b, ",{\"n\":49999.0}]");
	cr_assert_eq(devsys_schema_validate(NULL, s, J(b.ptr)), DEVSYS_EINVALID);
	devsys_buf_dispose(&b);
	devsys_schema_free(s);
}

Test(schema, options_and_arguments)
{
	devsys_schema_options o;
	cr_assert_eq(devsys_schema_options_init(&o, 1), 0);
	cr_assert_eq(devsys_schema_options_init(&o, 0), DEVSYS_EVERSION);
	devsys_schema *s;
	cr_assert_eq(devsys_schema_compile(&s, NULL, NULL), DEVSYS_EINVAL);
	o.resource_count = 2;
	cr_assert_eq(devsys_schema_compile(&s, J("true"), &o), DEVSYS_EINVAL);
	cr_assert_eq(compile(&s, "[1]"), DEVSYS_EINVALID);
	cr_assert_eq(devsys_schema_validate(NULL, NULL, J("1")), DEVSYS_EINVAL);
	devsys_validation_free(NULL);
	devsys_schema_free(NULL);
	cr_assert_eq(devsys_validation_count(NULL), 0);
	cr_assert_null(devsys_validation_at(NULL, 0));
}

Test(schema, deep_instances_and_schemas_stay_bounded)
{
	/* a 10 000-deep instance (the loader's ceiling) with uniqueItems, enum and a recursive schema */
	size_t depth = 10000;
	devsys_buf b = DEVSYS_BUF_INIT;
	devsys_buf_puts(&b, "[");
	for (int k = 0; k < 2; k++) {
		if (k)
			devsys_buf_puts(&b, ",");
		for (size_t i = 0; i < depth; i++)
			devsys_buf_puts(&b, "[");
		for (size_t i = 0; i < depth; i++)
			devsys_buf_puts(&b, "]");
	}
	devsys_buf_puts(&b, "]");
	devsys_node *inst = NULL;
	cr_assert_eq(devsys__json_parse(&inst, &arena, b.ptr, b.size, "deep", 20010, 10000000), 0, "%s", msg());
	devsys_schema *s;
	cr_assert_eq(compile(&s, "{\"uniqueItems\":true}"), 0);
	cr_assert_eq(devsys_schema_validate(NULL, s, inst), DEVSYS_EINVALID, "two equal deep items");
	devsys_schema_free(s);
	cr_assert_eq(compile(&s, "{\"items\":{\"$ref\":\"#\"}}"), 0);
	cr_assert_eq(devsys_schema_validate(NULL, s, inst), DEVSYS_ELIMIT);
	devsys_schema_free(s);
	/* a schema nested deeper than the compiler accepts */
	devsys_buf_clear(&b);
	for (int i = 0; i < 600; i++)
		devsys_buf_puts(&b, "{\"x\":");
	devsys_buf_puts(&b, "{}");
	for (int i = 0; i < 600; i++)
		devsys_buf_puts(&b, "}");
	devsys_node *deep = NULL;
	cr_assert_eq(devsys__json_parse(&deep, &arena, b.ptr, b.size, "deep-schema", 1000, 1000000), 0);
	cr_assert_eq(devsys_schema_compile(&s, deep, NULL), 0, "unknown keywords nest freely: %s", msg());
	devsys_schema_free(s);
	devsys_buf_clear(&b);
	for (int i = 0; i < 600; i++)
		devsys_buf_puts(&b, "{\"not\":");
	devsys_buf_puts(&b, "{}");
	for (int i = 0; i < 600; i++)
		devsys_buf_puts(&b, "}");
	cr_assert_eq(devsys__json_parse(&deep, &arena, b.ptr, b.size, "deep-schema", 1000, 1000000), 0);
	cr_assert_eq(devsys_schema_compile(&s, deep, NULL), DEVSYS_ELIMIT);
	devsys_buf_dispose(&b);
}
