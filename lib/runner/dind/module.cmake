# The "dind" runner: a throw-away Docker engine in a container on the host
# engine, driven through the docker module's client and host-docker runner.
devsys_module(NAME dind
              SOURCES engine.c dind.c
              INIT devsys__dind_global_init
              PKG jansson
              REQUIRES docker core http runner)
