/*
 * A task's repository: check out, commit, push, changed paths. The repo
 * holds a reference on its task (docs/abi.md), so the task object may be
 * closed or collected first.
 */
#include "ldevsys.h"
#ifdef DEVSYS_FEATURE_GIT /* a build without the module has none of this */

#include <string.h>

typedef struct {
	ld_handle h;
	ld_cb progress;
} ld_repo;

static const char *stage_name(int stage)
{
	switch (stage) {
	case DEVSYS_REPO_STAGE_FETCH: return "fetch";
	case DEVSYS_REPO_STAGE_CHECKOUT: return "checkout";
	case DEVSYS_REPO_STAGE_PUSH: return "push";
	default: return "?";
	}
}

/* progress(stage, done, total, bytes): raise or return false to cancel */
static int progress_cb(const devsys_repo_progress *p, void *payload)
{
	ld_cb *cb = payload;
	if (!ld_cb_push(cb))
		return 0;
	lua_pushstring(ld_running, stage_name(p->stage));
	lua_pushinteger(ld_running, (lua_Integer)p->done_objects);
	lua_pushinteger(ld_running, (lua_Integer)p->total_objects);
	lua_pushinteger(ld_running, (lua_Integer)p->bytes);
	if (ld_cb_call(cb, 4, 1))
		return 1;
	lua_pop(ld_running, 1);
	return 0;
}

static void repo_release(lua_State *L, ld_handle *h)
{
	devsys_repo_free(h->p);
	ld_cb_clear(L, &((ld_repo *)h)->progress);
}

/*
 * devsys.repo_open(task, {url=, base_branch=, branch_template=, slug=, author_name=, author_email=,
 *   ssl_ca_file=, ssh_known_hosts=, ssh_user=, ssh_private_key=, ssh_public_key=, protected_branches={...},
 *   allow_force_push=, max_file_size=, follow_submodules=, progress=fn}) -> repo | nil, msg, code
 */
static int l_repo_open(lua_State *L)
{
	devsys_task *t = ld_check(L, 1, LD_TASK);
	devsys_repo_options o = DEVSYS_REPO_OPTIONS_INIT;
	devsys_repo *r = NULL;
	ld_repo *h;
	size_t nprot = 0;
	int rc;

	luaL_checktype(L, 2, LUA_TTABLE);
	o.url = ld_field_str(L, 2, "url", NULL);
	if (!o.url)
		return luaL_error(L, "devsys.repo_open: option 'url' is required");
	o.base_branch = ld_field_str(L, 2, "base_branch", NULL);
	o.branch_template = ld_field_str(L, 2, "branch_template", NULL);
	o.slug = ld_field_str(L, 2, "slug", NULL);
	o.author_name = ld_field_str(L, 2, "author_name", NULL);
	o.author_email = ld_field_str(L, 2, "author_email", NULL);
	o.ssl_ca_file = ld_field_str(L, 2, "ssl_ca_file", NULL);
	o.ssl_ca_dir = ld_field_str(L, 2, "ssl_ca_dir", NULL);
	o.ssh_known_hosts = ld_field_str(L, 2, "ssh_known_hosts", NULL);
	o.ssh_user = ld_field_str(L, 2, "ssh_user", NULL);
	o.ssh_public_key = ld_field_str(L, 2, "ssh_public_key", NULL);
	o.ssh_private_key = ld_field_str(L, 2, "ssh_private_key", NULL);
	o.allow_force_push = ld_field_bool(L, 2, "allow_force_push", false);
	o.max_file_size = (uint64_t)ld_field_int(L, 2, "max_file_size", 0);
	o.follow_submodules = ld_field_bool(L, 2, "follow_submodules", false);
	o.protected_branches = ld_str_array(L, 2, "protected_branches", &nprot);
	o.nprotected_branches = nprot;
	h = ld_new(L, LD_REPO, sizeof(*h), NULL, repo_release);
	ld_cb_init(&h->progress);
	lua_getfield(L, 2, "progress");
	ld_cb_set(L, &h->progress, -1);
	lua_pop(L, 1);
	if (h->progress.fn != LUA_NOREF) {
		o.progress = progress_cb;
		o.progress_payload = &h->progress;
	}
	ld_enter(L);
	if ((rc = devsys_repo_open_task(&r, t, &o)) < 0)
		return ld_fail(L, rc, &h->progress);
	h->h.p = r;
	ld_cb_raise_pending(L, &h->progress); /* never lose a callback's error */
	return 1;
}

#define REPO_STR(fn)                                              \
	static int repo_##fn(lua_State *L)                        \
	{                                                         \
		ld_pushstr(L, devsys_repo_##fn(ld_check(L, 1, LD_REPO))); \
		return 1;                                         \
	}
REPO_STR(branch)
REPO_STR(base_branch)
REPO_STR(base_sha)
REPO_STR(head_sha)
REPO_STR(checkout_path)
REPO_STR(mirror_path)
REPO_STR(remote_default_branch)
REPO_STR(url)

/* devsys.repo_branch_name([template], task_id [, slug]) -> the task's branch name | nil, msg, code */
static int l_branch_name(lua_State *L)
{
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_repo_branch_name(&b, ld_optcstr(L, 1, NULL), ld_checkcstr(L, 2), ld_optcstr(L, 3, NULL));
	return ld_buf_result(L, rc, &b);
}

/* devsys.branch_is_protected(branch [, remote_default]) -> boolean (the library's defaults) */
static int l_branch_is_protected(lua_State *L)
{
	int rc = devsys_repo_branch_is_protected(ld_checkcstr(L, 1), ld_optcstr(L, 2, NULL), NULL);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, rc);
	return 1;
}

/* repo:commit(message [, {spec_path=, spec_file=}]) -> committed (boolean) | nil, msg, code */
static int repo_commit(lua_State *L)
{
	devsys_repo *r = ld_check(L, 1, LD_REPO);
	const char *msg = ld_checkcstr(L, 2);
	devsys_repo_commit_options o = DEVSYS_REPO_COMMIT_OPTIONS_INIT;
	int committed = 0, rc;
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		o.spec_path = ld_field_str(L, 3, "spec_path", NULL);
		o.spec_file = ld_field_str(L, 3, "spec_file", NULL);
	}
	if ((rc = devsys_repo_commit(&committed, r, msg, &o)) < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, committed);
	return 1;
}

static int repo_push(lua_State *L)
{
	devsys_repo *r = ld_check(L, 1, LD_REPO);
	ld_repo *h = (ld_repo *)ld_ud(L, 1, LD_REPO);
	int rc = devsys_repo_push(r);
	if (rc < 0)
		return ld_fail(L, rc, &h->progress);
	ld_cb_raise_pending(L, &h->progress);
	lua_pushboolean(L, 1);
	return 1;
}

/* Push { {status="added", path=, old_path=, old_mode=, new_mode=}, ... } for @p ch. */
static void push_changes(lua_State *L, const devsys_repo_changes *ch)
{
	size_t n = devsys_repo_changes_count(ch);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const devsys_repo_change *c = devsys_repo_changes_at(ch, i);
		lua_createtable(L, 0, 5);
		lua_pushstring(L, devsys_repo_change_status_name(devsys_repo_change_status_of(c)));
		lua_setfield(L, -2, "status");
		lua_pushstring(L, devsys_repo_change_path(c));
		lua_setfield(L, -2, "path");
		ld_pushstr(L, devsys_repo_change_old_path(c));
		lua_setfield(L, -2, "old_path");
		lua_pushinteger(L, devsys_repo_change_old_mode(c));
		lua_setfield(L, -2, "old_mode");
		lua_pushinteger(L, devsys_repo_change_new_mode(c));
		lua_setfield(L, -2, "new_mode");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* repo:changed_paths() -> { {status="added", path=, old_path=, old_mode=, new_mode=}, ... } */
static int repo_changed_paths(lua_State *L)
{
	devsys_repo *r = ld_check(L, 1, LD_REPO);
	devsys_repo_changes *ch = NULL;
	int rc = devsys_repo_changed_paths(&ch, r);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	push_changes(L, ch);
	devsys_repo_changes_free(ch);
	return 1;
}

static void commits_release(lua_State *L, ld_handle *h)
{
	(void)L;
	devsys_repo_commits_free(h->p);
}

/* repo:changed_paths_by_commit() -> commits (the branch's, base to head, first parents, oldest first) */
static int repo_changed_paths_by_commit(lua_State *L)
{
	devsys_repo_commits *cs = NULL;
	int rc = devsys_repo_changed_paths_by_commit(&cs, ld_check(L, 1, LD_REPO));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_new(L, LD_COMMITS, sizeof(ld_handle), cs, commits_release); /* immutable: outlives its repo */
	return 1;
}

static size_t commit_arg(lua_State *L, const devsys_repo_commits *cs)
{
	lua_Integer i = luaL_checkinteger(L, 2);
	luaL_argcheck(L, i >= 1 && (size_t)i <= devsys_repo_commits_count(cs), 2, "commit index out of range");
	return (size_t)i - 1;
}

static int commits_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)devsys_repo_commits_count(ld_check(L, 1, LD_COMMITS)));
	return 1;
}

/* commits:sha(i) -> commit i's id (1-based, oldest first) */
static int commits_sha(lua_State *L)
{
	devsys_repo_commits *cs = ld_check(L, 1, LD_COMMITS);
	lua_pushstring(L, devsys_repo_commits_sha(cs, commit_arg(L, cs)));
	return 1;
}

/* commits:changes(i) -> commit i's changes, as repo:changed_paths() gives them */
static int commits_changes(lua_State *L)
{
	devsys_repo_commits *cs = ld_check(L, 1, LD_COMMITS);
	push_changes(L, devsys_repo_commits_changes(cs, commit_arg(L, cs)));
	return 1;
}

/* commits:touching(path) -> n, first, last (1-based; nil, nil when none); "dir/" names a folder */
static int commits_touching(lua_State *L)
{
	size_t first = 0, last = 0;
	size_t n = devsys_repo_commits_touching(ld_check(L, 1, LD_COMMITS), ld_checkcstr(L, 2), &first, &last);
	lua_pushinteger(L, (lua_Integer)n);
	if (!n)
		return 1;
	lua_pushinteger(L, (lua_Integer)first + 1);
	lua_pushinteger(L, (lua_Integer)last + 1);
	return 3;
}

/* repo:head_has_path(path) -> bool (the head commit, not the checkout) | nil, msg, code */
static int repo_head_has_path(lua_State *L)
{
	int exists = 0;
	int rc = devsys_repo_head_has_path(&exists, ld_check(L, 1, LD_REPO), ld_checkcstr(L, 2));
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	lua_pushboolean(L, exists);
	return 1;
}

static int l_content_id(lua_State *L)
{
	size_t len;
	const char *data = luaL_checklstring(L, 1, &len);
	devsys_buf b = DEVSYS_BUF_INIT;
	int rc = devsys_repo_content_id(&b, data, len);
	if (rc < 0)
		return ld_fail(L, rc, NULL);
	ld_pushbuf(L, &b);
	return 1;
}

void ld_open_repo(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "repo_open", l_repo_open },
		{ "repo_content_id", l_content_id },
		{ "repo_branch_name", l_branch_name },
		{ "branch_is_protected", l_branch_is_protected },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "branch", repo_branch },
		{ "base_branch", repo_base_branch },
		{ "base_sha", repo_base_sha },
		{ "head_sha", repo_head_sha },
		{ "checkout_path", repo_checkout_path },
		{ "mirror_path", repo_mirror_path },
		{ "remote_default_branch", repo_remote_default_branch },
		{ "url", repo_url },
		{ "commit", repo_commit },
		{ "push", repo_push },
		{ "changed_paths", repo_changed_paths },
		{ "changed_paths_by_commit", repo_changed_paths_by_commit },
		{ "head_has_path", repo_head_has_path },
		{ NULL, NULL },
	};
	static const luaL_Reg commit_methods[] = {
		{ "count", commits_count },       { "sha", commits_sha },
		{ "changes", commits_changes },   { "touching", commits_touching },
		{ NULL, NULL },
	};
	ld_register(L, LD_COMMITS, commit_methods);
	ld_register(L, LD_REPO, methods);
	luaL_setfuncs(L, fns, 0);
}
#endif /* DEVSYS_FEATURE_GIT */
