/*
 * Streaming tar reader and writer (internal). The reader reads what GNU tar
 * writes (ustar, gnu and pax formats, long names) fed in chunks of any size,
 * and refuses hostile archives (built here header by header) before handing
 * anything out. The writer's archives extract with GNU tar to the same tree,
 * store symlinks without following them, and refuse special files.
 */
#include "runner/docker/docker_int.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *errmsg(void)
{
	return devsys_error_message(devsys_error_last());
}

/* ---- a collecting consumer: "T path mode size [-> link] = content" lines ---- */

typedef struct listing {
	devsys_buf text;
	devsys_buf data;
	int entries, ends;
} listing;

static int on_entry(const devsys__tar_entry *e, void *payload)
{
	listing *l = payload;
	const char *t = e->type == DEVSYS__TAR_FILE ? "f" : e->type == DEVSYS__TAR_DIR ? "d" : e->type == DEVSYS__TAR_SYMLINK ? "l" : "h";
	l->entries++;
	devsys_buf_clear(&l->data);
	devsys_buf_printf(&l->text, "%s %s %04o %llu", t, e->path, e->mode, (unsigned long long)e->size);
	if (e->link)
		devsys_buf_printf(&l->text, " -> %s", e->link);
	return 0;
}

static int on_data(const devsys__tar_entry *e, const char *data, size_t len, void *payload)
{
	(void)e;
	return devsys_buf_put(&((listing *)payload)->data, data, len);
}

static int on_end(const devsys__tar_entry *e, void *payload)
{
	listing *l = payload;
	l->ends++;
	if (e->type == DEVSYS__TAR_FILE && l->data.size)
		devsys_buf_printf(&l->text, " = %s", l->data.ptr);
	devsys_buf_puts(&l->text, "\n");
	return 0;
}

static void listing_dispose(listing *l)
{
	devsys_buf_dispose(&l->text);
	devsys_buf_dispose(&l->data);
}

/* Read @p len bytes in chunks of @p chunk; the reader's rc (feed or finish). */
static int read_tar(listing *l, const char *tar, size_t len, size_t chunk, const devsys__tar_limits *lim)
{
	devsys__tar_callbacks cbs = { on_entry, on_data, on_end, l };
	devsys__tar_reader *r;
	int rc;
	cr_assert_eq(devsys__tar_reader_new(&r, lim, &cbs), 0);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		if ((rc = devsys__tar_reader_feed(r, tar + off, n)) < 0) {
			devsys__tar_reader_free(r);
			return rc;
		}
	}
	rc = devsys__tar_reader_finish(r);
	devsys__tar_reader_free(r);
	return rc;
}

/* ---- a header builder for hostile archives ---- */

typedef struct hdr {
	const char *name, *link, *magic; /* magic NULL: POSIX "ustar\0" "00" */
	char type;
	const char *size_field;          /* raw size field text, or NULL for size */
	unsigned long long size;
	int bad_checksum;
} hdr;

static void add_header(devsys_buf *b, const hdr *h)
{
	char blk[512];
	unsigned int sum = 0;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, h->name, strnlen(h->name, 100));
	memcpy(blk + 100, "0000644", 7);
	memcpy(blk + 108, "0000000", 7);
	memcpy(blk + 116, "0000000", 7);
	if (h->size_field) /* base-256 fields hold NUL bytes: copy all 12 */
		memcpy(blk + 124, h->size_field, (h->size_field[0] & 0x80) ? 12 : strnlen(h->size_field, 12));
	else
		snprintf(blk + 124, 12, "%011llo", h->size);
	memcpy(blk + 136, "14000000000", 11);
	blk[156] = h->type ? h->type : '0';
	if (h->link)
		memcpy(blk + 157, h->link, strnlen(h->link, 100));
	memcpy(blk + 257, h->magic ? h->magic : "ustar\0" "00", 8);
	memset(blk + 148, ' ', 8);
	for (size_t i = 0; i < 512; i++)
		sum += (unsigned char)blk[i];
	snprintf(blk + 148, 8, "%06o", sum + (h->bad_checksum ? 1 : 0));
	devsys_buf_put(b, blk, 512);
}

static void add_data(devsys_buf *b, const char *data, size_t len)
{
	static const char zeros[512];
	devsys_buf_put(b, data, len);
	devsys_buf_put(b, zeros, (512 - len % 512) % 512);
}

static void add_file(devsys_buf *b, const char *name, const char *content)
{
	hdr h = { .name = name, .size = strlen(content) };
	add_header(b, &h);
	add_data(b, content, strlen(content));
}

static void add_pax(devsys_buf *b, const char *records)
{
	hdr h = { .name = "././@PaxHeader", .type = 'x', .size = strlen(records) };
	add_header(b, &h);
	add_data(b, records, strlen(records));
}

static void add_end(devsys_buf *b)
{
	static const char zeros[1024];
	devsys_buf_put(b, zeros, sizeof(zeros));
}

/* Refused with @p code before any entry named @p must_not_see was handed out. */
static void assert_refused(devsys_buf *tar, int code, const char *msg_part)
{
	listing l = { 0 };
	int rc = read_tar(&l, tar->ptr, tar->size, 512, NULL);
	cr_assert_eq(rc, code, "rc %d (%s), listing:\n%s", rc, errmsg(), l.text.ptr ? l.text.ptr : "");
	cr_assert(strstr(errmsg(), msg_part), "'%s' in: %s", msg_part, errmsg());
	cr_assert(!l.text.ptr || !strstr(l.text.ptr, "evil"), "nothing hostile was handed out:\n%s", l.text.ptr);
	listing_dispose(&l);
}

/* ---- a real tree and GNU tar ---- */

static char *make_tree(const char *tag)
{
	char *dir = dt_tmpdir(tag);
	char long_dir[4096]; /* the temp root alone may pass 150 characters */
	cr_assert_not_null(dir);
	snprintf(long_dir, sizeof(long_dir), "%s/deep/%0120d", dir, 7);
	cr_assert_eq(dt_sh("set -e; umask 022; cd '%s'; mkdir -p sub/inner empty '%s'; printf 'alpha' > a.txt; "
	                   "printf 'beta' > sub/b.txt; : > sub/inner/zero; printf '#!/bin/sh\\n' > run.sh; chmod 755 run.sh; "
	                   "chmod 600 sub/b.txt; ln -s sub/b.txt link; ln -s ../a.txt sub/up; printf 'long' > '%s/f'",
	                   dir, long_dir, long_dir),
	             0);
	return dir;
}

static const char *tree_listing =
	"d deep 0755 0\n"
	"d deep/000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000007 0755 0\n"
	"f deep/000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000007/f 0644 4 = long\n"
	"d empty 0755 0\n"
	"f a.txt 0644 5 = alpha\n"
	"l link 0777 0 -> sub/b.txt\n"
	"f run.sh 0755 10 = #!/bin/sh\n\n"
	"d sub 0755 0\n"
	"d sub/inner 0755 0\n"
	"f sub/inner/zero 0644 0\n"
	"f sub/b.txt 0600 4 = beta\n"
	"l sub/up 0777 0 -> ../a.txt\n";

/* Sort the listing's lines so readdir order does not matter. */
static char *sorted(const char *text)
{
	char *copy = strdup(text), *save = NULL, *lines[256];
	int n = 0;
	devsys_buf out = DEVSYS_BUF_INIT;
	for (char *l = strtok_r(copy, "\n", &save); l && n < 256; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *t = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		devsys_buf_printf(&out, "%s\n", lines[i]);
	free(copy);
	return out.ptr ? out.ptr : strdup("");
}

Test(docker_tar, reads_gnu_tar_in_every_format_and_chunk_size)
{
	char *dir = make_tree("tar-gnu");
	const char *formats[] = { "gnu", "pax", "posix" };
	size_t chunks[] = { 1, 7, 511, 512, 513, 4096, 1 << 20 };
	char *want = sorted(tree_listing);
	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		size_t len = 0;
		char *tar;
		cr_assert_eq(dt_sh("cd '%s' && tar --format=%s --owner=0 --group=0 -cf ../%s.tar .", dir, formats[f],
		                   formats[f]),
		             0);
		char path[600];
		snprintf(path, sizeof(path), "%s/../%s.tar", dir, formats[f]);
		cr_assert_not_null(tar = dt_read_file(path, &len));
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			listing l = { 0 };
			cr_assert_eq(read_tar(&l, tar, len, chunks[c], NULL), 0, "%s/%zu: %s", formats[f], chunks[c], errmsg());
			char *got = sorted(l.text.ptr);
			cr_assert_str_eq(got, want, "format %s, chunk %zu", formats[f], chunks[c]);
			cr_assert_eq(l.entries, l.ends);
			free(got);
			listing_dispose(&l);
		}
		free(tar);
		unlink(path);
	}
	free(want);
	dt_rmrf(dir);
	free(dir);
}

Test(docker_tar, builder_positive_control)
{
	devsys_buf tar = DEVSYS_BUF_INIT;
	listing l = { 0 };
	hdr d = { .name = "dir/", .type = '5' }, s = { .name = "dir/ln", .type = '2', .link = "../f" },
	    h = { .name = "hard", .type = '1', .link = "./dir/f2" };
	add_file(&tar, "./f", "one");
	add_header(&tar, &d);
	add_file(&tar, "dir/f2", "two");
	add_header(&tar, &s);
	add_header(&tar, &h);
	add_pax(&tar, "27 path=pax/name/is/longer\n");
	add_file(&tar, "short", "three");
	add_end(&tar);
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 100, NULL), 0, "%s", errmsg());
	cr_assert_str_eq(l.text.ptr, "f f 0644 3 = one\nd dir 0644 0\nf dir/f2 0644 3 = two\nl dir/ln 0644 0 -> ../f\n"
	                             "h hard 0644 0 -> dir/f2\nf pax/name/is/longer 0644 5 = three\n");
	listing_dispose(&l);
	devsys_buf_dispose(&tar);
}

Test(docker_tar, refuses_dotdot_and_absolute_paths)
{
	const char *names[] = { "../evil", "a/../../evil", "./../evil", "/etc/evil", "a/./evil", "a//evil", "..",
		                "sub/.." };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		devsys_buf tar = DEVSYS_BUF_INIT;
		add_file(&tar, "fine", "ok");
		add_file(&tar, names[i], "evil");
		add_end(&tar);
		assert_refused(&tar, DEVSYS_EPATH, "refused");
		devsys_buf_dispose(&tar);
	}
	/* the same names through a pax path record and a GNU long name */
	devsys_buf tar = DEVSYS_BUF_INIT;
	add_pax(&tar, "19 path=../../evil\n");
	add_file(&tar, "innocent", "evil");
	add_end(&tar);
	assert_refused(&tar, DEVSYS_EPATH, "'..' component");
	devsys_buf_clear(&tar);
	hdr L = { .name = "././@LongLink", .type = 'L', .size = 12, .magic = "ustar  \0" };
	add_header(&tar, &L);
	add_data(&tar, "/abs/evil\0\0\0", 12);
	add_file(&tar, "innocent", "evil");
	add_end(&tar);
	assert_refused(&tar, DEVSYS_EPATH, "absolute path");
	devsys_buf_dispose(&tar);
}

Test(docker_tar, refuses_links_out_of_the_tree)
{
	struct {
		char type;
		const char *name, *link;
	} cases[] = {
		{ '2', "evil", "/etc/passwd" },   { '2', "evil", "../outside" },     { '2', "a/evil", "../../x" },
		{ '2', "evil", "d/../../x" },     { '2', "evil", "d/../x" },         { '2', "evil", "" },
		{ '1', "evil", "../x" },          { '1', "evil", "/etc/shadow" },    { '1', "evil", "." },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		devsys_buf tar = DEVSYS_BUF_INIT;
		hdr h = { .name = cases[i].name, .type = cases[i].type, .link = cases[i].link };
		add_header(&tar, &h);
		add_end(&tar);
		listing l = { 0 };
		int rc = read_tar(&l, tar.ptr, tar.size, 512, NULL);
		cr_assert_lt(rc, 0, "%c %s -> '%s' accepted", cases[i].type, cases[i].name, cases[i].link);
		cr_assert_eq(l.entries, 0, "no entry handed out");
		listing_dispose(&l);
		devsys_buf_dispose(&tar);
	}
	/* positive controls: links that stay inside */
	cr_assert(devsys__link_target_within("a/b/l", "../../x"));
	cr_assert(devsys__link_target_within("l", "./x/y"));
	cr_assert(devsys__link_target_within("a/l", "../a/../x") == false, "'..' after a name could pass through a link");
	cr_assert(devsys__link_target_within("a/l", "..") , "the root itself is inside");
}

Test(docker_tar, refuses_devices_fifos_and_unknown_types)
{
	const char types[] = { '3', '4', '6', 'S', 'V' };
	for (size_t i = 0; i < sizeof(types); i++) {
		devsys_buf tar = DEVSYS_BUF_INIT;
		hdr h = { .name = "node", .type = types[i] };
		add_header(&tar, &h);
		add_end(&tar);
		listing l = { 0 };
		int rc = read_tar(&l, tar.ptr, tar.size, 512, NULL);
		cr_assert(rc == DEVSYS_EINVALID || rc == DEVSYS_ENOTSUPPORTED, "type %c: rc %d", types[i], rc);
		cr_assert(strstr(errmsg(), "'node'") && strstr(errmsg(), "refused"), "%s", errmsg());
		cr_assert_eq(l.entries, 0);
		listing_dispose(&l);
		devsys_buf_dispose(&tar);
	}
}

Test(docker_tar, size_limits)
{
	devsys_buf tar = DEVSYS_BUF_INIT;
	devsys__tar_limits lim = { .max_entry_size = 10, .max_total_size = 15, .max_entries = 3 };
	listing l = { 0 };
	hdr huge = { .name = "evil", .size = 077777777777ull };
	/* a header claiming 8 GiB: refused at the header, no data needed */
	add_header(&tar, &huge);
	assert_refused(&tar, DEVSYS_ELIMIT, "over the 1073741824-byte limit per file");
	devsys_buf_clear(&tar);
	add_file(&tar, "a", "0123456789");
	add_file(&tar, "b", "01234");
	add_end(&tar);
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 512, &lim), 0, "exactly at the limits: %s", errmsg());
	listing_dispose(&l);
	memset(&l, 0, sizeof(l));
	devsys_buf_clear(&tar);
	add_file(&tar, "a", "0123456789");
	add_file(&tar, "evil", "012345");
	add_end(&tar);
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 512, &lim), DEVSYS_ELIMIT);
	cr_assert(strstr(errmsg(), "over its 15-byte limit"), "%s", errmsg());
	cr_assert_eq(l.entries, 1);
	listing_dispose(&l);
	memset(&l, 0, sizeof(l));
	devsys_buf_clear(&tar);
	add_file(&tar, "evil", "01234567890");
	add_end(&tar);
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 512, &lim), DEVSYS_ELIMIT);
	listing_dispose(&l);
	memset(&l, 0, sizeof(l));
	devsys_buf_clear(&tar);
	for (int i = 0; i < 4; i++)
		add_file(&tar, i == 3 ? "evil" : "x", "");
	add_end(&tar);
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 512, &lim), DEVSYS_ELIMIT);
	cr_assert(strstr(errmsg(), "more than 3 entries"), "%s", errmsg());
	listing_dispose(&l);
	/* a pax size record is the real size and meets the same limit */
	devsys_buf_clear(&tar);
	add_pax(&tar, "20 size=99999999999\n");
	add_file(&tar, "evil", "");
	add_end(&tar);
	assert_refused(&tar, DEVSYS_ELIMIT, "99999999999 bytes");
	/* base-256 sizes parse (and meet the limit) */
	devsys_buf_clear(&tar);
	hdr b256 = { .name = "evil", .size_field = "\x80\0\0\0\0\0\0\x01\0\0\0\0" };
	add_header(&tar, &b256);
	assert_refused(&tar, DEVSYS_ELIMIT, "4294967296 bytes");
	devsys_buf_dispose(&tar);
}

Test(docker_tar, bad_checksum_octal_and_magic)
{
	devsys_buf tar = DEVSYS_BUF_INIT;
	hdr bad_sum = { .name = "evil", .bad_checksum = 1 }, bad_oct = { .name = "evil", .size_field = "0000000009x" },
	    v7 = { .name = "evil", .magic = "\0\0\0\0\0\0\0\0" };
	add_header(&tar, &bad_sum);
	assert_refused(&tar, DEVSYS_EPARSE, "bad header checksum");
	devsys_buf_clear(&tar);
	add_header(&tar, &bad_oct);
	assert_refused(&tar, DEVSYS_EPARSE, "malformed numeric field");
	devsys_buf_clear(&tar);
	add_header(&tar, &v7);
	assert_refused(&tar, DEVSYS_EPARSE, "not a ustar");
	devsys_buf_clear(&tar);
	devsys_buf_put(&tar, "this is not a tar archive at all, just text\n", 44);
	while (tar.size < 1024)
		devsys_buf_put(&tar, "x", 1);
	assert_refused(&tar, DEVSYS_EPARSE, "checksum");
	devsys_buf_clear(&tar);
	add_pax(&tar, "99 path=x\n");
	add_file(&tar, "evil", "");
	assert_refused(&tar, DEVSYS_EPARSE, "malformed pax record");
	devsys_buf_clear(&tar);
	add_pax(&tar, "22 GNU.sparse.major=1\n" "22 GNU.sparse.minor=0\n");
	add_file(&tar, "evil", "");
	assert_refused(&tar, DEVSYS_ENOTSUPPORTED, "sparse");
	devsys_buf_dispose(&tar);
}

Test(docker_tar, truncated_archives)
{
	devsys_buf tar = DEVSYS_BUF_INIT;
	listing l = { 0 };
	char big[2000];
	memset(big, 'z', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	add_file(&tar, "a", big);
	add_file(&tar, "b", "bee");
	add_end(&tar);
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 333, NULL), 0, "the whole archive reads");
	listing_dispose(&l);
	size_t cuts[] = { 100, 512, 1000, 2560, 2600, 3072, 3584 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		memset(&l, 0, sizeof(l));
		cr_assert_eq(read_tar(&l, tar.ptr, cuts[i], 333, NULL), DEVSYS_EPARSE, "cut at %zu", cuts[i]);
		cr_assert(strstr(errmsg(), "truncated"), "cut at %zu: %s", cuts[i], errmsg());
		listing_dispose(&l);
	}
	devsys_buf_dispose(&tar);
}

static int abort_on_b(const devsys__tar_entry *e, void *payload)
{
	(*(int *)payload)++;
	return strcmp(e->path, "b") == 0;
}

Test(docker_tar, callback_abort_and_null_callbacks)
{
	devsys_buf tar = DEVSYS_BUF_INIT;
	devsys__tar_reader *r;
	devsys__tar_callbacks none = { NULL, NULL, NULL, NULL };
	int seen = 0;
	devsys__tar_callbacks stop = { abort_on_b, NULL, NULL, &seen };
	add_file(&tar, "a", "x");
	add_file(&tar, "b", "y");
	add_file(&tar, "c", "z");
	add_end(&tar);
	cr_assert_eq(devsys__tar_reader_new(&r, NULL, &none), 0);
	cr_assert_eq(devsys__tar_reader_feed(r, tar.ptr, tar.size), 0, "NULL callbacks are fine");
	cr_assert_eq(devsys__tar_reader_finish(r), 0);
	cr_assert_eq(devsys__tar_reader_entries(r), 3);
	cr_assert_eq(devsys__tar_reader_total(r), 3);
	devsys__tar_reader_free(r);
	cr_assert_eq(devsys__tar_reader_new(&r, NULL, &stop), 0);
	cr_assert_eq(devsys__tar_reader_feed(r, tar.ptr, tar.size), DEVSYS_EUSER);
	cr_assert_eq(seen, 2, "nothing after the abort");
	cr_assert_eq(devsys__tar_reader_finish(r), DEVSYS_EUSER, "sticky");
	devsys__tar_reader_free(r);
	devsys_buf_dispose(&tar);
}

/* ---- the writer ---- */

static int to_buf(const char *data, size_t len, void *payload)
{
	return devsys_buf_put(payload, data, len);
}

Test(docker_tar, writer_round_trips_through_the_reader_and_gnu_tar)
{
	char *dir = make_tree("tar-w");
	devsys_buf tar = DEVSYS_BUF_INIT;
	listing l = { 0 };
	char *want = sorted(tree_listing), *got, path[600], *out;
	int st;
	cr_assert_eq(devsys__tar_write_tree(dir, NULL, to_buf, &tar), 0, "%s", errmsg());
	cr_assert_eq(tar.size % 512, 0);
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 777, NULL), 0, "%s", errmsg());
	got = sorted(l.text.ptr);
	cr_assert_str_eq(got, want);
	free(got);
	listing_dispose(&l);
	/* GNU tar extracts it to the same tree */
	snprintf(path, sizeof(path), "%s.tar", dir);
	FILE *f = fopen(path, "wb");
	fwrite(tar.ptr, 1, tar.size, f);
	fclose(f);
	out = dt_sh_output(&st, "set -e; mkdir '%s.x'; tar -xf '%s' -C '%s.x' 2>&1; diff -r --no-dereference '%s' '%s.x' 2>&1; "
	                   "stat -c '%%a' '%s.x/run.sh' '%s.x/sub/b.txt'", dir, path, dir, dir, dir, dir, dir);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_str_eq(out, "755\n600\n");
	free(out);
	dt_sh("rm -rf '%s.x' '%s'", dir, path);
	free(want);
	devsys_buf_dispose(&tar);
	dt_rmrf(dir);
	free(dir);
}

Test(docker_tar, writer_never_follows_symlinks_out)
{
	char *dir = dt_tmpdir("tar-link"), *outside = dt_tmpdir("tar-outside");
	devsys_buf tar = DEVSYS_BUF_INIT;
	int st;
	char *out, path[600];
	cr_assert_eq(dt_sh("printf 'secret-outside' > '%s/secret' && ln -s '%s' '%s/to_dir' && ln -s '%s/secret' '%s/to_file'",
	                   outside, outside, dir, outside, dir), 0);
	cr_assert_eq(devsys__tar_write_tree(dir, NULL, to_buf, &tar), 0, "%s", errmsg());
	cr_assert_null(memmem(tar.ptr, tar.size, "secret-outside", 14), "the outside file's bytes are not in the archive");
	snprintf(path, sizeof(path), "%s.tar", dir);
	FILE *f = fopen(path, "wb");
	fwrite(tar.ptr, 1, tar.size, f);
	fclose(f);
	out = dt_sh_output(&st, "tar -tvf '%s' | awk '{print $1, $6, $7, $8}' | sort", path);
	cr_assert_eq(st, 0);
	char want[1400];
	snprintf(want, sizeof(want), "lrwxrwxrwx to_dir -> %s\nlrwxrwxrwx to_file -> %s/secret\n", outside, outside);
	cr_assert_str_eq(out, want, "stored as links, nothing below them");
	free(out);
	dt_sh("rm -f '%s'", path);
	devsys_buf_dispose(&tar);
	dt_rmrf(dir);
	dt_rmrf(outside);
	free(dir);
	free(outside);
}

Test(docker_tar, writer_refuses_fifos_and_small_reads_give_the_same_bytes)
{
	char *dir = make_tree("tar-fifo");
	devsys_buf whole = DEVSYS_BUF_INIT, bits = DEVSYS_BUF_INIT, tar = DEVSYS_BUF_INIT;
	devsys__tar_writer *w;
	char buf[600];
	long n;
	cr_assert_eq(devsys__tar_write_tree(dir, NULL, to_buf, &whole), 0);
	size_t caps[] = { 1, 3, 511, 513 };
	for (size_t c = 0; c < 4; c++) {
		devsys_buf_clear(&bits);
		cr_assert_eq(devsys__tar_writer_new(&w, dir, NULL), 0);
		while ((n = devsys__tar_writer_read(w, buf, caps[c])) > 0)
			devsys_buf_put(&bits, buf, (size_t)n);
		cr_assert_eq(n, 0);
		devsys__tar_writer_free(w);
		cr_assert_eq(bits.size, whole.size, "cap %zu", caps[c]);
		cr_assert_eq(memcmp(bits.ptr, whole.ptr, whole.size), 0, "cap %zu (same readdir order)", caps[c]);
	}
	cr_assert_eq(dt_sh("mkfifo '%s/sub/pipe'", dir), 0);
	cr_assert_eq(devsys__tar_write_tree(dir, NULL, to_buf, &tar), DEVSYS_EINVALID);
	cr_assert(strstr(errmsg(), "'sub/pipe' is a fifo"), "%s", errmsg());
	devsys_buf_dispose(&whole);
	devsys_buf_dispose(&bits);
	devsys_buf_dispose(&tar);
	dt_rmrf(dir);
	free(dir);
}

Test(docker_tar, writer_prefix_owner_and_limit)
{
	char *dir = dt_tmpdir("tar-prefix");
	devsys_buf tar = DEVSYS_BUF_INIT;
	listing l = { 0 };
	devsys__tar_writer_opts o = { .uid = 1000, .gid = 1001, .prefix = "work/", .max_total_size = 0 };
	cr_assert_eq(dt_sh("umask 022; printf 12345 > '%s/f'", dir), 0);
	cr_assert_eq(devsys__tar_write_tree(dir, &o, to_buf, &tar), 0, "%s", errmsg());
	cr_assert_eq(read_tar(&l, tar.ptr, tar.size, 512, NULL), 0, "%s", errmsg());
	cr_assert_str_eq(l.text.ptr, "d work 0700 0\nf work/f 0644 5 = 12345\n");
	cr_assert_eq(memcmp(tar.ptr + 108, "0001750", 7), 0, "uid 1000 in octal");
	cr_assert_eq(memcmp(tar.ptr + 116, "0001751", 7), 0, "gid 1001 in octal");
	listing_dispose(&l);
	devsys_buf_clear(&tar);
	o.max_total_size = 4;
	cr_assert_eq(devsys__tar_write_tree(dir, &o, to_buf, &tar), DEVSYS_ELIMIT);
	cr_assert(strstr(errmsg(), "'work/f'"), "%s", errmsg());
	o.max_total_size = 5;
	devsys_buf_clear(&tar);
	cr_assert_eq(devsys__tar_write_tree(dir, &o, to_buf, &tar), 0, "exactly at the limit");
	o.prefix = "../up";
	cr_assert_eq(devsys__tar_write_tree(dir, &o, to_buf, &tar), DEVSYS_EPATH);
	devsys_buf_dispose(&tar);
	dt_rmrf(dir);
	free(dir);
}

/* ---- extraction to disk ---- */

static int extract(const char *dir, unsigned int strip, const char *tar, size_t len, size_t chunk)
{
	devsys__tar_extract *x;
	int rc = devsys__tar_extract_new(&x, dir, strip, NULL);
	cr_assert_eq(rc, 0, "%s", errmsg());
	for (size_t off = 0; off < len && rc == 0; off += chunk)
		rc = devsys__tar_extract_feed(x, tar + off, len - off < chunk ? len - off : chunk);
	if (rc == 0)
		rc = devsys__tar_extract_finish(x);
	devsys__tar_extract_free(x);
	return rc;
}

Test(docker_tar, extract_gives_back_the_tree)
{
	char *dir = make_tree("tar-x"), *dest = dt_tmpdir("tar-x-dest"), *out;
	devsys_buf tar = DEVSYS_BUF_INIT;
	devsys__tar_writer_opts o = { .prefix = "work" };
	int st;
	cr_assert_eq(devsys__tar_write_tree(dir, &o, to_buf, &tar), 0, "%s", errmsg());
	cr_assert_eq(extract(dest, 1, tar.ptr, tar.size, 1000), 0, "%s", errmsg());
	out = dt_sh_output(&st, "diff -r --no-dereference '%s' '%s' 2>&1 && stat -c '%%a' '%s/run.sh' '%s/sub/b.txt' && "
	                   "readlink '%s/sub/up'", dir, dest, dest, dest, dest);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_str_eq(out, "755\n600\n../a.txt\n");
	free(out);
	/* hardlinks land as links to the same inode */
	devsys_buf_clear(&tar);
	hdr h = { .name = "top/h", .type = '1', .link = "top/a" };
	add_file(&tar, "top/a", "shared");
	add_header(&tar, &h);
	add_end(&tar);
	cr_assert_eq(extract(dest, 1, tar.ptr, tar.size, 512), 0, "%s", errmsg());
	out = dt_sh_output(&st, "stat -c %%i '%s/a' '%s/h' | uniq | wc -l; cat '%s/h'", dest, dest, dest);
	cr_assert_str_eq(out, "1\nshared", "one inode");
	free(out);
	devsys_buf_dispose(&tar);
	dt_rmrf(dir);
	dt_rmrf(dest);
	free(dir);
	free(dest);
}

Test(docker_tar, extract_never_writes_outside)
{
	char *dest = dt_tmpdir("tar-x-hostile"), *outside = dt_tmpdir("tar-x-outside"), *out;
	devsys_buf tar = DEVSYS_BUF_INIT;
	int st;
	/* a symlink already in the destination, pointing outside */
	cr_assert_eq(dt_sh("ln -s '%s' '%s/planted'", outside, dest), 0);
	add_file(&tar, "planted/evil", "through a planted link");
	add_end(&tar);
	cr_assert_eq(extract(dest, 0, tar.ptr, tar.size, 512), DEVSYS_EPATH);
	cr_assert(strstr(errmsg(), "planted"), "%s", errmsg());
	/* a link the archive itself made, then a path through it */
	devsys_buf_clear(&tar);
	hdr l = { .name = "self", .type = '2', .link = "." };
	add_header(&tar, &l);
	add_file(&tar, "self/evil", "through its own link");
	add_end(&tar);
	cr_assert_eq(extract(dest, 0, tar.ptr, tar.size, 512), DEVSYS_EPATH, "%s", errmsg());
	/* stripping a component turns "work/l -> ../x" (inside) into "l -> ../x" (outside) */
	devsys_buf_clear(&tar);
	hdr up = { .name = "work/up", .type = '2', .link = "../evil" };
	add_header(&tar, &up);
	add_end(&tar);
	cr_assert_eq(extract(dest, 1, tar.ptr, tar.size, 512), DEVSYS_EPATH);
	cr_assert(strstr(errmsg(), "leads out"), "%s", errmsg());
	/* the planted link as the entry's own name: replaced, never written through */
	devsys_buf_clear(&tar);
	add_file(&tar, "planted", "replaces the link");
	add_end(&tar);
	cr_assert_eq(extract(dest, 0, tar.ptr, tar.size, 512), 0, "%s", errmsg());
	out = dt_sh_output(&st, "cat '%s/planted'; test -L '%s/planted' && echo still-a-link; ls -A '%s' | wc -l", dest, dest,
	                   outside);
	cr_assert_str_eq(out, "replaces the link0\n", "nothing outside: %s", out);
	free(out);
	/* the reader's own refusals stop extraction too: nothing outside */
	devsys_buf_clear(&tar);
	add_file(&tar, "fine", "ok");
	add_file(&tar, "../evil", "up");
	add_end(&tar);
	cr_assert_eq(extract(dest, 0, tar.ptr, tar.size, 512), DEVSYS_EPATH);
	out = dt_sh_output(&st, "cat '%s/fine'; ls -A '%s' | wc -l; ls -A '%s/..' | grep -c '^evil$'", dest, outside, dest);
	cr_assert_str_eq(out, "ok0\n0\n", "%s", out);
	free(out);
	devsys_buf_dispose(&tar);
	dt_rmrf(dest);
	dt_rmrf(outside);
	free(dest);
	free(outside);
}
