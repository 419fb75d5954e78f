/*
 * The official JSON-Schema-Test-Suite (tests/fixtures/json-schema-test-suite)
 * for draft-07 and draft 2020-12: every required test must pass (no skips);
 * optional tests run too and may only fail when listed, with a reason, in
 * tests/schema/optional-skips.txt.
 */
#include "testutil.h"
#include "schema/doc.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUITE DEVSYS_SOURCE_DIR "/tests/fixtures/json-schema-test-suite"

typedef struct {
	devsys__arena arena;
	const devsys_node **docs;
	const char **uris;
	size_t n, a;
} remotes;

static void add_remote(remotes *r, const char *path, const char *uri)
{
	size_t len;
	char *data = dt_read_file(path, &len);
	cr_assert_not_null(data, "cannot read %s", path);
	devsys_node *doc;
	/* node->src points at the name: it must live as long as the nodes */
	const char *src = devsys__arena_strndup(&r->arena, path, strlen(path));
	int rc = devsys__json_parse(&doc, &r->arena, data, len, src, 256, 1000000);
	cr_assert_eq(rc, 0, "%s: %s", path, devsys_error_message(devsys_error_last()));
	free(data);
	if (r->n == r->a) {
		r->a = r->a ? r->a * 2 : 64;
		r->docs = realloc(r->docs, r->a * sizeof(*r->docs));
		r->uris = realloc(r->uris, r->a * sizeof(*r->uris));
	}
	r->docs[r->n] = doc;
	r->uris[r->n] = strdup(uri);
	r->n++;
}

/* remotes/ served at http://localhost:1234/ (the suite's convention), no network */
static void load_remotes(remotes *r, const char *dir, const char *rel)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "cannot open %s", path);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char sub[1024], full[2048];
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		snprintf(full, sizeof(full), "%s/%s", dir, sub);
		struct stat st;
		if (stat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			/* only the drafts under test: the others use dialects we do not implement */
			if (!*rel && (strncmp(e->d_name, "draft", 5) == 0 || strcmp(e->d_name, "v1") == 0) &&
			    strcmp(e->d_name, "draft7") != 0 && strcmp(e->d_name, "draft2020-12") != 0)
				continue;
			load_remotes(r, dir, sub);
		} else if (strstr(e->d_name, ".json")) {
			char uri[1200];
			snprintf(uri, sizeof(uri), "http://localhost:1234/%s", sub);
			add_remote(r, full, uri);
		}
	}
	closedir(d);
}

typedef struct {
	char **lines;
	size_t n;
	bool *used;
} skiplist;

static void load_skips(skiplist *s)
{
	char *data = dt_read_file(DEVSYS_SOURCE_DIR "/tests/schema/optional-skips.txt", NULL);
	cr_assert_not_null(data);
	memset(s, 0, sizeof(*s));
	for (char *save, *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		/* "<file>|<group>|<test or *>|<reason>": the reason is mandatory */
		int bars = 0;
		for (char *p = line; *p; p++)
			bars += *p == '|';
		cr_assert_geq(bars, 3, "optional-skips.txt: '%s' needs file|group|test|reason", line);
		char *last = strrchr(line, '|');
		cr_assert(strlen(last + 1) > 3, "optional-skips.txt: '%s' has no reason", line);
		s->lines = realloc(s->lines, (s->n + 1) * sizeof(char *));
		s->lines[s->n++] = strdup(line);
	}
	s->used = calloc(s->n + 1, 1);
	free(data);
}

static bool skipped(skiplist *s, const char *file, const char *group, const char *test)
{
	for (size_t i = 0; i < s->n; i++) {
		char key[2048];
		snprintf(key, sizeof(key), "%s|%s|%s|", file, group, test);
		char key2[2048];
		snprintf(key2, sizeof(key2), "%s|%s|*|", file, group);
		char key3[2048];
		snprintf(key3, sizeof(key3), "%s|*|*|", file);
		if (strncmp(s->lines[i], key, strlen(key)) == 0 || strncmp(s->lines[i], key2, strlen(key2)) == 0 ||
		    strncmp(s->lines[i], key3, strlen(key3)) == 0) {
			s->used[i] = true;
			return true;
		}
	}
	return false;
}

typedef struct {
	size_t pass, fail, skip;
} counts;

static void run_file(const char *draft_dir, const char *rel, const remotes *r, int draft, bool optional,
                     bool format_assert, skiplist *sk, counts *cnt)
{
	char path[1024], name[1024];
	snprintf(path, sizeof(path), "%s/%s", draft_dir, rel);
	snprintf(name, sizeof(name), "%s/%s", strrchr(draft_dir, '/') + 1, rel);
	size_t len;
	char *data = dt_read_file(path, &len);
	cr_assert_not_null(data, "cannot read %s", path);
	devsys__arena arena = { 0 };
	devsys_node *doc;
	cr_assert_eq(devsys__json_parse(&doc, &arena, data, len, name, 256, 10000000), 0, "%s: %s", name,
	             devsys_error_message(devsys_error_last()));
	for (size_t g = 0; g < devsys_node_size(doc); g++) {
		const devsys_node *grp = devsys_node_at(doc, g);
		const char *gdesc = devsys_node_string(devsys_node_member(grp, "description"), NULL);
		const devsys_node *tests = devsys_node_member(grp, "tests");
		devsys_schema_options o = DEVSYS_SCHEMA_OPTIONS_INIT;
		o.default_draft = draft;
		o.resources = r->docs;
		o.resource_uris = r->uris;
		o.resource_count = r->n;
		o.base_uri = "http://localhost:1234/__suite__/root.json";
		if (format_assert)
			o.flags |= DEVSYS_SCHEMA_FORMAT_ASSERT;
		devsys_schema *S = NULL;
		int crc = devsys_schema_compile(&S, devsys_node_member(grp, "schema"), &o);
		const char *cerr = crc ? devsys_error_message(devsys_error_last()) : NULL;
		char cerrbuf[600] = "";
		if (cerr)
			snprintf(cerrbuf, sizeof(cerrbuf), "%s", cerr);
		for (size_t t = 0; t < devsys_node_size(tests); t++) {
			const devsys_node *tc = devsys_node_at(tests, t);
			const char *tdesc = devsys_node_string(devsys_node_member(tc, "description"), NULL);
			bool want = devsys_node_bool(devsys_node_member(tc, "valid"));
			const devsys_node *inst = devsys_node_member(tc, "data");
			bool ok;
			char why[700] = "";
			if (crc) {
				ok = false;
				snprintf(why, sizeof(why), "compile failed: %s", cerrbuf);
			} else {
				int fast = devsys_schema_validate(NULL, S, inst);
				devsys_validation *v = NULL;
				int full = devsys_schema_validate(&v, S, inst);
				bool got = fast == 0;
				ok = got == want && (fast == 0) == (full == 0) && (fast == 0 || fast == DEVSYS_EINVALID) &&
				     (full == 0 || full == DEVSYS_EINVALID) && (v == NULL || (devsys_validation_count(v) == 0) == got);
				if (!ok)
					snprintf(why, sizeof(why), "expected %s, fast=%d full=%d errors=%zu (%s)",
					         want ? "valid" : "invalid", fast, full, devsys_validation_count(v),
					         devsys_validation_count(v) ? devsys_validation_error_message(devsys_validation_at(v, 0))
					                                    : devsys_error_message(devsys_error_last()));
				devsys_validation_free(v);
			}
			if (ok) {
				cnt->pass++;
			} else if (optional && skipped(sk, name, gdesc, tdesc)) {
				cnt->skip++;
			} else {
				cnt->fail++;
				fprintf(stderr, "FAIL %s | %s | %s: %s\n", name, gdesc, tdesc, why);
			}
		}
		devsys_schema_free(S);
	}
	devsys__arena_dispose(&arena);
	free(data);
}

static void run_dir(const char *draft_dir, const char *sub, const remotes *r, int draft, bool optional, bool fa,
                    skiplist *sk, counts *cnt)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s%s%s", draft_dir, *sub ? "/" : "", sub);
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	cr_assert_geq(n, 0, "cannot list %s", path);
	for (int i = 0; i < n; i++) {
		const char *f = names[i]->d_name;
		size_t l = strlen(f);
		if (l > 5 && strcmp(f + l - 5, ".json") == 0) {
			char rel[512];
			snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", f);
			run_file(draft_dir, rel, r, draft, optional, fa, sk, cnt);
		}
		free(names[i]);
	}
	free(names);
}

/*
 * The pinned suite's case counts, so a lost or unread file fails. Counted
 * from the data, not by this code: in tests/fixtures/json-schema-test-suite/tests,
 *   python3 -c "import json,glob; print(sum(len(g['tests']) for f in glob.glob(P)
 *               for g in json.load(open(f))))"
 * with P = 'draft7/STAR.json' gives 927 required cases (37 files), with
 * 'draft2020-12/STAR.json' 1299 (46 files), where STAR is '*'; the optional
 * ones, P = 'D/optional/STAR.json' plus 'D/optional/format/STAR.json', are
 * 794 (27 files) for draft7 and 926 (34 files) for draft2020-12. Update
 * these with the pin (SOURCE).
 */
static size_t expected_cases(const char *dname, bool optional)
{
	if (strcmp(dname, "draft7") == 0)
		return optional ? 794 : 927;
	return optional ? 926 : 1299;
}

static void run_draft(const char *dname, int draft)
{
	remotes r = { 0 };
	skiplist sk;
	counts req = { 0 }, opt = { 0 };
	char dir[512];
	load_remotes(&r, SUITE "/remotes", "");
	load_skips(&sk);
	snprintf(dir, sizeof(dir), SUITE "/tests/%s", dname);
	run_dir(dir, "", &r, draft, false, false, &sk, &req);
	run_dir(dir, "optional", &r, draft, true, false, &sk, &opt);
	run_dir(dir, "optional/format", &r, draft, true, true, &sk, &opt);
	size_t rt = req.pass + req.fail, ot = opt.pass + opt.fail + opt.skip;
	printf("%s: required %zu/%zu passed (%.2f%%), 0 skipped; optional %zu/%zu passed (%.2f%%), %zu listed as "
	       "skipped, %zu unlisted failures\n",
	       dname, req.pass, rt, rt ? 100.0 * (double)req.pass / (double)rt : 0, opt.pass, ot,
	       ot ? 100.0 * (double)opt.pass / (double)ot : 0, opt.skip, opt.fail);
	fflush(stdout);
	cr_expect_eq(rt, expected_cases(dname, false), "%s: %zu required cases run, the pinned suite has %zu", dname, rt,
	             expected_cases(dname, false));
	cr_expect_eq(ot, expected_cases(dname, true), "%s: %zu optional cases run, the pinned suite has %zu", dname, ot,
	             expected_cases(dname, true));
	cr_expect_eq(req.fail, 0, "%s: %zu required tests failed", dname, req.fail);
	cr_expect_eq(opt.fail, 0, "%s: %zu optional tests failed and are not listed in optional-skips.txt", dname,
	             opt.fail);
	for (size_t i = 0; i < sk.n; i++) {
		if (strncmp(sk.lines[i], dname, strlen(dname)) == 0 && sk.lines[i][strlen(dname)] == '/')
			cr_expect(sk.used[i], "optional-skips.txt entry no longer needed (the test passes): %s", sk.lines[i]);
	}
	for (size_t i = 0; i < sk.n; i++)
		free(sk.lines[i]);
	free(sk.lines);
	free(sk.used);
	for (size_t i = 0; i < r.n; i++)
		free((char *)r.uris[i]);
	free(r.uris);
	free(r.docs);
	devsys__arena_dispose(&r.arena);
}

Test(schema_suite, draft7, .timeout = 120)
{
	run_draft("draft7", DEVSYS_SCHEMA_DRAFT7);
}

Test(schema_suite, draft2020_12, .timeout = 120)
{
	run_draft("draft2020-12", DEVSYS_SCHEMA_DRAFT2020_12);
}
