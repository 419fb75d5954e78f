/*
 * Masking: Aho-Corasick over secret values, one-shot and streaming, split
 * secrets, multiline secrets, short secrets, overlaps, redactor adapter.
 */
#include "secrets/secrets_int.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	devsys_init();
}
static void teardown(void)
{
	devsys_shutdown();
}
TestSuite(secrets_mask, .init = setup, .fini = teardown);

static char *mask_all(devsys_masker *m, const char *text)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	cr_assert_eq(devsys_masker_mask(m, text, strlen(text), &out), 0, "%s", devsys_error_message(devsys_error_last()));
	return out.ptr;
}

static int collect(const char *data, size_t len, void *payload)
{
	return devsys_buf_put(payload, data, len) < 0 ? -1 : 0;
}

/* Stream @p text in pieces given by @p cuts (sizes, 0-terminated, cycled). */
static char *mask_stream(devsys_masker *m, const char *text, size_t len, const size_t *cuts)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	devsys_mask_stream *s;
	size_t off = 0, k = 0;
	cr_assert_eq(devsys_mask_stream_new(&s, m, collect, &out), 0);
	while (off < len) {
		size_t n = cuts[k] ? cuts[k++] : (k = 0, cuts[k++]);
		if (n > len - off)
			n = len - off;
		cr_assert_eq(devsys_mask_stream_write(s, text + off, n), 0);
		off += n;
	}
	cr_assert_eq(devsys_mask_stream_finish(s), 0);
	devsys_mask_stream_free(s);
	devsys_buf_put(&out, "", 0);
	return out.ptr;
}

Test(secrets_mask, replaces_secret_with_name)
{
	devsys_masker *m;
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "api_token", "tok-1234-abcd", 13), 0);
	char *r = mask_all(m, "Authorization: tok-1234-abcd; again tok-1234-abcd.");
	cr_assert_str_eq(r, "Authorization: [MASKED:api_token]; again [MASKED:api_token].");
	free(r);
	r = mask_all(m, "no secret here, only tok-1234-abc");
	cr_assert_str_eq(r, "no secret here, only tok-1234-abc");
	free(r);
	devsys_masker_free(m);
}

Test(secrets_mask, secret_split_at_every_position)
{
	devsys_masker *m;
	const char *text = "xx SuperSecretValue42 yy SuperSecretValue42";
	const char *want = "xx [MASKED:s] yy [MASKED:s]";
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "s", "SuperSecretValue42", 18), 0);
	for (size_t cut = 1; cut < strlen(text); cut++) {
		size_t cuts[] = { cut, strlen(text), 0 };
		char *r = mask_stream(m, text, strlen(text), cuts);
		cr_assert_str_eq(r, want, "split after %zu bytes", cut);
		free(r);
	}
	/* one byte at a time */
	size_t ones[] = { 1, 0 };
	char *r = mask_stream(m, text, strlen(text), ones);
	cr_assert_str_eq(r, want);
	free(r);
	devsys_masker_free(m);
}

Test(secrets_mask, multiline_secret_each_line_masked)
{
	devsys_masker *m;
	const char *key = "-----BEGIN KEY-----\r\nAAAAbbbbCCCC\nDDDDeeee\n-----END KEY-----\n";
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "deploy_key", key, strlen(key)), 0);
	cr_assert_eq(devsys_masker_count(m), 4);
	char *r = mask_all(m, "key:\n-----BEGIN KEY-----\nAAAAbbbbCCCC\nDDDDeeee\n-----END KEY-----\nlog: DDDDeeee alone\n");
	cr_assert_str_eq(r, "key:\n[MASKED:deploy_key]\n[MASKED:deploy_key]\n[MASKED:deploy_key]\n[MASKED:deploy_key]\n"
	                    "log: [MASKED:deploy_key] alone\n");
	cr_assert_null(strstr(r, "AAAA"));
	free(r);
	devsys_masker_free(m);
}

Test(secrets_mask, short_secret_refused_with_warning)
{
	devsys_masker *m;
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "pin", "123", 3), DEVSYS_EINVALID);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "pin"));
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "shorter than 4"));
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "123"), "the value must not be in the message");
	cr_assert_eq(devsys_masker_count(m), 0);
	/* multiline: short lines refused, long ones kept */
	cr_assert_eq(devsys_masker_add(m, "ml", "ab\nlongerline\n", 14), DEVSYS_EINVALID);
	cr_assert_eq(devsys_masker_count(m), 1);
	char *r = mask_all(m, "123 ab longerline");
	cr_assert_str_eq(r, "123 ab [MASKED:ml]");
	free(r);
	/* exactly 4 is accepted */
	devsys_masker *m2;
	cr_assert_eq(devsys_masker_new(&m2), 0);
	cr_assert_eq(devsys_masker_add(m2, "four", "abcd", 4), 0);
	r = mask_all(m2, "xabcdx");
	cr_assert_str_eq(r, "x[MASKED:four]x");
	free(r);
	devsys_masker_free(m2);
	devsys_masker_free(m);
}

Test(secrets_mask, overlapping_and_nested_secrets_never_leak)
{
	devsys_masker *m;
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "long", "abcdefgh", 8), 0);
	cr_assert_eq(devsys_masker_add(m, "mid", "cdef", 4), 0);
	cr_assert_eq(devsys_masker_add(m, "tail", "ghXYZW", 6), 0);
	const char *cases[] = { "abcdefgh", "cdef", "abcdefghXYZW", "..cdefgh..", "abcdecdefgh", "abcdefabcdefgh" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = mask_all(m, cases[i]);
		cr_assert_null(strstr(r, "abcdefgh"), "%s -> %s", cases[i], r);
		cr_assert_null(strstr(r, "cdef"), "%s -> %s", cases[i], r);
		cr_assert_null(strstr(r, "ghXYZW"), "%s -> %s", cases[i], r);
		free(r);
	}
	char *r = mask_all(m, "abcdefgh");
	cr_assert_str_eq(r, "[MASKED:long]");
	free(r);
	devsys_masker_free(m);
}

Test(secrets_mask, add_after_use_is_refused)
{
	devsys_masker *m;
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "a", "aaaaaa", 6), 0);
	free(mask_all(m, "x"));
	cr_assert_eq(devsys_masker_add(m, "b", "bbbbbb", 6), DEVSYS_EBUSY);
	devsys_masker_free(m);
}

Test(secrets_mask, empty_masker_passes_through_binary)
{
	devsys_masker *m;
	devsys_buf out = DEVSYS_BUF_INIT;
	const char bin[] = { 'a', 0, (char)0xff, '\n', (char)0xc3 };
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_mask(m, bin, sizeof(bin), &out), 0);
	cr_assert_eq(out.size, sizeof(bin));
	cr_assert_eq(memcmp(out.ptr, bin, sizeof(bin)), 0);
	devsys_buf_dispose(&out);
	devsys_masker_free(m);
}

/* Property: random secrets, random texts, random chunking: streaming equals
 * one-shot, and no secret survives in the output. */
Test(secrets_mask, random_streaming_equals_one_shot)
{
	srand(12345);
	for (int round = 0; round < 200; round++) {
		devsys_masker *m;
		char secrets[6][16];
		int ns = 1 + rand() % 5;
		cr_assert_eq(devsys_masker_new(&m), 0);
		for (int i = 0; i < ns; i++) {
			int len = 4 + rand() % 10;
			for (int k = 0; k < len; k++)
				secrets[i][k] = "abcXY"[rand() % 5]; /* small alphabet: many overlaps */
			secrets[i][len] = '\0';
			char name[8];
			snprintf(name, sizeof(name), "s%d", i);
			devsys_masker_add(m, name, secrets[i], (size_t)len);
		}
		char text[600];
		size_t tl = 0;
		while (tl < 500) {
			if (rand() % 3 == 0) {
				int which = rand() % ns;
				size_t l = strlen(secrets[which]);
				memcpy(text + tl, secrets[which], l);
				tl += l;
			} else {
				text[tl++] = "abcXYZ \n"[rand() % 8];
			}
		}
		text[tl] = '\0';
		char *one = mask_all(m, text);
		size_t cuts[] = { (size_t)(1 + rand() % 7), (size_t)(1 + rand() % 30), (size_t)(1 + rand() % 3), 0 };
		char *str = mask_stream(m, text, tl, cuts);
		cr_assert_str_eq(str, one, "round %d\ntext=%s\none=%s\nstr=%s", round, text, one, str);
		for (int i = 0; i < ns; i++)
			cr_assert_null(strstr(one, secrets[i]), "round %d secret %d leaked", round, i);
		free(one);
		free(str);
		devsys_masker_free(m);
	}
}

static char last_log[512];
static void log_cb(int level, const char *component, const char *message, void *payload)
{
	(void)level;
	(void)component;
	(void)payload;
	snprintf(last_log, sizeof(last_log), "%s", message);
}

Test(secrets_mask, redactor_masks_workspace_log_lines)
{
	devsys_masker *m;
	devsys_workspace *ws;
	const devsys_redactor_vtable *vt;
	void *self;
	char *dir = dt_tmpdir("mask-ws");
	devsys_workspace_options o = DEVSYS_WORKSPACE_OPTIONS_INIT;
	o.log_cb = log_cb;
	o.log_level = DEVSYS_LOG_TRACE;
	cr_assert_eq(devsys_workspace_open(&ws, dir, &o), 0);
	cr_assert_eq(devsys_masker_new(&m), 0);
	cr_assert_eq(devsys_masker_add(m, "db_password", "hunter2hunter2", 14), 0);
	cr_assert_eq(devsys_masker_redactor(&vt, &self, m), 0);
	cr_assert_eq(devsys_workspace_add_redactor(ws, vt, self), 0);
	devsys_workspace_log(ws, DEVSYS_LOG_INFO, "test", "connecting with password=%s now", "hunter2hunter2");
	cr_assert_str_eq(last_log, "connecting with password=[MASKED:db_password] now");
	devsys_workspace_free(ws);
	devsys_masker_free(m);
	dt_rmrf(dir);
	free(dir);
}
