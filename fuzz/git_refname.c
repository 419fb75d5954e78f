/* Fuzz target: branch templates and ref-name validation. Input: template NUL slug. */
#include "git/git_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	char *s = devsys__strndup((const char *)data, size);
	const char *tmpl, *slug = NULL;
	devsys_buf out = DEVSYS_BUF_INIT, full = DEVSYS_BUF_INIT;
	if (!inited) {
		git_libgit2_init();
		inited = 1;
	}
	if (!s)
		return 0;
	tmpl = s;
	if (strlen(s) < size)
		slug = (const char *)data + strlen(s) + 1;
	{
		char *slugc = slug ? devsys__strndup(slug, size - strlen(s) - 1) : NULL;
		if (devsys_repo_branch_name(&out, tmpl, "t-1", slugc) == 0) {
			int valid = 0;
			/* Whatever we accept, git accepts too. */
			devsys_buf_printf(&full, "refs/heads/%s", out.ptr);
			if (git_reference_name_is_valid(&valid, full.ptr) < 0 || !valid)
				__builtin_trap();
			if (strstr(out.ptr, "..") || strchr(out.ptr, ' ') || strchr(out.ptr, ':'))
				__builtin_trap();
		}
		devsys__free(slugc);
	}
	(void)devsys__git_refname_check(s);
	(void)devsys_repo_branch_is_protected(s, "main", NULL);
	devsys_buf_dispose(&out);
	devsys_buf_dispose(&full);
	devsys__free(s);
	return 0;
}
