/*
 * Policy internals shared by policy.c (classes) and decide.c (the gate).
 */
#ifndef DEVSYS_POLICY_INTERNAL_H
#define DEVSYS_POLICY_INTERNAL_H

#include "glob.h"
#include "devsys/policy.h"

struct policy_glob {
	struct devsys__glob g;
	char *text;
	char *source;
	int risk;
};

struct devsys_policy {
	devsys_policy_options opts; /* strings below are owned copies */
	char **contexts;
	size_t ncontexts;
	char **branches;
	size_t nbranches;
	struct policy_glob *globs;
	size_t nglobs;
};

bool devsys__policy_risk_ok(int risk);

#endif /* DEVSYS_POLICY_INTERNAL_H */
