# The pipeline: the handle that runs a task's stages and writes their
# results through the record and the store (the one writer of a task folder).
devsys_module(NAME pipeline SOURCES pipeline.c exec.c code.c crosscheck.c pr.c test.c deploy.c verify.c gate.c resume.c facts.c stage.c acceptance.c pool.c
  PKG libgit2 jansson libpcre2-8
  REQUIRES core workspace task spec store record git runner config forge policy report http agent
  INIT devsys__pool_global_init SHUTDOWN devsys__pool_global_shutdown)
