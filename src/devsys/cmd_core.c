/*
 * Core commands: help, version, init, run.
 */
#include "cli.h"

#include <string.h>

static int cmd_help(devsys_cli *cli, int argc, char **argv)
{
	if (argc > 1) {
		const devsys_cli_command *c = devsys_cli_find(argv[1]);
		if (!c)
			return devsys_cli_usage_error(cli, "no help for unknown command '%s'", argv[1]);
		printf("usage: devsys %s %s\n\n  %s\n", c->name, c->usage, c->summary);
		return DEVSYS_EXIT_OK;
	}
	if (cli->json) {
		json_t *cmds = json_array();
		for (size_t t = 0; devsys_cli_tables[t]; t++)
			for (const devsys_cli_command *c = devsys_cli_tables[t]; c->name; c++)
				json_array_append_new(cmds, json_pack("{s:s,s:s,s:s}", "name", c->name, "usage", c->usage,
				                                      "summary", c->summary));
		devsys_cli_print_json(json_pack("{s:o,s:{s:i,s:i,s:i,s:i,s:i}}", "commands", cmds, "exit_codes", "ok", 0,
		                                "failed", 1, "usage", 2, "system", 3, "interrupted", 130));
		return DEVSYS_EXIT_OK;
	}
	printf("usage: devsys [--json] [--workspace DIR] [-v] [--no-color] COMMAND [ARGS...]\n\n"
	       "Runs and audits software-development agent tasks with libdevsys %s.\n\nCommands:\n",
	       devsys_version());
	for (size_t t = 0; devsys_cli_tables[t]; t++)
		for (const devsys_cli_command *c = devsys_cli_tables[t]; c->name; c++)
			printf("  %-10s %-22s %s\n", c->name, c->usage, c->summary);
	printf("\nGlobal options:\n"
	       "  --json            machine-readable JSON on stdout (errors too)\n"
	       "  --workspace DIR   the workspace (default: $DEVSYS_WORKSPACE, else ./.devsys)\n"
	       "  -v, --verbose     show library log messages on stderr (repeat for more)\n"
	       "  --no-color        no colours (also when NO_COLOR is set or output is not a tty)\n"
	       "\nExit codes:\n"
	       "  0    success\n"
	       "  1    the command ran and its result is negative (invalid spec, failed task, refused push)\n"
	       "  2    bad usage, or input that cannot be read\n"
	       "  3    environment or system failure (workspace not writable, service down, out of memory)\n"
	       "  130  interrupted\n");
	return DEVSYS_EXIT_OK;
}

static int cmd_version(devsys_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:s,s:s,s:i}", "version", devsys_version(), "headers",
		                                DEVSYS_VERSION_STRING, "abi", DEVSYS_ABI_VERSION));
	else
		printf("devsys %s (libdevsys ABI %d)\n", devsys_version(), DEVSYS_ABI_VERSION);
	return DEVSYS_EXIT_OK;
}

static int cmd_init(devsys_cli *cli, int argc, char **argv)
{
	devsys_workspace *ws;
	int rc;

	if (argc > 2)
		return devsys_cli_usage_error(cli, "init takes at most one directory");
	if (argc == 2)
		cli->workspace = argv[1];
	if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0)
		return rc;
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:s}", "workspace", devsys_workspace_path(ws)));
	else
		printf("workspace ready: %s\n", devsys_workspace_path(ws));
	devsys_workspace_free(ws);
	return DEVSYS_EXIT_OK;
}

const devsys_cli_command devsys_cli_core_commands[] = {
	{ "help", "[COMMAND]", "show commands, options and exit codes", cmd_help },
	{ "version", "", "print the library version", cmd_version },
	{ "init", "[DIR]", "create (or check) a workspace", cmd_init },
	{ NULL, NULL, NULL, NULL }
};
