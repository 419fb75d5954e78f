/*
 * devsys.yaml internals shared by the section parsers of the config module.
 *
 * Each top-level section (runners:, policy:, ...) lives in its own file with
 * one devsys__config_section table; config.c walks the document, hands each
 * section its node, routes DEVSYS_<SECTION>_* environment overrides to it,
 * and refuses unknown sections. Adding a section is a new file, one line in
 * the table of config.c and one member of struct devsys_config below.
 */
#ifndef DEVSYS_CONFIG_INTERNAL_H
#define DEVSYS_CONFIG_INTERNAL_H

#include "../core/core.h"
#include "devsys/config.h"

#include <yaml.h>

/* Kinds of scalar values shared by every section. */
enum devsys__cfg_kind { DEVSYS__K_STR, DEVSYS__K_UINT, DEVSYS__K_PORT, DEVSYS__K_MS, DEVSYS__K_SEC, DEVSYS__K_SIZE,
	                DEVSYS__K_BOOL, DEVSYS__K_RISK };

/* The document being read, for positions in messages. */
struct devsys__cfg_ctx {
	const char *name; /* file name used in messages */
	yaml_document_t *doc;
	char where[600];
};

struct devsys__cfg_runners;
struct devsys__cfg_policy;
struct devsys__cfg_forges;
struct devsys__cfg_agents;
struct devsys__cfg_store;

struct devsys_config {
	struct devsys__cfg_runners *runners; /* runners.c */
	struct devsys__cfg_policy *policy;   /* policy.c */
	struct devsys__cfg_forges *forges;   /* forges.c */
	struct devsys__cfg_agents *agents;   /* agents.c */
	struct devsys__cfg_store *store;     /* store.c */
};

struct devsys__config_section {
	const char *name;       /* top-level key */
	const char *env_prefix; /* e.g. "DEVSYS_RUNNER_"; NULL: no overrides */
	/* Read the section's value node (never NULL, never an empty scalar). */
	int (*parse)(devsys_config *c, struct devsys__cfg_ctx *x, yaml_node_t *key, yaml_node_t *value);
	/* One override: @p var is the variable's name after env_prefix. */
	int (*env)(devsys_config *c, const char *var, const char *value);
	/* Checks across keys once file and environment are read (may be NULL). */
	int (*finish)(devsys_config *c, const char *name);
	void (*dispose)(devsys_config *c);
};

extern const struct devsys__config_section devsys__config_runners;
extern const struct devsys__config_section devsys__config_policy;
extern const struct devsys__config_section devsys__config_forges;
extern const struct devsys__config_section devsys__config_agents;
extern const struct devsys__config_section devsys__config_store;

/* "file:line:col" of @p n, in x->where (valid until the next call). */
const char *devsys__cfg_at(struct devsys__cfg_ctx *x, yaml_node_t *n);
/* The node's text if it is a scalar, else NULL. */
const char *devsys__cfg_scalar(yaml_node_t *n);
/* A node of @p x's document by id. */
yaml_node_t *devsys__cfg_node(struct devsys__cfg_ctx *x, int id);
/* Parse @p v as @p kind into *num; on failure *why says why. */
int devsys__cfg_parse_value(enum devsys__cfg_kind kind, const char *v, uint64_t *num, const char **why);
/* The environment form of a name: upper case, '-' and '.' as '_'. */
void devsys__cfg_env_form(char *out, size_t cap, const char *s);

#endif /* DEVSYS_CONFIG_INTERNAL_H */
