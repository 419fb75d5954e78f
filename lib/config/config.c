/*
 * devsys.yaml: the document walk shared by every section. The file is read
 * with libyaml's document API; each top-level key is handed to the section
 * that owns it (internal.h), an unknown or repeated section is an error with
 * file:line:col, and DEVSYS_<SECTION>_* environment variables are applied
 * after the file, before each section's cross-key checks.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define CONFIG_MAX (1u << 20)

/* Every section, in the order their overrides and checks run. */
static const struct devsys__config_section *const sections[] = {
	&devsys__config_runners,
	&devsys__config_policy,
	&devsys__config_forges,
	&devsys__config_agents,
	&devsys__config_store,
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

const char *devsys__cfg_at(struct devsys__cfg_ctx *x, yaml_node_t *n)
{
	snprintf(x->where, sizeof(x->where), "%.500s:%zu:%zu", x->name, n->start_mark.line + 1, n->start_mark.column + 1);
	return x->where;
}

const char *devsys__cfg_scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

yaml_node_t *devsys__cfg_node(struct devsys__cfg_ctx *x, int id)
{
	return yaml_document_get_node(x->doc, id);
}

void devsys__cfg_env_form(char *out, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++)
		out[i] = (s[i] == '-' || s[i] == '.') ? '_' : (char)toupper((unsigned char)s[i]);
	out[i] = '\0';
}

static int parse_bool(const char *v, uint64_t *num, const char **why)
{
	/* One rule for every devsys YAML file and override (docs/specs.md):
	 * booleans are true or false; YAML 1.1 spellings (yes, on, ...) mean
	 * a boolean to some readers and a string to others, so they are refused. */
	if (!strcmp(v, "true"))
		*num = 1;
	else if (!strcmp(v, "false"))
		*num = 0;
	else
		*why = devsys__yaml11_bool(v) ? "a YAML 1.1 boolean is ambiguous; write true or false"
		                              : "expected true or false";
	return *why ? -1 : 0;
}

/* A duration (a bare number is seconds) in ms, or whole seconds for K_SEC. */
static int parse_duration(enum devsys__cfg_kind kind, unsigned long long x, const char *end, uint64_t *num,
                          const char **why)
{
	uint64_t ms;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		ms = 1000;
	else if (!strcmp(end, "ms"))
		ms = 1;
	else if (!strcmp(end, "m"))
		ms = 60000;
	else if (!strcmp(end, "h"))
		ms = 3600000;
	else {
		*why = "unknown duration unit (use ms, s, m or h)";
		return -1;
	}
	if (x > UINT32_MAX) {
		*why = "duration too large";
		return -1;
	}
	uint64_t total = x * ms;
	if (kind == DEVSYS__K_SEC) {
		if (total % 1000) {
			*why = "this duration is counted in whole seconds";
			return -1;
		}
		total /= 1000;
	}
	if (total > UINT32_MAX) {
		*why = "duration too large";
		return -1;
	}
	*num = total;
	return 0;
}

int devsys__cfg_parse_value(enum devsys__cfg_kind kind, const char *v, uint64_t *num, const char **why)
{
	char *end;
	unsigned long long x;
	while (isspace((unsigned char)*v))
		v++;
	if (kind == DEVSYS__K_BOOL)
		return parse_bool(v, num, why);
	if (kind == DEVSYS__K_RISK) {
		int r = DEVSYS_RISK_UNSET;
		for (int i = DEVSYS_RISK_LOW; i <= DEVSYS_RISK_CRITICAL; i++)
			if (strcmp(v, devsys_risk_name(i)) == 0)
				r = i;
		if (r == DEVSYS_RISK_UNSET)
			*why = "expected a risk class: low, medium, high or critical";
		*num = (uint64_t)r;
		return *why ? -1 : 0;
	}
	if (!isdigit((unsigned char)*v)) {
		*why = kind == DEVSYS__K_MS || kind == DEVSYS__K_SEC ? "expected a duration such as 10s, 500ms or 2m"
		       : kind == DEVSYS__K_SIZE                    ? "expected a size such as 1048576, 512K, 64M or 2G"
		                                                   : "expected a non-negative integer";
		return -1;
	}
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno == ERANGE) {
		*why = "number out of range";
		return -1;
	}
	if (kind == DEVSYS__K_MS || kind == DEVSYS__K_SEC)
		return parse_duration(kind, x, end, num, why);
	uint64_t mul = 1;
	if (kind == DEVSYS__K_SIZE) {
		if (*end == 'K' || *end == 'k')
			mul = 1024, end++;
		else if (*end == 'M')
			mul = 1024 * 1024, end++;
		else if (*end == 'G')
			mul = 1024ull * 1024 * 1024, end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B' && mul > 1)
			end++;
	}
	if (*end) {
		*why = "trailing characters after the number";
		return -1;
	}
	if (mul > 1 && x > UINT64_MAX / mul) {
		*why = "size too large";
		return -1;
	}
	x *= mul;
	if (kind == DEVSYS__K_PORT && (x == 0 || x > 65535)) {
		*why = "a port is 1-65535";
		return -1;
	}
	if (kind == DEVSYS__K_UINT && x > UINT32_MAX) {
		*why = "number too large";
		return -1;
	}
	*num = x;
	return 0;
}

void devsys_config_free(devsys_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < NSECTIONS; i++)
		sections[i]->dispose(c);
	devsys__free(c);
}

/* ---- YAML ---- */

static const struct devsys__config_section *find_section(const char *name)
{
	for (size_t i = 0; i < NSECTIONS; i++)
		if (strcmp(sections[i]->name, name) == 0)
			return sections[i];
	return NULL;
}

static int unknown_section(struct devsys__cfg_ctx *x, yaml_node_t *kn, const char *k)
{
	devsys_buf names = DEVSYS_BUF_INIT;
	for (size_t i = 0; i < NSECTIONS; i++)
		devsys_buf_printf(&names, "%s%s", i ? ", " : "", sections[i]->name);
	int rc = devsys__error_set(DEVSYS_EINVALID, "%s: %.100s: unknown section (known: %s)", devsys__cfg_at(x, kn),
	                           k ? k : "?", names.ptr ? names.ptr : "none");
	devsys_buf_dispose(&names);
	return rc;
}

static bool empty_scalar(yaml_node_t *vn)
{
	const char *v = devsys__cfg_scalar(vn);
	return v && (!*v || !strcmp(v, "~") || !strcmp(v, "null"));
}

static int load_sections(devsys_config *c, struct devsys__cfg_ctx *x, yaml_node_t *root)
{
	bool seen[NSECTIONS] = { false };
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = devsys__cfg_node(x, pr->key), *vn = devsys__cfg_node(x, pr->value);
		const char *k = devsys__cfg_scalar(kn);
		const struct devsys__config_section *s = k ? find_section(k) : NULL;
		int rc;
		if (!s)
			return unknown_section(x, kn, k);
		size_t si = 0;
		while (sections[si] != s)
			si++;
		if (seen[si])
			return devsys__error_set(DEVSYS_EINVALID, "%s: %s: section given twice", devsys__cfg_at(x, kn), k);
		seen[si] = true;
		if (!vn || empty_scalar(vn))
			continue; /* "runners:" with nothing under it */
		if ((rc = s->parse(c, x, kn, vn)) < 0)
			return rc;
	}
	return 0;
}

static int load_yaml(devsys_config *c, const char *text, size_t len, const char *name)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct devsys__cfg_ctx x;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return devsys__error_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = devsys__error_set(DEVSYS_EPARSE, "%s:%zu:%zu: YAML error: %s", name, parser.problem_mark.line + 1,
		                       parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		return rc;
	}
	x.name = name;
	x.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		; /* empty file */
	else if (root->type != YAML_MAPPING_NODE)
		rc = devsys__error_set(DEVSYS_EINVALID, "%s: the top level must be a mapping (runners: ...)",
		                       devsys__cfg_at(&x, root));
	else
		rc = load_sections(c, &x, root);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- environment overrides: DEVSYS_<SECTION>_... goes to its section ---- */

static int apply_env(devsys_config *c)
{
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || strncmp(*e, "DEVSYS_", 7) != 0)
			continue;
		for (size_t i = 0; i < NSECTIONS; i++) {
			const char *pre = sections[i]->env_prefix;
			size_t pl = pre ? strlen(pre) : 0;
			char var[256];
			size_t vlen = (size_t)(eq - *e);
			if (!pre || vlen <= pl || vlen >= sizeof(var) || strncmp(*e, pre, pl) != 0)
				continue;
			memcpy(var, *e + pl, vlen - pl);
			var[vlen - pl] = '\0';
			int rc = sections[i]->env(c, var, eq + 1);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int finish(devsys_config *c, const char *name)
{
	for (size_t i = 0; i < NSECTIONS; i++) {
		int rc = sections[i]->finish ? sections[i]->finish(c, name) : 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

int devsys_config_parse(devsys_config **out, const char *text, size_t len, const char *name)
{
	devsys_config *c;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (len && !text)
		return devsys__error_set(DEVSYS_EINVAL, "devsys_config_parse: text is NULL");
	if (len > CONFIG_MAX)
		return devsys__error_set(DEVSYS_ELIMIT, "%s: configuration larger than 1 MiB", name ? name : "config");
	if (!(c = devsys__calloc(1, sizeof(*c))))
		return devsys__error_oom();
	if ((rc = load_yaml(c, text ? text : "", len, name ? name : "config")) < 0 || (rc = apply_env(c)) < 0 ||
	    (rc = finish(c, name ? name : "config")) < 0) {
		devsys_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int devsys_config_load(devsys_config **out, const char *path)
{
	devsys_buf data = DEVSYS_BUF_INIT;
	const char *p = path;
	bool explicit_path = path != NULL;
	int rc;
	DEVSYS__CHECK_ARG(out);
	*out = NULL;
	if (!p) {
		const char *env = getenv("DEVSYS_CONFIG");
		if (env && *env) {
			p = env;
			explicit_path = true;
		} else {
			p = "devsys.yaml";
		}
	}
	rc = devsys__read_file(&data, p, CONFIG_MAX);
	if (rc == DEVSYS_ENOTFOUND && !explicit_path)
		return devsys_config_parse(out, "", 0, p);
	if (rc < 0) {
		if (rc == DEVSYS_ENOTFOUND)
			devsys__error_set(rc, "configuration file '%s' does not exist", p);
		return rc;
	}
	rc = devsys_config_parse(out, data.ptr ? data.ptr : "", data.size, p);
	devsys_buf_dispose(&data);
	return rc;
}
