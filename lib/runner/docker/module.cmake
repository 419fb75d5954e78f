# The Docker Engine API client (client.c over lib/http) and its pure parts
# (stream demultiplexer, tar reader and writer, endpoints, input checks): a module of its own, so a build can
# leave Docker out, and tests/docker and fuzz/docker.cmake follow it.
devsys_module(NAME docker
              SOURCES stream.c tar_read.c tar_write.c tar_extract.c endpoint.c validate.c version.c client.c host.c
              PKG jansson
              REQUIRES core http runner task)
