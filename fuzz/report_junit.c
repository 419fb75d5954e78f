/*
 * Fuzz target: JUnit parsing. Invariants: never crash or leak; a report that
 * parses writes normalised XML that parses back to the same counts and
 * cases; the summary JSON can always be built; the totals-only parse
 * (DEVSYS_REPORT_NO_CASES, which takes its own allocation-free path) succeeds
 * exactly when the full parse does and gives the same summary.
 */
#include "core/core.h"
#include "devsys/report.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int initialised;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys_report_options o = DEVSYS_REPORT_OPTIONS_INIT;
	devsys_report *r = NULL, *back = NULL, *lean = NULL;
	devsys_buf xml = DEVSYS_BUF_INIT, js = DEVSYS_BUF_INIT, ljs = DEVSYS_BUF_INIT;
	int full_rc, lean_rc;
	if (!initialised) {
		devsys_init();
		initialised = 1;
	}
	o.max_text = 64;
	o.max_depth = 16;
	if (devsys_report_new(&r) != 0)
		return 0;
	if (devsys_report_new(&lean) != 0) {
		devsys_report_free(r);
		return 0;
	}
	full_rc = devsys_report_add_junit_buffer(r, (const char *)data, size, "fuzz", &o);
	o.flags = DEVSYS_REPORT_NO_CASES;
	lean_rc = devsys_report_add_junit_buffer(lean, (const char *)data, size, "fuzz", &o);
	o.flags = 0;
	if ((full_rc == 0) != (lean_rc == 0))
		__builtin_trap();
	if (full_rc == 0) {
		if (devsys_report_summary_json(r, &js) != 0 || devsys_report_summary_json(lean, &ljs) != 0)
			__builtin_trap();
		if (strcmp(js.ptr, ljs.ptr) != 0)
			__builtin_trap();
		if (devsys_report_junit_buf(r, &xml) != 0)
			__builtin_trap();
		if (devsys_report_new(&back) != 0)
			__builtin_trap();
		/* texts are already cut; the bound only grows by the cut marker */
		o.max_text = 1 << 20;
		if (devsys_report_add_junit_buffer(back, xml.ptr, xml.size, "round-trip", &o) != 0)
			__builtin_trap();
		if (devsys_report_tests(back) != devsys_report_tests(r))
			__builtin_trap();
		for (int s = 0; s < 4; s++)
			if (devsys_report_count(back, s) != devsys_report_count(r, s))
				__builtin_trap();
		for (size_t i = 0; i < devsys_report_case_count(r); i++)
			if (strcmp(devsys_report_case_at(r, i)->name, devsys_report_case_at(back, i)->name) != 0 ||
			    strcmp(devsys_report_case_at(r, i)->classname, devsys_report_case_at(back, i)->classname) != 0)
				__builtin_trap();
	} else if (devsys_report_tests(r) != 0)
		__builtin_trap(); /* a failed parse adds nothing */
	devsys_report_free(back);
	devsys_report_free(lean);
	devsys_report_free(r);
	devsys_buf_dispose(&xml);
	devsys_buf_dispose(&js);
	devsys_buf_dispose(&ljs);
	return 0;
}
