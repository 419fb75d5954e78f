devsys_module(NAME report SOURCES report.c PKG libxml-2.0 jansson REQUIRES core
              INIT devsys__report_global_init SHUTDOWN devsys__report_global_shutdown)
