/*
 * Shared CLI helpers: error reporting, exit codes, workspace opening.
 */
#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

const devsys_cli_command *devsys_cli_find(const char *name)
{
	for (size_t t = 0; devsys_cli_tables[t]; t++)
		for (const devsys_cli_command *c = devsys_cli_tables[t]; c->name; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

int devsys_cli_exit_code(int code)
{
	switch (code) {
	case DEVSYS_OK: return DEVSYS_EXIT_OK;
	case DEVSYS_EINVAL:
	case DEVSYS_EPARSE:
	case DEVSYS_EBADID:
	case DEVSYS_ENOTFOUND:
	case DEVSYS_ELIMIT:
	case DEVSYS_EPATH: return DEVSYS_EXIT_USAGE;
	case DEVSYS_EINVALID:
	case DEVSYS_EPROTECTED:
	case DEVSYS_ECONFLICT:
	case DEVSYS_ESTATE: return DEVSYS_EXIT_FAILED;
	case DEVSYS_ECANCELED: return DEVSYS_EXIT_INTERRUPTED;
	default: return DEVSYS_EXIT_SYSTEM;
	}
}

int devsys_cli_fail_lib(devsys_cli *cli, const char *what)
{
	const devsys_error *e = devsys_error_last();
	int code = devsys_error_code(e);

	if (cli->json) {
		json_t *err = json_pack("{s:{s:s,s:i,s:s,s:s}}", "error", "code", devsys_error_name(code), "number", code,
		                        "message", devsys_error_message(e), "context", what ? what : "");
		devsys_cli_print_json(err);
	} else {
		fprintf(stderr, "%s%s:%s %s%s%s\n", devsys_cli_color(cli, "\033[1;31m"), "error",
		        devsys_cli_color(cli, "\033[0m"), what ? what : "", what ? ": " : "", devsys_error_message(e));
	}
	return devsys_cli_exit_code(code);
}

int devsys_cli_usage_error(devsys_cli *cli, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:{s:s,s:s}}", "error", "code", "usage", "message", msg));
	else
		fprintf(stderr, "devsys: %s\nTry 'devsys help'.\n", msg);
	return DEVSYS_EXIT_USAGE;
}

static void stderr_logger(int level, const char *component, const char *message, void *payload)
{
	devsys_cli *cli = payload;
	fprintf(stderr, "%s[%s %s]%s %s\n", devsys_cli_color(cli, "\033[2m"), devsys_log_level_name(level), component,
	        devsys_cli_color(cli, "\033[0m"), message);
}

int devsys_cli_open_workspace(devsys_cli *cli, devsys_workspace **out)
{
	devsys_workspace_options opts = DEVSYS_WORKSPACE_OPTIONS_INIT;
	int level = DEVSYS_LOG_WARN - cli->verbosity;

	opts.log_level = level < DEVSYS_LOG_TRACE ? DEVSYS_LOG_TRACE : level;
	opts.log_cb = stderr_logger;
	opts.log_payload = cli;
	if (devsys_workspace_open(out, cli->workspace, &opts) < 0)
		return devsys_cli_fail_lib(cli, "cannot open the workspace");
	return DEVSYS_EXIT_OK;
}

void devsys_cli_print_json(json_t *value)
{
	if (!value) {
		fputs("{\"error\":{\"code\":\"DEVSYS_ENOMEM\",\"message\":\"cannot build JSON output\"}}\n", stdout);
		return;
	}
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(value);
}

const char *devsys_cli_color(const devsys_cli *cli, const char *ansi)
{
	return cli->color ? ansi : "";
}
