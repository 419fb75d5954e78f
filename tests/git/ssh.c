/*
 * The git workspace against a real OpenSSH sshd (tests/support/sshd_fixture):
 * push with an ed25519 key, host keys checked against the configured
 * known_hosts file.
 */
#include "gitfix.h"
#include "sshd_fixture.h"

#include <signal.h>
#include <unistd.h>

static char *dir;
static dt_sshd *sshd;

static void setup(void)
{
	cr_assert_eq(devsys_init(), 1);
	dir = dt_tmpdir("gitssh");
	unsetenv("SSH_AUTH_SOCK");
	unsetenv("GITHUB_TOKEN");
}
static void teardown(void)
{
	dt_sshd_free(sshd);
	sshd = NULL;
	dt_rmrf(dir);
	free(dir);
	devsys_shutdown();
}
TestSuite(git_ssh, .init = setup, .fini = teardown, .timeout = 120);

static char *start(devsys_repo_options *o, char **bare_out)
{
	char why[512], *url = NULL;
	sshd = dt_sshd_start(why, sizeof(why));
	if (!sshd)
		dt_skip("%s", why);
	*bare_out = gf_make_remote(dir, "proj");
	cr_assert(asprintf(&url, "ssh://%s@127.0.0.1:%d%s", sshd->user, sshd->port, *bare_out) > 0);
	o->url = url;
	o->ssh_known_hosts = sshd->known_hosts;
	o->ssh_private_key = sshd->user_key;
	o->ssh_public_key = sshd->user_pub;
	return url;
}

Test(git_ssh, clone_and_push_with_an_ed25519_key)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	char *bare = NULL, *url = start(&o, &bare), wsdir[4096];
	int committed;
	devsys_repo *r = NULL;
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "s1");
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	cr_assert_str_eq(devsys_repo_base_branch(r), "main");
	snprintf(wsdir, sizeof(wsdir), "%s/ssh.txt", devsys_repo_checkout_path(r));
	dt_write_file(wsdir, "over ssh\n");
	cr_assert_eq(devsys_repo_commit(&committed, r, "ssh", NULL), 0, "%s", gf_err());
	cr_assert_eq(devsys_repo_push(r), 0, "%s", gf_err());
	int st = -1;
	char *sha = dt_sh_output(&st, "git -C '%s' rev-parse refs/heads/task/s1", bare);
	cr_assert_eq(st, 0);
	sha[strcspn(sha, "\n")] = '\0';
	cr_assert_str_eq(sha, devsys_repo_head_sha(r));
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(sha); free(bare); free(url);
}

Test(git_ssh, a_wrong_or_unknown_host_key_is_refused_with_host_and_fingerprint)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	char *bare = NULL, *url = start(&o, &bare), wsdir[4096], empty[4200];
	devsys_repo *r = NULL;
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "k1");

	o.ssh_known_hosts = sshd->wrong_known_hosts;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EHOSTKEY, "%s", gf_err());
	cr_assert(strstr(gf_err(), "MISMATCH") != NULL, "%s", gf_err());
	cr_assert(strstr(gf_err(), "127.0.0.1") != NULL, "%s", gf_err());
	cr_assert(strstr(gf_err(), sshd->host_fingerprint) != NULL, "%s (want %s)", gf_err(), sshd->host_fingerprint);

	snprintf(empty, sizeof(empty), "%s/empty_known_hosts", dir);
	dt_write_file(empty, "# nothing\n");
	o.ssh_known_hosts = empty;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EHOSTKEY, "%s", gf_err());
	cr_assert(strstr(gf_err(), "unknown") != NULL, "%s", gf_err());
	cr_assert(strstr(gf_err(), sshd->host_fingerprint) != NULL, "%s", gf_err());

	o.ssh_known_hosts = NULL; /* no silent trust on first use */
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EHOSTKEY, "%s", gf_err());
	cr_assert(strstr(gf_err(), "known_hosts") != NULL, "%s", gf_err());

	snprintf(wsdir, sizeof(wsdir), "%s/checkout", devsys_task_path(t));
	cr_assert_not(dt_exists(wsdir));
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

Test(git_ssh, an_unauthorized_key_is_an_auth_error)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	char *bare = NULL, *url = start(&o, &bare), wsdir[4096];
	devsys_repo *r = NULL;
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "a1");
	o.ssh_private_key = sshd->other_user_key;
	o.ssh_public_key = NULL;
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EAUTH, "%s", gf_err());
	o.ssh_private_key = NULL; /* no key and no agent */
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), DEVSYS_EAUTH, "%s", gf_err());
	devsys_task_free(t);
	devsys_workspace_free(ws);
	free(bare); free(url);
}

Test(git_ssh, a_passphrase_protected_key_and_ssh_agent)
{
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	char *bare = NULL, *url = start(&o, &bare), wsdir[4096], key[4200], sock[4200];
	devsys_repo *r = NULL;
	snprintf(key, sizeof(key), "%s/pp_ed25519", dir);
	gf_git("ssh-keygen -q -t ed25519 -N 'open sesame' -C pp -f '%s' && cat '%s.pub' >> '%s'", key, key,
	       sshd->authorized_keys);
	snprintf(wsdir, sizeof(wsdir), "%s/ws", dir);
	devsys_workspace *ws = gf_workspace(wsdir, NULL);
	devsys_task *t = gf_task(ws, "pp1"), *t2 = gf_task(ws, "ag1");
	o.ssh_private_key = key;
	o.ssh_public_key = NULL;
	o.ssh_passphrase = "wrong";
	cr_assert_lt(devsys_repo_open_task(&r, t, &o), 0, "a wrong passphrase must fail");
	cr_assert_null(r);
	o.ssh_passphrase = "open sesame";
	cr_assert_eq(devsys_repo_open_task(&r, t, &o), 0, "%s", gf_err());
	devsys_repo_free(r);
	r = NULL;

	/* ssh-agent: no key file in the options, the agent holds the key. */
	char *agent = dt_which("ssh-agent");
	if (!agent)
		dt_skip("ssh-agent not installed (apt-get install openssh-client)");
	char *sockdir = dt_sockdir("agent"); /* sun_path: short, whatever the checkout path */
	cr_assert(sockdir);
	snprintf(sock, sizeof(sock), "%s/agent.sock", sockdir);
	char *argv[] = { agent, "-D", "-a", sock, NULL };
	pid_t pid = dt_spawn(argv, NULL);
	cr_assert_gt(pid, 0);
	for (int i = 0; i < 200 && !dt_exists(sock); i++)
		usleep(20000); /* poll for the socket with a deadline */
	cr_assert(dt_exists(sock), "ssh-agent did not create its socket");
	gf_git("SSH_AUTH_SOCK='%s' ssh-add -q '%s' 2>/dev/null", sock, sshd->user_key);
	setenv("SSH_AUTH_SOCK", sock, 1);
	o.ssh_private_key = NULL;
	o.ssh_passphrase = NULL;
	int rc = devsys_repo_open_task(&r, t2, &o);
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", gf_err());
	unsetenv("SSH_AUTH_SOCK");
	dt_stop(pid, SIGTERM, 3000);
	dt_rmrf(sockdir);
	free(sockdir);
	cr_assert_eq(rc, 0, "%s", msg);
	devsys_repo_free(r);
	devsys_task_free(t);
	devsys_task_free(t2);
	devsys_workspace_free(ws);
	free(agent); free(bare); free(url);
}
