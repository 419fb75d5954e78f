devsys_module(NAME runner
              SOURCES runner.c output.c util.c inproc/inproc.c ssh/ssh.c
              PKG libssh2
              REQUIRES core workspace task secrets
              INIT devsys__runner_global_init SHUTDOWN devsys__runner_global_shutdown)
