/*
 * Internal string checks: protected patterns, URL checks and redaction.
 */
#include "testutil.h"
#include "git/git_int.h"

Test(git_refname, every_default_protected_pattern)
{
	const char *prot[] = { "main", "master", "release/1.0", "release/a/b", "release/" };
	const char *free_[] = { "task/1", "mainline", "my-main", "master2", "releases/1", "task/main", "Main" };
	for (size_t i = 0; i < sizeof(prot) / sizeof(prot[0]); i++)
		cr_assert_eq(devsys_repo_branch_is_protected(prot[i], NULL, NULL), 1, "%s", prot[i]);
	for (size_t i = 0; i < sizeof(free_) / sizeof(free_[0]); i++)
		cr_assert_eq(devsys_repo_branch_is_protected(free_[i], NULL, NULL), 0, "%s", free_[i]);
	cr_assert_eq(devsys_repo_branch_is_protected("trunk", "trunk", NULL), 1);
	cr_assert_eq(devsys_repo_branch_is_protected("trunk", "", NULL), 0);
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	const char *extra[] = { "prod/*", "staging" };
	o.protected_branches = extra;
	o.nprotected_branches = 2;
	cr_assert_eq(devsys_repo_branch_is_protected("prod/eu/1", NULL, &o), 1);
	cr_assert_eq(devsys_repo_branch_is_protected("staging", NULL, &o), 1);
	cr_assert_eq(devsys_repo_branch_is_protected("staging2", NULL, &o), 0);
	cr_assert_eq(devsys_repo_branch_is_protected(NULL, NULL, &o), DEVSYS_EINVAL);
}

Test(git_refname, urls)
{
	int ssh = -1, https = -1;
	devsys_buf b = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys__git_url_check("https://github.com/o/r.git", &ssh, &https), 0);
	cr_assert(!ssh && https);
	cr_assert_eq(devsys__git_url_check("ssh://git@h:2222/o/r.git", &ssh, &https), 0);
	cr_assert(ssh && !https);
	cr_assert_eq(devsys__git_url_check("git@github.com:o/r.git", &ssh, &https), 0);
	cr_assert(ssh);
	cr_assert_eq(devsys__git_url_check("/srv/git/r.git", &ssh, &https), 0);
	cr_assert_eq(devsys__git_url_check("file:///srv/git/r.git", &ssh, &https), 0);
	cr_assert_eq(devsys__git_url_check("http://127.0.0.1:8080/r.git", &ssh, &https), 0);
	cr_assert_eq(devsys__git_url_check("https://x-access-token:ghp_abc@github.com/o/r", NULL, NULL), DEVSYS_EINVAL);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "ghp_abc") == NULL);
	cr_assert_eq(devsys__git_url_check("https://user@github.com/o/r", NULL, NULL), 0, "a user name alone is fine");
	cr_assert_eq(devsys__git_url_check("ftp://h/r", NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys__git_url_check("relative/path", NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys__git_url_check("https:///r", NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys__git_url_check("https://h/r x", NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys__git_url_check("https://h/r\n", NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys__git_url_check(NULL, NULL, NULL), DEVSYS_EINVAL);
	/* Found by fuzzing: a password in a file:// URL, and a path that merely contains "://". */
	cr_assert_eq(devsys__git_url_check("file://u:tok@h/r", NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(devsys__git_url_redact(&b, "/srv/a:b@c://x"), 0);
	cr_assert_str_eq(b.ptr, "/srv/a:b@c://x");
	cr_assert_eq(devsys__git_url_redact(&b, "https://u:tok@h/r"), 0);
	cr_assert_str_eq(b.ptr, "https://u:***@h/r");
	cr_assert_eq(devsys__git_url_redact(&b, "https://h/r@x:y"), 0);
	cr_assert_str_eq(b.ptr, "https://h/r@x:y");
	devsys_buf_dispose(&b);
}

Test(git_refname, refname_rules)
{
	const char *good[] = { "task/1", "a", "feat/x-y_z.1", "t/2026/a" };
	const char *bad[] = { "", "-a", "/a", "a/", "a.", "a.lock", "a.lock/b", "a..b", "a@{b", "a//b", "@", "HEAD",
		              ".a", "a/.b", "a b", "a\tb", "a~", "a^", "a:", "a?", "a*", "a[", "a\\" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(devsys__git_refname_check(good[i]), 0, "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(devsys__git_refname_check(bad[i]), DEVSYS_EINVALID, "%s", bad[i]);
}

Test(git_refname, known_hosts_matching)
{
	static const unsigned char key[] = { 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 2, 9, 9 };
	/* base64 of key: AAAAA2FiYwAAAAIJCQ== ; of a different key: AAAAA2FiYwAAAAIJCA== */
	int rev = 0;
	const char *kh = "# comment\n"
	                 "other.host ssh-ed25519 AAAAA2FiYwAAAAIJCQ==\n"
	                 "[127.0.0.1]:2222 ssh-ed25519 AAAAA2FiYwAAAAIJCQ== me@host\n";
	cr_assert_eq(devsys__git_known_hosts_match(kh, strlen(kh), "127.0.0.1", 2222, key, sizeof(key), &rev), 1);
	cr_assert_eq(devsys__git_known_hosts_match(kh, strlen(kh), "127.0.0.1", 22, key, sizeof(key), &rev), 0,
	             "the port is part of the host");
	cr_assert_eq(devsys__git_known_hosts_match(kh, strlen(kh), "other.host", 22, key, sizeof(key), &rev), 1);
	const char *wrong = "[127.0.0.1]:2222 ssh-ed25519 AAAAA2FiYwAAAAIJCA==\n";
	cr_assert_eq(devsys__git_known_hosts_match(wrong, strlen(wrong), "127.0.0.1", 2222, key, sizeof(key), &rev), -1);
	const char *revoked = "@revoked [127.0.0.1]:2222 ssh-ed25519 AAAAA2FiYwAAAAIJCQ==\n"
	                      "[127.0.0.1]:2222 ssh-ed25519 AAAAA2FiYwAAAAIJCQ==\n";
	cr_assert_eq(devsys__git_known_hosts_match(revoked, strlen(revoked), "127.0.0.1", 2222, key, sizeof(key), &rev),
	             -1);
	cr_assert_eq(rev, 1);
	const char *multi = "a.host,127.0.0.1 ssh-ed25519 AAAAA2FiYwAAAAIJCQ==";
	cr_assert_eq(devsys__git_known_hosts_match(multi, strlen(multi), "127.0.0.1", 22, key, sizeof(key), &rev), 1,
	             "comma lists and a last line without newline");
}

Test(git_refname, tokens_never_go_to_plain_http_beyond_loopback)
{
	cr_assert_eq(devsys__git_plain_http_remote("https://github.com/o/r"), 0);
	cr_assert_eq(devsys__git_plain_http_remote("ssh://h/r"), 0);
	cr_assert_eq(devsys__git_plain_http_remote("http://127.0.0.1:8080/git/r.git"), 1);
	cr_assert_eq(devsys__git_plain_http_remote("http://localhost/r"), 1);
	cr_assert_eq(devsys__git_plain_http_remote("http://[::1]:80/r"), 1);
	cr_assert_eq(devsys__git_plain_http_remote("http://u@127.0.0.2/r"), 1);
	cr_assert_eq(devsys__git_plain_http_remote("http://example.com/r"), 2);
	cr_assert_eq(devsys__git_plain_http_remote("http://localhost.evil.com/r"), 2);
	cr_assert_eq(devsys__git_plain_http_remote("http://127.0.0.1.evil.com/r"), 2, "a name, not a loopback literal");
	cr_assert_eq(devsys__git_plain_http_remote("http://127.0.0.1:99@evil.com/r"), 2);
}
