/*
 * spec-kit commands: `devsys speckit check DIR...` and
 * `devsys speckit plan DIR --repo URL [--emit task|wave]` and
 * `devsys speckit sync DIR [--dry-run]` and
 * `devsys speckit run DIR --repo URL [--with FILE] [--jobs N]`.
 */
#include "cli.h"

#include <devsys/sys/errors.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Exit precedence: unreadable (2) over invalid (1) over ok (0). */
static int worse(int a, int b)
{
	if (a == DEVSYS_EXIT_USAGE || b == DEVSYS_EXIT_USAGE)
		return DEVSYS_EXIT_USAGE;
	if (a == DEVSYS_EXIT_SYSTEM || b == DEVSYS_EXIT_SYSTEM)
		return DEVSYS_EXIT_SYSTEM;
	return a > b ? a : b;
}

/* The git work tree that holds @p dir as written (its link, if it is one,
 * is not followed): the nearest ancestor with a .git entry. */
static char *repo_root_of(const char *dir)
{
	char path[2 * PATH_MAX + 2], cwd[PATH_MAX];
	if (strlen(dir) >= PATH_MAX)
		return NULL;
	if (dir[0] == '/')
		snprintf(path, sizeof(path), "%s", dir);
	else if (getcwd(cwd, sizeof(cwd)))
		snprintf(path, sizeof(path), "%s/%s", cwd, dir);
	else
		return NULL;
	for (;;) {
		char *slash = strrchr(path, '/');
		if (!slash)
			return NULL;
		*slash = '\0';
		char probe[sizeof(path) + 8];
		struct stat st;
		snprintf(probe, sizeof(probe), "%s/.git", *path ? path : "");
		if (lstat(probe, &st) == 0)
			return strdup(*path ? path : "/");
		if (!*path)
			return NULL;
	}
}

typedef struct sk_args {
	const char *root, *repo, *emit, *with;
	bool sarif, dry_run;
	int jobs; /* run --jobs N; 0: one task at a time */
	int first, last; /* positional arguments argv[first..last) */
} sk_args;

static int parse_args(devsys_cli *cli, int argc, char **argv, sk_args *a, char **pos, int *npos)
{
	*npos = 0;
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--sarif") == 0)
			a->sarif = true;
		else if (strcmp(s, "--dry-run") == 0)
			a->dry_run = true;
		else if (strcmp(s, "--json") == 0)
			cli->json = true;
		else if (strcmp(s, "--jobs") == 0 && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 64)
				return devsys_cli_usage_error(cli, "speckit %s: --jobs '%s' is not a number of 1..64", argv[1],
				                              argv[i]);
			a->jobs = (int)n;
		}
		else if ((strcmp(s, "--root") == 0 || strcmp(s, "--repo") == 0 || strcmp(s, "--emit") == 0 ||
		          strcmp(s, "--with") == 0) &&
		         i + 1 < argc) {
			const char **slot = s[2] == 'r' && s[3] == 'o' ? &a->root : s[2] == 'r' ? &a->repo : s[2] == 'w' ? &a->with : &a->emit;
			*slot = argv[++i];
		} else if (strncmp(s, "--", 2) == 0 && s[2])
			return devsys_cli_usage_error(cli, "speckit %s: unknown option '%s'", argv[1], s);
		else
			pos[(*npos)++] = argv[i];
	}
	return 0;
}

static int load(devsys_cli *cli, devsys_speckit_feature **f, const char *dir, const char *root_opt, char **root_out)
{
	char *root = root_opt ? strdup(root_opt) : repo_root_of(dir);
	int rc = devsys_speckit_feature_load(f, dir, root);
	if (rc) {
		free(root);
		fprintf(stderr, "%s%s%s\n", devsys_cli_color(cli, "\033[1;31m"), devsys_error_message(devsys_error_last()),
		        devsys_cli_color(cli, "\033[0m"));
		return rc == DEVSYS_ENOMEM ? DEVSYS_EXIT_SYSTEM : DEVSYS_EXIT_USAGE;
	}
	if (root_out)
		*root_out = root;
	else
		free(root);
	return 0;
}

static int cmd_check(devsys_cli *cli, int argc, char **argv)
{
	sk_args a = { 0 };
	char **pos = calloc((size_t)argc, sizeof(*pos));
	int npos = 0, exit_code = DEVSYS_EXIT_OK;
	if (!pos)
		return DEVSYS_EXIT_SYSTEM;
	int rc = parse_args(cli, argc, argv, &a, pos, &npos);
	if (rc || npos == 0) {
		free(pos);
		return rc ? rc : devsys_cli_usage_error(cli, "speckit check needs at least one feature folder (specs/NNN-name)");
	}
	devsys_speckit_findings *r = NULL;
	if (devsys_speckit_findings_new(&r)) {
		free(pos);
		return devsys_cli_fail_lib(cli, "speckit check");
	}
	for (int i = 0; i < npos; i++) {
		devsys_speckit_feature *f = NULL;
		int lrc = load(cli, &f, pos[i], a.root, NULL);
		if (lrc) {
			exit_code = worse(exit_code, lrc);
			continue;
		}
		if (devsys_speckit_check(r, f))
			exit_code = worse(exit_code, devsys_cli_fail_lib(cli, "speckit check"));
		devsys_speckit_feature_free(f);
	}
	devsys_buf out = DEVSYS_BUF_INIT;
	rc = a.sarif ? devsys_speckit_findings_to_sarif(&out, r)
	             : cli->json ? devsys_speckit_findings_to_json(&out, r) : devsys_speckit_findings_to_text(&out, r);
	if (rc == 0 && out.size)
		fwrite(out.ptr, 1, out.size, stdout);
	size_t errors = devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_ERROR);
	if (!a.sarif && !cli->json)
		printf("%zu error(s), %zu warning(s), %zu note(s) in %d feature folder(s)\n", errors,
		       devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_WARNING),
		       devsys_speckit_findings_count_severity(r, DEVSYS_SPECKIT_INFO), npos);
	if (errors)
		exit_code = worse(exit_code, DEVSYS_EXIT_FAILED);
	devsys_buf_dispose(&out);
	devsys_speckit_findings_free(r);
	free(pos);
	return rc ? devsys_cli_fail_lib(cli, "speckit check") : exit_code;
}

/* The feature folder relative to the repository root, for speckit.feature_dir. */
static char *relative_dir(const char *dir, const char *root)
{
	char rd[PATH_MAX], rr[PATH_MAX];
	if (!realpath(dir, rd) || !realpath(root, rr))
		return NULL;
	size_t n = strlen(rr);
	if (strncmp(rd, rr, n) != 0 || rd[n] != '/')
		return NULL;
	return strdup(rd + n + 1);
}

static int print_waves(devsys_cli *cli, const devsys_speckit_plan *p)
{
	size_t nw = devsys_speckit_plan_wave_count(p);
	json_t *waves = cli->json ? json_array() : NULL;
	for (size_t w = 0; w < nw; w++) {
		json_t *ids = cli->json ? json_array() : NULL;
		if (!cli->json)
			printf("wave %zu:", w + 1);
		for (size_t i = 0; i < devsys_speckit_plan_wave_size(p, w); i++) {
			if (cli->json)
				json_array_append_new(ids, json_string(devsys_speckit_plan_task(p, w, i)));
			else
				printf(" %s", devsys_speckit_plan_task(p, w, i));
		}
		if (cli->json)
			json_array_append_new(waves, ids);
		else
			putchar('\n');
	}
	if (cli->json)
		devsys_cli_print_json(json_pack("{s:o}", "waves", waves));
	return DEVSYS_EXIT_OK;
}

static int emit(devsys_cli *cli, const devsys_speckit_plan *p, const sk_args *a, const char *dir, const char *root)
{
	if (!a->repo)
		return devsys_cli_usage_error(cli, "speckit plan --emit needs --repo URL (the repository the tasks change)");
	if (!root)
		return devsys_cli_usage_error(cli, "speckit plan: '%s' is in no git work tree: pass --root DIR", dir);
	char *rel = relative_dir(dir, root);
	if (!rel)
		return devsys_cli_usage_error(cli, "speckit plan: '%s' is not inside the repository '%s'", dir, root);
	devsys_buf out = DEVSYS_BUF_INIT;
	unsigned flags = strcmp(a->emit, "wave") == 0 ? DEVSYS_SPECKIT_YAML_PER_WAVE : 0;
	int rc = devsys_speckit_plan_to_yaml(&out, p, a->repo, rel, flags);
	if (rc == 0)
		fwrite(out.ptr, 1, out.size, stdout);
	devsys_buf_dispose(&out);
	free(rel);
	return rc ? devsys_cli_fail_lib(cli, "speckit plan") : DEVSYS_EXIT_OK;
}

static int cmd_plan(devsys_cli *cli, int argc, char **argv)
{
	sk_args a = { 0 };
	char **pos = calloc((size_t)argc, sizeof(*pos));
	int npos = 0;
	if (!pos)
		return DEVSYS_EXIT_SYSTEM;
	int rc = parse_args(cli, argc, argv, &a, pos, &npos);
	const char *dir = npos == 1 ? pos[0] : NULL;
	free(pos);
	if (rc)
		return rc;
	if (!dir)
		return devsys_cli_usage_error(cli, "speckit plan needs exactly one feature folder");
	if (a.emit && strcmp(a.emit, "task") != 0 && strcmp(a.emit, "wave") != 0)
		return devsys_cli_usage_error(cli, "speckit plan --emit takes 'task' or 'wave', not '%s'", a.emit);
	devsys_speckit_feature *f = NULL;
	char *root = NULL;
	if ((rc = load(cli, &f, dir, a.root, &root)) != 0)
		return rc;
	devsys_speckit_plan *p = NULL;
	rc = devsys_speckit_plan_new(&p, f);
	devsys_speckit_feature_free(f);
	if (rc) {
		free(root);
		fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
		return rc == DEVSYS_EINVALID ? DEVSYS_EXIT_FAILED : devsys_cli_exit_code(rc);
	}
	rc = a.emit ? emit(cli, p, &a, dir, root) : print_waves(cli, p);
	devsys_speckit_plan_free(p);
	free(root);
	return rc;
}

/* Text status: one line per task sync ticked or would tick, then a total. */
static void print_sync(const devsys_speckit_links *l, const char *tasks_md, size_t marked, bool dry_run)
{
	size_t n = 0;
	const char *const *ids = devsys_speckit_links_green_ids(l, &n);
	for (size_t i = 0; i < devsys_speckit_links_count(l); i++) {
		const char *task = NULL;
		int state = 0, green = 0;
		const char *id = devsys_speckit_link_at(l, i, &task, &state, &green);
		printf("%s: devsys task %s is %s%s\n", id, task, devsys_task_state_name(state), green ? ", green" : "");
	}
	printf("%s %zu line(s) of %s (%zu spec-kit id(s) green)\n", dry_run ? "would mark" : "marked", marked, tasks_md,
	       ids ? n : 0);
}

/* The links of the workspace's tasks to the folder @p rel. */
static int links_of(devsys_cli *cli, const char *rel, devsys_speckit_links **out)
{
	devsys_workspace *ws = NULL;
	devsys_store *st = NULL;
	int rc = devsys_cli_open_workspace(cli, &ws);
	if (rc)
		return rc;
	devsys_store_options so = DEVSYS_STORE_OPTIONS_INIT;
	so.flags = DEVSYS_STORE_NO_RECOVER; /* a reader: leave crashed tasks to the pipeline's own recovery */
	if (devsys_store_open(&st, ws, &so) || devsys_speckit_links_new(out, st, ws, rel))
		rc = devsys_cli_fail_lib(cli, "speckit sync");
	devsys_store_free(st);
	devsys_workspace_free(ws);
	return rc;
}

static int cmd_sync(devsys_cli *cli, int argc, char **argv)
{
	sk_args a = { 0 };
	char **pos = calloc((size_t)argc, sizeof(*pos));
	int npos = 0;
	if (!pos)
		return DEVSYS_EXIT_SYSTEM;
	int rc = parse_args(cli, argc, argv, &a, pos, &npos);
	const char *dir = npos == 1 ? pos[0] : NULL;
	free(pos);
	if (rc)
		return rc;
	if (!dir)
		return devsys_cli_usage_error(cli, "speckit sync needs exactly one feature folder");
	devsys_speckit_feature *f = NULL;
	char *root = NULL, *rel = NULL;
	if ((rc = load(cli, &f, dir, a.root, &root)) != 0)
		return rc;
	if (!root || !(rel = relative_dir(dir, root))) {
		devsys_speckit_feature_free(f);
		rc = devsys_cli_usage_error(cli, "speckit sync: '%s' is in no git work tree: pass --root DIR", dir);
		free(root);
		return rc;
	}
	devsys_speckit_links *l = NULL;
	devsys_buf tasks_md = DEVSYS_BUF_INIT, out = DEVSYS_BUF_INIT;
	size_t marked = 0, n = 0;
	rc = links_of(cli, rel, &l);
	const char *const *ids = l ? devsys_speckit_links_green_ids(l, &n) : NULL;
	if (rc == 0 && devsys_buf_printf(&tasks_md, "%s/tasks.md", dir) != 0)
		rc = DEVSYS_EXIT_SYSTEM;
	if (rc == 0 && a.dry_run) {
		/* what sync would tick: green ids whose lines are still open */
		for (size_t i = 0; i < n; i++) {
			const devsys_speckit_task *t = devsys_speckit_task_find(f, ids[i]);
			marked += t && devsys_speckit_task_state(t) == ' ';
		}
	} else if (rc == 0 && devsys_speckit_mark_done_file(&marked, tasks_md.ptr, ids, n)) {
		rc = devsys_cli_fail_lib(cli, "speckit sync");
	}
	devsys_speckit_feature *now = NULL;
	if (rc == 0 && !a.dry_run && marked && devsys_speckit_feature_load(&now, dir, root))
		rc = devsys_cli_fail_lib(cli, "speckit sync");
	if (rc == 0 && cli->json) {
		if (devsys_speckit_status_to_json(&out, now ? now : f, l) == 0)
			fwrite(out.ptr, 1, out.size, stdout);
	} else if (rc == 0) {
		print_sync(l, tasks_md.ptr, marked, a.dry_run);
	}
	devsys_speckit_feature_free(now);
	devsys_speckit_feature_free(f);
	devsys_speckit_links_free(l);
	devsys_buf_dispose(&tasks_md);
	devsys_buf_dispose(&out);
	free(rel);
	free(root);
	return rc;
}

/* One line per stage as it ends, on stderr (stdout keeps the summary);
 * the last stage's failure class into *payload, for the exit code. */
static int show_stage(const devsys_pipeline_event *ev, void *payload)
{
	if (ev->kind != DEVSYS_PIPELINE_EVENT_STAGE_END)
		return 0;
	fprintf(stderr, "%s: %-8s %-6s %s\n", ev->task_id, ev->result->stage, ev->result->result,
	        ev->result->outcome ? ev->result->outcome : "");
	*(int *)payload = ev->result->failure_class;
	return 0;
}

typedef struct sk_jobs {
	devsys_cli *cli;
	int jobs;
} sk_jobs;

/* A wave's tasks through `devsys run --jobs N`'s scheduler (cmd_queue.c); green is decided after. */
static int run_wave_jobs(const char *const *ids, size_t n, void *payload)
{
	sk_jobs *j = payload;
	int ex = devsys_cli_run_task_ids(j->cli, ids, n, j->jobs, NULL);
	if (ex == DEVSYS_EXIT_INTERRUPTED)
		return devsys_error_set(DEVSYS_ECANCELED, "interrupted");
	if (ex == DEVSYS_EXIT_USAGE || ex == DEVSYS_EXIT_SYSTEM)
		return devsys_error_set(DEVSYS_ERROR, "the wave's %zu task(s) could not be run (see above)", n);
	return 0; /* a task that failed is found by the green check */
}

static int run_feature(devsys_cli *cli, const devsys_speckit_plan *plan, const sk_args *a, const char *dir,
                       const char *rel, const char *extra)
{
	devsys_workspace *ws = NULL;
	devsys_pipeline *p = NULL;
	devsys_pipeline_options po = DEVSYS_PIPELINE_OPTIONS_INIT;
	devsys_buf tasks_md = DEVSYS_BUF_INIT;
	size_t done = 0;
	int rc = devsys_cli_open_workspace(cli, &ws);
	if (rc)
		return rc;
	int last_class = DEVSYS_FAILURE_NONE;
	po.progress = show_stage;
	po.progress_payload = &last_class;
	if (devsys_pipeline_new(&p, ws, &po) || devsys_buf_printf(&tasks_md, "%s/tasks.md", dir))
		rc = devsys_cli_fail_lib(cli, "speckit run");
	else if (devsys_speckit_run_waves(&done, p, ws, plan, a->repo, rel, extra, tasks_md.ptr,
	                                  a->jobs ? run_wave_jobs : NULL, &(sk_jobs){ cli, a->jobs })) {
		rc = devsys_cli_fail_lib(cli, "speckit run");
		/* a task that failed or is not green: exit as `devsys run` does, by its last stage's class */
		int code = devsys_error_code(devsys_error_last());
		if (last_class != DEVSYS_FAILURE_NONE || code == DEVSYS_ERROR || code == DEVSYS_ECANCELED)
			rc = code == DEVSYS_ECANCELED                ? DEVSYS_EXIT_INTERRUPTED
			     : last_class == DEVSYS_FAILURE_SYSTEM     ? DEVSYS_EXIT_SYSTEM
			     : last_class == DEVSYS_FAILURE_CANCELED ? DEVSYS_EXIT_INTERRUPTED
			                                             : DEVSYS_EXIT_FAILED;
	}
	printf("%zu of %zu wave(s) green%s\n", done, devsys_speckit_plan_wave_count(plan),
	       rc ? "; stopped (see above)" : "");
	devsys_buf_dispose(&tasks_md);
	devsys_pipeline_free(p);
	devsys_workspace_free(ws);
	return rc;
}

/* The --with file: YAML sections every task spec gets (agent, tests, ...). */
static int read_with(devsys_cli *cli, const char *file, devsys_buf *out)
{
	char chunk[65536];
	size_t n;
	FILE *f = fopen(file, "rb");
	if (!f)
		return devsys_cli_usage_error(cli, "speckit run --with: cannot open '%s': %s", file, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && out->size <= ((size_t)1 << 20))
		if (devsys_buf_put(out, chunk, n) < 0)
			break;
	int bad = ferror(f) || out->size > ((size_t)1 << 20);
	fclose(f);
	return bad ? devsys_cli_usage_error(cli, "speckit run --with: cannot read '%s' (at most 1 MiB)", file) : 0;
}

static int cmd_run(devsys_cli *cli, int argc, char **argv)
{
	sk_args a = { 0 };
	char **pos = calloc((size_t)argc, sizeof(*pos));
	int npos = 0;
	if (!pos)
		return DEVSYS_EXIT_SYSTEM;
	int rc = parse_args(cli, argc, argv, &a, pos, &npos);
	const char *dir = npos == 1 ? pos[0] : NULL;
	free(pos);
	if (rc)
		return rc;
	if (!dir || !a.repo)
		return devsys_cli_usage_error(cli, "speckit run needs one feature folder and --repo URL");
	devsys_buf extra = DEVSYS_BUF_INIT;
	if (a.with && (rc = read_with(cli, a.with, &extra)) != 0) {
		devsys_buf_dispose(&extra);
		return rc;
	}
	devsys_speckit_feature *f = NULL;
	devsys_speckit_plan *plan = NULL;
	char *root = NULL, *rel = NULL;
	if ((rc = load(cli, &f, dir, a.root, &root)) == 0 && (!root || !(rel = relative_dir(dir, root))))
		rc = devsys_cli_usage_error(cli, "speckit run: '%s' is in no git work tree: pass --root DIR", dir);
	if (rc == 0 && devsys_speckit_plan_new(&plan, f) != 0) {
		fprintf(stderr, "%s\n", devsys_error_message(devsys_error_last()));
		rc = DEVSYS_EXIT_FAILED;
	}
	if (rc == 0)
		rc = run_feature(cli, plan, &a, dir, rel, extra.ptr);
	devsys_speckit_plan_free(plan);
	devsys_speckit_feature_free(f);
	devsys_buf_dispose(&extra);
	free(rel);
	free(root);
	return rc;
}

static int cmd_speckit(devsys_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return cmd_check(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "plan") == 0)
		return cmd_plan(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "sync") == 0)
		return cmd_sync(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(cli, argc, argv);
	return devsys_cli_usage_error(cli, "speckit: say 'check DIR...', 'plan DIR [--repo URL --emit task|wave]', "
	                                   "'sync DIR [--dry-run]' or 'run DIR --repo URL [--with FILE] [--jobs N]'");
}

const devsys_cli_command devsys_cli_speckit_commands[] = {
	{ "speckit",
	  "check DIR... [--json|--sarif] [--root DIR] | plan DIR [--json] [--repo URL --emit task|wave] | sync DIR "
	  "[--json] [--dry-run] [--root DIR] | run DIR --repo URL [--with FILE] [--jobs N] [--root DIR]",
	  "validate spec-kit feature folders (SK000-SK014), turn tasks.md into waves of devsys tasks, run them "
	  "through the pipeline, and tick tasks.md from the task records",
	  cmd_speckit },
	{ NULL, NULL, NULL, NULL },
};
