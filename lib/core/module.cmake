devsys_module(NAME core SOURCES errors.c global.c buf.c fs.c beneath.c owner.c hash.c)
