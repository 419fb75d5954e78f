# spec-kit feature folders: Markdown-aware parsing of spec.md, plan.md,
# tasks.md and checklists, the deterministic validator (text, JSON, SARIF)
# the task graph that turns tasks.md into waves of devsys task specs, and
# sync / the phantom check against the feature branch, and the verify stage's
# spec-kit part, which the init hook registers with the pipeline (verify.c).
devsys_module(NAME speckit
  SOURCES parse.c check.c plan.c sync.c status.c run.c verify.c
  PKG jansson
  REQUIRES core git store record spec pipeline
  INIT devsys__speckit_global_init)
