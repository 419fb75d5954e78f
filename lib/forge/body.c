/*
 * The PR body: the task's metadata as Markdown, capped at 60 000
 * characters (GitHub refuses 65 536) and masked before it leaves.
 */
#include "forge_int.h"

#include <string.h>

static const size_t body_sizes[] = {
	0,
	DEVSYS__SIZE_THROUGH(devsys_pr_body, runner), /* 1 */
	DEVSYS__SIZE_THROUGH(devsys_pr_body, gate),   /* 2 */
	DEVSYS__SIZE_THROUGH(devsys_pr_body, verification), /* 3 */
	DEVSYS__SIZE_THROUGH(devsys_pr_body, agent),        /* 4 */
};

#define CUT_NOTE "\n\n_(devsys: the body was cut at %zu of %zu characters; the task record has the rest.)_\n"

/* How much of @p text (longer than @p room) to keep: up to the last line end
 * that fits, so no Markdown line (or masked marker, or UTF-8 sequence) is
 * broken in half; a single huge line is cut before a UTF-8 continuation
 * byte at least, never to nothing. */
static size_t cut_point(const char *text, size_t room)
{
	size_t keep = room;
	while (keep > 0 && text[keep - 1] != '\n')
		keep--;
	if (keep == 0) {
		keep = room;
		while (keep > 0 && ((unsigned char)text[keep] & 0xC0) == 0x80)
			keep--;
	}
	return keep;
}

int devsys__pr_body_cap(devsys_buf *out, const char *text, size_t len, size_t max)
{
	char note[160];
	size_t keep, nlen;
	if (len <= max)
		return devsys_buf_put(out, text, len);
	nlen = (size_t)snprintf(note, sizeof(note), CUT_NOTE, max, len);
	keep = cut_point(text, max > nlen ? max - nlen : 0);
	if (devsys_buf_put(out, text, keep) < 0)
		return DEVSYS_ENOMEM;
	snprintf(note, sizeof(note), CUT_NOTE, keep, len);
	return devsys_buf_puts(out, note);
}

/* One line of the acceptance list as a task-list item; line breaks inside
 * an item would end the list, so they become spaces. */
static int put_item(devsys_buf *b, const char *item)
{
	int rc = devsys_buf_puts(b, "- [ ] ");
	for (const char *p = item; rc == 0 && *p; p++)
		rc = devsys_buf_put(b, (*p == '\n' || *p == '\r') ? " " : p, 1);
	return rc ? rc : devsys_buf_puts(b, "\n");
}

static int field(devsys_buf *b, const char *label, const char *value, int code)
{
	if (!value || !*value)
		return 0;
	return devsys_buf_printf(b, code ? "| %s | `%s` |\n" : "| %s | %s |\n", label, value);
}

/* The agent's digest in a code block, cut at a line end under its cap. */
static int agent_digest(devsys_buf *b, const char *digest)
{
	size_t n = strlen(digest), keep = n;
	int rc;
	if (n > DEVSYS_PR_BODY_AGENT_MAX)
		keep = cut_point(digest, DEVSYS_PR_BODY_AGENT_MAX);
	while (keep > 0 && digest[keep - 1] == '\n')
		keep--;
	/* a ``` inside would end the block early: the digest is the agent's words */
	rc = devsys_buf_puts(b, "\n### Coding agent\n\n```\n");
	for (size_t i = 0; rc == 0 && i < keep; i++)
		rc = devsys_buf_put(b, digest[i] == '`' ? "'" : digest + i, 1);
	if (rc == 0 && keep < n)
		rc = devsys_buf_printf(b, "\n(cut at %zu of %zu characters; logs/agent.log has the rest)", keep, n);
	return rc ? rc : devsys_buf_puts(b, "\n```\n");
}

static int build(devsys_buf *b, const devsys_pr_body *o)
{
	int rc = 0;
	if (o->summary && *o->summary)
		rc = devsys_buf_printf(b, "%s\n\n", o->summary);
	if (!rc)
		rc = devsys_buf_puts(b, "### devsys task\n\n| | |\n|---|---|\n");
	if (!rc)
		rc = field(b, "Task", o->task_id, 1);
	if (!rc)
		rc = field(b, "Spec", o->spec_path, 1);
	if (!rc)
		rc = field(b, "Spec content id", o->spec_id, 1);
	if (!rc)
		rc = field(b, "Runner", o->runner, 1);
	if (!rc)
		rc = field(b, "Test report", o->report, 0);
	if (!rc && o->validation && *o->validation)
		rc = devsys_buf_printf(b, "\n### Spec validation\n\n```\n%s\n```\n", o->validation);
	if (!rc && o->nacceptance)
		rc = devsys_buf_puts(b, "\n### Acceptance\n\n");
	for (size_t i = 0; !rc && i < o->nacceptance; i++)
		if (o->acceptance[i])
			rc = put_item(b, o->acceptance[i]);
	if (!rc && o->agent && *o->agent)
		rc = agent_digest(b, o->agent);
	if (!rc && o->verification && *o->verification)
		rc = devsys_buf_printf(b, "\n### Verification\n\n```\n%s\n```\n", o->verification);
	if (!rc && o->gate && *o->gate)
		rc = devsys_buf_printf(b, "\n### Merge gate\n\n```\n%s\n```\n", o->gate);
	return rc < 0 ? devsys__error_oom() : 0;
}

int devsys_pr_body_build(devsys_buf *out, const devsys_pr_body *body, devsys_masker *masker)
{
	devsys_pr_body o = DEVSYS_PR_BODY_INIT;
	devsys_buf raw = DEVSYS_BUF_INIT, masked = DEVSYS_BUF_INIT;
	int rc;
	DEVSYS__CHECK_ARG(out);
	DEVSYS__CHECK_ARG(body);
	if ((rc = devsys__versioned_copy(&o, body, body_sizes, DEVSYS_PR_BODY_VERSION, "devsys_pr_body")) < 0)
		return rc;
	if (!o.task_id || !*o.task_id)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pr_body_build: task_id is required");
	if (o.nacceptance && !o.acceptance)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_pr_body_build: nacceptance without acceptance");
	if ((rc = build(&raw, &o)) < 0)
		goto done;
	if (masker) {
		if ((rc = devsys_masker_mask(masker, raw.ptr, raw.size, &masked)) < 0)
			goto done;
		rc = devsys__pr_body_cap(out, masked.ptr ? masked.ptr : "", masked.size, DEVSYS_PR_BODY_MAX);
	} else {
		rc = devsys__pr_body_cap(out, raw.ptr, raw.size, DEVSYS_PR_BODY_MAX);
	}
	if (rc < 0)
		rc = devsys__error_oom();
done:
	devsys_buf_dispose(&raw);
	devsys_buf_dispose(&masked);
	return rc;
}
