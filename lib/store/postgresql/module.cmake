# The PostgreSQL backend of the task store (../postgresql.c, over libpq): a
# module of its own, so a build can leave libpq out; devsys_features() then
# lacks "postgresql" and a postgresql:// store URL is refused.
devsys_module(NAME postgresql
              SOURCES ../postgresql.c
              PKG libpq
              REQUIRES core store secrets)
