# Workers: claim queued tasks from the store and run the pipeline on each,
# several at once, with a heartbeat that keeps the leases (devsys/worker.h).
devsys_module(NAME worker SOURCES worker.c PKG jansson REQUIRES core workspace task record store config pipeline spec)
