devsys_module(NAME task SOURCES task.c REQUIRES core workspace)
