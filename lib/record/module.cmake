devsys_module(NAME record SOURCES record.c gitstep.c events.c PKG jansson REQUIRES core workspace task report)
