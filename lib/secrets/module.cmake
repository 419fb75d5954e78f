devsys_module(NAME secrets SOURCES secrets.c mask.c REQUIRES core workspace task
              INIT devsys__secrets_global_init SHUTDOWN devsys__secrets_global_shutdown)
