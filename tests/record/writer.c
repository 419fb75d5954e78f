/*
 * Helper for the kill -9 test: writes test runs into one task's record
 * forever. Run n's JUnit file has (n % 50) + 1 cases, so a reader can check
 * that reports/latest always names a complete, matching run.
 * usage: record_writer WORKSPACE TASK
 */
#include <devsys.h>
#include <devsys/record.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	devsys_workspace *ws;
	devsys_task *task;
	char src[4096];
	if (argc != 3 || devsys_init() < 0 || devsys_workspace_open(&ws, argv[1], NULL) < 0 ||
	    devsys_task_open(&task, ws, argv[2], DEVSYS_TASK_CREATE) < 0)
		return 2;
	snprintf(src, sizeof(src), "%s/incoming.xml", argv[1]);
	for (;;) {
		devsys_record *rec;
		unsigned int run;
		char key[32];
		FILE *f;
		if (devsys_record_open(&rec, task) < 0 || devsys_record_run_begin(rec, &run) < 0)
			return 3;
		f = fopen(src, "w");
		if (!f)
			return 4;
		fprintf(f, "<testsuite name='w'>");
		for (unsigned int i = 0; i < run % 50 + 1; i++) {
			fprintf(f, "<testcase name='c%u'%s><system-out>", i, i % 3 ? "" : "><failure message='x'/");
			for (int k = 0; k < 40; k++)
				fprintf(f, "output line %d of case %u of run %u\n", k, i, run);
			fprintf(f, "</system-out></testcase>");
		}
		fprintf(f, "</testsuite>\n");
		fclose(f);
		snprintf(key, sizeof(key), "run_%u", run % 4);
		if (devsys_record_run_add_junit(rec, run, src) < 0 || devsys_record_run_complete(rec, run) < 0 ||
		    devsys_record_set_int(rec, "last_run", run) < 0 || devsys_record_set_string(rec, key, "done") < 0 ||
		    devsys_record_save(rec) < 0 || devsys_record_event(rec, "run-complete", "{\"ok\":true}", NULL) < 0) {
			fprintf(stderr, "writer: %s\n", devsys_error_message(devsys_error_last()));
			return 5;
		}
		devsys_record_free(rec);
	}
}
