/*
 * `devsys exec`: run one command through a runner profile of the operator's
 * devsys.yaml (or the plain inproc runner), streaming its output.
 */
#include "cli.h"

#ifdef DEVSYS_HAVE_MODULE_CONFIG
#include <devsys/config.h>
#endif
#ifdef DEVSYS_HAVE_MODULE_DOCKER
#include <devsys/sys/runner_docker.h>
#endif
#if defined(DEVSYS_HAVE_MODULE_DIND) && defined(DEVSYS_HAVE_MODULE_DOCKER)
#include <devsys/sys/runner_dind.h>
#endif

#include <stdlib.h>
#include <string.h>

static int print_out(int stream, const char *data, size_t len, void *payload)
{
	(void)payload;
	fwrite(data, 1, len, stream == DEVSYS_RUNNER_STDERR ? stderr : stdout);
	return 0;
}

static int cmd_exec(devsys_cli *cli, int argc, char **argv)
{
	const char *profile = NULL, *config = NULL, *type = "inproc";
	unsigned long timeout_s = 0;
	int i = 1, rc, code;
#ifdef DEVSYS_HAVE_MODULE_CONFIG
	devsys_config *cfg = NULL;
#else
	void *cfg = NULL;
#define devsys_config_free(c) ((void)(c))
#endif
	devsys_runner *r = NULL;
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	devsys_runner_result res = DEVSYS_RUNNER_RESULT_INIT;
#ifdef DEVSYS_HAVE_MODULE_DOCKER
	devsys_runner_docker_options dk = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
#endif
#if defined(DEVSYS_HAVE_MODULE_DIND) && defined(DEVSYS_HAVE_MODULE_DOCKER)
	devsys_runner_dind_options dx = DEVSYS_RUNNER_DIND_OPTIONS_INIT;
#endif

	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc) {
			profile = argv[++i];
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			timeout_s = strtoul(argv[++i], &end, 10);
			if (*end || timeout_s > 86400 * 7)
				return devsys_cli_usage_error(cli, "exec: --timeout takes whole seconds (got '%s')", argv[i]);
		} else if (argv[i][0] == '-') {
			return devsys_cli_usage_error(cli, "exec: unknown option '%s'", argv[i]);
		} else {
			break;
		}
	}
	if (i >= argc)
		return devsys_cli_usage_error(cli, "exec: no command given (devsys exec [--profile NAME] -- PROGRAM ARGS...)");
	if (profile || config) {
#ifndef DEVSYS_HAVE_MODULE_CONFIG
		return devsys_cli_usage_error(cli, "exec: this build has no config module (--profile/--config)");
#else
		if (devsys_config_load(&cfg, config) < 0)
			return devsys_cli_fail_lib(cli, "exec: configuration");
		if (!profile) {
			devsys_config_free(cfg);
			return devsys_cli_usage_error(cli, "exec: --config needs --profile");
		}
		if (devsys_config_runner(cfg, profile, &type, &o) < 0) {
			code = devsys_cli_fail_lib(cli, "exec: profile");
			devsys_config_free(cfg);
			return code;
		}
#ifdef DEVSYS_HAVE_MODULE_DOCKER
		if (strcmp(type, "host-docker") == 0) {
			if (devsys_config_runner_docker(cfg, profile, &dk) < 0) {
				code = devsys_cli_fail_lib(cli, "exec: profile");
				devsys_config_free(cfg);
				return code;
			}
			o.backend_tag = DEVSYS_RUNNER_DOCKER_TAG;
			o.backend_options = &dk;
		}
#endif
#if defined(DEVSYS_HAVE_MODULE_DIND) && defined(DEVSYS_HAVE_MODULE_DOCKER)
		if (strcmp(type, "dind") == 0) {
			if (devsys_config_runner_dind(cfg, profile, &dx, &dk) < 0) {
				code = devsys_cli_fail_lib(cli, "exec: profile");
				devsys_config_free(cfg);
				return code;
			}
			o.backend_tag = DEVSYS_RUNNER_DIND_TAG;
			o.backend_options = &dx;
		}
#endif
#endif
	}
	if (devsys_runner_open(&r, type, &o) < 0) {
		code = devsys_cli_fail_lib(cli, "exec: runner");
		devsys_config_free(cfg);
		return code;
	}
	cmd.argv = (const char *const *)(argv + i);
	cmd.timeout_ms = (unsigned int)(timeout_s * 1000);
	cmd.output_cb = print_out;
	rc = devsys_runner_exec(r, &cmd, &res);
	fflush(stdout);
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:i, s:i, s:I, s:i, s:b}", "failure", devsys_runner_failure_name(res.failure),
		                      "exit_code", res.exit_code, "signal", res.signal, "duration_ms",
		                      (json_int_t)res.duration_ms, "attempts", res.attempts, "truncated", res.truncated);
		if (rc < 0 && j)
			json_object_set_new(j, "error", json_string(devsys_error_message(devsys_error_last())));
		devsys_cli_print_json(j);
	} else if (rc < 0) {
		fprintf(stderr, "devsys exec: %s\n", devsys_error_message(devsys_error_last()));
	}
	switch (res.failure) {
	case DEVSYS_RUNNER_OK:
		code = DEVSYS_EXIT_OK;
		break;
	case DEVSYS_RUNNER_BUILD_FAILURE:
	case DEVSYS_RUNNER_TIMEOUT:
	case DEVSYS_RUNNER_CANCELED:
		code = DEVSYS_EXIT_FAILED;
		break;
	case DEVSYS_RUNNER_NOT_RUN:
		code = DEVSYS_EXIT_USAGE;
		break;
	default:
		code = DEVSYS_EXIT_SYSTEM;
	}
	devsys_runner_result_dispose(&res);
	devsys_runner_free(r);
	devsys_config_free(cfg);
	return code;
}

#if defined(DEVSYS_HAVE_MODULE_DOCKER) && defined(DEVSYS_HAVE_MODULE_CONFIG)
/* `devsys runner sweep`: remove host-docker containers and volumes whose owner process is gone. */
static int cmd_runner(devsys_cli *cli, int argc, char **argv)
{
	const char *profile = NULL, *config = NULL, *host = NULL;
	devsys_runner_docker_options dk = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	devsys_config *cfg = NULL;
	unsigned int removed = 0;
	int code;
	if (argc < 2 || strcmp(argv[1], "sweep") != 0)
		return devsys_cli_usage_error(cli, "runner: expected 'sweep' (devsys runner sweep [--profile NAME "
		                                   "[--config FILE]] [--host ENDPOINT])");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
			profile = argv[++i];
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			host = argv[++i];
		else
			return devsys_cli_usage_error(cli, "runner sweep: unknown argument '%s'", argv[i]);
	}
	if (profile) {
		if (devsys_config_load(&cfg, config) < 0)
			return devsys_cli_fail_lib(cli, "runner sweep: configuration");
		if (devsys_config_runner_docker(cfg, profile, &dk) < 0) {
			code = devsys_cli_fail_lib(cli, "runner sweep: profile");
			devsys_config_free(cfg);
			return code;
		}
	}
	if (host)
		dk.host = host;
	if (devsys_runner_docker_sweep(&removed, &dk) < 0) {
		code = devsys_cli_fail_lib(cli, "runner sweep");
		devsys_config_free(cfg);
		return code;
	}
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:i}", "removed", (int)removed));
	else
		printf("removed %u orphaned container(s)\n", removed);
	devsys_config_free(cfg);
	return DEVSYS_EXIT_OK;
}
#endif

const devsys_cli_command devsys_cli_runner_commands[] = {
	{ "exec", "[--profile NAME [--config FILE]] [--timeout S] -- PROGRAM [ARG...]",
	  "run one command through a runner profile (default: inproc)", cmd_exec },
#if defined(DEVSYS_HAVE_MODULE_DOCKER) && defined(DEVSYS_HAVE_MODULE_CONFIG)
	{ "runner", "sweep [--profile NAME [--config FILE]] [--host ENDPOINT]",
	  "remove host-docker containers whose owner process is gone", cmd_runner },
#endif
	{ NULL, NULL, NULL, NULL }
};
