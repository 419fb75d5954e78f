/*
 * The embedded default of `devsys run`: the sample repository (the files of
 * examples/sample-repo/, compiled in), its agent script and its spec.
 */
#ifndef DEVSYS_CLI_SAMPLE_H
#define DEVSYS_CLI_SAMPLE_H

#include <stddef.h>

typedef struct devsys_cli_sample_file {
	const char *path; /* relative to the repository's root; NULL ends the table */
	const char *data;
	const size_t *len;
} devsys_cli_sample_file;

extern const devsys_cli_sample_file devsys_cli_sample_files[];

#ifdef DEVSYS_CLI_H
/*
 * Make <workspace>/sample once (idempotent, safe against a concurrent run):
 * remote.git, a bare repository with the sample committed on main (libgit2),
 * and agent.py, the sample agent. Then put the embedded spec into @p spec,
 * with {sample} replaced by that directory's absolute path. Reports its
 * errors itself and returns a DEVSYS_EXIT_* code.
 */
int devsys_cli_sample_prepare(devsys_cli *cli, devsys_workspace *ws, devsys_buf *spec);
#endif

#endif
