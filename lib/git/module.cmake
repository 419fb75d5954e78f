devsys_module(NAME git
  SOURCES refname.c repo.c remote.c diff.c
  PKG libgit2
  REQUIRES core workspace task
  INIT devsys__git_global_init
  SHUTDOWN devsys__git_global_shutdown)
