/*
 * Shared body of the spec-kit fuzz targets: parse one file from memory,
 * then run everything that reads the parse. Invariants: never crash or
 * leak; the checks, their three output forms and the plan always finish;
 * a plan, when one is made, holds every task exactly once; marking every
 * task done changes only state bytes (' ' to 'X'), keeps the length, and
 * leaves no task of the re-parse unticked.
 */
#include "core/core.h"
#include "devsys/speckit.h"
#include "speckit/speckit_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void speckit_outputs(const devsys_speckit_feature *f)
{
	devsys_speckit_findings *r = NULL;
	devsys_buf b = DEVSYS_BUF_INIT;
	if (devsys_speckit_findings_new(&r) != 0)
		return;
	if (devsys_speckit_check(r, f) != 0)
		abort();
	if (devsys_speckit_findings_to_text(&b, r) != 0 || devsys_speckit_findings_to_json(&b, r) != 0 ||
	    devsys_speckit_findings_to_sarif(&b, r) != 0)
		abort();
	devsys_buf_dispose(&b);
	devsys_speckit_findings_free(r);
	devsys_speckit_plan *p = NULL;
	if (devsys_speckit_plan_new(&p, f) == 0) {
		size_t n = 0;
		for (size_t w = 0; w < devsys_speckit_plan_wave_count(p); w++) {
			if (devsys_speckit_plan_wave_size(p, w) == 0)
				abort(); /* no empty wave */
			n += devsys_speckit_plan_wave_size(p, w);
		}
		if (n != devsys_speckit_task_count(f))
			abort();
		if (devsys_speckit_plan_to_yaml(&b, p, "https://example.com/r.git", "specs/001-fuzz", 0) != 0 ||
		    devsys_speckit_plan_to_yaml(&b, p, "https://example.com/r.git", "specs/001-fuzz",
		                                DEVSYS_SPECKIT_YAML_PER_WAVE) != 0)
			abort();
		devsys_buf_dispose(&b);
		devsys_speckit_plan_free(p);
	}
}

static void speckit_mark_all(const devsys_speckit_feature *f, const uint8_t *data, size_t size)
{
	size_t n = devsys_speckit_task_count(f);
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		ids[i] = devsys_speckit_task_id(devsys_speckit_task_at(f, i));
	devsys_buf out = DEVSYS_BUF_INIT;
	size_t marked = 0;
	if (devsys_speckit_mark_done(&out, &marked, (const char *)data, size, ids, n) != 0)
		abort(); /* every id the parser found has a line the editor finds */
	if (out.size != size)
		abort();
	size_t diff = 0;
	for (size_t i = 0; i < size; i++)
		if (out.ptr[i] != (char)data[i]) {
			if (data[i] != ' ' || out.ptr[i] != 'X')
				abort();
			diff++;
		}
	if (diff != marked)
		abort();
	devsys_speckit_feature *g = NULL;
	if (devsys__sk_feature_parse_mem(&g, "tasks.md", out.ptr, out.size) == 0) {
		if (devsys_speckit_task_count(g) != n)
			abort();
		for (size_t i = 0; i < n; i++)
			if (devsys_speckit_task_state(devsys_speckit_task_at(g, i)) == ' ')
				abort();
		devsys_speckit_feature_free(g);
	}
	devsys_buf_dispose(&out);
	free(ids);
}

static int speckit_fuzz(const char *which, const uint8_t *data, size_t size)
{
	devsys_speckit_feature *f = NULL;
	if (devsys__sk_feature_parse_mem(&f, which, data, size) != 0)
		return 0;
	speckit_outputs(f);
	if (strcmp(which, "tasks.md") == 0)
		speckit_mark_all(f, data, size);
	devsys_speckit_feature_free(f);
	return 0;
}
