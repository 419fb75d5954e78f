/*
 * The devsys command-line tool: shared helpers for command modules.
 * The tool is a thin shell over the library; anything more than argument
 * handling and printing belongs in lib/.
 */
#ifndef DEVSYS_CLI_H
#define DEVSYS_CLI_H

#include <devsys.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes, documented in `devsys help` and docs/cli.md. */
enum {
	DEVSYS_EXIT_OK = 0,          /* success */
	DEVSYS_EXIT_FAILED = 1,      /* ran, with a negative result (invalid spec, failed test, ...) */
	DEVSYS_EXIT_USAGE = 2,       /* bad usage, or input that cannot be read */
	DEVSYS_EXIT_SYSTEM = 3,      /* environment failure: workspace unwritable, service down, ... */
	DEVSYS_EXIT_INTERRUPTED = 130 /* interrupted by SIGINT */
};

typedef struct devsys_cli {
	bool json;             /* --json: machine-readable output on stdout */
	bool color;            /* colours on a tty, unless --no-color or NO_COLOR */
	int verbosity;         /* -v (repeatable) raises the log level shown on stderr */
	const char *workspace; /* --workspace DIR, else the library default */
	const char *argv0;
} devsys_cli;

typedef struct devsys_cli_command {
	const char *name;    /* NULL terminates a table */
	const char *usage;   /* arguments, e.g. "FILE..." */
	const char *summary; /* one line for `devsys help` */
	int (*run)(devsys_cli *cli, int argc, char **argv); /* argv[0] is the command name */
} devsys_cli_command;

extern const devsys_cli_command *const devsys_cli_tables[];

/* Find a command by name across all tables, or NULL. */
const devsys_cli_command *devsys_cli_find(const char *name);

/* Report the library's last error (text on stderr, or JSON on stdout) and
 * return the exit code that fits its DEVSYS_E* code. */
int devsys_cli_fail_lib(devsys_cli *cli, const char *what);

/* Report a usage error and return DEVSYS_EXIT_USAGE. */
int devsys_cli_usage_error(devsys_cli *cli, const char *fmt, ...) DEVSYS_PRINTF(2, 3);

/* The exit code for a DEVSYS_E* code. */
int devsys_cli_exit_code(int devsys_code);

/* Open the workspace chosen by --workspace / DEVSYS_WORKSPACE / default,
 * with a stderr logger honouring -v. Reports errors itself. */
int devsys_cli_open_workspace(devsys_cli *cli, devsys_workspace **out);

/* Open the workspace and its store: the one @p config's (a devsys.yaml path,
 * may be NULL) store: section names, else DEVSYS_STORE_URL or SQLite, as
 * `devsys worker` opens it (devsys_store_open_config()). Reports errors
 * itself; on success free both, on failure both are NULL. */
int devsys_cli_open_store(devsys_cli *cli, devsys_workspace **ws, devsys_store **st, const char *config);

/* When argv[*i] is `--config FILE` or `--config=FILE`: set @p config, step
 * *i past it and return 1; else 0. */
int devsys_cli_config_arg(const char **config, int *i, int argc, char **argv);

/* Print a JSON value on stdout (indented, newline) and take ownership of it. */
void devsys_cli_print_json(json_t *value);

/* "\033[..m" when colours are on, else "". */
const char *devsys_cli_color(const devsys_cli *cli, const char *ansi);

#ifdef DEVSYS_HAVE_MODULE_SPEC
/* Print every validation error as "file:line:col: /pointer: message" (cmd_spec.c). */
void devsys_cli_print_validation(FILE *out, const devsys_validation *v);
#endif

#ifdef DEVSYS_HAVE_MODULE_PIPELINE
/* devsys run SPEC... --jobs N (cmd_queue.c): every document validated, then the tasks run N at a
 * time, one pipeline per thread, and a summary of all. */
int devsys_cli_run_many(devsys_cli *cli, char **files, int nfiles, int jobs, const char *config);
/* The same scheduler for tasks registered already (@p ids, not validated again): devsys speckit run --jobs N. */
int devsys_cli_run_task_ids(devsys_cli *cli, const char *const *ids, size_t n, int jobs, const char *config);
/* The same from run's argv when it has --jobs or several spec files; else -1. */
int devsys_cli_run_many_argv(devsys_cli *cli, int argc, char **argv);
#endif

#endif /* DEVSYS_CLI_H */
