#!/usr/bin/python3
"""Anchor: Python jsonschema (one Draft202012Validator reused, is_valid) with
json.loads / PyYAML CSafeLoader. Usage: anchor_py.py SCHEMA DATADIR"""
import json, sys, time, yaml
from jsonschema import Draft202012Validator

schema = json.load(open(sys.argv[1]))
v = Draft202012Validator(schema)
d = sys.argv[2]
jdocs = open(d + "/specs.jsonl").read().splitlines()
ydocs = open(d + "/specs.yaml").read().split("---\n")[1:]

t = time.perf_counter()
ok = sum(1 for s in jdocs if v.is_valid(json.loads(s)))
tj = time.perf_counter() - t
t = time.perf_counter()
oky = sum(1 for s in ydocs if v.is_valid(yaml.load(s, Loader=yaml.CSafeLoader)))
ty = time.perf_counter() - t
print("python-jsonschema json %d docs %d valid %.1f docs/s" % (len(jdocs), ok, len(jdocs) / tj))
print("python-jsonschema yaml %d docs %d valid %.1f docs/s" % (len(ydocs), oky, len(ydocs) / ty))
