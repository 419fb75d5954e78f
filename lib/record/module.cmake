devsys_module(NAME record SOURCES record.c PKG jansson REQUIRES core workspace task report)
