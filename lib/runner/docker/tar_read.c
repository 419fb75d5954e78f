/*
 * Streaming tar reader (see docker_int.h): ustar, GNU long names/links and
 * pax path/linkpath/size records, fed in chunks of any size. A tar from a
 * container is untrusted input: every header is checked before anything is
 * handed to the caller, and an error stops the stream for good.
 */
#include "docker_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define BLOCK 512
#define MAX_PATH_LEN 4096
#define MAX_PAX (1u << 20)

enum { ST_HEADER, ST_DATA, ST_META, ST_PAD, ST_END };

struct devsys__tar_reader {
	devsys__tar_limits lim;
	devsys__tar_callbacks cb;
	int state, error;
	unsigned char block[BLOCK];
	size_t block_len;
	uint64_t remaining; /* data (ST_DATA) or metadata (ST_META) bytes still to come */
	size_t pad;         /* padding to the next block, skipped after data */
	int zero_blocks;
	char meta_kind;     /* 'L', 'K', 'x' or 'g' while collecting ST_META */
	devsys_buf meta;
	char *long_name, *long_link, *pax_path, *pax_link;
	bool pax_size_set;
	uint64_t pax_size;
	devsys__tar_entry e;
	char *path, *link;
	uint64_t entries, total, offset, header_at;
};

static int fail(devsys__tar_reader *r, int code, const char *fmt, ...) DEVSYS_PRINTF(3, 4);
static int fail(devsys__tar_reader *r, int code, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return r->error = devsys__error_set(code, "tar stream: header at byte %llu: %s",
	                                    (unsigned long long)r->header_at, msg);
}

int devsys__tar_reader_new(devsys__tar_reader **out, const devsys__tar_limits *limits,
                           const devsys__tar_callbacks *cbs)
{
	devsys__tar_reader *r;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (!(r = devsys__calloc(1, sizeof(*r))))
		return devsys__error_oom();
	if (limits)
		r->lim = *limits;
	if (!r->lim.max_entry_size)
		r->lim.max_entry_size = 1ull << 30;
	if (!r->lim.max_total_size)
		r->lim.max_total_size = 4ull << 30;
	if (!r->lim.max_entries)
		r->lim.max_entries = 1000000;
	if (cbs)
		r->cb = *cbs;
	*out = r;
	return 0;
}

static void clear_entry(devsys__tar_reader *r)
{
	devsys__free(r->path);
	devsys__free(r->link);
	r->path = r->link = NULL;
	memset(&r->e, 0, sizeof(r->e));
}

static void clear_meta(devsys__tar_reader *r)
{
	devsys__free(r->long_name);
	devsys__free(r->long_link);
	devsys__free(r->pax_path);
	devsys__free(r->pax_link);
	r->long_name = r->long_link = r->pax_path = r->pax_link = NULL;
	r->pax_size_set = false;
	r->pax_size = 0;
}

void devsys__tar_reader_free(devsys__tar_reader *r)
{
	if (!r)
		return;
	clear_entry(r);
	clear_meta(r);
	devsys_buf_dispose(&r->meta);
	devsys__free(r);
}

uint64_t devsys__tar_reader_entries(const devsys__tar_reader *r)
{
	return r ? r->entries : 0;
}

uint64_t devsys__tar_reader_total(const devsys__tar_reader *r)
{
	return r ? r->total : 0;
}

/* ---- field parsing ---- */

/* An octal (leading spaces, then digits, then NULs/spaces) or base-256 field. */
static bool parse_number(const unsigned char *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (n > 0 && (f[0] & 0x80)) {
		if (f[0] == 0xff)
			return false; /* negative */
		v = f[0] & 0x7f;
		for (i = 1; i < n; i++) {
			if (v > (UINT64_MAX >> 8))
				return false;
			v = (v << 8) | f[i];
		}
		*out = v;
		return true;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return false;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	*out = v;
	return true;
}

/* A NUL-terminated (or full-width) string field. */
static size_t field_len(const unsigned char *f, size_t n)
{
	const void *z = memchr(f, '\0', n);
	return z ? (size_t)((const unsigned char *)z - f) : n;
}

static bool checksum_ok(const unsigned char *b, uint64_t want)
{
	uint64_t usum = 0;
	int64_t ssum = 0;
	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
		usum += c;
		ssum += (signed char)c;
	}
	return usum == want || (uint64_t)ssum == want;
}

static bool all_zero(const unsigned char *b)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- path rules ---- */

/* Strip "./" prefixes and trailing slashes in place; refuse what may not be extracted. */
static int normalize_path(devsys__tar_reader *r, char *p, const char *what)
{
	size_t n;
	char *s = p;
	if (*p == '/')
		return fail(r, DEVSYS_EPATH, "%s '%.200s' is an absolute path: refused", what, p);
	while (s[0] == '.' && s[1] == '/') {
		s += 2;
		while (*s == '/')
			s++;
	}
	memmove(p, s, strlen(s) + 1);
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		p[--n] = '\0';
	if (n > MAX_PATH_LEN)
		return fail(r, DEVSYS_ELIMIT, "%s is %zu bytes long, over the %d-byte limit", what, n, MAX_PATH_LEN);
	if (n == 0 || strcmp(p, ".") == 0)
		return 1; /* the archive's root itself */
	for (const char *c = p; *c;) {
		size_t len = strcspn(c, "/");
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return fail(r, DEVSYS_EPATH, "%s '%.200s' has a '..' component: refused", what, p);
		c += len;
		if (*c)
			c++;
	}
	if (!devsys__relpath_is_safe(p))
		return fail(r, DEVSYS_EPATH, "%s '%.200s' has an empty or '.' component: refused", what, p);
	return 0;
}

/* ---- pax records: "LEN key=value\n" ---- */

static int pax_parse(devsys__tar_reader *r, const char *p, size_t n, bool global)
{
	while (n > 0) {
		size_t len = 0, i = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9' && len < MAX_PAX)
			len = len * 10 + (size_t)(p[i++] - '0');
		if (i == 0 || i >= n || p[i] != ' ' || len <= i + 1 || len > n || p[len - 1] != '\n')
			return fail(r, DEVSYS_EPARSE, "malformed pax record");
		const char *kv = p + i + 1, *eq = memchr(kv, '=', len - i - 2);
		if (!eq)
			return fail(r, DEVSYS_EPARSE, "pax record without '='");
		size_t klen = (size_t)(eq - kv), vlen = len - i - 2 - klen - 1;
		const char *v = eq + 1;
		if (klen >= 11 && strncmp(kv, "GNU.sparse.", 11) == 0)
			return fail(r, DEVSYS_ENOTSUPPORTED, "sparse files are not supported: refused");
		if (!global && ((klen == 4 && !memcmp(kv, "path", 4)) || (klen == 8 && !memcmp(kv, "linkpath", 8)))) {
			char **dst = klen == 4 ? &r->pax_path : &r->pax_link;
			if (memchr(v, '\0', vlen) || vlen == 0)
				return fail(r, DEVSYS_EPARSE, "pax %.*s is empty or holds a NUL byte", (int)klen, kv);
			devsys__free(*dst);
			if (!(*dst = devsys__strndup(v, vlen)))
				return r->error = devsys__error_oom();
		} else if (!global && klen == 4 && !memcmp(kv, "size", 4)) {
			uint64_t s = 0;
			if (vlen == 0 || vlen > 20)
				return fail(r, DEVSYS_EPARSE, "pax size is not a decimal number");
			for (size_t k = 0; k < vlen; k++) {
				if (v[k] < '0' || v[k] > '9' || s > (UINT64_MAX - 9) / 10)
					return fail(r, DEVSYS_EPARSE, "pax size is not a decimal number");
				s = s * 10 + (uint64_t)(v[k] - '0');
			}
			r->pax_size = s;
			r->pax_size_set = true;
		}
		p += len;
		n -= len;
	}
	return 0;
}

static int meta_done(devsys__tar_reader *r)
{
	const char *p = r->meta.ptr ? r->meta.ptr : "";
	size_t n = r->meta.size;
	if (r->meta_kind == 'x' || r->meta_kind == 'g')
		return pax_parse(r, p, n, r->meta_kind == 'g');
	n = strnlen(p, n); /* GNU long names are NUL-terminated */
	char **dst = r->meta_kind == 'L' ? &r->long_name : &r->long_link;
	if (n == 0)
		return fail(r, DEVSYS_EPARSE, "empty GNU long %s", r->meta_kind == 'L' ? "name" : "link");
	devsys__free(*dst);
	if (!(*dst = devsys__strndup(p, n)))
		return r->error = devsys__error_oom();
	return 0;
}

/* ---- headers ---- */

static int entry_type(devsys__tar_reader *r, char flag, const char *name)
{
	switch (flag) {
	case '0': case '\0': case '7':
		return DEVSYS__TAR_FILE;
	case '5':
		return DEVSYS__TAR_DIR;
	case '2':
		return DEVSYS__TAR_SYMLINK;
	case '1':
		return DEVSYS__TAR_HARDLINK;
	case '3': case '4':
		return fail(r, DEVSYS_EINVALID, "'%.200s' is a device node: refused", name);
	case '6':
		return fail(r, DEVSYS_EINVALID, "'%.200s' is a fifo: refused", name);
	default:
		if (flag > ' ' && flag < 127)
			return fail(r, DEVSYS_ENOTSUPPORTED, "'%.200s' has entry type '%c', which is not supported: refused", name, flag);
		return fail(r, DEVSYS_ENOTSUPPORTED, "'%.200s' has entry type 0x%02x, which is not supported: refused", name,
		            (unsigned char)flag);
	}
}

/* The entry's name and link from pax, GNU long records or the header fields. */
static int entry_names(devsys__tar_reader *r, const unsigned char *b, bool posix)
{
	char hdr_name[256 + 2], hdr_link[101];
	size_t nlen = field_len(b, 100), plen = posix ? field_len(b + 345, 155) : 0, llen = field_len(b + 157, 100);
	if (plen) {
		memcpy(hdr_name, b + 345, plen);
		hdr_name[plen] = '/';
		memcpy(hdr_name + plen + 1, b, nlen);
		hdr_name[plen + 1 + nlen] = '\0';
	} else {
		memcpy(hdr_name, b, nlen);
		hdr_name[nlen] = '\0';
	}
	memcpy(hdr_link, b + 157, llen);
	hdr_link[llen] = '\0';
	r->path = devsys__strdup(r->pax_path ? r->pax_path : r->long_name ? r->long_name : hdr_name);
	r->link = devsys__strdup(r->pax_link ? r->pax_link : r->long_link ? r->long_link : hdr_link);
	if (!r->path || !r->link)
		return r->error = devsys__error_oom();
	return 0;
}

static int check_link(devsys__tar_reader *r)
{
	if (r->e.type == DEVSYS__TAR_SYMLINK) {
		if (!r->link[0])
			return fail(r, DEVSYS_EPARSE, "symlink '%.200s' has an empty target", r->path);
		if (!devsys__link_target_within(r->path, r->link))
			return fail(r, DEVSYS_EPATH, "symlink '%.200s' -> '%.200s' points out of the tree: refused", r->path,
			            r->link);
		r->e.link = r->link;
	} else if (r->e.type == DEVSYS__TAR_HARDLINK) {
		int rc = normalize_path(r, r->link, "hardlink target");
		if (rc < 0)
			return rc;
		if (rc > 0)
			return fail(r, DEVSYS_EPATH, "hardlink '%.200s' points at the archive's root: refused", r->path);
		r->e.link = r->link;
	}
	return 0;
}

static int check_size(devsys__tar_reader *r, uint64_t size)
{
	if (r->e.type != DEVSYS__TAR_FILE && size != 0)
		return fail(r, DEVSYS_EPARSE, "'%.200s' is not a regular file but has %llu data bytes", r->path,
		            (unsigned long long)size);
	if (size > r->lim.max_entry_size)
		return fail(r, DEVSYS_ELIMIT, "'%.200s' is %llu bytes, over the %llu-byte limit per file: refused", r->path,
		            (unsigned long long)size, (unsigned long long)r->lim.max_entry_size);
	if (size > r->lim.max_total_size - r->total)
		return fail(r, DEVSYS_ELIMIT, "'%.200s' (%llu bytes) takes the archive over its %llu-byte limit: refused",
		            r->path, (unsigned long long)size, (unsigned long long)r->lim.max_total_size);
	if (r->entries >= r->lim.max_entries)
		return fail(r, DEVSYS_ELIMIT, "more than %llu entries: refused", (unsigned long long)r->lim.max_entries);
	return 0;
}

/*
 * A callback's non-zero return stops the stream: a negative DEVSYS_E* code
 * (an internal consumer such as the extractor) is kept with the message the
 * callback set; any other value is the caller's abort, DEVSYS_EUSER.
 */
static int cb_failed(devsys__tar_reader *r, int rc, const char *which)
{
	if (rc < 0)
		return r->error = rc;
	return r->error = devsys__error_set(DEVSYS_EUSER, "tar stream: the %s callback aborted at '%.200s'", which, r->path);
}

static int finish_entry(devsys__tar_reader *r)
{
	int rc = 0, cr;
	if (r->cb.end && (cr = r->cb.end(&r->e, r->cb.payload)) != 0)
		rc = cb_failed(r, cr, "end");
	clear_entry(r);
	r->state = r->pad ? ST_PAD : ST_HEADER;
	return rc;
}

static int start_entry(devsys__tar_reader *r, const unsigned char *b, bool posix)
{
	uint64_t size, mode, mtime, id;
	int type, rc;
	if ((rc = entry_names(r, b, posix)) < 0)
		return rc;
	if ((type = entry_type(r, (char)b[156], r->path)) < 0)
		return type;
	r->e.type = type;
	if (!parse_number(b + 100, 8, &mode) || !parse_number(b + 108, 8, &id) || !parse_number(b + 116, 8, &id) ||
	    !parse_number(b + 136, 12, &mtime) || !parse_number(b + 124, 12, &size))
		return fail(r, DEVSYS_EPARSE, "'%.200s' has a malformed numeric field", r->path);
	if (r->pax_size_set)
		size = r->pax_size;
	if ((rc = normalize_path(r, r->path, "path")) < 0)
		return rc;
	if (rc > 0 && type != DEVSYS__TAR_DIR)
		return fail(r, DEVSYS_EPATH, "a %s entry names the archive's root: refused",
		            type == DEVSYS__TAR_FILE ? "file" : "link");
	if ((rc == 0 && (rc = check_link(r)) < 0) || (rc = check_size(r, size)) < 0)
		return rc;
	clear_meta(r);
	r->e.path = r->path;
	r->e.mode = (unsigned int)(mode & 07777);
	r->e.size = size;
	r->e.mtime = mtime > INT64_MAX ? INT64_MAX : (int64_t)mtime;
	r->remaining = size;
	r->pad = (size_t)((BLOCK - size % BLOCK) % BLOCK);
	if (strcmp(r->path, ".") == 0 || !r->path[0]) { /* the root directory: nothing to hand out */
		clear_entry(r);
		r->state = ST_HEADER;
		return 0;
	}
	r->entries++;
	r->total += size;
	if (r->cb.entry && (rc = r->cb.entry(&r->e, r->cb.payload)) != 0)
		return cb_failed(r, rc, "entry");
	if (size > 0) {
		r->state = ST_DATA;
		return 0;
	}
	return finish_entry(r);
}

static int header(devsys__tar_reader *r)
{
	const unsigned char *b = r->block;
	uint64_t sum, size;
	char flag = (char)b[156];
	bool posix, gnu;
	if (all_zero(b)) {
		if (r->long_name || r->long_link || r->pax_path || r->pax_link || r->pax_size_set)
			return fail(r, DEVSYS_EPARSE, "an extended header is not followed by its entry");
		if (++r->zero_blocks == 2)
			r->state = ST_END;
		return 0;
	}
	if (r->zero_blocks)
		return fail(r, DEVSYS_EPARSE, "a header follows a zero block (a damaged or concatenated archive)");
	if (!parse_number(b + 148, 8, &sum) || field_len(b + 148, 8) == 0 || !checksum_ok(b, sum))
		return fail(r, DEVSYS_EPARSE, "bad header checksum (not a tar stream, or a damaged one)");
	posix = memcmp(b + 257, "ustar\0" "00", 8) == 0;
	gnu = memcmp(b + 257, "ustar  \0", 8) == 0;
	if (!posix && !gnu)
		return fail(r, DEVSYS_EPARSE, "not a ustar, pax or GNU header (old v7 archives are not read)");
	if (flag != 'L' && flag != 'K' && flag != 'x' && flag != 'g')
		return start_entry(r, b, posix);
	if (!parse_number(b + 124, 12, &size))
		return fail(r, DEVSYS_EPARSE, "extended header with a malformed size");
	if (size > ((flag == 'L' || flag == 'K') ? MAX_PATH_LEN + 1 : MAX_PAX))
		return fail(r, DEVSYS_ELIMIT, "extended header '%c' is %llu bytes, over its limit", flag,
		            (unsigned long long)size);
	r->meta_kind = flag;
	devsys_buf_clear(&r->meta);
	r->remaining = size;
	r->pad = (size_t)((BLOCK - size % BLOCK) % BLOCK);
	r->state = ST_META;
	if (size == 0) {
		int rc = meta_done(r);
		r->state = ST_HEADER;
		return rc;
	}
	return 0;
}

/* ---- the feed loop ---- */

static int step_data(devsys__tar_reader *r, const char *p, size_t take)
{
	int rc;
	r->remaining -= take;
	if (r->cb.data && (rc = r->cb.data(&r->e, p, take, r->cb.payload)) != 0)
		return cb_failed(r, rc, "data");
	return r->remaining ? 0 : finish_entry(r);
}

static int step_meta(devsys__tar_reader *r, const char *p, size_t take)
{
	int rc;
	r->remaining -= take;
	if (devsys_buf_put(&r->meta, p, take) < 0)
		return r->error = devsys__error_oom();
	if (r->remaining)
		return 0;
	rc = meta_done(r);
	r->state = r->pad ? ST_PAD : ST_HEADER;
	return rc;
}

int devsys__tar_reader_feed(devsys__tar_reader *r, const void *data, size_t len)
{
	const char *p = data;
	DEVSYS__CHECK_ARG(r);
	if (r->error)
		return r->error;
	while (len > 0) {
		size_t take;
		int rc = 0;
		switch (r->state) {
		case ST_END:
			r->offset += len; /* trailing padding to the record size */
			return 0;
		case ST_HEADER:
			take = BLOCK - r->block_len < len ? BLOCK - r->block_len : len;
			if (r->block_len == 0)
				r->header_at = r->offset;
			memcpy(r->block + r->block_len, p, take);
			r->block_len += take;
			if (r->block_len == BLOCK) {
				r->block_len = 0;
				rc = header(r);
			}
			break;
		case ST_PAD:
			take = r->pad < len ? r->pad : len;
			r->pad -= take;
			if (!r->pad)
				r->state = ST_HEADER;
			break;
		default:
			take = r->remaining < len ? (size_t)r->remaining : len;
			rc = r->state == ST_DATA ? step_data(r, p, take) : step_meta(r, p, take);
			break;
		}
		if (rc < 0)
			return rc;
		r->offset += take;
		p += take;
		len -= take;
	}
	return 0;
}

int devsys__tar_reader_finish(devsys__tar_reader *r)
{
	DEVSYS__CHECK_ARG(r);
	if (r->error)
		return r->error;
	if (r->state == ST_END)
		return 0;
	if (r->state == ST_DATA)
		return r->error = devsys__error_set(DEVSYS_EPARSE,
		                                    "tar stream: truncated: '%.200s' ended %llu bytes short of its size",
		                                    r->path, (unsigned long long)r->remaining);
	if (r->state != ST_HEADER || r->block_len)
		return r->error = devsys__error_set(DEVSYS_EPARSE, "tar stream: truncated at byte %llu (inside a header "
		                                    "or its padding)", (unsigned long long)r->offset);
	return r->error = devsys__error_set(DEVSYS_EPARSE,
	                                    "tar stream: truncated: no end-of-archive marker after %llu entries",
	                                    (unsigned long long)r->entries);
}
