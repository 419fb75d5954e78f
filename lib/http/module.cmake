# The internal HTTP client (libcurl + jansson) shared by the forge providers
# and the Docker Engine client; no public header (lib/http/http_int.h).
devsys_module(NAME http
  SOURCES http.c retry.c
  PKG libcurl jansson
  REQUIRES core
  INIT devsys__http_global_init
  SHUTDOWN devsys__http_global_shutdown)
