devsys_add_fuzzer(NAME agent_events)
