/*
 * libdevsys - test reports: JUnit XML parsing, normalisation, merge, summary.
 */
#ifndef DEVSYS_REPORT_H
#define DEVSYS_REPORT_H

#include "common.h"
#include "buf.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/report.h
 * @brief Reading the JUnit XML that test tools write, and writing it back
 *        in one normalised form.
 *
 * Accepted producers: pytest (xunit1 and xunit2), ctest --output-junit,
 * Criterion --xml, go-junit-report, Maven Surefire, jest-junit, and any
 * document whose root is <testsuites> or <testsuite>, with nested suites.
 *
 * Normalisation: the classname defaults to the innermost suite's name;
 * times are float seconds; a case's status is failure > error > skipped >
 * passed; ctest's status="disabled" (or "notrun") means skipped; the
 * counts are recomputed from the testcases (suite attributes are never
 * trusted); failure texts and system-out/err are cut to a bound.
 *
 * Safety: the parser is libxml2's streaming reader with network access,
 * entity substitution and DTD loading off; a document with a DTD (and so
 * any external entity or entity-expansion bomb) is refused with
 * DEVSYS_EPARSE. Nesting deeper than max_depth is DEVSYS_ELIMIT.
 *
 * Threads: a report handle is not shared across threads without locking;
 * different handles may be used concurrently.
 */
typedef struct devsys_report devsys_report;

/** The normalised status of a test case. */
typedef enum devsys_report_status {
	DEVSYS_REPORT_PASSED = 0,
	DEVSYS_REPORT_FAILED = 1,
	DEVSYS_REPORT_ERROR = 2,
	DEVSYS_REPORT_SKIPPED = 3
} devsys_report_status;

/**
 * One test case, owned by the library (callers only read it, so fields
 * are only ever appended). Strings are never NULL except @c message,
 * @c type, @c text, @c system_out, @c system_err and @c file, which are
 * NULL when absent. Texts are at most max_text bytes (cut at a UTF-8
 * boundary, with "\n[... N bytes cut]" appended).
 */
typedef struct devsys_report_case {
	int status;             /**< devsys_report_status */
	double time;            /**< seconds; 0 when the producer gave none */
	const char *suite;      /**< innermost <testsuite> name ("" when none) */
	const char *classname;  /**< classname, or the suite name */
	const char *name;       /**< the test's name */
	const char *file;       /**< file attribute, if any */
	const char *message;    /**< failure/error/skipped message attribute */
	const char *type;       /**< failure/error type attribute */
	const char *text;       /**< failure/error/skipped element text */
	const char *system_out; /**< the case's system-out */
	const char *system_err; /**< the case's system-err */
	const char *source;     /**< the file (or buffer name) it came from */
} devsys_report_case;

/** Called once per parsed case; non-zero aborts with DEVSYS_EUSER. */
typedef int (*devsys_report_case_cb)(const devsys_report_case *tc, void *payload);

/** Keep only the totals and the first failed case names, not every case:
 *  memory stays bounded whatever the report's size. */
#define DEVSYS_REPORT_NO_CASES (1u << 0)

/**
 * Version history of devsys_report_options:
 *  - 1: flags, max_text, max_depth, case_cb, case_payload.
 */
#define DEVSYS_REPORT_OPTIONS_VERSION 1

typedef struct devsys_report_options {
	unsigned int version;       /**< DEVSYS_REPORT_OPTIONS_VERSION */
	unsigned int flags;         /**< DEVSYS_REPORT_* flags */
	size_t max_text;            /**< bound for each text; 0 means 4096 bytes */
	unsigned int max_depth;     /**< element nesting bound; 0 means 64 */
	devsys_report_case_cb case_cb; /**< optional: sees every case as it is parsed */
	void *case_payload;         /**< passed to case_cb */
} devsys_report_options;

#define DEVSYS_REPORT_OPTIONS_INIT { DEVSYS_REPORT_OPTIONS_VERSION, 0u, 0u, 0u, NULL, NULL }

/** Most failed case names kept in NO_CASES mode and in summary.json. */
#define DEVSYS_REPORT_MAX_FAILED_NAMES 1000

/**
 * Initialise @p opts to the defaults of @p version.
 * @return 0, DEVSYS_EINVAL or DEVSYS_EVERSION.
 */
DEVSYS_API int devsys_report_options_init(devsys_report_options *opts, unsigned int version);

/**
 * An empty report. Free with devsys_report_free(). @return 0, DEVSYS_EINVAL, DEVSYS_ENOMEM.
 * @param out new: the report; free with devsys_report_free().
 */
DEVSYS_API int devsys_report_new(devsys_report **out);

/** Release a report. NULL is fine. */
DEVSYS_API void devsys_report_free(devsys_report *report);

/**
 * Parse one JUnit XML file into a new report (devsys_report_new() plus
 * devsys_report_add_junit()).
 * @return as devsys_report_add_junit(); *out is NULL on failure.
 * @param out new: the report (NULL on failure); free with devsys_report_free().
 */
DEVSYS_API int devsys_report_parse_junit(devsys_report **out, const char *path, const devsys_report_options *opts);

/**
 * Parse one JUnit XML file and merge its cases into @p report. All or
 * nothing: on failure @p report is unchanged. The file is streamed, so
 * memory is the cases kept (none with DEVSYS_REPORT_NO_CASES) plus one
 * text node.
 *
 * @return 0; DEVSYS_EINVAL; DEVSYS_EVERSION; DEVSYS_ENOTFOUND / DEVSYS_EIO
 *         (unreadable); DEVSYS_EPARSE (not well-formed XML, invalid UTF-8,
 *         truncated, a DTD or entity, not a JUnit root) with the file and
 *         line in the message; DEVSYS_ELIMIT (nesting deeper than
 *         max_depth); DEVSYS_EUSER (case_cb aborted); DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_report_add_junit(devsys_report *report, const char *path, const devsys_report_options *opts);

/**
 * As devsys_report_add_junit(), from memory. @p name labels the source
 * (in messages and devsys_report_case.source); NULL means "<buffer>".
 */
DEVSYS_API int devsys_report_add_junit_buffer(devsys_report *report, const char *data, size_t len, const char *name,
                                              const devsys_report_options *opts);

/**
 * Append every case (and source) of @p src to @p dst. When either side was
 * parsed totals-only, only the totals and failed names are merged and @p dst
 * becomes totals-only. @return 0; DEVSYS_EINVAL (NULL, or @p dst == @p src);
 * DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_report_merge(devsys_report *dst, const devsys_report *src);

/** Number of cases counted (kept or not). */
DEVSYS_API size_t devsys_report_tests(const devsys_report *report);

/** Number of cases counted with @p status (a devsys_report_status). */
DEVSYS_API size_t devsys_report_count(const devsys_report *report, int status);

/** Sum of the cases' times, in seconds. */
DEVSYS_API double devsys_report_time(const devsys_report *report);

/** Number of cases kept (0 in DEVSYS_REPORT_NO_CASES mode). */
DEVSYS_API size_t devsys_report_case_count(const devsys_report *report);

/**
 * The @p i th kept case, or NULL when out of range. Borrowed from @p report.
 * @return borrowed: from @p report, valid until it is changed or freed; NULL when out of range.
 */
DEVSYS_API const devsys_report_case *devsys_report_case_at(const devsys_report *report, size_t i);

/**
 * Call @p cb for every kept case in order; a non-zero return stops and
 * gives DEVSYS_EUSER. @return 0, DEVSYS_EINVAL, DEVSYS_EUSER.
 */
DEVSYS_API int devsys_report_foreach(const devsys_report *report, devsys_report_case_cb cb, void *payload);

/** Number of source files merged into the report. */
DEVSYS_API size_t devsys_report_source_count(const devsys_report *report);

/**
 * The @p i th source file name, or NULL. Borrowed from @p report.
 * @return borrowed: from @p report, valid until it is changed or freed; NULL when out of range.
 */
DEVSYS_API const char *devsys_report_source_at(const devsys_report *report, size_t i);

/**
 * The normalised JUnit XML: one <testsuites> root with recomputed counts,
 * one <testsuite> per run of consecutive cases of one suite.
 * Needs the cases (not DEVSYS_REPORT_NO_CASES: DEVSYS_ESTATE).
 * @return 0, DEVSYS_EINVAL, DEVSYS_ESTATE, DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_report_junit_buf(const devsys_report *report, devsys_buf *out);

/** devsys_report_junit_buf() written to @p path atomically. */
DEVSYS_API int devsys_report_write_junit(const devsys_report *report, const char *path);

/**
 * The summary JSON (the format of reports/<run>/summary.json, see
 * docs/reports.md): {"tests","passed","failed","errors","skipped",
 * "time","failed_cases":[{"suite","classname","name","status",
 * "message"}],"failed_cases_truncated","sources":[...]}.
 * @return 0, DEVSYS_EINVAL, DEVSYS_ENOMEM.
 */
DEVSYS_API int devsys_report_summary_json(const devsys_report *report, devsys_buf *out);

/**
 * The report's test cases as a JSON array, in report order, the shape the
 * CLI (`devsys report --json`) and devsysd (GET .../tests/...) both give:
 * [{"suite","classname","name","status","time"} plus "message", "type" and
 * "text" when the case has them]. Into @p out (cleared first). A report read
 * with DEVSYS_REPORT_NO_CASES gives [].
 * @return 0, DEVSYS_EINVAL, DEVSYS_ENOMEM. Thread-safe for a report no one changes.
 */
DEVSYS_API int devsys_report_cases_json(devsys_buf *out, const devsys_report *report);

/** devsys_report_summary_json() written to @p path atomically. */
DEVSYS_API int devsys_report_write_summary(const devsys_report *report, const char *path);

/**
 * "passed", "failed", "error", "skipped", or "unknown".
 * @return borrowed: a static string, valid for the life of the process.
 */
DEVSYS_API const char *devsys_report_status_name(int status);

DEVSYS_END_DECL

#endif /* DEVSYS_REPORT_H */
