#!/usr/bin/python3
"""docs/ci/github-workflow.yml must stay what docs/forge.md promises: a job run on
pull requests whose check run is named after a context the gate requires by default."""
import re
import sys

import yaml

workflow, gate_doc = sys.argv[1], sys.argv[2]
with open(workflow, encoding="utf-8") as f:
    wf = yaml.safe_load(f)
# PyYAML reads the key `on` as the boolean True (YAML 1.1)
triggers = wf.get("on", wf.get(True))
if not isinstance(triggers, dict) or "pull_request" not in triggers:
    sys.exit(f"{workflow}: the workflow does not run on pull_request")
names = [job.get("name") for job in wf["jobs"].values()]
with open(gate_doc, encoding="utf-8") as f:
    doc = f.read()
if "devsys/tests" not in doc:
    sys.exit(f"{gate_doc}: no longer names devsys/tests as a required context")
if "devsys/tests" not in names:
    sys.exit(f"{workflow}: no job is named devsys/tests (job names: {names})")
for job in wf["jobs"].values():
    for step in job.get("steps", []):
        ref = (step.get("with") or {}).get("ref", "")
        if step.get("uses", "").startswith("actions/checkout") and not re.search(r"head\.sha", str(ref)):
            sys.exit(f"{workflow}: the checkout does not test the pull request's head SHA")
print(f"{workflow}: job devsys/tests runs on pull_request at the head SHA")
