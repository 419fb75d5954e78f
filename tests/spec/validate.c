/*
 * Task-spec validation through the public API: the samples in specs/
 * validate; privileged settings, literal secrets and unknown fields are
 * rejected with errors that point at file:line:col and a JSON pointer.
 */
#include "testutil.h"
#include <devsys.h>

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static devsys_spec *load(const char *text)
{
	devsys_spec *s = NULL;
	int rc = devsys_spec_load_buffer(&s, text, strlen(text), "spec.yaml", NULL);
	cr_assert_eq(rc, 0, "%s", devsys_error_message(devsys_error_last()));
	return s;
}

static const char *BASE = "id: t1\ntitle: T\nprompt: do it\nrepo:\n  url: https://github.com/o/r.git\n";

/* Validate BASE + extra; return the validation (caller frees). */
static devsys_validation *check(const char *extra, int want_rc)
{
	char text[4096];
	snprintf(text, sizeof(text), "%s%s", BASE, extra);
	devsys_spec *s = load(text);
	devsys_validation *v = NULL;
	int rc = devsys_spec_validate(&v, s, 0);
	cr_assert_eq(rc, want_rc, "rc %d for:\n%s\nfirst error: %s", rc, text,
	             devsys_validation_count(v) ? devsys_validation_error_message(devsys_validation_at(v, 0)) : "-");
	devsys_spec_free(s); /* the validation must not depend on the spec */
	return v;
}

static const devsys_validation_error *find(const devsys_validation *v, const char *ptr)
{
	for (size_t i = 0; i < devsys_validation_count(v); i++)
		if (strcmp(devsys_validation_error_instance_location(devsys_validation_at(v, i)), ptr) == 0)
			return devsys_validation_at(v, i);
	return NULL;
}

Test(spec_validate, samples_in_specs_dir_validate)
{
	DIR *d = opendir(DEVSYS_SOURCE_DIR "/specs");
	cr_assert_not_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".yaml") != 0)
			continue;
		char path[1024];
		snprintf(path, sizeof(path), DEVSYS_SOURCE_DIR "/specs/%s", e->d_name);
		devsys_spec *s = NULL;
		cr_assert_eq(devsys_spec_load_file(&s, path, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
		for (size_t i = 0; i < devsys_spec_count(s); i++) {
			devsys_validation *v = NULL;
			int rc = devsys_spec_validate(&v, s, i);
			cr_assert_eq(rc, 0, "%s: %s", path, devsys_error_message(devsys_error_last()));
			cr_assert(devsys_validation_valid(v));
			devsys_validation_free(v);
		}
		cr_assert_not_null(devsys_spec_get_string(s, "/id"));
		devsys_spec_free(s);
		n++;
	}
	closedir(d);
	cr_assert_geq(n, 6, "create-blog, one per runner profile and a spec-kit one");
}

Test(spec_validate, minimal_valid_and_json_equivalent)
{
	devsys_validation *v = check("", 0);
	cr_assert_eq(devsys_validation_count(v), 0);
	devsys_validation_free(v);
	const char *j = "{\"id\":\"t1\",\"title\":\"T\",\"prompt\":\"p\",\"repo\":{\"url\":\"https://x/y\"}}";
	devsys_spec *s = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&s, j, strlen(j), "req", NULL), 0);
	cr_assert_eq(devsys_spec_validate(NULL, s, 0), 0);
	cr_assert_str_eq(devsys_spec_get_string(s, "/id"), "t1");
	devsys_spec_free(s);
}

Test(spec_validate, unknown_field_points_at_it)
{
	devsys_validation *v = check("titel: typo\n", DEVSYS_EINVALID);
	const devsys_validation_error *e = find(v, "/titel");
	cr_assert_not_null(e);
	cr_assert(strstr(devsys_validation_error_message(e), "unknown property 'titel'"));
	cr_assert_str_eq(devsys_validation_error_file(e), "spec.yaml");
	cr_assert_eq(devsys_validation_error_line(e), 6);
	cr_assert_eq(devsys_validation_error_column(e), 8);
	cr_assert_str_eq(devsys_validation_error_keyword(e), "additionalProperties");
	cr_assert_str_eq(devsys_validation_error_keyword_location(e), "/additionalProperties");
	/* the library's last error is the first validation error, with position */
	devsys_validation_free(v);
	devsys_spec *s = load("id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\nbogus: 1\n");
	cr_assert_eq(devsys_spec_validate(NULL, s, 0), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "spec.yaml:5:8: /bogus: unknown property"), "%s",
	          devsys_error_message(devsys_error_last()));
	devsys_spec_free(s);
}

Test(spec_validate, every_error_is_reported)
{
	devsys_validation *v = check("agent:\n  command: ls\n  timeout: forever\ntests:\n  junit: []\nrunner: Bad Name\n",
	                             DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/agent/command"));
	cr_assert_not_null(find(v, "/agent/timeout"));
	cr_assert_not_null(find(v, "/tests"), "tests.command is required");
	cr_assert_not_null(find(v, "/tests/junit"));
	cr_assert_not_null(find(v, "/runner"));
	cr_assert(strstr(devsys_validation_error_message(find(v, "/runner")), "runner profile defined in the operator's "
	                                                                       "devsys.yaml"));
	devsys_validation_free(v);
}

Test(spec_validate, privileged_settings_are_rejected_and_named)
{
	static const char *const cases[][2] = {
		{ "agent:\n  command: [a]\n  shell: true\n", "/agent/shell" },
		{ "agent:\n  command: [a]\n  network_mode: host\n", "/agent/network_mode" },
		{ "tests:\n  command: [a]\n  capabilities: [SYS_ADMIN]\n", "/tests/capabilities" },
		{ "deploy:\n  command: [a]\n  docker_socket: /var/run/docker.sock\n", "/deploy/docker_socket" },
		{ "privileged: true\n", "/privileged" },
		{ "auto_merge: true\n", "/auto_merge" },
		{ "protected_branches: []\n", "/protected_branches" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		devsys_validation *v = check(cases[i][0], DEVSYS_EINVALID);
		const devsys_validation_error *e = find(v, cases[i][1]);
		cr_assert_not_null(e, "no error at %s", cases[i][1]);
		const char *setting = strrchr(cases[i][1], '/') + 1;
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "'%s' grants privilege", setting);
		cr_assert(strstr(devsys_validation_error_message(e), quoted), "%s", devsys_validation_error_message(e));
		cr_assert(strstr(devsys_validation_error_message(e), "devsys.yaml"));
		devsys_validation_free(v);
	}
	/* repo-level ones */
	char text[1024];
	snprintf(text, sizeof(text), "id: t\ntitle: T\nprompt: p\nrepo:\n  url: https://x/y\n  force_push: true\n"
	                             "  pr:\n    auto_merge: true\n");
	devsys_spec *s = load(text);
	devsys_validation *v = NULL;
	cr_assert_eq(devsys_spec_validate(&v, s, 0), DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/repo/force_push"));
	cr_assert_not_null(find(v, "/repo/pr/auto_merge"));
	devsys_validation_free(v);
	devsys_spec_free(s);
}

Test(spec_validate, literal_secrets_are_rejected_without_echoing_them)
{
	const char *tok = "ghp_" "0123456789abcdefghijABCDEFGHIJ0123" /* split: no credential-shaped literal in the source */;
	char extra[512];
	snprintf(extra, sizeof(extra),
	         "agent:\n  command: [a]\n  env:\n    GH: %s\nsecrets:\n  - name: DB_PASSWORD\n    provider: env\n"
	         "    value: hunter2hunter2\n",
	         tok);
	devsys_validation *v = check(extra, DEVSYS_EINVALID);
	const devsys_validation_error *e = find(v, "/agent/env/GH");
	cr_assert_not_null(e);
	cr_assert(strstr(devsys_validation_error_message(e), "secrets provider"));
	e = find(v, "/secrets/0/value");
	cr_assert_not_null(e);
	cr_assert(strstr(devsys_validation_error_message(e), "secret values never go in a task spec"));
	devsys_buf j = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_validation_to_json(&j, v), 0);
	cr_assert_null(strstr(j.ptr, tok), "the token leaked into the output");
	cr_assert_null(strstr(j.ptr, "hunter2"), "the secret leaked into the output");
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "ghp_"));
	devsys_buf_dispose(&j);
	devsys_validation_free(v);
	/* credentials in the repository URL */
	devsys_spec *s = load("id: t\ntitle: T\nprompt: p\nrepo:\n  url: https://x-access-token:abc@github.com/o/r\n");
	cr_assert_eq(devsys_spec_validate(&v, s, 0), DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/repo/url"));
	devsys_validation_free(v);
	devsys_spec_free(s);
}

Test(spec_validate, basic_output_format)
{
	devsys_validation *v = check("policy:\n  risk: extreme\n", DEVSYS_EINVALID);
	devsys_buf j = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_validation_to_json(&j, v), 0);
	devsys_spec *s = NULL;
	/* the output is JSON: parse it back with our own loader */
	cr_assert_eq(devsys_spec_load_buffer(&s, j.ptr, j.size, "out.json", NULL), 0, "%s", j.ptr);
	const devsys_node *root = devsys_spec_at(s, 0);
	cr_assert_eq(devsys_node_get_type(devsys_node_get(root, "/valid")), DEVSYS_NODE_BOOL);
	cr_assert_not(devsys_node_bool(devsys_node_get(root, "/valid")));
	cr_assert_str_eq(devsys_node_string(devsys_node_get(root, "/errors/0/instanceLocation"), NULL), "/policy/risk");
	cr_assert_str_eq(devsys_node_string(devsys_node_get(root, "/errors/0/keywordLocation"), NULL),
	                 "/properties/policy/$ref/properties/risk/enum");
	cr_assert_str_eq(devsys_node_string(devsys_node_get(root, "/errors/0/absoluteKeywordLocation"), NULL),
	                 "urn:devsys:schema:task:1#/$defs/policy/properties/risk/enum");
	cr_assert(strstr(devsys_node_string(devsys_node_get(root, "/errors/0/error"), NULL), "'extreme' is not one of"));
	cr_assert_eq(devsys_node_number(devsys_node_get(root, "/errors/0/line")), 7);
	devsys_spec_free(s);
	devsys_buf_dispose(&j);
	devsys_validation_free(v);
	v = check("", 0);
	devsys_buf_clear(&j);
	cr_assert_eq(devsys_validation_to_json(&j, v), 0);
	cr_assert_str_eq(j.ptr, "{\"valid\":true}");
	devsys_buf_dispose(&j);
	devsys_validation_free(v);
}

Test(spec_validate, needs_description_or_prompt_and_valid_id)
{
	devsys_spec *s = load("id: ../etc\ntitle: T\nrepo: {url: 'https://x/y'}\n");
	devsys_validation *v = NULL;
	cr_assert_eq(devsys_spec_validate(&v, s, 0), DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/id"));
	const devsys_validation_error *e = find(v, "");
	cr_assert_not_null(e);
	cr_assert(strstr(devsys_validation_error_message(e), "description or a prompt"));
	devsys_validation_free(v);
	cr_assert_eq(devsys_spec_validate(&v, s, 1), DEVSYS_EINVAL);
	cr_assert_null(v);
	devsys_spec_free(s);
}

Test(spec_validate, task_schema_is_embedded_and_compiles)
{
	const devsys_schema *sch = NULL;
	cr_assert_eq(devsys_spec_task_schema(&sch), 0);
	cr_assert_not_null(sch);
	cr_assert_eq(devsys_schema_get_draft(sch), DEVSYS_SCHEMA_DRAFT2020_12);
	const char *text = devsys_spec_task_schema_text();
	char *file = dt_read_file(DEVSYS_SOURCE_DIR "/specs/task.schema.json", NULL);
	cr_assert_not_null(file);
	cr_assert_str_eq(text, file, "the embedded schema differs from specs/task.schema.json");
	free(file);
	/* every property in the schema has a description */
	devsys_spec *s = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&s, text, strlen(text), "task.schema.json", NULL), 0);
	const devsys_node *defs = devsys_node_get(devsys_spec_at(s, 0), "/$defs");
	const devsys_node *roots[64];
	size_t nroots = 0;
	roots[nroots++] = devsys_spec_at(s, 0);
	for (size_t i = 0; i < devsys_node_size(defs); i++)
		roots[nroots++] = devsys_node_at(defs, i);
	for (size_t r = 0; r < nroots; r++) {
		const devsys_node *props = devsys_node_member(roots[r], "properties");
		for (size_t i = 0; i < devsys_node_size(props); i++) {
			const devsys_node *p = devsys_node_at(props, i);
			cr_assert_not_null(devsys_node_member(p, "description"), "property '%s' has no description",
			                   devsys_node_key_at(props, i));
		}
	}
	devsys_spec_free(s);
}

static void *validate_many(void *arg)
{
	const devsys_spec *s = arg;
	for (int i = 0; i < 200; i++) {
		devsys_validation *v = NULL;
		if (devsys_spec_validate(&v, s, 0) != DEVSYS_EINVALID || devsys_validation_count(v) != 1)
			return (void *)1;
		devsys_validation_free(v);
	}
	return NULL;
}

Test(spec_validate, one_schema_many_threads)
{
	devsys_spec *s = load("id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\nshell: true\n");
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, validate_many, s);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		cr_assert_null(r, "thread %d saw a wrong result", i);
	}
	devsys_spec_free(s);
}

Test(spec_validate, messages_stay_utf8_and_hide_secret_looking_keys)
{
	/* a long non-ASCII value in an enum error is cut at a character boundary */
	devsys_validation *v = check("policy:\n  risk: \"ééééééééééééééééééééééééééééééééééééééééééééé\"\n"
	                             "ghp_" "0123456789abcdefghijABCDEFGHIJ0123: 1\n",
	                             DEVSYS_EINVALID);
	devsys_buf j = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_validation_to_json(&j, v), 0);
	devsys_spec *s = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&s, j.ptr, j.size, "out.json", NULL), 0, "output is not valid UTF-8 JSON: %s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_null(strstr(j.ptr, "ghp_0123"), "a secret-looking key was echoed: %s", j.ptr);
	cr_assert(strstr(j.ptr, "\"/*redacted*\""), "%s", j.ptr);
	devsys_spec_free(s);
	devsys_buf_dispose(&j);
	devsys_validation_free(v);
}

Test(spec_validate, step_timeouts_come_from_the_spec_in_milliseconds)
{
	devsys_spec *s = load("id: t1\ntitle: T\nprompt: p\nrepo:\n  url: https://github.com/o/r.git\n"
	                      "agent:\n  command: [a]\n  timeout: 45m\n"
	                      "tests:\n  command: [b]\n  timeout: 90\n"
	                      "deploy:\n  command: [c]\n  timeout: 2h\n");
	unsigned int ms = 0;
	cr_assert_eq(devsys_spec_timeout_ms(s, 0, "agent", &ms), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(ms, 45u * 60 * 1000);
	cr_assert_eq(devsys_spec_timeout_ms(s, 0, "tests", &ms), 0);
	cr_assert_eq(ms, 90u * 1000);
	cr_assert_eq(devsys_spec_timeout_ms(s, 0, "deploy", &ms), 0);
	cr_assert_eq(ms, 2u * 3600 * 1000);
	cr_assert_eq(devsys_spec_timeout_ms(s, 0, "push", &ms), DEVSYS_EINVAL);
	cr_assert_eq(devsys_spec_timeout_ms(s, 0, NULL, &ms), DEVSYS_EINVAL);
	devsys_spec_free(s);
	s = load("id: t1\ntitle: T\nprompt: p\nrepo:\n  url: https://github.com/o/r.git\ntests:\n  command: [b]\n");
	cr_assert_eq(devsys_spec_timeout_ms(s, 0, "tests", &ms), DEVSYS_ENOTFOUND);
	devsys_spec_free(s);
	/* Not validated first: a malformed value is refused, not misread. */
	s = load("id: t1\ntests:\n  timeout: 10d\n");
	cr_assert_eq(devsys_spec_timeout_ms(s, 0, "tests", &ms), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "tests.timeout"));
	devsys_spec_free(s);
	/* the reader every stage uses, on any node of the timeout type */
	s = load("a: 30m\nb: 7\nc: 0\nd: 3x\n");
	cr_assert_eq(devsys_spec_duration_ms(&ms, devsys_node_get(devsys_spec_at(s, 0), "/a"), "a"), 0);
	cr_assert_eq(ms, 30u * 60 * 1000);
	cr_assert_eq(devsys_spec_duration_ms(&ms, devsys_node_get(devsys_spec_at(s, 0), "/b"), "b"), 0);
	cr_assert_eq(ms, 7000u);
	cr_assert_eq(devsys_spec_duration_ms(&ms, devsys_node_get(devsys_spec_at(s, 0), "/c"), "c"), DEVSYS_EINVALID);
	cr_assert_eq(devsys_spec_duration_ms(&ms, devsys_node_get(devsys_spec_at(s, 0), "/d"), "x.d"), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "x.d"), "%s", devsys_error_message(devsys_error_last()));
	cr_assert_eq(devsys_spec_duration_ms(&ms, NULL, "a"), DEVSYS_EINVAL);
	devsys_spec_free(s);
}

/* devsys_spec_name: the display name, copied at load, borrowed from the spec. */
Test(spec_validate, spec_name_is_the_copied_display_name)
{
	devsys_spec *s = NULL;
	char name[64], path[4096];
	snprintf(name, sizeof(name), "request-%d", 42);
	cr_assert_eq(devsys_spec_load_buffer(&s, BASE, strlen(BASE), name, NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	memset(name, 'X', sizeof(name) - 1); /* the caller's string may change: the spec kept a copy */
	const char *n = devsys_spec_name(s);
	cr_assert_str_eq(n, "request-42");
	cr_assert_eq(devsys_spec_name(s), n, "borrowed from the spec: the same string each call");
	devsys_spec_free(s);

	/* no name: "<buffer>" */
	cr_assert_eq(devsys_spec_load_buffer(&s, BASE, strlen(BASE), NULL, NULL), 0);
	cr_assert_str_eq(devsys_spec_name(s), "<buffer>");
	devsys_spec_free(s);

	/* from a file: the path, also the name errors are reported under */
	char *dir = dt_tmpdir("spec-name");
	snprintf(path, sizeof(path), "%s/task.yaml", dir);
	cr_assert(dt_write_file(path, BASE));
	cr_assert_eq(devsys_spec_load_file(&s, path, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(devsys_spec_name(s), path);
	devsys_spec_free(s);
	s = NULL;
	cr_assert_eq(devsys_spec_load_buffer(&s, "id: [unclosed\n", 14, "named.yaml", NULL), DEVSYS_EPARSE);
	cr_assert_null(s);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "named.yaml:"), "%s",
	          devsys_error_message(devsys_error_last()));

	/* bad input: NULL is "", never NULL */
	cr_assert_not_null(devsys_spec_name(NULL));
	cr_assert_str_eq(devsys_spec_name(NULL), "");
	dt_rmrf(dir);
	free(dir);
}

Test(spec_validate, a_step_may_name_an_image_checked_later_by_the_profile)
{
	devsys_validation *v = check("tests:\n  command: [a]\n  image: registry.local/team/build:1.2\n", 0);
	devsys_validation_free(v);
	/* not at the top level: that would pick the image for every step */
	v = check("image: debian:12\n", DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/image"));
	devsys_validation_free(v);
	/* not a reference: refused by the schema already */
	v = check("agent:\n  command: [a]\n  image: \"x; rm -rf /\"\n", DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/agent/image"));
	devsys_validation_free(v);
}

Test(spec_validate, acceptance_checks_take_a_body_regex_a_deadline_and_an_exit_code)
{
	static const char ok[] = "deploy:\n  command: [./deploy.sh]\n  acceptance:\n"
	                         "    - name: health\n      http:\n        url: \"http://127.0.0.1:${DEVSYS_DEPLOY_PORT}/\"\n"
	                         "        contains: ok\n        matches: \"build [0-9]+$\"\n        deadline: 90s\n"
	                         "        timeout: 5\n        retries: 3\n"
	                         "    - name: migrated\n      command: [./check.sh]\n      exit_code: 3\n      timeout: 1m\n";
	devsys_validation *v = check(ok, 0);
	devsys_validation_free(v);
	/* an exit code belongs to a command check */
	v = check("deploy:\n  command: [a]\n  acceptance:\n    - name: h\n      http: {url: 'http://127.0.0.1/'}\n"
	          "      exit_code: 0\n",
	          DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/deploy/acceptance/0"));
	cr_assert(strstr(devsys_validation_error_message(find(v, "/deploy/acceptance/0")), "exit_code: belongs to a command"),
	          "%s", devsys_validation_error_message(find(v, "/deploy/acceptance/0")));
	devsys_validation_free(v);
	/* bad values, each named by its pointer */
	v = check("deploy:\n  command: [a]\n  acceptance:\n    - name: h\n      http:\n        url: 'http://127.0.0.1/'\n"
	          "        deadline: forever\n        matches: ''\n        regex: x\n"
	          "    - name: c\n      command: [b]\n      exit_code: 300\n",
	          DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/deploy/acceptance/0/http/deadline"));
	cr_assert_not_null(find(v, "/deploy/acceptance/0/http/matches"));
	cr_assert_not_null(find(v, "/deploy/acceptance/0/http/regex"), "an unknown field is named");
	cr_assert_not_null(find(v, "/deploy/acceptance/1/exit_code"));
	devsys_validation_free(v);
}

/* devsys_spec_validate_buffer(): the load and the validation of one call give
 * the verdicts (and errors) of the two calls it stands for */
Test(spec_validate, validate_buffer_is_load_then_validate_in_one_call)
{
	static const char *const texts[] = {
		"id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\n",
		"id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\nbogus: 1\n",
		"{\"id\":\"t1\",\"title\":\"T\",\"prompt\":\"p\",\"repo\":{\"url\":\"https://x/y\"}}",
		"id: t1\ntitle: T\n",
		"id: [unclosed\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		devsys_spec *s = NULL;
		int two = devsys_spec_load_buffer(&s, texts[i], strlen(texts[i]), "spec.yaml", NULL);
		if (two == 0)
			two = devsys_spec_validate(NULL, s, 0);
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
		devsys_spec_free(s);
		int one = devsys_spec_validate_buffer(NULL, NULL, texts[i], strlen(texts[i]), "spec.yaml", NULL);
		cr_assert_eq(one, two, "text %zu: %d in one call, %d in two", i, one, two);
		if (one < 0)
			cr_assert_str_eq(devsys_error_message(devsys_error_last()), msg, "text %zu", i);
	}
}

Test(spec_validate, validate_buffer_hands_out_the_spec_and_the_validation)
{
	static const char ok[] = "id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\n";
	static const char bad[] = "id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\nbogus: 1\n";
	devsys_spec *s = NULL;
	devsys_validation *v = NULL;
	cr_assert_eq(devsys_spec_validate_buffer(&s, &v, ok, strlen(ok), "ok.yaml", NULL), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(devsys_spec_get_string(s, "/id"), "t1");
	cr_assert_str_eq(devsys_spec_name(s), "ok.yaml");
	cr_assert(devsys_validation_valid(v));
	cr_assert_eq(devsys_validation_count(v), 0);
	devsys_validation_free(v);
	devsys_spec_free(s);
	/* invalid: both are handed out, the errors point into the spec's text */
	cr_assert_eq(devsys_spec_validate_buffer(&s, &v, bad, strlen(bad), "bad.yaml", NULL), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "bad.yaml:5:8: /bogus: unknown property"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert_not_null(s);
	cr_assert_str_eq(devsys_spec_get_string(s, "/title"), "T");
	cr_assert_not(devsys_validation_valid(v));
	cr_assert_not_null(find(v, "/bogus"));
	cr_assert_eq(devsys_validation_error_line(find(v, "/bogus")), 5);
	devsys_validation_free(v);
	devsys_spec_free(s);
	/* only the validation: the spec is freed inside (ASan's leak check sees it) */
	cr_assert_eq(devsys_spec_validate_buffer(NULL, &v, bad, strlen(bad), "bad.yaml", NULL), DEVSYS_EINVALID);
	cr_assert_not_null(find(v, "/bogus"));
	devsys_validation_free(v);
}

Test(spec_validate, validate_buffer_load_errors_and_documents)
{
	devsys_spec *s = (devsys_spec *)&s; /* not NULL: the call must reset them */
	devsys_validation *v = (devsys_validation *)&v;
	static const char broken[] = "id: t1\ntitle: [T\n";
	cr_assert_eq(devsys_spec_validate_buffer(&s, &v, broken, strlen(broken), "broken.yaml", NULL), DEVSYS_EPARSE);
	cr_assert_null(s);
	cr_assert_null(v);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "broken.yaml:"), "%s",
	          devsys_error_message(devsys_error_last()));
	/* the options are the loader's */
	static const char ok[] = "id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\n";
	devsys_spec_options o = DEVSYS_SPEC_OPTIONS_INIT;
	o.max_size = 8;
	cr_assert_eq(devsys_spec_validate_buffer(&s, &v, ok, strlen(ok), "ok.yaml", &o), DEVSYS_ELIMIT);
	cr_assert_null(s);
	o.max_size = 0;
	o.format = DEVSYS_SPEC_FORMAT_JSON;
	cr_assert_eq(devsys_spec_validate_buffer(NULL, NULL, ok, strlen(ok), "ok.yaml", &o), DEVSYS_EPARSE);
	o.format = DEVSYS_SPEC_FORMAT_YAML;
	cr_assert_eq(devsys_spec_validate_buffer(NULL, NULL, ok, strlen(ok), "ok.yaml", &o), 0, "the control");
	/* a task spec is one document: two valid ones are refused, the spec still handed out */
	static const char two[] = "id: t1\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\n---\n"
	                          "id: t2\ntitle: T\nprompt: p\nrepo: {url: 'https://x/y'}\n";
	cr_assert_eq(devsys_spec_validate_buffer(&s, &v, two, strlen(two), "two.yaml", NULL), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "two.yaml: holds 2 documents"), "%s",
	          devsys_error_message(devsys_error_last()));
	cr_assert_null(v);
	cr_assert_eq(devsys_spec_count(s), 2);
	devsys_spec_free(s);
	cr_assert_eq(devsys_spec_validate_buffer(NULL, NULL, NULL, 0, "empty.yaml", NULL), DEVSYS_EPARSE,
	             "no document");
}
