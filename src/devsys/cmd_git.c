/*
 * git commands: set up a task's checkout, commit it, push it.
 *   devsys git checkout TASK --url URL [--base B] [--template T] [--slug S]
 *   devsys git commit   TASK --url URL -m MESSAGE [--spec PATH]
 *   devsys git push     TASK --url URL
 * Shared options: --ca-file F, --known-hosts F, --key F, --author-name N,
 * --author-email E, --config FILE. Tokens never come from the command line:
 * when devsys.yaml's forges: entry for the remote's host names a
 * token_secret, through the secrets module (docs/forge.md); otherwise from
 * the default credential chain (GITHUB_TOKEN, the documented fallback).
 */
#include "cli.h"

#include <string.h>
#include <unistd.h>

static int progress_cb(const devsys_repo_progress *p, void *payload)
{
	static const char *const names[] = { "", "fetch", "checkout", "push" };
	(void)payload;
	if (p->stage >= 1 && p->stage <= 3)
		fprintf(stderr, "\r%-8s %llu/%llu objects, %llu bytes", names[p->stage],
		        (unsigned long long)p->done_objects, (unsigned long long)p->total_objects,
		        (unsigned long long)p->bytes);
	return 0;
}

static void print_result(devsys_cli *cli, const char *action, devsys_repo *r, int committed)
{
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "action", action, "branch", devsys_repo_branch(r),
		                      "base_branch", devsys_repo_base_branch(r), "base_sha", devsys_repo_base_sha(r),
		                      "head_sha", devsys_repo_head_sha(r), "checkout", devsys_repo_checkout_path(r));
		if (o && committed >= 0)
			json_object_set_new(o, "committed", json_boolean(committed));
		devsys_cli_print_json(o);
		return;
	}
	if (committed == 0)
		printf("nothing to commit on %s (%s)\n", devsys_repo_branch(r), devsys_repo_head_sha(r));
	else
		printf("%s: %s at %s (base %s %s)\n  %s\n", action, devsys_repo_branch(r), devsys_repo_head_sha(r),
		       devsys_repo_base_branch(r), devsys_repo_base_sha(r), devsys_repo_checkout_path(r));
}

/* What a push needs to take its token through the secrets module. */
struct gitcreds {
	devsys_config *cfg;
	devsys_secrets *secrets;
	devsys_forge *forge;
	devsys_repo_credential_provider chain[2];
};

static void gitcreds_close(struct gitcreds *g)
{
#ifdef DEVSYS_HAVE_MODULE_FORGE
	devsys_forge_free(g->forge);
	devsys_secrets_free(g->secrets);
	devsys_config_free(g->cfg);
#endif
	(void)g;
}

#ifdef DEVSYS_HAVE_MODULE_FORGE
/* A forges: entry for the remote's host that names a token_secret: the chain
 * becomes { that token, ssh keys }, so $GITHUB_TOKEN is never read. */
static int forge_credentials(devsys_cli *cli, struct gitcreds *g, devsys_repo_options *o, const char *config,
                             devsys_task *task)
{
	devsys_forge_options fo = DEVSYS_FORGE_OPTIONS_INIT;
	devsys_buf host = DEVSYS_BUF_INIT;
	const char *entry = NULL, *secret = NULL;
	bool configured;
	if (devsys_config_load(&g->cfg, config) < 0)
		return devsys_cli_fail_lib(cli, "configuration");
	/* a URL the forge layer cannot read is the git module's to refuse */
	configured = devsys_forge_remote_host(&host, o->url) == 0 &&
	             devsys_config_forge_match(&entry, g->cfg, host.ptr ? host.ptr : "") == 0 &&
	             devsys_config_forge_value(&secret, NULL, g->cfg, entry, "token_secret") == 0 && secret;
	devsys_buf_dispose(&host);
	devsys_error_clear();
	if (!configured)
		return DEVSYS_EXIT_OK;
	{
		devsys_secrets_options so = DEVSYS_SECRETS_OPTIONS_INIT;
#ifdef DEVSYS_HAVE_MODULE_RECORD
		so.event_cb = devsys_record_secret_event; /* the token's resolution joins the task's events */
#endif
		if (devsys_secrets_new(&g->secrets, &so) < 0)
			return devsys_cli_fail_lib(cli, "secrets");
	}
	fo.remote_url = o->url;
	fo.config = g->cfg;
	fo.secrets = g->secrets;
	fo.task = task;
	if (devsys_forge_new(&g->forge, &fo) < 0)
		return devsys_cli_fail_lib(cli, "forge credentials");
	g->chain[0].cb = devsys_forge_credentials;
	g->chain[0].payload = g->forge;
	g->chain[1].cb = devsys_repo_key_credentials;
	g->chain[1].payload = NULL;
	o->credentials = g->chain;
	o->ncredentials = 2;
	return DEVSYS_EXIT_OK;
}
#endif

/*
 * The git module reports its facts and writes no record: the command
 * records the step it made (task.json's git facts and a git.* event), as the
 * pipeline does in its stages. The step stands when this fails.
 */
static int record_step(devsys_cli *cli, devsys_task *task, devsys_repo *r, const char *type)
{
#ifdef DEVSYS_HAVE_MODULE_RECORD
	devsys_record *rec = NULL;
	int rc;
	if ((rc = devsys_record_open(&rec, task)) == 0)
		rc = devsys_record_git_step(rec, type, devsys_repo_url(r), devsys_repo_branch(r), devsys_repo_base_branch(r),
		                            devsys_repo_base_sha(r), devsys_repo_head_sha(r));
	devsys_record_free(rec);
	if (rc < 0)
		return devsys_cli_fail_lib(cli, "the git step succeeded, but the task record could not be written");
#else
	(void)cli;
	(void)task;
	(void)r;
	(void)type;
#endif
	return DEVSYS_EXIT_OK;
}

static int cmd_git(devsys_cli *cli, int argc, char **argv)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo_commit_options co = DEVSYS_REPO_COMMIT_OPTIONS_INIT;
	const char *action, *id, *message = NULL, *config = NULL;
	struct gitcreds creds;
	devsys_workspace *ws = NULL;
	devsys_task *task = NULL;
	devsys_repo *r = NULL;
	int rc, committed = -1;

	if (argc < 3)
		return devsys_cli_usage_error(cli, "usage: devsys git checkout|commit|push TASK --url URL [options]");
	action = argv[1];
	id = argv[2];
	if (strcmp(action, "checkout") != 0 && strcmp(action, "commit") != 0 && strcmp(action, "push") != 0)
		return devsys_cli_usage_error(cli, "unknown git action '%s' (checkout, commit, push)", action);
	for (int i = 3; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc)
			return devsys_cli_usage_error(cli, "option '%s' needs a value", opt);
		const char *val = argv[++i];
		if (strcmp(opt, "--url") == 0)
			o.url = val;
		else if (strcmp(opt, "--base") == 0)
			o.base_branch = val;
		else if (strcmp(opt, "--template") == 0)
			o.branch_template = val;
		else if (strcmp(opt, "--slug") == 0)
			o.slug = val;
		else if (strcmp(opt, "--ca-file") == 0)
			o.ssl_ca_file = val;
		else if (strcmp(opt, "--known-hosts") == 0)
			o.ssh_known_hosts = val;
		else if (strcmp(opt, "--key") == 0)
			o.ssh_private_key = val;
		else if (strcmp(opt, "--author-name") == 0)
			o.author_name = val;
		else if (strcmp(opt, "--author-email") == 0)
			o.author_email = val;
		else if (strcmp(opt, "-m") == 0 || strcmp(opt, "--message") == 0)
			message = val;
		else if (strcmp(opt, "--spec") == 0)
			co.spec_path = val;
		else if (strcmp(opt, "--config") == 0)
			config = val;
		else
			return devsys_cli_usage_error(cli, "unknown option '%s'", opt);
	}
	if (!o.url)
		return devsys_cli_usage_error(cli, "--url URL is required");
	if (strcmp(action, "commit") == 0 && !message)
		return devsys_cli_usage_error(cli, "commit needs -m MESSAGE");
	if (!cli->json && isatty(2))
		o.progress = progress_cb;
	memset(&creds, 0, sizeof(creds));
	if ((rc = devsys_cli_open_workspace(cli, &ws)) != 0)
		return rc;
	if (devsys_task_open(&task, ws, id, DEVSYS_TASK_CREATE) < 0) {
		rc = devsys_cli_fail_lib(cli, "cannot open the task");
		goto out;
	}
#ifdef DEVSYS_HAVE_MODULE_FORGE
	if ((rc = forge_credentials(cli, &creds, &o, config, task)) != DEVSYS_EXIT_OK)
		goto out;
#else
	(void)config;
#endif
	if (devsys_repo_open_task(&r, task, &o) < 0) {
		rc = devsys_cli_fail_lib(cli, "cannot set up the task's checkout");
		goto out;
	}
	if (strcmp(action, "commit") == 0 && devsys_repo_commit(&committed, r, message, &co) < 0) {
		rc = devsys_cli_fail_lib(cli, "commit failed");
		goto out;
	}
	if (strcmp(action, "push") == 0 && devsys_repo_push(r) < 0) {
		rc = devsys_cli_fail_lib(cli, "push refused or failed");
		goto out;
	}
	if (o.progress)
		fputc('\n', stderr);
	if (strcmp(action, "commit") != 0 || committed == 1) {
		const char *type = strcmp(action, "checkout") == 0 ? "git.checkout"
		                   : strcmp(action, "commit") == 0 ? "git.commit"
		                                                   : "git.push";
		if ((rc = record_step(cli, task, r, type)) != DEVSYS_EXIT_OK)
			goto out;
	}
	print_result(cli, action, r, committed);
	rc = DEVSYS_EXIT_OK;
out:
	devsys_repo_free(r);
	gitcreds_close(&creds);
	devsys_task_free(task);
	devsys_workspace_free(ws);
	return rc;
}

const devsys_cli_command devsys_cli_git_commands[] = {
	{ "git", "checkout|commit|push TASK --url URL", "set up, commit or push a task's git checkout", cmd_git },
	{ NULL, NULL, NULL, NULL },
};
