#!/usr/bin/env python3
"""Generate a spec-kit feature folder for bench/speckit: N tasks, M
requirements (FR and SC ids), with planted findings of the rules the anchor
checks: duplicate and missing ids, tasks without paths, [P] tasks sharing a
path, uncited requirements, checkbox lines without ids, and fences and
comments holding task-like lines that must be skipped.
usage: gen.py TASKS REQUIREMENTS OUTDIR  (writes OUTDIR/001-bench/)"""
import os
import sys

ntasks, nreq, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
d = os.path.join(out, "001-bench")
os.makedirs(d, exist_ok=True)
stories = 8
nfr = nreq * 4 // 5
reqs = ["FR-%03d" % (i + 1) for i in range(nfr)] + ["SC-%03d" % (i + 1) for i in range(nreq - nfr)]

with open(os.path.join(d, "spec.md"), "w") as f:
    f.write("# Feature Specification: Bench\n\n## User Scenarios & Testing *(mandatory)*\n\n")
    for s in range(1, stories + 1):
        f.write("### User Story %d - Story %d (Priority: P%d)\n\n" % (s, s, s))
        f.write("1. **Given** a state, **When** action %d, **Then** outcome %d\n\n" % (s, s))
    f.write("<!--\n- **FR-999**: commented out, not a requirement\n-->\n\n")
    f.write("## Requirements *(mandatory)*\n\n")
    for i, r in enumerate(reqs):
        if r.startswith("SC-") and reqs[i - 1].startswith("FR-"):
            f.write("\n## Success Criteria *(mandatory)*\n\n")
        f.write("- **%s**: System MUST do thing %d\n" % (r, i))
        if i % 97 == 5:
            f.write("- **%s**: defined twice\n" % r)

with open(os.path.join(d, "plan.md"), "w") as f:
    f.write("# Implementation Plan: Bench\n\n## Technical Context\n\n")
    for k in ["Language/Version", "Primary Dependencies", "Storage", "Testing", "Target Platform",
              "Project Type", "Performance Goals", "Constraints", "Scale/Scope"]:
        f.write("**%s**: value\n" % k)
    f.write("\n## Constitution Check\n\n- PASS\n")

per_phase = max(1, ntasks // (stories + 3))
with open(os.path.join(d, "tasks.md"), "w") as f:
    f.write("# Tasks: Bench\n\n")
    t = 0
    phases = ["Setup", "Foundational"] + ["User Story %d - Story %d (Priority: P%d)" % (s, s, s)
                                          for s in range(1, stories + 1)] + ["Polish"]
    for pi, ph in enumerate(phases):
        f.write("## Phase %d: %s\n\n" % (pi + 1, ph))
        story = pi - 1 if 2 <= pi < 2 + stories else 0
        count = per_phase if pi < len(phases) - 1 else ntasks - t
        for k in range(count):
            t += 1
            tid = "T%03d" % t
            par = " [P]" if k % 3 else ""
            tag = " [US%d]" % story if story else ""
            cite = " (%s)" % reqs[(t * 7) % len(reqs)] if (t % 5) and story else ""
            if t % 50 == 0:
                path = ""
            elif t % 61 == 0 and par:
                path = " in `src/shared/common.c`"
            else:
                path = " in src/mod%d/file%d.c" % (pi, t)
            dep = ""
            if t % 13 == 0 and t > 3:
                dep = " (depends on T%03d, T%03d)" % (t - 2, t - 3)
            if t % 173 == 0:
                dep = " (depends on T9%04d)" % t
            f.write("- [%s] %s%s%s Implement part %d%s%s%s\n" % (" x"[t % 2], tid, par, tag, t, cite, path, dep))
            if t % 11 == 0:
                f.write("  - **Depends on T%03d**: ordering\n" % max(1, t - 5))
            if t % 401 == 0:
                f.write("- [ ] %s duplicated id in docs/dup%d.md\n" % (tid, t))
            if t % 307 == 0:
                f.write("- [ ] a checkbox without an id in notes.md\n")
        f.write("\n```text\n- [ ] T99999 inside a fence, not a task\n```\n\n---\n\n")
