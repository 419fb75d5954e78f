devsys_module(NAME workspace SOURCES workspace.c log.c REQUIRES core)
