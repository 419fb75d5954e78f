/*
 * The verify stage's hook for the spec-kit check. The speckit module needs
 * the pipeline (its run drives tasks through it), so the pipeline must not
 * call up into speckit (DESIGN §3): speckit registers its checker here from
 * its init hook instead, and the hook sees only lower-layer types.
 */
#ifndef DEVSYS_PIPELINE_VERIFY_HOOK_H
#define DEVSYS_PIPELINE_VERIFY_HOOK_H

#include "devsys/repo.h"
#include "devsys/spec.h"

#include <jansson.h>
#include <stddef.h>

/*
 * Opens the task's checkout, or gives the one already open: *repo is
 * borrowed from the run. 0, or a negative DEVSYS_E* with the thread's error
 * set.
 */
typedef int (*devsys__verify_open_repo_fn)(devsys_repo **repo, void *payload);

/*
 * Checks the feature the task links. @p link is the task spec's "speckit"
 * node (borrowed, never NULL). The checker adds its own keys to @p verdict
 * (task.json's "verification" object, borrowed) and calls @p open_repo only
 * when it reads the checkout. When the item fails it writes why into @p why
 * (@p whysz bytes); it leaves @p why empty when the item holds.
 */
typedef void (*devsys__pipeline_speckit_verifier_fn)(char *why, size_t whysz, json_t *verdict,
                                                      const devsys_node *link, devsys__verify_open_repo_fn open_repo,
                                                      void *payload);

/*
 * Registers the checker, process-wide (the speckit module's init hook, run by
 * devsys_init()); NULL unregisters it. Without one, verify records a linked
 * feature as not checked. The pointer is stored and read atomically; it only
 * ever names code of this library, so a stage that read it before a later
 * registration still calls valid code.
 */
void devsys__pipeline_set_speckit_verifier(devsys__pipeline_speckit_verifier_fn fn);

#endif
