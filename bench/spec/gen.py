#!/usr/bin/python3
"""Generate N realistic task specs as one JSON-lines file and one multi-document
YAML file (the same specs in both). Every 10th spec is made invalid in one of
the ways real specs go wrong (see BREAKS), so validators must reject 10 %.
Writes OUTDIR/expected_valid. Usage: gen.py N OUTDIR"""
import json, random, sys, yaml

WORDS = ("blog post page index render markdown feed comment user login session cache api endpoint "
         "health check metrics build deploy docker compose test suite junit report parser config "
         "schema database migration table column query search sort filter paginate").split()

def sentence(r, n):
    return " ".join(r.choice(WORDS) for _ in range(n)).capitalize() + "."

def spec(i, r):
    tid = "task-%05d-%s" % (i, r.choice(WORDS))
    s = {
        "version": 1,
        "id": tid,
        "title": sentence(r, r.randint(4, 9))[:-1],
        "description": " ".join(sentence(r, r.randint(6, 14)) for _ in range(r.randint(1, 4))),
        "prompt": "\n".join(sentence(r, r.randint(8, 16)) for _ in range(r.randint(2, 6))),
        "repo": {
            "url": r.choice(["https://github.com/example/%s.git", "ssh://git@git.example.com/team/%s.git",
                             "git@github.com:example/%s.git"]) % r.choice(WORDS),
            "base_branch": r.choice(["main", "develop", "release/1.2"]),
            "branch_template": r.choice(["task/{id}", "devsys/{id}"]),
            "pr": {"draft": r.random() < 0.8, "labels": r.sample(["devsys", "bot", "blog", "api", "tests"], r.randint(1, 3)),
                   "reviewers": r.sample(["octocat", "alice", "bob", "org/reviewers"], r.randint(0, 2))},
        },
        "runner": r.choice(["inproc", "host-docker", "dind", "remote-ssh"]),
        "agent": {
            "command": ["opencode", "run", "--model", r.choice(["default", "large"]), sentence(r, 6)],
            "env": {"OPENCODE_LOG": r.choice(["info", "debug"]), "TASK_ID": tid, "LANG": "C.UTF-8"},
            "timeout": r.choice(["30m", "45m", "2h", 3600]),
        },
        "tests": {
            "command": r.choice([["make", "test"], ["pytest", "-q", "--junitxml=reports/junit.xml"],
                                 ["ctest", "--output-junit", "reports/ctest.xml"]]),
            "junit": ["reports/*.xml"],
            "timeout": r.choice(["10m", 900, "1h"]),
        },
        "policy": {"risk": r.choice(["low", "medium", "high"])},
        "secrets": [{"name": "GITHUB_TOKEN", "provider": "env", "key": "DEVSYS_GITHUB_TOKEN"}],
    }
    if r.random() < 0.5:
        s["deploy"] = {
            "runner": "remote-ssh",
            "compose": "deploy/compose.yaml",
            "timeout": "5m",
            "acceptance": [{"name": "home %d" % k, "http": {"url": "http://127.0.0.1:%d/" % (8000 + k), "status": 200,
                                                             "contains": r.choice(WORDS), "retries": 5}}
                           for k in range(r.randint(1, 3))] + [{"name": "smoke", "command": ["sh", "tests/smoke.sh"]}],
        }
    if r.random() < 0.3:
        s["speckit"] = {"feature_dir": "specs/%03d-%s" % (r.randint(1, 40), r.choice(WORDS)),
                        "task_ids": ["T%03d" % k for k in range(r.randint(1, 5), r.randint(6, 12))]}
    return s

def wrong_type(s):
    s["repo"]["pr"]["draft"] = "yes"  # a YAML 1.1 habit: a string where a boolean belongs

def missing_url(s):
    del s["repo"]["url"]

def privileged(s):
    s["privileged"] = True  # privilege is the operator's, never the spec's

def bad_duration(s):
    s["agent"]["timeout"] = "30 minutes"

BREAKS = (wrong_type, missing_url, privileged, bad_duration)

def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    r = random.Random(20261126)
    specs = [spec(i, r) for i in range(n)]
    broken = 0
    for i in range(9, n, 10):
        BREAKS[(i // 10) % len(BREAKS)](specs[i])
        broken += 1
    with open(out + "/expected_valid", "w") as f:
        f.write("%d\n" % (n - broken))
    with open(out + "/specs.jsonl", "w") as f:
        for s in specs:
            f.write(json.dumps(s, separators=(",", ":")) + "\n")
    with open(out + "/specs.yaml", "w") as f:
        for s in specs:
            f.write("---\n")
            f.write(yaml.safe_dump(s, sort_keys=False, allow_unicode=True, width=100))
    print("generated %d specs (%d made invalid: %s): %s/specs.jsonl, %s/specs.yaml"
          % (n, broken, ", ".join(b.__name__ for b in BREAKS), out, out))

main()
