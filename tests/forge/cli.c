/*
 * `devsys pr open|show|review`, `devsys gate check` and `devsys forge
 * protect` over the local provider: a task's whole flow from the command
 * line, offline, against a bare repository made by the test.
 */
#include "../git/gitfix.h"

static const char *cli(void)
{
	const char *p = getenv("DEVSYS_CLI");
	cr_assert_not_null(p, "DEVSYS_CLI is set by ctest");
	return p;
}

static char *run(int *st, const char *fmt, const char *dir, const char *a)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), fmt, cli(), dir, a);
	return dt_sh_output(st, "%s", cmd);
}

Test(forge_cli, pr_open_reuse_review_gate_check_and_merge)
{
	char *dir = dt_tmpdir("forgecli");
	char *bare = gf_make_remote(dir, "proj"), cfg[4200];
	int st = -1;
	snprintf(cfg, sizeof(cfg), "%s/devsys.yaml", dir);
	cr_assert(dt_write_file(cfg, "policy:\n  required_contexts: []\nforges:\n  local:\n    provider: local\n"
	                             "    merge_method: squash\n"));
	char *out = run(&st, "'%s' --workspace '%s/ws' git checkout 5 --url '%s'", dir, bare);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	dt_sh("mkdir -p '%s/ws/tasks/5/checkout/docs' && echo guide > '%s/ws/tasks/5/checkout/docs/guide.md'", dir, dir);
	out = run(&st, "'%s' --workspace '%s/ws' git commit 5 --url '%s' -m 'add the guide'", dir, bare);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	out = run(&st, "'%s' --workspace '%s/ws' git push 5 --url '%s'", dir, bare);
	cr_assert_eq(st, 0, "%s", out);
	free(out);

	/* Open; the URL comes from the task record. */
	char cmdfmt[512];
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --json --workspace '%%s/ws' pr open 5 --config '%%s' --label docs");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "\"number\": 1") && strstr(out, "\"reused\": false"), "%s", out);
	free(out);
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "\"number\": 1") && strstr(out, "\"reused\": true"), "a re-run reuses the PR: %s", out);
	free(out);
	char rec[4200];
	snprintf(rec, sizeof(rec), "%s/ws/tasks/5/task.json", dir);
	char *task_json = dt_read_file(rec, NULL);
	cr_assert(task_json && strstr(task_json, "\"pr_number\": 1") && strstr(task_json, "\"pr_url\""), "%s", task_json);
	free(task_json);
	char body[4200];
	snprintf(body, sizeof(body), "%s/devsys/prs/1.json", bare);
	char *pr_rec = dt_read_file(body, NULL);
	cr_assert(pr_rec && strstr(pr_rec, "### devsys task") && strstr(pr_rec, "`5`"), "the body carries the task: %s",
	          pr_rec);
	free(pr_rec);

	/* No contexts required: even a low change needs an approval; exit 1 says "not now". */
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --json --workspace '%%s/ws' gate check 5 --config '%%s'");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "\"decision\": \"awaiting-review\"") && strstr(out, "needs-approval"), "%s", out);
	free(out);

	/* A re-run of pr open carries the gate's last decision from the record into the body,
	 * and the spec's acceptance checks as a checklist. */
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --json --workspace '%%s/ws' pr open 5 --config '%%s' --label docs "
	         "--spec '" DEVSYS_SOURCE_DIR "/specs/create-blog.yaml'");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	snprintf(body, sizeof(body), "%s/devsys/prs/1.json", bare);
	pr_rec = dt_read_file(body, NULL);
	cr_assert(pr_rec && strstr(pr_rec, "### Merge gate") && strstr(pr_rec, "awaiting-review (class low)"), "%s",
	          pr_rec);
	cr_assert(strstr(pr_rec, "### Acceptance") && strstr(pr_rec, "- [ ] index page"), "%s", pr_rec);
	free(pr_rec);

	/* Review: bad usage, then alice approves the head. */
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --workspace '%%s/ws' pr review 5 --approve --config '%%s' 2>&1");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 2, "--as is required: %s", out);
	free(out);
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --workspace '%%s/ws' pr review 5 --approve --as alice --config '%%s'");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --workspace '%%s/ws' pr show 5 --config '%%s'");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "review: alice approved"), "%s", out);
	free(out);
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --workspace '%%s/ws' gate check 5 --config '%%s'");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "merge (class low, approvals 1 of 1)"), "%s", out);
	free(out);
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --json --workspace '%%s/ws' gate check 5 --merge --config '%%s'");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "\"merged\": true"), "%s", out);
	free(out);
	cr_assert_eq(dt_sh("git --git-dir='%s' cat-file -e main:docs/guide.md", bare), 0, "squashed into main");
	task_json = dt_read_file(rec, NULL);
	cr_assert(task_json && strstr(task_json, "\"gate\"") && strstr(task_json, "\"decision\": \"merge\""), "%s",
	          task_json);
	free(task_json);

	/* Protection, and bad input: an unknown task, a bad provider. */
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --json forge protect main --url '%%s' --config '%%s'");
	char prot[8400];
	snprintf(prot, sizeof(prot), cmdfmt, cli(), bare, cfg);
	out = dt_sh_output(&st, "%s", prot);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	snprintf(body, sizeof(body), "%s/devsys/protection.json", bare);
	char *p = dt_read_file(body, NULL);
	cr_assert(p && strstr(p, "\"main\""), "%s", p);
	free(p);
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --workspace '%%s/ws' pr show 77 --config '%%s' 2>&1");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_neq(st, 0);
	cr_assert(strstr(out, "unknown task"), "%s", out);
	free(out);
	cr_assert(dt_write_file(cfg, "forges:\n  local:\n    provider: nosuch\n"));
	snprintf(cmdfmt, sizeof(cmdfmt), "'%%s' --workspace '%%s/ws' pr show 5 --config '%%s' 2>&1");
	out = run(&st, cmdfmt, dir, cfg);
	cr_assert_neq(st, 0);
	cr_assert(strstr(out, "nosuch") && strstr(out, "devsys.yaml:3:15"), "%s", out);
	free(out);
	dt_rmrf(dir);
	free(dir);
	free(bare);
}
