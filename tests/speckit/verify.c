/*
 * The verify stage on a task linked to a spec-kit feature, end to end
 * through the real pipeline on a file:// bare repository (checkout, agent,
 * commit, push, pr on the local forge, test, verify, gate): the validator
 * runs on the feature in the task's checkout and the phantom check on the
 * task's linked ids; their results land in task.json's verification and
 * the PR body. A validator error fails verification naming the rule and
 * file:line; a feature folder that is a symlink out of the checkout is
 * refused.
 */
#include "testutil.h"

#include <devsys.h>
#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#define FIX DEVSYS_SOURCE_DIR "/tests/fixtures/speckit/valid/001-photo-albums"
#define FEATURE "specs/001-photo-albums"

static char *dir;
static devsys_workspace *ws;
static devsys_pipeline *pl;

static void setup(void)
{
	char *git = dt_which("git");
	if (!git)
		dt_skip("git is not installed");
	free(git);
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("speckit-verify");
	/* the valid fixture feature, and a copy of it outside the repository */
	cr_assert_eq(dt_sh("cd '%s' && git init -q --bare -b main remote.git && git clone -q remote.git seed 2>/dev/null &&"
	                   " mkdir -p outside && cp -r '" FIX "' outside/002-out && cd seed && git config user.email t@e &&"
	                   " git config user.name t && mkdir -p specs && cp -r '" FIX "' " FEATURE " &&"
	                   " echo hello > README.md && git add . && git commit -qm init && git push -q origin main",
	                   dir),
	             0);
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests.sh", dir);
	cr_assert(dt_write_file(path, "mkdir -p reports && printf '<testsuite name=\"s\" tests=\"1\" failures=\"0\">"
	                              "<testcase classname=\"c\" name=\"ok\"/></testsuite>\\n' > reports/junit.xml\n"));
	snprintf(path, sizeof(path), "%s/ws", dir);
	cr_assert_eq(devsys_workspace_open(&ws, path, NULL), 0);
	cr_assert_eq(devsys_pipeline_new(&pl, ws, NULL), 0, "%s", devsys_error_message(devsys_error_last()));
}

static void teardown(void)
{
	devsys_pipeline_free(pl);
	devsys_workspace_free(ws);
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}

TestSuite(speckit_verify, .init = setup, .fini = teardown, .timeout = 180);

/* Register and run task @p id whose agent runs @p script, linked to @p feature_dir's @p ids. */
static int run_task(devsys_stage_result *r, const char *id, const char *script, const char *feature_dir,
                    const char *ids)
{
	char spec[4096], path[4096];
	snprintf(path, sizeof(path), "%s/%s.sh", dir, id);
	cr_assert(dt_write_file(path, script));
	snprintf(spec, sizeof(spec),
	         "id: %s\ntitle: Albums %s\nprompt: Do the linked tasks.\n"
	         "repo:\n  url: file://%s/remote.git\n  base_branch: main\n"
	         "agent:\n  command: [/bin/sh, %s]\n"
	         "tests:\n  command: [/bin/sh, %s/tests.sh]\n  junit: [reports/junit.xml]\n"
	         "speckit:\n  feature_dir: %s\n  task_ids: [%s]\n",
	         id, id, dir, path, dir, feature_dir, ids);
	cr_assert_eq(devsys_pipeline_validate(NULL, pl, spec, strlen(spec), id), 0, "%s",
	             devsys_error_message(devsys_error_last()));
	return devsys_pipeline_run(r, pl);
}

static json_t *verification(const char *id)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/ws/tasks/%s/task.json", dir, id);
	json_t *j = json_load_file(p, 0, NULL);
	cr_assert_not_null(j, "%s", p);
	json_t *v = json_incref(json_object_get(j, "verification"));
	json_decref(j);
	cr_assert(json_is_object(v), "task.json of %s has a verification", id);
	return v;
}

static const char *vstr(const json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key));
	cr_assert_not_null(s, "verification.%s is a string", key);
	return s;
}

/* The finding lines of the verdict joined by newlines (free). */
static char *findings(const json_t *v)
{
	const json_t *a = json_object_get(v, "speckit_findings");
	cr_assert(json_is_array(a), "verification.speckit_findings");
	size_t cap = 1;
	for (size_t i = 0; i < json_array_size(a); i++)
		cap += strlen(json_string_value(json_array_get(a, i))) + 1;
	char *s = calloc(1, cap);
	for (size_t i = 0; i < json_array_size(a); i++) {
		strcat(s, json_string_value(json_array_get(a, i)));
		strcat(s, "\n");
	}
	return s;
}

Test(speckit_verify, the_linked_feature_is_validated_and_its_phantoms_reported)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	/* T001 names src/albums/ and tests/albums/: the agent writes both; T002 names pyproject.toml: never written */
	int rc = run_task(&r, "sk-ok",
	                  "set -e\nmkdir -p src/albums tests/albums\necho '' > src/albums/__init__.py\n"
	                  "echo 'def test_a(): pass' > tests/albums/test_a.py\n",
	                  FEATURE, "T001, T002");
	cr_assert_eq(rc, 0, "%s/%s: %s", r.stage, r.outcome, devsys_error_message(devsys_error_last()));
	cr_assert_str_eq(devsys_task_state_name(devsys_store_task_state(devsys_pipeline_store(pl), "sk-ok")),
	                 "awaiting-review");
	json_t *v = verification("sk-ok");
	cr_assert(json_is_true(json_object_get(v, "verified")), "warnings and a phantom do not fail verification");
	cr_assert_str_eq(vstr(v, "speckit"), FEATURE ": 0 error(s), 0 warning(s), 2 info; phantom check of 2 task(s): "
	                                     "1 likely phantom(s)");
	json_t *n = json_object_get(v, "speckit_counts");
	cr_assert_eq(json_integer_value(json_object_get(n, "errors")), 0);
	cr_assert_eq(json_integer_value(json_object_get(n, "phantoms")), 1);
	cr_assert_eq(json_integer_value(json_object_get(n, "task_ids")), 2);
	char *f = findings(v);
	cr_assert_not_null(strstr(f, FEATURE "/tasks.md:26: warning: SK015: T002 is marked done but 'pyproject.toml' does "
	                             "not exist in the repository at head"),
	                   "%s", f);
	cr_assert_null(strstr(f, "T001"), "T001's folders were written on the branch: %s", f);
	free(f);
	json_decref(v);
	/* the PR body carries the same */
	char p[4096];
	snprintf(p, sizeof(p), "%s/remote.git/devsys/prs/1.json", dir);
	json_t *pr = json_load_file(p, 0, NULL);
	cr_assert_not_null(pr, "the local PR record %s", p);
	const char *body = json_string_value(json_object_get(pr, "body"));
	cr_assert_not_null(body);
	cr_assert_not_null(strstr(body, "spec-kit:           " FEATURE ": 0 error(s)"), "%s", body);
	cr_assert_not_null(strstr(body, "\n  " FEATURE "/tasks.md:26: warning: SK015: T002"), "%s", body);
	json_decref(pr);
}

Test(speckit_verify, a_validator_error_fails_verification_naming_rule_and_line)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	/* the agent does its work and adds a second T004 line to tasks.md: SK008 (duplicate id) */
	int rc = run_task(&r, "sk-dup",
	                  "set -e\nmkdir -p src/albums tests/albums\necho x > src/albums/a.py\necho x > tests/albums/b.py\n"
	                  "echo '- [ ] T004 Again the schema in src/albums/db/schema.sql' >> " FEATURE "/tasks.md\n",
	                  FEATURE, "T001");
	const char *msg = devsys_error_message(devsys_error_last());
	cr_assert_eq(rc, DEVSYS_ERROR, "%s", msg);
	cr_assert_str_eq(r.stage, "verify");
	cr_assert_str_eq(r.outcome, "verification-failed");
	cr_assert_not_null(strstr(msg, "speckit: 1 validator error(s) in " FEATURE ", the first SK008 " FEATURE
	                               "/tasks.md:106: "),
	                   "%s", msg);
	json_t *v = verification("sk-dup");
	cr_assert(json_is_false(json_object_get(v, "verified")));
	cr_assert(json_is_true(json_object_get(v, "junit_green")), "the other items are still checked");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(v, "speckit_counts"), "errors")), 1);
	char *f = findings(v);
	cr_assert_not_null(strstr(f, FEATURE "/tasks.md:106: error: SK008: "), "%s", f);
	free(f);
	json_decref(v);
}

Test(speckit_verify, a_feature_folder_linking_out_of_the_checkout_is_refused)
{
	devsys_stage_result r = DEVSYS_STAGE_RESULT_INIT;
	/* the checkout refuses a committed symlink out of the tree, so the agent leaves one in its checkout,
	 * ignored (the commit keeps only .gitignore): specs/002-out, a valid feature outside the repository */
	char script[4096];
	snprintf(script, sizeof(script), "set -e\necho specs/002-out > .gitignore\nln -s '%s/outside/002-out' specs/002-out\n",
	         dir);
	int rc = run_task(&r, "sk-out", script, "specs/002-out", "T001");
	const char *msg = devsys_error_message(devsys_error_last());
	cr_assert_eq(rc, DEVSYS_ERROR, "%s", msg);
	cr_assert_str_eq(r.outcome, "verification-failed");
	cr_assert_not_null(strstr(msg, "speckit: the feature 'specs/002-out' cannot be checked in the checkout: "), "%s",
	                   msg);
	json_t *v = verification("sk-out");
	cr_assert_null(json_object_get(v, "speckit_findings"), "nothing outside was read");
	cr_assert(json_is_false(json_object_get(v, "verified")));
	json_decref(v);
}
