/* Internal interface of the policy module for the rest of the library (the gate in lib/forge). */
#ifndef DEVSYS_POLICY_INT_H
#define DEVSYS_POLICY_INT_H

#include "devsys/policy.h"

/* Make @p d BLOCKED by a fact the pure decision cannot see (the gate's check
 * of the changed paths against the forge's list): reason @p code with
 * @p text (copied) goes right after the class reason. 0 or DEVSYS_ENOMEM
 * (then @p d is unchanged). */
int devsys__policy_decision_block(devsys_policy_decision *d, int code, const char *text);

#endif /* DEVSYS_POLICY_INT_H */
