/*
 * The verify stage's spec-kit part: the validator and the phantom check on
 * the feature a task links, written into task.json's verification. It lives
 * here, not in the pipeline, because speckit requires the pipeline: the
 * module's init hook registers it with the verify stage (verify_hook.h).
 */
#include "speckit_int.h"
#include "pipeline/verify_hook.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The most findings the verdict lists one by one (its counts cover them all). */
#define SPECKIT_LISTED 25

static const char *const sk_severity[] = { "info", "warning", "error" };

/* The findings as "file:line: severity: SKnnn: message" lines, files relative to the checkout; the first
 * error into @p first_error. */
static void speckit_lines(json_t *list, const devsys_speckit_findings *r, const char *checkout, char *first_error,
                          size_t sz)
{
	size_t n = strlen(checkout);
	for (size_t i = 0; i < devsys_speckit_findings_count(r); i++) {
		devsys_speckit_severity sev = DEVSYS_SPECKIT_INFO;
		const char *file = "", *msg = "";
		unsigned line = 0;
		const char *rule = devsys_speckit_finding_at(r, i, &sev, &file, &line, &msg);
		char text[1024];
		if (strncmp(file, checkout, n) == 0 && file[n] == '/')
			file += n + 1;
		snprintf(text, sizeof(text), "%s:%u: %s: %s: %s", file, line, sk_severity[sev], rule, msg);
		if (sev == DEVSYS_SPECKIT_ERROR && !first_error[0])
			snprintf(first_error, sz, "%s %s:%u: %s", rule, file, line, msg);
		if (json_array_size(list) < SPECKIT_LISTED)
			json_array_append_new(list, json_string(text));
	}
}

/* The spec's speckit.task_ids (borrowed strings) into *out, NULL when it names none. */
static int speckit_ids(const char ***out, size_t *n, const devsys_node *sk)
{
	const devsys_node *ids = devsys_node_get(sk, "/task_ids");
	const char **v = NULL;
	*n = 0;
	if (devsys_node_size(ids) && !(v = devsys__calloc(devsys_node_size(ids), sizeof(*v))))
		return devsys__error_oom();
	for (size_t i = 0; v && i < devsys_node_size(ids); i++)
		if ((v[*n] = devsys_node_string(devsys_node_at(ids, i), NULL)))
			(*n)++;
	*out = v;
	return 0;
}

/* Validator and phantom check on the loaded feature; the verdict's "speckit" summary and its findings. A
 * validator error is written into @p fail. */
static int speckit_checks(char *fail, size_t failsz, json_t *verdict, devsys_repo *repo,
                          const devsys_speckit_feature *f, const char *fd, const devsys_node *sk)
{
	devsys_speckit_findings *r = NULL, *ph = NULL;
	size_t nids = 0;
	const char **ids = NULL, *co = devsys_repo_checkout_path(repo);
	char summary[512], first[400] = "";
	int rc = speckit_ids(&ids, &nids, sk);
	if (rc == 0)
		rc = devsys_speckit_findings_new(&r);
	if (rc == 0 && (rc = devsys_speckit_check(r, f)) == 0 && (rc = devsys_speckit_findings_new(&ph)) == 0 && nids)
		rc = devsys_speckit_check_phantoms_ids(ph, f, repo, ids, nids);
	if (rc == 0) {
		json_t *list = json_array();
		size_t errs = devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_ERROR);
		speckit_lines(list, r, co, first, sizeof(first));
		speckit_lines(list, ph, co, first, sizeof(first));
		snprintf(summary, sizeof(summary),
		         "%s: %zu error(s), %zu warning(s), %zu info; phantom check of %zu task(s): %zu likely phantom(s)", fd,
		         errs, devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_WARNING),
		         devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_INFO), nids,
		         devsys_speckit_findings_count_severity(ph, DEVSYS_SPECKIT_WARNING));
		json_object_set_new(verdict, "speckit", json_string(summary));
		json_object_set_new(verdict, "speckit_counts",
		                    json_pack("{s:I,s:I,s:I,s:I,s:I}", "errors", (json_int_t)errs, "warnings",
		                              (json_int_t)devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_WARNING),
		                              "info", (json_int_t)devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_INFO),
		                              "task_ids", (json_int_t)nids, "phantoms",
		                              (json_int_t)devsys_speckit_findings_count_severity(ph, DEVSYS_SPECKIT_WARNING)));
		json_object_set_new(verdict, "speckit_findings", list);
		if (errs) {
			char why[512]; /* the length the verdict's message always had */
			snprintf(why, sizeof(why), "%zu validator error(s) in %s, the first %s", errs, fd, first);
			snprintf(fail, failsz, "%s", why);
		}
	}
	devsys__free(ids);
	devsys_speckit_findings_free(ph);
	devsys_speckit_findings_free(r);
	return rc;
}

/*
 * The linked spec-kit feature (speckit.feature_dir), read in the checkout:
 * the folder and every file must stay inside it (a symlink out is refused).
 * A feature that cannot be read, or a validator error, fails verification.
 */
static void verify_feature(char *fail, size_t failsz, json_t *verdict, const devsys_node *sk,
                           devsys__verify_open_repo_fn open_repo, void *payload)
{
	const char *fd = devsys_node_string(devsys_node_get(sk, "/feature_dir"), NULL);
	devsys_buf path = DEVSYS_BUF_INIT;
	devsys_speckit_feature *f = NULL;
	devsys_repo *repo = NULL;
	char why[600];
	int rc;
	if (!fd) {
		json_object_set_new(verdict, "speckit", json_string("not linked"));
		return;
	}
	if ((rc = open_repo(&repo, payload)) == 0 &&
	    (rc = devsys__path_join_within(&path, devsys_repo_checkout_path(repo), fd)) == 0 &&
	    (rc = devsys_speckit_feature_load(&f, path.ptr, devsys_repo_checkout_path(repo))) == 0)
		rc = speckit_checks(fail, failsz, verdict, repo, f, fd, sk);
	if (rc < 0) {
		snprintf(why, sizeof(why), "the feature '%s' cannot be checked in the checkout: %s", fd,
		         devsys_error_message(devsys_error_last()));
		json_object_set_new(verdict, "speckit", json_string(why));
		snprintf(fail, failsz, "%s", why);
	}
	devsys_speckit_feature_free(f);
	devsys_buf_dispose(&path);
}

/* devsys_init(): the verify stage checks linked features from now on. */
int devsys__speckit_global_init(void);
int devsys__speckit_global_init(void)
{
	devsys__pipeline_set_speckit_verifier(verify_feature);
	return 0;
}
