# The merge gate's policy: path classes (globs) and the pure gate decision.
devsys_module(NAME policy SOURCES glob.c policy.c decide.c REQUIRES core)
