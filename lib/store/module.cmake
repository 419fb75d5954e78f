devsys_module(NAME store SOURCES store.c sqlite.c configured.c slots.c PKG sqlite3 jansson REQUIRES core workspace task record config secrets)
