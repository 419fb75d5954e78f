/*
 * Task-spec internals shared by the files of lib/spec.
 */
#ifndef DEVSYS_SPEC_INT_H
#define DEVSYS_SPEC_INT_H

#include "schema/doc.h"

typedef struct devsys__spec_docs {
	devsys_node **docs;
	size_t n, a;
} devsys__spec_docs;

int devsys__spec_docs_add(devsys__spec_docs *d, devsys_node *root);

/* Parse a YAML stream (one or more documents) into @p docs. */
int devsys__yaml_parse(devsys__spec_docs *docs, devsys__arena *arena, const char *data, size_t len, const char *src,
                       size_t max_depth, size_t max_nodes);

int devsys__spec_global_init(void);
void devsys__spec_global_shutdown(void);

#endif /* DEVSYS_SPEC_INT_H */
