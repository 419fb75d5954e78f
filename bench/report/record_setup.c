/*
 * Bench helper: a workspace with task ID whose run 1 holds JUNIT.
 * usage: bench_record_setup WORKSPACE ID JUNIT
 */
#include <devsys.h>
#include <devsys/record.h>
#include <devsys/store.h>

#include <stdio.h>

int main(int argc, char **argv)
{
	devsys_workspace *ws;
	devsys_store *st;
	devsys_task *t;
	devsys_record *rec;
	unsigned int run;
	char dst[4096];
	FILE *in, *out;
	int c;
	if (argc != 4 || devsys_init() < 0 || devsys_workspace_open(&ws, argv[1], NULL) < 0 ||
	    devsys_store_open(&st, ws, NULL) < 0 || devsys_store_task_create(st, argv[2], NULL) < 0 ||
	    devsys_task_open(&t, ws, argv[2], 0) < 0 || devsys_record_open(&rec, t) < 0)
		goto fail;
	/* reports are collected from inside the workspace */
	snprintf(dst, sizeof(dst), "%s/incoming.xml", devsys_task_path(t));
	if (!(in = fopen(argv[3], "rb")) || !(out = fopen(dst, "wb")))
		goto fail;
	while ((c = getc(in)) != EOF)
		putc(c, out);
	fclose(in);
	fclose(out);
	if (devsys_record_run_begin(rec, &run) < 0 || devsys_record_run_add_junit(rec, run, dst) < 0 ||
	    devsys_record_run_complete(rec, run) < 0 || devsys_store_run_record(st, argv[2], run) < 0)
		goto fail;
	devsys_record_free(rec);
	devsys_task_free(t);
	devsys_store_free(st);
	devsys_workspace_free(ws);
	devsys_shutdown();
	return 0;
fail:
	fprintf(stderr, "bench_record_setup: %s\n", devsys_error_message(devsys_error_last()));
	return 1;
}
