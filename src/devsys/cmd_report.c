/*
 * devsys report: a task's latest test results (or JUnit files) as a table,
 * JSON, or a self-contained HTML page.
 */
#include "cli.h"

#include <devsys/report.h>
#if defined(DEVSYS_HAVE_MODULE_RECORD)
#include <devsys/record.h>
#endif

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_file_arg(const char *a)
{
	struct stat st;
	size_t n = strlen(a);
	return (n > 4 && strcmp(a + n - 4, ".xml") == 0) || strchr(a, '/') || (stat(a, &st) == 0 && S_ISREG(st.st_mode));
}

/* Load the report: JUnit files given on the command line, or a task's latest run. */
static int load(devsys_cli *cli, int argc, char **argv, devsys_report **rep, char *title, size_t tsize)
{
	int rc;
	if (devsys_report_new(rep) < 0)
		return devsys_cli_fail_lib(cli, "cannot create a report");
	if (is_file_arg(argv[0])) {
		for (int i = 0; i < argc; i++)
			if (devsys_report_add_junit(*rep, argv[i], NULL) < 0)
				return devsys_cli_fail_lib(cli, "cannot read the JUnit file");
		snprintf(title, tsize, "%s%s", argv[0], argc > 1 ? " and more" : "");
		return DEVSYS_EXIT_OK;
	}
	if (argc != 1)
		return devsys_cli_usage_error(cli, "report takes one TASK, or JUnit files");
#if defined(DEVSYS_HAVE_MODULE_RECORD)
	{
		devsys_workspace *ws;
		devsys_task *task = NULL;
		devsys_buf p = DEVSYS_BUF_INIT;
		unsigned int run;
		char rel[64];
		if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0)
			return rc;
		if (devsys_task_open(&task, ws, argv[0], 0) < 0 || devsys_record_latest_run(task, &run) < 0) {
			rc = devsys_cli_fail_lib(cli, "no test results");
			goto out;
		}
		snprintf(rel, sizeof(rel), "reports/%u/junit.xml", run);
		if (devsys_task_path_join(&p, task, rel) < 0 || devsys_report_add_junit(*rep, p.ptr, NULL) < 0) {
			rc = devsys_cli_fail_lib(cli, "cannot read the run's results");
			goto out;
		}
		snprintf(title, tsize, "task %s, run %u", argv[0], run);
		rc = DEVSYS_EXIT_OK;
	out:
		devsys_buf_dispose(&p);
		devsys_task_free(task);
		devsys_workspace_free(ws);
		return rc;
	}
#else
	(void)rc;
	return devsys_cli_usage_error(cli, "'%s' is not a JUnit file (task records need the record module)", argv[0]);
#endif
}

static void html_escape(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static int by_time_desc(const void *a, const void *b)
{
	const devsys_report_case *x = *(const devsys_report_case *const *)a, *y = *(const devsys_report_case *const *)b;
	return x->time < y->time ? 1 : x->time > y->time ? -1 : 0;
}

static void write_html(FILE *f, const devsys_report *r, const char *title)
{
	size_t n = devsys_report_tests(r), nc = devsys_report_case_count(r);
	size_t pass = devsys_report_count(r, DEVSYS_REPORT_PASSED), fail = devsys_report_count(r, DEVSYS_REPORT_FAILED);
	size_t err = devsys_report_count(r, DEVSYS_REPORT_ERROR), skip = devsys_report_count(r, DEVSYS_REPORT_SKIPPED);
	const devsys_report_case **sorted = calloc(nc ? nc : 1, sizeof(*sorted));
	double pct[4];
	size_t counts[4] = { pass, fail, err, skip };
	for (int i = 0; i < 4; i++)
		pct[i] = n ? 100.0 * (double)counts[i] / (double)n : 0;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Test report: ", f);
	html_escape(f, title);
	fputs("</title>\n<style>\n"
	      "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\n"
	      "h1{font-size:1.4em}.bar{display:flex;height:22px;border-radius:4px;overflow:hidden;background:#eee;margin:.5em 0}\n"
	      ".bar div{height:100%}.passed{background:#2da44e}.failed{background:#cf222e}.error{background:#bc4c00}"
	      ".skipped{background:#8c959f}\n"
	      "table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;"
	      "text-align:left}\n"
	      ".st-failed,.st-error{color:#cf222e;font-weight:bold}.st-passed{color:#2da44e}.st-skipped{color:#57606a}\n"
	      "pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:20em}\n"
	      "</style></head>\n<body>\n<h1>Test report: ",
	      f);
	html_escape(f, title);
	fprintf(f,
	        "</h1>\n<p id=\"totals\">%zu tests: <span class=\"st-passed\">%zu passed</span>, "
	        "<span class=\"st-failed\">%zu failed</span>, <span class=\"st-error\">%zu errors</span>, "
	        "<span class=\"st-skipped\">%zu skipped</span> in %.3f s</p>\n"
	        "<div class=\"bar\" id=\"bar\" role=\"img\" aria-label=\"pass/fail bar\">"
	        "<div class=\"passed\" style=\"width:%.2f%%\" title=\"passed\"></div>"
	        "<div class=\"failed\" style=\"width:%.2f%%\" title=\"failed\"></div>"
	        "<div class=\"error\" style=\"width:%.2f%%\" title=\"errors\"></div>"
	        "<div class=\"skipped\" style=\"width:%.2f%%\" title=\"skipped\"></div></div>\n",
	        n, pass, fail, err, skip, devsys_report_time(r), pct[0], pct[1], pct[2], pct[3]);
	fputs("<h2>Failures</h2>\n<div id=\"failures\">\n", f);
	if (fail + err == 0)
		fputs("<p>None.</p>\n", f);
	for (size_t i = 0; i < nc; i++) {
		const devsys_report_case *c = devsys_report_case_at(r, i);
		sorted[i] = c;
		if (c->status != DEVSYS_REPORT_FAILED && c->status != DEVSYS_REPORT_ERROR)
			continue;
		fprintf(f, "<div class=\"failure\"><h3 class=\"st-%s\">", devsys_report_status_name(c->status));
		html_escape(f, c->classname);
		fputs(" &rsaquo; <span class=\"test-name\">", f);
		html_escape(f, c->name);
		fputs("</span></h3>\n", f);
		if (c->message) {
			fputs("<p class=\"message\">", f);
			html_escape(f, c->message);
			fputs("</p>\n", f);
		}
		if (c->text && *c->text) {
			fputs("<pre>", f);
			html_escape(f, c->text);
			fputs("</pre>\n", f);
		}
		fputs("</div>\n", f);
	}
	fputs("</div>\n<h2>Slowest tests</h2>\n<table id=\"slowest\"><tr><th>Time (s)</th><th>Status</th><th>Test</th></tr>\n",
	      f);
	qsort(sorted, nc, sizeof(*sorted), by_time_desc);
	for (size_t i = 0; i < nc && i < 10; i++) {
		fprintf(f, "<tr><td>%.3f</td><td class=\"st-%s\">%s</td><td>", sorted[i]->time,
		        devsys_report_status_name(sorted[i]->status), devsys_report_status_name(sorted[i]->status));
		html_escape(f, sorted[i]->classname);
		fputs(" &rsaquo; ", f);
		html_escape(f, sorted[i]->name);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n<h2>All tests</h2>\n<table id=\"all\"><tr><th>Status</th><th>Time (s)</th><th>Test</th></tr>\n", f);
	for (size_t i = 0; i < nc; i++) {
		const devsys_report_case *c = devsys_report_case_at(r, i);
		fprintf(f, "<tr><td class=\"st-%s\">%s</td><td>%.3f</td><td>", devsys_report_status_name(c->status),
		        devsys_report_status_name(c->status), c->time);
		html_escape(f, c->classname);
		fputs(" &rsaquo; ", f);
		html_escape(f, c->name);
		fputs("</td></tr>\n", f);
	}
	/* marks the page as rendered (checked by the headless-browser test) */
	fputs("</table>\n<script>document.body.setAttribute('data-rendered','yes')</script>\n</body></html>\n", f);
	free(sorted);
}

static int cmd_report(devsys_cli *cli, int argc, char **argv)
{
	devsys_report *rep = NULL;
	const char *html = NULL;
	bool want_html = false;
	char title[512];
	int rc, first = 1;
	size_t failed;

	while (first < argc && argv[first][0] == '-') {
		if (strcmp(argv[first], "--html") == 0)
			want_html = true;
		else if (strcmp(argv[first], "--output") == 0 && first + 1 < argc)
			html = argv[++first];
		else
			return devsys_cli_usage_error(cli, "report: unknown option '%s'", argv[first]);
		first++;
	}
	if (first >= argc)
		return devsys_cli_usage_error(cli, "report needs a TASK or JUnit files");
	if ((rc = load(cli, argc - first, argv + first, &rep, title, sizeof(title))) != 0) {
		devsys_report_free(rep);
		return rc;
	}
	failed = devsys_report_count(rep, DEVSYS_REPORT_FAILED) + devsys_report_count(rep, DEVSYS_REPORT_ERROR);
	if (want_html) {
		FILE *f = html ? fopen(html, "w") : stdout;
		if (!f) {
			devsys_report_free(rep);
			return devsys_cli_usage_error(cli, "cannot write '%s'", html);
		}
		write_html(f, rep, title);
		if (html && fclose(f) != 0) {
			devsys_report_free(rep);
			return devsys_cli_usage_error(cli, "cannot write '%s'", html);
		}
		if (html && !cli->json)
			fprintf(stderr, "wrote %s\n", html);
	} else if (cli->json) {
		devsys_buf b = DEVSYS_BUF_INIT, cj = DEVSYS_BUF_INIT;
		json_t *root;
		devsys_report_summary_json(rep, &b);
		devsys_report_cases_json(&cj, rep); /* the same case JSON devsysd serves */
		root = json_pack("{s:s,s:o,s:o}", "title", title, "summary", json_loads(b.ptr, 0, NULL), "cases",
		                 cj.ptr ? json_loads(cj.ptr, 0, NULL) : json_array());
		devsys_buf_dispose(&b);
		devsys_buf_dispose(&cj);
		devsys_cli_print_json(root);
	} else {
		static const char *colour[] = { "\033[32m", "\033[1;31m", "\033[1;33m", "\033[2m" };
		static const char *label[] = { "PASS", "FAIL", "ERROR", "SKIP" };
		printf("%s: %zu tests, %s%zu passed%s, %s%zu failed%s, %zu errors, %zu skipped, %.3f s\n", title,
		       devsys_report_tests(rep), devsys_cli_color(cli, colour[0]), devsys_report_count(rep, 0),
		       devsys_cli_color(cli, "\033[0m"), devsys_cli_color(cli, colour[1]), devsys_report_count(rep, 1),
		       devsys_cli_color(cli, "\033[0m"), devsys_report_count(rep, 2), devsys_report_count(rep, 3),
		       devsys_report_time(rep));
		printf("%-6s %10s  %s\n", "STATUS", "TIME", "TEST");
		for (size_t i = 0; i < devsys_report_case_count(rep); i++) {
			const devsys_report_case *c = devsys_report_case_at(rep, i);
			printf("%s%-6s%s %9.3fs  %s.%s\n", devsys_cli_color(cli, colour[c->status]), label[c->status],
			       devsys_cli_color(cli, "\033[0m"), c->time, c->classname, c->name);
			if ((c->status == DEVSYS_REPORT_FAILED || c->status == DEVSYS_REPORT_ERROR) && c->message)
				printf("%18s%.200s\n", "", c->message);
		}
	}
	devsys_report_free(rep);
	return failed ? DEVSYS_EXIT_FAILED : DEVSYS_EXIT_OK;
}

const devsys_cli_command devsys_cli_report_commands[] = {
	{ "report", "[--html [--output FILE]] TASK|JUNIT.xml...",
	  "show test results (latest run of TASK, or JUnit files); exit 1 when a test failed", cmd_report },
	{ NULL, NULL, NULL, NULL }
};
