/* pool_shared.c on a real PostgreSQL store (one server for the suite), named by the configuration. */
#define POOL_SHARED_PG 1
#include "pool_shared.c"
