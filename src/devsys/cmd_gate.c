/*
 * `devsys gate explain [--config FILE] [--rename OLD NEW]... PATH...`: each
 * path's risk class and the glob (and its source) that decided it, under the
 * policy of the operator's devsys.yaml, and the class of them all together.
 * Subcommands that talk to a forge join the table below.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#if defined(DEVSYS_HAVE_MODULE_POLICY) && defined(DEVSYS_HAVE_MODULE_CONFIG)
#include <devsys/config.h>
#include <devsys/policy.h>

/* One path's explanation, printed or appended to @p arr. */
static int explain_one(devsys_cli *cli, const devsys_policy *pol, const char *path, const char *role, json_t *arr)
{
	const char *glob, *source;
	int risk;
	if (devsys_policy_explain(&risk, &glob, &source, pol, path) < 0)
		return devsys_cli_fail_lib(cli, "gate explain");
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:s?,s:s?}", "path", path, "class", devsys_risk_name(risk), "glob", glob,
		                      "source", source);
		if (o && role)
			json_object_set_new(o, "rename", json_string(role));
		json_array_append_new(arr, o);
	} else if (glob) {
		printf("%s%s: %s (%s, %s)\n", path, role ? role : "", devsys_risk_name(risk), glob, source);
	} else {
		printf("%s%s: %s (no glob matched: everything else is medium)\n", path, role ? role : "",
		       devsys_risk_name(risk));
	}
	return DEVSYS_EXIT_OK;
}

struct args {
	const char *config;
	devsys_policy_change *ch;
	const devsys_policy_change **chp;
	size_t n;
};

static int parse_args(devsys_cli *cli, struct args *a, int argc, char **argv)
{
	a->ch = calloc((size_t)argc, sizeof(*a->ch));
	a->chp = calloc((size_t)argc, sizeof(*a->chp));
	if (!a->ch || !a->chp)
		return devsys_cli_usage_error(cli, "gate explain: out of memory");
	bool paths_only = false;
	for (int i = 2; i < argc; i++) {
		devsys_policy_change c = DEVSYS_POLICY_CHANGE_INIT;
		if (paths_only || argv[i][0] != '-') {
			c.path = argv[i];
		} else if (strcmp(argv[i], "--") == 0) {
			paths_only = true;
			continue;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			a->config = argv[++i];
			continue;
		} else if (strcmp(argv[i], "--rename") == 0 && i + 2 < argc) {
			c.old_path = argv[++i];
			c.path = argv[++i];
		} else {
			return devsys_cli_usage_error(cli, "gate explain: unknown option '%s'", argv[i]);
		}
		a->ch[a->n] = c;
		a->chp[a->n] = &a->ch[a->n];
		a->n++;
	}
	if (!a->n)
		return devsys_cli_usage_error(cli, "gate explain: no PATH given (devsys gate explain PATH...)");
	return DEVSYS_EXIT_OK;
}

static int explain(devsys_cli *cli, int argc, char **argv)
{
	struct args a = { 0 };
	devsys_config *cfg = NULL;
	const devsys_policy *pol;
	json_t *arr = cli->json ? json_array() : NULL;
	size_t decisive;
	int rc, risk;
	if ((rc = parse_args(cli, &a, argc, argv)) != DEVSYS_EXIT_OK)
		goto out;
	if (devsys_config_load(&cfg, a.config) < 0 || devsys_config_policy(&pol, cfg) < 0) {
		rc = devsys_cli_fail_lib(cli, "gate explain: configuration");
		goto out;
	}
	/* classify the set first, so a bad path fails before anything is printed */
	if (devsys_policy_classify_changes(&risk, &decisive, pol, a.chp, a.n) < 0) {
		rc = devsys_cli_fail_lib(cli, "gate explain");
		goto out;
	}
	for (size_t i = 0; i < a.n && rc == DEVSYS_EXIT_OK; i++) {
		if (a.ch[i].old_path)
			rc = explain_one(cli, pol, a.ch[i].old_path, cli->json ? "old" : " (renamed from)", arr);
		if (rc == DEVSYS_EXIT_OK)
			rc = explain_one(cli, pol, a.ch[i].path, a.ch[i].old_path ? (cli->json ? "new" : " (renamed to)") : NULL,
			                 arr);
	}
	if (rc != DEVSYS_EXIT_OK)
		goto out;
	if (cli->json) {
		devsys_cli_print_json(json_pack("{s:s,s:s,s:o}", "class", devsys_risk_name(risk), "decided_by",
		                                a.ch[decisive].path, "paths", arr));
		arr = NULL;
	} else {
		printf("class of the change: %s (decided by %s)\n", devsys_risk_name(risk), a.ch[decisive].path);
	}
out:
	json_decref(arr);
	devsys_config_free(cfg);
	free(a.ch);
	free(a.chp);
	return rc;
}
#endif

#ifdef DEVSYS_HAVE_MODULE_FORGE
int devsys_cli_gate_check(devsys_cli *cli, int argc, char **argv); /* cmd_forge.c */
#endif

static int cmd_gate(devsys_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return devsys_cli_usage_error(cli, "gate: which one? (devsys gate explain PATH..., devsys gate check TASK)");
#ifdef DEVSYS_HAVE_MODULE_FORGE
	if (strcmp(argv[1], "check") == 0)
		return devsys_cli_gate_check(cli, argc, argv);
#endif
	if (strcmp(argv[1], "explain") == 0)
#if defined(DEVSYS_HAVE_MODULE_POLICY) && defined(DEVSYS_HAVE_MODULE_CONFIG)
		return explain(cli, argc, argv);
#else
		return devsys_cli_usage_error(cli, "gate explain: this build has no policy or no config module");
#endif
	return devsys_cli_usage_error(cli, "gate: unknown subcommand '%s' (explain, check)", argv[1]);
}

const devsys_cli_command devsys_cli_gate_commands[] = {
	{ "gate", "explain [--config FILE] [--rename OLD NEW]... PATH... | check TASK [--merge] [--wait MS]",
	  "each path's risk class and the policy glob that decided it; a task PR's gate decision (docs/gate.md)",
	  cmd_gate },
	{ NULL, NULL, NULL, NULL },
};
