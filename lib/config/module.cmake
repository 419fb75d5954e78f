devsys_module(NAME config SOURCES config.c runners.c policy.c forges.c agents.c store.c PKG yaml-0.1 REQUIRES core policy)
