# spec-kit feature folders: Markdown-aware parsing of spec.md, plan.md,
# tasks.md and checklists, the deterministic validator (text, JSON, SARIF)
# and the task graph that turns tasks.md into waves of devsys task specs.
devsys_module(NAME speckit
  SOURCES parse.c check.c plan.c
  PKG jansson
  REQUIRES core)
