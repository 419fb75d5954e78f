/*
 * devsys: the command-line face of libdevsys.
 *
 *   devsys [--json] [--workspace DIR] [-v] [--no-color] COMMAND [ARGS...]
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Global options may appear anywhere before "--"; remove them from argv. */
static int take_global_options(devsys_cli *cli, int *argc, char **argv)
{
	int out = 1;
	bool ended = false;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (!ended && strcmp(a, "--") == 0) {
			ended = true;
			argv[out++] = argv[i];
		} else if (!ended && strcmp(a, "--json") == 0) {
			cli->json = true;
		} else if (!ended && strcmp(a, "--no-color") == 0) {
			cli->color = false;
		} else if (!ended && (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)) {
			cli->verbosity++;
		} else if (!ended && strcmp(a, "--workspace") == 0) {
			if (i + 1 >= *argc)
				return devsys_cli_usage_error(cli, "--workspace needs a directory");
			cli->workspace = argv[++i];
		} else if (!ended && strncmp(a, "--workspace=", 12) == 0) {
			cli->workspace = a + 12;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	devsys_cli cli = { 0 };
	const devsys_cli_command *cmd;
	const char *name;
	int rc;

	cli.argv0 = argv[0];
	cli.color = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && !getenv("NO_COLOR");
	if ((rc = take_global_options(&cli, &argc, argv)) != 0)
		return rc;

	name = argc > 1 ? argv[1] : "help";
	if (strcmp(name, "--version") == 0)
		name = "version";
	else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	if (!(cmd = devsys_cli_find(name)))
		return devsys_cli_usage_error(&cli, "unknown command '%s'", name);

	if (devsys_init() < 0)
		return devsys_cli_fail_lib(&cli, "cannot initialise libdevsys");
	rc = cmd->run(&cli, argc > 1 ? argc - 1 : 1, argc > 1 ? argv + 1 : (char *[]){ (char *)"help", NULL });
	devsys_shutdown();
	return rc;
}
