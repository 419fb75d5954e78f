/*
 * Fuzz target: the gitea provider's JSON response decoders and request
 * helpers (lib/forge/gitea/codec.c). Input: one selector byte, then a JSON
 * text (or, for selector 7, raw bytes for the path-segment encoder and the
 * WIP prefix). Every decoder either succeeds with the fields the gate
 * relies on set, or fails with DEVSYS_EPARSE and a message saying it came
 * from the gitea decoders; it never crashes or leaks. The segment encoder
 * is checked against its definition: only unreserved characters and %XX
 * come out, and decoding gives the input back.
 */
#include "forge/forge_int.h"
#include "forge/gitea/gitea_int.h"

#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

static void failed_clearly(int rc)
{
	const char *m = devsys_error_message(devsys_error_last());
	must(rc == DEVSYS_EPARSE || rc == DEVSYS_EINVAL);
	must(m && (strncmp(m, "gitea: ", 7) == 0 || strstr(m, "devsys_forge_sink") != NULL));
}

static void pr(const json_t *j)
{
	devsys_forge_pr_info i;
	const char *title = json_string_value(json_object_get(j, "title"));
	memset(&i, 0, sizeof(i));
	i.version = DEVSYS_FORGE_PR_INFO_VERSION;
	int rc = devsys__gt_decode_pr(&i, j);
	if (rc < 0)
		return failed_clearly(rc);
	must(i.number > 0 && i.head && *i.head && i.base && *i.base && i.head_sha && i.title && i.url);
	must(i.state >= DEVSYS_PR_OPEN && i.state <= DEVSYS_PR_MERGED);
	must(i.state == DEVSYS_PR_MERGED || i.merge_sha == NULL);
	/* the title handed back is the forge's title without (only) its WIP prefix */
	must(title && i.title == title + devsys__gt_wip_len(title));
	must(!devsys__gt_wip_len(title) || i.draft);
	(void)devsys__gt_pr_has_reviewer(j, "alice");
	(void)devsys__gt_pr_has_team(j, "core");
}

static void review(const json_t *item, size_t idx)
{
	devsys_policy_review r = DEVSYS_POLICY_REVIEW_INIT;
	bool skip = false;
	int rc = devsys__gt_decode_review(&r, &skip, item, idx);
	if (rc < 0)
		return failed_clearly(rc);
	if (!skip) {
		must(r.reviewer && *r.reviewer && r.commit_sha && *r.commit_sha);
		must(r.state >= DEVSYS_REVIEW_APPROVED && r.state <= DEVSYS_REVIEW_PENDING);
	}
}

static void combined(const json_t *j)
{
	devsys_forge_sink s;
	size_t count = 0;
	int64_t total = 0;
	devsys__sink_init(&s, DEVSYS__SINK_CHECKS);
	int rc = devsys__gt_decode_combined(&s, &count, &total, j, "0123456789abcdef0123456789abcdef01234567");
	if (rc < 0)
		failed_clearly(rc);
	else {
		must(s.n == count);
		for (size_t k = 0; k < s.n; k++)
			must(s.items[k].a && *s.items[k].a && s.items[k].state >= DEVSYS_CHECK_PENDING &&
			     s.items[k].state <= DEVSYS_CHECK_NEUTRAL && s.items[k].kind == DEVSYS_CHECK_STATUS);
	}
	devsys__sink_dispose(&s);
}

static void file(const json_t *item, size_t idx)
{
	const char *path = NULL, *old = NULL;
	int rc = devsys__gt_decode_file(&path, &old, item, idx);
	if (rc < 0)
		return failed_clearly(rc);
	must(path && *path && (!old || *old));
}

static void author(const json_t *item, size_t idx)
{
	const char *login, *name, *email;
	int rc = devsys__gt_decode_commit_author(&login, &name, &email, item, idx);
	if (rc < 0)
		return failed_clearly(rc);
	must(!login || *login);
}

static void labels(const json_t *j)
{
	json_int_t id = 0;
	int rc = 0;
	bool found = devsys__gt_label_id(&id, &rc, j, "devsys");
	must(!(found && rc < 0));
	if (rc < 0)
		failed_clearly(rc);
	(void)devsys__gt_is_already_exists(j);
	(void)devsys__gt_is_protection_exists(j);
}

/* The encoder's output, decoded, is its input; nothing but unreserved and %XX comes out. */
static void segment(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	devsys_buf b = DEVSYS_BUF_INIT;
	size_t n = 0;
	must(s != NULL);
	for (size_t k = 0; k < size; k++)
		if (data[k])
			s[n++] = (char)data[k];
	s[n] = '\0';
	must(devsys__gt_put_segment(&b, s) == 0);
	size_t o = 0, k = 0;
	for (; b.ptr && k < b.size; o++) {
		unsigned char c = (unsigned char)b.ptr[k];
		if (c == '%') {
			must(k + 2 < b.size && isxdigit((unsigned char)b.ptr[k + 1]) && isxdigit((unsigned char)b.ptr[k + 2]));
			must(!islower((unsigned char)b.ptr[k + 1]) && !islower((unsigned char)b.ptr[k + 2]));
			char hx[3] = { b.ptr[k + 1], b.ptr[k + 2], 0 };
			must(o < n && (unsigned char)s[o] == (unsigned char)strtoul(hx, NULL, 16));
			must(!(isalnum((unsigned char)s[o]) || strchr("-._~", s[o])));
			k += 3;
		} else {
			must(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~');
			must(o < n && s[o] == (char)c);
			k++;
		}
	}
	must(o == n);
	size_t w = devsys__gt_wip_len(s);
	must(w <= n);
	devsys_buf_dispose(&b);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j;
	size_t idx;
	const json_t *item;
	if (size < 1)
		return 0;
	int which = data[0] % 8;
	if (which == 7) {
		segment(data + 1, size - 1);
		return 0;
	}
	if (!(j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL)))
		return 0;
	switch (which) {
	case 0: pr(j); break;
	case 1: json_array_foreach(j, idx, item) review(item, idx); review(j, 0); break;
	case 2: combined(j); break;
	case 3: json_array_foreach(j, idx, item) file(item, idx); file(j, 0); break;
	case 4: json_array_foreach(j, idx, item) author(item, idx); author(j, 0); break;
	default: labels(j); break;
	}
	json_decref(j);
	devsys_error_clear();
	return 0;
}
